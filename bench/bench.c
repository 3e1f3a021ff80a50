/*
 * petrel-bench: load generator for petreld, speaking the real binary wire
 * protocol over TCP (libuv, one thread).
 *
 *   petrel-bench WORKLOAD --tcp 127.0.0.1:PORT --secret S [options]
 *
 * This file: the workload table, option parsing and validation, process
 * limits.  Connections and the event loop are in net.c, measurements and
 * output in metrics.c, each workload in its own wl_<name>.c (see bench.h).
 *
 * Safety rails: targets and source addresses must be loopback
 * (127.0.0.0/8) -- this tool is for measuring a local server, never for
 * loading someone else's; every wait is bounded and the whole run stops
 * at --timeout.  RLIMIT_NOFILE is raised to its hard limit, and a run that
 * would need more descriptors than that is refused up front.
 *
 * Output: progress and the table header on stderr; on stdout exactly one
 * `RESULT {json}` line and one markdown table row.  Exit status 0 when the
 * workload met its own success criteria, 1 when it ran but did not, 2 on
 * usage errors.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct workload {
    const char *name;
    int (*run)(bench_t *b, result_t *r);
    const char *help;
} workload_t;

static const workload_t workloads[] = {
    {"idle", wl_idle, "hold --conns logged-in connections for --hold s; server RSS per connection"},
    {"login", wl_login, "connect+login rate and latency; --storm: close all, reconnect all at once"},
    {"p2p", wl_p2p, "one-to-one messages, pairs 2i->2i+1, --window in flight per sender: msgs/s, latency"},
    {"rate", wl_rate, "one-to-one messages at a fixed total --rate msgs/s: latency at a sustainable load"},
    {"fanout", wl_fanout, "one group of --members, --senders send 2104: fan-out time, deliveries/s, probes"},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: petrel-bench WORKLOAD --tcp 127.0.0.1:PORT --secret SECRET [options]\n"
            "\nworkloads:\n");
    for (size_t i = 0; i < NWORKLOADS; i++)
        fprintf(f, "  %-8s %s\n", workloads[i].name, workloads[i].help);
    fprintf(f,
            "\noptions:\n"
            "  --tcp HOST:PORT      server's TCP gateway (loopback only)\n"
            "  --secret S           the app's secret (userSign tokens are made locally)\n"
            "  --http HOST:PORT     server's REST API (loopback only): import users bench-0..N-1\n"
            "                       first (petreld refuses LOGIN of unknown users); default: skip\n"
            "  --admin ID           the app admin identifier for importUser (admin)\n"
            "  --app ID             appId (10000)\n"
            "  --client-type N      clientType of every connection, 0..5 (3 = Android)\n"
            "  --conns N            connections (idle: 10000, others: 1000)\n"
            "  --clients N          p2p/rate: same as --conns; client 2i sends to client 2i+1\n"
            "  --window W           p2p: messages in flight per sender (8); rate: the cap (64)\n"
            "  --size BYTES         p2p/rate: messageBody size, about (64; at least 48 are used)\n"
            "  --warmup S           p2p/rate: seconds of sending before the measurement (3)\n"
            "  --duration S         p2p/rate: measured seconds (10)\n"
            "  --rate R             rate: total messages per second over all senders (5000)\n"
            "  --drain S            p2p/rate: wait for outstanding acks/deliveries at the end (2)\n"
            "  --concurrency N      connect+login in flight at once (128)\n"
            "  --hold S             idle: seconds to hold the connections (60)\n"
            "  --heartbeat-ms MS    PING interval per connection (10000)\n"
            "  --pid PID[,PID...]   server pid(s): RSS from /proc/PID/status (the first), CPU\n"
            "                       from /proc/PID/stat (all summed: several petreld nodes)\n"
            "  --db-pid PID[,PID...] database server pid(s) (PostgreSQL's postmaster, redis-server):\n"
            "                       each one's CPU, its children's and its reaped children's counts\n"
            "                       as server CPU (split out as db_cpu_s)\n"
            "  --tcp-peer HOST:PORT p2p/rate: the receivers (clients 2i+1) connect to this second\n"
            "                       node, the senders to --tcp (cluster mode); fanout: the odd\n"
            "                       connections (half the members)\n"
            "  --http-peer HOST:PORT the same with --ws: the receivers use /ws on this address\n"
            "  --metrics HOST:PORT[,...] p2p/rate/fanout: the nodes' /metrics around the measured\n"
            "                       interval (bus messages, bytes, Redis round trips per message)\n"
            "  --sources A,B,...    bind connections round-robin to these 127.x source addresses\n"
            "                       (default: none, or 127.0.0.1..N when ports would run short)\n"
            "  --storm              login: reconnect storm after the first logins\n"
            "  --timeout S          global deadline of the run (300)\n"
            "  --first-user N       idle/login: users bench-N.. instead of bench-0.. (0), e.g. to\n"
            "                       run next to another run against the same server\n"
            "  --transport tcp|ws   tcp (default: --tcp) or WebSocket: GET /ws on --http, binary\n"
            "                       frames through wslay (masked); --ws is the same as ws\n"
            "\nfanout (also --window, --size, --warmup, --duration, --drain, --rate):\n"
            "  --members M          group size; users bench-0..M-1 all log in (2000)\n"
            "  --senders S          members 0..S-1 send MSG_GROUP 2104, --window (1) in flight\n"
            "                       each, or --rate msgs/s in total (1)\n"
            "  --probes P           extra connections (users bench-M..) doing PING round trips\n"
            "                       throughout: other traffic must not stall (4)\n"
            "  --probe-ms MS        pause between a probe's pong and its next PING (10)\n"
            "  --singles N          one-shot fan-outs first: one message at a time to the idle\n"
            "                       group, each waited for until every member has it (5)\n");
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int is_loopback(const struct sockaddr_in *a)
{
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

static int parse_hostport(const char *hp, struct sockaddr_in *sa, char *str, size_t str_cap)
{
    const char *colon = strrchr(hp, ':');
    char host[32];
    uint32_t port;
    if (!colon || (size_t)(colon - hp) >= sizeof host || parse_u32(colon + 1, 1, 65535, &port) < 0)
        return -1;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    if (uv_ip4_addr(host, (int)port, sa) != 0)
        return -1;
    int n = snprintf(str, str_cap, "%s:%" PRIu32, host, port);
    if (n < 0 || (size_t)n >= str_cap)
        return -1;
    return 0;
}

/* "A,B,..." of pids into out (at most BENCH_MAX_PIDS); 0 or -1. */
static int parse_pids(const char *list, pid_t *out, uint32_t *n)
{
    const char *p = list;
    *n = 0;
    for (uint32_t i = 0; i < BENCH_MAX_PIDS && *p; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char num[16];
        uint32_t v;
        if (len == 0 || len >= sizeof num)
            return -1;
        memcpy(num, p, len);
        num[len] = '\0';
        if (parse_u32(num, 1, INT32_MAX, &v) < 0)
            return -1;
        out[(*n)++] = (pid_t)v;
        p = comma ? comma + 1 : p + len;
        if (comma && !*p)
            return -1;   /* trailing comma */
    }
    return *p ? -1 : 0;   /* more than BENCH_MAX_PIDS */
}

/* "HOST:PORT,..." of loopback /metrics endpoints; 0 or -1. */
static int parse_metrics(const char *list, bench_opts_t *o)
{
    const char *p = list;
    o->nmetrics = 0;
    for (uint32_t i = 0; i < BENCH_MAX_METRICS && *p; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char hp[64];
        if (len == 0 || len >= sizeof hp)
            return -1;
        memcpy(hp, p, len);
        hp[len] = '\0';
        if (parse_hostport(hp, &o->metrics[i], o->metrics_str[i], sizeof o->metrics_str[i]) < 0 ||
            !is_loopback(&o->metrics[i]))
            return -1;
        o->nmetrics++;
        p = comma ? comma + 1 : p + len;
        if (comma && !*p)
            return -1;
    }
    return *p ? -1 : 0;
}

static int parse_sources(const char *list, bench_opts_t *o)
{
    const char *p = list;
    o->nsources = 0;
    for (uint32_t i = 0; i < BENCH_MAX_SOURCES && *p; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char host[64];
        if (len == 0 || len >= sizeof host)
            return -1;
        memcpy(host, p, len);
        host[len] = '\0';
        if (uv_ip4_addr(host, 0, &o->sources[o->nsources]) != 0 || !is_loopback(&o->sources[o->nsources]))
            return -1;
        o->nsources++;
        p = comma ? comma + 1 : p + len;
    }
    return *p ? -1 : 0;   /* more than BENCH_MAX_SOURCES */
}

/* Without --sources: one source address takes about half the ephemeral
 * port range (TIME_WAIT of earlier runs and the storm's second round need
 * the rest); beyond that, spread over 127.0.0.1..N. */
static void auto_sources(bench_opts_t *o)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    uint32_t per_source = (hi - lo + 1) / 2;
    if (per_source == 0 || o->conns <= per_source)
        return;
    uint32_t n = (o->conns + per_source - 1) / per_source;
    if (n > BENCH_MAX_SOURCES)
        n = BENCH_MAX_SOURCES;
    for (uint32_t i = 0; i < n; i++) {
        char host[32];
        snprintf(host, sizeof host, "127.0.0.%" PRIu32, i + 1);
        uv_ip4_addr(host, 0, &o->sources[i]);
    }
    o->nsources = n;
    o->sources_auto = 1;
    fprintf(stderr, "petrel-bench: %" PRIu32 " connections > %" PRIu32
                    " ports per source address: using 127.0.0.1..127.0.0.%" PRIu32 "\n",
            o->conns, per_source, n);
}

/* Raise the soft RLIMIT_NOFILE to the hard limit; refuse runs that cannot fit. */
static int raise_nofile(uint32_t conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "petrel-bench: cannot raise RLIMIT_NOFILE: %s\n", strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)conns + 64 > (uint64_t)rl.rlim_cur) {
        fprintf(stderr, "petrel-bench: %" PRIu32 " connections need more than RLIMIT_NOFILE=%llu "
                        "descriptors (raise the hard limit: ulimit -Hn)\n",
                conns, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

enum {
    OPT_TCP = 256, OPT_SECRET, OPT_APP, OPT_CLIENT_TYPE, OPT_CONNS, OPT_CONCURRENCY, OPT_HOLD,
    OPT_HEARTBEAT, OPT_PID, OPT_DB_PID, OPT_SOURCES, OPT_STORM, OPT_TIMEOUT, OPT_HELP, OPT_HTTP, OPT_ADMIN,
    OPT_CLIENTS, OPT_WINDOW, OPT_SIZE, OPT_WARMUP, OPT_DURATION, OPT_RATE, OPT_DRAIN,
    OPT_MEMBERS, OPT_SENDERS, OPT_PROBES, OPT_PROBE_MS, OPT_SINGLES, OPT_TRANSPORT, OPT_WS, OPT_FIRST_USER,
    OPT_TCP_PEER, OPT_HTTP_PEER, OPT_METRICS,
};

static const struct option long_opts[] = {
    {"tcp", required_argument, NULL, OPT_TCP},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"app", required_argument, NULL, OPT_APP},
    {"client-type", required_argument, NULL, OPT_CLIENT_TYPE},
    {"conns", required_argument, NULL, OPT_CONNS},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
    {"pid", required_argument, NULL, OPT_PID},
    {"db-pid", required_argument, NULL, OPT_DB_PID},
    {"sources", required_argument, NULL, OPT_SOURCES},
    {"storm", no_argument, NULL, OPT_STORM},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, OPT_HELP},
    {"http", required_argument, NULL, OPT_HTTP},
    {"admin", required_argument, NULL, OPT_ADMIN},
    {"clients", required_argument, NULL, OPT_CLIENTS},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"size", required_argument, NULL, OPT_SIZE},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"rate", required_argument, NULL, OPT_RATE},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"members", required_argument, NULL, OPT_MEMBERS},
    {"senders", required_argument, NULL, OPT_SENDERS},
    {"probes", required_argument, NULL, OPT_PROBES},
    {"probe-ms", required_argument, NULL, OPT_PROBE_MS},
    {"singles", required_argument, NULL, OPT_SINGLES},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"ws", no_argument, NULL, OPT_WS},
    {"first-user", required_argument, NULL, OPT_FIRST_USER},
    {"tcp-peer", required_argument, NULL, OPT_TCP_PEER},
    {"http-peer", required_argument, NULL, OPT_HTTP_PEER},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {NULL, 0, NULL, 0},
};

static int bad(const char *what, const char *val)
{
    fprintf(stderr, "petrel-bench: invalid %s: %s\n", what, val ? val : "(missing)");
    return -1;
}

static int parse_args(int argc, char **argv, bench_opts_t *o, const workload_t **wl)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return -1;
    }
    *wl = NULL;
    for (size_t i = 0; i < NWORKLOADS; i++)
        if (strcmp(argv[1], workloads[i].name) == 0)
            *wl = &workloads[i];
    if (!*wl)
        return bad("workload", argv[1]);
    o->workload = (*wl)->name;
    o->app_id = 10000;
    o->client_type = 3;
    o->conns = strcmp(o->workload, "idle") == 0 ? 10000 : 1000;
    o->concurrency = 128;
    o->hold_s = 60;
    o->heartbeat_ms = 10000;
    o->timeout_s = 300;
    o->admin = "admin";
    int is_fanout = strcmp(o->workload, "fanout") == 0;
    int is_msg = strcmp(o->workload, "p2p") == 0 || strcmp(o->workload, "rate") == 0 || is_fanout;
    o->window = strcmp(o->workload, "rate") == 0 ? 64 : is_fanout ? 1 : 8;
    o->members = 2000;
    o->senders = 1;
    o->probes = 4;
    o->probe_ms = 10;
    o->singles = 5;
    int have_fanout_opt = 0, have_conns = 0;
    o->size = 64;
    o->warmup_s = 3;
    o->duration_s = 10;
    o->rate = 5000;
    o->drain_s = 2;
    int have_target = 0, have_sources = 0, have_msg_opt = 0, have_rate = 0;
    int have_tcp_peer = 0, have_http_peer = 0;
    struct sockaddr_in tcp_peer, http_peer;
    char tcp_peer_str[80], http_peer_str[80];
    uint32_t v;

    optind = 2;
    for (int guard = 0; guard < argc + 1; guard++) {
        int c = getopt_long(argc, argv, "", long_opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case OPT_TCP:
            if (parse_hostport(optarg, &o->target, o->target_str, sizeof o->target_str) < 0)
                return bad("--tcp (want IPv4 HOST:PORT)", optarg);
            have_target = 1;
            break;
        case OPT_HTTP:
            if (parse_hostport(optarg, &o->http, o->http_str, sizeof o->http_str) < 0)
                return bad("--http (want IPv4 HOST:PORT)", optarg);
            if (!is_loopback(&o->http))
                return bad("--http: only loopback (127.0.0.0/8) is allowed", optarg);
            o->have_http = 1;
            break;
        case OPT_ADMIN:
            o->admin = optarg;
            break;
        case OPT_SECRET:
            o->secret = optarg;
            break;
        case OPT_APP:
            if (parse_u32(optarg, 1, INT32_MAX, &v) < 0)
                return bad("--app", optarg);
            o->app_id = (int32_t)v;
            break;
        case OPT_CLIENT_TYPE:
            if (parse_u32(optarg, 0, 5, &v) < 0)
                return bad("--client-type", optarg);
            o->client_type = (int32_t)v;
            break;
        case OPT_CLIENTS:
        case OPT_CONNS:
            if (parse_u32(optarg, 1, 1000000, &o->conns) < 0)
                return bad("--conns (1..1000000)", optarg);
            have_conns = 1;
            break;
        case OPT_MEMBERS:
            if (parse_u32(optarg, 2, 10000, &o->members) < 0)
                return bad("--members (2..10000, the server's maxMemberCount limit)", optarg);
            have_fanout_opt = 1;
            break;
        case OPT_SENDERS:
            if (parse_u32(optarg, 1, 10000, &o->senders) < 0)
                return bad("--senders (1..10000)", optarg);
            have_fanout_opt = 1;
            break;
        case OPT_PROBES:
            if (parse_u32(optarg, 0, 1000, &o->probes) < 0)
                return bad("--probes (0..1000)", optarg);
            have_fanout_opt = 1;
            break;
        case OPT_PROBE_MS:
            if (parse_u32(optarg, 1, 10000, &o->probe_ms) < 0)
                return bad("--probe-ms (1..10000)", optarg);
            have_fanout_opt = 1;
            break;
        case OPT_SINGLES:
            if (parse_u32(optarg, 0, 1000, &o->singles) < 0)
                return bad("--singles (0..1000)", optarg);
            have_fanout_opt = 1;
            break;
        case OPT_TRANSPORT:
            if (strcmp(optarg, "tcp") == 0)
                o->ws = 0;
            else if (strcmp(optarg, "ws") == 0)
                o->ws = 1;
            else
                return bad("--transport (tcp or ws)", optarg);
            break;
        case OPT_WS:
            o->ws = 1;
            break;
        case OPT_FIRST_USER:
            if (parse_u32(optarg, 0, 10000000, &o->first_user) < 0)
                return bad("--first-user (0..10000000)", optarg);
            if (strcmp(o->workload, "idle") != 0 && strcmp(o->workload, "login") != 0)
                return bad("--first-user (only for idle and login)", optarg);
            break;
        case OPT_CONCURRENCY:
            if (parse_u32(optarg, 1, 1000000, &o->concurrency) < 0)
                return bad("--concurrency", optarg);
            break;
        case OPT_HOLD:
            if (parse_u32(optarg, 0, 86400, &o->hold_s) < 0)
                return bad("--hold", optarg);
            break;
        case OPT_HEARTBEAT:
            if (parse_u32(optarg, 100, 3600000, &o->heartbeat_ms) < 0)
                return bad("--heartbeat-ms (100..3600000)", optarg);
            break;
        case OPT_PID:
            if (parse_pids(optarg, o->pids, &o->npids) < 0 || o->npids == 0)
                return bad("--pid (PID or comma-separated PIDs, at most 16)", optarg);
            o->pid = o->pids[0];
            proc_set_pids(o->pids, o->npids);
            break;
        case OPT_DB_PID:
            if (parse_pids(optarg, o->db_pids, &o->ndb_pids) < 0 || o->ndb_pids == 0)
                return bad("--db-pid (PID or comma-separated PIDs, at most 16)", optarg);
            proc_set_db_pids(o->db_pids, o->ndb_pids);
            break;
        case OPT_TCP_PEER:
            if (parse_hostport(optarg, &tcp_peer, tcp_peer_str, sizeof tcp_peer_str) < 0)
                return bad("--tcp-peer (want IPv4 HOST:PORT)", optarg);
            have_tcp_peer = 1;
            break;
        case OPT_HTTP_PEER:
            if (parse_hostport(optarg, &http_peer, http_peer_str, sizeof http_peer_str) < 0)
                return bad("--http-peer (want IPv4 HOST:PORT)", optarg);
            have_http_peer = 1;
            break;
        case OPT_METRICS:
            if (parse_metrics(optarg, o) < 0)
                return bad("--metrics (comma-separated loopback HOST:PORT, at most 8)", optarg);
            break;
        case OPT_SOURCES:
            if (parse_sources(optarg, o) < 0)
                return bad("--sources (comma-separated 127.x.y.z, at most 254)", optarg);
            have_sources = 1;
            break;
        case OPT_STORM:
            o->storm = 1;
            break;
        case OPT_WINDOW:
            if (parse_u32(optarg, 1, 100000, &o->window) < 0)
                return bad("--window (1..100000)", optarg);
            have_msg_opt = 1;
            break;
        case OPT_SIZE:
            if (parse_u32(optarg, 1, 32000, &o->size) < 0)
                return bad("--size (1..32000)", optarg);
            have_msg_opt = 1;
            break;
        case OPT_WARMUP:
            if (parse_u32(optarg, 0, 3600, &o->warmup_s) < 0)
                return bad("--warmup (0..3600)", optarg);
            have_msg_opt = 1;
            break;
        case OPT_DURATION:
            if (parse_u32(optarg, 1, 3600, &o->duration_s) < 0)
                return bad("--duration (1..3600)", optarg);
            have_msg_opt = 1;
            break;
        case OPT_RATE:
            have_rate = 1;
            if (parse_u32(optarg, 1, 10000000, &o->rate) < 0)
                return bad("--rate (1..10000000)", optarg);
            if (strcmp(o->workload, "rate") != 0 && !is_fanout)
                return bad("--rate (only for the rate and fanout workloads)", optarg);
            have_fanout_opt |= is_fanout;
            break;
        case OPT_DRAIN:
            if (parse_u32(optarg, 0, 600, &o->drain_s) < 0)
                return bad("--drain (0..600)", optarg);
            have_msg_opt = 1;
            break;
        case OPT_TIMEOUT:
            if (parse_u32(optarg, 1, 86400, &o->timeout_s) < 0)
                return bad("--timeout", optarg);
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc)
        return bad("argument", argv[optind]);
    if (o->ws && !o->have_http)
        return bad("--http (the WebSocket transport connects to /ws on the HTTP port)", NULL);
    if (!have_target && !o->ws)
        return bad("--tcp", NULL);
    if (o->ws) {
        /* the WebSocket gateway is /ws on the HTTP port */
        o->target = o->http;
        snprintf(o->target_str, sizeof o->target_str, "ws://%s/ws", o->http_str);
    }
    if (!is_loopback(&o->target))
        return bad("--tcp: only loopback targets (127.0.0.0/8) are allowed", o->target_str);
    /* the peer of the transport in use; the other one is ignored, so a
     * script may pass both */
    if (o->ws ? have_http_peer : have_tcp_peer) {
        o->peer = o->ws ? http_peer : tcp_peer;
        if (o->ws)
            snprintf(o->peer_str, sizeof o->peer_str, "%s", http_peer_str);
        else
            snprintf(o->peer_str, sizeof o->peer_str, "%s", tcp_peer_str);
        o->have_peer = 1;
        if (!is_loopback(&o->peer))
            return bad("--tcp-peer/--http-peer: only loopback (127.0.0.0/8) is allowed",
                       o->peer_str);
    } else if (have_tcp_peer || have_http_peer) {
        return bad(o->ws ? "--tcp-peer (with --ws the receivers need --http-peer)"
                         : "--http-peer (only with --ws; over TCP the receivers need --tcp-peer)",
                   have_tcp_peer ? tcp_peer_str : http_peer_str);
    }
    if (o->have_peer && !is_msg)
        return bad("--tcp-peer/--http-peer (only for p2p, rate and fanout)", o->workload);
    if (o->nmetrics && !is_msg)
        return bad("--metrics (only for p2p, rate and fanout)", o->workload);
    if (!o->secret || !*o->secret)
        return bad("--secret", NULL);
    if (o->storm && strcmp(o->workload, "login") != 0)
        return bad("--storm (only for the login workload)", o->workload);
    if (have_msg_opt && !is_msg)
        return bad("--window/--size/--warmup/--duration/--drain (only for p2p, rate, fanout)",
                   o->workload);
    if (have_fanout_opt && !is_fanout)
        return bad("--members/--senders/--probes/--probe-ms/--singles (only for fanout)",
                   o->workload);
    if (is_fanout) {
        if (have_conns)
            return bad("--conns/--clients (fanout: use --members and --probes)", o->workload);
        if (o->senders > o->members)
            return bad("--senders (at most --members)", o->workload);
        o->conns = o->members + o->probes;
        if (!o->have_http)
            return bad("--http (fanout creates its group through the REST API)", NULL);
        if (!have_rate)
            o->rate = 0;   /* closed loop unless --rate */
    }
    if (is_msg && o->conns < 2)
        return bad("--clients (p2p and rate need at least 2)", "1");
    if (is_msg && (uint64_t)o->warmup_s + o->duration_s + o->drain_s + 60 > o->timeout_s)
        fprintf(stderr, "petrel-bench: warning: --timeout %" PRIu32 " s leaves little room for "
                        "login + warm-up + duration + drain\n", o->timeout_s);
    if (!have_sources)
        auto_sources(o);
    return 0;
}

int main(int argc, char **argv)
{
    static bench_opts_t opts;
    const workload_t *wl;
    if (parse_args(argc, argv, &opts, &wl) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (raise_nofile(opts.conns) < 0)
        return 2;

    bench_t *b = calloc(1, sizeof *b);
    result_t *r = calloc(1, sizeof *r);
    if (!b || !r) {
        fprintf(stderr, "petrel-bench: out of memory\n");
        return 2;
    }
    int rc = 2;
    if (opts.have_http &&
        bench_import_users(&opts, opts.conns, &b->users_added, &b->users_existing) < 0) {
        free(b);
        free(r);
        return 2;
    }
    if (!opts.have_http)
        fprintf(stderr, "petrel-bench: no --http: users bench-%" PRIu32 "..bench-%" PRIu32
                        " must already exist (else LOGIN fails with 20001)\n",
                opts.first_user, opts.first_user + opts.conns - 1);
    if (bench_init(b, &opts, opts.conns) == 0) {
        char peer[112] = "";
        if (opts.have_peer)
            snprintf(peer, sizeof peer, " (receivers: %s)", opts.peer_str);
        fprintf(stderr, "petrel-bench: %s against %s%s, %" PRIu32 " connections%s\n", wl->name,
                opts.target_str, peer, opts.conns,
                opts.pid ? "" : " (no --pid: server RSS/CPU not measured)");
        rc = wl->run(b, r);
        res_print(r);
    }
    bench_free(b);
    free(b);
    free(r);
    return rc;
}
