/*
 * Message and conversation endpoints (seed inventory §5.5): admin send,
 * offline sync by messageKey, per-conversation history and range pulls,
 * and the conversation list with update/delete.  Reads run on the thread
 * pool; message/send is the REST adapter of im_send_p2p (im/msg_send.h, the
 * pushes are notify/'s); the conversation writes go through the store's
 * writer and push to the owner's devices after the commit.
 */
#include "server/api/api.h"

#include "server/im/conv.h"
#include "server/im/msg.h"
#include "server/im/msg_send.h"
#include "server/im/msgkey.h"

#include <stdlib.h>
#include <string.h>

static json_t *row_json(int32_t app_id, const char *owner, const store_msg_row_t *r)
{
    const char *peer = strcmp(r->from_id, owner) ? r->from_id : r->to_id;
    char conv[2 * STORE_ID_MAX + 8];
    snprintf(conv, sizeof conv, "0_%s_%s", owner, peer);
    json_t *o = json_pack("{s:i, s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:s}",
                          "appId", app_id, "messageKey", (json_int_t)r->message_key,
                          "messageSequence", (json_int_t)r->sequence, "fromId", r->from_id,
                          "toId", r->to_id, "messageId", r->message_id, "messageTime",
                          (json_int_t)r->message_time, "messageRandom",
                          (json_int_t)r->message_random, "serverTime", (json_int_t)r->created_at,
                          "delFlag", r->del_flag, "conversationType", 0, "conversationId", conv);
    if (o && r->body)
        json_object_set_new(o, "messageBody", json_string(r->body));
    if (o && r->extra)
        json_object_set_new(o, "extra", json_string(r->extra));
    return o;
}

/* ---- message/send (admin) ------------------------------------------------------ */

/* The store did not take the send (rc < 0). */
static void unqueued(api_ctx_t *ctx, int rc)
{
    if (rc == STORE_EBUSY)
        api_fail(ctx, 503, PETREL_ERR_BUSY, "server busy: resend later");
    else
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "storage unavailable");
}

/* im_send_p2p's result, at once or from the writer thread (api_ok/api_fail
 * are thread-safe): the reply, then m is freed. */
static void send_done(void *arg, const im_result_t *r)
{
    api_ctx_t *ctx = arg;
    store_msg_t *m = ctx->u;
    ctx->u = NULL;
    if (!api_send_failed(ctx, r, unqueued))
        api_ok(ctx, json_pack("{s:I, s:I, s:I, s:s, s:b}", "messageKey", (json_int_t)m->message_key,
                              "messageSequence", (json_int_t)m->sequence, "messageTime",
                              (json_int_t)m->message_time, "messageId", m->message_id,
                              "duplicate", m->duplicate));
    free(m->body);
    free(m->extra);
    free(m);
}

/* message/send {fromId?, toId, messageId?, messageBody, ...}: the same use
 * case as the socket's 1103 (im_send_p2p), with its idempotency: a resend
 * of a messageId answers the original messageKey and sequence. */
void h_message_send(api_ctx_t *ctx)
{
    const char *from;
    /* fromId defaults to the operator, as everywhere else */
    if (api_str(ctx, "fromId", STORE_ID_MAX, 0, &from) < 0)
        return;
    if (!from)
        from = ctx->identifier;
    if (api_check_operator(ctx, from) < 0)
        return;
    store_msg_t *m = calloc(1, sizeof *m);
    if (!m) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    m->app_id = ctx->app_id;
    snprintf(m->from_id, sizeof m->from_id, "%s", from);
    if (!json_object_get(ctx->body, "messageId")) {
        char id[40];
        snprintf(id, sizeof id, "api-%lld", (long long)msgkey_next(ctx->srv->cfg.node_id, now_ms()));
        json_object_set_new(ctx->body, "messageId", json_string(id));
    }
    const char *why = NULL;
    int code = msg_parse_send(ctx->body, m, &why);
    if (code) {
        free(m);
        api_fail(ctx, 400, code, why);
        return;
    }
    ctx->u = m;
    im_origin_t origin = {ctx->app_id, m->from_id, PETREL_CT_WEBAPI, "", 0};
    im_send_p2p(ctx->srv, &origin, m, send_done, ctx); /* send_done answers, now or later */
}

/* ---- reads ------------------------------------------------------------------------ */

typedef struct q {
    char owner[STORE_ID_MAX + 1], peer[STORE_ID_MAX + 1];
    int64_t a, b;
    int limit, desc;
    int none; /* the answer is known to be empty: no store read */
} q_t;

static void sync_work(api_ctx_t *ctx)
{
    q_t *q = ctx->u;
    store_msg_row_t *rows = NULL;
    size_t n = 0;
    int64_t max_key = 0;
    ctx->rc = store_msg_sync_sync(ctx->srv->store, ctx->app_id, q->owner, q->a, q->limit, &rows,
                                  &n, &max_key);
    if (ctx->rc < 0)
        return;
    json_t *list = json_array();
    int64_t last = q->a;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(list, row_json(ctx->app_id, q->owner, &rows[i]));
        last = rows[i].sync_key;
    }
    ctx->out = json_pack("{s:I, s:I, s:b, s:o}", "maxSequence", (json_int_t)max_key, "lastSequence",
                         (json_int_t)last, "completed", last >= max_key, "dataList", list);
    store_msg_rows_free(rows, n);
}

static q_t *new_q(api_ctx_t *ctx, const char *owner)
{
    q_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    snprintf(q->owner, sizeof q->owner, "%s", owner);
    return q;
}

void h_sync_offline(api_ctx_t *ctx)
{
    const char *owner = NULL;
    long long last = 0, limit = 100;
    if (api_str(ctx, "operator", STORE_ID_MAX, 0, &owner) < 0 ||
        api_int(ctx, "lastSequence", 0, INT64_MAX, 0, &last) < 0 ||
        api_int(ctx, "maxLimit", 1, 1000, 0, &limit) < 0)
        return;
    if (!owner)
        owner = ctx->identifier;
    if (api_check_operator(ctx, owner) < 0)
        return;
    q_t *q = new_q(ctx, owner);
    if (!q)
        return;
    q->a = last;
    q->limit = (int)(limit > 200 ? 200 : limit);
    ctx->u = q;
    api_defer(ctx, sync_work, api_done_out);
}

static void history_work(api_ctx_t *ctx)
{
    q_t *q = ctx->u;
    store_msg_row_t *rows = NULL;
    size_t n = 0;
    ctx->rc = q->none ? 0
                      : store_msg_history_sync(ctx->srv->store, ctx->app_id, q->owner, q->peer,
                                               q->a, q->b, q->limit, q->desc, &rows, &n);
    if (ctx->rc < 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, row_json(ctx->app_id, q->owner, &rows[i]));
    ctx->out = json_pack("{s:o, s:b}", "dataList", list, "hasMore", (int)n == q->limit);
    store_msg_rows_free(rows, n);
}

/* queryP2pMessageHistory {ownerId?, toId, messageSequence?, isGt?, limit?}:
 * isGt true -> messages after messageSequence ascending, else before it
 * descending (older pages when scrolling up). */
void h_p2p_history(api_ctx_t *ctx)
{
    const char *owner = NULL, *peer;
    long long seq = 0, limit = 20;
    json_t *gt = json_object_get(ctx->body, "isGt");
    if (api_str(ctx, "ownerId", STORE_ID_MAX, 0, &owner) < 0 ||
        api_str(ctx, "toId", STORE_ID_MAX, 1, &peer) < 0 ||
        api_int(ctx, "limit", 1, 200, 0, &limit) < 0)
        return;
    if (api_seq(ctx, "messageSequence", 0, 0, &seq) < 0)
        return;
    if (!owner)
        owner = ctx->identifier;
    if (api_check_operator(ctx, owner) < 0)
        return;
    q_t *q = new_q(ctx, owner);
    if (!q)
        return;
    snprintf(q->peer, sizeof q->peer, "%s", peer);
    q->limit = (int)limit;
    if (json_is_true(gt)) {
        /* nothing comes after the largest sequence (and seq + 1 would overflow) */
        q->none = seq == INT64_MAX;
        q->a = q->none ? seq : seq + 1;
        q->b = 0;
    } else {
        q->a = 0;
        q->b = seq > 0 ? seq - 1 : 0;
        q->desc = 1;
        if (seq == 1) { /* nothing before the first message */
            q->a = 1;
            q->b = 0;
            q->limit = 1;
        }
    }
    ctx->u = q;
    api_defer(ctx, history_work, api_done_out);
}

/* getP2pMessageRange {toId, fromSequence, toSequence, limit}: fill a gap. */
void h_p2p_range(api_ctx_t *ctx)
{
    const char *peer;
    long long a = 1, b = 0, limit = 100;
    if (api_str(ctx, "toId", STORE_ID_MAX, 1, &peer) < 0 ||
        api_int(ctx, "fromSequence", 1, INT64_MAX, 1, &a) < 0 ||
        api_int(ctx, "toSequence", 0, INT64_MAX, 0, &b) < 0 ||
        api_int(ctx, "limit", 1, 200, 0, &limit) < 0)
        return;
    q_t *q = new_q(ctx, ctx->identifier);
    if (!q)
        return;
    snprintf(q->peer, sizeof q->peer, "%s", peer);
    q->a = a;
    q->b = b;
    q->limit = (int)limit;
    ctx->u = q;
    api_defer(ctx, history_work, api_done_out);
}

/* ---- conversations --------------------------------------------------------------------- */

static json_t *conv_json(const char *owner, const store_conv_t *c)
{
    char id[2 * STORE_ID_MAX + 8];
    snprintf(id, sizeof id, "%d_%s_%s", c->conversation_type, owner, c->peer_id);
    int64_t unread = c->last_seq > c->read_seq ? c->last_seq - c->read_seq : 0;
    return json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:b, s:I, s:I}",
                     "conversationId", id, "conversationType", c->conversation_type, "fromId",
                     owner, "toId", c->peer_id, "isTop", c->is_top, "isMute", c->is_mute,
                     "readedSequence", (json_int_t)c->read_seq, "lastSequence",
                     (json_int_t)c->last_seq, "unreadCount", (json_int_t)unread, "sequence",
                     (json_int_t)c->change_seq, "deleted", c->deleted, "updateTime",
                     (json_int_t)c->updated_at, "peerReadSequence",
                     (json_int_t)c->peer_read_seq);
}

static void conv_list_work(api_ctx_t *ctx)
{
    q_t *q = ctx->u;
    store_conv_t *rows = NULL;
    size_t n = 0;
    int64_t max = 0;
    ctx->rc = store_conv_list_sync(ctx->srv->store, ctx->app_id, q->owner, q->a, q->limit, &rows,
                                   &n, &max);
    if (ctx->rc < 0)
        return;
    json_t *list = json_array();
    int64_t last = q->a;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(list, conv_json(q->owner, &rows[i]));
        last = rows[i].change_seq;
    }
    ctx->out = json_pack("{s:I, s:b, s:o}", "maxSequence", (json_int_t)max, "completed", last >= max,
                         "dataList", list);
    free(rows);
}

void h_conv_sync(api_ctx_t *ctx)
{
    long long last = 0, limit = 100;
    if (api_int(ctx, "lastSequence", 0, INT64_MAX, 0, &last) < 0 ||
        api_int(ctx, "maxLimit", 1, 1000, 0, &limit) < 0)
        return;
    q_t *q = new_q(ctx, ctx->identifier);
    if (!q)
        return;
    q->a = last;
    q->limit = (int)(limit > 100 ? 100 : limit);
    ctx->u = q;
    api_defer(ctx, conv_list_work, api_done_out);
}

/* "0_{owner}_{peer}" (one-to-one) or "1_{owner}_{groupId}" (group) ->
 * type, owner and peer; the owner must be the operator (or admin). */
static int parse_conv_id(api_ctx_t *ctx, const char *id, int *type, char *owner, char *peer)
{
    if ((id[0] != '0' && id[0] != '1') || id[1] != '_') {
        api_fail(ctx, 400, PETREL_ERR_PARAM,
                 "conversationId must be 0_{owner}_{peer} or 1_{owner}_{groupId}");
        return -1;
    }
    *type = id[0] - '0';
    const char *rest = id + 2;
    size_t ol = strlen(ctx->identifier);
    const char *o = ctx->identifier;
    if (ctx->is_admin) { /* admin: the owner is up to the first '_' */
        const char *us = strchr(rest, '_');
        if (!us) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "conversationId must be 0_{owner}_{peer}");
            return -1;
        }
        ol = (size_t)(us - rest);
        o = rest;
    }
    if (strncmp(rest, o, ol) || rest[ol] != '_' || !rest[ol + 1] || ol > STORE_ID_MAX ||
        strlen(rest + ol + 1) > STORE_ID_MAX) {
        api_fail(ctx, 403, PETREL_ERR_NOT_OPERATOR, "not your conversation");
        return -1;
    }
    memcpy(owner, rest, ol);
    owner[ol] = '\0';
    snprintf(peer, STORE_ID_MAX + 1, "%s", rest + ol + 1);
    return 0;
}

/* Writer thread, after the commit and the event (notify/conv.c told the
 * owner's devices). */
static void conv_update_done(void *arg, int rc, im_conv_change_t *j)
{
    api_ctx_t *ctx = arg;
    ctx->u = NULL;
    if (rc == STORE_ENOTFOUND) {
        free(j);
        api_fail(ctx, 200, PETREL_ERR_CONVERSATION, "conversation not found");
        return;
    }
    if (rc < 0) {
        free(j);
        api_fail_store(ctx, rc);
        return;
    }
    ev_conv_t d = {j->owner, j->peer, j->conversation_id, j->type, j->is_top, j->is_mute,
                   j->change_seq};
    json_t *o = im_conv_json(&d, j->del);
    free(j);
    api_ok(ctx, o);
}

static void conv_change(api_ctx_t *ctx, int del)
{
    const char *id;
    long long top = -1, mute = -1;
    if (api_str(ctx, "conversationId", 2 * STORE_ID_MAX + 4, 1, &id) < 0 ||
        (!del && (api_int(ctx, "isTop", 0, 1, 0, &top) < 0 ||
                  api_int(ctx, "isMute", 0, 1, 0, &mute) < 0)))
        return;
    if (!del && top < 0 && mute < 0) {
        api_fail(ctx, 200, PETREL_ERR_CONVERSATION, "isTop or isMute is required");
        return;
    }
    im_conv_change_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    if (parse_conv_id(ctx, id, &j->type, j->owner, j->peer) < 0) {
        free(j);
        return;
    }
    /* A group conversation's rows do not follow each group message (their
     * last sequence is read from the group), so a deleted one could not
     * come back with the next message: refuse rather than lose it. */
    if (del && j->type == 1) {
        free(j);
        api_fail(ctx, 200, PETREL_ERR_CONVERSATION, "a group conversation cannot be deleted; mute it instead");
        return;
    }
    j->app_id = ctx->app_id;
    snprintf(j->conversation_id, sizeof j->conversation_id, "%s", id);
    j->is_top = (int)top;
    j->is_mute = (int)mute;
    j->del = del;
    ctx->u = j;
    if (im_conv_change(ctx->srv, j, conv_update_done, ctx) < 0) {
        ctx->u = NULL;
        free(j);
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "storage unavailable");
    }
}

void h_conv_update(api_ctx_t *ctx)
{
    conv_change(ctx, 0);
}

void h_conv_delete(api_ctx_t *ctx)
{
    conv_change(ctx, 1);
}
