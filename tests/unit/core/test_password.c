/*
 * Unit tests for scrypt password hashes (src/server/core/password.c).
 *
 * The known vectors were made with Python's hashlib.scrypt (an independent
 * implementation), so the format and the KDF call are checked, not just a
 * round trip through our own code.  OpenSSL's allocator is hooked at the
 * start of main (CRYPTO_set_mem_functions) to record the largest single
 * allocation, which lets the malformed-input cases prove that an absurd N
 * is refused before scrypt allocates anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/password.h"

/* hashlib.scrypt(b'correct horse', salt=bytes(range(16)), n=2**15, r=8, p=1, dklen=32) */
#define VEC1 "scrypt$15$8$1$AAECAwQFBgcICQoLDA0ODw==$XGYmKKxOsQaKKH4qoqICriSOmNsE1h0zJ+c0LbbscJc="
/* hashlib.scrypt(b'', salt=b'saltsalt', n=2**10, r=1, p=1, dklen=16) */
#define VEC2 "scrypt$10$1$1$c2FsdHNhbHQ=$Sqpn3ZIAsa/E9iZiemwB9g=="

#define SALT_B64 "AAECAwQFBgcICQoLDA0ODw=="
#define KEY_B64 "XGYmKKxOsQaKKH4qoqICriSOmNsE1h0zJ+c0LbbscJc="

/* ---- allocation probe ----------------------------------------------- */

static size_t g_max_alloc;

static void *probe_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (n > g_max_alloc)
        g_max_alloc = n;
    return malloc(n);
}

static void *probe_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (n > g_max_alloc)
        g_max_alloc = n;
    return realloc(p, n);
}

static void probe_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* ---- tests ------------------------------------------------------------ */

static void test_known_vectors(void **state)
{
    (void)state;
    assert_int_equal(pw_verify("correct horse", VEC1), 1);
    assert_int_equal(pw_verify("correct horsf", VEC1), 0);
    assert_int_equal(pw_verify("", VEC1), 0);
    assert_int_equal(pw_verify("", VEC2), 1);
    assert_int_equal(pw_verify("x", VEC2), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    char h[PW_HASH_MAX];
    assert_int_equal(pw_hash("correct horse battery staple", h, sizeof h), 0);
    assert_true(strncmp(h, "scrypt$15$8$1$", 14) == 0);
    /* 14 prefix + 24 salt + '$' + 44 key */
    assert_int_equal(strlen(h), 14 + 24 + 1 + 44);
    assert_int_equal(pw_verify("correct horse battery staple", h), 1);
    assert_int_equal(pw_verify("correct horse battery stapl", h), 0);
    assert_int_equal(pw_verify("Correct horse battery staple", h), 0);
    assert_int_equal(pw_verify("", h), 0);
}

static void test_salts_differ(void **state)
{
    (void)state;
    char a[PW_HASH_MAX], b[PW_HASH_MAX];
    assert_int_equal(pw_hash("same password", a, sizeof a), 0);
    assert_int_equal(pw_hash("same password", b, sizeof b), 0);
    assert_string_not_equal(a, b);
    /* the salt fields differ, not only the keys */
    assert_memory_not_equal(a + 14, b + 14, 24);
    assert_int_equal(pw_verify("same password", a), 1);
    assert_int_equal(pw_verify("same password", b), 1);
}

static void test_empty_password_hashes(void **state)
{
    (void)state;
    /* The library accepts it; refusing short passwords is the register
     * handler's job (tests/integration/test_appserver.py). */
    char h[PW_HASH_MAX];
    assert_int_equal(pw_hash("", h, sizeof h), 0);
    assert_int_equal(pw_verify("", h), 1);
    assert_int_equal(pw_verify(" ", h), 0);
}

static void test_hash_small_buffer(void **state)
{
    (void)state;
    char h[40];
    memset(h, 'x', sizeof h);
    assert_int_equal(pw_hash("pw", h, sizeof h), -1);
    assert_int_equal(h[0], '\0');
    assert_int_equal(pw_hash("pw", h, 0), -1);
    assert_int_equal(pw_hash(NULL, h, sizeof h), -1);
    assert_int_equal(pw_verify(NULL, VEC1), -1);
    assert_int_equal(pw_verify("pw", NULL), -1);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "scrypt",
        "scrypt$",
        "bcrypt$15$8$1$" SALT_B64 "$" KEY_B64,
        "SCRYPT$15$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$15$8$1$" SALT_B64,
        "scrypt$15$8$1$" SALT_B64 "$",
        "scrypt$15$8$1$$" KEY_B64,
        "scrypt$15$8$" SALT_B64 "$" KEY_B64,
        "scrypt$15$8$1$" SALT_B64 "$" KEY_B64 "$",
        "scrypt$15$8$1$" SALT_B64 "$" KEY_B64 "$x",
        "scrypt$$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$015$8$1$" SALT_B64 "$" KEY_B64,   /* leading zero */
        "scrypt$+15$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$-15$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$15 $8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$1x$8$1$" SALT_B64 "$" KEY_B64,
        /* bad base64: wrong length, bad chars, misplaced or missing padding,
         * non-canonical trailing bits, urlsafe alphabet */
        "scrypt$15$8$1$AAECAwQFBgcICQoLDA0ODw=$" KEY_B64,
        "scrypt$15$8$1$AAECAwQFBgcICQoLDA0ODw$" KEY_B64,
        "scrypt$15$8$1$AAECAwQFBgcICQoLDA0OD===$" KEY_B64,
        "scrypt$15$8$1$AAECAwQF=gcICQoLDA0ODw==$" KEY_B64,
        "scrypt$15$8$1$AAECAwQFBgcICQoLDA0ODx==$" KEY_B64,
        "scrypt$15$8$1$AAECAwQFBgcICQoLDA0O.w==$" KEY_B64,
        "scrypt$15$8$1$" SALT_B64 "$XGYmKKxOsQaKKH4qoqICriSOmNsE1h0zJ-c0LbbscJc=",
        "scrypt$15$8$1$" SALT_B64 "$XGYmKKxOsQaKKH4qoqICriSOmNsE1h0zJ+c0LbbscJc",
        /* salt or key too short / too long */
        "scrypt$15$8$1$AAECAw==$" KEY_B64,
        "scrypt$15$8$1$" SALT_B64 "$AAECAwQFBgcICQ==",
        "scrypt$15$8$1$"
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="
        "$" KEY_B64,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pw_verify("correct horse", bad[i]) != -1)
            fail_msg("accepted malformed #%zu: %s", i, bad[i]);
    }
}

static void test_out_of_bounds_params_do_not_allocate(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "scrypt$30$8$1$" SALT_B64 "$" KEY_B64,   /* N = 2^30 */
        "scrypt$99$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$21$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$9$8$1$" SALT_B64 "$" KEY_B64,    /* too weak to be ours */
        "scrypt$0$8$1$" SALT_B64 "$" KEY_B64,
        "scrypt$15$0$1$" SALT_B64 "$" KEY_B64,
        "scrypt$15$17$1$" SALT_B64 "$" KEY_B64,
        "scrypt$15$99$1$" SALT_B64 "$" KEY_B64,
        "scrypt$15$8$0$" SALT_B64 "$" KEY_B64,
        "scrypt$15$8$5$" SALT_B64 "$" KEY_B64,
        "scrypt$15$8$99$" SALT_B64 "$" KEY_B64,
        "scrypt$999999999999$8$1$" SALT_B64 "$" KEY_B64,
        /* each within its own bound, but 2^20 * 16 * 128 = 2 GiB > PW_MAX_MEM */
        "scrypt$20$16$4$" SALT_B64 "$" KEY_B64,
        "scrypt$20$4$1$" SALT_B64 "$" KEY_B64,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g_max_alloc = 0;
        if (pw_verify("correct horse", bad[i]) != -1)
            fail_msg("accepted out-of-bounds #%zu: %s", i, bad[i]);
        if (g_max_alloc >= (1u << 20))
            fail_msg("#%zu allocated %zu bytes before refusing", i, g_max_alloc);
    }
    /* the probe does see scrypt's working memory on a real verify */
    g_max_alloc = 0;
    assert_int_equal(pw_verify("correct horse", VEC1), 1);
    assert_true(g_max_alloc >= ((size_t)32 << 20));
}

static void test_param_bounds_inclusive(void **state)
{
    (void)state;
    /* The smallest accepted parameters still run (and simply mismatch). */
    assert_int_equal(pw_verify("correct horse", "scrypt$10$1$1$" SALT_B64 "$" KEY_B64), 0);
    assert_int_equal(pw_verify("correct horse", "scrypt$10$16$4$" SALT_B64 "$" KEY_B64), 0);
}

int main(void)
{
    /* Must precede any OpenSSL allocation. */
    if (!CRYPTO_set_mem_functions(probe_malloc, probe_realloc, probe_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_salts_differ),
        cmocka_unit_test(test_empty_password_hashes),
        cmocka_unit_test(test_hash_small_buffer),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_out_of_bounds_params_do_not_allocate),
        cmocka_unit_test(test_param_bounds_inclusive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
