/*
 * Unit tests for per-loop thread-pool batches (wbatch.h): a lone item goes
 * at once; items pushed while a batch runs go together in the next one, at
 * most `max` per batch, in push order; every item reaches done exactly
 * once; after wbatch_close, queued and later items get UV_ECANCELED while
 * a running batch finishes normally.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/core/wbatch.h"

typedef struct item {
    wbatch_item_t link;
    int n;
    int worked;
} item_t;

typedef struct rec {
    int sizes[16], statuses[16], nbatches;
    int order[64], ndone;
    int slow_first; /* the first batch sleeps so that pushes pile up */
} rec_t;

static void work(wbatch_t *b, wbatch_item_t *list)
{
    rec_t *r = b->data;
    if (r->slow_first) {
        r->slow_first = 0;
        usleep(50000);
    }
    for (wbatch_item_t *it = list; it; it = it->next)
        ((item_t *)it)->worked = 1;
}

static void done(wbatch_t *b, wbatch_item_t *list, int status)
{
    rec_t *r = b->data;
    int n = 0;
    while (list) {
        wbatch_item_t *next = list->next;
        item_t *it = (item_t *)list;
        assert_int_equal(it->worked, status == 0);
        r->order[r->ndone++] = it->n;
        free(it);
        n++;
        list = next;
    }
    r->sizes[r->nbatches] = n;
    r->statuses[r->nbatches++] = status;
}

static void push(wbatch_t *b, int n)
{
    item_t *it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->n = n;
    wbatch_push(b, &it->link);
}

/* A fresh loop and batch whose first batch is slow. */
static void setup(uv_loop_t *loop, wbatch_t *b, rec_t *r, size_t max)
{
    assert_int_equal(uv_loop_init(loop), 0);
    memset(r, 0, sizeof *r);
    r->slow_first = 1;
    wbatch_init(b, loop, max, work, done, r);
}

static void test_batches(void **state)
{
    (void)state;
    uv_loop_t loop;
    rec_t r;
    wbatch_t b;
    setup(&loop, &b, &r, 3);
    for (int i = 0; i < 6; i++) /* 0 starts at once; 1..5 wait for it */
        push(&b, i);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.nbatches, 3);
    assert_int_equal(r.sizes[0], 1);
    assert_int_equal(r.sizes[1], 3);
    assert_int_equal(r.sizes[2], 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r.statuses[i], 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.order[i], i);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_close(void **state)
{
    (void)state;
    uv_loop_t loop;
    rec_t r;
    wbatch_t b;
    setup(&loop, &b, &r, 8);
    push(&b, 0);       /* running */
    push(&b, 1);       /* queued behind it */
    push(&b, 2);
    wbatch_close(&b);  /* the queued ones will be cancelled after 0 is done */
    assert_int_equal(r.nbatches, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.nbatches, 2);
    assert_int_equal(r.sizes[0], 1);
    assert_int_equal(r.statuses[0], 0);
    assert_int_equal(r.sizes[1], 2);
    assert_int_equal(r.statuses[1], UV_ECANCELED);
    push(&b, 3);       /* after close: cancelled at once */
    assert_int_equal(r.nbatches, 3);
    assert_int_equal(r.statuses[2], UV_ECANCELED);
    assert_int_equal(r.ndone, 4);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
