/*
 * PostgreSQL backend: apps, IM users, demo app accounts and user custom
 * status (users.h, apps.h), the counterpart of store_sqlite_users.c, plus
 * the writer's user checks the other files share (pgx_user_check,
 * pgx_user_live).
 *
 * Round trips: one per op, except user_import (one per row, each in its
 * own row savepoint as in SQLite, plus one to undo a refused row).  Where
 * SQLite runs a check and then a write (status set), or a page and then
 * its total in one read transaction (user page), one statement does both
 * here: a single statement sees a single snapshot.
 *
 * Account names are case-insensitive for ASCII only (SQLite's NOCASE):
 * lower() under the C collation folds ASCII only, and the schema's unique
 * index on (app_id, lower(user_name)) both enforces it and serves the
 * lookup.
 */
#include "server/store/pg/store_pg_int.h"

#include "server/core/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define APP_COLS "app_id, secret, admin_id, login_policy, max_per_platform, settings, created_at"
#define USER_COLS                                                                    \
    "app_id, user_id, nick_name, photo, user_sex, birth_day, location, "            \
    "self_signature, friend_allow_type, forbidden_flag, disable_add_friend, "       \
    "silent_flag, user_type, del_flag, extra, created_at, updated_at"

/* ---- writes ---- */

/* created_at is deliberately absent from the update list: it records when
 * the app was first stored, whatever later puts carry. */
static pgq_t Q_APP_PUT = PGQ(
    "INSERT INTO app(" APP_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT(app_id) DO UPDATE SET secret = EXCLUDED.secret, "
    "admin_id = EXCLUDED.admin_id, login_policy = EXCLUDED.login_policy, "
    "max_per_platform = EXCLUDED.max_per_platform, settings = EXCLUDED.settings");

int pgx_app_put(store_backend_t *be, const store_app_t *a)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, a->app_id);
    pgp_str(&p, a->secret);
    pgp_str(&p, a->admin_id);
    pgp_int(&p, a->login_policy);
    pgp_int(&p, a->max_per_platform);
    pgp_str(&p, a->settings);
    pgp_i64(&p, a->created_at);
    return pgw_run(be, &Q_APP_PUT, &p, NULL, "app put");
}

/* A plain INSERT: an existing key, deleted or not, is a conflict. */
static pgq_t Q_USER_INSERT = PGQ(
    "INSERT INTO im_user(" USER_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, 0, $14, $15, $15)");

/* The account takes the user_id the user insert returned: both or
 * neither (a conflict on either fails the statement). */
static pgq_t Q_REGISTER = PGQ(
    "WITH u AS (INSERT INTO im_user(" USER_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, 0, $14, $15, $15) RETURNING app_id, user_id) "
    "INSERT INTO app_account(app_id, user_name, user_id, password_hash, created_at) "
    "SELECT app_id, $16, user_id, $17, $15 FROM u");

/* Parameters $1..$15 of a user insert. */
static void user_params(pgp_t *p, const store_user_t *u, int64_t now_ms)
{
    pgp_int(p, u->app_id);
    pgp_str(p, u->user_id);
    pgp_str(p, u->nick_name);
    pgp_str(p, u->photo);
    pgp_int(p, u->user_sex);
    pgp_str(p, u->birth_day);
    pgp_str(p, u->location);
    pgp_str(p, u->self_signature);
    pgp_int(p, u->friend_allow_type);
    pgp_int(p, u->forbidden_flag);
    pgp_int(p, u->disable_add_friend);
    pgp_int(p, u->silent_flag);
    pgp_int(p, u->user_type);
    pgp_str(p, u->extra);
    pgp_i64(p, now_ms);
}

int pgx_user_import(store_backend_t *be, const store_user_t *users, int *row_rc, size_t n,
                    int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        if (row_rc[i] != 0)
            continue;
        if (pgw_row_begin(be) != 0)
            return STORE_EIO;
        pgp_t p = PGP_INIT;
        user_params(&p, &users[i], now_ms);
        int rc = pgw_run(be, &Q_USER_INSERT, &p, NULL, "user import");
        if (rc == STORE_EIO)
            return STORE_EIO; /* not the row's fault: fail the op */
        row_rc[i] = rc;
        if (pgw_row_end(be, rc != 0) != 0)
            return STORE_EIO;
    }
    return 0;
}

/* One statement for every field mask: an unmasked field is NULL, which
 * coalesce turns into "keep the column" (every column is NOT NULL, so
 * NULL can never be a value to store). */
static pgq_t Q_USER_UPDATE = PGQ(
    "UPDATE im_user SET nick_name = coalesce($3, nick_name), "
    "photo = coalesce($4, photo), user_sex = coalesce($5, user_sex), "
    "birth_day = coalesce($6, birth_day), location = coalesce($7, location), "
    "self_signature = coalesce($8, self_signature), "
    "friend_allow_type = coalesce($9, friend_allow_type), "
    "forbidden_flag = coalesce($10, forbidden_flag), "
    "disable_add_friend = coalesce($11, disable_add_friend), "
    "silent_flag = coalesce($12, silent_flag), user_type = coalesce($13, user_type), "
    "extra = coalesce($14, extra), updated_at = $15 "
    "WHERE app_id = $1 AND user_id = $2 AND del_flag = 0");

static void str_if(pgp_t *p, unsigned mask, unsigned bit, const char *v)
{
    pgp_str(p, (mask & bit) ? v : NULL);
}

static void int_if(pgp_t *p, unsigned mask, unsigned bit, int v)
{
    if (mask & bit)
        pgp_int(p, v);
    else
        pgp_null(p);
}

int pgx_user_update(store_backend_t *be, const store_user_t *u, unsigned mask, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, u->app_id);
    pgp_str(&p, u->user_id);
    str_if(&p, mask, STORE_USER_F_NICK_NAME, u->nick_name);
    str_if(&p, mask, STORE_USER_F_PHOTO, u->photo);
    int_if(&p, mask, STORE_USER_F_USER_SEX, u->user_sex);
    str_if(&p, mask, STORE_USER_F_BIRTH_DAY, u->birth_day);
    str_if(&p, mask, STORE_USER_F_LOCATION, u->location);
    str_if(&p, mask, STORE_USER_F_SELF_SIGNATURE, u->self_signature);
    int_if(&p, mask, STORE_USER_F_FRIEND_ALLOW_TYPE, u->friend_allow_type);
    int_if(&p, mask, STORE_USER_F_FORBIDDEN_FLAG, u->forbidden_flag);
    int_if(&p, mask, STORE_USER_F_DISABLE_ADD_FRIEND, u->disable_add_friend);
    int_if(&p, mask, STORE_USER_F_SILENT_FLAG, u->silent_flag);
    int_if(&p, mask, STORE_USER_F_USER_TYPE, u->user_type);
    str_if(&p, mask, STORE_USER_F_EXTRA, u->extra);
    pgp_i64(&p, now_ms);
    PGresult *r;
    int rc = pgw_run(be, &Q_USER_UPDATE, &p, &r, "user update");
    if (rc != 0)
        return rc;
    if (strcmp(PQcmdTuples(r), "0") == 0)
        rc = STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

/* Every live user among the ids in one statement; the ones it returns
 * were deleted now. */
static pgq_t Q_USER_DELETE = PGQ(
    "UPDATE im_user SET del_flag = 1, updated_at = $3 "
    "WHERE app_id = $1 AND user_id = ANY($2::text[]) AND del_flag = 0 RETURNING user_id");

typedef struct deleted {
    const char *id;
    int used;
} deleted_t;

static int deleted_cmp(const void *a, const void *b)
{
    return strcmp(((const deleted_t *)a)->id, ((const deleted_t *)b)->id);
}

static int deleted_key(const void *key, const void *e)
{
    return strcmp(key, ((const deleted_t *)e)->id);
}

int pgx_user_delete(store_backend_t *be, int32_t app_id, const char (*ids)[STORE_ID_MAX + 1],
                    int *row_rc, size_t n, int64_t now_ms)
{
    /* The ids still to try (row_rc 0 on entry); the others were refused. */
    const char **todo = malloc((n ? n : 1) * sizeof *todo);
    if (!todo)
        return STORE_EIO;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (row_rc[i] == 0)
            todo[m++] = ids[i];
    if (m == 0) {
        free(todo);
        return 0;
    }
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    int rc = pgp_strv(&p, todo, m);
    free(todo);
    if (rc != 0)
        return rc;
    pgp_i64(&p, now_ms);
    PGresult *r;
    rc = pgw_run(be, &Q_USER_DELETE, &p, &r, "user delete");
    pgp_free(&p);
    if (rc != 0)
        return STORE_EIO;
    /* An id listed twice is deleted by its first entry; the next one finds
     * it deleted already (ENOTFOUND), as the row-by-row SQLite op does. */
    size_t nd = (size_t)PQntuples(r);
    deleted_t *del = malloc((nd ? nd : 1) * sizeof *del);
    if (!del) {
        PQclear(r);
        return STORE_EIO;
    }
    for (size_t j = 0; j < nd; j++) {
        del[j].id = PQgetvalue(r, (int)j, 0);
        del[j].used = 0;
    }
    qsort(del, nd, sizeof *del, deleted_cmp);
    for (size_t i = 0; i < n; i++) {
        if (row_rc[i] != 0)
            continue;
        deleted_t *d = nd ? bsearch(ids[i], del, nd, sizeof *del, deleted_key) : NULL;
        if (d && !d->used) {
            d->used = 1;
            row_rc[i] = 0;
        } else {
            row_rc[i] = STORE_ENOTFOUND;
        }
    }
    free(del);
    PQclear(r);
    return 0;
}

static pgq_t Q_ACCOUNT_INSERT = PGQ(
    "INSERT INTO app_account(app_id, user_name, user_id, password_hash, created_at) "
    "VALUES($1, $2, $3, $4, $5)");

int pgx_account_create(store_backend_t *be, int32_t app_id, const char *user_name,
                       const char *user_id, const char *password_hash, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, user_name);
    pgp_str(&p, user_id);
    pgp_str(&p, password_hash);
    pgp_i64(&p, now_ms);
    return pgw_run(be, &Q_ACCOUNT_INSERT, &p, NULL, "account create");
}

int pgx_account_register(store_backend_t *be, const store_user_t *u, const char *user_name,
                         const char *password_hash, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    user_params(&p, u, now_ms);
    pgp_str(&p, user_name);
    pgp_str(&p, password_hash);
    return pgw_run(be, &Q_REGISTER, &p, NULL, "account register");
}

/* ---- writer checks shared with the other files ---- */

static pgq_t Q_USER_STATE = PGQ(
    "SELECT del_flag, forbidden_flag, silent_flag, friend_allow_type, disable_add_friend "
    "FROM im_user WHERE app_id = $1 AND user_id = $2");

/* The state row of user_id: *found 0 when there is none (r NULL). */
static int user_state(store_backend_t *be, int32_t app_id, const char *user_id, PGresult **r,
                      int *found)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, user_id);
    int rc = pgw_run(be, &Q_USER_STATE, &p, r, "user state");
    *found = 0;
    if (rc != 0)
        return rc;
    if (PQntuples(*r) == 0) {
        PQclear(*r);
        *r = NULL;
        return 0;
    }
    *found = 1;
    return 0;
}

int pgx_user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                   int *reject)
{
    PGresult *r;
    int found;
    int rc = user_state(be, app_id, user_id, &r, &found);
    if (rc != 0)
        return rc;
    *reject = 0;
    if (!found) {
        *reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    int del = pg_int(r, 0, 0), forbidden = pg_int(r, 0, 1), silent = pg_int(r, 0, 2);
    PQclear(r);
    if (del)
        *reject = PETREL_ERR_USER_NOT_FOUND;
    else if (sender && forbidden)
        *reject = PETREL_ERR_SENDER_FORBIDDEN;
    else if (sender && silent)
        *reject = PETREL_ERR_SENDER_SILENT;
    return 0;
}

int pgx_user_live(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                  int *allow, int *no_add)
{
    PGresult *r;
    int found;
    *live = 0;
    int rc = user_state(be, app_id, user_id, &r, &found);
    if (rc != 0 || !found)
        return rc;
    *live = pg_int(r, 0, 0) == 0;
    if (allow)
        *allow = pg_int(r, 0, 3);
    if (no_add)
        *no_add = pg_int(r, 0, 4);
    PQclear(r);
    return 0;
}

/* The whole status is replaced, only for a live user (no row: ENOTFOUND). */
static pgq_t Q_STATUS_PUT = PGQ(
    "INSERT INTO im_user_status(app_id, user_id, custom_text, custom_status, updated_at) "
    "SELECT $1, $2, $3, $4, $5 WHERE EXISTS(SELECT 1 FROM im_user "
    "WHERE app_id = $1 AND user_id = $2 AND del_flag = 0) "
    "ON CONFLICT(app_id, user_id) DO UPDATE SET custom_text = EXCLUDED.custom_text, "
    "custom_status = EXCLUDED.custom_status, updated_at = EXCLUDED.updated_at");

int pgx_user_status_set(store_backend_t *be, int32_t app_id, const char *user_id,
                        const char *text, int status, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, user_id);
    pgp_str(&p, text);
    pgp_int(&p, status);
    pgp_i64(&p, now_ms);
    PGresult *r;
    int rc = pgw_run(be, &Q_STATUS_PUT, &p, &r, "user status set");
    if (rc != 0)
        return rc;
    if (strcmp(PQcmdTuples(r), "0") == 0)
        rc = STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

/* ---- reads ---- */

static int row_to_app(const PGresult *r, int row, store_app_t *a)
{
    memset(a, 0, sizeof *a);
    a->app_id = pg_int(r, row, 0);
    if (pg_text(r, row, 1, a->secret, sizeof a->secret) != 0 ||
        pg_text(r, row, 2, a->admin_id, sizeof a->admin_id) != 0 ||
        pg_text(r, row, 5, a->settings, sizeof a->settings) != 0) {
        LOGE("store app row has an oversized text column", "app_id=%d", (int)a->app_id);
        return STORE_EIO;
    }
    a->login_policy = pg_int(r, row, 3);
    a->max_per_platform = pg_int(r, row, 4);
    a->created_at = pg_i64(r, row, 6);
    return 0;
}

/* Columns in USER_COLS order, from column c0 on. */
static int row_to_user(const PGresult *r, int row, int c0, store_user_t *u)
{
    memset(u, 0, sizeof *u);
    u->app_id = pg_int(r, row, c0 + 0);
    if (pg_text(r, row, c0 + 1, u->user_id, sizeof u->user_id) != 0 ||
        pg_text(r, row, c0 + 2, u->nick_name, sizeof u->nick_name) != 0 ||
        pg_text(r, row, c0 + 3, u->photo, sizeof u->photo) != 0 ||
        pg_text(r, row, c0 + 5, u->birth_day, sizeof u->birth_day) != 0 ||
        pg_text(r, row, c0 + 6, u->location, sizeof u->location) != 0 ||
        pg_text(r, row, c0 + 7, u->self_signature, sizeof u->self_signature) != 0 ||
        pg_text(r, row, c0 + 14, u->extra, sizeof u->extra) != 0) {
        LOGE("store user row has an oversized text column", "app_id=%d", (int)u->app_id);
        return STORE_EIO;
    }
    u->user_sex = pg_int(r, row, c0 + 4);
    u->friend_allow_type = pg_int(r, row, c0 + 8);
    u->forbidden_flag = pg_int(r, row, c0 + 9);
    u->disable_add_friend = pg_int(r, row, c0 + 10);
    u->silent_flag = pg_int(r, row, c0 + 11);
    u->user_type = pg_int(r, row, c0 + 12);
    u->del_flag = pg_int(r, row, c0 + 13);
    u->created_at = pg_i64(r, row, c0 + 15);
    u->updated_at = pg_i64(r, row, c0 + 16);
    return 0;
}

static pgq_t Q_APP_GET = PGQ("SELECT " APP_COLS " FROM app WHERE app_id = $1");
static pgq_t Q_APP_LIST = PGQ("SELECT " APP_COLS " FROM app ORDER BY app_id");

int pgx_app_get(store_backend_t *be, int32_t app_id, store_app_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    PGresult *r;
    int rc = pgr_query(be, &Q_APP_GET, &p, &r, "app get");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 0 ? STORE_ENOTFOUND : row_to_app(r, 0, out);
    PQclear(r);
    return rc;
}

int pgx_app_list(store_backend_t *be, store_app_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc = pgr_query(be, &Q_APP_LIST, NULL, &r, "app list");
    if (rc != 0)
        return rc;
    size_t k = (size_t)PQntuples(r);
    store_app_t *v = k ? calloc(k, sizeof *v) : NULL;
    if (k && !v)
        rc = STORE_EIO;
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = row_to_app(r, (int)i, &v[i]);
    PQclear(r);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

static pgq_t Q_USER_GET = PGQ("SELECT " USER_COLS " FROM im_user "
                              "WHERE app_id = $1 AND user_id = $2");

int pgx_user_get(store_backend_t *be, int32_t app_id, const char *user_id, store_user_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, user_id);
    PGresult *r;
    int rc = pgr_query(be, &Q_USER_GET, &p, &r, "user get");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 0 ? STORE_ENOTFOUND : row_to_user(r, 0, 0, out);
    PQclear(r);
    return rc;
}

/* The filter shared by a user page and its total.  ILIKE under the C
 * collation is ASCII case-insensitive like SQLite's LIKE; the pattern
 * arrives escaped with '\'. */
#define USER_PAGE_WHERE                                                             \
    "WHERE app_id = $1 AND del_flag = 0 "                                           \
    "AND ($2::text IS NULL OR nick_name ILIKE $2::text ESCAPE '\\') "               \
    "AND ($3::text IS NULL OR user_id <> $3::text) "

/* The total and the page in one statement, hence one snapshot: the total
 * is on every row, and alone (user columns NULL) when the page is empty. */
static pgq_t Q_USER_PAGE = PGQ(
    "SELECT t.total, u.* FROM (SELECT count(*) AS total FROM im_user " USER_PAGE_WHERE ") t "
    "LEFT JOIN LATERAL (SELECT " USER_COLS " FROM im_user " USER_PAGE_WHERE
    "ORDER BY user_id LIMIT $4 OFFSET $5) u ON true");

int pgx_user_page(store_backend_t *be, int32_t app_id, const char *nick_sub,
                  const char *exclude_user_id, int offset, int limit, store_user_t **out,
                  size_t *n, int64_t *total)
{
    char *pattern = NULL;
    if (nick_sub && !(pattern = store_like_pattern(nick_sub)))
        return STORE_EIO;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, pattern);
    pgp_str(&p, exclude_user_id);
    pgp_int(&p, limit);
    pgp_int(&p, offset);
    PGresult *r;
    int rc = pgr_query(be, &Q_USER_PAGE, &p, &r, "user page");
    free(pattern);
    if (rc != 0)
        return rc;
    size_t k = (size_t)PQntuples(r);
    if (k > 0)
        *total = pg_i64(r, 0, 0);
    if (k == 1 && pg_isnull(r, 0, 1))
        k = 0; /* the total alone: an empty page */
    store_user_t *v = k ? calloc(k, sizeof *v) : NULL;
    if (k && !v)
        rc = STORE_EIO;
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = row_to_user(r, (int)i, 1, &v[i]);
    PQclear(r);
    if (rc != 0) {
        free(v);
        *total = 0;
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

static pgq_t Q_USER_COUNT = PGQ("SELECT count(*) FROM im_user WHERE app_id = $1 AND del_flag = 0");

int pgx_user_count(store_backend_t *be, int32_t app_id, int64_t *n)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    PGresult *r;
    int rc = pgr_query(be, &Q_USER_COUNT, &p, &r, "user count");
    if (rc != 0)
        return rc;
    *n = pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* By the unique index on (app_id, lower(user_name)). */
static pgq_t Q_ACCOUNT_GET = PGQ(
    "SELECT user_id, password_hash FROM app_account "
    "WHERE app_id = $1 AND lower(user_name) = lower($2::text COLLATE \"C\")");

int pgx_account_get(store_backend_t *be, int32_t app_id, const char *user_name,
                    char *user_id_out, char *hash_out, size_t hash_cap)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, user_name);
    PGresult *r;
    int rc = pgr_query(be, &Q_ACCOUNT_GET, &p, &r, "account get");
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_ENOTFOUND;
    }
    char id[STORE_ID_MAX + 1];
    if (pg_text(r, 0, 0, id, sizeof id) != 0) {
        LOGE("store account row has an oversized user_id", NULL);
        rc = STORE_EIO;
    } else if (hash_out && (size_t)PQgetlength(r, 0, 1) >= hash_cap) {
        rc = STORE_EINVAL; /* the caller's buffer is too small */
    } else {
        if (hash_out)
            pg_text(r, 0, 1, hash_out, hash_cap);
        if (user_id_out)
            memcpy(user_id_out, id, strlen(id) + 1);
    }
    PQclear(r);
    return rc;
}

/* The statuses of a set of ids in one statement (one snapshot). */
static pgq_t Q_STATUS_GET = PGQ(
    "SELECT user_id, custom_text, custom_status, updated_at FROM im_user_status "
    "WHERE app_id = $1 AND user_id = ANY($2::text[])");

static int status_cmp(const void *a, const void *b)
{
    return strcmp(((const store_user_status_t *)a)->user_id,
                  ((const store_user_status_t *)b)->user_id);
}

static int status_key(const void *key, const void *e)
{
    return strcmp(key, ((const store_user_status_t *)e)->user_id);
}

int pgx_user_status_get(store_backend_t *be, int32_t app_id, const char *const *ids, size_t n,
                        store_user_status_t *out)
{
    if (n == 0)
        return 0;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    int rc = pgp_strv(&p, ids, n);
    if (rc != 0)
        return rc;
    PGresult *r;
    rc = pgr_query(be, &Q_STATUS_GET, &p, &r, "user status get");
    pgp_free(&p);
    if (rc != 0)
        return rc;
    size_t k = (size_t)PQntuples(r);
    store_user_status_t *rows = calloc(k ? k : 1, sizeof *rows);
    if (!rows)
        rc = STORE_EIO;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        if (pg_text(r, (int)i, 0, rows[i].user_id, sizeof rows[i].user_id) != 0 ||
            pg_text(r, (int)i, 1, rows[i].custom_text, sizeof rows[i].custom_text) != 0) {
            LOGE("store user status row has an oversized text column", NULL);
            rc = STORE_EIO;
            break;
        }
        rows[i].custom_status = pg_int(r, (int)i, 2);
        rows[i].updated_at = pg_i64(r, (int)i, 3);
    }
    PQclear(r);
    if (rc == 0) {
        /* Back in the order asked; an id without a row gets the empty status. */
        qsort(rows, k, sizeof *rows, status_cmp);
        for (size_t i = 0; i < n; i++) {
            const store_user_status_t *s =
                k ? bsearch(ids[i], rows, k, sizeof *rows, status_key) : NULL;
            if (s)
                out[i] = *s;
            else
                memset(&out[i], 0, sizeof out[i]);
        }
    }
    free(rows);
    return rc;
}
