/*
 * SQLite backend: friendship writes (friends.h): every kind of
 * store_friend_op_t on the writer, inside its op savepoint, plus the
 * friendship checks messages ask for (sqlx_msg_friend_check, sqlx_blacked).
 * Sequences are the owner's max + 1 read inside the transaction.
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- friendship (writer) ---- */

/* The next value of an owner's sequence: stmt (one of the *_MAX
 * statements) returns the owner's largest stored one.  Rows carrying
 * sequences are never deleted and the writer is the only allocator, so
 * max + 1 read inside the transaction is never reused. */
static int next_owner_seq(store_backend_t *be, int wq, int32_t app_id, const char *owner,
                          int64_t *seq)
{
    sqlite3_stmt *s = be->w[wq];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    int rc = w_step(be, s, "owner sequence");
    if (rc < 0)
        return rc;
    *seq = 1;
    if (rc == 1) {
        *seq = sqlite3_column_int64(s, 0) + 1;
        w_done(s);
    }
    return 0;
}

static int fr_get(store_backend_t *be, int32_t app_id, const char *from, const char *to,
                  store_friend_t *f, int *found);

/* Blacklist rule of a new friendship a <-> b (add, approve): 30006 when a
 * blacklisted b, 30007 when b blacklisted a, else 0 in *reject. */
static int fr_black_rule(store_backend_t *be, int32_t app_id, const char *a, const char *b,
                         int *reject)
{
    store_friend_t ab, ba;
    int fab, fba;
    int rc = fr_get(be, app_id, a, b, &ab, &fab);
    if (rc == 0)
        rc = fr_get(be, app_id, b, a, &ba, &fba);
    if (rc != 0)
        return rc;
    *reject = ab.black == 2 ? PETREL_ERR_BLACKED_BY_YOU
            : ba.black == 2 ? PETREL_ERR_BLACKED_BY_PEER : 0;
    return 0;
}

/* The row from -> to into f (ids set, the rest zero, black 1 when there
 * is none); *found says which. */
static int fr_get(store_backend_t *be, int32_t app_id, const char *from, const char *to,
                  store_friend_t *f, int *found)
{
    memset(f, 0, sizeof *f);
    memcpy(f->from_id, from, strlen(from) + 1);
    memcpy(f->to_id, to, strlen(to) + 1);
    f->black = 1;
    *found = 0;
    sqlite3_stmt *s = be->w[WQ_FR_GET];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, from);
    bind_str(s, 3, to);
    int rc = w_step(be, s, "friendship get");
    if (rc <= 0)
        return rc;
    f->status = sqlite3_column_int(s, 0);
    f->black = sqlite3_column_int(s, 1);
    f->friend_sequence = sqlite3_column_int64(s, 2);
    f->black_sequence = sqlite3_column_int64(s, 3);
    f->create_time = sqlite3_column_int64(s, 4);
    rc = 0;
    if (sqlx_col_text(s, 5, f->remark, sizeof f->remark) != 0 ||
        sqlx_col_text(s, 6, f->add_source, sizeof f->add_source) != 0 ||
        sqlx_col_text(s, 7, f->extra, sizeof f->extra) != 0) {
        LOGE("store friendship row has an oversized text column", "app_id=%d", (int)app_id);
        rc = STORE_EIO;
    }
    w_done(s);
    *found = rc == 0;
    return rc;
}

/* Write f back under its owner's next sequence (f->friend_sequence);
 * black_changed: it is also the row's black_sequence. */
static int fr_store(store_backend_t *be, int32_t app_id, store_friend_t *f, int black_changed)
{
    int rc = next_owner_seq(be, WQ_FR_MAX, app_id, f->from_id, &f->friend_sequence);
    if (rc != 0)
        return rc;
    if (black_changed)
        f->black_sequence = f->friend_sequence;
    sqlite3_stmt *s = be->w[WQ_FR_PUT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, f->from_id);
    bind_str(s, 3, f->to_id);
    bind_str(s, 4, f->remark);
    sqlite3_bind_int(s, 5, f->status);
    sqlite3_bind_int(s, 6, f->black);
    bind_str(s, 7, f->add_source);
    bind_str(s, 8, f->extra);
    sqlite3_bind_int64(s, 9, f->friend_sequence);
    sqlite3_bind_int64(s, 10, f->black_sequence);
    sqlite3_bind_int64(s, 11, f->create_time);
    return run_unbind(s);
}

/* Column 0 of every row of a bound writer query, collected before the
 * caller modifies the table the query reads (text ids or integers). */
static int w_collect_ids(store_backend_t *be, sqlite3_stmt *s, char (**out)[STORE_ID_MAX + 1],
                         size_t *n)
{
    char (*v)[STORE_ID_MAX + 1] = NULL;
    size_t len = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *nv = realloc(v, ncap * sizeof *v);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (sqlx_col_text(s, 0, v[len], sizeof v[len]) != 0) {
            ret = STORE_EIO;
            break;
        }
        len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        sqlx_log_err(be->wdb, "collect ids");
        ret = map_err(rc);
    }
    w_done(s);
    if (ret != 0) {
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

static int w_collect_ints(store_backend_t *be, sqlite3_stmt *s, int64_t **out, size_t *n)
{
    int64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, ncap * sizeof *v);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[len++] = sqlite3_column_int64(s, 0);
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        sqlx_log_err(be->wdb, "collect ints");
        ret = map_err(rc);
    }
    w_done(s);
    if (ret != 0) {
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

/* A friend list changed: give it owner's next friend-list sequence. */
static int fg_touch(store_backend_t *be, int32_t app_id, const char *owner, int64_t id,
                    int del_flag, int64_t now_ms, int64_t *seq)
{
    int rc = next_owner_seq(be, WQ_FG_MAX, app_id, owner, seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_FG_SET];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, *seq);
    sqlite3_bind_int(s, 3, del_flag);
    sqlite3_bind_int64(s, 4, now_ms);
    return run_unbind(s);
}

static int fgm_run(store_backend_t *be, int wq, int64_t group_id, const char *to_id)
{
    sqlite3_stmt *s = be->w[wq];
    sqlite3_bind_int64(s, 1, group_id);
    if (to_id)
        bind_str(s, 2, to_id);
    return run_unbind(s);
}

/* peer is no friend of owner any more: out of owner's live lists. */
static int fg_drop_member(store_backend_t *be, int32_t app_id, const char *owner,
                          const char *peer, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_FG_WITH];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    bind_str(s, 3, peer);
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = w_collect_ints(be, s, &ids, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t seq;
        rc = fgm_run(be, WQ_FGM_DEL, ids[i], peer);
        if (rc == 0)
            rc = fg_touch(be, app_id, owner, ids[i], 0, now_ms, &seq);
    }
    free(ids);
    return rc;
}

/* from -> to is a friendship from now on, unless it already is (*seq 0).
 * tmpl gives remark/add_source/extra for a row that is new; an existing
 * row keeps its own remark and extra unless use_tmpl. */
static int fr_befriend_one(store_backend_t *be, int32_t app_id, const char *from,
                           const char *to, const store_friend_t *tmpl, int use_tmpl,
                           int64_t now_ms, int64_t *seq)
{
    store_friend_t f;
    int found;
    *seq = 0;
    int rc = fr_get(be, app_id, from, to, &f, &found);
    if (rc != 0 || f.status == 1)
        return rc;
    if (use_tmpl || !found) {
        memcpy(f.remark, use_tmpl ? tmpl->remark : "", use_tmpl ? strlen(tmpl->remark) + 1 : 1);
        memcpy(f.extra, use_tmpl ? tmpl->extra : "", use_tmpl ? strlen(tmpl->extra) + 1 : 1);
    }
    memcpy(f.add_source, tmpl->add_source, strlen(tmpl->add_source) + 1);
    f.status = 1;
    f.create_time = now_ms;
    rc = fr_store(be, app_id, &f, 0);
    if (rc == 0)
        *seq = f.friend_sequence;
    return rc;
}

/* Both directions between a (the adder, with tmpl's fields) and b. */
static int fr_befriend(store_backend_t *be, int32_t app_id, const char *a, const char *b,
                       const store_friend_t *tmpl, int64_t now_ms, int64_t *seq_a,
                       int64_t *seq_b)
{
    int rc = fr_befriend_one(be, app_id, a, b, tmpl, 1, now_ms, seq_a);
    if (rc == 0)
        rc = fr_befriend_one(be, app_id, b, a, tmpl, 0, now_ms, seq_b);
    return rc;
}

/* from -> to ends when live (*seq its new sequence, else 0), and to
 * leaves from's friend lists. */
static int fr_unfriend_one(store_backend_t *be, int32_t app_id, const char *from,
                           const char *to, int64_t now_ms, int64_t *seq)
{
    store_friend_t f;
    int found;
    *seq = 0;
    int rc = fr_get(be, app_id, from, to, &f, &found);
    if (rc != 0 || f.status != 1)
        return rc;
    f.status = 2;
    rc = fr_store(be, app_id, &f, 0);
    if (rc == 0)
        *seq = f.friend_sequence;
    if (rc == 0)
        rc = fg_drop_member(be, app_id, from, to, now_ms);
    return rc;
}

static int fr_import(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live;
    int rc = sqlx_user_live(be, op->app_id, op->from_id, &live, NULL);
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
        rc = sqlx_user_live(be, op->app_id, it->to_id, &live, NULL);
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

/* The request row id into r. */
static int rq_get(store_backend_t *be, int32_t app_id, int64_t id, store_friend_request_t *r,
                  int *found)
{
    sqlite3_stmt *s = be->w[WQ_RQ_GET];
    sqlite3_bind_int(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    *found = 0;
    int rc = w_step(be, s, "request get");
    if (rc <= 0)
        return rc;
    rc = sqlx_request_row(s, r);
    w_done(s);
    *found = rc == 0;
    return rc;
}

static int fr_add(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live_a, live_b, allow = 1, no_add = 0;
    int rc = sqlx_user_live(be, op->app_id, op->from_id, &live_a, NULL);
    if (rc == 0)
        rc = sqlx_user_live_add(be, op->app_id, op->to_id, &live_b, &allow, &no_add);
    if (rc != 0)
        return rc;
    if (!live_a || !live_b) {
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    store_friend_t f;
    int found;
    rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (f.status == 1) {
        op->res.reject = PETREL_ERR_ALREADY_FRIEND;
        return 0;
    }
    /* a blacklist either way, or the addressee's disableAddFriend, stops
     * both the friendship and the request */
    rc = fr_black_rule(be, op->app_id, op->from_id, op->to_id, &op->res.reject);
    if (rc != 0 || op->res.reject)
        return rc;
    if (no_add) {
        op->res.reject = PETREL_ERR_ADD_FRIEND_DISABLED;
        return 0;
    }
    if (allow == 1) {
        op->res.added = 1;
        return fr_befriend(be, op->app_id, op->from_id, op->to_id, &op->f, now_ms, &op->res.seq,
                           &op->res.peer_seq);
    }
    /* A request: refresh the pending one, or make one. */
    sqlite3_stmt *s = be->w[WQ_RQ_PENDING];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    bind_str(s, 3, op->to_id);
    rc = w_step(be, s, "request pending");
    if (rc < 0)
        return rc;
    int64_t id = 0, seq;
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0);
        w_done(s);
    }
    rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, op->to_id, &seq);
    if (rc != 0)
        return rc;
    if (id) {
        s = be->w[WQ_RQ_REFRESH];
        sqlite3_bind_int64(s, 1, id);
        bind_str(s, 2, op->f.remark);
        bind_str(s, 3, op->f.add_source);
        bind_str(s, 4, op->wording);
        sqlite3_bind_int64(s, 5, now_ms);
        sqlite3_bind_int64(s, 6, seq);
        rc = run_unbind(s);
    } else {
        s = be->w[WQ_RQ_INSERT];
        sqlite3_bind_int(s, 1, op->app_id);
        bind_str(s, 2, op->from_id);
        bind_str(s, 3, op->to_id);
        bind_str(s, 4, op->f.remark);
        bind_str(s, 5, op->f.add_source);
        bind_str(s, 6, op->wording);
        sqlite3_bind_int64(s, 7, now_ms);
        sqlite3_bind_int64(s, 8, seq);
        rc = run_unbind(s);
        id = sqlite3_last_insert_rowid(be->wdb);
    }
    if (rc != 0)
        return rc;
    op->res.seq = seq;
    rc = rq_get(be, op->app_id, id, &op->res.request, &found);
    return rc == 0 && !found ? STORE_EIO : rc;
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
    store_friend_t f;
    int found;
    int rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (f.status != 1) {
        op->res.reject = f.status == 2 ? PETREL_ERR_FRIEND_DELETED : PETREL_ERR_NOT_FRIEND;
        return 0;
    }
    rc = fr_unfriend_one(be, op->app_id, op->from_id, op->to_id, now_ms, &op->res.seq);
    if (rc == 0)
        rc = fr_unfriend_one(be, op->app_id, op->to_id, op->from_id, now_ms, &op->res.peer_seq);
    return rc;
}

static int fr_delete_all(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_FR_LIVE];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    char (*ids)[STORE_ID_MAX + 1] = NULL;
    size_t n = 0;
    int rc = w_collect_ids(be, s, &ids, &n);
    if (rc != 0 || n == 0) {
        free(ids);
        return rc;
    }
    op->res.peers = calloc(n, sizeof *op->res.peers);
    if (!op->res.peers) {
        free(ids);
        return STORE_EIO;
    }
    op->res.npeers = n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        store_friend_peer_t *p = &op->res.peers[i];
        memcpy(p->id, ids[i], sizeof p->id);
        int64_t seq;
        rc = fr_unfriend_one(be, op->app_id, op->from_id, p->id, now_ms, &seq);
        if (rc == 0)
            op->res.seq = seq;
        if (rc == 0)
            rc = fr_unfriend_one(be, op->app_id, p->id, op->from_id, now_ms, &p->seq);
    }
    free(ids);
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
    sqlite3_stmt *s = be->w[WQ_RQ_PENDING];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->to_id);
    bind_str(s, 3, op->from_id);
    int rc = w_step(be, s, "request pending");
    if (rc <= 0)
        return rc;
    int64_t id = sqlite3_column_int64(s, 0), seq;
    w_done(s);
    rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, op->from_id, &seq);
    if (rc != 0)
        return rc;
    s = be->w[WQ_RQ_BLACKED];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, seq);
    rc = run_unbind(s);
    int found;
    if (rc == 0)
        rc = rq_get(be, op->app_id, id, &op->res.request, &found);
    return rc == 0 && !found ? STORE_EIO : rc;
}

static int fr_black(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_t f;
    int found, live = 1;
    int rc = 0;
    if (op->flag == 2)
        rc = sqlx_user_live(be, op->app_id, op->to_id, &live, NULL);
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
    if (op->flag == 1) {
        int la, lb;
        rc = sqlx_user_live(be, op->app_id, r->from_id, &la, NULL);
        if (rc == 0)
            rc = sqlx_user_live(be, op->app_id, r->to_id, &lb, NULL);
        if (rc != 0)
            return rc;
        if (!la || !lb) {
            op->res.reject = PETREL_ERR_USER_NOT_FOUND;
            return 0;
        }
        /* a blacklist made since the request stops the friendship:
         * 30006 the addressee blacklisted the requester, 30007 the other
         * way round */
        rc = fr_black_rule(be, op->app_id, r->to_id, r->from_id, &op->res.reject);
        if (rc != 0 || op->res.reject)
            return rc;
    }
    int64_t seq;
    rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, r->to_id, &seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_RQ_DECIDE];
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int(s, 2, op->flag);
    sqlite3_bind_int64(s, 3, now_ms);
    sqlite3_bind_int64(s, 4, seq);
    rc = run_unbind(s);
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
    return fr_befriend(be, op->app_id, r->from_id, r->to_id, &tmpl, now_ms, &op->res.peer_seq,
                       &op->res.seq);
}

static int rq_read(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_RQ_UNREAD];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = w_collect_ints(be, s, &ids, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t seq;
        rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, op->from_id, &seq);
        if (rc != 0)
            break;
        s = be->w[WQ_RQ_READ];
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, now_ms);
        sqlite3_bind_int64(s, 3, seq);
        rc = run_unbind(s);
        if (rc == 0)
            op->res.seq = seq;
    }
    free(ids);
    return rc;
}

/* owner's live list name: *id, 0 when there is none. */
static int fg_by_name(store_backend_t *be, int32_t app_id, const char *owner, const char *name,
                      int64_t *id)
{
    sqlite3_stmt *s = be->w[WQ_FG_BY_NAME];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    bind_str(s, 3, name);
    *id = 0;
    int rc = w_step(be, s, "friend list by name");
    if (rc <= 0)
        return rc;
    *id = sqlite3_column_int64(s, 0);
    w_done(s);
    return 0;
}

/* to is a live friend of owner. */
static int fr_is_friend(store_backend_t *be, int32_t app_id, const char *owner, const char *to,
                        int *yes)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, app_id, owner, to, &f, &found);
    *yes = rc == 0 && f.status == 1;
    return rc;
}

static int fg_add(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live;
    int64_t id;
    int rc = sqlx_user_live(be, op->app_id, op->from_id, &live, NULL);
    if (rc == 0)
        rc = fg_by_name(be, op->app_id, op->from_id, op->name, &id);
    if (rc != 0)
        return rc;
    if (!live || id) {
        op->res.reject = !live ? PETREL_ERR_USER_NOT_FOUND : PETREL_ERR_FRIEND_LIST_EXISTS;
        return 0;
    }
    int64_t seq;
    rc = next_owner_seq(be, WQ_FG_MAX, op->app_id, op->from_id, &seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_FG_INSERT];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    bind_str(s, 3, op->name);
    sqlite3_bind_int64(s, 4, seq);
    sqlite3_bind_int64(s, 5, now_ms);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    op->res.group_id = id = sqlite3_last_insert_rowid(be->wdb);
    op->res.seq = seq;
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        int yes;
        rc = fr_is_friend(be, op->app_id, op->from_id, op->ids[i], &yes);
        if (rc == 0 && yes)
            rc = fgm_run(be, WQ_FGM_ADD, id, op->ids[i]);
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
        rc = fgm_run(be, WQ_FGM_CLEAR, id, NULL);
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
            int yes;
            rc = fr_is_friend(be, op->app_id, op->from_id, op->ids[i], &yes);
            if (rc == 0 && yes)
                rc = fgm_run(be, WQ_FGM_ADD, id, op->ids[i]);
            if (rc != 0)
                return rc;
            op->row_rc[i] = yes ? 0 : PETREL_ERR_NOT_FRIEND;
            changed |= yes && sqlite3_changes(be->wdb) > 0;
        } else {
            rc = fgm_run(be, WQ_FGM_DEL, id, op->ids[i]);
            if (rc != 0)
                return rc;
            int gone = sqlite3_changes(be->wdb) > 0;
            op->row_rc[i] = gone ? 0 : STORE_ENOTFOUND;
            changed |= gone;
        }
    }
    if (changed)
        rc = fg_touch(be, op->app_id, op->from_id, id, 0, now_ms, &op->res.seq);
    return rc;
}

int sqlx_friend_write(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
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

/* store_msg_t.flags: the friendship rules of a send (store.h). */
int sqlx_msg_friend_check(store_backend_t *be, const store_msg_t *m, int *reject)
{
    store_friend_t ab, ba;
    int fab, fba;
    int rc = fr_get(be, m->app_id, m->from_id, m->to_id, &ab, &fab);
    if (rc == 0)
        rc = fr_get(be, m->app_id, m->to_id, m->from_id, &ba, &fba);
    if (rc != 0)
        return rc;
    *reject = 0;
    if ((m->flags & STORE_MSG_CHECK_BLACK) && ab.black == 2)
        *reject = PETREL_ERR_BLACKED_BY_YOU;
    else if ((m->flags & STORE_MSG_CHECK_BLACK) && ba.black == 2)
        *reject = PETREL_ERR_BLACKED_BY_PEER;
    else if ((m->flags & STORE_MSG_CHECK_FRIEND) && (ab.status != 1 || ba.status != 1))
        *reject = PETREL_ERR_NOT_FRIEND;
    return 0;
}

int sqlx_blacked(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                 int *blacked)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, app_id, from_id, to_id, &f, &found);
    *blacked = rc == 0 && f.black == 2;
    return rc;
}
