/*
 * A small thread pool of its own for password hashing (scrypt, tens of
 * milliseconds and 32 MiB each), so that a flood of demo-app registrations
 * or logins can never occupy libuv's shared thread pool, which serves the
 * REST reads and the socket LOGIN lookups of everyone else.
 *
 * The queue is bounded: pwpool_submit refuses (returns -1, the caller
 * answers "busy, retry") once queue_max jobs wait, so the worst wait of an
 * accepted job is bounded too and nothing grows with the attack.  Jobs run
 * in submission order.  pwpool_stop cancels the jobs still waiting (their
 * fn runs with cancelled = 1, on the stopping thread), waits for the
 * running ones and joins the threads; submit keeps being safe to call (and
 * refuses) until pwpool_free, which needs every submitter gone.
 * Thread-safe.
 */
#ifndef PETREL_PWPOOL_H
#define PETREL_PWPOOL_H

#include <stddef.h>

typedef struct pwpool pwpool_t;
typedef void (*pwpool_fn)(void *arg, int cancelled);

/* nthreads 1..64, queue_max 1..100000; NULL on bad arguments or failure. */
pwpool_t *pwpool_new(unsigned nthreads, size_t queue_max);
/* Queue fn(arg, 0).  0, -1 when the queue is full, -2 when the pool is
 * stopping (fn is then not called). */
int pwpool_submit(pwpool_t *p, pwpool_fn fn, void *arg);
/* Jobs waiting (not running) now. */
size_t pwpool_queued(pwpool_t *p);
/* Cancel the waiting jobs, finish the running ones, join.  Idempotent. */
void pwpool_stop(pwpool_t *p);
/* Stop if needed, then free.  NULL is fine. */
void pwpool_free(pwpool_t *p);

#endif
