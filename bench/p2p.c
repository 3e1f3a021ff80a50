/*
 * petrel-bench one-to-one message engine, shared by the workloads "p2p"
 * (closed loop: --window messages in flight per sender) and "rate" (open
 * loop: a token bucket sends --rate msgs/s in total).
 *
 * Roles: connection 2i (user bench-<2i>) sends MSG_P2P 1103 to user
 * bench-<2i+1>, logged in on connection 2i+1; an odd --clients leaves the
 * last connection idle.  Every message has a unique messageId
 * (<run nonce>-<sender>-<n>, so a re-run against the same data directory
 * never hits the server's idempotency path) and a messageBody text
 *
 *     {"type":1,"content":"@ts=<20-digit CLOCK_MONOTONIC ns>;xxxx..."}
 *
 * padded with 'x' to --size bytes (never less than the 48 bytes of the
 * fixed part).  The receiver reads the timestamp back from the pushed 1103
 * and records send -> receive latency; client and server share the clock
 * because they share the machine (loopback only).
 *
 * Checks, for every message:
 *   - MSG_ACK 1046 with code 200 marks its messageKey "acked" (any other
 *     code is an ack error; the sender goes on);
 *   - the pushed 1103 marks the messageKey "received" on the receiving
 *     connection: a second receipt is a duplicate; a messageSequence not
 *     greater than the previous one from the same sender is out of order;
 *     a fromId other than the pair's sender is "unexpected";
 *   - after the run, sending stops and the tool waits (--drain, 2 s) for
 *     the outstanding acks and deliveries; an acked key never received is
 *     lost.
 * The keys live in one open-addressing table (messageKey -> flags), grown
 * by doubling up to 2^24 slots; beyond that tracking stops and the run is
 * reported as not ok.
 *
 * Measured interval: after --warmup s of sending, --duration s.  Between
 * the two snapshots (server CPU from /proc/PID/stat, this process's CPU
 * from getrusage) the tool counts messages received, acked and sent, and
 * the latency of the messages received.  delivered/s = received in the
 * interval / its length; messages per server CPU second = received in the
 * interval / server CPU seconds in the interval.
 *
 * Cluster runs: with --tcp-peer the receivers sit on a second node (net.c);
 * with --metrics the nodes' bus and Redis counters are read just before
 * the first snapshot and just after the second, and reported per message
 * received in the interval.
 *
 * Sending is driven from the ack callback in closed-loop mode and from a
 * 1 ms timer in rate mode (tokens accrue at --rate per second, at most 50 ms
 * worth banked; round-robin over the senders, skipping a sender that has
 * --window unacked messages: the cap that keeps an overloaded server from
 * being buried; tokens that do not fit are counted as dropped).
 */
#include "bench.h"

#include "petrel/proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define KS_MIN_BITS   16
#define KS_MAX_BITS   24
#define F_ACKED       1u
#define F_RECV        2u
#define BODY_FIXED    48u       /* {"type":1,"content":"@ts=<20>;"} */
#define TS_DIGITS     20
#define RATE_TICK_MS  1
#define LOOP_TICK_MS  100
#define BANK_NS       50000000ull   /* rate: at most 50 ms of tokens banked */

/* ---- messageKey table ------------------------------------------------------ */

typedef struct keyset {
    uint64_t *keys;
    uint8_t *flags;
    unsigned bits;
    size_t n;
    int overflow;
} keyset_t;

static size_t ks_slot(const keyset_t *ks, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - ks->bits));
}

static int ks_alloc(keyset_t *ks, unsigned bits)
{
    size_t cap = (size_t)1 << bits;
    ks->keys = calloc(cap, sizeof *ks->keys);
    ks->flags = calloc(cap, 1);
    ks->bits = bits;
    ks->n = 0;
    if (!ks->keys || !ks->flags) {
        free(ks->keys);
        free(ks->flags);
        ks->keys = NULL;
        ks->flags = NULL;
        return -1;
    }
    return 0;
}

static void ks_free(keyset_t *ks)
{
    free(ks->keys);
    free(ks->flags);
    ks->keys = NULL;
    ks->flags = NULL;
}

/* Slot of key (inserted if absent); SIZE_MAX when the table is full. */
static size_t ks_find(keyset_t *ks, uint64_t key)
{
    size_t mask = ((size_t)1 << ks->bits) - 1;
    size_t i = ks_slot(ks, key);
    for (size_t probe = 0; probe <= mask; probe++, i = (i + 1) & mask) {
        if (ks->keys[i] == key)
            return i;
        if (ks->keys[i] == 0) {
            ks->keys[i] = key;
            ks->n++;
            return i;
        }
    }
    return SIZE_MAX;
}

static int ks_grow(keyset_t *ks)
{
    keyset_t nk = {0};
    if (ks->bits >= KS_MAX_BITS || ks_alloc(&nk, ks->bits + 1) < 0)
        return -1;
    size_t cap = (size_t)1 << ks->bits;
    for (size_t i = 0; i < cap; i++) {
        if (!ks->keys[i])
            continue;
        size_t j = ks_find(&nk, ks->keys[i]);
        nk.flags[j] = ks->flags[i];
    }
    ks_free(ks);
    *ks = nk;
    return 0;
}

/* Set flag on key; returns the flags it had before, or -1 (not tracked). */
static int ks_mark(keyset_t *ks, uint64_t key, uint8_t flag)
{
    if (ks->overflow || key == 0)
        return -1;
    if ((ks->n + 1) * 2 > ((size_t)1 << ks->bits) && ks_grow(ks) < 0) {
        ks->overflow = 1;
        fprintf(stderr, "petrel-bench: messageKey table full (%zu keys): tracking stops\n", ks->n);
        return -1;
    }
    size_t i = ks_find(ks, key);
    if (i == SIZE_MAX) {
        ks->overflow = 1;
        return -1;
    }
    uint8_t old = ks->flags[i];
    ks->flags[i] = old | flag;
    return old;
}

/* ---- state ------------------------------------------------------------------ */

typedef struct peer {
    uint32_t inflight;          /* sender: sent, not yet acked */
    uint64_t next_n;            /* sender: next message number */
    int64_t last_seq;           /* receiver: last messageSequence from its sender */
} peer_t;

typedef struct counters {
    uint64_t sent, acked, ack_errors, received, duplicated, out_of_order, unexpected,
        ack_parse_errors, msg_parse_errors, server_send_acks, other;
} counters_t;

typedef struct p2p {
    bench_t *b;
    uint32_t rate, window, size, pad, senders;
    int sending, measuring;
    peer_t *peers;
    keyset_t ks;
    char nonce[24];
    char *pad_str;
    char *body;                 /* uplink JSON scratch */
    size_t body_cap;
    counters_t tot, iv;         /* whole run / measured interval */
    hist_t lat;                 /* us, send -> receive, received in the interval */
    hist_t lat_all;             /* us, every message */
    int32_t last_ack_code;
    uint64_t lost_conns;
    /* rate mode */
    uv_timer_t timer;
    int timer_on;
    double tokens;
    uint64_t last_tick_ns, tokens_dropped, window_full;
    uint32_t rr;
    uint64_t next_progress_ns;
} p2p_t;

static p2p_t g_p;   /* static: the timer handle must outlive the loop */

/* ---- scanning the downlink JSON (no parser: this runs per message) ----------- */

static const char *find(const char *json, size_t len, const char *pat, size_t pat_len)
{
    const char *p = memmem(json, len, pat, pat_len);
    return p ? p + pat_len : NULL;
}

/* Integer after "key": at the top level (keys inside the escaped body text
 * appear as \"key\" and cannot match). */
static int get_int(const char *json, size_t len, const char *pat, size_t pat_len, int64_t *out)
{
    const char *p = find(json, len, pat, pat_len);
    const char *end = json + len;
    if (!p)
        return -1;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 19 && p < end && *p >= '0' && *p <= '9'; i++, p++)
        v = v * 10 + (*p - '0');
    *out = neg ? -v : v;
    return 0;
}

#define GET_INT(j, l, lit, out) get_int((j), (l), (lit), sizeof(lit) - 1, (out))

/* ---- sending ---------------------------------------------------------------- */

static int send_one(p2p_t *p, bconn_t *c)
{
    peer_t *pe = &p->peers[c->idx];
    uint64_t n = pe->next_n++;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    uint64_t ts = bench_now_ns();   /* uv_hrtime: CLOCK_MONOTONIC */
    int len = snprintf(p->body, p->body_cap,
                       "{\"messageId\":\"%s-%" PRIu32 "-%" PRIu64 "\",\"toId\":\"bench-%" PRIu32
                       "\",\"messageBody\":\"{\\\"type\\\":1,\\\"content\\\":\\\"@ts=%020" PRIu64
                       ";%s\\\"}\",\"messageTime\":%" PRId64 "}",
                       p->nonce, c->idx, n, c->idx + 1, ts, p->pad_str, wall_ms);
    if (len < 0 || (size_t)len >= p->body_cap)
        return -1;
    if (bench_send(c, PETREL_CMD_MSG_P2P, p->body, (size_t)len) < 0)
        return -1;
    pe->inflight++;
    p->tot.sent++;
    if (p->measuring)
        p->iv.sent++;
    return 0;
}

static int is_sender(const p2p_t *p, const bconn_t *c)
{
    return (c->idx & 1u) == 0 && c->idx + 1 < p->b->n;
}

/* ---- receiving ------------------------------------------------------------- */

static void on_ack(p2p_t *p, bconn_t *c, const char *json, size_t len)
{
    peer_t *pe = &p->peers[c->idx];
    if (pe->inflight)
        pe->inflight--;
    int64_t code = 0, key = 0;
    if (GET_INT(json, len, "\"code\":", &code) < 0) {
        p->tot.ack_parse_errors++;
    } else if (code != 200) {
        p->tot.ack_errors++;
        p->last_ack_code = (int32_t)code;
    } else if (GET_INT(json, len, "\"messageKey\":", &key) < 0) {
        p->tot.ack_parse_errors++;
    } else {
        p->tot.acked++;
        if (p->measuring)
            p->iv.acked++;
        ks_mark(&p->ks, (uint64_t)key, F_ACKED);
    }
    if (p->sending && p->rate == 0 && pe->inflight < p->window && c->state == BC_READY)
        send_one(p, c);
}

static void on_msg(p2p_t *p, bconn_t *c, const char *json, size_t len)
{
    uint64_t now = bench_now_ns();
    int64_t key = 0, seq = 0, from = -1;
    const char *ts = find(json, len, "@ts=", 4);
    const char *fp = find(json, len, "\"fromId\":\"bench-", 16);
    if (GET_INT(json, len, "\"messageKey\":", &key) < 0 ||
        GET_INT(json, len, "\"messageSequence\":", &seq) < 0 || !ts || !fp ||
        ts + TS_DIGITS > json + len) {
        p->tot.msg_parse_errors++;
        return;
    }
    if (get_int(fp, (size_t)(json + len - fp), "", 0, &from) < 0)
        from = -1;
    uint64_t t_send = 0;
    for (int i = 0; i < TS_DIGITS; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            p->tot.msg_parse_errors++;
            return;
        }
        t_send = t_send * 10 + (uint64_t)(ts[i] - '0');
    }
    int old = ks_mark(&p->ks, (uint64_t)key, F_RECV);
    if (old >= 0 && (old & F_RECV)) {
        p->tot.duplicated++;
        return;
    }
    p->tot.received++;
    uint64_t us = now > t_send ? (now - t_send) / 1000 : 0;
    hist_add(&p->lat_all, us);
    if (p->measuring) {
        p->iv.received++;
        hist_add(&p->lat, us);
    }
    if ((c->idx & 1u) == 0 || from != (int64_t)c->idx - 1) {
        p->tot.unexpected++;
        return;
    }
    peer_t *pe = &p->peers[c->idx];
    if (seq <= pe->last_seq)
        p->tot.out_of_order++;
    else
        pe->last_seq = seq;
}

static void hook_packet(bench_t *b, bconn_t *c, int32_t cmd, const char *json, size_t len)
{
    p2p_t *p = b->user;
    if (cmd == PETREL_CMD_MSG_ACK && is_sender(p, c))
        on_ack(p, c, json, len);
    else if (cmd == PETREL_CMD_MSG_P2P)
        on_msg(p, c, json, len);
    else if (cmd == PETREL_CMD_MSG_RECEIVE_ACK)
        p->tot.server_send_acks++;  /* receiver offline: server-made 1107 */
    else
        p->tot.other++;
}

static void hook_lost(bench_t *b, bconn_t *c)
{
    p2p_t *p = b->user;
    (void)c;
    p->lost_conns++;
}

static const bench_hooks_t hooks = {hook_packet, hook_lost, NULL};

/* ---- timer: rate mode sending, progress -------------------------------------- */

static void progress(p2p_t *p, uint64_t now)
{
    if (now < p->next_progress_ns)
        return;
    p->next_progress_ns = now + 5000000000ull;
    fprintf(stderr,
            "[%6.1fs] msgs sent=%" PRIu64 " acked=%" PRIu64 " received=%" PRIu64
            " ack_errors=%" PRIu64 " dup=%" PRIu64 " ooo=%" PRIu64 " p99(all)=%" PRIu64 "us\n",
            bench_elapsed_s(p->b), p->tot.sent, p->tot.acked, p->tot.received, p->tot.ack_errors,
            p->tot.duplicated, p->tot.out_of_order, hist_pct(&p->lat_all, 99));
}

static void rate_tick(p2p_t *p, uint64_t now)
{
    uint64_t dt = now - p->last_tick_ns;
    p->last_tick_ns = now;
    p->tokens += (double)dt * (double)p->rate / 1e9;
    double bank = (double)p->rate * (double)BANK_NS / 1e9;
    if (bank < 1.0)
        bank = 1.0;
    if (p->tokens > bank) {
        p->tokens_dropped += (uint64_t)(p->tokens - bank);
        p->tokens = bank;
    }
    bench_t *b = p->b;
    for (uint64_t guard = 0; p->tokens >= 1.0 && guard < 1000000; guard++) {
        int sent = 0;
        for (uint32_t tries = 0; tries < p->senders; tries++) {
            bconn_t *c = &b->conns[2 * (p->rr++ % p->senders)];
            if (c->state != BC_READY)
                continue;
            if (p->peers[c->idx].inflight >= p->window) {
                p->window_full++;
                continue;
            }
            if (send_one(p, c) == 0)
                sent = 1;
            break;
        }
        if (!sent)
            break;
        p->tokens -= 1.0;
    }
}

static void on_timer(uv_timer_t *t)
{
    p2p_t *p = t->data;
    uint64_t now = bench_now_ns();
    if (p->sending && p->rate)
        rate_tick(p, now);
    progress(p, now);
}

/* ---- predicates --------------------------------------------------------------- */

static int pred_drained(const bench_t *b)
{
    const p2p_t *p = b->user;
    uint64_t answered = p->tot.acked + p->tot.ack_errors + p->tot.ack_parse_errors;
    return answered >= p->tot.sent && p->tot.received + p->tot.msg_parse_errors >= p->tot.acked;
}

/* ---- the run ------------------------------------------------------------------- */

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int setup(p2p_t *p, bench_t *b, uint32_t rate)
{
    const bench_opts_t *o = b->o;
    memset(p, 0, sizeof *p);
    p->b = b;
    p->rate = rate;
    p->window = o->window;
    p->size = o->size;
    p->senders = b->n / 2;
    p->pad = o->size > BODY_FIXED ? o->size - BODY_FIXED : 0;
    p->peers = calloc(b->n, sizeof *p->peers);
    p->pad_str = malloc(p->pad + 1);
    p->body_cap = (size_t)p->pad + 512;
    p->body = malloc(p->body_cap);
    if (!p->peers || !p->pad_str || !p->body || ks_alloc(&p->ks, KS_MIN_BITS) < 0) {
        fprintf(stderr, "petrel-bench: out of memory\n");
        return -1;
    }
    memset(p->pad_str, 'x', p->pad);
    p->pad_str[p->pad] = '\0';
    snprintf(p->nonce, sizeof p->nonce, "b%" PRIx64,
             (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() ^ bench_now_ns());
    hist_reset(&p->lat);
    hist_reset(&p->lat_all);
    b->user = p;
    b->hooks = &hooks;
    uv_timer_init(&b->loop, &p->timer);
    p->timer.data = p;
    p->timer_on = 1;
    uv_timer_start(&p->timer, on_timer, rate ? RATE_TICK_MS : LOOP_TICK_MS,
                   rate ? RATE_TICK_MS : LOOP_TICK_MS);
    return 0;
}

static void teardown(p2p_t *p)
{
    if (p->timer_on) {
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, NULL);   /* completes in bench_free's loop run */
        p->timer_on = 0;
    }
    p->b->hooks = NULL;
    free(p->peers);
    free(p->pad_str);
    free(p->body);
    ks_free(&p->ks);
    p->peers = NULL;
    p->pad_str = p->body = NULL;
}

int p2p_run(bench_t *b, result_t *r, const char *name, uint32_t rate)
{
    const bench_opts_t *o = b->o;
    p2p_t *p = &g_p;
    if (b->n < 2) {
        fprintf(stderr, "petrel-bench: %s needs --clients >= 2\n", name);
        return 2;
    }
    if (setup(p, b, rate) < 0) {
        teardown(p);
        return 2;
    }
    proc_snap_t base, m0, m1, end;
    node_counters_t nc0 = {0}, nc1 = {0};
    proc_snap(o->pid, &base);

    /* log everyone in */
    b->phase = PHASE_RAMP;
    bench_heartbeat(b, o->heartbeat_ms);
    uint64_t t_ramp = bench_now_ns();
    bench_connect_range(b, 0, b->n, o->concurrency);
    bench_run_until(b, bench_pred_settled, 0);
    double ramp_s = (double)(bench_now_ns() - t_ramp) / 1e9;
    fprintf(stderr, "petrel-bench: %llu logged in (%.2f s), %llu failed; %" PRIu32
                    " senders, %s\n",
            (unsigned long long)b->cnt.logins_ok, ramp_s, (unsigned long long)bench_failures(b),
            p->senders, rate ? "open loop (token bucket)" : "closed loop (window)");

    /* warm-up, then the measured interval */
    double measured_s = 0, cpu_self = -1;
    uint64_t t0 = 0, t1 = 0;
    if (!b->aborted && b->ready == b->n) {
        b->phase = PHASE_HOLD;
        p->sending = 1;
        p->next_progress_ns = bench_now_ns() + 5000000000ull;
        if (rate) {
            p->last_tick_ns = bench_now_ns();
        } else {
            for (uint32_t s = 0; s < p->senders; s++)
                for (uint32_t k = 0; k < p->window; k++)
                    send_one(p, &b->conns[2 * s]);
        }
        bench_run_until(b, bench_pred_never, bench_now_ns() + (uint64_t)o->warmup_s * 1000000000ull);
        if (o->nmetrics)
            node_counters_read(o, &nc0);
        proc_snap(o->pid, &m0);
        double c0 = self_cpu_s();
        t0 = bench_now_ns();
        p->measuring = 1;
        bench_run_until(b, bench_pred_never, t0 + (uint64_t)o->duration_s * 1000000000ull);
        p->measuring = 0;
        t1 = bench_now_ns();
        proc_snap(o->pid, &m1);
        cpu_self = self_cpu_s() - c0;
        if (o->nmetrics)
            node_counters_read(o, &nc1);
        measured_s = (double)(t1 - t0) / 1e9;
    } else {
        fprintf(stderr, "petrel-bench: not every connection logged in; no messages sent\n");
        m0 = m1 = base;
    }

    /* drain: stop sending, wait for the outstanding acks and deliveries */
    p->sending = 0;
    uint64_t t_drain = bench_now_ns();
    if (!b->aborted)
        bench_run_until(b, pred_drained, t_drain + (uint64_t)o->drain_s * 1000000000ull);
    double drain_s = (double)(bench_now_ns() - t_drain) / 1e9;
    proc_snap(o->pid, &end);
    b->phase = PHASE_END;

    uint64_t lost = 0, recv_unacked = 0;
    size_t cap = (size_t)1 << p->ks.bits;
    for (size_t i = 0; i < cap; i++) {
        if (!p->ks.keys[i])
            continue;
        if ((p->ks.flags[i] & (F_ACKED | F_RECV)) == F_ACKED)
            lost++;
        else if ((p->ks.flags[i] & (F_ACKED | F_RECV)) == F_RECV)
            recv_unacked++;
    }
    uint64_t answered = p->tot.acked + p->tot.ack_errors + p->tot.ack_parse_errors;
    uint64_t unacked = answered < p->tot.sent ? p->tot.sent - answered : 0;
    uint64_t parse_errors = p->tot.ack_parse_errors + p->tot.msg_parse_errors;

    int have_cpu = m0.cpu_ticks >= 0 && m1.cpu_ticks >= 0;
    double cpu_s = have_cpu ? ticks_to_s(m1.cpu_ticks - m0.cpu_ticks) : -1;
    double delivered_ps = measured_s > 0 ? (double)p->iv.received / measured_s : 0;
    double acked_ps = measured_s > 0 ? (double)p->iv.acked / measured_s : 0;
    double sent_ps = measured_s > 0 ? (double)p->iv.sent / measured_s : 0;
    double per_cpu = cpu_s > 0 ? (double)p->iv.received / cpu_s : -1;
    uint32_t body_bytes = BODY_FIXED + p->pad;

    int bad3 = lost || p->tot.duplicated || p->tot.out_of_order;
    char cpu_line[96];
    if (per_cpu >= 0)
        snprintf(cpu_line, sizeof cpu_line, "server CPU %.2f s -> %.0f msgs/server CPU s", cpu_s,
                 per_cpu);
    else
        snprintf(cpu_line, sizeof cpu_line, "server CPU not measured (no --pid)");
    fprintf(stderr,
            "petrel-bench: ========================================================\n"
            "petrel-bench: %s  lost=%" PRIu64 "  duplicated=%" PRIu64 "  out_of_order=%" PRIu64
            "  (must all be 0)%s\n"
            "petrel-bench: sent=%" PRIu64 " acked=%" PRIu64 " ack_errors=%" PRIu64
            " unacked=%" PRIu64 " received=%" PRIu64 " unexpected=%" PRIu64 " parse_errors=%" PRIu64
            "%s\n"
            "petrel-bench: delivered %.0f msgs/s, acked %.0f/s over %.2f s; latency p50 %" PRIu64
            " us, p99 %" PRIu64 " us, p99.9 %" PRIu64 " us; %s\n"
            "petrel-bench: ========================================================\n",
            bad3 ? "FAIL" : "OK  ", lost, p->tot.duplicated, p->tot.out_of_order,
            p->ks.overflow ? " [key table overflow: not all tracked]" : "", p->tot.sent,
            p->tot.acked, p->tot.ack_errors, unacked, p->tot.received, p->tot.unexpected,
            parse_errors, drain_s >= (double)o->drain_s ? " (drain timed out)" : "",
            delivered_ps, acked_ps, measured_s, hist_pct(&p->lat, 50), hist_pct(&p->lat, 99),
            hist_pct(&p->lat, 99.9), cpu_line);

    bench_shutdown(b);

    res_begin(r, name);
    bench_result_common(b, r);
    res_int(r, "pairs", p->senders, NULL);
    res_int(r, "window", p->window, rate ? "window cap" : "window");
    res_int(r, "body_bytes", body_bytes, "body B");
    res_int(r, "rate_target", rate, rate ? "target msgs/s" : NULL);
    res_int(r, "warmup_s", o->warmup_s, NULL);
    res_int(r, "duration_s", o->duration_s, NULL);
    res_num(r, "measured_s", measured_s, 3, NULL);
    res_num(r, "ramp_s", ramp_s, 2, NULL);
    res_num(r, "delivered_per_s", delivered_ps, 0, "delivered msgs/s");
    res_num(r, "acked_per_s", acked_ps, 0, "acked/s");
    res_num(r, "sent_per_s", sent_ps, 0, NULL);
    res_int(r, "latency_p50_us", (long long)hist_pct(&p->lat, 50), "p50 us");
    res_int(r, "latency_p99_us", (long long)hist_pct(&p->lat, 99), "p99 us");
    res_int(r, "latency_p999_us", (long long)hist_pct(&p->lat, 99.9), "p99.9 us");
    res_int(r, "latency_max_us", (long long)p->lat.max, NULL);
    res_num(r, "latency_mean_us", p->lat.count ? (double)p->lat.sum / (double)p->lat.count : 0, 0,
            NULL);
    res_int(r, "interval_sent", (long long)p->iv.sent, NULL);
    res_int(r, "interval_acked", (long long)p->iv.acked, NULL);
    res_int(r, "interval_received", (long long)p->iv.received, NULL);
    res_int(r, "sent", (long long)p->tot.sent, "sent");
    res_int(r, "acked", (long long)p->tot.acked, "acked");
    res_int(r, "received", (long long)p->tot.received, "received");
    res_int(r, "lost", (long long)lost, "lost");
    res_int(r, "duplicated", (long long)p->tot.duplicated, "dup");
    res_int(r, "out_of_order", (long long)p->tot.out_of_order, "out of order");
    res_int(r, "ack_errors", (long long)p->tot.ack_errors, NULL);
    res_int(r, "last_ack_code", p->last_ack_code, NULL);
    res_int(r, "unacked", (long long)unacked, NULL);
    res_int(r, "received_unacked", (long long)recv_unacked, NULL);
    res_int(r, "unexpected_from", (long long)p->tot.unexpected, NULL);
    res_int(r, "parse_errors", (long long)parse_errors, NULL);
    res_int(r, "server_send_receive_acks", (long long)p->tot.server_send_acks, NULL);
    res_int(r, "other_packets", (long long)p->tot.other, NULL);
    res_int(r, "connections_lost", (long long)p->lost_conns, NULL);
    res_bool(r, "key_table_overflow", p->ks.overflow, NULL);
    res_num(r, "drain_s", drain_s, 2, NULL);
    if (rate) {
        res_int(r, "tokens_dropped", (long long)p->tokens_dropped, NULL);
        res_int(r, "window_full_skips", (long long)p->window_full, NULL);
    }
    res_num_opt(r, "server_cpu_s", cpu_s, have_cpu, 2, "server CPU s");
    res_num_opt(r, "msgs_per_server_cpu_s", per_cpu, per_cpu >= 0, 0, "msgs/server CPU s");
    res_num_opt(r, "server_cpu_util", have_cpu && measured_s > 0 ? cpu_s / measured_s : -1,
                have_cpu && measured_s > 0, 2, NULL);
    res_num_opt(r, "bench_cpu_s", cpu_self, cpu_self >= 0, 2, "bench CPU s");
    proc_res_split(r, &m0, &m1);
    if (o->nmetrics)   /* the nodes' own counters over (about) the measured interval */
        node_counters_res(r, &nc0, &nc1, (double)p->iv.received);
    res_int_opt(r, "rss_baseline_kib", base.rss_kib, NULL);
    res_int_opt(r, "rss_kib", m1.rss_kib, "server RSS KiB");
    res_int_opt(r, "rss_end_kib", end.rss_kib, NULL);
    res_int_opt(r, "rss_hwm_kib", end.hwm_kib, NULL);

    int rate_met = !rate || (measured_s > 0 && sent_ps >= 0.95 * (double)rate &&
                             delivered_ps >= 0.95 * (double)rate);
    if (rate)
        res_bool(r, "rate_met", rate_met, NULL);
    int ok = !b->aborted && bench_failures(b) == 0 && b->cnt.logins_ok == o->conns &&
             b->cnt.closed_by_server == 0 && !bad3 && !p->ks.overflow && p->tot.ack_errors == 0 &&
             unacked == 0 && p->tot.unexpected == 0 && parse_errors == 0 &&
             p->iv.received > 0 && rate_met;
    res_bool(r, "ok", ok, "ok");
    teardown(p);
    return ok ? 0 : 1;
}
