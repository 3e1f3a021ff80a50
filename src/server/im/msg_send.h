/*
 * Message use cases, transport-free: one function per use case, called by
 * the socket adapters (gateway/cmd_msg.c, gateway/cmd_gmsg.c) and the REST
 * adapters (api/api_msg.c, api/api_gmsg.c) alike.  A use case checks what
 * is not a matter of parsing (idempotency, delivery backlog, rate), hands
 * the write to the store's writer and, after the COMMIT, emits the domain
 * event (im/event.h) that notify/ turns into device pushes, then reports to
 * the caller.  It knows nothing of connections, packets or HTTP.
 *
 * Result and threading.  Every function calls done(arg, result) exactly
 * once (when done is not NULL):
 *   - either at once, on the caller's thread, before it returns
 *     (result->deferred == 0): refused before any store trip, answered by
 *     the idempotency cache, or the store did not take the job;
 *   - or later on the store's writer thread, in commit order, after the
 *     commit, the idempotency put and the event (result->deferred == 1).
 *     done must not block: post to a worker (socket) or answer through
 *     api_ok/api_fail (REST, thread-safe), as before this split.
 * The return value says which: 1 deferred (queued on the writer), 0 answered.
 * The caller owns the payload it passes (store_msg_t, store_recall_t,
 * store_group_op_t) and keeps it until done; the use case fills its outputs.
 */
#ifndef PETREL_IM_MSG_SEND_H
#define PETREL_IM_MSG_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "server/store/store.h"

typedef struct server server_t; /* im/server.h */

/* Who asks: the acting user and the device it came from. */
typedef struct im_origin {
    int32_t app_id;
    const char *user_id;   /* the sender / reader / requester */
    int client_type;       /* PETREL_CT_*; PETREL_CT_WEBAPI from REST */
    const char *imei;      /* "" from REST */
    uint64_t conn_id;      /* the sending connection, 0 from REST */
} im_origin_t;

typedef struct im_result {
    int code;          /* PETREL_OK or the refusal's code */
    const char *msg;   /* its words (static): the socket's, REST maps codes itself */
    int store_rc;      /* < 0 when the store failed or refused the job, else 0 */
    int deferred;      /* 1 on the writer thread after the commit, 0 at once */
    int cached;        /* 1 answered by the idempotency cache (a resend: nothing stored) */
    size_t reached;    /* one-to-one send: the receiver's devices pushed to */
} im_result_t;

typedef void (*im_done_fn)(void *arg, const im_result_t *r);

/* One-to-one send.  m is parsed (msg_parse_send) with app_id and from_id
 * set to from's; this assigns message_time (when 0), message_key and the
 * check flags.  Order: idempotency (a resend of an acked messageId answers
 * the original numbers, m->duplicate = 1, nothing stored), delivery backlog
 * (62080), send rate (the sender's, counting the body), store.  After the
 * commit: idempotency put, EV_MSG_STORED (not for a store duplicate), done.
 * Refusals by the store come back as result code m->reject. */
int im_send_p2p(server_t *s, const im_origin_t *from, store_msg_t *m, im_done_fn done, void *arg);

/* Group send: op parsed by gmsg_parse_send (operator_id = from's user; app
 * id set).  Same order and result as im_send_p2p; EV_GROUP_MSG_STORED. */
int im_send_group(server_t *s, const im_origin_t *from, store_group_op_t *op, im_done_fn done,
                  void *arg);

/* Recall one-to-one message_key (by its sender, or anyone when from is the
 * app admin) within the configured window; r filled by the store.  Result
 * code 0 or r->reject (50003 not found, 50004 window, 50005 done, 60006
 * not yours).  EV_MSG_RECALLED on success. */
int im_recall_p2p(server_t *s, const im_origin_t *from, int64_t message_key, store_recall_t *r,
                  im_done_fn done, void *arg);

/* The words of a recall's result code (socket 1051 ack). */
const char *im_recall_text(int code);

/* Recall group_id's message_key into op (filled here).  EV_GROUP_MSG_RECALLED. */
int im_recall_group(server_t *s, const im_origin_t *from, const char *group_id,
                    int64_t message_key, store_group_op_t *op, im_done_fn done, void *arg);

/* Mark the conversation with peer read up to seq (EV_MSG_READ when the read
 * sequence moved).  No result to the caller today: done may be NULL. */
int im_read_p2p(server_t *s, const im_origin_t *from, const char *peer, int64_t seq,
                im_done_fn done, void *arg);

/* Group read receipt up to seq (EV_GROUP_MSG_READ when it moved). */
int im_read_group(server_t *s, const im_origin_t *from, const char *group_id, int64_t seq,
                  im_done_fn done, void *arg);

/* Receive ack 1107 (socket only, nothing is stored): may acker's ack of
 * message_key be forwarded to peer?  Blocking (store reads): on the thread
 * pool.  0 and *out filled (the stored message, no body) when it may: the
 * message was sent by peer to acker and peer did not blacklist acker; else
 * PETREL_ERR_RACK_NO_MESSAGE, PETREL_ERR_BLACKED_BY_PEER or
 * PETREL_ERR_SYSTEM.  The forwarded packet is built from *out, never from
 * the client's JSON. */
int im_receive_ack_check_sync(server_t *s, int32_t app_id, const char *acker, const char *peer,
                              int64_t message_key, store_msg_row_t *out);

#endif
