/*
 * Tightening an existing data directory (see datadir.h).  Files are opened
 * with O_NOFOLLOW and changed with fchmod, so a link planted in the
 * directory cannot redirect the chmod elsewhere.
 */
#include "server/datadir.h"

#include "server/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

int datadir_tighten(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    tighten_fd(dfd, dir, 0700);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
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
    closedir(d);
    return 0;
}
