/*
 * scrypt password hashes (see password.h for the format and the bounds).
 *
 * Parsing is strict and allocation-free: the prefix, three small decimal
 * numbers without sign or leading zeros, then two canonical padded base64
 * fields decoded into fixed stack buffers.  Anything else is "malformed"
 * (-1) and never reaches scrypt.  The memory bound is computed exactly as
 * OpenSSL does (128 * r * (N + 2) for V plus 128 * r * p for B) and passed
 * as maxmem, so scrypt itself cannot allocate more than what we checked.
 */
#include "server/core/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PW_PREFIX "scrypt$"
#define PW_SALT_MIN 8
#define PW_SALT_MAX 64
#define PW_KEY_MIN 16
#define PW_KEY_MAX 64

/* Memory scrypt needs for (N, r, p), or 0 if it exceeds PW_MAX_MEM. */
static size_t scrypt_mem(uint64_t n, uint64_t r, uint64_t p)
{
    /* With the caller's bounds (N <= 2^20, r <= 16, p <= 4) this cannot
     * overflow 64 bits. */
    uint64_t need = 128u * r * (n + 2) + 128u * r * p;
    return need > PW_MAX_MEM ? 0 : (size_t)need;
}

static int derive(const char *password, const unsigned char *salt, size_t salt_len,
                  unsigned log2n, unsigned r, unsigned p, unsigned char *key, size_t key_len)
{
    uint64_t n = (uint64_t)1 << log2n;
    size_t maxmem = scrypt_mem(n, r, p);
    if (!maxmem)
        return -1;
    if (EVP_PBE_scrypt(password, strlen(password), salt, salt_len, n, r, p, maxmem, key,
                       key_len) != 1)
        return -1;
    return 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard base64 with padding of exactly len chars into out (at most
 * cap bytes).  Returns the decoded length or -1. */
static int b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    if (len == 0 || len % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=') {
                /* padding only in the last group, only at its end */
                if (i + 4 != len || k < 2)
                    return -1;
                pad++;
                v[k] = 0;
            } else {
                if (pad)
                    return -1;
                v[k] = b64_val(c);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        /* canonical: unused bits of the last char before padding are zero */
        if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
            return -1;
        size_t nb = 3 - (size_t)pad;
        if (o + nb > cap)
            return -1;
        out[o++] = (unsigned char)(w >> 16);
        if (nb > 1)
            out[o++] = (unsigned char)(w >> 8);
        if (nb > 2)
            out[o++] = (unsigned char)w;
    }
    return (int)o;
}

/* A decimal number of 1..2 digits without leading zero, followed by '$'.
 * Advances *s past the '$'. */
static int parse_small(const char **s, unsigned *out)
{
    const char *p = *s;
    unsigned v = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
        if (nd == 2 || (nd == 1 && v == 0))
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
        nd++;
        p++;
    }
    if (nd == 0 || *p != '$')
        return -1;
    *out = v;
    *s = p + 1;
    return 0;
}

int pw_hash(const char *password, char *out, size_t cap)
{
    unsigned char salt[PW_SALT_LEN], key[PW_KEY_LEN];
    /* EVP_EncodeBlock writes 4 * ceil(n / 3) chars plus a NUL. */
    char salt_b64[4 * ((PW_SALT_LEN + 2) / 3) + 1];
    char key_b64[4 * ((PW_KEY_LEN + 2) / 3) + 1];
    int rc = -1;

    if (!password || !out || cap == 0)
        return -1;
    out[0] = '\0';
    if (RAND_bytes(salt, sizeof salt) != 1)
        goto done;
    if (derive(password, salt, sizeof salt, PW_SCRYPT_LOG2N, PW_SCRYPT_R, PW_SCRYPT_P, key,
               sizeof key) != 0)
        goto done;
    EVP_EncodeBlock((unsigned char *)salt_b64, salt, (int)sizeof salt);
    EVP_EncodeBlock((unsigned char *)key_b64, key, (int)sizeof key);
    int n = snprintf(out, cap, PW_PREFIX "%u$%u$%u$%s$%s", (unsigned)PW_SCRYPT_LOG2N,
                     (unsigned)PW_SCRYPT_R, (unsigned)PW_SCRYPT_P, salt_b64, key_b64);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        goto done;
    }
    rc = 0;
done:
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int pw_verify(const char *password, const char *encoded)
{
    unsigned log2n, r, p;
    unsigned char salt[PW_SALT_MAX], want[PW_KEY_MAX], got[PW_KEY_MAX];

    if (!password || !encoded)
        return -1;
    if (strncmp(encoded, PW_PREFIX, sizeof PW_PREFIX - 1) != 0)
        return -1;
    const char *s = encoded + sizeof PW_PREFIX - 1;
    if (parse_small(&s, &log2n) || parse_small(&s, &r) || parse_small(&s, &p))
        return -1;
    if (log2n < 10 || log2n > 20 || r < 1 || r > 16 || p < 1 || p > 4)
        return -1;
    if (!scrypt_mem((uint64_t)1 << log2n, r, p))
        return -1;

    const char *dollar = strchr(s, '$');
    if (!dollar)
        return -1;
    const char *k = dollar + 1;
    if (strchr(k, '$'))
        return -1;
    int salt_len = b64_decode(s, (size_t)(dollar - s), salt, sizeof salt);
    int key_len = b64_decode(k, strlen(k), want, sizeof want);
    if (salt_len < PW_SALT_MIN || key_len < PW_KEY_MIN)
        return -1;

    if (derive(password, salt, (size_t)salt_len, log2n, r, p, got, (size_t)key_len) != 0)
        return -1;
    int match = CRYPTO_memcmp(got, want, (size_t)key_len) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return match;
}
