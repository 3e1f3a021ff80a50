/*
 * Opening and closing the server's parts in order, shared by petreld's
 * main() and the fuzzing harness (fuzz/harness.c) so the two cannot
 * drift: data directory checks, storage, apps, the demo app server,
 * sessions, user states, delivery (every push), presence, the event
 * subscribers and the connection limits.  It also composes the layers on
 * the runtime: the gateway is the socket protocol, api_handle the HTTP
 * handler, presence and net keep per-worker state through worker hooks.
 * Listening and the worker loops are started by the caller
 * (workers_start), the signals stay in main.c.
 */
#include "server/app/boot.h"

#include "server/api/api.h"
#include "server/im/apps.h"
#include "server/core/datadir.h"
#include "server/core/datadir_guard.h"
#include "server/deliver/deliver.h"
#include "server/gateway/gateway.h"
#include "server/net/http.h"
#include "server/core/log.h"
#include "server/im/presence.h"
#include "server/im/event.h"
#include "server/im/ustate.h"
#include "server/notify/friends.h"
#include "server/notify/users.h"
#include "server/notify/groups.h"
#include "server/notify/gmsg.h"
#include "server/notify/msg.h"
#include "server/notify/conv.h"
#include "server/notify/status.h"
#include "server/notify/presence.h"
#include "server/seam/idem.h"

#include <stdio.h>
#include <string.h>

static int presence_hook_init(worker_t *w, void *arg)
{
    (void)arg;
    presence_worker_init(w);
    return 0;
}

static void presence_hook_close(worker_t *w, void *arg)
{
    (void)arg;
    presence_worker_close(w);
}

static const worker_hooks_t presence_hooks = {
    .name = "presence",
    .init = presence_hook_init,
    .close = presence_hook_close,
};

/* The layers on the runtime, in worker hook order: gateway (socket
 * protocol, LOGIN batches), presence (debounce timers), net (listeners,
 * opened last). */
static int compose(server_t *s)
{
    s->owner = s;
    if (gw_install(s) < 0 || runtime_add_worker_hooks(&s->rt, &presence_hooks, s) < 0 ||
        net_install(&s->rt, &s->net_state) < 0)
        return -1;
    http_set_handler(&s->rt, api_handle);
    return 0;
}

const char *boot_pg_conninfo(const config_t *c)
{
    const char *v = c->store;
    if (!v[0] || strcmp(v, "sqlite") == 0)
        return NULL;
    return v;
}

int boot_store_password(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!path[0])
        return 0;
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, (int)cap, f)) {
        LOGE("cannot read the password file", "path=%s", path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

int server_open(server_t *s)
{
    char pw[512];
    if (boot_store_password(s->cfg.store_password_file, pw, sizeof pw) < 0)
        return -1;
    store_config_t sc = {
        .data_dir = s->cfg.data_dir,
        .pg_conninfo = boot_pg_conninfo(&s->cfg),
        .pg_password = pw[0] ? pw : NULL,
        .synchronous_full = s->cfg.store_sync_full,
        .max_batch = (size_t)s->cfg.store_max_batch,
        .commit_delay_us = s->cfg.store_commit_delay_us,
        .wal_checkpoint_pages = s->cfg.store_wal_checkpoint_pages,
        .history_batch = s->cfg.store_history_batch,
        .max_queue = (size_t)s->cfg.store_max_queue,
        .app_quota_bytes = (int64_t)s->cfg.app_quota_mb << 20,
    };
    s->limits.max_imei = (uint32_t)s->cfg.max_imei;
    s->limits.max_body = (uint32_t)s->cfg.max_body;
    if (datadir_tighten(s->cfg.data_dir) < 0)
        LOGW("cannot check data_dir permissions", "data_dir=%s", s->cfg.data_dir);
    /* The guard watches SQLite's file; PostgreSQL answers for its own data. */
    if (!sc.pg_conninfo && datadir_guard_check(s->cfg.data_dir, s->cfg.allow_empty_db) < 0)
        return -1;
    int orc = store_open(&sc, &s->store);
    explicit_bzero(pw, sizeof pw);
    if (orc < 0) {
        if (sc.pg_conninfo)
            LOGE("cannot open storage", "store=postgres (URL not logged)");
        else
            LOGE("cannot open storage", "data_dir=%s", s->cfg.data_dir);
        return -1;
    }
    if (apps_load(s->store, &s->apps) < 0 || apps_ensure_default(s->apps, s->store, &s->cfg) < 0) {
        LOGE("cannot load apps", NULL);
        store_close(s->store);
        return -1;
    }
    if (appserver_start(&s->cfg) < 0) {
        store_close(s->store);
        return -1;
    }
    if (!sc.pg_conninfo)
        datadir_guard_mark(s->cfg.data_dir);
    presence_reg_t *preg = NULL;
    if (boot_cluster(s, &preg) < 0) {
        LOGE("cannot create the session registry (or join the cluster)", NULL);
        if (preg)
            preg->ops->destroy(preg);
        store_close(s->store);
        return -1;
    }
    s->ustate = ustate_new();
    s->events = events_new();
    if (s->events && (notify_friends_subscribe(s->events, s) < 0 ||
                      notify_users_subscribe(s->events, s) < 0)) {
        LOGE("cannot subscribe the device notifications", NULL);
        store_close(s->store);
        return -1;
    }
    s->idem = idem_local_new(); /* NULL (out of memory): every send goes to the store */
    /* one node: no bus, every device is on a local worker; a cluster: the
     * devices of other nodes go over the bus (deliver.h) */
    deliver_cfg_t dc = {.rt = &s->rt, .nworkers = s->nworkers, .sess = s->sess, .store = s->store,
                        .metrics = &s->metrics,
                        .max_backlog = (uint64_t)s->cfg.max_delivery_backlog, .bus = s->bus,
                        .kick_later = gw_kick_after_login};
    s->deliver = s->sess ? deliver_new(&dc) : NULL;
    if (s->deliver && s->ustate && s->events)
        s->presence = presence_new(s, preg); /* takes preg, frees it on failure */
    else
        preg->ops->destroy(preg);
    if (!s->presence) {
        LOGE("cannot create sessions, delivery or presence", NULL);
        store_close(s->store);
        return -1;
    }
    if (notify_groups_subscribe(s->events, s) < 0) { /* group changes -> device pushes */
        LOGE("cannot subscribe the group notifications", NULL);
        store_close(s->store);
        return -1;
    }
    /* event subscribers: one registration per subscriber (im/event.h) */
    if (notify_msg_register(s) < 0 || notify_gmsg_register(s) < 0 ||
        notify_conv_subscribe(s->events, s) < 0 || notify_status_subscribe(s->events, s) < 0 ||
        notify_presence_subscribe(s->events, s) < 0) {
        LOGE("cannot subscribe the notifications", NULL);
        store_close(s->store);
        return -1;
    }
    if (compose(s) < 0) {
        LOGE("cannot compose the server (worker hook slots)", NULL);
        return -1;
    }
    net_raise_nofile(&s->rt);
    if (net_connlimit_init(&s->rt) < 0) {
        LOGE("cannot allocate the connection table", NULL);
        return -1;
    }
    return 0;
}

void server_close(server_t *s)
{
    presence_free(s->presence);
    /* the writer's last callbacks may still queue ordered pushes, which
     * read the store: drain the writer, then the pushes, then close */
    store_shutdown(s->store);
    deliver_free(s->deliver);
    s->deliver = NULL;
    workers_free(s); /* the writer and the pushes posted to their closed inboxes until here */
    boot_cluster_leave(s); /* the connections are gone: what is left of them in Redis too */
    boot_cluster_free(s);
    s->sess->ops->destroy(s->sess);
    apps_free(s->apps);
    ustate_free(s->ustate);
    events_free(s->events);
    s->events = NULL;
    idem_free(s->idem); /* after store_shutdown: the writer's callbacks put into it */
    s->idem = NULL;
    net_free(&s->rt);
    store_close(s->store);
}
