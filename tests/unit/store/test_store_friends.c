/*
 * Unit tests for friendship in the store (store.h, schema version 4):
 * adding with and without verification, requests (refresh, approve,
 * reject, read), update, delete of both directions, delete-all, the
 * blacklist, friend lists and their membership rule, the message checks
 * (store_msg_t.flags), per-user sequences (strictly increasing, no gap
 * after a failed op), the sync reads and import, and the user status of
 * schema version 5 (custom status, status peers).  Each test gets a fresh
 * mkdtemp directory, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/store/store.h"

#define APP 1400000002

#define STORE_FIXTURE_NAME "friends"
#include "store_fixture.h"

static sqlite3 *raw_open(fixture_t *f)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int plan_uses(sqlite3 *db, const char *sql, const char *needle)
{
    char eqp[1024];
    snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &q, NULL), SQLITE_OK);
    int found = 0, scan = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(q, 3);
        found |= d && strstr(d, needle) != NULL;
        scan |= d && strncmp(d, "SCAN", 4) == 0;
    }
    sqlite3_finalize(q);
    return found && !scan;
}

static int member_sync(store_t *st, const char *list, const char **ids, size_t n, int add,
                       int *res, store_friend_res_t *r)
{
    return store_friend_group_member_sync(st, APP, "alice", list, ids, n, add, res, r);
}

static store_friend_t item(const char *from, const char *to, const char *remark)
{
    store_friend_t f;
    memset(&f, 0, sizeof f);
    snprintf(f.from_id, sizeof f.from_id, "%s", from);
    snprintf(f.to_id, sizeof f.to_id, "%s", to);
    snprintf(f.remark, sizeof f.remark, "%s", remark);
    snprintf(f.add_source, sizeof f.add_source, "search");
    f.status = 1;
    f.black = 1;
    return f;
}

static store_friend_res_t add(store_t *st, const char *from, const char *to)
{
    store_friend_t f = item(from, to, "r");
    store_friend_res_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(store_friend_add_sync(st, APP, &f, "hi", &r), 0);
    return r;
}

static store_friend_t row(store_t *st, const char *from, const char *to)
{
    store_friend_t f;
    assert_int_equal(store_friend_get_sync(st, APP, from, to, &f), 0);
    return f;
}

static int status_of(store_t *st, const char *from, const char *to)
{
    store_friend_t f;
    int rc = store_friend_get_sync(st, APP, from, to, &f);
    if (rc == STORE_ENOTFOUND)
        return -1;
    assert_int_equal(rc, 0);
    return f.status;
}

static int64_t fseq(store_t *st, const char *user)
{
    int64_t a, b, c;
    assert_int_equal(store_friend_seqs_sync(st, APP, user, &a, &b, &c), 0);
    return a;
}

static int send_reject(store_t *st, const char *from, const char *to, unsigned flags)
{
    static int n;
    char mid[32];
    snprintf(mid, sizeof mid, "m%d", ++n);
    store_msg_t m;
    memset(&m, 0, sizeof m);
    m.app_id = APP;
    snprintf(m.from_id, sizeof m.from_id, "%s", from);
    snprintf(m.to_id, sizeof m.to_id, "%s", to);
    snprintf(m.message_id, sizeof m.message_id, "%s", mid);
    m.body = "{}";
    m.message_key = 1000 + n;
    m.flags = flags;
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    return m.reject;
}

/* ------------------------------------------------------------------ */

static void test_schema_v4(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(store_schema_version(f->st), 8);
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                 "name IN ('im_friendship', 'im_friendship_request', "
                                 "'im_friend_group', 'im_friend_group_member')"), 4);
    assert_true(plan_uses(db, "SELECT * FROM im_friendship WHERE app_id = 1 AND from_id = 'a' "
                              "AND friend_sequence > 3 ORDER BY friend_sequence LIMIT 9",
                          "im_friendship_seq"));
    assert_true(plan_uses(db, "SELECT max(friend_sequence) FROM im_friendship WHERE app_id = 1 "
                              "AND from_id = 'a'", "im_friendship_seq"));
    assert_true(plan_uses(db, "SELECT * FROM im_friendship_request WHERE app_id = 1 AND "
                              "to_id = 'a' AND sequence > 3 ORDER BY sequence LIMIT 9",
                          "im_friendship_request_seq"));
    assert_true(plan_uses(db, "SELECT id FROM im_friendship_request WHERE app_id = 1 AND "
                              "from_id = 'a' AND to_id = 'b' AND approve_status = 0",
                          "im_friendship_request_pending"));
    assert_true(plan_uses(db, "SELECT * FROM im_friend_group WHERE app_id = 1 AND "
                              "owner_id = 'a' AND sequence > 3 ORDER BY sequence LIMIT 9",
                          "im_friend_group_seq"));
    /* one pending request per pair; decided ones may repeat */
    raw_exec(db, "INSERT INTO im_friendship_request(app_id, from_id, to_id, create_time, "
                 "update_time, sequence) VALUES(1, 'a', 'b', 1, 1, 1)");
    assert_int_not_equal(sqlite3_exec(db, "INSERT INTO im_friendship_request(app_id, from_id, "
                                          "to_id, create_time, update_time, sequence) "
                                          "VALUES(1, 'a', 'b', 1, 1, 2)", NULL, NULL, NULL),
                         SQLITE_OK);
    raw_exec(db, "UPDATE im_friendship_request SET approve_status = 2");
    raw_exec(db, "INSERT INTO im_friendship_request(app_id, from_id, to_id, create_time, "
                 "update_time, sequence) VALUES(1, 'a', 'b', 1, 1, 2)");
    /* a list's members are keyed (group_id, to_id): more than one member */
    raw_exec(db, "INSERT INTO im_friend_group(app_id, owner_id, name, sequence, create_time, "
                 "update_time) VALUES(1, 'a', 'g', 1, 1, 1)");
    raw_exec(db, "INSERT INTO im_friend_group_member VALUES(last_insert_rowid(), 'b'), "
                 "((SELECT max(id) FROM im_friend_group), 'c')");
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_friend_group_member"), 2);
    assert_int_not_equal(sqlite3_exec(db, "INSERT INTO im_friendship(app_id, from_id, to_id, "
                                          "friend_sequence, create_time) VALUES(1,'a','a',1,1)",
                                      NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_add_without_verification(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    store_friend_res_t r = add(st, "alice", "bob");
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.added, 1);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.peer_seq, 1);
    store_friend_t ab = row(st, "alice", "bob"), ba = row(st, "bob", "alice");
    assert_int_equal(ab.status, 1);
    assert_int_equal(ba.status, 1);
    assert_string_equal(ab.remark, "r");
    assert_string_equal(ba.remark, "");
    assert_string_equal(ba.add_source, "search");
    assert_string_equal(ab.nick_name, "Nick bob");
    assert_int_equal(ab.black, 1);
    assert_true(ab.create_time > 0);

    assert_int_equal(add(st, "alice", "bob").reject, PETREL_ERR_ALREADY_FRIEND);
    assert_int_equal(add(st, "bob", "alice").reject, PETREL_ERR_ALREADY_FRIEND);
    assert_int_equal(add(st, "alice", "nobody").reject, PETREL_ERR_USER_NOT_FOUND);
    assert_int_equal(add(st, "nobody", "alice").reject, PETREL_ERR_USER_NOT_FOUND);
    store_friend_t self = item("alice", "alice", "");
    store_friend_res_t rr;
    assert_int_equal(store_friend_add_sync(st, APP, &self, NULL, &rr), STORE_EINVAL);

    /* a deleted user cannot be added */
    const char *gone[] = {"dave"};
    int res[1];
    assert_int_equal(store_user_delete_sync(st, APP, gone, 1, res), 0);
    assert_int_equal(add(st, "alice", "dave").reject, PETREL_ERR_USER_NOT_FOUND);

    /* the second friend takes alice's next sequence */
    r = add(st, "alice", "carol");
    assert_int_equal(r.seq, 2);
    assert_int_equal(r.peer_seq, 1);
    assert_int_equal(fseq(st, "alice"), 2);
}

static void test_requests(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    store_friend_res_t r = add(st, "alice", "vera");
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.added, 0);
    assert_int_equal(r.seq, 1);
    assert_true(r.request.id > 0);
    assert_string_equal(r.request.from_id, "alice");
    assert_string_equal(r.request.to_id, "vera");
    assert_string_equal(r.request.add_wording, "hi");
    assert_int_equal(r.request.approve_status, 0);
    assert_int_equal(r.request.read_status, 0);
    assert_int_equal(status_of(st, "alice", "vera"), -1);
    int64_t id = r.request.id;

    /* asking again refreshes the same pending request */
    store_friend_res_t r2 = add(st, "alice", "vera");
    assert_int_equal(r2.request.id, id);
    assert_int_equal(r2.seq, 2);
    add(st, "bob", "vera");

    store_friend_request_t *rows = NULL;
    size_t n = 0;
    int64_t max = 0;
    assert_int_equal(store_friend_request_list_sync(st, APP, "vera", 0, 100, &rows, &n, &max), 0);
    assert_int_equal(n, 2);
    assert_int_equal(max, 3);
    assert_int_equal(rows[0].sequence, 2);
    assert_string_equal(rows[0].from_id, "alice");
    assert_int_equal(rows[1].sequence, 3);
    free(rows);
    assert_int_equal(store_friend_request_list_sync(st, APP, "vera", 2, 100, &rows, &n, &max), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].from_id, "bob");
    free(rows);

    /* read: both, each taking a sequence */
    store_friend_res_t rd;
    assert_int_equal(store_friend_request_read_sync(st, APP, "vera", &rd), 0);
    assert_int_equal(rd.seq, 5);
    assert_int_equal(store_friend_request_read_sync(st, APP, "vera", &rd), 0);
    assert_int_equal(rd.seq, 0);

    /* approve: rules in order */
    store_friend_res_t ap;
    assert_int_equal(store_friend_request_approve_sync(st, APP, "vera", 0, 9999, 1, &ap), 0);
    assert_int_equal(ap.reject, PETREL_ERR_REQUEST_NOT_FOUND);
    assert_int_equal(store_friend_request_approve_sync(st, APP, "alice", 0, id, 1, &ap), 0);
    assert_int_equal(ap.reject, PETREL_ERR_NOT_ADDRESSEE);
    assert_int_equal(store_friend_request_approve_sync(st, APP, "vera", 0, id, 3, &ap),
                     STORE_EINVAL);
    assert_int_equal(store_friend_request_approve_sync(st, APP, "vera", 0, id, 1, &ap), 0);
    assert_int_equal(ap.reject, 0);
    assert_int_equal(ap.request.approve_status, 1);
    assert_int_equal(ap.request.sequence, 6);
    assert_int_equal(ap.seq, 1);      /* vera's friendship sequence */
    assert_int_equal(ap.peer_seq, 1); /* alice's */
    assert_int_equal(status_of(st, "alice", "vera"), 1);
    assert_int_equal(status_of(st, "vera", "alice"), 1);
    assert_string_equal(row(st, "alice", "vera").remark, "r");
    assert_int_equal(store_friend_request_approve_sync(st, APP, "vera", 0, id, 1, &ap), 0);
    assert_int_equal(ap.reject, PETREL_ERR_REQUEST_HANDLED);

    /* reject bob's; the admin may decide for anyone */
    int64_t bob_id = 0;
    assert_int_equal(store_friend_request_list_sync(st, APP, "vera", 0, 100, &rows, &n, &max), 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].from_id, "bob"))
            bob_id = rows[i].id;
    free(rows);
    assert_int_equal(store_friend_request_approve_sync(st, APP, "admin", 1, bob_id, 2, &ap), 0);
    assert_int_equal(ap.reject, 0);
    assert_int_equal(ap.request.approve_status, 2);
    assert_int_equal(ap.seq, 0);
    assert_int_equal(status_of(st, "bob", "vera"), -1);
    /* after a rejection a new request is a new row */
    store_friend_res_t again = add(st, "bob", "vera");
    assert_int_not_equal(again.request.id, bob_id);
    assert_int_equal(again.request.approve_status, 0);

    int64_t a, b, c;
    assert_int_equal(store_friend_seqs_sync(st, APP, "vera", &a, &b, &c), 0);
    assert_int_equal(a, 1);
    assert_int_equal(b, 8);
    assert_int_equal(c, 0);
}

static void test_update_and_delete(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    store_friend_res_t r;
    store_friend_t f = item("alice", "bob", "best");
    assert_int_equal(store_friend_update_sync(st, APP, &f, STORE_FRIEND_F_REMARK, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_NOT_FRIEND);
    add(st, "alice", "bob");
    snprintf(f.extra, sizeof f.extra, "{\"x\":1}");
    assert_int_equal(store_friend_update_sync(st, APP, &f, 0, &r), STORE_EINVAL);
    assert_int_equal(store_friend_update_sync(st, APP, &f,
                                              STORE_FRIEND_F_REMARK | STORE_FRIEND_F_EXTRA, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.seq, 2);
    store_friend_t ab = row(st, "alice", "bob");
    assert_string_equal(ab.remark, "best");
    assert_string_equal(ab.extra, "{\"x\":1}");
    assert_int_equal(ab.friend_sequence, 2);

    /* delete ends both directions */
    assert_int_equal(store_friend_delete_sync(st, APP, "alice", "carol", &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_NOT_FRIEND);
    assert_int_equal(store_friend_delete_sync(st, APP, "bob", "alice", &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.seq, 2);      /* bob's */
    assert_int_equal(r.peer_seq, 3); /* alice's */
    assert_int_equal(status_of(st, "alice", "bob"), 2);
    assert_int_equal(status_of(st, "bob", "alice"), 2);
    assert_int_equal(store_friend_delete_sync(st, APP, "alice", "bob", &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_FRIEND_DELETED);
    assert_int_equal(store_friend_update_sync(st, APP, &f, STORE_FRIEND_F_REMARK, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_NOT_FRIEND);

    /* friends again: the remark of the new request */
    r = add(st, "bob", "alice");
    assert_int_equal(r.added, 1);
    assert_int_equal(status_of(st, "alice", "bob"), 1);
    assert_string_equal(row(st, "bob", "alice").remark, "r");
    assert_string_equal(row(st, "alice", "bob").remark, "best"); /* kept */
}

static void test_delete_all(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    store_friend_res_t r;
    assert_int_equal(store_friend_delete_all_sync(st, APP, "alice", &r), 0);
    assert_int_equal(r.npeers, 0);
    assert_null(r.peers);
    assert_int_equal(r.seq, 0);
    add(st, "alice", "bob");
    add(st, "carol", "alice");
    add(st, "bob", "carol");
    assert_int_equal(store_friend_delete_all_sync(st, APP, "alice", &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.npeers, 2);
    assert_string_equal(r.peers[0].id, "bob");
    assert_string_equal(r.peers[1].id, "carol");
    assert_int_equal(r.peers[0].seq, 3); /* bob: alice 1, carol 2, now 3 */
    assert_int_equal(r.peers[1].seq, 3);
    assert_int_equal(r.seq, 4);
    free(r.peers);
    assert_int_equal(status_of(st, "alice", "bob"), 2);
    assert_int_equal(status_of(st, "carol", "alice"), 2);
    assert_int_equal(status_of(st, "bob", "carol"), 1);
    store_friend_t *all = NULL;
    size_t n = 1;
    assert_int_equal(store_friend_all_sync(st, APP, "alice", &all, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_friend_all_sync(st, APP, "bob", &all, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].to_id, "carol");
    assert_string_equal(all[0].nick_name, "Nick carol");
    free(all);
}

static void test_blacklist_and_messages(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    const unsigned both = STORE_MSG_CHECK_FRIEND | STORE_MSG_CHECK_BLACK;
    /* not friends */
    assert_int_equal(send_reject(st, "alice", "bob", 0), 0);
    assert_int_equal(send_reject(st, "alice", "bob", STORE_MSG_CHECK_BLACK), 0);
    assert_int_equal(send_reject(st, "alice", "bob", STORE_MSG_CHECK_FRIEND),
                     PETREL_ERR_NOT_FRIEND);
    add(st, "alice", "bob");
    assert_int_equal(send_reject(st, "alice", "bob", both), 0);

    store_friend_res_t r;
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 1, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_NOT_BLACKED);
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "nobody", 2, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_USER_NOT_FOUND);
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 3, &r), STORE_EINVAL);
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 2, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.seq, 2);
    store_friend_t ab = row(st, "alice", "bob");
    assert_int_equal(ab.black, 2);
    assert_int_equal(ab.status, 1);
    assert_int_equal(ab.black_sequence, 2);
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 2, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_BLACKED_BY_YOU);

    /* each direction its own code; off means off */
    assert_int_equal(send_reject(st, "alice", "bob", both), PETREL_ERR_BLACKED_BY_YOU);
    assert_int_equal(send_reject(st, "bob", "alice", both), PETREL_ERR_BLACKED_BY_PEER);
    assert_int_equal(send_reject(st, "bob", "alice", STORE_MSG_CHECK_FRIEND), 0);
    assert_int_equal(send_reject(st, "bob", "alice", 0), 0);

    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 1, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(row(st, "alice", "bob").black, 1);
    assert_int_equal(row(st, "alice", "bob").black_sequence, 3);
    assert_int_equal(send_reject(st, "bob", "alice", both), 0);

    /* a blacklist-only row: status 0, no friendship */
    assert_int_equal(store_friend_black_sync(st, APP, "carol", "dave", 2, &r), 0);
    store_friend_t cd = row(st, "carol", "dave");
    assert_int_equal(cd.status, 0);
    assert_int_equal(cd.black, 2);
    assert_int_equal(send_reject(st, "dave", "carol", STORE_MSG_CHECK_BLACK),
                     PETREL_ERR_BLACKED_BY_PEER);
    assert_int_equal(store_friend_delete_sync(st, APP, "carol", "dave", &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_NOT_FRIEND);
    /* a blacklist either way stops a friendship (issue 14 item 3) */
    assert_int_equal(add(st, "carol", "dave").reject, PETREL_ERR_BLACKED_BY_YOU);
    assert_int_equal(add(st, "dave", "carol").reject, PETREL_ERR_BLACKED_BY_PEER);
    assert_int_equal(row(st, "carol", "dave").status, 0);
    assert_int_equal(status_of(st, "dave", "carol"), -1);
    /* store_msg_t.flags are validated */
    store_msg_t m;
    memset(&m, 0, sizeof m);
    m.app_id = APP;
    snprintf(m.from_id, sizeof m.from_id, "a");
    snprintf(m.to_id, sizeof m.to_id, "b");
    snprintf(m.message_id, sizeof m.message_id, "x");
    m.body = "{}";
    m.message_key = 5;
    m.flags = 4;
    assert_int_equal(store_msg_p2p_sync(st, &m), STORE_EINVAL);
}

static void test_friend_lists(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    add(st, "alice", "bob");
    add(st, "alice", "carol");
    const char *members[] = {"bob", "dave", "carol", "nobody"};
    int res[4];
    store_friend_res_t r;
    assert_int_equal(store_friend_group_add_sync(st, APP, "alice", "work", members, 4, res, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_true(r.group_id > 0);
    assert_int_equal(r.seq, 1);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], PETREL_ERR_NOT_FRIEND);
    assert_int_equal(res[2], 0);
    assert_int_equal(res[3], PETREL_ERR_NOT_FRIEND);
    assert_int_equal(store_friend_group_add_sync(st, APP, "alice", "work", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_FRIEND_LIST_EXISTS);
    assert_int_equal(store_friend_group_add_sync(st, APP, "alice", "", NULL, 0, NULL, &r),
                     STORE_EINVAL);
    assert_int_equal(store_friend_group_add_sync(st, APP, "alice", "empty", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.seq, 2);
    /* another owner may use the name */
    assert_int_equal(store_friend_group_add_sync(st, APP, "bob", "work", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.seq, 1);

    /* members: add is idempotent, del reports non-members */
    const char *m2[] = {"bob", "dave"};
    int res2[2];
    assert_int_equal(member_sync(st, "work", m2, 2, 1, res2, &r), 0);
    assert_int_equal(res2[0], 0);
    assert_int_equal(res2[1], PETREL_ERR_NOT_FRIEND);
    assert_int_equal(r.seq, 0); /* nothing changed */
    assert_int_equal(member_sync(st, "nope", m2, 2, 1, res2, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_FRIEND_LIST_NOT_FOUND);
    assert_int_equal(res2[0], PETREL_ERR_FRIEND_LIST_NOT_FOUND);
    assert_int_equal(member_sync(st, "work", m2, 2, 0, res2, &r), 0);
    assert_int_equal(res2[0], 0);
    assert_int_equal(res2[1], STORE_ENOTFOUND);
    assert_int_equal(r.seq, 3);
    const char *m3[] = {"bob"};
    assert_int_equal(member_sync(st, "empty", m3, 1, 1, res2, &r), 0);
    assert_int_equal(r.seq, 4);

    store_friend_group_t *g = NULL;
    size_t n = 0;
    int64_t max = 0;
    assert_int_equal(store_friend_group_list_sync(st, APP, "alice", 0, 100, &g, &n, &max), 0);
    assert_int_equal(n, 2);
    assert_int_equal(max, 4);
    assert_string_equal(g[0].name, "work");
    assert_int_equal(g[0].sequence, 3);
    assert_int_equal(g[0].nmembers, 1);
    assert_string_equal(g[0].members[0], "carol");
    assert_string_equal(g[1].name, "empty");
    assert_int_equal(g[1].nmembers, 1);
    assert_string_equal(g[1].members[0], "bob");
    store_friend_groups_free(g, n);

    /* deleting the friendship takes bob out of alice's lists (and alice's
     * out of bob's), each list taking a sequence */
    assert_int_equal(store_friend_delete_sync(st, APP, "alice", "bob", &r), 0);
    assert_int_equal(store_friend_group_list_sync(st, APP, "alice", 4, 100, &g, &n, &max), 0);
    assert_int_equal(n, 1);
    assert_string_equal(g[0].name, "empty");
    assert_int_equal(g[0].nmembers, 0);
    assert_null(g[0].members);
    assert_int_equal(max, 5);
    store_friend_groups_free(g, n);

    /* delete lists: per-name results and sequences; the name is free again */
    const char *names[] = {"work", "nope", "empty"};
    int dres[3];
    int64_t seqs[3];
    assert_int_equal(store_friend_group_del_sync(st, APP, "alice", names, 3, dres, seqs), 0);
    assert_int_equal(dres[0], 0);
    assert_int_equal(dres[1], PETREL_ERR_FRIEND_LIST_NOT_FOUND);
    assert_int_equal(dres[2], 0);
    assert_int_equal(seqs[0], 6);
    assert_int_equal(seqs[1], 0);
    assert_int_equal(seqs[2], 7);
    assert_int_equal(store_friend_group_del_sync(st, APP, "alice", names, 1, dres, seqs), 0);
    assert_int_equal(dres[0], PETREL_ERR_FRIEND_LIST_NOT_FOUND);
    assert_int_equal(store_friend_group_list_sync(st, APP, "alice", 5, 100, &g, &n, &max), 0);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].del_flag, 1);
    assert_int_equal(g[0].nmembers, 0);
    store_friend_groups_free(g, n);
    assert_int_equal(store_friend_group_add_sync(st, APP, "alice", "work", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(r.seq, 8);
    int64_t a, b, c;
    assert_int_equal(store_friend_seqs_sync(st, APP, "alice", &a, &b, &c), 0);
    assert_int_equal(c, 8);
}

/* A failed op takes no number: the next op gets the one it would have. */
static void test_failed_op_no_gap(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    add(st, "alice", "bob");
    add(st, "alice", "carol");
    sqlite3 *db = raw_open(f);
    raw_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON im_friend_group_member "
                 "WHEN NEW.to_id = 'carol' BEGIN SELECT RAISE(ABORT, 'injected'); END");
    sqlite3_close(db);
    const char *members[] = {"bob", "carol"};
    int res[2];
    store_friend_res_t r;
    int rc = store_friend_group_add_sync(st, APP, "alice", "g", members, 2, res, &r);
    assert_int_not_equal(rc, 0);
    assert_int_equal(res[0], rc);
    assert_int_equal(res[1], rc);
    db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_friend_group"), 0);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_friend_group_member"), 0);
    raw_exec(db, "DROP TRIGGER boom");
    sqlite3_close(db);
    assert_int_equal(store_friend_group_add_sync(st, APP, "alice", "g", members, 2, res, &r), 0);
    assert_int_equal(r.seq, 1);
    assert_int_equal(res[1], 0);

    /* same for a friendship op failing half-way (after its first row) */
    db = raw_open(f);
    raw_exec(db, "CREATE TRIGGER boom2 BEFORE UPDATE ON im_friendship "
                 "WHEN NEW.from_id = 'carol' AND NEW.status = 2 "
                 "BEGIN SELECT RAISE(ABORT, 'injected'); END");
    sqlite3_close(db);
    assert_int_not_equal(store_friend_delete_sync(st, APP, "alice", "carol", &r), 0);
    assert_int_equal(status_of(st, "alice", "carol"), 1);
    assert_int_equal(fseq(st, "alice"), 2);
    db = raw_open(f);
    raw_exec(db, "DROP TRIGGER boom2");
    sqlite3_close(db);
    assert_int_equal(store_friend_delete_sync(st, APP, "alice", "carol", &r), 0);
    assert_int_equal(r.seq, 3);
    assert_int_equal(r.peer_seq, 2);
}

static void test_sync_and_import(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    store_friend_t items[5] = {
        item("alice", "bob", "b"), item("alice", "carol", "c"), item("alice", "nobody", "n"),
        item("alice", "alice", "self"), item("alice", "dave", "d"),
    };
    items[1].status = 2;
    items[4].black = 2;
    int res[5];
    int64_t seqs[5];
    store_friend_res_t r;
    assert_int_equal(store_friend_import_sync(st, APP, "alice", items, 5, res, seqs, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], 0);
    assert_int_equal(res[2], STORE_ENOTFOUND);
    assert_int_equal(res[3], STORE_EINVAL);
    assert_int_equal(res[4], 0);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(seqs[4], 3);
    /* one direction only */
    assert_int_equal(status_of(st, "bob", "alice"), -1);
    assert_int_equal(row(st, "alice", "dave").black_sequence, 3);
    /* a live row is a conflict; a deleted one is overwritten */
    items[1].status = 1;
    assert_int_equal(store_friend_import_sync(st, APP, "alice", items, 2, res, NULL, &r), 0);
    assert_int_equal(res[0], STORE_ECONFLICT);
    assert_int_equal(res[1], 0);
    assert_int_equal(status_of(st, "alice", "carol"), 1);
    assert_int_equal(store_friend_import_sync(st, APP, "nobody", items, 1, res, NULL, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_USER_NOT_FOUND);
    assert_int_equal(res[0], PETREL_ERR_USER_NOT_FOUND);

    /* incremental sync pages by sequence, every status included */
    add(st, "alice", "vera"); /* a request: alice's rows unchanged */
    store_friend_t *rows = NULL;
    size_t n = 0;
    int64_t max = 0;
    assert_int_equal(store_friend_list_sync(st, APP, "alice", 0, 2, &rows, &n, &max), 0);
    assert_int_equal(n, 2);
    assert_int_equal(max, 4);
    assert_int_equal(rows[0].friend_sequence, 1);
    assert_int_equal(rows[1].friend_sequence, 3);
    assert_string_equal(rows[1].to_id, "dave");
    assert_int_equal(rows[1].status, 1);
    assert_int_equal(rows[1].black, 2);
    free(rows);
    assert_int_equal(store_friend_list_sync(st, APP, "alice", 3, 2, &rows, &n, &max), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].to_id, "carol");
    assert_int_equal(rows[0].friend_sequence, 4);
    free(rows);
    assert_int_equal(store_friend_list_sync(st, APP, "alice", 4, 1000, &rows, &n, &max), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    assert_int_equal(store_friend_get_sync(st, APP, "bob", "alice", &items[0]), STORE_ENOTFOUND);
    int64_t a = -1, b = -1, c = -1;
    assert_int_equal(store_friend_seqs_sync(st, APP, "nobody", &a, &b, &c), 0);
    assert_int_equal(a + b + c, 0);
}

/* Schema version 5: custom status, status peers, the blacklist read. */
/* Issue 14 item 3: a blacklist and disableAddFriend stop adds, requests
 * and approvals; nothing is written. */
static void test_add_rules(void **state)
{
    store_t *st = ((fixture_t *)*state)->st;
    store_friend_res_t r;
    /* vera needs verification: alice's request, then vera blacklists alice */
    r = add(st, "alice", "vera");
    assert_int_equal(r.reject, 0);
    int64_t id = r.request.id;
    int64_t vseq = 0, vseq0 = 0, a, b;
    assert_int_equal(store_friend_seqs_sync(st, APP, "vera", &a, &vseq0, &b), 0);
    assert_int_equal(store_friend_black_sync(st, APP, "vera", "alice", 2, &r), 0);
    assert_int_equal(r.reject, 0);
    /* the blacklist rejected alice's pending request in the same
     * transaction: vera's request sequence moved once, for that */
    assert_int_equal(store_friend_seqs_sync(st, APP, "vera", &a, &vseq, &b), 0);
    assert_true(vseq > vseq0);
    /* a new request (refresh) is refused, and nothing moves */
    assert_int_equal(add(st, "alice", "vera").reject, PETREL_ERR_BLACKED_BY_PEER);
    int64_t vseq2 = 0;
    assert_int_equal(store_friend_seqs_sync(st, APP, "vera", &a, &vseq2, &b), 0);
    assert_int_equal(vseq2, vseq);
    /* approving the old request is refused: it was decided by the blacklist */
    assert_int_equal(store_friend_request_approve_sync(st, APP, "vera", 0, id, 1, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_REQUEST_HANDLED);
    assert_int_equal(status_of(st, "alice", "vera"), -1);
    assert_int_equal(status_of(st, "vera", "alice"), 0);

    /* no verification (bob), blacklisted by the adder: refused */
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 2, &r), 0);
    assert_int_equal(add(st, "alice", "bob").reject, PETREL_ERR_BLACKED_BY_YOU);
    assert_int_equal(add(st, "bob", "alice").reject, PETREL_ERR_BLACKED_BY_PEER);
    assert_int_equal(status_of(st, "bob", "alice"), -1);
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "bob", 1, &r), 0);
    assert_int_equal(add(st, "bob", "alice").reject, 0);
    assert_int_equal(status_of(st, "alice", "bob"), 1);

    /* disableAddFriend: no friendship and no request */
    store_user_t u;
    memset(&u, 0, sizeof u);
    u.app_id = APP;
    snprintf(u.user_id, sizeof u.user_id, "carol");
    u.disable_add_friend = 1;
    assert_int_equal(store_user_update_sync(st, &u, STORE_USER_F_DISABLE_ADD_FRIEND), 0);
    assert_int_equal(add(st, "dave", "carol").reject, PETREL_ERR_ADD_FRIEND_DISABLED);
    assert_int_equal(status_of(st, "dave", "carol"), -1);
    assert_int_equal(status_of(st, "carol", "dave"), -1);
    /* carol may still add others */
    assert_int_equal(add(st, "carol", "dave").reject, 0);
    assert_int_equal(status_of(st, "carol", "dave"), 1);
}

static void test_user_status(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    assert_int_equal(store_user_status_set_sync(st, APP, "alice", "busy", 3), 0);
    assert_int_equal(store_user_status_set_sync(st, APP, "alice", "meeting", -2), 0);
    assert_int_equal(store_user_status_set_sync(st, APP, "nobody", "x", 1), STORE_ENOTFOUND);
    char big[STORE_STATUS_TEXT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(store_user_status_set_sync(st, APP, "alice", big, 1), STORE_EINVAL);
    big[STORE_STATUS_TEXT_MAX] = '\0';
    assert_int_equal(store_user_status_set_sync(st, APP, "bob", big, 1), 0);

    const char *ids[] = {"alice", "carol", "", "bob", "alice"};
    store_user_status_t out[5];
    assert_int_equal(store_user_status_get_sync(st, APP, ids, 5, out), 0);
    assert_string_equal(out[0].user_id, "alice");
    assert_string_equal(out[0].custom_text, "meeting");
    assert_int_equal(out[0].custom_status, -2);
    assert_true(out[0].updated_at > 0);
    assert_string_equal(out[1].user_id, "carol");
    assert_string_equal(out[1].custom_text, "");
    assert_int_equal(out[1].custom_status + (int)out[1].updated_at, 0);
    assert_string_equal(out[2].custom_text, "");
    assert_string_equal(out[3].user_id, "bob");
    assert_int_equal(strlen(out[3].custom_text), STORE_STATUS_TEXT_MAX);
    assert_string_equal(out[4].custom_text, "meeting");

    /* peers: both directions live, no blacklist on either side */
    add(st, "alice", "bob");
    add(st, "alice", "carol");
    add(st, "alice", "dave");
    store_friend_res_t r;
    assert_int_equal(store_friend_black_sync(st, APP, "dave", "alice", 2, &r), 0);
    assert_int_equal(store_friend_black_sync(st, APP, "alice", "vera", 2, &r), 0);
    /* vera -> alice only (one direction) is not a peer either */
    store_friend_t one = item("vera", "alice", "");
    int res;
    assert_int_equal(store_friend_import_sync(st, APP, "vera", &one, 1, &res, NULL, &r), 0);
    assert_int_equal(res, 0);
    assert_int_equal(store_friend_delete_sync(st, APP, "carol", "alice", &r), 0);

    store_user_status_t *peers = NULL;
    size_t n = 0;
    assert_int_equal(store_friend_status_peers_sync(st, APP, "alice", &peers, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(peers[0].user_id, "bob");
    assert_int_equal(strlen(peers[0].custom_text), STORE_STATUS_TEXT_MAX);
    free(peers);
    assert_int_equal(store_friend_status_peers_sync(st, APP, "bob", &peers, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(peers[0].user_id, "alice");
    assert_string_equal(peers[0].custom_text, "meeting");
    free(peers);
    assert_int_equal(store_friend_status_peers_sync(st, APP, "dave", &peers, &n), 0);
    assert_int_equal(n, 0);
    assert_null(peers);

    char (*bl)[STORE_ID_MAX + 1] = NULL;
    assert_int_equal(store_friend_blacked_sync(st, APP, "alice", &bl, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(bl[0], "vera");
    free(bl);
    assert_int_equal(store_friend_blacked_sync(st, APP, "bob", &bl, &n), 0);
    assert_int_equal(n, 0);
    assert_null(bl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_v4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_without_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blacklist_and_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_friend_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_op_no_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_and_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
