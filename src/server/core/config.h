/*
 * petreld configuration.  One table (config.c) describes every key; each key
 * can be set, in increasing precedence, by a config file (`key = value`),
 * an environment variable PETREL_<KEY> and a flag --key=value (dashes and
 * underscores are interchangeable in flags).  petrel.conf.example documents
 * them all and is checked against the table by a unit test.
 */
#ifndef PETREL_CONFIG_H
#define PETREL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct config {
    char data_dir[512];
    char store[1024];            /* "" / "sqlite" or a PostgreSQL URL / conninfo (never logged) */
    char store_password_file[512];
    int node_id;
    char redis[512];             /* cluster mode: redis://[:password@]host[:port][/db] (never logged) */
    char redis_password_file[512];
    int node_heartbeat_ms;       /* cluster: heartbeat into Redis */
    int node_timeout_ms;         /* cluster: a node silent this long is reaped */
    int workers;                 /* 0 = number of cores */
    char tcp_listen[128];        /* host:port, empty = TCP gateway off */
    char http_listen[128];       /* host:port for HTTP + WebSocket /ws */
    char web_root[512];
    char log_level[16];

    int app_id;                  /* the default app, created on first start */
    char app_secret[129];        /* empty = generate and keep in data_dir */
    char app_admin[129];
    int login_policy;            /* default app's multi-device mode 1..4 */
    int max_per_platform;        /* default app's per-clientType cap, 0 = none */

    int heartbeat_interval_ms;
    int heartbeat_miss;          /* close after this many silent intervals */
    int login_timeout_ms;
    int http_idle_timeout_ms;
    int shutdown_timeout_ms;
    int max_imei;
    int max_body;
    int legacy_unsigned_login;   /* accept LOGIN without userSign (unsafe) */
    int store_sync_full;         /* 1 = fsync every group commit */
    int store_max_batch;
    int store_commit_delay_us;
    int store_wal_checkpoint_pages;
    int store_history_batch;

    char public_tcp[512];        /* gateway addresses handed out by /v1/user/login */
    char public_ws[512];
    char route_strategy[16];     /* random, round_robin, hash */
    int demo_app_server;         /* built-in /app/v1 register/login */
    int demo_app_remote;         /* /app/v1 answers non-loopback clients too */
    int demo_app_register_per_ip; /* registrations per client IP per 10 minutes */
    int demo_app_login_per_ip;   /* login attempts per client IP per minute */
    int password_threads;        /* threads of the password-hashing pool */
    int password_queue;          /* jobs that may wait for them; more = 503 busy */
    int app_token_ttl;           /* seconds; lifetime of tokens the demo app server issues */
    int recall_window_ms;        /* a message may be recalled this long after the server stored it */
    int presence_debounce_ms;    /* a user's "offline" waits this long for a device to come back */
    int token_max_lifetime;      /* s; userSign tokens with a longer TLS.expire are refused */
    int token_clock_skew;        /* s; how far a token's issue time may be in the future */
    int allow_empty_db;          /* start although a database that existed is missing/empty */
    int presence_subs_per_user;  /* most live status subscriptions one user holds */
    int max_connections;         /* 0 = from RLIMIT_NOFILE (tcp.c) */
    int max_connections_per_ip;  /* per IPv4 address / IPv6 /64, 0 = no limit (connlimit.c) */
    int max_connections_per_ip_loopback; /* the same for loopback peers, 0 = not counted */
    int max_pending_per_ip;      /* of them not logged in (before LOGIN, plain HTTP), 0 = no limit */
    char cors_origins[1024];     /* CORS allow-list, "" = off (cors.c) */
    /* abuse limits (docs/SECURITY.md) */
    int send_rate_user;          /* messages/s per user (0 = no limit) */
    int send_kbytes_user;        /* KiB/s of message body per user (0 = no limit) */
    int send_rate_app;           /* messages/s per app (0 = no limit) */
    int max_output_mb;           /* queued + in-flight output of all connections (0 = no cap) */
    int store_max_queue;         /* writes queued on the store writer before sends are refused */
    int max_delivery_backlog;    /* deliveries queued in worker inboxes + group pushes before sends are refused (0 = off) */
    int app_quota_mb;            /* message bytes stored per app (0 = no quota) */
    int max_devices_per_user;    /* online devices (connections) per user */

    /* which app_* keys were given explicitly (they then override the
     * stored app on every start) */
    unsigned explicit_mask;
} config_t;

enum {
    CONFIG_SET_APP_SECRET = 1u << 0,
    CONFIG_SET_APP_ADMIN = 1u << 1,
    CONFIG_SET_LOGIN_POLICY = 1u << 2,
    CONFIG_SET_MAX_PER_PLATFORM = 1u << 3,
};

void config_defaults(config_t *c);

/* Load file (if any, from --config or PETREL_CONFIG), env, then argv.
 * Returns 0, 1 if --help/--version was handled (exit 0), or -1 with a
 * message in err. */
int config_load(config_t *c, int argc, char **argv, char *err, size_t errlen);

/* Set one key from text (any source).  0 or -1 with a message in err. */
int config_set(config_t *c, const char *key, const char *value, char *err, size_t errlen);

/* Name of the i-th key, NULL past the end (for tests and --help). */
const char *config_key_name(size_t i);

void config_usage(void);

#endif
