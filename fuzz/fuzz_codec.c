/*
 * Fuzz target: the wire codec (src/common/codec.c), pure functions.
 *
 * The input is read as a byte stream the way the server's reassembly and
 * the client library read it: uplink frames one after the other with
 * petrel_decode_up (default limits, then limits taken from the input),
 * and the same bytes as downlink frames with petrel_decode_down.
 * Oracles beyond "no crash, no sanitizer report": a decoded frame encodes
 * back to the same bytes with petrel_encode_up; imei and body are valid
 * UTF-8 without NUL; a header error is already reported on the first 28
 * bytes (a hostile length is refused before buffering); NEED_MORE never
 * comes for a complete frame.
 */
#include "petrel/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_codec: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static void up_stream(const uint8_t *d, size_t n, const petrel_limits_t *lim)
{
    size_t off = 0;
    while (off < n) {
        petrel_packet_t p;
        int r = petrel_decode_up(d + off, n - off, lim, &p);
        if (r == PETREL_DEC_NEED_MORE) {
            if (n - off >= PETREL_UP_HDR_LEN) {
                size_t frame = PETREL_UP_HDR_LEN + (size_t)petrel_be32(d + off + 20) +
                               (size_t)petrel_be32(d + off + 24);
                CHECK(frame > n - off);
            }
            return;
        }
        if (r < 0) {
            int code = petrel_dec_error_code(r);
            CHECK(code >= 61000 && code < 62000); /* petrel's protocol errors */
            if (r != PETREL_DEC_BAD_UTF8) /* header errors: visible in 28 bytes */
                CHECK(petrel_decode_up(d + off, PETREL_UP_HDR_LEN, lim, &p) == r);
            return;
        }
        CHECK(r == PETREL_DEC_OK);
        CHECK(p.frame_len >= PETREL_UP_HDR_LEN && p.frame_len <= n - off);
        CHECK(p.hdr.command > 0 && p.hdr.app_id >= 0 && p.hdr.message_type == 0);
        CHECK((uint32_t)p.hdr.imei_len <= lim->max_imei);
        CHECK((uint32_t)p.hdr.body_len <= lim->max_body);
        CHECK(p.imei_len <= (size_t)p.hdr.imei_len && p.body_len <= (size_t)p.hdr.body_len);
        CHECK(petrel_utf8_valid(p.imei, p.imei_len) && petrel_utf8_valid(p.body, p.body_len));
        CHECK(!memchr(p.imei, 0, p.imei_len) && !memchr(p.body, 0, p.body_len));
        CHECK(p.imei == (const char *)d + off + PETREL_UP_HDR_LEN);
        CHECK(p.body == p.imei + p.hdr.imei_len);
        /* encode back (with the padding the decoder trimmed) */
        uint8_t *re = malloc(p.frame_len);
        CHECK(re);
        size_t el = petrel_encode_up(re, p.frame_len, &p.hdr, p.imei, (size_t)p.hdr.imei_len,
                                     p.body, (size_t)p.hdr.body_len);
        CHECK(el == p.frame_len && memcmp(re, d + off, el) == 0);
        free(re);
        off += p.frame_len;
    }
}

static void down_stream(const uint8_t *d, size_t n, uint32_t max_body)
{
    size_t off = 0;
    while (off < n) {
        int32_t cmd;
        const char *json;
        size_t jl, fl;
        int r = petrel_decode_down(d + off, n - off, max_body, &cmd, &json, &jl, &fl);
        if (r != PETREL_DEC_OK) {
            CHECK(r == PETREL_DEC_NEED_MORE || r == PETREL_DEC_BAD_HEADER ||
                  r == PETREL_DEC_BODY_LARGE);
            return;
        }
        CHECK(fl == PETREL_DOWN_HDR_LEN + jl && fl <= n - off && jl <= max_body);
        CHECK(json == (const char *)d + off + PETREL_DOWN_HDR_LEN);
        uint8_t h[PETREL_DOWN_HDR_LEN];
        petrel_encode_down_hdr(h, cmd, (uint32_t)jl);
        CHECK(memcmp(h, d + off, sizeof h) == 0);
        off += fl;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    petrel_limits_t def = {PETREL_DEFAULT_MAX_IMEI, PETREL_DEFAULT_MAX_BODY};
    up_stream(data, size, &def);
    if (size >= 2) { /* small limits chosen by the input */
        petrel_limits_t small = {data[0], (uint32_t)data[1] * 16u};
        up_stream(data + 2, size - 2, &small);
    }
    down_stream(data, size, PETREL_DEFAULT_MAX_BODY);
    (void)petrel_utf8_valid((const char *)data, size);
    return 0;
}
