/*
 * Friendship notifications (friends.h): each event becomes the pushes a
 * device needs to stay in sync, to the same users with the same command
 * and JSON as the REST handlers pushed before the events existed:
 *   3000 FRIEND_ADD            both parties (the adder's remark to the adder only)
 *   3001 FRIEND_UPDATE         the owner
 *   3002 FRIEND_DELETE         both parties, each with its own sequence
 *   3003 FRIEND_REQUEST        the addressee (no remark: the requester's note)
 *   3004 FRIEND_REQUEST_READ   the addressee
 *   3005 FRIEND_REQUEST_APPROVER the addressee (also when addBlack rejected a
 *                              pending request: the blacklister only)
 *   3010/3011 FRIEND_BLACK_ADD/DELETE, 3012-3015 FRIEND_GROUP_*, 3016
 *                              FRIEND_ALL_DELETE (and 3002 to each former friend):
 *                              the owner.
 * "The owner's devices" are all of them for a REST change (origin.conn_id
 * 0); a change made from a device skips that device.
 */
#include "server/notify/friends.h"

#include "server/im/server.h"
#include "server/deliver/deliver.h"
#include "server/im/friends.h"

#include <stdlib.h>
#include <string.h>

/* Push o (not consumed) to the devices of user. */
static void push(server_t *s, const im_event_t *ev, const char *user, int cmd, json_t *o)
{
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    uint64_t except = ev->origin.conn_id && !strcmp(user, ev->actor) ? ev->origin.conn_id : 0;
    if (t)
        deliver_user(s->deliver, ev->app_id, user, cmd, t, strlen(t), except);
    free(t);
}

static void push_new(server_t *s, const im_event_t *ev, const char *user, int cmd, json_t *o)
{
    push(s, ev, user, cmd, o);
    json_decref(o);
}

/* 3000 to user: the AddFriendPack with user's sequence. */
static void push_add(server_t *s, const im_event_t *ev, const char *user, const char *from,
                     const char *to, const char *remark, const char *source,
                     const char *wording, int64_t seq)
{
    push_new(s, ev, user, PETREL_CMD_FRIEND_ADD,
             friends_add_json(user, from, to, remark, source, wording, seq));
}

static void on_added(server_t *s, const im_event_t *ev, const ev_friend_t *p)
{
    const store_friend_t *f = p->rows;
    push_add(s, ev, p->owner, p->owner, p->peer, f->remark, f->add_source, p->wording,
             p->res->seq);
    push_add(s, ev, p->peer, p->owner, p->peer, f->remark, f->add_source, p->wording,
             p->res->peer_seq);
}

static void on_approved(server_t *s, const im_event_t *ev, const ev_friend_t *p)
{
    const store_friend_request_t *r = &p->res->request;
    push_new(s, ev, r->to_id, PETREL_CMD_FRIEND_REQUEST_APPROVER, friends_decision_json(r));
    if (r->approve_status == 1) {
        push_add(s, ev, r->from_id, r->from_id, r->to_id, r->remark, r->add_source,
                 r->add_wording, p->res->peer_seq);
        push_add(s, ev, r->to_id, r->from_id, r->to_id, r->remark, r->add_source,
                 r->add_wording, p->res->seq);
    }
}

static void on_all_deleted(server_t *s, const im_event_t *ev, const ev_friend_t *p)
{
    for (size_t i = 0; i < p->res->npeers; i++) {
        const store_friend_peer_t *q = &p->res->peers[i];
        push_new(s, ev, q->id, PETREL_CMD_FRIEND_DELETE,
                 friends_pair_json(p->owner, q->id, q->seq));
    }
    if (p->res->npeers)
        push_new(s, ev, p->owner, PETREL_CMD_FRIEND_ALL_DELETE,
                 friends_owner_seq_json(p->owner, p->res->seq));
}

static void on_black(server_t *s, const im_event_t *ev, const ev_friend_t *p)
{
    int cmd = ev->kind == EV_BLACK_ADDED ? PETREL_CMD_FRIEND_BLACK_ADD
                                         : PETREL_CMD_FRIEND_BLACK_DELETE;
    push_new(s, ev, p->owner, cmd, friends_pair_json(p->owner, p->peer, p->res->seq));
    /* addBlack rejected the blacklisted user's pending request: the
     * blacklister's devices learn it as a decision (3005), the other user
     * is not told */
    if (p->res->request.id)
        push_new(s, ev, p->owner, PETREL_CMD_FRIEND_REQUEST_APPROVER,
                 friends_decision_json(&p->res->request));
}

static void on_group(server_t *s, const im_event_t *ev, const ev_friend_t *p)
{
    int cmd;
    switch (ev->kind) {
    case EV_FRIEND_GROUP_DELETED:
        for (size_t i = 0; i < p->n; i++)
            if (p->results[i] == 0)
                push_new(s, ev, p->owner, PETREL_CMD_FRIEND_GROUP_DELETE,
                         friends_group_note_json(p->owner, p->ids[i], p->seqs[i], 0, NULL,
                                                 NULL, 0));
        return;
    case EV_FRIEND_GROUP_ADDED: cmd = PETREL_CMD_FRIEND_GROUP_ADD; break;
    case EV_FRIEND_GROUP_MEMBER_ADDED: cmd = PETREL_CMD_FRIEND_GROUP_MEMBER_ADD; break;
    default: cmd = PETREL_CMD_FRIEND_GROUP_MEMBER_DELETE; break;
    }
    push_new(s, ev, p->owner, cmd,
             friends_group_note_json(p->owner, p->name, p->res->seq, 1, p->ids, p->results,
                                     p->n));
}

static void on_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    const ev_friend_t *p = ev->u.fr;
    const store_friend_res_t *res = p->res;
    switch (ev->kind) {
    case EV_FRIEND_ADDED:
        on_added(s, ev, p);
        break;
    case EV_FRIEND_REQUEST:
        push_new(s, ev, p->peer, PETREL_CMD_FRIEND_REQUEST,
                 friends_request_json(ev->app_id, &res->request, 0));
        break;
    case EV_FRIEND_UPDATED:
        push_new(s, ev, p->owner, PETREL_CMD_FRIEND_UPDATE,
                 friends_update_json(p->owner, p->peer, p->rows, p->mask, res->seq));
        break;
    case EV_FRIEND_DELETED:
        push_new(s, ev, p->owner, PETREL_CMD_FRIEND_DELETE,
                 friends_pair_json(p->owner, p->peer, res->seq));
        push_new(s, ev, p->peer, PETREL_CMD_FRIEND_DELETE,
                 friends_pair_json(p->owner, p->peer, res->peer_seq));
        break;
    case EV_FRIEND_ALL_DELETED:
        on_all_deleted(s, ev, p);
        break;
    case EV_BLACK_ADDED:
    case EV_BLACK_DELETED:
        on_black(s, ev, p);
        break;
    case EV_FRIEND_REQUEST_APPROVED:
        on_approved(s, ev, p);
        break;
    case EV_FRIEND_REQUEST_READ:
        if (res->seq)
            push_new(s, ev, p->owner, PETREL_CMD_FRIEND_REQUEST_READ,
                     friends_owner_seq_json(p->owner, res->seq));
        break;
    case EV_FRIEND_GROUP_ADDED:
    case EV_FRIEND_GROUP_DELETED:
    case EV_FRIEND_GROUP_MEMBER_ADDED:
    case EV_FRIEND_GROUP_MEMBER_DELETED:
        on_group(s, ev, p);
        break;
    default: /* EV_FRIEND_IMPORTED: the admin's import tells no device */
        break;
    }
}

int notify_friends_subscribe(events_t *e, server_t *s)
{
    uint64_t mask = EV_MASK(EV_FRIEND_ADDED) | EV_MASK(EV_FRIEND_REQUEST) |
                    EV_MASK(EV_FRIEND_UPDATED) | EV_MASK(EV_FRIEND_DELETED) |
                    EV_MASK(EV_FRIEND_ALL_DELETED) | EV_MASK(EV_BLACK_ADDED) |
                    EV_MASK(EV_BLACK_DELETED) | EV_MASK(EV_FRIEND_REQUEST_APPROVED) |
                    EV_MASK(EV_FRIEND_REQUEST_READ) | EV_MASK(EV_FRIEND_GROUP_ADDED) |
                    EV_MASK(EV_FRIEND_GROUP_DELETED) | EV_MASK(EV_FRIEND_GROUP_MEMBER_ADDED) |
                    EV_MASK(EV_FRIEND_GROUP_MEMBER_DELETED);
    return events_subscribe(e, mask, on_event, s);
}
