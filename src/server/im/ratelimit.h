/*
 * Send rate limits: per user (messages and bytes per second) and per app
 * (messages per second).  Both are GCRA token buckets ("generic cell rate
 * algorithm"): one theoretical arrival time per key, a send is allowed when
 * it does not move that time more than the burst ahead of now.
 *
 * Per user: a table per worker thread (no lock, no atomics; a user with
 * devices on several workers gets the rate on each).  Fixed size: a key whose time
 * is in the past is equivalent to no key at all, so when its probe window
 * is full a new key takes the slot with the oldest time.  Per app: one
 * process-wide table of atomics updated with compare-and-swap (lock-free).
 * Every check is O(1).
 */
#ifndef PETREL_RATELIMIT_H
#define PETREL_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

typedef struct rl_conf {
    uint32_t user_msgs;    /* messages per second and user, 0 = no limit */
    uint32_t user_kbytes;  /* KiB of body per second and user, 0 = no limit */
    uint32_t app_msgs;     /* messages per second and app, 0 = no limit */
} rl_conf_t;

/* Burst: a user may send RL_USER_BURST_S seconds' worth at once, an app
 * RL_APP_BURST_S seconds' worth. */
#define RL_USER_BURST_S 2
#define RL_APP_BURST_S 1

ratelimit_t *ratelimit_new(void);  /* NULL on OOM */
void ratelimit_free(ratelimit_t *rl);
/* The calling thread's table (each worker thread has one), made on first
 * use and freed when the thread exits; NULL on OOM. */
ratelimit_t *ratelimit_thread(void);

/* One send of `bytes` body bytes by (app_id, user_id) at now_us
 * (monotonic).  Counts it and returns 0 when every limit allows it;
 * otherwise counts nothing and returns 1.  rl NULL: only the app limit. */
int ratelimit_send(ratelimit_t *rl, const rl_conf_t *conf, int32_t app_id, const char *user_id,
                   size_t bytes, int64_t now_us);

#endif
