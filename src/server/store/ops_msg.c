/*
 * One-to-one messages and conversations (msg.h, conv.h): validation,
 * the submit functions that queue their writes (store_msg_p2p is the
 * hot path: the op and copies of body and extra, then one lock in
 * submit; nothing else), the blocking reads.
 */
#include "server/store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- messages and conversations ---- */

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int make_msg_p2p(store_t *st, store_msg_t *m, op_t **out)
{
    *out = NULL;
    if (!st || !m || !str_len_ok(m->from_id, STORE_ID_MAX) ||
        !str_len_ok(m->to_id, STORE_ID_MAX) || !str_len_ok(m->message_id, STORE_ID_MAX) ||
        strcmp(m->from_id, m->to_id) == 0 || !m->body || m->message_key <= 0 ||
        (m->flags & ~(STORE_MSG_CHECK_FRIEND | STORE_MSG_CHECK_BLACK)))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_MSG_P2P);
    if (!op)
        return STORE_EIO;
    *out = op;
    store_msg_t *c = &op->u.p2p.msg;
    *c = *m;
    c->body = NULL;
    c->extra = NULL;
    c->sequence = c->created_at = 0;
    c->duplicate = c->reject = c->del_flag = 0;
    op->u.p2p.out = m;
    if (!(c->body = str_dup(m->body)) || (m->extra && !(c->extra = str_dup(m->extra))))
        return STORE_EIO;
    return 0;
}

int store_msg_p2p(store_t *st, store_msg_t *m, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_msg_p2p(st, m, &op);
    return st_enqueue_msg(st, rc, op, done, arg);
}

int store_msg_p2p_sync(store_t *st, store_msg_t *m)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_msg_p2p(st, m, &op);
    return st_enqueue_wait(st, rc, op);
}

static int make_msg_read(store_t *st, int32_t app_id, const char *owner, const char *peer,
                         int64_t seq, int64_t *out_read_seq, int *out_changed, op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner) || !id_ok(peer))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_MSG_READ);
    if (!op)
        return STORE_EIO;
    op->u.read.app_id = app_id;
    id_copy(op->u.read.owner, owner);
    id_copy(op->u.read.peer, peer);
    op->u.read.seq = seq;
    op->u.read.out_read_seq = out_read_seq;
    op->u.read.out_changed = out_changed;
    *out = op;
    return 0;
}

int store_msg_read(store_t *st, int32_t app_id, const char *owner, const char *peer,
                   int64_t seq, int64_t *out_read_seq, int *out_changed,
                   store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_msg_read(st, app_id, owner, peer, seq, out_read_seq, out_changed, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_msg_read_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                        int64_t seq, int64_t *out_read_seq, int *out_changed)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_msg_read(st, app_id, owner, peer, seq, out_read_seq, out_changed, &op);
    return st_enqueue_wait(st, rc, op);
}

static int make_msg_recall(store_t *st, int32_t app_id, int64_t message_key,
                           const char *requester, int is_admin, int64_t now_ms,
                           int64_t window_ms, store_recall_t *res, op_t **out)
{
    *out = NULL;
    if (!st || !res || !id_ok(requester) || window_ms < 0)
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_MSG_RECALL);
    if (!op)
        return STORE_EIO;
    op->u.recall.app_id = app_id;
    op->u.recall.message_key = message_key;
    id_copy(op->u.recall.requester, requester);
    op->u.recall.is_admin = is_admin != 0;
    op->u.recall.now_ms = now_ms;
    op->u.recall.window_ms = window_ms;
    op->u.recall.out = res;
    *out = op;
    return 0;
}

int store_msg_recall(store_t *st, int32_t app_id, int64_t message_key, const char *requester,
                     int requester_is_admin, int64_t now_ms, int64_t window_ms,
                     store_recall_t *out, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_msg_recall(st, app_id, message_key, requester, requester_is_admin, now_ms,
                             window_ms, out, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_msg_recall_sync(store_t *st, int32_t app_id, int64_t message_key,
                          const char *requester, int requester_is_admin, int64_t now_ms,
                          int64_t window_ms, store_recall_t *out)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_msg_recall(st, app_id, message_key, requester, requester_is_admin, now_ms,
                             window_ms, out, &op);
    return st_enqueue_wait(st, rc, op);
}

static int keep_or_flag(int v)
{
    return v == -1 || v == 0 || v == 1;
}

static int make_conv_update(store_t *st, int32_t app_id, const char *owner, const char *peer,
                            int type, int is_top, int is_mute, int deleted,
                            int64_t *out_change_seq, op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner) || !id_ok(peer) || type < 0 || !keep_or_flag(is_top) ||
        !keep_or_flag(is_mute) || !keep_or_flag(deleted))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_CONV_UPDATE);
    if (!op)
        return STORE_EIO;
    op->u.conv.app_id = app_id;
    id_copy(op->u.conv.owner, owner);
    id_copy(op->u.conv.peer, peer);
    op->u.conv.type = type;
    op->u.conv.is_top = is_top;
    op->u.conv.is_mute = is_mute;
    op->u.conv.deleted = deleted;
    op->u.conv.out = out_change_seq;
    *out = op;
    return 0;
}

int store_conv_update(store_t *st, int32_t app_id, const char *owner, const char *peer,
                      int conversation_type, int is_top, int is_mute, int deleted,
                      int64_t *out_change_seq, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_conv_update(st, app_id, owner, peer, conversation_type, is_top, is_mute,
                              deleted, out_change_seq, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_conv_update_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int conversation_type, int is_top, int is_mute, int deleted,
                           int64_t *out_change_seq)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_conv_update(st, app_id, owner, peer, conversation_type, is_top, is_mute,
                              deleted, out_change_seq, &op);
    return st_enqueue_wait(st, rc, op);
}

void store_msg_rows_free(store_msg_row_t *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].body);
        free(rows[i].extra);
    }
    free(rows);
}

static int clamp_limit(int limit)
{
    if (limit < 1)
        return 1;
    return limit > STORE_MSG_LIMIT_MAX ? STORE_MSG_LIMIT_MAX : limit;
}

int store_msg_history_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int64_t from_seq, int64_t to_seq, int limit, int descending,
                           store_msg_row_t **out, size_t *n)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(owner) || !id_ok(peer))
        return STORE_EINVAL;
    /* A bound rather than "0 = none" in SQL keeps the range usable by the
     * primary key in both directions. */
    if (to_seq <= 0)
        to_seq = INT64_MAX;
    return st->bops->msg_history(st->be, app_id, owner, peer, from_seq, to_seq,
                                 clamp_limit(limit), descending != 0, out, n);
}

int store_msg_sync_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_key,
                        int limit, store_msg_row_t **out, size_t *n, int64_t *max_key)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mk = 0;
    if (max_key)
        *max_key = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->msg_sync(st->be, app_id, owner, after_key, clamp_limit(limit), out, n,
                                &mk);
    if (rc == 0 && max_key)
        *max_key = mk;
    return rc;
}

int store_conv_list_sync(store_t *st, int32_t app_id, const char *owner,
                         int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                         int64_t *max_change_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mc = 0;
    if (max_change_seq)
        *max_change_seq = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->conv_list(st->be, app_id, owner, after_change_seq, clamp_limit(limit),
                                 out, n, &mc);
    if (rc == 0 && max_change_seq)
        *max_change_seq = mc;
    return rc;
}

int store_msg_head_sync(store_t *st, int32_t app_id, int64_t message_key, store_msg_row_t *out)
{
    if (!st || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (message_key <= 0)
        return STORE_ENOTFOUND;
    int rc = st->bops->msg_head(st->be, app_id, message_key, out);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int store_conv_get_sync(store_t *st, int32_t app_id, const char *owner, int conversation_type,
                        const char *peer, store_conv_t *out)
{
    if (!st || !owner || !peer || !out)
        return STORE_EINVAL;
    if (!id_ok(owner) || !id_ok(peer) || conversation_type < 0)
        return STORE_ENOTFOUND; /* no conversation can have that key */
    return st->bops->conv_get(st->be, app_id, owner, conversation_type, peer, out);
}
