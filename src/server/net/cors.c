/*
 * CORS allow-list and preflight answers (see cors.h).
 */
#include "server/net/cors.h"

#include "server/core/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Request headers a preflight may ask for: the JSON body's Content-Type
 * and the CORS-safelisted ones. */
static const char *const allowed_headers[] = {"content-type", "accept", "accept-language",
                                              "content-language"};
#define ALLOWED_HEADERS "Content-Type, Accept, Accept-Language, Content-Language"
#define PREFLIGHT_MAX_AGE "600"

int cors_origin_allowed(const char *list, const char *origin)
{
    size_t ol = origin ? strlen(origin) : 0;
    if (!list || !*list || ol == 0 || !strcasecmp(origin, "null"))
        return 0;
    size_t n;
    for (const char *p = list, *it; (it = list_next(&p, &n));) {
        while (n > 0 && (it[n - 1] == '/' || it[n - 1] == ' ' || it[n - 1] == '\t'))
            n--; /* "https://a.example/" names the origin https://a.example */
        if (n == ol && strncasecmp(it, origin, ol) == 0)
            return 1;
    }
    return 0;
}

static const char *cfg_list(const http_req_t *req)
{
    return req->w->rt->cfg.cors_origins;
}

size_t cors_response_headers(const http_req_t *req, char *out, size_t cap)
{
    int n = 0;
    if (cap)
        out[0] = '\0';
    if (!cfg_list(req)[0])
        return 0;
    if (cors_origin_allowed(cfg_list(req), req->origin))
        n = snprintf(out, cap, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", req->origin);
    else
        n = snprintf(out, cap, "Vary: Origin\r\n");
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

static int header_allowed(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof allowed_headers / sizeof allowed_headers[0]; i++)
        if (strlen(allowed_headers[i]) == len && !strncasecmp(allowed_headers[i], name, len))
            return 1;
    return 0;
}

/* Every name in the comma-separated Access-Control-Request-Headers is one
 * the API accepts; *bad gets the first that is not. */
static int headers_allowed(const char *list, const char **bad, size_t *bad_len)
{
    size_t n;
    for (const char *p = list, *it; (it = list_next(&p, &n));) {
        if (n > 0 && !header_allowed(it, n)) {
            *bad = it;
            *bad_len = n;
            return 0;
        }
    }
    return 1;
}

static int method_listed(const char *methods, const char *m)
{
    size_t ml = strlen(m);
    size_t n;
    for (const char *p = methods, *it; (it = list_next(&p, &n));)
        if (n == ml && !strncmp(it, m, ml))
            return 1;
    return 0;
}

/* Errors carry the ordinary CORS headers (http_reply adds them). */
static void refuse(http_req_t *req, int status, int code, const char *msg, const char *extra)
{
    json_t *o = json_pack("{s:i, s:s, s:n}", "code", code, "msg", msg, "data");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s)
        http_reply(req, status, "application/json", s, strlen(s), extra);
    else
        http_reply(req, 500, "text/plain", "", 0, extra);
    free(s);
}

void cors_preflight(http_req_t *req, const char *methods)
{
    char allow[128];
    snprintf(allow, sizeof allow, "Allow: %s, OPTIONS\r\n", methods);
    if (!cfg_list(req)[0]) {
        refuse(req, 405, PETREL_ERR_METHOD, "method not allowed", allow);
        return;
    }
    if (!cors_origin_allowed(cfg_list(req), req->origin)) {
        static log_rl_t rl; /* any client can send these at any rate */
        unsigned long skipped;
        if (log_ratelimit(&rl, 10000, &skipped))
            LOGI("CORS preflight refused", "origin=%s path=%s suppressed=%lu", LQ(req->origin),
                 LQ(req->path), skipped);
        refuse(req, 403, PETREL_ERR_CORS_ORIGIN, "origin not allowed (cors_origins)", NULL);
        return;
    }
    char hdrs[512];
    int n = snprintf(hdrs, sizeof hdrs,
                     "Access-Control-Allow-Origin: %s\r\n"
                     "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n",
                     req->origin);
    if (!req->cors_method[0]) { /* a plain OPTIONS from an allowed origin */
        snprintf(hdrs + n, sizeof hdrs - (size_t)n, "%s", allow);
        http_reply(req, 204, "text/plain", "", 0, hdrs);
        return;
    }
    const char *bad = NULL;
    size_t bad_len = 0;
    if (!method_listed(methods, req->cors_method)) {
        char msg[96];
        snprintf(msg, sizeof msg, "method not allowed on this path (%s)", methods);
        refuse(req, 403, PETREL_ERR_CORS_REQUEST, msg, NULL);
        return;
    }
    if (!headers_allowed(req->cors_headers, &bad, &bad_len)) {
        char msg[160];
        snprintf(msg, sizeof msg, "request header not allowed: %.*s (allowed: %s)",
                 (int)(bad_len < 40 ? bad_len : 40), bad, ALLOWED_HEADERS);
        refuse(req, 403, PETREL_ERR_CORS_REQUEST, msg, NULL);
        return;
    }
    snprintf(hdrs + n, sizeof hdrs - (size_t)n,
             "Access-Control-Allow-Methods: %s\r\n"
             "Access-Control-Allow-Headers: " ALLOWED_HEADERS "\r\n"
             "Access-Control-Max-Age: " PREFLIGHT_MAX_AGE "\r\n",
             methods);
    http_reply(req, 204, "text/plain", "", 0, hdrs);
}
