/*
 * Reference-counted, immutable output buffers.  A downlink packet is encoded
 * once into a frame and the same frame is queued on every connection that
 * receives it (fan-out), across loops: the count is atomic.  Its WebSocket
 * form (the packet inside one binary frame) is made by the first WebSocket
 * connection that sends it and then shared the same way (`ws`).
 */
#ifndef PETREL_FRAME_H
#define PETREL_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct frame {
    atomic_int refs;
    uint32_t len;
    struct frame *_Atomic ws;  /* the WebSocket form, holds one reference; NULL until made */
    uint8_t data[];
} frame_t;

/* New frame of len bytes (uninitialised), one reference.  NULL on OOM. */
frame_t *frame_new(size_t len);
/* Copy of raw bytes. */
frame_t *frame_from(const void *data, size_t len);
/* Downlink packet: 8-byte header + json. */
frame_t *frame_down(int32_t command, const char *json, size_t json_len);

static inline frame_t *frame_ref(frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void frame_unref(frame_t *f);

/* Shorten a frame nobody else references yet (it was allocated larger). */
void frame_set_len(frame_t *f, uint32_t len);
/* Bytes held by live frames, all threads (the petrel_frame_bytes gauge). */
uint64_t frame_bytes_live(void);

#endif
