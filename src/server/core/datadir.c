/*
 * Tightening an existing data directory (see datadir.h).  Only the files
 * petreld itself creates there are changed (the database and its journal
 * files, app-<id>.secret), so a data_dir pointed at a shared directory by
 * mistake does not get its other files changed.  Files are opened with
 * O_NOFOLLOW and changed with fchmod, so a link planted in the directory
 * cannot redirect the chmod elsewhere.
 */
#include "server/core/datadir.h"
#include "server/core/datadir_guard.h"

#include "server/core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make the object behind fd mode `want` if it allows more; 1 changed. */
static int tighten_fd(int fd, const char *path, mode_t want)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (sb.st_mode & 07777 & ~want) == 0)
        return 0;
    if (sb.st_uid != geteuid()) {
        LOGW("data_dir entry is readable by other users and not ours to fix", "path=\"%s\" mode=%o",
             path, (unsigned)(sb.st_mode & 07777));
        return 0;
    }
    if (fchmod(fd, want) != 0) {
        LOGW("cannot restrict data_dir entry", "path=\"%s\" err=\"%s\"", path, strerror(errno));
        return 0;
    }
    LOGW("restricted data_dir entry to its owner", "path=\"%s\" was=%o now=%o", path,
         (unsigned)(sb.st_mode & 07777), (unsigned)want);
    return 1;
}

/* A file petreld creates in the data directory. */
static int ours(const char *name)
{
    static const char *const db[] = {"petrel.db", "petrel.db-wal", "petrel.db-shm",
                                     "petrel.db-journal", DATADIR_GUARD_MARKER};
    for (size_t i = 0; i < sizeof db / sizeof db[0]; i++)
        if (!strcmp(name, db[i]))
            return 1;
    /* app-<digits>.secret */
    if (strncmp(name, "app-", 4) != 0)
        return 0;
    const char *p = name + 4;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return !strcmp(p, ".secret");
}

static int is_dot(const char *n)
{
    return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

int datadir_tighten(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    /* Our files to 0600; count what is not ours. */
    size_t foreign = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (is_dot(e->d_name))
            continue;
        if (!ours(e->d_name)) {
            foreign++;
            continue;
        }
        int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            continue; /* a symlink (ELOOP), gone, or unreadable: leave it */
        struct stat sb;
        if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            tighten_fd(fd, path, 0600);
        }
        close(fd);
    }
    /* The directory to 0700 only when it is petreld's alone: a shared one
     * (other files in it, world-writable or sticky like /tmp) is reported,
     * not changed behind its owner's back. */
    struct stat sb;
    if (fstat(dfd, &sb) == 0 && (sb.st_mode & 077)) {
        if (foreign || (sb.st_mode & (S_IWOTH | S_ISVTX)))
            LOGW("data_dir is readable by other users and holds other files; not changing it",
                 "path=\"%s\" mode=%o", dir, (unsigned)(sb.st_mode & 07777));
        else
            tighten_fd(dfd, dir, 0700);
    }
    closedir(d); /* closes dfd */
    return 0;
}

int datadir_make(const char *dir)
{
    size_t len = strlen(dir);
    char *p = malloc(len + 1);
    if (!p)
        return -1;
    memcpy(p, dir, len + 1);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        /* Some filesystems report EACCES/EROFS before EEXIST for a parent
         * that already exists, so judge by what is there. */
        int e = mkdir(p, 0700) == 0 ? 0 : errno;
        if (e != 0 && e != EEXIST && (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            LOGE("store mkdir failed", "path=\"%s\" err=\"%s\"", p, strerror(e));
            rc = -1;
        }
        p[i] = c;
    }
    free(p);
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        LOGE("store data_dir is not a directory", "path=\"%s\"", dir);
        rc = -1;
    }
    return rc;
}
