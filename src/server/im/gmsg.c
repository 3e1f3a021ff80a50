/*
 * Socket side of group messaging (see gmsg.h).  Like msg.c for 1:1: the
 * store's writer decides and numbers, this file validates, fans out from
 * the writer's callback (commit order, through gpush) and acks on the
 * sender's worker only after the commit.
 */
#include "server/im/gmsg.h"

#include "server/im/apps.h"
#include "server/gateway/gateway.h"
#include "server/deliver/gpush.h"
#include "server/model/group_rules.h"
#include "server/seam/idem.h"
#include "server/core/log.h"
#include "server/im/msg.h"
#include "server/im/msgkey.h"

#include <stdlib.h>
#include <string.h>

/* The idempotency cache is shared with 1:1 sends: group message ids live
 * in their own namespace there, as they do on disk (im_group_message). */
static void idem_key(char *dst, size_t cap, const char *mid)
{
    snprintf(dst, cap, "g\x1e%s", mid);
}

void gmsg_op_free(store_group_op_t *op)
{
    if (!op)
        return;
    free(op->msg.body);
    free(op->msg.extra);
    op->msg.body = op->msg.extra = NULL;
    store_group_op_clear(op);
}

int gmsg_parse_send(json_t *body, store_group_op_t *op, const char **why)
{
    const char *gid = json_string_value(json_object_get(body, "groupId"));
    if (!gid || !id_valid(gid, STORE_GROUP_ID_MAX)) {
        *why = "groupId must be a group id (1..64 bytes)";
        return PETREL_ERR_PARAM;
    }
    msg_fields_t f;
    int rc = msg_parse_fields(body, &f, why);
    if (rc != 0)
        return rc;
    op->what = SG_MSG;
    op->msg.body = f.body;
    op->msg.extra = f.extra;
    memcpy(op->group_id, gid, strlen(gid) + 1);
    memcpy(op->msg.message_id, f.message_id, strlen(f.message_id) + 1);
    op->msg.message_time = f.message_time;
    op->msg.message_random = f.message_random;
    return 0;
}

json_t *gmsg_content_json(const store_group_op_t *op, int client_type, const char *imei)
{
    /* The pack goes to other users: no device id in it, only its type
     * (issue 14 item 5, docs/SECURITY.md); "imei" stays, empty, for the
     * seeds' clients. */
    (void)imei;
    const store_group_msg_t *m = &op->msg;
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:i, s:s, s:i}",
                          "appId", op->app_id, "groupId", op->group_id, "fromId",
                          op->operator_id, "messageId", m->message_id, "messageKey",
                          (json_int_t)m->message_key, "messageSequence",
                          (json_int_t)m->sequence, "messageBody", m->body ? m->body : "",
                          "messageTime", (json_int_t)m->message_time, "messageRandom",
                          (json_int_t)m->message_random, "serverTime",
                          (json_int_t)m->created_at, "clientType", client_type, "imei",
                          "", "conversationType", 1);
    if (o && m->extra)
        json_object_set_new(o, "extra", json_string(m->extra));
    return o;
}

json_t *gmsg_row_json(int32_t app_id, const char *group_id, const char *reader,
                      const store_group_msg_row_t *r)
{
    char conv[STORE_ID_MAX + STORE_GROUP_ID_MAX + 8];
    snprintf(conv, sizeof conv, "1_%s_%s", reader, group_id);
    json_t *o = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:s}",
                          "appId", app_id, "groupId", group_id, "messageKey",
                          (json_int_t)r->message_key, "messageSequence", (json_int_t)r->sequence,
                          "fromId", r->from_id, "messageId", r->message_id, "messageTime",
                          (json_int_t)r->message_time, "messageRandom",
                          (json_int_t)r->message_random, "serverTime", (json_int_t)r->created_at,
                          "delFlag", r->del_flag, "readCount", r->read_count,
                          "conversationType", 1, "conversationId", conv);
    if (o && r->body)
        json_object_set_new(o, "messageBody", json_string(r->body));
    if (o && r->extra)
        json_object_set_new(o, "extra", json_string(r->extra));
    return o;
}

void gmsg_fanout(server_t *s, const store_group_op_t *op, int client_type, const char *imei,
                 uint64_t except_conn)
{
    json_t *o = gmsg_content_json(op, client_type, imei);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt)
        gpush_group(s, op->app_id, op->group_id, op->msg.sequence, PETREL_CMD_MSG_GROUP, txt,
                    op->operator_id, PETREL_CMD_MSG_GROUP_SYNC, except_conn);
    free(txt);
}

/* ---- send ---------------------------------------------------------------------- */

typedef struct gsend_job {
    server_t *srv;
    unsigned worker;
    uint64_t conn_id;
    int client_type;
    char imei[PETREL_DEFAULT_MAX_IMEI * 4 + 1];
    int rc;
    store_group_op_t op;
} gsend_job_t;

static void gsend_free(gsend_job_t *j)
{
    gmsg_op_free(&j->op);
    free(j);
}

static const char *reject_text(int code)
{
    return petrel_err_text(code);
}

static void ack(conn_t *c, int code, const char *msg, const store_group_op_t *op)
{
    const store_group_msg_t *m = &op->msg;
    json_t *data = code == PETREL_OK
        ? json_pack("{s:s, s:I, s:I, s:s, s:I}", "messageId", m->message_id, "messageKey",
                    (json_int_t)m->message_key, "messageSequence", (json_int_t)m->sequence,
                    "groupId", op->group_id, "serverTime", (json_int_t)m->created_at)
        : json_pack("{s:s, s:s}", "messageId", m->message_id, "groupId", op->group_id);
    json_t *o = json_pack("{s:i, s:s, s:o}", "code", code, "msg", msg, "data", data);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        conn_send_json(c, PETREL_CMD_GROUP_MSG_ACK, s, strlen(s));
    if (code != PETREL_OK)
        metrics_error(&c->w->srv->metrics, code);
    free(s);
    json_decref(o);
}

static void gsend_committed(worker_t *w, void *arg)
{
    gsend_job_t *j = arg;
    conn_op_done(w, j->conn_id);
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    if (c && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER))) {
        if (j->rc == STORE_EGONE)
            ack(c, PETREL_ERR_STORE_GONE, store_strerror(j->rc), &j->op);
        else if (j->rc < 0)
            ack(c, PETREL_ERR_SYSTEM, "storage failure: resend later", &j->op);
        else if (j->op.reject)
            ack(c, j->op.reject, reject_text(j->op.reject), &j->op);
        else
            ack(c, PETREL_OK, "success", &j->op);
    }
    gsend_free(j);
}

/* Writer thread, commit order (see gmsg.h). */
static void gsend_done(void *arg, int rc)
{
    gsend_job_t *j = arg;
    j->rc = rc;
    if (rc == 0 && !j->op.reject) {
        char key[STORE_ID_MAX + 4];
        idem_key(key, sizeof key, j->op.msg.message_id);
        idem_ack_t a = {j->op.msg.message_key, j->op.msg.sequence, j->op.msg.created_at};
        idem_put(j->op.app_id, j->op.operator_id, key, &a);
        if (!j->op.msg.duplicate)
            gmsg_fanout(j->srv, &j->op, j->client_type, j->imei, j->conn_id);
    }
    if (worker_post(j->srv, j->worker, gsend_committed, j) < 0)
        gsend_free(j);
}

static int on_send(conn_t *c, json_t *body)
{
    server_t *s = c->w->srv;
    gsend_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        conn_close(c);
        return -1;
    }
    j->srv = s;
    j->worker = c->w->idx;
    j->conn_id = c->id;
    j->client_type = c->client_type;
    snprintf(j->imei, sizeof j->imei, "%s", c->imei);
    j->op.app_id = c->app_id;
    snprintf(j->op.operator_id, sizeof j->op.operator_id, "%s", c->user_id);
    const char *why = NULL;
    int code = gmsg_parse_send(body, &j->op, &why);
    if (code) {
        const char *mid = json_string_value(json_object_get(body, "messageId"));
        const char *gid = json_string_value(json_object_get(body, "groupId"));
        snprintf(j->op.msg.message_id, sizeof j->op.msg.message_id, "%s", mid ? mid : "");
        snprintf(j->op.group_id, sizeof j->op.group_id, "%s", gid ? gid : "");
        ack(c, code, why, &j->op);
        gsend_free(j);
        return 0;
    }
    char key[STORE_ID_MAX + 4];
    idem_key(key, sizeof key, j->op.msg.message_id);
    idem_ack_t hit;
    if (idem_get(c->app_id, c->user_id, key, &hit)) {
        j->op.msg.message_key = hit.message_key;
        j->op.msg.sequence = hit.sequence;
        j->op.msg.created_at = hit.created_at;
        ack(c, PETREL_OK, "success", &j->op);
        gsend_free(j);
        return 0;
    }
    if (worker_backlog_busy(s)) { /* deliveries backlog: before the rate takes a token */
        ack(c, PETREL_ERR_BUSY, "server busy: resend later", &j->op);
        gsend_free(j);
        return 0;
    }
    if (msg_rate_check(s, c->app_id, c->user_id,
                       strlen(j->op.msg.body) + (j->op.msg.extra ? strlen(j->op.msg.extra) : 0))) {
        ack(c, PETREL_ERR_RATE_LIMITED, "send rate limit exceeded: resend later", &j->op);
        gsend_free(j);
        return 0;
    }
    if (!j->op.msg.message_time)
        j->op.msg.message_time = now_ms();
    j->op.msg.message_key = msgkey_next(s->cfg.node_id, now_ms());
    int rc = store_group_write(s->store, &j->op, gsend_done, j);
    if (rc == STORE_EBUSY) {
        ack(c, PETREL_ERR_BUSY, "server busy: resend later", &j->op);
        gsend_free(j);
    } else if (rc < 0) {
        ack(c, PETREL_ERR_SYSTEM, "storage unavailable: resend later", &j->op);
        gsend_free(j);
    } else {
        conn_op_queued(c);
    }
    return 0;
}

/* ---- read receipts ------------------------------------------------------------- */

typedef struct gread_job {
    server_t *srv;
    uint64_t conn_id;
    store_group_op_t op;
} gread_job_t;

static void gread_done(void *arg, int rc)
{
    gread_job_t *j = arg;
    if (rc == 0 && !j->op.reject && j->op.changed) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:i}", "messageSequence",
                              (json_int_t)j->op.member.read_seq, "fromId", j->op.operator_id,
                              "toId", j->op.from_id, "groupId", j->op.group_id,
                              "conversationType", 1);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) {
            gw_push_user(j->srv, j->op.app_id, j->op.operator_id,
                         PETREL_CMD_MSG_GROUP_READED_NOTIFY, s, strlen(s), j->conn_id);
            if (j->op.from_id[0] && strcmp(j->op.from_id, j->op.operator_id))
                gw_push_user(j->srv, j->op.app_id, j->op.from_id,
                             PETREL_CMD_MSG_GROUP_READED_RECEIPT, s, strlen(s), 0);
        }
        free(s);
        json_decref(o);
    }
    store_group_op_clear(&j->op);
    free(j);
}

static int on_read(conn_t *c, json_t *body)
{
    const char *gid = json_string_value(json_object_get(body, "groupId"));
    json_t *seq = json_object_get(body, "messageSequence");
    if (!gid || !id_valid(gid, STORE_GROUP_ID_MAX) || !json_is_integer(seq) ||
        json_integer_value(seq) < 0) {
        conn_send_error(c, PETREL_ERR_PARAM, "groupId and messageSequence are required",
                        PETREL_CMD_MSG_GROUP_READED);
        return 0;
    }
    gread_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    j->srv = c->w->srv;
    j->conn_id = c->id;
    j->op.what = SG_READ;
    j->op.app_id = c->app_id;
    snprintf(j->op.group_id, sizeof j->op.group_id, "%s", gid);
    snprintf(j->op.operator_id, sizeof j->op.operator_id, "%s", c->user_id);
    j->op.seq = json_integer_value(seq);
    if (store_group_write(j->srv->store, &j->op, gread_done, j) < 0)
        free(j);
    return 0;
}

/* ---- recall --------------------------------------------------------------------- */

typedef struct grecall_job {
    server_t *srv;
    unsigned worker;
    uint64_t conn_id;
    int rc;
    store_group_op_t op;
} grecall_job_t;

static json_t *recall_pack(const grecall_job_t *j)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "fromId", j->op.from_id, "toId",
                     j->op.group_id, "groupId", j->op.group_id, "messageKey",
                     (json_int_t)j->op.message_key, "messageSequence",
                     (json_int_t)j->op.recalled_seq, "conversationType", 1);
}

static void grecall_committed(worker_t *w, void *arg)
{
    grecall_job_t *j = arg;
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    int code = j->rc < 0 ? PETREL_ERR_SYSTEM : j->op.reject ? j->op.reject : PETREL_OK;
    if (c && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER))) {
        const char *msg = code == PETREL_OK ? "success"
                        : code == PETREL_ERR_MSG_NOT_FOUND ? "message not found"
                        : code == PETREL_ERR_RECALL_TIMEOUT ? "recall window has passed"
                        : code == PETREL_ERR_RECALLED ? "message already recalled"
                        : code == PETREL_ERR_NOT_OPERATOR ? "only the sender may recall a message"
                        : code == PETREL_ERR_SYSTEM ? "storage unavailable: resend later"
                                                    : "recall failed";
        json_t *pack = code == PETREL_OK ? recall_pack(j) : NULL;
        json_t *o = json_pack("{s:i, s:s, s:o?}", "code", code, "msg", msg, "data", pack);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            conn_send_json(c, PETREL_CMD_MSG_RECALL_ACK, s, strlen(s));
        free(s);
        json_decref(o);
    }
    store_group_op_clear(&j->op);
    free(j);
}

static void grecall_done(void *arg, int rc)
{
    grecall_job_t *j = arg;
    j->rc = rc;
    if (rc == 0 && !j->op.reject) {
        json_t *pack = recall_pack(j);
        char *s = pack ? json_dumps(pack, JSON_COMPACT) : NULL;
        if (s) /* 1052 to the members who could read it, 1055 to the requester's others */
            gpush_group(j->srv, j->op.app_id, j->op.group_id, j->op.recalled_seq,
                        PETREL_CMD_MSG_RECALL_NOTIFY, s, j->op.operator_id,
                        PETREL_CMD_MSG_RECALL_SYNC, j->conn_id);
        free(s);
        json_decref(pack);
    }
    if (worker_post(j->srv, j->worker, grecall_committed, j) < 0) {
        store_group_op_clear(&j->op);
        free(j);
    }
}

int gmsg_on_recall(conn_t *c, json_t *body)
{
    json_t *key = json_object_get(body, "messageKey");
    const char *gid = json_string_value(json_object_get(body, "groupId"));
    if (!gid)
        gid = json_string_value(json_object_get(body, "toId"));
    if (!json_is_integer(key) || !gid || !id_valid(gid, STORE_GROUP_ID_MAX)) {
        conn_send_error(c, PETREL_ERR_PARAM, "messageKey and groupId are required",
                        PETREL_CMD_MSG_RECALL);
        return 0;
    }
    server_t *s = c->w->srv;
    grecall_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    j->srv = s;
    j->worker = c->w->idx;
    j->conn_id = c->id;
    j->op.what = SG_RECALL;
    j->op.app_id = c->app_id;
    snprintf(j->op.group_id, sizeof j->op.group_id, "%s", gid);
    snprintf(j->op.operator_id, sizeof j->op.operator_id, "%s", c->user_id);
    j->op.message_key = json_integer_value(key);
    j->op.window_ms = (int64_t)s->cfg.recall_window_ms;
    store_app_t app;
    j->op.admin = apps_get(s->apps, c->app_id, &app) == 0 && !strcmp(app.admin_id, c->user_id);
    if (store_group_write(s->store, &j->op, grecall_done, j) < 0) {
        j->rc = -1; /* not queued (shutting down): answer 90000 rather than nothing */
        grecall_committed(c->w, j);
    }
    return 0;
}

int gmsg_on_packet(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    switch (p->hdr.command) {
    case PETREL_CMD_MSG_GROUP: return on_send(c, body);
    case PETREL_CMD_MSG_GROUP_READED:
        /* a write too: the sender's rate limit */
        if (msg_rate_check(c->w->srv, c->app_id, c->user_id, 0)) {
            conn_send_error_for(c, PETREL_ERR_RATE_LIMITED, "rate limit exceeded: retry later",
                                p->hdr.command, body);
            return 0;
        }
        return on_read(c, body);
    default:
        conn_send_error(c, PETREL_ERR_UNKNOWN_CMD, "unsupported command", p->hdr.command);
        return 0;
    }
}
