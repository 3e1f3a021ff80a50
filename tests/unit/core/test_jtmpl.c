/*
 * Unit tests for JSON templates (jtmpl.h): the filled text is exactly what
 * jansson renders with the real values, whatever the string values hold
 * (quotes, the placeholder's own pattern, escapes, non-ASCII); missing
 * placeholders are refused; extreme numbers fit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/core/jtmpl.h"

static const char *const KEYS[] = {"messageKey", "messageSequence", "serverTime"};

static json_t *obj(const char *body, json_int_t a, json_int_t b, json_int_t c)
{
    return json_pack("{s:s, s:I, s:I, s:s, s:I, s:s}", "fromId", "alice", "messageKey", a,
                     "messageSequence", b, "messageBody", body, "serverTime", c, "imei", "x");
}

/* fill(template of body) == json_dumps(object with vals) */
static void check(const char *body, int64_t k, int64_t q, int64_t t)
{
    json_t *tmpl = obj(body, JTMPL_HOLE + 0, JTMPL_HOLE + 1, JTMPL_HOLE + 2);
    jtmpl_t jt;
    assert_int_equal(jtmpl_make(&jt, tmpl, KEYS, 3), 0);
    int64_t v[3] = {k, q, t};
    size_t len = 0;
    char *got = jtmpl_fill(&jt, v, &len);
    assert_non_null(got);
    json_t *real = obj(body, k, q, t);
    char *want = json_dumps(real, JSON_COMPACT);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
    json_decref(real);
    json_decref(tmpl);
    jtmpl_free(&jt);
}

static void test_plain(void **state)
{
    (void)state;
    check("{\"type\":1,\"content\":\"hi\"}", 1795425600000123, 42, 1795425600000);
}

static void test_hostile_strings(void **state)
{
    (void)state;
    /* the placeholder pattern inside a string value, quoted and bare */
    check("\"messageKey\":7700000000000000000", 1, 2, 3);
    check("messageKey\":7700000000000000000,\"messageSequence\":7700000000000000001", 5, 6, 7);
    check("\\\"serverTime\\\":7700000000000000002 \\u0000 \xe4\xbd\xa0\xe5\xa5\xbd", 8, 9, 10);
    check("", 0, 0, 0);
}

static void test_extremes(void **state)
{
    (void)state;
    check("x", INT64_MAX, INT64_MIN, -1);
    check("x", 9, 10, 99999999999999999);
}

static void test_missing_placeholder(void **state)
{
    (void)state;
    json_t *o = obj("b", JTMPL_HOLE + 0, 17, JTMPL_HOLE + 2); /* slot 1 not a hole */
    jtmpl_t jt;
    assert_int_equal(jtmpl_make(&jt, o, KEYS, 3), -1);
    assert_null(jt.txt);
    int64_t v[3] = {1, 2, 3};
    size_t len;
    assert_null(jtmpl_fill(&jt, v, &len));
    jtmpl_free(&jt);
    /* a hole in a string value is not a hole */
    json_t *s = json_pack("{s:s, s:I, s:I}", "messageKey", "7700000000000000000",
                          "messageSequence", (json_int_t)(JTMPL_HOLE + 1), "serverTime",
                          (json_int_t)(JTMPL_HOLE + 2));
    assert_int_equal(jtmpl_make(&jt, s, KEYS, 3), -1);
    assert_int_equal(jtmpl_make(&jt, s, KEYS, JTMPL_MAX + 1), -1);
    json_decref(s);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_hostile_strings),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_missing_placeholder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
