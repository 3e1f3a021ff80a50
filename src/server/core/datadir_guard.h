/*
 * Start-up guard: never start silently on an empty database where one
 * existed (issue 14, item 17).
 *
 * SQLite creates a missing database without a word, so a petrel.db that
 * was deleted (by hand, a clean-up job, a volume that did not mount under
 * the data directory's path...) used to come back as an empty server
 * that acked new writes while every user, message and secret was gone.
 * The first successful start leaves a marker file next to the database;
 * a later start that finds the marker but no database, or a zero-length
 * one, refuses to run unless allow_empty_db is set, and then moves any
 * stale WAL/SHM files of the lost database aside (SQLite would otherwise
 * replay a foreign WAL into the new file).
 */
#ifndef PETREL_DATADIR_GUARD_H
#define PETREL_DATADIR_GUARD_H

#define DATADIR_GUARD_MARKER ".petrel-data"

/* Before store_open.  0: go on; -1: refuse to start (logged). */
int datadir_guard_check(const char *data_dir, int allow_empty);

/* After the store opened: create the marker if it is missing (0600,
 * synced).  0, or -1 (logged as a warning; the server still runs). */
int datadir_guard_mark(const char *data_dir);

#endif
