/*
 * Socket adapters of the group message use cases (cmd_msg.h): MSG_GROUP
 * 2104 -> im_send_group, answered by GROUP_MSG_ACK 2047; MSG_GROUP_READED
 * 2106 -> im_read_group (no answer); MSG_RECALL 1050 with
 * conversationType 1 -> im_recall_group, answered by MSG_RECALL_ACK 1051.
 * Threading as in cmd_msg.c: an answer from the writer thread is posted to
 * the connection's worker (cmd_job.h).
 */
#include "server/gateway/cmd_msg.h"

#include "server/gateway/cmd_job.h"
#include "server/gateway/gateway.h"
#include "server/im/gmsg.h"
#include "server/im/msg.h"
#include "server/im/msg_send.h"

#include <stdlib.h>
#include <string.h>

/* ---- send ---------------------------------------------------------------------- */

typedef struct gsend_job {
    cmd_job_t h; /* first: cmd_job.h */
    store_group_op_t op;
} gsend_job_t;

static void gsend_free(cmd_job_t *h)
{
    gsend_job_t *j = (gsend_job_t *)h;
    gmsg_op_free(&j->op);
    free(j);
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
    if (code != PETREL_OK)
        metrics_error(&c->w->srv->metrics, code);
    cmd_send_obj(c, PETREL_CMD_GROUP_MSG_ACK, o);
}

static void gsend_answer(conn_t *c, cmd_job_t *h)
{
    ack(c, h->r.code, h->r.msg, &((gsend_job_t *)h)->op);
}

static int on_send(conn_t *c, json_t *body)
{
    server_t *s = c->w->srv;
    gsend_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        conn_close(c);
        return -1;
    }
    cmd_job_init(&j->h, c, gsend_answer, gsend_free, 1);
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
        gsend_free(&j->h);
        return 0;
    }
    im_origin_t from = cmd_origin(c);
    if (im_send_group(s, &from, &j->op, cmd_job_done, j))
        conn_op_queued(c); /* j is the writer's now */
    else
        cmd_job_answer_now(c, &j->h);
    return 0;
}

/* ---- read receipts ------------------------------------------------------------- */

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
    im_origin_t from = cmd_origin(c);
    im_read_group(c->w->srv, &from, gid, json_integer_value(seq), NULL, NULL); /* no answer */
    return 0;
}

/* ---- recall --------------------------------------------------------------------- */

typedef struct grecall_job {
    cmd_job_t h; /* first: cmd_job.h */
    store_group_op_t op;
} grecall_job_t;

static void grecall_answer(conn_t *c, cmd_job_t *h)
{
    int code = h->r.code;
    const store_group_op_t *op = &((grecall_job_t *)h)->op;
    json_t *pack = code == PETREL_OK
        ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "fromId", op->from_id, "toId",
                    op->group_id, "groupId", op->group_id, "messageKey",
                    (json_int_t)op->message_key, "messageSequence", (json_int_t)op->recalled_seq,
                    "conversationType", 1)
        : NULL;
    json_t *o = json_pack("{s:i, s:s, s:o?}", "code", code, "msg", h->r.msg, "data", pack);
    cmd_send_obj(c, PETREL_CMD_MSG_RECALL_ACK, o);
}

static void grecall_free(cmd_job_t *h)
{
    store_group_op_clear(&((grecall_job_t *)h)->op);
    free(h);
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
    grecall_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    cmd_job_init(&j->h, c, grecall_answer, grecall_free, 0);
    im_origin_t from = cmd_origin(c);
    if (!im_recall_group(c->w->srv, &from, gid, json_integer_value(key), &j->op, cmd_job_done,
                         j))
        cmd_job_answer_now(c, &j->h);
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
