/* messageKey generator (see msgkey.h): one atomic 64-bit state holding the
 * last key; a compare-and-swap loop makes it lock-free across workers. */
#include "server/im/msgkey.h"

#include <stdatomic.h>

static _Atomic int64_t last_key;

int64_t msgkey_next(int node_id, int64_t now_ms)
{
    int64_t t = now_ms - MSGKEY_EPOCH_MS;
    if (t < 0)
        t = 0;
    int64_t base = t << 22 | (int64_t)(node_id & 1023) << 12;
    int64_t prev = atomic_load(&last_key);
    for (;;) {
        int64_t next;
        if ((prev >> 22) < t || ((prev >> 12) & 1023) != (node_id & 1023))
            next = base;
        else if ((prev & 4095) < 4095)
            next = prev + 1;
        else /* this millisecond is used up (or the clock went back): borrow */
            next = (((prev >> 22) + 1) << 22) | (int64_t)(node_id & 1023) << 12;
        if (next <= prev)
            next = (((prev >> 22) + 1) << 22) | (int64_t)(node_id & 1023) << 12;
        if (atomic_compare_exchange_weak(&last_key, &prev, next))
            return next;
    }
}

int64_t msgkey_time_ms(int64_t key)
{
    return (key >> 22) + MSGKEY_EPOCH_MS;
}

int msgkey_node(int64_t key)
{
    return (int)((key >> 12) & 1023);
}
