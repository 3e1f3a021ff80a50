/*
 * The local idempotency cache (see idem.h): a per-process table of
 * IDEM_SLOTS entries, direct-mapped by hash, newest wins, keyed by two
 * independent 64-bit hashes of the triple, so no allocation after start and
 * a false hit needs a 128-bit collision.  Thread-safe (striped locks).
 */
#include "server/seam/idem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64

typedef struct slot {
    uint64_t h1, h2;   /* 0,0 = empty */
    idem_ack_t ack;
} slot_t;

typedef struct local {
    slot_t *slots;
    pthread_mutex_t locks[STRIPES];
} local_t;

static void mix(uint64_t *h1, uint64_t *h2, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        *h1 = (*h1 ^ s[i]) * 0x100000001b3ULL;          /* FNV-1a 64 */
        *h2 = (*h2 + s[i] + 1) * 0x9e3779b97f4a7c15ULL;  /* a second, unrelated hash */
        *h2 ^= *h2 >> 29;
    }
}

static void hash(int32_t app, const char *from, const char *mid, uint64_t *h1, uint64_t *h2)
{
    *h1 = 0xcbf29ce484222325ULL;
    *h2 = 0x84222325cbf29ce4ULL;
    mix(h1, h2, &app, sizeof app);
    mix(h1, h2, from, strlen(from) + 1); /* the NUL separates the fields */
    mix(h1, h2, mid, strlen(mid) + 1);
    if (!*h1 && !*h2)
        *h1 = 1;
}

static int local_get(void *impl, int32_t app_id, const char *from_id, const char *message_id,
                     idem_ack_t *out)
{
    local_t *l = impl;
    uint64_t h1, h2;
    hash(app_id, from_id, message_id, &h1, &h2);
    size_t i = (size_t)(h1 & (IDEM_SLOTS - 1));
    int hit = 0;
    pthread_mutex_lock(&l->locks[i % STRIPES]);
    if (l->slots[i].h1 == h1 && l->slots[i].h2 == h2) {
        *out = l->slots[i].ack;
        hit = 1;
    }
    pthread_mutex_unlock(&l->locks[i % STRIPES]);
    return hit;
}

static void local_put(void *impl, int32_t app_id, const char *from_id, const char *message_id,
                      const idem_ack_t *ack)
{
    local_t *l = impl;
    uint64_t h1, h2;
    hash(app_id, from_id, message_id, &h1, &h2);
    size_t i = (size_t)(h1 & (IDEM_SLOTS - 1));
    pthread_mutex_lock(&l->locks[i % STRIPES]);
    l->slots[i].h1 = h1;
    l->slots[i].h2 = h2;
    l->slots[i].ack = *ack;
    pthread_mutex_unlock(&l->locks[i % STRIPES]);
}

static void local_free(void *impl)
{
    local_t *l = impl;
    if (!l)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&l->locks[i]);
    free(l->slots);
    free(l);
}

static const idem_ops_t LOCAL_OPS = {local_get, local_put, local_free};

idem_t *idem_local_new(void)
{
    idem_t *c = calloc(1, sizeof *c);
    local_t *l = calloc(1, sizeof *l);
    slot_t *slots = calloc(IDEM_SLOTS, sizeof *slots); /* pages are touched lazily */
    if (!c || !l || !slots) {
        free(c);
        free(l);
        free(slots);
        return NULL;
    }
    l->slots = slots;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&l->locks[i], NULL);
    c->ops = &LOCAL_OPS;
    c->impl = l;
    return c;
}
