/*
 * The presence registry in memory (see presence_reg.h).
 *
 * 64 stripes, each a mutex and a chained hash of nodes keyed by (app,
 * user) (core/umap.h).  A node exists only while it holds something: the subscriptions
 * to that user (subs: who follows it) and/or that user's own list (owned:
 * whom it follows, for the per-subscriber cap).  The two sides are kept
 * apart: subscribe() writes the target's node, reserve() the subscriber's,
 * each under its own stripe only, so no two stripe locks are ever held.
 */
#include "server/seam/presence_reg.h"

#include "server/core/umap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct sub {
    int64_t expire_ms; /* epoch ms */
    char *id;
} sub_t;

typedef struct pnode {
    umap_node_t un;      /* first: umap.h; keyed by (app, user) */
    sub_t *subs;         /* who follows this user */
    uint32_t nsubs, cap;
    sub_t *owned;        /* whom this user follows (for the per-user cap) */
    uint32_t nowned, owned_cap;
} pnode_t;

typedef struct plocal {
    presence_reg_t base; /* first */
    size_t per_target, max_total;
    atomic_size_t nsubs;
    umap_striped_t nodes; /* pnode_t by (app, user), under the stripe locks */
} plocal_t;

/* ---- the node table ---------------------------------------------------- */

static umap_stripe_t *stripe_of(plocal_t *p, uint32_t h)
{
    return umap_stripe(&p->nodes, h);
}

static pnode_t *pnode(umap_node_t **pp)
{
    return (pnode_t *)*pp;
}

/* Drop the node at *pp if it holds nothing any more. */
static void node_gc(umap_stripe_t *st, umap_node_t **pp)
{
    pnode_t *n = pnode(pp);
    if (!n || n->nsubs || n->nowned)
        return;
    free(n->subs);
    free(n->owned);
    umap_remove(&st->map, pp);
}

static void purge_expired(plocal_t *p, pnode_t *n, int64_t now)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < n->nsubs; i++) {
        if (n->subs[i].expire_ms > now) {
            n->subs[keep++] = n->subs[i];
        } else {
            free(n->subs[i].id);
            atomic_fetch_sub(&p->nsubs, 1);
        }
    }
    n->nsubs = keep;
    keep = 0;
    for (uint32_t i = 0; i < n->nowned; i++) {
        if (n->owned[i].expire_ms > now)
            n->owned[keep++] = n->owned[i];
        else
            free(n->owned[i].id);
    }
    n->nowned = keep;
}

typedef struct purge_arg {
    plocal_t *p;
    int64_t now;
} purge_arg_t;

/* umap_sweep: drop n's expired entries, and n itself when left empty. */
static int purge_keep(umap_node_t *un, void *arg)
{
    purge_arg_t *a = arg;
    pnode_t *n = (pnode_t *)un;
    purge_expired(a->p, n, a->now);
    if (n->nsubs || n->nowned)
        return 1;
    free(n->subs);
    free(n->owned);
    return 0;
}

/* Drop every expired subscription (the table is full). */
static void purge_all(plocal_t *p, int64_t now)
{
    purge_arg_t a = {p, now};
    for (unsigned i = 0; i < UMAP_STRIPES; i++) {
        umap_stripe_t *st = &p->nodes.s[i];
        pthread_mutex_lock(&st->mu);
        umap_sweep(&st->map, purge_keep, &a);
        pthread_mutex_unlock(&st->mu);
    }
}

/* ---- subscriptions --------------------------------------------------------- */

/* 0 done, 1 the table is full, -1 out of memory. */
static int subscribe_once(plocal_t *p, int32_t app_id, const char *subscriber,
                          const char *target, int64_t expire_ms, int64_t now)
{
    uint32_t h = umap_hash(app_id, target);
    umap_stripe_t *st = stripe_of(p, h);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    umap_node_t **pp = umap_get(&st->map, h, app_id, target);
    if (!pp) {
        pthread_mutex_unlock(&st->mu);
        return -1;
    }
    pnode_t *n = pnode(pp);
    purge_expired(p, n, now);
    uint32_t i;
    for (i = 0; i < n->nsubs && strcmp(n->subs[i].id, subscriber); i++)
        ;
    if (i < n->nsubs) {
        n->subs[i].expire_ms = expire_ms; /* renewal */
    } else if (n->nsubs >= p->per_target) {
        uint32_t oldest = 0; /* full: replace the one expiring first */
        for (i = 1; i < n->nsubs; i++)
            if (n->subs[i].expire_ms < n->subs[oldest].expire_ms)
                oldest = i;
        char *id = n->nsubs ? strdup(subscriber) : NULL;
        if (id) {
            free(n->subs[oldest].id);
            n->subs[oldest] = (sub_t){expire_ms, id};
        } else {
            rc = -1;
        }
    } else if (atomic_load(&p->nsubs) >= p->max_total) {
        rc = 1;
    } else {
        if (n->nsubs == n->cap) {
            uint32_t nc = n->cap ? n->cap * 2 : 4;
            sub_t *ns = realloc(n->subs, nc * sizeof *ns);
            if (ns) {
                n->subs = ns;
                n->cap = nc;
            }
        }
        char *id = n->nsubs < n->cap ? strdup(subscriber) : NULL;
        if (id) {
            n->subs[n->nsubs++] = (sub_t){expire_ms, id};
            atomic_fetch_add(&p->nsubs, 1);
        } else {
            rc = -1;
        }
    }
    node_gc(st, pp);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int pl_subscribe(presence_reg_t *r, int32_t app_id, const char *subscriber,
                        const char *target, int64_t expire_ms, int64_t now)
{
    plocal_t *p = (plocal_t *)r;
    int rc = subscribe_once(p, app_id, subscriber, target, expire_ms, now);
    if (rc == 1) {
        purge_all(p, now);
        rc = subscribe_once(p, app_id, subscriber, target, expire_ms, now);
    }
    return rc == 0 ? 0 : -1;
}

static int pl_reserve(presence_reg_t *r, int32_t app_id, const char *subscriber,
                      const char *const *ids, size_t n, int64_t expire_ms, size_t cap,
                      int64_t now)
{
    plocal_t *p = (plocal_t *)r;
    uint32_t h = umap_hash(app_id, subscriber);
    umap_stripe_t *st = stripe_of(p, h);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    umap_node_t **pp = umap_get(&st->map, h, app_id, subscriber);
    if (!pp) {
        pthread_mutex_unlock(&st->mu);
        return -1;
    }
    pnode_t *nd = pnode(pp);
    purge_expired(p, nd, now);
    size_t fresh = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t i;
        for (i = 0; i < nd->nowned && strcmp(nd->owned[i].id, ids[k]); i++)
            ;
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(ids[j], ids[k]);
        fresh += i == nd->nowned && !dup;
    }
    if (nd->nowned + fresh > cap) {
        rc = -2;
    } else if (nd->nowned + fresh > nd->owned_cap) {
        uint32_t nc = (uint32_t)(nd->nowned + fresh);
        sub_t *v = realloc(nd->owned, nc * sizeof *v);
        if (v) {
            nd->owned = v;
            nd->owned_cap = nc;
        } else {
            rc = -1;
        }
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
        uint32_t i;
        for (i = 0; i < nd->nowned && strcmp(nd->owned[i].id, ids[k]); i++)
            ;
        if (i < nd->nowned) {
            nd->owned[i].expire_ms = expire_ms; /* renewal */
            continue;
        }
        char *id = strdup(ids[k]);
        if (!id) {
            rc = -1;
            break;
        }
        nd->owned[nd->nowned++] = (sub_t){expire_ms, id};
    }
    node_gc(st, pp);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int pl_subscribed(presence_reg_t *r, int32_t app_id, const char *subscriber,
                         const char *target, int64_t now)
{
    plocal_t *p = (plocal_t *)r;
    uint32_t h = umap_hash(app_id, target);
    umap_stripe_t *st = stripe_of(p, h);
    int yes = 0;
    pthread_mutex_lock(&st->mu);
    pnode_t *n = pnode(umap_slot(&st->map, h, app_id, target));
    for (uint32_t i = 0; n && !yes && i < n->nsubs; i++)
        yes = n->subs[i].expire_ms > now && !strcmp(n->subs[i].id, subscriber);
    pthread_mutex_unlock(&st->mu);
    return yes;
}

static size_t pl_subscribers(presence_reg_t *r, int32_t app_id, const char *target, int64_t now,
                             char ***out)
{
    plocal_t *p = (plocal_t *)r;
    uint32_t h = umap_hash(app_id, target);
    umap_stripe_t *st = stripe_of(p, h);
    size_t k = 0;
    *out = NULL;
    pthread_mutex_lock(&st->mu);
    umap_node_t **pp = umap_slot(&st->map, h, app_id, target);
    pnode_t *n = pnode(pp);
    if (n) {
        purge_expired(p, n, now);
        char **v = n->nsubs ? calloc(n->nsubs, sizeof *v) : NULL;
        for (uint32_t i = 0; v && i < n->nsubs; i++)
            if ((v[k] = strdup(n->subs[i].id)))
                k++;
        *out = v;
        node_gc(st, pp);
    }
    pthread_mutex_unlock(&st->mu);
    return k;
}

static size_t pl_count(presence_reg_t *r)
{
    return atomic_load(&((plocal_t *)r)->nsubs);
}

static void node_drop(umap_node_t *un, void *arg)
{
    (void)arg;
    pnode_t *n = (pnode_t *)un;
    for (uint32_t k = 0; k < n->nsubs; k++)
        free(n->subs[k].id);
    free(n->subs);
    for (uint32_t k = 0; k < n->nowned; k++)
        free(n->owned[k].id);
    free(n->owned);
}

static void pl_destroy(presence_reg_t *r)
{
    plocal_t *p = (plocal_t *)r;
    if (!p)
        return;
    umap_striped_destroy(&p->nodes, node_drop, NULL);
    free(p);
}

static const presence_reg_ops_t local_ops = {pl_subscribe, pl_reserve, pl_subscribed,
                                             pl_subscribers, pl_count, pl_destroy};

presence_reg_t *presence_local_new(size_t per_target, size_t max_total)
{
    plocal_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base.ops = &local_ops;
    p->per_target = per_target;
    p->max_total = max_total;
    atomic_init(&p->nsubs, 0);
    if (umap_striped_init(&p->nodes, sizeof(pnode_t)) < 0) {
        pl_destroy(&p->base);
        return NULL;
    }
    return &p->base;
}

void presence_reg_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}
