/*
 * Unit tests for the in-process node bus (seam/bus.h, bus_local.c): a
 * message published to a node reaches that node's receiver only, with
 * the sender filled in and the entries and frame as sent; a node id joins
 * once; publishing to a node that is not there (never joined, left, or
 * has no receiver) fails; a receiver that keeps the frame takes its own
 * reference.  deliver/ over the bus is tested in tests/unit/deliver.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/seam/bus.h"

typedef struct got {
    int calls;
    uint32_t node, from;
    enum bus_action action;
    frame_t *frame; /* kept: one reference of ours */
    int code;
    char reason[32];
    size_t n;
    bus_entry_t entries[8];
    char users[8][16];
} got_t;

static void recv_fn(void *ctx, const bus_msg_t *m)
{
    got_t *g = ctx;
    g->calls++;
    g->node = m->node;
    g->from = m->from;
    g->action = m->action;
    if (g->frame)
        frame_unref(g->frame);
    g->frame = m->frame ? frame_ref(m->frame) : NULL;
    g->code = m->code;
    snprintf(g->reason, sizeof g->reason, "%s", m->reason ? m->reason : "");
    g->n = m->n;
    for (size_t i = 0; i < m->n && i < 8; i++) {
        g->entries[i] = m->entries[i];
        snprintf(g->users[i], sizeof g->users[i], "%s",
                 m->entries[i].user_id ? m->entries[i].user_id : "");
        g->entries[i].user_id = g->users[i];
    }
}

static void test_publish_reaches_addressee(void **st)
{
    (void)st;
    bus_hub_t *h = bus_hub_new();
    assert_non_null(h);
    bus_t *a = bus_local_new(h, 1), *b = bus_local_new(h, 2), *c = bus_local_new(h, 3);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(a->node, 1);
    assert_null(bus_local_new(h, 2)); /* taken */
    got_t gb = {0}, gc = {0};
    assert_int_equal(b->ops->subscribe(b, recv_fn, &gb), 0);
    assert_int_equal(c->ops->subscribe(c, recv_fn, &gc), 0);

    frame_t *f = frame_down(1103, "{\"x\":1}", 7);
    assert_non_null(f);
    bus_entry_t e[2] = {{.conn_id = 0x0100000000000007ull, .app_id = 5},
                        {.conn_id = 0, .app_id = 5, .user_id = "bob"}};
    bus_msg_t m = {.node = 2, .action = BUS_SEND, .frame = f, .n = 2, .entries = e};
    assert_int_equal(a->ops->publish(a, &m), 0);
    assert_int_equal(gb.calls, 1);
    assert_int_equal(gc.calls, 0);
    assert_int_equal(gb.node, 2);
    assert_int_equal(gb.from, 1);
    assert_int_equal(gb.action, BUS_SEND);
    assert_ptr_equal(gb.frame, f);
    assert_int_equal(gb.n, 2);
    assert_true(gb.entries[0].conn_id == 0x0100000000000007ull);
    assert_int_equal(gb.entries[1].conn_id, 0);
    assert_string_equal(gb.entries[1].user_id, "bob");
    frame_unref(f); /* the receiver still holds its own */
    assert_int_equal(gb.frame->len, 8 + 7);
    assert_memory_equal(gb.frame->data + 8, "{\"x\":1}", 7);

    /* close and kick carry code and text, no frame */
    bus_msg_t k = {.node = 3, .action = BUS_KICK, .code = 4, .reason = "imei-9", .n = 1,
                   .entries = e};
    assert_int_equal(b->ops->publish(b, &k), 0);
    assert_int_equal(gc.calls, 1);
    assert_int_equal(gc.from, 2);
    assert_int_equal(gc.action, BUS_KICK);
    assert_null(gc.frame);
    assert_int_equal(gc.code, 4);
    assert_string_equal(gc.reason, "imei-9");

    /* nobody there: never joined, no receiver, left */
    m.node = 9;
    assert_int_equal(a->ops->publish(a, &m), -1);
    m.node = 1;
    assert_int_equal(b->ops->publish(b, &m), -1); /* node 1 has no receiver */
    c->ops->destroy(c);
    k.node = 3;
    assert_int_equal(b->ops->publish(b, &k), -1);
    assert_int_equal(gc.calls, 1);
    /* a node can publish to itself (one code path for every node) */
    m.node = 2;
    m.frame = NULL;
    assert_int_equal(b->ops->publish(b, &m), 0);
    assert_int_equal(gb.calls, 2);
    assert_int_equal(gb.from, 2);
    /* unsubscribed: nothing reaches it */
    b->ops->subscribe(b, NULL, NULL);
    assert_int_equal(a->ops->publish(a, &m), -1);
    assert_int_equal(gb.calls, 2);

    a->ops->destroy(a);
    b->ops->destroy(b);
    /* the id is free again once its node left */
    bus_t *b2 = bus_local_new(h, 2);
    assert_non_null(b2);
    b2->ops->destroy(b2);
    bus_hub_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_reaches_addressee),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
