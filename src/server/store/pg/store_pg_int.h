/*
 * Private header of the PostgreSQL backend (store/pg/): what its files
 * share.  The writer connection (store's writer thread only) runs in
 * libpq pipeline mode: constant statements whose result nobody waits for
 * (BEGIN, SAVEPOINT, RELEASE) are queued with pgw_defer and checked with
 * the next statement that is waited for (pgw_run), so an op costs one
 * round trip to the server, not three.  Every waited statement ends its
 * pipeline segment with a sync, so an error aborts only that segment; the
 * op's savepoint (op_end failed=1: ROLLBACK TO SAVEPOINT) then undoes just
 * that op and its neighbours in the transaction commit.  Reads run on a
 * pool of ordinary (non-pipelined) connections, on the callers' threads
 * (the store's *_sync readers run on the thread pool, never on a loop).
 *
 * Statements are pgq_t constants (file-static, one per query); each is
 * prepared on a connection the first time that connection runs it.
 * Parameters go as text (pgp_t), results come back as text (pg_i64,
 * pg_text...).  Numbers that must be unique and follow commit order
 * across nodes (conversation sequences, message keys, change sequences)
 * come from pgw_next: a row of im_counter updated in the committing
 * transaction, whose row lock orders concurrent writers.
 *
 * Files: store_pg.c (connections, reconnect, pipeline, transactions,
 * savepoints, reader pool, helpers, vtable), store_pg_migrate.c (schema),
 * store_pg_users.c (apps, users, accounts, status), store_pg_msg.c
 * (one-to-one messages, conversations), store_pg_friends.c /
 * _friends_read.c, store_pg_group.c / _group_read.c, store_pg_copy.c
 * (loading a copied database).
 */
#ifndef PETREL_STORE_PG_INT_H
#define PETREL_STORE_PG_INT_H

#include "server/store/store_backend.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

/* Advisory lock every writer transaction takes (store_pg.c pg_tx_begin);
 * the migrations take 7401355. */
#define PG_WRITER_LOCK "7401356"

/* ---- statements ---- */

/* Most distinct statements the backend has (ids are given out on first use). */
#define PGQ_MAX 320

typedef struct pgq {
    const char *sql;
    int id; /* 0 until first use, then 1..PGQ_MAX (atomic) */
} pgq_t;
#define PGQ(text) {text, 0}

/* ---- parameters (text format) ---- */

#define PGP_MAX 40
typedef struct pgp {
    int n;
    const char *v[PGP_MAX];
    char num[PGP_MAX][24];
    char *own[PGP_MAX]; /* malloc'ed values freed by pgp_free */
} pgp_t;
#define PGP_INIT {0}

void pgp_i64(pgp_t *p, int64_t v);
void pgp_int(pgp_t *p, int v);
void pgp_str(pgp_t *p, const char *s); /* NULL = SQL NULL; not copied: keep it alive */
void pgp_null(pgp_t *p);
/* A text[] parameter of n strings (ids[i] fixed arrays or a pointer
 * array: a NULL pointer is a NULL element), built as an array literal;
 * 0 or STORE_EIO (allocation). */
int pgp_ids(pgp_t *p, const char (*ids)[STORE_ID_MAX + 1], size_t n);
int pgp_strv(pgp_t *p, const char *const *v, size_t n);
/* A bigint[] parameter. */
int pgp_i64v(pgp_t *p, const int64_t *v, size_t n);
void pgp_free(pgp_t *p);

/* ---- results (text format) ---- */

static inline int pg_isnull(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}
int64_t pg_i64(const PGresult *r, int row, int col); /* NULL -> 0 */
int pg_int(const PGresult *r, int row, int col);     /* NULL -> 0 */
/* Copy a text column into dst[cap]; STORE_EIO (logged) when it does not fit. */
int pg_text(const PGresult *r, int row, int col, char *dst, size_t cap);
/* A malloc'ed copy, NULL for SQL NULL (*err 0) or on allocation failure (*err STORE_EIO). */
char *pg_dup(const PGresult *r, int row, int col, int *err);

/* ---- connections ---- */

typedef struct pgconn {
    PGconn *c;
    int pipeline;                  /* writer: in pipeline mode */
    unsigned char prep[PGQ_MAX + 1]; /* statement id prepared on this connection */
    struct pgconn *next_free;
} pgconn_t;

/* ---- writer (store's writer thread only) ---- */

/* Run q with p and wait for it (after every deferred statement).  *res
 * (may be NULL) gets the result (rows or command status), the caller
 * PQclears it.  0, or STORE_ECONFLICT (unique violation), STORE_EINVAL
 * (other integrity violation), STORE_EIO (anything else, logged with
 * what; the connection is marked down when it broke). */
int pgw_run(store_backend_t *be, pgq_t *q, const pgp_t *p, PGresult **res, const char *what);
/* Queue a constant statement (no parameters, no rows) without waiting;
 * its outcome is checked by the next pgw_run or pgw_flush. */
int pgw_defer(store_backend_t *be, const char *sql);
/* Queue q with p without waiting; when the next pgw_run or pgw_flush
 * reads it, its one row's first column (a bigint) goes to *out, and its
 * failure (or a result that is not one integer) fails that call.  Runs
 * it at once (pgw_run) when PGW_SINKS such statements wait already.  p
 * is copied when queued; out must live until then, untouched on failure. */
int pgw_defer_i64(store_backend_t *be, pgq_t *q, const pgp_t *p, int64_t *out,
                  const char *what);
/* Wait for every deferred statement; 0 or STORE_E*. */
int pgw_flush(store_backend_t *be);
/* Nested savepoint around one row of a multi-row op (user_import,
 * user_delete, group member adds...): row_begin, then row_end(failed). */
int pgw_row_begin(store_backend_t *be);
int pgw_row_end(store_backend_t *be, int failed);

/* Counters (im_counter): the next value of (kind, app, k1, k2), i.e.
 * max(last + 1, floor), recorded in the open transaction.  The row stays
 * locked until COMMIT, so writers on several nodes take values in commit
 * order and never the same one; rolled back with the op or transaction
 * (no hole).  k1/k2 "" when unused. */
enum pg_counter {
    PGC_PAIR_SEQ = 1, /* (user_a, user_b), user_a < user_b: a one-to-one conversation's sequence */
    PGC_APP_KEY,      /* (): the app's message key (one-to-one and group) */
    PGC_CHANGE_SEQ,   /* (owner): conversation change_seq */
    PGC_FRIEND_SEQ,   /* (owner): friendship friend_sequence / black_sequence */
    PGC_REQUEST_SEQ,  /* (to_id): friendship request sequence */
    PGC_FGROUP_SEQ,   /* (owner): friend list sequence */
    PGC_GROUP_SEQ,    /* (): the app's group change sequence */
    PGC_APP_BYTES,    /* (): the app's stored message bytes, every node's (schema version 4) */
};
int pgw_next(store_backend_t *be, int kind, int32_t app_id, const char *k1, const char *k2,
             int64_t floor, int64_t *out);

/* ---- readers (any thread) ---- */

/* Borrow a pooled connection (waits while all are lent; reconnects a
 * broken one); NULL when the server cannot be reached. */
pgconn_t *pgr_borrow(store_backend_t *be);
void pgr_give_back(store_backend_t *be, pgconn_t *c);
/* Run q on a borrowed connection; same results as pgw_run. */
int pgr_run(store_backend_t *be, pgconn_t *c, pgq_t *q, const pgp_t *p, PGresult **res,
            const char *what);
/* Borrow, run, give back. */
int pgr_query(store_backend_t *be, pgq_t *q, const pgp_t *p, PGresult **res, const char *what);
/* Several reads in one snapshot: pgr_snap_begin (REPEATABLE READ, READ
 * ONLY) after borrowing, pgr_snap_end before giving back. */
int pgr_snap_begin(store_backend_t *be, pgconn_t *c);
void pgr_snap_end(store_backend_t *be, pgconn_t *c);

/* Log a failed statement (no parameter values: they may be secrets). */
void pg_log_err(const PGresult *r, PGconn *c, const char *what);

/* ---- the backend ---- */

/* Most deferred statements with a result (pgw_defer_i64) per segment. */
#define PGW_SINKS 16

/* A deferred command whose result is wanted: the pos-th deferred one
 * since the last drain; prep: its PREPARE (marks statement prep_id
 * prepared when it succeeded), else its statement (value into out). */
typedef struct pgw_sink {
    int pos;
    int prep_id;
    int64_t *out;
} pgw_sink_t;

struct store_backend {
    char *conninfo;    /* malloc'ed; may hold a password: never logged */
    char *password;    /* malloc'ed or NULL; never logged */
    pgconn_t w;        /* the writer's connection */
    int wdown;         /* the writer's connection is broken */
    int in_tx;         /* writer: inside BEGIN .. COMMIT/ROLLBACK */
    int ndeferred;     /* writer: deferred statements not read yet */
    pgw_sink_t sink[2 * PGW_SINKS]; /* writer: those of them read into something */
    int nsink;
    int row_depth;     /* writer: nested row savepoints open */
    int64_t retry_at_ms; /* writer: next reconnect attempt (back-off) */
    int backoff_ms;

    pthread_mutex_t rmu;
    pthread_cond_t rcv;
    pgconn_t *rpool;
    size_t nr;
    pgconn_t *rfree;

    int version;
    pgconn_t *copy; /* while pgx_copy_in runs: its connection, for pgx_rows */
};

/* store_pg_migrate.c */
int store_pg_migrate_latest(void);
int store_pg_migrate(PGconn *c, int *version);

/* store_pg_copy.c: the destination side of a copy (store_backend.h). */
int pgx_rows(store_backend_t *be, const char *sql, store_row_fn row, void *arg);
int pgx_copy_in(store_backend_t *be, store_copy_t *c);

/* store_pg_users.c */
int pgx_app_put(store_backend_t *be, const store_app_t *a);
int pgx_user_import(store_backend_t *be, const store_user_t *users, int *row_rc, size_t n,
                    int64_t now_ms);
int pgx_user_update(store_backend_t *be, const store_user_t *u, unsigned mask, int64_t now_ms);
int pgx_user_delete(store_backend_t *be, int32_t app_id, const char (*ids)[STORE_ID_MAX + 1],
                    int *row_rc, size_t n, int64_t now_ms);
int pgx_account_create(store_backend_t *be, int32_t app_id, const char *user_name,
                       const char *user_id, const char *password_hash, int64_t now_ms);
int pgx_account_register(store_backend_t *be, const store_user_t *u, const char *user_name,
                         const char *password_hash, int64_t now_ms);
int pgx_user_status_set(store_backend_t *be, int32_t app_id, const char *user_id,
                        const char *text, int status, int64_t now_ms);
int pgx_app_get(store_backend_t *be, int32_t app_id, store_app_t *out);
int pgx_app_list(store_backend_t *be, store_app_t **out, size_t *n);
int pgx_user_get(store_backend_t *be, int32_t app_id, const char *user_id, store_user_t *out);
int pgx_user_page(store_backend_t *be, int32_t app_id, const char *nick_sub,
                  const char *exclude_user_id, int offset, int limit, store_user_t **out,
                  size_t *n, int64_t *total);
int pgx_user_count(store_backend_t *be, int32_t app_id, int64_t *n);
int pgx_account_get(store_backend_t *be, int32_t app_id, const char *user_name,
                    char *user_id_out, char *hash_out, size_t hash_cap);
int pgx_user_status_get(store_backend_t *be, int32_t app_id, const char *const *ids, size_t n,
                        store_user_status_t *out);
/* Writer helpers for the other files: *reject = PETREL_ERR_USER_NOT_FOUND
 * for a missing or deleted user, for the sender also
 * PETREL_ERR_SENDER_FORBIDDEN / PETREL_ERR_SENDER_SILENT; else 0. */
int pgx_user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                   int *reject);
/* *live = a live user; *allow (may be NULL) its friend_allow_type;
 * *no_add (may be NULL) its disable_add_friend. */
int pgx_user_live(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                  int *allow, int *no_add);

/* store_pg_msg.c */
int pgx_msg_p2p(store_backend_t *be, store_msg_t *m, int64_t now_ms);
int pgx_msg_p2p_batch(store_backend_t *be, store_msg_t *const *ms, int *rcs, size_t n,
                      int64_t now_ms);
int pgx_next_seq(store_backend_t *be, int32_t app_id, const char *user_a, const char *user_b,
                 int64_t *seq);
int pgx_msg_read(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                 int64_t seq, int64_t *read_seq, int *changed, int64_t now_ms);
int pgx_msg_recall(store_backend_t *be, int32_t app_id, int64_t message_key,
                   const char *requester, int is_admin, int64_t now_ms, int64_t window_ms,
                   store_recall_t *out);
int pgx_conv_update(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int type, int is_top, int is_mute, int deleted, int64_t *change_seq,
                    int64_t now_ms);
int pgx_msg_bytes(store_backend_t *be, int32_t app_id, int64_t *out);
int pgx_app_bytes_add(store_backend_t *be, int32_t app_id, int64_t delta, int64_t *total);
int pgx_msg_history(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int64_t from_seq, int64_t to_seq, int limit, int descending,
                    store_msg_row_t **out, size_t *n);
int pgx_msg_sync(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_key,
                 int limit, store_msg_row_t **out, size_t *n, int64_t *max_key);
int pgx_conv_list(store_backend_t *be, int32_t app_id, const char *owner,
                  int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                  int64_t *max_change_seq);
int pgx_conv_get(store_backend_t *be, int32_t app_id, const char *owner, int type,
                 const char *peer, store_conv_t *out);
int pgx_msg_head(store_backend_t *be, int32_t app_id, int64_t message_key,
                 store_msg_row_t *out);

/* store_pg_friends.c / store_pg_friends_read.c */
int pgx_friend_write(store_backend_t *be, store_friend_op_t *op, int64_t now_ms);
/* Writer helper (group invitations): *blacked = from_id has blacklisted
 * to_id.  (A message's friendship rules are inlined in store_pg_msg.c's
 * statement.) */
int pgx_blacked(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                int *blacked);
int pgx_friend_get(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                   store_friend_t *out);
int pgx_friend_list(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                    int limit, store_friend_t **out, size_t *n, int64_t *max_seq);
int pgx_friend_all(store_backend_t *be, int32_t app_id, const char *owner, store_friend_t **out,
                   size_t *n);
int pgx_friend_requests(store_backend_t *be, int32_t app_id, const char *to_id,
                        int64_t after_seq, int limit, store_friend_request_t **out, size_t *n,
                        int64_t *max_seq);
int pgx_friend_groups(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                      int limit, store_friend_group_t **out, size_t *n, int64_t *max_seq);
int pgx_friend_seqs(store_backend_t *be, int32_t app_id, const char *user_id, int64_t *fs,
                    int64_t *rs, int64_t *gs);
int pgx_status_peers(store_backend_t *be, int32_t app_id, const char *user_id,
                     store_user_status_t **out, size_t *n);
int pgx_friend_blacked(store_backend_t *be, int32_t app_id, const char *user_id,
                       char (**out)[STORE_ID_MAX + 1], size_t *n);
/* Row parsers shared by the two files, from column col: a friendship
 * (from_id, to_id, remark, status, black, add_source, extra,
 * friend_sequence, black_sequence, create_time, nick_name) and a request
 * (id, from_id, to_id, remark, read_status, add_source, add_wording,
 * approve_status, create_time, update_time, sequence). */
int pgx_friend_row(const PGresult *r, int row, int col, store_friend_t *f);
int pgx_request_row(const PGresult *r, int row, int col, store_friend_request_t *q);

/* store_pg_group.c / store_pg_group_read.c */
/* Columns of a group, member, join request row (the order the row
 * readers of store_pg_group_read.c expect), p the table alias prefix. */
#define PG_GCOLS(p)                                                                           \
    p "group_id, " p "owner_id, " p "group_type, " p "group_name, " p "mute, " p              \
    "apply_join_type, " p "photo, " p "max_member_count, " p "introduction, " p               \
    "notification, " p "status, " p "sequence, " p "msg_seq, " p "member_count, " p           \
    "create_time, " p "update_time, " p "extra"
#define PG_NGCOLS 17
#define PG_MCOLS(p)                                                                           \
    p "member_id, " p "role, " p "speak_date, " p "alias, " p "join_time, " p "join_type, " p \
    "leave_time, " p "join_seq, coalesce(" p "leave_seq, 0), " p "read_seq, " p "sequence, " p \
    "extra"
#define PG_RCOLS "id, group_id, from_id, wording, status, handler_id, create_time, update_time"
/* A row's columns from column c on into the struct; 0 or STORE_EIO. */
int pgg_group_cols(const PGresult *r, int row, int c, store_group_t *g);
int pgg_member_cols(const PGresult *r, int row, int c, store_group_member_t *m);
int pgg_request_cols(const PGresult *r, int row, store_group_request_t *q);
int pgx_group_write(store_backend_t *be, store_group_op_t *op, int64_t now_ms);
int pgx_group_get(store_backend_t *be, int32_t app_id, const char *group_id, store_group_t *out);
int pgx_group_member_get(store_backend_t *be, int32_t app_id, const char *group_id,
                         const char *member_id, store_group_member_t *out);
int pgx_group_members(store_backend_t *be, int32_t app_id, const char *group_id,
                      store_group_member_t **out, size_t *n);
int pgx_group_readers(store_backend_t *be, int32_t app_id, const char *group_id, int64_t seq,
                      char (**out)[STORE_ID_MAX + 1], size_t *n);
int pgx_group_joined(store_backend_t *be, int32_t app_id, const char *member_id, int all,
                     unsigned types, int64_t after_seq, int offset, int limit,
                     store_joined_t **out, size_t *n, int64_t *total);
int pgx_group_requests(store_backend_t *be, int32_t app_id, const char *group_id, int status,
                       store_group_request_t **out, size_t *n);
int pgx_group_msgs(store_backend_t *be, int32_t app_id, const char *group_id, int64_t from_seq,
                   int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
                   store_group_msg_row_t **out, size_t *n);

#endif
