/*
 * App cache and default-app bootstrap (see apps.h).  The app table is small
 * (a handful of tenants), so it is a plain array behind a rwlock.
 */
#include "server/im/apps.h"

#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/util.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct apps {
    pthread_rwlock_t lock;
    store_app_t *v;
    unsigned *flags;   /* APP_F_* parsed from v[i].settings, same index */
    size_t n;
};

/* Parse the settings switches the hot paths test, once per change.
 * sendMessageCheckFriend is off unless set; sendMessageCheckBlack is ON
 * unless set to false or 0 (a blacklist stops messages by default). */
static unsigned parse_flags(const char *settings)
{
    json_t *o = json_loads(settings, 0, NULL);
    unsigned f = 0;
    const char *keys[] = {"sendMessageCheckFriend", "sendMessageCheckBlack"};
    const unsigned bits[] = {APP_F_CHECK_FRIEND, APP_F_CHECK_BLACK};
    const int dflt[] = {0, 1};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, keys[i]);
        int on = !v || json_is_null(v) ? dflt[i]
                 : json_is_true(v) || (json_is_integer(v) && json_integer_value(v));
        if (on)
            f |= bits[i];
    }
    json_decref(o);
    return f;
}

unsigned apps_flags(apps_t *a, int32_t app_id)
{
    unsigned f = 0;
    pthread_rwlock_rdlock(&a->lock);
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].app_id == app_id) {
            f = a->flags[i];
            break;
        }
    pthread_rwlock_unlock(&a->lock);
    return f;
}

int apps_load(store_t *st, apps_t **out)
{
    apps_t *a = calloc(1, sizeof *a);
    if (!a)
        return STORE_EIO;
    pthread_rwlock_init(&a->lock, NULL);
    int rc = store_app_list_sync(st, &a->v, &a->n);
    if (rc < 0) {
        apps_free(a);
        return rc;
    }
    a->flags = calloc(a->n ? a->n : 1, sizeof *a->flags);
    if (!a->flags) {
        apps_free(a);
        return STORE_EIO;
    }
    for (size_t i = 0; i < a->n; i++)
        a->flags[i] = parse_flags(a->v[i].settings);
    *out = a;
    return 0;
}

int apps_reload(apps_t *a, store_t *st)
{
    store_app_t *v = NULL;
    size_t n = 0;
    int rc = store_app_list_sync(st, &v, &n);
    if (rc < 0)
        return rc;
    unsigned *flags = calloc(n ? n : 1, sizeof *flags);
    if (!flags) {
        free(v);
        return STORE_EIO;
    }
    for (size_t i = 0; i < n; i++)
        flags[i] = parse_flags(v[i].settings);
    pthread_rwlock_wrlock(&a->lock);
    store_app_t *ov = a->v;
    unsigned *of = a->flags;
    a->v = v;
    a->flags = flags;
    a->n = n;
    pthread_rwlock_unlock(&a->lock);
    free(ov);
    free(of);
    return 0;
}

void apps_free(apps_t *a)
{
    if (!a)
        return;
    pthread_rwlock_destroy(&a->lock);
    free(a->flags);
    free(a->v);
    free(a);
}

int apps_get(apps_t *a, int32_t app_id, store_app_t *out)
{
    int rc = STORE_ENOTFOUND;
    pthread_rwlock_rdlock(&a->lock);
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].app_id == app_id) {
            *out = a->v[i];
            rc = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

size_t apps_count(apps_t *a)
{
    pthread_rwlock_rdlock(&a->lock);
    size_t n = a->n;
    pthread_rwlock_unlock(&a->lock);
    return n;
}

int apps_put_sync(apps_t *a, store_t *st, const store_app_t *app)
{
    int rc = store_app_put_sync(st, app);
    if (rc < 0)
        return rc;
    pthread_rwlock_wrlock(&a->lock);
    size_t i;
    for (i = 0; i < a->n; i++)
        if (a->v[i].app_id == app->app_id)
            break;
    if (i == a->n) {
        store_app_t *nv = realloc(a->v, (a->n + 1) * sizeof *nv);
        if (nv)
            a->v = nv;
        unsigned *nf = nv ? realloc(a->flags, (a->n + 1) * sizeof *nf) : NULL;
        if (!nf) {
            pthread_rwlock_unlock(&a->lock);
            return STORE_EIO;
        }
        a->flags = nf;
        a->n++;
    }
    a->v[i] = *app;
    a->flags[i] = parse_flags(app->settings);
    pthread_rwlock_unlock(&a->lock);
    return 0;
}

/* Secret file <data_dir>/app-<id>.secret: read it, or create it (0600). */
static int secret_from_file(const config_t *cfg, char *out, size_t cap, int *created)
{
    char path[640];
    snprintf(path, sizeof path, "%s/app-%d.secret", cfg->data_dir, cfg->app_id);
    *created = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(out, (int)cap, f))
            out[0] = '\0';
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (out[0])
            return 0;
        LOGE("secret file is empty", "path=%s", path);
        return -1;
    }
    unsigned char raw[24];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    static const char hex[] = "0123456789abcdef";
    if (cap < 2 * sizeof raw + 1)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * sizeof raw] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        LOGE("cannot write secret file", "path=%s err=\"%s\"", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(out);
    int ok = write(fd, out, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok)
        return -1;
    *created = 1;
    return 0;
}

int apps_ensure_default(apps_t *a, store_t *st, const config_t *cfg)
{
    store_app_t app;
    int exists = apps_get(a, cfg->app_id, &app) == 0;
    int dirty = !exists;
    int created_secret = 0;
    if (!exists) {
        memset(&app, 0, sizeof app);
        app.app_id = cfg->app_id;
        snprintf(app.admin_id, sizeof app.admin_id, "%s", cfg->app_admin);
        app.login_policy = cfg->login_policy;
        app.max_per_platform = cfg->max_per_platform;
        snprintf(app.settings, sizeof app.settings, "{}");
        app.created_at = now_ms();
        if (cfg->app_secret[0]) {
            snprintf(app.secret, sizeof app.secret, "%s", cfg->app_secret);
        } else if (secret_from_file(cfg, app.secret, sizeof app.secret, &created_secret) < 0) {
            return -1;
        }
    } else {
        /* explicit keys are the source of truth for the default app */
        if ((cfg->explicit_mask & CONFIG_SET_APP_SECRET) && cfg->app_secret[0] &&
            strcmp(app.secret, cfg->app_secret) != 0) {
            snprintf(app.secret, sizeof app.secret, "%s", cfg->app_secret);
            dirty = 1;
        }
        if ((cfg->explicit_mask & CONFIG_SET_APP_ADMIN) && strcmp(app.admin_id, cfg->app_admin)) {
            snprintf(app.admin_id, sizeof app.admin_id, "%s", cfg->app_admin);
            dirty = 1;
        }
        if ((cfg->explicit_mask & CONFIG_SET_LOGIN_POLICY) && app.login_policy != cfg->login_policy) {
            app.login_policy = cfg->login_policy;
            dirty = 1;
        }
        if ((cfg->explicit_mask & CONFIG_SET_MAX_PER_PLATFORM) &&
            app.max_per_platform != cfg->max_per_platform) {
            app.max_per_platform = cfg->max_per_platform;
            dirty = 1;
        }
    }
    if (dirty && apps_put_sync(a, st, &app) < 0) {
        LOGE("cannot store default app", "app=%d", cfg->app_id);
        return -1;
    }
    if (!exists)
        LOGI("default app created", "app=%d admin=%s policy=%d", app.app_id, app.admin_id,
             app.login_policy);
    /* The secret itself never goes to stdout or the log (both end up in
     * service logs readable by others): only where to find it. */
    if (created_secret) {
        printf("petreld: created app %d; its secret is in %s/app-%d.secret (readable by this "
               "user only)\n",
               app.app_id, cfg->data_dir, app.app_id);
        fflush(stdout);
    }
    return 0;
}
