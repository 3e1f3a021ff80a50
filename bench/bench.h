/*
 * petrel-bench: shared declarations of the load generator.
 *
 * Layout (one concern per file, one function per workload):
 *   bench.c     main: options, the workload table, limits, usage
 *   net.c       the connection pool: libuv TCP connections that speak the
 *               real wire protocol (LOGIN, PING, framing of the downlink
 *               stream), a connect pipeline with bounded concurrency, the
 *               heartbeat scheduler and bench_run_until(), the only place
 *               the event loop is driven
 *   metrics.c   latency histogram, /proc readers (RSS, CPU of every --pid
 *               and --db-pid), the nodes' /metrics counters (--metrics),
 *               the result printer (one `RESULT {json}` line + one markdown row)
 *   wl_idle.c   workload "idle"
 *   wl_login.c  workload "login" (with --storm)
 *   wl_p2p.c    workload "p2p": one-to-one messages, W in flight per sender
 *   wl_rate.c   workload "rate": one-to-one messages at a fixed total rate
 *   p2p.c       the engine both message workloads share (send, ack,
 *               receive, loss/duplicate/order checks, latency)
 *   wl_fanout.c workload "fanout": one large group, S senders, fan-out time
 *   ws.c        the WebSocket transport (--transport ws): upgrade, wslay
 *   users.c     setup: import the bench users (and other admin calls) through
 *               the REST API
 *
 * Everything runs on one thread and one libuv loop.  A workload is written
 * as straight-line code: start something (bench_connect_range, ...), then
 * bench_run_until() a predicate holds or a time passes.  Every wait is
 * bounded by its own limit and by the global deadline (--timeout), so the
 * tool always stops by itself.
 *
 * Adding a workload: write `int wl_name(bench_t *b, result_t *r)` in a new
 * wl_name.c, declare it below and add a row to the table in bench.c.
 * Packets other than LOGINACK/PING/ERROR reach the workload through
 * bench_hooks_t.on_packet; bench_send() sends any uplink command.
 */
#ifndef PETREL_BENCH_H
#define PETREL_BENCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define BENCH_MAX_SOURCES 254
#define BENCH_MAX_PIDS    16      /* --pid / --db-pid list entries */
#define BENCH_MAX_METRICS 8       /* --metrics endpoints */
#define BENCH_MAX_FRAME   (4u << 20)  /* largest downlink frame we buffer */

/* ---- options ----------------------------------------------------------- */

typedef struct bench_opts {
    const char *workload;
    struct sockaddr_in target;
    char target_str[80];
    const char *secret;
    const char *admin;       /* app admin identifier for importUser */
    struct sockaddr_in http; /* REST API, for importing the bench users */
    char http_str[64];
    int have_http;
    int32_t app_id;
    int32_t client_type;
    uint32_t conns;
    uint32_t concurrency;    /* connects+logins in flight at once */
    uint32_t hold_s;
    uint32_t heartbeat_ms;
    uint32_t timeout_s;      /* global deadline */
    pid_t pid;               /* server pid for RSS/CPU, 0 = not measured (--pid's first) */
    pid_t pids[BENCH_MAX_PIDS];     /* --pid A,B,...: every petreld, CPU summed */
    uint32_t npids;
    pid_t db_pids[BENCH_MAX_PIDS];  /* --db-pid A,B,...: PostgreSQL, redis-server, ... */
    uint32_t ndb_pids;
    /* --tcp-peer / --http-peer (p2p, rate, fanout): the odd connections
     * (p2p's receivers 2i+1) connect to this second node, the rest to the
     * target */
    struct sockaddr_in peer;
    char peer_str[80];       /* as given, HOST:PORT */
    int have_peer;
    /* --metrics HOST:PORT,...: the nodes' /metrics, read around the measured
     * interval (p2p, rate, fanout): bus messages, bytes, Redis round trips */
    struct sockaddr_in metrics[BENCH_MAX_METRICS];
    char metrics_str[BENCH_MAX_METRICS][64];
    uint32_t nmetrics;
    int storm;
    /* p2p / rate: --clients is --conns (pairs: 2i sends to 2i+1) */
    uint32_t window;         /* messages in flight per sender (rate: the cap) */
    uint32_t size;           /* messageBody bytes, about */
    uint32_t warmup_s;
    uint32_t duration_s;     /* measured interval */
    uint32_t rate;           /* rate: total msgs/s over all senders */
    uint32_t drain_s;        /* after the run: wait for acks and deliveries */
    /* fanout: one group of `members` (bench-0..M-1), conns = members + probes */
    uint32_t members;
    uint32_t senders;        /* members 0..S-1 send */
    uint32_t probes;         /* extra connections (not members) doing PING round trips */
    uint32_t probe_ms;       /* pause between a probe's pong and its next PING */
    uint32_t singles;        /* one-shot fan-outs before the sustained phase */
    uint32_t first_user;     /* idle/login: users bench-<first_user + i> */
    int ws;                  /* transport: 0 TCP (--tcp), 1 WebSocket (/ws on --http) */
    struct sockaddr_in sources[BENCH_MAX_SOURCES];
    uint32_t nsources;       /* 0 = let the kernel choose (no bind) */
    int sources_auto;        /* sources were picked automatically */
} bench_opts_t;

/* ---- histogram (metrics.c) --------------------------------------------- */

/* Log-linear histogram of microsecond values: exact below 128 us, then 64
 * sub-buckets per power of two (< 1.6 % error), up to 2^40 us. */
#define HIST_SUB     64
#define HIST_BUCKETS (128 + 34 * HIST_SUB)

typedef struct hist {
    uint64_t count, sum, min, max;
    uint64_t b[HIST_BUCKETS];
} hist_t;

void hist_reset(hist_t *h);
void hist_add(hist_t *h, uint64_t us);
uint64_t hist_pct(const hist_t *h, double pct);  /* 0 when empty */

/* ---- /proc (metrics.c) --------------------------------------------------- */

/* A "Vm...:"/"Rss...:" line of /proc/PID/status in KiB; -1 if unavailable. */
long proc_status_kib(pid_t pid, const char *field);
/* utime+stime of /proc/PID/stat in clock ticks; -1 if unavailable. */
long long proc_cpu_ticks(pid_t pid);
double ticks_to_s(long long ticks);

/* A snapshot of the server process (all -1 when --pid is not given).
 * RSS is the first --pid's; cpu_ticks = node_ticks + db_ticks. */
typedef struct proc_snap {
    long rss_kib, anon_kib, hwm_kib;
    long long cpu_ticks;
    long long node_ticks;    /* every --pid (petreld) */
    long long db_ticks;      /* every --db-pid's process tree; 0 without one */
    long long node_each[BENCH_MAX_PIDS], db_each[BENCH_MAX_PIDS];   /* per pid, in order */
} proc_snap_t;
void proc_snap(pid_t pid, proc_snap_t *s);
/* --pid A,B,...: a snapshot's node_ticks sums these (the pid given to
 * proc_snap, which is the first, is read for RSS). */
void proc_set_pids(const pid_t *pids, uint32_t n);
/* --db-pid A,B,...: from then on a snapshot's cpu_ticks also counts each
 * database server's process tree (the pid, its live children, and what it
 * reaped). */
void proc_set_db_pids(const pid_t *pids, uint32_t n);
/* More than one --pid, or any --db-pid: the CPU split is worth reporting. */
int proc_split(void);

/* ---- the nodes' /metrics (metrics.c) ------------------------------------ */

/* Cluster counters summed over the --metrics endpoints; ok = 0 when an
 * endpoint did not answer or lacks one of them (the sums are then partial). */
typedef struct node_counters {
    double bus_msgs_out, bus_bytes_out, redis_round_trips;
    int ok;                  /* every endpoint answered */
} node_counters_t;
void node_counters_read(const bench_opts_t *o, node_counters_t *c);
/* Sum of the samples of a Prometheus text exposition whose name is name and
 * whose labels contain label (NULL = any); -1 when there is none. */
double prom_sum(const char *text, const char *name, const char *label);

/* ---- result (metrics.c) ------------------------------------------------ */

/* Key/value pairs collected by a workload, printed as one `RESULT {json}`
 * line on stdout and one markdown table row on stdout (its header goes to
 * stderr).  col = NULL keeps a value out of the table. */
typedef struct result {
    char json[16384];
    size_t jlen;
    char hdr[4096];
    size_t hlen;
    char sep[4096];
    size_t slen;
    char row[4096];
    size_t rlen;
    int truncated;
} result_t;

void res_begin(result_t *r, const char *workload);
void res_int(result_t *r, const char *key, long long v, const char *col);
/* Value, or null / "n/a" when v < 0 (a measurement that was not taken). */
void res_int_opt(result_t *r, const char *key, long long v, const char *col);
void res_num(result_t *r, const char *key, double v, int decimals, const char *col);
void res_num_opt(result_t *r, const char *key, double v, int have, int decimals, const char *col);
void res_str(result_t *r, const char *key, const char *v, const char *col);
void res_bool(result_t *r, const char *key, int v, const char *col);
/* A JSON array of n numbers (null where < 0), not in the table. */
void res_num_array(result_t *r, const char *key, const double *v, uint32_t n, int decimals);
void res_print(result_t *r);
/* --metrics result fields between two reads: bus_msgs, bus_bytes,
 * redis_round_trips, and each divided by per (messages; p2p/rate: received
 * in the interval, fanout: group messages acked in it). */
void node_counters_res(result_t *r, const node_counters_t *a, const node_counters_t *b,
                       double per);
/* Result fields of the CPU split between two snapshots (petreld_cpu_s,
 * db_cpu_s, server_pids, db_pids, and per pid in --pid / --db-pid order
 * petreld_cpu_each_s and db_cpu_each_s), only when proc_split(). */
void proc_res_split(result_t *r, const proc_snap_t *a, const proc_snap_t *b);

/* ---- connections (net.c) ----------------------------------------------- */

typedef struct bench bench_t;

enum bconn_state {
    BC_IDLE = 0,     /* no socket */
    BC_CONNECTING,   /* uv_tcp_connect pending */
    BC_LOGGING_IN,   /* LOGIN sent, waiting for 9001 */
    BC_READY,        /* logged in */
    BC_CLOSING,      /* uv_close called */
};

typedef struct bconn {
    uv_tcp_t tcp;             /* tcp.data == this */
    uv_connect_t connect_req;
    bench_t *b;
    uint32_t idx;
    uint8_t state;            /* enum bconn_state */
    uint8_t in_pipeline;      /* counts in b->inflight */
    uint8_t ping_out;         /* a PING is waiting for its pong */
    uint64_t t_start_ns;      /* connect started */
    uint64_t t_ping_ns;
    uint8_t *in;              /* partial downlink frame */
    uint32_t in_len, in_cap;
    uint8_t *login;           /* pre-encoded LOGIN frame */
    uint32_t login_len;
    void *ws;                 /* --transport ws: wslay context once upgraded (ws.c) */
    char ws_key[32];          /* Sec-WebSocket-Key sent */
} bconn_t;

typedef struct bench_counters {
    uint64_t connects;        /* connect attempts started */
    uint64_t established;     /* TCP connect succeeded */
    uint64_t logins_ok;       /* LOGINACK 9001 received */
    uint64_t fail_connect;    /* connect() failed */
    uint64_t fail_login;      /* ERROR 9998 or close before LOGINACK */
    uint64_t fail_other;      /* local errors (write, memory) */
    uint64_t closed_by_server;      /* a logged-in connection was closed by the server */
    uint64_t closed_in_hold;        /* ... of which while b->phase == PHASE_HOLD */
    uint64_t pings, pongs, errors_rx, packets_in, other_rx;
    uint64_t bytes_in, bytes_out;
    int32_t last_error_code;  /* code of the last ERROR 9998 received */
    int last_errno;           /* last libuv error (connect/read/write) */
} bench_counters_t;

typedef struct bench_hooks {
    /* A packet other than LOGINACK / PING / ERROR on a logged-in connection. */
    void (*on_packet)(bench_t *b, bconn_t *c, int32_t cmd, const char *json, size_t len);
    /* A logged-in connection has just been lost (closed by the server/error). */
    void (*on_lost)(bench_t *b, bconn_t *c);
    /* Optional: a pong (9999) on a logged-in connection (after net.c's own
     * heartbeat accounting). */
    void (*on_pong)(bench_t *b, bconn_t *c);
} bench_hooks_t;

enum bench_phase { PHASE_RAMP = 0, PHASE_HOLD, PHASE_END };

struct bench {
    const bench_opts_t *o;
    uv_loop_t loop;
    int loop_ok;
    uv_timer_t ticker;
    uv_signal_t sigint;
    uint64_t t0_ns, deadline_ns;
    int aborted;              /* global deadline passed or SIGINT */
    int phase;                /* enum bench_phase */
    bconn_t *conns;
    uint32_t n;
    /* connect pipeline over conns[next..end) */
    uint32_t next, end, inflight, max_inflight;
    int pumping;
    uint32_t open;            /* uv handles not yet closed */
    uint32_t ready;           /* connections in BC_READY now */
    uint32_t settled;         /* of the current range: logged in or failed */
    uint32_t range_n;
    /* current round: first connect start .. last LOGINACK */
    uint64_t round_first_ns, round_last_ns;
    hist_t login_lat;         /* us, connect start -> LOGINACK */
    hist_t ping_rtt;          /* us, PING -> pong */
    /* heartbeat scheduler: conns[i] pings at t0 + (i + k*n) * interval / n */
    uint64_t ping_interval_ns, ping_t0_ns, ping_seq;
    uint32_t hb_n;            /* heartbeat only conns[0, hb_n) (0 = all) */
    uint64_t next_progress_ns;
    bench_counters_t cnt;
    uint64_t users_added, users_existing;   /* importUser before the run */
    const bench_hooks_t *hooks;
    void *user;
    uint8_t rbuf[64 * 1024];  /* shared read buffer (one loop, one thread) */
    uint8_t wbuf[64 * 1024];  /* scratch for encoding uplink frames */
};

/* Where connection c connects: the peer for p2p/rate receivers (odd idx)
 * when --tcp-peer/--http-peer is given, the target otherwise. */
const struct sockaddr_in *bench_conn_addr(const bench_t *b, const bconn_t *c);
/* The HOST:PORT of that address, for the WebSocket Host header. */
const char *bench_conn_host(const bench_t *b, const bconn_t *c);

/* Set up the loop and n connections with pre-encoded LOGIN frames for users
 * bench-<first_user + i>.  0 or -1 (message printed). */
int bench_init(bench_t *b, const bench_opts_t *o, uint32_t n);
void bench_free(bench_t *b);
uint64_t bench_now_ns(void);
double bench_elapsed_s(const bench_t *b);

/* Start connect+login of conns[first, first+count) with at most
 * max_inflight in flight; resets the round timing and the login histogram.
 * Progress is made only inside bench_run_until(). */
void bench_connect_range(bench_t *b, uint32_t first, uint32_t count, uint32_t max_inflight);
/* Run the loop until pred(b) is true, until_ns (absolute, bench_now_ns()
 * clock; 0 = no limit but the global deadline) passes, or the run aborts.
 * Returns 0 if pred held, 1 on time-out, -1 if aborted. */
int bench_run_until(bench_t *b, int (*pred)(const bench_t *b), uint64_t until_ns);
int bench_pred_settled(const bench_t *b);   /* current range all done */
int bench_pred_closed(const bench_t *b);    /* no open handle left */
int bench_pred_never(const bench_t *b);     /* run for a time */

/* Heartbeat every interval_ms, spread evenly over the connections (0 = off). */
void bench_heartbeat(bench_t *b, uint32_t interval_ms);
/* Send one uplink packet on a logged-in connection.  0 or -1. */
int bench_send(bconn_t *c, int32_t command, const char *body, size_t body_len);
void bench_close(bconn_t *c);
void bench_close_all(bench_t *b);
/* Close everything and wait (at most 5 s) for the handles to go. */
void bench_shutdown(bench_t *b);
uint64_t bench_failures(const bench_t *b);
/* Result fields every workload reports: options, counters, versions. */
void bench_result_common(const bench_t *b, result_t *r);

/* Write raw bytes to the socket (uv_try_write, the rest queued).  0 or -1. */
int bench_write_raw(bconn_t *c, const uint8_t *data, size_t len);
/* Decode the whole downlink frames of buf (as read from a TCP stream) and
 * dispatch them; the bytes consumed, or -1 when the connection is closing. */
long bench_feed(bconn_t *c, const uint8_t *buf, size_t len);

/* ---- WebSocket transport (ws.c) ------------------------------------------ */

/* After the TCP connect: send the upgrade request.  0 or -1. */
int bws_start(bconn_t *c);
/* Bytes read from the socket: handshake response, then WebSocket frames
 * (the LOGIN goes out once upgraded).  0, or -1 if the connection closes. */
int bws_input(bconn_t *c, const uint8_t *data, size_t len);
/* One uplink packet as one binary message (masked).  0 or -1. */
int bws_send(bconn_t *c, const uint8_t *data, size_t len);
/* Free the wslay context (from the close callback only). */
void bws_free(bconn_t *c);

/* ---- users (users.c) ------------------------------------------------------ */

/* Import bench-0 .. bench-<n-1> through the REST API at o->http (blocking;
 * setup only).  0 or -1 (message printed). */
int bench_import_users(const bench_opts_t *o, uint32_t n, uint64_t *added, uint64_t *existing);

/* POST path (e.g. "/v1/group/importGroup") with a JSON body as the app
 * admin, on a fresh connection (setup only).  Returns the HTTP status (-1 on
 * I/O errors) and the body's "code" in *code; the response body (truncated)
 * in out when out_cap > 0. */
int bench_admin_call(const bench_opts_t *o, const char *path, const char *body, size_t len,
                     long long *code, char *out, size_t out_cap);

/* GET path from addr on a fresh connection (blocking, 10 s socket
 * timeouts); the body NUL-terminated in buf.  The HTTP status or -1. */
int bench_http_get(const struct sockaddr_in *addr, const char *path, char *buf, size_t cap,
                   const char **body);

/* ---- workloads --------------------------------------------------------- */

int wl_idle(bench_t *b, result_t *r);
int wl_login(bench_t *b, result_t *r);
int wl_p2p(bench_t *b, result_t *r);
int wl_rate(bench_t *b, result_t *r);
int wl_fanout(bench_t *b, result_t *r);

/* ---- one-to-one message engine (p2p.c) --------------------------------- */

/* Run the message workload on b (conns 2i send to 2i+1): with rate == 0
 * each sender keeps o->window messages in flight (closed loop); with
 * rate > 0 a token bucket sends `rate` msgs/s in total round-robin over the
 * senders, o->window being only a cap per sender.  Fills r; returns the
 * exit status (0 ok, 1 criteria not met). */
int p2p_run(bench_t *b, result_t *r, const char *name, uint32_t rate);

#endif
