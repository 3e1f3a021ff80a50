/*
 * What every store domain shares (store.h is the umbrella): the handle,
 * its configuration, open/close, the done callback, error codes and the
 * seed reject codes several domains return, stats and write health.
 *
 * Storage interface, backend-neutral: the SQLite backend (store/sqlite/)
 * implements it now, a PostgreSQL backend can later.  All writes go through
 * one writer thread that groups every operation queued during the previous
 * flush into a single transaction (group commit); completion callbacks run
 * on the writer thread, so callers on an event loop post the result back to
 * their loop and never wait on the disk.  Blocking calls (store_open, the
 * *_sync functions) never run on an event loop: they are for startup, tests
 * and libuv's thread pool (uv_queue_work).
 *
 * Concurrency: every *_sync read is safe from any number of threads at
 * once; reads borrow one of a small pool of read connections (read_conns)
 * and only wait when all are busy, never for the writer.  A read sees the
 * last committed state: a write whose done callback has run is visible to
 * every read that starts afterwards.
 *
 * Return convention: 0 on success, negative STORE_E* on failure.
 */
#ifndef PETREL_STORE_CORE_H
#define PETREL_STORE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "petrel/errors.h"

enum store_err {
    STORE_OK = 0,
    STORE_ENOTFOUND = -1,
    STORE_EIO = -2,       /* backend error (disk, SQL) */
    STORE_EINVAL = -3,
    STORE_ECLOSED = -4,   /* store is shutting down */
    STORE_ECONFLICT = -5, /* unique key violated */
    STORE_ESCHEMA = -6,   /* database schema is newer than this binary */
    /* Addition (issue 14, item 17): the database file was deleted or
     * replaced while open; every write fails with it until a restart. */
    STORE_EGONE = -9,
    STORE_EBUSY = -7,     /* the writer queue is full: nothing queued, retry later */
};

/* Short static English text for a STORE_E* code (for logs). */
const char *store_strerror(int rc);

typedef struct store store_t;

typedef struct store_config {
    const char *data_dir;       /* database lives at <data_dir>/petrel.db */
    /* Addition (issue 16): a libpq connection string (URL or key=value);
     * non-empty = the PostgreSQL backend instead of SQLite.  It may hold a
     * password: never logged. */
    const char *pg_conninfo;
    const char *pg_password;    /* NULL = from the conninfo, PGPASSWORD or ~/.pgpass */
    int synchronous_full;       /* 1: fsync on every commit (PRAGMA synchronous=FULL), 0: NORMAL */
    size_t max_batch;           /* most ops in one transaction (0 = 1024) */
    /* Addition: group-commit delay.  While writes keep arriving (the
     * previous commit ended less than 2 x this long ago) and fewer than
     * STORE_COMMIT_ENOUGH are queued, the writer waits up to this long
     * after the oldest queued write arrived before it begins the
     * transaction, so that moderate loads share one commit among more
     * writes.  An isolated write never waits.  0 = never wait. */
    int commit_delay_us;
    /* Addition: how long a connection waits for a lock held by another
     * process (e.g. an operator's sqlite3 shell) before the transaction
     * fails with STORE_EIO (0 = 5000 ms). */
    int busy_timeout_ms;
    /* Addition: read connections in the pool behind the *_sync reads, i.e.
     * how many reads run in parallel (0 = 4, at most 64).  Sized like the
     * thread pool that calls them; more only costs memory (page cache). */
    int read_conns;
    /* Addition: most entries of the writer's in-memory sequence cache
     * (per-conversation message sequences, per-owner conversation change
     * sequences, per-app last message key); a miss costs one indexed read
     * on the writer (0 = 100000, at least 16). */
    size_t seq_cache_max;
    /* Addition: WAL checkpoints on a thread of their own once the WAL holds
     * this many pages (4 KiB each); the writer copies the rest itself
     * between batches past 2 x, and waits for a full checkpoint at 8 x.
     * 0 = SQLite's default: a checkpoint inside the COMMIT that passes
     * 1000 pages, on the writer thread. */
    int wal_checkpoint_pages;
    /* Addition: a one-to-one message's transaction stores its body; the
     * two owners' history rows are written after the commit, sorted, once
     * this many messages of an app wait (readers take the rest from the
     * bodies, so nothing is ever missing).  0 = 8192. */
    int history_batch;
    /* Addition (issue 14, item 17): a write transaction still running
     * after this long (a hung disk, an fsync that does not return) makes
     * store_health report the writer stalled.  0 = 10000 ms. */
    int stall_ms;
    /* Addition: bound of the writer queue.  A message (store_msg_p2p, a
     * group SG_MSG) is refused with STORE_EBUSY while this many writes are
     * queued, any other asynchronous write at twice this; a waiting
     * (*_sync) write is never refused.  0 = 65536. */
    size_t max_queue;
    /* Addition: bytes of message bodies and extras (one-to-one and group)
     * an app may store; a new message over it is refused with reject
     * PETREL_ERR_QUOTA.  The usage is kept by the writer: on SQLite summed
     * at open (one scan); on PostgreSQL a counter in the database that
     * every node's commits add to and read back (cluster mode shares it).
     * 0 = no quota. */
    int64_t app_quota_bytes;
} store_config_t;

#define STORE_COMMIT_ENOUGH 64 /* queued writes that end a commit delay */
#define STORE_ID_MAX 128

/* Commit-latency histogram buckets.  store_hist_bounds_us[i] is bucket i's
 * inclusive upper bound in µs; the last one is UINT64_MAX and stands for
 * +Inf.  The bounds are fixed (not configurable) so exported series stay
 * comparable across restarts and builds. */
#define STORE_HIST_BUCKETS 13
extern const uint64_t store_hist_bounds_us[STORE_HIST_BUCKETS];

typedef struct store_stats {
    uint64_t commits;          /* transactions committed by the writer */
    uint64_t ops;              /* operations committed */
    uint64_t failures;         /* transactions rolled back */
    /* commit latency (addition: defined as BEGIN to COMMIT returned, the
     * whole transaction, i.e. what an op waits once the writer took it) */
    uint64_t commit_us_total;  /* sum of commit latencies (µs) */
    uint64_t commit_us_max;
    uint64_t queued;           /* ops currently waiting */
    /* Additions. */
    uint64_t op_failures;      /* ops that failed alone (constraint, update of a missing user)
                                * inside a committed transaction; per-row results of
                                * import/delete do not count */
    uint64_t batch_max;        /* most ops seen in one transaction */
    uint64_t busy_refusals;    /* writes refused with STORE_EBUSY (queue full) */
    /* Addition: commit latency distribution, same measure as commit_us_*.
     * Each committed transaction counts once, in the first bucket whose
     * bound >= its latency, so the buckets sum to commits.  Not
     * cumulative: a Prometheus exporter adds them up for le="...". */
    uint64_t commit_hist[STORE_HIST_BUCKETS];
    /* Addition: WAL checkpoints (store_config_t.wal_checkpoint_pages; all
     * 0 when SQLite's own autocheckpoint runs them inside COMMIT). */
    uint64_t ckpt_passes;      /* checkpointer thread passes */
    uint64_t ckpt_writer;      /* checkpoints the writer ran between batches */
    uint64_t ckpt_complete;    /* ... that copied the whole WAL (it then starts over) */
    /* Addition: history rows written in sorted batches (history_batch). */
    uint64_t history_rows;     /* rows written */
    uint64_t history_chunks;   /* transactions that wrote them */
    uint64_t history_waiting;  /* messages whose rows are not written yet */
} store_stats_t;

typedef void (*store_done_fn)(void *arg, int rc);

/* Open (creating the directory's database if needed), run migrations, start
 * the writer thread. */
int store_open(const store_config_t *cfg, store_t **out);

/* Stop accepting writes, commit everything queued (running its callbacks),
 * join the writer, close the database.  Safe on NULL.  Not from a done
 * callback (it would join its own thread; refused and logged).  No *_sync
 * read may be running or start once it is called (the caller drains its
 * thread-pool work first). */
void store_close(store_t *st);

/* Addition: the first half of store_close.  Stop accepting writes (puts
 * return STORE_ECLOSED from the moment it starts), commit everything queued
 * (running its callbacks) and join the writer, but keep the handle: reads
 * and store_get_stats still work until store_close.  Idempotent; returns
 * STORE_EINVAL (writes are still refused) when called from a done callback,
 * which cannot join its own thread.  Neither this nor store_close may run
 * concurrently with a store_close of the same handle. */
int store_shutdown(store_t *st);

/* Current schema version after migrations. */
int store_schema_version(store_t *st);

/* Liveness probe: a trivial read on the database (blocking, cheap). */
int store_ping_sync(store_t *st);

/* Addition (issue 14, item 17): write health.
 *
 * write_failing is set by every write transaction that fails (full disk,
 * I/O error, lock timeout) and cleared by every one that commits.  gone is
 * set, for good, once the database file (or its WAL) is found deleted or
 * replaced: SQLite would go on committing into the orphaned inode, so the
 * writer checks the files' identity after each commit, before any done
 * callback, and from then on answers every op STORE_EGONE (nothing acked
 * is lost at the next start, which refuses to run on the missing
 * database; see datadir_guard.h). */
typedef struct store_health {
    int gone;                /* database file deleted or replaced */
    const char *gone_why;    /* static text when gone, else NULL */
    int write_failing;       /* the last write transaction failed */
    uint64_t write_failures; /* write transactions failed since start */
    int64_t last_failure_ms; /* epoch ms of the last one, 0 = none */
    uint64_t busy_ms;        /* age of the write transaction running now, 0 = none */
    int stalled;             /* busy_ms over store_config_t.stall_ms */
} store_health_t;

/* The state as last observed; never blocks (for metrics, any thread). */
void store_health_get(store_t *st, store_health_t *out);
/* Blocking (stat of the database files; thread pool, never an event
 * loop): check the files' identity now (setting gone when it changed),
 * and, while write_failing, commit a probe write through the writer so
 * that a disk with room again clears it without waiting for traffic.
 * Then fill *out. */
void store_health_sync(store_t *st, store_health_t *out);

void store_get_stats(store_t *st, store_stats_t *out);

/* Refusals in the reject outputs of every domain (messages, recall,
 * friendship, groups) are PETREL_ERR_* codes of the one error table,
 * include/petrel/errors.h. */

#endif
