/*
 * Unit tests for the send rate limits (src/server/im/ratelimit.c).  Time is
 * injected (microseconds), so bursts and refill are checked exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "server/im/ratelimit.h"

#define T0 INT64_C(1000000000)

static int burst(ratelimit_t *rl, const rl_conf_t *c, int32_t app, const char *user, size_t bytes,
                 int64_t now, int tries)
{
    int ok = 0;
    for (int i = 0; i < tries; i++)
        ok += ratelimit_send(rl, c, app, user, bytes, now) == 0;
    return ok;
}

static void test_user_messages(void **st)
{
    (void)st;
    ratelimit_t *rl = ratelimit_new();
    rl_conf_t c = {10, 0, 0};
    /* burst: RL_USER_BURST_S seconds' worth */
    assert_int_equal(burst(rl, &c, 1, "a", 10, T0, 100), 10 * RL_USER_BURST_S);
    /* another user, another app: their own buckets */
    assert_int_equal(burst(rl, &c, 1, "b", 10, T0, 100), 10 * RL_USER_BURST_S);
    assert_int_equal(burst(rl, &c, 2, "a", 10, T0, 100), 10 * RL_USER_BURST_S);
    /* refill: one message per 100 ms */
    assert_int_equal(burst(rl, &c, 1, "a", 10, T0 + 100000, 5), 1);
    assert_int_equal(burst(rl, &c, 1, "a", 10, T0 + 1100000, 50), 10);
    /* a refused send takes nothing: a long pause gives the full burst */
    assert_int_equal(burst(rl, &c, 1, "a", 10, T0 + 100000000, 100), 10 * RL_USER_BURST_S);
    ratelimit_free(rl);
}

static void test_user_bytes(void **st)
{
    (void)st;
    ratelimit_t *rl = ratelimit_new();
    rl_conf_t c = {0, 100, 0}; /* 100 KiB/s, burst 200 KiB */
    assert_int_equal(burst(rl, &c, 1, "a", 30 * 1024, T0, 20), 6);
    /* one second later: 100 KiB more, 3 of 30 KiB */
    assert_int_equal(burst(rl, &c, 1, "a", 30 * 1024, T0 + 1000000, 20), 3);
    /* larger than the whole burst: passes on a full bucket only */
    assert_int_equal(burst(rl, &c, 1, "b", 1 << 20, T0, 3), 1);
    ratelimit_free(rl);
}

static void test_app(void **st)
{
    (void)st;
    rl_conf_t c = {0, 0, 50};
    /* per app across users and threads' tables (NULL: app only) */
    assert_int_equal(burst(NULL, &c, 77, "x", 1, T0, 30) + burst(NULL, &c, 77, "y", 1, T0, 30),
                     50 * RL_APP_BURST_S);
    assert_int_equal(burst(NULL, &c, 78, "x", 1, T0, 100), 50 * RL_APP_BURST_S);
    assert_int_equal(burst(NULL, &c, 77, "x", 1, T0 + 100000, 100), 5);
    /* the user check fails first: the app's bucket is not charged */
    ratelimit_t *rl = ratelimit_new();
    rl_conf_t both = {1, 0, 50};
    assert_int_equal(burst(rl, &both, 79, "u", 1, T0, 100), RL_USER_BURST_S);
    assert_int_equal(burst(rl, &both, 79, "v", 1, T0, 100), RL_USER_BURST_S);
    ratelimit_free(rl);
}

/* The table is fixed: 100k users never grow it, and a user who keeps
 * sending stays limited while others come and go. */
static void test_many_users(void **st)
{
    (void)st;
    ratelimit_t *rl = ratelimit_new();
    rl_conf_t c = {5, 0, 0};
    assert_int_equal(burst(rl, &c, 1, "hot", 1, T0, 100), 5 * RL_USER_BURST_S);
    char name[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof name, "u%d", i);
        assert_int_equal(ratelimit_send(rl, &c, 1, name, 1, T0 + 1), 0);
        if (i % 1000 == 0) /* "hot" sends all along: never more than the rate */
            assert_int_equal(burst(rl, &c, 1, "hot", 1, T0 + 1, 1), 0);
    }
    ratelimit_free(rl);
}

static void test_thread_table(void **st)
{
    (void)st;
    ratelimit_t *a = ratelimit_thread();
    assert_non_null(a);
    assert_ptr_equal(a, ratelimit_thread());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_messages),
        cmocka_unit_test(test_user_bytes),
        cmocka_unit_test(test_app),
        cmocka_unit_test(test_many_users),
        cmocka_unit_test(test_thread_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
