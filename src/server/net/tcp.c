/*
 * Listening sockets and the read path.  Every worker opens its own
 * listening socket with SO_REUSEPORT, so the kernel spreads connections over
 * the loops with no hand-off.  Reads land in one buffer per loop (a
 * connection keeps bytes only for an incomplete frame), then go to the
 * connection's transport (conn_t.ops): binary socket framing
 * (sockframe.c), HTTP or WebSocket.  net_install() makes each worker
 * listen through a worker hook (its net_worker_t in a worker_t.ext slot).
 *
 * Accepting is bounded: at most max_connections client connections (by
 * default the open-file limit, raised to its hard limit at start-up, minus
 * a reserve); past it a new connection gets a short refusal (ERROR 62060 /
 * HTTP 503) and is closed.  So is one past max_connections_per_ip from
 * one client address (ERROR 62120 / HTTP 429; counted in connlimit.c,
 * released when the connection is freed (net_conn_free); loopback peers only
 * with max_connections_per_ip_loopback), and one past max_pending_per_ip
 * of that address's connections without LOGIN (ERROR 62121 / HTTP 429).
 * If accept() itself fails for lack of descriptors or memory the listener
 * pauses for ACCEPT_PAUSE_MS; its log line is rate-limited.
 */
#include "server/net/net_int.h"

#include "server/core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
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

/* A listening socket: accept4() is ours (not uv_listen) so that a failing
 * accept can pause this listener instead of spinning.  libuv 1.44's
 * uv__server_io calls the connection callback in a loop for as long as
 * accept fails; its reserve-descriptor trick (uv__emfile_trick) is per
 * loop, and with N loops sharing one descriptor table another thread takes
 * the freed slot, so the loop never returns to epoll: no PING answered, no
 * SIGTERM handled, one log line per failure. */
struct net_listener {
    uv_poll_t poll;
    uv_timer_t retry;
    worker_t *w;
    int fd;
    uint8_t kind;
    uint8_t open_handles;
};

/* After EMFILE/ENFILE/ENOBUFS the listener sleeps this long: descriptors
 * come back as connections close; meanwhile new clients wait in the
 * kernel's backlog instead of being spun on. */
#define ACCEPT_PAUSE_MS 100
/* Connections accepted per readiness event, so one busy listener does not
 * hold its loop. */
#define ACCEPT_BATCH 64

static void on_accept_ready(uv_poll_t *p, int status, int events);

static void on_retry(uv_timer_t *t)
{
    struct net_listener *l = t->data;
    uv_poll_start(&l->poll, UV_READABLE, on_accept_ready);
}

static void listener_pause(struct net_listener *l, int err)
{
    static log_rl_t rl;
    unsigned long skipped;
    if (log_ratelimit(&rl, 10000, &skipped))
        LOGW("accept failed, pausing new connections", "err=\"%s\" pause_ms=%d suppressed=%lu",
             strerror(err), ACCEPT_PAUSE_MS, skipped);
    atomic_fetch_add(&l->w->rt->metrics.accept_paused, 1);
    uv_poll_stop(&l->poll);
    uv_timer_start(&l->retry, on_retry, ACCEPT_PAUSE_MS, 0);
}

static uint64_t open_conns(runtime_t *s)
{
    return atomic_load(&s->metrics.conns_tcp) + atomic_load(&s->metrics.conns_ws) +
           atomic_load(&s->metrics.conns_http);
}

/* Refusing a connection: tell the client why (one small non-blocking send
 * on a fresh socket), read what it already sent so that close() does not
 * reset the answer away, and close. */
static void refuse(struct net_listener *l, int fd, int code, const char *status, const char *msg)
{
    char body[160];
    int bl = snprintf(body, sizeof body, "{\"code\":%d,\"msg\":\"%s\",\"command\":0}", code, msg);
    if (l->kind == CONN_TCP) {
        uint8_t out[PETREL_DOWN_HDR_LEN + sizeof body];
        petrel_encode_down_hdr(out, PETREL_CMD_ERROR, (uint32_t)bl);
        memcpy(out + PETREL_DOWN_HDR_LEN, body, (size_t)bl);
        ssize_t n = send(fd, out, PETREL_DOWN_HDR_LEN + (size_t)bl, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    } else {
        char out[512];
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                         status, bl, body);
        ssize_t w = send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    shutdown(fd, SHUT_WR);
    char drain[4096];
    ssize_t r = recv(fd, drain, sizeof drain, MSG_DONTWAIT);
    (void)r;
    close(fd);
}

/* At capacity (max_connections). */
static void refuse_full(struct net_listener *l, int fd)
{
    static log_rl_t rl;
    unsigned long skipped;
    runtime_t *s = l->w->rt;
    if (log_ratelimit(&rl, 10000, &skipped))
        LOGW("connection capacity reached, refusing new connections",
             "max_connections=%ld suppressed=%lu", s->net->max_conns, skipped);
    atomic_fetch_add(&s->metrics.refused_full, 1);
    refuse(l, fd, PETREL_ERR_CONN_CAPACITY, "503 Service Unavailable",
           "server at its connection capacity, try again later");
}

/* Count the new connection under its peer's address: 0 and *ref set (fam
 * 0 if the address is not counted), or -1 when it was refused and closed. */
static int admit_address(struct net_listener *l, int fd, const struct sockaddr_storage *ss,
                         cl_ref_t *ref)
{
    runtime_t *rt = l->w->rt;
    net_t *s = rt->net;
    cl_ref_t key;
    ref->fam = 0;
    int lo = connlimit_key((const struct sockaddr *)ss, &key);
    if (lo < 0 || !s->connlimit)
        return 0;
    uint32_t max = lo ? s->max_per_ip_loopback : s->max_per_ip;
    if (!max)
        return 0;
    int rc = connlimit_acquire(s->connlimit, &key, max, s->max_pending_per_ip, ref);
    if (rc == CL_OK)
        return 0;
    if (rc == CL_NOMEM) {
        close(fd); /* out of memory: like a failed conn_new */
        return -1;
    }
    static log_rl_t rl;
    unsigned long skipped;
    if (log_ratelimit(&rl, 10000, &skipped)) {
        char a[64];
        connlimit_format(&key, a, sizeof a);
        LOGW("connections per address reached, refusing its new connections",
             "addr=%s max_connections_per_ip=%u max_pending_per_ip=%u which=%s suppressed=%lu", a,
             max, s->max_pending_per_ip, rc == CL_FULL ? "all" : "pending", skipped);
    }
    atomic_fetch_add(&rt->metrics.refused_per_ip, 1);
    if (rc == CL_FULL)
        refuse(l, fd, PETREL_ERR_CONN_PER_IP, "429 Too Many Requests",
               "too many connections from your address, close some or try again later");
    else
        refuse(l, fd, PETREL_ERR_PENDING_PER_IP, "429 Too Many Requests",
               "too many connections from your address without LOGIN, try again later");
    return -1;
}

static void setup_conn(conn_t *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    conn_set_list(c, c->kind == CONN_TCP ? LIST_PENDING : LIST_HTTP);
    conn_start_read(c);
}

static void on_accept_ready(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct net_listener *l = p->data;
    worker_t *w = l->w;
    if (status < 0) {
        listener_pause(l, -status);
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !w->stopping; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            /* the peer's trouble, not ours (accept(2): treat like EAGAIN) */
            if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM ||
                e == ENETDOWN || e == ENOPROTOOPT || e == EHOSTDOWN || e == ENONET ||
                e == EHOSTUNREACH || e == EOPNOTSUPP || e == ENETUNREACH)
                continue;
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: out of resources */
            listener_pause(l, e);
            return;
        }
        net_t *n = net_of(w);
        if (n->max_conns > 0 && open_conns(w->rt) >= (uint64_t)n->max_conns) {
            refuse_full(l, fd);
            continue;
        }
        cl_ref_t ref;
        if (admit_address(l, fd, &ss, &ref) < 0)
            continue;
        conn_t *c = conn_new(w, sizeof(net_conn_t), l->kind,
                             l->kind == CONN_TCP ? &net_tcp_ops : &net_http_ops);
        if (!c) {
            connlimit_release(n->connlimit, &ref);
            close(fd);
            listener_pause(l, ENOMEM);
            return;
        }
        ((net_conn_t *)c)->climit = ref; /* released by net_conn_free when c is freed */
        if (uv_tcp_open(&c->tcp, fd) < 0) {
            close(fd);
            conn_close(c);
            continue;
        }
        setup_conn(c);
    }
}

int net_listen(worker_t *w, struct net_listener **out, const char *hostport, uint8_t kind)
{
    struct sockaddr_storage ss;
    *out = NULL;
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
    if (listen(fd, 4096) < 0) {
        LOGE("listen failed", "addr=%s err=\"%s\"", hostport, strerror(errno));
        close(fd);
        return -1;
    }
    struct net_listener *l = calloc(1, sizeof *l);
    if (!l || uv_poll_init_socket(&w->loop, &l->poll, fd) < 0) {
        free(l);
        close(fd);
        return -1;
    }
    l->w = w;
    l->fd = fd;
    l->kind = kind;
    l->poll.data = l;
    uv_timer_init(&w->loop, &l->retry);
    l->retry.data = l;
    l->open_handles = 2;
    uv_poll_start(&l->poll, UV_READABLE, on_accept_ready);
    *out = l;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct net_listener *l = h->data;
    if (--l->open_handles == 0) {
        close(l->fd);
        free(l);
    }
}

int net_listener_port(const struct net_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!l || getsockname(l->fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

void net_listener_close(struct net_listener *l)
{
    if (!l)
        return;
    uv_close((uv_handle_t *)&l->poll, listener_closed);
    uv_close((uv_handle_t *)&l->retry, listener_closed);
}

long net_raise_nofile(runtime_t *s)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
    if (rl.rlim_cur < want) {
        struct rlimit nrl = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nrl) == 0)
            rl.rlim_cur = want;
        else
            LOGW("cannot raise the open-file limit", "soft=%llu hard=%llu err=\"%s\"",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                 strerror(errno));
    }
    /* descriptors that are not client connections: the database and its
     * WAL for the writer and the readers, event loops, thread pool, static
     * files being served */
    long reserve = 64 + 8 * (long)s->nworkers + (long)(rl.rlim_cur / 64);
    long cap = (long)rl.rlim_cur - reserve;
    if (cap < 16)
        cap = 16;
    if (s->cfg.max_connections > 0) {
        if (s->cfg.max_connections > cap)
            LOGW("max_connections is above what the open-file limit allows",
                 "max_connections=%d nofile=%llu", s->cfg.max_connections,
                 (unsigned long long)rl.rlim_cur);
        cap = s->cfg.max_connections;
    }
    s->net->max_conns = cap;
    LOGI("connection capacity", "max_connections=%ld nofile=%llu nofile_hard=%llu", cap,
         (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    return cap;
}

int net_connlimit_init(runtime_t *rt)
{
    net_t *s = rt->net;
    s->connlimit = connlimit_new();
    if (!s->connlimit)
        return -1;
    /* one address never gets more than half of the capacity */
    long half = s->max_conns / 2 > 0 ? s->max_conns / 2 : 1;
    long per = rt->cfg.max_connections_per_ip, lo = rt->cfg.max_connections_per_ip_loopback;
    if (per > half)
        per = half;
    if (lo > half)
        lo = half;
    s->max_per_ip = (uint32_t)per;
    s->max_per_ip_loopback = (uint32_t)lo;
    s->max_pending_per_ip = (uint32_t)rt->cfg.max_pending_per_ip;
    LOGI("connections per address",
         "max_connections_per_ip=%ld max_connections_per_ip_loopback=%ld max_pending_per_ip=%d", per,
         lo, rt->cfg.max_pending_per_ip);
    return 0;
}

void net_free(runtime_t *rt)
{
    connlimit_free(rt->net->connlimit);
    rt->net->connlimit = NULL;
}

void net_conn_free(conn_t *c)
{
    connlimit_release(net_of(c->w)->connlimit, &((net_conn_t *)c)->climit);
}

void net_conn_logged_in(conn_t *c)
{
    connlimit_logged_in(net_of(c->w)->connlimit, &((net_conn_t *)c)->climit);
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
    atomic_fetch_add(&c->w->rt->metrics.bytes_in, (uint64_t)nread);
    c->ops->on_data(c, c->w->rbuf, (size_t)nread);
    /* refused input (a protocol error...): more of it may be on the way */
    if ((c->flags & (CF_CLOSE_AFTER | CF_CLOSED)) == CF_CLOSE_AFTER)
        c->flags |= CF_CLOSED_ON_INPUT;
    else if (c->out_bytes + c->inflight_bytes >= CONN_PAUSE_BYTES)
        conn_pause_check(c); /* backpressure: a client that does not read its answers is not read */
}

void conn_start_read(conn_t *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void on_linger_shutdown(uv_shutdown_t *req, int status)
{
    (void)status; /* EOF, an error or the closing list ends it */
    free(req);
}

int net_linger(conn_t *c)
{
    if (c->flags & CF_CLOSED)
        return 0;
    if (c->flags & CF_LINGER)
        return 1;
    if (c->w->stopping || (c->flags & CF_EOF))
        return 0;
    int fd = -1, unread = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0 || ioctl(fd, FIONREAD, &unread) < 0)
        return 0;
    if (unread <= 0 && c->in_len == 0 && !(c->flags & CF_CLOSED_ON_INPUT))
        return 0;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req)
        return 0;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_linger_shutdown) < 0) {
        free(req);
        return 0;
    }
    c->flags |= CF_LINGER;
    /* the device is gone for everyone else now, not at the peer's EOF */
    if ((c->flags & CF_AUTHED) && c->w->rt->proto)
        c->w->rt->proto->on_close(c);
    if (c->list != LIST_CLOSING)
        conn_set_list(c, LIST_CLOSING);
    if (c->flags & CF_NOREAD) {
        c->flags &= (uint16_t)~CF_NOREAD;
        conn_start_read(c); /* on_read drops what a closing connection sends */
    }
    return 1;
}

const conn_ops_t net_tcp_ops = {
    .on_data = sockframe_input,
    .send_frame = NULL,
    .start_read = conn_start_read,
    .linger = net_linger,
    .free_state = net_conn_free,
    .socket = 1,
};
