/*
 * Unit tests for the error table (include/petrel/errors.h, src/common/
 * errors.c): the rows are sound (codes and names unique, texts non-empty,
 * HTTP statuses and origins valid), the lookups agree with the rows, the
 * /metrics slots follow the table, no source file of src/ spells a code as
 * a number instead of its name, and the docs' copies of the table
 * (docs/PROTOCOL.md, docs/API.md) are the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/errors.h"
#include "petrel/proto.h"
#include "server/core/metrics.h"
#include "server/core/metrics_codes.h"

#ifndef PETREL_SOURCE_DIR
#define PETREL_SOURCE_DIR "."
#endif

/* ---- the rows ------------------------------------------------------------ */

static void test_rows_sound(void **state)
{
    (void)state;
    assert_true(PETREL_ERR_COUNT > 50);
    for (int i = 0; i < PETREL_ERR_COUNT; i++) {
        const petrel_error_row_t *r = &petrel_error_table[i];
        assert_non_null(r->name);
        assert_non_null(r->text);
        assert_true(r->text[0] != '\0');
        assert_null(strchr(r->text, '|'));  /* a markdown cell */
        assert_true(r->code != PETREL_OK && r->code >= 400 && r->code <= 99999);
        assert_true(r->origin == PETREL_ERR_ORIGIN_SEED || r->origin == PETREL_ERR_ORIGIN_PETREL);
        static const int statuses[] = {200, 400, 401, 403, 404, 405, 413, 429, 500, 503};
        int ok = 0;
        for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++)
            ok |= r->http == statuses[k];
        if (!ok)
            fail_msg("%s: HTTP %d", r->name, r->http);
        for (int j = 0; j < i; j++) {
            if (petrel_error_table[j].code == r->code)
                fail_msg("code %d listed twice (%s, %s)", r->code, petrel_error_table[j].name,
                         r->name);
            if (!strcmp(petrel_error_table[j].name, r->name))
                fail_msg("name %s listed twice", r->name);
        }
    }
}

static void test_lookups(void **state)
{
    (void)state;
    for (int i = 0; i < PETREL_ERR_COUNT; i++) {
        const petrel_error_row_t *r = &petrel_error_table[i];
        assert_int_equal(petrel_err_index(r->code), i);
        assert_string_equal(petrel_err_text(r->code), r->text);
        assert_int_equal(petrel_err_http(r->code), r->http);
    }
    assert_string_equal(petrel_err_text(PETREL_OK), "success");
    assert_int_equal(petrel_err_http(PETREL_OK), 200);
    assert_int_equal(petrel_err_index(PETREL_OK), -1);
    for (int code = -1; code < 100000; code += 7) {
        if (code == PETREL_OK || petrel_err_index(code) >= 0)
            continue;
        assert_string_equal(petrel_err_text(code), "error");
        assert_int_equal(petrel_err_http(code), 500);
    }
    /* names in use and their codes */
    assert_int_equal(PETREL_ERR_PARAM, 90001);
    assert_int_equal(PETREL_ERR_USER_NOT_FOUND, 20001);
    assert_int_equal(PETREL_ERR_BAD_HEADER, 61000);
    assert_int_equal(PETREL_ERR_STORE_STALLED, 62104);
    assert_int_equal(petrel_err_http(PETREL_ERR_PARAM), 400);
    assert_int_equal(petrel_err_http(PETREL_ERR_SIGN_EXPIRED), 401);
    assert_int_equal(petrel_err_http(PETREL_ERR_BUSY), 503);
    assert_int_equal(petrel_err_http(PETREL_ERR_RATE_LIMITED), 429);
    assert_int_equal(petrel_err_http(PETREL_ERR_NOT_FRIEND), 200);
    assert_string_equal(petrel_err_text(PETREL_ERR_SIGN_EXPIRED), "userSign expired");
    assert_int_equal(petrel_error_table[petrel_err_index(PETREL_ERR_PARAM)].origin,
                     PETREL_ERR_ORIGIN_SEED);
    assert_int_equal(petrel_error_table[petrel_err_index(PETREL_ERR_BUSY)].origin,
                     PETREL_ERR_ORIGIN_PETREL);
}

/* 50003: the seeds' code for both "sender forbidden" and "message not
 * found"; the recall keeps it (clients test it), the sender gets its own. */
static void test_one_meaning_per_code(void **state)
{
    (void)state;
    assert_int_equal(PETREL_ERR_MSG_NOT_FOUND, 50003);
    assert_int_equal(PETREL_ERR_SENDER_FORBIDDEN, 62023);
    assert_string_equal(petrel_err_text(50003), "message not found");
    assert_string_equal(petrel_err_text(62023), "sender is forbidden");
}

/* ---- /metrics slots ------------------------------------------------------ */

static void test_metrics_slots(void **state)
{
    (void)state;
    assert_int_equal(metrics_nknown, PETREL_ERR_COUNT + 1);
    assert_int_equal(metrics_known_codes[0], PETREL_OK);
    metrics_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    for (int i = 0; i < PETREL_ERR_COUNT; i++) {
        int code = petrel_error_table[i].code;
        assert_int_equal(metrics_known_codes[i + 1], code);
        metrics_error(m, code);
        assert_int_equal(atomic_load(&m->errors_by_code[i + 1]), 1);
    }
    metrics_error(m, PETREL_OK);
    assert_int_equal(atomic_load(&m->errors_by_code[0]), 1);
    metrics_error(m, 12345);
    metrics_error(m, -1);
    assert_int_equal(atomic_load(&m->errors_by_code[metrics_nknown]), 2);
    free(m);
}

/* ---- no code spelled as a number in src/ --------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* Comments, string and character literals blanked (newlines kept). */
static void strip_c(char *s)
{
    for (char *p = s; *p;) {
        if (p[0] == '/' && p[1] == '*') {
            char *e = strstr(p + 2, "*/");
            char *end = e ? e + 2 : p + strlen(p);
            for (; p < end; p++)
                if (*p != '\n')
                    *p = ' ';
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++)
                *p = ' ';
        } else if (*p == '"' || *p == '\'') {
            char q = *p;
            *p++ = ' ';
            for (; *p && *p != q && *p != '\n'; p++) {
                if (*p == '\\' && p[1]) {
                    *p++ = ' ';
                }
                *p = ' ';
            }
            if (*p == q)
                *p++ = ' ';
        } else {
            p++;
        }
    }
}

static int ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Lines where a number that is also a code is not one. */
static const struct {
    const char *file, *line;
} ALLOWED[] = {
    {"src/server/core/config.c", "http_idle_timeout_ms = 30000"},
    {"src/server/store/writer.c", "25000, 50000, 100000"},
    /* The guard that the PL/pgSQL of store_pg_migrate.c (which cannot
     * include errors.h) still writes the right codes. */
    {"src/server/store/pg/store_pg_msg.c", "SQL_LITERAL(PETREL_ERR_"},
};

/* Error sinks and the 1-based position of their code argument. */
static const struct {
    const char *fn;
    int arg;
} SINKS[] = {
    {"api_fail", 3},          {"conn_send_error", 2},
    {"conn_send_error_for", 2}, {"conn_send_error_json", 2}, {"login_failed", 2},
    {"ack", 2},               {"rack_refuse", 2},     {"health_fail", 2},
    {"reg_finish_fail", 3},   {"gw_protocol_error", 2}, {"metrics_error", 2},
    {"refuse", 3},
};

static char found[16384];
static size_t nfound;

static void report(const char *rel, const char *orig, size_t at, const char *what)
{
    int line = 1;
    for (size_t i = 0; i < at; i++)
        line += orig[i] == '\n';
    nfound += (size_t)snprintf(found + nfound, nfound < sizeof found ? sizeof found - nfound : 0,
                               "%s:%d: %s\n", rel, line, what);
    if (nfound >= sizeof found)
        nfound = sizeof found - 1;
}

static int allowed(const char *rel, const char *orig, size_t at)
{
    size_t b = at, e = at;
    while (b > 0 && orig[b - 1] != '\n')
        b--;
    while (orig[e] && orig[e] != '\n')
        e++;
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
        size_t n = strlen(ALLOWED[i].line);
        if (strcmp(rel, ALLOWED[i].file))
            continue;
        for (size_t k = b; k + n <= e; k++)
            if (!memcmp(orig + k, ALLOWED[i].line, n))
                return 1;
    }
    return 0;
}

static int looks_like_code(long v)
{
    return (v >= 10000 && petrel_err_index((int)v) >= 0) || (v >= 60000 && v < 63000) ||
           v == 90000 || v == 90001;
}

static void scan_file(const char *rel, const char *orig, char *s)
{
    char what[160];
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]) && (i == 0 || (!ident(s[i - 1]) && s[i - 1] != '.'))) {
            size_t j = i;
            while (ident(s[j]) || s[j] == '.')
                j++;
            int digits = 1;
            for (size_t k = i; k < j; k++)
                digits &= isdigit((unsigned char)s[k]) != 0;
            long v = digits && j - i <= 6 ? strtol(s + i, NULL, 10) : 0;
            if (digits && looks_like_code(v) && !allowed(rel, orig, i)) {
                int r = petrel_err_index((int)v);
                snprintf(what, sizeof what, "the number %ld: write PETREL_ERR_%s", v,
                         r >= 0 ? petrel_error_table[r].name : "<a new row of errors.h>");
                report(rel, orig, i, what);
            }
            i = j;
            continue;
        }
        if (!ident(s[i]) || (i > 0 && ident(s[i - 1])))
            continue;
        /* a sink call whose code argument is a number */
        size_t j = i;
        while (ident(s[j]))
            j++;
        for (size_t k = 0; k < sizeof SINKS / sizeof SINKS[0]; k++) {
            size_t fl = strlen(SINKS[k].fn);
            if (j - i != fl || memcmp(s + i, SINKS[k].fn, fl))
                continue;
            size_t p = j;
            while (s[p] == ' ' || s[p] == '\t' || s[p] == '\n')
                p++;
            if (s[p] != '(')
                break;
            int arg = 1, depth = 0;
            for (p++; s[p] && depth >= 0; p++) {
                if (s[p] == '(' || s[p] == '[' || s[p] == '{')
                    depth++;
                else if (s[p] == ')' || s[p] == ']' || s[p] == '}')
                    depth--;
                else if (s[p] == ',' && depth == 0) {
                    if (++arg > SINKS[k].arg)
                        break;
                } else if (arg == SINKS[k].arg && depth == 0 && !isspace((unsigned char)s[p])) {
                    if (isdigit((unsigned char)s[p])) {
                        snprintf(what, sizeof what,
                                 "%s() gets a numeric code: use its PETREL_ERR_ name", SINKS[k].fn);
                        report(rel, orig, p, what);
                    }
                    break;
                }
            }
            break;
        }
        /* reject = <number> */
        if (j - i >= 6 && !memcmp(s + j - 6, "reject", 6)) {
            size_t p = j;
            while (s[p] == ' ')
                p++;
            if (s[p] == '=' && s[p + 1] != '=') {
                p++;
                while (s[p] == ' ')
                    p++;
                if (isdigit((unsigned char)s[p]) && s[p] != '0') {
                    report(rel, orig, p, "a reject set to a number: use its PETREL_ERR_ name");
                }
            }
        }
        i = j - 1;
    }
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 2 || path[n - 2] != '.' || (path[n - 1] != 'c' && path[n - 1] != 'h'))
        return 0;
    const char *rel = path + strlen(PETREL_SOURCE_DIR) + 1;
    if (!strcmp(rel, "include/petrel/errors.h"))
        return 0;
    char *orig = slurp(path, NULL);
    if (!orig)
        return 0;
    char *s = strdup(orig);
    if (s) {
        strip_c(s);
        scan_file(rel, orig, s);
    }
    free(s);
    free(orig);
    return 0;
}

static void test_no_numeric_codes_in_src(void **state)
{
    (void)state;
    nfound = 0;
    found[0] = '\0';
    assert_int_equal(nftw(PETREL_SOURCE_DIR "/src", visit, 16, FTW_PHYS), 0);
    assert_int_equal(nftw(PETREL_SOURCE_DIR "/include", visit, 16, FTW_PHYS), 0);
    if (nfound)
        fail_msg("error codes written as numbers (name them in include/petrel/errors.h):\n%s",
                 found);
}

/* The scanner itself, on a few lines. */
static void test_scanner(void **state)
{
    (void)state;
    static const char src[] =
        "/* 50003 in a comment */ const char *s = \"62023 in a string\";\n"
        "api_fail(ctx, 200, PETREL_ERR_PARAM, \"x\");\n"
        "api_fail(ctx, 404, 404, \"not found\");\n"
        "op->reject = 50005;\n"
        "x.reject = 0; y = 50000 + 1;\n"
        "conn_send_error(c, 61008, \"no\", 0);\n";
    char *orig = strdup(src), *s = strdup(src);
    assert_non_null(orig);
    assert_non_null(s);
    nfound = 0;
    found[0] = '\0';
    strip_c(s);
    scan_file("t.c", orig, s);
    assert_non_null(strstr(found, "t.c:3: api_fail() gets a numeric code"));
    assert_non_null(strstr(found, "t.c:4: the number 50005: write PETREL_ERR_RECALLED"));
    assert_non_null(strstr(found, "t.c:4: a reject set to a number"));
    assert_non_null(strstr(found, "t.c:5: the number 50000"));
    assert_non_null(strstr(found, "t.c:6: the number 61008: write PETREL_ERR_UNKNOWN_CMD"));
    assert_non_null(strstr(found, "t.c:6: conn_send_error() gets a numeric code"));
    assert_null(strstr(found, "t.c:1:"));
    assert_null(strstr(found, "t.c:2:"));
    free(orig);
    free(s);
}

/* ---- the docs ------------------------------------------------------------ */

#define DOC_BEGIN                                                                    \
    "<!-- errors:begin (generated from include/petrel/errors.h by "                 \
    "scripts/gen-errors-doc.py: do not edit by hand) -->"
#define DOC_END "<!-- errors:end -->"

static int by_code(const void *a, const void *b)
{
    int x = petrel_error_table[*(const int *)a].code, y = petrel_error_table[*(const int *)b].code;
    return (x > y) - (x < y);
}

/* The block scripts/gen-errors-doc.py writes; malloc'ed. */
static char *render_doc_table(void)
{
    int idx[PETREL_ERR_COUNT];
    for (int i = 0; i < PETREL_ERR_COUNT; i++)
        idx[i] = i;
    qsort(idx, PETREL_ERR_COUNT, sizeof idx[0], by_code);
    size_t cap = 256 * (PETREL_ERR_COUNT + 4), len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    len += (size_t)snprintf(out + len, cap - len, "%s\n| code | name | HTTP | origin | message |\n"
                            "|---|---|---|---|---|\n", DOC_BEGIN);
    for (int k = 0; k < PETREL_ERR_COUNT; k++) {
        const petrel_error_row_t *r = &petrel_error_table[idx[k]];
        len += (size_t)snprintf(out + len, cap - len, "| %d | `PETREL_ERR_%s` | %d | %s | %s |\n",
                                r->code, r->name, r->http,
                                r->origin == PETREL_ERR_ORIGIN_SEED ? "seed" : "petrel", r->text);
        assert_true(len < cap);
    }
    len += (size_t)snprintf(out + len, cap - len, "%s\n", DOC_END);
    assert_true(len < cap);
    return out;
}

/* Cell k (0-based) of a markdown table row, trimmed, into buf. */
static int cell(const char *row, int k, char *buf, size_t cap)
{
    const char *p = row;
    if (*p != '|')
        return -1;
    for (int i = 0; i <= k; i++) {
        p = strchr(p, '|');
        if (!p)
            return -1;
        p++;
    }
    const char *e = strchr(p, '|');
    if (!e)
        return -1;
    while (p < e && *p == ' ')
        p++;
    while (e > p && e[-1] == ' ')
        e--;
    size_t n = (size_t)(e - p);
    if (n >= cap)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

static int number(const char *s, int min_digits, int max_digits)
{
    int n = (int)strlen(s);
    if (n < min_digits || n > max_digits)
        return -1;
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    return atoi(s);
}

static void check_doc(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/docs/%s", PETREL_SOURCE_DIR, name);
    char *doc = slurp(path, NULL);
    assert_non_null(doc);
    char *want = render_doc_table();
    char *b = strstr(doc, "<!-- errors:begin");
    char *e = b ? strstr(b, DOC_END) : NULL;
    if (!b || !e)
        fail_msg("docs/%s: no errors:begin / errors:end block", name);
    size_t n = (size_t)(e + strlen(DOC_END) + 1 - b);
    if (strlen(want) != n || memcmp(b, want, n))
        fail_msg("docs/%s: the error table differs from include/petrel/errors.h; "
                 "run scripts/gen-errors-doc.py", name);
    /* every code in the hand-written tables is a row: "| 62080 | ..." and
     * "| 429 | 10004 | ..." (HTTP, code) */
    for (char *line = doc; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        char c0[32], c1[32];
        if (*line != '|' || cell(line, 0, c0, sizeof c0) < 0)
            continue;
        int code = number(c0, 5, 5);
        if (code < 0 && number(c0, 3, 3) >= 0 && cell(line, 1, c1, sizeof c1) == 0)
            code = number(c1, 3, 5);
        if (code >= 0 && code != PETREL_OK && petrel_err_index(code) < 0) {
            int lineno = 1;
            for (char *p = doc; p < line; p++)
                lineno += *p == '\n';
            fail_msg("docs/%s:%d: code %d is not in include/petrel/errors.h", name, lineno, code);
        }
    }
    free(want);
    free(doc);
}

static void test_docs_protocol(void **state)
{
    (void)state;
    check_doc("PROTOCOL.md");
}

static void test_docs_api(void **state)
{
    (void)state;
    check_doc("API.md");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_sound),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_one_meaning_per_code),
        cmocka_unit_test(test_metrics_slots),
        cmocka_unit_test(test_scanner),
        cmocka_unit_test(test_no_numeric_codes_in_src),
        cmocka_unit_test(test_docs_protocol),
        cmocka_unit_test(test_docs_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
