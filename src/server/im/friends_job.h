/*
 * The job one friendship use case carries from its submit to the store's
 * done callback (internal to friends.c, friend_requests.c and
 * friend_groups.c): what the caller asked, the store's result, and how
 * to finish (emit, then call the caller's done).
 */
#ifndef PETREL_IM_FRIENDS_JOB_H
#define PETREL_IM_FRIENDS_JOB_H

#include "server/im/friends.h"

typedef struct fr_job {
    events_t *events;
    int32_t app_id;
    char actor[STORE_ID_MAX + 1];   /* "" for the app admin */
    ev_origin_t origin;
    char *imei;                     /* origin.imei's copy */
    char owner[STORE_ID_MAX + 1];
    char peer[STORE_ID_MAX + 1];
    char name[STORE_FRIEND_GROUP_NAME_MAX + 1];
    char wording[STORE_FRIEND_WORDING_MAX + 1];
    store_friend_t row;             /* add, update */
    unsigned mask;
    const store_friend_t *rows;     /* import: borrowed, n */
    const char *const *ids;         /* borrowed, n */
    size_t n;
    int *results;                   /* n, owned */
    int64_t *seqs;                  /* n, owned (group delete) */
    int black;
    int add;
    store_friend_res_t res;
    fr_done_fn done;
    void *arg;
} fr_job_t;

/* A job for c acting for owner (may be NULL: no operator rule), with
 * rows of results (and seqs) when n > 0.  *err: IM_ERR_NOT_OPERATOR or
 * STORE_EIO (out of memory) when it returns NULL. */
fr_job_t *fr_job_new(const im_call_t *c, const char *owner, size_t n, int with_seqs,
                     fr_done_fn done, void *arg, int *err);
void fr_job_free(fr_job_t *j);

/* The payload of j's result. */
ev_friend_t fr_job_payload(const fr_job_t *j);

/* Finish j after the store's done(rc): when it went through, emit kind
 * (EV_NONE: nothing changed), then call the caller's done; frees j. */
void fr_job_finish(fr_job_t *j, int rc, ev_kind_t kind);

/* A submission's rc: on its refusal (rc != 0) the job is not the store's
 * and is freed here.  Returns rc. */
int fr_job_submitted(fr_job_t *j, int rc);

/* Copy s (may be NULL = "") into dst of size cap. */
void fr_copy(char *dst, size_t cap, const char *s);

#endif
