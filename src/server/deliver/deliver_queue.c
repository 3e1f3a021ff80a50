/*
 * Ordered pushes to many users (deliver_users, deliver_group; see
 * deliver.h): one FIFO and one thread.  Items are malloc'ed with their
 * JSON text and ids inline; the thread owns an item once it popped it.
 * One consumer keeps commit order.
 */
#include "server/deliver/deliver_int.h"

#include "server/core/log.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dq_item {
    struct dq_item *next;
    int32_t app_id;
    int32_t cmd, cmd_self;
    uint64_t except_conn;
    int64_t seq;
    int close_code;     /* BUS_CLOSE of ids' devices (json = the message) */
    uint64_t else_conn; /* reached no device: else_make(else_arg) as else_cmd to it */
    int32_t else_cmd;
    deliver_else_fn else_make;
    void *else_arg;
    char group_id[STORE_GROUP_ID_MAX + 1]; /* readers mode when set */
    char self[STORE_ID_MAX + 1];
    char (*ids)[STORE_ID_MAX + 1];
    size_t n;
    size_t len;
    char json[];
};

/* ---- lookups ----------------------------------------------------------------------------- */

/* Devices of many users, fetched together when the registry can
 * (sess_ops.list_many: one Redis pipeline instead of a round trip each).
 * devs[k] / ndev[k] for the k-th user asked; have = 0: look up one by one. */
typedef struct lookup {
    size_t n, cap;
    int32_t *apps;
    const char **users;
    sess_device_t **devs;
    size_t *ndev;
    int have;
} lookup_t;

#define DQ_LOOKUP_CHUNK 1024 /* users per pipeline */
#define DQ_BATCH 64          /* queue items taken together */

static int lk_add(lookup_t *lk, int32_t app_id, const char *user_id)
{
    if (lk->n == lk->cap) {
        size_t cap = lk->cap ? lk->cap * 2 : 64;
        int32_t *a = realloc(lk->apps, cap * sizeof *a);
        if (a)
            lk->apps = a;
        const char **u = a ? realloc(lk->users, cap * sizeof *u) : NULL;
        if (u)
            lk->users = u;
        if (!a || !u)
            return -1;
        lk->cap = cap;
    }
    lk->apps[lk->n] = app_id;
    lk->users[lk->n++] = user_id;
    return 0;
}

static void lk_fetch(deliver_t *d, lookup_t *lk)
{
    sess_registry_t *sess = d->cfg.sess;
    lk->have = 0;
    if (!sess->ops->list_many || !lk->n)
        return;
    lk->devs = calloc(lk->n, sizeof *lk->devs);
    lk->ndev = calloc(lk->n, sizeof *lk->ndev);
    if (!lk->devs || !lk->ndev)
        return;
    for (size_t i = 0; i < lk->n; i += DQ_LOOKUP_CHUNK) {
        size_t k = lk->n - i < DQ_LOOKUP_CHUNK ? lk->n - i : DQ_LOOKUP_CHUNK;
        if (sess->ops->list_many(sess, lk->apps + i, lk->users + i, k, lk->devs + i,
                                 lk->ndev + i) < 0)
            LOGD("push: registry lookup failed", "users=%zu", k); /* they get nothing */
    }
    lk->have = 1;
}

static void lk_free(lookup_t *lk)
{
    for (size_t i = 0; lk->devs && i < lk->n; i++)
        sess_devices_free(lk->devs[i], lk->ndev[i]);
    free(lk->devs);
    free(lk->ndev);
    free(lk->apps);
    free(lk->users);
    memset(lk, 0, sizeof *lk);
}

/* User k of lk (base + i) into r, or a lookup of its own. */
static void add_user(route_t *r, const lookup_t *lk, size_t k, int32_t app_id, const char *user_id,
                     uint64_t except_conn)
{
    if (lk && lk->have && k < lk->n)
        route_add_devices(r, lk->devs[k], lk->ndev[k], except_conn);
    else
        route_add_user(r, app_id, user_id, except_conn);
}

/* ---- running an item ------------------------------------------------------------------------ */

/* rt: this thread's two routes (the members, and the sender's other
 * devices for cmd_self), 2 KB each, kept off the stack.  lk/base: the
 * item's users looked up ahead (lk->devs[base + i] for ids[i]), or NULL. */
static void run(deliver_t *d, dq_item_t *it, route_t *rt, const lookup_t *lk, size_t base)
{
    char (*ids)[STORE_ID_MAX + 1] = it->ids;
    size_t n = it->n;
    char (*owned)[STORE_ID_MAX + 1] = NULL;
    lookup_t members = {0};
    if (it->group_id[0]) {
        if (store_group_readers_sync(d->cfg.store, it->app_id, it->group_id, it->seq, &owned,
                                     &n) < 0) {
            LOGW("group push: member lookup failed", "group=%s", LQ(it->group_id));
            return;
        }
        ids = owned;
        /* every member's devices in as few round trips as the registry allows */
        for (size_t i = 0; d->cfg.sess->ops->list_many && i < n; i++)
            if (lk_add(&members, it->app_id, ids[i]) < 0)
                break;
        if (members.n == n)
            lk_fetch(d, &members);
        lk = &members;
        base = 0;
    }
    route_t *others = &rt[0], *selfs = &rt[1];
    if (it->close_code) {
        route_init(others, d, BUS_CLOSE, NULL, it->close_code, it->json);
        for (size_t i = 0; i < n; i++)
            add_user(others, lk, base + i, it->app_id, ids[i], 0);
        route_send(others);
        lk_free(&members);
        free(owned);
        return;
    }
    route_init(others, d, BUS_SEND, frame_down(it->cmd, it->json, it->len), 0, NULL);
    route_init(selfs, d, BUS_SEND,
               it->cmd_self && it->self[0] ? frame_down(it->cmd_self, it->json, it->len) : NULL,
               0, NULL);
    for (size_t i = 0; i < n; i++) {
        int is_self = it->self[0] && !strcmp(ids[i], it->self);
        route_t *r = is_self ? selfs : others;
        if (r->f) /* NULL: nothing for them (no cmd_self, or out of memory) */
            add_user(r, lk, base + i, it->app_id, ids[i], is_self ? it->except_conn : 0);
    }
    size_t reached = route_send(others);
    reached += route_send(selfs);
    if (!reached && it->else_make) /* nobody got it: tell the sender (a local connection) */
        route_else(d, it->else_conn, it->else_cmd, it->else_make, it->else_arg);
    lk_free(&members);
    free(owned);
}

/* Items taken together: the users of those that name them (not groups:
 * their readers are read first) are looked up in one go, in order. */
static void run_batch(deliver_t *d, dq_item_t *items, route_t *rt)
{
    lookup_t lk = {0};
    int ok = d->cfg.sess->ops->list_many != NULL;
    for (dq_item_t *it = items; ok && it; it = it->next)
        for (size_t i = 0; ok && !it->group_id[0] && i < it->n; i++)
            ok = lk_add(&lk, it->app_id, it->ids[i]) == 0;
    if (ok)
        lk_fetch(d, &lk);
    size_t base = 0;
    while (items) {
        dq_item_t *it = items;
        items = it->next;
        if (rt)
            run(d, it, rt, ok ? &lk : NULL, base);
        else
            atomic_fetch_add(&d->dropped, 1); /* out of memory: like a full queue */
        if (!it->group_id[0])
            base += it->n;
        free(it->else_arg);
        free(it->ids);
        free(it);
    }
    lk_free(&lk);
}

static void *dq_main(void *arg)
{
    pthread_setname_np(pthread_self(), "petrel-deliver"); /* top -H, perf */
    deliver_t *d = arg;
    route_t *rt = malloc(2 * sizeof *rt);
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (!d->head && !d->stopping)
            pthread_cond_wait(&d->cv, &d->mu);
        dq_item_t *first = d->head, *last = first;
        if (!first) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        /* with a batch lookup, take up to DQ_BATCH items at once */
        size_t k = 1, max = d->cfg.sess->ops->list_many ? DQ_BATCH : 1;
        while (k < max && last->next) {
            last = last->next;
            k++;
        }
        d->head = last->next;
        if (!d->head)
            d->tail = NULL;
        last->next = NULL;
        atomic_fetch_sub_explicit(&d->queued, k, memory_order_relaxed);
        pthread_mutex_unlock(&d->mu);
        run_batch(d, first, rt);
    }
    free(rt);
    return NULL;
}

int dq_start(deliver_t *d)
{
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if (pthread_create(&d->thread, NULL, dq_main, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        return -1;
    }
    return 0;
}

void dq_stop(deliver_t *d)
{
    pthread_mutex_lock(&d->mu);
    d->stopping = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
}

static void enqueue(deliver_t *d, dq_item_t *it)
{
    if (!d) {
        free(it->else_arg);
        free(it->ids);
        free(it);
        return;
    }
    pthread_mutex_lock(&d->mu);
    if (d->stopping || atomic_load_explicit(&d->queued, memory_order_relaxed) >= DELIVER_QUEUE_MAX) {
        pthread_mutex_unlock(&d->mu);
        atomic_fetch_add(&d->dropped, 1);
        free(it->else_arg);
        free(it->ids);
        free(it);
        return;
    }
    it->next = NULL;
    if (d->tail)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    atomic_fetch_add_explicit(&d->queued, 1, memory_order_relaxed);
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static dq_item_t *item_new_len(int32_t app_id, int32_t cmd, const char *json, size_t len,
                               const char *self, int32_t cmd_self, uint64_t except_conn)
{
    dq_item_t *it = calloc(1, sizeof *it + len + 1);
    if (!it)
        return NULL;
    it->app_id = app_id;
    it->cmd = cmd;
    it->cmd_self = cmd_self;
    it->except_conn = except_conn;
    it->len = len;
    memcpy(it->json, json, len);
    it->json[len] = '\0';
    if (self)
        snprintf(it->self, sizeof it->self, "%s", self);
    return it;
}

static dq_item_t *item_new(int32_t app_id, int32_t cmd, const char *json, const char *self,
                           int32_t cmd_self, uint64_t except_conn)
{
    return item_new_len(app_id, cmd, json, strlen(json), self, cmd_self, except_conn);
}

/* One user, in order: cmd to every device but except_conn (cluster mode's
 * deliver_user: the lookup may be a Redis round trip, never on the
 * caller's thread); reaching none, a fallback packet as else_cmd to
 * the local connection else_conn, made by else_make from a copy of arg. */
void dq_user(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd, const char *json,
             size_t len, uint64_t except_conn, uint64_t else_conn, int32_t else_cmd,
             deliver_else_fn else_make, const void *arg, size_t arg_len)
{
    if (!json || !user_id || strlen(user_id) > STORE_ID_MAX)
        return;
    dq_item_t *it = item_new_len(app_id, cmd, json, len, user_id, cmd, except_conn);
    if (!it)
        return;
    if (else_make && else_conn) {
        if (!(it->else_arg = malloc(arg_len ? arg_len : 1))) {
            free(it);
            return;
        }
        memcpy(it->else_arg, arg, arg_len);
        it->else_make = else_make;
        it->else_conn = else_conn;
        it->else_cmd = else_cmd;
    }
    it->ids = malloc(sizeof *it->ids);
    if (!it->ids) {
        free(it->else_arg);
        free(it);
        return;
    }
    memcpy(it->ids[0], it->self, sizeof it->self);
    it->n = 1;
    enqueue(d, it);
}

void dq_close_user(deliver_t *d, int32_t app_id, const char *user_id, int code, const char *msg)
{
    if (!user_id || strlen(user_id) > STORE_ID_MAX)
        return;
    dq_item_t *it = item_new(app_id, 0, msg ? msg : "", NULL, 0, 0);
    if (!it)
        return;
    it->close_code = code ? code : 1;
    it->ids = malloc(sizeof *it->ids);
    if (!it->ids) {
        free(it);
        return;
    }
    snprintf(it->ids[0], sizeof it->ids[0], "%s", user_id);
    it->n = 1;
    enqueue(d, it);
}

void deliver_users(deliver_t *d, int32_t app_id, int32_t cmd, const char *json,
                   const char (*ids)[STORE_ID_MAX + 1], size_t n, const char *self,
                   int32_t cmd_self, uint64_t except_conn)
{
    if (!json || n == 0)
        return;
    dq_item_t *it = item_new(app_id, cmd, json, self, cmd_self, except_conn);
    if (!it)
        return;
    it->ids = malloc(n * sizeof *it->ids);
    if (!it->ids) {
        free(it);
        return;
    }
    memcpy(it->ids, ids, n * sizeof *it->ids);
    it->n = n;
    enqueue(d, it);
}

void deliver_group(deliver_t *d, int32_t app_id, const char *group_id, int64_t seq, int32_t cmd,
                   const char *json, const char *self, int32_t cmd_self, uint64_t except_conn)
{
    if (!json || !group_id || !group_id[0] || strlen(group_id) > STORE_GROUP_ID_MAX)
        return;
    dq_item_t *it = item_new(app_id, cmd, json, self, cmd_self, except_conn);
    if (!it)
        return;
    memcpy(it->group_id, group_id, strlen(group_id) + 1);
    it->seq = seq;
    enqueue(d, it);
}
