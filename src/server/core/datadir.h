/*
 * The data directory's permissions.  It holds the database (with every
 * app's HMAC secret, which mints admin tokens) and the generated secret
 * files, so only petreld's own user may read it: petreld runs with umask
 * 077 (set in main before anything is created, so SQLite's database,
 * -wal and -shm files and the secret files are born 0600 in a 0700
 * directory), and datadir_tighten() fixes a directory made by an older
 * version or by hand: petreld's own files in it (petrel.db, -wal, -shm,
 * -journal, app-<id>.secret) to 0600, and the directory itself to 0700
 * unless it also holds other files or is world-writable or sticky (then a
 * warning says so), each change logged.  Symbolic links are left alone,
 * and so is what another user owns (a warning says so).
 */
#ifndef PETREL_DATADIR_H
#define PETREL_DATADIR_H

/* 0 (including "does not exist yet": the store creates it 0700), or -1
 * when the directory cannot be read. */
int datadir_tighten(const char *dir);

/* mkdir -p dir (the store's open, on either backend: the directory also
 * holds the generated secret files).  Only the directories it creates
 * get 0700; existing ones are left as the operator set them.  0, or -1
 * (logged) when dir is not a directory afterwards. */
int datadir_make(const char *dir);

#endif
