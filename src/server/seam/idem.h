/*
 * Idempotency cache for message sends: (appId, fromId, messageId) ->
 * the original ack (messageKey, messageSequence, serverTime).  A client
 * resend that hits the cache is acked at once, without a trip through the
 * store's writer.  The cache is only an accelerator: the unique key
 * (app_id, from_id, message_id) of im_message_body is the guarantee, and a
 * miss simply goes to the store, which finds the original there.
 *
 * Fixed size (IDEM_SLOTS entries, direct-mapped by hash, newest wins), keyed
 * by two independent 64-bit hashes of the triple, so no allocation and a
 * false hit needs a 128-bit collision.  Thread-safe (striped locks).  In
 * cluster mode a Redis-backed cache can take its place.
 */
#ifndef PETREL_IDEM_H
#define PETREL_IDEM_H

#include <stdint.h>

#define IDEM_SLOTS (1u << 16)

typedef struct idem_ack {
    int64_t message_key;
    int64_t sequence;
    int64_t created_at;
} idem_ack_t;

/* 1 and *out filled on a hit, 0 on a miss. */
int idem_get(int32_t app_id, const char *from_id, const char *message_id, idem_ack_t *out);
void idem_put(int32_t app_id, const char *from_id, const char *message_id, const idem_ack_t *ack);

#endif
