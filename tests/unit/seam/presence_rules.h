/*
 * The rules every presence registry keeps (seam/presence_reg.h), as test
 * cases over a constructor: the local table (tests/unit/seam/
 * test_presence_reg.c) and the Redis one (tests/unit/cluster/
 * test_presence_redis.c) run the same cases.  Subscriptions live until
 * they expire and renew; a full target replaces the subscription
 * expiring first, a renewal or replacement needs no room; a full table
 * drops the expired ones and then refuses; the per-subscriber cap is all
 * or nothing and counts a renewal once; the subscriber snapshot holds live
 * entries only; apps are separate.  Times start at T0, which the including
 * file defines first (a multiple of 10 s: the Redis counter's buckets).
 */
#ifndef PETREL_TEST_PRESENCE_RULES_H
#define PETREL_TEST_PRESENCE_RULES_H

#include <stdlib.h>
#include <string.h>

#include "server/seam/presence_reg.h"

typedef presence_reg_t *(*presence_mk_fn)(size_t per_target, size_t max_total);

static int rules_has(char **v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], id))
            return 1;
    return 0;
}

static void rules_subscribe_expire_renew(presence_mk_fn mk)
{
    presence_reg_t *r = mk(1000, 1u << 20);
    const presence_reg_ops_t *o = r->ops;
    assert_int_equal(o->subscribe(r, 1, "alice", "bob", T0 + 100, T0), 0);
    assert_int_equal(o->subscribed(r, 1, "alice", "bob", T0), 1);
    assert_int_equal(o->subscribed(r, 1, "bob", "alice", T0), 0);   /* one way */
    assert_int_equal(o->subscribed(r, 2, "alice", "bob", T0), 0);   /* per app */
    assert_int_equal(o->subscribed(r, 1, "alice", "bob", T0 + 100), 0); /* expired */
    assert_int_equal(o->count(r), 1);
    /* renewal: same entry, later expiry */
    assert_int_equal(o->subscribe(r, 1, "alice", "bob", T0 + 500, T0 + 50), 0);
    assert_int_equal(o->count(r), 1);
    assert_int_equal(o->subscribed(r, 1, "alice", "bob", T0 + 400), 1);
    assert_int_equal(o->subscribe(r, 1, "carol", "bob", T0 + 200, T0 + 50), 0);
    assert_int_equal(o->count(r), 2);
    char **v = NULL;
    size_t n = o->subscribers(r, 1, "bob", T0 + 100, &v);
    assert_int_equal(n, 2);
    assert_true(rules_has(v, n, "alice") && rules_has(v, n, "carol"));
    presence_reg_ids_free(v, n);
    /* carol's expired: dropped from the snapshot and the count */
    n = o->subscribers(r, 1, "bob", T0 + 300, &v);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "alice");
    presence_reg_ids_free(v, n);
    assert_int_equal(o->count(r), 1);
    n = o->subscribers(r, 1, "nobody", T0, &v);
    assert_int_equal(n, 0);
    presence_reg_ids_free(v, n);
    o->destroy(r);
}

static void rules_caps(presence_mk_fn mk)
{
    /* 3 subscribers per target, 5 in all */
    presence_reg_t *r = mk(3, 5);
    const presence_reg_ops_t *o = r->ops;
    assert_int_equal(o->subscribe(r, 1, "s1", "t", T0 + 300, T0), 0);
    assert_int_equal(o->subscribe(r, 1, "s2", "t", T0 + 100, T0), 0);
    assert_int_equal(o->subscribe(r, 1, "s3", "t", T0 + 200, T0), 0);
    /* full target: s4 replaces s2, the one expiring first */
    assert_int_equal(o->subscribe(r, 1, "s4", "t", T0 + 400, T0), 0);
    assert_int_equal(o->subscribed(r, 1, "s2", "t", T0), 0);
    assert_int_equal(o->subscribed(r, 1, "s4", "t", T0), 1);
    assert_int_equal(o->count(r), 3);
    assert_int_equal(o->subscribe(r, 1, "s1", "u", T0 + 50, T0), 0);
    assert_int_equal(o->subscribe(r, 1, "s2", "u", T0 + 1000, T0), 0);
    assert_int_equal(o->count(r), 5);
    /* full table, nothing expired: refused */
    assert_int_equal(o->subscribe(r, 1, "s3", "u", T0 + 1000, T0), -1);
    assert_int_equal(o->subscribed(r, 1, "s3", "u", T0), 0);
    /* a renewal and a replacement need no room */
    assert_int_equal(o->subscribe(r, 1, "s1", "t", T0 + 350, T0), 0);
    assert_int_equal(o->subscribe(r, 1, "s5", "t", T0 + 900, T0), 0);
    assert_int_equal(o->subscribed(r, 1, "s3", "t", T0), 0); /* s3 expired first */
    assert_int_equal(o->count(r), 5);
    /* once one expired, the purge makes room */
    assert_int_equal(o->subscribe(r, 1, "s3", "u", T0 + 1000, T0 + 60), 0);
    assert_int_equal(o->subscribed(r, 1, "s3", "u", T0 + 60), 1);
    assert_int_equal(o->subscribed(r, 1, "s1", "u", T0 + 60), 0);
    o->destroy(r);
    /* per_target 0: nothing fits */
    r = mk(0, 5);
    assert_int_equal(r->ops->subscribe(r, 1, "a", "b", T0 + 100, T0), -1);
    r->ops->destroy(r);
}

static void rules_reserve(presence_mk_fn mk)
{
    presence_reg_t *r = mk(1000, 1u << 20);
    const presence_reg_ops_t *o = r->ops;
    const char *ab[] = {"a", "b"}, *bcd[] = {"b", "c", "d"}, *cc[] = {"c", "c"};
    assert_int_equal(o->reserve(r, 1, "me", ab, 2, T0 + 100, 3, T0), 0);
    /* b is a renewal, c and d new: 4 > 3, nothing changes */
    assert_int_equal(o->reserve(r, 1, "me", bcd, 3, T0 + 100, 3, T0), -2);
    /* a duplicate in one call counts once: a, b, c */
    assert_int_equal(o->reserve(r, 1, "me", cc, 2, T0 + 100, 3, T0), 0);
    assert_int_equal(o->reserve(r, 1, "me", ab, 2, T0 + 200, 3, T0), 0); /* renewals */
    const char *d[] = {"d"};
    assert_int_equal(o->reserve(r, 1, "me", d, 1, T0 + 200, 3, T0), -2);
    /* c expires at T0+100: room for d then */
    assert_int_equal(o->reserve(r, 1, "me", d, 1, T0 + 300, 3, T0 + 150), 0);
    /* the cap is per app and per subscriber */
    assert_int_equal(o->reserve(r, 2, "me", bcd, 3, T0 + 100, 3, T0), 0);
    assert_int_equal(o->reserve(r, 1, "you", bcd, 3, T0 + 100, 3, T0), 0);
    /* a reservation is not a subscription: subscribe() records that */
    assert_int_equal(o->subscribed(r, 1, "me", "a", T0), 0);
    assert_int_equal(o->count(r), 0);
    /* nothing asked: fine while under the cap */
    assert_int_equal(o->reserve(r, 1, "me", NULL, 0, T0 + 100, 3, T0 + 150), 0);
    assert_int_equal(o->reserve(r, 1, "me", NULL, 0, T0 + 100, 1, T0 + 150), -2);
    o->destroy(r);
}

static void rules_many(presence_mk_fn mk)
{
    presence_reg_t *r = mk(1000, 1u << 20);
    const presence_reg_ops_t *o = r->ops;
    char s[32], t[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(s, sizeof s, "s%d", i);
        snprintf(t, sizeof t, "t%d", i % 50);
        assert_int_equal(o->subscribe(r, 1, s, t, T0 + 1000 + i, T0), 0);
    }
    assert_int_equal(o->count(r), 2000);
    for (int k = 0; k < 50; k++) {
        char **v = NULL;
        snprintf(t, sizeof t, "t%d", k);
        size_t n = o->subscribers(r, 1, t, T0, &v);
        assert_int_equal(n, 40);
        presence_reg_ids_free(v, n);
    }
    o->destroy(r);
}

#endif
