/*
 * Delivery to a user's online devices from any thread (REST handlers, store
 * callbacks, other workers).  The frame is encoded once and shared; each
 * device's worker receives it through its inbox and queues it if the
 * connection is still there.
 */
#ifndef PETREL_GATEWAY_H
#define PETREL_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "server/app/server.h"

/* Push one downlink packet to every online device of (app_id, user_id)
 * except the connection except_conn_id (0 = none).  Returns the number of
 * devices it was queued for. */
size_t gw_push_user(server_t *s, int32_t app_id, const char *user_id, int32_t command,
                    const char *json, size_t len, uint64_t except_conn_id);

/* Send ERROR {code, msg} to every device of the user and close them. */
/* Per-worker gateway state (the LOGIN lookup batches); from worker_init. */
void gw_worker_init(worker_t *w);

void gw_disconnect_user(server_t *s, int32_t app_id, const char *user_id, int code,
                        const char *msg);

#endif
