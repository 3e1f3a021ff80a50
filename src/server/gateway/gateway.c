/*
 * Gateway: what a socket connection (TCP or WebSocket) may do, packet by
 * packet.  Owns the login handshake (signed LOGIN, policy, kick-out), the
 * heartbeat, logout, and the rules every later packet must pass before a
 * domain module sees it: body is a JSON object, the user is still live,
 * then the command table's checks (command.h: logged in, fromId is the
 * authenticated user, known command).  Domain commands (messages,
 * groups...) are registered in that table by gw_install().
 */
#include "server/gateway/gateway.h"

#include "server/deliver/deliver.h"
#include "server/gateway/command.h"
#include "server/im/server.h"
#include "server/net/net.h"
#include "server/net/ws.h"

#include "petrel/sign.h"
#include "server/im/apps.h"
#include "server/core/log.h"
#include "server/gateway/cmd_msg.h"
#include "server/im/presence.h"
#include "server/store/store.h"
#include "server/im/ustate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_USER_ID 128

void gw_protocol_error(conn_t *c, int code, const char *msg, int32_t command)
{
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        return;
    LOGD("closing connection", "conn=%llu code=%d reason=%s", (unsigned long long)c->id, code, LQ(msg));
    conn_send_error(c, code, msg, command);
    if (c->kind == CONN_WS)
        ws_close_with(c, 1008, msg);
    conn_close_after_flush(c);
}

static void send_json_obj(conn_t *c, int32_t command, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        conn_send_json(c, command, s, strlen(s));
    else
        conn_close(c);
    free(s);
    json_decref(o);
}

/* ---- packets held during a pending LOGIN ----------------------------------
 * LOGIN completes on the thread pool; packets pipelined behind it are kept
 * (re-encoded, bounded) and replayed in order once it is done, so a client
 * sees the same order as with a synchronous login. */

#define HELD_MAX 32

typedef struct held_pkt {
    struct held_pkt *next;
    uint32_t len;
    uint8_t data[];
} held_pkt_t;

void gw_free_held(conn_t *c)
{
    while (c->upper) {
        held_pkt_t *h = c->upper;
        c->upper = h->next;
        free(h);
    }
}

static int hold_packet(conn_t *c, const petrel_packet_t *p)
{
    size_t n = 0;
    held_pkt_t **tail = (held_pkt_t **)&c->upper;
    for (; *tail; tail = &(*tail)->next)
        n++;
    size_t len = petrel_encode_up(NULL, 0, &p->hdr, p->imei, p->imei_len, p->body, p->body_len);
    held_pkt_t *h = n < HELD_MAX ? malloc(sizeof *h + len) : NULL;
    if (!h) {
        gw_protocol_error(c, PETREL_ERR_NOT_LOGGED_IN, "too many packets before LOGINACK",
                          p->hdr.command);
        return -1;
    }
    h->next = NULL;
    h->len = (uint32_t)petrel_encode_up(h->data, len, &p->hdr, p->imei, p->imei_len, p->body,
                                        p->body_len);
    *tail = h;
    return 0;
}

static void replay_held(conn_t *c)
{
    while (c->upper && !(c->flags & (CF_CLOSED | CF_CLOSE_AFTER | CF_LOGIN_PENDING))) {
        held_pkt_t *h = c->upper;
        c->upper = h->next;
        petrel_packet_t p;
        if (petrel_decode_up(h->data, h->len, &c->w->srv->limits, &p) == PETREL_DEC_OK)
            gw_on_packet(c, &p);
        free(h);
    }
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        gw_free_held(c);
}

/* ---- login ------------------------------------------------------------- */

static atomic_uint_fast64_t *online_gauge(conn_t *c)
{
    return &c->w->srv->metrics.online[c->kind == CONN_WS][c->client_type];
}

static void login_failed(conn_t *c, int code, const char *msg)
{
    atomic_fetch_add(&c->w->srv->metrics.logins_failed, 1);
    gw_protocol_error(c, code, msg, PETREL_CMD_LOGIN);
}

static int login_check_user(conn_t *c);

static int do_login(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    server_t *s = c->w->srv;
    const petrel_up_hdr_t *h = &p->hdr;
    if (h->client_type < 0 || h->client_type > PETREL_CT_MAX) {
        login_failed(c, PETREL_ERR_CLIENT_TYPE, "clientType must be 0..5");
        return -1;
    }
    store_app_t app;
    if (apps_get(s->apps, h->app_id, &app) < 0) {
        login_failed(c, PETREL_ERR_APP_UNKNOWN, "unknown appId");
        return -1;
    }
    const char *uid = json_string_value(json_object_get(body, "userId"));
    if (!uid || !id_valid(uid, MAX_USER_ID)) {
        login_failed(c, PETREL_ERR_PARAM, "userId must be a string of 1..128 bytes");
        return -1;
    }
    const char *sign = json_string_value(json_object_get(body, "userSign"));
    if (!sign || !*sign) {
        if (!s->cfg.legacy_unsigned_login) {
            login_failed(c, PETREL_ERR_SIGN_MISSING, "userSign is required");
            return -1;
        }
        LOGW("UNSIGNED LOGIN accepted (legacy_unsigned_login is on)", "app=%d user=%s",
             h->app_id, LQ(uid));
    } else {
        petrel_sign_policy_t pol = {s->cfg.token_max_lifetime, s->cfg.token_clock_skew};
        int rc = petrel_sign_verify_policy(app.secret, h->app_id, uid, sign, now_ms() / 1000,
                                           &pol, NULL);
        if (rc != 0) {
            login_failed(c, rc, petrel_err_text(rc));
            return -1;
        }
    }

    c->user_id = strdup(uid);
    c->imei = strndup(p->imei, p->imei_len);
    if (!c->user_id || !c->imei) {
        conn_close(c);
        return -1;
    }
    c->app_id = h->app_id;
    c->client_type = (int8_t)h->client_type;
    return login_check_user(c);
}

/* Second half of LOGIN: the user must exist, not be deleted nor forbidden.
 * The lookup runs on the thread pool; the connection waits (other commands
 * are refused with 61006 until LOGINACK).
 *
 * Lookups are batched per worker, like the store's group commit (wbatch.h):
 * at most one batch runs on the thread pool at a time, and the logins that
 * arrive meanwhile go together in the next one.  A login
 * on a quiet worker goes at once, alone; under a login storm one
 * thread-pool hop (two thread wake-ups) serves many logins instead of one
 * each, which was a third of the server's CPU per login. */
#define LOGIN_BATCH_MAX 256

/* A kick that came while the connection's LOGIN was being answered
 * (gw_kick_after_login): applied after its LOGINACK. */
typedef struct late_kick {
    struct late_kick *next;
    uint64_t conn_id;
    int by_client_type;
    char by_imei[];
} late_kick_t;

typedef struct login_job {
    wbatch_item_t link; /* first: wbatch.h */
    uint64_t conn_id;
    int32_t app_id;
    int client_type;
    int rc;
    int del_flag, forbidden;
    int app_known;
    int registered;            /* joined.rc == 0: in the session registry */
    presence_joined_t joined;  /* the registration (presence_register) */
    char *imei;
    char user_id[];
} login_job_t;

static void login_job_free(login_job_t *j)
{
    presence_joined_free(&j->joined);
    free(j->imei);
    free(j);
}

/* On the thread pool: the user row, then -- a live user of a known app --
 * the registration itself (the session registry may be Redis: never on a
 * loop).  The loop announces it or, when the connection went away
 * meanwhile, undoes it (login_answer). */
static void login_work(wbatch_t *b, wbatch_item_t *list)
{
    worker_t *w = b->data;
    server_t *s = w->srv;
    for (wbatch_item_t *it = list; it; it = it->next) {
        login_job_t *j = (login_job_t *)it;
        store_user_t u;
        j->rc = store_user_get_sync(s->store, j->app_id, j->user_id, &u);
        if (j->rc != 0)
            continue;
        j->del_flag = u.del_flag;
        j->forbidden = u.forbidden_flag;
        ustate_learn(s->ustate, j->app_id, j->user_id, ustate_of_row(u.del_flag, u.forbidden_flag));
        store_app_t app;
        j->app_known = apps_get(s->apps, j->app_id, &app) == 0;
        if (j->del_flag || j->forbidden || !j->app_known)
            continue;
        sess_login_t q = {
            .app_id = j->app_id, .user_id = j->user_id, .client_type = j->client_type,
            .imei = j->imei, .login_ms = now_ms(), .conn_id = j->conn_id,
            .policy_mode = app.login_policy, .max_per_platform = app.max_per_platform,
            .max_devices = s->cfg.max_devices_per_user,
        };
        presence_register(s, &q, &j->joined);
        j->registered = j->joined.rc == 0;
    }
}

static void login_finish(conn_t *c, login_job_t *j);
static void login_answer_one(worker_t *w, login_job_t *j, int status);

/* A registration nobody will use: the device leaves again. */
static void login_undo(worker_t *w, login_job_t *j)
{
    if (!j->registered)
        return;
    j->registered = 0;
    presence_announce_kicks(w, j->app_id, j->user_id, j->client_type, j->imei, j->conn_id,
                            &j->joined);
    presence_unregister(w, j->app_id, j->user_id, j->client_type, j->imei, j->conn_id);
}

static late_kick_t *late_kick_take(worker_t *w, uint64_t conn_id);

static void login_answer(worker_t *w, login_job_t *j, int status)
{
    late_kick_t *k = late_kick_take(w, j->conn_id);
    login_answer_one(w, j, status);
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    if (k && c && (c->flags & CF_AUTHED)) /* LOGINACK sent: now the kick */
        deliver_kick_conn(w->srv->deliver, c, k->by_client_type, k->by_imei);
    free(k);
}

static void login_answer_one(worker_t *w, login_job_t *j, int status)
{
    conn_t *c = connmap_get(&w->conns, j->conn_id);
    if (!c || (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))) {
        login_undo(w, j);
        return;
    }
    c->flags &= (uint16_t)~CF_LOGIN_PENDING;
    if (status < 0 || (j->rc < 0 && j->rc != STORE_ENOTFOUND))
        login_failed(c, PETREL_ERR_SYSTEM, "storage unavailable");
    else if (j->rc == STORE_ENOTFOUND)
        login_failed(c, PETREL_ERR_USER_NOT_FOUND, "user not found (import it first)");
    else if (j->del_flag)
        login_failed(c, PETREL_ERR_USER_FORBIDDEN, "user deleted");
    else if (j->forbidden)
        login_failed(c, PETREL_ERR_USER_FORBIDDEN, "user forbidden");
    else if (ustate_get(w->srv->ustate, c->app_id, c->user_id) > USTATE_LIVE)
        login_failed(c, PETREL_ERR_USER_FORBIDDEN, "user forbidden or deleted"); /* since the read */
    else
        login_finish(c, j);
    login_undo(w, j); /* registered but not logged in (a failure above) */
    replay_held(c);
    if (c->flags & CF_EOF)
        conn_close_after_flush(c);
}

/* On the loop: answer every login of the batch (status < 0: the lookups
 * did not run; a system error for each). */
static void login_done(wbatch_t *b, wbatch_item_t *list, int status)
{
    while (list) {
        wbatch_item_t *next = list->next;
        login_answer(b->data, (login_job_t *)list, status);
        login_job_free((login_job_t *)list);
        list = next;
    }
}

/* The gateway's per-worker state: its worker_t.ext slot (gw_install). */
typedef struct gw_worker {
    wbatch_t login_batch; /* LOGIN user lookups, batched */
    late_kick_t *kicks;   /* few, short-lived: a list */
} gw_worker_t;

static int gw_slot = -1;

static gw_worker_t *gw_worker(worker_t *w)
{
    return w->ext[gw_slot];
}

void gw_kick_after_login(conn_t *c, int by_client_type, const char *by_imei)
{
    gw_worker_t *g = gw_slot >= 0 ? gw_worker(c->w) : NULL;
    size_t n = by_imei ? strlen(by_imei) : 0;
    late_kick_t *k = g ? malloc(sizeof *k + n + 1) : NULL;
    if (!k) {
        conn_close(c); /* cannot remember it: closed without the kick packet */
        return;
    }
    k->conn_id = c->id;
    k->by_client_type = by_client_type;
    memcpy(k->by_imei, by_imei ? by_imei : "", n + 1);
    k->next = g->kicks;
    g->kicks = k;
}

static late_kick_t *late_kick_take(worker_t *w, uint64_t conn_id)
{
    gw_worker_t *g = gw_worker(w);
    late_kick_t *found = NULL;
    for (late_kick_t **pp = g ? &g->kicks : NULL; pp && *pp;) {
        late_kick_t *k = *pp;
        if (k->conn_id == conn_id) {
            *pp = k->next;
            free(found); /* kicked twice: the last one names who */
            found = k;
        } else {
            pp = &k->next;
        }
    }
    return found;
}

static int gw_worker_init(worker_t *w, void *arg)
{
    (void)arg;
    gw_worker_t *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    wbatch_init(&g->login_batch, &w->loop, LOGIN_BATCH_MAX, login_work, login_done, w);
    w->ext[gw_slot] = g;
    return 0;
}

static void gw_worker_free(worker_t *w, void *arg)
{
    (void)arg;
    gw_worker_t *g = w->ext[gw_slot];
    while (g && g->kicks) {
        late_kick_t *k = g->kicks;
        g->kicks = k->next;
        free(k);
    }
    free(w->ext[gw_slot]);
    w->ext[gw_slot] = NULL;
}

static int login_check_user(conn_t *c)
{
    size_t n = strlen(c->user_id);
    login_job_t *j = malloc(sizeof *j + n + 1);
    if (!j) {
        conn_close(c);
        return -1;
    }
    memset(j, 0, sizeof *j);
    j->conn_id = c->id;
    j->app_id = c->app_id;
    j->client_type = c->client_type;
    j->imei = strdup(c->imei);
    if (!j->imei) {
        free(j);
        conn_close(c);
        return -1;
    }
    memcpy(j->user_id, c->user_id, n + 1);
    c->flags |= CF_LOGIN_PENDING;
    /* may have answered c already, with an error */
    wbatch_push(&gw_worker(c->w)->login_batch, &j->link);
    return (c->flags & (CF_CLOSED | CF_CLOSE_AFTER)) ? -1 : 0;
}

static void login_finish(conn_t *c, login_job_t *j)
{
    server_t *s = c->w->srv;
    if (!j->app_known) {
        login_failed(c, PETREL_ERR_APP_UNKNOWN, "unknown appId");
        return;
    }
    int rc = j->joined.rc;
    if (rc == SESS_ETOOMANY) {
        login_failed(c, PETREL_ERR_TOO_MANY_DEVICES, "too many devices online for this user");
        return;
    }
    if (rc < 0) {
        login_failed(c, PETREL_ERR_SYSTEM, "session registry failure");
        return;
    }
    /* registered (login_work); its events (notify/presence.c) tell the
     * other devices (4005), friends and subscribers when it is the user's
     * first (4004), and kick the policy's victims (MUTUALLOGIN, closed) */
    j->registered = 0; /* the connection owns it now: gw_on_close removes it */
    presence_announce_login(c, &j->joined);
    c->flags |= CF_AUTHED;
    net_conn_logged_in(c); /* off max_pending_per_ip */
    atomic_fetch_add(online_gauge(c), 1);
    conn_set_list(c, LIST_ACTIVE);
    atomic_fetch_add(&s->metrics.logins_ok, 1);
    LOGD("login", "conn=%llu app=%d user=%s clientType=%d kicked=%zu", (unsigned long long)c->id,
         c->app_id, LQ(c->user_id), c->client_type, j->joined.nvictims);
    send_json_obj(c, PETREL_CMD_LOGINACK,
                  json_pack("{s:s, s:i, s:i, s:s, s:I}", "userId", c->user_id, "appId", c->app_id,
                            "clientType", c->client_type, "imei", c->imei,
                            "serverTime", (json_int_t)now_ms()));
}

void gw_on_close(conn_t *c)
{
    /* unregisters the device and announces it; the user's last device
     * starts the debounced offline (presence.h) */
    presence_logout(c);
    atomic_fetch_sub(online_gauge(c), 1);
    c->flags &= (uint16_t)~CF_AUTHED;
}

/* ---- the gateway's own commands (command table, gw_install) ---------------- */

static int cmd_login(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    if (c->flags & (CF_AUTHED | CF_LOGIN_PENDING)) {
        conn_send_error(c, PETREL_ERR_ALREADY_LOGGED, "already logged in", p->hdr.command);
        return 0;
    }
    return do_login(c, p, body);
}

static int cmd_ping(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    (void)p, (void)body;
    send_json_obj(c, PETREL_CMD_PING, json_pack("{s:I}", "serverTime", (json_int_t)now_ms()));
    return 0;
}

static int cmd_logout(conn_t *c, const petrel_packet_t *p, json_t *body)
{
    (void)p, (void)body;
    LOGD("logout", "conn=%llu user=%s", (unsigned long long)c->id, LQ(c->user_id));
    gw_on_close(c);
    if (c->kind == CONN_WS)
        ws_close_with(c, 1000, "logout");
    conn_close_after_flush(c);
    return -1;
}

/* Every socket command petreld serves: the gateway's own, then the domain
 * modules' dispatchers (each switches on the command it is given). */
static int gw_register_commands(void)
{
    gw_command_reset();
    int rc = 0;
    rc |= gw_command_register(PETREL_CMD_LOGIN, cmd_login, GW_CMD_NOAUTH);
    rc |= gw_command_register(PETREL_CMD_PING, cmd_ping, 0);
    rc |= gw_command_register(PETREL_CMD_LOGOUT, cmd_logout, GW_CMD_FROM);
    return rc;
}

/* The body's fromId (when present) and the header's appId (when not 0)
 * are the logged-in user's. */
static int from_matches(const conn_t *c, const petrel_packet_t *p, json_t *body)
{
    json_t *from = json_object_get(body, "fromId");
    if (from && (!json_is_string(from) || strcmp(json_string_value(from), c->user_id)))
        return 0;
    return p->hdr.app_id == 0 || p->hdr.app_id == c->app_id;
}

int gw_on_packet(conn_t *c, const petrel_packet_t *p)
{
    server_t *s = c->w->srv;
    int32_t cmd = p->hdr.command;
    conn_touch(c);
    if (c->flags & CF_LOGIN_PENDING)
        return hold_packet(c, p); /* counted when replayed */
    atomic_fetch_add(&s->metrics.packets_in, 1);

    json_error_t jerr;
    json_t *body = p->body_len ? json_loadb(p->body, p->body_len, 0, &jerr) : json_object();
    if (!json_is_object(body)) {
        json_decref(body);
        gw_protocol_error(c, PETREL_ERR_BAD_JSON, "body must be a JSON object", cmd);
        return -1;
    }

    if ((c->flags & CF_AUTHED) && ustate_get(s->ustate, c->app_id, c->user_id) > USTATE_LIVE) {
        /* forbidden or deleted since LOGIN: nothing more from this socket,
         * PINGs included (the forbid/delete also disconnects it; this
         * closes the race with a LOGIN that was finishing meanwhile) */
        json_decref(body);
        gw_protocol_error(c, PETREL_ERR_USER_FORBIDDEN, "user forbidden or deleted", cmd);
        return -1;
    }

    /* the command table: logged in, fromId, known (command.h) */
    const gw_command_t *e = gw_command_find(cmd);
    int authed = (c->flags & CF_AUTHED) != 0;
    int from_ok = !authed || (e && !(e->flags & GW_CMD_FROM)) || from_matches(c, p, body);
    int rc = 0;
    switch (gw_command_gate(e, authed, from_ok)) {
    case 0: rc = e->fn(c, p, body); break;
    case PETREL_ERR_NOT_LOGGED_IN:
        gw_protocol_error(c, PETREL_ERR_NOT_LOGGED_IN, "LOGIN first", cmd);
        rc = -1;
        break;
    case PETREL_ERR_FROM_MISMATCH:
        conn_send_error_for(c, PETREL_ERR_FROM_MISMATCH, "fromId/appId is not the logged-in user",
                            cmd, body);
        break;
    default:
        conn_send_error_for(c, PETREL_ERR_UNKNOWN_CMD, "unsupported command", cmd, body);
        break;
    }
    json_decref(body);
    if (c->flags & (CF_CLOSED | CF_CLOSE_AFTER))
        rc = -1;
    return rc;
}

void gw_on_timeout(conn_t *c, enum conn_list l)
{
    if (l == LIST_PENDING)
        gw_protocol_error(c, PETREL_ERR_LOGIN_TIMEOUT, "no LOGIN in time", 0);
    else
        gw_protocol_error(c, PETREL_ERR_HEARTBEAT, "heartbeat timeout", 0);
}

void gw_on_shutdown(conn_t *c)
{
    if (c->kind == CONN_HTTP)
        conn_close_after_flush(c);
    else
        gw_protocol_error(c, PETREL_ERR_SHUTDOWN, "server shutting down", 0);
}

/* ---- installing the gateway ---------------------------------------------------- */

static const conn_proto_t gw_proto = {
    .on_packet = gw_on_packet,
    .on_error = gw_protocol_error,
    .on_close = gw_on_close,
    .on_free = gw_free_held,
    .on_timeout = gw_on_timeout,
    .on_shutdown = gw_on_shutdown,
};

static const worker_hooks_t gw_hooks = {
    .name = "gateway",
    .init = gw_worker_init,
    .free = gw_worker_free,
};

int gw_install(server_t *s)
{
    if (gw_register_commands() < 0 || cmd_msg_install(s) < 0)
        return -1;
    int slot = runtime_add_worker_hooks(&s->rt, &gw_hooks, s);
    if (slot < 0)
        return -1;
    gw_slot = slot;
    s->rt.proto = &gw_proto;
    return 0;
}
