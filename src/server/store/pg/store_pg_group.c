/*
 * PostgreSQL backend, group writes (groups.h): every kind of
 * store_group_op_t on the writer (the group reads are
 * store_pg_group_read.c).  The ops, rules, reject codes and outputs are
 * those of store_sqlite_group.c: each op reads what it needs (the group
 * row, the actor's and the target's member rows), asks group_rules.h, and
 * writes the rows back whole, inside the op's savepoint.
 *
 * Several nodes may write one database.  An op that changes a group first
 * reads its row FOR NO KEY UPDATE (load_live), so the writers of one
 * group run one after the other on every node until COMMIT, and the
 * member and request rows an op reads after that statement are current;
 * the member rows it reads are locked as well, since a read (SG_READ)
 * moves a read mark without the group's lock.
 * Numbers (never max + 1):
 *   - msg_seq: UPDATE im_group SET msg_seq = msg_seq + 1 ... RETURNING in
 *     the statement that inserts the message (never reused nor skipped);
 *   - the app's group change sequence: pgw_next(PGC_GROUP_SEQ), taken
 *     once per op; the group row and every member row the op changes
 *     carry it;
 *   - a member's group conversation: pgw_next(PGC_CHANGE_SEQ, member);
 *   - message keys: the app's PGC_APP_KEY counter, shared with one-to-one
 *     messages, at least the proposed key.
 * A group message (the hot path) is two round trips: one read (a resend?
 * the sender's state, the group row locked, the sender's membership), the
 * rules in C, and one write (msg_seq, the key, the message row, the
 * sender's read mark in one statement).
 */
#include "server/store/pg/store_pg_int.h"

#include "server/model/group_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statements ------------------------------------------------------------------ */

#define GROUP_GET "SELECT " PG_GCOLS("") " FROM im_group WHERE app_id = $1 AND group_id = $2"
static pgq_t Q_GROUP_GET = PGQ(GROUP_GET);
static pgq_t Q_GROUP_LOCK = PGQ(GROUP_GET " FOR NO KEY UPDATE");
static pgq_t Q_GROUP_INSERT =
    PGQ("INSERT INTO im_group(app_id, " PG_GCOLS("") ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18)");
static pgq_t Q_GROUP_PUT =
    PGQ("UPDATE im_group SET owner_id = $3, group_type = $4, group_name = $5, mute = $6, "
        "apply_join_type = $7, photo = $8, max_member_count = $9, introduction = $10, "
        "notification = $11, status = $12, sequence = $13, msg_seq = $14, member_count = $15, "
        "create_time = $16, update_time = $17, extra = $18 WHERE app_id = $1 AND group_id = $2");
/* Locked: the op writes the row back whole, and a read mark moved meanwhile
 * by another node (group reads do not lock the group) would be lost. */
static pgq_t Q_MEMBER_GET =
    PGQ("SELECT " PG_MCOLS("") " FROM im_group_member "
        "WHERE app_id = $1 AND group_id = $2 AND member_id = $3 FOR NO KEY UPDATE");

/* The member row: $1 app, $2 group, $3 member, $4..$14 its columns. */
#define MEMBER_PUT                                                                            \
    "INSERT INTO im_group_member(app_id, group_id, member_id, role, speak_date, alias, "       \
    "join_time, join_type, leave_time, join_seq, leave_seq, read_seq, sequence, extra) "      \
    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "                    \
    "ON CONFLICT(app_id, group_id, member_id) DO UPDATE SET role = EXCLUDED.role, "           \
    "speak_date = EXCLUDED.speak_date, alias = EXCLUDED.alias, "                              \
    "join_time = EXCLUDED.join_time, join_type = EXCLUDED.join_type, "                        \
    "leave_time = EXCLUDED.leave_time, join_seq = EXCLUDED.join_seq, "                        \
    "leave_seq = EXCLUDED.leave_seq, read_seq = EXCLUDED.read_seq, "                          \
    "sequence = EXCLUDED.sequence, extra = EXCLUDED.extra"
/* Member $3's conversation of group $2 at (last, read), change_seq change,
 * updated at now (parameter numbers). */
#define CONV_PUT(last, read, change, now)                                                     \
    "INSERT INTO im_conversation(app_id, owner_id, peer_id, conversation_type, last_seq, "    \
    "read_seq, change_seq, updated_at) VALUES($1, $3, $2, 1, " last ", " read ", " change     \
    ", " now ") ON CONFLICT(app_id, owner_id, conversation_type, peer_id) DO UPDATE SET "     \
    "last_seq = EXCLUDED.last_seq, read_seq = EXCLUDED.read_seq, deleted = 0, "               \
    "change_seq = EXCLUDED.change_seq, updated_at = EXCLUDED.updated_at"
static pgq_t Q_MEMBER_PUT = PGQ(MEMBER_PUT);
/* A join or a leave: the member row and its conversation. */
static pgq_t Q_MEMBER_CONV =
    PGQ("WITH mp AS (" MEMBER_PUT ") " CONV_PUT("$15::bigint", "$16::bigint", "$17::bigint",
                                                 "$18::bigint"));
/* $3: -1 every current member, else only these roles' bit mask */
static pgq_t Q_MEMBER_IDS =
    PGQ("SELECT member_id FROM im_group_member WHERE app_id = $1 AND group_id = $2 "
        "AND role <> 3 AND ($3::int < 0 OR ((1 << role) & $3::int) <> 0) ORDER BY member_id");

/* A group message, read: the original of a resend (cols 0-3), the
 * sender's state (4-6), membership (7-8), the group locked (9-25); each
 * part NULL when it has no row.  $1 app, $2 group, $3 sender, $4 message id. */
static pgq_t Q_MSG_CHECK =
    PGQ("WITH g AS (" GROUP_GET " FOR NO KEY UPDATE) "
        "SELECT d.message_key, d.sequence, d.created_at, d.del_flag, "
        "u.del_flag, u.forbidden_flag, u.silent_flag, m.role, m.speak_date, g.* "
        "FROM (SELECT 1) o "
        "LEFT JOIN im_group_message d ON d.app_id = $1 AND d.from_id = $3 AND d.message_id = $4 "
        "LEFT JOIN im_user u ON u.app_id = $1 AND u.user_id = $3 "
        "LEFT JOIN im_group_member m ON m.app_id = $1 AND m.group_id = $2 AND m.member_id = $3 "
        "LEFT JOIN g ON true");
/* A group message, write: msg_seq + 1 (the group row is locked already),
 * the key (the upsert of pgw_next, kind $7, at least $8), the row, the
 * sender's read mark.  No row when the guard fails: the message was stored
 * meanwhile (another node), or the sender's membership changed between
 * the check's snapshot and its lock. */
static pgq_t Q_MSG_PUT = PGQ(
    "WITH s AS (UPDATE im_group SET msg_seq = msg_seq + 1 WHERE app_id = $1 AND group_id = $2 "
    "AND NOT EXISTS (SELECT 1 FROM im_group_message WHERE app_id = $1 AND from_id = $3 "
    "AND message_id = $4) "
    "AND EXISTS (SELECT 1 FROM im_group_member WHERE app_id = $1 AND group_id = $2 "
    "AND member_id = $3 AND role = $5::int AND speak_date = $6::bigint) RETURNING msg_seq), "
    "k AS (INSERT INTO im_counter(app_id, kind, k1, k2, value) "
    "SELECT $1, $7::smallint, '', '', greatest($8::bigint, 1) FROM s "
    "ON CONFLICT (app_id, kind, k1, k2) DO UPDATE "
    "SET value = greatest(im_counter.value + 1, EXCLUDED.value) RETURNING value), "
    "m AS (INSERT INTO im_group_message(app_id, group_id, sequence, message_key, from_id, "
    "message_id, body, extra, message_time, message_random, created_at) "
    "SELECT $1, $2, s.msg_seq, k.value, $3, $4, $9::text, $10::text, $11::bigint, "
    "$12::bigint, $13::bigint FROM s, k RETURNING sequence, message_key), "
    "r AS (UPDATE im_group_member SET read_seq = s.msg_seq FROM s WHERE app_id = $1 "
    "AND group_id = $2 AND member_id = $3 AND read_seq < s.msg_seq) "
    "SELECT sequence, message_key FROM m");
static pgq_t Q_MSG_BY_KEY =
    PGQ("SELECT group_id, from_id, sequence, created_at, del_flag FROM im_group_message "
        "WHERE app_id = $1 AND message_key = $2");
static pgq_t Q_MSG_RECALL = PGQ("UPDATE im_group_message SET del_flag = 1, recalled_at = $3 "
                                "WHERE app_id = $1 AND message_key = $2 AND del_flag = 0");

/* A read: the group (cols 0-16) and the reader's row (17-28, NULL when none). */
static pgq_t Q_READ_GET =
    PGQ("SELECT " PG_GCOLS("g.") ", " PG_MCOLS("m.") " FROM im_group g "
        "LEFT JOIN im_group_member m ON m.app_id = g.app_id AND m.group_id = g.group_id "
        "AND m.member_id = $3 WHERE g.app_id = $1 AND g.group_id = $2");
/* ... moves the read mark to $4 (bound $5, change_seq $6, now $7) and
 * names the sender of message $4. */
static pgq_t Q_READ_PUT =
    PGQ("WITH r AS (UPDATE im_group_member SET read_seq = $4 WHERE app_id = $1 "
        "AND group_id = $2 AND member_id = $3 AND read_seq < $4), "
        "c AS (" CONV_PUT("$5::bigint", "$4", "$6::bigint", "$7::bigint") ") "
        "SELECT from_id FROM im_group_message WHERE app_id = $1 AND group_id = $2 "
        "AND sequence = $4");

/* The pending request is refreshed by a new apply (one per group and user). */
static pgq_t Q_REQ_APPLY =
    PGQ("INSERT INTO im_group_request(app_id, group_id, from_id, wording, create_time, "
        "update_time) VALUES($1, $2, $3, $4, $5, $5) "
        "ON CONFLICT (app_id, group_id, from_id) WHERE status = 0 DO UPDATE "
        "SET wording = EXCLUDED.wording, update_time = EXCLUDED.update_time "
        "RETURNING " PG_RCOLS);
static pgq_t Q_REQ_GET =
    PGQ("SELECT " PG_RCOLS " FROM im_group_request WHERE app_id = $1 AND id = $2");
static pgq_t Q_REQ_DECIDE =
    PGQ("UPDATE im_group_request SET status = $2, handler_id = $3, update_time = $4 "
        "WHERE id = $1 RETURNING " PG_RCOLS);

/* ---- writer: rows ------------------------------------------------------------------ */

/* The group row (locked for the op when lock); STORE_ENOTFOUND when none. */
static int group_load(store_backend_t *be, int32_t app_id, const char *gid, int lock,
                      store_group_t *g)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, gid);
    PGresult *r;
    int rc = pgw_run(be, lock ? &Q_GROUP_LOCK : &Q_GROUP_GET, &p, &r, "group get");
    if (rc != 0)
        return rc;
    rc = PQntuples(r) > 0 ? pgg_group_cols(r, 0, 0, g) : STORE_ENOTFOUND;
    PQclear(r);
    return rc;
}

static int group_store(store_backend_t *be, int32_t app_id, const store_group_t *g, int insert)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, g->group_id);
    pgp_str(&p, g->owner_id);
    pgp_int(&p, g->group_type);
    pgp_str(&p, g->group_name);
    pgp_int(&p, g->mute);
    pgp_int(&p, g->apply_join_type);
    pgp_str(&p, g->photo);
    pgp_int(&p, g->max_member_count);
    pgp_str(&p, g->introduction);
    pgp_str(&p, g->notification);
    pgp_int(&p, g->status);
    pgp_i64(&p, g->sequence);
    pgp_i64(&p, g->msg_seq);
    pgp_int(&p, g->member_count);
    pgp_i64(&p, g->create_time);
    pgp_i64(&p, g->update_time);
    pgp_str(&p, g->extra);
    return pgw_run(be, insert ? &Q_GROUP_INSERT : &Q_GROUP_PUT, &p, NULL,
                   insert ? "group insert" : "group put");
}

/* The member row, or role ROLE_NONE (and 0) when there is none. */
static int member_load(store_backend_t *be, int32_t app_id, const char *gid, const char *uid,
                       store_group_member_t *m)
{
    pgp_t p = PGP_INIT;
    pgp_int(&p, app_id);
    pgp_str(&p, gid);
    pgp_str(&p, uid);
    PGresult *r;
    int rc = pgw_run(be, &Q_MEMBER_GET, &p, &r, "member get");
    if (rc != 0)
        return rc;
    if (PQntuples(r) > 0) {
        rc = pgg_member_cols(r, 0, 0, m);
    } else {
        memset(m, 0, sizeof *m);
        snprintf(m->member_id, sizeof m->member_id, "%s", uid);
        m->role = ROLE_NONE;
    }
    PQclear(r);
    return rc;
}

/* The member row's parameters ($1..$14 of MEMBER_PUT) into p. */
static void member_params(pgp_t *p, int32_t app_id, const char *gid,
                          const store_group_member_t *m)
{
    pgp_int(p, app_id);
    pgp_str(p, gid);
    pgp_str(p, m->member_id);
    pgp_int(p, m->role);
    pgp_i64(p, m->speak_date);
    pgp_str(p, m->alias);
    pgp_i64(p, m->join_time);
    pgp_str(p, m->join_type);
    pgp_i64(p, m->leave_time);
    pgp_i64(p, m->join_seq);
    if (m->role == ROLE_LEFT)
        pgp_i64(p, m->leave_seq);
    else
        pgp_null(p);
    pgp_i64(p, m->read_seq);
    pgp_i64(p, m->sequence);
    pgp_str(p, m->extra);
}

static int member_store(store_backend_t *be, int32_t app_id, const char *gid,
                        const store_group_member_t *m)
{
    pgp_t p = PGP_INIT;
    member_params(&p, app_id, gid, m);
    return pgw_run(be, &Q_MEMBER_PUT, &p, NULL, "member put");
}

/* The member row and the member's group conversation at (last, read),
 * under their next change_seq. */
static int member_conv_store(store_backend_t *be, int32_t app_id, const char *gid,
                             const store_group_member_t *m, int64_t last, int64_t read,
                             int64_t now_ms)
{
    int64_t change;
    int rc = pgw_next(be, PGC_CHANGE_SEQ, app_id, m->member_id, "", 0, &change);
    if (rc != 0)
        return rc;
    pgp_t p = PGP_INIT;
    member_params(&p, app_id, gid, m);
    pgp_i64(&p, last);
    pgp_i64(&p, read);
    pgp_i64(&p, change);
    pgp_i64(&p, now_ms);
    return pgw_run(be, &Q_MEMBER_CONV, &p, NULL, "member and conversation put");
}

/* ---- writer: one op's context ------------------------------------------------------ */

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
    int rc = pgw_next(x->be, PGC_GROUP_SEQ, x->op->app_id, "", "", 0, &x->seq);
    if (rc == 0)
        x->op->change_seq = x->seq;
    return rc;
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
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->group_id);
    pgp_int(&p, mask);
    PGresult *r;
    int ret = pgw_run(x->be, &Q_MEMBER_IDS, &p, &r, "member ids");
    if (ret != 0)
        return ret;
    size_t rows = (size_t)PQntuples(r);
    op->ids = malloc((rows + 1) * sizeof *op->ids);
    int have_extra = extra == NULL;
    if (!op->ids)
        ret = STORE_EIO;
    for (size_t i = 0; ret == 0 && i < rows; i++) {
        if ((ret = pg_text(r, (int)i, 0, op->ids[op->nids], sizeof op->ids[0])) != 0)
            break;
        if (extra && !strcmp(op->ids[op->nids], extra))
            have_extra = 1;
        op->nids++;
    }
    PQclear(r);
    if (ret == 0 && !have_extra)
        snprintf(op->ids[op->nids++], sizeof op->ids[0], "%s", extra);
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
    rc = pgx_user_check(x->be, op->app_id, in->member_id, 0, &reject);
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
        if ((rc = pgx_blacked(x->be, op->app_id, in->member_id, op->operator_id, &blacked)) != 0)
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
    rc = member_conv_store(x->be, op->app_id, op->group_id, &m, m.join_seq, m.read_seq, x->now);
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
    rc = member_conv_store(x->be, x->op->app_id, x->op->group_id, m, m->leave_seq, m->read_seq,
                           x->now);
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

/* ---- writer: the ops ----------------------------------------------------------------- */

static int op_create(gctx_t *x)
{
    store_group_op_t *op = x->op;
    int rc, reject = 0;
    store_group_t cur;
    rc = group_load(x->be, op->app_id, op->group_id, 0, &cur);
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
        if ((rc = pgx_user_check(x->be, op->app_id, owner, 0, &reject)) != 0)
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
    /* a group created meanwhile by another node: its primary key refuses
     * this one (STORE_ECONFLICT, the op undone) */
    if ((rc = group_store(x->be, op->app_id, &x->g, 1)) != 0)
        return rc;
    if (owner[0]) {
        store_group_member_t o;
        memset(&o, 0, sizeof o);
        snprintf(o.member_id, sizeof o.member_id, "%s", owner);
        snprintf(o.join_type, sizeof o.join_type, "%s",
                 op->what == SG_CREATE ? "create" : "import");
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

/* Load and lock the live group and load the operator's row; *go 1 when
 * the op may go on, 0 with op->reject set. */
static int load_live(gctx_t *x, store_group_member_t *actor, int *go)
{
    store_group_op_t *op = x->op;
    *go = 0;
    int rc = group_load(x->be, op->app_id, op->group_id, 1, &x->g);
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
        /* the old owner steps down first: one owner per group (a unique index) */
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

/* Run a request statement q returning one request row into *out;
 * STORE_ENOTFOUND when it returns none. */
static int request_run(store_backend_t *be, pgq_t *q, const pgp_t *p, store_group_request_t *out,
                       const char *what)
{
    PGresult *r;
    int rc = pgw_run(be, q, p, &r, what);
    if (rc != 0)
        return rc;
    rc = PQntuples(r) > 0 ? pgg_request_cols(r, 0, out) : STORE_ENOTFOUND;
    PQclear(r);
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
    if ((rc = pgx_user_check(x->be, op->app_id, op->operator_id, 0, &reject)) != 0)
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
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->group_id);
    pgp_str(&p, op->operator_id);
    pgp_str(&p, op->wording);
    pgp_i64(&p, x->now);
    if ((rc = request_run(x->be, &Q_REQ_APPLY, &p, &op->request, "group request put")) != 0)
        return rc == STORE_ENOTFOUND ? STORE_EIO : rc;
    /* who decides: the owner and the managers */
    return collect_ids(x, (1 << ROLE_OWNER) | (1 << ROLE_MANAGER), NULL);
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
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_i64(&p, op->id);
    rc = request_run(x->be, &Q_REQ_GET, &p, &r, "group request get");
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
    p = (pgp_t)PGP_INIT;
    pgp_i64(&p, r.id);
    pgp_int(&p, op->flag);
    pgp_str(&p, op->operator_id);
    pgp_i64(&p, x->now);
    if ((rc = request_run(x->be, &Q_REQ_DECIDE, &p, &op->request, "group request decide")) != 0)
        return rc == STORE_ENOTFOUND ? STORE_EIO : rc;
    op->group = x->g;
    return collect_ids(x, -1, r.from_id);
}

/* The sender's side of a group message: 0 may send, else the code
 * (pgx_user_check's rules for a sender, read in the message's check). */
static int sender_reject(const PGresult *r)
{
    if (pg_isnull(r, 0, 4) || pg_int(r, 0, 4))
        return PETREL_ERR_USER_NOT_FOUND;
    if (pg_int(r, 0, 5))
        return PETREL_ERR_SENDER_FORBIDDEN;
    if (pg_int(r, 0, 6))
        return PETREL_ERR_SENDER_SILENT;
    return 0;
}

/* One try of a group message: 1 done (stored, a resend or refused), 0
 * the write's guard failed (look again: this op holds the group's lock
 * now, so the second look is current). */
static int msg_try(gctx_t *x, int *done)
{
    store_group_op_t *op = x->op;
    store_group_msg_t *m = &op->msg;
    *done = 1;
    /* (a) one read: a resend, the sender, the group (locked), the membership */
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->group_id);
    pgp_str(&p, op->operator_id);
    pgp_str(&p, m->message_id);
    PGresult *r;
    int rc = pgw_run(x->be, &Q_MSG_CHECK, &p, &r, "group message check");
    if (rc != 0)
        return rc;
    if (!pg_isnull(r, 0, 0)) { /* a resend: the original, nothing written */
        m->message_key = pg_i64(r, 0, 0);
        m->sequence = pg_i64(r, 0, 1);
        m->created_at = pg_i64(r, 0, 2);
        m->del_flag = pg_int(r, 0, 3);
        m->duplicate = 1;
        PQclear(r);
        return 0;
    }
    /* (b) the rules, in store_sqlite_group.c's order */
    int role = pg_isnull(r, 0, 7) ? ROLE_NONE : pg_int(r, 0, 7);
    int64_t speak = pg_i64(r, 0, 8);
    int found = !pg_isnull(r, 0, 9);
    op->reject = sender_reject(r);
    if (!op->reject && found)
        rc = pgg_group_cols(r, 0, 9, &x->g);
    PQclear(r);
    if (rc != 0 || op->reject)
        return rc;
    if (!found) {
        op->reject = PETREL_ERR_GROUP_NOT_FOUND;
        return 0;
    }
    op->group = x->g;
    if (x->g.status != 1) {
        op->reject = PETREL_ERR_GROUP_DESTROYED;
        return 0;
    }
    if ((op->reject = group_send_check(role, x->g.mute, speak, x->now)) != 0)
        return 0;
    /* (c) one write: msg_seq, the key, the row, the sender's read mark */
    p = (pgp_t)PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->group_id);
    pgp_str(&p, op->operator_id);
    pgp_str(&p, m->message_id);
    pgp_int(&p, role);
    pgp_i64(&p, speak);
    pgp_int(&p, PGC_APP_KEY);
    pgp_i64(&p, m->message_key);
    pgp_str(&p, m->body);
    pgp_str(&p, m->extra);
    pgp_i64(&p, m->message_time);
    pgp_i64(&p, m->message_random);
    pgp_i64(&p, x->now);
    if ((rc = pgw_run(x->be, &Q_MSG_PUT, &p, &r, "group message put")) != 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        *done = 0;
        return 0;
    }
    x->g.msg_seq = pg_i64(r, 0, 0);
    m->message_key = pg_i64(r, 0, 1);
    PQclear(r);
    op->group = x->g;
    m->sequence = x->g.msg_seq;
    m->created_at = x->now;
    return 0;
}

static int op_msg(gctx_t *x)
{
    for (int tries = 0; tries < 2; tries++) {
        int done, rc = msg_try(x, &done);
        if (rc != 0 || done)
            return rc;
    }
    return STORE_EIO; /* cannot happen: the second look holds the lock */
}

static int op_read(gctx_t *x)
{
    store_group_op_t *op = x->op;
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_str(&p, op->group_id);
    pgp_str(&p, op->operator_id);
    PGresult *r;
    int rc = pgw_run(x->be, &Q_READ_GET, &p, &r, "group read get");
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        op->reject = PETREL_ERR_GROUP_NOT_FOUND;
        return 0;
    }
    store_group_member_t m;
    int none = pg_isnull(r, 0, PG_NGCOLS);
    rc = pgg_group_cols(r, 0, 0, &x->g);
    if (rc == 0 && !none)
        rc = pgg_member_cols(r, 0, PG_NGCOLS, &m);
    PQclear(r);
    if (rc != 0)
        return rc;
    if (none) {
        op->reject = PETREL_ERR_NOT_MEMBER;
        return 0;
    }
    int64_t bound = m.role == ROLE_LEFT ? m.leave_seq : x->g.msg_seq;
    int64_t upto = op->seq < bound ? op->seq : bound;
    op->group = x->g;
    if (upto > m.read_seq) {
        m.read_seq = upto;
        int64_t change;
        rc = pgw_next(x->be, PGC_CHANGE_SEQ, op->app_id, op->operator_id, "", 0, &change);
        if (rc != 0)
            return rc;
        p = (pgp_t)PGP_INIT;
        pgp_int(&p, op->app_id);
        pgp_str(&p, op->group_id);
        pgp_str(&p, op->operator_id);
        pgp_i64(&p, upto);
        pgp_i64(&p, bound);
        pgp_i64(&p, change);
        pgp_i64(&p, x->now);
        if ((rc = pgw_run(x->be, &Q_READ_PUT, &p, &r, "group read")) != 0)
            return rc;
        op->changed = 1;
        /* who wrote the message read up to: the 2054 receipt's addressee */
        if (PQntuples(r) > 0)
            rc = pg_text(r, 0, 0, op->from_id, sizeof op->from_id);
        PQclear(r);
        if (rc != 0)
            return rc;
    }
    op->member = m;
    return 0;
}

static int op_recall(gctx_t *x)
{
    store_group_op_t *op = x->op;
    pgp_t p = PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_i64(&p, op->message_key);
    PGresult *r;
    int rc = pgw_run(x->be, &Q_MSG_BY_KEY, &p, &r, "group message get");
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        op->reject = PETREL_ERR_MSG_NOT_FOUND;
        return 0;
    }
    char gid[STORE_GROUP_ID_MAX + 1];
    if (pg_text(r, 0, 0, gid, sizeof gid) || pg_text(r, 0, 1, op->from_id, sizeof op->from_id)) {
        PQclear(r);
        return STORE_EIO;
    }
    op->recalled_seq = pg_i64(r, 0, 2);
    int64_t created = pg_i64(r, 0, 3);
    int del = pg_int(r, 0, 4);
    PQclear(r);
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
    if ((rc = group_load(x->be, op->app_id, op->group_id, 0, &x->g)) != 0)
        return rc;
    op->group = x->g;
    p = (pgp_t)PGP_INIT;
    pgp_int(&p, op->app_id);
    pgp_i64(&p, op->message_key);
    pgp_i64(&p, x->now);
    if ((rc = pgw_run(x->be, &Q_MSG_RECALL, &p, &r, "group message recall")) != 0)
        return rc;
    /* no row: another node recalled it since the read above */
    if (strcmp(PQcmdTuples(r), "0") == 0)
        op->reject = PETREL_ERR_RECALLED;
    PQclear(r);
    return 0;
}

int pgx_group_write(store_backend_t *be, store_group_op_t *op, int64_t now_ms)
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
