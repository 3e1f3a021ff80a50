/*
 * Group permission rules (docs/API.md "Group permissions"), as pure
 * functions so they can be tested row by row without a database.  The
 * store's writer calls them with the state it just read inside the op's
 * savepoint, so the decision and the change are atomic.
 *
 * Return convention: 0 allowed, else the seed error code (inventory §5.6).
 */
#ifndef PETREL_GROUP_RULES_H
#define PETREL_GROUP_RULES_H

#include <stdint.h>

#include "petrel/errors.h"

/* Group types and member roles (seed numbering). */
#define GROUP_PRIVATE 1
#define GROUP_PUBLIC 2
#define ROLE_NONE (-1) /* no member row at all */
#define ROLE_MEMBER 0
#define ROLE_MANAGER 1
#define ROLE_OWNER 2
#define ROLE_LEFT 3

/* applyJoinType */
#define JOIN_FREE 0
#define JOIN_APPROVAL 1
#define JOIN_NONE 2

/* Refusals are PETREL_ERR_* codes of the one error table (petrel/errors.h). */

enum group_action {
    GA_GET_INFO,       /* read group info and member list */
    GA_UPDATE,         /* group/update (name, notification, ...) */
    GA_MUTE_ALL,       /* forbidSendMessage, or "mute" in update */
    GA_DESTROY,
    GA_TRANSFER,
    GA_ADD_MEMBER,     /* member/add (invite) */
    GA_REMOVE_MEMBER,  /* member/remove: target_role is the removed member's */
    GA_SET_ALIAS,      /* member/update alias: only oneself */
    GA_SET_EXTRA,      /* member/update extra: oneself or owner/manager */
    GA_SET_ROLE,       /* member/update role: new_role manager or member */
    GA_SPEAK,          /* member/speak: mute/unmute target */
    GA_EXIT,           /* member/exitGroup */
    GA_LIST_REQUESTS,  /* pending join requests */
    GA_DECIDE_REQUEST, /* approve / reject a join request */
    GA_ACTION_COUNT
};

/* May an actor with actor_role (ROLE_*, ROLE_NONE / ROLE_LEFT when not a
 * member) do action in a group of group_type?  target_role: the member
 * acted on (remove, set role, speak; ROLE_NONE when not a member),
 * self: the actor is the target, new_role: for GA_SET_ROLE.  The app admin
 * (admin != 0) may do everything but leave as owner. */
int group_rule_check(int action, int group_type, int actor_role, int target_role, int self,
                     int new_role, int admin);

/* May a member with role send now?  group_mute: whole group muted;
 * speak_until: the member is muted until this epoch ms (0 = not). */
int group_send_check(int role, int group_mute, int64_t speak_until, int64_t now_ms);

/* What an apply does: 0 join at once (free), 1 make a pending request,
 * or a negative of the refusal code (-PETREL_ERR_JOIN_REFUSED when the group
 * takes no one, -PETREL_ERR_ALREADY_MEMBER). */
int group_apply_outcome(int apply_join_type, int actor_role);

/* Default and largest maxMemberCount. */
#define GROUP_MAX_MEMBERS_PRIVATE 500
#define GROUP_MAX_MEMBERS_PUBLIC 2000
#define GROUP_MAX_MEMBERS_LIMIT 10000
int group_default_max_members(int group_type);

/* Is role a current member (owner, manager, member)? */
static inline int group_role_in(int role)
{
    return role == ROLE_MEMBER || role == ROLE_MANAGER || role == ROLE_OWNER;
}

#endif
