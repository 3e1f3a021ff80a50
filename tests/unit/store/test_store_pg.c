/*
 * Unit tests for what only the PostgreSQL backend has (issue 16), through
 * the public store.h API:
 *   - sequence allocation under concurrent writers: two store handles on
 *     one database (two writers, like two petreld nodes) send many
 *     messages in the same conversations from several threads at once;
 *     every pair's sequences are 1..n once each, message keys are unique
 *     and follow the sequences, although one writer proposes keys far
 *     below the other's (a node whose clock is behind);
 *   - error isolation in the writer's pipeline: in one group-committed
 *     batch, ops that fail on the server (a CHECK violation, a unique
 *     violation; first, in the middle and last) fail alone, their
 *     neighbours commit and the sequences have no hole;
 *   - reconnect: the server stopped the hard way (pg_ctl stop -m
 *     immediate), writes fail with an error (never a success) and
 *     store_health reports write_failing; started again, writes and reads
 *     work without reopening the store, and a restart while the store is
 *     idle costs no failed write at all.
 * The test starts its own server with scripts/pg-test-server.sh (initdb
 * in a mkdtemp directory, a free loopback port; stopped and removed at the
 * end) and gives each test a fresh database.  Without PostgreSQL installed
 * every test is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store.h"
#include "pg_server.h"

#define APP 1600000001

/* ---- the server ---- */

static pg_server_t pg;

static int pg_script(const char *cmd)
{
    return pg_server_script(&pg, cmd);
}

static int group_setup(void **state)
{
    (void)state;
    return pg_server_open(&pg, "pgunit") < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pg_server_close(&pg);
    return 0;
}

/* ---- a fresh database per test (pg_server.h) ---- */

typedef pg_fixture_t fixture_t;

static int setup(void **state)
{
    return pg_fixture_setup(&pg, state, "t");
}

static int teardown(void **state)
{
    return pg_fixture_teardown(state);
}

static store_t *open_pg(fixture_t *f)
{
    store_config_t cfg = {.data_dir = f->data_dir, .pg_conninfo = f->url, .read_conns = 2};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    assert_non_null(st);
    return st;
}

/* ---- data ---- */

static const char *const USERS[] = {"alice", "bob", "carol", "dave"};

static void import_users(store_t *st)
{
    store_user_t u[4];
    int res[4];
    memset(u, 0, sizeof u);
    for (size_t i = 0; i < 4; i++) {
        u[i].app_id = APP;
        snprintf(u[i].user_id, sizeof u[i].user_id, "%s", USERS[i]);
        snprintf(u[i].nick_name, sizeof u[i].nick_name, "%s", USERS[i]);
        u[i].friend_allow_type = 1;
        u[i].user_type = 1;
    }
    assert_int_equal(store_user_import_sync(st, u, 4, res), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(res[i], 0);
}

static store_msg_t make_msg(const char *from, const char *to, const char *mid, int64_t key)
{
    store_msg_t m;
    memset(&m, 0, sizeof m);
    m.app_id = APP;
    snprintf(m.from_id, sizeof m.from_id, "%s", from);
    snprintf(m.to_id, sizeof m.to_id, "%s", to);
    snprintf(m.message_id, sizeof m.message_id, "%s", mid);
    m.body = (char *)"{\"type\":1}";
    m.message_time = 1795425600000;
    m.message_key = key;
    return m;
}

static atomic_llong next_key = 1000000000;

/* owner's history with peer, ascending: n rows into seqs[] / keys[]. */
static size_t history(store_t *st, const char *owner, const char *peer, int64_t *seqs,
                      int64_t *keys, size_t cap)
{
    size_t total = 0;
    int64_t from = 0;
    for (;;) {
        store_msg_row_t *rows = NULL;
        size_t n = 0;
        assert_int_equal(store_msg_history_sync(st, APP, owner, peer, from, 0, 200, 0, &rows, &n),
                         0);
        for (size_t i = 0; i < n; i++) {
            assert_true(total < cap);
            seqs[total] = rows[i].sequence;
            keys[total++] = rows[i].message_key;
            from = rows[i].sequence + 1;
        }
        store_msg_rows_free(rows, n);
        if (n < 200)
            return total;
    }
}

/* ---- (a) two writers, the same conversations ---- */

#define THREADS 8 /* 4 per store: alice->bob, bob->alice, carol->dave, dave->carol */
#define PER_THREAD 300
#define PER_PAIR (4 * PER_THREAD)

typedef struct tally {
    atomic_int left, failed;
} tally_t;

typedef struct sender {
    store_t *st;
    int idx;
    int low_keys; /* propose keys far below the other writer's */
    store_msg_t *msgs;
    tally_t *tally;
    int errors;
} sender_t;

/* Callbacks run on a writer thread, where cmocka cannot fail a test:
 * they count, the test thread asserts. */
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
    static const char *const from[4] = {"alice", "bob", "carol", "dave"};
    static const char *const to[4] = {"bob", "alice", "dave", "carol"};
    for (int i = 0; i < PER_THREAD; i++) {
        char mid[32];
        snprintf(mid, sizeof mid, "w%d-%d", s->idx, i);
        int64_t key = atomic_fetch_add(&next_key, 10);
        s->msgs[i] = make_msg(from[s->idx % 4], to[s->idx % 4], mid,
                              s->low_keys ? 1 + i : key);
        if (store_msg_p2p(s->st, &s->msgs[i], sent_cb, s->tally) != 0)
            s->errors++;
        if (i % 50 == 49)
            usleep(1000); /* let both writers' batches interleave */
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_two_writers_same_conversations(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    store_t *a = open_pg(f), *b = open_pg(f);
    import_users(a);

    tally_t tally;
    atomic_init(&tally.left, THREADS * PER_THREAD);
    atomic_init(&tally.failed, 0);
    sender_t s[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (sender_t){.st = i < 4 ? a : b, .idx = i, .low_keys = i >= 4, .tally = &tally};
        s[i].msgs = calloc(PER_THREAD, sizeof *s[i].msgs);
        assert_non_null(s[i].msgs);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, sender_main, &s[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(s[i].errors, 0);
    }
    while (atomic_load(&tally.left) > 0)
        usleep(1000);
    assert_int_equal(atomic_load(&tally.failed), 0);

    /* The acks: per pair, 1..PER_PAIR once each; keys unique overall. */
    int64_t *keys = calloc(THREADS * PER_THREAD, sizeof *keys);
    assert_non_null(keys);
    size_t nk = 0;
    for (int pair = 0; pair < 2; pair++) {
        char *seen = calloc(PER_PAIR + 1, 1);
        assert_non_null(seen);
        for (int t = 0; t < THREADS; t++) {
            if ((t % 4) / 2 != pair)
                continue;
            for (int i = 0; i < PER_THREAD; i++) {
                store_msg_t *m = &s[t].msgs[i];
                assert_int_equal(m->reject, 0);
                assert_int_equal(m->duplicate, 0);
                assert_true(m->sequence >= 1 && m->sequence <= PER_PAIR);
                assert_int_equal(seen[m->sequence], 0);
                seen[m->sequence] = 1;
                keys[nk++] = m->message_key;
            }
        }
        free(seen);
    }
    qsort(keys, nk, sizeof *keys, cmp_i64);
    for (size_t i = 1; i < nk; i++)
        assert_true(keys[i] > keys[i - 1]);
    free(keys);

    /* What each store reads back: every owner's rows 1..PER_PAIR, keys
     * rising with the sequence (both numbers follow commit order), the
     * conversation's last_seq. */
    const char *owners[4][2] = {{"alice", "bob"}, {"bob", "alice"}, {"carol", "dave"},
                                {"dave", "carol"}};
    int64_t *seqs = calloc(PER_PAIR, sizeof *seqs), *ks = calloc(PER_PAIR, sizeof *ks);
    assert_non_null(seqs);
    assert_non_null(ks);
    for (int o = 0; o < 4; o++) {
        store_t *st = o % 2 ? b : a;
        assert_int_equal(history(st, owners[o][0], owners[o][1], seqs, ks, PER_PAIR), PER_PAIR);
        for (int i = 0; i < PER_PAIR; i++) {
            assert_int_equal(seqs[i], i + 1);
            if (i)
                assert_true(ks[i] > ks[i - 1]);
        }
        store_conv_t c;
        assert_int_equal(store_conv_get_sync(st, APP, owners[o][0], 0, owners[o][1], &c), 0);
        assert_int_equal(c.last_seq, PER_PAIR);
    }
    free(seqs);
    free(ks);

    /* A resend through the other writer is the same message. */
    store_msg_t again = make_msg("alice", "bob", "w0-7", atomic_fetch_add(&next_key, 10));
    assert_int_equal(store_msg_p2p_sync(b, &again), 0);
    assert_int_equal(again.duplicate, 1);
    assert_int_equal(again.sequence, s[0].msgs[7].sequence);
    assert_int_equal(again.message_key, s[0].msgs[7].message_key);

    for (int i = 0; i < THREADS; i++)
        free(s[i].msgs);
    store_close(b);
    store_close(a);
}

/* ---- (b) a failing op in a pipelined batch fails alone ---- */

typedef struct gate {
    sem_t entered, release;
} gate_t;

/* Parks the writer thread (after its batch committed) until released. */
static void gate_cb(void *arg, int rc)
{
    gate_t *g = arg;
    (void)rc;
    sem_post(&g->entered);
    sem_wait(&g->release);
}

typedef struct rec {
    atomic_int calls, rc;
} rec_t;

static void rec_cb(void *arg, int rc)
{
    rec_t *r = arg;
    atomic_store(&r->rc, rc);
    atomic_fetch_add(&r->calls, 1);
}

static store_app_t make_app(int32_t id, int policy)
{
    store_app_t x;
    memset(&x, 0, sizeof x);
    x.app_id = id;
    snprintf(x.secret, sizeof x.secret, "secret-%d", (int)id);
    snprintf(x.admin_id, sizeof x.admin_id, "admin");
    x.login_policy = policy;
    snprintf(x.settings, sizeof x.settings, "{}");
    x.created_at = 1700000000000LL;
    return x;
}

enum { OPS = 8 };

static void test_failed_op_isolated_in_pipeline(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    store_t *st = open_pg(f);
    import_users(st);

    gate_t g;
    sem_init(&g.entered, 0, 0);
    sem_init(&g.release, 0, 0);
    store_app_t ga = make_app(1, 3);
    assert_int_equal(store_app_put(st, &ga, gate_cb, &g), 0);
    sem_wait(&g.entered); /* the gate's batch committed; the writer is parked */

    /* One batch: the CHECK violations (login_policy 1..4) come first and
     * last, the unique violation (a name taken, ignoring case) in the
     * middle; every other op must commit. */
    rec_t r[OPS];
    memset(r, 0, sizeof r);
    store_app_t bad1 = make_app(2, 9), good = make_app(3, 2), bad2 = make_app(4, 0);
    store_msg_t m1 = make_msg("alice", "bob", "p1", atomic_fetch_add(&next_key, 10));
    store_msg_t m2 = make_msg("bob", "alice", "p2", atomic_fetch_add(&next_key, 10));
    store_msg_t m3 = make_msg("alice", "bob", "p3", atomic_fetch_add(&next_key, 10));
    assert_int_equal(store_app_put(st, &bad1, rec_cb, &r[0]), 0);
    assert_int_equal(store_msg_p2p(st, &m1, rec_cb, &r[1]), 0);
    assert_int_equal(store_account_create(st, APP, "Alice.A", "alice", "h1", rec_cb, &r[2]), 0);
    assert_int_equal(store_msg_p2p(st, &m2, rec_cb, &r[3]), 0);
    assert_int_equal(store_account_create(st, APP, "alice.a", "bob", "h2", rec_cb, &r[4]), 0);
    assert_int_equal(store_msg_p2p(st, &m3, rec_cb, &r[5]), 0);
    assert_int_equal(store_app_put(st, &good, rec_cb, &r[6]), 0);
    assert_int_equal(store_app_put(st, &bad2, rec_cb, &r[7]), 0);
    store_stats_t s0, s;
    store_get_stats(st, &s0);
    assert_int_equal(s0.queued, OPS);
    sem_post(&g.release);
    assert_int_equal(store_shutdown(st), 0); /* runs the batch, then stops the writer */

    for (int i = 0; i < OPS; i++)
        assert_int_equal(atomic_load(&r[i].calls), 1);
    assert_int_equal(atomic_load(&r[0].rc), STORE_EINVAL);
    assert_int_equal(atomic_load(&r[1].rc), 0);
    assert_int_equal(atomic_load(&r[2].rc), 0);
    assert_int_equal(atomic_load(&r[3].rc), 0);
    assert_int_equal(atomic_load(&r[4].rc), STORE_ECONFLICT);
    assert_int_equal(atomic_load(&r[5].rc), 0);
    assert_int_equal(atomic_load(&r[6].rc), 0);
    assert_int_equal(atomic_load(&r[7].rc), STORE_EINVAL);
    store_get_stats(st, &s);
    assert_int_equal(s.commits - s0.commits, 1); /* all of them in one transaction */
    assert_int_equal(s.batch_max, OPS);
    assert_int_equal(s.op_failures - s0.op_failures, 3);
    assert_int_equal(s.failures, 0);
    /* no hole: the failed ops around them took no number */
    assert_int_equal(m1.sequence, 1);
    assert_int_equal(m2.sequence, 2);
    assert_int_equal(m3.sequence, 3);

    store_app_t got;
    assert_int_equal(store_app_get_sync(st, 2, &got), STORE_ENOTFOUND);
    assert_int_equal(store_app_get_sync(st, 3, &got), 0);
    assert_int_equal(got.login_policy, 2);
    assert_int_equal(store_app_get_sync(st, 4, &got), STORE_ENOTFOUND);
    char uid[STORE_ID_MAX + 1];
    assert_int_equal(store_account_get_sync(st, APP, "ALICE.a", uid, NULL, 0), 0);
    assert_string_equal(uid, "alice");
    int64_t seqs[8], keys[8];
    assert_int_equal(history(st, "bob", "alice", seqs, keys, 8), 3);
    store_close(st);
    sem_destroy(&g.entered);
    sem_destroy(&g.release);
}

/* ---- (c) the server goes away and comes back ---- */

static void test_reconnect(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    store_t *st = open_pg(f);
    import_users(st);
    store_msg_t m = make_msg("alice", "bob", "r1", atomic_fetch_add(&next_key, 10));
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.sequence, 1);
    int64_t seqs[8], keys[8];
    assert_int_equal(history(st, "alice", "bob", seqs, keys, 8), 1);

    assert_int_equal(pg_script("stop"), 0); /* immediate */
    store_msg_t lost = make_msg("alice", "bob", "r2", atomic_fetch_add(&next_key, 10));
    assert_int_equal(store_msg_p2p_sync(st, &lost), STORE_EIO);
    assert_int_equal(lost.sequence, 0); /* no result for what did not commit */
    store_health_t h;
    store_health_get(st, &h);
    assert_int_equal(h.write_failing, 1);
    assert_true(h.write_failures >= 1);
    assert_int_equal(h.gone, 0);
    store_app_t app = make_app(5, 1);
    assert_int_equal(store_app_put_sync(st, &app), STORE_EIO);
    assert_true(store_ping_sync(st) != 0);
    store_health_sync(st, &h); /* its probe fails too */
    assert_int_equal(h.write_failing, 1);

    assert_int_equal(pg_script("start"), 0);
    /* The writer reconnects by itself (back-off: at most 5 s between
     * attempts); the health check's probe is one such attempt. */
    for (int i = 0; i < 150; i++) {
        store_health_sync(st, &h);
        if (!h.write_failing)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(h.write_failing, 0);
    store_msg_t m3 = make_msg("alice", "bob", "r3", atomic_fetch_add(&next_key, 10));
    assert_int_equal(store_msg_p2p_sync(st, &m3), 0);
    assert_int_equal(m3.sequence, 2); /* the failed send left no hole */
    /* the refused message was not stored: its resend is new */
    assert_int_equal(store_msg_p2p_sync(st, &lost), 0);
    assert_int_equal(lost.duplicate, 0);
    assert_int_equal(lost.sequence, 3);
    assert_int_equal(store_ping_sync(st), 0);
    assert_int_equal(history(st, "bob", "alice", seqs, keys, 8), 3);
    assert_int_equal(store_app_put_sync(st, &app), 0);

    /* A restart while the store is idle: found before use, so neither the
     * next write nor the next read fails. */
    uint64_t failures = h.write_failures;
    assert_int_equal(pg_script("stop"), 0);
    assert_int_equal(pg_script("start"), 0);
    assert_int_equal(history(st, "alice", "bob", seqs, keys, 8), 3);
    store_msg_t m4 = make_msg("bob", "alice", "r4", atomic_fetch_add(&next_key, 10));
    assert_int_equal(store_msg_p2p_sync(st, &m4), 0);
    assert_int_equal(m4.sequence, 4);
    store_health_get(st, &h);
    assert_int_equal(h.write_failing, 0);
    assert_int_equal(h.write_failures, failures);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_writers_same_conversations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_op_isolated_in_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
