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
    /* friendship, blacklist, friend requests and friend lists (im/friends.c,
     * im/friend_requests.c, im/friend_groups.c): u.fr, an ev_friend_t (see
     * below); owner is the user whose rows changed (fromId), res the
     * store's result.  Sequences are per user as in store.h "Friendship". */
    EV_FRIEND_IMPORTED,     /* admin import: owner; rows[n] the items, results[n] (0 imported) */
    EV_FRIEND_ADDED,        /* both directions are friends now (add, friendAllowType 1):
                             * owner the adder, peer; rows[0] the adder's remark,
                             * add_source, extra; wording; res->seq owner's, res->peer_seq
                             * peer's new friendship sequence (0: its row was live) */
    EV_FRIEND_REQUEST,      /* add made or refreshed a request: owner the requester, peer
                             * the addressee; res->request the row, res->seq = its sequence */
    EV_FRIEND_UPDATED,      /* owner -> peer: rows[0] holds the fields in mask
                             * (STORE_FRIEND_F_*); res->seq */
    EV_FRIEND_DELETED,      /* owner and peer are no longer friends (both directions):
                             * res->seq owner's, res->peer_seq peer's (0 untouched) */
    EV_FRIEND_ALL_DELETED,  /* owner ended every friendship: res->peers[res->npeers] (>= 1)
                             * with their new sequences, res->seq owner's last */
    EV_BLACK_ADDED,         /* owner blacklisted peer: res->seq; res->request.id != 0: peer's
                             * pending request to owner, rejected in the same commit */
    EV_BLACK_DELETED,       /* owner took peer off its blacklist: res->seq */
    EV_FRIEND_REQUEST_APPROVED, /* a request was decided: res->request the row (approve_status
                             * 1 agreed, 2 rejected; to_id the addressee = owner, from_id the
                             * requester = peer); agreed: res->seq addressee's, res->peer_seq
                             * requester's new friendship sequence (0 when already) */
    EV_FRIEND_REQUEST_READ, /* owner read every request addressed to it: res->seq the last
                             * request sequence (emitted only when one was unread) */
    EV_FRIEND_GROUP_ADDED,  /* owner's friend list name was created: res->group_id, res->seq;
                             * ids[n] the members asked, results[n] (0 member) */
    EV_FRIEND_GROUP_DELETED,/* owner's lists ids[n] (names): results[n] 0 deleted, seqs[n]
                             * each one's sequence (emitted when one at least was deleted) */
    EV_FRIEND_GROUP_MEMBER_ADDED,   /* list name of owner: ids[n], results[n] (0 member now);
                                     * res->seq, res->group_id (emitted when members changed) */
    EV_FRIEND_GROUP_MEMBER_DELETED, /* same, results[n] 0 removed */
    /* users (im/users.c): u.user, an ev_user_t (see below) */
    EV_USER_IMPORTED,       /* admin import: users[n], results[n] (0 imported; one at least) */
    EV_USER_MODIFIED,       /* users[0] holds the fields in mask (STORE_USER_F_*); mask with
                             * STORE_USER_F_FORBIDDEN_FLAG and forbidden_flag 1: the user is
                             * forbidden from now on (its sockets must close) */
    EV_USER_DELETED,        /* admin soft delete: ids[n], results[n] (0 deleted; one at least) */
    EV_USER_STATUS,         /* u.status: the user's custom status was set (api setUserCustomerStatus) */
    /* online status (im/presence.c): u.presence, an ev_presence_t (see
     * below), emitted on the worker of the device (origin) in this order */
    EV_DEVICE_ONLINE,       /* a device logged in: devices the user's devices now */
    EV_DEVICE_KICKED,       /* that login's policy logged victims[nvictims] out */
    EV_DEVICE_OFFLINE,      /* a device left; devices the ones still online */
    EV_USER_ONLINE,         /* the user's first device: online for its peers (not when it
                             * came back within presence_debounce_ms) */
    EV_USER_OFFLINE,        /* the user's last device left presence_debounce_ms ago (at once
                             * when 0) and none came back: offline for its peers */
    /* conversations (im/conv.c): u.conv, an ev_conv_t (see below) */
    EV_CONV_UPDATED,        /* the owner's isTop / isMute changed */
    EV_CONV_DELETED,        /* the owner deleted a one-to-one conversation */
    /* group management (im/groups.c): u.gop is the committed store op, its
     * group the group after the change, change_seq the change's sequence
     * and ids (nids) everyone the change concerns (the members after it,
     * plus whoever it removed or decided about) */
    EV_GROUP_CREATED,        /* u.gop: what SG_CREATE or SG_IMPORT; members[n] with results[n] */
    EV_GROUP_UPDATED,        /* u.gop: mask the fields set (STORE_GROUP_F_*) */
    EV_GROUP_DESTROYED,      /* u.gop: group.status 2 */
    EV_GROUP_TRANSFERRED,    /* u.gop: group.owner_id the new owner */
    EV_GROUP_MUTED,          /* u.gop: flag 1 muted, 0 unmuted (forbidSendMessage) */
    EV_GROUP_MEMBER_ADDED,   /* u.gop (SG_MEMBER_ADD/IMPORT, SG_APPLY, SG_DECIDE); extra:
                              * const ev_group_joined_t *, who joined, in order */
    EV_GROUP_MEMBER_REMOVED, /* u.gop: what SG_MEMBER_REMOVE or SG_MEMBER_EXIT; member the
                              * row after leaving (ids include it) */
    EV_GROUP_MEMBER_UPDATED, /* u.gop: member after the change, mask (STORE_MEMBER_F_*) */
    EV_GROUP_MEMBER_MUTED,   /* u.gop: member.speak_date muted until (0 unmuted) */
    EV_GROUP_JOIN_REQUEST,   /* u.gop: request the pending request; ids the owner and managers */
    EV_GROUP_JOIN_DECIDED,   /* u.gop: request decided (status 1 approved, 2 rejected); an
                              * approval that made a member is followed by MEMBER_ADDED */
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
        const struct ev_friend *fr;
        const struct ev_user *user;
        const struct ev_conv *conv;
        const struct ev_user_status *status;
        const struct ev_presence *presence;
        const void *any;
    } u;
    const void *extra;       /* kind-specific detail documented at the kind, else NULL */
} im_event_t;

/* Payload of the EV_FRIEND_*, EV_BLACK_* kinds (u.fr); what a kind does
 * not name is NULL, "" or 0.  Valid only during the call. */
typedef struct ev_friend {
    const char *owner;               /* fromId: whose rows changed */
    const char *peer;                /* toId: the other user, "" when none */
    const store_friend_t *rows;      /* see the kind */
    const char *wording;             /* EV_FRIEND_ADDED: the add wording */
    unsigned mask;                   /* EV_FRIEND_UPDATED */
    const char *name;                /* friend-list kinds: the list's name */
    const char *const *ids;          /* friend-list kinds */
    const int *results;              /* per row: 0 done, else why not */
    const int64_t *seqs;             /* EV_FRIEND_GROUP_DELETED */
    size_t n;
    const store_friend_res_t *res;   /* never NULL */
} ev_friend_t;

/* Payload of the EV_USER_* kinds (u.user); valid only during the call. */
typedef struct ev_user {
    const store_user_t *users;       /* IMPORTED users[n]; MODIFIED users[0] */
    const char *const *ids;          /* DELETED */
    const int *results;              /* IMPORTED, DELETED */
    size_t n;
    unsigned mask;                   /* MODIFIED */
} ev_user_t;
/* EV_CONV_* payload (u.conv): the owner's conversation conversation_id
 * (type 0 one-to-one with peer, 1 group peer); is_top / is_mute the values
 * set (-1 untouched); change_seq the conversation's change sequence after
 * the commit. */
typedef struct ev_conv {
    const char *owner, *peer, *conversation_id;
    int type, is_top, is_mute;
    int64_t change_seq;
} ev_conv_t;

/* EV_DEVICE_* and EV_USER_ONLINE/OFFLINE payload (u.presence): the user,
 * the device concerned (EV_USER_OFFLINE: the last one), the devices online
 * now (not for EV_USER_OFFLINE), the login's victims (EV_DEVICE_KICKED);
 * worker: the index of the worker the event is emitted on.  A subscriber
 * may reorder devices (the packs sort them by login time). */
typedef struct ev_presence {
    const char *user_id;
    int client_type;
    const char *imei;
    struct sess_device *devices;
    size_t n;
    const struct sess_device *victims;
    size_t nvictims;
    unsigned worker;
} ev_presence_t;

/* EV_USER_STATUS payload (u.status). */
typedef struct ev_user_status {
    const char *user_id, *text;
    int status;
} ev_user_status_t;

/* EV_GROUP_MEMBER_ADDED's extra: the users who joined by the op. */
typedef struct ev_group_joined {
    const char (*ids)[STORE_ID_MAX + 1];
    size_t n;
} ev_group_joined_t;

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
