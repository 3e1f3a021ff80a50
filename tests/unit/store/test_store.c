/*
 * Unit tests for the store (store.h) on the SQLite backend: schema and
 * migrations, round trips, group commit batching, per-op failure isolation
 * inside a batch, callback ordering against commit, and close semantics.
 * Each test gets a fresh mkdtemp directory, removed afterwards.  Where the
 * test needs the writer to be busy it parks the writer inside a "gate"
 * op's callback, which makes batching deterministic instead of timing
 * dependent.  Independent sqlite3 connections check what is really on disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store.h"

/* Migrations this build knows: 1 app, 2 users (im_user, app_account),
 * 3 messages, 4 friends. */
#define SCHEMA_LATEST 8

typedef struct fixture {
    char dir[64];      /* the mkdtemp root, removed in teardown */
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
    snprintf(f->dir, sizeof f->dir, "/tmp/petrel-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    /* Two levels that do not exist yet: store_open must mkdir -p them. */
    snprintf(f->data_dir, sizeof f->data_dir, "%s/var/data", f->dir);
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

static store_t *open_store(fixture_t *f, size_t max_batch)
{
    store_config_t cfg = {.data_dir = f->data_dir, .synchronous_full = 0, .max_batch = max_batch};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    assert_non_null(st);
    return st;
}

static store_app_t make_app(int32_t id, int policy)
{
    store_app_t a;
    memset(&a, 0, sizeof a);
    a.app_id = id;
    snprintf(a.secret, sizeof a.secret, "secret-%d", (int)id);
    snprintf(a.admin_id, sizeof a.admin_id, "admin-%d", (int)id);
    a.login_policy = policy;
    a.max_per_platform = (int)(id % 5);
    snprintf(a.settings, sizeof a.settings, "{\"n\":%d}", (int)id);
    a.created_at = 1700000000000LL + id;
    return a;
}

static void assert_app_equal(const store_app_t *a, const store_app_t *b)
{
    assert_int_equal(a->app_id, b->app_id);
    assert_string_equal(a->secret, b->secret);
    assert_string_equal(a->admin_id, b->admin_id);
    assert_int_equal(a->login_policy, b->login_policy);
    assert_int_equal(a->max_per_platform, b->max_per_platform);
    assert_string_equal(a->settings, b->settings);
    assert_int_equal(a->created_at, b->created_at);
}

/* An independent connection to the file, the way an operator's sqlite3
 * shell or a second process would see it. */
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

static int raw_has_app(sqlite3 *db, int32_t id)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM app WHERE app_id = ?1", -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(q, 1, id);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Gate: an op whose callback parks the writer thread until released. */
typedef struct gate {
    sem_t entered;
    sem_t release;
    atomic_int rc;
} gate_t;

static void gate_init(gate_t *g)
{
    sem_init(&g->entered, 0, 0);
    sem_init(&g->release, 0, 0);
    atomic_store(&g->rc, 1);
}

static void gate_destroy(gate_t *g)
{
    sem_destroy(&g->entered);
    sem_destroy(&g->release);
}

static void gate_cb(void *arg, int rc)
{
    gate_t *g = arg;
    atomic_store(&g->rc, rc);
    sem_post(&g->entered);
    sem_wait(&g->release);
}

/* Per-op callback record. */
typedef struct rec {
    atomic_int calls;
    atomic_int rc;
} rec_t;

static void rec_cb(void *arg, int rc)
{
    rec_t *r = arg;
    atomic_store(&r->rc, rc);
    atomic_fetch_add(&r->calls, 1);
}

/* ------------------------------------------------------------------ */

static void test_open_creates_db(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);
    assert_int_equal(store_schema_version(st), SCHEMA_LATEST);
    assert_int_equal(store_ping_sync(st), 0);

    struct stat sb;
    assert_int_equal(stat(f->data_dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(f->db_path, &sb), 0);
    store_close(st);

    sqlite3 *db = raw_open(f);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), SCHEMA_LATEST);
    assert_int_equal(raw_int(db, "SELECT max(version) FROM schema_migrations"), SCHEMA_LATEST);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                 "AND name = 'app'"), 1);
    /* Column defaults of migration 1. */
    raw_exec(db, "INSERT INTO app(app_id, secret, admin_id, created_at) VALUES(5, 's', 'a', 1)");
    assert_int_equal(raw_int(db, "SELECT login_policy FROM app WHERE app_id = 5"), 3);
    assert_int_equal(raw_int(db, "SELECT max_per_platform FROM app WHERE app_id = 5"), 0);
    assert_int_equal(raw_int(db, "SELECT settings = '{}' FROM app WHERE app_id = 5"), 1);
    sqlite3_close(db);
}

static void test_reopen_keeps_data_no_rerun(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);
    store_app_t a = make_app(7, 2);
    assert_int_equal(store_app_put_sync(st, &a), 0);
    store_close(st);

    /* Mark the bookkeeping rows: a re-run would rewrite or duplicate them. */
    sqlite3 *db = raw_open(f);
    raw_exec(db, "UPDATE schema_migrations SET applied_at = 42");
    sqlite3_close(db);

    st = open_store(f, 0);
    assert_int_equal(store_schema_version(st), SCHEMA_LATEST);
    store_app_t got;
    assert_int_equal(store_app_get_sync(st, 7, &got), 0);
    assert_app_equal(&got, &a);
    store_close(st);

    db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), SCHEMA_LATEST);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations WHERE applied_at = 42"),
                     SCHEMA_LATEST);
    sqlite3_close(db);
}

static void test_put_get_list_roundtrip(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);

    store_app_t apps[3] = {make_app(30, 1), make_app(10, 4), make_app(20, 3)};
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_app_put_sync(st, &apps[i]), 0);

    /* Upsert: fields change, created_at stays; empty settings means "{}". */
    store_app_t upd = make_app(20, 2);
    snprintf(upd.secret, sizeof upd.secret, "rotated");
    upd.settings[0] = '\0';
    upd.created_at = 1;
    assert_int_equal(store_app_put_sync(st, &upd), 0);
    snprintf(apps[2].secret, sizeof apps[2].secret, "rotated");
    apps[2].login_policy = 2;
    snprintf(apps[2].settings, sizeof apps[2].settings, "{}");

    /* created_at 0 means now. */
    store_app_t fresh = make_app(40, 3);
    fresh.created_at = 0;
    int64_t before = (int64_t)time(NULL) * 1000 - 1000;
    assert_int_equal(store_app_put_sync(st, &fresh), 0);

    store_app_t got;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_app_get_sync(st, apps[i].app_id, &got), 0);
        assert_app_equal(&got, &apps[i]);
    }
    assert_int_equal(store_app_get_sync(st, 40, &got), 0);
    assert_true(got.created_at >= before);

    store_app_t *list = NULL;
    size_t n = 0;
    assert_int_equal(store_app_list_sync(st, &list, &n), 0);
    assert_int_equal(n, 4);
    assert_app_equal(&list[0], &apps[1]); /* ordered by app_id */
    assert_app_equal(&list[1], &apps[2]);
    assert_app_equal(&list[2], &apps[0]);
    assert_int_equal(list[3].app_id, 40);
    free(list);

    /* A string not terminated within its array is refused up front. */
    store_app_t bad = make_app(50, 3);
    memset(bad.secret, 'x', sizeof bad.secret);
    assert_int_equal(store_app_put(st, &bad, NULL, NULL), STORE_EINVAL);
    store_close(st);
}

static void test_get_missing(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);
    store_app_t got;
    assert_int_equal(store_app_get_sync(st, 12345, &got), STORE_ENOTFOUND);

    store_app_t *list = (store_app_t *)&got;
    size_t n = 99;
    assert_int_equal(store_app_list_sync(st, &list, &n), 0);
    assert_null(list);
    assert_int_equal(n, 0);

    assert_int_equal(store_app_get_sync(NULL, 1, &got), STORE_EINVAL);
    assert_int_equal(store_app_get_sync(st, 1, NULL), STORE_EINVAL);
    assert_int_equal(store_app_put(st, NULL, NULL, NULL), STORE_EINVAL);
    store_close(st);
}

/* A CHECK violation fails only its own op; its batch neighbours commit. */
static void test_constraint_isolated_in_batch(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);

    gate_t g;
    gate_init(&g);
    store_app_t ga = make_app(1, 3);
    assert_int_equal(store_app_put(st, &ga, gate_cb, &g), 0);
    sem_wait(&g.entered); /* gate's transaction committed; writer parked */

    rec_t r[3];
    memset(r, 0, sizeof r);
    store_app_t a = make_app(2, 3), b = make_app(3, 9), c = make_app(4, 1);
    assert_int_equal(store_app_put(st, &a, rec_cb, &r[0]), 0);
    assert_int_equal(store_app_put(st, &b, rec_cb, &r[1]), 0);
    assert_int_equal(store_app_put(st, &c, rec_cb, &r[2]), 0);
    store_stats_t s;
    store_get_stats(st, &s);
    assert_int_equal(s.queued, 3);
    sem_post(&g.release);
    assert_int_equal(store_shutdown(st), 0);

    assert_int_equal(atomic_load(&g.rc), 0);
    assert_int_equal(atomic_load(&r[0].rc), 0);
    assert_int_equal(atomic_load(&r[1].rc), STORE_EINVAL);
    assert_int_equal(atomic_load(&r[2].rc), 0);
    store_get_stats(st, &s);
    assert_int_equal(s.commits, 2); /* gate alone, then a+b+c together */
    assert_int_equal(s.ops, 3);
    assert_int_equal(s.op_failures, 1);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.batch_max, 3);
    assert_int_equal(s.queued, 0);

    store_app_t got;
    assert_int_equal(store_app_get_sync(st, 2, &got), 0);
    assert_int_equal(store_app_get_sync(st, 3, &got), STORE_ENOTFOUND);
    assert_int_equal(store_app_get_sync(st, 4, &got), 0);
    store_close(st);
    gate_destroy(&g);

    /* The blocking path reports the constraint too. */
    st = open_store(f, 0);
    store_app_t bad = make_app(5, 0);
    assert_int_equal(store_app_put_sync(st, &bad), STORE_EINVAL);
    store_close(st);
}

/* ---- group commit under load ---- */

#define N_VALID 2000
#define N_INVALID 20
#define BIG_BATCH 64

typedef struct loader {
    store_t *st;
    gate_t *gate;
    rec_t *recs; /* [0..N_VALID) valid, then N_INVALID invalid */
    int submit_errors;
} loader_t;

static void *loader_main(void *p)
{
    loader_t *l = p;
    int inv = 0;
    for (int i = 0; i < N_VALID; i++) {
        if (i == 100)
            sem_post(&l->gate->release); /* 100 queued behind the gate; let it go */
        store_app_t a = make_app(1000 + i, 1 + i % 4);
        if (store_app_put(l->st, &a, rec_cb, &l->recs[i]) != 0)
            l->submit_errors++;
        if (i % (N_VALID / N_INVALID) == 50) {
            store_app_t b = make_app(900000 + inv, 9);
            if (store_app_put(l->st, &b, rec_cb, &l->recs[N_VALID + inv]) != 0)
                l->submit_errors++;
            inv++;
        }
    }
    return NULL;
}

/* 2000 puts (plus 20 CHECK violations) from another thread while the
 * writer is busy: they must be grouped into fewer transactions than ops,
 * no larger than max_batch, every callback must run once with the right
 * rc, and every valid row must survive a reopen. */
static void test_group_commit(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, BIG_BATCH);
    gate_t g;
    gate_init(&g);
    rec_t *recs = calloc(N_VALID + N_INVALID, sizeof *recs);
    assert_non_null(recs);

    store_app_t ga = make_app(1, 3);
    assert_int_equal(store_app_put(st, &ga, gate_cb, &g), 0);
    sem_wait(&g.entered);
    loader_t l = {.st = st, .gate = &g, .recs = recs};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, loader_main, &l), 0);
    pthread_join(th, NULL);
    assert_int_equal(l.submit_errors, 0);
    assert_int_equal(store_shutdown(st), 0); /* drains everything queued */

    store_stats_t s;
    store_get_stats(st, &s);
    print_message("  group commit: %llu ops in %llu commits, batch_max %llu, "
                  "commit avg %llu us max %llu us\n",
                  (unsigned long long)s.ops, (unsigned long long)s.commits,
                  (unsigned long long)s.batch_max,
                  (unsigned long long)(s.commits ? s.commit_us_total / s.commits : 0),
                  (unsigned long long)s.commit_us_max);
    assert_int_equal(s.ops, N_VALID + 1); /* + the gate */
    assert_int_equal(s.op_failures, N_INVALID);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.queued, 0);
    assert_true(s.commits < s.ops);                              /* batching happened */
    assert_true(s.commits >= (N_VALID + N_INVALID) / BIG_BATCH); /* max_batch held */
    assert_true(s.batch_max > 1);
    assert_true(s.batch_max <= BIG_BATCH);
    assert_true(s.commit_us_total >= s.commit_us_max);
    uint64_t hist_sum = 0;
    for (int i = 0; i < STORE_HIST_BUCKETS; i++)
        hist_sum += s.commit_hist[i];
    assert_int_equal(hist_sum, s.commits); /* every commit in exactly one bucket */
    store_close(st);

    for (int i = 0; i < N_VALID + N_INVALID; i++) {
        assert_int_equal(atomic_load(&recs[i].calls), 1);
        assert_int_equal(atomic_load(&recs[i].rc), i < N_VALID ? 0 : STORE_EINVAL);
    }

    st = open_store(f, BIG_BATCH);
    store_app_t *list = NULL;
    size_t n = 0;
    assert_int_equal(store_app_list_sync(st, &list, &n), 0);
    assert_int_equal(n, N_VALID + 1); /* + the gate's app, id 1 */
    for (size_t i = 1; i < n; i++) {
        store_app_t want = make_app((int32_t)(1000 + i - 1), (int)(1 + (i - 1) % 4));
        assert_app_equal(&list[i], &want);
    }
    free(list);
    store_close(st);
    free(recs);
    gate_destroy(&g);
}

/* ---- callbacks after commit, exactly once ---- */

#define N_VIS 300

typedef struct vis_ctx {
    store_t *st;
    sqlite3 *raw;      /* used only from callbacks, i.e. the writer thread */
    int32_t id;
    atomic_int calls;
    atomic_int rc;
    atomic_int raw_visible;
    atomic_int store_visible;
    atomic_int nested_sync_rc;
} vis_ctx_t;

static void vis_cb(void *arg, int rc)
{
    vis_ctx_t *v = arg;
    atomic_store(&v->rc, rc);
    atomic_store(&v->raw_visible, raw_has_app(v->raw, v->id));
    store_app_t got;
    atomic_store(&v->store_visible, store_app_get_sync(v->st, v->id, &got) == 0);
    if (v->id == 0) {
        /* Waiting on the writer from the writer must be refused, not hang. */
        store_app_t a = make_app(999999, 3);
        atomic_store(&v->nested_sync_rc, store_app_put_sync(v->st, &a));
    }
    atomic_fetch_add(&v->calls, 1);
}

static void test_callbacks_after_commit_once(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 16);
    sqlite3 *raw = raw_open(f);
    vis_ctx_t *v = calloc(N_VIS, sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < N_VIS; i++) {
        v[i].st = st;
        v[i].raw = raw;
        v[i].id = i;
        store_app_t a = make_app(i, 1 + i % 4);
        assert_int_equal(store_app_put(st, &a, vis_cb, &v[i]), 0);
    }
    store_close(st);
    for (int i = 0; i < N_VIS; i++) {
        assert_int_equal(atomic_load(&v[i].calls), 1);
        assert_int_equal(atomic_load(&v[i].rc), 0);
        assert_int_equal(atomic_load(&v[i].raw_visible), 1);
        assert_int_equal(atomic_load(&v[i].store_visible), 1);
    }
    assert_int_equal(atomic_load(&v[0].nested_sync_rc), STORE_EINVAL);
    sqlite3_close(raw);
    free(v);
}

/* ---- close ---- */

static void test_put_after_shutdown(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);
    store_app_t a = make_app(1, 3);
    assert_int_equal(store_app_put_sync(st, &a), 0);
    assert_int_equal(store_shutdown(st), 0);
    assert_int_equal(store_shutdown(st), 0); /* idempotent */

    rec_t r;
    memset(&r, 0, sizeof r);
    store_app_t b = make_app(2, 3);
    assert_int_equal(store_app_put(st, &b, rec_cb, &r), STORE_ECLOSED);
    assert_int_equal(store_app_put_sync(st, &b), STORE_ECLOSED);
    assert_int_equal(atomic_load(&r.calls), 0); /* refused op: no callback */
    /* Reads still work until store_close. */
    store_app_t got;
    assert_int_equal(store_app_get_sync(st, 1, &got), 0);
    assert_int_equal(store_ping_sync(st), 0);
    store_close(st);
    store_close(NULL);
}

typedef struct closer {
    store_t *st;
} closer_t;

static void *closer_main(void *p)
{
    store_close(((closer_t *)p)->st);
    return NULL;
}

/* Close racing with submitters: everything accepted before the close began
 * is committed and called back; everything after is refused. */
static void test_close_drains_and_refuses(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);
    gate_t g;
    gate_init(&g);
    store_app_t ga = make_app(1, 3);
    assert_int_equal(store_app_put(st, &ga, gate_cb, &g), 0);
    sem_wait(&g.entered);

    enum { MAX_TRIES = 20000 };
    rec_t *recs = calloc(MAX_TRIES + 1, sizeof *recs);
    assert_non_null(recs);
    closer_t c = {.st = st};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, closer_main, &c), 0);
    /* The writer is parked, so close cannot finish and st stays valid
     * until we release the gate. */
    int accepted = 0, rc = 0;
    while (accepted < MAX_TRIES) {
        store_app_t a = make_app(10 + accepted, 3);
        rc = store_app_put(st, &a, rec_cb, &recs[accepted]);
        if (rc != 0)
            break;
        if (++accepted % 64 == 0)
            usleep(1000); /* give the closer thread time to start */
    }
    assert_int_equal(rc, STORE_ECLOSED);
    sem_post(&g.release);
    pthread_join(th, NULL);
    for (int i = 0; i < accepted; i++) {
        assert_int_equal(atomic_load(&recs[i].calls), 1);
        assert_int_equal(atomic_load(&recs[i].rc), 0);
    }
    assert_int_equal(atomic_load(&recs[accepted].calls), 0);

    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM app"), accepted + 1);
    sqlite3_close(db);
    free(recs);
    gate_destroy(&g);
}

/* A transaction that cannot happen (another process holds the write lock)
 * fails every op of its batch with STORE_EIO; the writer then recovers. */
static void test_tx_failure_fails_batch(void **state)
{
    fixture_t *f = *state;
    store_config_t cfg = {.data_dir = f->data_dir, .busy_timeout_ms = 50};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    gate_t g;
    gate_init(&g);
    store_app_t ga = make_app(1, 3);
    assert_int_equal(store_app_put(st, &ga, gate_cb, &g), 0);
    sem_wait(&g.entered);

    sqlite3 *db = raw_open(f);
    raw_exec(db, "BEGIN IMMEDIATE"); /* take the write lock */
    rec_t r[3];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++) {
        store_app_t a = make_app(10 + i, i == 1 ? 9 : 3);
        assert_int_equal(store_app_put(st, &a, rec_cb, &r[i]), 0);
    }
    sem_post(&g.release);
    /* Blocking put from here lands in a batch after those three. */
    store_app_t late = make_app(20, 3);
    assert_int_equal(store_app_put_sync(st, &late), STORE_EIO);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&r[i].calls), 1);
        assert_int_equal(atomic_load(&r[i].rc), STORE_EIO);
    }
    store_stats_t s;
    store_get_stats(st, &s);
    assert_true(s.failures >= 1);
    assert_int_equal(s.commits, 1); /* only the gate */
    assert_int_equal(s.ops, 1);

    raw_exec(db, "ROLLBACK");
    assert_int_equal(store_app_put_sync(st, &late), 0);
    store_app_t got;
    assert_int_equal(store_app_get_sync(st, 20, &got), 0);
    assert_int_equal(store_app_get_sync(st, 10, &got), STORE_ENOTFOUND);
    store_close(st);
    sqlite3_close(db);
    gate_destroy(&g);
}

static void test_newer_schema_refused(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f, 0);
    store_close(st);

    sqlite3 *db = raw_open(f);
    raw_exec(db, "INSERT INTO schema_migrations(version, name, applied_at) "
                 "VALUES(99, 'from the future', 0)");
    sqlite3_close(db);

    store_config_t cfg = {.data_dir = f->data_dir};
    st = (store_t *)&cfg;
    assert_int_equal(store_open(&cfg, &st), STORE_ESCHEMA);
    assert_null(st);

    db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT max(version) FROM schema_migrations"), 99);
    sqlite3_close(db);
}

static void test_bad_config(void **state)
{
    (void)state;
    store_t *st = NULL;
    store_config_t cfg = {.data_dir = NULL};
    assert_int_equal(store_open(&cfg, &st), STORE_EINVAL);
    cfg.data_dir = "";
    assert_int_equal(store_open(&cfg, &st), STORE_EINVAL);
    assert_int_equal(store_open(NULL, &st), STORE_EINVAL);
    assert_null(st);
    /* A regular file where the directory should be. */
    cfg.data_dir = "/dev/null";
    assert_int_equal(store_open(&cfg, &st), STORE_EIO);
    assert_null(st);
    assert_string_equal(store_strerror(STORE_ESCHEMA),
                        "database schema newer than this binary");
    store_stats_t s;
    memset(&s, 0xff, sizeof s);
    store_get_stats(NULL, &s);
    assert_int_equal(s.commits, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data_no_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_list_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraint_isolated_in_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callbacks_after_commit_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_after_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_drains_and_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_failure_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
