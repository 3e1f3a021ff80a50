/*
 * Gateway discovery: the seeds' MD5 hash, stable consistent-hash choices,
 * round robin, random within range, list parsing, and what moves when a
 * node is added (consistent hashing keeps most users in place).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/gateway/route.h"

#include <stdio.h>
#include <string.h>

static void test_hash_vector(void **st)
{
    (void)st;
    /* MD5("abc") = 90 01 50 98 ...; first 4 bytes little-endian */
    assert_int_equal(route_hash("abc"), 0x98500190u);
    /* MD5("") = d4 1d 8c d9 ... */
    assert_int_equal(route_hash(""), 0xd98c1dd4u);
}

static void test_parse(void **st)
{
    (void)st;
    char buf[256];
    const char *n[8];
    assert_int_equal(route_strategy_parse("hash"), ROUTE_HASH);
    assert_int_equal(route_strategy_parse("round_robin"), ROUTE_ROUND_ROBIN);
    assert_int_equal(route_strategy_parse("random"), ROUTE_RANDOM);
    assert_int_equal(route_strategy_parse("nope"), -1);
    size_t k = route_split(" 10.0.0.1:9000,10.0.0.2:9000 , bad,[::1]:9000", buf, sizeof buf, n, 8);
    assert_int_equal(k, 3);
    assert_string_equal(n[0], "10.0.0.1:9000");
    assert_string_equal(n[1], "10.0.0.2:9000");
    assert_string_equal(n[2], "[::1]:9000");
    assert_int_equal(route_split("", buf, sizeof buf, n, 8), 0);
}

static void test_pick(void **st)
{
    (void)st;
    const char *nodes[] = {"10.0.0.1:9000", "10.0.0.2:9000", "10.0.0.3:9000"};
    uint64_t ctr = 0;
    assert_int_equal(route_pick(ROUTE_HASH, nodes, 0, "u", &ctr), -1);
    assert_int_equal(route_pick(ROUTE_HASH, nodes, 1, "u", &ctr), 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(route_pick(ROUTE_ROUND_ROBIN, nodes, 3, "u", &ctr), i % 3);
    int seen[3] = {0};
    for (int i = 0; i < 300; i++) {
        int r = route_pick(ROUTE_RANDOM, nodes, 3, "u", &ctr);
        assert_true(r >= 0 && r < 3);
        seen[r]++;
    }
    assert_true(seen[0] && seen[1] && seen[2]);

    /* hash: stable per user, spreads users, and adding a node moves only
     * the users that now land on it */
    const char *four[] = {"10.0.0.1:9000", "10.0.0.2:9000", "10.0.0.3:9000", "10.0.0.4:9000"};
    int used[3] = {0}, moved_elsewhere = 0;
    char user[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        int a = route_pick(ROUTE_HASH, nodes, 3, user, &ctr);
        assert_int_equal(route_pick(ROUTE_HASH, nodes, 3, user, &ctr), a);
        used[a]++;
        int b = route_pick(ROUTE_HASH, four, 4, user, &ctr);
        if (b != a && b != 3)
            moved_elsewhere++;
    }
    assert_true(used[0] && used[1] && used[2]);
    assert_int_equal(moved_elsewhere, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vector),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
