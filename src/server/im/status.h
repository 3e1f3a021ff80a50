/*
 * Custom status use case, transport-free: a user sets its own custom text
 * and number (REST setUserCustomerStatus today).  After the commit it emits
 * EV_USER_STATUS (im/event.h); notify/status.c tells the user's devices
 * and its status peers (friends and subscribers).
 */
#ifndef PETREL_IM_STATUS_H
#define PETREL_IM_STATUS_H

#include <stdint.h>

#include "server/store/store.h"

typedef struct server server_t; /* im/server.h */

typedef struct im_status_set {
    int32_t app_id;
    char user[STORE_ID_MAX + 1];
    char text[STORE_STATUS_TEXT_MAX + 1];
    int status;
} im_status_set_t;

/* done(arg, rc, st) on the store writer's thread after the commit (rc 0,
 * STORE_ENOTFOUND, a store error), after the event.  The caller owns st
 * until done.  0 queued, or a store error (STORE_EINVAL: bad input; done
 * not called). */
typedef void (*im_status_done_fn)(void *arg, int rc, im_status_set_t *st);
int im_status_set(server_t *s, im_status_set_t *st, im_status_done_fn done, void *arg);

#endif
