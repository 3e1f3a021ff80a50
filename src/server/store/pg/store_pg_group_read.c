/*
 * PostgreSQL backend, group reads (groups.h) on the reader pool: groups,
 * members, joined groups and their sync, join requests, group messages
 * with read counts; and the row readers the group writer shares
 * (pgg_group_cols, ...).  The statements and orderings are those of
 * store_sqlite_group_read.c; ids are COLLATE "C", so ORDER BY an id is
 * SQLite's byte order.  The joined list and its total are read in one
 * snapshot, as SQLite reads them in one read transaction.
 */
#include "server/store/pg/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_SEQ "CASE WHEN m.role = 3 THEN m.sequence ELSE g.sequence END"
#define JOINED_FROM                                                                           \
    " FROM im_group_member m JOIN im_group g ON g.app_id = m.app_id AND g.group_id = m.group_id "
/* $3: the group types' bit mask (1 << type), 0 = any */
#define JOINED_WHERE                                                                          \
    "WHERE m.app_id = $1 AND m.member_id = $2 AND m.role <> 3 "                               \
    "AND ($3::int = 0 OR ((1 << g.group_type) & $3::int) <> 0) "
/* The read count (groups.h) counts only members who may read the message:
 * one who joined after it has read_seq past it without having seen it. */
#define MSG_COLS                                                                              \
    "x.message_key, x.sequence, x.message_time, x.message_random, x.created_at, x.from_id, "  \
    "x.message_id, CASE WHEN x.del_flag = 0 THEN x.body END, x.extra, x.del_flag, "           \
    "(SELECT count(*) FROM im_group_member r WHERE r.app_id = x.app_id "                      \
    "AND r.group_id = x.group_id AND r.member_id <> x.from_id AND r.read_seq >= x.sequence "  \
    "AND r.join_seq < x.sequence AND (r.role <> 3 OR r.leave_seq >= x.sequence)) "            \
    "FROM im_group_message x WHERE x.app_id = $1 AND x.group_id = $2 "                        \
    "AND x.sequence BETWEEN $3 AND $4 "

static pgq_t Q_GROUP_GET =
    PGQ("SELECT " PG_GCOLS("") " FROM im_group WHERE app_id = $1 AND group_id = $2");
static pgq_t Q_MEMBER_GET = PGQ("SELECT " PG_MCOLS("") " FROM im_group_member "
                                "WHERE app_id = $1 AND group_id = $2 AND member_id = $3");
static pgq_t Q_MEMBERS =
    PGQ("SELECT " PG_MCOLS("") " FROM im_group_member WHERE app_id = $1 AND group_id = $2 "
        "AND role <> 3 ORDER BY role = 2 DESC, role = 1 DESC, member_id");
/* In no particular order (a fan-out's recipients), as in SQLite: a sort
 * of thousands of ids per group message would cost more than the scan. */
static pgq_t Q_READERS =
    PGQ("SELECT member_id FROM im_group_member WHERE app_id = $1 AND group_id = $2 "
        "AND role <> 3 AND join_seq < $3");
static pgq_t Q_JOINED =
    PGQ("SELECT " PG_GCOLS("g.") ", " PG_MCOLS("m.") JOINED_FROM JOINED_WHERE
        "ORDER BY g.group_id LIMIT $4 OFFSET $5");
static pgq_t Q_JOINED_TOTAL = PGQ("SELECT count(*)" JOINED_FROM JOINED_WHERE);
static pgq_t Q_SYNC =
    PGQ("SELECT " PG_GCOLS("g.") ", " PG_MCOLS("m.") JOINED_FROM
        "WHERE m.app_id = $1 AND m.member_id = $2 AND " SYNC_SEQ " > $3 "
        "ORDER BY " SYNC_SEQ " LIMIT $4");
static pgq_t Q_SYNC_MAX =
    PGQ("SELECT coalesce(max(" SYNC_SEQ "), 0)" JOINED_FROM
        "WHERE m.app_id = $1 AND m.member_id = $2");
static pgq_t Q_REQUESTS =
    PGQ("SELECT " PG_RCOLS " FROM im_group_request WHERE app_id = $1 AND group_id = $2 "
        "AND ($3::int < 0 OR status = $3::int) ORDER BY id LIMIT 1000");
static pgq_t Q_MSGS_ASC = PGQ("SELECT " MSG_COLS "ORDER BY x.sequence ASC LIMIT $5");
static pgq_t Q_MSGS_DESC = PGQ("SELECT " MSG_COLS "ORDER BY x.sequence DESC LIMIT $5");

/* ---- row readers (shared with the writer) ----------------------------------------- */

#define TEXT(r, row, col, obj, field) pg_text(r, row, col, (obj)->field, sizeof (obj)->field)

int pgg_group_cols(const PGresult *r, int row, int c, store_group_t *g)
{
    memset(g, 0, sizeof *g);
    if (TEXT(r, row, c, g, group_id) || TEXT(r, row, c + 1, g, owner_id) ||
        TEXT(r, row, c + 3, g, group_name) || TEXT(r, row, c + 6, g, photo) ||
        TEXT(r, row, c + 8, g, introduction) || TEXT(r, row, c + 9, g, notification) ||
        TEXT(r, row, c + 16, g, extra))
        return STORE_EIO;
    g->group_type = pg_int(r, row, c + 2);
    g->mute = pg_int(r, row, c + 4);
    g->apply_join_type = pg_int(r, row, c + 5);
    g->max_member_count = pg_int(r, row, c + 7);
    g->status = pg_int(r, row, c + 10);
    g->sequence = pg_i64(r, row, c + 11);
    g->msg_seq = pg_i64(r, row, c + 12);
    g->member_count = pg_int(r, row, c + 13);
    g->create_time = pg_i64(r, row, c + 14);
    g->update_time = pg_i64(r, row, c + 15);
    return 0;
}

int pgg_member_cols(const PGresult *r, int row, int c, store_group_member_t *m)
{
    memset(m, 0, sizeof *m);
    if (TEXT(r, row, c, m, member_id) || TEXT(r, row, c + 3, m, alias) ||
        TEXT(r, row, c + 5, m, join_type) || TEXT(r, row, c + 11, m, extra))
        return STORE_EIO;
    m->role = pg_int(r, row, c + 1);
    m->speak_date = pg_i64(r, row, c + 2);
    m->join_time = pg_i64(r, row, c + 4);
    m->leave_time = pg_i64(r, row, c + 6);
    m->join_seq = pg_i64(r, row, c + 7);
    m->leave_seq = pg_i64(r, row, c + 8);
    m->read_seq = pg_i64(r, row, c + 9);
    m->sequence = pg_i64(r, row, c + 10);
    return 0;
}

int pgg_request_cols(const PGresult *r, int row, store_group_request_t *q)
{
    memset(q, 0, sizeof *q);
    q->id = pg_i64(r, row, 0);
    if (TEXT(r, row, 1, q, group_id) || TEXT(r, row, 2, q, from_id) ||
        TEXT(r, row, 3, q, wording) || TEXT(r, row, 5, q, handler_id))
        return STORE_EIO;
    q->status = pg_int(r, row, 4);
    q->create_time = pg_i64(r, row, 6);
    q->update_time = pg_i64(r, row, 7);
    return 0;
}

/* ---- readers ------------------------------------------------------------------------ */

typedef int (*grow_fn)(const PGresult *r, int row, void *dst);

/* Every row of r into a malloc'ed array (NULL when none); cleanup frees
 * an item's insides when a later row fails.  Clears r. */
static int gcollect(PGresult *r, size_t elem, grow_fn fn, void (*cleanup)(void *), void **out,
                    size_t *n)
{
    size_t len = (size_t)PQntuples(r);
    char *v = len ? malloc(len * elem) : NULL;
    int ret = len && !v ? STORE_EIO : 0;
    size_t done = 0;
    for (; ret == 0 && done < len; done++)
        if ((ret = fn(r, (int)done, v + done * elem)) != 0)
            break;
    PQclear(r);
    if (ret != 0) {
        for (size_t i = 0; cleanup && i < done; i++)
            cleanup(v + i * elem);
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

static int g_row(const PGresult *r, int row, void *dst)
{
    return pgg_group_cols(r, row, 0, dst);
}

static int m_row(const PGresult *r, int row, void *dst)
{
    return pgg_member_cols(r, row, 0, dst);
}

static int id_row(const PGresult *r, int row, void *dst)
{
    return pg_text(r, row, 0, dst, STORE_ID_MAX + 1);
}

static int joined_row(const PGresult *r, int row, void *dst)
{
    store_joined_t *j = dst;
    int rc = pgg_group_cols(r, row, 0, &j->g);
    return rc ? rc : pgg_member_cols(r, row, PG_NGCOLS, &j->m);
}

static int req_row(const PGresult *r, int row, void *dst)
{
    return pgg_request_cols(r, row, dst);
}

static void msg_cleanup(void *p)
{
    store_group_msg_row_t *m = p;
    free(m->body);
    free(m->extra);
}

static int msg_row(const PGresult *r, int row, void *dst)
{
    store_group_msg_row_t *m = dst;
    memset(m, 0, sizeof *m);
    m->message_key = pg_i64(r, row, 0);
    m->sequence = pg_i64(r, row, 1);
    m->message_time = pg_i64(r, row, 2);
    m->message_random = pg_i64(r, row, 3);
    m->created_at = pg_i64(r, row, 4);
    if (TEXT(r, row, 5, m, from_id) || TEXT(r, row, 6, m, message_id))
        return STORE_EIO;
    int err = 0;
    m->body = pg_dup(r, row, 7, &err);
    if (!err)
        m->extra = pg_dup(r, row, 8, &err);
    m->del_flag = pg_int(r, row, 9);
    m->read_count = pg_int(r, row, 10);
    if (err)
        msg_cleanup(m);
    return err;
}

/* Run q and read its one row with fn; STORE_ENOTFOUND when there is none. */
static int one(store_backend_t *be, pgq_t *q, const pgp_t *p, grow_fn fn, void *dst,
               const char *what)
{
    PGresult *r;
    int rc = pgr_query(be, q, p, &r, what);
    if (rc != 0)
        return rc;
    rc = PQntuples(r) > 0 ? fn(r, 0, dst) : STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

/* Run q and collect its rows into *out / *n. */
static int many(store_backend_t *be, pgq_t *q, pgp_t *p, size_t elem, grow_fn fn,
                void (*cleanup)(void *), void **out, size_t *n, const char *what)
{
    PGresult *r;
    int rc = pgr_query(be, q, p, &r, what);
    pgp_free(p);
    return rc != 0 ? rc : gcollect(r, elem, fn, cleanup, out, n);
}

int pgx_group_get(store_backend_t *be, int32_t app_id, const char *group_id, store_group_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, group_id);
    return one(be, &Q_GROUP_GET, &p, g_row, out, "group get");
}

int pgx_group_member_get(store_backend_t *be, int32_t app_id, const char *group_id,
                         const char *member_id, store_group_member_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, group_id);
    pgp_str(&p, member_id);
    return one(be, &Q_MEMBER_GET, &p, m_row, out, "group member get");
}

int pgx_group_members(store_backend_t *be, int32_t app_id, const char *group_id,
                      store_group_member_t **out, size_t *n)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, group_id);
    void *v = NULL;
    int rc = many(be, &Q_MEMBERS, &p, sizeof **out, m_row, NULL, &v, n, "group members");
    if (rc == 0)
        *out = v;
    return rc;
}

int pgx_group_readers(store_backend_t *be, int32_t app_id, const char *group_id, int64_t seq,
                      char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, group_id);
    pgp_i64(&p, seq);
    void *v = NULL;
    int rc = many(be, &Q_READERS, &p, sizeof **out, id_row, NULL, &v, n, "group readers");
    if (rc == 0)
        *out = v;
    return rc;
}

int pgx_group_joined(store_backend_t *be, int32_t app_id, const char *member_id, int all,
                     unsigned types, int64_t after_seq, int offset, int limit,
                     store_joined_t **out, size_t *n, int64_t *total)
{
    pgconn_t *c = pgr_borrow(be);
    if (!c)
        return STORE_EIO;
    int rc = pgr_snap_begin(be, c);
    PGresult *r = NULL;
    if (rc == 0) {
        pgp_t p = PGP_INIT;
        pgp_int(&p, app_id);
        pgp_str(&p, member_id);
        if (!all)
            pgp_i64(&p, types);
        rc = pgr_run(be, c, all ? &Q_SYNC_MAX : &Q_JOINED_TOTAL, &p, &r, "group joined total");
        if (rc == 0) {
            *total = pg_i64(r, 0, 0);
            PQclear(r);
        }
    }
    if (rc == 0) {
        pgp_t p = PGP_INIT;
        pgp_int(&p, app_id);
        pgp_str(&p, member_id);
        if (all) {
            pgp_i64(&p, after_seq);
            pgp_int(&p, limit);
        } else {
            pgp_i64(&p, types);
            pgp_int(&p, limit);
            pgp_int(&p, offset);
        }
        rc = pgr_run(be, c, all ? &Q_SYNC : &Q_JOINED, &p, &r, "group joined");
    }
    pgr_snap_end(be, c);
    pgr_give_back(be, c);
    void *v = NULL;
    if (rc == 0 && (rc = gcollect(r, sizeof **out, joined_row, NULL, &v, n)) == 0)
        *out = v;
    return rc;
}

int pgx_group_requests(store_backend_t *be, int32_t app_id, const char *group_id, int status,
                       store_group_request_t **out, size_t *n)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, group_id);
    pgp_int(&p, status);
    void *v = NULL;
    int rc = many(be, &Q_REQUESTS, &p, sizeof **out, req_row, NULL, &v, n, "group requests");
    if (rc == 0)
        *out = v;
    return rc;
}

int pgx_group_msgs(store_backend_t *be, int32_t app_id, const char *group_id, int64_t from_seq,
                   int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
                   store_group_msg_row_t **out, size_t *n)
{
    (void)lo;
    (void)hi; /* the front already intersected the bounds into [from, to] */
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, group_id);
    pgp_i64(&p, from_seq);
    pgp_i64(&p, to_seq);
    pgp_int(&p, limit);
    void *v = NULL;
    int rc = many(be, descending ? &Q_MSGS_DESC : &Q_MSGS_ASC, &p, sizeof **out, msg_row,
                  msg_cleanup, &v, n, "group messages");
    if (rc == 0)
        *out = v;
    return rc;
}
