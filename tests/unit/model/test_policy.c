/*
 * Unit tests for the multi-device login policy (src/server/model/policy.c).
 * The exclusion matrix is written out literally, every mode x every
 * (new, existing) clientType pair, from the rules in policy.h, rather than
 * recomputed, so the test is an independent statement of the spec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "server/model/policy.h"

/* KICK[mode - 1][new clientType][existing clientType], different imei.
 * Columns/rows: 0 webapi, 1 web, 2 iOS, 3 Android, 4 Windows, 5 Mac. */
static const uint8_t KICK[4][6][6] = {
    /* 1 ONE: any non-webapi login kicks every non-webapi device. */
    {
        {0, 0, 0, 0, 0, 0},
        {0, 1, 1, 1, 1, 1},
        {0, 1, 1, 1, 1, 1},
        {0, 1, 1, 1, 1, 1},
        {0, 1, 1, 1, 1, 1},
        {0, 1, 1, 1, 1, 1},
    },
    /* 2 TWO: mobile/desktop kicks mobile/desktop; web is free. */
    {
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
        {0, 0, 1, 1, 1, 1},
        {0, 0, 1, 1, 1, 1},
        {0, 0, 1, 1, 1, 1},
        {0, 0, 1, 1, 1, 1},
    },
    /* 3 THREE: mobile kicks mobile, desktop kicks desktop. */
    {
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
        {0, 0, 1, 1, 0, 0},
        {0, 0, 1, 1, 0, 0},
        {0, 0, 0, 0, 1, 1},
        {0, 0, 0, 0, 1, 1},
    },
    /* 4 ALL: nothing. */
    {
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0},
    },
};

static void test_matrix_single(void **state)
{
    (void)state;
    for (int mode = 1; mode <= 4; mode++)
        for (int nt = 0; nt <= 5; nt++)
            for (int et = 0; et <= 5; et++)
                for (int cap = 0; cap <= 2; cap += 2) { /* cap 2 never binds with 1 old */
                    policy_dev_t d = {et, "imei-old", 1000};
                    uint8_t kick = 0xEE;
                    int r = policy_victims(mode, cap, nt, "imei-new", &d, 1, &kick);
                    if (r != KICK[mode - 1][nt][et] || kick != KICK[mode - 1][nt][et])
                        fail_msg("mode %d new %d existing %d cap %d: r=%d kick=%d want %d",
                                 mode, nt, et, cap, r, kick, KICK[mode - 1][nt][et]);
                }
}

/* All six existing clientTypes at once: each kick flag follows its column. */
static void test_matrix_all_at_once(void **state)
{
    (void)state;
    policy_dev_t devs[6];
    for (int et = 0; et <= 5; et++)
        devs[et] = (policy_dev_t){et, "imei-old", 1000 + et};
    for (int mode = 1; mode <= 4; mode++)
        for (int nt = 0; nt <= 5; nt++) {
            uint8_t kick[6];
            memset(kick, 0xEE, sizeof kick);
            int r = policy_victims(mode, 0, nt, "imei-new", devs, 6, kick);
            int want = 0;
            for (int et = 0; et <= 5; et++) {
                assert_int_equal(kick[et], KICK[mode - 1][nt][et]);
                want += KICK[mode - 1][nt][et];
            }
            assert_int_equal(r, want);
        }
}

static void test_same_device_replaced(void **state)
{
    (void)state;
    for (int mode = 1; mode <= 4; mode++)
        for (int ct = 1; ct <= 5; ct++) {
            policy_dev_t d = {ct, "same-imei", 1000};
            uint8_t kick = 0;
            assert_int_equal(policy_victims(mode, 0, ct, "same-imei", &d, 1, &kick), 1);
            assert_int_equal(kick, 1);
            /* Same imei, different clientType is another device. */
            for (int other = 1; other <= 5; other++) {
                if (other == ct)
                    continue;
                d.client_type = other;
                kick = 0xEE;
                int r = policy_victims(mode, 0, ct, "same-imei", &d, 1, &kick);
                assert_int_equal(r, KICK[mode - 1][ct][other]);
                assert_int_equal(kick, KICK[mode - 1][ct][other]);
            }
        }
    /* In ALL mode, only the matching one of two same-type devices goes. */
    policy_dev_t two[2] = {{3, "a", 1}, {3, "b", 2}};
    uint8_t kick[2];
    assert_int_equal(policy_victims(POLICY_ALL, 0, 3, "b", two, 2, kick), 1);
    assert_int_equal(kick[0], 0);
    assert_int_equal(kick[1], 1);
}

static void test_webapi_exempt(void **state)
{
    (void)state;
    for (int mode = 1; mode <= 4; mode++) {
        /* Never kicked, even with the same imei or a cap of 1. */
        policy_dev_t d = {0, "x", 1};
        uint8_t kick = 0xEE;
        for (int nt = 0; nt <= 5; nt++) {
            assert_int_equal(policy_victims(mode, 1, nt, "x", &d, 1, &kick), 0);
            assert_int_equal(kick, 0);
        }
        /* Never kicks: a webapi login leaves the same-imei webapi and every
         * other device alone, whatever the cap. */
        policy_dev_t devs[3] = {{0, "x", 1}, {1, "x", 2}, {2, "y", 3}};
        uint8_t k3[3] = {0xEE, 0xEE, 0xEE};
        assert_int_equal(policy_victims(mode, 1, 0, "x", devs, 3, k3), 0);
        assert_int_equal(k3[0] | k3[1] | k3[2], 0);
    }
}

static void test_max_per_platform(void **state)
{
    (void)state;
    /* 3 web devices (not in login order in the array), limit 2: the new
     * login would make 4, so the 2 oldest go. */
    policy_dev_t web[4] = {
        {1, "w-mid", 2000}, {1, "w-new", 3000}, {1, "w-old", 1000}, {2, "phone", 500},
    };
    uint8_t kick[4];
    for (int mode = 2; mode <= 4; mode++) { /* modes where web does not exclude */
        memset(kick, 0xEE, sizeof kick);
        assert_int_equal(policy_victims(mode, 2, 1, "w-4", web, 4, kick), 2);
        assert_int_equal(kick[0], 1);
        assert_int_equal(kick[1], 0);
        assert_int_equal(kick[2], 1);
        assert_int_equal(kick[3], 0); /* other clientType untouched by the cap */
    }
    /* Limit 3: one goes; limit 4 and 0 (no cap): none. */
    assert_int_equal(policy_victims(POLICY_ALL, 3, 1, "w-4", web, 4, kick), 1);
    assert_int_equal(kick[2], 1);
    assert_int_equal(kick[0] | kick[1] | kick[3], 0);
    assert_int_equal(policy_victims(POLICY_ALL, 4, 1, "w-4", web, 4, kick), 0);
    assert_int_equal(policy_victims(POLICY_ALL, 0, 1, "w-4", web, 4, kick), 0);
    assert_int_equal(policy_victims(POLICY_ALL, -1, 1, "w-4", web, 4, kick), 0);
    /* Limit 1: every existing web device goes. */
    assert_int_equal(policy_victims(POLICY_ALL, 1, 1, "w-4", web, 4, kick), 3);
    assert_int_equal(kick[3], 0);

    /* The same-device replacement frees its slot: re-login of w-mid with
     * limit 3 kicks only w-mid itself. */
    assert_int_equal(policy_victims(POLICY_ALL, 3, 1, "w-mid", web, 4, kick), 1);
    assert_int_equal(kick[0], 1);
    assert_int_equal(kick[1] | kick[2] | kick[3], 0);
    /* ...and with limit 2, w-mid plus the oldest remaining (w-old). */
    assert_int_equal(policy_victims(POLICY_ALL, 2, 1, "w-mid", web, 4, kick), 2);
    assert_int_equal(kick[0], 1);
    assert_int_equal(kick[2], 1);

    /* Cap is per clientType, not per class: iOS and Android are separate. */
    policy_dev_t mob[3] = {{2, "i1", 10}, {2, "i2", 20}, {3, "a1", 5}};
    assert_int_equal(policy_victims(POLICY_ALL, 2, 2, "i3", mob, 3, kick), 1);
    assert_int_equal(kick[0], 1);
    assert_int_equal(kick[1] | kick[2], 0);
    /* Devices the mode already kicks do not count against the cap. */
    assert_int_equal(policy_victims(POLICY_THREE, 1, 2, "i3", mob, 3, kick), 3);

    /* Equal login times: the earlier entry counts as older. */
    policy_dev_t tie[2] = {{4, "d1", 7}, {4, "d2", 7}};
    assert_int_equal(policy_victims(POLICY_ALL, 2, 4, "d3", tie, 2, kick), 1);
    assert_int_equal(kick[0], 1);
    assert_int_equal(kick[1], 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    policy_dev_t d = {1, "x", 1};
    uint8_t kick;
    assert_int_equal(policy_mode_valid(0), 0);
    assert_int_equal(policy_mode_valid(5), 0);
    assert_int_equal(policy_mode_valid(-1), 0);
    for (int m = 1; m <= 4; m++)
        assert_int_equal(policy_mode_valid(m), 1);

    assert_int_equal(policy_victims(0, 0, 1, "y", &d, 1, &kick), -1);
    assert_int_equal(policy_victims(5, 0, 1, "y", &d, 1, &kick), -1);
    assert_int_equal(policy_victims(-3, 0, 1, "y", &d, 1, &kick), -1);
    assert_int_equal(policy_victims(1, 0, -1, "y", &d, 1, &kick), -1);
    assert_int_equal(policy_victims(1, 0, 6, "y", &d, 1, &kick), -1);
    assert_int_equal(policy_victims(4, 0, 0, "y", &d, 1, &kick), 0); /* 0 is valid */
    policy_dev_t bad = {6, "x", 1};
    assert_int_equal(policy_victims(1, 0, 1, "y", &bad, 1, &kick), -1);
    bad.client_type = -1;
    assert_int_equal(policy_victims(1, 0, 1, "y", &bad, 1, &kick), -1);
    assert_int_equal(policy_victims(1, 0, 1, NULL, &d, 1, &kick), -1);
    assert_int_equal(policy_victims(1, 0, 1, "y", NULL, 1, &kick), -1);
    assert_int_equal(policy_victims(1, 0, 1, "y", &d, 1, NULL), -1);
    /* Nothing online: nothing to kick, NULL arrays are fine. */
    assert_int_equal(policy_victims(1, 1, 1, "y", NULL, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_single),
        cmocka_unit_test(test_matrix_all_at_once),
        cmocka_unit_test(test_same_device_replaced),
        cmocka_unit_test(test_webapi_exempt),
        cmocka_unit_test(test_max_per_platform),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
