/*
 * Group endpoints (seed inventory §5.4 plus the join requests the seeds
 * never built): /v1/group/... and /v1/group/member/..., the group message
 * reads (sync by group sequence, paged history with read counts), and the
 * 2000-2011 pushes (the admin send is api_gmsg.c).  Every rule is decided by the
 * store's writer (store_group_write, group_rules.h) in one savepoint; this
 * file parses and validates the hostile input, applies the operator rule
 * (non-admins act only as themselves), replies, and queues the pushes
 * (gpush.h) from the writer's callback, in commit order.  Reads run on the
 * thread pool.  docs/API.md "Groups" has the permission table.
 */
#include "server/api/api.h"

#include "server/im/gmsg.h"
#include "server/deliver/gpush.h"
#include "server/im/msg.h"
#include "server/model/group_rules.h"
#include "server/im/msgkey.h"
#include "server/core/util.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const char *reject_text(int code)
{
    switch (code) {
    case 20001: return "user not found";
    case GERR_NOT_EXIST: return "group not found";
    case GERR_EXISTS: return "group already exists";
    case GERR_HAS_OWNER: return "group already has an owner";
    case GERR_ALREADY_MEMBER: return "already a member";
    case GERR_JOIN_FAILED: return "this group takes no join requests";
    case GERR_MEMBER_LIMIT: return "group is full (maxMemberCount)";
    case GERR_NOT_MEMBER: return "not a member of this group";
    case GERR_NEED_MANAGER: return "only the owner or a manager may do this";
    case GERR_NEED_ADMIN: return "not allowed on the group owner";
    case GERR_NEED_OWNER: return "only the owner may do this";
    case GERR_OWNER_NOT_REMOVABLE: return "the owner cannot be removed";
    case GERR_MUTED: return "the group is muted";
    case GERR_ONLY_SELF: return "only the member may change this";
    case GERR_PUBLIC_NEEDS_OWNER: return "a public group needs an owner";
    case GERR_MEMBER_MUTED: return "member is muted";
    case GERR_DESTROYED: return "group destroyed";
    case GERR_OWNER_CANNOT_EXIT: return "the owner must transfer the group before leaving";
    case GERR_REQUEST_NOT_FOUND: return "join request not found";
    case GERR_REQUEST_HANDLED: return "join request already decided";
    case GERR_PRIVATE_NO_MANAGER: return "a private group has no managers";
    case 50002: return "sender is silenced";
    case 50003: return "sender is forbidden";
    case PETREL_ERR_MSG_NOT_READABLE: return "no such message, or not one you may read";
    case STORE_REJECT_QUOTA: return "the app's storage quota is used up";
    default: return "refused";
    }
}

/* ---- rendering ---------------------------------------------------------------- */

static json_t *group_json(int32_t app_id, const store_group_t *g)
{
    return json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:i, s:s, s:i, s:s, s:s, s:i, s:I, s:I, "
                     "s:i, s:I, s:I, s:s}",
                     "groupId", g->group_id, "appId", app_id, "ownerId", g->owner_id,
                     "groupType", g->group_type, "groupName", g->group_name, "mute", g->mute,
                     "applyJoinType", g->apply_join_type, "photo", g->photo, "maxMemberCount",
                     g->max_member_count, "introduction", g->introduction, "notification",
                     g->notification, "status", g->status, "sequence", (json_int_t)g->sequence,
                     "messageSequence", (json_int_t)g->msg_seq, "memberCount", g->member_count,
                     "createTime", (json_int_t)g->create_time, "updateTime",
                     (json_int_t)g->update_time, "extra", g->extra);
}

static json_t *member_json(const store_group_member_t *m)
{
    return json_pack("{s:s, s:i, s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "memberId",
                     m->member_id, "role", m->role, "speakDate", (json_int_t)m->speak_date,
                     "alias", m->alias, "joinTime", (json_int_t)m->join_time, "joinType",
                     m->join_type, "leaveTime", (json_int_t)m->leave_time, "joinSequence",
                     (json_int_t)m->join_seq, "leaveSequence", (json_int_t)m->leave_seq,
                     "readSequence", (json_int_t)m->read_seq, "sequence",
                     (json_int_t)m->sequence, "extra", m->extra);
}

static json_t *request_json(const store_group_request_t *r)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "requestId", (json_int_t)r->id,
                     "groupId", r->group_id, "fromId", r->from_id, "wording", r->wording,
                     "status", r->status, "handlerId", r->handler_id, "createTime",
                     (json_int_t)r->create_time, "updateTime", (json_int_t)r->update_time);
}

/* Queue o (consumed) as cmd to ids[0..n). */
static void push_ids(api_ctx_t *ctx, int cmd, json_t *o, const char (*ids)[STORE_ID_MAX + 1],
                     size_t n)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        gpush_ids(ctx->srv, ctx->app_id, cmd, s, ids, n, NULL, 0, 0);
    free(s);
    json_decref(o);
}

static void push_one(api_ctx_t *ctx, int cmd, json_t *o, const char *user)
{
    char id[1][STORE_ID_MAX + 1];
    snprintf(id[0], sizeof id[0], "%s", user);
    push_ids(ctx, cmd, o, (const char(*)[STORE_ID_MAX + 1])id, 1);
}

/* ---- parsing ------------------------------------------------------------------ */

/* A string field (absent: *present 0) of at most max bytes, no NUL inside,
 * copied into dst; an object is accepted for "extra" (stored as JSON). */
static int field(api_ctx_t *ctx, json_t *obj, const char *key, size_t max, char *dst,
                 int *present)
{
    json_t *v = json_object_get(obj, key);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    char *dumped = NULL;
    const char *s = json_string_value(v);
    size_t len = s ? json_string_length(v) : 0;
    if (!s && json_is_object(v) && !strcmp(key, "extra")) {
        s = dumped = json_dumps(v, JSON_COMPACT);
        len = s ? strlen(s) : 0;
    }
    if (!s || len > max || strlen(s) != len) {
        free(dumped);
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be a string of at most %zu bytes", key, max);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    memcpy(dst, s, len + 1);
    free(dumped);
    *present = 1;
    return 0;
}

static int int_field(api_ctx_t *ctx, json_t *obj, const char *key, long long min, long long max,
                     long long *out, int *present)
{
    json_t *v = json_object_get(obj, key);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        *out = min - 1;
    }
    if (*out < min || *out > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be an integer in %lld..%lld", key, min, max);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    *present = 1;
    return 0;
}

/* groupId: 1..64 bytes, no control characters; NULL after replying. */
static const char *group_id_of(api_ctx_t *ctx)
{
    const char *g;
    if (api_str(ctx, "groupId", STORE_GROUP_ID_MAX, 1, &g) < 0)
        return NULL;
    if (!id_valid(g, STORE_GROUP_ID_MAX)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "groupId must be a group id (1..64 bytes)");
        return NULL;
    }
    return g;
}

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

/* ---- the write job -------------------------------------------------------------- */

typedef struct gjob gjob_t;
typedef void (*finish_fn)(api_ctx_t *ctx, gjob_t *j);

struct gjob {
    store_group_op_t op;
    store_group_member_t *members;
    int *results;
    finish_fn finish; /* success: push and reply */
};

static gjob_t *job_new(api_ctx_t *ctx, int what, const char *gid)
{
    gjob_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    j->op.what = what;
    j->op.app_id = ctx->app_id;
    j->op.admin = ctx->is_admin;
    if (gid)
        snprintf(j->op.group_id, sizeof j->op.group_id, "%s", gid);
    snprintf(j->op.operator_id, sizeof j->op.operator_id, "%s", ctx->identifier);
    return j;
}

static void job_free(gjob_t *j)
{
    if (!j)
        return;
    gmsg_op_free(&j->op);
    free(j->members);
    free(j->results);
    free(j);
}

/* Writer thread, after the commit. */
static void job_done(void *arg, int rc)
{
    api_ctx_t *ctx = arg;
    gjob_t *j = ctx->u;
    ctx->u = NULL;
    if (rc < 0)
        api_fail_store(ctx, rc);
    else if (j->op.reject)
        api_fail(ctx, 200, j->op.reject, reject_text(j->op.reject));
    else
        j->finish(ctx, j);
    job_free(j);
}

static void job_submit(api_ctx_t *ctx, gjob_t *j, finish_fn finish)
{
    j->finish = finish;
    ctx->u = j;
    int rc = store_group_write(ctx->srv->store, &j->op, job_done, ctx);
    if (rc == STORE_EBUSY) {
        ctx->u = NULL;
        job_free(j);
        api_fail(ctx, 503, PETREL_ERR_BUSY, "server busy: retry later");
    } else if (rc != 0) {
        ctx->u = NULL;
        job_free(j);
        api_fail(ctx, rc == STORE_EINVAL ? 400 : 500,
                 rc == STORE_EINVAL ? PETREL_ERR_PARAM : PETREL_ERR_SYSTEM,
                 rc == STORE_EINVAL ? "invalid input" : "storage unavailable");
    }
}

/* members[] of the body: 1..STORE_GROUP_BATCH_MAX objects {memberId, alias?,
 * role?, joinType?, speakDate?, joinTime?} (or bare id strings); min 0
 * allows an absent array.  -1 after replying. */
static int parse_members(api_ctx_t *ctx, gjob_t *j, const char *key, size_t min)
{
    json_t *a = json_object_get(ctx->body, key);
    if (min == 0 && (!a || json_is_null(a)))
        return 0;
    char msg[160];
    if (!json_is_array(a) || json_array_size(a) < min ||
        json_array_size(a) > STORE_GROUP_BATCH_MAX) {
        snprintf(msg, sizeof msg, "%s must be an array of %zu..%d members", key, min,
                 STORE_GROUP_BATCH_MAX);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    size_t n = json_array_size(a);
    if (n == 0)
        return 0;
    j->members = calloc(n, sizeof *j->members);
    j->results = calloc(n, sizeof *j->results);
    if (!j->members || !j->results) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        store_group_member_t *m = &j->members[i];
        int p;
        long long x;
        if (json_is_string(v)) {
            v = json_pack("{s:O}", "memberId", v);
        } else if (json_is_object(v)) {
            json_incref(v);
        } else {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "members must be objects or user ids");
            return -1;
        }
        int bad = field(ctx, v, "memberId", STORE_ID_MAX, m->member_id, &p) < 0;
        if (!bad && (!p || !api_valid_user_id(m->member_id))) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "every member needs a memberId (a user id)");
            bad = 1;
        }
        bad = bad || field(ctx, v, "alias", STORE_GROUP_ALIAS_MAX, m->alias, &p) < 0 ||
              field(ctx, v, "joinType", STORE_GROUP_JOIN_TYPE_MAX, m->join_type, &p) < 0 ||
              field(ctx, v, "extra", STORE_GROUP_EXTRA_MAX, m->extra, &p) < 0;
        if (!bad) {
            m->role = 0;
            if (int_field(ctx, v, "role", 0, 2, &x, &p) < 0)
                bad = 1;
            else if (p)
                m->role = (int)x;
        }
        if (!bad) {
            if (int_field(ctx, v, "speakDate", 0, INT64_MAX / 2, &x, &p) < 0)
                bad = 1;
            else if (p)
                m->speak_date = x;
        }
        if (!bad) {
            if (int_field(ctx, v, "joinTime", 0, INT64_MAX / 2, &x, &p) < 0)
                bad = 1;
            else if (p)
                m->join_time = x;
        }
        json_decref(v);
        if (bad)
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(j->members[k].member_id, m->member_id)) {
                api_fail(ctx, 400, PETREL_ERR_PARAM, "a member is listed twice");
                return -1;
            }
        }
    }
    j->op.members = j->members;
    j->op.results = j->results;
    j->op.n = n;
    return 0;
}

/* Group fields of the body into op->g; mask of those present.  -1 after
 * replying. */
static int parse_group(api_ctx_t *ctx, store_group_t *g, unsigned *mask)
{
    int p;
    long long x;
    *mask = 0;
    if (field(ctx, ctx->body, "groupName", STORE_GROUP_NAME_MAX, g->group_name, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_NAME : 0;
    if (field(ctx, ctx->body, "introduction", STORE_GROUP_INTRO_MAX, g->introduction, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_INTRODUCTION : 0;
    if (field(ctx, ctx->body, "notification", STORE_GROUP_NOTIFY_MAX, g->notification, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_NOTIFICATION : 0;
    if (field(ctx, ctx->body, "photo", STORE_GROUP_PHOTO_MAX, g->photo, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_PHOTO : 0;
    if (field(ctx, ctx->body, "extra", STORE_GROUP_EXTRA_MAX, g->extra, &p) < 0)
        return -1;
    *mask |= p ? STORE_GROUP_F_EXTRA : 0;
    if (int_field(ctx, ctx->body, "mute", 0, 1, &x, &p) < 0)
        return -1;
    if (p) {
        g->mute = (int)x;
        *mask |= STORE_GROUP_F_MUTE;
    }
    if (int_field(ctx, ctx->body, "applyJoinType", 0, 2, &x, &p) < 0)
        return -1;
    if (p) {
        g->apply_join_type = (int)x;
        *mask |= STORE_GROUP_F_APPLY_JOIN_TYPE;
    } else {
        g->apply_join_type = JOIN_APPROVAL;
    }
    if (int_field(ctx, ctx->body, "maxMemberCount", 0, GROUP_MAX_MEMBERS_LIMIT, &x, &p) < 0)
        return -1;
    if (p) {
        g->max_member_count = (int)x;
        *mask |= STORE_GROUP_F_MAX_MEMBER_COUNT;
    }
    return 0;
}

static json_t *results_json(const gjob_t *j)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < j->op.n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i}", "memberId", j->members[i].member_id,
                                           "code", j->results[i] ? j->results[i] : 200));
    return a;
}

/* The ids among members[] that joined. */
static json_t *added_ids(const gjob_t *j)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < j->op.n; i++)
        if (j->results[i] == 0)
            json_array_append_new(a, json_string(j->members[i].member_id));
    return a;
}

/* ---- createGroup / importGroup ----------------------------------------------------- */

static void random_group_id(char *dst)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) { /* never seen; still unique enough per node */
        int64_t t = msgkey_next(0, now_ms());
        memcpy(b, &t, sizeof t);
        memcpy(b + 8, &t, sizeof t);
    }
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(dst + 2 * i, 3, "%02x", b[i]);
}

static void created(api_ctx_t *ctx, gjob_t *j)
{
    json_t *g = group_json(ctx->app_id, &j->op.group);
    push_ids(ctx, PETREL_CMD_CREATED_GROUP, json_deep_copy(g),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    json_object_set_new(g, "memberResults", results_json(j));
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
        api_fail(ctx, 403, API_ERR_NOT_OPERATOR, "only the app admin may create a group for another user");
        return;
    }
    long long type = GROUP_PRIVATE;
    int p;
    if (int_field(ctx, ctx->body, "groupType", 1, 2, &type, &p) < 0)
        return;
    gjob_t *j = job_new(ctx, import ? SG_IMPORT : SG_CREATE, NULL);
    if (!j)
        return;
    unsigned mask;
    if (parse_group(ctx, &j->op.g, &mask) < 0 ||
        parse_members(ctx, j, import ? "__none__" : "member", 0) < 0) {
        job_free(j);
        return;
    }
    j->op.g.group_type = (int)type;
    if (import) {
        long long ct = 0;
        if (int_field(ctx, ctx->body, "createTime", 0, INT64_MAX / 2, &ct, &p) < 0) {
            job_free(j);
            return;
        }
        j->op.g.create_time = ct;
    }
    snprintf(j->op.g.owner_id, sizeof j->op.g.owner_id, "%s", owner);
    if (gid && gid[0])
        snprintf(j->op.group_id, sizeof j->op.group_id, "%s", gid);
    else
        random_group_id(j->op.group_id);
    job_submit(ctx, j, created);
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

static void updated(api_ctx_t *ctx, gjob_t *j)
{
    json_t *g = group_json(ctx->app_id, &j->op.group);
    push_ids(ctx, PETREL_CMD_UPDATED_GROUP, json_deep_copy(g),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, g);
}

void h_group_update(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    if (!gid)
        return;
    gjob_t *j = job_new(ctx, SG_UPDATE, gid);
    if (!j)
        return;
    if (parse_group(ctx, &j->op.g, &j->op.mask) < 0) {
        job_free(j);
        return;
    }
    if (!j->op.mask) {
        job_free(j);
        api_fail(ctx, 400, PETREL_ERR_PARAM, "nothing to update");
        return;
    }
    job_submit(ctx, j, updated);
}

static void destroyed(api_ctx_t *ctx, gjob_t *j)
{
    push_ids(ctx, PETREL_CMD_DESTROY_GROUP,
             json_pack("{s:s, s:I, s:i}", "groupId", j->op.group_id, "sequence",
                       (json_int_t)j->op.change_seq, "status", 2),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, group_json(ctx->app_id, &j->op.group));
}

void h_group_destroy(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    gjob_t *j = gid ? job_new(ctx, SG_DESTROY, gid) : NULL;
    if (j)
        job_submit(ctx, j, destroyed);
}

static void transferred(api_ctx_t *ctx, gjob_t *j)
{
    push_ids(ctx, PETREL_CMD_TRANSFER_GROUP,
             json_pack("{s:s, s:s, s:I}", "groupId", j->op.group_id, "ownerId",
                       j->op.group.owner_id, "sequence", (json_int_t)j->op.change_seq),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, group_json(ctx->app_id, &j->op.group));
}

void h_group_transfer(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx), *owner;
    if (!gid || !(owner = user_field(ctx, "ownerId", 1)))
        return;
    gjob_t *j = job_new(ctx, SG_TRANSFER, gid);
    if (!j)
        return;
    snprintf(j->op.target, sizeof j->op.target, "%s", owner);
    job_submit(ctx, j, transferred);
}

static void muted(api_ctx_t *ctx, gjob_t *j)
{
    push_ids(ctx, j->op.flag ? PETREL_CMD_MUTE_GROUP : PETREL_CMD_UNMUTE_GROUP,
             json_pack("{s:s, s:i, s:I}", "groupId", j->op.group_id, "mute", j->op.flag,
                       "sequence", (json_int_t)j->op.change_seq),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, group_json(ctx->app_id, &j->op.group));
}

void h_group_forbid(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    long long mute;
    int p;
    if (!gid || int_field(ctx, ctx->body, "mute", 0, 1, &mute, &p) < 0)
        return;
    if (!p) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "mute (0 or 1) is required");
        return;
    }
    gjob_t *j = job_new(ctx, SG_MUTE, gid);
    if (!j)
        return;
    j->op.flag = (int)mute;
    job_submit(ctx, j, muted);
}

/* ---- members -------------------------------------------------------------------- */

static void members_added(api_ctx_t *ctx, gjob_t *j)
{
    json_t *added = added_ids(j);
    if (json_array_size(added))
        push_ids(ctx, PETREL_CMD_ADDED_MEMBER,
                 json_pack("{s:s, s:O, s:I}", "groupId", j->op.group_id, "members", added,
                           "sequence", (json_int_t)j->op.change_seq),
                 (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    json_t *res = results_json(j);
    if (j->op.what == SG_MEMBER_IMPORT) {
        /* the seed's per-member result: 0 ok, 1 failed, 2 already a member */
        size_t i;
        json_t *v;
        json_array_foreach(res, i, v) {
            int c = j->results[i];
            json_object_set_new(v, "result", json_integer(c == 0 ? 0 : c == GERR_ALREADY_MEMBER ? 2 : 1));
        }
    }
    api_ok(ctx, json_pack("{s:s, s:o, s:o, s:I}", "groupId", j->op.group_id, "memberResults",
                          res, "added", added, "sequence", (json_int_t)j->op.change_seq));
}

static void add_or_import(api_ctx_t *ctx, int import)
{
    if (import && api_require_admin(ctx) < 0)
        return;
    const char *gid = group_id_of(ctx);
    gjob_t *j = gid ? job_new(ctx, import ? SG_MEMBER_IMPORT : SG_MEMBER_ADD, gid) : NULL;
    if (!j)
        return;
    if (parse_members(ctx, j, "members", 1) < 0) {
        job_free(j);
        return;
    }
    job_submit(ctx, j, members_added);
}

void h_gmember_import(api_ctx_t *ctx)
{
    add_or_import(ctx, 1);
}

void h_gmember_add(api_ctx_t *ctx)
{
    add_or_import(ctx, 0);
}

static void member_left(api_ctx_t *ctx, gjob_t *j)
{
    int exit = j->op.what == SG_MEMBER_EXIT;
    json_t *o = exit ? json_pack("{s:s, s:s, s:I}", "groupId", j->op.group_id, "userId",
                                 j->op.member.member_id, "sequence", (json_int_t)j->op.change_seq)
                     : json_pack("{s:s, s:s, s:I}", "groupId", j->op.group_id, "member",
                                 j->op.member.member_id, "sequence", (json_int_t)j->op.change_seq);
    push_ids(ctx, exit ? PETREL_CMD_EXIT_GROUP : PETREL_CMD_DELETED_MEMBER, json_deep_copy(o),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, o);
}

void h_gmember_remove(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx), *m;
    if (!gid || !(m = user_field(ctx, "memberId", 1)))
        return;
    gjob_t *j = job_new(ctx, SG_MEMBER_REMOVE, gid);
    if (!j)
        return;
    snprintf(j->op.target, sizeof j->op.target, "%s", m);
    job_submit(ctx, j, member_left);
}

void h_gmember_exit(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    gjob_t *j = gid ? job_new(ctx, SG_MEMBER_EXIT, gid) : NULL;
    if (!j)
        return;
    j->op.admin = 0; /* leaving is always one's own act */
    job_submit(ctx, j, member_left);
}

static void member_changed(api_ctx_t *ctx, gjob_t *j)
{
    const store_group_member_t *m = &j->op.member;
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "groupId", j->op.group_id,
                          "memberId", m->member_id, "alias", m->alias, "role", m->role, "extra",
                          m->extra, "speakDate", (json_int_t)m->speak_date, "sequence",
                          (json_int_t)j->op.change_seq);
    push_ids(ctx, j->op.what == SG_MEMBER_SPEAK ? PETREL_CMD_SPEAK_GROUP_MEMBER
                                                : PETREL_CMD_UPDATED_MEMBER,
             json_deep_copy(o), (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, o);
}

void h_gmember_update(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx), *m;
    if (!gid || !(m = user_field(ctx, "memberId", 0)))
        return;
    gjob_t *j = job_new(ctx, SG_MEMBER_UPDATE, gid);
    if (!j)
        return;
    snprintf(j->op.target, sizeof j->op.target, "%s", m[0] ? m : ctx->identifier);
    int p;
    long long role;
    if (field(ctx, ctx->body, "alias", STORE_GROUP_ALIAS_MAX, j->op.m.alias, &p) < 0)
        goto out;
    j->op.mask |= p ? STORE_MEMBER_F_ALIAS : 0;
    if (field(ctx, ctx->body, "extra", STORE_GROUP_EXTRA_MAX, j->op.m.extra, &p) < 0)
        goto out;
    j->op.mask |= p ? STORE_MEMBER_F_EXTRA : 0;
    if (int_field(ctx, ctx->body, "role", 0, 2, &role, &p) < 0)
        goto out;
    if (p && role == ROLE_OWNER) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "role 2 (owner) is set with transferGroup");
        goto out;
    }
    if (p) {
        j->op.m.role = (int)role;
        j->op.mask |= STORE_MEMBER_F_ROLE;
    }
    if (!j->op.mask) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "nothing to update (alias, role, extra)");
        goto out;
    }
    job_submit(ctx, j, member_changed);
    return;
out:
    job_free(j);
}

void h_gmember_speak(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx), *m;
    if (!gid || !(m = user_field(ctx, "memberId", 1)))
        return;
    long long d;
    int p;
    /* a relative duration (ms), as in the seeds: 0 unmutes */
    if (int_field(ctx, ctx->body, "speakDate", 0, 100LL * 365 * 86400000, &d, &p) < 0)
        return;
    if (!p) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "speakDate (ms to stay muted, 0 = unmute) is required");
        return;
    }
    gjob_t *j = job_new(ctx, SG_MEMBER_SPEAK, gid);
    if (!j)
        return;
    snprintf(j->op.target, sizeof j->op.target, "%s", m);
    j->op.speak_date = d > 0 ? now_ms() + d : 0;
    job_submit(ctx, j, member_changed);
}

/* ---- join requests --------------------------------------------------------------- */

static void applied(api_ctx_t *ctx, gjob_t *j)
{
    if (j->op.joined) {
        push_ids(ctx, PETREL_CMD_ADDED_MEMBER,
                 json_pack("{s:s, s:[s], s:I}", "groupId", j->op.group_id, "members",
                           j->op.operator_id, "sequence", (json_int_t)j->op.change_seq),
                 (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
        api_ok(ctx, json_pack("{s:s, s:b, s:o}", "groupId", j->op.group_id, "joined", 1,
                              "group", group_json(ctx->app_id, &j->op.group)));
        return;
    }
    json_t *r = request_json(&j->op.request);
    push_ids(ctx, PETREL_CMD_JOIN_GROUP, json_deep_copy(r),
             (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, json_pack("{s:s, s:b, s:o}", "groupId", j->op.group_id, "joined", 0, "request", r));
}

void h_group_apply(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx), *who;
    if (!gid || !(who = user_field(ctx, "fromId", 0)))
        return;
    if (who[0] && api_check_operator(ctx, who) < 0)
        return;
    gjob_t *j = job_new(ctx, SG_APPLY, gid);
    if (!j)
        return;
    if (who[0])
        snprintf(j->op.operator_id, sizeof j->op.operator_id, "%s", who);
    j->op.admin = 0;
    int p;
    if (field(ctx, ctx->body, "wording", STORE_GROUP_WORDING_MAX, j->op.wording, &p) < 0) {
        job_free(j);
        return;
    }
    job_submit(ctx, j, applied);
}

static void decided(api_ctx_t *ctx, gjob_t *j)
{
    json_t *r = request_json(&j->op.request);
    push_one(ctx, PETREL_CMD_JOIN_GROUP, json_deep_copy(r), j->op.request.from_id);
    if (j->op.joined)
        push_ids(ctx, PETREL_CMD_ADDED_MEMBER,
                 json_pack("{s:s, s:[s], s:I}", "groupId", j->op.group_id, "members",
                           j->op.request.from_id, "sequence", (json_int_t)j->op.change_seq),
                 (const char(*)[STORE_ID_MAX + 1])j->op.ids, j->op.nids);
    api_ok(ctx, json_pack("{s:o, s:b}", "request", r, "joined", j->op.joined));
}

void h_group_request_decide(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    long long id, status;
    if (!gid || api_int(ctx, "requestId", 1, INT64_MAX, 1, &id) < 0 ||
        api_int(ctx, "status", 1, 2, 1, &status) < 0)
        return;
    gjob_t *j = job_new(ctx, SG_DECIDE, gid);
    if (!j)
        return;
    j->op.id = id;
    j->op.flag = (int)status;
    job_submit(ctx, j, decided);
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

/* Thread pool: the group and the reader's row; ctx->rc = 0 or a seed code
 * (ctx->out is then NULL). */
static int load_for_reader(api_ctx_t *ctx, rq_t *q, store_group_t *g, store_group_member_t *m,
                           int action)
{
    int rc = store_group_get_sync(ctx->srv->store, ctx->app_id, q->gid, g);
    if (rc == STORE_ENOTFOUND)
        return GERR_NOT_EXIST;
    if (rc < 0)
        return rc;
    rc = store_group_member_get_sync(ctx->srv->store, ctx->app_id, q->gid, q->user, m);
    if (rc == STORE_ENOTFOUND)
        m->role = ROLE_NONE;
    else if (rc < 0)
        return rc;
    if (action < 0) /* message reads: members, former members, the admin */
        return ctx->is_admin || m->role != ROLE_NONE ? 0 : GERR_NOT_MEMBER;
    return group_rule_check(action, g->group_type, m->role, ROLE_NONE, 0, 0, ctx->is_admin);
}

static void out_done(api_ctx_t *ctx)
{
    free(ctx->u);
    ctx->u = NULL;
    if (ctx->rc < 0)
        api_fail_store(ctx, ctx->rc);
    else if (ctx->rc > 0)
        api_fail(ctx, 200, ctx->rc, reject_text(ctx->rc));
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
    store_group_member_t me;
    if ((ctx->rc = load_for_reader(ctx, q, &g, &me, GA_GET_INFO)) != 0)
        return;
    store_group_member_t *ms = NULL;
    size_t n = 0;
    if ((ctx->rc = store_group_members_sync(ctx->srv->store, ctx->app_id, q->gid, &ms, &n)) < 0)
        return;
    /* A public group's outsiders (not members, not the admin) see who is in
     * it and their roles and aliases, not the members' read positions,
     * mutes, join details or extra. */
    int outsider = !ctx->is_admin && !group_role_in(me.role);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, outsider ? json_pack("{s:s, s:i, s:s}", "memberId",
                                                         ms[i].member_id, "role", ms[i].role,
                                                         "alias", ms[i].alias)
                                             : member_json(&ms[i]));
    free(ms);
    ctx->out = group_json(ctx->app_id, &g);
    json_object_set_new(ctx->out, "memberList", list);
}

void h_group_info(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    if (gid && rq_new(ctx, gid))
        api_defer(ctx, info_work, out_done);
}

static json_t *joined_json(int32_t app_id, const store_joined_t *j)
{
    json_t *o = group_json(app_id, &j->g);
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
    store_group_t g;
    store_group_member_t me;
    if ((ctx->rc = load_for_reader(ctx, q, &g, &me, GA_LIST_REQUESTS)) != 0)
        return;
    store_group_request_t *v = NULL;
    size_t n = 0;
    if ((ctx->rc = store_group_requests_sync(ctx->srv->store, ctx->app_id, q->gid, q->flag, &v,
                                             &n)) < 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, request_json(&v[i]));
    free(v);
    ctx->out = json_pack("{s:s, s:o}", "groupId", q->gid, "dataList", list);
}

void h_group_requests(api_ctx_t *ctx)
{
    const char *gid = group_id_of(ctx);
    long long status = 0;
    if (!gid || api_int(ctx, "status", -1, 2, 0, &status) < 0)
        return;
    rq_t *q = rq_new(ctx, gid);
    if (!q)
        return;
    q->flag = (int)status;
    api_defer(ctx, requests_work, out_done);
}

/* Messages: flag 0 sync (a = lastSequence, ascending), 1 history (a = the
 * anchor sequence, b = isGt), 2 one message's read count (a = sequence). */
static void msgs_work(api_ctx_t *ctx)
{
    rq_t *q = ctx->u;
    store_group_t g;
    store_group_member_t me;
    if ((ctx->rc = load_for_reader(ctx, q, &g, &me, -1)) != 0)
        return;
    int64_t lo = 0, hi = 0;
    if (me.role != ROLE_NONE) { /* the reader's membership bounds */
        lo = me.join_seq;
        hi = me.role == ROLE_LEFT ? me.leave_seq : 0;
        if (me.role == ROLE_LEFT && hi <= lo)
            hi = lo; /* nothing to read */
    }
    int64_t top = hi ? hi : g.msg_seq;
    int64_t from = 0, to = 0; /* to 0: no upper bound (but the reader's) */
    int desc = 0, none = me.role == ROLE_LEFT && hi == lo;
    if (q->flag == 0 || (q->flag == 1 && q->b)) {
        /* after q->a: nothing after the largest sequence (q->a + 1 would overflow) */
        if (q->a == INT64_MAX)
            none = 1;
        else
            from = q->a + 1;
    } else if (q->flag == 2) {
        from = to = q->a;
    } else {
        desc = 1;
        if (q->a == 1)
            none = 1; /* nothing before the first message */
        else if (q->a > 1)
            to = q->a - 1;
    }
    store_group_msg_row_t *rows = NULL;
    size_t n = 0;
    if (!none) {
        ctx->rc = store_group_msgs_sync(ctx->srv->store, ctx->app_id, q->gid, from, to, lo, hi,
                                        (int)q->limit, desc, &rows, &n);
        if (ctx->rc < 0)
            return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, gmsg_row_json(ctx->app_id, q->gid, q->user, &rows[i]));
    int64_t last = n ? rows[n - 1].sequence : 0;
    store_group_msg_rows_free(rows, n);
    if (q->flag == 0)
        ctx->out = json_pack("{s:s, s:I, s:b, s:o}", "groupId", q->gid, "maxSequence",
                             (json_int_t)top, "completed", (n == 0 || last >= top),
                             "dataList", list);
    else if (q->flag == 2) {
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
    const char *gid = group_id_of(ctx);
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
    q->flag = 1;
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
    q->flag = 2;
    q->a = seq;
    q->limit = 1;
    api_defer(ctx, msgs_work, out_done);
}
