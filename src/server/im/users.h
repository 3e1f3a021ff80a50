/*
 * User use cases, transport-free (users.c): import, modify (forbidding and
 * un-forbidding included) and soft delete, and the one description of a
 * user row's fields (user_fields.c) that parsing, rendering, the admin-only
 * rule and the public profile all read.
 *
 * Like the friendship use cases (friends.h): the operator rule first (the
 * caller acts for the user, or is the app admin; import and delete are the
 * admin's only; forbiddenFlag, silentFlag and userType are the admin's
 * only), then the store's writer; after the commit, on the writer thread,
 * the operator-state cache (ustate.h) learns forbidden / deleted users,
 * then one event is emitted (EV_USER_*) when something changed, then done
 * runs.  Device notifications and logging the user out are subscribers
 * (notify/users.c).
 *
 * Returns: 0 submitted (done runs exactly once, later); IM_ERR_NOT_OPERATOR
 * refused by the operator rule; a store submit error (< 0).  done(arg, rc,
 * r): rc is the store's (0, or < 0; see each case), r describes what was
 * done (as the event does) whenever the transaction committed, else NULL.
 * Array arguments need to stay valid until done has run.
 */
#ifndef PETREL_IM_USERS_H
#define PETREL_IM_USERS_H

#include <jansson.h>

#include "server/im/call.h"

typedef void (*users_done_fn)(void *arg, int rc, const ev_user_t *r);

/* Admin only: insert users[n] (n 1..100, any app_id as given); rc 0 (or
 * STORE_ECONFLICT / STORE_EINVAL as store_user_import passes them), r->results[n]
 * per row (0 inserted).  EV_USER_IMPORTED when a row was inserted. */
int users_import(const im_call_t *c, const store_user_t *users, size_t n, users_done_fn done,
                 void *arg);

/* Set the fields in mask of the live user u->user_id (c->app_id); rc 0 or
 * STORE_ENOTFOUND (no such live user) or another store error.
 * EV_USER_MODIFIED; a forbiddenFlag change updates the operator-state
 * cache first (forbidden, or live again). */
int users_modify(const im_call_t *c, const store_user_t *u, unsigned mask, users_done_fn done,
                 void *arg);

/* Admin only: soft delete ids[n] (n 1..100); rc 0 (or STORE_ENOTFOUND),
 * r->results[n] (0 deleted).  Deleted users are marked in the
 * operator-state cache, then EV_USER_DELETED when one was deleted. */
int users_delete(const im_call_t *c, const char *const *ids, size_t n, users_done_fn done,
                 void *arg);

/* ---- the user row's fields (user_fields.c) ---- */

/* The fields only the app admin may set. */
#define USERS_F_ADMIN_ONLY \
    (STORE_USER_F_FORBIDDEN_FLAG | STORE_USER_F_SILENT_FLAG | STORE_USER_F_USER_TYPE)
/* The public profile: what a chat client shows of another user and needs
 * to add them: name, photo, sex, signature and whether they take
 * requests.  The rest (birthDay, location, moderation flags, userType,
 * extra, delFlag, times) is shown only to the user and the app admin. */
#define USERS_F_PUBLIC                                                                     \
    (STORE_USER_F_NICK_NAME | STORE_USER_F_PHOTO | STORE_USER_F_USER_SEX |                  \
     STORE_USER_F_SELF_SIGNATURE | STORE_USER_F_FRIEND_ALLOW_TYPE |                         \
     STORE_USER_F_DISABLE_ADD_FRIEND)

/* Whether the operator sees the whole row of user_id (itself, the app
 * admin), or only its public profile. */
int users_sees_whole_row(const char *op, int is_admin, const char *user_id);

/* A new row's defaults (friend_allow_type 1, user_type 1). */
void users_defaults(store_user_t *u, int32_t app_id);

/* Parse the user fields present in obj into u; returns the mask of fields
 * set, -1 a field is invalid, -2 an admin-only field without admin; the
 * reason in err. */
long users_parse_fields(json_t *obj, store_user_t *u, int admin, char *err, size_t errlen);

/* Add u's fields in mask to o, in the table's order. */
void users_put_fields(json_t *o, const store_user_t *u, unsigned mask);

/* {userId, the fields in mask}: USER_MODIFY 4000 and modifyUserInfo's reply. */
json_t *users_modified_json(const store_user_t *u, unsigned mask);

#endif
