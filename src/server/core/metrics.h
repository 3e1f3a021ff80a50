/*
 * Process-wide counters and gauges, rendered as Prometheus text at
 * /metrics.  Plain relaxed atomics, written from every thread; no locks on
 * hot paths.  Keyed families (error codes, HTTP routes and statuses) use
 * fixed tables so an increment is an index, never an allocation.
 */
#ifndef PETREL_METRICS_H
#define PETREL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "petrel/errors.h"

#define METRICS_MAX_ROUTES 128
#define METRICS_NSTATUS 11
/* error code slots: 200, every row of petrel/errors.h, then "other" */
#define METRICS_NCODES (PETREL_ERR_COUNT + 2)

typedef struct metrics {
    atomic_uint_fast64_t conns_tcp, conns_ws, conns_http;  /* currently open */
    atomic_uint_fast64_t online[2][6];  /* logged-in sockets: [0 tcp, 1 ws][clientType] */
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t refused_full, accept_paused; /* tcp.c: at capacity, accept failed */
    atomic_uint_fast64_t refused_per_ip; /* tcp.c: address at max_connections_per_ip */
    atomic_uint_fast64_t logins_ok, logins_failed, kicks;
    atomic_uint_fast64_t packets_in, packets_out, bytes_in, bytes_out;
    atomic_uint_fast64_t errors_sent;
    atomic_uint_fast64_t backlog_refusals; /* worker.c: sends refused over max_delivery_backlog */
    atomic_uint_fast64_t errors_by_code[METRICS_NCODES];
    atomic_uint_fast64_t http_requests;
    atomic_uint_fast64_t http_by_route[METRICS_MAX_ROUTES][METRICS_NSTATUS];
} metrics_t;

/* Count one error packet or error envelope with this code. */
void metrics_error(metrics_t *m, int code);
/* Count one HTTP answer for route slot `route` (-1 = unrouted). */
void metrics_http(metrics_t *m, int route, int status);

struct server;
/* Prometheus text exposition of everything; malloc'ed, *len set. */
char *metrics_render(struct server *s, size_t *len);

#endif
