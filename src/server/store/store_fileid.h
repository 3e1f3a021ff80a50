/*
 * Identity watch of the database files (issue 14, item 17).
 *
 * A SQLite connection keeps writing into the inode it opened: when an
 * operator (or a clean-up job) deletes or replaces petrel.db or its WAL
 * while petreld runs, every later commit still "succeeds" and is acked,
 * then vanishes at the next start.  The store therefore remembers the
 * device and inode of each file when it opens the database and compares
 * them with what the path names now: after every group commit (before any
 * ack) and on each health check.  Blocking (stat), so never on an event
 * loop; any thread, lock-free (the identities are written once, at open,
 * except a WAL that did not exist yet, recorded by the first check that
 * sees it; atomics, so racing checks are harmless).
 */
#ifndef PETREL_STORE_FILEID_H
#define PETREL_STORE_FILEID_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_FILEID_MAX 2 /* the database and its WAL */

typedef struct store_fileid_ent {
    char *path;
    atomic_int known;   /* dev/ino recorded (set after them) */
    _Atomic uint64_t dev, ino;
} store_fileid_ent_t;

typedef struct store_fileid {
    store_fileid_ent_t ent[STORE_FILEID_MAX];
    int n;
} store_fileid_t;

/* Record db_path and db_path + "-wal".  The database must exist (0, or -1
 * when it cannot be stat'ed or memory is short); a WAL that does not exist
 * yet is recorded later. */
int store_fileid_init(store_fileid_t *f, const char *db_path);

/* 0 while every recorded path still names the recorded file; -1 with *why
 * (static text) when one is gone (ENOENT/ENOTDIR) or is another file.
 * Other stat errors (EACCES, EIO) say nothing and count as 0. */
int store_fileid_check(store_fileid_t *f, const char **why);

void store_fileid_free(store_fileid_t *f);

#endif
