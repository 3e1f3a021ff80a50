/*
 * Group permission rules (group_rules.h).  One function, one switch: the
 * whole table of docs/API.md "Group permissions" in one place, so the
 * documentation, this code and tests/unit/test_group_rules.c can be read
 * side by side.  No I/O, no state.
 */
#include "server/model/group_rules.h"

static int is_admin_role(int role)
{
    return role == ROLE_OWNER || role == ROLE_MANAGER;
}

int group_rule_check(int action, int group_type, int actor_role, int target_role, int self,
                     int new_role, int admin)
{
    int in = group_role_in(actor_role);
    if (admin) {
        /* the app admin acts as the application: anything except breaking
         * the invariants every group keeps (one owner, who cannot leave) */
        switch (action) {
        case GA_REMOVE_MEMBER:
            return target_role == ROLE_OWNER ? PETREL_ERR_OWNER_NOT_REMOVABLE
                 : group_role_in(target_role) ? 0 : PETREL_ERR_NOT_MEMBER;
        case GA_SET_ROLE:
            if (!group_role_in(target_role))
                return PETREL_ERR_NOT_MEMBER;
            if (target_role == ROLE_OWNER)
                return PETREL_ERR_NEED_OWNER; /* use transferGroup */
            return new_role == ROLE_MANAGER && group_type == GROUP_PRIVATE
                       ? PETREL_ERR_PRIVATE_NO_MANAGER : 0;
        case GA_SPEAK:
            return target_role == ROLE_OWNER ? PETREL_ERR_NOT_ON_OWNER
                 : group_role_in(target_role) ? 0 : PETREL_ERR_NOT_MEMBER;
        case GA_EXIT:
            return !in ? PETREL_ERR_NOT_MEMBER : actor_role == ROLE_OWNER ? PETREL_ERR_OWNER_CANNOT_EXIT : 0;
        case GA_SET_ALIAS:
        case GA_SET_EXTRA:
            return group_role_in(target_role) ? 0 : PETREL_ERR_NOT_MEMBER;
        default:
            return 0;
        }
    }
    switch (action) {
    case GA_GET_INFO:
        /* public groups are discoverable; private ones only by members */
        return group_type == GROUP_PUBLIC || in ? 0 : PETREL_ERR_NOT_MEMBER;
    case GA_UPDATE:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        return group_type == GROUP_PRIVATE || is_admin_role(actor_role) ? 0 : PETREL_ERR_NEED_MANAGER;
    case GA_MUTE_ALL:
    case GA_LIST_REQUESTS:
    case GA_DECIDE_REQUEST:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        return is_admin_role(actor_role) ? 0 : PETREL_ERR_NEED_MANAGER;
    case GA_DESTROY:
    case GA_TRANSFER:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        return actor_role == ROLE_OWNER ? 0 : PETREL_ERR_NEED_OWNER;
    case GA_ADD_MEMBER:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        /* private (WeChat-like): any member invites; public: owner/manager */
        return group_type == GROUP_PRIVATE || is_admin_role(actor_role) ? 0 : PETREL_ERR_NEED_MANAGER;
    case GA_REMOVE_MEMBER:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        if (!group_role_in(target_role))
            return PETREL_ERR_NOT_MEMBER;
        if (target_role == ROLE_OWNER)
            return PETREL_ERR_OWNER_NOT_REMOVABLE;
        if (actor_role == ROLE_OWNER)
            return 0;
        if (group_type == GROUP_PRIVATE)
            return PETREL_ERR_NEED_OWNER;
        return actor_role == ROLE_MANAGER && target_role == ROLE_MEMBER ? 0 : PETREL_ERR_NEED_MANAGER;
    case GA_SET_ALIAS:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        return self ? 0 : PETREL_ERR_ONLY_SELF;
    case GA_SET_EXTRA:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        if (!group_role_in(target_role))
            return PETREL_ERR_NOT_MEMBER;
        return self || is_admin_role(actor_role) ? 0 : PETREL_ERR_NEED_MANAGER;
    case GA_SET_ROLE:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        if (!group_role_in(target_role))
            return PETREL_ERR_NOT_MEMBER;
        if (target_role == ROLE_OWNER)
            return PETREL_ERR_NEED_OWNER; /* ownership moves only by transferGroup */
        if (group_type == GROUP_PRIVATE && new_role == ROLE_MANAGER)
            return PETREL_ERR_PRIVATE_NO_MANAGER;
        /* making or unmaking a manager is the owner's call */
        if (new_role == ROLE_MANAGER || target_role == ROLE_MANAGER)
            return actor_role == ROLE_OWNER ? 0 : PETREL_ERR_NEED_OWNER;
        return is_admin_role(actor_role) ? 0 : PETREL_ERR_NEED_MANAGER;
    case GA_SPEAK:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        if (!is_admin_role(actor_role))
            return PETREL_ERR_NEED_MANAGER;
        if (!group_role_in(target_role))
            return PETREL_ERR_NOT_MEMBER;
        if (target_role == ROLE_OWNER)
            return PETREL_ERR_NOT_ON_OWNER; /* seed: muting the owner -> 40008 */
        if (actor_role == ROLE_MANAGER && target_role != ROLE_MEMBER)
            return PETREL_ERR_NEED_MANAGER;
        return 0;
    case GA_EXIT:
        if (!in)
            return PETREL_ERR_NOT_MEMBER;
        return actor_role == ROLE_OWNER ? PETREL_ERR_OWNER_CANNOT_EXIT : 0;
    default:
        return PETREL_ERR_NOT_ON_OWNER;
    }
}

int group_send_check(int role, int group_mute, int64_t speak_until, int64_t now_ms)
{
    if (!group_role_in(role))
        return PETREL_ERR_NOT_MEMBER;
    if (group_mute && !is_admin_role(role))
        return PETREL_ERR_GROUP_MUTED;
    if (speak_until > now_ms)
        return PETREL_ERR_MEMBER_MUTED;
    return 0;
}

int group_apply_outcome(int apply_join_type, int actor_role)
{
    if (group_role_in(actor_role))
        return -PETREL_ERR_ALREADY_MEMBER;
    switch (apply_join_type) {
    case JOIN_FREE: return 0;
    case JOIN_APPROVAL: return 1;
    default: return -PETREL_ERR_JOIN_REFUSED;
    }
}

int group_default_max_members(int group_type)
{
    return group_type == GROUP_PUBLIC ? GROUP_MAX_MEMBERS_PUBLIC : GROUP_MAX_MEMBERS_PRIVATE;
}
