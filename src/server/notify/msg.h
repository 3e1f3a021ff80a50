/*
 * Device notifications of one-to-one messages: the subscribers that turn
 * EV_MSG_STORED, EV_MSG_RECALLED and EV_MSG_READ (im/event.h) into pushes
 * to the users' online devices.  Registered once at start-up (app/boot.c).
 */
#ifndef PETREL_NOTIFY_MSG_H
#define PETREL_NOTIFY_MSG_H

typedef struct server server_t; /* im/server.h */

/* Subscribe to s->events; 0 or -1 (table full). */
int notify_msg_register(server_t *s);

#endif
