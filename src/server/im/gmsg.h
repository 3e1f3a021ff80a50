/*
 * Group messages on the socket (docs/PROTOCOL.md "Group messages"):
 * MSG_GROUP 2104 (send), MSG_GROUP_READED 2106, and MSG_RECALL 1050 with
 * conversationType 1.  Flow of a send: validate on the loop -> idempotency
 * cache -> store_group_write(SG_MSG) on the writer (duplicate lookup,
 * sender, membership and mute rules, the group's next sequence, the one
 * message row, in the group commit) -> in the writer's callback, in commit
 * order: the idempotency cache, then one queued group push (gpush.h: 2104
 * to every other member's devices, 2105 to the sender's other devices,
 * the member list looked up off the loops and never put into the pushed
 * message) -> back on the sender's worker: GROUP_MSG_ACK 2047.
 */
#ifndef PETREL_GMSG_H
#define PETREL_GMSG_H

#include <jansson.h>

#include "server/im/server.h"
#include "server/store/store.h"

/* Socket commands 2104 / 2106 of a logged-in connection; 0, or -1 when
 * it is closing. */
int gmsg_on_packet(conn_t *c, const petrel_packet_t *p, json_t *body);

/* MSG_RECALL 1050 with conversationType 1 (msg.c routes it here). */
int gmsg_on_recall(conn_t *c, json_t *body);

/* Validate an uplink/REST group send body into op (SG_MSG; operator_id
 * is set by the caller).  0, or 90001 with *why. */
int gmsg_parse_send(json_t *body, store_group_op_t *op, const char **why);

/* The pushed content of a stored group message (2104/2105 data). */
json_t *gmsg_content_json(const store_group_op_t *op, int client_type, const char *imei);

/* A stored message as a history/sync row. */
json_t *gmsg_row_json(int32_t app_id, const char *group_id, const char *reader,
                      const store_group_msg_row_t *r);

/* Queue the fan-out of a committed message op (writer thread). */
void gmsg_fanout(server_t *s, const store_group_op_t *op, int client_type, const char *imei,
                 uint64_t except_conn);

/* Free an op's message strings and outputs. */
void gmsg_op_free(store_group_op_t *op);

#endif
