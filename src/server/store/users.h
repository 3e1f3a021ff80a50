/*
 * IM users, demo app server accounts and user custom status: types,
 * writes through the writer, blocking reads.
 */
#ifndef PETREL_STORE_USERS_H
#define PETREL_STORE_USERS_H

#include "server/store/core.h"

/* ------------------------------------------------------------------ */
/* Users (addition, schema version 2).
 *
 * IM users of an app (table im_user).  petrel never stores an IM user's
 * password: users authenticate with userSign tokens.  Users are soft
 * deleted (del_flag = 1) so that ids are never reused and history keeps
 * resolving; a deleted user still blocks importing the same user_id.
 *
 * Write rules shared by the user and account writes below:
 *   - They go through the writer like store_app_put: done(arg, rc) runs
 *     exactly once on the writer thread after the transaction committed or
 *     failed; when the submit function itself returns non-zero, done is
 *     not called and nothing is written (results included).
 *   - Inputs (users, ids, strings) are copied before the submit function
 *     returns; the caller may free or reuse them at once.  Only a results
 *     array is the caller's to keep alive until done has run (the _sync
 *     variants return after that, so a stack array is fine there).
 *   - Per-row results are all filled before done runs.  When done's rc is
 *     non-zero (STORE_EIO: the transaction failed; nothing was written)
 *     every entry equals rc.
 *   - The _sync variants wait for done and return its rc; like
 *     store_app_put_sync they refuse (STORE_EINVAL) when called from a
 *     done callback.
 */

/* Longest accepted user_name of a demo app account, and password_hash. */
#define STORE_NAME_MAX 128
#define STORE_HASH_MAX 255
/* Most users or ids in one import/delete call (bounds one op's memory and
 * how long it holds the writer). */
#define STORE_USER_BATCH_MAX 1000

typedef struct store_user {
    int32_t app_id;
    char user_id[STORE_ID_MAX + 1];  /* 1..128 bytes */
    char nick_name[101];
    char photo[256];                 /* URL */
    int user_sex;                    /* 0 unknown, 1 male, 2 female (not checked) */
    char birth_day[51];              /* free text, as the client sent it */
    char location[51];
    char self_signature[256];
    int friend_allow_type;           /* 1 no verification, 2 verification needed */
    int forbidden_flag;              /* 0/1: banned from logging in */
    int disable_add_friend;          /* 0/1 */
    int silent_flag;                 /* 0/1: muted */
    int user_type;                   /* 1 ordinary, other values app defined */
    int del_flag;                    /* 0/1; read-only: set by store_user_delete */
    char extra[1001];                /* opaque app data, often JSON */
    int64_t created_at, updated_at;  /* epoch ms; read-only: set by the store */
} store_user_t;

/* Fields of store_user_update's field_mask. */
enum store_user_field {
    STORE_USER_F_NICK_NAME = 1u << 0,
    STORE_USER_F_PHOTO = 1u << 1,
    STORE_USER_F_USER_SEX = 1u << 2,
    STORE_USER_F_BIRTH_DAY = 1u << 3,
    STORE_USER_F_LOCATION = 1u << 4,
    STORE_USER_F_SELF_SIGNATURE = 1u << 5,
    STORE_USER_F_FRIEND_ALLOW_TYPE = 1u << 6,
    STORE_USER_F_FORBIDDEN_FLAG = 1u << 7,
    STORE_USER_F_DISABLE_ADD_FRIEND = 1u << 8,
    STORE_USER_F_SILENT_FLAG = 1u << 9,
    STORE_USER_F_USER_TYPE = 1u << 10,
    STORE_USER_F_EXTRA = 1u << 11,
    STORE_USER_F_ALL = (1u << 12) - 1,
};

/* A user is valid when: user_id is 1..STORE_ID_MAX bytes; every string is
 * NUL-terminated within its array; friend_allow_type is 1 or 2; forbidden_flag,
 * disable_add_friend and silent_flag are 0 or 1.
 * del_flag, created_at and updated_at are ignored on writes. */

/* Insert n (1..STORE_USER_BATCH_MAX) users of any apps as ONE op: each row
 * in its own savepoint, so a bad row fails alone.  results[i]: 0 inserted,
 * STORE_ECONFLICT the (app_id, user_id) exists (a soft-deleted user counts
 * as existing), STORE_EINVAL the row is invalid (see above).  done's rc is
 * 0 whenever the transaction committed, even if every row was refused.
 * created_at = updated_at = the time the op ran (ms); del_flag = 0.
 * STORE_EINVAL (no op) for NULL st/users/results or n out of range. */
int store_user_import(store_t *st, const store_user_t *users, size_t n, int *results,
                      store_done_fn done, void *arg);
int store_user_import_sync(store_t *st, const store_user_t *users, size_t n, int *results);

/* Update only the fields named in field_mask (STORE_USER_F_*, non-zero, no
 * unknown bits) of the live (del_flag = 0) user u->app_id/u->user_id, and
 * set updated_at = now.  Only masked fields of u are read or validated.
 * done's rc: 0, STORE_ENOTFOUND (no such user, or deleted).  STORE_EINVAL
 * (no op) for a bad mask, an invalid user_id or an invalid masked field. */
int store_user_update(store_t *st, const store_user_t *u, unsigned field_mask,
                      store_done_fn done, void *arg);
int store_user_update_sync(store_t *st, const store_user_t *u, unsigned field_mask);

/* Soft delete (del_flag = 1, updated_at = now) n (1..STORE_USER_BATCH_MAX)
 * users of one app.  results[i]: 0 deleted, STORE_ENOTFOUND missing,
 * already deleted, or not a possible id (empty or too long), STORE_EINVAL
 * user_ids[i] is NULL.  done's rc is 0 whenever the transaction committed. */
int store_user_delete(store_t *st, int32_t app_id, const char *const *user_ids, size_t n,
                      int *results, store_done_fn done, void *arg);
int store_user_delete_sync(store_t *st, int32_t app_id, const char *const *user_ids,
                           size_t n, int *results);

/* Blocking: the user, deleted ones included (out->del_flag = 1) so callers
 * can tell "deleted" from "never existed".  0 / STORE_ENOTFOUND. */
int store_user_get_sync(store_t *st, int32_t app_id, const char *user_id, store_user_t *out);

/* Blocking: one page of the app's live users ordered by user_id.
 * nick_like: case-insensitive (ASCII) substring of nick_name, matched
 * literally (% _ and \ are not wildcards); NULL or "" = every user.
 * exclude_user_id (may be NULL) is left out of both the page and total.
 * offset < 0 counts as 0; limit is clamped to 1..100.  *out is malloc'ed
 * (free()), NULL when the page is empty; *n its length; *total (may be
 * NULL) the number of matching users, from the same snapshot as the page.
 * Substring search scans the app's users: fine for demo-sized apps. */
int store_user_page_sync(store_t *st, int32_t app_id, const char *nick_like,
                         const char *exclude_user_id, int offset, int limit,
                         store_user_t **out, size_t *n, int64_t *total);

/* Blocking: number of live users of the app. */
int store_user_count_sync(store_t *st, int32_t app_id, int64_t *n);

/* ------------------------------------------------------------------ */
/* Demo app server accounts (addition, schema version 2; table app_account).
 * user_name is unique per app ignoring ASCII case ("Alice" == "alice").
 * password_hash is an opaque string made by the caller (password.h's
 * "scrypt$..."); the store never sees a password. */

/* Create an account.  user_name 1..STORE_NAME_MAX bytes, user_id
 * 1..STORE_ID_MAX, password_hash 1..STORE_HASH_MAX (else STORE_EINVAL, no
 * op).  done's rc: 0, STORE_ECONFLICT the name is taken in that app. */
int store_account_create(store_t *st, int32_t app_id, const char *user_name,
                         const char *user_id, const char *password_hash,
                         store_done_fn done, void *arg);
int store_account_create_sync(store_t *st, int32_t app_id, const char *user_name,
                              const char *user_id, const char *password_hash);

/* Register: create an account AND its IM user as one op (one savepoint), so
 * that registration can never claim an identifier the IM already has.  The
 * IM user (*user, validated like store_user_import's rows; the account's
 * user_id is user->user_id) is inserted first, then the account user_name.
 * done's rc: 0 both were created; STORE_ECONFLICT and nothing written when
 * the IM user exists (a soft-deleted one included) or the name is taken in
 * user->app_id.  The writer runs ops one at a time, so two registrations of
 * one name, or a registration racing store_user_import of the same id,
 * cannot both succeed.  STORE_EINVAL (no op) for bad arguments. */
int store_account_register(store_t *st, const char *user_name, const char *password_hash,
                           const store_user_t *user, store_done_fn done, void *arg);
int store_account_register_sync(store_t *st, const char *user_name, const char *password_hash,
                                const store_user_t *user);

/* Blocking: look an account up by name (any case).  user_id_out (may be
 * NULL) needs STORE_ID_MAX + 1 bytes; hash_out (may be NULL) gets the
 * password_hash, STORE_EINVAL if it does not fit in hash_cap (use
 * STORE_HASH_MAX + 1).  0 / STORE_ENOTFOUND. */
int store_account_get_sync(store_t *st, int32_t app_id, const char *user_name,
                           char *user_id_out, char *hash_out, size_t hash_cap);

/* ------------------------------------------------------------------ */
/* User status (addition, schema version 5; seed inventory §5.2).
 *
 * Online status itself is not stored: it is derived from the live
 * sessions (session.h).  What is stored is the custom status a user sets
 * (table im_user_status), kept until changed; a user who never set one
 * has custom_text "" and custom_status 0.
 *
 * "Status peers" of a user A are the users B with a live friendship in
 * both directions (A -> B and B -> A status 1) and no blacklist on either
 * side (both rows black 1): the only friends that receive A's status
 * (inventory §11 item 20: deleted and blacklisted relations get none). */

#define STORE_STATUS_TEXT_MAX 100

typedef struct store_user_status {
    char user_id[STORE_ID_MAX + 1];
    char custom_text[STORE_STATUS_TEXT_MAX + 1];
    int custom_status;
    int64_t updated_at; /* ms; 0 when never set */
} store_user_status_t;

/* Replace user_id's custom status (text: 0..STORE_STATUS_TEXT_MAX bytes,
 * not NULL).  done's rc: 0, STORE_ENOTFOUND the user is missing or
 * deleted.  STORE_EINVAL (no op) for an invalid id or text. */
int store_user_status_set(store_t *st, int32_t app_id, const char *user_id, const char *text,
                          int status, store_done_fn done, void *arg);
int store_user_status_set_sync(store_t *st, int32_t app_id, const char *user_id,
                               const char *text, int status);

/* Blocking: the custom statuses of ids[0..n) (n 0..STORE_USER_BATCH_MAX)
 * into out[0..n) in the same order, from one snapshot; an id without a
 * row (or not a possible id) gets the empty status. */
int store_user_status_get_sync(store_t *st, int32_t app_id, const char *const *ids, size_t n,
                               store_user_status_t *out);

#endif
