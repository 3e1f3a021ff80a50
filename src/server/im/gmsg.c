/*
 * Group message rules shared by every transport (see gmsg.h): parsing of a
 * send, the pushed content and the history row of a group message.  The
 * use cases are in gmsg_send.c, the socket commands in gateway/cmd_gmsg.c,
 * the pushes in notify/gmsg.c.
 */
#include "server/im/gmsg.h"

#include "server/im/msg.h"

#include <stdlib.h>
#include <string.h>

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
