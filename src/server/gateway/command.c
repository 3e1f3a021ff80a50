/*
 * The gateway's command table (command.h): open addressing with linear
 * probing over GW_TABLE slots (a power of two, at least twice
 * GW_COMMAND_MAX so probes stay short), keyed by the command number.
 */
#include "server/gateway/command.h"

#include <string.h>

#define GW_TABLE 256

static gw_command_t table[GW_TABLE];
static unsigned count;

static unsigned slot_of(int32_t cmd)
{
    return ((uint32_t)cmd * 2654435761u) >> 24; /* top 8 bits: GW_TABLE = 256 */
}

const gw_command_t *gw_command_find(int32_t cmd)
{
    if (cmd <= 0)
        return NULL;
    for (unsigned i = slot_of(cmd);; i = (i + 1) & (GW_TABLE - 1)) {
        const gw_command_t *e = &table[i];
        if (e->cmd == cmd)
            return e;
        if (e->cmd == 0)
            return NULL;
    }
}

int gw_command_register(int32_t cmd, gw_cmd_fn fn, unsigned flags)
{
    if (cmd <= 0 || !fn || (flags & ~(unsigned)(GW_CMD_NOAUTH | GW_CMD_FROM)) ||
        count >= GW_COMMAND_MAX || gw_command_find(cmd))
        return -1;
    unsigned i = slot_of(cmd);
    while (table[i].cmd)
        i = (i + 1) & (GW_TABLE - 1);
    table[i].cmd = cmd;
    table[i].flags = flags;
    table[i].fn = fn;
    count++;
    return 0;
}

void gw_command_reset(void)
{
    memset(table, 0, sizeof table);
    count = 0;
}

unsigned gw_command_count(void)
{
    return count;
}

int gw_command_gate(const gw_command_t *e, int authed, int from_ok)
{
    unsigned fl = e ? e->flags : GW_CMD_FROM;
    if (!(fl & GW_CMD_NOAUTH) && !authed)
        return PETREL_ERR_NOT_LOGGED_IN;
    if ((fl & GW_CMD_FROM) && !from_ok)
        return PETREL_ERR_FROM_MISMATCH;
    if (!e)
        return PETREL_ERR_UNKNOWN_CMD;
    return 0;
}
