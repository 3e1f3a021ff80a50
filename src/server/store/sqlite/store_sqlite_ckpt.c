/*
 * WAL checkpoints for the SQLite backend, off the writer thread.
 *
 * Why: SQLite's default autocheckpoint copies the WAL back into the
 * database inside the COMMIT that pushed the WAL past 1000 pages, on the
 * one writer thread.  Every op queued behind that commit waits for the
 * copy and its fsyncs, and a small WAL copies the same hot pages (b-tree
 * leaves every message touches) over and over.  Here the WAL grows to
 * `pages` frames, so that a checkpoint copies each hot page once for many
 * commits, and the bulk of the copy runs on a checkpointer thread with its
 * own connection, in PASSIVE mode (it never blocks the writer or readers).
 *
 * The catch (docs/PERFORMANCE.md): a PASSIVE checkpoint only covers the
 * frames committed when it started, and the WAL only starts over from its
 * beginning when a write transaction begins with every frame copied.  A
 * checkpointer racing a busy writer stays a step behind for ever, and the
 * WAL grows without bound.  So one cycle goes:
 *
 *   IDLE    the writer's WAL hook (after each commit) sees >= pages frames:
 *           COPYING, and the checkpointer wakes;
 *   COPYING the checkpointer makes up to MAX_PASSES passes, each copying
 *           what was committed during the previous one (they shrink), then
 *           TAIL;
 *   TAIL    the writer, between two batches, runs a PASSIVE checkpoint on
 *           its own connection: only the short tail is left to copy.  When
 *           it covers the whole WAL the next transaction starts the WAL
 *           over: IDLE.  (A reader still on an old snapshot can hold it
 *           back: then COPYING again, another cycle, rather than a copy
 *           and an fsync on the writer after every batch.)
 *
 * Past HARD_FACTOR x pages frames (the checkpointer cannot keep up) the
 * writer runs a RESTART checkpoint, which waits for the checkpointer and
 * for readers on old snapshots, so the WAL stays bounded whatever the load.
 * It waits HARD_WAIT_MS at most, and tries at most once per HARD_EVERY_MS:
 * a reader that holds a snapshot for long (an operator's sqlite3 shell in
 * a transaction) must not stall every batch; while it does, the WAL cannot
 * start over (nothing can do that), grows, and a warning says why.
 *
 * A fresh connection is not in WAL mode until it has read the database
 * (its checkpoints are silent no-ops until then), hence the read at start.
 * The checkpointer's connection uses the writer's synchronous setting: a
 * checkpoint must fsync the database before the WAL can be reused.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#include "server/core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define HARD_FACTOR 4     /* the writer waits for a full RESTART checkpoint here */
#define HARD_WAIT_MS 20   /* ... for this long at most */
#define HARD_EVERY_MS 1000 /* ... and tries again no sooner than this */
#define MAX_PASSES 4  /* checkpointer passes per cycle */

enum { CK_IDLE, CK_COPYING, CK_TAIL };

struct sqlite_ckpt {
    sqlite3 *db; /* the checkpointer's own connection */
    sqlite3 *wdb;
    int pages;

    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;        /* CK_*, guarded by mu */
    int busy_copying; /* the checkpointer is in its passes, guarded by mu */
    int stop;
    int frames; /* WAL frames after the writer's last commit (writer thread only) */
    int busy_ms;           /* the writer connection's busy timeout, restored after RESTART */
    int64_t next_hard_ms;  /* writer thread only: no RESTART attempt before this */
    int held_warned;       /* writer thread only: the "reader holds the WAL" warning is out */

    sqlite_ckpt_stats_t stats; /* guarded by mu */
};

/* Writer thread, inside COMMIT (sqlite3_wal_hook). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    sqlite_ckpt_t *c = arg;
    c->frames = frames;
    if (frames >= c->pages) {
        pthread_mutex_lock(&c->mu);
        if (c->state == CK_IDLE) {
            c->state = CK_COPYING;
            pthread_cond_broadcast(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-ckpt"); /* top -H, perf */
    sqlite_ckpt_t *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (c->state != CK_COPYING && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        int stop = c->stop;
        if (!stop)
            c->busy_copying = 1;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        /* Each pass copies what was committed during the previous one;
         * stop when a pass finds nothing new. */
        int prev = -1;
        for (int pass = 0; pass < MAX_PASSES; pass++) {
            int log = -1, done = -1;
            int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                               &done);
            pthread_mutex_lock(&c->mu);
            c->stats.passes++;
            if (rc != SQLITE_OK)
                c->stats.busy++;
            pthread_mutex_unlock(&c->mu);
            if (rc != SQLITE_OK) {
                if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
                    LOGW("store checkpoint failed", "err=\"%s\"", sqlite3_errmsg(c->db));
                break;
            }
            if (log == prev)
                break;
            prev = log;
        }
        pthread_mutex_lock(&c->mu);
        if (c->state == CK_COPYING) /* else the writer restarted the WAL meanwhile */
            c->state = CK_TAIL;
        c->busy_copying = 0;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

int sqlite_ckpt_start(const char *path, sqlite3 *wdb, int pages, int synchronous_full,
                      int busy_ms, sqlite_ckpt_t **out)
{
    *out = NULL;
    sqlite_ckpt_t *c = calloc(1, sizeof *c);
    if (!c)
        return STORE_EIO;
    c->wdb = wdb;
    c->pages = pages;
    c->busy_ms = busy_ms;
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(c->db, busy_ms);
        rc = sqlite3_exec(c->db,
                          synchronous_full ? "PRAGMA synchronous = FULL"
                                           : "PRAGMA synchronous = NORMAL",
                          NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) /* into WAL mode: read the database once */
        rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        LOGE("store cannot open the checkpointer's connection", "err=\"%s\"",
             c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        free(c);
        return STORE_EIO;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->th, NULL, ckpt_main, c) != 0) {
        LOGE("store cannot start the checkpointer thread", NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        return STORE_EIO;
    }
    /* After a restart from the hard limit, give the disk back down to
     * one normal cycle's worth. */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %lld",
             (long long)pages * (4096 + 24) + 32);
    if (sqlite3_exec(wdb, sql, NULL, NULL, NULL) != SQLITE_OK)
        LOGW("store cannot limit the WAL size", "err=\"%s\"", sqlite3_errmsg(wdb));
    /* Replaces SQLite's autocheckpoint, which is a WAL hook too. */
    sqlite3_wal_hook(wdb, wal_hook, c);
    *out = c;
    return 0;
}

void sqlite_ckpt_after_batch(sqlite_ckpt_t *c)
{
    if (!c || c->frames < c->pages)
        return;
    int hard = c->frames >= HARD_FACTOR * c->pages;
    int64_t now = 0;
    if (hard) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now < c->next_hard_ms)
            hard = 0;
    }
    pthread_mutex_lock(&c->mu);
    int tail = c->state == CK_TAIL;
    /* Only one checkpoint at a time (the others get SQLITE_BUSY at once,
     * whatever the mode): at the hard limit, let the passes finish. */
    while (hard && c->busy_copying)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (!tail && !hard)
        return;
    int log = -1, done = -1;
    /* RESTART waits (busy handler) for the readers, briefly. */
    if (hard)
        sqlite3_busy_timeout(c->wdb, HARD_WAIT_MS);
    int rc = sqlite3_wal_checkpoint_v2(c->wdb, NULL,
                                       hard ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
                                       &log, &done);
    if (hard)
        sqlite3_busy_timeout(c->wdb, c->busy_ms);
    int complete = rc == SQLITE_OK && done >= log;
    if (hard && !complete) {
        c->next_hard_ms = now + HARD_EVERY_MS;
        if (!c->held_warned)
            LOGW("store WAL cannot start over: a reader holds an old snapshot",
                 "wal_frames=%d copied=%d", log, done);
        c->held_warned = 1;
    } else if (complete) {
        c->held_warned = 0;
    }
    pthread_mutex_lock(&c->mu);
    if (hard)
        c->stats.writer_restarts++;
    else
        c->stats.writer_tails++;
    if (complete) {
        c->stats.complete++;
        c->state = CK_IDLE;
    } else if (c->state == CK_TAIL) {
        /* A reader held part of the WAL: another cycle rather than a
         * copy (and an fsync) on the writer after every batch. */
        c->state = CK_COPYING;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (complete)
        c->frames = 0; /* the next write transaction starts the WAL over */
    else if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
        LOGW("store checkpoint failed", "err=\"%s\"", sqlite3_errmsg(c->wdb));
}

void sqlite_ckpt_stats(sqlite_ckpt_t *c, sqlite_ckpt_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void sqlite_ckpt_stop(sqlite_ckpt_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    sqlite3_wal_hook(c->wdb, NULL, NULL);
    if (sqlite3_close(c->db) != SQLITE_OK)
        LOGE("store cannot close the checkpointer's connection", "err=\"%s\"",
             sqlite3_errmsg(c->db));
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
