/*
 * Connections as the loops see them: a libuv TCP handle, an output queue
 * flushed once per loop iteration, an idle list, and two tables of
 * function pointers set from above:
 *  - conn_ops_t, per transport (set by net/ when it accepts or upgrades a
 *    connection): input, sending a packet frame, resuming reading,
 *    lingering on close, freeing the transport state;
 *  - conn_proto_t, the socket protocol spoken over TCP and WebSocket
 *    connections (installed once by the gateway in runtime_t.proto): a
 *    decoded packet, a protocol error, the end of a session, a timeout,
 *    the server stopping.
 * Core calls no transport and no protocol by name.
 *
 * Output is batched: conn_send* only queue frames and put the connection on
 * the worker's dirty list; a uv_prepare handle flushes every dirty
 * connection once per loop iteration, with one writev per connection.
 */
#ifndef PETREL_CONN_H
#define PETREL_CONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "petrel/proto.h"
#include "server/core/frame.h"
#include "server/core/util.h"

typedef struct worker worker_t;
typedef struct conn conn_t;

/* Transport tags (core counts them in the connection gauges only). */
enum conn_kind { CONN_TCP = 0, CONN_HTTP = 1, CONN_WS = 2 };
enum conn_list { LIST_NONE = 0, LIST_PENDING, LIST_ACTIVE, LIST_HTTP, LIST_CLOSING, LIST_COUNT };

enum conn_flags {
    CF_DIRTY = 1,        /* on the worker's dirty list */
    CF_WRITING = 2,      /* a uv_write is in flight */
    CF_CLOSE_AFTER = 4,  /* close once the output queue is flushed */
    CF_CLOSED = 8,       /* uv_close called */
    CF_AUTHED = 16,      /* a socket session is open (LOGIN): conn_proto_t.on_close ends it */
    CF_NOREAD = 32,      /* reading stopped */
    CF_LOGIN_PENDING = 64, /* LOGIN accepted, user lookup running: EOF waits for its answer */
    CF_EOF = 128,        /* peer half-closed: answer what is pending, then close */
    CF_LINGER = 256,     /* output done and shut down; input dropped until EOF (net) */
    CF_CLOSED_ON_INPUT = 512, /* closing because of what it sent: linger (net) */
    CF_PAUSED = 1024,    /* reading paused by backpressure (conn_pause_check) */
    CF_BACKLOG = 2048,   /* `in` holds input left unprocessed by a pause */
};

/* Per transport, set by net/.  on_data and start_read are required. */
typedef struct conn_ops {
    /* bytes read (also the input a pause left over, CF_BACKLOG) */
    void (*on_data)(conn_t *c, const uint8_t *data, size_t len);
    /* send one packet frame (takes a new reference); NULL: queue it as is */
    int (*send_frame)(conn_t *c, frame_t *f);
    /* (re)start reading */
    void (*start_read)(conn_t *c);
    /* closing after its output: 1 if it now lingers, 0 to close at once;
     * NULL: close at once */
    int (*linger)(conn_t *c);
    /* in the close callback, before the memory goes: transport state */
    void (*free_state)(conn_t *c);
    /* 1: the connection speaks the socket protocol (conn_proto_t) */
    uint8_t socket;
} conn_ops_t;

/* The socket protocol over TCP and WebSocket connections, installed from
 * above (runtime_t.proto).  Every hook is required. */
typedef struct conn_proto {
    /* one decoded uplink packet; 0 to go on, -1 if c is now closing */
    int (*on_packet)(conn_t *c, const petrel_packet_t *p);
    /* the input cannot be decoded: tell the client, close */
    void (*on_error)(conn_t *c, int code, const char *msg, int32_t command);
    /* a session (CF_AUTHED) ends: the connection closes or lingers */
    void (*on_close)(conn_t *c);
    /* in the close callback: free conn_t.upper */
    void (*on_free)(conn_t *c);
    /* no LOGIN in time (LIST_PENDING) or no heartbeat (LIST_ACTIVE) */
    void (*on_timeout)(conn_t *c, enum conn_list l);
    /* the server is stopping */
    void (*on_shutdown)(conn_t *c);
} conn_proto_t;

struct conn {
    uv_tcp_t tcp;             /* tcp.data == this */
    worker_t *w;
    const conn_ops_t *ops;    /* its transport (net/) */
    uint64_t id;
    uint8_t kind;             /* enum conn_kind */
    uint8_t list;             /* enum conn_list */
    uint16_t flags;
    /* The authenticated principal of a socket connection: app_id,
     * client_type (platform) here, user_id and imei (device) below; set by
     * LOGIN (gateway) and read by every command; user_id and imei are
     * owned here (freed on close).  Unset (0 / -1 / NULL) until then and
     * on HTTP connections. */
    int32_t app_id;
    int8_t client_type;
    /* receive acks of this connection being checked (gateway/cmd_msg.c):
     * a counter of the socket protocol, kept here rather than behind
     * `upper` so that counting costs no allocation (it fills padding) */
    uint16_t rack_inflight;
    int64_t stamp_ms;         /* list ordering time (monotonic) */
    dlist_t node;             /* in w->lists[list] */
    dlist_t dirty;            /* in w->dirty while CF_DIRTY */
    char *user_id;            /* the principal (above) */
    char *imei;
    /* partial input (transport framing); with CF_BACKLOG, the rest of a
     * read that a pause left unprocessed (fed again when reading resumes) */
    uint8_t *in;
    uint32_t in_len, in_cap;
    /* output queue: frames not yet handed to the kernel */
    frame_t **outq;
    uint32_t out_n, out_cap;
    uint32_t out_bytes;       /* queued, not yet written (backpressure) */
    uint32_t inflight_bytes;  /* handed to uv_write, not yet written */
    uint32_t pending_ops;     /* requests of this connection queued on the writer */
    void *proto;              /* transport state (net: http_state_t or ws_state_t) */
    void *upper;              /* socket session state of the protocol above (gateway:
                               * packets held during LOGIN); freed by conn_proto_t.on_free */
};

/* Most output a slow reader may have queued or in flight before it is
 * disconnected. */
#define CONN_MAX_QUEUED_BYTES (8u << 20)
/* Backpressure: a connection whose output (queued + in flight) reaches
 * CONN_PAUSE_BYTES, or with CONN_PAUSE_OPS requests waiting for the store
 * writer, is not read until both fall back under half of that. */
#define CONN_PAUSE_BYTES (64u << 10)
#define CONN_PAUSE_OPS 256u

/* A new connection of `size` bytes (at least sizeof(conn_t): a transport
 * may embed conn_t first in a larger struct), zeroed, in the worker's map.
 * NULL on failure. */
conn_t *conn_new(worker_t *w, size_t size, uint8_t kind, const conn_ops_t *ops);
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

#endif
