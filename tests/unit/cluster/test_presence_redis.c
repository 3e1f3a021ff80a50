/*
 * Unit tests for the presence registry in Redis (cluster/presence_redis.c)
 * against a real redis-server of the test's own (redis_server.h; skipped
 * when it is not installed).  The cases of tests/unit/seam/test_presence_reg.c
 * are ported (the same rules as the local registry: expiry and renewal, a
 * full target replaces the subscription expiring first, a full table
 * refuses, reserve is all or nothing and counts a renewal once), then what
 * is Redis's own: two registries ("nodes") on one Redis share everything,
 * the total counter forgets vanished entries once their bucket passed,
 * Redis stopped gives fast failures and recovery after a restart, garbage
 * in the keys gives failures, not crashes.
 *
 * Times: the zsets carry PEXPIREAT on Redis's clock, so T0 is the real
 * time (aligned to a counter bucket, 10 s), not a constant.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "server/cluster/cluster.h"

#include "cluster/redis_server.h"

#define BUCKET 10000 /* PRES_BUCKET_MS */

static redis_server_t rs;
static rconf_t rcf;
static int64_t T0;

#include "seam/presence_rules.h" /* uses T0 */

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int has(char **v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], id))
            return 1;
    return 0;
}

/* A raw command on the test's own connection; the reply is freed. */
static void cmd(const char *fmt, ...)
{
    rconn_t *c = rconn_new(&rcf, NULL);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* split on spaces: the test commands have no spaces in arguments */
    const char *av[16];
    int ac = 0;
    for (char *s = strtok(line, " "); s && ac < 16; s = strtok(NULL, " "))
        av[ac++] = s;
    redisReply *r = rconn_cmdargv(c, ac, av, NULL);
    assert_non_null(r);
    freeReplyObject(r);
    rconn_free(c);
}

static presence_reg_t *mk(size_t per_target, size_t max_total)
{
    presence_reg_t *r = presence_redis_new(&rcf, per_target, max_total, NULL);
    assert_non_null(r);
    return r;
}

static int group_setup(void **st)
{
    (void)st;
    int rc = redis_server_conf(&rs, "pres", &rcf, 500);
    return rc == 1 ? 0 : rc; /* 1: not installed, every test skips */
}

static int group_teardown(void **st)
{
    (void)st;
    redis_server_close(&rs);
    return 0;
}

/* Each test starts on an empty Redis at a bucket boundary. */
static int setup(void **st)
{
    (void)st;
    if (!rs.up)
        return 0;
    cmd("FLUSHALL");
    T0 = wall_ms() / BUCKET * BUCKET;
    return 0;
}

#define NEED_REDIS()     \
    do {                 \
        if (!rs.up)      \
            skip();      \
    } while (0)

/* ---- the rules of seam/presence_reg.h (ported) ----------------------------------- */

static void test_subscribe_expire_renew(void **st)
{
    (void)st;
    NEED_REDIS();
    rules_subscribe_expire_renew(mk);
}

static void test_caps(void **st)
{
    (void)st;
    NEED_REDIS();
    rules_caps(mk);
}

static void test_reserve(void **st)
{
    (void)st;
    NEED_REDIS();
    rules_reserve(mk);
}

static void test_many(void **st)
{
    (void)st;
    NEED_REDIS();
    rules_many(mk);
}

/* ---- Redis's own -------------------------------------------------------------------- */

/* Two nodes, one Redis: one table, one per-target rule, one total. */
static void test_two_nodes(void **st)
{
    (void)st;
    NEED_REDIS();
    presence_reg_t *a = mk(2, 4), *b = mk(2, 4);
    assert_int_equal(a->ops->subscribe(a, 1, "alice", "bob", T0 + 500, T0), 0);
    assert_int_equal(b->ops->subscribed(b, 1, "alice", "bob", T0), 1);
    assert_int_equal(b->ops->subscribe(b, 1, "carol", "bob", T0 + 300, T0), 0);
    assert_int_equal(b->ops->count(b), 2);
    char **v = NULL;
    size_t n = a->ops->subscribers(a, 1, "bob", T0, &v);
    assert_int_equal(n, 2);
    assert_true(has(v, n, "alice") && has(v, n, "carol"));
    presence_reg_ids_free(v, n);
    assert_int_equal(a->ops->count(a), 2);
    /* the target is full: dave (on a) replaces carol (subscribed on b) */
    assert_int_equal(a->ops->subscribe(a, 1, "dave", "bob", T0 + 400, T0), 0);
    assert_int_equal(b->ops->subscribed(b, 1, "carol", "bob", T0), 0);
    /* the total is shared: 2 more fit, the next is refused on either */
    assert_int_equal(a->ops->subscribe(a, 1, "x", "y", T0 + 900, T0), 0);
    assert_int_equal(b->ops->subscribe(b, 1, "x", "z", T0 + 900, T0), 0);
    assert_int_equal(a->ops->subscribe(a, 1, "x", "w", T0 + 900, T0), -1);
    assert_int_equal(b->ops->subscribe(b, 1, "x", "w", T0 + 900, T0), -1);
    assert_int_equal(b->ops->count(b), 4);
    /* the per-subscriber list is shared too */
    const char *ab[] = {"a", "b"}, *c[] = {"c"};
    assert_int_equal(a->ops->reserve(a, 1, "me", ab, 2, T0 + 100, 2, T0), 0);
    assert_int_equal(b->ops->reserve(b, 1, "me", c, 1, T0 + 100, 2, T0), -2);
    assert_int_equal(b->ops->reserve(b, 1, "me", ab, 2, T0 + 100, 2, T0), 0);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

/* The keys carry PEXPIREAT: latest expiry + 60 s grace, re-set after a
 * replacement. */
static void test_key_lifetimes(void **st)
{
    (void)st;
    NEED_REDIS();
    presence_reg_t *r = mk(1000, 100);
    assert_int_equal(r->ops->subscribe(r, 1, "a", "t", T0 + 5000, T0), 0);
    assert_int_equal(r->ops->subscribe(r, 1, "b", "t", T0 + 7000, T0), 0);
    const char *ids[] = {"t"};
    assert_int_equal(r->ops->reserve(r, 1, "a", ids, 1, T0 + 3000, 10, T0), 0);
    rconn_t *c = rconn_new(&rcf, NULL);
    redisReply *x = rconn_cmd(c, "PEXPIRETIME pt:sub:1:t");
    assert_non_null(x);
    assert_int_equal(x->integer, T0 + 7000 + 60000);
    freeReplyObject(x);
    x = rconn_cmd(c, "PEXPIRETIME pt:subd:1:a");
    assert_int_equal(x->integer, T0 + 3000 + 60000);
    freeReplyObject(x);
    x = rconn_cmd(c, "PEXPIRETIME pt:sub:total");
    assert_true(x->integer >= T0 + 7000 + 60000);
    freeReplyObject(x);
    rconn_free(c);
    r->ops->destroy(r);
}

/* The total: entries that vanish without being purged (their key expired
 * or was lost) stop counting once their bucket passed. */
static void test_total_heals(void **st)
{
    (void)st;
    NEED_REDIS();
    presence_reg_t *r = mk(1000, 3);
    const presence_reg_ops_t *o = r->ops;
    assert_int_equal(o->subscribe(r, 1, "a", "t1", T0 + 100, T0), 0);
    assert_int_equal(o->subscribe(r, 1, "b", "t2", T0 + 3 * BUCKET, T0), 0);
    assert_int_equal(o->subscribe(r, 1, "c", "t3", T0 + 3 * BUCKET, T0), 0);
    assert_int_equal(o->count(r), 3);
    /* a (on t1) expired, but t1 is not touched: still counted in its bucket */
    assert_int_equal(o->subscribe(r, 1, "d", "t4", T0 + 3 * BUCKET, T0 + 200), -1);
    /* the next bucket: a stops counting without t1 being touched */
    assert_int_equal(o->subscribe(r, 1, "d", "t4", T0 + 3 * BUCKET, T0 + BUCKET), 0);
    assert_int_equal(o->count(r), 3);
    /* t2 lost (eviction, failover): b counts until its expiry passes */
    cmd("DEL pt:sub:1:t2");
    assert_int_equal(o->subscribe(r, 1, "e", "t5", T0 + 9 * BUCKET, T0 + BUCKET), -1);
    assert_int_equal(o->subscribe(r, 1, "e", "t5", T0 + 9 * BUCKET, T0 + 4 * BUCKET), 0);
    /* b, c and d expired in one bucket, t3/t4 untouched: e alone */
    assert_int_equal(o->count(r), 1);
    /* an idle gap longer than the hash (the HGETALL path) */
    assert_int_equal(o->subscribe(r, 1, "f", "t6", T0 + 20 * BUCKET, T0 + 5 * BUCKET), 0);
    assert_int_equal(o->subscribe(r, 1, "g", "t7", T0 + 400 * BUCKET, T0 + 5 * BUCKET), 0);
    assert_int_equal(o->count(r), 3);
    assert_int_equal(o->subscribe(r, 1, "h", "t8", T0 + 500 * BUCKET, T0 + 300 * BUCKET), 0);
    assert_int_equal(o->count(r), 2); /* g, h */
    /* the counter itself lost: it restarts from what it sees */
    cmd("DEL pt:sub:total");
    assert_int_equal(o->subscribe(r, 1, "i", "t9", T0 + 500 * BUCKET, T0 + 300 * BUCKET), 0);
    assert_int_equal(o->count(r), 1);
    o->destroy(r);
}

/* Threads of one registry (a connection each) and of two at once: the
 * scripts keep the caps and the total exact. */
typedef struct thr_arg {
    presence_reg_t *r;
    int idx;
    int ok;
} thr_arg_t;

static void *thr_main(void *p)
{
    thr_arg_t *a = p;
    char s[32], t[32];
    for (int i = 0; i < 300; i++) {
        snprintf(s, sizeof s, "s%d-%d", a->idx, i);
        snprintf(t, sizeof t, "t%d", i % 10);
        a->ok += a->r->ops->subscribe(a->r, 1, s, t, T0 + 5000 + i, T0) == 0;
    }
    return NULL;
}

static void test_threads(void **st)
{
    (void)st;
    NEED_REDIS();
    /* 10 targets x 50 = 500 room per target; 1000 in all */
    presence_reg_t *a = mk(50, 1000), *b = mk(50, 1000);
    pthread_t th[4];
    thr_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg_t){i < 2 ? a : b, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    assert_int_equal(ok, 1200); /* a full target replaces: nothing refused */
    size_t total = 0;
    for (int k = 0; k < 10; k++) {
        char t[32], **v = NULL;
        snprintf(t, sizeof t, "t%d", k);
        size_t n = a->ops->subscribers(a, 1, t, T0, &v);
        assert_int_equal(n, 50);
        presence_reg_ids_free(v, n);
        total += n;
    }
    assert_int_equal(a->ops->count(a), total);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

/* Redis stopped: every op fails at once; back after a restart. */
static void test_redis_down(void **st)
{
    (void)st;
    NEED_REDIS();
    presence_reg_t *r = mk(1000, 100);
    const presence_reg_ops_t *o = r->ops;
    const char *ids[] = {"t"};
    assert_int_equal(o->subscribe(r, 1, "s", "t", T0 + 5000, T0), 0);
    assert_int_equal(redis_server_script(&rs, "stop"), 0);
    int64_t t = mono_ms();
    for (int i = 0; i < 50; i++) {
        char **v = (char **)1;
        assert_int_equal(o->subscribe(r, 1, "s", "t", T0 + 5000, T0), -1);
        assert_int_equal(o->reserve(r, 1, "s", ids, 1, T0 + 5000, 10, T0), -1);
        assert_int_equal(o->subscribed(r, 1, "s", "t", T0), 0);
        assert_int_equal(o->subscribers(r, 1, "t", T0, &v), 0);
        assert_null(v);
    }
    assert_true(mono_ms() - t < 1000); /* 200 failed ops, no timeouts */
    assert_int_equal(o->count(r), 1); /* the last value seen */
    assert_int_equal(redis_server_script(&rs, "start"), 0);
    /* an empty Redis again (no persistence): within the back-off (<= 2 s) */
    int ok = 0;
    for (int i = 0; i < 40 && !ok; i++) {
        ok = o->subscribe(r, 1, "s", "t", T0 + 5000, T0) == 0;
        if (!ok)
            usleep(100 * 1000);
    }
    assert_true(ok);
    assert_int_equal(o->subscribed(r, 1, "s", "t", T0), 1);
    assert_int_equal(o->count(r), 1);
    o->destroy(r);
}

/* Garbage in Redis or in the arguments: failures, never a crash. */
static void test_garbage(void **st)
{
    (void)st;
    NEED_REDIS();
    presence_reg_t *r = mk(1000, 100);
    const presence_reg_ops_t *o = r->ops;
    char **v = NULL;
    cmd("SET pt:sub:1:t notazset");
    assert_int_equal(o->subscribe(r, 1, "s", "t", T0 + 5000, T0), -1);
    assert_int_equal(o->subscribed(r, 1, "s", "t", T0), 0);
    assert_int_equal(o->subscribers(r, 1, "t", T0, &v), 0);
    assert_null(v);
    cmd("SET pt:subd:1:s notazset");
    const char *ids[] = {"t"};
    assert_int_equal(o->reserve(r, 1, "s", ids, 1, T0 + 5000, 10, T0), -1);
    /* a score that is not a number where subscribed() reads one cannot
     * be written (ZADD refuses), but a foreign member is read as is */
    cmd("DEL pt:sub:1:t");
    cmd("ZADD pt:sub:1:t %lld x", (long long)T0 + 5000);
    assert_int_equal(o->subscribed(r, 1, "x", "t", T0), 1);
    /* a broken counter: garbage numbers count as 0, a wrong type fails */
    cmd("DEL pt:sub:total");
    cmd("HSET pt:sub:total live notanumber from %lld %lld 1e300", (long long)(T0 / BUCKET),
        (long long)(T0 / BUCKET + 1));
    assert_int_equal(o->subscribe(r, 1, "s", "u", T0 + 5000, T0), 0);
    assert_int_equal(o->count(r), 1);
    assert_int_equal(o->subscribe(r, 1, "s", "u", T0 + 3 * BUCKET, T0 + BUCKET + 1), 0);
    assert_int_equal(o->count(r), 1);
    assert_int_equal(o->subscribe(r, 1, "s", "u", T0 + 3 * BUCKET, T0 + 2 * BUCKET + 1), 0);
    assert_int_equal(o->count(r), 1);
    cmd("SET pt:sub:total x");
    assert_int_equal(o->subscribe(r, 1, "s", "u", T0 + 5000, T0), -1);
    assert_int_equal(o->subscribers(r, 1, "u", T0, &v), 0);
    cmd("DEL pt:sub:total");
    assert_int_equal(o->subscribe(r, 1, "s", "u", T0 + 5000, T0), 0);
    /* a damaged "from" and "live": recounted from the buckets */
    cmd("HSET pt:sub:total from 99999999999999 live 77");
    assert_int_equal(o->subscribe(r, 1, "s", "u2", T0 + 5000, T0), 0);
    assert_int_equal(o->count(r), 2);
    /* ids too long, too many */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(o->subscribe(r, 1, big, "u", T0 + 5000, T0), -1);
    assert_int_equal(o->subscribe(r, 1, "s", big, T0 + 5000, T0), -1);
    assert_int_equal(o->subscribed(r, 1, big, "u", T0), 0);
    assert_int_equal(o->subscribers(r, 1, big, T0, &v), 0);
    const char *many[4001];
    for (int i = 0; i < 4001; i++)
        many[i] = "a";
    assert_int_equal(o->reserve(r, 1, "s2", many, 4001, T0 + 5000, 10, T0), -1);
    assert_int_equal(o->reserve(r, 1, "s2", many, 4000, T0 + 5000, 10, T0), 0); /* one id */
    const char *bad[] = {"a", big};
    assert_int_equal(o->reserve(r, 1, "s2", bad, 2, T0 + 5000, 10, T0), -1);
    o->destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_subscribe_expire_renew, setup),
        cmocka_unit_test_setup(test_caps, setup),
        cmocka_unit_test_setup(test_reserve, setup),
        cmocka_unit_test_setup(test_many, setup),
        cmocka_unit_test_setup(test_two_nodes, setup),
        cmocka_unit_test_setup(test_key_lifetimes, setup),
        cmocka_unit_test_setup(test_total_heals, setup),
        cmocka_unit_test_setup(test_threads, setup),
        cmocka_unit_test_setup(test_garbage, setup),
        cmocka_unit_test_setup(test_redis_down, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
