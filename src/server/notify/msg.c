/*
 * One-to-one message notifications (see msg.h).  Every handler runs on the
 * emitting thread, the store's writer after the commit, in commit order, so
 * every device's inbox receives a conversation's pushes in sequence order:
 *   EV_MSG_STORED    1103 to the receiver's devices, 1108 to the sender's
 *                    other devices (the content rendered ahead by the use
 *                    case, only the commit's numbers spliced in here);
 *   EV_MSG_RECALLED  1055 to the requester's other devices, 1052 to the
 *                    other party (both parties when an admin recalled);
 *   EV_MSG_READ      1053 to the reader's other devices, 1054 to the peer.
 * Delivery goes through deliver/ (deliver_user).
 */
#include "server/notify/msg.h"

#include "server/core/jtmpl.h"
#include "server/im/server.h"
#include "server/deliver/deliver.h"
#include "server/im/event.h"
#include "server/im/msg.h"

#include <stdlib.h>
#include <string.h>

/* The 1103 to the receiver's devices, the 1108 to the sender's others.
 * In cluster mode the receiver's devices are looked up on the delivery
 * thread, which also sends the socket sender the server-made 1107 when
 * none was reached (so the count returned is only "handed over"); on one
 * node the count goes back to the sender's gateway, which sends it. */
/* deliver_else_fn: the 1107 text from a copy of the message's numbers and
 * ids (body and extra are not copied: the receipt does not carry them). */
static char *receipt_text(const void *arg)
{
    json_t *o = msg_server_receipt_json(arg);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

static size_t push_text(server_t *s, const store_msg_t *m, const char *txt, size_t len,
                        uint64_t except_conn)
{
    size_t reached = 1;
    if (deliver_deferred(s->deliver)) {
        store_msg_t ids = *m;
        ids.body = ids.extra = NULL;
        deliver_user_else(s->deliver, m->app_id, m->to_id, PETREL_CMD_MSG_P2P, txt, len, 0,
                          except_conn, PETREL_CMD_MSG_RECEIVE_ACK, receipt_text, &ids,
                          sizeof ids);
    } else {
        reached = deliver_user(s->deliver, m->app_id, m->to_id, PETREL_CMD_MSG_P2P, txt, len, 0);
    }
    deliver_user(s->deliver, m->app_id, m->from_id, PETREL_CMD_MSG_P2P_SYNC, txt, len, except_conn);
    return reached;
}

static void on_stored(server_t *s, const im_event_t *ev)
{
    const store_msg_t *m = ev->u.msg;
    const ev_msg_stored_t *d = ev->extra;
    size_t len = 0, reached = 0;
    char *txt = NULL;
    if (d && d->push) {
        int64_t v[3] = {m->message_key, m->sequence, m->created_at};
        txt = jtmpl_fill(d->push, v, &len);
    }
    if (!txt) { /* no template (allocation failure): render it here */
        json_t *o = msg_content_json(m, ev->origin.client_type, ev->origin.imei);
        txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        len = txt ? strlen(txt) : 0;
    }
    if (txt)
        reached = push_text(s, m, txt, len, ev->origin.conn_id);
    free(txt);
    if (d && d->reached)
        *d->reached += reached;
}

static void on_recalled(server_t *s, const im_event_t *ev)
{
    const store_recall_t *r = ev->u.recall;
    const int64_t *key = ev->extra;
    json_t *pack = json_pack("{s:s, s:s, s:I, s:I, s:i}", "fromId", r->from_id, "toId", r->to_id,
                             "messageKey", (json_int_t)(key ? *key : 0), "messageSequence",
                             (json_int_t)r->sequence, "conversationType", 0);
    char *txt = pack ? json_dumps(pack, JSON_COMPACT) : NULL;
    json_decref(pack);
    if (!txt)
        return;
    size_t n = strlen(txt);
    deliver_user(s->deliver, ev->app_id, ev->actor, PETREL_CMD_MSG_RECALL_SYNC, txt, n, ev->origin.conn_id);
    if (strcmp(r->from_id, ev->actor))
        deliver_user(s->deliver, ev->app_id, r->from_id, PETREL_CMD_MSG_RECALL_NOTIFY, txt, n, 0);
    if (strcmp(r->to_id, ev->actor))
        deliver_user(s->deliver, ev->app_id, r->to_id, PETREL_CMD_MSG_RECALL_NOTIFY, txt, n, 0);
    free(txt);
}

static void on_read(server_t *s, const im_event_t *ev)
{
    const ev_msg_read_t *rd = ev->u.read;
    json_t *o = json_pack("{s:I, s:s, s:s, s:i}", "messageSequence", (json_int_t)rd->sequence,
                          "fromId", ev->actor, "toId", rd->peer, "conversationType", 0);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt)
        return;
    deliver_user(s->deliver, ev->app_id, ev->actor, PETREL_CMD_MSG_READED_NOTIFY, txt, strlen(txt),
                 ev->origin.conn_id);
    deliver_user(s->deliver, ev->app_id, rd->peer, PETREL_CMD_MSG_READED_RECEIPT, txt, strlen(txt), 0);
    free(txt);
}

static void on_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    switch (ev->kind) {
    case EV_MSG_STORED: on_stored(s, ev); break;
    case EV_MSG_RECALLED: on_recalled(s, ev); break;
    case EV_MSG_READ: on_read(s, ev); break;
    default: break;
    }
}

int notify_msg_register(server_t *s)
{
    return events_subscribe(s->events,
                            EV_MASK(EV_MSG_STORED) | EV_MASK(EV_MSG_RECALLED) |
                                EV_MASK(EV_MSG_READ),
                            on_event, s);
}
