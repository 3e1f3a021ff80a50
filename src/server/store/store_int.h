/*
 * Private to the store front (the .c files of store/): the store handle,
 * the queued op (one struct per write, its kinds and payloads), and what
 * the writer (writer.c), the op runner (op.c) and the per-domain submit
 * files (ops_*.c) share.  Nothing outside store/ includes it.
 */
#ifndef PETREL_STORE_INT_H
#define PETREL_STORE_INT_H

#include "server/store/store.h"
#include "server/store/store_backend.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Adding a write op: a kind here, a payload member, a case in st_op_exec
 * (and in st_op_free/st_op_finish if it owns arrays or has results), all
 * in op.c, and a public submit function that fills it (ops_*.c). */
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
    int *results;  /* the caller's, written by st_op_finish only */
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
    /* Per app, writer only after open (op.c): bytes = its message bytes
     * as far as this store knows, counting the open transaction's; tx =
     * what the open transaction stored; total = the backend's shared
     * count after it (app_bytes_add), -1 until known. */
    struct app_usage {
        int32_t app_id;
        int64_t bytes, tx, total;
    } *usage;
    size_t nusage;
    int tx_counted; /* writer: some usage[].tx may be non-zero */

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

/* op.c */
/* Free a queued op with what it owns. */
void st_op_free(op_t *op);
void st_friend_op_free(store_friend_op_t *fo);
/* Run op inside the writer's open transaction (after op_begin). */
int st_op_exec(store_t *st, op_t *op);
/* Most one-to-one messages handed to a backend's msg_p2p_batch at once. */
#define ST_P2P_RUN_MAX 256
/* n (<= ST_P2P_RUN_MAX) consecutive OP_MSG_P2P ops in one backend call
 * (op.c); sets each op's rc; non-zero when the transaction is lost. */
int st_op_exec_p2p_run(store_t *st, op_t **ops, size_t n);
/* Publish results once op->rc is final (writer, before done). */
void st_op_finish(op_t *op);
/* The storage quota around a transaction (op.c): st_quota_tx_end after
 * its last op, before tx_commit (hands each app's bytes of it to the
 * backend's shared count; non-zero = the transaction is lost);
 * st_quota_tx_done once its fate is known (committed: each app's usage
 * becomes the shared count; else its bytes are taken back). */
int st_quota_tx_end(store_t *st);
void st_quota_tx_done(store_t *st, int committed);

/* writer.c: submitting */
/* A zeroed op of kind (rc STORE_EIO until it runs), NULL when out of memory. */
op_t *st_op_new(enum op_kind kind);
/* Queue op (built by a make_* function, which returned rc) with its
 * callback, refused (STORE_EBUSY) once 2 x max_queue writes wait, or
 * max_queue for a message (st_enqueue_msg).  Takes ownership of op in
 * every case. */
int st_enqueue(store_t *st, int rc, op_t *op, store_done_fn done, void *arg);
int st_enqueue_msg(store_t *st, int rc, op_t *op, store_done_fn done, void *arg);
/* Same, then wait for the op's callback and return its rc (refused on the
 * writer thread, which would wait for itself). */
int st_enqueue_wait(store_t *st, int rc, op_t *op);

/* Validation helpers shared by the ops_*.c files. */

/* s is NUL-terminated within cap bytes. */
static inline int str_fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

/* A C string of 1..max bytes (reads at most max + 1 bytes of s). */
static inline int str_len_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    return n >= 1 && n <= max;
}

#define FITS(obj, field) str_fits((obj)->field, sizeof (obj)->field)

static inline int id_ok(const char *s)
{
    return s && str_len_ok(s, STORE_ID_MAX);
}

static inline void id_copy(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1); /* checked by id_ok: fits */
}

#endif
