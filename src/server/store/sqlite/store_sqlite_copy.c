/*
 * SQLite backend: the source side of a copy into another backend
 * (store/copy.h, `petreld copy-sqlite`): the rows of one read statement,
 * streamed as text to a callback.  It runs on the writer connection,
 * inside the transaction the copy opened with tx_begin (BEGIN IMMEDIATE):
 * every statement of the copy reads the same state, and no other process
 * writes while the copy runs.  Nothing here is on a server path.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#include "server/core/log.h"

#include <stdlib.h>
#include <string.h>

int sqlx_rows(store_backend_t *be, const char *sql, store_row_fn row, void *arg)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(be->wdb, sql, -1, &q, NULL) != SQLITE_OK) {
        sqlx_log_err(be->wdb, "copy: prepare");
        return STORE_EIO;
    }
    int n = sqlite3_column_count(q);
    const char **vals = calloc(n > 0 ? (size_t)n : 1, sizeof *vals);
    if (!vals) {
        sqlite3_finalize(q);
        return STORE_EIO;
    }
    int rc = 0, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < n && rc == 0; i++) {
            vals[i] = (const char *)sqlite3_column_text(q, i);
            if (!vals[i] && sqlite3_column_type(q, i) != SQLITE_NULL)
                rc = STORE_EIO; /* out of memory */
            /* A text with a NUL inside would be cut short: refuse it
             * rather than copy something else. */
            else if (vals[i] && strlen(vals[i]) != (size_t)sqlite3_column_bytes(q, i)) {
                LOGE("copy: a value holds a NUL byte", "column=%s", sqlite3_column_name(q, i));
                rc = STORE_EINVAL;
            }
        }
        if (rc == 0)
            rc = row(arg, vals, (size_t)n);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        sqlx_log_err(be->wdb, "copy: read");
        rc = STORE_EIO;
    }
    free(vals);
    sqlite3_finalize(q);
    return rc;
}
