/*
 * Group management use cases, transport-free: create/import, update,
 * destroy, transfer, mute all, add/import/remove members, leave, member
 * update and mute, join requests (apply, decide).  Each is one store op
 * (store_group_write): the writer reads the rows it needs, decides with
 * the rules of model/group_rules.c and writes in one savepoint, so a rule
 * and the change it allows are atomic.  After the commit, on the writer
 * thread and in commit order, the use case announces every change as one
 * domain event (im/event.h EV_GROUP_*), then calls the caller's done.
 * Device notifications are event subscribers (notify/groups.c); nothing
 * here knows REST, sockets or pushes.
 *
 * The caller (an adapter) has validated the input's shape and applied the
 * operator rule (who may act as operator_id); the rules about the group
 * itself are decided here, by the store's writer.
 */
#ifndef PETREL_IM_GROUPS_H
#define PETREL_IM_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "server/im/event.h"
#include "server/store/store.h"

/* Submission failed for want of memory (nothing queued). */
#define GROUP_ENOMEM (-100)

/* Who acts, in which app, from where, and what the use case runs on. */
typedef struct group_caller {
    store_t *store;
    events_t *events;         /* where changes are announced (NULL: nobody) */
    int32_t app_id;
    const char *operator_id;  /* the acting user */
    int admin;                /* operator_id is the app's admin */
    ev_origin_t origin;       /* the device the request came from */
} group_caller_t;

/* The outcome, exactly once, on the store's writer thread after COMMIT and
 * after the events: rc < 0 a store error (nothing written), else op->reject
 * 0 (done) or the refusing rule's code (group_rules.h, 2xxxx).  op and
 * everything it points to are valid only during the call. */
typedef void (*group_done_fn)(void *arg, int rc, const store_group_op_t *op);

/* Every use case returns 0 (done will be called), or, with nothing queued
 * and done never called: STORE_EBUSY (writer full: retry later),
 * STORE_EINVAL (an input the store refuses), GROUP_ENOMEM, or another
 * store error.  Inputs are copied; the caller's memory may go at return. */

/* Create (import: the admin imports, with fields->create_time kept) a
 * group: fields->owner_id (may be "" for an imported private group),
 * group_type and the other fields; group_id NULL or "" draws a random id.
 * members[0..n) join as well (op->results[i] per member). */
int group_create(const group_caller_t *c, const char *group_id, const store_group_t *fields,
                 const store_group_member_t *members, size_t n, int import, group_done_fn done,
                 void *arg);

/* Set the group fields in mask (STORE_GROUP_F_*). */
int group_update(const group_caller_t *c, const char *group_id, const store_group_t *fields,
                 unsigned mask, group_done_fn done, void *arg);

int group_destroy(const group_caller_t *c, const char *group_id, group_done_fn done, void *arg);

int group_transfer(const group_caller_t *c, const char *group_id, const char *new_owner,
                   group_done_fn done, void *arg);

/* Mute (1) or unmute (0) the whole group: only owner and managers speak. */
int group_mute(const group_caller_t *c, const char *group_id, int mute, group_done_fn done,
               void *arg);

/* Add (invite) members[0..n); import: the admin imports them with their
 * roles and join details.  op->results[i] per member (0 joined). */
int group_members_add(const group_caller_t *c, const char *group_id,
                      const store_group_member_t *members, size_t n, int import,
                      group_done_fn done, void *arg);

int group_member_remove(const group_caller_t *c, const char *group_id, const char *member_id,
                        group_done_fn done, void *arg);

/* The operator leaves (always its own act, even for the admin). */
int group_member_exit(const group_caller_t *c, const char *group_id, group_done_fn done,
                      void *arg);

/* Set member_id's fields in mask (STORE_MEMBER_F_*: alias, role, extra). */
int group_member_update(const group_caller_t *c, const char *group_id, const char *member_id,
                        const store_group_member_t *fields, unsigned mask, group_done_fn done,
                        void *arg);

/* Mute member_id for duration_ms from now (0 unmutes). */
int group_member_mute(const group_caller_t *c, const char *group_id, const char *member_id,
                      int64_t duration_ms, group_done_fn done, void *arg);

/* The operator asks to join (always its own act): joins at once when the
 * group is free to join (op->joined), else a pending request (op->request). */
int group_apply(const group_caller_t *c, const char *group_id, const char *wording,
                group_done_fn done, void *arg);

/* Decide join request request_id: status 1 approve, 2 reject. */
int group_decide(const group_caller_t *c, const char *group_id, int64_t request_id, int status,
                 group_done_fn done, void *arg);

#endif
