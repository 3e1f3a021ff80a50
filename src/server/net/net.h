/*
 * The network layer as the layers above see it: its state (net_t: the
 * connection limits and the HTTP request handler), installing it on a
 * runtime (its per-worker listeners), the start-up checks, and the few
 * calls the socket protocol needs (net_conn_logged_in).  The transports
 * themselves are tcp.c (accept, read path, binary socket framing in
 * sockframe.c), http.c (http.h) and ws.c (ws.h).
 */
#ifndef PETREL_NET_H
#define PETREL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/conn.h"
#include "server/core/runtime.h"

struct http_req;
/* Answers one HTTP request (http.h): set from above (api_handle). */
typedef void (*http_handler_fn)(struct http_req *req);

typedef struct net {
    long max_conns;              /* client connections at most (tcp.c) */
    struct connlimit *connlimit; /* connections per client address (connlimit.h) */
    uint32_t max_per_ip, max_per_ip_loopback; /* its limits in force (tcp.c), 0 = none */
    uint32_t max_pending_per_ip; /* of those, not logged in (tcp.c), 0 = none */
    http_handler_fn http_handler; /* every HTTP request but /ws (http.c) */
    int ext_slot;                /* worker_t.ext slot of net's per-worker state */
} net_t;

/* Make n the runtime's network layer: each worker listens on cfg's
 * tcp_listen and http_listen when it starts, stops listening when it
 * stops.  Before runtime_start.  0, or -1 (no worker hook slot left). */
int net_install(runtime_t *rt, net_t *n);
/* At start-up, after net_install: raise RLIMIT_NOFILE to the hard limit
 * and set max_conns (cfg.max_connections, or what the limit allows); logged. */
long net_raise_nofile(runtime_t *rt);
/* After it: the per-address connection table and its limits (max_per_ip
 * at most half of max_conns); logged.  -1 if out of memory. */
int net_connlimit_init(runtime_t *rt);
/* After runtime_join: what net_connlimit_init made. */
void net_free(runtime_t *rt);
/* Before the workers listen: 0 if nobody listens on hostport yet, -1
 * (logged) if the address is bad or taken -- by another petreld too,
 * whose SO_REUSEPORT sockets would otherwise share the port with ours. */
int net_check_free(const char *hostport);
/* The port worker w listens on for kind (CONN_TCP or CONN_HTTP), or -1. */
int net_worker_port(const worker_t *w, uint8_t kind);

/* The socket connection c logged in: off its address's not-logged-in
 * count (max_pending_per_ip). */
void net_conn_logged_in(conn_t *c);

#endif
