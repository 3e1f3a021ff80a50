/*
 * Friendship: relations, requests, blacklist, friend lists (groups of
 * friends), status peers; writes through the writer, blocking reads.
 */
#ifndef PETREL_STORE_FRIENDS_H
#define PETREL_STORE_FRIENDS_H

#include "server/store/users.h"

/* ------------------------------------------------------------------ */
/* Friendship (addition, schema version 4; seed inventory §5.3, §7.1).
 *
 * Tables: im_friendship (one row per direction from_id -> to_id: status
 * 0 none / 1 normal / 2 deleted, black 1 normal / 2 blacked),
 * im_friendship_request (at most one pending request per (app, from, to)),
 * im_friend_group and im_friend_group_member (a user's "friend lists";
 * deleted lists are kept with del_flag = 1 so devices learn of it).
 *
 * Sequences (what clients sync by), each strictly increasing in commit
 * order and never reused, allocated by the writer as the owner's largest
 * stored value + 1 inside the transaction (rows are never deleted, so
 * the maximum never goes back):
 *   - friendship sequence, per from_id: every change of one of the
 *     user's rows (add, update, delete, blacklist) takes the next one,
 *     stored in friend_sequence (black_sequence = friend_sequence of the
 *     last blacklist change);
 *   - request sequence, per addressee (to_id): creating, refreshing,
 *     reading or deciding a request;
 *   - friend-list sequence, per owner: creating or deleting a list, or
 *     changing its members.
 *
 * Rules held by the writer (each op in one savepoint, like the others):
 *   - Users taking part must be live (not deleted), else reject 20001.
 *   - Deleting a friendship ends BOTH directions (status 2; the seeds
 *     ended only one) and takes the peer out of each side's friend lists.
 *   - A friend list only holds live friends of its owner (checked when a
 *     member is added; deletion removes them, see above).
 *
 * Write rules: as for users and messages (done(arg, rc) exactly once on
 * the writer thread after COMMIT; no op when the submit function returns
 * non-zero; _sync variants refuse to run on the writer thread).  Outputs
 * (res, results, seqs) are written right before done and only when rc is
 * 0; rc 0 with res->reject != 0 means "refused by a rule", nothing
 * written, and then every results[i] equals res->reject.  results and
 * seqs arrays must stay alive until done has run; everything else is
 * copied at submit. */

#define STORE_FRIEND_REMARK_MAX 100
#define STORE_FRIEND_SOURCE_MAX 50
#define STORE_FRIEND_WORDING_MAX 255
#define STORE_FRIEND_EXTRA_MAX 1000
#define STORE_FRIEND_GROUP_NAME_MAX 100
/* Most rows one friendship read returns (sync pages). */
#define STORE_FRIEND_LIMIT_MAX 100

/* One direction of a relation.  Strings NUL-terminated within their
 * arrays. */
typedef struct store_friend {
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char remark[STORE_FRIEND_REMARK_MAX + 1];
    char add_source[STORE_FRIEND_SOURCE_MAX + 1];
    char extra[STORE_FRIEND_EXTRA_MAX + 1];
    int status;              /* 0 none (blacklist only), 1 normal, 2 deleted */
    int black;               /* 1 normal, 2 blacked (from_id blacklisted to_id) */
    int64_t friend_sequence; /* from_id's friendship sequence of the last change */
    int64_t black_sequence;  /* same, of the last blacklist change (0 never) */
    int64_t create_time;     /* ms: when the friendship (last) began */
    char nick_name[101];     /* reads only: to_id's nick_name, "" when unknown */
} store_friend_t;

typedef struct store_friend_request {
    int64_t id;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char remark[STORE_FRIEND_REMARK_MAX + 1];
    char add_source[STORE_FRIEND_SOURCE_MAX + 1];
    char add_wording[STORE_FRIEND_WORDING_MAX + 1];
    int read_status;    /* 0 unread, 1 read */
    int approve_status; /* 0 pending, 1 agreed, 2 rejected */
    int64_t create_time, update_time;
    int64_t sequence;   /* to_id's request sequence of the last change */
} store_friend_request_t;

typedef struct store_friend_peer {
    char id[STORE_ID_MAX + 1];
    int64_t seq; /* the peer's new friendship sequence, 0 when its row did not change */
} store_friend_peer_t;

/* What a friendship op did (see each op). */
typedef struct store_friend_res {
    int reject;      /* 0, or a PETREL_ERR_* code */
    int added;       /* add: 1 both directions are friends now, 0 a request was made */
    int64_t seq;     /* the acting user's new sequence (friendship, request or
                      * friend list, per op), 0 when nothing changed */
    int64_t peer_seq;/* the other user's new friendship sequence, 0 when untouched */
    int64_t group_id;/* friend-list ops: the list's id */
    store_friend_request_t request; /* add (when a request was made), approve */
    store_friend_peer_t *peers;     /* delete_all: malloc'ed (free()), NULL if none */
    size_t npeers;
} store_friend_res_t;

/* Fields of store_friend_update's mask. */
enum store_friend_field {
    STORE_FRIEND_F_REMARK = 1u << 0,
    STORE_FRIEND_F_ADD_SOURCE = 1u << 1,
    STORE_FRIEND_F_EXTRA = 1u << 2,
    STORE_FRIEND_F_ALL = (1u << 3) - 1,
};

/* Import (admin): from_id's rows towards items[i].to_id, one direction,
 * as given (status 1 or 2, black 1 or 2; remark, add_source, extra), each
 * with the next sequence.  n 1..STORE_USER_BATCH_MAX.  reject 20001 when
 * from_id is not a live user.  results[i]: 0, STORE_ENOTFOUND to_id is
 * not a live user, STORE_ECONFLICT a live friendship (status 1) exists,
 * STORE_EINVAL invalid item (to_id == from_id, bad status/black).  A row
 * of a deleted or blacklist-only relation is overwritten.  seqs (may be
 * NULL, else n entries): each imported row's sequence. */
int store_friend_import(store_t *st, int32_t app_id, const char *from_id,
                        const store_friend_t *items, size_t n, int *results, int64_t *seqs,
                        store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_import_sync(store_t *st, int32_t app_id, const char *from_id,
                             const store_friend_t *items, size_t n, int *results,
                             int64_t *seqs, store_friend_res_t *res);

/* f->from_id asks to befriend f->to_id (remark, add_source, extra of f;
 * add_wording may be NULL).  Rejects: 20001 either user missing or
 * deleted, 30002 from -> to is already a live friendship, 30006 from
 * blacklisted to, 30007 to blacklisted from, 62040 to's
 * disable_add_friend is 1 (nothing is written: no friendship, no
 * request).  When to_id's
 * friend_allow_type is 1: both directions become friends at once
 * (res->added = 1, res->seq = from's, res->peer_seq = to's new sequence;
 * an already live reverse row is left as it is, peer_seq 0; a new
 * reverse row takes the same add_source, an existing one keeps its
 * remark and extra).  Otherwise a pending request from -> to is created,
 * or refreshed (remark, add_source, wording, unread again) when one is
 * pending: res->added = 0, res->request = the row, res->seq = its
 * sequence (to_id's request sequence). */
int store_friend_add(store_t *st, int32_t app_id, const store_friend_t *f,
                     const char *add_wording, store_friend_res_t *res, store_done_fn done,
                     void *arg);
int store_friend_add_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                          const char *add_wording, store_friend_res_t *res);

/* Change the masked fields (STORE_FRIEND_F_*, non-zero) of the live
 * friendship f->from_id -> f->to_id.  Reject 30003 when it is not live.
 * res->seq: the new sequence. */
int store_friend_update(store_t *st, int32_t app_id, const store_friend_t *f, unsigned mask,
                        store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_update_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                             unsigned mask, store_friend_res_t *res);

/* End the friendship from_id -> to_id AND to_id -> from_id (status 2).
 * Rejects: 30003 no friendship from -> to (no row, or status 0), 30004
 * already deleted.  res->seq / peer_seq: both users' new sequences
 * (peer_seq 0 when the reverse row was not live). */
int store_friend_delete(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                        store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_delete_sync(store_t *st, int32_t app_id, const char *from_id,
                             const char *to_id, store_friend_res_t *res);

/* End every live friendship of from_id, both directions.  res->peers: the
 * former friends with their new sequences; res->seq: from's last new
 * sequence (0 when there was none).  Never rejects. */
int store_friend_delete_all(store_t *st, int32_t app_id, const char *from_id,
                            store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_delete_all_sync(store_t *st, int32_t app_id, const char *from_id,
                                 store_friend_res_t *res);

/* black 2: from_id blacklists to_id (a row with status 0 is created when
 * there is none); rejects 20001 to_id not a live user, 30006 already
 * blacked.  black 1: removes it; reject 30010 when not blacked.
 * res->seq: from's new sequence (= the row's black_sequence).  black 2
 * also rejects to_id's pending request to from_id in the same transaction
 * (approve_status 2, text cleared, from's next request sequence);
 * res->request is that row (id 0 when there was none). */
int store_friend_black(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                       int black, store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_black_sync(store_t *st, int32_t app_id, const char *from_id,
                            const char *to_id, int black, store_friend_res_t *res);

/* approver decides request id (status 1 agree, 2 reject).  Rejects, in
 * this order: 30012 no such request in the app, 30011 approver is not its
 * addressee (unless is_admin), 30013 already decided, 20001 (agree) a
 * user is gone, (agree) 30006 the addressee blacklisted the requester /
 * 30007 the requester blacklisted the addressee.  The request becomes read, takes the addressee's next
 * request sequence (res->request is the updated row).  Agree: both
 * directions become friends as in store_friend_add (the request's remark
 * and add_source for requester -> addressee): res->seq = addressee's and
 * res->peer_seq = requester's new friendship sequence (0 when already). */
int store_friend_request_approve(store_t *st, int32_t app_id, const char *approver,
                                 int is_admin, int64_t id, int status,
                                 store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_request_approve_sync(store_t *st, int32_t app_id, const char *approver,
                                      int is_admin, int64_t id, int status,
                                      store_friend_res_t *res);

/* Mark every unread request addressed to owner read, each taking the next
 * request sequence; res->seq: the last one (0 when none was unread). */
int store_friend_request_read(store_t *st, int32_t app_id, const char *owner,
                              store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_request_read_sync(store_t *st, int32_t app_id, const char *owner,
                                   store_friend_res_t *res);

/* Create owner's friend list name (1..STORE_FRIEND_GROUP_NAME_MAX bytes)
 * with members to_ids[0..n) (n 0..STORE_USER_BATCH_MAX; to_ids may be
 * NULL when n is 0).  Rejects: 20001 owner not live, 30015 a live list
 * has that name.  results[i] (n entries): 0 member, 30003 not a live
 * friend of owner.  res->group_id, res->seq (the list's sequence). */
int store_friend_group_add(store_t *st, int32_t app_id, const char *owner, const char *name,
                           const char *const *to_ids, size_t n, int *results,
                           store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_group_add_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *name, const char *const *to_ids, size_t n,
                                int *results, store_friend_res_t *res);

/* Delete owner's lists names[0..n) (n 1..STORE_USER_BATCH_MAX): members
 * removed, del_flag = 1, each taking the next friend-list sequence
 * (seqs[i], may be NULL).  results[i]: 0, 30016 no live list of that
 * name. */
int store_friend_group_del(store_t *st, int32_t app_id, const char *owner,
                           const char *const *names, size_t n, int *results, int64_t *seqs,
                           store_done_fn done, void *arg);
int store_friend_group_del_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *const *names, size_t n, int *results,
                                int64_t *seqs);

/* add 1: put to_ids into owner's live list name; results[i]: 0 member
 * now (already was counts), 30003 not a live friend.  add 0: take them
 * out; results[i]: 0 removed, STORE_ENOTFOUND was not a member.  Reject
 * 30016 no live list of that name.  When the members changed the list
 * takes the next sequence (res->seq, else 0); res->group_id. */
int store_friend_group_member(store_t *st, int32_t app_id, const char *owner,
                              const char *name, const char *const *to_ids, size_t n, int add,
                              int *results, store_friend_res_t *res, store_done_fn done,
                              void *arg);
int store_friend_group_member_sync(store_t *st, int32_t app_id, const char *owner,
                                   const char *name, const char *const *to_ids, size_t n,
                                   int add, int *results, store_friend_res_t *res);

/* Blocking: the row from_id -> to_id (any status).  0 / STORE_ENOTFOUND. */
int store_friend_get_sync(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                          store_friend_t *out);

/* Blocking: owner's rows with friend_sequence > after_seq (every status,
 * so devices learn deletions and blacklist changes), ordered by it, at
 * most limit (clamped to 1..STORE_FRIEND_LIMIT_MAX); *max_seq (may be
 * NULL): owner's friendship sequence, same snapshot.  *out malloc'ed
 * (free()), NULL when empty. */
int store_friend_list_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_seq,
                           int limit, store_friend_t **out, size_t *n, int64_t *max_seq);

/* Blocking: owner's live friends (status 1) ordered by to_id, with
 * nick_name.  *out malloc'ed (free()), NULL when none. */
int store_friend_all_sync(store_t *st, int32_t app_id, const char *owner, store_friend_t **out,
                          size_t *n);

/* Blocking: requests addressed to to_id with sequence > after_seq, ordered
 * by it, at most limit (clamped as above); *max_seq (may be NULL):
 * to_id's request sequence. */
int store_friend_request_list_sync(store_t *st, int32_t app_id, const char *to_id,
                                   int64_t after_seq, int limit, store_friend_request_t **out,
                                   size_t *n, int64_t *max_seq);

typedef struct store_friend_group {
    int64_t id;
    char name[STORE_FRIEND_GROUP_NAME_MAX + 1];
    int64_t sequence;
    int del_flag;                     /* 1 deleted (then no members) */
    int64_t create_time, update_time;
    char (*members)[STORE_ID_MAX + 1]; /* ordered; malloc'ed, NULL when none */
    size_t nmembers;
} store_friend_group_t;

/* Frees every group's members, then the array.  Safe on NULL. */
void store_friend_groups_free(store_friend_group_t *g, size_t n);

/* Blocking: owner's friend lists (deleted ones included) with sequence >
 * after_seq, ordered by it, at most limit (clamped as above), each with
 * its members; *max_seq (may be NULL): owner's friend-list sequence.
 * Free *out with store_friend_groups_free. */
int store_friend_group_list_sync(store_t *st, int32_t app_id, const char *owner,
                                 int64_t after_seq, int limit, store_friend_group_t **out,
                                 size_t *n, int64_t *max_seq);

/* Blocking: user's current friendship, request and friend-list sequences
 * (0 when none); any pointer may be NULL. */
int store_friend_seqs_sync(store_t *st, int32_t app_id, const char *user_id,
                           int64_t *friendship_seq, int64_t *request_seq, int64_t *group_seq);

/* Blocking: user_id's status peers (see above) ordered by id, each with
 * its custom status.  *out malloc'ed (free()), NULL when none. */
int store_friend_status_peers_sync(store_t *st, int32_t app_id, const char *user_id,
                                   store_user_status_t **out, size_t *n);

/* Blocking: the ids user_id has blacklisted (its rows with black 2),
 * ordered.  *out malloc'ed (free()), NULL when none. */
int store_friend_blacked_sync(store_t *st, int32_t app_id, const char *user_id,
                              char (**out)[STORE_ID_MAX + 1], size_t *n);

#endif
