/*
 * petrel-bench connections: libuv TCP clients speaking petrel's wire
 * protocol, shared by every workload.
 *
 * - Setup (bench_init) makes every user's userSign token and encodes its
 *   LOGIN frame up front, so token making (HMAC + zlib) is never inside a
 *   measured interval.
 * - Connect pipeline: bench_connect_range() starts connections until
 *   max_inflight are between "connect started" and "LOGINACK or failure";
 *   each completion starts the next one.  A connection is bound to a source
 *   address first when sources are configured (IP_BIND_ADDRESS_NO_PORT, so
 *   the port is picked at connect time per destination and each source
 *   address gives a full ephemeral port range).
 * - Input: reads land in one shared buffer (one thread, one loop); whole
 *   downlink frames are decoded in place with petrel_decode_down and only a
 *   partial frame is copied into the connection (as the server does).
 * - Output: uv_try_write first; whatever the kernel did not take is copied
 *   into a write request.  Pre-encoded LOGIN frames are written the same way.
 * - Heartbeat: one ticker (20 ms) sends the PINGs that are due, connection
 *   i at t0 + (i + k*n) * interval / n, so n connections send n pings per
 *   interval evenly spread instead of in bursts.  The ticker also prints
 *   progress and enforces the global deadline.
 * - --tcp-peer / --http-peer (p2p, rate, fanout): the odd connections
 *   (p2p's receivers, half of a group's members) connect to a second node,
 *   the even ones to --tcp.
 * - --transport ws: the same connections carry WebSocket (ws.c): after the
 *   TCP connect the upgrade request goes out instead of the LOGIN, reads go
 *   to bws_input() (handshake, then wslay), and bench_send() queues one
 *   binary message per packet.
 * - bench_run_until() is the only driver of the loop: UV_RUN_ONCE until a
 *   predicate holds, bounded by its own limit, the global deadline and an
 *   iteration cap; the ticker guarantees it wakes up at least every 20 ms.
 */
#include "bench.h"

#include "petrel/proto.h"
#include "petrel/sign.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS          20
#define PROGRESS_NS      (5ull * 1000000000ull)
#define TOKEN_TTL_S      (7 * 86400)
#define RUN_MAX_ITERS    100000000ull   /* safety cap on loop iterations per wait */
#define CLOSE_WAIT_NS    (5ull * 1000000000ull)

uint64_t bench_now_ns(void)
{
    return uv_hrtime();
}

double bench_elapsed_s(const bench_t *b)
{
    return (double)(bench_now_ns() - b->t0_ns) / 1e9;
}

/* ---- output ---------------------------------------------------------------- */

static void fail(bconn_t *c, uint64_t *counter, int err);
static void lost(bconn_t *c, int err);

typedef struct wreq {
    uv_write_t req;
    size_t len;
    uint8_t data[];
} wreq_t;

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    bconn_t *c = req->handle->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        if (c->state == BC_LOGGING_IN)
            fail(c, &c->b->cnt.fail_other, status);
        else if (c->state == BC_READY)
            lost(c, status);
    }
}

int bench_write_raw(bconn_t *c, const uint8_t *data, size_t len)
{
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n == (int)len) {
        c->b->cnt.bytes_out += len;
        return 0;
    }
    if (n < 0 && n != UV_EAGAIN) {
        c->b->cnt.last_errno = n;
        return -1;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    wreq_t *w = malloc(sizeof *w + (len - done));
    if (!w)
        return -1;
    w->len = len - done;
    memcpy(w->data, data + done, w->len);
    buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rc < 0) {
        c->b->cnt.last_errno = rc;
        free(w);
        return -1;
    }
    c->b->cnt.bytes_out += len;
    return 0;
}

static size_t encode_up(const bench_t *b, uint8_t *out, size_t cap, int32_t command,
                        const char *imei, size_t imei_len, const char *body, size_t body_len)
{
    petrel_up_hdr_t h = {
        .command = command, .version = 1, .client_type = b->o->client_type,
        .message_type = 0, .app_id = b->o->app_id,
        .imei_len = (int32_t)imei_len, .body_len = (int32_t)body_len,
    };
    return petrel_encode_up(out, cap, &h, imei, imei_len, body, body_len);
}

int bench_send(bconn_t *c, int32_t command, const char *body, size_t body_len)
{
    bench_t *b = c->b;
    if (c->state != BC_READY && c->state != BC_LOGGING_IN)
        return -1;
    size_t need = encode_up(b, NULL, 0, command, NULL, 0, body, body_len);
    uint8_t *out = need <= sizeof b->wbuf ? b->wbuf : malloc(need);
    if (!out)
        return -1;
    encode_up(b, out, need, command, NULL, 0, body, body_len);
    int rc = b->o->ws ? bws_send(c, out, need) : bench_write_raw(c, out, need);
    if (out != b->wbuf)
        free(out);
    if (rc < 0) {
        b->cnt.fail_other++;
        bench_close(c);
    }
    return rc;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    bconn_t *c = h->data;
    bws_free(c);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    c->state = BC_IDLE;
    c->b->open--;
}

/* Leave the connect pipeline (once) and start the next connection. */
static void pipeline_done(bconn_t *c);

void bench_close(bconn_t *c)
{
    if (c->state == BC_IDLE || c->state == BC_CLOSING)
        return;
    if (c->state == BC_READY)
        c->b->ready--;
    c->state = BC_CLOSING;
    pipeline_done(c);   /* no-op unless closed before LOGINACK by the workload */
    c->ping_out = 0;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void bench_close_all(bench_t *b)
{
    b->end = b->next;   /* start nothing more */
    for (uint32_t i = 0; i < b->n; i++)
        bench_close(&b->conns[i]);
}

/* A connection failed before LOGINACK. */
static void fail(bconn_t *c, uint64_t *counter, int err)
{
    (*counter)++;
    if (err)
        c->b->cnt.last_errno = err;
    pipeline_done(c);
    bench_close(c);
}

/* A logged-in connection was closed by the server or broke. */
static void lost(bconn_t *c, int err)
{
    bench_t *b = c->b;
    b->cnt.closed_by_server++;
    if (b->phase == PHASE_HOLD)
        b->cnt.closed_in_hold++;
    if (err && err != UV_EOF)
        b->cnt.last_errno = err;
    if (b->hooks && b->hooks->on_lost)
        b->hooks->on_lost(b, c);
    bench_close(c);
}

static void on_loginack(bconn_t *c)
{
    bench_t *b = c->b;
    uint64_t now = bench_now_ns();
    c->state = BC_READY;
    b->ready++;
    b->cnt.logins_ok++;
    b->round_last_ns = now;
    hist_add(&b->login_lat, (now - c->t_start_ns) / 1000);
    pipeline_done(c);
}

/* ---- input ------------------------------------------------------------------- */

static int error_code(const char *json, size_t len)
{
    /* {"code":61014,...}: enough to find the number without a JSON parser. */
    for (size_t i = 0; i + 7 < len && i < 256; i++)
        if (memcmp(json + i, "\"code\":", 7) == 0)
            return (int)strtol(json + i + 7, NULL, 10);
    return 0;
}

/* One downlink packet.  Returns 0, or -1 if the connection is now closing. */
static int on_packet(bconn_t *c, int32_t cmd, const char *json, size_t len)
{
    bench_t *b = c->b;
    b->cnt.packets_in++;
    if (cmd == PETREL_CMD_LOGINACK && c->state == BC_LOGGING_IN) {
        on_loginack(c);
    } else if (cmd == PETREL_CMD_PING) {
        b->cnt.pongs++;
        if (c->ping_out) {
            c->ping_out = 0;
            hist_add(&b->ping_rtt, (bench_now_ns() - c->t_ping_ns) / 1000);
        }
        if (c->state == BC_READY && b->hooks && b->hooks->on_pong)
            b->hooks->on_pong(b, c);
    } else if (cmd == PETREL_CMD_ERROR) {
        b->cnt.errors_rx++;
        b->cnt.last_error_code = error_code(json, len);
        if (c->state == BC_LOGGING_IN) {
            fail(c, &b->cnt.fail_login, 0);
            return -1;
        }
    } else if (c->state == BC_READY && b->hooks && b->hooks->on_packet) {
        b->hooks->on_packet(b, c, cmd, json, len);
    } else {
        b->cnt.other_rx++;
    }
    return c->state == BC_CLOSING ? -1 : 0;
}

/* Decode every whole frame of buf[0..len); returns the bytes consumed or -1
 * (connection closing). */
long bench_feed(bconn_t *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    for (uint32_t guard = 0; off < len && guard < 1000000; guard++) {
        int32_t cmd;
        const char *json;
        size_t jl, fl;
        int rc = petrel_decode_down(buf + off, len - off, BENCH_MAX_FRAME, &cmd, &json, &jl, &fl);
        if (rc == PETREL_DEC_NEED_MORE)
            break;
        if (rc != PETREL_DEC_OK) {
            c->b->cnt.fail_other++;
            bench_close(c);
            return -1;
        }
        off += fl;
        if (on_packet(c, cmd, json, jl) < 0)
            return -1;
    }
    return (long)off;
}

static int keep_partial(bconn_t *c, const uint8_t *data, size_t len)
{
    if (len > c->in_cap) {
        size_t cap = len < 256 ? 256 : len;
        uint8_t *p = realloc(c->in, cap);
        if (!p)
            return -1;
        c->in = p;
        c->in_cap = (uint32_t)cap;
    }
    memmove(c->in, data, len);
    c->in_len = (uint32_t)len;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    bconn_t *c = h->data;
    *buf = uv_buf_init((char *)c->b->rbuf, sizeof c->b->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bconn_t *c = s->data;
    bench_t *b = c->b;
    if (nread == 0 || c->state == BC_CLOSING)
        return;
    if (nread < 0) {
        if (c->state == BC_READY)
            lost(c, (int)nread);
        else
            fail(c, &b->cnt.fail_login, (int)nread);
        return;
    }
    b->cnt.bytes_in += (uint64_t)nread;
    const uint8_t *data = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    if (b->o->ws) {
        bws_input(c, data, len);
        return;
    }
    if (c->in_len) {
        /* Complete the partial frame first (bounded by BENCH_MAX_FRAME). */
        if ((size_t)c->in_len + len > BENCH_MAX_FRAME + PETREL_DOWN_HDR_LEN) {
            b->cnt.fail_other++;
            bench_close(c);
            return;
        }
        size_t need = c->in_len + len;
        if (need > c->in_cap) {
            uint8_t *p = realloc(c->in, need);
            if (!p) {
                bench_close(c);
                return;
            }
            c->in = p;
            c->in_cap = (uint32_t)need;
        }
        memcpy(c->in + c->in_len, data, len);
        c->in_len = (uint32_t)need;
        long used = bench_feed(c, c->in, c->in_len);
        if (used < 0)
            return;
        size_t rest = c->in_len - (size_t)used;
        if (rest == 0) {
            free(c->in);
            c->in = NULL;
            c->in_len = c->in_cap = 0;
        } else if (keep_partial(c, c->in + used, rest) < 0) {
            bench_close(c);
        }
        return;
    }
    long used = bench_feed(c, data, len);
    if (used < 0)
        return;
    if ((size_t)used < len && keep_partial(c, data + used, len - (size_t)used) < 0)
        bench_close(c);
}

/* ---- connect pipeline ------------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status)
{
    bconn_t *c = req->data;
    bench_t *b = c->b;
    if (c->state != BC_CONNECTING)
        return;                         /* closed meanwhile (ECANCELED) */
    if (status < 0) {
        fail(c, &b->cnt.fail_connect, status);
        return;
    }
    b->cnt.established++;
    c->state = BC_LOGGING_IN;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc == 0)
        rc = b->o->ws ? bws_start(c) : bench_write_raw(c, c->login, c->login_len);
    if (rc < 0)
        fail(c, &b->cnt.fail_other, rc);
}

const struct sockaddr_in *bench_conn_addr(const bench_t *b, const bconn_t *c)
{
    return b->o->have_peer && (c->idx & 1u) ? &b->o->peer : &b->o->target;
}

const char *bench_conn_host(const bench_t *b, const bconn_t *c)
{
    return b->o->have_peer && (c->idx & 1u) ? b->o->peer_str : b->o->http_str;
}

static void start_one(bconn_t *c)
{
    bench_t *b = c->b;
    const bench_opts_t *o = b->o;
    c->in_pipeline = 1;
    b->inflight++;
    b->cnt.connects++;
    c->t_start_ns = bench_now_ns();
    if (b->round_first_ns == 0)
        b->round_first_ns = c->t_start_ns;
    int rc = uv_tcp_init_ex(&b->loop, &c->tcp, AF_INET);
    if (rc < 0) {
        b->cnt.fail_connect++;
        b->cnt.last_errno = rc;
        pipeline_done(c);
        return;
    }
    c->tcp.data = c;
    c->state = BC_CONNECTING;
    b->open++;
    if (o->nsources) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&o->sources[c->idx % o->nsources], 0);
        if (rc < 0) {
            fail(c, &b->cnt.fail_connect, rc);
            return;
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->connect_req.data = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)bench_conn_addr(b, c),
                        on_connect);
    if (rc < 0)
        fail(c, &b->cnt.fail_connect, rc);
}

static void pump(bench_t *b)
{
    if (b->pumping)
        return;         /* a synchronous failure inside start_one: the loop below goes on */
    b->pumping = 1;
    for (uint32_t guard = 0; guard < b->n && b->next < b->end && b->inflight < b->max_inflight;
         guard++) {
        bconn_t *c = &b->conns[b->next++];
        if (c->state != BC_IDLE)
            continue;                   /* still open from an earlier round */
        start_one(c);
    }
    b->pumping = 0;
}

static void pipeline_done(bconn_t *c)
{
    bench_t *b = c->b;
    if (!c->in_pipeline)
        return;
    c->in_pipeline = 0;
    b->inflight--;
    b->settled++;
    pump(b);
}

void bench_connect_range(bench_t *b, uint32_t first, uint32_t count, uint32_t max_inflight)
{
    if (first > b->n)
        first = b->n;
    if (count > b->n - first)
        count = b->n - first;
    b->next = first;
    b->end = first + count;
    b->range_n = count;
    b->settled = 0;
    b->max_inflight = max_inflight ? max_inflight : 1;
    b->round_first_ns = b->round_last_ns = 0;
    hist_reset(&b->login_lat);
    pump(b);
}

int bench_pred_settled(const bench_t *b)
{
    /* Connections skipped by pump (still open) count as settled too. */
    return b->next >= b->end && b->inflight == 0;
}

int bench_pred_closed(const bench_t *b)
{
    return b->open == 0;
}

int bench_pred_never(const bench_t *b)
{
    (void)b;
    return 0;
}

uint64_t bench_failures(const bench_t *b)
{
    return b->cnt.fail_connect + b->cnt.fail_login + b->cnt.fail_other;
}

/* ---- heartbeat, ticker, driver ------------------------------------------------------ */

static void send_ping(bconn_t *c)
{
    if (c->state != BC_READY)
        return;
    if (!c->ping_out) {
        c->ping_out = 1;
        c->t_ping_ns = bench_now_ns();
    }
    c->b->cnt.pings++;
    bench_send(c, PETREL_CMD_PING, "{}", 2);
}

void bench_heartbeat(bench_t *b, uint32_t interval_ms)
{
    b->ping_interval_ns = (uint64_t)interval_ms * 1000000ull;
    b->ping_t0_ns = bench_now_ns();
    b->ping_seq = 0;
}

static void heartbeat_tick(bench_t *b, uint64_t now)
{
    uint32_t n = b->hb_n && b->hb_n < b->n ? b->hb_n : b->n;
    if (!b->ping_interval_ns || n == 0)
        return;
    /* Pings due so far; at most one round of n per tick (no catch-up burst). */
    uint64_t elapsed = now - b->ping_t0_ns;
    uint64_t due = (uint64_t)((double)elapsed * (double)n / (double)b->ping_interval_ns);
    for (uint32_t i = 0; i < n && b->ping_seq < due; i++, b->ping_seq++)
        send_ping(&b->conns[b->ping_seq % n]);
    if (b->ping_seq < due)
        b->ping_seq = due;
}

static void progress(bench_t *b)
{
    fprintf(stderr,
            "[%6.1fs] open=%" PRIu32 " ready=%" PRIu32 " logins=%" PRIu64 " failed=%" PRIu64
            " closed_by_server=%" PRIu64 " pings=%" PRIu64 " pongs=%" PRIu64 " errors=%" PRIu64 "\n",
            bench_elapsed_s(b), b->open, b->ready, b->cnt.logins_ok, bench_failures(b),
            b->cnt.closed_by_server, b->cnt.pings, b->cnt.pongs, b->cnt.errors_rx);
}

static void on_tick(uv_timer_t *t)
{
    bench_t *b = t->data;
    uint64_t now = bench_now_ns();
    if (now >= b->deadline_ns && !b->aborted) {
        fprintf(stderr, "petrel-bench: global deadline (--timeout %" PRIu32 " s) reached, stopping\n",
                b->o->timeout_s);
        b->aborted = 1;
    }
    heartbeat_tick(b, now);
    if (now >= b->next_progress_ns) {
        b->next_progress_ns = now + PROGRESS_NS;
        progress(b);
    }
}

static void on_sigint(uv_signal_t *s, int signum)
{
    bench_t *b = s->data;
    (void)signum;
    if (!b->aborted)
        fprintf(stderr, "petrel-bench: interrupted, stopping\n");
    b->aborted = 1;
}

int bench_run_until(bench_t *b, int (*pred)(const bench_t *b), uint64_t until_ns)
{
    for (uint64_t i = 0; i < RUN_MAX_ITERS; i++) {
        if (pred(b))
            return 0;
        if (b->aborted)
            return -1;
        uint64_t now = bench_now_ns();
        if (until_ns && now >= until_ns)
            return 1;
        if (now >= b->deadline_ns) {
            b->aborted = 1;
            return -1;
        }
        uv_run(&b->loop, UV_RUN_ONCE);
    }
    return 1;
}

void bench_shutdown(bench_t *b)
{
    b->ping_interval_ns = 0;
    bench_close_all(b);
    /* Closing is local and quick; allow it past the global deadline. */
    uint64_t until = bench_now_ns() + CLOSE_WAIT_NS;
    for (uint32_t i = 0; i < 100000 && b->open && bench_now_ns() < until; i++)
        uv_run(&b->loop, UV_RUN_NOWAIT);
}

/* ---- setup ------------------------------------------------------------------------ */

static int make_login(bench_t *b, bconn_t *c, int64_t now_s)
{
    const bench_opts_t *o = b->o;
    char user[64], imei[64], token[PETREL_SIGN_MAX_TOKEN + 1], body[PETREL_SIGN_MAX_TOKEN + 160];
    uint32_t u = c->idx + o->first_user;
    snprintf(user, sizeof user, "bench-%" PRIu32, u);
    int il = snprintf(imei, sizeof imei, "bench-dev-%" PRIu32, u);
    int tl = petrel_sign_make(o->secret, o->app_id, user, TOKEN_TTL_S, now_s, token, sizeof token);
    if (tl < 0)
        return -1;
    int bl = snprintf(body, sizeof body, "{\"userId\":\"%s\",\"userSign\":\"%s\"}", user, token);
    if (bl < 0 || (size_t)bl >= sizeof body)
        return -1;
    size_t need = encode_up(b, NULL, 0, PETREL_CMD_LOGIN, imei, (size_t)il, body, (size_t)bl);
    c->login = malloc(need);
    if (!c->login)
        return -1;
    encode_up(b, c->login, need, PETREL_CMD_LOGIN, imei, (size_t)il, body, (size_t)bl);
    c->login_len = (uint32_t)need;
    return 0;
}

int bench_init(bench_t *b, const bench_opts_t *o, uint32_t n)
{
    b->o = o;
    b->n = n;
    b->t0_ns = bench_now_ns();
    b->deadline_ns = b->t0_ns + (uint64_t)o->timeout_s * 1000000000ull;
    b->next_progress_ns = b->t0_ns + PROGRESS_NS;
    hist_reset(&b->login_lat);
    hist_reset(&b->ping_rtt);
    if (uv_loop_init(&b->loop) != 0) {
        fprintf(stderr, "petrel-bench: uv_loop_init failed\n");
        return -1;
    }
    b->loop_ok = 1;
    b->conns = calloc(n ? n : 1, sizeof *b->conns);
    if (!b->conns) {
        fprintf(stderr, "petrel-bench: out of memory for %" PRIu32 " connections\n", n);
        return -1;
    }
    int64_t now_s = (int64_t)time(NULL);
    for (uint32_t i = 0; i < n; i++) {
        bconn_t *c = &b->conns[i];
        c->b = b;
        c->idx = i;
        if (make_login(b, c, now_s) < 0) {
            fprintf(stderr, "petrel-bench: cannot make the LOGIN of user bench-%" PRIu32 "\n", i);
            return -1;
        }
    }
    uv_timer_init(&b->loop, &b->ticker);
    b->ticker.data = b;
    uv_timer_start(&b->ticker, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(&b->loop, &b->sigint);
    b->sigint.data = b;
    uv_signal_start(&b->sigint, on_sigint, SIGINT);
    fprintf(stderr, "petrel-bench: %" PRIu32 " LOGIN frames ready in %.2f s\n", n, bench_elapsed_s(b));
    return 0;
}

void bench_free(bench_t *b)
{
    if (b->ticker.loop) {       /* bench_init got as far as the handles */
        bench_shutdown(b);
        uv_close((uv_handle_t *)&b->ticker, NULL);
        uv_close((uv_handle_t *)&b->sigint, NULL);
    }
    if (b->loop_ok) {
        for (int i = 0; i < 100 && uv_loop_alive(&b->loop); i++)
            uv_run(&b->loop, UV_RUN_NOWAIT);
        (void)uv_loop_close(&b->loop);
    }
    for (uint32_t i = 0; b->conns && i < b->n; i++)
        free(b->conns[i].login);
    free(b->conns);
    b->conns = NULL;
}

/* ---- common result fields ------------------------------------------------------------ */

void bench_result_common(const bench_t *b, result_t *r)
{
    const bench_opts_t *o = b->o;
    res_str(r, "target", o->target_str, NULL);
    if (o->have_peer)
        res_str(r, "peer", o->peer_str, NULL);
    res_int(r, "app", o->app_id, NULL);
    res_int(r, "client_type", o->client_type, NULL);
    res_int(r, "conns", o->conns, "conns");
    res_int(r, "concurrency", o->concurrency, NULL);
    res_int(r, "sources", o->nsources ? o->nsources : 1, NULL);
    res_int(r, "server_pid", o->pid, NULL);
    res_str(r, "libuv", uv_version_string(), NULL);
    res_int(r, "established", (long long)b->cnt.established, "established");
    res_int(r, "logins_acked", (long long)b->cnt.logins_ok, "logins acked");
    res_int(r, "failures", (long long)bench_failures(b), "failures");
    res_int(r, "fail_connect", (long long)b->cnt.fail_connect, NULL);
    res_int(r, "fail_login", (long long)b->cnt.fail_login, NULL);
    res_int(r, "fail_other", (long long)b->cnt.fail_other, NULL);
    res_int(r, "errors_received", (long long)b->cnt.errors_rx, NULL);
    res_int(r, "last_error_code", b->cnt.last_error_code, NULL);
    res_str(r, "last_errno", b->cnt.last_errno ? uv_err_name(b->cnt.last_errno) : "", NULL);
    res_int(r, "closed_by_server", (long long)b->cnt.closed_by_server, NULL);
    res_int(r, "pings", (long long)b->cnt.pings, NULL);
    res_int(r, "pongs", (long long)b->cnt.pongs, NULL);
    res_int(r, "bytes_in", (long long)b->cnt.bytes_in, NULL);
    res_int(r, "bytes_out", (long long)b->cnt.bytes_out, NULL);
    res_int_opt(r, "bench_rss_kib", proc_status_kib(getpid(), "VmRSS"), NULL);
    res_int(r, "users_imported", (long long)b->users_added, NULL);
    res_int(r, "users_existing", (long long)b->users_existing, NULL);
    res_bool(r, "aborted", b->aborted, NULL);
}
