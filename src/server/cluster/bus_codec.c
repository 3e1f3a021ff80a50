/*
 * Node-bus messages to bytes and back (see bus_codec.h).  Encoding writes
 * into one buffer sized by bus_enc_size; decoding checks every length
 * against what is left before it reads, and copies the strings into the
 * scratch with their NULs.
 */
#include "server/cluster/bus_codec.h"

#include <stdlib.h>
#include <string.h>

#define ENTRY_MIN 13 /* conn_id, app_id, has_user */

/* ---- little-endian ---------------------------------------------------------------- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- encoding ------------------------------------------------------------------------ */

size_t bus_enc_size(const bus_msg_t *m)
{
    if (!m || (unsigned)m->action > BUS_KICK || m->n > BUS_MAX_ENTRIES || (m->n && !m->entries))
        return 0;
    size_t len = BUS_HDR_LEN;
    if (m->reason) {
        size_t r = strlen(m->reason);
        if (r > BUS_MAX_REASON)
            return 0;
        len += r;
    }
    if (m->action == BUS_SEND) {
        if (!m->frame || m->frame->len > BUS_MAX_FRAME)
            return 0;
        len += m->frame->len;
    }
    for (size_t i = 0; i < m->n; i++) {
        len += ENTRY_MIN;
        const char *u = m->entries[i].user_id;
        if (u) {
            size_t ul = strlen(u);
            if (ul > BUS_MAX_USER)
                return 0;
            len += 1 + ul;
        }
    }
    return len;
}

void bus_encode(const bus_msg_t *m, uint32_t from, uint64_t pub_us, uint8_t *out)
{
    size_t rlen = m->reason ? strlen(m->reason) : 0;
    const frame_t *f = m->action == BUS_SEND ? m->frame : NULL;
    uint8_t *p = out;
    *p++ = 'p';
    *p++ = 'b';
    *p++ = BUS_CODEC_VERSION;
    *p++ = (uint8_t)m->action;
    *p++ = (uint8_t)((f ? 1 : 0) | (m->reason ? 2 : 0));
    *p++ = 0;
    p = put32(p, from);
    p = put32(p, m->node);
    p = put64(p, pub_us);
    p = put32(p, (uint32_t)(int32_t)m->code);
    p = put16(p, (uint16_t)rlen);
    p = put32(p, f ? f->len : 0);
    p = put32(p, (uint32_t)m->n);
    if (rlen) {
        memcpy(p, m->reason, rlen);
        p += rlen;
    }
    if (f && f->len) {
        memcpy(p, f->data, f->len);
        p += f->len;
    }
    for (size_t i = 0; i < m->n; i++) {
        const bus_entry_t *e = &m->entries[i];
        p = put64(p, e->conn_id);
        p = put32(p, (uint32_t)e->app_id);
        if (e->user_id) {
            size_t ul = strlen(e->user_id);
            *p++ = 1;
            *p++ = (uint8_t)ul;
            memcpy(p, e->user_id, ul);
            p += ul;
        } else {
            *p++ = 0;
        }
    }
}

/* ---- decoding ------------------------------------------------------------------------- */

/* Copy s[0..n) with a NUL into the scratch at *at; NULL when s holds a NUL. */
static const char *take_str(bus_dec_t *d, size_t *at, const uint8_t *s, size_t n)
{
    if (memchr(s, 0, n))
        return NULL;
    char *out = d->strs + *at;
    memcpy(out, s, n);
    out[n] = '\0';
    *at += n + 1;
    return out;
}

int bus_decode(bus_dec_t *d, const uint8_t *buf, size_t len, bus_msg_t *m, uint64_t *pub_us)
{
    memset(m, 0, sizeof *m);
    if (!buf || len < BUS_HDR_LEN || len > BUS_MAX_MSG || buf[0] != 'p' || buf[1] != 'b' ||
        buf[2] != BUS_CODEC_VERSION || buf[3] > BUS_KICK || (buf[4] & ~3u) || buf[5])
        return -1;
    enum bus_action action = (enum bus_action)buf[3];
    int has_frame = buf[4] & 1, has_reason = (buf[4] & 2) != 0;
    uint32_t from = get32(buf + 6), node = get32(buf + 10);
    uint64_t pub = get64(buf + 14);
    int32_t code = (int32_t)get32(buf + 22);
    size_t rlen = get16(buf + 26), flen = get32(buf + 28), n = get32(buf + 32);
    if (has_frame != (action == BUS_SEND) || (!has_reason && rlen) || rlen > BUS_MAX_REASON ||
        flen > BUS_MAX_FRAME || n > BUS_MAX_ENTRIES)
        return -1;
    size_t left = len - BUS_HDR_LEN;
    /* everything fixed must fit before anything is allocated */
    if (rlen > left || flen > left - rlen || n > (left - rlen - flen) / ENTRY_MIN)
        return -1;
    /* the strings take at most what is left plus a NUL each */
    size_t need = left + n + 1;
    if (need > d->scap) {
        char *s = realloc(d->strs, need);
        if (!s)
            return -1;
        d->strs = s;
        d->scap = need;
    }
    if (n > d->ecap) {
        bus_entry_t *e = realloc(d->entries, n * sizeof *e);
        if (!e)
            return -1;
        d->entries = e;
        d->ecap = n;
    }
    const uint8_t *p = buf + BUS_HDR_LEN, *end = buf + len;
    size_t at = 0;
    const char *reason = NULL;
    if (has_reason && !(reason = take_str(d, &at, p, rlen)))
        return -1;
    p += rlen;
    const uint8_t *fbytes = p;
    p += flen;
    for (size_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < ENTRY_MIN)
            return -1;
        bus_entry_t *e = &d->entries[i];
        e->conn_id = get64(p);
        e->app_id = (int32_t)get32(p + 8);
        uint8_t has_user = p[12];
        p += ENTRY_MIN;
        e->user_id = NULL;
        if (has_user > 1)
            return -1;
        if (has_user) {
            if (end - p < 1 || (size_t)(end - p - 1) < p[0])
                return -1;
            size_t ul = p[0];
            if (!(e->user_id = take_str(d, &at, p + 1, ul)))
                return -1;
            p += 1 + ul;
        }
    }
    if (p != end)
        return -1;
    frame_t *f = NULL;
    if (has_frame && !(f = frame_from(fbytes, flen)))
        return -1;
    m->node = node;
    m->from = from;
    m->action = action;
    m->frame = f;
    m->code = code;
    m->reason = reason;
    m->n = n;
    m->entries = n ? d->entries : NULL;
    *pub_us = pub;
    return 0;
}

void bus_dec_free(bus_dec_t *d)
{
    free(d->entries);
    free(d->strs);
    memset(d, 0, sizeof *d);
}
