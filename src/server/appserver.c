/*
 * The built-in demo app server (seed inventory §8): POST /app/v1/register,
 * /app/v1/login and /app/v1/callback, served next to the IM API when
 * demo_app_server is on, so the web client can sign up and get a userSign
 * without a separate business backend.  Not userSign-authenticated; the
 * app is the router's ctx->app (query or body appId, else the default).
 *
 * Register:  validate -> scrypt hash on the thread pool (api_defer) ->
 *   store_account_create (writer thread callback) -> store_user_import of
 *   the IM user (user_id = nick_name = userName; one that already exists is
 *   fine) -> reply.  The account is created first so that a duplicate
 *   registration (10003) never touches the existing IM user.
 * Login:  loginType must be 1 (user name + password).  Two throttles (per
 *   "appId:username" lowercased, as account names are unique ignoring
 *   ASCII case; 5 failures / 5 min, and per client IP, 20 / 5 min)
 *   are checked on the loop (cheap refusal) and again on the thread pool
 *   right before scrypt, where failures are also recorded: a burst of
 *   parallel requests therefore gets at most one scrypt per pool thread
 *   past the limit instead of all of them.  An unknown name still runs one
 *   scrypt against a fixed dummy hash so the reply time does not reveal
 *   which names exist.  Success resets the name's counter only (resetting
 *   the IP's would let one valid account launder an attacker's guesses).
 *   The reply carries a real userSign made with the app's secret, valid
 *   app_token_ttl seconds, as both imUserSign and userSign.
 * Callback:  the webhook receiver: logs appId, the command query parameter
 *   (sanitized) and the body length; answers {code:200,msg:"success"}.
 *
 * Threads: handlers run on a worker loop; api_defer work on libuv's pool;
 * store callbacks on the store writer thread, which only replies or chains
 * the next store op, never blocks.  Passwords are copied into the job,
 * wiped (OPENSSL_cleanse) as soon as hashing/verifying is done, and never
 * logged.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petrel/sign.h"
#include "server/api.h"
#include "server/log.h"
#include "server/password.h"
#include "server/throttle.h"
#include "server/util.h"

#define APP_NAME_MIN 3
#define APP_NAME_MAX 32
#define APP_PW_MIN 8
#define APP_PW_MAX 128

#define APP_ERR_PARAM 90001
#define APP_ERR_WRONG_LOGIN 10001
#define APP_ERR_NAME_TAKEN 10003
#define APP_ERR_THROTTLED 10004

#define THR_NAME_MAX 5
#define THR_IP_MAX 20
#define THR_WINDOW_MS (5 * 60 * 1000)
#define THR_CAPACITY 4096

/* Same parameters as pw_hash, so a miss costs what a hit costs.  The
 * password it was made from is irrelevant (verification result ignored). */
static const char DUMMY_HASH[] =
    "scrypt$15$8$1$PPE01kLXjLn89F8U8kPK7A==$Ke1ZhBdevdLtUjJ2sDxJMbfVoYUqx9bbjRYLOU6zRa4=";

/* ---- throttles ---------------------------------------------------------- */

static throttle_t *g_thr_name, *g_thr_ip;
static pthread_once_t g_thr_once = PTHREAD_ONCE_INIT;

static void thr_init(void)
{
    g_thr_name = throttle_new(THR_NAME_MAX, THR_WINDOW_MS, THR_CAPACITY);
    g_thr_ip = throttle_new(THR_IP_MAX, THR_WINDOW_MS, THR_CAPACITY);
    if (!g_thr_name || !g_thr_ip)
        LOGE("login throttle allocation failed", NULL);
}

static int thr_ready(void)
{
    pthread_once(&g_thr_once, thr_init);
    return g_thr_name && g_thr_ip;
}

/* ---- shared helpers ------------------------------------------------------ */

static int disabled(api_ctx_t *ctx)
{
    if (ctx->srv->cfg.demo_app_server)
        return 0;
    api_fail(ctx, 404, 404, "demo app server is disabled");
    return 1;
}

/* 3..32 characters of [A-Za-z0-9_.-]. */
static int valid_user_name(const char *s)
{
    size_t n = strlen(s);
    if (n < APP_NAME_MIN || n > APP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* The password field: a string of at most APP_PW_MAX bytes without NUL.
 * 0 with *out set, or -1 after replying 400. */
static int get_password(api_ctx_t *ctx, const char **out)
{
    if (api_str(ctx, "password", APP_PW_MAX, 1, out) != 0)
        return -1;
    json_t *v = json_object_get(ctx->body, "password");
    if (!*out || !v || json_string_length(v) != strlen(*out)) {
        api_fail(ctx, 400, APP_ERR_PARAM, "password must be a string without NUL");
        return -1;
    }
    return 0;
}

/* Optional type field that, when present, must be 1 (the seeds' Java
 * backend also took the string "1", so that is accepted too). */
static int only_type_one(api_ctx_t *ctx, const char *key)
{
    json_t *v = json_object_get(ctx->body, key);
    if (!v || json_is_null(v))
        return 0;
    int one = (json_is_integer(v) && json_integer_value(v) == 1) ||
              (json_is_string(v) && strcmp(json_string_value(v), "1") == 0);
    if (!one) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s: only 1 (user name and password) is supported", key);
        api_fail(ctx, 400, APP_ERR_PARAM, msg);
        return -1;
    }
    return 0;
}

/* ---- register ------------------------------------------------------------ */

typedef struct reg_job {
    char name[APP_NAME_MAX + 1];
    char pw[APP_PW_MAX + 1];
    char hash[PW_HASH_MAX];
    int hash_rc;
    int import_results[1];   /* must live until the import's done */
} reg_job_t;

static void reg_finish_fail(api_ctx_t *ctx, int status, int code, const char *msg)
{
    reg_job_t *j = ctx->u;
    ctx->u = NULL;
    free(j);
    api_fail(ctx, status, code, msg);
}

static void reg_imported(void *arg, int rc)
{
    api_ctx_t *ctx = arg;
    reg_job_t *j = ctx->u;
    int r = rc == STORE_OK ? j->import_results[0] : rc;
    if (r != STORE_OK && r != STORE_ECONFLICT) {
        LOGE("demo register: IM user import failed", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(r));
        reg_finish_fail(ctx, 500, 500, "internal error");
        return;
    }
    json_t *data = json_pack("{s:s, s:s, s:i}", "userId", j->name, "userName", j->name, "appId",
                             (int)ctx->app_id);
    LOGI("demo register", "app_id=%d user=%s", (int)ctx->app_id, LQ(j->name));
    ctx->u = NULL;
    free(j);
    if (!data) {
        api_fail(ctx, 500, 500, "internal error");
        return;
    }
    api_ok(ctx, data);
}

static void reg_created(void *arg, int rc)
{
    api_ctx_t *ctx = arg;
    reg_job_t *j = ctx->u;
    if (rc == STORE_ECONFLICT) {
        reg_finish_fail(ctx, 200, APP_ERR_NAME_TAKEN, "user name already registered");
        return;
    }
    if (rc != STORE_OK) {
        LOGE("demo register: account insert failed", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(rc));
        reg_finish_fail(ctx, rc == STORE_ECLOSED ? 503 : 500, 500, "internal error");
        return;
    }
    /* Chain the IM user import; its callback also runs on this thread.
     * The store copies the user before returning. */
    store_user_t u;
    memset(&u, 0, sizeof u);
    u.app_id = ctx->app_id;
    snprintf(u.user_id, sizeof u.user_id, "%s", j->name);
    snprintf(u.nick_name, sizeof u.nick_name, "%s", j->name);
    u.friend_allow_type = 1;  /* no verification, the seeds' default */
    u.user_type = 1;          /* ordinary */
    int irc = store_user_import(ctx->srv->store, &u, 1, j->import_results, reg_imported, ctx);
    if (irc != STORE_OK) {
        LOGE("demo register: IM user import refused", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(irc));
        reg_finish_fail(ctx, irc == STORE_ECLOSED ? 503 : 500, 500, "internal error");
    }
}

static void reg_work(api_ctx_t *ctx)
{
    reg_job_t *j = ctx->u;
    j->hash_rc = pw_hash(j->pw, j->hash, sizeof j->hash);
    OPENSSL_cleanse(j->pw, sizeof j->pw);
}

static void reg_done(api_ctx_t *ctx)
{
    reg_job_t *j = ctx->u;
    if (j->hash_rc != 0) {
        LOGE("demo register: password hashing failed", "app_id=%d", (int)ctx->app_id);
        reg_finish_fail(ctx, 500, 500, "internal error");
        return;
    }
    int rc = store_account_create(ctx->srv->store, ctx->app_id, j->name, j->name, j->hash,
                                  reg_created, ctx);
    if (rc != STORE_OK) {
        LOGE("demo register: account insert refused", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(rc));
        reg_finish_fail(ctx, rc == STORE_ECLOSED ? 503 : 500, 500, "internal error");
    }
}

void h_app_register(api_ctx_t *ctx)
{
    const char *name, *pw;
    if (disabled(ctx))
        return;
    if (api_str(ctx, "userName", 1024, 1, &name) != 0 || get_password(ctx, &pw) != 0 ||
        only_type_one(ctx, "registerType") != 0)
        return;
    if (!name || !valid_user_name(name)) {
        api_fail(ctx, 400, APP_ERR_PARAM, "userName must be 3..32 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    size_t pwlen = strlen(pw);
    if (pwlen < APP_PW_MIN || pwlen > APP_PW_MAX) {
        api_fail(ctx, 400, APP_ERR_PARAM, "password must be 8..128 bytes");
        return;
    }
    reg_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, 500, "internal error");
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", name);
    memcpy(j->pw, pw, pwlen + 1);
    ctx->u = j;
    api_defer(ctx, reg_work, reg_done);
}

/* ---- login --------------------------------------------------------------- */

enum login_result { LR_OK = 0, LR_WRONG, LR_THROTTLED, LR_ERROR };

typedef struct login_job {
    char name[APP_NAME_MAX + 1];
    char pw[APP_PW_MAX + 1];
    char name_key[16 + APP_NAME_MAX];   /* "appId:userName" */
    char ip[sizeof ((http_req_t *)0)->peer];
    char user_id[STORE_ID_MAX + 1];
    char hash[STORE_HASH_MAX + 1];
    int result;
} login_job_t;

static int login_throttled(const login_job_t *j, int64_t now)
{
    return throttle_blocked(g_thr_name, j->name_key, now) ||
           throttle_blocked(g_thr_ip, j->ip, now);
}

static void login_work(api_ctx_t *ctx)
{
    login_job_t *j = ctx->u;
    int64_t now = mono_ms();
    if (login_throttled(j, now)) {
        j->result = LR_THROTTLED;
        goto out;
    }
    int rc = store_account_get_sync(ctx->srv->store, ctx->app_id, j->name, j->user_id, j->hash,
                                    sizeof j->hash);
    if (rc == STORE_OK) {
        int v = pw_verify(j->pw, j->hash);
        if (v == 1) {
            j->result = LR_OK;
            throttle_reset(g_thr_name, j->name_key);
            goto out;
        }
        if (v < 0) {
            /* A stored hash we cannot use: corrupted row, not a guess. */
            LOGE("demo login: stored password hash is malformed", "app_id=%d user=%s",
                 (int)ctx->app_id, LQ(j->name));
            j->result = LR_ERROR;
            goto out;
        }
    } else if (rc == STORE_ENOTFOUND) {
        (void)pw_verify(j->pw, DUMMY_HASH);
    } else {
        LOGE("demo login: account lookup failed", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(rc));
        j->result = LR_ERROR;
        goto out;
    }
    j->result = LR_WRONG;
    now = mono_ms();
    throttle_fail(g_thr_name, j->name_key, now);
    throttle_fail(g_thr_ip, j->ip, now);
out:
    OPENSSL_cleanse(j->pw, sizeof j->pw);
}

static void login_done(api_ctx_t *ctx)
{
    login_job_t *j = ctx->u;
    ctx->u = NULL;
    int result = j->result;
    json_t *data = NULL;
    if (result == LR_OK) {
        char tok[PETREL_SIGN_MAX_TOKEN + 1];
        int64_t ttl = ctx->srv->cfg.app_token_ttl;
        int n = petrel_sign_make(ctx->app.secret, ctx->app_id, j->user_id, ttl, now_ms() / 1000,
                                 tok, sizeof tok);
        if (n < 0) {
            LOGE("demo login: cannot make userSign", "app_id=%d user=%s", (int)ctx->app_id,
                 LQ(j->name));
            result = LR_ERROR;
        } else {
            data = json_pack("{s:s, s:i, s:s, s:s, s:I}", "userId", j->user_id, "appId",
                             (int)ctx->app_id, "imUserSign", tok, "userSign", tok, "expire",
                             (json_int_t)ttl);
            if (!data)
                result = LR_ERROR;
            else
                LOGI("demo login", "app_id=%d user=%s", (int)ctx->app_id, LQ(j->user_id));
        }
    } else if (result == LR_WRONG) {
        LOGI("demo login refused", "app_id=%d user=%s peer=%s", (int)ctx->app_id, LQ(j->name), LQ(j->ip));
    }
    free(j);
    switch (result) {
    case LR_OK:
        api_ok(ctx, data);
        break;
    case LR_WRONG:
        api_fail(ctx, 200, APP_ERR_WRONG_LOGIN, "wrong user name or password");
        break;
    case LR_THROTTLED:
        api_fail(ctx, 429, APP_ERR_THROTTLED, "too many failed logins, try later");
        break;
    default:
        api_fail(ctx, 500, 500, "internal error");
        break;
    }
}

void h_app_login(api_ctx_t *ctx)
{
    const char *name, *pw;
    if (disabled(ctx))
        return;
    if (api_str(ctx, "userName", 1024, 1, &name) != 0 || get_password(ctx, &pw) != 0 ||
        only_type_one(ctx, "loginType") != 0)
        return;
    if (!name || !valid_user_name(name)) {
        /* No such account can exist; not counted as a failed login. */
        api_fail(ctx, 400, APP_ERR_PARAM, "userName must be 3..32 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    if (!thr_ready()) {
        api_fail(ctx, 500, 500, "internal error");
        return;
    }
    login_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, 500, "internal error");
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", name);
    /* Account names are unique ignoring ASCII case: so is the counter. */
    int kl = snprintf(j->name_key, sizeof j->name_key, "%d:", (int)ctx->app_id);
    for (size_t i = 0; name[i] && (size_t)kl + 1 < sizeof j->name_key; i++) {
        char c = name[i];
        j->name_key[kl++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    j->name_key[kl] = '\0';
    snprintf(j->ip, sizeof j->ip, "%s", ctx->req->peer);
    if (login_throttled(j, mono_ms())) {
        LOGD("demo login throttled", "app_id=%d user=%s peer=%s", (int)ctx->app_id, LQ(j->name),
             LQ(j->ip));
        free(j);
        api_fail(ctx, 429, APP_ERR_THROTTLED, "too many failed logins, try later");
        return;
    }
    snprintf(j->pw, sizeof j->pw, "%s", pw);
    ctx->u = j;
    api_defer(ctx, login_work, login_done);
}

/* ---- callback ------------------------------------------------------------ */

void h_app_callback(api_ctx_t *ctx)
{
    static const char ok[] = "{\"code\":200,\"msg\":\"success\"}";
    char command[65];
    if (disabled(ctx))
        return;
    if (http_query_get(ctx->req, "command", command, sizeof command) != 0)
        snprintf(command, sizeof command, "%s", "-");
    /* Client-chosen text goes into a logfmt line: keep it to a safe set. */
    for (char *p = command; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            *p = '?';
    }
    LOGI("app callback", "app_id=%d command=%s body_len=%zu", (int)ctx->app_id, command,
         ctx->req->body_len);
    api_reply_raw(ctx, 200, "application/json", ok, sizeof ok - 1, NULL);
}
