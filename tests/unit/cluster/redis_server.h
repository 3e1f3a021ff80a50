/*
 * A Redis server of the unit test's own (scripts/redis-test-server.sh: no
 * persistence, a free loopback port, its files in a temp dir), shared by
 * the cluster/ unit tests.  redis_server_open: 0 when it runs (s->url,
 * s->port), 1 when redis-server is not installed (the caller skips), -1 on
 * failure.  redis_server_script restarts ("start") or stops it mid-test.
 */
#ifndef PETREL_TEST_REDIS_SERVER_H
#define PETREL_TEST_REDIS_SERVER_H

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct redis_server {
    char dir[64];  /* mkdtemp: pid file and log */
    char url[128]; /* redis://127.0.0.1:PORT */
    int port;
    int up;
} redis_server_t;

static int redis_server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

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
        s->port = redis_server_free_port();
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

#endif
