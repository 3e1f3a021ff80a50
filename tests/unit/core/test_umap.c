/*
 * Unit tests for the (app, id) chained hash (umap.h): lookups tell apps
 * and ids apart; umap_get creates a zeroed node once and finds it after;
 * the buckets grow with the load and every node stays reachable; removal
 * through a slot, sweeps and destroy free what they must (drop sees every
 * node once); the striped form picks stripes by the hash's low bits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/umap.h"

typedef struct tnode {
    umap_node_t un;
    int value;
    char *owned; /* freed by drop / the sweep */
} tnode_t;

static tnode_t *get(umap_t *m, int32_t app, const char *id)
{
    umap_node_t **pp = umap_get(m, umap_hash(app, id), app, id);
    assert_non_null(pp);
    return (tnode_t *)*pp;
}

static tnode_t *find(umap_t *m, int32_t app, const char *id)
{
    return (tnode_t *)*umap_slot(m, umap_hash(app, id), app, id);
}

static void test_get_find(void **state)
{
    (void)state;
    umap_t m;
    assert_int_equal(umap_init(&m, sizeof(tnode_t)), 0);
    assert_null(find(&m, 1, "alice"));

    tnode_t *a = get(&m, 1, "alice");
    assert_int_equal(a->value, 0); /* zeroed payload */
    assert_null(a->owned);
    assert_string_equal(umap_id(&m, &a->un), "alice");
    assert_int_equal(a->un.app_id, 1);
    a->value = 7;

    assert_ptr_equal(get(&m, 1, "alice"), a); /* found, not created again */
    assert_ptr_equal(find(&m, 1, "alice"), a);
    assert_int_equal(m.n, 1);

    tnode_t *b = get(&m, 2, "alice"); /* another app: another node */
    assert_ptr_not_equal(b, a);
    assert_null(find(&m, 1, "alic"));
    assert_null(find(&m, 1, "alicex"));
    assert_null(find(&m, 3, "alice"));
    assert_int_equal(m.n, 2);
    umap_destroy(&m, NULL, NULL);
    assert_null(m.buckets);
}

static void test_grow(void **state)
{
    (void)state;
    umap_t m;
    assert_int_equal(umap_init(&m, sizeof(tnode_t)), 0);
    size_t nb0 = m.nbuckets;
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "user-%d", i);
        get(&m, i % 3, id)->value = i;
    }
    assert_int_equal(m.n, 5000);
    assert_true(m.nbuckets > nb0);
    assert_true(m.n <= m.nbuckets * 2); /* the load bound */
    assert_int_equal(m.nbuckets & (m.nbuckets - 1), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "user-%d", i);
        tnode_t *n = find(&m, i % 3, id);
        assert_non_null(n);
        assert_int_equal(n->value, i);
        assert_null(find(&m, i % 3 + 1, id));
    }
    umap_destroy(&m, NULL, NULL);
}

static void test_remove(void **state)
{
    (void)state;
    umap_t m;
    assert_int_equal(umap_init(&m, sizeof(tnode_t)), 0);
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "u%d", i);
        get(&m, 1, id);
    }
    for (int i = 0; i < 100; i += 2) {
        snprintf(id, sizeof id, "u%d", i);
        umap_node_t **pp = umap_slot(&m, umap_hash(1, id), 1, id);
        assert_non_null(*pp);
        umap_remove(&m, pp);
        assert_null(find(&m, 1, id));
    }
    assert_int_equal(m.n, 50);
    umap_node_t **pp = umap_slot(&m, umap_hash(1, "absent"), 1, "absent");
    umap_remove(&m, pp); /* an empty slot: nothing */
    assert_int_equal(m.n, 50);
    for (int i = 1; i < 100; i += 2) {
        snprintf(id, sizeof id, "u%d", i);
        assert_non_null(find(&m, 1, id));
    }
    umap_destroy(&m, NULL, NULL);
}

static int keep_even(umap_node_t *un, void *arg)
{
    tnode_t *n = (tnode_t *)un;
    (*(int *)arg)++;
    if (n->value % 2 == 0)
        return 1;
    free(n->owned);
    return 0;
}

static void drop(umap_node_t *un, void *arg)
{
    tnode_t *n = (tnode_t *)un;
    (*(int *)arg)++;
    free(n->owned);
}

static void test_sweep_destroy(void **state)
{
    (void)state;
    umap_t m;
    assert_int_equal(umap_init(&m, sizeof(tnode_t)), 0);
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "s%d", i);
        tnode_t *n = get(&m, 9, id);
        n->value = i;
        n->owned = strdup(id);
    }
    int seen = 0;
    umap_sweep(&m, keep_even, &seen);
    assert_int_equal(seen, 300);
    assert_int_equal(m.n, 150);
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "s%d", i);
        tnode_t *n = find(&m, 9, id);
        if (i % 2) {
            assert_null(n);
        } else {
            assert_non_null(n);
            assert_string_equal(n->owned, id);
        }
    }
    int dropped = 0;
    umap_destroy(&m, drop, &dropped);
    assert_int_equal(dropped, 150);
    assert_int_equal(m.n, 0);
}

static void test_striped(void **state)
{
    (void)state;
    umap_striped_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(umap_striped_init(t, sizeof(tnode_t)), 0);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "p%d", i);
        uint32_t h = umap_hash(4, id);
        umap_stripe_t *st = umap_stripe(t, h);
        assert_ptr_equal(st, &t->s[h % UMAP_STRIPES]);
        pthread_mutex_lock(&st->mu);
        umap_node_t **pp = umap_get(&st->map, h, 4, id);
        assert_non_null(pp);
        ((tnode_t *)*pp)->owned = strdup(id);
        pthread_mutex_unlock(&st->mu);
    }
    size_t total = 0, used = 0;
    for (unsigned i = 0; i < UMAP_STRIPES; i++) {
        total += t->s[i].map.n;
        used += t->s[i].map.n > 0;
    }
    assert_int_equal(total, 1000);
    assert_true(used > UMAP_STRIPES / 2); /* spread over the stripes */
    int dropped = 0;
    umap_striped_destroy(t, drop, &dropped);
    assert_int_equal(dropped, 1000);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_find),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_sweep_destroy),
        cmocka_unit_test(test_striped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
