/*
 * Device notifications of user changes (im/event.h EV_USER_*): USER_MODIFY
 * 4000 to the user's devices, and closing the sockets of a user who was
 * forbidden or deleted.
 */
#ifndef PETREL_NOTIFY_USERS_H
#define PETREL_NOTIFY_USERS_H

#include "server/im/event.h"

struct server;

/* Subscribe the user notifications to e; they push through s.  At
 * start-up (boot).  0, or -1 when the table is full. */
int notify_users_subscribe(events_t *e, struct server *s);

#endif
