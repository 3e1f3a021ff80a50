/*
 * SQLite backend for the store (see store_backend.h for the contract).
 *
 * Owns <data_dir>/petrel.db and two connections to it:
 *   - the writer connection, used only by the store's writer thread (and by
 *     migrations before that thread starts), with every statement it runs
 *     prepared once at open;
 *   - the read connection for the blocking *_sync reads, behind its own
 *     mutex.  In WAL mode a reader sees the last committed snapshot and
 *     never waits for the writer's open transaction, which is why reads do
 *     not share the writer's connection (they would queue behind a batch).
 * WAL also makes the group commit cheap: one fsync of the log per batch.
 * All values go through bound parameters; no SQL text is built at run time.
 */
#include "server/store_backend.h"
#include "server/log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define DEFAULT_BUSY_TIMEOUT_MS 5000

struct store_backend {
    sqlite3 *wdb;
    sqlite3_stmt *w_begin, *w_commit, *w_rollback;
    sqlite3_stmt *w_sp, *w_sp_release, *w_sp_rollback;
    sqlite3_stmt *w_app_put;

    pthread_mutex_t rmu; /* guards rdb and its statements */
    sqlite3 *rdb;
    sqlite3_stmt *r_app_get, *r_app_list, *r_ping;

    int version;
};

#define APP_COLS "app_id, secret, admin_id, login_policy, max_per_platform, settings, created_at"

/* created_at is deliberately absent from the update list: it records when
 * the app was first stored, whatever later puts carry. */
static const char SQL_APP_PUT[] =
    "INSERT INTO app(" APP_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT(app_id) DO UPDATE SET secret = excluded.secret, "
    "admin_id = excluded.admin_id, login_policy = excluded.login_policy, "
    "max_per_platform = excluded.max_per_platform, settings = excluded.settings";

static int map_err(int rc)
{
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return STORE_ECONFLICT;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EINVAL; /* CHECK, NOT NULL, FOREIGN KEY: bad input */
    return STORE_EIO;
}

static void log_err(sqlite3 *db, const char *what)
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
        log_err(db, sql);
        return STORE_EIO;
    }
    return 0;
}

/* Run a prepared statement that returns no rows. */
static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

static int exec_const(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        log_err(db, sql);
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
        log_err(db, sql);
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
        log_err(db, sql);
    }
    sqlite3_finalize(q);
    return rc;
}

static int open_conn(const char *path, int flags, int busy_ms, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_err(db, path);
        sqlite3_close(db);
        *out = NULL;
        return STORE_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms);
    *out = db;
    if (exec_const(db, "PRAGMA foreign_keys = ON") != 0)
        return STORE_EIO;
    return 0;
}

static void sqlite_close(store_backend_t *be)
{
    if (!be)
        return;
    sqlite3_stmt *stmts[] = {be->w_begin, be->w_commit, be->w_rollback, be->w_sp,
                             be->w_sp_release, be->w_sp_rollback, be->w_app_put,
                             be->r_app_get, be->r_app_list, be->r_ping};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        sqlite3_finalize(stmts[i]);
    /* Reader first, so the writer is the last connection and its close
     * checkpoints the WAL back into the main file. */
    if (sqlite3_close(be->rdb) != SQLITE_OK)
        log_err(be->rdb, "close reader");
    if (sqlite3_close(be->wdb) != SQLITE_OK)
        log_err(be->wdb, "close writer");
    pthread_mutex_destroy(&be->rmu);
    free(be);
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
    int busy_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;

    rc = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_ms, &be->wdb);
    if (rc == 0)
        rc = pragma_expect(be->wdb, "PRAGMA journal_mode = WAL", "wal");
    if (rc == 0)
        rc = exec_const(be->wdb, cfg->synchronous_full ? "PRAGMA synchronous = FULL"
                                                       : "PRAGMA synchronous = NORMAL");
    if (rc == 0)
        rc = store_migrate_sqlite(be->wdb, &be->version);
    if (rc == 0)
        rc = prep(be->wdb, "BEGIN IMMEDIATE", &be->w_begin);
    if (rc == 0)
        rc = prep(be->wdb, "COMMIT", &be->w_commit);
    if (rc == 0)
        rc = prep(be->wdb, "ROLLBACK", &be->w_rollback);
    if (rc == 0)
        rc = prep(be->wdb, "SAVEPOINT op", &be->w_sp);
    if (rc == 0)
        rc = prep(be->wdb, "RELEASE op", &be->w_sp_release);
    if (rc == 0)
        rc = prep(be->wdb, "ROLLBACK TO op", &be->w_sp_rollback);
    if (rc == 0)
        rc = prep(be->wdb, SQL_APP_PUT, &be->w_app_put);

    /* The reader opens after migrations so it never sees a half-built
     * schema; query_only turns any accidental write on it into an error. */
    if (rc == 0)
        rc = open_conn(path, SQLITE_OPEN_READWRITE, busy_ms, &be->rdb);
    if (rc == 0)
        rc = exec_const(be->rdb, "PRAGMA query_only = ON");
    if (rc == 0)
        rc = prep(be->rdb, "SELECT " APP_COLS " FROM app WHERE app_id = ?1", &be->r_app_get);
    if (rc == 0)
        rc = prep(be->rdb, "SELECT " APP_COLS " FROM app ORDER BY app_id", &be->r_app_list);
    if (rc == 0)
        rc = prep(be->rdb, "SELECT count(*) FROM schema_migrations", &be->r_ping);
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

static int sqlite_tx_begin(store_backend_t *be)
{
    int rc = run(be->w_begin);
    if (rc != 0) {
        log_err(be->wdb, "BEGIN");
        return STORE_EIO;
    }
    return 0;
}

static int sqlite_tx_commit(store_backend_t *be)
{
    int rc = run(be->w_commit);
    if (rc != 0) {
        log_err(be->wdb, "COMMIT");
        return STORE_EIO;
    }
    return 0;
}

static void sqlite_tx_rollback(store_backend_t *be)
{
    /* SQLite may already have rolled back by itself (I/O error, full disk). */
    if (!sqlite3_get_autocommit(be->wdb) && run(be->w_rollback) != 0)
        log_err(be->wdb, "ROLLBACK");
}

static int sqlite_op_begin(store_backend_t *be)
{
    return run(be->w_sp) == 0 ? 0 : STORE_EIO;
}

static int sqlite_op_end(store_backend_t *be, int failed)
{
    /* Some errors end the whole transaction implicitly; then the savepoint
     * is gone and the batch cannot commit. */
    if (sqlite3_get_autocommit(be->wdb))
        return STORE_EIO;
    if (failed && run(be->w_sp_rollback) != 0)
        return STORE_EIO;
    /* RELEASE after ROLLBACK TO too: ROLLBACK TO leaves the savepoint open. */
    return run(be->w_sp_release) == 0 ? 0 : STORE_EIO;
}

static int sqlite_app_put(store_backend_t *be, const store_app_t *a)
{
    sqlite3_stmt *s = be->w_app_put;
    sqlite3_bind_int(s, 1, a->app_id);
    sqlite3_bind_text(s, 2, a->secret, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->admin_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, a->login_policy);
    sqlite3_bind_int(s, 5, a->max_per_platform);
    sqlite3_bind_text(s, 6, a->settings, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, a->created_at);
    int rc = run(s);
    sqlite3_clear_bindings(s); /* SQLITE_STATIC pointers must not outlive a */
    return rc;
}

/* Copy a TEXT column into a fixed array; a value that does not fit means
 * the row was written by something other than store_app_put. */
static int col_text(sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!t || n >= cap)
        return STORE_EIO;
    memcpy(dst, t, n);
    dst[n] = '\0';
    return 0;
}

static int row_to_app(sqlite3_stmt *q, store_app_t *a)
{
    memset(a, 0, sizeof *a);
    a->app_id = sqlite3_column_int(q, 0);
    if (col_text(q, 1, a->secret, sizeof a->secret) != 0 ||
        col_text(q, 2, a->admin_id, sizeof a->admin_id) != 0 ||
        col_text(q, 5, a->settings, sizeof a->settings) != 0) {
        LOGE("store app row has an oversized text column", "app_id=%d", (int)a->app_id);
        return STORE_EIO;
    }
    a->login_policy = sqlite3_column_int(q, 3);
    a->max_per_platform = sqlite3_column_int(q, 4);
    a->created_at = sqlite3_column_int64(q, 6);
    return 0;
}

static int sqlite_app_get(store_backend_t *be, int32_t app_id, store_app_t *out)
{
    pthread_mutex_lock(&be->rmu);
    sqlite3_stmt *q = be->r_app_get;
    sqlite3_bind_int(q, 1, app_id);
    int rc = sqlite3_step(q);
    int ret;
    if (rc == SQLITE_ROW)
        ret = row_to_app(q, out);
    else if (rc == SQLITE_DONE)
        ret = STORE_ENOTFOUND;
    else {
        log_err(be->rdb, "app get");
        ret = STORE_EIO;
    }
    sqlite3_reset(q);
    pthread_mutex_unlock(&be->rmu);
    return ret;
}

static int sqlite_app_list(store_backend_t *be, store_app_t **out, size_t *n)
{
    store_app_t *v = NULL;
    size_t len = 0, cap = 0;
    int ret = 0, rc;
    pthread_mutex_lock(&be->rmu);
    sqlite3_stmt *q = be->r_app_list;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            store_app_t *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        ret = row_to_app(q, &v[len]);
        if (ret != 0)
            break;
        len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        log_err(be->rdb, "app list");
        ret = STORE_EIO;
    }
    sqlite3_reset(q);
    pthread_mutex_unlock(&be->rmu);
    if (ret != 0) {
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sqlite_ping(store_backend_t *be)
{
    pthread_mutex_lock(&be->rmu);
    int rc = sqlite3_step(be->r_ping);
    sqlite3_reset(be->r_ping);
    pthread_mutex_unlock(&be->rmu);
    return rc == SQLITE_ROW ? 0 : STORE_EIO;
}

const store_backend_ops_t store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,
    .op_begin = sqlite_op_begin,
    .op_end = sqlite_op_end,
    .app_put = sqlite_app_put,
    .app_get = sqlite_app_get,
    .app_list = sqlite_app_list,
    .ping = sqlite_ping,
};
