/*
 * HTTP requests as seen by route handlers (api.c, static files, the demo
 * app server).  http.c parses; for each complete request it builds an
 * http_req_t and calls the handler set from above with http_set_handler()
 * (petreld: api_handle).  The handler answers exactly once with
 * http_reply*() — right away on the loop, or later from any thread (a store
 * callback, a thread-pool job): the reply is then posted to the owning
 * worker.  While a request is outstanding the connection reads nothing more,
 * so pipelined requests are answered in order and a client cannot queue
 * unbounded work.
 */
#ifndef PETREL_HTTP_H
#define PETREL_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/runtime.h"
#include "server/core/worker.h"
#include "server/net/net.h"

typedef struct http_req {
    struct server *srv;  /* the worker's owner (worker_t.srv): opaque to net */
    worker_t *w;
    uint64_t conn_id;
    int method;          /* enum http_method (http_parser.h) */
    char *path;          /* without the query string, not decoded */
    char *query;         /* after '?', "" if none */
    char *body;          /* NUL-terminated, may be NULL */
    size_t body_len;
    int keep_alive;
    char peer[64];       /* client IP address */
    char content_type[64];
    char origin[256];       /* Origin header ("" if none or too long) */
    char cors_method[32];   /* Access-Control-Request-Method */
    char cors_headers[256]; /* Access-Control-Request-Headers */
    int64_t start_us;
    int route;           /* metrics slot chosen by the router (-1 = none) */
} http_req_t;

/* Answer a request and free it.  body is copied.  extra_headers, if not
 * NULL, are complete "Name: value\r\n" lines. */
void http_reply(http_req_t *req, int status, const char *content_type, const void *body,
                size_t len, const char *extra_headers);
/* JSON answer; takes the reference to obj. */
void http_reply_json(http_req_t *req, int status, json_t *obj);

/* URL-decoded value of a query parameter; 0 if found, -1 if absent or too
 * long for cap. */
int http_query_get(const http_req_t *req, const char *key, char *out, size_t cap);

/* The handler of every request but the WebSocket upgrade on /ws (before
 * runtime_start; net_install first).  It answers each request exactly once
 * with http_reply*(); without one, requests get 404. */
void http_set_handler(runtime_t *rt, http_handler_fn fn);

#endif
