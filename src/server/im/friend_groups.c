/*
 * Friend lists as use cases (friends.h): create a list, delete lists, put
 * friends in or take them out.  The store's writer holds the rules (a
 * list holds live friends of its owner only; store.h,
 * store_friend_group_*).
 */
#include "server/im/friends_job.h"

static void add_done(void *arg, int rc)
{
    fr_job_finish(arg, rc, EV_FRIEND_GROUP_ADDED);
}

int friends_group_add(const im_call_t *c, const char *owner, const char *name,
                      const char *const *ids, size_t n, fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, n, 0, done, arg, &err);
    if (!j)
        return err;
    fr_copy(j->name, sizeof j->name, name);
    j->ids = ids;
    return fr_job_submitted(j, store_friend_group_add(c->store, c->app_id, j->owner, j->name,
                                                      ids, n, j->results, &j->res, add_done, j));
}

static void del_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    int any = 0;
    for (size_t i = 0; rc == 0 && i < j->n; i++)
        any |= j->results[i] == 0;
    fr_job_finish(j, rc, any ? EV_FRIEND_GROUP_DELETED : EV_NONE);
}

int friends_group_del(const im_call_t *c, const char *owner, const char *const *names, size_t n,
                      fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, n, 1, done, arg, &err);
    if (!j)
        return err;
    j->ids = names;
    return fr_job_submitted(j, store_friend_group_del(c->store, c->app_id, j->owner, names, n,
                                                      j->results, j->seqs, del_done, j));
}

static void member_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    ev_kind_t k = j->add ? EV_FRIEND_GROUP_MEMBER_ADDED : EV_FRIEND_GROUP_MEMBER_DELETED;
    fr_job_finish(j, rc, j->res.seq ? k : EV_NONE);
}

int friends_group_member(const im_call_t *c, const char *owner, const char *name,
                         const char *const *ids, size_t n, int add, fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, n, 0, done, arg, &err);
    if (!j)
        return err;
    fr_copy(j->name, sizeof j->name, name);
    j->ids = ids;
    j->add = add;
    return fr_job_submitted(j, store_friend_group_member(c->store, c->app_id, j->owner, j->name,
                                                         ids, n, add, j->results, &j->res,
                                                         member_done, j));
}
