/*
 * Gateway discovery: which node address a client should connect to
 * (seed inventory §3.5).  Pure functions, unit-tested.
 *
 * Strategies: random; round robin (a shared counter); consistent hash on
 * the userId with the seeds' ring: every node "ip:port" sits at h(node)
 * and at two virtual points h(node + decimal(h(node)) + i) for i = 0, 1,
 * where h(s) is the first 4 bytes of MD5(s) read as a little-endian
 * unsigned 32-bit number; a user maps to the first point >= h(userId),
 * wrapping to the smallest.
 */
#ifndef PETREL_ROUTE_H
#define PETREL_ROUTE_H

#include <stddef.h>
#include <stdint.h>

enum route_strategy { ROUTE_RANDOM = 1, ROUTE_ROUND_ROBIN = 2, ROUTE_HASH = 3 };

/* "random", "round_robin", "hash" -> enum, or -1. */
int route_strategy_parse(const char *s);

uint32_t route_hash(const char *s);

/* Pick one of n nodes for user_id.  counter is the round-robin state (may
 * be shared between threads: it is incremented atomically).  Returns an
 * index, or -1 when n == 0. */
int route_pick(int strategy, const char *const *nodes, size_t n, const char *user_id,
               uint64_t *counter);

/* Split "a:1,b:2" into at most max entries written into buf (NUL-separated
 * copies); returns the count.  Entries must be host:port. */
size_t route_split(const char *list, char *buf, size_t buf_cap, const char **out, size_t max);

/* "0.0.0.0:9000" -> "127.0.0.1:9000" (a wildcard bind is not an address a
 * client can dial: loopback), else the listen address as is. */
void route_public_from_listen(const char *listen, char *out, size_t cap);

#endif
