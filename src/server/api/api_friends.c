/*
 * Friendship endpoints (seed inventory §5.3): /v1/friendship (friends and
 * the blacklist), /v1/friendshipRequest (requests) and
 * /v1/friendship/group (friend lists), as REST adapters of the use cases
 * of im/friends.h: this file parses and validates, applies the operator
 * rule early (fromId is the verified identifier unless the caller is the
 * app admin; the use case checks it again), calls the use case and
 * replies.  Every rule and every sequence is decided by the store's writer
 * in one savepoint; the 3xxx pushes of §2.4 are event subscribers
 * (notify/friends.c).  Reads run on the thread pool.
 */
#include "server/api/api.h"

#include "server/im/friends.h"

#include <stdlib.h>
#include <string.h>



/* ---- rendering -------------------------------------------------------------- */

static json_t *friend_json(int32_t app_id, const store_friend_t *f)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:s}", "appId",
                     app_id, "fromId", f->from_id, "toId", f->to_id, "remark", f->remark,
                     "status", f->status, "black", f->black, "addSource", f->add_source,
                     "extra", f->extra, "friendSequence", (json_int_t)f->friend_sequence,
                     "blackSequence", (json_int_t)f->black_sequence, "createTime",
                     (json_int_t)f->create_time, "nickName", f->nick_name);
}

static json_t *group_json(const char *owner, const store_friend_group_t *g)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < g->nmembers; i++)
        json_array_append_new(ids, json_string(g->members[i]));
    return json_pack("{s:I, s:s, s:s, s:I, s:i, s:I, s:I, s:o}", "groupId", (json_int_t)g->id,
                     "fromId", owner, "groupName", g->name, "sequence", (json_int_t)g->sequence,
                     "delFlag", g->del_flag, "createTime", (json_int_t)g->create_time,
                     "updateTime", (json_int_t)g->update_time, "toIds", ids ? ids : json_array());
}

/* ---- parsing ------------------------------------------------------------------ */

/* A string field of obj (api_str's rules for a nested object).  An object
 * is accepted for "extra" and stored as its JSON text. */
static int obj_str(api_ctx_t *ctx, json_t *obj, const char *key, size_t max, int required,
                   char *dst, int *present)
{
    json_t *v = json_object_get(obj, key);
    char msg[160];
    if (present)
        *present = 0;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(msg, sizeof msg, "%s is required", key);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    char *dumped = NULL;
    const char *s = json_string_value(v);
    if (!s && json_is_object(v) && !strcmp(key, "extra"))
        s = dumped = json_dumps(v, JSON_COMPACT);
    if (!s || strlen(s) > max) {
        free(dumped);
        snprintf(msg, sizeof msg, "%s must be a string of at most %zu bytes", key, max);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    free(dumped);
    if (present)
        *present = 1;
    return 0;
}

/* fromId of the body (default: the operator), which the operator may act
 * for; NULL after replying. */
static const char *owner_of(api_ctx_t *ctx)
{
    const char *from;
    if (api_str(ctx, "fromId", STORE_ID_MAX, 0, &from) < 0)
        return NULL;
    if (!from)
        from = ctx->identifier;
    if (!api_valid_user_id(from)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "fromId must be a user id");
        return NULL;
    }
    return api_check_operator(ctx, from) < 0 ? NULL : from;
}

/* A user id field other than owner; NULL after replying. */
static const char *peer_of(api_ctx_t *ctx, const char *key, const char *owner)
{
    const char *to;
    if (api_str(ctx, key, STORE_ID_MAX, 1, &to) < 0)
        return NULL;
    if (!api_valid_user_id(to) || !strcmp(to, owner)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be the id of another user", key);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return NULL;
    }
    return to;
}

/* An array of 1..API_MAX_BATCH (min 0: also absent) strings of 1..max
 * bytes; NULL after replying (or, with min 0, when absent: *n = 0). */
static json_t *str_array(api_ctx_t *ctx, const char *key, size_t max, size_t min, size_t *n,
                         int *failed)
{
    json_t *a = json_object_get(ctx->body, key);
    *n = 0;
    *failed = 0;
    if (min == 0 && (!a || json_is_null(a)))
        return NULL;
    char msg[128];
    if (!json_is_array(a) || json_array_size(a) < min || json_array_size(a) > API_MAX_BATCH) {
        snprintf(msg, sizeof msg, "%s must be an array of %zu..%d strings", key, min,
                 API_MAX_BATCH);
        goto bad;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
            snprintf(msg, sizeof msg, "%s must hold strings of 1..%zu bytes", key, max);
            goto bad;
        }
    }
    *n = json_array_size(a);
    return a;
bad:
    *failed = 1;
    api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
    return NULL;
}

static int sync_args(api_ctx_t *ctx, long long *last, long long *limit)
{
    *last = 0;
    *limit = 100;
    if (api_int(ctx, "lastSequence", 0, INT64_MAX, 0, last) < 0 ||
        api_int(ctx, "maxLimit", 1, 1000, 0, limit) < 0)
        return -1;
    if (*limit > STORE_FRIEND_LIMIT_MAX)
        *limit = STORE_FRIEND_LIMIT_MAX;
    return 0;
}

/* ---- write jobs ---------------------------------------------------------------- */

/* What a write parsed, alive until its done callback (the use case
 * borrows idv and items). */
typedef struct fjob {
    char from[STORE_ID_MAX + 1];
    char to[STORE_ID_MAX + 1];
    char name[STORE_FRIEND_GROUP_NAME_MAX + 1];
    store_friend_t f;
    char wording[STORE_FRIEND_WORDING_MAX + 1];
    json_t *ids;         /* borrowed from ctx->body (lives as long as ctx) */
    const char **idv;    /* the ids' strings */
    size_t n;
    store_friend_t *items; /* import */
} fjob_t;

static fjob_t *job_new(api_ctx_t *ctx, const char *from)
{
    fjob_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    memcpy(j->from, from, strlen(from) + 1);
    return j;
}

static void job_free(fjob_t *j)
{
    if (!j)
        return;
    free(j->idv);
    free(j->items);
    free(j);
}

/* Room for the rows of ids (n of them). */
static int job_rows(api_ctx_t *ctx, fjob_t *j, json_t *ids, size_t n)
{
    j->ids = ids;
    j->n = n;
    if (n == 0)
        return 0;
    j->idv = calloc(n, sizeof *j->idv);
    if (!j->idv) {
        job_free(j);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        j->idv[i] = json_string_value(json_array_get(ids, i));
    return 0;
}

static fjob_t *job_take(api_ctx_t *ctx)
{
    fjob_t *j = ctx->u;
    ctx->u = NULL;
    return j;
}

/* The common start of a use case's done callback: 1 when it went through
 * (the caller replies and frees j), 0 after replying with the failure and
 * freeing. */
static int job_ok(api_ctx_t *ctx, fjob_t *j, int rc)
{
    if (rc < 0) {
        job_free(j);
        api_fail_store(ctx, rc);
        return 0;
    }
    if (rc > 0) {
        job_free(j);
        api_fail(ctx, 200, rc, petrel_err_text(rc));
        return 0;
    }
    return 1;
}

/* The use case's own refusal at submit (done will not run). */
static void job_submitted(api_ctx_t *ctx, fjob_t *j, int rc)
{
    if (rc == 0)
        return;
    ctx->u = NULL;
    job_free(j);
    if (rc == IM_ERR_NOT_OPERATOR) {
        api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "only the app admin may act for another user");
        return;
    }
    api_fail(ctx, rc == STORE_EINVAL ? 400 : 500, rc == STORE_EINVAL ? PETREL_ERR_PARAM
                                                                    : PETREL_ERR_SYSTEM,
             rc == STORE_EINVAL ? "invalid input" : "storage unavailable");
}

/* {successId, errorId} of the ids whose result is 0 / not. */
static json_t *split_ids(const fjob_t *j, const int *results)
{
    json_t *ok = json_array(), *bad = json_array();
    for (size_t i = 0; i < j->n; i++)
        json_array_append_new(results[i] == 0 ? ok : bad, json_string(j->idv[i]));
    return json_pack("{s:o, s:o}", "successId", ok, "errorId", bad);
}

/* ---- importFriendShip (admin) ----------------------------------------------------- */

static void import_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    int code = rc < 0 ? PETREL_ERR_SYSTEM : rc;
    if (code) {
        job_free(j);
        api_fail(ctx, rc < 0 ? 500 : 200, code, rc < 0 ? store_strerror(rc) : petrel_err_text(code));
        return;
    }
    json_t *ok = json_array(), *bad = json_array();
    for (size_t i = 0; i < j->n; i++)
        json_array_append_new(r->results[i] == 0 ? ok : bad, json_string(j->items[i].to_id));
    job_free(j);
    api_ok(ctx, json_pack("{s:o, s:o}", "successId", ok, "errorId", bad));
}

/* friendItem[i] into f; -1 after replying. */
static int parse_import_item(api_ctx_t *ctx, json_t *it, store_friend_t *f)
{
    json_t *st = json_object_get(it, "status"), *bl = json_object_get(it, "black");
    const char *to = json_string_value(json_object_get(it, "toId"));
    if (!json_is_object(it) || !to || !api_valid_user_id(to) || (st && !json_is_integer(st)) ||
        (bl && !json_is_integer(bl))) {
        api_fail(ctx, 400, PETREL_ERR_PARAM,
                 "each friendItem needs a toId; status and black are integers");
        return -1;
    }
    memcpy(f->to_id, to, strlen(to) + 1);
    /* out-of-range values reach the store, which refuses the row (errorId) */
    f->status = st ? (int)json_integer_value(st) : 1;
    f->black = bl ? (int)json_integer_value(bl) : 1;
    if (st && (json_integer_value(st) < 0 || json_integer_value(st) > 2))
        f->status = -1;
    if (bl && (json_integer_value(bl) < 0 || json_integer_value(bl) > 2))
        f->black = -1;
    if (obj_str(ctx, it, "remark", STORE_FRIEND_REMARK_MAX, 0, f->remark, NULL) < 0 ||
        obj_str(ctx, it, "addSource", STORE_FRIEND_SOURCE_MAX, 0, f->add_source, NULL) < 0 ||
        obj_str(ctx, it, "extra", STORE_FRIEND_EXTRA_MAX, 0, f->extra, NULL) < 0)
        return -1;
    return 0;
}

void h_friend_import(api_ctx_t *ctx)
{
    if (api_require_admin(ctx) < 0)
        return;
    const char *from = owner_of(ctx);
    if (!from)
        return;
    json_t *a = json_object_get(ctx->body, "friendItem");
    if (!json_is_array(a) || json_array_size(a) == 0) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "friendItem must be a non-empty array");
        return;
    }
    if (json_array_size(a) > API_MAX_BATCH) {
        api_fail(ctx, 200, PETREL_ERR_IMPORT_FRIEND_LIMIT, "at most 100 friends per import");
        return;
    }
    size_t n = json_array_size(a);
    fjob_t *j = job_new(ctx, from);
    if (!j)
        return;
    j->items = calloc(n, sizeof *j->items);
    if (!j->items) {
        job_free(j);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    j->n = n;
    for (size_t i = 0; i < n; i++) {
        if (parse_import_item(ctx, json_array_get(a, i), &j->items[i]) < 0) {
            job_free(j);
            return;
        }
    }
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    int rc = friends_import(&c, j->from, j->items, n, import_done, ctx);
    if (rc != 0) {
        ctx->u = NULL;
        job_free(j);
        if (rc == IM_ERR_NOT_OPERATOR)
            api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "this endpoint is for the app admin");
        else
            api_fail(ctx, 500, PETREL_ERR_SYSTEM, "storage unavailable");
    }
}

/* ---- addFriend --------------------------------------------------------------------- */

static void add_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *out;
    if (r->res->added)
        out = json_pack("{s:b, s:s, s:s, s:I}", "added", 1, "fromId", j->from, "toId", j->to,
                        "sequence", (json_int_t)r->res->seq);
    else
        out = json_pack("{s:b, s:s, s:s, s:I, s:I}", "added", 0, "fromId", j->from, "toId",
                        j->to, "requestId", (json_int_t)r->res->request.id, "sequence",
                        (json_int_t)r->res->seq);
    job_free(j);
    api_ok(ctx, out);
}

/* toItem {toId, remark, addSource, extra, addWording}; *mask the fields given. */
static int parse_to_item(api_ctx_t *ctx, fjob_t *j, unsigned *mask)
{
    json_t *it = json_object_get(ctx->body, "toItem");
    if (!json_is_object(it)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "toItem must be an object");
        return -1;
    }
    int has_r, has_s, has_e;
    if (obj_str(ctx, it, "toId", STORE_ID_MAX, 1, j->to, NULL) < 0 ||
        obj_str(ctx, it, "remark", STORE_FRIEND_REMARK_MAX, 0, j->f.remark, &has_r) < 0 ||
        obj_str(ctx, it, "addSource", STORE_FRIEND_SOURCE_MAX, 0, j->f.add_source, &has_s) < 0 ||
        obj_str(ctx, it, "extra", STORE_FRIEND_EXTRA_MAX, 0, j->f.extra, &has_e) < 0 ||
        obj_str(ctx, it, "addWording", STORE_FRIEND_WORDING_MAX, 0, j->wording, NULL) < 0)
        return -1;
    if (!api_valid_user_id(j->to) || !strcmp(j->to, j->from)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "toItem.toId must be the id of another user");
        return -1;
    }
    memcpy(j->f.from_id, j->from, sizeof j->f.from_id);
    memcpy(j->f.to_id, j->to, sizeof j->f.to_id);
    *mask = (has_r ? STORE_FRIEND_F_REMARK : 0) | (has_s ? STORE_FRIEND_F_ADD_SOURCE : 0) |
            (has_e ? STORE_FRIEND_F_EXTRA : 0);
    return 0;
}

void h_friend_add(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    unsigned mask;
    if (parse_to_item(ctx, j, &mask) < 0) {
        job_free(j);
        return;
    }
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_add(&c, &j->f, j->wording, add_done, ctx));
}

/* ---- updateFriend ----------------------------------------------------------------------- */

static void update_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = friends_update_json(r->owner, r->peer, r->rows, r->mask, r->res->seq);
    job_free(j);
    api_ok(ctx, o);
}

void h_friend_update(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    unsigned mask;
    if (parse_to_item(ctx, j, &mask) < 0) {
        job_free(j);
        return;
    }
    if (!mask) {
        job_free(j);
        api_fail(ctx, 400, PETREL_ERR_PARAM, "toItem needs remark, addSource or extra");
        return;
    }
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_update(&c, &j->f, mask, update_done, ctx));
}

/* ---- deleteFriend, deleteAllFriend -------------------------------------------------------- */

static void delete_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *mine = friends_pair_json(j->from, j->to, r->res->seq);
    job_free(j);
    api_ok(ctx, mine);
}

void h_friend_delete(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx), *to;
    if (!from || !(to = peer_of(ctx, "toId", from)))
        return;
    fjob_t *j = job_new(ctx, from);
    if (!j)
        return;
    memcpy(j->to, to, strlen(to) + 1);
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_delete(&c, j->from, j->to, delete_done, ctx));
}

static void delete_all_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *ids = json_array();
    for (size_t i = 0; i < r->res->npeers; i++)
        json_array_append_new(ids, json_string(r->res->peers[i].id));
    json_t *o = friends_owner_seq_json(j->from, r->res->seq);
    json_object_set_new(o, "toIds", ids);
    job_free(j);
    api_ok(ctx, o);
}

void h_friend_delete_all(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_delete_all(&c, j->from, delete_all_done, ctx));
}

/* ---- addBlack, deleteBlack -------------------------------------------------------------- */

static void black_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = friends_pair_json(j->from, j->to, r->res->seq);
    job_free(j);
    api_ok(ctx, o);
}

static void black(api_ctx_t *ctx, int value)
{
    const char *from = owner_of(ctx), *to;
    if (!from || !(to = peer_of(ctx, "toId", from)))
        return;
    fjob_t *j = job_new(ctx, from);
    if (!j)
        return;
    memcpy(j->to, to, strlen(to) + 1);
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_black(&c, j->from, j->to, value, black_done, ctx));
}

void h_black_add(api_ctx_t *ctx)
{
    black(ctx, 2);
}

void h_black_delete(api_ctx_t *ctx)
{
    black(ctx, 1);
}

/* ---- reads: getAllFriendShip, getRelation, checkFriend, checkBlack, sync ---------------- */

typedef struct rjob {
    char owner[STORE_ID_MAX + 1];
    char to[STORE_ID_MAX + 1];
    json_t *ids;   /* borrowed from ctx->body */
    int check_type;
    int black;     /* check: the blacklist instead of friendship */
    int64_t last;
    int limit;
    int code;      /* a business error to reply with */
} rjob_t;

static rjob_t *rjob_new(api_ctx_t *ctx, const char *owner)
{
    rjob_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    memcpy(q->owner, owner, strlen(owner) + 1);
    return q;
}

static void read_done(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    ctx->u = NULL;
    int code = q->code;
    free(q);
    if (ctx->rc < 0) {
        api_fail_store(ctx, ctx->rc);
        return;
    }
    if (code) {
        api_fail(ctx, 200, code, petrel_err_text(code));
        return;
    }
    json_t *out = ctx->out;
    ctx->out = NULL;
    api_ok(ctx, out);
}

static void all_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    store_friend_t *rows = NULL;
    size_t n = 0;
    ctx->rc = store_friend_all_sync(ctx->srv->store, ctx->app_id, q->owner, &rows, &n);
    if (ctx->rc == 0) {
        ctx->out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ctx->out, friend_json(ctx->app_id, &rows[i]));
    }
    free(rows);
}

void h_friend_get_all(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    rjob_t *q = from ? rjob_new(ctx, from) : NULL;
    if (!q)
        return;
    ctx->u = q;
    api_defer(ctx, all_work, read_done);
}

static void relation_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    store_friend_t f;
    ctx->rc = store_friend_get_sync(ctx->srv->store, ctx->app_id, q->owner, q->to, &f);
    if (ctx->rc == STORE_ENOTFOUND) {
        ctx->rc = 0;
        q->code = PETREL_ERR_RELATION_NOT_FOUND;
    } else if (ctx->rc == 0) {
        ctx->out = friend_json(ctx->app_id, &f);
    }
}

void h_friend_relation(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx), *to;
    if (!from || !(to = peer_of(ctx, "toId", from)))
        return;
    rjob_t *q = rjob_new(ctx, from);
    if (!q)
        return;
    memcpy(q->to, to, strlen(to) + 1);
    ctx->u = q;
    api_defer(ctx, relation_work, read_done);
}

static void check_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    json_t *list = json_array();
    size_t i;
    json_t *v;
    ctx->rc = 0;
    json_array_foreach(q->ids, i, v) {
        const char *to = json_string_value(v);
        int status = 0;
        int rc = friends_check_sync(ctx->srv->store, ctx->app_id, q->owner, to, q->check_type,
                                    q->black, &status);
        if (rc < 0) {
            ctx->rc = rc;
            break;
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:i}", "fromId", q->owner, "toId", to,
                                              "status", status));
    }
    ctx->out = list;
}

static void check(api_ctx_t *ctx, int black_list)
{
    const char *from = owner_of(ctx);
    if (!from)
        return;
    long long type = 1;
    size_t n;
    int failed;
    if (api_int(ctx, "checkType", 1, 2, 0, &type) < 0)
        return;
    json_t *ids = str_array(ctx, "toIds", STORE_ID_MAX, 1, &n, &failed);
    if (!ids)
        return;
    rjob_t *q = rjob_new(ctx, from);
    if (!q)
        return;
    q->ids = ids;
    q->check_type = (int)type;
    q->black = black_list;
    ctx->u = q;
    api_defer(ctx, check_work, read_done);
}

void h_friend_check(api_ctx_t *ctx)
{
    check(ctx, 0);
}

void h_black_check(api_ctx_t *ctx)
{
    check(ctx, 1);
}

/* {maxSequence, completed, dataList} */
static json_t *sync_json(json_t *list, int64_t last, int64_t max)
{
    return json_pack("{s:I, s:b, s:o}", "maxSequence", (json_int_t)max, "completed", last >= max,
                     "dataList", list);
}

static void friend_sync_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    store_friend_t *rows = NULL;
    size_t n = 0;
    int64_t max = 0, last = q->last;
    ctx->rc = store_friend_list_sync(ctx->srv->store, ctx->app_id, q->owner, q->last, q->limit,
                                     &rows, &n, &max);
    if (ctx->rc == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(list, friend_json(ctx->app_id, &rows[i]));
            last = rows[i].friend_sequence;
        }
        ctx->out = sync_json(list, last, max);
    }
    free(rows);
}

static void sync_start(api_ctx_t *ctx, api_fn work)
{
    const char *from = owner_of(ctx);
    long long last, limit;
    if (!from || sync_args(ctx, &last, &limit) < 0)
        return;
    rjob_t *q = rjob_new(ctx, from);
    if (!q)
        return;
    q->last = last;
    q->limit = (int)limit;
    ctx->u = q;
    api_defer(ctx, work, read_done);
}

void h_friend_sync(api_ctx_t *ctx)
{
    sync_start(ctx, friend_sync_work);
}

/* ---- /v1/friendshipRequest --------------------------------------------------------------- */

static void request_sync_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    store_friend_request_t *rows = NULL;
    size_t n = 0;
    int64_t max = 0, last = q->last;
    ctx->rc = store_friend_request_list_sync(ctx->srv->store, ctx->app_id, q->owner, q->last,
                                             q->limit, &rows, &n, &max);
    if (ctx->rc == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(list, friends_request_json(ctx->app_id, &rows[i], ctx->is_admin));
            last = rows[i].sequence;
        }
        ctx->out = sync_json(list, last, max);
    }
    free(rows);
}

void h_request_sync(api_ctx_t *ctx)
{
    sync_start(ctx, request_sync_work);
}

/* Every request addressed to the owner (at most 10 pages of 100), the
 * newest change last. */
static void request_get_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    json_t *list = json_array();
    int64_t last = 0;
    ctx->rc = 0;
    for (int page = 0; page < 10; page++) {
        store_friend_request_t *rows = NULL;
        size_t n = 0;
        ctx->rc = store_friend_request_list_sync(ctx->srv->store, ctx->app_id, q->owner, last,
                                                 STORE_FRIEND_LIMIT_MAX, &rows, &n, NULL);
        for (size_t i = 0; ctx->rc == 0 && i < n; i++) {
            json_array_append_new(list, friends_request_json(ctx->app_id, &rows[i], ctx->is_admin));
            last = rows[i].sequence;
        }
        free(rows);
        if (ctx->rc != 0 || n < STORE_FRIEND_LIMIT_MAX)
            break;
    }
    ctx->out = list;
}

void h_request_get(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    rjob_t *q = from ? rjob_new(ctx, from) : NULL;
    if (!q)
        return;
    ctx->u = q;
    api_defer(ctx, request_get_work, read_done);
}

static void approve_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = friends_decision_json(&r->res->request);
    job_free(j);
    api_ok(ctx, o);
}

void h_request_approve(api_ctx_t *ctx)
{
    long long id, status;
    if (api_int(ctx, "id", 1, INT64_MAX, 1, &id) < 0 ||
        api_int(ctx, "status", 1, 2, 1, &status) < 0)
        return;
    fjob_t *j = job_new(ctx, ctx->identifier);
    if (!j)
        return;
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_request_approve(&c, id, (int)status, approve_done, ctx));
}

static void request_read_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = friends_owner_seq_json(j->from, r->res->seq);
    job_free(j);
    api_ok(ctx, o);
}

void h_request_read(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_request_read(&c, j->from, request_read_done, ctx));
}

/* ---- /v1/friendship/group ------------------------------------------------------------------- */

static void group_add_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = split_ids(j, r->results);
    json_object_set_new(o, "groupId", json_integer(r->res->group_id));
    json_object_set_new(o, "groupName", json_string(j->name));
    json_object_set_new(o, "sequence", json_integer(r->res->seq));
    job_free(j);
    api_ok(ctx, o);
}

static int group_name_of(api_ctx_t *ctx, fjob_t *j)
{
    const char *name;
    if (api_str(ctx, "groupName", STORE_FRIEND_GROUP_NAME_MAX, 1, &name) < 0)
        return -1;
    if (!name[0]) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "groupName must not be empty");
        return -1;
    }
    memcpy(j->name, name, strlen(name) + 1);
    return 0;
}

void h_group_add(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    size_t n;
    int failed;
    if (group_name_of(ctx, j) < 0) {
        job_free(j);
        return;
    }
    json_t *ids = str_array(ctx, "toIds", STORE_ID_MAX, 0, &n, &failed);
    if (failed) {
        job_free(j);
        return;
    }
    if (job_rows(ctx, j, ids, n) < 0)
        return;
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_group_add(&c, j->from, j->name, j->idv, j->n, group_add_done,
                                            ctx));
}

static void group_del_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = split_ids(j, r->results);
    job_free(j);
    api_ok(ctx, o);
}

void h_group_del(api_ctx_t *ctx)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    /* groupName: an array of names (the seed), or one name */
    json_t *one = json_object_get(ctx->body, "groupName");
    if (json_is_string(one)) {
        json_t *a = json_array();
        json_array_append(a, one);
        json_object_set_new(ctx->body, "groupName", a);
    }
    size_t n;
    int failed;
    json_t *names = str_array(ctx, "groupName", STORE_FRIEND_GROUP_NAME_MAX, 1, &n, &failed);
    if (!names) {
        job_free(j);
        return;
    }
    if (job_rows(ctx, j, names, n) < 0)
        return;
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_group_del(&c, j->from, j->idv, n, group_del_done, ctx));
}

static void member_done(void *arg, int rc, const ev_friend_t *r)
{
    api_ctx_t *ctx = arg;
    fjob_t *j = job_take(ctx);
    if (!job_ok(ctx, j, rc))
        return;
    json_t *o = split_ids(j, r->results);
    json_object_set_new(o, "groupName", json_string(j->name));
    json_object_set_new(o, "sequence", json_integer(r->res->seq));
    job_free(j);
    api_ok(ctx, o);
}

static void member(api_ctx_t *ctx, int add)
{
    const char *from = owner_of(ctx);
    fjob_t *j = from ? job_new(ctx, from) : NULL;
    if (!j)
        return;
    size_t n;
    int failed;
    if (group_name_of(ctx, j) < 0) {
        job_free(j);
        return;
    }
    json_t *ids = str_array(ctx, "toIds", STORE_ID_MAX, 1, &n, &failed);
    if (!ids) {
        job_free(j);
        return;
    }
    if (job_rows(ctx, j, ids, n) < 0)
        return;
    ctx->u = j;
    im_call_t c = api_im_call(ctx);
    job_submitted(ctx, j, friends_group_member(&c, j->from, j->name, j->idv, n, add,
                                               member_done, ctx));
}

void h_group_member_add(api_ctx_t *ctx)
{
    member(ctx, 1);
}

void h_group_member_del(api_ctx_t *ctx)
{
    member(ctx, 0);
}

static void group_sync_work(api_ctx_t *ctx)
{
    rjob_t *q = ctx->u;
    store_friend_group_t *rows = NULL;
    size_t n = 0;
    int64_t max = 0, last = q->last;
    ctx->rc = store_friend_group_list_sync(ctx->srv->store, ctx->app_id, q->owner, q->last,
                                           q->limit, &rows, &n, &max);
    if (ctx->rc == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(list, group_json(q->owner, &rows[i]));
            last = rows[i].sequence;
        }
        ctx->out = sync_json(list, last, max);
    }
    store_friend_groups_free(rows, n);
}

void h_group_sync(api_ctx_t *ctx)
{
    sync_start(ctx, group_sync_work);
}
