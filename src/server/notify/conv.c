/*
 * Conversation notifications (conv.h): the JSON of im_conv_json, the same
 * the REST answer carries, to every device of the owner.
 */
#include "server/notify/conv.h"

#include "server/deliver/deliver.h"
#include "server/im/conv.h"
#include "server/im/server.h"

#include <stdlib.h>
#include <string.h>

static void on_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    const ev_conv_t *c = ev->u.conv;
    int del = ev->kind == EV_CONV_DELETED;
    json_t *o = im_conv_json(c, del);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (t)
        deliver_user(s->deliver, ev->app_id, c->owner,
                     del ? PETREL_CMD_CONVERSATION_DELETE : PETREL_CMD_CONVERSATION_UPDATE, t,
                     strlen(t), 0);
    free(t);
    json_decref(o);
}

int notify_conv_subscribe(events_t *e, server_t *s)
{
    return events_subscribe(e, EV_MASK(EV_CONV_UPDATED) | EV_MASK(EV_CONV_DELETED), on_event, s);
}
