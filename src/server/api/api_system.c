/*
 * System endpoints: gateway discovery (/v1/user/login), app settings,
 * health, Prometheus metrics, and the static files of the web client.
 */
#include "server/api/api.h"

#include "server/im/apps.h"
#include "server/core/log.h"
#include "server/cluster/cluster.h"
#include "server/gateway/route.h"

#include <errno.h>
#include <http_parser.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NODES 64

/* ---- gateway discovery ------------------------------------------------------ */

static uint64_t rr_counter;

void h_gateway_login(api_ctx_t *ctx)
{
    const config_t *cfg = &ctx->srv->cfg;
    long long ct = PETREL_CT_WEB;
    const char *uid = NULL;
    if (api_int(ctx, "clientType", 0, PETREL_CT_MAX, 0, &ct) < 0 ||
        api_str(ctx, "userId", STORE_ID_MAX, 0, &uid) < 0)
        return;
    if (!uid)
        uid = ctx->identifier;
    int web = ct == PETREL_CT_WEB;
    char derived[160];
    char buf[MAX_NODES * 161];
    const char *nodes[MAX_NODES];
    size_t n = 0;
    if (ctx->srv->cnode) {
        /* cluster: the live nodes, as each announces itself in Redis */
        cnode_info_t *live = NULL;
        size_t nl = cnode_alive(ctx->srv->cnode, &live), used = 0;
        for (size_t i = 0; i < nl && n < MAX_NODES; i++) {
            const char *a = web ? live[i].ws : live[i].tcp;
            size_t al = strlen(a);
            if (!al || !strchr(a, ':') || used + al + 1 > sizeof buf)
                continue;
            memcpy(buf + used, a, al + 1);
            nodes[n++] = buf + used;
            used += al + 1;
        }
        free(live);
    } else {
        const char *list = web ? cfg->public_ws : cfg->public_tcp;
        if (!list[0]) {
            route_public_from_listen(web ? cfg->http_listen : cfg->tcp_listen, derived,
                                     sizeof derived);
            list = derived;
        }
        n = route_split(list, buf, sizeof buf, nodes, MAX_NODES);
    }
    int i = route_pick(route_strategy_parse(cfg->route_strategy), nodes, n, uid, &rr_counter);
    if (i < 0) {
        api_fail(ctx, 200, PETREL_ERR_NO_SERVER, "no available server");
        return;
    }
    const char *colon = strrchr(nodes[i], ':');
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - nodes[i]), nodes[i]);
    char url[600];
    snprintf(url, sizeof url, web ? "ws://%s/ws" : "tcp://%s", nodes[i]);
    api_ok(ctx, json_pack("{s:s, s:i, s:s, s:s}", "ip", host, "port", atoi(colon + 1), "url", url,
                          "transport", web ? "ws" : "tcp"));
}

/* ---- app settings --------------------------------------------------------- */

static json_t *app_json(const store_app_t *a)
{
    json_error_t e;
    json_t *settings = json_loads(a->settings, 0, &e);
    return json_pack("{s:i, s:s, s:i, s:i, s:o, s:I}", "appId", a->app_id, "adminId", a->admin_id,
                     "loginPolicy", a->login_policy, "maxPerPlatform", a->max_per_platform,
                     "settings", settings ? settings : json_object(), "createTime",
                     (json_int_t)a->created_at);
}

void h_app_get(api_ctx_t *ctx)
{
    if (api_require_admin(ctx) < 0)
        return;
    api_ok(ctx, app_json(&ctx->app));
}

static void app_update_work(api_ctx_t *ctx)
{
    ctx->rc = apps_put_sync(ctx->srv->apps, ctx->srv->store, &ctx->app);
}

static void app_update_done(api_ctx_t *ctx)
{
    if (ctx->rc < 0) {
        api_fail_store(ctx, ctx->rc);
        return;
    }
    LOGI("app settings updated", "app=%d by=%s policy=%d", ctx->app_id, LQ(ctx->identifier),
         ctx->app.login_policy);
    api_ok(ctx, app_json(&ctx->app));
}

void h_app_update(api_ctx_t *ctx)
{
    if (api_require_admin(ctx) < 0)
        return;
    long long policy = ctx->app.login_policy, maxp = ctx->app.max_per_platform;
    if (api_int(ctx, "loginPolicy", 1, 4, 0, &policy) < 0 ||
        api_int(ctx, "maxPerPlatform", 0, 1000, 0, &maxp) < 0)
        return;
    json_t *settings = json_object_get(ctx->body, "settings");
    if (settings) {
        if (!json_is_object(settings)) {
            api_fail(ctx, 400, PETREL_ERR_PARAM, "settings must be an object");
            return;
        }
        char *s = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
        if (!s || strlen(s) >= sizeof ctx->app.settings) {
            free(s);
            api_fail(ctx, 400, PETREL_ERR_PARAM, "settings too large");
            return;
        }
        memcpy(ctx->app.settings, s, strlen(s) + 1);
        free(s);
    }
    ctx->app.login_policy = (int)policy;
    ctx->app.max_per_platform = (int)maxp;
    api_defer(ctx, app_update_work, app_update_done);
}

/* ---- health and metrics --------------------------------------------------- */

/* Healthy means "a write now would be durable and acked", not just "the
 * database answers a read" (issue 14, item 17): the database file must
 * still be the one opened (store_health_sync stats it, off the loop), the
 * writer must not be stuck in a transaction, and the last write must have
 * committed (while it did not, the check commits a probe write, so a disk
 * with room again turns healthy by itself). */
static void health_work(api_ctx_t *ctx)
{
    store_health_t *h = malloc(sizeof *h);
    ctx->u = h;
    if (h)
        store_health_sync(ctx->srv->store, h);
    ctx->rc = store_ping_sync(ctx->srv->store);
}

/* 503 with the envelope's data saying why. */
static void health_fail(api_ctx_t *ctx, int code, const char *msg, const char *store,
                        const store_health_t *h)
{
    metrics_error(&ctx->srv->metrics, code);
    json_t *o = json_pack("{s:i, s:s, s:{s:s, s:s, s:I, s:I}}", "code", code, "msg", msg, "data",
                          "status", "failing", "store", store, "writeFailures",
                          (json_int_t)h->write_failures, "lastWriteFailure",
                          (json_int_t)h->last_failure_ms);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        api_fail(ctx, 503, code, msg);
        return;
    }
    api_reply_raw(ctx, 503, "application/json", text, strlen(text), NULL);
    free(text);
}

static void health_done(api_ctx_t *ctx)
{
    store_health_t h;
    if (!ctx->u) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    h = *(store_health_t *)ctx->u;
    free(ctx->u);
    ctx->u = NULL;
    if (h.gone) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: writes refused until restart",
                 h.gone_why ? h.gone_why : "database file gone");
        health_fail(ctx, PETREL_ERR_STORE_GONE, msg, "gone", &h);
        return;
    }
    if (h.stalled) {
        char msg[160];
        snprintf(msg, sizeof msg, "storage writer stalled: a write has been running for %llu ms",
                 (unsigned long long)h.busy_ms);
        health_fail(ctx, PETREL_ERR_STORE_STALLED, msg, "stalled", &h);
        return;
    }
    if (ctx->rc < 0) {
        /* PostgreSQL down (or SQLite unreadable): say so before the writes. */
        health_fail(ctx, PETREL_ERR_SYSTEM, "storage unreachable: the database does not answer",
                    "unreachable", &h);
        return;
    }
    if (h.write_failing) {
        health_fail(ctx, PETREL_ERR_STORE_FAILING,
                    "storage writes are failing (disk full, I/O error or database unreachable)",
                    "write_failing", &h);
        return;
    }
    uint64_t devs = 0, users = 0;
    ctx->srv->sess->ops->count(ctx->srv->sess, &devs, &users);
    cstats_t *cs = ctx->srv->cstats;
    if (cs && !atomic_load(&cs->redis_ok)) {
        /* cluster mode without Redis: no login, no cross-node push */
        metrics_error(&ctx->srv->metrics, PETREL_ERR_SYSTEM);
        json_t *o = json_pack("{s:i, s:s, s:{s:s, s:s, s:s}}", "code", PETREL_ERR_SYSTEM, "msg",
                              "Redis unreachable: logins and pushes to other nodes fail",
                              "data", "status", "failing", "store", "ok", "redis",
                              "unreachable");
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text)
            api_reply_raw(ctx, 503, "application/json", text, strlen(text), NULL);
        else
            api_fail(ctx, 503, PETREL_ERR_SYSTEM, "Redis unreachable");
        free(text);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "status", "up", "store", "ok", "onlineDevices",
                          (json_int_t)devs, "writeFailures", (json_int_t)h.write_failures);
    if (o && cs) {
        json_object_set_new(o, "redis", json_string("ok"));
        json_object_set_new(o, "nodesAlive", json_integer((json_int_t)atomic_load(&cs->nodes_alive)));
    }
    api_ok(ctx, o);
}

void h_healthz(api_ctx_t *ctx)
{
    api_defer(ctx, health_work, health_done);
}

void h_metrics(api_ctx_t *ctx)
{
    size_t len = 0;
    char *text = metrics_render(ctx->srv, &len);
    if (!text) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    api_reply_raw(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    free(text);
}

/* ---- static files ----------------------------------------------------------- */

#define STATIC_MAX_BYTES (16u << 20)

typedef struct static_file {
    char path[1024];
    char *data;
    size_t len;
    int status;
    const char *ctype;
} static_file_t;

static const char *content_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"}, {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static void static_work(api_ctx_t *ctx)
{
    static_file_t *f = ctx->u;
    f->status = 404;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES) {
        close(fd);
        return;
    }
    f->data = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (f->data && got < (size_t)st.st_size) {
        ssize_t r = read(fd, f->data + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (f->data && got == (size_t)st.st_size) {
        f->len = got;
        f->status = 200;
    }
}

static void static_done(api_ctx_t *ctx)
{
    static_file_t *f = ctx->u;
    ctx->u = NULL;
    if (f->status == 200)
        api_reply_raw(ctx, 200, f->ctype, f->data, f->len,
                      "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n");
    else
        api_fail(ctx, 404, PETREL_ERR_NOT_FOUND, "not found");
    free(f->data);
    free(f);
}

void h_static(api_ctx_t *ctx)
{
    const char *p = ctx->req->path;
    /* only plain relative paths below web_root: no "..", no hidden files,
     * no backslashes or percent-escapes */
    if (p[0] != '/' || strstr(p, "/.") || strchr(p, '\\') || strchr(p, '%')) {
        api_fail(ctx, 404, PETREL_ERR_NOT_FOUND, "not found");
        return;
    }
    static_file_t *f = calloc(1, sizeof *f);
    if (!f) {
        api_fail(ctx, 500, PETREL_ERR_SYSTEM, "out of memory");
        return;
    }
    const char *rel = p[1] ? p : "/index.html";
    size_t rl = strlen(rel);
    const char *suffix = rel[rl - 1] == '/' ? "index.html" : "";
    int n = snprintf(f->path, sizeof f->path, "%s%s%s", ctx->srv->cfg.web_root, rel, suffix);
    if (n < 0 || (size_t)n >= sizeof f->path) {
        free(f);
        api_fail(ctx, 404, PETREL_ERR_NOT_FOUND, "not found");
        return;
    }
    f->ctype = content_type(f->path);
    ctx->u = f;
    api_defer(ctx, static_work, static_done);
}
