/*
 * Unit tests for the userSign token (src/common/sign.c).
 *
 * The known vectors were produced by tests/unit/vectors_sign.py, an
 * independent stdlib-only Python implementation, so a bug shared by
 * petrel_sign_make and petrel_sign_verify cannot make them pass.  The
 * hostile-input cases build documents with the wrap()/unwrap() helpers
 * below (plain zlib + base64 here, not the code under test) so each one
 * reaches exactly the stage it targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "petrel/sign.h"

#define SECRET "petrel-test-secret"
#define APP    1400000001
#define T0     INT64_C(1700000000)
#define TTL    INT64_C(86400)

/* vectors_sign.py output: (secret, appId, identifier, ttl, issuedAt). */
static const struct {
    const char *secret;
    int32_t app_id;
    const char *identifier;
    int64_t ttl;
    int64_t issued_at;
    const char *token;
} VEC[] = {
    {"petrel-test-secret", 1400000001, "alice", 86400, INT64_C(1700000000),
     "eJyrVgrxCdbLTEnNK8lMy0wtUrJSSszJTE5V0gFLJBYUeKYoWRmaGECAIUQ4taIgsyhVycrCDCiBLBSSmQsU"
     "NjSHKofKFWemA811NwuOcjT2Ko4wTdR38k7NqDQLTnJJMvUIMvLTDyor9bbwytHPzDHwqSizsFWqBQB9IizK"},
    {"s3cr3t/+=", 2147483647, "user_\xe7\x94\xa8\xe6\x88\xb7/1", 600, INT64_C(4102444800),
     "eJyrVgrxCdbLTEnNK8lMy0wtUrJSKi1OLYp-PmXFs47t*oZKOmAFiQUFnilKVkaGJuYmFsZmJuYQ4dSKgsyi"
     "VCUrMwMDZIGQzFygoImhgZGJiYkFTK44Mx1oelqGeYmJh1l6WpK5n75roql-omt5sHaRu2uUt2NWVlhIoHNp"
     "WWRYuUFIQLKtUi0AE7Ax-A__"},
    {"petrel-test-secret", 1400000001,
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, 1,
     "eJyrVgrxCdbLTEnNK8lMy0wtUrJSqhhgoKQDdlNiQYFnipKVoYkBBBhChFMrCjKLUoHiyNyQzFyEUHFmOtAX"
     "EVVOpZapQRVBHgFphc5*-mZFIZE5Iam*Fm5G5uGGZfrFFaHpJVmhxbnanrZKtQA4NmVp"},
};

/* Same inputs as VEC[0] but signed with "not-the-secret" (by Python). */
static const char WRONG_SECRET_TOKEN[] =
    "eJyrVgrxCdbLTEnNK8lMy0wtUrJSSszJTE5V0gFLJBYUeKYoWRmaGECAIUQ4taIgsyhVycrCDCiBLBSSmQsU"
    "NjSHKofKFWemA80t9PYwd7K0CPbMqywtMnI3zvUOT3Qsj8z2Ni8OznGstAjMSQ0JK8j11U7Jt1WqBQCWwi3e";

/* ---- helpers: an independent encoder/decoder for crafted documents ---- */

/* urlsafe'(base64(raw)) into out; returns its length (asserts it fits). */
static size_t b64_token(const unsigned char *raw, size_t n, char *out, size_t cap)
{
    assert_true(4 * ((n + 2) / 3) < cap);
    int len = EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
    for (int i = 0; i < len; i++) {
        if (out[i] == '+') out[i] = '*';
        else if (out[i] == '/') out[i] = '-';
        else if (out[i] == '=') out[i] = '_';
    }
    return (size_t)len;
}

/* Token for arbitrary bytes of "JSON": zlib (level 9) + urlsafe' base64. */
static size_t wrap(const char *text, size_t text_len, char *out, size_t cap)
{
    uLongf zlen = compressBound((uLong)text_len);
    unsigned char *z = malloc(zlen);
    assert_non_null(z);
    assert_int_equal(compress2(z, &zlen, (const Bytef *)text, (uLong)text_len, 9), Z_OK);
    size_t n = b64_token(z, zlen, out, cap);
    free(z);
    return n;
}

/* Inverse of wrap() for a well-formed token: the JSON text, NUL-terminated. */
static void unwrap(const char *token, char *out, size_t cap)
{
    char b64[PETREL_SIGN_MAX_TOKEN + 1];
    size_t n = strlen(token);
    assert_true(n < sizeof b64);
    memcpy(b64, token, n + 1);
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (b64[i] == '*') b64[i] = '+';
        else if (b64[i] == '-') b64[i] = '/';
        else if (b64[i] == '_') { b64[i] = '='; pad++; }
    }
    unsigned char raw[PETREL_SIGN_MAX_TOKEN];
    int rn = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    assert_true(rn > 0);
    uLongf olen = (uLongf)(cap - 1);
    assert_int_equal(uncompress((Bytef *)out, &olen, raw, (uLong)((size_t)rn - pad)), Z_OK);
    out[olen] = '\0';
}

/* Replace the first occurrence of from by to in s (cap bytes). */
static void replace(char *s, size_t cap, const char *from, const char *to)
{
    char *p = strstr(s, from);
    assert_non_null(p);
    size_t fl = strlen(from), tl = strlen(to), rest = strlen(p + fl);
    assert_true((size_t)(p - s) + tl + rest < cap);
    memmove(p + tl, p + fl, rest + 1);
    memcpy(p, to, tl);
}

static int verify_text(const char *text, const char *identifier)
{
    char tok[4096];
    wrap(text, strlen(text), tok, sizeof tok);
    return petrel_sign_verify(SECRET, APP, identifier, tok, T0, NULL);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    (void)state;
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    int n = petrel_sign_make(SECRET, APP, "alice", TTL, T0, tok, sizeof tok);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(tok));
    assert_null(strpbrk(tok, "+/="));

    petrel_sign_info_t info;
    memset(&info, 0xAA, sizeof info);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, &info), 0);
    assert_int_equal(info.app_id, APP);
    assert_true(info.issued_at == T0);
    assert_true(info.ttl == TTL);
    assert_string_equal(info.identifier, "alice");

    /* info is optional; the last valid second is issued + ttl. */
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0 + TTL, NULL), 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0 + TTL + 1, NULL), 60004);
}

static void test_known_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof VEC / sizeof VEC[0]; i++) {
        petrel_sign_info_t info;
        int64_t now = VEC[i].issued_at + VEC[i].ttl / 2;
        assert_int_equal(petrel_sign_verify(VEC[i].secret, VEC[i].app_id, VEC[i].identifier,
                                            VEC[i].token, now, &info), 0);
        assert_int_equal(info.app_id, VEC[i].app_id);
        assert_true(info.issued_at == VEC[i].issued_at);
        assert_true(info.ttl == VEC[i].ttl);
        assert_string_equal(info.identifier, VEC[i].identifier);

        /* Same JSON bytes, same zlib level: the C maker must reproduce the
         * Python token exactly (so Python verifies ours as well). */
        char tok[PETREL_SIGN_MAX_TOKEN + 1];
        int n = petrel_sign_make(VEC[i].secret, VEC[i].app_id, VEC[i].identifier,
                                 VEC[i].ttl, VEC[i].issued_at, tok, sizeof tok);
        assert_int_equal(n, (int)strlen(VEC[i].token));
        assert_string_equal(tok, VEC[i].token);
    }
}

static void test_tampered_char(void **state)
{
    (void)state;
    /* Any single substituted character: corrupt zlib (adler32), bad
     * padding or non-canonical bits; never accepted, always 60003. */
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    size_t n = strlen(VEC[0].token);
    for (size_t i = 0; i < n; i++) {
        memcpy(tok, VEC[0].token, n + 1);
        tok[i] = tok[i] == 'A' ? 'B' : 'A';
        assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60003);
    }
    /* Truncation and extension. */
    memcpy(tok, VEC[0].token, n + 1);
    tok[n - 4] = '\0';
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60003);
    memcpy(tok, VEC[0].token, n);
    memcpy(tok + n, "AAAA", 5);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60003);
}

static void test_tampered_signature(void **state)
{
    (void)state;
    petrel_sign_info_t info;
    /* Well-formed doc, HMAC made with another secret (by Python). */
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", WRONG_SECRET_TOKEN, T0, &info),
                     60003);
    assert_string_equal(info.identifier, "alice");

    /* Well-formed doc, one character of TLS.sig changed. */
    char text[1024], tok[PETREL_SIGN_MAX_TOKEN + 1];
    unwrap(VEC[0].token, text, sizeof text);
    assert_int_equal(verify_text(text, "alice"), 0); /* helpers round-trip */
    char *sig = strstr(text, "\"TLS.sig\":\"");
    assert_non_null(sig);
    sig += strlen("\"TLS.sig\":\"");
    sig[3] = sig[3] == 'A' ? 'B' : 'A';
    assert_int_equal(verify_text(text, "alice"), 60003);

    /* Signature truncated / extended: length check before the compare. */
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "=\"}", "\"}");
    assert_int_equal(verify_text(text, "alice"), 60003);
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "=\"}", "==\"}");
    assert_int_equal(verify_text(text, "alice"), 60003);

    /* Signed fields changed after signing (the HMAC covers each). */
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "\"TLS.expire\":86400", "\"TLS.expire\":86401");
    assert_int_equal(verify_text(text, "alice"), 60003);
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "1700000000", "1700000001");
    assert_int_equal(verify_text(text, "alice"), 60003);

    /* Key order is not significant for verification. */
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "{\"TLS.identifier\":\"alice\",", "{");
    replace(text, sizeof text, "}", ",\"TLS.identifier\":\"alice\"}");
    assert_int_equal(verify_text(text, "alice"), 0);

    /* Trailing bytes after the zlib stream. */
    unwrap(VEC[0].token, text, sizeof text);
    uLongf zlen = 1024;
    unsigned char z[1024 + 3];
    assert_int_equal(compress2(z, &zlen, (const Bytef *)text, (uLong)strlen(text), 6), Z_OK);
    memcpy(z + zlen, "xyz", 3);
    b64_token(z, zlen + 3, tok, sizeof tok);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60003);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    assert_int_equal(petrel_sign_verify("petrel-test-secreT", APP, "alice", VEC[0].token, T0,
                                        NULL), 60003);
    assert_int_equal(petrel_sign_verify("", APP, "alice", VEC[0].token, T0, NULL), 60003);
    assert_int_equal(petrel_sign_verify(NULL, APP, "alice", VEC[0].token, T0, NULL), 60003);
}

static void test_expired(void **state)
{
    (void)state;
    int64_t end = VEC[0].issued_at + VEC[0].ttl;
    petrel_sign_info_t info;
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", VEC[0].token, end, NULL), 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", VEC[0].token, end + 1, &info),
                     60004);
    assert_string_equal(info.identifier, "alice");
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", VEC[0].token, INT64_MAX, NULL),
                     60004);
    /* ttl 1 vector: valid at issued + 1, expired at + 2. */
    assert_int_equal(petrel_sign_verify(VEC[2].secret, APP, VEC[2].identifier, VEC[2].token,
                                        2, NULL), 0);
    assert_int_equal(petrel_sign_verify(VEC[2].secret, APP, VEC[2].identifier, VEC[2].token,
                                        3, NULL), 60004);
}

static void test_ttl_zero_and_overflow(void **state)
{
    (void)state;
    char text[1024];
    /* ttl 0 / negative in the doc: expired, whatever the signature. */
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "\"TLS.expire\":86400", "\"TLS.expire\":0");
    assert_int_equal(verify_text(text, "alice"), 60004);
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "\"TLS.expire\":86400", "\"TLS.expire\":-5");
    assert_int_equal(verify_text(text, "alice"), 60004);

    /* issued + ttl beyond int64: no overflow (UBSan would trap), the
     * signature still decides, then the lifetime policy refuses them. */
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    assert_true(petrel_sign_make(SECRET, APP, "alice", INT64_MAX, T0, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, INT64_MAX, NULL), 62101);
    assert_true(petrel_sign_make(SECRET, APP, "alice", 10, INT64_MAX, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 62100);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, INT64_MIN, NULL), 62100);
    /* the widest policy still does the arithmetic without overflow */
    petrel_sign_policy_t wide = {INT64_MAX, INT64_MAX};
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, 0, &wide, NULL),
                     0);
    assert_true(petrel_sign_make(SECRET, APP, "alice", INT64_MAX, T0, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, INT64_MAX, &wide, NULL),
                     0);
    assert_true(petrel_sign_make(SECRET, APP, "alice", INT64_MAX, INT64_MIN, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, 0, NULL), 60004);
    unwrap(VEC[0].token, text, sizeof text);
    replace(text, sizeof text, "\"TLS.expire\":86400", "\"TLS.expire\":9223372036854775807");
    assert_int_equal(verify_text(text, "alice"), 60003);
}

/* Item 16 of issue 14: a token "issued" 30 years ahead, or with a
 * lifetime of years, was accepted. */
static void test_lifetime_policy(void **state)
{
    (void)state;
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    petrel_sign_info_t info;
    const int64_t year = INT64_C(365) * 86400;

    /* issued 30 years in the future with a 1 h ttl: refused by default */
    assert_true(petrel_sign_make(SECRET, APP, "alice", 3600, T0 + 30 * year, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, &info), 62100);
    assert_string_equal(info.identifier, "alice");
    /* ... and after 30 years it is an ordinary token */
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0 + 30 * year, NULL), 0);

    /* clock skew: up to max_skew ahead is fine, one second more is not */
    assert_true(petrel_sign_make(SECRET, APP, "alice", TTL, T0 + 300, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 0);
    assert_true(petrel_sign_make(SECRET, APP, "alice", TTL, T0 + 301, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 62100);
    petrel_sign_policy_t pol = {PETREL_SIGN_DEFAULT_MAX_TTL, 0};
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, T0 + 301, &pol, NULL), 0);
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, T0 + 300, &pol, NULL),
                     62100);
    pol.max_skew = 301;
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, T0, &pol, NULL), 0);

    /* lifetime: the default cap is 30 days; the seeds' app server signs
     * 500000 s, the demo app server 7 days, the CLI 1 day */
    static const int64_t ok_ttls[] = {1, 86400, 500000, 7 * 86400, PETREL_SIGN_DEFAULT_MAX_TTL};
    for (size_t i = 0; i < sizeof ok_ttls / sizeof ok_ttls[0]; i++) {
        assert_true(petrel_sign_make(SECRET, APP, "alice", ok_ttls[i], T0, tok, sizeof tok) > 0);
        assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 0);
    }
    assert_true(petrel_sign_make(SECRET, APP, "alice", PETREL_SIGN_DEFAULT_MAX_TTL + 1, T0, tok,
                                 sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 62101);
    assert_true(petrel_sign_make(SECRET, APP, "alice", 30 * year, T0, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 62101);
    pol.max_ttl = 30 * year;
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, T0, &pol, NULL), 0);
    pol.max_ttl = 60;
    assert_true(petrel_sign_make(SECRET, APP, "alice", 61, T0, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, T0, &pol, NULL), 62101);
    /* NULL policy = the defaults */
    assert_int_equal(petrel_sign_verify_policy(SECRET, APP, "alice", tok, T0, NULL, NULL), 0);

    /* the policy judges genuine tokens only: forged ones stay 60003,
     * expired ones 60004, someone else's 60005 */
    assert_true(petrel_sign_make("not-the-secret", APP, "alice", 30 * year, T0 + 30 * year, tok,
                                 sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60003);
    assert_true(petrel_sign_make(SECRET, APP, "alice", 30 * year, T0 - 31 * year, tok,
                                 sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60004);
    assert_true(petrel_sign_make(SECRET, APP, "bob", 3600, T0 + 30 * year, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alice", tok, T0, NULL), 60005);
}

static void test_wrong_app_and_identifier(void **state)
{
    (void)state;
    const char *tok = VEC[0].token;
    petrel_sign_info_t info;
    assert_int_equal(petrel_sign_verify(SECRET, APP + 1, "alice", tok, T0, &info), 60003);
    assert_int_equal(info.app_id, APP);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "bob", tok, T0, &info), 60005);
    assert_string_equal(info.identifier, "alice");
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alic", tok, T0, NULL), 60005);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "alicee", tok, T0, NULL), 60005);
    assert_int_equal(petrel_sign_verify(SECRET, APP, "", tok, T0, NULL), 60005);
    /* Documented order: identifier, then appId, then expiry, then HMAC. */
    assert_int_equal(petrel_sign_verify(SECRET, APP + 1, "bob", tok, T0 + TTL + 1, NULL), 60005);
    assert_int_equal(petrel_sign_verify(SECRET, APP + 1, "alice", tok, T0 + TTL + 1, NULL), 60003);
    assert_int_equal(petrel_sign_verify("bad", APP, "alice", tok, T0 + TTL + 1, NULL), 60004);
    assert_int_equal(petrel_sign_verify("bad", APP, "bob", WRONG_SECRET_TOKEN, T0, NULL), 60005);
}

static void test_null_identifier_accepts_any(void **state)
{
    (void)state;
    petrel_sign_info_t info;
    for (size_t i = 0; i < sizeof VEC / sizeof VEC[0]; i++) {
        assert_int_equal(petrel_sign_verify(VEC[i].secret, VEC[i].app_id, NULL, VEC[i].token,
                                            VEC[i].issued_at, &info), 0);
        assert_string_equal(info.identifier, VEC[i].identifier);
    }
    /* ...but nothing else is relaxed. */
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, WRONG_SECRET_TOKEN, T0, NULL), 60003);
}

static void test_garbage(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "A", "AB", "ABC", "AAAA", "AAA_", "AA__", "A___", "____", "====",
        "eJy+", "eJy/", "eJy=", "eJyr Vgrx", "eJyr\nVgr", "!!!!", "\xff\xfe\xfd\xfc",
        "eJyr_AAA", "AB_C", "hello, world", "null", "{}",
        "AAB_", /* non-canonical padding bits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, bad[i], T0, NULL), 60003);
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, NULL, T0, NULL), 60003);

    /* The valid token with standard-base64 characters is not our alphabet. */
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    size_t n = strlen(VEC[1].token);
    memcpy(tok, VEC[1].token, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '*') tok[i] = '+';
        else if (tok[i] == '-') tok[i] = '/';
        else if (tok[i] == '_') tok[i] = '=';
    }
    assert_int_equal(petrel_sign_verify(VEC[1].secret, VEC[1].app_id, NULL, tok,
                                        VEC[1].issued_at, NULL), 60003);
}

static void test_oversize(void **state)
{
    (void)state;
    char big[PETREL_SIGN_MAX_TOKEN + 9];
    /* At the limit: length is fine, content is not zlib. */
    memset(big, 'A', PETREL_SIGN_MAX_TOKEN);
    big[PETREL_SIGN_MAX_TOKEN] = '\0';
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, big, T0, NULL), 60003);
    /* Over the limit: refused on length alone (a valid token padded). */
    size_t n = strlen(VEC[0].token);
    memcpy(big, VEC[0].token, n);
    memset(big + n, 'A', sizeof big - 1 - n);
    big[sizeof big - 1] = '\0';
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, big, T0, NULL), 60003);
}

static void test_not_zlib(void **state)
{
    (void)state;
    char tok[256];
    const char *s = "{\"TLS.identifier\":\"alice\"}";
    b64_token((const unsigned char *)s, strlen(s), tok, sizeof tok);
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 60003);
    /* Raw deflate (no zlib header) is not accepted either. */
    unsigned char z[256];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)s;
    zs.avail_in = (uInt)strlen(s);
    zs.next_out = z;
    zs.avail_out = sizeof z;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    b64_token(z, zs.total_out, tok, sizeof tok);
    deflateEnd(&zs);
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 60003);
}

static void test_not_json(void **state)
{
    (void)state;
    static const char *docs[] = {
        "", "not json", "[1,2,3]", "\"TLS.identifier\"", "42", "null",
        "{\"TLS.identifier\":\"alice\"", "{\"TLS.identifier\":\"alice\"} x",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char tok[256];
        wrap(docs[i], strlen(docs[i]), tok, sizeof tok);
        assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 60003);
    }
}

static void test_wrong_types(void **state)
{
    (void)state;
    /* Each row mutates the valid VEC[0] document in one way. */
    static const struct { const char *from, *to; } edits[] = {
        {"\"TLS.identifier\":\"alice\"", "\"TLS.identifier\":42"},
        {"\"TLS.identifier\":\"alice\"", "\"TLS.identifier\":null"},
        {"\"TLS.identifier\":\"alice\"", "\"TLS.identifier\":[\"alice\"]"},
        {"\"TLS.identifier\":\"alice\"", "\"TLS.identifier\":\"\""},
        {"\"TLS.identifier\":\"alice\"", "\"TLS.identifier\":\"al\\u0000ice\""},
        {"\"TLS.identifier\":\"alice\"", "\"TLS.identifier\":\"alice\",\"TLS.identifier\":\"alice\""},
        {"\"TLS.identifier\":\"alice\",", ""},
        {"\"TLS.appId\":1400000001", "\"TLS.appId\":\"1400000001\""},
        {"\"TLS.appId\":1400000001", "\"TLS.appId\":1400000001.0"},
        {"\"TLS.appId\":1400000001", "\"TLS.appId\":5694967297"}, /* APP + 2^32 */
        {"\"TLS.appId\":1400000001,", ""},
        {"\"TLS.expire\":86400", "\"TLS.expire\":\"86400\""},
        {"\"TLS.expire\":86400", "\"TLS.expire\":86400.5"},
        {"\"TLS.expire\":86400", "\"TLS.expire\":true"},
        {"\"TLS.expire\":86400,", ""},
        {"\"TLS.expireTime\":1700000000", "\"TLS.expireTime\":\"1700000000\""},
        {"\"TLS.expireTime\":1700000000", "\"TLS.expireTime\":1.7e9"},
        {"\"TLS.expireTime\":1700000000", "\"TLS.expireTime\":99999999999999999999"},
        {"\"TLS.expireTime\":1700000000,", ""},
        {"\"TLS.sig\":\"", "\"TLS.sig\":1,\"x\":\""},
        {",\"TLS.sig\":\"", ",\"x\":\""},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char text[1024];
        unwrap(VEC[0].token, text, sizeof text);
        replace(text, sizeof text, edits[i].from, edits[i].to);
        assert_int_equal(verify_text(text, NULL), 60003);
    }

    /* Identifier of PETREL_SIGN_MAX_IDENT + 1 bytes. */
    char text[1024];
    unwrap(VEC[2].token, text, sizeof text);
    replace(text, sizeof text, "\"xxx", "\"xxxx");
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    wrap(text, strlen(text), tok, sizeof tok);
    assert_int_equal(petrel_sign_verify(VEC[2].secret, APP, NULL, tok, 1, NULL), 60003);
}

static void test_zlib_bomb(void **state)
{
    (void)state;
    /* 1 MiB of whitespace before a valid document: ~1 KiB of zlib, would
     * be a valid token if inflate were unbounded. */
    char text[1024];
    unwrap(VEC[0].token, text, sizeof text);
    size_t tl = strlen(text);
    size_t big = (size_t)1 << 20;
    char *doc = malloc(big + tl);
    assert_non_null(doc);
    memset(doc, ' ', big);
    memcpy(doc + big, text, tl);
    char tok[8192];
    size_t n = wrap(doc, big + tl, tok, sizeof tok);
    if (n <= PETREL_SIGN_MAX_TOKEN)
        assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 60003);
    /* 100 KiB: certainly short enough to pass the token length check. */
    n = wrap(doc + big - 100 * 1024, 100 * 1024 + tl, tok, sizeof tok);
    assert_true(n <= PETREL_SIGN_MAX_TOKEN);
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 60003);
    /* Just over 4 KiB is refused; the same doc within 4 KiB is accepted,
     * so the rejection is the bound and nothing else. */
    n = wrap(doc + big - (4097 - tl), 4097, tok, sizeof tok);
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 60003);
    n = wrap(doc + big - (4096 - tl), 4096, tok, sizeof tok);
    assert_int_equal(petrel_sign_verify(SECRET, APP, NULL, tok, T0, NULL), 0);
    (void)n;
    free(doc);
}

static void test_make_errors(void **state)
{
    (void)state;
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    int n = petrel_sign_make(SECRET, APP, "alice", TTL, T0, tok, sizeof tok);
    assert_true(n > 0);
    char small[PETREL_SIGN_MAX_TOKEN + 1];
    assert_int_equal(petrel_sign_make(SECRET, APP, "alice", TTL, T0, small, (size_t)n), -1);
    assert_int_equal(petrel_sign_make(SECRET, APP, "alice", TTL, T0, small, 0), -1);
    assert_int_equal(petrel_sign_make(SECRET, APP, "alice", TTL, T0, small, (size_t)n + 1), n);
    assert_string_equal(small, tok);

    char id[PETREL_SIGN_MAX_IDENT + 2];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_int_equal(petrel_sign_make(SECRET, APP, id, TTL, T0, tok, sizeof tok), -1);
    id[PETREL_SIGN_MAX_IDENT] = '\0';
    assert_true(petrel_sign_make(SECRET, APP, id, TTL, T0, tok, sizeof tok) > 0);
    assert_int_equal(petrel_sign_make(SECRET, APP, "", TTL, T0, tok, sizeof tok), -1);
    assert_int_equal(petrel_sign_make(SECRET, APP, NULL, TTL, T0, tok, sizeof tok), -1);
    assert_int_equal(petrel_sign_make(SECRET, APP, "alice", 0, T0, tok, sizeof tok), -1);
    assert_int_equal(petrel_sign_make(SECRET, APP, "alice", -1, T0, tok, sizeof tok), -1);
    assert_int_equal(petrel_sign_make(NULL, APP, "alice", TTL, T0, tok, sizeof tok), -1);
    assert_int_equal(petrel_sign_make(SECRET, APP, "alice", TTL, T0, NULL, sizeof tok), -1);
    /* Not UTF-8: could never be verified, so not made. */
    assert_int_equal(petrel_sign_make(SECRET, APP, "al\xffice", TTL, T0, tok, sizeof tok), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_tampered_char),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_ttl_zero_and_overflow),
        cmocka_unit_test(test_lifetime_policy),
        cmocka_unit_test(test_wrong_app_and_identifier),
        cmocka_unit_test(test_null_identifier_accepts_any),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_not_zlib),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_zlib_bomb),
        cmocka_unit_test(test_make_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
