/*
 * server_open / server_close: the server's parts in start-up and shutdown
 * order (see boot.c).  petreld's main() and the fuzzing harness use them.
 */
#ifndef PETREL_BOOT_H
#define PETREL_BOOT_H

#include "server/im/server.h"
#include "server/seam/presence_reg.h"

/* After config_load (s->cfg set, s->nworkers chosen, umask set): data
 * directory checks, storage, apps, demo app server, sessions, presence,
 * group pushes, descriptor limit and connection table.  0, or -1 logged. */
int server_open(server_t *s);

/* The store setting: NULL for SQLite ("" or "sqlite"), else the
 * PostgreSQL conninfo. */
const char *boot_pg_conninfo(const config_t *c);

/* The first line of a password file (store_password_file,
 * redis_password_file) into buf ("" when path is ""); 0, or -1 (logged).
 * The caller wipes buf after use. */
int boot_store_password(const char *path, char *buf, size_t cap);

/* cluster_boot.c.  Sessions, presence subscriptions and the bus: with
 * cfg.redis, join the cluster (s->cnode, s->cstats, s->bus) and use the
 * Redis implementations; else the in-process ones.  0, or -1 logged. */
int boot_cluster(server_t *s, presence_reg_t **reg);
/* Leave the cluster (after the connections closed), then free the bus
 * and counters (after deliver_free). */
void boot_cluster_leave(server_t *s);
void boot_cluster_free(server_t *s);

/* After workers_join and appserver_free: everything server_open made,
 * and the workers (workers_free) once nothing posts to them any more. */
void server_close(server_t *s);

#endif
