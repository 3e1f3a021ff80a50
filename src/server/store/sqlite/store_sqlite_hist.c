/*
 * One-to-one history rows written in batches, sorted by owner (schema
 * version 8).
 *
 * Every one-to-one message has a history row per owner (DESIGN.md: write
 * diffusion).  Written inside the message's own transaction, the two rows
 * land in two b-trees (primary key and sync index) at each owner's place:
 * four random leaf pages per 64-byte message, three quarters of the WAL
 * frames at 10,000 msgs/s (docs/PERFORMANCE.md).  So the message's
 * transaction writes only its body (a sequential append plus the
 * idempotency key), and this file adds the history rows later, many
 * messages at a time, sorted by owner, peer and sequence: an owner's new
 * rows then share their leaves.
 *
 * What a reader sees is exact at every commit: im_history_applied says, per
 * app, which messages already have their history rows -- all those with a
 * key <= base_key, and, while a cycle is under way, for owners <=
 * cursor_owner those with a key <= top_key.  Readers (store_sqlite_msg.c,
 * RQ_MSG_*) take the history rows up to that key and the body rows above
 * it, so nothing is missed or seen twice.  The body rows are the log: a
 * crash loses nothing: the next start finishes the cycle from its cursor
 * and writes whatever else waits before the writer takes any message.
 * A recall stores its new sync key in the body (resync_key) too, so a row
 * still waiting here is written with it.
 *
 * A cycle starts after a batch once `batch` messages of an app wait: the
 * app's messages in (base_key, top_key] are loaded, sorted, and applied in
 * chunks that end at an owner boundary, one transaction per chunk between
 * two batches of the writer, each at least twice the rows the last batch
 * added, so the work keeps up and no single pause grows with the cycle
 * (loading and sorting are one step each, between two other batches).
 * Writer thread only, but sqlite_hist_stats.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#include "server/core/log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HIST_CHUNK_MIN 256 /* rows: the least a chunk takes (if that many wait) */

enum {
    HQ_BEGIN,
    HQ_COMMIT,
    HQ_ROLLBACK,
    HQ_APPS,
    HQ_MARKS,
    HQ_MAX_KEY,
    HQ_COUNT_ABOVE,
    HQ_ROWS,
    HQ_INSERT,
    HQ_MARK,
    HQ_N
};

static const char *const HQ_SQL[HQ_N] = {
    [HQ_BEGIN] = "BEGIN IMMEDIATE",
    [HQ_COMMIT] = "COMMIT",
    [HQ_ROLLBACK] = "ROLLBACK",
    /* The apps that have messages, one index probe each. */
    [HQ_APPS] = "SELECT min(app_id) FROM im_message_body WHERE app_id > ?1",
    [HQ_MARKS] = "SELECT base_key, top_key, cursor_owner FROM im_history_applied "
                 "WHERE app_id = ?1",
    [HQ_MAX_KEY] = "SELECT coalesce(max(message_key), 0) FROM im_message_body "
                   "WHERE app_id = ?1",
    [HQ_COUNT_ABOVE] = "SELECT count(*) FROM im_message_body "
                       "WHERE app_id = ?1 AND message_key > ?2",
    [HQ_ROWS] = "SELECT from_id, to_id, sequence, message_key FROM im_message_body "
                "INDEXED BY im_message_body_tail WHERE app_id = ?1 AND message_key > ?2 AND message_key <= ?3",
    /* From the body at the time of writing, so a recall made since the
     * cycle started is in the sync key. */
    [HQ_INSERT] =
        "INSERT OR IGNORE INTO im_message_history(app_id, owner_id, peer_id, sequence, "
        "message_key, sync_key) SELECT ?1, ?2, ?3, sequence, message_key, "
        "coalesce(resync_key, message_key) FROM im_message_body "
        "WHERE app_id = ?1 AND message_key = ?4",
    [HQ_MARK] =
        "INSERT INTO im_history_applied(app_id, base_key, top_key, cursor_owner) "
        "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(app_id) DO UPDATE SET "
        "base_key = excluded.base_key, top_key = excluded.top_key, "
        "cursor_owner = excluded.cursor_owner",
};

typedef struct hrow {
    uint32_t owner, peer; /* offsets into the cycle's string arena */
    int64_t seq, key;
} hrow_t;

typedef struct happ {
    int32_t app_id;
    int64_t base, top; /* as on disk once the current chunk commits */
    uint64_t pending;  /* messages noted since the cycle's top (approximate) */
    /* The cycle under way: rows[next..nrows) still to write, once sorted. */
    hrow_t *rows;
    size_t nrows, next;
    char *arena;
    int sorted;
} happ_t;

struct sqlite_hist {
    sqlite3 *db;
    sqlite3_stmt *q[HQ_N];
    uint64_t batch;
    uint64_t noted; /* since the last after_batch */
    happ_t *apps;
    size_t napps, capps;
    pthread_mutex_t mu; /* guards shown: what other threads read */
    sqlite_hist_stats_t stats, shown;
};

static void hlog(sqlite3 *db, const char *what)
{
    LOGE("store history batch failed", "step=\"%s\" err=\"%s\"", what, sqlite3_errmsg(db));
}

static int hrun(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void cycle_free(happ_t *a)
{
    free(a->rows);
    free(a->arena);
    a->rows = NULL;
    a->arena = NULL;
    a->nrows = a->next = 0;
    a->sorted = 0;
}

static happ_t *app_get(sqlite_hist_t *h, int32_t app_id)
{
    for (size_t i = 0; i < h->napps; i++)
        if (h->apps[i].app_id == app_id)
            return &h->apps[i];
    if (h->napps == h->capps) {
        size_t n = h->capps ? 2 * h->capps : 4;
        happ_t *p = realloc(h->apps, n * sizeof *p);
        if (!p)
            return NULL;
        h->apps = p;
        h->capps = n;
    }
    happ_t *a = &h->apps[h->napps++];
    memset(a, 0, sizeof *a);
    a->app_id = app_id;
    return a;
}

static int64_t one_int(sqlite3_stmt *s, int *err)
{
    int64_t v = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        *err = 1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return v;
}

/* The writer thread sorts one cycle at a time. */
static const char *sort_arena;

static int row_cmp(const void *x, const void *y)
{
    const hrow_t *a = x, *b = y;
    int c = strcmp(sort_arena + a->owner, sort_arena + b->owner);
    if (c == 0)
        c = strcmp(sort_arena + a->peer, sort_arena + b->peer);
    if (c == 0)
        c = a->seq < b->seq ? -1 : a->seq > b->seq;
    return c;
}

static int arena_add(char **arena, size_t *len, size_t *cap, const unsigned char *s,
                     uint32_t *off)
{
    size_t n = strlen((const char *)s) + 1;
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n)
            c *= 2;
        char *p = realloc(*arena, c);
        if (!p)
            return -1;
        *arena = p;
        *cap = c;
    }
    memcpy(*arena + *len, s, n);
    *off = (uint32_t)*len;
    *len += n;
    return 0;
}

/* Load the app's rows in (base, top], unsorted. */
static int cycle_load(sqlite_hist_t *h, happ_t *a)
{
    sqlite3_stmt *s = h->q[HQ_ROWS];
    sqlite3_bind_int(s, 1, a->app_id);
    sqlite3_bind_int64(s, 2, a->base);
    sqlite3_bind_int64(s, 3, a->top);
    size_t n = 0, cap = 0, alen = 0, acap = 0;
    hrow_t *rows = NULL;
    char *arena = NULL;
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *from = sqlite3_column_text(s, 0), *to = sqlite3_column_text(s, 1);
        if (!from || !to)
            continue;
        if (n + 2 > cap) {
            size_t c = cap ? 2 * cap : 1024;
            hrow_t *p = realloc(rows, c * sizeof *p);
            if (!p) {
                bad = 1;
                break;
            }
            rows = p;
            cap = c;
        }
        uint32_t fo, to_off;
        if (arena_add(&arena, &alen, &acap, from, &fo) != 0 ||
            arena_add(&arena, &alen, &acap, to, &to_off) != 0 || alen > UINT32_MAX) {
            bad = 1;
            break;
        }
        int64_t seq = sqlite3_column_int64(s, 2), key = sqlite3_column_int64(s, 3);
        rows[n++] = (hrow_t){fo, to_off, seq, key};
        rows[n++] = (hrow_t){to_off, fo, seq, key};
    }
    if (!bad && rc != SQLITE_DONE) {
        hlog(h->db, "load");
        bad = 1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (bad) {
        free(rows);
        free(arena);
        return -1;
    }
    a->rows = rows;
    a->arena = arena;
    a->nrows = n;
    a->next = 0;
    a->sorted = 0;
    return 0;
}

/* Sort the loaded cycle; skip the owners <= after (a resumed cycle), or
 * none when after is NULL. */
static void cycle_sort(happ_t *a, const char *after)
{
    sort_arena = a->arena;
    if (a->nrows > 1)
        qsort(a->rows, a->nrows, sizeof *a->rows, row_cmp);
    size_t next = 0;
    while (after && next < a->nrows && strcmp(a->arena + a->rows[next].owner, after) <= 0)
        next++;
    a->next = next;
    a->sorted = 1;
}

/* One chunk of the cycle: rows[next..j) where j ends an owner and j - next
 * >= want (or the cycle ends), in a transaction of its own. */
static int chunk_apply(sqlite_hist_t *h, happ_t *a, size_t want)
{
    size_t j = a->next + want;
    if (j >= a->nrows)
        j = a->nrows;
    else
        while (j < a->nrows &&
               strcmp(a->arena + a->rows[j].owner, a->arena + a->rows[j - 1].owner) == 0)
            j++;
    int done = j == a->nrows;

    if (hrun(h->q[HQ_BEGIN]) != 0) {
        hlog(h->db, "BEGIN");
        return -1;
    }
    sqlite3_stmt *ins = h->q[HQ_INSERT];
    int rc = 0;
    for (size_t i = a->next; i < j && rc == 0; i++) {
        const hrow_t *r = &a->rows[i];
        sqlite3_bind_int(ins, 1, a->app_id);
        sqlite3_bind_text(ins, 2, a->arena + r->owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, a->arena + r->peer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, r->key);
        rc = hrun(ins);
    }
    sqlite3_stmt *m = h->q[HQ_MARK];
    if (rc == 0) {
        sqlite3_bind_int(m, 1, a->app_id);
        sqlite3_bind_int64(m, 2, done ? a->top : a->base);
        sqlite3_bind_int64(m, 3, a->top);
        if (done)
            sqlite3_bind_null(m, 4);
        else
            sqlite3_bind_text(m, 4, a->arena + a->rows[j - 1].owner, -1, SQLITE_STATIC);
        rc = hrun(m);
    }
    if (rc == 0)
        rc = hrun(h->q[HQ_COMMIT]);
    if (rc != 0) {
        hlog(h->db, "write");
        if (!sqlite3_get_autocommit(h->db))
            hrun(h->q[HQ_ROLLBACK]);
        return -1;
    }
    h->stats.chunks++;
    h->stats.rows += j - a->next;
    a->next = j;
    if (done) {
        a->base = a->top;
        cycle_free(a);
    }
    return 0;
}

/* A new cycle over everything the app has stored above base. */
static int cycle_start(sqlite_hist_t *h, happ_t *a)
{
    sqlite3_bind_int(h->q[HQ_MAX_KEY], 1, a->app_id);
    int err = 0;
    int64_t top = one_int(h->q[HQ_MAX_KEY], &err);
    if (err) {
        hlog(h->db, "max key");
        return -1;
    }
    a->pending = 0;
    if (top <= a->base)
        return 0;
    a->top = top;
    if (cycle_load(h, a) != 0) {
        a->top = a->base;
        return -1;
    }
    if (a->nrows == 0) { /* only group messages there: nothing to write */
        cycle_free(a);
        a->base = a->top;
    }
    return 0;
}

/* Copy the writer's counters for sqlite_hist_stats. */
static void publish(sqlite_hist_t *h)
{
    h->stats.waiting = 0;
    for (size_t i = 0; i < h->napps; i++)
        h->stats.waiting += h->apps[i].pending + (h->apps[i].nrows - h->apps[i].next) / 2;
    pthread_mutex_lock(&h->mu);
    h->shown = h->stats;
    pthread_mutex_unlock(&h->mu);
}

int sqlite_hist_open(sqlite3 *db, int batch, sqlite_hist_t **out)
{
    sqlite_hist_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    pthread_mutex_init(&h->mu, NULL);
    h->db = db;
    h->batch = batch > 0 ? (uint64_t)batch : 1;
    for (int k = 0; k < HQ_N; k++) {
        if (sqlite3_prepare_v3(db, HQ_SQL[k], -1, SQLITE_PREPARE_PERSISTENT, &h->q[k], NULL) !=
            SQLITE_OK) {
            hlog(db, "prepare");
            sqlite_hist_close(h);
            return -1;
        }
    }
    /* Every app's mark, a cycle a crash interrupted, and how much waits. */
    int rc, err = 0;
    sqlite3_stmt *apps = h->q[HQ_APPS];
    int64_t after = INT64_MIN;
    for (;;) {
        sqlite3_bind_int64(apps, 1, after);
        rc = sqlite3_step(apps);
        int none = rc != SQLITE_ROW || sqlite3_column_type(apps, 0) == SQLITE_NULL;
        if (!none)
            after = sqlite3_column_int64(apps, 0);
        sqlite3_reset(apps);
        if (rc != SQLITE_ROW)
            err = 1;
        if (none)
            break;
        happ_t *a = app_get(h, (int32_t)after);
        if (!a) {
            err = 1;
            break;
        }
        sqlite3_stmt *mk = h->q[HQ_MARKS];
        sqlite3_bind_int(mk, 1, a->app_id);
        char *cursor = NULL;
        if ((rc = sqlite3_step(mk)) == SQLITE_ROW) {
            a->base = sqlite3_column_int64(mk, 0);
            a->top = sqlite3_column_int64(mk, 1);
            const unsigned char *c = sqlite3_column_text(mk, 2);
            if (c && !(cursor = strdup((const char *)c)))
                err = 1;
        } else if (rc != SQLITE_DONE) {
            err = 1;
        }
        sqlite3_reset(mk);
        sqlite3_clear_bindings(mk);
        if (!err && cursor) {
            err = cycle_load(h, a) != 0;
            if (!err)
                cycle_sort(a, cursor);
        } else
            a->top = a->base;
        free(cursor);
        if (!err) {
            sqlite3_stmt *c = h->q[HQ_COUNT_ABOVE];
            sqlite3_bind_int(c, 1, a->app_id);
            sqlite3_bind_int64(c, 2, a->top);
            a->pending = (uint64_t)one_int(c, &err);
        }
        if (err)
            break;
    }
    if (err) {
        hlog(db, "open");
        sqlite_hist_close(h);
        return -1;
    }
    /* Start with nothing waiting: the sequence cache's loads count on it
     * (store_sqlite_seq.c, WQ_SEQ_GET). */
    if (sqlite_hist_flush(h) != 0) {
        sqlite_hist_close(h);
        return -1;
    }
    *out = h;
    return 0;
}

void sqlite_hist_note(sqlite_hist_t *h, int32_t app_id)
{
    if (!h)
        return;
    happ_t *a = app_get(h, app_id);
    if (a)
        a->pending++;
    h->noted++;
}

void sqlite_hist_after_batch(sqlite_hist_t *h)
{
    if (!h)
        return;
    /* Twice what the last batch added, so a cycle finishes before the
     * next one is due even under saturation. */
    size_t want = (size_t)(4 * h->noted);
    if (want < HIST_CHUNK_MIN)
        want = HIST_CHUNK_MIN;
    h->noted = 0;
    for (size_t i = 0; i < h->napps; i++) {
        happ_t *a = &h->apps[i];
        /* Loading a cycle, sorting it (1.3 and 1.6 ms for 8192 messages)
         * and each chunk are pauses of their own: they do not add up. */
        if (!a->rows && a->pending >= h->batch)
            cycle_start(h, a);
        else if (a->rows && !a->sorted)
            cycle_sort(a, NULL);
        else if (a->rows)
            chunk_apply(h, a, want);
    }
    publish(h);
}

int sqlite_hist_flush(sqlite_hist_t *h)
{
    if (!h)
        return 0;
    int rc = 0;
    for (size_t i = 0; i < h->napps && rc == 0; i++) {
        happ_t *a = &h->apps[i];
        /* The cycle under way (one a crash interrupted, say), then a new
         * one for everything stored above it. */
        for (int round = 0; round < 2 && rc == 0; round++) {
            if (!a->rows && a->pending > 0)
                rc = cycle_start(h, a);
            if (rc == 0 && a->rows && !a->sorted)
                cycle_sort(a, NULL);
            while (rc == 0 && a->rows)
                rc = chunk_apply(h, a, SIZE_MAX / 2);
        }
    }
    publish(h);
    return rc;
}

void sqlite_hist_stats(sqlite_hist_t *h, sqlite_hist_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    *out = h->shown;
    pthread_mutex_unlock(&h->mu);
}

void sqlite_hist_close(sqlite_hist_t *h)
{
    if (!h)
        return;
    for (int k = 0; k < HQ_N; k++)
        sqlite3_finalize(h->q[k]);
    for (size_t i = 0; i < h->napps; i++)
        cycle_free(&h->apps[i]);
    free(h->apps);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
