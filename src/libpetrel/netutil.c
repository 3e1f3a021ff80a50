/* Socket helpers of libpetrel (see netutil.h). */
#include "netutil.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t pnet_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pnet_ms_left(int64_t deadline)
{
    int64_t d = deadline - pnet_now_ms();
    if (d < 0)
        return 0;
    return d > INT32_MAX ? INT32_MAX : (int)d;
}

/* Wait for a non-blocking connect; 0 or an errno. */
static int wait_connected(int fd, int64_t deadline)
{
    for (;;) {
        int wait = pnet_ms_left(deadline);
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int n = wait ? poll(&p, 1, wait) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return ETIMEDOUT;
        int so = 0;
        socklen_t sl = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
            so = errno;
        return so;
    }
}

int pnet_connect(const char *host, const char *port, int64_t deadline, int *out_fd)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -EHOSTUNREACH;
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0
            : errno == EINPROGRESS ? wait_connected(fd, deadline) : errno;
        if (err == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            freeaddrinfo(res);
            *out_fd = fd;
            return 0;
        }
        close(fd);
        if (err == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return -err;
}
