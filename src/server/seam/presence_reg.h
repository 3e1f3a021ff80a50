/*
 * Presence registry: who follows whose online status, until when
 * (subscribeUserOnlineStatus), with the caps that bound it.  im/presence.c
 * is the use case (it checks users, announces changes and fans them out
 * through deliver/); this is only the table.
 *
 * Rules (the local implementation; another must keep them):
 *   - a subscription is (app, subscriber, target, expire_ms); subscribing
 *     again renews it;
 *   - at most per_target subscribers per target: a full target replaces
 *     the subscription expiring first;
 *   - at most max_total subscriptions in all: beyond, every expired one is
 *     dropped and, if still full, the subscription is refused;
 *   - the per-subscriber cap is kept by reserve(), all or nothing, on the
 *     subscriber's own list (renewals do not count twice);
 *   - expired entries are dropped whenever their owner is touched.
 * Times are epoch ms passed in by the caller (now), so the table has no
 * clock of its own.  Any thread.
 *
 * This is an interface: presence_local.c keeps it in memory (striped
 * locks; lost on restart); a shared store (Redis) plugs in for cluster
 * mode through the same ops table.
 */
#ifndef PETREL_PRESENCE_REG_H
#define PETREL_PRESENCE_REG_H

#include <stddef.h>
#include <stdint.h>

typedef struct presence_reg presence_reg_t;

typedef struct presence_reg_ops {
    /* subscriber follows target until expire_ms (renews).  0, or -1
     * (the table is full, out of memory). */
    int (*subscribe)(presence_reg_t *r, int32_t app_id, const char *subscriber,
                     const char *target, int64_t expire_ms, int64_t now);
    /* The per-subscriber cap: subscriber's list gets ids[0..n) until
     * expire_ms when its live entries plus the new ones fit in cap.  0;
     * -2 over the cap (nothing changed); -1 out of memory. */
    int (*reserve)(presence_reg_t *r, int32_t app_id, const char *subscriber,
                   const char *const *ids, size_t n, int64_t expire_ms, size_t cap, int64_t now);
    /* 1 when subscriber holds a live subscription to target, else 0. */
    int (*subscribed)(presence_reg_t *r, int32_t app_id, const char *subscriber,
                      const char *target, int64_t now);
    /* The live subscribers of target: *out a malloc'ed array of malloc'ed
     * ids (free with presence_reg_ids_free); returns their count. */
    size_t (*subscribers)(presence_reg_t *r, int32_t app_id, const char *target, int64_t now,
                          char ***out);
    /* Subscriptions held (live or not yet purged). */
    size_t (*count)(presence_reg_t *r);
    void (*destroy)(presence_reg_t *r);
} presence_reg_ops_t;

struct presence_reg {
    const presence_reg_ops_t *ops;
};

/* In memory: per_target and max_total as above.  NULL on OOM. */
presence_reg_t *presence_local_new(size_t per_target, size_t max_total);

void presence_reg_ids_free(char **ids, size_t n);

#endif
