/*
 * Listening sockets and the read path.  Every worker opens its own
 * listening socket with SO_REUSEPORT, so the kernel spreads connections over
 * the loops with no hand-off.  Reads land in one buffer per loop (a
 * connection keeps bytes only for an incomplete frame), then go to the
 * connection's protocol: binary gateway, HTTP or WebSocket.
 */
#include "server/server.h"

#include "server/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_hostport(const char *hp, struct sockaddr_storage *ss)
{
    char host[128];
    const char *colon = strrchr(hp, ':');
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - hp);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, hp, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    char *h = host;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    if (!*h)
        h = "0.0.0.0";
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(h, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(h, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -1;
}

int net_listen(worker_t *w, uv_tcp_t *h, const char *hostport, uv_connection_cb cb)
{
    struct sockaddr_storage ss;
    if (parse_hostport(hostport, &ss) < 0) {
        LOGE("bad listen address", "addr=%s", hostport);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t sl = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        LOGE("bind failed", "addr=%s err=\"%s\"", hostport, strerror(errno));
        close(fd);
        return -1;
    }
    uv_tcp_init(&w->loop, h);
    h->data = w;
    if (uv_tcp_open(h, fd) < 0) {
        close(fd);
        return -1;
    }
    int rc = uv_listen((uv_stream_t *)h, 4096, cb);
    if (rc < 0) {
        LOGE("listen failed", "addr=%s err=\"%s\"", hostport, uv_strerror(rc));
        return -1;
    }
    return 0;
}

int net_check_free(const char *hostport)
{
    struct sockaddr_storage ss;
    if (parse_hostport(hostport, &ss) < 0) {
        LOGE("bad listen address", "addr=%s", hostport);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* SO_REUSEADDR (connections of a previous run in TIME_WAIT are fine)
     * but not SO_REUSEPORT: a socket listening there makes this fail */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t sl = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int rc = bind(fd, (struct sockaddr *)&ss, sl);
    int err = errno;
    close(fd);
    if (rc < 0) {
        LOGE(err == EADDRINUSE ? "address already in use (is another petreld running?)"
                               : "cannot bind",
             "addr=%s err=\"%s\"", hostport, strerror(err));
        return -1;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = h->data;
    buf->base = (char *)c->w->rbuf;
    buf->len = c->w->rbuf_size;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = s->data;
    if (nread == UV_EOF && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER))) {
        /* half-close: replies to what was received still go out */
        c->flags |= CF_EOF;
        if (!http_request_pending(c) && !(c->flags & CF_LOGIN_PENDING))
            conn_close_after_flush(c);
        else {
            uv_read_stop(s);
            c->flags |= CF_NOREAD;
        }
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || (c->flags & (CF_CLOSED | CF_CLOSE_AFTER)))
        return;
    atomic_fetch_add(&c->w->srv->metrics.bytes_in, (uint64_t)nread);
    const uint8_t *d = c->w->rbuf;
    switch (c->kind) {
    case CONN_TCP: conn_input_frames(c, d, (size_t)nread); break;
    case CONN_HTTP: http_on_data(c, d, (size_t)nread); break;
    case CONN_WS: ws_on_data(c, d, (size_t)nread); break;
    }
    /* backpressure: a client that does not read its answers is not read */
    if (c->out_bytes + c->inflight_bytes >= CONN_PAUSE_BYTES)
        conn_pause_check(c);
}

void conn_start_read(conn_t *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

/* Accept on a listener; returns the new conn or NULL. */
static conn_t *accept_conn(uv_stream_t *srv, int status, uint8_t kind)
{
    worker_t *w = srv->data;
    if (status < 0) {
        LOGW("accept error", "err=\"%s\"", uv_strerror(status));
        return NULL;
    }
    conn_t *c = conn_new(w, kind);
    if (!c)
        return NULL;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return NULL;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    return c;
}

void tcp_on_connection(uv_stream_t *srv, int status)
{
    conn_t *c = accept_conn(srv, status, CONN_TCP);
    if (!c)
        return;
    conn_set_list(c, LIST_PENDING);
    conn_start_read(c);
}

void http_on_connection(uv_stream_t *srv, int status)
{
    conn_t *c = accept_conn(srv, status, CONN_HTTP);
    if (!c)
        return;
    conn_set_list(c, LIST_HTTP);
    conn_start_read(c);
}
