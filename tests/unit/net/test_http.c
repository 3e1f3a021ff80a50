/*
 * HTTP/1.1 through the real parser and reply path (src/server/net/http.c)
 * on a real loop (net_fixture.h), with a stub request handler installed
 * through http_set_handler: one request, pipelined requests answered in
 * order (one of them from another thread), a request split byte by byte
 * over many reads, oversized URL / headers / body refused with 414 / 431
 * / 413, keep-alive against Connection: close and HTTP/1.0, a chunked body,
 * bad chunk framing, a bad version and an unsupported Expect refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net_fixture.h"

#include <pthread.h>

/* ---- the stub handler: echoes what it was given ---------------------- */

static void echo(http_req_t *req)
{
    char out[2048];
    int n = snprintf(out, sizeof out, "M=%d P=%s Q=%s B=%.*s", req->method, req->path, req->query,
                     (int)req->body_len, req->body ? req->body : "");
    http_reply(req, 200, "text/plain", out, (size_t)n, NULL);
}

static void *later_thread(void *arg)
{
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);
    echo(arg); /* from another thread: posted to the worker */
    return NULL;
}

static void handler(http_req_t *req)
{
    if (!strcmp(req->path, "/later")) {
        pthread_t t;
        if (pthread_create(&t, NULL, later_thread, req) == 0) {
            pthread_detach(t);
            return;
        }
    }
    echo(req);
}

/* ---- reading responses ------------------------------------------------ */

/* Complete responses at the start of buf; *ends[i] is where each ends. */
static int count_responses(const char *buf, size_t len, size_t *ends, int max)
{
    int n = 0;
    size_t off = 0;
    while (n < max) {
        const char *h = memmem(buf + off, len - off, "\r\n\r\n", 4);
        if (!h)
            break;
        size_t hend = (size_t)(h - buf) + 4;
        const char *cl = memmem(buf + off, hend - off, "Content-Length: ", 16);
        size_t blen = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
        if (hend + blen > len)
            break;
        off = hend + blen;
        if (ends)
            ends[n] = off;
        n++;
    }
    return n;
}

static int have_n(const char *buf, size_t len, void *arg)
{
    return count_responses(buf, len, NULL, 64) >= *(int *)arg;
}

static char rbuf[1 << 16];

/* Send req on fd and read `want` responses into rbuf (NUL-terminated). */
static size_t exchange(int fd, const char *req, size_t len, int want, int slowly)
{
    if (slowly)
        fx_send_slowly(fd, req, len);
    else
        fx_send(fd, req, len);
    size_t got = 0;
    int eof;
    assert_int_equal(fx_read_until(fd, rbuf, sizeof rbuf - 1, &got, have_n, &want, &eof), 1);
    rbuf[got] = '\0';
    return got;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" not in:\n%s", needle, hay);
}

/* ---- tests ------------------------------------------------------------ */

static void test_one_request(void **st)
{
    (void)st;
    int fd = fx_connect();
    assert_true(fd >= 0);
    static const char req[] = "GET /hello?x=1&y=%20 HTTP/1.1\r\nHost: t\r\n\r\n";
    exchange(fd, req, sizeof req - 1, 1, 0);
    assert_contains(rbuf, "HTTP/1.1 200 OK\r\n");
    assert_contains(rbuf, "Connection: keep-alive\r\n");
    assert_contains(rbuf, "\r\n\r\nM=1 P=/hello Q=x=1&y=%20 B=");
    close(fd);
}

static void test_pipelined(void **st)
{
    (void)st;
    int fd = fx_connect();
    assert_true(fd >= 0);
    /* the first is answered last by its thread: the order still holds */
    static const char req[] = "GET /later HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /second HTTP/1.1\r\nHost: t\r\n\r\n"
                              "POST /third HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    size_t got = exchange(fd, req, sizeof req - 1, 3, 0);
    size_t ends[3];
    assert_int_equal(count_responses(rbuf, got, ends, 3), 3);
    assert_int_equal(ends[2], got); /* nothing more */
    const char *a = strstr(rbuf, "P=/later"), *b = strstr(rbuf, "P=/second"),
               *c = strstr(rbuf, "M=3 P=/third Q= B=abc");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    assert_true((size_t)(a - rbuf) < ends[0] && (size_t)(b - rbuf) < ends[1]);
    close(fd);
}

static void test_split_bytewise(void **st)
{
    (void)st;
    int fd = fx_connect();
    assert_true(fd >= 0);
    static const char req[] = "POST /split?q=1 HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 11\r\n\r\nhello world";
    exchange(fd, req, sizeof req - 1, 1, 1);
    assert_contains(rbuf, "HTTP/1.1 200 OK\r\n");
    assert_contains(rbuf, "M=3 P=/split Q=q=1 B=hello world");
    close(fd);
}

/* A refused request: its status, "Connection: close", then the end. */
static void refused(const char *head, size_t len, const char *status)
{
    int fd = fx_connect();
    assert_true(fd >= 0);
    exchange(fd, head, len, 1, 0);
    assert_contains(rbuf, status);
    assert_contains(rbuf, "Connection: close\r\n");
    shutdown(fd, SHUT_WR); /* the server drains until our EOF */
    assert_true(fx_wait_eof(fd));
    close(fd);
}

static void test_oversized(void **st)
{
    (void)st;
    static char big[40000];
    /* URL over 4 KiB */
    int n = snprintf(big, sizeof big, "GET /%0*d HTTP/1.1\r\nHost: t\r\n\r\n", 5000, 0);
    refused(big, (size_t)n, "HTTP/1.1 414 ");
    /* headers over 16 KiB */
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %0*d\r\n\r\n", 17000, 0);
    refused(big, (size_t)n, "HTTP/1.1 431 ");
    /* a body announced over 1 MiB: refused before it is sent */
    static const char body[] = "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n";
    refused(body, sizeof body - 1, "HTTP/1.1 413 ");
    /* and one that turns out too large while chunked */
    int fd = fx_connect();
    assert_true(fd >= 0);
    static const char ch[] = "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    fx_send(fd, ch, sizeof ch - 1);
    static char chunk[70000];
    n = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + n, 'x', 0x10000);
    memcpy(chunk + n + 0x10000, "\r\n", 2);
    size_t got = 0;
    int want = 1, eof;
    for (int i = 0; i < 20 && !have_n(rbuf, got, &want); i++) {
        fx_send(fd, chunk, (size_t)n + 0x10000 + 2);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0) {
            ssize_t r = recv(fd, rbuf + got, sizeof rbuf - 1 - got, 0);
            if (r > 0)
                got += (size_t)r;
        }
    }
    fx_read_until(fd, rbuf, sizeof rbuf - 1, &got, have_n, &want, &eof);
    rbuf[got] = '\0';
    assert_contains(rbuf, "HTTP/1.1 413 ");
    close(fd);
}

static void test_keep_alive_and_close(void **st)
{
    (void)st;
    /* keep-alive (HTTP/1.1 default): a second request on the same socket */
    int fd = fx_connect();
    assert_true(fd >= 0);
    static const char a[] = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
    exchange(fd, a, sizeof a - 1, 1, 0);
    assert_contains(rbuf, "Connection: keep-alive\r\n");
    static const char b[] = "GET /b HTTP/1.1\r\nHost: t\r\n\r\n";
    exchange(fd, b, sizeof b - 1, 1, 0);
    assert_contains(rbuf, "P=/b");
    /* Connection: close: answered, then closed */
    static const char c[] = "GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    exchange(fd, c, sizeof c - 1, 1, 0);
    assert_contains(rbuf, "Connection: close\r\n");
    assert_contains(rbuf, "P=/c");
    assert_true(fx_wait_eof(fd));
    close(fd);
    /* HTTP/1.0 without keep-alive: closed after the answer */
    fd = fx_connect();
    assert_true(fd >= 0);
    static const char d[] = "GET /d HTTP/1.0\r\n\r\n";
    exchange(fd, d, sizeof d - 1, 1, 0);
    assert_contains(rbuf, "Connection: close\r\n");
    assert_true(fx_wait_eof(fd));
    close(fd);
    /* HTTP/1.0 asking for keep-alive keeps it */
    fd = fx_connect();
    assert_true(fd >= 0);
    static const char e[] = "GET /e HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    exchange(fd, e, sizeof e - 1, 1, 0);
    assert_contains(rbuf, "Connection: keep-alive\r\n");
    exchange(fd, e, sizeof e - 1, 1, 0);
    assert_contains(rbuf, "P=/e");
    close(fd);
}

static void test_chunked_and_bad_framing(void **st)
{
    (void)st;
    int fd = fx_connect();
    assert_true(fd >= 0);
    static const char ok[] = "POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    exchange(fd, ok, sizeof ok - 1, 1, 0);
    assert_contains(rbuf, "B=hello world");
    close(fd);

    static const char bad_chunk[] = "POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                    "\r\nzz\r\nhello\r\n0\r\n\r\n";
    refused(bad_chunk, sizeof bad_chunk - 1, "HTTP/1.1 400 ");
    static const char bad_version[] = "GET / HTTX/1.1\r\nHost: t\r\n\r\n";
    refused(bad_version, sizeof bad_version - 1, "HTTP/1.1 400 ");
    static const char http2[] = "GET / HTTP/2.0\r\nHost: t\r\n\r\n";
    refused(http2, sizeof http2 - 1, "HTTP/1.1 400 ");
    static const char expect[] = "POST / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n"
                                 "Content-Length: 1\r\n\r\nx";
    refused(expect, sizeof expect - 1, "HTTP/1.1 417 ");
    static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
    refused(garbage, sizeof garbage - 1, "HTTP/1.1 400 ");
}

static void test_expect_continue(void **st)
{
    (void)st;
    int fd = fx_connect();
    assert_true(fd >= 0);
    static const char head[] = "POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                               "Content-Length: 2\r\n\r\n";
    fx_send(fd, head, sizeof head - 1);
    size_t got = 0;
    int want = 1, eof;
    assert_int_equal(fx_read_until(fd, rbuf, sizeof rbuf - 1, &got, have_n, &want, &eof), 1);
    rbuf[got] = '\0';
    assert_contains(rbuf, "HTTP/1.1 100 Continue\r\n\r\n");
    exchange(fd, "ok", 2, 1, 0);
    assert_contains(rbuf, "B=ok");
    close(fd);
}

static int group_setup(void **st)
{
    (void)st;
    return fx_start(handler, NULL);
}

static int group_teardown(void **st)
{
    (void)st;
    fx_stop();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_request),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_split_bytewise),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_keep_alive_and_close),
        cmocka_unit_test(test_chunked_and_bad_framing),
        cmocka_unit_test(test_expect_continue),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
