/*
 * Fuzz target: the WebSocket frame path (src/server/net/ws.c over wslay, then
 * the gateway).
 *
 * Each input is one connection to the HTTP port of the in-process
 * petreld (harness.h): the harness sends a valid upgrade request for /ws,
 * then -- when bit 0 of the input's first byte is set -- a masked binary
 * frame holding a valid LOGIN of fz1, then the rest of the input as the
 * client's raw WebSocket bytes (frames, fragments, control frames, masks,
 * lengths, the packets inside).  The server reads them exactly as from a
 * browser.  Only after the harness's LOGIN can answers come later than the
 * read that caused them (acks from the store), so only then does the
 * harness wait for them before half-closing (fz_session's settle).
 *
 * Oracles beyond sanitizers: the upgrade is answered with 101; what follows
 * is a sequence of unmasked server frames (RFC 6455), each binary message
 * holding exactly one downlink packet whose JSON is an object, each close
 * frame's payload 0 or 2..125 bytes.
 */
#include "fuzz/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char upgrade[] = "GET /ws HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";

static void fail(const char *why, const uint8_t *out, size_t n)
{
    fprintf(stderr, "fuzz_ws oracle: %s: %.*s\n", why, (int)(n < 200 ? n : 200),
            (const char *)out);
    abort();
}

/* Server frames after the 101 answer. */
static void check_frames(const uint8_t *p, size_t n, int cut)
{
    size_t off = 0;
    while (off < n) {
        if (n - off < 2) {
            if (!cut)
                fail("truncated frame header", p + off, n - off);
            return;
        }
        uint8_t b0 = p[off], b1 = p[off + 1];
        if (b1 & 0x80)
            fail("server frame is masked", p + off, n - off);
        size_t hl = 2;
        uint64_t len = b1 & 0x7f;
        if (len >= 126) {
            size_t ext = len == 126 ? 2 : 8;
            if (n - off < 2 + ext) {
                if (!cut)
                    fail("truncated extended length", p + off, n - off);
                return;
            }
            len = 0;
            for (size_t i = 0; i < ext; i++)
                len = len << 8 | p[off + 2 + i];
            hl += ext;
        }
        if (len > n - off - hl) {
            if (!cut)
                fail("truncated frame", p + off, n - off);
            return;
        }
        const uint8_t *pl = p + off + hl;
        int opcode = b0 & 0x0f;
        if (!(b0 & 0x80))
            fail("server sent a fragmented frame", p + off, n - off);
        if (opcode == 0x2) {
            if (len < PETREL_DOWN_HDR_LEN ||
                PETREL_DOWN_HDR_LEN + (uint64_t)petrel_be32(pl + 4) != len)
                fail("binary message is not exactly one downlink packet", pl, (size_t)len);
            fz_check_downlink(pl, (size_t)len, (size_t)len);
        } else if (opcode == 0x8) {
            if (len == 1 || len > 125)
                fail("bad close payload", pl, (size_t)len);
        } else if (opcode != 0x9 && opcode != 0xa) {
            fail("unexpected opcode", p + off, n - off);
        }
        off += hl + (size_t)len;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = fz_out();
    if (size < 1 || size > (1u << 20))
        return 0;
    uint8_t flags = data[0];
    data++, size--;
    uint8_t login[2048], wlogin[2100];
    size_t wl = 0;
    if (flags & 1) {
        size_t ll = fz_login_frame("fz1", login, sizeof login);
        wl = fz_ws_frame(1, 0x2, login, ll, wlogin, sizeof wlogin);
    }
    size_t n = sizeof upgrade - 1 + wl + size;
    uint8_t *buf = malloc(n);
    if (!buf)
        return 0;
    memcpy(buf, upgrade, sizeof upgrade - 1);
    memcpy(buf + sizeof upgrade - 1, wlogin, wl);
    if (size) /* memcpy from NULL is undefined, even for 0 bytes */
        memcpy(buf + sizeof upgrade - 1 + wl, data, size);
    size_t got = fz_session(FZ_HTTP, buf, n, 0, flags & 1, out, FZ_OUT_MAX);
    free(buf);
    fz_quiesce();
    static const char ok[] = "HTTP/1.1 101 ";
    if (got < sizeof ok - 1 || memcmp(out, ok, sizeof ok - 1) != 0)
        fail("the upgrade was not answered with 101", out, got < FZ_OUT_MAX ? got : FZ_OUT_MAX);
    const uint8_t *end = memmem(out, got < FZ_OUT_MAX ? got : FZ_OUT_MAX, "\r\n\r\n", 4);
    if (!end)
        fail("no end of the 101 headers", out, got);
    end += 4;
    size_t have = got < FZ_OUT_MAX ? got : FZ_OUT_MAX;
    check_frames(end, have - (size_t)(end - out), got > FZ_OUT_MAX);
    return 0;
}
