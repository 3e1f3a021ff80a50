/*
 * Custom status notifications (status.h).  The peer fan-out looks the
 * peers up on a worker's thread pool (presence_fanout); the worker is
 * picked by the user so one user's changes keep their order.
 */
#include "server/notify/status.h"

#include "server/core/umap.h"
#include "server/deliver/deliver.h"
#include "server/im/presence.h"
#include "server/im/server.h"

#include <stdlib.h>
#include <string.h>

static void on_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    const ev_user_status_t *st = ev->u.status;
    json_t *o = json_pack("{s:s, s:s, s:i}", "userId", st->user_id, "customText", st->text,
                          "customStatus", st->status);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!t)
        return;
    size_t len = strlen(t);
    deliver_user(s->deliver, ev->app_id, st->user_id, PETREL_CMD_USER_CUSTOM_STATUS_CHANGE_NOTIFY,
                 t, len, 0);
    uint32_t h = umap_hash(ev->app_id, st->user_id);
    presence_fanout(s, s->nworkers ? h % s->nworkers : 0, ev->app_id, st->user_id,
                    PETREL_CMD_USER_CUSTOM_STATUS_CHANGE_NOTIFY, t, len);
    free(t);
}

int notify_status_subscribe(events_t *e, server_t *s)
{
    return events_subscribe(e, EV_MASK(EV_USER_STATUS), on_event, s);
}
