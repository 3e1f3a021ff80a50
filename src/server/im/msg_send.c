/*
 * One-to-one message use cases (see msg_send.h): send, recall, read and
 * the receive-ack check, transport-free.  Durable decisions happen in the store's writer; this
 * file checks idempotency, backlog and rate before it, and after the commit
 * puts the idempotency entry, emits the domain event (notify/ pushes to the
 * devices) and reports to the adapter, in that order, on the writer thread.
 */
#include "server/im/msg_send.h"
#include "server/deliver/deliver.h"

#include "server/core/jtmpl.h"
#include "server/im/apps.h"
#include "server/im/event.h"
#include "server/im/msg.h"
#include "server/im/msgkey.h"
#include "server/seam/idem.h"

#include <stdlib.h>
#include <string.h>

#define IMEI_CAP (PETREL_DEFAULT_MAX_IMEI * 4 + 1)

typedef struct job {
    server_t *s;
    im_done_fn done;
    void *arg;
    int32_t app_id;
    char actor[STORE_ID_MAX + 1];
    int client_type;
    char imei[IMEI_CAP];
    uint64_t conn_id;
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
    j->s = s;
    j->done = done;
    j->arg = arg;
    j->app_id = from->app_id;
    snprintf(j->actor, sizeof j->actor, "%s", from->user_id ? from->user_id : "");
    j->client_type = from->client_type;
    snprintf(j->imei, sizeof j->imei, "%s", from->imei ? from->imei : "");
    j->conn_id = from->conn_id;
    return j;
}

static void job_free(job_t *j)
{
    jtmpl_free(&j->push);
    free(j);
}

/* Report at once (on the caller's thread); returns 0 for the caller. */
static int answer_now(im_done_fn done, void *arg, int code, const char *msg, int store_rc,
                      int cached)
{
    if (done) {
        im_result_t r = {code, msg, store_rc, 0, cached, 0};
        done(arg, &r);
    }
    return 0;
}

static im_event_t event_of(const job_t *j, ev_kind_t kind)
{
    im_event_t ev = {0};
    ev.kind = kind;
    ev.app_id = j->app_id;
    ev.actor = j->actor;
    ev.origin.client_type = j->client_type;
    ev.origin.imei = j->imei;
    ev.origin.conn_id = j->conn_id;
    ev.time_ms = now_ms();
    return ev;
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
        idem_put(j->s->idem, m->app_id, m->from_id, m->message_id, &a);
        if (!m->duplicate) {
            ev_msg_stored_t d = {&j->push, &j->reached};
            im_event_t ev = event_of(j, EV_MSG_STORED);
            ev.time_ms = m->created_at;
            ev.u.msg = m;
            ev.extra = &d;
            events_emit(j->s->events, &ev);
        }
    }
    im_result_t r = {PETREL_OK, "success", 0, 1, 0, j->reached};
    if (rc == STORE_EGONE) {
        r.code = PETREL_ERR_STORE_GONE;
        r.msg = store_strerror(rc);
        r.store_rc = rc;
    } else if (rc < 0) {
        r.code = PETREL_ERR_SYSTEM;
        r.msg = "storage failure: resend later";
        r.store_rc = rc;
    } else if (m->reject) {
        r.code = m->reject;
        r.msg = petrel_err_text(m->reject);
    }
    if (j->done)
        j->done(j->arg, &r);
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
        return answer_now(done, arg, PETREL_OK, "success", 0, 1);
    }
    if (deliver_busy(s->deliver)) /* deliveries backlog: before the rate takes a token */
        return answer_now(done, arg, PETREL_ERR_BUSY, "server busy: resend later", 0, 0);
    if (msg_rate_check(s, m->app_id, m->from_id,
                       strlen(m->body) + (m->extra ? strlen(m->extra) : 0)))
        return answer_now(done, arg, PETREL_ERR_RATE_LIMITED,
                          "send rate limit exceeded: resend later", 0, 0);
    job_t *j = job_new(s, from, done, arg);
    if (!j)
        return answer_now(done, arg, PETREL_ERR_SYSTEM, "out of memory: resend later", -1, 0);
    j->m = m;
    if (!m->message_time)
        m->message_time = now_ms();
    m->message_key = msgkey_next(s->cfg.node_id, now_ms());
    m->flags = msg_check_flags(s, m->app_id);
    push_template(m, j->client_type, j->imei, &j->push); /* empty on failure */
    int rc = store_msg_p2p(s->store, m, send_done, j);
    if (rc < 0) {
        job_free(j);
        return rc == STORE_EBUSY
                   ? answer_now(done, arg, PETREL_ERR_BUSY, "server busy: resend later", rc, 0)
                   : answer_now(done, arg, PETREL_ERR_SYSTEM, "storage unavailable: resend later",
                                rc, 0);
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
        events_emit(j->s->events, &ev);
    }
    int code = rc < 0 ? PETREL_ERR_SYSTEM : j->r->reject ? j->r->reject : PETREL_OK;
    im_result_t r = {code, im_recall_text(code), rc < 0 ? rc : 0, 1, 0, 0};
    if (j->done)
        j->done(j->arg, &r);
    job_free(j);
}

int im_recall_p2p(server_t *s, const im_origin_t *from, int64_t message_key, store_recall_t *r,
                  im_done_fn done, void *arg)
{
    job_t *j = job_new(s, from, done, arg);
    if (!j)
        return answer_now(done, arg, PETREL_ERR_SYSTEM, im_recall_text(PETREL_ERR_SYSTEM), -1, 0);
    j->r = r;
    j->key = message_key;
    store_app_t app;
    int admin = apps_get(s->apps, from->app_id, &app) == 0 && !strcmp(app.admin_id, j->actor);
    int rc = store_msg_recall(s->store, from->app_id, message_key, j->actor, admin, now_ms(),
                              (int64_t)s->cfg.recall_window_ms, r, recall_done, j);
    if (rc < 0) { /* not queued (shutting down): answer 90000 rather than nothing */
        job_free(j);
        return answer_now(done, arg, PETREL_ERR_SYSTEM, im_recall_text(PETREL_ERR_SYSTEM), rc, 0);
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
        events_emit(j->s->events, &ev);
    }
    if (j->done) {
        im_result_t r = {rc < 0 ? PETREL_ERR_SYSTEM : PETREL_OK, rc < 0 ? "storage failure" : "success",
                         rc < 0 ? rc : 0, 1, 0, 0};
        j->done(j->arg, &r);
    }
    job_free(j);
}

int im_read_p2p(server_t *s, const im_origin_t *from, const char *peer, int64_t seq,
                im_done_fn done, void *arg)
{
    job_t *j = job_new(s, from, done, arg);
    if (!j)
        return answer_now(done, arg, PETREL_ERR_SYSTEM, "out of memory", -1, 0);
    snprintf(j->peer, sizeof j->peer, "%s", peer);
    int rc = store_msg_read(s->store, from->app_id, j->actor, j->peer, seq, &j->read_seq,
                            &j->changed, read_done, j);
    if (rc < 0) {
        job_free(j);
        return answer_now(done, arg, PETREL_ERR_SYSTEM, "storage unavailable", rc, 0);
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
