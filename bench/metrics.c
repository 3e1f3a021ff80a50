/*
 * petrel-bench metrics: the latency histogram, readers for the server's
 * /proc/PID/{status,stat}, and the result printer.
 *
 * Histogram: log-linear over microseconds, fixed size (no allocation), so a
 * workload can add millions of samples at no cost; percentiles are read
 * from bucket midpoints (error < 1.6 %), min/max/mean are exact.
 *
 * CPU: --pid and --db-pid take lists (several petreld; PostgreSQL and
 * redis-server); a snapshot sums them all into cpu_ticks and keeps the two
 * kinds apart (node_ticks, db_ticks) for the split in the result.
 * --metrics: the nodes' Prometheus text is read with a blocking GET (at
 * the edges of the measured interval only) and three cluster counters are
 * summed over the nodes.
 *
 * Result: a workload adds key/value pairs once; they are rendered twice,
 * as a JSON object on one `RESULT {...}` line (every key) and as one
 * markdown table row (the keys given a column name).  The row goes to
 * stdout next to the RESULT line; its header and separator go to stderr so
 * stdout stays two machine-friendly lines.  Buffers are fixed; overflow is
 * reported, never written past.
 */
#include "bench.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- histogram ----------------------------------------------------------- */

void hist_reset(hist_t *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned hist_index(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 6;           /* v >> shift is in [64, 127] */
    if (shift > 34)
        return HIST_BUCKETS - 1;
    return 128 + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - 64);
}

/* Midpoint of bucket i. */
static uint64_t hist_value(unsigned i)
{
    if (i < 128)
        return i;
    unsigned shift = (i - 128) / HIST_SUB + 1;
    uint64_t top = (i - 128) % HIST_SUB + 64;
    return (top << shift) + ((1ull << shift) >> 1);
}

void hist_add(hist_t *h, uint64_t us)
{
    if (h->count == 0 || us < h->min)
        h->min = us;
    if (us > h->max)
        h->max = us;
    h->count++;
    h->sum += us;
    h->b[hist_index(us)]++;
}

uint64_t hist_pct(const hist_t *h, double pct)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- /proc ----------------------------------------------------------------- */

long proc_status_kib(pid_t pid, const char *field)
{
    if (pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t fl = strlen(field);
    long v = -1;
    for (int i = 0; i < 200 && fgets(line, sizeof line, f); i++) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

long long proc_cpu_ticks(pid_t pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and ')': fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* After ')': field 3 (state) ... utime is field 14, stime field 15. */
    long long utime = -1, stime = -1;
    for (int field = 3; field <= 15 && *p; field++) {
        p += strspn(p, " ");
        char *end;
        long long v = strtoll(p, &end, 10);
        if (field == 14)
            utime = v;
        else if (field == 15)
            stime = v;
        p = end + strcspn(end, " ");
    }
    if (utime < 0 || stime < 0)
        return -1;
    return utime + stime;
}

double ticks_to_s(long long ticks)
{
    long hz = sysconf(_SC_CLK_TCK);
    return ticks < 0 || hz <= 0 ? -1.0 : (double)ticks / (double)hz;
}

static pid_t node_pids[BENCH_MAX_PIDS];
static uint32_t n_node_pids;
static pid_t db_pids[BENCH_MAX_PIDS];
static uint32_t n_db_pids;

void proc_set_pids(const pid_t *pids, uint32_t n)
{
    n_node_pids = n < BENCH_MAX_PIDS ? n : BENCH_MAX_PIDS;
    memcpy(node_pids, pids, n_node_pids * sizeof *pids);
}

void proc_set_db_pids(const pid_t *pids, uint32_t n)
{
    n_db_pids = n < BENCH_MAX_PIDS ? n : BENCH_MAX_PIDS;
    memcpy(db_pids, pids, n_db_pids * sizeof *pids);
}

int proc_split(void)
{
    return n_node_pids > 1 || n_db_pids > 0;
}

/* Fields 4 (ppid) and 14..17 (utime, stime, cutime, cstime) of /proc/PID/stat. */
static int stat_fields(const char *path, long long *ppid, long long t[4])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    for (int field = 3; field <= 17 && *p; field++) {
        p += strspn(p, " ");
        char *end;
        long long v = strtoll(p, &end, 10);
        if (field == 4)
            *ppid = v;
        else if (field >= 14)
            t[field - 14] = v;
        p = end + strcspn(end, " ");
    }
    return 0;
}

/* CPU ticks of pid, its live children and the children it reaped. */
static long long tree_ticks(pid_t pid)
{
    char path[64];
    long long ppid = 0, t[4] = {0, 0, 0, 0};
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (stat_fields(path, &ppid, t) < 0)
        return -1;
    long long sum = t[0] + t[1] + t[2] + t[3];
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        long long cp = 0, ct[4] = {0, 0, 0, 0};
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        if (stat_fields(path, &cp, ct) == 0 && cp == pid)
            sum += ct[0] + ct[1];
    }
    if (d)
        closedir(d);
    return sum;
}

void proc_snap(pid_t pid, proc_snap_t *s)
{
    s->rss_kib = proc_status_kib(pid, "VmRSS");
    s->anon_kib = proc_status_kib(pid, "RssAnon");
    s->hwm_kib = proc_status_kib(pid, "VmHWM");
    s->node_ticks = proc_cpu_ticks(pid);
    s->db_ticks = 0;
    /* the other petreld of --pid A,B,... (node_pids[0] is pid) */
    for (uint32_t i = 0; i < n_node_pids; i++) {
        s->node_each[i] = proc_cpu_ticks(node_pids[i]);
        if (node_pids[i] == pid || s->node_ticks < 0)
            continue;
        s->node_ticks = s->node_each[i] < 0 ? -1 : s->node_ticks + s->node_each[i];
    }
    for (uint32_t i = 0; i < n_db_pids; i++) {
        s->db_each[i] = tree_ticks(db_pids[i]);
        if (s->db_ticks >= 0)
            s->db_ticks = s->db_each[i] < 0 ? -1 : s->db_ticks + s->db_each[i];
    }
    s->cpu_ticks = s->node_ticks < 0 || s->db_ticks < 0 ? -1 : s->node_ticks + s->db_ticks;
}

/* ---- the nodes' /metrics ------------------------------------------------- */

/* A sample line "name{labels} value" or "name value": the value when the
 * name matches exactly and the labels hold label; else NAN. */
static double prom_line(const char *line, size_t len, const char *name, const char *label)
{
    size_t nl = strlen(name);
    if (len <= nl || memcmp(line, name, nl) != 0 || (line[nl] != '{' && line[nl] != ' '))
        return NAN;
    const char *p = line + nl, *end = line + len;
    if (*p == '{') {
        const char *close = memchr(p, '}', (size_t)(end - p));
        if (!close)
            return NAN;
        if (label) {
            size_t ll = strlen(label);
            int found = 0;
            for (const char *q = p; q + ll <= close && !found; q++)
                found = memcmp(q, label, ll) == 0;
            if (!found)
                return NAN;
        }
        p = close + 1;
    } else if (label) {
        return NAN;
    }
    char num[64];
    size_t k = 0;
    while (p < end && *p == ' ')
        p++;
    while (p < end && *p != ' ' && k < sizeof num - 1)
        num[k++] = *p++;
    num[k] = '\0';
    char *e;
    double v = strtod(num, &e);
    return k && *e == '\0' && isfinite(v) ? v : NAN;
}

double prom_sum(const char *text, const char *name, const char *label)
{
    double sum = 0;
    int found = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (*p != '#') {
            double v = prom_line(p, len, name, label);
            if (!isnan(v)) {
                sum += v;
                found = 1;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    return found ? sum : -1;
}

void node_counters_read(const bench_opts_t *o, node_counters_t *c)
{
    static char buf[512 * 1024];
    c->bus_msgs_out = c->bus_bytes_out = c->redis_round_trips = 0;
    c->ok = o->nmetrics > 0;
    for (uint32_t i = 0; i < o->nmetrics; i++) {
        const char *body = NULL;
        int st = bench_http_get(&o->metrics[i], "/metrics", buf, sizeof buf, &body);
        double m = st == 200 ? prom_sum(body, "petrel_bus_messages_total", "direction=\"out\"") : -1;
        double by = st == 200 ? prom_sum(body, "petrel_bus_bytes_total", "direction=\"out\"") : -1;
        double rt = st == 200 ? prom_sum(body, "petrel_redis_round_trips_total", NULL) : -1;
        if (m < 0 || by < 0 || rt < 0) {
            fprintf(stderr, "petrel-bench: %s/metrics: HTTP %d%s\n", o->metrics_str[i], st,
                    st == 200 ? ", cluster counters missing" : "");
            c->ok = 0;
            continue;
        }
        c->bus_msgs_out += m;
        c->bus_bytes_out += by;
        c->redis_round_trips += rt;
    }
}

/* ---- result ------------------------------------------------------------------ */

static void app(result_t *r, char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void app(result_t *r, char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap - 1) {
        r->truncated = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len) {
        r->truncated = 1;
        *len = cap - 1;
        buf[*len] = '\0';
        return;
    }
    *len += (size_t)n;
}

#define JAPP(...) app(r, r->json, sizeof r->json, &r->jlen, __VA_ARGS__)

static void json_key(result_t *r, const char *key)
{
    JAPP("%s\"%s\":", r->jlen > 1 ? "," : "", key);
}

static void col(result_t *r, const char *name, const char *cell)
{
    if (!name)
        return;
    app(r, r->hdr, sizeof r->hdr, &r->hlen, " %s |", name);
    app(r, r->sep, sizeof r->sep, &r->slen, "---|");
    app(r, r->row, sizeof r->row, &r->rlen, " %s |", cell);
}

void res_begin(result_t *r, const char *workload)
{
    memset(r, 0, sizeof *r);
    JAPP("{");
    app(r, r->hdr, sizeof r->hdr, &r->hlen, "|");
    app(r, r->sep, sizeof r->sep, &r->slen, "|");
    app(r, r->row, sizeof r->row, &r->rlen, "|");
    res_str(r, "workload", workload, "workload");
}

void res_int(result_t *r, const char *key, long long v, const char *c)
{
    json_key(r, key);
    JAPP("%lld", v);
    char cell[32];
    snprintf(cell, sizeof cell, "%lld", v);
    col(r, c, cell);
}

void res_int_opt(result_t *r, const char *key, long long v, const char *c)
{
    if (v >= 0) {
        res_int(r, key, v, c);
        return;
    }
    json_key(r, key);
    JAPP("null");
    col(r, c, "n/a");
}

void res_num(result_t *r, const char *key, double v, int decimals, const char *c)
{
    res_num_opt(r, key, v, 1, decimals, c);
}

void res_num_opt(result_t *r, const char *key, double v, int have, int decimals, const char *c)
{
    json_key(r, key);
    char cell[48];
    if (!have || !isfinite(v)) {
        JAPP("null");
        col(r, c, "n/a");
        return;
    }
    snprintf(cell, sizeof cell, "%.*f", decimals, v);
    JAPP("%s", cell);
    col(r, c, cell);
}

void res_str(result_t *r, const char *key, const char *v, const char *c)
{
    json_key(r, key);
    JAPP("\"");
    size_t n = strlen(v);
    for (size_t i = 0; i < n && i < 1024; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\')
            JAPP("\\%c", ch);
        else if (ch < 0x20)
            JAPP("\\u%04x", ch);
        else
            JAPP("%c", ch);
    }
    JAPP("\"");
    col(r, c, v);
}

void res_bool(result_t *r, const char *key, int v, const char *c)
{
    json_key(r, key);
    JAPP("%s", v ? "true" : "false");
    col(r, c, v ? "yes" : "no");
}

void node_counters_res(result_t *r, const node_counters_t *a, const node_counters_t *b,
                       double per)
{
    int hm = a->ok && b->ok;
    double bm = b->bus_msgs_out - a->bus_msgs_out;
    double bb = b->bus_bytes_out - a->bus_bytes_out;
    double rt = b->redis_round_trips - a->redis_round_trips;
    res_num_opt(r, "bus_msgs", bm, hm, 0, NULL);
    res_num_opt(r, "bus_bytes", bb, hm, 0, NULL);
    res_num_opt(r, "redis_round_trips", rt, hm, 0, NULL);
    res_num_opt(r, "bus_msgs_per_msg", per > 0 ? bm / per : -1, hm && per > 0, 3, "bus msgs/msg");
    res_num_opt(r, "bus_bytes_per_msg", per > 0 ? bb / per : -1, hm && per > 0, 0, "bus B/msg");
    res_num_opt(r, "redis_round_trips_per_msg", per > 0 ? rt / per : -1, hm && per > 0, 3,
                "Redis RT/msg");
}

void proc_res_split(result_t *r, const proc_snap_t *a, const proc_snap_t *b)
{
    if (!proc_split())
        return;
    int have = a->cpu_ticks >= 0 && b->cpu_ticks >= 0;
    res_int(r, "server_pids", n_node_pids, NULL);
    res_int(r, "db_pids", n_db_pids, NULL);
    res_num_opt(r, "petreld_cpu_s", have ? ticks_to_s(b->node_ticks - a->node_ticks) : -1, have, 2,
                NULL);
    res_num_opt(r, "db_cpu_s", have ? ticks_to_s(b->db_ticks - a->db_ticks) : -1, have, 2, NULL);
    double each[BENCH_MAX_PIDS];
    for (uint32_t i = 0; i < n_node_pids; i++)
        each[i] = a->node_each[i] < 0 || b->node_each[i] < 0
                      ? -1 : ticks_to_s(b->node_each[i] - a->node_each[i]);
    res_num_array(r, "petreld_cpu_each_s", each, n_node_pids, 2);
    for (uint32_t i = 0; i < n_db_pids; i++)
        each[i] = a->db_each[i] < 0 || b->db_each[i] < 0
                      ? -1 : ticks_to_s(b->db_each[i] - a->db_each[i]);
    res_num_array(r, "db_cpu_each_s", each, n_db_pids, 2);
}

void res_num_array(result_t *r, const char *key, const double *v, uint32_t n, int decimals)
{
    json_key(r, key);
    JAPP("[");
    for (uint32_t i = 0; i < n; i++) {
        if (v[i] < 0 || !isfinite(v[i]))
            JAPP("%snull", i ? "," : "");
        else
            JAPP("%s%.*f", i ? "," : "", decimals, v[i]);
    }
    JAPP("]");
}

void res_print(result_t *r)
{
    JAPP("}");
    if (r->truncated)
        fprintf(stderr, "petrel-bench: result buffer too small, output truncated\n");
    fprintf(stderr, "%s\n%s\n", r->hdr, r->sep);
    fflush(stderr);
    printf("RESULT %s\n%s\n", r->json, r->row);
    fflush(stdout);
}
