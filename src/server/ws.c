/*
 * WebSocket connections (RFC 6455).  The HTTP layer does the upgrade
 * handshake and hands the connection over with any bytes that followed it.
 * Each binary message carries exactly one uplink packet; text frames are
 * refused with close code 1003.
 *
 * Input goes through wslay's event API, which reassembles fragments,
 * answers pings and replies to a close; whatever it wants to send (pongs,
 * close replies) is moved to the output queue right after each read.
 * Downlink packets and our own close frames are framed here, one unmasked
 * frame each, straight into the output queue: they are batched like TCP
 * output, and a close goes out after the data queued before it.
 *
 * Memory: a wslay context is ~8.5 KB (two 4 KiB buffers), so a connection
 * holds one only while it needs it: it is created when bytes arrive and
 * freed when the read leaves the input between messages (no partial frame,
 * no fragmented message in progress) with nothing queued in wslay and no
 * close under way -- then a fresh context is equivalent.  ws_track follows
 * the frame headers of the bytes handed to wslay to tell where it stands.
 * An idle connection holds only ws_state_t.
 */
#include "server/server.h"

#include "server/log.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

typedef struct ws_state {
    wslay_event_context_ptr ctx; /* NULL while the connection is quiet */
    const uint8_t *in;
    size_t in_len;
    /* where the bytes handed to wslay stand (ws_track) */
    uint64_t left;               /* payload bytes of the current frame to come */
    uint8_t hdr[14];             /* the next frame's header so far */
    uint8_t hdr_len;
    uint8_t frag;                /* a fragmented data message is in progress */
    uint8_t close_sent;          /* our close frame is queued: nothing may follow */
} ws_state_t;

/* Follow the frame boundaries of the byte stream handed to wslay.  The
 * header layout alone decides them (RFC 6455 5.2); anything wslay refuses
 * ends the connection, so the two never need to agree on a bad stream. */
static void ws_track(ws_state_t *st, const uint8_t *p, size_t n)
{
    while (n) {
        if (st->left) {
            size_t take = st->left < n ? (size_t)st->left : n;
            st->left -= take;
            p += take;
            n -= take;
            continue;
        }
        st->hdr[st->hdr_len++] = *p++;
        n--;
        if (st->hdr_len < 2)
            continue;
        uint8_t len7 = st->hdr[1] & 0x7f;
        size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        if (st->hdr_len < 2 + ext + ((st->hdr[1] & 0x80) ? 4 : 0))
            continue;
        uint64_t len = len7;
        if (ext) {
            len = 0;
            for (size_t i = 0; i < ext; i++)
                len = len << 8 | st->hdr[2 + i];
        }
        st->left = len;
        st->hdr_len = 0;
        if (!(st->hdr[0] & 0x08)) /* data or continuation frame */
            st->frag = !(st->hdr[0] & 0x80);
    }
}

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
    ws_track(st, st->in, n);
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

/* One unmasked, unfragmented frame into the output queue. */
static int ws_queue(conn_t *c, uint8_t opcode, const uint8_t *payload, size_t len)
{
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    frame_t *f = frame_new(hl + len);
    if (!f) {
        conn_close(c);
        return -1;
    }
    memcpy(f->data, h, hl);
    if (len)
        memcpy(f->data + hl, payload, len);
    return conn_queue_owned(c, f);
}

/* Nothing may be sent after a close frame, ours or wslay's. */
static int ws_closing(const ws_state_t *st)
{
    return st->close_sent || (st->ctx && !wslay_event_get_write_enabled(st->ctx));
}

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
    conn_set_list(c, LIST_PENDING);
    if (rest_len)
        ws_on_data(c, rest, rest_len);
    return 0;
}

void ws_on_data(conn_t *c, const uint8_t *data, size_t len)
{
    ws_state_t *st = c->proto;
    if (!st->ctx) {
        if (wslay_event_context_server_init(&st->ctx, &ws_callbacks, c) != 0) {
            st->ctx = NULL;
            conn_close(c);
            return;
        }
        const petrel_limits_t *lim = &c->w->srv->limits;
        wslay_event_config_set_max_recv_msg_length(
            st->ctx, PETREL_UP_HDR_LEN + lim->max_imei + lim->max_body);
    }
    st->in = data;
    st->in_len = len;
    int rc = wslay_event_recv(st->ctx);
    size_t unread = st->in_len;
    st->in = NULL;
    st->in_len = 0;
    if (c->flags & CF_CLOSED)
        return;
    /* pongs, close replies, the close after a protocol error */
    if (!st->close_sent && wslay_event_want_write(st->ctx) && wslay_event_send(st->ctx) != 0) {
        conn_close(c);
        return;
    }
    if (c->flags & CF_CLOSED)
        return;
    if (rc != 0) {
        LOGD("websocket error", "conn=%llu rc=%d", (unsigned long long)c->id, rc);
        conn_close_after_flush(c);
        return;
    }
    if (!wslay_event_want_read(st->ctx) || st->close_sent) { /* a close was received or sent */
        conn_close_after_flush(c);
        return;
    }
    if (unread == 0 && st->left == 0 && st->hdr_len == 0 && !st->frag &&
        wslay_event_get_write_enabled(st->ctx) && !wslay_event_want_write(st->ctx) &&
        wslay_event_get_queued_msg_count(st->ctx) == 0 &&
        !wslay_event_get_close_received(st->ctx) && !wslay_event_get_close_sent(st->ctx)) {
        /* between messages: a fresh context is equivalent */
        wslay_event_context_free(st->ctx);
        st->ctx = NULL;
    }
}

int ws_send_frame(conn_t *c, frame_t *f)
{
    ws_state_t *st = c->proto;
    if (!st || ws_closing(st))
        return -1;
    return ws_queue(c, WSLAY_BINARY_FRAME, f->data, f->len);
}

void ws_close_with(conn_t *c, uint16_t code, const char *reason)
{
    ws_state_t *st = c->proto;
    if (!st || ws_closing(st) || (c->flags & CF_CLOSED))
        return;
    /* control frame payload limit: 2 bytes of code + 123, cut at a UTF-8
     * character boundary */
    uint8_t p[125];
    size_t rl = strlen(reason);
    if (rl > 123) {
        rl = 123;
        while (rl && ((uint8_t)reason[rl] & 0xc0) == 0x80)
            rl--;
    }
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rl);
    st->close_sent = 1;
    ws_queue(c, WSLAY_CONNECTION_CLOSE, p, rl + 2);
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
