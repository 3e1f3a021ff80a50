/*
 * Connection lifecycle and output.  Invariants:
 *  - a conn is in exactly one idle list (or none while being closed);
 *  - queued output lives in outq until a flush hands it to the kernel; a
 *    partially written batch moves into a write request;
 *  - memory is freed only in the uv_close callback, after libuv has called
 *    every pending write callback, so no callback ever sees a freed conn.
 * An idle logged-in TCP connection owns: this struct, its user id and imei
 * strings, and a connmap slot.  Input and output buffers exist only while
 * there is partial input or pending output.
 */
#include "server/core/conn.h"
#include "server/core/log.h"
#include "server/core/worker.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct wreq {
    uv_write_t req;
    conn_t *c;
    uint32_t n;
    uint32_t bytes;      /* whole lengths of the frames (output accounting) */
    frame_t *frames[];
} wreq_t;

static atomic_uint_fast64_t *kind_gauge(conn_t *c)
{
    metrics_t *m = &c->w->rt->metrics;
    return c->kind == CONN_TCP ? &m->conns_tcp : c->kind == CONN_WS ? &m->conns_ws : &m->conns_http;
}

conn_t *conn_new(worker_t *w, size_t size, uint8_t kind, const conn_ops_t *ops)
{
    conn_t *c = calloc(1, size < sizeof *c ? sizeof *c : size);
    if (!c)
        return NULL;
    if (uv_tcp_init(&w->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->w = w;
    c->kind = kind;
    c->ops = ops;
    c->client_type = -1;
    c->id = ((uint64_t)w->idx << 56) | ++w->next_conn_seq;
    if (connmap_put(&w->conns, c->id, c) < 0) {
        /* the handle is initialised: it must go through uv_close */
        c->flags |= CF_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return NULL;
    }
    w->nconns++;
    atomic_fetch_add(kind_gauge(c), 1);
    atomic_fetch_add(&w->rt->metrics.accepted, 1);
    return c;
}

void conn_set_list(conn_t *c, enum conn_list l)
{
    dlist_remove(&c->node);
    c->list = (uint8_t)l;
    c->stamp_ms = mono_ms();
    if (l != LIST_NONE)
        dlist_push_tail(&c->w->lists[l], &c->node);
}

void conn_touch(conn_t *c)
{
    if (c->list == LIST_ACTIVE || c->list == LIST_HTTP)
        conn_set_list(c, (enum conn_list)c->list);
}

void conn_mark_dirty(conn_t *c)
{
    if (!(c->flags & CF_DIRTY)) {
        c->flags |= CF_DIRTY;
        dlist_push_tail(&c->w->dirty, &c->dirty);
    }
}

/* This worker's share of the output counter (only its own thread writes). */
static void out_account(worker_t *w, int64_t delta)
{
    uint64_t v = atomic_load_explicit(&w->out_bytes, memory_order_relaxed);
    atomic_store_explicit(&w->out_bytes, v + (uint64_t)delta, memory_order_relaxed);
}

/* Global output cap (max_output_mb): would f push the process over it?
 * The cap bounds memory, so it reads the bytes of encoded frames alive,
 * each counted once however many connections share it (frame.c): a
 * push to a user's 1,000 devices holds one frame, not 1,000. */
static int over_global_cap(conn_t *c, uint32_t len)
{
    uint64_t cap = (uint64_t)c->w->rt->cfg.max_output_mb << 20;
    return cap && frame_bytes_live() + len > cap;
}

/* Append to outq (takes ownership of the caller's reference).  A reader
 * that lets CONN_MAX_QUEUED_BYTES pile up (queued + in flight) is
 * disconnected, and so is one holding more than CONN_PAUSE_BYTES while the
 * process is over its global output cap: slow consumers go, connections
 * that keep up are served. */
int conn_queue_owned(conn_t *c, frame_t *f)
{
    uint64_t held = (uint64_t)c->out_bytes + c->inflight_bytes;
    if (held + f->len > CONN_MAX_QUEUED_BYTES ||
        (held >= CONN_PAUSE_BYTES && over_global_cap(c, f->len))) {
        LOGW("slow reader disconnected", "conn=%llu queued=%llu", (unsigned long long)c->id,
             (unsigned long long)held);
        frame_unref(f);
        conn_close(c);
        return -1;
    }
    if (c->out_n == c->out_cap) {
        uint32_t nc = c->out_cap ? c->out_cap * 2 : 4;
        frame_t **q = realloc(c->outq, nc * sizeof *q);
        if (!q) {
            frame_unref(f);
            conn_close(c);
            return -1;
        }
        c->outq = q;
        c->out_cap = nc;
    }
    c->outq[c->out_n++] = f;
    c->out_bytes += f->len;
    out_account(c->w, f->len);
    conn_mark_dirty(c);
    return 0;
}

/* ---- backpressure ---------------------------------------------------- */

void conn_pause_check(conn_t *c)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    uint64_t held = (uint64_t)c->out_bytes + c->inflight_bytes;
    if (!(c->flags & CF_PAUSED)) {
        if (held < CONN_PAUSE_BYTES && c->pending_ops < CONN_PAUSE_OPS)
            return;
        c->flags |= CF_PAUSED;
        if (!(c->flags & CF_NOREAD))
            uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    if (held >= CONN_PAUSE_BYTES / 2 || c->pending_ops >= CONN_PAUSE_OPS / 2)
        return;
    c->flags &= (uint16_t)~CF_PAUSED;
    if (c->flags & CF_BACKLOG) {
        /* what the pause left of the last read goes first */
        uint8_t *buf = c->in;
        size_t n = c->in_len;
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        c->flags &= (uint16_t)~CF_BACKLOG;
        c->ops->on_data(c, buf, n);
        free(buf);
        if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER | CF_PAUSED))
            return;
    }
    if (!(c->flags & CF_NOREAD))
        c->ops->start_read(c);
}

void conn_op_queued(conn_t *c)
{
    c->pending_ops++;
    if (c->pending_ops >= CONN_PAUSE_OPS)
        conn_pause_check(c);
}

void conn_op_done(worker_t *w, uint64_t conn_id)
{
    conn_t *c = connmap_get(&w->conns, conn_id);
    if (!c || !c->pending_ops)
        return;
    c->pending_ops--;
    if (c->flags & CF_PAUSED)
        conn_pause_check(c);
}

int conn_send_frame(conn_t *c, frame_t *f)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return -1;
    atomic_fetch_add(&c->w->rt->metrics.packets_out, 1);
    if (c->ops->send_frame) {
        if (c->ops->send_frame(c, f) < 0)
            return -1;
        conn_mark_dirty(c);
        return 0;
    }
    return conn_queue_owned(c, frame_ref(f));
}

int conn_send_raw(conn_t *c, const void *data, size_t len)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return -1;
    frame_t *f = frame_from(data, len);
    if (!f) {
        conn_close(c);
        return -1;
    }
    return conn_queue_owned(c, f);
}

int conn_send_json(conn_t *c, int32_t command, const char *json, size_t len)
{
    frame_t *f = frame_down(command, json, len);
    if (!f) {
        conn_close(c);
        return -1;
    }
    int rc = conn_send_frame(c, f);
    frame_unref(f);
    return rc;
}

void conn_send_error(conn_t *c, int code, const char *msg, int32_t command)
{
    conn_send_error_for(c, code, msg, command, NULL);
}

void conn_send_error_for(conn_t *c, int code, const char *msg, int32_t command,
                         const json_t *body)
{
    json_t *o = json_pack("{s:i, s:s, s:i}", "code", code, "msg", msg, "command", (int)command);
    json_t *mid = body ? json_object_get(body, "messageId") : NULL;
    if (o && json_is_string(mid))
        json_object_set(o, "messageId", mid);
    conn_send_error_json(c, code, o);
}

void conn_send_error_json(conn_t *c, int code, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s) {
        conn_send_json(c, PETREL_CMD_ERROR, s, strlen(s));
        atomic_fetch_add(&c->w->rt->metrics.errors_sent, 1);
        metrics_error(&c->w->rt->metrics, code);
    }
    free(s);
    json_decref(o);
}

static void on_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    worker_t *w = c->w;
    out_account(w, -(int64_t)c->out_bytes);
    for (uint32_t i = 0; i < c->out_n; i++)
        frame_unref(c->outq[i]);
    free(c->outq);
    free(c->in);
    free(c->user_id);
    free(c->imei);
    if (c->upper && w->rt->proto)
        w->rt->proto->on_free(c);
    if (c->ops->free_state)
        c->ops->free_state(c);
    atomic_fetch_sub(kind_gauge(c), 1);
    free(c);
    worker_conn_gone(w);
}

void conn_close(conn_t *c)
{
    if (c->flags & CF_CLOSED)
        return;
    c->flags |= CF_CLOSED;
    if ((c->flags & CF_AUTHED) && c->w->rt->proto)
        c->w->rt->proto->on_close(c);
    dlist_remove(&c->node);
    c->list = LIST_NONE;
    if (c->flags & CF_DIRTY) {
        dlist_remove(&c->dirty);
        c->flags &= (uint16_t)~CF_DIRTY;
    }
    connmap_del(&c->w->conns, c->id);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void conn_close_after_flush(conn_t *c)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    c->flags |= CF_CLOSE_AFTER;
    if (!(c->flags & CF_NOREAD)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->flags |= CF_NOREAD;
    }
    conn_set_list(c, LIST_CLOSING);
    conn_mark_dirty(c);
}

static void flush_conn(conn_t *c);

static void on_write(uv_write_t *req, int status)
{
    wreq_t *r = (wreq_t *)req;
    conn_t *c = r->c;
    out_account(c->w, -(int64_t)r->bytes);
    c->inflight_bytes = 0;
    for (uint32_t i = 0; i < r->n; i++)
        frame_unref(r->frames[i]);
    free(r);
    if (c->flags & CF_CLOSED)
        return;
    c->flags &= (uint16_t)~CF_WRITING;
    if (status < 0) {
        LOGD("write failed", "conn=%llu err=%s", (unsigned long long)c->id, uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->flags & CF_PAUSED)
        conn_pause_check(c);
    if (c->out_n || (c->flags & CF_CLOSE_AFTER))
        conn_mark_dirty(c);
}

static void flush_conn(conn_t *c)
{
    if (c->flags & (CF_CLOSED | CF_WRITING))
        return;
    if (c->out_n == 0) {
        if ((c->flags & CF_CLOSE_AFTER) && !(c->ops->linger && c->ops->linger(c)))
            conn_close(c);
        return;
    }
    uv_buf_t stackbufs[64];
    uv_buf_t *bufs = c->out_n <= 64 ? stackbufs : malloc(c->out_n * sizeof *bufs);
    if (!bufs) {
        conn_close(c);
        return;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < c->out_n; i++) {
        bufs[i] = uv_buf_init((char *)c->outq[i]->data, c->outq[i]->len);
        total += c->outq[i]->len;
    }
    int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, c->out_n);
    if (w == UV_EAGAIN || w == UV_ENOSYS)
        w = 0;
    if (w < 0) {
        if (bufs != stackbufs)
            free(bufs);
        conn_close(c);
        return;
    }
    atomic_fetch_add(&c->w->rt->metrics.bytes_out, (uint64_t)w);
    /* drop what the kernel took entirely */
    uint32_t done = 0;
    size_t off = (size_t)w;
    uint32_t gone = 0;
    while (done < c->out_n && off >= c->outq[done]->len) {
        off -= c->outq[done]->len;
        gone += c->outq[done]->len;
        frame_unref(c->outq[done]);
        done++;
    }
    out_account(c->w, -(int64_t)gone);
    if (done == c->out_n) {
        c->out_n = 0;
        c->out_bytes = 0;
        if (c->out_cap > 16) { /* give back memory after a burst */
            free(c->outq);
            c->outq = NULL;
            c->out_cap = 0;
        }
        if (bufs != stackbufs)
            free(bufs);
        if ((c->flags & CF_CLOSE_AFTER) && !(c->ops->linger && c->ops->linger(c)))
            conn_close(c);
        else if (c->flags & CF_PAUSED) /* last: may feed input, queue output */
            conn_pause_check(c);
        return;
    }
    /* the rest goes through an asynchronous write */
    uint32_t rest = c->out_n - done;
    wreq_t *r = malloc(sizeof *r + rest * sizeof(frame_t *));
    if (!r) {
        if (bufs != stackbufs)
            free(bufs);
        conn_close(c);
        return;
    }
    r->c = c;
    r->n = rest;
    r->bytes = c->out_bytes - gone;
    memcpy(r->frames, c->outq + done, rest * sizeof(frame_t *));
    uv_buf_t *wb = bufs + done;
    wb[0].base += off;
    wb[0].len -= off;
    c->out_n = 0;
    c->out_bytes = 0;
    c->inflight_bytes = r->bytes;
    c->flags |= CF_WRITING;
    int rc = uv_write(&r->req, (uv_stream_t *)&c->tcp, wb, rest, on_write);
    if (bufs != stackbufs)
        free(bufs);
    if (rc < 0) {
        out_account(c->w, -(int64_t)r->bytes);
        c->inflight_bytes = 0;
        for (uint32_t i = 0; i < rest; i++)
            frame_unref(r->frames[i]);
        free(r);
        c->flags &= (uint16_t)~CF_WRITING;
        conn_close(c);
        return;
    }
    atomic_fetch_add(&c->w->rt->metrics.bytes_out, total - (uint64_t)w);
    if (c->inflight_bytes >= CONN_PAUSE_BYTES)
        conn_pause_check(c);
}

void conn_flush_all(worker_t *w)
{
    while (!dlist_empty(&w->dirty)) {
        conn_t *c = container_of(w->dirty.next, conn_t, dirty);
        dlist_remove(&c->dirty);
        c->flags &= (uint16_t)~CF_DIRTY;
        flush_conn(c);
    }
}
