/*
 * A chained hash keyed by (app, id): the per-user tables of the upper
 * layers (sessions, pending offlines, presence subscriptions, the operator
 * state cache) are each one of these, with their own payload.
 *
 * Nodes are intrusive: the caller's node struct starts with a umap_node_t
 * and the map allocates it (node_size bytes, zeroed) with the id copied
 * right behind it (umap_id), so one node is one allocation.  Buckets
 * double when the table holds twice as many nodes as buckets (on OOM the
 * chains only get longer).  A umap_t is not locked: the caller holds the
 * lock that guards it.
 *
 * Striping: umap_striped_t is UMAP_STRIPES independent (mutex, map)
 * pairs; umap_stripe() picks one by the low UMAP_STRIPE_BITS bits of the
 * key's hash and the buckets use the bits above, so the two never
 * correlate.  The caller locks the stripe itself (st->mu), which lets it
 * run other work under the same lock (presence.c does).  A caller that
 * keeps more per stripe (seam/session_local.c) has stripes of its own,
 * each with a umap_t, picked by the same low bits.
 *
 * Slots: umap_slot / umap_get return the link that points at the node
 * (or where it would go), valid until the map changes; umap_remove takes
 * that slot, so a lookup followed by a removal walks the chain once.
 */
#ifndef PETREL_UMAP_H
#define PETREL_UMAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct umap_node {
    struct umap_node *next;
    uint32_t hash;
    int32_t app_id;
} umap_node_t;

typedef struct umap {
    umap_node_t **buckets;
    size_t nbuckets; /* power of two */
    size_t n;
    size_t node_size; /* the caller's node struct; the id follows it */
} umap_t;

#define UMAP_STRIPE_BITS 6
#define UMAP_STRIPES (1u << UMAP_STRIPE_BITS)

typedef struct umap_stripe {
    pthread_mutex_t mu;
    umap_t map;
} umap_stripe_t;

typedef struct umap_striped {
    umap_stripe_t s[UMAP_STRIPES];
} umap_striped_t;

/* Called on a node before the map frees it (umap_destroy): free what the
 * payload owns, not the node. */
typedef void (*umap_drop_fn)(umap_node_t *n, void *arg);
/* umap_sweep: 1 keeps the node, 0 frees it (after freeing its payload). */
typedef int (*umap_keep_fn)(umap_node_t *n, void *arg);

static inline uint32_t umap_hash(int32_t app_id, const char *id)
{
    uint32_t h = 2166136261u ^ (uint32_t)app_id;
    for (const unsigned char *q = (const unsigned char *)id; *q; q++)
        h = (h ^ *q) * 16777619u;
    return h ^ (h >> 15);
}

static inline const char *umap_id(const umap_t *m, const umap_node_t *n)
{
    return (const char *)n + m->node_size;
}

/* The slot of (app, id): *slot is its node, or NULL when absent. */
static inline umap_node_t **umap_slot(umap_t *m, uint32_t h, int32_t app_id, const char *id)
{
    umap_node_t **pp = &m->buckets[(h >> UMAP_STRIPE_BITS) & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->app_id == app_id && !strcmp(umap_id(m, *pp), id))
            return pp;
    return pp;
}

/* node_size: sizeof the caller's node (its first member a umap_node_t).
 * 0, or -1 out of memory (umap_destroy is still safe). */
int umap_init(umap_t *m, size_t node_size);
/* Frees every node (drop first, when given) and the buckets. */
void umap_destroy(umap_t *m, umap_drop_fn drop, void *arg);

/* The slot of (app, id), its node created (payload zeroed) when missing;
 * NULL out of memory.  h = umap_hash(app_id, id). */
umap_node_t **umap_get(umap_t *m, uint32_t h, int32_t app_id, const char *id);
/* Unlinks and frees the node at *slot (the caller freed its payload). */
void umap_remove(umap_t *m, umap_node_t **slot);
/* Every node through keep; those it refuses are unlinked and freed. */
void umap_sweep(umap_t *m, umap_keep_fn keep, void *arg);

/* Every stripe's mutex and map.  0, or -1 out of memory (then
 * umap_striped_destroy). */
int umap_striped_init(umap_striped_t *t, size_t node_size);
void umap_striped_destroy(umap_striped_t *t, umap_drop_fn drop, void *arg);

static inline umap_stripe_t *umap_stripe(umap_striped_t *t, uint32_t h)
{
    return &t->s[h & (UMAP_STRIPES - 1)];
}

#endif
