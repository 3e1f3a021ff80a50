/*
 * petrel CLI options (cli.h): usage texts, getopt_long tables, and
 * parse_opts, which fills struct cli from PETREL_* environment defaults
 * then argv.
 */
#include "cli.h"

#include "petrel/proto.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- usage ---------------------------------------------------------------- */

const char USAGE_MAIN[] =
    "usage: petrel <command> [options]\n"
    "\n"
    "commands:\n"
    "  sign    print a userSign token\n"
    "  login   connect, log in and print every received packet\n"
    "  raw     connect, (log in,) send one packet and print what comes back\n"
    "  send    log in, send one-to-one message(s) and print the acks\n"
    "  sync    print the user's messages (REST syncOfflineMessage, all pages)\n"
    "  history print a one-to-one conversation (REST queryP2pMessageHistory)\n"
    "  group   manage groups and read a group's history (REST /v1/group/...)\n"
    "  friend  friends, friend requests, blacklist and online status (REST)\n"
    "  call    call any REST endpoint, signed, and print its data\n"
    "  help    this text; `petrel help <command>` or `petrel <command> --help`\n"
    "\n"
    "environment (defaults for the options):\n"
    "  PETREL_URL      --url     (else tcp://127.0.0.1:9000)\n"
    "  PETREL_HTTP     --http    (else http://127.0.0.1:8080)\n"
    "  PETREL_APP_ID   --app     (else 10000)\n"
    "  PETREL_SECRET   --secret\n"
    "  PETREL_USER     --user\n";

const char USAGE_SIGN[] =
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

const char USAGE_LOGIN[] =
    "usage: petrel login [--url URL] [--app N] --user ID (--sign TOKEN | --secret S)\n"
    "                    [--client-type 1] [--imei cli-<pid>] [--heartbeat-ms 10000]\n"
    "                    [--for SECONDS] [--receipts]\n"
    "\n"
    "Connects, logs in and stays online, printing each received packet as one\n"
    "line {\"command\":N,\"data\":<json>} on stdout.  Exits 0 after --for seconds\n"
    "or on SIGINT/SIGTERM (after sending LOGOUT); prints {\"event\":\"closed\"}\n"
    "and exits 2 when the server closes the connection; exits 1 on errors.\n"
    "\n"
    CONN_OPTS_HELP
    "  --for SEC            stay online SEC seconds (default: until a signal)\n"
    "  --receipts           answer every received message (1103) with a delivery\n"
    "                       receipt (1107) and a read receipt (1106), as a chat\n"
    "                       window that shows it would\n";

const char USAGE_RAW[] =
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

const char USAGE_SEND[] =
    "usage: petrel send [login options] --to ID (--text TEXT | --body JSON)\n"
    "                   [--message-id ID] [--repeat N] [--wait 2] [--ack-timeout 10]\n"
    "\n"
    "Connects, logs in (waiting for the LOGINACK) and sends MSG_P2P 1103\n"
    "{messageId, fromId, toId, messageBody, messageTime, messageRandom} to ID.\n"
    "Prints every received packet like `login` (the MSG_ACK 1046, a 1107\n"
    "delivery ack, ...).  Exits once every message is acked and --wait seconds\n"
    "passed since the last send: 0 if every ack has code 200, 3 if one does\n"
    "not (or an ERROR refused a message), 4 if acks are still missing after\n"
    "--ack-timeout seconds, 2 if the server closed the connection, 1 on usage\n"
    "or connect errors.\n"
    "\n"
    CONN_OPTS_HELP
    "  --to ID              receiver's userId, or\n"
    "  --group ID           send MSG_GROUP 2104 to group ID (acked by 2047)\n"
    "  --text TEXT          message text, sent as {\"type\":1,\"content\":TEXT}\n"
    "  --body JSON          messageBody as given (a JSON object, sent as its text)\n"
    "  --message-id ID      default cli-<pid>-<ms>-<random>; resending the same id\n"
    "                       gets the original ack (the server never stores it twice)\n"
    "  --repeat N           send N messages with ids ID-1 .. ID-N, wait for N acks\n"
    "  --wait SEC           keep printing packets SEC seconds after the send,\n"
    "                       default 2 (0: exit as soon as the acks are in)\n"
    "  --ack-timeout SEC    give up on missing acks after SEC seconds, default 10\n";

#define HTTP_OPTS_HELP \
    "  --http URL           REST base url http://host:port (env PETREL_HTTP,\n" \
    "                       default http://127.0.0.1:8080)\n" \
    "  --app N              appId, default 10000 (env PETREL_APP_ID)\n" \
    "  --user ID            the operator's identifier (env PETREL_USER)\n" \
    "  --sign TOKEN         userSign token, or\n" \
    "  --secret S           make one from the app secret (env PETREL_SECRET)\n" \
    "  --ttl SEC            lifetime of a token made from --secret, default 86400\n" \
    "  --timeout-ms MS      per request (connect, send, answer), default 10000\n"

const char USAGE_SYNC[] =
    "usage: petrel sync [--http URL] [--app N] --user ID (--sign TOKEN | --secret S)\n"
    "                   [--since KEY] [--limit 100]\n"
    "\n"
    "Calls POST /v1/message/syncOfflineMessage page after page (each page from\n"
    "the previous answer's lastSequence) until it is completed, and prints\n"
    "every message row as one JSON line on stdout, in sync order (messageKey\n"
    "order; a message recalled after it was stored comes at the recall's place,\n"
    "with delFlag 1).\n"
    "Exits 0, or 1 with the error envelope (or the failure) on stderr.\n"
    "\n"
    HTTP_OPTS_HELP
    "  --since KEY          start strictly after this messageKey, default 0 (all)\n"
    "  --limit N            rows per page (maxLimit), default 100\n";

const char USAGE_GROUP[] =
    "usage: petrel group ACTION [--http URL] [--app N] --user ID (--sign T | --secret S)\n"
    "                    [--group ID] [--members a,b] [--owner ID] [--member ID]\n"
    "                    [--body JSON]\n"
    "\n"
    "Group management over REST (docs/API.md \"Groups\"), as --user.  Prints the\n"
    "answer's data as one JSON line (history: one line per message, oldest\n"
    "first).  ACTION and its REST call:\n"
    "  create [--group ID] [--members a,b]   group/createGroup (groupType 2 unless\n"
    "                                        --body says otherwise)\n"
    "  info | destroy | exit | joined        getGroupInfo, destroyGroup,\n"
    "                                        member/exitGroup, getJoinedGroup\n"
    "  mute | unmute                         forbidSendMessage {mute 1 / 0}\n"
    "  transfer --owner ID                   transferGroup\n"
    "  add --members a,b | remove --member ID   member/add, member/remove\n"
    "  speak --member ID --body '{\"speakDate\":MS}'   member/speak\n"
    "  update --body JSON                    group/update\n"
    "  apply | requests                      applyJoinGroup, getJoinRequest\n"
    "  history                               group/message/syncGroupMessage, all pages\n"
    "--body JSON is merged into the request (its fields win).  Exits 0, or 1\n"
    "with the error envelope on stderr.\n"
    "\n"
    HTTP_OPTS_HELP
    "  --group ID           the group (groupId)\n";

const char USAGE_HISTORY[] =
    "usage: petrel history [--http URL] [--app N] --user ID (--sign TOKEN | --secret S)\n"
    "                      --with ID [--before SEQ] [--limit 20]\n"
    "\n"
    "Calls POST /v1/message/queryP2pMessageHistory {toId, messageSequence,\n"
    "isGt:false, limit} and prints the page's message rows oldest first, one\n"
    "JSON line each.  Exits 0, or 1 with the error envelope on stderr.\n"
    "\n"
    HTTP_OPTS_HELP
    "  --with ID            the other user of the conversation\n"
    "  --before SEQ         messages before this messageSequence, default 0 = the\n"
    "                       latest\n"
    "  --limit N            at most N messages, default 20\n";

const char USAGE_FRIEND[] =
    "usage: petrel friend <action> [--http URL] [--app N] --user ID\n"
    "                     (--sign TOKEN | --secret S) [action options]\n"
    "\n"
    "actions (each one signed REST call as --user; see docs/API.md):\n"
    "  add --to ID [--remark R] [--wording W]\n"
    "                 addFriend: friends at once, or a request when ID's\n"
    "                 friendAllowType needs approval (data has requestId)\n"
    "  requests       getFriendRequest: the requests addressed to you\n"
    "  approve --id N, reject --id N\n"
    "                 approveFriendRequest (status 1 agree, 2 reject)\n"
    "  list           getAllFriendShip: your friendship rows\n"
    "  delete --to ID deleteFriend\n"
    "  black --to ID, unblack --to ID\n"
    "                 addBlack / deleteBlack\n"
    "  status [--to ID[,ID...]]\n"
    "                 queryFriendOnlineStatus, or queryUserOnlineStatus of\n"
    "                 the given users\n"
    "\n"
    "Prints the answer's data as one JSON line (requests and list: one row\n"
    "per line).  Exits 0, or 1 with the error envelope on stderr.\n"
    "\n"
    HTTP_OPTS_HELP
    "  --to ID              the other user\n"
    "  --id N               a friend request's id\n"
    "  --remark R           your remark for the new friend\n"
    "  --wording W          the request's wording (addWording)\n";

const char USAGE_CALL[] =
    "usage: petrel call [--http URL] [--app N] --user ID (--sign TOKEN | --secret S)\n"
    "                   --path /v1/... [--body JSON]\n"
    "\n"
    "POSTs --body (default {}) to --path, signed as --user, and prints the\n"
    "answer's data as one JSON line.  Exits 0, or 1 with the error envelope\n"
    "on stderr.\n"
    "\n"
    HTTP_OPTS_HELP
    "  --path PATH          the endpoint, e.g. /v1/user/data/getUserInfo\n"
    "  --body JSON          the request body, a JSON object, default {}\n";

/* ---- options ------------------------------------------------------------ */


enum {
    OPT_URL = 256, OPT_APP, OPT_USER, OPT_SIGN, OPT_SECRET, OPT_TTL, OPT_CT, OPT_IMEI,
    OPT_RECEIPTS, OPT_HB, OPT_CTO, OPT_FOR, OPT_CMD, OPT_BODY, OPT_WAIT, OPT_NOLOGIN, OPT_HELP,
    OPT_TO, OPT_TEXT, OPT_MSGID, OPT_REPEAT, OPT_ACKTO, OPT_HTTP, OPT_HTO, OPT_SINCE,
    OPT_LIMIT, OPT_WITH, OPT_BEFORE, OPT_PATH, OPT_ID, OPT_REMARK, OPT_WORDING,
    OPT_GROUP, OPT_MEMBERS, OPT_OWNER, OPT_MEMBER,
};

const struct option SIGN_OPTS[] = {
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

const struct option LOGIN_OPTS[] = {
    CONN_OPTS,
    { "for", required_argument, NULL, OPT_FOR },
    { "receipts", no_argument, NULL, OPT_RECEIPTS },
    { NULL, 0, NULL, 0 },
};

const struct option RAW_OPTS[] = {
    CONN_OPTS,
    { "cmd", required_argument, NULL, OPT_CMD },
    { "body", required_argument, NULL, OPT_BODY },
    { "wait", required_argument, NULL, OPT_WAIT },
    { "no-login", no_argument, NULL, OPT_NOLOGIN },
    { NULL, 0, NULL, 0 },
};

const struct option SEND_OPTS[] = {
    CONN_OPTS,
    { "to", required_argument, NULL, OPT_TO },
    { "group", required_argument, NULL, OPT_GROUP },
    { "text", required_argument, NULL, OPT_TEXT },
    { "body", required_argument, NULL, OPT_BODY },
    { "message-id", required_argument, NULL, OPT_MSGID },
    { "repeat", required_argument, NULL, OPT_REPEAT },
    { "wait", required_argument, NULL, OPT_WAIT },
    { "ack-timeout", required_argument, NULL, OPT_ACKTO },
    { NULL, 0, NULL, 0 },
};

#define HTTP_OPTS \
    { "http", required_argument, NULL, OPT_HTTP }, \
    { "app", required_argument, NULL, OPT_APP }, \
    { "user", required_argument, NULL, OPT_USER }, \
    { "sign", required_argument, NULL, OPT_SIGN }, \
    { "secret", required_argument, NULL, OPT_SECRET }, \
    { "ttl", required_argument, NULL, OPT_TTL }, \
    { "timeout-ms", required_argument, NULL, OPT_HTO }, \
    { "limit", required_argument, NULL, OPT_LIMIT }, \
    { "help", no_argument, NULL, OPT_HELP }

const struct option SYNC_OPTS[] = {
    HTTP_OPTS,
    { "since", required_argument, NULL, OPT_SINCE },
    { NULL, 0, NULL, 0 },
};

const struct option GROUP_OPTS[] = {
    HTTP_OPTS,
    { "group", required_argument, NULL, OPT_GROUP },
    { "members", required_argument, NULL, OPT_MEMBERS },
    { "owner", required_argument, NULL, OPT_OWNER },
    { "member", required_argument, NULL, OPT_MEMBER },
    { "body", required_argument, NULL, OPT_BODY },
    { NULL, 0, NULL, 0 },
};

const struct option HISTORY_OPTS[] = {
    HTTP_OPTS,
    { "with", required_argument, NULL, OPT_WITH },
    { "before", required_argument, NULL, OPT_BEFORE },
    { NULL, 0, NULL, 0 },
};

const struct option FRIEND_OPTS[] = {
    HTTP_OPTS,
    { "to", required_argument, NULL, OPT_TO },
    { "id", required_argument, NULL, OPT_ID },
    { "remark", required_argument, NULL, OPT_REMARK },
    { "wording", required_argument, NULL, OPT_WORDING },
    { NULL, 0, NULL, 0 },
};

const struct option CALL_OPTS[] = {
    HTTP_OPTS,
    { "path", required_argument, NULL, OPT_PATH },
    { "body", required_argument, NULL, OPT_BODY },
    { NULL, 0, NULL, 0 },
};

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
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
int parse_opts(const char *cmd, const struct option *opts, const char *usage,
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
    o->ack_timeout_s = 10;
    o->http = env_or("PETREL_HTTP", "http://127.0.0.1:8080");
    o->http_timeout_ms = 10000;

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
        case OPT_BODY: o->body = a; o->has_body = 1; break;
        case OPT_TO: o->to = a; break;
        case OPT_TEXT: o->text = a; break;
        case OPT_MSGID: o->message_id = a; break;
        case OPT_HTTP: o->http = a; break;
        case OPT_WITH: o->with = a; break;
        case OPT_GROUP: o->group = a; break;
        case OPT_MEMBERS: o->members = a; break;
        case OPT_OWNER: o->owner = a; break;
        case OPT_MEMBER: o->member = a; break;
        case OPT_PATH: o->path = a; break;
        case OPT_REMARK: o->remark = a; break;
        case OPT_WORDING: o->wording = a; break;
        case OPT_ID:
            if (parse_i64(a, 1, INT64_MAX, &o->id) < 0)
                return bad_value(cmd, "id", a);
            o->has_id = 1;
            break;
        case OPT_REPEAT:
            if (parse_i64(a, 1, MAX_REPEAT, &o->repeat) < 0)
                return bad_value(cmd, "repeat", a);
            o->has_repeat = 1;
            break;
        case OPT_ACKTO:
            if (parse_seconds(a, &o->ack_timeout_s) < 0)
                return bad_value(cmd, "ack-timeout", a);
            break;
        case OPT_HTO:
            if (parse_i64(a, 1, INT32_MAX, &v) < 0)
                return bad_value(cmd, "timeout-ms", a);
            o->http_timeout_ms = (int)v;
            break;
        case OPT_SINCE:
            if (parse_i64(a, 0, INT64_MAX, &o->since) < 0)
                return bad_value(cmd, "since", a);
            break;
        case OPT_BEFORE:
            if (parse_i64(a, 0, INT64_MAX, &o->before) < 0)
                return bad_value(cmd, "before", a);
            break;
        case OPT_LIMIT:
            if (parse_i64(a, 1, INT32_MAX, &o->limit) < 0)
                return bad_value(cmd, "limit", a);
            break;
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
        case OPT_RECEIPTS:
            o->receipts = 1;
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
