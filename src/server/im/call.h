/*
 * Who asks a use case of im/ (friends.h, users.h), and with what: the
 * store and event table it works with, the app, the verified operator and
 * whether it is the app admin (who may act for any user of the app), and
 * the device the request came from ({0} for REST).  The use cases copy
 * what they keep; nothing here is owned.
 */
#ifndef PETREL_IM_CALL_H
#define PETREL_IM_CALL_H

#include "petrel/errors.h"
#include <stdint.h>

#include "server/im/event.h"
#include "server/store/store.h"

struct ustate;

typedef struct im_call {
    store_t *store;
    events_t *events;
    struct ustate *ustate;   /* users: the operator-state cache (ustate.h) */
    int32_t app_id;
    const char *op;          /* the verified operator's identifier */
    int is_admin;            /* op is the app's admin */
    ev_origin_t origin;      /* imei may be NULL (= "") */
} im_call_t;

/* A use case's refusal of its operator before anything is submitted: it
 * acts for another user (or calls an admin-only use case) without being
 * the app admin.  The same number as REST's 60006 and the socket's
 * refusals of a body naming another user. */
#define IM_ERR_NOT_OPERATOR PETREL_ERR_NOT_OPERATOR

/* The operator rule: 1 when op may act for user (itself, or the app
 * admin), else 0. */
static inline int im_may_act(const char *op, int is_admin, const char *user)
{
    if (is_admin)
        return 1;
    if (!op || !user)
        return 0;
    while (*op && *op == *user)
        op++, user++;
    return *op == *user;
}

#endif
