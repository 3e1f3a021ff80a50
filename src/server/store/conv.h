/*
 * Conversations: per-owner rows with last/read sequences and change_seq
 * (top, mute, delete), and their blocking reads.  The rules shared with
 * messages are in msg.h.
 */
#ifndef PETREL_STORE_CONV_H
#define PETREL_STORE_CONV_H

#include "server/store/msg.h"

/* Change owner's conversation (conversation_type >= 0, peer): is_top,
 * is_mute, deleted each 0/1 or -1 = keep (else STORE_EINVAL).  When a
 * value changed, the conversation takes the next change_seq and
 * updated_at = now; setting what is already there changes nothing.
 * *out_change_seq (may be NULL): the conversation's change_seq after the
 * op.  done's rc: 0, STORE_ENOTFOUND.  A deleted conversation comes back
 * (deleted = 0) with the next message. */
int store_conv_update(store_t *st, int32_t app_id, const char *owner, const char *peer,
                      int conversation_type, int is_top, int is_mute, int deleted,
                      int64_t *out_change_seq, store_done_fn done, void *arg);
int store_conv_update_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int conversation_type, int is_top, int is_mute, int deleted,
                           int64_t *out_change_seq);

typedef struct store_conv {
    char peer_id[STORE_ID_MAX + 1];
    int conversation_type;
    int64_t last_seq, read_seq, change_seq, updated_at;
    int is_top, is_mute, deleted;
    /* one-to-one: the peer's read_seq of the same conversation (when the
     * peer reads, this row takes a new change_seq too) */
    int64_t peer_read_seq;
} store_conv_t;

/* Blocking: owner's conversations, deleted ones included (so devices learn
 * deletions), with change_seq > after_change_seq, ordered by change_seq, at
 * most limit; *max_change_seq (may be NULL): owner's largest change_seq (0
 * if none), same snapshot.  *out is malloc'ed (free()), NULL when empty. */
int store_conv_list_sync(store_t *st, int32_t app_id, const char *owner,
                         int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                         int64_t *max_change_seq);

/* Blocking: one conversation.  0 / STORE_ENOTFOUND. */
int store_conv_get_sync(store_t *st, int32_t app_id, const char *owner, int conversation_type,
                        const char *peer, store_conv_t *out);

#endif
