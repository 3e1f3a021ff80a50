/*
 * Group message notifications (see gmsg.h), on the emitting thread (the
 * store's writer after the commit, in commit order):
 *   EV_GROUP_MSG_STORED    one queued group push (deliver/deliver.h): 2104 to
 *                          every other member who may read it, 2105 to the
 *                          sender's other devices; the member list is looked
 *                          up by the push thread, never put into the message;
 *   EV_GROUP_MSG_RECALLED  1052 to the members who could read it, 1055 to
 *                          the requester's other devices (queued likewise);
 *   EV_GROUP_MSG_READ      2053 to the reader's other devices, 2054 to the
 *                          sender of the last message read.
 * Delivery goes through deliver/ (deliver_group, deliver_user).
 */
#include "server/notify/gmsg.h"

#include "server/im/server.h"
#include "server/deliver/deliver.h"
#include "server/im/event.h"
#include "server/im/gmsg.h"

#include <stdlib.h>
#include <string.h>

static void on_stored(server_t *s, const im_event_t *ev)
{
    const store_group_op_t *op = ev->u.gop;
    json_t *o = gmsg_content_json(op, ev->origin.client_type, ev->origin.imei);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt)
        deliver_group(s->deliver, op->app_id, op->group_id, op->msg.sequence, PETREL_CMD_MSG_GROUP, txt,
                    op->operator_id, PETREL_CMD_MSG_GROUP_SYNC, ev->origin.conn_id);
    free(txt);
}

static void on_recalled(server_t *s, const im_event_t *ev)
{
    const store_group_op_t *op = ev->u.gop;
    json_t *pack = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "fromId", op->from_id, "toId",
                             op->group_id, "groupId", op->group_id, "messageKey",
                             (json_int_t)op->message_key, "messageSequence",
                             (json_int_t)op->recalled_seq, "conversationType", 1);
    char *txt = pack ? json_dumps(pack, JSON_COMPACT) : NULL;
    json_decref(pack);
    if (txt)
        deliver_group(s->deliver, op->app_id, op->group_id, op->recalled_seq, PETREL_CMD_MSG_RECALL_NOTIFY,
                    txt, op->operator_id, PETREL_CMD_MSG_RECALL_SYNC, ev->origin.conn_id);
    free(txt);
}

static void on_read(server_t *s, const im_event_t *ev)
{
    const store_group_op_t *op = ev->u.gop;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:i}", "messageSequence",
                          (json_int_t)op->member.read_seq, "fromId", op->operator_id, "toId",
                          op->from_id, "groupId", op->group_id, "conversationType", 1);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt)
        return;
    deliver_user(s->deliver, op->app_id, op->operator_id, PETREL_CMD_MSG_GROUP_READED_NOTIFY, txt,
                 strlen(txt), ev->origin.conn_id);
    if (op->from_id[0] && strcmp(op->from_id, op->operator_id))
        deliver_user(s->deliver, op->app_id, op->from_id, PETREL_CMD_MSG_GROUP_READED_RECEIPT, txt,
                     strlen(txt), 0);
    free(txt);
}

static void on_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    switch (ev->kind) {
    case EV_GROUP_MSG_STORED: on_stored(s, ev); break;
    case EV_GROUP_MSG_RECALLED: on_recalled(s, ev); break;
    case EV_GROUP_MSG_READ: on_read(s, ev); break;
    default: break;
    }
}

int notify_gmsg_register(server_t *s)
{
    return events_subscribe(s->events,
                            EV_MASK(EV_GROUP_MSG_STORED) | EV_MASK(EV_GROUP_MSG_RECALLED) |
                                EV_MASK(EV_GROUP_MSG_READ),
                            on_event, s);
}
