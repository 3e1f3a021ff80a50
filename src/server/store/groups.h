/*
 * Groups: groups, members, join requests, group messages and their read
 * state; one op struct for every write, blocking reads.
 */
#ifndef PETREL_STORE_GROUPS_H
#define PETREL_STORE_GROUPS_H

#include "server/store/core.h"

/* ------------------------------------------------------------------ */
/* Groups (addition, schema version 6; seed inventory §5.4, §4.2, §7.1).
 *
 * Every group write is one store_group_op_t (the kinds below) run by the
 * writer in one savepoint: the op reads the group and the rows it needs,
 * decides with group_rules.h, and writes, so a rule and the change it
 * allows are atomic.  Storage is read diffusion: one im_group_message row
 * per message per group.
 *
 * Numbers, all allocated by the writer in commit order:
 *   - msg_seq (per group): the next message takes msg_seq + 1, stored in
 *     the group row in the same transaction, so it is strictly increasing,
 *     never skipped by a failed op and never reused (also across restarts).
 *   - sequence (per app): every change of a group or of a membership
 *     takes the app's largest group sequence + 1 (syncJoinedGroup).
 *   - message_key: shares the app-wide key space of one-to-one messages.
 * A member reads the messages with join_seq < sequence <= leave_seq (no
 * upper bound while a member).  Group conversations are rows of
 * im_conversation with conversation_type 1 and peer_id = group id, made
 * when a member joins; their last_seq is the group's msg_seq (the member's
 * leave_seq once left) and read_seq the member's read sequence.
 *
 * Write rules as for messages: done(arg, rc) exactly once on the writer
 * thread after COMMIT; no op when the submit function returns non-zero.
 * The op struct is the caller's and must stay alive until done has run;
 * its outputs are meaningful only when done's rc is 0 (rc 0 with
 * reject != 0: refused by a rule, nothing written).  Free the outputs with
 * store_group_op_clear whatever rc was. */

#define STORE_GROUP_ID_MAX 64
#define STORE_GROUP_NAME_MAX 100
#define STORE_GROUP_PHOTO_MAX 300
#define STORE_GROUP_INTRO_MAX 100
#define STORE_GROUP_NOTIFY_MAX 1000
#define STORE_GROUP_EXTRA_MAX 1000
#define STORE_GROUP_ALIAS_MAX 100
#define STORE_GROUP_JOIN_TYPE_MAX 50
#define STORE_GROUP_WORDING_MAX 255
/* Most members one op adds (create, add, import). */
#define STORE_GROUP_BATCH_MAX 500
/* Most rows a group page read returns. */
#define STORE_GROUP_LIMIT_MAX 200

typedef struct store_group {
    char group_id[STORE_GROUP_ID_MAX + 1];
    char owner_id[STORE_ID_MAX + 1];
    int group_type;        /* 1 private, 2 public */
    char group_name[STORE_GROUP_NAME_MAX + 1];
    int mute;              /* 1: only owner and managers speak */
    int apply_join_type;   /* 0 free, 1 approval, 2 nobody may apply */
    char photo[STORE_GROUP_PHOTO_MAX + 1];
    int max_member_count;
    char introduction[STORE_GROUP_INTRO_MAX + 1];
    char notification[STORE_GROUP_NOTIFY_MAX + 1];
    int status;            /* 1 normal, 2 destroyed */
    int64_t sequence;      /* change sequence (app-wide) */
    int64_t msg_seq;       /* last message sequence */
    int member_count;      /* current members (roles 0..2) */
    int64_t create_time, update_time;
    char extra[STORE_GROUP_EXTRA_MAX + 1];
} store_group_t;

typedef struct store_group_member {
    char member_id[STORE_ID_MAX + 1];
    int role;              /* 0 member, 1 manager, 2 owner, 3 left */
    int64_t speak_date;    /* muted until (epoch ms), 0 = not muted */
    char alias[STORE_GROUP_ALIAS_MAX + 1];
    int64_t join_time;
    char join_type[STORE_GROUP_JOIN_TYPE_MAX + 1];
    int64_t leave_time;
    int64_t join_seq;      /* reads messages after this sequence */
    int64_t leave_seq;     /* ... up to this one once left (0 while a member) */
    int64_t read_seq;
    int64_t sequence;      /* group change sequence of the row's last change */
    char extra[STORE_GROUP_EXTRA_MAX + 1];
} store_group_member_t;

typedef struct store_group_request {
    int64_t id;
    char group_id[STORE_GROUP_ID_MAX + 1];
    char from_id[STORE_ID_MAX + 1];
    char wording[STORE_GROUP_WORDING_MAX + 1];
    int status;            /* 0 pending, 1 approved, 2 rejected */
    char handler_id[STORE_ID_MAX + 1];
    int64_t create_time, update_time;
} store_group_request_t;

enum store_group_what {
    SG_CREATE,        /* g (owner_id = operator unless admin set it), members[n] */
    SG_IMPORT,        /* admin: g as given (owner optional for private) */
    SG_UPDATE,        /* g's masked fields */
    SG_DESTROY,
    SG_TRANSFER,      /* target = new owner */
    SG_MUTE,          /* flag = 0/1 */
    SG_MEMBER_ADD,    /* members[n] (member_id, alias, join_type) */
    SG_MEMBER_IMPORT, /* admin: members[n] as given */
    SG_MEMBER_REMOVE, /* target */
    SG_MEMBER_EXIT,   /* operator leaves */
    SG_MEMBER_UPDATE, /* target; mask: alias, role, extra */
    SG_MEMBER_SPEAK,  /* target, speak_date = muted until (0 unmute) */
    SG_APPLY,         /* operator applies (wording) */
    SG_DECIDE,        /* request id, flag 1 approve / 2 reject */
    SG_MSG,           /* msg */
    SG_READ,          /* operator read up to seq */
    SG_RECALL,        /* message_key; window_ms */
};

/* store_group_op_t.mask for SG_UPDATE */
enum store_group_field {
    STORE_GROUP_F_NAME = 1u << 0,
    STORE_GROUP_F_MUTE = 1u << 1,
    STORE_GROUP_F_APPLY_JOIN_TYPE = 1u << 2,
    STORE_GROUP_F_INTRODUCTION = 1u << 3,
    STORE_GROUP_F_NOTIFICATION = 1u << 4,
    STORE_GROUP_F_PHOTO = 1u << 5,
    STORE_GROUP_F_MAX_MEMBER_COUNT = 1u << 6,
    STORE_GROUP_F_EXTRA = 1u << 7,
    STORE_GROUP_F_ALL = (1u << 8) - 1,
};
/* ... and for SG_MEMBER_UPDATE */
enum store_member_field {
    STORE_MEMBER_F_ALIAS = 1u << 0,
    STORE_MEMBER_F_ROLE = 1u << 1,
    STORE_MEMBER_F_EXTRA = 1u << 2,
};

/* A group message (SG_MSG).  In: message_id, body (not NULL), extra (may
 * be NULL), message_time, message_random, message_key (proposal, > 0).
 * Out: message_key, sequence, created_at, duplicate, del_flag. */
typedef struct store_group_msg {
    char message_id[STORE_ID_MAX + 1];
    char *body;
    char *extra;
    int64_t message_time, message_random;
    int64_t message_key;
    int64_t sequence;
    int64_t created_at;
    int duplicate;
    int del_flag;
} store_group_msg_t;

typedef struct store_group_op {
    /* in */
    int what;
    int32_t app_id;
    char group_id[STORE_GROUP_ID_MAX + 1];
    char operator_id[STORE_ID_MAX + 1]; /* acting user */
    int admin;                          /* operator is the app admin */
    store_group_t g;                    /* create, import, update */
    unsigned mask;
    char target[STORE_ID_MAX + 1];
    store_group_member_t m;             /* member update: alias, role, extra */
    int64_t speak_date;
    int flag;
    int64_t id;                         /* request id */
    char wording[STORE_GROUP_WORDING_MAX + 1];
    size_t n;
    store_group_member_t *members;      /* n entries, the caller's */
    int64_t seq;                        /* read */
    int64_t message_key;                /* recall */
    int64_t window_ms;                  /* recall */
    store_group_msg_t msg;              /* SG_MSG, in and out */
    /* out */
    int reject;                         /* 0 or a seed code (group_rules.h, 2xxxx, 5xxxx) */
    int *results;                       /* n entries, the caller's: per member 0 or a code */
    store_group_t group;                /* the group after the op */
    store_group_member_t member;        /* the member row acted on, after the op */
    store_group_request_t request;      /* apply, decide */
    int joined;                         /* apply / decide: 1 the user is a member now */
    int changed;                        /* read: the read sequence moved */
    int64_t change_seq;                 /* the op's group change sequence (0 none) */
    char (*ids)[STORE_ID_MAX + 1];      /* who to notify (malloc'ed): the members
                                         * after the op plus anyone it removed */
    size_t nids;
    char from_id[STORE_ID_MAX + 1];     /* recall, read: the (last read) message's sender */
    int64_t recalled_seq;               /* recall: the message's sequence */
} store_group_op_t;

/* Free op's outputs (ids); safe to call twice. */
void store_group_op_clear(store_group_op_t *op);

/* Queue a group op.  STORE_EINVAL (no op) when an input is invalid: ids
 * (group 1..STORE_GROUP_ID_MAX, users 1..STORE_ID_MAX), strings not
 * terminated, n > STORE_GROUP_BATCH_MAX, unknown what or mask bits. */
int store_group_write(store_t *st, store_group_op_t *op, store_done_fn done, void *arg);
int store_group_write_sync(store_t *st, store_group_op_t *op);

/* Blocking: the group (any status).  0 / STORE_ENOTFOUND. */
int store_group_get_sync(store_t *st, int32_t app_id, const char *group_id, store_group_t *out);

/* Blocking: one member row (any role).  0 / STORE_ENOTFOUND. */
int store_group_member_get_sync(store_t *st, int32_t app_id, const char *group_id,
                                const char *member_id, store_group_member_t *out);

/* Blocking: the group's current members (roles 0..2), ordered by role
 * (owner first) then id.  *out malloc'ed (free()), NULL when none. */
int store_group_members_sync(store_t *st, int32_t app_id, const char *group_id,
                             store_group_member_t **out, size_t *n);

/* Blocking: the ids of the current members who joined before message
 * sequence seq (join_seq < seq), i.e. who may read it: a fan-out's
 * recipients.  *out malloc'ed (free()). */
int store_group_readers_sync(store_t *st, int32_t app_id, const char *group_id, int64_t seq,
                             char (**out)[STORE_ID_MAX + 1], size_t *n);

/* A group as one member sees it. */
typedef struct store_joined {
    store_group_t g;
    store_group_member_t m;
} store_joined_t;

/* Blocking: member_id's groups.  all == 0: current memberships only,
 * with group_type in types (mask 1 << type; 0 = any), offset/limit paged,
 * *total the count; all == 1 (sync): every group whose row or member row
 * changed after after_seq (left and destroyed ones included so devices
 * learn of it), ordered by that sequence; *total = the largest such
 * sequence.  *out malloc'ed (free()). */
int store_group_joined_sync(store_t *st, int32_t app_id, const char *member_id, int all,
                            unsigned types, int64_t after_seq, int offset, int limit,
                            store_joined_t **out, size_t *n, int64_t *total);

/* Blocking: the group's join requests with status (-1 = any), newest
 * last.  *out malloc'ed (free()). */
int store_group_requests_sync(store_t *st, int32_t app_id, const char *group_id, int status,
                              store_group_request_t **out, size_t *n);

/* A stored group message. */
typedef struct store_group_msg_row {
    int64_t message_key, sequence, message_time, message_random, created_at;
    char from_id[STORE_ID_MAX + 1];
    char message_id[STORE_ID_MAX + 1];
    char *body;   /* NULL when recalled */
    char *extra;
    int del_flag;
    int read_count; /* members other than the sender whose membership window holds the
                     * message (join_seq < sequence, and still a member or
                     * leave_seq >= sequence) and whose read_seq >= sequence */
} store_group_msg_row_t;

void store_group_msg_rows_free(store_group_msg_row_t *rows, size_t n);

/* Blocking: the group's messages with sequence in [from_seq, to_seq]
 * (0 = no upper bound) intersected with (lo, hi] (the reader's
 * membership bounds: hi 0 = none), ascending or descending, at most limit
 * (1..STORE_GROUP_LIMIT_MAX), each with its read count. */
int store_group_msgs_sync(store_t *st, int32_t app_id, const char *group_id, int64_t from_seq,
                          int64_t to_seq, int64_t lo, int64_t hi, int limit, int descending,
                          store_group_msg_row_t **out, size_t *n);

#endif
