/*
 * Start-up guard against an empty database where one existed: see
 * datadir_guard.h.  Runs on the main thread before the loops start, so
 * its blocking file calls are fine.
 */
#include "server/core/datadir_guard.h"

#include "server/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Rename path to path.stale-<epoch> if it exists. */
static void move_aside(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    char to[1200];
    snprintf(to, sizeof to, "%s.stale-%lld", path, (long long)time(NULL));
    if (rename(path, to) == 0)
        LOGW("moved a stale file of the lost database aside", "from=\"%s\" to=\"%s\"", path, to);
    else
        LOGE("cannot move a stale database file aside", "path=\"%s\" err=\"%s\"", path,
             strerror(errno));
}

int datadir_guard_check(const char *data_dir, int allow_empty)
{
    char marker[1100], db[1100], wal[1100], shm[1100];
    if (join(marker, sizeof marker, data_dir, DATADIR_GUARD_MARKER) < 0 ||
        join(db, sizeof db, data_dir, "petrel.db") < 0 ||
        join(wal, sizeof wal, data_dir, "petrel.db-wal") < 0 ||
        join(shm, sizeof shm, data_dir, "petrel.db-shm") < 0) {
        LOGE("data_dir path too long", "data_dir=\"%s\"", data_dir);
        return -1;
    }
    struct stat sb;
    if (stat(marker, &sb) != 0)
        return 0; /* first start (or a data directory from before the marker) */
    int missing = stat(db, &sb) != 0;
    if (!missing && sb.st_size > 0)
        return 0;
    const char *what = missing ? "missing" : "empty";
    if (!allow_empty) {
        LOGE("refusing to start: the database is gone but this data directory held one",
             "db=\"%s\" state=%s marker=\"%s\" hint=\"restore petrel.db (with its -wal file) "
             "from a backup, or start once with --allow-empty-db=1 to begin with an EMPTY "
             "database\"",
             db, what, marker);
        return -1;
    }
    LOGW("STARTING ON AN EMPTY DATABASE although this data directory held one "
         "(allow_empty_db is on)", "db=\"%s\" state=%s", db, what);
    if (!missing)
        move_aside(db);
    move_aside(wal);
    move_aside(shm);
    return 0;
}

int datadir_guard_mark(const char *data_dir)
{
    char marker[1100];
    if (join(marker, sizeof marker, data_dir, DATADIR_GUARD_MARKER) < 0)
        return -1;
    int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        LOGW("cannot create the data directory marker", "path=\"%s\" err=\"%s\"", marker,
             strerror(errno));
        return -1;
    }
    char text[256];
    int n = snprintf(text, sizeof text,
                     "petrel data directory (marker written %lld).\n"
                     "petreld refuses to start when this file exists but petrel.db does not\n"
                     "(see allow_empty_db).  Delete it together with the database only.\n",
                     (long long)time(NULL));
    int rc = (n > 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0) ? 0 : -1;
    close(fd);
    /* the new directory entry must be durable too */
    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = -1;
        close(dfd);
    }
    if (rc != 0)
        LOGW("cannot write the data directory marker", "path=\"%s\"", marker);
    return rc;
}
