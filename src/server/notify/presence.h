/*
 * Device notifications of online status (im/event.h EV_DEVICE_*,
 * EV_USER_ONLINE/OFFLINE): USER_ONLINE_STATUS_CHANGE_NOTIFY_SYNC 4005 to the
 * user's other devices when one logs in or out, the login policy's kicks
 * (MUTUALLOGIN 9002, then closed), and USER_ONLINE_STATUS_CHANGE_NOTIFY
 * 4004 to the user's status peers (friends and subscribers) when the user
 * comes online or goes offline.
 */
#ifndef PETREL_NOTIFY_PRESENCE_H
#define PETREL_NOTIFY_PRESENCE_H

#include "server/im/event.h"

struct server;

/* At start-up (boot).  0, or -1 when the table is full. */
int notify_presence_subscribe(events_t *e, struct server *s);

#endif
