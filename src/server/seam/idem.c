/* Idempotency interface (see idem.h): calls through idem_ops_t. */
#include "server/seam/idem.h"

#include <stdlib.h>

int idem_get(idem_t *c, int32_t app_id, const char *from_id, const char *message_id,
             idem_ack_t *out)
{
    return c && c->ops->get ? c->ops->get(c->impl, app_id, from_id, message_id, out) : 0;
}

void idem_put(idem_t *c, int32_t app_id, const char *from_id, const char *message_id,
              const idem_ack_t *ack)
{
    if (c && c->ops->put)
        c->ops->put(c->impl, app_id, from_id, message_id, ack);
}

void idem_free(idem_t *c)
{
    if (!c)
        return;
    if (c->ops->free)
        c->ops->free(c->impl);
    free(c);
}
