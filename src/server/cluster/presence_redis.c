/*
 * Presence subscriptions in Redis (seam/presence_reg.h, cluster mode): the
 * same rules as seam/presence_local.c, shared by every node.
 *
 * Keys (cluster.h):
 *   pt:sub:<app>:<target>       zset subscriber -> expire_ms: who follows
 *                               target (subscribe, subscribed, subscribers)
 *   pt:subd:<app>:<subscriber>  zset target -> expire_ms: the subscriber's
 *                               own list, for the per-subscriber cap (reserve)
 *   pt:sub:total                hash: the count of subscriptions for the
 *                               max_total cap (below)
 * Every op is one round trip: subscribed is a ZSCORE, the others a Lua
 * script (atomic: the per-target replacement, the all-or-nothing reserve,
 * the cap check with its counter).  Expired entries of a zset are dropped
 * (ZREMRANGEBYSCORE -inf now) whenever a script touches it; each zset's
 * PEXPIREAT is its latest expiry plus PRES_GRACE_MS (slack for the nodes'
 * clocks, which give `now`), so an abandoned key disappears on its own.
 *
 * The counter.  A plain integer would drift: a target key that expires by
 * PEXPIREAT (the usual end of an abandoned key) or is lost (eviction, a
 * failover) takes its entries without decrementing it, and the drift would
 * grow until every new subscription is refused.  So pt:sub:total counts by
 * expiry bucket (PRES_BUCKET_MS wide): field "<b>" = how many entries
 * expire in bucket b, "live" = the sum of the buckets >= "from".  Every
 * script first advances "from" to bucket(now), taking the passed buckets
 * out of "live" (work per call: the buckets passed since the last call, or,
 * when that is more than the hash holds, one HGETALL that also recounts
 * "live" from the buckets, healing a damaged "from" or "live"); adding, renewing,
 * replacing and purging an entry move its bucket's count.  An entry that
 * vanished unseen therefore stops counting at most PRES_BUCKET_MS after
 * its expiry; an entry lost before its expiry (eviction, failover) counts
 * until then (at most the longest subscription, 7 days in im/presence.h):
 * the drift is upward only and bounded in time, never cumulative.  The
 * price: a full table refuses while entries of other targets that expired
 * in the current bucket still count (the local registry sweeps them at
 * once).  If the counter hash itself is lost, it restarts at 0 (an
 * undercount of the surviving entries until they expire).  It carries
 * PEXPIREAT past the latest expiry it counts.
 *
 * count() does no I/O (it may run on a loop): it returns "live" as the
 * last script of this registry saw it, a cluster-wide estimate.
 *
 * Redis down (or a garbage reply): subscribe and reserve return -1,
 * subscribed 0, subscribers 0 with an empty list; the connection back-off
 * (redis.h) makes that fast.  Replies are validated (types, sizes).
 */
#include "server/cluster/cluster.h"

#include "server/core/log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRES_BUCKET_MS 10000
#define PRES_GRACE_MS (60 * 1000)
#define PRES_ID_MAX 512           /* longest user id accepted */
#define PRES_RESERVE_MAX 4000     /* most ids in one reserve (argv bound) */
#define PRES_SUBS_MAX 100000      /* most subscribers read from one target */
#define PRES_TIME_MAX (1LL << 50) /* times are clamped to [0, this] (Lua doubles) */

#define XSTR_(x) #x
#define XSTR(x) XSTR_(x)

/* ---- scripts ------------------------------------------------------------------- */

/* A number read from Redis: garbage, NaN and the absurdly large give 0. */
#define LUA_NUM                                                                                \
    "local function num(v)\n"                                                                  \
    "  v = tonumber(v)\n"                                                                      \
    "  if not v or v ~= v or v > 4e15 or v < -4e15 then return 0 end\n"                        \
    "  return v\n"                                                                             \
    "end\n"

/* The counter (pt:sub:total = KEYS[2]) and the zset helpers. */
#define LUA_COMMON                                                                             \
    "local T = KEYS[2]\n"                                                                      \
    "local B = " XSTR(PRES_BUCKET_MS) "\n"                                                     \
    "local G = " XSTR(PRES_GRACE_MS) "\n"                                                      \
    LUA_NUM                                                                                    \
    "local function fs(n) return string.format('%d', n) end\n"                                 \
    "local function bk(ms) return math.floor(ms / B) end\n"                                    \
    "local from\n"                                                                             \
    /* buckets before bucket(now) stop counting */                                             \
    "local function advance(now)\n"                                                            \
    "  local nb = bk(now)\n"                                                                   \
    "  from = tonumber(redis.call('HGET', T, 'from'))\n"                                       \
    "  if from and (from ~= from or from < 0 or from > nb + 100000) then from = 0 end\n"       \
    "  if not from then\n"                                                                     \
    "    from = nb\n"                                                                          \
    "    redis.call('HSET', T, 'from', fs(nb))\n"                                              \
    "    if redis.call('PEXPIRETIME', T) < 0 then redis.call('PEXPIREAT', T, fs(now + G)) end\n" \
    "    return\n"                                                                             \
    "  end\n"                                                                                  \
    "  if nb <= from then return end\n"                                                        \
    "  local live\n"                                                                           \
    "  if nb - from <= redis.call('HLEN', T) then\n"                                           \
    "    local gone = 0\n"                                                                     \
    "    for b = from, nb - 1 do\n"                                                            \
    "      local c = redis.call('HGET', T, fs(b))\n"                                           \
    "      if c then gone = gone + num(c); redis.call('HDEL', T, fs(b)) end\n"                 \
    "    end\n"                                                                                \
    "    live = num(redis.call('HGET', T, 'live')) - gone\n"                                   \
    "  else\n" /* a long gap: walk the hash and recount "live" from the buckets */             \
    "    live = 0\n"                                                                           \
    "    local all = redis.call('HGETALL', T)\n"                                               \
    "    for i = 1, #all - 1, 2 do\n"                                                          \
    "      local b = tonumber(all[i])\n"                                                       \
    "      if b and b < nb then redis.call('HDEL', T, all[i])\n"                               \
    "      elseif b then live = live + num(all[i + 1]) end\n"                                  \
    "    end\n"                                                                                \
    "  end\n"                                                                                  \
    "  from = nb\n"                                                                            \
    "  if live < 0 then live = 0 end\n"                                                        \
    "  redis.call('HSET', T, 'from', fs(nb), 'live', fs(live))\n"                              \
    "end\n"                                                                                    \
    /* an entry expiring at s appears (d = 1) or goes (d = -1) */                              \
    "local function inc(s, d)\n"                                                               \
    "  if not s then return end\n"                                                             \
    "  local b = bk(s)\n"                                                                      \
    "  if b < from then return end\n"                                                          \
    "  local c = num(redis.call('HGET', T, fs(b))) + d\n"                                      \
    "  if c > 0 then redis.call('HSET', T, fs(b), fs(c)) else redis.call('HDEL', T, fs(b)) end\n" \
    "  local l = num(redis.call('HGET', T, 'live')) + d\n"                                     \
    "  redis.call('HSET', T, 'live', fs(l > 0 and l or 0))\n"                                  \
    "  if d > 0 and redis.call('PEXPIRETIME', T) < s + G then\n"                               \
    "    redis.call('PEXPIREAT', T, fs(s + G))\n"                                              \
    "  end\n"                                                                                  \
    "end\n"                                                                                    \
    "local function live() return num(redis.call('HGET', T, 'live')) end\n"                    \
    /* drop K's expired entries, uncounting those still counted */                             \
    "local function purge(K, now)\n"                                                           \
    "  if from * B <= now then\n"                                                              \
    "    local old = redis.call('ZRANGEBYSCORE', K, fs(from * B), fs(now), 'WITHSCORES')\n"    \
    "    for i = 2, #old, 2 do inc(tonumber(old[i]), -1) end\n"                                \
    "  end\n"                                                                                  \
    "  redis.call('ZREMRANGEBYSCORE', K, '-inf', fs(now))\n"                                   \
    "end\n"

/* K's lifetime: its latest expiry plus the grace. */
#define LUA_SETTLE                                                                             \
    "local function settle(K)\n"                                                               \
    "  local top = redis.call('ZRANGE', K, -1, -1, 'WITHSCORES')\n"                            \
    "  if top[2] then redis.call('PEXPIREAT', K, fs(num(top[2]) + " XSTR(PRES_GRACE_MS) ")) end\n" \
    "end\n"

/* KEYS: pt:sub:<app>:<target>, pt:sub:total.  ARGV: subscriber, expire,
 * now, per_target, max_total.  Returns {0 or -1, live}. */
static rscript_t s_subscribe = {
    LUA_COMMON LUA_SETTLE
    "local K = KEYS[1]\n"
    "local sub, exp, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local per, max = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "advance(now)\n"
    "purge(K, now)\n"
    "local rc = 0\n"
    "local old = redis.call('ZSCORE', K, sub)\n"
    "if old then\n"
    "  inc(tonumber(old), -1)\n"                      /* renewal */
    "else\n"
    "  local card = redis.call('ZCARD', K)\n"
    "  if card >= per then\n"                          /* full: replace the first to expire */
    "    local p = redis.call('ZPOPMIN', K, card - per + 1)\n"
    "    if #p < 2 then rc = -1 end\n"
    "    for i = 2, #p, 2 do inc(tonumber(p[i]), -1) end\n"
    "  elseif live() >= max then\n"
    "    rc = -1\n"
    "  end\n"
    "end\n"
    "if rc == 0 then\n"
    "  redis.call('ZADD', K, fs(exp), sub)\n"
    "  inc(exp, 1)\n"
    "  settle(K)\n"
    "end\n"
    "return {rc, live()}\n",
    {0}};

/* KEYS: pt:sub:<app>:<target>, pt:sub:total.  ARGV: now, limit.
 * Returns {live, {subscriber...}}. */
static rscript_t s_subscribers = {
    LUA_COMMON
    "local K = KEYS[1]\n"
    "local now = tonumber(ARGV[1])\n"
    "advance(now)\n"
    "purge(K, now)\n"
    "return {live(), redis.call('ZRANGE', K, 0, tonumber(ARGV[2]) - 1)}\n",
    {0}};

/* KEYS: pt:subd:<app>:<subscriber>.  ARGV: expire, cap, now, ids...
 * Returns 0, or -2 over the cap (nothing changed). */
static rscript_t s_reserve = {
    LUA_NUM
    "local function fs(n) return string.format('%d', n) end\n"
    LUA_SETTLE
    "local K = KEYS[1]\n"
    "local exp, cap, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]\n"
    "redis.call('ZREMRANGEBYSCORE', K, '-inf', now)\n"
    "local have, fresh, seen = redis.call('ZCARD', K), 0, {}\n"
    "for i = 4, #ARGV do\n"
    "  local id = ARGV[i]\n"
    "  if not seen[id] then\n"
    "    seen[id] = true\n"
    "    if not redis.call('ZSCORE', K, id) then fresh = fresh + 1 end\n"
    "  end\n"
    "end\n"
    "if have + fresh > cap then return -2 end\n"
    "for i = 4, #ARGV do redis.call('ZADD', K, exp, ARGV[i]) end\n"
    "settle(K)\n"
    "return 0\n",
    {0}};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
    rscript_init(&s_subscribe);
    rscript_init(&s_subscribers);
    rscript_init(&s_reserve);
}

/* ---- the registry -------------------------------------------------------------- */

typedef struct predis {
    presence_reg_t base; /* first */
    rpool_t *pool;
    size_t per_target, max_total;
    atomic_size_t total; /* "live" as the last script saw it */
} predis_t;

static log_rl_t s_rl; /* Redis trouble can come at any rate */

static void fail_log(const char *op, const redisReply *r)
{
    unsigned long skipped = 0;
    if (!log_ratelimit(&s_rl, 5000, &skipped))
        return;
    if (!r)
        LOGW("presence: Redis unreachable", "op=%s skipped=%lu", op, skipped);
    else if (r->type == REDIS_REPLY_ERROR)
        LOGW("presence: Redis error", "op=%s err=%s skipped=%lu", op,
             LQN(r->str ? r->str : "", r->str ? r->len : 0), skipped);
    else
        LOGW("presence: unexpected Redis reply", "op=%s type=%d skipped=%lu", op, r->type,
             skipped);
}

static int64_t clamp_ms(int64_t t)
{
    return t < 0 ? 0 : t > PRES_TIME_MAX ? PRES_TIME_MAX : t;
}

static int id_ok(const char *id)
{
    return id && strnlen(id, PRES_ID_MAX + 1) <= PRES_ID_MAX;
}

/* "pt:<kind>:<app>:<id>" into buf (big enough for any id_ok id). */
#define KEY_CAP (PRES_ID_MAX + 40)
static void key_of(char *buf, const char *kind, int32_t app_id, const char *id)
{
    snprintf(buf, KEY_CAP, "pt:%s:%d:%s", kind, (int)app_id, id);
}

static void note_total(predis_t *p, const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER && e->integer >= 0)
        atomic_store(&p->total, (size_t)e->integer);
}

static int pr_subscribe(presence_reg_t *r, int32_t app_id, const char *subscriber,
                        const char *target, int64_t expire_ms, int64_t now)
{
    predis_t *p = (predis_t *)r;
    if (!id_ok(subscriber) || !id_ok(target))
        return -1;
    rconn_t *c = rpool_get(p->pool);
    if (!c)
        return -1;
    char key[KEY_CAP], exp[24], nw[24], per[24], max[24];
    key_of(key, "sub", app_id, target);
    snprintf(exp, sizeof exp, "%lld", (long long)clamp_ms(expire_ms));
    snprintf(nw, sizeof nw, "%lld", (long long)clamp_ms(now));
    snprintf(per, sizeof per, "%zu", p->per_target);
    snprintf(max, sizeof max, "%zu", p->max_total);
    const char *av[] = {key, "pt:sub:total", subscriber, exp, nw, per, max};
    redisReply *rep = rconn_eval(c, &s_subscribe, 2, 7, av, NULL);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER) {
        note_total(p, rep->element[1]);
        rc = rep->element[0]->integer == 0 ? 0 : -1;
        if (rc < 0)
            LOGD("presence: subscription refused (table full)", "app=%d total=%zu",
                 (int)app_id, atomic_load(&p->total));
    } else {
        fail_log("subscribe", rep);
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int pr_reserve(presence_reg_t *r, int32_t app_id, const char *subscriber,
                      const char *const *ids, size_t n, int64_t expire_ms, size_t cap,
                      int64_t now)
{
    predis_t *p = (predis_t *)r;
    if (!id_ok(subscriber) || n > PRES_RESERVE_MAX || (n && !ids))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!id_ok(ids[i]))
            return -1;
    rconn_t *c = rpool_get(p->pool);
    const char **av = malloc((n + 4) * sizeof *av);
    if (!c || !av) {
        free(av);
        return -1;
    }
    char key[KEY_CAP], exp[24], cp[24], nw[24];
    key_of(key, "subd", app_id, subscriber);
    snprintf(exp, sizeof exp, "%lld", (long long)clamp_ms(expire_ms));
    snprintf(cp, sizeof cp, "%zu", cap);
    snprintf(nw, sizeof nw, "%lld", (long long)clamp_ms(now));
    av[0] = key;
    av[1] = exp;
    av[2] = cp;
    av[3] = nw;
    for (size_t i = 0; i < n; i++)
        av[4 + i] = ids[i];
    redisReply *rep = rconn_eval(c, &s_reserve, 1, (int)(n + 4), av, NULL);
    free(av);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_INTEGER && (rep->integer == 0 || rep->integer == -2))
        rc = (int)rep->integer;
    else
        fail_log("reserve", rep);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int pr_subscribed(presence_reg_t *r, int32_t app_id, const char *subscriber,
                         const char *target, int64_t now)
{
    predis_t *p = (predis_t *)r;
    if (!id_ok(subscriber) || !id_ok(target))
        return 0;
    rconn_t *c = rpool_get(p->pool);
    if (!c)
        return 0;
    char key[KEY_CAP];
    key_of(key, "sub", app_id, target);
    const char *av[] = {"ZSCORE", key, subscriber};
    redisReply *rep = rconn_cmdargv(c, 3, av, NULL);
    int yes = 0;
    if (rep && rep->type == REDIS_REPLY_STRING && rep->str && rep->len < 64) {
        char buf[64], *end;
        memcpy(buf, rep->str, rep->len);
        buf[rep->len] = '\0';
        errno = 0;
        double v = strtod(buf, &end);
        yes = end != buf && !*end && !errno && v > (double)clamp_ms(now);
    } else if (!rep || rep->type != REDIS_REPLY_NIL) {
        fail_log("subscribed", rep);
    }
    if (rep)
        freeReplyObject(rep);
    return yes;
}

static size_t pr_subscribers(presence_reg_t *r, int32_t app_id, const char *target, int64_t now,
                             char ***out)
{
    predis_t *p = (predis_t *)r;
    *out = NULL;
    if (!id_ok(target))
        return 0;
    rconn_t *c = rpool_get(p->pool);
    if (!c)
        return 0;
    size_t limit = p->per_target < PRES_SUBS_MAX ? p->per_target : PRES_SUBS_MAX;
    char key[KEY_CAP], nw[24], lim[24];
    key_of(key, "sub", app_id, target);
    snprintf(nw, sizeof nw, "%lld", (long long)clamp_ms(now));
    snprintf(lim, sizeof lim, "%zu", limit ? limit : 1);
    const char *av[] = {key, "pt:sub:total", nw, lim};
    redisReply *rep = rconn_eval(c, &s_subscribers, 2, 4, av, NULL);
    size_t k = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_ARRAY) {
        note_total(p, rep->element[0]);
        const redisReply *m = rep->element[1];
        size_t n = m->elements < PRES_SUBS_MAX ? m->elements : PRES_SUBS_MAX;
        char **v = n ? calloc(n, sizeof *v) : NULL;
        for (size_t i = 0; v && i < n; i++) {
            const redisReply *e = m->element[i];
            if (e->type != REDIS_REPLY_STRING || !e->str || e->len > PRES_ID_MAX ||
                memchr(e->str, '\0', e->len))
                continue; /* not an id we would have written */
            if ((v[k] = strndup(e->str, e->len)))
                k++;
        }
        if (!k) {
            free(v);
            v = NULL;
        }
        *out = v;
    } else {
        fail_log("subscribers", rep);
    }
    if (rep)
        freeReplyObject(rep);
    return k;
}

static size_t pr_count(presence_reg_t *r)
{
    return atomic_load(&((predis_t *)r)->total);
}

static void pr_destroy(presence_reg_t *r)
{
    predis_t *p = (predis_t *)r;
    if (!p)
        return;
    rpool_free(p->pool);
    free(p);
}

static const presence_reg_ops_t redis_ops = {pr_subscribe, pr_reserve, pr_subscribed,
                                             pr_subscribers, pr_count, pr_destroy};

presence_reg_t *presence_redis_new(const rconf_t *cf, size_t per_target, size_t max_total,
                                   cstats_t *st)
{
    pthread_once(&s_once, scripts_init);
    predis_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base.ops = &redis_ops;
    p->per_target = per_target;
    p->max_total = max_total;
    atomic_init(&p->total, 0);
    p->pool = rpool_new(cf, st ? &st->redis : NULL);
    if (!p->pool) {
        free(p);
        return NULL;
    }
    return &p->base;
}
