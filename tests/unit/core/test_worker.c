/*
 * The runtime on its own (src/server/core/worker.c): worker hooks run in
 * order (init at start, stop and close on the worker's loop, free after
 * the join) with their slot of worker_t.ext, a slot table that refuses a
 * hook past WORKER_EXT_MAX, a failing init hook fails the start, posts
 * run on the addressed worker's thread and count in the inbox depth, and
 * and the inbox depth the delivery backlog bound reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/core/log.h"
#include "server/core/worker.h"

#include <stdlib.h>
#include <string.h>

#define NW 2

typedef struct rec {
    int slot;
    char log[NW][64]; /* per worker: the hooks in the order they ran */
    int on_loop[NW];  /* stop and close ran on the worker's own thread */
} rec_t;

static void note(rec_t *r, worker_t *w, char ch)
{
    size_t n = strlen(r->log[w->idx]);
    r->log[w->idx][n] = ch;
    r->log[w->idx][n + 1] = '\0';
}

static int on_own_thread(worker_t *w)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &w->thread);
}

static int h_init(worker_t *w, void *arg)
{
    rec_t *r = arg;
    note(r, w, 'i');
    w->ext[r->slot] = r; /* the layer's per-worker state */
    return 0;
}

static void h_stop(worker_t *w, void *arg)
{
    rec_t *r = arg;
    note(r, w, 's');
    r->on_loop[w->idx] += on_own_thread(w) && w->ext[r->slot] == r;
}

static void h_close(worker_t *w, void *arg)
{
    rec_t *r = arg;
    note(r, w, 'c');
    r->on_loop[w->idx] += on_own_thread(w);
}

static void h_free(worker_t *w, void *arg)
{
    rec_t *r = arg;
    note(r, w, 'f');
    w->ext[r->slot] = NULL;
}

static const worker_hooks_t hooks = {"test", h_init, h_stop, h_close, h_free};

static void init_rt(runtime_t *rt)
{
    memset(rt, 0, sizeof *rt);
    config_defaults(&rt->cfg);
    rt->cfg.tcp_listen[0] = rt->cfg.http_listen[0] = '\0';
    rt->nworkers = NW;
}

static atomic_int ran[NW];

static void on_worker(worker_t *w, void *arg)
{
    (void)arg;
    if (on_own_thread(w))
        atomic_fetch_add(&ran[w->idx], 1);
}

static void test_hooks_in_order(void **st)
{
    (void)st;
    runtime_t rt;
    init_rt(&rt);
    static rec_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.slot = runtime_add_worker_hooks(&rt, &hooks, &a);
    b.slot = runtime_add_worker_hooks(&rt, &hooks, &b);
    assert_int_equal(a.slot, 0);
    assert_int_equal(b.slot, 1);
    assert_int_equal(runtime_start(&rt), 0);
    for (unsigned i = 0; i < NW; i++) {
        assert_ptr_equal(rt.workers[i].rt, &rt);
        assert_ptr_equal(rt.workers[i].ext[0], &a);
        assert_ptr_equal(rt.workers[i].ext[1], &b);
    }
    for (int k = 0; k < 10; k++)
        for (unsigned i = 0; i < NW; i++)
            assert_int_equal(runtime_post(&rt, i, on_worker, NULL), 0);
    assert_int_equal(runtime_post(&rt, NW, on_worker, NULL), -1); /* no such worker */
    runtime_stop(&rt);
    runtime_join(&rt);
    for (unsigned i = 0; i < NW; i++) {
        assert_int_equal(atomic_load(&ran[i]), 10);
        assert_string_equal(a.log[i], "iscf");
        assert_string_equal(b.log[i], "iscf");
        assert_int_equal(a.on_loop[i], 2);
        assert_null(rt.workers[i].ext[0]);
    }
    /* the inboxes are closed: posting fails, nothing runs */
    assert_int_equal(runtime_post(&rt, 0, on_worker, NULL), -1);
    assert_int_equal(runtime_inbox_depth(&rt), 0);
    runtime_free(&rt);
}

static void test_slots_run_out(void **st)
{
    (void)st;
    runtime_t rt;
    init_rt(&rt);
    rec_t r;
    for (int i = 0; i < WORKER_EXT_MAX; i++)
        assert_int_equal(runtime_add_worker_hooks(&rt, &hooks, &r), i);
    assert_int_equal(runtime_add_worker_hooks(&rt, &hooks, &r), -1);
}

static int h_fail(worker_t *w, void *arg)
{
    (void)w, (void)arg;
    return -1;
}

static void test_failing_init(void **st)
{
    (void)st;
    runtime_t rt;
    init_rt(&rt);
    static const worker_hooks_t bad = {.name = "bad", .init = h_fail};
    assert_int_equal(runtime_add_worker_hooks(&rt, &bad, NULL), 0);
    assert_int_equal(runtime_start(&rt), -1);
    /* no thread was started; petreld exits.  Here: undo worker 0's init
     * (its loop and handles; the hook failed before anything of its own) */
    for (unsigned i = 0; i < NW; i++) {
        worker_t *w = &rt.workers[i];
        if (!w->rbuf)
            continue; /* not initialised */
        uv_close((uv_handle_t *)&w->async, NULL);
        uv_close((uv_handle_t *)&w->flusher, NULL);
        uv_close((uv_handle_t *)&w->sweeper, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&w->loop), 0);
        free(w->rbuf);
        uv_mutex_destroy(&w->inbox_mu);
    }
    free(rt.workers);
}

int main(void)
{
    log_set_level(log_level_parse("error"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_in_order),
        cmocka_unit_test(test_slots_run_out),
        cmocka_unit_test(test_failing_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
