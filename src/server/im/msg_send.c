/*
 * One-to-one message use cases (see msg_send.h): send, recall, read and
 * the receive-ack check, transport-free.  Durable decisions happen in the store's writer; this
 * file checks idempotency, backlog and rate before it, and after the commit
 * puts the idempotency entry, emits the domain event (notify/ pushes to the
 * devices) and reports to the adapter, in that order, on the writer thread.
 */
#include "server/im/msg_send.h"

#include "server/core/jtmpl.h"
#include "server/im/msg_send_int.h"
#include "server/im/msgkey.h"
#include "server/seam/idem.h"

#include <stdlib.h>
#include <string.h>

typedef struct job {
    im_job_t h; /* first: msg_send_int.h */
    int32_t app_id;
    char actor[STORE_ID_MAX + 1];
    /* per use case */
    store_msg_t *m;        /* send */
    jtmpl_t push;          /* send: the pushed content with gaps (jtmpl.h) */
    size_t reached;        /* send: receiver devices (set by notify) */
    store_recall_t *r;     /* recall */
    int64_t key;           /* recall */
    char peer[STORE_ID_MAX + 1]; /* read */
    int64_t read_seq;      /* read: out */
    int changed;           /* read: out */
} job_t;

static job_t *job_new(server_t *s, const im_origin_t *from, im_done_fn done, void *arg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    im_job_init(&j->h, s, from, done, arg);
    j->app_id = from->app_id;
    snprintf(j->actor, sizeof j->actor, "%s", from->user_id ? from->user_id : "");
    return j;
}

static void job_free(job_t *j)
{
    jtmpl_free(&j->push);
    free(j);
}

static im_event_t event_of(const job_t *j, ev_kind_t kind)
{
    return im_job_event(&j->h, kind, j->app_id, j->actor);
}

/* ---- send ---------------------------------------------------------------------- */

/* The pushed message's keys that only the commit decides, in
 * msg_content_json's order. */
static const char *const COMMIT_KEYS[] = {"messageKey", "messageSequence", "serverTime"};

/* On the sender's thread: the push rendered ahead, with gaps for the
 * commit's numbers, so the writer only splices them in (jtmpl.h). */
static int push_template(const store_msg_t *m, int client_type, const char *imei, jtmpl_t *t)
{
    store_msg_t h = *m;
    h.message_key = JTMPL_HOLE + 0;
    h.sequence = JTMPL_HOLE + 1;
    h.created_at = JTMPL_HOLE + 2;
    json_t *o = msg_content_json(&h, client_type, imei);
    int rc = o ? jtmpl_make(t, o, COMMIT_KEYS, 3) : -1;
    json_decref(o);
    return rc;
}

/* On the writer thread, in commit order.  The event is emitted here, not on
 * the sender's worker: callbacks run in the order the messages were
 * sequenced, and every device's inbox receives the pushes in that order, so
 * a device sees a conversation's messages with increasing sequences even
 * when the senders sit on different workers.  A duplicate was delivered the
 * first time (or is in storage for sync): no event. */
static void send_done(void *arg, int rc)
{
    job_t *j = arg;
    store_msg_t *m = j->m;
    if (rc == 0 && !m->reject) {
        idem_ack_t a = {m->message_key, m->sequence, m->created_at};
        idem_put(j->h.s->idem, m->app_id, m->from_id, m->message_id, &a);
        if (!m->duplicate) {
            ev_msg_stored_t d = {&j->push, &j->reached};
            im_event_t ev = event_of(j, EV_MSG_STORED);
            ev.time_ms = m->created_at;
            ev.u.msg = m;
            ev.extra = &d;
            events_emit(j->h.s->events, &ev);
        }
    }
    im_result_t r = im_send_result(rc, m->reject, j->reached);
    im_job_report(&j->h, &r);
    job_free(j);
}

int im_send_p2p(server_t *s, const im_origin_t *from, store_msg_t *m, im_done_fn done, void *arg)
{
    idem_ack_t hit;
    if (idem_get(s->idem, m->app_id, m->from_id, m->message_id, &hit)) {
        /* a resend of a committed message: the original ack, no store trip */
        m->message_key = hit.message_key;
        m->sequence = hit.sequence;
        m->created_at = hit.created_at;
        m->duplicate = 1;
        return im_answer_cached(done, arg);
    }
    if (im_send_refused(s, m->app_id, m->from_id, m->body, m->extra, done, arg))
        return 0;
    job_t *j = job_new(s, from, done, arg);
    if (!j)
        return im_answer_now(done, arg, PETREL_ERR_SYSTEM, "out of memory: resend later", -1, 0);
    j->m = m;
    if (!m->message_time)
        m->message_time = now_ms();
    m->message_key = msgkey_next(s->cfg.node_id, now_ms());
    m->flags = msg_check_flags(s, m->app_id);
    push_template(m, j->h.client_type, j->h.imei, &j->push); /* empty on failure */
    int rc = store_msg_p2p(s->store, m, send_done, j);
    if (rc < 0) {
        job_free(j);
        return im_answer_unqueued(done, arg, rc);
    }
    return 1;
}

/* ---- recall -------------------------------------------------------------------- */

const char *im_recall_text(int code)
{
    return code == PETREL_OK ? "success"
         : code == PETREL_ERR_SYSTEM ? "storage unavailable: resend later"
                                     : petrel_err_text(code);
}

/* Writer thread, after the commit. */
static void recall_done(void *arg, int rc)
{
    job_t *j = arg;
    if (rc == 0 && !j->r->reject) {
        im_event_t ev = event_of(j, EV_MSG_RECALLED);
        ev.u.recall = j->r;
        ev.extra = &j->key;
        events_emit(j->h.s->events, &ev);
    }
    im_result_t r = im_recall_result(rc, j->r->reject);
    im_job_report(&j->h, &r);
    job_free(j);
}

int im_recall_p2p(server_t *s, const im_origin_t *from, int64_t message_key, store_recall_t *r,
                  im_done_fn done, void *arg)
{
    job_t *j = job_new(s, from, done, arg);
    if (!j)
        return im_answer_recall_failed(done, arg, -1);
    j->r = r;
    j->key = message_key;
    int admin = im_is_app_admin(s, from->app_id, j->actor);
    int rc = store_msg_recall(s->store, from->app_id, message_key, j->actor, admin, now_ms(),
                              (int64_t)s->cfg.recall_window_ms, r, recall_done, j);
    if (rc < 0) { /* not queued (shutting down): answer 90000 rather than nothing */
        job_free(j);
        return im_answer_recall_failed(done, arg, rc);
    }
    return 1;
}

/* ---- read ---------------------------------------------------------------------- */

static void read_done(void *arg, int rc)
{
    job_t *j = arg;
    if (rc == 0 && j->changed) {
        ev_msg_read_t rd = {j->peer, j->read_seq};
        im_event_t ev = event_of(j, EV_MSG_READ);
        ev.u.read = &rd;
        events_emit(j->h.s->events, &ev);
    }
    im_result_t r = {rc < 0 ? PETREL_ERR_SYSTEM : PETREL_OK, rc < 0 ? "storage failure" : "success",
                     rc < 0 ? rc : 0, 1, 0, 0};
    im_job_report(&j->h, &r);
    job_free(j);
}

int im_read_p2p(server_t *s, const im_origin_t *from, const char *peer, int64_t seq,
                im_done_fn done, void *arg)
{
    job_t *j = job_new(s, from, done, arg);
    if (!j)
        return im_answer_now(done, arg, PETREL_ERR_SYSTEM, "out of memory", -1, 0);
    snprintf(j->peer, sizeof j->peer, "%s", peer);
    int rc = store_msg_read(s->store, from->app_id, j->actor, j->peer, seq, &j->read_seq,
                            &j->changed, read_done, j);
    if (rc < 0) {
        job_free(j);
        return im_answer_now(done, arg, PETREL_ERR_SYSTEM, "storage unavailable", rc, 0);
    }
    return 1;
}

/* ---- receive ack ---------------------------------------------------------------- */

int im_receive_ack_check_sync(server_t *s, int32_t app_id, const char *acker, const char *peer,
                              int64_t message_key, store_msg_row_t *out)
{
    int rc = store_msg_head_sync(s->store, app_id, message_key, out);
    if (rc == STORE_ENOTFOUND ||
        (rc == 0 && (strcmp(out->from_id, peer) || strcmp(out->to_id, acker))))
        return PETREL_ERR_RACK_NO_MESSAGE;
    if (rc < 0)
        return PETREL_ERR_SYSTEM;
    store_friend_t f;
    rc = store_friend_get_sync(s->store, app_id, peer, acker, &f);
    if (rc < 0 && rc != STORE_ENOTFOUND)
        return PETREL_ERR_SYSTEM;
    if (rc == 0 && f.black == 2)
        return PETREL_ERR_BLACKED_BY_PEER;
    return 0;
}
