/*
 * The session registry in Redis (cluster mode; seam/session.h, cluster.h).
 *
 * A user's devices are one hash, pt:s:<app>:<user>, one field per device
 * "<inc>:<conn_id as 16 hex>" (the node incarnation holding it and its
 * connection there), value "<client_type>|<login_ms>|<imei>" (imei last: it
 * may hold '|').  Each node also keeps the set pt:ns:<inc> of what it
 * registered, member "<app>|<field>|<user>", so that the reaper of a dead
 * node (node.c) can find its devices.
 *
 * login is ONE Lua script: it reads the user's hash, applies the
 * multi-device policy exactly as model/policy.c does (the unit test checks
 * the two agree on thousands of random cases), refuses with SESS_ETOOMANY
 * as session_local.c does, removes the victims from the hash and from
 * their node's set, adds the newcomer and returns the victims.  Policy
 * order is the hash's order (HGETALL), as policy.c's is the array's.
 *
 * count() does no I/O: the registry keeps a mirror of this node's own
 * devices (a sess_local registry), which is also what sess_redis_resync
 * writes back when Redis lost its data.  A rwlock keeps a resync from
 * racing with login/remove (readers): a device removed while the mirror
 * is being written back must not be resurrected.
 *
 * A remove that cannot reach Redis is queued (bounded) and retried by the
 * next call that reaches Redis and by the resync, so a ghost device does
 * not hold a slot of the user's max_devices forever.
 *
 * Every reply is treated as hostile: a malformed field or value is
 * skipped, a NULL reply (Redis down, rconn's back-off) is a fast -1.
 */
#include "server/cluster/cluster.h"
#include "server/core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 600          /* "pt:s:<app>:" + user id */
#define USER_MAX 512         /* longer user ids are refused */
#define IMEI_MAX 512
#define RESYNC_BATCH 500     /* commands per pipeline */
#define PENDING_MAX 65536    /* queued removes at most */
#define LIST_MAX 4096        /* fields read from one user's hash at most */

typedef struct pending {
    int32_t app_id;
    uint64_t conn_id;
    char *user_id;
} pending_t;

typedef struct sredis {
    sess_registry_t base;
    uint32_t inc;
    char inc_s[16];
    rpool_t *pool;
    cstats_t *st;
    sess_registry_t *mirror;
    pthread_rwlock_t rw;        /* readers: login/remove; writer: resync */
    pthread_mutex_t pmu;        /* pending removes */
    pending_t *pend;
    size_t npend, cappend;
    atomic_size_t npend_hint;   /* lock-free "anything queued?" */
    _Atomic int64_t debounce_ms; /* the "last device just left" mark's life */
} sredis_t;

/* ---- scripts ------------------------------------------------------------------ */

/* KEYS[1] user hash, KEYS[2] this node's set, KEYS[3] the user's "last
 * device just left" mark (remove_script).
 * ARGV: field value mode max_per_platform max_devices client_type imei app user
 * Returns {0, devices after, flapped, victim_field, victim_value, ...}, or
 * {-2} (too many).  flapped: the user's first device now, and its last one
 * left within the debounce (on any node): the offline was never told. */
static rscript_t login_script = {
    .src =
        "local field, value = ARGV[1], ARGV[2]\n"
        "local mode, mpp, maxd = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
        "local ct, imei, app, user = tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]\n"
        "local function cls(t)\n"
        "  if t == 0 then return 0 elseif t == 1 then return 1\n"
        "  elseif t <= 3 then return 2 else return 3 end\n"
        "end\n"
        "local function valid(t) return t ~= nil and t >= 0 and t <= 5 and t == math.floor(t) end\n"
        "local function excl(nc, ec)\n"
        "  if mode == 1 then return true\n"
        "  elseif mode == 2 then return nc ~= 1 and ec ~= 1\n"
        "  elseif mode == 3 then return nc ~= 1 and nc == ec end\n"
        "  return false\n"
        "end\n"
        "local all = redis.call('HGETALL', KEYS[1])\n"
        "local devs = {}\n"
        "for i = 1, #all, 2 do\n"
        "  local v = all[i + 1]\n"
        "  local a = string.find(v, '|', 1, true)\n"
        "  local b = a and string.find(v, '|', a + 1, true)\n"
        "  if b then\n"
        "    local t = tonumber(string.sub(v, 1, a - 1))\n"
        "    local ms = tonumber(string.sub(v, a + 1, b - 1))\n"
        "    if valid(t) and ms then\n"
        "      devs[#devs + 1] = {f = all[i], v = v, t = t, ms = ms,\n"
        "                         imei = string.sub(v, b + 1), kick = false}\n"
        "    end\n"
        "  end\n"
        "end\n"
        /* policy.c: -1 (nothing kicked) on a bad mode or client type */
        "local nk = 0\n"
        "if mode and mode >= 1 and mode <= 4 and valid(ct) and cls(ct) ~= 0 then\n"
        "  local nc = cls(ct)\n"
        "  local left = 0\n"
        "  for _, d in ipairs(devs) do\n"
        "    local ec = cls(d.t)\n"
        "    if ec ~= 0 then\n"
        "      if (d.t == ct and d.imei == imei) or excl(nc, ec) then\n"
        "        d.kick = true; nk = nk + 1\n"
        "      elseif d.t == ct then\n"
        "        left = left + 1\n"
        "      end\n"
        "    end\n"
        "  end\n"
        "  if mpp and mpp > 0 and left + 1 > mpp then\n"
        "    local excess = left + 1 - mpp\n"
        "    while excess > 0 do\n"
        "      local old = nil\n"
        "      for _, d in ipairs(devs) do\n"
        "        if not d.kick and d.t == ct and (old == nil or d.ms < old.ms) then old = d end\n"
        "      end\n"
        "      if old == nil then break end\n"
        "      old.kick = true; nk = nk + 1; excess = excess - 1\n"
        "    end\n"
        "  end\n"
        "end\n"
        "local stay = #devs - nk\n"
        "if maxd and maxd > 0 and stay >= maxd then return {-2} end\n"
        "local flap = 0\n"
        "if stay == 0 then flap = redis.call('DEL', KEYS[3]) end\n"
        "local out = {0, stay + 1, flap}\n"
        "for _, d in ipairs(devs) do\n"
        "  if d.kick then\n"
        "    redis.call('HDEL', KEYS[1], d.f)\n"
        "    local inc = string.match(d.f, '^(%d+):')\n"
        "    if inc then redis.pcall('SREM', 'pt:ns:' .. inc, app .. '|' .. d.f .. '|' .. user) end\n"
        "    out[#out + 1] = d.f; out[#out + 1] = d.v\n"
        "  end\n"
        "end\n"
        "redis.call('HSET', KEYS[1], field, value)\n"
        "redis.call('SADD', KEYS[2], app .. '|' .. field .. '|' .. user)\n"
        "return out\n",
};

/* KEYS[1] user hash, KEYS[2] this node's set; ARGV field, member. */
/* KEYS[1] user hash, KEYS[2] this node's set, KEYS[3] the user's mark;
 * ARGV field, member, debounce ms.  0 not there, 1 removed, 2 removed and
 * it was the user's last device, which also sets the mark for the
 * debounce: a login on any node within it is a flap. */
static rscript_t remove_script = {
    .src = "local n = redis.call('HDEL', KEYS[1], ARGV[1])\n"
           "redis.call('SREM', KEYS[2], ARGV[2])\n"
           "local d = tonumber(ARGV[3])\n"
           "if n == 1 and redis.call('HLEN', KEYS[1]) == 0 then\n"
           "  if d and d > 0 then redis.call('SET', KEYS[3], '1', 'PX', math.floor(d)) end\n"
           "  return 2\n"
           "end\n"
           "return n\n",
};

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
    rscript_init(&login_script);
    rscript_init(&remove_script);
}

/* ---- names and parsing ------------------------------------------------------------ */

static void field_of(char *out, size_t cap, uint32_t inc, uint64_t conn_id)
{
    snprintf(out, cap, "%" PRIu32 ":%016" PRIx64, inc, conn_id);
}

/* "<inc>:<16 hex>" -> inc (1..2^31-1), conn_id.  0 or -1. */
static int parse_field(const char *s, size_t len, uint32_t *inc, uint64_t *conn_id)
{
    size_t i = 0;
    uint64_t v = 0;
    while (i < len && i < 11 && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (uint64_t)(s[i++] - '0');
    if (i == 0 || i >= len || s[i] != ':' || v == 0 || v > 0x7fffffffu)
        return -1;
    if (len - i - 1 != 16)
        return -1;
    uint64_t c = 0;
    for (size_t k = i + 1; k < len; k++) {
        char ch = s[k];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        c = c << 4 | (uint64_t)d;
    }
    *inc = (uint32_t)v;
    *conn_id = c;
    return 0;
}

/* "<client_type>|<login_ms>|<imei>" into d (imei copied).  0 or -1. */
static int parse_value(const char *s, size_t len, sess_device_t *d)
{
    const char *a = memchr(s, '|', len);
    if (!a || a == s || a - s > 2)
        return -1;
    const char *b = memchr(a + 1, '|', len - (size_t)(a + 1 - s));
    if (!b || b == a + 1 || b - a - 1 > 20)
        return -1;
    int ct = 0;
    for (const char *p = s; p < a; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        ct = ct * 10 + (*p - '0');
    }
    if (ct > 5)
        return -1;
    int64_t ms = 0;
    const char *p = a + 1;
    int neg = *p == '-';
    if (neg)
        p++;
    if (p == b)
        return -1;
    for (; p < b; p++) {
        if (*p < '0' || *p > '9' || ms > (INT64_MAX - 9) / 10)
            return -1;
        ms = ms * 10 + (*p - '0');
    }
    size_t il = len - (size_t)(b + 1 - s);
    if (il > IMEI_MAX)
        return -1;
    char *imei = malloc(il + 1);
    if (!imei)
        return -1;
    memcpy(imei, b + 1, il);
    imei[il] = '\0';
    d->client_type = ct;
    d->login_ms = neg ? -ms : ms;
    d->imei = imei;
    return 0;
}

/* A device from a (field, value) pair of replies; 0 or -1 (nothing kept). */
static int device_of(const redisReply *f, const redisReply *v, int32_t app_id, const char *user_id,
                     sess_device_t *d)
{
    memset(d, 0, sizeof *d);
    if (!f || !v || f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
        return -1;
    if (parse_field(f->str, f->len, &d->node, &d->conn_id) < 0 ||
        parse_value(v->str, v->len, d) < 0)
        return -1;
    d->app_id = app_id;
    d->user_id = strdup(user_id);
    if (!d->user_id) {
        free(d->imei);
        d->imei = NULL;
        return -1;
    }
    return 0;
}

static int user_key(char *out, size_t cap, int32_t app_id, const char *user_id)
{
    int n = snprintf(out, cap, "pt:s:%" PRId32 ":%s", app_id, user_id);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* The user's "last device just left" mark. */
static int off_key(char *out, size_t cap, int32_t app_id, const char *user_id)
{
    int n = snprintf(out, cap, "pt:off:%" PRId32 ":%s", app_id, user_id);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int member_of(char *out, size_t cap, int32_t app_id, const char *field, const char *user_id)
{
    int n = snprintf(out, cap, "%" PRId32 "|%s|%s", app_id, field, user_id);
    return n > 0 && (size_t)n < cap ? n : -1;
}

static int user_ok(const char *user_id)
{
    return user_id && *user_id && strlen(user_id) <= USER_MAX;
}

/* ---- removes that could not reach Redis ------------------------------------------ */

static void pending_push(sredis_t *s, int32_t app_id, const char *user_id, uint64_t conn_id)
{
    static log_rl_t rl;
    unsigned long skipped;
    pthread_mutex_lock(&s->pmu);
    if (s->npend == s->cappend) {
        size_t nc = s->cappend ? s->cappend * 2 : 64;
        pending_t *np = nc <= PENDING_MAX ? realloc(s->pend, nc * sizeof *np) : NULL;
        if (!np) {
            pthread_mutex_unlock(&s->pmu);
            if (log_ratelimit(&rl, 10000, &skipped))
                LOGW("cluster session remove lost", "user=%s conn=%016" PRIx64 " skipped=%lu",
                     LQ(user_id), conn_id, skipped);
            return;
        }
        s->pend = np;
        s->cappend = nc;
    }
    char *u = strdup(user_id);
    if (u) {
        s->pend[s->npend++] = (pending_t){app_id, conn_id, u};
        atomic_store(&s->npend_hint, s->npend);
    }
    pthread_mutex_unlock(&s->pmu);
}

/* A login on conn_id: an older queued remove of it must not undo it. */
static void pending_forget(sredis_t *s, int32_t app_id, const char *user_id, uint64_t conn_id)
{
    if (!atomic_load(&s->npend_hint))
        return;
    pthread_mutex_lock(&s->pmu);
    for (size_t i = 0; i < s->npend;) {
        pending_t *p = &s->pend[i];
        if (p->conn_id == conn_id && p->app_id == app_id && !strcmp(p->user_id, user_id)) {
            free(p->user_id);
            s->pend[i] = s->pend[--s->npend];
        } else {
            i++;
        }
    }
    atomic_store(&s->npend_hint, s->npend);
    pthread_mutex_unlock(&s->pmu);
}

static int redis_remove(sredis_t *s, rconn_t *c, int32_t app_id, const char *user_id,
                        uint64_t conn_id);

/* Retry the queued removes (called with the rwlock held, either side). */
static void pending_flush(sredis_t *s, rconn_t *c)
{
    if (!atomic_load(&s->npend_hint))
        return;
    pthread_mutex_lock(&s->pmu);
    pending_t *list = s->pend;
    size_t n = s->npend;
    s->pend = NULL;
    s->npend = s->cappend = 0;
    atomic_store(&s->npend_hint, 0);
    pthread_mutex_unlock(&s->pmu);
    size_t i = 0;
    for (; i < n; i++)
        if (redis_remove(s, c, list[i].app_id, list[i].user_id, list[i].conn_id) < 0)
            break;
    for (size_t k = i; k < n; k++)
        pending_push(s, list[k].app_id, list[k].user_id, list[k].conn_id);
    for (size_t k = 0; k < n; k++)
        free(list[k].user_id);
    free(list);
    if (i)
        LOGI("cluster session removes retried", "done=%zu left=%zu", i, n - i);
}

/* ---- ops ------------------------------------------------------------------------------ */

static int sr_login(sess_registry_t *r, const sess_login_t *q, sess_device_t **victims,
                    size_t *n_victims)
{
    sredis_t *s = (sredis_t *)r;
    *victims = NULL;
    *n_victims = 0;
    if (!user_ok(q->user_id) || !q->imei || strlen(q->imei) > IMEI_MAX)
        return -1;
    rconn_t *c = rpool_get(s->pool);
    if (!c)
        return -1;
    char key[KEY_MAX], offkey[KEY_MAX], nskey[32], field[48], member[KEY_MAX + 64], argn[5][24];
    size_t vcap = strlen(q->imei) + 48;
    char *value = malloc(vcap);
    if (!value)
        return -1;
    snprintf(value, vcap, "%d|%" PRId64 "|%s", q->client_type, q->login_ms, q->imei);
    field_of(field, sizeof field, s->inc, q->conn_id);
    if (user_key(key, sizeof key, q->app_id, q->user_id) < 0 ||
        off_key(offkey, sizeof offkey, q->app_id, q->user_id) < 0 ||
        member_of(member, sizeof member, q->app_id, field, q->user_id) < 0) {
        free(value);
        return -1;
    }
    snprintf(nskey, sizeof nskey, "pt:ns:%s", s->inc_s);
    snprintf(argn[0], sizeof argn[0], "%d", q->policy_mode);
    snprintf(argn[1], sizeof argn[1], "%d", q->max_per_platform);
    snprintf(argn[2], sizeof argn[2], "%d", q->max_devices);
    snprintf(argn[3], sizeof argn[3], "%d", q->client_type);
    snprintf(argn[4], sizeof argn[4], "%" PRId32, q->app_id);
    const char *argv[] = {key,     nskey,   offkey,  field,   value,   argn[0],
                          argn[1], argn[2], argn[3], q->imei, argn[4], q->user_id};

    pthread_rwlock_rdlock(&s->rw);
    pending_forget(s, q->app_id, q->user_id, q->conn_id);
    redisReply *rep = rconn_eval(c, &login_script, 3, 12, argv, NULL);
    free(value);
    int rc = -1;
    if (!rep) {
        pthread_rwlock_unlock(&s->rw);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER) {
        static log_rl_t rl;
        unsigned long skipped;
        if (log_ratelimit(&rl, 10000, &skipped))
            LOGW("cluster session login: bad reply", "type=%d err=%s skipped=%lu", rep->type,
                 rep->type == REDIS_REPLY_ERROR ? LQ(rep->str) : "-", skipped);
        goto out;
    }
    if (rep->element[0]->integer == SESS_ETOOMANY) {
        rc = SESS_ETOOMANY;
        goto out;
    }
    if (rep->element[0]->integer != 0)
        goto out;
    if (rep->elements < 3 || rep->element[1]->type != REDIS_REPLY_INTEGER ||
        rep->element[2]->type != REDIS_REPLY_INTEGER)
        goto out;
    rc = 0;
    if (q->n_after)
        *q->n_after = rep->element[1]->integer > 0 ? (size_t)rep->element[1]->integer : 0;
    if (q->flapped)
        *q->flapped = rep->element[2]->integer > 0;
    size_t nv = (rep->elements - 3) / 2;
    sess_device_t *vs = nv ? calloc(nv, sizeof *vs) : NULL;
    size_t k = 0;
    for (size_t i = 0; vs && i < nv; i++) {
        if (device_of(rep->element[3 + 2 * i], rep->element[4 + 2 * i], q->app_id, q->user_id,
                      &vs[k]) == 0)
            k++;
    }
    /* the mirror: the newcomer in, this node's victims out */
    sess_login_t mq = *q;
    mq.n_after = NULL;
    mq.flapped = NULL;
    mq.policy_mode = 4;
    mq.max_per_platform = 0;
    mq.max_devices = 0;
    sess_device_t *mv = NULL;
    size_t nmv = 0;
    if (s->mirror->ops->login(s->mirror, &mq, &mv, &nmv) == 0)
        sess_devices_free(mv, nmv);
    for (size_t i = 0; i < k; i++)
        if (vs[i].node == s->inc)
            s->mirror->ops->remove(s->mirror, q->app_id, q->user_id, vs[i].conn_id);
    if (k) {
        *victims = vs;
        *n_victims = k;
    } else {
        free(vs);
    }
    pending_flush(s, c);
out:
    pthread_rwlock_unlock(&s->rw);
    freeReplyObject(rep);
    return rc;
}

/* HDEL + SREM for one of this node's devices: 1, 0, or -1 (not reached). */
static int redis_remove(sredis_t *s, rconn_t *c, int32_t app_id, const char *user_id,
                        uint64_t conn_id)
{
    char key[KEY_MAX], offkey[KEY_MAX], nskey[32], field[48], member[KEY_MAX + 64], deb[24];
    field_of(field, sizeof field, s->inc, conn_id);
    if (user_key(key, sizeof key, app_id, user_id) < 0 ||
        off_key(offkey, sizeof offkey, app_id, user_id) < 0 ||
        member_of(member, sizeof member, app_id, field, user_id) < 0)
        return 0; /* cannot have been registered */
    snprintf(nskey, sizeof nskey, "pt:ns:%s", s->inc_s);
    snprintf(deb, sizeof deb, "%" PRId64, atomic_load(&s->debounce_ms));
    const char *argv[] = {key, nskey, offkey, field, member, deb};
    redisReply *rep = rconn_eval(c, &remove_script, 3, 6, argv, NULL);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0 && rep->integer <= 2
                 ? (int)rep->integer : -1;
    freeReplyObject(rep);
    return rc;
}

static int sr_remove(sess_registry_t *r, int32_t app_id, const char *user_id, uint64_t conn_id)
{
    sredis_t *s = (sredis_t *)r;
    if (!user_ok(user_id))
        return 0;
    rconn_t *c = rpool_get(s->pool);
    pthread_rwlock_rdlock(&s->rw);
    /* the connection is gone whatever Redis says */
    s->mirror->ops->remove(s->mirror, app_id, user_id, conn_id);
    int rc = c ? redis_remove(s, c, app_id, user_id, conn_id) : -1;
    if (rc < 0)
        pending_push(s, app_id, user_id, conn_id);
    else if (c)
        pending_flush(s, c);
    pthread_rwlock_unlock(&s->rw);
    return rc;
}

/* The devices of an HGETALL reply into *out / *n; 0, or -1 (not an array, OOM). */
static int devices_of_reply(const redisReply *rep, int32_t app_id, const char *user_id,
                            sess_device_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return -1;
    size_t np = rep->elements / 2;
    if (np > LIST_MAX)
        np = LIST_MAX;
    if (!np)
        return 0;
    sess_device_t *v = calloc(np, sizeof *v);
    if (!v)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < np; i++)
        if (device_of(rep->element[2 * i], rep->element[2 * i + 1], app_id, user_id, &v[k]) == 0)
            k++;
    if (k) {
        *out = v;
        *n = k;
    } else {
        free(v);
    }
    return 0;
}

static int sr_list(sess_registry_t *r, int32_t app_id, const char *user_id, sess_device_t **out,
                   size_t *n)
{
    sredis_t *s = (sredis_t *)r;
    *out = NULL;
    *n = 0;
    if (!user_ok(user_id))
        return 0;
    rconn_t *c = rpool_get(s->pool);
    char key[KEY_MAX];
    if (!c || user_key(key, sizeof key, app_id, user_id) < 0)
        return -1;
    const char *argv[] = {"HGETALL", key};
    redisReply *rep = rconn_cmdargv(c, 2, argv, NULL);
    if (!rep)
        return -1;
    int rc = devices_of_reply(rep, app_id, user_id, out, n);
    freeReplyObject(rep);
    return rc;
}

/* Many users in one pipeline of HGETALLs. */
static int sr_list_many(sess_registry_t *r, const int32_t *app_ids, const char *const *user_ids,
                        size_t n, sess_device_t **out, size_t *nout)
{
    sredis_t *s = (sredis_t *)r;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        nout[i] = 0;
    }
    rconn_t *c = rpool_get(s->pool);
    if (!c)
        return -1;
    uint8_t *asked = calloc(n ? n : 1, 1);
    if (!asked)
        return -1;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        char key[KEY_MAX];
        if (!user_ok(user_ids[i]) || user_key(key, sizeof key, app_ids[i], user_ids[i]) < 0)
            continue;
        const char *argv[] = {"HGETALL", key};
        if (rconn_appendargv(c, 2, argv, NULL) < 0)
            break;
        asked[i] = 1;
        sent++;
    }
    int rc = sent || !n ? 0 : -1;
    for (size_t i = 0; i < n && sent; i++) {
        if (!asked[i])
            continue;
        redisReply *rep = rconn_reply(c);
        sent--;
        if (!rep) { /* the connection dropped: the rest is lost */
            rc = -1;
            break;
        }
        devices_of_reply(rep, app_ids[i], user_ids[i], &out[i], &nout[i]);
        freeReplyObject(rep);
    }
    if (sent) /* appended but never read (append failed midway): start clean */
        rconn_reset(c);
    free(asked);
    return rc;
}

static void sr_count(sess_registry_t *r, uint64_t *devices, uint64_t *users)
{
    sredis_t *s = (sredis_t *)r;
    s->mirror->ops->count(s->mirror, devices, users);
}

static void sr_destroy(sess_registry_t *r)
{
    sredis_t *s = (sredis_t *)r;
    if (!s)
        return;
    if (s->npend)
        LOGW("cluster session removes not done", "count=%zu", s->npend);
    for (size_t i = 0; i < s->npend; i++)
        free(s->pend[i].user_id);
    free(s->pend);
    if (s->mirror)
        s->mirror->ops->destroy(s->mirror);
    rpool_free(s->pool);
    pthread_rwlock_destroy(&s->rw);
    pthread_mutex_destroy(&s->pmu);
    free(s);
}

static const sess_ops_t sredis_ops = {sr_login, sr_remove, sr_list, sr_count, sr_destroy,
                                      sr_list_many};

sess_registry_t *sess_redis_new(const rconf_t *cf, uint32_t node, cstats_t *st)
{
    if (!cf || node == 0 || node > 0x7fffffffu)
        return NULL;
    pthread_once(&scripts_once, scripts_init);
    sredis_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &sredis_ops;
    s->inc = node;
    snprintf(s->inc_s, sizeof s->inc_s, "%" PRIu32, node);
    s->st = st;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->pmu, NULL);
    s->pool = rpool_new(cf, st ? &st->redis : NULL);
    s->mirror = sess_local_new();
    if (!s->pool || !s->mirror) {
        sr_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}

void sess_redis_set_debounce(sess_registry_t *r, int64_t ms)
{
    atomic_store(&((sredis_t *)r)->debounce_ms, ms > 0 ? ms : 0);
}

/* ---- resync ------------------------------------------------------------------------------ */

typedef struct snap {
    sess_device_t *v;
    size_t n, cap;
    int oom;
} snap_t;

static void snap_one(void *ctx, const sess_device_t *d)
{
    snap_t *sn = ctx;
    if (sn->oom)
        return;
    if (sn->n == sn->cap) {
        size_t nc = sn->cap ? sn->cap * 2 : 256;
        sess_device_t *nv = realloc(sn->v, nc * sizeof *nv);
        if (!nv) {
            sn->oom = 1;
            return;
        }
        sn->v = nv;
        sn->cap = nc;
    }
    sess_device_t *o = &sn->v[sn->n];
    *o = *d;
    o->user_id = strdup(d->user_id);
    o->imei = strdup(d->imei);
    if (!o->user_id || !o->imei) {
        free(o->user_id);
        free(o->imei);
        sn->oom = 1;
        return;
    }
    sn->n++;
}

/* Append HSET + SADD for one device: 0, or -1 (not connected). */
static int resync_append(sredis_t *s, rconn_t *c, const char *nskey, const sess_device_t *d)
{
    char key[KEY_MAX], field[48], member[KEY_MAX + 64];
    field_of(field, sizeof field, s->inc, d->conn_id);
    if (user_key(key, sizeof key, d->app_id, d->user_id) < 0 ||
        member_of(member, sizeof member, d->app_id, field, d->user_id) < 0)
        return 1; /* skipped */
    size_t vcap = strlen(d->imei) + 48;
    char *value = malloc(vcap);
    if (!value)
        return 1;
    snprintf(value, vcap, "%d|%" PRId64 "|%s", d->client_type, d->login_ms, d->imei);
    const char *hset[] = {"HSET", key, field, value};
    const char *sadd[] = {"SADD", nskey, member};
    int rc = rconn_appendargv(c, 4, hset, NULL) < 0 ? -1 : 0;
    if (rc == 0 && rconn_appendargv(c, 3, sadd, NULL) < 0)
        rc = -2; /* one command appended */
    free(value);
    return rc;
}

/* Read the n replies of a pipeline; -1 if any is missing or an error. */
static int drain(rconn_t *c, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *rep = rconn_reply(c);
        if (!rep)
            return -1; /* the connection is dropped: the rest is lost */
        if (rep->type == REDIS_REPLY_ERROR)
            rc = -1;
        freeReplyObject(rep);
    }
    return rc;
}

int sess_redis_resync(sess_registry_t *r)
{
    sredis_t *s = (sredis_t *)r;
    if (!s || r->ops != &sredis_ops)
        return -1;
    rconn_t *c = rpool_get(s->pool);
    if (!c)
        return -1;
    char nskey[32];
    snprintf(nskey, sizeof nskey, "pt:ns:%s", s->inc_s);
    pthread_rwlock_wrlock(&s->rw);
    snap_t sn = {0};
    sess_local_each(s->mirror, snap_one, &sn);
    int rc = sn.oom ? -1 : 0;
    size_t done = 0;
    int queued = 0;
    for (size_t i = 0; rc == 0 && i < sn.n; i++) {
        int a = resync_append(s, c, nskey, &sn.v[i]);
        if (a == 0)
            queued += 2;
        else if (a == -2)
            queued += 1;
        if (a < 0) {
            drain(c, queued);
            rc = -1;
            break;
        }
        if (a == 0)
            done++;
        if (queued >= RESYNC_BATCH || i + 1 == sn.n) {
            if (drain(c, queued) < 0)
                rc = -1;
            queued = 0;
        }
    }
    if (rc == 0)
        pending_flush(s, c);
    pthread_rwlock_unlock(&s->rw);
    sess_devices_free(sn.v, sn.n);
    if (rc == 0)
        LOGI("cluster sessions re-registered", "node=%s devices=%zu", s->inc_s, done);
    else
        LOGW("cluster session re-registration failed", "node=%s devices=%zu of=%zu", s->inc_s,
             done, sn.n);
    return rc;
}
