/*
 * Online status endpoints (seed inventory §5.2, the JJ additions):
 * subscribeUserOnlineStatus, setUserCustomerStatus,
 * queryFriendOnlineStatus and queryUserOnlineStatus under /v1/user.
 *
 * Online status comes from the session registry (presence.h), the custom
 * status from storage (store.h, "User status").  Reads run on the thread
 * pool; the custom status is written by the store's writer and pushed
 * (USER_CUSTOM_STATUS_CHANGE_NOTIFY 4003) after the commit: to the user's
 * own devices from the done callback, to friends and subscribers through
 * presence_fanout.  Subscriptions are kept in memory (presence.c).
 *
 * The operator rule is the usual one: userId defaults to the caller;
 * another user needs the app admin (403/60006).  Whose status may be
 * read: a friend's through queryFriendOnlineStatus (friends both ways, no
 * blacklist either way), anyone's through queryUserOnlineStatus and
 * subscriptions, except that a user who has blacklisted the caller looks
 * offline with an empty custom status, and a subscriber the user has
 * blacklisted is not told.
 */
#include "server/api.h"

#include "server/gateway.h"
#include "server/presence.h"

#include <stdlib.h>
#include <string.h>

#define ERR_SUB_TIME 20004

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

/* {session, onlineStatus, customText, customStatus} of one user. */
static json_t *status_json(server_t *s, int32_t app_id, const char *user_id, const char *text,
                           int custom, int hidden)
{
    json_t *sessions = hidden ? json_array() : presence_sessions(s, app_id, user_id);
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
} sub_job_t;

/* On the thread pool: a full table makes presence_subscribe sweep it. */
static void subscribe_work(api_ctx_t *ctx)
{
    sub_job_t *j = ctx->u;
    size_t i;
    json_t *v;
    ctx->rc = 0;
    json_array_foreach(j->ids, i, v) {
        if (presence_subscribe(ctx->srv, ctx->app_id, j->user, json_string_value(v),
                               j->expire) < 0) {
            ctx->rc = -1;
            break;
        }
    }
}

static void subscribe_done(api_ctx_t *ctx)
{
    sub_job_t *j = ctx->u;
    ctx->u = NULL;
    if (ctx->rc < 0) {
        free(j);
        api_fail(ctx, 503, PETREL_ERR_SYSTEM, "too many subscriptions, try later");
        return;
    }
    json_t *out = json_pack("{s:s, s:O, s:I, s:I}", "userId", j->user, "subUserIds", j->ids,
                            "subTime", j->sub, "expireTime", (json_int_t)j->expire);
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
        api_fail(ctx, 200, ERR_SUB_TIME, "subTime must be a positive number of ms");
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
    int64_t now = now_ms();
    j->expire = sub > INT64_MAX - now ? INT64_MAX : now + sub;
    ctx->u = j;
    api_defer(ctx, subscribe_work, subscribe_done);
}

/* ---- setUserCustomerStatus ---------------------------------------------------- */

typedef struct custom_job {
    unsigned worker;
    char user[STORE_ID_MAX + 1];
    char text[STORE_STATUS_TEXT_MAX + 1];
    int status;
} custom_job_t;

/* Writer thread, after the commit. */
static void custom_done(void *arg, int rc)
{
    api_ctx_t *ctx = arg;
    custom_job_t *j = ctx->u;
    ctx->u = NULL;
    if (rc == STORE_ENOTFOUND) {
        free(j);
        api_fail(ctx, 200, STORE_REJECT_USER_NOT_FOUND, "user not found");
        return;
    }
    if (rc < 0) {
        free(j);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, store_strerror(rc));
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:i}", "userId", j->user, "customText", j->text,
                          "customStatus", j->status);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (txt) {
        size_t len = strlen(txt);
        gw_push_user(ctx->srv, ctx->app_id, j->user,
                     PETREL_CMD_USER_CUSTOM_STATUS_CHANGE_NOTIFY, txt, len, 0);
        presence_fanout(ctx->srv, j->worker, ctx->app_id, j->user,
                        PETREL_CMD_USER_CUSTOM_STATUS_CHANGE_NOTIFY, txt, len);
    }
    free(txt);
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
    custom_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    j->worker = ctx->req->w->idx;
    memcpy(j->user, who, strlen(who) + 1);
    if (text)
        memcpy(j->text, text, strlen(text) + 1);
    j->status = (int)status;
    ctx->u = j;
    int rc = store_user_status_set(ctx->srv->store, ctx->app_id, j->user, j->text, j->status,
                                   custom_done, ctx);
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
                                            peers[i].custom_text, peers[i].custom_status, 0));
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
        /* someone who blacklisted the reader looks offline to them */
        int hidden = 0;
        if (!ctx->is_admin && strcmp(ids[i], q->user)) {
            store_friend_t f;
            int rc = store_friend_get_sync(ctx->srv->store, ctx->app_id, ids[i], q->user, &f);
            if (rc == 0)
                hidden = f.black == 2;
            else if (rc != STORE_ENOTFOUND)
                ctx->rc = rc;
        }
        json_object_set_new(ctx->out, ids[i],
                            status_json(ctx->srv, ctx->app_id, ids[i], st[i].custom_text,
                                        st[i].custom_status, hidden));
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
