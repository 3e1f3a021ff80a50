/*
 * What the message use cases share (private to msg_send.c and
 * gmsg_send.c): the head of a job that waits for the writer (who asked,
 * from which device, whom to tell), the answers given at once, the checks
 * a send passes before the store, and the result of a committed send.
 * One-to-one and group sends keep the same order and the same words here
 * (msg_send.h).
 */
#ifndef PETREL_IM_MSG_SEND_INT_H
#define PETREL_IM_MSG_SEND_INT_H

#include "server/deliver/deliver.h"
#include "server/im/apps.h"
#include "server/im/event.h"
#include "server/im/msg.h"
#include "server/im/msg_send.h"
#include "server/im/server.h"

#include <stdio.h>
#include <string.h>

#define IM_IMEI_CAP (PETREL_DEFAULT_MAX_IMEI * 4 + 1)

/* The first member of a use case's job: its caller and device, copied. */
typedef struct im_job {
    server_t *s;
    im_done_fn done;
    void *arg;
    int client_type;
    char imei[IM_IMEI_CAP];
    uint64_t conn_id;
} im_job_t;

static inline void im_job_init(im_job_t *h, server_t *s, const im_origin_t *from,
                               im_done_fn done, void *arg)
{
    h->s = s;
    h->done = done;
    h->arg = arg;
    h->client_type = from->client_type;
    snprintf(h->imei, sizeof h->imei, "%s", from->imei ? from->imei : "");
    h->conn_id = from->conn_id;
}

/* An event of kind by actor in app, from the job's device, at now. */
static inline im_event_t im_job_event(const im_job_t *h, ev_kind_t kind, int32_t app_id,
                                      const char *actor)
{
    im_event_t ev = {0};
    ev.kind = kind;
    ev.app_id = app_id;
    ev.actor = actor;
    ev.origin.client_type = h->client_type;
    ev.origin.imei = h->imei;
    ev.origin.conn_id = h->conn_id;
    ev.time_ms = now_ms();
    return ev;
}

static inline void im_job_report(const im_job_t *h, const im_result_t *r)
{
    if (h->done)
        h->done(h->arg, r);
}

/* Report at once (on the caller's thread); returns 0 for the caller. */
static inline int im_answer_now(im_done_fn done, void *arg, int code, const char *msg,
                                int store_rc, int cached)
{
    if (done) {
        im_result_t r = {code, msg, store_rc, 0, cached, 0};
        done(arg, &r);
    }
    return 0;
}

/* A resend answered by the idempotency cache (the caller filled the
 * original numbers in). */
static inline int im_answer_cached(im_done_fn done, void *arg)
{
    return im_answer_now(done, arg, PETREL_OK, "success", 0, 1);
}

/* A send the store did not queue (rc < 0). */
static inline int im_answer_unqueued(im_done_fn done, void *arg, int rc)
{
    return rc == STORE_EBUSY
               ? im_answer_now(done, arg, PETREL_ERR_BUSY, "server busy: resend later", rc, 0)
               : im_answer_now(done, arg, PETREL_ERR_SYSTEM, "storage unavailable: resend later",
                               rc, 0);
}

/* A send's checks after idempotency: the delivery backlog (before the rate
 * takes a token), then sender's rate for bytes of body and extra.  1 when
 * refused (done called), 0 when the send may go on. */
static inline int im_send_refused(server_t *s, int32_t app_id, const char *sender,
                                  const char *body, const char *extra, im_done_fn done,
                                  void *arg)
{
    if (deliver_busy(s->deliver)) {
        im_answer_now(done, arg, PETREL_ERR_BUSY, "server busy: resend later", 0, 0);
        return 1;
    }
    if (msg_rate_check(s, app_id, sender, strlen(body) + (extra ? strlen(extra) : 0))) {
        im_answer_now(done, arg, PETREL_ERR_RATE_LIMITED, "send rate limit exceeded: resend later",
                      0, 0);
        return 1;
    }
    return 0;
}

/* The result of a committed send: rc the store's, reject its refusal. */
static inline im_result_t im_send_result(int rc, int reject, size_t reached)
{
    im_result_t r = {PETREL_OK, "success", 0, 1, 0, reached};
    if (rc == STORE_EGONE) {
        r.code = PETREL_ERR_STORE_GONE;
        r.msg = store_strerror(rc);
        r.store_rc = rc;
    } else if (rc < 0) {
        r.code = PETREL_ERR_SYSTEM;
        r.msg = "storage failure: resend later";
        r.store_rc = rc;
    } else if (reject) {
        r.code = reject;
        r.msg = petrel_err_text(reject);
    }
    return r;
}

/* 1 when user is app_id's admin (who may recall anyone's message). */
static inline int im_is_app_admin(server_t *s, int32_t app_id, const char *user)
{
    store_app_t app;
    return apps_get(s->apps, app_id, &app) == 0 && !strcmp(app.admin_id, user);
}

/* A recall that failed before the store took it (out of memory, not
 * queued while shutting down): 90000 rather than nothing. */
static inline int im_answer_recall_failed(im_done_fn done, void *arg, int rc)
{
    return im_answer_now(done, arg, PETREL_ERR_SYSTEM, im_recall_text(PETREL_ERR_SYSTEM), rc, 0);
}

/* The result of a committed recall (both kinds). */
static inline im_result_t im_recall_result(int rc, int reject)
{
    int code = rc < 0 ? PETREL_ERR_SYSTEM : reject ? reject : PETREL_OK;
    im_result_t r = {code, im_recall_text(code), rc < 0 ? rc : 0, 1, 0, 0};
    return r;
}

#endif
