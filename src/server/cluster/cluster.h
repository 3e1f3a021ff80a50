/*
 * Cluster mode: the seam/ interfaces on Redis, and the node's life in the
 * cluster.  Several petreld share PostgreSQL (the store) and Redis (this
 * folder); any node accepts any client.
 *
 *   node.c            incarnation, heartbeat, reaping dead nodes, noticing
 *                     that this node was reaped or that Redis lost its data;
 *                     the live nodes for discovery (/v1/user/login)
 *   session_redis.c   the session registry (seam/session.h): one Lua script
 *                     per login decides the multi-device policy atomically
 *   presence_redis.c  presence subscriptions (seam/presence_reg.h)
 *   bus_redis.c       the node bus (seam/bus.h): Redis pub/sub, one channel
 *                     per node incarnation
 *   redis.c           connections (redis.h)
 *
 * A node is known by its incarnation: a random non-zero 31-bit number it
 * claims in Redis at start (SET NX) and keeps for its life.  Sessions name
 * it (sess_device_t.node), the bus addresses it, the reaper removes what it
 * held.  node_id (configuration, 0..1023, part of message keys) is the
 * name people and logs use; two live nodes may not share one.
 *
 * Blocking: every call here that talks to Redis blocks its thread for a
 * round trip.  The ops of the registries are called only off the event
 * loops (thread pool, delivery thread); bus publish only queues (it is
 * called on loops too); count() reads local counters.
 *
 * Redis keys (prefix "pt:"; see README.md for the full layout):
 *   pt:node:<inc>        hash: the node's node_id, public addresses, devices
 *   pt:nodes             zset: inc -> last heartbeat (Redis clock, ms)
 *   pt:reaped:<inc>      tombstone of a reaped incarnation (1 h)
 *   pt:s:<app>:<user>    hash: the user's devices, field "<inc>:<conn>"
 *   pt:ns:<inc>          set: what node <inc> registered (for the reaper)
 *   pt:off:<app>:<user>  the user's last device just left (presence debounce)
 *   pt:sub:..., pt:subd:...  presence subscriptions
 *   pt:bus:<inc>         pub/sub channel of node <inc>
 */
#ifndef PETREL_CLUSTER_H
#define PETREL_CLUSTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/cluster/redis.h"
#include "server/seam/bus.h"
#include "server/seam/presence_reg.h"
#include "server/seam/session.h"

/* A node's counters (/metrics).  Everything atomic, any thread. */
typedef struct cstats {
    rstats_t redis;                       /* round trips, errors, reconnects */
    atomic_uint_fast64_t bus_out_msgs;    /* bus messages published */
    atomic_uint_fast64_t bus_out_bytes;
    atomic_uint_fast64_t bus_out_dropped; /* queue full, Redis down: lost */
    atomic_uint_fast64_t bus_in_msgs;     /* bus messages received */
    atomic_uint_fast64_t bus_in_bytes;
    atomic_uint_fast64_t bus_in_bad;      /* undecodable, dropped */
    atomic_uint_fast64_t bus_lat_us_sum;  /* publish -> receive, microseconds */
    atomic_uint_fast64_t bus_lat_count;
    atomic_uint_fast64_t bus_lat_le_ms[6]; /* cumulative: <=1, 2, 5, 10, 50, 250 ms */
    atomic_uint_fast64_t nodes_alive;     /* live nodes seen at the last heartbeat */
    atomic_uint_fast64_t reaps;           /* dead nodes this node reaped */
    atomic_uint_fast64_t resyncs;         /* re-registrations after Redis lost data */
    atomic_uint_fast64_t reaped_self;     /* times this node found it was reaped */
    atomic_int redis_ok;                  /* the last heartbeat reached Redis */
} cstats_t;

/* ---- bus_redis.c ---------------------------------------------------------------- */

/* This node (node = its incarnation) on the Redis bus: publish queues for
 * a publisher thread (pipelined PUBLISHes; a full queue drops, counted);
 * a subscriber thread reads channel pt:bus:<node> and calls the receiver.
 * Reconnects on its own.  NULL on failure. */
bus_t *bus_redis_new(const rconf_t *cf, uint32_t node, cstats_t *st);

/* ---- session_redis.c ------------------------------------------------------------ */

/* The registry in Redis for node `node`; keeps a local mirror of this
 * node's own devices (count(), re-registration).  NULL on failure. */
sess_registry_t *sess_redis_new(const rconf_t *cf, uint32_t node, cstats_t *st);
/* The presence debounce (presence_debounce_ms): when a user's last device
 * leaves, a mark lives this long, and a login on any node within it is a
 * flap (sess_login_t.flapped): neither the offline nor the online is
 * told.  0 (the default) = no mark. */
void sess_redis_set_debounce(sess_registry_t *r, int64_t ms);
/* Write every device of this node's mirror back to Redis (after Redis
 * lost its data), in pipelined batches.  0 or -1.  Not on a loop. */
int sess_redis_resync(sess_registry_t *r);

/* ---- presence_redis.c ------------------------------------------------------------ */

presence_reg_t *presence_redis_new(const rconf_t *cf, size_t per_target, size_t max_total,
                                   cstats_t *st);

/* ---- node.c ------------------------------------------------------------------------ */

typedef struct cnode cnode_t;

typedef struct cnode_info {
    uint32_t inc;
    int node_id;
    char tcp[160];       /* public host:port for TCP clients ("" = none) */
    char ws[160];        /* public host:port for WebSocket clients */
    uint64_t devices;    /* as it reported at its last heartbeat */
} cnode_info_t;

typedef struct cnode_user {
    int32_t app_id;
    char *user_id;
} cnode_user_t;

typedef struct cnode_cfg {
    rconf_t redis;
    cstats_t *stats;
    int node_id;               /* configured; unique among live nodes */
    const char *public_tcp;    /* announced host:port (may be "") */
    const char *public_ws;
    int heartbeat_ms;          /* default 1000 */
    int timeout_ms;            /* a node silent this long is reaped (default 5000) */
    /* Called on the node thread (they must not block for long): */
    /* this node was reaped (paused, partitioned): close every client
     * connection; the node is registered again when it returns */
    void (*on_reaped)(void *ctx);
    /* Redis lost this node's registration (a restart): re-register the
     * live sessions (sess_redis_resync) */
    void (*on_resync)(void *ctx);
    /* node `inc` was reaped by this node: users[0..n) lost their last
     * device with it (announce them offline); users is freed after */
    void (*on_peer_dead)(void *ctx, uint32_t inc, const cnode_user_t *users, size_t n);
    /* this node's logged-in devices now (reported in the heartbeat) */
    uint64_t (*devices)(void *ctx);
    void *ctx;
} cnode_cfg_t;

/* Claim an incarnation (blocking: at start-up, before the loops run) and
 * start the node thread.  NULL (err filled) when Redis does not answer or
 * a live node already has this node_id. */
cnode_t *cnode_start(const cnode_cfg_t *cfg, char *err, size_t errlen);
/* This node's incarnation. */
uint32_t cnode_inc(const cnode_t *n);
/* A copy of the live nodes seen at the last heartbeat (this one included):
 * a malloc'ed array in *out (free()), returns its length.  No I/O. */
size_t cnode_alive(cnode_t *n, cnode_info_t **out);
/* Stop the thread and leave the cluster: while other nodes live, this
 * node marks itself dead so one of them reaps it at its next heartbeat
 * (removing the sessions its connections left behind and announcing
 * their users offline); the last node removes its registration itself.
 * Safe on NULL. */
void cnode_stop(cnode_t *n);

#endif
