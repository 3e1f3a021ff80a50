/*
 * The gateway's command table: which handler serves an uplink command of
 * the socket protocol, and which checks the gateway makes before calling
 * it.  Filled at start-up (gw_install, before the workers start), read
 * without a lock by every worker afterwards; a lookup is a few probes of a
 * small open-addressing table, no allocation.
 *
 * Checks (gw_command_gate), in this order, before a handler is called:
 *  - logged in, unless GW_CMD_NOAUTH (LOGIN): else 61006 and the
 *    connection is closed;
 *  - with GW_CMD_FROM, the body's "fromId" (if present) and the header's
 *    appId (if not 0) are the logged-in user's: else 61007;
 *  - the command is in the table: else 61008.
 * An unknown command is checked like a domain command (logged in,
 * fromId) before it gets its 61008, as when the domain dispatchers
 * answered it.  The gateway itself has checked before that the body is a
 * JSON object and that the user is not forbidden since LOGIN.
 */
#ifndef PETREL_GW_COMMAND_H
#define PETREL_GW_COMMAND_H

#include <jansson.h>
#include <stdint.h>

#include "petrel/proto.h"
#include "server/core/conn.h"

/* A command handler: 0 to go on, -1 if the connection is now closing.
 * body is the packet's JSON object (borrowed). */
typedef int (*gw_cmd_fn)(conn_t *c, const petrel_packet_t *p, json_t *body);

enum gw_cmd_flags {
    GW_CMD_NOAUTH = 1, /* may come before LOGIN (LOGIN itself) */
    GW_CMD_FROM = 2,   /* fromId / appId must be the logged-in user's */
};

typedef struct gw_command {
    int32_t cmd;       /* 0: free slot */
    unsigned flags;    /* enum gw_cmd_flags */
    gw_cmd_fn fn;
} gw_command_t;

/* Most commands the table holds. */
#define GW_COMMAND_MAX 96

/* Register fn for cmd (> 0).  0, or -1: cmd already registered, the
 * table is full, or an argument is invalid.  At start-up only. */
int gw_command_register(int32_t cmd, gw_cmd_fn fn, unsigned flags);
/* The entry of cmd, or NULL.  Any thread, once start-up is over. */
const gw_command_t *gw_command_find(int32_t cmd);
/* Empty the table (start-up, tests). */
void gw_command_reset(void);
/* Commands registered. */
unsigned gw_command_count(void);
/* What the gateway does with a packet of command e (NULL: unknown) on a
 * connection that is logged in (authed) and whose body names the
 * logged-in user (from_ok): 0 to call e->fn, else the error code to
 * answer (PETREL_ERR_NOT_LOGGED_IN: and close). */
int gw_command_gate(const gw_command_t *e, int authed, int from_ok);

#endif
