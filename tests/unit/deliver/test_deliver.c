/*
 * Unit tests for delivery (deliver/deliver.h) on real workers: a server
 * with two worker loops (no listeners), devices that are real connections
 * on them, each bound to one end of a socketpair that the test reads as
 * the device would.  Covered: a user with several devices on two workers,
 * except_conn, a device gone between the lookup and the delivery (and
 * one of a worker that does not exist), the ordered pushes (members, the
 * sender's other devices, commit order kept), disconnect, kick-out, and a
 * device on another node reached through the node bus.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "petrel/proto.h"
#include "server/im/server.h"
#include "server/core/log.h"
#include "server/deliver/deliver.h"
#include "server/net/net_int.h"
#include "server/im/presence.h"
#include "server/model/policy.h"

#define APP 7

static server_t srv;

/* ---- devices ------------------------------------------------------------ */

typedef struct dev {
    int fd;             /* the device's end */
    uint64_t id;        /* the server's connection id */
} tdev_t;

typedef struct mk {
    const char *user, *imei;
    int ct, authed;
    tdev_t dev;
    uv_sem_t done;
} mk_t;

static void mk_on_loop(worker_t *w, void *arg)
{
    mk_t *m = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        abort();
    conn_t *c = conn_new(w, sizeof(net_conn_t), CONN_TCP, &net_tcp_ops);
    if (!c || uv_tcp_open(&c->tcp, sv[0]) < 0)
        abort();
    c->user_id = strdup(m->user);
    c->imei = strdup(m->imei);
    c->app_id = APP;
    c->client_type = (int8_t)m->ct;
    if (m->authed)
        c->flags |= CF_AUTHED;
    conn_set_list(c, LIST_ACTIVE);
    sess_login_t q = {.app_id = APP, .user_id = m->user, .client_type = m->ct,
                      .imei = m->imei, .login_ms = now_ms(), .conn_id = c->id,
                      .policy_mode = POLICY_ALL};
    sess_device_t *v = NULL;
    size_t nv = 0;
    if (srv.sess->ops->login(srv.sess, &q, &v, &nv) != 0 || nv)
        abort();
    m->dev = (tdev_t){sv[1], c->id};
    uv_sem_post(&m->done);
}

static tdev_t open_dev_as(unsigned worker, const char *user, int ct, const char *imei, int authed)
{
    mk_t m = {.user = user, .imei = imei, .ct = ct, .authed = authed};
    uv_sem_init(&m.done, 0);
    assert_int_equal(worker_post(&srv, worker, mk_on_loop, &m), 0);
    uv_sem_wait(&m.done);
    uv_sem_destroy(&m.done);
    return m.dev;
}

static tdev_t open_dev(unsigned worker, const char *user, int ct, const char *imei)
{
    return open_dev_as(worker, user, ct, imei, 1);
}

/* ---- reading what a device got ------------------------------------------------ */

typedef struct pkt {
    int32_t cmd;
    char json[512];
} pkt_t;

typedef struct inbox {
    uint8_t buf[1 << 16];
    size_t len;
    int eof;
} inbox_t;

/* Read for up to ms, or until want packets (0 = until EOF or ms). */
static size_t read_pkts(int fd, pkt_t *out, size_t max, size_t want, int ms)
{
    static inbox_t in;
    in.len = 0;
    in.eof = 0;
    size_t n = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        /* decode what is there */
        size_t off = 0;
        for (;;) {
            int32_t cmd;
            const char *json;
            size_t jl, fl;
            if (petrel_decode_down(in.buf + off, in.len - off, 1 << 20, &cmd, &json, &jl, &fl))
                break;
            if (n < max) {
                out[n].cmd = cmd;
                snprintf(out[n].json, sizeof out[n].json, "%.*s", (int)jl, json);
            }
            n++;
            off += fl;
        }
        memmove(in.buf, in.buf + off, in.len - off);
        in.len -= off;
        if ((want && n >= want) || in.eof)
            return n;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            return n;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = read(fd, in.buf + in.len, sizeof in.buf - in.len);
        if (r <= 0)
            in.eof = 1;
        else
            in.len += (size_t)r;
    }
}

/* Packets of command cmd among p[0..n). */
static size_t count_cmd(const pkt_t *p, size_t n, int32_t cmd)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i].cmd == cmd;
    return k;
}

static int got_eof(int fd, int ms)
{
    pkt_t p[16];
    read_pkts(fd, p, 16, 0, ms);
    struct pollfd q = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&q, 1, 0) == 1 && read(fd, &c, 1) == 0;
}

/* ---- the server ------------------------------------------------------------------ */

/* The socket protocol's close and error hooks, as the gateway does them
 * (deliver_disconnect_user closes through on_error; a closed session leaves
 * the registry in on_close), without the rest of the gateway. */
static void stub_error(conn_t *c, int code, const char *msg, int32_t command)
{
    conn_send_error(c, code, msg, command);
    conn_close_after_flush(c);
}

static void stub_close(conn_t *c)
{
    srv.sess->ops->remove(srv.sess, c->app_id, c->user_id, c->id);
}

static int stub_packet(conn_t *c, const petrel_packet_t *p)
{
    (void)c;
    (void)p;
    return 0;
}

static void stub_free(conn_t *c)
{
    (void)c;
}

static void stub_timeout(conn_t *c, enum conn_list l)
{
    (void)l;
    conn_close_after_flush(c);
}

static const conn_proto_t stub_proto = {
    .on_packet = stub_packet,
    .on_error = stub_error,
    .on_close = stub_close,
    .on_free = stub_free,
    .on_timeout = stub_timeout,
    .on_shutdown = conn_close_after_flush,
};

static int setup(void **st)
{
    (void)st;
    memset(&srv, 0, sizeof srv);
    log_set_level(LOG_ERROR);
    config_defaults(&srv.cfg);
    srv.cfg.tcp_listen[0] = srv.cfg.http_listen[0] = '\0';
    srv.cfg.presence_debounce_ms = 600000; /* no offline fan-out (it reads the store) */
    srv.nworkers = 2;
    srv.sess = sess_local_new();
    deliver_cfg_t dc = {.rt = &srv.rt, .nworkers = srv.nworkers, .sess = srv.sess,
                        .metrics = &srv.metrics};
    srv.deliver = deliver_new(&dc);
    srv.presence = presence_new(&srv, presence_local_new(8, 64));
    assert_non_null(srv.sess);
    assert_non_null(srv.deliver);
    assert_non_null(srv.presence);
    assert_int_equal(net_install(&srv.rt, &srv.net_state), 0); /* the connections' transport */
    srv.rt.proto = &stub_proto;
    assert_int_equal(workers_start(&srv), 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    workers_stop(&srv);
    workers_join(&srv);
    presence_free(srv.presence);
    deliver_free(srv.deliver);
    workers_free(&srv);
    net_free(&srv.rt);
    srv.sess->ops->destroy(srv.sess);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_user_devices(void **st)
{
    (void)st;
    tdev_t a0 = open_dev(0, "alice", 1, "a0"), a1 = open_dev(1, "alice", 2, "a1"),
          a2 = open_dev(1, "alice", 5, "a2"), b0 = open_dev(0, "bob", 1, "b0");
    const char *j = "{\"hello\":1}";
    assert_int_equal(deliver_user(srv.deliver, APP, "alice", 1103, j, strlen(j), 0), 3);
    pkt_t p[8];
    tdev_t all[] = {a0, a1, a2};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_pkts(all[i].fd, p, 8, 1, 2000), 1);
        assert_int_equal(p[0].cmd, 1103);
        assert_string_equal(p[0].json, j);
    }
    assert_int_equal(read_pkts(b0.fd, p, 8, 0, 50), 0); /* not bob */

    /* except_conn: every device but that one */
    assert_int_equal(deliver_user(srv.deliver, APP, "alice", 1108, j, strlen(j), a1.id), 2);
    assert_int_equal(read_pkts(a0.fd, p, 8, 1, 2000), 1);
    assert_int_equal(read_pkts(a2.fd, p, 8, 1, 2000), 1);
    assert_int_equal(p[0].cmd, 1108);
    assert_int_equal(read_pkts(a1.fd, p, 8, 0, 100), 0);

    /* one frame for many users */
    frame_t *f = frame_down(4004, j, strlen(j));
    assert_int_equal(deliver_user_frame(srv.deliver, APP, "bob", f, 0), 1);
    assert_int_equal(deliver_user_frame(srv.deliver, APP, "nobody", f, 0), 0);
    frame_unref(f);
    assert_int_equal(read_pkts(b0.fd, p, 8, 1, 2000), 1);
    assert_int_equal(p[0].cmd, 4004);
    assert_int_equal(deliver_user(srv.deliver, APP, "nobody", 1103, j, strlen(j), 0), 0);
    assert_int_equal(deliver_user(srv.deliver, APP + 1, "alice", 1103, j, strlen(j), 0), 0);
}

static void test_gone_devices(void **st)
{
    (void)st;
    tdev_t c0 = open_dev(0, "carol", 1, "c0");
    tdev_t cx = open_dev_as(1, "carol", 2, "cx", 0); /* not logged in (yet): nothing */
    /* registered, but no such connection on its worker any more (it
     * closed after the lookup), or on a worker that does not exist */
    sess_device_t *v = NULL;
    size_t nv = 0;
    sess_login_t q = {.app_id = APP, .user_id = "carol", .client_type = 3, .imei = "gone",
                      .login_ms = now_ms(), .conn_id = (1ull << 56) | 999999,
                      .policy_mode = POLICY_ALL};
    assert_int_equal(srv.sess->ops->login(srv.sess, &q, &v, &nv), 0);
    q.imei = "nowhere";
    q.conn_id = (9ull << 56) | 5;
    assert_int_equal(srv.sess->ops->login(srv.sess, &q, &v, &nv), 0);
    const char *j = "{\"k\":2}";
    /* handed to worker 0 (c0) and 1 (cx, the gone one); not to worker 9 */
    assert_int_equal(deliver_user(srv.deliver, APP, "carol", 1103, j, strlen(j), 0), 3);
    pkt_t p[4];
    assert_int_equal(read_pkts(c0.fd, p, 4, 1, 2000), 1);
    assert_int_equal(read_pkts(cx.fd, p, 4, 0, 100), 0);
    /* the closing ones are skipped too */
    assert_int_equal(deliver_disconnect_user(srv.deliver, APP, "carol", 61010, "bye"), 3);
    assert_true(got_eof(c0.fd, 2000));
    assert_true(got_eof(cx.fd, 2000));
    srv.sess->ops->remove(srv.sess, APP, "carol", (1ull << 56) | 999999);
    srv.sess->ops->remove(srv.sess, APP, "carol", (9ull << 56) | 5);
    close(c0.fd);
    close(cx.fd);
}

static void test_ordered(void **st)
{
    (void)st;
    tdev_t g0 = open_dev(0, "gina", 1, "g0"), g1 = open_dev(1, "gina", 2, "g1");
    tdev_t h0 = open_dev(1, "hank", 1, "h0");
    tdev_t s0 = open_dev(0, "sam", 1, "s0"), s1 = open_dev(1, "sam", 2, "s1"),
          s2 = open_dev(0, "sam", 5, "s2");
    char ids[3][STORE_ID_MAX + 1] = {"gina", "hank", "sam"};
    enum { N = 200 };
    char j[64];
    for (int i = 0; i < N; i++) {
        snprintf(j, sizeof j, "{\"seq\":%d}", i);
        /* sam sends from s0: his other devices get the sync command */
        deliver_users(srv.deliver, APP, 2001, j, (const char (*)[STORE_ID_MAX + 1])ids, 3,
                      "sam", 2002, s0.id);
    }
    static pkt_t p[N + 8];
    tdev_t members[] = {g0, g1, h0};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(read_pkts(members[k].fd, p, N + 8, N, 5000), N);
        for (int i = 0; i < N; i++) {
            snprintf(j, sizeof j, "{\"seq\":%d}", i);
            assert_int_equal(p[i].cmd, 2001);
            assert_string_equal(p[i].json, j); /* in order */
        }
    }
    tdev_t selfs[] = {s1, s2};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(read_pkts(selfs[k].fd, p, N + 8, N, 5000), N);
        for (int i = 0; i < N; i++) {
            snprintf(j, sizeof j, "{\"seq\":%d}", i);
            assert_int_equal(p[i].cmd, 2002);
            assert_string_equal(p[i].json, j);
        }
    }
    assert_int_equal(read_pkts(s0.fd, p, N + 8, 0, 100), 0);
    /* cmd_self 0: nothing for the sender */
    deliver_users(srv.deliver, APP, 2001, "{}", (const char (*)[STORE_ID_MAX + 1])ids, 3, "sam",
                  0, 0);
    assert_int_equal(read_pkts(h0.fd, p, 4, 1, 2000), 1);
    assert_int_equal(read_pkts(s1.fd, p, 4, 0, 100), 0);
    assert_int_equal(deliver_backlog(srv.deliver), 0);
    assert_int_equal(deliver_dropped(srv.deliver), 0);
}

static void test_disconnect(void **st)
{
    (void)st;
    tdev_t d0 = open_dev(0, "dave", 1, "d0"), d1 = open_dev(1, "dave", 2, "d1");
    tdev_t e0 = open_dev(1, "ed", 1, "e0");
    assert_int_equal(deliver_disconnect_user(srv.deliver, APP, "dave", 61010, "user forbidden"),
                     2);
    tdev_t both[] = {d0, d1};
    for (int k = 0; k < 2; k++) {
        pkt_t p[8];
        size_t n = read_pkts(both[k].fd, p, 8, 0, 2000); /* until EOF */
        size_t e = 0;
        for (size_t i = 0; i < n; i++)
            if (p[i].cmd == PETREL_CMD_ERROR)
                e = i + 1;
        assert_true(e > 0);
        assert_non_null(strstr(p[e - 1].json, "\"code\":61010"));
        assert_non_null(strstr(p[e - 1].json, "user forbidden"));
        assert_true(got_eof(both[k].fd, 1000));
        close(both[k].fd);
    }
    /* closed connections leave the registry (gateway close path) */
    size_t nv = 1;
    for (int i = 0; i < 200 && nv; i++) {
        sess_device_t *v = NULL;
        nv = 0;
        srv.sess->ops->list(srv.sess, APP, "dave", &v, &nv);
        sess_devices_free(v, nv);
        if (nv)
            usleep(10000);
    }
    assert_int_equal(nv, 0);
    pkt_t p[4];
    assert_int_equal(read_pkts(e0.fd, p, 4, 0, 100), 0); /* not ed */
}

static void test_kick(void **st)
{
    (void)st;
    tdev_t k0 = open_dev(0, "kim", 1, "k0"), k1 = open_dev(1, "kim", 2, "k1");
    sess_device_t *v = NULL;
    size_t nv = 0;
    assert_int_equal(srv.sess->ops->list(srv.sess, APP, "kim", &v, &nv), 0);
    assert_int_equal(nv, 2);
    uint64_t kicks = atomic_load(&srv.metrics.kicks);
    deliver_kick(srv.deliver, NULL, v, nv, 3, "new-imei");
    sess_devices_free(v, nv);
    tdev_t both[] = {k0, k1};
    for (int k = 0; k < 2; k++) {
        pkt_t p[8];
        size_t n = read_pkts(both[k].fd, p, 8, 0, 2000);
        assert_int_equal(count_cmd(p, n, PETREL_CMD_MUTUALLOGIN), 1);
        for (size_t i = 0; i < n; i++) {
            if (p[i].cmd != PETREL_CMD_MUTUALLOGIN)
                continue;
            assert_non_null(strstr(p[i].json, "\"userId\":\"kim\""));
            assert_non_null(strstr(p[i].json, "\"byClientType\":3"));
            assert_non_null(strstr(p[i].json, "\"byImei\":\"new-imei\""));
            assert_non_null(strstr(p[i].json, k ? "\"imei\":\"k1\"" : "\"imei\":\"k0\""));
        }
        assert_true(got_eof(both[k].fd, 1000));
        close(both[k].fd);
    }
    assert_int_equal(atomic_load(&srv.metrics.kicks), kicks + 2);
}

/* ---- the backlog bound ---------------------------------------------------------------- */

static void hold_loop(worker_t *w, void *arg)
{
    (void)w;
    uv_sem_wait(arg); /* the worker's loop waits: its inbox fills */
}

static void test_busy(void **st)
{
    (void)st;
    deliver_cfg_t c = {.rt = &srv.rt, .nworkers = srv.nworkers, .sess = srv.sess,
                       .metrics = &srv.metrics, .max_backlog = 2};
    deliver_t *d = deliver_new(&c);
    tdev_t u0 = open_dev(0, "uma", 1, "u0");
    assert_int_equal(deliver_busy(d), 0);
    uv_sem_t sem;
    uv_sem_init(&sem, 0);
    assert_int_equal(worker_post(&srv, 0, hold_loop, &sem), 0);
    uint64_t refused = atomic_load(&srv.metrics.backlog_refusals);
    assert_int_equal(deliver_user(d, APP, "uma", 1103, "{}", 2, 0), 1);
    /* the held job counts until it returns: 3 queued now, over 2 */
    assert_int_equal(deliver_user(d, APP, "uma", 1103, "{}", 2, 0), 1);
    assert_int_equal(deliver_busy(d), 1);
    assert_int_equal(atomic_load(&srv.metrics.backlog_refusals), refused + 1);
    uv_sem_post(&sem);
    pkt_t p[4];
    assert_int_equal(read_pkts(u0.fd, p, 4, 2, 2000), 2);
    assert_int_equal(deliver_busy(d), 0);
    uv_sem_destroy(&sem);
    deliver_free(d);
    /* no bound: never busy */
    assert_int_equal(deliver_busy(srv.deliver), 0);
}

/* ---- two nodes over the bus ------------------------------------------------------------ */

/* node 1 sees devices whose imei starts with "remote" on node 2 */
static uint32_t node_of(void *ctx, const sess_device_t *dev)
{
    (void)ctx;
    return strncmp(dev->imei, "remote", 6) ? 1 : 2;
}

static void test_bus_remote(void **st)
{
    (void)st;
    bus_hub_t *hub = bus_hub_new();
    bus_t *b1 = bus_local_new(hub, 1), *b2 = bus_local_new(hub, 2);
    deliver_cfg_t c1 = {.rt = &srv.rt, .nworkers = srv.nworkers, .sess = srv.sess,
                        .metrics = &srv.metrics, .bus = b1, .node_of = node_of};
    deliver_cfg_t c2 = {.rt = &srv.rt, .nworkers = srv.nworkers, .sess = srv.sess,
                        .metrics = &srv.metrics, .bus = b2};
    deliver_t *d1 = deliver_new(&c1), *d2 = deliver_new(&c2);
    assert_non_null(d1);
    assert_non_null(d2);
    /* the workers stand for both nodes' workers: node 2's deliver posts
     * to them what the bus brings */
    tdev_t l0 = open_dev(0, "rita", 1, "local-0"), r1 = open_dev(1, "rita", 2, "remote-1"),
          r2 = open_dev(0, "rita", 5, "remote-2");
    const char *j = "{\"via\":\"bus\"}";
    /* with a bus (cluster mode) the lookup runs on the ordered thread:
     * handed over (1), how many devices it reaches is not known here */
    assert_int_equal(deliver_user(d1, APP, "rita", 1103, j, strlen(j), 0), 1);
    tdev_t all[] = {l0, r1, r2};
    pkt_t p[4];
    for (int k = 0; k < 3; k++) {
        assert_int_equal(read_pkts(all[k].fd, p, 4, 1, 2000), 1);
        assert_int_equal(p[0].cmd, 1103);
        assert_string_equal(p[0].json, j);
    }
    /* ordered pushes route the same way */
    char ids[1][STORE_ID_MAX + 1] = {"rita"};
    deliver_users(d1, APP, 2001, j, (const char (*)[STORE_ID_MAX + 1])ids, 1, NULL, 0, 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(read_pkts(all[k].fd, p, 4, 1, 2000), 1);
    /* node 2 gone: its devices are lost, counted as not reached */
    deliver_free(d2);
    b2->ops->destroy(b2);
    assert_int_equal(deliver_user(d1, APP, "rita", 1103, j, strlen(j), 0), 1);
    assert_int_equal(read_pkts(l0.fd, p, 4, 1, 2000), 1);
    assert_int_equal(read_pkts(r1.fd, p, 4, 0, 100), 0);
    /* a close goes over the bus too: node 2 back, disconnect rita */
    b2 = bus_local_new(hub, 2);
    c2.bus = b2;
    d2 = deliver_new(&c2);
    assert_int_equal(deliver_disconnect_user(d1, APP, "rita", 61010, "forbidden"), 1);
    for (int k = 0; k < 3; k++) {
        assert_true(got_eof(all[k].fd, 2000));
        close(all[k].fd);
    }
    deliver_free(d1);
    deliver_free(d2);
    b1->ops->destroy(b1);
    b2->ops->destroy(b2);
    bus_hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_devices),
        cmocka_unit_test(test_gone_devices),
        cmocka_unit_test(test_ordered),
        cmocka_unit_test(test_disconnect),
        cmocka_unit_test(test_kick),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_bus_remote),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
