/*
 * Delivery (see deliver.h): routes, the loop side of a delivery (send,
 * close with an error, kick), the bus receiver, and the immediate API.
 * The ordered queue is deliver_queue.c.
 */
#include "server/deliver/deliver_int.h"

#include "server/core/conn.h"
#include "server/core/connmap.h"
#include "server/core/worker.h"
#include "server/net/ws.h"
#include "server/core/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- on the device's loop ------------------------------------------------ */

/* What gw_protocol_error does for a socket: ERROR, then close after it. */
static void close_with_error(conn_t *c, int code, const char *msg)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    LOGD("closing connection", "conn=%llu code=%d reason=%s", (unsigned long long)c->id, code,
         LQ(msg));
    conn_send_error(c, code, msg, 0);
    if (c->kind == CONN_WS)
        ws_close_with(c, 1008, msg);
    conn_close_after_flush(c);
}

static void kick(deliver_t *d, conn_t *c, int by_client_type, const char *by_imei)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    if ((c->flags & CF_LOGIN_PENDING) && d->cfg.kick_later) {
        d->cfg.kick_later(c, by_client_type, by_imei); /* after its LOGINACK */
        return;
    }
    atomic_fetch_add(&d->cfg.metrics->kicks, 1);
    LOGI("device kicked", "app=%d user=%s clientType=%d byClientType=%d", c->app_id,
         LQ(c->user_id), c->client_type, by_client_type);
    json_t *o = json_pack("{s:s, s:i, s:s, s:i, s:s}", "userId", c->user_id, "clientType",
                          c->client_type, "imei", c->imei, "byClientType", by_client_type,
                          "byImei", by_imei ? by_imei : "");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        conn_close(c);
        return;
    }
    conn_send_json(c, PETREL_CMD_MUTUALLOGIN, s, strlen(s));
    free(s);
    if (c->kind == CONN_WS)
        ws_close_with(c, 1000, "logged in elsewhere");
    conn_close_after_flush(c);
}

void deliver_kick_conn(deliver_t *d, conn_t *c, int by_client_type, const char *by_imei)
{
    if (d && c)
        kick(d, c, by_client_type, by_imei);
}

static void batch_free(dl_batch_t *b)
{
    if (b->f)
        frame_unref(b->f);
    free(b->text);
    free(b);
}

static void batch_on_loop(worker_t *w, void *arg)
{
    dl_batch_t *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        conn_t *c = connmap_get(&w->conns, b->conns[i]);
        if (!c)
            continue; /* gone since the lookup */
        if (b->action == BUS_SEND) {
            if (c->flags & CF_AUTHED)
                conn_send_frame(c, b->f);
        } else if (b->action == BUS_CLOSE) {
            close_with_error(c, b->code, b->text ? b->text : "");
        } else {
            kick(b->d, c, b->code, b->text);
        }
    }
    batch_free(b);
}

/* ---- routes -------------------------------------------------------------- */

void route_init(route_t *r, deliver_t *d, enum bus_action action, frame_t *f, int code,
                const char *text)
{
    r->d = d;
    r->action = action;
    r->f = f;
    r->code = code;
    r->text = text;
    r->here = NULL;
    r->local_only = 0;
    r->count = 0;
    memset(r->local, 0, d->cfg.nworkers * sizeof r->local[0]);
    r->remote = NULL;
    r->remote_node = NULL;
    r->nremote = r->remote_cap = 0;
}

static void add_local(route_t *r, uint64_t conn_id)
{
    unsigned wi = conn_id_worker(conn_id);
    if (wi >= r->d->cfg.nworkers || (r->action == BUS_SEND && !r->f))
        return;
    dl_batch_t *b = r->local[wi];
    if (!b || b->n == b->cap) {
        size_t cap = b ? b->cap * 2 : 8;
        dl_batch_t *nb = realloc(b, sizeof *nb + cap * sizeof nb->conns[0]);
        if (!nb)
            return;
        if (!b) {
            nb->d = r->d;
            nb->action = r->action;
            nb->f = r->f ? frame_ref(r->f) : NULL;
            nb->code = r->code;
            nb->text = r->text ? strdup(r->text) : NULL;
            nb->n = 0;
        }
        nb->cap = cap;
        r->local[wi] = b = nb;
    }
    b->conns[b->n++] = conn_id;
}

static void add_remote(route_t *r, uint32_t node, const sess_device_t *dev)
{
    if (r->nremote == r->remote_cap) {
        size_t cap = r->remote_cap ? r->remote_cap * 2 : 8;
        bus_entry_t *e = realloc(r->remote, cap * sizeof *e);
        if (!e)
            return;
        r->remote = e;
        uint32_t *nn = realloc(r->remote_node, cap * sizeof *nn);
        if (!nn)
            return;
        r->remote_node = nn;
        r->remote_cap = cap;
    }
    r->remote[r->nremote] = (bus_entry_t){dev->conn_id, dev->app_id, NULL};
    r->remote_node[r->nremote++] = node;
}

void route_add(route_t *r, const sess_device_t *dev)
{
    const deliver_cfg_t *cfg = &r->d->cfg;
    uint32_t node = r->local_only ? r->d->node
                    : cfg->node_of ? cfg->node_of(cfg->node_ctx, dev)
                    : dev->node ? dev->node : r->d->node;
    if (node == r->d->node)
        add_local(r, dev->conn_id);
    else if (cfg->bus)
        add_remote(r, node, dev);
    /* else: another node and no bus to it: lost, like a device that left */
}

void route_add_devices(route_t *r, const sess_device_t *d, size_t n, uint64_t except_conn)
{
    /* except_conn is a connection of this node: another node's ids are its own */
    for (size_t i = 0; i < n; i++)
        if (d[i].conn_id != except_conn || (d[i].node && d[i].node != r->d->node))
            route_add(r, &d[i]);
}

int route_add_user(route_t *r, int32_t app_id, const char *user_id, uint64_t except_conn)
{
    sess_registry_t *sess = r->d->cfg.sess;
    sess_device_t *d = NULL;
    size_t n = 0;
    if (sess->ops->list(sess, app_id, user_id, &d, &n) < 0) {
        sess_devices_free(d, n);
        return -1;
    }
    route_add_devices(r, d, n, except_conn);
    sess_devices_free(d, n);
    return 0;
}

/* The remote devices: one bus message per node. */
static void send_remote(route_t *r)
{
    bus_t *bus = r->d->cfg.bus;
    size_t done = 0;
    while (done < r->nremote) {
        uint32_t node = r->remote_node[done];
        /* gather this node's entries at [done, k) */
        size_t k = done;
        for (size_t i = done; i < r->nremote; i++) {
            if (r->remote_node[i] != node)
                continue;
            bus_entry_t e = r->remote[i];
            r->remote[i] = r->remote[k];
            r->remote_node[i] = r->remote_node[k];
            r->remote[k] = e;
            r->remote_node[k++] = node;
        }
        bus_msg_t m = {.node = node, .from = r->d->node, .action = r->action, .frame = r->f,
                       .code = r->code, .reason = r->text, .n = k - done,
                       .entries = r->remote + done};
        if (bus->ops->publish(bus, &m) == 0)
            r->count += k - done;
        done = k;
    }
    free(r->remote);
    free(r->remote_node);
    r->remote = NULL;
    r->remote_node = NULL;
}

size_t route_send(route_t *r)
{
    deliver_t *d = r->d;
    for (unsigned i = 0; i < d->cfg.nworkers; i++) {
        dl_batch_t *b = r->local[i];
        if (!b)
            continue;
        r->local[i] = NULL;
        size_t n = b->n;
        if (r->here && r->here->idx == i) {
            batch_on_loop(r->here, b);
            r->count += n;
        } else if (runtime_post_n(d->cfg.rt, i, batch_on_loop, b, (uint32_t)n) == 0) {
            r->count += n;
        } else {
            batch_free(b);
        }
    }
    if (r->nremote)
        send_remote(r);
    if (r->f)
        frame_unref(r->f);
    r->f = NULL;
    return r->count;
}

/* ---- from the bus: this node's devices --------------------------------------- */

static void on_bus(void *ctx, const bus_msg_t *m)
{
    deliver_t *d = ctx;
    route_t r;
    route_init(&r, d, m->action, m->frame ? frame_ref(m->frame) : NULL, m->code, m->reason);
    r.local_only = 1;
    for (size_t i = 0; i < m->n; i++) {
        const bus_entry_t *e = &m->entries[i];
        if (e->conn_id)
            add_local(&r, e->conn_id);
        else if (e->user_id)
            route_add_user(&r, e->app_id, e->user_id, 0);
    }
    route_send(&r);
}

/* ---- the immediate API ------------------------------------------------------------ */

size_t deliver_user_frame(deliver_t *d, int32_t app_id, const char *user_id, frame_t *f,
                          uint64_t except_conn)
{
    if (!d || !f)
        return 0;
    route_t r;
    route_init(&r, d, BUS_SEND, frame_ref(f), 0, NULL);
    route_add_user(&r, app_id, user_id, except_conn);
    return route_send(&r);
}

#define DL_LOOKUP_CHUNK 512 /* users per list_many */

size_t deliver_users_frame(deliver_t *d, int32_t app_id, const char *const *ids, size_t n,
                           frame_t *f)
{
    if (!d || !f || !n)
        return 0;
    route_t r;
    route_init(&r, d, BUS_SEND, frame_ref(f), 0, NULL);
    sess_registry_t *sess = d->cfg.sess;
    int32_t apps[DL_LOOKUP_CHUNK];
    sess_device_t *devs[DL_LOOKUP_CHUNK];
    size_t ndev[DL_LOOKUP_CHUNK];
    for (size_t i = 0; i < n; i += DL_LOOKUP_CHUNK) {
        size_t k = n - i < DL_LOOKUP_CHUNK ? n - i : DL_LOOKUP_CHUNK;
        if (!sess->ops->list_many) {
            for (size_t j = 0; j < k; j++)
                route_add_user(&r, app_id, ids[i + j], 0);
            continue;
        }
        for (size_t j = 0; j < k; j++)
            apps[j] = app_id;
        sess->ops->list_many(sess, apps, ids + i, k, devs, ndev); /* a failed one: none */
        for (size_t j = 0; j < k; j++) {
            route_add_devices(&r, devs[j], ndev[j], 0);
            sess_devices_free(devs[j], ndev[j]);
        }
    }
    return route_send(&r);
}

size_t deliver_user(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd,
                    const char *json, size_t len, uint64_t except_conn)
{
    if (!d)
        return 0;
    if (d->cfg.bus) { /* cluster: the lookup is a Redis round trip; reach unknown */
        dq_user(d, app_id, user_id, cmd, json, len, except_conn, 0, 0, NULL, NULL, 0);
        return 1;
    }
    /* look up first: a user with no device costs no encoding */
    sess_device_t *dev = NULL;
    size_t n = 0;
    if (d->cfg.sess->ops->list(d->cfg.sess, app_id, user_id, &dev, &n) < 0 || n == 0) {
        sess_devices_free(dev, n);
        return 0;
    }
    route_t r;
    route_init(&r, d, BUS_SEND, frame_down(cmd, json, len), 0, NULL);
    for (size_t i = 0; r.f && i < n; i++)
        if (dev[i].conn_id != except_conn)
            route_add(&r, &dev[i]);
    sess_devices_free(dev, n);
    return route_send(&r);
}

int deliver_deferred(const deliver_t *d)
{
    return d && d->cfg.bus != NULL;
}

void deliver_user_else(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd,
                       const char *json, size_t len, uint64_t except_conn, uint64_t else_conn,
                       int32_t else_cmd, deliver_else_fn else_make, const void *arg,
                       size_t arg_len)
{
    if (!d)
        return;
    if (d->cfg.bus) {
        dq_user(d, app_id, user_id, cmd, json, len, except_conn, else_conn, else_cmd, else_make,
                arg, arg_len);
        return;
    }
    if (deliver_user(d, app_id, user_id, cmd, json, len, except_conn) == 0 && else_conn &&
        else_make)
        route_else(d, else_conn, else_cmd, else_make, arg);
}

void route_else(deliver_t *d, uint64_t conn_id, int32_t cmd, deliver_else_fn make, const void *arg)
{
    char *text = make(arg);
    if (!text)
        return;
    route_t r;
    sess_device_t to = {.conn_id = conn_id};
    route_init(&r, d, BUS_SEND, frame_down(cmd, text, strlen(text)), 0, NULL);
    free(text);
    if (r.f)
        route_add(&r, &to);
    route_send(&r);
}

size_t deliver_disconnect_user(deliver_t *d, int32_t app_id, const char *user_id, int code,
                               const char *msg)
{
    if (!d)
        return 0;
    char text[96]; /* what one ERROR packet says, at most */
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    if (d->cfg.bus) { /* cluster: the lookup is a Redis round trip */
        dq_close_user(d, app_id, user_id, code, text);
        return 1;
    }
    route_t r;
    route_init(&r, d, BUS_CLOSE, NULL, code, text);
    route_add_user(&r, app_id, user_id, 0);
    return route_send(&r);
}

void deliver_kick(deliver_t *d, struct worker *here, const sess_device_t *v, size_t n,
                  int by_client_type, const char *by_imei)
{
    if (!d || !n)
        return;
    route_t r;
    route_init(&r, d, BUS_KICK, NULL, by_client_type, by_imei ? by_imei : "");
    r.here = here;
    for (size_t i = 0; i < n; i++)
        route_add(&r, &v[i]);
    route_send(&r);
}

/* ---- life ---------------------------------------------------------------------------- */

deliver_t *deliver_new(const deliver_cfg_t *cfg)
{
    if (!cfg || !cfg->rt || !cfg->sess || !cfg->metrics || cfg->nworkers > DL_MAX_WORKERS)
        return NULL;
    deliver_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->node = cfg->bus ? cfg->bus->node : 0;
    if (dq_start(d) < 0) {
        free(d);
        return NULL;
    }
    if (cfg->bus && cfg->bus->ops->subscribe(cfg->bus, on_bus, d) < 0) {
        dq_stop(d);
        free(d);
        return NULL;
    }
    return d;
}

void deliver_free(deliver_t *d)
{
    if (!d)
        return;
    dq_stop(d);
    if (d->cfg.bus)
        d->cfg.bus->ops->subscribe(d->cfg.bus, NULL, NULL);
    free(d);
}

int deliver_busy(deliver_t *d)
{
    if (!d || !d->cfg.max_backlog)
        return 0;
    uint64_t q = deliver_backlog(d); /* an ordered push waiting for its lookup counts once */
    if (q < DELIVER_QUEUE_MAX / 2 && q + runtime_inbox_depth(d->cfg.rt) < d->cfg.max_backlog)
        return 0;
    atomic_fetch_add_explicit(&d->cfg.metrics->backlog_refusals, 1, memory_order_relaxed);
    return 1;
}

uint64_t deliver_dropped(const deliver_t *d)
{
    return d ? atomic_load(&d->dropped) : 0;
}

uint64_t deliver_backlog(const deliver_t *d)
{
    return d ? atomic_load_explicit(&d->queued, memory_order_relaxed) : 0;
}
