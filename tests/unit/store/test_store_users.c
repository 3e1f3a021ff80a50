/*
 * Unit tests for the store's users and demo-app accounts (store.h, schema
 * version 2) and for what came with them: the pooled read connections
 * (many threads in *_sync reads while the writer commits) and the
 * commit-latency histogram.  Each test gets a fresh mkdtemp directory,
 * removed afterwards; an independent sqlite3 connection checks what is
 * really on disk where the API cannot tell (schema, migration from v1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store.h"

#define APP 1400000001

typedef struct fixture {
    char dir[64];
    char data_dir[128];
    char db_path[160];
} fixture_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/petrel-users-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->data_dir, sizeof f->data_dir, "%s/data", f->dir);
    snprintf(f->db_path, sizeof f->db_path, "%s/petrel.db", f->data_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static store_t *open_store_cfg(fixture_t *f, int read_conns, int busy_ms)
{
    store_config_t cfg = {.data_dir = f->data_dir, .read_conns = read_conns,
                          .busy_timeout_ms = busy_ms};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    assert_non_null(st);
    return st;
}

static store_t *open_store(fixture_t *f)
{
    return open_store_cfg(f, 0, 0);
}

static sqlite3 *raw_open(fixture_t *f)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A user with every field set to something recognisable. */
static store_user_t make_user(int32_t app, const char *id, const char *nick)
{
    store_user_t u;
    memset(&u, 0, sizeof u);
    u.app_id = app;
    snprintf(u.user_id, sizeof u.user_id, "%s", id);
    snprintf(u.nick_name, sizeof u.nick_name, "%s", nick);
    snprintf(u.photo, sizeof u.photo, "https://img.example/%s.png", id);
    u.user_sex = 2;
    snprintf(u.birth_day, sizeof u.birth_day, "1990-01-02");
    snprintf(u.location, sizeof u.location, "Lisbon");
    snprintf(u.self_signature, sizeof u.self_signature, "hi from %s", id);
    u.friend_allow_type = 2;
    u.forbidden_flag = 0;
    u.disable_add_friend = 1;
    u.silent_flag = 0;
    u.user_type = 1;
    snprintf(u.extra, sizeof u.extra, "{\"k\":\"%s\"}", id);
    return u;
}

/* Compares what a caller writes (not del_flag or the timestamps). */
static void assert_user_fields(const store_user_t *a, const store_user_t *b)
{
    assert_int_equal(a->app_id, b->app_id);
    assert_string_equal(a->user_id, b->user_id);
    assert_string_equal(a->nick_name, b->nick_name);
    assert_string_equal(a->photo, b->photo);
    assert_int_equal(a->user_sex, b->user_sex);
    assert_string_equal(a->birth_day, b->birth_day);
    assert_string_equal(a->location, b->location);
    assert_string_equal(a->self_signature, b->self_signature);
    assert_int_equal(a->friend_allow_type, b->friend_allow_type);
    assert_int_equal(a->forbidden_flag, b->forbidden_flag);
    assert_int_equal(a->disable_add_friend, b->disable_add_friend);
    assert_int_equal(a->silent_flag, b->silent_flag);
    assert_int_equal(a->user_type, b->user_type);
    assert_string_equal(a->extra, b->extra);
}

static void import_ok(store_t *st, const store_user_t *u, size_t n)
{
    int *res = calloc(n, sizeof *res);
    assert_non_null(res);
    assert_int_equal(store_user_import_sync(st, u, n, res), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(res[i], 0);
    free(res);
}

static void import_one(store_t *st, int32_t app, const char *id, const char *nick)
{
    store_user_t u = make_user(app, id, nick);
    import_ok(st, &u, 1);
}

static int64_t live_count(store_t *st, int32_t app)
{
    int64_t n = -1;
    assert_int_equal(store_user_count_sync(st, app, &n), 0);
    return n;
}

/* Async completion record: copies the results array at callback time, to
 * prove it is filled before done runs. */
typedef struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int rc;
    int *results;     /* the array handed to the store */
    int seen[8];      /* its content when done ran */
    size_t n;
} rec_t;

static void rec_init(rec_t *r, int *results, size_t n)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->results = results;
    r->n = n;
}

static void rec_cb(void *arg, int rc)
{
    rec_t *r = arg;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n && i < 8; i++)
        r->seen[i] = r->results[i];
    r->rc = rc;
    r->calls++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void rec_wait(rec_t *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->calls == 0)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void rec_destroy(rec_t *r)
{
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* ------------------------------------------------------------------ */

static void test_schema_v2(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    assert_int_equal(store_schema_version(st), 8);
    store_close(st);

    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations WHERE version = 2"), 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                 "AND name IN ('im_user', 'app_account')"), 2);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
                                 "AND tbl_name = 'im_user' AND name = 'im_user_nick'"), 1);
    /* petrel never stores IM user passwords. */
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('im_user') "
                                 "WHERE name LIKE '%pass%'"), 0);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('im_user')"), 17);
    /* Column defaults. */
    raw_exec(db, "INSERT INTO im_user(app_id, user_id, created_at, updated_at) "
                 "VALUES(1, 'd', 5, 5)");
    assert_int_equal(raw_int(db, "SELECT friend_allow_type * 1000 + user_type * 100 + del_flag "
                                 "+ forbidden_flag + silent_flag + disable_add_friend + user_sex "
                                 "FROM im_user WHERE user_id = 'd'"), 1100);
    assert_int_equal(raw_int(db, "SELECT nick_name || photo || birth_day || location || "
                                 "self_signature || extra = '' FROM im_user"), 1);
    sqlite3_close(db);
}

/* A database left at version 1 by an older binary gains the user tables
 * on open, keeping its apps. */
static void test_migrate_from_v1(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    store_close(st);
    sqlite3 *db = raw_open(f);
    raw_exec(db, "DROP TABLE im_message_body; DROP TABLE im_message_history; "
                 "DROP TABLE im_conversation_seq; DROP TABLE im_conversation; "
                 "DROP TABLE im_friend_group_member; DROP TABLE im_friend_group; "
                 "DROP TABLE im_friendship_request; DROP TABLE im_friendship; "
                 "DROP TABLE im_user_status; DROP TABLE im_group; DROP TABLE im_group_member; "
                 "DROP TABLE im_group_request; DROP TABLE im_group_message; "
                 "DROP TABLE im_history_applied; "
                 "DROP TABLE im_user; DROP TABLE app_account; "
                 "DELETE FROM schema_migrations WHERE version >= 2; "
                 "INSERT INTO app(app_id, secret, admin_id, created_at) VALUES(7, 's', 'a', 1)");
    assert_int_equal(raw_int(db, "SELECT max(version) FROM schema_migrations"), 1);
    sqlite3_close(db);

    st = open_store(f);
    assert_int_equal(store_schema_version(st), 8);
    store_app_t app;
    assert_int_equal(store_app_get_sync(st, 7, &app), 0);
    import_one(st, APP, "u1", "after migration");
    assert_int_equal(live_count(st, APP), 1);
    assert_int_equal(store_account_create_sync(st, APP, "n", "u1", "h"), 0);
    store_close(st);

    db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 8);
    sqlite3_close(db);
}

static void test_import_batch(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    store_user_t u[7];
    u[0] = make_user(APP, "alice", "Alice");
    u[1] = make_user(APP, "bob", "Bob");
    u[2] = make_user(APP, "alice", "Alice again");  /* duplicate within the batch */
    u[3] = make_user(APP, "carol", "Carol");
    u[3].friend_allow_type = 3;                     /* invalid */
    u[4] = make_user(APP, "", "no id");             /* invalid */
    u[5] = make_user(APP, "dave", "Dave");
    memset(u[5].nick_name, 'x', sizeof u[5].nick_name); /* unterminated: invalid */
    u[6] = make_user(APP + 1, "alice", "other app's alice"); /* other app: fine */
    int res[7];
    memset(res, 0x55, sizeof res);
    int64_t before = now_ms();
    assert_int_equal(store_user_import_sync(st, u, 7, res), 0);
    int64_t after = now_ms();
    int want[7] = {0, 0, STORE_ECONFLICT, STORE_EINVAL, STORE_EINVAL, STORE_EINVAL, 0};
    for (int i = 0; i < 7; i++)
        assert_int_equal(res[i], want[i]);
    assert_int_equal(live_count(st, APP), 2);
    assert_int_equal(live_count(st, APP + 1), 1);

    store_user_t got;
    assert_int_equal(store_user_get_sync(st, APP, "alice", &got), 0);
    assert_user_fields(&got, &u[0]); /* the first alice won */
    assert_int_equal(got.del_flag, 0);
    assert_true(got.created_at >= before && got.created_at <= after);
    assert_int_equal(got.updated_at, got.created_at);
    assert_int_equal(store_user_get_sync(st, APP + 1, "alice", &got), 0);
    assert_string_equal(got.nick_name, "other app's alice");

    /* Async, and a second import of an existing user. */
    store_user_t again[2] = {make_user(APP, "bob", "Bob 2"), make_user(APP, "erin", "Erin")};
    int res2[2] = {99, 99};
    rec_t r;
    rec_init(&r, res2, 2);
    assert_int_equal(store_user_import(st, again, 2, res2, rec_cb, &r), 0);
    memset(again, 0, sizeof again); /* inputs were copied */
    rec_wait(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.seen[0], STORE_ECONFLICT);
    assert_int_equal(r.seen[1], 0);
    rec_destroy(&r);
    assert_int_equal(store_user_get_sync(st, APP, "bob", &got), 0);
    assert_string_equal(got.nick_name, "Bob");
    assert_int_equal(store_user_get_sync(st, APP, "erin", &got), 0);

    /* Refused calls: no op, results untouched. */
    int one = 77;
    assert_int_equal(store_user_import_sync(st, u, 0, &one), STORE_EINVAL);
    assert_int_equal(store_user_import_sync(st, u, STORE_USER_BATCH_MAX + 1, &one),
                     STORE_EINVAL);
    assert_int_equal(store_user_import_sync(st, u, 1, NULL), STORE_EINVAL);
    assert_int_equal(store_user_import_sync(st, NULL, 1, &one), STORE_EINVAL);
    assert_int_equal(store_user_import(NULL, u, 1, &one, NULL, NULL), STORE_EINVAL);
    assert_int_equal(one, 77);
    store_close(st);
}

static void test_get(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    store_user_t u = make_user(APP, "u1", "One");
    import_ok(st, &u, 1);
    store_user_t got;
    assert_int_equal(store_user_get_sync(st, APP, "u1", &got), 0);
    assert_user_fields(&got, &u);
    assert_int_equal(store_user_get_sync(st, APP, "nobody", &got), STORE_ENOTFOUND);
    assert_int_equal(store_user_get_sync(st, APP + 1, "u1", &got), STORE_ENOTFOUND);
    assert_int_equal(store_user_get_sync(st, APP, "U1", &got), STORE_ENOTFOUND); /* ids are exact */
    assert_int_equal(store_user_get_sync(st, APP, "", &got), STORE_ENOTFOUND);
    char longid[STORE_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(store_user_get_sync(st, APP, longid, &got), STORE_ENOTFOUND);
    assert_int_equal(store_user_get_sync(st, APP, NULL, &got), STORE_EINVAL);
    assert_int_equal(store_user_get_sync(st, APP, "u1", NULL), STORE_EINVAL);

    /* Deleted users are still returned, flagged. */
    const char *ids[] = {"u1"};
    int res[1];
    assert_int_equal(store_user_delete_sync(st, APP, ids, 1, res), 0);
    assert_int_equal(res[0], 0);
    assert_int_equal(store_user_get_sync(st, APP, "u1", &got), 0);
    assert_int_equal(got.del_flag, 1);
    assert_user_fields(&got, &u);
    store_close(st);
}

static void test_update(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    store_user_t orig = make_user(APP, "u1", "Before");
    import_ok(st, &orig, 1);
    store_user_t before;
    assert_int_equal(store_user_get_sync(st, APP, "u1", &before), 0);
    usleep(5000); /* so updated_at moves */

    /* Every field changes in the struct; only the masked ones may land. */
    store_user_t ch = make_user(APP, "u1", "After");
    snprintf(ch.photo, sizeof ch.photo, "new-photo");
    ch.user_sex = 1;
    snprintf(ch.location, sizeof ch.location, "Porto");
    ch.friend_allow_type = 1;
    ch.silent_flag = 1;
    ch.forbidden_flag = 1;
    ch.user_type = 7;
    snprintf(ch.extra, sizeof ch.extra, "{}");
    unsigned mask = STORE_USER_F_NICK_NAME | STORE_USER_F_SILENT_FLAG | STORE_USER_F_USER_TYPE;
    assert_int_equal(store_user_update_sync(st, &ch, mask), 0);

    store_user_t got;
    assert_int_equal(store_user_get_sync(st, APP, "u1", &got), 0);
    store_user_t want = orig;
    snprintf(want.nick_name, sizeof want.nick_name, "After");
    want.silent_flag = 1;
    want.user_type = 7;
    assert_user_fields(&got, &want);
    assert_int_equal(got.created_at, before.created_at);
    assert_true(got.updated_at > before.updated_at);

    /* Every field at once, asynchronously; an empty string is a value. */
    store_user_t all = make_user(APP, "u1", "");
    all.friend_allow_type = 1;
    all.forbidden_flag = 1;
    all.user_sex = 0;
    int dummy = 0;
    rec_t r;
    rec_init(&r, &dummy, 0);
    assert_int_equal(store_user_update(st, &all, STORE_USER_F_ALL, rec_cb, &r), 0);
    rec_wait(&r);
    assert_int_equal(r.rc, 0);
    rec_destroy(&r);
    assert_int_equal(store_user_get_sync(st, APP, "u1", &got), 0);
    assert_user_fields(&got, &all);

    /* Validation looks at masked fields only. */
    store_user_t bad = make_user(APP, "u1", "x");
    bad.friend_allow_type = 9;
    assert_int_equal(store_user_update_sync(st, &bad, STORE_USER_F_FRIEND_ALLOW_TYPE),
                     STORE_EINVAL);
    memset(bad.extra, 'x', sizeof bad.extra);
    assert_int_equal(store_user_update_sync(st, &bad, STORE_USER_F_EXTRA), STORE_EINVAL);
    assert_int_equal(store_user_update_sync(st, &bad, STORE_USER_F_NICK_NAME), 0);
    assert_int_equal(store_user_update_sync(st, &bad, 0), STORE_EINVAL);
    assert_int_equal(store_user_update_sync(st, &bad, 1u << 20), STORE_EINVAL);
    assert_int_equal(store_user_update_sync(st, NULL, STORE_USER_F_NICK_NAME), STORE_EINVAL);

    /* Missing and deleted users. */
    store_user_t ghost = make_user(APP, "ghost", "g");
    assert_int_equal(store_user_update_sync(st, &ghost, STORE_USER_F_NICK_NAME),
                     STORE_ENOTFOUND);
    const char *ids[] = {"u1"};
    int res[1];
    assert_int_equal(store_user_delete_sync(st, APP, ids, 1, res), 0);
    assert_int_equal(store_user_update_sync(st, &ch, STORE_USER_F_NICK_NAME), STORE_ENOTFOUND);
    assert_int_equal(store_user_get_sync(st, APP, "u1", &got), 0);
    assert_string_equal(got.nick_name, "x"); /* unchanged by the refused update */
    store_close(st);
}

static void test_delete(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_one(st, APP, "a", "A");
    import_one(st, APP, "b", "B");
    import_one(st, APP + 1, "c", "C");
    store_user_t before;
    assert_int_equal(store_user_get_sync(st, APP, "a", &before), 0);
    usleep(5000);

    char longid[STORE_ID_MAX + 2];
    memset(longid, 'z', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    const char *ids[] = {"a", "missing", "a", NULL, "", longid, "b", "c"};
    int res[8];
    rec_t r;
    rec_init(&r, res, 8);
    assert_int_equal(store_user_delete(st, APP, ids, 8, res, rec_cb, &r), 0);
    rec_wait(&r);
    assert_int_equal(r.rc, 0);
    int want[8] = {0, STORE_ENOTFOUND, STORE_ENOTFOUND, STORE_EINVAL,
                   STORE_ENOTFOUND, STORE_ENOTFOUND, 0, STORE_ENOTFOUND /* other app */};
    for (int i = 0; i < 8; i++)
        assert_int_equal(r.seen[i], want[i]);
    rec_destroy(&r);

    assert_int_equal(live_count(st, APP), 0);
    assert_int_equal(live_count(st, APP + 1), 1);
    store_user_t got;
    assert_int_equal(store_user_get_sync(st, APP, "a", &got), 0);
    assert_int_equal(got.del_flag, 1);
    assert_true(got.updated_at > before.updated_at);
    assert_int_equal(got.created_at, before.created_at);

    /* Deleting again: not found.  Re-importing a deleted id: conflict. */
    assert_int_equal(store_user_delete_sync(st, APP, ids, 1, res), 0);
    assert_int_equal(res[0], STORE_ENOTFOUND);
    store_user_t a = make_user(APP, "a", "A reborn");
    assert_int_equal(store_user_import_sync(st, &a, 1, res), 0);
    assert_int_equal(res[0], STORE_ECONFLICT);

    assert_int_equal(store_user_delete_sync(st, APP, ids, 0, res), STORE_EINVAL);
    assert_int_equal(store_user_delete_sync(st, APP, NULL, 1, res), STORE_EINVAL);
    assert_int_equal(store_user_delete_sync(st, APP, ids, 1, NULL), STORE_EINVAL);
    store_close(st);
}

/* ids of a page, space separated, for compact assertions. */
static void page_ids(store_t *st, const char *like, const char *excl, int off, int lim,
                     char *buf, size_t cap, int64_t *total)
{
    store_user_t *v = NULL;
    size_t n = 99;
    assert_int_equal(store_user_page_sync(st, APP, like, excl, off, lim, &v, &n, total), 0);
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].del_flag, 0);
        int w = snprintf(buf + used, cap - used, "%s%s", i ? " " : "", v[i].user_id);
        assert_true(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
    if (n == 0)
        assert_null(v);
    free(v);
}

static void test_page(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    struct { const char *id, *nick; } rows[] = {
        {"u01", "alice"},   {"u02", "Alice B"}, {"u03", "bob"},     {"u04", "50% off"},
        {"u05", "50 off"},  {"u06", "a_b"},     {"u07", "axb"},     {"u08", "back\\slash"},
        {"u09", "backslash"}, {"u10", "malice"}, {"u11", "alice-deleted"},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    store_user_t u[16];
    for (size_t i = 0; i < nrows; i++)
        u[i] = make_user(APP, rows[i].id, rows[i].nick);
    import_ok(st, u, nrows);
    import_one(st, APP + 1, "x01", "alice elsewhere");
    const char *del[] = {"u11"};
    int res[1];
    assert_int_equal(store_user_delete_sync(st, APP, del, 1, res), 0);
    assert_int_equal(res[0], 0);

    char buf[512];
    int64_t total = -1;
    /* Substring, ASCII case-insensitive, deleted and other apps left out. */
    page_ids(st, "ali", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u01 u02 u10");
    assert_int_equal(total, 3);
    page_ids(st, "ALICE", "u02", 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u01 u10");
    assert_int_equal(total, 2);
    /* Wildcards in the query are literal. */
    page_ids(st, "%", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u04");
    assert_int_equal(total, 1);
    page_ids(st, "0% o", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u04");
    page_ids(st, "_", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u06");
    page_ids(st, "a_b", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u06");
    page_ids(st, "\\", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u08");
    page_ids(st, "nobody", NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "");
    assert_int_equal(total, 0);

    /* All (NULL or ""), offset/limit, total independent of the page. */
    page_ids(st, NULL, NULL, 0, 100, buf, sizeof buf, &total);
    assert_string_equal(buf, "u01 u02 u03 u04 u05 u06 u07 u08 u09 u10");
    assert_int_equal(total, 10);
    page_ids(st, "", "u01", 3, 4, buf, sizeof buf, &total);
    assert_string_equal(buf, "u05 u06 u07 u08");
    assert_int_equal(total, 9);
    page_ids(st, NULL, NULL, 8, 4, buf, sizeof buf, &total);
    assert_string_equal(buf, "u09 u10");
    assert_int_equal(total, 10);
    page_ids(st, NULL, NULL, 50, 4, buf, sizeof buf, &total);
    assert_string_equal(buf, "");
    assert_int_equal(total, 10);
    page_ids(st, NULL, NULL, -5, 0, buf, sizeof buf, &total); /* clamped: offset 0, limit 1 */
    assert_string_equal(buf, "u01");
    page_ids(st, NULL, "", 0, 2, buf, sizeof buf, NULL); /* "" excludes nothing; total optional */
    assert_string_equal(buf, "u01 u02");

    /* limit is clamped to 100. */
    store_user_t *many = calloc(150, sizeof *many);
    assert_non_null(many);
    for (int i = 0; i < 150; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%03d", i);
        many[i] = make_user(APP, id, "many");
    }
    import_ok(st, many, 150);
    free(many);
    store_user_t *v = NULL;
    size_t n = 0;
    assert_int_equal(store_user_page_sync(st, APP, "MANY", NULL, 0, 1000, &v, &n, &total), 0);
    assert_int_equal(n, 100);
    assert_int_equal(total, 150);
    assert_string_equal(v[0].user_id, "m000");
    assert_string_equal(v[99].user_id, "m099");
    store_user_t want5 = make_user(APP, "m005", "many");
    assert_user_fields(&v[5], &want5);
    free(v);

    assert_int_equal(store_user_page_sync(st, APP, NULL, NULL, 0, 10, NULL, &n, NULL),
                     STORE_EINVAL);
    store_close(st);
}

static void test_account(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    const char *hash =
        "scrypt$15$8$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=";
    assert_int_equal(store_account_create_sync(st, APP, "Alice", "user-alice", hash), 0);

    char uid[STORE_ID_MAX + 1], h[STORE_HASH_MAX + 1];
    assert_int_equal(store_account_get_sync(st, APP, "alice", uid, h, sizeof h), 0);
    assert_string_equal(uid, "user-alice");
    assert_string_equal(h, hash);
    assert_int_equal(store_account_get_sync(st, APP, "ALICE", uid, NULL, 0), 0);
    assert_int_equal(store_account_get_sync(st, APP, "Alice", NULL, h, sizeof h), 0);

    /* Names are unique per app, ignoring case. */
    assert_int_equal(store_account_create_sync(st, APP, "aLiCe", "other", hash),
                     STORE_ECONFLICT);
    rec_t r;
    int dummy = 0;
    rec_init(&r, &dummy, 0);
    assert_int_equal(store_account_create(st, APP, "ALICE", "other", hash, rec_cb, &r), 0);
    rec_wait(&r);
    assert_int_equal(r.rc, STORE_ECONFLICT);
    rec_destroy(&r);
    assert_int_equal(store_account_create_sync(st, APP + 1, "alice", "a2", "h2"), 0);
    assert_int_equal(store_account_get_sync(st, APP + 1, "Alice", uid, h, sizeof h), 0);
    assert_string_equal(uid, "a2");
    assert_string_equal(h, "h2");
    assert_int_equal(store_account_get_sync(st, APP, "alice", uid, h, sizeof h), 0);
    assert_string_equal(uid, "user-alice"); /* the conflicting creates changed nothing */

    assert_int_equal(store_account_get_sync(st, APP, "bob", uid, h, sizeof h), STORE_ENOTFOUND);
    assert_int_equal(store_account_get_sync(st, APP + 2, "alice", uid, h, sizeof h),
                     STORE_ENOTFOUND);
    assert_int_equal(store_account_get_sync(st, APP, "", uid, h, sizeof h), STORE_ENOTFOUND);
    /* The caller's hash buffer too small. */
    char small[8];
    assert_int_equal(store_account_get_sync(st, APP, "alice", uid, small, sizeof small),
                     STORE_EINVAL);
    assert_int_equal(store_account_get_sync(st, APP, NULL, uid, h, sizeof h), STORE_EINVAL);
    assert_int_equal(store_account_get_sync(st, APP, "alice", uid, h, 0), STORE_EINVAL);

    /* Argument checks on create. */
    char longhash[STORE_HASH_MAX + 2];
    memset(longhash, 'h', sizeof longhash - 1);
    longhash[sizeof longhash - 1] = '\0';
    assert_int_equal(store_account_create_sync(st, APP, "bob", "b", longhash), STORE_EINVAL);
    assert_int_equal(store_account_create_sync(st, APP, "bob", "b", longhash + 1), 0);
    assert_int_equal(store_account_get_sync(st, APP, "bob", uid, h, sizeof h), 0);
    assert_int_equal(strlen(h), STORE_HASH_MAX);
    assert_int_equal(store_account_create_sync(st, APP, "", "b", "h"), STORE_EINVAL);
    assert_int_equal(store_account_create_sync(st, APP, "carl", "", "h"), STORE_EINVAL);
    assert_int_equal(store_account_create_sync(st, APP, "carl", "c", ""), STORE_EINVAL);
    assert_int_equal(store_account_create_sync(st, APP, "carl", NULL, "h"), STORE_EINVAL);
    assert_int_equal(store_account_create(st, APP, NULL, "c", "h", NULL, NULL), STORE_EINVAL);
    store_close(st);
}

/* Register = IM user + account in one op: all or nothing, never over an
 * existing IM user (deleted ones included), race-free by the writer. */
static void test_account_register(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    char uid[STORE_ID_MAX + 1], h[STORE_HASH_MAX + 1];
    store_user_t got;

    store_user_t u = make_user(APP, "ann", "ann");
    assert_int_equal(store_account_register_sync(st, "ann", "hash-ann", &u), 0);
    assert_int_equal(store_account_get_sync(st, APP, "ANN", uid, h, sizeof h), 0);
    assert_string_equal(uid, "ann");
    assert_string_equal(h, "hash-ann");
    assert_int_equal(store_user_get_sync(st, APP, "ann", &got), 0);

    /* An imported IM user cannot be claimed: nothing is written. */
    store_user_t imp = make_user(APP, "boss", "the boss");
    int res[1];
    assert_int_equal(store_user_import_sync(st, &imp, 1, res), 0);
    assert_int_equal(res[0], 0);
    store_user_t claim = make_user(APP, "boss", "impostor");
    assert_int_equal(store_account_register_sync(st, "boss", "hash-x", &claim), STORE_ECONFLICT);
    assert_int_equal(store_account_get_sync(st, APP, "boss", uid, h, sizeof h), STORE_ENOTFOUND);
    assert_int_equal(store_user_get_sync(st, APP, "boss", &got), 0);
    assert_string_equal(got.nick_name, "the boss");

    /* Nor a deleted one. */
    const char *gone[] = {"boss"};
    assert_int_equal(store_user_delete_sync(st, APP, gone, 1, res), 0);
    assert_int_equal(store_account_register_sync(st, "boss", "hash-x", &claim), STORE_ECONFLICT);
    assert_int_equal(store_account_get_sync(st, APP, "boss", uid, h, sizeof h), STORE_ENOTFOUND);

    /* A taken account name (other case, new IM id) rolls the IM user back. */
    store_user_t other = make_user(APP, "ANN-2", "x");
    assert_int_equal(store_account_register_sync(st, "Ann", "hash-y", &other), STORE_ECONFLICT);
    assert_int_equal(store_user_get_sync(st, APP, "ANN-2", &got), STORE_ENOTFOUND);

    /* Once registered, importing the same id is a conflict too. */
    store_user_t again = make_user(APP, "ann", "imported");
    assert_int_equal(store_user_import_sync(st, &again, 1, res), 0);
    assert_int_equal(res[0], STORE_ECONFLICT);

    /* Arguments. */
    store_user_t bad = make_user(APP, "", "x");
    assert_int_equal(store_account_register_sync(st, "carl", "h", &bad), STORE_EINVAL);
    assert_int_equal(store_account_register_sync(st, "", "h", &u), STORE_EINVAL);
    assert_int_equal(store_account_register_sync(st, "carl", "", &u), STORE_EINVAL);
    assert_int_equal(store_account_register_sync(st, "carl", "h", NULL), STORE_EINVAL);
    assert_int_equal(store_account_register(NULL, "carl", "h", &u, NULL, NULL), STORE_EINVAL);
    store_close(st);
}

/* Many threads register the same new name at once: exactly one wins. */
typedef struct reg_racer {
    store_t *st;
    int idx;
    int rc;
} reg_racer_t;

static void *reg_race(void *arg)
{
    reg_racer_t *r = arg;
    store_user_t u = make_user(APP, "racy", "racy");
    char hash[32];
    snprintf(hash, sizeof hash, "hash-%d", r->idx);
    if (r->idx % 2)
        r->rc = store_account_register_sync(r->st, "racy", hash, &u);
    else {
        int res[1];
        r->rc = store_user_import_sync(r->st, &u, 1, res);
        if (r->rc == 0)
            r->rc = res[0];
    }
    return NULL;
}

static void test_account_register_race(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    enum { N = 8 };
    pthread_t t[N];
    reg_racer_t r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (reg_racer_t){st, i, -100};
        assert_int_equal(pthread_create(&t[i], NULL, reg_race, &r[i]), 0);
    }
    int wins = 0, reg_win = -1;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (r[i].rc == 0) {
            wins++;
            reg_win = i % 2;
        } else {
            assert_int_equal(r[i].rc, STORE_ECONFLICT);
        }
    }
    assert_int_equal(wins, 1);
    /* The account exists exactly when a registration won. */
    char uid[STORE_ID_MAX + 1];
    assert_int_equal(store_account_get_sync(st, APP, "racy", uid, NULL, 0),
                     reg_win == 1 ? 0 : STORE_ENOTFOUND);
    store_close(st);
}

/* ---- concurrent reads while the writer imports ---- */

#define N_SEED 200
#define N_READERS 8
#define N_BATCHES 100
#define BATCH 10

typedef struct reader {
    store_t *st;
    atomic_int *stop;
    atomic_int *running;   /* readers past their first iteration */
    atomic_long *during;   /* iterations completed while imports ran */
    int errors;
    long iterations;
} reader_t;

static void *reader_main(void *p)
{
    reader_t *r = p;
    int64_t last_count = 0;
    unsigned seed = (unsigned)(uintptr_t)p;
    while (!atomic_load(r->stop) || r->iterations < 50) {
        char id[32];
        snprintf(id, sizeof id, "seed-%03u", (seed = seed * 1103515245u + 12345u) % N_SEED);
        store_user_t u;
        if (store_user_get_sync(r->st, APP, id, &u) != 0 || strcmp(u.user_id, id) != 0)
            r->errors++;

        /* Writes only add users, so a thread's counts never go back. */
        int64_t n = 0;
        if (store_user_count_sync(r->st, APP, &n) != 0 || n < N_SEED || n < last_count)
            r->errors++;
        last_count = n;

        /* Page and total come from one snapshot: they must agree even
         * while imports commit in between. */
        store_user_t *v = NULL;
        size_t len = 0;
        int64_t total = -1;
        if (store_user_page_sync(r->st, APP, "imp", NULL, 0, 100, &v, &len, &total) != 0 ||
            (int64_t)len != (total < 100 ? total : 100))
            r->errors++;
        free(v);

        store_app_t app;
        if (store_ping_sync(r->st) != 0 || store_app_get_sync(r->st, 5, &app) != 0)
            r->errors++;
        if (r->iterations++ == 0)
            atomic_fetch_add(r->running, 1);
        if (!atomic_load(r->stop))
            atomic_fetch_add(r->during, 1);
    }
    return NULL;
}

static void run_concurrent(fixture_t *f, int read_conns)
{
    store_t *st = open_store_cfg(f, read_conns, 0);
    store_app_t app;
    memset(&app, 0, sizeof app);
    app.app_id = 5;
    app.login_policy = 3;
    assert_int_equal(store_app_put_sync(st, &app), 0);
    store_user_t *u = calloc(N_SEED > BATCH ? N_SEED : BATCH, sizeof *u);
    assert_non_null(u);
    for (int i = 0; i < N_SEED; i++) {
        char id[32];
        snprintf(id, sizeof id, "seed-%03d", i);
        u[i] = make_user(APP, id, "seed");
    }
    import_ok(st, u, N_SEED);

    atomic_int stop = 0, running = 0;
    atomic_long during = 0;
    reader_t r[N_READERS];
    pthread_t th[N_READERS];
    for (int i = 0; i < N_READERS; i++) {
        r[i] = (reader_t){.st = st, .stop = &stop, .running = &running, .during = &during};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    /* Start writing only once every reader is in the loop, so reads and
     * commits really overlap. */
    while (atomic_load(&running) < N_READERS)
        usleep(1000);
    for (int b = 0; b < N_BATCHES; b++) {
        for (int i = 0; i < BATCH; i++) {
            char id[32];
            snprintf(id, sizeof id, "imp-%02d-%02d", b, i);
            u[i] = make_user(APP, id, "imported");
        }
        import_ok(st, u, BATCH);
    }
    atomic_store(&stop, 1);
    long iters = 0;
    for (int i = 0; i < N_READERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].errors, 0);
        iters += r[i].iterations;
    }
    print_message("  read_conns %d: %ld reader iterations across %d threads, %ld during "
                  "%d imports\n", read_conns, iters, N_READERS, atomic_load(&during), N_BATCHES);
    assert_true(atomic_load(&during) > N_READERS);
    assert_int_equal(live_count(st, APP), N_SEED + N_BATCHES * BATCH);
    free(u);
    store_close(st);
}

static void test_concurrent_reads(void **state)
{
    run_concurrent(*state, 0); /* default pool (4) < 8 threads: borrowers wait */
}

static void test_concurrent_reads_one_conn(void **state)
{
    run_concurrent(*state, 1);
}

/* ---- failures and the writer thread ---- */

/* A transaction that cannot happen fails the import as a whole: done's rc
 * and every row say STORE_EIO. */
static void test_import_tx_failure(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store_cfg(f, 0, 50);
    sqlite3 *db = raw_open(f);
    raw_exec(db, "BEGIN IMMEDIATE");
    store_user_t u[2] = {make_user(APP, "a", "A"), make_user(APP, "", "invalid")};
    int res[2] = {1, 1};
    assert_int_equal(store_user_import_sync(st, u, 2, res), STORE_EIO);
    assert_int_equal(res[0], STORE_EIO);
    assert_int_equal(res[1], STORE_EIO);
    const char *ids[] = {"a"};
    assert_int_equal(store_user_delete_sync(st, APP, ids, 1, res), STORE_EIO);
    assert_int_equal(res[0], STORE_EIO);
    raw_exec(db, "ROLLBACK");
    sqlite3_close(db);

    assert_int_equal(store_user_import_sync(st, u, 2, res), 0);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], STORE_EINVAL);
    store_close(st);
}

typedef struct nested {
    store_t *st;
    atomic_int rc_import, rc_update, rc_delete, rc_account, rc_read;
    atomic_int done;
} nested_t;

static void nested_cb(void *arg, int rc)
{
    nested_t *n = arg;
    (void)rc;
    store_user_t u = make_user(APP, "n", "N");
    int res[1];
    const char *ids[] = {"n"};
    atomic_store(&n->rc_import, store_user_import_sync(n->st, &u, 1, res));
    atomic_store(&n->rc_update, store_user_update_sync(n->st, &u, STORE_USER_F_NICK_NAME));
    atomic_store(&n->rc_delete, store_user_delete_sync(n->st, APP, ids, 1, res));
    atomic_store(&n->rc_account, store_account_create_sync(n->st, APP, "n", "n", "h"));
    /* Reads are fine on the writer thread: they use the pool. */
    store_user_t got;
    atomic_store(&n->rc_read, store_user_get_sync(n->st, APP, "a", &got));
    atomic_store(&n->done, 1);
}

static void test_sync_from_callback_refused(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    nested_t n = {.st = st};
    store_user_t a = make_user(APP, "a", "A");
    int res[1];
    assert_int_equal(store_user_import(st, &a, 1, res, nested_cb, &n), 0);
    store_close(st);
    assert_int_equal(atomic_load(&n.done), 1);
    assert_int_equal(res[0], 0);
    assert_int_equal(atomic_load(&n.rc_import), STORE_EINVAL);
    assert_int_equal(atomic_load(&n.rc_update), STORE_EINVAL);
    assert_int_equal(atomic_load(&n.rc_delete), STORE_EINVAL);
    assert_int_equal(atomic_load(&n.rc_account), STORE_EINVAL);
    assert_int_equal(atomic_load(&n.rc_read), 0);
}

static void test_after_shutdown(void **state)
{
    fixture_t *f = *state;
    store_t *st = open_store(f);
    import_one(st, APP, "a", "A");
    assert_int_equal(store_shutdown(st), 0);
    store_user_t u = make_user(APP, "b", "B");
    int res[1] = {42};
    assert_int_equal(store_user_import_sync(st, &u, 1, res), STORE_ECLOSED);
    assert_int_equal(res[0], 42);
    assert_int_equal(store_user_update_sync(st, &u, STORE_USER_F_NICK_NAME), STORE_ECLOSED);
    assert_int_equal(store_account_create_sync(st, APP, "x", "y", "z"), STORE_ECLOSED);
    store_user_t got;
    assert_int_equal(store_user_get_sync(st, APP, "a", &got), 0);
    assert_int_equal(live_count(st, APP), 1);
    store_close(st);
}

/* ---- histogram ---- */

static void test_commit_histogram(void **state)
{
    fixture_t *f = *state;
    for (int i = 1; i < STORE_HIST_BUCKETS; i++)
        assert_true(store_hist_bounds_us[i] > store_hist_bounds_us[i - 1]);
    assert_int_equal(store_hist_bounds_us[0], 100);
    assert_true(store_hist_bounds_us[STORE_HIST_BUCKETS - 1] == UINT64_MAX);

    store_t *st = open_store(f);
    store_stats_t s;
    store_get_stats(st, &s);
    assert_int_equal(s.commits, 0);
    for (int i = 0; i < STORE_HIST_BUCKETS; i++)
        assert_int_equal(s.commit_hist[i], 0);

    for (int i = 0; i < 25; i++) {
        char id[16];
        snprintf(id, sizeof id, "h%02d", i);
        import_one(st, APP, id, "h");
    }
    /* A bunch of async ones too, so some batches hold several ops. */
    int res[40];
    store_user_t u[40];
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "async%02d", i);
        u[i] = make_user(APP, id, "a");
        assert_int_equal(store_user_import(st, &u[i], 1, &res[i], NULL, NULL), 0);
    }
    assert_int_equal(store_shutdown(st), 0);
    store_get_stats(st, &s);
    uint64_t sum = 0;
    int top = -1;
    for (int i = 0; i < STORE_HIST_BUCKETS; i++) {
        sum += s.commit_hist[i];
        if (s.commit_hist[i])
            top = i;
    }
    print_message("  %llu commits, max %llu us, top bucket le=%llu\n",
                  (unsigned long long)s.commits, (unsigned long long)s.commit_us_max,
                  (unsigned long long)store_hist_bounds_us[top]);
    assert_int_equal(sum, s.commits);
    assert_true(s.commits >= 26);
    /* The slowest commit sits in the highest non-empty bucket. */
    assert_true(s.commit_us_max <= store_hist_bounds_us[top]);
    if (top > 0)
        assert_true(s.commit_us_max > store_hist_bounds_us[top - 1]);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_register_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reads_one_conn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_tx_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_from_callback_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_histogram, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
