/*
 * Delivery: the one way to push to users' devices, from any thread.
 *
 * Every push resolves its recipients through the session registry
 * (seam/session.h), encodes the downlink frame once, and hands it to the
 * devices' workers: one inbox message per worker (worker_post_n), which
 * queues the frame on each connection still there and logged in.  A
 * device that left between the lookup and the delivery is skipped on its
 * loop.  Pushes are best effort: correctness comes from storage plus
 * sync.
 *
 * Two paths:
 *   - immediate (deliver_user, deliver_user_frame, deliver_disconnect_user,
 *     deliver_kick): the lookup runs on the caller's thread, which must
 *     not be an event loop for a registry that may block (the local one
 *     does not);
 *   - ordered (deliver_users, deliver_group): one FIFO and one thread.
 *     Store callbacks (the writer thread, in commit order) queue a push;
 *     the thread resolves the recipients off every event loop (a group's
 *     readers from the store's read pool, the registry) and delivers, so
 *     every device sees a group's messages and changes in sequence order.
 *     A full queue drops (and counts) instead of growing without bound;
 *     new sends are refused (62080) well before that: the queue counts in
 *     the delivery backlog (deliver_busy).
 *
 * Cluster mode: the registry is Redis, so no lookup runs on the caller's
 * thread: deliver_user and deliver_disconnect_user go through the ordered
 * queue (they return 1, "handed over"; how many devices they reach is not
 * known to the caller), deliver_user_frame must be called off the loops
 * (presence fan-outs run on the thread pool), deliver_kick needs no
 * lookup (the victims name their nodes).
 * Each device is routed by the node it lives on
 * (sess_device_t.node, 0 = this one; deliver_cfg_t.node_of overrides it
 * in the unit tests).  A device
 * of another node goes to the node bus (seam/bus.h) in one message per
 * node; what the bus brings to this node goes to the local workers.  On a
 * single node the bus is NULL and never used.
 */
#ifndef PETREL_DELIVER_H
#define PETREL_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/conn.h"
#include "server/core/frame.h"
#include "server/core/runtime.h"
#include "server/core/metrics.h"
#include "server/seam/bus.h"
#include "server/seam/session.h"
#include "server/store/store.h"

/* Most ordered pushes waiting; beyond, new ones are dropped. */
#define DELIVER_QUEUE_MAX 65536

struct worker;
typedef struct deliver deliver_t;

typedef struct deliver_cfg {
    /* The workers: their inboxes (runtime_post_n) and connection maps. */
    runtime_t *rt;
    unsigned nworkers;
    sess_registry_t *sess;     /* who is online where */
    store_t *store;            /* a group's readers (deliver_group) */
    metrics_t *metrics;        /* kicks, backlog refusals */
    uint64_t max_backlog;      /* deliver_busy: max_delivery_backlog, 0 = no bound */
    /* Cluster mode (both NULL on one node): the bus to the other nodes,
     * and the node a device lives on (bus->node = this one). */
    bus_t *bus;
    uint32_t (*node_of)(void *ctx, const sess_device_t *dev);
    void *node_ctx;
    /* A kick that reaches a connection whose LOGIN is still being answered
     * (registered, LOGINACK not sent yet: CF_LOGIN_PENDING) is handed here,
     * on its loop, so that the protocol above kicks it after its LOGINACK
     * (deliver_kick_conn); NULL: kicked at once. */
    void (*kick_later)(conn_t *c, int by_client_type, const char *by_imei);
} deliver_cfg_t;

/* Starts the ordered-push thread and, with a bus, subscribes to this
 * node's channel.  NULL on failure. */
deliver_t *deliver_new(const deliver_cfg_t *cfg);
/* Deliver everything queued, stop the thread, leave the bus, free.  Safe
 * on NULL.  Store reads must still work (call between store_shutdown and
 * store_close) and the workers' inboxes must still exist (closed is fine). */
void deliver_free(deliver_t *d);

/* One downlink packet (cmd, json) to every online device of (app_id,
 * user_id) except the connection except_conn (0 = none).  Returns the
 * number of devices it was handed to. */
size_t deliver_user(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd,
                    const char *json, size_t len, uint64_t except_conn);
/* The same with a frame already built (the caller keeps its reference):
 * one frame for many users (a fan-out) is encoded once. */
size_t deliver_user_frame(deliver_t *d, int32_t app_id, const char *user_id, frame_t *f,
                          uint64_t except_conn);

/* 1 when the immediate pushes go through the ordered thread (cluster
 * mode: deliver_user's count is then only "handed over"). */
int deliver_deferred(const deliver_t *d);
/* Makes the fallback packet's JSON text (malloc'ed; NULL: nothing) from
 * the caller's bytes. */
typedef char *(*deliver_else_fn)(const void *arg);

/* deliver_user, and when it reaches no device, else_make(arg) as else_cmd
 * to this node's connection else_conn (the server-made receipt to a
 * sender whose receiver is offline).  arg[0..arg_len) is copied; the
 * fallback is only made when it is needed.  In cluster mode both happen
 * on the ordered thread, after the lookup: the fallback is then not
 * ordered against what the caller's own path sends that connection (the
 * 1046 ack usually goes first: the lookup is a Redis round trip). */
void deliver_user_else(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd,
                       const char *json, size_t len, uint64_t except_conn, uint64_t else_conn,
                       int32_t else_cmd, deliver_else_fn else_make, const void *arg,
                       size_t arg_len);

/* The frame f (the caller keeps its reference) to every device of
 * ids[0..n), looked up together when the registry can (one Redis pipeline
 * per 512 users): a presence fan-out.  Off the loops.  Returns the
 * devices reached. */
size_t deliver_users_frame(deliver_t *d, int32_t app_id, const char *const *ids, size_t n,
                           frame_t *f);

/* Ordered: json as cmd to every device of ids[0..n) (copied), except that
 * self (may be NULL) gets cmd_self instead (0 = nothing) on every device
 * but except_conn. */
void deliver_users(deliver_t *d, int32_t app_id, int32_t cmd, const char *json,
                   const char (*ids)[STORE_ID_MAX + 1], size_t n, const char *self,
                   int32_t cmd_self, uint64_t except_conn);
/* Ordered: the same to the group's current members who may read message
 * sequence seq (store_group_readers_sync), looked up by the push thread. */
void deliver_group(deliver_t *d, int32_t app_id, const char *group_id, int64_t seq, int32_t cmd,
                   const char *json, const char *self, int32_t cmd_self, uint64_t except_conn);

/* ERROR {code, msg, command 0} to every device of the user, then close
 * them (a WebSocket gets close 1008).  Returns the devices told. */
size_t deliver_disconnect_user(deliver_t *d, int32_t app_id, const char *user_id, int code,
                               const char *msg);

/* The kick-out of v[0..n) (a login elsewhere took their place): each gets
 * MUTUALLOGIN 1009 {userId, clientType, imei, byClientType, byImei} and is
 * closed after it (a WebSocket with close 1000); counted in kicks.  here:
 * the worker whose loop calls (its devices are kicked at once), or NULL. */
void deliver_kick(deliver_t *d, struct worker *here, const sess_device_t *v, size_t n,
                  int by_client_type, const char *by_imei);

/* The kick-out of one connection, on its loop (see deliver_cfg_t.kick_later). */
void deliver_kick_conn(deliver_t *d, conn_t *c, int by_client_type, const char *by_imei);

/* The delivery backlog bound: 1 when a new send must be refused with
 * PETREL_ERR_BUSY (counted in backlog_refusals): the deliveries queued in
 * the workers' inboxes plus the ordered queue reach max_backlog, or the
 * ordered queue is half full (its own cap drops, so sends stop first).
 * Else 0.  Any thread. */
int deliver_busy(deliver_t *d);

/* Ordered pushes dropped because the queue was full (since start). */
uint64_t deliver_dropped(const deliver_t *d);
/* Ordered pushes queued now, not yet handed to the workers (a gauge). */
uint64_t deliver_backlog(const deliver_t *d);

#endif
