/*
 * The IM service context: one server_t shared by every worker and thread.
 * It is the runtime (core/runtime.h: configuration, limits, metrics,
 * workers, hooks) -- embedded first and anonymously, so s->cfg, s->metrics,
 * s->workers name its members and &s->rt is what core is given -- plus the
 * services of the layers up to im: storage, apps, sessions, presence, user
 * states, deliveries, domain events, idempotency, and net's state (connection
 * limits, HTTP handler).  Composed in app/boot.c.
 *
 * The worker_* / workers_* functions below are the runtime's (core/worker.h)
 * taking the server, for the layers above.
 */
#ifndef PETREL_IM_SERVER_H
#define PETREL_IM_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "petrel/proto.h"
#include "server/core/config.h"
#include "server/core/conn.h"
#include "server/core/frame.h"
#include "server/core/metrics.h"
#include "server/core/runtime.h"
#include "server/core/util.h"
#include "server/core/wbatch.h"
#include "server/core/worker.h"
#include "server/net/net.h"
#include "server/seam/session.h"
#include "server/store/store.h"

typedef struct apps apps_t;
typedef struct presence presence_t;

typedef struct server {
    union {
        runtime_t rt;            /* what core is given (&s->rt) */
        struct {
            RUNTIME_FIELDS
        };
    };
    store_t *store;
    apps_t *apps;
    sess_registry_t *sess;
    presence_t *presence;     /* online status (presence.h) */
    struct ustate *ustate;    /* operators forbidden/deleted (ustate.h) */
    struct deliver *deliver;  /* every push to devices (deliver/deliver.h) */
    struct events *events;    /* domain event subscribers (im/event.h) */
    struct idem *idem;        /* send idempotency front of the database key (seam/idem.h) */
    /* cluster mode (cluster/cluster.h; all NULL on one node) */
    struct cnode *cnode;      /* this node in the cluster: liveness, live nodes */
    struct cstats *cstats;    /* its counters (/metrics) */
    struct bus *bus;          /* the node bus (deliver/ uses it) */
    net_t net_state;          /* listeners' state: connection limits, HTTP handler (net.h) */
} server_t;

static inline int workers_start(server_t *s) { return runtime_start(&s->rt); }
static inline void workers_stop(server_t *s) { runtime_stop(&s->rt); }
static inline void workers_join(server_t *s) { runtime_join(&s->rt); }
static inline void workers_free(server_t *s) { runtime_free(&s->rt); }

static inline int worker_post(server_t *s, unsigned idx, worker_fn fn, void *arg)
{
    return runtime_post(&s->rt, idx, fn, arg);
}

static inline int worker_post_n(server_t *s, unsigned idx, worker_fn fn, void *arg,
                                uint32_t weight)
{
    return runtime_post_n(&s->rt, idx, fn, arg, weight);
}

static inline uint64_t workers_inbox_depth(const server_t *s)
{
    return runtime_inbox_depth(&s->rt);
}

#endif
