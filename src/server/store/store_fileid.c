/*
 * Identity watch of the database files: see store_fileid.h.
 */
#include "server/store/store_fileid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int ent_set(store_fileid_ent_t *e, const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    e->path = malloc(n);
    if (!e->path)
        return -1;
    snprintf(e->path, n, "%s%s", path, suffix);
    atomic_store(&e->known, 0);
    return 0;
}

int store_fileid_init(store_fileid_t *f, const char *db_path)
{
    memset(f, 0, sizeof *f);
    if (ent_set(&f->ent[0], db_path, "") < 0 || ent_set(&f->ent[1], db_path, "-wal") < 0) {
        store_fileid_free(f);
        return -1;
    }
    f->n = 2;
    struct stat sb;
    if (stat(f->ent[0].path, &sb) != 0) {
        store_fileid_free(f);
        return -1;
    }
    atomic_store(&f->ent[0].dev, (uint64_t)sb.st_dev);
    atomic_store(&f->ent[0].ino, (uint64_t)sb.st_ino);
    atomic_store(&f->ent[0].known, 1);
    if (stat(f->ent[1].path, &sb) == 0) {
        atomic_store(&f->ent[1].dev, (uint64_t)sb.st_dev);
        atomic_store(&f->ent[1].ino, (uint64_t)sb.st_ino);
        atomic_store(&f->ent[1].known, 1);
    }
    return 0;
}

int store_fileid_check(store_fileid_t *f, const char **why)
{
    for (int i = 0; i < f->n; i++) {
        store_fileid_ent_t *e = &f->ent[i];
        struct stat sb;
        int known = atomic_load(&e->known);
        if (stat(e->path, &sb) != 0) {
            if (known && (errno == ENOENT || errno == ENOTDIR)) {
                *why = i == 0 ? "database file deleted or moved" : "WAL file deleted or moved";
                return -1;
            }
            continue;
        }
        if (!known) {
            /* A WAL created after open: first sight (a racing check
             * records the same values). */
            atomic_store(&e->dev, (uint64_t)sb.st_dev);
            atomic_store(&e->ino, (uint64_t)sb.st_ino);
            atomic_store(&e->known, 1);
            continue;
        }
        if ((uint64_t)sb.st_dev != atomic_load(&e->dev) ||
            (uint64_t)sb.st_ino != atomic_load(&e->ino)) {
            *why = i == 0 ? "database file replaced by another file"
                          : "WAL file replaced by another file";
            return -1;
        }
    }
    return 0;
}

void store_fileid_free(store_fileid_t *f)
{
    for (int i = 0; i < STORE_FILEID_MAX; i++) {
        free(f->ent[i].path);
        f->ent[i].path = NULL;
    }
    f->n = 0;
}
