/*
 * SQLite backend: friendship reads (friends.h) on the pool: relations,
 * requests, friend lists, sequences, status peers, blacklists.
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- friendship (readers) ---- */

/* Columns in FR_COLS order. */
static int friend_row(sqlite3_stmt *q, void *dst)
{
    store_friend_t *f = dst;
    memset(f, 0, sizeof *f);
    if (sqlx_col_text(q, 0, f->from_id, sizeof f->from_id) != 0 ||
        sqlx_col_text(q, 1, f->to_id, sizeof f->to_id) != 0 ||
        sqlx_col_text(q, 2, f->remark, sizeof f->remark) != 0 ||
        sqlx_col_text(q, 5, f->add_source, sizeof f->add_source) != 0 ||
        sqlx_col_text(q, 6, f->extra, sizeof f->extra) != 0 ||
        sqlx_col_text(q, 10, f->nick_name, sizeof f->nick_name) != 0) {
        LOGE("store friendship row has an oversized text column", NULL);
        return STORE_EIO;
    }
    f->status = sqlite3_column_int(q, 3);
    f->black = sqlite3_column_int(q, 4);
    f->friend_sequence = sqlite3_column_int64(q, 7);
    f->black_sequence = sqlite3_column_int64(q, 8);
    f->create_time = sqlite3_column_int64(q, 9);
    return 0;
}

/* Columns in REQ_COLS order (also the writer's WQ_RQ_GET). */
int sqlx_request_row(sqlite3_stmt *q, void *dst)
{
    store_friend_request_t *r = dst;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    if (sqlx_col_text(q, 1, r->from_id, sizeof r->from_id) != 0 ||
        sqlx_col_text(q, 2, r->to_id, sizeof r->to_id) != 0 ||
        sqlx_col_text(q, 3, r->remark, sizeof r->remark) != 0 ||
        sqlx_col_text(q, 5, r->add_source, sizeof r->add_source) != 0 ||
        sqlx_col_text(q, 6, r->add_wording, sizeof r->add_wording) != 0) {
        LOGE("store friend request row has an oversized text column", NULL);
        return STORE_EIO;
    }
    r->read_status = sqlite3_column_int(q, 4);
    r->approve_status = sqlite3_column_int(q, 7);
    r->create_time = sqlite3_column_int64(q, 8);
    r->update_time = sqlite3_column_int64(q, 9);
    r->sequence = sqlite3_column_int64(q, 10);
    return 0;
}

static int group_row(sqlite3_stmt *q, void *dst)
{
    store_friend_group_t *g = dst;
    memset(g, 0, sizeof *g);
    g->id = sqlite3_column_int64(q, 0);
    if (sqlx_col_text(q, 1, g->name, sizeof g->name) != 0) {
        LOGE("store friend list row has an oversized name", NULL);
        return STORE_EIO;
    }
    g->sequence = sqlite3_column_int64(q, 2);
    g->del_flag = sqlite3_column_int(q, 3);
    g->create_time = sqlite3_column_int64(q, 4);
    g->update_time = sqlite3_column_int64(q, 5);
    return 0;
}

static int member_row(sqlite3_stmt *q, void *dst)
{
    if (sqlx_col_text(q, 0, dst, STORE_ID_MAX + 1) != 0) {
        LOGE("store friend list member has an oversized id", NULL);
        return STORE_EIO;
    }
    return 0;
}

int sqlx_friend_get(store_backend_t *be, int32_t app_id, const char *from_id,
                    const char *to_id, store_friend_t *out)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_FR_GET];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, from_id);
    bind_str(q, 3, to_id);
    int ret = sqlx_one_row(c->db, q, friend_row, out, "friendship get");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

/* A page of rows (sequence > after, at most limit) and the owner's
 * maximum from one snapshot, for every sequence-synced table. */
static int seq_page(store_backend_t *be, int q_max, int q_list, int32_t app_id,
                    const char *owner, int64_t after, int limit, size_t elem, row_fn fn,
                    void **out, size_t *n, int64_t *max_seq, const char *what)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *qm = c->q[q_max], *ql = c->q[q_list];
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        sqlite3_bind_int(qm, 1, app_id);
        bind_str(qm, 2, owner);
        ret = sqlx_one_row(c->db, qm, sqlx_count_row, max_seq, what);
        sqlx_done_q(qm);
    }
    if (ret == 0) {
        sqlite3_bind_int(ql, 1, app_id);
        bind_str(ql, 2, owner);
        sqlite3_bind_int64(ql, 3, after);
        sqlite3_bind_int(ql, 4, limit);
        ret = sqlx_collect(c->db, ql, elem, fn, out, n, what);
        sqlx_done_q(ql);
    }
    /* friend lists: each one's members, still in the same snapshot */
    if (ret == 0 && q_list == RQ_FG_LIST) {
        store_friend_group_t *g = *out;
        sqlite3_stmt *qg = c->q[RQ_FGM_LIST];
        for (size_t i = 0; ret == 0 && i < *n; i++) {
            void *v = NULL;
            sqlite3_bind_int64(qg, 1, g[i].id);
            ret = sqlx_collect(c->db, qg, STORE_ID_MAX + 1, member_row, &v, &g[i].nmembers,
                          "friend list members");
            sqlx_done_q(qg);
            g[i].members = v;
        }
        if (ret != 0) {
            store_friend_groups_free(g, *n);
            *out = NULL;
            *n = 0;
        }
    }
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    if (ret != 0)
        *max_seq = 0;
    return ret;
}

int sqlx_friend_list(store_backend_t *be, int32_t app_id, const char *owner,
                     int64_t after_seq, int limit, store_friend_t **out, size_t *n,
                     int64_t *max_seq)
{
    void *v = NULL;
    int ret = seq_page(be, RQ_FR_MAX, RQ_FR_LIST, app_id, owner, after_seq, limit,
                       sizeof(store_friend_t), friend_row, &v, n, max_seq, "friendship list");
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_friend_all(store_backend_t *be, int32_t app_id, const char *owner,
                    store_friend_t **out, size_t *n)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_FR_ALL];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, owner);
    void *v = NULL;
    int ret = sqlx_collect(c->db, q, sizeof(store_friend_t), friend_row, &v, n, "friendship all");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_friend_requests(store_backend_t *be, int32_t app_id, const char *to_id,
                         int64_t after_seq, int limit, store_friend_request_t **out,
                         size_t *n, int64_t *max_seq)
{
    void *v = NULL;
    int ret = seq_page(be, RQ_RQ_MAX, RQ_RQ_LIST, app_id, to_id, after_seq, limit,
                       sizeof(store_friend_request_t), sqlx_request_row, &v, n, max_seq,
                       "friend request list");
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_friend_groups(store_backend_t *be, int32_t app_id, const char *owner,
                       int64_t after_seq, int limit, store_friend_group_t **out,
                       size_t *n, int64_t *max_seq)
{
    void *v = NULL;
    int ret = seq_page(be, RQ_FG_MAX, RQ_FG_LIST, app_id, owner, after_seq, limit,
                       sizeof(store_friend_group_t), group_row, &v, n, max_seq,
                       "friend list list");
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_friend_seqs(store_backend_t *be, int32_t app_id, const char *user_id,
                     int64_t *fs, int64_t *rs, int64_t *gs)
{
    rconn_t *c = sqlx_conn_borrow(be);
    const int qs[3] = {RQ_FR_MAX, RQ_RQ_MAX, RQ_FG_MAX};
    int64_t *dst[3] = {fs, rs, gs};
    int ret = run(c->q[RQ_BEGIN]);
    for (int i = 0; ret == 0 && i < 3; i++) {
        sqlite3_stmt *q = c->q[qs[i]];
        sqlite3_bind_int(q, 1, app_id);
        bind_str(q, 2, user_id);
        ret = sqlx_one_row(c->db, q, sqlx_count_row, dst[i], "friendship sequences");
        sqlx_done_q(q);
    }
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    return ret;
}

int sqlx_status_peers(store_backend_t *be, int32_t app_id, const char *user_id,
                      store_user_status_t **out, size_t *n)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_STATUS_PEERS];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_id);
    void *v = NULL;
    int ret = sqlx_collect(c->db, q, sizeof(store_user_status_t), sqlx_status_row, &v, n,
                      "status peers");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_friend_blacked(store_backend_t *be, int32_t app_id, const char *user_id,
                        char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_FR_BLACKED];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_id);
    void *v = NULL;
    int ret = sqlx_collect(c->db, q, STORE_ID_MAX + 1, member_row, &v, n, "blacklist");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}
