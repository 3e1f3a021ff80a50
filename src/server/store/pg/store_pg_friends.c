/*
 * PostgreSQL backend: friendship writes (friends.h): every kind of
 * store_friend_op_t on the writer, inside its op savepoint, plus the
 * blacklist check of group invitations (pgx_blacked; a message's
 * friendship rules are part of store_pg_msg.c's statement).  Same rules,
 * reject codes, outputs and orderings as store_sqlite_friends.c: a
 * friendship row is read, changed in C and written back whole (Q_FR_PUT),
 * so every op states its rules in one place.
 *
 * Sequences come from pgw_next counters taken in the committing
 * transaction (several nodes may write the same owner): PGC_FRIEND_SEQ per
 * owner for friend_sequence, which is also the row's black_sequence when
 * its blacklist flag changes (one sequence, as SQLite's max + 1 of
 * friend_sequence); PGC_REQUEST_SEQ per addressee (to_id) for requests;
 * PGC_FGROUP_SEQ per owner for friend lists.
 *
 * Round trips: both directions of a pair come from one statement (add,
 * delete, approve); a request is created or refreshed by one upsert
 * returning the row; a friend-list member is added with its friendship
 * check in one statement.  No statement here is expected to fail on a
 * constraint, so no row savepoint is needed: a failure fails the op, as
 * in SQLite.
 */
#include "server/store/pg/store_pg_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- statements (friendship rows in pgx_friend_row's column order,
 * requests in pgx_request_row's) ---- */

#define FR_COLS                                                                          \
    "SELECT from_id, to_id, remark, status, black, add_source, extra, friend_sequence, " \
    "black_sequence, create_time, '' FROM im_friendship WHERE app_id = $1 "
#define REQ_COLS                                                                   \
    "id, from_id, to_id, remark, read_status, add_source, add_wording, "           \
    "approve_status, create_time, update_time, sequence"

/* The rows an op writes back whole are locked until COMMIT, so another
 * node's change to them in between is not lost (it waits, then reads the
 * result). */
static pgq_t Q_FR_GET = PGQ(FR_COLS "AND from_id = $2 AND to_id = $3 FOR UPDATE");
static pgq_t Q_FR_PAIR = PGQ(
    FR_COLS "AND ((from_id = $2 AND to_id = $3) OR (from_id = $3 AND to_id = $2)) FOR UPDATE");
static pgq_t Q_FR_PUT = PGQ(
    "INSERT INTO im_friendship(app_id, from_id, to_id, remark, status, black, add_source, "
    "extra, friend_sequence, black_sequence, create_time) "
    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
    "ON CONFLICT (app_id, from_id, to_id) DO UPDATE SET remark = EXCLUDED.remark, "
    "status = EXCLUDED.status, black = EXCLUDED.black, add_source = EXCLUDED.add_source, "
    "extra = EXCLUDED.extra, friend_sequence = EXCLUDED.friend_sequence, "
    "black_sequence = EXCLUDED.black_sequence, create_time = EXCLUDED.create_time");
static pgq_t Q_FR_LIVE = PGQ("SELECT to_id FROM im_friendship "
                             "WHERE app_id = $1 AND from_id = $2 AND status = 1 ORDER BY to_id");
static pgq_t Q_FR_BLACK = PGQ("SELECT black FROM im_friendship "
                              "WHERE app_id = $1 AND from_id = $2 AND to_id = $3");

/* A new request, or the pending one refreshed (text, unread again). */
static pgq_t Q_RQ_ADD = PGQ(
    "INSERT INTO im_friendship_request(app_id, from_id, to_id, remark, add_source, "
    "add_wording, create_time, update_time, sequence) VALUES($1, $2, $3, $4, $5, $6, $7, $7, $8) "
    "ON CONFLICT (app_id, from_id, to_id) WHERE approve_status = 0 DO UPDATE SET "
    "remark = EXCLUDED.remark, add_source = EXCLUDED.add_source, "
    "add_wording = EXCLUDED.add_wording, read_status = 0, update_time = EXCLUDED.update_time, "
    "sequence = EXCLUDED.sequence RETURNING " REQ_COLS);
static pgq_t Q_RQ_GET =
    PGQ("SELECT " REQ_COLS " FROM im_friendship_request WHERE app_id = $1 AND id = $2");
static pgq_t Q_RQ_PENDING = PGQ("SELECT id FROM im_friendship_request "
                                "WHERE app_id = $1 AND from_id = $2 AND to_id = $3 "
                                "AND approve_status = 0");
static pgq_t Q_RQ_DECIDE = PGQ("UPDATE im_friendship_request SET approve_status = $2, "
                               "read_status = 1, update_time = $3, sequence = $4 WHERE id = $1");
/* addBlack: the blacklisted user's pending request to the blacklister is
 * rejected and its text cleared (fr_black_requests). */
static pgq_t Q_RQ_BLACKED = PGQ(
    "UPDATE im_friendship_request SET approve_status = 2, read_status = 1, remark = '', "
    "add_source = '', add_wording = '', update_time = $2, sequence = $3 WHERE id = $1 "
    "RETURNING " REQ_COLS);
static pgq_t Q_RQ_UNREAD = PGQ("SELECT id FROM im_friendship_request "
                               "WHERE app_id = $1 AND to_id = $2 AND read_status = 0 ORDER BY id");
static pgq_t Q_RQ_READ = PGQ("UPDATE im_friendship_request SET read_status = 1, "
                             "update_time = $2, sequence = $3 WHERE id = $1");

static pgq_t Q_FG_BY_NAME = PGQ("SELECT id FROM im_friend_group "
                                "WHERE app_id = $1 AND owner_id = $2 AND name = $3 "
                                "AND del_flag = 0");
static pgq_t Q_FG_INSERT = PGQ(
    "INSERT INTO im_friend_group(app_id, owner_id, name, sequence, create_time, update_time) "
    "VALUES($1, $2, $3, $4, $5, $5) RETURNING id");
static pgq_t Q_FG_SET = PGQ("UPDATE im_friend_group SET sequence = $2, del_flag = $3, "
                            "update_time = $4 WHERE id = $1");
/* peer leaves owner's live lists: the lists it left. */
static pgq_t Q_FG_DROP = PGQ(
    "DELETE FROM im_friend_group_member m USING im_friend_group g "
    "WHERE m.group_id = g.id AND g.app_id = $1 AND g.owner_id = $2 AND g.del_flag = 0 "
    "AND m.to_id = $3 RETURNING g.id");
/* to_id joins list group_id if it is a live friend of owner: (friend,
 * added) where added is 0 when it was a member already. */
static pgq_t Q_FGM_ADD = PGQ(
    "WITH f AS (SELECT EXISTS(SELECT 1 FROM im_friendship WHERE app_id = $1 "
    "AND from_id = $2 AND to_id = $4 AND status = 1) AS yes), "
    "i AS (INSERT INTO im_friend_group_member(group_id, to_id) "
    "SELECT $3::bigint, $4::text FROM f WHERE f.yes ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT f.yes::int, (SELECT count(*) FROM i) FROM f");
static pgq_t Q_FGM_DEL =
    PGQ("DELETE FROM im_friend_group_member WHERE group_id = $1 AND to_id = $2");
static pgq_t Q_FGM_CLEAR = PGQ("DELETE FROM im_friend_group_member WHERE group_id = $1");

/* ---- friendship rows ---- */

/* f: the row from -> to as it is when there is none (ids set, the rest
 * zero, black 1). */
static void fr_blank(store_friend_t *f, const char *from, const char *to)
{
    memset(f, 0, sizeof *f);
    memcpy(f->from_id, from, strlen(from) + 1);
    memcpy(f->to_id, to, strlen(to) + 1);
    f->black = 1;
}

/* The row from -> to into f (fr_blank when there is none); *found says
 * which. */
static int fr_get(store_backend_t *be, int32_t app_id, const char *from, const char *to,
                  store_friend_t *f, int *found)
{
    fr_blank(f, from, to);
    *found = 0;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, from);
    pgp_str(&p, to);
    PGresult *r;
    int rc = pgw_run(be, &Q_FR_GET, &p, &r, "friendship get");
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1) {
        rc = pgx_friend_row(r, 0, 0, f);
        *found = rc == 0;
    }
    PQclear(r);
    return rc;
}

/* Both rows a -> b (ab, *fab) and b -> a (ba, *fba) in one round trip. */
static int fr_pair(store_backend_t *be, int32_t app_id, const char *a, const char *b,
                   store_friend_t *ab, int *fab, store_friend_t *ba, int *fba)
{
    fr_blank(ab, a, b);
    fr_blank(ba, b, a);
    *fab = *fba = 0;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, a);
    pgp_str(&p, b);
    PGresult *r;
    int rc = pgw_run(be, &Q_FR_PAIR, &p, &r, "friendship pair");
    if (rc != 0)
        return rc;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        int fwd = strcmp(PQgetvalue(r, i, 0), a) == 0;
        rc = pgx_friend_row(r, i, 0, fwd ? ab : ba);
        *(fwd ? fab : fba) = rc == 0;
    }
    PQclear(r);
    return rc;
}

/* Blacklist rule of a new friendship a <-> b (add, approve) from the rows
 * a -> b and b -> a: 30006 when a blacklisted b, 30007 when b blacklisted
 * a, else 0. */
static int fr_black_rule(const store_friend_t *ab, const store_friend_t *ba)
{
    return ab->black == 2 ? PETREL_ERR_BLACKED_BY_YOU
         : ba->black == 2 ? PETREL_ERR_BLACKED_BY_PEER : 0;
}

/* Write f back under its owner's next sequence (f->friend_sequence);
 * black_changed: it is also the row's black_sequence. */
static int fr_store(store_backend_t *be, int32_t app_id, store_friend_t *f, int black_changed)
{
    int rc = pgw_next(be, PGC_FRIEND_SEQ, app_id, f->from_id, "", 1, &f->friend_sequence);
    if (rc != 0)
        return rc;
    if (black_changed)
        f->black_sequence = f->friend_sequence;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, f->from_id);
    pgp_str(&p, f->to_id);
    pgp_str(&p, f->remark);
    pgp_int(&p, f->status);
    pgp_int(&p, f->black);
    pgp_str(&p, f->add_source);
    pgp_str(&p, f->extra);
    pgp_i64(&p, f->friend_sequence);
    pgp_i64(&p, f->black_sequence);
    pgp_i64(&p, f->create_time);
    return pgw_run(be, &Q_FR_PUT, &p, NULL, "friendship put");
}

/* ---- friend lists ---- */

/* A friend list changed: give it owner's next friend-list sequence. */
static int fg_touch(store_backend_t *be, int32_t app_id, const char *owner, int64_t id,
                    int del_flag, int64_t now_ms, int64_t *seq)
{
    int rc = pgw_next(be, PGC_FGROUP_SEQ, app_id, owner, "", 1, seq);
    if (rc != 0)
        return rc;
    pgp_t p = PGP_INIT;
    pgp_i64(&p, id);
    pgp_i64(&p, *seq);
    pgp_int(&p, del_flag);
    pgp_i64(&p, now_ms);
    return pgw_run(be, &Q_FG_SET, &p, NULL, "friend list set");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* peer is no friend of owner any more: out of owner's live lists, each of
 * which takes a new sequence (in list id order, as SQLite). */
static int fg_drop_member(store_backend_t *be, int32_t app_id, const char *owner,
                          const char *peer, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_str(&p, peer);
    PGresult *r;
    int rc = pgw_run(be, &Q_FG_DROP, &p, &r, "friend list drop member");
    if (rc != 0)
        return rc;
    size_t n = (size_t)PQntuples(r);
    int64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
    if (n && !ids)
        rc = STORE_EIO;
    for (size_t i = 0; rc == 0 && i < n; i++)
        ids[i] = pg_i64(r, (int)i, 0);
    PQclear(r);
    if (rc == 0 && n > 1)
        qsort(ids, n, sizeof *ids, cmp_i64);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t seq;
        rc = fg_touch(be, app_id, owner, ids[i], 0, now_ms, &seq);
    }
    free(ids);
    return rc;
}

/* owner's live list name: *id, 0 when there is none. */
static int fg_by_name(store_backend_t *be, int32_t app_id, const char *owner, const char *name,
                      int64_t *id)
{
    *id = 0;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_str(&p, name);
    PGresult *r;
    int rc = pgw_run(be, &Q_FG_BY_NAME, &p, &r, "friend list by name");
    if (rc != 0)
        return rc;
    if (PQntuples(r) > 0)
        *id = pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* to joins owner's list id when it is a live friend of owner (*yes);
 * *added: it was not a member yet. */
static int fgm_add(store_backend_t *be, int32_t app_id, const char *owner, int64_t id,
                   const char *to, int *yes, int *added)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, owner);
    pgp_i64(&p, id);
    pgp_str(&p, to);
    PGresult *r;
    int rc = pgw_run(be, &Q_FGM_ADD, &p, &r, "friend list member add");
    if (rc != 0)
        return rc;
    *yes = pg_int(r, 0, 0) != 0;
    *added = pg_i64(r, 0, 1) > 0;
    PQclear(r);
    return 0;
}

/* ---- friendship ops ---- */

/* f (the loaded row from -> to, *found) is a friendship from now on,
 * unless it already is (*seq 0).  tmpl gives remark/add_source/extra for
 * a row that is new; an existing row keeps its own remark and extra
 * unless use_tmpl. */
static int fr_befriend_one(store_backend_t *be, int32_t app_id, store_friend_t *f, int found,
                           const store_friend_t *tmpl, int use_tmpl, int64_t now_ms,
                           int64_t *seq)
{
    *seq = 0;
    if (f->status == 1)
        return 0;
    if (use_tmpl || !found) {
        memcpy(f->remark, use_tmpl ? tmpl->remark : "", use_tmpl ? strlen(tmpl->remark) + 1 : 1);
        memcpy(f->extra, use_tmpl ? tmpl->extra : "", use_tmpl ? strlen(tmpl->extra) + 1 : 1);
    }
    memcpy(f->add_source, tmpl->add_source, strlen(tmpl->add_source) + 1);
    f->status = 1;
    f->create_time = now_ms;
    int rc = fr_store(be, app_id, f, 0);
    if (rc == 0)
        *seq = f->friend_sequence;
    return rc;
}

/* Both directions between a (the adder, with tmpl's fields) and b, from
 * the loaded rows a -> b and b -> a. */
static int fr_befriend(store_backend_t *be, int32_t app_id, store_friend_t *ab, int fab,
                       store_friend_t *ba, int fba, const store_friend_t *tmpl, int64_t now_ms,
                       int64_t *seq_a, int64_t *seq_b)
{
    int rc = fr_befriend_one(be, app_id, ab, fab, tmpl, 1, now_ms, seq_a);
    if (rc == 0)
        rc = fr_befriend_one(be, app_id, ba, fba, tmpl, 0, now_ms, seq_b);
    return rc;
}

/* f (the loaded row from -> to) ends when live (*seq its new sequence,
 * else 0), and to leaves from's friend lists. */
static int fr_unfriend_one(store_backend_t *be, int32_t app_id, store_friend_t *f,
                           int64_t now_ms, int64_t *seq)
{
    *seq = 0;
    if (f->status != 1)
        return 0;
    f->status = 2;
    int rc = fr_store(be, app_id, f, 0);
    if (rc == 0)
        *seq = f->friend_sequence;
    if (rc == 0)
        rc = fg_drop_member(be, app_id, f->from_id, f->to_id, now_ms);
    return rc;
}

static int fr_import(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live;
    int rc = pgx_user_live(be, op->app_id, op->from_id, &live, NULL, NULL);
    if (rc != 0)
        return rc;
    if (!live) {
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        const store_friend_t *it = &op->items[i];
        rc = pgx_user_live(be, op->app_id, it->to_id, &live, NULL, NULL);
        if (rc != 0)
            return rc;
        if (!live) {
            op->row_rc[i] = STORE_ENOTFOUND;
            continue;
        }
        store_friend_t f;
        int found;
        rc = fr_get(be, op->app_id, op->from_id, it->to_id, &f, &found);
        if (rc != 0)
            return rc;
        if (f.status == 1) {
            op->row_rc[i] = STORE_ECONFLICT;
            continue;
        }
        int black_changed = f.black != it->black;
        memcpy(f.remark, it->remark, sizeof f.remark);
        memcpy(f.add_source, it->add_source, sizeof f.add_source);
        memcpy(f.extra, it->extra, sizeof f.extra);
        f.status = it->status;
        f.black = it->black;
        f.create_time = now_ms;
        rc = fr_store(be, op->app_id, &f, black_changed);
        if (rc != 0)
            return rc;
        op->row_seq[i] = op->res.seq = f.friend_sequence;
    }
    return 0;
}

static int fr_add(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live_a, live_b, allow = 1, no_add = 0;
    int rc = pgx_user_live(be, op->app_id, op->from_id, &live_a, NULL, NULL);
    if (rc == 0)
        rc = pgx_user_live(be, op->app_id, op->to_id, &live_b, &allow, &no_add);
    if (rc != 0)
        return rc;
    if (!live_a || !live_b) {
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    store_friend_t ab, ba;
    int fab, fba;
    rc = fr_pair(be, op->app_id, op->from_id, op->to_id, &ab, &fab, &ba, &fba);
    if (rc != 0)
        return rc;
    if (ab.status == 1) {
        op->res.reject = PETREL_ERR_ALREADY_FRIEND;
        return 0;
    }
    /* a blacklist either way, or the addressee's disableAddFriend, stops
     * both the friendship and the request */
    if ((op->res.reject = fr_black_rule(&ab, &ba)) != 0)
        return 0;
    if (no_add) {
        op->res.reject = PETREL_ERR_ADD_FRIEND_DISABLED;
        return 0;
    }
    if (allow == 1) {
        op->res.added = 1;
        return fr_befriend(be, op->app_id, &ab, fab, &ba, fba, &op->f, now_ms, &op->res.seq,
                           &op->res.peer_seq);
    }
    /* A request: refresh the pending one, or make one. */
    int64_t seq;
    rc = pgw_next(be, PGC_REQUEST_SEQ, op->app_id, op->to_id, "", 1, &seq);
    if (rc != 0)
        return rc;
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->from_id);
    pgp_str(&p, op->to_id);
    pgp_str(&p, op->f.remark);
    pgp_str(&p, op->f.add_source);
    pgp_str(&p, op->wording);
    pgp_i64(&p, now_ms);
    pgp_i64(&p, seq);
    PGresult *r;
    rc = pgw_run(be, &Q_RQ_ADD, &p, &r, "request add");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 1 ? pgx_request_row(r, 0, 0, &op->res.request) : STORE_EIO;
    PQclear(r);
    if (rc == 0)
        op->res.seq = seq;
    return rc;
}

static int fr_update(store_backend_t *be, store_friend_op_t *op)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (f.status != 1) {
        op->res.reject = PETREL_ERR_NOT_FRIEND;
        return 0;
    }
    if (op->mask & STORE_FRIEND_F_REMARK)
        memcpy(f.remark, op->f.remark, sizeof f.remark);
    if (op->mask & STORE_FRIEND_F_ADD_SOURCE)
        memcpy(f.add_source, op->f.add_source, sizeof f.add_source);
    if (op->mask & STORE_FRIEND_F_EXTRA)
        memcpy(f.extra, op->f.extra, sizeof f.extra);
    rc = fr_store(be, op->app_id, &f, 0);
    if (rc == 0)
        op->res.seq = f.friend_sequence;
    return rc;
}

static int fr_delete(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_t ab, ba;
    int fab, fba;
    int rc = fr_pair(be, op->app_id, op->from_id, op->to_id, &ab, &fab, &ba, &fba);
    if (rc != 0)
        return rc;
    if (ab.status != 1) {
        op->res.reject = ab.status == 2 ? PETREL_ERR_FRIEND_DELETED : PETREL_ERR_NOT_FRIEND;
        return 0;
    }
    rc = fr_unfriend_one(be, op->app_id, &ab, now_ms, &op->res.seq);
    if (rc == 0)
        rc = fr_unfriend_one(be, op->app_id, &ba, now_ms, &op->res.peer_seq);
    return rc;
}

static int fr_delete_all(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->from_id);
    PGresult *r;
    int rc = pgw_run(be, &Q_FR_LIVE, &p, &r, "friendship live");
    if (rc != 0)
        return rc;
    size_t n = (size_t)PQntuples(r);
    if (n > 0 && !(op->res.peers = calloc(n, sizeof *op->res.peers)))
        rc = STORE_EIO;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = pg_text(r, (int)i, 0, op->res.peers[i].id, sizeof op->res.peers[i].id);
    PQclear(r);
    if (rc != 0 || n == 0)
        return rc;
    op->res.npeers = n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        store_friend_peer_t *peer = &op->res.peers[i];
        store_friend_t ab, ba;
        int fab, fba;
        int64_t seq;
        rc = fr_pair(be, op->app_id, op->from_id, peer->id, &ab, &fab, &ba, &fba);
        if (rc == 0)
            rc = fr_unfriend_one(be, op->app_id, &ab, now_ms, &seq);
        if (rc == 0)
            op->res.seq = seq;
        if (rc == 0)
            rc = fr_unfriend_one(be, op->app_id, &ba, now_ms, &peer->seq);
    }
    return rc;
}

/* from_id just blacklisted to_id: to_id's pending request to from_id, if
 * any, is rejected (approve_status 2) with its text cleared and from_id's
 * next request sequence, so from_id no longer sees it pending nor reads
 * it, and syncing devices learn the change.  to_id is not told (it never
 * lists its own outgoing requests).  res->request: the updated row, id 0
 * when there was none.  from_id's own request to to_id is left as it is:
 * approving it is refused (30006). */
static int fr_black_requests(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->to_id);
    pgp_str(&p, op->from_id);
    PGresult *r;
    int rc = pgw_run(be, &Q_RQ_PENDING, &p, &r, "request pending");
    if (rc != 0)
        return rc;
    int64_t id = PQntuples(r) > 0 ? pg_i64(r, 0, 0) : 0, seq;
    PQclear(r);
    if (!id)
        return 0;
    rc = pgw_next(be, PGC_REQUEST_SEQ, op->app_id, op->from_id, "", 1, &seq);
    if (rc != 0)
        return rc;
    pgp_t q = PGP_INIT;
    pgp_i64(&q, id);
    pgp_i64(&q, now_ms);
    pgp_i64(&q, seq);
    rc = pgw_run(be, &Q_RQ_BLACKED, &q, &r, "request blacked");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) == 1 ? pgx_request_row(r, 0, 0, &op->res.request) : STORE_EIO;
    PQclear(r);
    return rc;
}

static int fr_black(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_t f;
    int found, live = 1;
    int rc = 0;
    if (op->flag == 2)
        rc = pgx_user_live(be, op->app_id, op->to_id, &live, NULL, NULL);
    if (rc == 0)
        rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (op->flag == 2 && !live)
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
    else if (op->flag == 2 && f.black == 2)
        op->res.reject = PETREL_ERR_BLACKED_BY_YOU;
    else if (op->flag == 1 && f.black != 2)
        op->res.reject = PETREL_ERR_NOT_BLACKED;
    if (op->res.reject)
        return 0;
    f.black = op->flag;
    if (!found)
        f.create_time = 0; /* a blacklist-only row: no friendship began */
    rc = fr_store(be, op->app_id, &f, 1);
    if (rc == 0)
        op->res.seq = f.friend_sequence;
    if (rc == 0 && op->flag == 2)
        rc = fr_black_requests(be, op, now_ms);
    return rc;
}

/* The request id of the app into r; *found says whether there is one. */
static int rq_get(store_backend_t *be, int32_t app_id, int64_t id, store_friend_request_t *r,
                  int *found)
{
    *found = 0;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_i64(&p, id);
    PGresult *res;
    int rc = pgw_run(be, &Q_RQ_GET, &p, &res, "request get");
    if (rc != 0)
        return rc;
    if (PQntuples(res) == 1) {
        rc = pgx_request_row(res, 0, 0, r);
        *found = rc == 0;
    }
    PQclear(res);
    return rc;
}

static int rq_approve(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_request_t *r = &op->res.request;
    int found;
    int rc = rq_get(be, op->app_id, op->id, r, &found);
    if (rc != 0)
        return rc;
    if (!found)
        op->res.reject = PETREL_ERR_REQUEST_NOT_FOUND;
    else if (!op->admin && strcmp(r->to_id, op->from_id) != 0)
        op->res.reject = PETREL_ERR_NOT_ADDRESSEE;
    else if (r->approve_status != 0)
        op->res.reject = PETREL_ERR_REQUEST_HANDLED;
    if (op->res.reject)
        return 0;
    /* fwd: requester -> addressee, rev: addressee -> requester */
    store_friend_t fwd, rev;
    int ffwd = 0, frev = 0;
    if (op->flag == 1) {
        int la, lb;
        rc = pgx_user_live(be, op->app_id, r->from_id, &la, NULL, NULL);
        if (rc == 0)
            rc = pgx_user_live(be, op->app_id, r->to_id, &lb, NULL, NULL);
        if (rc != 0)
            return rc;
        if (!la || !lb) {
            op->res.reject = PETREL_ERR_USER_NOT_FOUND;
            return 0;
        }
        /* a blacklist made since the request stops the friendship:
         * 30006 the addressee blacklisted the requester, 30007 the other
         * way round */
        rc = fr_pair(be, op->app_id, r->from_id, r->to_id, &fwd, &ffwd, &rev, &frev);
        if (rc != 0)
            return rc;
        if ((op->res.reject = fr_black_rule(&rev, &fwd)) != 0)
            return 0;
    }
    int64_t seq;
    rc = pgw_next(be, PGC_REQUEST_SEQ, op->app_id, r->to_id, "", 1, &seq);
    if (rc != 0)
        return rc;
    pgp_t p = PGP_INIT;
    pgp_i64(&p, r->id);
    pgp_int(&p, op->flag);
    pgp_i64(&p, now_ms);
    pgp_i64(&p, seq);
    rc = pgw_run(be, &Q_RQ_DECIDE, &p, NULL, "request decide");
    if (rc != 0)
        return rc;
    r->approve_status = op->flag;
    r->read_status = 1;
    r->update_time = now_ms;
    r->sequence = seq;
    if (op->flag != 1)
        return 0;
    store_friend_t tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    memcpy(tmpl.remark, r->remark, sizeof tmpl.remark);
    memcpy(tmpl.add_source, r->add_source, sizeof tmpl.add_source);
    return fr_befriend(be, op->app_id, &fwd, ffwd, &rev, frev, &tmpl, now_ms, &op->res.peer_seq,
                       &op->res.seq);
}

static int rq_read(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->from_id);
    PGresult *ids;
    int rc = pgw_run(be, &Q_RQ_UNREAD, &p, &ids, "request unread");
    if (rc != 0)
        return rc;
    for (int i = 0; rc == 0 && i < PQntuples(ids); i++) {
        int64_t seq;
        rc = pgw_next(be, PGC_REQUEST_SEQ, op->app_id, op->from_id, "", 1, &seq);
        if (rc != 0)
            break;
        pgp_t q = PGP_INIT;
        pgp_i64(&q, pg_i64(ids, i, 0));
        pgp_i64(&q, now_ms);
        pgp_i64(&q, seq);
        rc = pgw_run(be, &Q_RQ_READ, &q, NULL, "request read");
        if (rc == 0)
            op->res.seq = seq;
    }
    PQclear(ids);
    return rc;
}

static int fg_add(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live;
    int64_t id;
    int rc = pgx_user_live(be, op->app_id, op->from_id, &live, NULL, NULL);
    if (rc == 0)
        rc = fg_by_name(be, op->app_id, op->from_id, op->name, &id);
    if (rc != 0)
        return rc;
    if (!live || id) {
        op->res.reject = !live ? PETREL_ERR_USER_NOT_FOUND : PETREL_ERR_FRIEND_LIST_EXISTS;
        return 0;
    }
    int64_t seq;
    rc = pgw_next(be, PGC_FGROUP_SEQ, op->app_id, op->from_id, "", 1, &seq);
    if (rc != 0)
        return rc;
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->from_id);
    pgp_str(&p, op->name);
    pgp_i64(&p, seq);
    pgp_i64(&p, now_ms);
    PGresult *r;
    rc = pgw_run(be, &Q_FG_INSERT, &p, &r, "friend list insert");
    if (rc != 0)
        return rc;
    id = pg_i64(r, 0, 0);
    PQclear(r);
    op->res.group_id = id;
    op->res.seq = seq;
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        int yes, added;
        rc = fgm_add(be, op->app_id, op->from_id, id, op->ids[i], &yes, &added);
        if (rc != 0)
            return rc;
        op->row_rc[i] = yes ? 0 : PETREL_ERR_NOT_FRIEND;
    }
    return 0;
}

static int fg_del(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        int64_t id;
        int rc = fg_by_name(be, op->app_id, op->from_id, op->ids[i], &id);
        if (rc != 0)
            return rc;
        if (!id) {
            op->row_rc[i] = PETREL_ERR_FRIEND_LIST_NOT_FOUND;
            continue;
        }
        pgp_t p = PGP_INIT;
        pgp_i64(&p, id);
        rc = pgw_run(be, &Q_FGM_CLEAR, &p, NULL, "friend list clear");
        if (rc == 0)
            rc = fg_touch(be, op->app_id, op->from_id, id, 1, now_ms, &op->row_seq[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int fg_member(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int64_t id;
    int rc = fg_by_name(be, op->app_id, op->from_id, op->name, &id);
    if (rc != 0)
        return rc;
    if (!id) {
        op->res.reject = PETREL_ERR_FRIEND_LIST_NOT_FOUND;
        return 0;
    }
    op->res.group_id = id;
    int changed = 0;
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        if (op->flag) {
            int yes, added;
            rc = fgm_add(be, op->app_id, op->from_id, id, op->ids[i], &yes, &added);
            if (rc != 0)
                return rc;
            op->row_rc[i] = yes ? 0 : PETREL_ERR_NOT_FRIEND;
            changed |= yes && added;
        } else {
            pgp_t p = PGP_INIT;
            pgp_i64(&p, id);
            pgp_str(&p, op->ids[i]);
            PGresult *r;
            rc = pgw_run(be, &Q_FGM_DEL, &p, &r, "friend list member del");
            if (rc != 0)
                return rc;
            int gone = atoi(PQcmdTuples(r)) > 0;
            PQclear(r);
            op->row_rc[i] = gone ? 0 : STORE_ENOTFOUND;
            changed |= gone;
        }
    }
    if (changed)
        rc = fg_touch(be, op->app_id, op->from_id, id, 0, now_ms, &op->res.seq);
    return rc;
}

int pgx_friend_write(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    switch (op->what) {
    case SF_IMPORT: return fr_import(be, op, now_ms);
    case SF_ADD: return fr_add(be, op, now_ms);
    case SF_UPDATE: return fr_update(be, op);
    case SF_DELETE: return fr_delete(be, op, now_ms);
    case SF_DELETE_ALL: return fr_delete_all(be, op, now_ms);
    case SF_BLACK: return fr_black(be, op, now_ms);
    case SF_REQ_APPROVE: return rq_approve(be, op, now_ms);
    case SF_REQ_READ: return rq_read(be, op, now_ms);
    case SF_GROUP_ADD: return fg_add(be, op, now_ms);
    case SF_GROUP_DEL: return fg_del(be, op, now_ms);
    case SF_GROUP_MEMBER: return fg_member(be, op, now_ms);
    }
    return STORE_EINVAL;
}

int pgx_blacked(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                int *blacked)
{
    *blacked = 0;
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, from_id);
    pgp_str(&p, to_id);
    PGresult *r;
    int rc = pgw_run(be, &Q_FR_BLACK, &p, &r, "friendship blacked");
    if (rc != 0)
        return rc;
    *blacked = PQntuples(r) > 0 && pg_int(r, 0, 0) == 2;
    PQclear(r);
    return 0;
}
