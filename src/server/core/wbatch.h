/*
 * Per-loop batches of thread-pool work, the event-loop cousin of the
 * store's group commit: at most one batch of a kind runs on the thread
 * pool at a time, and the items queued meanwhile go together in the next
 * one.  A lone item on a quiet loop goes at once; under a storm one
 * thread-pool hop (two thread wake-ups) serves up to `max` items.  Used
 * for LOGIN user lookups (gateway.c) and presence fan-outs (presence.c).
 *
 * Items embed wbatch_item_t as their first member.  Everything but `work`
 * runs on the loop's thread.
 */
#ifndef PETREL_WBATCH_H
#define PETREL_WBATCH_H

#include <stddef.h>
#include <uv.h>

typedef struct wbatch_item {
    struct wbatch_item *next;
} wbatch_item_t;

typedef struct wbatch wbatch_t;

/* work: on a thread-pool thread, over the batch's list (in queue order).
 * done: on the loop, with the same list and libuv's status (< 0: the work
 * did not run, e.g. cancelled); it owns (frees) the items.  done is also
 * what a batch that cannot be started gets, with status UV_ENOMEM or
 * uv_queue_work's error. */
typedef void (*wbatch_work_fn)(wbatch_t *b, wbatch_item_t *list);
typedef void (*wbatch_done_fn)(wbatch_t *b, wbatch_item_t *list, int status);

struct wbatch {
    uv_loop_t *loop;
    wbatch_work_fn work;
    wbatch_done_fn done;
    void *data;     /* the owner's */
    size_t max;     /* most items in one batch */
    wbatch_item_t *q, **tail;
    int running;
    int closed;     /* wbatch_close: queued and later items go to done(UV_ECANCELED) */
};

void wbatch_init(wbatch_t *b, uv_loop_t *loop, size_t max, wbatch_work_fn work,
                 wbatch_done_fn done, void *data);

/* Queue it (loop thread); starts a batch unless one is running. */
void wbatch_push(wbatch_t *b, wbatch_item_t *it);

/* The loop is closing: hand everything queued, and whatever is pushed
 * later, to done with UV_ECANCELED; a running batch finishes normally. */
void wbatch_close(wbatch_t *b);

#endif
