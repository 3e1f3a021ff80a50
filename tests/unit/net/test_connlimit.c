/*
 * Unit tests for the per-address connection table (src/server/net/connlimit.c):
 * how addresses become keys (IPv4, IPv4-mapped, IPv6 /64, loopback), the
 * limit (refused at max, room again after a release), the count of
 * connections without LOGIN (its own limit; a LOGIN or a close takes a
 * connection off it exactly once), and the table
 * itself: a random mix of acquires and releases over thousands of
 * addresses is checked against a plain array model after every step, which
 * catches a lost entry from backward-shift deletion, growth or shrinking;
 * threads hammering one key never exceed its limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/net/connlimit.h"

static int key4(const char *ip, cl_ref_t *k)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return connlimit_key((struct sockaddr *)&a, k);
}

static int key6(const char *ip, cl_ref_t *k)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return connlimit_key((struct sockaddr *)&a, k);
}

static int same(const cl_ref_t *a, const cl_ref_t *b)
{
    return a->fam == b->fam && a->v == b->v;
}

static void test_keys(void **state)
{
    (void)state;
    cl_ref_t a, b;
    char s[64];
    assert_int_equal(key4("192.0.2.7", &a), 0);
    assert_int_equal(a.fam, 4);
    connlimit_format(&a, s, sizeof s);
    assert_string_equal(s, "192.0.2.7");
    /* IPv4-mapped IPv6 is the same IPv4 address */
    assert_int_equal(key6("::ffff:192.0.2.7", &b), 0);
    assert_true(same(&a, &b));
    assert_int_equal(key4("192.0.2.8", &b), 0);
    assert_false(same(&a, &b));
    /* loopback: all of 127/8, ::1, mapped 127/8; each 127 address its own key */
    assert_int_equal(key4("127.0.0.1", &a), 1);
    assert_int_equal(key4("127.0.0.2", &b), 1);
    assert_false(same(&a, &b));
    assert_int_equal(key6("::ffff:127.0.0.1", &b), 1);
    assert_true(same(&a, &b));
    assert_int_equal(key6("::1", &a), 1);
    assert_int_equal(key6("::2", &a), 0);
    /* IPv6: one key per /64 */
    assert_int_equal(key6("2001:db8:1:2::1", &a), 0);
    assert_int_equal(key6("2001:db8:1:2:ffff:ffff:ffff:ffff", &b), 0);
    assert_true(same(&a, &b));
    connlimit_format(&a, s, sizeof s);
    assert_string_equal(s, "2001:db8:1:2::/64");
    assert_int_equal(key6("2001:db8:1:3::1", &b), 0);
    assert_false(same(&a, &b));
    /* an IPv6 /64 never equals an IPv4 key with the same number */
    assert_int_equal(key6("::c000:207", &b), 0); /* /64 prefix 0 */
    assert_int_equal(key4("0.0.0.0", &a), 0);
    assert_int_equal(a.v, b.v);
    assert_false(same(&a, &b));
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(connlimit_key(&un, &a), -1);
}

static void test_limit(void **state)
{
    (void)state;
    connlimit_t *t = connlimit_new();
    assert_non_null(t);
    cl_ref_t k, other, refs[5], r;
    key4("198.51.100.1", &k);
    key4("198.51.100.2", &other);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(connlimit_acquire(t, &k, 5, 0, &refs[i]), 0);
        assert_true(same(&refs[i], &k));
    }
    assert_int_equal(connlimit_count(t, &k, NULL), 5);
    assert_int_equal(connlimit_acquire(t, &k, 5, 0, &r), 1);
    assert_int_equal(r.fam, 0);
    assert_int_equal(connlimit_count(t, &k, NULL), 5);
    /* another address is not affected */
    assert_int_equal(connlimit_acquire(t, &other, 5, 0, &r), 0);
    assert_int_equal(connlimit_addresses(t), 2);
    connlimit_release(t, &r);
    assert_int_equal(r.fam, 0);
    connlimit_release(t, &r); /* a second release does nothing */
    assert_int_equal(connlimit_count(t, &other, NULL), 0);
    assert_int_equal(connlimit_count(t, &k, NULL), 5);
    /* one closes: room for exactly one more */
    connlimit_release(t, &refs[0]);
    assert_int_equal(connlimit_acquire(t, &k, 5, 0, &refs[0]), 0);
    assert_int_equal(connlimit_acquire(t, &k, 5, 0, &r), 1);
    /* max 0: counted, never refused */
    assert_int_equal(connlimit_acquire(t, &k, 0, 0, &r), 0);
    assert_int_equal(connlimit_count(t, &k, NULL), 6);
    connlimit_release(t, &r);
    for (int i = 0; i < 5; i++)
        connlimit_release(t, &refs[i]);
    assert_int_equal(connlimit_count(t, &k, NULL), 0);
    assert_int_equal(connlimit_addresses(t), 0);
    connlimit_release(NULL, &r); /* no table: nothing */
    connlimit_free(t);
}

static void test_pending(void **state)
{
    (void)state;
    connlimit_t *t = connlimit_new();
    assert_non_null(t);
    cl_ref_t k, a, b, c, d;
    uint32_t pend;
    key6("2001:db8:5::9", &k);
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &a), CL_OK);
    assert_int_equal(a.pending, 1);
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &b), CL_OK);
    /* two without LOGIN: a third is refused, nothing counted */
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &c), CL_PENDING_FULL);
    assert_int_equal(c.fam, 0);
    assert_int_equal(connlimit_count(t, &k, &pend), 2);
    assert_int_equal(pend, 2);
    /* one logs in (twice: counted once): room for one more pending */
    connlimit_logged_in(t, &a);
    connlimit_logged_in(t, &a);
    assert_int_equal(a.pending, 0);
    assert_int_equal(connlimit_count(t, &k, &pend), 2);
    assert_int_equal(pend, 1);
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &c), CL_OK);
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &d), CL_PENDING_FULL);
    /* the logged-in one leaving frees no pending slot; a pending one does */
    connlimit_release(t, &a);
    assert_int_equal(connlimit_count(t, &k, &pend), 2);
    assert_int_equal(pend, 2);
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &d), CL_PENDING_FULL);
    connlimit_release(t, &b);
    assert_int_equal(connlimit_count(t, &k, &pend), 1);
    assert_int_equal(pend, 1);
    assert_int_equal(connlimit_acquire(t, &k, 10, 2, &d), CL_OK);
    /* the total limit comes first */
    connlimit_logged_in(t, &c);
    connlimit_logged_in(t, &d);
    assert_int_equal(connlimit_acquire(t, &k, 2, 2, &a), CL_FULL);
    connlimit_release(t, &c);
    connlimit_release(t, &d);
    assert_int_equal(connlimit_count(t, &k, &pend), 0);
    assert_int_equal(pend, 0);
    assert_int_equal(connlimit_addresses(t), 0);
    connlimit_logged_in(t, &d); /* released: nothing */
    connlimit_free(t);
}

#define NADDR 3000
#define STEPS 200000

static void test_random_against_model(void **state)
{
    (void)state;
    connlimit_t *t = connlimit_new();
    assert_non_null(t);
    static uint32_t model[NADDR];
    static cl_ref_t keys[NADDR];
    memset(model, 0, sizeof model);
    for (int i = 0; i < NADDR; i++) {
        /* half IPv4 addresses, half IPv6 /64s */
        keys[i].fam = (uint8_t)(i % 2 ? 6 : 4);
        keys[i].v = i % 2 ? (UINT64_C(0x20010db8) << 32) + (uint64_t)i * 65536 : 0x0a000000u + (uint64_t)i;
    }
    srand(12345);
    size_t live = 0;
    for (int step = 0; step < STEPS; step++) {
        int i = rand() % NADDR;
        /* phases: mostly adds, then mostly removes, so stripes grow and shrink */
        int add_pct = (step / 20000) % 2 ? 30 : 70;
        cl_ref_t r = keys[i];
        if (rand() % 100 < add_pct) {
            int rc = connlimit_acquire(t, &keys[i], 4, 0, &r);
            if (model[i] >= 4) {
                assert_int_equal(rc, 1);
            } else {
                assert_int_equal(rc, 0);
                if (!model[i]++)
                    live++;
            }
        } else if (model[i]) {
            connlimit_release(t, &r);
            if (!--model[i])
                live--;
        }
        if (step % 1000 == 0 || step == STEPS - 1) {
            for (int j = 0; j < NADDR; j++)
                assert_int_equal(connlimit_count(t, &keys[j], NULL), model[j]);
            assert_int_equal(connlimit_addresses(t), live);
        }
    }
    for (int j = 0; j < NADDR; j++)
        while (model[j]) {
            cl_ref_t r = keys[j];
            connlimit_release(t, &r);
            model[j]--;
        }
    assert_int_equal(connlimit_addresses(t), 0);
    connlimit_free(t);
}

#define NTHREADS 4
#define MAXC 10
static connlimit_t *shared;
static cl_ref_t shared_key;

static void *hammer(void *arg)
{
    (void)arg;
    cl_ref_t held[MAXC];
    int n = 0;
    for (int i = 0; i < 20000; i++) {
        if (n < MAXC && (i % 3)) {
            int rc = connlimit_acquire(shared, &shared_key, MAXC, 0, &held[n]);
            if (rc == 0)
                n++;
            else if (rc != 1)
                return (void *)1;
        } else if (n) {
            connlimit_release(shared, &held[--n]);
        }
        if (connlimit_count(shared, &shared_key, NULL) > MAXC)
            return (void *)1;
    }
    while (n)
        connlimit_release(shared, &held[--n]);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    shared = connlimit_new();
    assert_non_null(shared);
    key6("2001:db8::1", &shared_key);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    assert_int_equal(connlimit_count(shared, &shared_key, NULL), 0);
    assert_int_equal(connlimit_addresses(shared), 0);
    connlimit_free(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
