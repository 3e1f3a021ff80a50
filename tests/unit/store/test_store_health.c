/*
 * Unit tests for the store's write health (issue 14, item 17): a failed
 * write transaction sets write_failing and the probe of store_health_sync
 * clears it once writes work again; a database file (or WAL) deleted or
 * replaced while open makes the store "gone": the batch that committed
 * into the orphaned file and every later write fail with STORE_EGONE,
 * reads keep working; a writer stuck in a transaction is reported stalled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define APP 7
#define STORE_FIXTURE_NAME "health"
#include "store_fixture.h" /* setup: a fresh store in a temp dir; teardown */

static store_app_t app(int32_t id)
{
    store_app_t a;
    memset(&a, 0, sizeof a);
    a.app_id = id;
    snprintf(a.secret, sizeof a.secret, "s-%d", (int)id);
    snprintf(a.admin_id, sizeof a.admin_id, "admin");
    a.login_policy = 3;
    return a;
}

static void test_healthy(void **state)
{
    fixture_t *f = *state;
    store_app_t a = app(1);
    assert_int_equal(store_app_put_sync(f->st, &a), 0);
    store_health_t h;
    store_health_sync(f->st, &h);
    assert_int_equal(h.gone, 0);
    assert_null(h.gone_why);
    assert_int_equal(h.write_failing, 0);
    assert_int_equal(h.write_failures, 0);
    assert_int_equal(h.last_failure_ms, 0);
}

static void test_write_failure_then_probe_recovers(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    store_config_t cfg = {.data_dir = f->data_dir, .busy_timeout_ms = 50};
    assert_int_equal(store_open(&cfg, &f->st), 0);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    store_app_t a = app(2);
    assert_int_equal(store_app_put_sync(f->st, &a), STORE_EIO);
    store_health_t h;
    store_health_get(f->st, &h);
    assert_int_equal(h.write_failing, 1);
    assert_int_equal(h.write_failures, 1);
    assert_true(h.last_failure_ms > 0);
    /* still locked: the probe fails too */
    store_health_sync(f->st, &h);
    assert_int_equal(h.write_failing, 1);
    assert_int_equal(h.write_failures, 2);
    assert_int_equal(h.gone, 0);

    /* the lock goes away: the health check's probe commits and clears it,
     * without any other write, and leaves no row behind */
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    store_health_sync(f->st, &h);
    assert_int_equal(h.write_failing, 0);
    assert_int_equal(h.write_failures, 2);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM schema_migrations WHERE "
                                            "version = 0", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(store_app_put_sync(f->st, &a), 0);
}

static void gone_after(fixture_t *f, void (*damage)(fixture_t *), const char *why_part)
{
    store_app_t a = app(3);
    assert_int_equal(store_app_put_sync(f->st, &a), 0);
    damage(f);
    /* the write that commits into the orphaned file is not acked */
    store_app_t b = app(4);
    assert_int_equal(store_app_put_sync(f->st, &b), STORE_EGONE);
    store_health_t h;
    store_health_get(f->st, &h);
    assert_int_equal(h.gone, 1);
    assert_non_null(h.gone_why);
    assert_non_null(strstr(h.gone_why, why_part));
    assert_int_equal(h.write_failing, 1);
    /* and none after it, probe or not */
    assert_int_equal(store_app_put_sync(f->st, &b), STORE_EGONE);
    store_health_sync(f->st, &h);
    assert_int_equal(h.gone, 1);
    assert_int_equal(h.write_failures, 2);
    /* reads still answer */
    store_app_t got;
    assert_int_equal(store_app_get_sync(f->st, 3, &got), 0);
    assert_int_equal(store_ping_sync(f->st), 0);
    assert_string_equal(store_strerror(STORE_EGONE),
                        "database file deleted or replaced: writes refused until restart");
}

static void unlink_db(fixture_t *f)
{
    assert_int_equal(unlink(f->db_path), 0);
}

static void unlink_wal(fixture_t *f)
{
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", f->db_path);
    assert_int_equal(unlink(wal), 0);
}

static void replace_db(fixture_t *f)
{
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.new", f->db_path);
    FILE *fp = fopen(tmp, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(rename(tmp, f->db_path), 0);
}

static void test_db_deleted(void **state)
{
    gone_after(*state, unlink_db, "database file deleted");
}

static void test_wal_deleted(void **state)
{
    gone_after(*state, unlink_wal, "WAL file deleted");
}

static void test_db_replaced(void **state)
{
    gone_after(*state, replace_db, "replaced");
}

/* Found by a health check alone, with no write. */
static void test_gone_found_by_health_check(void **state)
{
    fixture_t *f = *state;
    unlink_db(f);
    store_health_t h;
    store_health_get(f->st, &h);
    assert_int_equal(h.gone, 0); /* nobody looked yet */
    store_health_sync(f->st, &h);
    assert_int_equal(h.gone, 1);
    store_app_t a = app(5);
    assert_int_equal(store_app_put_sync(f->st, &a), STORE_EGONE);
}

static void done_cb(void *arg, int rc)
{
    atomic_int *out = arg;
    atomic_store(out, rc == 0 ? 1 : -1);
}

/* A writer stuck inside a transaction (here: waiting for a lock another
 * process holds; in production a hung disk) is reported as stalled once
 * it passes stall_ms, and no longer once it moves on. */
static void test_stalled_writer(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    store_config_t cfg = {.data_dir = f->data_dir, .busy_timeout_ms = 5000, .stall_ms = 200};
    assert_int_equal(store_open(&cfg, &f->st), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    atomic_int done = 0;
    store_app_t a = app(6);
    assert_int_equal(store_app_put(f->st, &a, done_cb, &done), 0);
    usleep(50 * 1000);
    store_health_t h;
    store_health_get(f->st, &h);
    assert_int_equal(h.stalled, 0);
    assert_true(h.busy_ms > 0);
    usleep(400 * 1000);
    store_health_sync(f->st, &h);
    assert_int_equal(h.stalled, 1);
    assert_true(h.busy_ms >= 200);
    assert_int_equal(atomic_load(&done), 0); /* nothing acked meanwhile */

    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 500 && !atomic_load(&done); i++)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&done), 1);
    store_health_get(f->st, &h);
    assert_int_equal(h.stalled, 0);
    assert_int_equal(h.busy_ms, 0);
    assert_int_equal(h.write_failing, 0);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_then_probe_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gone_found_by_health_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
