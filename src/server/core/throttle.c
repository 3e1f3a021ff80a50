/*
 * Failed-login throttle (see throttle.h for the contract).
 *
 * Layout: `cap` entries in one array plus, in a second array, a ring of
 * `max` failure times per entry.  Entries are found through a chained hash
 * table (int32 indices, power-of-two buckets >= cap) and kept on an LRU
 * list ordered by last failure, so the list's tail is the entry to evict:
 * the one whose newest failure is oldest.  Unused entries sit on a free
 * list.  Nothing is allocated after throttle_new.
 *
 * Sliding window: the ring keeps the key's last `max` failure times, so
 * the key is blocked exactly when the ring is full and its oldest time is
 * still inside the window — no fixed-window edge where 2 * max - 1 quick
 * failures slip through.
 */
#include "server/core/throttle.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NIL (-1)

typedef struct entry {
    uint64_t h;            /* SipHash of the whole key */
    int32_t hnext;         /* bucket chain, or free list */
    int32_t prev, next;    /* LRU list: prev = newer, next = older */
    uint32_t nfail;        /* failures in the ring (<= max) */
    uint32_t head;         /* ring slot the next failure goes to */
    int64_t last;          /* newest failure */
    uint16_t keylen;       /* stored prefix length */
    char key[THROTTLE_KEY_MAX];
} entry_t;

struct throttle {
    pthread_mutex_t mu;
    uint32_t max;
    int64_t window;
    size_t cap;
    size_t count;
    entry_t *e;
    int64_t *times;        /* cap * max */
    int32_t *buckets;
    size_t nbuckets;       /* power of two */
    int32_t lru_head, lru_tail;  /* newest, oldest */
    int32_t free_head;
    uint64_t k0, k1;       /* SipHash key */
};

/* ---- SipHash-2-4 ------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                        \
    do {                                                                                \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                       \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                          \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                          \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                       \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *m, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t w = 0;
        for (int b = 7; b >= 0; b--)
            w = (w << 8) | m[i + (size_t)b];
        v3 ^= w;
        SIPROUND;
        SIPROUND;
        v0 ^= w;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t b = 0; b < (len & 7); b++)
        last |= (uint64_t)m[whole + b] << (8 * b);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- table ------------------------------------------------------------- */

throttle_t *throttle_new(int max_failures, int64_t window_ms, size_t capacity)
{
    if (max_failures < 1 || max_failures > THROTTLE_MAX_FAILURES || window_ms <= 0 ||
        capacity < 1 || capacity > THROTTLE_MAX_CAPACITY)
        return NULL;
    throttle_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->max = (uint32_t)max_failures;
    t->window = window_ms;
    t->cap = capacity;
    t->nbuckets = 16;
    while (t->nbuckets < capacity)
        t->nbuckets <<= 1;
    t->e = calloc(capacity, sizeof *t->e);
    t->times = calloc(capacity * t->max, sizeof *t->times);
    t->buckets = malloc(t->nbuckets * sizeof *t->buckets);
    unsigned char seed[16];
    if (!t->e || !t->times || !t->buckets || RAND_bytes(seed, sizeof seed) != 1 ||
        pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t->e);
        free(t->times);
        free(t->buckets);
        free(t);
        return NULL;
    }
    memcpy(&t->k0, seed, 8);
    memcpy(&t->k1, seed + 8, 8);
    for (size_t i = 0; i < t->nbuckets; i++)
        t->buckets[i] = NIL;
    for (size_t i = 0; i < capacity; i++)
        t->e[i].hnext = i + 1 < capacity ? (int32_t)(i + 1) : NIL;
    t->free_head = 0;
    t->lru_head = t->lru_tail = NIL;
    return t;
}

void throttle_free(throttle_t *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->e);
    free(t->times);
    free(t->buckets);
    free(t);
}

static int64_t cutoff(const throttle_t *t, int64_t now)
{
    return now < INT64_MIN + t->window ? INT64_MIN : now - t->window;
}

static int32_t find(throttle_t *t, uint64_t h, const char *key, size_t keylen)
{
    for (int32_t i = t->buckets[h & (t->nbuckets - 1)]; i != NIL; i = t->e[i].hnext) {
        entry_t *e = &t->e[i];
        if (e->h == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
            return i;
    }
    return NIL;
}

static void lru_unlink(throttle_t *t, int32_t i)
{
    entry_t *e = &t->e[i];
    if (e->prev != NIL)
        t->e[e->prev].next = e->next;
    else
        t->lru_head = e->next;
    if (e->next != NIL)
        t->e[e->next].prev = e->prev;
    else
        t->lru_tail = e->prev;
    e->prev = e->next = NIL;
}

static void lru_push_front(throttle_t *t, int32_t i)
{
    entry_t *e = &t->e[i];
    e->prev = NIL;
    e->next = t->lru_head;
    if (t->lru_head != NIL)
        t->e[t->lru_head].prev = i;
    else
        t->lru_tail = i;
    t->lru_head = i;
}

/* Unlink entry i from its bucket and the LRU list; put it on the free list. */
static void release(throttle_t *t, int32_t i)
{
    entry_t *e = &t->e[i];
    int32_t *pp = &t->buckets[e->h & (t->nbuckets - 1)];
    while (*pp != i)
        pp = &t->e[*pp].hnext;
    *pp = e->hnext;
    lru_unlink(t, i);
    e->hnext = t->free_head;
    t->free_head = i;
    t->count--;
}

static void key_of(const throttle_t *t, const char *key, uint64_t *h, size_t *keylen)
{
    size_t len = strlen(key);
    *h = siphash(t->k0, t->k1, (const unsigned char *)key, len);
    *keylen = len < THROTTLE_KEY_MAX ? len : THROTTLE_KEY_MAX;
}

int throttle_blocked(throttle_t *t, const char *key, int64_t now_ms)
{
    if (!t || !key)
        return 0;
    uint64_t h;
    size_t keylen;
    key_of(t, key, &h, &keylen);
    int blocked = 0;
    pthread_mutex_lock(&t->mu);
    int32_t i = find(t, h, key, keylen);
    if (i != NIL) {
        entry_t *e = &t->e[i];
        int64_t cut = cutoff(t, now_ms);
        if (e->last <= cut)
            release(t, i);  /* nothing left inside the window */
        else if (e->nfail >= t->max)
            blocked = t->times[(size_t)i * t->max + e->head] > cut;
    }
    pthread_mutex_unlock(&t->mu);
    return blocked;
}

void throttle_fail(throttle_t *t, const char *key, int64_t now_ms)
{
    if (!t || !key)
        return;
    uint64_t h;
    size_t keylen;
    key_of(t, key, &h, &keylen);
    pthread_mutex_lock(&t->mu);
    int32_t i = find(t, h, key, keylen);
    if (i == NIL) {
        if (t->free_head == NIL)
            release(t, t->lru_tail);  /* full: drop the stalest key */
        i = t->free_head;
        entry_t *e = &t->e[i];
        t->free_head = e->hnext;
        e->h = h;
        e->keylen = (uint16_t)keylen;
        memcpy(e->key, key, keylen);
        e->nfail = 0;
        e->head = 0;
        size_t b = h & (t->nbuckets - 1);
        e->hnext = t->buckets[b];
        t->buckets[b] = i;
        t->count++;
    } else {
        lru_unlink(t, i);
    }
    entry_t *e = &t->e[i];
    t->times[(size_t)i * t->max + e->head] = now_ms;
    e->head = (e->head + 1) % t->max;
    if (e->nfail < t->max)
        e->nfail++;
    e->last = now_ms;
    lru_push_front(t, i);
    pthread_mutex_unlock(&t->mu);
}

void throttle_reset(throttle_t *t, const char *key)
{
    if (!t || !key)
        return;
    uint64_t h;
    size_t keylen;
    key_of(t, key, &h, &keylen);
    pthread_mutex_lock(&t->mu);
    int32_t i = find(t, h, key, keylen);
    if (i != NIL)
        release(t, i);
    pthread_mutex_unlock(&t->mu);
}

size_t throttle_count(throttle_t *t)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}
