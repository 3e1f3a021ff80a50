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
 * presence_register / presence_unregister, which run the sess ops under a
 * lock stripe of the user, off the event loops (the registry may be Redis
 * in cluster mode), so two devices of one user coming and going on
 * different workers of a node are seen in one order, and "first device
 * online" and "last device gone" are exact on one node.  Across nodes the
 * registry's own atomicity decides who is first; a waiting offline is
 * confirmed against the registry before it is told (another node may have
 * a device of the user by then).
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

/* A registration: what presence_register decided. */
typedef struct presence_joined {
    int rc;                    /* sess_ops.login's: 0, -1, SESS_ETOOMANY */
    sess_device_t *victims;    /* removed by the policy (kicked when announced) */
    size_t nvictims;
    sess_device_t *devices;    /* the user's devices after it */
    size_t ndevices;
    int first, flapped;        /* the user's first device; back within the debounce */
} presence_joined_t;

/* gateway.c, LOGIN.  presence_register registers q like sess_ops.login,
 * off the event loops (the thread pool: the registry may be Redis);
 * presence_announce_login then announces it on the device's loop (its
 * events: 4005, 4004 when first, the victims' kick).  A registration whose
 * connection went away meanwhile is undone with presence_unregister. */
void presence_register(server_t *s, const sess_login_t *q, presence_joined_t *out);
void presence_announce_login(conn_t *c, presence_joined_t *j);
void presence_joined_free(presence_joined_t *j);
/* On w's loop: only the victims' kick of a registration that is undone
 * (they left the registry with it). */
void presence_announce_kicks(worker_t *w, int32_t app_id, const char *user_id, int client_type,
                             const char *imei, uint64_t conn_id, presence_joined_t *j);
/* On w's loop: the device (conn_id of app/user) leaves; its removal from
 * the registry runs on the thread pool, its announcement back on w's loop
 * (a no-op when a login already removed it as a victim).  presence_logout
 * is that for a closing connection c. */
void presence_unregister(worker_t *w, int32_t app_id, const char *user_id, int client_type,
                         const char *imei, uint64_t conn_id);
void presence_logout(conn_t *c);
/* On w's loop: the user's last device went away with a dead node (the
 * cluster's reaper said so): EV_USER_OFFLINE now, no debounce. */
void presence_announce_offline(worker_t *w, int32_t app_id, const char *user_id);

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
