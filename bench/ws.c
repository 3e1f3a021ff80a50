/*
 * petrel-bench WebSocket transport (--transport ws): the same wire protocol
 * as TCP, carried in binary WebSocket messages on GET /ws of the HTTP port
 * (docs/PROTOCOL.md: one uplink packet per binary message, one downlink
 * frame per message).
 *
 * - Handshake: after the TCP connect, net.c calls bws_start(), which writes
 *   the upgrade request with a fresh Sec-WebSocket-Key; bws_input() collects
 *   the response headers in the connection's partial buffer (bounded),
 *   checks "101" and Sec-WebSocket-Accept (SHA-1 + base64 through OpenSSL's
 *   EVP), then creates a wslay client context and sends the LOGIN.
 * - Framing is wslay's event API, as in the server (src/server/ws.c) and the
 *   client library: wslay masks every client frame (the mask comes from
 *   genmask_callback: a xorshift generator -- masking is a protocol
 *   requirement, not a secret), reassembles fragments, answers pings and
 *   close frames.  Reads land in net.c's shared buffer and are handed to
 *   wslay through recv_callback (bws_input sets the pointer); wslay's output
 *   goes through bench_write_raw() like any TCP write.
 * - A complete binary message is decoded with the same code as a TCP byte
 *   stream (bench_feed); a text message or a message that is not exactly
 *   one frame counts as a failure and closes the connection.
 * - The wslay context is freed only from the handle's close callback
 *   (bws_free), never while wslay_event_recv is on the stack.
 */
#include "bench.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define WS_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_HEADER 4096

/* The bytes wslay may read now (one thread, one loop: one pending input). */
static const uint8_t *g_in;
static size_t g_in_len;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint64_t xorshift(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    (void)user;
    if (g_in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < g_in_len ? len : g_in_len;
    memcpy(buf, g_in, n);
    g_in += n;
    g_in_len -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)flags;
    bconn_t *c = user;
    if (c->state == BC_CLOSING || c->state == BC_IDLE || bench_write_raw(c, data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = xorshift();
        memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
    }
    return 0;
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    bconn_t *c = user;
    if (c->state == BC_CLOSING || c->state == BC_IDLE)
        return;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        long used = bench_feed(c, arg->msg, arg->msg_length);
        if (used >= 0 && (size_t)used != arg->msg_length) {   /* not exactly one frame */
            c->b->cnt.fail_other++;
            bench_close(c);
        }
    } else if (arg->opcode == WSLAY_TEXT_FRAME) {
        c->b->cnt.fail_other++;
        bench_close(c);
    }
    /* close: wslay answers it; the server then closes the socket (EOF) */
}

static const struct wslay_event_callbacks callbacks = {
    recv_cb, send_cb, genmask_cb, NULL, NULL, NULL, on_msg_cb,
};

static void b64(const uint8_t *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Sec-WebSocket-Key of connection c: 16 bytes, base64 (24 chars + NUL). */
static void ws_key(const bconn_t *c, char out[32])
{
    uint8_t raw[16];
    uint64_t a = xorshift() ^ c->idx, b2 = xorshift();
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b2, 8);
    b64(raw, sizeof raw, out);
}

int bws_start(bconn_t *c)
{
    char key[32], req[512];
    ws_key(c, key);
    memcpy(c->ws_key, key, sizeof c->ws_key);
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     bench_conn_host(c->b, c), key);
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    return bench_write_raw(c, (const uint8_t *)req, (size_t)n);
}

/* The response headers in hdr (NUL-terminated): 0 if they accept key. */
static int check_response(const char *hdr, const char *key)
{
    if (strncmp(hdr, "HTTP/1.1 101", 12) != 0)
        return -1;
    char src[64], expect[64];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int n = snprintf(src, sizeof src, "%s%s", key, WS_GUID);
    if (n < 0 || (size_t)n >= sizeof src ||
        !EVP_Digest(src, (size_t)n, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return -1;
    b64(md, mdlen, expect);
    const char *a = strcasestr(hdr, "\r\nSec-WebSocket-Accept:");
    if (!a)
        return -1;
    a += 23;
    a += strspn(a, " \t");
    size_t el = strlen(expect);
    return strncmp(a, expect, el) == 0 && (a[el] == '\r' || a[el] == ' ') ? 0 : -1;
}

static int ctx_new(bconn_t *c)
{
    wslay_event_context_ptr ctx;
    if (wslay_event_context_client_init(&ctx, &callbacks, c) != 0)
        return -1;
    wslay_event_config_set_max_recv_msg_length(ctx, BENCH_MAX_FRAME + 64);
    c->ws = ctx;
    return 0;
}

/* Hand data to wslay and write whatever it has to send.  0, or -1 if the
 * connection is closing. */
static int pump(bconn_t *c, const uint8_t *data, size_t len)
{
    wslay_event_context_ptr ctx = c->ws;
    g_in = data;
    g_in_len = len;
    int rc = wslay_event_recv(ctx);
    g_in_len = 0;
    if (c->state == BC_CLOSING || c->state == BC_IDLE)
        return -1;
    if (rc != 0 || wslay_event_send(ctx) != 0) {
        c->b->cnt.fail_other++;
        bench_close(c);
        return -1;
    }
    return 0;
}

int bws_input(bconn_t *c, const uint8_t *data, size_t len)
{
    if (c->ws)
        return pump(c, data, len);
    /* handshake: collect the response headers */
    if ((size_t)c->in_len + len > WS_MAX_HEADER) {
        c->b->cnt.fail_login++;
        bench_close(c);
        return -1;
    }
    if ((size_t)c->in_len + len + 1 > c->in_cap) {
        size_t cap = (size_t)c->in_len + len + 1;
        uint8_t *p = realloc(c->in, cap);
        if (!p) {
            bench_close(c);
            return -1;
        }
        c->in = p;
        c->in_cap = (uint32_t)cap;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += (uint32_t)len;
    c->in[c->in_len] = '\0';
    char *end = strstr((char *)c->in, "\r\n\r\n");
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - (char *)c->in) + 4;
    end[2] = '\0';   /* keep the last header's CRLF for the search */
    if (check_response((const char *)c->in, c->ws_key) < 0 || ctx_new(c) < 0) {
        c->b->cnt.fail_login++;
        c->b->cnt.last_error_code = -101;
        bench_close(c);
        return -1;
    }
    size_t rest = c->in_len - hlen;
    uint8_t *tail = NULL;
    if (rest) {
        tail = malloc(rest);
        if (!tail) {
            bench_close(c);
            return -1;
        }
        memcpy(tail, c->in + hlen, rest);
    }
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    int rc = bws_send(c, c->login, c->login_len);
    if (rc == 0 && rest)
        rc = pump(c, tail, rest);
    free(tail);
    return rc;
}

int bws_send(bconn_t *c, const uint8_t *data, size_t len)
{
    if (!c->ws)
        return -1;
    struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME, .msg = data, .msg_length = len};
    if (wslay_event_queue_msg(c->ws, &m) != 0 || wslay_event_send(c->ws) != 0)
        return -1;
    return 0;
}

void bws_free(bconn_t *c)
{
    if (c->ws) {
        wslay_event_context_free(c->ws);
        c->ws = NULL;
    }
}
