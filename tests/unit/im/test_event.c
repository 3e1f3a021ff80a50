/*
 * Unit tests for the domain event dispatch (src/server/im/event.c): masks,
 * subscription order, counts, the table limit, and NULL safety.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/im/event.h"

typedef struct rec {
    char log[64];
    size_t n;
} rec_t;

static void sub_a(void *ctx, const im_event_t *ev)
{
    rec_t *r = ctx;
    if (r->n + 2 < sizeof r->log) {
        r->log[r->n++] = 'a';
        r->log[r->n++] = (char)('0' + ev->kind);
    }
}

static void sub_b(void *ctx, const im_event_t *ev)
{
    rec_t *r = ctx;
    if (r->n + 2 < sizeof r->log) {
        r->log[r->n++] = 'b';
        r->log[r->n++] = (char)('0' + ev->kind);
    }
}

static void test_mask_and_order(void **state)
{
    (void)state;
    events_t *e = events_new();
    rec_t r = { 0 };
    assert_int_equal(events_subscribe(e, EV_MASK(EV_MSG_STORED) | EV_MASK(EV_MSG_READ), sub_a, &r), 0);
    assert_int_equal(events_subscribe(e, EV_MASK_ALL, sub_b, &r), 0);
    im_event_t ev = { .kind = EV_MSG_STORED, .app_id = 1, .actor = "u" };
    events_emit(e, &ev);
    ev.kind = EV_MSG_RECALLED;
    events_emit(e, &ev);
    ev.kind = EV_MSG_READ;
    events_emit(e, &ev);
    char want[16];
    snprintf(want, sizeof want, "a%cb%cb%ca%cb%c", '0' + EV_MSG_STORED, '0' + EV_MSG_STORED,
             '0' + EV_MSG_RECALLED, '0' + EV_MSG_READ, '0' + EV_MSG_READ);
    assert_int_equal(r.n, strlen(want));
    assert_memory_equal(r.log, want, r.n);
    assert_int_equal(events_count(e, EV_MSG_STORED), 1);
    assert_int_equal(events_count(e, EV_MSG_RECALLED), 1);
    assert_int_equal(events_count(e, EV_GROUP_MSG_STORED), 0);
    events_free(e);
}

static void test_bad_kinds_and_null(void **state)
{
    (void)state;
    events_t *e = events_new();
    rec_t r = { 0 };
    assert_int_equal(events_subscribe(e, EV_MASK_ALL, sub_a, &r), 0);
    im_event_t ev = { .kind = EV_NONE };
    events_emit(e, &ev);
    ev.kind = EV_KIND_COUNT;
    events_emit(e, &ev);
    ev.kind = (ev_kind_t)-1;
    events_emit(e, &ev);
    events_emit(e, NULL);
    assert_int_equal(r.n, 0);
    ev.kind = EV_MSG_STORED;
    events_emit(NULL, &ev);             /* no table: nobody listens */
    assert_int_equal(events_count(NULL, EV_MSG_STORED), 0);
    assert_int_equal(events_subscribe(NULL, EV_MASK_ALL, sub_a, &r), -1);
    assert_int_equal(events_subscribe(e, EV_MASK_ALL, NULL, &r), -1);
    events_free(e);
    events_free(NULL);
}

static void count(void *ctx, const im_event_t *ev)
{
    (void)ev;
    ++*(int *)ctx;
}

static void test_table_full(void **state)
{
    (void)state;
    events_t *e = events_new();
    int calls = 0;
    for (int i = 0; i < EVENTS_MAX; i++)
        assert_int_equal(events_subscribe(e, EV_MASK(EV_MSG_STORED), count, &calls), 0);
    assert_int_equal(events_subscribe(e, EV_MASK(EV_MSG_STORED), count, &calls), -1);
    im_event_t ev = { .kind = EV_MSG_STORED };
    events_emit(e, &ev);
    assert_int_equal(calls, EVENTS_MAX);
    events_free(e);
}

static void test_names(void **state)
{
    (void)state;
    for (int k = EV_NONE + 1; k < EV_KIND_COUNT; k++)
        assert_string_not_equal(ev_kind_name((ev_kind_t)k), "none");
    assert_string_equal(ev_kind_name(EV_NONE), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_and_order),
        cmocka_unit_test(test_bad_kinds_and_null),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
