/*
 * PostgreSQL backend: one-to-one messages and conversations (msg.h,
 * conv.h), the counterpart of store_sqlite_msg.c with the same outcomes.
 *
 * A new message is one round trip: the function petrel_msg_p2p (schema
 * version 2, store_pg_migrate.c) looks the message up (a resend writes
 * nothing and answers with the original), checks both users and, when the
 * send asks for it, the friendship rules (pgx_user_check and SQLite's
 * sqlx_msg_friend_check inlined: same reject codes, same order), and only
 * then takes its numbers from im_counter and writes the body, both
 * owners' history rows (sync_key = message_key: no deferred history
 * batches here) and both conversations.  The numbers: the app's message
 * key (floor = the proposed key, so keys follow commit order per app,
 * group messages included), the pair's sequence (next_seq's counter row)
 * and each owner's change_seq, all through petrel_next, pgw_next's rule.
 * A function rather than one statement: its plans are cached per
 * connection and it stops at a duplicate or refusal, which measured about
 * a third less server CPU per message than one data-modifying CTE.
 *
 * A run of queued messages (msg_p2p_batch) is one call of
 * petrel_msg_p2p_batch (schema version 3): the same outcome as the
 * messages one by one, from a handful of set-based statements for the
 * whole run.  When that call fails (another node stored one of the
 * messages or created one of the counter rows meanwhile: a unique
 * violation), its row savepoint is rolled back and the messages go one by
 * one through petrel_msg_p2p, each in a row savepoint of its own, so each
 * still gets its own outcome.
 *
 * The storage quota's count shared by the nodes (store_backend.h
 * app_bytes_add, schema version 4): each writer transaction that stored
 * messages adds their bytes to the app's PGC_APP_BYTES counter row and
 * reads the new value back, deferred to the COMMIT's round trip; the
 * store opens from that row (msg_bytes) rather than a scan.
 *
 * A read mark and a conversation update are one statement each: an
 * UPDATE whose guard ("does this change anything") is evaluated on the
 * latest row version, so writers on two nodes cannot undo each other; a
 * conversation row takes its owner's next change_seq only when it changes.
 * A recall locks the message (FOR UPDATE), checks it in C, then writes.
 * Reads run on the pool; a page and its max come from one statement, so
 * from one snapshot.
 */
#include "server/store/pg/store_pg_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The SQL here and petrel_msg_p2p (store_pg_migrate.c) name counters,
 * reject codes and message flags by value. */
_Static_assert(PGC_PAIR_SEQ == 1 && PGC_APP_KEY == 2 && PGC_CHANGE_SEQ == 3,
               "counter kinds used as literals");
#define SQL_LITERAL(name, v) _Static_assert((name) == (v), #name " is a literal in SQL")
SQL_LITERAL(PETREL_ERR_USER_NOT_FOUND, 20001);
SQL_LITERAL(PETREL_ERR_SENDER_FORBIDDEN, 62023);
SQL_LITERAL(PETREL_ERR_SENDER_SILENT, 50002);
SQL_LITERAL(PETREL_ERR_BLACKED_BY_YOU, 30006);
SQL_LITERAL(PETREL_ERR_BLACKED_BY_PEER, 30007);
SQL_LITERAL(PETREL_ERR_NOT_FRIEND, 30003);
_Static_assert(STORE_MSG_CHECK_FRIEND == 1 && STORE_MSG_CHECK_BLACK == 2,
               "message check flags used as literals");

/* ---- messages (writer) ---- */

/* One row: the duplicate's key, sequence, created_at, del_flag (NULL when
 * new), the reject code, the new key and sequence (NULL unless stored). */
static pgq_t Q_P2P = PGQ(
    "SELECT dup_key, dup_seq, dup_created, dup_del, reject, key, seq "
    "FROM petrel_msg_p2p($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");

/* The pair of two users in byte order (the counter row's k1 < k2). */
static void pair_order(const char **a, const char **b)
{
    if (strcmp(*a, *b) > 0) {
        const char *t = *a;
        *a = *b;
        *b = t;
    }
}

/* Row row of r, from column c on: dup_key, dup_seq, dup_created, dup_del,
 * reject, key, seq (petrel_msg_p2p's and petrel_msg_p2p_batch's outcome
 * columns) is one of the three outcomes; a row with no duplicate, no
 * refusal and no key cannot happen. */
static int p2p_row_ok(const PGresult *r, int row, int c)
{
    return !pg_isnull(r, row, c) || pg_int(r, row, c + 4) != 0 || !pg_isnull(r, row, c + 5);
}

/* m's outputs from a row that passed p2p_row_ok. */
static void p2p_outcome(const PGresult *r, int row, int c, store_msg_t *m, int64_t now_ms)
{
    if (!pg_isnull(r, row, c)) { /* a resend: the original, nothing written */
        m->message_key = pg_i64(r, row, c);
        m->sequence = pg_i64(r, row, c + 1);
        m->created_at = pg_i64(r, row, c + 2);
        m->del_flag = pg_int(r, row, c + 3);
        m->duplicate = 1;
    } else if (pg_int(r, row, c + 4) != 0) {
        m->reject = pg_int(r, row, c + 4);
    } else {
        m->message_key = pg_i64(r, row, c + 5);
        m->sequence = pg_i64(r, row, c + 6);
        m->created_at = now_ms;
    }
}

int pgx_msg_p2p(store_backend_t *be, store_msg_t *m, int64_t now_ms)
{
    const char *a = m->from_id, *b = m->to_id;
    pair_order(&a, &b);
    pgp_t p = PGP_INIT;
    pgp_int(&p, m->app_id);
    pgp_str(&p, m->from_id);
    pgp_str(&p, m->to_id);
    pgp_str(&p, m->message_id);
    pgp_str(&p, m->body);
    pgp_str(&p, m->extra);
    pgp_i64(&p, m->message_time);
    pgp_i64(&p, m->message_random);
    pgp_i64(&p, m->message_key);
    pgp_i64(&p, now_ms);
    pgp_int(&p, (int)m->flags);
    pgp_str(&p, a);
    pgp_str(&p, b);
    PGresult *r;
    int rc = pgw_run(be, &Q_P2P, &p, &r, "message store");
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1 || !p2p_row_ok(r, 0, 0))
        rc = STORE_EIO;
    else
        p2p_outcome(r, 0, 0, m, now_ms);
    PQclear(r);
    return rc;
}

/* One row per message, in input order: its index (from 1), then the
 * outcome columns of p2p_row_ok. */
static pgq_t Q_P2P_BATCH = PGQ(
    "SELECT o_idx, o_dup_key, o_dup_seq, o_dup_created, o_dup_del, o_reject, o_key, o_seq "
    "FROM petrel_msg_p2p_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");

/* The n messages through petrel_msg_p2p_batch; their outputs are set only
 * when the call succeeded and every row is sound. */
static int p2p_batch_call(store_backend_t *be, store_msg_t *const *ms, size_t n, int64_t now_ms)
{
    const char **sv = malloc(5 * n * sizeof *sv);
    int64_t *iv = malloc(5 * n * sizeof *iv);
    if (!sv || !iv) {
        free(sv);
        free(iv);
        return STORE_EIO;
    }
    /* Columns of the run: from, to, message_id, body, extra (text);
     * app, message_time, message_random, proposed key, flags (numbers). */
    for (size_t i = 0; i < n; i++) {
        const store_msg_t *m = ms[i];
        sv[i] = m->from_id;
        sv[n + i] = m->to_id;
        sv[2 * n + i] = m->message_id;
        sv[3 * n + i] = m->body;
        sv[4 * n + i] = m->extra;
        iv[i] = m->app_id;
        iv[n + i] = m->message_time;
        iv[2 * n + i] = m->message_random;
        iv[3 * n + i] = m->message_key;
        iv[4 * n + i] = (int64_t)m->flags;
    }
    pgp_t p = PGP_INIT;
    int rc = pgp_i64v(&p, iv, n);
    for (size_t c = 0; c < 5 && rc == 0; c++)
        rc = pgp_strv(&p, sv + c * n, n);
    for (size_t c = 1; c < 5 && rc == 0; c++)
        rc = pgp_i64v(&p, iv + c * n, n);
    free(sv);
    free(iv);
    PGresult *r = NULL;
    if (rc == 0) {
        pgp_i64(&p, now_ms);
        rc = pgw_run(be, &Q_P2P_BATCH, &p, &r, "message batch (then one by one)");
    }
    pgp_free(&p);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != (int)n)
        rc = STORE_EIO;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (pg_i64(r, (int)i, 0) != (int64_t)i + 1 || !p2p_row_ok(r, (int)i, 1))
            rc = STORE_EIO;
    for (size_t i = 0; i < n && rc == 0; i++)
        p2p_outcome(r, (int)i, 1, ms[i], now_ms);
    PQclear(r);
    return rc;
}

int pgx_msg_p2p_batch(store_backend_t *be, store_msg_t *const *ms, int *rcs, size_t n,
                      int64_t now_ms)
{
    int rc;
    if (n > 1) {
        if ((rc = pgw_row_begin(be)) != 0)
            return rc;
        if (p2p_batch_call(be, ms, n, now_ms) == 0) {
            for (size_t i = 0; i < n; i++)
                rcs[i] = 0;
            return pgw_row_end(be, 0);
        }
        if ((rc = pgw_row_end(be, 1)) != 0)
            return rc; /* the connection is gone: so is the transaction */
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = pgw_row_begin(be)) != 0)
            return rc;
        rcs[i] = pgx_msg_p2p(be, ms[i], now_ms);
        if ((rc = pgw_row_end(be, rcs[i] != 0)) != 0)
            return rc;
    }
    return 0;
}

int pgx_next_seq(store_backend_t *be, int32_t app_id, const char *user_a, const char *user_b,
                 int64_t *seq)
{
    /* petrel_msg_p2p takes the same counter row. */
    pair_order(&user_a, &user_b);
    return pgw_next(be, PGC_PAIR_SEQ, app_id, user_a, user_b, 1, seq);
}

static void conv_key(pgp_t *p, int32_t app_id, const char *owner, int type, const char *peer)
{
    pgp_int(p, app_id);
    pgp_str(p, owner);
    pgp_int(p, type);
    pgp_str(p, peer);
}

/* owner ($2) read the conversation with peer ($3) up to $4:
 * read_seq = min($4, last_seq) when that is ahead, with the owner's next
 * change_seq; then the peer's row (which shows owner's read position as
 * peerReadSequence) takes the peer's next one, if it exists.  The guard
 * is evaluated on the latest row version, so a read on another node never
 * moves read_seq back.  One row: found, read_seq after, changed. */
static pgq_t Q_MSG_READ = PGQ(
    "WITH cur AS (SELECT read_seq FROM im_conversation "
    "  WHERE app_id = $1 AND owner_id = $2 AND conversation_type = 0 AND peer_id = $3), "
    "o AS (UPDATE im_conversation SET read_seq = least($4, last_seq), "
    "  change_seq = petrel_next($1, 3::smallint, $2, '', 1), updated_at = $5 "
    "  WHERE app_id = $1 AND owner_id = $2 AND conversation_type = 0 AND peer_id = $3 "
    "   AND least($4, last_seq) > read_seq RETURNING read_seq), "
    "p AS (UPDATE im_conversation SET change_seq = petrel_next($1, 3::smallint, $3, '', 1), "
    "  updated_at = $5 WHERE app_id = $1 AND owner_id = $3 AND conversation_type = 0 "
    "   AND peer_id = $2 AND EXISTS (SELECT 1 FROM o)) "
    "SELECT EXISTS (SELECT 1 FROM cur), coalesce((SELECT read_seq FROM o), "
    " (SELECT read_seq FROM cur)), EXISTS (SELECT 1 FROM o)");

int pgx_msg_read(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                 int64_t seq, int64_t *read_seq, int *changed, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_str(&p, peer);
    pgp_i64(&p, seq);
    pgp_i64(&p, now_ms);
    PGresult *r;
    int rc = pgw_run(be, &Q_MSG_READ, &p, &r, "message read");
    if (rc != 0)
        return rc;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        rc = STORE_ENOTFOUND;
    } else {
        *read_seq = pg_i64(r, 0, 1);
        *changed = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    }
    PQclear(r);
    return rc;
}

/* is_top $5, is_mute $6, deleted $7: each 0/1 or -1 = keep.  Only a change
 * of a value takes the owner's next change_seq.  One row: found, the
 * change_seq before, the new one (NULL when nothing changed). */
static pgq_t Q_CONV_UPDATE = PGQ(
    "WITH cur AS (SELECT change_seq FROM im_conversation "
    "  WHERE app_id = $1 AND owner_id = $2 AND conversation_type = $3 AND peer_id = $4), "
    "u AS (UPDATE im_conversation SET "
    "  is_top = CASE WHEN $5 >= 0 THEN $5 ELSE is_top END, "
    "  is_mute = CASE WHEN $6 >= 0 THEN $6 ELSE is_mute END, "
    "  deleted = CASE WHEN $7 >= 0 THEN $7 ELSE deleted END, "
    "  change_seq = petrel_next($1, 3::smallint, $2, '', 1), updated_at = $8 "
    "  WHERE app_id = $1 AND owner_id = $2 AND conversation_type = $3 AND peer_id = $4 "
    "   AND (($5 >= 0 AND $5 <> is_top) OR ($6 >= 0 AND $6 <> is_mute) "
    "    OR ($7 >= 0 AND $7 <> deleted)) RETURNING change_seq) "
    "SELECT EXISTS (SELECT 1 FROM cur), (SELECT change_seq FROM cur), "
    " (SELECT change_seq FROM u)");

int pgx_conv_update(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int type, int is_top, int is_mute, int deleted, int64_t *change_seq,
                    int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    conv_key(&p, app_id, owner, type, peer);
    pgp_int(&p, is_top);
    pgp_int(&p, is_mute);
    pgp_int(&p, deleted);
    pgp_i64(&p, now_ms);
    PGresult *r;
    int rc = pgw_run(be, &Q_CONV_UPDATE, &p, &r, "conversation update");
    if (rc != 0)
        return rc;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        rc = STORE_ENOTFOUND;
    else
        *change_seq = pg_i64(r, 0, pg_isnull(r, 0, 2) ? 1 : 2);
    PQclear(r);
    return rc;
}

/* Locked until the commit, so two recalls of one message queue. */
static pgq_t Q_MSG_BY_KEY = PGQ(
    "SELECT from_id, to_id, sequence, created_at, del_flag FROM im_message_body "
    "WHERE app_id = $1 AND message_key = $2 FOR UPDATE");

/* $1 app, $2 key, $3 from, $4 to, $5 now, $6 sequence.  The message is
 * recalled; both owners' history rows move to the app's next message key
 * as their sync key (a device that synced past the message meets it
 * again, recalled); both conversations take their owner's next
 * change_seq.  Returns the sync key. */
static pgq_t Q_RECALL = PGQ(
    "WITH sk AS (SELECT petrel_next($1, 2::smallint, '', '', 0) AS value), "
    "b AS (UPDATE im_message_body SET del_flag = 1, recalled_at = $5 "
    "  WHERE app_id = $1 AND message_key = $2 AND del_flag = 0), "
    "h AS (UPDATE im_message_history h SET sync_key = sk.value FROM sk "
    "  WHERE h.app_id = $1 AND (h.owner_id, h.peer_id) IN (($3, $4), ($4, $3)) "
    "   AND h.sequence = $6), "
    "c AS (UPDATE im_conversation SET change_seq = petrel_next($1, 3::smallint, owner_id, '', 1), "
    "  updated_at = $5 WHERE app_id = $1 AND conversation_type = 0 "
    "   AND (owner_id, peer_id) IN (($3, $4), ($4, $3))) "
    "SELECT value FROM sk");

int pgx_msg_recall(store_backend_t *be, int32_t app_id, int64_t message_key,
                   const char *requester, int is_admin, int64_t now_ms, int64_t window_ms,
                   store_recall_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_i64(&p, message_key);
    PGresult *r;
    int rc = pgw_run(be, &Q_MSG_BY_KEY, &p, &r, "message get");
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        out->reject = PETREL_ERR_MSG_NOT_FOUND;
        return 0;
    }
    if (pg_text(r, 0, 0, out->from_id, sizeof out->from_id) != 0 ||
        pg_text(r, 0, 1, out->to_id, sizeof out->to_id) != 0) {
        PQclear(r);
        return STORE_EIO;
    }
    out->sequence = pg_i64(r, 0, 2);
    int64_t created_at = pg_i64(r, 0, 3);
    int del = pg_int(r, 0, 4);
    PQclear(r);

    if (!is_admin && strcmp(requester, out->from_id) != 0)
        out->reject = PETREL_ERR_NOT_OPERATOR;
    else if (del)
        out->reject = PETREL_ERR_RECALLED;
    else if (now_ms - created_at > window_ms)
        out->reject = PETREL_ERR_RECALL_TIMEOUT;
    if (out->reject != 0)
        return 0;

    p = (pgp_t)PGP_INIT;
    pgp_int(&p, app_id);
    pgp_i64(&p, message_key);
    pgp_str(&p, out->from_id);
    pgp_str(&p, out->to_id);
    pgp_i64(&p, now_ms);
    pgp_i64(&p, out->sequence);
    return pgw_run(be, &Q_RECALL, &p, NULL, "message recall");
}

/* ---- the storage quota's shared count (writer) ---- */

/* Once per transaction and app, after its last op: the counter row is
 * moved by what the transaction stored and its new value read back, in
 * the COMMIT's round trip (deferred).  The writer's advisory lock
 * serializes every node's transactions, so the value is every node's
 * bytes up to this commit.  An upsert: an app made after the migration
 * has no row yet (its only statement on this row in the transaction, so
 * no MultiXact; see petrel_next). */
static pgq_t Q_APP_BYTES_ADD = PGQ(
    "INSERT INTO im_counter(app_id, kind, k1, k2, value) VALUES ($1, $2::smallint, '', '', $3) "
    "ON CONFLICT (app_id, kind, k1, k2) DO UPDATE SET value = im_counter.value + EXCLUDED.value "
    "RETURNING value");

int pgx_app_bytes_add(store_backend_t *be, int32_t app_id, int64_t delta, int64_t *total)
{
    pgp_t p = PGP_INIT; /* libpq copies the values when it queues the statement */
    pgp_int(&p, app_id);
    pgp_int(&p, PGC_APP_BYTES);
    pgp_i64(&p, delta);
    return pgw_defer_i64(be, &Q_APP_BYTES_ADD, &p, total, "app message bytes");
}

/* ---- reads (pool) ---- */

/* The app's message bytes: its PGC_APP_BYTES counter row (schema
 * version 4), kept by every node's writer (pgx_app_bytes_add); no row = 0. */
static pgq_t Q_MSG_BYTES = PGQ(
    "SELECT coalesce((SELECT value FROM im_counter WHERE app_id = $1 AND kind = $2::smallint "
    "AND k1 = '' AND k2 = ''), 0)");

int pgx_msg_bytes(store_backend_t *be, int32_t app_id, int64_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_int(&p, PGC_APP_BYTES);
    PGresult *r;
    int rc = pgr_query(be, &Q_MSG_BYTES, &p, &r, "message bytes");
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return STORE_EIO;
    }
    *out = pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* A message row as its owner sees it (msg_row's column order).  A
 * recalled body is never read out. */
#define MSG_COLS                                                                    \
    "b.message_key, h.sequence, b.message_time, b.message_random, b.created_at, "   \
    "b.from_id, b.to_id, b.message_id, CASE WHEN b.del_flag = 0 THEN b.body END, "  \
    "b.extra, b.del_flag, h.sync_key "                                              \
    "FROM im_message_history h JOIN im_message_body b "                             \
    "ON b.app_id = h.app_id AND b.message_key = h.message_key "
#define MSG_HISTORY_WHERE                                                           \
    "WHERE h.app_id = $1 AND h.owner_id = $2 AND h.peer_id = $3 "                   \
    "AND h.sequence BETWEEN $4 AND $5 "

/* Two statements rather than a bound direction: ORDER BY cannot take a
 * parameter; both walk the history primary key. */
static pgq_t Q_HISTORY_ASC =
    PGQ("SELECT " MSG_COLS MSG_HISTORY_WHERE "ORDER BY h.sequence ASC LIMIT $6");
static pgq_t Q_HISTORY_DESC =
    PGQ("SELECT " MSG_COLS MSG_HISTORY_WHERE "ORDER BY h.sequence DESC LIMIT $6");

/* Everything the owner sent or received after a sync key, and the owner's
 * largest sync key, from one snapshot: one row with NULL columns after the
 * first when the page is empty. */
static pgq_t Q_SYNC = PGQ(
    "SELECT m.mx, r.* FROM (SELECT coalesce(max(sync_key), 0) AS mx FROM im_message_history "
    "  WHERE app_id = $1 AND owner_id = $2) m "
    "LEFT JOIN (SELECT " MSG_COLS "WHERE h.app_id = $1 AND h.owner_id = $2 "
    "  AND h.sync_key > $3 ORDER BY h.sync_key LIMIT $4) r ON true "
    "ORDER BY r.sync_key");

static pgq_t Q_MSG_HEAD = PGQ(
    "SELECT message_key, sequence, message_time, message_random, created_at, from_id, "
    "to_id, message_id, NULL, NULL, del_flag, message_key FROM im_message_body "
    "WHERE app_id = $1 AND message_key = $2");

static void msg_row_cleanup(store_msg_row_t *m)
{
    free(m->body);
    free(m->extra);
}

/* Row i of r, columns from c on in MSG_COLS order. */
static int msg_row(const PGresult *r, int i, int c, store_msg_row_t *m)
{
    memset(m, 0, sizeof *m);
    m->message_key = pg_i64(r, i, c);
    m->sequence = pg_i64(r, i, c + 1);
    m->message_time = pg_i64(r, i, c + 2);
    m->message_random = pg_i64(r, i, c + 3);
    m->created_at = pg_i64(r, i, c + 4);
    if (pg_text(r, i, c + 5, m->from_id, sizeof m->from_id) != 0 ||
        pg_text(r, i, c + 6, m->to_id, sizeof m->to_id) != 0 ||
        pg_text(r, i, c + 7, m->message_id, sizeof m->message_id) != 0)
        return STORE_EIO;
    int err = 0;
    m->body = pg_dup(r, i, c + 8, &err);
    if (err == 0)
        m->extra = pg_dup(r, i, c + 9, &err);
    m->del_flag = pg_int(r, i, c + 10);
    m->sync_key = pg_i64(r, i, c + 11);
    if (err != 0)
        msg_row_cleanup(m);
    return err;
}

/* Rows [first, PQntuples) of r, columns from c on, into a malloc'ed array
 * (NULL when empty). */
static int msg_rows(const PGresult *r, int first, int c, store_msg_row_t **out, size_t *n)
{
    int nt = PQntuples(r);
    *out = NULL;
    *n = 0;
    if (nt <= first)
        return 0;
    store_msg_row_t *v = calloc((size_t)(nt - first), sizeof *v);
    if (!v)
        return STORE_EIO;
    size_t len = 0;
    for (int i = first; i < nt; i++) {
        int rc = msg_row(r, i, c, &v[len]);
        if (rc != 0) {
            store_msg_rows_free(v, len);
            return rc;
        }
        len++;
    }
    *out = v;
    *n = len;
    return 0;
}

int pgx_msg_history(store_backend_t *be, int32_t app_id, const char *owner, const char *peer,
                    int64_t from_seq, int64_t to_seq, int limit, int descending,
                    store_msg_row_t **out, size_t *n)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_str(&p, peer);
    pgp_i64(&p, from_seq);
    pgp_i64(&p, to_seq);
    pgp_int(&p, limit);
    PGresult *r;
    int rc = pgr_query(be, descending ? &Q_HISTORY_DESC : &Q_HISTORY_ASC, &p, &r,
                       "message history");
    if (rc != 0)
        return rc;
    rc = msg_rows(r, 0, 0, out, n);
    PQclear(r);
    return rc;
}

int pgx_msg_sync(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_key,
                 int limit, store_msg_row_t **out, size_t *n, int64_t *max_key)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_i64(&p, after_key);
    pgp_int(&p, limit);
    PGresult *r;
    int rc = pgr_query(be, &Q_SYNC, &p, &r, "message sync");
    if (rc != 0)
        return rc;
    if (PQntuples(r) < 1) {
        PQclear(r);
        return STORE_EIO;
    }
    *max_key = pg_i64(r, 0, 0);
    /* An empty page is the one row with a NULL message. */
    rc = msg_rows(r, pg_isnull(r, 0, 1) ? 1 : 0, 1, out, n);
    PQclear(r);
    if (rc != 0)
        *max_key = 0;
    return rc;
}

int pgx_msg_head(store_backend_t *be, int32_t app_id, int64_t message_key,
                 store_msg_row_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_i64(&p, message_key);
    PGresult *r;
    int rc = pgr_query(be, &Q_MSG_HEAD, &p, &r, "message head");
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0)
        rc = STORE_ENOTFOUND;
    else
        rc = msg_row(r, 0, 0, out);
    PQclear(r);
    return rc;
}

/* ---- conversations (pool) ---- */

/* A group conversation (type 1) is not rewritten for every message of the
 * group (read diffusion): its last_seq is the group's msg_seq, or the
 * member's leave_seq once left, and its read_seq the member's read
 * sequence.  The last column is, for a one-to-one conversation, how far
 * the peer has read it (the peer's own row's read_seq). */
#define CONV_COLS                                                                   \
    "v.peer_id, v.conversation_type, CASE WHEN v.conversation_type = 1 THEN coalesce((" \
    "SELECT coalesce(m.leave_seq, g.msg_seq) FROM im_group g JOIN im_group_member m " \
    "ON m.app_id = g.app_id AND m.group_id = g.group_id AND m.member_id = v.owner_id " \
    "WHERE g.app_id = v.app_id AND g.group_id = v.peer_id), v.last_seq) "           \
    "ELSE v.last_seq END, "                                                         \
    "CASE WHEN v.conversation_type = 1 THEN coalesce((SELECT m.read_seq "           \
    "FROM im_group_member m WHERE m.app_id = v.app_id AND m.group_id = v.peer_id "  \
    "AND m.member_id = v.owner_id), v.read_seq) ELSE v.read_seq END, "              \
    "v.change_seq, v.updated_at, v.is_top, v.is_mute, v.deleted, "                  \
    "CASE WHEN v.conversation_type = 0 THEN coalesce((SELECT p.read_seq "           \
    "FROM im_conversation p WHERE p.app_id = v.app_id AND p.owner_id = v.peer_id "  \
    "AND p.conversation_type = 0 AND p.peer_id = v.owner_id), 0) ELSE 0 END"

/* The owner's conversations changed after a change_seq, and the owner's
 * largest change_seq, from one snapshot (an empty page: one row with NULL
 * columns after the first). */
static pgq_t Q_CONV_LIST = PGQ(
    "SELECT m.mx, r.* FROM (SELECT coalesce(max(change_seq), 0) AS mx FROM im_conversation "
    "  WHERE app_id = $1 AND owner_id = $2) m "
    "LEFT JOIN (SELECT " CONV_COLS " FROM im_conversation v "
    "  WHERE v.app_id = $1 AND v.owner_id = $2 AND v.change_seq > $3 "
    "  ORDER BY v.change_seq LIMIT $4) r ON true "
    "ORDER BY r.change_seq");

static pgq_t Q_CONV_GET = PGQ(
    "SELECT " CONV_COLS " FROM im_conversation v "
    "WHERE v.app_id = $1 AND v.owner_id = $2 AND v.conversation_type = $3 AND v.peer_id = $4");

/* Row i of r, columns from c on in CONV_COLS order. */
static int conv_row(const PGresult *r, int i, int c, store_conv_t *v)
{
    memset(v, 0, sizeof *v);
    if (pg_text(r, i, c, v->peer_id, sizeof v->peer_id) != 0)
        return STORE_EIO;
    v->conversation_type = pg_int(r, i, c + 1);
    v->last_seq = pg_i64(r, i, c + 2);
    v->read_seq = pg_i64(r, i, c + 3);
    v->change_seq = pg_i64(r, i, c + 4);
    v->updated_at = pg_i64(r, i, c + 5);
    v->is_top = pg_int(r, i, c + 6);
    v->is_mute = pg_int(r, i, c + 7);
    v->deleted = pg_int(r, i, c + 8);
    v->peer_read_seq = pg_i64(r, i, c + 9);
    return 0;
}

int pgx_conv_list(store_backend_t *be, int32_t app_id, const char *owner,
                  int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                  int64_t *max_change_seq)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_i64(&p, after_change_seq);
    pgp_int(&p, limit);
    PGresult *r;
    int rc = pgr_query(be, &Q_CONV_LIST, &p, &r, "conversation list");
    if (rc != 0)
        return rc;
    int nt = PQntuples(r);
    if (nt < 1) {
        PQclear(r);
        return STORE_EIO;
    }
    int first = pg_isnull(r, 0, 1) ? 1 : 0; /* an empty page: the one row with a NULL peer */
    store_conv_t *v = NULL;
    if (nt > first && !(v = calloc((size_t)(nt - first), sizeof *v)))
        rc = STORE_EIO;
    for (int i = first; i < nt && rc == 0; i++)
        rc = conv_row(r, i, 1, &v[i - first]);
    if (rc == 0) {
        *out = v;
        *n = (size_t)(nt - first);
        *max_change_seq = pg_i64(r, 0, 0);
    } else {
        free(v);
    }
    PQclear(r);
    return rc;
}

int pgx_conv_get(store_backend_t *be, int32_t app_id, const char *owner, int type,
                 const char *peer, store_conv_t *out)
{
    pgp_t p = PGP_INIT;
    conv_key(&p, app_id, owner, type, peer);
    PGresult *r;
    int rc = pgr_query(be, &Q_CONV_GET, &p, &r, "conversation get");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 0 ? STORE_ENOTFOUND : conv_row(r, 0, 0, out);
    PQclear(r);
    return rc;
}
