/*
 * Deprecated: the old names of the ordered pushes, kept as one-line
 * wrappers while their callers move to deliver.h (deliver_users,
 * deliver_group, deliver_dropped, deliver_backlog on server_t's deliver).
 */
#ifndef PETREL_GPUSH_H
#define PETREL_GPUSH_H

#include <stddef.h>
#include <stdint.h>

#include "server/app/server.h"
#include "server/deliver/deliver.h"

/* deprecated: use DELIVER_QUEUE_MAX */
#define GPUSH_QUEUE_MAX DELIVER_QUEUE_MAX

/* deprecated: use deliver_users */
static inline void gpush_ids(server_t *s, int32_t app_id, int cmd, const char *json,
                             const char (*ids)[STORE_ID_MAX + 1], size_t n, const char *self,
                             int cmd_self, uint64_t except_conn)
{
    deliver_users(s->deliver, app_id, cmd, json, ids, n, self, cmd_self, except_conn);
}

/* deprecated: use deliver_group */
static inline void gpush_group(server_t *s, int32_t app_id, const char *group_id, int64_t seq,
                               int cmd, const char *json, const char *self, int cmd_self,
                               uint64_t except_conn)
{
    deliver_group(s->deliver, app_id, group_id, seq, cmd, json, self, cmd_self, except_conn);
}

/* deprecated: use deliver_dropped */
static inline uint64_t gpush_dropped(server_t *s)
{
    return deliver_dropped(s->deliver);
}

/* deprecated: use deliver_backlog */
static inline uint64_t gpush_backlog(server_t *s)
{
    return deliver_backlog(s->deliver);
}

#endif
