/*
 * Apps and the liveness probe (apps.h, core.h): validation, the submit
 * functions that queue the app upsert, and the blocking reads.
 */
#include "server/store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- apps ---- */

static int app_valid(const store_app_t *a)
{
    return FITS(a, secret) && FITS(a, admin_id) && FITS(a, settings);
}

static int make_app_put(store_t *st, const store_app_t *app, op_t **out)
{
    *out = NULL;
    if (!st || !app || !app_valid(app))
        return STORE_EINVAL;
    op_t *op = st_op_new(OP_APP_PUT);
    if (!op)
        return STORE_EIO;
    op->u.app = *app;
    if (op->u.app.created_at <= 0)
        op->u.app.created_at = store_now_ms();
    if (!op->u.app.settings[0])
        memcpy(op->u.app.settings, "{}", sizeof "{}");
    *out = op;
    return 0;
}

int store_app_put(store_t *st, const store_app_t *app, store_done_fn done, void *arg)
{
    op_t *op;
    int rc = make_app_put(st, app, &op);
    return st_enqueue(st, rc, op, done, arg);
}

int store_app_put_sync(store_t *st, const store_app_t *app)
{
    if (!st || !app)
        return STORE_EINVAL;
    op_t *op;
    int rc = make_app_put(st, app, &op);
    return st_enqueue_wait(st, rc, op);
}

int store_app_get_sync(store_t *st, int32_t app_id, store_app_t *out)
{
    if (!st || !out)
        return STORE_EINVAL;
    return st->bops->app_get(st->be, app_id, out);
}

int store_app_list_sync(store_t *st, store_app_t **out, size_t *n)
{
    if (!st || !out || !n)
        return STORE_EINVAL;
    *out = NULL;
    *n = 0;
    return st->bops->app_list(st->be, out, n);
}

int store_ping_sync(store_t *st)
{
    if (!st)
        return STORE_EINVAL;
    return st->bops->ping(st->be);
}
