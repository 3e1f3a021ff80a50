/* Send rate limits (see ratelimit.h for the contract). */
#include "server/im/ratelimit.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define USER_SLOTS 8192 /* power of two */
#define PROBE 8
#define APP_SLOTS 256   /* power of two */

typedef struct rl_slot {
    uint64_t key;       /* 0 = empty */
    int64_t tat_msgs;   /* theoretical arrival times, us */
    int64_t tat_bytes;
} rl_slot_t;

struct ratelimit {
    uint64_t seed;
    rl_slot_t slots[USER_SLOTS];
};

static struct {
    _Atomic int64_t app;  /* app id + 1; 0 = free */
    _Atomic int64_t tat;
} g_apps[APP_SLOTS];

ratelimit_t *ratelimit_new(void)
{
    ratelimit_t *rl = calloc(1, sizeof *rl);
    /* a random seed: users cannot choose ids that share a bucket */
    if (rl && RAND_bytes((unsigned char *)&rl->seed, sizeof rl->seed) != 1)
        rl->seed = (uint64_t)(uintptr_t)rl * 0x9e3779b97f4a7c15ull;
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    free(rl);
}

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void key_dtor(void *p)
{
    ratelimit_free(p);
}

static void key_init(void)
{
    pthread_key_create(&g_key, key_dtor);
}

ratelimit_t *ratelimit_thread(void)
{
    pthread_once(&g_once, key_init);
    ratelimit_t *rl = pthread_getspecific(g_key);
    if (!rl) {
        rl = ratelimit_new();
        if (rl && pthread_setspecific(g_key, rl) != 0) {
            ratelimit_free(rl);
            rl = NULL;
        }
    }
    return rl;
}

static uint64_t key_of(uint64_t seed, int32_t app_id, const char *user_id)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (int i = 0; i < 4; i++) /* the app id, then the user id, as one byte stream */
        h = (h ^ (((uint32_t)app_id >> (8 * i)) & 0xff)) * 1099511628211ull;
    for (const unsigned char *p = (const unsigned char *)user_id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h ? h : 1;
}

/* GCRA step: may one more cost-`inc` arrival be admitted at now with a
 * burst tolerance of `tol`?  New time in *next. */
static int gcra(int64_t tat, int64_t now, int64_t inc, int64_t tol, int64_t *next)
{
    int64_t t = tat > now ? tat : now;
    if (t - now > tol)
        return 0;
    *next = t + inc;
    return 1;
}

static rl_slot_t *user_slot(ratelimit_t *rl, uint64_t key, int64_t now)
{
    size_t i0 = (size_t)key & (USER_SLOTS - 1);
    rl_slot_t *victim = NULL;
    for (size_t k = 0; k < PROBE; k++) {
        rl_slot_t *s = &rl->slots[(i0 + k) & (USER_SLOTS - 1)];
        if (s->key == key)
            return s;
        int64_t t = s->tat_msgs > s->tat_bytes ? s->tat_msgs : s->tat_bytes;
        if (!s->key)
            t = INT64_MIN;
        if (!victim) {
            victim = s;
        } else {
            int64_t vt = victim->key ? (victim->tat_msgs > victim->tat_bytes ? victim->tat_msgs
                                                                             : victim->tat_bytes)
                                     : INT64_MIN;
            if (t < vt)
                victim = s;
        }
    }
    /* an empty slot, or the one whose bucket is fullest (a time in the
     * past is a full bucket: nothing is lost by forgetting it) */
    victim->key = key;
    victim->tat_msgs = victim->tat_bytes = now;
    return victim;
}

static int app_allow(int32_t app_id, uint32_t rate, int64_t now)
{
    int64_t want = (int64_t)app_id + 1;
    size_t i0 = ((uint32_t)app_id * 2654435761u) & (APP_SLOTS - 1);
    for (size_t k = 0; k < APP_SLOTS; k++) {
        size_t i = (i0 + k) & (APP_SLOTS - 1);
        int64_t cur = atomic_load_explicit(&g_apps[i].app, memory_order_acquire);
        if (cur == 0) {
            int64_t zero = 0;
            if (!atomic_compare_exchange_strong(&g_apps[i].app, &zero, want) && zero != want)
                continue;
            cur = want;
        }
        if (cur != want)
            continue;
        int64_t inc = 1000000 / rate ? 1000000 / rate : 1;
        int64_t tol = inc * ((int64_t)rate * RL_APP_BURST_S - 1);
        int64_t tat = atomic_load_explicit(&g_apps[i].tat, memory_order_relaxed);
        for (;;) {
            int64_t next;
            if (!gcra(tat, now, inc, tol, &next))
                return 0;
            if (atomic_compare_exchange_weak_explicit(&g_apps[i].tat, &tat, next,
                                                      memory_order_relaxed, memory_order_relaxed))
                return 1;
        }
    }
    return 1; /* more apps than slots: no per-app limit for this one */
}

int ratelimit_send(ratelimit_t *rl, const rl_conf_t *conf, int32_t app_id, const char *user_id,
                   size_t bytes, int64_t now_us)
{
    rl_slot_t *s = NULL;
    int64_t nm = 0, nb = 0;
    if (rl && user_id && (conf->user_msgs || conf->user_kbytes)) {
        s = user_slot(rl, key_of(rl->seed, app_id, user_id), now_us);
        nm = s->tat_msgs;
        nb = s->tat_bytes;
        if (conf->user_msgs) {
            int64_t inc = 1000000 / conf->user_msgs ? 1000000 / conf->user_msgs : 1;
            int64_t tol = inc * ((int64_t)conf->user_msgs * RL_USER_BURST_S - 1);
            if (!gcra(s->tat_msgs, now_us, inc, tol, &nm))
                return 1;
        }
        if (conf->user_kbytes) {
            /* cost in us: bytes at user_kbytes KiB/s; the burst is
             * RL_USER_BURST_S seconds' worth */
            double per_byte = 1e6 / ((double)conf->user_kbytes * 1024.0);
            int64_t inc = (int64_t)((double)bytes * per_byte) + 1;
            int64_t tol = (int64_t)RL_USER_BURST_S * 1000000 - inc;
            if (tol < 0)
                tol = 0; /* larger than the burst: passes only on a full bucket */
            if (!gcra(s->tat_bytes, now_us, inc, tol, &nb))
                return 1;
        }
    }
    if (conf->app_msgs && !app_allow(app_id, conf->app_msgs, now_us))
        return 1;
    if (s) {
        s->tat_msgs = nm;
        s->tat_bytes = nb;
    }
    return 0;
}
