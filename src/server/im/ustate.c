/*
 * Operator state cache (see ustate.h): a striped (app, user) -> state
 * table (core/umap.h), one mutex a stripe.
 */
#include "server/im/ustate.h"

#include "server/core/umap.h"

#include <stdlib.h>

typedef struct uent {
    umap_node_t un; /* first: umap.h; keyed by (app, user) */
    int state;      /* never USTATE_UNKNOWN once set */
} uent_t;

struct ustate {
    umap_striped_t t;
};

ustate_t *ustate_new(void)
{
    ustate_t *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    if (umap_striped_init(&u->t, sizeof(uent_t)) < 0) {
        ustate_free(u);
        return NULL;
    }
    return u;
}

void ustate_free(ustate_t *u)
{
    if (!u)
        return;
    umap_striped_destroy(&u->t, NULL, NULL);
    free(u);
}

int ustate_get(ustate_t *u, int32_t app_id, const char *user_id)
{
    if (!u || !user_id)
        return USTATE_UNKNOWN;
    uint32_t h = umap_hash(app_id, user_id);
    umap_stripe_t *st = umap_stripe(&u->t, h);
    pthread_mutex_lock(&st->mu);
    uent_t *e = (uent_t *)*umap_slot(&st->map, h, app_id, user_id);
    int state = e ? e->state : USTATE_UNKNOWN;
    pthread_mutex_unlock(&st->mu);
    return state;
}

static void put(ustate_t *u, int32_t app_id, const char *user_id, int state, int replace)
{
    if (!u || !user_id || state == USTATE_UNKNOWN)
        return;
    uint32_t h = umap_hash(app_id, user_id);
    umap_stripe_t *st = umap_stripe(&u->t, h);
    pthread_mutex_lock(&st->mu);
    umap_node_t **pp = umap_get(&st->map, h, app_id, user_id);
    uent_t *e = pp ? (uent_t *)*pp : NULL;
    /* a new entry is zeroed (USTATE_UNKNOWN); deleted is final: ids are
     * never reused */
    if (e && (e->state == USTATE_UNKNOWN || (replace && e->state != USTATE_DELETED)))
        e->state = state;
    /* out of memory: not cached, the next call reads the row again; a
     * forbid/delete also closed the user's sockets (gateway.h) */
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
