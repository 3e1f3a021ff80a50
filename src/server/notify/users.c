/*
 * User notifications (users.h), as the REST handlers made them before the
 * events existed:
 *   EV_USER_MODIFIED  4000 {userId, the changed fields} to every device of
 *                     the user; when it forbade the user, then ERROR 61015
 *                     "user forbidden" and the user's sockets close;
 *   EV_USER_DELETED   ERROR 61015 "user deleted" to every device of each
 *                     deleted user, and its sockets close.
 * The operator-state cache was updated by the use case before the event,
 * so a packet racing with the close is refused too.
 */
#include "server/notify/users.h"

#include "server/im/server.h"
#include "server/deliver/deliver.h"
#include "server/im/users.h"

#include <stdlib.h>
#include <string.h>

static void on_modified(server_t *s, const im_event_t *ev, const ev_user_t *p)
{
    const store_user_t *u = p->users;
    json_t *o = users_modified_json(u, p->mask);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (t)
        deliver_user(s->deliver, ev->app_id, u->user_id, PETREL_CMD_USER_MODIFY, t, strlen(t), 0);
    free(t);
    json_decref(o);
    if ((p->mask & STORE_USER_F_FORBIDDEN_FLAG) && u->forbidden_flag)
        deliver_disconnect_user(s->deliver, ev->app_id, u->user_id, PETREL_ERR_USER_FORBIDDEN,
                           "user forbidden");
}

static void on_deleted(server_t *s, const im_event_t *ev, const ev_user_t *p)
{
    /* a deleted user is logged out everywhere */
    for (size_t i = 0; i < p->n; i++)
        if (p->results[i] == 0)
            deliver_disconnect_user(s->deliver, ev->app_id, p->ids[i], PETREL_ERR_USER_FORBIDDEN,
                               "user deleted");
}

static void on_event(void *ctx, const im_event_t *ev)
{
    if (ev->kind == EV_USER_MODIFIED)
        on_modified(ctx, ev, ev->u.user);
    else if (ev->kind == EV_USER_DELETED)
        on_deleted(ctx, ev, ev->u.user);
}

int notify_users_subscribe(events_t *e, server_t *s)
{
    return events_subscribe(e, EV_MASK(EV_USER_MODIFIED) | EV_MASK(EV_USER_DELETED), on_event,
                            s);
}
