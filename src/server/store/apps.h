/*
 * Apps (tenants): the app row the server reads on hot paths, its upsert
 * through the writer and its blocking reads.
 */
#ifndef PETREL_STORE_APPS_H
#define PETREL_STORE_APPS_H

#include "server/store/core.h"

#define STORE_SECRET_MAX 128

/* One tenant (app).  Fixed columns for what the server reads on hot paths;
 * the rest of the per-app settings in a JSON object text. */
typedef struct store_app {
    int32_t app_id;
    char secret[STORE_SECRET_MAX + 1];
    char admin_id[STORE_ID_MAX + 1];   /* identifier acting as app admin */
    int login_policy;                  /* policy_mode 1..4 */
    int max_per_platform;              /* 0 = unlimited */
    char settings[1024];               /* JSON object text, "{}" if none */
    int64_t created_at;                /* epoch ms */
} store_app_t;

/* Asynchronous upsert of an app through the writer (group commit).  done may
 * be NULL.  The app is copied.  done(arg, rc) runs exactly once, on the
 * writer thread, after the transaction holding the op committed (rc 0) or
 * failed: STORE_EINVAL / STORE_ECONFLICT for an op a constraint rejected
 * (the rest of its batch still commits), STORE_EIO when the transaction
 * failed as a whole.  When store_app_put itself returns non-zero, done is
 * not called.  created_at <= 0 means "now"; an update keeps the stored
 * created_at; an empty settings string is stored as "{}".  Strings must be
 * NUL-terminated within their arrays (else STORE_EINVAL). */
int store_app_put(store_t *st, const store_app_t *app, store_done_fn done, void *arg);

/* Blocking helpers for startup and tests.  store_app_put_sync goes through
 * the writer like store_app_put and returns the op's rc; calling it from a
 * done callback (the writer thread) would deadlock and returns STORE_EINVAL. */
int store_app_put_sync(store_t *st, const store_app_t *app);
int store_app_get_sync(store_t *st, int32_t app_id, store_app_t *out);
/* All apps by app_id; *out is malloc'ed (free()), *n set; *out is NULL
 * when there are none. */
int store_app_list_sync(store_t *st, store_app_t **out, size_t *n);

#endif
