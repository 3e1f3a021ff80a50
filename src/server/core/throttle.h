/*
 * Failed-login throttling: "at most max_failures failures per key within a
 * sliding window of window_ms".  Keys are opaque strings (a user name, a
 * client IP).  The caller passes the clock (now_ms) so tests control time.
 *
 * Memory is bounded: one allocation at creation holds `capacity` entries,
 * each with a ring of the key's last max_failures failure times.  A key
 * with no entry has no failures.  When the table is full a new key evicts
 * the entry whose last failure is oldest (an expired one if there is any;
 * expired entries are always the oldest).  Hostile keys therefore cost
 * nothing beyond the table, at the price that an attacker able to fail with
 * more than `capacity` distinct keys within one window can push other
 * keys' counters out (which is why a second, per-IP instance runs next to
 * the per-name one).  Long keys are identified by their first
 * THROTTLE_KEY_MAX bytes plus a keyed 64-bit hash of the whole key.
 *
 * Lookups hash the key with SipHash-2-4 under a random per-instance key, so
 * chains stay short whatever keys a client chooses.  All functions are
 * thread-safe (one mutex per instance; every operation is O(1) expected).
 */
#ifndef PETREL_THROTTLE_H
#define PETREL_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define THROTTLE_KEY_MAX 128
#define THROTTLE_MAX_FAILURES 1000
#define THROTTLE_MAX_CAPACITY (1u << 20)

typedef struct throttle throttle_t;

/* max_failures 1..THROTTLE_MAX_FAILURES, window_ms > 0, capacity
 * 1..THROTTLE_MAX_CAPACITY; NULL on bad arguments or out of memory. */
throttle_t *throttle_new(int max_failures, int64_t window_ms, size_t capacity);
void throttle_free(throttle_t *t);

/* 1 if key had >= max_failures failures in (now_ms - window_ms, now_ms],
 * else 0.  Does not record anything. */
int throttle_blocked(throttle_t *t, const char *key, int64_t now_ms);
/* Record one failure of key at now_ms. */
void throttle_fail(throttle_t *t, const char *key, int64_t now_ms);
/* Forget key's failures (after a successful login). */
void throttle_reset(throttle_t *t, const char *key);

/* Number of keys currently tracked (for tests and metrics). */
size_t throttle_count(throttle_t *t);

#endif
