/*
 * Cluster mode at start-up (docs/OPERATIONS.md "Cluster"): with `redis`
 * set, the session registry, presence subscriptions and the node bus are
 * cluster/'s Redis implementations and this node joins the cluster
 * (cluster/node.c); without it, the in-process ones and no bus.
 *
 * The node's callbacks land here, on the node thread, and are turned into
 * work on the workers (never blocking the node thread):
 *   reaped    this node was declared dead while it was paused or cut off:
 *             every logged-in client connection gets ERROR 90000 and is
 *             closed (its state elsewhere is gone; it reconnects and
 *             resyncs), from each worker's loop;
 *   resync    Redis lost its data: this node's devices are written back;
 *   peer_dead another node was reaped: its users that lost their last
 *             device are announced offline (EV_USER_OFFLINE on worker 0).
 *
 * Apps (their secret, login policy, settings) are cached per node; an app
 * changed through one node is read again by the others within
 * APPS_REFRESH_MS (a thread of its own: a slow database must not delay
 * the heartbeat).
 */
#include "server/app/boot.h"

#include "server/cluster/cluster.h"
#include "server/core/log.h"
#include "server/gateway/route.h"
#include "server/im/apps.h"
#include "server/im/presence.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- callbacks ----------------------------------------------------------------- */

static void close_clients(worker_t *w, void *arg)
{
    (void)arg;
    dlist_t *l = &w->lists[LIST_ACTIVE];
    size_t n = 0;
    for (dlist_t *it = l->next, *next; it != l; it = next) {
        next = it->next;
        conn_t *c = container_of(it, conn_t, node);
        if (!(c->flags & CF_AUTHED) || (c->flags & (CF_CLOSED | CF_CLOSE_AFTER)))
            continue;
        conn_send_error(c, PETREL_ERR_SYSTEM,
                        "this server lost its cluster membership: reconnect", 0);
        conn_close_after_flush(c);
        n++;
    }
    if (n)
        LOGW("cluster: closed client connections after this node was reaped", "worker=%u conns=%zu",
             w->idx, n);
}

static void on_reaped(void *ctx)
{
    server_t *s = ctx;
    LOGW("cluster: this node was declared dead (paused or cut off from Redis); "
         "dropping its clients", NULL);
    for (unsigned i = 0; i < s->nworkers; i++)
        worker_post(s, i, close_clients, NULL);
}

static void on_resync(void *ctx)
{
    server_t *s = ctx;
    int rc = sess_redis_resync(s->sess);
    uint64_t devs = 0, users = 0;
    s->sess->ops->count(s->sess, &devs, &users);
    if (rc < 0)
        LOGW("cluster: cannot re-register this node's sessions; next heartbeat retries", NULL);
    else
        LOGI("cluster: re-registered this node's sessions after Redis lost them", "devices=%llu",
             (unsigned long long)devs);
}

typedef struct dead_users {
    size_t n;
    cnode_user_t u[];
} dead_users_t;

static void announce_offline(worker_t *w, void *arg)
{
    dead_users_t *d = arg;
    for (size_t i = 0; i < d->n; i++) {
        presence_announce_offline(w, d->u[i].app_id, d->u[i].user_id);
        free(d->u[i].user_id);
    }
    free(d);
}

static void on_peer_dead(void *ctx, uint32_t inc, const cnode_user_t *users, size_t n)
{
    server_t *s = ctx;
    LOGI("cluster: a node left or stopped answering; removed", "incarnation=%u users_offline=%zu",
         inc, n);
    if (!n || !s->nworkers)
        return;
    dead_users_t *d = malloc(sizeof *d + n * sizeof d->u[0]);
    if (!d)
        return;
    d->n = 0;
    for (size_t i = 0; i < n; i++) {
        char *id = strdup(users[i].user_id);
        if (!id)
            continue;
        d->u[d->n].app_id = users[i].app_id;
        d->u[d->n++].user_id = id;
    }
    if (worker_post(s, 0, announce_offline, d) < 0) {
        for (size_t i = 0; i < d->n; i++)
            free(d->u[i].user_id);
        free(d);
    }
}

static uint64_t local_devices(void *ctx)
{
    server_t *s = ctx;
    uint64_t devs = 0, users = 0;
    if (s->sess)
        s->sess->ops->count(s->sess, &devs, &users);
    return devs;
}

/* ---- apps changed elsewhere ------------------------------------------------------ */

#define APPS_REFRESH_MS 2000

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stop;
} refresher = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *apps_refresh_main(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-apps"); /* top -H, perf */
    server_t *s = arg;
    pthread_mutex_lock(&refresher.mu);
    while (!refresher.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += APPS_REFRESH_MS / 1000;
        ts.tv_nsec += (APPS_REFRESH_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&refresher.cv, &refresher.mu, &ts);
        if (refresher.stop)
            break;
        pthread_mutex_unlock(&refresher.mu);
        int rc = apps_reload(s->apps, s->store);
        if (rc < 0)
            LOGD("cluster: cannot re-read the apps; kept", "err=\"%s\"", store_strerror(rc));
        pthread_mutex_lock(&refresher.mu);
    }
    pthread_mutex_unlock(&refresher.mu);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------- */

/* The first address of a public_* list, else the listen address. */
static void announced(const char *list, const char *listen, char *out, size_t cap)
{
    if (list[0]) {
        snprintf(out, cap, "%.*s", (int)strcspn(list, ","), list);
        return;
    }
    route_public_from_listen(listen, out, cap);
}

int boot_cluster(server_t *s, presence_reg_t **reg)
{
    *reg = NULL;
    if (!s->cfg.redis[0]) {
        s->sess = sess_local_new();
        *reg = presence_local_new(PRESENCE_SUBS_PER_TARGET, PRESENCE_SUBS_MAX);
        return s->sess && *reg ? 0 : -1;
    }
    rconf_t rc;
    char err[256];
    if (rconf_parse(s->cfg.redis, &rc, err, sizeof err) < 0) {
        LOGE("redis: bad address", "error=\"%s\"", err); /* the message holds no password */
        return -1;
    }
    char pw[256];
    if (boot_store_password(s->cfg.redis_password_file, pw, sizeof pw) < 0)
        return -1;
    if (pw[0])
        snprintf(rc.password, sizeof rc.password, "%s", pw);
    explicit_bzero(pw, sizeof pw);
    s->cstats = calloc(1, sizeof *s->cstats);
    if (!s->cstats)
        return -1;
    char tcp[160], ws[160];
    announced(s->cfg.public_tcp, s->cfg.tcp_listen, tcp, sizeof tcp);
    announced(s->cfg.public_ws, s->cfg.http_listen, ws, sizeof ws);
    cnode_cfg_t cc = {
        .redis = rc, .stats = s->cstats, .node_id = s->cfg.node_id,
        .public_tcp = s->cfg.tcp_listen[0] ? tcp : "", .public_ws = ws,
        .heartbeat_ms = s->cfg.node_heartbeat_ms, .timeout_ms = s->cfg.node_timeout_ms,
        .on_reaped = on_reaped, .on_resync = on_resync, .on_peer_dead = on_peer_dead,
        .devices = local_devices, .ctx = s,
    };
    /* A node restarted quickly after a crash finds its node_id still held
     * by its dead incarnation until that is reaped: wait that long. */
    int64_t give_up = mono_ms() + s->cfg.node_timeout_ms + 3LL * s->cfg.node_heartbeat_ms;
    int waited = 0;
    while (!(s->cnode = cnode_start(&cc, err, sizeof err)) && strstr(err, "taken") &&
           mono_ms() < give_up) {
        if (!waited++)
            LOGW("cluster: waiting for this node_id to be released (a crashed incarnation "
                 "is reaped after node_timeout_ms)", "node=%d", s->cfg.node_id);
        usleep(250 * 1000);
    }
    explicit_bzero(&cc.redis.password, sizeof cc.redis.password);
    if (!s->cnode) {
        LOGE("cluster: cannot join", "redis=%s:%d error=\"%s\"", rc.host, rc.port, err);
        explicit_bzero(&rc, sizeof rc);
        return -1;
    }
    uint32_t inc = cnode_inc(s->cnode);
    s->sess = sess_redis_new(&rc, inc, s->cstats);
    if (s->sess)
        sess_redis_set_debounce(s->sess, s->cfg.presence_debounce_ms);
    s->bus = bus_redis_new(&rc, inc, s->cstats);
    *reg = presence_redis_new(&rc, PRESENCE_SUBS_PER_TARGET, PRESENCE_SUBS_MAX, s->cstats);
    refresher.stop = 0;
    refresher.running = pthread_create(&refresher.thread, NULL, apps_refresh_main, s) == 0;
    LOGD("cluster: Redis", "redis=%s:%d", rc.host, rc.port); /* node.c logs the join */
    explicit_bzero(&rc, sizeof rc);
    return s->sess && s->bus && *reg ? 0 : -1;
}

void boot_cluster_leave(server_t *s)
{
    if (refresher.running) {
        pthread_mutex_lock(&refresher.mu);
        refresher.stop = 1;
        pthread_cond_signal(&refresher.cv);
        pthread_mutex_unlock(&refresher.mu);
        pthread_join(refresher.thread, NULL);
        refresher.running = 0;
    }
    cnode_stop(s->cnode);
    s->cnode = NULL;
}

void boot_cluster_free(server_t *s)
{
    if (s->bus)
        s->bus->ops->destroy(s->bus);
    s->bus = NULL;
    free(s->cstats);
    s->cstats = NULL;
}
