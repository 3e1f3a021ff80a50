/*
 * In-process session registry (see session.h).  64 stripes, each a mutex and
 * a chained hash table of users that grows by doubling; a user's devices are
 * a small array (users rarely have more than a handful).  Lock hold times are
 * a hash lookup plus the policy decision: no I/O, no allocation-heavy work.
 */
#include "server/seam/session.h"
#include "server/model/policy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NSTRIPES 64

typedef struct dev {
    uint64_t conn_id;
    int64_t login_ms;
    int client_type;
    char *imei;
} dev_t_;

typedef struct user {
    struct user *next;
    uint32_t hash;
    int32_t app_id;
    uint32_t ndev, cap;
    dev_t_ *devs;
    char user_id[];
} user_t;

typedef struct stripe {
    pthread_mutex_t mu;
    user_t **buckets;
    size_t nbuckets;   /* power of two */
    size_t nusers;
    size_t ndevs;
} stripe_t;

typedef struct local {
    sess_registry_t base;
    stripe_t stripes[NSTRIPES];
} local_t;

static uint32_t hash_key(int32_t app_id, const char *user_id)
{
    uint32_t h = 2166136261u ^ (uint32_t)app_id;
    for (const unsigned char *p = (const unsigned char *)user_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h ^ (h >> 15);
}

static user_t **find_slot(stripe_t *s, uint32_t h, int32_t app_id, const char *user_id)
{
    user_t **pp = &s->buckets[(h >> 6) & (s->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->app_id == app_id && !strcmp((*pp)->user_id, user_id))
            return pp;
    return pp;
}

static void grow(stripe_t *s)
{
    size_t nb = s->nbuckets * 2;
    user_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the old table; chains just get longer */
    for (size_t i = 0; i < s->nbuckets; i++) {
        user_t *u = s->buckets[i];
        while (u) {
            user_t *next = u->next;
            size_t j = (u->hash >> 6) & (nb - 1);
            u->next = b[j];
            b[j] = u;
            u = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

static int copy_dev(sess_device_t *out, const user_t *u, const dev_t_ *d)
{
    out->app_id = u->app_id;
    out->client_type = d->client_type;
    out->login_ms = d->login_ms;
    out->conn_id = d->conn_id;
    out->user_id = strdup(u->user_id);
    out->imei = strdup(d->imei);
    if (!out->user_id || !out->imei) {
        free(out->user_id);
        free(out->imei);
        return -1;
    }
    return 0;
}

static void user_free(user_t *u)
{
    for (uint32_t i = 0; i < u->ndev; i++)
        free(u->devs[i].imei);
    free(u->devs);
    free(u);
}

static int local_login(sess_registry_t *r, const sess_login_t *q,
                       sess_device_t **victims, size_t *n_victims)
{
    local_t *l = (local_t *)r;
    uint32_t h = hash_key(q->app_id, q->user_id);
    stripe_t *s = &l->stripes[h & (NSTRIPES - 1)];
    *victims = NULL;
    *n_victims = 0;

    char *imei = strdup(q->imei);
    if (!imei)
        return -1;
    pthread_mutex_lock(&s->mu);
    user_t **pp = find_slot(s, h, q->app_id, q->user_id);
    user_t *u = *pp;
    if (!u) {
        size_t n = strlen(q->user_id);
        u = calloc(1, sizeof *u + n + 1);
        if (!u)
            goto oom;
        u->hash = h;
        u->app_id = q->app_id;
        memcpy(u->user_id, q->user_id, n + 1);
        *pp = u;
        s->nusers++;
    }

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
            if (nk > 0 && kick[i] && copy_dev(&vs[nv], u, &u->devs[i]) == 0) {
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
    if (s->nusers > s->nbuckets * 2)
        grow(s);
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
    uint32_t h = hash_key(app_id, user_id);
    stripe_t *s = &l->stripes[h & (NSTRIPES - 1)];
    int found = 0;
    pthread_mutex_lock(&s->mu);
    user_t **pp = find_slot(s, h, app_id, user_id);
    user_t *u = *pp;
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
            *pp = u->next;
            s->nusers--;
            user_free(u);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static int local_list(sess_registry_t *r, int32_t app_id, const char *user_id,
                      sess_device_t **out, size_t *n)
{
    local_t *l = (local_t *)r;
    uint32_t h = hash_key(app_id, user_id);
    stripe_t *s = &l->stripes[h & (NSTRIPES - 1)];
    *out = NULL;
    *n = 0;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    user_t *u = *find_slot(s, h, app_id, user_id);
    if (u && u->ndev) {
        sess_device_t *v = calloc(u->ndev, sizeof *v);
        size_t k = 0;
        if (!v)
            rc = -1;
        for (uint32_t i = 0; v && i < u->ndev; i++)
            if (copy_dev(&v[k], u, &u->devs[i]) == 0)
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
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_lock(&l->stripes[i].mu);
        d += l->stripes[i].ndevs;
        u += l->stripes[i].nusers;
        pthread_mutex_unlock(&l->stripes[i].mu);
    }
    if (devices)
        *devices = d;
    if (users)
        *users = u;
}

static void local_destroy(sess_registry_t *r)
{
    local_t *l = (local_t *)r;
    if (!l)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        stripe_t *s = &l->stripes[i];
        for (size_t b = 0; b < s->nbuckets; b++) {
            user_t *u = s->buckets[b];
            while (u) {
                user_t *next = u->next;
                user_free(u);
                u = next;
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(l);
}

static const sess_ops_t local_ops = {
    local_login, local_remove, local_list, local_count, local_destroy,
};

sess_registry_t *sess_local_new(void)
{
    local_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->base.ops = &local_ops;
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&l->stripes[i].mu, NULL);
        l->stripes[i].nbuckets = 16;
        l->stripes[i].buckets = calloc(16, sizeof(user_t *));
        if (!l->stripes[i].buckets) {
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
