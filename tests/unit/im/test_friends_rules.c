/*
 * Unit tests for the pure friendship and user rules of im/ (friends_rules.c,
 * call.h's operator rule, user_fields.c) and the JSON shared by REST
 * replies and device notifications (friends_json.c): what checkFriend /
 * checkBlack answer, who sees the adder's remark, who may set or see which
 * user field, and the exact text of the pushes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/im/friends.h"
#include "server/im/users.h"

static void assert_json(json_t *o, const char *want)
{
    assert_non_null(o);
    char *t = json_dumps(o, JSON_COMPACT);
    assert_string_equal(t, want);
    free(t);
    json_decref(o);
}

static void test_may_act(void **state)
{
    (void)state;
    assert_true(im_may_act("alice", 0, "alice"));
    assert_false(im_may_act("alice", 0, "bob"));
    assert_false(im_may_act("alice", 0, "alicex"));
    assert_false(im_may_act("alicex", 0, "alice"));
    assert_true(im_may_act("admin", 1, "bob"));
    assert_false(im_may_act(NULL, 0, "bob"));
    assert_false(im_may_act("alice", 0, NULL));
}

static void test_side(void **state)
{
    (void)state;
    store_friend_t f = { .status = 1, .black = 1 };
    /* no row: not a friend, not blacklisted */
    assert_int_equal(friends_side_ok(0, NULL, 0), 0);
    assert_int_equal(friends_side_ok(0, NULL, 1), 1);
    assert_int_equal(friends_side_ok(1, &f, 0), 1);
    assert_int_equal(friends_side_ok(1, &f, 1), 1);
    f.status = 2;
    assert_int_equal(friends_side_ok(1, &f, 0), 0);
    f.status = 0;
    f.black = 2;
    assert_int_equal(friends_side_ok(1, &f, 0), 0);
    assert_int_equal(friends_side_ok(1, &f, 1), 0);
}

static void test_both_status(void **state)
{
    (void)state;
    assert_int_equal(friends_both_status(1, 1), 1);
    assert_int_equal(friends_both_status(1, 0), 2);
    assert_int_equal(friends_both_status(0, 1), 3);
    assert_int_equal(friends_both_status(0, 0), 4);
}

static void test_add_remark_privacy(void **state)
{
    (void)state;
    assert_true(friends_add_shows_remark("alice", "alice"));
    assert_false(friends_add_shows_remark("bob", "alice"));
    assert_json(friends_add_json("alice", "alice", "bob", "my note", "web", "hi", 7),
                "{\"fromId\":\"alice\",\"toId\":\"bob\",\"remark\":\"my note\","
                "\"addSource\":\"web\",\"addWording\":\"hi\",\"sequence\":7}");
    assert_json(friends_add_json("bob", "alice", "bob", "my note", "web", "hi", 3),
                "{\"fromId\":\"alice\",\"toId\":\"bob\",\"addSource\":\"web\","
                "\"addWording\":\"hi\",\"sequence\":3}");
}

static void test_request_json(void **state)
{
    (void)state;
    store_friend_request_t r = { .id = 5, .read_status = 0, .approve_status = 0,
                                 .create_time = 10, .update_time = 11, .sequence = 2 };
    strcpy(r.from_id, "alice");
    strcpy(r.to_id, "vera");
    strcpy(r.remark, "secret");
    strcpy(r.add_source, "s");
    strcpy(r.add_wording, "w");
    assert_json(friends_request_json(9, &r, 0),
                "{\"id\":5,\"appId\":9,\"fromId\":\"alice\",\"toId\":\"vera\",\"readStatus\":0,"
                "\"addSource\":\"s\",\"addWording\":\"w\",\"approveStatus\":0,\"createTime\":10,"
                "\"updateTime\":11,\"sequence\":2}");
    json_t *o = friends_request_json(9, &r, 1);
    assert_string_equal(json_string_value(json_object_get(o, "remark")), "secret");
    json_decref(o);
    r.approve_status = 2;
    assert_json(friends_decision_json(&r), "{\"id\":5,\"status\":2,\"sequence\":2}");
}

static void test_small_json(void **state)
{
    (void)state;
    assert_json(friends_pair_json("a", "b", 4), "{\"fromId\":\"a\",\"toId\":\"b\",\"sequence\":4}");
    assert_json(friends_owner_seq_json("a", 9), "{\"fromId\":\"a\",\"sequence\":9}");
    store_friend_t f = { 0 };
    strcpy(f.remark, "r");
    strcpy(f.extra, "{}");
    assert_json(friends_update_json("a", "b", &f, STORE_FRIEND_F_REMARK | STORE_FRIEND_F_EXTRA, 3),
                "{\"fromId\":\"a\",\"toId\":\"b\",\"remark\":\"r\",\"extra\":\"{}\",\"sequence\":3}");
    const char *ids[] = {"x", "y", "z"};
    int res[] = {0, 30003, 0};
    assert_json(friends_group_note_json("a", "L", 2, 1, ids, res, 3),
                "{\"fromId\":\"a\",\"groupName\":\"L\",\"sequence\":2,\"toIds\":[\"x\",\"z\"]}");
    assert_json(friends_group_note_json("a", "L", 2, 1, NULL, NULL, 0),
                "{\"fromId\":\"a\",\"groupName\":\"L\",\"sequence\":2,\"toIds\":[]}");
    assert_json(friends_group_note_json("a", "L", 2, 0, NULL, NULL, 0),
                "{\"fromId\":\"a\",\"groupName\":\"L\",\"sequence\":2}");
}

static void test_user_fields(void **state)
{
    (void)state;
    store_user_t u;
    users_defaults(&u, 7);
    assert_int_equal(u.friend_allow_type, 1);
    assert_int_equal(u.user_type, 1);
    char err[160];
    json_t *b = json_pack("{s:s, s:i}", "nickName", "N", "userSex", 2);
    long m = users_parse_fields(b, &u, 0, err, sizeof err);
    assert_int_equal(m, STORE_USER_F_NICK_NAME | STORE_USER_F_USER_SEX);
    json_decref(b);
    /* admin-only fields */
    b = json_pack("{s:i}", "forbiddenFlag", 1);
    assert_int_equal(users_parse_fields(b, &u, 0, err, sizeof err), -2);
    assert_int_equal(users_parse_fields(b, &u, 1, err, sizeof err), STORE_USER_F_FORBIDDEN_FLAG);
    json_decref(b);
    b = json_pack("{s:i}", "userSex", 3);
    assert_int_equal(users_parse_fields(b, &u, 1, err, sizeof err), -1);
    json_decref(b);
    assert_int_equal(USERS_F_ADMIN_ONLY & USERS_F_PUBLIC, 0);
    strcpy(u.user_id, "u1");
    assert_json(users_modified_json(&u, STORE_USER_F_USER_SEX | STORE_USER_F_NICK_NAME),
                "{\"userId\":\"u1\",\"nickName\":\"N\",\"userSex\":2}");
    assert_true(users_sees_whole_row("u1", 0, "u1"));
    assert_false(users_sees_whole_row("u2", 0, "u1"));
    assert_true(users_sees_whole_row("admin", 1, "u1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_may_act),
        cmocka_unit_test(test_side),
        cmocka_unit_test(test_both_status),
        cmocka_unit_test(test_add_remark_privacy),
        cmocka_unit_test(test_request_json),
        cmocka_unit_test(test_small_json),
        cmocka_unit_test(test_user_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
