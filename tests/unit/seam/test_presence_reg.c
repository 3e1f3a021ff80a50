/*
 * Unit tests for the presence registry's local implementation
 * (seam/presence_reg.h, presence_local.c): the rule cases every
 * implementation runs (presence_rules.h; the Redis one runs them too).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/seam/presence_reg.h"

#define T0 1000000

#include "seam/presence_rules.h" /* uses T0 */

static presence_reg_t *mk(size_t per_target, size_t max_total)
{
    presence_reg_t *r = presence_local_new(per_target, max_total);
    assert_non_null(r);
    return r;
}

static void test_subscribe_expire_renew(void **st)
{
    (void)st;
    rules_subscribe_expire_renew(mk);
}

static void test_caps(void **st)
{
    (void)st;
    rules_caps(mk);
}

static void test_reserve(void **st)
{
    (void)st;
    rules_reserve(mk);
}

static void test_many(void **st)
{
    (void)st;
    rules_many(mk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscribe_expire_renew),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
