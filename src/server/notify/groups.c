/*
 * The group notifications (groups.h): for each committed group change,
 * the command, the JSON and the recipients the devices expect, handed to
 * the ordered group push queue on the emitting (writer) thread so devices
 * see a group's changes in commit order.
 */
#include "server/notify/groups.h"

#include "petrel/proto.h"
#include "server/im/server.h"
#include "server/deliver/deliver.h"
#include "server/im/group_json.h"

#include <jansson.h>
#include <stdlib.h>

/* Set out to o (consumed) as cmd to ids[0..n); 1, or 0 when o is NULL. */
static int push(notify_push_t *out, int cmd, json_t *o, const char (*ids)[STORE_ID_MAX + 1],
                   size_t n)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return 0;
    *out = (notify_push_t){cmd, s, ids, n};
    return 1;
}

static json_t *added_json(const store_group_op_t *op, const ev_group_joined_t *who)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && who && i < who->n; i++)
        json_array_append_new(ids, json_string(who->ids[i]));
    return json_pack("{s:s, s:o, s:I}", "groupId", op->group_id, "members", ids, "sequence",
                     (json_int_t)op->change_seq);
}

int notify_group_push(const im_event_t *ev, notify_push_t *out)
{
    const store_group_op_t *op = ev->u.gop;
    const char(*ids)[STORE_ID_MAX + 1] = (const char(*)[STORE_ID_MAX + 1])op->ids;
    size_t n = op->nids;
    json_int_t seq = (json_int_t)op->change_seq;
    switch (ev->kind) {
    case EV_GROUP_CREATED:
        return push(out, PETREL_CMD_CREATED_GROUP, group_json_group(ev->app_id, &op->group), ids,
                    n);
    case EV_GROUP_UPDATED:
        return push(out, PETREL_CMD_UPDATED_GROUP, group_json_group(ev->app_id, &op->group), ids,
                    n);
    case EV_GROUP_DESTROYED:
        return push(out, PETREL_CMD_DESTROY_GROUP,
                    json_pack("{s:s, s:I, s:i}", "groupId", op->group_id, "sequence", seq,
                              "status", 2),
                    ids, n);
    case EV_GROUP_TRANSFERRED:
        return push(out, PETREL_CMD_TRANSFER_GROUP,
                    json_pack("{s:s, s:s, s:I}", "groupId", op->group_id, "ownerId",
                              op->group.owner_id, "sequence", seq),
                    ids, n);
    case EV_GROUP_MUTED:
        return push(out, op->flag ? PETREL_CMD_MUTE_GROUP : PETREL_CMD_UNMUTE_GROUP,
                    json_pack("{s:s, s:i, s:I}", "groupId", op->group_id, "mute", op->flag,
                              "sequence", seq),
                    ids, n);
    case EV_GROUP_MEMBER_ADDED:
        return push(out, PETREL_CMD_ADDED_MEMBER, added_json(op, ev->extra), ids, n);
    case EV_GROUP_MEMBER_REMOVED:
        if (op->what == SG_MEMBER_EXIT)
            return push(out, PETREL_CMD_EXIT_GROUP,
                        json_pack("{s:s, s:s, s:I}", "groupId", op->group_id, "userId",
                                  op->member.member_id, "sequence", seq),
                        ids, n);
        return push(out, PETREL_CMD_DELETED_MEMBER,
                    json_pack("{s:s, s:s, s:I}", "groupId", op->group_id, "member",
                              op->member.member_id, "sequence", seq),
                    ids, n);
    case EV_GROUP_MEMBER_UPDATED:
    case EV_GROUP_MEMBER_MUTED: {
        const store_group_member_t *m = &op->member;
        return push(out,
                    ev->kind == EV_GROUP_MEMBER_MUTED ? PETREL_CMD_SPEAK_GROUP_MEMBER
                                                      : PETREL_CMD_UPDATED_MEMBER,
                    json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "groupId", op->group_id,
                              "memberId", m->member_id, "alias", m->alias, "role", m->role,
                              "extra", m->extra, "speakDate", (json_int_t)m->speak_date,
                              "sequence", seq),
                    ids, n);
    }
    case EV_GROUP_JOIN_REQUEST: /* to who decides: the owner and the managers */
        return push(out, PETREL_CMD_JOIN_GROUP, group_json_request(&op->request), ids, n);
    case EV_GROUP_JOIN_DECIDED: /* to the applicant only */
        return push(out, PETREL_CMD_JOIN_GROUP, group_json_request(&op->request),
                    &op->request.from_id, 1);
    default:
        return 0;
    }
}

static void on_group_event(void *ctx, const im_event_t *ev)
{
    server_t *s = ctx;
    notify_push_t p;
    if (notify_group_push(ev, &p)) {
        deliver_users(s->deliver, ev->app_id, p.cmd, p.json, p.ids, p.n, NULL, 0, 0);
        free(p.json);
    }
}

int notify_groups_subscribe(events_t *events, struct server *s)
{
    uint64_t mask = EV_MASK(EV_GROUP_CREATED) | EV_MASK(EV_GROUP_UPDATED) |
                    EV_MASK(EV_GROUP_DESTROYED) | EV_MASK(EV_GROUP_TRANSFERRED) |
                    EV_MASK(EV_GROUP_MUTED) | EV_MASK(EV_GROUP_MEMBER_ADDED) |
                    EV_MASK(EV_GROUP_MEMBER_REMOVED) | EV_MASK(EV_GROUP_MEMBER_UPDATED) |
                    EV_MASK(EV_GROUP_MEMBER_MUTED) | EV_MASK(EV_GROUP_JOIN_REQUEST) |
                    EV_MASK(EV_GROUP_JOIN_DECIDED);
    return events_subscribe(events, mask, on_group_event, s);
}
