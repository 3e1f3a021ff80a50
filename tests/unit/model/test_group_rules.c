/*
 * Unit tests for the group permission rules (group_rules.h), row by row
 * against the table in docs/API.md "Group permissions", plus the send and
 * apply rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "server/model/group_rules.h"

#define O ROLE_OWNER
#define M ROLE_MANAGER
#define U ROLE_MEMBER
#define L ROLE_LEFT
#define N ROLE_NONE
#define PRI GROUP_PRIVATE
#define PUB GROUP_PUBLIC

typedef struct row {
    int action, type, actor, target, self, new_role, admin, want;
} row_t;

static const row_t ROWS[] = {
    {GA_GET_INFO, PUB, N, N, 0, 0, 0, 0},
    {GA_GET_INFO, PRI, N, N, 0, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_GET_INFO, PRI, L, N, 0, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_GET_INFO, PRI, U, N, 0, 0, 0, 0},
    {GA_UPDATE, PUB, U, N, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_UPDATE, PUB, M, N, 0, 0, 0, 0},
    {GA_UPDATE, PRI, U, N, 0, 0, 0, 0},
    {GA_UPDATE, PRI, N, N, 0, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_MUTE_ALL, PRI, U, N, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_MUTE_ALL, PUB, M, N, 0, 0, 0, 0},
    {GA_DESTROY, PUB, M, N, 0, 0, 0, PETREL_ERR_NEED_OWNER},
    {GA_DESTROY, PRI, O, N, 0, 0, 0, 0},
    {GA_DESTROY, PRI, N, N, 0, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_TRANSFER, PUB, O, U, 0, 0, 0, 0},
    {GA_TRANSFER, PUB, M, U, 0, 0, 0, PETREL_ERR_NEED_OWNER},
    {GA_ADD_MEMBER, PUB, U, N, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_ADD_MEMBER, PUB, M, N, 0, 0, 0, 0},
    {GA_ADD_MEMBER, PRI, U, N, 0, 0, 0, 0},
    {GA_ADD_MEMBER, PRI, L, N, 0, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_REMOVE_MEMBER, PUB, O, M, 0, 0, 0, 0},
    {GA_REMOVE_MEMBER, PUB, O, O, 1, 0, 0, PETREL_ERR_OWNER_NOT_REMOVABLE},
    {GA_REMOVE_MEMBER, PUB, M, U, 0, 0, 0, 0},
    {GA_REMOVE_MEMBER, PUB, M, M, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_REMOVE_MEMBER, PUB, U, U, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_REMOVE_MEMBER, PRI, U, U, 0, 0, 0, PETREL_ERR_NEED_OWNER},
    {GA_REMOVE_MEMBER, PRI, O, U, 0, 0, 0, 0},
    {GA_REMOVE_MEMBER, PUB, O, L, 0, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_SET_ALIAS, PUB, U, U, 1, 0, 0, 0},
    {GA_SET_ALIAS, PUB, O, U, 0, 0, 0, PETREL_ERR_ONLY_SELF},
    {GA_SET_EXTRA, PUB, U, U, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_SET_EXTRA, PUB, M, U, 0, 0, 0, 0},
    {GA_SET_ROLE, PUB, O, U, 0, M, 0, 0},
    {GA_SET_ROLE, PUB, M, U, 0, M, 0, PETREL_ERR_NEED_OWNER},
    {GA_SET_ROLE, PUB, M, M, 0, U, 0, PETREL_ERR_NEED_OWNER},
    {GA_SET_ROLE, PUB, O, O, 1, U, 0, PETREL_ERR_NEED_OWNER},
    {GA_SET_ROLE, PRI, O, U, 0, M, 0, PETREL_ERR_PRIVATE_NO_MANAGER},
    {GA_SPEAK, PUB, U, U, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_SPEAK, PUB, M, U, 0, 0, 0, 0},
    {GA_SPEAK, PUB, M, M, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_SPEAK, PUB, M, O, 0, 0, 0, PETREL_ERR_NOT_ON_OWNER},
    {GA_SPEAK, PUB, O, M, 0, 0, 0, 0},
    {GA_EXIT, PUB, O, O, 1, 0, 0, PETREL_ERR_OWNER_CANNOT_EXIT},
    {GA_EXIT, PUB, U, U, 1, 0, 0, 0},
    {GA_EXIT, PUB, N, N, 1, 0, 0, PETREL_ERR_NOT_MEMBER},
    {GA_LIST_REQUESTS, PUB, U, N, 0, 0, 0, PETREL_ERR_NEED_MANAGER},
    {GA_DECIDE_REQUEST, PUB, M, N, 0, 0, 0, 0},
    /* the app admin */
    {GA_DESTROY, PRI, N, N, 0, 0, 1, 0},
    {GA_REMOVE_MEMBER, PUB, N, O, 0, 0, 1, PETREL_ERR_OWNER_NOT_REMOVABLE},
    {GA_SET_ROLE, PRI, N, U, 0, M, 1, PETREL_ERR_PRIVATE_NO_MANAGER},
    {GA_SPEAK, PUB, N, O, 0, 0, 1, PETREL_ERR_NOT_ON_OWNER},
    {GA_EXIT, PUB, O, O, 1, 0, 1, PETREL_ERR_OWNER_CANNOT_EXIT},
    {GA_ACTION_COUNT, PUB, O, N, 0, 0, 0, PETREL_ERR_NOT_ON_OWNER}, /* unknown action: refused */
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        const row_t *r = &ROWS[i];
        int got = group_rule_check(r->action, r->type, r->actor, r->target, r->self, r->new_role,
                                   r->admin);
        if (got != r->want)
            fail_msg("row %zu (action %d): want %d, got %d", i, r->action, r->want, got);
    }
}

static void test_send(void **state)
{
    (void)state;
    assert_int_equal(group_send_check(U, 0, 0, 1000), 0);
    assert_int_equal(group_send_check(L, 0, 0, 1000), PETREL_ERR_NOT_MEMBER);
    assert_int_equal(group_send_check(N, 0, 0, 1000), PETREL_ERR_NOT_MEMBER);
    assert_int_equal(group_send_check(U, 1, 0, 1000), PETREL_ERR_GROUP_MUTED);
    assert_int_equal(group_send_check(M, 1, 0, 1000), 0);
    assert_int_equal(group_send_check(O, 1, 0, 1000), 0);
    assert_int_equal(group_send_check(U, 0, 1001, 1000), PETREL_ERR_MEMBER_MUTED);
    assert_int_equal(group_send_check(M, 0, 1001, 1000), PETREL_ERR_MEMBER_MUTED);
    assert_int_equal(group_send_check(U, 0, 1000, 1000), 0); /* the time has come */
}

static void test_apply(void **state)
{
    (void)state;
    assert_int_equal(group_apply_outcome(JOIN_FREE, N), 0);
    assert_int_equal(group_apply_outcome(JOIN_FREE, L), 0);
    assert_int_equal(group_apply_outcome(JOIN_APPROVAL, N), 1);
    assert_int_equal(group_apply_outcome(JOIN_NONE, N), -PETREL_ERR_JOIN_REFUSED);
    assert_int_equal(group_apply_outcome(JOIN_APPROVAL, U), -PETREL_ERR_ALREADY_MEMBER);
    assert_int_equal(group_default_max_members(PRI), GROUP_MAX_MEMBERS_PRIVATE);
    assert_int_equal(group_default_max_members(PUB), GROUP_MAX_MEMBERS_PUBLIC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
