/*
 * Apps (tenants) cached in memory.  Loaded from the store at startup; the
 * hot paths (socket login, REST signature checks) read a copy under a
 * read lock and never touch storage.  Writes go to the store first, then
 * update the cache.
 */
#ifndef PETREL_APPS_H
#define PETREL_APPS_H

#include "server/store/store.h"

typedef struct apps apps_t;

/* Load every app from the store. */
int apps_load(store_t *st, apps_t **out);
void apps_free(apps_t *a);
/* Read every app again (blocking; cluster mode: another node may have
 * changed one) and swap the cache.  0 or a STORE_E* code (cache kept). */
int apps_reload(apps_t *a, store_t *st);
/* Copy of one app: 0, or STORE_ENOTFOUND. */
int apps_get(apps_t *a, int32_t app_id, store_app_t *out);
/* Persist (blocking: startup/admin paths only) and cache. */
int apps_put_sync(apps_t *a, store_t *st, const store_app_t *app);
size_t apps_count(apps_t *a);

/* Switches from an app's settings JSON, parsed once when the app is
 * loaded or changed. */
enum { APP_F_CHECK_FRIEND = 1, APP_F_CHECK_BLACK = 2 };
unsigned apps_flags(apps_t *a, int32_t app_id);

/* Make sure the default app exists and matches the explicit config keys;
 * generates and stores a secret in data_dir on first start (file 0600),
 * and then prints that file's path on stdout, never the secret. */
struct config;
int apps_ensure_default(apps_t *a, store_t *st, const struct config *cfg);

#endif
