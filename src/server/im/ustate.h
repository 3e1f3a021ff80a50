/*
 * Operator state cache: whether a user may act (live), or is forbidden
 * (forbiddenFlag = 1) or deleted, so that every REST call and every socket
 * command can check its operator without a storage read on the event loop
 * (issue 14 item 4).
 *
 * Two kinds of writes keep it true:
 *   - ustate_learn: what a storage read saw (REST lookup on the thread
 *     pool, LOGIN's lookup).  Inserted only when the user has no entry
 *     yet, so a read that raced with a change never overwrites it.
 *   - ustate_set: what a committed write decided (modifyUserInfo's
 *     forbiddenFlag, deleteUser), from the write's done callback.  Always
 *     wins.
 * Every change of forbidden_flag / del_flag goes through those done
 * callbacks, so an entry is never stale.  Users that do not exist are not
 * cached (a lookup each time); entries are never evicted: the table holds
 * at most the app's users that were seen.  Thread-safe (striped locks).
 */
#ifndef PETREL_USTATE_H
#define PETREL_USTATE_H

#include <stdint.h>

enum ustate_kind {
    USTATE_UNKNOWN = 0,   /* not cached: read the user row */
    USTATE_LIVE = 1,
    USTATE_FORBIDDEN = 2, /* forbiddenFlag = 1 */
    USTATE_DELETED = 3,
};

typedef struct ustate ustate_t;

ustate_t *ustate_new(void);
void ustate_free(ustate_t *u);

int ustate_get(ustate_t *u, int32_t app_id, const char *user_id);
/* From a storage read: only when there is no entry yet. */
void ustate_learn(ustate_t *u, int32_t app_id, const char *user_id, int state);
/* From a committed write: replaces the entry. */
void ustate_set(ustate_t *u, int32_t app_id, const char *user_id, int state);
/* The state of a user row as read (del_flag wins over forbidden_flag). */
int ustate_of_row(int del_flag, int forbidden_flag);

#endif
