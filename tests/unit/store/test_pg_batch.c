/*
 * Unit test of the PostgreSQL backend's msg_p2p_batch (store_pg_msg.c,
 * petrel_msg_p2p_batch of schema version 3).  The same runs of one-to-one
 * messages go into two fresh databases: in one as the writer hands them
 * over (one msg_p2p_batch call per run, inside one op), in the other one
 * by one through msg_p2p, each in an op of its own in one transaction.
 * Every message's outcome (rc, key, sequence, created_at, duplicate,
 * reject, del_flag) and the rows of im_message_body, im_message_history,
 * im_conversation and im_counter must come out identical.  The runs mix
 * new messages, resends inside and across runs, refused senders and
 * receivers, the friendship rules, many messages of one pair and one
 * owner, two apps, proposed keys below the app's counter, a recalled
 * original and a deleted conversation; one run meets a unique violation
 * (a stray history row), which sends the batch down its one-by-one path.
 * The test starts its own PostgreSQL server (scripts/pg-test-server.sh)
 * on a free port, a database per side and test, and skips when the
 * server cannot be started (PostgreSQL not installed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/store/store_backend.h"
#include "pg_server.h"

#define RUN_MAX 256

/* ---- the server ---- */

static pg_server_t pg;

static int server_start(void **state)
{
    (void)state;
    return pg_server_open(&pg, "pgbatch") < 0 ? -1 : 0;
}

static int server_stop(void **state)
{
    (void)state;
    pg_server_close(&pg);
    return 0;
}

/* ---- databases ---- */

typedef struct side {
    char url[256];
    PGconn *sql;          /* a plain connection for fixtures and dumps */
    store_backend_t *be;  /* the backend under test */
} side_t;

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* alice, bob, carol, dave, erin live in app 1, with gone (deleted), banned
 * (forbidden) and mute (silenced); alice and bob in app 2.  alice and bob
 * are friends; alice -> carol one way only; dave blacklisted alice; alice
 * blacklisted erin. */
static const char *FIXTURE =
    "INSERT INTO im_user(app_id, user_id, created_at, updated_at, del_flag, forbidden_flag,"
    " silent_flag) VALUES (1, 'alice', 0, 0, 0, 0, 0), (1, 'bob', 0, 0, 0, 0, 0),"
    " (1, 'carol', 0, 0, 0, 0, 0), (1, 'dave', 0, 0, 0, 0, 0), (1, 'erin', 0, 0, 0, 0, 0),"
    " (1, 'gone', 0, 0, 1, 0, 0), (1, 'banned', 0, 0, 0, 1, 0), (1, 'mute', 0, 0, 0, 0, 1),"
    " (2, 'alice', 0, 0, 0, 0, 0), (2, 'bob', 0, 0, 0, 0, 0);"
    "INSERT INTO im_friendship(app_id, from_id, to_id, status, black, friend_sequence,"
    " create_time) VALUES (1, 'alice', 'bob', 1, 1, 1, 0), (1, 'bob', 'alice', 1, 1, 1, 0),"
    " (1, 'alice', 'carol', 1, 1, 2, 0), (1, 'dave', 'alice', 1, 2, 1, 0),"
    " (1, 'alice', 'dave', 1, 1, 3, 0), (1, 'alice', 'erin', 1, 2, 4, 0),"
    " (1, 'erin', 'alice', 1, 1, 1, 0)";

static void side_open(side_t *s, const char *name)
{
    char sql[128];
    snprintf(s->url, sizeof s->url, "%s/postgres", pg.base);
    PGconn *adm = PQconnectdb(s->url);
    assert_int_equal(PQstatus(adm), CONNECTION_OK);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s_%d_%d", name, (int)getpid(), pg.ndb++);
    exec_ok(adm, sql);
    PQfinish(adm);
    snprintf(s->url, sizeof s->url, "%s/%s", pg.base, sql + strlen("CREATE DATABASE "));
    store_config_t cfg = {.pg_conninfo = s->url, .read_conns = 1};
    assert_int_equal(store_pg_backend.open(&cfg, &s->be), 0);
    s->sql = PQconnectdb(s->url);
    assert_int_equal(PQstatus(s->sql), CONNECTION_OK);
    exec_ok(s->sql, FIXTURE);
}

static void side_close(side_t *s)
{
    store_pg_backend.close(s->be);
    PQfinish(s->sql);
}

/* Every row of the tables a message writes, in one text. */
static char *dump(side_t *s)
{
    static const char *const tables[] = {"im_message_body", "im_message_history",
                                         "im_conversation", "im_counter"};
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT '%s' || x::text FROM %s x ORDER BY 1", tables[t],
                 tables[t]);
        PGresult *r = PQexec(s->sql, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        for (int i = 0; i < PQntuples(r); i++) {
            size_t l = (size_t)PQgetlength(r, i, 0);
            while (len + l + 2 > cap) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            memcpy(out + len, PQgetvalue(r, i, 0), l);
            len += l;
            out[len++] = '\n';
            out[len] = 0;
        }
        PQclear(r);
    }
    return out;
}

/* ---- messages ---- */

typedef struct spec {
    int32_t app;
    const char *from, *to, *mid, *body, *extra;
    int64_t key;
    unsigned flags;
} spec_t;

static void make(store_msg_t *m, const spec_t *s)
{
    memset(m, 0, sizeof *m);
    m->app_id = s->app;
    snprintf(m->from_id, sizeof m->from_id, "%s", s->from);
    snprintf(m->to_id, sizeof m->to_id, "%s", s->to);
    snprintf(m->message_id, sizeof m->message_id, "%s", s->mid);
    m->body = (char *)(s->body ? s->body : "{\"t\":\"hi\"}");
    m->extra = (char *)s->extra;
    m->message_time = 1000 + s->key;
    m->message_random = s->key % 7;
    m->message_key = s->key;
    m->flags = s->flags;
}

/* One run on both sides: as one msg_p2p_batch call in one op on b, one by
 * one (an op each) on q; the outcomes must match. */
static void run_both(side_t *b, side_t *q, const spec_t *specs, size_t n, int64_t now)
{
    static store_msg_t mb[RUN_MAX], mq[RUN_MAX];
    store_msg_t *pb[RUN_MAX];
    int rb[RUN_MAX], rq[RUN_MAX];
    assert_true(n <= RUN_MAX);
    for (size_t i = 0; i < n; i++) {
        make(&mb[i], &specs[i]);
        make(&mq[i], &specs[i]);
        pb[i] = &mb[i];
    }
    const store_backend_ops_t *o = &store_pg_backend;
    assert_int_equal(o->tx_begin(b->be), 0);
    assert_int_equal(o->op_begin(b->be), 0);
    int lost = o->msg_p2p_batch(b->be, pb, rb, n, now);
    assert_int_equal(o->op_end(b->be, lost != 0), 0);
    assert_int_equal(lost, 0);
    assert_int_equal(o->tx_commit(b->be), 0);

    assert_int_equal(o->tx_begin(q->be), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(o->op_begin(q->be), 0);
        rq[i] = o->msg_p2p(q->be, &mq[i], now);
        assert_int_equal(o->op_end(q->be, rq[i] != 0), 0);
    }
    assert_int_equal(o->tx_commit(q->be), 0);

    for (size_t i = 0; i < n; i++) {
        const store_msg_t *x = &mb[i], *y = &mq[i];
        if (rb[i] != rq[i] || x->message_key != y->message_key || x->sequence != y->sequence ||
            x->created_at != y->created_at || x->duplicate != y->duplicate ||
            x->reject != y->reject || x->del_flag != y->del_flag)
            fail_msg("message %zu (%s -> %s %s): batch rc %d key %lld seq %lld created %lld "
                     "dup %d reject %d del %d; one by one rc %d key %lld seq %lld created %lld "
                     "dup %d reject %d del %d",
                     i, x->from_id, x->to_id, x->message_id, rb[i], (long long)x->message_key,
                     (long long)x->sequence, (long long)x->created_at, x->duplicate, x->reject,
                     x->del_flag, rq[i], (long long)y->message_key, (long long)y->sequence,
                     (long long)y->created_at, y->duplicate, y->reject, y->del_flag);
    }
}

static void same_rows(side_t *b, side_t *q)
{
    char *x = dump(b), *y = dump(q);
    assert_string_equal(x, y);
    free(x);
    free(y);
}

static void both_sql(side_t *b, side_t *q, const char *sql)
{
    exec_ok(b->sql, sql);
    exec_ok(q->sql, sql);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define F STORE_MSG_CHECK_FRIEND
#define B STORE_MSG_CHECK_BLACK

/* ---- tests ---- */

static void test_mixed_runs(void **state)
{
    (void)state;
    if (!pg.up)
        skip();
    side_t b, q;
    side_open(&b, "batch");
    side_open(&q, "seq");

    /* A fresh database (no counter rows yet): new messages, a resend of
     * the first, the refused users, app 2, proposed keys out of order. */
    static const spec_t r1[] = {
        {1, "alice", "bob", "m1", NULL, NULL, 100, 0},
        {1, "bob", "alice", "m2", "{\"t\":\"yo \\\"q\\\" \\\\ {x}\"}", "e,x", 101, 0},
        {1, "alice", "bob", "m1", NULL, NULL, 102, 0},
        {1, "alice", "carol", "m3", NULL, NULL, 90, 0},
        {1, "mute", "alice", "m4", NULL, NULL, 103, 0},
        {1, "banned", "bob", "m5", NULL, NULL, 104, 0},
        {1, "alice", "gone", "m6", NULL, NULL, 105, 0},
        {1, "gone", "alice", "m7", NULL, NULL, 106, 0},
        {1, "nobody", "alice", "m8", NULL, NULL, 107, 0},
        {1, "alice", "nobody", "m9", NULL, NULL, 108, 0},
        {1, "carol", "dave", "m10", NULL, "NULL", 50, 0},
        {2, "alice", "bob", "m1", NULL, NULL, 20, 0},
        {2, "bob", "alice", "m1", NULL, NULL, 21, 0},
        {1, "bob", "alice", "m11", NULL, NULL, 109, 0},
    };
    run_both(&b, &q, r1, N(r1), 5000);
    same_rows(&b, &q);

    /* Resends across runs (one of a recalled original), the friendship
     * rules, a refused first copy followed by an accepted second one and
     * its resend, a conversation deleted before. */
    both_sql(&b, &q, "UPDATE im_message_body SET del_flag = 1, recalled_at = 1 "
                     "WHERE message_id = 'm2'");
    both_sql(&b, &q, "UPDATE im_conversation SET deleted = 1, read_seq = 9 "
                     "WHERE owner_id = 'bob' AND peer_id = 'alice' AND app_id = 1");
    static const spec_t r2[] = {
        {1, "alice", "bob", "m1", NULL, NULL, 200, 0},
        {1, "bob", "alice", "m2", NULL, NULL, 201, 0},
        {1, "alice", "carol", "f1", NULL, NULL, 202, F},
        {1, "alice", "bob", "f2", NULL, NULL, 203, F | B},
        {1, "alice", "erin", "f3", NULL, NULL, 204, B},
        {1, "alice", "dave", "f4", NULL, NULL, 205, B},
        {1, "alice", "dave", "f5", NULL, NULL, 206, F},
        {1, "erin", "alice", "f6", NULL, NULL, 207, F | B},
        {1, "alice", "carol", "q", NULL, NULL, 208, F},
        {1, "alice", "carol", "q", "{\"t\":2}", NULL, 209, 0},
        {1, "alice", "carol", "q", NULL, NULL, 210, F},
        {1, "mute", "bob", "m4", NULL, NULL, 211, 0},
        {1, "alice", "bob", "m12", NULL, NULL, 150, 0},
        {1, "bob", "alice", "m13", NULL, NULL, 151, 0},
        {2, "alice", "bob", "m1", NULL, NULL, 22, 0},
        {2, "alice", "bob", "m2", NULL, NULL, 1, 0},
    };
    run_both(&b, &q, r2, N(r2), 6000);
    same_rows(&b, &q);

    /* Many messages of one pair and of one owner in one run, both ways. */
    static char mids[40][16];
    spec_t r3[40];
    static const char *peers[] = {"bob", "carol", "dave", "erin"};
    for (int i = 0; i < 40; i++) {
        snprintf(mids[i], sizeof mids[i], "p%d", i);
        int back = i % 3 == 1;
        const char *peer = i < 24 ? "bob" : peers[i % 4];
        r3[i] = (spec_t){1, back ? peer : "alice", back ? "alice" : peer, mids[i], NULL, NULL,
                         300 + i, 0};
    }
    run_both(&b, &q, r3, N(r3), 7000);
    same_rows(&b, &q);

    /* A run of one. */
    static const spec_t r4[] = {{1, "dave", "carol", "s1", NULL, NULL, 400, 0}};
    run_both(&b, &q, r4, N(r4), 8000);
    same_rows(&b, &q);

    side_close(&b);
    side_close(&q);
}

/* A stray history row at the sequence carol -> dave's next message takes:
 * that message fails with a unique violation (nothing of it stored, the
 * others stored), so the batch goes one by one. */
static void test_unique_violation(void **state)
{
    (void)state;
    if (!pg.up)
        skip();
    side_t b, q;
    side_open(&b, "batch");
    side_open(&q, "seq");
    static const spec_t r1[] = {
        {1, "carol", "dave", "c1", NULL, NULL, 10, 0},
        {1, "alice", "bob", "a1", NULL, NULL, 11, 0},
    };
    run_both(&b, &q, r1, N(r1), 5000);
    both_sql(&b, &q, "INSERT INTO im_message_history(app_id, owner_id, peer_id, sequence, "
                     "message_key, sync_key) VALUES (1, 'dave', 'carol', 2, 999, 999)");
    static const spec_t r2[] = {
        {1, "alice", "bob", "a2", NULL, NULL, 20, 0},
        {1, "carol", "dave", "c2", NULL, NULL, 21, 0},
        {1, "bob", "alice", "a3", NULL, NULL, 22, 0},
        {1, "carol", "dave", "c2", NULL, NULL, 23, 0},
        {1, "alice", "bob", "a1", NULL, NULL, 24, 0},
    };
    run_both(&b, &q, r2, N(r2), 6000);
    same_rows(&b, &q);
    static const spec_t r3[] = {
        {1, "carol", "dave", "c3", NULL, NULL, 30, 0},
        {1, "dave", "carol", "c4", NULL, NULL, 31, 0},
    };
    run_both(&b, &q, r3, N(r3), 7000);
    same_rows(&b, &q);
    side_close(&b);
    side_close(&q);
}

/* Full runs of random traffic: users (some refused), both apps, flags,
 * resends of earlier ids, keys mostly rising. */
static void test_random_runs(void **state)
{
    (void)state;
    if (!pg.up)
        skip();
    side_t b, q;
    side_open(&b, "batch");
    side_open(&q, "seq");
    static const char *users[] = {"alice", "bob", "carol", "dave", "erin", "mute", "gone"};
    static char mids[4 * RUN_MAX][16];
    static spec_t all[4 * RUN_MAX], r[RUN_MAX];
    uint32_t x = 12345;
    int made = 0;
    int64_t key = 1000;
    for (int run = 0; run < 4; run++) {
        for (int i = 0; i < RUN_MAX; i++) {
            x = x * 1103515245u + 12345u;
            uint32_t v = x >> 8;
            key += v % 13 == 0 ? -50 : 1 + (int64_t)(v % 3);
            if (made > 0 && v % 7 == 0) { /* a resend of an earlier message */
                r[i] = all[(v >> 12) % (uint32_t)made];
                r[i].key = key;
                continue;
            }
            int32_t app = v % 9 == 0 ? 2 : 1;
            size_t nu = app == 2 ? 2 : N(users);
            const char *from = users[(v >> 4) % nu];
            const char *to = users[(v >> 8) % nu];
            if (from == to)
                to = users[((v >> 8) + 1) % nu];
            snprintf(mids[made], sizeof mids[made], "r%d", made);
            unsigned flags = v % 5 == 0 ? (v >> 16) % 4 : 0;
            r[i] = (spec_t){app, from, to, mids[made], NULL, v % 2 ? "x" : NULL, key, flags};
            all[made++] = r[i];
        }
        run_both(&b, &q, r, RUN_MAX, 9000 + run);
        same_rows(&b, &q);
    }
    side_close(&b);
    side_close(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_runs),
        cmocka_unit_test(test_unique_violation),
        cmocka_unit_test(test_random_runs),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
