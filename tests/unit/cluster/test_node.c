/*
 * Unit tests of a node's life in the cluster (src/server/cluster/node.c)
 * against a real redis-server (skipped when it is not installed).  Two
 * nodes A and B with a 100 ms heartbeat and a 500 ms timeout:
 *   - a third node with A's node_id is refused while A lives;
 *   - cnode_alive lists both, with their addresses;
 *   - A stops beating (cnode_pause, node_test.h): B reaps it in time,
 *     on_peer_dead gets the users whose last device was on A, A's entries
 *     are gone and B's untouched;
 *   - A resumes: its next beat says "reaped", on_reaped is called and A is
 *     registered again;
 *   - Redis restarts empty: "missing", on_resync (which re-registers A's
 *     sessions with sess_redis_resync) is called, redis_ok drops then
 *     comes back;
 *   - A stops (cnode_stop) while B lives: B removes it at its next beat
 *     (on_peer_dead) and A's keys are gone; the last node to stop removes
 *     itself and whoever left just before it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/redis_server.h"
#include "server/cluster/cluster.h"
#include "server/cluster/node_test.h"

static redis_server_t rs;
static rconf_t cf;
static rconn_t *raw;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    int rc = redis_server_conf(&rs, "node", &cf, 500);
    if (rc != 0)
        return rc == 1 ? 0 : -1; /* 1: not installed, every test skips */
    raw = rconn_new(&cf, NULL);
    return raw ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rconn_free(raw);
    if (rs.dir[0])
        redis_server_close(&rs);
    return 0;
}

static long long raw_int(const char *fmt, const char *a)
{
    redisReply *r = rconn_cmd(raw, fmt, a);
    for (int i = 0; !r && i < 30; i++) {
        usleep(100 * 1000);
        r = rconn_cmd(raw, fmt, a);
    }
    assert_non_null(r);
    long long v = rreply_int(r, -1);
    freeReplyObject(r);
    return v;
}

/* What the callbacks saw. */
typedef struct seen {
    pthread_mutex_t mu;
    int reaped, resync, peer_dead;
    uint32_t dead_inc;
    char users[8][64];
    size_t nusers;
    sess_registry_t *sess; /* resynced on on_resync */
    int resync_rc;
    uint64_t devices;
} seen_t;

static void on_reaped(void *ctx)
{
    seen_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->reaped++;
    pthread_mutex_unlock(&s->mu);
}

static void on_resync(void *ctx)
{
    seen_t *s = ctx;
    int rc = s->sess ? sess_redis_resync(s->sess) : 0;
    pthread_mutex_lock(&s->mu);
    s->resync++;
    s->resync_rc = rc;
    pthread_mutex_unlock(&s->mu);
}

static void on_peer_dead(void *ctx, uint32_t inc, const cnode_user_t *users, size_t n)
{
    seen_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->peer_dead++;
    s->dead_inc = inc;
    for (size_t i = 0; i < n && s->nusers < 8; i++)
        snprintf(s->users[s->nusers++], sizeof s->users[0], "%d:%s", users[i].app_id,
                 users[i].user_id);
    pthread_mutex_unlock(&s->mu);
}

static uint64_t devices(void *ctx)
{
    seen_t *s = ctx;
    return s->devices;
}

static cnode_cfg_t config(cstats_t *st, seen_t *s, int node_id, const char *tcp, const char *ws)
{
    return (cnode_cfg_t){.redis = cf, .stats = st, .node_id = node_id, .public_tcp = tcp,
                         .public_ws = ws, .heartbeat_ms = 100, .timeout_ms = 500,
                         .on_reaped = on_reaped, .on_resync = on_resync,
                         .on_peer_dead = on_peer_dead, .devices = devices, .ctx = s};
}

static int get(seen_t *s, int *field)
{
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* Wait up to ms for *field to reach at least want. */
static int wait_for(seen_t *s, int *field, int want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (get(s, field) >= want)
            return 1;
        usleep(10 * 1000);
    }
    return get(s, field) >= want;
}

static int alive_has(cnode_t *n, uint32_t inc, const char *tcp)
{
    cnode_info_t *v;
    size_t k = cnode_alive(n, &v);
    int found = 0;
    for (size_t i = 0; i < k; i++)
        if (v[i].inc == inc && !strcmp(v[i].tcp, tcp))
            found = 1;
    free(v);
    return found;
}

static void login(sess_registry_t *r, const char *user, int ct, uint64_t conn)
{
    sess_login_t q = {.app_id = 4, .user_id = user, .client_type = ct, .imei = "i",
                      .login_ms = 1, .conn_id = conn, .policy_mode = 4};
    sess_device_t *v;
    size_t nv;
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 0);
}

static void test_node_life(void **state)
{
    (void)state;
    if (!raw)
        skip();
    redisReply *x = rconn_cmd(raw, "FLUSHALL");
    assert_non_null(x);
    freeReplyObject(x);
    cstats_t sta, stb;
    memset(&sta, 0, sizeof sta);
    memset(&stb, 0, sizeof stb);
    seen_t sa = {.mu = PTHREAD_MUTEX_INITIALIZER, .devices = 3};
    seen_t sb = {.mu = PTHREAD_MUTEX_INITIALIZER, .devices = 1};
    char err[128];
    cnode_cfg_t ca = config(&sta, &sa, 1, "10.0.0.1:9000", "10.0.0.1:9001");
    cnode_cfg_t cb = config(&stb, &sb, 2, "10.0.0.2:9000", "");
    cnode_t *a = cnode_start(&ca, err, sizeof err);
    assert_non_null(a);
    cnode_t *b = cnode_start(&cb, err, sizeof err);
    assert_non_null(b);
    uint32_t ia = cnode_inc(a), ib = cnode_inc(b);
    assert_true(ia > 0 && ia < 0x80000000u);
    assert_true(ib > 0 && ia != ib);

    /* node_id 1 is A's */
    seen_t sc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cnode_cfg_t cc = config(NULL, &sc, 1, "", "");
    err[0] = '\0';
    assert_null(cnode_start(&cc, err, sizeof err));
    assert_string_equal(err, "node_id 1 is taken by a live node");

    /* both see both */
    int ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        ok = alive_has(a, ib, "10.0.0.2:9000") && alive_has(b, ia, "10.0.0.1:9000");
        if (!ok)
            usleep(20 * 1000);
    }
    assert_true(ok);
    cnode_info_t *v;
    size_t k = cnode_alive(b, &v);
    assert_int_equal(k, 2);
    for (size_t i = 0; i < k; i++) {
        if (v[i].inc == ia) {
            assert_int_equal(v[i].node_id, 1);
            assert_string_equal(v[i].ws, "10.0.0.1:9001");
            assert_int_equal(v[i].devices, 3);
        } else {
            assert_int_equal(v[i].inc, ib);
            assert_int_equal(v[i].node_id, 2);
            assert_string_equal(v[i].ws, "");
        }
    }
    free(v);
    assert_int_equal(atomic_load(&stb.nodes_alive), 2);
    assert_int_equal(atomic_load(&sta.redis_ok), 1);

    /* sessions: u1 only on A, u2 on A and B, u3 only on B */
    sess_registry_t *ra = sess_redis_new(&cf, ia, &sta);
    sess_registry_t *rb = sess_redis_new(&cf, ib, &stb);
    assert_non_null(ra);
    assert_non_null(rb);
    sa.sess = ra;
    login(ra, "u1", 2, 1);
    login(ra, "u1", 4, 2);
    login(ra, "u2", 2, 3);
    login(rb, "u2", 4, 4);
    login(rb, "u3", 2, 5);
    char key[32];
    snprintf(key, sizeof key, "pt:ns:%" PRIu32, ia);
    assert_int_equal(raw_int("SCARD %s", key), 3);

    /* A stalls: B reaps it */
    cnode_pause(a, 1);
    int64_t t0 = now_ms();
    assert_true(wait_for(&sb, &sb.peer_dead, 1, 3000));
    int64_t took = now_ms() - t0;
    print_message("A reaped by B after %lld ms (timeout 500, heartbeat 100)\n", (long long)took);
    assert_true(took < 500 + 4 * 100 + 300);
    pthread_mutex_lock(&sb.mu);
    assert_int_equal(sb.dead_inc, ia);
    assert_int_equal(sb.nusers, 1);
    assert_string_equal(sb.users[0], "4:u1");
    pthread_mutex_unlock(&sb.mu);
    assert_int_equal(atomic_load(&stb.reaps), 1);
    assert_int_equal(raw_int("EXISTS %s", "pt:s:4:u1"), 0);
    assert_int_equal(raw_int("HLEN %s", "pt:s:4:u2"), 1);
    assert_int_equal(raw_int("HLEN %s", "pt:s:4:u3"), 1);
    assert_int_equal(raw_int("EXISTS %s", key), 0);
    snprintf(key, sizeof key, "pt:ns:%" PRIu32, ib);
    assert_int_equal(raw_int("SCARD %s", key), 2);
    snprintf(key, sizeof key, "pt:node:%" PRIu32, ia);
    assert_int_equal(raw_int("EXISTS %s", key), 0);
    snprintf(key, sizeof key, "pt:reaped:%" PRIu32, ia);
    assert_int_equal(raw_int("EXISTS %s", key), 1);
    char inc_s[16];
    snprintf(inc_s, sizeof inc_s, "%" PRIu32, ia);
    x = rconn_cmd(raw, "ZSCORE pt:nodes %s", inc_s);
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_NIL);
    freeReplyObject(x);
    ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        ok = !alive_has(b, ia, "10.0.0.1:9000");
        if (!ok)
            usleep(20 * 1000);
    }
    assert_true(ok);

    /* A comes back: reaped -> on_reaped -> registered again */
    cnode_pause(a, 0);
    assert_true(wait_for(&sa, &sa.reaped, 1, 2000));
    assert_int_equal(atomic_load(&sta.reaped_self), 1);
    ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        ok = alive_has(b, ia, "10.0.0.1:9000");
        if (!ok)
            usleep(20 * 1000);
    }
    assert_true(ok);
    snprintf(key, sizeof key, "pt:reaped:%" PRIu32, ia);
    assert_int_equal(raw_int("EXISTS %s", key), 0);
    assert_int_equal(get(&sb, &sb.peer_dead), 1);
    assert_int_equal(get(&sa, &sa.resync), 0);

    /* Redis restarts empty: missing -> on_resync */
    assert_int_equal(redis_server_script(&rs, "stop"), 0);
    ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        ok = !atomic_load(&sta.redis_ok) && !atomic_load(&stb.redis_ok);
        if (!ok)
            usleep(20 * 1000);
    }
    assert_true(ok);
    assert_int_equal(redis_server_script(&rs, "start"), 0);
    assert_true(wait_for(&sa, &sa.resync, 1, 6000));
    assert_true(wait_for(&sb, &sb.resync, 1, 6000));
    assert_int_equal(get(&sa, &sa.resync_rc), 0);
    assert_int_equal(atomic_load(&sta.redis_ok), 1);
    assert_true(atomic_load(&sta.resyncs) >= 1);
    /* A's mirror still holds u1's and u2's devices (nobody closed them) */
    snprintf(key, sizeof key, "pt:ns:%" PRIu32, ia);
    assert_int_equal(raw_int("SCARD %s", key), 3);
    assert_int_equal(raw_int("HLEN %s", "pt:s:4:u1"), 2);
    snprintf(key, sizeof key, "pt:node:%" PRIu32, ia);
    assert_int_equal(raw_int("EXISTS %s", key), 1);
    ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        ok = alive_has(a, ib, "10.0.0.2:9000") && alive_has(b, ia, "10.0.0.1:9000");
        if (!ok)
            usleep(20 * 1000);
    }
    assert_true(ok);
    assert_int_equal(get(&sa, &sa.reaped), 1);
    assert_int_equal(get(&sb, &sb.peer_dead), 1);

    /* A leaves: B is alive, so A only marks itself gone and B removes it
     * at its next heartbeat, telling its users' friends (on_peer_dead) */
    sa.sess = NULL;
    cnode_stop(a);
    assert_true(wait_for(&sb, &sb.peer_dead, 2, 3000));
    assert_int_equal(raw_int("EXISTS %s", key), 0);
    snprintf(key, sizeof key, "pt:ns:%" PRIu32, ia);
    assert_int_equal(raw_int("EXISTS %s", key), 0);
    assert_int_equal(raw_int("EXISTS %s", "pt:s:4:u1"), 0);
    assert_int_equal(raw_int("HLEN %s", "pt:s:4:u2"), 0); /* B's went with Redis */
    x = rconn_cmd(raw, "ZSCORE pt:nodes %s", inc_s);
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_NIL);
    freeReplyObject(x);
    snprintf(key, sizeof key, "pt:reaped:%" PRIu32, ia);
    assert_int_equal(raw_int("EXISTS %s", key), 1); /* removed like a dead one */
    /* and its node_id is free again */
    cnode_t *c = cnode_start(&cc, err, sizeof err);
    assert_non_null(c);
    cnode_stop(c);
    cnode_stop(b);
    assert_int_equal(raw_int("ZCARD %s", "pt:nodes"), 0);
    ra->ops->destroy(ra);
    rb->ops->destroy(rb);
}

/* No Redis at all: a clear error, no hang. */
static void test_no_redis(void **state)
{
    (void)state;
    rconf_t none;
    char err[128];
    assert_int_equal(rconf_parse("127.0.0.1:1", &none, err, sizeof err), 0);
    none.timeout_ms = 300;
    seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cnode_cfg_t c = config(NULL, &s, 3, "", "");
    c.redis = none;
    int64_t t0 = now_ms();
    assert_null(cnode_start(&c, err, sizeof err));
    assert_true(now_ms() - t0 < 1000);
    assert_non_null(strstr(err, "does not answer"));
    cnode_stop(NULL);
}

/* Garbage in pt:nodes and in a node's hash does not break a beat. */
static void test_garbage(void **state)
{
    (void)state;
    if (!raw)
        skip();
    redisReply *x = rconn_cmd(raw, "FLUSHALL");
    assert_non_null(x);
    freeReplyObject(x);
    static const char *cmds[] = {
        "ZADD pt:nodes 1 garbage",
        "ZADD pt:nodes 1 99999999999",
        "ZADD pt:nodes 1 0",
        "ZADD pt:nodes 99999999999999 77",  /* far future: alive, no hash */
        "ZADD pt:nodes 99999999999999 78",
        "HSET pt:node:78 node_id banana tcp x",
        "ZADD pt:nodes 99999999999999 79",
        "SET pt:node:79 notahash",
        "ZADD pt:nodes 1 80",               /* dead, its set holds garbage */
        "SADD pt:ns:80 nopipes one|pipe 4|80:0000000000000001|zed",
        "HSET pt:s:4:zed 80:0000000000000001 2|1|i",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        x = rconn_cmd(raw, cmds[i]);
        assert_non_null(x);
        freeReplyObject(x);
    }
    cstats_t st;
    memset(&st, 0, sizeof st);
    seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cnode_cfg_t c = config(&st, &s, 5, "h:1", "h:2");
    char err[128];
    cnode_t *n = cnode_start(&c, err, sizeof err);
    assert_non_null(n);
    assert_true(wait_for(&s, &s.peer_dead, 1, 2000));
    pthread_mutex_lock(&s.mu);
    assert_int_equal(s.dead_inc, 80);
    assert_int_equal(s.nusers, 1);
    assert_string_equal(s.users[0], "4:zed");
    pthread_mutex_unlock(&s.mu);
    usleep(300 * 1000);
    cnode_info_t *v;
    size_t k = cnode_alive(n, &v);
    assert_int_equal(k, 1); /* only itself has a usable hash */
    assert_int_equal(v[0].inc, cnode_inc(n));
    assert_string_equal(v[0].tcp, "h:1");
    free(v);
    assert_int_equal(atomic_load(&st.redis_ok), 1);
    cnode_stop(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_redis),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_node_life),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
