/*
 * A node's life in the cluster (cluster.h): its incarnation, its heartbeat,
 * reaping the nodes that went silent, and noticing that this node was
 * reaped itself (it was paused or cut off) or that Redis lost its data.
 *
 * Start: a random non-zero 31-bit incarnation is claimed by a script that
 * fails when pt:node:<inc> or its tombstone pt:reaped:<inc> exists (retry
 * with another), or when a live node already has this node_id (refused:
 * node_id is part of message keys).
 *
 * The node thread beats every heartbeat_ms (a condvar wait, so stop wakes
 * it).  A beat is:
 *   1. the heartbeat script: "reaped" (the tombstone is there: close every
 *      client, register again), "missing" (Redis lost pt:node:<inc>:
 *      register again, re-register the sessions) or "ok" (the zset score
 *      and the device count updated).  Times are Redis TIME, never ours.
 *   2. the zset pt:nodes: members silent for more than timeout_ms are
 *      reaped by a script that re-checks the score atomically (of two
 *      reapers only one wins), leaves a tombstone, and removes the dead
 *      node's devices from the users' hashes; the users whose last device
 *      went are handed to on_peer_dead.
 *   3. the live nodes' hashes, in one pipeline, into the cache that
 *      cnode_alive() copies without I/O.
 * Stop: the thread ends, then the node leaves (its devices, hash and zset
 * member removed; no tombstone).
 *
 * A node reaps only after a timeout's worth of its own beats reached
 * Redis (since its start or its last failed beat): after a Redis outage
 * every node's score is old, and the first one back must not reap the
 * others before they had a chance to beat.
 *
 * Everything read from Redis is checked: a member that is not a valid
 * incarnation, an oversize address or a garbage reply is skipped.
 */
#include "server/cluster/cluster.h"
#include "server/cluster/node_test.h"
#include "server/core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <time.h>

#define NODES_MAX 4096      /* zset members looked at per beat */
#define USERS_MAX 1000000   /* users returned by one reap, at most */
#define USER_ID_MAX 512

struct cnode {
    cnode_cfg_t cfg;
    cstats_t own_stats;     /* when cfg.stats is NULL */
    char tcp[160], ws[160];
    uint32_t inc;
    char inc_s[16];
    char node_id_s[16];
    rconn_t *c;             /* start, then the node thread, then stop */
    pthread_t th;
    int started;
    int64_t reap_ok_at;     /* monotonic ms: no reaping before (node thread) */
    pthread_mutex_t mu;     /* guards what follows */
    pthread_cond_t cv;
    int stop, paused;
    cnode_info_t *alive;
    size_t nalive;
};

/* ---- scripts ------------------------------------------------------------------------ */

#define LUA_NOW                                                                    \
    "local t = redis.call('TIME')\n"                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: pt:node:<inc>, pt:reaped:<inc>, pt:nodes
 * ARGV: inc, node_id, tcp, ws, timeout_ms, "claim"|"again", devices
 * {"collision", 0} | {"taken", other inc} | {"ok", other inc with our node_id or 0} */
static rscript_t register_script = {
    .src = LUA_NOW
    "if ARGV[6] == 'claim' and redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then\n"
    "  return {'collision', 0}\n"
    "end\n"
    "local taken = 0\n"
    "local live = redis.call('ZRANGEBYSCORE', KEYS[3],\n"
    "                        string.format('%.0f', now - tonumber(ARGV[5])), '+inf')\n"
    "for _, m in ipairs(live) do\n"
    "  if m ~= ARGV[1] and redis.pcall('HGET', 'pt:node:' .. m, 'node_id') == ARGV[2] then\n"
    "    taken = tonumber(m) or -1\n"
    "    break\n"
    "  end\n"
    "end\n"
    "if taken ~= 0 and ARGV[6] == 'claim' then return {'taken', taken} end\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], 'node_id', ARGV[2], 'tcp', ARGV[3], 'ws', ARGV[4],\n"
    "           'devices', ARGV[7], 'started', string.format('%.0f', now))\n"
    "redis.call('ZADD', KEYS[3], string.format('%.0f', now), ARGV[1])\n"
    "return {'ok', taken}\n",
};

/* KEYS: pt:node:<inc>, pt:reaped:<inc>, pt:nodes; ARGV: inc, devices
 * {"reaped"|"missing"|"ok", now_ms} */
static rscript_t heartbeat_script = {
    .src = LUA_NOW
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {'reaped', now} end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', now} end\n"
    "redis.call('ZADD', KEYS[3], string.format('%.0f', now), ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'devices', ARGV[2])\n"
    "return {'ok', now}\n",
};

/* KEYS: pt:nodes, pt:node:<d>, pt:reaped:<d>, pt:ns:<d>
 * ARGV: d, timeout_ms, "reap"|"leave"
 * {0} (not reaped: alive again or reaped by another) | {1, app, user, ...}:
 * the users whose hash became empty. */
static rscript_t reap_script = {
    .src =
    "if ARGV[3] == 'reap' then\n"
    "  local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "  if not s then return {0} end\n"
    LUA_NOW
    "  if now - tonumber(s) <= tonumber(ARGV[2]) then return {0} end\n"
    "  redis.call('SET', KEYS[3], '1', 'EX', 3600)\n"
    "end\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "local out = {1}\n"
    "local ms = redis.pcall('SMEMBERS', KEYS[4])\n"
    "if type(ms) ~= 'table' or ms.err then ms = {} end\n"
    "for _, m in ipairs(ms) do\n"
    "  local a = string.find(m, '|', 1, true)\n"
    "  local b = a and string.find(m, '|', a + 1, true)\n"
    "  if b then\n"
    "    local app, f, user = string.sub(m, 1, a - 1), string.sub(m, a + 1, b - 1), string.sub(m, b + 1)\n"
    "    local k = 'pt:s:' .. app .. ':' .. user\n"
    "    if redis.pcall('HDEL', k, f) == 1 and redis.call('EXISTS', k) == 0 then\n"
    "      out[#out + 1] = app; out[#out + 1] = user\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[4])\n"
    "return out\n",
};

/* A clean stop while other nodes live: this node's heartbeat is set to 0,
 * so the next of them to scan reaps it at once (its sessions go and its
 * users that lost their last device are announced offline, by a node
 * whose workers still run).  KEYS: pt:nodes; ARGV: inc, timeout_ms.
 * 1 retired, 0 this is the last live node (it leaves by itself). */
static rscript_t retire_script = {
    .src = LUA_NOW
    "local live = redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[2]), '+inf')\n"
    "if live > 1 and redis.call('ZSCORE', KEYS[1], ARGV[1]) then\n"
    "  redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
};

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
    rscript_init(&register_script);
    rscript_init(&heartbeat_script);
    rscript_init(&retire_script);
    rscript_init(&reap_script);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cstats_t *stats(cnode_t *n)
{
    return n->cfg.stats ? n->cfg.stats : &n->own_stats;
}

/* A decimal incarnation (1..2^31-1) of len bytes; 0 when invalid. */
static uint32_t parse_inc(const char *s, size_t len)
{
    if (len == 0 || len > 10)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v <= 0x7fffffffu ? (uint32_t)v : 0;
}

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int rand_inc(uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
            return -1;
        v &= 0x7fffffffu;
        if (v) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static void keys_of(uint32_t inc, char node[32], char reaped[32], char ns[32])
{
    snprintf(node, 32, "pt:node:%" PRIu32, inc);
    snprintf(reaped, 32, "pt:reaped:%" PRIu32, inc);
    snprintf(ns, 32, "pt:ns:%" PRIu32, inc);
}

static uint64_t devices_now(cnode_t *n)
{
    return n->cfg.devices ? n->cfg.devices(n->cfg.ctx) : 0;
}

/* The register script: 0 ok, 1 collision, 2 taken (*other), -1 no answer. */
static int do_register(cnode_t *n, const char *mode, long long *other)
{
    char knode[32], kreaped[32], kns[32], tmo[16], dev[24];
    keys_of(n->inc, knode, kreaped, kns);
    snprintf(tmo, sizeof tmo, "%d", n->cfg.timeout_ms);
    snprintf(dev, sizeof dev, "%" PRIu64, devices_now(n));
    const char *argv[] = {knode, kreaped, "pt:nodes", n->inc_s, n->node_id_s,
                          n->tcp, n->ws, tmo, mode, dev};
    redisReply *r = rconn_eval(n->c, &register_script, 3, 10, argv, NULL);
    *other = 0;
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && is_str(r->element[0])) {
        const char *st = r->element[0]->str;
        *other = rreply_int(r->element[1], 0);
        rc = !strcmp(st, "ok") ? 0 : !strcmp(st, "collision") ? 1 : !strcmp(st, "taken") ? 2 : -1;
    } else if (r->type == REDIS_REPLY_ERROR) {
        LOGW("cluster node register: Redis error", "err=%s", LQ(r->str));
    }
    freeReplyObject(r);
    return rc;
}

static void register_again(cnode_t *n, const char *why)
{
    long long other = 0;
    int rc = do_register(n, "again", &other);
    if (rc == 0 && other)
        LOGE("cluster node_id shared with another live node", "node_id=%d inc=%s other=%lld",
             n->cfg.node_id, n->inc_s, other);
    if (rc == 0)
        LOGI("cluster node registered again", "node_id=%d inc=%s why=%s", n->cfg.node_id,
             n->inc_s, why);
    else
        LOGW("cluster node cannot register again", "node_id=%d inc=%s why=%s", n->cfg.node_id,
             n->inc_s, why);
}

/* ---- reaping ------------------------------------------------------------------------------- */

static void users_free(cnode_user_t *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(u[i].user_id);
    free(u);
}

/* Run the reap script on incarnation d ("reap") or on this node ("leave").
 * Returns 1 (done, *users filled), 0 (nothing: alive or reaped by another),
 * -1 (no answer). */
static int do_reap(cnode_t *n, uint32_t d, const char *mode, cnode_user_t **users, size_t *nu)
{
    char knode[32], kreaped[32], kns[32], ds[16], tmo[16];
    keys_of(d, knode, kreaped, kns);
    snprintf(ds, sizeof ds, "%" PRIu32, d);
    snprintf(tmo, sizeof tmo, "%d", n->cfg.timeout_ms);
    const char *argv[] = {"pt:nodes", knode, kreaped, kns, ds, tmo, mode};
    *users = NULL;
    *nu = 0;
    redisReply *r = rconn_eval(n->c, &reap_script, 4, 7, argv, NULL);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        if (r->type == REDIS_REPLY_ERROR)
            LOGW("cluster reap: Redis error", "inc=%s err=%s", ds, LQ(r->str));
        goto out;
    }
    rc = rreply_int(r->element[0], 0) == 1;
    size_t np = (r->elements - 1) / 2;
    if (!rc || np == 0)
        goto out;
    if (np > USERS_MAX)
        np = USERS_MAX;
    cnode_user_t *u = calloc(np, sizeof *u);
    if (!u)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        const redisReply *a = r->element[1 + 2 * i], *b = r->element[2 + 2 * i];
        if (!is_str(a) || !is_str(b) || b->len == 0 || b->len > USER_ID_MAX ||
            memchr(b->str, '\0', b->len))
            continue;
        char *end;
        errno = 0;
        long long app = strtoll(a->str, &end, 10);
        if (end == a->str || *end || errno || app < INT32_MIN || app > INT32_MAX)
            continue;
        u[k].app_id = (int32_t)app;
        u[k].user_id = strndup(b->str, b->len);
        if (u[k].user_id)
            k++;
    }
    if (k) {
        *users = u;
        *nu = k;
    } else {
        free(u);
    }
out:
    freeReplyObject(r);
    return rc;
}

/* ---- live nodes ----------------------------------------------------------------------------- */

static void info_field(cnode_info_t *in, const redisReply *k, const redisReply *v)
{
    if (!is_str(k) || !is_str(v))
        return;
    if (!strcmp(k->str, "node_id")) {
        long long id = rreply_int(v, -1);
        in->node_id = id >= 0 && id <= 1023 ? (int)id : -1;
    } else if (!strcmp(k->str, "tcp") && v->len < sizeof in->tcp) {
        memcpy(in->tcp, v->str, v->len);
        in->tcp[v->len] = '\0';
    } else if (!strcmp(k->str, "ws") && v->len < sizeof in->ws) {
        memcpy(in->ws, v->str, v->len);
        in->ws[v->len] = '\0';
    } else if (!strcmp(k->str, "devices")) {
        long long d = rreply_int(v, 0);
        in->devices = d > 0 ? (uint64_t)d : 0;
    }
}

/* Fetch the live nodes' hashes (one pipeline) and publish them. */
static void refresh_alive(cnode_t *n, const uint32_t *live, size_t nl)
{
    cnode_info_t *v = nl ? calloc(nl, sizeof *v) : NULL;
    if (nl && !v)
        return;
    size_t queued = 0;
    for (size_t i = 0; i < nl; i++) {
        char key[32];
        snprintf(key, sizeof key, "pt:node:%" PRIu32, live[i]);
        const char *argv[] = {"HGETALL", key};
        if (rconn_appendargv(n->c, 2, argv, NULL) < 0)
            break;
        queued++;
    }
    size_t k = 0;
    int lost = queued < nl;
    for (size_t i = 0; i < queued; i++) {
        redisReply *r = rconn_reply(n->c);
        if (!r) {
            lost = 1;
            break;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            cnode_info_t *in = &v[k];
            in->inc = live[i];
            in->node_id = -1;
            for (size_t j = 0; j + 1 < r->elements; j += 2)
                info_field(in, r->element[j], r->element[j + 1]);
            if (in->node_id >= 0)
                k++;
            else
                memset(in, 0, sizeof *in);
        }
        freeReplyObject(r);
    }
    if (lost) {
        free(v);
        return; /* keep the last good view */
    }
    pthread_mutex_lock(&n->mu);
    free(n->alive);
    n->alive = v;
    n->nalive = k;
    pthread_mutex_unlock(&n->mu);
    atomic_store(&stats(n)->nodes_alive, k);
}

/* node_id of inc in the last view, for the logs (-1: unknown). */
static int known_node_id(cnode_t *n, uint32_t inc)
{
    int id = -1;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nalive; i++)
        if (n->alive[i].inc == inc)
            id = n->alive[i].node_id;
    pthread_mutex_unlock(&n->mu);
    return id;
}

static void scan(cnode_t *n, int64_t now_ms)
{
    redisReply *r = rconn_cmd(n->c, "ZRANGE pt:nodes 0 %d WITHSCORES", NODES_MAX - 1);
    if (!r)
        return;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return;
    }
    size_t np = r->elements / 2;
    uint32_t *live = np ? calloc(np, sizeof *live) : NULL;
    size_t nl = 0;
    if (np && !live) {
        freeReplyObject(r);
        return;
    }
    for (size_t i = 0; i < np; i++) {
        const redisReply *m = r->element[2 * i], *s = r->element[2 * i + 1];
        if (!is_str(m))
            continue;
        uint32_t inc = parse_inc(m->str, m->len);
        if (!inc)
            continue;
        double score = 0;
        if (is_str(s)) {
            char *end;
            score = strtod(s->str, &end);
            if (end == s->str)
                continue;
        } else {
            continue;
        }
        if (inc == n->inc || (double)now_ms - score <= (double)n->cfg.timeout_ms) {
            live[nl++] = inc;
            continue;
        }
        int retired = score == 0; /* it left (cnode_stop): no judging needed */
        if (!retired && mono_ms() < n->reap_ok_at)
            continue; /* this node's own view is too fresh to judge */
        int node_id = known_node_id(n, inc);
        cnode_user_t *users;
        size_t nu;
        int rc = do_reap(n, inc, "reap", &users, &nu);
        if (rc == 1) {
            atomic_fetch_add(&stats(n)->reaps, 1);
            if (retired)
                LOGI("cluster node removed after it left", "inc=%" PRIu32 " node_id=%d "
                     "users_gone=%zu", inc, node_id, nu);
            else
                LOGW("cluster node reaped", "inc=%" PRIu32 " node_id=%d silent_ms=%.0f "
                     "users_gone=%zu", inc, node_id, (double)now_ms - score, nu);
            if (n->cfg.on_peer_dead)
                n->cfg.on_peer_dead(n->cfg.ctx, inc, users, nu);
            users_free(users, nu);
        }
    }
    freeReplyObject(r);
    refresh_alive(n, live, nl);
    free(live);
}

/* ---- the heartbeat --------------------------------------------------------------------------- */

static void beat(cnode_t *n)
{
    char knode[32], kreaped[32], kns[32], dev[24];
    keys_of(n->inc, knode, kreaped, kns);
    snprintf(dev, sizeof dev, "%" PRIu64, devices_now(n));
    const char *argv[] = {knode, kreaped, "pt:nodes", n->inc_s, dev};
    redisReply *r = rconn_eval(n->c, &heartbeat_script, 3, 5, argv, NULL);
    cstats_t *st = stats(n);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0])) {
        /* the others could not beat either: judge nobody before they had
         * a timeout's worth of beats to show they live */
        n->reap_ok_at = mono_ms() + n->cfg.timeout_ms;
        if (atomic_exchange(&st->redis_ok, 0)) {
            LOGW("cluster heartbeat: Redis unreachable", "inc=%s err=%s", n->inc_s,
                 r && r->type == REDIS_REPLY_ERROR ? LQ(r->str) : "-");
        }
        if (r)
            freeReplyObject(r);
        return;
    }
    if (!atomic_exchange(&st->redis_ok, 1))
        LOGI("cluster heartbeat: Redis reached", "inc=%s", n->inc_s);
    char status[16];
    snprintf(status, sizeof status, "%.*s", (int)r->element[0]->len, r->element[0]->str);
    int64_t now_ms = rreply_int(r->element[1], 0);
    freeReplyObject(r);
    if (!strcmp(status, "reaped")) {
        LOGW("cluster: this node was reaped (silent too long): closing its clients",
             "node_id=%d inc=%s", n->cfg.node_id, n->inc_s);
        atomic_fetch_add(&st->reaped_self, 1);
        if (n->cfg.on_reaped)
            n->cfg.on_reaped(n->cfg.ctx);
        register_again(n, "reaped");
    } else if (!strcmp(status, "missing")) {
        LOGW("cluster: Redis lost this node's registration: registering again",
             "node_id=%d inc=%s", n->cfg.node_id, n->inc_s);
        atomic_fetch_add(&st->resyncs, 1);
        register_again(n, "missing");
        if (n->cfg.on_resync)
            n->cfg.on_resync(n->cfg.ctx);
    } else if (strcmp(status, "ok")) {
        return;
    }
    if (now_ms > 0)
        scan(n, now_ms);
}

static void *node_main(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-node"); /* top -H, perf */
    cnode_t *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int paused = n->paused;
        pthread_mutex_unlock(&n->mu);
        if (!paused)
            beat(n);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += n->cfg.heartbeat_ms / 1000;
        ts.tv_nsec += (long)(n->cfg.heartbeat_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&n->mu);
        while (!n->stop) {
            if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* ---- API -------------------------------------------------------------------------------------- */

static void node_free(cnode_t *n)
{
    rconn_free(n->c);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n->alive);
    free(n);
}

cnode_t *cnode_start(const cnode_cfg_t *cfg, char *err, size_t errlen)
{
    pthread_once(&scripts_once, scripts_init);
    if (cfg->node_id < 0 || cfg->node_id > 1023) {
        snprintf(err, errlen, "node_id %d is outside 0..1023", cfg->node_id);
        return NULL;
    }
    const char *tcp = cfg->public_tcp ? cfg->public_tcp : "";
    const char *ws = cfg->public_ws ? cfg->public_ws : "";
    cnode_t *n = calloc(1, sizeof *n);
    if (!n || strlen(tcp) >= sizeof n->tcp || strlen(ws) >= sizeof n->ws) {
        snprintf(err, errlen, n ? "public address too long" : "out of memory");
        free(n);
        return NULL;
    }
    n->cfg = *cfg;
    if (n->cfg.heartbeat_ms <= 0)
        n->cfg.heartbeat_ms = 1000;
    if (n->cfg.timeout_ms <= 0)
        n->cfg.timeout_ms = 5000;
    if (n->cfg.timeout_ms < 2 * n->cfg.heartbeat_ms)
        LOGW("cluster timeout shorter than two heartbeats: live nodes may be reaped",
             "heartbeat_ms=%d timeout_ms=%d", n->cfg.heartbeat_ms, n->cfg.timeout_ms);
    memcpy(n->tcp, tcp, strlen(tcp) + 1);
    memcpy(n->ws, ws, strlen(ws) + 1);
    n->cfg.public_tcp = n->tcp;
    n->cfg.public_ws = n->ws;
    snprintf(n->node_id_s, sizeof n->node_id_s, "%d", cfg->node_id);
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    n->c = rconn_new(&cfg->redis, &stats(n)->redis);
    if (!n->c || rconn_connect(n->c) < 0) {
        snprintf(err, errlen, "Redis at %s:%d does not answer", cfg->redis.host, cfg->redis.port);
        node_free(n);
        return NULL;
    }
    int rc = 1;
    long long other = 0;
    for (int tries = 0; rc == 1 && tries < 32; tries++) {
        if (rand_inc(&n->inc) < 0) {
            snprintf(err, errlen, "getrandom failed");
            node_free(n);
            return NULL;
        }
        snprintf(n->inc_s, sizeof n->inc_s, "%" PRIu32, n->inc);
        rc = do_register(n, "claim", &other);
    }
    if (rc != 0) {
        if (rc == 2)
            snprintf(err, errlen, "node_id %d is taken by a live node", cfg->node_id);
        else if (rc == 1)
            snprintf(err, errlen, "no free incarnation found");
        else
            snprintf(err, errlen, "Redis at %s:%d does not answer", cfg->redis.host,
                     cfg->redis.port);
        node_free(n);
        return NULL;
    }
    atomic_store(&stats(n)->redis_ok, 1);
    n->reap_ok_at = mono_ms() + n->cfg.timeout_ms;
    /* this node in the view before the first beat */
    n->alive = calloc(1, sizeof *n->alive);
    if (n->alive) {
        n->alive[0] = (cnode_info_t){.inc = n->inc, .node_id = cfg->node_id};
        memcpy(n->alive[0].tcp, n->tcp, sizeof n->tcp);
        memcpy(n->alive[0].ws, n->ws, sizeof n->ws);
        n->nalive = 1;
    }
    if (pthread_create(&n->th, NULL, node_main, n) != 0) {
        snprintf(err, errlen, "cannot start the node thread");
        cnode_user_t *u;
        size_t nu;
        if (do_reap(n, n->inc, "leave", &u, &nu) == 1)
            users_free(u, nu);
        node_free(n);
        return NULL;
    }
    n->started = 1;
    LOGI("cluster node joined", "node_id=%d inc=%s tcp=%s ws=%s", cfg->node_id, n->inc_s,
         LQ(n->tcp), LQ(n->ws));
    return n;
}

uint32_t cnode_inc(const cnode_t *n)
{
    return n ? n->inc : 0;
}

size_t cnode_alive(cnode_t *n, cnode_info_t **out)
{
    *out = NULL;
    if (!n)
        return 0;
    pthread_mutex_lock(&n->mu);
    size_t k = n->nalive;
    cnode_info_t *v = k ? malloc(k * sizeof *v) : NULL;
    if (v)
        memcpy(v, n->alive, k * sizeof *v);
    else
        k = 0;
    pthread_mutex_unlock(&n->mu);
    *out = v;
    return k;
}

void cnode_pause(cnode_t *n, int paused)
{
    pthread_mutex_lock(&n->mu);
    n->paused = paused;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void cnode_stop(cnode_t *n)
{
    if (!n)
        return;
    if (n->started) {
        pthread_mutex_lock(&n->mu);
        n->stop = 1;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->th, NULL);
    }
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%d", n->cfg.timeout_ms);
    const char *rargv[] = {"pt:nodes", n->inc_s, timeout};
    redisReply *r = rconn_eval(n->c, &retire_script, 1, 3, rargv, NULL);
    int64_t until = mono_ms() + 1500; /* Redis just back: past the connect back-off */
    while (!r && mono_ms() < until) {
        usleep(200 * 1000);
        r = rconn_eval(n->c, &retire_script, 1, 3, rargv, NULL);
    }
    int retired = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    if (retired) {
        LOGI("cluster node left: the others remove its sessions and tell its users' friends",
             "node_id=%d inc=%s", n->cfg.node_id, n->inc_s);
        node_free(n);
        return;
    }
    cnode_user_t *u;
    size_t nu;
    /* the last live node: nobody is left to tell; nodes that left just
     * before it (heartbeat 0) are cleaned up with it */
    redisReply *gone = rconn_cmd(n->c, "ZRANGEBYSCORE pt:nodes 0 0 LIMIT 0 %d", NODES_MAX);
    for (size_t i = 0; gone && gone->type == REDIS_REPLY_ARRAY && i < gone->elements; i++) {
        uint32_t d = is_str(gone->element[i])
                         ? parse_inc(gone->element[i]->str, gone->element[i]->len) : 0;
        if (d && d != n->inc && do_reap(n, d, "reap", &u, &nu) == 1)
            users_free(u, nu);
    }
    if (gone)
        freeReplyObject(gone);
    int rc = do_reap(n, n->inc, "leave", &u, &nu);
    if (rc == 1) {
        users_free(u, nu);
        LOGI("cluster node left", "node_id=%d inc=%s", n->cfg.node_id, n->inc_s);
    } else {
        LOGW("cluster node could not leave (it will be reaped)", "node_id=%d inc=%s",
             n->cfg.node_id, n->inc_s);
    }
    node_free(n);
}
