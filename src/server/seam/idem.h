/*
 * Idempotency of message sends, as an interface: (appId, fromId,
 * messageId) -> the original ack (messageKey, messageSequence, serverTime).  A client resend that hits is acked at once, without a trip
 * through the store's writer, on the socket and on REST alike (im/msg_send.c).
 *
 * The answer of record is the database: the unique key (app_id, from_id,
 * message_id) of im_message_body (and of im_group_message for groups), which
 * the store's writer checks inside the send's transaction and which turns a
 * resend into `duplicate` with the original numbers.  An idem_t is only a
 * front of that key: a miss (evicted, another process, another node) costs a
 * store trip and nothing else, and a hit must only ever return what was
 * committed (put after COMMIT).  In cluster mode a shared implementation
 * (Redis, ...) can be plugged in behind idem_ops_t, but the database key
 * still decides: a node that misses the shared cache is still exactly-once.
 *
 * The local implementation (idem_local.c) is a per-process fixed-size
 * cache; every implementation must be thread-safe (put runs on the store's
 * writer thread, get on the workers).
 */
#ifndef PETREL_IDEM_H
#define PETREL_IDEM_H

#include <stdint.h>

typedef struct idem_ack {
    int64_t message_key;
    int64_t sequence;
    int64_t created_at;     /* serverTime */
} idem_ack_t;

typedef struct idem_ops {
    /* 1 and *out filled on a hit, 0 on a miss */
    int (*get)(void *impl, int32_t app_id, const char *from_id, const char *message_id,
               idem_ack_t *out);
    void (*put)(void *impl, int32_t app_id, const char *from_id, const char *message_id,
                const idem_ack_t *ack);
    void (*free)(void *impl);
} idem_ops_t;

typedef struct idem {
    const idem_ops_t *ops;
    void *impl;
} idem_t;

/* The per-process cache (idem_local.c): IDEM_SLOTS entries, direct-mapped
 * by a 128-bit hash of the triple, newest wins, striped locks.  NULL when
 * out of memory (every lookup then misses). */
#define IDEM_SLOTS (1u << 16)
idem_t *idem_local_new(void);

/* Through the interface; a NULL idem is a cache that always misses. */
int idem_get(idem_t *c, int32_t app_id, const char *from_id, const char *message_id,
             idem_ack_t *out);
void idem_put(idem_t *c, int32_t app_id, const char *from_id, const char *message_id,
              const idem_ack_t *ack);
void idem_free(idem_t *c);   /* safe on NULL */

#endif
