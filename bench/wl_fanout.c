/*
 * Workload "fanout": one large group, every member online, S senders.
 *
 * Setup (REST, as the app admin, before any connection): importGroup of a
 * public group (type 2) "bf-<nonce>" owned by bench-0 with maxMemberCount
 * = --members, then importGroupMember in chunks of 500 (the server's
 * per-call limit) for bench-1 .. bench-<M-1>.  Every member and --probes
 * extra users (bench-M .., not members) then log in.
 *
 * Messages: member s < --senders sends MSG_GROUP 2104 with messageId
 * "<nonce>-<k>" (k: one number per message over the whole run) and a
 * messageBody text {"type":1,"content":"@k=<10 digits>;@ts=<20 digits>;x.."}
 * padded to --size.  The server acks with GROUP_MSG_ACK 2047 after the
 * commit and pushes the 2104 to every other member's device: M-1
 * deliveries per message.  Each receiver keeps a bitmap of the k it got
 * (duplicate = a k twice) and the last messageSequence (out of order = a
 * sequence not above the previous: one group, one sequence).  Per message
 * the tool records send, ack, first and last receipt; when the last of the
 * M-1 members has it, "send -> last" is its fan-out time.
 *
 * Phases, each bounded:
 *   1. baseline: 1 s with only the probes running (their PING RTT idle);
 *   2. --singles one-shot fan-outs: member 0 sends one message to the idle
 *      group and the tool waits (at most 10 s) until all M-1 members have
 *      it -- "time to deliver one message to all of them";
 *   3. sustained: every sender keeps --window messages in flight (or, with
 *      --rate, a token bucket sends that many msgs/s in total); --warmup,
 *      then --duration measured (deliveries counted at the receivers,
 *      server CPU from /proc), then --drain for what is outstanding.
 * Probes: --probes connections do PING 9999 round trips all along (the next
 * one --probe-ms after each pong); their RTT per phase shows whether the
 * fan-out stalls other traffic on the server's event loops.
 *
 * lost = deliveries of acked messages that never arrived (by the end of the
 * drain); with duplicated and out_of_order it must be 0.
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

#define MAX_MSGS       (1u << 18)     /* messages per run (bitmaps are MAX_MSGS bits each) */
#define CHUNK          500            /* importGroupMember: members per call (server max) */
#define BODY_FIXED     68u            /* {"type":1,"content":"@k=<10>;@ts=<20>;"} */
#define TS_DIGITS      20
#define K_DIGITS       10
#define TICK_MS        1
#define BANK_NS        50000000ull
#define SINGLE_WAIT_NS (10ull * 1000000000ull)
#define SINGLE_GAP_NS  (200ull * 1000000ull)
#define BASELINE_NS    (1000ull * 1000000ull)

typedef struct fmsg {
    uint64_t t_send, t_ack, t_first, t_last;
    uint32_t recv;              /* distinct members that got it */
    uint32_t sender;
    uint8_t acked, done, measured, single;
} fmsg_t;

typedef struct member {
    uint8_t *seen;              /* bitmap over k, MAX_MSGS bits (lazily touched) */
    int64_t last_seq;
    uint32_t inflight;          /* as a sender: sent, not answered */
} member_t;

typedef struct probe {
    uint64_t t_ping, next_ns;
    uint8_t out;
} probe_t;

typedef struct counters {
    uint64_t sent, acked, ack_errors, deliveries, duplicated, out_of_order, unexpected,
        parse_errors, other, sync_copies;
} counters_t;

typedef struct fan {
    bench_t *b;
    uint32_t m, senders, probes, window, rate, pad;
    char gid[40];
    char nonce[24];
    char *pad_str, *body;
    size_t body_cap;
    fmsg_t *msgs;
    uint32_t nmsgs;             /* next k */
    int capped;
    member_t *mem;
    probe_t *pr;
    int sending, measuring;
    counters_t tot, iv;
    uint64_t done_msgs;         /* acked and delivered to all */
    hist_t fan_last, fan_first, ack_lat, deliv_lat;    /* sustained, measured messages */
    hist_t single_last, single_first, single_ack;
    hist_t probe_base, probe_single, probe_run;
    hist_t *probe_cur;
    int32_t last_ack_code;
    uint64_t lost_conns;
    /* rate mode */
    double tokens;
    uint64_t last_tick_ns, tokens_dropped;
    uint32_t rr;
    uv_timer_t timer;
    int timer_on;
    uint64_t next_progress_ns;
} fan_t;

static fan_t g_f;   /* static: the timer handle must outlive the loop */

/* ---- scanning downlink JSON (as p2p.c: no parser per delivery) ----------------- */

static int get_int(const char *json, size_t len, const char *pat, int64_t *out)
{
    const char *p = memmem(json, len, pat, strlen(pat));
    const char *end = json + len;
    if (!p)
        return -1;
    p += strlen(pat);
    int neg = p < end && *p == '-';
    p += neg;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 19 && p < end && *p >= '0' && *p <= '9'; i++, p++)
        v = v * 10 + (*p - '0');
    *out = neg ? -v : v;
    return 0;
}

/* ---- setup: the group ----------------------------------------------------------- */

static int make_group(fan_t *f, const bench_opts_t *o)
{
    char body[CHUNK * 24 + 256], resp[65536];
    long long code = 0;
    int n = snprintf(body, sizeof body,
                     "{\"groupId\":\"%s\",\"groupType\":2,\"groupName\":\"bench fanout\","
                     "\"ownerId\":\"bench-0\",\"maxMemberCount\":%" PRIu32 ",\"applyJoinType\":0}",
                     f->gid, f->m);
    int st = bench_admin_call(o, "/v1/group/importGroup", body, (size_t)n, &code, resp, sizeof resp);
    if (st != 200 || code != 200) {
        fprintf(stderr, "petrel-bench: importGroup %s: HTTP %d code %lld: %.300s\n", f->gid, st, code,
                st > 0 ? resp : "");
        return -1;
    }
    uint32_t added = 1;   /* the owner */
    for (uint32_t first = 1; first < f->m; first += CHUNK) {
        uint32_t cnt = f->m - first < CHUNK ? f->m - first : CHUNK;
        size_t bl = (size_t)snprintf(body, sizeof body, "{\"groupId\":\"%s\",\"members\":[", f->gid);
        for (uint32_t i = 0; i < cnt; i++)
            bl += (size_t)snprintf(body + bl, sizeof body - bl, "%s\"bench-%" PRIu32 "\"", i ? "," : "",
                                   first + i);
        bl += (size_t)snprintf(body + bl, sizeof body - bl, "]}");
        if (bl >= sizeof body)
            return -1;
        st = bench_admin_call(o, "/v1/group/member/importGroupMember", body, bl, &code, resp,
                              sizeof resp);
        if (st != 200 || code != 200) {
            fprintf(stderr, "petrel-bench: importGroupMember: HTTP %d code %lld: %.300s\n", st, code,
                    st > 0 ? resp : "");
            return -1;
        }
        /* count "added" ids: the response holds {"added":["bench-1",...],...} */
        const char *a = strstr(resp, "\"added\":[");
        uint32_t got = 0;
        for (const char *p = a ? a + 9 : NULL; p && *p && *p != ']'; p++)
            got += *p == ',';
        if (a && a[9] != ']')
            got++;
        added += got;
    }
    if (added != f->m) {
        fprintf(stderr, "petrel-bench: group %s has %" PRIu32 " members, not %" PRIu32 "\n", f->gid,
                added, f->m);
        return -1;
    }
    return 0;
}

/* ---- sending ---------------------------------------------------------------------- */

static int send_msg(fan_t *f, uint32_t sender, int single)
{
    bench_t *b = f->b;
    bconn_t *c = &b->conns[sender];
    if (c->state != BC_READY)
        return -1;
    if (f->nmsgs >= MAX_MSGS) {
        if (!f->capped)
            fprintf(stderr, "petrel-bench: %u messages sent: the per-run cap, sending stops\n",
                    MAX_MSGS);
        f->capped = 1;
        return -1;
    }
    uint32_t k = f->nmsgs;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    uint64_t ts = bench_now_ns();
    int len = snprintf(f->body, f->body_cap,
                       "{\"groupId\":\"%s\",\"messageId\":\"%s-%" PRIu32 "\",\"messageBody\":"
                       "\"{\\\"type\\\":1,\\\"content\\\":\\\"@k=%010" PRIu32 ";@ts=%020" PRIu64
                       ";%s\\\"}\",\"messageTime\":%" PRId64 "}",
                       f->gid, f->nonce, k, k, ts, f->pad_str, wall_ms);
    if (len < 0 || (size_t)len >= f->body_cap)
        return -1;
    if (bench_send(c, PETREL_CMD_MSG_GROUP, f->body, (size_t)len) < 0)
        return -1;
    fmsg_t *m = &f->msgs[k];
    m->t_send = ts;
    m->sender = sender;
    m->single = (uint8_t)single;
    m->measured = (uint8_t)f->measuring;
    f->nmsgs++;
    f->mem[sender].inflight++;
    f->tot.sent++;
    if (f->measuring)
        f->iv.sent++;
    return 0;
}

static void completed(fan_t *f, fmsg_t *m)
{
    if (m->done || !m->acked || m->recv < f->m - 1)
        return;
    m->done = 1;
    f->done_msgs++;
}

/* A message reached its last member: record its fan-out. */
static void all_delivered(fan_t *f, fmsg_t *m)
{
    uint64_t last = (m->t_last - m->t_send) / 1000, first = (m->t_first - m->t_send) / 1000;
    if (m->single) {
        hist_add(&f->single_last, last);
        hist_add(&f->single_first, first);
    } else if (m->measured) {
        hist_add(&f->fan_last, last);
        hist_add(&f->fan_first, first);
    }
}

/* ---- receiving ------------------------------------------------------------------------- */

static void on_ack(fan_t *f, bconn_t *c, const char *json, size_t len)
{
    member_t *me = &f->mem[c->idx];
    if (me->inflight)
        me->inflight--;
    int64_t code = 0, k = -1;
    char pat[48];
    snprintf(pat, sizeof pat, "\"messageId\":\"%s-", f->nonce);
    if (get_int(json, len, "\"code\":", &code) < 0 || get_int(json, len, pat, &k) < 0 || k < 0 ||
        (uint64_t)k >= f->nmsgs) {
        f->tot.parse_errors++;
    } else if (code != 200) {
        f->tot.ack_errors++;
        f->last_ack_code = (int32_t)code;
    } else if (!f->msgs[k].acked) {
        fmsg_t *m = &f->msgs[k];
        m->acked = 1;
        m->t_ack = bench_now_ns();
        f->tot.acked++;
        if (f->measuring)
            f->iv.acked++;
        hist_t *h = m->single ? &f->single_ack : m->measured ? &f->ack_lat : NULL;
        if (h)
            hist_add(h, (m->t_ack - m->t_send) / 1000);
        completed(f, m);
    }
    if (f->sending && f->rate == 0 && me->inflight < f->window)
        send_msg(f, c->idx, 0);
}

static void on_group_msg(fan_t *f, bconn_t *c, const char *json, size_t len)
{
    uint64_t now = bench_now_ns();
    int64_t k = -1, seq = 0;
    if (c->idx >= f->m || get_int(json, len, "@k=", &k) < 0 ||
        get_int(json, len, "\"messageSequence\":", &seq) < 0 || k < 0 || (uint64_t)k >= f->nmsgs) {
        f->tot.parse_errors++;
        return;
    }
    member_t *me = &f->mem[c->idx];
    fmsg_t *m = &f->msgs[k];
    if (m->sender == c->idx) {
        f->tot.unexpected++;   /* the sender's own (only) device must not get its message */
        return;
    }
    uint8_t bit = (uint8_t)(1u << (k & 7));
    if (me->seen[k >> 3] & bit) {
        f->tot.duplicated++;
        return;
    }
    me->seen[k >> 3] |= bit;
    if (seq <= me->last_seq)
        f->tot.out_of_order++;
    else
        me->last_seq = seq;
    f->tot.deliveries++;
    if (f->measuring)
        f->iv.deliveries++;
    if (m->measured && !m->single)
        hist_add(&f->deliv_lat, (now - m->t_send) / 1000);
    if (m->recv == 0)
        m->t_first = now;
    m->t_last = now;
    m->recv++;
    if (m->recv == f->m - 1) {
        all_delivered(f, m);
        completed(f, m);
    } else if (m->recv > f->m - 1) {
        f->tot.unexpected++;   /* more distinct receivers than members - 1: the sender got it */
    }
}

static void hook_packet(bench_t *b, bconn_t *c, int32_t cmd, const char *json, size_t len)
{
    fan_t *f = b->user;
    if (cmd == PETREL_CMD_GROUP_MSG_ACK && c->idx < f->senders)
        on_ack(f, c, json, len);
    else if (cmd == PETREL_CMD_MSG_GROUP)
        on_group_msg(f, c, json, len);
    else if (cmd == PETREL_CMD_MSG_GROUP_SYNC)
        f->tot.sync_copies++;
    else
        f->tot.other++;
}

static void hook_lost(bench_t *b, bconn_t *c)
{
    fan_t *f = b->user;
    (void)c;
    f->lost_conns++;
}

static void hook_pong(bench_t *b, bconn_t *c)
{
    fan_t *f = b->user;
    if (c->idx < f->m)
        return;
    probe_t *p = &f->pr[c->idx - f->m];
    if (!p->out)
        return;
    uint64_t now = bench_now_ns();
    p->out = 0;
    p->next_ns = now + (uint64_t)b->o->probe_ms * 1000000ull;
    if (f->probe_cur)
        hist_add(f->probe_cur, (now - p->t_ping) / 1000);
}

static const bench_hooks_t hooks = {hook_packet, hook_lost, hook_pong};

/* ---- timer: probes, rate mode, progress ---------------------------------------------- */

static void probes_tick(fan_t *f, uint64_t now)
{
    bench_t *b = f->b;
    for (uint32_t i = 0; i < f->probes; i++) {
        probe_t *p = &f->pr[i];
        bconn_t *c = &b->conns[f->m + i];
        if (c->state != BC_READY || p->out || now < p->next_ns)
            continue;
        p->out = 1;
        p->t_ping = now;
        bench_send(c, PETREL_CMD_PING, "{}", 2);
    }
}

static void rate_tick(fan_t *f, uint64_t now)
{
    uint64_t dt = now - f->last_tick_ns;
    f->last_tick_ns = now;
    f->tokens += (double)dt * (double)f->rate / 1e9;
    double bank = (double)f->rate * (double)BANK_NS / 1e9;
    if (bank < 1.0)
        bank = 1.0;
    if (f->tokens > bank) {
        f->tokens_dropped += (uint64_t)(f->tokens - bank);
        f->tokens = bank;
    }
    for (uint32_t guard = 0; f->tokens >= 1.0 && guard < 100000; guard++) {
        int sent = 0;
        for (uint32_t tries = 0; tries < f->senders && !sent; tries++) {
            uint32_t s = f->rr++ % f->senders;
            if (f->mem[s].inflight < f->window && send_msg(f, s, 0) == 0)
                sent = 1;
        }
        if (!sent)
            break;
        f->tokens -= 1.0;
    }
}

static void on_timer(uv_timer_t *t)
{
    fan_t *f = t->data;
    uint64_t now = bench_now_ns();
    probes_tick(f, now);
    if (f->sending && f->rate)
        rate_tick(f, now);
    if (now >= f->next_progress_ns) {
        f->next_progress_ns = now + 5000000000ull;
        fprintf(stderr,
                "[%6.1fs] group msgs sent=%" PRIu64 " acked=%" PRIu64 " deliveries=%" PRIu64
                " dup=%" PRIu64 " ooo=%" PRIu64 " fan-out p99=%" PRIu64 "us probe p99=%" PRIu64 "us\n",
                bench_elapsed_s(f->b), f->tot.sent, f->tot.acked, f->tot.deliveries,
                f->tot.duplicated, f->tot.out_of_order, hist_pct(&f->fan_last, 99),
                f->probe_cur ? hist_pct(f->probe_cur, 99) : 0);
    }
}

/* ---- predicates ------------------------------------------------------------------------- */

static int pred_drained(const bench_t *b)
{
    const fan_t *f = b->user;
    return f->tot.acked + f->tot.ack_errors + f->tot.parse_errors >= f->tot.sent &&
           f->done_msgs >= f->tot.acked;
}

static uint32_t g_single_k;

static int pred_single_done(const bench_t *b)
{
    const fan_t *f = b->user;
    const fmsg_t *m = &f->msgs[g_single_k];
    return m->done || f->tot.ack_errors > 0;
}

/* ---- the run ------------------------------------------------------------------------------ */

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int setup(fan_t *f, bench_t *b)
{
    const bench_opts_t *o = b->o;
    memset(f, 0, sizeof *f);
    f->b = b;
    f->m = o->members;
    f->senders = o->senders;
    f->probes = o->probes;
    f->window = o->window;
    f->rate = o->rate;
    f->pad = o->size > BODY_FIXED ? o->size - BODY_FIXED : 0;
    f->pad_str = malloc(f->pad + 1);
    f->body_cap = (size_t)f->pad + 512;
    f->body = malloc(f->body_cap);
    f->msgs = calloc(MAX_MSGS, sizeof *f->msgs);
    f->mem = calloc(f->m, sizeof *f->mem);
    f->pr = calloc(f->probes ? f->probes : 1, sizeof *f->pr);
    if (!f->pad_str || !f->body || !f->msgs || !f->mem || !f->pr)
        return -1;
    for (uint32_t i = 0; i < f->m; i++) {
        f->mem[i].seen = calloc(MAX_MSGS / 8, 1);   /* untouched pages cost nothing */
        f->mem[i].last_seq = -1;
        if (!f->mem[i].seen)
            return -1;
    }
    memset(f->pad_str, 'x', f->pad);
    f->pad_str[f->pad] = '\0';
    snprintf(f->nonce, sizeof f->nonce, "f%" PRIx64,
             (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() ^ bench_now_ns());
    snprintf(f->gid, sizeof f->gid, "bf-%s", f->nonce + 1);
    hist_reset(&f->fan_last);
    hist_reset(&f->fan_first);
    hist_reset(&f->ack_lat);
    hist_reset(&f->deliv_lat);
    hist_reset(&f->single_last);
    hist_reset(&f->single_first);
    hist_reset(&f->single_ack);
    hist_reset(&f->probe_base);
    hist_reset(&f->probe_single);
    hist_reset(&f->probe_run);
    b->user = f;
    b->hooks = &hooks;
    b->hb_n = f->m;   /* probes ping on their own */
    return 0;
}

static void teardown(fan_t *f)
{
    if (f->timer_on) {
        uv_timer_stop(&f->timer);
        uv_close((uv_handle_t *)&f->timer, NULL);
        f->timer_on = 0;
    }
    if (f->b)
        f->b->hooks = NULL;
    for (uint32_t i = 0; f->mem && i < f->m; i++)
        free(f->mem[i].seen);
    free(f->mem);
    free(f->msgs);
    free(f->pr);
    free(f->pad_str);
    free(f->body);
    f->mem = NULL;
    f->msgs = NULL;
    f->pr = NULL;
    f->pad_str = f->body = NULL;
}

int wl_fanout(bench_t *b, result_t *r)
{
    const bench_opts_t *o = b->o;
    fan_t *f = &g_f;
    if (setup(f, b) < 0) {
        fprintf(stderr, "petrel-bench: out of memory\n");
        teardown(f);
        return 2;
    }
    uint64_t t_setup = bench_now_ns();
    if (make_group(f, o) < 0) {
        teardown(f);
        return 2;
    }
    double setup_s = (double)(bench_now_ns() - t_setup) / 1e9;
    fprintf(stderr, "petrel-bench: group %s with %" PRIu32 " members made in %.2f s\n", f->gid, f->m,
            setup_s);

    proc_snap_t base, m0, m1, end;
    node_counters_t nc0 = {0}, nc1 = {0};
    proc_snap(o->pid, &base);
    b->phase = PHASE_RAMP;
    bench_heartbeat(b, o->heartbeat_ms);
    uint64_t t_ramp = bench_now_ns();
    bench_connect_range(b, 0, b->n, o->concurrency);
    bench_run_until(b, bench_pred_settled, 0);
    double ramp_s = (double)(bench_now_ns() - t_ramp) / 1e9;
    fprintf(stderr, "petrel-bench: %llu logged in (%.2f s), %llu failed; %" PRIu32 " members, %" PRIu32
                    " senders, %" PRIu32 " probes, %s\n",
            (unsigned long long)b->cnt.logins_ok, ramp_s, (unsigned long long)bench_failures(b),
            f->m, f->senders, f->probes, f->rate ? "open loop (--rate)" : "closed loop (--window)");
    proc_snap_t ramped;
    proc_snap(o->pid, &ramped);

    uv_timer_init(&b->loop, &f->timer);
    f->timer.data = f;
    f->timer_on = 1;
    uv_timer_start(&f->timer, on_timer, TICK_MS, TICK_MS);
    f->next_progress_ns = bench_now_ns() + 5000000000ull;

    double measured_s = 0, cpu_self = -1, drain_s = 0;
    uint32_t singles_done = 0;
    uint64_t singles_us[16];
    int all_in = !b->aborted && b->ready == b->n;
    if (all_in) {
        b->phase = PHASE_HOLD;
        /* 1. probes alone */
        f->probe_cur = &f->probe_base;
        bench_run_until(b, bench_pred_never, bench_now_ns() + BASELINE_NS);
        /* 2. one-shot fan-outs to the idle group */
        f->probe_cur = &f->probe_single;
        for (uint32_t i = 0; i < o->singles && !b->aborted; i++) {
            g_single_k = f->nmsgs;
            if (send_msg(f, 0, 1) < 0)
                break;
            int rc = bench_run_until(b, pred_single_done, bench_now_ns() + SINGLE_WAIT_NS);
            fmsg_t *m = &f->msgs[g_single_k];
            if (rc != 0 || !m->done) {
                fprintf(stderr, "petrel-bench: one-shot fan-out %" PRIu32 ": %" PRIu32 " of %" PRIu32
                                " members got it%s\n",
                        i, m->recv, f->m - 1, m->acked ? "" : " (not acked)");
                break;
            }
            if (singles_done < 16)
                singles_us[singles_done] = (m->t_last - m->t_send) / 1000;
            singles_done++;
            fprintf(stderr, "petrel-bench: one-shot fan-out %" PRIu32 ": ack %.2f ms, first %.2f ms, "
                            "all %" PRIu32 " members %.2f ms\n",
                    i, (double)(m->t_ack - m->t_send) / 1e6, (double)(m->t_first - m->t_send) / 1e6,
                    f->m - 1, (double)(m->t_last - m->t_send) / 1e6);
            bench_run_until(b, bench_pred_never, bench_now_ns() + SINGLE_GAP_NS);
        }
        /* 3. sustained */
        if (!b->aborted) {
            f->probe_cur = NULL;
            f->sending = 1;
            if (f->rate) {
                f->last_tick_ns = bench_now_ns();
            } else {
                for (uint32_t s = 0; s < f->senders; s++)
                    for (uint32_t k = 0; k < f->window; k++)
                        send_msg(f, s, 0);
            }
            bench_run_until(b, bench_pred_never,
                            bench_now_ns() + (uint64_t)o->warmup_s * 1000000000ull);
            if (o->nmetrics)
                node_counters_read(o, &nc0);
            proc_snap(o->pid, &m0);
            double c0 = self_cpu_s();
            uint64_t t0 = bench_now_ns();
            f->measuring = 1;
            f->probe_cur = &f->probe_run;
            bench_run_until(b, bench_pred_never, t0 + (uint64_t)o->duration_s * 1000000000ull);
            f->measuring = 0;
            f->probe_cur = NULL;
            uint64_t t1 = bench_now_ns();
            proc_snap(o->pid, &m1);
            cpu_self = self_cpu_s() - c0;
            measured_s = (double)(t1 - t0) / 1e9;
            if (o->nmetrics)
                node_counters_read(o, &nc1);
        } else {
            m0 = m1 = ramped;
        }
    } else {
        fprintf(stderr, "petrel-bench: not every connection logged in; no messages sent\n");
        m0 = m1 = ramped;
    }
    f->sending = 0;
    uint64_t t_drain = bench_now_ns();
    if (!b->aborted)
        bench_run_until(b, pred_drained, t_drain + (uint64_t)o->drain_s * 1000000000ull);
    drain_s = (double)(bench_now_ns() - t_drain) / 1e9;
    proc_snap(o->pid, &end);
    b->phase = PHASE_END;

    uint64_t lost = 0, incomplete = 0, recv_unacked = 0;
    for (uint32_t k = 0; k < f->nmsgs; k++) {
        const fmsg_t *m = &f->msgs[k];
        if (m->acked && m->recv < f->m - 1) {
            lost += (uint64_t)(f->m - 1 - m->recv);
            incomplete++;
        } else if (!m->acked && m->recv) {
            recv_unacked++;
        }
    }
    uint64_t answered = f->tot.acked + f->tot.ack_errors;
    uint64_t unacked = answered < f->tot.sent ? f->tot.sent - answered : 0;
    uint64_t expected = f->tot.acked * (uint64_t)(f->m - 1);
    int have_cpu = m0.cpu_ticks >= 0 && m1.cpu_ticks >= 0 && measured_s > 0;
    double cpu_s = have_cpu ? ticks_to_s(m1.cpu_ticks - m0.cpu_ticks) : -1;
    double deliv_ps = measured_s > 0 ? (double)f->iv.deliveries / measured_s : 0;
    double msgs_ps = measured_s > 0 ? (double)f->iv.acked / measured_s : 0;
    double per_cpu = cpu_s > 0 ? (double)f->iv.deliveries / cpu_s : -1;
    int bad3 = lost || f->tot.duplicated || f->tot.out_of_order;
    uint64_t single_med = 0;
    if (singles_done) {   /* median of the recorded one-shots (insertion sort, <= 16) */
        uint32_t n = singles_done < 16 ? singles_done : 16;
        for (uint32_t i = 1; i < n; i++)
            for (uint32_t j = i; j > 0 && singles_us[j - 1] > singles_us[j]; j--) {
                uint64_t t = singles_us[j];
                singles_us[j] = singles_us[j - 1];
                singles_us[j - 1] = t;
            }
        single_med = singles_us[n / 2];
    }

    fprintf(stderr,
            "petrel-bench: ========================================================\n"
            "petrel-bench: %s  lost=%" PRIu64 "  duplicated=%" PRIu64 "  out_of_order=%" PRIu64
            "  (deliveries; must all be 0)\n"
            "petrel-bench: group of %" PRIu32 ": sent=%" PRIu64 " acked=%" PRIu64 " ack_errors=%" PRIu64
            " unacked=%" PRIu64 "; deliveries expected=%" PRIu64 " received=%" PRIu64 "%s\n"
            "petrel-bench: one-shot to all %" PRIu32 " members: median %.2f ms of %" PRIu32
            " (min %.2f, max %.2f)\n"
            "petrel-bench: sustained: %.0f msgs/s, %.0f deliveries/s; send->last member p50 %.2f ms"
            " p99 %.2f ms max %.2f ms; send->first p50 %.2f ms\n"
            "petrel-bench: server CPU %.2f s -> %.0f deliveries/server CPU s; probe PING p99 "
            "idle %.2f ms, one-shots %.2f ms, sustained %.2f ms (max %.2f ms)\n"
            "petrel-bench: ========================================================\n",
            bad3 ? "FAIL" : "OK  ", lost, f->tot.duplicated, f->tot.out_of_order, f->m, f->tot.sent,
            f->tot.acked, f->tot.ack_errors, unacked, expected, f->tot.deliveries,
            drain_s >= (double)o->drain_s ? " (drain timed out)" : "", f->m - 1,
            (double)single_med / 1e3, singles_done, (double)f->single_last.min / 1e3,
            (double)f->single_last.max / 1e3, msgs_ps, deliv_ps,
            (double)hist_pct(&f->fan_last, 50) / 1e3, (double)hist_pct(&f->fan_last, 99) / 1e3,
            (double)f->fan_last.max / 1e3, (double)hist_pct(&f->fan_first, 50) / 1e3, cpu_s, per_cpu,
            (double)hist_pct(&f->probe_base, 99) / 1e3, (double)hist_pct(&f->probe_single, 99) / 1e3,
            (double)hist_pct(&f->probe_run, 99) / 1e3, (double)f->probe_run.max / 1e3);

    bench_shutdown(b);

    res_begin(r, "fanout");
    bench_result_common(b, r);
    res_str(r, "transport", o->ws ? "ws" : "tcp", NULL);
    res_str(r, "group", f->gid, NULL);
    res_int(r, "members", f->m, "members");
    res_int(r, "senders", f->senders, "senders");
    res_int(r, "window", f->window, "window");
    res_int(r, "rate_target", f->rate, NULL);
    res_int(r, "probes", f->probes, NULL);
    res_int(r, "body_bytes", BODY_FIXED + f->pad, NULL);
    res_num(r, "group_setup_s", setup_s, 2, NULL);
    res_num(r, "ramp_s", ramp_s, 2, NULL);
    res_int(r, "singles", singles_done, NULL);
    res_num(r, "single_all_median_ms", (double)single_med / 1e3, 2, "one msg to all: ms (median)");
    res_num(r, "single_all_min_ms", (double)f->single_last.min / 1e3, 2, NULL);
    res_num(r, "single_all_max_ms", (double)f->single_last.max / 1e3, 2, NULL);
    res_num(r, "single_first_median_ms", (double)hist_pct(&f->single_first, 50) / 1e3, 2, NULL);
    res_num(r, "single_ack_median_ms", (double)hist_pct(&f->single_ack, 50) / 1e3, 2, NULL);
    res_int(r, "warmup_s", o->warmup_s, NULL);
    res_int(r, "duration_s", o->duration_s, NULL);
    res_num(r, "measured_s", measured_s, 3, NULL);
    res_num(r, "msgs_per_s", msgs_ps, 1, "msgs/s");
    res_num(r, "deliveries_per_s", deliv_ps, 0, "deliveries/s");
    res_int(r, "fanout_last_p50_us", (long long)hist_pct(&f->fan_last, 50), "send->all p50 us");
    res_int(r, "fanout_last_p99_us", (long long)hist_pct(&f->fan_last, 99), "send->all p99 us");
    res_int(r, "fanout_last_max_us", (long long)f->fan_last.max, "send->all max us");
    res_int(r, "fanout_first_p50_us", (long long)hist_pct(&f->fan_first, 50), "send->first p50 us");
    res_int(r, "fanout_first_p99_us", (long long)hist_pct(&f->fan_first, 99), NULL);
    res_int(r, "fanout_messages_measured", (long long)f->fan_last.count, NULL);
    res_int(r, "ack_p50_us", (long long)hist_pct(&f->ack_lat, 50), NULL);
    res_int(r, "ack_p99_us", (long long)hist_pct(&f->ack_lat, 99), NULL);
    res_int(r, "delivery_p50_us", (long long)hist_pct(&f->deliv_lat, 50), NULL);
    res_int(r, "delivery_p99_us", (long long)hist_pct(&f->deliv_lat, 99), NULL);
    res_int(r, "sent", (long long)f->tot.sent, "sent");
    res_int(r, "acked", (long long)f->tot.acked, "acked");
    res_int(r, "deliveries_expected", (long long)expected, "deliveries expected");
    res_int(r, "deliveries_received", (long long)f->tot.deliveries, "received");
    res_int(r, "lost", (long long)lost, "lost");
    res_int(r, "duplicated", (long long)f->tot.duplicated, "dup");
    res_int(r, "out_of_order", (long long)f->tot.out_of_order, "out of order");
    res_int(r, "messages_incomplete", (long long)incomplete, NULL);
    res_int(r, "interval_deliveries", (long long)f->iv.deliveries, NULL);
    res_int(r, "ack_errors", (long long)f->tot.ack_errors, NULL);
    res_int(r, "last_ack_code", f->last_ack_code, NULL);
    res_int(r, "unacked", (long long)unacked, NULL);
    res_int(r, "received_unacked", (long long)recv_unacked, NULL);
    res_int(r, "unexpected", (long long)f->tot.unexpected, NULL);
    res_int(r, "parse_errors", (long long)f->tot.parse_errors, NULL);
    res_int(r, "sync_copies", (long long)f->tot.sync_copies, NULL);
    res_int(r, "other_packets", (long long)f->tot.other, NULL);
    res_int(r, "connections_lost", (long long)f->lost_conns, NULL);
    res_bool(r, "capped", f->capped, NULL);
    res_num(r, "drain_s", drain_s, 2, NULL);
    if (f->rate)
        res_int(r, "tokens_dropped", (long long)f->tokens_dropped, NULL);
    res_int(r, "probe_idle_p99_us", (long long)hist_pct(&f->probe_base, 99), NULL);
    res_int(r, "probe_single_p99_us", (long long)hist_pct(&f->probe_single, 99), NULL);
    res_int(r, "probe_p50_us", (long long)hist_pct(&f->probe_run, 50), NULL);
    res_int(r, "probe_p99_us", (long long)hist_pct(&f->probe_run, 99), "probe PING p99 us");
    res_int(r, "probe_max_us", (long long)f->probe_run.max, NULL);
    res_int(r, "probe_samples", (long long)f->probe_run.count, NULL);
    res_num_opt(r, "server_cpu_s", cpu_s, have_cpu, 2, "server CPU s");
    res_num_opt(r, "deliveries_per_server_cpu_s", per_cpu, per_cpu >= 0, 0, "deliveries/server CPU s");
    res_num_opt(r, "bench_cpu_s", cpu_self, cpu_self >= 0, 2, "bench CPU s");
    proc_res_split(r, &m0, &m1);
    if (o->nmetrics)   /* per group message acked in the interval */
        node_counters_res(r, &nc0, &nc1, (double)f->iv.acked);
    res_int_opt(r, "rss_baseline_kib", base.rss_kib, NULL);
    res_int_opt(r, "rss_kib", m1.rss_kib, "server RSS KiB");
    res_int_opt(r, "rss_hwm_kib", end.hwm_kib, NULL);

    int ok = !b->aborted && bench_failures(b) == 0 && b->cnt.logins_ok == o->conns &&
             b->cnt.closed_by_server == 0 && !bad3 && f->tot.ack_errors == 0 && unacked == 0 &&
             f->tot.unexpected == 0 && f->tot.parse_errors == 0 && singles_done == o->singles &&
             f->iv.deliveries > 0 && !f->capped;
    res_bool(r, "ok", ok, "ok");
    teardown(f);
    return ok ? 0 : 1;
}
