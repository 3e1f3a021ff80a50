/*
 * Workers: N threads, each with its own libuv loop, connections, idle
 * lists and inbox.  A connection lives on one worker for its life; other
 * threads reach it only through that worker's inbox (runtime_post).
 * Listening and the per-worker state of the layers above are theirs,
 * set up and torn down through worker hooks (runtime.h).
 */
#ifndef PETREL_WORKER_H
#define PETREL_WORKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "server/core/conn.h"
#include "server/core/connmap.h"
#include "server/core/runtime.h"
#include "server/core/util.h"
#include "server/core/wbatch.h"

typedef void (*worker_fn)(worker_t *w, void *arg);

typedef struct inbox_msg {
    struct inbox_msg *next;
    worker_fn fn;
    void *arg;
    uint32_t weight;          /* deliveries it carries (runtime_post_n), counted in inbox_depth */
} inbox_msg_t;

struct worker {
    /* The owner of the runtime (runtime_t.owner): the layers above reach
     * their context through it (w->srv->store); opaque in core. */
    struct server *srv;
    runtime_t *rt;
    unsigned idx;
    uv_thread_t thread;
    uv_loop_t loop;
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
    /* per-worker state of the layers above, one slot each
     * (runtime_add_worker_hooks) */
    void *ext[WORKER_EXT_MAX];
    /* output bytes queued or in flight on this worker's connections; only
     * this worker writes it (relaxed), others read it for the global cap */
    atomic_uint_fast64_t out_bytes;
    /* deliveries queued in the inbox, not yet run (runtime_post_n weights):
     * posters add, this worker subtracts after running; the delivery
     * backlog bound (deliver_busy) reads the sum */
    atomic_uint_fast64_t inbox_depth;
};

/* worker.c */
int runtime_start(runtime_t *rt);          /* workers_start */
void runtime_stop(runtime_t *rt);          /* ask every worker to drain and exit */
void runtime_join(runtime_t *rt);          /* threads gone; inboxes refuse posts */
void runtime_free(runtime_t *rt);          /* after the last poster (store writer, delivery queue) stopped */
/* Run fn(w, arg) on worker idx's loop; safe from any thread.  0 or -1. */
int runtime_post(runtime_t *rt, unsigned idx, worker_fn fn, void *arg);
/* The same for a message carrying `weight` deliveries (a batch of frames
 * for that many connections): it counts `weight` in the inbox depth. */
int runtime_post_n(runtime_t *rt, unsigned idx, worker_fn fn, void *arg, uint32_t weight);
/* Deliveries queued in every worker's inbox (relaxed sum, a gauge). */
uint64_t runtime_inbox_depth(const runtime_t *rt);
/* Called when a connection has been freed (stop bookkeeping). */
void worker_conn_gone(worker_t *w);

#endif
