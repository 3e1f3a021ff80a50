/*
 * Group message use cases (see msg_send.h): send, recall and read receipt,
 * transport-free.  Like msg_send.c for one-to-one: the store's writer
 * decides and numbers (store_group_write), this file checks idempotency,
 * backlog and rate before it and, on the writer thread after the commit,
 * puts the idempotency entry, emits the event (notify/gmsg.c queues the
 * group pushes, in commit order) and reports to the adapter.
 */
#include "server/im/msg_send.h"

#include "server/im/gmsg.h"
#include "server/im/msg_send_int.h"
#include "server/im/msgkey.h"
#include "server/model/group_rules.h"
#include "server/seam/idem.h"

#include <stdlib.h>
#include <string.h>

typedef struct gjob {
    im_job_t h; /* first: msg_send_int.h */
    store_group_op_t *op;
    store_group_op_t own;   /* read: the op when the caller passes none */
} gjob_t;

static gjob_t *gjob_new(server_t *s, const im_origin_t *from, im_done_fn done, void *arg)
{
    gjob_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    im_job_init(&j->h, s, from, done, arg);
    return j;
}

static void emit(gjob_t *j, ev_kind_t kind)
{
    im_event_t ev = im_job_event(&j->h, kind, j->op->app_id, j->op->operator_id);
    if (kind == EV_GROUP_MSG_STORED)
        ev.time_ms = j->op->msg.created_at;
    ev.u.gop = j->op;
    events_emit(j->h.s->events, &ev);
}

/* The idempotency cache is shared with 1:1 sends: group message ids live
 * in their own namespace there, as they do on disk (im_group_message). */
static void idem_key(char *dst, size_t cap, const char *mid)
{
    snprintf(dst, cap, "g\x1e%s", mid);
}

/* ---- send ---------------------------------------------------------------------- */

/* Writer thread, commit order (see gmsg.h). */
static void send_done(void *arg, int rc)
{
    gjob_t *j = arg;
    store_group_op_t *op = j->op;
    if (rc == 0 && !op->reject) {
        char key[STORE_ID_MAX + 4];
        idem_key(key, sizeof key, op->msg.message_id);
        idem_ack_t a = {op->msg.message_key, op->msg.sequence, op->msg.created_at};
        idem_put(j->h.s->idem, op->app_id, op->operator_id, key, &a);
        if (!op->msg.duplicate)
            emit(j, EV_GROUP_MSG_STORED);
    }
    im_result_t r = im_send_result(rc, op->reject, 0);
    im_job_report(&j->h, &r);
    free(j);
}

int im_send_group(server_t *s, const im_origin_t *from, store_group_op_t *op, im_done_fn done,
                  void *arg)
{
    char key[STORE_ID_MAX + 4];
    idem_key(key, sizeof key, op->msg.message_id);
    idem_ack_t hit;
    if (idem_get(s->idem, op->app_id, op->operator_id, key, &hit)) {
        op->msg.message_key = hit.message_key;
        op->msg.sequence = hit.sequence;
        op->msg.created_at = hit.created_at;
        op->msg.duplicate = 1;
        return im_answer_cached(done, arg);
    }
    if (im_send_refused(s, op->app_id, op->operator_id, op->msg.body, op->msg.extra, done, arg))
        return 0;
    gjob_t *j = gjob_new(s, from, done, arg);
    if (!j)
        return im_answer_now(done, arg, PETREL_ERR_SYSTEM, "out of memory: resend later", -1, 0);
    j->op = op;
    if (!op->msg.message_time)
        op->msg.message_time = now_ms();
    op->msg.message_key = msgkey_next(s->cfg.node_id, now_ms());
    int rc = store_group_write(s->store, op, send_done, j);
    if (rc < 0) {
        free(j);
        return im_answer_unqueued(done, arg, rc);
    }
    return 1;
}

/* ---- recall -------------------------------------------------------------------- */

static void recall_done(void *arg, int rc)
{
    gjob_t *j = arg;
    if (rc == 0 && !j->op->reject)
        emit(j, EV_GROUP_MSG_RECALLED);
    im_result_t r = im_recall_result(rc, j->op->reject);
    im_job_report(&j->h, &r);
    free(j);
}

int im_recall_group(server_t *s, const im_origin_t *from, const char *group_id,
                    int64_t message_key, store_group_op_t *op, im_done_fn done, void *arg)
{
    op->what = SG_RECALL;
    op->app_id = from->app_id;
    snprintf(op->group_id, sizeof op->group_id, "%s", group_id);
    snprintf(op->operator_id, sizeof op->operator_id, "%s", from->user_id);
    op->message_key = message_key;
    op->window_ms = (int64_t)s->cfg.recall_window_ms;
    op->admin = im_is_app_admin(s, from->app_id, from->user_id);
    gjob_t *j = gjob_new(s, from, done, arg);
    if (!j)
        return im_answer_recall_failed(done, arg, -1);
    j->op = op;
    int rc = store_group_write(s->store, op, recall_done, j);
    if (rc < 0) { /* not queued (shutting down): answer 90000 rather than nothing */
        free(j);
        return im_answer_recall_failed(done, arg, rc);
    }
    return 1;
}

/* ---- read receipts ------------------------------------------------------------- */

static void read_done(void *arg, int rc)
{
    gjob_t *j = arg;
    if (rc == 0 && !j->op->reject && j->op->changed)
        emit(j, EV_GROUP_MSG_READ);
    int code = rc < 0 ? PETREL_ERR_SYSTEM : j->op->reject ? j->op->reject : PETREL_OK;
    im_result_t r = {code, code == PETREL_OK ? "success" : "refused", rc < 0 ? rc : 0, 1, 0, 0};
    im_job_report(&j->h, &r);
    store_group_op_clear(&j->own);
    free(j);
}

int im_read_group(server_t *s, const im_origin_t *from, const char *group_id, int64_t seq,
                  im_done_fn done, void *arg)
{
    gjob_t *j = gjob_new(s, from, done, arg);
    if (!j)
        return im_answer_now(done, arg, PETREL_ERR_SYSTEM, "out of memory", -1, 0);
    j->op = &j->own;
    j->own.what = SG_READ;
    j->own.app_id = from->app_id;
    snprintf(j->own.group_id, sizeof j->own.group_id, "%s", group_id);
    snprintf(j->own.operator_id, sizeof j->own.operator_id, "%s", from->user_id);
    j->own.seq = seq;
    int rc = store_group_write(s->store, &j->own, read_done, j);
    if (rc < 0) {
        free(j);
        return im_answer_now(done, arg, PETREL_ERR_SYSTEM, "storage unavailable", rc, 0);
    }
    return 1;
}
