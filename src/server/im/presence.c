/*
 * Online status: transitions, the debounced offline, subscriptions (kept
 * in the presence registry, seam/presence_reg.h) and the fan-out to
 * friends and subscribers (see presence.h for the rules).  Each transition
 * is an event (EV_DEVICE_ONLINE / KICKED / OFFLINE, EV_USER_ONLINE /
 * OFFLINE, im/event.h) emitted on the device's worker; the device
 * notifications (4005 to the user's other devices, 4004 to its peers
 * through presence_fanout_here, MUTUALLOGIN to the kicked) are the
 * subscriber notify/presence.c.
 *
 * State: 64 stripes, each a mutex and a chained hash of "nodes" keyed by
 * (app, user) (core/umap.h).  A node exists only while it holds a
 * waiting offline notification of that user.
 * The stripe mutex also serialises the user's session-registry changes on
 * this node (presence_register / the LEAVE job run the sess ops inside
 * it, on the thread pool: a cluster registry is a Redis round trip); the
 * registry's own answers (the devices after a login, "the last one" of a
 * removal, the flap mark) make "first device" and "last device" exact
 * across nodes.  Lock order: stripe, then the registry's own locks;
 * nothing takes them the other way.
 *
 * A waiting offline (pending_t) is reachable two ways: from its node
 * (under the stripe lock; a login cancels it there) and from the due list
 * of the worker that created it (that loop's thread only).  Cancelling
 * detaches it from the node and marks it; the owning worker frees it when
 * its due time comes (or when the worker finishes), so no thread ever
 * frees what another may still reach.
 *
 * Fan-out jobs run on libuv's thread pool: the storage reads (status
 * peers, the blacklist) and the registry lookups of the deliveries never
 * run on an event loop.
 */
#include "server/im/presence.h"
#include "server/core/umap.h"
#include "server/core/wbatch.h"

#include "server/core/log.h"
#include "server/deliver/deliver.h"
#include "server/im/event.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct pending pending_t;

typedef struct pnode {
    umap_node_t un;      /* first: umap.h; keyed by (app, user) */
    pending_t *pending;  /* waiting offline notification */
} pnode_t;

struct pending {
    dlist_t link;      /* in the owning worker's due list (its thread only) */
    int64_t due_ms;    /* monotonic */
    int cancelled;     /* under the stripe lock */
    uint32_t hash;
    int32_t app_id;
    int client_type;
    char *imei;
    char user_id[];
};

typedef struct pworker {
    worker_t *w;
    uv_timer_t timer;
    dlist_t due;
    int inited, closed;
    wbatch_t fanouts; /* fan-outs on the thread pool, batched (fanout_start) */
    wbatch_t rjobs;   /* registry removals and offline checks, off the loop */
} pworker_t;

struct presence {
    server_t *srv;
    int64_t debounce_ms;
    presence_reg_t *reg;  /* subscriptions (owned) */
    unsigned nworkers;
    pworker_t *pw;
    umap_striped_t nodes; /* pnode_t by (app, user), under the stripe locks */
};

/* ---- the node table ---------------------------------------------------- */

static umap_stripe_t *stripe_of(presence_t *p, uint32_t h)
{
    return umap_stripe(&p->nodes, h);
}

static pnode_t *pnode(umap_node_t **pp)
{
    return (pnode_t *)*pp;
}

/* Drop the node at *pp if it holds nothing any more. */
static void node_gc(umap_stripe_t *st, umap_node_t **pp)
{
    if (*pp && !pnode(pp)->pending)
        umap_remove(&st->map, pp);
}

static void pending_free(pending_t *pe)
{
    if (!pe)
        return;
    free(pe->imei);
    free(pe);
}

/* ---- packs --------------------------------------------------------------- */

static int dev_cmp(const void *a, const void *b)
{
    const sess_device_t *x = a, *y = b;
    if (x->login_ms != y->login_ms)
        return x->login_ms < y->login_ms ? -1 : 1;
    if (x->client_type != y->client_type)
        return x->client_type - y->client_type;
    return strcmp(x->imei, y->imei);
}

/* [{clientType, imei, loginTime}] of the newest max of d[0..n), oldest
 * first (sorts d).  Without with_imei the device ids are left out: they
 * are for the user's own devices only (docs/SECURITY.md). */
static json_t *devices_json(sess_device_t *d, size_t n, size_t max, int with_imei)
{
    json_t *a = json_array();
    if (n > 1)
        qsort(d, n, sizeof *d, dev_cmp);
    for (size_t i = n > max ? n - max : 0; a && i < n; i++) {
        json_t *o = json_pack("{s:i, s:I}", "clientType", d[i].client_type, "loginTime",
                              (json_int_t)d[i].login_ms);
        if (o && with_imei)
            json_object_set_new(o, "imei", json_string(d[i].imei));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *presence_sessions(server_t *s, int32_t app_id, const char *user_id, int with_imei)
{
    sess_device_t *d = NULL;
    size_t n = 0;
    if (s->sess->ops->list(s->sess, app_id, user_id, &d, &n) < 0)
        n = 0;
    json_t *a = devices_json(d, n, n, with_imei);
    sess_devices_free(d, n);
    return a;
}

/* The 4004/4005 pack as text (malloc'ed, NULL on OOM).  "client" lists
 * at most PRESENCE_PACK_CLIENTS devices (the newest logins): each login
 * goes to every other device, so an unbounded list would make n logins
 * of one user cost O(n^3) bytes; "clientCount" is the full count.
 * imei == NULL: the pack for other users (4004), without device ids. */
char *presence_pack(int32_t app_id, const char *user_id, int status, int client_type,
                    const char *imei, sess_device_t *d, size_t n)
{
    json_t *o = json_pack("{s:i, s:s, s:i, s:i, s:o, s:I}", "appId", app_id, "userId",
                          user_id, "status", status, "clientType", client_type, "client",
                          devices_json(d, n, PRESENCE_PACK_CLIENTS, imei != NULL),
                          "clientCount", (json_int_t)n);
    if (o && imei)
        json_object_set_new(o, "imei", json_string(imei));
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

/* ---- fan-out on the thread pool -------------------------------------------- */

/* Who to tell comes from storage (friends, blacklist), so a fan-out runs on
 * the thread pool.  Like LOGIN lookups (gateway.c), fan-outs are batched
 * per worker (wbatch.h), so a login storm costs one thread-pool hop per
 * batch instead of one per login. */
#define FANOUT_BATCH_MAX 256

typedef struct fanout {
    wbatch_item_t link; /* first: wbatch.h */
    server_t *srv;
    int32_t app_id;
    int32_t cmd;
    size_t len;
    char *json;
    char user_id[];
} fanout_t;

static void fanout_free(fanout_t *f)
{
    if (!f)
        return;
    free(f->json);
    free(f);
}

static fanout_t *fanout_new(server_t *s, int32_t app_id, const char *user_id, int32_t cmd,
                            const char *json, size_t len)
{
    if (atomic_load(&s->stopping))
        return NULL; /* every device is going away: nobody to tell */
    size_t ul = strlen(user_id);
    fanout_t *f = calloc(1, sizeof *f + ul + 1);
    if (!f)
        return NULL;
    f->json = malloc(len + 1);
    if (!f->json) {
        free(f);
        return NULL;
    }
    memcpy(f->json, json, len);
    f->json[len] = '\0';
    f->len = len;
    f->srv = s;
    f->app_id = app_id;
    f->cmd = cmd;
    memcpy(f->user_id, user_id, ul + 1);
    return f;
}

static int status_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const store_user_status_t *)elem)->user_id);
}

static int id_cmp(const void *key, const void *elem)
{
    return strcmp(key, elem);
}

static void fanout_one(fanout_t *f)
{
    server_t *s = f->srv;
    store_user_status_t *peers = NULL;
    size_t np = 0, sent = 0;
    frame_t *fr = frame_down(f->cmd, f->json, f->len); /* one frame for everyone */
    if (!fr)
        return;
    int rc = store_friend_status_peers_sync(s->store, f->app_id, f->user_id, &peers, &np);
    if (rc < 0)
        LOGW("presence: cannot read friends", "app=%d user=%s err=\"%s\"", f->app_id,
             LQ(f->user_id), store_strerror(rc));

    char **subs = NULL;
    presence_reg_t *reg = s->presence->reg;
    size_t ns = reg->ops->subscribers(reg, f->app_id, f->user_id, now_ms(), &subs);
    /* everyone to tell, in one list: their devices are looked up together */
    const char **to = malloc((np + ns + 1) * sizeof *to);
    size_t nt = 0;
    for (size_t i = 0; to && i < np; i++)
        to[nt++] = peers[i].user_id;
    if (to && ns) {
        char (*blacked)[STORE_ID_MAX + 1] = NULL;
        size_t nb = 0;
        rc = store_friend_blacked_sync(s->store, f->app_id, f->user_id, &blacked, &nb);
        if (rc < 0)
            LOGW("presence: cannot read blacklist; subscribers skipped", "app=%d user=%s",
                 f->app_id, LQ(f->user_id));
        for (size_t i = 0; rc == 0 && i < ns; i++) {
            const char *id = subs[i];
            if (!strcmp(id, f->user_id) ||
                (np && bsearch(id, peers, np, sizeof *peers, status_cmp)) || /* told already */
                (nb && bsearch(id, blacked, nb, sizeof *blacked, id_cmp)))
                continue;
            to[nt++] = id;
        }
        free(blacked);
    }
    if (to)
        sent = deliver_users_frame(s->deliver, f->app_id, to, nt, fr);
    free(to);
    presence_reg_ids_free(subs, ns);
    free(peers);
    frame_unref(fr);
    LOGD("presence fan-out", "app=%d user=%s cmd=%d peers=%zu subscribers=%zu devices=%zu",
         f->app_id, LQ(f->user_id), f->cmd, np, ns, sent);
}

static void fanout_work(wbatch_t *b, wbatch_item_t *list)
{
    (void)b;
    for (wbatch_item_t *it = list; it; it = it->next)
        fanout_one((fanout_t *)it);
}

/* Done, or never started (presence is best effort: devices resync). */
static void fanout_done(wbatch_t *b, wbatch_item_t *list, int status)
{
    (void)b;
    (void)status;
    while (list) {
        wbatch_item_t *next = list->next;
        fanout_free((fanout_t *)list);
        list = next;
    }
}

/* On w's loop thread. */
static void fanout_start(worker_t *w, void *arg)
{
    fanout_t *f = arg;
    presence_t *p = w->srv->presence;
    pworker_t *pw = w->idx < p->nworkers ? &p->pw[w->idx] : NULL;
    if (!pw || !pw->inited) {
        fanout_free(f);
        return;
    }
    wbatch_push(&pw->fanouts, &f->link); /* dropped once pw is closed */
}

void presence_fanout(server_t *s, unsigned worker_idx, int32_t app_id, const char *user_id,
                     int32_t cmd, const char *json, size_t len)
{
    fanout_t *f = fanout_new(s, app_id, user_id, cmd, json, len);
    if (f && worker_post(s, worker_idx, fanout_start, f) < 0)
        fanout_free(f);
}

void presence_fanout_here(server_t *s, unsigned worker_idx, int32_t app_id,
                          const char *user_id, int32_t cmd, const char *json, size_t len)
{
    fanout_t *f = worker_idx < s->nworkers ? fanout_new(s, app_id, user_id, cmd, json, len) : NULL;
    if (f)
        fanout_start(&s->workers[worker_idx], f);
}

/* ---- announcing a change ------------------------------------------------------ */

/* One EV_DEVICE_* / EV_USER_* event about a device of (app, user) on
 * worker w (im/event.h): the device notifications are notify/presence.c's. */
static void emit(worker_t *w, ev_kind_t kind, int32_t app_id, const char *user_id,
                 int client_type, const char *imei, uint64_t conn_id, sess_device_t *d,
                 size_t n, const sess_device_t *v, size_t nv)
{
    ev_presence_t pr = {user_id, client_type, imei, d, n, v, nv, w->idx};
    im_event_t ev = {.kind = kind, .app_id = app_id, .actor = user_id,
                     .origin = {client_type, imei, conn_id}, .time_ms = now_ms(),
                     .u.presence = &pr};
    events_emit(w->srv->events, &ev);
}

void presence_joined_free(presence_joined_t *j)
{
    sess_devices_free(j->victims, j->nvictims);
    sess_devices_free(j->devices, j->ndevices);
    j->victims = j->devices = NULL;
    j->nvictims = j->ndevices = 0;
}

void presence_register(server_t *s, const sess_login_t *q, presence_joined_t *out)
{
    presence_t *p = s->presence;
    uint32_t h = umap_hash(q->app_id, q->user_id);
    umap_stripe_t *st = stripe_of(p, h);
    memset(out, 0, sizeof *out);

    size_t n_after = 0;
    int remote_flap = 0;
    sess_login_t qa = *q;
    qa.n_after = &n_after; /* decided with the login itself: across nodes too */
    qa.flapped = &remote_flap;
    pthread_mutex_lock(&st->mu);
    out->rc = s->sess->ops->login(s->sess, &qa, &out->victims, &out->nvictims);
    if (out->rc == 0) {
        if (s->sess->ops->list(s->sess, q->app_id, q->user_id, &out->devices, &out->ndevices) < 0)
            out->ndevices = 0; /* out of memory, Redis gone: the packs list no device */
        out->first = n_after == 1 && out->nvictims == 0;
        umap_node_t **pp = out->first ? umap_slot(&st->map, h, q->app_id, q->user_id) : NULL;
        if (pp && *pp && pnode(pp)->pending) {
            /* back within the window: the offline is never told */
            pnode(pp)->pending->cancelled = 1;
            pnode(pp)->pending = NULL;
            node_gc(st, pp);
            out->flapped = 1;
        }
        if (out->first && remote_flap)
            out->flapped = 1; /* it left from another node, within the debounce */
    }
    pthread_mutex_unlock(&st->mu);
}

void presence_announce_login(conn_t *c, presence_joined_t *j)
{
    if (j->rc == 0) {
        LOGD("presence: device online", "app=%d user=%s clientType=%d devices=%zu first=%d "
             "flapped=%d", c->app_id, LQ(c->user_id), c->client_type, j->ndevices, j->first,
             j->flapped);
        emit(c->w, EV_DEVICE_ONLINE, c->app_id, c->user_id, c->client_type, c->imei, c->id,
             j->devices, j->ndevices, NULL, 0);
        if (j->first && !j->flapped)
            emit(c->w, EV_USER_ONLINE, c->app_id, c->user_id, c->client_type, c->imei, c->id,
                 j->devices, j->ndevices, NULL, 0);
    }
    if (j->nvictims) /* MUTUALLOGIN and close, on the victims' loops or nodes */
        emit(c->w, EV_DEVICE_KICKED, c->app_id, c->user_id, c->client_type, c->imei, c->id,
             j->devices, j->ndevices, j->victims, j->nvictims);
}

void presence_announce_kicks(worker_t *w, int32_t app_id, const char *user_id, int client_type,
                             const char *imei, uint64_t conn_id, presence_joined_t *j)
{
    if (j->nvictims)
        emit(w, EV_DEVICE_KICKED, app_id, user_id, client_type, imei, conn_id, j->devices,
             j->ndevices, j->victims, j->nvictims);
}

/* ---- the debounced offline ------------------------------------------------------ */

static void offline_now(worker_t *w, int32_t app_id, const char *user_id, int client_type,
                        const char *imei)
{
    emit(w, EV_USER_OFFLINE, app_id, user_id, client_type, imei ? imei : "", 0, NULL, 0, NULL, 0);
}

void presence_announce_offline(worker_t *w, int32_t app_id, const char *user_id)
{
    LOGD("presence: user offline (its node died)", "app=%d user=%s", app_id, LQ(user_id));
    offline_now(w, app_id, user_id, 0, "");
}

/* Registry work off the loop (the registry may be Redis): a device left
 * (LEAVE), or a waiting offline came due and the registry must confirm
 * the user has no device left, here or on another node (DUE). */
enum rjob_kind { RJ_LEAVE, RJ_DUE };

typedef struct rjob {
    wbatch_item_t link;  /* first: wbatch.h */
    enum rjob_kind kind;
    int32_t app_id;
    int client_type;
    uint64_t conn_id;
    char *imei;
    int found, now;      /* LEAVE: was registered; offline at once (no debounce) */
    int online;          /* DUE: a device is back */
    sess_device_t *d;    /* LEAVE: the devices left */
    size_t n;
    pending_t *pe;       /* LEAVE: the waiting offline made; DUE: the one due */
    char user_id[];
} rjob_t;

static void rjob_free(rjob_t *j)
{
    sess_devices_free(j->d, j->n);
    free(j->imei);
    free(j);
}

static void rearm(pworker_t *pw);

/* Detach pe from its node unless a login cancelled it; 1 if it must be
 * told. */
static int pending_take(presence_t *p, pending_t *pe)
{
    umap_stripe_t *st = stripe_of(p, pe->hash);
    int fire = 0;
    pthread_mutex_lock(&st->mu);
    if (!pe->cancelled) {
        umap_node_t **pp = umap_slot(&st->map, pe->hash, pe->app_id, pe->user_id);
        if (*pp && pnode(pp)->pending == pe) {
            pnode(pp)->pending = NULL;
            node_gc(st, pp);
        }
        pe->cancelled = 1;
        fire = 1;
    }
    pthread_mutex_unlock(&st->mu);
    return fire;
}

/* LEAVE, off the loop: remove the device; the user's last device starts
 * a waiting offline (or an immediate one without debounce). */
static void leave_work(presence_t *p, rjob_t *j)
{
    server_t *s = p->srv;
    uint32_t h = umap_hash(j->app_id, j->user_id);
    umap_stripe_t *st = stripe_of(p, h);
    pthread_mutex_lock(&st->mu);
    int rc = s->sess->ops->remove(s->sess, j->app_id, j->user_id, j->conn_id);
    j->found = rc > 0;
    if (j->found) {
        /* the remaining devices for the 4005 pack; whether this was the
         * last one is the removal's own answer (two nodes' last devices
         * leaving at once: exactly one is last) */
        if (rc == 2 || s->sess->ops->list(s->sess, j->app_id, j->user_id, &j->d, &j->n) < 0)
            j->n = 0;
        if (rc == 2 && p->debounce_ms > 0) {
            umap_node_t **pp = umap_get(&st->map, h, j->app_id, j->user_id);
            size_t ul = strlen(j->user_id);
            pending_t *pe;
            if (pp && !pnode(pp)->pending && (pe = calloc(1, sizeof *pe + ul + 1))) {
                pe->due_ms = mono_ms() + p->debounce_ms;
                pe->hash = h;
                pe->app_id = j->app_id;
                pe->client_type = j->client_type;
                pe->imei = j->imei ? strdup(j->imei) : NULL;
                memcpy(pe->user_id, j->user_id, ul + 1);
                pnode(pp)->pending = pe;
                j->pe = pe;
            }
            if (pp)
                node_gc(st, pp);
        } else if (rc == 2) {
            j->now = 1;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

/* LEAVE, on the loop: announce; a waiting offline joins this worker's
 * due list. */
static void leave_done(pworker_t *pw, rjob_t *j)
{
    presence_t *p = pw->w->srv->presence;
    if (!j->found)
        return;
    LOGD("presence: device offline", "app=%d user=%s clientType=%d devices=%zu", j->app_id,
         LQ(j->user_id), j->client_type, j->n);
    emit(pw->w, EV_DEVICE_OFFLINE, j->app_id, j->user_id, j->client_type,
         j->imei ? j->imei : "", j->conn_id, j->d, j->n, NULL, 0);
    if (j->now)
        offline_now(pw->w, j->app_id, j->user_id, j->client_type, j->imei);
    if (j->pe) {
        if (!pw->inited || pw->closed) {
            pending_take(p, j->pe); /* cannot wait here: drop it */
            pending_free(j->pe);
            return;
        }
        dlist_push_tail(&pw->due, &j->pe->link);
        if (!uv_is_active((uv_handle_t *)&pw->timer))
            rearm(pw);
    }
}

static void rjob_work(wbatch_t *b, wbatch_item_t *list)
{
    pworker_t *pw = b->data;
    presence_t *p = pw->w->srv->presence;
    server_t *s = p->srv;
    for (wbatch_item_t *it = list; it; it = it->next) {
        rjob_t *j = (rjob_t *)it;
        if (j->kind == RJ_LEAVE) {
            leave_work(p, j);
        } else {
            sess_device_t *d = NULL;
            size_t n = 0;
            j->online = s->sess->ops->list(s->sess, j->app_id, j->user_id, &d, &n) == 0 && n > 0;
            sess_devices_free(d, n);
        }
    }
}

/* status < 0: the loop is closing (wbatch_close) and the work did not
 * run: a device that leaves still leaves a local registry, here. */
static void rjob_done(wbatch_t *b, wbatch_item_t *list, int status)
{
    pworker_t *pw = b->data;
    presence_t *p = pw->w->srv->presence;
    while (list) {
        rjob_t *j = (rjob_t *)list;
        list = list->next;
        if (j->kind == RJ_LEAVE) {
            /* a local registry is cheap to change here; a cluster node's
             * leftovers go with it (cnode_stop: another node reaps them),
             * never a Redis round trip on this loop */
            if (status < 0 && !p->srv->cnode)
                leave_work(p, j);
            leave_done(pw, j);
        } else {
            if (status >= 0 && !j->online) {
                LOGD("presence: user offline", "app=%d user=%s", j->pe->app_id, j->pe->user_id);
                offline_now(pw->w, j->pe->app_id, j->pe->user_id, j->pe->client_type,
                            j->pe->imei);
            }
            pending_free(j->pe);
        }
        rjob_free(j);
    }
}

static rjob_t *rjob_new(enum rjob_kind kind, int32_t app_id, const char *user_id)
{
    size_t ul = strlen(user_id);
    rjob_t *j = calloc(1, sizeof *j + ul + 1);
    if (!j)
        return NULL;
    j->kind = kind;
    j->app_id = app_id;
    memcpy(j->user_id, user_id, ul + 1);
    return j;
}

static void on_due(uv_timer_t *t)
{
    pworker_t *pw = t->data;
    presence_t *p = pw->w->srv->presence;
    int64_t now = mono_ms();
    while (!dlist_empty(&pw->due)) {
        pending_t *pe = container_of(pw->due.next, pending_t, link);
        if (pe->due_ms > now)
            break;
        dlist_remove(&pe->link);
        rjob_t *j = pending_take(p, pe) ? rjob_new(RJ_DUE, pe->app_id, pe->user_id) : NULL;
        if (!j) {
            pending_free(pe);
            continue;
        }
        j->pe = pe; /* the registry confirms, then offline_now (rjob_done) */
        wbatch_push(&pw->rjobs, &j->link);
    }
    rearm(pw);
}

static void rearm(pworker_t *pw)
{
    if (pw->closed || dlist_empty(&pw->due))
        return;
    pending_t *head = container_of(pw->due.next, pending_t, link);
    int64_t delay = head->due_ms - mono_ms();
    uv_timer_start(&pw->timer, on_due, (uint64_t)(delay > 0 ? delay : 0), 0);
}

void presence_unregister(worker_t *w, int32_t app_id, const char *user_id, int client_type,
                         const char *imei, uint64_t conn_id)
{
    presence_t *p = w->srv->presence;
    if (w->srv->cnode && atomic_load(&w->srv->stopping))
        return; /* a cluster node stopping: the node that reaps it removes its
                 * devices and tells their users' friends (cnode_stop) */
    pworker_t *pw = w->idx < p->nworkers ? &p->pw[w->idx] : NULL;
    rjob_t *j = rjob_new(RJ_LEAVE, app_id, user_id);
    if (!j)
        return; /* out of memory: the entry stays until the node leaves */
    j->client_type = client_type;
    j->conn_id = conn_id;
    j->imei = imei ? strdup(imei) : NULL;
    if (pw && pw->inited) {
        wbatch_push(&pw->rjobs, &j->link); /* closed: straight to rjob_done */
        return;
    }
    leave_work(p, j); /* no worker state (unit tests): here */
    sess_devices_free(j->d, j->n);
    if (j->pe) {
        pending_take(p, j->pe);
        pending_free(j->pe);
    }
    free(j->imei);
    free(j);
}

void presence_logout(conn_t *c)
{
    presence_unregister(c->w, c->app_id, c->user_id, c->client_type, c->imei, c->id);
}

/* ---- workers ----------------------------------------------------------------------- */

void presence_worker_init(worker_t *w)
{
    presence_t *p = w->srv->presence;
    if (!p || w->idx >= p->nworkers)
        return;
    pworker_t *pw = &p->pw[w->idx];
    pw->w = w;
    wbatch_init(&pw->fanouts, &w->loop, FANOUT_BATCH_MAX, fanout_work, fanout_done, pw);
    wbatch_init(&pw->rjobs, &w->loop, FANOUT_BATCH_MAX, rjob_work, rjob_done, pw);
    dlist_init(&pw->due);
    uv_timer_init(&w->loop, &pw->timer);
    pw->timer.data = pw;
    pw->inited = 1;
}

void presence_worker_close(worker_t *w)
{
    presence_t *p = w->srv->presence;
    if (!p || w->idx >= p->nworkers || !p->pw[w->idx].inited || p->pw[w->idx].closed)
        return;
    pworker_t *pw = &p->pw[w->idx];
    pw->closed = 1;
    wbatch_close(&pw->fanouts);
    while (!dlist_empty(&pw->due)) {
        pending_t *pe = container_of(pw->due.next, pending_t, link);
        dlist_remove(&pe->link);
        pending_take(p, pe);
        pending_free(pe);
    }
    wbatch_close(&pw->rjobs);
    uv_close((uv_handle_t *)&pw->timer, NULL);
}

/* ---- subscriptions ---------------------------------------------------------------- */

int presence_subscribe(server_t *s, int32_t app_id, const char *subscriber,
                       const char *target, int64_t expire_ms)
{
    presence_reg_t *r = s->presence->reg;
    return r->ops->subscribe(r, app_id, subscriber, target, expire_ms, now_ms());
}

int presence_reserve(server_t *s, int32_t app_id, const char *subscriber,
                     const char *const *ids, size_t n, int64_t expire_ms, size_t cap)
{
    presence_reg_t *r = s->presence->reg;
    return r->ops->reserve(r, app_id, subscriber, ids, n, expire_ms, cap, now_ms());
}

int presence_subscribed(server_t *s, int32_t app_id, const char *subscriber, const char *target)
{
    presence_reg_t *r = s->presence->reg;
    return r->ops->subscribed(r, app_id, subscriber, target, now_ms());
}

/* ---- life ------------------------------------------------------------------------- */

presence_t *presence_new(server_t *s, presence_reg_t *reg)
{
    if (!reg)
        return NULL;
    presence_t *p = calloc(1, sizeof *p);
    if (!p) {
        reg->ops->destroy(reg);
        return NULL;
    }
    p->srv = s;
    p->reg = reg;
    p->debounce_ms = s->cfg.presence_debounce_ms;
    p->nworkers = s->nworkers;
    p->pw = calloc(s->nworkers ? s->nworkers : 1, sizeof *p->pw);
    int ok = umap_striped_init(&p->nodes, sizeof(pnode_t)) == 0;
    if (!ok || !p->pw) {
        presence_free(p);
        return NULL;
    }
    return p;
}

void presence_free(presence_t *p)
{
    if (!p)
        return;
    /* a pending offline belongs to its worker's due list, which
     * presence_worker_close emptied: the nodes own nothing else */
    umap_striped_destroy(&p->nodes, NULL, NULL);
    if (p->reg)
        p->reg->ops->destroy(p->reg);
    free(p->pw);
    free(p);
}
