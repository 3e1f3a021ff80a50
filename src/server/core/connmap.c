/*
 * Per-worker map conn id -> conn: open addressing, linear probing, backward
 * shift deletion (no tombstones).  Only its worker touches it, so no lock.
 * Other threads address connections by id through the worker's inbox; the
 * lookup here is what makes a stale id (connection gone) harmless.
 */
#include "server/core/connmap.h"
#include "server/core/conn.h"

#include <stdlib.h>

static size_t slot(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int grow(connmap_t *m)
{
    size_t nc = m->cap ? m->cap * 2 : 64;
    uint64_t *k = calloc(nc, sizeof *k);
    conn_t **v = calloc(nc, sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot(m->keys[i], nc);
        while (k[j])
            j = (j + 1) & (nc - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = nc;
    return 0;
}

int connmap_put(connmap_t *m, uint64_t key, conn_t *c)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    size_t i = slot(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = key;
    m->vals[i] = c;
    return 0;
}

conn_t *connmap_get(const connmap_t *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    size_t i = slot(key, m->cap);
    while (m->keys[i]) {
        if (m->keys[i] == key)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

void connmap_del(connmap_t *m, uint64_t key)
{
    if (!m->cap || !key)
        return;
    size_t i = slot(key, m->cap);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        return;
    m->n--;
    /* backward shift: move later members of the probe run into the hole */
    size_t j = i;
    for (;;) {
        m->keys[i] = 0;
        m->vals[i] = NULL;
        for (;;) {
            j = (j + 1) & (m->cap - 1);
            if (!m->keys[j])
                return;
            size_t k = slot(m->keys[j], m->cap);
            /* can the entry at j move to i? only if k is cyclically outside (i, j] */
            if (i <= j ? (k <= i || k > j) : (k <= i && k > j))
                break;
        }
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
}

void connmap_free(connmap_t *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}
