/*
 * A PostgreSQL server of the unit test's own (scripts/pg-test-server.sh:
 * initdb into a temp dir, a free loopback port, trust authentication for
 * the role petrel; as root it runs as the postgres user), shared by the
 * store/pg unit tests.  pg_server_open: 0 when it runs (s->base is the
 * base URL), 1 when PostgreSQL is not installed (the caller skips), -1 on
 * failure.  pg_server_script restarts or stops it mid-test.
 */
#ifndef PETREL_TEST_PG_SERVER_H
#define PETREL_TEST_PG_SERVER_H

#include "free_port.h"

#include <libpq-fe.h>

#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct pg_server {
    char dir[64];   /* mkdtemp: the cluster and its socket */
    char base[128]; /* postgres://petrel@127.0.0.1:PORT */
    int port;
    int up;
    int ndb; /* databases the test made (for unique names) */
} pg_server_t;


/* "start" or "stop"; start copies the URL it prints into s->base.  0 on success. */
static int pg_server_script(pg_server_t *s, const char *cmd)
{
    char line[512];
    snprintf(line, sizeof line, "bash '%s/scripts/pg-test-server.sh' %s '%s' %d 2>&1",
             PETREL_SOURCE_DIR, cmd, s->dir, s->port);
    FILE *p = popen(line, "r");
    if (!p)
        return -1;
    char out[512];
    while (fgets(out, sizeof out, p)) {
        out[strcspn(out, "\n")] = 0;
        if (!strncmp(out, "postgres://", 11) && strlen(out) < sizeof s->base)
            memcpy(s->base, out, strlen(out) + 1);
        else
            fprintf(stderr, "pg-test-server: %s\n", out);
    }
    return pclose(p) == 0 ? 0 : -1;
}

static int pg_server_open(pg_server_t *s, const char *tag)
{
    glob_t g;
    int installed = glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    if (!installed) {
        fprintf(stderr, "PostgreSQL is not installed (scripts/deps.sh test): skipping\n");
        return 1;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/petrel-%s-XXXXXX", tag);
    if (!mkdtemp(s->dir))
        return -1;
    for (int i = 0; i < 3 && !s->up; i++) {
        s->port = test_free_port();
        s->up = s->port > 0 && pg_server_script(s, "start") == 0;
    }
    return s->up ? 0 : -1;
}

static int pg_server_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void pg_server_close(pg_server_t *s)
{
    if (!s->dir[0])
        return;
    pg_server_script(s, "stop");
    nftw(s->dir, pg_server_rm, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = 0;
}

/* ---- a fresh database per test (cmocka setup/teardown) ---- */

typedef struct pg_fixture {
    char url[192];
    char data_dir[64]; /* unused by PostgreSQL, required by store_open */
    int made;
} pg_fixture_t;

/* *state = a pg_fixture_t with a new database <prefix><n> of s (nothing
 * when the server is not up: the test skips).  0 or -1. */
static inline int pg_fixture_setup(pg_server_t *s, void **state, const char *prefix)
{
    pg_fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    if (!s->up)
        return 0;
    char admin[192], sql[64];
    snprintf(admin, sizeof admin, "%s/postgres", s->base);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s%d", prefix, ++s->ndb);
    PGconn *c = PQconnectdb(admin);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    snprintf(f->url, sizeof f->url, "%s/%s%d", s->base, prefix, s->ndb);
    snprintf(f->data_dir, sizeof f->data_dir, "/tmp/petrel-pgtest-data-XXXXXX");
    f->made = ok && mkdtemp(f->data_dir) != NULL;
    return f->made ? 0 : -1;
}

static inline int pg_fixture_teardown(void **state)
{
    pg_fixture_t *f = *state;
    if (f->made)
        nftw(f->data_dir, pg_server_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

#endif
