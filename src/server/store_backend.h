/*
 * Internal contract between the store front (store.c: queue, writer thread,
 * group commit, stats) and a storage backend (store_sqlite.c now, maybe
 * PostgreSQL later).  The front owns threading and batching policy; a
 * backend only knows how to run one transaction at a time on its writer
 * connection and how to serve blocking reads.  Keeping the vtable this
 * small is what lets a second backend be added without touching store.c.
 *
 * Threading contract:
 *   - open/close/schema_version: the thread calling store_open/store_close.
 *   - tx_*, op_*, app_put: only the writer thread, strictly serially, one
 *     transaction at a time: tx_begin, then per op op_begin, the op,
 *     op_end, then tx_commit or tx_rollback.
 *   - app_get/app_list/ping: any thread, concurrently with the writer; the
 *     backend serialises them itself on a connection separate from the
 *     writer's, so a read never queues behind a write batch.
 * All return 0 or a negative STORE_E* code.
 */
#ifndef PETREL_STORE_BACKEND_H
#define PETREL_STORE_BACKEND_H

#include "server/store.h"

/* Each backend defines its own struct store_backend, private to its file. */
typedef struct store_backend store_backend_t;

typedef struct store_backend_ops {
    const char *name;

    /* Create/open the database, apply pending migrations.  STORE_ESCHEMA
     * when the database is newer than this binary. */
    int (*open)(const store_config_t *cfg, store_backend_t **out);
    void (*close)(store_backend_t *be);
    int (*schema_version)(store_backend_t *be);

    /* Writer thread only. */
    int (*tx_begin)(store_backend_t *be);
    int (*tx_commit)(store_backend_t *be);  /* on failure the caller still calls tx_rollback */
    void (*tx_rollback)(store_backend_t *be);
    /* Isolate one op inside the transaction (a savepoint in SQL terms).
     * op_end(failed=1) undoes just that op; a non-zero return from either
     * means the whole transaction is lost and must be rolled back. */
    int (*op_begin)(store_backend_t *be);
    int (*op_end)(store_backend_t *be, int failed);
    int (*app_put)(store_backend_t *be, const store_app_t *app);

    /* Any thread. */
    int (*app_get)(store_backend_t *be, int32_t app_id, store_app_t *out);
    int (*app_list)(store_backend_t *be, store_app_t **out, size_t *n);
    int (*ping)(store_backend_t *be);
} store_backend_ops_t;

extern const store_backend_ops_t store_sqlite_backend;

/* store_migrate.c: versioned schema migrations for the SQLite backend. */
struct sqlite3;

/* Highest schema version this binary knows. */
int store_migrate_latest(void);

/* Apply every migration newer than the database's version, in order, each
 * in its own transaction.  STORE_ESCHEMA (nothing touched) if the database
 * is newer than store_migrate_latest().  *version gets the resulting
 * version. */
int store_migrate_sqlite(struct sqlite3 *db, int *version);

/* Wall-clock epoch milliseconds (created_at, applied_at). */
int64_t store_now_ms(void);

#endif
