/*
 * petreld entry point: configuration, storage, apps, session registry,
 * worker loops, then wait for SIGTERM/SIGINT on the main thread and shut
 * down in order: stop accepting and drain connections (workers), then
 * flush and close storage.  Exit code 0 on a clean shutdown.
 */
#include "server/api.h"
#include "server/apps.h"
#include "server/datadir.h"
#include "server/datadir_guard.h"
#include "server/gpush.h"
#include "server/log.h"
#include "server/presence.h"
#include "server/server.h"
#include "server/ustate.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uv_signal_t sigterm, sigint;

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *s = h->data;
    if (atomic_load(&s->stopping)) {
        LOGI("already shutting down", "signal=%d", signum);
        return;
    }
    LOGI("shutting down", "signal=%d", signum);
    workers_stop(s);
    /* The handlers stay installed (a second signal must not kill the
     * process mid-drain) but no longer keep the main loop running. */
    uv_unref((uv_handle_t *)&sigterm);
    uv_unref((uv_handle_t *)&sigint);
}

/* Overwrite the value of --app-secret (any spelling config.c accepts) in
 * argv once it is parsed: /proc/<pid>/cmdline and ps show argv to every
 * local user, and the secret mints admin tokens. */
static void scrub_secret_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            continue;
        a += 2;
        static const char key[] = "app_secret";
        size_t k = 0;
        for (; a[k] && a[k] != '=' && k < sizeof key - 1; k++) {
            char c = a[k] == '-' ? '_' : (char)((a[k] >= 'A' && a[k] <= 'Z') ? a[k] - 'A' + 'a' : a[k]);
            if (c != key[k])
                break;
        }
        if (k != sizeof key - 1)
            continue;
        if (a[k] == '=')
            memset(argv[i] + 2 + k + 1, 'x', strlen(a + k + 1));
        else if (a[k] == '\0' && i + 1 < argc)
            memset(argv[i + 1], 'x', strlen(argv[i + 1]));
    }
}

int main(int argc, char **argv)
{
    static server_t srv;
    server_t *s = &srv;
    char err[512];
    config_defaults(&s->cfg);
    int rc = config_load(&s->cfg, argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "petreld: %s\n", err);
        return 2;
    }
    scrub_secret_args(argc, argv);
    log_set_level(log_level_parse(s->cfg.log_level));
    /* Everything petreld creates (database, -wal/-shm, secret files, the
     * data directory) is for its own user only: see datadir.h. */
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    s->limits.max_imei = (uint32_t)s->cfg.max_imei;
    s->limits.max_body = (uint32_t)s->cfg.max_body;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->nworkers = s->cfg.workers > 0 ? (unsigned)s->cfg.workers : (unsigned)(cores > 0 ? cores : 1);
    if (s->nworkers > 255)
        s->nworkers = 255;

    /* each worker listens with SO_REUSEPORT: make sure no other process
     * does already, or connections would be split between the two */
    if ((s->cfg.tcp_listen[0] && net_check_free(s->cfg.tcp_listen) < 0) ||
        (s->cfg.http_listen[0] && net_check_free(s->cfg.http_listen) < 0))
        return 1;

    store_config_t sc = {
        .data_dir = s->cfg.data_dir,
        .synchronous_full = s->cfg.store_sync_full,
        .max_batch = (size_t)s->cfg.store_max_batch,
        .commit_delay_us = s->cfg.store_commit_delay_us,
        .wal_checkpoint_pages = s->cfg.store_wal_checkpoint_pages,
        .history_batch = s->cfg.store_history_batch,
        .max_queue = (size_t)s->cfg.store_max_queue,
        .app_quota_bytes = (int64_t)s->cfg.app_quota_mb << 20,
    };
    if (datadir_tighten(s->cfg.data_dir) < 0)
        LOGW("cannot check data_dir permissions", "data_dir=%s", s->cfg.data_dir);
    if (datadir_guard_check(s->cfg.data_dir, s->cfg.allow_empty_db) < 0)
        return 1;
    if (store_open(&sc, &s->store) < 0) {
        LOGE("cannot open storage", "data_dir=%s", s->cfg.data_dir);
        return 1;
    }
    if (apps_load(s->store, &s->apps) < 0 || apps_ensure_default(s->apps, s->store, &s->cfg) < 0) {
        LOGE("cannot load apps", NULL);
        store_close(s->store);
        return 1;
    }
    if (appserver_start(&s->cfg) < 0) {
        store_close(s->store);
        return 1;
    }
    datadir_guard_mark(s->cfg.data_dir);
    s->sess = sess_local_new();
    s->ustate = ustate_new();
    s->presence = s->sess && s->ustate ? presence_new(s) : NULL;
    s->gpush = s->presence ? gpush_new(s) : NULL;
    if (!s->gpush) {
        store_close(s->store);
        return 1;
    }

    uv_loop_t *main_loop = uv_default_loop();
    uv_signal_init(main_loop, &sigterm);
    uv_signal_init(main_loop, &sigint);
    sigterm.data = sigint.data = s;

    net_raise_nofile(s);
    if (net_connlimit_init(s) < 0) {
        LOGE("cannot allocate the connection table", NULL);
        return 1;
    }
    if (workers_start(s) < 0) {
        LOGE("cannot start workers", NULL);
        return 1;
    }
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    LOGI("ready", "node=%d workers=%u tcp=%s http=%s data_dir=%s schema=%d", s->cfg.node_id,
         s->nworkers, s->cfg.tcp_listen[0] ? s->cfg.tcp_listen : "off",
         s->cfg.http_listen[0] ? s->cfg.http_listen : "off", s->cfg.data_dir,
         store_schema_version(s->store));

    /* The main loop only has the signal handles: it returns once one fired
     * and unref'ed them. */
    uv_run(main_loop, UV_RUN_DEFAULT);

    /* While the workers still exist (their replies go through worker_post):
     * password jobs still waiting are answered 503, running ones finish,
     * and the registrations they handed to the store are answered. */
    appserver_stop();
    workers_join(s);
    appserver_free();
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_run(main_loop, UV_RUN_DEFAULT);
    presence_free(s->presence);
    /* the writer's last callbacks may still queue group pushes, which read
     * the store: drain the writer, then the pushes, then close */
    store_shutdown(s->store);
    gpush_free(s->gpush);
    s->gpush = NULL;
    workers_free(s); /* the writer and the pushes posted to their closed inboxes until here */
    s->sess->ops->destroy(s->sess);
    apps_free(s->apps);
    ustate_free(s->ustate);
    connlimit_free(s->connlimit);
    s->connlimit = NULL;
    store_close(s->store);
    uv_loop_close(main_loop);
    LOGI("stopped", NULL);
    return 0;
}
