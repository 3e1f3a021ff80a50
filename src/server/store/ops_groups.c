/*
 * Groups (groups.h): validation of a store_group_op_t, its submit
 * functions, the blocking reads of groups, members, requests and
 * group messages.
 */
#include "server/store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- groups ---- */

void store_group_op_clear(store_group_op_t *op)
{
    if (!op)
        return;
    free(op->ids);
    op->ids = NULL;
    op->nids = 0;
}

static int gid_ok(const char *s)
{
    return str_len_ok(s, STORE_GROUP_ID_MAX);
}

static int group_strs_ok(const store_group_t *g)
{
    return FITS(g, owner_id) && FITS(g, group_name) && FITS(g, photo) &&
           FITS(g, introduction) && FITS(g, notification) && FITS(g, extra);
}

static int member_strs_ok(const store_group_member_t *m)
{
    return FITS(m, alias) && FITS(m, join_type) && FITS(m, extra);
}

static int group_op_valid(const store_group_op_t *op)
{
    if (!gid_ok(op->group_id) || !FITS(op, operator_id) || !FITS(op, target) ||
        !FITS(op, wording) || op->n > STORE_GROUP_BATCH_MAX || (op->n && !op->members) ||
        (op->n && !op->results))
        return 0;
    for (size_t i = 0; i < op->n; i++)
        if (!id_ok(op->members[i].member_id) || !member_strs_ok(&op->members[i]))
            return 0;
    switch (op->what) {
    case SG_CREATE:
    case SG_IMPORT:
        return group_strs_ok(&op->g) && (op->g.group_type == 1 || op->g.group_type == 2) &&
               op->g.apply_join_type >= 0 && op->g.apply_join_type <= 2 &&
               (op->g.mute == 0 || op->g.mute == 1) && op->g.max_member_count >= 0 &&
               (op->what == SG_IMPORT || id_ok(op->operator_id));
    case SG_UPDATE:
        return group_strs_ok(&op->g) && op->mask && !(op->mask & ~(unsigned)STORE_GROUP_F_ALL) &&
               op->g.apply_join_type >= 0 && op->g.apply_join_type <= 2 &&
               (op->g.mute == 0 || op->g.mute == 1) && op->g.max_member_count >= 0;
    case SG_MUTE:
        return op->flag == 0 || op->flag == 1;
    case SG_TRANSFER:
    case SG_MEMBER_REMOVE:
    case SG_MEMBER_SPEAK:
        return id_ok(op->target);
    case SG_MEMBER_UPDATE:
        return id_ok(op->target) && member_strs_ok(&op->m) && op->mask &&
               !(op->mask & ~7u) &&
               (!(op->mask & STORE_MEMBER_F_ROLE) || op->m.role == 0 || op->m.role == 1);
    case SG_DECIDE:
        return op->flag == 1 || op->flag == 2;
    case SG_MSG:
        return id_ok(op->operator_id) && id_ok(op->msg.message_id) && op->msg.body &&
               op->msg.message_key > 0;
    case SG_RECALL:
        return id_ok(op->operator_id) && op->window_ms >= 0;
    case SG_DESTROY:
    case SG_MEMBER_ADD:
    case SG_MEMBER_IMPORT:
    case SG_APPLY:
    case SG_READ:
        return op->what == SG_MEMBER_IMPORT || id_ok(op->operator_id) || op->admin;
    case SG_MEMBER_EXIT:
        return id_ok(op->operator_id);
    }
    return 0;
}

static int make_group(store_t *st, store_group_op_t *op, op_t **out)
{
    *out = NULL;
    if (!st || !op || !group_op_valid(op))
        return STORE_EINVAL;
    if (!(*out = st_op_new(OP_GROUP)))
        return STORE_EIO;
    (*out)->u.grp = op;
    return 0;
}

int store_group_write(store_t *st, store_group_op_t *op, store_done_fn done, void *arg)
{
    op_t *o;
    int rc = make_group(st, op, &o);
    if (rc == 0 && op->what == SG_MSG)
        return st_enqueue_msg(st, rc, o, done, arg);
    return st_enqueue(st, rc, o, done, arg);
}

int store_group_write_sync(store_t *st, store_group_op_t *op)
{
    op_t *o;
    int rc = make_group(st, op, &o);
    return st_enqueue_wait(st, rc, o);
}

int store_group_get_sync(store_t *st, int32_t app_id, const char *group_id, store_group_t *out)
{
    if (!st || !group_id || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!gid_ok(group_id))
        return STORE_ENOTFOUND;
    return st->bops->group_get(st->be, app_id, group_id, out);
}

int store_group_member_get_sync(store_t *st, int32_t app_id, const char *group_id,
                                const char *member_id, store_group_member_t *out)
{
    if (!st || !group_id || !member_id || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!gid_ok(group_id) || !id_ok(member_id))
        return STORE_ENOTFOUND;
    return st->bops->group_member_get(st->be, app_id, group_id, member_id, out);
}

int store_group_members_sync(store_t *st, int32_t app_id, const char *group_id,
                             store_group_member_t **out, size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    return st->bops->group_members(st->be, app_id, group_id, out, n);
}

int store_group_readers_sync(store_t *st, int32_t app_id, const char *group_id, int64_t seq,
                             char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    return st->bops->group_readers(st->be, app_id, group_id, seq, out, n);
}

int store_group_joined_sync(store_t *st, int32_t app_id, const char *member_id, int all,
                            unsigned types, int64_t after_seq, int offset, int limit,
                            store_joined_t **out, size_t *n, int64_t *total)
{
    if (!st || !member_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t t = 0;
    if (total)
        *total = 0;
    if (!id_ok(member_id))
        return 0;
    if (limit < 1)
        limit = 1;
    if (limit > STORE_GROUP_LIMIT_MAX)
        limit = STORE_GROUP_LIMIT_MAX;
    if (offset < 0)
        offset = 0;
    int rc = st->bops->group_joined(st->be, app_id, member_id, all ? 1 : 0, types, after_seq,
                                    offset, limit, out, n, &t);
    if (rc == 0 && total)
        *total = t;
    return rc;
}

int store_group_requests_sync(store_t *st, int32_t app_id, const char *group_id, int status,
                              store_group_request_t **out, size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    return st->bops->group_requests(st->be, app_id, group_id, status, out, n);
}

void store_group_msg_rows_free(store_group_msg_row_t *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].body);
        free(rows[i].extra);
    }
    free(rows);
}

int store_group_msgs_sync(store_t *st, int32_t app_id, const char *group_id, int64_t from_seq,
                          int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
                          store_group_msg_row_t **out, size_t *n)
{
    if (!st || !group_id || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!gid_ok(group_id))
        return 0;
    if (limit < 1)
        limit = 1;
    if (limit > STORE_GROUP_LIMIT_MAX)
        limit = STORE_GROUP_LIMIT_MAX;
    /* one range: [max(from, lo + 1), min(to, hi)] */
    int64_t a = from_seq > lo + 1 ? from_seq : lo + 1;
    int64_t b = to_seq > 0 ? to_seq : INT64_MAX;
    if (hi > 0 && hi < b)
        b = hi;
    if (a > b)
        return 0;
    return st->bops->group_msgs(st->be, app_id, group_id, a, b, 0, 0, limit, descending, out, n);
}
