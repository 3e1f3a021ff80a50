/*
 * petrel error codes: the one table.
 *
 * Every code the server puts in an ERROR 9998 packet, an ack or a REST
 * envelope is a row of PETREL_ERRORS below, and nowhere else: the enum
 * PETREL_ERR_*, petrel_err_text(), petrel_err_http(), the /metrics slots
 * (server/core/metrics.c) and the error table of docs/PROTOCOL.md
 * (scripts/gen-errors-doc.py; tests/unit/common/test_errors.c checks the
 * docs against it) are all made from it.  A code means one thing.
 *
 * Row: X(NAME, code, HTTP status, origin, "message")
 *   NAME     PETREL_ERR_<NAME>
 *   HTTP     the status of a REST answer carrying it (a call site may say
 *            more: 20001 for an operator that is not a user is 403);
 *            business refusals keep 200, as the seeds did
 *   origin   SEED: the seeds' code and meaning (clients of the seeds know
 *            it); PETREL: petrel's own (61xxx protocol, 62xxx limits and
 *            the like, and a few petrel additions inside the seeds' ranges)
 *   message  the default "msg"; a call site may pass a more precise one
 *
 * Ranges: 1xxxx demo app server, 2xxxx users, 3xxxx friendship, 4xxxx
 * groups, 5xxxx messages and conversations, 60xxx authentication (seeds),
 * 61xxx socket protocol, 62xxx petrel (62000 demo app, 62020 messages,
 * 62040 relations, 62060 network edge, 62080 abuse limits, 62100 tokens
 * and storage, 62120 per-address limits), 71000 discovery, 90000 system.
 *
 * Adding a code: one row here, in its range; then run
 * `python3 scripts/gen-errors-doc.py` to refresh the docs.
 */
#ifndef PETREL_ERRORS_H
#define PETREL_ERRORS_H

#define PETREL_ERRORS(X)                                                                         \
    /* generic */                                                                                \
    X(NOT_FOUND,            404, 404, PETREL, "not found")                                       \
    X(METHOD,               405, 405, PETREL, "method not allowed")                              \
    X(INTERNAL,             500, 500, SEED,   "internal error")                                  \
    X(SYSTEM,             90000, 500, SEED,   "internal error")                                  \
    X(PARAM,              90001, 400, SEED,   "invalid parameter")                               \
    /* demo app server (/app/v1) */                                                              \
    X(APP_WRONG_LOGIN,    10001, 200, SEED,   "wrong user name or password")                     \
    X(APP_NAME_TAKEN,     10003, 200, SEED,   "user name already registered")                    \
    X(APP_LOGIN_LOCKED,   10004, 429, PETREL, "too many failed logins, try later")               \
    /* users */                                                                                  \
    X(IMPORT_USER_LIMIT,  20000, 200, SEED,   "at most 100 users per import")                    \
    X(USER_NOT_FOUND,     20001, 200, SEED,   "user not found")                                  \
    X(USER_MODIFY_FAILED, 20003, 200, SEED,   "modify failed")                                   \
    X(SUB_TIME,           20004, 200, SEED,   "subTime must be a positive number of ms")         \
    /* friendship */                                                                             \
    X(IMPORT_FRIEND_LIMIT, 30000, 200, SEED,  "at most 100 friends per import")                  \
    X(ALREADY_FRIEND,     30002, 200, SEED,   "already friends")                                 \
    X(NOT_FRIEND,         30003, 200, SEED,   "not a friend")                                    \
    X(FRIEND_DELETED,     30004, 200, SEED,   "friendship already deleted")                      \
    X(BLACKED_BY_YOU,     30006, 200, SEED,   "the other user is in your blacklist")             \
    X(BLACKED_BY_PEER,    30007, 200, SEED,   "the other user blacklisted you")                  \
    X(RELATION_NOT_FOUND, 30008, 200, SEED,   "relation not found")                              \
    X(NOT_BLACKED,        30010, 200, SEED,   "not in your blacklist")                           \
    X(NOT_ADDRESSEE,      30011, 200, SEED,   "only the addressee may approve a request")        \
    X(REQUEST_NOT_FOUND,  30012, 200, SEED,   "friend request not found")                        \
    X(REQUEST_HANDLED,    30013, 200, PETREL, "friend request already decided")                  \
    X(FRIEND_LIST_EXISTS, 30015, 200, SEED,   "friend list already exists")                      \
    X(FRIEND_LIST_NOT_FOUND, 30016, 200, SEED, "friend list not found")                          \
    /* groups */                                                                                 \
    X(GROUP_NOT_FOUND,    40000, 200, SEED,   "group not found")                                 \
    X(GROUP_EXISTS,       40001, 200, SEED,   "group already exists")                            \
    X(GROUP_HAS_OWNER,    40002, 200, SEED,   "group already has an owner")                      \
    X(ALREADY_MEMBER,     40003, 200, SEED,   "already a member")                                \
    X(JOIN_REFUSED,       40004, 200, SEED,   "this group takes no join requests")               \
    X(MEMBER_LIMIT,       40005, 200, SEED,   "group is full (maxMemberCount)")                  \
    X(NOT_MEMBER,         40006, 200, SEED,   "not a member of this group")                      \
    X(NEED_MANAGER,       40007, 200, SEED,   "only the owner or a manager may do this")         \
    X(NOT_ON_OWNER,       40008, 200, SEED,   "not allowed on the group owner")                  \
    X(NEED_OWNER,         40009, 200, SEED,   "only the owner may do this")                      \
    X(OWNER_NOT_REMOVABLE, 40010, 200, SEED,  "the owner cannot be removed")                     \
    X(GROUP_MUTED,        40012, 200, SEED,   "the group is muted: only the owner and managers may speak") \
    X(ONLY_SELF,          40014, 200, SEED,   "only the member may change this")                 \
    X(PUBLIC_NEEDS_OWNER, 40016, 200, SEED,   "a public group needs an owner")                   \
    X(MEMBER_MUTED,       40017, 200, SEED,   "the member is muted in this group")               \
    X(GROUP_DESTROYED,    40018, 200, SEED,   "group destroyed")                                 \
    X(OWNER_CANNOT_EXIT,  40020, 200, SEED,   "the owner must transfer the group before leaving") \
    X(JOIN_REQUEST_NOT_FOUND, 40022, 200, PETREL, "join request not found")                      \
    X(JOIN_REQUEST_HANDLED, 40023, 200, PETREL, "join request already decided")                  \
    X(PRIVATE_NO_MANAGER, 40024, 200, PETREL, "a private group has no managers")                 \
    /* messages and conversations */                                                             \
    X(CONVERSATION,       50000, 200, SEED,   "conversation not found, or not changeable so")    \
    X(SENDER_SILENT,      50002, 200, SEED,   "sender is silenced")                              \
    X(MSG_NOT_FOUND,      50003, 200, SEED,   "message not found")                               \
    X(RECALL_TIMEOUT,     50004, 200, SEED,   "recall window has passed")                        \
    X(RECALLED,           50005, 200, SEED,   "message already recalled")                        \
    /* authentication (REST query, socket LOGIN) */                                              \
    X(SIGN_MISSING,       60000, 401, SEED,   "userSign is required")                            \
    X(APPID_MISSING,      60001, 401, SEED,   "appId is required")                               \
    X(OPERATOR_MISSING,   60002, 401, SEED,   "identifier is required")                          \
    X(SIGN_INVALID,       60003, 401, SEED,   "invalid userSign")                                \
    X(SIGN_EXPIRED,       60004, 401, SEED,   "userSign expired")                                \
    X(SIGN_MISMATCH,      60005, 401, SEED,   "userSign is for another identifier")              \
    X(NOT_OPERATOR,       60006, 403, PETREL, "only the user concerned or the app admin may do this") \
    /* socket protocol */                                                                        \
    X(BAD_HEADER,         61000, 400, PETREL, "bad packet header")                               \
    X(IMEI_TOO_LONG,      61001, 400, PETREL, "imei too long")                                   \
    X(BODY_TOO_LARGE,     61002, 413, PETREL, "body too large")                                  \
    X(MESSAGE_TYPE,       61003, 400, PETREL, "messageType must be 0 (JSON)")                    \
    X(BAD_UTF8,           61004, 400, PETREL, "imei or body is not valid UTF-8")                 \
    X(BAD_JSON,           61005, 400, PETREL, "body must be a JSON object")                      \
    X(NOT_LOGGED_IN,      61006, 401, PETREL, "LOGIN first")                                     \
    X(FROM_MISMATCH,      61007, 403, PETREL, "fromId/appId is not the logged-in user")          \
    X(UNKNOWN_CMD,        61008, 400, PETREL, "unsupported command")                             \
    X(LOGIN_TIMEOUT,      61009, 400, PETREL, "no LOGIN in time")                                \
    X(CLIENT_TYPE,        61010, 400, PETREL, "clientType must be 0..5")                         \
    X(APP_UNKNOWN,        61011, 400, PETREL, "unknown appId")                                   \
    X(ALREADY_LOGGED,     61013, 400, PETREL, "already logged in")                               \
    X(HEARTBEAT,          61014, 400, PETREL, "heartbeat timeout")                               \
    X(USER_FORBIDDEN,     61015, 403, PETREL, "user forbidden or deleted")                       \
    X(SHUTDOWN,           61016, 503, PETREL, "the server is shutting down")                     \
    /* demo app server limits */                                                                 \
    X(APP_LOCAL_ONLY,     62000, 403, PETREL, "the demo app server only answers clients on the server's machine") \
    X(NAME_RESERVED,      62001, 200, PETREL, "this user name is reserved")                      \
    X(PW_BUSY,            62002, 503, PETREL, "too many sign-ups and logins right now, retry later") \
    X(REG_THROTTLED,      62003, 429, PETREL, "too many registrations from this address, try later") \
    X(LOGIN_THROTTLED,    62004, 429, PETREL, "too many login attempts from this address, try later") \
    /* messages */                                                                               \
    X(MSG_NOT_READABLE,   62020, 200, PETREL, "no such message, or not one you may read")        \
    X(RACK_NO_MESSAGE,    62021, 200, PETREL, "toId sent you no message with that messageKey")   \
    X(RACK_BUSY,          62022, 503, PETREL, "too many receive acks waiting: resend later")     \
    X(SENDER_FORBIDDEN,   62023, 200, PETREL, "sender is forbidden")                             \
    /* relations and presence */                                                                 \
    X(ADD_FRIEND_DISABLED, 62040, 200, PETREL, "the user does not accept friend requests")       \
    X(SUB_LIMIT,          62041, 200, PETREL, "the subscriber holds the most subscriptions allowed") \
    /* network edge */                                                                           \
    X(CONN_CAPACITY,      62060, 503, PETREL, "the server is at its connection capacity: retry later") \
    X(CORS_ORIGIN,        62061, 403, PETREL, "origin not allowed (cors_origins)")               \
    X(CORS_REQUEST,       62062, 403, PETREL, "method or request header not allowed on this path") \
    /* abuse limits (docs/SECURITY.md) */                                                        \
    X(BUSY,               62080, 503, PETREL, "server busy: resend later")                       \
    X(RATE_LIMITED,       62081, 429, PETREL, "send rate limit exceeded: resend later")          \
    X(QUOTA,              62082, 200, PETREL, "the app's storage quota is used up")              \
    X(TOO_MANY_DEVICES,   62083, 429, PETREL, "too many devices online for this user")           \
    /* tokens and storage health */                                                              \
    X(SIGN_FUTURE,        62100, 401, PETREL, "userSign issued in the future")                   \
    X(SIGN_LIFETIME,      62101, 401, PETREL, "userSign lifetime too long")                      \
    X(STORE_GONE,         62102, 503, PETREL, "the database file was deleted or replaced: restart the server") \
    X(STORE_FAILING,      62103, 503, PETREL, "the last storage write failed")                   \
    X(STORE_STALLED,      62104, 503, PETREL, "a storage write has been running for over 10 s")  \
    /* connections per client address */                                                         \
    X(CONN_PER_IP,        62120, 429, PETREL, "too many connections from this address")          \
    X(PENDING_PER_IP,     62121, 429, PETREL, "too many connections without LOGIN from this address") \
    /* discovery */                                                                              \
    X(NO_SERVER,          71000, 200, SEED,   "no available server")

/* The codes: PETREL_ERR_<NAME> = code; PETREL_OK (success) is not a row. */
enum petrel_error {
    PETREL_OK = 200,
#define PETREL_ERR_ENUM_(name, code, http, origin, text) PETREL_ERR_##name = code,
    PETREL_ERRORS(PETREL_ERR_ENUM_)
#undef PETREL_ERR_ENUM_
};

/* Row indexes, 0..PETREL_ERR_COUNT-1, in table order. */
enum petrel_error_index {
#define PETREL_ERR_INDEX_(name, code, http, origin, text) PETREL_ERRI_##name,
    PETREL_ERRORS(PETREL_ERR_INDEX_)
#undef PETREL_ERR_INDEX_
    PETREL_ERR_COUNT
};

enum petrel_error_origin { PETREL_ERR_ORIGIN_SEED = 1, PETREL_ERR_ORIGIN_PETREL = 2 };

typedef struct petrel_error_row {
    const char *name;  /* without the PETREL_ERR_ prefix */
    int code;
    int http;
    int origin;        /* PETREL_ERR_ORIGIN_* */
    const char *text;
} petrel_error_row_t;

/* The table, PETREL_ERR_COUNT rows in table order. */
extern const petrel_error_row_t petrel_error_table[PETREL_ERR_COUNT];

/* The row index of code, or -1 when the table has no such code (200
 * included).  A switch: constant time, no lock. */
int petrel_err_index(int code);
/* The default message of code: "success" for 200, "error" for a code
 * not in the table.  Never NULL; a static string. */
const char *petrel_err_text(int code);
/* The HTTP status of a REST answer carrying code: 200 for 200, 500 for a
 * code not in the table. */
int petrel_err_http(int code);

#endif
