/*
 * SQLite backend, groups (groups.h, schema version 6): every kind of
 * store_group_op_t on the writer (the group reads on the pool are
 * store_sqlite_group_read.c).
 *
 * Each op reads what it needs (the group row, the actor's and the
 * target's member rows), asks group_rules.h, and writes the rows back
 * whole, so every rule sits next to the change it allows, inside the op's
 * savepoint.  Numbers:
 *   - msg_seq lives in the group row and moves in the same transaction as
 *     the message row that carries it (never reused, never skipped);
 *   - the app's group change sequence is max(im_group.sequence) + 1, taken
 *     once per op; the group row and every member row the op changes carry
 *     it (rows are never deleted, so the maximum never goes back);
 *   - message keys come from the backend's shared allocator
 *     (sqlx_take_key), so one-to-one and group keys never collide.
 * Statements are prepared on first use into the connection's SQLX slots.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#include "server/model/group_rules.h"
#include "server/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writer statements (slots of the writer connection). */
enum gw {
    GW_GROUP_GET,
    GW_GROUP_INSERT,
    GW_GROUP_PUT,
    GW_GROUP_SEQ_MAX,
    GW_GROUP_MSG_SEQ,
    GW_MEMBER_GET,
    GW_MEMBER_PUT,
    GW_MEMBER_IDS,
    GW_MEMBER_READ,
    GW_MSG_DUP,
    GW_MSG_INSERT,
    GW_MSG_BY_KEY,
    GW_MSG_RECALL,
    GW_REQ_PENDING,
    GW_REQ_INSERT,
    GW_REQ_REFRESH,
    GW_REQ_GET,
    GW_REQ_DECIDE,
    GW_CONV_PUT,
    GW_CONV_TOUCH,
    GW_MSG_SENDER,
    GW_COUNT
};

static const char *const GW_SQL[GW_COUNT] = {
    [GW_GROUP_GET] = "SELECT " GCOLS("") " FROM im_group WHERE app_id = ?1 AND group_id = ?2",
    [GW_GROUP_INSERT] =
        "INSERT INTO im_group(app_id, " GCOLS("") ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    [GW_GROUP_PUT] =
        "UPDATE im_group SET owner_id = ?3, group_type = ?4, group_name = ?5, mute = ?6, "
        "apply_join_type = ?7, photo = ?8, max_member_count = ?9, introduction = ?10, "
        "notification = ?11, status = ?12, sequence = ?13, msg_seq = ?14, member_count = ?15, "
        "create_time = ?16, update_time = ?17, extra = ?18 WHERE app_id = ?1 AND group_id = ?2",
    [GW_GROUP_SEQ_MAX] = "SELECT coalesce(max(sequence), 0) FROM im_group WHERE app_id = ?1",
    /* The guard makes a stale value change nothing (checked by the caller). */
    [GW_GROUP_MSG_SEQ] =
        "UPDATE im_group SET msg_seq = ?3 WHERE app_id = ?1 AND group_id = ?2 "
        "AND msg_seq = ?3 - 1",
    [GW_MEMBER_GET] =
        "SELECT " MCOLS("") " FROM im_group_member "
        "WHERE app_id = ?1 AND group_id = ?2 AND member_id = ?3",
    [GW_MEMBER_PUT] =
        "INSERT INTO im_group_member(app_id, group_id, member_id, role, speak_date, alias, "
        "join_time, join_type, leave_time, join_seq, leave_seq, read_seq, sequence, extra) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
        "ON CONFLICT(app_id, group_id, member_id) DO UPDATE SET role = excluded.role, "
        "speak_date = excluded.speak_date, alias = excluded.alias, "
        "join_time = excluded.join_time, join_type = excluded.join_type, "
        "leave_time = excluded.leave_time, join_seq = excluded.join_seq, "
        "leave_seq = excluded.leave_seq, read_seq = excluded.read_seq, "
        "sequence = excluded.sequence, extra = excluded.extra",
    /* ?3: -1 every current member, else only these roles' bit mask */
    [GW_MEMBER_IDS] =
        "SELECT member_id FROM im_group_member WHERE app_id = ?1 AND group_id = ?2 "
        "AND role <> 3 AND (?3 < 0 OR ((1 << role) & ?3) <> 0) ORDER BY member_id",
    [GW_MEMBER_READ] =
        "UPDATE im_group_member SET read_seq = ?4 "
        "WHERE app_id = ?1 AND group_id = ?2 AND member_id = ?3 AND read_seq < ?4",
    [GW_MSG_DUP] =
        "SELECT message_key, sequence, created_at, del_flag, group_id FROM im_group_message "
        "WHERE app_id = ?1 AND from_id = ?2 AND message_id = ?3",
    [GW_MSG_INSERT] =
        "INSERT INTO im_group_message(app_id, group_id, sequence, message_key, from_id, "
        "message_id, body, extra, message_time, message_random, created_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [GW_MSG_BY_KEY] =
        "SELECT group_id, from_id, sequence, created_at, del_flag FROM im_group_message "
        "WHERE app_id = ?1 AND message_key = ?2",
    [GW_MSG_RECALL] =
        "UPDATE im_group_message SET del_flag = 1, recalled_at = ?3 "
        "WHERE app_id = ?1 AND message_key = ?2 AND del_flag = 0",
    [GW_REQ_PENDING] =
        "SELECT id FROM im_group_request WHERE app_id = ?1 AND group_id = ?2 AND from_id = ?3 "
        "AND status = 0",
    [GW_REQ_INSERT] =
        "INSERT INTO im_group_request(app_id, group_id, from_id, wording, create_time, "
        "update_time) VALUES(?1, ?2, ?3, ?4, ?5, ?5)",
    [GW_REQ_REFRESH] = "UPDATE im_group_request SET wording = ?2, update_time = ?3 WHERE id = ?1",
    [GW_REQ_GET] = "SELECT " RCOLS " FROM im_group_request WHERE app_id = ?1 AND id = ?2",
    [GW_REQ_DECIDE] =
        "UPDATE im_group_request SET status = ?2, handler_id = ?3, update_time = ?4 WHERE id = ?1",
    [GW_CONV_PUT] =
        "INSERT INTO im_conversation(app_id, owner_id, peer_id, conversation_type, last_seq, "
        "read_seq, change_seq, updated_at) VALUES(?1, ?2, ?3, 1, ?4, ?5, ?6, ?7) "
        "ON CONFLICT(app_id, owner_id, conversation_type, peer_id) DO UPDATE SET "
        "last_seq = excluded.last_seq, read_seq = excluded.read_seq, deleted = 0, "
        "change_seq = excluded.change_seq, updated_at = excluded.updated_at",
    [GW_CONV_TOUCH] =
        "UPDATE im_conversation SET read_seq = ?4, change_seq = ?5, updated_at = ?6 "
        "WHERE app_id = ?1 AND owner_id = ?2 AND conversation_type = 1 AND peer_id = ?3",
    [GW_MSG_SENDER] =
        "SELECT from_id FROM im_group_message WHERE app_id = ?1 AND group_id = ?2 "
        "AND sequence = ?3",
};

/* ---- small helpers ---------------------------------------------------------- */

static sqlite3_stmt *wq(store_backend_t *be, int k)
{
    return sqlx_stmt(sqlx_wdb(be), &sqlx_wslots(be)[k], GW_SQL[k]);
}
static void bstr(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

int sqlg_err_of(sqlite3 *db, int rc, const char *what)
{
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return STORE_ECONFLICT;
    LOGE("store sqlite error", "what=\"%s\" err=\"%s\"", what, sqlite3_errmsg(db));
    return (rc & 0xff) == SQLITE_CONSTRAINT ? STORE_EINVAL : STORE_EIO;
}

/* Run a writer statement that returns no rows; reset and unbound after. */
static int wrun(store_backend_t *be, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : sqlg_err_of(sqlx_wdb(be), rc, what);
}

/* Step once: 1 row ready (caller resets), 0 none, <0 error (both reset). */
static int wstep(store_backend_t *be, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : sqlg_err_of(sqlx_wdb(be), rc, what);
}

static void wdone(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* ---- writer: rows ------------------------------------------------------------ */

#define NO_STMT(s) \
    do { if (!(s)) return STORE_EIO; } while (0)

static int group_load(store_backend_t *be, int32_t app_id, const char *gid, store_group_t *g)
{
    sqlite3_stmt *s = wq(be, GW_GROUP_GET);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, app_id);
    bstr(s, 2, gid);
    int rc = wstep(be, s, "group get");
    if (rc <= 0)
        return rc == 0 ? STORE_ENOTFOUND : rc;
    rc = sqlg_group_cols(s, 0, g);
    wdone(s);
    return rc;
}

static void bind_group(sqlite3_stmt *s, int32_t app_id, const store_group_t *g)
{
    sqlite3_bind_int(s, 1, app_id);
    bstr(s, 2, g->group_id);
    bstr(s, 3, g->owner_id);
    sqlite3_bind_int(s, 4, g->group_type);
    bstr(s, 5, g->group_name);
    sqlite3_bind_int(s, 6, g->mute);
    sqlite3_bind_int(s, 7, g->apply_join_type);
    bstr(s, 8, g->photo);
    sqlite3_bind_int(s, 9, g->max_member_count);
    bstr(s, 10, g->introduction);
    bstr(s, 11, g->notification);
    sqlite3_bind_int(s, 12, g->status);
    sqlite3_bind_int64(s, 13, g->sequence);
    sqlite3_bind_int64(s, 14, g->msg_seq);
    sqlite3_bind_int(s, 15, g->member_count);
    sqlite3_bind_int64(s, 16, g->create_time);
    sqlite3_bind_int64(s, 17, g->update_time);
    bstr(s, 18, g->extra);
}

static int group_store(store_backend_t *be, int32_t app_id, const store_group_t *g, int insert)
{
    sqlite3_stmt *s = wq(be, insert ? GW_GROUP_INSERT : GW_GROUP_PUT);
    NO_STMT(s);
    bind_group(s, app_id, g);
    return wrun(be, s, insert ? "group insert" : "group put");
}

/* The member row, or role ROLE_NONE (and 0) when there is none. */
static int member_load(store_backend_t *be, int32_t app_id, const char *gid, const char *uid,
                       store_group_member_t *m)
{
    sqlite3_stmt *s = wq(be, GW_MEMBER_GET);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, app_id);
    bstr(s, 2, gid);
    bstr(s, 3, uid);
    int rc = wstep(be, s, "member get");
    if (rc < 0)
        return rc;
    if (rc == 0) {
        memset(m, 0, sizeof *m);
        snprintf(m->member_id, sizeof m->member_id, "%s", uid);
        m->role = ROLE_NONE;
        return 0;
    }
    rc = sqlg_member_cols(s, 0, m);
    wdone(s);
    return rc;
}

static int member_store(store_backend_t *be, int32_t app_id, const char *gid,
                        const store_group_member_t *m)
{
    sqlite3_stmt *s = wq(be, GW_MEMBER_PUT);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, app_id);
    bstr(s, 2, gid);
    bstr(s, 3, m->member_id);
    sqlite3_bind_int(s, 4, m->role);
    sqlite3_bind_int64(s, 5, m->speak_date);
    bstr(s, 6, m->alias);
    sqlite3_bind_int64(s, 7, m->join_time);
    bstr(s, 8, m->join_type);
    sqlite3_bind_int64(s, 9, m->leave_time);
    sqlite3_bind_int64(s, 10, m->join_seq);
    if (m->role == ROLE_LEFT)
        sqlite3_bind_int64(s, 11, m->leave_seq);
    else
        sqlite3_bind_null(s, 11);
    sqlite3_bind_int64(s, 12, m->read_seq);
    sqlite3_bind_int64(s, 13, m->sequence);
    bstr(s, 14, m->extra);
    return wrun(be, s, "member put");
}

/* The member's group conversation at (last, read), under their next
 * change_seq. */
static int conv_put(store_backend_t *be, int32_t app_id, const char *owner, const char *gid,
                    int64_t last, int64_t read, int64_t now_ms)
{
    int64_t change;
    int rc = sqlx_take_change(be, app_id, owner, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = wq(be, GW_CONV_PUT);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, app_id);
    bstr(s, 2, owner);
    bstr(s, 3, gid);
    sqlite3_bind_int64(s, 4, last);
    sqlite3_bind_int64(s, 5, read);
    sqlite3_bind_int64(s, 6, change);
    sqlite3_bind_int64(s, 7, now_ms);
    return wrun(be, s, "group conversation put");
}

/* ---- writer: one op's context ------------------------------------------------- */

typedef struct gctx {
    store_backend_t *be;
    store_group_op_t *op;
    int64_t now;
    store_group_t g;  /* the group as the op changes it */
    int64_t seq;      /* the op's change sequence, 0 until taken */
} gctx_t;

/* The op's change sequence (taken once). */
static int take_seq(gctx_t *x)
{
    if (x->seq)
        return 0;
    sqlite3_stmt *s = wq(x->be, GW_GROUP_SEQ_MAX);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, x->op->app_id);
    int rc = wstep(x->be, s, "group sequence");
    if (rc < 0)
        return rc;
    int64_t mx = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    if (rc == 1)
        wdone(s);
    x->seq = mx + 1;
    x->op->change_seq = x->seq;
    return 0;
}

/* Save the group under the op's change sequence. */
static int save_group(gctx_t *x)
{
    int rc = take_seq(x);
    if (rc != 0)
        return rc;
    x->g.sequence = x->seq;
    x->g.update_time = x->now;
    return group_store(x->be, x->op->app_id, &x->g, 0);
}

/* ids := current members with a role in mask (-1 all), plus extra (may be
 * NULL) when it is not among them. */
static int collect_ids(gctx_t *x, int mask, const char *extra)
{
    store_group_op_t *op = x->op;
    store_group_op_clear(op);
    sqlite3_stmt *s = wq(x->be, GW_MEMBER_IDS);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    bstr(s, 2, op->group_id);
    sqlite3_bind_int(s, 3, mask);
    size_t cap = 0;
    int rc, ret = 0, have_extra = extra == NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (op->nids + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *nv = realloc(op->ids, ncap * sizeof *op->ids);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            op->ids = nv;
            cap = ncap;
        }
        if ((ret = sqlg_ctext(s, 0, op->ids[op->nids], sizeof op->ids[0])) != 0)
            break;
        if (extra && !strcmp(op->ids[op->nids], extra))
            have_extra = 1;
        op->nids++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = sqlg_err_of(sqlx_wdb(x->be), rc, "member ids");
    wdone(s);
    if (ret == 0 && !have_extra) {
        void *nv = realloc(op->ids, (op->nids + 1) * sizeof *op->ids);
        if (!nv)
            ret = STORE_EIO;
        else {
            op->ids = nv;
            snprintf(op->ids[op->nids++], sizeof op->ids[0], "%s", extra);
        }
    }
    if (ret != 0)
        store_group_op_clear(op);
    return ret;
}

/* Put one user into the group (new, or back after leaving) with role.
 * *res: 0 joined, or the code refusing it (not live 20001, already a
 * member 40003, group full 40005, invited by a user it blacklisted
 * 30007). */
static int join_one(gctx_t *x, const store_group_member_t *in, int role, int *res)
{
    store_group_op_t *op = x->op;
    store_group_member_t m;
    int rc = member_load(x->be, op->app_id, op->group_id, in->member_id, &m);
    if (rc != 0)
        return rc;
    *res = 0;
    if (group_role_in(m.role)) {
        *res = PETREL_ERR_ALREADY_MEMBER;
        return 0;
    }
    int reject = 0;
    rc = sqlx_user_check(x->be, op->app_id, in->member_id, 0, &reject);
    if (rc != 0)
        return rc;
    if (reject) {
        *res = reject;
        return 0;
    }
    /* nobody is put into a group by a user they blacklisted (30007);
     * the app admin's calls and joins of one's own accord are not
     * invitations */
    if ((op->what == SG_CREATE || op->what == SG_MEMBER_ADD) && !op->admin &&
        strcmp(in->member_id, op->operator_id) != 0) {
        int blacked;
        if ((rc = sqlx_blacked(x->be, op->app_id, in->member_id, op->operator_id, &blacked)) != 0)
            return rc;
        if (blacked) {
            *res = PETREL_ERR_BLACKED_BY_PEER;
            return 0;
        }
    }
    if (x->g.member_count >= x->g.max_member_count) {
        *res = PETREL_ERR_MEMBER_LIMIT;
        return 0;
    }
    if ((rc = take_seq(x)) != 0)
        return rc;
    memset(&m, 0, sizeof m);
    memcpy(m.member_id, in->member_id, sizeof m.member_id);
    memcpy(m.alias, in->alias, sizeof m.alias);
    memcpy(m.join_type, in->join_type, sizeof m.join_type);
    memcpy(m.extra, in->extra, sizeof m.extra);
    m.role = role;
    m.speak_date = in->speak_date > 0 ? in->speak_date : 0;
    m.join_time = in->join_time > 0 ? in->join_time : x->now;
    m.join_seq = x->g.msg_seq;
    m.read_seq = x->g.msg_seq;
    m.sequence = x->seq;
    rc = member_store(x->be, op->app_id, op->group_id, &m);
    if (rc == 0)
        rc = conv_put(x->be, op->app_id, m.member_id, op->group_id, m.join_seq, m.read_seq,
                      x->now);
    if (rc != 0)
        return rc;
    x->g.member_count++;
    if (role == ROLE_OWNER)
        memcpy(x->g.owner_id, m.member_id, sizeof x->g.owner_id);
    op->member = m;
    return 0;
}

/* m leaves (role 3): it keeps reading up to the current message. */
static int leave_one(gctx_t *x, store_group_member_t *m)
{
    int rc = take_seq(x);
    if (rc != 0)
        return rc;
    m->role = ROLE_LEFT;
    m->leave_time = x->now;
    m->leave_seq = x->g.msg_seq;
    m->sequence = x->seq;
    m->speak_date = 0;
    rc = member_store(x->be, x->op->app_id, x->op->group_id, m);
    if (rc == 0)
        rc = conv_put(x->be, x->op->app_id, m->member_id, x->op->group_id, m->leave_seq,
                      m->read_seq, x->now);
    if (rc == 0 && x->g.member_count > 0)
        x->g.member_count--;
    x->op->member = *m;
    return rc;
}

/* Change a member row under the op's sequence. */
static int member_save(gctx_t *x, store_group_member_t *m)
{
    int rc = take_seq(x);
    if (rc != 0)
        return rc;
    m->sequence = x->seq;
    return member_store(x->be, x->op->app_id, x->op->group_id, m);
}

/* ---- writer: the ops ---------------------------------------------------------- */

static int op_create(gctx_t *x)
{
    store_group_op_t *op = x->op;
    int rc, reject = 0;
    store_group_t cur;
    rc = group_load(x->be, op->app_id, op->group_id, &cur);
    if (rc == 0) {
        op->reject = PETREL_ERR_GROUP_EXISTS;
        return 0;
    }
    if (rc != STORE_ENOTFOUND)
        return rc;
    const char *owner = op->g.owner_id[0] ? op->g.owner_id
                      : op->what == SG_CREATE ? op->operator_id : "";
    if (op->what == SG_IMPORT && !owner[0] && op->g.group_type == GROUP_PUBLIC) {
        op->reject = PETREL_ERR_PUBLIC_NEEDS_OWNER;
        return 0;
    }
    if (owner[0]) {
        if ((rc = sqlx_user_check(x->be, op->app_id, owner, 0, &reject)) != 0)
            return rc;
        if (reject) {
            op->reject = reject;
            return 0;
        }
    }
    if ((rc = take_seq(x)) != 0)
        return rc;
    x->g = op->g;
    memcpy(x->g.group_id, op->group_id, sizeof x->g.group_id);
    x->g.owner_id[0] = '\0';
    if (x->g.max_member_count <= 0)
        x->g.max_member_count = group_default_max_members(x->g.group_type);
    x->g.status = 1;
    x->g.sequence = x->seq;
    x->g.msg_seq = 0;
    x->g.member_count = 0;
    if (op->what == SG_CREATE || x->g.create_time <= 0)
        x->g.create_time = x->now;
    x->g.update_time = x->now;
    if ((rc = group_store(x->be, op->app_id, &x->g, 1)) != 0)
        return rc;
    if (owner[0]) {
        store_group_member_t o;
        memset(&o, 0, sizeof o);
        snprintf(o.member_id, sizeof o.member_id, "%s", owner);
        snprintf(o.join_type, sizeof o.join_type, "%s", op->what == SG_CREATE ? "create" : "import");
        int res;
        if ((rc = join_one(x, &o, ROLE_OWNER, &res)) != 0)
            return rc;
        if (res) { /* cannot happen for a live owner of a new group; keep it honest */
            op->reject = res;
            return 0;
        }
    }
    for (size_t i = 0; i < op->n; i++) {
        if (!strcmp(op->members[i].member_id, owner)) {
            op->results[i] = 0; /* the owner is in already */
            continue;
        }
        int role = op->members[i].role == ROLE_MANAGER && x->g.group_type == GROUP_PUBLIC
                       ? ROLE_MANAGER : ROLE_MEMBER;
        if ((rc = join_one(x, &op->members[i], role, &op->results[i])) != 0)
            return rc;
    }
    if ((rc = save_group(x)) != 0)
        return rc;
    op->group = x->g;
    return collect_ids(x, -1, NULL);
}

/* Load the live group and the operator's row; 1 when the op may go on,
 * 0 with op->reject set. */
static int load_live(gctx_t *x, store_group_member_t *actor, int *go)
{
    store_group_op_t *op = x->op;
    *go = 0;
    int rc = group_load(x->be, op->app_id, op->group_id, &x->g);
    if (rc == STORE_ENOTFOUND) {
        op->reject = PETREL_ERR_GROUP_NOT_FOUND;
        return 0;
    }
    if (rc != 0)
        return rc;
    op->group = x->g;
    if (x->g.status != 1) {
        op->reject = PETREL_ERR_GROUP_DESTROYED;
        return 0;
    }
    if (op->operator_id[0])
        rc = member_load(x->be, op->app_id, op->group_id, op->operator_id, actor);
    else {
        memset(actor, 0, sizeof *actor);
        actor->role = ROLE_NONE;
    }
    if (rc == 0)
        *go = 1;
    return rc;
}

static int check(gctx_t *x, int action, int actor_role, int target_role, int self, int new_role)
{
    int r = group_rule_check(action, x->g.group_type, actor_role, target_role, self, new_role,
                             x->op->admin);
    x->op->reject = r;
    return r;
}

static int op_update(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    if (check(x, GA_UPDATE, a.role, ROLE_NONE, 0, 0))
        return 0;
    if ((op->mask & STORE_GROUP_F_MUTE) && check(x, GA_MUTE_ALL, a.role, ROLE_NONE, 0, 0))
        return 0;
    unsigned k = op->mask;
    const store_group_t *in = &op->g;
    if (k & STORE_GROUP_F_MAX_MEMBER_COUNT) {
        int mx = in->max_member_count > 0 ? in->max_member_count
                                          : group_default_max_members(x->g.group_type);
        if (mx < x->g.member_count) {
            op->reject = PETREL_ERR_MEMBER_LIMIT;
            return 0;
        }
        x->g.max_member_count = mx;
    }
    if (k & STORE_GROUP_F_NAME)
        memcpy(x->g.group_name, in->group_name, sizeof x->g.group_name);
    if (k & STORE_GROUP_F_MUTE)
        x->g.mute = in->mute;
    if (k & STORE_GROUP_F_APPLY_JOIN_TYPE)
        x->g.apply_join_type = in->apply_join_type;
    if (k & STORE_GROUP_F_INTRODUCTION)
        memcpy(x->g.introduction, in->introduction, sizeof x->g.introduction);
    if (k & STORE_GROUP_F_NOTIFICATION)
        memcpy(x->g.notification, in->notification, sizeof x->g.notification);
    if (k & STORE_GROUP_F_PHOTO)
        memcpy(x->g.photo, in->photo, sizeof x->g.photo);
    if (k & STORE_GROUP_F_EXTRA)
        memcpy(x->g.extra, in->extra, sizeof x->g.extra);
    if ((rc = save_group(x)) != 0)
        return rc;
    op->group = x->g;
    return collect_ids(x, -1, NULL);
}

static int op_simple(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    switch (op->what) {
    case SG_DESTROY:
        if (check(x, GA_DESTROY, a.role, ROLE_NONE, 0, 0))
            return 0;
        x->g.status = 2;
        break;
    case SG_MUTE:
        if (check(x, GA_MUTE_ALL, a.role, ROLE_NONE, 0, 0))
            return 0;
        x->g.mute = op->flag;
        break;
    default: { /* SG_TRANSFER */
        store_group_member_t t, old;
        if ((rc = member_load(x->be, op->app_id, op->group_id, op->target, &t)) != 0)
            return rc;
        if (check(x, GA_TRANSFER, a.role, t.role, 0, 0))
            return 0;
        if (!group_role_in(t.role)) {
            op->reject = PETREL_ERR_NOT_MEMBER;
            return 0;
        }
        if (t.role == ROLE_OWNER)
            break; /* already the owner: only the sequence moves */
        if (x->g.owner_id[0]) {
            if ((rc = member_load(x->be, op->app_id, op->group_id, x->g.owner_id, &old)) != 0)
                return rc;
            if (old.role == ROLE_OWNER) {
                old.role = ROLE_MEMBER;
                if ((rc = member_save(x, &old)) != 0)
                    return rc;
            }
        }
        t.role = ROLE_OWNER;
        if ((rc = member_save(x, &t)) != 0)
            return rc;
        memcpy(x->g.owner_id, t.member_id, sizeof x->g.owner_id);
        op->member = t;
        break;
    }
    }
    if ((rc = save_group(x)) != 0)
        return rc;
    op->group = x->g;
    return collect_ids(x, -1, NULL);
}

static int op_member_add(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    int import = op->what == SG_MEMBER_IMPORT;
    if (!import && check(x, GA_ADD_MEMBER, a.role, ROLE_NONE, 0, 0))
        return 0;
    int added = 0;
    for (size_t i = 0; i < op->n; i++) {
        int role = ROLE_MEMBER;
        if (import) {
            role = op->members[i].role;
            if (role < 0 || role > 2) {
                op->results[i] = PETREL_ERR_JOIN_REFUSED;
                continue;
            }
            if (role == ROLE_OWNER && x->g.owner_id[0]) {
                op->results[i] = PETREL_ERR_GROUP_HAS_OWNER;
                continue;
            }
            if (role == ROLE_MANAGER && x->g.group_type == GROUP_PRIVATE)
                role = ROLE_MEMBER;
        }
        if ((rc = join_one(x, &op->members[i], role, &op->results[i])) != 0)
            return rc;
        added += op->results[i] == 0;
    }
    if (added && (rc = save_group(x)) != 0)
        return rc;
    op->group = x->g;
    return collect_ids(x, -1, NULL);
}

static int op_member_leave(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a, t;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    if (op->what == SG_MEMBER_EXIT) {
        if (check(x, GA_EXIT, a.role, a.role, 1, 0))
            return 0;
        t = a;
    } else {
        if ((rc = member_load(x->be, op->app_id, op->group_id, op->target, &t)) != 0)
            return rc;
        if (check(x, GA_REMOVE_MEMBER, a.role, t.role, !strcmp(op->target, op->operator_id), 0))
            return 0;
    }
    if ((rc = leave_one(x, &t)) != 0 || (rc = save_group(x)) != 0)
        return rc;
    op->group = x->g;
    return collect_ids(x, -1, t.member_id);
}

static int op_member_update(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a, t;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    if ((rc = member_load(x->be, op->app_id, op->group_id, op->target, &t)) != 0)
        return rc;
    int self = !strcmp(op->target, op->operator_id);
    if (op->what == SG_MEMBER_SPEAK) {
        if (check(x, GA_SPEAK, a.role, t.role, self, 0))
            return 0;
        t.speak_date = op->speak_date > 0 ? op->speak_date : 0;
    } else {
        if (!group_role_in(t.role)) {
            op->reject = PETREL_ERR_NOT_MEMBER;
            return 0;
        }
        if ((op->mask & STORE_MEMBER_F_ALIAS) && check(x, GA_SET_ALIAS, a.role, t.role, self, 0))
            return 0;
        if ((op->mask & STORE_MEMBER_F_EXTRA) && check(x, GA_SET_EXTRA, a.role, t.role, self, 0))
            return 0;
        if ((op->mask & STORE_MEMBER_F_ROLE) && op->m.role != t.role &&
            check(x, GA_SET_ROLE, a.role, t.role, self, op->m.role))
            return 0;
        if (op->mask & STORE_MEMBER_F_ALIAS)
            memcpy(t.alias, op->m.alias, sizeof t.alias);
        if (op->mask & STORE_MEMBER_F_EXTRA)
            memcpy(t.extra, op->m.extra, sizeof t.extra);
        if (op->mask & STORE_MEMBER_F_ROLE)
            t.role = op->m.role;
    }
    if ((rc = member_save(x, &t)) != 0 || (rc = save_group(x)) != 0)
        return rc;
    op->member = t;
    op->group = x->g;
    return collect_ids(x, -1, NULL);
}

static int request_load(store_backend_t *be, int32_t app_id, int64_t id, store_group_request_t *r)
{
    sqlite3_stmt *s = wq(be, GW_REQ_GET);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    int rc = wstep(be, s, "group request get");
    if (rc <= 0)
        return rc == 0 ? STORE_ENOTFOUND : rc;
    rc = sqlg_request_cols(s, r);
    wdone(s);
    return rc;
}

static int op_apply(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    int reject = 0;
    if ((rc = sqlx_user_check(x->be, op->app_id, op->operator_id, 0, &reject)) != 0)
        return rc;
    if (reject) {
        op->reject = reject;
        return 0;
    }
    int out = group_apply_outcome(x->g.apply_join_type, a.role);
    if (out < 0) {
        op->reject = -out;
        return 0;
    }
    if (out == 0) { /* free to join */
        store_group_member_t in;
        memset(&in, 0, sizeof in);
        memcpy(in.member_id, op->operator_id, sizeof in.member_id);
        snprintf(in.join_type, sizeof in.join_type, "apply");
        int res;
        if ((rc = join_one(x, &in, ROLE_MEMBER, &res)) != 0)
            return rc;
        if (res) {
            op->reject = res;
            return 0;
        }
        if ((rc = save_group(x)) != 0)
            return rc;
        op->joined = 1;
        op->group = x->g;
        return collect_ids(x, -1, NULL);
    }
    /* a pending request: one per (group, user), refreshed on re-apply */
    if (x->g.member_count >= x->g.max_member_count) {
        op->reject = PETREL_ERR_MEMBER_LIMIT;
        return 0;
    }
    sqlite3_stmt *s = wq(x->be, GW_REQ_PENDING);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    bstr(s, 2, op->group_id);
    bstr(s, 3, op->operator_id);
    rc = wstep(x->be, s, "group request pending");
    if (rc < 0)
        return rc;
    int64_t id = 0;
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0);
        wdone(s);
        s = wq(x->be, GW_REQ_REFRESH);
        NO_STMT(s);
        sqlite3_bind_int64(s, 1, id);
        bstr(s, 2, op->wording);
        sqlite3_bind_int64(s, 3, x->now);
        rc = wrun(x->be, s, "group request refresh");
    } else {
        s = wq(x->be, GW_REQ_INSERT);
        NO_STMT(s);
        sqlite3_bind_int(s, 1, op->app_id);
        bstr(s, 2, op->group_id);
        bstr(s, 3, op->operator_id);
        bstr(s, 4, op->wording);
        sqlite3_bind_int64(s, 5, x->now);
        rc = wrun(x->be, s, "group request insert");
        id = sqlite3_last_insert_rowid(sqlx_wdb(x->be));
    }
    if (rc == 0)
        rc = request_load(x->be, op->app_id, id, &op->request);
    if (rc == 0) /* who decides: the owner and the managers */
        rc = collect_ids(x, (1 << ROLE_OWNER) | (1 << ROLE_MANAGER), NULL);
    return rc;
}

static int op_decide(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_member_t a;
    int go, rc = load_live(x, &a, &go);
    if (rc != 0 || !go)
        return rc;
    if (check(x, GA_DECIDE_REQUEST, a.role, ROLE_NONE, 0, 0))
        return 0;
    store_group_request_t r;
    rc = request_load(x->be, op->app_id, op->id, &r);
    if (rc == STORE_ENOTFOUND || (rc == 0 && strcmp(r.group_id, op->group_id))) {
        op->reject = PETREL_ERR_JOIN_REQUEST_NOT_FOUND;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (r.status != 0) {
        op->reject = PETREL_ERR_JOIN_REQUEST_HANDLED;
        return 0;
    }
    if (op->flag == 1) {
        store_group_member_t in;
        memset(&in, 0, sizeof in);
        memcpy(in.member_id, r.from_id, sizeof in.member_id);
        snprintf(in.join_type, sizeof in.join_type, "apply");
        int res;
        if ((rc = join_one(x, &in, ROLE_MEMBER, &res)) != 0)
            return rc;
        if (res && res != PETREL_ERR_ALREADY_MEMBER) {
            op->reject = res; /* full, or the applicant is gone: stays pending */
            return 0;
        }
        op->joined = res == 0;
        if (op->joined && (rc = save_group(x)) != 0)
            return rc;
    }
    sqlite3_stmt *s = wq(x->be, GW_REQ_DECIDE);
    NO_STMT(s);
    sqlite3_bind_int64(s, 1, r.id);
    sqlite3_bind_int(s, 2, op->flag);
    bstr(s, 3, op->operator_id);
    sqlite3_bind_int64(s, 4, x->now);
    if ((rc = wrun(x->be, s, "group request decide")) != 0)
        return rc;
    if ((rc = request_load(x->be, op->app_id, r.id, &op->request)) != 0)
        return rc;
    op->group = x->g;
    return collect_ids(x, -1, r.from_id);
}

static int op_msg(gctx_t *x)
{
    store_group_op_t *op = x->op;
    store_group_msg_t *m = &op->msg;
    /* (a) a resend: the original, nothing written */
    sqlite3_stmt *s = wq(x->be, GW_MSG_DUP);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    bstr(s, 2, op->operator_id);
    bstr(s, 3, m->message_id);
    int rc = wstep(x->be, s, "group message lookup");
    if (rc < 0)
        return rc;
    if (rc == 1) {
        m->message_key = sqlite3_column_int64(s, 0);
        m->sequence = sqlite3_column_int64(s, 1);
        m->created_at = sqlite3_column_int64(s, 2);
        m->del_flag = sqlite3_column_int(s, 3);
        m->duplicate = 1;
        wdone(s);
        return 0;
    }
    /* (b) the sender, the group, the membership and mute rules */
    int reject = 0;
    if ((rc = sqlx_user_check(x->be, op->app_id, op->operator_id, 1, &reject)) != 0)
        return rc;
    if (reject) {
        op->reject = reject;
        return 0;
    }
    store_group_member_t a;
    int go;
    if ((rc = load_live(x, &a, &go)) != 0 || !go)
        return rc;
    if ((op->reject = group_send_check(a.role, x->g.mute, a.speak_date, x->now)) != 0)
        return 0;
    /* (c) numbers, (d) the one row, the group's msg_seq, the sender's read */
    int64_t seq = x->g.msg_seq + 1, key;
    if ((rc = sqlx_take_key(x->be, op->app_id, m->message_key, &key)) != 0)
        return rc;
    s = wq(x->be, GW_MSG_INSERT);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    bstr(s, 2, op->group_id);
    sqlite3_bind_int64(s, 3, seq);
    sqlite3_bind_int64(s, 4, key);
    bstr(s, 5, op->operator_id);
    bstr(s, 6, m->message_id);
    bstr(s, 7, m->body);
    if (m->extra)
        bstr(s, 8, m->extra);
    else
        sqlite3_bind_null(s, 8);
    sqlite3_bind_int64(s, 9, m->message_time);
    sqlite3_bind_int64(s, 10, m->message_random);
    sqlite3_bind_int64(s, 11, x->now);
    if ((rc = wrun(x->be, s, "group message insert")) != 0)
        return rc;
    s = wq(x->be, GW_GROUP_MSG_SEQ);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    bstr(s, 2, op->group_id);
    sqlite3_bind_int64(s, 3, seq);
    if ((rc = wrun(x->be, s, "group message sequence")) != 0)
        return rc;
    if (sqlite3_changes(sqlx_wdb(x->be)) != 1)
        return STORE_EIO;
    s = wq(x->be, GW_MEMBER_READ);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    bstr(s, 2, op->group_id);
    bstr(s, 3, op->operator_id);
    sqlite3_bind_int64(s, 4, seq);
    if ((rc = wrun(x->be, s, "group sender read")) != 0)
        return rc;
    x->g.msg_seq = seq;
    op->group = x->g;
    m->message_key = key;
    m->sequence = seq;
    m->created_at = x->now;
    return 0;
}

static int op_read(gctx_t *x)
{
    store_group_op_t *op = x->op;
    int rc = group_load(x->be, op->app_id, op->group_id, &x->g);
    if (rc == STORE_ENOTFOUND) {
        op->reject = PETREL_ERR_GROUP_NOT_FOUND;
        return 0;
    }
    if (rc != 0)
        return rc;
    store_group_member_t m;
    if ((rc = member_load(x->be, op->app_id, op->group_id, op->operator_id, &m)) != 0)
        return rc;
    if (m.role == ROLE_NONE) {
        op->reject = PETREL_ERR_NOT_MEMBER;
        return 0;
    }
    int64_t bound = m.role == ROLE_LEFT ? m.leave_seq : x->g.msg_seq;
    int64_t upto = op->seq < bound ? op->seq : bound;
    op->group = x->g;
    if (upto > m.read_seq) {
        m.read_seq = upto;
        sqlite3_stmt *s = wq(x->be, GW_MEMBER_READ);
        NO_STMT(s);
        sqlite3_bind_int(s, 1, op->app_id);
        bstr(s, 2, op->group_id);
        bstr(s, 3, op->operator_id);
        sqlite3_bind_int64(s, 4, upto);
        if ((rc = wrun(x->be, s, "group read")) != 0)
            return rc;
        rc = conv_put(x->be, op->app_id, op->operator_id, op->group_id, bound, upto, x->now);
        if (rc != 0)
            return rc;
        op->changed = 1;
        /* who wrote the message read up to: the 2054 receipt's addressee */
        sqlite3_stmt *q = wq(x->be, GW_MSG_SENDER);
        NO_STMT(q);
        sqlite3_bind_int(q, 1, op->app_id);
        bstr(q, 2, op->group_id);
        sqlite3_bind_int64(q, 3, upto);
        rc = wstep(x->be, q, "group message sender");
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = sqlg_ctext(q, 0, op->from_id, sizeof op->from_id);
            wdone(q);
            if (rc != 0)
                return rc;
        }
    }
    op->member = m;
    return 0;
}

static int op_recall(gctx_t *x)
{
    store_group_op_t *op = x->op;
    sqlite3_stmt *s = wq(x->be, GW_MSG_BY_KEY);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    sqlite3_bind_int64(s, 2, op->message_key);
    int rc = wstep(x->be, s, "group message get");
    if (rc < 0)
        return rc;
    char gid[STORE_GROUP_ID_MAX + 1];
    if (rc == 0) {
        op->reject = PETREL_ERR_MSG_NOT_FOUND;
        return 0;
    }
    if (sqlg_ctext(s, 0, gid, sizeof gid) || sqlg_ctext(s, 1, op->from_id, sizeof op->from_id)) {
        wdone(s);
        return STORE_EIO;
    }
    op->recalled_seq = sqlite3_column_int64(s, 2);
    int64_t created = sqlite3_column_int64(s, 3);
    int del = sqlite3_column_int(s, 4);
    wdone(s);
    if (strcmp(gid, op->group_id))
        op->reject = PETREL_ERR_MSG_NOT_FOUND;
    else if (!op->admin && strcmp(op->from_id, op->operator_id))
        op->reject = PETREL_ERR_NOT_OPERATOR;
    else if (del)
        op->reject = PETREL_ERR_RECALLED;
    else if (x->now - created > op->window_ms)
        op->reject = PETREL_ERR_RECALL_TIMEOUT;
    if (op->reject)
        return 0;
    if ((rc = group_load(x->be, op->app_id, op->group_id, &x->g)) != 0)
        return rc;
    op->group = x->g;
    s = wq(x->be, GW_MSG_RECALL);
    NO_STMT(s);
    sqlite3_bind_int(s, 1, op->app_id);
    sqlite3_bind_int64(s, 2, op->message_key);
    sqlite3_bind_int64(s, 3, x->now);
    return wrun(x->be, s, "group message recall");
}

int sqlg_write(store_backend_t *be, store_group_op_t *op, int64_t now_ms)
{
    gctx_t x = {.be = be, .op = op, .now = now_ms};
    for (size_t i = 0; i < op->n; i++)
        op->results[i] = 0;
    switch (op->what) {
    case SG_CREATE:
    case SG_IMPORT:
        return op_create(&x);
    case SG_UPDATE:
        return op_update(&x);
    case SG_DESTROY:
    case SG_TRANSFER:
    case SG_MUTE:
        return op_simple(&x);
    case SG_MEMBER_ADD:
    case SG_MEMBER_IMPORT:
        return op_member_add(&x);
    case SG_MEMBER_REMOVE:
    case SG_MEMBER_EXIT:
        return op_member_leave(&x);
    case SG_MEMBER_UPDATE:
    case SG_MEMBER_SPEAK:
        return op_member_update(&x);
    case SG_APPLY:
        return op_apply(&x);
    case SG_DECIDE:
        return op_decide(&x);
    case SG_MSG:
        return op_msg(&x);
    case SG_READ:
        return op_read(&x);
    case SG_RECALL:
        return op_recall(&x);
    }
    return STORE_EINVAL;
}
