/*
 * HTTP/1.1 on the HTTP port, parsed by http-parser: keep-alive and
 * pipelined requests, bounded header and body sizes (4xx, never a crash),
 * and the WebSocket upgrade on /ws.  A request is answered as soon as it is
 * complete; responses are queued in order on the connection's output.
 * Routes live in http_route() so REST handlers plug in there.
 */
#include "server/server.h"

#include "server/log.h"

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

enum hdr_id { H_NONE, H_UPGRADE, H_CONNECTION, H_WS_KEY, H_WS_VERSION, H_CONTENT_TYPE };

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
    int upgrade_ws, conn_upgrade;
    char ws_key[64];
    int ws_version;
    char *body;
    size_t body_len;
    int error_status;    /* set by a callback that refused the request */
    int upgraded;
} http_state_t;

static const char *status_text(int st)
{
    switch (st) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    default: return "Status";
    }
}

/* Queue a response.  keep_alive 0 closes after it is written. */
static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t blen,
                    int keep_alive)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n\r\n",
                     status, status_text(status), ctype, blen, keep_alive ? "keep-alive" : "close");
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
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *te = e;
        while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - p) == tl && strncasecmp(p, tok, tl) == 0)
            return 1;
        p = e;
    }
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
    default: break;
    }
    st->cur = H_NONE;
    st->value_len = 0;
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
                : H_NONE;
        st->field_len = 0;
    }
    if (st->cur != H_NONE) {
        size_t room = sizeof st->value - 1 - st->value_len;
        size_t n = len < room ? len : room;
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
    if (p->content_length != ULLONG_MAX && p->content_length > HTTP_MAX_BODY) {
        st->error_status = 413;
        return -1;
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

static void http_route(conn_t *c, http_state_t *st, int keep_alive)
{
    server_t *s = c->w->srv;
    atomic_fetch_add(&s->metrics.http_requests, 1);
    const char *path = st->url;
    size_t plen = strcspn(path, "?");
    if (plen == 3 && !strncmp(path, "/ws", 3)) {
        ws_handshake(c, st);
        return;
    }
    if (plen == 8 && !strncmp(path, "/healthz", 8)) {
        respond_json(c, 200, 200, "ok", json_pack("{s:s}", "status", "up"), keep_alive);
        return;
    }
    respond_json(c, 404, 404, "not found", NULL, keep_alive);
}

static int on_message_complete(http_parser *p)
{
    http_state_t *st = p->data;
    conn_t *c = st->c;
    http_route(c, st, http_should_keep_alive(p) && !(c->flags & CF_CLOSE_AFTER));
    conn_touch(c);
    /* stop after an upgrade or once the connection is closing */
    if (st->upgraded || (c->flags & (CF_CLOSED | CF_CLOSE_AFTER)))
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

void http_on_data(conn_t *c, const uint8_t *data, size_t len)
{
    http_state_t *st = c->proto;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) {
            conn_close(c);
            return;
        }
        http_parser_init(&st->parser, HTTP_REQUEST);
        st->parser.data = st;
        st->c = c;
        c->proto = st;
    }
    size_t n = http_parser_execute(&st->parser, &settings, (const char *)data, len);
    if (c->flags & CF_CLOSED)
        return;
    if (st->upgraded) {
        c->proto = NULL;
        free(st->body);
        free(st);
        if (ws_upgrade(c, data + n, len - n) < 0)
            conn_close(c);
        return;
    }
    if (c->flags & CF_CLOSE_AFTER)
        return;
    enum http_errno e = HTTP_PARSER_ERRNO(&st->parser);
    if (e != HPE_OK) {
        int status = st->error_status ? st->error_status : 400;
        respond_json(c, status, status, http_errno_description(e), NULL, 0);
    } else if (st->parser.upgrade) {
        /* an upgrade to anything but /ws was answered; nothing may follow */
        conn_close_after_flush(c);
    }
}

void http_state_free(conn_t *c)
{
    http_state_t *st = c->proto;
    if (!st)
        return;
    free(st->body);
    free(st);
    c->proto = NULL;
}
