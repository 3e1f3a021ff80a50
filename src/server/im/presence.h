/*
 * Online status (seed inventory §2.5, §5.2; §11 item 20).
 *
 * A user's status is derived from the session registry: online while at
 * least one device is logged in, per device (clientType, imei, loginTime).
 * Nothing about it is stored; only the custom status a user sets is
 * (store.h, "User status").
 *
 * Transitions are decided here, atomically with the registry change that
 * causes them: the gateway registers and removes devices through
 * presence_login / presence_logout, which run the sess ops under a lock
 * stripe of the user, so two devices of one user coming and going on
 * different workers are seen in one order, and "first device online" and
 * "last device gone" are exact.
 *
 * Pushes:
 *   - every device login / removal: USER_ONLINE_STATUS_CHANGE_NOTIFY_SYNC
 *     4005 to the user's other devices (multi-device sync);
 *   - first device online / last device gone: 4004 to the user's status
 *     peers (friends both ways, no blacklist either way) and live
 *     subscribers, both looked up on the thread pool (presence_fanout).
 *   - Offline is debounced: the 4004 status 2 waits presence_debounce_ms
 *     and is cancelled when a device of the user logs in meanwhile, so a
 *     reconnect never shows as an offline+online pair.  A waiting offline
 *     belongs to the worker whose connection left last: that worker's one
 *     timer serves all of them in due order (the delay is constant, so a
 *     FIFO per worker is sorted); a login on any worker cancels it under
 *     the user's stripe lock.  Nothing per user outlives the window.
 *
 * Subscriptions (subscribeUserOnlineStatus) live in the presence registry
 * (seam/presence_reg.h; the local one is in memory, lost on restart):
 * only to existing users, at most presence_subs_per_user
 * held by one subscriber (config; refused beyond), at most
 * PRESENCE_SUBS_PER_TARGET subscribers per target (a full target replaces
 * the subscription expiring first) and PRESENCE_SUBS_MAX in all; expired
 * entries are dropped whenever their target is touched, and all at once
 * when the table is full.
 *
 * Privacy (docs/SECURITY.md): device ids (imei) go to the user's own
 * devices only (4005); friends and subscribers get 4004 without them.
 */
#ifndef PETREL_PRESENCE_H
#define PETREL_PRESENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/im/server.h"
#include "server/seam/presence_reg.h"

#define PRESENCE_SUBS_PER_TARGET 1000
#define PRESENCE_SUBS_MAX (1u << 20)
/* Longest subscription (ms); a longer subTime is cut to it. */
#define PRESENCE_SUB_TIME_MAX (7LL * 24 * 3600 * 1000)
/* Most devices listed in a 4004/4005 pack ("client"); "clientCount" has
 * the total. */
#define PRESENCE_PACK_CLIENTS 32

typedef struct presence presence_t;

/* After the config is loaded and s->nworkers is set, before
 * workers_start; reg (presence_local_new(PRESENCE_SUBS_PER_TARGET,
 * PRESENCE_SUBS_MAX) on one node) is taken over, freed on failure too.
 * Status changes are pushed through s->deliver.  NULL on allocation
 * failure. */
presence_t *presence_new(server_t *s, presence_reg_t *reg);
/* After workers_join.  Safe on NULL; frees the registry. */
void presence_free(presence_t *p);

/* worker.c: the worker's debounce timer.  init before the loop runs;
 * close on the loop when the worker finishes (pending offline
 * notifications of this worker are dropped: the server is stopping). */
void presence_worker_init(worker_t *w);
void presence_worker_close(worker_t *w);

/* gateway.c, on c's loop.  presence_login registers c (q) like
 * sess_ops.login (same outputs and return) and announces it;
 * presence_logout removes c from the registry (a no-op when a login
 * already removed it as a victim) and announces that. */
int presence_login(conn_t *c, const sess_login_t *q, sess_device_t **victims,
                   size_t *n_victims);
void presence_logout(conn_t *c);

/* subscriber follows target's status changes until expire_ms (epoch ms).
 * Renews an existing subscription.  0, or -1 when the table is full.
 * The caller checked that target is a live user and reserved it with
 * presence_reserve. */
int presence_subscribe(server_t *s, int32_t app_id, const char *subscriber,
                       const char *target, int64_t expire_ms);

/* The per-user cap: records that subscriber follows ids[0..n) until
 * expire_ms, all or nothing: 0; -2 when subscriber's live subscriptions
 * plus the new ones would pass cap (renewals do not count twice); -1 out
 * of memory. */
int presence_reserve(server_t *s, int32_t app_id, const char *subscriber,
                     const char *const *ids, size_t n, int64_t expire_ms, size_t cap);

/* 1 when subscriber holds a live subscription to target. */
int presence_subscribed(server_t *s, int32_t app_id, const char *subscriber,
                        const char *target);

/* Push json (copied) as cmd to user_id's status peers and live
 * subscribers (a subscriber user_id has blacklisted is skipped), from
 * worker worker_idx's thread pool.  Any thread; dropped while the server
 * stops. */
/* The same, started at once on worker worker_idx: only on that worker's
 * thread (an event subscriber of a presence event, emitted there). */
void presence_fanout_here(server_t *s, unsigned worker_idx, int32_t app_id,
                          const char *user_id, int32_t cmd, const char *json, size_t len);

/* The 4004/4005 pack as text (malloc'ed, NULL on OOM): status 1 online, 2
 * offline; "client" lists at most PRESENCE_PACK_CLIENTS of d[0..n) (sorted
 * here by login time), the newest; "clientCount" is n.  imei NULL: the
 * pack for other users (4004), without device ids. */
char *presence_pack(int32_t app_id, const char *user_id, int status, int client_type,
                    const char *imei, sess_device_t *d, size_t n);

void presence_fanout(server_t *s, unsigned worker_idx, int32_t app_id, const char *user_id,
                     int32_t cmd, const char *json, size_t len);

/* [{clientType, imei, loginTime}] of user_id's devices, oldest login
 * first (new reference; NULL only when out of memory); imei only
 * with_imei (the user themselves and the app admin).  Any thread. */
json_t *presence_sessions(server_t *s, int32_t app_id, const char *user_id, int with_imei);

#endif
