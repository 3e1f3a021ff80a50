/*
 * Redis connections (see redis.h): hiredis's synchronous context, dropped
 * on any network error and reopened by the next call after a back-off.
 */
#include "server/cluster/redis.h"

#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

struct rconn {
    rconf_t cf;
    rstats_t *st;
    redisContext *ctx;
    int64_t retry_at_ms;   /* monotonic: no connect before */
    int64_t backoff_ms;
    int pending;           /* pipelined replies not yet read */
    struct rconn *next;    /* in the pool's list */
};

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- configuration ---------------------------------------------------------- */

int rconf_parse(const char *url, rconf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    out->timeout_ms = 2000;
    if (!url || !*url) {
        snprintf(err, errlen, "empty Redis address");
        return -1;
    }
    const char *p = url;
    if (!strncmp(p, "redis://", 8))
        p += 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *pw = p;
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon)
            pw = colon + 1; /* "user:password@": only the password is used */
        size_t n = (size_t)(at - pw);
        if (n >= sizeof out->password) {
            snprintf(err, errlen, "Redis password too long");
            return -1;
        }
        memcpy(out->password, pw, n);
        out->password[n] = '\0';
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof out->host) {
        snprintf(err, errlen, "bad Redis host in '%s'", url);
        return -1;
    }
    memcpy(out->host, p, hl);
    out->host[hl] = '\0';
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            snprintf(err, errlen, "bad Redis port in '%s'", url);
            return -1;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000) {
            snprintf(err, errlen, "bad Redis database in '%s'", url);
            return -1;
        }
        out->db = (int)db;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    if (*p) {
        snprintf(err, errlen, "trailing characters in Redis address '%s'", url);
        return -1;
    }
    return 0;
}

/* ---- one connection --------------------------------------------------------------- */

rconn_t *rconn_new(const rconf_t *cf, rstats_t *st)
{
    rconn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cf = *cf;
    c->st = st;
    return c;
}

void rconn_reset(rconn_t *c)
{
    if (c->ctx)
        redisFree(c->ctx);
    c->ctx = NULL;
    c->pending = 0;
}

void rconn_free(rconn_t *c)
{
    if (!c)
        return;
    rconn_reset(c);
    free(c);
}

int rconn_up(const rconn_t *c)
{
    return c->ctx != NULL;
}

static void count(rconn_t *c, int err)
{
    if (!c->st)
        return;
    atomic_fetch_add(&c->st->calls, 1);
    if (err)
        atomic_fetch_add(&c->st->errors, 1);
}

static void fail_connect(rconn_t *c)
{
    rconn_reset(c);
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
    if (c->backoff_ms > 2000)
        c->backoff_ms = 2000;
    c->retry_at_ms = mono_now_ms() + c->backoff_ms;
    if (c->st)
        atomic_fetch_add(&c->st->errors, 1);
}

int rconn_connect(rconn_t *c)
{
    if (c->ctx)
        return 0;
    if (mono_now_ms() < c->retry_at_ms)
        return -1;
    struct timeval tv = {c->cf.timeout_ms / 1000, (c->cf.timeout_ms % 1000) * 1000};
    c->ctx = redisConnectWithTimeout(c->cf.host, c->cf.port, tv);
    if (!c->ctx || c->ctx->err || redisSetTimeout(c->ctx, tv) != REDIS_OK) {
        fail_connect(c);
        return -1;
    }
    redisEnableKeepAlive(c->ctx);
    if (c->st)
        atomic_fetch_add(&c->st->reconnects, 1);
    redisReply *r = NULL;
    if (c->cf.password[0]) {
        r = redisCommand(c->ctx, "AUTH %s", c->cf.password);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            fail_connect(c);
            return -1;
        }
    }
    if (c->cf.db) {
        r = redisCommand(c->ctx, "SELECT %d", c->cf.db);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            fail_connect(c);
            return -1;
        }
    }
    c->backoff_ms = 0;
    return 0;
}

/* After a call: a NULL reply or a context error drops the connection. */
static redisReply *finish(rconn_t *c, void *reply)
{
    redisReply *r = reply;
    if (!r || c->ctx->err) {
        if (r)
            freeReplyObject(r);
        rconn_reset(c);
        count(c, 1);
        return NULL;
    }
    count(c, r->type == REDIS_REPLY_ERROR);
    return r;
}

redisReply *rconn_cmd(rconn_t *c, const char *fmt, ...)
{
    if (rconn_connect(c) < 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    void *r = redisvCommand(c->ctx, fmt, ap);
    va_end(ap);
    return finish(c, r);
}

/* argv lengths: lens, or strlen of each (bounded by RCONN_ARGV_MAX). */
#define RCONN_ARGV_MAX 4096

redisReply *rconn_cmdargv(rconn_t *c, int argc, const char **argv, const size_t *lens)
{
    if (argc <= 0 || argc > RCONN_ARGV_MAX || rconn_connect(c) < 0)
        return NULL;
    size_t *l = NULL;
    if (!lens) {
        l = malloc((size_t)argc * sizeof *l);
        if (!l)
            return NULL;
        for (int i = 0; i < argc; i++)
            l[i] = strlen(argv[i]);
    }
    void *r = redisCommandArgv(c->ctx, argc, argv, lens ? lens : l);
    free(l);
    return finish(c, r);
}

int rconn_append(rconn_t *c, const char *fmt, ...)
{
    if (rconn_connect(c) < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(c->ctx, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK)
        return -1;
    c->pending++;
    return 0;
}

int rconn_appendargv(rconn_t *c, int argc, const char **argv, const size_t *lens)
{
    if (argc <= 0 || argc > RCONN_ARGV_MAX || rconn_connect(c) < 0)
        return -1;
    size_t *l = NULL;
    if (!lens) {
        l = malloc((size_t)argc * sizeof *l);
        if (!l)
            return -1;
        for (int i = 0; i < argc; i++)
            l[i] = strlen(argv[i]);
    }
    int rc = redisAppendCommandArgv(c->ctx, argc, argv, lens ? lens : l);
    free(l);
    if (rc != REDIS_OK)
        return -1;
    c->pending++;
    return 0;
}

redisReply *rconn_reply(rconn_t *c)
{
    if (!c->ctx || c->pending <= 0)
        return NULL;
    void *r = NULL;
    if (redisGetReply(c->ctx, &r) != REDIS_OK || !r) {
        if (r)
            freeReplyObject(r);
        rconn_reset(c);
        if (c->st)
            atomic_fetch_add(&c->st->errors, 1);
        return NULL;
    }
    redisReply *rep = r;
    /* a pipeline counts as one round trip: its last reply */
    if (--c->pending == 0 && c->st)
        atomic_fetch_add(&c->st->calls, 1);
    if (rep->type == REDIS_REPLY_ERROR && c->st)
        atomic_fetch_add(&c->st->errors, 1);
    return rep;
}

/* ---- scripts ---------------------------------------------------------------------------- */

void rscript_init(rscript_t *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s->src, strlen(s->src), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n && i < 20; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    s->sha[40] = '\0';
}

redisReply *rconn_eval(rconn_t *c, rscript_t *s, int nkeys, int argc, const char **argv,
                       const size_t *lens)
{
    if (argc < 0 || argc > RCONN_ARGV_MAX - 3)
        return NULL;
    const char **av = malloc(((size_t)argc + 3) * sizeof *av);
    size_t *al = malloc(((size_t)argc + 3) * sizeof *al);
    char nk[16];
    redisReply *r = NULL;
    if (!av || !al)
        goto out;
    snprintf(nk, sizeof nk, "%d", nkeys);
    av[0] = "EVALSHA";
    av[1] = s->sha;
    av[2] = nk;
    al[0] = 7;
    al[1] = 40;
    al[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    r = rconn_cmdargv(c, argc + 3, av, al);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        freeReplyObject(r);
        av[0] = "EVAL";
        av[1] = s->src;
        al[0] = 4;
        al[1] = strlen(s->src);
        r = rconn_cmdargv(c, argc + 3, av, al);
    }
out:
    free(av);
    free(al);
    return r;
}

long long rreply_int(const redisReply *r, long long def)
{
    if (!r)
        return def;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        return end != r->str && !*end ? v : def;
    }
    return def;
}

/* ---- replies nobody asked for ------------------------------------------------------------ */

static int lost(rconn_t *c)
{
    rconn_reset(c);
    if (c->st)
        atomic_fetch_add(&c->st->errors, 1);
    return -1;
}

int rconn_read(rconn_t *c, int wake_fd, int timeout_ms, redisReply **out)
{
    *out = NULL;
    if (!c->ctx)
        return -1;
    int done = 0;
    while (!done) /* what rconn_append queued (the socket's send timeout applies) */
        if (redisBufferWrite(c->ctx, &done) != REDIS_OK)
            return lost(c);
    int64_t deadline = mono_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(c->ctx, &r) != REDIS_OK) { /* protocol error */
            if (r)
                freeReplyObject(r);
            return lost(c);
        }
        if (r) {
            if (c->pending > 0)
                c->pending--;
            *out = r;
            return 1;
        }
        int64_t left = deadline - mono_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p[2] = {{.fd = c->ctx->fd, .events = POLLIN},
                              {.fd = wake_fd, .events = POLLIN}};
        int rc = poll(p, wake_fd >= 0 ? 2 : 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return lost(c);
        if (wake_fd >= 0 && p[1].revents)
            return 0;
        if (rc == 0)
            return 0;
        /* readable, hung up or failed: the read says which */
        if (redisBufferRead(c->ctx) != REDIS_OK)
            return lost(c);
    }
}

int rconn_alive(rconn_t *c)
{
    if (!c->ctx)
        return 0;
    char b;
    ssize_t n = recv(c->ctx->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return 1;
    lost(c);
    return 0;
}

/* ---- a connection per thread --------------------------------------------------------------- */

struct rpool {
    rconf_t cf;
    rstats_t *st;
    pthread_key_t key;
    pthread_mutex_t mu;
    rconn_t *all;
};

rpool_t *rpool_new(const rconf_t *cf, rstats_t *st)
{
    rpool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cf = *cf;
    p->st = st;
    if (pthread_key_create(&p->key, NULL) != 0) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

rconn_t *rpool_get(rpool_t *p)
{
    rconn_t *c = pthread_getspecific(p->key);
    if (c)
        return c;
    c = rconn_new(&p->cf, p->st);
    if (!c)
        return NULL;
    pthread_mutex_lock(&p->mu);
    c->next = p->all;
    p->all = c;
    pthread_mutex_unlock(&p->mu);
    pthread_setspecific(p->key, c);
    return c;
}

void rpool_free(rpool_t *p)
{
    if (!p)
        return;
    rconn_t *c = p->all;
    while (c) {
        rconn_t *next = c->next;
        rconn_free(c);
        c = next;
    }
    pthread_key_delete(p->key);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
