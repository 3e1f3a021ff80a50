/*
 * petreld entry point: configuration, storage, apps, session registry,
 * worker loops, then wait for SIGTERM/SIGINT on the main thread and shut
 * down in order: stop accepting and drain connections (workers), then
 * flush and close storage.  Exit code 0 on a clean shutdown.
 *
 * `petreld copy-sqlite [--key=value ...]` instead copies the SQLite
 * database of data_dir into the PostgreSQL database of the store setting
 * (store/copy.h) and exits: 0 copied and verified, 1 refused or failed,
 * 2 bad configuration.
 */
#include "server/api/api.h"
#include "server/app/boot.h"
#include "server/core/log.h"
#include "server/im/server.h"
#include "server/store/copy.h"

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

/* argv[0] is "copy-sqlite"; the flags follow, as for the server. */
static int copy_sqlite_main(int argc, char **argv)
{
    static config_t cfg;
    char err[512];
    config_defaults(&cfg);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            printf("usage: petreld copy-sqlite [--config=FILE] [--data-dir=DIR] "
                   "--store=postgres://... [--store-password-file=FILE]\n"
                   "Copies DIR/petrel.db into the (empty) PostgreSQL database, then checks "
                   "it.  Stop petreld first.\n\n");
    int rc = config_load(&cfg, argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "petreld copy-sqlite: %s\n", err);
        return 2;
    }
    scrub_secret_args(argc, argv);
    log_set_level(log_level_parse(cfg.log_level));
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    char pw[512];
    if (boot_store_password(cfg.store_password_file, pw, sizeof pw) < 0)
        return 2;
    store_config_t sc = {.data_dir = cfg.data_dir, .pg_conninfo = boot_pg_conninfo(&cfg),
                         .pg_password = pw[0] ? pw : NULL};
    rc = store_copy_sqlite(&sc, stdout, err, sizeof err);
    explicit_bzero(pw, sizeof pw);
    if (rc != 0) {
        fprintf(stderr, "petreld copy-sqlite: %s\n", err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "copy-sqlite") == 0)
        return copy_sqlite_main(argc - 1, argv + 1);
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

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->nworkers = s->cfg.workers > 0 ? (unsigned)s->cfg.workers : (unsigned)(cores > 0 ? cores : 1);
    if (s->nworkers > 255)
        s->nworkers = 255;

    /* each worker listens with SO_REUSEPORT: make sure no other process
     * does already, or connections would be split between the two */
    if ((s->cfg.tcp_listen[0] && net_check_free(s->cfg.tcp_listen) < 0) ||
        (s->cfg.http_listen[0] && net_check_free(s->cfg.http_listen) < 0))
        return 1;

    if (server_open(s) < 0)
        return 1;

    uv_loop_t *main_loop = uv_default_loop();
    uv_signal_init(main_loop, &sigterm);
    uv_signal_init(main_loop, &sigint);
    sigterm.data = sigint.data = s;

    /* Catch the signals before the workers listen: a SIGTERM sent as soon
     * as the port answers must not find the default action (death with
     * 143).  libuv only records it here; on_signal runs in uv_run below,
     * once the workers exist. */
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    if (workers_start(s) < 0) {
        LOGE("cannot start workers", NULL);
        return 1;
    }
    LOGI("ready", "node=%d workers=%u tcp=%s http=%s data_dir=%s store=%s schema=%d", s->cfg.node_id,
         s->nworkers, s->cfg.tcp_listen[0] ? s->cfg.tcp_listen : "off",
         s->cfg.http_listen[0] ? s->cfg.http_listen : "off", s->cfg.data_dir,
         s->cfg.store[0] && strcmp(s->cfg.store, "sqlite") != 0 ? "postgres" : "sqlite",
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
    server_close(s);
    uv_loop_close(main_loop);
    LOGI("stopped", NULL);
    return 0;
}
