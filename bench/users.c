/*
 * petrel-bench users: make sure the bench users exist before a run.
 *
 * petreld refuses a socket LOGIN of a user that was never imported (20001),
 * so every workload first imports bench-0 .. bench-<n-1> through the REST
 * API (POST /v1/user/importUser as the app admin, 100 users per request,
 * docs/API.md).  Users that already exist come back in errorId and count
 * as present, so re-running against the same data directory is fine.
 *
 * This is setup, outside every measured interval, so it uses a plain
 * blocking socket (one keep-alive HTTP/1.1 connection, 10 s socket
 * timeouts) rather than the event loop.  Responses are bounded (64 KiB).
 *
 * bench_admin_call() is the same for any other admin request a workload
 * needs during its setup (fanout: importGroup, importGroupMember), and
 * bench_http_get() a plain GET (the nodes' /metrics, read by metrics.c at
 * the edges of a measured interval).
 */
#include "bench.h"

#include "petrel/sign.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_BATCH   100
#define HTTP_MAX_RESP  (64 * 1024)
#define HTTP_TIMEOUT_S 10

static int http_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = HTTP_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
    for (size_t off = 0, guard = 0; off < len && guard < 100000; guard++) {
        ssize_t n = send(fd, p + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Read one response; returns the HTTP status and points *body into buf. */
static int http_read(int fd, char *buf, size_t cap, const char **body)
{
    size_t len = 0;
    long clen = -1;
    char *hend = NULL;
    for (int guard = 0; guard < 100000; guard++) {
        if (hend && clen >= 0 && len >= (size_t)(hend - buf) + 4 + (size_t)clen)
            break;
        if (len >= cap - 1)
            return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (!hend && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            if (!cl || cl > hend)
                return -1;
            clen = strtol(cl + 17, NULL, 10);
            if (clen < 0 || (size_t)clen > cap / 2)
                return -1;
        }
    }
    if (!hend || clen < 0 || len < (size_t)(hend - buf) + 4 + (size_t)clen)
        return -1;
    hend[4 + clen] = '\0';
    *body = hend + 4;
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* One importUser request for bench-first .. bench-(first+count-1). */
static int import_batch(int fd, const bench_opts_t *o, const char *query, uint32_t first,
                        uint32_t count, uint64_t *added, uint64_t *existing)
{
    char body[IMPORT_BATCH * 40 + 64];
    size_t bl = 0;
    int n = snprintf(body, sizeof body, "{\"userData\":[");
    bl = (size_t)n;
    for (uint32_t i = 0; i < count; i++) {
        n = snprintf(body + bl, sizeof body - bl, "%s{\"userId\":\"bench-%" PRIu32 "\"}",
                     i ? "," : "", first + i);
        if (n < 0 || (size_t)n >= sizeof body - bl)
            return -1;
        bl += (size_t)n;
    }
    n = snprintf(body + bl, sizeof body - bl, "]}");
    if (n < 0 || (size_t)n >= sizeof body - bl)
        return -1;
    bl += (size_t)n;

    char req[PETREL_SIGN_MAX_TOKEN + 512];
    n = snprintf(req, sizeof req,
                 "POST /v1/user/importUser?%s HTTP/1.1\r\nHost: bench\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 query, bl);
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    if (send_all(fd, req, (size_t)n) < 0 || send_all(fd, body, bl) < 0)
        return -1;

    static char resp[HTTP_MAX_RESP];
    const char *rbody;
    int status = http_read(fd, resp, sizeof resp, &rbody);
    if (status != 200) {
        fprintf(stderr, "petrel-bench: importUser: HTTP %d %.200s\n", status,
                status > 0 ? rbody : "(no response)");
        return -1;
    }
    json_error_t jerr;
    json_t *j = json_loads(rbody, 0, &jerr);
    json_t *data = json_object_get(j, "data");
    json_int_t code = json_integer_value(json_object_get(j, "code"));
    if (code != 200 || !json_is_object(data)) {
        fprintf(stderr, "petrel-bench: importUser refused: %.300s\n", rbody);
        json_decref(j);
        return -1;
    }
    *added += json_array_size(json_object_get(data, "successId"));
    *existing += json_array_size(json_object_get(data, "errorId"));
    json_decref(j);
    (void)o;
    return 0;
}

static int admin_query(const bench_opts_t *o, char *query, size_t cap)
{
    char token[PETREL_SIGN_MAX_TOKEN + 1];
    if (petrel_sign_make(o->secret, o->app_id, o->admin, 3600, (int64_t)time(NULL), token,
                         sizeof token) < 0) {
        fprintf(stderr, "petrel-bench: cannot make the admin token\n");
        return -1;
    }
    int ql = snprintf(query, cap, "appId=%" PRId32 "&identifier=%s&userSign=%s", o->app_id,
                      o->admin, token);
    return ql < 0 || (size_t)ql >= cap ? -1 : 0;
}

int bench_admin_call(const bench_opts_t *o, const char *path, const char *body, size_t bl,
                     long long *code, char *out, size_t out_cap)
{
    char query[PETREL_SIGN_MAX_TOKEN + 256];
    if (!o->have_http || admin_query(o, query, sizeof query) < 0)
        return -1;
    int fd = http_connect(&o->http);
    if (fd < 0) {
        fprintf(stderr, "petrel-bench: cannot connect to %s: %s\n", o->http_str, strerror(errno));
        return -1;
    }
    char req[PETREL_SIGN_MAX_TOKEN + 1024];
    int n = snprintf(req, sizeof req,
                     "POST %s?%s HTTP/1.1\r\nHost: bench\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     path, query, bl);
    int rc = -1;
    static char resp[HTTP_MAX_RESP];
    const char *rbody;
    if (n > 0 && (size_t)n < sizeof req && send_all(fd, req, (size_t)n) == 0 &&
        send_all(fd, body, bl) == 0) {
        int status = http_read(fd, resp, sizeof resp, &rbody);
        if (status > 0) {
            json_t *j = json_loads(rbody, 0, NULL);
            *code = j ? json_integer_value(json_object_get(j, "code")) : -1;
            json_decref(j);
            if (out && out_cap)
                snprintf(out, out_cap, "%s", rbody);
            rc = status;
        }
    }
    close(fd);
    return rc;
}

int bench_http_get(const struct sockaddr_in *addr, const char *path, char *buf, size_t cap,
                   const char **body)
{
    int fd = http_connect(addr);
    if (fd < 0)
        return -1;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path);
    int status = -1;
    if (n > 0 && (size_t)n < sizeof req && send_all(fd, req, (size_t)n) == 0)
        status = http_read(fd, buf, cap, body);
    close(fd);
    return status;
}

int bench_import_users(const bench_opts_t *o, uint32_t n, uint64_t *added, uint64_t *existing)
{
    *added = *existing = 0;
    char token[PETREL_SIGN_MAX_TOKEN + 1];
    if (petrel_sign_make(o->secret, o->app_id, o->admin, 3600, (int64_t)time(NULL), token,
                         sizeof token) < 0) {
        fprintf(stderr, "petrel-bench: cannot make the admin token\n");
        return -1;
    }
    char query[PETREL_SIGN_MAX_TOKEN + 256];
    int ql = snprintf(query, sizeof query, "appId=%" PRId32 "&identifier=%s&userSign=%s", o->app_id,
                      o->admin, token);
    if (ql < 0 || (size_t)ql >= sizeof query)
        return -1;
    uint64_t t0 = bench_now_ns();
    int fd = http_connect(&o->http);
    if (fd < 0) {
        fprintf(stderr, "petrel-bench: cannot connect to %s for importUser: %s\n", o->http_str,
                strerror(errno));
        return -1;
    }
    int rc = 0;
    for (uint32_t first = 0; first < n && rc == 0; first += IMPORT_BATCH) {
        uint32_t count = n - first < IMPORT_BATCH ? n - first : IMPORT_BATCH;
        rc = import_batch(fd, o, query, o->first_user + first, count, added, existing);
    }
    close(fd);
    if (rc == 0)
        fprintf(stderr, "petrel-bench: users bench-%" PRIu32 "..bench-%" PRIu32 ": %" PRIu64
                        " imported, %" PRIu64 " already there (%.2f s)\n",
                o->first_user, o->first_user + n - 1, *added, *existing, (double)(bench_now_ns() - t0) / 1e9);
    return rc;
}
