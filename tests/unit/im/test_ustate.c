/*
 * Unit tests for the operator state cache (ustate.h): what a read learns
 * never overwrites what a committed write set, deleted is final, apps are
 * separate, unknown users are not cached, and concurrent readers and
 * writers on many threads leave every entry with the last write's value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "server/im/ustate.h"

static void test_learn_and_set(void **state)
{
    (void)state;
    ustate_t *u = ustate_new();
    assert_non_null(u);
    assert_int_equal(ustate_get(u, 1, "alice"), USTATE_UNKNOWN);
    /* a read that raced with a forbid does not undo it */
    ustate_set(u, 1, "alice", USTATE_FORBIDDEN);
    ustate_learn(u, 1, "alice", USTATE_LIVE);
    assert_int_equal(ustate_get(u, 1, "alice"), USTATE_FORBIDDEN);
    ustate_set(u, 1, "alice", USTATE_LIVE);
    assert_int_equal(ustate_get(u, 1, "alice"), USTATE_LIVE);
    /* learn fills a missing entry */
    ustate_learn(u, 1, "bob", USTATE_FORBIDDEN);
    assert_int_equal(ustate_get(u, 1, "bob"), USTATE_FORBIDDEN);
    /* deleted is final: ids are never reused */
    ustate_set(u, 1, "bob", USTATE_DELETED);
    ustate_set(u, 1, "bob", USTATE_LIVE);
    assert_int_equal(ustate_get(u, 1, "bob"), USTATE_DELETED);
    /* apps are separate; UNKNOWN is never stored */
    assert_int_equal(ustate_get(u, 2, "bob"), USTATE_UNKNOWN);
    ustate_learn(u, 2, "carol", USTATE_UNKNOWN);
    assert_int_equal(ustate_get(u, 2, "carol"), USTATE_UNKNOWN);
    assert_int_equal(ustate_of_row(1, 1), USTATE_DELETED);
    assert_int_equal(ustate_of_row(0, 1), USTATE_FORBIDDEN);
    assert_int_equal(ustate_of_row(0, 0), USTATE_LIVE);
    ustate_free(u);
    ustate_free(NULL);
}

#define NTHREADS 8
#define NUSERS 5000

typedef struct arg {
    ustate_t *u;
    int k;
} arg_t;

static void *hammer(void *p)
{
    arg_t *a = p;
    char id[32];
    for (int i = 0; i < NUSERS; i++) {
        snprintf(id, sizeof id, "u%d", i);
        if (i % NTHREADS == a->k)
            ustate_set(a->u, 7, id, i % 3 == 0 ? USTATE_FORBIDDEN : USTATE_LIVE);
        else
            ustate_learn(a->u, 7, id, USTATE_DELETED); /* a stale read: loses or fills */
        (void)ustate_get(a->u, 7, id);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ustate_t *u = ustate_new();
    pthread_t t[NTHREADS];
    arg_t a[NTHREADS];
    for (int k = 0; k < NTHREADS; k++) {
        a[k] = (arg_t){u, k};
        assert_int_equal(pthread_create(&t[k], NULL, hammer, &a[k]), 0);
    }
    for (int k = 0; k < NTHREADS; k++)
        pthread_join(t[k], NULL);
    char id[32];
    for (int i = 0; i < NUSERS; i++) {
        snprintf(id, sizeof id, "u%d", i);
        int s = ustate_get(u, 7, id);
        /* the write's value, unless the (made-up) deleted read came
         * first: deleted is final, no write undoes it */
        int want = i % 3 == 0 ? USTATE_FORBIDDEN : USTATE_LIVE;
        assert_true(s == want || s == USTATE_DELETED);
    }
    ustate_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learn_and_set),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
