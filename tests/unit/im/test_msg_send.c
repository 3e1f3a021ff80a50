/*
 * The one-to-one message use cases (im/msg_send.h) against a real store,
 * without any transport: a send reports after the commit with the event's
 * reach, emits EV_MSG_STORED once with the committed row and the push
 * template; a resend is answered at once by the idempotency cache (no
 * store trip, no event); with the cache gone the database key still
 * answers the original numbers (a store duplicate, no event); recall and
 * read emit their events, a refused recall none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/im/server.h"
#include "server/core/jtmpl.h"
#include "server/im/apps.h"
#include "server/im/event.h"
#include "server/im/msg_send.h"
#include "server/seam/idem.h"

#define APP 1400000077

typedef struct fx {
    char dir[64], data_dir[128];
    server_t s;
} fx_t;

/* what the subscriber saw */
static struct {
    int stored, recalled, read;
    int64_t key, seq, recalled_key, read_seq;
    int had_template;
    char peer[64], actor[64];
    uint64_t conn_id;
} seen;

/* what done reported */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ndone;
static im_result_t last;

static void on_done(void *arg, const im_result_t *r)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    last = *r;
    ndone++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static im_result_t wait_done(int n)
{
    pthread_mutex_lock(&mu);
    while (ndone < n)
        pthread_cond_wait(&cv, &mu);
    im_result_t r = last;
    pthread_mutex_unlock(&mu);
    return r;
}

static void on_event(void *ctx, const im_event_t *ev)
{
    (void)ctx;
    snprintf(seen.actor, sizeof seen.actor, "%s", ev->actor);
    seen.conn_id = ev->origin.conn_id;
    if (ev->kind == EV_MSG_STORED) {
        const ev_msg_stored_t *d = ev->extra;
        seen.stored++;
        seen.key = ev->u.msg->message_key;
        seen.seq = ev->u.msg->sequence;
        seen.had_template = d && d->push && d->push->txt;
        if (d && d->reached)
            *d->reached += 2; /* as if two receiver devices were online */
    } else if (ev->kind == EV_MSG_RECALLED) {
        seen.recalled++;
        seen.recalled_key = *(const int64_t *)ev->extra;
    } else if (ev->kind == EV_MSG_READ) {
        seen.read++;
        seen.read_seq = ev->u.read->sequence;
        snprintf(seen.peer, sizeof seen.peer, "%s", ev->u.read->peer);
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/petrel-usecase-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->data_dir, sizeof f->data_dir, "%s/data", f->dir);
    store_config_t cfg = {.data_dir = f->data_dir};
    if (store_open(&cfg, &f->s.store) < 0 || apps_load(f->s.store, &f->s.apps) < 0)
        return -1;
    f->s.cfg.recall_window_ms = 120000;
    f->s.events = events_new();
    f->s.idem = idem_local_new();
    events_subscribe(f->s.events, EV_MASK_ALL, on_event, NULL);
    store_user_t u[2] = {{0}};
    int res[2];
    const char *ids[2] = {"alice", "bob"};
    for (int i = 0; i < 2; i++) {
        u[i].app_id = APP;
        snprintf(u[i].user_id, sizeof u[i].user_id, "%s", ids[i]);
        u[i].friend_allow_type = 1;
        u[i].user_type = 1;
    }
    if (store_user_import_sync(f->s.store, u, 2, res) < 0)
        return -1;
    memset(&seen, 0, sizeof seen);
    ndone = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    store_shutdown(f->s.store);
    store_close(f->s.store);
    apps_free(f->s.apps);
    events_free(f->s.events);
    idem_free(f->s.idem);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void fill(store_msg_t *m, const char *mid)
{
    memset(m, 0, sizeof *m);
    m->app_id = APP;
    snprintf(m->from_id, sizeof m->from_id, "alice");
    snprintf(m->to_id, sizeof m->to_id, "bob");
    snprintf(m->message_id, sizeof m->message_id, "%s", mid);
    m->body = strdup("{\"t\":1}");
}

static const im_origin_t ALICE = {APP, "alice", 1, "dev-1", 42};

static void test_send_then_resend(void **state)
{
    fx_t *f = *state;
    store_msg_t m;
    fill(&m, "uc-1");
    assert_int_equal(im_send_p2p(&f->s, &ALICE, &m, on_done, NULL), 1); /* queued */
    im_result_t r = wait_done(1);
    assert_int_equal(r.code, PETREL_OK);
    assert_int_equal(r.deferred, 1);
    assert_int_equal(r.cached, 0);
    assert_int_equal(r.reached, 2);
    assert_int_equal(m.duplicate, 0);
    assert_int_equal(seen.stored, 1);
    assert_true(seen.key == m.message_key && seen.seq == m.sequence && m.sequence == 1);
    assert_true(seen.had_template);
    assert_string_equal(seen.actor, "alice");
    assert_int_equal(seen.conn_id, 42);

    /* the resend: answered at once by the cache, nothing stored, no event */
    store_msg_t again;
    fill(&again, "uc-1");
    assert_int_equal(im_send_p2p(&f->s, &ALICE, &again, on_done, NULL), 0);
    r = wait_done(2);
    assert_int_equal(r.code, PETREL_OK);
    assert_int_equal(r.deferred, 0);
    assert_int_equal(r.cached, 1);
    assert_int_equal(again.duplicate, 1);
    assert_true(again.message_key == m.message_key && again.sequence == m.sequence &&
                again.created_at == m.created_at);
    assert_int_equal(seen.stored, 1);

    /* no cache (another node, an eviction): the database key decides */
    idem_free(f->s.idem);
    f->s.idem = NULL;
    store_msg_t third;
    fill(&third, "uc-1");
    assert_int_equal(im_send_p2p(&f->s, &ALICE, &third, on_done, NULL), 1);
    r = wait_done(3);
    assert_int_equal(r.code, PETREL_OK);
    assert_int_equal(r.cached, 0);
    assert_int_equal(third.duplicate, 1);
    assert_true(third.message_key == m.message_key && third.sequence == m.sequence);
    assert_int_equal(seen.stored, 1);
    assert_int_equal(events_count(f->s.events, EV_MSG_STORED), 1);
    free(m.body);
    free(again.body);
    free(third.body);
}

static void test_refused_send_emits_nothing(void **state)
{
    fx_t *f = *state;
    store_msg_t m;
    fill(&m, "uc-2");
    snprintf(m.to_id, sizeof m.to_id, "nobody");
    assert_int_equal(im_send_p2p(&f->s, &ALICE, &m, on_done, NULL), 1);
    im_result_t r = wait_done(1);
    assert_int_equal(r.code, 20001);
    assert_non_null(r.msg);
    assert_int_equal(seen.stored, 0);
    /* not cached either: a refusal is no ack */
    idem_ack_t a;
    assert_int_equal(idem_get(f->s.idem, APP, "alice", "uc-2", &a), 0);
    free(m.body);
}

static void test_recall_and_read(void **state)
{
    fx_t *f = *state;
    store_msg_t m;
    fill(&m, "uc-3");
    im_send_p2p(&f->s, &ALICE, &m, on_done, NULL);
    wait_done(1);
    store_recall_t rec;
    memset(&rec, 0, sizeof rec);
    assert_int_equal(im_recall_p2p(&f->s, &ALICE, m.message_key, &rec, on_done, NULL), 1);
    im_result_t r = wait_done(2);
    assert_int_equal(r.code, PETREL_OK);
    assert_int_equal(seen.recalled, 1);
    assert_true(seen.recalled_key == m.message_key);
    /* twice: refused (50005), no second event */
    memset(&rec, 0, sizeof rec);
    im_recall_p2p(&f->s, &ALICE, m.message_key, &rec, on_done, NULL);
    r = wait_done(3);
    assert_int_equal(r.code, 50005);
    assert_string_equal(r.msg, im_recall_text(50005));
    assert_int_equal(seen.recalled, 1);

    const im_origin_t bob = {APP, "bob", 3, "", 0};
    assert_int_equal(im_read_p2p(&f->s, &bob, "alice", 1, on_done, NULL), 1);
    r = wait_done(4);
    assert_int_equal(r.code, PETREL_OK);
    assert_int_equal(seen.read, 1);
    assert_int_equal(seen.read_seq, 1);
    assert_string_equal(seen.peer, "alice");
    assert_string_equal(seen.actor, "bob");
    /* the same receipt again moves nothing: no event */
    im_read_p2p(&f->s, &bob, "alice", 1, on_done, NULL);
    wait_done(5);
    assert_int_equal(seen.read, 1);
    free(m.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_then_resend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_send_emits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recall_and_read, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
