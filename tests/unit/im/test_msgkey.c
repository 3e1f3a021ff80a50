/*
 * messageKey generator: layout (time, node), strictly increasing within a
 * millisecond and across many, borrowing when a millisecond is exhausted or
 * the clock steps back, and uniqueness under concurrent callers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/im/msgkey.h"

#include <pthread.h>
#include <stdlib.h>

static const int64_t T0 = 1795425600000LL; /* 2026-11-23 */

static void test_layout(void **st)
{
    (void)st;
    int64_t k = msgkey_next(7, T0 + 5000);
    assert_true(k > 0);
    assert_int_equal(msgkey_node(k), 7);
    assert_true(msgkey_time_ms(k) >= T0 + 5000);
}

static void test_monotonic_and_borrowing(void **st)
{
    (void)st;
    int64_t t = T0 + 100000;
    int64_t prev = msgkey_next(1, t);
    /* 10000 keys in one millisecond: exhausts 4096 and borrows forward */
    for (int i = 0; i < 10000; i++) {
        int64_t k = msgkey_next(1, t);
        assert_true(k > prev);
        prev = k;
    }
    assert_true(msgkey_time_ms(prev) >= t + 2);
    /* clock steps back by a second: still increasing */
    int64_t k = msgkey_next(1, t - 1000);
    assert_true(k > prev);
    /* later time jumps ahead */
    int64_t k2 = msgkey_next(1, t + 60000);
    assert_true(k2 > k);
    assert_int_equal(msgkey_time_ms(k2), t + 60000);
}

#define NT 4
#define PER 50000
static int64_t keys[NT][PER];

static void *worker(void *arg)
{
    int64_t *out = arg;
    for (int i = 0; i < PER; i++)
        out[i] = msgkey_next(3, T0 + 200000);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_unique_across_threads(void **st)
{
    (void)st;
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, keys[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    int64_t *all = malloc(sizeof keys);
    assert_non_null(all);
    for (int i = 0; i < NT; i++) {
        for (int j = 1; j < PER; j++)
            assert_true(keys[i][j] > keys[i][j - 1]); /* per thread increasing */
        for (int j = 0; j < PER; j++)
            all[i * PER + j] = keys[i][j];
    }
    qsort(all, NT * PER, sizeof *all, cmp);
    for (int i = 1; i < NT * PER; i++)
        assert_true(all[i] != all[i - 1]);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_monotonic_and_borrowing),
        cmocka_unit_test(test_unique_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
