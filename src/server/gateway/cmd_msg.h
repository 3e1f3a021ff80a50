/*
 * Socket adapters of the message use cases (im/msg_send.h): parse a
 * logged-in connection's packet, call the use case, answer on the
 * connection's worker.  One-to-one in cmd_msg.c, groups in cmd_gmsg.c.
 */
#ifndef PETREL_GATEWAY_CMD_MSG_H
#define PETREL_GATEWAY_CMD_MSG_H

#include <jansson.h>

#include "petrel/proto.h"

typedef struct conn conn_t;       /* core/conn.h */
typedef struct server server_t;   /* im/server.h */

/* At start-up (gw_install, after the gateway's own commands): the message
 * commands into the gateway's command table, and this file's per-worker
 * state (receive ack batches) into a worker slot.  0, or -1. */
int cmd_msg_install(server_t *s);

/* MSG_P2P 1103, MSG_RECEIVE_ACK 1107, MSG_READED 1106, MSG_RECALL 1050
 * (conversationType 1 goes to gmsg_on_recall).  0, or -1 if the
 * connection is closing. */
int msg_on_packet(conn_t *c, const petrel_packet_t *p, json_t *body);

/* MSG_GROUP 2104 and MSG_GROUP_READED 2106.  0, or -1 if closing. */
int gmsg_on_packet(conn_t *c, const petrel_packet_t *p, json_t *body);

/* MSG_RECALL 1050 with conversationType 1. */
int gmsg_on_recall(conn_t *c, json_t *body);

#endif
