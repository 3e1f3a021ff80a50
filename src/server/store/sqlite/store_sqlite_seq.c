/*
 * SQLite backend: number allocation on the writer (store_backend.h
 * "Sequence allocation"): the next_seq operation of the backend, and the
 * change_seq / message key allocators, all behind one bounded cache.
 *
 * Sequence cache (messages): storing a message allocates three numbers,
 * the pair's next sequence, each owner's next conversation change_seq and
 * the app's next message key.  Reading each from its table on every
 * message would cost three extra b-tree descents per message on the one
 * writer thread, so the writer keeps the last value of each in a bounded
 * hash map (seqcache_t) and loads a miss from disk.  Only the writer
 * allocates, in commit order, which is what makes the numbers increase in
 * commit order (readers paging by them never skip a late commit).  The
 * rule that keeps the cache honest: every entry an op touches (loaded or
 * changed) is marked with the op and put on the transaction's list; when
 * the op is undone (op_end failed) its entries are dropped, when the
 * transaction rolls back all listed entries are dropped, and listed
 * entries are never evicted.  A dropped or evicted entry reloads from the
 * writer connection, which sees exactly what is (or will be) committed,
 * so a number is never reused and a failure leaves no gap.  The schema
 * backs this up: a reused sequence or change_seq violates a unique key.
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SEQ_CACHE_MAX 100000
#define MIN_SEQ_CACHE_MAX 16

/* ---- sequence cache (writer thread; see the top of the file) ---- */

int sqlx_cache_init(seqcache_t *c, size_t max)
{
    if (max == 0)
        max = DEFAULT_SEQ_CACHE_MAX;
    if (max < MIN_SEQ_CACHE_MAX)
        max = MIN_SEQ_CACHE_MAX;
    size_t nb = 16;
    while (nb < max + max / 4)
        nb *= 2;
    c->b = calloc(nb, sizeof *c->b);
    if (!c->b)
        return STORE_EIO;
    c->nb = nb;
    c->max = max;
    return 0;
}

void sqlx_cache_free(seqcache_t *c)
{
    for (size_t i = 0; c->b && i < c->nb; i++) {
        centry_t *e = c->b[i];
        while (e) {
            centry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(c->b);
    memset(c, 0, sizeof *c);
}

/* FNV-1a over kind, app_id and the key bytes. */
static uint32_t cache_hash(int kind, int32_t app_id, const char *key, size_t len)
{
    uint32_t h = 2166136261u;
    uint32_t a = (uint32_t)app_id;
    unsigned char head[5] = {(unsigned char)kind, (unsigned char)a, (unsigned char)(a >> 8),
                             (unsigned char)(a >> 16), (unsigned char)(a >> 24)};
    for (size_t i = 0; i < sizeof head; i++)
        h = (h ^ head[i]) * 16777619u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static void cache_remove(seqcache_t *c, centry_t *e)
{
    centry_t **pp = &c->b[e->hash & (c->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    c->count--;
    free(e);
}

/* Drop one entry the open transaction has not touched (those are pinned:
 * an op holds pointers to them, and a rollback must find them).  A clock
 * hand over the buckets spreads evictions; 0 when everything is pinned. */
static int cache_evict_one(seqcache_t *c)
{
    for (size_t n = 0; n < c->nb; n++) {
        centry_t *e = c->b[c->hand++ & (c->nb - 1)];
        while (e && e->on_tx)
            e = e->next;
        if (e) {
            cache_remove(c, e);
            return 1;
        }
    }
    return 0;
}

static void cache_touch(seqcache_t *c, centry_t *e)
{
    e->op = c->op;
    if (!e->on_tx) {
        e->on_tx = 1;
        e->tx_next = c->tx;
        c->tx = e;
    }
}

/* The undone op's entries may hold values its savepoint rolled back. */
void sqlx_cache_op_failed(seqcache_t *c)
{
    centry_t **pp = &c->tx;
    while (*pp) {
        centry_t *e = *pp;
        if (e->op == c->op) {
            *pp = e->tx_next;
            cache_remove(c, e);
        } else {
            pp = &e->tx_next;
        }
    }
}

/* committed: the touched values are now on disk; else forget them all. */
void sqlx_cache_tx_end(seqcache_t *c, int committed)
{
    centry_t *e = c->tx;
    while (e) {
        centry_t *next = e->tx_next;
        if (committed) {
            e->on_tx = 0;
            e->tx_next = NULL;
        } else {
            cache_remove(c, e);
        }
        e = next;
    }
    c->tx = NULL;
}

/* The stored value behind a cache miss (0 when there is none yet). */
static int cache_load(store_backend_t *be, int kind, int32_t app_id, const char *s1,
                      const char *s2, int64_t *v)
{
    sqlite3_stmt *s;
    switch (kind) {
    case CK_PAIR_SEQ:
        s = be->w[WQ_SEQ_GET];
        bind_str(s, 2, s1);
        bind_str(s, 3, s2);
        break;
    case CK_CHANGE_SEQ:
        s = be->w[WQ_CHANGE_MAX];
        bind_str(s, 2, s1);
        break;
    default:
        s = be->w[WQ_KEY_MAX];
        break;
    }
    sqlite3_bind_int(s, 1, app_id);
    *v = 0;
    int rc = w_step(be, s, "sequence load");
    if (rc == 1) {
        *v = sqlite3_column_int64(s, 0);
        w_done(s);
        rc = 0;
    }
    return rc;
}

/* The entry for (kind, app_id, s1, s2), loading it on a miss, touched by
 * the current op (so it stays put until the transaction ends).  The op
 * writes the new value into (*out)->value once it is in the database. */
int sqlx_cache_get(store_backend_t *be, int kind, int32_t app_id, const char *s1,
                   const char *s2, centry_t **out)
{
    seqcache_t *c = &be->cache;
    char key[2 * (STORE_ID_MAX + 1)];
    size_t l1 = strlen(s1), l2 = strlen(s2);
    if (l1 > STORE_ID_MAX || l2 > STORE_ID_MAX)
        return STORE_EINVAL;
    memcpy(key, s1, l1 + 1);
    memcpy(key + l1 + 1, s2, l2 + 1);
    size_t len = l1 + l2 + 2;
    uint32_t h = cache_hash(kind, app_id, key, len);
    centry_t *e = c->b[h & (c->nb - 1)];
    while (e && !(e->hash == h && e->kind == kind && e->app_id == app_id && e->len == len &&
                  memcmp(e->key, key, len) == 0))
        e = e->next;
    if (!e) {
        int64_t v;
        int rc = cache_load(be, kind, app_id, s1, s2, &v);
        if (rc != 0)
            return rc;
        if (c->count >= c->max)
            cache_evict_one(c); /* if all are pinned, exceed max until the commit */
        e = malloc(sizeof *e + len);
        if (!e)
            return STORE_EIO;
        memset(e, 0, sizeof *e);
        e->value = v;
        e->hash = h;
        e->app_id = app_id;
        e->kind = (uint8_t)kind;
        e->len = (uint16_t)len;
        memcpy(e->key, key, len);
        e->next = c->b[h & (c->nb - 1)];
        c->b[h & (c->nb - 1)] = e;
        c->count++;
    }
    cache_touch(c, e);
    *out = e;
    return 0;
}

/* The owner's next change_seq: *e is the owner's cache entry, to be set to
 * *next once the row carrying it is written. */
int sqlx_next_change(store_backend_t *be, int32_t app_id, const char *owner, centry_t **e,
                     int64_t *next)
{
    int rc = sqlx_cache_get(be, CK_CHANGE_SEQ, app_id, owner, "", e);
    if (rc == 0)
        *next = (*e)->value + 1;
    return rc;
}

/* Allocate the pair's next sequence and record it on disk. */
int sqlx_next_seq(store_backend_t *be, int32_t app_id, const char *x, const char *y,
                  int64_t *seq)
{
    const char *a = x, *b = y;
    if (strcmp(a, b) > 0) {
        a = y;
        b = x;
    }
    centry_t *e;
    int rc = sqlx_cache_get(be, CK_PAIR_SEQ, app_id, a, b, &e);
    if (rc != 0)
        return rc;
    int64_t next = e->value + 1;
    sqlite3_stmt *s = be->w[WQ_SEQ_PUT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, a);
    bind_str(s, 3, b);
    sqlite3_bind_int64(s, 4, next);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    if (sqlite3_changes(be->wdb) != 1) {
        /* The disk is ahead of the cache: someone else wrote the table.
         * Failing the op drops the entry, so a retry reloads it. */
        LOGE("store sequence cache was stale", "app_id=%d", (int)app_id);
        return STORE_EIO;
    }
    e->value = next;
    *seq = next;
    return 0;
}

int sqlx_take_key(store_backend_t *be, int32_t app_id, int64_t proposed, int64_t *key)
{
    centry_t *e;
    int rc = sqlx_cache_get(be, CK_APP_KEY, app_id, "", "", &e);
    if (rc != 0)
        return rc;
    *key = proposed > e->value ? proposed : e->value + 1;
    e->value = *key;
    return 0;
}

int sqlx_take_change(store_backend_t *be, int32_t app_id, const char *owner, int64_t *next)
{
    centry_t *e;
    int rc = sqlx_next_change(be, app_id, owner, &e, next);
    if (rc == 0)
        e->value = *next;
    return rc;
}
