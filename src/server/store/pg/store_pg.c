/*
 * PostgreSQL backend: connections, reconnect, the writer's pipeline,
 * transactions and savepoints, the reader pool, parameter and result
 * helpers, the vtable.  The domain operations are in the other files of
 * this folder (store_pg_int.h lists them).
 *
 * Writer.  One connection in pipeline mode.  pgw_defer queues a constant
 * statement (BEGIN, SAVEPOINT, RELEASE) and does not wait; pgw_run queues
 * its statement (and, the first time on this connection, its PREPARE),
 * then a sync, and reads every result up to that sync: the deferred ones
 * are checked on the way.  So an op is one round trip.  pgw_defer_i64
 * defers a statement whose one value is wanted (the quota's shared count,
 * queued before COMMIT): its result is read into the caller's variable on
 * the way, so it rides on the COMMIT's round trip.  An error aborts
 * the rest of its segment (up to the sync) on the server; the writer then
 * reports the op failed, the front calls op_end(failed=1), and ROLLBACK TO
 * SAVEPOINT puts the transaction back as it was before the op: its
 * neighbours commit.
 *
 * Down.  When the server goes away the writer's connection is marked down
 * and every transaction fails (STORE_EIO: the front refuses the ops, so a
 * send is never acked, and store_health reports write_failing).  Each
 * tx_begin while down tries to reconnect, at most once per back-off
 * interval (100 ms doubling to 5 s); a health probe is such a tx_begin.
 * A connection the server closed while it was idle (a restart between two
 * batches or reads) is noticed before use (conn_stale) and reopened at
 * once: readers when they borrow one, the writer at tx_begin.
 * Nothing is cached across a reconnect but prepared-statement flags.
 */
#include "server/store/pg/store_pg_int.h"

#include "server/core/datadir.h"
#include "server/core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static _Atomic int next_qid;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- parameters ---- */

static const char *slot(pgp_t *p)
{
    if (p->n >= PGP_MAX) {
        LOGE("store pg: too many parameters", "max=%d", PGP_MAX);
        abort(); /* a programming error, never input-driven */
    }
    return p->num[p->n];
}

void pgp_i64(pgp_t *p, int64_t v)
{
    char *b = (char *)slot(p);
    snprintf(b, sizeof p->num[0], "%" PRId64, v);
    p->v[p->n++] = b;
}

void pgp_int(pgp_t *p, int v)
{
    pgp_i64(p, v);
}

void pgp_str(pgp_t *p, const char *s)
{
    (void)slot(p);
    p->v[p->n++] = s;
}

void pgp_null(pgp_t *p)
{
    pgp_str(p, NULL);
}

/* An array literal {"a","b"} of n strings (get(i)), quoted and escaped;
 * a NULL string is a NULL element. */
static int array_lit(pgp_t *p, size_t n, const char *(*get)(const void *, size_t),
                     const void *src)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 5 + (get(src, i) ? 2 * strlen(get(src, i)) : 0);
    char *b = malloc(cap), *o = b;
    if (!b)
        return STORE_EIO;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        if (!get(src, i)) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (const char *s = get(src, i); *s; s++) {
            if (*s == '"' || *s == '\\')
                *o++ = '\\';
            *o++ = *s;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = 0;
    (void)slot(p);
    p->own[p->n] = b;
    p->v[p->n++] = b;
    return 0;
}

static const char *get_id(const void *src, size_t i)
{
    return ((const char (*)[STORE_ID_MAX + 1])src)[i];
}

static const char *get_str(const void *src, size_t i)
{
    return ((const char *const *)src)[i];
}

int pgp_ids(pgp_t *p, const char (*ids)[STORE_ID_MAX + 1], size_t n)
{
    return array_lit(p, n, get_id, ids);
}

int pgp_strv(pgp_t *p, const char *const *v, size_t n)
{
    return array_lit(p, n, get_str, v);
}

int pgp_i64v(pgp_t *p, const int64_t *v, size_t n)
{
    char *b = malloc(3 + 21 * n), *o = b;
    if (!b)
        return STORE_EIO;
    *o++ = '{';
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s%" PRId64, i ? "," : "", v[i]);
    *o++ = '}';
    *o = 0;
    (void)slot(p);
    p->own[p->n] = b;
    p->v[p->n++] = b;
    return 0;
}

void pgp_free(pgp_t *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->own[i]);
        p->own[i] = NULL;
    }
}

/* ---- results ---- */

int64_t pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int pg_int(const PGresult *r, int row, int col)
{
    return (int)pg_i64(r, row, col);
}

int pg_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t len = (size_t)PQgetlength(r, row, col);
    if (len >= cap) {
        LOGE("store pg: stored text longer than its field", "col=%d len=%zu cap=%zu", col, len,
             cap);
        if (cap)
            dst[0] = 0;
        return STORE_EIO;
    }
    memcpy(dst, PQgetvalue(r, row, col), len);
    dst[len] = 0;
    return 0;
}

char *pg_dup(const PGresult *r, int row, int col, int *err)
{
    *err = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    size_t len = (size_t)PQgetlength(r, row, col);
    char *s = malloc(len + 1);
    if (!s) {
        *err = STORE_EIO;
        return NULL;
    }
    memcpy(s, PQgetvalue(r, row, col), len);
    s[len] = 0;
    return s;
}

void pg_log_err(const PGresult *r, PGconn *c, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    /* The primary message only: the DETAIL of a constraint error quotes
     * the row, which may hold a secret or a password hash. */
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if ((!msg || !*msg) && r)
        msg = PQresultErrorMessage(r);
    if (!msg || !*msg)
        msg = c ? PQerrorMessage(c) : "?";
    char one[256];
    snprintf(one, sizeof one, "%s", msg);
    for (char *s = one; *s; s++)
        if (*s == '\n' || *s == '"')
            *s = ' ';
    /* A constraint violation (class 23) is an outcome the caller turns
     * into a result (a duplicate import, an existing name): not an error
     * of the server. */
    if (state && strncmp(state, "23", 2) == 0)
        LOGD("store pg statement refused by a constraint", "what=\"%s\" sqlstate=%s err=\"%s\"",
             what ? what : "?", state, one);
    else
        LOGE("store pg statement failed", "what=\"%s\" sqlstate=%s err=\"%s\"",
             what ? what : "?", state ? state : "-", one);
}

/* STORE_E* of a failed result. */
static int err_of(const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        return STORE_ECONFLICT;
    if (state && strncmp(state, "23", 2) == 0)
        return STORE_EINVAL;
    return STORE_EIO;
}

static int result_ok(const PGresult *r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* ---- connections ---- */

/* The server's notices (e.g. "relation already exists, skipping" when
 * two nodes migrate at once) go to the log at debug level, not to stderr
 * as libpq would print them. */
static void notice_log(void *arg, const char *message)
{
    (void)arg;
    char one[256];
    snprintf(one, sizeof one, "%s", message);
    for (char *s = one; *s; s++)
        if (*s == '\n' || *s == '"')
            *s = ' ';
    LOGD("store pg notice", "notice=\"%s\"", one);
}

static int conn_open(store_backend_t *be, pgconn_t *pc, int pipeline)
{
    memset(pc->prep, 0, sizeof pc->prep);
    pc->pipeline = 0;
    /* dbname may be a URL or key=value string (expand_dbname).  Keywords
     * are applied in order and the expanded dbname overrides the ones
     * before it: connect_timeout (a black-holed host must not hold the
     * writer for TCP's timeout) and application_name are defaults the URL
     * may change; a password given apart wins. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", "password", NULL};
    const char *vals[] = {"5", "petreld", be->conninfo, be->password, NULL};
    if (!be->password)
        keys[3] = vals[3] = NULL;
    pc->c = PQconnectdbParams(keys, vals, 1);
    if (!pc->c || PQstatus(pc->c) != CONNECTION_OK) {
        char one[256];
        snprintf(one, sizeof one, "%s", pc->c ? PQerrorMessage(pc->c) : "out of memory");
        for (char *s = one; *s; s++)
            if (*s == '\n' || *s == '"')
                *s = ' ';
        LOGW("store pg: cannot connect", "err=\"%s\"", one);
        PQfinish(pc->c);
        pc->c = NULL;
        return STORE_EIO;
    }
    PQsetNoticeProcessor(pc->c, notice_log, NULL);
    /* Times are epoch milliseconds in bigint columns: nothing depends on
     * the session's time zone; the statement timeout bounds a stuck query. */
    PGresult *r = PQexec(pc->c, "SET statement_timeout = '30s'");
    PQclear(r);
    if (pipeline) {
        if (!PQenterPipelineMode(pc->c)) {
            LOGE("store pg: cannot enter pipeline mode", NULL);
            PQfinish(pc->c);
            pc->c = NULL;
            return STORE_EIO;
        }
        pc->pipeline = 1;
    }
    return 0;
}

static void conn_close(pgconn_t *pc)
{
    PQfinish(pc->c);
    pc->c = NULL;
}

/* An idle connection has nothing to read: the server sends nothing
 * unasked (no LISTEN here).  A readable socket means the server closed it
 * (a restart, a crash, pg_terminate_backend: its last words and the EOF
 * wait there), which libpq only learns from the next statement, which
 * would then fail.  Found here, between statements, the connection is
 * reopened before anyone uses it. */
static int conn_stale(const pgconn_t *pc)
{
    if (!pc->c || PQstatus(pc->c) != CONNECTION_OK)
        return 1;
    struct pollfd p = {.fd = PQsocket(pc->c), .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

static int qid(pgq_t *q)
{
    int id = __atomic_load_n(&q->id, __ATOMIC_ACQUIRE);
    if (id)
        return id;
    int mine = atomic_fetch_add(&next_qid, 1) + 1;
    if (mine > PGQ_MAX) {
        LOGE("store pg: more statements than PGQ_MAX", "max=%d", PGQ_MAX);
        abort();
    }
    int expected = 0;
    if (!__atomic_compare_exchange_n(&q->id, &expected, mine, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return expected; /* another thread named it first: its id wins */
    return mine;
}

/* ---- writer ---- */

static void writer_down(store_backend_t *be)
{
    if (be->w.c) {
        LOGW("store pg: writer connection lost; writes fail until it is back", NULL);
        conn_close(&be->w);
    }
    be->wdown = 1;
    be->in_tx = 0;
    be->ndeferred = 0;
    be->nsink = 0;
    be->row_depth = 0;
    if (be->backoff_ms < BACKOFF_MIN_MS)
        be->backoff_ms = BACKOFF_MIN_MS;
    be->retry_at_ms = mono_ms() + be->backoff_ms;
}

/* Reconnect the writer if its back-off allows; 0 when connected.  A
 * connection found closed between two transactions (the server restarted
 * meanwhile) is reopened at once, so the batch does not fail for it. */
static int writer_up(store_backend_t *be)
{
    if (!be->wdown && !conn_stale(&be->w))
        return 0;
    if (!be->wdown) {
        LOGW("store pg: writer connection closed by the server; reconnecting", NULL);
        conn_close(&be->w);
        if (conn_open(be, &be->w, 1) == 0)
            return 0;
        writer_down(be);
        return STORE_EIO;
    }
    if (mono_ms() < be->retry_at_ms)
        return STORE_EIO;
    if (conn_open(be, &be->w, 1) != 0) {
        be->backoff_ms = be->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : be->backoff_ms * 2;
        be->retry_at_ms = mono_ms() + be->backoff_ms;
        return STORE_EIO;
    }
    LOGI("store pg: writer connection is back", NULL);
    be->wdown = 0;
    be->backoff_ms = BACKOFF_MIN_MS;
    return 0;
}

/* Read the results of one command (up to its NULL).  *keep (may be NULL)
 * gets its first result; else it is cleared.  0 or STORE_E*. */
static int read_command(store_backend_t *be, PGresult **keep, const char *what)
{
    PGresult *first = NULL, *r;
    int rc = 0;
    while ((r = PQgetResult(be->w.c)) != NULL) {
        if (!first) {
            first = r;
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_PIPELINE_ABORTED)
                rc = STORE_EIO; /* an earlier error in the segment */
            else if (!result_ok(r)) {
                pg_log_err(r, be->w.c, what);
                rc = err_of(r);
            }
        } else {
            PQclear(r);
        }
    }
    if (!first) {
        pg_log_err(NULL, be->w.c, what);
        return STORE_EIO;
    }
    if (rc == 0 && keep)
        *keep = first;
    else
        PQclear(first);
    return rc;
}

/* Read the sync's result; 0, or STORE_EIO when the connection broke. */
static int read_sync(store_backend_t *be)
{
    PGresult *r = PQgetResult(be->w.c);
    int ok = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!ok) {
        pg_log_err(NULL, be->w.c, "pipeline sync");
        return STORE_EIO;
    }
    return 0;
}

/* A deferred statement's result: one row, one integer, into *out. */
static int sink_i64(const PGresult *r, int64_t *out)
{
    if (PQntuples(r) != 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0)) {
        LOGE("store pg: deferred statement returned no value", "rows=%d", PQntuples(r));
        return STORE_EIO;
    }
    const char *v = PQgetvalue(r, 0, 0);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        LOGE("store pg: deferred statement returned a non-integer", NULL);
        return STORE_EIO;
    }
    *out = (int64_t)x;
    return 0;
}

/* Send a sync and read everything queued: the deferred commands, then
 * (prep != NULL) the PREPARE, whose outcome goes to *prep (1 ok, 0
 * failed), then (has_stmt) the statement, whose result goes to *res.
 * Returns the first failure. */
static int drain(store_backend_t *be, int *prep, int has_stmt, PGresult **res,
                 const char *what)
{
    if (!PQpipelineSync(be->w.c)) {
        writer_down(be);
        return STORE_EIO;
    }
    int rc = 0;
    for (int i = 0, k = 0; i < be->ndeferred; i++) {
        pgw_sink_t *sk = k < be->nsink && be->sink[k].pos == i ? &be->sink[k++] : NULL;
        PGresult *kept = NULL;
        int r = read_command(be, sk && sk->out ? &kept : NULL, "deferred statement");
        if (sk && sk->prep_id)
            be->w.prep[sk->prep_id] = r == 0; /* it was marked pending when sent */
        if (r == 0 && kept)
            r = sink_i64(kept, sk->out);
        PQclear(kept);
        if (rc == 0)
            rc = r;
    }
    be->ndeferred = 0;
    be->nsink = 0;
    if (prep) {
        int r = read_command(be, NULL, what);
        *prep = r == 0;
        if (rc == 0)
            rc = r;
    }
    if (has_stmt) {
        int r = read_command(be, rc == 0 ? res : NULL, what);
        if (rc == 0)
            rc = r;
    }
    if (read_sync(be) != 0 || PQstatus(be->w.c) != CONNECTION_OK) {
        if (res && *res) {
            PQclear(*res);
            *res = NULL;
        }
        writer_down(be);
        return STORE_EIO;
    }
    return rc;
}

int pgw_run(store_backend_t *be, pgq_t *q, const pgp_t *p, PGresult **res, const char *what)
{
    if (res)
        *res = NULL;
    if (be->wdown || !be->w.c)
        return STORE_EIO;
    int id = qid(q);
    char name[16];
    snprintf(name, sizeof name, "q%d", id);
    int need_prep = !be->w.prep[id], prepared = 0;
    if (need_prep && !PQsendPrepare(be->w.c, name, q->sql, 0, NULL)) {
        writer_down(be);
        return STORE_EIO;
    }
    if (!PQsendQueryPrepared(be->w.c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0)) {
        writer_down(be);
        return STORE_EIO;
    }
    int rc = drain(be, need_prep ? &prepared : NULL, 1, res, what);
    if (need_prep && prepared && !be->wdown)
        be->w.prep[id] = 1;
    return rc;
}

int pgw_defer(store_backend_t *be, const char *sql)
{
    if (be->wdown || !be->w.c)
        return STORE_EIO;
    if (!PQsendQueryParams(be->w.c, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        writer_down(be);
        return STORE_EIO;
    }
    be->ndeferred++;
    return 0;
}

int pgw_defer_i64(store_backend_t *be, pgq_t *q, const pgp_t *p, int64_t *out,
                  const char *what)
{
    if (be->wdown || !be->w.c)
        return STORE_EIO;
    if (be->nsink + 2 > (int)(sizeof be->sink / sizeof be->sink[0])) {
        PGresult *r = NULL;
        int rc = pgw_run(be, q, p, &r, what);
        if (rc == 0)
            rc = sink_i64(r, out);
        PQclear(r);
        return rc;
    }
    int id = qid(q);
    char name[16];
    snprintf(name, sizeof name, "q%d", id);
    if (!be->w.prep[id]) {
        if (!PQsendPrepare(be->w.c, name, q->sql, 0, NULL)) {
            writer_down(be);
            return STORE_EIO;
        }
        /* Pending until drain reads its outcome: not prepared twice. */
        be->w.prep[id] = 2;
        be->sink[be->nsink++] = (pgw_sink_t){.pos = be->ndeferred++, .prep_id = id};
    }
    if (!PQsendQueryPrepared(be->w.c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0)) {
        writer_down(be);
        return STORE_EIO;
    }
    be->sink[be->nsink++] = (pgw_sink_t){.pos = be->ndeferred++, .out = out};
    return 0;
}

int pgw_flush(store_backend_t *be)
{
    if (be->wdown || !be->w.c)
        return STORE_EIO;
    if (be->ndeferred == 0)
        return 0;
    return drain(be, 0, 0, NULL, "flush");
}

int pgw_row_begin(store_backend_t *be)
{
    int rc = pgw_defer(be, "SAVEPOINT r");
    if (rc == 0)
        be->row_depth++;
    return rc;
}

int pgw_row_end(store_backend_t *be, int failed)
{
    if (be->row_depth > 0)
        be->row_depth--;
    if (failed) {
        int rc = pgw_defer(be, "ROLLBACK TO SAVEPOINT r");
        if (rc == 0)
            rc = pgw_defer(be, "RELEASE SAVEPOINT r");
        return rc != 0 ? rc : pgw_flush(be);
    }
    return pgw_defer(be, "RELEASE SAVEPOINT r");
}

/* petrel_next (migration 2): a plain UPDATE of the counter row, the
 * INSERT only for a new one.  An INSERT .. ON CONFLICT DO UPDATE would
 * leave a lock on the row version that the next op's savepoint updates
 * again, which turns every later update of it into a MultiXact. */
static pgq_t Q_NEXT = PGQ("SELECT petrel_next($1, $2::smallint, $3, $4, $5)");

int pgw_next(store_backend_t *be, int kind, int32_t app_id, const char *k1, const char *k2,
             int64_t floor, int64_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_int(&p, kind);
    pgp_str(&p, k1 ? k1 : "");
    pgp_str(&p, k2 ? k2 : "");
    pgp_i64(&p, floor);
    PGresult *r;
    int rc = pgw_run(be, &Q_NEXT, &p, &r, "counter");
    if (rc != 0)
        return rc;
    *out = pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* ---- readers ---- */

pgconn_t *pgr_borrow(store_backend_t *be)
{
    pthread_mutex_lock(&be->rmu);
    while (!be->rfree)
        pthread_cond_wait(&be->rcv, &be->rmu);
    pgconn_t *c = be->rfree;
    be->rfree = c->next_free;
    pthread_mutex_unlock(&be->rmu);
    if (conn_stale(c)) {
        if (c->c)
            conn_close(c);
        if (conn_open(be, c, 0) != 0) {
            pgr_give_back(be, c);
            return NULL;
        }
    }
    return c;
}

void pgr_give_back(store_backend_t *be, pgconn_t *c)
{
    pthread_mutex_lock(&be->rmu);
    c->next_free = be->rfree;
    be->rfree = c;
    pthread_cond_signal(&be->rcv);
    pthread_mutex_unlock(&be->rmu);
}

int pgr_run(store_backend_t *be, pgconn_t *c, pgq_t *q, const pgp_t *p, PGresult **res,
            const char *what)
{
    (void)be;
    if (res)
        *res = NULL;
    if (!c || !c->c)
        return STORE_EIO;
    int id = qid(q);
    char name[16];
    snprintf(name, sizeof name, "q%d", id);
    if (!c->prep[id]) {
        PGresult *r = PQprepare(c->c, name, q->sql, 0, NULL);
        int ok = result_ok(r);
        if (!ok)
            pg_log_err(r, c->c, what);
        int rc = ok ? 0 : err_of(r);
        PQclear(r);
        if (!ok) {
            if (PQstatus(c->c) != CONNECTION_OK)
                conn_close(c);
            return rc;
        }
        c->prep[id] = 1;
    }
    PGresult *r = PQexecPrepared(c->c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    if (!result_ok(r)) {
        pg_log_err(r, c->c, what);
        int rc = err_of(r);
        PQclear(r);
        if (PQstatus(c->c) != CONNECTION_OK)
            conn_close(c);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

int pgr_query(store_backend_t *be, pgq_t *q, const pgp_t *p, PGresult **res, const char *what)
{
    if (res)
        *res = NULL;
    pgconn_t *c = pgr_borrow(be);
    if (!c)
        return STORE_EIO;
    int rc = pgr_run(be, c, q, p, res, what);
    pgr_give_back(be, c);
    return rc;
}

static pgq_t Q_SNAP = PGQ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
static pgq_t Q_SNAP_END = PGQ("COMMIT");

int pgr_snap_begin(store_backend_t *be, pgconn_t *c)
{
    return pgr_run(be, c, &Q_SNAP, NULL, NULL, "snapshot");
}

void pgr_snap_end(store_backend_t *be, pgconn_t *c)
{
    if (c && c->c && PQtransactionStatus(c->c) != PQTRANS_IDLE) {
        if (pgr_run(be, c, &Q_SNAP_END, NULL, NULL, "snapshot end") != 0 && c->c) {
            PGresult *r = PQexec(c->c, "ROLLBACK");
            PQclear(r);
        }
    }
}

/* ---- open / close ---- */

static void pg_close(store_backend_t *be)
{
    if (!be)
        return;
    if (be->w.c)
        conn_close(&be->w);
    for (size_t i = 0; i < be->nr; i++)
        if (be->rpool[i].c)
            conn_close(&be->rpool[i]);
    free(be->rpool);
    pthread_cond_destroy(&be->rcv);
    pthread_mutex_destroy(&be->rmu);
    if (be->conninfo) {
        explicit_bzero(be->conninfo, strlen(be->conninfo));
        free(be->conninfo);
    }
    if (be->password) {
        explicit_bzero(be->password, strlen(be->password));
        free(be->password);
    }
    free(be);
}

static int pg_open(const store_config_t *cfg, store_backend_t **out)
{
    *out = NULL;
    if (!cfg->pg_conninfo || !cfg->pg_conninfo[0])
        return STORE_EINVAL;
    /* No database in it, but the generated secret files go there (store
     * requires one; a test opening the backend alone may give none). */
    if (cfg->data_dir && cfg->data_dir[0] && datadir_make(cfg->data_dir) != 0)
        return STORE_EIO;
    store_backend_t *be = calloc(1, sizeof *be);
    if (!be)
        return STORE_EIO;
    pthread_mutex_init(&be->rmu, NULL);
    pthread_cond_init(&be->rcv, NULL);
    be->conninfo = strdup(cfg->pg_conninfo);
    if (cfg->pg_password && !(be->password = strdup(cfg->pg_password))) {
        pg_close(be);
        return STORE_EIO;
    }
    be->nr = cfg->read_conns > 0 ? (size_t)cfg->read_conns : 4;
    if (be->nr > 64)
        be->nr = 64;
    be->rpool = calloc(be->nr, sizeof *be->rpool);
    be->backoff_ms = BACKOFF_MIN_MS;
    if (!be->conninfo || !be->rpool) {
        pg_close(be);
        return STORE_EIO;
    }
    /* Migrations on a plain connection, then the writer in pipeline mode. */
    pgconn_t m = {0};
    int rc = conn_open(be, &m, 0);
    if (rc == 0) {
        rc = store_pg_migrate(m.c, &be->version);
        conn_close(&m);
    }
    if (rc == 0)
        rc = conn_open(be, &be->w, 1);
    if (rc != 0) {
        pg_close(be);
        return rc;
    }
    for (size_t i = 0; i < be->nr; i++) {
        be->rpool[i].next_free = be->rfree;
        be->rfree = &be->rpool[i]; /* connected on first borrow */
    }
    *out = be;
    return 0;
}

static int pg_schema_version(store_backend_t *be)
{
    return be->version;
}

/* ---- transactions ---- */

static int pg_tx_begin(store_backend_t *be)
{
    int rc = writer_up(be);
    if (rc != 0)
        return rc;
    /* Writer transactions of every node take one advisory lock first:
     * they run one at a time.  Each locks rows (counters, groups,
     * friendships) op after op in no global order, so two of them running
     * together could deadlock, and PostgreSQL would only find out after
     * deadlock_timeout (1 s) and fail an op.  The app's message-key counter
     * row serialized them nearly as much anyway; each node's transaction is
     * a whole group-committed batch.  Reads never take it. */
    if ((rc = pgw_defer(be, "BEGIN")) != 0 ||
        (rc = pgw_defer(be, "SELECT pg_advisory_xact_lock(" PG_WRITER_LOCK ")")) != 0)
        return rc;
    be->in_tx = 1;
    return 0;
}

static pgq_t Q_COMMIT = PGQ("COMMIT");

static int pg_tx_commit(store_backend_t *be)
{
    PGresult *r = NULL;
    int rc = pgw_run(be, &Q_COMMIT, NULL, &r, "commit");
    /* COMMIT of an aborted transaction answers ROLLBACK without an error. */
    if (rc == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0)
        rc = STORE_EIO;
    PQclear(r);
    if (rc == 0)
        be->in_tx = 0;
    return rc;
}

static void pg_tx_rollback(store_backend_t *be)
{
    if (be->wdown || !be->w.c)
        return;
    if (pgw_defer(be, "ROLLBACK") == 0)
        (void)pgw_flush(be);
    be->in_tx = 0;
    be->row_depth = 0;
}

static int pg_op_begin(store_backend_t *be)
{
    be->row_depth = 0;
    return pgw_defer(be, "SAVEPOINT o");
}

static int pg_op_end(store_backend_t *be, int failed)
{
    if (!failed)
        return pgw_defer(be, "RELEASE SAVEPOINT o");
    int rc = pgw_defer(be, "ROLLBACK TO SAVEPOINT o");
    if (rc == 0)
        rc = pgw_defer(be, "RELEASE SAVEPOINT o");
    if (rc == 0)
        rc = pgw_flush(be);
    return rc;
}

/* ---- small ops ---- */

static pgq_t Q_PING = PGQ("SELECT 1");

static int pg_ping(store_backend_t *be)
{
    return pgr_query(be, &Q_PING, NULL, NULL, "ping");
}

static pgq_t Q_PROBE = PGQ("SELECT count(*) FROM app WHERE app_id = $1");

static int pg_probe(store_backend_t *be, int64_t now_ms)
{
    /* A round trip inside the op's savepoint: it proves the connection
     * and the transaction work without leaving data. */
    pgp_t p = PGP_INIT;
    pgp_i64(&p, now_ms & 0x7fffffff);
    return pgw_run(be, &Q_PROBE, &p, NULL, "probe");
}

const store_backend_ops_t store_pg_backend = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .after_batch = NULL,
    .op_begin = pg_op_begin,
    .op_end = pg_op_end,
    .app_put = pgx_app_put,
    .user_import = pgx_user_import,
    .user_update = pgx_user_update,
    .user_delete = pgx_user_delete,
    .account_create = pgx_account_create,
    .account_register = pgx_account_register,
    .msg_p2p = pgx_msg_p2p,
    .msg_p2p_batch = pgx_msg_p2p_batch,
    .next_seq = pgx_next_seq,
    .msg_read = pgx_msg_read,
    .msg_recall = pgx_msg_recall,
    .conv_update = pgx_conv_update,
    .friend_write = pgx_friend_write,
    .user_status_set = pgx_user_status_set,
    .stats = NULL,
    .app_get = pgx_app_get,
    .app_list = pgx_app_list,
    .msg_bytes = pgx_msg_bytes,
    .app_bytes_add = pgx_app_bytes_add,
    .ping = pg_ping,
    .user_get = pgx_user_get,
    .user_page = pgx_user_page,
    .user_count = pgx_user_count,
    .account_get = pgx_account_get,
    .msg_history = pgx_msg_history,
    .msg_sync = pgx_msg_sync,
    .conv_list = pgx_conv_list,
    .conv_get = pgx_conv_get,
    .friend_get = pgx_friend_get,
    .friend_list = pgx_friend_list,
    .friend_all = pgx_friend_all,
    .friend_requests = pgx_friend_requests,
    .friend_groups = pgx_friend_groups,
    .friend_seqs = pgx_friend_seqs,
    .user_status_get = pgx_user_status_get,
    .status_peers = pgx_status_peers,
    .friend_blacked = pgx_friend_blacked,
    .group_write = pgx_group_write,
    .group_get = pgx_group_get,
    .group_member_get = pgx_group_member_get,
    .group_members = pgx_group_members,
    .group_readers = pgx_group_readers,
    .group_joined = pgx_group_joined,
    .group_requests = pgx_group_requests,
    .group_msgs = pgx_group_msgs,
    .msg_head = pgx_msg_head,
    .file_check = NULL,
    .probe = pg_probe,
    .rows = pgx_rows,
    .copy_in = pgx_copy_in,
};
