/*
 * Rendering of the group records (group_json.h): the field names and order
 * of every group, member and join-request object the server sends.
 */
#include "server/im/group_json.h"

json_t *group_json_group(int32_t app_id, const store_group_t *g)
{
    return json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:i, s:s, s:i, s:s, s:s, s:i, s:I, s:I, "
                     "s:i, s:I, s:I, s:s}",
                     "groupId", g->group_id, "appId", app_id, "ownerId", g->owner_id,
                     "groupType", g->group_type, "groupName", g->group_name, "mute", g->mute,
                     "applyJoinType", g->apply_join_type, "photo", g->photo, "maxMemberCount",
                     g->max_member_count, "introduction", g->introduction, "notification",
                     g->notification, "status", g->status, "sequence", (json_int_t)g->sequence,
                     "messageSequence", (json_int_t)g->msg_seq, "memberCount", g->member_count,
                     "createTime", (json_int_t)g->create_time, "updateTime",
                     (json_int_t)g->update_time, "extra", g->extra);
}

json_t *group_json_member(const store_group_member_t *m)
{
    return json_pack("{s:s, s:i, s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "memberId",
                     m->member_id, "role", m->role, "speakDate", (json_int_t)m->speak_date,
                     "alias", m->alias, "joinTime", (json_int_t)m->join_time, "joinType",
                     m->join_type, "leaveTime", (json_int_t)m->leave_time, "joinSequence",
                     (json_int_t)m->join_seq, "leaveSequence", (json_int_t)m->leave_seq,
                     "readSequence", (json_int_t)m->read_seq, "sequence",
                     (json_int_t)m->sequence, "extra", m->extra);
}

json_t *group_json_request(const store_group_request_t *r)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "requestId", (json_int_t)r->id,
                     "groupId", r->group_id, "fromId", r->from_id, "wording", r->wording,
                     "status", r->status, "handlerId", r->handler_id, "createTime",
                     (json_int_t)r->create_time, "updateTime", (json_int_t)r->update_time);
}
