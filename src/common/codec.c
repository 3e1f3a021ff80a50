/*
 * Wire codec (see include/petrel/proto.h).  Pure functions over byte
 * buffers: the server's stream reassembly and the client library both call
 * petrel_decode_up/petrel_decode_down on whatever bytes they have, so split
 * and coalesced reads need no special handling here.
 */
#include "petrel/proto.h"

#include <string.h>

uint32_t petrel_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void petrel_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int petrel_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n;
        unsigned min;
        if (c >= 0xC2 && c <= 0xDF) { n = 1; min = 0x80; c &= 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; min = 0x800; c &= 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; min = 0x10000; c &= 0x07; }
        else return 0;
        if (len - i <= n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        i += n + 1;
    }
    return 1;
}

int petrel_decode_up(const uint8_t *buf, size_t len, const petrel_limits_t *lim,
                     petrel_packet_t *out)
{
    if (len < PETREL_UP_HDR_LEN)
        return PETREL_DEC_NEED_MORE;
    petrel_up_hdr_t h;
    h.command      = (int32_t)petrel_be32(buf);
    h.version      = (int32_t)petrel_be32(buf + 4);
    h.client_type  = (int32_t)petrel_be32(buf + 8);
    h.message_type = (int32_t)petrel_be32(buf + 12);
    h.app_id       = (int32_t)petrel_be32(buf + 16);
    h.imei_len     = (int32_t)petrel_be32(buf + 20);
    h.body_len     = (int32_t)petrel_be32(buf + 24);

    if (h.command <= 0 || h.app_id < 0 || h.imei_len < 0 || h.body_len < 0)
        return PETREL_DEC_BAD_HEADER;
    if ((uint32_t)h.imei_len > lim->max_imei)
        return PETREL_DEC_IMEI_LONG;
    if ((uint32_t)h.body_len > lim->max_body)
        return PETREL_DEC_BODY_LARGE;
    if (h.message_type != 0)
        return PETREL_DEC_MSG_TYPE;

    size_t frame = PETREL_UP_HDR_LEN + (size_t)h.imei_len + (size_t)h.body_len;
    if (len < frame)
        return PETREL_DEC_NEED_MORE;

    const char *imei = (const char *)buf + PETREL_UP_HDR_LEN;
    const char *body = imei + h.imei_len;
    size_t blen = (size_t)h.body_len;
    /* Old SDKs pad the declared length with NULs; trim them. */
    while (blen > 0 && body[blen - 1] == '\0')
        blen--;
    size_t ilen = (size_t)h.imei_len;
    while (ilen > 0 && imei[ilen - 1] == '\0')
        ilen--;
    if (!petrel_utf8_valid(imei, ilen) || !petrel_utf8_valid(body, blen))
        return PETREL_DEC_BAD_UTF8;
    if (memchr(imei, '\0', ilen) || memchr(body, '\0', blen))
        return PETREL_DEC_BAD_UTF8;

    out->hdr = h;
    out->imei = imei;
    out->imei_len = ilen;
    out->body = body;
    out->body_len = blen;
    out->frame_len = frame;
    return PETREL_DEC_OK;
}

int petrel_dec_error_code(int r)
{
    switch (r) {
    case PETREL_DEC_IMEI_LONG:  return PETREL_ERR_IMEI_TOO_LONG;
    case PETREL_DEC_BODY_LARGE: return PETREL_ERR_BODY_TOO_LARGE;
    case PETREL_DEC_MSG_TYPE:   return PETREL_ERR_MESSAGE_TYPE;
    case PETREL_DEC_BAD_UTF8:   return PETREL_ERR_BAD_UTF8;
    default:                    return PETREL_ERR_BAD_HEADER;
    }
}

size_t petrel_encode_up(uint8_t *out, size_t cap, const petrel_up_hdr_t *h,
                        const char *imei, size_t imei_len,
                        const char *body, size_t body_len)
{
    size_t n = PETREL_UP_HDR_LEN + imei_len + body_len;
    if (cap < n)
        return n;
    petrel_put_be32(out, (uint32_t)h->command);
    petrel_put_be32(out + 4, (uint32_t)h->version);
    petrel_put_be32(out + 8, (uint32_t)h->client_type);
    petrel_put_be32(out + 12, (uint32_t)h->message_type);
    petrel_put_be32(out + 16, (uint32_t)h->app_id);
    petrel_put_be32(out + 20, (uint32_t)imei_len);
    petrel_put_be32(out + 24, (uint32_t)body_len);
    if (imei_len)
        memcpy(out + PETREL_UP_HDR_LEN, imei, imei_len);
    if (body_len)
        memcpy(out + PETREL_UP_HDR_LEN + imei_len, body, body_len);
    return n;
}

void petrel_encode_down_hdr(uint8_t out[PETREL_DOWN_HDR_LEN], int32_t command,
                            uint32_t json_len)
{
    petrel_put_be32(out, (uint32_t)command);
    petrel_put_be32(out + 4, json_len);
}

int petrel_decode_down(const uint8_t *buf, size_t len, uint32_t max_body,
                       int32_t *command, const char **json, size_t *json_len,
                       size_t *frame_len)
{
    if (len < PETREL_DOWN_HDR_LEN)
        return PETREL_DEC_NEED_MORE;
    int32_t cmd = (int32_t)petrel_be32(buf);
    int32_t n = (int32_t)petrel_be32(buf + 4);
    if (n < 0)
        return PETREL_DEC_BAD_HEADER;
    if ((uint32_t)n > max_body)
        return PETREL_DEC_BODY_LARGE;
    if (len < PETREL_DOWN_HDR_LEN + (size_t)n)
        return PETREL_DEC_NEED_MORE;
    *command = cmd;
    *json = (const char *)buf + PETREL_DOWN_HDR_LEN;
    *json_len = (size_t)n;
    *frame_len = PETREL_DOWN_HDR_LEN + (size_t)n;
    return PETREL_DEC_OK;
}
