/*
 * One queued write op (store_int.h): freeing it, running it inside the
 * writer's transaction (dispatch to the backend, the storage quota and
 * its count shared through the backend), and
 * publishing its outputs to the caller once the transaction's fate is
 * known.  Adding an op kind: store_int.h, then a case in each switch here.
 */
#include "server/store/store_int.h"
#include "server/core/log.h"

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

/* ---- storage quota (writer thread) ----
 *
 * Each app's message bytes (bodies and extras, as stored) are counted as
 * messages are stored: usage[].bytes, which the quota check reads, and
 * usage[].tx, the open transaction's share, taken back if it does not
 * commit.  With one store per database that count is the whole truth.
 * When several stores (cluster nodes) write to one database, the backend
 * keeps the shared count (app_bytes_add, PostgreSQL): each transaction
 * adds its share to it and reads back every store's total, which becomes
 * usage[].bytes at the commit.  A store thus sees the others' bytes as of
 * its own last commit for the app, and admits at most what it believes is
 * left: the quota can be overshot by what the other stores stored since
 * that commit (under steady traffic, about one batch each). */

/* Bytes are counted: for a quota, or for the backend's shared count
 * (kept with or without a quota here, for the nodes that have one). */
static int counting(const store_t *st)
{
    return st->quota || st->bops->app_bytes_add;
}

static struct app_usage *usage_find(store_t *st, int32_t app_id)
{
    for (size_t i = 0; i < st->nusage; i++)
        if (st->usage[i].app_id == app_id)
            return &st->usage[i];
    return NULL;
}

/* The app's entry, made when missing: an app first seen after open
 * starts at the backend's shared count (0 when it has none, or no
 * quota).  NULL when it cannot be made. */
static struct app_usage *usage_of(store_t *st, int32_t app_id)
{
    struct app_usage *u = usage_find(st, app_id);
    if (u)
        return u;
    int64_t bytes = 0;
    if (st->quota && st->bops->app_bytes_add &&
        st->bops->msg_bytes(st->be, app_id, &bytes) < 0)
        return NULL;
    u = realloc(st->usage, (st->nusage + 1) * sizeof *u);
    if (!u)
        return NULL;
    st->usage = u;
    u[st->nusage] = (struct app_usage){app_id, bytes < 0 ? 0 : bytes, 0, -1};
    return &u[st->nusage++];
}

/* Count size (negative: uncount) stored bytes of u's app in the open
 * transaction. */
static void count(store_t *st, struct app_usage *u, int64_t size)
{
    u->bytes += size;
    u->tx += size;
    st->tx_counted = 1;
}

static int64_t msg_size(const char *body, const char *extra)
{
    return (int64_t)(body ? strlen(body) : 0) + (int64_t)(extra ? strlen(extra) : 0);
}

/* Before a message of `size` bytes is stored: 0 and *u its app's entry
 * (NULL when nothing is counted), PETREL_ERR_QUOTA when it would take the
 * app over its quota, STORE_EIO when the entry cannot be made.  The
 * caller counts the message once stored. */
static int quota_gate(store_t *st, int32_t app_id, int64_t size, struct app_usage **u)
{
    *u = NULL;
    if (!counting(st))
        return 0;
    if (!(*u = usage_of(st, app_id)))
        return STORE_EIO;
    return st->quota && (*u)->bytes + size > st->quota ? PETREL_ERR_QUOTA : 0;
}

int st_quota_tx_end(store_t *st)
{
    if (!st->tx_counted || !st->bops->app_bytes_add)
        return 0;
    for (size_t i = 0; i < st->nusage; i++) {
        struct app_usage *u = &st->usage[i];
        u->total = -1;
        if (u->tx == 0)
            continue;
        int rc = st->bops->app_bytes_add(st->be, u->app_id, u->tx, &u->total);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void st_quota_tx_done(store_t *st, int committed)
{
    if (!st->tx_counted)
        return;
    for (size_t i = 0; i < st->nusage; i++) {
        struct app_usage *u = &st->usage[i];
        if (u->tx == 0)
            continue;
        int64_t before = u->bytes - u->tx;
        if (!committed)
            u->bytes = before;
        else if (st->bops->app_bytes_add && u->total >= 0)
            u->bytes = u->total;
        if (st->quota && before < st->quota && u->bytes >= st->quota)
            LOGW("app reached its storage quota: new messages are refused",
                 "app=%d bytes=%lld quota=%lld", u->app_id, (long long)u->bytes,
                 (long long)st->quota);
        u->tx = 0;
        u->total = -1;
    }
    st->tx_counted = 0;
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
        int64_t size = msg_size(m->body, m->extra);
        struct app_usage *u;
        int gate = quota_gate(st, m->app_id, size, &u);
        ops[i]->rc = gate == STORE_EIO ? STORE_EIO : 0;
        if (gate == PETREL_ERR_QUOTA)
            m->reject = PETREL_ERR_QUOTA;
        if (gate != 0)
            continue;
        if (u)
            count(st, u, size);
        ms[k] = m;
        rcs[k] = 0;
        sent[k++] = ops[i];
    }
    int rc = k ? st->bops->msg_p2p_batch(st->be, ms, rcs, k, now) : 0;
    for (size_t i = 0; i < k; i++) {
        store_msg_t *m = ms[i];
        sent[i]->rc = rc != 0 ? rc : rcs[i];
        if (sent[i]->rc != 0 || m->reject || m->duplicate) {
            struct app_usage *u = counting(st) ? usage_find(st, m->app_id) : NULL;
            if (u)
                count(st, u, -msg_size(m->body, m->extra));
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
        int64_t size = msg_size(m->body, m->extra);
        struct app_usage *u;
        int gate = quota_gate(st, m->app_id, size, &u);
        if (gate == PETREL_ERR_QUOTA) {
            m->reject = PETREL_ERR_QUOTA;
            return 0;
        }
        if (gate != 0)
            return gate;
        int rc = b->msg_p2p(st->be, m, now);
        if (u && rc == 0 && !m->reject && !m->duplicate)
            count(st, u, size);
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
            int64_t size = msg_size(g->msg.body, g->msg.extra);
            struct app_usage *u;
            int gate = quota_gate(st, g->app_id, size, &u);
            if (gate == PETREL_ERR_QUOTA) {
                g->reject = PETREL_ERR_QUOTA;
                return 0;
            }
            if (gate != 0)
                return gate;
            int rc = b->group_write(st->be, g, now);
            if (u && rc == 0 && !g->reject && !g->msg.duplicate)
                count(st, u, size);
            return rc;
        }
        return b->group_write(st->be, op->u.grp, now);
    case OP_PROBE:
        return b->probe ? b->probe(st->be, now) : 0;
    }
    return STORE_EINVAL;
}
