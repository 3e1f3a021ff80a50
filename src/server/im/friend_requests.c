/*
 * Friend requests as use cases (friends.h): deciding one (approve or
 * reject) and marking the addressee's requests read.  Requests are made
 * by friends_add (friends.c) when the addressee verifies; the store's
 * writer decides every rule (store.h, store_friend_request_approve).
 */
#include "server/im/friends_job.h"

#include <string.h>

static void approve_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    if (rc == 0 && !j->res.reject) {
        /* the addressee owns the request rows; the requester is the peer */
        fr_copy(j->owner, sizeof j->owner, j->res.request.to_id);
        fr_copy(j->peer, sizeof j->peer, j->res.request.from_id);
    }
    fr_job_finish(j, rc, EV_FRIEND_REQUEST_APPROVED);
}

int friends_request_approve(const im_call_t *c, int64_t id, int status, fr_done_fn done,
                            void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, NULL, 0, 0, done, arg, &err);
    if (!j)
        return err;
    return fr_job_submitted(j, store_friend_request_approve(c->store, c->app_id, c->op,
                                                            c->is_admin, id, status, &j->res,
                                                            approve_done, j));
}

static void read_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    fr_job_finish(j, rc, j->res.seq ? EV_FRIEND_REQUEST_READ : EV_NONE);
}

int friends_request_read(const im_call_t *c, const char *owner, fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, 0, 0, done, arg, &err);
    if (!j)
        return err;
    return fr_job_submitted(j, store_friend_request_read(c->store, c->app_id, j->owner, &j->res,
                                                         read_done, j));
}
