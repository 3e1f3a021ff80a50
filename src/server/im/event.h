/*
 * Domain events: every committed change of IM state is announced once, after
 * its commit, as one im_event_t, and whoever cares subscribes.  Device
 * notifications (notify/), and later webhooks, the assistant and cluster
 * delivery, are subscribers; a use case (im/) never calls them by name.
 *
 * Contract:
 *   - Subscriptions are made at start-up (boot), before any event is
 *     emitted; after that the table is read-only, so emitting takes no lock.
 *   - events_emit() calls the subscribers of the event's kind in order of
 *     subscription, synchronously, on the emitting thread: the store
 *     writer's completion callback (after COMMIT) or a worker loop.  A
 *     subscriber must not block: it copies what it needs and posts work
 *     elsewhere (a worker inbox, a queue).  The event and everything it
 *     points to are valid only during the call.
 *   - An event describes what was committed, not what was asked: a refused
 *     or duplicate operation emits nothing.
 *
 * Payloads are the store's own result records (the committed row, with its
 * sequence and key), so a subscriber sees exactly what was stored.
 */
#ifndef PETREL_IM_EVENT_H
#define PETREL_IM_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "server/store/store.h"

typedef enum ev_kind {
    EV_NONE = 0,
    /* messages */
    EV_MSG_STORED,          /* u.msg: a one-to-one message was stored (not a duplicate);
                             * extra: ev_msg_stored_t */
    EV_MSG_RECALLED,        /* u.recall; extra: the recalled messageKey (const int64_t *) */
    EV_MSG_READ,            /* u.read: the actor's read sequence with u.read->peer moved */
    EV_GROUP_MSG_STORED,    /* u.gop (SG_MSG, not a duplicate) */
    EV_GROUP_MSG_RECALLED,  /* u.gop (SG_RECALL: from_id, message_key, recalled_seq) */
    EV_GROUP_MSG_READ,      /* u.gop (SG_READ, changed: member.read_seq, from_id) */
    /* further kinds are added next to the use case that emits them */
    EV_KIND_COUNT
} ev_kind_t;

/* The device a change came from: sync copies go to the actor's other
 * devices (not to conn_id), with its client type and imei. */
typedef struct ev_origin {
    int client_type;
    const char *imei;        /* may be "" */
    uint64_t conn_id;        /* 0 when the change came from REST or the system */
} ev_origin_t;

struct jtmpl;

/* EV_MSG_STORED detail.  push: the pushed content rendered ahead on the
 * sender's thread with gaps for messageKey, messageSequence and serverTime
 * (core/jtmpl.h), so that the writer thread only splices numbers in; NULL
 * or empty when it could not be made (render it from u.msg).  reached: when
 * not NULL, the delivery subscriber adds the receiver's devices it pushed
 * to (the socket's server-made 1107 when none). */
typedef struct ev_msg_stored {
    const struct jtmpl *push;
    size_t *reached;
} ev_msg_stored_t;

/* EV_MSG_READ payload: the actor read the conversation with peer up to
 * sequence. */
typedef struct ev_msg_read {
    const char *peer;
    int64_t sequence;
} ev_msg_read_t;

typedef struct im_event {
    ev_kind_t kind;
    int32_t app_id;
    const char *actor;       /* the user who made the change ("" for the admin/system) */
    ev_origin_t origin;
    int64_t time_ms;         /* server time of the commit (epoch ms) */
    union {
        const struct store_msg *msg;
        const struct store_recall *recall;
        const struct ev_msg_read *read;
        const struct store_group_op *gop;
        const void *any;
    } u;
    const void *extra;       /* kind-specific detail documented at the kind, else NULL */
} im_event_t;

typedef void (*ev_fn)(void *ctx, const im_event_t *ev);

typedef struct events events_t;

events_t *events_new(void);
void events_free(events_t *e);   /* safe on NULL */

/* Call fn(ctx, ev) for every event whose kind is in mask (EV_MASK bits).
 * At start-up only.  0, or -1 when the table is full (EVENTS_MAX). */
#define EVENTS_MAX 32
#define EV_MASK(k) (1ull << (k))
#define EV_MASK_ALL (~0ull)
int events_subscribe(events_t *e, uint64_t mask, ev_fn fn, void *ctx);

/* Announce ev to its subscribers (see the contract above).  Safe on a NULL
 * table (no subscribers).  Counts every kind emitted. */
void events_emit(events_t *e, const im_event_t *ev);

/* Events of kind k emitted since start (relaxed; metrics and tests). */
uint64_t events_count(const events_t *e, ev_kind_t k);

/* A kind's stable name, for logs and metrics ("msg.stored", ...). */
const char *ev_kind_name(ev_kind_t k);

#endif
