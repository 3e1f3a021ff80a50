/*
 * Node bus: how one node hands deliveries to another (cluster mode).
 *
 * A message is addressed to one node and carries a batch of entries, each
 * a target on that node -- one connection (its id, as the session registry
 * gave it) or every device of a user there (conn_id 0 and the user) -- and
 * what to do with it.  The action says what the receiving node does with
 * each target: send the frame (BUS_SEND; frames are the encoded downlink
 * packets, core/frame.h, so the receiving node does not encode again),
 * tell it an error and close it (BUS_CLOSE: code and reason), or the
 * kick-out of a device that logged in elsewhere (BUS_KICK: by whom).
 *
 * publish() hands the message to the addressed node's channel; the bus
 * copies or references what it keeps (frames by frame_ref), the caller
 * keeps its own references.  subscribe() installs this node's receiver,
 * called with every message addressed to this node on a bus thread (or,
 * in process, on the publisher's thread): it must not block and must take
 * its own references to frames it keeps past the call.
 *
 * deliver/ is the only user: it routes a device to the bus when the
 * device lives on another node, and subscribes to hand what comes in to
 * the local workers.  On a single node every device is local, so the bus
 * carries nothing (it is exercised by the unit tests).  bus_local.c is the
 * in-process implementation (a hub of nodes in one process); a network
 * implementation (Redis pub/sub, a TCP mesh) plugs in through the same
 * ops table.
 */
#ifndef PETREL_BUS_H
#define PETREL_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/frame.h"

enum bus_action {
    BUS_SEND = 0,  /* queue the frame on each target that is logged in */
    BUS_CLOSE = 1, /* ERROR {code, reason}, then close; no frame */
    BUS_KICK = 2,  /* MUTUALLOGIN 1009 built per device, then close; no frame */
};

typedef struct bus_entry {
    uint64_t conn_id;        /* a connection on the addressed node, or 0: ... */
    int32_t app_id;          /* ... every device of (app_id, user_id) there */
    const char *user_id;     /* with conn_id 0, else may be NULL */
} bus_entry_t;

typedef struct bus_msg {
    uint32_t node;           /* the addressee */
    uint32_t from;           /* the sender (filled in by publish) */
    enum bus_action action;
    frame_t *frame;          /* BUS_SEND (NULL otherwise) */
    int code;                /* BUS_CLOSE: the error code; BUS_KICK: by client type */
    const char *reason;      /* BUS_CLOSE: the message; BUS_KICK: by imei */
    size_t n;
    const bus_entry_t *entries;
} bus_msg_t;

typedef struct bus bus_t;
typedef void (*bus_recv_fn)(void *ctx, const bus_msg_t *m);

typedef struct bus_ops {
    /* Hand m to node m->node.  0, or -1 (no such node, it is gone, out
     * of memory): the deliveries are lost, like a push to a device that
     * left -- pushes are best effort, storage plus sync is the truth. */
    int (*publish)(bus_t *b, const bus_msg_t *m);
    /* This node's receiver (one; a second call replaces it).  0 or -1. */
    int (*subscribe)(bus_t *b, bus_recv_fn fn, void *ctx);
    /* Leave the bus: no message reaches this node's receiver after it
     * returns. */
    void (*destroy)(bus_t *b);
} bus_ops_t;

struct bus {
    const bus_ops_t *ops;
    uint32_t node;           /* this node's id */
};

/* ---- bus_local.c: nodes in one process ------------------------------------ */

typedef struct bus_hub bus_hub_t;

/* A hub joins the in-process nodes; NULL on OOM.  Free it after every
 * bus that joined it is destroyed. */
bus_hub_t *bus_hub_new(void);
void bus_hub_free(bus_hub_t *h);
/* Node `node` joins hub h (a second join of the same id fails).  Messages
 * are handed to the receiver on the publisher's thread, synchronously.
 * NULL on OOM or when taken. */
bus_t *bus_local_new(bus_hub_t *h, uint32_t node);

#endif
