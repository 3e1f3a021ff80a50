/*
 * Log quoting (log_quote, LQ) and rate limiting (log_ratelimit): a
 * user-controlled value can never end its quotes, add key=value fields or
 * start a new line; long values are cut inside the quotes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/core/log.h"

#include <string.h>

static void test_plain_and_null(void **st)
{
    (void)st;
    char b[LOG_Q_MAX];
    assert_string_equal(log_quote(b, sizeof b, "alice"), "\"alice\"");
    assert_string_equal(log_quote(b, sizeof b, ""), "\"\"");
    assert_string_equal(log_quote(b, sizeof b, NULL), "-");
    assert_string_equal(LQ("bob"), "\"bob\"");
    /* UTF-8 passes through */
    assert_string_equal(log_quote(b, sizeof b, "\xc3\xa9t\xc3\xa9"), "\"\xc3\xa9t\xc3\xa9\"");
}

static void test_injection_escaped(void **st)
{
    (void)st;
    char b[LOG_Q_MAX];
    assert_string_equal(log_quote(b, sizeof b, "eve admin=1"), "\"eve admin=1\"");
    assert_string_equal(log_quote(b, sizeof b, "eve\" level=error msg=\"x"),
                        "\"eve\\\" level=error msg=\\\"x\"");
    assert_string_equal(log_quote(b, sizeof b, "a\\\"b"), "\"a\\\\\\\"b\"");
    assert_string_equal(log_quote(b, sizeof b, "l1\nts=x level=error\r\t"),
                        "\"l1\\nts=x level=error\\r\\t\"");
    assert_string_equal(log_quote(b, sizeof b, "\x01\x1b[31m\x7f"), "\"\\x01\\x1b[31m\\x7f\"");
    /* not NUL-terminated input, and an embedded NUL */
    assert_string_equal(log_quote_n(b, sizeof b, "ab\0cd", 5), "\"ab\\x00cd\"");
}

/* No unescaped quote or control byte inside; starts and ends with a quote. */
static void assert_well_formed(const char *q)
{
    size_t n = strlen(q);
    assert_true(n >= 2 && q[0] == '"' && q[n - 1] == '"');
    for (size_t i = 1; i + 1 < n; i++) {
        assert_true((unsigned char)q[i] >= 0x20 && q[i] != 0x7f);
        if (q[i] == '\\')
            i++; /* the escaped byte */
        else
            assert_true(q[i] != '"');
    }
}

static void test_cut_stays_quoted(void **st)
{
    (void)st;
    char in[2000], b[LOG_Q_MAX];
    memset(in, 'x', sizeof in - 1);
    in[sizeof in - 1] = '\0';
    const char *q = log_quote(b, sizeof b, in);
    assert_true(strlen(q) < sizeof b);
    assert_non_null(strstr(q, "...\""));
    assert_well_formed(q);
    /* cuts at every position of escape sequences keep it well formed */
    for (size_t cap = 8; cap < 40; cap++) {
        char small[40];
        assert_well_formed(log_quote(small, cap, "\"\"\"\n\n\n\x01\x02\x03\\\\\\abc\"\"\"\"\"\""));
        assert_true(strlen(small) < cap);
    }
    for (int c = 0; c < 256; c++) {
        char one[2] = {(char)c, 0};
        if (c)
            assert_well_formed(log_quote(b, sizeof b, one));
    }
}

static void test_ratelimit(void **st)
{
    (void)st;
    static log_rl_t rl;
    unsigned long skipped = 99;
    assert_int_equal(log_ratelimit(&rl, 60000, &skipped), 1);
    assert_int_equal(skipped, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(log_ratelimit(&rl, 60000, &skipped), 0);
    /* a zero interval lets the next one through and reports the skipped */
    static log_rl_t rl2;
    assert_int_equal(log_ratelimit(&rl2, 0, &skipped), 1);
    assert_int_equal(log_ratelimit(&rl2, 0, &skipped), 1);
    assert_int_equal(skipped, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_null),
        cmocka_unit_test(test_injection_escaped),
        cmocka_unit_test(test_cut_stays_quoted),
        cmocka_unit_test(test_ratelimit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
