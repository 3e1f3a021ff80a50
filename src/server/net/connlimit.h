/*
 * Per-address connection counting (issue 14: one address must not take all
 * of max_connections).  A connection is counted under its peer's address:
 * an IPv4 address on its own (IPv4-mapped IPv6 counts as IPv4), an IPv6
 * address by its /64 (one customer's usual allocation).  Counted at accept
 * (tcp.c), released when the connection is closed (conn.c).  A second
 * count per address holds its connections that have not logged in (a
 * socket before its LOGIN, any plain HTTP connection): what a slowloris
 * uses; a LOGIN takes the connection off it (gateway.c).
 *
 * The table is shared by all workers: CONNLIMIT_STRIPES independent stripes,
 * each a mutex and an open-addressing (linear probing) hash table that
 * grows and shrinks with the number of addresses that have a connection
 * open, so there is no allocation per connection, only when a stripe
 * doubles or halves.  Addresses are hashed under a random per-process key,
 * so a client cannot choose /64s that share a stripe or a probe chain.
 */
#ifndef PETREL_CONNLIMIT_H
#define PETREL_CONNLIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONNLIMIT_STRIPES 64

typedef struct connlimit connlimit_t;

/* What a connection holds in the table: its address key; fam 0 = nothing
 * held (not counted, or already released). */
typedef struct cl_ref {
    uint64_t v;      /* IPv4 address or the IPv6 /64 prefix, host order */
    uint8_t fam;     /* 0, 4 or 6 */
    uint8_t pending; /* also held in the address's not-logged-in count */
} cl_ref_t;

/* The key of a peer address.  Returns 1 for a loopback address (127/8,
 * ::1, ::ffff:127/104), 0 for another, -1 for an unknown family. */
int connlimit_key(const struct sockaddr *sa, cl_ref_t *out);

connlimit_t *connlimit_new(void);
void connlimit_free(connlimit_t *t);

enum { CL_OK = 0, CL_FULL = 1, CL_PENDING_FULL = 2, CL_NOMEM = -1 };

/* Count one more connection of key *k, not logged in yet, if the address
 * has fewer than max open and fewer than max_pending not logged in (0 = no
 * limit, only counted).  CL_OK: counted, *ref = *k with pending set;
 * CL_FULL / CL_PENDING_FULL: at one of the limits; CL_NOMEM: out of
 * memory.  Unless CL_OK nothing is counted and ref->fam is 0. */
int connlimit_acquire(connlimit_t *t, const cl_ref_t *k, uint32_t max, uint32_t max_pending,
                      cl_ref_t *ref);

/* The connection logged in: off its address's not-logged-in count (once;
 * nothing if ref holds nothing).  Safe from any thread. */
void connlimit_logged_in(connlimit_t *t, cl_ref_t *ref);

/* Give back what acquire counted; ref->fam becomes 0 (a second call does
 * nothing).  Safe from any thread. */
void connlimit_release(connlimit_t *t, cl_ref_t *ref);

/* Open connections counted under key *k (*pending: of them not logged in,
 * if not NULL), and addresses with at least one (for tests and logs). */
uint32_t connlimit_count(connlimit_t *t, const cl_ref_t *k, uint32_t *pending);
size_t connlimit_addresses(connlimit_t *t);

/* The key as text ("192.0.2.7" or "2001:db8:1:2::/64") for logs. */
void connlimit_format(const cl_ref_t *k, char *buf, size_t len);

#endif
