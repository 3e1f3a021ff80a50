/*
 * Store front (store.h): the write queue, the single writer thread and its
 * group commit loop, stats, and dispatch to a backend (store_backend.h).
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
 * Ownership: the store owns queued ops (one malloc each, freed by the
 * writer after the callback); callers keep ownership of what they pass in,
 * which is copied.
 */
#include "server/store.h"
#include "server/store_backend.h"
#include "server/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_BATCH 1024
#define MAX_MAX_BATCH (1u << 20) /* bounds the writer's batch array */

/* Adding a write op: a kind here, a payload member, a case in exec_op, and
 * a public submit function that fills it. */
enum op_kind {
    OP_APP_PUT,
};

typedef struct op {
    enum op_kind kind;
    union {
        store_app_t app;
    } u;
    store_done_fn done;
    void *arg;
    int rc;
    struct op *next;
} op_t;

struct store {
    const store_backend_ops_t *bops;
    store_backend_t *be;
    int version;
    size_t max_batch;

    pthread_mutex_t mu;
    pthread_cond_t cv;   /* queue became non-empty, or closing */
    op_t *head, *tail;   /* FIFO: batches commit in submission order */
    size_t queued;
    int closing;
    store_stats_t stats; /* guarded by mu; written by the writer only */

    pthread_t writer;
    pthread_mutex_t join_mu; /* makes store_shutdown idempotent */
    int joined;
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

static int exec_op(store_t *st, op_t *op)
{
    switch (op->kind) {
    case OP_APP_PUT:
        return st->bops->app_put(st->be, &op->u.app);
    }
    return STORE_EINVAL;
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
        ops[i]->rc = exec_op(st, ops[i]);
        tx_rc = b->op_end(st->be, ops[i]->rc != 0);
    }
    if (tx_rc == 0)
        tx_rc = b->tx_commit(st->be);
    if (tx_rc != 0) {
        b->tx_rollback(st->be);
        for (size_t i = 0; i < n; i++)
            ops[i]->rc = STORE_EIO;
    }
    uint64_t us = mono_us() - t0;

    uint64_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += ops[i]->rc == 0;
    pthread_mutex_lock(&st->mu);
    if (tx_rc == 0) {
        st->stats.commits++;
        st->stats.ops += ok;
        st->stats.op_failures += n - ok;
        st->stats.commit_us_total += us;
        if (us > st->stats.commit_us_max)
            st->stats.commit_us_max = us;
        if (n > st->stats.batch_max)
            st->stats.batch_max = n;
    } else {
        st->stats.failures++;
    }
    pthread_mutex_unlock(&st->mu);
}

static void *writer_main(void *p)
{
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

        run_batch(st, ops, n);
        /* After the commit, and outside the lock so a callback may submit
         * more work (it lands in the next batch). */
        for (size_t i = 0; i < n; i++) {
            if (ops[i]->done)
                ops[i]->done(ops[i]->arg, ops[i]->rc);
            free(ops[i]);
        }
    }
    free(batch);
    tls_writer_of = NULL;
    return NULL;
}

/* Takes ownership of op (freed here on refusal). */
static int submit(store_t *st, op_t *op)
{
    op->next = NULL;
    pthread_mutex_lock(&st->mu);
    if (st->closing) {
        pthread_mutex_unlock(&st->mu);
        free(op);
        return STORE_ECLOSED;
    }
    if (st->tail)
        st->tail->next = op;
    else
        st->head = op;
    st->tail = op;
    st->queued++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
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
    st->bops = &store_sqlite_backend;
    st->max_batch = cfg->max_batch ? cfg->max_batch : DEFAULT_MAX_BATCH;
    if (st->max_batch > MAX_MAX_BATCH)
        st->max_batch = MAX_MAX_BATCH;
    int rc = st->bops->open(cfg, &st->be);
    if (rc != 0) {
        free(st);
        return rc;
    }
    st->version = st->bops->schema_version(st->be);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    pthread_mutex_init(&st->join_mu, NULL);
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        LOGE("store cannot start the writer thread", NULL);
        pthread_mutex_destroy(&st->join_mu);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        st->bops->close(st->be);
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
    free(st);
}

int store_schema_version(store_t *st)
{
    return st ? st->version : STORE_EINVAL;
}

static int app_valid(const store_app_t *a)
{
    return strnlen(a->secret, sizeof a->secret) < sizeof a->secret &&
           strnlen(a->admin_id, sizeof a->admin_id) < sizeof a->admin_id &&
           strnlen(a->settings, sizeof a->settings) < sizeof a->settings;
}

int store_app_put(store_t *st, const store_app_t *app, store_done_fn done, void *arg)
{
    if (!st || !app || !app_valid(app))
        return STORE_EINVAL;
    op_t *op = malloc(sizeof *op);
    if (!op)
        return STORE_EIO;
    op->kind = OP_APP_PUT;
    op->u.app = *app;
    if (op->u.app.created_at <= 0)
        op->u.app.created_at = store_now_ms();
    if (!op->u.app.settings[0])
        memcpy(op->u.app.settings, "{}", sizeof "{}");
    op->done = done;
    op->arg = arg;
    op->rc = STORE_EIO;
    return submit(st, op);
}

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

int store_app_put_sync(store_t *st, const store_app_t *app)
{
    if (!st || !app)
        return STORE_EINVAL;
    if (on_writer(st))
        return STORE_EINVAL; /* would wait for itself */
    waiter_t w = {.done = 0, .rc = STORE_EIO};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = store_app_put(st, app, waiter_done, &w);
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

int store_app_get_sync(store_t *st, int32_t app_id, store_app_t *out)
{
    if (!st || !out)
        return STORE_EINVAL;
    return st->bops->app_get(st->be, app_id, out);
}

int store_app_list_sync(store_t *st, store_app_t **out, size_t *n)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    return st->bops->app_list(st->be, out, n);
}

int store_ping_sync(store_t *st)
{
    if (!st)
        return STORE_EINVAL;
    return st->bops->ping(st->be);
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
}
