/*
 * petrel: the command-line client (sign / login / raw / send / sync /
 * history / friend / call), built on libpetrel (client.h for the socket, http.h for REST).
 *
 * It owns only process-level concerns: option parsing (getopt_long, with
 * PETREL_* environment defaults), signal handling, and the output format --
 * one JSON object per line on stdout, flushed per line, so that scripts and
 * the integration tests can read it line by line: socket commands print
 * every received packet as {"command":N,"data":<json>}, the REST commands
 * print one message row per line.  Everything protocol-related lives in the
 * library.
 *
 * `send` is `login` plus bookkeeping: it waits for the LOGINACK, queues the
 * MSG_P2P packets (retrying on -ENOBUFS while running the client so a large
 * --repeat never needs more than max_pending), and matches each MSG_ACK
 * 1046 to its messageId.  `sync` follows syncOfflineMessage's lastSequence
 * until `completed`; `history` fetches one page and prints it oldest first.
 *
 * Exit status: 0 normal end (--for/--wait elapsed, SIGINT/SIGTERM), 1 usage,
 * connect or REST errors (message on stderr), 2 the server closed the
 * connection, 3 (send) an ack refused a message, 4 (send) not every ack
 * arrived within --ack-timeout.
 */
#include "cli.h"

#include "petrel/client.h"
#include "petrel/http.h"
#include "petrel/proto.h"
#include "petrel/sign.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE  1
#define EXIT_CLOSED 2
#define EXIT_REFUSED 3    /* send: an ack with a code other than 200 */
#define EXIT_NOACK  4     /* send: acks missing at --ack-timeout */
#define SLICE_MS    200   /* petrel_run slice: bounds signal latency */
#define LOGOUT_WAIT_MS 1000

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}


/* ---- output ------------------------------------------------------------- */

/* Writes s[0..len) as a JSON string; invalid UTF-8 becomes U+FFFD. */
static void put_json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            switch (ch) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default:
                if (ch < 0x20 || ch == 0x7f)
                    fprintf(f, "\\u%04x", ch);
                else
                    fputc(ch, f);
            }
            i++;
            continue;
        }
        size_t n = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        if (n > 1 && i + n <= len && petrel_utf8_valid(s + i, n)) {
            fwrite(s + i, 1, n, f);
            i += n;
        } else {
            fputs("\\ufffd", f);
            i++;
        }
    }
    fputc('"', f);
}

/* What `send` waits for: one ack per message.  Ids are either exactly
 * base (one message) or base-1 .. base-N (--repeat N). */
struct send_state {
    const char *base;
    size_t base_len;
    int suffixed;
    int64_t n;              /* messages to send */
    int64_t n_sent;         /* queued so far */
    unsigned char *acked;   /* n flags */
    int64_t n_acked;        /* distinct acks + ERRORs about a 1103 */
    int64_t n_failed;       /* of those, refusals */
};

/* The callbacks' userdata. */
struct run_state {
    int receipts;              /* send 1107 + 1106 for each 1103 */
    int saw_login;             /* LOGINACK or ERROR arrived */
    int login_ok;              /* LOGINACK arrived */
    struct send_state *snd;    /* NULL but for `send` */
};

/* Index of message id in snd, or -1. */
static int64_t send_index(const struct send_state *snd, const char *id)
{
    if (!snd->suffixed)
        return strcmp(id, snd->base) == 0 ? 0 : -1;
    if (strncmp(id, snd->base, snd->base_len) != 0 || id[snd->base_len] != '-')
        return -1;
    const char *k = id + snd->base_len + 1;
    if (*k < '1' || *k > '9')
        return -1; /* no sign, no leading zero */
    int64_t v;
    if (parse_i64(k, 1, snd->n, &v) < 0)
        return -1;
    return v - 1;
}

/* Bookkeeping of `send` for one downlink packet. */
static void track_ack(struct send_state *snd, int32_t command, const char *json, size_t len)
{
    if (command != PETREL_CMD_MSG_ACK && command != PETREL_CMD_GROUP_MSG_ACK &&
        command != PETREL_CMD_ERROR)
        return;
    json_t *doc = json_loadb(json, len, 0, NULL);
    if (!doc)
        return;
    json_t *code = json_object_get(doc, "code");
    int ok = json_is_integer(code) && json_integer_value(code) == PETREL_OK;
    if (command == PETREL_CMD_ERROR) {
        /* A refused 1103 (e.g. 61007) names the command, not the message. */
        json_t *cmd = json_object_get(doc, "command");
        if (json_is_integer(cmd) && (json_integer_value(cmd) == PETREL_CMD_MSG_P2P ||
                                     json_integer_value(cmd) == PETREL_CMD_MSG_GROUP)
            && snd->n_acked < snd->n_sent) {
            snd->n_acked++;
            snd->n_failed++;
        }
    } else {
        const char *id = json_string_value(json_object_get(json_object_get(doc, "data"),
                                                           "messageId"));
        int64_t i = id ? send_index(snd, id) : -1;
        if (i >= 0 && !snd->acked[i]) {
            snd->acked[i] = 1;
            snd->n_acked++;
            if (!ok)
                snd->n_failed++;
        }
    }
    json_decref(doc);
}

/* Delivery (1107) and read (1106) receipts for a received message. */
static void send_receipts(petrel_client_t *c, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(json, len, 0, &jerr);
    const char *from = json_string_value(json_object_get(m, "fromId"));
    json_t *key = json_object_get(m, "messageKey"), *seq = json_object_get(m, "messageSequence");
    if (from && json_is_integer(key) && json_is_integer(seq)) {
        json_t *ack = json_pack("{s:s, s:O, s:O, s:O?}", "toId", from, "messageKey", key,
                                "messageSequence", seq, "messageId",
                                json_object_get(m, "messageId"));
        json_t *read = json_pack("{s:s, s:i, s:O}", "toId", from, "conversationType", 0,
                                 "messageSequence", seq);
        char *a = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
        char *r = read ? json_dumps(read, JSON_COMPACT) : NULL;
        if (a)
            petrel_send(c, PETREL_CMD_MSG_RECEIVE_ACK, a, strlen(a));
        if (r)
            petrel_send(c, PETREL_CMD_MSG_READED, r, strlen(r));
        free(a);
        free(r);
        json_decref(ack);
        json_decref(read);
    }
    json_decref(m);
}

static void on_packet(petrel_client_t *c, int32_t command, const char *json, size_t len,
                      void *ud)
{
    struct run_state *st = ud;
    if (command == PETREL_CMD_LOGINACK || command == PETREL_CMD_ERROR)
        st->saw_login = 1;
    if (command == PETREL_CMD_LOGINACK)
        st->login_ok = 1;
    if (st->snd)
        track_ack(st->snd, command, json, len);
    if (st->receipts && command == PETREL_CMD_MSG_P2P)
        send_receipts(c, json, len);
    printf("{\"command\":%ld,\"data\":", (long)command);
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (doc) {
        /* Valid JSON is embedded as it came; raw CR/LF can only be
         * insignificant whitespace there, so blank them to keep one line. */
        json_decref(doc);
        for (size_t i = 0; i < len; i++)
            putchar(json[i] == '\n' || json[i] == '\r' ? ' ' : json[i]);
    } else {
        put_json_string(stdout, json, len);
    }
    fputs("}\n", stdout);
    fflush(stdout);
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_sign(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("sign", SIGN_OPTS, USAGE_SIGN, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    if (!o.secret || !*o.secret) {
        fprintf(stderr, "petrel sign: --secret is required (or set PETREL_SECRET)\n");
        return EXIT_USAGE;
    }
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    if (petrel_sign_make(o.secret, o.app, o.user, o.ttl, (int64_t)time(NULL), tok, sizeof tok) < 0) {
        fprintf(stderr, "petrel sign: cannot make a token for user '%s'\n", o.user);
        return EXIT_USAGE;
    }
    printf("%s\n", tok);
    return 0;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_closed(void)
{
    fputs("{\"event\":\"closed\"}\n", stdout);
    fflush(stdout);
}

static void report_close(petrel_client_t *c)
{
    int why = petrel_close_reason(c);
    const char *detail = petrel_client_error(c);
    if (why < 0)
        fprintf(stderr, "petrel: connection closed: %s (%s)\n", strerror(-why), detail);
    else if (*detail)
        fprintf(stderr, "petrel: %s\n", detail);
}

/* Runs the client until the deadline (< 0: none), a signal, or a server
 * close.  Returns 0 (deadline/signal), 1 (closed) or a negative error. */
static int run_until(petrel_client_t *c, int64_t deadline, const int *until_flag)
{
    while (!g_stop && !(until_flag && *until_flag)) {
        /* Short slices while waiting for a packet: petrel_run only returns
         * at its timeout, and the flag is set from inside it. */
        int slice = until_flag ? 10 : SLICE_MS;
        if (deadline >= 0) {
            int64_t left = deadline - mono_ms();
            if (left <= 0)
                return 0;
            if (left < slice)
                slice = (int)left;
        }
        int r = petrel_run(c, slice);
        if (r != 0)
            return r;
    }
    return 0;
}

/* Polite goodbye: LOGOUT, then let the server close (quietly) for a moment. */
static void goodbye(petrel_client_t *c, int logged_in)
{
    if (logged_in && petrel_is_connected(c) && petrel_logout(c) == 0) {
        int64_t end = mono_ms() + LOGOUT_WAIT_MS;
        int left;
        while ((left = (int)(end - mono_ms())) > 0 && petrel_run(c, left) == 0)
            ;
    }
    petrel_close(c);
}

/* --sign, or a token made from --secret into tok; NULL (message printed)
 * when neither works. */
static const char *user_token(const char *cmd, const struct cli *o, char *tok, size_t cap)
{
    if (o->sign)
        return o->sign;
    if (!o->secret || !*o->secret) {
        fprintf(stderr, "petrel %s: need --sign TOKEN or --secret S (or PETREL_SECRET)\n", cmd);
        return NULL;
    }
    if (petrel_sign_make(o->secret, o->app, o->user, o->ttl, (int64_t)time(NULL), tok, cap) < 0) {
        fprintf(stderr, "petrel %s: cannot make a token for user '%s'\n", cmd, o->user);
        return NULL;
    }
    return tok;
}

static petrel_client_t *open_client(const char *cmd, const struct cli *o,
                                    struct run_state *st)
{
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    const char *sign = o->sign;
    if (!o->no_login && !(sign = user_token(cmd, o, tok, sizeof tok)))
        return NULL;
    char imei[64];
    if (!o->imei)
        snprintf(imei, sizeof imei, "cli-%ld", (long)getpid());
    petrel_client_opts_t po = {
        .url = o->url,
        .app_id = o->app,
        .client_type = o->client_type,
        .user_id = o->user,
        .user_sign = sign,
        .imei = o->imei ? o->imei : imei,
        .heartbeat_ms = o->heartbeat_ms,
        .connect_timeout_ms = o->connect_timeout_ms,
        .on_packet = on_packet,
        .userdata = st,
    };
    petrel_client_t *c = petrel_client_new(&po);
    if (!c) {
        if (errno == EINVAL)
            fprintf(stderr, "petrel %s: bad --url '%s' (want tcp://host:port or ws://host:port/path)\n",
                    cmd, o->url);
        else
            fprintf(stderr, "petrel %s: %s\n", cmd, strerror(errno));
        return NULL;
    }
    int r = petrel_connect(c);
    if (r < 0) {
        const char *detail = petrel_client_error(c);
        fprintf(stderr, "petrel %s: cannot connect to %s: %s\n", cmd, o->url,
                *detail ? detail : strerror(-r));
        petrel_client_free(c);
        return NULL;
    }
    return c;
}

/* Shared tail: map a run result to the exit status and clean up. */
static int finish(petrel_client_t *c, int r, int logged_in)
{
    int status = 0;
    if (r == 1) {
        print_closed();
        report_close(c);
        status = EXIT_CLOSED;
    } else if (r < 0) {
        fprintf(stderr, "petrel: %s\n", strerror(-r));
        status = EXIT_USAGE;
    } else {
        goodbye(c, logged_in);
    }
    petrel_client_free(c);
    return status;
}

static int cmd_login(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("login", LOGIN_OPTS, USAGE_LOGIN, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    install_signals();
    struct run_state st = { .receipts = o.receipts };
    petrel_client_t *c = open_client("login", &o, &st);
    if (!c)
        return EXIT_USAGE;
    r = petrel_login(c);
    if (r < 0) {
        fprintf(stderr, "petrel login: %s\n", *petrel_client_error(c) ? petrel_client_error(c)
                                                                      : strerror(-r));
        if (!petrel_is_connected(c))
            return finish(c, 1, 0);
        petrel_client_free(c);
        return EXIT_USAGE;
    }
    int64_t deadline = o.for_s < 0 ? -1 : mono_ms() + (int64_t)(o.for_s * 1000.0 + 0.5);
    r = run_until(c, deadline, NULL);
    return finish(c, r, 1);
}

static int cmd_raw(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("raw", RAW_OPTS, USAGE_RAW, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    if (!o.has_cmd) {
        fprintf(stderr, "petrel raw: --cmd is required\n");
        return EXIT_USAGE;
    }
    install_signals();
    struct run_state st = { 0 };
    petrel_client_t *c = open_client("raw", &o, &st);
    if (!c)
        return EXIT_USAGE;
    int logged_in = !o.no_login;
    if (logged_in) {
        r = petrel_login(c);
        if (r == 0) /* let the login complete before the packet goes out */
            r = run_until(c, mono_ms() + o.connect_timeout_ms, &st.saw_login);
        if (r != 0 || g_stop)
            return finish(c, r, logged_in);
    }
    r = petrel_send(c, o.cmd, o.body, strlen(o.body));
    if (r < 0 && petrel_is_connected(c)) {
        fprintf(stderr, "petrel raw: send: %s\n", strerror(-r));
        petrel_client_free(c);
        return EXIT_USAGE;
    }
    /* A send that found the connection dead is reported by the run below. */
    r = run_until(c, mono_ms() + (int64_t)(o.wait_s * 1000.0 + 0.5), NULL);
    return finish(c, r, logged_in);
}

/* ---- send ------------------------------------------------------------------ */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rand32(void)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint32_t)mono_ms() * 2654435761u ^ (uint32_t)getpid();
    return v;
}

/* The messageBody text (malloc'd): --text wrapped, or --body checked.
 * NULL with a message printed on a usage error. */
static char *message_body(const struct cli *o)
{
    if (o->text) {
        json_t *b = json_pack("{s:i, s:s}", "type", 1, "content", o->text);
        char *t = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        if (!t)
            fprintf(stderr, "petrel send: --text must be valid UTF-8\n");
        return t;
    }
    json_error_t err;
    json_t *b = json_loads(o->body, 0, &err);
    int parsed = b != NULL, ok = json_is_object(b);
    json_decref(b);
    if (!ok) {
        fprintf(stderr, "petrel send: --body must be a JSON object%s%s\n",
                parsed ? "" : ": ", parsed ? "" : err.text);
        return NULL;
    }
    return strdup(o->body);
}

/* Queues one MSG_P2P: 0, or the petrel_send/petrel_run result that ended
 * the attempt (1 = connection closed). */
/* MSG_P2P 1103, or MSG_GROUP 2104 with --group. */
static int32_t g_send_cmd = PETREL_CMD_MSG_P2P;

static int send_one(petrel_client_t *c, json_t *msg, const char *id)
{
    json_object_set_new(msg, "messageId", json_string(id));
    json_object_set_new(msg, "messageTime", json_integer(wall_ms()));
    json_object_set_new(msg, "messageRandom", json_integer(rand32() & 0x7fffffff));
    char *pkt = json_dumps(msg, JSON_COMPACT);
    if (!pkt)
        return -ENOMEM;
    int r;
    while ((r = petrel_send(c, g_send_cmd, pkt, strlen(pkt))) == -ENOBUFS) {
        /* queue full (large --repeat): let the socket drain */
        if ((r = petrel_run(c, 50)) != 0)
            break;
    }
    free(pkt);
    return r;
}

static int cmd_send(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("send", SEND_OPTS, USAGE_SEND, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    if (!(o.to && *o.to) == !(o.group && *o.group)) {
        fprintf(stderr, "petrel send: give exactly one of --to and --group\n");
        return EXIT_USAGE;
    }
    if (o.group)
        g_send_cmd = PETREL_CMD_MSG_GROUP;
    if (!o.text == !o.has_body) {
        fprintf(stderr, "petrel send: give exactly one of --text and --body\n");
        return EXIT_USAGE;
    }
    if (o.message_id && !*o.message_id) {
        fprintf(stderr, "petrel send: --message-id must not be empty\n");
        return EXIT_USAGE;
    }
    char *body = message_body(&o);
    if (!body)
        return EXIT_USAGE;
    json_t *msg = json_pack("{s:s, s:s, s:s}", "fromId", o.user, o.group ? "groupId" : "toId",
                            o.group ? o.group : o.to, "messageBody", body);
    free(body);
    if (!msg) {
        fprintf(stderr, "petrel send: --user and --to must be valid UTF-8\n");
        return EXIT_USAGE;
    }
    char gen[96];
    if (!o.message_id)
        snprintf(gen, sizeof gen, "cli-%ld-%lld-%08x", (long)getpid(), (long long)wall_ms(),
                 rand32());
    struct send_state snd = {
        .base = o.message_id ? o.message_id : gen,
        .suffixed = o.has_repeat,
        .n = o.has_repeat ? o.repeat : 1,
    };
    snd.base_len = strlen(snd.base);
    size_t idcap = snd.base_len + 24;
    char *id = malloc(idcap);
    snd.acked = calloc((size_t)snd.n, 1);
    json_t *idjs = json_string(snd.base);
    int id_ok = idjs != NULL;
    json_decref(idjs);
    if (!id || !snd.acked || !id_ok) {
        fprintf(stderr, "petrel send: %s\n", id && snd.acked ? "--message-id must be valid UTF-8"
                                                             : strerror(ENOMEM));
        free(id);
        free(snd.acked);
        json_decref(msg);
        return EXIT_USAGE;
    }

    install_signals();
    struct run_state st = { .snd = &snd };
    petrel_client_t *c = open_client("send", &o, &st);
    int status = EXIT_USAGE;
    if (!c)
        goto out;
    r = petrel_login(c);
    if (r == 0)
        r = run_until(c, mono_ms() + o.connect_timeout_ms, &st.saw_login);
    if (r != 0 || g_stop) {
        status = finish(c, r, 1);
        goto out;
    }
    if (!st.saw_login) {
        fprintf(stderr, "petrel send: no LOGINACK within %d ms\n", o.connect_timeout_ms);
        petrel_client_free(c);
        goto out;
    }
    if (!st.login_ok) {
        /* A refused LOGIN (ERROR) is followed by the server's close: exit 2. */
        r = run_until(c, mono_ms() + o.connect_timeout_ms, NULL);
        status = finish(c, r, 0);
        if (status == 0) {
            fprintf(stderr, "petrel send: login refused\n");
            status = EXIT_USAGE;
        }
        goto out;
    }
    for (int64_t i = 0; i < snd.n && !g_stop; i++) {
        if (snd.suffixed)
            snprintf(id, idcap, "%s-%lld", snd.base, (long long)(i + 1));
        else
            snprintf(id, idcap, "%s", snd.base);
        r = send_one(c, msg, id);
        if (!petrel_is_connected(c) || r == 1) {
            status = finish(c, 1, 1);
            goto out;
        }
        if (r < 0) {
            fprintf(stderr, "petrel send: %s\n", strerror(-r));
            petrel_client_free(c);
            goto out;
        }
        snd.n_sent++;
    }
    int64_t sent_at = mono_ms();
    int64_t wait_end = sent_at + (int64_t)(o.wait_s * 1000.0 + 0.5);
    int64_t ack_end = sent_at + (int64_t)(o.ack_timeout_s * 1000.0 + 0.5);
    r = 0;
    while (!g_stop) {
        int all = snd.n_acked >= snd.n;
        int64_t end = all ? wait_end : ack_end;
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        /* short slices while acks are missing: they are counted inside
         * petrel_run, which only returns at its timeout */
        int slice = all ? SLICE_MS : 10;
        if (left < slice)
            slice = (int)left;
        if ((r = petrel_run(c, slice)) != 0)
            break;
    }
    if (r == 0 && snd.n_acked < snd.n)
        fprintf(stderr, "petrel send: %lld of %lld acks missing\n",
                (long long)(snd.n - snd.n_acked), (long long)snd.n);
    if (r == 0 && snd.n_failed > 0)
        fprintf(stderr, "petrel send: %lld of %lld messages refused\n",
                (long long)snd.n_failed, (long long)snd.n);
    status = finish(c, r, 1);
    if (status == 0)
        status = snd.n_failed ? EXIT_REFUSED : snd.n_acked < snd.n ? EXIT_NOACK : 0;
out:
    json_decref(msg);
    free(id);
    free(snd.acked);
    return status;
}

/* ---- sync / history (REST) -------------------------------------------------- */

/* "api?appId=..&identifier=..&userSign=.." (malloc'd), or NULL (printed). */
static char *signed_path(const char *cmd, const struct cli *o, const char *api)
{
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    const char *sign = user_token(cmd, o, tok, sizeof tok);
    if (!sign)
        return NULL;
    char *ident = petrel_http_urlencode(o->user);
    char *etok = petrel_http_urlencode(sign);
    char *path = NULL;
    if (ident && etok) {
        const char *fmt = "%s?appId=%ld&identifier=%s&userSign=%s";
        int n = snprintf(NULL, 0, fmt, api, (long)o->app, ident, etok);
        if (n >= 0 && (path = malloc((size_t)n + 1)))
            snprintf(path, (size_t)n + 1, fmt, api, (long)o->app, ident, etok);
    }
    if (!path)
        fprintf(stderr, "petrel %s: %s\n", cmd, strerror(ENOMEM));
    free(ident);
    free(etok);
    return path;
}

/* POSTs req (reference stolen) to api.  On success returns 0 with *data
 * the envelope's data (a new reference); else prints the failure or the
 * error envelope on stderr and returns EXIT_USAGE. */
static int rest_call(const char *cmd, const struct cli *o, const char *api, json_t *req,
                     json_t **data)
{
    *data = NULL;
    char *reqs = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char *path = reqs ? signed_path(cmd, o, api) : NULL;
    if (!path) {
        if (!reqs)
            fprintf(stderr, "petrel %s: cannot encode the request (invalid UTF-8?)\n", cmd);
        free(reqs);
        return EXIT_USAGE;
    }
    int status = 0;
    char *resp = NULL;
    size_t rlen = 0;
    int r = petrel_http_post(o->http, path, reqs, o->http_timeout_ms, &status, &resp, &rlen);
    free(path);
    free(reqs);
    if (r == -EINVAL) {
        fprintf(stderr, "petrel %s: bad --http '%s' (want http://host:port)\n", cmd, o->http);
        return EXIT_USAGE;
    }
    if (r < 0) {
        fprintf(stderr, "petrel %s: POST %s%s: %s\n", cmd, o->http, api, strerror(-r));
        return EXIT_USAGE;
    }
    json_t *doc = json_loadb(resp, rlen, 0, NULL);
    json_t *code = json_object_get(doc, "code");
    if (status == 200 && json_is_integer(code) && json_integer_value(code) == PETREL_OK) {
        *data = json_incref(json_object_get(doc, "data"));
        json_decref(doc);
        free(resp);
        return 0;
    }
    if (doc) { /* the error envelope, as one line */
        char *t = json_dumps(doc, JSON_COMPACT);
        fprintf(stderr, "%s\n", t ? t : resp);
        free(t);
    } else {
        fprintf(stderr, "petrel %s: %s%s: HTTP %d: ", cmd, o->http, api, status);
        put_json_string(stderr, resp, rlen);
        fputc('\n', stderr);
    }
    json_decref(doc);
    free(resp);
    return EXIT_USAGE;
}

static void print_row(json_t *row)
{
    char *t = json_dumps(row, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t) {
        puts(t);
        free(t);
    }
}

static int cmd_sync(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("sync", SYNC_OPTS, USAGE_SYNC, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);
    int64_t since = o.since;
    int64_t limit = o.limit ? o.limit : 100;
    for (;;) {
        json_t *data;
        json_t *req = json_pack("{s:I, s:I}", "lastSequence", (json_int_t)since,
                                "maxLimit", (json_int_t)limit);
        if (rest_call("sync", &o, "/v1/message/syncOfflineMessage", req, &data) != 0)
            return EXIT_USAGE;
        json_t *list = json_object_get(data, "dataList");
        size_t i;
        json_t *row;
        json_array_foreach(list, i, row)
            print_row(row);
        fflush(stdout);
        int completed = json_is_true(json_object_get(data, "completed"));
        json_t *last = json_object_get(data, "lastSequence");
        int64_t next = json_is_integer(last) ? json_integer_value(last) : -1;
        size_t n = json_array_size(list);
        json_decref(data);
        if (completed)
            return 0;
        if (n == 0 || next <= since) {
            fprintf(stderr, "petrel sync: not completed but lastSequence did not advance "
                            "(%lld after %lld); stopping\n", (long long)next, (long long)since);
            return EXIT_USAGE;
        }
        since = next;
    }
}

static int64_t row_seq(const json_t *row)
{
    json_t *v = json_object_get(row, "messageSequence");
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int cmp_rows(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t sx = row_seq(x), sy = row_seq(y);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    json_t *kx = json_object_get(x, "messageKey"), *ky = json_object_get(y, "messageKey");
    int64_t a1 = json_integer_value(kx), b1 = json_integer_value(ky);
    return a1 < b1 ? -1 : a1 > b1;
}

static int cmd_history(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("history", HISTORY_OPTS, USAGE_HISTORY, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    if (!o.with || !*o.with) {
        fprintf(stderr, "petrel history: --with is required\n");
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    json_t *data;
    json_t *req = json_pack("{s:s, s:I, s:b, s:I}", "toId", o.with,
                            "messageSequence", (json_int_t)o.before, "isGt", 0,
                            "limit", (json_int_t)(o.limit ? o.limit : 20));
    if (rest_call("history", &o, "/v1/message/queryP2pMessageHistory", req, &data) != 0)
        return EXIT_USAGE;
    json_t *list = json_is_array(data) ? data : json_object_get(data, "dataList");
    size_t n = json_array_size(list);
    json_t **rows = n ? calloc(n, sizeof *rows) : NULL;
    if (n && !rows) {
        fprintf(stderr, "petrel history: %s\n", strerror(ENOMEM));
        json_decref(data);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = json_array_get(list, i);
    /* the server pages newest first; print the page as a chat reads */
    if (n > 1)
        qsort(rows, n, sizeof *rows, cmp_rows);
    for (size_t i = 0; i < n; i++)
        print_row(rows[i]);
    fflush(stdout);
    free(rows);
    json_decref(data);
    return 0;
}

/* Prints data: an array one element per line, anything else as one line. */
static void print_data(json_t *data)
{
    if (json_is_array(data)) {
        size_t i;
        json_t *row;
        json_array_foreach(data, i, row)
            print_row(row);
    } else {
        print_row(data ? data : json_null());
    }
    fflush(stdout);
}

/* "a,b,c" -> ["a","b","c"] (empty items skipped); NULL when out of memory. */
static json_t *split_ids(const char *list)
{
    json_t *a = json_array();
    const char *p = list;
    while (a && p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && json_array_append_new(a, json_stringn(p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        p = e ? e + 1 : NULL;
    }
    return a;
}

static int need(const char *what, int ok, const char *opt)
{
    if (!ok)
        fprintf(stderr, "petrel friend %s: --%s is required\n", what, opt);
    return ok;
}

static int cmd_friend(int argc, char **argv)
{
    const char *act = argc > 1 ? argv[1] : NULL;
    if (!act || !strcmp(act, "--help") || !strcmp(act, "-h") || !strcmp(act, "help")) {
        fputs(USAGE_FRIEND, act ? stdout : stderr);
        return act ? 0 : EXIT_USAGE;
    }
    struct cli o;
    int r = parse_opts("friend", FRIEND_OPTS, USAGE_FRIEND, argc - 1, argv + 1, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);
    const char *api = NULL;
    json_t *req = NULL;
    if (!strcmp(act, "add")) {
        if (!need(act, o.to != NULL, "to"))
            return EXIT_USAGE;
        api = "/v1/friendship/addFriend";
        req = json_pack("{s:{s:s, s:s, s:s, s:s}}", "toItem", "toId", o.to, "remark",
                        o.remark ? o.remark : "", "addWording", o.wording ? o.wording : "",
                        "addSource", "cli");
    } else if (!strcmp(act, "requests")) {
        api = "/v1/friendshipRequest/getFriendRequest";
        req = json_object();
    } else if (!strcmp(act, "approve") || !strcmp(act, "reject")) {
        if (!need(act, o.has_id, "id"))
            return EXIT_USAGE;
        api = "/v1/friendshipRequest/approveFriendRequest";
        req = json_pack("{s:I, s:i}", "id", (json_int_t)o.id, "status",
                        !strcmp(act, "approve") ? 1 : 2);
    } else if (!strcmp(act, "list")) {
        api = "/v1/friendship/getAllFriendShip";
        req = json_object();
    } else if (!strcmp(act, "delete") || !strcmp(act, "black") || !strcmp(act, "unblack")) {
        if (!need(act, o.to != NULL, "to"))
            return EXIT_USAGE;
        api = !strcmp(act, "delete") ? "/v1/friendship/deleteFriend"
              : !strcmp(act, "black") ? "/v1/friendship/addBlack"
                                      : "/v1/friendship/deleteBlack";
        req = json_pack("{s:s}", "toId", o.to);
    } else if (!strcmp(act, "status")) {
        if (o.to) {
            api = "/v1/user/queryUserOnlineStatus";
            json_t *ids = split_ids(o.to);
            req = ids ? json_pack("{s:o}", "userIdList", ids) : NULL;
        } else {
            api = "/v1/user/queryFriendOnlineStatus";
            req = json_object();
        }
    } else {
        fprintf(stderr, "petrel friend: unknown action '%s'\n\n", act);
        fputs(USAGE_FRIEND, stderr);
        return EXIT_USAGE;
    }
    if (!req) { /* json_pack fails only on invalid UTF-8 or out of memory */
        fprintf(stderr, "petrel friend %s: cannot encode the request (invalid UTF-8?)\n", act);
        return EXIT_USAGE;
    }
    json_t *data;
    if (rest_call("friend", &o, api, req, &data) != 0)
        return EXIT_USAGE;
    print_data(data);
    json_decref(data);
    return 0;
}

static int cmd_call(int argc, char **argv)
{
    struct cli o;
    int r = parse_opts("call", CALL_OPTS, USAGE_CALL, argc, argv, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    if (!o.path || o.path[0] != '/') {
        fprintf(stderr, "petrel call: --path /v1/... is required\n");
        return EXIT_USAGE;
    }
    json_error_t err;
    json_t *req = json_loads(o.body, 0, &err);
    if (!json_is_object(req)) {
        fprintf(stderr, "petrel call: --body is not a JSON object: %s\n",
                req ? "not an object" : err.text);
        json_decref(req);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    json_t *data;
    if (rest_call("call", &o, o.path, req, &data) != 0)
        return EXIT_USAGE;
    print_row(data ? data : json_null());
    fflush(stdout);
    json_decref(data);
    return 0;
}

/* "a,b,c" -> ["a","b","c"] (empty items skipped). */
static json_t *group_ids(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv;
    while (a && p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        p = e ? e + 1 : NULL;
    }
    return a;
}

static int group_history(struct cli *o)
{
    int64_t last = 0;
    for (;;) {
        json_t *data;
        json_t *req = json_pack("{s:s, s:I, s:I}", "groupId", o->group, "lastSequence",
                                (json_int_t)last, "maxLimit", (json_int_t)100);
        if (rest_call("group", o, "/v1/group/message/syncGroupMessage", req, &data) != 0)
            return EXIT_USAGE;
        json_t *list = json_object_get(data, "dataList");
        size_t i;
        json_t *row;
        json_array_foreach(list, i, row) {
            print_row(row);
            last = row_seq(row);
        }
        fflush(stdout);
        int done = json_is_true(json_object_get(data, "completed")) || !json_array_size(list);
        json_decref(data);
        if (done)
            return 0;
    }
}

static int cmd_group(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fputs(USAGE_GROUP, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : EXIT_USAGE;
    }
    const char *action = argv[1];
    struct cli o;
    int r = parse_opts("group", GROUP_OPTS, USAGE_GROUP, argc - 1, argv + 1, &o);
    if (r != 0)
        return r > 0 ? 0 : EXIT_USAGE;
    static const struct { const char *action, *api; int need_group; } T[] = {
        {"create", "/v1/group/createGroup", 0},
        {"info", "/v1/group/getGroupInfo", 1},
        {"joined", "/v1/group/getJoinedGroup", 0},
        {"update", "/v1/group/update", 1},
        {"destroy", "/v1/group/destroyGroup", 1},
        {"transfer", "/v1/group/transferGroup", 1},
        {"mute", "/v1/group/forbidSendMessage", 1},
        {"unmute", "/v1/group/forbidSendMessage", 1},
        {"add", "/v1/group/member/add", 1},
        {"remove", "/v1/group/member/remove", 1},
        {"exit", "/v1/group/member/exitGroup", 1},
        {"speak", "/v1/group/member/speak", 1},
        {"apply", "/v1/group/applyJoinGroup", 1},
        {"requests", "/v1/group/getJoinRequest", 1},
        {"history", NULL, 1},
    };
    size_t k = 0;
    while (k < sizeof T / sizeof T[0] && strcmp(T[k].action, action))
        k++;
    if (k == sizeof T / sizeof T[0]) {
        fprintf(stderr, "petrel group: unknown action '%s'\n\n", action);
        fputs(USAGE_GROUP, stderr);
        return EXIT_USAGE;
    }
    if (T[k].need_group && !(o.group && *o.group)) {
        fprintf(stderr, "petrel group %s: --group is required\n", action);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!T[k].api)
        return group_history(&o);
    json_t *req = json_object();
    if (o.group)
        json_object_set_new(req, "groupId", json_string(o.group));
    if (!strcmp(action, "create")) {
        json_object_set_new(req, "groupType", json_integer(2));
        if (o.members)
            json_object_set_new(req, "member", group_ids(o.members));
    } else if (!strcmp(action, "add")) {
        json_object_set_new(req, "members", group_ids(o.members));
    } else if (!strcmp(action, "mute") || !strcmp(action, "unmute")) {
        json_object_set_new(req, "mute", json_integer(!strcmp(action, "mute")));
    } else if (!strcmp(action, "transfer") && o.owner) {
        json_object_set_new(req, "ownerId", json_string(o.owner));
    }
    if (o.member)
        json_object_set_new(req, "memberId", json_string(o.member));
    if (o.has_body) {
        json_error_t jerr;
        json_t *extra = json_loads(o.body, 0, &jerr);
        if (!json_is_object(extra)) {
            fprintf(stderr, "petrel group: --body must be a JSON object\n");
            json_decref(extra);
            json_decref(req);
            return EXIT_USAGE;
        }
        json_object_update(req, extra);
        json_decref(extra);
    }
    json_t *data;
    if (rest_call("group", &o, T[k].api, req, &data) != 0)
        return EXIT_USAGE;
    print_row(data);
    fflush(stdout);
    json_decref(data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE_MAIN, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        if (topic && !strcmp(topic, "sign"))
            fputs(USAGE_SIGN, stdout);
        else if (topic && !strcmp(topic, "login"))
            fputs(USAGE_LOGIN, stdout);
        else if (topic && !strcmp(topic, "raw"))
            fputs(USAGE_RAW, stdout);
        else if (topic && !strcmp(topic, "send"))
            fputs(USAGE_SEND, stdout);
        else if (topic && !strcmp(topic, "sync"))
            fputs(USAGE_SYNC, stdout);
        else if (topic && !strcmp(topic, "history"))
            fputs(USAGE_HISTORY, stdout);
        else if (topic && !strcmp(topic, "group"))
            fputs(USAGE_GROUP, stdout);
        else if (topic && !strcmp(topic, "friend"))
            fputs(USAGE_FRIEND, stdout);
        else if (topic && !strcmp(topic, "call"))
            fputs(USAGE_CALL, stdout);
        else
            fputs(USAGE_MAIN, stdout);
        return 0;
    }
    if (!strcmp(cmd, "sign"))
        return cmd_sign(argc - 1, argv + 1);
    if (!strcmp(cmd, "login"))
        return cmd_login(argc - 1, argv + 1);
    if (!strcmp(cmd, "raw"))
        return cmd_raw(argc - 1, argv + 1);
    if (!strcmp(cmd, "send"))
        return cmd_send(argc - 1, argv + 1);
    if (!strcmp(cmd, "sync"))
        return cmd_sync(argc - 1, argv + 1);
    if (!strcmp(cmd, "history"))
        return cmd_history(argc - 1, argv + 1);
    if (!strcmp(cmd, "group"))
        return cmd_group(argc - 1, argv + 1);
    if (!strcmp(cmd, "friend"))
        return cmd_friend(argc - 1, argv + 1);
    if (!strcmp(cmd, "call"))
        return cmd_call(argc - 1, argv + 1);
    fprintf(stderr, "petrel: unknown command '%s'\n\n", cmd);
    fputs(USAGE_MAIN, stderr);
    return EXIT_USAGE;
}
