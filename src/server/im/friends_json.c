/*
 * The friendship JSON that REST replies and device notifications share
 * (friends.h), built in one place so a reply and its push cannot drift.
 * Field order is part of the wire format: keep it.
 */
#include "server/im/friends.h"

json_t *friends_request_json(int32_t app_id, const store_friend_request_t *r, int with_remark)
{
    json_t *o = json_pack("{s:I, s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:I, s:I, s:I}", "id",
                     (json_int_t)r->id, "appId", app_id, "fromId", r->from_id, "toId",
                     r->to_id, "remark", r->remark, "readStatus", r->read_status, "addSource",
                     r->add_source, "addWording", r->add_wording, "approveStatus",
                     r->approve_status, "createTime", (json_int_t)r->create_time, "updateTime",
                     (json_int_t)r->update_time, "sequence", (json_int_t)r->sequence);
    if (o && !with_remark)
        json_object_del(o, "remark");
    return o;
}

json_t *friends_pair_json(const char *from, const char *to, int64_t seq)
{
    return json_pack("{s:s, s:s, s:I}", "fromId", from, "toId", to, "sequence", (json_int_t)seq);
}

json_t *friends_decision_json(const store_friend_request_t *r)
{
    return json_pack("{s:I, s:i, s:I}", "id", (json_int_t)r->id, "status", r->approve_status,
                     "sequence", (json_int_t)r->sequence);
}

json_t *friends_update_json(const char *from, const char *to, const store_friend_t *f,
                            unsigned mask, int64_t seq)
{
    json_t *o = json_pack("{s:s, s:s}", "fromId", from, "toId", to);
    if (!o)
        return NULL;
    if (mask & STORE_FRIEND_F_REMARK)
        json_object_set_new(o, "remark", json_string(f->remark));
    if (mask & STORE_FRIEND_F_ADD_SOURCE)
        json_object_set_new(o, "addSource", json_string(f->add_source));
    if (mask & STORE_FRIEND_F_EXTRA)
        json_object_set_new(o, "extra", json_string(f->extra));
    json_object_set_new(o, "sequence", json_integer(seq));
    return o;
}

json_t *friends_add_json(const char *recipient, const char *from, const char *to,
                         const char *remark, const char *source, const char *wording,
                         int64_t seq)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "fromId", from, "toId", to,
                          "remark", remark, "addSource", source, "addWording", wording,
                          "sequence", (json_int_t)seq);
    if (o && !friends_add_shows_remark(recipient, from))
        json_object_del(o, "remark");
    return o;
}

json_t *friends_owner_seq_json(const char *owner, int64_t seq)
{
    return json_pack("{s:s, s:I}", "fromId", owner, "sequence", (json_int_t)seq);
}

json_t *friends_group_note_json(const char *owner, const char *name, int64_t seq,
                                int with_ids, const char *const *ids, const int *results,
                                size_t n)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "fromId", owner, "groupName", name, "sequence",
                          (json_int_t)seq);
    if (o && with_ids) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            if (results[i] == 0)
                json_array_append_new(a, json_string(ids[i]));
        json_object_set_new(o, "toIds", a);
    }
    return o;
}
