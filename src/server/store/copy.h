/*
 * Moving a SQLite database into PostgreSQL (issue 16; `petreld
 * copy-sqlite`, docs/OPERATIONS.md "Moving from SQLite to PostgreSQL").
 * Offline: no petreld may run on either database meanwhile.
 */
#ifndef PETREL_STORE_COPY_H
#define PETREL_STORE_COPY_H

#include "server/store/core.h"

#include <stdio.h>

/* Copy <cfg->data_dir>/petrel.db into the PostgreSQL database
 * cfg->pg_conninfo (password cfg->pg_password, may be NULL), which must
 * hold no data (its schema is created or migrated as a server would).
 *
 * The SQLite database is first brought to this binary's schema and its
 * deferred history rows are written (as a server start does); the copy
 * then reads it inside one write-locked transaction, so no other process
 * changes it meanwhile.  Every table goes over in ONE PostgreSQL
 * transaction, followed by the numbers PostgreSQL allocates (counters,
 * identities), and is checked before COMMIT: row counts per table, and
 * per one-to-one pair and per group the highest message sequence and the
 * number of messages, equal on both sides.  Anything wrong rolls back:
 * the destination stays empty.
 *
 * Progress and the final report (tables, rows, seconds) go to out.
 * Returns 0, or a negative STORE_E* with a one-line reason in err
 * (STORE_ECONFLICT: the destination holds data; STORE_ENOTFOUND: no
 * SQLite database; STORE_EINVAL: not a PostgreSQL destination, or data
 * that cannot be copied).  Blocking; not on an event loop. */
int store_copy_sqlite(const store_config_t *cfg, FILE *out, char *err, size_t errcap);

#endif
