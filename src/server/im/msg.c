/*
 * Socket side of one-to-one messaging (see msg.h).  Everything that must
 * be durable happens in the store's writer; this file validates, and after
 * the commit acks and fans out on the sender's worker.
 */
#include "server/im/msg.h"
#include "server/core/jtmpl.h"

#include "server/im/apps.h"
#include "server/gateway/gateway.h"
#include "server/im/gmsg.h"
#include "server/seam/idem.h"
#include "server/core/log.h"
#include "server/im/msgkey.h"
#include "server/im/ratelimit.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *json_text(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int msg_parse_fields(json_t *body, msg_fields_t *f, const char **why)
{
    const char *mid = json_string_value(json_object_get(body, "messageId"));
    json_t *mb = json_object_get(body, "messageBody");
    json_t *extra = json_object_get(body, "extra");
    json_t *mt = json_object_get(body, "messageTime");
    json_t *mr = json_object_get(body, "messageRandom");
    memset(f, 0, sizeof *f);
    if (!mid || !id_valid(mid, STORE_ID_MAX)) {
        *why = "messageId must be a string of 1..128 bytes";
        return PETREL_ERR_PARAM;
    }
    if (!mb || !(json_is_string(mb) || json_is_object(mb))) {
        *why = "messageBody must be a JSON object or its text";
        return PETREL_ERR_PARAM;
    }
    if ((mt && !json_is_integer(mt)) || (mr && !json_is_integer(mr)) ||
        (extra && !json_is_null(extra) && !json_is_string(extra) && !json_is_object(extra))) {
        *why = "messageTime/messageRandom must be integers, extra a string or object";
        return PETREL_ERR_PARAM;
    }
    if (mt && json_integer_value(mt) < 0) { /* epoch ms; 0 = the server's time */
        *why = "messageTime must be epoch milliseconds (0 or more)";
        return PETREL_ERR_PARAM;
    }
    f->body = json_text(mb);
    f->extra = extra && !json_is_null(extra) ? json_text(extra) : NULL;
    if (!f->body || strlen(f->body) > MSG_MAX_BODY || (f->extra && strlen(f->extra) > MSG_MAX_BODY)) {
        free(f->body);
        free(f->extra);
        f->body = f->extra = NULL;
        *why = "messageBody too large (32 KiB at most)";
        return PETREL_ERR_PARAM;
    }
    f->message_id = mid;
    f->message_time = mt ? json_integer_value(mt) : 0;
    f->message_random = mr ? json_integer_value(mr) : 0;
    return 0;
}

int msg_parse_send(json_t *body, store_msg_t *m, const char **why)
{
    const char *to = json_string_value(json_object_get(body, "toId"));
    if (!to || !id_valid(to, STORE_ID_MAX)) {
        *why = "toId must be a user id";
        return PETREL_ERR_PARAM;
    }
    msg_fields_t f;
    int rc = msg_parse_fields(body, &f, why);
    if (rc != 0)
        return rc;
    if (!strcmp(to, m->from_id)) {
        free(f.body);
        free(f.extra);
        *why = "cannot send a message to yourself";
        return PETREL_ERR_PARAM;
    }
    m->body = f.body;
    m->extra = f.extra;
    memcpy(m->to_id, to, strlen(to) + 1);
    memcpy(m->message_id, f.message_id, strlen(f.message_id) + 1);
    m->message_time = f.message_time;
    m->message_random = f.message_random;
    return 0;
}

unsigned msg_check_flags(server_t *s, int32_t app_id)
{
    unsigned f = apps_flags(s->apps, app_id);
    return (f & APP_F_CHECK_FRIEND ? STORE_MSG_CHECK_FRIEND : 0) |
           (f & APP_F_CHECK_BLACK ? STORE_MSG_CHECK_BLACK : 0);
}

int msg_rate_check(server_t *s, int32_t app_id, const char *user_id, size_t bytes)
{
    rl_conf_t rc = {(uint32_t)s->cfg.send_rate_user, (uint32_t)s->cfg.send_kbytes_user,
                    (uint32_t)s->cfg.send_rate_app};
    if (!rc.user_msgs && !rc.user_kbytes && !rc.app_msgs)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return ratelimit_send(ratelimit_thread(), &rc, app_id, user_id, bytes, now_us)
               ? PETREL_ERR_RATE_LIMITED
               : 0;
}

json_t *msg_content_json(const store_msg_t *m, int client_type, const char *imei)
{
    /* The pack goes to other users: no device id in it, only its type
     * (issue 14 item 5, docs/SECURITY.md); "imei" stays, empty, for the
     * seeds' clients. */
    (void)imei;
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:i, s:s}",
                          "appId", m->app_id, "fromId", m->from_id, "toId", m->to_id,
                          "messageId", m->message_id, "messageKey", (json_int_t)m->message_key,
                          "messageSequence", (json_int_t)m->sequence, "messageBody",
                          m->body ? m->body : "", "messageTime", (json_int_t)m->message_time,
                          "messageRandom", (json_int_t)m->message_random, "serverTime",
                          (json_int_t)m->created_at, "clientType", client_type, "imei",
                          "");
    if (o && m->extra)
        json_object_set_new(o, "extra", json_string(m->extra));
    return o;
}

/* The 1103 to the receiver's devices, the 1108 to the sender's others. */
static size_t fanout_text(server_t *s, const store_msg_t *m, const char *txt, size_t len,
                          uint64_t except_conn)
{
    size_t reached = gw_push_user(s, m->app_id, m->to_id, PETREL_CMD_MSG_P2P, txt, len, 0);
    gw_push_user(s, m->app_id, m->from_id, PETREL_CMD_MSG_P2P_SYNC, txt, len, except_conn);
    return reached;
}

size_t msg_fanout(server_t *s, const store_msg_t *m, int client_type, const char *imei,
                  uint64_t except_conn)
{
    json_t *o = msg_content_json(m, client_type, imei);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt)
        return 0;
    size_t reached = fanout_text(s, m, txt, strlen(txt), except_conn);
    free(txt);
    return reached;
}

/* The pushed message's keys that only the commit decides, in
 * msg_content_json's order. */
static const char *const COMMIT_KEYS[] = {"messageKey", "messageSequence", "serverTime"};

/* On the sender's worker: the push rendered ahead, with gaps for the
 * commit's numbers, so the writer only splices them in (jtmpl.h). */
static int fanout_template(const store_msg_t *m, int client_type, const char *imei,
                           jtmpl_t *t)
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

/* ---- send ---------------------------------------------------------------------- */

typedef struct send_job {
    server_t *srv;
    unsigned worker;
    uint64_t conn_id;
    int client_type;
    char imei[PETREL_DEFAULT_MAX_IMEI * 4 + 1];
    int rc;
    size_t reached;     /* receiver devices the message was pushed to */
    jtmpl_t push;       /* the 1103 with gaps for key, sequence, server time */
    store_msg_t m;
} send_job_t;

static void send_job_free(send_job_t *j)
{
    free(j->m.body);
    free(j->m.extra);
    jtmpl_free(&j->push);
    free(j);
}

static void ack(conn_t *c, int code, const char *msg, const store_msg_t *m)
{
    json_t *data = code == PETREL_OK
        ? json_pack("{s:s, s:I, s:I, s:s, s:I}", "messageId", m->message_id, "messageKey",
                    (json_int_t)m->message_key, "messageSequence", (json_int_t)m->sequence,
                    "toId", m->to_id, "serverTime", (json_int_t)m->created_at)
        : json_pack("{s:s}", "messageId", m->message_id);
    json_t *o = json_pack("{s:i, s:s, s:o}", "code", code, "msg", msg, "data", data);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        conn_send_json(c, PETREL_CMD_MSG_ACK, s, strlen(s));
    if (code != PETREL_OK)
        metrics_error(&c->w->srv->metrics, code);
    free(s);
    json_decref(o);
}

const char *msg_reject_text(int code)
{
    return petrel_err_text(code);
}

/* On the sender's worker, after the commit and the fan-out. */
static void send_committed(worker_t *w, void *arg)
{
    send_job_t *j = arg;
    conn_op_done(w, j->conn_id);
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    if (c && (c->flags & (CF_CLOSED | CF_CLOSE_AFTER)))
        c = NULL;
    if (!c) {
        send_job_free(j);
        return;
    }
    if (j->rc == STORE_EGONE) {
        ack(c, PETREL_ERR_STORE_GONE, store_strerror(j->rc), &j->m);
    } else if (j->rc < 0) {
        ack(c, PETREL_ERR_SYSTEM, "storage failure: resend later", &j->m);
    } else if (j->m.reject) {
        ack(c, j->m.reject, msg_reject_text(j->m.reject), &j->m);
    } else {
        ack(c, PETREL_OK, "success", &j->m);
        if (!j->m.duplicate && j->reached == 0) {
            json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:b}", "messageKey",
                                  (json_int_t)j->m.message_key, "messageId", j->m.message_id,
                                  "fromId", j->m.to_id, "toId", j->m.from_id, "messageSequence",
                                  (json_int_t)j->m.sequence, "serverSend", 1);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (s)
                conn_send_json(c, PETREL_CMD_MSG_RECEIVE_ACK, s, strlen(s));
            free(s);
            json_decref(o);
        }
    }
    send_job_free(j);
}

/* On the writer thread, in commit order.  The fan-out is done here, not on
 * the sender's worker: callbacks run in the order the messages were
 * sequenced, and every device's inbox receives them in that order, so a
 * device sees a conversation's messages with increasing sequences even when
 * the senders sit on different workers.  A duplicate was delivered the
 * first time (or is in storage for sync): never deliver it twice. */
static void send_done(void *arg, int rc)
{
    send_job_t *j = arg;
    j->rc = rc;
    if (rc == 0 && !j->m.reject) {
        idem_ack_t a = {j->m.message_key, j->m.sequence, j->m.created_at};
        idem_put(j->m.app_id, j->m.from_id, j->m.message_id, &a);
    }
    if (rc == 0 && !j->m.reject && !j->m.duplicate) {
        int64_t v[3] = {j->m.message_key, j->m.sequence, j->m.created_at};
        size_t len;
        char *txt = jtmpl_fill(&j->push, v, &len);
        if (txt)
            j->reached = fanout_text(j->srv, &j->m, txt, len, j->conn_id);
        else /* no template (allocation failure): render it here */
            j->reached = msg_fanout(j->srv, &j->m, j->client_type, j->imei, j->conn_id);
        free(txt);
    }
    if (worker_post(j->srv, j->worker, send_committed, j) < 0)
        send_job_free(j);
}

static int on_send(conn_t *c, json_t *body)
{
    server_t *s = c->w->srv;
    send_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        conn_close(c);
        return -1;
    }
    j->srv = s;
    j->worker = c->w->idx;
    j->conn_id = c->id;
    j->client_type = c->client_type;
    snprintf(j->imei, sizeof j->imei, "%s", c->imei);
    j->m.app_id = c->app_id;
    memcpy(j->m.from_id, c->user_id, strlen(c->user_id) + 1);
    const char *why = NULL;
    int code = msg_parse_send(body, &j->m, &why);
    if (code) {
        const char *mid = json_string_value(json_object_get(body, "messageId"));
        snprintf(j->m.message_id, sizeof j->m.message_id, "%s", mid ? mid : "");
        ack(c, code, why, &j->m);
        send_job_free(j);
        return 0;
    }
    idem_ack_t hit;
    if (idem_get(c->app_id, j->m.from_id, j->m.message_id, &hit)) {
        /* a resend of a committed message: the original ack, no store trip */
        j->m.message_key = hit.message_key;
        j->m.sequence = hit.sequence;
        j->m.created_at = hit.created_at;
        ack(c, PETREL_OK, "success", &j->m);
        send_job_free(j);
        return 0;
    }
    if (worker_backlog_busy(s)) { /* deliveries backlog: before the rate takes a token */
        ack(c, PETREL_ERR_BUSY, "server busy: resend later", &j->m);
        send_job_free(j);
        return 0;
    }
    if (msg_rate_check(s, c->app_id, c->user_id,
                       strlen(j->m.body) + (j->m.extra ? strlen(j->m.extra) : 0))) {
        ack(c, PETREL_ERR_RATE_LIMITED, "send rate limit exceeded: resend later", &j->m);
        send_job_free(j);
        return 0;
    }
    if (!j->m.message_time)
        j->m.message_time = now_ms();
    j->m.message_key = msgkey_next(s->cfg.node_id, now_ms());
    j->m.flags = msg_check_flags(s, c->app_id);
    fanout_template(&j->m, j->client_type, j->imei, &j->push); /* empty on failure */
    int rc = store_msg_p2p(s->store, &j->m, send_done, j);
    if (rc == STORE_EBUSY) {
        ack(c, PETREL_ERR_BUSY, "server busy: resend later", &j->m);
        send_job_free(j);
    } else if (rc < 0) {
        ack(c, PETREL_ERR_SYSTEM, "storage unavailable: resend later", &j->m);
        send_job_free(j);
    } else {
        conn_op_queued(c);
    }
    return 0;
}

/* ---- receive ack, read receipts, recall ------------------------------------------ */

/* A 1107 is forwarded only for a message that toId sent to the acker, and
 * not when toId blacklisted the acker; the forwarded packet is built from
 * the stored message, never from the client's JSON.  The check reads the
 * store, so it runs on the thread pool, batched per worker like LOGIN
 * lookups (wbatch.h).  At most RACK_CONN_MAX acks of one connection and
 * RACK_PENDING_MAX of one worker wait; the next ones are refused (62022,
 * resend later) rather than queued without bound, so one flooding client
 * is refused before it crowds out the others' acks. */
#define RACK_BATCH_MAX 256
#define RACK_CONN_MAX 128
#define RACK_PENDING_MAX 4096

typedef struct rack_job {
    wbatch_item_t link; /* first: wbatch.h */
    uint64_t conn_id;
    int32_t app_id;
    int64_t message_key;
    char acker[STORE_ID_MAX + 1], peer[STORE_ID_MAX + 1];
    int code;           /* out: 0 forward, else the refusal */
    store_msg_row_t m;  /* out: the stored message (no body) when code is 0 */
} rack_job_t;

static const char *rack_text(int code)
{
    return code == PETREL_ERR_PARAM ? "toId (not yourself) and a positive messageKey are required"
         : code == PETREL_ERR_SYSTEM ? "storage unavailable: resend later" : petrel_err_text(code);
}

/* An ERROR 9998 for a refused 1107, with its messageKey so that a client
 * with several acks in flight knows which one was refused. */
static void rack_refuse(conn_t *c, int code, int64_t message_key)
{
    conn_send_error_json(c, code,
                         json_pack("{s:i, s:s, s:i, s:I}", "code", code, "msg", rack_text(code),
                                   "command", PETREL_CMD_MSG_RECEIVE_ACK, "messageKey",
                                   (json_int_t)message_key));
}

/* Thread pool. */
static void rack_work(wbatch_t *b, wbatch_item_t *list)
{
    worker_t *w = b->data;
    for (wbatch_item_t *it = list; it; it = it->next) {
        rack_job_t *j = (rack_job_t *)it;
        int rc = store_msg_head_sync(w->srv->store, j->app_id, j->message_key, &j->m);
        if (rc == STORE_ENOTFOUND ||
            (rc == 0 && (strcmp(j->m.from_id, j->peer) || strcmp(j->m.to_id, j->acker)))) {
            j->code = PETREL_ERR_RACK_NO_MESSAGE;
            continue;
        }
        if (rc < 0) {
            j->code = PETREL_ERR_SYSTEM;
            continue;
        }
        store_friend_t f;
        rc = store_friend_get_sync(w->srv->store, j->app_id, j->peer, j->acker, &f);
        if (rc < 0 && rc != STORE_ENOTFOUND)
            j->code = PETREL_ERR_SYSTEM;
        else if (rc == 0 && f.black == 2)
            j->code = PETREL_ERR_BLACKED_BY_PEER;
    }
}

/* On the loop: forward the checked acks, refuse the others. */
static void rack_done(wbatch_t *b, wbatch_item_t *list, int status)
{
    worker_t *w = b->data;
    while (list) {
        rack_job_t *j = (rack_job_t *)list;
        list = list->next;
        w->rack_pending--;
        conn_t *c = connmap_get(&w->conns, j->conn_id);
        if (c && c->rack_inflight)
            c->rack_inflight--;
        int code = status < 0 ? PETREL_ERR_SYSTEM : j->code;
        if (code == 0) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:i, s:b}", "fromId", j->acker,
                                  "toId", j->peer, "messageKey", (json_int_t)j->m.message_key,
                                  "messageId", j->m.message_id, "messageSequence",
                                  (json_int_t)j->m.sequence, "conversationType", 0,
                                  "serverSend", 0);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (s)
                gw_push_user(w->srv, j->app_id, j->peer, PETREL_CMD_MSG_RECEIVE_ACK, s,
                             strlen(s), 0);
            free(s);
            json_decref(o);
        } else if (c && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER))) {
            rack_refuse(c, code, j->message_key);
        }
        free(j);
    }
}

static int on_receive_ack(conn_t *c, json_t *body)
{
    worker_t *w = c->w;
    const char *to = json_string_value(json_object_get(body, "toId"));
    json_t *key = json_object_get(body, "messageKey");
    int64_t k = json_is_integer(key) ? json_integer_value(key) : 0;
    if (!to || !id_valid(to, STORE_ID_MAX) || !strcmp(to, c->user_id) || k <= 0) {
        rack_refuse(c, PETREL_ERR_PARAM, k);
        return 0;
    }
    if (c->rack_inflight >= RACK_CONN_MAX || w->rack_pending >= RACK_PENDING_MAX) {
        rack_refuse(c, PETREL_ERR_RACK_BUSY, k);
        return 0;
    }
    /* a receipt counts against the sender's message rate, like 1106 */
    if (msg_rate_check(w->srv, c->app_id, c->user_id, 0)) {
        rack_refuse(c, PETREL_ERR_RATE_LIMITED, k);
        return 0;
    }
    rack_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        rack_refuse(c, PETREL_ERR_SYSTEM, k);
        return 0;
    }
    j->conn_id = c->id;
    j->app_id = c->app_id;
    j->message_key = k;
    snprintf(j->acker, sizeof j->acker, "%s", c->user_id);
    snprintf(j->peer, sizeof j->peer, "%s", to);
    if (!w->rack_batch.loop)
        wbatch_init(&w->rack_batch, &w->loop, RACK_BATCH_MAX, rack_work, rack_done, w);
    w->rack_pending++;
    c->rack_inflight++;
    wbatch_push(&w->rack_batch, &j->link); /* may have answered at once (done on failure) */
    return 0;
}

typedef struct read_job {
    server_t *srv;
    int32_t app_id;
    uint64_t conn_id;
    char owner[STORE_ID_MAX + 1], peer[STORE_ID_MAX + 1];
    int64_t read_seq;
    int changed;
} read_job_t;

static void read_done(void *arg, int rc)
{
    read_job_t *j = arg;
    if (rc == 0 && j->changed) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:i}", "messageSequence", (json_int_t)j->read_seq,
                              "fromId", j->owner, "toId", j->peer, "conversationType", 0);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) {
            gw_push_user(j->srv, j->app_id, j->owner, PETREL_CMD_MSG_READED_NOTIFY, s, strlen(s),
                         j->conn_id);
            gw_push_user(j->srv, j->app_id, j->peer, PETREL_CMD_MSG_READED_RECEIPT, s, strlen(s), 0);
        }
        free(s);
        json_decref(o);
    }
    free(j);
}

static int on_read(conn_t *c, json_t *body)
{
    const char *to = json_string_value(json_object_get(body, "toId"));
    json_t *seq = json_object_get(body, "messageSequence");
    if (!to || !id_valid(to, STORE_ID_MAX) || !json_is_integer(seq) || json_integer_value(seq) < 0) {
        conn_send_error(c, PETREL_ERR_PARAM, "toId and messageSequence are required",
                        PETREL_CMD_MSG_READED);
        return 0;
    }
    read_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    j->srv = c->w->srv;
    j->app_id = c->app_id;
    j->conn_id = c->id;
    snprintf(j->owner, sizeof j->owner, "%s", c->user_id);
    snprintf(j->peer, sizeof j->peer, "%s", to);
    if (store_msg_read(j->srv->store, c->app_id, j->owner, j->peer, json_integer_value(seq),
                       &j->read_seq, &j->changed, read_done, j) < 0)
        free(j);
    return 0;
}

typedef struct recall_job {
    server_t *srv;
    unsigned worker;
    uint64_t conn_id;
    int32_t app_id;
    int64_t message_key;
    char requester[STORE_ID_MAX + 1];
    int rc;
    store_recall_t r;
} recall_job_t;

static void recall_committed(worker_t *w, void *arg)
{
    recall_job_t *j = arg;
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    int code = j->rc < 0 ? PETREL_ERR_SYSTEM : j->r.reject ? j->r.reject : PETREL_OK;
    json_t *pack = json_pack("{s:s, s:s, s:I, s:I, s:i}", "fromId", j->r.from_id, "toId",
                             j->r.to_id, "messageKey", (json_int_t)j->message_key,
                             "messageSequence", (json_int_t)j->r.sequence, "conversationType", 0);
    if (c && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER))) {
        const char *msg = code == PETREL_OK ? "success"
                        : code == PETREL_ERR_MSG_NOT_FOUND ? "message not found"
                        : code == PETREL_ERR_RECALL_TIMEOUT ? "recall window has passed"
                        : code == PETREL_ERR_RECALLED ? "message already recalled"
                        : code == PETREL_ERR_NOT_OPERATOR ? "only the sender may recall a message"
                        : code == PETREL_ERR_SYSTEM ? "storage unavailable: resend later"
                                                    : "recall failed";
        /* a refusal carries the messageKey, so that a client with
         * several recalls outstanding can tell which one was refused */
        json_t *o = code == PETREL_OK
                        ? json_pack("{s:i, s:s, s:O?}", "code", code, "msg", msg, "data", pack)
                        : json_pack("{s:i, s:s, s:{s:I}}", "code", code, "msg", msg, "data",
                                    "messageKey", (json_int_t)j->message_key);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            conn_send_json(c, PETREL_CMD_MSG_RECALL_ACK, s, strlen(s));
        free(s);
        json_decref(o);
    }
    if (code == PETREL_OK && pack) {
        char *s = json_dumps(pack, JSON_COMPACT);
        if (s) {
            size_t n = strlen(s);
            /* the requester's other devices, and the other party (both
             * parties when an admin recalled someone else's message) */
            gw_push_user(j->srv, j->app_id, j->requester, PETREL_CMD_MSG_RECALL_SYNC, s, n,
                         j->conn_id);
            if (strcmp(j->r.from_id, j->requester))
                gw_push_user(j->srv, j->app_id, j->r.from_id, PETREL_CMD_MSG_RECALL_NOTIFY, s, n, 0);
            if (strcmp(j->r.to_id, j->requester))
                gw_push_user(j->srv, j->app_id, j->r.to_id, PETREL_CMD_MSG_RECALL_NOTIFY, s, n, 0);
        }
        free(s);
    }
    json_decref(pack);
    free(j);
}

static void recall_done(void *arg, int rc)
{
    recall_job_t *j = arg;
    j->rc = rc;
    if (worker_post(j->srv, j->worker, recall_committed, j) < 0)
        free(j);
}

static int on_recall(conn_t *c, json_t *body)
{
    json_t *ct = json_object_get(body, "conversationType");
    if (json_is_integer(ct) && json_integer_value(ct) == 1)
        return gmsg_on_recall(c, body);
    json_t *key = json_object_get(body, "messageKey");
    if (!json_is_integer(key)) {
        conn_send_error(c, PETREL_ERR_PARAM, "messageKey is required", PETREL_CMD_MSG_RECALL);
        return 0;
    }
    server_t *s = c->w->srv;
    recall_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    j->srv = s;
    j->worker = c->w->idx;
    j->conn_id = c->id;
    j->app_id = c->app_id;
    j->message_key = json_integer_value(key);
    snprintf(j->requester, sizeof j->requester, "%s", c->user_id);
    store_app_t app;
    int admin = apps_get(s->apps, c->app_id, &app) == 0 && !strcmp(app.admin_id, c->user_id);
    if (store_msg_recall(s->store, c->app_id, j->message_key, j->requester, admin, now_ms(),
                         (int64_t)s->cfg.recall_window_ms, &j->r, recall_done, j) < 0) {
        j->rc = -1; /* not queued (shutting down): answer 90000 rather than nothing */
        recall_committed(c->w, j);
    }
    return 0;
}

int msg_on_packet(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    /* read receipts and recalls are writes too: the sender's rate limit */
    if ((p->hdr.command == PETREL_CMD_MSG_READED || p->hdr.command == PETREL_CMD_MSG_RECALL) &&
        msg_rate_check(c->w->srv, c->app_id, c->user_id, 0)) {
        conn_send_error_for(c, PETREL_ERR_RATE_LIMITED, "rate limit exceeded: retry later",
                            p->hdr.command, body);
        return 0;
    }
    switch (p->hdr.command) {
    case PETREL_CMD_MSG_P2P: return on_send(c, body);
    case PETREL_CMD_MSG_RECEIVE_ACK: return on_receive_ack(c, body);
    case PETREL_CMD_MSG_READED: return on_read(c, body);
    case PETREL_CMD_MSG_RECALL: return on_recall(c, body);
    default:
        conn_send_error_for(c, PETREL_ERR_UNKNOWN_CMD, "unsupported command", p->hdr.command,
                            body);
        return 0;
    }
}
