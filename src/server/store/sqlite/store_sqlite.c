/*
 * SQLite backend for the store (see store_backend.h for the contract).
 *
 * Owns <data_dir>/petrel.db and these connections to it:
 *   - the writer connection, used only by the store's writer thread (and by
 *     migrations before that thread starts), with every statement it runs
 *     prepared once at open;
 *   - a pool of read connections (store_config_t.read_conns) for the
 *     blocking *_sync reads, each with its own prepared statements.  A read
 *     borrows a free connection for its duration (waiting on a condvar
 *     when all are lent out) and gives it back.  A SQLite connection is
 *     single-threaded, so one shared reader serialised every read; the
 *     server now issues reads from libuv's whole thread pool, hence the
 *     pool.  In WAL mode readers see the last committed snapshot and never
 *     wait for the writer's open transaction (or each other), which is why
 *     reads do not share the writer's connection (they would queue behind
 *     a batch).
 * WAL also makes the group commit cheap: one fsync of the log per batch.
 * All values go through bound parameters; no SQL text is built at run
 * time (the optional parts of a query are "?N IS NULL OR ..." terms, and
 * a partial update binds NULL for "keep the column").
 *
 * This file: the connections (open, close, pragmas), transactions and
 * savepoints, the reader pool and its row helpers, the write-health hooks
 * and the backend's vtable, which it assembles from the domain files
 * (store_sqlite_int.h lists them).
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define DEFAULT_READ_CONNS 4
#define DEFAULT_HISTORY_BATCH 8192
#define MAX_READ_CONNS 64

void sqlx_log_err(sqlite3 *db, const char *what)
{
    LOGE("store sqlite error", "what=\"%s\" err=\"%s\"", what,
         db ? sqlite3_errmsg(db) : "out of memory");
}

/* mkdir -p; only directories we create get 0700, existing ones are left
 * as the operator set them. */
static int mkdir_p(const char *dir)
{
    size_t len = strlen(dir);
    char *p = malloc(len + 1);
    if (!p)
        return STORE_EIO;
    memcpy(p, dir, len + 1);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        /* Some filesystems report EACCES/EROFS before EEXIST for a parent
         * that already exists, so judge by what is there. */
        int e = mkdir(p, 0700) == 0 ? 0 : errno;
        if (e != 0 && e != EEXIST && (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            LOGE("store mkdir failed", "path=\"%s\" err=\"%s\"", p, strerror(e));
            rc = STORE_EIO;
        }
        p[i] = c;
    }
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        LOGE("store data_dir is not a directory", "path=\"%s\"", dir);
        rc = STORE_EIO;
    }
    free(p);
    return rc;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        sqlx_log_err(db, sql);
        return STORE_EIO;
    }
    return 0;
}

static int exec_const(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        sqlx_log_err(db, sql);
        return STORE_EIO;
    }
    return 0;
}

/* Pragma whose result row must equal want (journal_mode answers with the
 * mode it actually got, which silently differs on some filesystems). */
static int pragma_expect(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        sqlx_log_err(db, sql);
        return STORE_EIO;
    }
    int rc = STORE_EIO;
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(q, 0);
        if (got && strcmp(got, want) == 0)
            rc = 0;
        else
            LOGE("store pragma refused", "sql=\"%s\" got=\"%s\" want=\"%s\"", sql,
                 got ? got : "(null)", want);
    } else {
        sqlx_log_err(db, sql);
    }
    sqlite3_finalize(q);
    return rc;
}

static int open_conn(const char *path, int flags, int busy_ms, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sqlx_log_err(db, path);
        sqlite3_close(db);
        *out = NULL;
        return STORE_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms);
    *out = db;
    if (exec_const(db, "PRAGMA foreign_keys = ON") != 0)
        return STORE_EIO;
    /* Statement journals (one per savepoint'ed statement) would otherwise
     * go to temp files: ~25-30% of server CPU on the message path
     * (docs/PERFORMANCE.md).  They are per-statement undo data, not part
     * of durability, which the WAL provides. */
    if (exec_const(db, "PRAGMA temp_store = MEMORY") != 0)
        return STORE_EIO;
    return 0;
}

static void sqlite_close(store_backend_t *be)
{
    if (!be)
        return;
    /* Readers first, so the writer is the last connection and its close
     * checkpoints the WAL back into the main file. */
    for (size_t i = 0; be->rpool && i < be->nr; i++) {
        rconn_t *c = &be->rpool[i];
        for (int k = 0; k < RQ_COUNT; k++)
            sqlite3_finalize(c->q[k]);
        for (int k = 0; k < SQLX_SLOTS; k++)
            sqlite3_finalize(c->x[k]);
        if (sqlite3_close(c->db) != SQLITE_OK)
            sqlx_log_err(c->db, "close reader");
    }
    free(be->rpool);
    if (be->hist && sqlite_hist_flush(be->hist) != 0)
        LOGW("store closing with history rows still to write", "detail=\"the next start writes them\"");
    sqlite_hist_close(be->hist);
    be->hist = NULL;
    sqlite_ckpt_stop(be->ckpt);
    store_fileid_free(&be->fid);
    sqlx_cache_free(&be->cache);
    for (int k = 0; k < WQ_COUNT; k++)
        sqlite3_finalize(be->w[k]);
    for (int k = 0; k < SQLX_SLOTS; k++)
        sqlite3_finalize(be->x[k]);
    if (sqlite3_close(be->wdb) != SQLITE_OK)
        sqlx_log_err(be->wdb, "close writer");
    pthread_cond_destroy(&be->rcv);
    pthread_mutex_destroy(&be->rmu);
    free(be);
}

/* query_only turns any accidental write on a reader into an error.  (Not
 * SQLITE_OPEN_READONLY: a read-only WAL connection cannot create the -shm
 * index when it is the first one to need it.) */
static int open_reader(const char *path, int busy_ms, rconn_t *c)
{
    int rc = open_conn(path, SQLITE_OPEN_READWRITE, busy_ms, &c->db);
    if (rc == 0)
        rc = exec_const(c->db, "PRAGMA query_only = ON");
    for (int k = 0; k < RQ_COUNT && rc == 0; k++)
        rc = prep(c->db, RQ_SQL[k], &c->q[k]);
    return rc;
}

static int sqlite_open(const store_config_t *cfg, store_backend_t **out)
{
    *out = NULL;
    int rc = mkdir_p(cfg->data_dir);
    if (rc != 0)
        return rc;
    size_t plen = strlen(cfg->data_dir) + sizeof "/petrel.db";
    char *path = malloc(plen);
    if (!path)
        return STORE_EIO;
    snprintf(path, plen, "%s/petrel.db", cfg->data_dir);

    store_backend_t *be = calloc(1, sizeof *be);
    if (!be) {
        free(path);
        return STORE_EIO;
    }
    pthread_mutex_init(&be->rmu, NULL);
    pthread_cond_init(&be->rcv, NULL);
    int busy_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
    size_t nr = cfg->read_conns > 0 ? (size_t)cfg->read_conns : DEFAULT_READ_CONNS;
    if (nr > MAX_READ_CONNS)
        nr = MAX_READ_CONNS;

    rc = sqlx_cache_init(&be->cache, cfg->seq_cache_max);
    if (rc == 0)
        rc = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_ms, &be->wdb);
    if (rc == 0)
        rc = pragma_expect(be->wdb, "PRAGMA journal_mode = WAL", "wal");
    if (rc == 0)
        rc = exec_const(be->wdb, cfg->synchronous_full ? "PRAGMA synchronous = FULL"
                                                       : "PRAGMA synchronous = NORMAL");
    if (rc == 0)
        rc = store_migrate_sqlite(be->wdb, &be->version);
    for (int k = 0; k < WQ_COUNT && rc == 0; k++)
        rc = prep(be->wdb, WQ_SQL[k], &be->w[k]);
    if (rc == 0 && sqlite_hist_open(be->wdb, cfg->history_batch > 0 ? cfg->history_batch
                                                                    : DEFAULT_HISTORY_BATCH,
                                    &be->hist) != 0)
        rc = STORE_EIO;

    /* Readers open after migrations so they never see a half-built
     * schema (their statements are prepared against the final one). */
    if (rc == 0) {
        be->rpool = calloc(nr, sizeof *be->rpool);
        if (!be->rpool)
            rc = STORE_EIO;
        else
            be->nr = nr;
    }
    for (size_t i = 0; i < be->nr && rc == 0; i++) {
        rc = open_reader(path, busy_ms, &be->rpool[i]);
        be->rpool[i].next_free = be->rfree;
        be->rfree = &be->rpool[i];
    }
    if (rc == 0 && cfg->wal_checkpoint_pages > 0)
        rc = sqlite_ckpt_start(path, be->wdb, cfg->wal_checkpoint_pages, cfg->synchronous_full,
                               busy_ms, &be->ckpt);
    if (rc == 0 && store_fileid_init(&be->fid, path) != 0) {
        LOGE("store cannot stat its database file", "path=\"%s\"", path);
        rc = STORE_EIO;
    }
    free(path);
    if (rc != 0) {
        sqlite_close(be);
        return rc;
    }
    *out = be;
    return 0;
}

static int sqlite_schema_version(store_backend_t *be)
{
    return be->version;
}

/* ---- writer ---- */

static int sqlite_tx_begin(store_backend_t *be)
{
    int rc = run(be->w[WQ_BEGIN]);
    if (rc != 0) {
        sqlx_log_err(be->wdb, "BEGIN");
        return STORE_EIO;
    }
    return 0;
}

static int sqlite_tx_commit(store_backend_t *be)
{
    int rc = run(be->w[WQ_COMMIT]);
    if (rc != 0) {
        sqlx_log_err(be->wdb, "COMMIT");
        return STORE_EIO; /* tx_rollback follows and drops the cache's changes */
    }
    sqlx_cache_tx_end(&be->cache, 1);
    return 0;
}

static void sqlite_tx_rollback(store_backend_t *be)
{
    sqlx_cache_tx_end(&be->cache, 0);
    /* SQLite may already have rolled back by itself (I/O error, full disk). */
    if (!sqlite3_get_autocommit(be->wdb) && run(be->w[WQ_ROLLBACK]) != 0)
        sqlx_log_err(be->wdb, "ROLLBACK");
}

static void sqlite_after_batch(store_backend_t *be)
{
    sqlite_hist_after_batch(be->hist);
    sqlite_ckpt_after_batch(be->ckpt);
}

static void sqlite_stats(store_backend_t *be, store_stats_t *out)
{
    sqlite_hist_stats_t hs;
    sqlite_hist_stats(be->hist, &hs);
    out->history_rows = hs.rows;
    out->history_chunks = hs.chunks;
    out->history_waiting = hs.waiting;
    if (!be->ckpt)
        return;
    sqlite_ckpt_stats_t cs;
    sqlite_ckpt_stats(be->ckpt, &cs);
    out->ckpt_passes = cs.passes;
    out->ckpt_writer = cs.writer_tails + cs.writer_restarts;
    out->ckpt_complete = cs.complete;
}

/* Addition (issue 14, item 17): is petrel.db (and its WAL) still the file
 * the connections write into?  Any thread; blocking (stat). */
static int sqlite_file_check(store_backend_t *be, const char **why)
{
    return store_fileid_check(&be->fid, why) == 0 ? 0 : STORE_EGONE;
}

/* Addition: the health probe's write, inside an op of the writer.  A row
 * inserted and deleted again dirties a page, so the COMMIT really writes
 * (and syncs) the WAL, which is what a full disk refuses, and leaves no
 * trace.  Constant SQL, run rarely (after failures only). */
static int sqlite_probe(store_backend_t *be, int64_t now_ms)
{
    (void)now_ms;
    return exec_const(be->wdb, "INSERT INTO schema_migrations(version, name, applied_at) "
                               "VALUES(0, 'write probe', 0); "
                               "DELETE FROM schema_migrations WHERE version = 0")
               ? STORE_EIO : 0;
}

static int sqlite_op_begin(store_backend_t *be)
{
    be->cache.op++;
    return run(be->w[WQ_SP]) == 0 ? 0 : STORE_EIO;
}

static int sqlite_op_end(store_backend_t *be, int failed)
{
    if (failed)
        sqlx_cache_op_failed(&be->cache);
    /* Some errors end the whole transaction implicitly; then the savepoint
     * is gone and the batch cannot commit. */
    if (sqlite3_get_autocommit(be->wdb))
        return STORE_EIO;
    /* ROLLBACK TO / RELEASE of "op" also cancel any "row" savepoint an op
     * that failed half-way left open. */
    if (failed && run(be->w[WQ_SP_ROLLBACK]) != 0)
        return STORE_EIO;
    /* RELEASE after ROLLBACK TO too: ROLLBACK TO leaves the savepoint open. */
    return run(be->w[WQ_SP_RELEASE]) == 0 ? 0 : STORE_EIO;
}

/* ---- readers ---- */

rconn_t *sqlx_conn_borrow(store_backend_t *be)
{
    pthread_mutex_lock(&be->rmu);
    while (!be->rfree)
        pthread_cond_wait(&be->rcv, &be->rmu);
    rconn_t *c = be->rfree;
    be->rfree = c->next_free;
    pthread_mutex_unlock(&be->rmu);
    return c;
}

/* Every statement of c must be reset by now: a statement left mid-step
 * would pin its snapshot and stall WAL checkpoints for the next user. */
void sqlx_conn_give_back(store_backend_t *be, rconn_t *c)
{
    pthread_mutex_lock(&be->rmu);
    c->next_free = be->rfree;
    be->rfree = c;
    pthread_cond_signal(&be->rcv);
    pthread_mutex_unlock(&be->rmu);
}

/* End a read transaction opened with RQ_BEGIN (if it is still open). */
void sqlx_read_end(rconn_t *c)
{
    if (!sqlite3_get_autocommit(c->db) && run(c->q[RQ_COMMIT]) != 0) {
        sqlx_log_err(c->db, "read commit");
        run(c->q[RQ_ROLLBACK]);
    }
}

/* Reset a read statement and drop its bindings (SQLITE_STATIC pointers
 * into the caller's strings). */
void sqlx_done_q(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* Copy a TEXT column into a fixed array; a value that does not fit means
 * the row was written by something other than this store. */
int sqlx_col_text(sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!t || n >= cap)
        return STORE_EIO;
    memcpy(dst, t, n);
    dst[n] = '\0';
    return 0;
}

/* Step q (bound, on a borrowed connection) to the end, appending each row
 * to a malloc'ed array of elem-sized items.  Does not reset q.  cleanup
 * (may be NULL) frees what fn allocated inside an item, for the items
 * already collected when a later row fails (fn cleans up its own row). */
int sqlx_collect_ex(sqlite3 *db, sqlite3_stmt *q, size_t elem, row_fn fn,
                    void (*cleanup)(void *item), void **out, size_t *n, const char *what)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int ret = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *nv = realloc(v, ncap * elem);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        ret = fn(q, v + len * elem);
        if (ret != 0)
            break;
        len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        sqlx_log_err(db, what);
        ret = STORE_EIO;
    }
    if (ret != 0) {
        for (size_t i = 0; cleanup && i < len; i++)
            cleanup(v + i * elem);
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

int sqlx_collect(sqlite3 *db, sqlite3_stmt *q, size_t elem, row_fn fn, void **out,
                 size_t *n, const char *what)
{
    return sqlx_collect_ex(db, q, elem, fn, NULL, out, n, what);
}

/* Step a single-row query: fn on the row, STORE_ENOTFOUND without one. */
int sqlx_one_row(sqlite3 *db, sqlite3_stmt *q, row_fn fn, void *dst, const char *what)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return fn(q, dst);
    if (rc == SQLITE_DONE)
        return STORE_ENOTFOUND;
    sqlx_log_err(db, what);
    return STORE_EIO;
}

int sqlx_count_row(sqlite3_stmt *q, void *dst)
{
    *(int64_t *)dst = sqlite3_column_int64(q, 0);
    return 0;
}

static int sqlite_ping(store_backend_t *be)
{
    rconn_t *c = sqlx_conn_borrow(be);
    int rc = sqlite3_step(c->q[RQ_PING]);
    sqlx_done_q(c->q[RQ_PING]);
    sqlx_conn_give_back(be, c);
    return rc == SQLITE_ROW ? 0 : STORE_EIO;
}

/* ---- shared with the backend's other files (store_sqlite_int.h) ---- */

sqlite3 *sqlx_wdb(store_backend_t *be)
{
    return be->wdb;
}

sqlite3_stmt **sqlx_wslots(store_backend_t *be)
{
    return be->x;
}

void sqlx_borrow(store_backend_t *be, sqlx_reader_t *r)
{
    rconn_t *c = sqlx_conn_borrow(be);
    r->db = c->db;
    r->slots = c->x;
    r->conn = c;
}

void sqlx_give_back(store_backend_t *be, sqlx_reader_t *r)
{
    rconn_t *c = r->conn;
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    r->conn = NULL;
}

sqlite3_stmt *sqlx_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot && prep(db, sql, slot) != 0)
        return NULL;
    return *slot;
}

const store_backend_ops_t store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,
    .after_batch = sqlite_after_batch,
    .stats = sqlite_stats,
    .op_begin = sqlite_op_begin,
    .op_end = sqlite_op_end,
    .app_put = sqlx_app_put,
    .user_import = sqlx_user_import,
    .user_update = sqlx_user_update,
    .user_delete = sqlx_user_delete,
    .account_create = sqlx_account_create,
    .account_register = sqlx_account_register,
    .app_get = sqlx_app_get,
    .app_list = sqlx_app_list,
    .msg_bytes = sqlx_msg_bytes,
    .ping = sqlite_ping,
    .file_check = sqlite_file_check,
    .probe = sqlite_probe,
    .user_get = sqlx_user_get,
    .user_page = sqlx_user_page,
    .user_count = sqlx_user_count,
    .account_get = sqlx_account_get,
    .msg_p2p = sqlx_msg_p2p,
    .next_seq = sqlx_next_seq,
    .msg_read = sqlx_msg_read,
    .msg_recall = sqlx_msg_recall,
    .conv_update = sqlx_conv_update,
    .msg_history = sqlx_msg_history,
    .msg_sync = sqlx_msg_sync,
    .conv_list = sqlx_conv_list,
    .conv_get = sqlx_conv_get,
    .friend_write = sqlx_friend_write,
    .friend_get = sqlx_friend_get,
    .friend_list = sqlx_friend_list,
    .friend_all = sqlx_friend_all,
    .friend_requests = sqlx_friend_requests,
    .friend_groups = sqlx_friend_groups,
    .friend_seqs = sqlx_friend_seqs,
    .user_status_set = sqlx_user_status_set,
    .user_status_get = sqlx_user_status_get,
    .status_peers = sqlx_status_peers,
    .friend_blacked = sqlx_friend_blacked,
    .group_write = sqlg_write,
    .group_get = sqlg_get,
    .group_member_get = sqlg_member_get,
    .group_members = sqlg_members,
    .group_readers = sqlg_readers,
    .group_joined = sqlg_joined,
    .group_requests = sqlg_requests,
    .group_msgs = sqlg_msgs,
    .msg_head = sqlx_msg_head,
    .rows = sqlx_rows,
    .copy_in = NULL,
};
