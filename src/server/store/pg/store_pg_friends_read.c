/*
 * PostgreSQL backend: friendship reads (friends.h) on the reader pool:
 * relations, requests, friend lists, sequences, status peers, blacklists,
 * and the row parsers the writer shares (pgx_friend_row, pgx_request_row).
 * Same rows, orderings and maxima as store_sqlite_friends_read.c.
 *
 * A sync page and its owner's maximum sequence must come from one
 * snapshot: here they are one statement (the maximum LEFT JOINed to the
 * page, so it comes back even when the page is empty), and a friend-list
 * page brings its members along (one row per list and member), so every
 * read is one round trip without an explicit read transaction.
 */
#include "server/store/pg/store_pg_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A friendship row with the peer's nickname (pgx_friend_row's order). */
#define FR_COLS                                                                     \
    "f.from_id, f.to_id, f.remark, f.status, f.black, f.add_source, f.extra, "      \
    "f.friend_sequence, f.black_sequence, f.create_time, coalesce(u.nick_name, '') " \
    "FROM im_friendship f LEFT JOIN im_user u "                                     \
    "ON u.app_id = f.app_id AND u.user_id = f.to_id "
#define REQ_COLS                                                                   \
    "id, from_id, to_id, remark, read_status, add_source, add_wording, "           \
    "approve_status, create_time, update_time, sequence"

static pgq_t Q_FR_GET =
    PGQ("SELECT " FR_COLS "WHERE f.app_id = $1 AND f.from_id = $2 AND f.to_id = $3");
/* Pages: column 0 is the owner's maximum, the row's columns follow (NULL
 * in the one row of an empty page). */
static pgq_t Q_FR_LIST = PGQ(
    "SELECT m.mx, p.* FROM (SELECT coalesce(max(friend_sequence), 0) AS mx FROM im_friendship "
    "WHERE app_id = $1 AND from_id = $2) m LEFT JOIN LATERAL (SELECT " FR_COLS
    "WHERE f.app_id = $1 AND f.from_id = $2 AND f.friend_sequence > $3 "
    "ORDER BY f.friend_sequence LIMIT $4) p ON true ORDER BY p.friend_sequence");
static pgq_t Q_FR_ALL = PGQ("SELECT " FR_COLS "WHERE f.app_id = $1 AND f.from_id = $2 "
                            "AND f.status = 1 ORDER BY f.to_id");
static pgq_t Q_RQ_LIST = PGQ(
    "SELECT m.mx, p.* FROM (SELECT coalesce(max(sequence), 0) AS mx "
    "FROM im_friendship_request WHERE app_id = $1 AND to_id = $2) m "
    "LEFT JOIN LATERAL (SELECT " REQ_COLS " FROM im_friendship_request "
    "WHERE app_id = $1 AND to_id = $2 AND sequence > $3 ORDER BY sequence LIMIT $4) p ON true "
    "ORDER BY p.sequence");
/* A friend-list page: one row per (list, member), a list without members
 * once with a NULL member. */
static pgq_t Q_FG_LIST = PGQ(
    "SELECT m.mx, g.id, g.name, g.sequence, g.del_flag, g.create_time, g.update_time, gm.to_id "
    "FROM (SELECT coalesce(max(sequence), 0) AS mx FROM im_friend_group "
    "WHERE app_id = $1 AND owner_id = $2) m "
    "LEFT JOIN LATERAL (SELECT id, name, sequence, del_flag, create_time, update_time "
    "FROM im_friend_group WHERE app_id = $1 AND owner_id = $2 AND sequence > $3 "
    "ORDER BY sequence LIMIT $4) g ON true "
    "LEFT JOIN im_friend_group_member gm ON gm.group_id = g.id "
    "ORDER BY g.sequence, gm.to_id");
static pgq_t Q_SEQS = PGQ(
    "SELECT (SELECT coalesce(max(friend_sequence), 0) FROM im_friendship "
    "WHERE app_id = $1 AND from_id = $2), "
    "(SELECT coalesce(max(sequence), 0) FROM im_friendship_request "
    "WHERE app_id = $1 AND to_id = $2), "
    "(SELECT coalesce(max(sequence), 0) FROM im_friend_group "
    "WHERE app_id = $1 AND owner_id = $2)");
/* Status peers (users.h): both directions live and unblocked. */
static pgq_t Q_STATUS_PEERS = PGQ(
    "SELECT f.to_id, coalesce(s.custom_text, ''), coalesce(s.custom_status, 0), "
    "coalesce(s.updated_at, 0) FROM im_friendship f JOIN im_friendship r "
    "ON r.app_id = f.app_id AND r.from_id = f.to_id AND r.to_id = f.from_id "
    "LEFT JOIN im_user_status s ON s.app_id = f.app_id AND s.user_id = f.to_id "
    "WHERE f.app_id = $1 AND f.from_id = $2 AND f.status = 1 AND f.black = 1 "
    "AND r.status = 1 AND r.black = 1 ORDER BY f.to_id");
static pgq_t Q_BLACKED = PGQ("SELECT to_id FROM im_friendship "
                             "WHERE app_id = $1 AND from_id = $2 AND black = 2 ORDER BY to_id");

/* ---- rows ---- */

int pgx_friend_row(const PGresult *r, int row, int col, store_friend_t *f)
{
    memset(f, 0, sizeof *f);
    if (pg_text(r, row, col, f->from_id, sizeof f->from_id) != 0 ||
        pg_text(r, row, col + 1, f->to_id, sizeof f->to_id) != 0 ||
        pg_text(r, row, col + 2, f->remark, sizeof f->remark) != 0 ||
        pg_text(r, row, col + 5, f->add_source, sizeof f->add_source) != 0 ||
        pg_text(r, row, col + 6, f->extra, sizeof f->extra) != 0 ||
        pg_text(r, row, col + 10, f->nick_name, sizeof f->nick_name) != 0) {
        LOGE("store friendship row has an oversized text column", NULL);
        return STORE_EIO;
    }
    f->status = pg_int(r, row, col + 3);
    f->black = pg_int(r, row, col + 4);
    f->friend_sequence = pg_i64(r, row, col + 7);
    f->black_sequence = pg_i64(r, row, col + 8);
    f->create_time = pg_i64(r, row, col + 9);
    return 0;
}

int pgx_request_row(const PGresult *r, int row, int col, store_friend_request_t *q)
{
    memset(q, 0, sizeof *q);
    q->id = pg_i64(r, row, col);
    if (pg_text(r, row, col + 1, q->from_id, sizeof q->from_id) != 0 ||
        pg_text(r, row, col + 2, q->to_id, sizeof q->to_id) != 0 ||
        pg_text(r, row, col + 3, q->remark, sizeof q->remark) != 0 ||
        pg_text(r, row, col + 5, q->add_source, sizeof q->add_source) != 0 ||
        pg_text(r, row, col + 6, q->add_wording, sizeof q->add_wording) != 0) {
        LOGE("store friend request row has an oversized text column", NULL);
        return STORE_EIO;
    }
    q->read_status = pg_int(r, row, col + 4);
    q->approve_status = pg_int(r, row, col + 7);
    q->create_time = pg_i64(r, row, col + 8);
    q->update_time = pg_i64(r, row, col + 9);
    q->sequence = pg_i64(r, row, col + 10);
    return 0;
}

static int friend_fn(const PGresult *r, int row, int col, void *dst)
{
    return pgx_friend_row(r, row, col, dst);
}

static int request_fn(const PGresult *r, int row, int col, void *dst)
{
    return pgx_request_row(r, row, col, dst);
}

static int id_fn(const PGresult *r, int row, int col, void *dst)
{
    if (pg_text(r, row, col, dst, STORE_ID_MAX + 1) != 0) {
        LOGE("store friendship row has an oversized id", NULL);
        return STORE_EIO;
    }
    return 0;
}

static int status_fn(const PGresult *r, int row, int col, void *dst)
{
    store_user_status_t *u = dst;
    memset(u, 0, sizeof *u);
    if (pg_text(r, row, col, u->user_id, sizeof u->user_id) != 0 ||
        pg_text(r, row, col + 1, u->custom_text, sizeof u->custom_text) != 0) {
        LOGE("store user status row has an oversized text column", NULL);
        return STORE_EIO;
    }
    u->custom_status = pg_int(r, row, col + 2);
    u->updated_at = pg_i64(r, row, col + 3);
    return 0;
}

typedef int (*row_fn)(const PGresult *r, int row, int col, void *dst);

/* Every row of r, each from column col, into a malloc'ed array of
 * elem-sized items (*out NULL when there are none). */
static int collect(const PGresult *r, int col, size_t elem, row_fn fn, void **out, size_t *n)
{
    size_t len = (size_t)PQntuples(r);
    char *v = NULL;
    if (len > 0 && !(v = calloc(len, elem)))
        return STORE_EIO;
    for (size_t i = 0; i < len; i++) {
        int rc = fn(r, (int)i, col, v + i * elem);
        if (rc != 0) {
            free(v);
            return rc;
        }
    }
    *out = v;
    *n = len;
    return 0;
}

/* Run q (app_id, owner) and collect every row from column 0. */
static int query_rows(store_backend_t *be, pgq_t *q, int32_t app_id, const char *owner,
                      size_t elem, row_fn fn, void **out, size_t *n, const char *what)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    PGresult *r;
    int rc = pgr_query(be, q, &p, &r, what);
    if (rc != 0)
        return rc;
    rc = collect(r, 0, elem, fn, out, n);
    PQclear(r);
    return rc;
}

/* Run a page statement (app_id, owner, after, limit): *r its result,
 * *max_seq column 0, *empty when the page has no row. */
static int page_run(store_backend_t *be, pgq_t *q, int32_t app_id, const char *owner,
                    int64_t after, int limit, PGresult **r, int64_t *max_seq, int *empty,
                    const char *what)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_i64(&p, after);
    pgp_int(&p, limit);
    int rc = pgr_query(be, q, &p, r, what);
    if (rc != 0)
        return rc;
    if (PQntuples(*r) < 1) { /* the maximum always gives one row */
        PQclear(*r);
        *r = NULL;
        return STORE_EIO;
    }
    *max_seq = pg_i64(*r, 0, 0);
    *empty = pg_isnull(*r, 0, 1);
    return 0;
}

/* A page of rows (columns from 1) and the owner's maximum. */
static int seq_page(store_backend_t *be, pgq_t *q, int32_t app_id, const char *owner,
                    int64_t after, int limit, size_t elem, row_fn fn, void **out, size_t *n,
                    int64_t *max_seq, const char *what)
{
    PGresult *r;
    int empty;
    int rc = page_run(be, q, app_id, owner, after, limit, &r, max_seq, &empty, what);
    if (rc != 0)
        return rc;
    if (!empty)
        rc = collect(r, 1, elem, fn, out, n);
    PQclear(r);
    if (rc != 0)
        *max_seq = 0;
    return rc;
}

/* ---- reads ---- */

int pgx_friend_get(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                   store_friend_t *out)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, from_id);
    pgp_str(&p, to_id);
    PGresult *r;
    int rc = pgr_query(be, &Q_FR_GET, &p, &r, "friendship get");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 1 ? pgx_friend_row(r, 0, 0, out) : STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

int pgx_friend_list(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                    int limit, store_friend_t **out, size_t *n, int64_t *max_seq)
{
    void *v = NULL;
    int rc = seq_page(be, &Q_FR_LIST, app_id, owner, after_seq, limit, sizeof(store_friend_t),
                      friend_fn, &v, n, max_seq, "friendship list");
    if (rc == 0)
        *out = v;
    return rc;
}

int pgx_friend_all(store_backend_t *be, int32_t app_id, const char *owner, store_friend_t **out,
                   size_t *n)
{
    void *v = NULL;
    int rc = query_rows(be, &Q_FR_ALL, app_id, owner, sizeof(store_friend_t), friend_fn, &v, n,
                        "friendship all");
    if (rc == 0)
        *out = v;
    return rc;
}

int pgx_friend_requests(store_backend_t *be, int32_t app_id, const char *to_id,
                        int64_t after_seq, int limit, store_friend_request_t **out, size_t *n,
                        int64_t *max_seq)
{
    void *v = NULL;
    int rc = seq_page(be, &Q_RQ_LIST, app_id, to_id, after_seq, limit,
                      sizeof(store_friend_request_t), request_fn, &v, n, max_seq,
                      "friend request list");
    if (rc == 0)
        *out = v;
    return rc;
}

/* The lists of a Q_FG_LIST result (not empty) with their members. */
static int groups_of(const PGresult *r, store_friend_group_t **out, size_t *n)
{
    int rows = PQntuples(r);
    size_t ng = 0;
    for (int i = 0; i < rows; i++)
        ng += i == 0 || pg_i64(r, i, 1) != pg_i64(r, i - 1, 1);
    store_friend_group_t *g = calloc(ng, sizeof *g);
    if (!g)
        return STORE_EIO;
    int rc = 0;
    size_t k = 0;
    for (int i = 0; rc == 0 && i < rows; k++) {
        store_friend_group_t *x = &g[k];
        int end = i + 1;
        while (end < rows && pg_i64(r, end, 1) == pg_i64(r, i, 1))
            end++;
        x->id = pg_i64(r, i, 1);
        if (pg_text(r, i, 2, x->name, sizeof x->name) != 0) {
            LOGE("store friend list row has an oversized name", NULL);
            rc = STORE_EIO;
            break;
        }
        x->sequence = pg_i64(r, i, 3);
        x->del_flag = pg_int(r, i, 4);
        x->create_time = pg_i64(r, i, 5);
        x->update_time = pg_i64(r, i, 6);
        if (!pg_isnull(r, i, 7)) {
            x->nmembers = (size_t)(end - i);
            if (!(x->members = calloc(x->nmembers, sizeof *x->members)))
                rc = STORE_EIO;
            for (size_t j = 0; rc == 0 && j < x->nmembers; j++)
                rc = id_fn(r, i + (int)j, 7, x->members[j]);
        }
        i = end;
    }
    if (rc != 0) {
        store_friend_groups_free(g, ng);
        return rc;
    }
    *out = g;
    *n = ng;
    return 0;
}

int pgx_friend_groups(store_backend_t *be, int32_t app_id, const char *owner, int64_t after_seq,
                      int limit, store_friend_group_t **out, size_t *n, int64_t *max_seq)
{
    PGresult *r;
    int empty;
    int rc = page_run(be, &Q_FG_LIST, app_id, owner, after_seq, limit, &r, max_seq, &empty,
                      "friend list list");
    if (rc != 0)
        return rc;
    if (!empty)
        rc = groups_of(r, out, n);
    PQclear(r);
    if (rc != 0)
        *max_seq = 0;
    return rc;
}

int pgx_friend_seqs(store_backend_t *be, int32_t app_id, const char *user_id, int64_t *fs,
                    int64_t *rs, int64_t *gs)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, user_id);
    PGresult *r;
    int rc = pgr_query(be, &Q_SEQS, &p, &r, "friendship sequences");
    if (rc != 0)
        return rc;
    *fs = pg_i64(r, 0, 0);
    *rs = pg_i64(r, 0, 1);
    *gs = pg_i64(r, 0, 2);
    PQclear(r);
    return 0;
}

int pgx_status_peers(store_backend_t *be, int32_t app_id, const char *user_id,
                     store_user_status_t **out, size_t *n)
{
    void *v = NULL;
    int rc = query_rows(be, &Q_STATUS_PEERS, app_id, user_id, sizeof(store_user_status_t),
                        status_fn, &v, n, "status peers");
    if (rc == 0)
        *out = v;
    return rc;
}

int pgx_friend_blacked(store_backend_t *be, int32_t app_id, const char *user_id,
                       char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    void *v = NULL;
    int rc = query_rows(be, &Q_BLACKED, app_id, user_id, STORE_ID_MAX + 1, id_fn, &v, n,
                        "blacklist");
    if (rc == 0)
        *out = v;
    return rc;
}
