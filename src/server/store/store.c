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
 * Ownership: the store owns queued ops (one malloc each, plus the row
 * arrays of multi-row ops, freed by the writer after the callback);
 * callers keep ownership of what they pass in, which is copied.  The one
 * exception is a multi-row op's results array, written by the writer
 * right before the callback (finish_op): per-row outcomes are collected in
 * the op first and only published once the transaction's fate is known,
 * so a caller never sees "0" for a row whose transaction then failed.
 *
 * Validation happens here, before an op is queued: C strings are checked
 * to be terminated within their arrays before anything binds them, and a
 * multi-row op marks its invalid rows so the backend skips them (the
 * schema's CHECKs stay as a second line of defence).
 *
 * Reads bypass the writer entirely: each *_sync read calls the backend,
 * which lends it one of its pooled read connections.
 *
 * Message ops follow the same pattern as multi-row results: the op works
 * on its own copy (store_msg_t, store_recall_t, the read/update outputs)
 * and finish_op copies the outputs to the caller only when the op's rc is
 * 0 after the commit, so a caller never reads a sequence or key that a
 * failed transaction took back.
 */
#include "server/store/store.h"
#include "server/store/store_backend.h"
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
#define PAGE_LIMIT_MAX 100

const uint64_t store_hist_bounds_us[STORE_HIST_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
    UINT64_MAX, /* +Inf */
};

/* Adding a write op: a kind here, a payload member, a case in exec_op (and
 * in op_free/finish_op if it owns arrays or has results), and a public
 * submit function that fills it. */
enum op_kind {
    OP_APP_PUT,
    OP_USER_IMPORT,
    OP_USER_UPDATE,
    OP_USER_DELETE,
    OP_ACCOUNT_CREATE,
    OP_MSG_P2P,
    OP_MSG_READ,
    OP_MSG_RECALL,
    OP_CONV_UPDATE,
    OP_FRIEND,
    OP_USER_STATUS,
    OP_GROUP,
    OP_ACCOUNT_REGISTER,
    OP_PROBE, /* addition: store_health_sync's write probe, no payload */
};

/* Rows of a multi-row op.  row_rc[i] != 0 before the op runs marks a row
 * validation refused; the backend fills in the rest. */
typedef struct rows {
    size_t n;
    int *row_rc;   /* owned, n entries */
    int *results;  /* the caller's, written by finish_op only */
} rows_t;

typedef struct op {
    enum op_kind kind;
    union {
        store_app_t app;
        struct {
            rows_t rows;
            store_user_t *users; /* owned copy, n entries */
        } import;
        struct {
            store_user_t user;
            unsigned mask;
        } update;
        struct {
            rows_t rows;
            int32_t app_id;
            char (*ids)[STORE_ID_MAX + 1]; /* owned copy, n entries */
        } del;
        struct {
            int32_t app_id;
            char user_name[STORE_NAME_MAX + 1];
            char user_id[STORE_ID_MAX + 1];
            char hash[STORE_HASH_MAX + 1];
        } account;
        struct {
            store_user_t user;
            char user_name[STORE_NAME_MAX + 1];
            char hash[STORE_HASH_MAX + 1];
        } reg;
        struct {
            store_msg_t msg; /* working copy; body and extra owned */
            store_msg_t *out;
        } p2p;
        struct {
            int32_t app_id;
            char owner[STORE_ID_MAX + 1];
            char peer[STORE_ID_MAX + 1];
            int64_t seq;
            int64_t read_seq;
            int changed;
            int64_t *out_read_seq; /* may be NULL */
            int *out_changed;      /* may be NULL */
        } read;
        struct {
            int32_t app_id;
            int64_t message_key;
            char requester[STORE_ID_MAX + 1];
            int is_admin;
            int64_t now_ms, window_ms;
            store_recall_t res;
            store_recall_t *out;
        } recall;
        struct {
            int32_t app_id;
            char owner[STORE_ID_MAX + 1];
            char peer[STORE_ID_MAX + 1];
            int type, is_top, is_mute, deleted;
            int64_t change_seq;
            int64_t *out; /* may be NULL */
        } conv;
        struct {
            store_friend_op_t *fo; /* owned, with its arrays */
            int *results;          /* the caller's (n entries) or NULL */
            int64_t *seqs;         /* the caller's (n entries) or NULL */
            store_friend_res_t *out; /* may be NULL */
        } fr;
        struct {
            int32_t app_id;
            char user_id[STORE_ID_MAX + 1];
            char text[STORE_STATUS_TEXT_MAX + 1];
            int status;
        } status;
        store_group_op_t *grp; /* the caller's (outputs land in it) */
    } u;
    store_done_fn done;
    void *arg;
    int rc;
    uint64_t queued_us; /* mono_us() at submit: bounds the commit delay */
    struct op *next;
} op_t;

struct store {
    const store_backend_ops_t *bops;
    store_backend_t *be;
    int version;
    size_t max_batch;
    uint64_t commit_delay_us;
    uint64_t last_commit_end_us; /* writer only: when the last batch was done */
    size_t max_queue;    /* messages are refused past this, other writes past 2 x */
    int64_t quota;       /* app_quota_bytes, 0 = none */
    struct app_usage { int32_t app_id; int64_t bytes; } *usage; /* writer only after open */
    size_t nusage;

    pthread_mutex_t mu;
    pthread_cond_t cv;   /* queue became non-empty, or closing */
    op_t *head, *tail;   /* FIFO: batches commit in submission order */
    size_t queued;
    int closing;
    store_stats_t stats; /* guarded by mu; written by the writer only */

    pthread_t writer;
    pthread_mutex_t join_mu; /* makes store_shutdown idempotent */
    int joined;

    /* Addition: write health (store_health_t), guarded by mu. */
    int gone;
    const char *gone_why;
    int write_failing;
    uint64_t write_failures;
    int64_t last_failure_ms;
    int probing; /* a probe op is queued */
    uint64_t tx_started_us; /* mono_us() when the running batch began, 0 = idle */
    uint64_t stall_us;
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

static void friend_op_free(store_friend_op_t *fo)
{
    if (!fo)
        return;
    free(fo->ids);
    free(fo->items);
    free(fo->row_rc);
    free(fo->row_seq);
    free(fo->res.peers);
    free(fo);
}

static void op_free(op_t *op)
{
    switch (op->kind) {
    case OP_USER_IMPORT:
        free(op->u.import.users);
        free(op->u.import.rows.row_rc);
        break;
    case OP_USER_DELETE:
        free(op->u.del.ids);
        free(op->u.del.rows.row_rc);
        break;
    case OP_MSG_P2P:
        free(op->u.p2p.msg.body);
        free(op->u.p2p.msg.extra);
        break;
    case OP_FRIEND:
        friend_op_free(op->u.fr.fo);
        break;
    case OP_APP_PUT:
    case OP_USER_UPDATE:
    case OP_ACCOUNT_CREATE:
    case OP_ACCOUNT_REGISTER:
    case OP_MSG_READ:
    case OP_MSG_RECALL:
    case OP_CONV_UPDATE:
    case OP_USER_STATUS:
    case OP_GROUP:
    case OP_PROBE:
        break;
    }
    free(op);
}

/* The op's rows, if it has per-row results. */
static rows_t *op_rows(op_t *op)
{
    switch (op->kind) {
    case OP_USER_IMPORT:
        return &op->u.import.rows;
    case OP_USER_DELETE:
        return &op->u.del.rows;
    default:
        break;
    }
    return NULL;
}

/* The outputs of a message op, to the caller, only for a committed op. */
static void publish_msg(op_t *op)
{
    if (op->rc != 0)
        return;
    switch (op->kind) {
    case OP_MSG_P2P: {
        const store_msg_t *m = &op->u.p2p.msg;
        store_msg_t *out = op->u.p2p.out;
        out->message_key = m->message_key;
        out->sequence = m->sequence;
        out->created_at = m->created_at;
        out->duplicate = m->duplicate;
        out->reject = m->reject;
        out->del_flag = m->del_flag;
        break;
    }
    case OP_MSG_READ:
        if (op->u.read.out_read_seq)
            *op->u.read.out_read_seq = op->u.read.read_seq;
        if (op->u.read.out_changed)
            *op->u.read.out_changed = op->u.read.changed;
        break;
    case OP_MSG_RECALL:
        *op->u.recall.out = op->u.recall.res;
        break;
    case OP_CONV_UPDATE:
        if (op->u.conv.out)
            *op->u.conv.out = op->u.conv.change_seq;
        break;
    default:
        break;
    }
}

/* A friendship op's outputs: res, per-row results and sequences.  On a
 * failed op the caller's results all get rc (like multi-row ops); a
 * rejected op's rows all get the reject code. */
static void publish_friend(op_t *op)
{
    store_friend_op_t *fo = op->u.fr.fo;
    for (size_t i = 0; i < fo->n; i++) {
        if (op->u.fr.results)
            op->u.fr.results[i] = op->rc != 0 ? op->rc
                                : fo->res.reject ? fo->res.reject : fo->row_rc[i];
        if (op->u.fr.seqs && op->rc == 0)
            op->u.fr.seqs[i] = fo->res.reject ? 0 : fo->row_seq[i];
    }
    if (op->rc == 0 && op->u.fr.out) {
        *op->u.fr.out = fo->res;
        fo->res.peers = NULL; /* now the caller's */
    }
}

/* Publish results once op->rc is final (writer, before done). */
static void finish_op(op_t *op)
{
    if (op->kind == OP_FRIEND) {
        publish_friend(op);
        return;
    }
    publish_msg(op);
    rows_t *r = op_rows(op);
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        r->results[i] = op->rc == 0 ? r->row_rc[i] : op->rc;
}

/* ---- storage quota (writer thread) ---- */

static int64_t *usage_of(store_t *st, int32_t app_id)
{
    for (size_t i = 0; i < st->nusage; i++)
        if (st->usage[i].app_id == app_id)
            return &st->usage[i].bytes;
    struct app_usage *u = realloc(st->usage, (st->nusage + 1) * sizeof *u);
    if (!u)
        return NULL;
    st->usage = u;
    u[st->nusage] = (struct app_usage){app_id, 0}; /* an app made after open */
    return &u[st->nusage++].bytes;
}

static int64_t msg_size(const char *body, const char *extra)
{
    return (int64_t)(body ? strlen(body) : 0) + (int64_t)(extra ? strlen(extra) : 0);
}

/* 1 when a new message of `size` bytes would take the app over its quota.
 * Counted by the caller once stored; an op whose batch then fails stays
 * counted (the usage errs on the high side until the next start). */
static int over_quota(store_t *st, int32_t app_id, int64_t size, int64_t **usage)
{
    *usage = st->quota ? usage_of(st, app_id) : NULL;
    return *usage && **usage + size > st->quota;
}

static int exec_op(store_t *st, op_t *op)
{
    const store_backend_ops_t *b = st->bops;
    int64_t now = store_now_ms();
    switch (op->kind) {
    case OP_APP_PUT:
        return b->app_put(st->be, &op->u.app);
    case OP_USER_IMPORT:
        return b->user_import(st->be, op->u.import.users, op->u.import.rows.row_rc,
                              op->u.import.rows.n, now);
    case OP_USER_UPDATE:
        return b->user_update(st->be, &op->u.update.user, op->u.update.mask, now);
    case OP_USER_DELETE:
        return b->user_delete(st->be, op->u.del.app_id, op->u.del.ids, op->u.del.rows.row_rc,
                              op->u.del.rows.n, now);
    case OP_ACCOUNT_CREATE:
        return b->account_create(st->be, op->u.account.app_id, op->u.account.user_name,
                                 op->u.account.user_id, op->u.account.hash, now);
    case OP_ACCOUNT_REGISTER:
        return b->account_register(st->be, &op->u.reg.user, op->u.reg.user_name,
                                   op->u.reg.hash, now);
    case OP_MSG_P2P: {
        store_msg_t *m = &op->u.p2p.msg;
        int64_t size = msg_size(m->body, m->extra), *usage;
        if (over_quota(st, m->app_id, size, &usage)) {
            m->reject = STORE_REJECT_QUOTA;
            return 0;
        }
        int rc = b->msg_p2p(st->be, m, now);
        if (usage && rc == 0 && !m->reject && !m->duplicate)
            *usage += size;
        return rc;
    }
    case OP_MSG_READ:
        return b->msg_read(st->be, op->u.read.app_id, op->u.read.owner, op->u.read.peer,
                           op->u.read.seq, &op->u.read.read_seq, &op->u.read.changed, now);
    case OP_MSG_RECALL:
        return b->msg_recall(st->be, op->u.recall.app_id, op->u.recall.message_key,
                             op->u.recall.requester, op->u.recall.is_admin,
                             op->u.recall.now_ms > 0 ? op->u.recall.now_ms : now,
                             op->u.recall.window_ms, &op->u.recall.res);
    case OP_CONV_UPDATE:
        return b->conv_update(st->be, op->u.conv.app_id, op->u.conv.owner, op->u.conv.peer,
                              op->u.conv.type, op->u.conv.is_top, op->u.conv.is_mute,
                              op->u.conv.deleted, &op->u.conv.change_seq, now);
    case OP_FRIEND:
        return b->friend_write(st->be, op->u.fr.fo, now);
    case OP_USER_STATUS:
        return b->user_status_set(st->be, op->u.status.app_id, op->u.status.user_id,
                                  op->u.status.text, op->u.status.status, now);
    case OP_GROUP:
        /* a retried op (none today) must not leak a previous attempt's ids */
        store_group_op_clear(op->u.grp);
        op->u.grp->reject = 0;
        if (op->u.grp->what == SG_MSG) {
            store_group_op_t *g = op->u.grp;
            int64_t size = msg_size(g->msg.body, g->msg.extra), *usage;
            if (over_quota(st, g->app_id, size, &usage)) {
                g->reject = STORE_REJECT_QUOTA;
                return 0;
            }
            int rc = b->group_write(st->be, g, now);
            if (usage && rc == 0 && !g->reject && !g->msg.duplicate)
                *usage += size;
            return rc;
        }
        return b->group_write(st->be, op->u.grp, now);
    case OP_PROBE:
        return b->probe ? b->probe(st->be, now) : 0;
    }
    return STORE_EINVAL;
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
            finish_op(ops[i]);
            if (ops[i]->done)
                ops[i]->done(ops[i]->arg, ops[i]->rc);
            op_free(ops[i]);
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
        op_free(op);
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
 * scan each, before the writer starts). */
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
    st->bops = &store_sqlite_backend;
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

static op_t *op_new(enum op_kind kind)
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
            op_free(op);
        return rc;
    }
    op->done = done;
    op->arg = arg;
    return submit(st, op, is_msg ? st->max_queue : 2 * st->max_queue);
}

static int enqueue(store_t *st, int rc, op_t *op, store_done_fn done, void *arg)
{
    return enqueue_at(st, rc, op, done, arg, 0);
}

static int enqueue_msg(store_t *st, int rc, op_t *op, store_done_fn done, void *arg)
{
    return enqueue_at(st, rc, op, done, arg, 1);
}

/* Same, then wait for the op's callback and return its rc. */
static int enqueue_wait(store_t *st, int rc, op_t *op)
{
    if (rc == 0 && on_writer(st))
        rc = STORE_EINVAL; /* would wait for itself */
    if (rc != 0) {
        if (op)
            op_free(op);
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

/* s is NUL-terminated within cap bytes. */
static int str_fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

/* A C string of 1..max bytes (reads at most max + 1 bytes of s). */
static int str_len_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    return n >= 1 && n <= max;
}

#define FITS(obj, field) str_fits((obj)->field, sizeof (obj)->field)

/* ---- apps ---- */

static int app_valid(const store_app_t *a)
{
    return FITS(a, secret) && FITS(a, admin_id) && FITS(a, settings);
}

static int make_app_put(store_t *st, const store_app_t *app, op_t **out)
{
    *out = NULL;
    if (!st || !app || !app_valid(app))
        return STORE_EINVAL;
    op_t *op = op_new(OP_APP_PUT);
    if (!op)
        return STORE_EIO;
    op->u.app = *app;
    if (op->u.app.created_at <= 0)
        op->u.app.created_at = store_now_ms();
    if (!op->u.app.settings[0])
        memcpy(op->u.app.settings, "{}", sizeof "{}");
    *out = op;
    return 0;
}

int store_app_put(store_t *st, const store_app_t *app, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_app_put(st, app, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_app_put_sync(store_t *st, const store_app_t *app)
{
    if (!st || !app)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_app_put(st, app, &op);
    return enqueue_wait(st, rc, op);
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

/* ---- users ---- */

static int flag_ok(int v)
{
    return v == 0 || v == 1;
}

/* The id plus every field named in mask (see "A user is valid" in
 * store.h). */
static int user_valid(const store_user_t *u, unsigned mask)
{
    if (!str_len_ok(u->user_id, STORE_ID_MAX))
        return 0;
    if (((mask & STORE_USER_F_NICK_NAME) && !FITS(u, nick_name)) ||
        ((mask & STORE_USER_F_PHOTO) && !FITS(u, photo)) ||
        ((mask & STORE_USER_F_BIRTH_DAY) && !FITS(u, birth_day)) ||
        ((mask & STORE_USER_F_LOCATION) && !FITS(u, location)) ||
        ((mask & STORE_USER_F_SELF_SIGNATURE) && !FITS(u, self_signature)) ||
        ((mask & STORE_USER_F_EXTRA) && !FITS(u, extra)))
        return 0;
    if ((mask & STORE_USER_F_FRIEND_ALLOW_TYPE) &&
        u->friend_allow_type != 1 && u->friend_allow_type != 2)
        return 0;
    if (((mask & STORE_USER_F_FORBIDDEN_FLAG) && !flag_ok(u->forbidden_flag)) ||
        ((mask & STORE_USER_F_DISABLE_ADD_FRIEND) && !flag_ok(u->disable_add_friend)) ||
        ((mask & STORE_USER_F_SILENT_FLAG) && !flag_ok(u->silent_flag)))
        return 0;
    return 1;
}

static int rows_init(rows_t *r, size_t n, int *results)
{
    r->n = n;
    r->results = results;
    r->row_rc = calloc(n, sizeof *r->row_rc);
    return r->row_rc ? 0 : STORE_EIO;
}

static int make_user_import(store_t *st, const store_user_t *users, size_t n, int *results,
                            op_t **out)
{
    *out = NULL;
    if (!st || !users || !results || n == 0 || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    op_t *op = op_new(OP_USER_IMPORT);
    if (!op)
        return STORE_EIO;
    *out = op;
    if (rows_init(&op->u.import.rows, n, results) != 0 ||
        !(op->u.import.users = malloc(n * sizeof *op->u.import.users)))
        return STORE_EIO;
    memcpy(op->u.import.users, users, n * sizeof *users);
    for (size_t i = 0; i < n; i++)
        if (!user_valid(&users[i], STORE_USER_F_ALL))
            op->u.import.rows.row_rc[i] = STORE_EINVAL;
    return 0;
}

int store_user_import(store_t *st, const store_user_t *users, size_t n, int *results,
                      store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_import(st, users, n, results, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_user_import_sync(store_t *st, const store_user_t *users, size_t n, int *results)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_import(st, users, n, results, &op);
    return enqueue_wait(st, rc, op);
}

static int make_user_update(store_t *st, const store_user_t *u, unsigned mask, op_t **out)
{
    *out = NULL;
    if (!st || !u || mask == 0 || (mask & ~(unsigned)STORE_USER_F_ALL) || !user_valid(u, mask))
        return STORE_EINVAL;
    op_t *op = op_new(OP_USER_UPDATE);
    if (!op)
        return STORE_EIO;
    op->u.update.user = *u;
    op->u.update.mask = mask;
    *out = op;
    return 0;
}

int store_user_update(store_t *st, const store_user_t *u, unsigned field_mask,
                      store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_update(st, u, field_mask, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_user_update_sync(store_t *st, const store_user_t *u, unsigned field_mask)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_update(st, u, field_mask, &op);
    return enqueue_wait(st, rc, op);
}

static int make_user_delete(store_t *st, int32_t app_id, const char *const *ids, size_t n,
                            int *results, op_t **out)
{
    *out = NULL;
    if (!st || !ids || !results || n == 0 || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    op_t *op = op_new(OP_USER_DELETE);
    if (!op)
        return STORE_EIO;
    *out = op;
    op->u.del.app_id = app_id;
    if (rows_init(&op->u.del.rows, n, results) != 0 ||
        !(op->u.del.ids = calloc(n, sizeof *op->u.del.ids)))
        return STORE_EIO;
    for (size_t i = 0; i < n; i++) {
        int *rc = &op->u.del.rows.row_rc[i];
        if (!ids[i])
            *rc = STORE_EINVAL;
        else if (!str_len_ok(ids[i], STORE_ID_MAX))
            *rc = STORE_ENOTFOUND; /* no user can have that id */
        else
            memcpy(op->u.del.ids[i], ids[i], strlen(ids[i]) + 1);
    }
    return 0;
}

int store_user_delete(store_t *st, int32_t app_id, const char *const *user_ids, size_t n,
                      int *results, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_delete(st, app_id, user_ids, n, results, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_user_delete_sync(store_t *st, int32_t app_id, const char *const *user_ids,
                           size_t n, int *results)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_delete(st, app_id, user_ids, n, results, &op);
    return enqueue_wait(st, rc, op);
}

int store_user_get_sync(store_t *st, int32_t app_id, const char *user_id, store_user_t *out)
{
    if (!st || !user_id || !out)
        return STORE_EINVAL;
    if (!str_len_ok(user_id, STORE_ID_MAX))
        return STORE_ENOTFOUND;
    return st->bops->user_get(st->be, app_id, user_id, out);
}

int store_user_page_sync(store_t *st, int32_t app_id, const char *nick_like,
                         const char *exclude_user_id, int offset, int limit,
                         store_user_t **out, size_t *n, int64_t *total)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t tot = 0;
    if (total)
        *total = 0;
    if (offset < 0)
        offset = 0;
    if (limit < 1)
        limit = 1;
    if (limit > PAGE_LIMIT_MAX)
        limit = PAGE_LIMIT_MAX;
    if (nick_like && !nick_like[0])
        nick_like = NULL;
    if (exclude_user_id && !exclude_user_id[0])
        exclude_user_id = NULL;
    int rc = st->bops->user_page(st->be, app_id, nick_like, exclude_user_id, offset, limit, out,
                                 n, &tot);
    if (rc == 0 && total)
        *total = tot;
    return rc;
}

int store_user_count_sync(store_t *st, int32_t app_id, int64_t *n)
{
    if (!st || !n)
        return STORE_EINVAL;
    *n = 0;
    return st->bops->user_count(st->be, app_id, n);
}

/* ---- demo app accounts ---- */

static int make_account_create(store_t *st, int32_t app_id, const char *user_name,
                               const char *user_id, const char *hash, op_t **out)
{
    *out = NULL;
    if (!st || !user_name || !user_id || !hash || !str_len_ok(user_name, STORE_NAME_MAX) ||
        !str_len_ok(user_id, STORE_ID_MAX) || !str_len_ok(hash, STORE_HASH_MAX))
        return STORE_EINVAL;
    op_t *op = op_new(OP_ACCOUNT_CREATE);
    if (!op)
        return STORE_EIO;
    op->u.account.app_id = app_id;
    /* Lengths checked above; the arrays are zeroed, so these terminate. */
    memcpy(op->u.account.user_name, user_name, strlen(user_name));
    memcpy(op->u.account.user_id, user_id, strlen(user_id));
    memcpy(op->u.account.hash, hash, strlen(hash));
    *out = op;
    return 0;
}

int store_account_create(store_t *st, int32_t app_id, const char *user_name,
                         const char *user_id, const char *password_hash,
                         store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_account_create(st, app_id, user_name, user_id, password_hash, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_account_create_sync(store_t *st, int32_t app_id, const char *user_name,
                              const char *user_id, const char *password_hash)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_account_create(st, app_id, user_name, user_id, password_hash, &op);
    return enqueue_wait(st, rc, op);
}

static int make_account_register(store_t *st, const char *user_name, const char *hash,
                                 const store_user_t *user, op_t **out)
{
    *out = NULL;
    if (!st || !user_name || !hash || !user || !str_len_ok(user_name, STORE_NAME_MAX) ||
        !str_len_ok(hash, STORE_HASH_MAX) || !user_valid(user, STORE_USER_F_ALL))
        return STORE_EINVAL;
    op_t *op = op_new(OP_ACCOUNT_REGISTER);
    if (!op)
        return STORE_EIO;
    op->u.reg.user = *user;
    memcpy(op->u.reg.user_name, user_name, strlen(user_name));
    memcpy(op->u.reg.hash, hash, strlen(hash));
    *out = op;
    return 0;
}

int store_account_register(store_t *st, const char *user_name, const char *password_hash,
                           const store_user_t *user, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_account_register(st, user_name, password_hash, user, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_account_register_sync(store_t *st, const char *user_name, const char *password_hash,
                                const store_user_t *user)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_account_register(st, user_name, password_hash, user, &op);
    return enqueue_wait(st, rc, op);
}

int store_account_get_sync(store_t *st, int32_t app_id, const char *user_name,
                           char *user_id_out, char *hash_out, size_t hash_cap)
{
    if (!st || !user_name || (hash_out && hash_cap == 0))
        return STORE_EINVAL;
    if (!str_len_ok(user_name, STORE_NAME_MAX))
        return STORE_ENOTFOUND;
    return st->bops->account_get(st->be, app_id, user_name, user_id_out, hash_out, hash_cap);
}

/* ---- messages and conversations ---- */

static int id_ok(const char *s)
{
    return s && str_len_ok(s, STORE_ID_MAX);
}

static void id_copy(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1); /* checked by id_ok: fits */
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int make_msg_p2p(store_t *st, store_msg_t *m, op_t **out)
{
    *out = NULL;
    if (!st || !m || !str_len_ok(m->from_id, STORE_ID_MAX) ||
        !str_len_ok(m->to_id, STORE_ID_MAX) || !str_len_ok(m->message_id, STORE_ID_MAX) ||
        strcmp(m->from_id, m->to_id) == 0 || !m->body || m->message_key <= 0 ||
        (m->flags & ~(STORE_MSG_CHECK_FRIEND | STORE_MSG_CHECK_BLACK)))
        return STORE_EINVAL;
    op_t *op = op_new(OP_MSG_P2P);
    if (!op)
        return STORE_EIO;
    *out = op;
    store_msg_t *c = &op->u.p2p.msg;
    *c = *m;
    c->body = NULL;
    c->extra = NULL;
    c->sequence = c->created_at = 0;
    c->duplicate = c->reject = c->del_flag = 0;
    op->u.p2p.out = m;
    if (!(c->body = str_dup(m->body)) || (m->extra && !(c->extra = str_dup(m->extra))))
        return STORE_EIO;
    return 0;
}

int store_msg_p2p(store_t *st, store_msg_t *m, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_msg_p2p(st, m, &op);
    return enqueue_msg(st, rc, op, done, arg);
}

int store_msg_p2p_sync(store_t *st, store_msg_t *m)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_msg_p2p(st, m, &op);
    return enqueue_wait(st, rc, op);
}

static int make_msg_read(store_t *st, int32_t app_id, const char *owner, const char *peer,
                         int64_t seq, int64_t *out_read_seq, int *out_changed, op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner) || !id_ok(peer))
        return STORE_EINVAL;
    op_t *op = op_new(OP_MSG_READ);
    if (!op)
        return STORE_EIO;
    op->u.read.app_id = app_id;
    id_copy(op->u.read.owner, owner);
    id_copy(op->u.read.peer, peer);
    op->u.read.seq = seq;
    op->u.read.out_read_seq = out_read_seq;
    op->u.read.out_changed = out_changed;
    *out = op;
    return 0;
}

int store_msg_read(store_t *st, int32_t app_id, const char *owner, const char *peer,
                   int64_t seq, int64_t *out_read_seq, int *out_changed,
                   store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_msg_read(st, app_id, owner, peer, seq, out_read_seq, out_changed, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_msg_read_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                        int64_t seq, int64_t *out_read_seq, int *out_changed)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_msg_read(st, app_id, owner, peer, seq, out_read_seq, out_changed, &op);
    return enqueue_wait(st, rc, op);
}

static int make_msg_recall(store_t *st, int32_t app_id, int64_t message_key,
                           const char *requester, int is_admin, int64_t now_ms,
                           int64_t window_ms, store_recall_t *res, op_t **out)
{
    *out = NULL;
    if (!st || !res || !id_ok(requester) || window_ms < 0)
        return STORE_EINVAL;
    op_t *op = op_new(OP_MSG_RECALL);
    if (!op)
        return STORE_EIO;
    op->u.recall.app_id = app_id;
    op->u.recall.message_key = message_key;
    id_copy(op->u.recall.requester, requester);
    op->u.recall.is_admin = is_admin != 0;
    op->u.recall.now_ms = now_ms;
    op->u.recall.window_ms = window_ms;
    op->u.recall.out = res;
    *out = op;
    return 0;
}

int store_msg_recall(store_t *st, int32_t app_id, int64_t message_key, const char *requester,
                     int requester_is_admin, int64_t now_ms, int64_t window_ms,
                     store_recall_t *out, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_msg_recall(st, app_id, message_key, requester, requester_is_admin, now_ms,
                             window_ms, out, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_msg_recall_sync(store_t *st, int32_t app_id, int64_t message_key,
                          const char *requester, int requester_is_admin, int64_t now_ms,
                          int64_t window_ms, store_recall_t *out)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_msg_recall(st, app_id, message_key, requester, requester_is_admin, now_ms,
                             window_ms, out, &op);
    return enqueue_wait(st, rc, op);
}

static int keep_or_flag(int v)
{
    return v == -1 || v == 0 || v == 1;
}

static int make_conv_update(store_t *st, int32_t app_id, const char *owner, const char *peer,
                            int type, int is_top, int is_mute, int deleted,
                            int64_t *out_change_seq, op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner) || !id_ok(peer) || type < 0 || !keep_or_flag(is_top) ||
        !keep_or_flag(is_mute) || !keep_or_flag(deleted))
        return STORE_EINVAL;
    op_t *op = op_new(OP_CONV_UPDATE);
    if (!op)
        return STORE_EIO;
    op->u.conv.app_id = app_id;
    id_copy(op->u.conv.owner, owner);
    id_copy(op->u.conv.peer, peer);
    op->u.conv.type = type;
    op->u.conv.is_top = is_top;
    op->u.conv.is_mute = is_mute;
    op->u.conv.deleted = deleted;
    op->u.conv.out = out_change_seq;
    *out = op;
    return 0;
}

int store_conv_update(store_t *st, int32_t app_id, const char *owner, const char *peer,
                      int conversation_type, int is_top, int is_mute, int deleted,
                      int64_t *out_change_seq, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_conv_update(st, app_id, owner, peer, conversation_type, is_top, is_mute,
                              deleted, out_change_seq, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_conv_update_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int conversation_type, int is_top, int is_mute, int deleted,
                           int64_t *out_change_seq)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_conv_update(st, app_id, owner, peer, conversation_type, is_top, is_mute,
                              deleted, out_change_seq, &op);
    return enqueue_wait(st, rc, op);
}

void store_msg_rows_free(store_msg_row_t *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].body);
        free(rows[i].extra);
    }
    free(rows);
}

static int clamp_limit(int limit)
{
    if (limit < 1)
        return 1;
    return limit > STORE_MSG_LIMIT_MAX ? STORE_MSG_LIMIT_MAX : limit;
}

int store_msg_history_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int64_t from_seq, int64_t to_seq, int limit, int descending,
                           store_msg_row_t **out, size_t *n)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(owner) || !id_ok(peer))
        return STORE_EINVAL;
    /* A bound rather than "0 = none" in SQL keeps the range usable by the
     * primary key in both directions. */
    if (to_seq <= 0)
        to_seq = INT64_MAX;
    return st->bops->msg_history(st->be, app_id, owner, peer, from_seq, to_seq,
                                 clamp_limit(limit), descending != 0, out, n);
}

int store_msg_sync_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_key,
                        int limit, store_msg_row_t **out, size_t *n, int64_t *max_key)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mk = 0;
    if (max_key)
        *max_key = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->msg_sync(st->be, app_id, owner, after_key, clamp_limit(limit), out, n,
                                &mk);
    if (rc == 0 && max_key)
        *max_key = mk;
    return rc;
}

int store_conv_list_sync(store_t *st, int32_t app_id, const char *owner,
                         int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                         int64_t *max_change_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mc = 0;
    if (max_change_seq)
        *max_change_seq = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->conv_list(st->be, app_id, owner, after_change_seq, clamp_limit(limit),
                                 out, n, &mc);
    if (rc == 0 && max_change_seq)
        *max_change_seq = mc;
    return rc;
}

int store_msg_head_sync(store_t *st, int32_t app_id, int64_t message_key, store_msg_row_t *out)
{
    if (!st || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (message_key <= 0)
        return STORE_ENOTFOUND;
    int rc = st->bops->msg_head(st->be, app_id, message_key, out);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int store_conv_get_sync(store_t *st, int32_t app_id, const char *owner, int conversation_type,
                        const char *peer, store_conv_t *out)
{
    if (!st || !owner || !peer || !out)
        return STORE_EINVAL;
    if (!id_ok(owner) || !id_ok(peer) || conversation_type < 0)
        return STORE_ENOTFOUND; /* no conversation can have that key */
    return st->bops->conv_get(st->be, app_id, owner, conversation_type, peer, out);
}

/* ---- friendship ---- */

static int friend_str_ok(const store_friend_t *f)
{
    return FITS(f, remark) && FITS(f, add_source) && FITS(f, extra);
}

/* A new friendship op of kind what for owner (validated). */
static store_friend_op_t *fo_new(int what, int32_t app_id, const char *owner)
{
    store_friend_op_t *fo = calloc(1, sizeof *fo);
    if (!fo)
        return NULL;
    fo->what = what;
    fo->app_id = app_id;
    id_copy(fo->from_id, owner);
    return fo;
}

/* Room for n rows; ids copied from src when given (each must be an id of
 * 1..max bytes, else its row is refused with bad_rc). */
static int fo_rows(store_friend_op_t *fo, size_t n, const char *const *src, size_t max,
                   int bad_rc)
{
    fo->n = n;
    if (n == 0)
        return 0;
    if (!(fo->row_rc = calloc(n, sizeof *fo->row_rc)) ||
        !(fo->row_seq = calloc(n, sizeof *fo->row_seq)) ||
        (src && !(fo->ids = calloc(n, sizeof *fo->ids))))
        return STORE_EIO;
    for (size_t i = 0; src && i < n; i++) {
        if (src[i] && str_len_ok(src[i], max))
            memcpy(fo->ids[i], src[i], strlen(src[i]) + 1);
        else
            fo->row_rc[i] = bad_rc;
    }
    return 0;
}

/* Queue (or, with wait, queue and wait for) a built friendship op.  Takes
 * fo in every case; rc is the builder's verdict. */
static int fo_submit(store_t *st, int rc, store_friend_op_t *fo, int *results, int64_t *seqs,
                     store_friend_res_t *res, store_done_fn done, void *arg, int wait)
{
    op_t *op = NULL;
    if (rc == 0 && !(op = op_new(OP_FRIEND)))
        rc = STORE_EIO;
    if (rc != 0) {
        friend_op_free(fo);
        return rc;
    }
    op->u.fr.fo = fo;
    op->u.fr.results = results;
    op->u.fr.seqs = seqs;
    op->u.fr.out = res;
    return wait ? enqueue_wait(st, 0, op) : enqueue(st, 0, op, done, arg);
}

static int make_friend_import(store_t *st, int32_t app_id, const char *from_id,
                              const store_friend_t *items, size_t n, int *results,
                              store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(from_id) || !items || !results || n == 0 || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    store_friend_op_t *fo = fo_new(SF_IMPORT, app_id, from_id);
    if (!fo)
        return STORE_EIO;
    *out = fo;
    if (fo_rows(fo, n, NULL, 0, 0) != 0 || !(fo->items = malloc(n * sizeof *fo->items)))
        return STORE_EIO;
    memcpy(fo->items, items, n * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        const store_friend_t *it = &items[i];
        if (!str_len_ok(it->to_id, STORE_ID_MAX) || !friend_str_ok(it) ||
            !strcmp(it->to_id, from_id) || (it->status != 1 && it->status != 2) ||
            (it->black != 1 && it->black != 2))
            fo->row_rc[i] = STORE_EINVAL;
    }
    return 0;
}

int store_friend_import(store_t *st, int32_t app_id, const char *from_id,
                        const store_friend_t *items, size_t n, int *results, int64_t *seqs,
                        store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_import(st, app_id, from_id, items, n, results, &fo);
    return fo_submit(st, rc, fo, results, seqs, res, done, arg, 0);
}

int store_friend_import_sync(store_t *st, int32_t app_id, const char *from_id,
                             const store_friend_t *items, size_t n, int *results,
                             int64_t *seqs, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_import(st, app_id, from_id, items, n, results, &fo);
    return fo_submit(st, rc, fo, results, seqs, res, NULL, NULL, 1);
}

/* Ops on one pair (from_id, to_id), from != to. */
static int make_friend_pair(store_t *st, int what, int32_t app_id, const char *from_id,
                            const char *to_id, store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(from_id) || !id_ok(to_id) || !strcmp(from_id, to_id))
        return STORE_EINVAL;
    store_friend_op_t *fo = fo_new(what, app_id, from_id);
    if (!fo)
        return STORE_EIO;
    id_copy(fo->to_id, to_id);
    *out = fo;
    return 0;
}

static int make_friend_add(store_t *st, int32_t app_id, const store_friend_t *f,
                           const char *wording, store_friend_op_t **out)
{
    *out = NULL;
    if (!f || !str_len_ok(f->from_id, STORE_ID_MAX) || !friend_str_ok(f) ||
        (wording && strnlen(wording, STORE_FRIEND_WORDING_MAX + 1) > STORE_FRIEND_WORDING_MAX))
        return STORE_EINVAL;
    int rc = make_friend_pair(st, SF_ADD, app_id, f->from_id, f->to_id, out);
    if (rc == 0) {
        (*out)->f = *f;
        if (wording)
            memcpy((*out)->wording, wording, strlen(wording) + 1);
    }
    return rc;
}

int store_friend_add(store_t *st, int32_t app_id, const store_friend_t *f,
                     const char *add_wording, store_friend_res_t *res, store_done_fn done,
                     void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_add(st, app_id, f, add_wording, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_add_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                          const char *add_wording, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_add(st, app_id, f, add_wording, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

static int make_friend_update(store_t *st, int32_t app_id, const store_friend_t *f,
                              unsigned mask, store_friend_op_t **out)
{
    *out = NULL;
    if (!f || mask == 0 || (mask & ~(unsigned)STORE_FRIEND_F_ALL) ||
        !str_len_ok(f->from_id, STORE_ID_MAX) || !friend_str_ok(f))
        return STORE_EINVAL;
    int rc = make_friend_pair(st, SF_UPDATE, app_id, f->from_id, f->to_id, out);
    if (rc == 0) {
        (*out)->f = *f;
        (*out)->mask = mask;
    }
    return rc;
}

int store_friend_update(store_t *st, int32_t app_id, const store_friend_t *f, unsigned mask,
                        store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_update(st, app_id, f, mask, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_update_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                             unsigned mask, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_update(st, app_id, f, mask, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

int store_friend_delete(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                        store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_pair(st, SF_DELETE, app_id, from_id, to_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_delete_sync(store_t *st, int32_t app_id, const char *from_id,
                             const char *to_id, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_pair(st, SF_DELETE, app_id, from_id, to_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

/* Ops on one user's rows. */
static int make_friend_owner(store_t *st, int what, int32_t app_id, const char *owner,
                             store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner))
        return STORE_EINVAL;
    return (*out = fo_new(what, app_id, owner)) ? 0 : STORE_EIO;
}

int store_friend_delete_all(store_t *st, int32_t app_id, const char *from_id,
                            store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_DELETE_ALL, app_id, from_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_delete_all_sync(store_t *st, int32_t app_id, const char *from_id,
                                 store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_DELETE_ALL, app_id, from_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

static int make_friend_black(store_t *st, int32_t app_id, const char *from_id,
                             const char *to_id, int black, store_friend_op_t **out)
{
    *out = NULL;
    if (black != 1 && black != 2)
        return STORE_EINVAL;
    int rc = make_friend_pair(st, SF_BLACK, app_id, from_id, to_id, out);
    if (rc == 0)
        (*out)->flag = black;
    return rc;
}

int store_friend_black(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                       int black, store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_black(st, app_id, from_id, to_id, black, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_black_sync(store_t *st, int32_t app_id, const char *from_id,
                            const char *to_id, int black, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_black(st, app_id, from_id, to_id, black, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

static int make_friend_approve(store_t *st, int32_t app_id, const char *approver, int is_admin,
                               int64_t id, int status, store_friend_op_t **out)
{
    *out = NULL;
    if (status != 1 && status != 2)
        return STORE_EINVAL;
    int rc = make_friend_owner(st, SF_REQ_APPROVE, app_id, approver, out);
    if (rc == 0) {
        (*out)->flag = status;
        (*out)->admin = is_admin != 0;
        (*out)->id = id;
    }
    return rc;
}

int store_friend_request_approve(store_t *st, int32_t app_id, const char *approver,
                                 int is_admin, int64_t id, int status,
                                 store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_approve(st, app_id, approver, is_admin, id, status, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_request_approve_sync(store_t *st, int32_t app_id, const char *approver,
                                      int is_admin, int64_t id, int status,
                                      store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_approve(st, app_id, approver, is_admin, id, status, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

int store_friend_request_read(store_t *st, int32_t app_id, const char *owner,
                              store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_REQ_READ, app_id, owner, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_request_read_sync(store_t *st, int32_t app_id, const char *owner,
                                   store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_REQ_READ, app_id, owner, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

/* Friend-list ops: a named list (name may be NULL for del) and n ids. */
static int make_friend_group(store_t *st, int what, int32_t app_id, const char *owner,
                             const char *name, const char *const *ids, size_t n, int *results,
                             size_t min_n, store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner) || n < min_n || n > STORE_USER_BATCH_MAX ||
        (n && (!ids || !results)) ||
        (what != SF_GROUP_DEL && (!name || !str_len_ok(name, STORE_FRIEND_GROUP_NAME_MAX))))
        return STORE_EINVAL;
    store_friend_op_t *fo = fo_new(what, app_id, owner);
    if (!fo)
        return STORE_EIO;
    *out = fo;
    if (name && what != SF_GROUP_DEL)
        memcpy(fo->name, name, strlen(name) + 1);
    /* A member that cannot be a user can be no friend; a name that cannot
     * be a list's names no list. */
    if (what == SF_GROUP_DEL)
        return fo_rows(fo, n, ids, STORE_FRIEND_GROUP_NAME_MAX, STORE_REJECT_GROUP_NOT_FOUND);
    return fo_rows(fo, n, ids, STORE_ID_MAX, STORE_REJECT_NOT_FRIEND);
}

int store_friend_group_add(store_t *st, int32_t app_id, const char *owner, const char *name,
                           const char *const *to_ids, size_t n, int *results,
                           store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_ADD, app_id, owner, name, to_ids, n, results, 0, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, done, arg, 0);
}

int store_friend_group_add_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *name, const char *const *to_ids, size_t n,
                                int *results, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_ADD, app_id, owner, name, to_ids, n, results, 0, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, NULL, NULL, 1);
}

int store_friend_group_del(store_t *st, int32_t app_id, const char *owner,
                           const char *const *names, size_t n, int *results, int64_t *seqs,
                           store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_DEL, app_id, owner, NULL, names, n, results, 1, &fo);
    return fo_submit(st, rc, fo, results, seqs, NULL, done, arg, 0);
}

int store_friend_group_del_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *const *names, size_t n, int *results,
                                int64_t *seqs)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_DEL, app_id, owner, NULL, names, n, results, 1, &fo);
    return fo_submit(st, rc, fo, results, seqs, NULL, NULL, NULL, 1);
}

static int make_friend_member(store_t *st, int32_t app_id, const char *owner, const char *name,
                              const char *const *ids, size_t n, int add, int *results,
                              store_friend_op_t **out)
{
    *out = NULL;
    if (add != 0 && add != 1)
        return STORE_EINVAL;
    /* flag must be known before the rows are checked (their refusal code) */
    int rc = make_friend_group(st, SF_GROUP_MEMBER, app_id, owner, name, NULL, 0, NULL, 0, out);
    if (rc != 0)
        return rc;
    if (n < 1 || n > STORE_USER_BATCH_MAX || !ids || !results)
        return STORE_EINVAL;
    (*out)->flag = add;
    return fo_rows(*out, n, ids, STORE_ID_MAX, add ? STORE_REJECT_NOT_FRIEND : STORE_ENOTFOUND);
}

int store_friend_group_member(store_t *st, int32_t app_id, const char *owner,
                              const char *name, const char *const *to_ids, size_t n, int add,
                              int *results, store_friend_res_t *res, store_done_fn done,
                              void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_member(st, app_id, owner, name, to_ids, n, add, results, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, done, arg, 0);
}

int store_friend_group_member_sync(store_t *st, int32_t app_id, const char *owner,
                                   const char *name, const char *const *to_ids, size_t n,
                                   int add, int *results, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_member(st, app_id, owner, name, to_ids, n, add, results, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, NULL, NULL, 1);
}

static int clamp_friend_limit(int limit)
{
    if (limit < 1)
        return 1;
    return limit > STORE_FRIEND_LIMIT_MAX ? STORE_FRIEND_LIMIT_MAX : limit;
}

int store_friend_get_sync(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                          store_friend_t *out)
{
    if (!st || !from_id || !to_id || !out)
        return STORE_EINVAL;
    if (!id_ok(from_id) || !id_ok(to_id))
        return STORE_ENOTFOUND;
    return st->bops->friend_get(st->be, app_id, from_id, to_id, out);
}

int store_friend_list_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_seq,
                           int limit, store_friend_t **out, size_t *n, int64_t *max_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mx = 0;
    if (max_seq)
        *max_seq = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->friend_list(st->be, app_id, owner, after_seq, clamp_friend_limit(limit),
                                   out, n, &mx);
    if (rc == 0 && max_seq)
        *max_seq = mx;
    return rc;
}

int store_friend_all_sync(store_t *st, int32_t app_id, const char *owner, store_friend_t **out,
                          size_t *n)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    return st->bops->friend_all(st->be, app_id, owner, out, n);
}

int store_friend_request_list_sync(store_t *st, int32_t app_id, const char *to_id,
                                   int64_t after_seq, int limit, store_friend_request_t **out,
                                   size_t *n, int64_t *max_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mx = 0;
    if (max_seq)
        *max_seq = 0;
    if (!id_ok(to_id))
        return STORE_EINVAL;
    int rc = st->bops->friend_requests(st->be, app_id, to_id, after_seq,
                                       clamp_friend_limit(limit), out, n, &mx);
    if (rc == 0 && max_seq)
        *max_seq = mx;
    return rc;
}

void store_friend_groups_free(store_friend_group_t *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].members);
    free(g);
}

int store_friend_group_list_sync(store_t *st, int32_t app_id, const char *owner,
                                 int64_t after_seq, int limit, store_friend_group_t **out,
                                 size_t *n, int64_t *max_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mx = 0;
    if (max_seq)
        *max_seq = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->friend_groups(st->be, app_id, owner, after_seq, clamp_friend_limit(limit),
                                     out, n, &mx);
    if (rc == 0 && max_seq)
        *max_seq = mx;
    return rc;
}

int store_friend_seqs_sync(store_t *st, int32_t app_id, const char *user_id,
                           int64_t *friendship_seq, int64_t *request_seq, int64_t *group_seq)
{
    int64_t f = 0, r = 0, g = 0;
    if (friendship_seq)
        *friendship_seq = 0;
    if (request_seq)
        *request_seq = 0;
    if (group_seq)
        *group_seq = 0;
    if (!st || !user_id)
        return STORE_EINVAL;
    if (!id_ok(user_id))
        return 0; /* no user can have that id: nothing stored */
    int rc = st->bops->friend_seqs(st->be, app_id, user_id, &f, &r, &g);
    if (rc == 0) {
        if (friendship_seq)
            *friendship_seq = f;
        if (request_seq)
            *request_seq = r;
        if (group_seq)
            *group_seq = g;
    }
    return rc;
}

/* ---- user status ---------------------------------------------------------- */

static int make_user_status(store_t *st, int32_t app_id, const char *user_id, const char *text,
                            int status, op_t **out)
{
    *out = NULL;
    if (!st || !user_id || !text || !id_ok(user_id) ||
        strnlen(text, STORE_STATUS_TEXT_MAX + 1) > STORE_STATUS_TEXT_MAX)
        return STORE_EINVAL;
    op_t *op = op_new(OP_USER_STATUS);
    if (!op)
        return STORE_EIO;
    op->u.status.app_id = app_id;
    id_copy(op->u.status.user_id, user_id);
    memcpy(op->u.status.text, text, strlen(text) + 1);
    op->u.status.status = status;
    *out = op;
    return 0;
}

int store_user_status_set(store_t *st, int32_t app_id, const char *user_id, const char *text,
                          int status, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_status(st, app_id, user_id, text, status, &op);
    return enqueue(st, rc, op, done, arg);
}

int store_user_status_set_sync(store_t *st, int32_t app_id, const char *user_id,
                               const char *text, int status)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_status(st, app_id, user_id, text, status, &op);
    return enqueue_wait(st, rc, op);
}

int store_user_status_get_sync(store_t *st, int32_t app_id, const char *const *ids, size_t n,
                               store_user_status_t *out)
{
    if (!st || (n && (!ids || !out)) || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    const char **valid = n ? calloc(n, sizeof *valid) : NULL;
    store_user_status_t *tmp = n ? calloc(n, sizeof *tmp) : NULL;
    size_t k = 0;
    if (n && (!valid || !tmp)) {
        free(valid);
        free(tmp);
        return STORE_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            goto bad;
        memset(&out[i], 0, sizeof out[i]);
        if (id_ok(ids[i])) {
            id_copy(out[i].user_id, ids[i]);
            valid[k++] = ids[i];
        } else {
            /* no user can have that id: the empty status, id truncated */
            snprintf(out[i].user_id, sizeof out[i].user_id, "%s", ids[i]);
        }
    }
    int rc = k ? st->bops->user_status_get(st->be, app_id, valid, k, tmp) : 0;
    /* spread the valid ones back to their positions */
    for (size_t i = 0, j = 0; rc == 0 && i < n && j < k; i++) {
        if (ids[i] == valid[j]) {
            id_copy(tmp[j].user_id, ids[i]);
            out[i] = tmp[j++];
        }
    }
    free(valid);
    free(tmp);
    return rc;
bad:
    free(valid);
    free(tmp);
    return STORE_EINVAL;
}

int store_friend_status_peers_sync(store_t *st, int32_t app_id, const char *user_id,
                                   store_user_status_t **out, size_t *n)
{
    if (!st || !out || !n || !user_id)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(user_id))
        return 0; /* no user can have that id: no friends */
    return st->bops->status_peers(st->be, app_id, user_id, out, n);
}

int store_friend_blacked_sync(store_t *st, int32_t app_id, const char *user_id,
                              char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    if (!st || !out || !n || !user_id)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(user_id))
        return 0;
    return st->bops->friend_blacked(st->be, app_id, user_id, out, n);
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
                op_t *op = op_new(OP_PROBE);
                (void)enqueue_wait(st, op ? 0 : STORE_EIO, op);
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

/* ---- groups ---- */

void store_group_op_clear(store_group_op_t *op)
{
    if (!op)
        return;
    free(op->ids);
    op->ids = NULL;
    op->nids = 0;
}

static int gid_ok(const char *s)
{
    return str_len_ok(s, STORE_GROUP_ID_MAX);
}

static int group_strs_ok(const store_group_t *g)
{
    return FITS(g, owner_id) && FITS(g, group_name) && FITS(g, photo) &&
           FITS(g, introduction) && FITS(g, notification) && FITS(g, extra);
}

static int member_strs_ok(const store_group_member_t *m)
{
    return FITS(m, alias) && FITS(m, join_type) && FITS(m, extra);
}

static int group_op_valid(const store_group_op_t *op)
{
    if (!gid_ok(op->group_id) || !FITS(op, operator_id) || !FITS(op, target) ||
        !FITS(op, wording) || op->n > STORE_GROUP_BATCH_MAX || (op->n && !op->members) ||
        (op->n && !op->results))
        return 0;
    for (size_t i = 0; i < op->n; i++)
        if (!id_ok(op->members[i].member_id) || !member_strs_ok(&op->members[i]))
            return 0;
    switch (op->what) {
    case SG_CREATE:
    case SG_IMPORT:
        return group_strs_ok(&op->g) && (op->g.group_type == 1 || op->g.group_type == 2) &&
               op->g.apply_join_type >= 0 && op->g.apply_join_type <= 2 &&
               (op->g.mute == 0 || op->g.mute == 1) && op->g.max_member_count >= 0 &&
               (op->what == SG_IMPORT || id_ok(op->operator_id));
    case SG_UPDATE:
        return group_strs_ok(&op->g) && op->mask && !(op->mask & ~(unsigned)STORE_GROUP_F_ALL) &&
               op->g.apply_join_type >= 0 && op->g.apply_join_type <= 2 &&
               (op->g.mute == 0 || op->g.mute == 1) && op->g.max_member_count >= 0;
    case SG_MUTE:
        return op->flag == 0 || op->flag == 1;
    case SG_TRANSFER:
    case SG_MEMBER_REMOVE:
    case SG_MEMBER_SPEAK:
        return id_ok(op->target);
    case SG_MEMBER_UPDATE:
        return id_ok(op->target) && member_strs_ok(&op->m) && op->mask &&
               !(op->mask & ~7u) &&
               (!(op->mask & STORE_MEMBER_F_ROLE) || op->m.role == 0 || op->m.role == 1);
    case SG_DECIDE:
        return op->flag == 1 || op->flag == 2;
    case SG_MSG:
        return id_ok(op->operator_id) && id_ok(op->msg.message_id) && op->msg.body &&
               op->msg.message_key > 0;
    case SG_RECALL:
        return id_ok(op->operator_id) && op->window_ms >= 0;
    case SG_DESTROY:
    case SG_MEMBER_ADD:
    case SG_MEMBER_IMPORT:
    case SG_APPLY:
    case SG_READ:
        return op->what == SG_MEMBER_IMPORT || id_ok(op->operator_id) || op->admin;
    case SG_MEMBER_EXIT:
        return id_ok(op->operator_id);
    }
    return 0;
}

static int make_group(store_t *st, store_group_op_t *op, op_t **out)
{
    *out = NULL;
    if (!st || !op || !group_op_valid(op))
        return STORE_EINVAL;
    if (!(*out = op_new(OP_GROUP)))
        return STORE_EIO;
    (*out)->u.grp = op;
    return 0;
}

int store_group_write(store_t *st, store_group_op_t *op, store_done_fn done, void *arg)
{
    op_t *o;
    int rc = make_group(st, op, &o);
    if (rc == 0 && op->what == SG_MSG)
        return enqueue_msg(st, rc, o, done, arg);
    return enqueue(st, rc, o, done, arg);
}

int store_group_write_sync(store_t *st, store_group_op_t *op)
{
    op_t *o;
    int rc = make_group(st, op, &o);
    return enqueue_wait(st, rc, o);
}

int store_group_get_sync(store_t *st, int32_t app_id, const char *group_id, store_group_t *out)
{
    if (!st || !group_id || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!gid_ok(group_id))
        return STORE_ENOTFOUND;
    return st->bops->group_get(st->be, app_id, group_id, out);
}

int store_group_member_get_sync(store_t *st, int32_t app_id, const char *group_id,
                                const char *member_id, store_group_member_t *out)
{
    if (!st || !group_id || !member_id || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!gid_ok(group_id) || !id_ok(member_id))
        return STORE_ENOTFOUND;
    return st->bops->group_member_get(st->be, app_id, group_id, member_id, out);
}

int store_group_members_sync(store_t *st, int32_t app_id, const char *group_id,
                             store_group_member_t **out, size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    return st->bops->group_members(st->be, app_id, group_id, out, n);
}

int store_group_readers_sync(store_t *st, int32_t app_id, const char *group_id, int64_t seq,
                             char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    return st->bops->group_readers(st->be, app_id, group_id, seq, out, n);
}

int store_group_joined_sync(store_t *st, int32_t app_id, const char *member_id, int all,
                            unsigned types, int64_t after_seq, int offset, int limit,
                            store_joined_t **out, size_t *n, int64_t *total)
{
    if (!st || !member_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t t = 0;
    if (total)
        *total = 0;
    if (!id_ok(member_id))
        return 0;
    if (limit < 1)
        limit = 1;
    if (limit > STORE_GROUP_LIMIT_MAX)
        limit = STORE_GROUP_LIMIT_MAX;
    if (offset < 0)
        offset = 0;
    int rc = st->bops->group_joined(st->be, app_id, member_id, all ? 1 : 0, types, after_seq,
                                    offset, limit, out, n, &t);
    if (rc == 0 && total)
        *total = t;
    return rc;
}

int store_group_requests_sync(store_t *st, int32_t app_id, const char *group_id, int status,
                              store_group_request_t **out, size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    return st->bops->group_requests(st->be, app_id, group_id, status, out, n);
}

void store_group_msg_rows_free(store_group_msg_row_t *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].body);
        free(rows[i].extra);
    }
    free(rows);
}

int store_group_msgs_sync(store_t *st, int32_t app_id, const char *group_id, int64_t from_seq,
                          int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
                          store_group_msg_row_t **out, size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    if (limit < 1)
        limit = 1;
    if (limit > STORE_GROUP_LIMIT_MAX)
        limit = STORE_GROUP_LIMIT_MAX;
    /* one range: [max(from, lo + 1), min(to, hi)] */
    int64_t a = from_seq > lo + 1 ? from_seq : lo + 1;
    int64_t b = to_seq > 0 ? to_seq : INT64_MAX;
    if (hi > 0 && hi < b)
        b = hi;
    if (a > b)
        return 0;
    return st->bops->group_msgs(st->be, app_id, group_id, a, b, 0, 0, limit, descending, out, n);
}
