/*
 * Unit tests for the group notifications (src/server/notify/groups.c):
 * for each group event, the command, the exact JSON (field names and
 * order, as devices have always received them) and the recipients.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/proto.h"
#include "server/im/event.h"
#include "server/notify/groups.h"
#include "server/store/store.h"

static char ids[3][STORE_ID_MAX + 1] = {"alice", "bob", "carol"};

static store_group_op_t op_of(int what)
{
    store_group_op_t op;
    memset(&op, 0, sizeof op);
    op.what = what;
    op.app_id = 7;
    snprintf(op.group_id, sizeof op.group_id, "g1");
    snprintf(op.operator_id, sizeof op.operator_id, "alice");
    op.change_seq = 42;
    op.ids = ids;
    op.nids = 3;
    store_group_t *g = &op.group;
    snprintf(g->group_id, sizeof g->group_id, "g1");
    snprintf(g->owner_id, sizeof g->owner_id, "alice");
    g->group_type = 2;
    snprintf(g->group_name, sizeof g->group_name, "G");
    g->apply_join_type = 1;
    g->max_member_count = 2000;
    g->status = 1;
    g->sequence = 42;
    g->msg_seq = 5;
    g->member_count = 3;
    g->create_time = 1000;
    g->update_time = 2000;
    store_group_member_t *m = &op.member;
    snprintf(m->member_id, sizeof m->member_id, "bob");
    snprintf(m->alias, sizeof m->alias, "B");
    m->role = 1;
    m->speak_date = 9000;
    store_group_request_t *r = &op.request;
    r->id = 3;
    snprintf(r->group_id, sizeof r->group_id, "g1");
    snprintf(r->from_id, sizeof r->from_id, "dave");
    snprintf(r->wording, sizeof r->wording, "hi");
    r->status = 1;
    snprintf(r->handler_id, sizeof r->handler_id, "alice");
    r->create_time = 100;
    r->update_time = 200;
    return op;
}

/* The push of kind for op: checks cmd and json, returns the recipients' count. */
static size_t check(ev_kind_t kind, const store_group_op_t *op, const void *extra, int cmd,
                    const char *json)
{
    im_event_t ev = {.kind = kind, .app_id = 7, .actor = "alice", .u.gop = op, .extra = extra};
    notify_push_t p;
    assert_int_equal(notify_group_push(&ev, &p), 1);
    assert_int_equal(p.cmd, cmd);
    assert_string_equal(p.json, json);
    free(p.json);
    return p.n;
}

#define GROUP_JSON                                                                             \
    "{\"groupId\":\"g1\",\"appId\":7,\"ownerId\":\"alice\",\"groupType\":2,\"groupName\":\"G\"," \
    "\"mute\":0,\"applyJoinType\":1,\"photo\":\"\",\"maxMemberCount\":2000,"                    \
    "\"introduction\":\"\",\"notification\":\"\",\"status\":1,\"sequence\":42,"                 \
    "\"messageSequence\":5,\"memberCount\":3,\"createTime\":1000,\"updateTime\":2000,"          \
    "\"extra\":\"\"}"

static void test_group_changes(void **state)
{
    (void)state;
    store_group_op_t op = op_of(SG_CREATE);
    assert_int_equal(check(EV_GROUP_CREATED, &op, NULL, PETREL_CMD_CREATED_GROUP, GROUP_JSON), 3);
    op.what = SG_UPDATE;
    assert_int_equal(check(EV_GROUP_UPDATED, &op, NULL, PETREL_CMD_UPDATED_GROUP, GROUP_JSON), 3);
    op.what = SG_DESTROY;
    check(EV_GROUP_DESTROYED, &op, NULL, PETREL_CMD_DESTROY_GROUP,
          "{\"groupId\":\"g1\",\"sequence\":42,\"status\":2}");
    op.what = SG_TRANSFER;
    check(EV_GROUP_TRANSFERRED, &op, NULL, PETREL_CMD_TRANSFER_GROUP,
          "{\"groupId\":\"g1\",\"ownerId\":\"alice\",\"sequence\":42}");
    op.what = SG_MUTE;
    op.flag = 1;
    check(EV_GROUP_MUTED, &op, NULL, PETREL_CMD_MUTE_GROUP,
          "{\"groupId\":\"g1\",\"mute\":1,\"sequence\":42}");
    op.flag = 0;
    check(EV_GROUP_MUTED, &op, NULL, PETREL_CMD_UNMUTE_GROUP,
          "{\"groupId\":\"g1\",\"mute\":0,\"sequence\":42}");
}

static void test_members(void **state)
{
    (void)state;
    store_group_op_t op = op_of(SG_MEMBER_ADD);
    char joined[2][STORE_ID_MAX + 1] = {"bob", "carol"};
    ev_group_joined_t who = {(const char(*)[STORE_ID_MAX + 1])joined, 2};
    assert_int_equal(check(EV_GROUP_MEMBER_ADDED, &op, &who, PETREL_CMD_ADDED_MEMBER,
                           "{\"groupId\":\"g1\",\"members\":[\"bob\",\"carol\"],\"sequence\":42}"),
                     3);
    op.what = SG_MEMBER_REMOVE;
    check(EV_GROUP_MEMBER_REMOVED, &op, NULL, PETREL_CMD_DELETED_MEMBER,
          "{\"groupId\":\"g1\",\"member\":\"bob\",\"sequence\":42}");
    op.what = SG_MEMBER_EXIT;
    check(EV_GROUP_MEMBER_REMOVED, &op, NULL, PETREL_CMD_EXIT_GROUP,
          "{\"groupId\":\"g1\",\"userId\":\"bob\",\"sequence\":42}");
    const char *member = "{\"groupId\":\"g1\",\"memberId\":\"bob\",\"alias\":\"B\",\"role\":1,"
                         "\"extra\":\"\",\"speakDate\":9000,\"sequence\":42}";
    op.what = SG_MEMBER_UPDATE;
    check(EV_GROUP_MEMBER_UPDATED, &op, NULL, PETREL_CMD_UPDATED_MEMBER, member);
    op.what = SG_MEMBER_SPEAK;
    check(EV_GROUP_MEMBER_MUTED, &op, NULL, PETREL_CMD_SPEAK_GROUP_MEMBER, member);
}

static void test_requests(void **state)
{
    (void)state;
    const char *req = "{\"requestId\":3,\"groupId\":\"g1\",\"fromId\":\"dave\",\"wording\":\"hi\","
                      "\"status\":1,\"handlerId\":\"alice\",\"createTime\":100,"
                      "\"updateTime\":200}";
    store_group_op_t op = op_of(SG_APPLY);
    /* a request goes to the group's deciders (the op's ids) */
    assert_int_equal(check(EV_GROUP_JOIN_REQUEST, &op, NULL, PETREL_CMD_JOIN_GROUP, req), 3);
    /* a decision to the applicant only */
    op.what = SG_DECIDE;
    im_event_t ev = {.kind = EV_GROUP_JOIN_DECIDED, .app_id = 7, .u.gop = &op};
    notify_push_t p;
    assert_int_equal(notify_group_push(&ev, &p), 1);
    assert_int_equal(p.cmd, PETREL_CMD_JOIN_GROUP);
    assert_string_equal(p.json, req);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.ids[0], "dave");
    free(p.json);
}

static void test_other_kinds(void **state)
{
    (void)state;
    store_group_op_t op = op_of(SG_MSG);
    im_event_t ev = {.kind = EV_GROUP_MSG_STORED, .app_id = 7, .u.gop = &op};
    notify_push_t p;
    assert_int_equal(notify_group_push(&ev, &p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_changes),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_other_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
