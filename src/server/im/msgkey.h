/*
 * messageKey: a 63-bit id unique across nodes and increasing with time on
 * one node (seed inventory §4.6 fixed: millisecond time, real node id).
 *
 *   key = (ms since 2024-01-01T00:00:00Z) << 22 | node_id (10 bits) << 12 | counter (12 bits)
 *
 * 4096 keys per millisecond per node; when a millisecond is exhausted, or
 * the clock steps back, the generator borrows from the next millisecond so
 * keys never repeat or decrease.  41 bits of milliseconds last until 2093.
 */
#ifndef PETREL_MSGKEY_H
#define PETREL_MSGKEY_H

#include <stdint.h>

#define MSGKEY_EPOCH_MS 1704067200000LL

/* Thread-safe.  node_id 0..1023. */
int64_t msgkey_next(int node_id, int64_t now_ms);
/* Parts of a key, for tests and logs. */
int64_t msgkey_time_ms(int64_t key);
int msgkey_node(int64_t key);

#endif
