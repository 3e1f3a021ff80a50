/*
 * Online status notifications (presence.h).  The events are emitted on the
 * device's worker (ev_presence_t.worker), so the kick of victims on that
 * worker happens at once and the peer fan-out starts there without another
 * inbox hop (presence_fanout_here).
 */
#include "server/notify/presence.h"

#include "server/deliver/deliver.h"
#include "server/im/presence.h"
#include "server/im/server.h"

#include <stdlib.h>
#include <string.h>

/* 4005 to the user's other devices: status 1 (a device came) or 2 (left). */
static void tell_devices(server_t *s, const im_event_t *ev, const ev_presence_t *p, int status)
{
    int others = status == 1 ? p->n > 1 : p->n > 0;
    if (!others)
        return;
    char *pack = presence_pack(ev->app_id, p->user_id, status, p->client_type, p->imei,
                               p->devices, p->n);
    if (pack)
        deliver_user(s->deliver, ev->app_id, p->user_id,
                     PETREL_CMD_USER_ONLINE_STATUS_CHANGE_NOTIFY_SYNC, pack, strlen(pack),
                     ev->origin.conn_id);
    free(pack);
}

/* 4004 to friends and subscribers: no device ids. */
static void tell_peers(server_t *s, const im_event_t *ev, const ev_presence_t *p, int status)
{
    char *pack = presence_pack(ev->app_id, p->user_id, status, p->client_type, NULL, p->devices,
                               p->n);
    if (pack)
        presence_fanout_here(s, p->worker, ev->app_id, p->user_id,
                             PETREL_CMD_USER_ONLINE_STATUS_CHANGE_NOTIFY, pack, strlen(pack));
    free(pack);
}

static void on_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    const ev_presence_t *p = ev->u.presence;
    switch (ev->kind) {
    case EV_DEVICE_ONLINE:
        tell_devices(s, ev, p, 1);
        break;
    case EV_DEVICE_OFFLINE:
        tell_devices(s, ev, p, 2);
        break;
    case EV_DEVICE_KICKED:
        if (p->worker < s->nworkers)
            deliver_kick(s->deliver, &s->workers[p->worker], p->victims, p->nvictims,
                         p->client_type, p->imei);
        break;
    case EV_USER_ONLINE:
        tell_peers(s, ev, p, 1);
        break;
    case EV_USER_OFFLINE:
        tell_peers(s, ev, p, 2);
        break;
    default:
        break;
    }
}

int notify_presence_subscribe(events_t *e, server_t *s)
{
    return events_subscribe(e,
                            EV_MASK(EV_DEVICE_ONLINE) | EV_MASK(EV_DEVICE_OFFLINE) |
                                EV_MASK(EV_DEVICE_KICKED) | EV_MASK(EV_USER_ONLINE) |
                                EV_MASK(EV_USER_OFFLINE),
                            on_event, s);
}
