/*
 * Worker threads: one libuv loop each.  A worker owns its listeners, its
 * connections, the idle lists that implement login timeout, heartbeat
 * timeout, HTTP keep-alive timeout and the bounded wait of closing
 * connections, and an inbox through which other threads run code on it.
 *
 * Each inbox counts the deliveries it holds (inbox_depth; a batch of
 * frames for n connections counts n); runtime_inbox_depth() sums them for
 * the delivery backlog bound (deliver_busy, deliver/deliver.c).
 *
 * Per-worker state of the layers above lives in worker_t.ext slots, set up
 * and torn down by the hooks they registered (runtime.h): listeners (net),
 * LOGIN batches (gateway), presence timers...
 *
 * Shutdown: runtime_stop() posts a stop message; the worker runs the stop
 * hooks (net closes its listeners), tells every connection (the socket
 * protocol's on_shutdown: ERROR 61016; HTTP: closed after its answer), closes them
 * after their output is flushed (bounded by shutdown_timeout_ms), and
 * leaves its loop when the last connection is gone.
 */
#include "server/core/worker.h"

#include "server/core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RBUF_SIZE (128 * 1024)

static void on_async(uv_async_t *a)
{
    worker_t *w = a->data;
    uv_mutex_lock(&w->inbox_mu);
    inbox_msg_t *m = w->inbox_head;
    w->inbox_head = w->inbox_tail = NULL;
    uv_mutex_unlock(&w->inbox_mu);
    while (m) {
        inbox_msg_t *next = m->next;
        uint32_t weight = m->weight;
        m->fn(w, m->arg);
        free(m);
        atomic_fetch_sub_explicit(&w->inbox_depth, weight, memory_order_relaxed);
        m = next;
    }
}

int runtime_add_worker_hooks(runtime_t *rt, const worker_hooks_t *h, void *arg)
{
    if (rt->n_ext >= WORKER_EXT_MAX)
        return -1;
    rt->ext[rt->n_ext].hooks = h;
    rt->ext[rt->n_ext].arg = arg;
    return (int)rt->n_ext++;
}

int runtime_post(runtime_t *s, unsigned idx, worker_fn fn, void *arg)
{
    return runtime_post_n(s, idx, fn, arg, 1);
}

int runtime_post_n(runtime_t *s, unsigned idx, worker_fn fn, void *arg, uint32_t weight)
{
    if (idx >= s->nworkers)
        return -1;
    worker_t *w = &s->workers[idx];
    inbox_msg_t *m = malloc(sizeof *m);
    if (!m)
        return -1;
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    m->weight = weight;
    uv_mutex_lock(&w->inbox_mu);
    if (w->closed) {
        uv_mutex_unlock(&w->inbox_mu);
        free(m);
        return -1;
    }
    if (w->inbox_tail)
        w->inbox_tail->next = m;
    else
        w->inbox_head = m;
    w->inbox_tail = m;
    atomic_fetch_add_explicit(&w->inbox_depth, weight, memory_order_relaxed);
    uv_async_send(&w->async);
    uv_mutex_unlock(&w->inbox_mu);
    return 0;
}

uint64_t runtime_inbox_depth(const runtime_t *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; s->workers && i < s->nworkers; i++)
        n += atomic_load_explicit(&s->workers[i].inbox_depth, memory_order_relaxed);
    return n;
}

static void on_prepare(uv_prepare_t *p)
{
    conn_flush_all(p->data);
}

static void sweep_list(worker_t *w, enum conn_list l, int64_t now)
{
    int64_t timeout = w->list_timeout[l];
    dlist_t *h = &w->lists[l];
    while (!dlist_empty(h)) {
        conn_t *c = container_of(h->next, conn_t, node);
        if (now - c->stamp_ms < timeout)
            break;
        conn_set_list(c, LIST_NONE);
        if (l == LIST_CLOSING || l == LIST_HTTP || !w->rt->proto)
            conn_close(c);
        else
            w->rt->proto->on_timeout(c, l);
    }
}

static void on_sweep(uv_timer_t *t)
{
    worker_t *w = t->data;
    int64_t now = mono_ms();
    for (int l = LIST_PENDING; l < LIST_COUNT; l++)
        sweep_list(w, (enum conn_list)l, now);
}

static void finish(worker_t *w)
{
    uv_mutex_lock(&w->inbox_mu);
    w->closed = 1;
    uv_mutex_unlock(&w->inbox_mu);
    on_async(&w->async); /* run anything that raced in */
    uv_close((uv_handle_t *)&w->async, NULL);
    uv_close((uv_handle_t *)&w->flusher, NULL);
    uv_close((uv_handle_t *)&w->sweeper, NULL);
    runtime_t *rt = w->rt;
    for (unsigned i = 0; i < rt->n_ext; i++)
        if (rt->ext[i].hooks->close)
            rt->ext[i].hooks->close(w, rt->ext[i].arg);
}

void worker_conn_gone(worker_t *w)
{
    w->nconns--;
    if (w->stopping && w->nconns == 0)
        finish(w);
}

static void begin_stop(worker_t *w, void *arg)
{
    (void)arg;
    if (w->stopping)
        return;
    w->stopping = 1;
    runtime_t *rt = w->rt;
    for (unsigned i = 0; i < rt->n_ext; i++)
        if (rt->ext[i].hooks->stop)
            rt->ext[i].hooks->stop(w, rt->ext[i].arg);
    /* snapshot: handlers move connections between lists */
    size_t n = 0;
    conn_t **all = malloc((w->conns.n + 1) * sizeof *all);
    for (size_t i = 0; all && i < w->conns.cap; i++)
        if (w->conns.keys[i])
            all[n++] = w->conns.vals[i];
    for (size_t i = 0; i < n; i++) {
        conn_t *c = all[i];
        if (c->ops->socket && rt->proto)
            rt->proto->on_shutdown(c);
        else
            conn_close_after_flush(c);
    }
    free(all);
    if (w->nconns == 0)
        finish(w);
}

static void worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-worker"); /* top -H, perf */
    worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static int worker_init(runtime_t *s, worker_t *w, unsigned idx)
{
    const config_t *cfg = &s->cfg;
    memset(w, 0, sizeof *w);
    w->srv = s->owner;
    w->rt = s;
    w->idx = idx;
    if (uv_loop_init(&w->loop) < 0)
        return -1;
    uv_mutex_init(&w->inbox_mu);
    for (int l = 0; l < LIST_COUNT; l++)
        dlist_init(&w->lists[l]);
    dlist_init(&w->dirty);
    w->list_timeout[LIST_PENDING] = cfg->login_timeout_ms;
    w->list_timeout[LIST_ACTIVE] = (int64_t)cfg->heartbeat_interval_ms * cfg->heartbeat_miss;
    w->list_timeout[LIST_HTTP] = cfg->http_idle_timeout_ms;
    w->list_timeout[LIST_CLOSING] = cfg->shutdown_timeout_ms;
    w->rbuf_size = RBUF_SIZE;
    w->rbuf = malloc(w->rbuf_size);
    if (!w->rbuf)
        return -1;

    uv_async_init(&w->loop, &w->async, on_async);
    w->async.data = w;
    uv_prepare_init(&w->loop, &w->flusher);
    w->flusher.data = w;
    uv_prepare_start(&w->flusher, on_prepare);
    uv_timer_init(&w->loop, &w->sweeper);
    w->sweeper.data = w;
    int64_t tick = 1000;
    for (int l = LIST_PENDING; l < LIST_COUNT; l++)
        if (w->list_timeout[l] / 4 < tick)
            tick = w->list_timeout[l] / 4;
    if (tick < 5)
        tick = 5;
    uv_timer_start(&w->sweeper, on_sweep, (uint64_t)tick, (uint64_t)tick);
    for (unsigned i = 0; i < s->n_ext; i++) {
        const worker_hooks_t *h = s->ext[i].hooks;
        if (h->init && h->init(w, s->ext[i].arg) < 0) {
            LOGE("worker hook failed", "worker=%u hook=%s", idx, h->name ? h->name : "?");
            return -1;
        }
    }
    return 0;
}

int runtime_start(runtime_t *s)
{
    s->workers = calloc(s->nworkers, sizeof *s->workers);
    if (!s->workers)
        return -1;
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (worker_init(s, &s->workers[i], i) < 0) {
            LOGE("worker init failed", "worker=%u", i);
            return -1;
        }
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (uv_thread_create(&s->workers[i].thread, worker_main, &s->workers[i]) < 0)
            return -1;
    }
    return 0;
}

void runtime_stop(runtime_t *s)
{
    atomic_store(&s->stopping, 1);
    for (unsigned i = 0; i < s->nworkers; i++)
        runtime_post(s, i, begin_stop, NULL);
}

void runtime_join(runtime_t *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        worker_t *w = &s->workers[i];
        uv_thread_join(&w->thread);
        uv_loop_close(&w->loop);
        connmap_free(&w->conns);
        free(w->rbuf);
        for (unsigned e = 0; e < s->n_ext; e++)
            if (s->ext[e].hooks->free)
                s->ext[e].hooks->free(w, s->ext[e].arg);
    }
    /* the array and the closed inboxes stay: the store writer's last
     * callbacks and the group push thread still call runtime_post, which
     * must find the inbox closed (and fail), not freed memory */
}

void runtime_free(runtime_t *s)
{
    for (unsigned i = 0; s->workers && i < s->nworkers; i++)
        uv_mutex_destroy(&s->workers[i].inbox_mu);
    free(s->workers);
    s->workers = NULL;
}
