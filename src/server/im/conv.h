/*
 * Conversation use cases, transport-free: a user pins / mutes one of its
 * conversations or deletes a one-to-one one (REST conversation/update and
 * conversation/delete today).  After the commit the use case emits
 * EV_CONV_UPDATED or EV_CONV_DELETED (im/event.h); notify/conv.c tells the
 * owner's devices.
 */
#ifndef PETREL_IM_CONV_H
#define PETREL_IM_CONV_H

#include <jansson.h>
#include <stdint.h>

#include "server/im/event.h"
#include "server/store/store.h"

typedef struct server server_t; /* im/server.h */

/* What the owner changes: the conversation id is "<type>_<owner>_<peer>"
 * (parsed by the caller); is_top / is_mute 0/1 or -1 to keep; del 1 deletes
 * (one-to-one only). */
typedef struct im_conv_change {
    int32_t app_id;
    char owner[STORE_ID_MAX + 1], peer[STORE_ID_MAX + 1];
    char conversation_id[2 * STORE_ID_MAX + 8];
    int type, is_top, is_mute, del;
    int64_t change_seq;    /* out: after the commit */
} im_conv_change_t;

/* done(arg, rc, chg) on the store writer's thread after the commit (rc 0,
 * STORE_ENOTFOUND, or a store error), after the event.  The caller owns
 * chg until done.  0 queued, or a store error (done not called). */
typedef void (*im_conv_done_fn)(void *arg, int rc, im_conv_change_t *chg);
int im_conv_change(server_t *s, im_conv_change_t *chg, im_conv_done_fn done, void *arg);

/* The change as the owner's devices and the REST answer show it:
 * {conversationId, sequence} for a delete, with conversationType and the
 * isTop / isMute set for an update.  New reference, NULL on OOM. */
json_t *im_conv_json(const ev_conv_t *c, int del);

#endif
