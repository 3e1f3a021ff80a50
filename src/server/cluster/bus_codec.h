/*
 * The wire form of a node-bus message (seam/bus.h) on Redis pub/sub, for
 * bus_redis.c.  Versioned, little-endian, no padding:
 *
 *   header (36 bytes)
 *     'p' 'b'  magic          u8 version (1)   u8 action
 *     u8 flags (1 frame, 2 reason)              u8 0
 *     u32 from   u32 node (the addressee)       u64 publish time, µs (CLOCK_REALTIME)
 *     i32 code   u16 reason length              u32 frame length   u32 entries
 *   reason bytes, frame bytes (the encoded downlink packet, BUS_SEND only)
 *   entries: u64 conn_id, i32 app_id, u8 has_user [, u8 length, user bytes]
 *
 * Decoding treats the bytes as hostile: every length is bounded (the
 * limits below) and checked against what is left, strings may not hold a
 * NUL, nothing may follow the last entry; any breach is "bad", never an
 * overread.  The decoded strings and entries live in a reusable scratch
 * (bus_dec_t) until the next decode; the frame is a new frame_t.
 */
#ifndef PETREL_CLUSTER_BUS_CODEC_H
#define PETREL_CLUSTER_BUS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "server/seam/bus.h"

#define BUS_CODEC_VERSION 1
#define BUS_HDR_LEN 36
#define BUS_MAX_ENTRIES 65536
#define BUS_MAX_FRAME (16u << 20)
#define BUS_MAX_REASON 1024
#define BUS_MAX_USER 255
/* The largest valid message (every limit reached at once). */
#define BUS_MAX_MSG                                                                    \
    ((size_t)BUS_HDR_LEN + BUS_MAX_REASON + BUS_MAX_FRAME +                            \
     (size_t)BUS_MAX_ENTRIES * (14 + BUS_MAX_USER))

/* Bytes m takes encoded, or 0 when it breaks a limit (an unknown action,
 * too many entries, a frame, reason or user id too long, BUS_SEND without
 * a frame, entries NULL with n > 0). */
size_t bus_enc_size(const bus_msg_t *m);
/* Encode m, from `from`, published at pub_us, into out[0..bus_enc_size(m)). */
void bus_encode(const bus_msg_t *m, uint32_t from, uint64_t pub_us, uint8_t *out);

typedef struct bus_dec {
    bus_entry_t *entries;
    size_t ecap;
    char *strs;      /* the reason and the user ids, NUL-terminated */
    size_t scap;
} bus_dec_t;

/* Decode buf[0..len) into *m (its entries and strings in d, valid until
 * the next decode with d; m->frame a new frame with one reference for the
 * caller to drop) and the publish time into *pub_us.  0, or -1 when the
 * bytes are not a valid message (or out of memory). */
int bus_decode(bus_dec_t *d, const uint8_t *buf, size_t len, bus_msg_t *m, uint64_t *pub_us);
void bus_dec_free(bus_dec_t *d);

#endif
