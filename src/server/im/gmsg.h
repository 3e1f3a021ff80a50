/*
 * Group message rules shared by the socket (MSG_GROUP 2104,
 * MSG_GROUP_READED 2106, MSG_RECALL 1050 with conversationType 1:
 * gateway/cmd_gmsg.c) and REST (group/sendMessage, api/api_gmsg.c);
 * docs/PROTOCOL.md "Group messages".  Flow of a send: the adapter parses
 * (gmsg_parse_send) -> im_send_group (msg_send.h: idempotency cache,
 * backlog, rate) -> store_group_write(SG_MSG) on the writer (duplicate
 * lookup, sender, membership and mute rules, the group's next sequence, the
 * one message row, in the group commit) -> in the writer's callback, in
 * commit order: the idempotency cache, then EV_GROUP_MSG_STORED, whose
 * subscriber (notify/gmsg.c) queues one group push (2104 to every other
 * member's devices, 2105 to the sender's other devices) -> the adapter
 * answers: GROUP_MSG_ACK 2047 on the sender's worker, or the REST reply.
 */
#ifndef PETREL_GMSG_H
#define PETREL_GMSG_H

#include <jansson.h>

#include "server/im/server.h"
#include "server/store/store.h"

/* Validate an uplink/REST group send body into op (SG_MSG; operator_id
 * is set by the caller).  0, or 90001 with *why. */
int gmsg_parse_send(json_t *body, store_group_op_t *op, const char **why);

/* The pushed content of a stored group message (2104/2105 data). */
json_t *gmsg_content_json(const store_group_op_t *op, int client_type, const char *imei);

/* A stored message as a history/sync row. */
json_t *gmsg_row_json(int32_t app_id, const char *group_id, const char *reader,
                      const store_group_msg_row_t *r);

/* Free an op's message strings and outputs. */
void gmsg_op_free(store_group_op_t *op);

#endif
