/*
 * The presence registry in memory (see presence_reg.h).
 *
 * 64 stripes, each a mutex and a chained hash of nodes keyed by (app,
 * user).  A node exists only while it holds something: the subscriptions
 * to that user (subs: who follows it) and/or that user's own list (owned:
 * whom it follows, for the per-subscriber cap).  The two sides are kept
 * apart: subscribe() writes the target's node, reserve() the subscriber's,
 * each under its own stripe only, so no two stripe locks are ever held.
 */
#include "server/seam/presence_reg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NSTRIPES 64

typedef struct sub {
    int64_t expire_ms; /* epoch ms */
    char *id;
} sub_t;

typedef struct pnode {
    struct pnode *next;
    uint32_t hash;
    int32_t app_id;
    sub_t *subs;         /* who follows this user */
    uint32_t nsubs, cap;
    sub_t *owned;        /* whom this user follows (for the per-user cap) */
    uint32_t nowned, owned_cap;
    char user_id[];
} pnode_t;

typedef struct stripe {
    pthread_mutex_t mu;
    pnode_t **buckets;
    size_t nbuckets; /* power of two */
    size_t n;
} stripe_t;

typedef struct plocal {
    presence_reg_t base; /* first */
    size_t per_target, max_total;
    atomic_size_t nsubs;
    stripe_t stripes[NSTRIPES];
} plocal_t;

/* ---- the node table ---------------------------------------------------- */

static uint32_t hash_key(int32_t app_id, const char *user_id)
{
    uint32_t h = 2166136261u ^ (uint32_t)app_id;
    for (const unsigned char *q = (const unsigned char *)user_id; *q; q++)
        h = (h ^ *q) * 16777619u;
    return h ^ (h >> 15);
}

static stripe_t *stripe_of(plocal_t *p, uint32_t h)
{
    return &p->stripes[h & (NSTRIPES - 1)];
}

static pnode_t **node_slot(stripe_t *st, uint32_t h, int32_t app_id, const char *user_id)
{
    pnode_t **pp = &st->buckets[(h >> 6) & (st->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->app_id == app_id && !strcmp((*pp)->user_id, user_id))
            return pp;
    return pp;
}

static void grow(stripe_t *st)
{
    size_t nb = st->nbuckets * 2;
    pnode_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < st->nbuckets; i++) {
        pnode_t *n = st->buckets[i];
        while (n) {
            pnode_t *next = n->next;
            size_t j = (n->hash >> 6) & (nb - 1);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = nb;
}

/* The node of (app, user), created when missing (NULL on OOM). */
static pnode_t **node_get(stripe_t *st, uint32_t h, int32_t app_id, const char *user_id)
{
    pnode_t **pp = node_slot(st, h, app_id, user_id);
    if (*pp)
        return pp;
    size_t len = strlen(user_id);
    pnode_t *n = calloc(1, sizeof *n + len + 1);
    if (!n)
        return NULL;
    n->hash = h;
    n->app_id = app_id;
    memcpy(n->user_id, user_id, len + 1);
    if (st->n + 1 > st->nbuckets * 2) {
        grow(st);
        pp = node_slot(st, h, app_id, user_id);
    }
    *pp = n;
    st->n++;
    return pp;
}

/* Drop the node at *pp if it holds nothing any more. */
static void node_gc(stripe_t *st, pnode_t **pp)
{
    pnode_t *n = *pp;
    if (!n || n->nsubs || n->nowned)
        return;
    *pp = n->next;
    st->n--;
    free(n->subs);
    free(n->owned);
    free(n);
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

/* Drop every expired subscription (the table is full). */
static void purge_all(plocal_t *p, int64_t now)
{
    for (int i = 0; i < NSTRIPES; i++) {
        stripe_t *st = &p->stripes[i];
        pthread_mutex_lock(&st->mu);
        for (size_t b = 0; b < st->nbuckets; b++) {
            pnode_t **pp = &st->buckets[b];
            while (*pp) {
                pnode_t *n = *pp;
                purge_expired(p, n, now);
                node_gc(st, pp);
                if (*pp == n)
                    pp = &n->next;
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
}

/* ---- subscriptions --------------------------------------------------------- */

/* 0 done, 1 the table is full, -1 out of memory. */
static int subscribe_once(plocal_t *p, int32_t app_id, const char *subscriber,
                          const char *target, int64_t expire_ms, int64_t now)
{
    uint32_t h = hash_key(app_id, target);
    stripe_t *st = stripe_of(p, h);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    pnode_t **pp = node_get(st, h, app_id, target);
    if (!pp) {
        pthread_mutex_unlock(&st->mu);
        return -1;
    }
    pnode_t *n = *pp;
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
    uint32_t h = hash_key(app_id, subscriber);
    stripe_t *st = stripe_of(p, h);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    pnode_t **pp = node_get(st, h, app_id, subscriber);
    if (!pp) {
        pthread_mutex_unlock(&st->mu);
        return -1;
    }
    pnode_t *nd = *pp;
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
    uint32_t h = hash_key(app_id, target);
    stripe_t *st = stripe_of(p, h);
    int yes = 0;
    pthread_mutex_lock(&st->mu);
    pnode_t **pp = node_slot(st, h, app_id, target);
    for (uint32_t i = 0; *pp && !yes && i < (*pp)->nsubs; i++)
        yes = (*pp)->subs[i].expire_ms > now && !strcmp((*pp)->subs[i].id, subscriber);
    pthread_mutex_unlock(&st->mu);
    return yes;
}

static size_t pl_subscribers(presence_reg_t *r, int32_t app_id, const char *target, int64_t now,
                             char ***out)
{
    plocal_t *p = (plocal_t *)r;
    uint32_t h = hash_key(app_id, target);
    stripe_t *st = stripe_of(p, h);
    size_t k = 0;
    *out = NULL;
    pthread_mutex_lock(&st->mu);
    pnode_t **pp = node_slot(st, h, app_id, target);
    if (*pp) {
        purge_expired(p, *pp, now);
        char **v = (*pp)->nsubs ? calloc((*pp)->nsubs, sizeof *v) : NULL;
        for (uint32_t i = 0; v && i < (*pp)->nsubs; i++)
            if ((v[k] = strdup((*pp)->subs[i].id)))
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

static void pl_destroy(presence_reg_t *r)
{
    plocal_t *p = (plocal_t *)r;
    if (!p)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        stripe_t *st = &p->stripes[i];
        for (size_t b = 0; st->buckets && b < st->nbuckets; b++) {
            pnode_t *n = st->buckets[b];
            while (n) {
                pnode_t *next = n->next;
                for (uint32_t k = 0; k < n->nsubs; k++)
                    free(n->subs[k].id);
                free(n->subs);
                for (uint32_t k = 0; k < n->nowned; k++)
                    free(n->owned[k].id);
                free(n->owned);
                free(n);
                n = next;
            }
        }
        free(st->buckets);
        pthread_mutex_destroy(&st->mu);
    }
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
    int ok = 1;
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&p->stripes[i].mu, NULL);
        p->stripes[i].nbuckets = 16;
        p->stripes[i].buckets = calloc(16, sizeof(pnode_t *));
        if (!p->stripes[i].buckets)
            ok = 0;
    }
    if (!ok) {
        pl_destroy(&p->base);
        return NULL;
    }
    return p ? &p->base : NULL;
}

void presence_reg_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}
