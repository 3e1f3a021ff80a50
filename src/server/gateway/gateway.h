/*
 * The socket gateway's entry points for the workers (gw_on_packet and the
 * rest are declared in app/server.h), and the deprecated delivery names:
 * delivery is deliver/deliver.h.
 */
#ifndef PETREL_GATEWAY_H
#define PETREL_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "server/app/server.h"
#include "server/deliver/deliver.h"

/* Per-worker gateway state (the LOGIN lookup batches); from worker_init. */
void gw_worker_init(worker_t *w);

/* deprecated: use deliver_user (deliver/deliver.h) on s->deliver. */
static inline size_t gw_push_user(server_t *s, int32_t app_id, const char *user_id,
                                  int32_t command, const char *json, size_t len,
                                  uint64_t except_conn_id)
{
    return deliver_user(s->deliver, app_id, user_id, command, json, len, except_conn_id);
}

/* deprecated: use deliver_disconnect_user (deliver/deliver.h). */
static inline void gw_disconnect_user(server_t *s, int32_t app_id, const char *user_id, int code,
                                      const char *msg)
{
    deliver_disconnect_user(s->deliver, app_id, user_id, code, msg);
}

#endif
