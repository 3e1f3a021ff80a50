/*
 * Unit tests for the failed-login throttle (src/server/core/throttle.c).  Time is
 * injected, so window edges are tested exactly: the contract is "blocked
 * while max failures fall in (now - window, now]".  The capacity test
 * floods the table with 100k distinct keys and checks that the number of
 * tracked keys never exceeds the capacity (the table is allocated once, so
 * that is the memory bound) and that a key failing all along stays blocked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "server/core/throttle.h"

#define WIN INT64_C(300000)   /* 5 min */
#define T0 INT64_C(1700000000000)

static void test_new_args(void **state)
{
    (void)state;
    assert_null(throttle_new(0, WIN, 10));
    assert_null(throttle_new(-1, WIN, 10));
    assert_null(throttle_new(THROTTLE_MAX_FAILURES + 1, WIN, 10));
    assert_null(throttle_new(5, 0, 10));
    assert_null(throttle_new(5, -5, 10));
    assert_null(throttle_new(5, WIN, 0));
    assert_null(throttle_new(5, WIN, (size_t)THROTTLE_MAX_CAPACITY + 1));
    throttle_t *t = throttle_new(1, 1, 1);
    assert_non_null(t);
    throttle_free(t);
    throttle_free(NULL);
    /* NULL handle / key are harmless */
    assert_int_equal(throttle_blocked(NULL, "a", T0), 0);
    throttle_fail(NULL, "a", T0);
    throttle_reset(NULL, "a");
}

static void test_blocked_after_max(void **state)
{
    (void)state;
    throttle_t *t = throttle_new(5, WIN, 4096);
    assert_non_null(t);
    for (int i = 0; i < 4; i++) {
        throttle_fail(t, "alice", T0 + i);
        assert_int_equal(throttle_blocked(t, "alice", T0 + i), 0);
    }
    throttle_fail(t, "alice", T0 + 4);
    assert_int_equal(throttle_blocked(t, "alice", T0 + 4), 1);
    assert_int_equal(throttle_blocked(t, "alice", T0 + 1000), 1);
    throttle_free(t);
}

static void test_window_expiry(void **state)
{
    (void)state;
    throttle_t *t = throttle_new(5, WIN, 4096);
    for (int i = 0; i < 5; i++)
        throttle_fail(t, "bob", T0 + i * 1000);
    /* the oldest failure (T0) leaves the window at T0 + WIN */
    assert_int_equal(throttle_blocked(t, "bob", T0 + WIN - 1), 1);
    assert_int_equal(throttle_blocked(t, "bob", T0 + WIN), 0);
    /* sliding: one more failure now makes 5 within the window again */
    throttle_fail(t, "bob", T0 + WIN);
    assert_int_equal(throttle_blocked(t, "bob", T0 + WIN), 1);
    assert_int_equal(throttle_blocked(t, "bob", T0 + WIN + 1000), 0);
    /* long after: everything expired, the entry is dropped */
    assert_int_equal(throttle_blocked(t, "bob", T0 + 10 * WIN), 0);
    assert_int_equal(throttle_count(t), 0);
    /* and counting starts over */
    for (int i = 0; i < 4; i++)
        throttle_fail(t, "bob", T0 + 10 * WIN + i);
    assert_int_equal(throttle_blocked(t, "bob", T0 + 10 * WIN + 4), 0);
    throttle_free(t);
}

static void test_no_fixed_window_edge(void **state)
{
    (void)state;
    /* 4 failures just before a would-be fixed window boundary and 1 just
     * after must still block (9 quick failures must never slip through). */
    throttle_t *t = throttle_new(5, WIN, 16);
    throttle_fail(t, "carol", T0);
    for (int i = 0; i < 3; i++)
        throttle_fail(t, "carol", T0 + WIN - 10 + i);
    throttle_fail(t, "carol", T0 + WIN + 1);
    /* T0 is out of the window; the other 4 are in */
    assert_int_equal(throttle_blocked(t, "carol", T0 + WIN + 1), 0);
    throttle_fail(t, "carol", T0 + WIN + 2);
    assert_int_equal(throttle_blocked(t, "carol", T0 + WIN + 2), 1);
    throttle_free(t);
}

static void test_reset(void **state)
{
    (void)state;
    throttle_t *t = throttle_new(5, WIN, 4096);
    for (int i = 0; i < 5; i++)
        throttle_fail(t, "dave", T0);
    assert_int_equal(throttle_blocked(t, "dave", T0), 1);
    throttle_reset(t, "dave");
    assert_int_equal(throttle_blocked(t, "dave", T0), 0);
    assert_int_equal(throttle_count(t), 0);
    /* a reset key needs max fresh failures again */
    for (int i = 0; i < 4; i++)
        throttle_fail(t, "dave", T0 + 1);
    assert_int_equal(throttle_blocked(t, "dave", T0 + 1), 0);
    throttle_reset(t, "nobody");  /* unknown key: no-op */
    throttle_free(t);
}

static void test_keys_independent(void **state)
{
    (void)state;
    throttle_t *t = throttle_new(5, WIN, 4096);
    for (int i = 0; i < 5; i++)
        throttle_fail(t, "erin", T0);
    for (int i = 0; i < 4; i++)
        throttle_fail(t, "frank", T0);
    assert_int_equal(throttle_blocked(t, "erin", T0), 1);
    assert_int_equal(throttle_blocked(t, "frank", T0), 0);
    assert_int_equal(throttle_blocked(t, "erin2", T0), 0);
    assert_int_equal(throttle_blocked(t, "eri", T0), 0);
    assert_int_equal(throttle_blocked(t, "", T0), 0);
    throttle_reset(t, "frank");
    assert_int_equal(throttle_blocked(t, "erin", T0), 1);
    throttle_free(t);
}

static void test_long_keys(void **state)
{
    (void)state;
    /* Keys sharing a prefix longer than THROTTLE_KEY_MAX stay distinct. */
    char a[THROTTLE_KEY_MAX * 2 + 2], b[sizeof a];
    memset(a, 'k', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof a);
    b[sizeof b - 2] = 'z';
    throttle_t *t = throttle_new(2, WIN, 64);
    throttle_fail(t, a, T0);
    throttle_fail(t, a, T0);
    assert_int_equal(throttle_blocked(t, a, T0), 1);
    assert_int_equal(throttle_blocked(t, b, T0), 0);
    throttle_free(t);
}

static void test_capacity_bound(void **state)
{
    (void)state;
    const size_t cap = 4096;
    throttle_t *t = throttle_new(5, WIN, cap);
    char key[64];
    int64_t now = T0;
    for (int i = 0; i < 5; i++)
        throttle_fail(t, "hot", now);
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "hostile-%d", i);
        throttle_fail(t, key, now);
        if (i % 1000 == 0) {
            /* the hot key keeps failing, so it is never the stalest */
            throttle_fail(t, "hot", now);
            assert_int_equal(throttle_blocked(t, "hot", now), 1);
        }
        assert_true(throttle_count(t) <= cap);
        now++;
    }
    assert_int_equal(throttle_count(t), cap);
    assert_int_equal(throttle_blocked(t, "hot", now), 1);
    /* the newest hostile keys are tracked, the oldest were evicted */
    snprintf(key, sizeof key, "hostile-%d", 99999);
    for (int i = 0; i < 4; i++)
        throttle_fail(t, key, now);
    assert_int_equal(throttle_blocked(t, key, now), 1);
    assert_int_equal(throttle_blocked(t, "hostile-0", now), 0);
    /* reset still works on a full table, and a fresh key can be added */
    throttle_reset(t, "hot");
    assert_int_equal(throttle_blocked(t, "hot", now), 0);
    for (int i = 0; i < 5; i++)
        throttle_fail(t, "hot", now);
    assert_int_equal(throttle_blocked(t, "hot", now), 1);
    assert_true(throttle_count(t) <= cap);
    throttle_free(t);
}

static void test_evicts_expired_first(void **state)
{
    (void)state;
    throttle_t *t = throttle_new(3, WIN, 3);
    throttle_fail(t, "old", T0);
    for (int i = 0; i < 3; i++) {
        throttle_fail(t, "x", T0 + WIN);
        throttle_fail(t, "y", T0 + WIN);
    }
    throttle_fail(t, "z", T0 + WIN + 1);  /* table full: "old" goes */
    assert_int_equal(throttle_count(t), 3);
    assert_int_equal(throttle_blocked(t, "x", T0 + WIN + 1), 1);
    assert_int_equal(throttle_blocked(t, "y", T0 + WIN + 1), 1);
    throttle_free(t);
}

/* ---- concurrency (mostly for ASan/TSan-style checking of the lock) ---- */

typedef struct {
    throttle_t *t;
    int id;
} thr_arg_t;

static void *hammer(void *p)
{
    thr_arg_t *a = p;
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d-%d", a->id, i % 300);
        throttle_fail(a->t, key, T0 + i);
        (void)throttle_blocked(a->t, key, T0 + i);
        if (i % 7 == 0)
            throttle_reset(a->t, key);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    throttle_t *t = throttle_new(5, WIN, 256);
    pthread_t th[4];
    thr_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i].t = t;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(throttle_count(t) <= 256);
    throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_args),
        cmocka_unit_test(test_blocked_after_max),
        cmocka_unit_test(test_window_expiry),
        cmocka_unit_test(test_no_fixed_window_edge),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_keys_independent),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_capacity_bound),
        cmocka_unit_test(test_evicts_expired_first),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
