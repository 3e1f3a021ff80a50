/*
 * Friends and the blacklist as use cases (friends.h): import, add, update,
 * delete, delete all, blacklist add/remove and the relation check, plus
 * the job every friendship use case rides from its submit to the store's
 * commit and its event (friends_job.h).  The rules live in the store's
 * writer (store.h "Friendship") and in friends_rules.c; device
 * notifications are event subscribers (notify/friends.c).
 */
#include "server/im/friends_job.h"

#include "server/core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- the job ------------------------------------------------------------- */

void fr_copy(char *dst, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

fr_job_t *fr_job_new(const im_call_t *c, const char *owner, size_t n, int with_seqs,
                     fr_done_fn done, void *arg, int *err)
{
    *err = IM_ERR_NOT_OPERATOR;
    if (owner && !im_may_act(c->op, c->is_admin, owner))
        return NULL;
    *err = STORE_EIO;
    fr_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->events = c->events;
    j->app_id = c->app_id;
    fr_copy(j->actor, sizeof j->actor, c->is_admin ? "" : c->op);
    j->origin = c->origin;
    j->imei = strdup(c->origin.imei ? c->origin.imei : "");
    j->origin.imei = j->imei;
    fr_copy(j->owner, sizeof j->owner, owner);
    j->n = n;
    if (n) {
        j->results = calloc(n, sizeof *j->results);
        j->seqs = with_seqs ? calloc(n, sizeof *j->seqs) : NULL;
    }
    if (!j->imei || (n && !j->results) || (n && with_seqs && !j->seqs)) {
        fr_job_free(j);
        return NULL;
    }
    j->done = done;
    j->arg = arg;
    *err = 0;
    return j;
}

void fr_job_free(fr_job_t *j)
{
    if (!j)
        return;
    free(j->imei);
    free(j->results);
    free(j->seqs);
    free(j->res.peers);
    free(j);
}

ev_friend_t fr_job_payload(const fr_job_t *j)
{
    return (ev_friend_t){
        .owner = j->owner,
        .peer = j->peer,
        .rows = j->rows ? j->rows : &j->row,
        .wording = j->wording,
        .mask = j->mask,
        .name = j->name,
        .ids = j->ids,
        .results = j->results,
        .seqs = j->seqs,
        .n = j->n,
        .res = &j->res,
    };
}

void fr_job_finish(fr_job_t *j, int rc, ev_kind_t kind)
{
    int code = rc < 0 ? rc : j->res.reject;
    ev_friend_t p = fr_job_payload(j);
    if (code == 0 && kind != EV_NONE) {
        im_event_t ev = {
            .kind = kind,
            .app_id = j->app_id,
            .actor = j->actor,
            .origin = j->origin,
            .time_ms = now_ms(),
            .u.fr = &p,
        };
        events_emit(j->events, &ev);
    }
    j->done(j->arg, code, code ? NULL : &p);
    fr_job_free(j);
}

int fr_job_submitted(fr_job_t *j, int rc)
{
    if (rc != 0)
        fr_job_free(j);
    return rc;
}

/* ---- import ---------------------------------------------------------------- */

static void import_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    int any = 0;
    for (size_t i = 0; rc == 0 && !j->res.reject && i < j->n; i++)
        any |= j->results[i] == 0;
    fr_job_finish(j, rc, any ? EV_FRIEND_IMPORTED : EV_NONE);
}

int friends_import(const im_call_t *c, const char *owner, const store_friend_t *items, size_t n,
                   fr_done_fn done, void *arg)
{
    if (!c->is_admin)
        return IM_ERR_NOT_OPERATOR;
    int err;
    fr_job_t *j = fr_job_new(c, owner, n, 0, done, arg, &err);
    if (!j)
        return err;
    j->rows = items;
    return fr_job_submitted(j, store_friend_import(c->store, c->app_id, owner, items, n, j->results,
                                            NULL, &j->res, import_done, j));
}

/* ---- add, update ----------------------------------------------------------- */

static void add_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    fr_job_finish(j, rc, j->res.added ? EV_FRIEND_ADDED : EV_FRIEND_REQUEST);
}

int friends_add(const im_call_t *c, const store_friend_t *f, const char *wording,
                fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, f->from_id, 0, 0, done, arg, &err);
    if (!j)
        return err;
    j->row = *f;
    fr_copy(j->peer, sizeof j->peer, f->to_id);
    fr_copy(j->wording, sizeof j->wording, wording);
    return fr_job_submitted(j, store_friend_add(c->store, c->app_id, &j->row, j->wording, &j->res,
                                         add_done, j));
}

static void update_done(void *arg, int rc)
{
    fr_job_finish(arg, rc, EV_FRIEND_UPDATED);
}

int friends_update(const im_call_t *c, const store_friend_t *f, unsigned mask,
                   fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, f->from_id, 0, 0, done, arg, &err);
    if (!j)
        return err;
    j->row = *f;
    j->mask = mask;
    fr_copy(j->peer, sizeof j->peer, f->to_id);
    return fr_job_submitted(j, store_friend_update(c->store, c->app_id, &j->row, mask, &j->res,
                                            update_done, j));
}

/* ---- delete, delete all ------------------------------------------------------ */

static void delete_done(void *arg, int rc)
{
    fr_job_finish(arg, rc, EV_FRIEND_DELETED);
}

int friends_delete(const im_call_t *c, const char *owner, const char *peer, fr_done_fn done,
                   void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, 0, 0, done, arg, &err);
    if (!j)
        return err;
    fr_copy(j->peer, sizeof j->peer, peer);
    return fr_job_submitted(j, store_friend_delete(c->store, c->app_id, j->owner, j->peer, &j->res,
                                            delete_done, j));
}

static void delete_all_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    fr_job_finish(j, rc, j->res.npeers ? EV_FRIEND_ALL_DELETED : EV_NONE);
}

int friends_delete_all(const im_call_t *c, const char *owner, fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, 0, 0, done, arg, &err);
    if (!j)
        return err;
    return fr_job_submitted(j, store_friend_delete_all(c->store, c->app_id, j->owner, &j->res,
                                                delete_all_done, j));
}

/* ---- blacklist ----------------------------------------------------------------- */

static void black_done(void *arg, int rc)
{
    fr_job_t *j = arg;
    fr_job_finish(j, rc, j->black == 2 ? EV_BLACK_ADDED : EV_BLACK_DELETED);
}

int friends_black(const im_call_t *c, const char *owner, const char *peer, int black,
                  fr_done_fn done, void *arg)
{
    int err;
    fr_job_t *j = fr_job_new(c, owner, 0, 0, done, arg, &err);
    if (!j)
        return err;
    fr_copy(j->peer, sizeof j->peer, peer);
    j->black = black;
    return fr_job_submitted(j, store_friend_black(c->store, c->app_id, j->owner, j->peer, black,
                                           &j->res, black_done, j));
}

/* ---- checkFriend, checkBlack ------------------------------------------------------ */

static int side(store_t *st, int32_t app_id, const char *from, const char *to, int black,
                int *yes)
{
    store_friend_t f;
    int rc = store_friend_get_sync(st, app_id, from, to, &f);
    if (rc == STORE_ENOTFOUND) {
        *yes = friends_side_ok(0, NULL, black);
        return 0;
    }
    if (rc == 0)
        *yes = friends_side_ok(1, &f, black);
    return rc;
}

int friends_check_sync(store_t *st, int32_t app_id, const char *owner, const char *to,
                       int check_type, int black, int *status)
{
    int ab = 0, ba = 0;
    int rc = side(st, app_id, owner, to, black, &ab);
    if (rc == 0 && check_type == 2)
        rc = side(st, app_id, to, owner, black, &ba);
    if (rc < 0)
        return rc;
    *status = check_type == 1 ? ab : friends_both_status(ab, ba);
    return 0;
}
