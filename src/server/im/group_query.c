/*
 * Group reads (group_query.h): the reader's rule first (model/group_rules),
 * then the store's blocking reads; the message window is pure arithmetic
 * over the reader's membership bounds.
 */
#include "server/im/group_query.h"

#include "server/model/group_rules.h"

#include <stdlib.h>
#include <string.h>

int group_reader_load(store_t *st, int32_t app_id, const char *group_id, const char *user,
                      int admin, int action, store_group_t *g, store_group_member_t *me)
{
    int rc = store_group_get_sync(st, app_id, group_id, g);
    if (rc == STORE_ENOTFOUND)
        return PETREL_ERR_GROUP_NOT_FOUND;
    if (rc < 0)
        return rc;
    rc = store_group_member_get_sync(st, app_id, group_id, user, me);
    if (rc == STORE_ENOTFOUND) {
        memset(me, 0, sizeof *me);
        me->role = ROLE_NONE;
    }
    else if (rc < 0)
        return rc;
    if (action == GROUP_READ_MESSAGES)
        return admin || me->role != ROLE_NONE ? 0 : PETREL_ERR_NOT_MEMBER;
    return group_rule_check(action, g->group_type, me->role, ROLE_NONE, 0, 0, admin);
}

int group_info_read(store_t *st, int32_t app_id, const char *group_id, const char *user,
                    int admin, store_group_t *g, store_group_member_t **members, size_t *n,
                    int *outsider)
{
    store_group_member_t me;
    *members = NULL;
    *n = 0;
    int rc = group_reader_load(st, app_id, group_id, user, admin, GA_GET_INFO, g, &me);
    if (rc != 0)
        return rc;
    if ((rc = store_group_members_sync(st, app_id, group_id, members, n)) < 0)
        return rc;
    *outsider = !admin && !group_role_in(me.role);
    return 0;
}

int group_requests_read(store_t *st, int32_t app_id, const char *group_id, const char *user,
                        int admin, int status, store_group_request_t **out, size_t *n)
{
    store_group_t g;
    store_group_member_t me;
    *out = NULL;
    *n = 0;
    int rc = group_reader_load(st, app_id, group_id, user, admin, GA_LIST_REQUESTS, &g, &me);
    if (rc != 0)
        return rc;
    rc = store_group_requests_sync(st, app_id, group_id, status, out, n);
    return rc < 0 ? rc : 0;
}

void group_msg_window(int role, int64_t join_seq, int64_t leave_seq, int64_t msg_seq, int mode,
                      int64_t seq, int after, group_msg_window_t *w)
{
    w->lo = w->hi = 0;
    if (role != ROLE_NONE) { /* the reader's membership bounds */
        w->lo = join_seq;
        w->hi = role == ROLE_LEFT ? leave_seq : 0;
        if (role == ROLE_LEFT && w->hi <= w->lo)
            w->hi = w->lo; /* nothing to read */
    }
    w->top = w->hi ? w->hi : msg_seq;
    w->from = w->to = 0;
    w->desc = 0;
    w->none = role == ROLE_LEFT && w->hi == w->lo;
    if (mode == GROUP_MSGS_SYNC || (mode == GROUP_MSGS_HISTORY && after)) {
        /* after seq: nothing after the largest sequence (seq + 1 would overflow) */
        if (seq == INT64_MAX)
            w->none = 1;
        else
            w->from = seq + 1;
    } else if (mode == GROUP_MSGS_ONE) {
        w->from = w->to = seq;
    } else {
        w->desc = 1;
        if (seq == 1)
            w->none = 1; /* nothing before the first message */
        else if (seq > 1)
            w->to = seq - 1;
    }
}

int group_msgs_read(store_t *st, int32_t app_id, const char *group_id, const char *user,
                    int admin, int mode, int64_t seq, int after, int limit,
                    store_group_msg_row_t **rows, size_t *n, int64_t *top)
{
    store_group_t g;
    store_group_member_t me;
    *rows = NULL;
    *n = 0;
    int rc = group_reader_load(st, app_id, group_id, user, admin, GROUP_READ_MESSAGES, &g, &me);
    if (rc != 0)
        return rc;
    group_msg_window_t w;
    group_msg_window(me.role, me.join_seq, me.leave_seq, g.msg_seq, mode, seq, after, &w);
    *top = w.top;
    if (w.none)
        return 0;
    rc = store_group_msgs_sync(st, app_id, group_id, w.from, w.to, w.lo, w.hi, limit, w.desc,
                               rows, n);
    return rc < 0 ? rc : 0;
}
