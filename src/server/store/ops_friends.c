/*
 * Friendship (friends.h): validation, the submit functions that build
 * one store_friend_op_t per write and queue it, the blocking reads.
 */
#include "server/store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- friendship ---- */

static int friend_str_ok(const store_friend_t *f)
{
    return FITS(f, remark) && FITS(f, add_source) && FITS(f, extra);
}

/* A new friendship op of kind what for owner (validated). */
static store_friend_op_t *fo_new(int what, int32_t app_id, const char *owner)
{
    store_friend_op_t *fo = calloc(1, sizeof *fo);
    if (!fo)
        return NULL;
    fo->what = what;
    fo->app_id = app_id;
    id_copy(fo->from_id, owner);
    return fo;
}

/* Room for n rows; ids copied from src when given (each must be an id of
 * 1..max bytes, else its row is refused with bad_rc). */
static int fo_rows(store_friend_op_t *fo, size_t n, const char *const *src, size_t max,
                   int bad_rc)
{
    fo->n = n;
    if (n == 0)
        return 0;
    if (!(fo->row_rc = calloc(n, sizeof *fo->row_rc)) ||
        !(fo->row_seq = calloc(n, sizeof *fo->row_seq)) ||
        (src && !(fo->ids = calloc(n, sizeof *fo->ids))))
        return STORE_EIO;
    for (size_t i = 0; src && i < n; i++) {
        if (src[i] && str_len_ok(src[i], max))
            memcpy(fo->ids[i], src[i], strlen(src[i]) + 1);
        else
            fo->row_rc[i] = bad_rc;
    }
    return 0;
}

/* Queue (or, with wait, queue and wait for) a built friendship op.  Takes
 * fo in every case; rc is the builder's verdict. */
static int fo_submit(store_t *st, int rc, store_friend_op_t *fo, int *results, int64_t *seqs,
                     store_friend_res_t *res, store_done_fn done, void *arg, int wait)
{
    op_t *op = NULL;
    if (rc == 0 && !(op = st_op_new(OP_FRIEND)))
        rc = STORE_EIO;
    if (rc != 0) {
        st_friend_op_free(fo);
        return rc;
    }
    op->u.fr.fo = fo;
    op->u.fr.results = results;
    op->u.fr.seqs = seqs;
    op->u.fr.out = res;
    return wait ? st_enqueue_wait(st, 0, op) : st_enqueue(st, 0, op, done, arg);
}

static int make_friend_import(store_t *st, int32_t app_id, const char *from_id,
                              const store_friend_t *items, size_t n, int *results,
                              store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(from_id) || !items || !results || n == 0 || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    store_friend_op_t *fo = fo_new(SF_IMPORT, app_id, from_id);
    if (!fo)
        return STORE_EIO;
    *out = fo;
    if (fo_rows(fo, n, NULL, 0, 0) != 0 || !(fo->items = malloc(n * sizeof *fo->items)))
        return STORE_EIO;
    memcpy(fo->items, items, n * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        const store_friend_t *it = &items[i];
        if (!str_len_ok(it->to_id, STORE_ID_MAX) || !friend_str_ok(it) ||
            !strcmp(it->to_id, from_id) || (it->status != 1 && it->status != 2) ||
            (it->black != 1 && it->black != 2))
            fo->row_rc[i] = STORE_EINVAL;
    }
    return 0;
}

int store_friend_import(store_t *st, int32_t app_id, const char *from_id,
                        const store_friend_t *items, size_t n, int *results, int64_t *seqs,
                        store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_import(st, app_id, from_id, items, n, results, &fo);
    return fo_submit(st, rc, fo, results, seqs, res, done, arg, 0);
}

int store_friend_import_sync(store_t *st, int32_t app_id, const char *from_id,
                             const store_friend_t *items, size_t n, int *results,
                             int64_t *seqs, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_import(st, app_id, from_id, items, n, results, &fo);
    return fo_submit(st, rc, fo, results, seqs, res, NULL, NULL, 1);
}

/* Ops on one pair (from_id, to_id), from != to. */
static int make_friend_pair(store_t *st, int what, int32_t app_id, const char *from_id,
                            const char *to_id, store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(from_id) || !id_ok(to_id) || !strcmp(from_id, to_id))
        return STORE_EINVAL;
    store_friend_op_t *fo = fo_new(what, app_id, from_id);
    if (!fo)
        return STORE_EIO;
    id_copy(fo->to_id, to_id);
    *out = fo;
    return 0;
}

static int make_friend_add(store_t *st, int32_t app_id, const store_friend_t *f,
                           const char *wording, store_friend_op_t **out)
{
    *out = NULL;
    if (!f || !str_len_ok(f->from_id, STORE_ID_MAX) || !friend_str_ok(f) ||
        (wording && strnlen(wording, STORE_FRIEND_WORDING_MAX + 1) > STORE_FRIEND_WORDING_MAX))
        return STORE_EINVAL;
    int rc = make_friend_pair(st, SF_ADD, app_id, f->from_id, f->to_id, out);
    if (rc == 0) {
        (*out)->f = *f;
        if (wording)
            memcpy((*out)->wording, wording, strlen(wording) + 1);
    }
    return rc;
}

int store_friend_add(store_t *st, int32_t app_id, const store_friend_t *f,
                     const char *add_wording, store_friend_res_t *res, store_done_fn done,
                     void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_add(st, app_id, f, add_wording, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_add_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                          const char *add_wording, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_add(st, app_id, f, add_wording, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

static int make_friend_update(store_t *st, int32_t app_id, const store_friend_t *f,
                              unsigned mask, store_friend_op_t **out)
{
    *out = NULL;
    if (!f || mask == 0 || (mask & ~(unsigned)STORE_FRIEND_F_ALL) ||
        !str_len_ok(f->from_id, STORE_ID_MAX) || !friend_str_ok(f))
        return STORE_EINVAL;
    int rc = make_friend_pair(st, SF_UPDATE, app_id, f->from_id, f->to_id, out);
    if (rc == 0) {
        (*out)->f = *f;
        (*out)->mask = mask;
    }
    return rc;
}

int store_friend_update(store_t *st, int32_t app_id, const store_friend_t *f, unsigned mask,
                        store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_update(st, app_id, f, mask, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_update_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                             unsigned mask, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_update(st, app_id, f, mask, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

int store_friend_delete(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                        store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_pair(st, SF_DELETE, app_id, from_id, to_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_delete_sync(store_t *st, int32_t app_id, const char *from_id,
                             const char *to_id, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_pair(st, SF_DELETE, app_id, from_id, to_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

/* Ops on one user's rows. */
static int make_friend_owner(store_t *st, int what, int32_t app_id, const char *owner,
                             store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner))
        return STORE_EINVAL;
    return (*out = fo_new(what, app_id, owner)) ? 0 : STORE_EIO;
}

int store_friend_delete_all(store_t *st, int32_t app_id, const char *from_id,
                            store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_DELETE_ALL, app_id, from_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_delete_all_sync(store_t *st, int32_t app_id, const char *from_id,
                                 store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_DELETE_ALL, app_id, from_id, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

static int make_friend_black(store_t *st, int32_t app_id, const char *from_id,
                             const char *to_id, int black, store_friend_op_t **out)
{
    *out = NULL;
    if (black != 1 && black != 2)
        return STORE_EINVAL;
    int rc = make_friend_pair(st, SF_BLACK, app_id, from_id, to_id, out);
    if (rc == 0)
        (*out)->flag = black;
    return rc;
}

int store_friend_black(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                       int black, store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_black(st, app_id, from_id, to_id, black, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_black_sync(store_t *st, int32_t app_id, const char *from_id,
                            const char *to_id, int black, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_black(st, app_id, from_id, to_id, black, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

static int make_friend_approve(store_t *st, int32_t app_id, const char *approver, int is_admin,
                               int64_t id, int status, store_friend_op_t **out)
{
    *out = NULL;
    if (status != 1 && status != 2)
        return STORE_EINVAL;
    int rc = make_friend_owner(st, SF_REQ_APPROVE, app_id, approver, out);
    if (rc == 0) {
        (*out)->flag = status;
        (*out)->admin = is_admin != 0;
        (*out)->id = id;
    }
    return rc;
}

int store_friend_request_approve(store_t *st, int32_t app_id, const char *approver,
                                 int is_admin, int64_t id, int status,
                                 store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_approve(st, app_id, approver, is_admin, id, status, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_request_approve_sync(store_t *st, int32_t app_id, const char *approver,
                                      int is_admin, int64_t id, int status,
                                      store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_approve(st, app_id, approver, is_admin, id, status, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

int store_friend_request_read(store_t *st, int32_t app_id, const char *owner,
                              store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_REQ_READ, app_id, owner, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, done, arg, 0);
}

int store_friend_request_read_sync(store_t *st, int32_t app_id, const char *owner,
                                   store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_owner(st, SF_REQ_READ, app_id, owner, &fo);
    return fo_submit(st, rc, fo, NULL, NULL, res, NULL, NULL, 1);
}

/* Friend-list ops: a named list (name may be NULL for del) and n ids. */
static int make_friend_group(store_t *st, int what, int32_t app_id, const char *owner,
                             const char *name, const char *const *ids, size_t n, int *results,
                             size_t min_n, store_friend_op_t **out)
{
    *out = NULL;
    if (!st || !id_ok(owner) || n < min_n || n > STORE_USER_BATCH_MAX ||
        (n && (!ids || !results)) ||
        (what != SF_GROUP_DEL && (!name || !str_len_ok(name, STORE_FRIEND_GROUP_NAME_MAX))))
        return STORE_EINVAL;
    store_friend_op_t *fo = fo_new(what, app_id, owner);
    if (!fo)
        return STORE_EIO;
    *out = fo;
    if (name && what != SF_GROUP_DEL)
        memcpy(fo->name, name, strlen(name) + 1);
    /* A member that cannot be a user can be no friend; a name that cannot
     * be a list's names no list. */
    if (what == SF_GROUP_DEL)
        return fo_rows(fo, n, ids, STORE_FRIEND_GROUP_NAME_MAX, PETREL_ERR_FRIEND_LIST_NOT_FOUND);
    return fo_rows(fo, n, ids, STORE_ID_MAX, PETREL_ERR_NOT_FRIEND);
}

int store_friend_group_add(store_t *st, int32_t app_id, const char *owner, const char *name,
                           const char *const *to_ids, size_t n, int *results,
                           store_friend_res_t *res, store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_ADD, app_id, owner, name, to_ids, n, results, 0, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, done, arg, 0);
}

int store_friend_group_add_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *name, const char *const *to_ids, size_t n,
                                int *results, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_ADD, app_id, owner, name, to_ids, n, results, 0, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, NULL, NULL, 1);
}

int store_friend_group_del(store_t *st, int32_t app_id, const char *owner,
                           const char *const *names, size_t n, int *results, int64_t *seqs,
                           store_done_fn done, void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_DEL, app_id, owner, NULL, names, n, results, 1, &fo);
    return fo_submit(st, rc, fo, results, seqs, NULL, done, arg, 0);
}

int store_friend_group_del_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *const *names, size_t n, int *results,
                                int64_t *seqs)
{
    store_friend_op_t *fo;
    int rc = make_friend_group(st, SF_GROUP_DEL, app_id, owner, NULL, names, n, results, 1, &fo);
    return fo_submit(st, rc, fo, results, seqs, NULL, NULL, NULL, 1);
}

static int make_friend_member(store_t *st, int32_t app_id, const char *owner, const char *name,
                              const char *const *ids, size_t n, int add, int *results,
                              store_friend_op_t **out)
{
    *out = NULL;
    if (add != 0 && add != 1)
        return STORE_EINVAL;
    /* flag must be known before the rows are checked (their refusal code) */
    int rc = make_friend_group(st, SF_GROUP_MEMBER, app_id, owner, name, NULL, 0, NULL, 0, out);
    if (rc != 0)
        return rc;
    if (n < 1 || n > STORE_USER_BATCH_MAX || !ids || !results)
        return STORE_EINVAL;
    (*out)->flag = add;
    return fo_rows(*out, n, ids, STORE_ID_MAX, add ? PETREL_ERR_NOT_FRIEND : STORE_ENOTFOUND);
}

int store_friend_group_member(store_t *st, int32_t app_id, const char *owner,
                              const char *name, const char *const *to_ids, size_t n, int add,
                              int *results, store_friend_res_t *res, store_done_fn done,
                              void *arg)
{
    store_friend_op_t *fo;
    int rc = make_friend_member(st, app_id, owner, name, to_ids, n, add, results, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, done, arg, 0);
}

int store_friend_group_member_sync(store_t *st, int32_t app_id, const char *owner,
                                   const char *name, const char *const *to_ids, size_t n,
                                   int add, int *results, store_friend_res_t *res)
{
    store_friend_op_t *fo;
    int rc = make_friend_member(st, app_id, owner, name, to_ids, n, add, results, &fo);
    return fo_submit(st, rc, fo, results, NULL, res, NULL, NULL, 1);
}

static int clamp_friend_limit(int limit)
{
    if (limit < 1)
        return 1;
    return limit > STORE_FRIEND_LIMIT_MAX ? STORE_FRIEND_LIMIT_MAX : limit;
}

int store_friend_get_sync(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                          store_friend_t *out)
{
    if (!st || !from_id || !to_id || !out)
        return STORE_EINVAL;
    if (!id_ok(from_id) || !id_ok(to_id))
        return STORE_ENOTFOUND;
    return st->bops->friend_get(st->be, app_id, from_id, to_id, out);
}

int store_friend_list_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_seq,
                           int limit, store_friend_t **out, size_t *n, int64_t *max_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mx = 0;
    if (max_seq)
        *max_seq = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->friend_list(st->be, app_id, owner, after_seq, clamp_friend_limit(limit),
                                   out, n, &mx);
    if (rc == 0 && max_seq)
        *max_seq = mx;
    return rc;
}

int store_friend_all_sync(store_t *st, int32_t app_id, const char *owner, store_friend_t **out,
                          size_t *n)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    return st->bops->friend_all(st->be, app_id, owner, out, n);
}

int store_friend_request_list_sync(store_t *st, int32_t app_id, const char *to_id,
                                   int64_t after_seq, int limit, store_friend_request_t **out,
                                   size_t *n, int64_t *max_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mx = 0;
    if (max_seq)
        *max_seq = 0;
    if (!id_ok(to_id))
        return STORE_EINVAL;
    int rc = st->bops->friend_requests(st->be, app_id, to_id, after_seq,
                                       clamp_friend_limit(limit), out, n, &mx);
    if (rc == 0 && max_seq)
        *max_seq = mx;
    return rc;
}

void store_friend_groups_free(store_friend_group_t *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].members);
    free(g);
}

int store_friend_group_list_sync(store_t *st, int32_t app_id, const char *owner,
                                 int64_t after_seq, int limit, store_friend_group_t **out,
                                 size_t *n, int64_t *max_seq)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t mx = 0;
    if (max_seq)
        *max_seq = 0;
    if (!id_ok(owner))
        return STORE_EINVAL;
    int rc = st->bops->friend_groups(st->be, app_id, owner, after_seq, clamp_friend_limit(limit),
                                     out, n, &mx);
    if (rc == 0 && max_seq)
        *max_seq = mx;
    return rc;
}

int store_friend_seqs_sync(store_t *st, int32_t app_id, const char *user_id,
                           int64_t *friendship_seq, int64_t *request_seq, int64_t *group_seq)
{
    int64_t f = 0, r = 0, g = 0;
    if (friendship_seq)
        *friendship_seq = 0;
    if (request_seq)
        *request_seq = 0;
    if (group_seq)
        *group_seq = 0;
    if (!st || !user_id)
        return STORE_EINVAL;
    if (!id_ok(user_id))
        return 0; /* no user can have that id: nothing stored */
    int rc = st->bops->friend_seqs(st->be, app_id, user_id, &f, &r, &g);
    if (rc == 0) {
        if (friendship_seq)
            *friendship_seq = f;
        if (request_seq)
            *request_seq = r;
        if (group_seq)
            *group_seq = g;
    }
    return rc;
}

int store_friend_status_peers_sync(store_t *st, int32_t app_id, const char *user_id,
                                   store_user_status_t **out, size_t *n)
{
    if (!st || !out || !n || !user_id)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(user_id))
        return 0; /* no user can have that id: no friends */
    return st->bops->status_peers(st->be, app_id, user_id, out, n);
}

int store_friend_blacked_sync(store_t *st, int32_t app_id, const char *user_id,
                              char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    if (!st || !out || !n || !user_id)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    if (!id_ok(user_id))
        return 0;
    return st->bops->friend_blacked(st->be, app_id, user_id, out, n);
}
