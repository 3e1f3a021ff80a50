/* Idempotency cache (see idem.h). */
#include "server/seam/idem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64

typedef struct slot {
    uint64_t h1, h2;   /* 0,0 = empty */
    idem_ack_t ack;
} slot_t;

static slot_t *slots;
static pthread_mutex_t locks[STRIPES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    slots = calloc(IDEM_SLOTS, sizeof *slots); /* pages are touched lazily */
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&locks[i], NULL);
}

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

int idem_get(int32_t app_id, const char *from_id, const char *message_id, idem_ack_t *out)
{
    pthread_once(&once, init);
    if (!slots)
        return 0;
    uint64_t h1, h2;
    hash(app_id, from_id, message_id, &h1, &h2);
    size_t i = (size_t)(h1 & (IDEM_SLOTS - 1));
    int hit = 0;
    pthread_mutex_lock(&locks[i % STRIPES]);
    if (slots[i].h1 == h1 && slots[i].h2 == h2) {
        *out = slots[i].ack;
        hit = 1;
    }
    pthread_mutex_unlock(&locks[i % STRIPES]);
    return hit;
}

void idem_put(int32_t app_id, const char *from_id, const char *message_id, const idem_ack_t *ack)
{
    pthread_once(&once, init);
    if (!slots)
        return;
    uint64_t h1, h2;
    hash(app_id, from_id, message_id, &h1, &h2);
    size_t i = (size_t)(h1 & (IDEM_SLOTS - 1));
    pthread_mutex_lock(&locks[i % STRIPES]);
    slots[i].h1 = h1;
    slots[i].h2 = h2;
    slots[i].ack = *ack;
    pthread_mutex_unlock(&locks[i % STRIPES]);
}
