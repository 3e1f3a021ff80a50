/*
 * Per-address connection counts shared by all workers (see connlimit.h).
 * Each stripe is a linear-probing table of (key, count) kept at most half
 * full; a key whose count drops to 0 is removed with backward-shift
 * deletion (no tombstones), and a stripe shrinks when it is under 1/8 full.
 */
#include "server/net/connlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define STRIPE_MIN_CAP 16u

typedef struct cl_entry {
    uint64_t v;
    uint32_t count;  /* 0 = free slot */
    uint32_t pending; /* of count, not logged in */
    uint8_t fam;
} cl_entry_t;

typedef struct cl_stripe {
    uv_mutex_t mu;
    cl_entry_t *slots;  /* NULL until the first address */
    uint32_t cap, n;    /* cap: 0 or a power of two */
    char pad[64];       /* keep stripes on their own cache lines */
} cl_stripe_t;

struct connlimit {
    uint64_t seed;
    cl_stripe_t stripes[CONNLIMIT_STRIPES];
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_of(const connlimit_t *t, const cl_ref_t *k)
{
    return mix64(mix64(k->v ^ t->seed) + k->fam);
}

int connlimit_key(const struct sockaddr *sa, cl_ref_t *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        out->v = ntohl(a->sin_addr.s_addr);
        out->fam = 4;
        return (out->v >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            out->v = (uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 | b[15];
            out->fam = 4;
            return b[12] == 127;
        }
        uint64_t hi = 0, lo = 0;
        for (int i = 0; i < 8; i++) {
            hi = hi << 8 | b[i];
            lo = lo << 8 | b[8 + i];
        }
        out->v = hi;
        out->fam = 6;
        return hi == 0 && lo == 1;
    }
    return -1;
}

connlimit_t *connlimit_new(void)
{
    connlimit_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (RAND_bytes((unsigned char *)&t->seed, sizeof t->seed) != 1)
        t->seed = mix64((uint64_t)(uintptr_t)t ^ (uint64_t)uv_hrtime());
    for (int i = 0; i < CONNLIMIT_STRIPES; i++)
        if (uv_mutex_init(&t->stripes[i].mu) != 0) {
            while (i-- > 0)
                uv_mutex_destroy(&t->stripes[i].mu);
            free(t);
            return NULL;
        }
    return t;
}

void connlimit_free(connlimit_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < CONNLIMIT_STRIPES; i++) {
        uv_mutex_destroy(&t->stripes[i].mu);
        free(t->stripes[i].slots);
    }
    free(t);
}

static cl_stripe_t *stripe_of(connlimit_t *t, uint64_t h)
{
    return &t->stripes[h >> 58]; /* top 6 bits: CONNLIMIT_STRIPES == 64 */
}
_Static_assert(CONNLIMIT_STRIPES == 64, "stripe_of takes the top 6 bits of the hash");

/* Slot of key k in s, or of the free slot where it would go (s->cap > 0,
 * and the table is never full). */
static uint32_t find_slot(const cl_stripe_t *s, const cl_ref_t *k, uint64_t h)
{
    uint32_t mask = s->cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (s->slots[i].count && (s->slots[i].v != k->v || s->slots[i].fam != k->fam))
        i = (i + 1) & mask;
    return i;
}

/* Move every entry into a table of ncap slots.  -1 if out of memory (the
 * stripe is left as it was). */
static int rehash(const connlimit_t *t, cl_stripe_t *s, uint32_t ncap)
{
    cl_entry_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (uint32_t i = 0; i < s->cap; i++) {
        const cl_entry_t *e = &s->slots[i];
        if (!e->count)
            continue;
        cl_ref_t k = {e->v, e->fam, 0};
        uint32_t j = (uint32_t)hash_of(t, &k) & (ncap - 1);
        while (ns[j].count)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

int connlimit_acquire(connlimit_t *t, const cl_ref_t *k, uint32_t max, uint32_t max_pending,
                      cl_ref_t *ref)
{
    ref->fam = 0;
    ref->pending = 0;
    uint64_t h = hash_of(t, k);
    cl_stripe_t *s = stripe_of(t, h);
    int rc = 0;
    uv_mutex_lock(&s->mu);
    /* at most half full after this insert; if doubling fails, the
     * table (at most half full before) still has room, unless it has none */
    if ((s->n + 1) * 2 > s->cap && rehash(t, s, s->cap ? s->cap * 2 : STRIPE_MIN_CAP) < 0 &&
        s->n + 1 >= s->cap) {
        rc = CL_NOMEM;
        goto out;
    }
    uint32_t i = find_slot(s, k, h);
    cl_entry_t *e = &s->slots[i];
    if (e->count) {
        if (max && e->count >= max) {
            rc = CL_FULL;
            goto out;
        }
        if (max_pending && e->pending >= max_pending) {
            rc = CL_PENDING_FULL;
            goto out;
        }
        e->count++;
        e->pending++;
    } else {
        e->v = k->v;
        e->fam = k->fam;
        e->count = 1;
        e->pending = 1;
        s->n++;
    }
    ref->v = k->v;
    ref->fam = k->fam;
    ref->pending = 1;
out:
    uv_mutex_unlock(&s->mu);
    return rc;
}

void connlimit_logged_in(connlimit_t *t, cl_ref_t *ref)
{
    if (!t || !ref->fam || !ref->pending)
        return;
    uint64_t h = hash_of(t, ref);
    cl_stripe_t *s = stripe_of(t, h);
    uv_mutex_lock(&s->mu);
    if (s->cap) {
        cl_entry_t *e = &s->slots[find_slot(s, ref, h)];
        if (e->count && e->pending)
            e->pending--;
    }
    uv_mutex_unlock(&s->mu);
    ref->pending = 0;
}

void connlimit_release(connlimit_t *t, cl_ref_t *ref)
{
    if (!t || !ref->fam)
        return;
    uint64_t h = hash_of(t, ref);
    cl_stripe_t *s = stripe_of(t, h);
    uv_mutex_lock(&s->mu);
    if (s->cap) {
        uint32_t mask = s->cap - 1;
        uint32_t i = find_slot(s, ref, h);
        if (ref->pending && s->slots[i].pending)
            s->slots[i].pending--;
        if (s->slots[i].count && --s->slots[i].count == 0) {
            /* backward-shift deletion: pull later members of the probe
             * chain into the hole so that every lookup still finds them */
            uint32_t hole = i, j = i;
            for (;;) {
                j = (j + 1) & mask;
                cl_entry_t *e = &s->slots[j];
                if (!e->count)
                    break;
                cl_ref_t ek = {e->v, e->fam, 0};
                uint32_t home = (uint32_t)hash_of(t, &ek) & mask;
                /* e may move to the hole if its home is not in (hole, j] */
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                    s->slots[hole] = *e;
                    hole = j;
                }
            }
            s->slots[hole].count = 0;
            s->n--;
            if (s->n == 0) {
                free(s->slots);
                s->slots = NULL;
                s->cap = 0;
            } else if (s->cap > STRIPE_MIN_CAP && s->n * 8 < s->cap) {
                (void)rehash(t, s, s->cap / 2); /* out of memory: stay big */
            }
        }
    }
    uv_mutex_unlock(&s->mu);
    ref->fam = 0;
    ref->pending = 0;
}

uint32_t connlimit_count(connlimit_t *t, const cl_ref_t *k, uint32_t *pending)
{
    uint64_t h = hash_of(t, k);
    cl_stripe_t *s = stripe_of(t, h);
    uint32_t n = 0, p = 0;
    uv_mutex_lock(&s->mu);
    if (s->cap) {
        const cl_entry_t *e = &s->slots[find_slot(s, k, h)];
        n = e->count;
        p = e->pending;
    }
    uv_mutex_unlock(&s->mu);
    if (pending)
        *pending = p;
    return n;
}

size_t connlimit_addresses(connlimit_t *t)
{
    size_t n = 0;
    for (int i = 0; i < CONNLIMIT_STRIPES; i++) {
        uv_mutex_lock(&t->stripes[i].mu);
        n += t->stripes[i].n;
        uv_mutex_unlock(&t->stripes[i].mu);
    }
    return n;
}

void connlimit_format(const cl_ref_t *k, char *buf, size_t len)
{
    if (k->fam == 4) {
        snprintf(buf, len, "%u.%u.%u.%u", (unsigned)(k->v >> 24) & 255, (unsigned)(k->v >> 16) & 255,
                 (unsigned)(k->v >> 8) & 255, (unsigned)k->v & 255);
    } else if (k->fam == 6) {
        struct in6_addr a;
        memset(&a, 0, sizeof a);
        for (int i = 0; i < 8; i++)
            a.s6_addr[i] = (uint8_t)(k->v >> (56 - 8 * i));
        char t[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, &a, t, sizeof t))
            t[0] = '\0';
        snprintf(buf, len, "%s/64", t);
    } else if (len) {
        snprintf(buf, len, "-");
    }
}
