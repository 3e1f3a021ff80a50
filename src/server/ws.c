/*
 * WebSocket connections (RFC 6455) through wslay's event API.  The HTTP
 * layer does the upgrade handshake and hands the connection over with any
 * bytes that followed it.  Each binary message carries exactly one uplink
 * packet; text frames are refused with close code 1003.  wslay reassembles
 * fragments, answers pings and runs the close handshake; its output is
 * pulled at flush time (ws_send_pending) so it is batched like TCP output.
 */
#include "server/server.h"

#include "server/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

typedef struct ws_state {
    wslay_event_context_ptr ctx;
    const uint8_t *in;
    size_t in_len;
    /* wslay sends control frames before queued messages, and nothing after
     * a close; so a close requested behind data waits here until the data
     * is out (an error packet must reach the client before the close) */
    uint16_t close_code;
    char close_reason[124];
} ws_state_t;

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    ws_state_t *st = ((conn_t *)user)->proto;
    if (st->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < st->in_len ? len : st->in_len;
    memcpy(buf, st->in, n);
    st->in += n;
    st->in_len -= n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user)
{
    (void)flags;
    conn_t *c = user;
    frame_t *f = (c->flags & CF_CLOSED) ? NULL : frame_from(data, len);
    if (!f || conn_queue_owned(c, f) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                      void *user)
{
    (void)ctx;
    conn_t *c = user;
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    if (m->opcode == WSLAY_TEXT_FRAME) {
        ws_close_with(c, 1003, "text frames are not supported; send binary");
        conn_close_after_flush(c);
        return;
    }
    if (m->opcode != WSLAY_BINARY_FRAME)
        return; /* control frames: wslay already answered */
    petrel_packet_t p;
    int r = petrel_decode_up(m->msg, m->msg_length, &c->w->srv->limits, &p);
    if (r == PETREL_DEC_OK && p.frame_len != m->msg_length)
        r = PETREL_DEC_BAD_HEADER;
    if (r != PETREL_DEC_OK) {
        int code = r == PETREL_DEC_NEED_MORE ? PETREL_ERR_BAD_HEADER : petrel_dec_error_code(r);
        gw_protocol_error(c, code, "a WebSocket message must hold exactly one packet", 0);
        return;
    }
    gw_on_packet(c, &p);
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, NULL, NULL, NULL, NULL, ws_msg_cb,
};

int ws_upgrade(conn_t *c, const uint8_t *rest, size_t rest_len)
{
    ws_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    metrics_t *m = &c->w->srv->metrics;
    atomic_fetch_sub(&m->conns_http, 1);
    atomic_fetch_add(&m->conns_ws, 1);
    c->kind = CONN_WS;
    c->proto = st;
    if (wslay_event_context_server_init(&st->ctx, &ws_callbacks, c) != 0) {
        st->ctx = NULL;
        return -1;
    }
    const petrel_limits_t *lim = &c->w->srv->limits;
    wslay_event_config_set_max_recv_msg_length(st->ctx,
                                               PETREL_UP_HDR_LEN + lim->max_imei + lim->max_body);
    conn_set_list(c, LIST_PENDING);
    if (rest_len)
        ws_on_data(c, rest, rest_len);
    return 0;
}

void ws_on_data(conn_t *c, const uint8_t *data, size_t len)
{
    ws_state_t *st = c->proto;
    st->in = data;
    st->in_len = len;
    int rc = wslay_event_recv(st->ctx);
    st->in = NULL;
    st->in_len = 0;
    if (c->flags & CF_CLOSED)
        return;
    if (rc != 0) {
        LOGD("websocket error", "conn=%llu rc=%d", (unsigned long long)c->id, rc);
        conn_close_after_flush(c);
    }
    conn_mark_dirty(c); /* pongs, close replies */
}

int ws_send_frame(conn_t *c, frame_t *f)
{
    ws_state_t *st = c->proto;
    struct wslay_event_msg m = {WSLAY_BINARY_FRAME, f->data, f->len};
    return wslay_event_queue_msg(st->ctx, &m) == 0 ? 0 : -1;
}

void ws_close_with(conn_t *c, uint16_t code, const char *reason)
{
    ws_state_t *st = c->proto;
    if (!st || !st->ctx || st->close_code)
        return;
    st->close_code = code;
    /* control frame payload limit: 2 bytes of code + 123 */
    snprintf(st->close_reason, sizeof st->close_reason, "%s", reason);
    conn_mark_dirty(c);
}

void ws_send_pending(conn_t *c)
{
    ws_state_t *st = c->proto;
    if (!st || !st->ctx)
        return;
    if (wslay_event_want_write(st->ctx) && wslay_event_send(st->ctx) != 0) {
        conn_close(c);
        return;
    }
    if (st->close_code && wslay_event_get_queued_msg_count(st->ctx) == 0) {
        wslay_event_queue_close(st->ctx, st->close_code, (const uint8_t *)st->close_reason,
                                strlen(st->close_reason));
        st->close_code = 0;
        if (wslay_event_send(st->ctx) != 0) {
            conn_close(c);
            return;
        }
    }
    if (!wslay_event_want_read(st->ctx) && !wslay_event_want_write(st->ctx) &&
        !(c->flags & CF_CLOSE_AFTER))
        conn_close_after_flush(c);
}

void ws_state_free(conn_t *c)
{
    ws_state_t *st = c->proto;
    if (!st)
        return;
    if (st->ctx)
        wslay_event_context_free(st->ctx);
    free(st);
    c->proto = NULL;
}
