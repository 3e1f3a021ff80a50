/*
 * Per-worker map conn id -> conn (connmap.c): open addressing, only its
 * worker touches it.
 */
#ifndef PETREL_CONNMAP_H
#define PETREL_CONNMAP_H

#include <stddef.h>
#include <stdint.h>

struct conn;

typedef struct connmap {
    uint64_t *keys;
    struct conn **vals;
    size_t cap, n;   /* cap is a power of two; 0 = empty key */
} connmap_t;

int connmap_put(connmap_t *m, uint64_t key, struct conn *c);
struct conn *connmap_get(const connmap_t *m, uint64_t key);
void connmap_del(connmap_t *m, uint64_t key);
void connmap_free(connmap_t *m);

#endif
