/*
 * Unit tests for the node bus on Redis pub/sub (cluster/bus_redis.c,
 * bus_codec.c) against a real redis-server (skipped when none is
 * installed): the codec round-trips and refuses every truncation and
 * junk; node 1 -> node 2 carries BUS_SEND (frame, entries, sender),
 * BUS_CLOSE and BUS_KICK (code, reason); a message to a node nobody
 * listens for is lost; 10,000 messages arrive in order; junk on the
 * channel is counted and later messages still arrive; the subscriber
 * comes back after a Redis restart; destroy with a full queue leaks
 * nothing (ASan).  test_throughput prints messages/s and CPU/message for
 * a 1-entry BUS_SEND of a 300-byte frame.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/redis_server.h"
#include "server/cluster/bus_codec.h"
#include "server/cluster/cluster.h"

static redis_server_t g_rs;
static rconf_t g_cf;

/* ---- a receiver that records ------------------------------------------------------- */

typedef struct got {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    uint32_t node, from;
    enum bus_action action;
    frame_t *frame; /* the last one, a reference of ours */
    int code;
    char reason[64];
    size_t n;
    bus_entry_t entries[4];
    char users[4][32];
    /* sequence check: entries[0].conn_id of successive messages */
    uint64_t next_seq;
    int out_of_order;
} got_t;

static void got_init(got_t *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void got_free(got_t *g)
{
    if (g->frame)
        frame_unref(g->frame);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static void recv_fn(void *ctx, const bus_msg_t *m)
{
    got_t *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->calls++;
    g->node = m->node;
    g->from = m->from;
    g->action = m->action;
    if (g->frame)
        frame_unref(g->frame);
    g->frame = m->frame ? frame_ref(m->frame) : NULL;
    g->code = m->code;
    snprintf(g->reason, sizeof g->reason, "%s", m->reason ? m->reason : "(null)");
    g->n = m->n;
    for (size_t i = 0; i < m->n && i < 4; i++) {
        g->entries[i] = m->entries[i];
        snprintf(g->users[i], sizeof g->users[i], "%s",
                 m->entries[i].user_id ? m->entries[i].user_id : "(null)");
        g->entries[i].user_id = g->users[i];
    }
    if (m->n) {
        if (m->entries[0].conn_id != g->next_seq)
            g->out_of_order++;
        g->next_seq = m->entries[0].conn_id + 1;
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Wait until g->calls >= n (at most ms).  The calls seen. */
static int got_wait(got_t *g, int n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    while (g->calls < n && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
        ;
    int c = g->calls;
    pthread_mutex_unlock(&g->mu);
    return c;
}

static int got_calls(got_t *g)
{
    pthread_mutex_lock(&g->mu);
    int c = g->calls;
    pthread_mutex_unlock(&g->mu);
    return c;
}

/* Wait until node's channel has `want` subscribers (at most ms): 1 when so. */
static int wait_subscribed(uint32_t node, long long want, int ms)
{
    rconn_t *c = rconn_new(&g_cf, NULL);
    char chan[32];
    snprintf(chan, sizeof chan, "pt:bus:%u", node);
    int ok = 0;
    for (int waited = 0; waited <= ms && !ok; waited += 20) {
        redisReply *r = rconn_cmd(c, "PUBSUB NUMSUB %s", chan);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            rreply_int(r->element[1], -1) == want)
            ok = 1;
        if (r)
            freeReplyObject(r);
        if (!ok)
            usleep(20000);
    }
    rconn_free(c);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    int rc = redis_server_conf(&g_rs, "bus", &g_cf, 0);
    return rc == 1 ? 0 : rc; /* 1: not installed, every test skips */
}

static int teardown(void **state)
{
    (void)state;
    redis_server_close(&g_rs);
    return 0;
}

#define NEED_REDIS()                                                                    \
    do {                                                                                \
        if (!g_rs.up && !g_rs.dir[0])                                                   \
            skip();                                                                     \
    } while (0)

/* ---- the codec ------------------------------------------------------------------------- */

static uint8_t *encode(const bus_msg_t *m, uint32_t from, size_t *len)
{
    *len = bus_enc_size(m);
    if (!*len)
        return NULL;
    uint8_t *buf = malloc(*len);
    bus_encode(m, from, 123456789, buf);
    return buf;
}

static void test_codec_roundtrip(void **st)
{
    (void)st;
    frame_t *f = frame_down(1103, "{\"x\":1}", 7);
    bus_entry_t e[3] = {{.conn_id = 0x0100000000000007ull, .app_id = 5},
                        {.conn_id = 0, .app_id = -3, .user_id = "bob"},
                        {.conn_id = 9, .app_id = 5, .user_id = ""}};
    bus_msg_t m = {.node = 2, .action = BUS_SEND, .frame = f, .n = 3, .entries = e};
    size_t len;
    uint8_t *buf = encode(&m, 1, &len);
    assert_non_null(buf);
    bus_dec_t d = {0};
    bus_msg_t o;
    uint64_t pub;
    assert_int_equal(bus_decode(&d, buf, len, &o, &pub), 0);
    assert_int_equal(pub, 123456789);
    assert_int_equal(o.node, 2);
    assert_int_equal(o.from, 1);
    assert_int_equal(o.action, BUS_SEND);
    assert_null(o.reason);
    assert_non_null(o.frame);
    assert_int_equal(o.frame->len, f->len);
    assert_memory_equal(o.frame->data, f->data, f->len);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.entries[0].conn_id, 0x0100000000000007ull);
    assert_null(o.entries[0].user_id);
    assert_int_equal(o.entries[1].app_id, -3);
    assert_string_equal(o.entries[1].user_id, "bob");
    assert_string_equal(o.entries[2].user_id, "");
    frame_unref(o.frame);

    /* every truncation, and every single-byte corruption, is refused or
     * decodes safely (ASan watches the reads) */
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(bus_decode(&d, buf, i, &o, &pub), -1);
        uint8_t *cut = malloc(i ? i : 1); /* exact size: an overread is caught */
        memcpy(cut, buf, i);
        assert_int_equal(bus_decode(&d, cut, i, &o, &pub), -1);
        free(cut);
    }
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1 << bit);
            if (bus_decode(&d, buf, len, &o, &pub) == 0 && o.frame)
                frame_unref(o.frame);
            buf[i] ^= (uint8_t)(1 << bit);
        }
    }
    /* trailing bytes */
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    assert_int_equal(bus_decode(&d, more, len + 1, &o, &pub), -1);
    free(more);
    /* random junk */
    srand(7);
    uint8_t junk[512];
    for (int i = 0; i < 20000; i++) {
        size_t jl = (size_t)(rand() % (int)sizeof junk);
        for (size_t k = 0; k < jl; k++)
            junk[k] = (uint8_t)rand();
        if (jl >= 3 && (i & 1)) { /* a valid magic and version, so the rest is parsed */
            junk[0] = 'p';
            junk[1] = 'b';
            junk[2] = BUS_CODEC_VERSION;
            junk[3] %= 3;
            if (jl > 5) {
                junk[4] &= 3;
                junk[5] = 0;
            }
        }
        if (bus_decode(&d, junk, jl, &o, &pub) == 0 && o.frame)
            frame_unref(o.frame);
    }
    free(buf);
    bus_dec_free(&d);
    frame_unref(f);
}

static void test_codec_limits(void **st)
{
    (void)st;
    char user[BUS_MAX_USER + 2];
    memset(user, 'u', sizeof user);
    user[BUS_MAX_USER + 1] = 0; /* 256 bytes: too long */
    bus_entry_t e = {.conn_id = 0, .app_id = 1, .user_id = user};
    bus_msg_t m = {.node = 2, .action = BUS_CLOSE, .code = 7, .n = 1, .entries = &e};
    assert_int_equal(bus_enc_size(&m), 0);
    user[BUS_MAX_USER] = 0; /* 255: fine */
    assert_true(bus_enc_size(&m) > 0);

    char reason[BUS_MAX_REASON + 2];
    memset(reason, 'r', sizeof reason);
    reason[BUS_MAX_REASON + 1] = 0;
    m.reason = reason;
    assert_int_equal(bus_enc_size(&m), 0);
    reason[BUS_MAX_REASON] = 0;
    assert_true(bus_enc_size(&m) > 0);

    m.n = BUS_MAX_ENTRIES + 1;
    assert_int_equal(bus_enc_size(&m), 0);
    m.n = 1;
    m.action = BUS_SEND; /* without a frame */
    assert_int_equal(bus_enc_size(&m), 0);
    m.action = (enum bus_action)3;
    assert_int_equal(bus_enc_size(&m), 0);

    /* a header claiming more entries than bytes allocates nothing large */
    bus_msg_t k = {.node = 2, .action = BUS_KICK, .code = 1, .reason = "imei"};
    size_t len;
    uint8_t *buf = encode(&k, 1, &len);
    buf[32] = 0xff;
    buf[33] = 0xff;
    bus_dec_t d = {0};
    bus_msg_t o;
    uint64_t pub;
    assert_int_equal(bus_decode(&d, buf, len, &o, &pub), -1);
    buf[32] = buf[33] = 0;
    /* a NUL inside the reason */
    buf[BUS_HDR_LEN + 1] = 0;
    assert_int_equal(bus_decode(&d, buf, len, &o, &pub), -1);
    buf[BUS_HDR_LEN + 1] = 'm';
    assert_int_equal(bus_decode(&d, buf, len, &o, &pub), 0);
    assert_string_equal(o.reason, "imei");
    buf[2] = 2; /* unknown version */
    assert_int_equal(bus_decode(&d, buf, len, &o, &pub), -1);
    free(buf);
    bus_dec_free(&d);
}

/* ---- over Redis ------------------------------------------------------------------------ */

static void test_send_close_kick(void **st)
{
    (void)st;
    NEED_REDIS();
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 1, &s1), *b2 = bus_redis_new(&g_cf, 2, &s2);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_int_equal(b2->node, 2);
    got_t g;
    got_init(&g);
    assert_int_equal(b2->ops->subscribe(b2, recv_fn, &g), 0);
    assert_true(wait_subscribed(2, 1, 3000));

    frame_t *f = frame_down(1103, "{\"x\":1}", 7);
    bus_entry_t e[2] = {{.conn_id = 0, .app_id = 5, .user_id = "bob"},
                        {.conn_id = 0x0100000000000007ull, .app_id = 5}};
    bus_msg_t m = {.node = 2, .action = BUS_SEND, .frame = f, .n = 2, .entries = e};
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    frame_unref(f); /* the bus keeps what it needs */
    assert_int_equal(got_wait(&g, 1, 3000), 1);
    assert_int_equal(g.node, 2);
    assert_int_equal(g.from, 1);
    assert_int_equal(g.action, BUS_SEND);
    assert_non_null(g.frame);
    assert_int_equal(g.frame->len, 8 + 7);
    assert_memory_equal(g.frame->data + 8, "{\"x\":1}", 7);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.entries[0].conn_id, 0);
    assert_int_equal(g.entries[0].app_id, 5);
    assert_string_equal(g.users[0], "bob");
    assert_int_equal(g.entries[1].conn_id, 0x0100000000000007ull);
    assert_string_equal(g.users[1], "(null)");

    bus_entry_t c = {.conn_id = 42, .app_id = 1};
    bus_msg_t mc = {.node = 2, .action = BUS_CLOSE, .code = 1008, .reason = "bye now",
                    .n = 1, .entries = &c};
    assert_int_equal(b1->ops->publish(b1, &mc), 0);
    assert_int_equal(got_wait(&g, 2, 3000), 2);
    assert_int_equal(g.action, BUS_CLOSE);
    assert_int_equal(g.code, 1008);
    assert_string_equal(g.reason, "bye now");
    assert_null(g.frame);
    assert_int_equal(g.entries[0].conn_id, 42);

    bus_msg_t mk = {.node = 2, .action = BUS_KICK, .code = 3, .reason = "imei|with|bars",
                    .n = 1, .entries = &c};
    assert_int_equal(b1->ops->publish(b1, &mk), 0);
    assert_int_equal(got_wait(&g, 3, 3000), 3);
    assert_int_equal(g.action, BUS_KICK);
    assert_int_equal(g.code, 3);
    assert_string_equal(g.reason, "imei|with|bars");

    /* node 3: nobody listens -- lost, no error; node 2 still gets the next */
    bus_msg_t m3 = mc;
    m3.node = 3;
    assert_int_equal(b1->ops->publish(b1, &m3), 0);
    mc.code = 2;
    assert_int_equal(b1->ops->publish(b1, &mc), 0);
    assert_int_equal(got_wait(&g, 4, 3000), 4);
    assert_int_equal(g.code, 2);
    usleep(100000);
    assert_int_equal(got_calls(&g), 4);

    assert_int_equal(atomic_load(&s1.bus_out_msgs), 5);
    assert_true(atomic_load(&s1.bus_out_bytes) > 0);
    assert_int_equal(atomic_load(&s1.bus_out_dropped), 0);
    assert_int_equal(atomic_load(&s2.bus_in_msgs), 4);
    assert_int_equal(atomic_load(&s2.bus_in_bad), 0);
    assert_int_equal(atomic_load(&s2.bus_lat_count), 4);
    assert_true(atomic_load(&s2.bus_lat_le_ms[5]) >= atomic_load(&s2.bus_lat_le_ms[0]));
    assert_int_equal(atomic_load(&s2.bus_lat_le_ms[5]), 4); /* loopback: well under 250 ms */

    /* a message over the limits is refused at publish */
    bus_msg_t bad = {.node = 2, .action = BUS_SEND, .frame = NULL};
    assert_int_equal(b1->ops->publish(b1, &bad), -1);
    assert_int_equal(atomic_load(&s1.bus_out_dropped), 1);

    /* after subscribe(NULL) returns, the receiver is not called */
    assert_int_equal(b2->ops->subscribe(b2, NULL, NULL), 0);
    assert_int_equal(b1->ops->publish(b1, &mc), 0);
    usleep(200000);
    assert_int_equal(got_calls(&g), 4);
    assert_int_equal(atomic_load(&s2.bus_in_msgs), 5);

    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

static void test_order_10k(void **st)
{
    (void)st;
    NEED_REDIS();
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 11, &s1), *b2 = bus_redis_new(&g_cf, 12, &s2);
    got_t g;
    got_init(&g);
    b2->ops->subscribe(b2, recv_fn, &g);
    assert_true(wait_subscribed(12, 1, 3000));
    frame_t *f = frame_down(2000, "{\"seq\":true}", 12);
    for (uint64_t i = 0; i < 10000; i++) {
        bus_entry_t e = {.conn_id = i, .app_id = 1};
        bus_msg_t m = {.node = 12, .action = BUS_SEND, .frame = f, .n = 1, .entries = &e};
        assert_int_equal(b1->ops->publish(b1, &m), 0);
    }
    assert_int_equal(got_wait(&g, 10000, 20000), 10000);
    assert_int_equal(g.out_of_order, 0);
    assert_int_equal(g.next_seq, 10000);
    assert_int_equal(atomic_load(&s1.bus_out_dropped), 0);
    /* pipelined: far fewer round trips than messages */
    printf("10k messages: %llu round trips\n",
           (unsigned long long)atomic_load(&s1.redis.calls));
    assert_true(atomic_load(&s1.redis.calls) < 10000);
    frame_unref(f);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

static void test_junk_on_channel(void **st)
{
    (void)st;
    NEED_REDIS();
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 21, &s1), *b2 = bus_redis_new(&g_cf, 22, &s2);
    got_t g;
    got_init(&g);
    b2->ops->subscribe(b2, recv_fn, &g);
    assert_true(wait_subscribed(22, 1, 3000));

    rconn_t *raw = rconn_new(&g_cf, NULL);
    redisReply *r = rconn_cmd(raw, "PUBLISH pt:bus:22 %s", "garbage");
    assert_non_null(r);
    freeReplyObject(r);
    r = rconn_cmd(raw, "PUBLISH pt:bus:22 %b", "", (size_t)0);
    assert_non_null(r);
    freeReplyObject(r);
    /* a valid message cut short, and one addressed to another node */
    bus_entry_t e = {.conn_id = 5, .app_id = 1, .user_id = "u"};
    bus_msg_t m = {.node = 22, .action = BUS_CLOSE, .code = 1, .reason = "r", .n = 1,
                   .entries = &e};
    size_t len;
    uint8_t *buf = encode(&m, 21, &len);
    r = rconn_cmd(raw, "PUBLISH pt:bus:22 %b", buf, len - 1);
    assert_non_null(r);
    freeReplyObject(r);
    m.node = 99;
    free(buf);
    buf = encode(&m, 21, &len);
    r = rconn_cmd(raw, "PUBLISH pt:bus:22 %b", buf, len);
    assert_non_null(r);
    freeReplyObject(r);
    free(buf);
    rconn_free(raw);

    m.node = 22;
    e.conn_id = 0; /* the receiver's sequence check wants 0 first */
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    assert_int_equal(got_wait(&g, 1, 3000), 1);
    assert_string_equal(g.users[0], "u");
    assert_int_equal(atomic_load(&s2.bus_in_bad), 4);
    assert_int_equal(atomic_load(&s2.bus_in_msgs), 1);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

static void test_redis_restart(void **st)
{
    (void)st;
    NEED_REDIS();
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 31, &s1), *b2 = bus_redis_new(&g_cf, 32, &s2);
    got_t g;
    got_init(&g);
    b2->ops->subscribe(b2, recv_fn, &g);
    assert_true(wait_subscribed(32, 1, 3000));
    bus_entry_t e = {.conn_id = 0, .app_id = 1};
    bus_msg_t m = {.node = 32, .action = BUS_CLOSE, .code = 1, .n = 1, .entries = &e};
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    assert_int_equal(got_wait(&g, 1, 3000), 1);

    assert_int_equal(redis_server_script(&g_rs, "stop"), 0);
    /* while down: published, then dropped by the publisher (counted) */
    e.conn_id = 1000;
    for (int i = 0; i < 5; i++)
        b1->ops->publish(b1, &m);
    for (int i = 0; i < 100 && atomic_load(&s1.bus_out_dropped) < 5; i++)
        usleep(20000);
    assert_int_equal(atomic_load(&s1.bus_out_dropped), 5);
    usleep(300000);
    assert_int_equal(redis_server_script(&g_rs, "start"), 0);
    assert_true(wait_subscribed(32, 1, 10000));

    /* published after the restart: all arrive, in order */
    pthread_mutex_lock(&g.mu);
    g.next_seq = 1;
    g.out_of_order = 0;
    pthread_mutex_unlock(&g.mu);
    for (uint64_t i = 1; i <= 100; i++) {
        e.conn_id = i;
        assert_int_equal(b1->ops->publish(b1, &m), 0);
    }
    assert_int_equal(got_wait(&g, 101, 5000), 101);
    assert_int_equal(g.out_of_order, 0);
    assert_true(atomic_load(&s2.redis.reconnects) >= 2);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

static void test_destroy_with_queue(void **st)
{
    (void)st;
    NEED_REDIS();
    /* Redis up: destroy right after a burst (some of it still queued) */
    cstats_t s1 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 41, &s1);
    frame_t *f = frame_new(300);
    memset(f->data, 'x', 300);
    bus_entry_t e = {.conn_id = 1, .app_id = 1};
    bus_msg_t m = {.node = 42, .action = BUS_SEND, .frame = f, .n = 1, .entries = &e};
    for (int i = 0; i < 20000; i++)
        assert_int_equal(b1->ops->publish(b1, &m), 0);
    b1->ops->destroy(b1);
    /* each one sent, or dropped at destroy (still queued): none unaccounted */
    assert_int_equal(atomic_load(&s1.bus_out_msgs) + atomic_load(&s1.bus_out_dropped), 20000);
    /* nobody listening on a closed port: everything is dropped or queued */
    rconf_t dead = g_cf;
    dead.port = test_free_port();
    cstats_t s2 = {0};
    bus_t *b2 = bus_redis_new(&dead, 43, &s2);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b2->ops->publish(b2, &m), 0);
    usleep(20000); /* the first batch failed: the publisher pauses, the rest stays queued */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b2->ops->publish(b2, &m), 0);
    b2->ops->destroy(b2);
    assert_int_equal(atomic_load(&s2.bus_out_dropped), 2000);
    assert_int_equal(atomic_load(&s2.bus_out_msgs), 0);
    frame_unref(f);
    /* a bus that never subscribed, destroyed at once */
    bus_t *b3 = bus_redis_new(&g_cf, 44, NULL);
    assert_non_null(b3);
    b3->ops->destroy(b3);
    assert_null(bus_redis_new(&g_cf, 0, NULL));
}

/* The largest counts go through: 65,536 entries with user ids and a 4 MiB
 * frame, over Redis, twice in one pipeline. */
static void test_large(void **st)
{
    (void)st;
    NEED_REDIS();
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 71, &s1), *b2 = bus_redis_new(&g_cf, 72, &s2);
    got_t g;
    got_init(&g);
    b2->ops->subscribe(b2, recv_fn, &g);
    assert_true(wait_subscribed(72, 1, 3000));
    size_t n = BUS_MAX_ENTRIES;
    bus_entry_t *e = calloc(n, sizeof *e);
    char (*users)[12] = calloc(n, sizeof *users);
    for (size_t i = 0; i < n; i++) {
        snprintf(users[i], sizeof users[i], "user%zu", i);
        e[i] = (bus_entry_t){.conn_id = i, .app_id = 3, .user_id = users[i]};
    }
    frame_t *f = frame_new(4u << 20);
    for (size_t i = 0; i < f->len; i++)
        f->data[i] = (uint8_t)(i * 7);
    bus_msg_t m = {.node = 72, .action = BUS_SEND, .frame = f, .n = n, .entries = e};
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    m.n = n - 1;
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    assert_int_equal(got_wait(&g, 2, 10000), 2);
    assert_int_equal(g.n, n - 1);
    assert_int_equal(g.frame->len, f->len);
    assert_memory_equal(g.frame->data, f->data, f->len);
    assert_string_equal(g.users[3], "user3");
    assert_int_equal(atomic_load(&s2.bus_in_bad), 0);
    m.n = n + 1; /* over the limit */
    assert_int_equal(b1->ops->publish(b1, &m), -1);
    frame_unref(f);
    free(e);
    free(users);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

/* An idle subscription outlives the command timeout (it waits by poll),
 * PINGs after a silence, and reconnects when the PING is not answered
 * (CLIENT PAUSE stands for a hung Redis or a half-open connection). */
static void test_idle_and_ping(void **st)
{
    (void)st;
    NEED_REDIS();
    rconf_t quick = g_cf;
    quick.timeout_ms = 200; /* PING after 1 s of silence */
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 61, &s1), *b2 = bus_redis_new(&quick, 62, &s2);
    got_t g;
    got_init(&g);
    b2->ops->subscribe(b2, recv_fn, &g);
    assert_true(wait_subscribed(62, 1, 3000));
    usleep(2600000);
    rconn_t *raw = rconn_new(&g_cf, NULL);
    redisReply *r = rconn_cmd(raw, "CLIENT LIST");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int pinged = 0;
    for (char *line = strtok(r->str, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, " sub=1 ") && strstr(line, " cmd=ping"))
            pinged = 1;
    freeReplyObject(r);
    assert_true(pinged);
    bus_entry_t e = {.conn_id = 0, .app_id = 1};
    bus_msg_t m = {.node = 62, .action = BUS_CLOSE, .code = 1, .n = 1, .entries = &e};
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    assert_int_equal(got_wait(&g, 1, 3000), 1);
    assert_int_equal(atomic_load(&s2.redis.reconnects), 1); /* never dropped */

    r = rconn_cmd(raw, "CLIENT PAUSE 4000 ALL");
    assert_non_null(r);
    freeReplyObject(r);
    usleep(4200000);
    assert_true(wait_subscribed(62, 1, 5000));
    assert_true(atomic_load(&s2.redis.reconnects) >= 2);
    e.conn_id = 1;
    assert_int_equal(b1->ops->publish(b1, &m), 0);
    assert_int_equal(got_wait(&g, 2, 3000), 2);
    rconn_free(raw);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

/* ---- the measurement ------------------------------------------------------------------- */

/* CPU seconds redis-server has used (its pid file), or -1. */
static double redis_cpu(void)
{
    char path[128], buf[1024];
    snprintf(path, sizeof path, "%s/redis.pid", g_rs.dir);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (!f || fscanf(f, "%d", &pid) != 1)
        pid = 0;
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = pid ? fopen(path, "r") : NULL;
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* after the command name: state, then fields 4.. */
    unsigned long ut = 0, stt = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return -1;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_throughput(void **st)
{
    (void)st;
    NEED_REDIS();
    const int N = getenv("BUS_BENCH_N") ? atoi(getenv("BUS_BENCH_N")) : 100000;
    cstats_t s1 = {0}, s2 = {0};
    bus_t *b1 = bus_redis_new(&g_cf, 51, &s1), *b2 = bus_redis_new(&g_cf, 52, &s2);
    got_t g;
    got_init(&g);
    b2->ops->subscribe(b2, recv_fn, &g);
    assert_true(wait_subscribed(52, 1, 3000));
    frame_t *f = frame_new(300);
    memset(f->data, 'x', 300);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_t c0 = clock();
    double r0 = redis_cpu(), pub_cpu = 0;
    for (int i = 0; i < N; i += 1000) {
        /* stay within 20,000 of the receiver: Redis drops a subscriber
         * whose output buffer passes its pubsub limit (32 MB) */
        while (i - got_calls(&g) > 20000)
            usleep(200);
        double p0 = thread_cpu();
        for (int j = i; j < i + 1000 && j < N; j++) {
            bus_entry_t e = {.conn_id = (uint64_t)j, .app_id = 1};
            bus_msg_t m = {.node = 52, .action = BUS_SEND, .frame = f, .n = 1, .entries = &e};
            if (b1->ops->publish(b1, &m) != 0)
                fail_msg("publish %d failed", j);
        }
        pub_cpu += thread_cpu() - p0;
    }
    assert_int_equal(got_wait(&g, N, 60000), N);
    clock_t c1 = clock();
    double r1 = redis_cpu();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double cpu = (double)(c1 - c0) / CLOCKS_PER_SEC;
    uint64_t lc = atomic_load(&s2.bus_lat_count);
    printf("bus throughput: %d messages (1 entry, 300-byte frame, %llu bytes on the wire)"
           " in %.3f s = %.0f msg/s\n"
           "  CPU of this process (both buses' threads + the test loop) %.3f s = %.2f us/msg;"
           " publish() itself %.2f us/msg; redis-server %.2f us/msg\n"
           "  %llu round trips to publish; publish->receive latency under this load: mean"
           " %.0f us\n",
           N, (unsigned long long)(atomic_load(&s1.bus_out_bytes) / (uint64_t)N), wall,
           N / wall, cpu, cpu * 1e6 / N, pub_cpu * 1e6 / N,
           r0 >= 0 && r1 >= 0 ? (r1 - r0) * 1e6 / N : -1.0,
           (unsigned long long)atomic_load(&s1.redis.calls),
           lc ? (double)atomic_load(&s2.bus_lat_us_sum) / (double)lc : 0.0);
    assert_int_equal(g.out_of_order, 0);

    /* one at a time: the latency of an idle bus */
    uint64_t sum0 = atomic_load(&s2.bus_lat_us_sum), n0 = atomic_load(&s2.bus_lat_count);
    uint64_t le1 = atomic_load(&s2.bus_lat_le_ms[0]);
    pthread_mutex_lock(&g.mu);
    g.next_seq = 0;
    pthread_mutex_unlock(&g.mu);
    for (int i = 0; i < 1000; i++) {
        bus_entry_t e = {.conn_id = (uint64_t)i, .app_id = 1};
        bus_msg_t m = {.node = 52, .action = BUS_SEND, .frame = f, .n = 1, .entries = &e};
        assert_int_equal(b1->ops->publish(b1, &m), 0);
        assert_int_equal(got_wait(&g, N + i + 1, 3000), N + i + 1);
    }
    uint64_t dn = atomic_load(&s2.bus_lat_count) - n0;
    printf("  idle bus, one message at a time: publish->receive mean %.0f us, <=1 ms %.1f%%\n",
           (double)(atomic_load(&s2.bus_lat_us_sum) - sum0) / (double)dn,
           100.0 * (double)(atomic_load(&s2.bus_lat_le_ms[0]) - le1) / (double)dn);
    assert_int_equal(g.out_of_order, 0);
    frame_unref(f);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    got_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_codec_limits),
        cmocka_unit_test(test_send_close_kick),
        cmocka_unit_test(test_order_10k),
        cmocka_unit_test(test_junk_on_channel),
        cmocka_unit_test(test_destroy_with_queue),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_idle_and_ping),
        cmocka_unit_test(test_throughput),
        cmocka_unit_test(test_redis_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
