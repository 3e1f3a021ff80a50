/*
 * REST router and shared plumbing (see api.h).  The route table is the one
 * place that lists every endpoint, its authentication and methods; metric
 * slots are the table indexes.
 */
#include "server/api/api.h"
#include "server/im/call.h"

#include "petrel/sign.h"
#include "server/im/apps.h"
#include "server/im/msg_send.h"
#include "server/net/cors.h"
#include "server/core/log.h"
#include "server/im/ustate.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

enum { AUTH = 1, NOAUTH = 0 };
enum { M_POST_GET = 1, M_GET = 2, M_POST = 3 };

typedef struct route {
    const char *path;
    api_fn fn;
    int auth;
    int methods;
} route_t;

/* Seed paths; where a seed spelled a path differently both are listed. */
static const route_t routes[] = {
    {"/v1/user/importUser", h_import_user, AUTH, M_POST_GET},
    {"/v1/user/deleteUser", h_delete_user, AUTH, M_POST_GET},
    {"/v1/user/login", h_gateway_login, AUTH, M_POST_GET},
    {"/v1/user/getUserSequence", h_get_user_sequence, AUTH, M_POST_GET},
    {"/v1/user/data/getUserInfo", h_get_user_info, AUTH, M_POST_GET},
    {"/v1/user/data/getSingleInfo", h_get_single_user_info, AUTH, M_POST_GET},
    {"/v1/user/data/getSingleUserInfo", h_get_single_user_info, AUTH, M_POST_GET},
    {"/v1/user/data/modifyUserInfo", h_modify_user_info, AUTH, M_POST_GET},
    {"/v1/user/data/queryImUserPage", h_query_user_page, AUTH, M_POST_GET},
    {"/v1/user/subscribeUserOnlineStatus", h_status_subscribe, AUTH, M_POST_GET},
    {"/v1/user/setUserCustomerStatus", h_status_set_custom, AUTH, M_POST_GET},
    {"/v1/user/queryFriendOnlineStatus", h_status_query_friends, AUTH, M_POST_GET},
    {"/v1/user/queryUserOnlineStatus", h_status_query_users, AUTH, M_POST_GET},
    {"/v1/message/send", h_message_send, AUTH, M_POST_GET},
    {"/v1/message/syncOfflineMessage", h_sync_offline, AUTH, M_POST_GET},
    {"/v1/message/queryP2pMessageHistory", h_p2p_history, AUTH, M_POST_GET},
    {"/v1/message/getP2pMessageRange", h_p2p_range, AUTH, M_POST_GET},
    {"/v1/conversation/syncConversationList", h_conv_sync, AUTH, M_POST_GET},
    {"/v1/conversation/syncConversationSet", h_conv_sync, AUTH, M_POST_GET},
    {"/v1/conversation/updateConversation", h_conv_update, AUTH, M_POST_GET},
    {"/v1/conversation/deleteConversation", h_conv_delete, AUTH, M_POST_GET},
    {"/v1/friendship/importFriendShip", h_friend_import, AUTH, M_POST_GET},
    {"/v1/friendship/addFriend", h_friend_add, AUTH, M_POST_GET},
    {"/v1/friendship/updateFriend", h_friend_update, AUTH, M_POST_GET},
    {"/v1/friendship/deleteFriend", h_friend_delete, AUTH, M_POST_GET},
    {"/v1/friendship/deleteAllFriend", h_friend_delete_all, AUTH, M_POST_GET},
    {"/v1/friendship/getAllFriendShip", h_friend_get_all, AUTH, M_POST_GET},
    {"/v1/friendship/getRelation", h_friend_relation, AUTH, M_POST_GET},
    {"/v1/friendship/checkFriend", h_friend_check, AUTH, M_POST_GET},
    {"/v1/friendship/chekFriendship", h_friend_check, AUTH, M_POST_GET},
    {"/v1/friendship/addBlack", h_black_add, AUTH, M_POST_GET},
    {"/v1/friendship/deleteBlack", h_black_delete, AUTH, M_POST_GET},
    {"/v1/friendship/checkBlack", h_black_check, AUTH, M_POST_GET},
    {"/v1/friendship/checkBlck", h_black_check, AUTH, M_POST_GET},
    {"/v1/friendship/syncFriendshipList", h_friend_sync, AUTH, M_POST_GET},
    {"/v1/friendshipRequest/getFriendRequest", h_request_get, AUTH, M_POST_GET},
    {"/v1/friendshipRequest/approveFriendRequest", h_request_approve, AUTH, M_POST_GET},
    {"/v1/friendshipRequest/readFriendShipRequest", h_request_read, AUTH, M_POST_GET},
    {"/v1/friendshipRequest/readFriendShipRequestReq", h_request_read, AUTH, M_POST_GET},
    {"/v1/friendshipRequest/syncFriendshipRequest", h_request_sync, AUTH, M_POST_GET},
    {"/v1/friendship/group/add", h_group_add, AUTH, M_POST_GET},
    {"/v1/friendship/group/del", h_group_del, AUTH, M_POST_GET},
    {"/v1/friendship/group/member/add", h_group_member_add, AUTH, M_POST_GET},
    {"/v1/friendship/group/member/del", h_group_member_del, AUTH, M_POST_GET},
    {"/v1/friendship/group/syncFriendshipGroupList", h_group_sync, AUTH, M_POST_GET},
    {"/v1/group/importGroup", h_group_import, AUTH, M_POST_GET},
    {"/v1/group/createGroup", h_group_create, AUTH, M_POST_GET},
    {"/v1/group/getGroupInfo", h_group_info, AUTH, M_POST_GET},
    {"/v1/group/getJoinedGroup", h_group_joined, AUTH, M_POST_GET},
    {"/v1/group/update", h_group_update, AUTH, M_POST_GET},
    {"/v1/group/destroyGroup", h_group_destroy, AUTH, M_POST_GET},
    {"/v1/group/transferGroup", h_group_transfer, AUTH, M_POST_GET},
    {"/v1/group/forbidSendMessage", h_group_forbid, AUTH, M_POST_GET},
    {"/v1/group/syncJoinedGroup", h_group_sync_joined, AUTH, M_POST_GET},
    {"/v1/group/sendMessage", h_group_send, AUTH, M_POST_GET},
    {"/v1/group/member/importGroupMember", h_gmember_import, AUTH, M_POST_GET},
    {"/v1/group/member/add", h_gmember_add, AUTH, M_POST_GET},
    {"/v1/group/member/remove", h_gmember_remove, AUTH, M_POST_GET},
    {"/v1/group/member/exitGroup", h_gmember_exit, AUTH, M_POST_GET},
    {"/v1/group/member/update", h_gmember_update, AUTH, M_POST_GET},
    {"/v1/group/member/speak", h_gmember_speak, AUTH, M_POST_GET},
    {"/v1/group/applyJoinGroup", h_group_apply, AUTH, M_POST_GET},
    {"/v1/group/getJoinRequest", h_group_requests, AUTH, M_POST_GET},
    {"/v1/group/approveJoinRequest", h_group_request_decide, AUTH, M_POST_GET},
    {"/v1/group/message/syncGroupMessage", h_group_msg_sync, AUTH, M_POST_GET},
    {"/v1/group/message/getReadCount", h_group_msg_read_count, AUTH, M_POST_GET},
    {"/v1/message/queryGroupMessageHistory", h_group_msg_history, AUTH, M_POST_GET},
    {"/v1/app/getSetting", h_app_get, AUTH, M_POST_GET},
    {"/v1/app/updateSetting", h_app_update, AUTH, M_POST_GET},
    {"/app/v1/register", h_app_register, NOAUTH, M_POST},
    {"/app/v1/login", h_app_login, NOAUTH, M_POST},
    {"/app/v1/callback", h_app_callback, NOAUTH, M_POST},
    {"/healthz", h_healthz, NOAUTH, M_GET},
    {"/metrics", h_metrics, NOAUTH, M_GET},
};
#define NROUTES (sizeof routes / sizeof routes[0])
#define STATIC_ROUTE ((int)NROUTES)
_Static_assert(NROUTES + 1 < METRICS_MAX_ROUTES, "too many routes for the metrics table");

const char *api_route_name(int i)
{
    if (i >= 0 && (size_t)i < NROUTES)
        return routes[i].path;
    if (i == STATIC_ROUTE)
        return "static";
    return "other";
}

static json_t *envelope(int code, const char *msg, json_t *data)
{
    return json_pack("{s:i, s:s, s:o?}", "code", code, "msg", msg, "data", data);
}

static void ctx_free(api_ctx_t *ctx)
{
    json_decref(ctx->body);
    json_decref(ctx->out);
    free(ctx);
}

void api_ok(api_ctx_t *ctx, json_t *data)
{
    http_reply_json(ctx->req, 200, envelope(200, "success", data));
    ctx_free(ctx);
}

void api_fail(api_ctx_t *ctx, int http_status, int code, const char *msg)
{
    metrics_error(&ctx->srv->metrics, code);
    http_reply_json(ctx->req, http_status, envelope(code, msg, NULL));
    ctx_free(ctx);
}

void api_fail_store(api_ctx_t *ctx, int rc)
{
    switch (rc) {
    case STORE_EBUSY:
        api_fail(ctx, 503, PETREL_ERR_BUSY, "the server is busy: retry later");
        return;
    case STORE_EGONE:
        api_fail(ctx, 503, PETREL_ERR_STORE_GONE, store_strerror(rc));
        return;
    case STORE_ECLOSED:
        api_fail(ctx, 503, PETREL_ERR_SHUTDOWN, "the server is shutting down: retry later");
        return;
    default:
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, store_strerror(rc));
    }
}

void api_fail_submit(api_ctx_t *ctx, int rc)
{
    if (rc == STORE_EBUSY)
        api_fail(ctx, 503, PETREL_ERR_BUSY, "server busy: retry later");
    else
        api_fail(ctx, rc == STORE_EINVAL ? 400 : 500,
                 rc == STORE_EINVAL ? PETREL_ERR_PARAM : PETREL_ERR_SYSTEM,
                 rc == STORE_EINVAL ? "invalid input" : "storage unavailable");
}

int api_send_failed(api_ctx_t *ctx, const im_result_t *r, void (*unqueued)(api_ctx_t *ctx, int rc))
{
    if (r->store_rc < 0 && r->deferred)
        api_fail_store(ctx, r->store_rc);
    else if (r->store_rc < 0)
        unqueued(ctx, r->store_rc);
    else if (r->code == PETREL_ERR_BUSY)
        api_fail(ctx, 503, PETREL_ERR_BUSY, "server busy: resend later");
    else if (r->code == PETREL_ERR_RATE_LIMITED)
        api_fail(ctx, 429, PETREL_ERR_RATE_LIMITED, "send rate limit exceeded: resend later");
    else if (r->code != PETREL_OK)
        api_fail(ctx, 200, r->code, petrel_err_text(r->code));
    else
        return 0;
    return 1;
}

void api_reply_raw(api_ctx_t *ctx, int status, const char *ctype, const void *body, size_t len,
                   const char *extra_headers)
{
    http_reply(ctx->req, status, ctype, body, len, extra_headers);
    ctx_free(ctx);
}

int api_valid_user_id(const char *s)
{
    return id_valid(s, STORE_ID_MAX);
}

int api_check_operator(api_ctx_t *ctx, const char *user_id)
{
    if (ctx->is_admin || (user_id && !strcmp(user_id, ctx->identifier)))
        return 0;
    api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR,
             "only the app admin may act for another user");
    return -1;
}

int api_require_admin(api_ctx_t *ctx)
{
    if (ctx->is_admin)
        return 0;
    api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "this endpoint is for the app admin");
    return -1;
}

int api_str(api_ctx_t *ctx, const char *key, size_t max_len, int required, const char **out)
{
    json_t *v = json_object_get(ctx->body, key);
    if (out)
        *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        char msg[160];
        snprintf(msg, sizeof msg, "%s is required", key);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    if (!json_is_string(v) || json_string_length(v) > max_len) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be a string of at most %zu bytes", key, max_len);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    if (out)
        *out = json_string_value(v);
    return 0;
}

int api_int(api_ctx_t *ctx, const char *key, long long min, long long max, int required,
            long long *out)
{
    json_t *v = json_object_get(ctx->body, key);
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        char msg[160];
        snprintf(msg, sizeof msg, "%s is required", key);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be an integer in %lld..%lld", key, min, max);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int api_seq(api_ctx_t *ctx, const char *key, long long min, int required, long long *out)
{
    json_t *v = json_object_get(ctx->body, key);
    if (!json_is_string(v))
        return api_int(ctx, key, min, INT64_MAX, required, out);
    const char *s = json_string_value(v);
    long long x = 0;
    int ok = s[0] != '\0' && strlen(s) <= 19;
    for (const char *p = s; ok && *p; p++) {
        int d = *p - '0';
        if (d < 0 || d > 9 || x > (INT64_MAX - d) / 10)
            ok = 0;
        else
            x = x * 10 + d;
    }
    if (!ok || x < min) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be an integer in %lld..%lld", key, min,
                 (long long)INT64_MAX);
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    *out = x;
    return 0;
}

/* ---- thread-pool deferral ------------------------------------------------ */

typedef struct defer {
    uv_work_t work;
    api_ctx_t *ctx;
} defer_t;

static void defer_work(uv_work_t *w)
{
    defer_t *d = w->data;
    d->ctx->work(d->ctx);
}

static void defer_done(uv_work_t *w, int status)
{
    defer_t *d = w->data;
    api_ctx_t *ctx = d->ctx;
    free(d);
    if (status < 0) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "cancelled");
        return;
    }
    ctx->done(ctx);
}

void api_defer(api_ctx_t *ctx, api_fn work, api_fn done)
{
    defer_t *d = malloc(sizeof *d);
    if (!d) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    d->ctx = ctx;
    d->work.data = d;
    ctx->work = work;
    ctx->done = done;
    if (uv_queue_work(&ctx->req->w->loop, &d->work, defer_work, defer_done) < 0) {
        free(d);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "cannot queue work");
    }
}

void api_done_out(api_ctx_t *ctx)
{
    free(ctx->u);
    ctx->u = NULL;
    if (ctx->rc < 0) {
        api_fail_store(ctx, ctx->rc);
        return;
    }
    json_t *out = ctx->out;
    ctx->out = NULL;
    api_ok(ctx, out);
}

/* ---- dispatch -------------------------------------------------------------- */

static int authenticate(api_ctx_t *ctx)
{
    char app[16], sign[PETREL_SIGN_MAX_TOKEN + 1];
    if (http_query_get(ctx->req, "appId", app, sizeof app) < 0 || !app[0]) {
        api_fail(ctx, 401, PETREL_ERR_APPID_MISSING, "appId is required");
        return -1;
    }
    if (http_query_get(ctx->req, "identifier", ctx->identifier, sizeof ctx->identifier) < 0 ||
        !ctx->identifier[0]) {
        api_fail(ctx, 401, PETREL_ERR_OPERATOR_MISSING, "identifier is required");
        return -1;
    }
    if (http_query_get(ctx->req, "userSign", sign, sizeof sign) < 0 || !sign[0]) {
        api_fail(ctx, 401, PETREL_ERR_SIGN_MISSING, "userSign is required");
        return -1;
    }
    char *end;
    long id = strtol(app, &end, 10);
    if (*end || id <= 0 || id > INT32_MAX || apps_get(ctx->srv->apps, (int32_t)id, &ctx->app) < 0) {
        api_fail(ctx, 401, PETREL_ERR_SIGN_INVALID, "unknown appId");
        return -1;
    }
    ctx->app_id = (int32_t)id;
    petrel_sign_policy_t pol = {ctx->srv->cfg.token_max_lifetime, ctx->srv->cfg.token_clock_skew};
    int rc = petrel_sign_verify_policy(ctx->app.secret, ctx->app_id, ctx->identifier, sign,
                                       now_ms() / 1000, &pol, NULL);
    if (rc) {
        api_fail(ctx, 401, rc, petrel_err_text(rc));
        return -1;
    }
    ctx->authed = 1;
    ctx->is_admin = !strcmp(ctx->identifier, ctx->app.admin_id);
    return 0;
}

/* ---- the operator must be live ---------------------------------------------
 * Every authenticated call of a user other than the app admin: the
 * operator exists, is not deleted and not forbidden.  A forbidden or
 * deleted user may not call anything, reads included (docs/SECURITY.md).
 * The answer comes from the operator state cache (ustate.h); a user not
 * cached yet is read on the thread pool once. */

static int operator_refused(api_ctx_t *ctx, int state)
{
    if (state == USTATE_FORBIDDEN || state == USTATE_DELETED) {
        api_fail(ctx, 403, PETREL_ERR_USER_FORBIDDEN,
                 state == USTATE_DELETED ? "operator is a deleted user"
                                         : "operator is forbidden (forbiddenFlag)");
        return 1;
    }
    return 0;
}

static void operator_work(api_ctx_t *ctx)
{
    store_user_t u;
    ctx->rc = store_user_get_sync(ctx->srv->store, ctx->app_id, ctx->identifier, &u);
    if (ctx->rc == 0) {
        ctx->rc = ustate_of_row(u.del_flag, u.forbidden_flag);
        ustate_learn(ctx->srv->ustate, ctx->app_id, ctx->identifier, ctx->rc);
    }
}

static void operator_done(api_ctx_t *ctx)
{
    if (ctx->rc == STORE_ENOTFOUND) {
        api_fail(ctx, 403, PETREL_ERR_USER_NOT_FOUND, "operator is not a user of the app");
        return;
    }
    if (ctx->rc < 0) {
        api_fail_store(ctx, ctx->rc);
        return;
    }
    /* a write that committed since the read has the last word */
    int state = ustate_get(ctx->srv->ustate, ctx->app_id, ctx->identifier);
    if (operator_refused(ctx, state == USTATE_UNKNOWN ? ctx->rc : state))
        return;
    ctx->rc = 0;
    ctx->work = ctx->done = NULL;
    ctx->handler(ctx);
}

static void operator_check(api_ctx_t *ctx)
{
    int state = ustate_get(ctx->srv->ustate, ctx->app_id, ctx->identifier);
    if (state == USTATE_UNKNOWN) {
        api_defer(ctx, operator_work, operator_done);
        return;
    }
    if (!operator_refused(ctx, state))
        ctx->handler(ctx);
}

/* Unauthenticated routes still need an app: ?appId=, body appId, or the default. */
static int pick_app(api_ctx_t *ctx)
{
    char app[16];
    long id = ctx->srv->cfg.app_id;
    json_t *b = json_object_get(ctx->body, "appId");
    if (http_query_get(ctx->req, "appId", app, sizeof app) == 0 && app[0])
        id = strtol(app, NULL, 10);
    else if (json_is_integer(b))
        id = (long)json_integer_value(b);
    if (id <= 0 || id > INT32_MAX || apps_get(ctx->srv->apps, (int32_t)id, &ctx->app) < 0) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "unknown appId");
        return -1;
    }
    ctx->app_id = (int32_t)id;
    return 0;
}

static int method_ok(int methods, int m)
{
    switch (methods) {
    case M_GET: return m == HTTP_GET || m == HTTP_HEAD;
    case M_POST: return m == HTTP_POST;
    default: return m == HTTP_POST || m == HTTP_GET;
    }
}

void api_handle(http_req_t *req)
{
    api_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        http_reply(req, 500, "text/plain", "out of memory\n", 14, NULL);
        return;
    }
    ctx->req = req;
    ctx->srv = req->srv;
    const route_t *r = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!strcmp(req->path, routes[i].path)) {
            r = &routes[i];
            req->route = (int)i;
            break;
        }
    }
    if (!r) {
        if (req->method == HTTP_GET || req->method == HTTP_HEAD) {
            req->route = STATIC_ROUTE;
            h_static(ctx);
        } else {
            api_fail(ctx, 404, PETREL_ERR_NOT_FOUND, "not found");
        }
        return;
    }
    if (req->method == HTTP_OPTIONS) { /* CORS preflight (cors.h) */
        cors_preflight(req, r->methods == M_GET    ? "GET, HEAD"
                            : r->methods == M_POST ? "POST"
                                                   : "GET, POST");
        free(ctx);
        return;
    }
    if (!method_ok(r->methods, req->method)) {
        api_fail(ctx, 405, PETREL_ERR_METHOD, "method not allowed");
        return;
    }
    if (req->body_len) {
        json_error_t jerr;
        ctx->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(ctx->body)) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "body must be a JSON object");
            return;
        }
    } else {
        ctx->body = json_object();
    }
    if (r->auth == AUTH ? authenticate(ctx) < 0 : pick_app(ctx) < 0)
        return;
    if (r->auth == AUTH && !ctx->is_admin) {
        ctx->handler = r->fn;
        operator_check(ctx);
        return;
    }
    r->fn(ctx);
}

im_call_t api_im_call(const api_ctx_t *ctx)
{
    return (im_call_t){
        .store = ctx->srv->store,
        .events = ctx->srv->events,
        .ustate = ctx->srv->ustate,
        .app_id = ctx->app_id,
        .op = ctx->identifier,
        .is_admin = ctx->is_admin,
    };
}
