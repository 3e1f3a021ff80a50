/*
 * Domain event dispatch (see event.h): a fixed table of subscribers written
 * at start-up and read without a lock afterwards, and a relaxed counter per
 * kind.
 */
#include "server/im/event.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct sub {
    uint64_t mask;
    ev_fn fn;
    void *ctx;
} sub_t;

struct events {
    sub_t subs[EVENTS_MAX];
    size_t n;
    atomic_uint_fast64_t count[EV_KIND_COUNT];
};

_Static_assert(EV_KIND_COUNT <= 64, "event kinds must fit the 64-bit subscription mask");

events_t *events_new(void)
{
    return calloc(1, sizeof(events_t));
}

void events_free(events_t *e)
{
    free(e);
}

int events_subscribe(events_t *e, uint64_t mask, ev_fn fn, void *ctx)
{
    if (!e || !fn || e->n >= EVENTS_MAX)
        return -1;
    e->subs[e->n++] = (sub_t){ mask, fn, ctx };
    return 0;
}

void events_emit(events_t *e, const im_event_t *ev)
{
    if (!e || !ev || ev->kind <= EV_NONE || ev->kind >= EV_KIND_COUNT)
        return;
    atomic_fetch_add_explicit(&e->count[ev->kind], 1, memory_order_relaxed);
    uint64_t bit = EV_MASK(ev->kind);
    for (size_t i = 0; i < e->n; i++)
        if (e->subs[i].mask & bit)
            e->subs[i].fn(e->subs[i].ctx, ev);
}

uint64_t events_count(const events_t *e, ev_kind_t k)
{
    if (!e || k <= EV_NONE || k >= EV_KIND_COUNT)
        return 0;
    return atomic_load_explicit(&e->count[k], memory_order_relaxed);
}

const char *ev_kind_name(ev_kind_t k)
{
    switch (k) {
    case EV_MSG_STORED: return "msg.stored";
    case EV_MSG_RECALLED: return "msg.recalled";
    case EV_MSG_READ: return "msg.read";
    case EV_GROUP_MSG_STORED: return "group.msg.stored";
    case EV_GROUP_MSG_RECALLED: return "group.msg.recalled";
    case EV_GROUP_MSG_READ: return "group.msg.read";
    case EV_FRIEND_IMPORTED: return "friend.imported";
    case EV_FRIEND_ADDED: return "friend.added";
    case EV_FRIEND_REQUEST: return "friend.request";
    case EV_FRIEND_UPDATED: return "friend.updated";
    case EV_FRIEND_DELETED: return "friend.deleted";
    case EV_FRIEND_ALL_DELETED: return "friend.all_deleted";
    case EV_BLACK_ADDED: return "black.added";
    case EV_BLACK_DELETED: return "black.deleted";
    case EV_FRIEND_REQUEST_APPROVED: return "friend.request.approved";
    case EV_FRIEND_REQUEST_READ: return "friend.request.read";
    case EV_FRIEND_GROUP_ADDED: return "friend.group.added";
    case EV_FRIEND_GROUP_DELETED: return "friend.group.deleted";
    case EV_FRIEND_GROUP_MEMBER_ADDED: return "friend.group.member.added";
    case EV_FRIEND_GROUP_MEMBER_DELETED: return "friend.group.member.deleted";
    case EV_USER_IMPORTED: return "user.imported";
    case EV_USER_MODIFIED: return "user.modified";
    case EV_USER_DELETED: return "user.deleted";
    case EV_USER_STATUS: return "user.status";
    case EV_DEVICE_ONLINE: return "device.online";
    case EV_DEVICE_KICKED: return "device.kicked";
    case EV_DEVICE_OFFLINE: return "device.offline";
    case EV_USER_ONLINE: return "user.online";
    case EV_USER_OFFLINE: return "user.offline";
    case EV_CONV_UPDATED: return "conversation.updated";
    case EV_CONV_DELETED: return "conversation.deleted";
    case EV_GROUP_CREATED: return "group.created";
    case EV_GROUP_UPDATED: return "group.updated";
    case EV_GROUP_DESTROYED: return "group.destroyed";
    case EV_GROUP_TRANSFERRED: return "group.transferred";
    case EV_GROUP_MUTED: return "group.muted";
    case EV_GROUP_MEMBER_ADDED: return "group.member.added";
    case EV_GROUP_MEMBER_REMOVED: return "group.member.removed";
    case EV_GROUP_MEMBER_UPDATED: return "group.member.updated";
    case EV_GROUP_MEMBER_MUTED: return "group.member.muted";
    case EV_GROUP_JOIN_REQUEST: return "group.join.requested";
    case EV_GROUP_JOIN_DECIDED: return "group.join.decided";
    case EV_NONE:
    case EV_KIND_COUNT: break;
    }
    return "none";
}
