/*
 * The (app, id) chained hash (see umap.h): node allocation, bucket
 * doubling, removal, sweeps, and the striped form's setup and teardown.
 */
#include "server/core/umap.h"

#include <stdlib.h>

#define UMAP_INITIAL_BUCKETS 16

int umap_init(umap_t *m, size_t node_size)
{
    m->n = 0;
    m->node_size = node_size;
    m->buckets = calloc(UMAP_INITIAL_BUCKETS, sizeof *m->buckets);
    m->nbuckets = m->buckets ? UMAP_INITIAL_BUCKETS : 0;
    return m->buckets ? 0 : -1;
}

void umap_destroy(umap_t *m, umap_drop_fn drop, void *arg)
{
    for (size_t b = 0; m->buckets && b < m->nbuckets; b++) {
        umap_node_t *n = m->buckets[b];
        while (n) {
            umap_node_t *next = n->next;
            if (drop)
                drop(n, arg);
            free(n);
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->n = 0;
}

static void grow(umap_t *m)
{
    size_t nb = m->nbuckets * 2;
    umap_node_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        umap_node_t *n = m->buckets[i];
        while (n) {
            umap_node_t *next = n->next;
            size_t j = (n->hash >> UMAP_STRIPE_BITS) & (nb - 1);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

umap_node_t **umap_get(umap_t *m, uint32_t h, int32_t app_id, const char *id)
{
    umap_node_t **pp = umap_slot(m, h, app_id, id);
    if (*pp)
        return pp;
    size_t len = strlen(id);
    umap_node_t *n = calloc(1, m->node_size + len + 1);
    if (!n)
        return NULL;
    n->hash = h;
    n->app_id = app_id;
    memcpy((char *)n + m->node_size, id, len + 1);
    if (m->n + 1 > m->nbuckets * 2) {
        grow(m);
        pp = umap_slot(m, h, app_id, id);
    }
    *pp = n;
    m->n++;
    return pp;
}

void umap_remove(umap_t *m, umap_node_t **slot)
{
    umap_node_t *n = *slot;
    if (!n)
        return;
    *slot = n->next;
    m->n--;
    free(n);
}

void umap_sweep(umap_t *m, umap_keep_fn keep, void *arg)
{
    for (size_t b = 0; b < m->nbuckets; b++) {
        umap_node_t **pp = &m->buckets[b];
        while (*pp) {
            if (keep(*pp, arg))
                pp = &(*pp)->next;
            else
                umap_remove(m, pp);
        }
    }
}

int umap_striped_init(umap_striped_t *t, size_t node_size)
{
    int ok = 1;
    for (unsigned i = 0; i < UMAP_STRIPES; i++) {
        pthread_mutex_init(&t->s[i].mu, NULL);
        if (umap_init(&t->s[i].map, node_size) < 0)
            ok = 0;
    }
    return ok ? 0 : -1;
}

void umap_striped_destroy(umap_striped_t *t, umap_drop_fn drop, void *arg)
{
    for (unsigned i = 0; i < UMAP_STRIPES; i++) {
        umap_destroy(&t->s[i].map, drop, arg);
        pthread_mutex_destroy(&t->s[i].mu);
    }
}
