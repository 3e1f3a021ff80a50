/*
 * Friendship use cases, transport-free: friends and the blacklist
 * (friends.c), friend requests (friend_requests.c), friend lists
 * (friend_groups.c), the pure rules they and their readers share
 * (friends_rules.c) and the JSON the REST replies and the device
 * notifications share (friends_json.c).
 *
 * Every use case takes the caller (call.h), plain parameters and a done
 * callback.  It applies the operator rule first (the caller acts for
 * owner, or is the app admin; admin-only cases need the admin), then hands
 * the op to the store's writer, where every other rule is decided in one
 * savepoint (blacklist, disableAddFriend, live users: store.h
 * "Friendship").  After the commit, on the writer thread, it emits one
 * event (event.h, EV_FRIEND_*, EV_BLACK_*) when something changed, then
 * calls done.
 *
 * Returns: 0 submitted (done runs exactly once, later); IM_ERR_NOT_OPERATOR
 * (> 0) refused by the operator rule; a store submit error (< 0,
 * STORE_EINVAL for bad input); done is not called then.
 * done(arg, rc, r): rc < 0 a store error; rc > 0 refused by a rule (a seed
 * code, PETREL_ERR_*; nothing written, r NULL); rc 0 went through: r
 * describes the result as the event does (also when nothing changed and
 * no event was emitted), valid during the call only.
 * Pointer arguments (strings, arrays) need to stay valid until done has
 * run (a REST adapter's come from its request body).
 */
#ifndef PETREL_IM_FRIENDS_H
#define PETREL_IM_FRIENDS_H

#include <jansson.h>

#include "server/im/call.h"

typedef void (*fr_done_fn)(void *arg, int rc, const ev_friend_t *r);

/* ---- friends and the blacklist (friends.c) ---- */

/* Admin only: owner's rows towards items[i].to_id as given (n 1..100);
 * r->results[n]: 0, STORE_ENOTFOUND, STORE_ECONFLICT, STORE_EINVAL (see
 * store_friend_import).  EV_FRIEND_IMPORTED when a row was imported. */
int friends_import(const im_call_t *c, const char *owner, const store_friend_t *items, size_t n,
                   fr_done_fn done, void *arg);

/* f->from_id asks to befriend f->to_id (remark, add_source, extra of f;
 * wording may be NULL).  r->res->added: 1 friends at once
 * (EV_FRIEND_ADDED), 0 a request was made (EV_FRIEND_REQUEST). */
int friends_add(const im_call_t *c, const store_friend_t *f, const char *wording,
                fr_done_fn done, void *arg);

/* Change the masked fields (STORE_FRIEND_F_*) of f->from_id -> f->to_id. */
int friends_update(const im_call_t *c, const store_friend_t *f, unsigned mask,
                   fr_done_fn done, void *arg);

int friends_delete(const im_call_t *c, const char *owner, const char *peer, fr_done_fn done,
                   void *arg);

/* EV_FRIEND_ALL_DELETED when owner had friends. */
int friends_delete_all(const im_call_t *c, const char *owner, fr_done_fn done, void *arg);

/* black 2: owner blacklists peer (EV_BLACK_ADDED); 1: takes it off
 * (EV_BLACK_DELETED). */
int friends_black(const im_call_t *c, const char *owner, const char *peer, int black,
                  fr_done_fn done, void *arg);

/* Blocking (thread pool): checkFriend (black 0) / checkBlack (black 1) of
 * owner towards to; check_type 1 one way (*status 1 yes, 0 no), 2 both
 * ways (*status 1 both, 2 owner's only, 3 to's only, 4 neither).  The
 * operator rule is the caller's (c is not taken: a read). */
int friends_check_sync(store_t *st, int32_t app_id, const char *owner, const char *to,
                       int check_type, int black, int *status);

/* ---- friend requests (friend_requests.c) ---- */

/* c->op decides request id (status 1 agree, 2 reject); the store checks
 * that op is its addressee unless c->is_admin.  EV_FRIEND_REQUEST_APPROVED. */
int friends_request_approve(const im_call_t *c, int64_t id, int status, fr_done_fn done,
                            void *arg);

/* Mark owner's unread requests read; EV_FRIEND_REQUEST_READ when one was. */
int friends_request_read(const im_call_t *c, const char *owner, fr_done_fn done, void *arg);

/* ---- friend lists (friend_groups.c) ---- */

/* Create owner's list name with members ids[n] (n may be 0). */
int friends_group_add(const im_call_t *c, const char *owner, const char *name,
                      const char *const *ids, size_t n, fr_done_fn done, void *arg);

/* Delete owner's lists names[n] (n >= 1); r->results, r->seqs. */
int friends_group_del(const im_call_t *c, const char *owner, const char *const *names, size_t n,
                      fr_done_fn done, void *arg);

/* add 1: put ids[n] into owner's list name; 0: take them out. */
int friends_group_member(const im_call_t *c, const char *owner, const char *name,
                         const char *const *ids, size_t n, int add, fr_done_fn done, void *arg);

/* ---- rules (friends_rules.c): pure ---- */

/* Whether the row owner -> to (found 0: there is none) says "friend"
 * (black 0: status 1) or, black 1, "not blacklisted" (black != 2). */
int friends_side_ok(int found, const store_friend_t *row, int black);

/* checkType 2's answer from both sides: 1 both, 2 owner's only, 3 the
 * other's only, 4 neither. */
int friends_both_status(int ab, int ba);

/* Whether recipient may see the remark of the adder's row in a 3000 push
 * (AddFriendPack): the remark is the adder's private note, so only the
 * adder's own devices get it. */
int friends_add_shows_remark(const char *recipient, const char *adder);

/* ---- JSON shared by REST replies and device notifications (friends_json.c) ---- */

/* A friend request as its addressee sees it; the requester's remark only
 * with with_remark (the app admin). */
json_t *friends_request_json(int32_t app_id, const store_friend_request_t *r, int with_remark);

/* {fromId, toId, sequence}: 3002 / 3010 / 3011 and their replies. */
json_t *friends_pair_json(const char *from, const char *to, int64_t seq);

/* {id, status, sequence}: a request's decision (3005, approve's reply). */
json_t *friends_decision_json(const store_friend_request_t *r);

/* updateFriend's echo: {fromId, toId, the masked fields, sequence}. */
json_t *friends_update_json(const char *from, const char *to, const store_friend_t *f,
                            unsigned mask, int64_t seq);

/* The 3000 AddFriendPack as recipient gets it (the remark only for from). */
json_t *friends_add_json(const char *recipient, const char *from, const char *to,
                         const char *remark, const char *source, const char *wording,
                         int64_t seq);

/* {fromId, sequence}: 3004 (requests read) and 3006 (all deleted). */
json_t *friends_owner_seq_json(const char *owner, int64_t seq);

/* {fromId, groupName, sequence[, toIds: the ids[n] whose result is 0,
 * with with_ids]}: the friend-list notifications. */
json_t *friends_group_note_json(const char *owner, const char *name, int64_t seq,
                                int with_ids, const char *const *ids, const int *results,
                                size_t n);

#endif
