/*
 * The node bus on Redis pub/sub (seam/bus.h): node <inc> listens on
 * channel pt:bus:<inc>.
 *
 *   publish    any thread, event loops included, so it never does I/O:
 *              the message is encoded once (bus_codec.h) into a queue
 *              item; the queue is bounded in bytes (a full queue drops,
 *              counted).
 *   publisher  a thread that takes everything queued and sends it as one
 *              pipeline of PUBLISHes (many messages, one round trip).  When
 *              Redis is down the batch is dropped and counted -- pushes are
 *              best effort, storage plus sync is the truth -- and rconn's
 *              back-off paces the retries.
 *   subscriber a thread with its own connection SUBSCRIBEd to this node's
 *              channel; it waits with poll() (rconn_read), never with a
 *              command timeout, so an idle subscription stays; after a
 *              silence it PINGs to notice a dead peer; on a lost connection
 *              it reconnects (back-off) and subscribes again.  Each message
 *              is decoded (garbage is counted and dropped) and handed to
 *              the receiver under fn_mu, which subscribe() and destroy()
 *              take: once they return, the old receiver is not running.
 *
 * Redis pub/sub keeps the order of one publisher connection, so the
 * messages of one node to another arrive in the order published.
 */
#include "server/cluster/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/cluster/bus_codec.h"
#include "server/core/log.h"

#define QUEUE_MAX_BYTES (64u << 20) /* pending bytes before publish drops */
#define QITEM_OVERHEAD 48           /* counted per queued message besides its bytes */
#define PIPE_MAX_MSGS 1024          /* PUBLISHes in one pipeline ... */
#define PIPE_MAX_BYTES (4u << 20)   /* ... and bytes */
#define DOWN_PAUSE_MS 100           /* after a failed batch, before the next */
#define SUB_POLL_MS 250             /* the subscriber looks at its clock */
#define SUB_PING_MIN_MS 1000        /* silence before a PING: 5 command timeouts, */
#define SUB_PING_MAX_MS 15000       /* within these; as long again for its answer */
#define SUB_RETRY_MS 100            /* between subscribe attempts */

typedef struct qitem {
    struct qitem *next;
    uint32_t node;
    uint32_t len;
    uint8_t data[];
} qitem_t;

typedef struct rbus {
    bus_t base; /* first */
    cstats_t *st;
    cstats_t own_st; /* when the caller gave none */
    char chan[32];   /* this node's channel */
    int timeout_ms;  /* Redis command timeout (the subscriber's PING pace) */

    /* the publish queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    qitem_t *head, **tail;
    size_t qbytes;
    int waiting; /* the publisher sleeps on qcv */
    int stop;
    pthread_t pub_th;
    rconn_t *pc;

    /* the receiver */
    pthread_mutex_t fn_mu;
    bus_recv_fn fn;
    void *ctx;
    pthread_t sub_th;
    atomic_int sub_stop;
    int wake[2]; /* a byte written at destroy wakes the subscriber */
    rconn_t *sc;
    bus_dec_t dec;
} rbus_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void free_items(rbus_t *b, qitem_t *q, int count_dropped)
{
    while (q) {
        qitem_t *next = q->next;
        if (count_dropped)
            atomic_fetch_add(&b->st->bus_out_dropped, 1);
        free(q);
        q = next;
    }
}

/* ---- publish (any thread, no I/O) ---------------------------------------------------- */

static int rb_publish(bus_t *self, const bus_msg_t *m)
{
    rbus_t *b = (rbus_t *)self;
    static log_rl_t rl_bad, rl_full;
    unsigned long skipped;
    if (!m || !m->node)
        return -1;
    size_t len = bus_enc_size(m);
    if (!len) {
        if (log_ratelimit(&rl_bad, 10000, &skipped))
            LOGW("bus: message over the limits not published",
                 "to=%" PRIu32 " action=%d entries=%zu skipped=%lu", m->node, (int)m->action,
                 m->n, skipped);
        atomic_fetch_add(&b->st->bus_out_dropped, 1);
        return -1;
    }
    qitem_t *q = malloc(sizeof *q + len);
    if (!q) {
        atomic_fetch_add(&b->st->bus_out_dropped, 1);
        return -1;
    }
    q->next = NULL;
    q->node = m->node;
    q->len = (uint32_t)len;
    bus_encode(m, self->node, real_us(), q->data);

    pthread_mutex_lock(&b->qmu);
    int full = b->stop || b->qbytes + len + QITEM_OVERHEAD > QUEUE_MAX_BYTES;
    if (!full) {
        *b->tail = q;
        b->tail = &q->next;
        b->qbytes += len + QITEM_OVERHEAD;
        if (b->waiting)
            pthread_cond_signal(&b->qcv);
    }
    pthread_mutex_unlock(&b->qmu);
    if (full) {
        free(q);
        atomic_fetch_add(&b->st->bus_out_dropped, 1);
        if (log_ratelimit(&rl_full, 10000, &skipped))
            LOGW("bus: publish queue full, message dropped",
                 "to=%" PRIu32 " skipped=%lu", m->node, skipped);
        return -1;
    }
    return 0;
}

/* ---- the publisher thread ----------------------------------------------------------------- */

/* Send q.. as pipelines; every message is freed.  0, or -1 when Redis
 * could not be reached (the rest was dropped). */
static int send_batch(rbus_t *b, qitem_t *q)
{
    static log_rl_t rl_down, rl_err;
    unsigned long skipped;
    /* a connection the server closed (a restart) would eat the first batch */
    if (rconn_up(b->pc))
        rconn_alive(b->pc);
    while (q) {
        qitem_t *batch = q;
        size_t k = 0, bytes = 0;
        uint32_t chan_node = 0;
        char chan[32] = "";
        while (q && k < PIPE_MAX_MSGS && bytes < PIPE_MAX_BYTES) {
            if (q->node != chan_node || !chan[0]) {
                chan_node = q->node;
                snprintf(chan, sizeof chan, "pt:bus:%" PRIu32, chan_node);
            }
            const char *argv[3] = {"PUBLISH", chan, (const char *)q->data};
            size_t lens[3] = {7, strlen(chan), q->len};
            if (rconn_appendargv(b->pc, 3, argv, lens) < 0)
                break;
            bytes += q->len;
            k++;
            q = q->next;
        }
        /* batch[0..k) went into the pipeline: their replies, then free them */
        int down = 0;
        size_t failed = 0;
        for (size_t i = 0; i < k; i++) {
            qitem_t *it = batch;
            batch = batch->next;
            redisReply *r = down ? NULL : rconn_reply(b->pc);
            if (!r) {
                down = 1;
                failed++;
                atomic_fetch_add(&b->st->bus_out_dropped, 1);
            } else if (r->type == REDIS_REPLY_ERROR) {
                atomic_fetch_add(&b->st->bus_out_dropped, 1);
                if (log_ratelimit(&rl_err, 10000, &skipped))
                    LOGW("bus: PUBLISH refused", "error=%s skipped=%lu", LQ(r->str), skipped);
            } else {
                /* 0 receivers (no such node now) is not an error: lost like a push */
                atomic_fetch_add(&b->st->bus_out_msgs, 1);
                atomic_fetch_add(&b->st->bus_out_bytes, it->len);
            }
            if (r)
                freeReplyObject(r);
            free(it);
        }
        if (k == 0 || down) {
            /* not connected (back-off), or the connection broke */
            size_t lostn = 0;
            for (qitem_t *x = q; x; x = x->next)
                lostn++;
            free_items(b, q, 1);
            if (log_ratelimit(&rl_down, 5000, &skipped))
                LOGW("bus: Redis unreachable, messages dropped",
                     "dropped=%zu skipped=%lu", lostn + failed, skipped);
            return -1;
        }
    }
    return 0;
}

static void *publisher(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-bus-pub"); /* top -H, perf */
    rbus_t *b = arg;
    pthread_mutex_lock(&b->qmu);
    while (!b->stop) {
        if (!b->head) {
            b->waiting = 1;
            pthread_cond_wait(&b->qcv, &b->qmu);
            b->waiting = 0;
            continue;
        }
        qitem_t *q = b->head;
        b->head = NULL;
        b->tail = &b->head;
        b->qbytes = 0;
        pthread_mutex_unlock(&b->qmu);
        int rc = send_batch(b, q);
        pthread_mutex_lock(&b->qmu);
        if (rc < 0 && !b->stop) { /* let the back-off pass; the queue fills meanwhile */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += DOWN_PAUSE_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            while (!b->stop && pthread_cond_timedwait(&b->qcv, &b->qmu, &ts) != ETIMEDOUT)
                ; /* only destroy signals now (waiting is 0) */
        }
    }
    pthread_mutex_unlock(&b->qmu);
    return NULL;
}

/* ---- the subscriber thread ------------------------------------------------------------------ */

/* Sleep up to ms, or until destroy writes the wake byte. */
static void sub_pause(rbus_t *b, int ms)
{
    struct pollfd p = {.fd = b->wake[0], .events = POLLIN};
    if (!atomic_load(&b->sub_stop))
        (void)poll(&p, 1, ms);
}

static void account_latency(cstats_t *st, uint64_t pub_us)
{
    static const uint64_t le_ms[6] = {1, 2, 5, 10, 50, 250};
    uint64_t now = real_us();
    uint64_t lat = now > pub_us ? now - pub_us : 0; /* clocks of two hosts may disagree */
    if (lat > 3600u * 1000000u)                      /* nonsense: a clock jump, a bad clock */
        return;
    atomic_fetch_add(&st->bus_lat_us_sum, lat);
    atomic_fetch_add(&st->bus_lat_count, 1);
    for (int i = 0; i < 6; i++)
        if (lat <= le_ms[i] * 1000)
            atomic_fetch_add(&st->bus_lat_le_ms[i], 1);
}

/* One reply from the subscription: a message for this node, or something
 * else (a PING's answer, a subscribe confirmation) to ignore. */
static void on_reply(rbus_t *b, const redisReply *r)
{
    static log_rl_t rl_bad;
    unsigned long skipped;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !r->element)
        return;
    const redisReply *kind = r->element[0], *data = r->element[2];
    if (!kind || kind->type != REDIS_REPLY_STRING || kind->len != 7 ||
        memcmp(kind->str, "message", 7))
        return;
    bus_msg_t m = {0};
    uint64_t pub_us = 0;
    if (!data || data->type != REDIS_REPLY_STRING || !data->str ||
        bus_decode(&b->dec, (const uint8_t *)data->str, data->len, &m, &pub_us) < 0 ||
        m.node != b->base.node) {
        if (m.frame) /* decoded, but addressed to another node */
            frame_unref(m.frame);
        atomic_fetch_add(&b->st->bus_in_bad, 1);
        if (log_ratelimit(&rl_bad, 10000, &skipped))
            LOGW("bus: undecodable message dropped", "channel=%s bytes=%zu skipped=%lu",
                 b->chan, data && data->type == REDIS_REPLY_STRING ? data->len : 0, skipped);
        return;
    }
    atomic_fetch_add(&b->st->bus_in_msgs, 1);
    atomic_fetch_add(&b->st->bus_in_bytes, data->len);
    account_latency(b->st, pub_us);
    pthread_mutex_lock(&b->fn_mu);
    if (b->fn)
        b->fn(b->ctx, &m);
    pthread_mutex_unlock(&b->fn_mu);
    if (m.frame)
        frame_unref(m.frame);
}

/* SUBSCRIBE on a fresh connection: 0, or -1 (dropped again). */
static int sub_open(rbus_t *b)
{
    redisReply *r = rconn_cmd(b->sc, "SUBSCRIBE %s", b->chan);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0] &&
             r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 9 &&
             !memcmp(r->element[0]->str, "subscribe", 9);
    static log_rl_t rl;
    unsigned long skipped;
    if (!ok && log_ratelimit(&rl, 10000, &skipped)) {
        if (r && r->type == REDIS_REPLY_ERROR)
            LOGW("bus: SUBSCRIBE refused", "channel=%s error=%s skipped=%lu", b->chan,
                 LQ(r->str), skipped);
        else
            LOGW("bus: cannot subscribe, Redis unreachable, retrying",
                 "channel=%s skipped=%lu", b->chan, skipped);
    }
    if (r)
        freeReplyObject(r);
    if (!ok) {
        rconn_reset(b->sc);
        return -1;
    }
    return 0;
}

static void *subscriber(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-bus-sub"); /* top -H, perf */
    rbus_t *b = arg;
    int was_up = 0, ping_out = 0;
    int64_t last_rx = 0, ping_at = 0;
    int64_t idle_ms = 5 * (int64_t)b->timeout_ms;
    if (idle_ms < SUB_PING_MIN_MS)
        idle_ms = SUB_PING_MIN_MS;
    if (idle_ms > SUB_PING_MAX_MS)
        idle_ms = SUB_PING_MAX_MS;
    while (!atomic_load(&b->sub_stop)) {
        if (!rconn_up(b->sc)) {
            if (sub_open(b) < 0) {
                sub_pause(b, SUB_RETRY_MS);
                continue;
            }
            if (was_up)
                LOGI("bus: subscribed again", "channel=%s", b->chan);
            else
                LOGD("bus: subscribed", "channel=%s", b->chan);
            was_up = 1;
            ping_out = 0;
            last_rx = mono_ms();
        }
        redisReply *r = NULL;
        int rc = rconn_read(b->sc, b->wake[0], SUB_POLL_MS, &r);
        int64_t now = mono_ms();
        if (rc < 0) {
            if (!atomic_load(&b->sub_stop))
                LOGW("bus: subscription lost, reconnecting", "channel=%s", b->chan);
            continue;
        }
        if (rc == 0) {
            if (ping_out && now - ping_at > idle_ms) {
                LOGW("bus: Redis does not answer the subscription's PING, reconnecting",
                     "channel=%s", b->chan);
                rconn_reset(b->sc);
            } else if (!ping_out && now - last_rx > idle_ms) {
                /* sent by the next rconn_read; answered as ["pong", ""] */
                if (rconn_append(b->sc, "PING") == 0) {
                    ping_out = 1;
                    ping_at = now;
                }
            }
            continue;
        }
        last_rx = now;
        ping_out = 0;
        on_reply(b, r);
        freeReplyObject(r);
    }
    return NULL;
}

/* ---- the bus ------------------------------------------------------------------------------- */

static int rb_subscribe(bus_t *self, bus_recv_fn fn, void *ctx)
{
    rbus_t *b = (rbus_t *)self;
    pthread_mutex_lock(&b->fn_mu);
    b->fn = fn;
    b->ctx = ctx;
    pthread_mutex_unlock(&b->fn_mu);
    return 0;
}

static void rb_destroy(bus_t *self)
{
    rbus_t *b = (rbus_t *)self;
    if (!b)
        return;
    pthread_mutex_lock(&b->qmu);
    b->stop = 1;
    pthread_cond_signal(&b->qcv);
    pthread_mutex_unlock(&b->qmu);
    pthread_join(b->pub_th, NULL);

    atomic_store(&b->sub_stop, 1);
    ssize_t w;
    do
        w = write(b->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(b->sub_th, NULL);

    free_items(b, b->head, 1); /* what was never sent */
    rconn_free(b->pc);
    rconn_free(b->sc);
    bus_dec_free(&b->dec);
    close(b->wake[0]);
    close(b->wake[1]);
    pthread_mutex_destroy(&b->qmu);
    pthread_cond_destroy(&b->qcv);
    pthread_mutex_destroy(&b->fn_mu);
    free(b);
}

static const bus_ops_t redis_ops = {rb_publish, rb_subscribe, rb_destroy};

bus_t *bus_redis_new(const rconf_t *cf, uint32_t node, cstats_t *st)
{
    if (!cf || !node)
        return NULL;
    rbus_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base.ops = &redis_ops;
    b->base.node = node;
    b->st = st ? st : &b->own_st;
    snprintf(b->chan, sizeof b->chan, "pt:bus:%" PRIu32, node);
    b->timeout_ms = cf->timeout_ms > 0 ? cf->timeout_ms : 2000;
    b->tail = &b->head;
    b->wake[0] = b->wake[1] = -1;
    atomic_init(&b->sub_stop, 0);
    int mu = 0, cv = 0, fmu = 0, pub = 0;
    if (pipe2(b->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        goto fail;
    b->pc = rconn_new(cf, &b->st->redis);
    b->sc = rconn_new(cf, &b->st->redis);
    if (!b->pc || !b->sc)
        goto fail;
    if (!(mu = pthread_mutex_init(&b->qmu, NULL) == 0) ||
        !(cv = pthread_cond_init(&b->qcv, NULL) == 0) ||
        !(fmu = pthread_mutex_init(&b->fn_mu, NULL) == 0))
        goto fail;
    if (!(pub = pthread_create(&b->pub_th, NULL, publisher, b) == 0))
        goto fail;
    if (pthread_create(&b->sub_th, NULL, subscriber, b) != 0)
        goto fail;
    return &b->base;
fail:
    LOGW("bus: cannot start", "node=%" PRIu32, node);
    if (pub) {
        pthread_mutex_lock(&b->qmu);
        b->stop = 1;
        pthread_cond_signal(&b->qcv);
        pthread_mutex_unlock(&b->qmu);
        pthread_join(b->pub_th, NULL);
    }
    if (fmu)
        pthread_mutex_destroy(&b->fn_mu);
    if (cv)
        pthread_cond_destroy(&b->qcv);
    if (mu)
        pthread_mutex_destroy(&b->qmu);
    rconn_free(b->pc);
    rconn_free(b->sc);
    if (b->wake[0] >= 0) {
        close(b->wake[0]);
        close(b->wake[1]);
    }
    free(b);
    return NULL;
}
