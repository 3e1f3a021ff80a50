/*
 * The running server: one server_t shared by N workers; each worker is a
 * thread with its own libuv loop, listeners (SO_REUSEPORT), connections,
 * idle lists and inbox.  A connection lives on one worker for its life;
 * other threads reach it only through that worker's inbox (worker_post).
 *
 * Output is batched: conn_send* only queue frames and put the connection on
 * the worker's dirty list; a uv_prepare handle flushes every dirty
 * connection once per loop iteration, with one writev per connection.
 */
#ifndef PETREL_SERVER_H
#define PETREL_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "petrel/proto.h"
#include "server/core/config.h"
#include "server/net/connlimit.h"
#include "server/core/frame.h"
#include "server/seam/session.h"
#include "server/store/store.h"
#include "server/core/util.h"
#include "server/core/wbatch.h"

typedef struct apps apps_t;
typedef struct presence presence_t;
typedef struct worker worker_t;
typedef struct conn conn_t;

#include "server/core/metrics.h"

typedef struct server {
    config_t cfg;
    petrel_limits_t limits;
    store_t *store;
    apps_t *apps;
    sess_registry_t *sess;
    presence_t *presence;     /* online status (presence.h) */
    struct ustate *ustate;    /* operators forbidden/deleted (ustate.h) */
    struct deliver *deliver;  /* every push to devices (deliver/deliver.h) */
    struct events *events;    /* domain event subscribers (im/event.h) */
    struct idem *idem;        /* send idempotency front of the database key (seam/idem.h) */
    metrics_t metrics;
    unsigned nworkers;
    worker_t *workers;
    atomic_int stopping;
    long max_conns;           /* client connections at most (tcp.c) */
    struct connlimit *connlimit; /* connections per client address (connlimit.h) */
    uint32_t max_per_ip, max_per_ip_loopback; /* its limits in force (tcp.c), 0 = none */
    uint32_t max_pending_per_ip; /* of those, not logged in (tcp.c), 0 = none */
} server_t;

/* ---- connections ------------------------------------------------------ */

enum conn_kind { CONN_TCP = 0, CONN_HTTP = 1, CONN_WS = 2 };
enum conn_list { LIST_NONE = 0, LIST_PENDING, LIST_ACTIVE, LIST_HTTP, LIST_CLOSING, LIST_COUNT };

enum conn_flags {
    CF_DIRTY = 1,        /* on the worker's dirty list */
    CF_WRITING = 2,      /* a uv_write is in flight */
    CF_CLOSE_AFTER = 4,  /* close once the output queue is flushed */
    CF_CLOSED = 8,       /* uv_close called */
    CF_AUTHED = 16,      /* LOGIN succeeded */
    CF_NOREAD = 32,      /* reading stopped */
    CF_LOGIN_PENDING = 64, /* LOGIN accepted, user lookup running */
    CF_EOF = 128,        /* peer half-closed: answer what is pending, then close */
    CF_LINGER = 256,     /* output done and shut down; input dropped until EOF (tcp.c) */
    CF_CLOSED_ON_INPUT = 512, /* closing because of what it sent: linger (tcp.c) */
    CF_PAUSED = 1024,    /* reading paused by backpressure (conn_pause_check) */
    CF_BACKLOG = 2048,   /* TCP: `in` holds input left unprocessed by a pause */
};

struct conn {
    uv_tcp_t tcp;             /* tcp.data == this */
    worker_t *w;
    uint64_t id;
    uint8_t kind;
    uint8_t list;             /* enum conn_list */
    uint16_t flags;
    int32_t app_id;
    int8_t client_type;
    int64_t stamp_ms;         /* list ordering time (monotonic) */
    dlist_t node;             /* in w->lists[list] */
    dlist_t dirty;            /* in w->dirty while CF_DIRTY */
    char *user_id;            /* set at login */
    char *imei;
    /* partial input frame (TCP); with CF_BACKLOG, the rest of a read that
     * a pause left unprocessed (fed again when reading resumes) */
    uint8_t *in;
    uint32_t in_len, in_cap;
    /* output queue: frames not yet handed to the kernel */
    frame_t **outq;
    uint32_t out_n, out_cap;
    uint32_t out_bytes;       /* queued, not yet written (backpressure) */
    uint32_t inflight_bytes;  /* handed to uv_write, not yet written */
    uint32_t pending_ops;     /* requests of this connection queued on the writer */
    void *proto;              /* http_state_t or ws_state_t */
    struct held_pkt *held;    /* packets that arrived during a pending LOGIN */
    uint16_t rack_inflight;   /* msg.c: this connection's receive acks being checked */
    cl_ref_t climit;          /* its count under its address (connlimit.h), released on close */
};

/* ---- workers ---------------------------------------------------------- */

typedef void (*worker_fn)(worker_t *w, void *arg);

typedef struct inbox_msg {
    struct inbox_msg *next;
    worker_fn fn;
    void *arg;
    uint32_t weight;          /* deliveries it carries (worker_post_n), counted in inbox_depth */
} inbox_msg_t;

typedef struct connmap {
    uint64_t *keys;
    conn_t **vals;
    size_t cap, n;   /* cap is a power of two; 0 = empty key */
} connmap_t;

struct worker {
    server_t *srv;
    unsigned idx;
    uv_thread_t thread;
    uv_loop_t loop;
    struct net_listener *tcp_listener, *http_listener; /* tcp.c */
    int have_tcp, have_http;
    uv_async_t async;
    uv_prepare_t flusher;
    uv_timer_t sweeper;
    uv_mutex_t inbox_mu;
    inbox_msg_t *inbox_head, *inbox_tail;
    dlist_t lists[LIST_COUNT];
    int64_t list_timeout[LIST_COUNT];
    dlist_t dirty;
    connmap_t conns;
    uint64_t next_conn_seq;
    uint64_t nconns;
    int stopping;
    int closed;               /* inbox refuses new messages */
    uint8_t *rbuf;            /* per-loop read buffer */
    size_t rbuf_size;
    wbatch_t login_batch;     /* gateway.c: LOGIN user lookups, batched */
    wbatch_t rack_batch;      /* msg.c: MSG_RECEIVE_ACK checks, batched (lazily set up) */
    unsigned rack_pending;    /* msg.c: receive acks queued or being checked */
    struct ws_tx *ws_tx;      /* ws.c: frame context that builds sent frames */
    /* output bytes queued or in flight on this worker's connections; only
     * this worker writes it (relaxed), others read it for the global cap */
    atomic_uint_fast64_t out_bytes;
    /* deliveries queued in the inbox, not yet run (worker_post_n weights):
     * posters add, this worker subtracts after running; the delivery
     * backlog bound (worker_backlog_busy) reads the sum */
    atomic_uint_fast64_t inbox_depth;
};

/* Most output a slow reader may have queued or in flight before it is
 * disconnected. */
#define CONN_MAX_QUEUED_BYTES (8u << 20)
/* Backpressure: a connection whose output (queued + in flight) reaches
 * CONN_PAUSE_BYTES, or with CONN_PAUSE_OPS requests waiting for the store
 * writer, is not read until both fall back under half of that. */
#define CONN_PAUSE_BYTES (64u << 10)
#define CONN_PAUSE_OPS 256u

/* worker.c */
int workers_start(server_t *s);
void workers_stop(server_t *s);          /* ask every worker to drain and exit */
void workers_join(server_t *s);           /* threads gone; inboxes refuse posts */
void workers_free(server_t *s);           /* after the last poster (store writer, gpush) stopped */
/* Run fn(w, arg) on worker idx's loop; safe from any thread.  0 or -1. */
int worker_post(server_t *s, unsigned idx, worker_fn fn, void *arg);
/* The same for a message carrying `weight` deliveries (a batch of frames
 * for that many connections): it counts `weight` in the inbox depth. */
int worker_post_n(server_t *s, unsigned idx, worker_fn fn, void *arg, uint32_t weight);
/* Deliveries queued in every worker's inbox (relaxed sum, a gauge). */
uint64_t workers_inbox_depth(const server_t *s);
/* The delivery backlog bound (max_delivery_backlog, 0 = off): 1 when a new
 * send must be refused with PETREL_ERR_BUSY (counted), else 0.  Any thread. */
int worker_backlog_busy(server_t *s);
/* Called when a connection has been freed (stop bookkeeping). */
void worker_conn_gone(worker_t *w);

/* connmap.c */
int connmap_put(connmap_t *m, uint64_t key, conn_t *c);
conn_t *connmap_get(const connmap_t *m, uint64_t key);
void connmap_del(connmap_t *m, uint64_t key);
void connmap_free(connmap_t *m);

/* conn.c */
conn_t *conn_new(worker_t *w, uint8_t kind);
void conn_set_list(conn_t *c, enum conn_list l);
void conn_touch(conn_t *c);                  /* activity: refresh idle stamp */
void conn_mark_dirty(conn_t *c);             /* flush this connection at the end of the iteration */
int conn_send_frame(conn_t *c, frame_t *f);  /* takes a new reference */
int conn_queue_owned(conn_t *c, frame_t *f); /* raw bytes, takes the caller's reference */
int conn_send_raw(conn_t *c, const void *data, size_t len);
int conn_send_json(conn_t *c, int32_t command, const char *json, size_t len);
/* Send an ERROR 9998 packet {code,msg,command}. */
void conn_send_error(conn_t *c, int code, const char *msg, int32_t command);
/* The same for a refused uplink packet: adds its "messageId" when body
 * has a string one, so a client can tell which of its sends failed. */
void conn_send_error_for(conn_t *c, int code, const char *msg, int32_t command,
                         const json_t *body);
/* Send the ERROR 9998 packet o (takes the reference; NULL sends nothing)
 * and count code in the error metrics. */
void conn_send_error_json(conn_t *c, int code, json_t *o);
void conn_close(conn_t *c);                  /* now; drops queued output */
void conn_close_after_flush(conn_t *c);
void conn_flush_all(worker_t *w);
/* Backpressure (see CONN_PAUSE_*): stop reading c when its output or its
 * queued requests are over the mark, resume when both are under half. */
void conn_pause_check(conn_t *c);
/* A request of c went to the store writer / came back (by connection id:
 * the connection may be gone by then). */
void conn_op_queued(conn_t *c);
void conn_op_done(worker_t *w, uint64_t conn_id);
/* The connection's input: feed raw bytes (TCP gateway framing). */
void conn_input_frames(conn_t *c, const uint8_t *data, size_t len);

/* tcp.c: listeners and the read path shared by all kinds */
int net_listen(worker_t *w, struct net_listener **out, const char *hostport, uint8_t kind);
void net_listener_close(struct net_listener *l);
/* The port a listener is bound to (its address may say :0), or -1. */
int net_listener_port(const struct net_listener *l);
/* At start-up: raise RLIMIT_NOFILE to the hard limit and set max_conns
 * (cfg.max_connections, or what the limit allows); logged. */
long net_raise_nofile(server_t *s);
/* After it: the per-address connection table and its limits (max_per_ip
 * at most half of max_conns); logged.  -1 if out of memory. */
int net_connlimit_init(server_t *s);
/* Before the workers listen: 0 if nobody listens on hostport yet, -1
 * (logged) if the address is bad or taken -- by another petreld too,
 * whose SO_REUSEPORT sockets would otherwise share the port with ours. */
int net_check_free(const char *hostport);
void conn_start_read(conn_t *c);
/* A connection closing after its output: 1 if it now lingers (it is
 * closed because of what it sent, or input is still unread: close() would
 * then reset the connection and could destroy the last answer before the
 * peer reads it): the write side is
 * shut, input is read and dropped, and the connection ends at the peer's
 * EOF or after the closing list's timeout.  0: close it now. */
int net_linger(conn_t *c);

/* http.c */
void http_on_data(conn_t *c, const uint8_t *data, size_t len);
void http_state_free(conn_t *c);
int http_request_pending(conn_t *c);

/* ws.c */
int ws_upgrade(conn_t *c, const uint8_t *rest, size_t rest_len);
void ws_on_data(conn_t *c, const uint8_t *data, size_t len);
int ws_send_frame(conn_t *c, frame_t *f);
void ws_close_with(conn_t *c, uint16_t code, const char *reason);
void ws_state_free(conn_t *c);
void ws_worker_free(worker_t *w);  /* after the worker's loop has stopped */

/* gateway.c: one decoded uplink packet from a TCP or WS connection.
 * Returns 0 to go on, -1 if the connection is now closing. */
int gw_on_packet(conn_t *c, const petrel_packet_t *p);
void gw_on_close(conn_t *c);
void gw_free_held(conn_t *c);
/* Error from the codec for this connection: send error, close. */
void gw_protocol_error(conn_t *c, int code, const char *msg, int32_t command);
void gw_on_timeout(conn_t *c, enum conn_list l);
void gw_on_shutdown(conn_t *c);

#endif
