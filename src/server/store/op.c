/*
 * One queued write op (store_int.h): freeing it, running it inside the
 * writer's transaction (dispatch to the backend, the storage quota), and
 * publishing its outputs to the caller once the transaction's fate is
 * known.  Adding an op kind: store_int.h, then a case in each switch here.
 */
#include "server/store/store_int.h"

#include <stdlib.h>
#include <string.h>

void st_friend_op_free(store_friend_op_t *fo)
{
    if (!fo)
        return;
    free(fo->ids);
    free(fo->items);
    free(fo->row_rc);
    free(fo->row_seq);
    free(fo->res.peers);
    free(fo);
}

void st_op_free(op_t *op)
{
    switch (op->kind) {
    case OP_USER_IMPORT:
        free(op->u.import.users);
        free(op->u.import.rows.row_rc);
        break;
    case OP_USER_DELETE:
        free(op->u.del.ids);
        free(op->u.del.rows.row_rc);
        break;
    case OP_MSG_P2P:
        free(op->u.p2p.msg.body);
        free(op->u.p2p.msg.extra);
        break;
    case OP_FRIEND:
        st_friend_op_free(op->u.fr.fo);
        break;
    case OP_APP_PUT:
    case OP_USER_UPDATE:
    case OP_ACCOUNT_CREATE:
    case OP_ACCOUNT_REGISTER:
    case OP_MSG_READ:
    case OP_MSG_RECALL:
    case OP_CONV_UPDATE:
    case OP_USER_STATUS:
    case OP_GROUP:
    case OP_PROBE:
        break;
    }
    free(op);
}

/* The op's rows, if it has per-row results. */
static rows_t *op_rows(op_t *op)
{
    switch (op->kind) {
    case OP_USER_IMPORT:
        return &op->u.import.rows;
    case OP_USER_DELETE:
        return &op->u.del.rows;
    default:
        break;
    }
    return NULL;
}

/* The outputs of a message op, to the caller, only for a committed op. */
static void publish_msg(op_t *op)
{
    if (op->rc != 0)
        return;
    switch (op->kind) {
    case OP_MSG_P2P: {
        const store_msg_t *m = &op->u.p2p.msg;
        store_msg_t *out = op->u.p2p.out;
        out->message_key = m->message_key;
        out->sequence = m->sequence;
        out->created_at = m->created_at;
        out->duplicate = m->duplicate;
        out->reject = m->reject;
        out->del_flag = m->del_flag;
        break;
    }
    case OP_MSG_READ:
        if (op->u.read.out_read_seq)
            *op->u.read.out_read_seq = op->u.read.read_seq;
        if (op->u.read.out_changed)
            *op->u.read.out_changed = op->u.read.changed;
        break;
    case OP_MSG_RECALL:
        *op->u.recall.out = op->u.recall.res;
        break;
    case OP_CONV_UPDATE:
        if (op->u.conv.out)
            *op->u.conv.out = op->u.conv.change_seq;
        break;
    default:
        break;
    }
}

/* A friendship op's outputs: res, per-row results and sequences.  On a
 * failed op the caller's results all get rc (like multi-row ops); a
 * rejected op's rows all get the reject code. */
static void publish_friend(op_t *op)
{
    store_friend_op_t *fo = op->u.fr.fo;
    for (size_t i = 0; i < fo->n; i++) {
        if (op->u.fr.results)
            op->u.fr.results[i] = op->rc != 0 ? op->rc
                                : fo->res.reject ? fo->res.reject : fo->row_rc[i];
        if (op->u.fr.seqs && op->rc == 0)
            op->u.fr.seqs[i] = fo->res.reject ? 0 : fo->row_seq[i];
    }
    if (op->rc == 0 && op->u.fr.out) {
        *op->u.fr.out = fo->res;
        fo->res.peers = NULL; /* now the caller's */
    }
}

/* Publish results once op->rc is final (writer, before done). */
void st_op_finish(op_t *op)
{
    if (op->kind == OP_FRIEND) {
        publish_friend(op);
        return;
    }
    publish_msg(op);
    rows_t *r = op_rows(op);
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        r->results[i] = op->rc == 0 ? r->row_rc[i] : op->rc;
}

/* ---- storage quota (writer thread) ---- */

static int64_t *usage_of(store_t *st, int32_t app_id)
{
    for (size_t i = 0; i < st->nusage; i++)
        if (st->usage[i].app_id == app_id)
            return &st->usage[i].bytes;
    struct app_usage *u = realloc(st->usage, (st->nusage + 1) * sizeof *u);
    if (!u)
        return NULL;
    st->usage = u;
    u[st->nusage] = (struct app_usage){app_id, 0}; /* an app made after open */
    return &u[st->nusage++].bytes;
}

static int64_t msg_size(const char *body, const char *extra)
{
    return (int64_t)(body ? strlen(body) : 0) + (int64_t)(extra ? strlen(extra) : 0);
}

/* 1 when a new message of `size` bytes would take the app over its quota.
 * Counted by the caller once stored; an op whose batch then fails stays
 * counted (the usage errs on the high side until the next start). */
static int over_quota(store_t *st, int32_t app_id, int64_t size, int64_t **usage)
{
    *usage = st->quota ? usage_of(st, app_id) : NULL;
    return *usage && **usage + size > st->quota;
}

/* A run of n queued one-to-one messages through the backend's
 * msg_p2p_batch, inside one op of the writer's transaction: the quota
 * first (a message that would pass it is counted at once, so the next one
 * of the run sees it, and uncounted if it is not stored), then one call.
 * Each op gets its own rc; returns non-zero only when the transaction is
 * lost. */
int st_op_exec_p2p_run(store_t *st, op_t **ops, size_t n)
{
    store_msg_t *ms[ST_P2P_RUN_MAX];
    int rcs[ST_P2P_RUN_MAX];
    op_t *sent[ST_P2P_RUN_MAX];
    size_t k = 0;
    int64_t now = store_now_ms();
    for (size_t i = 0; i < n && i < ST_P2P_RUN_MAX; i++) {
        store_msg_t *m = &ops[i]->u.p2p.msg;
        int64_t size = msg_size(m->body, m->extra), *usage;
        ops[i]->rc = 0;
        if (over_quota(st, m->app_id, size, &usage)) {
            m->reject = PETREL_ERR_QUOTA;
            continue;
        }
        if (usage)
            *usage += size;
        ms[k] = m;
        rcs[k] = 0;
        sent[k++] = ops[i];
    }
    int rc = k ? st->bops->msg_p2p_batch(st->be, ms, rcs, k, now) : 0;
    for (size_t i = 0; i < k; i++) {
        store_msg_t *m = ms[i];
        sent[i]->rc = rc != 0 ? rc : rcs[i];
        if (sent[i]->rc != 0 || m->reject || m->duplicate) {
            int64_t *usage = st->quota ? usage_of(st, m->app_id) : NULL;
            if (usage)
                *usage -= msg_size(m->body, m->extra);
        }
    }
    return rc;
}

int st_op_exec(store_t *st, op_t *op)
{
    const store_backend_ops_t *b = st->bops;
    int64_t now = store_now_ms();
    switch (op->kind) {
    case OP_APP_PUT:
        return b->app_put(st->be, &op->u.app);
    case OP_USER_IMPORT:
        return b->user_import(st->be, op->u.import.users, op->u.import.rows.row_rc,
                              op->u.import.rows.n, now);
    case OP_USER_UPDATE:
        return b->user_update(st->be, &op->u.update.user, op->u.update.mask, now);
    case OP_USER_DELETE:
        return b->user_delete(st->be, op->u.del.app_id, op->u.del.ids, op->u.del.rows.row_rc,
                              op->u.del.rows.n, now);
    case OP_ACCOUNT_CREATE:
        return b->account_create(st->be, op->u.account.app_id, op->u.account.user_name,
                                 op->u.account.user_id, op->u.account.hash, now);
    case OP_ACCOUNT_REGISTER:
        return b->account_register(st->be, &op->u.reg.user, op->u.reg.user_name,
                                   op->u.reg.hash, now);
    case OP_MSG_P2P: {
        store_msg_t *m = &op->u.p2p.msg;
        int64_t size = msg_size(m->body, m->extra), *usage;
        if (over_quota(st, m->app_id, size, &usage)) {
            m->reject = PETREL_ERR_QUOTA;
            return 0;
        }
        int rc = b->msg_p2p(st->be, m, now);
        if (usage && rc == 0 && !m->reject && !m->duplicate)
            *usage += size;
        return rc;
    }
    case OP_MSG_READ:
        return b->msg_read(st->be, op->u.read.app_id, op->u.read.owner, op->u.read.peer,
                           op->u.read.seq, &op->u.read.read_seq, &op->u.read.changed, now);
    case OP_MSG_RECALL:
        return b->msg_recall(st->be, op->u.recall.app_id, op->u.recall.message_key,
                             op->u.recall.requester, op->u.recall.is_admin,
                             op->u.recall.now_ms > 0 ? op->u.recall.now_ms : now,
                             op->u.recall.window_ms, &op->u.recall.res);
    case OP_CONV_UPDATE:
        return b->conv_update(st->be, op->u.conv.app_id, op->u.conv.owner, op->u.conv.peer,
                              op->u.conv.type, op->u.conv.is_top, op->u.conv.is_mute,
                              op->u.conv.deleted, &op->u.conv.change_seq, now);
    case OP_FRIEND:
        return b->friend_write(st->be, op->u.fr.fo, now);
    case OP_USER_STATUS:
        return b->user_status_set(st->be, op->u.status.app_id, op->u.status.user_id,
                                  op->u.status.text, op->u.status.status, now);
    case OP_GROUP:
        /* a retried op (none today) must not leak a previous attempt's ids */
        store_group_op_clear(op->u.grp);
        op->u.grp->reject = 0;
        if (op->u.grp->what == SG_MSG) {
            store_group_op_t *g = op->u.grp;
            int64_t size = msg_size(g->msg.body, g->msg.extra), *usage;
            if (over_quota(st, g->app_id, size, &usage)) {
                g->reject = PETREL_ERR_QUOTA;
                return 0;
            }
            int rc = b->group_write(st->be, g, now);
            if (usage && rc == 0 && !g->reject && !g->msg.duplicate)
                *usage += size;
            return rc;
        }
        return b->group_write(st->be, op->u.grp, now);
    case OP_PROBE:
        return b->probe ? b->probe(st->be, now) : 0;
    }
    return STORE_EINVAL;
}
