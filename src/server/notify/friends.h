/*
 * Device notifications of friendship changes: the 3xxx pushes of seed
 * inventory §2.4, made from the domain events (im/event.h EV_FRIEND_*,
 * EV_BLACK_*) instead of by each REST handler.
 */
#ifndef PETREL_NOTIFY_FRIENDS_H
#define PETREL_NOTIFY_FRIENDS_H

#include "server/im/event.h"

struct server;

/* Subscribe the friendship notifications to e; they push through s.  At
 * start-up (boot).  0, or -1 when the table is full. */
int notify_friends_subscribe(events_t *e, struct server *s);

#endif
