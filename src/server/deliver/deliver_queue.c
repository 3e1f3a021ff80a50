/*
 * Ordered pushes to many users (deliver_users, deliver_group; see
 * deliver.h): one FIFO and one thread.  Items are malloc'ed with their
 * JSON text and ids inline; the thread owns an item once it popped it.
 * One consumer keeps commit order.
 */
#include "server/deliver/deliver_int.h"

#include "server/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dq_item {
    struct dq_item *next;
    int32_t app_id;
    int32_t cmd, cmd_self;
    uint64_t except_conn;
    int64_t seq;
    int close_code;     /* BUS_CLOSE of ids' devices (json = the message) */
    char group_id[STORE_GROUP_ID_MAX + 1]; /* readers mode when set */
    char self[STORE_ID_MAX + 1];
    char (*ids)[STORE_ID_MAX + 1];
    size_t n;
    size_t len;
    char json[];
};

/* rt: this thread's two routes (the members, and the sender's other
 * devices for cmd_self), 2 KB each, kept off the stack. */
static void run(deliver_t *d, dq_item_t *it, route_t *rt)
{
    char (*ids)[STORE_ID_MAX + 1] = it->ids;
    size_t n = it->n;
    char (*owned)[STORE_ID_MAX + 1] = NULL;
    if (it->group_id[0]) {
        if (store_group_readers_sync(d->cfg.store, it->app_id, it->group_id, it->seq, &owned,
                                     &n) < 0) {
            LOGW("group push: member lookup failed", "group=%s", LQ(it->group_id));
            return;
        }
        ids = owned;
    }
    route_t *others = &rt[0], *selfs = &rt[1];
    if (it->close_code) {
        route_init(others, d, BUS_CLOSE, NULL, it->close_code, it->json);
        for (size_t i = 0; i < n; i++)
            route_add_user(others, it->app_id, ids[i], 0);
        route_send(others);
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
            route_add_user(r, it->app_id, ids[i], is_self ? it->except_conn : 0);
    }
    route_send(others);
    route_send(selfs);
    free(owned);
}

static void *dq_main(void *arg)
{
    deliver_t *d = arg;
    route_t *rt = malloc(2 * sizeof *rt);
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (!d->head && !d->stopping)
            pthread_cond_wait(&d->cv, &d->mu);
        dq_item_t *it = d->head;
        if (!it) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        d->head = it->next;
        if (!d->head)
            d->tail = NULL;
        atomic_fetch_sub_explicit(&d->queued, 1, memory_order_relaxed);
        pthread_mutex_unlock(&d->mu);
        if (rt)
            run(d, it, rt); /* else out of memory: dropped, like a full queue */
        else
            atomic_fetch_add(&d->dropped, 1);
        free(it->ids);
        free(it);
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
        free(it->ids);
        free(it);
        return;
    }
    pthread_mutex_lock(&d->mu);
    if (d->stopping || atomic_load_explicit(&d->queued, memory_order_relaxed) >= DELIVER_QUEUE_MAX) {
        pthread_mutex_unlock(&d->mu);
        atomic_fetch_add(&d->dropped, 1);
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
 * caller's thread). */
void dq_user(deliver_t *d, int32_t app_id, const char *user_id, int32_t cmd, const char *json,
             size_t len, uint64_t except_conn)
{
    if (!json || !user_id || strlen(user_id) > STORE_ID_MAX)
        return;
    dq_item_t *it = item_new_len(app_id, cmd, json, len, user_id, cmd, except_conn);
    if (!it)
        return;
    it->ids = malloc(sizeof *it->ids);
    if (!it->ids) {
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
