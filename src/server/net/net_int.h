/*
 * Inside net/: the connection as net allocates it (conn_t first, then
 * what net alone keeps per connection), net's per-worker state, the
 * transports' operation tables and the read path they share.
 */
#ifndef PETREL_NET_INT_H
#define PETREL_NET_INT_H

#include "server/core/conn.h"
#include "server/core/worker.h"
#include "server/net/connlimit.h"
#include "server/net/net.h"

typedef struct net_conn {
    conn_t c;                 /* first: a conn_t * is a net_conn_t * */
    cl_ref_t climit;          /* its count under its address (connlimit.h), released on free */
} net_conn_t;

typedef struct net_worker {
    struct net_listener *tcp, *http; /* tcp.c */
    struct ws_tx *ws_tx;      /* ws.c: frame context that builds sent frames */
} net_worker_t;

static inline net_t *net_of(const worker_t *w)
{
    return w->rt->net;
}

static inline net_worker_t *net_worker(const worker_t *w)
{
    return w->ext[w->rt->net->ext_slot];
}

/* The transports (tcp.c, http.c, ws.c). */
extern const conn_ops_t net_tcp_ops, net_http_ops, net_ws_ops;

/* tcp.c: listeners */
int net_listen(worker_t *w, struct net_listener **out, const char *hostport, uint8_t kind);
void net_listener_close(struct net_listener *l);
/* The port a listener is bound to (its address may say :0), or -1. */
int net_listener_port(const struct net_listener *l);

/* tcp.c: the read path shared by all kinds */
void conn_start_read(conn_t *c);
/* A connection closing after its output: 1 if it now lingers (it is
 * closed because of what it sent, or input is still unread: close() would
 * then reset the connection and could destroy the last answer before the
 * peer reads it): the write side is shut, input is read and dropped, and
 * the connection ends at the peer's EOF or after the closing list's
 * timeout.  0: close it now. */
int net_linger(conn_t *c);
/* Release what net counted for c (its address). */
void net_conn_free(conn_t *c);

/* sockframe.c: binary socket framing of the TCP port */
void sockframe_input(conn_t *c, const uint8_t *data, size_t len);

/* http.c */
void http_on_data(conn_t *c, const uint8_t *data, size_t len);
int http_request_pending(conn_t *c);

/* ws.c */
int ws_upgrade(conn_t *c, const uint8_t *rest, size_t rest_len);
void ws_worker_free(worker_t *w);  /* after the worker's loop has stopped */

#endif
