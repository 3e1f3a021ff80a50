/*
 * User endpoints (/v1/user, /v1/user/data; seed inventory §5.2) as REST
 * adapters: import, soft delete and modify are the use cases of
 * im/users.h (USER_MODIFY 4000 and logging out forbidden or deleted users
 * are their event subscribers, notify/users.c); reads one or many,
 * sequences and paged search run here on the thread pool.  A user row is
 * described once, in im/user_fields.c, for both parsing and rendering; no
 * password field exists in petrel's user table, so none can leak.
 */
#include "server/api/api.h"

#include "server/im/users.h"

#include <stdlib.h>
#include <string.h>

/* u as JSON: the whole row when full, else the public profile. */
static json_t *user_json(const store_user_t *u, int full)
{
    json_t *o = json_pack("{s:s, s:i}", "userId", u->user_id, "appId", u->app_id);
    if (!o)
        return NULL;
    users_put_fields(o, u, full ? STORE_USER_F_ALL : USERS_F_PUBLIC);
    if (!full)
        return o;
    json_object_set_new(o, "delFlag", json_integer(u->del_flag));
    json_object_set_new(o, "createTime", json_integer(u->created_at));
    json_object_set_new(o, "updateTime", json_integer(u->updated_at));
    return o;
}

/* u as ctx's operator may see it: the whole row for the user and the app
 * admin, the public profile for anybody else. */
static json_t *user_json_for(const api_ctx_t *ctx, const store_user_t *u)
{
    return user_json(u, users_sees_whole_row(ctx->identifier, ctx->is_admin, u->user_id));
}

/* An array of user ids from body key (or alt), 1..API_MAX_BATCH entries. */
static json_t *id_array(api_ctx_t *ctx, const char *key, const char *alt)
{
    json_t *a = json_object_get(ctx->body, key);
    if (!a && alt)
        a = json_object_get(ctx->body, alt);
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > API_MAX_BATCH) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be an array of 1..%d user ids", key, API_MAX_BATCH);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (!json_is_string(v) || !api_valid_user_id(json_string_value(v))) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "user ids must be strings of 1..128 bytes");
            return NULL;
        }
    }
    return a;
}

/* ---- importUser ------------------------------------------------------------ */

typedef struct batch {
    size_t n;
    store_user_t *users;
    char **ids;
    json_t *errors;   /* ids refused before reaching the store */
} batch_t;

static void batch_free(batch_t *b)
{
    if (!b)
        return;
    if (b->ids)
        for (size_t i = 0; i < b->n; i++)
            free(b->ids[i]);
    free(b->ids);
    free(b->users);
    json_decref(b->errors);
    free(b);
}

/* The use case's refusal at submit (done will not run). */
static void submit_failed(api_ctx_t *ctx, batch_t *b, int rc)
{
    ctx->u = NULL;
    batch_free(b);
    if (rc == IM_ERR_NOT_OPERATOR)
        api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "this endpoint is for the app admin");
    else
        api_fail_store(ctx, rc);
}

static void import_done(void *arg, int rc, const ev_user_t *r)
{
    api_ctx_t *ctx = arg;
    batch_t *b = ctx->u;
    ctx->u = NULL;
    if (rc < 0 && rc != STORE_ECONFLICT && rc != STORE_EINVAL) {
        batch_free(b);
        api_fail_store(ctx, rc);
        return;
    }
    json_t *ok = json_array(), *bad = b->errors;
    b->errors = NULL;
    for (size_t i = 0; r && i < b->n; i++)
        json_array_append_new(r->results[i] == 0 ? ok : bad, json_string(b->users[i].user_id));
    batch_free(b);
    api_ok(ctx, json_pack("{s:o, s:o}", "successId", ok, "errorId", bad));
}

void h_import_user(api_ctx_t *ctx)
{
    if (api_require_admin(ctx) < 0)
        return;
    json_t *a = json_object_get(ctx->body, "userData");
    if (!json_is_array(a) || json_array_size(a) == 0) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "userData must be a non-empty array");
        return;
    }
    if (json_array_size(a) > API_MAX_BATCH) {
        api_fail(ctx, 200, PETREL_ERR_IMPORT_USER_LIMIT, "at most 100 users per import");
        return;
    }
    batch_t *b = calloc(1, sizeof *b);
    if (b) {
        b->users = calloc(json_array_size(a), sizeof *b->users);
        b->errors = json_array();
    }
    if (!b || !b->users || !b->errors) {
        batch_free(b);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(a, i, item) {
        const char *uid = json_string_value(json_object_get(item, "userId"));
        store_user_t *u = &b->users[b->n];
        users_defaults(u, ctx->app_id);
        char err[160];
        if (!json_is_object(item) || !uid || !api_valid_user_id(uid) ||
            users_parse_fields(item, u, 1, err, sizeof err) < 0) {
            /* refused rows are reported by id when they have one */
            json_array_append_new(b->errors, json_string(uid && api_valid_user_id(uid) ? uid : ""));
            continue;
        }
        memcpy(u->user_id, uid, strlen(uid) + 1);
        b->n++;
    }
    ctx->u = b;
    if (b->n == 0) {
        import_done(ctx, 0, NULL);
        return;
    }
    im_call_t c = api_im_call(ctx);
    int rc = users_import(&c, b->users, b->n, import_done, ctx);
    if (rc != 0)
        submit_failed(ctx, b, rc);
}

/* ---- deleteUser ------------------------------------------------------------- */

static void delete_done(void *arg, int rc, const ev_user_t *r)
{
    api_ctx_t *ctx = arg;
    batch_t *b = ctx->u;
    ctx->u = NULL;
    if (rc < 0 && rc != STORE_ENOTFOUND) {
        batch_free(b);
        api_fail_store(ctx, rc);
        return;
    }
    json_t *ok = json_array(), *bad = json_array();
    for (size_t i = 0; r && i < b->n; i++)
        json_array_append_new(r->results[i] == 0 ? ok : bad, json_string(b->ids[i]));
    batch_free(b);
    api_ok(ctx, json_pack("{s:o, s:o}", "successId", ok, "errorId", bad));
}

void h_delete_user(api_ctx_t *ctx)
{
    if (api_require_admin(ctx) < 0)
        return;
    json_t *a = id_array(ctx, "userId", "userIds");
    if (!a)
        return;
    batch_t *b = calloc(1, sizeof *b);
    size_t n = json_array_size(a);
    if (b) {
        b->ids = calloc(n, sizeof *b->ids);
    }
    if (!b || !b->ids) {
        batch_free(b);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        b->ids[i] = strdup(json_string_value(json_array_get(a, i)));
        b->n = i + 1;
        if (!b->ids[i]) {
            batch_free(b);
            api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
            return;
        }
    }
    ctx->u = b;
    im_call_t c = api_im_call(ctx);
    int rc = users_delete(&c, (const char *const *)b->ids, b->n, delete_done, ctx);
    if (rc != 0)
        submit_failed(ctx, b, rc);
}

/* ---- reads ------------------------------------------------------------------ */

static void get_info_work(api_ctx_t *ctx)
{
    json_t *ids = ctx->u;
    json_t *items = json_array(), *fail = json_array();
    size_t i;
    json_t *v;
    ctx->rc = 0;
    json_array_foreach(ids, i, v) {
        store_user_t u;
        int rc = store_user_get_sync(ctx->srv->store, ctx->app_id, json_string_value(v), &u);
        if (rc == 0 && !u.del_flag)
            json_array_append_new(items, user_json_for(ctx, &u));
        else if (rc == 0 || rc == STORE_ENOTFOUND)
            json_array_append(fail, v);
        else
            ctx->rc = rc;
    }
    ctx->out = json_pack("{s:o, s:o}", "userDataItem", items, "failUser", fail);
}

static void out_done(api_ctx_t *ctx)
{
    ctx->u = NULL;
    if (ctx->rc < 0 && ctx->rc != STORE_ENOTFOUND) {
        api_fail_store(ctx, ctx->rc);
        return;
    }
    if (ctx->rc == STORE_ENOTFOUND) {
        api_fail(ctx, 200, PETREL_ERR_USER_NOT_FOUND, "user not found");
        return;
    }
    json_t *out = ctx->out;
    ctx->out = NULL;
    api_ok(ctx, out);
}

void h_get_user_info(api_ctx_t *ctx)
{
    json_t *ids = id_array(ctx, "userIds", "userId");
    if (!ids)
        return;
    ctx->u = ids; /* borrowed from ctx->body, which lives as long as ctx */
    api_defer(ctx, get_info_work, out_done);
}

static void get_single_work(api_ctx_t *ctx)
{
    store_user_t u;
    ctx->rc = store_user_get_sync(ctx->srv->store, ctx->app_id, ctx->u, &u);
    if (ctx->rc == 0 && u.del_flag)
        ctx->rc = STORE_ENOTFOUND;
    if (ctx->rc == 0)
        ctx->out = user_json_for(ctx, &u);
}

void h_get_single_user_info(api_ctx_t *ctx)
{
    const char *uid;
    if (api_str(ctx, "userId", STORE_ID_MAX, 0, &uid) < 0)
        return;
    ctx->u = (void *)(uid ? uid : ctx->identifier);
    api_defer(ctx, get_single_work, out_done);
}

/* ---- modifyUserInfo ----------------------------------------------------------- */

typedef struct modify {
    store_user_t user;
    unsigned mask;
} modify_t;

static void modify_done(void *arg, int rc, const ev_user_t *r)
{
    api_ctx_t *ctx = arg;
    modify_t *m = ctx->u;
    ctx->u = NULL;
    free(m);
    if (rc == STORE_ENOTFOUND) {
        api_fail(ctx, 200, PETREL_ERR_USER_NOT_FOUND, "user not found");
        return;
    }
    if (rc < 0 || !r) {
        api_fail(ctx, 200, PETREL_ERR_USER_MODIFY_FAILED, "modify failed");
        return;
    }
    /* the reply is what USER_MODIFY 4000 told the user's devices */
    api_ok(ctx, users_modified_json(r->users, r->mask));
}

void h_modify_user_info(api_ctx_t *ctx)
{
    const char *uid;
    if (api_str(ctx, "userId", STORE_ID_MAX, 0, &uid) < 0)
        return;
    if (!uid)
        uid = ctx->identifier;
    if (api_check_operator(ctx, uid) < 0)
        return;
    modify_t *m = calloc(1, sizeof *m);
    if (!m) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    users_defaults(&m->user, ctx->app_id);
    memcpy(m->user.user_id, uid, strlen(uid) + 1);
    char err[160];
    long mask = users_parse_fields(ctx->body, &m->user, ctx->is_admin, err, sizeof err);
    if (mask <= 0) {
        free(m);
        if (mask == -2)
            api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, err);
        else
            api_fail(ctx, 400, PETREL_ERR_PARAM, mask == 0 ? "no field to modify" : err);
        return;
    }
    m->mask = (unsigned)mask;
    ctx->u = m;
    im_call_t c = api_im_call(ctx);
    int rc = users_modify(&c, &m->user, m->mask, modify_done, ctx);
    if (rc != 0) {
        ctx->u = NULL;
        free(m);
        if (rc == IM_ERR_NOT_OPERATOR)
            api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "only the app admin may act for another user");
        else
            api_fail_store(ctx, rc);
    }
}

/* ---- sequences and paging ----------------------------------------------------- */

static void seq_work(api_ctx_t *ctx)
{
    store_conv_t *rows = NULL;
    size_t n = 0;
    int64_t conv_max = 0;
    ctx->rc = store_conv_list_sync(ctx->srv->store, ctx->app_id, ctx->u, INT64_MAX, 1, &rows, &n,
                                   &conv_max);
    free(rows);
    int64_t fs = 0, rs = 0, gs = 0;
    if (ctx->rc == 0)
        ctx->rc = store_friend_seqs_sync(ctx->srv->store, ctx->app_id, ctx->u, &fs, &rs, &gs);
    /* groupSeq: the largest sequence syncJoinedGroup would page to */
    int64_t grp = 0;
    if (ctx->rc == 0) {
        store_joined_t *g = NULL;
        size_t ng = 0;
        ctx->rc = store_group_joined_sync(ctx->srv->store, ctx->app_id, ctx->u, 1, 0, 0, 0, 1,
                                          &g, &ng, &grp);
        free(g);
    }
    if (ctx->rc == 0)
        ctx->out = json_pack("{s:I, s:I, s:I, s:I, s:I}", "friendshipSeq", (json_int_t)fs,
                             "friendshipRequestSeq", (json_int_t)rs, "friendshipGroupSeq",
                             (json_int_t)gs, "conversationSeq", (json_int_t)conv_max,
                             "groupSeq", (json_int_t)grp);
}

void h_get_user_sequence(api_ctx_t *ctx)
{
    const char *uid;
    if (api_str(ctx, "userId", STORE_ID_MAX, 0, &uid) < 0)
        return;
    if (!uid)
        uid = ctx->identifier;
    if (api_check_operator(ctx, uid) < 0)
        return;
    ctx->u = (void *)uid;
    api_defer(ctx, seq_work, out_done);
}

typedef struct page {
    char nick[101];
    int current, size;
} page_t;

static void page_work(api_ctx_t *ctx)
{
    page_t *p = ctx->u;
    store_user_t *rows = NULL;
    size_t n = 0;
    int64_t total = 0;
    ctx->rc = store_user_page_sync(ctx->srv->store, ctx->app_id, p->nick, ctx->identifier,
                                   (p->current - 1) * p->size, p->size, &rows, &n, &total);
    if (ctx->rc == 0) {
        json_t *recs = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(recs, user_json_for(ctx, &rows[i]));
        ctx->out = json_pack("{s:o, s:I, s:i, s:i, s:I}", "records", recs, "total", (json_int_t)total,
                             "size", p->size, "current", p->current, "pages",
                             (json_int_t)((total + p->size - 1) / p->size));
    }
    free(rows);
    free(p);
}

void h_query_user_page(api_ctx_t *ctx)
{
    long long current = 1, size = 10;
    const char *nick = NULL;
    if (api_int(ctx, "currentPage", 1, 1000000, 0, &current) < 0 ||
        api_int(ctx, "pageSize", 1, 100, 0, &size) < 0 ||
        api_str(ctx, "nickName", 100, 0, &nick) < 0)
        return;
    page_t *p = calloc(1, sizeof *p);
    if (!p) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    if (nick)
        memcpy(p->nick, nick, strlen(nick) + 1);
    p->current = (int)current;
    p->size = (int)size;
    ctx->u = p;
    api_defer(ctx, page_work, out_done);
}
