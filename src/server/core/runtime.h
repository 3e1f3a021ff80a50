/*
 * The runtime: what the event loops need, and nothing of what runs on them.
 * It holds the configuration, the codec limits, the metrics, the workers
 * and the hooks the layers above install at start-up:
 *  - the socket protocol (conn_proto_t, conn.h): what a decoded packet,
 *    a protocol error, a timeout or a shutdown means for a TCP or
 *    WebSocket connection (the gateway installs it);
 *  - per-worker extensions (worker_hooks_t, worker.h): the layers above
 *    keep their own per-worker state in a slot of worker_t.ext, set up and
 *    torn down by their hooks.
 * Core never dereferences `owner` or `net`: they belong to the layers
 * above (the IM server context, im/server.h, embeds this struct as its
 * first member; net keeps its state behind `net`).
 *
 * RUNTIME_FIELDS is the member list, so that a composition can embed the
 * runtime anonymously (union { runtime_t rt; struct { RUNTIME_FIELDS }; })
 * and keep naming these members directly.
 */
#ifndef PETREL_RUNTIME_H
#define PETREL_RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>

#include "petrel/proto.h"
#include "server/core/config.h"
#include "server/core/metrics.h"

struct worker;
struct server;
struct net;
struct conn_proto;

/* Per-worker hooks of a layer above (runtime_add_worker_hooks).  Every
 * hook may be NULL; arg is the one given at registration. */
typedef struct worker_hooks {
    const char *name;
    /* worker_init, in registration order, before its thread runs; -1
     * fails the start-up */
    int (*init)(struct worker *w, void *arg);
    /* on its loop when it starts stopping, before the connections are told */
    void (*stop)(struct worker *w, void *arg);
    /* on its loop, last: no connection left, the loop is about to end */
    void (*close)(struct worker *w, void *arg);
    /* after its thread is joined (its loop is closed) */
    void (*free)(struct worker *w, void *arg);
} worker_hooks_t;

#define WORKER_EXT_MAX 8

typedef struct worker_ext_reg {
    const worker_hooks_t *hooks;
    void *arg;
} worker_ext_reg_t;

#define RUNTIME_FIELDS                                                                        \
    config_t cfg;                                                                             \
    petrel_limits_t limits;                                                                   \
    metrics_t metrics;                                                                        \
    unsigned nworkers;                                                                        \
    struct worker *workers;                                                                   \
    atomic_int stopping;                                                                      \
    /* what worker_t.srv points to (the IM server context): opaque here */                    \
    struct server *owner;                                                                     \
    /* the socket protocol (conn.h), installed by the gateway; NULL: none */                  \
    const struct conn_proto *proto;                                                           \
    /* net's own state (net/net.h): opaque here */                                            \
    struct net *net;                                                                          \
    unsigned n_ext;                                                                           \
    worker_ext_reg_t ext[WORKER_EXT_MAX];

typedef struct runtime {
    RUNTIME_FIELDS
} runtime_t;

/* Register per-worker hooks (before runtime_start): the slot of
 * worker_t.ext that is the layer's, or -1 when all are taken. */
int runtime_add_worker_hooks(runtime_t *rt, const worker_hooks_t *h, void *arg);

#endif
