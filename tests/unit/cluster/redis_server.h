/*
 * A Redis server of the unit test's own (scripts/redis-test-server.sh: no
 * persistence, a free loopback port, its files in a temp dir), shared by
 * the cluster/ unit tests.  redis_server_open: 0 when it runs (s->url,
 * s->port), 1 when redis-server is not installed (the caller skips), -1 on
 * failure.  redis_server_script restarts ("start") or stops it mid-test.
 */
#ifndef PETREL_TEST_REDIS_SERVER_H
#define PETREL_TEST_REDIS_SERVER_H

#include "free_port.h"
#include "server/cluster/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct redis_server {
    char dir[64];  /* mkdtemp: pid file and log */
    char url[128]; /* redis://127.0.0.1:PORT */
    int port;
    int up;
} redis_server_t;


/* "start" or "stop".  0 on success. */
static int redis_server_script(redis_server_t *s, const char *cmd)
{
    char line[512];
    snprintf(line, sizeof line, "bash '%s/scripts/redis-test-server.sh' %s '%s' %d 2>&1",
             PETREL_SOURCE_DIR, cmd, s->dir, s->port);
    FILE *p = popen(line, "r");
    if (!p)
        return -1;
    char out[512];
    while (fgets(out, sizeof out, p)) {
        out[strcspn(out, "\n")] = 0;
        if (!strncmp(out, "redis://", 8) && strlen(out) < sizeof s->url)
            memcpy(s->url, out, strlen(out) + 1);
        else
            fprintf(stderr, "redis-test-server: %s\n", out);
    }
    int rc = pclose(p) == 0 ? 0 : -1;
    s->up = !strcmp(cmd, "start") && rc == 0;
    return rc;
}

static int redis_server_open(redis_server_t *s, const char *tag)
{
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        fprintf(stderr, "redis-server is not installed (scripts/deps.sh test): skipping\n");
        return 1;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/petrel-%s-XXXXXX", tag);
    if (!mkdtemp(s->dir))
        return -1;
    for (int i = 0; i < 3 && !s->up; i++) {
        s->port = test_free_port();
        if (s->port > 0)
            redis_server_script(s, "start");
    }
    return s->up ? 0 : -1;
}

static void redis_server_close(redis_server_t *s)
{
    if (s->dir[0]) {
        redis_server_script(s, "stop");
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "redis-server: cannot remove %s\n", s->dir);
    }
    s->up = 0;
}

/* redis_server_open, then *cf (cluster/redis.h) for it with a command timeout of timeout_ms
 * (0 keeps rconf's default).  0; 1 not installed (skip); -1 failure. */
static int redis_server_conf(redis_server_t *s, const char *tag, rconf_t *cf, int timeout_ms)
{
    int rc = redis_server_open(s, tag);
    if (rc != 0)
        return rc;
    char err[128];
    if (rconf_parse(s->url, cf, err, sizeof err) < 0)
        return -1;
    if (timeout_ms)
        cf->timeout_ms = timeout_ms;
    return 0;
}

#endif
