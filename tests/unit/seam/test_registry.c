/*
 * In-process data structures of the server: the per-worker connection map
 * (open addressing with backward-shift deletion) checked against a simple
 * model under random operations, and the local session registry (login
 * with policy, victims removed atomically, remove by connection id).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/im/server.h"

#include <stdlib.h>
#include <string.h>

static void test_connmap_model(void **st)
{
    (void)st;
    connmap_t m = {0};
    enum { N = 5000 };
    static conn_t *model[N];
    memset(model, 0, sizeof model);
    srand(42);
    for (int step = 0; step < 200000; step++) {
        uint64_t k = (uint64_t)(rand() % N) + 1;
        conn_t *v = (conn_t *)(uintptr_t)(k * 16);
        int op = rand() % 3;
        if (op == 0) {
            assert_int_equal(connmap_put(&m, k, v), 0);
            model[k - 1] = v;
        } else if (op == 1) {
            connmap_del(&m, k);
            model[k - 1] = NULL;
        } else {
            assert_ptr_equal(connmap_get(&m, k), model[k - 1]);
        }
    }
    size_t live = 0;
    for (uint64_t k = 1; k <= N; k++) {
        assert_ptr_equal(connmap_get(&m, k), model[k - 1]);
        live += model[k - 1] != NULL;
    }
    assert_int_equal(m.n, live);
    assert_null(connmap_get(&m, 0));
    connmap_free(&m);
}

static sess_login_t req(const char *user, int ct, const char *imei, uint64_t conn, int mode)
{
    static int64_t t = 1000;
    sess_login_t q = {10000, user, ct, imei, ++t, conn, mode, 0, 0, NULL, NULL};
    return q;
}

static void test_session_policy_and_remove(void **st)
{
    (void)st;
    sess_registry_t *r = sess_local_new();
    assert_non_null(r);
    sess_device_t *v;
    size_t nv;
    uint64_t d, u;

    sess_login_t q = req("alice", 2, "ios1", 1, 3);
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 0);
    q = req("alice", 1, "web1", 2, 3);
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 0);
    /* mode 3: android kicks ios, web stays */
    q = req("alice", 3, "and1", 3, 3);
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].conn_id, 1);
    assert_string_equal(v[0].imei, "ios1");
    assert_string_equal(v[0].user_id, "alice");
    sess_devices_free(v, nv);

    /* another user is independent */
    q = req("bob", 3, "and1", 4, 1);
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 0);
    r->ops->count(r, &d, &u);
    assert_int_equal(d, 3);
    assert_int_equal(u, 2);

    /* removing a victim again is a no-op; removing by id is exact */
    assert_int_equal(r->ops->remove(r, 10000, "alice", 1), 0);
    /* same device relogin (same clientType + imei) replaces conn 3 */
    q = req("alice", 3, "and1", 5, 4);
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].conn_id, 3);
    sess_devices_free(v, nv);
    assert_int_equal(r->ops->remove(r, 10000, "alice", 3), 0);

    assert_int_equal(r->ops->list(r, 10000, "alice", &v, &nv), 0);
    assert_int_equal(nv, 2);
    sess_devices_free(v, nv);
    assert_int_equal(r->ops->list(r, 10001, "alice", &v, &nv), 0);
    assert_int_equal(nv, 0);

    assert_int_equal(r->ops->remove(r, 10000, "alice", 2), 1);
    assert_int_equal(r->ops->remove(r, 10000, "alice", 5), 2); /* her last */
    assert_int_equal(r->ops->remove(r, 10000, "bob", 4), 2);
    r->ops->count(r, &d, &u);
    assert_int_equal(d, 0);
    assert_int_equal(u, 0);
    r->ops->destroy(r);
}

static void test_session_many_users(void **st)
{
    (void)st;
    sess_registry_t *r = sess_local_new();
    char name[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "u%d", i);
        sess_login_t q = req(name, 1, "w", (uint64_t)i + 1, 1);
        sess_device_t *v;
        size_t nv;
        assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
        assert_int_equal(nv, 0);
    }
    uint64_t d, u;
    r->ops->count(r, &d, &u);
    assert_int_equal(d, 20000);
    assert_int_equal(u, 20000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(name, sizeof name, "u%d", i);
        assert_int_equal(r->ops->remove(r, 10000, name, (uint64_t)i + 1), 2);
    }
    r->ops->count(r, &d, &u);
    assert_int_equal(d, 10000);
    r->ops->destroy(r); /* frees the remaining users */
}

/* max_devices: a login that would leave the user with more is refused,
 * nothing changes (nobody kicked); one replacing a kicked device is not. */
static void test_session_device_cap(void **st)
{
    (void)st;
    sess_registry_t *r = sess_local_new();
    sess_device_t *v = NULL;
    size_t nv = 0;
    for (int i = 0; i < 3; i++) {
        char imei[8];
        snprintf(imei, sizeof imei, "w%d", i);
        sess_login_t q = req("cap", 1, imei, (uint64_t)i + 1, 3);
        q.max_devices = 3;
        assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
        assert_int_equal(nv, 0);
    }
    sess_login_t q = req("cap", 1, "w3", 4, 3);
    q.max_devices = 3;
    assert_int_equal(r->ops->login(r, &q, &v, &nv), SESS_ETOOMANY);
    assert_int_equal(nv, 0);
    uint64_t d, u;
    r->ops->count(r, &d, &u);
    assert_int_equal(d, 3);
    /* the same device again (same imei) replaces itself: allowed */
    q = req("cap", 1, "w1", 5, 3);
    q.max_devices = 3;
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    assert_int_equal(nv, 1);
    assert_int_equal(v[0].conn_id, 2);
    sess_devices_free(v, nv);
    r->ops->count(r, &d, &u);
    assert_int_equal(d, 3);
    /* no cap */
    q = req("cap", 1, "w9", 6, 3);
    assert_int_equal(r->ops->login(r, &q, &v, &nv), 0);
    r->ops->destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connmap_model),
        cmocka_unit_test(test_session_policy_and_remove),
        cmocka_unit_test(test_session_many_users),
        cmocka_unit_test(test_session_device_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
