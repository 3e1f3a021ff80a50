/*
 * Group endpoints (seed inventory §5.4 plus the join requests the seeds
 * never built): /v1/group/... and /v1/group/member/..., the group message
 * reads (sync by group sequence, paged history with read counts); the
 * admin send is api_gmsg.c.  A REST adapter: it parses and validates the hostile input,
 * applies the operator rule (non-admins act only as themselves), calls the
 * use case (im/groups.h: writes, decided by the store's writer with
 * group_rules.h; im/group_query.h: reads, on the thread pool) and answers.
 * The 2000-2011 pushes are event subscribers (notify/groups.c).
 * docs/API.md "Groups" has the permission table.
 */
#include "server/api/api.h"
#include "server/api/api_group_body.h"

#include "server/im/gmsg.h"
#include "server/im/group_json.h"
#include "server/im/group_query.h"
#include "server/im/groups.h"
#include "server/im/msg.h"
#include "server/model/group_rules.h"
#include "server/im/msgkey.h"
#include "server/core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- parsing ------------------------------------------------------------------ */

static const char *user_field(api_ctx_t *ctx, const char *key, int required)
{
    const char *u;
    if (api_str(ctx, key, STORE_ID_MAX, required, &u) < 0)
        return NULL;
    if (!u)
        return "";
    if (!api_valid_user_id(u)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a user id", key);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return NULL;
    }
    return u;
}

/* ---- calling the use cases ------------------------------------------------------ */

/* The REST caller as the use cases' operator. */
static group_caller_t caller_of(api_ctx_t *ctx)
{
    return (group_caller_t){
        .store = ctx->srv->store,
        .events = ctx->srv->events,
        .app_id = ctx->app_id,
        .operator_id = ctx->identifier,
        .admin = ctx->is_admin,
        .origin = {.client_type = PETREL_CT_WEBAPI, .imei = "", .conn_id = 0},
    };
}

/* A use case's submission: nothing to do when queued (rc 0), else reply. */
static void submitted(api_ctx_t *ctx, int rc)
{
    if (rc == 0)
        return;
    if (rc == GROUP_ENOMEM)
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
    else
        api_fail_submit(ctx, rc);
}

/* A use case's outcome (writer thread): 1 after replying the failure. */
static int failed(api_ctx_t *ctx, int rc, const store_group_op_t *op)
{
    if (rc < 0)
        api_fail_store(ctx, rc);
    else if (op->reject)
        api_fail(ctx, 200, op->reject, petrel_err_text(op->reject));
    else
        return 0;
    return 1;
}

static json_t *results_json(const store_group_op_t *op)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < op->n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i}", "memberId", op->members[i].member_id,
                                           "code", op->results[i] ? op->results[i] : 200));
    return a;
}

/* The ids among members[] that joined. */
static json_t *added_ids(const store_group_op_t *op)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < op->n; i++)
        if (op->results[i] == 0)
            json_array_append_new(a, json_string(op->members[i].member_id));
    return a;
}

/* The group after the op, for the answers that show it. */
static void group_answer(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (!failed(ctx, rc, op))
        api_ok(ctx, group_json_group(ctx->app_id, &op->group));
}

/* ---- createGroup / importGroup ----------------------------------------------------- */

static void created(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (failed(ctx, rc, op))
        return;
    json_t *g = group_json_group(ctx->app_id, &op->group);
    json_object_set_new(g, "memberResults", results_json(op));
    api_ok(ctx, g);
}

static void create_or_import(api_ctx_t *ctx, int import)
{
    if (import && api_require_admin(ctx) < 0)
        return;
    const char *gid, *owner;
    if (api_str(ctx, "groupId", STORE_GROUP_ID_MAX, 0, &gid) < 0)
        return;
    if (gid && gid[0] && !id_valid(gid, STORE_GROUP_ID_MAX)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "groupId must be a group id (1..64 bytes)");
        return;
    }
    if (!(owner = user_field(ctx, "ownerId", 0)))
        return;
    if (owner[0] && !ctx->is_admin && strcmp(owner, ctx->identifier)) {
        api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "only the app admin may create a group for another user");
        return;
    }
    long long type = GROUP_PRIVATE;
    int p;
    if (gbody_int(ctx, ctx->body, "groupType", 1, 2, &type, &p) < 0)
        return;
    store_group_t *g = calloc(1, sizeof *g);
    gbody_members_t ms = {0};
    if (!g) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    unsigned mask;
    long long ct = 0;
    if (gbody_group(ctx, g, &mask) < 0 ||
        gbody_members(ctx, &ms, import ? "__none__" : "member", 0) < 0 ||
        (import && gbody_int(ctx, ctx->body, "createTime", 0, INT64_MAX / 2, &ct, &p) < 0))
        goto out;
    g->group_type = (int)type;
    g->create_time = import ? ct : 0;
    snprintf(g->owner_id, sizeof g->owner_id, "%s", owner);
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_create(&c, gid, g, ms.v, ms.n, import, created, ctx));
out:
    free(g);
    free(ms.v);
}

void h_group_create(api_ctx_t *ctx)
{
    create_or_import(ctx, 0);
}

void h_group_import(api_ctx_t *ctx)
{
    create_or_import(ctx, 1);
}

/* ---- update / destroy / transfer / mute ------------------------------------------ */

void h_group_update(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    if (!gid)
        return;
    store_group_t *g = calloc(1, sizeof *g);
    unsigned mask = 0;
    if (!g) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    if (gbody_group(ctx, g, &mask) == 0) {
        group_caller_t c = caller_of(ctx);
        if (!mask)
            api_fail(ctx, 400, PETREL_ERR_PARAM, "nothing to update");
        else
            submitted(ctx, group_update(&c, gid, g, mask, group_answer, ctx));
    }
    free(g);
}

void h_group_destroy(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    if (!gid)
        return;
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_destroy(&c, gid, group_answer, ctx));
}

void h_group_transfer(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx), *owner;
    if (!gid || !(owner = user_field(ctx, "ownerId", 1)))
        return;
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_transfer(&c, gid, owner, group_answer, ctx));
}

void h_group_forbid(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    long long mute;
    int p;
    if (!gid || gbody_int(ctx, ctx->body, "mute", 0, 1, &mute, &p) < 0)
        return;
    if (!p) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "mute (0 or 1) is required");
        return;
    }
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_mute(&c, gid, (int)mute, group_answer, ctx));
}

/* ---- members -------------------------------------------------------------------- */

static void members_added(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (failed(ctx, rc, op))
        return;
    json_t *res = results_json(op);
    if (op->what == SG_MEMBER_IMPORT) {
        /* the seed's per-member result: 0 ok, 1 failed, 2 already a member */
        size_t i;
        json_t *v;
        json_array_foreach(res, i, v) {
            int c = op->results[i];
            json_object_set_new(v, "result", json_integer(c == 0 ? 0 : c == PETREL_ERR_ALREADY_MEMBER ? 2 : 1));
        }
    }
    api_ok(ctx, json_pack("{s:s, s:o, s:o, s:I}", "groupId", op->group_id, "memberResults",
                          res, "added", added_ids(op), "sequence", (json_int_t)op->change_seq));
}

static void add_or_import(api_ctx_t *ctx, int import)
{
    if (import && api_require_admin(ctx) < 0)
        return;
    const char *gid = gbody_group_id(ctx);
    gbody_members_t ms = {0};
    if (!gid || gbody_members(ctx, &ms, "members", 1) < 0) {
        free(ms.v);
        return;
    }
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_members_add(&c, gid, ms.v, ms.n, import, members_added, ctx));
    free(ms.v);
}

void h_gmember_import(api_ctx_t *ctx)
{
    add_or_import(ctx, 1);
}

void h_gmember_add(api_ctx_t *ctx)
{
    add_or_import(ctx, 0);
}

static void member_left(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (failed(ctx, rc, op))
        return;
    api_ok(ctx, json_pack("{s:s, s:s, s:I}", "groupId", op->group_id,
                          op->what == SG_MEMBER_EXIT ? "userId" : "member",
                          op->member.member_id, "sequence", (json_int_t)op->change_seq));
}

void h_gmember_remove(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx), *m;
    if (!gid || !(m = user_field(ctx, "memberId", 1)))
        return;
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_member_remove(&c, gid, m, member_left, ctx));
}

void h_gmember_exit(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    if (!gid)
        return;
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_member_exit(&c, gid, member_left, ctx));
}

static void member_changed(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (failed(ctx, rc, op))
        return;
    const store_group_member_t *m = &op->member;
    api_ok(ctx, json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "groupId", op->group_id,
                          "memberId", m->member_id, "alias", m->alias, "role", m->role, "extra",
                          m->extra, "speakDate", (json_int_t)m->speak_date, "sequence",
                          (json_int_t)op->change_seq));
}

void h_gmember_update(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx), *m;
    if (!gid || !(m = user_field(ctx, "memberId", 0)))
        return;
    store_group_member_t *f = calloc(1, sizeof *f);
    if (!f) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    unsigned mask = 0;
    int p;
    long long role;
    if (gbody_str(ctx, ctx->body, "alias", STORE_GROUP_ALIAS_MAX, f->alias, &p) < 0)
        goto out;
    mask |= p ? STORE_MEMBER_F_ALIAS : 0;
    if (gbody_str(ctx, ctx->body, "extra", STORE_GROUP_EXTRA_MAX, f->extra, &p) < 0)
        goto out;
    mask |= p ? STORE_MEMBER_F_EXTRA : 0;
    if (gbody_int(ctx, ctx->body, "role", 0, 2, &role, &p) < 0)
        goto out;
    if (p && role == ROLE_OWNER) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "role 2 (owner) is set with transferGroup");
        goto out;
    }
    if (p) {
        f->role = (int)role;
        mask |= STORE_MEMBER_F_ROLE;
    }
    if (!mask) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "nothing to update (alias, role, extra)");
        goto out;
    }
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_member_update(&c, gid, m[0] ? m : ctx->identifier, f, mask,
                                       member_changed, ctx));
out:
    free(f);
}

void h_gmember_speak(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx), *m;
    if (!gid || !(m = user_field(ctx, "memberId", 1)))
        return;
    long long d;
    int p;
    /* a relative duration (ms), as in the seeds: 0 unmutes */
    if (gbody_int(ctx, ctx->body, "speakDate", 0, 100LL * 365 * 86400000, &d, &p) < 0)
        return;
    if (!p) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "speakDate (ms to stay muted, 0 = unmute) is required");
        return;
    }
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_member_mute(&c, gid, m, d, member_changed, ctx));
}

/* ---- join requests --------------------------------------------------------------- */

static void applied(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (failed(ctx, rc, op))
        return;
    if (op->joined)
        api_ok(ctx, json_pack("{s:s, s:b, s:o}", "groupId", op->group_id, "joined", 1,
                              "group", group_json_group(ctx->app_id, &op->group)));
    else
        api_ok(ctx, json_pack("{s:s, s:b, s:o}", "groupId", op->group_id, "joined", 0,
                              "request", group_json_request(&op->request)));
}

void h_group_apply(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx), *who;
    if (!gid || !(who = user_field(ctx, "fromId", 0)))
        return;
    if (who[0] && api_check_operator(ctx, who) < 0)
        return;
    char wording[STORE_GROUP_WORDING_MAX + 1] = "";
    int p;
    if (gbody_str(ctx, ctx->body, "wording", STORE_GROUP_WORDING_MAX, wording, &p) < 0)
        return;
    group_caller_t c = caller_of(ctx);
    if (who[0])
        c.operator_id = who;
    submitted(ctx, group_apply(&c, gid, wording, applied, ctx));
}

static void decided(void *arg, int rc, const store_group_op_t *op)
{
    api_ctx_t *ctx = arg;
    if (!failed(ctx, rc, op))
        api_ok(ctx, json_pack("{s:o, s:b}", "request", group_json_request(&op->request),
                              "joined", op->joined));
}

void h_group_request_decide(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    long long id, status;
    if (!gid || api_int(ctx, "requestId", 1, INT64_MAX, 1, &id) < 0 ||
        api_int(ctx, "status", 1, 2, 1, &status) < 0)
        return;
    group_caller_t c = caller_of(ctx);
    submitted(ctx, group_decide(&c, gid, id, (int)status, decided, ctx));
}

/* ---- reads ------------------------------------------------------------------------- */

typedef struct rq {
    char gid[STORE_GROUP_ID_MAX + 1];
    char user[STORE_ID_MAX + 1];
    long long a, b, limit, offset;
    int flag;
    unsigned types;
} rq_t;

static rq_t *rq_new(api_ctx_t *ctx, const char *gid)
{
    rq_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    if (gid)
        snprintf(q->gid, sizeof q->gid, "%s", gid);
    snprintf(q->user, sizeof q->user, "%s", ctx->identifier);
    ctx->u = q;
    return q;
}

static void out_done(api_ctx_t *ctx)
{
    free(ctx->u);
    ctx->u = NULL;
    if (ctx->rc < 0)
        api_fail_store(ctx, ctx->rc);
    else if (ctx->rc > 0)
        api_fail(ctx, 200, ctx->rc, petrel_err_text(ctx->rc));
    else if (!ctx->out)
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
    else {
        json_t *o = ctx->out;
        ctx->out = NULL;
        api_ok(ctx, o);
    }
}

static void info_work(api_ctx_t *ctx)
{
    rq_t *q = ctx->u;
    store_group_t g;
    store_group_member_t *ms = NULL;
    size_t n = 0;
    int outsider = 0;
    if ((ctx->rc = group_info_read(ctx->srv->store, ctx->app_id, q->gid, q->user, ctx->is_admin,
                                   &g, &ms, &n, &outsider)) != 0)
        return;
    /* A public group's outsiders (not members, not the admin) see who is in
     * it and their roles and aliases, not the members' read positions,
     * mutes, join details or extra. */
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, outsider ? json_pack("{s:s, s:i, s:s}", "memberId",
                                                         ms[i].member_id, "role", ms[i].role,
                                                         "alias", ms[i].alias)
                                             : group_json_member(&ms[i]));
    free(ms);
    ctx->out = group_json_group(ctx->app_id, &g);
    json_object_set_new(ctx->out, "memberList", list);
}

void h_group_info(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    if (gid && rq_new(ctx, gid))
        api_defer(ctx, info_work, out_done);
}

static json_t *joined_json(int32_t app_id, const store_joined_t *j)
{
    json_t *o = group_json_group(app_id, &j->g);
    json_object_set_new(o, "role", json_integer(j->m.role));
    json_object_set_new(o, "joinSequence", json_integer(j->m.join_seq));
    json_object_set_new(o, "leaveSequence", json_integer(j->m.leave_seq));
    json_object_set_new(o, "readSequence", json_integer(j->m.read_seq));
    json_object_set_new(o, "speakDate", json_integer(j->m.speak_date));
    json_object_set_new(o, "alias", json_string(j->m.alias));
    return o;
}

static void joined_work(api_ctx_t *ctx)
{
    rq_t *q = ctx->u;
    store_joined_t *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    ctx->rc = store_group_joined_sync(ctx->srv->store, ctx->app_id, q->user, q->flag, q->types,
                                      q->a, (int)q->offset, (int)q->limit, &v, &n, &total);
    if (ctx->rc < 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, joined_json(ctx->app_id, &v[i]));
    free(v);
    if (q->flag) {
        ctx->out = json_pack("{s:I, s:b, s:o}", "maxSequence", (json_int_t)total, "completed",
                             (long long)n < q->limit, "dataList", list);
    } else {
        ctx->out = json_pack("{s:I, s:o}", "totalCount", (json_int_t)total, "groupList", list);
    }
}

/* The member whose groups are read: memberId / operator (default: the
 * identifier), under the operator rule.  -1 after replying. */
static int reader_of(api_ctx_t *ctx, rq_t *q, const char *key)
{
    const char *m = user_field(ctx, key, 0);
    if (!m)
        return -1;
    if (m[0]) {
        if (api_check_operator(ctx, m) < 0)
            return -1;
        snprintf(q->user, sizeof q->user, "%s", m);
    }
    return 0;
}

void h_group_joined(api_ctx_t *ctx)
{
    long long limit = 100, offset = 0;
    if (api_int(ctx, "limit", 1, STORE_GROUP_LIMIT_MAX, 0, &limit) < 0 ||
        api_int(ctx, "offset", 0, 1000000000, 0, &offset) < 0)
        return;
    json_t *types = json_object_get(ctx->body, "groupType");
    unsigned mask = 0;
    if (types && !json_is_null(types)) {
        size_t i;
        json_t *v;
        int bad = !json_is_array(types) || json_array_size(types) > 2;
        json_array_foreach(types, i, v) {
            long long t = json_is_integer(v) ? json_integer_value(v) : 0;
            if (t != 1 && t != 2)
                bad = 1;
            else
                mask |= 1u << t;
        }
        if (bad) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "groupType must be an array of 1 and/or 2");
            return;
        }
    }
    rq_t *q = rq_new(ctx, NULL);
    if (!q)
        return;
    if (reader_of(ctx, q, "memberId") < 0) {
        free(q);
        return;
    }
    q->limit = limit;
    q->offset = offset;
    q->types = mask;
    api_defer(ctx, joined_work, out_done);
}

void h_group_sync_joined(api_ctx_t *ctx)
{
    long long last = 0, limit = 100;
    if (api_int(ctx, "lastSequence", 0, INT64_MAX, 0, &last) < 0 ||
        api_int(ctx, "maxLimit", 1, 1000, 0, &limit) < 0)
        return;
    rq_t *q = rq_new(ctx, NULL);
    if (!q)
        return;
    if (reader_of(ctx, q, "operator") < 0) {
        free(q);
        return;
    }
    q->flag = 1;
    q->a = last;
    q->limit = limit > 100 ? 100 : limit;
    api_defer(ctx, joined_work, out_done);
}

static void requests_work(api_ctx_t *ctx)
{
    rq_t *q = ctx->u;
    store_group_request_t *v = NULL;
    size_t n = 0;
    if ((ctx->rc = group_requests_read(ctx->srv->store, ctx->app_id, q->gid, q->user,
                                       ctx->is_admin, q->flag, &v, &n)) != 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, group_json_request(&v[i]));
    free(v);
    ctx->out = json_pack("{s:s, s:o}", "groupId", q->gid, "dataList", list);
}

void h_group_requests(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    long long status = 0;
    if (!gid || api_int(ctx, "status", -1, 2, 0, &status) < 0)
        return;
    rq_t *q = rq_new(ctx, gid);
    if (!q)
        return;
    q->flag = (int)status;
    api_defer(ctx, requests_work, out_done);
}

/* Messages: flag GROUP_MSGS_SYNC (a = lastSequence), GROUP_MSGS_HISTORY (a =
 * the anchor sequence, b = isGt), GROUP_MSGS_ONE (a = the sequence: its
 * read count). */
static void msgs_work(api_ctx_t *ctx)
{
    rq_t *q = ctx->u;
    store_group_msg_row_t *rows = NULL;
    size_t n = 0;
    int64_t top = 0;
    if ((ctx->rc = group_msgs_read(ctx->srv->store, ctx->app_id, q->gid, q->user, ctx->is_admin,
                                   q->flag, q->a, (int)q->b, (int)q->limit, &rows, &n, &top)) != 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, gmsg_row_json(ctx->app_id, q->gid, q->user, &rows[i]));
    int64_t last = n ? rows[n - 1].sequence : 0;
    store_group_msg_rows_free(rows, n);
    if (q->flag == GROUP_MSGS_SYNC)
        ctx->out = json_pack("{s:s, s:I, s:b, s:o}", "groupId", q->gid, "maxSequence",
                             (json_int_t)top, "completed", (n == 0 || last >= top),
                             "dataList", list);
    else if (q->flag == GROUP_MSGS_ONE) {
        if (!json_array_size(list)) {
            json_decref(list);
            ctx->rc = PETREL_ERR_MSG_NOT_READABLE;
            return;
        }
        ctx->out = json_incref(json_array_get(list, 0));
        json_decref(list);
    } else
        ctx->out = json_pack("{s:s, s:o, s:b}", "groupId", q->gid, "dataList", list, "hasMore",
                             (long long)n == q->limit);
}

static rq_t *msgs_rq(api_ctx_t *ctx)
{
    const char *gid = gbody_group_id(ctx);
    if (!gid)
        return NULL;
    rq_t *q = rq_new(ctx, gid);
    if (q && reader_of(ctx, q, "operator") < 0) {
        free(q);
        ctx->u = NULL;
        return NULL;
    }
    return q;
}

void h_group_msg_sync(api_ctx_t *ctx)
{
    long long last = 0, limit = 100;
    if (api_int(ctx, "lastSequence", 0, INT64_MAX, 0, &last) < 0 ||
        api_int(ctx, "maxLimit", 1, 1000, 0, &limit) < 0)
        return;
    rq_t *q = msgs_rq(ctx);
    if (!q)
        return;
    q->a = last;
    q->limit = limit > 100 ? 100 : limit; /* SyncReq pages: at most 100 (inventory §5) */
    api_defer(ctx, msgs_work, out_done);
}

/* queryGroupMessageHistory {groupId, messageSequence?, isGt?, limit?}: isGt
 * true -> after messageSequence ascending; else before it descending (the
 * newest page without messageSequence). */
void h_group_msg_history(api_ctx_t *ctx)
{
    long long seq = 0, limit = 20;
    if (api_seq(ctx, "messageSequence", 0, 0, &seq) < 0 ||
        api_int(ctx, "limit", 1, STORE_GROUP_LIMIT_MAX, 0, &limit) < 0)
        return;
    json_t *gt = json_object_get(ctx->body, "isGt");
    rq_t *q = msgs_rq(ctx);
    if (!q)
        return;
    q->flag = GROUP_MSGS_HISTORY;
    q->a = seq;
    q->b = json_is_true(gt);
    q->limit = limit;
    api_defer(ctx, msgs_work, out_done);
}

void h_group_msg_read_count(api_ctx_t *ctx)
{
    long long seq;
    if (api_int(ctx, "messageSequence", 1, INT64_MAX, 1, &seq) < 0)
        return;
    rq_t *q = msgs_rq(ctx);
    if (!q)
        return;
    q->flag = GROUP_MSGS_ONE;
    q->a = seq;
    q->limit = 1;
    api_defer(ctx, msgs_work, out_done);
}
