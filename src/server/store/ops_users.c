/*
 * IM users, demo accounts and custom status (users.h): validation,
 * the submit functions that queue their writes, the blocking reads.
 */
#include "server/store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_LIMIT_MAX 100

/* ---- users ---- */

static int flag_ok(int v)
{
    return v == 0 || v == 1;
}

/* The id plus every field named in mask (see "A user is valid" in
 * store.h). */
static int user_valid(const store_user_t *u, unsigned mask)
{
    if (!str_len_ok(u->user_id, STORE_ID_MAX))
        return 0;
    if (((mask & STORE_USER_F_NICK_NAME) && !FITS(u, nick_name)) ||
        ((mask & STORE_USER_F_PHOTO) && !FITS(u, photo)) ||
        ((mask & STORE_USER_F_BIRTH_DAY) && !FITS(u, birth_day)) ||
        ((mask & STORE_USER_F_LOCATION) && !FITS(u, location)) ||
        ((mask & STORE_USER_F_SELF_SIGNATURE) && !FITS(u, self_signature)) ||
        ((mask & STORE_USER_F_EXTRA) && !FITS(u, extra)))
        return 0;
    if ((mask & STORE_USER_F_FRIEND_ALLOW_TYPE) &&
        u->friend_allow_type != 1 && u->friend_allow_type != 2)
        return 0;
    if (((mask & STORE_USER_F_FORBIDDEN_FLAG) && !flag_ok(u->forbidden_flag)) ||
        ((mask & STORE_USER_F_DISABLE_ADD_FRIEND) && !flag_ok(u->disable_add_friend)) ||
        ((mask & STORE_USER_F_SILENT_FLAG) && !flag_ok(u->silent_flag)))
        return 0;
    return 1;
}

static int rows_init(rows_t *r, size_t n, int *results)
{
    r->n = n;
    r->results = results;
    r->row_rc = calloc(n, sizeof *r->row_rc);
    return r->row_rc ? 0 : STORE_EIO;
}

static int make_user_import(store_t *st, const store_user_t *users, size_t n, int *results,
                            op_t **out)
{
    *out = NULL;
    if (!st || !users || !results || n == 0 || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_USER_IMPORT);
    if (!op)
        return STORE_EIO;
    *out = op;
    if (rows_init(&op->u.import.rows, n, results) != 0 ||
        !(op->u.import.users = malloc(n * sizeof *op->u.import.users)))
        return STORE_EIO;
    memcpy(op->u.import.users, users, n * sizeof *users);
    for (size_t i = 0; i < n; i++)
        if (!user_valid(&users[i], STORE_USER_F_ALL))
            op->u.import.rows.row_rc[i] = STORE_EINVAL;
    return 0;
}

int store_user_import(store_t *st, const store_user_t *users, size_t n, int *results,
                      store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_import(st, users, n, results, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_user_import_sync(store_t *st, const store_user_t *users, size_t n, int *results)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_import(st, users, n, results, &op);
    return st_enqueue_wait(st, rc, op);
}

static int make_user_update(store_t *st, const store_user_t *u, unsigned mask, op_t **out)
{
    *out = NULL;
    if (!st || !u || mask == 0 || (mask & ~(unsigned)STORE_USER_F_ALL) || !user_valid(u, mask))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_USER_UPDATE);
    if (!op)
        return STORE_EIO;
    op->u.update.user = *u;
    op->u.update.mask = mask;
    *out = op;
    return 0;
}

int store_user_update(store_t *st, const store_user_t *u, unsigned field_mask,
                      store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_update(st, u, field_mask, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_user_update_sync(store_t *st, const store_user_t *u, unsigned field_mask)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_update(st, u, field_mask, &op);
    return st_enqueue_wait(st, rc, op);
}

static int make_user_delete(store_t *st, int32_t app_id, const char *const *ids, size_t n,
                            int *results, op_t **out)
{
    *out = NULL;
    if (!st || !ids || !results || n == 0 || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_USER_DELETE);
    if (!op)
        return STORE_EIO;
    *out = op;
    op->u.del.app_id = app_id;
    if (rows_init(&op->u.del.rows, n, results) != 0 ||
        !(op->u.del.ids = calloc(n, sizeof *op->u.del.ids)))
        return STORE_EIO;
    for (size_t i = 0; i < n; i++) {
        int *rc = &op->u.del.rows.row_rc[i];
        if (!ids[i])
            *rc = STORE_EINVAL;
        else if (!str_len_ok(ids[i], STORE_ID_MAX))
            *rc = STORE_ENOTFOUND; /* no user can have that id */
        else
            memcpy(op->u.del.ids[i], ids[i], strlen(ids[i]) + 1);
    }
    return 0;
}

int store_user_delete(store_t *st, int32_t app_id, const char *const *user_ids, size_t n,
                      int *results, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_delete(st, app_id, user_ids, n, results, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_user_delete_sync(store_t *st, int32_t app_id, const char *const *user_ids,
                           size_t n, int *results)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_delete(st, app_id, user_ids, n, results, &op);
    return st_enqueue_wait(st, rc, op);
}

int store_user_get_sync(store_t *st, int32_t app_id, const char *user_id, store_user_t *out)
{
    if (!st || !user_id || !out)
        return STORE_EINVAL;
    if (!str_len_ok(user_id, STORE_ID_MAX))
        return STORE_ENOTFOUND;
    return st->bops->user_get(st->be, app_id, user_id, out);
}

int store_user_page_sync(store_t *st, int32_t app_id, const char *nick_like,
                         const char *exclude_user_id, int offset, int limit,
                         store_user_t **out, size_t *n, int64_t *total)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    int64_t tot = 0;
    if (total)
        *total = 0;
    if (offset < 0)
        offset = 0;
    if (limit < 1)
        limit = 1;
    if (limit > PAGE_LIMIT_MAX)
        limit = PAGE_LIMIT_MAX;
    if (nick_like && !nick_like[0])
        nick_like = NULL;
    if (exclude_user_id && !exclude_user_id[0])
        exclude_user_id = NULL;
    int rc = st->bops->user_page(st->be, app_id, nick_like, exclude_user_id, offset, limit, out,
                                 n, &tot);
    if (rc == 0 && total)
        *total = tot;
    return rc;
}

int store_user_count_sync(store_t *st, int32_t app_id, int64_t *n)
{
    if (!st || !n)
        return STORE_EINVAL;
    *n = 0;
    return st->bops->user_count(st->be, app_id, n);
}

/* ---- demo app accounts ---- */

static int make_account_create(store_t *st, int32_t app_id, const char *user_name,
                               const char *user_id, const char *hash, op_t **out)
{
    *out = NULL;
    if (!st || !user_name || !user_id || !hash || !str_len_ok(user_name, STORE_NAME_MAX) ||
        !str_len_ok(user_id, STORE_ID_MAX) || !str_len_ok(hash, STORE_HASH_MAX))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_ACCOUNT_CREATE);
    if (!op)
        return STORE_EIO;
    op->u.account.app_id = app_id;
    /* Lengths checked above; the arrays are zeroed, so these terminate. */
    memcpy(op->u.account.user_name, user_name, strlen(user_name));
    memcpy(op->u.account.user_id, user_id, strlen(user_id));
    memcpy(op->u.account.hash, hash, strlen(hash));
    *out = op;
    return 0;
}

int store_account_create(store_t *st, int32_t app_id, const char *user_name,
                         const char *user_id, const char *password_hash,
                         store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_account_create(st, app_id, user_name, user_id, password_hash, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_account_create_sync(store_t *st, int32_t app_id, const char *user_name,
                              const char *user_id, const char *password_hash)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_account_create(st, app_id, user_name, user_id, password_hash, &op);
    return st_enqueue_wait(st, rc, op);
}

static int make_account_register(store_t *st, const char *user_name, const char *hash,
                                 const store_user_t *user, op_t **out)
{
    *out = NULL;
    if (!st || !user_name || !hash || !user || !str_len_ok(user_name, STORE_NAME_MAX) ||
        !str_len_ok(hash, STORE_HASH_MAX) || !user_valid(user, STORE_USER_F_ALL))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_ACCOUNT_REGISTER);
    if (!op)
        return STORE_EIO;
    op->u.reg.user = *user;
    memcpy(op->u.reg.user_name, user_name, strlen(user_name));
    memcpy(op->u.reg.hash, hash, strlen(hash));
    *out = op;
    return 0;
}

int store_account_register(store_t *st, const char *user_name, const char *password_hash,
                           const store_user_t *user, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_account_register(st, user_name, password_hash, user, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_account_register_sync(store_t *st, const char *user_name, const char *password_hash,
                                const store_user_t *user)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_account_register(st, user_name, password_hash, user, &op);
    return st_enqueue_wait(st, rc, op);
}

int store_account_get_sync(store_t *st, int32_t app_id, const char *user_name,
                           char *user_id_out, char *hash_out, size_t hash_cap)
{
    if (!st || !user_name || (hash_out && hash_cap == 0))
        return STORE_EINVAL;
    if (!str_len_ok(user_name, STORE_NAME_MAX))
        return STORE_ENOTFOUND;
    return st->bops->account_get(st->be, app_id, user_name, user_id_out, hash_out, hash_cap);
}

/* ---- user status ---------------------------------------------------------- */

static int make_user_status(store_t *st, int32_t app_id, const char *user_id, const char *text,
                            int status, op_t **out)
{
    *out = NULL;
    if (!st || !user_id || !text || !id_ok(user_id) ||
        strnlen(text, STORE_STATUS_TEXT_MAX + 1) > STORE_STATUS_TEXT_MAX)
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_USER_STATUS);
    if (!op)
        return STORE_EIO;
    op->u.status.app_id = app_id;
    id_copy(op->u.status.user_id, user_id);
    memcpy(op->u.status.text, text, strlen(text) + 1);
    op->u.status.status = status;
    *out = op;
    return 0;
}

int store_user_status_set(store_t *st, int32_t app_id, const char *user_id, const char *text,
                          int status, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_user_status(st, app_id, user_id, text, status, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_user_status_set_sync(store_t *st, int32_t app_id, const char *user_id,
                               const char *text, int status)
{
    if (!st)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_user_status(st, app_id, user_id, text, status, &op);
    return st_enqueue_wait(st, rc, op);
}

int store_user_status_get_sync(store_t *st, int32_t app_id, const char *const *ids, size_t n,
                               store_user_status_t *out)
{
    if (!st || (n && (!ids || !out)) || n > STORE_USER_BATCH_MAX)
        return STORE_EINVAL;
    const char **valid = n ? calloc(n, sizeof *valid) : NULL;
    store_user_status_t *tmp = n ? calloc(n, sizeof *tmp) : NULL;
    size_t k = 0;
    if (n && (!valid || !tmp)) {
        free(valid);
        free(tmp);
        return STORE_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            goto bad;
        memset(&out[i], 0, sizeof out[i]);
        if (id_ok(ids[i])) {
            id_copy(out[i].user_id, ids[i]);
            valid[k++] = ids[i];
        } else {
            /* no user can have that id: the empty status, id truncated */
            snprintf(out[i].user_id, sizeof out[i].user_id, "%s", ids[i]);
        }
    }
    int rc = k ? st->bops->user_status_get(st->be, app_id, valid, k, tmp) : 0;
    /* spread the valid ones back to their positions */
    for (size_t i = 0, j = 0; rc == 0 && i < n && j < k; i++) {
        if (ids[i] == valid[j]) {
            id_copy(tmp[j].user_id, ids[i]);
            out[i] = tmp[j++];
        }
    }
    free(valid);
    free(tmp);
    return rc;
bad:
    free(valid);
    free(tmp);
    return STORE_EINVAL;
}

char *store_like_pattern(const char *sub)
{
    size_t len = strlen(sub);
    char *p = malloc(2 * len + 3);
    if (!p)
        return NULL;
    size_t j = 0;
    p[j++] = '%';
    for (size_t i = 0; i < len; i++) {
        if (sub[i] == '%' || sub[i] == '_' || sub[i] == '\\')
            p[j++] = '\\';
        p[j++] = sub[i];
    }
    p[j++] = '%';
    p[j] = '\0';
    return p;
}
