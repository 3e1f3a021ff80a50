/*
 * Conversation use cases (see conv.h): one store op, then one event.
 */
#include "server/im/conv.h"

#include "server/im/server.h"

#include <stdlib.h>

typedef struct conv_job {
    server_t *s;
    im_conv_change_t *chg;
    im_conv_done_fn done;
    void *arg;
} conv_job_t;

json_t *im_conv_json(const ev_conv_t *c, int del)
{
    if (del)
        return json_pack("{s:s, s:I}", "conversationId", c->conversation_id, "sequence",
                         (json_int_t)c->change_seq);
    json_t *o = json_pack("{s:s, s:i, s:I}", "conversationId", c->conversation_id,
                          "conversationType", c->type, "sequence", (json_int_t)c->change_seq);
    if (o && c->is_top >= 0)
        json_object_set_new(o, "isTop", json_integer(c->is_top));
    if (o && c->is_mute >= 0)
        json_object_set_new(o, "isMute", json_integer(c->is_mute));
    return o;
}

/* Writer thread, after the commit. */
static void changed(void *arg, int rc)
{
    conv_job_t *j = arg;
    im_conv_change_t *c = j->chg;
    if (rc == 0) {
        ev_conv_t d = {c->owner, c->peer, c->conversation_id, c->type, c->is_top, c->is_mute,
                       c->change_seq};
        im_event_t ev = {.kind = c->del ? EV_CONV_DELETED : EV_CONV_UPDATED,
                         .app_id = c->app_id, .actor = c->owner, .time_ms = now_ms(),
                         .u.conv = &d};
        events_emit(j->s->events, &ev);
    }
    j->done(j->arg, rc, c);
    free(j);
}

int im_conv_change(server_t *s, im_conv_change_t *chg, im_conv_done_fn done, void *arg)
{
    conv_job_t *j = malloc(sizeof *j);
    if (!j)
        return STORE_EIO; /* out of memory: the caller answers as for a store failure */
    *j = (conv_job_t){s, chg, done, arg};
    int rc = store_conv_update(s->store, chg->app_id, chg->owner, chg->peer, chg->type,
                               chg->is_top, chg->is_mute, chg->del ? 1 : -1, &chg->change_seq,
                               changed, j);
    if (rc < 0)
        free(j);
    return rc;
}
