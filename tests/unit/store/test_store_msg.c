/*
 * Unit tests for one-to-one messages and conversations in the store
 * (store.h, schema version 3): the delivery guarantees of DESIGN.md §3 as
 * far as storage holds them.  Idempotency on (app, from, message_id) also
 * across a restart; per-conversation sequences that strictly increase, are
 * never reused and never skip, also after an op or a whole batch failed
 * (failures are injected with SQL triggers from a second connection) and
 * after cache eviction; the user checks; read, recall and conversation
 * rules; history and key-paged sync; and 4 threads sending at once.
 * Each test gets a fresh mkdtemp directory, removed afterwards; users are
 * imported first, as the server requires.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store.h"

#define APP 1400000001

typedef struct fixture {
    char dir[64];
    char data_dir[128];
    char db_path[160];
} fixture_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/petrel-msg-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->data_dir, sizeof f->data_dir, "%s/data", f->dir);
    snprintf(f->db_path, sizeof f->db_path, "%s/petrel.db", f->data_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static store_t *open_store_cfg(fixture_t *f, size_t cache_max)
{
    store_config_t cfg = {.data_dir = f->data_dir, .seq_cache_max = cache_max};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    assert_non_null(st);
    return st;
}

static store_t *open_store(fixture_t *f)
{
    return open_store_cfg(f, 0);
}

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

/* 1 when every step of sql's query plan searches by a key (no SCAN) and
 * one of them names needle. */
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

/* History rows, written or waiting (store_sqlite_hist.c): the rows of
 * im_message_history, plus a row per owner of every body above that
 * owner's applied key.  One statement, so one snapshot. */
#define OWNER_WAITING(col)                                                          \
    "(SELECT count(*) FROM im_message_body b WHERE b.message_key > coalesce(("      \
    "SELECT CASE WHEN w.cursor_owner IS NOT NULL AND b." col " <= w.cursor_owner "  \
    "THEN w.top_key ELSE w.base_key END FROM im_history_applied w "                 \
    "WHERE w.app_id = b.app_id), 0))"
#define HISTORY_COUNT                                                               \
    "SELECT (SELECT count(*) FROM im_message_history) + " OWNER_WAITING("from_id")  \
    " + " OWNER_WAITING("to_id")

/* Rows of the message tables, through a separate connection. */
typedef struct counts {
    int64_t body, history, conv, pair;
} counts_t;

static counts_t raw_counts(fixture_t *f)
{
    sqlite3 *db = raw_open(f);
    counts_t c = {
        raw_int(db, "SELECT count(*) FROM im_message_body"),
        raw_int(db, HISTORY_COUNT),
        raw_int(db, "SELECT count(*) FROM im_conversation"),
        raw_int(db, "SELECT count(*) FROM im_conversation_seq"),
    };
    sqlite3_close(db);
    return c;
}

static void assert_counts(fixture_t *f, int64_t body, int64_t history, int64_t conv)
{
    counts_t c = raw_counts(f);
    assert_int_equal(c.body, body);
    assert_int_equal(c.history, history);
    if (conv >= 0)
        assert_int_equal(c.conv, conv);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void import_users(store_t *st, const char *const *ids, size_t n)
{
    store_user_t *u = calloc(n, sizeof *u);
    int *res = calloc(n, sizeof *res);
    assert_non_null(u);
    assert_non_null(res);
    for (size_t i = 0; i < n; i++) {
        u[i].app_id = APP;
        snprintf(u[i].user_id, sizeof u[i].user_id, "%s", ids[i]);
        snprintf(u[i].nick_name, sizeof u[i].nick_name, "%s", ids[i]);
        u[i].friend_allow_type = 1;
        u[i].user_type = 1;
    }
    assert_int_equal(store_user_import_sync(st, u, n, res), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(res[i], 0);
    free(res);
    free(u);
}

/* Users fmt % 0..n-1 (fmt takes one int), their ids left in ids[]. */
static void import_numbered(store_t *st, const char *fmt, char (*ids)[16], int n)
{
    const char **idp = calloc((size_t)n, sizeof *idp);
    assert_non_null(idp);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], fmt, i);
        idp[i] = ids[i];
    }
    import_users(st, idp, (size_t)n);
    free(idp);
}

static void import_abcd(store_t *st)
{
    const char *ids[] = {"alice", "bob", "carol", "dave"};
    import_users(st, ids, 4);
}

/* Proposed keys: increasing, like msgkey_next's. */
static atomic_llong next_key = 1000000;

static store_msg_t make_msg(const char *from, const char *to, const char *mid, const char *body)
{
    store_msg_t m;
    memset(&m, 0, sizeof m);
    m.app_id = APP;
    snprintf(m.from_id, sizeof m.from_id, "%s", from);
    snprintf(m.to_id, sizeof m.to_id, "%s", to);
    snprintf(m.message_id, sizeof m.message_id, "%s", mid);
    m.body = (char *)body;
    m.message_time = 1795425600000;
    m.message_random = 42;
    m.message_key = atomic_fetch_add(&next_key, 10);
    return m;
}

/* Send and expect it stored (not a duplicate, not refused). */
static store_msg_t send_ok(store_t *st, const char *from, const char *to, const char *mid)
{
    char body[96];
    snprintf(body, sizeof body, "{\"type\":1,\"content\":\"%s\"}", mid);
    store_msg_t m = make_msg(from, to, mid, body);
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.reject, 0);
    assert_int_equal(m.duplicate, 0);
    assert_true(m.sequence > 0);
    m.body = NULL; /* the local buffer dies here */
    return m;
}

/* The reject code of a send (rc must be 0). */
static int send_reject(store_t *st, const char *from, const char *to, const char *mid)
{
    store_msg_t m = make_msg(from, to, mid, "{}");
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.duplicate, 0);
    assert_int_equal(m.sequence, 0);
    return m.reject;
}

static store_conv_t conv_get(store_t *st, const char *owner, const char *peer)
{
    store_conv_t c;
    assert_int_equal(store_conv_get_sync(st, APP, owner, 0, peer, &c), 0);
    assert_string_equal(c.peer_id, peer);
    return c;
}

/* All of owner's history with peer, ascending, as sequences. */
static size_t history_seqs(store_t *st, const char *owner, const char *peer, int64_t *seqs,
                           size_t cap)
{
    size_t total = 0;
    int64_t from = 0;
    for (;;) {
        store_msg_row_t *rows = NULL;
        size_t n = 0;
        assert_int_equal(store_msg_history_sync(st, APP, owner, peer, from, 0, 200, 0, &rows,
                                                &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_true(total < cap);
            seqs[total++] = rows[i].sequence;
            from = rows[i].sequence + 1;
        }
        store_msg_rows_free(rows, n);
        if (n < 200)
            return total;
    }
}

/* ------------------------------------------------------------------ */

static void test_schema_v3(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    assert_int_equal(store_schema_version(st), 8);
    store_close(st);

    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT max(version) FROM schema_migrations"), 8);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                 "name IN ('im_message_body', 'im_message_history', "
                                 "'im_conversation_seq', 'im_conversation')"), 4);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                                 "name IN ('im_message_history_sync', 'im_conversation_change')"),
                     2);
    /* The hot reads search by a key, never scan. */
    assert_true(plan_uses(db, "SELECT b.body FROM im_message_history h JOIN im_message_body b "
                              "ON b.app_id = h.app_id AND b.message_key = h.message_key "
                              "WHERE h.app_id = 1 AND h.owner_id = 'a' AND h.sync_key > 5 "
                              "ORDER BY h.sync_key LIMIT 9", "im_message_history_sync"));
    assert_true(plan_uses(db, "SELECT b.body FROM im_message_history h JOIN im_message_body b "
                              "ON b.app_id = h.app_id AND b.message_key = h.message_key "
                              "WHERE h.app_id = 1 AND h.owner_id = 'a' AND h.peer_id = 'b' "
                              "AND h.sequence BETWEEN 1 AND 9 ORDER BY h.sequence DESC LIMIT 9",
                          "PRIMARY KEY"));
    assert_true(plan_uses(db, "SELECT 1 FROM im_message_body WHERE app_id = 1 "
                              "AND from_id = 'a' AND message_id = 'm'", "INDEX"));
    assert_true(plan_uses(db, "SELECT * FROM im_conversation WHERE app_id = 1 AND "
                              "owner_id = 'a' AND change_seq > 3 ORDER BY change_seq LIMIT 9",
                          "im_conversation_change"));
    /* Defaults of a conversation row. */
    raw_exec(db, "INSERT INTO im_conversation(app_id, owner_id, peer_id, change_seq, updated_at) "
                 "VALUES(1, 'a', 'b', 1, 5)");
    assert_int_equal(raw_int(db, "SELECT conversation_type + last_seq + read_seq + is_top + "
                                 "is_mute + deleted FROM im_conversation"), 0);
    /* A pair is stored ordered. */
    assert_int_not_equal(sqlite3_exec(db, "INSERT INTO im_conversation_seq VALUES(1, 'b', 'a', 1)",
                                      NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A database left at version 2 gains the message tables, keeping users. */
static void test_migrate_from_v2(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    store_close(st);
    sqlite3 *db = raw_open(f);
    raw_exec(db, "DROP TABLE im_message_body; DROP TABLE im_message_history; "
                 "DROP TABLE im_conversation_seq; DROP TABLE im_conversation; "
                 "DROP TABLE im_friend_group_member; DROP TABLE im_friend_group; "
                 "DROP TABLE im_friendship_request; DROP TABLE im_friendship; "
                 "DROP TABLE im_user_status; DROP TABLE im_group; DROP TABLE im_group_member; "
                 "DROP TABLE im_group_request; DROP TABLE im_group_message; "
                 "DROP TABLE im_history_applied; "
                 "DELETE FROM schema_migrations WHERE version >= 3");
    sqlite3_close(db);

    st = open_store(f);
    assert_int_equal(store_schema_version(st), 8);
    store_msg_t m = send_ok(st, "alice", "bob", "m1");
    assert_int_equal(m.sequence, 1);
    store_close(st);
}

static void test_send_and_duplicate(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);

    int64_t t0 = now_ms();
    store_msg_t m = make_msg("alice", "bob", "m-1", "{\"type\":1,\"content\":\"hi\"}");
    m.extra = "{\"x\":1}";
    int64_t proposed = m.message_key;
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.reject, 0);
    assert_int_equal(m.duplicate, 0);
    assert_int_equal(m.message_key, proposed);
    assert_int_equal(m.sequence, 1);
    assert_true(m.created_at >= t0 && m.created_at <= now_ms());
    assert_counts(f, 1, 2, 2);

    /* A resend, even with another body, key and receiver: the original
     * comes back and nothing is written. */
    store_msg_t d = make_msg("alice", "carol", "m-1", "other");
    assert_int_equal(store_msg_p2p_sync(st, &d), 0);
    assert_int_equal(d.duplicate, 1);
    assert_int_equal(d.reject, 0);
    assert_int_equal(d.del_flag, 0);
    assert_int_equal(d.message_key, m.message_key);
    assert_int_equal(d.sequence, m.sequence);
    assert_int_equal(d.created_at, m.created_at);
    assert_counts(f, 1, 2, 2);
    assert_int_equal(raw_counts(f).pair, 1);

    /* The same message_id from another sender is another message. */
    store_msg_t o = send_ok(st, "bob", "alice", "m-1");
    assert_int_equal(o.sequence, 2);
    assert_counts(f, 2, 4, 2);

    /* The stored row is what was sent. */
    store_msg_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_msg_history_sync(st, APP, "bob", "alice", 1, 1, 10, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].message_key, m.message_key);
    assert_int_equal(rows[0].sequence, 1);
    assert_string_equal(rows[0].from_id, "alice");
    assert_string_equal(rows[0].to_id, "bob");
    assert_string_equal(rows[0].message_id, "m-1");
    assert_string_equal(rows[0].body, "{\"type\":1,\"content\":\"hi\"}");
    assert_string_equal(rows[0].extra, "{\"x\":1}");
    assert_int_equal(rows[0].message_time, 1795425600000);
    assert_int_equal(rows[0].message_random, 42);
    assert_int_equal(rows[0].created_at, m.created_at);
    assert_int_equal(rows[0].del_flag, 0);
    store_msg_rows_free(rows, n);
    assert_int_equal(store_msg_history_sync(st, APP, "bob", "alice", 2, 2, 10, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_null(rows[0].extra);
    store_msg_rows_free(rows, n);

    /* Idempotency survives a restart: it is a key on disk. */
    store_close(st);
    st = open_store(f);
    d = make_msg("alice", "bob", "m-1", "again");
    assert_int_equal(store_msg_p2p_sync(st, &d), 0);
    assert_int_equal(d.duplicate, 1);
    assert_int_equal(d.message_key, m.message_key);
    assert_int_equal(d.sequence, 1);
    assert_int_equal(d.created_at, m.created_at);
    assert_counts(f, 2, 4, 2);

    /* Invalid input is refused before anything is queued. */
    store_msg_t bad = make_msg("alice", "alice", "self", "{}");
    assert_int_equal(store_msg_p2p_sync(st, &bad), STORE_EINVAL);
    bad = make_msg("alice", "bob", "", "{}");
    assert_int_equal(store_msg_p2p_sync(st, &bad), STORE_EINVAL);
    bad = make_msg("alice", "bob", "nobody", NULL);
    assert_int_equal(store_msg_p2p_sync(st, &bad), STORE_EINVAL);
    bad = make_msg("alice", "bob", "nokey", "{}");
    bad.message_key = 0;
    assert_int_equal(store_msg_p2p_sync(st, &bad), STORE_EINVAL);
    bad = make_msg("alice", "bob", "long", "{}");
    memset(bad.to_id, 'x', sizeof bad.to_id); /* not terminated */
    assert_int_equal(store_msg_p2p(st, &bad, NULL, NULL), STORE_EINVAL);
    assert_int_equal(store_msg_p2p(NULL, &bad, NULL, NULL), STORE_EINVAL);
    assert_counts(f, 2, 4, 2);
    store_close(st);
}

static void test_sequences(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);

    int64_t last_key = 0;
    const char *from[] = {"alice", "bob", "alice", "alice", "bob"};
    for (int i = 0; i < 5; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "ab%d", i);
        store_msg_t m = send_ok(st, from[i], strcmp(from[i], "alice") ? "alice" : "bob", mid);
        assert_int_equal(m.sequence, i + 1); /* one sequence for both directions */
        assert_true(m.message_key > last_key);
        last_key = m.message_key;
    }
    /* Another pair starts at 1, and does not disturb the first. */
    assert_int_equal(send_ok(st, "carol", "alice", "ca0").sequence, 1);
    assert_int_equal(send_ok(st, "alice", "carol", "ca1").sequence, 2);
    assert_int_equal(send_ok(st, "bob", "alice", "ab5").sequence, 6);

    /* A proposal at or below the app's largest key is raised above it, so
     * keys follow commit order. */
    store_msg_t m = make_msg("dave", "carol", "low", "{}");
    int64_t top = m.message_key - 10;
    m.message_key = 5;
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.message_key, top + 1);
    assert_int_equal(m.sequence, 1);
    store_close(st);
}

static void test_restart_continues(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    for (int i = 0; i < 3; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "r%d", i);
        send_ok(st, "alice", "bob", mid);
    }
    store_conv_t before = conv_get(st, "alice", "bob");
    store_close(st);

    st = open_store(f);
    store_msg_t m = send_ok(st, "bob", "alice", "r3");
    assert_int_equal(m.sequence, 4);
    store_conv_t after = conv_get(st, "alice", "bob");
    assert_int_equal(after.last_seq, 4);
    assert_int_equal(after.change_seq, before.change_seq + 1);
    /* Even with the pair's counter rolled back on disk, no sequence is
     * handed out twice: the next one continues above the history. */
    store_close(st);
    sqlite3 *db = raw_open(f);
    raw_exec(db, "UPDATE im_conversation_seq SET max_seq = 2");
    sqlite3_close(db);
    st = open_store(f);
    store_msg_t r = send_ok(st, "alice", "bob", "reuse");
    assert_int_equal(r.sequence, 5);
    store_close(st);
    assert_counts(f, 5, 10, 2);
}

/* An op that fails after taking numbers gives them back: no gap, no
 * reuse, for sequences and change_seqs alike. */
static void test_failed_op_no_gap(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    send_ok(st, "alice", "bob", "g1");
    send_ok(st, "bob", "alice", "g2");
    int64_t ca = conv_get(st, "alice", "bob").change_seq;
    int64_t cb = conv_get(st, "bob", "alice").change_seq;

    /* Fails at bob's conversation, after the sequence, the key and
     * alice's change_seq were taken. */
    sqlite3 *db = raw_open(f);
    raw_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON im_conversation "
                 "WHEN NEW.owner_id = 'bob' AND NEW.last_seq = 3 "
                 "BEGIN SELECT RAISE(ABORT, 'injected'); END");
    store_msg_t m = make_msg("alice", "bob", "g3", "{}");
    assert_int_equal(store_msg_p2p_sync(st, &m), STORE_EINVAL);
    assert_int_equal(m.sequence, 0); /* outputs untouched on failure */
    assert_counts(f, 2, 4, 2);
    store_stats_t stats;
    store_get_stats(st, &stats);
    assert_int_equal(stats.op_failures, 1);
    raw_exec(db, "DROP TRIGGER boom");

    m = send_ok(st, "alice", "bob", "g3");
    assert_int_equal(m.sequence, 3);
    assert_int_equal(conv_get(st, "alice", "bob").change_seq, ca + 1);
    assert_int_equal(conv_get(st, "bob", "alice").change_seq, cb + 1);

    /* A body that fails to insert (after the sequence was taken). */
    raw_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON im_message_body "
                 "WHEN NEW.message_id = 'bad' BEGIN SELECT RAISE(ABORT, 'injected'); END");
    m = make_msg("bob", "alice", "bad", "{}");
    assert_int_equal(store_msg_p2p_sync(st, &m), STORE_EINVAL);
    raw_exec(db, "DROP TRIGGER boom");
    sqlite3_close(db);
    assert_int_equal(send_ok(st, "bob", "alice", "g4").sequence, 4);

    int64_t seqs[8];
    assert_int_equal(history_seqs(st, "alice", "bob", seqs, 8), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(seqs[i], i + 1);
    store_close(st);
}

/* ---- a whole batch failing ---- */

/* A done callback that holds the writer until released, so the ops queued
 * meanwhile commit together in the next batch. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
} gate_t;

static void gate_cb(void *arg, int rc)
{
    gate_t *g = arg;
    (void)rc;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

typedef struct waitn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    int rcs[64];
    int next;
} waitn_t;

static void waitn_cb(void *arg, int rc)
{
    waitn_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rcs[w->next++] = rc;
    w->left--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void waitn_wait(waitn_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->left > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void test_failed_batch_no_gap(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    send_ok(st, "alice", "bob", "b1");
    send_ok(st, "carol", "dave", "cd1");
    int64_t ca = conv_get(st, "alice", "bob").change_seq;

    /* RAISE(ROLLBACK) ends the whole transaction: every op of the batch
     * fails, including those that already took numbers. */
    sqlite3 *db = raw_open(f);
    raw_exec(db, "CREATE TRIGGER rb BEFORE INSERT ON im_message_body "
                 "WHEN NEW.message_id = 'rb' BEGIN SELECT RAISE(ROLLBACK, 'injected'); END");

    gate_t g = {.entered = 0, .open = 0};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    int res[1];
    store_user_t eve;
    memset(&eve, 0, sizeof eve);
    eve.app_id = APP;
    snprintf(eve.user_id, sizeof eve.user_id, "eve");
    eve.friend_allow_type = 1;
    assert_int_equal(store_user_import(st, &eve, 1, res, gate_cb, &g), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    waitn_t w = {.left = 4};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    store_msg_t m[4] = {
        make_msg("alice", "bob", "b2", "{}"),
        make_msg("carol", "dave", "cd2", "{}"),
        make_msg("bob", "alice", "rb", "{}"),
        make_msg("alice", "bob", "b3", "{}"),
    };
    for (int i = 0; i < 4; i++)
        assert_int_equal(store_msg_p2p(st, &m[i], waitn_cb, &w), 0);
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    waitn_wait(&w);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w.rcs[i], STORE_EIO);
        assert_int_equal(m[i].sequence, 0);
    }
    store_stats_t stats;
    store_get_stats(st, &stats);
    assert_int_equal(stats.failures, 1);
    raw_exec(db, "DROP TRIGGER rb");
    sqlite3_close(db);
    assert_counts(f, 2, 4, 4);

    /* Resent, they take the numbers the failed batch had taken. */
    assert_int_equal(send_ok(st, "alice", "bob", "b2").sequence, 2);
    assert_int_equal(send_ok(st, "carol", "dave", "cd2").sequence, 2);
    assert_int_equal(send_ok(st, "bob", "alice", "rb").sequence, 3);
    assert_int_equal(send_ok(st, "alice", "bob", "b3").sequence, 4);
    assert_int_equal(conv_get(st, "alice", "bob").change_seq, ca + 3);
    store_close(st);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
}

/* More conversations than the cache holds: evicted entries reload. */
static void test_cache_eviction(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store_cfg(f, 16);
    const char *ids[40];
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "u%02d", i);
        ids[i] = names[i];
    }
    import_users(st, ids, 40);
    for (int round = 1; round <= 3; round++) {
        for (int i = 0; i < 39; i++) {
            char mid[16];
            snprintf(mid, sizeof mid, "%d-%d", round, i);
            store_msg_t m = send_ok(st, ids[i], ids[i + 1], mid);
            assert_int_equal(m.sequence, round);
        }
    }
    /* Each user but the ends is in two conversations: 6 changes each. */
    store_conv_t *cv = NULL;
    size_t n = 0;
    int64_t max = 0;
    assert_int_equal(store_conv_list_sync(st, APP, "u05", 0, 10, &cv, &n, &max), 0);
    assert_int_equal(n, 2);
    assert_int_equal(max, 6);
    free(cv);
    store_close(st);
}

static void test_rejects(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    const char *more[] = {"gone", "banned", "muted"};
    import_users(st, more, 3);
    int res[1];
    const char *del[] = {"gone"};
    assert_int_equal(store_user_delete_sync(st, APP, del, 1, res), 0);
    store_user_t u;
    memset(&u, 0, sizeof u);
    u.app_id = APP;
    snprintf(u.user_id, sizeof u.user_id, "banned");
    u.forbidden_flag = 1;
    assert_int_equal(store_user_update_sync(st, &u, STORE_USER_F_FORBIDDEN_FLAG), 0);
    snprintf(u.user_id, sizeof u.user_id, "muted");
    u.silent_flag = 1;
    assert_int_equal(store_user_update_sync(st, &u, STORE_USER_F_SILENT_FLAG), 0);

    assert_int_equal(send_reject(st, "alice", "nobody", "x1"), 20001);
    assert_int_equal(send_reject(st, "alice", "gone", "x2"), 20001);
    assert_int_equal(send_reject(st, "nobody", "alice", "x3"), 20001);
    assert_int_equal(send_reject(st, "gone", "alice", "x4"), 20001);
    assert_int_equal(send_reject(st, "banned", "alice", "x5"), PETREL_ERR_SENDER_FORBIDDEN); /* 62023, was 50003 */
    assert_int_equal(send_reject(st, "muted", "alice", "x6"), 50002);
    assert_int_equal(send_reject(st, "muted", "gone", "x7"), 50002); /* sender first */
    /* Flags of a receiver do not matter. */
    assert_int_equal(send_ok(st, "alice", "banned", "x8").sequence, 1);
    assert_int_equal(send_ok(st, "alice", "muted", "x9").sequence, 1);
    /* Another app's users are not this app's. */
    store_msg_t m = make_msg("alice", "bob", "x10", "{}");
    m.app_id = APP + 1;
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.reject, 20001);
    assert_counts(f, 2, 4, 4);

    /* A refused message was not stored: fixed, the same id goes through
     * and refusals took no sequence. */
    u.silent_flag = 0;
    assert_int_equal(store_user_update_sync(st, &u, STORE_USER_F_SILENT_FLAG), 0);
    m = send_ok(st, "muted", "alice", "x6");
    assert_int_equal(m.sequence, 2);
    store_close(st);
}

static void test_rows_and_conversations(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    int64_t t0 = now_ms();
    store_msg_t m1 = send_ok(st, "alice", "bob", "c1");
    store_msg_t m2 = send_ok(st, "bob", "alice", "c2");

    /* Closing writes the history rows that wait (store_sqlite_hist.c). */
    store_close(st);
    st = open_store(f);
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_history WHERE owner_id = "
                                 "'alice' AND peer_id = 'bob'"), 2);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_history WHERE owner_id = "
                                 "'bob' AND peer_id = 'alice'"), 2);
    assert_int_equal(raw_int(db, "SELECT max_seq FROM im_conversation_seq WHERE user_a = "
                                 "'alice' AND user_b = 'bob'"), 2);
    sqlite3_close(db);

    store_conv_t a = conv_get(st, "alice", "bob"), b = conv_get(st, "bob", "alice");
    assert_int_equal(a.conversation_type, 0);
    assert_int_equal(a.last_seq, 2);
    assert_int_equal(b.last_seq, 2);
    /* each sender has read up to their own message: alice sent 1, bob 2 */
    assert_int_equal(a.read_seq, 1);
    assert_int_equal(b.read_seq, 2);
    assert_int_equal(a.peer_read_seq, 2);
    assert_int_equal(b.peer_read_seq, 1);
    assert_int_equal(a.is_top + a.is_mute + a.deleted, 0);
    assert_int_equal(a.change_seq, 2); /* one change per message */
    assert_int_equal(b.change_seq, 2);
    assert_true(a.updated_at >= t0);
    (void)m1;
    (void)m2;
    store_conv_t c;
    assert_int_equal(store_conv_get_sync(st, APP, "alice", 0, "carol", &c), STORE_ENOTFOUND);
    assert_int_equal(store_conv_get_sync(st, APP, "alice", 1, "bob", &c), STORE_ENOTFOUND);
    assert_int_equal(store_conv_get_sync(st, APP, "", 0, "bob", &c), STORE_ENOTFOUND);
    /* change_seq is per owner, across conversations. */
    send_ok(st, "carol", "alice", "c3");
    assert_int_equal(conv_get(st, "alice", "carol").change_seq, 3);
    assert_int_equal(conv_get(st, "carol", "alice").change_seq, 1);
    store_close(st);
}

static void test_read(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    for (int i = 0; i < 3; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "rd%d", i);
        send_ok(st, "alice", "bob", mid);
    }
    int64_t c0 = conv_get(st, "bob", "alice").change_seq;
    int64_t alice_c = conv_get(st, "alice", "bob").change_seq;
    int64_t rs = -1;
    int changed = -1;
    assert_int_equal(store_msg_read_sync(st, APP, "bob", "alice", 2, &rs, &changed), 0);
    assert_int_equal(rs, 2);
    assert_int_equal(changed, 1);
    store_conv_t c = conv_get(st, "bob", "alice");
    assert_int_equal(c.read_seq, 2);
    assert_int_equal(c.change_seq, c0 + 1);

    /* Never backwards, and no change_seq for no change. */
    assert_int_equal(store_msg_read_sync(st, APP, "bob", "alice", 1, &rs, &changed), 0);
    assert_int_equal(rs, 2);
    assert_int_equal(changed, 0);
    assert_int_equal(store_msg_read_sync(st, APP, "bob", "alice", 2, &rs, &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(conv_get(st, "bob", "alice").change_seq, c0 + 1);

    /* Never beyond the last message. */
    assert_int_equal(store_msg_read_sync(st, APP, "bob", "alice", 100, &rs, &changed), 0);
    assert_int_equal(rs, 3);
    assert_int_equal(changed, 1);
    assert_int_equal(store_msg_read_sync(st, APP, "bob", "alice", 100, NULL, NULL), 0);
    c = conv_get(st, "bob", "alice");
    assert_int_equal(c.read_seq, 3);
    assert_int_equal(c.change_seq, c0 + 2);
    /* The other owner's read_seq is its own (alice's is that of her last
     * send); her row sees bob's read position as peer_read_seq, and took a
     * new change_seq at each of bob's two moves, so that her devices'
     * incremental syncs learn it. */
    store_conv_t a = conv_get(st, "alice", "bob");
    assert_int_equal(a.read_seq, 3);
    assert_int_equal(a.peer_read_seq, 3);
    assert_int_equal(a.change_seq, alice_c + 2);

    /* A new message moves last_seq, not read_seq. */
    send_ok(st, "alice", "bob", "rd3");
    c = conv_get(st, "bob", "alice");
    assert_int_equal(c.last_seq, 4);
    assert_int_equal(c.read_seq, 3);

    rs = 77;
    assert_int_equal(store_msg_read_sync(st, APP, "bob", "carol", 1, &rs, &changed),
                     STORE_ENOTFOUND);
    assert_int_equal(rs, 77);
    assert_int_equal(store_msg_read_sync(st, APP, "", "alice", 1, &rs, &changed), STORE_EINVAL);
    assert_int_equal(store_msg_read_sync(st, APP, "bob", NULL, 1, &rs, &changed), STORE_EINVAL);
    store_close(st);
}

static void test_recall(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    store_msg_t m1 = send_ok(st, "alice", "bob", "rc1");
    store_msg_t m2 = send_ok(st, "alice", "bob", "rc2");
    store_msg_t m3 = send_ok(st, "bob", "alice", "rc3");
    int64_t ca = conv_get(st, "alice", "bob").change_seq;
    int64_t cb = conv_get(st, "bob", "alice").change_seq;
    const int64_t W = 120000;
    store_recall_t r;

    /* Not the sender. */
    memset(&r, 0, sizeof r);
    assert_int_equal(store_msg_recall_sync(st, APP, m1.message_key, "bob", 0, 0, W, &r), 0);
    assert_int_equal(r.reject, 60006);
    assert_string_equal(r.from_id, "alice");
    assert_int_equal(store_msg_recall_sync(st, APP, m1.message_key, "carol", 0, 0, W, &r), 0);
    assert_int_equal(r.reject, 60006);
    /* Outside the window, by server time; the limit itself is inside. */
    assert_int_equal(store_msg_recall_sync(st, APP, m1.message_key, "alice", 0,
                                           m1.created_at + W + 1, W, &r), 0);
    assert_int_equal(r.reject, 50004);
    assert_int_equal(store_msg_recall_sync(st, APP, 999, "alice", 0, 0, W, &r), 0);
    assert_int_equal(r.reject, PETREL_ERR_MSG_NOT_FOUND); /* 50003 */
    assert_int_equal(conv_get(st, "alice", "bob").change_seq, ca); /* refusals change nothing */

    assert_int_equal(store_msg_recall_sync(st, APP, m1.message_key, "alice", 0,
                                           m1.created_at + W, W, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_string_equal(r.from_id, "alice");
    assert_string_equal(r.to_id, "bob");
    assert_int_equal(r.sequence, 1);
    assert_int_equal(conv_get(st, "alice", "bob").change_seq, ca + 1);
    assert_int_equal(conv_get(st, "bob", "alice").change_seq, cb + 1);
    assert_int_equal(conv_get(st, "bob", "alice").last_seq, 3);
    /* Twice. */
    assert_int_equal(store_msg_recall_sync(st, APP, m1.message_key, "alice", 0, 0, W, &r), 0);
    assert_int_equal(r.reject, 50005);

    /* An admin may recall someone else's message (still within the window). */
    assert_int_equal(store_msg_recall_sync(st, APP, m3.message_key, "admin", 1, 0, W, &r), 0);
    assert_int_equal(r.reject, 0);
    assert_string_equal(r.from_id, "bob");

    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_body WHERE del_flag = 1 "
                                 "AND recalled_at > 0"), 2);
    sqlite3_close(db);

    /* Recalled rows come back flagged, without a body, in both reads. */
    store_msg_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_msg_history_sync(st, APP, "bob", "alice", 0, 0, 10, 0, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].del_flag, 1);
    assert_null(rows[0].body);
    assert_int_equal(rows[1].del_flag, 0);
    assert_non_null(rows[1].body);
    assert_int_equal(rows[1].message_key, m2.message_key);
    assert_int_equal(rows[2].del_flag, 1);
    assert_null(rows[2].body);
    store_msg_rows_free(rows, n);
    /* The sync hands recalled messages out again, after everything that
     * was stored before the recall: m2 at its own key, then m1 and m3 in
     * recall order, each with a sync key above every message key. */
    int64_t max_key = 0;
    assert_int_equal(store_msg_sync_sync(st, APP, "alice", 0, 10, &rows, &n, &max_key), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].message_key, m2.message_key);
    assert_int_equal(rows[0].sync_key, m2.message_key);
    assert_string_equal(rows[0].body, "{\"type\":1,\"content\":\"rc2\"}");
    assert_int_equal(rows[1].message_key, m1.message_key);
    assert_int_equal(rows[2].message_key, m3.message_key);
    assert_true(rows[1].sync_key > m3.message_key);
    assert_true(rows[2].sync_key > rows[1].sync_key);
    assert_int_equal(max_key, rows[2].sync_key);
    for (size_t i = 1; i < 3; i++) {
        assert_int_equal(rows[i].del_flag, 1);
        assert_null(rows[i].body);
    }
    int64_t recall1_key = rows[1].sync_key;
    store_msg_rows_free(rows, n);
    /* A device that had synced past every message meets both recalls; one
     * that had seen the first recall, only the second; bob the same. */
    assert_int_equal(store_msg_sync_sync(st, APP, "alice", m3.message_key, 10, &rows, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].message_key, m1.message_key);
    store_msg_rows_free(rows, n);
    assert_int_equal(store_msg_sync_sync(st, APP, "bob", recall1_key, 10, &rows, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].message_key, m3.message_key);
    assert_int_equal(rows[0].del_flag, 1);
    store_msg_rows_free(rows, n);
    /* A new message comes after the recalls (keys stay above sync keys). */
    store_msg_t m4 = send_ok(st, "alice", "bob", "rc4");
    assert_true(m4.message_key > recall1_key);
    assert_int_equal(store_msg_sync_sync(st, APP, "bob", recall1_key, 10, &rows, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[1].message_key, m4.message_key);
    assert_int_equal(rows[1].sync_key, m4.message_key);
    store_msg_rows_free(rows, n);

    /* A resend of a recalled message says so. */
    store_msg_t d = make_msg("alice", "bob", "rc1", "{}");
    assert_int_equal(store_msg_p2p_sync(st, &d), 0);
    assert_int_equal(d.duplicate, 1);
    assert_int_equal(d.del_flag, 1);

    assert_int_equal(store_msg_recall_sync(st, APP, m2.message_key, "alice", 0, 0, -1, &r),
                     STORE_EINVAL);
    assert_int_equal(store_msg_recall_sync(st, APP, m2.message_key, "alice", 0, 0, W, NULL),
                     STORE_EINVAL);
    store_close(st);
}

/* store_msg_head_sync: one message by key, without its body, whatever its
 * state; the receive-ack check (msg.c) decides from its from_id / to_id. */
static void test_msg_head(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    store_msg_t m1 = send_ok(st, "alice", "bob", "hd1");
    store_msg_t m2 = send_ok(st, "bob", "alice", "hd2");
    store_msg_row_t r;
    assert_int_equal(store_msg_head_sync(st, APP, m1.message_key, &r), 0);
    assert_int_equal(r.message_key, m1.message_key);
    assert_int_equal(r.sequence, 1);
    assert_string_equal(r.from_id, "alice");
    assert_string_equal(r.to_id, "bob");
    assert_string_equal(r.message_id, "hd1");
    assert_null(r.body);
    assert_null(r.extra);
    assert_int_equal(r.del_flag, 0);
    assert_int_equal(store_msg_head_sync(st, APP, m2.message_key, &r), 0);
    assert_int_equal(r.sequence, 2);
    assert_string_equal(r.from_id, "bob");
    /* recalled: still found, flagged */
    store_recall_t rc;
    assert_int_equal(store_msg_recall_sync(st, APP, m2.message_key, "bob", 0, 0, 120000, &rc), 0);
    assert_int_equal(rc.reject, 0);
    assert_int_equal(store_msg_head_sync(st, APP, m2.message_key, &r), 0);
    assert_int_equal(r.del_flag, 1);
    assert_null(r.body);
    /* not there: another app, unknown keys, keys out of range */
    assert_int_equal(store_msg_head_sync(st, APP + 1, m1.message_key, &r), STORE_ENOTFOUND);
    assert_int_equal(store_msg_head_sync(st, APP, m2.message_key + 1000, &r), STORE_ENOTFOUND);
    assert_int_equal(store_msg_head_sync(st, APP, 0, &r), STORE_ENOTFOUND);
    assert_int_equal(store_msg_head_sync(st, APP, -1, &r), STORE_ENOTFOUND);
    assert_int_equal(store_msg_head_sync(st, APP, INT64_MAX, &r), STORE_ENOTFOUND);
    assert_int_equal(store_msg_head_sync(st, APP, INT64_MIN, &r), STORE_ENOTFOUND);
    assert_int_equal(store_msg_head_sync(NULL, APP, 1, &r), STORE_EINVAL);
    assert_int_equal(store_msg_head_sync(st, APP, 1, NULL), STORE_EINVAL);
    store_close(st);
}

static void test_conv_update(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    send_ok(st, "alice", "bob", "u1");
    int64_t c0 = conv_get(st, "alice", "bob").change_seq;
    int64_t cs = -1;

    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 0, 1, -1, -1, &cs), 0);
    assert_int_equal(cs, c0 + 1);
    store_conv_t c = conv_get(st, "alice", "bob");
    assert_int_equal(c.is_top, 1);
    assert_int_equal(c.is_mute, 0);
    assert_int_equal(c.change_seq, c0 + 1);
    /* Setting what is there changes nothing. */
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 0, 1, -1, 0, &cs), 0);
    assert_int_equal(cs, c0 + 1);
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 0, -1, 1, -1, &cs), 0);
    assert_int_equal(cs, c0 + 2);
    c = conv_get(st, "alice", "bob");
    assert_int_equal(c.is_top + c.is_mute, 2);
    assert_int_equal(conv_get(st, "bob", "alice").is_top, 0); /* per owner */

    /* Deleted: still listed, so other devices learn it. */
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 0, -1, -1, 1, &cs), 0);
    assert_int_equal(cs, c0 + 3);
    store_conv_t *cv = NULL;
    size_t n = 0;
    int64_t max = 0;
    assert_int_equal(store_conv_list_sync(st, APP, "alice", c0 + 2, 10, &cv, &n, &max), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cv[0].deleted, 1);
    assert_int_equal(max, c0 + 3);
    free(cv);

    /* ... and back with the next message, keeping top and mute. */
    send_ok(st, "bob", "alice", "u2");
    c = conv_get(st, "alice", "bob");
    assert_int_equal(c.deleted, 0);
    assert_int_equal(c.last_seq, 2);
    assert_int_equal(c.is_top + c.is_mute, 2);
    assert_int_equal(c.change_seq, c0 + 4);

    assert_int_equal(store_conv_update_sync(st, APP, "alice", "carol", 0, 1, -1, -1, &cs),
                     STORE_ENOTFOUND);
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 1, 1, -1, -1, &cs),
                     STORE_ENOTFOUND);
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 0, 2, -1, -1, &cs),
                     STORE_EINVAL);
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", -1, 1, -1, -1, &cs),
                     STORE_EINVAL);
    assert_int_equal(store_conv_update_sync(st, APP, "alice", "bob", 0, -1, -1, -1, NULL), 0);
    store_close(st);
}

static void assert_seqs(store_msg_row_t *rows, size_t n, const int64_t *want, size_t nwant)
{
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].sequence, want[i]);
}

static void test_history(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    for (int i = 0; i < 10; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "h%d", i);
        send_ok(st, i % 2 ? "bob" : "alice", i % 2 ? "alice" : "bob", mid);
    }
    send_ok(st, "alice", "carol", "other");
    store_msg_row_t *r = NULL;
    size_t n = 0;

    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 3, 7, 50, 0, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){3, 4, 5, 6, 7}, 5);
    store_msg_rows_free(r, n);
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 3, 7, 50, 1, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){7, 6, 5, 4, 3}, 5);
    store_msg_rows_free(r, n);
    /* The newest page, then the page before it. */
    assert_int_equal(store_msg_history_sync(st, APP, "bob", "alice", 0, 0, 4, 1, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){10, 9, 8, 7}, 4);
    store_msg_rows_free(r, n);
    assert_int_equal(store_msg_history_sync(st, APP, "bob", "alice", 0, 6, 4, 1, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){6, 5, 4, 3}, 4);
    store_msg_rows_free(r, n);
    /* Forward from a sequence, to the end. */
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 8, 0, 50, 0, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){8, 9, 10}, 3);
    store_msg_rows_free(r, n);
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 0, 0, 3, 0, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){1, 2, 3}, 3);
    assert_string_equal(r[0].from_id, "alice");
    assert_string_equal(r[1].from_id, "bob");
    store_msg_rows_free(r, n);
    /* Limits are clamped; an empty range is empty. */
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 0, 0, 0, 0, &r, &n), 0);
    assert_int_equal(n, 1);
    store_msg_rows_free(r, n);
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 11, 0, 10, 0, &r, &n), 0);
    assert_int_equal(n, 0);
    assert_null(r);
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "bob", 5, 4, 10, 0, &r, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_msg_history_sync(st, APP, "carol", "bob", 0, 0, 10, 0, &r, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_msg_history_sync(st, APP, "alice", "carol", 0, 0, 10, 0, &r, &n), 0);
    assert_seqs(r, n, (int64_t[]){1}, 1);
    store_msg_rows_free(r, n);
    assert_int_equal(store_msg_history_sync(st, APP, "", "bob", 0, 0, 10, 0, &r, &n),
                     STORE_EINVAL);
    store_close(st);
}

static void test_sync_paging(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    int64_t keys[25];
    int nk = 0;
    for (int i = 0; i < 30; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "s%d", i);
        if (i % 6 == 5) {
            send_ok(st, "bob", "carol", mid); /* not alice's */
            continue;
        }
        const char *peer = i % 3 ? "bob" : "carol";
        store_msg_t m = i % 2 ? send_ok(st, peer, "alice", mid) : send_ok(st, "alice", peer, mid);
        keys[nk++] = m.message_key;
    }
    assert_int_equal(nk, 25);

    int64_t after = 0, max_key = -1;
    int got = 0;
    for (int page = 0; page < 3; page++) {
        store_msg_row_t *r = NULL;
        size_t n = 0;
        assert_int_equal(store_msg_sync_sync(st, APP, "alice", after, 10, &r, &n, &max_key), 0);
        assert_int_equal(n, page < 2 ? 10 : 5);
        assert_int_equal(max_key, keys[24]);
        for (size_t i = 0; i < n; i++) {
            assert_true(r[i].message_key > after); /* strictly after, ascending */
            assert_int_equal(r[i].message_key, keys[got]); /* nothing skipped */
            assert_true(strcmp(r[i].from_id, "alice") == 0 || strcmp(r[i].to_id, "alice") == 0);
            after = r[i].message_key;
            got++;
        }
        store_msg_rows_free(r, n);
    }
    assert_int_equal(got, 25);
    store_msg_row_t *r = NULL;
    size_t n = 7;
    assert_int_equal(store_msg_sync_sync(st, APP, "alice", after, 10, &r, &n, &max_key), 0);
    assert_int_equal(n, 0);
    assert_null(r);
    assert_int_equal(max_key, after);
    assert_int_equal(store_msg_sync_sync(st, APP, "dave", 0, 10, &r, &n, &max_key), 0);
    assert_int_equal(n, 0);
    assert_int_equal(max_key, 0);

    /* Conversation changes page the same way. */
    store_conv_t *cv = NULL;
    int64_t maxc = 0;
    assert_int_equal(store_conv_list_sync(st, APP, "alice", 0, 1, &cv, &n, &maxc), 0);
    assert_int_equal(n, 1);
    assert_int_equal(maxc, 25);
    int64_t first = cv[0].change_seq;
    free(cv);
    assert_int_equal(store_conv_list_sync(st, APP, "alice", first, 10, &cv, &n, &maxc), 0);
    assert_int_equal(n, 1);
    assert_true(cv[0].change_seq > first);
    assert_int_equal(cv[0].change_seq, 25);
    free(cv);
    assert_int_equal(store_conv_list_sync(st, APP, "alice", 25, 10, &cv, &n, &maxc), 0);
    assert_int_equal(n, 0);
    assert_null(cv);
    store_close(st);
}

/* ---- concurrency ---- */

#define SENDERS 4
#define PER_SENDER 150

/* Callbacks run on the writer thread, where cmocka cannot fail a test:
 * they only count, the test thread asserts. */
typedef struct tally {
    atomic_int left, failed;
} tally_t;

typedef struct sender {
    store_t *st;
    int idx;
    store_msg_t *msgs;
    tally_t *tally;
    int errors;
} sender_t;

static void sent_cb(void *arg, int rc)
{
    tally_t *t = arg;
    if (rc != 0)
        atomic_fetch_add(&t->failed, 1);
    atomic_fetch_sub(&t->left, 1);
}

static void *sender_main(void *p)
{
    sender_t *s = p;
    /* Senders 0 and 1 share alice-bob, 2 and 3 share carol-dave, each
     * pair writing both directions. */
    static const char *const from[SENDERS] = {"alice", "bob", "carol", "dave"};
    static const char *const to[SENDERS] = {"bob", "alice", "dave", "carol"};
    for (int i = 0; i < PER_SENDER; i++) {
        char mid[32];
        snprintf(mid, sizeof mid, "t%d-%d", s->idx, i);
        s->msgs[i] = make_msg(from[s->idx], to[s->idx], mid, "{\"type\":1}");
        if (store_msg_p2p(s->st, &s->msgs[i], sent_cb, s->tally) != 0)
            s->errors++;
    }
    return NULL;
}

static void test_concurrent_senders(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    tally_t tally;
    atomic_init(&tally.left, SENDERS * PER_SENDER);
    atomic_init(&tally.failed, 0);
    sender_t s[SENDERS];
    pthread_t th[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        s[i] = (sender_t){.st = st, .idx = i, .tally = &tally};
        s[i].msgs = calloc(PER_SENDER, sizeof *s[i].msgs);
        assert_non_null(s[i].msgs);
        assert_int_equal(pthread_create(&th[i], NULL, sender_main, &s[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(s[i].errors, 0);
    }
    while (atomic_load(&tally.left) > 0)
        usleep(1000);
    assert_int_equal(atomic_load(&tally.failed), 0);

    /* From the acks: each conversation's sequences are 1..N once each. */
    const int N = 2 * PER_SENDER;
    for (int conv = 0; conv < 2; conv++) {
        char *seen = calloc((size_t)N + 1, 1);
        assert_non_null(seen);
        for (int k = 0; k < 2; k++) {
            sender_t *x = &s[2 * conv + k];
            for (int i = 0; i < PER_SENDER; i++) {
                int64_t q = x->msgs[i].sequence;
                assert_int_equal(x->msgs[i].reject, 0);
                assert_true(q >= 1 && q <= N);
                assert_int_equal(seen[q], 0);
                seen[q] = 1;
            }
        }
        free(seen);
    }
    /* From the disk: both owners' histories hold 1..N in order. */
    const char *owners[4][2] = {{"alice", "bob"}, {"bob", "alice"}, {"carol", "dave"},
                                {"dave", "carol"}};
    int64_t *seqs = calloc((size_t)N, sizeof *seqs);
    assert_non_null(seqs);
    for (int o = 0; o < 4; o++) {
        assert_int_equal(history_seqs(st, owners[o][0], owners[o][1], seqs, (size_t)N),
                         (size_t)N);
        for (int i = 0; i < N; i++)
            assert_int_equal(seqs[i], i + 1);
        store_conv_t c = conv_get(st, owners[o][0], owners[o][1]);
        assert_int_equal(c.last_seq, N);
        assert_int_equal(c.change_seq, N);
    }
    free(seqs);
    /* Keys: unique, and in commit order within a conversation. */
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(DISTINCT message_key) FROM im_message_body"),
                     SENDERS * PER_SENDER);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_body a JOIN im_message_body b "
                                 "ON a.app_id = b.app_id AND a.sequence < b.sequence AND "
                                 "a.message_key > b.message_key AND "
                                 "min(a.from_id, a.to_id) = min(b.from_id, b.to_id)"), 0);
    sqlite3_close(db);
    for (int i = 0; i < SENDERS; i++)
        free(s[i].msgs);
    store_close(st);
}

/* WAL checkpoints on their own thread (store_config_t.wal_checkpoint_pages):
 * under a stream of group commits across many conversations, the
 * checkpointer runs, the writer finishes cycles so the WAL starts over
 * (it stays bounded instead of growing with the data), a reader next to
 * it changes nothing, and every message is there after a restart. */
#define CKPT_USERS 200
#define CKPT_PAGES 64
#define CKPT_WAVES 150
#define CKPT_WAVE 20
static void test_wal_checkpointer(void **state)
{
    fixture_t *f = *state;
    store_config_t cfg = {.data_dir = f->data_dir, .wal_checkpoint_pages = CKPT_PAGES};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    char ids[CKPT_USERS][16];
    import_numbered(st, "u%d", ids, CKPT_USERS);

    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", f->db_path);
    sqlite3 *reader = raw_open(f);
    store_msg_t *msgs = calloc(CKPT_WAVE, sizeof *msgs);
    char (*mids)[32] = calloc(CKPT_WAVE, sizeof *mids);
    assert_non_null(msgs);
    assert_non_null(mids);
    off_t wal_max = 0;
    for (int w = 0; w < CKPT_WAVES; w++) {
        tally_t tally;
        atomic_init(&tally.left, CKPT_WAVE);
        atomic_init(&tally.failed, 0);
        for (int i = 0; i < CKPT_WAVE; i++) {
            snprintf(mids[i], sizeof mids[i], "w%d-%d", w, i);
            msgs[i] = make_msg(ids[i % CKPT_USERS], ids[(i * 7 + w + 1) % CKPT_USERS], mids[i],
                               "{\"type\":1,\"content\":\"0123456789abcdef0123456789abcdef\"}");
            if (strcmp(msgs[i].from_id, msgs[i].to_id) == 0)
                snprintf(msgs[i].to_id, sizeof msgs[i].to_id, "u%d",
                         (i + 1) % CKPT_USERS);
            assert_int_equal(store_msg_p2p(st, &msgs[i], sent_cb, &tally), 0);
        }
        /* a reader while the writer and the checkpointer work */
        int64_t seen = raw_int(reader, "SELECT count(*) FROM im_message_body");
        assert_true(seen >= (int64_t)w * CKPT_WAVE);
        while (atomic_load(&tally.left) > 0)
            usleep(1000);
        assert_int_equal(atomic_load(&tally.failed), 0);
        struct stat sb;
        if (stat(wal, &sb) == 0 && sb.st_size > wal_max)
            wal_max = sb.st_size;
    }
    sqlite3_close(reader);

    store_stats_t stats;
    store_get_stats(st, &stats);
    assert_true(stats.ckpt_passes > 0);
    assert_true(stats.ckpt_writer > 0);
    assert_true(stats.ckpt_complete > 0);
    /* Without restarts the WAL would hold every frame written since the
     * start (~150 commits of tens of pages each: tens of MB); with them it
     * stays within the hard limit (4 x CKPT_PAGES) plus one commit, which
     * cannot write more pages than the database has. */
    sqlite3 *db = raw_open(f);
    int64_t pages = raw_int(db, "PRAGMA page_count");
    sqlite3_close(db);
    assert_true(stats.commits > CKPT_WAVES);
    assert_true(wal_max < (off_t)(4 * CKPT_PAGES + pages) * 4120);
    store_close(st);

    st = open_store(f);
    assert_counts(f, CKPT_WAVES * CKPT_WAVE, 2 * CKPT_WAVES * CKPT_WAVE, -1);
    db = raw_open(f);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
    store_close(st);
    free(mids);
    free(msgs);
}

/* A reader that keeps an old snapshot (an operator's sqlite3 shell inside
 * a transaction) keeps the WAL from starting over.  The writer must not
 * stall on it: every message still commits, quickly, while the WAL grows;
 * once the reader lets go, the next cycle starts the WAL over. */
static void send_wave(store_t *st, char (*ids)[16], int w, store_msg_t *msgs, char (*mids)[32])
{
    tally_t tally;
    atomic_init(&tally.left, CKPT_WAVE);
    atomic_init(&tally.failed, 0);
    for (int i = 0; i < CKPT_WAVE; i++) {
        snprintf(mids[i], 32, "h%d-%d", w, i);
        int from = i % CKPT_USERS, to = (i * 7 + w + 1) % CKPT_USERS;
        if (to == from)
            to = (to + 1) % CKPT_USERS;
        msgs[i] = make_msg(ids[from], ids[to], mids[i], "{\"type\":1,\"content\":\"x\"}");
        assert_int_equal(store_msg_p2p(st, &msgs[i], sent_cb, &tally), 0);
    }
    while (atomic_load(&tally.left) > 0)
        usleep(1000);
    assert_int_equal(atomic_load(&tally.failed), 0);
}

static void test_wal_reader_holds_snapshot(void **state)
{
    fixture_t *f = *state;
    store_config_t cfg = {.data_dir = f->data_dir, .wal_checkpoint_pages = CKPT_PAGES};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    char ids[CKPT_USERS][16];
    import_numbered(st, "u%d", ids, CKPT_USERS);
    store_msg_t *msgs = calloc(CKPT_WAVE, sizeof *msgs);
    char (*mids)[32] = calloc(CKPT_WAVE, sizeof *mids);
    assert_non_null(msgs);
    assert_non_null(mids);

    sqlite3 *reader = raw_open(f);
    raw_exec(reader, "BEGIN");
    int64_t before = raw_int(reader, "SELECT count(*) FROM im_message_body");
    store_stats_t s0;
    store_get_stats(st, &s0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int w = 0; w < 60; w++)
        send_wave(st, ids, w, msgs, mids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* 60 commits; a writer waiting the default 5 s busy timeout on the
     * reader at each would take minutes */
    assert_true(secs < 20.0);
    /* the reader still sees its snapshot */
    assert_int_equal(raw_int(reader, "SELECT count(*) FROM im_message_body"), before);
    store_stats_t s1;
    store_get_stats(st, &s1);
    assert_int_equal(s1.ckpt_complete, s0.ckpt_complete); /* nothing could start over */

    raw_exec(reader, "COMMIT");
    sqlite3_close(reader);
    for (int w = 60; w < 120; w++)
        send_wave(st, ids, w, msgs, mids);
    store_stats_t s2;
    store_get_stats(st, &s2);
    assert_true(s2.ckpt_complete > s1.ckpt_complete); /* it did once the reader left */
    store_close(st);
    assert_counts(f, 120 * CKPT_WAVE, 2 * 120 * CKPT_WAVE, -1);
    free(mids);
    free(msgs);
}

/* Results are in the caller's struct before done runs. */
typedef struct seen {
    store_msg_t *m;
    int64_t seq_at_done;
    int rc;
    atomic_int done;
} seen_t;

static void seen_cb(void *arg, int rc)
{
    seen_t *s = arg;
    s->rc = rc;
    s->seq_at_done = s->m->sequence;
    atomic_store(&s->done, 1);
}

static void test_async_results_before_done(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    char *body = strdup("{\"type\":1,\"content\":\"freed\"}");
    store_msg_t m = make_msg("alice", "bob", "as1", body);
    seen_t s = {.m = &m};
    assert_int_equal(store_msg_p2p(st, &m, seen_cb, &s), 0);
    free(body); /* copied at submit */
    m.body = NULL;
    while (!atomic_load(&s.done))
        usleep(1000);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.seq_at_done, 1);

    int64_t rs = 0;
    int changed = 0;
    assert_int_equal(store_msg_read(st, APP, "bob", "alice", 1, &rs, &changed, NULL, NULL), 0);
    store_recall_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(store_msg_recall(st, APP, m.message_key, "alice", 0, 0, 60000, &r, NULL,
                                      NULL), 0);
    int64_t cs = 0;
    assert_int_equal(store_conv_update(st, APP, "bob", "alice", 0, 1, 1, -1, &cs, NULL, NULL),
                     0);
    store_close(st); /* drains the queue */
    assert_int_equal(rs, 1);
    assert_int_equal(changed, 1);
    assert_int_equal(r.reject, 0);
    assert_int_equal(cs, 4); /* message, read, recall, update */
}

/* A database of schema 7 (history rows written with each message) moves
 * to 8 with every stored message marked as written: read once, not also
 * from the bodies. */
static void test_migrate_history_v7(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_abcd(st);
    int64_t keys[5];
    for (int i = 0; i < 5; i++) {
        char mid[8];
        snprintf(mid, sizeof mid, "v%d", i);
        keys[i] = send_ok(st, i % 2 ? "bob" : "alice", i % 2 ? "alice" : "bob", mid).message_key;
    }
    store_close(st); /* writes the rows: the database now looks like schema 7's */
    sqlite3 *db = raw_open(f);
    raw_exec(db, "DROP TABLE im_history_applied; DROP INDEX im_message_body_tail; "
                 "ALTER TABLE im_message_body DROP COLUMN resync_key; "
                 "DELETE FROM schema_migrations WHERE version = 8");
    sqlite3_close(db);

    st = open_store(f);
    assert_int_equal(store_schema_version(st), 8);
    store_msg_row_t *r = NULL;
    size_t n = 0;
    int64_t max_key = 0;
    assert_int_equal(store_msg_sync_sync(st, APP, "alice", 0, 100, &r, &n, &max_key), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].message_key, keys[i]);
    assert_int_equal(max_key, keys[4]);
    store_msg_rows_free(r, n);
    int64_t seqs[8];
    assert_int_equal(history_seqs(st, "bob", "alice", seqs, 8), 5);
    /* and the next message continues the pair */
    assert_int_equal(send_ok(st, "alice", "bob", "v5").sequence, 6);
    store_close(st);
    assert_counts(f, 6, 12, 2);
}

/* ---- history rows in sorted batches (store_sqlite_hist.c) ---- */

#define HB_USERS 12 /* 6 pairs: (h00, h01), (h02, h03), ... */
#define HB_BATCH 300
#define HB_MSGS (HB_BATCH + 20)

typedef struct hb_sent {
    int64_t key[HB_MSGS], seq[HB_MSGS];
    int pair[HB_MSGS];
    int n;
} hb_sent_t;

/* Owner's whole sync, paged: strictly increasing sync keys, each message
 * once; fills keys[] (message keys in sync order), returns the count. */
static size_t hb_sync_all(store_t *st, const char *owner, int64_t *keys, int64_t *sync_keys,
                          size_t cap, int64_t *max_key)
{
    size_t total = 0;
    int64_t after = 0;
    for (;;) {
        store_msg_row_t *r = NULL;
        size_t n = 0;
        assert_int_equal(store_msg_sync_sync(st, APP, owner, after, 100, &r, &n, max_key), 0);
        for (size_t i = 0; i < n; i++) {
            assert_true(r[i].sync_key > after);
            assert_true(total < cap);
            assert_true(strcmp(r[i].from_id, owner) == 0 || strcmp(r[i].to_id, owner) == 0);
            keys[total] = r[i].message_key;
            sync_keys[total++] = r[i].sync_key;
            after = r[i].sync_key;
        }
        store_msg_rows_free(r, n);
        if (n < 100)
            return total;
    }
}

/* Every owner reads exactly their messages, once, in order: the sync in
 * key order (recalled ones last, in recall order) and each conversation
 * in sequence order 1..n.  recalled: keys moved to the end, in order. */
static void hb_check_reads(store_t *st, const hb_sent_t *s, const int64_t *recalled,
                           int nrecalled)
{
    int64_t keys[HB_MSGS], sk[HB_MSGS], seqs[HB_MSGS];
    for (int u = 0; u < HB_USERS; u++) {
        char owner[8], peer[8];
        snprintf(owner, sizeof owner, "h%02d", u);
        snprintf(peer, sizeof peer, "h%02d", u ^ 1);
        int64_t want[HB_MSGS];
        int nw = 0;
        for (int i = 0; i < s->n; i++) {
            int r = 0;
            for (int k = 0; k < nrecalled; k++)
                r |= recalled[k] == s->key[i];
            if (s->pair[i] == u / 2 && !r)
                want[nw++] = s->key[i];
        }
        for (int k = 0; k < nrecalled; k++)
            for (int i = 0; i < s->n; i++)
                if (s->key[i] == recalled[k] && s->pair[i] == u / 2)
                    want[nw++] = recalled[k];
        int64_t max_key = -1;
        size_t n = hb_sync_all(st, owner, keys, sk, HB_MSGS, &max_key);
        assert_int_equal(n, (size_t)nw);
        for (int i = 0; i < nw; i++)
            assert_int_equal(keys[i], want[i]);
        assert_int_equal(max_key, nw ? sk[nw - 1] : 0);
        size_t ns = history_seqs(st, owner, peer, seqs, HB_MSGS);
        assert_int_equal(ns, (size_t)(nw));
        for (size_t i = 0; i < ns; i++)
            assert_int_equal(seqs[i], (int64_t)i + 1);
        /* The newest page, descending, ends at the last sequence. */
        store_msg_row_t *r = NULL;
        size_t nd = 0;
        assert_int_equal(store_msg_history_sync(st, APP, owner, peer, 0, 0, 3, 1, &r, &nd), 0);
        assert_int_equal(nd, ns < 3 ? ns : 3);
        if (nd)
            assert_int_equal(r[0].sequence, (int64_t)ns);
        store_msg_rows_free(r, nd);
    }
}

static void hb_send(store_t *st, hb_sent_t *s, int count)
{
    for (int i = 0; i < count; i++) {
        int p = s->n % 6;
        char a[8], b[8], mid[16];
        snprintf(a, sizeof a, "h%02d", 2 * p + (s->n / 6) % 2);
        snprintf(b, sizeof b, "h%02d", 2 * p + 1 - (s->n / 6) % 2);
        snprintf(mid, sizeof mid, "hb%d", s->n);
        store_msg_t m = send_ok(st, a, b, mid);
        s->key[s->n] = m.message_key;
        s->seq[s->n] = m.sequence;
        s->pair[s->n++] = p;
    }
}

/* The writer takes one step of a cycle (load, sort, a chunk) between two
 * batches, after the callbacks the test waits for: give it batches (a
 * read receipt, which writes no message) one at a time, each followed by
 * a pause long enough for its step, until sql returns want. */
static void hb_steps_until(store_t *st, fixture_t *f, const char *sql, int64_t want)
{
    sqlite3 *db = raw_open(f);
    int64_t v = -1;
    for (int i = 0; i < 20 && (v = raw_int(db, sql)) != want; i++) {
        int64_t rs = 0;
        int changed = 0;
        assert_int_equal(store_msg_read_sync(st, APP, "h00", "h01", 1, &rs, &changed), 0);
        usleep(100000);
    }
    sqlite3_close(db);
    assert_int_equal(v, want);
}

static void test_history_batches(void **state)
{
    fixture_t *f = *state;
    store_config_t cfg = {.data_dir = f->data_dir, .history_batch = HB_BATCH};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    char ids[HB_USERS][16];
    import_numbered(st, "h%02d", ids, HB_USERS);
    hb_sent_t *s = calloc(1, sizeof *s);
    assert_non_null(s);

    /* Everything waits: all reads come from the bodies. */
    hb_send(st, s, HB_BATCH - 1);
    hb_check_reads(st, s, NULL, 0);
    assert_counts(f, HB_BATCH - 1, 2 * (HB_BATCH - 1), -1);
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_history"), 0);
    sqlite3_close(db);

    /* The batch-th message starts a cycle (loaded after its batch, sorted
     * after the next); its first chunk (>= 256 of the 600 rows, ending at
     * an owner: 300) commits with a cursor: reads now mix written rows,
     * owners past the cursor, and the bodies. */
    hb_send(st, s, 1);
    hb_steps_until(st, f, "SELECT count(*) FROM im_history_applied "
                          "WHERE cursor_owner IS NOT NULL", 1);
    db = raw_open(f);
    int64_t written = raw_int(db, "SELECT count(*) FROM im_message_history");
    assert_true(written >= 256 && written < 2 * HB_BATCH);
    sqlite3_close(db);
    hb_check_reads(st, s, NULL, 0);
    assert_counts(f, HB_BATCH, 2 * HB_BATCH, -1);

    /* The next step finishes the cycle; later messages wait again. */
    hb_steps_until(st, f, "SELECT count(*) FROM im_history_applied WHERE cursor_owner IS NULL "
                          "AND base_key = top_key", 1);
    hb_send(st, s, HB_MSGS - HB_BATCH);
    hb_check_reads(st, s, NULL, 0);
    assert_counts(f, HB_MSGS, 2 * HB_MSGS, -1);

    /* Recalls, of a written message and of a waiting one: both come back
     * at the end of the sync, before and after their rows are written. */
    int64_t recalled[2] = {s->key[5], s->key[HB_MSGS - 1]};
    for (int k = 0; k < 2; k++) {
        store_recall_t r;
        memset(&r, 0, sizeof r);
        const char *from = NULL;
        for (int i = 0; i < s->n; i++)
            if (s->key[i] == recalled[k])
                from = (i / 6) % 2 ? ids[2 * s->pair[i] + 1] : ids[2 * s->pair[i]];
        assert_int_equal(store_msg_recall_sync(st, APP, recalled[k], from, 0, 0, 600000, &r), 0);
        assert_int_equal(r.reject, 0);
    }
    hb_check_reads(st, s, recalled, 2);
    store_close(st); /* writes what waits */
    db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_history"), 2 * HB_MSGS);
    sqlite3_close(db);
    assert_int_equal(store_open(&cfg, &st), 0);
    hb_check_reads(st, s, recalled, 2);
    store_close(st);

    /* A crash in the middle of a cycle, with messages stored after it
     * started: take the rows of the owners past a cursor back out for the
     * cycle's keys, and everyone's rows above it.  The next start
     * finishes the cycle, then writes the rest, before anything else. */
    db = raw_open(f);
    raw_exec(db, "CREATE TEMP TABLE k AS SELECT min(message_key) + 100 AS base, "
                 "min(message_key) + 1000 AS top FROM im_message_body;"
                 "DELETE FROM im_message_history WHERE owner_id > 'h05' "
                 "AND message_key > (SELECT base FROM k);"
                 "DELETE FROM im_message_history WHERE message_key > (SELECT top FROM k);"
                 "UPDATE im_history_applied SET cursor_owner = 'h05', "
                 "base_key = (SELECT base FROM k), top_key = (SELECT top FROM k)");
    assert_true(raw_int(db, "SELECT count(*) FROM im_message_history") < 2 * HB_MSGS);
    sqlite3_close(db);
    assert_int_equal(store_open(&cfg, &st), 0);
    db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_message_history"), 2 * HB_MSGS);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM im_history_applied WHERE "
                                 "cursor_owner IS NULL AND base_key = top_key"), 1);
    sqlite3_close(db);
    hb_check_reads(st, s, recalled, 2);
    store_close(st);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_and_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_op_no_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_no_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_and_conversations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msg_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conv_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_senders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_results_before_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpointer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_reader_holds_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_history_v7, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
