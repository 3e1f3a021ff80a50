/* Reference-counted output frames (see frame.h). */
#include "server/core/frame.h"

#include "petrel/proto.h"

#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t g_live;

uint64_t frame_bytes_live(void)
{
    return atomic_load_explicit(&g_live, memory_order_relaxed);
}

frame_t *frame_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    frame_t *f = malloc(sizeof *f + len);
    if (!f)
        return NULL;
    atomic_fetch_add_explicit(&g_live, len, memory_order_relaxed);
    atomic_init(&f->refs, 1);
    atomic_init(&f->ws, NULL);
    f->len = (uint32_t)len;
    return f;
}

frame_t *frame_from(const void *data, size_t len)
{
    frame_t *f = frame_new(len);
    if (f && len)
        memcpy(f->data, data, len);
    return f;
}

frame_t *frame_down(int32_t command, const char *json, size_t json_len)
{
    frame_t *f = frame_new(PETREL_DOWN_HDR_LEN + json_len);
    if (!f)
        return NULL;
    petrel_encode_down_hdr(f->data, command, (uint32_t)json_len);
    if (json_len)
        memcpy(f->data + PETREL_DOWN_HDR_LEN, json, json_len);
    return f;
}

void frame_set_len(frame_t *f, uint32_t len)
{
    atomic_fetch_sub_explicit(&g_live, f->len - len, memory_order_relaxed);
    f->len = len;
}

void frame_unref(frame_t *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        frame_t *ws = atomic_load_explicit(&f->ws, memory_order_acquire);
        if (ws)
            frame_unref(ws);
        atomic_fetch_sub_explicit(&g_live, f->len, memory_order_relaxed);
        free(f);
    }
}
