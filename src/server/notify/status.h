/*
 * Device notifications of custom status changes (im/event.h
 * EV_USER_STATUS): USER_CUSTOM_STATUS_CHANGE_NOTIFY 4003 to the user's own
 * devices and to its status peers (friends and live subscribers, through
 * the presence fan-out).
 */
#ifndef PETREL_NOTIFY_STATUS_H
#define PETREL_NOTIFY_STATUS_H

#include "server/im/event.h"

struct server;

/* At start-up (boot).  0, or -1 when the table is full. */
int notify_status_subscribe(events_t *e, struct server *s);

#endif
