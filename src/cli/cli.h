/*
 * petrel CLI internals shared by its files: the parsed options (struct cli),
 * the usage texts and option tables (options.c), and option parsing.
 */
#ifndef PETREL_CLI_H
#define PETREL_CLI_H

#include <getopt.h>
#include <stdint.h>

#define MAX_REPEAT 1000000  /* send --repeat at most */

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
    int receipts;       /* login: answer each 1103 with 1107 and 1106 */
    int32_t cmd;
    int has_cmd;
    const char *body;
    int has_body;
    double wait_s;
    int no_login;
    /* send */
    const char *to;
    const char *text;
    const char *message_id;
    int64_t repeat;
    int has_repeat;
    double ack_timeout_s;
    /* sync / history */
    const char *http;
    int http_timeout_ms;
    int64_t since;
    int64_t limit;      /* 0: the command's default */
    const char *with;
    int64_t before;
    /* friend / call */
    const char *path;
    int64_t id;
    int has_id;
    const char *remark;
    const char *wording;
    /* group */
    const char *group;
    const char *members;
    const char *owner;
    const char *member;
};

extern const char USAGE_MAIN[];
extern const char USAGE_SIGN[];
extern const char USAGE_LOGIN[];
extern const char USAGE_RAW[];
extern const char USAGE_SEND[];
extern const char USAGE_SYNC[];
extern const char USAGE_GROUP[];
extern const char USAGE_HISTORY[];
extern const char USAGE_FRIEND[];
extern const char USAGE_CALL[];
extern const struct option SIGN_OPTS[];
extern const struct option LOGIN_OPTS[];
extern const struct option RAW_OPTS[];
extern const struct option SEND_OPTS[];
extern const struct option SYNC_OPTS[];
extern const struct option GROUP_OPTS[];
extern const struct option HISTORY_OPTS[];
extern const struct option FRIEND_OPTS[];
extern const struct option CALL_OPTS[];

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int parse_opts(const char *cmd, const struct option *opts, const char *usage,
                      int argc, char **argv, struct cli *o);

#endif
