/*
 * Idempotency (seam/idem.h) through its interface with the local cache:
 * hit after put, miss for any differing field (app, sender, message id, and
 * field boundaries), newest entry wins a slot; separate instances do not
 * share entries; a NULL cache always misses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/seam/idem.h"

#include <stdio.h>

static void test_hit_and_misses(void **st)
{
    (void)st;
    idem_t *c = idem_local_new();
    assert_non_null(c);
    idem_ack_t a = {111, 7, 1795425600000LL}, out;
    idem_put(c, 10000, "alice", "m1", &a);
    assert_int_equal(idem_get(c, 10000, "alice", "m1", &out), 1);
    assert_int_equal(out.message_key, 111);
    assert_int_equal(out.sequence, 7);
    assert_int_equal(out.created_at, 1795425600000LL);
    assert_int_equal(idem_get(c, 10001, "alice", "m1", &out), 0);
    assert_int_equal(idem_get(c, 10000, "bob", "m1", &out), 0);
    assert_int_equal(idem_get(c, 10000, "alice", "m2", &out), 0);
    /* "ali"+"cem1" must not collide with "alice"+"m1" */
    assert_int_equal(idem_get(c, 10000, "ali", "cem1", &out), 0);
    idem_ack_t b = {222, 8, 1};
    idem_put(c, 10000, "alice", "m1", &b);
    assert_int_equal(idem_get(c, 10000, "alice", "m1", &out), 1);
    assert_int_equal(out.message_key, 222);
    idem_free(c);
}

static void test_many_entries(void **st)
{
    (void)st;
    idem_t *c = idem_local_new();
    assert_non_null(c);
    char id[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(id, sizeof id, "k%d", i);
        idem_ack_t a = {i + 1, i, 0};
        idem_put(c, 1, "u", id, &a);
    }
    /* whatever is still cached must be exactly right */
    int hits = 0;
    for (int i = 0; i < 50000; i++) {
        idem_ack_t out;
        snprintf(id, sizeof id, "k%d", i);
        if (idem_get(c, 1, "u", id, &out)) {
            hits++;
            assert_int_equal(out.message_key, i + 1);
        }
    }
    assert_true(hits > 25000); /* direct-mapped 65536 slots keep most */
    idem_free(c);
}

static void test_instances_and_null(void **st)
{
    (void)st;
    idem_t *a = idem_local_new(), *b = idem_local_new();
    idem_ack_t ack = {5, 6, 7}, out;
    idem_put(a, 1, "u", "m", &ack);
    assert_int_equal(idem_get(a, 1, "u", "m", &out), 1);
    assert_int_equal(idem_get(b, 1, "u", "m", &out), 0);
    /* no cache: every lookup misses, puts are dropped */
    idem_put(NULL, 1, "u", "m", &ack);
    assert_int_equal(idem_get(NULL, 1, "u", "m", &out), 0);
    idem_free(a);
    idem_free(b);
    idem_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_misses),
        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_instances_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
