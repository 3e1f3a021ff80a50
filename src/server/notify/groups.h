/*
 * Group notifications: the subscriber that turns the group management
 * events (im/event.h EV_GROUP_*, emitted by im/groups.c) into the 2000-range
 * device pushes (PETREL_CMD_CREATED_GROUP ... JOIN_GROUP), queued in
 * commit order on the ordered group push queue (deliver/deliver.h).
 */
#ifndef PETREL_NOTIFY_GROUPS_H
#define PETREL_NOTIFY_GROUPS_H

#include <stddef.h>

#include "server/im/event.h"
#include "server/store/store.h"

struct server;

/* Subscribe to the group events of events; pushes go through s.  At
 * start-up (boot).  0, or -1 when the table is full. */
int notify_groups_subscribe(events_t *events, struct server *s);

/* One push: command cmd with json (malloc'ed) to the devices of ids[0..n). */
typedef struct notify_push {
    int cmd;
    char *json;
    const char (*ids)[STORE_ID_MAX + 1];
    size_t n;
} notify_push_t;

/* Pure: the push of a group event into *out (free out->json); 1, or 0
 * when the event pushes nothing (another kind, or out of memory). */
int notify_group_push(const im_event_t *ev, notify_push_t *out);

#endif
