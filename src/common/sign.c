/*
 * userSign tokens (see include/petrel/sign.h): making and verifying the
 * seeds' TLS-sig-api style token.  This file owns the token format end to
 * end (JSON layout, zlib, the base64 variant, the HMAC message) so that the
 * server, the client library and the CLI cannot drift apart.
 *
 * Verification parses attacker-controlled bytes, so every stage is bounded:
 * the token length, the decoded size, the inflated size (a hard cap, so a
 * zlib bomb costs at most that much), and the JSON shape.  The signature is
 * checked last and in constant time, after the cheap structural checks, so
 * the error code tells a client what is wrong (60005 identifier, 60004
 * expired) while a forger learns nothing from timing.  The lifetime policy
 * (issue time at most max_skew ahead, ttl at most max_ttl) is checked after
 * the signature: it judges genuine tokens, so a forged or tampered one
 * always answers 60003.
 */
#include "petrel/sign.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>


/* The JSON doc is ~100 bytes plus the identifier (<= 128) and 44 bytes of
 * signature; 4 KiB is far above any honest token and bounds inflate. */
#define SIGN_MAX_JSON 4096
/* base64(HMAC-SHA256) = 4 * ceil(32 / 3) = 44 characters. */
#define SIGN_SIG_B64_LEN 44
/* Largest decoded payload of a PETREL_SIGN_MAX_TOKEN-character token. */
#define SIGN_MAX_RAW (PETREL_SIGN_MAX_TOKEN / 4 * 3)

/* base64(HMAC-SHA256(secret, msg)) into out[SIGN_SIG_B64_LEN + 1].
 * Returns 0 or -1. */
static int sign_hmac_b64(const char *secret, const char *identifier, int32_t app_id,
                         int64_t issued_at, int64_t ttl, char *out)
{
    char msg[PETREL_SIGN_MAX_IDENT + 160];
    int n = snprintf(msg, sizeof msg,
                     "TLS.identifier:%s\nTLS.appId:%ld\nTLS.expireTime:%lld\nTLS.expire:%lld\n",
                     identifier, (long)app_id, (long long)issued_at, (long long)ttl);
    if (n < 0 || (size_t)n >= sizeof msg)
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
              (size_t)n, mac, &mac_len) || mac_len != 32)
        return -1;
    /* EVP_EncodeBlock writes 44 chars and a NUL for 32 bytes. */
    if (EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len) != SIGN_SIG_B64_LEN)
        return -1;
    return 0;
}

int petrel_sign_make(const char *secret, int32_t app_id, const char *identifier,
                     int64_t ttl, int64_t now, char *out, size_t cap)
{
    if (!secret || !identifier || !out || ttl <= 0)
        return -1;
    size_t id_len = strlen(identifier);
    if (id_len == 0 || id_len > PETREL_SIGN_MAX_IDENT)
        return -1;

    char sig[SIGN_SIG_B64_LEN + 1];
    if (sign_hmac_b64(secret, identifier, app_id, now, ttl, sig) != 0)
        return -1;

    /* Key order is part of the format (the seeds' SDKs produce it), hence
     * JSON_PRESERVE_ORDER; json_string also refuses non-UTF-8 identifiers,
     * which the verifier could never parse back. */
    json_t *doc = json_object();
    if (!doc)
        return -1;
    int bad = 0;
    bad |= json_object_set_new(doc, "TLS.identifier", json_string(identifier));
    bad |= json_object_set_new(doc, "TLS.appId", json_integer(app_id));
    bad |= json_object_set_new(doc, "TLS.expire", json_integer(ttl));
    bad |= json_object_set_new(doc, "TLS.expireTime", json_integer(now));
    bad |= json_object_set_new(doc, "TLS.sig", json_string(sig));
    char *text = bad ? NULL : json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return -1;

    int ret = -1;
    size_t text_len = strlen(text);
    unsigned char zbuf[SIGN_MAX_RAW];
    uLongf zlen = sizeof zbuf;
    /* Anything that does not fit SIGN_MAX_RAW could not fit the token cap. */
    if (text_len <= SIGN_MAX_JSON &&
        compress2(zbuf, &zlen, (const Bytef *)text, (uLong)text_len,
                  Z_DEFAULT_COMPRESSION) == Z_OK) {
        size_t b64_len = 4 * ((zlen + 2) / 3);
        if (b64_len <= PETREL_SIGN_MAX_TOKEN && b64_len < cap) {
            /* EVP_EncodeBlock writes b64_len chars plus a NUL: fits cap. */
            int n = EVP_EncodeBlock((unsigned char *)out, zbuf, (int)zlen);
            if (n == (int)b64_len) {
                for (int i = 0; i < n; i++) {
                    if (out[i] == '+') out[i] = '*';
                    else if (out[i] == '/') out[i] = '-';
                    else if (out[i] == '=') out[i] = '_';
                }
                ret = n;
            }
        }
    }
    free(text);
    return ret;
}

/* Value of a urlsafe' base64 character, -1 for anything else ('_', the
 * padding, is handled by the caller). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '*') return 62;
    if (c == '-') return 63;
    return -1;
}

/* Strict decoder for the urlsafe' alphabet: length a multiple of 4, padding
 * only at the end, unused bits zero (so each payload has exactly one
 * encoding).  OpenSSL's EVP_DecodeBlock skips whitespace and miscounts
 * padding, hence our own.  Returns the decoded length or -1. */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len == 0 || len % 4 != 0)
        return -1;
    size_t pad = 0;
    if (in[len - 1] == '_') {
        pad++;
        if (in[len - 2] == '_') pad++;
    }
    size_t out_len = len / 4 * 3 - pad;
    if (out_len > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int last = (i + 4 == len);
        for (int k = 0; k < 4; k++) {
            if (last && in[i + k] == '_' && (size_t)k >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value((unsigned char)in[i + k]);
            if (v[k] < 0)
                return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (last && pad == 2 && (w & 0xFFFF) != 0) return -1;
        if (last && pad == 1 && (w & 0xFF) != 0) return -1;
        out[o++] = (unsigned char)(w >> 16);
        if (!last || pad < 2) out[o++] = (unsigned char)(w >> 8);
        if (!last || pad < 1) out[o++] = (unsigned char)w;
    }
    return (long)o;
}

/* Inflate a complete zlib stream (with header) into out[0..cap).  The
 * stream must end within cap bytes of output and consume all input;
 * anything bigger is refused rather than grown into.  Returns length or -1. */
static long bounded_inflate(const unsigned char *in, size_t in_len, unsigned char *out,
                            size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return -1;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = inflate(&zs, Z_FINISH);
    long n = (long)zs.total_out;
    int trailing = zs.avail_in != 0;
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || trailing)
        return -1;
    return n;
}

/* Exact int64 of a JSON integer, -1 if it is not one. */
static int get_int(json_t *doc, const char *key, int64_t *v)
{
    json_t *j = json_object_get(doc, key);
    if (!json_is_integer(j))
        return -1;
    *v = (int64_t)json_integer_value(j);
    return 0;
}

int petrel_sign_verify(const char *secret, int32_t app_id, const char *identifier,
                       const char *token, int64_t now, petrel_sign_info_t *info)
{
    return petrel_sign_verify_policy(secret, app_id, identifier, token, now, NULL, info);
}

int petrel_sign_verify_policy(const char *secret, int32_t app_id, const char *identifier,
                              const char *token, int64_t now,
                              const petrel_sign_policy_t *policy, petrel_sign_info_t *info)
{
    int64_t max_ttl = policy ? policy->max_ttl : PETREL_SIGN_DEFAULT_MAX_TTL;
    int64_t max_skew = policy ? policy->max_skew : PETREL_SIGN_DEFAULT_MAX_SKEW;
    if (max_skew < 0)
        max_skew = 0;
    if (!secret || !token)
        return PETREL_ERR_SIGN_INVALID;
    size_t tlen = strnlen(token, PETREL_SIGN_MAX_TOKEN + 1);
    if (tlen == 0 || tlen > PETREL_SIGN_MAX_TOKEN)
        return PETREL_ERR_SIGN_INVALID;

    unsigned char raw[SIGN_MAX_RAW];
    long raw_len = b64_decode(token, tlen, raw, sizeof raw);
    if (raw_len <= 0)
        return PETREL_ERR_SIGN_INVALID;
    unsigned char text[SIGN_MAX_JSON];
    long text_len = bounded_inflate(raw, (size_t)raw_len, text, sizeof text);
    if (text_len <= 0)
        return PETREL_ERR_SIGN_INVALID;

    /* No JSON_ALLOW_NUL: a "\u0000" inside the identifier is rejected by
     * the parser, so strlen of the identifier is its true length. */
    json_t *doc = json_loadb((const char *)text, (size_t)text_len, JSON_REJECT_DUPLICATES,
                             NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return PETREL_ERR_SIGN_INVALID;
    }

    int ret = PETREL_ERR_SIGN_INVALID;
    json_t *jid = json_object_get(doc, "TLS.identifier");
    json_t *jsig = json_object_get(doc, "TLS.sig");
    int64_t tok_app, ttl, issued;
    if (!json_is_string(jid) || !json_is_string(jsig) ||
        get_int(doc, "TLS.appId", &tok_app) || get_int(doc, "TLS.expire", &ttl) ||
        get_int(doc, "TLS.expireTime", &issued))
        goto out;
    const char *tok_id = json_string_value(jid);
    size_t id_len = json_string_length(jid);
    if (id_len == 0 || id_len > PETREL_SIGN_MAX_IDENT || strlen(tok_id) != id_len)
        goto out;
    if (tok_app < INT32_MIN || tok_app > INT32_MAX)
        goto out;

    if (info) {
        info->app_id = (int32_t)tok_app;
        info->issued_at = issued;
        info->ttl = ttl;
        memcpy(info->identifier, tok_id, id_len + 1);
    }

    if (identifier && strcmp(identifier, tok_id) != 0) {
        ret = PETREL_ERR_SIGN_MISMATCH;
        goto out;
    }
    if (tok_app != app_id)
        goto out;
    /* ttl > 0 here, so issued + ttl can only overflow upwards: such a token
     * expires "never" as far as int64 is concerned; the HMAC below still
     * has to hold, and then the lifetime policy refuses it. */
    if (ttl <= 0 || (issued <= INT64_MAX - ttl && issued + ttl < now)) {
        ret = PETREL_ERR_SIGN_EXPIRED;
        goto out;
    }

    char want[SIGN_SIG_B64_LEN + 1];
    if (sign_hmac_b64(secret, tok_id, (int32_t)tok_app, issued, ttl, want) != 0)
        goto out;
    if (json_string_length(jsig) != SIGN_SIG_B64_LEN ||
        CRYPTO_memcmp(want, json_string_value(jsig), SIGN_SIG_B64_LEN) != 0)
        goto out;
    /* Genuine token; now the server's lifetime policy.  issued > now makes
     * the unsigned difference exact, with no signed overflow for any
     * issued/now pair. */
    if (issued > now && (uint64_t)issued - (uint64_t)now > (uint64_t)max_skew) {
        ret = PETREL_ERR_SIGN_FUTURE;
        goto out;
    }
    if (ttl > max_ttl) {
        ret = PETREL_ERR_SIGN_LIFETIME;
        goto out;
    }
    ret = 0;
out:
    json_decref(doc);
    return ret;
}
