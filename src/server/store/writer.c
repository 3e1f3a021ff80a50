/*
 * The store's writer (store.h, store_int.h): the write queue, the single
 * writer thread and its group commit loop, savepoints per op, batching,
 * backpressure, shutdown, stats and write health.  The ops themselves
 * (kinds, dispatch to a backend (store_backend.h), publishing) are op.c;
 * their public submit and read functions are the ops_*.c files.
 *
 * Why one writer with group commit: a durable commit costs an fsync, and
 * the server must not ack a client before its write is durable.  Paying
 * one fsync per op caps throughput at the disk's sync rate; instead the
 * writer takes everything queued while the previous transaction was
 * committing (up to max_batch) and commits it as one transaction, so the
 * sync cost is shared by the whole batch and batches grow with load.
 *
 * Ordering guarantee: every op's done callback runs on the writer thread
 * after COMMIT returned, never before, so "callback ran with rc 0" means
 * "durable and visible to every other connection".
 *
 * Failure isolation: each op runs inside its own savepoint; an op a
 * constraint rejects is rolled back alone and reported to its own callback
 * while the rest of the batch commits.  (SQLite already undoes a single
 * failed statement; the savepoint is what keeps this true for op kinds made
 * of several statements, where an early one may have succeeded.)  Only a failure of the transaction
 * itself (BEGIN, COMMIT, or an error that aborts it) fails the whole batch,
 * with STORE_EIO for every op, since none of them is durable.
 *
 * Ownership: the store owns queued ops (one malloc each, plus the row
 * arrays of multi-row ops, freed by the writer after the callback);
 * callers keep ownership of what they pass in, which is copied.  The one
 * exception is a multi-row op's results array, written by the writer
 * right before the callback (st_op_finish): per-row outcomes are collected
 * in the op first and only published once the transaction's fate is known,
 * so a caller never sees "0" for a row whose transaction then failed.
 *
 * Validation happens in the ops_*.c files, before an op is queued: C strings are checked
 * to be terminated within their arrays before anything binds them, and a
 * multi-row op marks its invalid rows so the backend skips them (the
 * schema's CHECKs stay as a second line of defence).
 *
 * Reads bypass the writer entirely: each *_sync read calls the backend,
 * which lends it one of its pooled read connections.
 *
 * Message ops follow the same pattern as multi-row results: the op works
 * on its own copy (store_msg_t, store_recall_t, the read/update outputs)
 * and st_op_finish copies the outputs to the caller only when the op's rc is
 * 0 after the commit, so a caller never reads a sequence or key that a
 * failed transaction took back.
 */
#include "server/store/store_int.h"
#include "server/core/log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_BATCH 1024
#define DEFAULT_MAX_QUEUE 65536
#define MAX_MAX_BATCH (1u << 20) /* bounds the writer's batch array */

const uint64_t store_hist_bounds_us[STORE_HIST_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
    UINT64_MAX, /* +Inf */
};

const char *store_strerror(int rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_ENOTFOUND: return "not found";
    case STORE_EIO: return "storage I/O error";
    case STORE_EINVAL: return "invalid argument";
    case STORE_ECLOSED: return "store is closed";
    case STORE_ECONFLICT: return "conflict";
    case STORE_ESCHEMA: return "database schema newer than this binary";
    case STORE_EGONE: return "database file deleted or replaced: writes refused until restart";
    case STORE_EBUSY: return "store writer queue is full";
    }
    return "unknown store error";
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Which store's writer the current thread is, if any.  Not a pthread_t
 * comparison: once joined, the writer's id may be reused by another thread. */
static _Thread_local store_t *tls_writer_of;

static int on_writer(store_t *st)
{
    return tls_writer_of == st;
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t hist_bucket(uint64_t us)
{
    size_t i = 0;
    while (i < STORE_HIST_BUCKETS - 1 && us > store_hist_bounds_us[i])
        i++;
    return i;
}

/* One transaction over ops[0..n).  Sets every op's rc; no callbacks. */
static void run_batch(store_t *st, op_t **ops, size_t n)
{
    const store_backend_ops_t *b = st->bops;
    uint64_t t0 = mono_us();
    int tx_rc = b->tx_begin(st->be);
    for (size_t i = 0; i < n && tx_rc == 0; i++) {
        tx_rc = b->op_begin(st->be);
        if (tx_rc != 0)
            break;
        /* A backend that stores many one-to-one messages in one call
         * (msg_p2p_batch) gets each run of consecutive ones at once. */
        size_t run = 1;
        while (b->msg_p2p_batch && ops[i]->kind == OP_MSG_P2P && i + run < n &&
               run < ST_P2P_RUN_MAX && ops[i + run]->kind == OP_MSG_P2P)
            run++;
        if (run > 1) {
            int lost = st_op_exec_p2p_run(st, ops + i, run);
            tx_rc = b->op_end(st->be, lost != 0);
            if (tx_rc == 0 && lost)
                tx_rc = lost;
            i += run - 1;
            continue;
        }
        ops[i]->rc = st_op_exec(st, ops[i]);
        tx_rc = b->op_end(st->be, ops[i]->rc != 0);
    }
    if (tx_rc == 0)
        tx_rc = st_quota_tx_end(st);
    if (tx_rc == 0)
        tx_rc = b->tx_commit(st->be);
    if (tx_rc != 0) {
        b->tx_rollback(st->be);
        for (size_t i = 0; i < n; i++)
            ops[i]->rc = STORE_EIO;
    }
    st_quota_tx_done(st, tx_rc == 0);
    uint64_t us = mono_us() - t0;

    uint64_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += ops[i]->rc == 0;
    pthread_mutex_lock(&st->mu);
    st->write_failing = tx_rc != 0;
    if (tx_rc != 0) {
        st->write_failures++;
        st->last_failure_ms = store_now_ms();
    }
    if (tx_rc == 0) {
        st->stats.commits++;
        st->stats.ops += ok;
        st->stats.op_failures += n - ok;
        st->stats.commit_us_total += us;
        if (us > st->stats.commit_us_max)
            st->stats.commit_us_max = us;
        if (n > st->stats.batch_max)
            st->stats.batch_max = n;
        st->stats.commit_hist[hist_bucket(us)]++;
    } else {
        st->stats.failures++;
    }
    pthread_mutex_unlock(&st->mu);
}

/* Addition (issue 14, item 17): 1 while the database files are the ones
 * opened; else records the store as gone (for good) and returns 0. */
static int files_ok(store_t *st)
{
    const char *why = NULL;
    if (!st->bops->file_check || st->bops->file_check(st->be, &why) == 0)
        return 1;
    pthread_mutex_lock(&st->mu);
    int first = !st->gone;
    st->gone = 1;
    st->gone_why = why;
    pthread_mutex_unlock(&st->mu);
    if (first)
        LOGE("store database file is gone: every write is refused until a restart",
             "why=\"%s\"", why ? why : "?");
    return 0;
}

/* run_batch, unless the database file is gone, and a check of the files
 * after the commit, before any callback: a batch committed into a deleted
 * or replaced file would be lost at the next start, so it is not acked. */
static void run_batch_checked(store_t *st, op_t **ops, size_t n)
{
    pthread_mutex_lock(&st->mu);
    int gone = st->gone;
    st->tx_started_us = mono_us();
    pthread_mutex_unlock(&st->mu);
    int ok = 0;
    if (!gone) {
        run_batch(st, ops, n);
        ok = files_ok(st);
    }
    pthread_mutex_lock(&st->mu);
    st->tx_started_us = 0;
    pthread_mutex_unlock(&st->mu);
    if (ok)
        return;
    pthread_mutex_lock(&st->mu);
    st->write_failing = 1;
    st->write_failures++;
    st->last_failure_ms = store_now_ms();
    pthread_mutex_unlock(&st->mu);
    for (size_t i = 0; i < n; i++)
        ops[i]->rc = STORE_EGONE;
}

/* The group-commit delay (store_config_t.commit_delay_us), with st->mu
 * held and the queue not empty: under a steady stream of writes, wait
 * until the oldest queued write is commit_delay_us old or
 * STORE_COMMIT_ENOUGH are queued.  Each commit costs about the same
 * whatever its size (BEGIN/COMMIT, a WAL frame per touched page, the
 * fsync), so at moderate rates a slightly longer wait makes the writer
 * cheaper per write and lets it keep up; under saturation the queue is
 * already long and nothing waits, and after a quiet spell a write is
 * committed at once. */
static void commit_delay(store_t *st)
{
    if (!st->commit_delay_us || st->closing || st->queued >= STORE_COMMIT_ENOUGH)
        return;
    uint64_t now = mono_us();
    if (now - st->last_commit_end_us >= 2 * st->commit_delay_us)
        return;
    uint64_t until = st->head->queued_us + st->commit_delay_us;
    while (now < until && !st->closing && st->queued < STORE_COMMIT_ENOUGH) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (until - now) * 1000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        now = mono_us();
    }
}

static void *writer_main(void *p)
{
    pthread_setname_np(pthread_self(), "petrel-writer"); /* top -H, perf */
    store_t *st = p;
    tls_writer_of = st;
    op_t **batch = malloc(st->max_batch * sizeof *batch);
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (!st->head && !st->closing)
            pthread_cond_wait(&st->cv, &st->mu);
        if (!st->head) { /* closing and drained */
            pthread_mutex_unlock(&st->mu);
            break;
        }
        commit_delay(st);
        /* Without the batch array (allocation failed at start) we still
         * make progress, one op per transaction. */
        size_t cap = batch ? st->max_batch : 1;
        op_t *single = NULL;
        op_t **ops = batch ? batch : &single;
        size_t n = 0;
        while (st->head && n < cap) {
            ops[n++] = st->head;
            st->head = st->head->next;
        }
        if (!st->head)
            st->tail = NULL;
        st->queued -= n;
        pthread_mutex_unlock(&st->mu);

        run_batch_checked(st, ops, n);
        /* After the commit, and outside the lock so a callback may submit
         * more work (it lands in the next batch). */
        for (size_t i = 0; i < n; i++) {
            st_op_finish(ops[i]);
            if (ops[i]->done)
                ops[i]->done(ops[i]->arg, ops[i]->rc);
            st_op_free(ops[i]);
        }
        if (st->bops->after_batch)
            st->bops->after_batch(st->be);
        if (st->commit_delay_us)
            st->last_commit_end_us = mono_us();
    }
    free(batch);
    tls_writer_of = NULL;
    return NULL;
}

/* Takes ownership of op (freed here on refusal).  Refused with
 * STORE_EBUSY when `limit` writes are already queued. */
static int submit(store_t *st, op_t *op, size_t limit)
{
    op->next = NULL;
    op->queued_us = st->commit_delay_us ? mono_us() : 0;
    pthread_mutex_lock(&st->mu);
    if (st->closing || st->queued >= limit) {
        int rc = st->closing ? STORE_ECLOSED : STORE_EBUSY;
        if (rc == STORE_EBUSY)
            st->stats.busy_refusals++;
        pthread_mutex_unlock(&st->mu);
        st_op_free(op);
        return rc;
    }
    if (st->tail)
        st->tail->next = op;
    else
        st->head = op;
    st->tail = op;
    st->queued++;
    /* During a commit delay the writer only needs waking once enough
     * is queued; otherwise its timed wait ends it. */
    if (st->queued == 1 || st->queued == STORE_COMMIT_ENOUGH)
        pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* The storage quota's starting point: every app's message bytes (one
 * scan each, or the backend's shared count, before the writer starts;
 * then op.c keeps them). */
static int load_usage(store_t *st)
{
    store_app_t *apps = NULL;
    size_t n = 0;
    if (st->bops->app_list(st->be, &apps, &n) < 0)
        return -1;
    st->usage = n ? calloc(n, sizeof *st->usage) : NULL;
    if (n && !st->usage) {
        free(apps);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        st->usage[i].app_id = apps[i].app_id;
        if (st->bops->msg_bytes(st->be, apps[i].app_id, &st->usage[i].bytes) < 0) {
            free(apps);
            free(st->usage);
            st->usage = NULL;
            return -1;
        }
        st->nusage++;
        if (st->usage[i].bytes > st->quota)
            LOGW("app over its storage quota: new messages are refused", "app=%d bytes=%lld quota=%lld",
                 apps[i].app_id, (long long)st->usage[i].bytes, (long long)st->quota);
    }
    free(apps);
    return 0;
}

int store_open(const store_config_t *cfg, store_t **out)
{
    if (!out)
        return STORE_EINVAL;
    *out = NULL;
    if (!cfg || !cfg->data_dir || !cfg->data_dir[0])
        return STORE_EINVAL;
    store_t *st = calloc(1, sizeof *st);
    if (!st)
        return STORE_EIO;
    st->bops = cfg->pg_conninfo && cfg->pg_conninfo[0] ? &store_pg_backend
                                                       : &store_sqlite_backend;
    st->max_batch = cfg->max_batch ? cfg->max_batch : DEFAULT_MAX_BATCH;
    st->commit_delay_us = cfg->commit_delay_us > 0 ? (uint64_t)cfg->commit_delay_us : 0;
    st->stall_us = (uint64_t)(cfg->stall_ms > 0 ? cfg->stall_ms : 10000) * 1000u;
    st->max_queue = cfg->max_queue ? cfg->max_queue : DEFAULT_MAX_QUEUE;
    st->quota = cfg->app_quota_bytes > 0 ? cfg->app_quota_bytes : 0;
    if (st->max_batch > MAX_MAX_BATCH)
        st->max_batch = MAX_MAX_BATCH;
    int rc = st->bops->open(cfg, &st->be);
    if (rc != 0) {
        free(st);
        return rc;
    }
    st->version = st->bops->schema_version(st->be);
    if (st->quota && load_usage(st) < 0) {
        st->bops->close(st->be);
        free(st);
        return STORE_EIO;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    pthread_mutex_init(&st->join_mu, NULL);
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        LOGE("store cannot start the writer thread", NULL);
        pthread_mutex_destroy(&st->join_mu);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        st->bops->close(st->be);
        free(st->usage);
        free(st);
        return STORE_EIO;
    }
    *out = st;
    return 0;
}

int store_shutdown(store_t *st)
{
    if (!st)
        return STORE_EINVAL;
    pthread_mutex_lock(&st->mu);
    st->closing = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (on_writer(st))
        return STORE_EINVAL;
    pthread_mutex_lock(&st->join_mu);
    if (!st->joined) {
        pthread_join(st->writer, NULL);
        st->joined = 1;
    }
    pthread_mutex_unlock(&st->join_mu);
    return 0;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    if (store_shutdown(st) != 0) {
        /* Freeing under the running writer would be a use-after-free;
         * refusing leaves the store draining and unusable for writes. */
        LOGE("store_close called from a store callback; ignored", NULL);
        return;
    }
    st->bops->close(st->be);
    pthread_mutex_destroy(&st->join_mu);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st->usage);
    free(st);
}

int store_schema_version(store_t *st)
{
    return st ? st->version : STORE_EINVAL;
}

/* ---- submitting ---- */

/* Lives on the waiting caller's stack; the writer must not touch it after
 * unlocking, because the caller returns (and the frame dies) right then. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int rc;
} waiter_t;

static void waiter_done(void *arg, int rc)
{
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

op_t *st_op_new(enum op_kind kind)
{
    op_t *op = calloc(1, sizeof *op);
    if (op) {
        op->kind = kind;
        op->rc = STORE_EIO;
    }
    return op;
}

/* Queue op (built by a make_* function, which returned rc) with its
 * callback, refused (STORE_EBUSY) once 2 x max_queue writes wait, or
 * max_queue for a message (is_msg).  Takes ownership of op in every case. */
static int enqueue_at(store_t *st, int rc, op_t *op, store_done_fn done, void *arg, int is_msg)
{
    if (rc != 0) {
        if (op)
            st_op_free(op);
        return rc;
    }
    op->done = done;
    op->arg = arg;
    return submit(st, op, is_msg ? st->max_queue : 2 * st->max_queue);
}

int st_enqueue(store_t *st, int rc, op_t *op, store_done_fn done, void *arg)
{
    return enqueue_at(st, rc, op, done, arg, 0);
}

int st_enqueue_msg(store_t *st, int rc, op_t *op, store_done_fn done, void *arg)
{
    return enqueue_at(st, rc, op, done, arg, 1);
}

/* Same, then wait for the op's callback and return its rc. */
int st_enqueue_wait(store_t *st, int rc, op_t *op)
{
    if (rc == 0 && on_writer(st))
        rc = STORE_EINVAL; /* would wait for itself */
    if (rc != 0) {
        if (op)
            st_op_free(op);
        return rc;
    }
    waiter_t w = {.done = 0, .rc = STORE_EIO};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    op->done = waiter_done;
    op->arg = &w;
    rc = submit(st, op, SIZE_MAX);
    if (rc == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        rc = w.rc;
        pthread_mutex_unlock(&w.mu);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

void store_health_get(store_t *st, store_health_t *out)
{
    memset(out, 0, sizeof *out);
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    out->gone = st->gone;
    out->gone_why = st->gone ? st->gone_why : NULL;
    out->write_failing = st->write_failing;
    out->write_failures = st->write_failures;
    out->last_failure_ms = st->last_failure_ms;
    uint64_t t0 = st->tx_started_us, now = mono_us();
    out->busy_ms = t0 && now > t0 ? (now - t0) / 1000u : 0;
    out->stalled = t0 && now > t0 && now - t0 > st->stall_us;
    pthread_mutex_unlock(&st->mu);
}

void store_health_sync(store_t *st, store_health_t *out)
{
    if (st && !on_writer(st)) {
        store_health_t h;
        store_health_get(st, &h);
        if (!h.gone && files_ok(st) && h.write_failing && !h.stalled) {
            /* One probe at a time; concurrent checks report the state. */
            pthread_mutex_lock(&st->mu);
            int mine = !st->probing;
            st->probing = 1;
            pthread_mutex_unlock(&st->mu);
            if (mine) {
                op_t *op = st_op_new(OP_PROBE);
                (void)st_enqueue_wait(st, op ? 0 : STORE_EIO, op);
                pthread_mutex_lock(&st->mu);
                st->probing = 0;
                pthread_mutex_unlock(&st->mu);
            }
        }
    }
    store_health_get(st, out);
}

void store_get_stats(store_t *st, store_stats_t *out)
{
    if (!out)
        return;
    if (!st) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    out->queued = st->queued;
    pthread_mutex_unlock(&st->mu);
    if (st->bops->stats)
        st->bops->stats(st->be, out);
}
