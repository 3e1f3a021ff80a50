/*
 * SQLite backend: one-to-one messages and conversations (msg.h,
 * conv.h).  sqlx_msg_p2p is the hot path of the writer: a duplicate
 * lookup, the user (and optional friendship) checks, then the numbers
 * (sqlx_next_seq, the app key), the body row and both conversations,
 * with prepared statements only.  Reads on the pool merge the history
 * rows with the bodies whose history rows are not written yet
 * (store_sqlite_hist.c).
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages (writer) ---- */

/* Bind the conversation key (app, owner, type, peer) as ?1..?4. */
static void bind_conv(sqlite3_stmt *s, int32_t app_id, const char *owner, int type,
                      const char *peer)
{
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    sqlite3_bind_int(s, 3, type);
    bind_str(s, 4, peer);
}

/* *reject = the seed code that keeps user_id from taking part (the flags
 * only matter for the sender), 0 when it may. */
static int user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                      int *reject)
{
    sqlite3_stmt *s = be->w[WQ_USER_STATE];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_id);
    int rc = w_step(be, s, "user state");
    if (rc < 0)
        return rc;
    *reject = 0;
    if (rc == 0) {
        *reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    int del = sqlite3_column_int(s, 0), forbidden = sqlite3_column_int(s, 1),
        silent = sqlite3_column_int(s, 2);
    w_done(s);
    if (del)
        *reject = PETREL_ERR_USER_NOT_FOUND;
    else if (sender && forbidden)
        *reject = PETREL_ERR_SENDER_FORBIDDEN;
    else if (sender && silent)
        *reject = PETREL_ERR_SENDER_SILENT;
    return 0;
}

/* The owner's side of a new message: (re)open the conversation at seq.
 * owner's conversation with peer now ends at seq; when owner sent it
 * (read_upto = seq) the conversation is read up to there too: nobody has
 * their own message unread, and a reply implies the earlier ones were
 * seen.  The receiver passes read_upto 0. */
static int conv_on_message(store_backend_t *be, int32_t app_id, const char *owner,
                           const char *peer, int64_t seq, int64_t read_upto, int64_t now_ms)
{
    centry_t *e;
    int64_t change;
    int rc = sqlx_next_change(be, app_id, owner, &e, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_CONV_UPSERT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    bind_str(s, 3, peer);
    sqlite3_bind_int64(s, 4, seq);
    sqlite3_bind_int64(s, 5, change);
    sqlite3_bind_int64(s, 6, now_ms);
    sqlite3_bind_int64(s, 7, read_upto);
    rc = run_unbind(s);
    if (rc == 0)
        e->value = change;
    return rc;
}

static int body_insert(store_backend_t *be, const store_msg_t *m, int64_t key, int64_t seq,
                       int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_BODY_INSERT];
    sqlite3_bind_int(s, 1, m->app_id);
    sqlite3_bind_int64(s, 2, key);
    bind_str(s, 3, m->from_id);
    bind_str(s, 4, m->to_id);
    bind_str(s, 5, m->message_id);
    bind_str(s, 6, m->body);
    if (m->extra)
        bind_str(s, 7, m->extra);
    else
        sqlite3_bind_null(s, 7);
    sqlite3_bind_int64(s, 8, m->message_time);
    sqlite3_bind_int64(s, 9, m->message_random);
    sqlite3_bind_int64(s, 10, seq);
    sqlite3_bind_int64(s, 11, now_ms);
    return run_unbind(s);
}

int sqlx_msg_p2p(store_backend_t *be, store_msg_t *m, int64_t now_ms)
{
    /* (a) A resend: answer with the original, write nothing. */
    sqlite3_stmt *s = be->w[WQ_MSG_DUP];
    sqlite3_bind_int(s, 1, m->app_id);
    bind_str(s, 2, m->from_id);
    bind_str(s, 3, m->message_id);
    int rc = w_step(be, s, "message lookup");
    if (rc < 0)
        return rc;
    if (rc == 1) {
        m->message_key = sqlite3_column_int64(s, 0);
        m->sequence = sqlite3_column_int64(s, 1);
        m->created_at = sqlite3_column_int64(s, 2);
        m->del_flag = sqlite3_column_int(s, 3);
        m->duplicate = 1;
        w_done(s);
        return 0;
    }

    /* (b) Both users, before any number is taken. */
    int reject = 0;
    rc = user_check(be, m->app_id, m->from_id, 1, &reject);
    if (rc == 0 && reject == 0)
        rc = user_check(be, m->app_id, m->to_id, 0, &reject);
    if (rc == 0 && reject == 0 && m->flags) /* (b') the app's friendship rules */
        rc = sqlx_msg_friend_check(be, m, &reject);
    if (rc != 0)
        return rc;
    if (reject != 0) {
        m->reject = reject;
        return 0;
    }

    /* (c) Numbers.  The key is raised above every stored key of the app
     * so keys follow commit order (store.h); normally the proposal is
     * already above. */
    int64_t seq;
    rc = sqlx_next_seq(be, m->app_id, m->from_id, m->to_id, &seq);
    if (rc != 0)
        return rc;
    centry_t *ke;
    rc = sqlx_cache_get(be, CK_APP_KEY, m->app_id, "", "", &ke);
    if (rc != 0)
        return rc;
    int64_t key = m->message_key > ke->value ? m->message_key : ke->value + 1;

    /* (d) The body (both owners' history rows follow in a sorted batch,
     * store_sqlite_hist.c), (e) both conversations. */
    rc = body_insert(be, m, key, seq, now_ms);
    if (rc != 0)
        return rc;
    ke->value = key;
    sqlite_hist_note(be->hist, m->app_id);
    rc = conv_on_message(be, m->app_id, m->from_id, m->to_id, seq, seq, now_ms);
    if (rc == 0)
        rc = conv_on_message(be, m->app_id, m->to_id, m->from_id, seq, 0, now_ms);
    if (rc != 0)
        return rc;
    m->message_key = key;
    m->sequence = seq;
    m->created_at = now_ms;
    return 0;
}

typedef struct conv_state {
    int64_t last_seq, read_seq, change_seq;
    int is_top, is_mute, deleted;
} conv_state_t;

static int conv_load(store_backend_t *be, int32_t app_id, const char *owner, int type,
                     const char *peer, conv_state_t *cs)
{
    sqlite3_stmt *s = be->w[WQ_CONV_GET];
    bind_conv(s, app_id, owner, type, peer);
    int rc = w_step(be, s, "conversation get");
    if (rc <= 0)
        return rc == 0 ? STORE_ENOTFOUND : rc;
    cs->last_seq = sqlite3_column_int64(s, 0);
    cs->read_seq = sqlite3_column_int64(s, 1);
    cs->is_top = sqlite3_column_int(s, 2);
    cs->is_mute = sqlite3_column_int(s, 3);
    cs->deleted = sqlite3_column_int(s, 4);
    cs->change_seq = sqlite3_column_int64(s, 5);
    w_done(s);
    return 0;
}

/* Write cs back under the owner's next change_seq (set in cs). */
static int conv_store(store_backend_t *be, int32_t app_id, const char *owner, int type,
                      const char *peer, conv_state_t *cs, int64_t now_ms)
{
    centry_t *e;
    int64_t change;
    int rc = sqlx_next_change(be, app_id, owner, &e, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_CONV_SET];
    bind_conv(s, app_id, owner, type, peer);
    sqlite3_bind_int64(s, 5, cs->read_seq);
    sqlite3_bind_int(s, 6, cs->is_top);
    sqlite3_bind_int(s, 7, cs->is_mute);
    sqlite3_bind_int(s, 8, cs->deleted);
    sqlite3_bind_int64(s, 9, change);
    sqlite3_bind_int64(s, 10, now_ms);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    e->value = change;
    cs->change_seq = change;
    return 0;
}

static int conv_touch(store_backend_t *be, int32_t app_id, const char *owner,
                      const char *peer, int64_t now_ms);

/* owner read the conversation up to seq.  The peer's row changes too (a
 * new change_seq): it shows owner's read position as peerReadSequence, so
 * the peer's devices learn it from an incremental conversation sync. */
int sqlx_msg_read(store_backend_t *be, int32_t app_id, const char *owner,
                  const char *peer, int64_t seq, int64_t *read_seq, int *changed,
                  int64_t now_ms)
{
    conv_state_t cs;
    int rc = conv_load(be, app_id, owner, 0, peer, &cs);
    if (rc != 0)
        return rc;
    int64_t upto = seq < cs.last_seq ? seq : cs.last_seq;
    *changed = upto > cs.read_seq;
    if (*changed) {
        cs.read_seq = upto;
        rc = conv_store(be, app_id, owner, 0, peer, &cs, now_ms);
        if (rc == 0)
            rc = conv_touch(be, app_id, peer, owner, now_ms);
    }
    *read_seq = cs.read_seq;
    return rc;
}

int sqlx_conv_update(store_backend_t *be, int32_t app_id, const char *owner,
                     const char *peer, int type, int is_top, int is_mute, int deleted,
                     int64_t *change_seq, int64_t now_ms)
{
    conv_state_t cs;
    int rc = conv_load(be, app_id, owner, type, peer, &cs);
    if (rc != 0)
        return rc;
    int changed = (is_top >= 0 && is_top != cs.is_top) ||
                  (is_mute >= 0 && is_mute != cs.is_mute) ||
                  (deleted >= 0 && deleted != cs.deleted);
    if (changed) {
        if (is_top >= 0)
            cs.is_top = is_top;
        if (is_mute >= 0)
            cs.is_mute = is_mute;
        if (deleted >= 0)
            cs.deleted = deleted;
        rc = conv_store(be, app_id, owner, type, peer, &cs, now_ms);
    }
    *change_seq = cs.change_seq;
    return rc;
}

/* Give owner's one-to-one conversation with peer the next change_seq, so
 * its devices learn of a change to a message in it.  A missing row (not
 * possible for a stored message) takes no number. */
static int conv_touch(store_backend_t *be, int32_t app_id, const char *owner,
                      const char *peer, int64_t now_ms)
{
    centry_t *e;
    int64_t change;
    int rc = sqlx_next_change(be, app_id, owner, &e, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_CONV_TOUCH];
    bind_conv(s, app_id, owner, 0, peer);
    sqlite3_bind_int64(s, 5, change);
    sqlite3_bind_int64(s, 6, now_ms);
    rc = run_unbind(s);
    if (rc == 0 && sqlite3_changes(be->wdb) == 1)
        e->value = change;
    return rc;
}

int sqlx_msg_recall(store_backend_t *be, int32_t app_id, int64_t message_key,
                    const char *requester, int is_admin, int64_t now_ms,
                    int64_t window_ms, store_recall_t *out)
{
    sqlite3_stmt *s = be->w[WQ_MSG_BY_KEY];
    sqlite3_bind_int(s, 1, app_id);
    sqlite3_bind_int64(s, 2, message_key);
    int rc = w_step(be, s, "message get");
    if (rc < 0)
        return rc;
    if (rc == 0) {
        out->reject = PETREL_ERR_MSG_NOT_FOUND;
        return 0;
    }
    if (sqlx_col_text(s, 0, out->from_id, sizeof out->from_id) != 0 ||
        sqlx_col_text(s, 1, out->to_id, sizeof out->to_id) != 0) {
        w_done(s);
        LOGE("store message row has an oversized id", "app_id=%d", (int)app_id);
        return STORE_EIO;
    }
    out->sequence = sqlite3_column_int64(s, 2);
    int64_t created_at = sqlite3_column_int64(s, 3);
    int del = sqlite3_column_int(s, 4);
    w_done(s);

    if (!is_admin && strcmp(requester, out->from_id) != 0)
        out->reject = PETREL_ERR_NOT_OPERATOR;
    else if (del)
        out->reject = PETREL_ERR_RECALLED;
    else if (now_ms - created_at > window_ms)
        out->reject = PETREL_ERR_RECALL_TIMEOUT;
    if (out->reject != 0)
        return 0;

    /* Both owners' rows get the next message key as their sync key: a
     * device that synced past the message meets it again, recalled.  The
     * body keeps it too, for rows not yet written (store_sqlite_hist.c);
     * the history updates below then change nothing. */
    int64_t sync_key = 0;
    rc = sqlx_take_key(be, app_id, 0, &sync_key);
    if (rc == 0) {
        s = be->w[WQ_MSG_RECALL];
        sqlite3_bind_int(s, 1, app_id);
        sqlite3_bind_int64(s, 2, message_key);
        sqlite3_bind_int64(s, 3, now_ms);
        sqlite3_bind_int64(s, 4, sync_key);
        rc = run_unbind(s);
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        s = be->w[WQ_HISTORY_RESYNC];
        sqlite3_bind_int(s, 1, app_id);
        bind_str(s, 2, i ? out->to_id : out->from_id);
        bind_str(s, 3, i ? out->from_id : out->to_id);
        sqlite3_bind_int64(s, 4, out->sequence);
        sqlite3_bind_int64(s, 5, sync_key);
        rc = run_unbind(s);
    }
    if (rc == 0)
        rc = conv_touch(be, app_id, out->from_id, out->to_id, now_ms);
    if (rc == 0)
        rc = conv_touch(be, app_id, out->to_id, out->from_id, now_ms);
    return rc;
}

int sqlx_msg_bytes(store_backend_t *be, int32_t app_id, int64_t *out)
{
    static const char sql[] =
        "SELECT (SELECT total(length(CAST(body AS BLOB)) + ifnull(length(CAST(extra AS BLOB)), 0))"
        "        FROM im_message_body WHERE app_id = ?1)"
        "     + (SELECT total(length(CAST(body AS BLOB)) + ifnull(length(CAST(extra AS BLOB)), 0))"
        "        FROM im_group_message WHERE app_id = ?1)";
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = NULL;
    int ret = STORE_EIO;
    if (sqlite3_prepare_v2(c->db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int(q, 1, app_id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            *out = (int64_t)sqlite3_column_double(q, 0);
            ret = 0;
        }
    }
    if (ret != 0)
        LOGE("message bytes query failed", "err=\"%s\"", sqlite3_errmsg(c->db));
    sqlite3_finalize(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

/* ---- messages (readers) ---- */

/* A malloc'ed copy of a TEXT column; NULL (with *err 0) for SQL NULL. */
char *sqlx_col_dup(sqlite3_stmt *q, int col, int *err)
{
    if (sqlite3_column_type(q, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    char *d = t ? malloc(n + 1) : NULL;
    if (!d) {
        *err = STORE_EIO;
        return NULL;
    }
    memcpy(d, t, n);
    d[n] = '\0';
    return d;
}

static void msg_row_cleanup(void *item)
{
    store_msg_row_t *r = item;
    free(r->body);
    free(r->extra);
}

/* Columns in MSG_COLS order. */
static int msg_row(sqlite3_stmt *q, void *dst)
{
    store_msg_row_t *r = dst;
    memset(r, 0, sizeof *r);
    r->message_key = sqlite3_column_int64(q, 0);
    r->sequence = sqlite3_column_int64(q, 1);
    r->message_time = sqlite3_column_int64(q, 2);
    r->message_random = sqlite3_column_int64(q, 3);
    r->created_at = sqlite3_column_int64(q, 4);
    if (sqlx_col_text(q, 5, r->from_id, sizeof r->from_id) != 0 ||
        sqlx_col_text(q, 6, r->to_id, sizeof r->to_id) != 0 ||
        sqlx_col_text(q, 7, r->message_id, sizeof r->message_id) != 0) {
        LOGE("store message row has an oversized id", NULL);
        return STORE_EIO;
    }
    int err = 0;
    r->body = sqlx_col_dup(q, 8, &err);
    if (err == 0)
        r->extra = sqlx_col_dup(q, 9, &err);
    r->del_flag = sqlite3_column_int(q, 10);
    r->sync_key = sqlite3_column_int64(q, 11);
    if (err != 0)
        msg_row_cleanup(r);
    return err;
}

/* Columns in CONV_COLS order. */
static int conv_row(sqlite3_stmt *q, void *dst)
{
    store_conv_t *c = dst;
    memset(c, 0, sizeof *c);
    if (sqlx_col_text(q, 0, c->peer_id, sizeof c->peer_id) != 0) {
        LOGE("store conversation row has an oversized peer_id", NULL);
        return STORE_EIO;
    }
    c->conversation_type = sqlite3_column_int(q, 1);
    c->last_seq = sqlite3_column_int64(q, 2);
    c->read_seq = sqlite3_column_int64(q, 3);
    c->change_seq = sqlite3_column_int64(q, 4);
    c->updated_at = sqlite3_column_int64(q, 5);
    c->is_top = sqlite3_column_int(q, 6);
    c->is_mute = sqlite3_column_int(q, 7);
    c->deleted = sqlite3_column_int(q, 8);
    c->peer_read_seq = sqlite3_column_int64(q, 9);
    return 0;
}

int sqlx_msg_history(store_backend_t *be, int32_t app_id, const char *owner,
                     const char *peer, int64_t from_seq, int64_t to_seq, int limit,
                     int descending, store_msg_row_t **out, size_t *n)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[descending ? RQ_MSG_HISTORY_DESC : RQ_MSG_HISTORY_ASC];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, owner);
    bind_str(q, 3, peer);
    sqlite3_bind_int64(q, 4, from_seq);
    sqlite3_bind_int64(q, 5, to_seq);
    sqlite3_bind_int(q, 6, limit);
    void *v = NULL;
    int ret = sqlx_collect_ex(c->db, q, sizeof(store_msg_row_t), msg_row, msg_row_cleanup, &v, n,
                         "message history");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

int sqlx_msg_sync(store_backend_t *be, int32_t app_id, const char *owner,
                  int64_t after_key, int limit, store_msg_row_t **out, size_t *n,
                  int64_t *max_key)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *qm = c->q[RQ_MSG_MAX_KEY], *qs = c->q[RQ_MSG_SYNC];
    /* Page and max_key from one snapshot, so max_key is never below the
     * page's last key. */
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        sqlite3_bind_int(qm, 1, app_id);
        bind_str(qm, 2, owner);
        ret = sqlx_one_row(c->db, qm, sqlx_count_row, max_key, "message max key");
        sqlx_done_q(qm);
    }
    if (ret == 0) {
        sqlite3_bind_int(qs, 1, app_id);
        bind_str(qs, 2, owner);
        sqlite3_bind_int64(qs, 3, after_key);
        sqlite3_bind_int(qs, 4, limit);
        void *v = NULL;
        ret = sqlx_collect_ex(c->db, qs, sizeof(store_msg_row_t), msg_row, msg_row_cleanup, &v, n,
                         "message sync");
        sqlx_done_q(qs);
        if (ret == 0)
            *out = v;
    }
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    if (ret != 0)
        *max_key = 0;
    return ret;
}

int sqlx_conv_list(store_backend_t *be, int32_t app_id, const char *owner,
                   int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                   int64_t *max_change_seq)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *qm = c->q[RQ_CONV_MAX], *ql = c->q[RQ_CONV_LIST];
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        sqlite3_bind_int(qm, 1, app_id);
        bind_str(qm, 2, owner);
        ret = sqlx_one_row(c->db, qm, sqlx_count_row, max_change_seq, "conversation max");
        sqlx_done_q(qm);
    }
    if (ret == 0) {
        sqlite3_bind_int(ql, 1, app_id);
        bind_str(ql, 2, owner);
        sqlite3_bind_int64(ql, 3, after_change_seq);
        sqlite3_bind_int(ql, 4, limit);
        void *v = NULL;
        ret = sqlx_collect(c->db, ql, sizeof(store_conv_t), conv_row, &v, n, "conversation list");
        sqlx_done_q(ql);
        if (ret == 0)
            *out = v;
    }
    sqlx_read_end(c);
    sqlx_conn_give_back(be, c);
    if (ret != 0)
        *max_change_seq = 0;
    return ret;
}

int sqlx_conv_get(store_backend_t *be, int32_t app_id, const char *owner, int type,
                  const char *peer, store_conv_t *out)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_CONV_GET];
    bind_conv(q, app_id, owner, type, peer);
    int ret = sqlx_one_row(c->db, q, conv_row, out, "conversation get");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

int sqlx_msg_head(store_backend_t *be, int32_t app_id, int64_t message_key,
                  store_msg_row_t *out)
{
    rconn_t *c = sqlx_conn_borrow(be);
    sqlite3_stmt *q = c->q[RQ_MSG_HEAD];
    sqlite3_bind_int(q, 1, app_id);
    sqlite3_bind_int64(q, 2, message_key);
    int ret = sqlx_one_row(c->db, q, msg_row, out, "message head");
    sqlx_done_q(q);
    sqlx_conn_give_back(be, c);
    return ret;
}

int sqlx_user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                    int *reject)
{
    return user_check(be, app_id, user_id, sender, reject);
}
