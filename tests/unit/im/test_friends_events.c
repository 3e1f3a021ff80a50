/*
 * The friendship and user use cases emit one event per committed change
 * and none for a refused one (im/friends.c, im/users.c), against a real
 * store: a subscriber counts what it sees, and the done callbacks say
 * what was committed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define APP 1400000031
#define STORE_FIXTURE_NAME "im-friends"
#include "store/store_fixture.h"

#include "server/im/friends.h"
#include "server/im/users.h"
#include "server/im/ustate.h"

typedef struct seen {
    unsigned count[EV_KIND_COUNT];
    char owner[STORE_ID_MAX + 1];
    char peer[STORE_ID_MAX + 1];
    int64_t seq;
} seen_t;

static void on_event(void *ctx, const im_event_t *ev)
{
    seen_t *s = ctx;
    s->count[ev->kind]++;
    if (ev->kind < EV_USER_IMPORTED) {
        snprintf(s->owner, sizeof s->owner, "%s", ev->u.fr->owner);
        snprintf(s->peer, sizeof s->peer, "%s", ev->u.fr->peer);
        s->seq = ev->u.fr->res->seq;
    }
}

/* A done callback's answer, waited for. */
typedef struct wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc, had_r;
} wait_t;

static void wait_init(wait_t *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void signal_done(wait_t *w, int rc, int had_r)
{
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->had_r = had_r;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void fr_done(void *arg, int rc, const ev_friend_t *r)
{
    signal_done(arg, rc, r != NULL);
}

static void user_done(void *arg, int rc, const ev_user_t *r)
{
    signal_done(arg, rc, r != NULL);
}

static int wait_rc(wait_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    w->done = 0;
    pthread_mutex_unlock(&w->mu);
    return w->rc;
}

static im_call_t call_as(store_t *st, events_t *e, ustate_t *us, const char *op, int admin)
{
    return (im_call_t){ .store = st, .events = e, .ustate = us, .app_id = APP, .op = op,
                        .is_admin = admin };
}

static store_friend_t pair(const char *from, const char *to)
{
    store_friend_t f;
    memset(&f, 0, sizeof f);
    snprintf(f.from_id, sizeof f.from_id, "%s", from);
    snprintf(f.to_id, sizeof f.to_id, "%s", to);
    snprintf(f.remark, sizeof f.remark, "note");
    return f;
}

static void test_add_emits_once(void **state)
{
    fixture_t *fx = *state;
    events_t *e = events_new();
    seen_t s = { 0 };
    assert_int_equal(events_subscribe(e, EV_MASK(EV_FRIEND_ADDED), on_event, &s), 0);
    wait_t w;
    wait_init(&w);
    im_call_t c = call_as(fx->st, e, NULL, "alice", 0);
    store_friend_t f = pair("alice", "bob");

    /* committed: one event, with the store's sequences */
    assert_int_equal(friends_add(&c, &f, "hi", fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_true(w.had_r);
    assert_int_equal(s.count[EV_FRIEND_ADDED], 1);
    assert_string_equal(s.owner, "alice");
    assert_string_equal(s.peer, "bob");
    assert_true(s.seq > 0);
    assert_int_equal(events_count(e, EV_FRIEND_ADDED), 1);

    /* refused by the store (already friends): no event */
    assert_int_equal(friends_add(&c, &f, "hi", fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), PETREL_ERR_ALREADY_FRIEND);
    assert_false(w.had_r);
    assert_int_equal(s.count[EV_FRIEND_ADDED], 1);

    /* refused by the operator rule: nothing submitted, no event */
    im_call_t other = call_as(fx->st, e, NULL, "carol", 0);
    store_friend_t g = pair("dave", "carol");
    assert_int_equal(friends_add(&other, &g, NULL, fr_done, &w), IM_ERR_NOT_OPERATOR);
    assert_int_equal(s.count[EV_FRIEND_ADDED], 1);

    /* a request (vera verifies) is another kind */
    store_friend_t v = pair("carol", "vera");
    im_call_t carol = call_as(fx->st, e, NULL, "carol", 0);
    assert_int_equal(friends_add(&carol, &v, NULL, fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(s.count[EV_FRIEND_ADDED], 1);
    assert_int_equal(events_count(e, EV_FRIEND_REQUEST), 1);

    /* blacklisted: refused, no event */
    im_call_t bob = call_as(fx->st, e, NULL, "bob", 0);
    assert_int_equal(friends_black(&bob, "bob", "dave", 2, fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(events_count(e, EV_BLACK_ADDED), 1);
    im_call_t dave = call_as(fx->st, e, NULL, "dave", 0);
    store_friend_t d = pair("dave", "bob");
    assert_int_equal(friends_add(&dave, &d, NULL, fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), PETREL_ERR_BLACKED_BY_PEER);
    assert_int_equal(s.count[EV_FRIEND_ADDED], 1);
    assert_int_equal(events_count(e, EV_FRIEND_REQUEST), 1);

    /* the admin may act for anyone: dave adds carol */
    im_call_t admin = call_as(fx->st, e, NULL, "admin", 1);
    assert_int_equal(friends_add(&admin, &g, NULL, fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(s.count[EV_FRIEND_ADDED], 2);

    /* nothing to change emits nothing: reading no unread request */
    assert_int_equal(friends_request_read(&c, "alice", fr_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_true(w.had_r);
    assert_int_equal(events_count(e, EV_FRIEND_REQUEST_READ), 0);
    events_free(e);
}

static void test_users_emit(void **state)
{
    fixture_t *fx = *state;
    events_t *e = events_new();
    ustate_t *us = ustate_new();
    wait_t w;
    wait_init(&w);
    im_call_t alice = call_as(fx->st, e, us, "alice", 0);
    im_call_t admin = call_as(fx->st, e, us, "admin", 1);
    store_user_t u;
    users_defaults(&u, APP);
    snprintf(u.user_id, sizeof u.user_id, "alice");
    snprintf(u.nick_name, sizeof u.nick_name, "A");
    assert_int_equal(users_modify(&alice, &u, STORE_USER_F_NICK_NAME, user_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(events_count(e, EV_USER_MODIFIED), 1);
    /* alice may not forbid herself, nor modify bob */
    u.forbidden_flag = 1;
    assert_int_equal(users_modify(&alice, &u, STORE_USER_F_FORBIDDEN_FLAG, user_done, &w),
                     IM_ERR_NOT_OPERATOR);
    assert_int_equal(users_delete(&alice, (const char *const[]){"bob"}, 1, user_done, &w),
                     IM_ERR_NOT_OPERATOR);
    /* the admin forbids her: the cache knows before the event */
    assert_int_equal(users_modify(&admin, &u, STORE_USER_F_FORBIDDEN_FLAG, user_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(ustate_get(us, APP, "alice"), USTATE_FORBIDDEN);
    assert_int_equal(events_count(e, EV_USER_MODIFIED), 2);
    /* a missing user: refused, no event */
    snprintf(u.user_id, sizeof u.user_id, "nobody");
    assert_int_equal(users_modify(&admin, &u, STORE_USER_F_NICK_NAME, user_done, &w), 0);
    assert_int_equal(wait_rc(&w), STORE_ENOTFOUND);
    assert_int_equal(events_count(e, EV_USER_MODIFIED), 2);
    /* delete: one event for the batch, none when nothing was deleted */
    const char *ids[] = {"dave", "nobody"};
    assert_int_equal(users_delete(&admin, ids, 2, user_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(events_count(e, EV_USER_DELETED), 1);
    assert_int_equal(ustate_get(us, APP, "dave"), USTATE_DELETED);
    assert_int_equal(users_delete(&admin, ids + 1, 1, user_done, &w), 0);
    assert_int_equal(wait_rc(&w), 0);
    assert_int_equal(events_count(e, EV_USER_DELETED), 1);
    ustate_free(us);
    events_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_emits_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_emit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
