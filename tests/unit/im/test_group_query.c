/*
 * Unit tests for the pure part of the group reads (src/server/im/
 * group_query.c): the window of a message read -- a member's bounds
 * (after join_seq; up to leave_seq once left), sync and history in both
 * directions, one message, and the edges (the first message, the largest
 * sequence, a member who left before anything was sent).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>

#include "server/im/group_query.h"
#include "server/model/group_rules.h"

static group_msg_window_t win(int role, int64_t join, int64_t leave, int64_t msg_seq, int mode,
                              int64_t seq, int after)
{
    group_msg_window_t w;
    group_msg_window(role, join, leave, msg_seq, mode, seq, after, &w);
    return w;
}

static void test_member_sync(void **state)
{
    (void)state;
    group_msg_window_t w = win(ROLE_MEMBER, 3, 0, 10, GROUP_MSGS_SYNC, 5, 0);
    assert_int_equal(w.lo, 3);
    assert_int_equal(w.hi, 0);
    assert_int_equal(w.top, 10);
    assert_int_equal(w.from, 6);
    assert_int_equal(w.to, 0);
    assert_false(w.desc);
    assert_false(w.none);
    /* after the largest sequence: nothing (no overflow) */
    w = win(ROLE_MEMBER, 3, 0, 10, GROUP_MSGS_SYNC, INT64_MAX, 0);
    assert_true(w.none);
}

static void test_left_member(void **state)
{
    (void)state;
    group_msg_window_t w = win(ROLE_LEFT, 3, 8, 10, GROUP_MSGS_SYNC, 0, 0);
    assert_int_equal(w.lo, 3);
    assert_int_equal(w.hi, 8);
    assert_int_equal(w.top, 8);
    assert_int_equal(w.from, 1);
    assert_false(w.none);
    /* left before anything new: nothing to read */
    w = win(ROLE_LEFT, 3, 3, 10, GROUP_MSGS_HISTORY, 0, 0);
    assert_int_equal(w.hi, 3);
    assert_int_equal(w.top, 3);
    assert_true(w.none);
    w = win(ROLE_LEFT, 5, 2, 10, GROUP_MSGS_SYNC, 0, 0);
    assert_int_equal(w.hi, 5);
    assert_true(w.none);
}

static void test_admin_history_one(void **state)
{
    (void)state;
    /* the admin (no row): no bounds */
    group_msg_window_t w = win(ROLE_NONE, 99, 99, 10, GROUP_MSGS_HISTORY, 0, 0);
    assert_int_equal(w.lo, 0);
    assert_int_equal(w.hi, 0);
    assert_int_equal(w.top, 10);
    assert_true(w.desc);
    assert_int_equal(w.from, 0);
    assert_int_equal(w.to, 0); /* the newest page */
    assert_false(w.none);
    w = win(ROLE_NONE, 0, 0, 10, GROUP_MSGS_HISTORY, 7, 0);
    assert_true(w.desc);
    assert_int_equal(w.to, 6);
    w = win(ROLE_NONE, 0, 0, 10, GROUP_MSGS_HISTORY, 1, 0);
    assert_true(w.none); /* nothing before the first */
    w = win(ROLE_NONE, 0, 0, 10, GROUP_MSGS_HISTORY, 7, 1);
    assert_false(w.desc);
    assert_int_equal(w.from, 8);
    assert_int_equal(w.to, 0);
    w = win(ROLE_OWNER, 2, 0, 10, GROUP_MSGS_ONE, 7, 0);
    assert_int_equal(w.from, 7);
    assert_int_equal(w.to, 7);
    assert_int_equal(w.lo, 2);
    assert_false(w.none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_sync),
        cmocka_unit_test(test_left_member),
        cmocka_unit_test(test_admin_history_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
