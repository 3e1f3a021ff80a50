/*
 * Online status endpoints (seed inventory §5.2, the JJ additions):
 * subscribeUserOnlineStatus, setUserCustomerStatus,
 * queryFriendOnlineStatus and queryUserOnlineStatus under /v1/user.
 *
 * Online status comes from the session registry (presence.h), the custom
 * status from storage (store.h, "User status").  Reads run on the thread
 * pool; the custom status is set by the im/status.c use case, whose event
 * notify/status.c turns into USER_CUSTOM_STATUS_CHANGE_NOTIFY 4003 to the
 * user's own devices and, through presence_fanout, to friends and
 * subscribers.  Subscriptions are kept in memory (presence.c).
 *
 * The operator rule is the usual one: userId defaults to the caller;
 * another user needs the app admin (403/60006).  Whose status may be
 * read (docs/SECURITY.md, issue 14 item 5):
 *   - device ids (imei) only by the user themselves and the app admin;
 *   - online/offline, the devices' clientType and loginTime, and the
 *     custom status by a status peer (friends both ways, no blacklist
 *     either way) and by a live subscriber the user has not blacklisted;
 *   - anybody else sees the user offline with an empty custom status.
 * Subscriptions are only to existing (live) users, at most
 * presence_subs_per_user live ones per subscriber (62041 beyond).
 */
#include "server/api/api.h"
#include "server/im/status.h"

#include "server/deliver/deliver.h"
#include "server/im/presence.h"

#include <stdlib.h>
#include <string.h>


/* What a reader may see of a user's status. */
enum { SEE_NOTHING = 0, SEE_STATUS = 1, SEE_DEVICES = 2 };

/* userId of the body (default: the operator), which the operator may act
 * for; NULL after replying. */
static const char *user_of(api_ctx_t *ctx)
{
    const char *u;
    if (api_str(ctx, "userId", STORE_ID_MAX, 0, &u) < 0)
        return NULL;
    if (!u)
        u = ctx->identifier;
    if (!api_valid_user_id(u)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "userId must be a user id");
        return NULL;
    }
    return api_check_operator(ctx, u) < 0 ? NULL : u;
}

/* body[key]: an array of 1..API_MAX_BATCH user ids; NULL after replying. */
static json_t *id_list(api_ctx_t *ctx, const char *key)
{
    json_t *a = json_object_get(ctx->body, key);
    int ok = json_is_array(a) && json_array_size(a) >= 1 && json_array_size(a) <= API_MAX_BATCH;
    size_t i;
    json_t *v;
    json_array_foreach(ok ? a : NULL, i, v) {
        if (!json_is_string(v) || !api_valid_user_id(json_string_value(v)))
            ok = 0;
    }
    if (!ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be an array of 1..%d user ids", key, API_MAX_BATCH);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return NULL;
    }
    return a;
}

/* {session, onlineStatus, customText, customStatus} of one user, as
 * much as see (SEE_*) allows. */
static json_t *status_json(server_t *s, int32_t app_id, const char *user_id, const char *text,
                           int custom, int see)
{
    int hidden = see == SEE_NOTHING;
    json_t *sessions = hidden ? json_array()
                              : presence_sessions(s, app_id, user_id, see == SEE_DEVICES);
    if (!sessions)
        return NULL;
    return json_pack("{s:o, s:i, s:s, s:i}", "session", sessions, "onlineStatus",
                     json_array_size(sessions) > 0, "customText", hidden ? "" : text,
                     "customStatus", hidden ? 0 : custom);
}

/* ---- subscribeUserOnlineStatus ------------------------------------------------ */

typedef struct sub_job {
    char user[STORE_ID_MAX + 1];
    json_t *ids;        /* borrowed from ctx->body */
    json_int_t sub;
    int64_t expire;
    json_t *ok, *fail;  /* subscribed / not a live user */
} sub_job_t;

/* On the thread pool: only live users; the per-user cap (all or
 * nothing); then the table (a full table makes presence_subscribe sweep
 * it). */
static void subscribe_work(api_ctx_t *ctx)
{
    sub_job_t *j = ctx->u;
    size_t i, n = 0;
    json_t *v;
    const char *live[API_MAX_BATCH];
    ctx->rc = 0;
    j->ok = json_array();
    j->fail = json_array();
    json_array_foreach(j->ids, i, v) {
        store_user_t u;
        int rc = store_user_get_sync(ctx->srv->store, ctx->app_id, json_string_value(v), &u);
        if (rc < 0 && rc != STORE_ENOTFOUND) {
            ctx->rc = rc;
            return;
        }
        if (rc == 0 && !u.del_flag && n < API_MAX_BATCH) {
            live[n++] = json_string_value(v);
            json_array_append(j->ok, v);
        } else {
            json_array_append(j->fail, v);
        }
    }
    if (n == 0)
        return;
    int rc = presence_reserve(ctx->srv, ctx->app_id, j->user, live, n, j->expire,
                              (size_t)ctx->srv->cfg.presence_subs_per_user);
    if (rc < 0) {
        ctx->rc = rc == -2 ? -2 : -1;
        return;
    }
    for (i = 0; i < n; i++) {
        if (presence_subscribe(ctx->srv, ctx->app_id, j->user, live[i], j->expire) < 0) {
            ctx->rc = -1;
            break;
        }
    }
}

static void subscribe_done(api_ctx_t *ctx)
{
    sub_job_t *j = ctx->u;
    ctx->u = NULL;
    json_t *ok = j->ok, *fail = j->fail;
    if (ctx->rc < 0 || !ok || !fail) {
        json_decref(ok);
        json_decref(fail);
        free(j);
        if (ctx->rc == -2) {
            char msg[128];
            snprintf(msg, sizeof msg, "at most %d live subscriptions per user",
                     ctx->srv->cfg.presence_subs_per_user);
            api_fail(ctx, 200, PETREL_ERR_SUB_LIMIT, msg);
        } else if (ctx->rc == -1) {
            api_fail(ctx, 503, PETREL_ERR_SYSTEM, "too many subscriptions, try later");
        } else {
            api_fail_store(ctx, ctx->rc);
        }
        return;
    }
    json_t *out = json_pack("{s:s, s:o, s:o, s:I, s:I}", "userId", j->user, "subUserIds", ok,
                            "failUserIds", fail, "subTime", j->sub, "expireTime",
                            (json_int_t)j->expire);
    free(j);
    api_ok(ctx, out);
}

void h_status_subscribe(api_ctx_t *ctx)
{
    const char *who = user_of(ctx);
    if (!who)
        return;
    json_t *t = json_object_get(ctx->body, "subTime");
    if (t && !json_is_null(t) && !json_is_integer(t)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "subTime must be an integer (ms)");
        return;
    }
    json_int_t sub = json_is_integer(t) ? json_integer_value(t) : 0;
    if (sub <= 0) {
        api_fail(ctx, 200, PETREL_ERR_SUB_TIME, "subTime must be a positive number of ms");
        return;
    }
    json_t *ids = id_list(ctx, "subUserIds");
    if (!ids)
        return;
    sub_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    memcpy(j->user, who, strlen(who) + 1);
    j->ids = ids;
    j->sub = sub;
    /* a subscription lives at most PRESENCE_SUB_TIME_MAX (clients renew
     * it), so the table cannot be held full until a restart */
    int64_t now = now_ms();
    j->expire = now + (sub > PRESENCE_SUB_TIME_MAX ? PRESENCE_SUB_TIME_MAX : sub);
    ctx->u = j;
    api_defer(ctx, subscribe_work, subscribe_done);
}

/* ---- setUserCustomerStatus ---------------------------------------------------- */

/* Writer thread, after the commit and the event (notify/status.c told the
 * user's devices and its peers). */
static void custom_done(void *arg, int rc, im_status_set_t *j)
{
    api_ctx_t *ctx = arg;
    ctx->u = NULL;
    if (rc == STORE_ENOTFOUND) {
        free(j);
        api_fail(ctx, 200, PETREL_ERR_USER_NOT_FOUND, "user not found");
        return;
    }
    if (rc < 0) {
        free(j);
        api_fail_store(ctx, rc);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:i}", "userId", j->user, "customText", j->text,
                          "customStatus", j->status);
    free(j);
    api_ok(ctx, o);
}

void h_status_set_custom(api_ctx_t *ctx)
{
    const char *who = user_of(ctx), *text;
    long long status = 0;
    if (!who || api_str(ctx, "customText", STORE_STATUS_TEXT_MAX, 0, &text) < 0 ||
        api_int(ctx, "customStatus", INT32_MIN, INT32_MAX, 0, &status) < 0)
        return;
    im_status_set_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    j->app_id = ctx->app_id;
    memcpy(j->user, who, strlen(who) + 1);
    if (text)
        memcpy(j->text, text, strlen(text) + 1);
    j->status = (int)status;
    ctx->u = j;
    int rc = im_status_set(ctx->srv, j, custom_done, ctx);
    if (rc != 0) {
        ctx->u = NULL;
        free(j);
        api_fail(ctx, rc == STORE_EINVAL ? 400 : 500,
                 rc == STORE_EINVAL ? PETREL_ERR_PARAM : PETREL_ERR_SYSTEM,
                 rc == STORE_EINVAL ? "invalid input" : "storage unavailable");
    }
}

/* ---- queries -------------------------------------------------------------------- */

typedef struct query_job {
    char user[STORE_ID_MAX + 1]; /* friends of; or the reader (user list) */
    json_t *ids;                  /* user list: borrowed from ctx->body */
} query_job_t;

static void friends_work(api_ctx_t *ctx)
{
    query_job_t *q = ctx->u;
    store_user_status_t *peers = NULL;
    size_t n = 0;
    ctx->rc = store_friend_status_peers_sync(ctx->srv->store, ctx->app_id, q->user, &peers, &n);
    if (ctx->rc == 0) {
        ctx->out = json_object();
        for (size_t i = 0; ctx->out && i < n; i++)
            json_object_set_new(ctx->out, peers[i].user_id,
                                status_json(ctx->srv, ctx->app_id, peers[i].user_id,
                                            peers[i].custom_text, peers[i].custom_status,
                                            ctx->is_admin ? SEE_DEVICES : SEE_STATUS));
    }
    free(peers);
}

void h_status_query_friends(api_ctx_t *ctx)
{
    const char *who = user_of(ctx);
    if (!who)
        return;
    query_job_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    memcpy(q->user, who, strlen(who) + 1);
    ctx->u = q;
    api_defer(ctx, friends_work, api_done_out);
}

/* The relation rule (see the top) for reader looking at target, another
 * user: SEE_STATUS for a status peer or a subscriber target has not
 * blacklisted, else SEE_NOTHING.  Thread pool. */
static int may_see(api_ctx_t *ctx, const char *reader, const char *target, int *see)
{
    store_friend_t tr, rt;
    int rc = store_friend_get_sync(ctx->srv->store, ctx->app_id, target, reader, &tr);
    int has_tr = rc == 0, has_rt = 0;
    if (rc == 0 || rc == STORE_ENOTFOUND) {
        rc = store_friend_get_sync(ctx->srv->store, ctx->app_id, reader, target, &rt);
        has_rt = rc == 0;
    }
    if (rc < 0 && rc != STORE_ENOTFOUND)
        return rc;
    *see = SEE_NOTHING;
    if (has_tr && tr.black == 2)
        return 0; /* target blacklisted the reader */
    if (has_tr && has_rt && tr.status == 1 && rt.status == 1 && rt.black != 2)
        *see = SEE_STATUS;
    else if (presence_subscribed(ctx->srv, ctx->app_id, reader, target))
        *see = SEE_STATUS;
    return 0;
}

static void users_work(api_ctx_t *ctx)
{
    query_job_t *q = ctx->u;
    size_t n = json_array_size(q->ids);
    const char **ids = calloc(n, sizeof *ids);
    store_user_status_t *st = calloc(n, sizeof *st);
    ctx->rc = ids && st ? 0 : STORE_EIO;
    for (size_t i = 0; ctx->rc == 0 && i < n; i++)
        ids[i] = json_string_value(json_array_get(q->ids, i));
    if (ctx->rc == 0)
        ctx->rc = store_user_status_get_sync(ctx->srv->store, ctx->app_id, ids, n, st);
    if (ctx->rc == 0)
        ctx->out = json_object();
    for (size_t i = 0; ctx->rc == 0 && ctx->out && i < n; i++) {
        int see = SEE_DEVICES;
        if (!ctx->is_admin && strcmp(ids[i], q->user))
            ctx->rc = may_see(ctx, q->user, ids[i], &see);
        json_object_set_new(ctx->out, ids[i],
                            status_json(ctx->srv, ctx->app_id, ids[i], st[i].custom_text,
                                        st[i].custom_status, see));
    }
    free(ids);
    free(st);
}

void h_status_query_users(api_ctx_t *ctx)
{
    json_t *ids = id_list(ctx, "userIdList");
    if (!ids)
        return;
    query_job_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    memcpy(q->user, ctx->identifier, strlen(ctx->identifier) + 1);
    q->ids = ids;
    ctx->u = q;
    api_defer(ctx, users_work, api_done_out);
}
