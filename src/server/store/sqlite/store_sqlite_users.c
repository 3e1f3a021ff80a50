/*
 * SQLite backend: apps, IM users, demo app accounts and user custom
 * status (users.h, apps.h): their writes on the writer connection and
 * their reads on the pool.
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sqlx_app_put(store_backend_t *be, const store_app_t *a)
{
    sqlite3_stmt *s = be->w[WQ_APP_PUT];
    sqlite3_bind_int(s, 1, a->app_id);
    bind_str(s, 2, a->secret);
    bind_str(s, 3, a->admin_id);
    sqlite3_bind_int(s, 4, a->login_policy);
    sqlite3_bind_int(s, 5, a->max_per_platform);
    bind_str(s, 6, a->settings);
    sqlite3_bind_int64(s, 7, a->created_at);
    return run_unbind(s);
}

static int user_insert(store_backend_t *be, const store_user_t *u, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_USER_INSERT];
    sqlite3_bind_int(s, 1, u->app_id);
    bind_str(s, 2, u->user_id);
    bind_str(s, 3, u->nick_name);
    bind_str(s, 4, u->photo);
    sqlite3_bind_int(s, 5, u->user_sex);
    bind_str(s, 6, u->birth_day);
    bind_str(s, 7, u->location);
    bind_str(s, 8, u->self_signature);
    sqlite3_bind_int(s, 9, u->friend_allow_type);
    sqlite3_bind_int(s, 10, u->forbidden_flag);
    sqlite3_bind_int(s, 11, u->disable_add_friend);
    sqlite3_bind_int(s, 12, u->silent_flag);
    sqlite3_bind_int(s, 13, u->user_type);
    bind_str(s, 14, u->extra);
    sqlite3_bind_int64(s, 15, now_ms);
    return run_unbind(s);
}

int sqlx_user_import(store_backend_t *be, const store_user_t *users, int *row_rc,
                     size_t n, int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        if (row_rc[i] != 0)
            continue;
        /* A row savepoint although each row is one INSERT today (which
         * SQLite would undo alone): it keeps rows isolated if a row ever
         * grows a second statement (an index table, a sequence). */
        if (run(be->w[WQ_ROW_SP]) != 0)
            return STORE_EIO;
        int rc = user_insert(be, &users[i], now_ms);
        if (rc == STORE_EIO) {
            sqlx_log_err(be->wdb, "user import");
            return STORE_EIO; /* not the row's fault: fail the op */
        }
        row_rc[i] = rc;
        if (rc != 0 && run(be->w[WQ_ROW_ROLLBACK]) != 0)
            return STORE_EIO;
        if (run(be->w[WQ_ROW_RELEASE]) != 0)
            return STORE_EIO;
    }
    return 0;
}

static void bind_text_if(sqlite3_stmt *s, unsigned mask, unsigned bit, int idx, const char *v)
{
    if (mask & bit)
        bind_str(s, idx, v);
}

static void bind_int_if(sqlite3_stmt *s, unsigned mask, unsigned bit, int idx, int v)
{
    if (mask & bit)
        sqlite3_bind_int(s, idx, v);
}

int sqlx_user_update(store_backend_t *be, const store_user_t *u, unsigned mask,
                     int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_USER_UPDATE];
    sqlite3_clear_bindings(s); /* unmasked fields stay NULL = keep */
    sqlite3_bind_int(s, 1, u->app_id);
    bind_str(s, 2, u->user_id);
    bind_text_if(s, mask, STORE_USER_F_NICK_NAME, 3, u->nick_name);
    bind_text_if(s, mask, STORE_USER_F_PHOTO, 4, u->photo);
    bind_int_if(s, mask, STORE_USER_F_USER_SEX, 5, u->user_sex);
    bind_text_if(s, mask, STORE_USER_F_BIRTH_DAY, 6, u->birth_day);
    bind_text_if(s, mask, STORE_USER_F_LOCATION, 7, u->location);
    bind_text_if(s, mask, STORE_USER_F_SELF_SIGNATURE, 8, u->self_signature);
    bind_int_if(s, mask, STORE_USER_F_FRIEND_ALLOW_TYPE, 9, u->friend_allow_type);
    bind_int_if(s, mask, STORE_USER_F_FORBIDDEN_FLAG, 10, u->forbidden_flag);
    bind_int_if(s, mask, STORE_USER_F_DISABLE_ADD_FRIEND, 11, u->disable_add_friend);
    bind_int_if(s, mask, STORE_USER_F_SILENT_FLAG, 12, u->silent_flag);
    bind_int_if(s, mask, STORE_USER_F_USER_TYPE, 13, u->user_type);
    bind_text_if(s, mask, STORE_USER_F_EXTRA, 14, u->extra);
    sqlite3_bind_int64(s, 15, now_ms);
    int rc = run_unbind(s);
    if (rc == 0 && sqlite3_changes(be->wdb) == 0)
        rc = STORE_ENOTFOUND;
    return rc;
}

int sqlx_user_delete(store_backend_t *be, int32_t app_id,
                     const char (*ids)[STORE_ID_MAX + 1], int *row_rc, size_t n,
                     int64_t now_ms)
{
    /* No row savepoints: each row is one UPDATE, which SQLite undoes alone
     * on failure, and the only failures left are I/O errors that lose the
     * whole op anyway. */
    sqlite3_stmt *s = be->w[WQ_USER_DELETE];
    for (size_t i = 0; i < n; i++) {
        if (row_rc[i] != 0)
            continue;
        sqlite3_bind_int(s, 1, app_id);
        bind_str(s, 2, ids[i]);
        sqlite3_bind_int64(s, 3, now_ms);
        int rc = run_unbind(s);
        if (rc != 0) {
            sqlx_log_err(be->wdb, "user delete");
            return STORE_EIO;
        }
        row_rc[i] = sqlite3_changes(be->wdb) > 0 ? 0 : STORE_ENOTFOUND;
    }
    return 0;
}

int sqlx_account_create(store_backend_t *be, int32_t app_id, const char *user_name,
                        const char *user_id, const char *password_hash,
                        int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_ACCOUNT_INSERT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_name);
    bind_str(s, 3, user_id);
    bind_str(s, 4, password_hash);
    sqlite3_bind_int64(s, 5, now_ms);
    return run_unbind(s);
}

int sqlx_account_register(store_backend_t *be, const store_user_t *u,
                          const char *user_name, const char *password_hash,
                          int64_t now_ms)
{
    int rc = user_insert(be, u, now_ms);
    if (rc == 0)
        rc = sqlx_account_create(be, u->app_id, user_name, u->user_id, password_hash, now_ms);
    if (rc == STORE_EIO)
        sqlx_log_err(be->wdb, "account register");
    return rc;
}

/* *live: user_id is a user of the app and not deleted; *allow (may be
 * NULL): its friend_allow_type; *no_add (may be NULL): its
 * disable_add_friend. */
int sqlx_user_live_add(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                       int *allow, int *no_add)
{
    sqlite3_stmt *s = be->w[WQ_USER_ALLOW];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_id);
    int rc = w_step(be, s, "user allow");
    *live = 0;
    if (rc <= 0)
        return rc;
    *live = sqlite3_column_int(s, 0) == 0;
    if (allow)
        *allow = sqlite3_column_int(s, 1);
    if (no_add)
        *no_add = sqlite3_column_int(s, 2);
    w_done(s);
    return 0;
}

int sqlx_user_live(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                   int *allow)
{
    return sqlx_user_live_add(be, app_id, user_id, live, allow, NULL);
}

/* ---- user status (writer) ---- */

int sqlx_user_status_set(store_backend_t *be, int32_t app_id, const char *user_id,
                         const char *text, int status, int64_t now_ms)
{
    int live;
    int rc = sqlx_user_live(be, app_id, user_id, &live, NULL);
    if (rc != 0)
        return rc;
    if (!live)
        return STORE_ENOTFOUND;
    sqlite3_stmt *s = be->w[WQ_STATUS_PUT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_id);
    bind_str(s, 3, text);
    sqlite3_bind_int(s, 4, status);
    sqlite3_bind_int64(s, 5, now_ms);
    return run_unbind(s);
}

static int row_to_app(sqlite3_stmt *q, store_app_t *a)
{
    memset(a, 0, sizeof *a);
    a->app_id = sqlite3_column_int(q, 0);
    if (sqlx_col_text(q, 1, a->secret, sizeof a->secret) != 0 ||
        sqlx_col_text(q, 2, a->admin_id, sizeof a->admin_id) != 0 ||
        sqlx_col_text(q, 5, a->settings, sizeof a->settings) != 0) {
        LOGE("store app row has an oversized text column", "app_id=%d", (int)a->app_id);
        return STORE_EIO;
    }
    a->login_policy = sqlite3_column_int(q, 3);
    a->max_per_platform = sqlite3_column_int(q, 4);
    a->created_at = sqlite3_column_int64(q, 6);
    return 0;
}

/* Columns in USER_COLS order. */
static int row_to_user(sqlite3_stmt *q, store_user_t *u)
{
    memset(u, 0, sizeof *u);
    u->app_id = sqlite3_column_int(q, 0);
    if (sqlx_col_text(q, 1, u->user_id, sizeof u->user_id) != 0 ||
        sqlx_col_text(q, 2, u->nick_name, sizeof u->nick_name) != 0 ||
        sqlx_col_text(q, 3, u->photo, sizeof u->photo) != 0 ||
        sqlx_col_text(q, 5, u->birth_day, sizeof u->birth_day) != 0 ||
        sqlx_col_text(q, 6, u->location, sizeof u->location) != 0 ||
        sqlx_col_text(q, 7, u->self_signature, sizeof u->self_signature) != 0 ||
        sqlx_col_text(q, 14, u->extra, sizeof u->extra) != 0) {
        LOGE("store user row has an oversized text column", "app_id=%d", (int)u->app_id);
        return STORE_EIO;
    }
    u->user_sex = sqlite3_column_int(q, 4);
    u->friend_allow_type = sqlite3_column_int(q, 8);
    u->forbidden_flag = sqlite3_column_int(q, 9);
    u->disable_add_friend = sqlite3_column_int(q, 10);
    u->silent_flag = sqlite3_column_int(q, 11);
    u->user_type = sqlite3_column_int(q, 12);
    u->del_flag = sqlite3_column_int(q, 13);
    u->created_at = sqlite3_column_int64(q, 15);
    u->updated_at = sqlite3_column_int64(q, 16);
    return 0;
}

static int app_row(sqlite3_stmt *q, void *dst)
{
    return row_to_app(q, dst);
}

static int user_row(sqlite3_stmt *q, void *dst)
{
    return row_to_user(q, dst);
}

int sqlx_app_get(store_backend_t *be, int32_t app_id, store_app_t *out)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_APP_GET];
    sqlite3_bind_int(q, 1, app_id);
    int ret = sqlx_one_row(c->db, q, app_row, out, "app get");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

int sqlx_app_list(store_backend_t *be, store_app_t **out, size_t *n)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_APP_LIST];
    void *v = NULL;
    int ret = sqlx_collect(c->db, q, sizeof(store_app_t), app_row, &v, n, "app list");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_user_get(store_backend_t *be, int32_t app_id, const char *user_id,
                  store_user_t *out)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_USER_GET];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_id);
    int ret = sqlx_one_row(c->db, q, user_row, out, "user get");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

static void bind_page_filter(sqlite3_stmt *q, int32_t app_id, const char *pattern,
                             const char *exclude)
{
    sqlite3_bind_int(q, 1, app_id);
    if (pattern)
        bind_str(q, 2, pattern);
    if (exclude)
        bind_str(q, 3, exclude);
}

int sqlx_user_page(store_backend_t *be, int32_t app_id, const char *nick_sub,
                   const char *exclude_user_id, int offset, int limit,
                   store_user_t **out, size_t *n, int64_t *total)
{
    char *pattern = NULL;
    if (nick_sub && !(pattern = store_like_pattern(nick_sub)))
        return STORE_EIO;
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *qp = c->q[RQ_USER_PAGE], *qt = c->q[RQ_USER_TOTAL];
    /* Page and total inside one read transaction, i.e. one snapshot, so
     * that a commit landing between them cannot make them disagree. */
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        bind_page_filter(qt, app_id, pattern, exclude_user_id);
        ret = sqlx_one_row(c->db, qt, sqlx_count_row, total, "user total");
        sqlx_done_q(qt);
    }
    if (ret == 0) {
        bind_page_filter(qp, app_id, pattern, exclude_user_id);
        sqlite3_bind_int(qp, 4, limit);
        sqlite3_bind_int(qp, 5, offset);
        void *v = NULL;
        ret = sqlx_collect(c->db, qp, sizeof(store_user_t), user_row, &v, n, "user page");
        sqlx_done_q(qp);
        if (ret == 0)
            *out = v;
    }
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    free(pattern);
    if (ret != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int sqlx_user_count(store_backend_t *be, int32_t app_id, int64_t *n)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_USER_COUNT];
    sqlite3_bind_int(q, 1, app_id);
    int ret = sqlx_one_row(c->db, q, sqlx_count_row, n, "user count");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

typedef struct account_dst {
    char *user_id;
    char *hash;
    size_t hash_cap;
} account_dst_t;

static int account_row(sqlite3_stmt *q, void *dst)
{
    account_dst_t *d = dst;
    char id[STORE_ID_MAX + 1];
    if (sqlx_col_text(q, 0, id, sizeof id) != 0) {
        LOGE("store account row has an oversized user_id", NULL);
        return STORE_EIO;
    }
    if (d->hash && sqlx_col_text(q, 1, d->hash, d->hash_cap) != 0)
        return STORE_EINVAL; /* the caller's buffer is too small */
    if (d->user_id)
        memcpy(d->user_id, id, strlen(id) + 1);
    return 0;
}

int sqlx_account_get(store_backend_t *be, int32_t app_id, const char *user_name,
                     char *user_id_out, char *hash_out, size_t hash_cap)
{
    account_dst_t d = {.user_id = user_id_out, .hash = hash_out, .hash_cap = hash_cap};
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_ACCOUNT_GET];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_name);
    int ret = sqlx_one_row(c->db, q, account_row, &d, "account get");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

/* ---- user status (readers) ---- */

/* Columns: user_id, custom_text, custom_status, updated_at. */
int sqlx_status_row(sqlite3_stmt *q, void *dst)
{
    store_user_status_t *u = dst;
    memset(u, 0, sizeof *u);
    if (sqlx_col_text(q, 0, u->user_id, sizeof u->user_id) != 0 ||
        sqlx_col_text(q, 1, u->custom_text, sizeof u->custom_text) != 0) {
        LOGE("store user status row has an oversized text column", NULL);
        return STORE_EIO;
    }
    u->custom_status = sqlite3_column_int(q, 2);
    u->updated_at = sqlite3_column_int64(q, 3);
    return 0;
}

int sqlx_user_status_get(store_backend_t *be, int32_t app_id, const char *const *ids,
                         size_t n, store_user_status_t *out)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_STATUS_GET];
    int ret = run(c->q[RQ_BEGIN]);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        sqlite3_bind_int(q, 1, app_id);
        bind_str(q, 2, ids[i]);
        ret = sqlx_one_row(c->db, q, sqlx_status_row, &out[i], "user status get");
        sqlx_done_q(q);
        if (ret == STORE_ENOTFOUND) {
            memset(&out[i], 0, sizeof out[i]);
            ret = 0;
        }
    }
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    return ret;
}
