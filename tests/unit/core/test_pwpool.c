/*
 * Unit tests for the password-hashing pool (pwpool.h): jobs run on the
 * pool's own threads, the queue bound refuses at once, and freeing the
 * pool cancels what waits and waits for what runs, after which submit
 * refuses until the pool is freed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "server/core/pwpool.h"

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    atomic_int started, ran, cancelled;
} gate_t;

static gate_t g;

static void gate_init(void)
{
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    g.open = 0;
    atomic_store(&g.started, 0);
    atomic_store(&g.ran, 0);
    atomic_store(&g.cancelled, 0);
}

static void gate_open(void)
{
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

/* Blocks until the gate opens. */
static void job(void *arg, int cancelled)
{
    (void)arg;
    if (cancelled) {
        atomic_fetch_add(&g.cancelled, 1);
        return;
    }
    atomic_fetch_add(&g.started, 1);
    pthread_mutex_lock(&g.mu);
    while (!g.open)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    atomic_fetch_add(&g.ran, 1);
}

static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
        usleep(1000);
    assert_true(atomic_load(v) >= want);
}

static void test_bad_args(void **state)
{
    (void)state;
    assert_null(pwpool_new(0, 4));
    assert_null(pwpool_new(65, 4));
    assert_null(pwpool_new(1, 0));
    assert_null(pwpool_new(1, 100001));
    pwpool_free(NULL);
}

static void test_bound_and_run(void **state)
{
    (void)state;
    gate_init();
    pwpool_t *p = pwpool_new(2, 3);
    assert_non_null(p);
    /* two run (blocked), three wait, the sixth is refused at once */
    for (int i = 0; i < 2; i++)
        assert_int_equal(pwpool_submit(p, job, NULL), 0);
    wait_for(&g.started, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pwpool_submit(p, job, NULL), 0);
    assert_int_equal(pwpool_queued(p), 3);
    assert_int_equal(pwpool_submit(p, job, NULL), -1);
    gate_open();
    wait_for(&g.ran, 5);
    assert_int_equal(pwpool_queued(p), 0);
    assert_int_equal(pwpool_submit(p, job, NULL), 0);
    wait_for(&g.ran, 6);
    pwpool_free(p);
    assert_int_equal(atomic_load(&g.cancelled), 0);
}

static void *open_later(void *arg)
{
    (void)arg;
    usleep(50000);
    gate_open();
    return NULL;
}

static void test_free_cancels_waiting(void **state)
{
    (void)state;
    gate_init();
    pwpool_t *p = pwpool_new(1, 8);
    assert_non_null(p);
    assert_int_equal(pwpool_submit(p, job, NULL), 0);
    wait_for(&g.started, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pwpool_submit(p, job, NULL), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_later, NULL), 0);
    pwpool_stop(p); /* cancels the 4 waiting, waits for the running one */
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&g.cancelled), 4);
    assert_int_equal(atomic_load(&g.ran), 1);
    /* stopped: submit refuses as "stopping" until the pool is freed */
    assert_int_equal(pwpool_submit(p, job, NULL), -2);
    pwpool_stop(p); /* idempotent */
    pwpool_free(p);
    assert_int_equal(atomic_load(&g.cancelled), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_bound_and_run),
        cmocka_unit_test(test_free_cancels_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
