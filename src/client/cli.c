/*
 * petrel: the command-line client (sign / login / raw), built on libpetrel.
 *
 * It owns only process-level concerns: option parsing (getopt_long, with
 * PETREL_* environment defaults), signal handling, and the output format --
 * one JSON object per received packet on stdout, flushed per line, so that
 * scripts and the integration tests can read it line by line.  Everything
 * protocol-related lives in the library.
 *
 * Exit status: 0 normal end (--for/--wait elapsed, SIGINT/SIGTERM), 1 usage
 * or connect errors (message on stderr), 2 the server closed the connection.
 */
#include "petrel/client.h"
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
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE  1
#define EXIT_CLOSED 2
#define SLICE_MS    200   /* petrel_run slice: bounds signal latency */
#define LOGOUT_WAIT_MS 1000

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- usage ---------------------------------------------------------------- */

static const char USAGE_MAIN[] =
    "usage: petrel <command> [options]\n"
    "\n"
    "commands:\n"
    "  sign    print a userSign token\n"
    "  login   connect, log in and print every received packet\n"
    "  raw     connect, (log in,) send one packet and print what comes back\n"
    "  help    this text; `petrel help <command>` or `petrel <command> --help`\n"
    "\n"
    "environment (defaults for the options):\n"
    "  PETREL_URL      --url     (else tcp://127.0.0.1:9000)\n"
    "  PETREL_APP_ID   --app     (else 10000)\n"
    "  PETREL_SECRET   --secret\n"
    "  PETREL_USER     --user\n";

static const char USAGE_SIGN[] =
    "usage: petrel sign --secret S [--app 10000] --user ID [--ttl 86400]\n"
    "\n"
    "Prints a userSign token for ID issued now, valid for --ttl seconds.\n"
    "  --secret S   app secret                 (env PETREL_SECRET)\n"
    "  --app N      appId, default 10000       (env PETREL_APP_ID)\n"
    "  --user ID    identifier                 (env PETREL_USER)\n"
    "  --ttl SEC    lifetime in seconds, default 86400\n";

#define CONN_OPTS_HELP \
    "  --url URL            tcp://host:port or ws://host:port/ws (env PETREL_URL,\n" \
    "                       default tcp://127.0.0.1:9000)\n" \
    "  --app N              appId, default 10000 (env PETREL_APP_ID)\n" \
    "  --user ID            userId (env PETREL_USER)\n" \
    "  --sign TOKEN         userSign token, or\n" \
    "  --secret S           make one from the app secret (env PETREL_SECRET)\n" \
    "  --ttl SEC            lifetime of a token made from --secret, default 86400\n" \
    "  --client-type N      header clientType, default 1 (web)\n" \
    "  --imei S             device id, default cli-<pid>\n" \
    "  --heartbeat-ms MS    PING interval, default 10000, 0 = none\n" \
    "  --connect-timeout-ms MS  connect + WebSocket handshake, default 5000\n"

static const char USAGE_LOGIN[] =
    "usage: petrel login [--url URL] [--app N] --user ID (--sign TOKEN | --secret S)\n"
    "                    [--client-type 1] [--imei cli-<pid>] [--heartbeat-ms 10000]\n"
    "                    [--for SECONDS]\n"
    "\n"
    "Connects, logs in and stays online, printing each received packet as one\n"
    "line {\"command\":N,\"data\":<json>} on stdout.  Exits 0 after --for seconds\n"
    "or on SIGINT/SIGTERM (after sending LOGOUT); prints {\"event\":\"closed\"}\n"
    "and exits 2 when the server closes the connection; exits 1 on errors.\n"
    "\n"
    CONN_OPTS_HELP
    "  --for SEC            stay online SEC seconds (default: until a signal)\n";

static const char USAGE_RAW[] =
    "usage: petrel raw [login options] --cmd N [--body JSON] [--wait SECONDS]\n"
    "                  [--no-login]\n"
    "\n"
    "Connects, logs in (waiting for the LOGINACK) unless --no-login, sends one\n"
    "packet with command N and body JSON (sent byte for byte, default {}), then\n"
    "prints received packets like `login` for --wait seconds (default 2) and\n"
    "exits 0 (2 if the server closed the connection, 1 on errors).\n"
    "\n"
    CONN_OPTS_HELP
    "  --cmd N              command number\n"
    "  --body JSON          packet body, default {}\n"
    "  --wait SEC           how long to print replies, default 2\n"
    "  --no-login           send the packet without logging in first\n";

/* ---- options ------------------------------------------------------------ */

struct cli {
    const char *url;
    int32_t app;
    const char *user;
    const char *sign;
    const char *secret;
    int64_t ttl;
    int32_t client_type;
    const char *imei;
    int heartbeat_ms;
    int connect_timeout_ms;
    double for_s;       /* < 0: forever */
    int32_t cmd;
    int has_cmd;
    const char *body;
    double wait_s;
    int no_login;
};

enum {
    OPT_URL = 256, OPT_APP, OPT_USER, OPT_SIGN, OPT_SECRET, OPT_TTL, OPT_CT, OPT_IMEI,
    OPT_HB, OPT_CTO, OPT_FOR, OPT_CMD, OPT_BODY, OPT_WAIT, OPT_NOLOGIN, OPT_HELP,
};

static const struct option SIGN_OPTS[] = {
    { "secret", required_argument, NULL, OPT_SECRET },
    { "app", required_argument, NULL, OPT_APP },
    { "user", required_argument, NULL, OPT_USER },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

#define CONN_OPTS \
    { "url", required_argument, NULL, OPT_URL }, \
    { "app", required_argument, NULL, OPT_APP }, \
    { "user", required_argument, NULL, OPT_USER }, \
    { "sign", required_argument, NULL, OPT_SIGN }, \
    { "secret", required_argument, NULL, OPT_SECRET }, \
    { "ttl", required_argument, NULL, OPT_TTL }, \
    { "client-type", required_argument, NULL, OPT_CT }, \
    { "imei", required_argument, NULL, OPT_IMEI }, \
    { "heartbeat-ms", required_argument, NULL, OPT_HB }, \
    { "connect-timeout-ms", required_argument, NULL, OPT_CTO }, \
    { "help", no_argument, NULL, OPT_HELP }

static const struct option LOGIN_OPTS[] = {
    CONN_OPTS,
    { "for", required_argument, NULL, OPT_FOR },
    { NULL, 0, NULL, 0 },
};

static const struct option RAW_OPTS[] = {
    CONN_OPTS,
    { "cmd", required_argument, NULL, OPT_CMD },
    { "body", required_argument, NULL, OPT_BODY },
    { "wait", required_argument, NULL, OPT_WAIT },
    { "no-login", no_argument, NULL, OPT_NOLOGIN },
    { NULL, 0, NULL, 0 },
};

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

static int bad_value(const char *cmd, const char *opt, const char *val)
{
    fprintf(stderr, "petrel %s: invalid value for --%s: '%s'\n", cmd, opt, val ? val : "");
    return -1;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* Fills cli from the environment then argv.  Returns 0, 1 for --help
 * (usage printed), -1 on a usage error (message printed). */
static int parse_opts(const char *cmd, const struct option *opts, const char *usage,
                      int argc, char **argv, struct cli *o)
{
    int64_t v;
    memset(o, 0, sizeof *o);
    o->url = env_or("PETREL_URL", "tcp://127.0.0.1:9000");
    o->app = 10000;
    const char *app = env_or("PETREL_APP_ID", NULL);
    if (app) {
        if (parse_i64(app, 0, INT32_MAX, &v) < 0)
            return bad_value(cmd, "app (PETREL_APP_ID)", app);
        o->app = (int32_t)v;
    }
    o->user = env_or("PETREL_USER", NULL);
    o->secret = env_or("PETREL_SECRET", NULL);
    o->ttl = 86400;
    o->client_type = PETREL_CT_WEB;
    o->heartbeat_ms = 10000;
    o->connect_timeout_ms = 5000;
    o->for_s = -1;
    o->body = "{}";
    o->wait_s = 2;

    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case 'h':
        case OPT_HELP:
            fputs(usage, stdout);
            return 1;
        case OPT_URL: o->url = a; break;
        case OPT_USER: o->user = a; break;
        case OPT_SIGN: o->sign = a; break;
        case OPT_SECRET: o->secret = a; break;
        case OPT_IMEI: o->imei = a; break;
        case OPT_BODY: o->body = a; break;
        case OPT_NOLOGIN: o->no_login = 1; break;
        case OPT_APP:
            if (parse_i64(a, 0, INT32_MAX, &v) < 0)
                return bad_value(cmd, "app", a);
            o->app = (int32_t)v;
            break;
        case OPT_TTL:
            if (parse_i64(a, 1, INT32_MAX, &v) < 0)
                return bad_value(cmd, "ttl", a);
            o->ttl = v;
            break;
        case OPT_CT:
            if (parse_i64(a, INT32_MIN, INT32_MAX, &v) < 0)
                return bad_value(cmd, "client-type", a);
            o->client_type = (int32_t)v;
            break;
        case OPT_HB:
            if (parse_i64(a, 0, INT32_MAX, &v) < 0)
                return bad_value(cmd, "heartbeat-ms", a);
            o->heartbeat_ms = v == 0 ? -1 : (int)v;
            break;
        case OPT_CTO:
            if (parse_i64(a, 1, INT32_MAX, &v) < 0)
                return bad_value(cmd, "connect-timeout-ms", a);
            o->connect_timeout_ms = (int)v;
            break;
        case OPT_FOR:
            if (parse_seconds(a, &o->for_s) < 0)
                return bad_value(cmd, "for", a);
            break;
        case OPT_WAIT:
            if (parse_seconds(a, &o->wait_s) < 0)
                return bad_value(cmd, "wait", a);
            break;
        case OPT_CMD:
            if (parse_i64(a, INT32_MIN, INT32_MAX, &v) < 0)
                return bad_value(cmd, "cmd", a);
            o->cmd = (int32_t)v;
            o->has_cmd = 1;
            break;
        case ':':
            fprintf(stderr, "petrel %s: option '%s' needs a value\n", cmd, argv[optind - 1]);
            fprintf(stderr, "try `petrel %s --help`\n", cmd);
            return -1;
        default:
            fprintf(stderr, "petrel %s: unknown option '%s'\n", cmd, argv[optind - 1]);
            fprintf(stderr, "try `petrel %s --help`\n", cmd);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "petrel %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return -1;
    }
    if (!o->user || !*o->user) {
        fprintf(stderr, "petrel %s: --user is required (or set PETREL_USER)\n", cmd);
        return -1;
    }
    return 0;
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

static void on_packet(petrel_client_t *c, int32_t command, const char *json, size_t len,
                      void *ud)
{
    (void)c;
    int *saw_ack = ud;
    if (command == PETREL_CMD_LOGINACK || command == PETREL_CMD_ERROR)
        *saw_ack = 1;
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

static petrel_client_t *open_client(const char *cmd, const struct cli *o, int *saw_ack)
{
    char tok[PETREL_SIGN_MAX_TOKEN + 1];
    const char *sign = o->sign;
    if (!sign && !o->no_login) {
        if (!o->secret || !*o->secret) {
            fprintf(stderr, "petrel %s: need --sign TOKEN or --secret S (or PETREL_SECRET)\n", cmd);
            return NULL;
        }
        if (petrel_sign_make(o->secret, o->app, o->user, o->ttl, (int64_t)time(NULL), tok,
                             sizeof tok) < 0) {
            fprintf(stderr, "petrel %s: cannot make a token for user '%s'\n", cmd, o->user);
            return NULL;
        }
        sign = tok;
    }
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
        .userdata = saw_ack,
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
    int saw_ack = 0;
    petrel_client_t *c = open_client("login", &o, &saw_ack);
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
    int saw_ack = 0;
    petrel_client_t *c = open_client("raw", &o, &saw_ack);
    if (!c)
        return EXIT_USAGE;
    int logged_in = !o.no_login;
    if (logged_in) {
        r = petrel_login(c);
        if (r == 0) /* let the login complete before the packet goes out */
            r = run_until(c, mono_ms() + o.connect_timeout_ms, &saw_ack);
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
    fprintf(stderr, "petrel: unknown command '%s'\n\n", cmd);
    fputs(USAGE_MAIN, stderr);
    return EXIT_USAGE;
}
