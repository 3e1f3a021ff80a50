/*
 * The gateway: the socket protocol of TCP and WebSocket connections
 * (installed on the runtime as its conn_proto_t by gw_install).  Pushing
 * to users is deliver/deliver.h.
 */
#ifndef PETREL_GATEWAY_H
#define PETREL_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "server/im/server.h"

/* At start-up, before workers_start: the gateway becomes the runtime's
 * socket protocol (conn_proto_t) and keeps its per-worker state (LOGIN
 * lookup batches) in a worker slot.  0, or -1 (no slot left). */
int gw_install(server_t *s);

/* The socket protocol (conn_proto_t hooks).  gw_on_packet: one decoded
 * uplink packet from a TCP or WS connection; 0 to go on, -1 if the
 * connection is now closing. */
int gw_on_packet(conn_t *c, const petrel_packet_t *p);
void gw_on_close(conn_t *c);
void gw_free_held(conn_t *c);
/* Error from the codec for this connection: send error, close. */
void gw_protocol_error(conn_t *c, int code, const char *msg, int32_t command);
void gw_on_timeout(conn_t *c, enum conn_list l);
void gw_on_shutdown(conn_t *c);
/* deliver_cfg_t.kick_later: a kick that reaches a connection whose LOGIN
 * is being answered waits for its LOGINACK (the registration runs on the
 * thread pool, so another login may kick it first): no client sees
 * MUTUALLOGIN before its own LOGINACK. */
void gw_kick_after_login(conn_t *c, int by_client_type, const char *by_imei);

#endif
