/*
 * Private header of the SQLite backend (store/sqlite/): everything its
 * files share, i.e. the statement tables (store_sqlite_sql.c), the writer
 * and reader connections (struct store_backend), the writer's sequence
 * cache, small statement helpers, and each file's functions (the
 * backend's vtable is assembled in store_sqlite.c from them).  Only the
 * files of store/sqlite/ include it; the rest of the server sees the
 * backend through store_backend.h, which never mentions SQLite.
 *
 * Files: store_sqlite.c (connections, transactions, savepoints, reader
 * pool, vtable), store_sqlite_sql.c (statement texts), store_sqlite_seq.c
 * (sequence cache and number allocation), store_sqlite_users.c (apps,
 * users, accounts, status), store_sqlite_msg.c (one-to-one messages and
 * conversations), store_sqlite_friends.c / _friends_read.c (friendship
 * writes / reads), store_sqlite_group.c / _group_read.c (group writes /
 * reads), store_sqlite_hist.c (history rows), store_sqlite_ckpt.c (WAL
 * checkpoints), store_migrate.c (schema migrations), store_sqlite_copy.c
 * (rows read out for a copy into another backend).
 */
#ifndef PETREL_STORE_SQLITE_INT_H
#define PETREL_STORE_SQLITE_INT_H

#include "server/store/store_backend.h"
#include "server/store/store_fileid.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

/* Statement slots per connection for the other files (prepared on first
 * use, finalized at close). */
#define SQLX_SLOTS 64

/* Writer thread: its connection and statement slots. */
sqlite3 *sqlx_wdb(store_backend_t *be);
sqlite3_stmt **sqlx_wslots(store_backend_t *be);

/* Readers: borrow a pooled connection (waits when all are lent) and give
 * it back with every statement reset. */
typedef struct sqlx_reader {
    sqlite3 *db;
    sqlite3_stmt **slots;
    void *conn;
} sqlx_reader_t;
void sqlx_borrow(store_backend_t *be, sqlx_reader_t *r);
void sqlx_give_back(store_backend_t *be, sqlx_reader_t *r);

/* A malloc'ed copy of a text column, NULL for SQL NULL; on allocation
 * failure NULL with *err = STORE_EIO. */
char *sqlx_col_dup(sqlite3_stmt *q, int col, int *err);

/* The slot's statement, prepared on first use (persistent).  NULL after
 * logging on failure. */
sqlite3_stmt *sqlx_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql);

/* Writer: the app's next message key (max(proposed, largest stored + 1),
 * over one-to-one and group messages), and owner's next conversation
 * change_seq.  Both record the value at once in the writer's cache; the
 * caller's op must fail if it does not store it (op_end then drops it). */
int sqlx_take_key(store_backend_t *be, int32_t app_id, int64_t proposed, int64_t *key);
int sqlx_take_change(store_backend_t *be, int32_t app_id, const char *owner, int64_t *next);

/* Writer: *reject = 20001 missing/deleted user; for the sender also 62023
 * forbidden, 50002 silenced. */
int sqlx_user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                    int *reject);

/* Writer: *blacked = 1 when from_id has blacklisted to_id. */
int sqlx_blacked(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                 int *blacked);

/* store_sqlite_ckpt.c: WAL checkpoints on a thread of their own (see the
 * top of that file).  start: open the checkpointer's connection to path,
 * start its thread, and take over wdb's WAL hook (SQLite's autocheckpoint
 * is off from then on); pages = WAL frames that wake the checkpointer.
 * after_batch: writer thread, between two transactions.  stop: join the
 * thread and close its connection (before the writer's connection closes).
 * All safe on NULL but start. */
typedef struct sqlite_ckpt sqlite_ckpt_t;
typedef struct sqlite_ckpt_stats {
    uint64_t passes;          /* checkpointer passes (PASSIVE) */
    uint64_t busy;            /* ... that found the lock taken or failed */
    uint64_t writer_tails;    /* writer PASSIVE checkpoints of the tail */
    uint64_t writer_restarts; /* writer RESTART checkpoints (WAL at the hard limit) */
    uint64_t complete;        /* writer checkpoints that copied the whole WAL */
} sqlite_ckpt_stats_t;
int sqlite_ckpt_start(const char *path, sqlite3 *wdb, int pages, int synchronous_full,
                      int busy_ms, sqlite_ckpt_t **out);
void sqlite_ckpt_after_batch(sqlite_ckpt_t *c);
void sqlite_ckpt_stats(sqlite_ckpt_t *c, sqlite_ckpt_stats_t *out);
void sqlite_ckpt_stop(sqlite_ckpt_t *c);

/* store_sqlite_hist.c: one-to-one history rows written in sorted batches
 * (see the top of that file).  open: writer connection, after migrations;
 * batch = messages of an app that start a cycle.  note: the writer stored
 * a one-to-one message (inside the open transaction).  after_batch: writer
 * thread, between two transactions.  flush: write everything waiting, in
 * transactions of its own.  stats: any thread.  All but open safe on NULL. */
typedef struct sqlite_hist sqlite_hist_t;
typedef struct sqlite_hist_stats {
    uint64_t chunks;  /* transactions that wrote history rows */
    uint64_t rows;    /* history rows written */
    uint64_t waiting; /* messages whose rows are not written yet (after the last batch) */
} sqlite_hist_stats_t;
int sqlite_hist_open(sqlite3 *db, int batch, sqlite_hist_t **out);
void sqlite_hist_note(sqlite_hist_t *h, int32_t app_id);
void sqlite_hist_after_batch(sqlite_hist_t *h);
int sqlite_hist_flush(sqlite_hist_t *h);
void sqlite_hist_stats(sqlite_hist_t *h, sqlite_hist_stats_t *out);
void sqlite_hist_close(sqlite_hist_t *h);

/* Writer statements, prepared once on the writer connection. */
enum wq {
    WQ_BEGIN,
    WQ_COMMIT,
    WQ_ROLLBACK,
    WQ_SP,          /* one savepoint per op ... */
    WQ_SP_RELEASE,
    WQ_SP_ROLLBACK,
    WQ_ROW_SP,      /* ... and one per row inside a multi-row op */
    WQ_ROW_RELEASE,
    WQ_ROW_ROLLBACK,
    WQ_APP_PUT,
    WQ_USER_INSERT,
    WQ_USER_UPDATE,
    WQ_USER_DELETE,
    WQ_ACCOUNT_INSERT,
    WQ_MSG_DUP,
    WQ_USER_STATE,
    WQ_SEQ_GET,
    WQ_SEQ_PUT,
    WQ_CHANGE_MAX,
    WQ_KEY_MAX,
    WQ_BODY_INSERT,
    WQ_CONV_UPSERT,
    WQ_CONV_GET,
    WQ_CONV_SET,
    WQ_CONV_TOUCH,
    WQ_MSG_BY_KEY,
    WQ_MSG_RECALL,
    WQ_HISTORY_RESYNC,
    WQ_USER_ALLOW,
    WQ_FR_GET,
    WQ_FR_PUT,
    WQ_FR_MAX,
    WQ_FR_LIVE,
    WQ_RQ_PENDING,
    WQ_RQ_INSERT,
    WQ_RQ_REFRESH,
    WQ_RQ_GET,
    WQ_RQ_DECIDE,
    WQ_RQ_READ,
    WQ_RQ_MAX,
    WQ_RQ_UNREAD,
    WQ_RQ_BLACKED,
    WQ_FG_BY_NAME,
    WQ_FG_INSERT,
    WQ_FG_SET,
    WQ_FG_MAX,
    WQ_FG_WITH,
    WQ_FGM_ADD,
    WQ_FGM_DEL,
    WQ_FGM_CLEAR,
    WQ_STATUS_PUT,
    WQ_COUNT
};

/* Reader statements, prepared once on every pooled read connection. */
enum rq {
    RQ_BEGIN,
    RQ_COMMIT,
    RQ_ROLLBACK,
    RQ_PING,
    RQ_APP_GET,
    RQ_APP_LIST,
    RQ_USER_GET,
    RQ_USER_PAGE,
    RQ_USER_TOTAL,
    RQ_USER_COUNT,
    RQ_ACCOUNT_GET,
    RQ_MSG_HISTORY_ASC,
    RQ_MSG_HISTORY_DESC,
    RQ_MSG_SYNC,
    RQ_MSG_MAX_KEY,
    RQ_CONV_LIST,
    RQ_CONV_MAX,
    RQ_CONV_GET,
    RQ_FR_GET,
    RQ_FR_LIST,
    RQ_FR_MAX,
    RQ_FR_ALL,
    RQ_RQ_LIST,
    RQ_RQ_MAX,
    RQ_FG_LIST,
    RQ_FG_MAX,
    RQ_FGM_LIST,
    RQ_STATUS_GET,
    RQ_STATUS_PEERS,
    RQ_FR_BLACKED,
    RQ_MSG_HEAD,
    RQ_COUNT
};

/* One pooled read connection.  Owned by whichever thread borrowed it;
 * on the free list otherwise. */
typedef struct rconn {
    sqlite3 *db;
    sqlite3_stmt *q[RQ_COUNT];
    sqlite3_stmt *x[SQLX_SLOTS]; /* lazily prepared slots (sqlx_stmt) */
    struct rconn *next_free;
} rconn_t;

/* What a cache entry counts. */
enum ckind {
    CK_PAIR_SEQ = 1, /* (app, user_a, user_b): last message sequence of the pair */
    CK_CHANGE_SEQ,   /* (app, owner): last conversation change_seq of the owner */
    CK_APP_KEY,      /* (app): largest message_key stored */
};

/* Key: kind, app_id and the bytes "s1\0s2\0". */
typedef struct centry {
    struct centry *next;    /* hash chain */
    struct centry *tx_next; /* list of entries the open transaction touched */
    uint64_t op;            /* the op that touched it last */
    int64_t value;
    uint32_t hash;
    int32_t app_id;
    uint8_t kind;
    uint8_t on_tx;
    uint16_t len;
    char key[];
} centry_t;

/* Writer thread only. */
typedef struct seqcache {
    centry_t **b;
    size_t nb;        /* buckets, a power of two */
    size_t count, max;
    size_t hand;      /* eviction clock over the buckets */
    centry_t *tx;     /* touched since tx_begin */
    uint64_t op;      /* current op, bumped by op_begin */
} seqcache_t;

struct store_backend {
    sqlite3 *wdb;
    sqlite3_stmt *w[WQ_COUNT];
    sqlite3_stmt *x[SQLX_SLOTS]; /* lazily prepared slots (sqlx_stmt) */
    seqcache_t cache;
    sqlite_ckpt_t *ckpt; /* NULL: SQLite's autocheckpoint */
    sqlite_hist_t *hist; /* history rows in sorted batches */

    pthread_mutex_t rmu;  /* guards rfree */
    pthread_cond_t rcv;   /* a connection went back on rfree */
    rconn_t *rpool;       /* nr connections */
    size_t nr;
    rconn_t *rfree;

    int version;
    store_fileid_t fid; /* addition: identity of petrel.db and its WAL (store_fileid.h) */
};

/* store_sqlite_sql.c: the statement texts, by enum wq / enum rq. */
extern const char *const WQ_SQL[WQ_COUNT];
extern const char *const RQ_SQL[RQ_COUNT];

/* ---- statement helpers (header-inline: the writer's hot path uses them) ---- */

/* store_sqlite.c: log a SQLite error of db (NULL: out of memory). */
void sqlx_log_err(sqlite3 *db, const char *what);

static inline int map_err(int rc)
{
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return STORE_ECONFLICT;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EINVAL; /* CHECK, NOT NULL, FOREIGN KEY: bad input */
    return STORE_EIO;
}

/* Run a prepared statement that returns no rows. */
static inline int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

/* Run s and drop its bindings: they are SQLITE_STATIC pointers into the
 * caller's buffers, which must not be reachable once the op is done. */
static inline int run_unbind(sqlite3_stmt *s)
{
    int rc = run(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static inline void bind_str(sqlite3_stmt *s, int idx, const char *v)
{
    sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

/* Single-row writer reads. */
static inline void w_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Step a writer query once: 1 a row is ready (read it, then w_done), 0 no
 * row, or a negative STORE_E* (both already reset). */
static inline int w_step(store_backend_t *be, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    w_done(s);
    if (rc == SQLITE_DONE)
        return 0;
    sqlx_log_err(be->wdb, what);
    return map_err(rc);
}

/* A read row into *dst (collect, one_row). */
typedef int (*row_fn)(sqlite3_stmt *q, void *dst);

/* store_sqlite_seq.c: the writer's sequence cache (see that file).  init:
 * room for max entries (0 = default); op_failed: drop what the undone op
 * touched; tx_end: keep (committed) or drop what the transaction touched.
 * cache_get: the entry of (kind, app_id, s1, s2), loaded on a miss and
 * pinned until the transaction ends; the op sets ->value once the row
 * carrying it is written.  next_change: owner's next change_seq (*e to be
 * set to *next once written).  next_seq: the backend's next_seq operation
 * (store_backend.h "Sequence allocation"): the pair's next sequence,
 * recorded on disk in the open transaction. */
int sqlx_cache_init(seqcache_t *c, size_t max);
void sqlx_cache_free(seqcache_t *c);
void sqlx_cache_op_failed(seqcache_t *c);
void sqlx_cache_tx_end(seqcache_t *c, int committed);
int sqlx_cache_get(store_backend_t *be, int kind, int32_t app_id, const char *s1,
                   const char *s2, centry_t **out);
int sqlx_next_change(store_backend_t *be, int32_t app_id, const char *owner, centry_t **e,
                     int64_t *next);
int sqlx_next_seq(store_backend_t *be, int32_t app_id, const char *x, const char *y,
                  int64_t *seq);

/* store_sqlite_copy.c: one read statement's rows as text, on the writer
 * connection (store_backend.h "copying a whole database"). */
int sqlx_rows(store_backend_t *be, const char *sql, store_row_fn row, void *arg);

/* store_sqlite_users.c: writes (writer) then reads (pool). */
int sqlx_app_put(store_backend_t *be, const store_app_t *a);
int sqlx_user_import(store_backend_t *be, const store_user_t *users, int *row_rc,
                     size_t n, int64_t now_ms);
int sqlx_user_update(store_backend_t *be, const store_user_t *u, unsigned mask,
                     int64_t now_ms);
int sqlx_user_delete(store_backend_t *be, int32_t app_id,
                     const char (*ids)[STORE_ID_MAX + 1], int *row_rc, size_t n,
                     int64_t now_ms);
int sqlx_account_create(store_backend_t *be, int32_t app_id, const char *user_name,
                        const char *user_id, const char *password_hash,
                        int64_t now_ms);
int sqlx_account_register(store_backend_t *be, const store_user_t *u,
                          const char *user_name, const char *password_hash,
                          int64_t now_ms);
/* Writer: *live = user_id is a live user of the app; *allow (may be NULL):
 * its friend_allow_type; *no_add (may be NULL): its disable_add_friend. */
int sqlx_user_live_add(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                       int *allow, int *no_add);
int sqlx_user_live(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                   int *allow);
int sqlx_user_status_set(store_backend_t *be, int32_t app_id, const char *user_id,
                         const char *text, int status, int64_t now_ms);
int sqlx_app_get(store_backend_t *be, int32_t app_id, store_app_t *out);
int sqlx_app_list(store_backend_t *be, store_app_t **out, size_t *n);
int sqlx_user_get(store_backend_t *be, int32_t app_id, const char *user_id,
                  store_user_t *out);
int sqlx_user_page(store_backend_t *be, int32_t app_id, const char *nick_sub,
                   const char *exclude_user_id, int offset, int limit,
                   store_user_t **out, size_t *n, int64_t *total);
int sqlx_user_count(store_backend_t *be, int32_t app_id, int64_t *n);
int sqlx_account_get(store_backend_t *be, int32_t app_id, const char *user_name,
                     char *user_id_out, char *hash_out, size_t hash_cap);
/* A row of RQ_STATUS_GET / RQ_STATUS_PEERS into a store_user_status_t. */
int sqlx_status_row(sqlite3_stmt *q, void *dst);
int sqlx_user_status_get(store_backend_t *be, int32_t app_id, const char *const *ids,
                         size_t n, store_user_status_t *out);

/* store_sqlite_msg.c: writes (writer) then reads (pool). */
int sqlx_msg_p2p(store_backend_t *be, store_msg_t *m, int64_t now_ms);
int sqlx_msg_read(store_backend_t *be, int32_t app_id, const char *owner,
                  const char *peer, int64_t seq, int64_t *read_seq, int *changed,
                  int64_t now_ms);
int sqlx_conv_update(store_backend_t *be, int32_t app_id, const char *owner,
                     const char *peer, int type, int is_top, int is_mute, int deleted,
                     int64_t *change_seq, int64_t now_ms);
int sqlx_msg_recall(store_backend_t *be, int32_t app_id, int64_t message_key,
                    const char *requester, int is_admin, int64_t now_ms,
                    int64_t window_ms, store_recall_t *out);
int sqlx_msg_bytes(store_backend_t *be, int32_t app_id, int64_t *out);
int sqlx_msg_history(store_backend_t *be, int32_t app_id, const char *owner,
                     const char *peer, int64_t from_seq, int64_t to_seq, int limit,
                     int descending, store_msg_row_t **out, size_t *n);
int sqlx_msg_sync(store_backend_t *be, int32_t app_id, const char *owner,
                  int64_t after_key, int limit, store_msg_row_t **out, size_t *n,
                  int64_t *max_key);
int sqlx_conv_list(store_backend_t *be, int32_t app_id, const char *owner,
                   int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                   int64_t *max_change_seq);
int sqlx_conv_get(store_backend_t *be, int32_t app_id, const char *owner, int type,
                  const char *peer, store_conv_t *out);
int sqlx_msg_head(store_backend_t *be, int32_t app_id, int64_t message_key,
                  store_msg_row_t *out);

/* store_sqlite_friends.c */
int sqlx_friend_write(store_backend_t *be, store_friend_op_t *op, int64_t now_ms);
/* Writer: store_msg_t.flags' friendship rules for m (msg.h): *reject
 * 30006 / 30007 / 30003, else 0. */
int sqlx_msg_friend_check(store_backend_t *be, const store_msg_t *m, int *reject);

/* store_sqlite_friends_read.c.  request_row: a REQ_COLS row into a
 * store_friend_request_t (also for the writer's request loads). */
int sqlx_request_row(sqlite3_stmt *q, void *dst);
int sqlx_friend_get(store_backend_t *be, int32_t app_id, const char *from_id,
                    const char *to_id, store_friend_t *out);
int sqlx_friend_list(store_backend_t *be, int32_t app_id, const char *owner,
                     int64_t after_seq, int limit, store_friend_t **out, size_t *n,
                     int64_t *max_seq);
int sqlx_friend_all(store_backend_t *be, int32_t app_id, const char *owner,
                    store_friend_t **out, size_t *n);
int sqlx_friend_requests(store_backend_t *be, int32_t app_id, const char *to_id,
                         int64_t after_seq, int limit, store_friend_request_t **out,
                         size_t *n, int64_t *max_seq);
int sqlx_friend_groups(store_backend_t *be, int32_t app_id, const char *owner,
                       int64_t after_seq, int limit, store_friend_group_t **out,
                       size_t *n, int64_t *max_seq);
int sqlx_friend_seqs(store_backend_t *be, int32_t app_id, const char *user_id,
                     int64_t *fs, int64_t *rs, int64_t *gs);
int sqlx_status_peers(store_backend_t *be, int32_t app_id, const char *user_id,
                      store_user_status_t **out, size_t *n);
int sqlx_friend_blacked(store_backend_t *be, int32_t app_id, const char *user_id,
                        char (**out)[STORE_ID_MAX + 1], size_t *n);

/* store_sqlite.c: the reader pool and row helpers */
rconn_t *sqlx_conn_borrow(store_backend_t *be);
void sqlx_conn_give_back(store_backend_t *be, rconn_t *c);
void sqlx_read_end(rconn_t *c);
void sqlx_done_q(sqlite3_stmt *q);
int sqlx_col_text(sqlite3_stmt *q, int col, char *dst, size_t cap);
int sqlx_collect_ex(sqlite3 *db, sqlite3_stmt *q, size_t elem, row_fn fn,
                    void (*cleanup)(void *item), void **out, size_t *n, const char *what);
int sqlx_collect(sqlite3 *db, sqlite3_stmt *q, size_t elem, row_fn fn, void **out,
                 size_t *n, const char *what);
int sqlx_one_row(sqlite3 *db, sqlite3_stmt *q, row_fn fn, void *dst, const char *what);
int sqlx_count_row(sqlite3_stmt *q, void *dst);

/* store_migrate.c: versioned schema migrations. */
/* Highest schema version this binary knows. */
int store_migrate_latest(void);
/* Apply every migration newer than the database's version, in order, each
 * in its own transaction.  STORE_ESCHEMA (nothing touched) if the database
 * is newer than store_migrate_latest().  *version gets the resulting
 * version. */
int store_migrate_sqlite(sqlite3 *db, int *version);

/* Group rows in column order (prefix p: a table alias and "."), shared by
 * the group writer's and readers' statements. */
#define GCOLS(p)                                                                              \
    p "group_id, " p "owner_id, " p "group_type, " p "group_name, " p "mute, " p              \
    "apply_join_type, " p "photo, " p "max_member_count, " p "introduction, " p               \
    "notification, " p "status, " p "sequence, " p "msg_seq, " p "member_count, " p           \
    "create_time, " p "update_time, " p "extra"
#define NGCOLS 17
#define MCOLS(p)                                                                              \
    p "member_id, " p "role, " p "speak_date, " p "alias, " p "join_time, " p "join_type, " p \
    "leave_time, " p "join_seq, coalesce(" p "leave_seq, 0), " p "read_seq, " p "sequence, " p \
    "extra"
#define RCOLS "id, group_id, from_id, wording, status, handler_id, create_time, update_time"


/* store_sqlite_group_read.c: a row's columns from column c on into a
 * group / member, a request row, a text column into a fixed array (all 0
 * or STORE_EIO, logged, for an oversized text). */
int sqlg_group_cols(sqlite3_stmt *q, int c, store_group_t *g);
int sqlg_member_cols(sqlite3_stmt *q, int c, store_group_member_t *m);
int sqlg_request_cols(sqlite3_stmt *q, store_group_request_t *r);
int sqlg_ctext(sqlite3_stmt *q, int col, char *dst, size_t cap);
/* store_sqlite_group.c: a SQLite result code as STORE_E* (logged). */
int sqlg_err_of(sqlite3 *db, int rc, const char *what);

/* store_sqlite_group.c: the group ops; store_sqlite_group_read.c: the
 * group reads (store_backend.h). */
int sqlg_write(store_backend_t *be, store_group_op_t *op, int64_t now_ms);
int sqlg_get(store_backend_t *be, int32_t app_id, const char *group_id, store_group_t *out);
int sqlg_member_get(store_backend_t *be, int32_t app_id, const char *group_id,
                    const char *member_id, store_group_member_t *out);
int sqlg_members(store_backend_t *be, int32_t app_id, const char *group_id,
                 store_group_member_t **out, size_t *n);
int sqlg_readers(store_backend_t *be, int32_t app_id, const char *group_id, int64_t seq,
                 char (**out)[STORE_ID_MAX + 1], size_t *n);
int sqlg_joined(store_backend_t *be, int32_t app_id, const char *member_id, int all,
                unsigned types, int64_t after_seq, int offset, int limit, store_joined_t **out,
                size_t *n, int64_t *total);
int sqlg_requests(store_backend_t *be, int32_t app_id, const char *group_id, int status,
                  store_group_request_t **out, size_t *n);
int sqlg_msgs(store_backend_t *be, int32_t app_id, const char *group_id, int64_t from_seq,
              int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
              store_group_msg_row_t **out, size_t *n);

#endif
