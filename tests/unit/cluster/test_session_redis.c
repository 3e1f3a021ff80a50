/*
 * Unit tests of the Redis session registry (src/server/cluster/session_redis.c)
 * against a real redis-server (tests/unit/cluster/redis_server.h; skipped
 * when it is not installed):
 *   - the login script's policy agrees with model/policy.c's
 *     policy_victims() on thousands of random device sets (same order: the
 *     hash's, read back with HGETALL), max_devices included;
 *   - two nodes on one Redis: B's login kicks A's device, named by A's inc;
 *   - ETOOMANY, remove, list (malformed entries skipped);
 *   - concurrent logins from several threads on two registries never leave
 *     more devices than the policy allows;
 *   - Redis stopped: -1 fast; restarted: resync writes the mirror back;
 *   - a remove that failed is retried once Redis answers again.
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
#include "server/model/policy.h"

#define INC_A 1001u
#define INC_B 2002u

static redis_server_t rs;
static rconf_t cf;
static rconn_t *raw; /* the test's own connection */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* a write to a killed Redis */
    int rc = redis_server_conf(&rs, "sessredis", &cf, 500);
    if (rc != 0)
        return rc == 1 ? 0 : -1; /* 1: not installed, every test skips */
    raw = rconn_new(&cf, NULL);
    return raw ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rconn_free(raw);
    if (rs.up || rs.dir[0])
        redis_server_close(&rs);
    return 0;
}

#define NEED_REDIS()                                                                   \
    do {                                                                               \
        if (!raw)                                                                      \
            skip();                                                                    \
    } while (0)

static long long raw_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = rconn_cmd(raw, fmt, a, b);
    for (int i = 0; !r && i < 30; i++) { /* after a restart: reconnect */
        usleep(100 * 1000);
        r = rconn_cmd(raw, fmt, a, b);
    }
    assert_non_null(r);
    long long v = rreply_int(r, -1);
    freeReplyObject(r);
    return v;
}

static void flushall(void)
{
    redisReply *r = rconn_cmd(raw, "FLUSHALL");
    assert_non_null(r);
    freeReplyObject(r);
}

static sess_login_t req(int32_t app, const char *user, int ct, const char *imei, int64_t ms,
                        uint64_t conn, int mode, int mpp, int maxd)
{
    return (sess_login_t){.app_id = app, .user_id = user, .client_type = ct, .imei = imei,
                          .login_ms = ms, .conn_id = conn, .policy_mode = mode,
                          .max_per_platform = mpp, .max_devices = maxd};
}

/* ---- the policy matrix: Lua against policy.c ------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_policy_matches_c(void **state)
{
    (void)state;
    NEED_REDIS();
    flushall();
    sess_registry_t *r = sess_redis_new(&cf, INC_A, NULL);
    assert_non_null(r);
    static const char *imeis[] = {"a", "b", "c|x", "d"};
    int kicked_total = 0, toomany_total = 0;
    for (int it = 0; it < 4000; it++) {
        char user[32], key[64];
        snprintf(user, sizeof user, "pm%d", it);
        snprintf(key, sizeof key, "pt:s:7:%s", user);
        size_t n = rnd() % 8;
        /* existing devices, written by hand (both nodes) */
        for (size_t i = 0; i < n; i++) {
            uint32_t inc = rnd() % 2 ? INC_A : INC_B;
            char field[48], value[64], member[128];
            snprintf(field, sizeof field, "%" PRIu32 ":%016" PRIx64, inc, (uint64_t)(it * 16 + i));
            snprintf(value, sizeof value, "%d|%d|%s", (int)(rnd() % 6), (int)(rnd() % 5) + 1000,
                     imeis[rnd() % 4]);
            snprintf(member, sizeof member, "7|%s|%s", field, user);
            redisReply *x = rconn_cmd(raw, "HSET %s %s %s", key, field, value);
            assert_non_null(x);
            freeReplyObject(x);
            x = rconn_cmd(raw, "SADD pt:ns:%u %s", inc, member);
            assert_non_null(x);
            freeReplyObject(x);
        }
        /* read them back in the hash's order */
        redisReply *all = rconn_cmd(raw, "HGETALL %s", key);
        assert_non_null(all);
        assert_int_equal(all->elements, 2 * n);
        policy_dev_t pd[8];
        char imeibuf[8][16];
        uint64_t conns[8];
        for (size_t i = 0; i < n; i++) {
            const char *v = all->element[2 * i + 1]->str;
            int ct, ms;
            assert_int_equal(sscanf(v, "%d|%d|", &ct, &ms), 2);
            const char *im = strchr(strchr(v, '|') + 1, '|') + 1;
            snprintf(imeibuf[i], sizeof imeibuf[i], "%s", im);
            pd[i] = (policy_dev_t){ct, imeibuf[i], ms};
            conns[i] = strtoull(strchr(all->element[2 * i]->str, ':') + 1, NULL, 16);
        }
        freeReplyObject(all);
        int mode = rnd() % 10 == 0 ? (int)(rnd() % 6) : 1 + (int)(rnd() % 4);
        int mpp = rnd() % 3 == 0 ? (int)(rnd() % 3) : 0;
        int maxd = rnd() % 3 == 0 ? (int)(rnd() % 4) : 0;
        int ct = (int)(rnd() % 6);
        const char *imei = imeis[rnd() % 4];
        uint8_t kick[8] = {0};
        int nk = policy_victims(mode, mpp, ct, imei, pd, n, kick);
        size_t stay = n;
        for (size_t i = 0; nk > 0 && i < n; i++)
            stay -= kick[i] != 0;
        int want_toomany = maxd > 0 && stay >= (size_t)maxd;

        sess_login_t q = req(7, user, ct, imei, 2000, 0xff00000000000000ull | (uint64_t)it, mode,
                             mpp, maxd);
        sess_device_t *v = NULL;
        size_t nv = 0;
        int rc = r->ops->login(r, &q, &v, &nv);
        if (want_toomany) {
            assert_int_equal(rc, SESS_ETOOMANY);
            assert_int_equal(nv, 0);
            assert_int_equal(raw_int("HLEN %s", key, NULL), (long long)n);
            toomany_total++;
            continue;
        }
        assert_int_equal(rc, 0);
        size_t want_nv = 0;
        for (size_t i = 0; nk > 0 && i < n; i++) {
            if (!kick[i])
                continue;
            want_nv++;
            int found = 0;
            for (size_t k = 0; k < nv; k++)
                if (v[k].conn_id == conns[i]) {
                    found = 1;
                    assert_int_equal(v[k].client_type, pd[i].client_type);
                    assert_string_equal(v[k].imei, pd[i].imei);
                    assert_int_equal(v[k].login_ms, pd[i].login_ms);
                    assert_int_equal(v[k].app_id, 7);
                    assert_string_equal(v[k].user_id, user);
                    assert_true(v[k].node == INC_A || v[k].node == INC_B);
                    char member[128];
                    snprintf(member, sizeof member, "7|%" PRIu32 ":%016" PRIx64 "|%s", v[k].node,
                             v[k].conn_id, user);
                    char nskey[32];
                    snprintf(nskey, sizeof nskey, "pt:ns:%" PRIu32, v[k].node);
                    assert_int_equal(raw_int("SISMEMBER %s %s", nskey, member), 0);
                }
            assert_true(found);
        }
        assert_int_equal(nv, want_nv);
        kicked_total += (int)nv;
        assert_int_equal(raw_int("HLEN %s", key, NULL), (long long)(n - nv + 1));
        sess_devices_free(v, nv);
    }
    print_message("policy matrix: %d victims, %d refused (max_devices)\n", kicked_total,
                  toomany_total);
    assert_true(kicked_total > 1000);
    assert_true(toomany_total > 100);
    r->ops->destroy(r);
}

/* ---- two nodes ------------------------------------------------------------------------------ */

static void test_two_nodes_kick(void **state)
{
    (void)state;
    NEED_REDIS();
    flushall();
    sess_registry_t *a = sess_redis_new(&cf, INC_A, NULL);
    sess_registry_t *b = sess_redis_new(&cf, INC_B, NULL);
    assert_non_null(a);
    assert_non_null(b);
    sess_device_t *v;
    size_t nv;
    sess_login_t q = req(3, "alice", 2, "phone1", 111, 0x0100000000000005ull, 1, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    assert_int_equal(nv, 0);
    uint64_t devs, users;
    a->ops->count(a, &devs, &users);
    assert_int_equal(devs, 1);
    assert_int_equal(users, 1);
    assert_int_equal(raw_int("SISMEMBER pt:ns:1001 %s", "3|1001:0100000000000005|alice", NULL), 1);

    q = req(3, "alice", 4, "pc", 222, 0x0200000000000009ull, 1, 0, 0);
    assert_int_equal(b->ops->login(b, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].node, INC_A);
    assert_int_equal(v[0].conn_id, 0x0100000000000005ull);
    assert_int_equal(v[0].client_type, 2);
    assert_string_equal(v[0].imei, "phone1");
    assert_int_equal(v[0].login_ms, 111);
    assert_int_equal(v[0].app_id, 3);
    assert_string_equal(v[0].user_id, "alice");
    sess_devices_free(v, nv);
    assert_int_equal(raw_int("SISMEMBER pt:ns:1001 %s", "3|1001:0100000000000005|alice", NULL), 0);
    assert_int_equal(raw_int("SISMEMBER pt:ns:2002 %s", "3|2002:0200000000000009|alice", NULL), 1);

    /* the list seen from A names B */
    assert_int_equal(a->ops->list(a, 3, "alice", &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].node, INC_B);
    assert_int_equal(v[0].conn_id, 0x0200000000000009ull);
    assert_int_equal(v[0].client_type, 4);
    assert_string_equal(v[0].imei, "pc");
    sess_devices_free(v, nv);

    /* A's mirror keeps its kicked device until its connection closes */
    a->ops->count(a, &devs, &users);
    assert_int_equal(devs, 1);
    assert_int_equal(a->ops->remove(a, 3, "alice", 0x0100000000000005ull), 0);
    a->ops->count(a, &devs, &users);
    assert_int_equal(devs, 0);
    assert_int_equal(users, 0);
    b->ops->count(b, &devs, &users);
    assert_int_equal(devs, 1);

    /* the same device logging in again (same type + imei) is replaced */
    q = req(3, "alice", 4, "pc", 333, 0x020000000000000aull, 4, 0, 0);
    assert_int_equal(b->ops->login(b, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].conn_id, 0x0200000000000009ull);
    assert_int_equal(v[0].node, INC_B);
    sess_devices_free(v, nv);
    b->ops->count(b, &devs, &users);
    assert_int_equal(devs, 1); /* this node's victim left the mirror */

    /* WEBAPI never kicks nor is kicked */
    q = req(3, "alice", 0, "api", 400, 0x0100000000000010ull, 1, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    assert_int_equal(nv, 0);
    q = req(3, "alice", 1, "web", 500, 0x0100000000000011ull, 1, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].node, INC_B);
    sess_devices_free(v, nv);
    assert_int_equal(a->ops->list(a, 3, "alice", &v, &nv), 0);
    assert_int_equal(nv, 2);
    sess_devices_free(v, nv);

    /* the last device: the removal says so (2), once, whatever node; with a
     * debounce it leaves the mark a login within it finds (flapped) */
    sess_redis_set_debounce(a, 60000);
    q = req(3, "dora", 1, "web", 600, 0x0100000000000020ull, 4, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    q = req(3, "dora", 2, "ios", 601, 0x0200000000000021ull, 4, 0, 0);
    assert_int_equal(b->ops->login(b, &q, &v, &nv), 0);
    assert_int_equal(b->ops->remove(b, 3, "dora", 0x0200000000000021ull), 1);
    assert_int_equal(a->ops->remove(a, 3, "dora", 0x0100000000000020ull), 2);
    assert_int_equal(raw_int("EXISTS %s", "pt:off:3:dora", NULL), 1);
    int flapped = 0;
    size_t after = 0;
    q = req(3, "dora", 2, "ios", 602, 0x0200000000000022ull, 4, 0, 0);
    q.flapped = &flapped;
    q.n_after = &after;
    assert_int_equal(b->ops->login(b, &q, &v, &nv), 0);
    assert_int_equal(flapped, 1);
    assert_int_equal(after, 1);
    assert_int_equal(raw_int("EXISTS %s", "pt:off:3:dora", NULL), 0);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

static void test_toomany_remove_list(void **state)
{
    (void)state;
    NEED_REDIS();
    flushall();
    sess_registry_t *a = sess_redis_new(&cf, INC_A, NULL);
    assert_non_null(a);
    sess_device_t *v;
    size_t nv;
    sess_login_t q = req(1, "bob", 2, "i1", 1, 1, 4, 0, 2);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    q = req(1, "bob", 3, "i2", 2, 2, 4, 0, 2);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    q = req(1, "bob", 4, "i3", 3, 3, 4, 0, 2);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), SESS_ETOOMANY);
    assert_null(v);
    assert_int_equal(nv, 0);
    /* the same device again replaces itself: allowed at the cap */
    q = req(1, "bob", 3, "i2", 4, 4, 4, 0, 2);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].conn_id, 2);
    sess_devices_free(v, nv);
    a->ops->remove(a, 1, "bob", 2);
    uint64_t devs, users;
    a->ops->count(a, &devs, &users);
    assert_int_equal(devs, 2);
    assert_int_equal(users, 1);

    assert_int_equal(a->ops->list(a, 1, "bob", &v, &nv), 0);
    assert_int_equal(nv, 2);
    sess_devices_free(v, nv);
    assert_int_equal(a->ops->remove(a, 1, "bob", 4), 1);
    assert_int_equal(a->ops->remove(a, 1, "bob", 4), 0);
    assert_int_equal(a->ops->remove(a, 1, "nobody", 4), 0);
    assert_int_equal(a->ops->list(a, 1, "nobody", &v, &nv), 0);
    assert_int_equal(nv, 0);
    assert_null(v);

    /* hostile entries: skipped by list and by the login script */
    static const char *bad[][2] = {
        {"garbage", "2|5|x"},         {"1001:zz", "2|5|x"},
        {"0:0000000000000001", "2|5|x"}, {"1001:00000000000000011", "2|5|x"},
        {"99999999999:0000000000000001", "2|5|x"}, {"1001:0000000000000007", "9|5|x"},
        {"1001:0000000000000008", "2|x|x"}, {"1001:0000000000000009", "2"},
        {"1001:000000000000000a", ""},    {"1001:000000000000000b", "|||"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        redisReply *x = rconn_cmd(raw, "HSET pt:s:1:bob %s %s", bad[i][0], bad[i][1]);
        assert_non_null(x);
        freeReplyObject(x);
    }
    redisReply *x = rconn_cmd(raw, "HSET pt:s:1:bob 2002:000000000000000c %s", "5|77|im|ei");
    assert_non_null(x);
    freeReplyObject(x);
    assert_int_equal(a->ops->list(a, 1, "bob", &v, &nv), 0);
    assert_int_equal(nv, 2);
    int seen = 0;
    for (size_t i = 0; i < nv; i++)
        if (v[i].conn_id == 0xc) {
            seen = 1;
            assert_int_equal(v[i].node, INC_B);
            assert_int_equal(v[i].client_type, 5);
            assert_int_equal(v[i].login_ms, 77);
            assert_string_equal(v[i].imei, "im|ei");
        }
    assert_true(seen);
    sess_devices_free(v, nv);
    /* a login of mode ONE kicks the valid ones, leaves the garbage */
    q = req(1, "bob", 2, "new", 9, 0x99, 1, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    assert_int_equal(nv, 2);
    sess_devices_free(v, nv);
    /* a key too long for a user id is refused, not truncated */
    char longuser[2000];
    memset(longuser, 'u', sizeof longuser - 1);
    longuser[sizeof longuser - 1] = '\0';
    q = req(1, longuser, 2, "i", 1, 1, 4, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), -1);
    a->ops->destroy(a);
}

/* ---- concurrency -------------------------------------------------------------------------- */

typedef struct worker {
    sess_registry_t *r;
    int id;
    int mode, maxd;
    const char *user;
    int refused, ok, kicked;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < 300; i++) {
        char imei[32];
        snprintf(imei, sizeof imei, "w%d-%d", w->id, i % 5);
        uint64_t conn = ((uint64_t)w->id << 56) | (uint64_t)i;
        sess_login_t q = req(9, w->user, 1 + i % 5, imei, i, conn, w->mode, 0, w->maxd);
        sess_device_t *v;
        size_t nv;
        int rc = w->r->ops->login(w->r, &q, &v, &nv);
        if (rc == SESS_ETOOMANY)
            w->refused++;
        else if (rc == 0)
            w->ok++;
        if (rc == 0) {
            w->kicked += (int)nv;
            sess_devices_free(v, nv);
            if (i % 3 == 0)
                w->r->ops->remove(w->r, 9, w->user, conn);
        }
    }
    return NULL;
}

static void run_concurrent(int mode, int maxd, const char *user, long long max_left)
{
    sess_registry_t *a = sess_redis_new(&cf, INC_A, NULL);
    sess_registry_t *b = sess_redis_new(&cf, INC_B, NULL);
    assert_non_null(a);
    assert_non_null(b);
    worker_t w[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (worker_t){.r = i % 2 ? b : a, .id = i + 1, .mode = mode, .maxd = maxd,
                          .user = user};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        refused += w[i].refused;
    }
    char key[64];
    snprintf(key, sizeof key, "pt:s:9:%s", user);
    long long left = raw_int("HLEN %s", key, NULL);
    print_message("mode %d max %d: %d ok, %d refused, %lld left\n", mode, maxd, ok, refused, left);
    assert_true(left <= max_left);
    assert_int_equal(ok + refused, 6 * 300);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

static void test_concurrent(void **state)
{
    (void)state;
    NEED_REDIS();
    flushall();
    run_concurrent(1, 0, "solo", 1);     /* ONE: one device at all */
    run_concurrent(4, 3, "capped", 3);   /* ALL with max_devices 3 */
}

/* ---- Redis down, restart, resync ----------------------------------------------------------- */

static void test_down_and_resync(void **state)
{
    (void)state;
    NEED_REDIS();
    flushall();
    cstats_t st;
    memset(&st, 0, sizeof st);
    sess_registry_t *a = sess_redis_new(&cf, INC_A, &st);
    assert_non_null(a);
    sess_device_t *v;
    size_t nv;
    /* enough devices for several pipelines */
    for (int i = 0; i < 700; i++) {
        char user[32], imei[32];
        snprintf(user, sizeof user, "r%d", i % 350);
        snprintf(imei, sizeof imei, "dev%d", i);
        sess_login_t q = req(5, user, 1 + i % 2, imei, 1000 + i, (uint64_t)i + 1, 4, 0, 0);
        assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    }
    uint64_t devs, users;
    a->ops->count(a, &devs, &users);
    assert_int_equal(devs, 700);
    assert_int_equal(users, 350);

    assert_int_equal(redis_server_script(&rs, "stop"), 0);
    int64_t t0 = now_ms();
    sess_login_t q = req(5, "x", 1, "d", 1, 9999, 4, 0, 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(a->ops->login(a, &q, &v, &nv), -1);
        assert_int_equal(a->ops->list(a, 5, "r1", &v, &nv), -1);
    }
    assert_int_equal(a->ops->remove(a, 5, "r0", 1), -1); /* queued */
    assert_int_equal(sess_redis_resync(a), -1);
    int64_t took = now_ms() - t0;
    print_message("Redis down: 42 calls in %lld ms\n", (long long)took);
    assert_true(took < 1000);
    a->ops->count(a, &devs, &users); /* no I/O */
    assert_int_equal(devs, 699);

    assert_int_equal(redis_server_script(&rs, "start"), 0);
    int rc = -1;
    for (int i = 0; i < 60 && rc != 0; i++) {
        rc = sess_redis_resync(a);
        if (rc)
            usleep(100 * 1000);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(raw_int("SCARD %s", "pt:ns:1001", NULL), 699);
    assert_int_equal(a->ops->list(a, 5, "r0", &v, &nv), 0);
    assert_int_equal(nv, 1); /* conn 1 removed, conn 351 back */
    assert_int_equal(v[0].conn_id, 351);
    assert_int_equal(v[0].node, INC_A);
    assert_int_equal(v[0].login_ms, 1350);
    assert_int_equal(v[0].client_type, 1);
    assert_string_equal(v[0].imei, "dev350");
    sess_devices_free(v, nv);
    assert_int_equal(a->ops->list(a, 5, "r349", &v, &nv), 0);
    assert_int_equal(nv, 2);
    sess_devices_free(v, nv);
    assert_true(atomic_load(&st.redis.errors) > 0);
    a->ops->destroy(a);
}

/* A remove that times out is retried by a later call. */
static void test_remove_retried(void **state)
{
    (void)state;
    NEED_REDIS();
    flushall();
    rconf_t fast = cf;
    fast.timeout_ms = 150;
    sess_registry_t *a = sess_redis_new(&fast, INC_A, NULL);
    assert_non_null(a);
    sess_device_t *v;
    size_t nv;
    sess_login_t q = req(2, "carol", 2, "p", 1, 42, 4, 0, 0);
    assert_int_equal(a->ops->login(a, &q, &v, &nv), 0);
    /* Redis busy for 600 ms: the remove times out */
    redisReply *x = rconn_cmd(raw, "CLIENT PAUSE 600 ALL");
    assert_non_null(x);
    freeReplyObject(x);
    assert_int_equal(a->ops->remove(a, 2, "carol", 42), -1);
    usleep(900 * 1000);
    /* still there: the timed-out command was not run late */
    assert_int_equal(raw_int("EXISTS %s", "pt:s:2:carol", NULL), 1);
    q = req(2, "dave", 2, "p", 1, 43, 4, 0, 0);
    int rc = -1;
    for (int i = 0; i < 30 && rc != 0; i++) {
        rc = a->ops->login(a, &q, &v, &nv);
        if (rc)
            usleep(100 * 1000);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(raw_int("EXISTS %s", "pt:s:2:carol", NULL), 0);
    assert_int_equal(raw_int("SISMEMBER pt:ns:1001 %s", "2|1001:000000000000002a|carol", NULL), 0);
    a->ops->destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_matches_c),
        cmocka_unit_test(test_two_nodes_kick),
        cmocka_unit_test(test_toomany_remove_list),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_remove_retried),
        cmocka_unit_test(test_down_and_resync),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
