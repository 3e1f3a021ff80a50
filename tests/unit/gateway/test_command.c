/*
 * The gateway's command table (src/server/gateway/command.c): registration
 * and lookup, duplicate and invalid registrations refused, a full table,
 * colliding command numbers, and the checks before a handler runs
 * (gw_command_gate: LOGIN first 61006, fromId 61007, unknown 61008, the
 * flags that lift them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/gateway/command.h"

static int calls_a, calls_b;

static int handler_a(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    (void)c, (void)p, (void)body;
    calls_a++;
    return 0;
}

static int handler_b(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    (void)c, (void)p, (void)body;
    calls_b++;
    return -1;
}

static int setup(void **st)
{
    (void)st;
    gw_command_reset();
    calls_a = calls_b = 0;
    return 0;
}

static void test_register_find(void **st)
{
    (void)st;
    assert_int_equal(gw_command_register(PETREL_CMD_MSG_P2P, handler_a, GW_CMD_FROM), 0);
    assert_int_equal(gw_command_register(PETREL_CMD_LOGIN, handler_b, GW_CMD_NOAUTH), 0);
    assert_int_equal(gw_command_count(), 2);
    const gw_command_t *e = gw_command_find(PETREL_CMD_MSG_P2P);
    assert_non_null(e);
    assert_int_equal(e->cmd, PETREL_CMD_MSG_P2P);
    assert_int_equal(e->flags, GW_CMD_FROM);
    assert_int_equal(e->fn(NULL, NULL, NULL), 0);
    assert_int_equal(calls_a, 1);
    e = gw_command_find(PETREL_CMD_LOGIN);
    assert_non_null(e);
    assert_int_equal(e->flags, GW_CMD_NOAUTH);
    assert_int_equal(e->fn(NULL, NULL, NULL), -1);
    assert_int_equal(calls_b, 1);
    assert_null(gw_command_find(PETREL_CMD_MSG_GROUP));
    assert_null(gw_command_find(0));
    assert_null(gw_command_find(-5));
    gw_command_reset();
    assert_int_equal(gw_command_count(), 0);
    assert_null(gw_command_find(PETREL_CMD_MSG_P2P));
}

static void test_duplicate_refused(void **st)
{
    (void)st;
    assert_int_equal(gw_command_register(1100, handler_a, GW_CMD_FROM), 0);
    assert_int_equal(gw_command_register(1100, handler_b, 0), -1);
    assert_int_equal(gw_command_register(1100, handler_a, GW_CMD_FROM), -1);
    assert_int_equal(gw_command_count(), 1);
    /* the first registration stands */
    const gw_command_t *e = gw_command_find(1100);
    assert_ptr_equal(e->fn, handler_a);
    assert_int_equal(e->flags, GW_CMD_FROM);
}

static void test_invalid_refused(void **st)
{
    (void)st;
    assert_int_equal(gw_command_register(0, handler_a, 0), -1);
    assert_int_equal(gw_command_register(-1, handler_a, 0), -1);
    assert_int_equal(gw_command_register(1103, NULL, 0), -1);
    assert_int_equal(gw_command_register(1103, handler_a, 0x80), -1); /* unknown flag */
    assert_int_equal(gw_command_count(), 0);
}

static void test_many_and_full(void **st)
{
    (void)st;
    /* numbers spaced by the table size collide in their home slot */
    for (int i = 0; i < GW_COMMAND_MAX; i++)
        assert_int_equal(gw_command_register(1000 + i * 256, i % 2 ? handler_a : handler_b,
                                             (unsigned)(i % 4)), 0);
    assert_int_equal(gw_command_count(), GW_COMMAND_MAX);
    assert_int_equal(gw_command_register(99999, handler_a, 0), -1); /* full */
    for (int i = 0; i < GW_COMMAND_MAX; i++) {
        const gw_command_t *e = gw_command_find(1000 + i * 256);
        assert_non_null(e);
        assert_int_equal(e->cmd, 1000 + i * 256);
        assert_int_equal(e->flags, (unsigned)(i % 4));
        assert_ptr_equal(e->fn, i % 2 ? handler_a : handler_b);
    }
    assert_null(gw_command_find(1001));
    assert_null(gw_command_find(1000 + GW_COMMAND_MAX * 256));
}

static void test_gate(void **st)
{
    (void)st;
    gw_command_register(PETREL_CMD_LOGIN, handler_a, GW_CMD_NOAUTH);
    gw_command_register(PETREL_CMD_PING, handler_a, 0);
    gw_command_register(PETREL_CMD_MSG_P2P, handler_a, GW_CMD_FROM);
    const gw_command_t *login = gw_command_find(PETREL_CMD_LOGIN);
    const gw_command_t *ping = gw_command_find(PETREL_CMD_PING);
    const gw_command_t *send = gw_command_find(PETREL_CMD_MSG_P2P);

    /* before LOGIN: only GW_CMD_NOAUTH passes; the rest is 61006 */
    assert_int_equal(gw_command_gate(login, 0, 1), 0);
    assert_int_equal(gw_command_gate(ping, 0, 1), PETREL_ERR_NOT_LOGGED_IN);
    assert_int_equal(gw_command_gate(send, 0, 1), PETREL_ERR_NOT_LOGGED_IN);
    assert_int_equal(gw_command_gate(NULL, 0, 1), PETREL_ERR_NOT_LOGGED_IN);

    /* logged in: GW_CMD_FROM commands need their fromId to match */
    assert_int_equal(gw_command_gate(send, 1, 1), 0);
    assert_int_equal(gw_command_gate(send, 1, 0), PETREL_ERR_FROM_MISMATCH);
    /* without the flag, fromId does not matter */
    assert_int_equal(gw_command_gate(ping, 1, 0), 0);
    assert_int_equal(gw_command_gate(login, 1, 0), 0); /* the handler answers "already" */

    /* unknown: checked like a domain command, then 61008 */
    assert_int_equal(gw_command_gate(NULL, 1, 1), PETREL_ERR_UNKNOWN_CMD);
    assert_int_equal(gw_command_gate(NULL, 1, 0), PETREL_ERR_FROM_MISMATCH);
    assert_int_equal(gw_command_gate(gw_command_find(4001), 1, 1), PETREL_ERR_UNKNOWN_CMD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_register_find, setup),
        cmocka_unit_test_setup(test_duplicate_refused, setup),
        cmocka_unit_test_setup(test_invalid_refused, setup),
        cmocka_unit_test_setup(test_many_and_full, setup),
        cmocka_unit_test_setup(test_gate, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
