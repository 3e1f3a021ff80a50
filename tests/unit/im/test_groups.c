/*
 * Unit tests for the group management use cases (src/server/im/groups.c)
 * on a real store: each committed change announces exactly one event of
 * its kind, after the commit and before the caller's done; a refused op
 * announces nothing; who joined is the event's detail (only the members
 * that did join); a decided request is announced before the member it
 * adds; inputs are copied.  Each test gets a fresh mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/im/event.h"
#include "server/im/groups.h"
#include "server/model/group_rules.h"
#include "server/store/store.h"

#define APP 1400000003

#define STORE_FIXTURE_NAME "imgroups"
#include "store/store_fixture.h"

/* What the subscriber and done saw, in order: one line per call. */
typedef struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char log[2048];
    int done;
    int rc, reject, joined;
    int64_t request_id;
    char group_id[STORE_GROUP_ID_MAX + 1];
} rec_t;

static rec_t R;

static void logf_(const char *fmt, ...)
{
    size_t n = strlen(R.log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R.log + n, sizeof R.log - n, fmt, ap);
    va_end(ap);
}

static void on_event(void *ctx, const im_event_t *ev)
{
    (void)ctx;
    pthread_mutex_lock(&R.mu);
    /* no cmocka assertion off the test's thread: oddities go to the log */
    logf_("%s", ev_kind_name(ev->kind));
    if (ev->app_id != APP || ev->time_ms <= 0 || !ev->u.gop)
        logf_("!bad");
    const ev_group_joined_t *w = ev->extra;
    if ((ev->kind == EV_GROUP_MEMBER_ADDED) != (w != NULL))
        logf_("!extra");
    for (size_t i = 0; w && i < w->n; i++)
        logf_("%c%s", i ? ',' : ':', w->ids[i]);
    logf_("@%s;", ev->actor);
    pthread_mutex_unlock(&R.mu);
}

static void on_done(void *arg, int rc, const store_group_op_t *op)
{
    (void)arg;
    pthread_mutex_lock(&R.mu);
    logf_("done;");
    R.rc = rc;
    R.reject = op->reject;
    R.joined = op->joined;
    R.request_id = op->request.id;
    snprintf(R.group_id, sizeof R.group_id, "%s", op->group_id);
    R.done = 1;
    pthread_cond_signal(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static void reset(void)
{
    pthread_mutex_lock(&R.mu);
    R.log[0] = '\0';
    R.done = 0;
    pthread_mutex_unlock(&R.mu);
}

/* Wait for done; the log since reset. */
static const char *wait_done(int submit_rc)
{
    assert_int_equal(submit_rc, 0);
    pthread_mutex_lock(&R.mu);
    while (!R.done)
        pthread_cond_wait(&R.cv, &R.mu);
    pthread_mutex_unlock(&R.mu);
    assert_int_equal(R.rc, 0);
    return R.log;
}

static group_caller_t caller(fixture_t *f, events_t *ev, const char *who)
{
    return (group_caller_t){
        .store = f->st,
        .events = ev,
        .app_id = APP,
        .operator_id = who,
        .admin = !strcmp(who, "admin"),
        .origin = {.client_type = 0, .imei = "", .conn_id = 0},
    };
}

static store_group_member_t *members_of(const char **ids, size_t n)
{
    store_group_member_t *m = calloc(n, sizeof *m);
    for (size_t i = 0; i < n; i++)
        snprintf(m[i].member_id, sizeof m[i].member_id, "%s", ids[i]);
    return m;
}

static events_t *subscribed(void)
{
    events_t *e = events_new();
    assert_int_equal(events_subscribe(e, EV_MASK_ALL, on_event, NULL), 0);
    return e;
}

static void test_create_add_remove(void **state)
{
    fixture_t *f = *state;
    events_t *e = subscribed();
    group_caller_t alice = caller(f, e, "alice"), bob = caller(f, e, "bob");
    store_group_t g = {0};
    snprintf(g.owner_id, sizeof g.owner_id, "alice");
    g.group_type = GROUP_PUBLIC;
    g.apply_join_type = JOIN_APPROVAL;
    const char *ids[] = {"bob", "nobody"};
    store_group_member_t *m = members_of(ids, 2);

    reset();
    int rc = group_create(&alice, "g1", &g, m, 2, 0, on_done, NULL);
    free(m); /* copied */
    assert_string_equal(wait_done(rc), "group.created@alice;done;");
    assert_int_equal(R.reject, 0);

    /* a random id when none is given */
    reset();
    assert_string_equal(wait_done(group_create(&alice, NULL, &g, NULL, 0, 0, on_done, NULL)),
                        "group.created@alice;done;");
    assert_int_equal(strlen(R.group_id), 32);

    /* only who joined is announced; nobody joining announces nothing */
    const char *more[] = {"bob", "carol", "dave"};
    m = members_of(more, 3);
    reset();
    assert_string_equal(wait_done(group_members_add(&alice, "g1", m, 3, 0, on_done, NULL)),
                        "group.member.added:carol,dave@alice;done;");
    reset();
    assert_string_equal(wait_done(group_members_add(&alice, "g1", m, 2, 0, on_done, NULL)),
                        "done;");
    free(m);

    /* refused: nothing announced */
    reset();
    assert_string_equal(wait_done(group_member_remove(&bob, "g1", "carol", on_done, NULL)),
                        "done;");
    assert_int_equal(R.reject, PETREL_ERR_NEED_MANAGER);

    reset();
    assert_string_equal(wait_done(group_member_remove(&alice, "g1", "carol", on_done, NULL)),
                        "group.member.removed@alice;done;");
    reset();
    assert_string_equal(wait_done(group_member_exit(&bob, "g1", on_done, NULL)),
                        "group.member.removed@bob;done;");
    events_free(e);
}

static void test_group_changes(void **state)
{
    fixture_t *f = *state;
    events_t *e = subscribed();
    group_caller_t alice = caller(f, e, "alice"), bob = caller(f, e, "bob"),
                   admin = caller(f, e, "admin");
    store_group_t g = {0};
    snprintf(g.owner_id, sizeof g.owner_id, "alice");
    g.group_type = GROUP_PUBLIC;
    const char *ids[] = {"bob"};
    store_group_member_t *m = members_of(ids, 1);
    reset();
    wait_done(group_create(&alice, "g2", &g, m, 1, 0, on_done, NULL));
    free(m);

    snprintf(g.group_name, sizeof g.group_name, "renamed");
    reset();
    assert_string_equal(
        wait_done(group_update(&alice, "g2", &g, STORE_GROUP_F_NAME, on_done, NULL)),
        "group.updated@alice;done;");
    reset();
    assert_string_equal(wait_done(group_mute(&alice, "g2", 1, on_done, NULL)),
                        "group.muted@alice;done;");
    reset();
    assert_string_equal(wait_done(group_member_mute(&alice, "g2", "bob", 60000, on_done, NULL)),
                        "group.member.muted@alice;done;");
    store_group_member_t fields = {0};
    snprintf(fields.alias, sizeof fields.alias, "B");
    reset();
    assert_string_equal(wait_done(group_member_update(&bob, "g2", "bob", &fields, STORE_MEMBER_F_ALIAS,
                                                      on_done, NULL)),
                        "group.member.updated@bob;done;");
    /* the admin acts as "" */
    reset();
    assert_string_equal(wait_done(group_transfer(&admin, "g2", "bob", on_done, NULL)),
                        "group.transferred@;done;");
    reset();
    assert_string_equal(wait_done(group_destroy(&admin, "g2", on_done, NULL)),
                        "group.destroyed@;done;");
    reset();
    assert_string_equal(wait_done(group_destroy(&admin, "g2", on_done, NULL)), "done;");
    assert_int_equal(R.reject, PETREL_ERR_GROUP_DESTROYED);
    assert_int_equal(events_count(e, EV_GROUP_DESTROYED), 1);
    events_free(e);
}

static void test_join_requests(void **state)
{
    fixture_t *f = *state;
    events_t *e = subscribed();
    group_caller_t alice = caller(f, e, "alice"), bob = caller(f, e, "bob"),
                   carol = caller(f, e, "carol");
    store_group_t g = {0};
    snprintf(g.owner_id, sizeof g.owner_id, "alice");
    g.group_type = GROUP_PUBLIC;
    g.apply_join_type = JOIN_APPROVAL;
    reset();
    wait_done(group_create(&alice, "g3", &g, NULL, 0, 0, on_done, NULL));

    reset();
    assert_string_equal(wait_done(group_apply(&bob, "g3", "let me in", on_done, NULL)),
                        "group.join.requested@bob;done;");
    assert_int_equal(R.joined, 0);
    int64_t rid = R.request_id;
    reset();
    assert_string_equal(wait_done(group_decide(&alice, "g3", rid, 1, on_done, NULL)),
                        "group.join.decided@alice;group.member.added:bob@alice;done;");
    assert_int_equal(R.joined, 1);
    reset();
    assert_string_equal(wait_done(group_decide(&alice, "g3", rid, 2, on_done, NULL)), "done;");
    assert_int_equal(R.reject, PETREL_ERR_JOIN_REQUEST_HANDLED);

    reset();
    wait_done(group_apply(&carol, "g3", NULL, on_done, NULL));
    reset();
    assert_string_equal(wait_done(group_decide(&alice, "g3", R.request_id, 2, on_done, NULL)),
                        "group.join.decided@alice;done;");

    /* a free group: joining at once is a member added */
    g.apply_join_type = JOIN_FREE;
    reset();
    wait_done(group_update(&alice, "g3", &g, STORE_GROUP_F_APPLY_JOIN_TYPE, on_done, NULL));
    reset();
    assert_string_equal(wait_done(group_apply(&carol, "g3", "", on_done, NULL)),
                        "group.member.added:carol@carol;done;");
    assert_int_equal(R.joined, 1);
    events_free(e);
}

/* Without an event table the use cases still run (nobody listens). */
static void test_no_events(void **state)
{
    fixture_t *f = *state;
    group_caller_t alice = caller(f, NULL, "alice");
    store_group_t g = {0};
    snprintf(g.owner_id, sizeof g.owner_id, "alice");
    g.group_type = GROUP_PRIVATE;
    reset();
    assert_string_equal(wait_done(group_create(&alice, "g4", &g, NULL, 0, 0, on_done, NULL)),
                        "done;");
    /* an invalid input is refused at submission: done is never called */
    assert_int_equal(group_destroy(&alice, "", on_done, NULL), STORE_EINVAL);
}

int main(void)
{
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_add_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
