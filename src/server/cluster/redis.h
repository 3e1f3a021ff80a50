/*
 * Redis connections for cluster mode: the one place that speaks to Redis
 * (hiredis, synchronous API).  Every call blocks its thread for a round
 * trip, so nothing here is ever called on an event loop: callers are the
 * thread pool, the delivery thread, the bus threads and the node thread.
 *
 *   rconf_t   where Redis is: "redis://[:password@]host[:port][/db]" or
 *             "host[:port]"; the password may also come from a file.
 *   rconn_t   one connection, for one thread at a time.  A call that fails
 *             on the network drops the connection; the next call
 *             reconnects, but not sooner than a back-off (100 ms doubling
 *             to 2 s) after a failed connect, so an outage costs callers a
 *             fast NULL, not a connect timeout each.
 *   rpool_t   a connection per calling thread (created on first use), for
 *             code called from many threads (the session registry).
 *   rscript_t a Lua script run by EVALSHA, loaded on NOSCRIPT (a restarted
 *             Redis forgets its scripts).
 *   rstats_t  round trips, errors and reconnects, shared by the connections
 *             of a node (/metrics).
 *
 * Replies are hiredis's redisReply (free with freeReplyObject); an error
 * reply (REDIS_REPLY_ERROR) is returned as is and counted as an error, a
 * network failure is NULL.
 */
#ifndef PETREL_CLUSTER_REDIS_H
#define PETREL_CLUSTER_REDIS_H

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rconf {
    char host[256];
    int port;
    char password[256];  /* empty: no AUTH */
    int db;
    int timeout_ms;      /* connect and command timeout (default 2000) */
} rconf_t;

/* Parse url into *out (defaults: port 6379, db 0, timeout 2000 ms).
 * 0, or -1 with a message in err. */
int rconf_parse(const char *url, rconf_t *out, char *err, size_t errlen);

typedef struct rstats {
    atomic_uint_fast64_t calls;      /* round trips (a pipeline counts once) */
    atomic_uint_fast64_t errors;     /* network failures and error replies */
    atomic_uint_fast64_t reconnects; /* connections (re)opened */
} rstats_t;

typedef struct rconn rconn_t;

/* A connection to cf (copied); it connects on first use.  st may be NULL.
 * NULL on OOM. */
rconn_t *rconn_new(const rconf_t *cf, rstats_t *st);
void rconn_free(rconn_t *c);   /* safe on NULL */
/* 1 when connected now (no I/O). */
int rconn_up(const rconn_t *c);
/* Connect now if not connected (respecting the back-off): 0 or -1. */
int rconn_connect(rconn_t *c);
/* Drop the connection (the next call reconnects at once). */
void rconn_reset(rconn_t *c);

/* One command, printf-style as redisCommand.  NULL on a network failure. */
redisReply *rconn_cmd(rconn_t *c, const char *fmt, ...);
/* One command from an argument vector (lens may be NULL: strlen). */
redisReply *rconn_cmdargv(rconn_t *c, int argc, const char **argv, const size_t *lens);

/* Pipelines: append n commands, then take their n replies in order with
 * rconn_reply (the first rconn_reply sends the buffer).  The pipeline
 * counts as one round trip.  Append returns 0 or -1 (not connected,
 * OOM); after a NULL from rconn_reply the connection is dropped and the
 * remaining replies are lost. */
int rconn_append(rconn_t *c, const char *fmt, ...);
int rconn_appendargv(rconn_t *c, int argc, const char **argv, const size_t *lens);
redisReply *rconn_reply(rconn_t *c);

typedef struct rscript {
    const char *src;
    char sha[41];   /* filled by rscript_init */
} rscript_t;

/* Compute s->sha from s->src. */
void rscript_init(rscript_t *s);
/* EVALSHA s with nkeys keys then the other arguments, argv[0..argc)
 * (lens may be NULL: strlen); on NOSCRIPT the script is loaded and run
 * again.  NULL on a network failure. */
redisReply *rconn_eval(rconn_t *c, rscript_t *s, int nkeys, int argc, const char **argv,
                       const size_t *lens);

/* ---- a connection per thread ---------------------------------------------- */

typedef struct rpool rpool_t;
/* NULL on OOM or when the thread key cannot be made. */
rpool_t *rpool_new(const rconf_t *cf, rstats_t *st);
/* The calling thread's connection (made on first use; NULL on OOM). */
rconn_t *rpool_get(rpool_t *p);
/* Free every connection made.  No thread may use the pool any more. */
void rpool_free(rpool_t *p);

/* ---- replies nobody asked for (pub/sub) ------------------------------------ */

/* The next reply the server sends on c -- after SUBSCRIBE, a pub/sub
 * message -- waiting at most timeout_ms, or until wake_fd (if >= 0) is
 * readable.  Commands appended before (rconn_append: a PING) are sent
 * first; a reply taken here settles one of them.  The wait is poll() on
 * the socket, not hiredis's command timeout, so an idle subscription is
 * never dropped by its own timeout.  1 with *out (freeReplyObject), 0 on
 * timeout or wake-up, -1 when the connection is lost or was not open
 * (dropped: the next call reconnects). */
int rconn_read(rconn_t *c, int wake_fd, int timeout_ms, redisReply **out);
/* Whether an open, idle connection still is (a non-blocking peek on its
 * socket, no round trip): 1, or 0 when it is not open or the server
 * closed it (a restart; then it is dropped and the next call reconnects
 * at once). */
int rconn_alive(rconn_t *c);

/* Integer of a reply (an integer reply, or a string holding one), else def. */
long long rreply_int(const redisReply *r, long long def);

#endif
