/*
 * Writes the seed corpora of the fuzz targets into <dir>/<target>/ (make
 * fuzz-corpus: fuzz/corpus/), built with the project's own encoders
 * (petrel_encode_up, petrel_encode_down_hdr, petrel_sign_make) so that the
 * seeds are what real clients send: valid frames and tokens, HTTP requests
 * for every REST route, WebSocket frames, command bodies.  Deterministic:
 * tokens are signed at a fixed time, so running it again rewrites the same
 * files.  Regression inputs for fixed bugs are kept as separate files
 * (fuzz/corpus/<target>/regress-*) and never rewritten here.
 */
#include "fuzz/harness.h"
#include "petrel/proto.h"
#include "petrel/sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define T0 1767225600LL /* FZ_SIGN_NOW in fuzz_sign.c */

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void put_str(const char *target, const char *name, const char *s)
{
    put(target, name, s, strlen(s));
}

/* ---- uplink frames --------------------------------------------------- */

typedef struct buf {
    uint8_t d[1 << 17];
    size_t n;
} buf_t;

static void add(buf_t *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->d)
        abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_str_into(buf_t *b, const char *s)
{
    add(b, s, strlen(s));
}

static void up(buf_t *b, int32_t cmd, int32_t app, const char *imei, const char *body)
{
    petrel_up_hdr_t h = {.command = cmd, .version = 1, .client_type = PETREL_CT_ANDROID,
                         .app_id = app};
    size_t il = strlen(imei), bl = strlen(body);
    b->n += petrel_encode_up(b->d + b->n, sizeof b->d - b->n, &h, imei, il, body, bl);
}

static void raw_hdr(buf_t *b, int32_t cmd, int32_t ct, int32_t mt, int32_t app, int32_t il,
                    int32_t bl)
{
    uint8_t h[PETREL_UP_HDR_LEN];
    int32_t f[7] = {cmd, 1, ct, mt, app, il, bl};
    for (int i = 0; i < 7; i++)
        petrel_put_be32(h + 4 * i, (uint32_t)f[i]);
    add(b, h, sizeof h);
}

static void down(buf_t *b, int32_t cmd, const char *json)
{
    uint8_t h[PETREL_DOWN_HDR_LEN];
    petrel_encode_down_hdr(h, cmd, (uint32_t)strlen(json));
    add(b, h, sizeof h);
    add(b, json, strlen(json));
}

static char tok[PETREL_SIGN_MAX_TOKEN + 1];

static const char *sign_at(const char *secret, int32_t app, const char *id, int64_t ttl,
                           int64_t at)
{
    if (petrel_sign_make(secret, app, id, ttl, at, tok, sizeof tok) < 0)
        abort();
    return tok;
}

static const char *login_body(const char *user)
{
    static char b[2048];
    snprintf(b, sizeof b, "{\"userId\":\"%s\",\"userSign\":\"%s\"}", user,
             sign_at(FZ_SECRET, FZ_APP, user, 10 * 365 * 86400LL, T0));
    return b;
}

#define P2P "{\"messageId\":\"m-1\",\"fromId\":\"fz1\",\"toId\":\"fz2\",\"messageBody\":" \
            "\"{\\\"type\\\":1,\\\"content\\\":\\\"hello\\\"}\",\"messageTime\":1767225600000," \
            "\"messageRandom\":42,\"extra\":null}"
#define GMSG "{\"groupId\":\"fzg\",\"messageId\":\"g-1\",\"messageBody\":{\"type\":1," \
             "\"content\":\"hi\"},\"messageTime\":1767225600000,\"messageRandom\":7}"

static void gen_codec(void)
{
    buf_t b;
#define ONE(name, stmt) do { b.n = 0; stmt; put("codec", name, b.d, b.n); } while (0)
    ONE("ping", up(&b, PETREL_CMD_PING, FZ_APP, "fz-dev", "{}"));
    ONE("login", up(&b, PETREL_CMD_LOGIN, FZ_APP, "fz-dev", login_body("fz1")));
    ONE("p2p", up(&b, PETREL_CMD_MSG_P2P, FZ_APP, "fz-dev", P2P));
    ONE("coalesced", (up(&b, PETREL_CMD_PING, 0, "", ""), up(&b, PETREL_CMD_MSG_P2P, FZ_APP,
                                                                "d", P2P),
                      up(&b, PETREL_CMD_MSG_GROUP, FZ_APP, "d", GMSG)));
    ONE("nul-padded", (raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, 4, 8),
                       add(&b, "ab\0\0{}\0\0\0\0\0\0", 12)));
    ONE("unicode", up(&b, PETREL_CMD_MSG_P2P, FZ_APP, "\xe6\x89\x8b\xe6\x9c\xba",
                      "{\"toId\":\"fz2\",\"messageBody\":\"\xf0\x9f\x90\xa6 \xe4\xbd\xa0\xe5\xa5\xbd\"}"));
    ONE("imei-long", raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, 129, 2));
    ONE("body-large", raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, 0, 65537));
    ONE("negative-len", raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, 0, -1));
    ONE("msg-type", (raw_hdr(&b, PETREL_CMD_PING, 3, 1, FZ_APP, 0, 2), add(&b, "{}", 2)));
    ONE("bad-utf8", (raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, 0, 4),
                     add(&b, "\"\xed\xa0\x80", 4)));
    ONE("overlong", (raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, 2, 2),
                     add(&b, "\xc0\xaf{}", 4)));
    ONE("header-only", raw_hdr(&b, PETREL_CMD_MSG_P2P, 3, 0, FZ_APP, 6, 200));
    ONE("short", add(&b, "\0\0#", 3));
    ONE("downlink", (down(&b, PETREL_CMD_LOGINACK, "{\"userId\":\"fz1\",\"appId\":10000}"),
                     down(&b, PETREL_CMD_ERROR, "{\"code\":61006,\"msg\":\"LOGIN first\"}")));
    ONE("limits-small", (add(&b, "\x04\x01", 2), up(&b, PETREL_CMD_PING, 1, "abcd", "{}"),
                         up(&b, PETREL_CMD_PING, 1, "abcde", "{}")));
#undef ONE
}

static void gen_sign(void)
{
    const int64_t y = 365 * 86400LL;
    put_str("sign", "fz1", sign_at(FZ_SECRET, FZ_APP, "fz1", 10 * y, T0));
    put_str("sign", "admin", sign_at(FZ_SECRET, FZ_APP, "admin", 86400, T0 - 3600));
    char id[PETREL_SIGN_MAX_IDENT + 1];
    memset(id, 'x', PETREL_SIGN_MAX_IDENT);
    id[PETREL_SIGN_MAX_IDENT] = '\0';
    put_str("sign", "ident-128", sign_at(FZ_SECRET, FZ_APP, id, y, T0));
    put_str("sign", "ident-unicode",
            sign_at(FZ_SECRET, FZ_APP, "\xe7\x94\xa8\xe6\x88\xb7 \"q\" a=b", y, T0));
    put_str("sign", "expired", sign_at(FZ_SECRET, FZ_APP, "fz1", 10, T0 - 1000));
    put_str("sign", "future", sign_at(FZ_SECRET, FZ_APP, "fz1", y, T0 + 30 * y));
    put_str("sign", "huge-ttl", sign_at(FZ_SECRET, FZ_APP, "fz1", INT64_MAX / 2, T0));
    put_str("sign", "other-app", sign_at(FZ_SECRET, FZ_APP + 1, "fz1", y, T0));
    put_str("sign", "other-secret", sign_at("not the secret", FZ_APP, "fz1", y, T0));
    char t[PETREL_SIGN_MAX_TOKEN + 1];
    snprintf(t, sizeof t, "%s", sign_at(FZ_SECRET, FZ_APP, "fz1", y, T0));
    t[strlen(t) / 2] = '\0';
    put_str("sign", "truncated", t);
    put_str("sign", "garbage", "eJyrVgrxCdZLrSjILEpVsjI*-_");
    put_str("sign", "empty", "");
}

/* ---- gateway stream: flags, chunk, frames ------------------------------ */

static void gen_gateway(void)
{
    buf_t b;
#define GW(name, flags, chunk, stmt)                                                      \
    do {                                                                                  \
        b.n = 0;                                                                          \
        uint8_t fc[2] = {flags, chunk};                                                   \
        add(&b, fc, 2);                                                                   \
        stmt;                                                                             \
        put("gateway", name, b.d, b.n);                                                   \
    } while (0)
    GW("ping-no-login", 0, 0, up(&b, PETREL_CMD_PING, FZ_APP, "fz-dev", "{}"));
    GW("cmd-no-login", 0, 0, up(&b, PETREL_CMD_MSG_P2P, FZ_APP, "fz-dev", P2P));
    GW("login-unsigned", 0, 0, up(&b, PETREL_CMD_LOGIN, FZ_APP, "d", "{\"userId\":\"fz1\"}"));
    GW("login-bad-ct", 0, 0, (raw_hdr(&b, PETREL_CMD_LOGIN, 9, 0, FZ_APP, 0, 2), add(&b, "{}", 2)));
    GW("login-unknown-app", 0, 0, up(&b, PETREL_CMD_LOGIN, 7, "d", login_body("fz1")));
    GW("session", 1, 0, (up(&b, PETREL_CMD_PING, FZ_APP, "fz-dev", "{}"),
                         up(&b, PETREL_CMD_MSG_P2P, FZ_APP, "fz-dev", P2P),
                         up(&b, PETREL_CMD_MSG_READED, FZ_APP, "fz-dev",
                            "{\"toId\":\"fz2\",\"conversationType\":0,\"messageSequence\":1}"),
                         up(&b, PETREL_CMD_LOGOUT, FZ_APP, "fz-dev", "{}")));
    GW("split-5", 3, 4, (up(&b, PETREL_CMD_MSG_P2P, FZ_APP, "fz-dev", P2P),
                         up(&b, PETREL_CMD_PING, FZ_APP, "fz-dev", "{}")));
    GW("split-1", 3, 0, up(&b, PETREL_CMD_PING, FZ_APP, "fz-dev", "{}"));
    GW("split-29", 3, 28, (up(&b, PETREL_CMD_MSG_GROUP, FZ_APP, "fz-dev", GMSG),
                           up(&b, PETREL_CMD_MSG_GROUP_READED, FZ_APP, "fz-dev",
                              "{\"groupId\":\"fzg\",\"messageSequence\":1}")));
    GW("malformed-after-login", 1, 0, (up(&b, PETREL_CMD_PING, FZ_APP, "d", "{}"),
                                      raw_hdr(&b, PETREL_CMD_PING, 3, 0, FZ_APP, -5, 2)));
    GW("not-json", 1, 0, up(&b, PETREL_CMD_MSG_P2P, FZ_APP, "d", "[1,2]"));
    GW("login-twice", 1, 0, up(&b, PETREL_CMD_LOGIN, FZ_APP, "d", login_body("fz1")));
    GW("held-during-login", 1, 0, for (int i = 0; i < 40; i++)
                                      up(&b, PETREL_CMD_PING, FZ_APP, "d", "{}"));
#undef GW
}

/* ---- WebSocket: flags, then masked client frames ------------------------ */

static void ws(buf_t *b, int fin, int opcode, const void *p, size_t n)
{
    b->n += fz_ws_frame(fin, opcode, p, n, b->d + b->n, sizeof b->d - b->n);
}

static void ws_pkt(buf_t *b, int32_t cmd, const char *body)
{
    buf_t f;
    f.n = 0;
    up(&f, cmd, FZ_APP, "fz-web", body);
    ws(b, 1, 0x2, f.d, f.n);
}

static void gen_ws(void)
{
    buf_t b, f;
#define WS(name, flags, stmt)                                                             \
    do {                                                                                  \
        b.n = 0;                                                                          \
        uint8_t fl = flags;                                                               \
        add(&b, &fl, 1);                                                                  \
        stmt;                                                                             \
        put("ws", name, b.d, b.n);                                                        \
    } while (0)
    WS("ping-no-login", 0, ws_pkt(&b, PETREL_CMD_PING, "{}"));
    WS("session", 1, (ws_pkt(&b, PETREL_CMD_PING, "{}"), ws_pkt(&b, PETREL_CMD_MSG_P2P, P2P),
                      ws_pkt(&b, PETREL_CMD_MSG_GROUP, GMSG),
                      ws_pkt(&b, PETREL_CMD_LOGOUT, "{}")));
    f.n = 0;
    up(&f, PETREL_CMD_MSG_P2P, FZ_APP, "fz-web", P2P);
    WS("fragmented", 1, (ws(&b, 0, 0x2, f.d, 10), ws(&b, 1, 0x9, "p", 1),
                         ws(&b, 0, 0x0, f.d + 10, 20), ws(&b, 1, 0x0, f.d + 30, f.n - 30)));
    WS("control", 1, (ws(&b, 1, 0x9, "hello", 5), ws(&b, 1, 0xa, "", 0),
                      ws(&b, 1, 0x8, "\x03\xe8" "bye", 5)));
    WS("text", 1, ws(&b, 1, 0x1, "{\"hello\":1}", 11));
    WS("two-packets", 1, (f.n = 0, up(&f, PETREL_CMD_PING, 0, "", "{}"),
                          up(&f, PETREL_CMD_PING, 0, "", "{}"), ws(&b, 1, 0x2, f.d, f.n)));
    WS("short-packet", 1, ws(&b, 1, 0x2, "\0\0\x27\x0f", 4));
    char big[2000];
    snprintf(big, sizeof big, "{\"messageId\":\"m-big\",\"toId\":\"fz2\",\"messageBody\":\"%01500d\"}", 7);
    WS("len16", 1, ws_pkt(&b, PETREL_CMD_MSG_P2P, big));
    WS("unmasked", 1, add(&b, "\x82\x02{}", 4));
    WS("rsv-bits", 1, (b.n += fz_ws_frame(1, 0x2, (const uint8_t *)"ab", 2, b.d + b.n,
                                           sizeof b.d - b.n), b.d[b.n - 8] |= 0x40));
    WS("len64-huge", 1, add(&b, "\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04", 14));
#undef WS
}

/* ---- socket commands: "<command> <body>" lines -------------------------- */

static void gen_command(void)
{
    put_str("command", "p2p", "1103 " P2P "\n");
    put_str("command", "p2p-flow",
            "1103 " P2P "\n1103 " P2P "\n"
            "1106 {\"toId\":\"fz2\",\"conversationType\":0,\"messageSequence\":1}\n"
            "1107 {\"toId\":\"fz2\",\"messageKey\":1,\"messageSequence\":1}\n"
            "1050 {\"messageKey\":1}\n9999 {}\n");
    put_str("command", "p2p-fields",
            "1103 {\"messageId\":\"m-2\",\"toId\":\"fz3\",\"messageBody\":{\"a\":[1,2,{}]},"
            "\"messageTime\":-1,\"messageRandom\":9223372036854775807,\"extra\":\"{}\"}\n"
            "1103 {\"messageId\":\"m-3\",\"toId\":\"fz1\",\"messageBody\":\"self\"}\n"
            "1103 {\"messageId\":\"m-4\",\"toId\":\"nobody\",\"messageBody\":\"x\"}\n"
            "1103 {\"toId\":\"fz2\"}\n");
    put_str("command", "group",
            "2104 " GMSG "\n"
            "2106 {\"groupId\":\"fzg\",\"messageSequence\":9223372036854775807,"
            "\"conversationType\":1}\n"
            "1050 {\"messageKey\":4398046511105,\"groupId\":\"fzg\",\"conversationType\":1}\n");
    put_str("command", "group-other",
            "2104 {\"groupId\":\"nogroup\",\"messageId\":\"g-2\",\"messageBody\":\"x\"}\n"
            "2104 {\"groupId\":\"\",\"messageId\":\"\",\"messageBody\":null}\n"
            "2106 {\"groupId\":\"fzg\",\"messageSequence\":-1}\n");
    put_str("command", "from-mismatch",
            "1103 {\"fromId\":\"fz2\",\"toId\":\"fz1\",\"messageId\":\"x\",\"messageBody\":\"x\"}\n"
            "1103 {\"fromId\":5,\"toId\":\"fz1\",\"messageId\":\"x\",\"messageBody\":\"x\"}\n");
    put_str("command", "receive-ack",
            "1107 {\"toId\":\"fz2\",\"messageKey\":1,\"messageSequence\":1,"
            "\"extra\":{\"x\":[1,2,3]}}\n"
            "1107 {\"toId\":\"fz4\",\"messageKey\":\"1\"}\n");
    put_str("command", "others",
            "4000 {}\n5000 {\"conversationId\":\"0_fz1_fz2\"}\n3000 {}\n9000 {}\n"
            "1046 {}\n2047 {}\n1 {}\n9999 {\"serverTime\":1}\n9003 {}\n");
    put_str("command", "bad-json", "1103 {\"toId\":\n9999 []\n");
    put_str("command", "deep-json",
            "1103 {\"toId\":\"fz2\",\"messageId\":\"d\",\"messageBody\":"
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n");
    put_str("command", "numbers",
            "1106 {\"toId\":\"fz2\",\"conversationType\":0,\"messageSequence\":1e300}\n"
            "1106 {\"toId\":\"fz2\",\"conversationType\":1,\"messageSequence\":-9223372036854775808}\n"
            "1050 {\"messageKey\":9223372036854775807}\n"
            "1050 {\"messageKey\":-1,\"conversationType\":7}\n");
}

/* ---- HTTP requests ------------------------------------------------------ */

static void http_req(const char *name, const char *method, const char *path, const char *as,
                     const char *body)
{
    char q[256] = "";
    if (as)
        snprintf(q, sizeof q, "?appId=%d&identifier=%s&userSign=@%s@", FZ_APP, as,
                 !strcmp(as, "admin") ? "ADMIN" : !strcmp(as, "fz1") ? "FZ1" : "FZ2");
    char r[8192];
    int n = snprintf(r, sizeof r,
                     "%s %s%s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, q, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof r)
        abort();
    put("http", name, r, (size_t)n);
}

static void gen_http(void)
{
    static const struct { const char *path, *as, *body; } rest[] = {
        {"/v1/user/importUser", "admin", "{\"userData\":[{\"userId\":\"u9\",\"nickName\":\"N\"},{}]}"},
        {"/v1/user/deleteUser", "admin", "{\"userId\":[\"u9\",\"\"]}"},
        {"/v1/user/login", "fz1", "{\"clientType\":1}"},
        {"/v1/user/getUserSequence", "fz1", "{}"},
        {"/v1/user/data/getUserInfo", "fz1", "{\"userIds\":[\"fz1\",\"fz2\",\"nobody\"]}"},
        {"/v1/user/data/getSingleUserInfo", "fz1", "{\"userId\":\"fz2\"}"},
        {"/v1/user/data/modifyUserInfo", "fz1", "{\"nickName\":\"F\",\"selfSignature\":\"hi\",\"userSex\":1}"},
        {"/v1/user/data/queryImUserPage", "fz1", "{\"nickName\":\"F\",\"currentPage\":1,\"pageSize\":10}"},
        {"/v1/user/subscribeUserOnlineStatus", "fz1", "{\"subUserId\":[\"fz2\"],\"subTime\":60000}"},
        {"/v1/user/setUserCustomerStatus", "fz1", "{\"customText\":\"busy\",\"customStatus\":1}"},
        {"/v1/user/queryFriendOnlineStatus", "fz1", "{}"},
        {"/v1/user/queryUserOnlineStatus", "fz1", "{\"userList\":[\"fz2\"]}"},
        {"/v1/message/send", "fz1", "{\"toId\":\"fz2\",\"messageId\":\"h1\",\"messageBody\":{\"type\":1}}"},
        {"/v1/message/syncOfflineMessage", "fz1", "{\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/message/queryP2pMessageHistory", "fz1", "{\"toId\":\"fz2\",\"messageSequence\":0,\"limit\":20,\"isGt\":true}"},
        {"/v1/message/getP2pMessageRange", "fz1", "{\"toId\":\"fz2\",\"fromSequence\":1,\"toSequence\":0}"},
        {"/v1/conversation/syncConversationList", "fz1", "{\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/conversation/updateConversation", "fz1", "{\"conversationId\":\"0_fz1_fz2\",\"isTop\":1}"},
        {"/v1/conversation/deleteConversation", "fz1", "{\"conversationId\":\"0_fz1_fz2\"}"},
        {"/v1/friendship/importFriendShip", "admin", "{\"fromId\":\"fz3\",\"friendItem\":[{\"toId\":\"fz4\",\"remark\":\"r\"}]}"},
        {"/v1/friendship/addFriend", "fz1", "{\"toItem\":{\"toId\":\"fz3\",\"addWording\":\"hi\",\"remark\":\"x\"}}"},
        {"/v1/friendship/updateFriend", "fz1", "{\"toItem\":{\"toId\":\"fz2\",\"remark\":\"best\"}}"},
        {"/v1/friendship/deleteFriend", "fz1", "{\"toId\":\"fz3\"}"},
        {"/v1/friendship/deleteAllFriend", "fz2", "{}"},
        {"/v1/friendship/getAllFriendShip", "fz1", "{}"},
        {"/v1/friendship/getRelation", "fz1", "{\"toId\":\"fz2\"}"},
        {"/v1/friendship/checkFriend", "fz1", "{\"toIds\":[\"fz2\",\"fz3\"],\"checkType\":2}"},
        {"/v1/friendship/addBlack", "fz1", "{\"toId\":\"fz4\"}"},
        {"/v1/friendship/deleteBlack", "fz1", "{\"toId\":\"fz4\"}"},
        {"/v1/friendship/checkBlack", "fz1", "{\"toIds\":[\"fz4\"],\"checkType\":1}"},
        {"/v1/friendship/syncFriendshipList", "fz1", "{\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/friendshipRequest/getFriendRequest", "fz1", "{}"},
        {"/v1/friendshipRequest/approveFriendRequest", "fz1", "{\"id\":1,\"status\":1}"},
        {"/v1/friendshipRequest/readFriendShipRequest", "fz1", "{}"},
        {"/v1/friendshipRequest/syncFriendshipRequest", "fz1", "{\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/friendship/group/add", "fz1", "{\"groupName\":\"work\",\"toIds\":[\"fz2\"]}"},
        {"/v1/friendship/group/del", "fz1", "{\"groupName\":[\"work\"]}"},
        {"/v1/friendship/group/member/add", "fz1", "{\"groupName\":\"work\",\"toIds\":[\"fz2\"]}"},
        {"/v1/friendship/group/member/del", "fz1", "{\"groupName\":\"work\",\"toIds\":[\"fz2\"]}"},
        {"/v1/friendship/group/syncFriendshipGroupList", "fz1", "{\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/group/importGroup", "admin", "{\"groupId\":\"pub\",\"groupType\":2,\"ownerId\":\"fz2\",\"groupName\":\"P\"}"},
        {"/v1/group/createGroup", "fz1", "{\"groupType\":2,\"groupName\":\"Team\",\"applyJoinType\":1,\"maxMemberCount\":50,\"extra\":{\"t\":1},\"member\":[{\"memberId\":\"fz2\",\"alias\":\"B\",\"role\":1},\"fz3\"]}"},
        {"/v1/group/getGroupInfo", "fz1", "{\"groupId\":\"fzg\"}"},
        {"/v1/group/getJoinedGroup", "fz1", "{\"memberId\":\"fz1\",\"groupType\":[1,2]}"},
        {"/v1/group/update", "fz1", "{\"groupId\":\"fzg\",\"groupName\":\"G2\",\"notification\":\"n\"}"},
        {"/v1/group/destroyGroup", "fz1", "{\"groupId\":\"nogroup\"}"},
        {"/v1/group/transferGroup", "fz1", "{\"groupId\":\"fzg\",\"ownerId\":\"fz1\"}"},
        {"/v1/group/forbidSendMessage", "fz1", "{\"groupId\":\"fzg\",\"mute\":0}"},
        {"/v1/group/syncJoinedGroup", "fz1", "{\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/group/sendMessage", "fz1", "{\"groupId\":\"fzg\",\"messageId\":\"hg1\",\"messageBody\":\"x\"}"},
        {"/v1/group/member/importGroupMember", "admin", "{\"groupId\":\"fzg\",\"members\":[{\"memberId\":\"fz4\",\"role\":0}]}"},
        {"/v1/group/member/add", "fz1", "{\"groupId\":\"fzg\",\"members\":[\"fz4\"]}"},
        {"/v1/group/member/remove", "fz1", "{\"groupId\":\"fzg\",\"memberId\":\"fz4\"}"},
        {"/v1/group/member/exitGroup", "fz2", "{\"groupId\":\"nogroup\"}"},
        {"/v1/group/member/update", "fz1", "{\"groupId\":\"fzg\",\"memberId\":\"fz2\",\"alias\":\"b\"}"},
        {"/v1/group/member/speak", "fz1", "{\"groupId\":\"fzg\",\"memberId\":\"fz2\",\"speakDate\":60000}"},
        {"/v1/group/applyJoinGroup", "fz2", "{\"groupId\":\"pub\",\"wording\":\"let me in\"}"},
        {"/v1/group/getJoinRequest", "fz1", "{\"groupId\":\"fzg\",\"status\":0}"},
        {"/v1/group/approveJoinRequest", "fz1", "{\"requestId\":1,\"status\":1}"},
        {"/v1/group/message/syncGroupMessage", "fz1", "{\"groupId\":\"fzg\",\"lastSequence\":0,\"maxLimit\":100}"},
        {"/v1/group/message/getReadCount", "fz1", "{\"groupId\":\"fzg\",\"messageSequence\":1}"},
        {"/v1/message/queryGroupMessageHistory", "fz1", "{\"groupId\":\"fzg\",\"messageSequence\":0,\"limit\":20}"},
        {"/v1/app/getSetting", "admin", "{}"},
        {"/v1/app/updateSetting", "admin", "{\"sendMessageCheckFriend\":false}"},
        {"/app/v1/login", NULL, "{\"userName\":\"fz1\",\"password\":\"secret-password\"}"},
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        char name[128];
        const char *p = rest[i].path + 1;
        size_t k = 0;
        for (; *p && k < sizeof name - 6; p++)
            name[k++] = *p == '/' ? '-' : *p;
        name[k] = '\0';
        strcat(name, ".http");
        http_req(name, "POST", rest[i].path, rest[i].as, rest[i].body);
    }
    http_req("get-query-body.http", "GET", "/v1/user/data/getSingleUserInfo", "fz2",
             "{\"userId\":\"fz1\"}");
    http_req("no-auth.http", "POST", "/v1/user/data/getUserInfo", NULL, "{}");
    put_str("http", "bad-sign.http",
            "POST /v1/user/getUserSequence?appId=10000&identifier=fz1&userSign=eJyr HTTP/1.1\r\n"
            "Content-Length: 2\r\n\r\n{}");
    put_str("http", "other-user-sign.http",
            "POST /v1/user/getUserSequence?appId=10000&identifier=fz2&userSign=@FZ1@ HTTP/1.1\r\n"
            "Content-Length: 2\r\n\r\n{}");
    put_str("http", "healthz.http", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    put_str("http", "metrics.http", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    put_str("http", "static-index.http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    put_str("http", "static-traversal.http",
            "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\nGET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\n");
    put_str("http", "head.http", "HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    put_str("http", "options.http", "OPTIONS /v1/message/send HTTP/1.1\r\nOrigin: http://a\r\n"
                                    "Access-Control-Request-Method: POST\r\n\r\n");
    put_str("http", "pipelined.http",
            "GET /healthz HTTP/1.1\r\n\r\n"
            "POST /v1/user/getUserSequence?appId=10000&identifier=fz1&userSign=@FZ1@ HTTP/1.1\r\n"
            "Content-Length: 2\r\n\r\n{}"
            "GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n");
    put_str("http", "chunked.http",
            "POST /v1/message/send?appId=10000&identifier=fz1&userSign=@FZ1@ HTTP/1.1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
            "10\r\n{\"toId\":\"fz2\",\"m\r\n"
            "1a\r\nessageBody\":\"c\",\"x\":\"y\"}  \r\n0\r\n\r\n");
    put_str("http", "expect-continue.http",
            "POST /v1/user/getUserSequence?appId=10000&identifier=fz1&userSign=@FZ1@ HTTP/1.1\r\n"
            "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}");
    put_str("http", "too-large.http",
            "POST /v1/message/send HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{");
    put_str("http", "http10.http", "GET /healthz HTTP/1.0\r\n\r\n");
    put_str("http", "bad-version.http", "GET /healthz HTTX/1.1\r\n\r\n");
    put_str("http", "http09.http", "GET /\r\n\r\n");
    put_str("http", "upgrade-ws.http",
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            "\x82\x80\x01\x02\x03\x04");
    put_str("http", "upgrade-other.http",
            "GET /chat HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nPRI * HTTP/2.0\r\n");
    put_str("http", "ws-bad-version.http",
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 8\r\n\r\n");
    put_str("http", "query-escapes.http",
            "POST /v1/user/data/getUserInfo?appId=1%30000&identifier=%66z1&userSign=@FZ1@&x=%zz&&=&"
            " HTTP/1.1\r\nContent-Length: 12\r\n\r\n{\"userIds\":1}");
    put_str("http", "method-put.http", "PUT /v1/user/login HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    char big[6000];
    int n = snprintf(big, sizeof big, "GET /healthz HTTP/1.1\r\nX-Long: ");
    memset(big + n, 'a', 5000);
    snprintf(big + n + 5000, sizeof big - (size_t)n - 5000, "\r\n\r\n");
    put_str("http", "long-header.http", big);
}

/* ---- what a server sends to libpetrel: mode byte, then the bytes -------- */

/* an unmasked server frame */
static void srv_frame(buf_t *b, int fin, int opcode, const void *p, size_t n)
{
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else if (n <= 0xffff) {
        h[1] = 126, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n, hl = 4;
    } else {
        h[1] = 127, hl = 10;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (8 * (7 - i)));
    }
    add(b, h, hl);
    add(b, p, n);
}

static void gen_client(void)
{
    static const char ws_ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Accept: @ACCEPT@\r\n\r\n";
    buf_t b, f;
#define CL(name, mode, stmt)                                                              \
    do {                                                                                  \
        b.n = 0;                                                                          \
        uint8_t m = mode;                                                                 \
        add(&b, &m, 1);                                                                   \
        stmt;                                                                             \
        put("client", name, b.d, b.n);                                                    \
    } while (0)
    const char *ack = "{\"userId\":\"fz1\",\"appId\":10000,\"clientType\":1,\"imei\":\"fz\"}";
    CL("tcp-session", 0, (down(&b, PETREL_CMD_LOGINACK, ack),
                          down(&b, PETREL_CMD_PING, "{\"serverTime\":1}"),
                          down(&b, PETREL_CMD_MSG_P2P, "{\"fromId\":\"fz2\",\"messageBody\":\"x\"}"),
                          down(&b, PETREL_CMD_ERROR, "{\"code\":61016,\"msg\":\"bye\"}")));
    CL("tcp-oversized", 0, (down(&b, PETREL_CMD_LOGINACK, ack),
                            add(&b, "\0\0\x23\x29\x7f\xff\xff\xff", 8)));
    CL("tcp-negative", 0, add(&b, "\0\0\x23\x29\xff\xff\xff\xff", 8));
    CL("tcp-partial", 0, add(&b, "\0\0\x23\x29\0\0\0\x10{\"a\"", 12));
    f.n = 0;
    down(&f, PETREL_CMD_LOGINACK, ack);
    CL("ws-session", 1, (add(&b, ws_ok, sizeof ws_ok - 1), srv_frame(&b, 1, 0x2, f.d, f.n),
                         srv_frame(&b, 1, 0x9, "p", 1),
                         srv_frame(&b, 0, 0x2, f.d, 5), srv_frame(&b, 1, 0x0, f.d + 5, f.n - 5),
                         srv_frame(&b, 1, 0x8, "\x03\xe8" "bye", 5)));
    CL("ws-two-packets", 1, (add(&b, ws_ok, sizeof ws_ok - 1), add(&f, f.d, f.n),
                             srv_frame(&b, 1, 0x2, f.d, f.n)));
    CL("ws-text", 1, (add(&b, ws_ok, sizeof ws_ok - 1), srv_frame(&b, 1, 0x1, "{}", 2)));
    CL("ws-masked", 1, (add(&b, ws_ok, sizeof ws_ok - 1), add(&b, "\x82\x82\1\2\3\4ab", 8)));
    CL("ws-bad-accept", 1, put_str_into(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n"));
    CL("ws-404", 1, put_str_into(&b, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
    CL("http-ok", 2, put_str_into(&b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                      "Content-Length: 28\r\n\r\n{\"code\":200,\"msg\":\"success\"}"));
    CL("http-chunked", 2, put_str_into(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                           "5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"));
    CL("http-until-close", 2, put_str_into(&b, "HTTP/1.1 500 Oops\r\n\r\n{\"code\":90000}"));
    CL("http-continue", 2, put_str_into(&b, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                                            "Content-Length: 2\r\n\r\n{}"));
    CL("http-huge-length", 2, put_str_into(&b, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{"));
    CL("http-garbage", 2, put_str_into(&b, "SSH-2.0-OpenSSH_9.2\r\n"));
#undef CL
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    gen_codec();
    gen_sign();
    gen_gateway();
    gen_ws();
    gen_command();
    gen_http();
    gen_client();
    return 0;
}
