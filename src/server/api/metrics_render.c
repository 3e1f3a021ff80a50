/*
 * Prometheus text rendering of metrics_t plus gauges read at scrape time
 * (sessions, store statistics).  See metrics.h.
 */
#include "server/core/metrics.h"

#include "server/api/api.h"
#include "server/cluster/cluster.h"
#include "server/deliver/deliver.h"
#include "server/im/event.h"
#include "server/core/metrics_codes.h"
#include "server/im/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKNOWN metrics_nknown
#define known_codes metrics_known_codes
#define statuses metrics_statuses

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

static void counter(buf_t *b, const char *name, const char *help, unsigned long long v)
{
    put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

static const char *ct_names[6] = {"webapi", "web", "ios", "android", "windows", "mac"};

/* Cluster mode (cluster/cluster.h): the bus, Redis, the nodes. */
static void render_cluster(buf_t *b, cstats_t *c)
{
    put(b, "# HELP petrel_bus_messages_total Node bus messages (one per addressed node and "
           "push), by direction.\n# TYPE petrel_bus_messages_total counter\n"
           "petrel_bus_messages_total{direction=\"out\"} %llu\n"
           "petrel_bus_messages_total{direction=\"in\"} %llu\n",
        LOAD(c->bus_out_msgs), LOAD(c->bus_in_msgs));
    put(b, "# HELP petrel_bus_bytes_total Node bus bytes, by direction.\n"
           "# TYPE petrel_bus_bytes_total counter\n"
           "petrel_bus_bytes_total{direction=\"out\"} %llu\n"
           "petrel_bus_bytes_total{direction=\"in\"} %llu\n",
        LOAD(c->bus_out_bytes), LOAD(c->bus_in_bytes));
    counter(b, "petrel_bus_dropped_total",
            "Bus messages lost on the way out (queue full, Redis down): pushes only; "
            "clients resync.", LOAD(c->bus_out_dropped));
    counter(b, "petrel_bus_bad_total", "Bus messages received that did not decode (dropped).",
            LOAD(c->bus_in_bad));
    static const char *le[6] = {"0.001", "0.002", "0.005", "0.01", "0.05", "0.25"};
    put(b, "# HELP petrel_bus_latency_seconds Publish to receive, per bus message "
           "(the nodes' clocks).\n# TYPE petrel_bus_latency_seconds histogram\n");
    for (int i = 0; i < 6; i++)
        put(b, "petrel_bus_latency_seconds_bucket{le=\"%s\"} %llu\n", le[i],
            LOAD(c->bus_lat_le_ms[i]));
    put(b, "petrel_bus_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
           "petrel_bus_latency_seconds_sum %.6f\npetrel_bus_latency_seconds_count %llu\n",
        LOAD(c->bus_lat_count), (double)LOAD(c->bus_lat_us_sum) / 1e6, LOAD(c->bus_lat_count));
    counter(b, "petrel_redis_round_trips_total", "Round trips to Redis (a pipeline counts once).",
            LOAD(c->redis.calls));
    counter(b, "petrel_redis_errors_total", "Redis failures: network errors and error replies.",
            LOAD(c->redis.errors));
    counter(b, "petrel_redis_reconnects_total", "Connections to Redis opened.",
            LOAD(c->redis.reconnects));
    put(b, "# HELP petrel_redis_up 1 when this node's last heartbeat reached Redis.\n"
           "# TYPE petrel_redis_up gauge\npetrel_redis_up %d\n"
           "# HELP petrel_cluster_nodes_alive Live nodes seen at the last heartbeat (this one "
           "included).\n# TYPE petrel_cluster_nodes_alive gauge\npetrel_cluster_nodes_alive %llu\n",
        atomic_load(&c->redis_ok), LOAD(c->nodes_alive));
    counter(b, "petrel_cluster_reaps_total", "Dead nodes this node removed from the cluster.",
            LOAD(c->reaps));
    counter(b, "petrel_cluster_resyncs_total",
            "Times this node re-registered its sessions after Redis lost them.", LOAD(c->resyncs));
    counter(b, "petrel_cluster_reaped_self_total",
            "Times this node found it had been declared dead (and dropped its clients).",
            LOAD(c->reaped_self));
}

char *metrics_render(struct server *s, size_t *len)
{
    metrics_t *m = &s->metrics;
    buf_t b = {malloc(16384), 0, 16384, 0};
    if (!b.p)
        return NULL;

    put(&b, "# HELP petrel_connections Open connections by transport.\n"
            "# TYPE petrel_connections gauge\n");
    put(&b, "petrel_connections{transport=\"tcp\"} %llu\n", LOAD(m->conns_tcp));
    put(&b, "petrel_connections{transport=\"ws\"} %llu\n", LOAD(m->conns_ws));
    put(&b, "petrel_connections{transport=\"http\"} %llu\n", LOAD(m->conns_http));
    put(&b, "# HELP petrel_online_devices Logged-in sockets by transport and client type.\n"
            "# TYPE petrel_online_devices gauge\n");
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < 6; c++)
            put(&b, "petrel_online_devices{transport=\"%s\",client_type=\"%s\"} %llu\n",
                t ? "ws" : "tcp", ct_names[c], LOAD(m->online[t][c]));
    uint64_t devs = 0, users = 0;
    s->sess->ops->count(s->sess, &devs, &users);
    put(&b, "# HELP petrel_online_users Users with at least one device online.\n"
            "# TYPE petrel_online_users gauge\npetrel_online_users %llu\n",
        (unsigned long long)users);

    counter(&b, "petrel_connections_accepted_total", "Connections accepted.", LOAD(m->accepted));
    counter(&b, "petrel_connections_refused_total",
            "Connections refused at max_connections.", LOAD(m->refused_full));
    counter(&b, "petrel_connections_refused_per_ip_total",
            "Connections refused because their address had max_connections_per_ip open "
            "(or max_pending_per_ip without LOGIN).",
            LOAD(m->refused_per_ip));
    counter(&b, "petrel_accept_pauses_total",
            "Listener pauses after accept() failed (out of descriptors or memory).",
            LOAD(m->accept_paused));
    put(&b, "# HELP petrel_logins_total Socket logins by result.\n# TYPE petrel_logins_total counter\n"
            "petrel_logins_total{result=\"ok\"} %llu\npetrel_logins_total{result=\"failed\"} %llu\n",
        LOAD(m->logins_ok), LOAD(m->logins_failed));
    counter(&b, "petrel_kicks_total", "Devices kicked by the multi-device policy.", LOAD(m->kicks));
    counter(&b, "petrel_packets_in_total", "Uplink packets.", LOAD(m->packets_in));
    counter(&b, "petrel_packets_out_total", "Downlink packets.", LOAD(m->packets_out));
    counter(&b, "petrel_bytes_in_total", "Bytes read from sockets.", LOAD(m->bytes_in));
    counter(&b, "petrel_bytes_out_total", "Bytes written to sockets.", LOAD(m->bytes_out));
    unsigned long long outq = 0;
    for (unsigned i = 0; s->workers && i < s->nworkers; i++)
        outq += atomic_load_explicit(&s->workers[i].out_bytes, memory_order_relaxed);
    put(&b, "# HELP petrel_output_queued_bytes Output queued or being written, all connections "
            "(a frame shared by n connections counts n times; capped by max_output_mb).\n"
            "# TYPE petrel_output_queued_bytes gauge\npetrel_output_queued_bytes %llu\n", outq);
    put(&b, "# HELP petrel_frame_bytes Bytes of encoded output frames alive (each once, however "
            "many connections share it).\n# TYPE petrel_frame_bytes gauge\npetrel_frame_bytes %llu\n",
        (unsigned long long)frame_bytes_live());

    put(&b, "# HELP petrel_inbox_deliveries Deliveries queued in a worker's inbox, not yet run "
            "(a group push batch for n connections counts n).\n"
            "# TYPE petrel_inbox_deliveries gauge\n");
    for (unsigned i = 0; s->workers && i < s->nworkers; i++)
        put(&b, "petrel_inbox_deliveries{worker=\"%u\"} %llu\n", i,
            LOAD(s->workers[i].inbox_depth));
    put(&b, "# HELP petrel_gpush_queued Group pushes queued, not yet handed to the workers.\n"
            "# TYPE petrel_gpush_queued gauge\npetrel_gpush_queued %llu\n",
        (unsigned long long)deliver_backlog(s->deliver));
    counter(&b, "petrel_gpush_dropped_total", "Group pushes dropped because their queue was full.",
            (unsigned long long)deliver_dropped(s->deliver));
    counter(&b, "petrel_delivery_backlog_refusals_total",
            "Sends refused (62080) because the delivery backlog was over max_delivery_backlog.",
            LOAD(m->backlog_refusals));

    put(&b, "# HELP petrel_events_total Domain events emitted (one per committed change, "
            "im/event.h), by kind.\n# TYPE petrel_events_total counter\n");
    for (int k = EV_NONE + 1; k < EV_KIND_COUNT; k++)
        put(&b, "petrel_events_total{kind=\"%s\"} %llu\n", ev_kind_name((ev_kind_t)k),
            (unsigned long long)events_count(s->events, (ev_kind_t)k));

    put(&b, "# HELP petrel_errors_total Error packets and error envelopes by code.\n"
            "# TYPE petrel_errors_total counter\n");
    for (size_t i = 0; i <= NKNOWN; i++) {
        unsigned long long v = LOAD(m->errors_by_code[i]);
        if (!v)
            continue;
        if (i < NKNOWN)
            put(&b, "petrel_errors_total{code=\"%d\"} %llu\n", known_codes[i], v);
        else
            put(&b, "petrel_errors_total{code=\"other\"} %llu\n", v);
    }

    put(&b, "# HELP petrel_http_requests_total HTTP requests by route and status.\n"
            "# TYPE petrel_http_requests_total counter\n");
    for (int r = 0; r < METRICS_MAX_ROUTES; r++) {
        for (int i = 0; i < METRICS_NSTATUS; i++) {
            unsigned long long v = LOAD(m->http_by_route[r][i]);
            if (!v)
                continue;
            const char *path = r == METRICS_MAX_ROUTES - 1 ? "other" : api_route_name(r);
            if (statuses[i])
                put(&b, "petrel_http_requests_total{path=\"%s\",status=\"%d\"} %llu\n", path,
                    statuses[i], v);
            else
                put(&b, "petrel_http_requests_total{path=\"%s\",status=\"other\"} %llu\n", path, v);
        }
    }

    store_stats_t st;
    store_get_stats(s->store, &st);
    counter(&b, "petrel_store_commits_total", "Group-commit transactions.", st.commits);
    counter(&b, "petrel_store_ops_total", "Write operations committed.", st.ops);
    counter(&b, "petrel_store_failures_total", "Transactions rolled back.", st.failures);
    put(&b, "# HELP petrel_store_queued Write operations waiting for the writer.\n"
            "# TYPE petrel_store_queued gauge\npetrel_store_queued %llu\n",
        (unsigned long long)st.queued);
    counter(&b, "petrel_store_busy_refusals_total",
            "Writes refused because the writer queue was full (62080).", st.busy_refusals);
    put(&b, "# HELP petrel_store_commit_seconds Group-commit latency.\n"
            "# TYPE petrel_store_commit_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < STORE_HIST_BUCKETS; i++) {
        cum += st.commit_hist[i];
        if (store_hist_bounds_us[i] == UINT64_MAX)
            put(&b, "petrel_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        else
            put(&b, "petrel_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
                (double)store_hist_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    put(&b, "petrel_store_commit_seconds_sum %.6f\npetrel_store_commit_seconds_count %llu\n",
        (double)st.commit_us_total / 1e6, (unsigned long long)st.commits);
    put(&b, "# HELP petrel_store_checkpoints_total WAL checkpoints by the checkpointer thread "
            "(passes) and by the writer between batches.\n"
            "# TYPE petrel_store_checkpoints_total counter\n"
            "petrel_store_checkpoints_total{by=\"checkpointer\"} %llu\n"
            "petrel_store_checkpoints_total{by=\"writer\"} %llu\n",
        (unsigned long long)st.ckpt_passes, (unsigned long long)st.ckpt_writer);
    counter(&b, "petrel_store_wal_restarts_total",
            "Writer checkpoints that copied the whole WAL, which then starts over.",
            st.ckpt_complete);
    counter(&b, "petrel_store_history_rows_total",
            "One-to-one history rows written in sorted batches after their messages' commit.",
            st.history_rows);
    counter(&b, "petrel_store_history_batches_total",
            "Transactions that wrote those rows.", st.history_chunks);
    put(&b, "# HELP petrel_store_history_waiting One-to-one messages whose history rows "
            "are not written yet (readers take them from the bodies).\n"
            "# TYPE petrel_store_history_waiting gauge\npetrel_store_history_waiting %llu\n",
        (unsigned long long)st.history_waiting);
    /* Addition (issue 14, item 17): write health as last observed by the
     * writer and the health checks (no I/O here: this runs on a loop). */
    store_health_t sh;
    store_health_get(s->store, &sh);
    counter(&b, "petrel_store_write_failures_total",
            "Write transactions that failed or were refused (disk full, I/O error, "
            "database file gone).", sh.write_failures);
    put(&b, "# HELP petrel_store_write_failing 1 while the last write transaction failed.\n"
            "# TYPE petrel_store_write_failing gauge\npetrel_store_write_failing %d\n"
            "# HELP petrel_store_db_gone 1 once the database file was found deleted or "
            "replaced (writes refused until restart).\n"
            "# TYPE petrel_store_db_gone gauge\npetrel_store_db_gone %d\n"
            "# HELP petrel_store_writer_busy_seconds Age of the write transaction running "
            "now (0 when idle); over 10 s /healthz reports the writer stalled.\n"
            "# TYPE petrel_store_writer_busy_seconds gauge\npetrel_store_writer_busy_seconds %.3f\n",
        sh.write_failing, sh.gone, (double)sh.busy_ms / 1e3);
    if (s->cstats)
        render_cluster(&b, s->cstats);

    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
