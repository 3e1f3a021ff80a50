/*
 * Blocking-socket helpers shared by the client library's socket client and
 * its HTTP client: a monotonic clock with deadlines, and a TCP connect that
 * tries every resolved address within one deadline.  Internal to libpetrel.
 */
#ifndef PETREL_CLIENT_NETUTIL_H
#define PETREL_CLIENT_NETUTIL_H

#include <stdint.h>

/* Monotonic milliseconds. */
int64_t pnet_now_ms(void);
/* Milliseconds left until deadline, clamped to [0, INT32_MAX]. */
int pnet_ms_left(int64_t deadline);
/* Connect (TCP_NODELAY, non-blocking fd) before deadline.  0 and *out_fd,
 * -EHOSTUNREACH when the name does not resolve, else -errno of the last
 * attempt (-ETIMEDOUT when the deadline passed). */
int pnet_connect(const char *host, const char *port, int64_t deadline, int *out_fd);

#endif
