/*
 * Ordered group pushes (see gpush.h).  Items are malloc'ed with their JSON
 * text and ids inline; the thread owns an item once it popped it.
 */
#include "server/deliver/gpush.h"

#include "server/core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct gp_item {
    struct gp_item *next;
    int32_t app_id;
    int cmd, cmd_self;
    uint64_t except_conn;
    int64_t seq;
    char group_id[STORE_GROUP_ID_MAX + 1]; /* readers mode when set */
    char self[STORE_ID_MAX + 1];
    char (*ids)[STORE_ID_MAX + 1];
    size_t n;
    size_t len;
    char json[];
} gp_item_t;

struct gpush {
    server_t *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gp_item_t *head, *tail;
    atomic_size_t queued;     /* written under mu, read without it (gpush_backlog) */
    int stopping;
    atomic_uint_fast64_t dropped;
};

/* One worker's share of a frame. */
typedef struct gp_batch {
    frame_t *f;
    size_t n, cap;
    uint64_t conns[];
} gp_batch_t;

static void batch_on_loop(worker_t *w, void *arg)
{
    gp_batch_t *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        conn_t *c = connmap_get(&w->conns, b->conns[i]);
        if (c && (c->flags & CF_AUTHED))
            conn_send_frame(c, b->f);
    }
    frame_unref(b->f);
    free(b);
}

/* Per-worker batches being filled for one frame. */
typedef struct fan {
    server_t *s;
    frame_t *f;
    gp_batch_t **by_worker;
} fan_t;

static void fan_add(fan_t *fn, uint64_t conn_id)
{
    unsigned wi = conn_id_worker(conn_id);
    if (!fn->f || wi >= fn->s->nworkers)
        return;
    gp_batch_t *b = fn->by_worker[wi];
    if (!b || b->n == b->cap) {
        size_t cap = b ? b->cap * 2 : 16;
        gp_batch_t *nb = realloc(b, sizeof *nb + cap * sizeof nb->conns[0]);
        if (!nb)
            return;
        if (!b) {
            nb->n = 0;
            nb->f = frame_ref(fn->f);
        }
        nb->cap = cap;
        fn->by_worker[wi] = b = nb;
    }
    b->conns[b->n++] = conn_id;
}

static void fan_send(fan_t *fn)
{
    for (unsigned i = 0; fn->by_worker && i < fn->s->nworkers; i++) {
        gp_batch_t *b = fn->by_worker[i];
        if (b && worker_post_n(fn->s, i, batch_on_loop, b, (uint32_t)b->n) < 0) {
            frame_unref(b->f);
            free(b);
        }
        fn->by_worker[i] = NULL;
    }
    if (fn->f)
        frame_unref(fn->f);
    free(fn->by_worker);
}

static void deliver(gpush_t *g, gp_item_t *it)
{
    server_t *s = g->srv;
    char (*ids)[STORE_ID_MAX + 1] = it->ids;
    size_t n = it->n;
    char (*owned)[STORE_ID_MAX + 1] = NULL;
    if (it->group_id[0]) {
        if (store_group_readers_sync(s->store, it->app_id, it->group_id, it->seq, &owned, &n) < 0) {
            LOGW("group push: member lookup failed", "group=%s", LQ(it->group_id));
            return;
        }
        ids = owned;
    }
    fan_t others = {s, frame_down(it->cmd, it->json, it->len),
                    calloc(s->nworkers, sizeof(gp_batch_t *))};
    fan_t selfs = {s, it->cmd_self && it->self[0] ? frame_down(it->cmd_self, it->json, it->len)
                                                  : NULL,
                   calloc(s->nworkers, sizeof(gp_batch_t *))};
    if (others.by_worker && selfs.by_worker) {
        for (size_t i = 0; i < n; i++) {
            int is_self = it->self[0] && !strcmp(ids[i], it->self);
            if (is_self && !selfs.f)
                continue;
            sess_device_t *d = NULL;
            size_t nd = 0;
            if (s->sess->ops->list(s->sess, it->app_id, ids[i], &d, &nd) == 0) {
                for (size_t k = 0; k < nd; k++) {
                    if (is_self && d[k].conn_id == it->except_conn)
                        continue;
                    fan_add(is_self ? &selfs : &others, d[k].conn_id);
                }
            }
            sess_devices_free(d, nd);
        }
    }
    fan_send(&others);
    fan_send(&selfs);
    free(owned);
}

static void *gpush_main(void *arg)
{
    gpush_t *g = arg;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        while (!g->head && !g->stopping)
            pthread_cond_wait(&g->cv, &g->mu);
        gp_item_t *it = g->head;
        if (!it) {
            pthread_mutex_unlock(&g->mu);
            break;
        }
        g->head = it->next;
        if (!g->head)
            g->tail = NULL;
        atomic_fetch_sub_explicit(&g->queued, 1, memory_order_relaxed);
        pthread_mutex_unlock(&g->mu);
        deliver(g, it);
        free(it->ids);
        free(it);
    }
    return NULL;
}

gpush_t *gpush_new(server_t *s)
{
    gpush_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->srv = s;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (pthread_create(&g->thread, NULL, gpush_main, g) != 0) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

void gpush_free(gpush_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void enqueue(server_t *s, gp_item_t *it)
{
    gpush_t *g = s->gpush;
    if (!g) {
        free(it->ids);
        free(it);
        return;
    }
    pthread_mutex_lock(&g->mu);
    if (g->stopping || atomic_load_explicit(&g->queued, memory_order_relaxed) >= GPUSH_QUEUE_MAX) {
        pthread_mutex_unlock(&g->mu);
        atomic_fetch_add(&g->dropped, 1);
        free(it->ids);
        free(it);
        return;
    }
    it->next = NULL;
    if (g->tail)
        g->tail->next = it;
    else
        g->head = it;
    g->tail = it;
    atomic_fetch_add_explicit(&g->queued, 1, memory_order_relaxed);
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static gp_item_t *item_new(int32_t app_id, int cmd, const char *json, const char *self,
                           int cmd_self, uint64_t except_conn)
{
    size_t len = strlen(json);
    gp_item_t *it = calloc(1, sizeof *it + len + 1);
    if (!it)
        return NULL;
    it->app_id = app_id;
    it->cmd = cmd;
    it->cmd_self = cmd_self;
    it->except_conn = except_conn;
    it->len = len;
    memcpy(it->json, json, len + 1);
    if (self)
        snprintf(it->self, sizeof it->self, "%s", self);
    return it;
}

void gpush_ids(server_t *s, int32_t app_id, int cmd, const char *json,
               const char (*ids)[STORE_ID_MAX + 1], size_t n, const char *self, int cmd_self,
               uint64_t except_conn)
{
    if (!json || n == 0)
        return;
    gp_item_t *it = item_new(app_id, cmd, json, self, cmd_self, except_conn);
    if (!it)
        return;
    it->ids = malloc(n * sizeof *it->ids);
    if (!it->ids) {
        free(it);
        return;
    }
    memcpy(it->ids, ids, n * sizeof *it->ids);
    it->n = n;
    enqueue(s, it);
}

void gpush_group(server_t *s, int32_t app_id, const char *group_id, int64_t seq, int cmd,
                 const char *json, const char *self, int cmd_self, uint64_t except_conn)
{
    if (!json || !group_id || !group_id[0] || strlen(group_id) > STORE_GROUP_ID_MAX)
        return;
    gp_item_t *it = item_new(app_id, cmd, json, self, cmd_self, except_conn);
    if (!it)
        return;
    memcpy(it->group_id, group_id, strlen(group_id) + 1);
    it->seq = seq;
    enqueue(s, it);
}

uint64_t gpush_dropped(server_t *s)
{
    return s->gpush ? atomic_load(&s->gpush->dropped) : 0;
}

uint64_t gpush_backlog(server_t *s)
{
    return s->gpush ? atomic_load_explicit(&s->gpush->queued, memory_order_relaxed) : 0;
}
