/*
 * Ordered pushes to many users (groups): one FIFO and one thread.  Store
 * callbacks (the writer thread, in commit order) queue a push; the thread
 * resolves the recipients off every event loop (a member list read on the
 * store's read pool, the session registry), encodes each downlink frame
 * once, and hands it to every device's worker in one inbox message per
 * worker.  One consumer keeps commit order: every device sees a group's
 * messages and changes in sequence order.  Best effort, like every push:
 * correctness comes from storage plus sync, so a full queue drops (and
 * counts) instead of growing without bound.  New sends are refused (62080)
 * well before that: the queue counts in the delivery backlog, and half of
 * GPUSH_QUEUE_MAX stops sends by itself (worker_backlog_busy, worker.c).
 */
#ifndef PETREL_GPUSH_H
#define PETREL_GPUSH_H

#include <stddef.h>
#include <stdint.h>

#include "server/im/server.h"

/* Most pushes waiting; beyond, new ones are dropped. */
#define GPUSH_QUEUE_MAX 65536

typedef struct gpush gpush_t;

gpush_t *gpush_new(server_t *s);
/* Push everything queued, stop the thread, free.  Safe on NULL.  Store
 * reads must still work (call between store_shutdown and store_close). */
void gpush_free(gpush_t *g);

/* Queue json as command cmd to every device of ids[0..n) (copied), except
 * that self (may be NULL) gets cmd_self instead (0 = nothing) on every
 * device but except_conn. */
void gpush_ids(server_t *s, int32_t app_id, int cmd, const char *json,
               const char (*ids)[STORE_ID_MAX + 1], size_t n, const char *self, int cmd_self,
               uint64_t except_conn);

/* Same, to the group's current members who may read message sequence seq
 * (store_group_readers_sync), looked up by the push thread. */
void gpush_group(server_t *s, int32_t app_id, const char *group_id, int64_t seq, int cmd,
                 const char *json, const char *self, int cmd_self, uint64_t except_conn);

/* Pushes dropped because the queue was full (since start). */
uint64_t gpush_dropped(server_t *s);
/* Pushes queued now, not yet handed to the workers (a gauge; any thread). */
uint64_t gpush_backlog(server_t *s);

#endif
