/*
 * HTTP/1.1 on the HTTP port, parsed by http-parser: keep-alive and
 * pipelined requests, bounded header and body sizes (4xx, never a crash),
 * and the WebSocket upgrade on /ws.  A request is answered as soon as it is
 * complete; responses are queued in order on the connection's output.
 * Requests are handed to the handler set with http_set_handler() (see
 * http.h) one at a time.
 */
#include "server/net/http.h"
#include "server/net/cors.h"
#include "server/net/net_int.h"

#include "server/core/log.h"

#include <http_parser.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_MAX_URL 4096
#define HTTP_MAX_HEADER_BYTES 16384
#define HTTP_MAX_BODY (1u << 20)

enum hdr_id {
    H_NONE, H_UPGRADE, H_CONNECTION, H_WS_KEY, H_WS_VERSION, H_CONTENT_TYPE, H_EXPECT,
    H_ORIGIN, H_ACR_METHOD, H_ACR_HEADERS
};

typedef struct http_state {
    http_parser parser;
    conn_t *c;
    char url[HTTP_MAX_URL + 1];
    size_t url_len;
    size_t header_bytes;
    char field[64];
    size_t field_len;
    int field_overflow;
    enum hdr_id cur;
    char value[256];
    size_t value_len;
    int value_cut;       /* the value did not fit in value[] */
    int upgrade_ws, conn_upgrade;
    char ws_key[64];
    int ws_version;
    char *body;
    size_t body_len;
    int error_status;    /* set by a callback that refused the request */
    int upgraded;
    int pending;         /* a request is being answered */
    int read_stopped;    /* reading paused until it is */
    uint8_t *stash;      /* pipelined bytes read past the pending request */
    size_t stash_len;
    char ctype[64];      /* Content-Type of the current request */
    int expect;          /* Expect: 0 none, 1 100-continue, -1 anything else */
    char origin[256], acr_method[32], acr_headers[256]; /* CORS (cors.h) */
    int draining;        /* refused: reading and discarding until EOF or timeout */
    uv_shutdown_t shut;
    const char *buf, *buf_end; /* bytes of the current http_parser_execute */
} http_state_t;

static const char *status_text(int st)
{
    switch (st) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 417: return "Expectation Failed";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* Queue a response.  keep_alive 0 closes after it is written; KA_DRAIN
 * says "Connection: close" and leaves the closing to the caller. */
#define KA_DRAIN 2
static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t blen,
                    int keep_alive)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n\r\n",
                     status, status_text(status), ctype, blen, keep_alive == 1 ? "keep-alive" : "close");
    frame_t *f = frame_new((size_t)n + blen);
    if (!f) {
        conn_close(c);
        return;
    }
    memcpy(f->data, head, (size_t)n);
    if (blen)
        memcpy(f->data + n, body, blen);
    conn_queue_owned(c, f);
    if (!keep_alive)
        conn_close_after_flush(c);
}

static void respond_json(conn_t *c, int status, int code, const char *msg, json_t *data,
                         int keep_alive)
{
    json_t *o = json_pack("{s:i, s:s, s:o?}", "code", code, "msg", msg, "data", data);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        respond(c, status, "application/json", s, strlen(s), keep_alive);
    else
        conn_close(c);
    free(s);
    json_decref(o);
}

static int hdr_contains_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    size_t n;
    for (const char *p = v, *it; (it = list_next(&p, &n));)
        if (n == tl && strncasecmp(it, tok, tl) == 0)
            return 1;
    return 0;
}

/* ---- parser callbacks --------------------------------------------------- */

static int count_header(http_state_t *st, size_t len)
{
    st->header_bytes += len;
    if (st->header_bytes > HTTP_MAX_HEADER_BYTES) {
        st->error_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    http_state_t *st = p->data;
    st->url_len = 0;
    st->header_bytes = 0;
    st->field_len = 0;
    st->field_overflow = 0;
    st->cur = H_NONE;
    st->value_len = 0;
    st->upgrade_ws = st->conn_upgrade = 0;
    st->ws_key[0] = '\0';
    st->ws_version = 0;
    st->ctype[0] = '\0';
    st->expect = 0;
    st->origin[0] = st->acr_method[0] = st->acr_headers[0] = '\0';
    free(st->body);
    st->body = NULL;
    st->body_len = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    http_state_t *st = p->data;
    if (st->url_len + len > HTTP_MAX_URL) {
        st->error_status = 414;
        return -1;
    }
    /* http-parser (non-strict build) accepts any letters as "HTTP"; check
     * the version token that follows the target when it is in this read */
    if (at >= st->buf && at + len + 6 <= st->buf_end && memcmp(at + len, " HTTP/", 6) != 0) {
        st->error_status = 400;
        return -1;
    }
    memcpy(st->url + st->url_len, at, len);
    st->url_len += len;
    st->url[st->url_len] = '\0';
    return count_header(st, len);
}

static void finish_value(http_state_t *st)
{
    st->value[st->value_len] = '\0';
    switch (st->cur) {
    case H_UPGRADE: st->upgrade_ws = hdr_contains_token(st->value, "websocket"); break;
    case H_CONNECTION: st->conn_upgrade = hdr_contains_token(st->value, "upgrade"); break;
    case H_WS_KEY:
        /* a valid key is 24 base64 chars; longer is refused by the size check */
        if (st->value_len < sizeof st->ws_key)
            memcpy(st->ws_key, st->value, st->value_len + 1);
        break;
    case H_WS_VERSION: st->ws_version = atoi(st->value); break;
    case H_CONTENT_TYPE:
        snprintf(st->ctype, sizeof st->ctype, "%.*s", (int)(sizeof st->ctype - 1), st->value);
        break;
    case H_EXPECT: st->expect = !strcasecmp(st->value, "100-continue") ? 1 : -1; break;
    /* a cut Origin could equal a listed one: keep none */
    case H_ORIGIN:
        if (!st->value_cut && st->value_len < sizeof st->origin)
            memcpy(st->origin, st->value, st->value_len + 1);
        break;
    case H_ACR_METHOD:
        snprintf(st->acr_method, sizeof st->acr_method, "%.*s", (int)(sizeof st->acr_method - 1),
                 st->value);
        break;
    case H_ACR_HEADERS:
        /* a cut list is refused rather than partly checked */
        snprintf(st->acr_headers, sizeof st->acr_headers, "%s",
                 st->value_cut ? "(too long)" : st->value);
        break;
    default: break;
    }
    st->cur = H_NONE;
    st->value_len = 0;
    st->value_cut = 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    http_state_t *st = p->data;
    if (st->cur != H_NONE || st->value_len) {
        finish_value(st);
        st->field_len = 0;
        st->field_overflow = 0;
    }
    if (st->field_len + len >= sizeof st->field)
        st->field_overflow = 1;
    else {
        memcpy(st->field + st->field_len, at, len);
        st->field_len += len;
    }
    st->field[st->field_len] = '\0';
    return count_header(st, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    http_state_t *st = p->data;
    if (st->field_len) { /* first chunk of this value: classify the field */
        const char *f = st->field_overflow ? "" : st->field;
        st->cur = !strcasecmp(f, "upgrade") ? H_UPGRADE
                : !strcasecmp(f, "connection") ? H_CONNECTION
                : !strcasecmp(f, "sec-websocket-key") ? H_WS_KEY
                : !strcasecmp(f, "sec-websocket-version") ? H_WS_VERSION
                : !strcasecmp(f, "content-type") ? H_CONTENT_TYPE
                : !strcasecmp(f, "expect") ? H_EXPECT
                : !strcasecmp(f, "origin") ? H_ORIGIN
                : !strcasecmp(f, "access-control-request-method") ? H_ACR_METHOD
                : !strcasecmp(f, "access-control-request-headers") ? H_ACR_HEADERS
                : H_NONE;
        st->field_len = 0;
    }
    if (st->cur != H_NONE) {
        size_t room = sizeof st->value - 1 - st->value_len;
        size_t n = len < room ? len : room;
        if (n < len)
            st->value_cut = 1;
        memcpy(st->value + st->value_len, at, n);
        st->value_len += n;
    }
    return count_header(st, len);
}

static int on_headers_complete(http_parser *p)
{
    http_state_t *st = p->data;
    if (st->cur != H_NONE || st->value_len)
        finish_value(st);
    if (p->http_major != 1) { /* HTTP/0.9 lines, HTTP/2.0, HTTX/1.1... */
        st->error_status = 400;
        return -1;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > HTTP_MAX_BODY) {
        st->error_status = 413;
        return -1;
    }
    if (st->expect < 0) {
        st->error_status = 417;
        return -1;
    }
    /* Expect: 100-continue: the size is acceptable, so tell the client to
     * send the body (a too large one got its 413 above, at once) */
    if (st->expect > 0 && p->http_minor >= 1 &&
        ((p->content_length != ULLONG_MAX && p->content_length > 0) || (p->flags & F_CHUNKED))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_send_raw(st->c, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_state_t *st = p->data;
    if (st->body_len + len > HTTP_MAX_BODY) {
        st->error_status = 413;
        return -1;
    }
    char *nb = realloc(st->body, st->body_len + len + 1);
    if (!nb) {
        st->error_status = 500;
        return -1;
    }
    memcpy(nb + st->body_len, at, len);
    st->body = nb;
    st->body_len += len;
    st->body[st->body_len] = '\0';
    return 0;
}

/* ---- routing ------------------------------------------------------------ */

static void ws_handshake(conn_t *c, http_state_t *st)
{
    if (st->parser.method != HTTP_GET || !st->upgrade_ws || !st->conn_upgrade ||
        !st->ws_key[0] || st->ws_version != 13) {
        respond_json(c, 400, 400, "WebSocket upgrade required (GET, Upgrade: websocket, "
                                  "Sec-WebSocket-Version: 13)", NULL, 0);
        return;
    }
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[sizeof st->ws_key + sizeof guid];
    int n = snprintf(buf, sizeof buf, "%s%s", st->ws_key, guid);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, (size_t)n, sha);
    unsigned char accept[64];
    EVP_EncodeBlock(accept, sha, SHA_DIGEST_LENGTH);
    char resp[256];
    n = snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                 accept);
    conn_send_raw(c, resp, (size_t)n);
    st->upgraded = 1;
}

static void fill_peer(conn_t *c, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    out[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
        else
            uv_ip6_name((struct sockaddr_in6 *)&ss, out, cap);
    }
}

static void dispatch(conn_t *c, http_state_t *st, int keep_alive)
{
    size_t plen = strcspn(st->url, "?");
    if (plen == 3 && !strncmp(st->url, "/ws", 3) && c->w->rt->proto) {
        ws_handshake(c, st);
        return;
    }
    http_req_t *req = calloc(1, sizeof *req);
    if (!req) {
        conn_close(c);
        return;
    }
    req->srv = c->w->srv;
    req->w = c->w;
    req->conn_id = c->id;
    req->method = (int)st->parser.method;
    req->path = strndup(st->url, plen);
    req->query = strdup(st->url[plen] ? st->url + plen + 1 : "");
    req->body = st->body;
    req->body_len = st->body_len;
    st->body = NULL;
    st->body_len = 0;
    req->keep_alive = keep_alive;
    req->route = -1;
    memcpy(req->content_type, st->ctype, sizeof req->content_type);
    memcpy(req->origin, st->origin, sizeof req->origin);
    memcpy(req->cors_method, st->acr_method, sizeof req->cors_method);
    memcpy(req->cors_headers, st->acr_headers, sizeof req->cors_headers);
    req->start_us = (int64_t)uv_hrtime() / 1000;
    fill_peer(c, req->peer, sizeof req->peer);
    if (!req->path || !req->query) {
        free(req->path);
        free(req->query);
        free(req->body);
        free(req);
        conn_close(c);
        return;
    }
    st->pending = 1;
    http_handler_fn fn = net_of(c->w)->http_handler;
    if (fn)
        fn(req);
    else
        http_reply_json(req, 404, json_pack("{s:i, s:s}", "code", 404, "msg", "not found"));
}

void http_set_handler(runtime_t *rt, http_handler_fn fn)
{
    rt->net->http_handler = fn;
}

static int on_message_complete(http_parser *p)
{
    http_state_t *st = p->data;
    conn_t *c = st->c;
    dispatch(c, st, http_should_keep_alive(p) && !(c->flags & CF_CLOSE_AFTER));
    conn_touch(c);
    /* one request at a time: stop until it is answered, after an upgrade,
     * or once the connection is closing */
    if (st->pending || st->upgraded || (c->flags & (CF_CLOSED | CF_CLOSE_AFTER)))
        http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static http_state_t *state_of(conn_t *c)
{
    http_state_t *st = c->proto;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return NULL;
        http_parser_init(&st->parser, HTTP_REQUEST);
        st->parser.data = st;
        st->c = c;
        c->proto = st;
    }
    return st;
}

/* A refused request (413, 400...): its answer goes out, then the write
 * side is shut (FIN) while what the client still sends is read and
 * dropped, so that closing does not reset the connection and destroy the
 * answer before the client has read it (a client typically writes its
 * whole body before reading).  The connection waits on the closing list:
 * it ends at the client's EOF, or after shutdown_timeout_ms. */
static void on_drain_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the closing list ends the connection either way */
}

static void refuse_and_drain(conn_t *c, http_state_t *st, int status, const char *why)
{
    respond_json(c, status, status, why, NULL, KA_DRAIN);
    if (c->flags & CF_CLOSED)
        return;
    st->draining = 1;
    conn_set_list(c, LIST_CLOSING);
    conn_flush_all(c->w); /* hand the answer to the kernel, then shut down */
    if (c->flags & CF_CLOSED)
        return;
    if (uv_shutdown(&st->shut, (uv_stream_t *)&c->tcp, on_drain_shutdown) < 0)
        conn_close_after_flush(c);
}

void http_on_data(conn_t *c, const uint8_t *data, size_t len)
{
    http_state_t *st = state_of(c);
    if (!st) {
        conn_close(c);
        return;
    }
    if (st->draining)
        return;
    if (st->pending) { /* cannot happen while reading is stopped; be safe */
        conn_close(c);
        return;
    }
    st->buf = (const char *)data;
    st->buf_end = (const char *)data + len;
    size_t n = http_parser_execute(&st->parser, &settings, (const char *)data, len);
    st->buf = st->buf_end = NULL;
    if (c->flags & CF_CLOSED)
        return;
    if (st->upgraded) {
        c->proto = NULL;
        free(st->body);
        free(st->stash);
        free(st);
        if (ws_upgrade(c, data + n, len - n) < 0)
            conn_close(c);
        return;
    }
    if (c->flags & CF_CLOSE_AFTER)
        return;
    if (st->pending) {
        /* keep the pipelined rest for when the answer is out */
        if (n < len) {
            st->stash = malloc(len - n);
            if (!st->stash) {
                conn_close(c);
                return;
            }
            memcpy(st->stash, data + n, len - n);
            st->stash_len = len - n;
        }
        uv_read_stop((uv_stream_t *)&c->tcp);
        st->read_stopped = 1;
        return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&st->parser);
    if (e != HPE_OK) {
        int status = st->error_status ? st->error_status : 400;
        const char *why = status == 413 ? "request body too large (1 MiB at most)"
                        : status == 414 ? "URL too long (4 KiB at most)"
                        : status == 417 ? "unsupported Expect (only 100-continue)"
                        : status == 431 ? "request headers too large (16 KiB at most)"
                        : st->error_status ? "unsupported HTTP version"
                                           : http_errno_description(e);
        refuse_and_drain(c, st, status, why);
    } else if (st->parser.upgrade) {
        /* an upgrade to anything but /ws was answered; nothing may follow */
        conn_close_after_flush(c);
    }
}

/* ---- replies ------------------------------------------------------------ */

typedef struct reply {
    http_req_t *req;
    frame_t *f;
    int status;
} reply_t;

static void req_free(http_req_t *req)
{
    free(req->path);
    free(req->query);
    free(req->body);
    free(req);
}

static void reply_on_loop(worker_t *w, void *arg)
{
    reply_t *r = arg;
    http_req_t *req = r->req;
    conn_t *c = connmap_get(&w->conns, req->conn_id);
    metrics_http(&w->rt->metrics, req->route, r->status);
    if (c && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER)) && c->kind == CONN_HTTP) {
        http_state_t *st = c->proto;
        conn_queue_owned(c, r->f);
        r->f = NULL;
        if (!req->keep_alive || (c->flags & CF_EOF)) {
            conn_close_after_flush(c);
        } else if (st && st->pending && !(c->flags & CF_CLOSED)) {
            st->pending = 0;
            http_parser_pause(&st->parser, 0);
            conn_touch(c);
            if (st->read_stopped) {
                st->read_stopped = 0;
                conn_start_read(c);
            }
            if (st->stash && !(c->flags & CF_CLOSED)) {
                uint8_t *b = st->stash;
                size_t n = st->stash_len;
                st->stash = NULL;
                st->stash_len = 0;
                http_on_data(c, b, n);
                free(b);
            }
        }
    }
    if (r->f)
        frame_unref(r->f);
    req_free(req);
    free(r);
}

void http_reply(http_req_t *req, int status, const char *content_type, const void *body,
                size_t len, const char *extra_headers)
{
    char head[1536], cors[384];
    cors_response_headers(req, cors, sizeof cors);
    int n;
    if (status == 204) /* no body, so neither Content-Type nor Content-Length */
        n = snprintf(head, sizeof head, "HTTP/1.1 204 No Content\r\nConnection: %s\r\n%s\r\n",
                     req->keep_alive ? "keep-alive" : "close",
                     extra_headers ? extra_headers : "");
    else
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n%s%s\r\n",
                     status, status_text(status), content_type, len,
                     req->keep_alive ? "keep-alive" : "close", cors,
                     extra_headers ? extra_headers : "");
    /* HEAD: the headers GET would send (Content-Length included), no body */
    if (req->method == HTTP_HEAD || status == 204)
        len = 0;
    reply_t *r = malloc(sizeof *r);
    frame_t *f = (n > 0 && (size_t)n < sizeof head) ? frame_new((size_t)n + len) : NULL;
    if (!r || !f) {
        free(r);
        if (f)
            frame_unref(f);
        req->keep_alive = 0;
        static const char oom[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        f = frame_from(oom, sizeof oom - 1);
        r = malloc(sizeof *r);
        if (!r || !f) { /* nothing more we can do: the idle sweep closes it */
            free(r);
            if (f)
                frame_unref(f);
            req_free(req);
            return;
        }
        status = 500;
    } else {
        memcpy(f->data, head, (size_t)n);
        if (len)
            memcpy(f->data + n, body, len);
    }
    r->req = req;
    r->f = f;
    r->status = status;
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&self, &req->w->thread)) {
        reply_on_loop(req->w, r);
    } else if (runtime_post(req->w->rt, req->w->idx, reply_on_loop, r) < 0) {
        frame_unref(r->f);
        req_free(req);
        free(r);
    }
}

void http_reply_json(http_req_t *req, int status, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!s) {
        static const char oom[] = "{\"code\":90000,\"msg\":\"out of memory\"}";
        http_reply(req, 500, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    http_reply(req, status, "application/json", s, strlen(s), NULL);
    free(s);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int http_query_get(const http_req_t *req, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = req->query; *p;) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == kl && !strncmp(p, key, kl)) {
            size_t o = 0;
            for (const char *v = eq + 1; v < end; v++) {
                int ch = (unsigned char)*v;
                if (ch == '+') {
                    ch = ' ';
                } else if (ch == '%' && end - v > 2 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    ch = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                }
                if (o + 1 >= cap)
                    return -1;
                out[o++] = (char)ch;
            }
            out[o] = '\0';
            return 0;
        }
        p = amp ? amp + 1 : end;
    }
    return -1;
}

int http_request_pending(conn_t *c)
{
    http_state_t *st = c->kind == CONN_HTTP ? c->proto : NULL;
    return st && st->pending;
}

static void http_state_free(conn_t *c)
{
    http_state_t *st = c->proto;
    if (st) {
        free(st->stash);
        free(st->body);
        free(st);
        c->proto = NULL;
    }
    net_conn_free(c);
}

const conn_ops_t net_http_ops = {
    .on_data = http_on_data,
    .send_frame = NULL,
    .start_read = conn_start_read,
    .linger = net_linger,
    .free_state = http_state_free,
    .socket = 0,
};
