/*
 * Socket adapters of the one-to-one message use cases (cmd_msg.h):
 * MSG_P2P 1103 -> im_send_p2p, answered by MSG_ACK 1046 (and a server-made
 * 1107 {serverSend:true} when the receiver has no device online);
 * MSG_READED 1106 -> im_read_p2p; MSG_RECALL 1050 -> im_recall_p2p,
 * answered by MSG_RECALL_ACK 1051; MSG_RECEIVE_ACK 1107, a socket-only
 * forward checked against the store (below).  The pushes to other devices
 * are the notify/ subscribers' business, not this file's.
 *
 * Threading: a use case answers at once on this worker, or later from the
 * store's writer thread after the commit; the adapter then posts the answer
 * to the connection's worker and looks the connection up again there (it
 * may have closed meanwhile): cmd_job.h.
 */
#include "server/gateway/cmd_msg.h"
#include "server/deliver/deliver.h"

#include "server/gateway/cmd_job.h"
#include "server/gateway/command.h"
#include "server/gateway/gateway.h"
#include "server/im/msg.h"
#include "server/im/msg_send.h"

#include <stdlib.h>
#include <string.h>

/* ---- send ---------------------------------------------------------------------- */

typedef struct send_job {
    cmd_job_t h; /* first: cmd_job.h */
    store_msg_t m;
} send_job_t;

static void send_job_free(cmd_job_t *h)
{
    send_job_t *j = (send_job_t *)h;
    free(j->m.body);
    free(j->m.extra);
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
    if (code != PETREL_OK)
        metrics_error(&c->w->srv->metrics, code);
    cmd_send_obj(c, PETREL_CMD_MSG_ACK, o);
}

/* The 1046, then, for a message stored now that reached no device of the
 * receiver, the server-made 1107 {serverSend:true}. */
static void send_answer(conn_t *c, cmd_job_t *h)
{
    const store_msg_t *m = &((send_job_t *)h)->m;
    ack(c, h->r.code, h->r.msg, m);
    if (h->r.code != PETREL_OK || !h->r.deferred || m->duplicate || h->r.reached)
        return;
    cmd_send_obj(c, PETREL_CMD_MSG_RECEIVE_ACK, msg_server_receipt_json(m));
}

static int on_send(conn_t *c, json_t *body)
{
    server_t *s = c->w->srv;
    send_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        conn_close(c);
        return -1;
    }
    cmd_job_init(&j->h, c, send_answer, send_job_free, 1);
    j->m.app_id = c->app_id;
    memcpy(j->m.from_id, c->user_id, strlen(c->user_id) + 1);
    const char *why = NULL;
    int code = msg_parse_send(body, &j->m, &why);
    if (code) {
        const char *mid = json_string_value(json_object_get(body, "messageId"));
        snprintf(j->m.message_id, sizeof j->m.message_id, "%s", mid ? mid : "");
        ack(c, code, why, &j->m);
        send_job_free(&j->h);
        return 0;
    }
    im_origin_t from = cmd_origin(c);
    if (im_send_p2p(s, &from, &j->m, cmd_job_done, j))
        conn_op_queued(c); /* j is the writer's now */
    else
        cmd_job_answer_now(c, &j->h);
    return 0;
}

/* ---- receive ack ------------------------------------------------------------------ */

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

/* This file's per-worker state: its worker_t.ext slot (cmd_msg_install). */
typedef struct rack_worker {
    wbatch_t batch;     /* the checks, batched */
    unsigned pending;   /* queued or being checked */
} rack_worker_t;

static int rack_slot = -1;

static rack_worker_t *rack_of(worker_t *w)
{
    return w->ext[rack_slot];
}

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
        j->code = im_receive_ack_check_sync(w->srv, j->app_id, j->acker, j->peer,
                                            j->message_key, &j->m);
    }
}

/* On the loop: forward the checked acks, refuse the others. */
static void rack_done(wbatch_t *b, wbatch_item_t *list, int status)
{
    worker_t *w = b->data;
    while (list) {
        rack_job_t *j = (rack_job_t *)list;
        list = list->next;
        rack_of(w)->pending--;
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
                deliver_user(w->srv->deliver, j->app_id, j->peer, PETREL_CMD_MSG_RECEIVE_ACK, s,
                             strlen(s), 0);
            free(s);
            json_decref(o);
        } else if (cmd_conn_live(c)) {
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
    if (c->rack_inflight >= RACK_CONN_MAX || rack_of(w)->pending >= RACK_PENDING_MAX) {
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
    rack_worker_t *r = rack_of(w);
    r->pending++;
    c->rack_inflight++;
    wbatch_push(&r->batch, &j->link); /* may have answered at once (done on failure) */
    return 0;
}

/* ---- read receipts, recall ---------------------------------------------------------- */

static int on_read(conn_t *c, json_t *body)
{
    const char *to = json_string_value(json_object_get(body, "toId"));
    json_t *seq = json_object_get(body, "messageSequence");
    if (!to || !id_valid(to, STORE_ID_MAX) || !json_is_integer(seq) || json_integer_value(seq) < 0) {
        conn_send_error(c, PETREL_ERR_PARAM, "toId and messageSequence are required",
                        PETREL_CMD_MSG_READED);
        return 0;
    }
    im_origin_t from = cmd_origin(c);
    im_read_p2p(c->w->srv, &from, to, json_integer_value(seq), NULL, NULL); /* no answer */
    return 0;
}

typedef struct recall_job {
    cmd_job_t h; /* first: cmd_job.h */
    int64_t message_key;
    store_recall_t rec;
} recall_job_t;

static void recall_answer(conn_t *c, cmd_job_t *h)
{
    const recall_job_t *j = (const recall_job_t *)h;
    int code = h->r.code;
    /* a refusal carries the messageKey, so that a client with several
     * recalls outstanding can tell which one was refused */
    json_t *o = code == PETREL_OK
        ? json_pack("{s:i, s:s, s:{s:s, s:s, s:I, s:I, s:i}}", "code", code, "msg", h->r.msg,
                    "data", "fromId", j->rec.from_id, "toId", j->rec.to_id, "messageKey",
                    (json_int_t)j->message_key, "messageSequence", (json_int_t)j->rec.sequence,
                    "conversationType", 0)
        : json_pack("{s:i, s:s, s:{s:I}}", "code", code, "msg", h->r.msg, "data", "messageKey",
                    (json_int_t)j->message_key);
    cmd_send_obj(c, PETREL_CMD_MSG_RECALL_ACK, o);
}

static void recall_free(cmd_job_t *h)
{
    free(h);
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
    recall_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    cmd_job_init(&j->h, c, recall_answer, recall_free, 0);
    j->message_key = json_integer_value(key);
    im_origin_t from = cmd_origin(c);
    if (!im_recall_p2p(c->w->srv, &from, j->message_key, &j->rec, cmd_job_done, j))
        cmd_job_answer_now(c, &j->h);
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

/* ---- installing ------------------------------------------------------------------- */

static int rack_worker_init(worker_t *w, void *arg)
{
    (void)arg;
    rack_worker_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    wbatch_init(&r->batch, &w->loop, RACK_BATCH_MAX, rack_work, rack_done, w);
    w->ext[rack_slot] = r;
    return 0;
}

static void rack_worker_free(worker_t *w, void *arg)
{
    (void)arg;
    free(w->ext[rack_slot]);
    w->ext[rack_slot] = NULL;
}

static const worker_hooks_t rack_hooks = {
    .name = "receive acks",
    .init = rack_worker_init,
    .free = rack_worker_free,
};

int cmd_msg_install(server_t *s)
{
    int rc = 0;
    rc |= gw_command_register(PETREL_CMD_MSG_P2P, msg_on_packet, GW_CMD_FROM);
    rc |= gw_command_register(PETREL_CMD_MSG_RECEIVE_ACK, msg_on_packet, GW_CMD_FROM);
    rc |= gw_command_register(PETREL_CMD_MSG_READED, msg_on_packet, GW_CMD_FROM);
    rc |= gw_command_register(PETREL_CMD_MSG_RECALL, msg_on_packet, GW_CMD_FROM);
    rc |= gw_command_register(PETREL_CMD_MSG_GROUP, gmsg_on_packet, GW_CMD_FROM);
    rc |= gw_command_register(PETREL_CMD_MSG_GROUP_READED, gmsg_on_packet, GW_CMD_FROM);
    if (rc < 0)
        return -1;
    int slot = runtime_add_worker_hooks(&s->rt, &rack_hooks, s);
    if (slot < 0)
        return -1;
    rack_slot = slot;
    return 0;
}
