/*
 * Device notifications of group messages: the subscriber that turns
 * EV_GROUP_MSG_STORED, EV_GROUP_MSG_RECALLED and EV_GROUP_MSG_READ
 * (im/event.h) into pushes.  Registered once at start-up (app/boot.c).
 */
#ifndef PETREL_NOTIFY_GMSG_H
#define PETREL_NOTIFY_GMSG_H

typedef struct server server_t; /* im/server.h */

/* Subscribe to s->events; 0 or -1 (table full). */
int notify_gmsg_register(server_t *s);

#endif
