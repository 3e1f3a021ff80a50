/*
 * Operator state cache (see ustate.h): 64 stripes, each a mutex and a
 * chained hash of (app, user) -> state.
 */
#include "server/im/ustate.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NSTRIPES 64

typedef struct uent {
    struct uent *next;
    uint32_t hash;
    int32_t app_id;
    int state;
    char user_id[];
} uent_t;

typedef struct ustripe {
    pthread_mutex_t mu;
    uent_t **buckets;
    size_t nbuckets; /* power of two */
    size_t n;
} ustripe_t;

struct ustate {
    ustripe_t s[NSTRIPES];
};

static uint32_t hash_key(int32_t app_id, const char *user_id)
{
    uint32_t h = 2166136261u ^ (uint32_t)app_id;
    for (const unsigned char *q = (const unsigned char *)user_id; *q; q++)
        h = (h ^ *q) * 16777619u;
    return h ^ (h >> 15);
}

ustate_t *ustate_new(void)
{
    ustate_t *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&u->s[i].mu, NULL);
        u->s[i].nbuckets = 16;
        u->s[i].buckets = calloc(16, sizeof(uent_t *));
        if (!u->s[i].buckets) {
            ustate_free(u);
            return NULL;
        }
    }
    return u;
}

void ustate_free(ustate_t *u)
{
    if (!u)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        ustripe_t *st = &u->s[i];
        for (size_t b = 0; st->buckets && b < st->nbuckets; b++) {
            uent_t *e = st->buckets[b];
            while (e) {
                uent_t *next = e->next;
                free(e);
                e = next;
            }
        }
        free(st->buckets);
        pthread_mutex_destroy(&st->mu);
    }
    free(u);
}

static uent_t **slot(ustripe_t *st, uint32_t h, int32_t app_id, const char *user_id)
{
    uent_t **pp = &st->buckets[(h >> 6) & (st->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->app_id == app_id && !strcmp((*pp)->user_id, user_id))
            return pp;
    return pp;
}

static void grow(ustripe_t *st)
{
    size_t nb = st->nbuckets * 2;
    uent_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < st->nbuckets; i++) {
        uent_t *e = st->buckets[i];
        while (e) {
            uent_t *next = e->next;
            size_t j = (e->hash >> 6) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = nb;
}

int ustate_get(ustate_t *u, int32_t app_id, const char *user_id)
{
    if (!u || !user_id)
        return USTATE_UNKNOWN;
    uint32_t h = hash_key(app_id, user_id);
    ustripe_t *st = &u->s[h & (NSTRIPES - 1)];
    pthread_mutex_lock(&st->mu);
    uent_t **pp = slot(st, h, app_id, user_id);
    int state = *pp ? (*pp)->state : USTATE_UNKNOWN;
    pthread_mutex_unlock(&st->mu);
    return state;
}

static void put(ustate_t *u, int32_t app_id, const char *user_id, int state, int replace)
{
    if (!u || !user_id || state == USTATE_UNKNOWN)
        return;
    uint32_t h = hash_key(app_id, user_id);
    ustripe_t *st = &u->s[h & (NSTRIPES - 1)];
    pthread_mutex_lock(&st->mu);
    uent_t **pp = slot(st, h, app_id, user_id);
    if (*pp) {
        /* deleted is final: ids are never reused */
        if (replace && (*pp)->state != USTATE_DELETED)
            (*pp)->state = state;
    } else {
        size_t len = strlen(user_id);
        uent_t *e = malloc(sizeof *e + len + 1);
        if (e) {
            e->next = NULL;
            e->hash = h;
            e->app_id = app_id;
            e->state = state;
            memcpy(e->user_id, user_id, len + 1);
            if (st->n + 1 > st->nbuckets * 2) {
                grow(st);
                pp = slot(st, h, app_id, user_id);
            }
            *pp = e;
            st->n++;
        }
        /* out of memory: not cached, the next call reads the row again;
         * a forbid/delete also closed the user's sockets (gateway.h) */
    }
    pthread_mutex_unlock(&st->mu);
}

void ustate_learn(ustate_t *u, int32_t app_id, const char *user_id, int state)
{
    put(u, app_id, user_id, state, 0);
}

void ustate_set(ustate_t *u, int32_t app_id, const char *user_id, int state)
{
    put(u, app_id, user_id, state, 1);
}

int ustate_of_row(int del_flag, int forbidden_flag)
{
    return del_flag ? USTATE_DELETED : forbidden_flag ? USTATE_FORBIDDEN : USTATE_LIVE;
}
