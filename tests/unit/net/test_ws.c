/*
 * WebSocket through the real upgrade and frame paths (src/server/net/http.c
 * and ws.c, wslay) on a real loop (net_fixture.h), with a stub socket
 * protocol that echoes each packet: the handshake (RFC 6455 sample key)
 * and refused upgrades, a masked frame, frames split byte by byte across
 * reads, two frames in one read, a fragmented message with a ping in the
 * middle, ping/pong, the close handshake, an oversized frame (1009), an
 * unmasked client frame (1002), a text frame (1003) and a message that is
 * not exactly one packet (the protocol's error, then 1008).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net_fixture.h"
#include "server/net/ws.h"

/* ---- the stub socket protocol ----------------------------------------- */

static int echo_packet(conn_t *c, const petrel_packet_t *p)
{
    conn_send_json(c, p->hdr.command, p->body, p->body_len);
    return 0;
}

static void proto_error(conn_t *c, int code, const char *msg, int32_t command)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    conn_send_error(c, code, msg, command);
    ws_close_with(c, 1008, msg);
    conn_close_after_flush(c);
}

static void proto_close(conn_t *c)
{
    c->flags &= (uint16_t)~CF_AUTHED;
}

static void proto_free(conn_t *c)
{
    (void)c;
}

static void proto_timeout(conn_t *c, enum conn_list l)
{
    (void)l;
    proto_error(c, PETREL_ERR_LOGIN_TIMEOUT, "timeout", 0);
}

static const conn_proto_t stub_proto = {
    .on_packet = echo_packet,
    .on_error = proto_error,
    .on_close = proto_close,
    .on_free = proto_free,
    .on_timeout = proto_timeout,
    .on_shutdown = conn_close_after_flush,
};

static void no_http(http_req_t *req)
{
    http_reply(req, 404, "text/plain", "no", 2, NULL);
}

/* ---- a WebSocket client ------------------------------------------------- */

typedef struct client {
    int fd;
    char buf[1 << 17];
    size_t len;
} client_t;

static client_t cl;

static int have_head(const char *buf, size_t len, void *arg)
{
    (void)arg;
    return memmem(buf, len, "\r\n\r\n", 4) != NULL;
}

/* Send an upgrade request; the answer's head into head (NUL-terminated),
 * what followed it stays in cl.buf. */
static void upgrade_req(const char *req, char *head, size_t cap)
{
    cl.fd = fx_connect();
    assert_true(cl.fd >= 0);
    cl.len = 0;
    fx_send(cl.fd, req, strlen(req));
    int eof;
    assert_int_equal(fx_read_until(cl.fd, cl.buf, sizeof cl.buf, &cl.len, have_head, NULL, &eof),
                     1);
    size_t hl = (size_t)((char *)memmem(cl.buf, cl.len, "\r\n\r\n", 4) - cl.buf) + 4;
    assert_true(hl < cap);
    memcpy(head, cl.buf, hl);
    head[hl] = '\0';
    memmove(cl.buf, cl.buf + hl, cl.len - hl);
    cl.len -= hl;
}

static void open_ws(void)
{
    char head[1024];
    upgrade_req("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                head, sizeof head);
    assert_non_null(strstr(head, "HTTP/1.1 101 Switching Protocols\r\n"));
}

/* A client frame: masked unless mask is 0.  Returns its length. */
static size_t frame(uint8_t *out, int fin, int opcode, const void *payload, size_t len, int mask)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t o = 0;
    out[o++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[o++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        out[o++] = m | 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    const uint8_t *p = payload;
    for (size_t i = 0; payload && i < len; i++)
        out[o + i] = mask ? p[i] ^ key[i % 4] : p[i];
    return o + len;
}

/* An uplink packet of command cmd with body. */
static size_t packet(uint8_t *out, size_t cap, int32_t cmd, const char *body)
{
    petrel_up_hdr_t h = {.command = cmd, .version = 1, .client_type = 1, .app_id = 10000,
                         .imei_len = 3, .body_len = (int32_t)strlen(body)};
    return petrel_encode_up(out, cap, &h, "dev", 3, body, strlen(body));
}

static int frame_complete(const char *buf, size_t len, void *arg)
{
    (void)arg;
    const uint8_t *b = (const uint8_t *)buf;
    if (len < 2)
        return 0;
    size_t l7 = b[1] & 0x7f, hl = 2, pl = l7;
    if (l7 == 126) {
        if (len < 4)
            return 0;
        pl = (size_t)b[2] << 8 | b[3];
        hl = 4;
    } else if (l7 == 127) {
        if (len < 10)
            return 0;
        pl = 0;
        for (int i = 0; i < 8; i++)
            pl = pl << 8 | b[2 + i];
        hl = 10;
    }
    return len >= hl + pl;
}

/* The next server frame: 1 and its opcode and payload, 0 at EOF / timeout. */
static int next_frame(int *opcode, uint8_t *payload, size_t *plen)
{
    int eof;
    if (fx_read_until(cl.fd, cl.buf, sizeof cl.buf, &cl.len, frame_complete, NULL, &eof) != 1)
        return 0;
    const uint8_t *b = (const uint8_t *)cl.buf;
    assert_int_equal(b[1] & 0x80, 0); /* server frames are not masked */
    assert_int_equal(b[0] & 0x80, 0x80); /* nor fragmented */
    size_t l7 = b[1] & 0x7f, hl = 2, pl = l7;
    if (l7 == 126) {
        pl = (size_t)b[2] << 8 | b[3];
        hl = 4;
    } else if (l7 == 127) {
        pl = 0;
        for (int i = 0; i < 8; i++)
            pl = pl << 8 | b[2 + i];
        hl = 10;
    }
    *opcode = b[0] & 0x0f;
    memcpy(payload, cl.buf + hl, pl);
    *plen = pl;
    memmove(cl.buf, cl.buf + hl + pl, cl.len - hl - pl);
    cl.len -= hl + pl;
    return 1;
}

static uint8_t pl[1 << 17];

/* The next frame is a binary one holding the downlink packet cmd/body. */
static void expect_packet(int32_t cmd, const char *body)
{
    int op;
    size_t n;
    assert_int_equal(next_frame(&op, pl, &n), 1);
    assert_int_equal(op, 2);
    int32_t got_cmd;
    const char *json;
    size_t jl, fl;
    assert_int_equal(petrel_decode_down(pl, n, 1 << 20, &got_cmd, &json, &jl, &fl), 0);
    assert_int_equal(fl, n);
    assert_int_equal(got_cmd, cmd);
    if (body) {
        assert_int_equal(jl, strlen(body));
        assert_memory_equal(json, body, jl);
    }
}

/* The next frame is a close frame with this status code; then EOF. */
static void expect_close(uint16_t code)
{
    int op;
    size_t n;
    assert_int_equal(next_frame(&op, pl, &n), 1);
    assert_int_equal(op, 8);
    assert_true(n >= 2);
    assert_int_equal(pl[0] << 8 | pl[1], code);
    assert_true(fx_wait_eof(cl.fd));
    close(cl.fd);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_handshake(void **st)
{
    (void)st;
    char head[1024];
    open_ws();
    close(cl.fd);
    /* the accept value of RFC 6455's sample key */
    upgrade_req("GET /ws?x=1 HTTP/1.1\r\nHost: t\r\nUpgrade: WebSocket\r\nConnection: keep-alive, "
                "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n",
                head, sizeof head);
    if (!strstr(head, "HTTP/1.1 101 ") ||
        !strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        fail_msg("%s", head);
    assert_non_null(strstr(head, "Upgrade: websocket\r\n"));
    close(cl.fd);
    /* refused: wrong version, no key, not GET, no Upgrade header */
    static const char *bad[] = {
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
        "POST /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Content-Length: 0\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        upgrade_req(bad[i], head, sizeof head);
        assert_non_null(strstr(head, "HTTP/1.1 400 "));
        assert_true(fx_wait_eof(cl.fd));
        close(cl.fd);
    }
}

static void test_masked_frames(void **st)
{
    (void)st;
    uint8_t p[512], f[1024];
    open_ws();
    size_t pn = packet(p, sizeof p, PETREL_CMD_MSG_P2P, "{\"a\":1}");
    size_t fn = frame(f, 1, 2, p, pn, 1);
    fx_send(cl.fd, f, fn);
    expect_packet(PETREL_CMD_MSG_P2P, "{\"a\":1}");
    /* split byte by byte across reads */
    fx_send_slowly(cl.fd, f, fn);
    expect_packet(PETREL_CMD_MSG_P2P, "{\"a\":1}");
    /* two frames in one read */
    size_t pn2 = packet(p, sizeof p, PETREL_CMD_PING, "{}");
    size_t fn2 = frame(f + fn, 1, 2, p, pn2, 1);
    fx_send(cl.fd, f, fn + fn2);
    expect_packet(PETREL_CMD_MSG_P2P, "{\"a\":1}");
    expect_packet(PETREL_CMD_PING, "{}");
    /* a larger one (16-bit length) */
    static char body[40000];
    memset(body, 'x', sizeof body - 1);
    body[0] = '"';
    body[sizeof body - 2] = '"';
    static uint8_t bp[41000], bf[42000];
    size_t bn = packet(bp, sizeof bp, PETREL_CMD_MSG_P2P, body);
    size_t bfn = frame(bf, 1, 2, bp, bn, 1);
    fx_send(cl.fd, bf, bfn);
    expect_packet(PETREL_CMD_MSG_P2P, body);
    close(cl.fd);
}

static void test_fragmented(void **st)
{
    (void)st;
    uint8_t p[512], f[2048];
    open_ws();
    size_t pn = packet(p, sizeof p, PETREL_CMD_MSG_P2P, "{\"frag\":true}");
    size_t a = pn / 3, b = 2 * pn / 3, o = 0;
    o += frame(f + o, 0, 2, p, a, 1);
    o += frame(f + o, 1, 9, "mid", 3, 1); /* a ping between the fragments */
    o += frame(f + o, 0, 0, p + a, b - a, 1);
    fx_send_slowly(cl.fd, f, o);
    o = frame(f, 1, 0, p + b, pn - b, 1);
    fx_send(cl.fd, f, o);
    int op;
    size_t n;
    assert_int_equal(next_frame(&op, pl, &n), 1);
    assert_int_equal(op, 10); /* pong first */
    assert_int_equal(n, 3);
    assert_memory_equal(pl, "mid", 3);
    expect_packet(PETREL_CMD_MSG_P2P, "{\"frag\":true}");
    close(cl.fd);
}

static void test_ping_and_close(void **st)
{
    (void)st;
    uint8_t f[256];
    open_ws();
    size_t fn = frame(f, 1, 9, "hello", 5, 1);
    fx_send(cl.fd, f, fn);
    int op;
    size_t n;
    assert_int_equal(next_frame(&op, pl, &n), 1);
    assert_int_equal(op, 10);
    assert_int_equal(n, 5);
    assert_memory_equal(pl, "hello", 5);
    /* close handshake: our 1000 is answered with a close, then the end */
    uint8_t code[2] = {0x03, 0xe8};
    fn = frame(f, 1, 8, code, 2, 1);
    fx_send(cl.fd, f, fn);
    expect_close(1000);
}

static void test_refused_frames(void **st)
{
    (void)st;
    uint8_t f[1024], p[512];
    /* oversized: refused at its first payload bytes, 1009 */
    open_ws();
    size_t fn = frame(f, 1, 2, NULL, 1 << 20, 1);
    memset(f + fn - (1 << 20), 0x55, 100);
    fx_send(cl.fd, f, fn - (1 << 20) + 100);
    expect_close(1009);
    /* an unmasked client frame: protocol error, 1002 */
    open_ws();
    size_t pn = packet(p, sizeof p, PETREL_CMD_PING, "{}");
    fn = frame(f, 1, 2, p, pn, 0);
    fx_send(cl.fd, f, fn);
    expect_close(1002);
    /* a text frame: 1003 */
    open_ws();
    fn = frame(f, 1, 1, "{}", 2, 1);
    fx_send(cl.fd, f, fn);
    expect_close(1003);
    /* a binary message that is not one whole packet: the protocol's error
     * (ERROR 61000), then 1008 */
    open_ws();
    fn = frame(f, 1, 2, p, pn - 1, 1);
    fx_send(cl.fd, f, fn);
    expect_packet(PETREL_CMD_ERROR, NULL);
    expect_close(1008);
}

static int group_setup(void **st)
{
    (void)st;
    return fx_start(no_http, &stub_proto);
}

static int group_teardown(void **st)
{
    (void)st;
    fx_stop();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_masked_frames),
        cmocka_unit_test(test_fragmented),
        cmocka_unit_test(test_ping_and_close),
        cmocka_unit_test(test_refused_frames),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
