/*
 * Configuration table and the three sources that feed it (see config.h).
 * Adding a key = one row in `keys` + one field in config_t + one entry in
 * petrel.conf.example (the unit test fails otherwise).
 */
#include "server/core/config.h"
#include "server/core/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_INT, K_BOOL };

typedef struct key {
    const char *name;
    enum kind kind;
    size_t off;
    size_t size;      /* for strings */
    long min, max;    /* for ints */
    unsigned mask;    /* explicit_mask bit */
    const char *help;
} cfg_key_t;

#define S(f, h) {#f, K_STR, offsetof(config_t, f), sizeof(((config_t *)0)->f), 0, 0, 0, h}
#define SM(f, m, h) {#f, K_STR, offsetof(config_t, f), sizeof(((config_t *)0)->f), 0, 0, m, h}
#define I(f, lo, hi, h) {#f, K_INT, offsetof(config_t, f), 0, lo, hi, 0, h}
#define IM(f, lo, hi, m, h) {#f, K_INT, offsetof(config_t, f), 0, lo, hi, m, h}
#define B(f, h) {#f, K_BOOL, offsetof(config_t, f), 0, 0, 1, 0, h}

static const cfg_key_t keys[] = {
    S(data_dir, "directory for the database and generated secrets"),
    S(store, "storage: empty or sqlite = embedded SQLite in data_dir; postgres://user@host:port/db (or a libpq key=value string) = PostgreSQL"),
    S(store_password_file, "file holding the PostgreSQL password (else the URL, PGPASSWORD or ~/.pgpass)"),
    I(node_id, 0, 1023, "node id (unique per cluster node; part of message keys)"),
    S(redis, "cluster mode: redis://[:password@]host[:port][/db] shared by every node (empty = one node); needs a postgres store"),
    S(redis_password_file, "file holding the Redis password (else the URL)"),
    I(node_heartbeat_ms, 100, 3600000, "cluster: how often a node tells Redis it is alive"),
    I(node_timeout_ms, 500, 3600000, "cluster: a node silent this long is dead; its sessions are removed"),
    I(workers, 0, 256, "event-loop threads (0 = number of cores)"),
    S(tcp_listen, "host:port of the binary TCP gateway (empty = off)"),
    S(http_listen, "host:port of HTTP, REST and WebSocket /ws"),
    S(web_root, "directory of the web client served at /"),
    S(log_level, "debug, info, warn or error"),
    I(app_id, 1, 2147483647L, "id of the default app created on first start"),
    SM(app_secret, CONFIG_SET_APP_SECRET, "default app secret (empty = generate into data_dir)"),
    SM(app_admin, CONFIG_SET_APP_ADMIN, "identifier acting as the default app's admin"),
    IM(login_policy, 1, 4, CONFIG_SET_LOGIN_POLICY, "default app multi-device mode 1..4"),
    IM(max_per_platform, 0, 1000, CONFIG_SET_MAX_PER_PLATFORM, "default app devices per clientType (0 = no cap)"),
    I(heartbeat_interval_ms, 10, 3600000, "expected PING interval"),
    I(heartbeat_miss, 1, 100, "silent intervals before a connection is closed"),
    I(login_timeout_ms, 10, 3600000, "time allowed between connect and LOGIN"),
    I(http_idle_timeout_ms, 10, 3600000, "idle keep-alive HTTP connections are closed after this"),
    I(shutdown_timeout_ms, 10, 600000, "longest wait for pending writes on shutdown"),
    I(max_imei, 1, 4096, "largest imei (bytes) in an uplink header"),
    I(max_body, 64, 16777216, "largest uplink body (bytes)"),
    B(legacy_unsigned_login, "accept LOGIN without userSign (UNSAFE, for old clients)"),
    B(store_sync_full, "fsync every group commit (1) or rely on WAL+NORMAL (0)"),
    I(store_max_batch, 1, 100000, "most writes in one group commit"),
    I(store_commit_delay_us, 0, 100000, "under load, wait up to this long (us) to fill a group commit"),
    I(store_wal_checkpoint_pages, 0, 1000000, "WAL pages that start a checkpoint on its own thread (0 = SQLite's, inside COMMIT)"),
    I(store_history_batch, 1, 1000000, "one-to-one messages whose history rows are written together, sorted by owner"),
    S(public_tcp, "TCP gateway addresses given to clients, host:port[,host:port...] (empty = from tcp_listen)"),
    S(public_ws, "WebSocket addresses given to web clients, host:port[,...] (empty = from http_listen)"),
    S(route_strategy, "gateway choice for /v1/user/login: random, round_robin or hash"),
    B(demo_app_server, "serve the built-in demo app server at /app/v1 (register, login)"),
    B(demo_app_remote, "let /app/v1 answer clients that are not on this machine (loopback)"),
    I(demo_app_register_per_ip, 1, 1000, "demo app registrations one client IP may make per 10 minutes"),
    I(demo_app_login_per_ip, 1, 1000, "demo app login attempts one client IP may make per minute"),
    I(password_threads, 1, 64, "threads hashing demo app passwords (a pool of their own)"),
    I(password_queue, 1, 100000, "password jobs that may wait for those threads (more: 503, retry)"),
    I(app_token_ttl, 60, 31536000, "lifetime (s) of userSign tokens issued by the demo app server"),
    I(recall_window_ms, 0, 86400000, "how long after sending a message may be recalled (server time)"),
    S(cors_origins, "origins allowed to call the REST API from a browser, comma-separated (empty = CORS off)"),
    I(max_connections, 0, 10000000, "client connections at most (0 = what the open-file limit allows, raised to its hard limit)"),
    I(max_connections_per_ip, 0, 10000000, "connections one client address (IPv4, IPv6 /64) may have open, at most half of max_connections (0 = no limit); more get 62120"),
    I(max_connections_per_ip_loopback, 0, 10000000, "the same for each loopback address (127/8, ::1) (0 = loopback not limited: a local proxy, tests, bench)"),
    I(max_pending_per_ip, 0, 10000000, "of a counted address's connections, how many may be without LOGIN (sockets before LOGIN, plain HTTP) (0 = no limit); more get 62121"),
    I(presence_debounce_ms, 0, 600000, "delay of a user's offline notification; a device back within it cancels it"),
    I(token_max_lifetime, 60, 315360000, "longest accepted userSign lifetime (TLS.expire, s); longer tokens get 62101"),
    I(token_clock_skew, 0, 86400, "how far (s) a userSign's issue time may be ahead of the server clock; beyond, 62100"),
    B(allow_empty_db, "start even though data_dir held a database that is now missing or empty (starts EMPTY)"),
    I(presence_subs_per_user, 1, 100000, "most live online-status subscriptions one user may hold (subscribeUserOnlineStatus)"),
    I(send_rate_user, 0, 1000000, "messages per second a user may send (burst: 2 s worth; 0 = no limit)"),
    I(send_kbytes_user, 0, 1048576, "KiB of message body per second a user may send (burst: 2 s worth; 0 = no limit)"),
    I(send_rate_app, 0, 10000000, "messages per second an app may send in total (burst: 1 s worth; 0 = no limit)"),
    I(max_output_mb, 0, 1048576, "MiB of encoded output frames alive, each once however many connections share it; over it slow readers are disconnected (0 = no cap)"),
    I(store_max_queue, 16, 10000000, "writes queued on the store writer beyond which sends are refused with 62080"),
    I(max_delivery_backlog, 0, 1000000000, "deliveries queued for the workers (inboxes and group pushes) beyond which sends are refused with 62080 (0 = no bound)"),
    I(app_quota_mb, 0, 2147483647L, "MiB of message bodies an app may store (0 = no quota)"),
    I(max_devices_per_user, 1, 100000, "devices (connections) a user may have logged in at once"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

void config_defaults(config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "var");
    c->node_id = 1;
    c->node_heartbeat_ms = 1000;
    c->node_timeout_ms = 5000;
    snprintf(c->tcp_listen, sizeof c->tcp_listen, "0.0.0.0:9000");
    snprintf(c->http_listen, sizeof c->http_listen, "0.0.0.0:8080");
    snprintf(c->web_root, sizeof c->web_root, "web");
    snprintf(c->log_level, sizeof c->log_level, "info");
    c->app_id = 10000;
    snprintf(c->app_admin, sizeof c->app_admin, "admin");
    c->login_policy = 3;
    c->heartbeat_interval_ms = 10000;
    c->heartbeat_miss = 3;
    c->login_timeout_ms = 10000;
    c->http_idle_timeout_ms = 30000;
    c->shutdown_timeout_ms = 5000;
    c->max_imei = 128;
    c->max_body = 65536;
    c->store_sync_full = 1;
    c->store_max_batch = 1024;
    c->store_commit_delay_us = 1000;
    c->store_wal_checkpoint_pages = 65536;
    c->store_history_batch = 8192;
    snprintf(c->route_strategy, sizeof c->route_strategy, "hash");
    c->demo_app_server = 1;
    c->demo_app_register_per_ip = 30;
    c->demo_app_login_per_ip = 60;
    c->password_threads = 1;
    c->password_queue = 32;
    c->app_token_ttl = 7 * 24 * 3600;
    c->recall_window_ms = 120000;
    c->presence_debounce_ms = 2000;
    c->token_max_lifetime = 30 * 24 * 3600;
    c->token_clock_skew = 300;
    c->presence_subs_per_user = 1000;
    c->send_rate_user = 200;
    c->send_kbytes_user = 1024;
    c->send_rate_app = 100000;
    c->max_output_mb = 512;
    c->store_max_queue = 65536;
    c->max_delivery_backlog = 1000000;
    c->app_quota_mb = 10240;
    c->max_devices_per_user = 32;
    c->max_connections_per_ip = 1000;
    c->max_pending_per_ip = 256;
}

const char *config_key_name(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

static const cfg_key_t *find_key(const char *name)
{
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof norm)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '-' ? '_' : (char)tolower((unsigned char)name[i]);
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, norm) == 0)
            return &keys[i];
    return NULL;
}

int config_set(config_t *c, const char *name, const char *value, char *err, size_t errlen)
{
    const cfg_key_t *k = find_key(name);
    if (!k) {
        snprintf(err, errlen, "unknown configuration key '%s'", name);
        return -1;
    }
    char *base = (char *)c;
    switch (k->kind) {
    case K_STR: {
        size_t n = strlen(value);
        if (n >= k->size) {
            snprintf(err, errlen, "%s: value too long (max %zu bytes)", k->name, k->size - 1);
            return -1;
        }
        memcpy(base + k->off, value, n + 1);
        break;
    }
    case K_INT:
    case K_BOOL: {
        long v;
        if (k->kind == K_BOOL && (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on")))
            v = 1;
        else if (k->kind == K_BOOL && (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off")))
            v = 0;
        else {
            char *end;
            errno = 0;
            v = strtol(value, &end, 10);
            if (errno || end == value || *end) {
                snprintf(err, errlen, "%s: '%s' is not a number", k->name, value);
                return -1;
            }
        }
        if (v < k->min || v > k->max) {
            snprintf(err, errlen, "%s: %ld out of range %ld..%ld", k->name, v, k->min, k->max);
            return -1;
        }
        *(int *)(base + k->off) = (int)v;
        break;
    }
    }
    c->explicit_mask |= k->mask;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(config_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
        }
        char e2[256];
        if (config_set(c, k, v, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, e2);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

void config_usage(void)
{
    printf("usage: petreld [--config=FILE] [--key=value ...]\n\n"
           "Every key can also be set as environment variable PETREL_<KEY>\n"
           "or as `key = value` in the config file.  Precedence: flag > env > file.\n\n");
    for (size_t i = 0; i < NKEYS; i++)
        printf("  --%-24s %s\n", keys[i].name, keys[i].help);
}

int config_load(config_t *c, int argc, char **argv, char *err, size_t errlen)
{
    const char *file = getenv("PETREL_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
    }
    if (file && *file && load_file(c, file, err, errlen) < 0)
        return -1;

    for (size_t i = 0; i < NKEYS; i++) {
        char env[80] = "PETREL_";
        size_t n = strlen(keys[i].name);
        for (size_t j = 0; j < n && 7 + j < sizeof env - 1; j++)
            env[7 + j] = (char)toupper((unsigned char)keys[i].name[j]);
        env[7 + n] = '\0';
        const char *v = getenv(env);
        if (v && config_set(c, keys[i].name, v, err, errlen) < 0)
            return -1;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            config_usage();
            return 1;
        }
        if (!strcmp(a, "--version")) {
            printf("petreld 0.1.0\n");
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (try --help)", a);
            return -1;
        }
        a += 2;
        char name[64];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof name) {
                snprintf(err, errlen, "unknown flag --%s", a);
                return -1;
            }
            memcpy(name, a, n);
            name[n] = '\0';
            val = eq + 1;
        } else {
            if (strlen(a) >= sizeof name || i + 1 >= argc) {
                snprintf(err, errlen, "flag --%s needs a value", a);
                return -1;
            }
            snprintf(name, sizeof name, "%s", a);
            val = argv[++i];
        }
        if (!strcmp(name, "config"))
            continue;
        if (config_set(c, name, val, err, errlen) < 0)
            return -1;
    }
    if (strcmp(c->route_strategy, "random") && strcmp(c->route_strategy, "round_robin") &&
        strcmp(c->route_strategy, "hash")) {
        snprintf(err, errlen, "route_strategy: '%s' is not random, round_robin or hash",
                 c->route_strategy);
        return -1;
    }
    if (c->redis[0] && (!c->store[0] || !strcmp(c->store, "sqlite"))) {
        snprintf(err, errlen, "redis: cluster mode needs a shared store (store = postgres://...); "
                 "the embedded SQLite database belongs to one node");
        return -1;
    }
    if (c->redis[0] && c->node_timeout_ms < 2 * c->node_heartbeat_ms) {
        snprintf(err, errlen, "node_timeout_ms (%d) must be at least twice node_heartbeat_ms (%d)",
                 c->node_timeout_ms, c->node_heartbeat_ms);
        return -1;
    }
    if (log_level_parse(c->log_level) < 0) {
        snprintf(err, errlen, "log_level: unknown level '%s'", c->log_level);
        return -1;
    }
    if (c->demo_app_server && c->app_token_ttl > c->token_max_lifetime) {
        snprintf(err, errlen, "app_token_ttl: %d s is longer than token_max_lifetime (%d s): "
                 "the server would refuse the tokens it issues", c->app_token_ttl,
                 c->token_max_lifetime);
        return -1;
    }
    return 0;
}
