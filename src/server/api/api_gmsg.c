/*
 * group/sendMessage (admin): the REST adapter of the group send use case
 * (im_send_group, im/msg_send.h), the same as the socket's 2104: idempotency
 * (a resend of a messageId answers the original key and sequence), the
 * delivery backlog, the sender's rate, the store's membership and mute
 * rules; the pushes are notify/gmsg.c's.  The other group endpoints are in
 * api_groups.c.
 */
#include "server/api/api.h"

#include "server/im/gmsg.h"
#include "server/im/msg_send.h"
#include "server/model/group_rules.h"

#include <stdlib.h>
#include <string.h>

/* im_send_group's result, at once or from the writer thread. */
static void sent(void *arg, const im_result_t *r)
{
    api_ctx_t *ctx = arg;
    store_group_op_t *op = ctx->u;
    ctx->u = NULL;
    if (!api_send_failed(ctx, r, api_fail_submit))
        api_ok(ctx, json_pack("{s:I, s:I, s:I, s:s, s:b}", "messageKey",
                              (json_int_t)op->msg.message_key, "messageSequence",
                              (json_int_t)op->msg.sequence, "messageTime",
                              (json_int_t)op->msg.message_time, "messageId",
                              op->msg.message_id, "duplicate", op->msg.duplicate));
    gmsg_op_free(op);
    free(op);
}

void h_group_send(api_ctx_t *ctx)
{
    if (api_require_admin(ctx) < 0)
        return;
    const char *from;
    if (api_str(ctx, "fromId", STORE_ID_MAX, 1, &from) < 0)
        return;
    if (!api_valid_user_id(from)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "fromId must be a user id");
        return;
    }
    store_group_op_t *op = calloc(1, sizeof *op);
    if (!op) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    op->app_id = ctx->app_id;
    op->admin = 0; /* the membership and mute rules hold for the sender */
    snprintf(op->operator_id, sizeof op->operator_id, "%s", from);
    const char *why = NULL;
    if (gmsg_parse_send(ctx->body, op, &why)) {
        gmsg_op_free(op);
        free(op);
        api_fail(ctx, 400, PETREL_ERR_PARAM, why);
        return;
    }
    ctx->u = op;
    im_origin_t origin = {ctx->app_id, op->operator_id, PETREL_CT_WEBAPI, "", 0};
    im_send_group(ctx->srv, &origin, op, sent, ctx); /* sent answers, now or later */
}
