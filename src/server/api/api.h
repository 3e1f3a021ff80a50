/*
 * REST API plumbing shared by every route module: the route table lookup,
 * userSign authentication from the query string (appId, identifier,
 * userSign), the {code, msg, data} envelope, the operator rule, and
 * api_defer() to run blocking work (storage reads) on libuv's thread pool
 * instead of the event loop (password hashing has a pool of its own:
 * appserver.c, pwpool.h).
 *
 * Life of a call: api_handle(), petreld's HTTP handler (http_set_handler,
 * installed by app/boot.c), finds the route, parses the JSON
 * body (an object; empty body = {}), authenticates when the route needs it,
 * and calls the handler with a fresh api_ctx_t.  The handler must end the
 * call exactly once with api_ok/api_fail/api_reply_raw, from any thread;
 * that frees the context.
 *
 * HTTP statuses: 200 for success and for business errors (the envelope's
 * code says which, as in the seeds: clients test code == 200); 400 for
 * malformed input (code 90001), 401 for authentication failures (6000x),
 * 403 for acting for another user without being the app admin (60006),
 * for an operator that is forbidden or deleted (61015) or not a user of
 * the app (20001; the app admin is exempt from both),
 * 404 unknown path, 413 oversized body, 429 throttled, 500 internal.
 */
#ifndef PETREL_API_H
#define PETREL_API_H

#include <jansson.h>

#include "server/im/server.h"
#include "server/net/http.h"
#include "server/store/store.h"

#define API_MAX_BATCH 100

/* The route handler: every HTTP request (http.h) but /ws. */
void api_handle(http_req_t *req);

typedef struct api_ctx api_ctx_t;
typedef void (*api_fn)(api_ctx_t *ctx);

struct api_ctx {
    http_req_t *req;
    server_t *srv;
    json_t *body;              /* request JSON object (owned) */
    int authed;                /* the route required a valid userSign */
    int32_t app_id;            /* from the query (or the default app) */
    char identifier[STORE_ID_MAX + 1];
    int is_admin;              /* identifier is the app's admin */
    store_app_t app;
    /* scratch for handlers and api_defer */
    void *u;
    json_t *out;
    int rc;
    api_fn work, done;
    api_fn handler;            /* the route's, run once the operator passed (api.c) */
};

/* Envelope replies; each frees ctx.  data reference is taken. */
void api_ok(api_ctx_t *ctx, json_t *data);
void api_fail(api_ctx_t *ctx, int http_status, int code, const char *msg);
/* api_fail for a store error (rc < 0): 503 with a retryable code when the
 * writer is full (62080), the database file is gone (62102) or the server
 * is stopping (61016); 500 / 90000 otherwise. */
void api_fail_store(api_ctx_t *ctx, int rc);
/* api_fail for a write the store did not take at submit (rc < 0): 503
 * 62080 when its queue is full, 400 / 90001 for invalid input, else
 * 500 / 90000. */
void api_fail_submit(api_ctx_t *ctx, int rc);

struct im_result;
/* A message send's result (im_send_p2p / im_send_group, im/msg_send.h),
 * answered when it is a failure: the store's failure after the commit
 * (api_fail_store) or at submit (unqueued), the delivery backlog (503
 * 62080), the send rate (429 62081), the store's refusal (200 with its
 * code).  1 when it answered, 0 for a success, which the caller answers. */
int api_send_failed(api_ctx_t *ctx, const struct im_result *r,
                    void (*unqueued)(api_ctx_t *ctx, int rc));
/* Any content type (metrics text, static files). */
void api_reply_raw(api_ctx_t *ctx, int status, const char *ctype, const void *body, size_t len,
                   const char *extra_headers);

/* The operator rule: 0 if identifier may act for user_id (itself, or the
 * app admin), else replies 403/60006 and returns -1 (ctx is freed). */
int api_check_operator(api_ctx_t *ctx, const char *user_id);
/* Same for admin-only routes. */
int api_require_admin(api_ctx_t *ctx);

/* Run work(ctx) on the thread pool, then done(ctx) on the loop. */
void api_defer(api_ctx_t *ctx, api_fn work, api_fn done);
/* A done for api_defer: frees ctx->u, then replies 500 with the store
 * error when ctx->rc < 0, else 200 with ctx->out as data. */
void api_done_out(api_ctx_t *ctx);

/* Body helpers: the string field or NULL when absent; on a present field of
 * the wrong type or too long they reply 400/90001 and return -1 (ctx is
 * freed).  *out may be NULL when not required. */
int api_str(api_ctx_t *ctx, const char *key, size_t max_len, int required, const char **out);
int api_int(api_ctx_t *ctx, const char *key, long long min, long long max, int required,
            long long *out);
/* A message sequence (or key): a JSON integer or a string of decimal
 * digits (JavaScript clients send big numbers as text), in min..INT64_MAX;
 * anything else replies 400/90001 and returns -1 (ctx is freed).  *out is
 * left as it was when the field is absent and not required. */
int api_seq(api_ctx_t *ctx, const char *key, long long min, int required, long long *out);
/* A user id: 1..128 bytes, no control characters. */
int api_valid_user_id(const char *s);

/* Name of route slot i for metrics. */
const char *api_route_name(int i);

/* Route modules. */
/* api_users.c */
void h_import_user(api_ctx_t *ctx);
void h_delete_user(api_ctx_t *ctx);
void h_get_user_info(api_ctx_t *ctx);
void h_get_single_user_info(api_ctx_t *ctx);
void h_modify_user_info(api_ctx_t *ctx);
void h_get_user_sequence(api_ctx_t *ctx);
void h_query_user_page(api_ctx_t *ctx);
/* api_msg.c */
void h_message_send(api_ctx_t *ctx);
void h_sync_offline(api_ctx_t *ctx);
void h_p2p_history(api_ctx_t *ctx);
void h_p2p_range(api_ctx_t *ctx);
void h_conv_sync(api_ctx_t *ctx);
void h_conv_update(api_ctx_t *ctx);
void h_conv_delete(api_ctx_t *ctx);
/* api_friends.c */
void h_friend_import(api_ctx_t *ctx);
void h_friend_add(api_ctx_t *ctx);
void h_friend_update(api_ctx_t *ctx);
void h_friend_delete(api_ctx_t *ctx);
void h_friend_delete_all(api_ctx_t *ctx);
void h_friend_get_all(api_ctx_t *ctx);
void h_friend_relation(api_ctx_t *ctx);
void h_friend_check(api_ctx_t *ctx);
void h_black_add(api_ctx_t *ctx);
void h_black_delete(api_ctx_t *ctx);
void h_black_check(api_ctx_t *ctx);
void h_friend_sync(api_ctx_t *ctx);
void h_request_get(api_ctx_t *ctx);
void h_request_approve(api_ctx_t *ctx);
void h_request_read(api_ctx_t *ctx);
void h_request_sync(api_ctx_t *ctx);
void h_group_add(api_ctx_t *ctx);
void h_group_del(api_ctx_t *ctx);
void h_group_member_add(api_ctx_t *ctx);
void h_group_member_del(api_ctx_t *ctx);
void h_group_sync(api_ctx_t *ctx);
/* api_groups.c */
void h_group_create(api_ctx_t *ctx);
void h_group_import(api_ctx_t *ctx);
void h_group_info(api_ctx_t *ctx);
void h_group_joined(api_ctx_t *ctx);
void h_group_update(api_ctx_t *ctx);
void h_group_destroy(api_ctx_t *ctx);
void h_group_transfer(api_ctx_t *ctx);
void h_group_forbid(api_ctx_t *ctx);
void h_group_sync_joined(api_ctx_t *ctx);
void h_group_send(api_ctx_t *ctx);
void h_gmember_import(api_ctx_t *ctx);
void h_gmember_add(api_ctx_t *ctx);
void h_gmember_remove(api_ctx_t *ctx);
void h_gmember_exit(api_ctx_t *ctx);
void h_gmember_update(api_ctx_t *ctx);
void h_gmember_speak(api_ctx_t *ctx);
void h_group_apply(api_ctx_t *ctx);
void h_group_requests(api_ctx_t *ctx);
void h_group_request_decide(api_ctx_t *ctx);
void h_group_msg_sync(api_ctx_t *ctx);
void h_group_msg_history(api_ctx_t *ctx);
void h_group_msg_read_count(api_ctx_t *ctx);
/* api_presence.c */
void h_status_subscribe(api_ctx_t *ctx);
void h_status_set_custom(api_ctx_t *ctx);
void h_status_query_friends(api_ctx_t *ctx);
void h_status_query_users(api_ctx_t *ctx);
/* api_system.c */
void h_gateway_login(api_ctx_t *ctx);
void h_app_get(api_ctx_t *ctx);
void h_app_update(api_ctx_t *ctx);
void h_healthz(api_ctx_t *ctx);
void h_metrics(api_ctx_t *ctx);
void h_static(api_ctx_t *ctx);
/* appserver.c: the built-in demo app server.  appserver_start makes its
 * throttles and its password-hashing pool (main, before the workers);
 * appserver_stop answers the waiting password jobs (503), joins the pool
 * and waits for the registrations it handed to the store (main, while the
 * workers still exist: replies go through worker_post); appserver_free
 * frees it all (main, after workers_join). */
struct config;
int appserver_start(const struct config *cfg);
void appserver_stop(void);
void appserver_free(void);
void h_app_register(api_ctx_t *ctx);
void h_app_login(api_ctx_t *ctx);
void h_app_callback(api_ctx_t *ctx);

/* The caller of an im/ use case taking an im_call_t (im/call.h): the
 * request's app, operator and admin flag, and the services it needs. */
struct im_call;
struct im_call api_im_call(const api_ctx_t *ctx);

#endif
