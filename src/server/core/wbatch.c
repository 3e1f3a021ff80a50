/*
 * Per-loop batches of thread-pool work (wbatch.h).
 */
#include "server/core/wbatch.h"

#include <stdlib.h>

typedef struct run {
    uv_work_t req;
    wbatch_t *b;
    wbatch_item_t *list;
} run_t;

void wbatch_init(wbatch_t *b, uv_loop_t *loop, size_t max, wbatch_work_fn work,
                 wbatch_done_fn done, void *data)
{
    b->loop = loop;
    b->work = work;
    b->done = done;
    b->data = data;
    b->max = max ? max : 1;
    b->q = NULL;
    b->tail = &b->q;
    b->running = 0;
    b->closed = 0;
}

/* The first `max` queued items, unlinked. */
static wbatch_item_t *take(wbatch_t *b)
{
    wbatch_item_t *list = b->q, *last = list;
    for (size_t n = 1; n < b->max && last->next; n++)
        last = last->next;
    b->q = last->next;
    if (!b->q)
        b->tail = &b->q;
    last->next = NULL;
    return list;
}

static void on_work(uv_work_t *req)
{
    run_t *r = req->data;
    r->b->work(r->b, r->list);
}

static void submit(wbatch_t *b);

static void on_after(uv_work_t *req, int status)
{
    run_t *r = req->data;
    wbatch_t *b = r->b;
    wbatch_item_t *list = r->list;
    free(r);
    b->running = 0;
    b->done(b, list, status);
    submit(b);
}

static void submit(wbatch_t *b)
{
    while (!b->running && b->q) {
        wbatch_item_t *list = take(b);
        if (b->closed) {
            b->done(b, list, UV_ECANCELED);
            continue;
        }
        run_t *r = malloc(sizeof *r);
        int rc = UV_ENOMEM;
        if (r) {
            r->req.data = r;
            r->b = b;
            r->list = list;
            rc = uv_queue_work(b->loop, &r->req, on_work, on_after);
            if (rc == 0) {
                b->running = 1;
                return;
            }
            free(r);
        }
        b->done(b, list, rc); /* then try the rest: the next attempt may work */
    }
}

void wbatch_push(wbatch_t *b, wbatch_item_t *it)
{
    it->next = NULL;
    *b->tail = it;
    b->tail = &it->next;
    submit(b);
}

void wbatch_close(wbatch_t *b)
{
    b->closed = 1;
    submit(b);
}
