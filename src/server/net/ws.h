/*
 * WebSocket connections (ws.c) as the socket protocol sees them: a close
 * frame with a status code before the connection closes.
 */
#ifndef PETREL_WS_H
#define PETREL_WS_H

#include <stdint.h>

#include "server/core/conn.h"

/* Queue a close frame (code, reason cut to fit); nothing more is sent
 * after it.  Nothing if c is not a WebSocket or is already closing. */
void ws_close_with(conn_t *c, uint16_t code, const char *reason);

#endif
