/*
 * Unit tests for groups in the store (store.h "Groups", schema version 6):
 * create with members, the rules decided in the writer, message sequences
 * (strictly increasing, never reused across a restart, no gap after a
 * refused send), idempotency, membership bounds and read sequences, join
 * requests, recall, transfer and destroy.  Each test gets a fresh mkdtemp
 * directory, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/store/store.h"

#define APP 1400000002

#define STORE_FIXTURE_NAME "groups"
#include "store_fixture.h"

static store_group_op_t op_new(int what, const char *gid, const char *who)
{
    store_group_op_t op;
    memset(&op, 0, sizeof op);
    op.what = what;
    op.app_id = APP;
    snprintf(op.group_id, sizeof op.group_id, "%s", gid);
    snprintf(op.operator_id, sizeof op.operator_id, "%s", who);
    return op;
}

/* Run op; returns its reject code (asserting the transaction went through). */
static int run(store_t *st, store_group_op_t *op)
{
    assert_int_equal(store_group_write_sync(st, op), 0);
    int r = op->reject;
    store_group_op_clear(op);
    return r;
}

static void make_group(store_t *st, const char *gid, int type, const char *owner,
                       const char **members, size_t n)
{
    store_group_member_t m[8];
    int res[8];
    memset(m, 0, sizeof m);
    for (size_t i = 0; i < n; i++)
        snprintf(m[i].member_id, sizeof m[i].member_id, "%s", members[i]);
    store_group_op_t op = op_new(SG_CREATE, gid, owner);
    op.g.group_type = type;
    op.g.apply_join_type = 1;
    op.n = n;
    op.members = m;
    op.results = res;
    assert_int_equal(run(st, &op), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(res[i], 0);
}

static int64_t send(store_t *st, const char *gid, const char *from, const char *mid, int *reject)
{
    store_group_op_t op = op_new(SG_MSG, gid, from);
    snprintf(op.msg.message_id, sizeof op.msg.message_id, "%s", mid);
    op.msg.body = "{\"type\":1}";
    op.msg.message_key = 1;
    *reject = run(st, &op);
    return *reject ? 0 : op.msg.sequence;
}

static void test_create_and_rules(void **state)
{
    fixture_t *f = *state;
    const char *ms[] = {"bob", "carol"};
    make_group(f->st, "g1", 2, "alice", ms, 2);
    store_group_t g;
    assert_int_equal(store_group_get_sync(f->st, APP, "g1", &g), 0);
    assert_string_equal(g.owner_id, "alice");
    assert_int_equal(g.member_count, 3);
    assert_int_equal(g.max_member_count, 2000);
    store_group_member_t *v = NULL;
    size_t n = 0;
    assert_int_equal(store_group_members_sync(f->st, APP, "g1", &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].member_id, "alice");
    assert_int_equal(v[0].role, 2);
    free(v);
    /* an existing id */
    store_group_op_t op = op_new(SG_CREATE, "g1", "bob");
    op.g.group_type = 1;
    assert_int_equal(run(f->st, &op), 40001);
    /* rules: a member cannot mute the public group; the owner cannot leave */
    op = op_new(SG_MUTE, "g1", "bob");
    op.flag = 1;
    assert_int_equal(run(f->st, &op), 40007);
    op = op_new(SG_MEMBER_EXIT, "g1", "alice");
    assert_int_equal(run(f->st, &op), 40020);
    /* transfer, then the old owner may leave */
    op = op_new(SG_TRANSFER, "g1", "alice");
    snprintf(op.target, sizeof op.target, "bob");
    assert_int_equal(run(f->st, &op), 0);
    op = op_new(SG_MEMBER_EXIT, "g1", "alice");
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(store_group_get_sync(f->st, APP, "g1", &g), 0);
    assert_string_equal(g.owner_id, "bob");
    assert_int_equal(g.member_count, 2);
    /* invalid input never reaches the writer */
    op = op_new(SG_MUTE, "", "bob");
    assert_int_equal(store_group_write_sync(f->st, &op), STORE_EINVAL);
    op = op_new(SG_MUTE, "g1", "bob");
    op.flag = 2;
    assert_int_equal(store_group_write_sync(f->st, &op), STORE_EINVAL);
}

static void test_messages_sequences(void **state)
{
    fixture_t *f = *state;
    const char *ms[] = {"bob"};
    make_group(f->st, "g2", 1, "alice", ms, 1);
    int rj;
    assert_int_equal(send(f->st, "g2", "alice", "m1", &rj), 1);
    assert_int_equal(send(f->st, "g2", "bob", "m2", &rj), 2);
    /* refused sends take no number */
    assert_int_equal(send(f->st, "g2", "carol", "m3", &rj), 0);
    assert_int_equal(rj, 40006);
    store_group_op_t op = op_new(SG_MUTE, "g2", "alice");
    op.flag = 1;
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(send(f->st, "g2", "bob", "m4", &rj), 0);
    assert_int_equal(rj, 40012);
    assert_int_equal(send(f->st, "g2", "alice", "m5", &rj), 3);
    /* duplicate */
    op = op_new(SG_MSG, "g2", "alice");
    snprintf(op.msg.message_id, sizeof op.msg.message_id, "m1");
    op.msg.body = "x";
    op.msg.message_key = 1;
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(op.msg.duplicate, 1);
    assert_int_equal(op.msg.sequence, 1);
    /* a restart continues the sequence */
    store_close(f->st);
    f->st = open_store(f);
    assert_int_equal(send(f->st, "g2", "alice", "m6", &rj), 4);
    store_group_msg_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_group_msgs_sync(f->st, APP, "g2", 0, 0, 0, 0, 50, 0, &rows, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].sequence, (int64_t)i + 1);
    assert_true(rows[0].message_key < rows[3].message_key);
    store_group_msg_rows_free(rows, n);
}

static void test_bounds_reads_requests_recall(void **state)
{
    fixture_t *f = *state;
    make_group(f->st, "g3", 2, "alice", NULL, 0);
    int rj;
    send(f->st, "g3", "alice", "a1", &rj);
    send(f->st, "g3", "alice", "a2", &rj);
    /* bob applies (approval), alice approves: joins after sequence 2 */
    store_group_op_t op = op_new(SG_APPLY, "g3", "bob");
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(op.joined, 0);
    int64_t rid = op.request.id;
    op = op_new(SG_DECIDE, "g3", "bob");
    op.id = rid;
    op.flag = 1;
    assert_int_equal(run(f->st, &op), 40006); /* not even a member */
    op = op_new(SG_DECIDE, "g3", "alice");
    op.id = rid;
    op.flag = 1;
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(op.joined, 1);
    store_group_member_t m;
    assert_int_equal(store_group_member_get_sync(f->st, APP, "g3", "bob", &m), 0);
    assert_int_equal(m.join_seq, 2);
    int64_t s3 = send(f->st, "g3", "alice", "a3", &rj);
    assert_int_equal(s3, 3);
    char (*ids)[STORE_ID_MAX + 1] = NULL;
    size_t n = 0;
    assert_int_equal(store_group_readers_sync(f->st, APP, "g3", 2, &ids, &n), 0);
    assert_int_equal(n, 1); /* bob cannot read 2 */
    free(ids);
    assert_int_equal(store_group_readers_sync(f->st, APP, "g3", 3, &ids, &n), 0);
    assert_int_equal(n, 2);
    free(ids);
    /* bob reads up to 99: clamped to 3; the sender of 3 is reported */
    op = op_new(SG_READ, "g3", "bob");
    op.seq = 99;
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(op.changed, 1);
    assert_int_equal(op.member.read_seq, 3);
    assert_string_equal(op.from_id, "alice");
    store_group_msg_row_t *rows = NULL;
    assert_int_equal(store_group_msgs_sync(f->st, APP, "g3", 3, 3, 0, 0, 1, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].read_count, 1);
    int64_t key = rows[0].message_key;
    store_group_msg_rows_free(rows, n);
    /* bob's read sequence (3) is past 2, but he joined after it: not a reader of 2 */
    assert_int_equal(store_group_msgs_sync(f->st, APP, "g3", 1, 2, 0, 0, 10, 0, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].read_count, 0);
    assert_int_equal(rows[1].read_count, 0);
    store_group_msg_rows_free(rows, n);
    /* recall: not the sender, then the sender, then again */
    op = op_new(SG_RECALL, "g3", "bob");
    op.message_key = key;
    op.window_ms = 60000;
    assert_int_equal(run(f->st, &op), 60006);
    op = op_new(SG_RECALL, "g3", "alice");
    op.message_key = key;
    op.window_ms = 60000;
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(op.recalled_seq, 3);
    assert_int_equal(run(f->st, &op), 50005);
    /* destroy: no more sends */
    op = op_new(SG_DESTROY, "g3", "alice");
    assert_int_equal(run(f->st, &op), 0);
    assert_int_equal(send(f->st, "g3", "alice", "a4", &rj), 0);
    assert_int_equal(rj, 40018);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_sequences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_reads_requests_recall, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
