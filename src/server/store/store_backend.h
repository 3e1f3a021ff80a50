/*
 * Internal contract between the store front (store/: writer.c's queue,
 * writer thread, group commit and stats; op.c's dispatch) and a storage
 * backend (store/sqlite/ now, maybe PostgreSQL later).  The front owns
 * threading and batching policy; a backend only knows how to run one
 * transaction at a time on its writer connection and how to serve
 * blocking reads.  Nothing here names a database engine: a backend's
 * engine types stay in its own folder (store/sqlite/store_sqlite_int.h),
 * and only store/ includes this header.  Keeping the vtable this small
 * is what lets a second backend be added without touching the front.
 *
 * Threading contract:
 *   - open/close/schema_version: the thread calling store_open/store_close.
 *   - tx_*, op_*, next_seq and the write ops (app_put, user_*,
 *     account_*, msg_p2p, msg_read, msg_recall, conv_update, friend_write,
 *     user_status_set, group_write, probe, app_bytes_add):
 *     only the writer thread, strictly serially, one transaction at a
 *     time: tx_begin, then per op op_begin, the op, op_end, then tx_commit
 *     or tx_rollback.
 *   - the reads (app_get, app_list, ping, user_get, msg_history, ...): any number of
 *     threads at once, concurrently with the writer.  They never use the
 *     writer's connection, so a read never queues behind a write batch;
 *     the backend hands each one its own connection from a pool.
 * Write ops receive validated input (the ops_*.c files of store/ check strings and ranges);
 * the schema's constraints are a second line of defence.
 *
 * Writer-side caches: a backend may keep numbers it allocates (message
 * sequences, change sequences, message keys) in memory on the writer
 * thread.  op_end(failed=1) and tx_rollback are its cue to forget what the
 * undone op or transaction touched, so a cache never holds a value that is
 * not on disk (which would skip numbers) nor reuses a committed one; the
 * front must therefore call them exactly as described below.
 *
 * Sequence allocation (the seam cluster mode needs): a one-to-one
 * conversation's message sequence comes from next_seq, the one operation
 * a second backend writes for it.  What next_seq must guarantee:
 *   - it runs on the writer, inside the open transaction (between op_begin
 *     and op_end of the op that stores the message), and the value it
 *     returns is recorded in that transaction: rolled back with the op
 *     (op_end failed=1) or the transaction (tx_rollback), in which case the
 *     same value is handed out again next time, so there is no hole;
 *   - per conversation (app, unordered pair of users) values are 1, 2, 3...
 *     strictly increasing in commit order, never duplicated, also across
 *     restarts (a value is only final once its transaction commits; if it
 *     finds the stored value ahead of what it expected, it fails the op
 *     rather than hand out a number twice);
 *   - it is called only once the op is sure to store a message (after the
 *     duplicate and rule checks), since a refused message commits.
 * SQLite keeps the last value of each pair in the writer's cache and
 * writes it to im_conversation_seq (store_sqlite_seq.c); PostgreSQL would
 * run INSERT .. ON CONFLICT .. DO UPDATE SET seq = seq + 1 RETURNING seq
 * inside the committing transaction.  A backend's msg_p2p takes its
 * sequence through its own next_seq; message keys and change sequences
 * follow the same rules, inside msg_p2p and the conversation ops; a
 * group's message sequence is its group row's msg_seq, moved by
 * group_write in the same transaction as the message.
 * All return 0 or a negative STORE_E* code.
 */
#ifndef PETREL_STORE_BACKEND_H
#define PETREL_STORE_BACKEND_H

#include "server/store/store.h"

/* Each backend defines its own struct store_backend, private to its file. */
typedef struct store_backend store_backend_t;

/* Friendship writes (store.h, schema version 4): one op struct for every
 * kind, filled and validated by ops_friends.c; the backend sets row_rc,
 * row_seq and res (res.peers malloc'ed), which the front publishes only
 * when the op returns 0 and its transaction commits. */
enum store_friend_what {
    SF_IMPORT,       /* from_id, items[n] */
    SF_ADD,          /* f, wording */
    SF_UPDATE,       /* f, mask */
    SF_DELETE,       /* from_id, to_id */
    SF_DELETE_ALL,   /* from_id */
    SF_BLACK,        /* from_id, to_id, flag = black 1/2 */
    SF_REQ_APPROVE,  /* from_id = approver, flag = status 1/2, admin, id */
    SF_REQ_READ,     /* from_id */
    SF_GROUP_ADD,    /* from_id = owner, name, ids[n] */
    SF_GROUP_DEL,    /* from_id = owner, ids[n] = names */
    SF_GROUP_MEMBER, /* from_id = owner, name, ids[n], flag = add 1 / del 0 */
};

typedef struct store_friend_op {
    int what;
    int32_t app_id;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char name[STORE_FRIEND_GROUP_NAME_MAX + 1];
    char wording[STORE_FRIEND_WORDING_MAX + 1];
    store_friend_t f;
    unsigned mask;
    int flag;
    int admin;
    int64_t id;
    size_t n;
    char (*ids)[STORE_ID_MAX + 1]; /* n entries (user ids or list names) */
    store_friend_t *items;         /* n entries (import) */
    int *row_rc;                   /* n entries; non-zero on entry = refused by validation */
    int64_t *row_seq;              /* n entries */
    store_friend_res_t res;
} store_friend_op_t;

/* A row of text values (store_backend_ops_t.rows, copy_in). */
typedef int (*store_row_fn)(void *arg, const char *const *vals, size_t n);

/* One table of a copy: its name and columns (names separated by ", ",
 * the same in source and destination). */
typedef struct store_copy_table {
    const char *name;
    const char *cols;
} store_copy_table_t;

/* What copy_in does, in one transaction: refuse a database that holds any
 * row; load tables[0..n) in order, table i's rows given by src(arg, i,
 * put, put_arg) calling put(put_arg, vals, n) once per row (n = the
 * table's number of columns); set every
 * number the backend allocates (counters, identity columns) past the
 * loaded data; run check(arg), which may read the loaded data through
 * rows; commit only if everything returned 0.  rows[i] gets the count the
 * destination loaded for table i; why a short reason for the operator
 * when copy_in fails (which tables hold data, which table failed). */
typedef struct store_copy {
    const store_copy_table_t *tables;
    size_t n;
    int (*src)(void *arg, size_t table, store_row_fn put, void *put_arg);
    int (*check)(void *arg);
    void *arg;
    int64_t *rows;
    char why[512];
} store_copy_t;

typedef struct store_backend_ops {
    const char *name;

    /* Create/open the database, apply pending migrations.  STORE_ESCHEMA
     * when the database is newer than this binary. */
    int (*open)(const store_config_t *cfg, store_backend_t **out);
    void (*close)(store_backend_t *be);
    int (*schema_version)(store_backend_t *be);

    /* Writer thread only. */
    int (*tx_begin)(store_backend_t *be);
    int (*tx_commit)(store_backend_t *be);  /* on failure the caller still calls tx_rollback */
    void (*tx_rollback)(store_backend_t *be);
    /* Between two transactions, after the callbacks (housekeeping such as
     * finishing a checkpoint or writing history rows).  May be NULL. */
    void (*after_batch)(store_backend_t *be);
    /* Isolate one op inside the transaction (a savepoint in SQL terms).
     * op_end(failed=1) undoes just that op; a non-zero return from either
     * means the whole transaction is lost and must be rolled back. */
    int (*op_begin)(store_backend_t *be);
    int (*op_end)(store_backend_t *be, int failed);
    int (*app_put)(store_backend_t *be, const store_app_t *app);
    /* Insert users[i] for every i with row_rc[i] == 0 on entry (the others
     * were refused by validation and are skipped), each in a nested
     * savepoint, setting row_rc[i] to its outcome.  Returns 0 unless the
     * op as a whole failed (then row_rc is meaningless). */
    int (*user_import)(store_backend_t *be, const store_user_t *users, int *row_rc, size_t n,
                       int64_t now_ms);
    /* Masked columns only; STORE_ENOTFOUND when no live row matched. */
    int (*user_update)(store_backend_t *be, const store_user_t *u, unsigned mask,
                       int64_t now_ms);
    /* Soft delete ids[i] for every i with row_rc[i] == 0 on entry. */
    int (*user_delete)(store_backend_t *be, int32_t app_id, const char (*ids)[STORE_ID_MAX + 1],
                       int *row_rc, size_t n, int64_t now_ms);
    int (*account_create)(store_backend_t *be, int32_t app_id, const char *user_name,
                          const char *user_id, const char *password_hash, int64_t now_ms);
    /* IM user u, then the account user_name -> u->user_id; STORE_ECONFLICT
     * when either exists (the op savepoint undoes the first insert). */
    int (*account_register)(store_backend_t *be, const store_user_t *u, const char *user_name,
                            const char *password_hash, int64_t now_ms);
    /* Messages (store.h).  Inputs validated; outputs go into m / out,
     * which the front publishes only when the op returns 0 and the
     * transaction commits.  msg_recall's now_ms is already resolved. */
    int (*msg_p2p)(store_backend_t *be, store_msg_t *m, int64_t now_ms);
    /* The next message sequence of the conversation between user_a and
     * user_b (either order) of app_id into *seq: see "Sequence
     * allocation" above for what it must guarantee.  Writer thread, inside
     * an op. */
    int (*next_seq)(store_backend_t *be, int32_t app_id, const char *user_a,
                    const char *user_b, int64_t *seq);
    /* Optional (NULL: msg_p2p one by one).  Several one-to-one messages in
     * one call, with the outcome of calling msg_p2p for ms[0], ms[1]...
     * in that order, each isolated as if in an op of its own: rcs[i] is
     * what msg_p2p would have returned for ms[i], and a message that fails
     * stores nothing and does not fail the others (nor does a later one
     * see it).  The writer calls it between op_begin and op_end of one op
     * for each run of consecutive queued messages (at most
     * ST_P2P_RUN_MAX), so a backend whose round trips cost more than its
     * work (a database server) pays them once per run.  A non-zero return
     * means the transaction is lost (rcs then meaningless). */
    int (*msg_p2p_batch)(store_backend_t *be, store_msg_t *const *ms, int *rcs, size_t n,
                         int64_t now_ms);
    int (*msg_read)(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int64_t seq, int64_t *read_seq, int *changed, int64_t now_ms);
    int (*msg_recall)(store_backend_t *be, int32_t app_id, int64_t message_key,
                      const char *requester, int is_admin, int64_t now_ms, int64_t window_ms,
                      store_recall_t *out);
    int (*conv_update)(store_backend_t *be, int32_t app_id, const char *owner,
                       const char *peer, int type, int is_top, int is_mute, int deleted,
                       int64_t *change_seq, int64_t now_ms);
    /* Friendship (store.h): every kind of store_friend_op_t. */
    int (*friend_write)(store_backend_t *be, store_friend_op_t *op, int64_t now_ms);
    /* User status (store.h, schema version 5); STORE_ENOTFOUND when the
     * user is not live. */
    int (*user_status_set)(store_backend_t *be, int32_t app_id, const char *user_id,
                           const char *text, int status, int64_t now_ms);
    /* Optional (addition, issue 17; NULL: the store's own count is the
     * whole truth, one writer).  The storage quota's count shared by
     * every store writing to the database: add delta (what this
     * transaction stored for app_id: message bodies and extras, in bytes)
     * to the app's count, recorded in the open transaction (rolled back
     * with it), and set *total to the count after it, every writer's
     * bytes up to this commit.  The writer calls it after the last op of
     * a transaction and before tx_commit, once per app whose delta is
     * non-zero.  The backend may defer the statement to the commit's
     * round trip: *total is only meaningful when tx_commit returned 0,
     * and must stay valid until then. */
    int (*app_bytes_add)(store_backend_t *be, int32_t app_id, int64_t delta, int64_t *total);

    /* Any thread. */
    /* Backend counters into the checkpoint fields of *out.  May be NULL. */
    void (*stats)(store_backend_t *be, store_stats_t *out);
    int (*app_get)(store_backend_t *be, int32_t app_id, store_app_t *out);
    int (*app_list)(store_backend_t *be, store_app_t **out, size_t *n);
    /* Bytes of the app's stored message bodies and extras (one-to-one and
     * group), for the storage quota at open (and, with app_bytes_add, for
     * an app first seen after open): one scan, or the shared count kept
     * by app_bytes_add. */
    int (*msg_bytes)(store_backend_t *be, int32_t app_id, int64_t *out);
    int (*ping)(store_backend_t *be);
    int (*user_get)(store_backend_t *be, int32_t app_id, const char *user_id, store_user_t *out);
    /* nick_sub: the literal substring, NULL for all (never ""); offset and
     * limit already clamped; out, n and total zeroed by the caller.  Same
     * contract as store_user_page_sync otherwise. */
    int (*user_page)(store_backend_t *be, int32_t app_id, const char *nick_sub,
                     const char *exclude_user_id, int offset, int limit, store_user_t **out,
                     size_t *n, int64_t *total);
    int (*user_count)(store_backend_t *be, int32_t app_id, int64_t *n);
    int (*account_get)(store_backend_t *be, int32_t app_id, const char *user_name,
                       char *user_id_out, char *hash_out, size_t hash_cap);
    /* limit already clamped, to_seq already INT64_MAX for "unbounded";
     * out/n (and max_*) zeroed by the caller, left so on failure. */
    int (*msg_history)(store_backend_t *be, int32_t app_id, const char *owner,
                       const char *peer, int64_t from_seq, int64_t to_seq, int limit,
                       int descending, store_msg_row_t **out, size_t *n);
    int (*msg_sync)(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_key,
                    int limit, store_msg_row_t **out, size_t *n, int64_t *max_key);
    int (*conv_list)(store_backend_t *be, int32_t app_id, const char *owner,
                     int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                     int64_t *max_change_seq);
    int (*conv_get)(store_backend_t *be, int32_t app_id, const char *owner, int type,
                    const char *peer, store_conv_t *out);
    /* Friendship reads; limits clamped, outputs zeroed by the caller. */
    int (*friend_get)(store_backend_t *be, int32_t app_id, const char *from_id,
                      const char *to_id, store_friend_t *out);
    int (*friend_list)(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                       int limit, store_friend_t **out, size_t *n, int64_t *max_seq);
    int (*friend_all)(store_backend_t *be, int32_t app_id, const char *owner,
                      store_friend_t **out, size_t *n);
    int (*friend_requests)(store_backend_t *be, int32_t app_id, const char *to_id,
                           int64_t after_seq, int limit, store_friend_request_t **out,
                           size_t *n, int64_t *max_seq);
    int (*friend_groups)(store_backend_t *be, int32_t app_id, const char *owner,
                         int64_t after_seq, int limit, store_friend_group_t **out, size_t *n,
                         int64_t *max_seq);
    int (*friend_seqs)(store_backend_t *be, int32_t app_id, const char *user_id, int64_t *fs,
                       int64_t *rs, int64_t *gs);
    /* User status reads (schema version 5); outputs zeroed by the caller;
     * ids valid. */
    int (*user_status_get)(store_backend_t *be, int32_t app_id, const char *const *ids,
                           size_t n, store_user_status_t *out);
    int (*status_peers)(store_backend_t *be, int32_t app_id, const char *user_id,
                        store_user_status_t **out, size_t *n);
    int (*friend_blacked)(store_backend_t *be, int32_t app_id, const char *user_id,
                          char (**out)[STORE_ID_MAX + 1], size_t *n);
    /* Groups (schema version 6).  group_write: writer thread only, every
     * kind of store_group_op_t (validated), outputs into op.  The reads:
     * any thread, inputs valid, limits clamped, outputs zeroed. */
    int (*group_write)(store_backend_t *be, store_group_op_t *op, int64_t now_ms);
    int (*group_get)(store_backend_t *be, int32_t app_id, const char *group_id,
                     store_group_t *out);
    int (*group_member_get)(store_backend_t *be, int32_t app_id, const char *group_id,
                            const char *member_id, store_group_member_t *out);
    int (*group_members)(store_backend_t *be, int32_t app_id, const char *group_id,
                         store_group_member_t **out, size_t *n);
    int (*group_readers)(store_backend_t *be, int32_t app_id, const char *group_id,
                         int64_t seq, char (**out)[STORE_ID_MAX + 1], size_t *n);
    int (*group_joined)(store_backend_t *be, int32_t app_id, const char *member_id, int all,
                        unsigned types, int64_t after_seq, int offset, int limit,
                        store_joined_t **out, size_t *n, int64_t *total);
    int (*group_requests)(store_backend_t *be, int32_t app_id, const char *group_id,
                          int status, store_group_request_t **out, size_t *n);
    int (*group_msgs)(store_backend_t *be, int32_t app_id, const char *group_id,
                      int64_t from_seq, int64_t to_seq, int64_t lo, int64_t hi, int limit,
                      int descending, store_group_msg_row_t **out, size_t *n);
    /* One one-to-one message by key, body and extra NULL (store_msg_head_sync). */
    int (*msg_head)(store_backend_t *be, int32_t app_id, int64_t message_key,
                    store_msg_row_t *out);
    /* Additions (storage health).  file_check: any thread, blocking; 0
     * while the database files are the ones opened, STORE_EGONE with *why
     * (static text) once one was deleted or replaced.  probe: writer
     * thread, inside an op; a minimal write that leaves no data.  Either
     * may be NULL. */
    int (*file_check)(store_backend_t *be, const char **why);
    int (*probe)(store_backend_t *be, int64_t now_ms);

    /* Additions (issue 16): copying a whole database into another backend
     * (store_copy.c, store/copy.h; `petreld copy-sqlite`).  Offline: the
     * backend was opened by the copy alone, no writer thread runs, and the
     * calling thread stands in for it.
     * rows: run one read statement (constant text written in SQL both
     * engines accept, no parameters) and hand each row to row(arg, vals,
     * n) as text (vals[i] NULL for SQL NULL); a non-zero return from row
     * stops it and is returned.  SQLite runs it on the writer connection,
     * inside the transaction the copy opened with tx_begin (one snapshot,
     * other writers held off); PostgreSQL, while copy_in runs, inside the
     * copy's transaction (the check sees what was loaded), else on a
     * pooled connection.
     * copy_in: load an EMPTY database (else STORE_ECONFLICT, nothing
     * written) in one transaction: see store_copy_t.  NULL for a backend
     * that cannot be a destination. */
    int (*rows)(store_backend_t *be, const char *sql, store_row_fn row, void *arg);
    int (*copy_in)(store_backend_t *be, store_copy_t *c);
} store_backend_ops_t;

extern const store_backend_ops_t store_sqlite_backend;
extern const store_backend_ops_t store_pg_backend; /* store/pg/ */

/* The LIKE pattern of a literal substring, "%sub%" with \ % _ escaped by
 * \ (both backends' nick search, with ESCAPE '\'); malloc'ed, NULL when
 * out of memory.  store/ops_users.c. */
char *store_like_pattern(const char *sub);

/* Wall-clock epoch milliseconds (created_at, applied_at); store/writer.c. */
int64_t store_now_ms(void);

#endif
