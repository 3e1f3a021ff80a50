/*
 * libpetrel (see include/petrel/client.h): one blocking/poll()-based client
 * connection, over a TCP stream or a WebSocket.
 *
 * A petrel_client_t owns, for its whole life: copies of the option strings,
 * the inbound buffer (rbuf, 8 + max_body + 1 bytes: the largest legal
 * downlink frame plus room for a NUL we put after the JSON during the
 * callback) and the outbound TCP queue (wbuf, capped by max_pending).  Per
 * connection it owns the socket, the wslay context and the handshake's
 * leftover bytes; petrel_connect() resets them and petrel_client_free()
 * releases them.
 *
 * Why this shape: the CLI and tests want a client with no event library
 * and predictable blocking behaviour, yet a blocking write could deadlock
 * against a server that is itself writing to us, so the socket is
 * non-blocking and every wait is a poll() with a deadline.  Uplink bytes are
 * queued and written opportunistically; petrel_run() writes the rest.
 *
 * The WebSocket side hand-writes the HTTP/1.1 upgrade (bounded 8 KiB
 * response, Sec-WebSocket-Accept verified with OpenSSL) and then uses
 * wslay's event API in client mode: wslay masks (genmask from RAND_bytes),
 * reassembles fragments up to 8 + max_body bytes, answers pings and close
 * frames.  Each binary message must hold exactly one downlink frame.
 *
 * Callbacks may call petrel_send/petrel_logout/petrel_close: sends only
 * queue while a callback runs (no write from inside wslay's recv), and a
 * close requested there is deferred until dispatch returns, so no buffer or
 * wslay context is ever released under the code that is using it.
 */
#include "petrel/client.h"

#include "netutil.h"
#include "petrel/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define DEFAULT_HEARTBEAT_MS  10000
#define DEFAULT_CONNECT_MS    5000
#define DEFAULT_MAX_PENDING   ((size_t)4 << 20)
#define WS_MAX_RESPONSE       8192   /* bound on the upgrade response headers */
#define CLOSE_FLUSH_MS        1000   /* petrel_close's best-effort flush */
#define READS_PER_WAKE        16     /* recv() calls per poll wake-up (fairness) */
#define WS_GUID               "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { TR_TCP, TR_WS };
enum { ST_IDLE, ST_OPEN, ST_CLOSED };

struct petrel_client {
    /* options (owned copies) */
    char *user_id, *user_sign, *imei;
    size_t imei_len;
    int32_t app_id, client_type;
    int heartbeat_ms, connect_timeout_ms;
    uint32_t max_body;
    size_t max_pending;
    petrel_on_packet_fn on_packet;
    petrel_on_close_fn on_close;
    void *ud;

    /* parsed url */
    int transport;
    char host[256];
    char port[8];
    char path[512];

    /* connection */
    int fd;
    int state;
    int close_reason;      /* 0 orderly / negative errno */
    int close_notified;    /* on_close delivered (or not wanted) */
    int close_requested;   /* petrel_close() from inside a callback */
    int in_callback;
    int heartbeat_on;      /* after petrel_login, until petrel_logout */
    int64_t next_ping;     /* monotonic ms */

    uint8_t *rbuf;         /* TCP reassembly; WS: copy of one message */
    size_t rcap, rlen;     /* rcap = 8 + max_body (allocation is rcap + 1) */
    uint8_t *wbuf;         /* TCP outbound queue: [whead, whead + wlen) */
    size_t wcap, whead, wlen;

    wslay_event_context_ptr ws;
    uint8_t *ws_pre;       /* bytes read past the upgrade response */
    size_t ws_pre_len, ws_pre_pos;
    int ws_eof;            /* recv() returned 0 inside wslay */
    int ws_io_err;         /* errno of a failed recv()/send() inside wslay */
    int ws_proto_err;      /* negative errno: we failed the WS connection */

    char err[256];
};

/* ---- small helpers ---------------------------------------------------- */

#define now_ms pnet_now_ms
#define ms_left pnet_ms_left

static void set_err(petrel_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(petrel_client_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- url ---------------------------------------------------------------- */

static int copy_bounded(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* tcp://host:port | ws://host[:port][/path] ; host may be [v6]. */
static int parse_url(petrel_client_t *c, const char *url)
{
    const char *p;
    if (!strncmp(url, "tcp://", 6)) {
        c->transport = TR_TCP;
        p = url + 6;
    } else if (!strncmp(url, "ws://", 5)) {
        c->transport = TR_WS;
        p = url + 5;
    } else {
        return -1; /* wss:// and anything else are unsupported */
    }
    size_t alen = strcspn(p, "/?#");
    const char *rest = p + alen;
    const char *port = NULL;
    size_t hlen;
    if (alen > 0 && p[0] == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb)
            return -1;
        if (copy_bounded(c->host, sizeof c->host, p + 1, (size_t)(rb - p - 1)) < 0)
            return -1;
        if (rb + 1 < rest) {
            if (rb[1] != ':')
                return -1;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon ? (size_t)(colon - p) : alen;
        if (copy_bounded(c->host, sizeof c->host, p, hlen) < 0)
            return -1;
        if (colon)
            port = colon + 1;
    }
    if (c->host[0] == '\0')
        return -1;
    if (port) {
        size_t plen = (size_t)(rest - port);
        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
            return -1;
        copy_bounded(c->port, sizeof c->port, port, plen);
        long v = strtol(c->port, NULL, 10);
        if (v < 1 || v > 65535)
            return -1;
    } else if (c->transport == TR_WS) {
        copy_bounded(c->port, sizeof c->port, "80", 2);
    } else {
        return -1;
    }
    if (c->transport == TR_TCP) {
        if (*rest != '\0' && strcmp(rest, "/") != 0)
            return -1;
        c->path[0] = '\0';
        return 0;
    }
    if (*rest == '\0')
        rest = "/";
    else if (*rest != '/')
        return -1;
    if (strchr(rest, '#'))
        return -1;
    for (const char *q = rest; *q; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return -1; /* would break the request line */
    return copy_bounded(c->path, sizeof c->path, rest, strlen(rest));
}

/* ---- lifecycle of a connection ------------------------------------------ */

/* The connection is gone (for any reason but petrel_close): release the
 * socket now; on_close is delivered by petrel_run. */
static void conn_closed(petrel_client_t *c, int reason)
{
    if (c->state != ST_OPEN)
        return;
    close(c->fd);
    c->fd = -1;
    c->state = ST_CLOSED;
    c->close_reason = reason;
    c->close_notified = c->close_requested; /* the caller asked: no on_close */
    c->close_requested = 0;
    c->heartbeat_on = 0;
}

static void reset_conn(petrel_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    free(c->ws_pre);
    c->ws_pre = NULL;
    c->ws_pre_len = c->ws_pre_pos = 0;
    c->ws_eof = c->ws_io_err = c->ws_proto_err = 0;
    c->rlen = 0;
    c->whead = c->wlen = 0;
    c->close_reason = 0;
    c->close_notified = 1;
    c->close_requested = 0;
    c->heartbeat_on = 0;
    c->err[0] = '\0';
}

static int want_write(const petrel_client_t *c)
{
    if (c->state != ST_OPEN)
        return 0;
    if (c->transport == TR_TCP)
        return c->wlen > 0;
    return wslay_event_want_write(c->ws);
}

static size_t pending_bytes(const petrel_client_t *c)
{
    if (c->transport == TR_TCP)
        return c->wlen;
    return wslay_event_get_queued_msg_length(c->ws);
}

/* Write what the socket takes now.  0, or the negative errno that closed
 * the connection. */
static int flush_nb(petrel_client_t *c)
{
    if (c->state != ST_OPEN)
        return -ENOTCONN;
    if (c->transport == TR_TCP) {
        while (c->wlen > 0) {
            ssize_t n = send(c->fd, c->wbuf + c->whead, c->wlen, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                int e = errno;
                set_err(c, "send: %s", strerror(e));
                conn_closed(c, -e);
                return -e;
            }
            c->whead += (size_t)n;
            c->wlen -= (size_t)n;
        }
        if (c->wlen == 0)
            c->whead = 0;
        return 0;
    }
    if (!wslay_event_want_write(c->ws))
        return 0;
    if (wslay_event_send(c->ws) != 0) {
        int e = c->ws_io_err ? c->ws_io_err : EIO;
        set_err(c, "websocket send: %s", strerror(e));
        conn_closed(c, -e);
        return -e;
    }
    return 0;
}

/* Blocking flush with a deadline (timeout_ms < 0: none). */
static int flush_wait(petrel_client_t *c, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int r = flush_nb(c);
        if (r < 0)
            return r;
        if (!want_write(c))
            return 0;
        int wait = deadline < 0 ? -1 : ms_left(deadline);
        if (wait == 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = c->fd, .events = POLLOUT };
        int n = poll(&p, 1, wait);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0 && !(p.revents & POLLOUT) && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
            set_err(c, "connection lost while writing");
            conn_closed(c, -EPIPE);
            return -EPIPE;
        }
    }
}

/* Really close an open connection on the caller's request. */
static void do_close(petrel_client_t *c)
{
    c->close_requested = 0;
    if (c->state != ST_OPEN)
        return;
    if (c->transport == TR_WS && !wslay_event_get_close_sent(c->ws))
        wslay_event_queue_close(c->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
    int budget = c->connect_timeout_ms < CLOSE_FLUSH_MS ? c->connect_timeout_ms : CLOSE_FLUSH_MS;
    if (flush_wait(c, budget) == -ETIMEDOUT)
        set_err(c, "close: unsent bytes dropped");
    if (c->state != ST_OPEN) {
        c->close_notified = 1; /* found dead while closing: caller asked, no on_close */
        return;
    }
    /* FIN first, then discard what is already readable so close() does
     * not turn into an RST that could destroy our last bytes in flight. */
    shutdown(c->fd, SHUT_WR);
    uint8_t sink[4096];
    while (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
    close(c->fd);
    c->fd = -1;
    c->state = ST_CLOSED;
    c->close_reason = 0;
    c->close_notified = 1;
    c->heartbeat_on = 0;
}

/* ---- uplink --------------------------------------------------------------- */

static int tcp_queue(petrel_client_t *c, const uint8_t *bytes, size_t n)
{
    if (c->whead + c->wlen + n > c->wcap) {
        if (c->whead > 0) {
            memmove(c->wbuf, c->wbuf + c->whead, c->wlen);
            c->whead = 0;
        }
        if (c->wlen + n > c->wcap) {
            size_t cap = c->wcap ? c->wcap : 4096;
            while (cap < c->wlen + n)
                cap *= 2;
            uint8_t *nb = realloc(c->wbuf, cap);
            if (!nb)
                return -ENOMEM;
            c->wbuf = nb;
            c->wcap = cap;
        }
    }
    memcpy(c->wbuf + c->whead + c->wlen, bytes, n);
    c->wlen += n;
    return 0;
}

/* Queue bytes as one unit (TCP: appended; WS: one binary message), then
 * write opportunistically unless a callback is running. */
static int queue_bytes(petrel_client_t *c, const uint8_t *bytes, size_t n)
{
    if (c->state != ST_OPEN || c->close_requested)
        return -ENOTCONN;
    size_t pend = pending_bytes(c);
    if (pend > 0 && pend + n > c->max_pending)
        return -ENOBUFS;
    if (c->transport == TR_TCP) {
        int r = tcp_queue(c, bytes, n);
        if (r < 0)
            return r;
    } else {
        struct wslay_event_msg m = { .opcode = WSLAY_BINARY_FRAME, .msg = bytes, .msg_length = n };
        int r = wslay_event_queue_msg(c->ws, &m);
        if (r == WSLAY_ERR_NOMEM)
            return -ENOMEM;
        if (r != 0)
            return -ENOTCONN; /* a close frame is already queued or sent */
    }
    if (c->in_callback)
        return 0;
    return flush_nb(c);
}

static int queue_packet(petrel_client_t *c, int32_t command, const char *body, size_t len)
{
    if (c->state != ST_OPEN)
        return -ENOTCONN;
    if (len > (size_t)INT32_MAX - PETREL_UP_HDR_LEN - c->imei_len)
        return -EMSGSIZE;
    petrel_up_hdr_t h = {
        .command = command, .version = 1, .client_type = c->client_type,
        .message_type = 0, .app_id = c->app_id,
        .imei_len = (int32_t)c->imei_len, .body_len = (int32_t)len,
    };
    size_t n = petrel_encode_up(NULL, 0, &h, c->imei, c->imei_len, body, len);
    uint8_t *frame = malloc(n);
    if (!frame)
        return -ENOMEM;
    petrel_encode_up(frame, n, &h, c->imei, c->imei_len, body, len);
    int r = queue_bytes(c, frame, n);
    free(frame);
    if (r == 0 && c->heartbeat_ms > 0)
        c->next_ping = now_ms() + c->heartbeat_ms;
    return r;
}

/* ---- downlink --------------------------------------------------------------- */

/* json lies inside rbuf with at least one writable byte after it. */
static void deliver(petrel_client_t *c, int32_t command, char *json, size_t len)
{
    if (!c->on_packet)
        return;
    char saved = json[len];
    json[len] = '\0';
    c->in_callback++;
    c->on_packet(c, command, json, len, c->ud);
    c->in_callback--;
    json[len] = saved;
}

static void malformed(petrel_client_t *c, int dec)
{
    int e = dec == PETREL_DEC_BODY_LARGE ? EMSGSIZE : EPROTO;
    set_err(c, "malformed downlink frame (%s)",
            dec == PETREL_DEC_BODY_LARGE ? "body above max_body" : "bad header");
    if (c->transport == TR_WS) {
        c->ws_proto_err = -e; /* acted on after wslay_event_recv returns */
        return;
    }
    conn_closed(c, -e);
}

static void tcp_dispatch(petrel_client_t *c)
{
    size_t off = 0;
    while (c->state == ST_OPEN && !c->close_requested) {
        int32_t cmd;
        const char *json;
        size_t jlen, flen;
        int r = petrel_decode_down(c->rbuf + off, c->rlen - off, c->max_body,
                                   &cmd, &json, &jlen, &flen);
        if (r == PETREL_DEC_NEED_MORE)
            break;
        if (r < 0) {
            malformed(c, r);
            return;
        }
        deliver(c, cmd, (char *)c->rbuf + (json - (const char *)c->rbuf), jlen);
        off += flen;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

static void tcp_read(petrel_client_t *c, short revents)
{
    for (int i = 0; i < READS_PER_WAKE && c->state == ST_OPEN && !c->close_requested; i++) {
        if (c->rlen >= c->rcap) { /* cannot happen: decode bounds frames */
            malformed(c, PETREL_DEC_BODY_LARGE);
            return;
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (i == 0 && (revents & (POLLERR | POLLHUP | POLLNVAL))) {
                    set_err(c, "connection lost");
                    conn_closed(c, -ECONNRESET);
                }
                return;
            }
            int e = errno;
            set_err(c, "recv: %s", strerror(e));
            conn_closed(c, -e);
            return;
        }
        if (n == 0) {
            set_err(c, "server closed the connection");
            conn_closed(c, 0);
            return;
        }
        c->rlen += (size_t)n;
        tcp_dispatch(c);
    }
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *user_data)
{
    (void)flags;
    petrel_client_t *c = user_data;
    if (c->ws_pre_pos < c->ws_pre_len) {
        size_t n = c->ws_pre_len - c->ws_pre_pos;
        if (n > len)
            n = len;
        memcpy(buf, c->ws_pre + c->ws_pre_pos, n);
        c->ws_pre_pos += n;
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = recv(c->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        } else {
            c->ws_io_err = errno;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
    }
    if (n == 0) {
        c->ws_eof = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user_data)
{
    (void)flags;
    petrel_client_t *c = user_data;
    ssize_t n;
    do
        n = send(c->fd, data, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        } else {
            c->ws_io_err = errno;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
    }
    return n;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                         void *user_data)
{
    (void)user_data;
    if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void ws_on_msg_cb(wslay_event_context_ptr ctx,
                         const struct wslay_event_on_msg_recv_arg *arg, void *user_data)
{
    petrel_client_t *c = user_data;
    if (c->state != ST_OPEN || c->close_requested || c->ws_proto_err)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        set_err(c, "server sent a text message");
        c->ws_proto_err = -EPROTO;
        wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA, NULL, 0);
        wslay_event_shutdown_read(ctx);
        return;
    }
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) { /* wslay queues the reply */
        char why[124];
        size_t n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        if (n >= sizeof why)
            n = sizeof why - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = arg->msg[2 + i];
            why[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        }
        why[n] = '\0';
        set_err(c, "server sent websocket close %u%s%s", (unsigned)arg->status_code,
                n ? ": " : "", why);
        return;
    }
    if (arg->opcode != WSLAY_BINARY_FRAME)
        return; /* ping/pong: wslay answers pings */
    int32_t cmd;
    const char *json;
    size_t jlen, flen;
    int r = petrel_decode_down(arg->msg, arg->msg_length, c->max_body, &cmd, &json, &jlen, &flen);
    if (r != PETREL_DEC_OK || flen != arg->msg_length) {
        malformed(c, r);
        if (r == PETREL_DEC_OK || r == PETREL_DEC_NEED_MORE) /* one frame per message */
            set_err(c, "websocket message of %zu bytes is not exactly one downlink frame",
                    arg->msg_length);
        wslay_event_queue_close(ctx, WSLAY_CODE_PROTOCOL_ERROR, NULL, 0);
        wslay_event_shutdown_read(ctx);
        return;
    }
    /* Copy so the JSON can be NUL-terminated; rbuf holds 8 + max_body + 1. */
    memcpy(c->rbuf, json, jlen);
    deliver(c, cmd, (char *)c->rbuf, jlen);
}

/* End a WS connection for reason after a best-effort flush of the close
 * frame wslay queued; a write error during that flush (the peer may have
 * closed already) changes neither the reason nor the detail we report. */
static void ws_finish(petrel_client_t *c, int reason)
{
    char keep[sizeof c->err];
    memcpy(keep, c->err, sizeof keep);
    flush_wait(c, 200);
    memcpy(c->err, keep, sizeof keep);
    if (c->state == ST_OPEN)
        conn_closed(c, reason);
    else
        c->close_reason = reason;
}

static void ws_read(petrel_client_t *c, short revents)
{
    (void)revents; /* wslay's recv callback sees EOF/errors itself */
    int r = wslay_event_recv(c->ws);
    if (c->state != ST_OPEN)
        return;
    if (c->ws_proto_err) {
        ws_finish(c, c->ws_proto_err);
        return;
    }
    if (wslay_event_get_close_received(c->ws)) {
        ws_finish(c, 0); /* wslay queued the reply */
        return;
    }
    if (r != 0) {
        if (c->ws_eof) {
            set_err(c, "server closed the connection");
            conn_closed(c, 0);
        } else {
            int e = c->ws_io_err ? c->ws_io_err : (r == WSLAY_ERR_NOMEM ? ENOMEM : EIO);
            set_err(c, "websocket recv: %s", strerror(e));
            conn_closed(c, -e);
        }
        return;
    }
    if (!wslay_event_get_read_enabled(c->ws)) {
        /* wslay failed the connection itself (bad framing, message above
         * 8 + max_body); it queued a close frame. */
        set_err(c, "websocket protocol error from server");
        ws_finish(c, -EPROTO);
    }
}

static void read_some(petrel_client_t *c, short revents)
{
    if (c->transport == TR_TCP)
        tcp_read(c, revents);
    else
        ws_read(c, revents);
}

/* ---- connect -------------------------------------------------------------- */

static int write_all(petrel_client_t *c, const char *buf, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int wait = ms_left(deadline);
        if (wait == 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = c->fd, .events = POLLOUT };
        if (poll(&p, 1, wait) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* Header value of the next line, trimmed; name compared case-insensitively. */
static const char *header_value(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return v;
}

static int has_token(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(p, token, tl) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Parse the response headers in hdr (NUL-terminated, CRLF lines, no final
 * empty line) and verify the upgrade. */
static int ws_check_response(petrel_client_t *c, char *hdr, const char *key)
{
    char *save = NULL;
    char *line = strtok_r(hdr, "\r\n", &save);
    if (!line || strncmp(line, "HTTP/1.1 ", 9) != 0) {
        set_err(c, "websocket handshake: not an HTTP/1.1 response");
        return -EPROTO;
    }
    if (strncmp(line + 9, "101", 3) != 0 || (line[12] != ' ' && line[12] != '\0')) {
        set_err(c, "websocket handshake refused: %.200s", line);
        return -ECONNREFUSED;
    }

    char expect[64];
    char src[128];
    int sl = snprintf(src, sizeof src, "%s%s", key, WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (sl < 0 || (size_t)sl >= sizeof src ||
        !EVP_Digest(src, (size_t)sl, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) {
        set_err(c, "websocket handshake: SHA-1 failed");
        return -EIO;
    }
    EVP_EncodeBlock((unsigned char *)expect, md, (int)mdlen); /* 28 chars + NUL */

    int upgrade = 0, connection = 0, accept = 0;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        const char *v;
        rtrim(line);
        if ((v = header_value(line, "Upgrade")) != NULL) {
            upgrade = strcasecmp(v, "websocket") == 0;
        } else if ((v = header_value(line, "Connection")) != NULL) {
            connection = connection || has_token(v, "upgrade");
        } else if ((v = header_value(line, "Sec-WebSocket-Accept")) != NULL) {
            if (accept != 0 || strcmp(v, expect) != 0)
                accept = -1;
            else
                accept = 1;
        } else if (header_value(line, "Sec-WebSocket-Extensions") ||
                   header_value(line, "Sec-WebSocket-Protocol")) {
            set_err(c, "websocket handshake: server chose an extension/protocol we did not offer");
            return -EPROTO;
        }
    }
    if (!upgrade || !connection) {
        set_err(c, "websocket handshake: missing Upgrade/Connection headers");
        return -EPROTO;
    }
    if (accept != 1) {
        set_err(c, "websocket handshake: bad Sec-WebSocket-Accept");
        return -EPROTO;
    }
    return 0;
}

static int ws_handshake(petrel_client_t *c, int64_t deadline)
{
    unsigned char rnd[16];
    char key[32];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        set_err(c, "RAND_bytes failed");
        return -EIO;
    }
    EVP_EncodeBlock((unsigned char *)key, rnd, sizeof rnd); /* 24 chars + NUL */

    char req[1024];
    int v6 = strchr(c->host, ':') != NULL;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s%s%s:%s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     c->path, v6 ? "[" : "", c->host, v6 ? "]" : "", c->port, key);
    if (n < 0 || (size_t)n >= sizeof req) {
        set_err(c, "websocket handshake: request too long");
        return -EINVAL;
    }
    int r = write_all(c, req, (size_t)n, deadline);
    if (r < 0) {
        set_err(c, "websocket handshake: send: %s", strerror(-r));
        return r;
    }

    char resp[WS_MAX_RESPONSE + 1];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == WS_MAX_RESPONSE) {
            set_err(c, "websocket handshake: response headers above %d bytes", WS_MAX_RESPONSE);
            return -EMSGSIZE;
        }
        ssize_t got = recv(c->fd, resp + len, WS_MAX_RESPONSE - len, 0);
        if (got == 0) {
            set_err(c, "websocket handshake: server closed the connection");
            return -ECONNRESET;
        }
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                int e = errno;
                set_err(c, "websocket handshake: recv: %s", strerror(e));
                return -e;
            }
            int wait = ms_left(deadline);
            if (wait == 0) {
                set_err(c, "websocket handshake: timed out");
                return -ETIMEDOUT;
            }
            struct pollfd p = { .fd = c->fd, .events = POLLIN };
            if (poll(&p, 1, wait) < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        size_t from = len >= 3 ? len - 3 : 0;
        len += (size_t)got;
        end = memmem(resp + from, len - from, "\r\n\r\n", 4);
    }
    size_t hdr_len = (size_t)(end - resp) + 4;
    if (len > hdr_len) { /* the server may already have sent WS frames */
        c->ws_pre = malloc(len - hdr_len);
        if (!c->ws_pre)
            return -ENOMEM;
        memcpy(c->ws_pre, resp + hdr_len, len - hdr_len);
        c->ws_pre_len = len - hdr_len;
        c->ws_pre_pos = 0;
    }
    *end = '\0';
    if (memchr(resp, '\0', (size_t)(end - resp))) {
        set_err(c, "websocket handshake: NUL in response headers");
        return -EPROTO;
    }
    r = ws_check_response(c, resp, key);
    if (r < 0)
        return r;

    struct wslay_event_callbacks cb = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .genmask_callback = ws_genmask_cb,
        .on_msg_recv_callback = ws_on_msg_cb,
    };
    if (wslay_event_context_client_init(&c->ws, &cb, c) != 0) {
        c->ws = NULL;
        return -ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, (uint64_t)c->rcap);
    return 0;
}

static int tcp_connect(petrel_client_t *c, int64_t deadline)
{
    int r = pnet_connect(c->host, c->port, deadline, &c->fd);
    if (r == -EHOSTUNREACH)
        set_err(c, "resolve %s: host not found", c->host);
    else if (r < 0)
        set_err(c, "connect %s:%s: %s", c->host, c->port, strerror(-r));
    return r;
}

/* ---- public API ------------------------------------------------------------ */

petrel_client_t *petrel_client_new(const petrel_client_opts_t *o)
{
    if (!o || !o->url) {
        errno = EINVAL;
        return NULL;
    }
    petrel_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->fd = -1;
    c->state = ST_IDLE;
    c->close_notified = 1;
    if (parse_url(c, o->url) < 0) {
        free(c);
        errno = EINVAL;
        return NULL;
    }
    c->app_id = o->app_id;
    c->client_type = o->client_type;
    c->heartbeat_ms = o->heartbeat_ms == 0 ? DEFAULT_HEARTBEAT_MS : o->heartbeat_ms;
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    c->max_body = o->max_body ? o->max_body : PETREL_DEFAULT_MAX_BODY;
    if (c->max_body > INT32_MAX - PETREL_DOWN_HDR_LEN - 1)
        c->max_body = INT32_MAX - PETREL_DOWN_HDR_LEN - 1;
    c->max_pending = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
    c->on_packet = o->on_packet;
    c->on_close = o->on_close;
    c->ud = o->userdata;

    char defimei[32];
    const char *imei = o->imei;
    if (!imei) {
        snprintf(defimei, sizeof defimei, "libpetrel-%ld", (long)getpid());
        imei = defimei;
    }
    c->imei = dup_str(imei);
    c->imei_len = c->imei ? strlen(c->imei) : 0;
    c->user_id = dup_str(o->user_id);
    c->user_sign = dup_str(o->user_sign);
    c->rcap = PETREL_DOWN_HDR_LEN + (size_t)c->max_body;
    c->rbuf = malloc(c->rcap + 1);
    if (!c->imei || (o->user_id && !c->user_id) || (o->user_sign && !c->user_sign) || !c->rbuf) {
        petrel_client_free(c);
        errno = ENOMEM;
        return NULL;
    }
    return c;
}

int petrel_connect(petrel_client_t *c)
{
    if (!c)
        return -EINVAL;
    if (c->in_callback)
        return -EBUSY;
    if (c->state == ST_OPEN)
        return -EISCONN;
    reset_conn(c);
    c->state = ST_IDLE;
    int64_t deadline = now_ms() + c->connect_timeout_ms;
    int r = tcp_connect(c, deadline);
    if (r == 0 && c->transport == TR_WS)
        r = ws_handshake(c, deadline);
    if (r < 0) {
        char keep[sizeof c->err];
        memcpy(keep, c->err, sizeof keep);
        reset_conn(c);
        memcpy(c->err, keep, sizeof keep);
        return r;
    }
    c->state = ST_OPEN;
    return 0;
}

int petrel_login(petrel_client_t *c)
{
    if (!c)
        return -EINVAL;
    if (!c->user_id || !c->user_sign) {
        set_err(c, "login needs user_id and user_sign");
        return -EINVAL;
    }
    json_t *o = json_pack("{s:s, s:s}", "userId", c->user_id, "userSign", c->user_sign);
    if (!o) {
        set_err(c, "login: user_id/user_sign are not valid UTF-8");
        return -EINVAL;
    }
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        return -ENOMEM;
    int r = queue_packet(c, PETREL_CMD_LOGIN, body, strlen(body));
    free(body);
    if (r == 0 && c->heartbeat_ms > 0) {
        c->heartbeat_on = 1;
        c->next_ping = now_ms() + c->heartbeat_ms;
    }
    return r;
}

int petrel_send(petrel_client_t *c, int32_t command, const char *json, size_t len)
{
    if (!c || (!json && len))
        return -EINVAL;
    return queue_packet(c, command, json ? json : "", len);
}

int petrel_send_raw(petrel_client_t *c, const void *bytes, size_t len)
{
    if (!c || (!bytes && len))
        return -EINVAL;
    return queue_bytes(c, bytes, len);
}

int petrel_logout(petrel_client_t *c)
{
    if (!c)
        return -EINVAL;
    int r = queue_packet(c, PETREL_CMD_LOGOUT, "{}", 2);
    c->heartbeat_on = 0;
    if (r < 0 || c->in_callback)
        return r;
    return flush_wait(c, c->connect_timeout_ms);
}

int petrel_flush(petrel_client_t *c, int timeout_ms)
{
    if (!c)
        return -EINVAL;
    if (c->in_callback)
        return -EBUSY;
    return flush_wait(c, timeout_ms);
}

int petrel_run(petrel_client_t *c, int timeout_ms)
{
    if (!c)
        return -EINVAL;
    if (c->in_callback)
        return -EBUSY;
    if (c->state == ST_IDLE)
        return -ENOTCONN;
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        if (c->close_requested)
            do_close(c);
        if (c->state != ST_OPEN) {
            if (!c->close_notified) {
                c->close_notified = 1;
                if (c->on_close) {
                    c->in_callback++;
                    c->on_close(c, c->close_reason, c->ud);
                    c->in_callback--;
                }
            }
            return 1;
        }
        /* Bytes that arrived with the upgrade response never wake poll(). */
        if (c->transport == TR_WS && c->ws_pre_pos < c->ws_pre_len) {
            read_some(c, 0);
            continue;
        }
        int64_t now = now_ms();
        if (c->heartbeat_on && now >= c->next_ping) {
            if (queue_packet(c, PETREL_CMD_PING, "{}", 2) < 0) /* e.g. -ENOBUFS */
                c->next_ping = now + c->heartbeat_ms;    /* retry a beat later */
            continue;
        }
        if (flush_nb(c) < 0)
            continue;

        int wait = deadline < 0 ? -1 : ms_left(deadline);
        if (c->heartbeat_on) {
            int hb = ms_left(c->next_ping);
            if (wait < 0 || hb < wait)
                wait = hb;
        }
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        if (want_write(c))
            p.events |= POLLOUT;
        int n = poll(&p, 1, wait);
        if (n < 0) {
            if (errno == EINTR)
                return 0;
            return -errno;
        }
        if (n > 0) {
            if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
                read_some(c, p.revents);
            if (c->state == ST_OPEN && !c->close_requested && (p.revents & POLLOUT))
                flush_nb(c);
        }
        if (c->state == ST_OPEN && !c->close_requested && deadline >= 0 && now_ms() >= deadline)
            return 0;
    }
}

void petrel_close(petrel_client_t *c)
{
    if (!c || c->state != ST_OPEN)
        return;
    if (c->in_callback) {
        c->close_requested = 1;
        c->heartbeat_on = 0;
        return;
    }
    do_close(c);
}

void petrel_client_free(petrel_client_t *c)
{
    if (!c)
        return;
    petrel_close(c);
    reset_conn(c);
    free(c->rbuf);
    free(c->wbuf);
    free(c->user_id);
    free(c->user_sign);
    free(c->imei);
    free(c);
}

int petrel_is_connected(const petrel_client_t *c)
{
    return c && c->state == ST_OPEN && !c->close_requested;
}

int petrel_close_reason(const petrel_client_t *c)
{
    return c && c->state == ST_CLOSED ? c->close_reason : 0;
}

int petrel_client_fd(const petrel_client_t *c)
{
    return c && c->state == ST_OPEN ? c->fd : -1;
}

const char *petrel_client_error(const petrel_client_t *c)
{
    return c ? c->err : "";
}
