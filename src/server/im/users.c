/*
 * User use cases (users.h): import, modify and soft delete.  Each checks
 * its operator, hands the op to the store's writer and, after the commit,
 * keeps the operator-state cache true (ustate.h: forbidden and deleted
 * users are refused at once), emits its event and calls done.  Telling
 * devices (4000) and closing a forbidden or deleted user's sockets are
 * event subscribers (notify/users.c).
 */
#include "server/im/users.h"

#include "server/core/util.h"
#include "server/im/ustate.h"

#include <stdlib.h>
#include <string.h>

typedef struct ujob {
    events_t *events;
    ustate_t *ustate;
    int32_t app_id;
    char actor[STORE_ID_MAX + 1];   /* "" for the app admin */
    ev_origin_t origin;
    char *imei;
    store_user_t user;              /* modify */
    unsigned mask;
    const store_user_t *users;      /* import: borrowed */
    const char *const *ids;         /* delete: borrowed */
    size_t n;
    int *results;
    users_done_fn done;
    void *arg;
} ujob_t;

static ujob_t *ujob_new(const im_call_t *c, size_t n, users_done_fn done, void *arg)
{
    ujob_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->events = c->events;
    j->ustate = c->ustate;
    j->app_id = c->app_id;
    if (!c->is_admin && c->op) {
        size_t len = strlen(c->op);
        if (len > STORE_ID_MAX)
            len = STORE_ID_MAX;
        memcpy(j->actor, c->op, len);
    }
    j->origin = c->origin;
    j->imei = strdup(c->origin.imei ? c->origin.imei : "");
    j->origin.imei = j->imei;
    j->n = n;
    j->results = n ? calloc(n, sizeof *j->results) : NULL;
    if (!j->imei || (n && !j->results)) {
        free(j->imei);
        free(j->results);
        free(j);
        return NULL;
    }
    j->done = done;
    j->arg = arg;
    return j;
}

static void ujob_free(ujob_t *j)
{
    free(j->imei);
    free(j->results);
    free(j);
}

/* Emit kind (EV_NONE: nothing) when committed, call done with r when
 * committed (else NULL), free j. */
static void finish(ujob_t *j, int rc, int committed, ev_kind_t kind)
{
    ev_user_t p = {
        .users = j->users ? j->users : &j->user,
        .ids = j->ids,
        .results = j->results,
        .n = j->n,
        .mask = j->mask,
    };
    if (committed && kind != EV_NONE) {
        im_event_t ev = {
            .kind = kind,
            .app_id = j->app_id,
            .actor = j->actor,
            .origin = j->origin,
            .time_ms = now_ms(),
            .u.user = &p,
        };
        events_emit(j->events, &ev);
    }
    j->done(j->arg, rc, committed ? &p : NULL);
    ujob_free(j);
}

static int any_ok(const ujob_t *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->results[i] == 0)
            return 1;
    return 0;
}

/* ---- import ----------------------------------------------------------------- */

static void import_done(void *arg, int rc)
{
    ujob_t *j = arg;
    /* the store reports refused rows in results; its rc is 0 when the
     * transaction committed */
    int committed = rc == 0 || rc == STORE_ECONFLICT || rc == STORE_EINVAL;
    finish(j, rc, committed, rc == 0 && any_ok(j) ? EV_USER_IMPORTED : EV_NONE);
}

int users_import(const im_call_t *c, const store_user_t *users, size_t n, users_done_fn done,
                 void *arg)
{
    if (!c->is_admin)
        return IM_ERR_NOT_OPERATOR;
    ujob_t *j = ujob_new(c, n, done, arg);
    if (!j)
        return STORE_EIO;
    j->users = users;
    int rc = store_user_import(c->store, users, n, j->results, import_done, j);
    if (rc != 0)
        ujob_free(j);
    return rc;
}

/* ---- modify --------------------------------------------------------------------- */

static void modify_done(void *arg, int rc)
{
    ujob_t *j = arg;
    if (rc == 0 && (j->mask & STORE_USER_F_FORBIDDEN_FLAG))
        ustate_set(j->ustate, j->app_id, j->user.user_id,
                   j->user.forbidden_flag ? USTATE_FORBIDDEN : USTATE_LIVE);
    finish(j, rc, rc == 0, EV_USER_MODIFIED);
}

int users_modify(const im_call_t *c, const store_user_t *u, unsigned mask, users_done_fn done,
                 void *arg)
{
    if (!im_may_act(c->op, c->is_admin, u->user_id) ||
        ((mask & USERS_F_ADMIN_ONLY) && !c->is_admin))
        return IM_ERR_NOT_OPERATOR;
    ujob_t *j = ujob_new(c, 0, done, arg);
    if (!j)
        return STORE_EIO;
    j->user = *u;
    j->user.app_id = c->app_id;
    j->mask = mask;
    int rc = store_user_update(c->store, &j->user, mask, modify_done, j);
    if (rc != 0)
        ujob_free(j);
    return rc;
}

/* ---- delete ---------------------------------------------------------------------- */

static void delete_done(void *arg, int rc)
{
    ujob_t *j = arg;
    int committed = rc == 0 || rc == STORE_ENOTFOUND;
    for (size_t i = 0; committed && i < j->n; i++)
        if (j->results[i] == 0)
            ustate_set(j->ustate, j->app_id, j->ids[i], USTATE_DELETED);
    finish(j, rc, committed, committed && any_ok(j) ? EV_USER_DELETED : EV_NONE);
}

int users_delete(const im_call_t *c, const char *const *ids, size_t n, users_done_fn done,
                 void *arg)
{
    if (!c->is_admin)
        return IM_ERR_NOT_OPERATOR;
    ujob_t *j = ujob_new(c, n, done, arg);
    if (!j)
        return STORE_EIO;
    j->ids = ids;
    int rc = store_user_delete(c->store, c->app_id, ids, n, j->results, delete_done, j);
    if (rc != 0)
        ujob_free(j);
    return rc;
}
