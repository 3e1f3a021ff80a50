/*
 * Unit tests of the storage quota shared through PostgreSQL (issue 17:
 * several nodes, one database), through the public store.h API with two
 * store handles on one database standing in for two petreld nodes:
 *   - the shared count: messages (one-to-one, with and without extra, a
 *     resend, a group message) through both stores; the second store,
 *     which never heard of the app at open, starts at the database's
 *     count and refuses once the first's bytes plus its own reach the
 *     quota; the first, which last heard before, overshoots by at most
 *     its next batch and then refuses too; the counter equals the sum
 *     of the stored messages, and a store opened afterwards reads it;
 *   - both stores sending at once from several threads, with a known
 *     headroom: the counter equals the sum, and the overshoot is at
 *     most the headroom (each store admits at most what it believes is
 *     left);
 *   - a rolled-back transaction (a deferred constraint trigger makes its
 *     COMMIT fail) is counted neither in the database nor by the store;
 *   - migration 4 on a version 3 database holding messages sets each
 *     app's counter from its messages, and a store opens from the
 *     counter (not a scan of the messages).
 * The test starts its own server (pg_server.h); without PostgreSQL
 * installed every test is skipped.
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
#include <unistd.h>

#include "petrel/errors.h"
#include "server/store/store.h"
#include "pg_server.h"

#define APP 1600000007
#define APP_BYTES_KIND 8 /* store_pg_int.h PGC_APP_BYTES */
#define MSG_BYTES 100    /* every test message: body + extra */
#define QUOTA 10000

static pg_server_t pg;

static int group_setup(void **state)
{
    (void)state;
    return pg_server_open(&pg, "pgquota") < 0 ? -1 : 0;
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
    return pg_fixture_setup(&pg, state, "q");
}

static int teardown(void **state)
{
    return pg_fixture_teardown(state);
}

static store_t *open_pg(fixture_t *f, int64_t quota)
{
    store_config_t cfg = {.data_dir = f->data_dir, .pg_conninfo = f->url, .read_conns = 2,
                          .app_quota_bytes = quota};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    assert_non_null(st);
    return st;
}

/* ---- SQL on the side ---- */

static void sql_exec(fixture_t *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(c);
}

/* One integer; -1 for no row or NULL. */
static int64_t sql_i64(fixture_t *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t v = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                                             : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* The app's shared count (-1: no row) and what its messages hold. */
static int64_t counter(fixture_t *f)
{
    return sql_i64(f, "SELECT value FROM im_counter WHERE app_id = " STR(APP)
                      " AND kind = " STR(APP_BYTES_KIND) " AND k1 = '' AND k2 = ''");
}

static int64_t msg_sum(fixture_t *f)
{
    return sql_i64(f,
                   "SELECT (SELECT coalesce(sum(octet_length(body) + coalesce(octet_length(extra), "
                   "0)), 0) FROM im_message_body WHERE app_id = " STR(APP) ") + (SELECT "
                   "coalesce(sum(octet_length(body) + coalesce(octet_length(extra), 0)), 0) "
                   "FROM im_group_message WHERE app_id = " STR(APP) ")");
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

static void put_app(store_t *st)
{
    store_app_t a;
    memset(&a, 0, sizeof a);
    a.app_id = APP;
    snprintf(a.secret, sizeof a.secret, "secret");
    snprintf(a.admin_id, sizeof a.admin_id, "admin");
    a.login_policy = 3;
    snprintf(a.settings, sizeof a.settings, "{}");
    a.created_at = 1700000000000LL;
    assert_int_equal(store_app_put_sync(st, &a), 0);
}

/* 100-byte bodies: {"t":"xxx..."}, 90 with a 10-byte extra when with_extra. */
static char BODY100[MSG_BYTES + 1], BODY90[MSG_BYTES - 10 + 1];
static char EXTRA10[] = "{\"e\":\"12\"}";

static void fill_body(char *b, size_t len)
{
    memset(b, 'x', len);
    memcpy(b, "{\"t\":\"", 6);
    memcpy(b + len - 2, "\"}", 2);
    b[len] = 0;
}

static atomic_llong next_key = 1000000000;

static store_msg_t make_msg(const char *from, const char *to, const char *mid, int with_extra)
{
    store_msg_t m;
    memset(&m, 0, sizeof m);
    m.app_id = APP;
    snprintf(m.from_id, sizeof m.from_id, "%s", from);
    snprintf(m.to_id, sizeof m.to_id, "%s", to);
    snprintf(m.message_id, sizeof m.message_id, "%s", mid);
    m.body = with_extra ? BODY90 : BODY100;
    m.extra = with_extra ? EXTRA10 : NULL;
    m.message_time = 1795425600000;
    m.message_key = atomic_fetch_add(&next_key, 10);
    return m;
}

/* Send one message (sync); its reject code (0 stored, or a resend). */
static int send_p2p(store_t *st, const char *from, const char *to, const char *mid,
                    int with_extra, int *dup)
{
    store_msg_t m = make_msg(from, to, mid, with_extra);
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    if (dup)
        *dup = m.duplicate;
    return m.reject;
}

/* n messages alice -> bob, ids prefix-0.., every other one with extra;
 * asserts each is stored. */
static void send_n(store_t *st, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char mid[48];
        snprintf(mid, sizeof mid, "%s-%d", prefix, i);
        assert_int_equal(send_p2p(st, i % 2 ? "alice" : "bob", i % 2 ? "bob" : "alice", mid,
                                  i % 2, NULL),
                         0);
    }
}

static void make_group(store_t *st, const char *gid)
{
    store_group_member_t m[2];
    int res[2];
    memset(m, 0, sizeof m);
    snprintf(m[0].member_id, sizeof m[0].member_id, "bob");
    snprintf(m[1].member_id, sizeof m[1].member_id, "carol");
    store_group_op_t op;
    memset(&op, 0, sizeof op);
    op.what = SG_CREATE;
    op.app_id = APP;
    snprintf(op.group_id, sizeof op.group_id, "%s", gid);
    snprintf(op.operator_id, sizeof op.operator_id, "alice");
    op.g.group_type = 2;
    op.g.apply_join_type = 1;
    op.n = 2;
    op.members = m;
    op.results = res;
    assert_int_equal(store_group_write_sync(st, &op), 0);
    assert_int_equal(op.reject, 0);
    store_group_op_clear(&op);
}

/* A group message of MSG_BYTES; its reject code. */
static int send_group(store_t *st, const char *gid, const char *mid)
{
    store_group_op_t op;
    memset(&op, 0, sizeof op);
    op.what = SG_MSG;
    op.app_id = APP;
    snprintf(op.group_id, sizeof op.group_id, "%s", gid);
    snprintf(op.operator_id, sizeof op.operator_id, "alice");
    snprintf(op.msg.message_id, sizeof op.msg.message_id, "%s", mid);
    op.msg.body = BODY90;
    op.msg.extra = EXTRA10;
    op.msg.message_key = atomic_fetch_add(&next_key, 10);
    assert_int_equal(store_group_write_sync(st, &op), 0);
    int r = op.reject;
    store_group_op_clear(&op);
    return r;
}

static int group_ready(void **state)
{
    (void)state;
    fill_body(BODY100, MSG_BYTES);
    fill_body(BODY90, MSG_BYTES - 10);
    assert_int_equal(strlen(EXTRA10), 10);
    return group_setup(state);
}

/* ---- (a) the count shared by two stores ---- */

static void test_shared_quota(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    /* The app is made after both opened: neither loaded it at open. */
    store_t *a = open_pg(f, QUOTA), *b = open_pg(f, QUOTA);
    import_users(a);
    put_app(a);
    make_group(a, "g1");

    /* a: 59 one-to-one and a group message, 6000 bytes; a resend is not new. */
    send_n(a, "a", 59);
    assert_int_equal(send_group(a, "g1", "ga-0"), 0);
    int dup = 0;
    assert_int_equal(send_p2p(a, "bob", "alice", "a-0", 0, &dup), 0);
    assert_int_equal(dup, 1);
    assert_int_equal(counter(f), 60 * MSG_BYTES);
    assert_int_equal(msg_sum(f), 60 * MSG_BYTES);

    /* b starts from the database's count: 40 more reach the quota exactly,
     * the next is refused, one-to-one or group. */
    send_n(b, "b", 40);
    assert_int_equal(counter(f), QUOTA);
    assert_int_equal(send_p2p(b, "carol", "dave", "b-over", 0, NULL), PETREL_ERR_QUOTA);
    assert_int_equal(send_group(b, "g1", "gb-over"), PETREL_ERR_QUOTA);
    assert_int_equal(counter(f), QUOTA);

    /* a last heard 6000: its next message passes (the overshoot, one
     * batch), its commit brings the total, and then a refuses too. */
    assert_int_equal(send_p2p(a, "carol", "dave", "a-late", 0, NULL), 0);
    assert_int_equal(counter(f), QUOTA + MSG_BYTES);
    assert_int_equal(send_p2p(a, "carol", "dave", "a-over", 0, NULL), PETREL_ERR_QUOTA);
    assert_int_equal(send_group(a, "g1", "ga-over"), PETREL_ERR_QUOTA);
    /* the quota comes first, before the resend lookup (as with one node) */
    assert_int_equal(send_p2p(b, "alice", "bob", "a-1", 1, &dup), PETREL_ERR_QUOTA);

    assert_int_equal(counter(f), msg_sum(f));
    assert_int_equal(msg_sum(f), QUOTA + MSG_BYTES);
    store_close(b);
    store_close(a);

    /* A store opened now starts over the quota (and so do the ones with a
     * larger quota, from the count). */
    store_t *c = open_pg(f, QUOTA);
    assert_int_equal(send_p2p(c, "alice", "bob", "c-1", 0, NULL), PETREL_ERR_QUOTA);
    store_close(c);
    c = open_pg(f, QUOTA + 2 * MSG_BYTES);
    assert_int_equal(send_p2p(c, "alice", "bob", "c-2", 0, NULL), 0);
    assert_int_equal(send_p2p(c, "alice", "bob", "c-3", 0, NULL), PETREL_ERR_QUOTA);
    store_close(c);
    /* without a quota the count is kept all the same */
    c = open_pg(f, 0);
    send_n(c, "c0", 3);
    store_close(c);
    assert_int_equal(counter(f), QUOTA + 5 * MSG_BYTES);
    assert_int_equal(msg_sum(f), counter(f));
}

/* ---- (b) both stores at once ---- */

#define SENDERS 4   /* two per store */
#define PER_SENDER 60
#define HEADROOM (20 * MSG_BYTES)

typedef struct tally {
    atomic_int left, failed, stored, refused;
} tally_t;

typedef struct sender {
    store_t *st;
    int idx;
    store_msg_t *msgs;
    tally_t *tally;
    int errors;
} sender_t;

typedef struct sent {
    store_msg_t *m;
    tally_t *t;
} sent_t;

/* On a writer thread: counts only (cmocka cannot fail a test there). */
static void sent_cb(void *arg, int rc)
{
    sent_t *s = arg;
    if (rc != 0)
        atomic_fetch_add(&s->t->failed, 1);
    else if (s->m->reject == PETREL_ERR_QUOTA)
        atomic_fetch_add(&s->t->refused, 1);
    else if (s->m->reject == 0 && !s->m->duplicate)
        atomic_fetch_add(&s->t->stored, 1);
    atomic_fetch_sub(&s->t->left, 1);
}

static void *sender_main(void *p)
{
    sender_t *s = p;
    static const char *const from[4] = {"alice", "bob", "carol", "dave"};
    static const char *const to[4] = {"bob", "alice", "dave", "carol"};
    sent_t *cbs = calloc(PER_SENDER, sizeof *cbs);
    if (!cbs) {
        s->errors = PER_SENDER;
        return NULL;
    }
    for (int i = 0; i < PER_SENDER; i++) {
        char mid[32];
        snprintf(mid, sizeof mid, "w%d-%d", s->idx, i);
        s->msgs[i] = make_msg(from[s->idx], to[s->idx], mid, i % 3 == 0);
        cbs[i] = (sent_t){&s->msgs[i], s->tally};
        if (store_msg_p2p(s->st, &s->msgs[i], sent_cb, &cbs[i]) != 0) {
            s->errors++;
            atomic_fetch_sub(&s->tally->left, 1);
        }
        if (i % 10 == 9)
            usleep(500); /* let both writers' batches interleave */
    }
    while (atomic_load(&s->tally->left) > 0)
        usleep(1000);
    free(cbs);
    return NULL;
}

static void test_concurrent_stores(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    store_t *seed = open_pg(f, 0);
    import_users(seed);
    put_app(seed);
    send_n(seed, "s", (QUOTA - HEADROOM) / MSG_BYTES);
    store_close(seed);

    store_config_t cfg = {.data_dir = f->data_dir, .pg_conninfo = f->url, .read_conns = 2,
                          .app_quota_bytes = QUOTA, .max_batch = 8};
    store_t *a = NULL, *b = NULL;
    assert_int_equal(store_open(&cfg, &a), 0);
    assert_int_equal(store_open(&cfg, &b), 0);

    tally_t t;
    atomic_init(&t.left, SENDERS * PER_SENDER);
    atomic_init(&t.failed, 0);
    atomic_init(&t.stored, 0);
    atomic_init(&t.refused, 0);
    sender_t s[SENDERS];
    pthread_t th[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        s[i] = (sender_t){.st = i % 2 ? b : a, .idx = i, .tally = &t};
        s[i].msgs = calloc(PER_SENDER, sizeof *s[i].msgs);
        assert_non_null(s[i].msgs);
    }
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, sender_main, &s[i]), 0);
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(s[i].errors, 0);
        free(s[i].msgs);
    }
    assert_int_equal(atomic_load(&t.failed), 0);
    int stored = atomic_load(&t.stored), refused = atomic_load(&t.refused);
    assert_int_equal(stored + refused, SENDERS * PER_SENDER);

    int64_t sum = msg_sum(f);
    assert_int_equal(counter(f), sum);
    assert_int_equal(sum, QUOTA - HEADROOM + (int64_t)stored * MSG_BYTES);
    /* Each store admits at most what it believes is left, and it never
     * believes more than the headroom: the overshoot is at most that. */
    assert_true(sum > QUOTA - MSG_BYTES);
    assert_true(sum <= QUOTA + HEADROOM);
    /* Both refuse now. */
    assert_int_equal(send_p2p(a, "alice", "bob", "after-a", 0, NULL), PETREL_ERR_QUOTA);
    assert_int_equal(send_p2p(b, "alice", "bob", "after-b", 0, NULL), PETREL_ERR_QUOTA);
    store_close(b);
    store_close(a);
}

/* ---- (c) a rolled-back transaction is not counted ---- */

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

#define BATCH 5

static void test_rollback_not_counted(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    store_t *st = open_pg(f, QUOTA);
    import_users(st);
    put_app(st);
    send_n(st, "m", 90);
    assert_int_equal(counter(f), 9000);
    /* A message id "boom..." fails its transaction's COMMIT. */
    sql_exec(f, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.message_id LIKE 'boom%' THEN RAISE EXCEPTION 'boom'; END IF; "
                "RETURN NULL; END $$;"
                "CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON im_message_body "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION boom()");

    for (int round = 0; round < 2; round++) {
        /* One batch (the writer parked meanwhile): a run of messages
         * (round 0) or a single one (round 1), the first of which fails
         * the COMMIT. */
        gate_t g;
        sem_init(&g.entered, 0, 0);
        sem_init(&g.release, 0, 0);
        store_app_t ga;
        memset(&ga, 0, sizeof ga);
        ga.app_id = 42;
        snprintf(ga.secret, sizeof ga.secret, "s");
        snprintf(ga.admin_id, sizeof ga.admin_id, "admin");
        ga.login_policy = 3;
        snprintf(ga.settings, sizeof ga.settings, "{}");
        ga.created_at = 1;
        assert_int_equal(store_app_put(st, &ga, gate_cb, &g), 0);
        sem_wait(&g.entered);
        int n = round == 0 ? BATCH : 1;
        store_msg_t m[BATCH];
        sent_t cbs[BATCH];
        tally_t t;
        atomic_init(&t.left, n);
        atomic_init(&t.failed, 0);
        atomic_init(&t.stored, 0);
        atomic_init(&t.refused, 0);
        for (int i = 0; i < n; i++) {
            char mid[32];
            snprintf(mid, sizeof mid, "%s%d-%d", i == 0 ? "boom" : "ok", round, i);
            m[i] = make_msg("alice", "bob", mid, i % 2);
            cbs[i] = (sent_t){&m[i], &t};
            assert_int_equal(store_msg_p2p(st, &m[i], sent_cb, &cbs[i]), 0);
        }
        sem_post(&g.release);
        while (atomic_load(&t.left) > 0)
            usleep(1000);
        assert_int_equal(atomic_load(&t.failed), n);
        sem_destroy(&g.entered);
        sem_destroy(&g.release);
        assert_int_equal(counter(f), 9000);
        assert_int_equal(msg_sum(f), 9000);
    }

    /* The store took them back too (no commit of the app's since, which
     * would have brought the count anyway): 1000 bytes more fit in one
     * message, and then nothing. */
    static char big[1001];
    fill_body(big, 1000);
    store_msg_t m = make_msg("alice", "bob", "big", 0);
    m.body = big;
    assert_int_equal(store_msg_p2p_sync(st, &m), 0);
    assert_int_equal(m.reject, 0);
    assert_int_equal(send_p2p(st, "alice", "bob", "n-over", 0, NULL), PETREL_ERR_QUOTA);
    assert_int_equal(counter(f), QUOTA);
    assert_int_equal(msg_sum(f), QUOTA);
    store_close(st);
}

/* ---- (d) migration 4 on a version 3 database ---- */

static void test_migration_sets_counter(void **state)
{
    if (!pg.up)
        skip();
    fixture_t *f = *state;
    store_t *st = open_pg(f, 0);
    assert_int_equal(store_schema_version(st), 4);
    import_users(st);
    put_app(st);
    make_group(st, "g1");
    send_n(st, "v3", 25);
    assert_int_equal(send_group(st, "g1", "g-0"), 0);
    assert_int_equal(send_group(st, "g1", "g-1"), 0);
    store_close(st);
    /* Back to version 3 (migration 4 changes no table): no counter. */
    sql_exec(f, "DELETE FROM im_counter WHERE kind = " STR(APP_BYTES_KIND) ";"
                "DELETE FROM schema_migrations WHERE version = 4");
    assert_int_equal(counter(f), -1);
    assert_int_equal(sql_i64(f, "SELECT max(version) FROM schema_migrations"), 3);
    assert_int_equal(msg_sum(f), 27 * MSG_BYTES);

    /* Opened by this binary: migrated, the counter from the messages. */
    st = open_pg(f, 30 * MSG_BYTES);
    assert_int_equal(store_schema_version(st), 4);
    assert_int_equal(counter(f), 27 * MSG_BYTES);
    send_n(st, "v4", 3);
    assert_int_equal(send_p2p(st, "alice", "bob", "v4-over", 0, NULL), PETREL_ERR_QUOTA);
    store_close(st);
    assert_int_equal(counter(f), msg_sum(f));

    /* The store starts from the counter, not from a scan: a counter at
     * the quota refuses although the messages hold less. */
    sql_exec(f, "UPDATE im_counter SET value = 100000 WHERE kind = " STR(APP_BYTES_KIND));
    st = open_pg(f, 50000);
    assert_int_equal(send_p2p(st, "alice", "bob", "from-counter", 0, NULL), PETREL_ERR_QUOTA);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_sets_counter, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_ready, group_teardown);
}
