/*
 * libpetrel HTTP client (see include/petrel/http.h): one blocking POST per
 * call over a fresh connection.
 *
 * Ownership: everything lives on the stack of petrel_http_post() or in
 * buffers it frees before returning, except the response body, which is
 * handed to the caller.  The socket is non-blocking and every wait is a
 * poll() against one deadline for the whole exchange (connect, write,
 * read), so a stalled server costs at most timeout_ms.  Name lookup is
 * getaddrinfo() and is not covered by the deadline (local use).
 *
 * Response parsing is http-parser's (HTTP_RESPONSE): it validates the status
 * line and headers (bounded by HTTP_MAX_HEADER_SIZE), and decodes
 * Content-Length, chunked and read-until-EOF bodies.  Our callbacks only
 * collect the body, refusing more than PETREL_HTTP_MAX_BODY (a declared
 * Content-Length above it is refused before any body byte), skip interim
 * 1xx responses, and pause the parser at the end of the first final
 * response so trailing bytes are ignored.
 */
#include "petrel/http.h"

#include "netutil.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000
#define READ_CHUNK         16384

struct http_url {
    char host[256];
    char port[8];
    char prefix[1024];  /* "" or "/base" without a trailing '/' */
    int v6;             /* host is an IPv6 literal: bracket it in Host: */
};

struct resp {
    char *body;
    size_t len, cap;
    int done;           /* the final response is complete */
    int too_big;        /* body above PETREL_HTTP_MAX_BODY */
    int nomem;
};

#define now_ms pnet_now_ms
#define ms_left pnet_ms_left

static int copy_bounded(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* Bytes that may appear in a request target as we send it. */
static int target_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '#')
            return 0;
    return 1;
}

/* http://host[:port][/prefix] */
static int parse_http_url(const char *url, struct http_url *u)
{
    memset(u, 0, sizeof *u);
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *p = url + 7;
    size_t alen = strcspn(p, "/?#");
    const char *rest = p + alen;
    const char *port = NULL;
    if (alen > 0 && p[0] == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb || copy_bounded(u->host, sizeof u->host, p + 1, (size_t)(rb - p - 1)) < 0)
            return -1;
        u->v6 = 1;
        if (rb + 1 < rest) {
            if (rb[1] != ':')
                return -1;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        size_t hlen = colon ? (size_t)(colon - p) : alen;
        if (copy_bounded(u->host, sizeof u->host, p, hlen) < 0)
            return -1;
        if (colon)
            port = colon + 1;
    }
    if (u->host[0] == '\0' || !target_ok(u->host))
        return -1;
    if (port) {
        size_t plen = (size_t)(rest - port);
        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
            return -1;
        copy_bounded(u->port, sizeof u->port, port, plen);
        long v = strtol(u->port, NULL, 10);
        if (v < 1 || v > 65535)
            return -1;
    } else {
        copy_bounded(u->port, sizeof u->port, "80", 2);
    }
    if (*rest != '\0' && *rest != '/')
        return -1; /* a query or fragment in the base url */
    size_t rlen = strlen(rest);
    while (rlen > 0 && rest[rlen - 1] == '/')
        rlen--;
    if (copy_bounded(u->prefix, sizeof u->prefix, rest, rlen) < 0)
        return -1;
    return target_ok(u->prefix) ? 0 : -1;
}

static int connect_deadline(const struct http_url *u, int64_t deadline, int *out_fd)
{
    return pnet_connect(u->host, u->port, deadline, out_fd);
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        int wait = ms_left(deadline);
        if (wait == 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, wait) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* ---- response callbacks --------------------------------------------------- */

static int on_headers_complete(http_parser *p)
{
    struct resp *r = p->data;
    if (p->status_code >= 100 && p->status_code < 200)
        return 0;
    /* content_length is ULLONG_MAX when not declared */
    if (p->content_length != ULLONG_MAX && p->content_length > PETREL_HTTP_MAX_BODY) {
        r->too_big = 1;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct resp *r = p->data;
    if (n > PETREL_HTTP_MAX_BODY - r->len) {
        r->too_big = 1;
        return -1;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            r->nomem = 1;
            return -1;
        }
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, at, n);
    r->len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct resp *r = p->data;
    if (p->status_code >= 100 && p->status_code < 200) {
        r->len = 0; /* interim response: the final one follows */
        return 0;
    }
    r->done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int parse_error(const http_parser *p, const struct resp *r)
{
    if (r->nomem)
        return -ENOMEM;
    if (r->too_big || HTTP_PARSER_ERRNO(p) == HPE_HEADER_OVERFLOW)
        return -EMSGSIZE;
    return -EPROTO;
}

/* Reads and parses until the final response is complete. */
static int read_response(int fd, struct resp *r, int *status, int64_t deadline)
{
    http_parser_settings st;
    memset(&st, 0, sizeof st);
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_message_complete;
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = r;

    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -errno;
            int wait = ms_left(deadline);
            if (wait == 0)
                return -ETIMEDOUT;
            struct pollfd pf = { .fd = fd, .events = POLLIN };
            if (poll(&pf, 1, wait) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        /* n == 0 tells the parser about EOF (ends a read-until-close body) */
        size_t used = http_parser_execute(&p, &st, buf, (size_t)n);
        if (r->done) {
            *status = (int)p.status_code;
            return 0;
        }
        enum http_errno he = HTTP_PARSER_ERRNO(&p);
        if (n == 0 && (he == HPE_OK || he == HPE_INVALID_EOF_STATE))
            return -ECONNRESET; /* EOF before a complete response */
        if (he != HPE_OK)
            return parse_error(&p, r);
        if (used != (size_t)n)
            return -EPROTO;
    }
}

/* ---- public API ------------------------------------------------------------ */

int petrel_http_post(const char *url, const char *path_with_query, const char *json_body,
                     int timeout_ms, int *status, char **body, size_t *len)
{
    if (body)
        *body = NULL;
    if (len)
        *len = 0;
    if (status)
        *status = 0;
    struct http_url u;
    if (!url || !path_with_query || path_with_query[0] != '/' || !target_ok(path_with_query)
        || parse_http_url(url, &u) < 0)
        return -EINVAL;
    if (timeout_ms <= 0)
        timeout_ms = DEFAULT_TIMEOUT_MS;
    int64_t deadline = now_ms() + timeout_ms;
    size_t blen = json_body ? strlen(json_body) : 0;

    const char *fmt = "POST %s%s HTTP/1.1\r\n"
                      "Host: %s%s%s%s%s\r\n"
                      "User-Agent: libpetrel\r\n"
                      "Accept: application/json\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n"
                      "Connection: close\r\n"
                      "\r\n";
    const char *lb = u.v6 ? "[" : "", *rb = u.v6 ? "]" : "";
    const char *colon = strcmp(u.port, "80") ? ":" : "", *port = *colon ? u.port : "";
    int hlen = snprintf(NULL, 0, fmt, u.prefix, path_with_query, lb, u.host, rb, colon, port,
                        blen);
    if (hlen < 0)
        return -EINVAL;
    if (blen > SIZE_MAX - (size_t)hlen - 1)
        return -EMSGSIZE;
    char *req = malloc((size_t)hlen + blen + 1);
    if (!req)
        return -ENOMEM;
    snprintf(req, (size_t)hlen + 1, fmt, u.prefix, path_with_query, lb, u.host, rb, colon,
             port, blen);
    if (blen)
        memcpy(req + hlen, json_body, blen);

    int fd = -1;
    int r = connect_deadline(&u, deadline, &fd);
    if (r == 0)
        r = send_all(fd, req, (size_t)hlen + blen, deadline);
    free(req);
    struct resp resp = { 0 };
    int st = 0;
    if (r == 0)
        r = read_response(fd, &resp, &st, deadline);
    if (fd >= 0)
        close(fd);
    if (r < 0) {
        free(resp.body);
        return r;
    }
    if (!resp.body) { /* empty body: still hand out a "" */
        resp.body = malloc(1);
        if (!resp.body)
            return -ENOMEM;
    }
    resp.body[resp.len] = '\0';
    if (status)
        *status = st;
    if (len)
        *len = resp.len;
    if (body)
        *body = resp.body;
    else
        free(resp.body);
    return 0;
}

char *petrel_http_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3) {
        errno = ENOMEM;
        return NULL;
    }
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}
