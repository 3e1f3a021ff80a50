/*
 * SQLite backend, group reads (groups.h) on the pool: groups, members,
 * joined groups and their sync, join requests, group messages with read
 * counts; and the column readers the group writer shares
 * (sqlg_group_cols, ...).  Statements are prepared on first use into the
 * read connection's SQLX slots.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#include "server/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reader statements (slots of each read connection). */
enum gr {
    GR_GROUP_GET,
    GR_MEMBER_GET,
    GR_MEMBERS,
    GR_READERS,
    GR_JOINED,
    GR_JOINED_TOTAL,
    GR_SYNC,
    GR_SYNC_MAX,
    GR_REQUESTS,
    GR_MSGS_ASC,
    GR_MSGS_DESC,
    GR_COUNT
};

#define SYNC_SEQ "CASE WHEN m.role = 3 THEN m.sequence ELSE g.sequence END"
#define JOINED_FROM                                                                           \
    " FROM im_group_member m JOIN im_group g ON g.app_id = m.app_id AND g.group_id = m.group_id "
/* The read count (store.h) counts only members who may read the message:
 * one who joined after it has read_seq past it without having seen it. */
#define MSG_COLS                                                                              \
    "x.message_key, x.sequence, x.message_time, x.message_random, x.created_at, x.from_id, "  \
    "x.message_id, CASE WHEN x.del_flag = 0 THEN x.body END, x.extra, x.del_flag, "           \
    "(SELECT count(*) FROM im_group_member r WHERE r.app_id = x.app_id "                      \
    "AND r.group_id = x.group_id AND r.member_id <> x.from_id AND r.read_seq >= x.sequence "  \
    "AND r.join_seq < x.sequence AND (r.role <> 3 OR r.leave_seq >= x.sequence)) "            \
    "FROM im_group_message x WHERE x.app_id = ?1 AND x.group_id = ?2 "                        \
    "AND x.sequence BETWEEN ?3 AND ?4 "

static const char *const GR_SQL[GR_COUNT] = {
    [GR_GROUP_GET] = "SELECT " GCOLS("") " FROM im_group WHERE app_id = ?1 AND group_id = ?2",
    [GR_MEMBER_GET] =
        "SELECT " MCOLS("") " FROM im_group_member "
        "WHERE app_id = ?1 AND group_id = ?2 AND member_id = ?3",
    [GR_MEMBERS] =
        "SELECT " MCOLS("") " FROM im_group_member WHERE app_id = ?1 AND group_id = ?2 "
        "AND role <> 3 ORDER BY role = 2 DESC, role = 1 DESC, member_id",
    [GR_READERS] =
        "SELECT member_id FROM im_group_member WHERE app_id = ?1 AND group_id = ?2 "
        "AND role <> 3 AND join_seq < ?3",
    [GR_JOINED] =
        "SELECT " GCOLS("g.") ", " MCOLS("m.") JOINED_FROM
        "WHERE m.app_id = ?1 AND m.member_id = ?2 AND m.role <> 3 "
        "AND (?3 = 0 OR ((1 << g.group_type) & ?3) <> 0) ORDER BY g.group_id LIMIT ?4 OFFSET ?5",
    [GR_JOINED_TOTAL] =
        "SELECT count(*)" JOINED_FROM "WHERE m.app_id = ?1 AND m.member_id = ?2 AND m.role <> 3 "
        "AND (?3 = 0 OR ((1 << g.group_type) & ?3) <> 0)",
    [GR_SYNC] =
        "SELECT " GCOLS("g.") ", " MCOLS("m.") JOINED_FROM
        "WHERE m.app_id = ?1 AND m.member_id = ?2 AND " SYNC_SEQ " > ?3 "
        "ORDER BY " SYNC_SEQ " LIMIT ?4",
    [GR_SYNC_MAX] =
        "SELECT coalesce(max(" SYNC_SEQ "), 0)" JOINED_FROM "WHERE m.app_id = ?1 AND m.member_id = ?2",
    [GR_REQUESTS] =
        "SELECT " RCOLS " FROM im_group_request WHERE app_id = ?1 AND group_id = ?2 "
        "AND (?3 < 0 OR status = ?3) ORDER BY id LIMIT 1000",
    [GR_MSGS_ASC] = "SELECT " MSG_COLS "ORDER BY x.sequence ASC LIMIT ?5",
    [GR_MSGS_DESC] = "SELECT " MSG_COLS "ORDER BY x.sequence DESC LIMIT ?5",
};

/* ---- small helpers ---------------------------------------------------------- */

static sqlite3_stmt *rq(sqlx_reader_t *r, int k)
{
    return sqlx_stmt(r->db, &r->slots[k], GR_SQL[k]);
}
int sqlg_ctext(sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!t || n >= cap) {
        LOGE("store group row has an oversized text column", "col=%d", col);
        return STORE_EIO;
    }
    memcpy(dst, t, n);
    dst[n] = '\0';
    return 0;
}

#define CTEXT(q, col, obj, field) sqlg_ctext(q, col, (obj)->field, sizeof (obj)->field)

int sqlg_group_cols(sqlite3_stmt *q, int c, store_group_t *g)
{
    memset(g, 0, sizeof *g);
    if (CTEXT(q, c, g, group_id) || CTEXT(q, c + 1, g, owner_id) ||
        CTEXT(q, c + 3, g, group_name) || CTEXT(q, c + 6, g, photo) ||
        CTEXT(q, c + 8, g, introduction) || CTEXT(q, c + 9, g, notification) ||
        CTEXT(q, c + 16, g, extra))
        return STORE_EIO;
    g->group_type = sqlite3_column_int(q, c + 2);
    g->mute = sqlite3_column_int(q, c + 4);
    g->apply_join_type = sqlite3_column_int(q, c + 5);
    g->max_member_count = sqlite3_column_int(q, c + 7);
    g->status = sqlite3_column_int(q, c + 10);
    g->sequence = sqlite3_column_int64(q, c + 11);
    g->msg_seq = sqlite3_column_int64(q, c + 12);
    g->member_count = sqlite3_column_int(q, c + 13);
    g->create_time = sqlite3_column_int64(q, c + 14);
    g->update_time = sqlite3_column_int64(q, c + 15);
    return 0;
}

int sqlg_member_cols(sqlite3_stmt *q, int c, store_group_member_t *m)
{
    memset(m, 0, sizeof *m);
    if (CTEXT(q, c, m, member_id) || CTEXT(q, c + 3, m, alias) || CTEXT(q, c + 5, m, join_type) ||
        CTEXT(q, c + 11, m, extra))
        return STORE_EIO;
    m->role = sqlite3_column_int(q, c + 1);
    m->speak_date = sqlite3_column_int64(q, c + 2);
    m->join_time = sqlite3_column_int64(q, c + 4);
    m->leave_time = sqlite3_column_int64(q, c + 6);
    m->join_seq = sqlite3_column_int64(q, c + 7);
    m->leave_seq = sqlite3_column_int64(q, c + 8);
    m->read_seq = sqlite3_column_int64(q, c + 9);
    m->sequence = sqlite3_column_int64(q, c + 10);
    return 0;
}

int sqlg_request_cols(sqlite3_stmt *q, store_group_request_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    if (CTEXT(q, 1, r, group_id) || CTEXT(q, 2, r, from_id) || CTEXT(q, 3, r, wording) ||
        CTEXT(q, 5, r, handler_id))
        return STORE_EIO;
    r->status = sqlite3_column_int(q, 4);
    r->create_time = sqlite3_column_int64(q, 6);
    r->update_time = sqlite3_column_int64(q, 7);
    return 0;
}

/* ---- readers -------------------------------------------------------------------- */

typedef int (*grow_fn)(sqlite3_stmt *q, void *dst);

/* Step q to the end into a malloc'ed array (cleanup frees an item's
 * insides when a later row fails). */
static int gcollect(sqlite3 *db, sqlite3_stmt *q, size_t elem, grow_fn fn,
                    void (*cleanup)(void *), void **out, size_t *n)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int ret = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *nv = realloc(v, ncap * elem);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((ret = fn(q, v + len * elem)) != 0)
            break;
        len++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = sqlg_err_of(db, rc, "group read");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (ret != 0) {
        for (size_t i = 0; cleanup && i < len; i++)
            cleanup(v + i * elem);
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

static int g_row(sqlite3_stmt *q, void *dst)
{
    return sqlg_group_cols(q, 0, dst);
}

static int m_row(sqlite3_stmt *q, void *dst)
{
    return sqlg_member_cols(q, 0, dst);
}

static int id_row(sqlite3_stmt *q, void *dst)
{
    return sqlg_ctext(q, 0, dst, STORE_ID_MAX + 1);
}

static int joined_row(sqlite3_stmt *q, void *dst)
{
    store_joined_t *j = dst;
    int rc = sqlg_group_cols(q, 0, &j->g);
    return rc ? rc : sqlg_member_cols(q, NGCOLS, &j->m);
}

static int req_row(sqlite3_stmt *q, void *dst)
{
    return sqlg_request_cols(q, dst);
}

static void msg_cleanup(void *p)
{
    store_group_msg_row_t *r = p;
    free(r->body);
    free(r->extra);
}

static int msg_row(sqlite3_stmt *q, void *dst)
{
    store_group_msg_row_t *r = dst;
    memset(r, 0, sizeof *r);
    r->message_key = sqlite3_column_int64(q, 0);
    r->sequence = sqlite3_column_int64(q, 1);
    r->message_time = sqlite3_column_int64(q, 2);
    r->message_random = sqlite3_column_int64(q, 3);
    r->created_at = sqlite3_column_int64(q, 4);
    if (CTEXT(q, 5, r, from_id) || CTEXT(q, 6, r, message_id))
        return STORE_EIO;
    int err = 0;
    r->body = sqlx_col_dup(q, 7, &err);
    if (!err)
        r->extra = sqlx_col_dup(q, 8, &err);
    r->del_flag = sqlite3_column_int(q, 9);
    r->read_count = sqlite3_column_int(q, 10);
    if (err)
        msg_cleanup(r);
    return err;
}

/* Borrow, get statement k or fail. */
#define READ_BEGIN(k)                                                                         \
    sqlx_reader_t r;                                                                          \
    sqlx_borrow(be, &r);                                                                      \
    sqlite3_stmt *q = rq(&r, k);                                                              \
    if (!q) {                                                                                 \
        sqlx_give_back(be, &r);                                                               \
        return STORE_EIO;                                                                     \
    }

static int one(sqlite3 *db, sqlite3_stmt *q, grow_fn fn, void *dst)
{
    int rc = sqlite3_step(q);
    int ret = rc == SQLITE_ROW ? fn(q, dst) : rc == SQLITE_DONE ? STORE_ENOTFOUND
                                                                : sqlg_err_of(db, rc, "group get");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return ret;
}

int sqlg_get(store_backend_t *be, int32_t app_id, const char *group_id, store_group_t *out)
{
    READ_BEGIN(GR_GROUP_GET);
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, group_id);
    int rc = one(r.db, q, g_row, out);
    sqlx_give_back(be, &r);
    return rc;
}

int sqlg_member_get(store_backend_t *be, int32_t app_id, const char *group_id,
                    const char *member_id, store_group_member_t *out)
{
    READ_BEGIN(GR_MEMBER_GET);
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, group_id);
    bind_str(q, 3, member_id);
    int rc = one(r.db, q, m_row, out);
    sqlx_give_back(be, &r);
    return rc;
}

int sqlg_members(store_backend_t *be, int32_t app_id, const char *group_id,
                 store_group_member_t **out, size_t *n)
{
    READ_BEGIN(GR_MEMBERS);
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, group_id);
    void *v = NULL;
    int rc = gcollect(r.db, q, sizeof **out, m_row, NULL, &v, n);
    sqlx_give_back(be, &r);
    if (rc == 0)
        *out = v;
    return rc;
}

int sqlg_readers(store_backend_t *be, int32_t app_id, const char *group_id, int64_t seq,
                 char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    READ_BEGIN(GR_READERS);
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, group_id);
    sqlite3_bind_int64(q, 3, seq);
    void *v = NULL;
    int rc = gcollect(r.db, q, sizeof **out, id_row, NULL, &v, n);
    sqlx_give_back(be, &r);
    if (rc == 0)
        *out = v;
    return rc;
}

int sqlg_joined(store_backend_t *be, int32_t app_id, const char *member_id, int all,
                unsigned types, int64_t after_seq, int offset, int limit, store_joined_t **out,
                size_t *n, int64_t *total)
{
    sqlx_reader_t r;
    sqlx_borrow(be, &r);
    sqlite3_stmt *ql = rq(&r, all ? GR_SYNC : GR_JOINED);
    sqlite3_stmt *qt = rq(&r, all ? GR_SYNC_MAX : GR_JOINED_TOTAL);
    int rc = ql && qt ? sqlite3_exec(r.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : STORE_EIO
                      : STORE_EIO;
    if (rc == 0) {
        sqlite3_bind_int(qt, 1, app_id);
        bind_str(qt, 2, member_id);
        if (!all)
            sqlite3_bind_int64(qt, 3, types);
        int s = sqlite3_step(qt);
        if (s == SQLITE_ROW)
            *total = sqlite3_column_int64(qt, 0);
        else
            rc = sqlg_err_of(r.db, s, "group joined total");
        sqlite3_reset(qt);
        sqlite3_clear_bindings(qt);
    }
    if (rc == 0) {
        sqlite3_bind_int(ql, 1, app_id);
        bind_str(ql, 2, member_id);
        if (all) {
            sqlite3_bind_int64(ql, 3, after_seq);
            sqlite3_bind_int(ql, 4, limit);
        } else {
            sqlite3_bind_int64(ql, 3, types);
            sqlite3_bind_int(ql, 4, limit);
            sqlite3_bind_int(ql, 5, offset);
        }
        void *v = NULL;
        rc = gcollect(r.db, ql, sizeof **out, joined_row, NULL, &v, n);
        if (rc == 0)
            *out = v;
    }
    sqlx_give_back(be, &r);
    return rc;
}

int sqlg_requests(store_backend_t *be, int32_t app_id, const char *group_id, int status,
                  store_group_request_t **out, size_t *n)
{
    READ_BEGIN(GR_REQUESTS);
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, group_id);
    sqlite3_bind_int(q, 3, status);
    void *v = NULL;
    int rc = gcollect(r.db, q, sizeof **out, req_row, NULL, &v, n);
    sqlx_give_back(be, &r);
    if (rc == 0)
        *out = v;
    return rc;
}

int sqlg_msgs(store_backend_t *be, int32_t app_id, const char *group_id, int64_t from_seq,
              int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
              store_group_msg_row_t **out, size_t *n)
{
    (void)lo;
    (void)hi; /* the front already intersected the bounds into [from, to] */
    READ_BEGIN(descending ? GR_MSGS_DESC : GR_MSGS_ASC);
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, group_id);
    sqlite3_bind_int64(q, 3, from_seq);
    sqlite3_bind_int64(q, 4, to_seq);
    sqlite3_bind_int(q, 5, limit);
    void *v = NULL;
    int rc = gcollect(r.db, q, sizeof **out, msg_row, msg_cleanup, &v, n);
    sqlx_give_back(be, &r);
    if (rc == 0)
        *out = v;
    return rc;
}
