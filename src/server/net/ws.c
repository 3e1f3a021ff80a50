/*
 * WebSocket connections (RFC 6455).  The HTTP layer does the upgrade
 * handshake and hands the connection over with any bytes that followed it.
 * Each binary message carries exactly one uplink packet; text frames are
 * refused with close code 1003.
 *
 * wslay does all the framing, both ways; nothing here builds or parses a
 * frame on its own.
 *
 * Input goes through wslay's event API, which parses the frames, unmasks
 * and validates them, reassembles fragments, answers pings and replies to
 * a close; whatever it wants to send (pongs, close replies) is moved to the
 * output queue right after each read.
 *
 * Output: downlink packets and our own close frames are built by wslay's
 * frame API (wslay_frame_send), one unfragmented unmasked frame each,
 * through a single send-only frame context per worker shared by all its
 * connections (ws_tx_t).  Its send callback copies the header and payload
 * into one frame_t that goes straight into the output queue: batched like
 * TCP output, and a close goes out after the data queued before it.  A
 * downlink packet's WebSocket frame is built once, by the first WebSocket
 * connection that sends it, kept on the packet's frame (frame_t.ws) and
 * shared by every other WebSocket device it goes to, like TCP frames: a
 * fan-out to many web devices holds one copy, not one per device.  The
 * connection's own event context is not needed to send.
 *
 * Memory: a wslay event context is ~8.5 KB (two 4 KiB buffers), so a
 * connection holds one only while its input needs it: it is created when
 * bytes arrive and freed when the read leaves the input between messages
 * (no partial frame, no fragmented message in progress) with nothing
 * queued in wslay and no close under way -- then a fresh context is
 * equivalent.  ws_track only follows the frame lengths of the bytes handed
 * to wslay to know when that is; it checks nothing (wslay does).  An idle
 * connection holds only ws_state_t.
 */
#include "server/net/ws.h"
#include "server/net/net_int.h"

#include "server/core/log.h"

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

/* Follow the frame boundaries of the byte stream handed to wslay, only to
 * tell when the input is between messages and the event context may go.
 * wslay parses, unmasks and validates the same bytes and delivers the
 * messages; this reads just the lengths and the FIN bit of each header
 * (RFC 6455 5.2).  Anything wslay refuses ends the connection, so the two
 * never need to agree on a bad stream. */
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
    int r = petrel_decode_up(m->msg, m->msg_length, &c->w->rt->limits, &p);
    if (r == PETREL_DEC_OK && p.frame_len != m->msg_length)
        r = PETREL_DEC_BAD_HEADER;
    if (r != PETREL_DEC_OK) {
        int code = r == PETREL_DEC_NEED_MORE ? PETREL_ERR_BAD_HEADER : petrel_dec_error_code(r);
        c->w->rt->proto->on_error(c, code, "a WebSocket message must hold exactly one packet", 0);
        return;
    }
    c->w->rt->proto->on_packet(c, &p);
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, NULL, NULL, NULL, NULL, ws_msg_cb,
};

/* ---- output ---------------------------------------------------------
 * Every frame the server sends is built by wslay.  Downlink packets and our
 * own close frames go through wslay's frame API with one frame context per
 * worker (~4.2 KB, made on first use, kept in net_worker_t), shared by all its connections --
 * they are only written to from their worker's thread -- and used only for
 * sending (its input buffer is never touched).  Its send callback copies
 * the header and the payload into one frame_t, so a packet is still one
 * allocation. */
typedef struct ws_tx {
    wslay_frame_context_ptr ctx;
    frame_t *f;  /* the frame being filled */
    size_t off;
} ws_tx_t;

/* Longest header of an unmasked frame: 2 bytes + 8 of extended length. */
#define WS_MAX_HDR 10

static ssize_t ws_tx_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    ws_tx_t *tx = user;
    if (!tx->f || len > tx->f->len - tx->off)
        return -1; /* cannot happen: the frame has room for header + payload */
    memcpy(tx->f->data + tx->off, data, len);
    tx->off += len;
    return (ssize_t)len;
}

/* The context is only used to send, unmasked: these are never called. */
static ssize_t ws_tx_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
    (void)buf, (void)len, (void)flags, (void)user;
    return -1;
}

static int ws_tx_genmask_cb(uint8_t *buf, size_t len, void *user)
{
    (void)buf, (void)len, (void)user;
    return -1;
}

static const struct wslay_frame_callbacks ws_tx_callbacks = {
    ws_tx_send_cb, ws_tx_recv_cb, ws_tx_genmask_cb,
};

static ws_tx_t *ws_tx_get(worker_t *w)
{
    net_worker_t *nw = net_worker(w);
    ws_tx_t *tx = nw->ws_tx;
    if (!tx) {
        tx = calloc(1, sizeof *tx);
        if (!tx)
            return NULL;
        nw->ws_tx = tx;
    }
    if (!tx->ctx && wslay_frame_context_init(&tx->ctx, &ws_tx_callbacks, tx) != 0) {
        tx->ctx = NULL;
        return NULL;
    }
    return tx;
}

void ws_worker_free(worker_t *w)
{
    net_worker_t *nw = net_worker(w);
    ws_tx_t *tx = nw ? nw->ws_tx : NULL;
    if (!tx)
        return;
    if (tx->ctx)
        wslay_frame_context_free(tx->ctx);
    free(tx);
    nw->ws_tx = NULL;
}

/* One unfragmented, unmasked frame, built with the worker's context; NULL
 * on failure. */
static frame_t *ws_build(worker_t *w, uint8_t opcode, const uint8_t *payload, size_t len)
{
    ws_tx_t *tx = ws_tx_get(w);
    frame_t *f = tx && len <= UINT32_MAX - WS_MAX_HDR ? frame_new(WS_MAX_HDR + len) : NULL;
    if (!f)
        return NULL;
    struct wslay_frame_iocb io = {
        .fin = 1,
        .rsv = WSLAY_RSV_NONE,
        .opcode = opcode,
        .payload_length = len,
        .mask = 0,
        .data = payload,
        .data_length = len,
    };
    tx->f = f;
    tx->off = 0;
    /* The number of payload bytes sent: all of them, or wslay stopped
     * part-way (the callback refused, or an invalid frame) and the shared
     * context may be left inside this frame -- drop it, the next send
     * makes a fresh one. */
    ssize_t r = wslay_frame_send(tx->ctx, &io);
    tx->f = NULL;
    if (r != (ssize_t)len) {
        LOGW("websocket frame not built", "worker=%u rc=%zd", w->idx, r);
        wslay_frame_context_free(tx->ctx);
        tx->ctx = NULL;
        frame_unref(f);
        return NULL;
    }
    frame_set_len(f, (uint32_t)tx->off);
    return f;
}

/* One unfragmented, unmasked frame into the output queue. */
static int ws_queue(conn_t *c, uint8_t opcode, const uint8_t *payload, size_t len)
{
    frame_t *f = ws_build(c->w, opcode, payload, len);
    if (!f) {
        conn_close(c);
        return -1;
    }
    return conn_queue_owned(c, f);
}

/* Nothing may be sent after a close frame, ours or wslay's. */
static int ws_closing(const ws_state_t *st)
{
    return st->close_sent || (st->ctx && !wslay_event_get_write_enabled(st->ctx));
}

static void ws_on_data(conn_t *c, const uint8_t *data, size_t len);

int ws_upgrade(conn_t *c, const uint8_t *rest, size_t rest_len)
{
    ws_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    metrics_t *m = &c->w->rt->metrics;
    atomic_fetch_sub(&m->conns_http, 1);
    atomic_fetch_add(&m->conns_ws, 1);
    c->kind = CONN_WS;
    c->ops = &net_ws_ops;
    c->proto = st;
    conn_set_list(c, LIST_PENDING);
    if (rest_len)
        ws_on_data(c, rest, rest_len);
    return 0;
}

static void ws_on_data(conn_t *c, const uint8_t *data, size_t len)
{
    ws_state_t *st = c->proto;
    if (!st->ctx) {
        if (wslay_event_context_server_init(&st->ctx, &ws_callbacks, c) != 0) {
            st->ctx = NULL;
            conn_close(c);
            return;
        }
        const petrel_limits_t *lim = &c->w->rt->limits;
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

static int ws_send_frame(conn_t *c, frame_t *f)
{
    ws_state_t *st = c->proto;
    if (!st || ws_closing(st))
        return -1;
    /* the packet's WebSocket form is made once and shared by every
     * WebSocket connection it goes to, on any worker (like TCP frames) */
    frame_t *wf = atomic_load_explicit(&f->ws, memory_order_acquire);
    if (!wf) {
        wf = ws_build(c->w, WSLAY_BINARY_FRAME, f->data, f->len);
        if (!wf) {
            conn_close(c);
            return -1;
        }
        frame_t *none = NULL;
        if (!atomic_compare_exchange_strong_explicit(&f->ws, &none, wf, memory_order_acq_rel,
                                                     memory_order_acquire)) {
            frame_unref(wf); /* another worker made it first */
            wf = none;
        }
    }
    return conn_queue_owned(c, frame_ref(wf));
}

void ws_close_with(conn_t *c, uint16_t code, const char *reason)
{
    ws_state_t *st = c->kind == CONN_WS ? c->proto : NULL;
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

static void ws_state_free(conn_t *c)
{
    ws_state_t *st = c->proto;
    if (st) {
        if (st->ctx)
            wslay_event_context_free(st->ctx);
        free(st);
        c->proto = NULL;
    }
    net_conn_free(c);
}

const conn_ops_t net_ws_ops = {
    .on_data = ws_on_data,
    .send_frame = ws_send_frame,
    .start_read = conn_start_read,
    .linger = net_linger,
    .free_state = ws_state_free,
    .socket = 1,
};
