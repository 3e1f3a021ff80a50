/*
 * The built-in demo app server (seed inventory §8): POST /app/v1/register,
 * /app/v1/login and /app/v1/callback, served next to the IM API when
 * demo_app_server is on, so the web client can sign up and get a userSign
 * without a separate business backend.  Not userSign-authenticated; the
 * app is the router's ctx->app (query or body appId, else the default).
 *
 * Who may call: only clients on this machine (the peer is a loopback
 * address) unless demo_app_remote is on; others get 403/62000 before any
 * work.  The app admin's identifier (any letter case) can never be
 * registered, and login never issues a token for it (62001).
 *
 * Register:  validate -> per-IP registration throttle (counting every
 *   attempt the password pool accepted) -> on the password pool: refuse early a
 *   name already taken (account or IM user, so no scrypt is spent on it),
 *   scrypt hash -> store_account_register, ONE writer op that inserts the
 *   IM user (user_id = nick_name = userName) and then the account, and
 *   fails with STORE_ECONFLICT, writing nothing, if either exists.  The
 *   writer runs ops one at a time, so two registrations of one name, or a
 *   registration racing /v1/user/importUser of the same id, cannot both
 *   win, and a registration never takes over an IM user that exists.
 * Login:  loginType must be 1 (user name + password).  A per-IP attempt
 *   throttle (every attempt the pool accepted counts) and two failure throttles (per
 *   "appId:username" lowercased, as account names are unique ignoring
 *   ASCII case; 5 failures / 5 min, and per client IP, 20 / 5 min)
 *   are checked on the loop (cheap refusal) and the failure ones again on
 *   the pool right before scrypt, where failures are also recorded: a burst
 *   of parallel requests therefore gets at most one scrypt per pool thread
 *   past the limit instead of all of them.  An unknown name still runs one
 *   scrypt against a fixed dummy hash so the reply time does not reveal
 *   which names exist.  Success resets the name's counter only (resetting
 *   the IP's would let one valid account launder an attacker's guesses).
 *   A right password of a user the admin deleted or forbade gets no token
 *   (403/61015).  The reply carries a real userSign made with the app's
 *   secret, valid app_token_ttl seconds, as both imUserSign and userSign.
 *   IP keys: an IPv4 address, or the /64 prefix of an IPv6 one (a single
 *   client usually owns a whole /64).
 * Callback:  the webhook receiver: logs appId, the command query parameter
 *   (sanitized) and the body length; answers {code:200,msg:"success"}.
 *
 * Threads: handlers run on a worker loop.  Password work (scrypt, and the
 * account lookups next to it) runs on a pool of its own (pwpool.h), never
 * on libuv's pool that REST reads and socket logins share; its queue is
 * bounded and a full queue answers 503/62002 at once.  The work's "done"
 * step runs on that pool thread too: it only submits a store op or
 * replies (both thread-safe).  Store callbacks run on the writer thread
 * and only reply.  Passwords are copied into the job, wiped
 * (OPENSSL_cleanse) as soon as hashing/verifying is done, and never logged.
 */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "petrel/proto.h"
#include "petrel/sign.h"
#include "server/api/api.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/password.h"
#include "server/core/pwpool.h"
#include "server/core/throttle.h"
#include "server/core/util.h"

#define APP_NAME_MIN 3
#define APP_NAME_MAX 32
#define APP_PW_MIN 8
#define APP_PW_MAX 128

#define THR_NAME_MAX 5
#define THR_IP_MAX 20
#define THR_WINDOW_MS (5 * 60 * 1000)
#define THR_CAPACITY 4096
#define THR_REG_WINDOW_MS (10 * 60 * 1000)
#define THR_LOGIN_WINDOW_MS (60 * 1000)

/* Same parameters as pw_hash, so a miss costs what a hit costs.  The
 * password it was made from is irrelevant (verification result ignored). */
static const char DUMMY_HASH[] =
    "scrypt$15$8$1$PPE01kLXjLn89F8U8kPK7A==$Ke1ZhBdevdLtUjJ2sDxJMbfVoYUqx9bbjRYLOU6zRa4=";

/* ---- state: throttles and the password pool ------------------------------ */

/* Failed logins per name and per IP; attempts per IP (login, register). */
static throttle_t *g_thr_name, *g_thr_ip, *g_thr_login_ip, *g_thr_reg_ip;
static pwpool_t *g_pw;
/* Registrations handed to the store and not answered yet: appserver_stop
 * waits for them, so that no reply is sent once the workers are gone. */
static pthread_mutex_t g_inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_inflight_cv = PTHREAD_COND_INITIALIZER;
static int g_inflight;

static void inflight_add(int d)
{
    pthread_mutex_lock(&g_inflight_mu);
    g_inflight += d;
    if (g_inflight == 0)
        pthread_cond_broadcast(&g_inflight_cv);
    pthread_mutex_unlock(&g_inflight_mu);
}

int appserver_start(const config_t *cfg)
{
    g_thr_name = throttle_new(THR_NAME_MAX, THR_WINDOW_MS, THR_CAPACITY);
    g_thr_ip = throttle_new(THR_IP_MAX, THR_WINDOW_MS, THR_CAPACITY);
    g_thr_login_ip = throttle_new(cfg->demo_app_login_per_ip, THR_LOGIN_WINDOW_MS, THR_CAPACITY);
    g_thr_reg_ip = throttle_new(cfg->demo_app_register_per_ip, THR_REG_WINDOW_MS, THR_CAPACITY);
    g_pw = pwpool_new((unsigned)cfg->password_threads, (size_t)cfg->password_queue);
    if (!g_thr_name || !g_thr_ip || !g_thr_login_ip || !g_thr_reg_ip || !g_pw) {
        LOGE("demo app server: cannot allocate throttles or the password pool", NULL);
        appserver_free();
        return -1;
    }
    if (cfg->demo_app_server)
        LOGI("demo app server on", "routes=/app/v1 clients=%s password_threads=%d",
             cfg->demo_app_remote ? "any" : "loopback-only", cfg->password_threads);
    if (cfg->demo_app_server && cfg->demo_app_remote)
        LOGW("demo app server answers every client (demo_app_remote): anyone who reaches "
             "the HTTP port can create accounts",
             NULL);
    return 0;
}

void appserver_stop(void)
{
    /* Cancelled jobs reply now, running ones finish (and may hand a
     * registration to the store).  Handlers may still run on draining
     * workers: g_pw stays valid (submit refuses) until appserver_free. */
    pwpool_stop(g_pw);
    /* The store's writer answers those quickly; bounded wait all the same. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g_inflight_mu);
    while (g_inflight > 0 &&
           pthread_cond_timedwait(&g_inflight_cv, &g_inflight_mu, &until) == 0) {
    }
    if (g_inflight > 0)
        LOGW("demo app server: registrations still unanswered at shutdown", "n=%d",
             g_inflight);
    pthread_mutex_unlock(&g_inflight_mu);
}

void appserver_free(void)
{
    pwpool_free(g_pw);
    g_pw = NULL;
    throttle_free(g_thr_name);
    throttle_free(g_thr_ip);
    throttle_free(g_thr_login_ip);
    throttle_free(g_thr_reg_ip);
    g_thr_name = g_thr_ip = g_thr_login_ip = g_thr_reg_ip = NULL;
}

/* ---- shared helpers ------------------------------------------------------ */

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int peer_is_loopback(const char *peer)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, peer, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, peer, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

/* The throttle key of a peer: the IPv4 address (also when v4-mapped), the
 * /64 of an IPv6 one, else the text itself. */
static void ip_key(const char *peer, char *out, size_t cap)
{
    struct in6_addr a6;
    if (inet_pton(AF_INET6, peer, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            snprintf(out, cap, "%u.%u.%u.%u", a6.s6_addr[12], a6.s6_addr[13], a6.s6_addr[14],
                     a6.s6_addr[15]);
        } else {
            memset(a6.s6_addr + 8, 0, 8);
            char t[INET6_ADDRSTRLEN];
            if (inet_ntop(AF_INET6, &a6, t, sizeof t))
                snprintf(out, cap, "%s/64", t);
            else
                snprintf(out, cap, "%s", peer);
        }
        return;
    }
    snprintf(out, cap, "%s", peer);
}

/* 0 if the request may be served, else replies and returns 1. */
static int refused(api_ctx_t *ctx)
{
    if (!ctx->srv->cfg.demo_app_server) {
        api_fail(ctx, 404, PETREL_ERR_NOT_FOUND, "demo app server is disabled");
        return 1;
    }
    if (!ctx->srv->cfg.demo_app_remote && !peer_is_loopback(ctx->req->peer)) {
        LOGD("demo app server: non-loopback client refused", "peer=%s path=%s",
             LQ(ctx->req->peer), LQ(ctx->req->path));
        api_fail(ctx, 403, PETREL_ERR_APP_LOCAL_ONLY,
                 "the demo app server only answers clients on the server's machine");
        return 1;
    }
    return 0;
}

static void job_wipe_free(void *u);

static void pw_job(void *arg, int cancelled)
{
    api_ctx_t *ctx = arg;
    if (cancelled) {
        job_wipe_free(ctx->u);
        ctx->u = NULL;
        api_fail(ctx, 503, PETREL_ERR_SHUTDOWN, "the server is shutting down");
        return;
    }
    ctx->work(ctx);
    ctx->done(ctx);
}

/* Run work then done on the password pool: 0, or -1 after answering
 * 503/62002 because the queue is full.  On 0 ctx may already be gone. */
static int pw_defer(api_ctx_t *ctx, api_fn work, api_fn done)
{
    ctx->work = work;
    ctx->done = done;
    int rc = pwpool_submit(g_pw, pw_job, ctx);
    if (rc != 0) {
        LOGD("demo app server: password pool busy", "peer=%s path=%s", LQ(ctx->req->peer),
             LQ(ctx->req->path));
        job_wipe_free(ctx->u);
        ctx->u = NULL;
        if (rc == -2)
            api_fail(ctx, 503, PETREL_ERR_SHUTDOWN, "the server is shutting down");
        else
            api_fail(ctx, 503, PETREL_ERR_PW_BUSY,
                     "too many sign-ups and logins right now, retry later");
        return -1;
    }
    return 0;
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
        api_fail(ctx, 400, PETREL_ERR_PARAM, "password must be a string without NUL");
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
        api_fail(ctx, 400, PETREL_ERR_PARAM, msg);
        return -1;
    }
    return 0;
}

/* ---- register ------------------------------------------------------------ */

enum reg_result { RG_HASHED = 0, RG_TAKEN, RG_ERROR };

typedef struct reg_job {
    char name[APP_NAME_MAX + 1];
    char pw[APP_PW_MAX + 1];
    char hash[PW_HASH_MAX];
    int result;
} reg_job_t;

static void reg_finish_fail(api_ctx_t *ctx, int status, int code, const char *msg)
{
    reg_job_t *j = ctx->u;
    ctx->u = NULL;
    free(j);
    api_fail(ctx, status, code, msg);
}

/* Writer thread: the account and the IM user were created together, or
 * neither. */
static void reg_reply(api_ctx_t *ctx, int rc);

static void reg_stored(void *arg, int rc)
{
    reg_reply(arg, rc);
    inflight_add(-1);
}

static void reg_reply(api_ctx_t *ctx, int rc)
{
    reg_job_t *j = ctx->u;
    if (rc == STORE_ECONFLICT) {
        reg_finish_fail(ctx, 200, PETREL_ERR_APP_NAME_TAKEN, "user name already registered");
        return;
    }
    if (rc != STORE_OK) {
        LOGE("demo register: account insert failed", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(rc));
        reg_finish_fail(ctx, rc == STORE_ECLOSED ? 503 : 500, PETREL_ERR_INTERNAL, "internal error");
        return;
    }
    json_t *data = json_pack("{s:s, s:s, s:i}", "userId", j->name, "userName", j->name, "appId",
                             (int)ctx->app_id);
    LOGI("demo register", "app_id=%d user=%s", (int)ctx->app_id, LQ(j->name));
    ctx->u = NULL;
    free(j);
    if (!data) {
        api_fail(ctx, 500, PETREL_ERR_INTERNAL, "internal error");
        return;
    }
    api_ok(ctx, data);
}

/* Password pool. */
static void reg_work(api_ctx_t *ctx)
{
    reg_job_t *j = ctx->u;
    store_user_t u;
    /* Cheap early refusal of a name that is taken (the store op decides). */
    int a = store_account_get_sync(ctx->srv->store, ctx->app_id, j->name, NULL, NULL, 0);
    int b = a == STORE_ENOTFOUND ? store_user_get_sync(ctx->srv->store, ctx->app_id, j->name, &u)
                                 : a;
    if (a == STORE_OK || b == STORE_OK)
        j->result = RG_TAKEN;
    else if (b != STORE_ENOTFOUND)
        j->result = RG_ERROR;
    else
        j->result = pw_hash(j->pw, j->hash, sizeof j->hash) == 0 ? RG_HASHED : RG_ERROR;
    OPENSSL_cleanse(j->pw, sizeof j->pw);
}

/* Password pool, right after reg_work. */
static void reg_done(api_ctx_t *ctx)
{
    reg_job_t *j = ctx->u;
    if (j->result == RG_TAKEN) {
        reg_finish_fail(ctx, 200, PETREL_ERR_APP_NAME_TAKEN, "user name already registered");
        return;
    }
    if (j->result != RG_HASHED) {
        LOGE("demo register: lookup or password hashing failed", "app_id=%d", (int)ctx->app_id);
        reg_finish_fail(ctx, 500, PETREL_ERR_INTERNAL, "internal error");
        return;
    }
    store_user_t u;
    memset(&u, 0, sizeof u);
    u.app_id = ctx->app_id;
    snprintf(u.user_id, sizeof u.user_id, "%s", j->name);
    snprintf(u.nick_name, sizeof u.nick_name, "%s", j->name);
    u.friend_allow_type = 1;  /* no verification, the seeds' default */
    u.user_type = 1;          /* ordinary */
    inflight_add(1);
    int rc = store_account_register(ctx->srv->store, j->name, j->hash, &u, reg_stored, ctx);
    if (rc != STORE_OK) {
        inflight_add(-1);
        LOGE("demo register: account insert refused", "app_id=%d user=%s err=\"%s\"",
             (int)ctx->app_id, LQ(j->name), store_strerror(rc));
        reg_finish_fail(ctx, rc == STORE_ECLOSED ? 503 : 500, PETREL_ERR_INTERNAL, "internal error");
    }
}

void h_app_register(api_ctx_t *ctx)
{
    const char *name, *pw;
    if (refused(ctx))
        return;
    if (api_str(ctx, "userName", 1024, 1, &name) != 0 || get_password(ctx, &pw) != 0 ||
        only_type_one(ctx, "registerType") != 0)
        return;
    if (!name || !valid_user_name(name)) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "userName must be 3..32 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    size_t pwlen = strlen(pw);
    if (pwlen < APP_PW_MIN || pwlen > APP_PW_MAX) {
        api_fail(ctx, 400, PETREL_ERR_PARAM, "password must be 8..128 bytes");
        return;
    }
    /* The admin's identifier, in any letter case (a look-alike of the
     * admin is as good as the admin to a person reading a chat). */
    if (!strcasecmp(name, ctx->app.admin_id)) {
        LOGI("demo register refused: reserved name", "app_id=%d user=%s peer=%s",
             (int)ctx->app_id, LQ(name), LQ(ctx->req->peer));
        api_fail(ctx, 200, PETREL_ERR_NAME_RESERVED, "this user name is reserved");
        return;
    }
    char ip[sizeof ctx->req->peer + 8];
    ip_key(ctx->req->peer, ip, sizeof ip);
    int64_t now = mono_ms();
    if (throttle_blocked(g_thr_reg_ip, ip, now)) {
        LOGD("demo register throttled", "app_id=%d peer=%s", (int)ctx->app_id, LQ(ctx->req->peer));
        api_fail(ctx, 429, PETREL_ERR_REG_THROTTLED,
                 "too many registrations from this address, try later");
        return;
    }
    reg_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_INTERNAL, "internal error");
        return;
    }
    snprintf(j->name, sizeof j->name, "%s", name);
    memcpy(j->pw, pw, pwlen + 1);
    ctx->u = j;
    /* Counted once it is queued: a "busy" refusal cost nothing. */
    if (pw_defer(ctx, reg_work, reg_done) == 0)
        throttle_fail(g_thr_reg_ip, ip, now);
}

/* ---- login --------------------------------------------------------------- */

enum login_result { LR_OK = 0, LR_WRONG, LR_THROTTLED, LR_RESERVED, LR_BANNED, LR_ERROR };

typedef struct login_job {
    char name[APP_NAME_MAX + 1];
    char pw[APP_PW_MAX + 1];
    char name_key[16 + APP_NAME_MAX];   /* "appId:userName" */
    char ip[sizeof ((http_req_t *)0)->peer + 8];   /* ip_key() */
    char user_id[STORE_ID_MAX + 1];
    char hash[STORE_HASH_MAX + 1];
    int result;
} login_job_t;

/* A job that never ran: wipe the password it holds, then free it.  Both
 * job kinds keep it at the same place. */
_Static_assert(offsetof(reg_job_t, pw) == offsetof(login_job_t, pw) &&
                   sizeof ((reg_job_t *)0)->pw == sizeof ((login_job_t *)0)->pw,
               "job password fields differ");
static void job_wipe_free(void *u)
{
    if (u)
        OPENSSL_cleanse((char *)u + offsetof(reg_job_t, pw), sizeof ((reg_job_t *)0)->pw);
    free(u);
}

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
    if (rc == STORE_OK && !strcmp(j->user_id, ctx->app.admin_id)) {
        /* An account whose IM identity is the admin (registered before
         * that was refused, or the admin setting changed since): never
         * hand out an admin token through this public door. */
        j->result = LR_RESERVED;
        goto out;
    }
    if (rc == STORE_OK) {
        int v = pw_verify(j->pw, j->hash);
        if (v == 1) {
            throttle_reset(g_thr_name, j->name_key);
            /* A right password is no token for a user the admin deleted
             * or forbade (the socket would refuse it; REST must not
             * accept it either). */
            store_user_t u;
            int urc = store_user_get_sync(ctx->srv->store, ctx->app_id, j->user_id, &u);
            if (urc == STORE_OK && !u.del_flag && !u.forbidden_flag)
                j->result = LR_OK;
            else if (urc == STORE_OK || urc == STORE_ENOTFOUND)
                j->result = LR_BANNED;
            else
                j->result = LR_ERROR;
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
    } else if (result == LR_BANNED) {
        LOGI("demo login refused: user deleted or forbidden", "app_id=%d user=%s peer=%s",
             (int)ctx->app_id, LQ(j->name), LQ(j->ip));
    } else if (result == LR_RESERVED) {
        LOGW("demo login refused: account maps to the app admin", "app_id=%d user=%s peer=%s",
             (int)ctx->app_id, LQ(j->name), LQ(j->ip));
    }
    free(j);
    switch (result) {
    case LR_OK:
        api_ok(ctx, data);
        break;
    case LR_WRONG:
        api_fail(ctx, 200, PETREL_ERR_APP_WRONG_LOGIN, "wrong user name or password");
        break;
    case LR_THROTTLED:
        api_fail(ctx, 429, PETREL_ERR_APP_LOGIN_LOCKED, "too many failed logins, try later");
        break;
    case LR_RESERVED:
        api_fail(ctx, 200, PETREL_ERR_NAME_RESERVED, "this user name is reserved");
        break;
    case LR_BANNED:
        api_fail(ctx, 403, PETREL_ERR_USER_FORBIDDEN, "this user is deleted or forbidden");
        break;
    default:
        api_fail(ctx, 500, PETREL_ERR_INTERNAL, "internal error");
        break;
    }
}

void h_app_login(api_ctx_t *ctx)
{
    const char *name, *pw;
    if (refused(ctx))
        return;
    if (api_str(ctx, "userName", 1024, 1, &name) != 0 || get_password(ctx, &pw) != 0 ||
        only_type_one(ctx, "loginType") != 0)
        return;
    if (!name || !valid_user_name(name)) {
        /* No such account can exist; not counted as a failed login. */
        api_fail(ctx, 400, PETREL_ERR_PARAM, "userName must be 3..32 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    login_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_fail(ctx, 500, PETREL_ERR_INTERNAL, "internal error");
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
    ip_key(ctx->req->peer, j->ip, sizeof j->ip);
    int64_t now = mono_ms();
    if (throttle_blocked(g_thr_login_ip, j->ip, now)) {
        LOGD("demo login attempts throttled", "app_id=%d peer=%s", (int)ctx->app_id, LQ(j->ip));
        free(j);
        api_fail(ctx, 429, PETREL_ERR_LOGIN_THROTTLED,
                 "too many login attempts from this address, try later");
        return;
    }
    if (login_throttled(j, now)) {
        LOGD("demo login throttled", "app_id=%d user=%s peer=%s", (int)ctx->app_id, LQ(j->name),
             LQ(j->ip));
        free(j);
        api_fail(ctx, 429, PETREL_ERR_APP_LOGIN_LOCKED, "too many failed logins, try later");
        return;
    }
    char ip[sizeof j->ip];
    memcpy(ip, j->ip, sizeof ip);
    snprintf(j->pw, sizeof j->pw, "%s", pw);
    ctx->u = j;
    if (pw_defer(ctx, login_work, login_done) == 0)
        throttle_fail(g_thr_login_ip, ip, now);
}

/* ---- callback ------------------------------------------------------------ */

void h_app_callback(api_ctx_t *ctx)
{
    static const char ok[] = "{\"code\":200,\"msg\":\"success\"}";
    char command[65];
    if (refused(ctx))
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
