/*
 * One-to-one messages: store (idempotent), read marks, recall, history
 * rows and the sync-by-key read.  Conversations are in conv.h.
 */
#ifndef PETREL_STORE_MSG_H
#define PETREL_STORE_MSG_H

#include "server/store/core.h"

/* ------------------------------------------------------------------ */
/* One-to-one messages and conversations (addition, schema version 3).
 *
 * Storage (write diffusion, seed inventory §4.5): one im_message_body row
 * per message plus one im_message_history row per owner (sender and
 * receiver), and one im_conversation row per owner and peer.
 *
 * Guarantees (DESIGN.md §3), all held by the writer thread, which is the
 * only one allocating numbers, in commit order:
 *   - Idempotency: (app_id, from_id, message_id) is a UNIQUE key on disk,
 *     so a resend gets the original message_key, sequence and created_at
 *     back (duplicate = 1) and nothing is written, also after a restart.
 *   - sequence: per conversation (the unordered pair of users), 1, 2, 3...
 *     strictly increasing in commit order, never reused, never skipped by
 *     a failed op or batch, across restarts too.
 *   - message_key: unique per app and increasing in commit order, so a
 *     reader paging by key (store_msg_sync_sync) never misses a message
 *     that commits after it read a page.  The store therefore may raise a
 *     caller's proposed key (see store_msg_t.message_key).
 *   - change_seq: per owner, increasing in commit order over all of the
 *     owner's conversations; every change of a conversation row takes the
 *     next one, so store_conv_list_sync pages never skip a change.
 *
 * Write rules: as for users above (done(arg, rc) exactly once on the
 * writer thread after COMMIT; no op when the submit function returns
 * non-zero; _sync variants refuse to run on the writer thread).  An op's
 * results are written into the caller's struct/pointers right before done
 * runs and only when rc is 0; when rc is non-zero they are left untouched.
 * rc 0 with a non-zero reject means "refused by a rule", nothing written.
 * Conversation types: 0 is one-to-one (the only one these ops write). */

/* A message to store.  In: app_id, from_id, to_id, message_id (each id
 * 1..STORE_ID_MAX bytes, from_id != to_id), body (NUL-terminated text,
 * opaque, not NULL), extra (may be NULL), message_time, message_random,
 * message_key (> 0).  body and extra are copied at submit; the struct
 * itself must stay alive until done has run (the outputs land in it). */
typedef struct store_msg {
    int32_t app_id;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char message_id[STORE_ID_MAX + 1]; /* the client's id of the message */
    char *body;                        /* opaque JSON text */
    char *extra;                       /* may be NULL */
    int64_t message_time;              /* client ms, stored as given */
    int64_t message_random;
    /* In: the key proposed by the caller (msgkey_next).  Out: the stored
     * one: the original on a duplicate, else max(proposed, the app's
     * largest stored key + 1) — equal to the proposal in the normal case. */
    int64_t message_key;
    int64_t sequence;   /* out: per-conversation sequence */
    int64_t created_at; /* out: server ms when the original was stored */
    int duplicate;      /* out: 1 when (app, from, message_id) already existed */
    int reject;         /* out: 0, or 20001 / 50002 / 62023 (PETREL_ERR_*) */
    int del_flag;       /* out: 1 when a duplicate's original was recalled */
    /* In (addition, schema version 4): STORE_MSG_CHECK_* bits, set by the
     * caller from the app's settings (sendMessageCheckFriend /
     * sendMessageCheckBlack); 0 = no friendship rule. */
    unsigned flags;
} store_msg_t;

/* store_msg_t.flags.  Checked in the writer after the user checks, black
 * first: 30006 the sender blacklisted the receiver, 30007 the receiver
 * blacklisted the sender; then friendship: 30003 unless both directions
 * are live friendships (status 1).  A duplicate is answered before any
 * check, as always. */
#define STORE_MSG_CHECK_FRIEND 1u
#define STORE_MSG_CHECK_BLACK 2u

/* Store a one-to-one message as one op: duplicate lookup; sender live
 * (20001), not forbidden (62023), not silenced (50002); receiver live
 * (20001); next sequence of the pair; body + both history rows; both
 * owners' conversations upserted (last_seq = sequence, deleted = 0, next
 * change_seq, updated_at = now; a deleted conversation comes back).
 * Neither owner's read_seq moves.  STORE_EINVAL (no op): invalid input
 * (see store_msg_t), including from_id == to_id. */
int store_msg_p2p(store_t *st, store_msg_t *m, store_done_fn done, void *arg);
int store_msg_p2p_sync(store_t *st, store_msg_t *m);

/* owner has read the one-to-one conversation with peer up to seq:
 * read_seq = max(read_seq, min(seq, last_seq)), so it never moves back nor
 * beyond the last message.  When it moved, the conversation takes the next
 * change_seq and *out_changed = 1.  *out_read_seq: the read_seq after the
 * op.  Both outputs may be NULL.  done's rc: 0, STORE_ENOTFOUND (no such
 * conversation). */
int store_msg_read(store_t *st, int32_t app_id, const char *owner, const char *peer,
                   int64_t seq, int64_t *out_read_seq, int *out_changed,
                   store_done_fn done, void *arg);
int store_msg_read_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                        int64_t seq, int64_t *out_read_seq, int *out_changed);

typedef struct store_recall {
    /* Filled whenever the message exists (whatever reject says). */
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    int64_t sequence;
    int reject; /* 0 recalled; 50003 no such message; 60006 requester is not the
                 * sender nor admin; 50005 already recalled; 50004 window passed
                 * (checked in this order) */
} store_recall_t;

/* Recall (message_key of app_id) on behalf of requester: allowed to the
 * sender, or to anyone when requester_is_admin, while
 * now_ms - created_at <= window_ms (server times, never the client's
 * message_time; window_ms >= 0, else STORE_EINVAL).  now_ms <= 0 means
 * "when the op runs".  On success: del_flag = 1, recalled_at = now_ms,
 * both owners' conversations take their next change_seq (last_seq and
 * sequence numbers stay).  The body stays on disk but no read returns it.
 * out is required (STORE_EINVAL otherwise). */
int store_msg_recall(store_t *st, int32_t app_id, int64_t message_key, const char *requester,
                     int requester_is_admin, int64_t now_ms, int64_t window_ms,
                     store_recall_t *out, store_done_fn done, void *arg);
int store_msg_recall_sync(store_t *st, int32_t app_id, int64_t message_key,
                          const char *requester, int requester_is_admin, int64_t now_ms,
                          int64_t window_ms, store_recall_t *out);
/* A stored message as one owner sees it. */
typedef struct store_msg_row {
    int64_t message_key, sequence, message_time, message_random, created_at;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char message_id[STORE_ID_MAX + 1];
    char *body;  /* malloc'ed; NULL when recalled */
    char *extra; /* malloc'ed; NULL when none */
    int del_flag; /* 1 recalled */
    /* Where the row stands in the owner's sync order (syncOfflineMessage):
     * its message_key, or a newer key once the message was recalled. */
    int64_t sync_key;
} store_msg_row_t;

/* Frees every row's body and extra, then the array.  Safe on NULL. */
void store_msg_rows_free(store_msg_row_t *rows, size_t n);

/* Most rows one message or conversation read returns; limit is clamped to
 * 1..STORE_MSG_LIMIT_MAX. */
#define STORE_MSG_LIMIT_MAX 200

/* Blocking: owner's messages with peer whose sequence is in
 * [from_seq, to_seq] (to_seq 0 = no upper bound), ordered by sequence,
 * ascending or (descending != 0) descending, at most limit.  The newest
 * page: from 0, to 0, descending; the page before sequence s: to s - 1,
 * descending.  *out (store_msg_rows_free) is NULL when *n is 0. */
int store_msg_history_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int64_t from_seq, int64_t to_seq, int limit, int descending,
                           store_msg_row_t **out, size_t *n);

/* Blocking: everything owner sent or received, over all conversations,
 * ordered by message_key, strictly after after_key, at most limit;
 * *max_key (may be NULL): owner's largest message_key (0 if none), from
 * the same snapshot.  The next page starts after the last row's key, so
 * pages never overlap and (keys increasing in commit order) never skip. */
int store_msg_sync_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_key,
                        int limit, store_msg_row_t **out, size_t *n, int64_t *max_key);

/* Blocking: the one-to-one message message_key of app_id, whatever its
 * state (del_flag 1 when recalled), without its body: body and extra are
 * NULL (nothing to free), sync_key is the key.  0 / STORE_ENOTFOUND
 * (also for a key <= 0).  For checks such as "did X send this to me". */
int store_msg_head_sync(store_t *st, int32_t app_id, int64_t message_key, store_msg_row_t *out);

#endif
