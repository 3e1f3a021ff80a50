/*
 * PostgreSQL backend: the destination side of a copy from another backend
 * (store/copy.h, `petreld copy-sqlite`; store_backend.h "copying a whole
 * database").  Offline and single-threaded: nothing here is on a server
 * path.
 *
 * pgx_copy_in runs ONE transaction on a connection of the reader pool
 * (the writer's is in pipeline mode, where COPY is not allowed): it
 * refuses a database holding any row, loads each table with COPY FROM
 * STDIN (text format, rows buffered into large CopyData messages), then
 * sets what this backend allocates past the loaded data: every im_counter
 * kind (store_pg_int.h enum pg_counter) from the rows that carry its
 * numbers, and the identity columns' sequences; then the caller's check
 * reads the loaded data through pgx_rows on the same connection, and
 * only then COMMIT.  A failure anywhere rolls back: the destination stays
 * empty.
 *
 * Errors are reported by their primary message only: a COPY error's
 * context and detail lines quote row values (secrets, password hashes).
 */
#include "server/store/pg/store_pg_int.h"

#include "server/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flush the COPY buffer past this many bytes. */
#define COPY_CHUNK (256 * 1024)

/* why <- "what: primary message", logged. */
static void fail(store_copy_t *cp, const PGresult *r, PGconn *c, const char *what)
{
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char one[256];
    snprintf(one, sizeof one, "%s", msg ? msg : c ? PQerrorMessage(c) : "?");
    one[strcspn(one, "\n")] = 0;
    snprintf(cp->why, sizeof cp->why, "%s: %s", what, one);
    LOGE("store pg copy failed", "what=\"%s\" sqlstate=%s", what, state ? state : "-");
}

/* Run a statement without rows on c; 0 or STORE_E* with why set. */
static int exec(store_copy_t *cp, PGconn *c, const char *sql, int np, const char *const *p,
                const char *what)
{
    PGresult *r = PQexecParams(c, sql, np, NULL, p, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fail(cp, r, c, what);
    PQclear(r);
    return ok ? 0 : STORE_EIO;
}

/* ---- reading (pgx_rows) ---- */

int pgx_rows(store_backend_t *be, const char *sql, store_row_fn row, void *arg)
{
    pgconn_t *c = be->copy ? be->copy : pgr_borrow(be);
    if (!c)
        return STORE_EIO;
    int rc = 0;
    const char **vals = NULL;
    if (!PQsendQuery(c->c, sql) || !PQsetSingleRowMode(c->c)) {
        pg_log_err(NULL, c->c, "copy: rows");
        rc = STORE_EIO;
    }
    PGresult *r;
    while (rc == 0 && (r = PQgetResult(c->c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            int n = PQnfields(r);
            if (!vals && !(vals = calloc(n > 0 ? (size_t)n : 1, sizeof *vals)))
                rc = STORE_EIO;
            for (int i = 0; rc == 0 && i < n; i++)
                vals[i] = PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
            if (rc == 0)
                rc = row(arg, vals, (size_t)n);
        } else if (st != PGRES_TUPLES_OK) {
            pg_log_err(r, c->c, "copy: rows");
            rc = STORE_EIO;
        }
        PQclear(r);
    }
    /* Stopped early: read (and drop) the rest, so the connection is idle. */
    while ((r = PQgetResult(c->c)) != NULL)
        PQclear(r);
    free(vals);
    if (!be->copy)
        pgr_give_back(be, c);
    return rc;
}

/* ---- loading (pgx_copy_in) ---- */

typedef struct sink {
    PGconn *c;
    size_t ncols;
    char *buf;
    size_t len, cap;
    int failed;
} sink_t;

static int sink_flush(sink_t *k)
{
    if (k->len && PQputCopyData(k->c, k->buf, (int)k->len) != 1) {
        k->failed = 1;
        return STORE_EIO;
    }
    k->len = 0;
    return 0;
}

static int sink_room(sink_t *k, size_t more)
{
    if (k->len + more <= k->cap)
        return 0;
    size_t cap = k->cap ? k->cap : COPY_CHUNK;
    while (cap < k->len + more)
        cap *= 2;
    char *b = realloc(k->buf, cap);
    if (!b)
        return STORE_EIO;
    k->buf = b;
    k->cap = cap;
    return 0;
}

/* One row in COPY's text format: tabs between columns, \N for NULL,
 * backslash escapes for backslash, tab, newline and carriage return. */
static int put_row(void *arg, const char *const *vals, size_t n)
{
    sink_t *k = arg;
    if (n != k->ncols) {
        LOGE("store pg copy: a row has the wrong number of columns", "got=%zu want=%zu", n,
             k->ncols);
        return STORE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = vals[i];
        size_t vl = v ? strlen(v) : 0;
        if (sink_room(k, 2 * vl + 3) != 0)
            return STORE_EIO;
        char *o = k->buf + k->len;
        if (i)
            *o++ = '\t';
        if (!v) {
            *o++ = '\\';
            *o++ = 'N';
        }
        for (size_t j = 0; j < vl; j++) {
            char ch = v[j];
            if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
                *o++ = '\\';
                ch = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\';
            }
            *o++ = ch;
        }
        k->len = (size_t)(o - k->buf);
    }
    if (sink_room(k, 1) != 0)
        return STORE_EIO;
    k->buf[k->len++] = '\n';
    return k->len >= COPY_CHUNK ? sink_flush(k) : 0;
}

/* Load table i; *rows the count the server reports. */
static int copy_table(store_copy_t *cp, PGconn *c, size_t i, sink_t *k, int64_t *rows)
{
    const store_copy_table_t *t = &cp->tables[i];
    char sql[1024];
    snprintf(sql, sizeof sql, "COPY %s (%s) FROM STDIN", t->name, t->cols);
    char what[128];
    snprintf(what, sizeof what, "loading table %s", t->name);
    PGresult *r = PQexec(c, sql);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        fail(cp, r, c, what);
        PQclear(r);
        return STORE_EIO;
    }
    PQclear(r);
    k->ncols = 1;
    for (const char *s = t->cols; *s; s++)
        k->ncols += *s == ',';
    k->len = 0;
    int rc = cp->src(cp->arg, i, put_row, k);
    if (rc == 0)
        rc = sink_flush(k);
    /* A source failure aborts the COPY (and so the transaction). */
    if (PQputCopyEnd(c, rc == 0 ? NULL : "the copy's source failed") != 1 && rc == 0)
        rc = STORE_EIO;
    int server_rc = 0;
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            *rows = strtoll(PQcmdTuples(r), NULL, 10);
        else if (server_rc == 0) {
            server_rc = STORE_EIO;
            if (rc == 0)
                fail(cp, r, c, what);
        }
        PQclear(r);
    }
    if (rc != 0 && !cp->why[0])
        snprintf(cp->why, sizeof cp->why, "%s: reading the source failed (see the log)",
                 what);
    return rc != 0 ? rc : server_rc;
}

/* The tables (and im_counter) that hold a row, into why; 0 when none. */
static int nonempty(store_copy_t *cp, PGconn *c, int *any)
{
    size_t cap = 128 + cp->n * 160;
    char *sql = malloc(cap);
    if (!sql)
        return STORE_EIO;
    size_t len = (size_t)snprintf(sql, cap,
                                  "SELECT 'im_counter' WHERE EXISTS(SELECT 1 FROM im_counter)");
    for (size_t i = 0; i < cp->n; i++)
        len += (size_t)snprintf(sql + len, cap - len,
                                " UNION ALL SELECT '%s' WHERE EXISTS(SELECT 1 FROM %s)",
                                cp->tables[i].name, cp->tables[i].name);
    PGresult *r = PQexec(c, sql);
    free(sql);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail(cp, r, c, "looking for existing data");
        PQclear(r);
        return STORE_EIO;
    }
    *any = PQntuples(r) > 0;
    if (*any) {
        size_t o = (size_t)snprintf(cp->why, sizeof cp->why,
                                    "the destination database already holds data (");
        for (int i = 0; i < PQntuples(r) && o < sizeof cp->why; i++)
            o += (size_t)snprintf(cp->why + o, sizeof cp->why - o, "%s%s", i ? ", " : "",
                                  PQgetvalue(r, i, 0));
        if (o < sizeof cp->why)
            snprintf(cp->why + o, sizeof cp->why - o,
                     "): copy only into a new, empty database");
    }
    PQclear(r);
    return 0;
}

/* Every counter from the data that carries its numbers ($1..$8: the
 * kinds; the last, each app's message bytes, is a sum, not a maximum).  A recall takes a message key as its sync key, so the app key
 * also covers the history's sync keys; a member row keeps the group
 * change sequence of its last change, so the group sequence covers them. */
static const char COUNTERS_SQL[] =
    "INSERT INTO im_counter(app_id, kind, k1, k2, value) "
    "SELECT app_id, $1::smallint, least(from_id, to_id), greatest(from_id, to_id), max(sequence) "
    "FROM im_message_body GROUP BY 1, 3, 4 "
    "UNION ALL SELECT app_id, $2::smallint, '', '', max(k) FROM ("
    "SELECT app_id, message_key AS k FROM im_message_body "
    "UNION ALL SELECT app_id, message_key FROM im_group_message "
    "UNION ALL SELECT app_id, sync_key FROM im_message_history) x GROUP BY 1 "
    "UNION ALL SELECT app_id, $3::smallint, owner_id, '', max(change_seq) FROM im_conversation "
    "GROUP BY 1, 3 "
    "UNION ALL SELECT app_id, $4::smallint, from_id, '', "
    "max(greatest(friend_sequence, black_sequence)) FROM im_friendship GROUP BY 1, 3 "
    "UNION ALL SELECT app_id, $5::smallint, to_id, '', max(sequence) FROM im_friendship_request "
    "GROUP BY 1, 3 "
    "UNION ALL SELECT app_id, $6::smallint, owner_id, '', max(sequence) FROM im_friend_group "
    "GROUP BY 1, 3 "
    "UNION ALL SELECT app_id, $7::smallint, '', '', max(s) FROM ("
    "SELECT app_id, sequence AS s FROM im_group "
    "UNION ALL SELECT app_id, sequence FROM im_group_member) g GROUP BY 1 "
    "UNION ALL SELECT app_id, $8::smallint, '', '', sum(n) FROM ("
    "SELECT app_id, octet_length(body) + coalesce(octet_length(extra), 0) AS n "
    "FROM im_message_body UNION ALL "
    "SELECT app_id, octet_length(body) + coalesce(octet_length(extra), 0) FROM im_group_message"
    ") b GROUP BY 1";

/* The next id of each identity column: past the largest copied one. */
static const char IDENTITY_SQL[] =
    "SELECT setval(pg_get_serial_sequence('im_friendship_request', 'id'), "
    "coalesce((SELECT max(id) FROM im_friendship_request), 0) + 1, false), "
    "setval(pg_get_serial_sequence('im_friend_group', 'id'), "
    "coalesce((SELECT max(id) FROM im_friend_group), 0) + 1, false), "
    "setval(pg_get_serial_sequence('im_group_request', 'id'), "
    "coalesce((SELECT max(id) FROM im_group_request), 0) + 1, false)";

static int set_numbers(store_copy_t *cp, PGconn *c)
{
    static const int kinds[] = {PGC_PAIR_SEQ,    PGC_APP_KEY,    PGC_CHANGE_SEQ,
                                PGC_FRIEND_SEQ,  PGC_REQUEST_SEQ, PGC_FGROUP_SEQ,
                                PGC_GROUP_SEQ,   PGC_APP_BYTES};
    char num[8][8];
    const char *p[8];
    for (int i = 0; i < 8; i++) {
        snprintf(num[i], sizeof num[i], "%d", kinds[i]);
        p[i] = num[i];
    }
    int rc = exec(cp, c, COUNTERS_SQL, 8, p, "setting the counters");
    if (rc == 0)
        rc = exec(cp, c, IDENTITY_SQL, 0, NULL, "setting the identity columns");
    return rc;
}

int pgx_copy_in(store_backend_t *be, store_copy_t *cp)
{
    cp->why[0] = 0;
    pgconn_t *pc = pgr_borrow(be);
    if (!pc) {
        snprintf(cp->why, sizeof cp->why, "cannot connect to the destination database");
        return STORE_EIO;
    }
    PGconn *c = pc->c;
    sink_t k = {.c = c};
    /* Whatever the database's encoding, the rows arrive as UTF-8. */
    int rc = exec(cp, c, "SET client_encoding = 'UTF8'", 0, NULL, "client encoding");
    if (rc == 0)
        rc = exec(cp, c, "BEGIN", 0, NULL, "begin");
    int any = 0;
    if (rc == 0 && (rc = nonempty(cp, c, &any)) == 0 && any)
        rc = STORE_ECONFLICT;
    for (size_t i = 0; rc == 0 && i < cp->n; i++) {
        cp->rows[i] = 0;
        rc = copy_table(cp, c, i, &k, &cp->rows[i]);
    }
    if (rc == 0)
        rc = set_numbers(cp, c);
    if (rc == 0 && cp->check) {
        be->copy = pc;
        rc = cp->check(cp->arg);
        be->copy = NULL;
    }
    if (rc == 0) {
        PGresult *r = PQexec(c, "COMMIT");
        /* COMMIT of an aborted transaction answers ROLLBACK without an error. */
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT")) {
            fail(cp, r, c, "commit");
            rc = STORE_EIO;
        }
        PQclear(r);
    } else if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    /* Statistics for the planner at once, rather than at autovacuum's pace. */
    if (rc == 0 && exec(cp, c, "ANALYZE", 0, NULL, "analyze") != 0) {
        LOGW("store pg copy: ANALYZE failed (autovacuum will do it)", NULL);
        cp->why[0] = 0;
    }
    free(k.buf);
    pgr_give_back(be, pc);
    return rc;
}
