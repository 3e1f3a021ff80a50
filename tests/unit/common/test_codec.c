/*
 * Unit tests for the wire codec (src/common/codec.c, include/petrel/proto.h).
 * Frames are assembled byte by byte here (put_hdr) instead of with
 * petrel_encode_up wherever the header itself is under test, so a hostile
 * header that the encoder could never produce is still covered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "petrel/proto.h"

static const petrel_limits_t LIM = {PETREL_DEFAULT_MAX_IMEI, PETREL_DEFAULT_MAX_BODY};

/* Raw 28-byte header from seven values (any int32, including negatives). */
static void put_hdr(uint8_t *p, int32_t cmd, int32_t ver, int32_t ct, int32_t mt,
                    int32_t app, int32_t imei_len, int32_t body_len)
{
    int32_t v[7] = {cmd, ver, ct, mt, app, imei_len, body_len};
    for (int i = 0; i < 7; i++)
        petrel_put_be32(p + 4 * i, (uint32_t)v[i]);
}

/* Full frame: header + imei + body, returns its length. */
static size_t frame(uint8_t *buf, size_t cap, int32_t cmd, const char *imei, size_t ilen,
                    const char *body, size_t blen)
{
    size_t n = PETREL_UP_HDR_LEN + ilen + blen;
    assert_true(n <= cap);
    put_hdr(buf, cmd, 1, 3, 0, 1400000001, (int32_t)ilen, (int32_t)blen);
    memcpy(buf + PETREL_UP_HDR_LEN, imei, ilen);
    memcpy(buf + PETREL_UP_HDR_LEN + ilen, body, blen);
    return n;
}

/* Decode a header-only buffer (no payload present) and return the result. */
static int dec_hdr(int32_t cmd, int32_t mt, int32_t app, int32_t ilen, int32_t blen)
{
    uint8_t b[PETREL_UP_HDR_LEN];
    put_hdr(b, cmd, 1, 1, mt, app, ilen, blen);
    petrel_packet_t p;
    return petrel_decode_up(b, sizeof b, &LIM, &p);
}

static void test_bad_headers(void **state)
{
    (void)state;
    assert_int_equal(dec_hdr(9000, 0, 1, -1, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(9000, 0, 1, INT32_MIN, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(9000, 0, 1, 4, -1), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(9000, 0, 1, 4, INT32_MIN), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(0, 0, 1, 4, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(-9000, 0, 1, 4, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(INT32_MIN, 0, 1, 4, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(9000, 0, -1, 4, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(9000, 0, INT32_MIN, 4, 2), PETREL_DEC_BAD_HEADER);
    assert_int_equal(dec_hdr(9000, 0, 1, PETREL_DEFAULT_MAX_IMEI + 1, 2), PETREL_DEC_IMEI_LONG);
    assert_int_equal(dec_hdr(9000, 0, 1, INT32_MAX, 2), PETREL_DEC_IMEI_LONG);
    assert_int_equal(dec_hdr(9000, 0, 1, 4, PETREL_DEFAULT_MAX_BODY + 1), PETREL_DEC_BODY_LARGE);
    /* A hostile length is refused from the header alone, not buffered. */
    assert_int_equal(dec_hdr(9000, 0, 1, 4, INT32_MAX), PETREL_DEC_BODY_LARGE);
    assert_int_equal(dec_hdr(9000, 1, 1, 4, 2), PETREL_DEC_MSG_TYPE);
    assert_int_equal(dec_hdr(9000, -1, 1, 4, 2), PETREL_DEC_MSG_TYPE);
    assert_int_equal(dec_hdr(9000, 2, 1, 4, 2), PETREL_DEC_MSG_TYPE);
    /* At the limits the header is fine: the payload is simply missing. */
    assert_int_equal(dec_hdr(9000, 0, 0, PETREL_DEFAULT_MAX_IMEI, PETREL_DEFAULT_MAX_BODY),
                     PETREL_DEC_NEED_MORE);
    assert_int_equal(dec_hdr(1, 0, INT32_MAX, 0, 1), PETREL_DEC_NEED_MORE);

    /* Limits come from the caller. */
    petrel_limits_t tight = {4, 8};
    uint8_t b[PETREL_UP_HDR_LEN];
    petrel_packet_t p;
    put_hdr(b, 9000, 1, 1, 0, 1, 5, 0);
    assert_int_equal(petrel_decode_up(b, sizeof b, &tight, &p), PETREL_DEC_IMEI_LONG);
    put_hdr(b, 9000, 1, 1, 0, 1, 4, 9);
    assert_int_equal(petrel_decode_up(b, sizeof b, &tight, &p), PETREL_DEC_BODY_LARGE);
    put_hdr(b, 9000, 1, 1, 0, 1, 4, 8);
    assert_int_equal(petrel_decode_up(b, sizeof b, &tight, &p), PETREL_DEC_NEED_MORE);
}

static void test_header_checked_with_partial_payload(void **state)
{
    (void)state;
    /* 28 header bytes plus a few payload bytes: still an error. */
    uint8_t b[40];
    memset(b, 'x', sizeof b);
    put_hdr(b, 9000, 1, 1, 0, 1, 4, INT32_MAX);
    petrel_packet_t p;
    for (size_t len = PETREL_UP_HDR_LEN; len <= sizeof b; len++)
        assert_int_equal(petrel_decode_up(b, len, &LIM, &p), PETREL_DEC_BODY_LARGE);
    /* Below 28 bytes nothing can be judged yet. */
    for (size_t len = 0; len < PETREL_UP_HDR_LEN; len++)
        assert_int_equal(petrel_decode_up(b, len, &LIM, &p), PETREL_DEC_NEED_MORE);
}

static void test_need_more_every_prefix(void **state)
{
    (void)state;
    uint8_t buf[256];
    const char *body = "{\"fromId\":\"a\",\"toId\":\"b\",\"msg\":\"h\xc3\xa9\"}";
    size_t n = frame(buf, sizeof buf, 1103, "imei-1", 6, body, strlen(body));
    /* Feed it as a byte-by-byte stream: every prefix needs more. */
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    for (size_t len = 0; len < n; len++) {
        memcpy(copy, buf, len);
        petrel_packet_t p;
        assert_int_equal(petrel_decode_up(copy, len, &LIM, &p), PETREL_DEC_NEED_MORE);
    }
    memcpy(copy, buf, n);
    petrel_packet_t p;
    assert_int_equal(petrel_decode_up(copy, n, &LIM, &p), PETREL_DEC_OK);
    assert_int_equal(p.frame_len, n);
    assert_int_equal(p.hdr.command, 1103);
    assert_int_equal(p.hdr.version, 1);
    assert_int_equal(p.hdr.client_type, 3);
    assert_int_equal(p.hdr.message_type, 0);
    assert_int_equal(p.hdr.app_id, 1400000001);
    assert_int_equal(p.imei_len, 6);
    assert_memory_equal(p.imei, "imei-1", 6);
    assert_int_equal(p.body_len, strlen(body));
    assert_memory_equal(p.body, body, strlen(body));
    /* Pointers alias the input. */
    assert_ptr_equal(p.imei, (const char *)copy + PETREL_UP_HDR_LEN);
    assert_ptr_equal(p.body, (const char *)copy + PETREL_UP_HDR_LEN + 6);
    free(copy);
}

static void test_coalesced_frames(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t off = 0;
    off += frame(buf + off, sizeof buf - off, 9000, "dev", 3, "{\"a\":1}", 7);
    off += frame(buf + off, sizeof buf - off, 9999, "", 0, "", 0);
    off += frame(buf + off, sizeof buf - off, 1103, "dev", 3, "{\"b\":\"xyz\"}\0\0", 13);
    size_t total = off;
    /* Plus the first 10 bytes of a fourth frame. */
    size_t fourth = frame(buf + off, sizeof buf - off, 9000, "z", 1, "{}", 2);
    (void)fourth;
    total += 10;

    static const struct { int32_t cmd; const char *imei; const char *body; } want[] = {
        {9000, "dev", "{\"a\":1}"}, {9999, "", ""}, {1103, "dev", "{\"b\":\"xyz\"}"},
    };
    size_t pos = 0;
    for (size_t i = 0; i < 3; i++) {
        petrel_packet_t p;
        assert_int_equal(petrel_decode_up(buf + pos, total - pos, &LIM, &p), PETREL_DEC_OK);
        assert_int_equal(p.hdr.command, want[i].cmd);
        assert_int_equal(p.imei_len, strlen(want[i].imei));
        assert_memory_equal(p.imei, want[i].imei, p.imei_len);
        assert_int_equal(p.body_len, strlen(want[i].body));
        assert_memory_equal(p.body, want[i].body, p.body_len);
        pos += p.frame_len;
    }
    petrel_packet_t p;
    assert_int_equal(pos, total - 10);
    assert_int_equal(petrel_decode_up(buf + pos, total - pos, &LIM, &p), PETREL_DEC_NEED_MORE);
    assert_int_equal(petrel_decode_up(buf + pos, fourth, &LIM, &p), PETREL_DEC_OK);
    assert_int_equal(p.frame_len, fourth);
}

static void test_nul_padding(void **state)
{
    (void)state;
    uint8_t buf[128];
    petrel_packet_t p;
    /* Trailing NULs in body and imei are trimmed; frame_len is the wire size. */
    size_t n = frame(buf, sizeof buf, 9000, "ab\0\0", 4, "{}\0\0\0\0", 6);
    assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_OK);
    assert_int_equal(p.body_len, 2);
    assert_memory_equal(p.body, "{}", 2);
    assert_int_equal(p.imei_len, 2);
    assert_int_equal(p.frame_len, n);
    /* A body of NULs only becomes empty. */
    n = frame(buf, sizeof buf, 9000, "ab", 2, "\0\0\0", 3);
    assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_OK);
    assert_int_equal(p.body_len, 0);
    /* Embedded NULs are not padding. */
    n = frame(buf, sizeof buf, 9000, "ab", 2, "{}\0x", 4);
    assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_BAD_UTF8);
    n = frame(buf, sizeof buf, 9000, "ab", 2, "\0{}", 3);
    assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_BAD_UTF8);
    n = frame(buf, sizeof buf, 9000, "a\0b", 3, "{}", 2);
    assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_BAD_UTF8);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    static const struct { const char *s; size_t n; } bad[] = {
        {"\xc0\x80", 2},             /* overlong NUL */
        {"\xc1\xbf", 2},             /* overlong 2-byte */
        {"\xe0\x80\xaf", 3},         /* overlong '/' */
        {"\xe0\x9f\xbf", 3},         /* overlong 3-byte */
        {"\xf0\x8f\xbf\xbf", 4},     /* overlong 4-byte */
        {"\xed\xa0\x80", 3},         /* high surrogate U+D800 */
        {"\xed\xbf\xbf", 3},         /* low surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4},
        {"\xff", 1}, {"\xfe", 1}, {"x\xffy", 3},
        {"\x80", 1},                 /* lone continuation */
        {"\xc3", 1},                 /* truncated at end */
        {"\xe2\x82", 2},
        {"\xf0\x9f\x98", 3},
        {"\xe2\x82x", 3},            /* truncated mid-string */
        {"\xc3\xc3\xa9", 3},
        {"\xe2\x82\0", 3},           /* truncated, then NUL padding */
    };
    uint8_t buf[128];
    petrel_packet_t p;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(petrel_utf8_valid(bad[i].s, bad[i].n), 0);
        size_t n = frame(buf, sizeof buf, 9000, "imei", 4, bad[i].s, bad[i].n);
        assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_BAD_UTF8);
        n = frame(buf, sizeof buf, 9000, bad[i].s, bad[i].n, "{}", 2);
        assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_BAD_UTF8);
    }
    static const struct { const char *s; size_t n; } good[] = {
        {"", 0}, {"ascii", 5}, {"\xc2\x80", 2}, {"\xdf\xbf", 2}, {"\xe0\xa0\x80", 3},
        {"\xed\x9f\xbf", 3}, {"\xee\x80\x80", 3}, {"\xef\xbf\xbf", 3},
        {"\xf0\x90\x80\x80", 4}, {"\xf4\x8f\xbf\xbf", 4}, {"\xe7\x94\xa8\xf0\x9f\x98\x80", 7},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(petrel_utf8_valid(good[i].s, good[i].n), 1);
        size_t n = frame(buf, sizeof buf, 9000, good[i].s, good[i].n, good[i].s, good[i].n);
        assert_int_equal(petrel_decode_up(buf, n, &LIM, &p), PETREL_DEC_OK);
        assert_int_equal(p.body_len, good[i].n);
    }
}

static void test_error_codes(void **state)
{
    (void)state;
    assert_int_equal(petrel_dec_error_code(PETREL_DEC_BAD_HEADER), PETREL_ERR_BAD_HEADER);
    assert_int_equal(petrel_dec_error_code(PETREL_DEC_IMEI_LONG), PETREL_ERR_IMEI_TOO_LONG);
    assert_int_equal(petrel_dec_error_code(PETREL_DEC_BODY_LARGE), PETREL_ERR_BODY_TOO_LARGE);
    assert_int_equal(petrel_dec_error_code(PETREL_DEC_MSG_TYPE), PETREL_ERR_MESSAGE_TYPE);
    assert_int_equal(petrel_dec_error_code(PETREL_DEC_BAD_UTF8), PETREL_ERR_BAD_UTF8);
    assert_int_equal(PETREL_ERR_BAD_HEADER, 61000);
    assert_int_equal(PETREL_ERR_IMEI_TOO_LONG, 61001);
    assert_int_equal(PETREL_ERR_BODY_TOO_LARGE, 61002);
    assert_int_equal(PETREL_ERR_MESSAGE_TYPE, 61003);
    assert_int_equal(PETREL_ERR_BAD_UTF8, 61004);
    /* Anything unexpected is reported as a bad header. */
    assert_int_equal(petrel_dec_error_code(-99), PETREL_ERR_BAD_HEADER);
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    petrel_up_hdr_t h = {1103, 2, 5, 0, 1400000001, 0, 0};
    const char *imei = "imei-\xe7\x94\xa8";
    const char *body = "{\"msg\":\"hi\"}";
    size_t need = petrel_encode_up(NULL, 0, &h, imei, strlen(imei), body, strlen(body));
    assert_int_equal(need, PETREL_UP_HDR_LEN + strlen(imei) + strlen(body));
    uint8_t buf[128];
    memset(buf, 0xEE, sizeof buf);
    /* Too small: reports the size, writes nothing. */
    assert_int_equal(petrel_encode_up(buf, need - 1, &h, imei, strlen(imei), body, strlen(body)),
                     need);
    assert_int_equal(buf[0], 0xEE);
    assert_int_equal(petrel_encode_up(buf, sizeof buf, &h, imei, strlen(imei), body, strlen(body)),
                     need);
    /* Big-endian on the wire. */
    assert_int_equal(petrel_be32(buf), 1103);
    assert_int_equal(buf[2], 0x04);
    assert_int_equal(buf[3], 0x4F);
    assert_int_equal(petrel_be32(buf + 20), strlen(imei));
    assert_int_equal(petrel_be32(buf + 24), strlen(body));

    petrel_packet_t p;
    assert_int_equal(petrel_decode_up(buf, need, &LIM, &p), PETREL_DEC_OK);
    assert_int_equal(p.hdr.command, 1103);
    assert_int_equal(p.hdr.version, 2);
    assert_int_equal(p.hdr.client_type, 5);
    assert_int_equal(p.hdr.app_id, 1400000001);
    assert_int_equal(p.hdr.imei_len, (int32_t)strlen(imei));
    assert_int_equal(p.hdr.body_len, (int32_t)strlen(body));
    assert_int_equal(p.imei_len, strlen(imei));
    assert_memory_equal(p.imei, imei, p.imei_len);
    assert_int_equal(p.body_len, strlen(body));
    assert_memory_equal(p.body, body, p.body_len);
    assert_int_equal(p.frame_len, need);

    /* Empty imei and body. */
    assert_int_equal(petrel_encode_up(buf, sizeof buf, &h, NULL, 0, NULL, 0), PETREL_UP_HDR_LEN);
    assert_int_equal(petrel_decode_up(buf, PETREL_UP_HDR_LEN, &LIM, &p), PETREL_DEC_OK);
    assert_int_equal(p.imei_len, 0);
    assert_int_equal(p.body_len, 0);

    /* be32 helpers. */
    uint8_t b4[4];
    petrel_put_be32(b4, 0x01020304u);
    assert_int_equal(b4[0], 1);
    assert_int_equal(b4[3], 4);
    assert_int_equal(petrel_be32(b4), 0x01020304u);
    petrel_put_be32(b4, 0xFFFFFFFFu);
    assert_int_equal(petrel_be32(b4), 0xFFFFFFFFu);
}

static void test_downlink(void **state)
{
    (void)state;
    const char *json = "{\"code\":200}";
    size_t jl = strlen(json);
    uint8_t buf[64];
    petrel_encode_down_hdr(buf, PETREL_CMD_LOGINACK, (uint32_t)jl);
    memcpy(buf + PETREL_DOWN_HDR_LEN, json, jl);
    size_t n = PETREL_DOWN_HDR_LEN + jl;
    assert_int_equal(petrel_be32(buf), 9001);
    assert_int_equal(petrel_be32(buf + 4), jl);

    int32_t cmd;
    const char *out;
    size_t out_len, frame_len;
    for (size_t len = 0; len < n; len++)
        assert_int_equal(petrel_decode_down(buf, len, 65536, &cmd, &out, &out_len, &frame_len),
                         PETREL_DEC_NEED_MORE);
    /* Plus trailing bytes of a next frame: only this one is consumed. */
    memcpy(buf + n, "\0\0\x23", 3);
    assert_int_equal(petrel_decode_down(buf, n + 3, 65536, &cmd, &out, &out_len, &frame_len),
                     PETREL_DEC_OK);
    assert_int_equal(cmd, 9001);
    assert_ptr_equal(out, (const char *)buf + PETREL_DOWN_HDR_LEN);
    assert_int_equal(out_len, jl);
    assert_memory_equal(out, json, jl);
    assert_int_equal(frame_len, n);

    /* Empty payload. */
    petrel_encode_down_hdr(buf, PETREL_CMD_PING, 0);
    assert_int_equal(petrel_decode_down(buf, PETREL_DOWN_HDR_LEN, 16, &cmd, &out, &out_len,
                                        &frame_len), PETREL_DEC_OK);
    assert_int_equal(cmd, 9999);
    assert_int_equal(out_len, 0);
    assert_int_equal(frame_len, PETREL_DOWN_HDR_LEN);

    /* Negative length, over the limit: errors from the header alone. */
    petrel_encode_down_hdr(buf, 9001, 0x80000000u);
    assert_int_equal(petrel_decode_down(buf, PETREL_DOWN_HDR_LEN, 65536, &cmd, &out, &out_len,
                                        &frame_len), PETREL_DEC_BAD_HEADER);
    petrel_encode_down_hdr(buf, 9001, 0xFFFFFFFFu);
    assert_int_equal(petrel_decode_down(buf, PETREL_DOWN_HDR_LEN, 65536, &cmd, &out, &out_len,
                                        &frame_len), PETREL_DEC_BAD_HEADER);
    petrel_encode_down_hdr(buf, 9001, 65537);
    assert_int_equal(petrel_decode_down(buf, PETREL_DOWN_HDR_LEN, 65536, &cmd, &out, &out_len,
                                        &frame_len), PETREL_DEC_BODY_LARGE);
    petrel_encode_down_hdr(buf, 9001, 65536);
    assert_int_equal(petrel_decode_down(buf, PETREL_DOWN_HDR_LEN, 65536, &cmd, &out, &out_len,
                                        &frame_len), PETREL_DEC_NEED_MORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_header_checked_with_partial_payload),
        cmocka_unit_test(test_need_more_every_prefix),
        cmocka_unit_test(test_coalesced_frames),
        cmocka_unit_test(test_nul_padding),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_downlink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
