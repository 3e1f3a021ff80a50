/*
 * One-to-one message rules shared by the socket (MSG_P2P 1103,
 * gateway/cmd_msg.c) and REST (message/send, api/api_msg.c).  Flow of a
 * send (docs/PROTOCOL.md has the diagram): the adapter parses
 * (msg_parse_send) -> im_send_p2p (msg_send.h: idempotency, backlog, rate)
 * -> store_msg_p2p on the writer (duplicate, checks, sequence, body +
 * history + conversations in one group commit) -> on the writer after the
 * commit: EV_MSG_STORED, whose subscriber (notify/msg.c) pushes 1103 to the
 * receiver's devices and 1108 to the sender's other devices -> the adapter
 * answers: MSG_ACK 1046 on the sender's worker (or a server-made 1107
 * {serverSend:true} when the receiver has no device online), or the REST
 * reply.
 */
#ifndef PETREL_MSG_H
#define PETREL_MSG_H

#include <jansson.h>

#include "server/im/server.h"
#include "server/store/store.h"

/* Largest messageBody (bytes of its JSON text). */
#define MSG_MAX_BODY 32768

/* The fields every message send carries (1103, 2104, REST sends). */
typedef struct msg_fields {
    const char *message_id;  /* borrowed from the body */
    char *body, *extra;      /* malloc'ed JSON text; extra NULL when absent */
    int64_t message_time, message_random;
} msg_fields_t;

/* Validate messageId, messageBody, extra, messageTime and messageRandom
 * of a send body into f.  Returns 0 (the caller owns f->body/f->extra),
 * or a seed code with *why set and nothing allocated. */
int msg_parse_fields(json_t *body, msg_fields_t *f, const char **why);

/* Validate an uplink/REST send body into m (from_id is set by the caller).
 * Returns 0, or a seed code with *why set. */
int msg_parse_send(json_t *body, store_msg_t *m, const char **why);

/* store_msg_t.flags for a send in app_id: the app's settings
 * sendMessageCheckFriend / sendMessageCheckBlack (true or non-zero). */
unsigned msg_check_flags(server_t *s, int32_t app_id);

/* The send rate limits (ratelimit.h, config send_rate_*): 0 when
 * user_id may send a message of `bytes` body bytes now (it is counted),
 * else PETREL_ERR_RATE_LIMITED.  On a worker thread. */
int msg_rate_check(server_t *s, int32_t app_id, const char *user_id, size_t bytes);

/* The pushed content of a stored message (1103/1108 data). */
json_t *msg_content_json(const store_msg_t *m, int client_type, const char *imei);
/* The server-made receive ack 1107 {serverSend: true} for a stored message
 * whose receiver had no device online (to the sender's connection). */
json_t *msg_server_receipt_json(const store_msg_t *m);

#endif
