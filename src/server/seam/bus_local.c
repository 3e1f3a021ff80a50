/*
 * The node bus in one process (see bus.h): a hub holds the nodes that
 * joined it; publish finds the addressee and calls its receiver on the
 * publisher's thread.  The hub's lock is held during the call, so
 * destroy (which takes it) returns only once no receiver of that node
 * runs; receivers must not publish (they hand work to the workers).
 */
#include "server/seam/bus.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct lbus {
    bus_t base;               /* first */
    bus_hub_t *hub;
    struct lbus *next;        /* in hub->nodes */
    bus_recv_fn fn;
    void *ctx;
} lbus_t;

struct bus_hub {
    pthread_rwlock_t mu;
    lbus_t *nodes;
};

bus_hub_t *bus_hub_new(void)
{
    bus_hub_t *h = calloc(1, sizeof *h);
    if (h && pthread_rwlock_init(&h->mu, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void bus_hub_free(bus_hub_t *h)
{
    if (!h)
        return;
    pthread_rwlock_destroy(&h->mu);
    free(h);
}

static lbus_t *find(bus_hub_t *h, uint32_t node)
{
    lbus_t *b = h->nodes;
    while (b && b->base.node != node)
        b = b->next;
    return b;
}

static int lb_publish(bus_t *self, const bus_msg_t *m)
{
    lbus_t *b = (lbus_t *)self;
    int rc = -1;
    pthread_rwlock_rdlock(&b->hub->mu);
    lbus_t *to = find(b->hub, m->node);
    if (to && to->fn) {
        bus_msg_t copy = *m;
        copy.from = self->node;
        to->fn(to->ctx, &copy);
        rc = 0;
    }
    pthread_rwlock_unlock(&b->hub->mu);
    return rc;
}

static int lb_subscribe(bus_t *self, bus_recv_fn fn, void *ctx)
{
    lbus_t *b = (lbus_t *)self;
    pthread_rwlock_wrlock(&b->hub->mu);
    b->fn = fn;
    b->ctx = ctx;
    pthread_rwlock_unlock(&b->hub->mu);
    return 0;
}

static void lb_destroy(bus_t *self)
{
    lbus_t *b = (lbus_t *)self;
    if (!b)
        return;
    pthread_rwlock_wrlock(&b->hub->mu);
    for (lbus_t **pp = &b->hub->nodes; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_rwlock_unlock(&b->hub->mu);
    free(b);
}

static const bus_ops_t local_ops = {lb_publish, lb_subscribe, lb_destroy};

bus_t *bus_local_new(bus_hub_t *h, uint32_t node)
{
    if (!h)
        return NULL;
    lbus_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base.ops = &local_ops;
    b->base.node = node;
    b->hub = h;
    pthread_rwlock_wrlock(&h->mu);
    if (find(h, node)) {
        pthread_rwlock_unlock(&h->mu);
        free(b);
        return NULL;
    }
    b->next = h->nodes;
    h->nodes = b;
    pthread_rwlock_unlock(&h->mu);
    return &b->base;
}
