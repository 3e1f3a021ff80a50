/*
 * Group reads with their rules, transport-free: a group and its member
 * list as the reader may see it, the join requests, and the messages a
 * (former) member may read.  Blocking: call them from a pool thread
 * (api_defer), never from an event loop.  Every function returns 0, the
 * refusing rule's code (> 0, group_rules.h; PETREL_ERR_MSG_NOT_READABLE),
 * or a store error (< 0).  Rendering is the caller's (group_json.h).
 */
#ifndef PETREL_IM_GROUP_QUERY_H
#define PETREL_IM_GROUP_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "server/store/store.h"

/* The group and user's row (role ROLE_NONE when it has none), if user (or
 * the admin) may do action (GA_*), or GROUP_READ_MESSAGES: members, former
 * members and the admin read the messages. */
#define GROUP_READ_MESSAGES (-1)
int group_reader_load(store_t *st, int32_t app_id, const char *group_id, const char *user,
                      int admin, int action, store_group_t *g, store_group_member_t *me);

/* getGroupInfo: the group and its current members (free *members).
 * *outsider: the reader is neither a member nor the admin (a public
 * group's outsider), who sees only ids, roles and aliases. */
int group_info_read(store_t *st, int32_t app_id, const char *group_id, const char *user,
                    int admin, store_group_t *g, store_group_member_t **members, size_t *n,
                    int *outsider);

/* The group's join requests with status (-1 any), for who may decide. */
int group_requests_read(store_t *st, int32_t app_id, const char *group_id, const char *user,
                        int admin, int status, store_group_request_t **out, size_t *n);

/* Message reads: sync (after seq, ascending), history (after seq
 * ascending, or before it descending; seq 0 = the newest page), one
 * message (its read count). */
enum group_msgs_mode { GROUP_MSGS_SYNC, GROUP_MSGS_HISTORY, GROUP_MSGS_ONE };

typedef struct group_msg_window {
    int64_t from, to; /* sequences [from, to]; to 0: no upper bound but hi */
    int64_t lo, hi;   /* the reader's membership: after lo, up to hi (0: no bound) */
    int64_t top;      /* the largest sequence the reader may see */
    int desc;         /* newest first */
    int none;         /* nothing to read */
} group_msg_window_t;

/* Pure: the window of a read by a reader with role (ROLE_*, ROLE_NONE for
 * the admin), join_seq and leave_seq in a group whose last message is
 * msg_seq; after: history goes forward from seq. */
void group_msg_window(int role, int64_t join_seq, int64_t leave_seq, int64_t msg_seq, int mode,
                      int64_t seq, int after, group_msg_window_t *w);

/* The rows of such a read (at most limit; free with
 * store_group_msg_rows_free) and *top (group_msg_window_t.top). */
int group_msgs_read(store_t *st, int32_t app_id, const char *group_id, const char *user,
                    int admin, int mode, int64_t seq, int after, int limit,
                    store_group_msg_row_t **rows, size_t *n, int64_t *top);

#endif
