/*
 * Device notifications of conversation changes (im/event.h EV_CONV_*):
 * CONVERSATION_DELETE 5000 / CONVERSATION_UPDATE 5001 to every device of
 * the owner, so its other devices follow a pin, mute or delete.
 */
#ifndef PETREL_NOTIFY_CONV_H
#define PETREL_NOTIFY_CONV_H

#include "server/im/event.h"

struct server;

/* At start-up (boot).  0, or -1 when the table is full. */
int notify_conv_subscribe(events_t *e, struct server *s);

#endif
