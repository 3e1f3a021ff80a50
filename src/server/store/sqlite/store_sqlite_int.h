/*
 * What store_sqlite.c shares with the SQLite backend's other files (today
 * store_sqlite_group.c): the writer connection, a borrowed read
 * connection, slots for statements those files prepare lazily, and the
 * writer's number allocators.  Internal to the backend; nothing outside
 * src/server/store_sqlite*.c includes it.
 */
#ifndef PETREL_STORE_SQLITE_INT_H
#define PETREL_STORE_SQLITE_INT_H

#include "server/store/store_backend.h"

#include <sqlite3.h>

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

/* store_sqlite_group.c: the group ops and reads (store_backend.h). */
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
