/*
 * In-process session registry (see session.h).  64 stripes, each a mutex and
 * a chained hash table of users (core/umap.h); a user's devices are
 * a small array (users rarely have more than a handful).  Lock hold times are
 * a hash lookup plus the policy decision: no I/O, no allocation-heavy work.
 */
#include "server/seam/session.h"
#include "server/core/umap.h"
#include "server/model/policy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NSTRIPES UMAP_STRIPES

typedef struct dev {
    uint64_t conn_id;
    int64_t login_ms;
    int client_type;
    char *imei;
} dev_t_;

typedef struct user {
    umap_node_t un; /* first: umap.h; keyed by (app, user) */
    uint32_t ndev, cap;
    dev_t_ *devs;
} user_t;

typedef struct stripe {
    pthread_mutex_t mu;
    umap_t users;      /* user_t; users.n is the stripe's user count */
    size_t ndevs;
} stripe_t;

typedef struct local {
    sess_registry_t base;
    stripe_t stripes[NSTRIPES];
} local_t;

static stripe_t *stripe_of(local_t *l, uint32_t h)
{
    return &l->stripes[h & (NSTRIPES - 1)]; /* the low bits: umap.h */
}

static int copy_dev(sess_device_t *out, const stripe_t *s, const user_t *u, const dev_t_ *d)
{
    out->app_id = u->un.app_id;
    out->client_type = d->client_type;
    out->login_ms = d->login_ms;
    out->conn_id = d->conn_id;
    out->user_id = strdup(umap_id(&s->users, &u->un));
    out->imei = strdup(d->imei);
    if (!out->user_id || !out->imei) {
        free(out->user_id);
        free(out->imei);
        return -1;
    }
    return 0;
}

/* What a user owns, not the node (umap frees it). */
static void user_drop(umap_node_t *un, void *arg)
{
    (void)arg;
    user_t *u = (user_t *)un;
    for (uint32_t i = 0; i < u->ndev; i++)
        free(u->devs[i].imei);
    free(u->devs);
}

static int local_login(sess_registry_t *r, const sess_login_t *q,
                       sess_device_t **victims, size_t *n_victims)
{
    local_t *l = (local_t *)r;
    uint32_t h = umap_hash(q->app_id, q->user_id);
    stripe_t *s = stripe_of(l, h);
    *victims = NULL;
    *n_victims = 0;

    char *imei = strdup(q->imei);
    if (!imei)
        return -1;
    pthread_mutex_lock(&s->mu);
    umap_node_t **pp = umap_get(&s->users, h, q->app_id, q->user_id);
    if (!pp)
        goto oom;
    user_t *u = (user_t *)*pp;

    if (u->ndev > 0) {
        policy_dev_t *pd = malloc(u->ndev * sizeof *pd);
        uint8_t *kick = malloc(u->ndev);
        sess_device_t *vs = calloc(u->ndev, sizeof *vs);
        if (!pd || !kick || !vs) {
            free(pd);
            free(kick);
            free(vs);
            goto oom;
        }
        for (uint32_t i = 0; i < u->ndev; i++) {
            pd[i].client_type = u->devs[i].client_type;
            pd[i].imei = u->devs[i].imei;
            pd[i].login_ms = u->devs[i].login_ms;
        }
        int nk = policy_victims(q->policy_mode, q->max_per_platform, q->client_type,
                                q->imei, pd, u->ndev, kick);
        uint32_t stay = u->ndev;
        for (uint32_t i = 0; nk > 0 && i < u->ndev; i++)
            stay -= kick[i] != 0;
        if (q->max_devices > 0 && stay >= (uint32_t)q->max_devices) {
            /* device cap: refuse the newcomer, kick nobody */
            free(pd);
            free(kick);
            free(vs);
            pthread_mutex_unlock(&s->mu);
            free(imei);
            return SESS_ETOOMANY;
        }
        size_t nv = 0;
        uint32_t keep = 0;
        for (uint32_t i = 0; i < u->ndev; i++) {
            if (nk > 0 && kick[i] && copy_dev(&vs[nv], s, u, &u->devs[i]) == 0) {
                nv++;
                free(u->devs[i].imei);
                s->ndevs--;
            } else {
                u->devs[keep++] = u->devs[i];
            }
        }
        u->ndev = keep;
        free(pd);
        free(kick);
        if (nv) {
            *victims = vs;
            *n_victims = nv;
        } else {
            free(vs);
        }
    }

    if (u->ndev == u->cap) {
        uint32_t nc = u->cap ? u->cap * 2 : 1;
        dev_t_ *nd = realloc(u->devs, nc * sizeof *nd);
        if (!nd)
            goto oom_victims;
        u->devs = nd;
        u->cap = nc;
    }
    u->devs[u->ndev++] = (dev_t_){q->conn_id, q->login_ms, q->client_type, imei};
    s->ndevs++;
    if (q->n_after)
        *q->n_after = u->ndev;
    pthread_mutex_unlock(&s->mu);
    return 0;

oom_victims:
    /* The victims are already out of the registry; hand them back so they
     * are still kicked, but report the failure of the new login. */
    pthread_mutex_unlock(&s->mu);
    free(imei);
    return -1;
oom:
    pthread_mutex_unlock(&s->mu);
    free(imei);
    return -1;
}

static int local_remove(sess_registry_t *r, int32_t app_id, const char *user_id, uint64_t conn_id)
{
    local_t *l = (local_t *)r;
    uint32_t h = umap_hash(app_id, user_id);
    stripe_t *s = stripe_of(l, h);
    int found = 0;
    pthread_mutex_lock(&s->mu);
    umap_node_t **pp = umap_slot(&s->users, h, app_id, user_id);
    user_t *u = (user_t *)*pp;
    if (u) {
        for (uint32_t i = 0; i < u->ndev; i++) {
            if (u->devs[i].conn_id == conn_id) {
                free(u->devs[i].imei);
                u->devs[i] = u->devs[--u->ndev];
                s->ndevs--;
                found = 1;
                break;
            }
        }
        if (u->ndev == 0) {
            user_drop(&u->un, NULL);
            umap_remove(&s->users, pp);
            found *= 2; /* the last one */
        }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static int local_list(sess_registry_t *r, int32_t app_id, const char *user_id,
                      sess_device_t **out, size_t *n)
{
    local_t *l = (local_t *)r;
    uint32_t h = umap_hash(app_id, user_id);
    stripe_t *s = stripe_of(l, h);
    *out = NULL;
    *n = 0;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    user_t *u = (user_t *)*umap_slot(&s->users, h, app_id, user_id);
    if (u && u->ndev) {
        sess_device_t *v = calloc(u->ndev, sizeof *v);
        size_t k = 0;
        if (!v)
            rc = -1;
        for (uint32_t i = 0; v && i < u->ndev; i++)
            if (copy_dev(&v[k], s, u, &u->devs[i]) == 0)
                k++;
        *out = v;
        *n = k;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void local_count(sess_registry_t *r, uint64_t *devices, uint64_t *users)
{
    local_t *l = (local_t *)r;
    uint64_t d = 0, u = 0;
    for (unsigned i = 0; i < NSTRIPES; i++) {
        pthread_mutex_lock(&l->stripes[i].mu);
        d += l->stripes[i].ndevs;
        u += l->stripes[i].users.n;
        pthread_mutex_unlock(&l->stripes[i].mu);
    }
    if (devices)
        *devices = d;
    if (users)
        *users = u;
}

typedef struct each_ctx {
    const umap_t *users;
    void (*fn)(void *ctx, const sess_device_t *d);
    void *ctx;
} each_ctx_t;

static int each_user(umap_node_t *un, void *arg)
{
    const each_ctx_t *e = arg;
    const user_t *u = (const user_t *)un;
    for (uint32_t k = 0; k < u->ndev; k++) {
        const dev_t_ *d = &u->devs[k];
        sess_device_t v = {
            .app_id = un->app_id,
            .client_type = d->client_type,
            .login_ms = d->login_ms,
            .conn_id = d->conn_id,
            .user_id = (char *)umap_id(e->users, un),
            .imei = d->imei,
        };
        e->fn(e->ctx, &v);
    }
    return 1; /* keep */
}

void sess_local_each(sess_registry_t *r, void (*fn)(void *ctx, const sess_device_t *d), void *ctx)
{
    local_t *l = (local_t *)r;
    for (unsigned i = 0; i < NSTRIPES; i++) {
        stripe_t *s = &l->stripes[i];
        pthread_mutex_lock(&s->mu);
        each_ctx_t e = {&s->users, fn, ctx};
        umap_sweep(&s->users, each_user, &e);
        pthread_mutex_unlock(&s->mu);
    }
}

static void local_destroy(sess_registry_t *r)
{
    local_t *l = (local_t *)r;
    if (!l)
        return;
    for (unsigned i = 0; i < NSTRIPES; i++) {
        umap_destroy(&l->stripes[i].users, user_drop, NULL);
        pthread_mutex_destroy(&l->stripes[i].mu);
    }
    free(l);
}

static const sess_ops_t local_ops = {
    local_login, local_remove, local_list, local_count, local_destroy, NULL,
};

sess_registry_t *sess_local_new(void)
{
    local_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->base.ops = &local_ops;
    for (unsigned i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&l->stripes[i].mu, NULL);
        if (umap_init(&l->stripes[i].users, sizeof(user_t)) < 0) {
            local_destroy(&l->base);
            return NULL;
        }
    }
    return &l->base;
}

void sess_devices_free(sess_device_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].user_id);
        free(d[i].imei);
    }
    free(d);
}
