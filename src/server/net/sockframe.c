/*
 * Binary socket framing of the TCP port: cut the byte stream into uplink
 * packets (petrel codec), keep an incomplete frame in conn_t.in between
 * reads, and hand each packet to the socket protocol (runtime_t.proto,
 * installed by the gateway).  Stops between packets when backpressure
 * pauses the connection; what is left waits in conn_t.in (CF_BACKLOG).
 */
#include "server/net/net_int.h"

#include <stdlib.h>
#include <string.h>

static size_t frame_len_of(const uint8_t *hdr)
{
    return PETREL_UP_HDR_LEN + (size_t)petrel_be32(hdr + 20) + (size_t)petrel_be32(hdr + 24);
}

/* Decode-and-dispatch one buffer that starts at a frame boundary.  Returns
 * bytes consumed (the unconsumed tail is an incomplete frame) or -1 if the
 * connection is closing. */
static long dispatch_frames(conn_t *c, const uint8_t *data, size_t len)
{
    const petrel_limits_t *lim = &c->w->rt->limits;
    size_t off = 0;
    while (off < len) {
        petrel_packet_t p;
        int r = petrel_decode_up(data + off, len - off, lim, &p);
        if (r == PETREL_DEC_NEED_MORE)
            break;
        if (r < 0) {
            c->w->rt->proto->on_error(c, petrel_dec_error_code(r), "malformed packet", 0);
            return -1;
        }
        off += p.frame_len;
        if (c->w->rt->proto->on_packet(c, &p) < 0)
            return -1;
        /* backpressure: the rest waits until the output drains */
        if (c->out_bytes + c->inflight_bytes >= CONN_PAUSE_BYTES)
            conn_pause_check(c);
        if (c->flags & CF_PAUSED)
            break;
    }
    return (long)off;
}

void sockframe_input(conn_t *c, const uint8_t *data, size_t len)
{
    const petrel_limits_t *lim = &c->w->rt->limits;
    /* finish a frame started in an earlier read */
    while (c->in_len && len) {
        size_t need;
        if (c->in_len < PETREL_UP_HDR_LEN) {
            need = PETREL_UP_HDR_LEN;
        } else {
            need = frame_len_of(c->in);
        }
        size_t take = need - c->in_len < len ? need - c->in_len : len;
        memcpy(c->in + c->in_len, data, take);
        c->in_len += (uint32_t)take;
        data += take;
        len -= take;
        if (c->in_len == PETREL_UP_HDR_LEN && need == PETREL_UP_HDR_LEN) {
            petrel_packet_t p;
            int r = petrel_decode_up(c->in, c->in_len, lim, &p);
            if (r < 0) {
                c->w->rt->proto->on_error(c, petrel_dec_error_code(r), "malformed packet", 0);
                return;
            }
            if (r == PETREL_DEC_NEED_MORE) {
                size_t full = frame_len_of(c->in);
                uint8_t *nb = realloc(c->in, full);
                if (!nb) {
                    conn_close(c);
                    return;
                }
                c->in = nb;
                c->in_cap = (uint32_t)full;
                continue;
            }
        }
        if (c->in_len >= PETREL_UP_HDR_LEN && c->in_len == frame_len_of(c->in)) {
            long r = dispatch_frames(c, c->in, c->in_len);
            free(c->in);
            c->in = NULL;
            c->in_len = c->in_cap = 0;
            if (r < 0)
                return;
        }
    }
    if (!len)
        return;
    long used = (c->flags & CF_PAUSED) ? 0 : dispatch_frames(c, data, len);
    if (used < 0)
        return;
    size_t rest = len - (size_t)used;
    if (!rest)
        return;
    if (c->flags & CF_PAUSED) {
        /* paused mid-read: keep the rest, complete frames included (at
         * most one read buffer); reading stays stopped until it is fed */
        c->in = malloc(rest);
        if (!c->in) {
            conn_close(c);
            return;
        }
        memcpy(c->in, data + used, rest);
        c->in_len = c->in_cap = (uint32_t)rest;
        c->flags |= CF_BACKLOG;
        return;
    }
    /* keep the incomplete tail: header-sized first, full frame once known */
    size_t cap = rest >= PETREL_UP_HDR_LEN ? frame_len_of(data + used) : PETREL_UP_HDR_LEN;
    c->in = malloc(cap);
    if (!c->in) {
        conn_close(c);
        return;
    }
    memcpy(c->in, data + used, rest);
    c->in_len = (uint32_t)rest;
    c->in_cap = (uint32_t)cap;
}
