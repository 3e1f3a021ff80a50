/*
 * The password-hashing pool (see pwpool.h): a fixed ring of queue_max job
 * slots behind one mutex, and nthreads threads that take jobs from it.
 */
#include "server/core/pwpool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    pwpool_fn fn;
    void *arg;
} job_t;

struct pwpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *ring;
    size_t cap, head, n;
    int stopping;
    int joined;
    unsigned nthreads;
    pthread_t *threads;
};

static void *run(void *arg)
{
    pwpool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->n && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->n)
            break; /* stopping, nothing left for us */
        job_t j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n--;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg, 0);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

pwpool_t *pwpool_new(unsigned nthreads, size_t queue_max)
{
    if (nthreads < 1 || nthreads > 64 || queue_max < 1 || queue_max > 100000)
        return NULL;
    pwpool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ring = calloc(queue_max, sizeof *p->ring);
    p->threads = calloc(nthreads, sizeof *p->threads);
    if (!p->ring || !p->threads) {
        free(p->ring);
        free(p->threads);
        free(p);
        return NULL;
    }
    p->cap = queue_max;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->nthreads < nthreads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, run, p) != 0)
            break;
    if (p->nthreads < nthreads) {
        pwpool_free(p);
        return NULL;
    }
    return p;
}

int pwpool_submit(pwpool_t *p, pwpool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    int rc = p->stopping ? -2 : -1;
    if (!p->stopping && p->n < p->cap) {
        p->ring[(p->head + p->n) % p->cap] = (job_t){fn, arg};
        p->n++;
        pthread_cond_signal(&p->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

size_t pwpool_queued(pwpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pwpool_stop(pwpool_t *p)
{
    if (!p)
        return;
    /* Take the waiting jobs out first, so the threads only finish the ones
     * they are running; then cancel the taken ones outside the lock. */
    pthread_mutex_lock(&p->mu);
    if (p->joined) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->stopping = 1;
    p->joined = 1;
    size_t n = p->n, head = p->head;
    p->n = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        job_t j = p->ring[(head + i) % p->cap];
        j.fn(j.arg, 1);
    }
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
}

void pwpool_free(pwpool_t *p)
{
    if (!p)
        return;
    pwpool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ring);
    free(p);
}
