/*
 * A stand-alone network layer for the net/ unit tests: a runtime with one
 * worker (a real libuv loop on its own thread) listening on loopback
 * port 0 for HTTP, net installed on it, a stub HTTP handler and, for
 * WebSocket, a stub socket protocol -- nothing of the IM server.  The
 * test talks to it as a client over blocking loopback sockets.
 */
#ifndef PETREL_TEST_NET_FIXTURE_H
#define PETREL_TEST_NET_FIXTURE_H

#include "server/core/log.h"
#include "server/core/worker.h"
#include "server/net/http.h"
#include "server/net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static runtime_t fx_rt;
static net_t fx_net;
static int fx_port;

static int fx_start(http_handler_fn handler, const conn_proto_t *proto)
{
    memset(&fx_rt, 0, sizeof fx_rt);
    memset(&fx_net, 0, sizeof fx_net);
    log_set_level(log_level_parse("error"));
    config_defaults(&fx_rt.cfg);
    fx_rt.cfg.tcp_listen[0] = '\0';
    snprintf(fx_rt.cfg.http_listen, sizeof fx_rt.cfg.http_listen, "127.0.0.1:0");
    fx_rt.cfg.workers = 1;
    fx_rt.nworkers = 1;
    fx_rt.limits.max_imei = (uint32_t)fx_rt.cfg.max_imei;
    fx_rt.limits.max_body = (uint32_t)fx_rt.cfg.max_body;
    fx_rt.proto = proto;
    if (net_install(&fx_rt, &fx_net) < 0)
        return -1;
    http_set_handler(&fx_rt, handler);
    if (runtime_start(&fx_rt) < 0)
        return -1;
    fx_port = net_worker_port(&fx_rt.workers[0], CONN_HTTP);
    return fx_port > 0 ? 0 : -1;
}

static void fx_stop(void)
{
    runtime_stop(&fx_rt);
    runtime_join(&fx_rt);
    runtime_free(&fx_rt);
}

static int fx_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void fx_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may have closed: the reads tell */
        p += n;
        len -= (size_t)n;
    }
}

/* One byte per write, with a pause so that each is its own read. */
static void fx_send_slowly(int fd, const void *data, size_t len)
{
    const char *p = data;
    for (size_t i = 0; i < len; i++) {
        fx_send(fd, p + i, 1);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static int64_t fx_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read into buf (appending at *got) until done(buf, *got) says so, EOF,
 * or 3 s.  Returns 1 if done, 0 at EOF (*eof set), -1 on timeout. */
static int fx_read_until(int fd, char *buf, size_t cap, size_t *got,
                         int (*done)(const char *buf, size_t len, void *arg), void *arg,
                         int *eof)
{
    int64_t until = fx_ms() + 3000;
    if (eof)
        *eof = 0;
    for (;;) {
        if (done && done(buf, *got, arg))
            return 1;
        int64_t left = until - fx_ms();
        if (left <= 0 || *got >= cap)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, buf + *got, cap - *got, 0);
        if (n <= 0) {
            if (eof)
                *eof = 1;
            return done && done(buf, *got, arg) ? 1 : 0;
        }
        *got += (size_t)n;
    }
}

/* 1 when the peer has closed (EOF or reset) within 3 s, all input read. */
static int fx_wait_eof(int fd)
{
    char b[4096];
    int64_t until = fx_ms() + 3000;
    while (fx_ms() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n <= 0)
            return 1;
    }
    return 0;
}

#endif
