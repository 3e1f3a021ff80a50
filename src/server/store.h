/*
 * Storage interface.  Backend-neutral: the SQLite backend (store_sqlite.c)
 * implements it now, a PostgreSQL backend can later.  All writes go through
 * one writer thread that groups every operation queued during the previous
 * flush into a single transaction (group commit); completion callbacks run
 * on the writer thread, so callers on an event loop post the result back to
 * their loop and never wait on the disk.  Blocking calls (store_open, the
 * *_sync functions) are for startup and tests only, never on an event loop.
 *
 * Return convention: 0 on success, negative STORE_E* on failure.
 */
#ifndef PETREL_STORE_H
#define PETREL_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_err {
    STORE_OK = 0,
    STORE_ENOTFOUND = -1,
    STORE_EIO = -2,       /* backend error (disk, SQL) */
    STORE_EINVAL = -3,
    STORE_ECLOSED = -4,   /* store is shutting down */
    STORE_ECONFLICT = -5, /* unique key violated */
    STORE_ESCHEMA = -6,   /* database schema is newer than this binary */
};

/* Short static English text for a STORE_E* code (for logs). */
const char *store_strerror(int rc);

typedef struct store store_t;

typedef struct store_config {
    const char *data_dir;       /* database lives at <data_dir>/petrel.db */
    int synchronous_full;       /* 1: fsync on every commit (PRAGMA synchronous=FULL), 0: NORMAL */
    size_t max_batch;           /* most ops in one transaction (0 = 1024) */
    /* Addition: how long a connection waits for a lock held by another
     * process (e.g. an operator's sqlite3 shell) before the transaction
     * fails with STORE_EIO (0 = 5000 ms). */
    int busy_timeout_ms;
} store_config_t;

#define STORE_SECRET_MAX 128
#define STORE_ID_MAX 128

/* One tenant (app).  Fixed columns for what the server reads on hot paths;
 * the rest of the per-app settings in a JSON object text. */
typedef struct store_app {
    int32_t app_id;
    char secret[STORE_SECRET_MAX + 1];
    char admin_id[STORE_ID_MAX + 1];   /* identifier acting as app admin */
    int login_policy;                  /* policy_mode 1..4 */
    int max_per_platform;              /* 0 = unlimited */
    char settings[1024];               /* JSON object text, "{}" if none */
    int64_t created_at;                /* epoch ms */
} store_app_t;

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
    uint64_t op_failures;      /* ops that failed alone (constraint) inside a committed transaction */
    uint64_t batch_max;        /* most ops seen in one transaction */
} store_stats_t;

typedef void (*store_done_fn)(void *arg, int rc);

/* Open (creating the directory's database if needed), run migrations, start
 * the writer thread. */
int store_open(const store_config_t *cfg, store_t **out);

/* Stop accepting writes, commit everything queued (running its callbacks),
 * join the writer, close the database.  Safe on NULL.  Not from a done
 * callback (it would join its own thread; refused and logged). */
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

/* Asynchronous upsert of an app through the writer (group commit).  done may
 * be NULL.  The app is copied.  done(arg, rc) runs exactly once, on the
 * writer thread, after the transaction holding the op committed (rc 0) or
 * failed: STORE_EINVAL / STORE_ECONFLICT for an op a constraint rejected
 * (the rest of its batch still commits), STORE_EIO when the transaction
 * failed as a whole.  When store_app_put itself returns non-zero, done is
 * not called.  created_at <= 0 means "now"; an update keeps the stored
 * created_at; an empty settings string is stored as "{}".  Strings must be
 * NUL-terminated within their arrays (else STORE_EINVAL). */
int store_app_put(store_t *st, const store_app_t *app, store_done_fn done, void *arg);

/* Blocking helpers for startup and tests.  store_app_put_sync goes through
 * the writer like store_app_put and returns the op's rc; calling it from a
 * done callback (the writer thread) would deadlock and returns STORE_EINVAL. */
int store_app_put_sync(store_t *st, const store_app_t *app);
int store_app_get_sync(store_t *st, int32_t app_id, store_app_t *out);
/* All apps by app_id; *out is malloc'ed (free()), *n set; *out is NULL
 * when there are none. */
int store_app_list_sync(store_t *st, store_app_t **out, size_t *n);

/* Liveness probe: a trivial read on the database (blocking, cheap). */
int store_ping_sync(store_t *st);

void store_get_stats(store_t *st, store_stats_t *out);

#endif
