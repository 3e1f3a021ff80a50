/*
 * The fixture shared by the store unit tests that need a fresh store with
 * users in it (test_store_friends.c, test_store_groups.c): each test gets
 * a new mkdtemp directory under /tmp, named after STORE_FIXTURE_NAME, with
 * a store holding alice, bob, carol, dave (friend_allow_type 1) and vera
 * (2: verify) in app APP; the directory is removed afterwards.  Include it
 * after cmocka.h, with APP and STORE_FIXTURE_NAME defined.
 */
#ifndef PETREL_TEST_STORE_FIXTURE_H
#define PETREL_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/store/store.h"

typedef struct fixture {
    char dir[64];
    char data_dir[128];
    char db_path[160];
    store_t *st;
} fixture_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static store_t *open_store(fixture_t *f)
{
    store_config_t cfg = {.data_dir = f->data_dir};
    store_t *st = NULL;
    assert_int_equal(store_open(&cfg, &st), 0);
    assert_non_null(st);
    return st;
}

/* alice, bob, carol, dave (friend_allow_type 1) and vera (2: verify). */
static void import_users(store_t *st)
{
    const char *ids[] = {"alice", "bob", "carol", "dave", "vera"};
    store_user_t u[5];
    int res[5];
    memset(u, 0, sizeof u);
    for (size_t i = 0; i < 5; i++) {
        u[i].app_id = APP;
        snprintf(u[i].user_id, sizeof u[i].user_id, "%s", ids[i]);
        snprintf(u[i].nick_name, sizeof u[i].nick_name, "Nick %s", ids[i]);
        u[i].friend_allow_type = i == 4 ? 2 : 1;
        u[i].user_type = 1;
    }
    assert_int_equal(store_user_import_sync(st, u, 5, res), 0);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(res[i], 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/petrel-" STORE_FIXTURE_NAME "-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->data_dir, sizeof f->data_dir, "%s/data", f->dir);
    snprintf(f->db_path, sizeof f->db_path, "%s/petrel.db", f->data_dir);
    f->st = open_store(f);
    import_users(f->st);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

#endif
