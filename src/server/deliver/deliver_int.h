/*
 * Inside deliver/: the context and the route, shared by deliver.c (the
 * immediate path, the loop side, the bus) and deliver_queue.c (the ordered
 * thread).  Not for other folders.
 *
 * A route collects one action (a frame to send, a close, a kick) for many
 * devices: local devices in one batch per worker, remote ones per node for
 * the bus; route_send hands them over and frees the route's parts.
 */
#ifndef PETREL_DELIVER_INT_H
#define PETREL_DELIVER_INT_H

#include "server/deliver/deliver.h"

#include <pthread.h>
#include <stdatomic.h>

#define DL_MAX_WORKERS 256 /* a connection id holds its worker in one byte */

typedef struct dq_item dq_item_t;

struct deliver {
    deliver_cfg_t cfg;
    uint32_t node;            /* this node (cfg.bus->node, 0 without a bus) */
    /* the ordered queue (deliver_queue.c) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dq_item_t *head, *tail;
    atomic_size_t queued;     /* written under mu, read without it (deliver_backlog) */
    int stopping;
    atomic_uint_fast64_t dropped;
};

/* One worker's share of a route (an inbox message). */
typedef struct dl_batch {
    deliver_t *d;
    enum bus_action action;
    frame_t *f;               /* BUS_SEND: one reference */
    int code;
    char *text;               /* BUS_CLOSE: the message; BUS_KICK: by imei (owned) */
    size_t n, cap;
    uint64_t conns[];
} dl_batch_t;

typedef struct route {
    deliver_t *d;
    enum bus_action action;
    frame_t *f;               /* BUS_SEND; the route holds one reference */
    int code;
    const char *text;
    struct worker *here;      /* run this worker's batch at once (its loop calls) */
    int local_only;           /* from the bus: every device is on this node */
    size_t count;             /* devices handed over */
    dl_batch_t *local[DL_MAX_WORKERS];
    bus_entry_t *remote;      /* devices of other nodes ... */
    uint32_t *remote_node;    /* ... and their nodes */
    size_t nremote, remote_cap;
} route_t;

/* f: taken over (may be NULL for close and kick). */
void route_init(route_t *r, deliver_t *d, enum bus_action action, frame_t *f, int code,
                const char *text);
void route_add(route_t *r, const sess_device_t *dev);
/* d[0..n), devices of one user, but except_conn (a connection of this node). */
void route_add_devices(route_t *r, const sess_device_t *d, size_t n, uint64_t except_conn);
/* Every device of (app, user) but except_conn.  0, or -1 when the lookup
 * failed. */
int route_add_user(route_t *r, int32_t app_id, const char *user_id, uint64_t except_conn);
/* Hand everything over; returns the devices reached (posted or published)
 * and frees the route's parts. */
size_t route_send(route_t *r);

/* deliver_queue.c */
int dq_start(deliver_t *d);
void dq_stop(deliver_t *d);
/* Cluster mode's immediate pushes, through the ordered queue (their
 * lookups may be Redis round trips). */
void dq_user(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd, const char *json,
             size_t len, uint64_t except_conn, uint64_t else_conn, int32_t else_cmd,
             deliver_else_fn else_make, const void *arg, size_t arg_len);
/* The fallback of deliver_user_else: make(arg) as cmd to this node's conn_id. */
void route_else(deliver_t *d, uint64_t conn_id, int32_t cmd, deliver_else_fn make, const void *arg);
void dq_close_user(deliver_t *d, int32_t app_id, const char *user_id, int code, const char *msg);

#endif
