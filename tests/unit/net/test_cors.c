/*
 * CORS allow-list matching: exact origins only (ASCII case-insensitive, a
 * trailing slash in the list tolerated); prefixes, suffixes, other schemes
 * or ports, "null", lists and empty values never match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/net/cors.h"

static const char *list = " https://chat.example.com ,http://localhost:3000/,null";

static void test_listed(void **st)
{
    (void)st;
    assert_true(cors_origin_allowed(list, "https://chat.example.com"));
    assert_true(cors_origin_allowed(list, "HTTPS://Chat.Example.com"));
    assert_true(cors_origin_allowed(list, "http://localhost:3000"));
}

static void test_not_listed(void **st)
{
    (void)st;
    static const char *bad[] = {
        "", "null", "NULL", "https://chat.example.com.evil.net", "https://chat.example.co",
        "http://chat.example.com", "https://chat.example.com:443", "http://localhost:30000",
        "http://localhost:300", "https://chat.example.com,http://localhost:3000",
        "https://chat.example.com ", " https://chat.example.com", "*",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(cors_origin_allowed(list, bad[i]));
    assert_false(cors_origin_allowed("", "https://chat.example.com"));
    assert_false(cors_origin_allowed(NULL, "https://chat.example.com"));
    assert_false(cors_origin_allowed(list, NULL));
    /* a wildcard in the list is not a wildcard */
    assert_false(cors_origin_allowed("*", "https://evil.example.net"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed),
        cmocka_unit_test(test_not_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
