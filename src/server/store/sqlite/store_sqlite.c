/*
 * SQLite backend for the store (see store_backend.h for the contract).
 *
 * Owns <data_dir>/petrel.db and these connections to it:
 *   - the writer connection, used only by the store's writer thread (and by
 *     migrations before that thread starts), with every statement it runs
 *     prepared once at open;
 *   - a pool of read connections (store_config_t.read_conns) for the
 *     blocking *_sync reads, each with its own prepared statements.  A read
 *     borrows a free connection for its duration (waiting on a condvar
 *     when all are lent out) and gives it back.  A SQLite connection is
 *     single-threaded, so one shared reader serialised every read; the
 *     server now issues reads from libuv's whole thread pool, hence the
 *     pool.  In WAL mode readers see the last committed snapshot and never
 *     wait for the writer's open transaction (or each other), which is why
 *     reads do not share the writer's connection (they would queue behind
 *     a batch).
 * WAL also makes the group commit cheap: one fsync of the log per batch.
 * All values go through bound parameters; no SQL text is built at run
 * time (the optional parts of a query are "?N IS NULL OR ..." terms, and
 * a partial update binds NULL for "keep the column").
 *
 * Sequence cache (messages): storing a message allocates three numbers,
 * the pair's next sequence, each owner's next conversation change_seq and
 * the app's next message key.  Reading each from its table on every
 * message would cost three extra b-tree descents per message on the one
 * writer thread, so the writer keeps the last value of each in a bounded
 * hash map (seqcache_t) and loads a miss from disk.  Only the writer
 * allocates, in commit order, which is what makes the numbers increase in
 * commit order (readers paging by them never skip a late commit).  The
 * rule that keeps the cache honest: every entry an op touches (loaded or
 * changed) is marked with the op and put on the transaction's list; when
 * the op is undone (op_end failed) its entries are dropped, when the
 * transaction rolls back all listed entries are dropped, and listed
 * entries are never evicted.  A dropped or evicted entry reloads from the
 * writer connection, which sees exactly what is (or will be) committed,
 * so a number is never reused and a failure leaves no gap.  The schema
 * backs this up: a reused sequence or change_seq violates a unique key.
 */
#include "server/store/sqlite/store_sqlite_int.h"
#include "server/store/store_fileid.h"
#include "server/core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define DEFAULT_READ_CONNS 4
#define DEFAULT_HISTORY_BATCH 8192
#define MAX_READ_CONNS 64
#define DEFAULT_SEQ_CACHE_MAX 100000
#define MIN_SEQ_CACHE_MAX 16

#define APP_COLS "app_id, secret, admin_id, login_policy, max_per_platform, settings, created_at"
#define USER_COLS                                                                    \
    "app_id, user_id, nick_name, photo, user_sex, birth_day, location, "            \
    "self_signature, friend_allow_type, forbidden_flag, disable_add_friend, "       \
    "silent_flag, user_type, del_flag, extra, created_at, updated_at"

/* Writer statements, prepared once on the writer connection. */
enum wq {
    WQ_BEGIN,
    WQ_COMMIT,
    WQ_ROLLBACK,
    WQ_SP,          /* one savepoint per op ... */
    WQ_SP_RELEASE,
    WQ_SP_ROLLBACK,
    WQ_ROW_SP,      /* ... and one per row inside a multi-row op */
    WQ_ROW_RELEASE,
    WQ_ROW_ROLLBACK,
    WQ_APP_PUT,
    WQ_USER_INSERT,
    WQ_USER_UPDATE,
    WQ_USER_DELETE,
    WQ_ACCOUNT_INSERT,
    WQ_MSG_DUP,
    WQ_USER_STATE,
    WQ_SEQ_GET,
    WQ_SEQ_PUT,
    WQ_CHANGE_MAX,
    WQ_KEY_MAX,
    WQ_BODY_INSERT,
    WQ_CONV_UPSERT,
    WQ_CONV_GET,
    WQ_CONV_SET,
    WQ_CONV_TOUCH,
    WQ_MSG_BY_KEY,
    WQ_MSG_RECALL,
    WQ_HISTORY_RESYNC,
    WQ_USER_ALLOW,
    WQ_FR_GET,
    WQ_FR_PUT,
    WQ_FR_MAX,
    WQ_FR_LIVE,
    WQ_RQ_PENDING,
    WQ_RQ_INSERT,
    WQ_RQ_REFRESH,
    WQ_RQ_GET,
    WQ_RQ_DECIDE,
    WQ_RQ_READ,
    WQ_RQ_MAX,
    WQ_RQ_UNREAD,
    WQ_RQ_BLACKED,
    WQ_FG_BY_NAME,
    WQ_FG_INSERT,
    WQ_FG_SET,
    WQ_FG_MAX,
    WQ_FG_WITH,
    WQ_FGM_ADD,
    WQ_FGM_DEL,
    WQ_FGM_CLEAR,
    WQ_STATUS_PUT,
    WQ_COUNT
};

static const char *const WQ_SQL[WQ_COUNT] = {
    [WQ_BEGIN] = "BEGIN IMMEDIATE",
    [WQ_COMMIT] = "COMMIT",
    [WQ_ROLLBACK] = "ROLLBACK",
    [WQ_SP] = "SAVEPOINT op",
    [WQ_SP_RELEASE] = "RELEASE op",
    [WQ_SP_ROLLBACK] = "ROLLBACK TO op",
    [WQ_ROW_SP] = "SAVEPOINT row",
    [WQ_ROW_RELEASE] = "RELEASE row",
    [WQ_ROW_ROLLBACK] = "ROLLBACK TO row",
    /* created_at is deliberately absent from the update list: it records
     * when the app was first stored, whatever later puts carry. */
    [WQ_APP_PUT] =
        "INSERT INTO app(" APP_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT(app_id) DO UPDATE SET secret = excluded.secret, "
        "admin_id = excluded.admin_id, login_policy = excluded.login_policy, "
        "max_per_platform = excluded.max_per_platform, settings = excluded.settings",
    /* A plain INSERT: an existing key, deleted or not, is a conflict. */
    [WQ_USER_INSERT] =
        "INSERT INTO im_user(" USER_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, 0, ?14, ?15, ?15)",
    /* One statement for every field mask: an unmasked field is bound NULL,
     * which coalesce turns into "keep the column" (every column is NOT
     * NULL, so NULL can never be a value to store). */
    [WQ_USER_UPDATE] =
        "UPDATE im_user SET nick_name = coalesce(?3, nick_name), "
        "photo = coalesce(?4, photo), user_sex = coalesce(?5, user_sex), "
        "birth_day = coalesce(?6, birth_day), location = coalesce(?7, location), "
        "self_signature = coalesce(?8, self_signature), "
        "friend_allow_type = coalesce(?9, friend_allow_type), "
        "forbidden_flag = coalesce(?10, forbidden_flag), "
        "disable_add_friend = coalesce(?11, disable_add_friend), "
        "silent_flag = coalesce(?12, silent_flag), user_type = coalesce(?13, user_type), "
        "extra = coalesce(?14, extra), updated_at = ?15 "
        "WHERE app_id = ?1 AND user_id = ?2 AND del_flag = 0",
    [WQ_USER_DELETE] =
        "UPDATE im_user SET del_flag = 1, updated_at = ?3 "
        "WHERE app_id = ?1 AND user_id = ?2 AND del_flag = 0",
    [WQ_ACCOUNT_INSERT] =
        "INSERT INTO app_account(app_id, user_name, user_id, password_hash, created_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5)",
    [WQ_MSG_DUP] =
        "SELECT message_key, sequence, created_at, del_flag FROM im_message_body "
        "WHERE app_id = ?1 AND from_id = ?2 AND message_id = ?3",
    [WQ_USER_STATE] =
        "SELECT del_flag, forbidden_flag, silent_flag FROM im_user "
        "WHERE app_id = ?1 AND user_id = ?2",
    /* Cache loads (see "Sequence cache" above). */
    /* Never below the history either: a counter lost or rolled back on
     * disk must not hand out a sequence again.  (History rows are written
     * in batches, but none waits at a cache miss that matters: the store
     * writes them all when it opens, and the cache keeps every pair used
     * since unless it overflows, when the counter row is exact anyway.) */
    [WQ_SEQ_GET] =
        "SELECT max(coalesce((SELECT max_seq FROM im_conversation_seq "
        "WHERE app_id = ?1 AND user_a = ?2 AND user_b = ?3), 0), "
        "coalesce((SELECT max(sequence) FROM im_message_history "
        "WHERE app_id = ?1 AND owner_id = ?2 AND peer_id = ?3), 0))",
    /* The WHERE makes a stale cache (a value not above the stored one)
     * change nothing instead of moving the pair backwards; the caller
     * checks that one row changed. */
    [WQ_SEQ_PUT] =
        "INSERT INTO im_conversation_seq(app_id, user_a, user_b, max_seq) "
        "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(app_id, user_a, user_b) "
        "DO UPDATE SET max_seq = excluded.max_seq "
        "WHERE excluded.max_seq > im_conversation_seq.max_seq",
    [WQ_CHANGE_MAX] =
        "SELECT coalesce(max(change_seq), 0) FROM im_conversation "
        "WHERE app_id = ?1 AND owner_id = ?2",
    /* One key space for one-to-one and group messages (schema 6). */
    [WQ_KEY_MAX] =
        "SELECT max(coalesce((SELECT max(message_key) FROM im_message_body "
        "WHERE app_id = ?1), 0), coalesce((SELECT max(message_key) FROM im_group_message "
        "WHERE app_id = ?1), 0))",
    [WQ_BODY_INSERT] =
        "INSERT INTO im_message_body(app_id, message_key, from_id, to_id, message_id, body, "
        "extra, message_time, message_random, sequence, created_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    /* A new message brings a deleted conversation back; read_seq, is_top
     * and is_mute are the owner's and stay. */
    [WQ_CONV_UPSERT] =
        "INSERT INTO im_conversation(app_id, owner_id, peer_id, conversation_type, last_seq, "
        "read_seq, change_seq, updated_at) VALUES(?1, ?2, ?3, 0, ?4, ?7, ?5, ?6) "
        "ON CONFLICT(app_id, owner_id, conversation_type, peer_id) DO UPDATE SET "
        "last_seq = max(last_seq, excluded.last_seq), "
        "read_seq = max(read_seq, excluded.read_seq), deleted = 0, "
        "change_seq = excluded.change_seq, updated_at = excluded.updated_at",
    [WQ_CONV_GET] =
        "SELECT last_seq, read_seq, is_top, is_mute, deleted, change_seq FROM im_conversation "
        "WHERE app_id = ?1 AND owner_id = ?2 AND conversation_type = ?3 AND peer_id = ?4",
    [WQ_CONV_SET] =
        "UPDATE im_conversation SET read_seq = ?5, is_top = ?6, is_mute = ?7, deleted = ?8, "
        "change_seq = ?9, updated_at = ?10 "
        "WHERE app_id = ?1 AND owner_id = ?2 AND conversation_type = ?3 AND peer_id = ?4",
    [WQ_CONV_TOUCH] =
        "UPDATE im_conversation SET change_seq = ?5, updated_at = ?6 "
        "WHERE app_id = ?1 AND owner_id = ?2 AND conversation_type = ?3 AND peer_id = ?4",
    [WQ_MSG_BY_KEY] =
        "SELECT from_id, to_id, sequence, created_at, del_flag FROM im_message_body "
        "WHERE app_id = ?1 AND message_key = ?2",
    [WQ_MSG_RECALL] =
        "UPDATE im_message_body SET del_flag = 1, recalled_at = ?3, resync_key = ?4 "
        "WHERE app_id = ?1 AND message_key = ?2 AND del_flag = 0",
    /* A recall moves the message's history rows to a new sync key (schema
     * version 7), so syncOfflineMessage hands the recalled row out again. */
    [WQ_HISTORY_RESYNC] =
        "UPDATE im_message_history SET sync_key = ?5 "
        "WHERE app_id = ?1 AND owner_id = ?2 AND peer_id = ?3 AND sequence = ?4",
    /* Friendship (schema version 4).  A row is read, changed in C and
     * written back whole (WQ_FR_PUT), so every op states its rules in one
     * place.  Sequences are the owner's max + 1 (see store.h). */
    [WQ_USER_ALLOW] =
        "SELECT del_flag, friend_allow_type, disable_add_friend FROM im_user "
        "WHERE app_id = ?1 AND user_id = ?2",
    [WQ_FR_GET] =
        "SELECT status, black, friend_sequence, black_sequence, create_time, remark, "
        "add_source, extra FROM im_friendship WHERE app_id = ?1 AND from_id = ?2 AND to_id = ?3",
    [WQ_FR_PUT] =
        "INSERT INTO im_friendship(app_id, from_id, to_id, remark, status, black, add_source, "
        "extra, friend_sequence, black_sequence, create_time) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT(app_id, from_id, to_id) DO UPDATE SET remark = excluded.remark, "
        "status = excluded.status, black = excluded.black, add_source = excluded.add_source, "
        "extra = excluded.extra, friend_sequence = excluded.friend_sequence, "
        "black_sequence = excluded.black_sequence, create_time = excluded.create_time",
    [WQ_FR_MAX] =
        "SELECT coalesce(max(friend_sequence), 0) FROM im_friendship "
        "WHERE app_id = ?1 AND from_id = ?2",
    [WQ_FR_LIVE] =
        "SELECT to_id FROM im_friendship WHERE app_id = ?1 AND from_id = ?2 AND status = 1 "
        "ORDER BY to_id",
    [WQ_RQ_PENDING] =
        "SELECT id FROM im_friendship_request "
        "WHERE app_id = ?1 AND from_id = ?2 AND to_id = ?3 AND approve_status = 0",
    [WQ_RQ_INSERT] =
        "INSERT INTO im_friendship_request(app_id, from_id, to_id, remark, add_source, "
        "add_wording, create_time, update_time, sequence) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
    [WQ_RQ_REFRESH] =
        "UPDATE im_friendship_request SET remark = ?2, add_source = ?3, add_wording = ?4, "
        "read_status = 0, update_time = ?5, sequence = ?6 WHERE id = ?1",
    [WQ_RQ_GET] =
        "SELECT id, from_id, to_id, remark, read_status, add_source, add_wording, "
        "approve_status, create_time, update_time, sequence FROM im_friendship_request "
        "WHERE app_id = ?1 AND id = ?2",
    [WQ_RQ_DECIDE] =
        "UPDATE im_friendship_request SET approve_status = ?2, read_status = 1, "
        "update_time = ?3, sequence = ?4 WHERE id = ?1",
    [WQ_RQ_READ] =
        "UPDATE im_friendship_request SET read_status = 1, update_time = ?2, sequence = ?3 "
        "WHERE id = ?1",
    [WQ_RQ_MAX] =
        "SELECT coalesce(max(sequence), 0) FROM im_friendship_request "
        "WHERE app_id = ?1 AND to_id = ?2",
    [WQ_RQ_UNREAD] =
        "SELECT id FROM im_friendship_request WHERE app_id = ?1 AND to_id = ?2 "
        "AND read_status = 0 ORDER BY id",
    /* addBlack: the blacklisted user's pending request to the blacklister
     * is rejected and its text cleared (fr_black) */
    [WQ_RQ_BLACKED] =
        "UPDATE im_friendship_request SET approve_status = 2, read_status = 1, remark = '', "
        "add_source = '', add_wording = '', update_time = ?2, sequence = ?3 WHERE id = ?1",
    [WQ_FG_BY_NAME] =
        "SELECT id FROM im_friend_group "
        "WHERE app_id = ?1 AND owner_id = ?2 AND name = ?3 AND del_flag = 0",
    [WQ_FG_INSERT] =
        "INSERT INTO im_friend_group(app_id, owner_id, name, sequence, create_time, "
        "update_time) VALUES(?1, ?2, ?3, ?4, ?5, ?5)",
    [WQ_FG_SET] =
        "UPDATE im_friend_group SET sequence = ?2, del_flag = ?3, update_time = ?4 WHERE id = ?1",
    [WQ_FG_MAX] =
        "SELECT coalesce(max(sequence), 0) FROM im_friend_group "
        "WHERE app_id = ?1 AND owner_id = ?2",
    [WQ_FG_WITH] =
        "SELECT g.id FROM im_friend_group g JOIN im_friend_group_member m "
        "ON m.group_id = g.id AND m.to_id = ?3 "
        "WHERE g.app_id = ?1 AND g.owner_id = ?2 AND g.del_flag = 0 ORDER BY g.id",
    [WQ_FGM_ADD] = "INSERT OR IGNORE INTO im_friend_group_member(group_id, to_id) VALUES(?1, ?2)",
    [WQ_FGM_DEL] = "DELETE FROM im_friend_group_member WHERE group_id = ?1 AND to_id = ?2",
    [WQ_FGM_CLEAR] = "DELETE FROM im_friend_group_member WHERE group_id = ?1",
    /* User status (schema version 5): the whole status is replaced. */
    [WQ_STATUS_PUT] =
        "INSERT INTO im_user_status(app_id, user_id, custom_text, custom_status, updated_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(app_id, user_id) DO UPDATE SET "
        "custom_text = excluded.custom_text, custom_status = excluded.custom_status, "
        "updated_at = excluded.updated_at",
};

/* The filter shared by a user page and its total.  LIKE is ASCII
 * case-insensitive; the pattern arrives escaped with '\'. */
#define USER_PAGE_WHERE                                                             \
    "WHERE app_id = ?1 AND del_flag = 0 "                                           \
    "AND (?2 IS NULL OR nick_name LIKE ?2 ESCAPE '\\') "                            \
    "AND (?3 IS NULL OR user_id <> ?3) "

/* Reader statements, prepared once on every pooled read connection. */
enum rq {
    RQ_BEGIN,
    RQ_COMMIT,
    RQ_ROLLBACK,
    RQ_PING,
    RQ_APP_GET,
    RQ_APP_LIST,
    RQ_USER_GET,
    RQ_USER_PAGE,
    RQ_USER_TOTAL,
    RQ_USER_COUNT,
    RQ_ACCOUNT_GET,
    RQ_MSG_HISTORY_ASC,
    RQ_MSG_HISTORY_DESC,
    RQ_MSG_SYNC,
    RQ_MSG_MAX_KEY,
    RQ_CONV_LIST,
    RQ_CONV_MAX,
    RQ_CONV_GET,
    RQ_FR_GET,
    RQ_FR_LIST,
    RQ_FR_MAX,
    RQ_FR_ALL,
    RQ_RQ_LIST,
    RQ_RQ_MAX,
    RQ_FG_LIST,
    RQ_FG_MAX,
    RQ_FGM_LIST,
    RQ_STATUS_GET,
    RQ_STATUS_PEERS,
    RQ_FR_BLACKED,
    RQ_MSG_HEAD,
    RQ_COUNT
};

/* A message row as its owner sees it (msg_row's column order).  A
 * recalled body is never read out. */
#define MSG_COLS                                                                    \
    "b.message_key, h.sequence, b.message_time, b.message_random, b.created_at, "   \
    "b.from_id, b.to_id, b.message_id, CASE WHEN b.del_flag = 0 THEN b.body END, "  \
    "b.extra, b.del_flag, h.sync_key "                                              \
    "FROM im_message_history h JOIN im_message_body b "                             \
    "ON b.app_id = h.app_id AND b.message_key = h.message_key "
#define MSG_HISTORY_WHERE                                                           \
    "WHERE h.app_id = ?1 AND h.owner_id = ?2 AND h.peer_id = ?3 "                   \
    "AND h.sequence BETWEEN ?4 AND ?5 "
/* History rows are written in sorted batches after the commit
 * (store_sqlite_hist.c): the owner ?2 of app ?1 has them for every message
 * whose key is at or below MSG_APPLIED; the messages above it come from the
 * body (MSG_TAIL, same columns as MSG_COLS).  One snapshot, so each message
 * is read once. */
#define MSG_APPLIED                                                                 \
    "coalesce((SELECT CASE WHEN w.cursor_owner IS NOT NULL AND ?2 <= w.cursor_owner " \
    "THEN w.top_key ELSE w.base_key END FROM im_history_applied w "                 \
    "WHERE w.app_id = ?1), 0)"
#define MSG_TAIL                                                                    \
    "b.message_key, b.sequence, b.message_time, b.message_random, b.created_at, "   \
    "b.from_id, b.to_id, b.message_id, CASE WHEN b.del_flag = 0 THEN b.body END, "  \
    "b.extra, b.del_flag, coalesce(b.resync_key, b.message_key) "                   \
    "FROM im_message_body b INDEXED BY im_message_body_tail "                       \
    "WHERE b.app_id = ?1 AND b.message_key > " MSG_APPLIED " "
#define MSG_TAIL_PAIR                                                               \
    "AND ((b.from_id = ?2 AND b.to_id = ?3) OR (b.from_id = ?3 AND b.to_id = ?2)) " \
    "AND b.sequence BETWEEN ?4 AND ?5"
#define MSG_TAIL_OWNER "AND (b.from_id = ?2 OR b.to_id = ?2) "
/* A group conversation (type 1, schema 6) is not rewritten for every
 * message of the group (read diffusion): its last_seq is the group's
 * msg_seq, or the member's leave_seq once left, and its read_seq the
 * member's read sequence (im_group_member.read_seq).  The last column is,
 * for a one-to-one conversation, how far the peer has read it (the peer's
 * own row's read_seq; a primary-key lookup). */
#define CONV_COLS                                                                   \
    "peer_id, conversation_type, CASE WHEN conversation_type = 1 THEN coalesce(("   \
    "SELECT coalesce(m.leave_seq, g.msg_seq) FROM im_group g JOIN im_group_member m " \
    "ON m.app_id = g.app_id AND m.group_id = g.group_id "                            \
    "AND m.member_id = im_conversation.owner_id WHERE g.app_id = im_conversation.app_id " \
    "AND g.group_id = im_conversation.peer_id), last_seq) ELSE last_seq END, "      \
    "CASE WHEN conversation_type = 1 THEN coalesce((SELECT m.read_seq "               \
    "FROM im_group_member m WHERE m.app_id = im_conversation.app_id "                 \
    "AND m.group_id = im_conversation.peer_id AND m.member_id = im_conversation.owner_id), " \
    "read_seq) ELSE read_seq END, change_seq, updated_at, is_top, is_mute, deleted, " \
    "CASE WHEN conversation_type = 0 THEN coalesce((SELECT p.read_seq "             \
    "FROM im_conversation p WHERE p.app_id = im_conversation.app_id "              \
    "AND p.owner_id = im_conversation.peer_id AND p.conversation_type = 0 "        \
    "AND p.peer_id = im_conversation.owner_id), 0) ELSE 0 END"
/* A friendship row with the peer's nickname (friend_row's column order). */
#define FR_COLS                                                                     \
    "f.from_id, f.to_id, f.remark, f.status, f.black, f.add_source, f.extra, "      \
    "f.friend_sequence, f.black_sequence, f.create_time, coalesce(u.nick_name, '') " \
    "FROM im_friendship f LEFT JOIN im_user u "                                     \
    "ON u.app_id = f.app_id AND u.user_id = f.to_id "
#define REQ_COLS                                                                    \
    "id, from_id, to_id, remark, read_status, add_source, add_wording, "            \
    "approve_status, create_time, update_time, sequence"

static const char *const RQ_SQL[RQ_COUNT] = {
    /* Deferred: the read snapshot starts at the first SELECT and holds
     * until COMMIT, so a multi-statement read sees one committed state. */
    [RQ_BEGIN] = "BEGIN",
    [RQ_COMMIT] = "COMMIT",
    [RQ_ROLLBACK] = "ROLLBACK",
    [RQ_PING] = "SELECT count(*) FROM schema_migrations",
    [RQ_APP_GET] = "SELECT " APP_COLS " FROM app WHERE app_id = ?1",
    [RQ_APP_LIST] = "SELECT " APP_COLS " FROM app ORDER BY app_id",
    [RQ_USER_GET] = "SELECT " USER_COLS " FROM im_user WHERE app_id = ?1 AND user_id = ?2",
    [RQ_USER_PAGE] = "SELECT " USER_COLS " FROM im_user " USER_PAGE_WHERE
                     "ORDER BY user_id LIMIT ?4 OFFSET ?5",
    [RQ_USER_TOTAL] = "SELECT count(*) FROM im_user " USER_PAGE_WHERE,
    [RQ_USER_COUNT] = "SELECT count(*) FROM im_user WHERE app_id = ?1 AND del_flag = 0",
    [RQ_ACCOUNT_GET] =
        "SELECT user_id, password_hash FROM app_account WHERE app_id = ?1 AND user_name = ?2",
    /* Two statements rather than a bound direction: ORDER BY cannot take
     * a parameter, and both walk the history primary key. */
    [RQ_MSG_HISTORY_ASC] =
        "SELECT * FROM (SELECT " MSG_COLS MSG_HISTORY_WHERE "ORDER BY h.sequence ASC LIMIT ?6) "
        "UNION ALL SELECT * FROM (SELECT " MSG_TAIL MSG_TAIL_PAIR ") ORDER BY 2 ASC LIMIT ?6",
    [RQ_MSG_HISTORY_DESC] =
        "SELECT * FROM (SELECT " MSG_COLS MSG_HISTORY_WHERE "ORDER BY h.sequence DESC LIMIT ?6) "
        "UNION ALL SELECT * FROM (SELECT " MSG_TAIL MSG_TAIL_PAIR ") ORDER BY 2 DESC LIMIT ?6",
    [RQ_MSG_SYNC] =
        "SELECT * FROM (SELECT " MSG_COLS "WHERE h.app_id = ?1 AND h.owner_id = ?2 "
        "AND h.sync_key > ?3 ORDER BY h.sync_key LIMIT ?4) "
        "UNION ALL SELECT * FROM (SELECT " MSG_TAIL MSG_TAIL_OWNER
        "AND coalesce(b.resync_key, b.message_key) > ?3) ORDER BY 12 LIMIT ?4",
    [RQ_MSG_MAX_KEY] =
        "SELECT max(coalesce((SELECT max(sync_key) FROM im_message_history "
        "WHERE app_id = ?1 AND owner_id = ?2), 0), coalesce((SELECT "
        "max(coalesce(b.resync_key, b.message_key)) FROM im_message_body b "
        "INDEXED BY im_message_body_tail WHERE b.app_id = ?1 AND b.message_key > " MSG_APPLIED " " MSG_TAIL_OWNER "), 0))",
    [RQ_CONV_LIST] =
        "SELECT " CONV_COLS " FROM im_conversation "
        "WHERE app_id = ?1 AND owner_id = ?2 AND change_seq > ?3 ORDER BY change_seq LIMIT ?4",
    [RQ_CONV_MAX] =
        "SELECT coalesce(max(change_seq), 0) FROM im_conversation "
        "WHERE app_id = ?1 AND owner_id = ?2",
    [RQ_CONV_GET] =
        "SELECT " CONV_COLS " FROM im_conversation "
        "WHERE app_id = ?1 AND owner_id = ?2 AND conversation_type = ?3 AND peer_id = ?4",
    [RQ_FR_GET] = "SELECT " FR_COLS "WHERE f.app_id = ?1 AND f.from_id = ?2 AND f.to_id = ?3",
    [RQ_FR_LIST] =
        "SELECT " FR_COLS "WHERE f.app_id = ?1 AND f.from_id = ?2 AND f.friend_sequence > ?3 "
        "ORDER BY f.friend_sequence LIMIT ?4",
    [RQ_FR_MAX] =
        "SELECT coalesce(max(friend_sequence), 0) FROM im_friendship "
        "WHERE app_id = ?1 AND from_id = ?2",
    [RQ_FR_ALL] =
        "SELECT " FR_COLS "WHERE f.app_id = ?1 AND f.from_id = ?2 AND f.status = 1 "
        "ORDER BY f.to_id",
    [RQ_RQ_LIST] =
        "SELECT " REQ_COLS " FROM im_friendship_request WHERE app_id = ?1 AND to_id = ?2 "
        "AND sequence > ?3 ORDER BY sequence LIMIT ?4",
    [RQ_RQ_MAX] =
        "SELECT coalesce(max(sequence), 0) FROM im_friendship_request "
        "WHERE app_id = ?1 AND to_id = ?2",
    [RQ_FG_LIST] =
        "SELECT id, name, sequence, del_flag, create_time, update_time FROM im_friend_group "
        "WHERE app_id = ?1 AND owner_id = ?2 AND sequence > ?3 ORDER BY sequence LIMIT ?4",
    [RQ_FG_MAX] =
        "SELECT coalesce(max(sequence), 0) FROM im_friend_group "
        "WHERE app_id = ?1 AND owner_id = ?2",
    [RQ_FGM_LIST] = "SELECT to_id FROM im_friend_group_member WHERE group_id = ?1 ORDER BY to_id",
    [RQ_STATUS_GET] =
        "SELECT user_id, custom_text, custom_status, updated_at FROM im_user_status "
        "WHERE app_id = ?1 AND user_id = ?2",
    /* Status peers (store.h): both directions live and unblocked.  The
     * reverse row and the status are primary-key lookups per friend. */
    [RQ_STATUS_PEERS] =
        "SELECT f.to_id, coalesce(s.custom_text, ''), coalesce(s.custom_status, 0), "
        "coalesce(s.updated_at, 0) FROM im_friendship f JOIN im_friendship r "
        "ON r.app_id = f.app_id AND r.from_id = f.to_id AND r.to_id = f.from_id "
        "LEFT JOIN im_user_status s ON s.app_id = f.app_id AND s.user_id = f.to_id "
        "WHERE f.app_id = ?1 AND f.from_id = ?2 AND f.status = 1 AND f.black = 1 "
        "AND r.status = 1 AND r.black = 1 ORDER BY f.to_id",
    [RQ_FR_BLACKED] =
        "SELECT to_id FROM im_friendship WHERE app_id = ?1 AND from_id = ?2 AND black = 2 "
        "ORDER BY to_id",
    /* One message by key, without its body (msg_row's column order). */
    [RQ_MSG_HEAD] =
        "SELECT message_key, sequence, message_time, message_random, created_at, from_id, "
        "to_id, message_id, NULL, NULL, del_flag, message_key FROM im_message_body "
        "WHERE app_id = ?1 AND message_key = ?2",
};

/* One pooled read connection.  Owned by whichever thread borrowed it;
 * on the free list otherwise. */
typedef struct rconn {
    sqlite3 *db;
    sqlite3_stmt *q[RQ_COUNT];
    sqlite3_stmt *x[SQLX_SLOTS]; /* store_sqlite_int.h */
    struct rconn *next_free;
} rconn_t;

/* What a cache entry counts. */
enum ckind {
    CK_PAIR_SEQ = 1, /* (app, user_a, user_b): last message sequence of the pair */
    CK_CHANGE_SEQ,   /* (app, owner): last conversation change_seq of the owner */
    CK_APP_KEY,      /* (app): largest message_key stored */
};

/* Key: kind, app_id and the bytes "s1\0s2\0". */
typedef struct centry {
    struct centry *next;    /* hash chain */
    struct centry *tx_next; /* list of entries the open transaction touched */
    uint64_t op;            /* the op that touched it last */
    int64_t value;
    uint32_t hash;
    int32_t app_id;
    uint8_t kind;
    uint8_t on_tx;
    uint16_t len;
    char key[];
} centry_t;

/* Writer thread only. */
typedef struct seqcache {
    centry_t **b;
    size_t nb;        /* buckets, a power of two */
    size_t count, max;
    size_t hand;      /* eviction clock over the buckets */
    centry_t *tx;     /* touched since tx_begin */
    uint64_t op;      /* current op, bumped by op_begin */
} seqcache_t;

struct store_backend {
    sqlite3 *wdb;
    sqlite3_stmt *w[WQ_COUNT];
    sqlite3_stmt *x[SQLX_SLOTS]; /* store_sqlite_int.h */
    seqcache_t cache;
    sqlite_ckpt_t *ckpt; /* NULL: SQLite's autocheckpoint */
    sqlite_hist_t *hist; /* history rows in sorted batches */

    pthread_mutex_t rmu;  /* guards rfree */
    pthread_cond_t rcv;   /* a connection went back on rfree */
    rconn_t *rpool;       /* nr connections */
    size_t nr;
    rconn_t *rfree;

    int version;
    store_fileid_t fid; /* addition: identity of petrel.db and its WAL (store_fileid.h) */
};

/* ---- sequence cache (writer thread; see the top of the file) ---- */

static int cache_init(seqcache_t *c, size_t max)
{
    if (max == 0)
        max = DEFAULT_SEQ_CACHE_MAX;
    if (max < MIN_SEQ_CACHE_MAX)
        max = MIN_SEQ_CACHE_MAX;
    size_t nb = 16;
    while (nb < max + max / 4)
        nb *= 2;
    c->b = calloc(nb, sizeof *c->b);
    if (!c->b)
        return STORE_EIO;
    c->nb = nb;
    c->max = max;
    return 0;
}

static void cache_free(seqcache_t *c)
{
    for (size_t i = 0; c->b && i < c->nb; i++) {
        centry_t *e = c->b[i];
        while (e) {
            centry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(c->b);
    memset(c, 0, sizeof *c);
}

/* FNV-1a over kind, app_id and the key bytes. */
static uint32_t cache_hash(int kind, int32_t app_id, const char *key, size_t len)
{
    uint32_t h = 2166136261u;
    uint32_t a = (uint32_t)app_id;
    unsigned char head[5] = {(unsigned char)kind, (unsigned char)a, (unsigned char)(a >> 8),
                             (unsigned char)(a >> 16), (unsigned char)(a >> 24)};
    for (size_t i = 0; i < sizeof head; i++)
        h = (h ^ head[i]) * 16777619u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static void cache_remove(seqcache_t *c, centry_t *e)
{
    centry_t **pp = &c->b[e->hash & (c->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    c->count--;
    free(e);
}

/* Drop one entry the open transaction has not touched (those are pinned:
 * an op holds pointers to them, and a rollback must find them).  A clock
 * hand over the buckets spreads evictions; 0 when everything is pinned. */
static int cache_evict_one(seqcache_t *c)
{
    for (size_t n = 0; n < c->nb; n++) {
        centry_t *e = c->b[c->hand++ & (c->nb - 1)];
        while (e && e->on_tx)
            e = e->next;
        if (e) {
            cache_remove(c, e);
            return 1;
        }
    }
    return 0;
}

static void cache_touch(seqcache_t *c, centry_t *e)
{
    e->op = c->op;
    if (!e->on_tx) {
        e->on_tx = 1;
        e->tx_next = c->tx;
        c->tx = e;
    }
}

/* The undone op's entries may hold values its savepoint rolled back. */
static void cache_op_failed(seqcache_t *c)
{
    centry_t **pp = &c->tx;
    while (*pp) {
        centry_t *e = *pp;
        if (e->op == c->op) {
            *pp = e->tx_next;
            cache_remove(c, e);
        } else {
            pp = &e->tx_next;
        }
    }
}

/* committed: the touched values are now on disk; else forget them all. */
static void cache_tx_end(seqcache_t *c, int committed)
{
    centry_t *e = c->tx;
    while (e) {
        centry_t *next = e->tx_next;
        if (committed) {
            e->on_tx = 0;
            e->tx_next = NULL;
        } else {
            cache_remove(c, e);
        }
        e = next;
    }
    c->tx = NULL;
}

static int map_err(int rc)
{
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return STORE_ECONFLICT;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return STORE_EINVAL; /* CHECK, NOT NULL, FOREIGN KEY: bad input */
    return STORE_EIO;
}

static void log_err(sqlite3 *db, const char *what)
{
    LOGE("store sqlite error", "what=\"%s\" err=\"%s\"", what,
         db ? sqlite3_errmsg(db) : "out of memory");
}

/* mkdir -p; only directories we create get 0700, existing ones are left
 * as the operator set them. */
static int mkdir_p(const char *dir)
{
    size_t len = strlen(dir);
    char *p = malloc(len + 1);
    if (!p)
        return STORE_EIO;
    memcpy(p, dir, len + 1);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        /* Some filesystems report EACCES/EROFS before EEXIST for a parent
         * that already exists, so judge by what is there. */
        int e = mkdir(p, 0700) == 0 ? 0 : errno;
        if (e != 0 && e != EEXIST && (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            LOGE("store mkdir failed", "path=\"%s\" err=\"%s\"", p, strerror(e));
            rc = STORE_EIO;
        }
        p[i] = c;
    }
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        LOGE("store data_dir is not a directory", "path=\"%s\"", dir);
        rc = STORE_EIO;
    }
    free(p);
    return rc;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        log_err(db, sql);
        return STORE_EIO;
    }
    return 0;
}

/* Run a prepared statement that returns no rows. */
static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

static int exec_const(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        log_err(db, sql);
        return STORE_EIO;
    }
    return 0;
}

/* Pragma whose result row must equal want (journal_mode answers with the
 * mode it actually got, which silently differs on some filesystems). */
static int pragma_expect(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        log_err(db, sql);
        return STORE_EIO;
    }
    int rc = STORE_EIO;
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(q, 0);
        if (got && strcmp(got, want) == 0)
            rc = 0;
        else
            LOGE("store pragma refused", "sql=\"%s\" got=\"%s\" want=\"%s\"", sql,
                 got ? got : "(null)", want);
    } else {
        log_err(db, sql);
    }
    sqlite3_finalize(q);
    return rc;
}

static int open_conn(const char *path, int flags, int busy_ms, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_err(db, path);
        sqlite3_close(db);
        *out = NULL;
        return STORE_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms);
    *out = db;
    if (exec_const(db, "PRAGMA foreign_keys = ON") != 0)
        return STORE_EIO;
    /* Statement journals (one per savepoint'ed statement) would otherwise
     * go to temp files: ~25-30% of server CPU on the message path
     * (docs/PERFORMANCE.md).  They are per-statement undo data, not part
     * of durability, which the WAL provides. */
    if (exec_const(db, "PRAGMA temp_store = MEMORY") != 0)
        return STORE_EIO;
    return 0;
}

static void sqlite_close(store_backend_t *be)
{
    if (!be)
        return;
    /* Readers first, so the writer is the last connection and its close
     * checkpoints the WAL back into the main file. */
    for (size_t i = 0; be->rpool && i < be->nr; i++) {
        rconn_t *c = &be->rpool[i];
        for (int k = 0; k < RQ_COUNT; k++)
            sqlite3_finalize(c->q[k]);
        for (int k = 0; k < SQLX_SLOTS; k++)
            sqlite3_finalize(c->x[k]);
        if (sqlite3_close(c->db) != SQLITE_OK)
            log_err(c->db, "close reader");
    }
    free(be->rpool);
    if (be->hist && sqlite_hist_flush(be->hist) != 0)
        LOGW("store closing with history rows still to write", "detail=\"the next start writes them\"");
    sqlite_hist_close(be->hist);
    be->hist = NULL;
    sqlite_ckpt_stop(be->ckpt);
    store_fileid_free(&be->fid);
    cache_free(&be->cache);
    for (int k = 0; k < WQ_COUNT; k++)
        sqlite3_finalize(be->w[k]);
    for (int k = 0; k < SQLX_SLOTS; k++)
        sqlite3_finalize(be->x[k]);
    if (sqlite3_close(be->wdb) != SQLITE_OK)
        log_err(be->wdb, "close writer");
    pthread_cond_destroy(&be->rcv);
    pthread_mutex_destroy(&be->rmu);
    free(be);
}

/* query_only turns any accidental write on a reader into an error.  (Not
 * SQLITE_OPEN_READONLY: a read-only WAL connection cannot create the -shm
 * index when it is the first one to need it.) */
static int open_reader(const char *path, int busy_ms, rconn_t *c)
{
    int rc = open_conn(path, SQLITE_OPEN_READWRITE, busy_ms, &c->db);
    if (rc == 0)
        rc = exec_const(c->db, "PRAGMA query_only = ON");
    for (int k = 0; k < RQ_COUNT && rc == 0; k++)
        rc = prep(c->db, RQ_SQL[k], &c->q[k]);
    return rc;
}

static int sqlite_open(const store_config_t *cfg, store_backend_t **out)
{
    *out = NULL;
    int rc = mkdir_p(cfg->data_dir);
    if (rc != 0)
        return rc;
    size_t plen = strlen(cfg->data_dir) + sizeof "/petrel.db";
    char *path = malloc(plen);
    if (!path)
        return STORE_EIO;
    snprintf(path, plen, "%s/petrel.db", cfg->data_dir);

    store_backend_t *be = calloc(1, sizeof *be);
    if (!be) {
        free(path);
        return STORE_EIO;
    }
    pthread_mutex_init(&be->rmu, NULL);
    pthread_cond_init(&be->rcv, NULL);
    int busy_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
    size_t nr = cfg->read_conns > 0 ? (size_t)cfg->read_conns : DEFAULT_READ_CONNS;
    if (nr > MAX_READ_CONNS)
        nr = MAX_READ_CONNS;

    rc = cache_init(&be->cache, cfg->seq_cache_max);
    if (rc == 0)
        rc = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_ms, &be->wdb);
    if (rc == 0)
        rc = pragma_expect(be->wdb, "PRAGMA journal_mode = WAL", "wal");
    if (rc == 0)
        rc = exec_const(be->wdb, cfg->synchronous_full ? "PRAGMA synchronous = FULL"
                                                       : "PRAGMA synchronous = NORMAL");
    if (rc == 0)
        rc = store_migrate_sqlite(be->wdb, &be->version);
    for (int k = 0; k < WQ_COUNT && rc == 0; k++)
        rc = prep(be->wdb, WQ_SQL[k], &be->w[k]);
    if (rc == 0 && sqlite_hist_open(be->wdb, cfg->history_batch > 0 ? cfg->history_batch
                                                                    : DEFAULT_HISTORY_BATCH,
                                    &be->hist) != 0)
        rc = STORE_EIO;

    /* Readers open after migrations so they never see a half-built
     * schema (their statements are prepared against the final one). */
    if (rc == 0) {
        be->rpool = calloc(nr, sizeof *be->rpool);
        if (!be->rpool)
            rc = STORE_EIO;
        else
            be->nr = nr;
    }
    for (size_t i = 0; i < be->nr && rc == 0; i++) {
        rc = open_reader(path, busy_ms, &be->rpool[i]);
        be->rpool[i].next_free = be->rfree;
        be->rfree = &be->rpool[i];
    }
    if (rc == 0 && cfg->wal_checkpoint_pages > 0)
        rc = sqlite_ckpt_start(path, be->wdb, cfg->wal_checkpoint_pages, cfg->synchronous_full,
                               busy_ms, &be->ckpt);
    if (rc == 0 && store_fileid_init(&be->fid, path) != 0) {
        LOGE("store cannot stat its database file", "path=\"%s\"", path);
        rc = STORE_EIO;
    }
    free(path);
    if (rc != 0) {
        sqlite_close(be);
        return rc;
    }
    *out = be;
    return 0;
}

static int sqlite_schema_version(store_backend_t *be)
{
    return be->version;
}

/* ---- writer ---- */

static int sqlite_tx_begin(store_backend_t *be)
{
    int rc = run(be->w[WQ_BEGIN]);
    if (rc != 0) {
        log_err(be->wdb, "BEGIN");
        return STORE_EIO;
    }
    return 0;
}

static int sqlite_tx_commit(store_backend_t *be)
{
    int rc = run(be->w[WQ_COMMIT]);
    if (rc != 0) {
        log_err(be->wdb, "COMMIT");
        return STORE_EIO; /* tx_rollback follows and drops the cache's changes */
    }
    cache_tx_end(&be->cache, 1);
    return 0;
}

static void sqlite_tx_rollback(store_backend_t *be)
{
    cache_tx_end(&be->cache, 0);
    /* SQLite may already have rolled back by itself (I/O error, full disk). */
    if (!sqlite3_get_autocommit(be->wdb) && run(be->w[WQ_ROLLBACK]) != 0)
        log_err(be->wdb, "ROLLBACK");
}

static void sqlite_after_batch(store_backend_t *be)
{
    sqlite_hist_after_batch(be->hist);
    sqlite_ckpt_after_batch(be->ckpt);
}

static void sqlite_stats(store_backend_t *be, store_stats_t *out)
{
    sqlite_hist_stats_t hs;
    sqlite_hist_stats(be->hist, &hs);
    out->history_rows = hs.rows;
    out->history_chunks = hs.chunks;
    out->history_waiting = hs.waiting;
    if (!be->ckpt)
        return;
    sqlite_ckpt_stats_t cs;
    sqlite_ckpt_stats(be->ckpt, &cs);
    out->ckpt_passes = cs.passes;
    out->ckpt_writer = cs.writer_tails + cs.writer_restarts;
    out->ckpt_complete = cs.complete;
}

/* Addition (issue 14, item 17): is petrel.db (and its WAL) still the file
 * the connections write into?  Any thread; blocking (stat). */
static int sqlite_file_check(store_backend_t *be, const char **why)
{
    return store_fileid_check(&be->fid, why) == 0 ? 0 : STORE_EGONE;
}

/* Addition: the health probe's write, inside an op of the writer.  A row
 * inserted and deleted again dirties a page, so the COMMIT really writes
 * (and syncs) the WAL, which is what a full disk refuses, and leaves no
 * trace.  Constant SQL, run rarely (after failures only). */
static int sqlite_probe(store_backend_t *be, int64_t now_ms)
{
    (void)now_ms;
    return exec_const(be->wdb, "INSERT INTO schema_migrations(version, name, applied_at) "
                               "VALUES(0, 'write probe', 0); "
                               "DELETE FROM schema_migrations WHERE version = 0")
               ? STORE_EIO : 0;
}

static int sqlite_op_begin(store_backend_t *be)
{
    be->cache.op++;
    return run(be->w[WQ_SP]) == 0 ? 0 : STORE_EIO;
}

static int sqlite_op_end(store_backend_t *be, int failed)
{
    if (failed)
        cache_op_failed(&be->cache);
    /* Some errors end the whole transaction implicitly; then the savepoint
     * is gone and the batch cannot commit. */
    if (sqlite3_get_autocommit(be->wdb))
        return STORE_EIO;
    /* ROLLBACK TO / RELEASE of "op" also cancel any "row" savepoint an op
     * that failed half-way left open. */
    if (failed && run(be->w[WQ_SP_ROLLBACK]) != 0)
        return STORE_EIO;
    /* RELEASE after ROLLBACK TO too: ROLLBACK TO leaves the savepoint open. */
    return run(be->w[WQ_SP_RELEASE]) == 0 ? 0 : STORE_EIO;
}

/* Run s and drop its bindings: they are SQLITE_STATIC pointers into the
 * caller's buffers, which must not be reachable once the op is done. */
static int run_unbind(sqlite3_stmt *s)
{
    int rc = run(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static void bind_str(sqlite3_stmt *s, int idx, const char *v)
{
    sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

/* Single-row writer reads, and the cache lookups built on them (these need
 * the writer's statements, hence here rather than with the cache). */

static void w_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Step a writer query once: 1 a row is ready (read it, then w_done), 0 no
 * row, or a negative STORE_E* (both already reset). */
static int w_step(store_backend_t *be, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    w_done(s);
    if (rc == SQLITE_DONE)
        return 0;
    log_err(be->wdb, what);
    return map_err(rc);
}

/* The stored value behind a cache miss (0 when there is none yet). */
static int cache_load(store_backend_t *be, int kind, int32_t app_id, const char *s1,
                      const char *s2, int64_t *v)
{
    sqlite3_stmt *s;
    switch (kind) {
    case CK_PAIR_SEQ:
        s = be->w[WQ_SEQ_GET];
        bind_str(s, 2, s1);
        bind_str(s, 3, s2);
        break;
    case CK_CHANGE_SEQ:
        s = be->w[WQ_CHANGE_MAX];
        bind_str(s, 2, s1);
        break;
    default:
        s = be->w[WQ_KEY_MAX];
        break;
    }
    sqlite3_bind_int(s, 1, app_id);
    *v = 0;
    int rc = w_step(be, s, "sequence load");
    if (rc == 1) {
        *v = sqlite3_column_int64(s, 0);
        w_done(s);
        rc = 0;
    }
    return rc;
}

/* The entry for (kind, app_id, s1, s2), loading it on a miss, touched by
 * the current op (so it stays put until the transaction ends).  The op
 * writes the new value into (*out)->value once it is in the database. */
static int cache_get(store_backend_t *be, int kind, int32_t app_id, const char *s1,
                     const char *s2, centry_t **out)
{
    seqcache_t *c = &be->cache;
    char key[2 * (STORE_ID_MAX + 1)];
    size_t l1 = strlen(s1), l2 = strlen(s2);
    if (l1 > STORE_ID_MAX || l2 > STORE_ID_MAX)
        return STORE_EINVAL;
    memcpy(key, s1, l1 + 1);
    memcpy(key + l1 + 1, s2, l2 + 1);
    size_t len = l1 + l2 + 2;
    uint32_t h = cache_hash(kind, app_id, key, len);
    centry_t *e = c->b[h & (c->nb - 1)];
    while (e && !(e->hash == h && e->kind == kind && e->app_id == app_id && e->len == len &&
                  memcmp(e->key, key, len) == 0))
        e = e->next;
    if (!e) {
        int64_t v;
        int rc = cache_load(be, kind, app_id, s1, s2, &v);
        if (rc != 0)
            return rc;
        if (c->count >= c->max)
            cache_evict_one(c); /* if all are pinned, exceed max until the commit */
        e = malloc(sizeof *e + len);
        if (!e)
            return STORE_EIO;
        memset(e, 0, sizeof *e);
        e->value = v;
        e->hash = h;
        e->app_id = app_id;
        e->kind = (uint8_t)kind;
        e->len = (uint16_t)len;
        memcpy(e->key, key, len);
        e->next = c->b[h & (c->nb - 1)];
        c->b[h & (c->nb - 1)] = e;
        c->count++;
    }
    cache_touch(c, e);
    *out = e;
    return 0;
}

static int sqlite_app_put(store_backend_t *be, const store_app_t *a)
{
    sqlite3_stmt *s = be->w[WQ_APP_PUT];
    sqlite3_bind_int(s, 1, a->app_id);
    bind_str(s, 2, a->secret);
    bind_str(s, 3, a->admin_id);
    sqlite3_bind_int(s, 4, a->login_policy);
    sqlite3_bind_int(s, 5, a->max_per_platform);
    bind_str(s, 6, a->settings);
    sqlite3_bind_int64(s, 7, a->created_at);
    return run_unbind(s);
}

static int user_insert(store_backend_t *be, const store_user_t *u, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_USER_INSERT];
    sqlite3_bind_int(s, 1, u->app_id);
    bind_str(s, 2, u->user_id);
    bind_str(s, 3, u->nick_name);
    bind_str(s, 4, u->photo);
    sqlite3_bind_int(s, 5, u->user_sex);
    bind_str(s, 6, u->birth_day);
    bind_str(s, 7, u->location);
    bind_str(s, 8, u->self_signature);
    sqlite3_bind_int(s, 9, u->friend_allow_type);
    sqlite3_bind_int(s, 10, u->forbidden_flag);
    sqlite3_bind_int(s, 11, u->disable_add_friend);
    sqlite3_bind_int(s, 12, u->silent_flag);
    sqlite3_bind_int(s, 13, u->user_type);
    bind_str(s, 14, u->extra);
    sqlite3_bind_int64(s, 15, now_ms);
    return run_unbind(s);
}

static int sqlite_user_import(store_backend_t *be, const store_user_t *users, int *row_rc,
                              size_t n, int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        if (row_rc[i] != 0)
            continue;
        /* A row savepoint although each row is one INSERT today (which
         * SQLite would undo alone): it keeps rows isolated if a row ever
         * grows a second statement (an index table, a sequence). */
        if (run(be->w[WQ_ROW_SP]) != 0)
            return STORE_EIO;
        int rc = user_insert(be, &users[i], now_ms);
        if (rc == STORE_EIO) {
            log_err(be->wdb, "user import");
            return STORE_EIO; /* not the row's fault: fail the op */
        }
        row_rc[i] = rc;
        if (rc != 0 && run(be->w[WQ_ROW_ROLLBACK]) != 0)
            return STORE_EIO;
        if (run(be->w[WQ_ROW_RELEASE]) != 0)
            return STORE_EIO;
    }
    return 0;
}

static void bind_text_if(sqlite3_stmt *s, unsigned mask, unsigned bit, int idx, const char *v)
{
    if (mask & bit)
        bind_str(s, idx, v);
}

static void bind_int_if(sqlite3_stmt *s, unsigned mask, unsigned bit, int idx, int v)
{
    if (mask & bit)
        sqlite3_bind_int(s, idx, v);
}

static int sqlite_user_update(store_backend_t *be, const store_user_t *u, unsigned mask,
                              int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_USER_UPDATE];
    sqlite3_clear_bindings(s); /* unmasked fields stay NULL = keep */
    sqlite3_bind_int(s, 1, u->app_id);
    bind_str(s, 2, u->user_id);
    bind_text_if(s, mask, STORE_USER_F_NICK_NAME, 3, u->nick_name);
    bind_text_if(s, mask, STORE_USER_F_PHOTO, 4, u->photo);
    bind_int_if(s, mask, STORE_USER_F_USER_SEX, 5, u->user_sex);
    bind_text_if(s, mask, STORE_USER_F_BIRTH_DAY, 6, u->birth_day);
    bind_text_if(s, mask, STORE_USER_F_LOCATION, 7, u->location);
    bind_text_if(s, mask, STORE_USER_F_SELF_SIGNATURE, 8, u->self_signature);
    bind_int_if(s, mask, STORE_USER_F_FRIEND_ALLOW_TYPE, 9, u->friend_allow_type);
    bind_int_if(s, mask, STORE_USER_F_FORBIDDEN_FLAG, 10, u->forbidden_flag);
    bind_int_if(s, mask, STORE_USER_F_DISABLE_ADD_FRIEND, 11, u->disable_add_friend);
    bind_int_if(s, mask, STORE_USER_F_SILENT_FLAG, 12, u->silent_flag);
    bind_int_if(s, mask, STORE_USER_F_USER_TYPE, 13, u->user_type);
    bind_text_if(s, mask, STORE_USER_F_EXTRA, 14, u->extra);
    sqlite3_bind_int64(s, 15, now_ms);
    int rc = run_unbind(s);
    if (rc == 0 && sqlite3_changes(be->wdb) == 0)
        rc = STORE_ENOTFOUND;
    return rc;
}

static int sqlite_user_delete(store_backend_t *be, int32_t app_id,
                              const char (*ids)[STORE_ID_MAX + 1], int *row_rc, size_t n,
                              int64_t now_ms)
{
    /* No row savepoints: each row is one UPDATE, which SQLite undoes alone
     * on failure, and the only failures left are I/O errors that lose the
     * whole op anyway. */
    sqlite3_stmt *s = be->w[WQ_USER_DELETE];
    for (size_t i = 0; i < n; i++) {
        if (row_rc[i] != 0)
            continue;
        sqlite3_bind_int(s, 1, app_id);
        bind_str(s, 2, ids[i]);
        sqlite3_bind_int64(s, 3, now_ms);
        int rc = run_unbind(s);
        if (rc != 0) {
            log_err(be->wdb, "user delete");
            return STORE_EIO;
        }
        row_rc[i] = sqlite3_changes(be->wdb) > 0 ? 0 : STORE_ENOTFOUND;
    }
    return 0;
}

static int sqlite_account_create(store_backend_t *be, int32_t app_id, const char *user_name,
                                 const char *user_id, const char *password_hash,
                                 int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_ACCOUNT_INSERT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_name);
    bind_str(s, 3, user_id);
    bind_str(s, 4, password_hash);
    sqlite3_bind_int64(s, 5, now_ms);
    return run_unbind(s);
}

static int sqlite_account_register(store_backend_t *be, const store_user_t *u,
                                   const char *user_name, const char *password_hash,
                                   int64_t now_ms)
{
    int rc = user_insert(be, u, now_ms);
    if (rc == 0)
        rc = sqlite_account_create(be, u->app_id, user_name, u->user_id, password_hash, now_ms);
    if (rc == STORE_EIO)
        log_err(be->wdb, "account register");
    return rc;
}

/* ---- messages (writer) ---- */

static int col_text(sqlite3_stmt *q, int col, char *dst, size_t cap);
static int request_row(sqlite3_stmt *q, void *dst);
static int msg_friend_check(store_backend_t *be, const store_msg_t *m, int *reject);

/* Bind the conversation key (app, owner, type, peer) as ?1..?4. */
static void bind_conv(sqlite3_stmt *s, int32_t app_id, const char *owner, int type,
                      const char *peer)
{
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    sqlite3_bind_int(s, 3, type);
    bind_str(s, 4, peer);
}

/* *reject = the seed code that keeps user_id from taking part (the flags
 * only matter for the sender), 0 when it may. */
static int user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                      int *reject)
{
    sqlite3_stmt *s = be->w[WQ_USER_STATE];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_id);
    int rc = w_step(be, s, "user state");
    if (rc < 0)
        return rc;
    *reject = 0;
    if (rc == 0) {
        *reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    int del = sqlite3_column_int(s, 0), forbidden = sqlite3_column_int(s, 1),
        silent = sqlite3_column_int(s, 2);
    w_done(s);
    if (del)
        *reject = PETREL_ERR_USER_NOT_FOUND;
    else if (sender && forbidden)
        *reject = PETREL_ERR_SENDER_FORBIDDEN;
    else if (sender && silent)
        *reject = PETREL_ERR_SENDER_SILENT;
    return 0;
}

/* The owner's next change_seq: *e is the owner's cache entry, to be set to
 * *next once the row carrying it is written. */
static int next_change(store_backend_t *be, int32_t app_id, const char *owner, centry_t **e,
                       int64_t *next)
{
    int rc = cache_get(be, CK_CHANGE_SEQ, app_id, owner, "", e);
    if (rc == 0)
        *next = (*e)->value + 1;
    return rc;
}

/* The owner's side of a new message: (re)open the conversation at seq.
 * owner's conversation with peer now ends at seq; when owner sent it
 * (read_upto = seq) the conversation is read up to there too: nobody has
 * their own message unread, and a reply implies the earlier ones were
 * seen.  The receiver passes read_upto 0. */
static int conv_on_message(store_backend_t *be, int32_t app_id, const char *owner,
                           const char *peer, int64_t seq, int64_t read_upto, int64_t now_ms)
{
    centry_t *e;
    int64_t change;
    int rc = next_change(be, app_id, owner, &e, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_CONV_UPSERT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    bind_str(s, 3, peer);
    sqlite3_bind_int64(s, 4, seq);
    sqlite3_bind_int64(s, 5, change);
    sqlite3_bind_int64(s, 6, now_ms);
    sqlite3_bind_int64(s, 7, read_upto);
    rc = run_unbind(s);
    if (rc == 0)
        e->value = change;
    return rc;
}

/* Allocate the pair's next sequence and record it on disk. */
static int next_pair_seq(store_backend_t *be, int32_t app_id, const char *x, const char *y,
                         int64_t *seq)
{
    const char *a = x, *b = y;
    if (strcmp(a, b) > 0) {
        a = y;
        b = x;
    }
    centry_t *e;
    int rc = cache_get(be, CK_PAIR_SEQ, app_id, a, b, &e);
    if (rc != 0)
        return rc;
    int64_t next = e->value + 1;
    sqlite3_stmt *s = be->w[WQ_SEQ_PUT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, a);
    bind_str(s, 3, b);
    sqlite3_bind_int64(s, 4, next);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    if (sqlite3_changes(be->wdb) != 1) {
        /* The disk is ahead of the cache: someone else wrote the table.
         * Failing the op drops the entry, so a retry reloads it. */
        LOGE("store sequence cache was stale", "app_id=%d", (int)app_id);
        return STORE_EIO;
    }
    e->value = next;
    *seq = next;
    return 0;
}

static int body_insert(store_backend_t *be, const store_msg_t *m, int64_t key, int64_t seq,
                       int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_BODY_INSERT];
    sqlite3_bind_int(s, 1, m->app_id);
    sqlite3_bind_int64(s, 2, key);
    bind_str(s, 3, m->from_id);
    bind_str(s, 4, m->to_id);
    bind_str(s, 5, m->message_id);
    bind_str(s, 6, m->body);
    if (m->extra)
        bind_str(s, 7, m->extra);
    else
        sqlite3_bind_null(s, 7);
    sqlite3_bind_int64(s, 8, m->message_time);
    sqlite3_bind_int64(s, 9, m->message_random);
    sqlite3_bind_int64(s, 10, seq);
    sqlite3_bind_int64(s, 11, now_ms);
    return run_unbind(s);
}

static int sqlite_msg_p2p(store_backend_t *be, store_msg_t *m, int64_t now_ms)
{
    /* (a) A resend: answer with the original, write nothing. */
    sqlite3_stmt *s = be->w[WQ_MSG_DUP];
    sqlite3_bind_int(s, 1, m->app_id);
    bind_str(s, 2, m->from_id);
    bind_str(s, 3, m->message_id);
    int rc = w_step(be, s, "message lookup");
    if (rc < 0)
        return rc;
    if (rc == 1) {
        m->message_key = sqlite3_column_int64(s, 0);
        m->sequence = sqlite3_column_int64(s, 1);
        m->created_at = sqlite3_column_int64(s, 2);
        m->del_flag = sqlite3_column_int(s, 3);
        m->duplicate = 1;
        w_done(s);
        return 0;
    }

    /* (b) Both users, before any number is taken. */
    int reject = 0;
    rc = user_check(be, m->app_id, m->from_id, 1, &reject);
    if (rc == 0 && reject == 0)
        rc = user_check(be, m->app_id, m->to_id, 0, &reject);
    if (rc == 0 && reject == 0 && m->flags) /* (b') the app's friendship rules */
        rc = msg_friend_check(be, m, &reject);
    if (rc != 0)
        return rc;
    if (reject != 0) {
        m->reject = reject;
        return 0;
    }

    /* (c) Numbers.  The key is raised above every stored key of the app
     * so keys follow commit order (store.h); normally the proposal is
     * already above. */
    int64_t seq;
    rc = next_pair_seq(be, m->app_id, m->from_id, m->to_id, &seq);
    if (rc != 0)
        return rc;
    centry_t *ke;
    rc = cache_get(be, CK_APP_KEY, m->app_id, "", "", &ke);
    if (rc != 0)
        return rc;
    int64_t key = m->message_key > ke->value ? m->message_key : ke->value + 1;

    /* (d) The body (both owners' history rows follow in a sorted batch,
     * store_sqlite_hist.c), (e) both conversations. */
    rc = body_insert(be, m, key, seq, now_ms);
    if (rc != 0)
        return rc;
    ke->value = key;
    sqlite_hist_note(be->hist, m->app_id);
    rc = conv_on_message(be, m->app_id, m->from_id, m->to_id, seq, seq, now_ms);
    if (rc == 0)
        rc = conv_on_message(be, m->app_id, m->to_id, m->from_id, seq, 0, now_ms);
    if (rc != 0)
        return rc;
    m->message_key = key;
    m->sequence = seq;
    m->created_at = now_ms;
    return 0;
}

typedef struct conv_state {
    int64_t last_seq, read_seq, change_seq;
    int is_top, is_mute, deleted;
} conv_state_t;

static int conv_load(store_backend_t *be, int32_t app_id, const char *owner, int type,
                     const char *peer, conv_state_t *cs)
{
    sqlite3_stmt *s = be->w[WQ_CONV_GET];
    bind_conv(s, app_id, owner, type, peer);
    int rc = w_step(be, s, "conversation get");
    if (rc <= 0)
        return rc == 0 ? STORE_ENOTFOUND : rc;
    cs->last_seq = sqlite3_column_int64(s, 0);
    cs->read_seq = sqlite3_column_int64(s, 1);
    cs->is_top = sqlite3_column_int(s, 2);
    cs->is_mute = sqlite3_column_int(s, 3);
    cs->deleted = sqlite3_column_int(s, 4);
    cs->change_seq = sqlite3_column_int64(s, 5);
    w_done(s);
    return 0;
}

/* Write cs back under the owner's next change_seq (set in cs). */
static int conv_store(store_backend_t *be, int32_t app_id, const char *owner, int type,
                      const char *peer, conv_state_t *cs, int64_t now_ms)
{
    centry_t *e;
    int64_t change;
    int rc = next_change(be, app_id, owner, &e, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_CONV_SET];
    bind_conv(s, app_id, owner, type, peer);
    sqlite3_bind_int64(s, 5, cs->read_seq);
    sqlite3_bind_int(s, 6, cs->is_top);
    sqlite3_bind_int(s, 7, cs->is_mute);
    sqlite3_bind_int(s, 8, cs->deleted);
    sqlite3_bind_int64(s, 9, change);
    sqlite3_bind_int64(s, 10, now_ms);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    e->value = change;
    cs->change_seq = change;
    return 0;
}

static int conv_touch(store_backend_t *be, int32_t app_id, const char *owner,
                      const char *peer, int64_t now_ms);

/* owner read the conversation up to seq.  The peer's row changes too (a
 * new change_seq): it shows owner's read position as peerReadSequence, so
 * the peer's devices learn it from an incremental conversation sync. */
static int sqlite_msg_read(store_backend_t *be, int32_t app_id, const char *owner,
                           const char *peer, int64_t seq, int64_t *read_seq, int *changed,
                           int64_t now_ms)
{
    conv_state_t cs;
    int rc = conv_load(be, app_id, owner, 0, peer, &cs);
    if (rc != 0)
        return rc;
    int64_t upto = seq < cs.last_seq ? seq : cs.last_seq;
    *changed = upto > cs.read_seq;
    if (*changed) {
        cs.read_seq = upto;
        rc = conv_store(be, app_id, owner, 0, peer, &cs, now_ms);
        if (rc == 0)
            rc = conv_touch(be, app_id, peer, owner, now_ms);
    }
    *read_seq = cs.read_seq;
    return rc;
}

static int sqlite_conv_update(store_backend_t *be, int32_t app_id, const char *owner,
                              const char *peer, int type, int is_top, int is_mute, int deleted,
                              int64_t *change_seq, int64_t now_ms)
{
    conv_state_t cs;
    int rc = conv_load(be, app_id, owner, type, peer, &cs);
    if (rc != 0)
        return rc;
    int changed = (is_top >= 0 && is_top != cs.is_top) ||
                  (is_mute >= 0 && is_mute != cs.is_mute) ||
                  (deleted >= 0 && deleted != cs.deleted);
    if (changed) {
        if (is_top >= 0)
            cs.is_top = is_top;
        if (is_mute >= 0)
            cs.is_mute = is_mute;
        if (deleted >= 0)
            cs.deleted = deleted;
        rc = conv_store(be, app_id, owner, type, peer, &cs, now_ms);
    }
    *change_seq = cs.change_seq;
    return rc;
}

/* Give owner's one-to-one conversation with peer the next change_seq, so
 * its devices learn of a change to a message in it.  A missing row (not
 * possible for a stored message) takes no number. */
static int conv_touch(store_backend_t *be, int32_t app_id, const char *owner,
                      const char *peer, int64_t now_ms)
{
    centry_t *e;
    int64_t change;
    int rc = next_change(be, app_id, owner, &e, &change);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_CONV_TOUCH];
    bind_conv(s, app_id, owner, 0, peer);
    sqlite3_bind_int64(s, 5, change);
    sqlite3_bind_int64(s, 6, now_ms);
    rc = run_unbind(s);
    if (rc == 0 && sqlite3_changes(be->wdb) == 1)
        e->value = change;
    return rc;
}

static int sqlite_msg_recall(store_backend_t *be, int32_t app_id, int64_t message_key,
                             const char *requester, int is_admin, int64_t now_ms,
                             int64_t window_ms, store_recall_t *out)
{
    sqlite3_stmt *s = be->w[WQ_MSG_BY_KEY];
    sqlite3_bind_int(s, 1, app_id);
    sqlite3_bind_int64(s, 2, message_key);
    int rc = w_step(be, s, "message get");
    if (rc < 0)
        return rc;
    if (rc == 0) {
        out->reject = PETREL_ERR_MSG_NOT_FOUND;
        return 0;
    }
    if (col_text(s, 0, out->from_id, sizeof out->from_id) != 0 ||
        col_text(s, 1, out->to_id, sizeof out->to_id) != 0) {
        w_done(s);
        LOGE("store message row has an oversized id", "app_id=%d", (int)app_id);
        return STORE_EIO;
    }
    out->sequence = sqlite3_column_int64(s, 2);
    int64_t created_at = sqlite3_column_int64(s, 3);
    int del = sqlite3_column_int(s, 4);
    w_done(s);

    if (!is_admin && strcmp(requester, out->from_id) != 0)
        out->reject = PETREL_ERR_NOT_OPERATOR;
    else if (del)
        out->reject = PETREL_ERR_RECALLED;
    else if (now_ms - created_at > window_ms)
        out->reject = PETREL_ERR_RECALL_TIMEOUT;
    if (out->reject != 0)
        return 0;

    /* Both owners' rows get the next message key as their sync key: a
     * device that synced past the message meets it again, recalled.  The
     * body keeps it too, for rows not yet written (store_sqlite_hist.c);
     * the history updates below then change nothing. */
    int64_t sync_key = 0;
    rc = sqlx_take_key(be, app_id, 0, &sync_key);
    if (rc == 0) {
        s = be->w[WQ_MSG_RECALL];
        sqlite3_bind_int(s, 1, app_id);
        sqlite3_bind_int64(s, 2, message_key);
        sqlite3_bind_int64(s, 3, now_ms);
        sqlite3_bind_int64(s, 4, sync_key);
        rc = run_unbind(s);
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        s = be->w[WQ_HISTORY_RESYNC];
        sqlite3_bind_int(s, 1, app_id);
        bind_str(s, 2, i ? out->to_id : out->from_id);
        bind_str(s, 3, i ? out->from_id : out->to_id);
        sqlite3_bind_int64(s, 4, out->sequence);
        sqlite3_bind_int64(s, 5, sync_key);
        rc = run_unbind(s);
    }
    if (rc == 0)
        rc = conv_touch(be, app_id, out->from_id, out->to_id, now_ms);
    if (rc == 0)
        rc = conv_touch(be, app_id, out->to_id, out->from_id, now_ms);
    return rc;
}

/* ---- friendship (writer) ---- */

/* The next value of an owner's sequence: stmt (one of the *_MAX
 * statements) returns the owner's largest stored one.  Rows carrying
 * sequences are never deleted and the writer is the only allocator, so
 * max + 1 read inside the transaction is never reused. */
static int next_owner_seq(store_backend_t *be, int wq, int32_t app_id, const char *owner,
                          int64_t *seq)
{
    sqlite3_stmt *s = be->w[wq];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    int rc = w_step(be, s, "owner sequence");
    if (rc < 0)
        return rc;
    *seq = 1;
    if (rc == 1) {
        *seq = sqlite3_column_int64(s, 0) + 1;
        w_done(s);
    }
    return 0;
}

/* *live: user_id is a user of the app and not deleted; *allow (may be
 * NULL): its friend_allow_type; *no_add (may be NULL): its
 * disable_add_friend. */
static int user_live_add(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                         int *allow, int *no_add)
{
    sqlite3_stmt *s = be->w[WQ_USER_ALLOW];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_id);
    int rc = w_step(be, s, "user allow");
    *live = 0;
    if (rc <= 0)
        return rc;
    *live = sqlite3_column_int(s, 0) == 0;
    if (allow)
        *allow = sqlite3_column_int(s, 1);
    if (no_add)
        *no_add = sqlite3_column_int(s, 2);
    w_done(s);
    return 0;
}

static int user_live(store_backend_t *be, int32_t app_id, const char *user_id, int *live,
                     int *allow)
{
    return user_live_add(be, app_id, user_id, live, allow, NULL);
}

static int fr_get(store_backend_t *be, int32_t app_id, const char *from, const char *to,
                  store_friend_t *f, int *found);

/* Blacklist rule of a new friendship a <-> b (add, approve): 30006 when a
 * blacklisted b, 30007 when b blacklisted a, else 0 in *reject. */
static int fr_black_rule(store_backend_t *be, int32_t app_id, const char *a, const char *b,
                         int *reject)
{
    store_friend_t ab, ba;
    int fab, fba;
    int rc = fr_get(be, app_id, a, b, &ab, &fab);
    if (rc == 0)
        rc = fr_get(be, app_id, b, a, &ba, &fba);
    if (rc != 0)
        return rc;
    *reject = ab.black == 2 ? PETREL_ERR_BLACKED_BY_YOU
            : ba.black == 2 ? PETREL_ERR_BLACKED_BY_PEER : 0;
    return 0;
}

/* The row from -> to into f (ids set, the rest zero, black 1 when there
 * is none); *found says which. */
static int fr_get(store_backend_t *be, int32_t app_id, const char *from, const char *to,
                  store_friend_t *f, int *found)
{
    memset(f, 0, sizeof *f);
    memcpy(f->from_id, from, strlen(from) + 1);
    memcpy(f->to_id, to, strlen(to) + 1);
    f->black = 1;
    *found = 0;
    sqlite3_stmt *s = be->w[WQ_FR_GET];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, from);
    bind_str(s, 3, to);
    int rc = w_step(be, s, "friendship get");
    if (rc <= 0)
        return rc;
    f->status = sqlite3_column_int(s, 0);
    f->black = sqlite3_column_int(s, 1);
    f->friend_sequence = sqlite3_column_int64(s, 2);
    f->black_sequence = sqlite3_column_int64(s, 3);
    f->create_time = sqlite3_column_int64(s, 4);
    rc = 0;
    if (col_text(s, 5, f->remark, sizeof f->remark) != 0 ||
        col_text(s, 6, f->add_source, sizeof f->add_source) != 0 ||
        col_text(s, 7, f->extra, sizeof f->extra) != 0) {
        LOGE("store friendship row has an oversized text column", "app_id=%d", (int)app_id);
        rc = STORE_EIO;
    }
    w_done(s);
    *found = rc == 0;
    return rc;
}

/* Write f back under its owner's next sequence (f->friend_sequence);
 * black_changed: it is also the row's black_sequence. */
static int fr_store(store_backend_t *be, int32_t app_id, store_friend_t *f, int black_changed)
{
    int rc = next_owner_seq(be, WQ_FR_MAX, app_id, f->from_id, &f->friend_sequence);
    if (rc != 0)
        return rc;
    if (black_changed)
        f->black_sequence = f->friend_sequence;
    sqlite3_stmt *s = be->w[WQ_FR_PUT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, f->from_id);
    bind_str(s, 3, f->to_id);
    bind_str(s, 4, f->remark);
    sqlite3_bind_int(s, 5, f->status);
    sqlite3_bind_int(s, 6, f->black);
    bind_str(s, 7, f->add_source);
    bind_str(s, 8, f->extra);
    sqlite3_bind_int64(s, 9, f->friend_sequence);
    sqlite3_bind_int64(s, 10, f->black_sequence);
    sqlite3_bind_int64(s, 11, f->create_time);
    return run_unbind(s);
}

/* Column 0 of every row of a bound writer query, collected before the
 * caller modifies the table the query reads (text ids or integers). */
static int w_collect_ids(store_backend_t *be, sqlite3_stmt *s, char (**out)[STORE_ID_MAX + 1],
                         size_t *n)
{
    char (*v)[STORE_ID_MAX + 1] = NULL;
    size_t len = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *nv = realloc(v, ncap * sizeof *v);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (col_text(s, 0, v[len], sizeof v[len]) != 0) {
            ret = STORE_EIO;
            break;
        }
        len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        log_err(be->wdb, "collect ids");
        ret = map_err(rc);
    }
    w_done(s);
    if (ret != 0) {
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

static int w_collect_ints(store_backend_t *be, sqlite3_stmt *s, int64_t **out, size_t *n)
{
    int64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, ncap * sizeof *v);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[len++] = sqlite3_column_int64(s, 0);
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        log_err(be->wdb, "collect ints");
        ret = map_err(rc);
    }
    w_done(s);
    if (ret != 0) {
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

/* A friend list changed: give it owner's next friend-list sequence. */
static int fg_touch(store_backend_t *be, int32_t app_id, const char *owner, int64_t id,
                    int del_flag, int64_t now_ms, int64_t *seq)
{
    int rc = next_owner_seq(be, WQ_FG_MAX, app_id, owner, seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_FG_SET];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, *seq);
    sqlite3_bind_int(s, 3, del_flag);
    sqlite3_bind_int64(s, 4, now_ms);
    return run_unbind(s);
}

static int fgm_run(store_backend_t *be, int wq, int64_t group_id, const char *to_id)
{
    sqlite3_stmt *s = be->w[wq];
    sqlite3_bind_int64(s, 1, group_id);
    if (to_id)
        bind_str(s, 2, to_id);
    return run_unbind(s);
}

/* peer is no friend of owner any more: out of owner's live lists. */
static int fg_drop_member(store_backend_t *be, int32_t app_id, const char *owner,
                          const char *peer, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_FG_WITH];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    bind_str(s, 3, peer);
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = w_collect_ints(be, s, &ids, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t seq;
        rc = fgm_run(be, WQ_FGM_DEL, ids[i], peer);
        if (rc == 0)
            rc = fg_touch(be, app_id, owner, ids[i], 0, now_ms, &seq);
    }
    free(ids);
    return rc;
}

/* from -> to is a friendship from now on, unless it already is (*seq 0).
 * tmpl gives remark/add_source/extra for a row that is new; an existing
 * row keeps its own remark and extra unless use_tmpl. */
static int fr_befriend_one(store_backend_t *be, int32_t app_id, const char *from,
                           const char *to, const store_friend_t *tmpl, int use_tmpl,
                           int64_t now_ms, int64_t *seq)
{
    store_friend_t f;
    int found;
    *seq = 0;
    int rc = fr_get(be, app_id, from, to, &f, &found);
    if (rc != 0 || f.status == 1)
        return rc;
    if (use_tmpl || !found) {
        memcpy(f.remark, use_tmpl ? tmpl->remark : "", use_tmpl ? strlen(tmpl->remark) + 1 : 1);
        memcpy(f.extra, use_tmpl ? tmpl->extra : "", use_tmpl ? strlen(tmpl->extra) + 1 : 1);
    }
    memcpy(f.add_source, tmpl->add_source, strlen(tmpl->add_source) + 1);
    f.status = 1;
    f.create_time = now_ms;
    rc = fr_store(be, app_id, &f, 0);
    if (rc == 0)
        *seq = f.friend_sequence;
    return rc;
}

/* Both directions between a (the adder, with tmpl's fields) and b. */
static int fr_befriend(store_backend_t *be, int32_t app_id, const char *a, const char *b,
                       const store_friend_t *tmpl, int64_t now_ms, int64_t *seq_a,
                       int64_t *seq_b)
{
    int rc = fr_befriend_one(be, app_id, a, b, tmpl, 1, now_ms, seq_a);
    if (rc == 0)
        rc = fr_befriend_one(be, app_id, b, a, tmpl, 0, now_ms, seq_b);
    return rc;
}

/* from -> to ends when live (*seq its new sequence, else 0), and to
 * leaves from's friend lists. */
static int fr_unfriend_one(store_backend_t *be, int32_t app_id, const char *from,
                           const char *to, int64_t now_ms, int64_t *seq)
{
    store_friend_t f;
    int found;
    *seq = 0;
    int rc = fr_get(be, app_id, from, to, &f, &found);
    if (rc != 0 || f.status != 1)
        return rc;
    f.status = 2;
    rc = fr_store(be, app_id, &f, 0);
    if (rc == 0)
        *seq = f.friend_sequence;
    if (rc == 0)
        rc = fg_drop_member(be, app_id, from, to, now_ms);
    return rc;
}

static int fr_import(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live;
    int rc = user_live(be, op->app_id, op->from_id, &live, NULL);
    if (rc != 0)
        return rc;
    if (!live) {
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        const store_friend_t *it = &op->items[i];
        rc = user_live(be, op->app_id, it->to_id, &live, NULL);
        if (rc != 0)
            return rc;
        if (!live) {
            op->row_rc[i] = STORE_ENOTFOUND;
            continue;
        }
        store_friend_t f;
        int found;
        rc = fr_get(be, op->app_id, op->from_id, it->to_id, &f, &found);
        if (rc != 0)
            return rc;
        if (f.status == 1) {
            op->row_rc[i] = STORE_ECONFLICT;
            continue;
        }
        int black_changed = f.black != it->black;
        memcpy(f.remark, it->remark, sizeof f.remark);
        memcpy(f.add_source, it->add_source, sizeof f.add_source);
        memcpy(f.extra, it->extra, sizeof f.extra);
        f.status = it->status;
        f.black = it->black;
        f.create_time = now_ms;
        rc = fr_store(be, op->app_id, &f, black_changed);
        if (rc != 0)
            return rc;
        op->row_seq[i] = op->res.seq = f.friend_sequence;
    }
    return 0;
}

/* The request row id into r. */
static int rq_get(store_backend_t *be, int32_t app_id, int64_t id, store_friend_request_t *r,
                  int *found)
{
    sqlite3_stmt *s = be->w[WQ_RQ_GET];
    sqlite3_bind_int(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    *found = 0;
    int rc = w_step(be, s, "request get");
    if (rc <= 0)
        return rc;
    rc = request_row(s, r);
    w_done(s);
    *found = rc == 0;
    return rc;
}

static int fr_add(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live_a, live_b, allow = 1, no_add = 0;
    int rc = user_live(be, op->app_id, op->from_id, &live_a, NULL);
    if (rc == 0)
        rc = user_live_add(be, op->app_id, op->to_id, &live_b, &allow, &no_add);
    if (rc != 0)
        return rc;
    if (!live_a || !live_b) {
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
        return 0;
    }
    store_friend_t f;
    int found;
    rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (f.status == 1) {
        op->res.reject = PETREL_ERR_ALREADY_FRIEND;
        return 0;
    }
    /* a blacklist either way, or the addressee's disableAddFriend, stops
     * both the friendship and the request */
    rc = fr_black_rule(be, op->app_id, op->from_id, op->to_id, &op->res.reject);
    if (rc != 0 || op->res.reject)
        return rc;
    if (no_add) {
        op->res.reject = PETREL_ERR_ADD_FRIEND_DISABLED;
        return 0;
    }
    if (allow == 1) {
        op->res.added = 1;
        return fr_befriend(be, op->app_id, op->from_id, op->to_id, &op->f, now_ms, &op->res.seq,
                           &op->res.peer_seq);
    }
    /* A request: refresh the pending one, or make one. */
    sqlite3_stmt *s = be->w[WQ_RQ_PENDING];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    bind_str(s, 3, op->to_id);
    rc = w_step(be, s, "request pending");
    if (rc < 0)
        return rc;
    int64_t id = 0, seq;
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0);
        w_done(s);
    }
    rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, op->to_id, &seq);
    if (rc != 0)
        return rc;
    if (id) {
        s = be->w[WQ_RQ_REFRESH];
        sqlite3_bind_int64(s, 1, id);
        bind_str(s, 2, op->f.remark);
        bind_str(s, 3, op->f.add_source);
        bind_str(s, 4, op->wording);
        sqlite3_bind_int64(s, 5, now_ms);
        sqlite3_bind_int64(s, 6, seq);
        rc = run_unbind(s);
    } else {
        s = be->w[WQ_RQ_INSERT];
        sqlite3_bind_int(s, 1, op->app_id);
        bind_str(s, 2, op->from_id);
        bind_str(s, 3, op->to_id);
        bind_str(s, 4, op->f.remark);
        bind_str(s, 5, op->f.add_source);
        bind_str(s, 6, op->wording);
        sqlite3_bind_int64(s, 7, now_ms);
        sqlite3_bind_int64(s, 8, seq);
        rc = run_unbind(s);
        id = sqlite3_last_insert_rowid(be->wdb);
    }
    if (rc != 0)
        return rc;
    op->res.seq = seq;
    rc = rq_get(be, op->app_id, id, &op->res.request, &found);
    return rc == 0 && !found ? STORE_EIO : rc;
}

static int fr_update(store_backend_t *be, store_friend_op_t *op)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (f.status != 1) {
        op->res.reject = PETREL_ERR_NOT_FRIEND;
        return 0;
    }
    if (op->mask & STORE_FRIEND_F_REMARK)
        memcpy(f.remark, op->f.remark, sizeof f.remark);
    if (op->mask & STORE_FRIEND_F_ADD_SOURCE)
        memcpy(f.add_source, op->f.add_source, sizeof f.add_source);
    if (op->mask & STORE_FRIEND_F_EXTRA)
        memcpy(f.extra, op->f.extra, sizeof f.extra);
    rc = fr_store(be, op->app_id, &f, 0);
    if (rc == 0)
        op->res.seq = f.friend_sequence;
    return rc;
}

static int fr_delete(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (f.status != 1) {
        op->res.reject = f.status == 2 ? PETREL_ERR_FRIEND_DELETED : PETREL_ERR_NOT_FRIEND;
        return 0;
    }
    rc = fr_unfriend_one(be, op->app_id, op->from_id, op->to_id, now_ms, &op->res.seq);
    if (rc == 0)
        rc = fr_unfriend_one(be, op->app_id, op->to_id, op->from_id, now_ms, &op->res.peer_seq);
    return rc;
}

static int fr_delete_all(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_FR_LIVE];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    char (*ids)[STORE_ID_MAX + 1] = NULL;
    size_t n = 0;
    int rc = w_collect_ids(be, s, &ids, &n);
    if (rc != 0 || n == 0) {
        free(ids);
        return rc;
    }
    op->res.peers = calloc(n, sizeof *op->res.peers);
    if (!op->res.peers) {
        free(ids);
        return STORE_EIO;
    }
    op->res.npeers = n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        store_friend_peer_t *p = &op->res.peers[i];
        memcpy(p->id, ids[i], sizeof p->id);
        int64_t seq;
        rc = fr_unfriend_one(be, op->app_id, op->from_id, p->id, now_ms, &seq);
        if (rc == 0)
            op->res.seq = seq;
        if (rc == 0)
            rc = fr_unfriend_one(be, op->app_id, p->id, op->from_id, now_ms, &p->seq);
    }
    free(ids);
    return rc;
}

/* from_id just blacklisted to_id: to_id's pending request to from_id, if
 * any, is rejected (approve_status 2) with its text cleared and from_id's
 * next request sequence, so from_id no longer sees it pending nor reads
 * it, and syncing devices learn the change.  to_id is not told (it never
 * lists its own outgoing requests).  res->request: the updated row, id 0
 * when there was none.  from_id's own request to to_id is left as it is:
 * approving it is refused (30006). */
static int fr_black_requests(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_RQ_PENDING];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->to_id);
    bind_str(s, 3, op->from_id);
    int rc = w_step(be, s, "request pending");
    if (rc <= 0)
        return rc;
    int64_t id = sqlite3_column_int64(s, 0), seq;
    w_done(s);
    rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, op->from_id, &seq);
    if (rc != 0)
        return rc;
    s = be->w[WQ_RQ_BLACKED];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, seq);
    rc = run_unbind(s);
    int found;
    if (rc == 0)
        rc = rq_get(be, op->app_id, id, &op->res.request, &found);
    return rc == 0 && !found ? STORE_EIO : rc;
}

static int fr_black(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_t f;
    int found, live = 1;
    int rc = 0;
    if (op->flag == 2)
        rc = user_live(be, op->app_id, op->to_id, &live, NULL);
    if (rc == 0)
        rc = fr_get(be, op->app_id, op->from_id, op->to_id, &f, &found);
    if (rc != 0)
        return rc;
    if (op->flag == 2 && !live)
        op->res.reject = PETREL_ERR_USER_NOT_FOUND;
    else if (op->flag == 2 && f.black == 2)
        op->res.reject = PETREL_ERR_BLACKED_BY_YOU;
    else if (op->flag == 1 && f.black != 2)
        op->res.reject = PETREL_ERR_NOT_BLACKED;
    if (op->res.reject)
        return 0;
    f.black = op->flag;
    if (!found)
        f.create_time = 0; /* a blacklist-only row: no friendship began */
    rc = fr_store(be, op->app_id, &f, 1);
    if (rc == 0)
        op->res.seq = f.friend_sequence;
    if (rc == 0 && op->flag == 2)
        rc = fr_black_requests(be, op, now_ms);
    return rc;
}

static int rq_approve(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    store_friend_request_t *r = &op->res.request;
    int found;
    int rc = rq_get(be, op->app_id, op->id, r, &found);
    if (rc != 0)
        return rc;
    if (!found)
        op->res.reject = PETREL_ERR_REQUEST_NOT_FOUND;
    else if (!op->admin && strcmp(r->to_id, op->from_id) != 0)
        op->res.reject = PETREL_ERR_NOT_ADDRESSEE;
    else if (r->approve_status != 0)
        op->res.reject = PETREL_ERR_REQUEST_HANDLED;
    if (op->res.reject)
        return 0;
    if (op->flag == 1) {
        int la, lb;
        rc = user_live(be, op->app_id, r->from_id, &la, NULL);
        if (rc == 0)
            rc = user_live(be, op->app_id, r->to_id, &lb, NULL);
        if (rc != 0)
            return rc;
        if (!la || !lb) {
            op->res.reject = PETREL_ERR_USER_NOT_FOUND;
            return 0;
        }
        /* a blacklist made since the request stops the friendship:
         * 30006 the addressee blacklisted the requester, 30007 the other
         * way round */
        rc = fr_black_rule(be, op->app_id, r->to_id, r->from_id, &op->res.reject);
        if (rc != 0 || op->res.reject)
            return rc;
    }
    int64_t seq;
    rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, r->to_id, &seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_RQ_DECIDE];
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int(s, 2, op->flag);
    sqlite3_bind_int64(s, 3, now_ms);
    sqlite3_bind_int64(s, 4, seq);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    r->approve_status = op->flag;
    r->read_status = 1;
    r->update_time = now_ms;
    r->sequence = seq;
    if (op->flag != 1)
        return 0;
    store_friend_t tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    memcpy(tmpl.remark, r->remark, sizeof tmpl.remark);
    memcpy(tmpl.add_source, r->add_source, sizeof tmpl.add_source);
    return fr_befriend(be, op->app_id, r->from_id, r->to_id, &tmpl, now_ms, &op->res.peer_seq,
                       &op->res.seq);
}

static int rq_read(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    sqlite3_stmt *s = be->w[WQ_RQ_UNREAD];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = w_collect_ints(be, s, &ids, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t seq;
        rc = next_owner_seq(be, WQ_RQ_MAX, op->app_id, op->from_id, &seq);
        if (rc != 0)
            break;
        s = be->w[WQ_RQ_READ];
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, now_ms);
        sqlite3_bind_int64(s, 3, seq);
        rc = run_unbind(s);
        if (rc == 0)
            op->res.seq = seq;
    }
    free(ids);
    return rc;
}

/* owner's live list name: *id, 0 when there is none. */
static int fg_by_name(store_backend_t *be, int32_t app_id, const char *owner, const char *name,
                      int64_t *id)
{
    sqlite3_stmt *s = be->w[WQ_FG_BY_NAME];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, owner);
    bind_str(s, 3, name);
    *id = 0;
    int rc = w_step(be, s, "friend list by name");
    if (rc <= 0)
        return rc;
    *id = sqlite3_column_int64(s, 0);
    w_done(s);
    return 0;
}

/* to is a live friend of owner. */
static int fr_is_friend(store_backend_t *be, int32_t app_id, const char *owner, const char *to,
                        int *yes)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, app_id, owner, to, &f, &found);
    *yes = rc == 0 && f.status == 1;
    return rc;
}

static int fg_add(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int live;
    int64_t id;
    int rc = user_live(be, op->app_id, op->from_id, &live, NULL);
    if (rc == 0)
        rc = fg_by_name(be, op->app_id, op->from_id, op->name, &id);
    if (rc != 0)
        return rc;
    if (!live || id) {
        op->res.reject = !live ? PETREL_ERR_USER_NOT_FOUND : PETREL_ERR_FRIEND_LIST_EXISTS;
        return 0;
    }
    int64_t seq;
    rc = next_owner_seq(be, WQ_FG_MAX, op->app_id, op->from_id, &seq);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = be->w[WQ_FG_INSERT];
    sqlite3_bind_int(s, 1, op->app_id);
    bind_str(s, 2, op->from_id);
    bind_str(s, 3, op->name);
    sqlite3_bind_int64(s, 4, seq);
    sqlite3_bind_int64(s, 5, now_ms);
    rc = run_unbind(s);
    if (rc != 0)
        return rc;
    op->res.group_id = id = sqlite3_last_insert_rowid(be->wdb);
    op->res.seq = seq;
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        int yes;
        rc = fr_is_friend(be, op->app_id, op->from_id, op->ids[i], &yes);
        if (rc == 0 && yes)
            rc = fgm_run(be, WQ_FGM_ADD, id, op->ids[i]);
        if (rc != 0)
            return rc;
        op->row_rc[i] = yes ? 0 : PETREL_ERR_NOT_FRIEND;
    }
    return 0;
}

static int fg_del(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        int64_t id;
        int rc = fg_by_name(be, op->app_id, op->from_id, op->ids[i], &id);
        if (rc != 0)
            return rc;
        if (!id) {
            op->row_rc[i] = PETREL_ERR_FRIEND_LIST_NOT_FOUND;
            continue;
        }
        rc = fgm_run(be, WQ_FGM_CLEAR, id, NULL);
        if (rc == 0)
            rc = fg_touch(be, op->app_id, op->from_id, id, 1, now_ms, &op->row_seq[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int fg_member(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    int64_t id;
    int rc = fg_by_name(be, op->app_id, op->from_id, op->name, &id);
    if (rc != 0)
        return rc;
    if (!id) {
        op->res.reject = PETREL_ERR_FRIEND_LIST_NOT_FOUND;
        return 0;
    }
    op->res.group_id = id;
    int changed = 0;
    for (size_t i = 0; i < op->n; i++) {
        if (op->row_rc[i] != 0)
            continue;
        if (op->flag) {
            int yes;
            rc = fr_is_friend(be, op->app_id, op->from_id, op->ids[i], &yes);
            if (rc == 0 && yes)
                rc = fgm_run(be, WQ_FGM_ADD, id, op->ids[i]);
            if (rc != 0)
                return rc;
            op->row_rc[i] = yes ? 0 : PETREL_ERR_NOT_FRIEND;
            changed |= yes && sqlite3_changes(be->wdb) > 0;
        } else {
            rc = fgm_run(be, WQ_FGM_DEL, id, op->ids[i]);
            if (rc != 0)
                return rc;
            int gone = sqlite3_changes(be->wdb) > 0;
            op->row_rc[i] = gone ? 0 : STORE_ENOTFOUND;
            changed |= gone;
        }
    }
    if (changed)
        rc = fg_touch(be, op->app_id, op->from_id, id, 0, now_ms, &op->res.seq);
    return rc;
}

static int sqlite_friend_write(store_backend_t *be, store_friend_op_t *op, int64_t now_ms)
{
    switch (op->what) {
    case SF_IMPORT: return fr_import(be, op, now_ms);
    case SF_ADD: return fr_add(be, op, now_ms);
    case SF_UPDATE: return fr_update(be, op);
    case SF_DELETE: return fr_delete(be, op, now_ms);
    case SF_DELETE_ALL: return fr_delete_all(be, op, now_ms);
    case SF_BLACK: return fr_black(be, op, now_ms);
    case SF_REQ_APPROVE: return rq_approve(be, op, now_ms);
    case SF_REQ_READ: return rq_read(be, op, now_ms);
    case SF_GROUP_ADD: return fg_add(be, op, now_ms);
    case SF_GROUP_DEL: return fg_del(be, op, now_ms);
    case SF_GROUP_MEMBER: return fg_member(be, op, now_ms);
    }
    return STORE_EINVAL;
}

/* store_msg_t.flags: the friendship rules of a send (store.h). */
/* ---- user status (writer) ---- */

static int sqlite_user_status_set(store_backend_t *be, int32_t app_id, const char *user_id,
                                  const char *text, int status, int64_t now_ms)
{
    int live;
    int rc = user_live(be, app_id, user_id, &live, NULL);
    if (rc != 0)
        return rc;
    if (!live)
        return STORE_ENOTFOUND;
    sqlite3_stmt *s = be->w[WQ_STATUS_PUT];
    sqlite3_bind_int(s, 1, app_id);
    bind_str(s, 2, user_id);
    bind_str(s, 3, text);
    sqlite3_bind_int(s, 4, status);
    sqlite3_bind_int64(s, 5, now_ms);
    return run_unbind(s);
}

static int msg_friend_check(store_backend_t *be, const store_msg_t *m, int *reject)
{
    store_friend_t ab, ba;
    int fab, fba;
    int rc = fr_get(be, m->app_id, m->from_id, m->to_id, &ab, &fab);
    if (rc == 0)
        rc = fr_get(be, m->app_id, m->to_id, m->from_id, &ba, &fba);
    if (rc != 0)
        return rc;
    *reject = 0;
    if ((m->flags & STORE_MSG_CHECK_BLACK) && ab.black == 2)
        *reject = PETREL_ERR_BLACKED_BY_YOU;
    else if ((m->flags & STORE_MSG_CHECK_BLACK) && ba.black == 2)
        *reject = PETREL_ERR_BLACKED_BY_PEER;
    else if ((m->flags & STORE_MSG_CHECK_FRIEND) && (ab.status != 1 || ba.status != 1))
        *reject = PETREL_ERR_NOT_FRIEND;
    return 0;
}

/* ---- readers ---- */

static rconn_t *borrow(store_backend_t *be)
{
    pthread_mutex_lock(&be->rmu);
    while (!be->rfree)
        pthread_cond_wait(&be->rcv, &be->rmu);
    rconn_t *c = be->rfree;
    be->rfree = c->next_free;
    pthread_mutex_unlock(&be->rmu);
    return c;
}

/* Every statement of c must be reset by now: a statement left mid-step
 * would pin its snapshot and stall WAL checkpoints for the next user. */
static void give_back(store_backend_t *be, rconn_t *c)
{
    pthread_mutex_lock(&be->rmu);
    c->next_free = be->rfree;
    be->rfree = c;
    pthread_cond_signal(&be->rcv);
    pthread_mutex_unlock(&be->rmu);
}

/* End a read transaction opened with RQ_BEGIN (if it is still open). */
static void read_end(rconn_t *c)
{
    if (!sqlite3_get_autocommit(c->db) && run(c->q[RQ_COMMIT]) != 0) {
        log_err(c->db, "read commit");
        run(c->q[RQ_ROLLBACK]);
    }
}

/* Reset a read statement and drop its bindings (SQLITE_STATIC pointers
 * into the caller's strings). */
static void done_q(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* Copy a TEXT column into a fixed array; a value that does not fit means
 * the row was written by something other than this store. */
static int col_text(sqlite3_stmt *q, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!t || n >= cap)
        return STORE_EIO;
    memcpy(dst, t, n);
    dst[n] = '\0';
    return 0;
}

static int row_to_app(sqlite3_stmt *q, store_app_t *a)
{
    memset(a, 0, sizeof *a);
    a->app_id = sqlite3_column_int(q, 0);
    if (col_text(q, 1, a->secret, sizeof a->secret) != 0 ||
        col_text(q, 2, a->admin_id, sizeof a->admin_id) != 0 ||
        col_text(q, 5, a->settings, sizeof a->settings) != 0) {
        LOGE("store app row has an oversized text column", "app_id=%d", (int)a->app_id);
        return STORE_EIO;
    }
    a->login_policy = sqlite3_column_int(q, 3);
    a->max_per_platform = sqlite3_column_int(q, 4);
    a->created_at = sqlite3_column_int64(q, 6);
    return 0;
}

/* Columns in USER_COLS order. */
static int row_to_user(sqlite3_stmt *q, store_user_t *u)
{
    memset(u, 0, sizeof *u);
    u->app_id = sqlite3_column_int(q, 0);
    if (col_text(q, 1, u->user_id, sizeof u->user_id) != 0 ||
        col_text(q, 2, u->nick_name, sizeof u->nick_name) != 0 ||
        col_text(q, 3, u->photo, sizeof u->photo) != 0 ||
        col_text(q, 5, u->birth_day, sizeof u->birth_day) != 0 ||
        col_text(q, 6, u->location, sizeof u->location) != 0 ||
        col_text(q, 7, u->self_signature, sizeof u->self_signature) != 0 ||
        col_text(q, 14, u->extra, sizeof u->extra) != 0) {
        LOGE("store user row has an oversized text column", "app_id=%d", (int)u->app_id);
        return STORE_EIO;
    }
    u->user_sex = sqlite3_column_int(q, 4);
    u->friend_allow_type = sqlite3_column_int(q, 8);
    u->forbidden_flag = sqlite3_column_int(q, 9);
    u->disable_add_friend = sqlite3_column_int(q, 10);
    u->silent_flag = sqlite3_column_int(q, 11);
    u->user_type = sqlite3_column_int(q, 12);
    u->del_flag = sqlite3_column_int(q, 13);
    u->created_at = sqlite3_column_int64(q, 15);
    u->updated_at = sqlite3_column_int64(q, 16);
    return 0;
}

typedef int (*row_fn)(sqlite3_stmt *q, void *dst);

static int app_row(sqlite3_stmt *q, void *dst)
{
    return row_to_app(q, dst);
}

static int user_row(sqlite3_stmt *q, void *dst)
{
    return row_to_user(q, dst);
}

/* Step q (bound, on a borrowed connection) to the end, appending each row
 * to a malloc'ed array of elem-sized items.  Does not reset q.  cleanup
 * (may be NULL) frees what fn allocated inside an item, for the items
 * already collected when a later row fails (fn cleans up its own row). */
static int collect_ex(sqlite3 *db, sqlite3_stmt *q, size_t elem, row_fn fn,
                      void (*cleanup)(void *item), void **out, size_t *n, const char *what)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int ret = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *nv = realloc(v, ncap * elem);
            if (!nv) {
                ret = STORE_EIO;
                break;
            }
            v = nv;
            cap = ncap;
        }
        ret = fn(q, v + len * elem);
        if (ret != 0)
            break;
        len++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        log_err(db, what);
        ret = STORE_EIO;
    }
    if (ret != 0) {
        for (size_t i = 0; cleanup && i < len; i++)
            cleanup(v + i * elem);
        free(v);
        return ret;
    }
    *out = v;
    *n = len;
    return 0;
}

static int collect(sqlite3 *db, sqlite3_stmt *q, size_t elem, row_fn fn, void **out,
                   size_t *n, const char *what)
{
    return collect_ex(db, q, elem, fn, NULL, out, n, what);
}

/* Step a single-row query: fn on the row, STORE_ENOTFOUND without one. */
static int one_row(sqlite3 *db, sqlite3_stmt *q, row_fn fn, void *dst, const char *what)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return fn(q, dst);
    if (rc == SQLITE_DONE)
        return STORE_ENOTFOUND;
    log_err(db, what);
    return STORE_EIO;
}

static int count_row(sqlite3_stmt *q, void *dst)
{
    *(int64_t *)dst = sqlite3_column_int64(q, 0);
    return 0;
}

static int sqlite_app_get(store_backend_t *be, int32_t app_id, store_app_t *out)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_APP_GET];
    sqlite3_bind_int(q, 1, app_id);
    int ret = one_row(c->db, q, app_row, out, "app get");
    done_q(q);
    give_back(be, c);
    return ret;
}

static int sqlite_app_list(store_backend_t *be, store_app_t **out, size_t *n)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_APP_LIST];
    void *v = NULL;
    int ret = collect(c->db, q, sizeof(store_app_t), app_row, &v, n, "app list");
    done_q(q);
    give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_msg_bytes(store_backend_t *be, int32_t app_id, int64_t *out)
{
    static const char sql[] =
        "SELECT (SELECT total(length(CAST(body AS BLOB)) + ifnull(length(CAST(extra AS BLOB)), 0))"
        "        FROM im_message_body WHERE app_id = ?1)"
        "     + (SELECT total(length(CAST(body AS BLOB)) + ifnull(length(CAST(extra AS BLOB)), 0))"
        "        FROM im_group_message WHERE app_id = ?1)";
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = NULL;
    int ret = STORE_EIO;
    if (sqlite3_prepare_v2(c->db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int(q, 1, app_id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            *out = (int64_t)sqlite3_column_double(q, 0);
            ret = 0;
        }
    }
    if (ret != 0)
        LOGE("message bytes query failed", "err=\"%s\"", sqlite3_errmsg(c->db));
    sqlite3_finalize(q);
    give_back(be, c);
    return ret;
}

static int sqlite_ping(store_backend_t *be)
{
    rconn_t *c = borrow(be);
    int rc = sqlite3_step(c->q[RQ_PING]);
    done_q(c->q[RQ_PING]);
    give_back(be, c);
    return rc == SQLITE_ROW ? 0 : STORE_EIO;
}

static int sqlite_user_get(store_backend_t *be, int32_t app_id, const char *user_id,
                           store_user_t *out)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_USER_GET];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_id);
    int ret = one_row(c->db, q, user_row, out, "user get");
    done_q(q);
    give_back(be, c);
    return ret;
}

/* "%<sub with \ % _ escaped by \>%": a literal substring for LIKE. */
static char *like_pattern(const char *sub)
{
    size_t len = strlen(sub);
    char *p = malloc(2 * len + 3);
    if (!p)
        return NULL;
    size_t j = 0;
    p[j++] = '%';
    for (size_t i = 0; i < len; i++) {
        if (sub[i] == '%' || sub[i] == '_' || sub[i] == '\\')
            p[j++] = '\\';
        p[j++] = sub[i];
    }
    p[j++] = '%';
    p[j] = '\0';
    return p;
}

static void bind_page_filter(sqlite3_stmt *q, int32_t app_id, const char *pattern,
                             const char *exclude)
{
    sqlite3_bind_int(q, 1, app_id);
    if (pattern)
        bind_str(q, 2, pattern);
    if (exclude)
        bind_str(q, 3, exclude);
}

static int sqlite_user_page(store_backend_t *be, int32_t app_id, const char *nick_sub,
                            const char *exclude_user_id, int offset, int limit,
                            store_user_t **out, size_t *n, int64_t *total)
{
    char *pattern = NULL;
    if (nick_sub && !(pattern = like_pattern(nick_sub)))
        return STORE_EIO;
    rconn_t *c = borrow(be);
    sqlite3_stmt *qp = c->q[RQ_USER_PAGE], *qt = c->q[RQ_USER_TOTAL];
    /* Page and total inside one read transaction, i.e. one snapshot, so
     * that a commit landing between them cannot make them disagree. */
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        bind_page_filter(qt, app_id, pattern, exclude_user_id);
        ret = one_row(c->db, qt, count_row, total, "user total");
        done_q(qt);
    }
    if (ret == 0) {
        bind_page_filter(qp, app_id, pattern, exclude_user_id);
        sqlite3_bind_int(qp, 4, limit);
        sqlite3_bind_int(qp, 5, offset);
        void *v = NULL;
        ret = collect(c->db, qp, sizeof(store_user_t), user_row, &v, n, "user page");
        done_q(qp);
        if (ret == 0)
            *out = v;
    }
    read_end(c);
    give_back(be, c);
    free(pattern);
    if (ret != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

static int sqlite_user_count(store_backend_t *be, int32_t app_id, int64_t *n)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_USER_COUNT];
    sqlite3_bind_int(q, 1, app_id);
    int ret = one_row(c->db, q, count_row, n, "user count");
    done_q(q);
    give_back(be, c);
    return ret;
}

typedef struct account_dst {
    char *user_id;
    char *hash;
    size_t hash_cap;
} account_dst_t;

static int account_row(sqlite3_stmt *q, void *dst)
{
    account_dst_t *d = dst;
    char id[STORE_ID_MAX + 1];
    if (col_text(q, 0, id, sizeof id) != 0) {
        LOGE("store account row has an oversized user_id", NULL);
        return STORE_EIO;
    }
    if (d->hash && col_text(q, 1, d->hash, d->hash_cap) != 0)
        return STORE_EINVAL; /* the caller's buffer is too small */
    if (d->user_id)
        memcpy(d->user_id, id, strlen(id) + 1);
    return 0;
}

static int sqlite_account_get(store_backend_t *be, int32_t app_id, const char *user_name,
                              char *user_id_out, char *hash_out, size_t hash_cap)
{
    account_dst_t d = {.user_id = user_id_out, .hash = hash_out, .hash_cap = hash_cap};
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_ACCOUNT_GET];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_name);
    int ret = one_row(c->db, q, account_row, &d, "account get");
    done_q(q);
    give_back(be, c);
    return ret;
}

/* ---- messages (readers) ---- */

/* A malloc'ed copy of a TEXT column; NULL (with *err 0) for SQL NULL. */
char *sqlx_col_dup(sqlite3_stmt *q, int col, int *err)
{
    if (sqlite3_column_type(q, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    char *d = t ? malloc(n + 1) : NULL;
    if (!d) {
        *err = STORE_EIO;
        return NULL;
    }
    memcpy(d, t, n);
    d[n] = '\0';
    return d;
}

static void msg_row_cleanup(void *item)
{
    store_msg_row_t *r = item;
    free(r->body);
    free(r->extra);
}

/* Columns in MSG_COLS order. */
static int msg_row(sqlite3_stmt *q, void *dst)
{
    store_msg_row_t *r = dst;
    memset(r, 0, sizeof *r);
    r->message_key = sqlite3_column_int64(q, 0);
    r->sequence = sqlite3_column_int64(q, 1);
    r->message_time = sqlite3_column_int64(q, 2);
    r->message_random = sqlite3_column_int64(q, 3);
    r->created_at = sqlite3_column_int64(q, 4);
    if (col_text(q, 5, r->from_id, sizeof r->from_id) != 0 ||
        col_text(q, 6, r->to_id, sizeof r->to_id) != 0 ||
        col_text(q, 7, r->message_id, sizeof r->message_id) != 0) {
        LOGE("store message row has an oversized id", NULL);
        return STORE_EIO;
    }
    int err = 0;
    r->body = sqlx_col_dup(q, 8, &err);
    if (err == 0)
        r->extra = sqlx_col_dup(q, 9, &err);
    r->del_flag = sqlite3_column_int(q, 10);
    r->sync_key = sqlite3_column_int64(q, 11);
    if (err != 0)
        msg_row_cleanup(r);
    return err;
}

/* Columns in CONV_COLS order. */
static int conv_row(sqlite3_stmt *q, void *dst)
{
    store_conv_t *c = dst;
    memset(c, 0, sizeof *c);
    if (col_text(q, 0, c->peer_id, sizeof c->peer_id) != 0) {
        LOGE("store conversation row has an oversized peer_id", NULL);
        return STORE_EIO;
    }
    c->conversation_type = sqlite3_column_int(q, 1);
    c->last_seq = sqlite3_column_int64(q, 2);
    c->read_seq = sqlite3_column_int64(q, 3);
    c->change_seq = sqlite3_column_int64(q, 4);
    c->updated_at = sqlite3_column_int64(q, 5);
    c->is_top = sqlite3_column_int(q, 6);
    c->is_mute = sqlite3_column_int(q, 7);
    c->deleted = sqlite3_column_int(q, 8);
    c->peer_read_seq = sqlite3_column_int64(q, 9);
    return 0;
}

static int sqlite_msg_history(store_backend_t *be, int32_t app_id, const char *owner,
                              const char *peer, int64_t from_seq, int64_t to_seq, int limit,
                              int descending, store_msg_row_t **out, size_t *n)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[descending ? RQ_MSG_HISTORY_DESC : RQ_MSG_HISTORY_ASC];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, owner);
    bind_str(q, 3, peer);
    sqlite3_bind_int64(q, 4, from_seq);
    sqlite3_bind_int64(q, 5, to_seq);
    sqlite3_bind_int(q, 6, limit);
    void *v = NULL;
    int ret = collect_ex(c->db, q, sizeof(store_msg_row_t), msg_row, msg_row_cleanup, &v, n,
                         "message history");
    done_q(q);
    give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_msg_sync(store_backend_t *be, int32_t app_id, const char *owner,
                           int64_t after_key, int limit, store_msg_row_t **out, size_t *n,
                           int64_t *max_key)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *qm = c->q[RQ_MSG_MAX_KEY], *qs = c->q[RQ_MSG_SYNC];
    /* Page and max_key from one snapshot, so max_key is never below the
     * page's last key. */
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        sqlite3_bind_int(qm, 1, app_id);
        bind_str(qm, 2, owner);
        ret = one_row(c->db, qm, count_row, max_key, "message max key");
        done_q(qm);
    }
    if (ret == 0) {
        sqlite3_bind_int(qs, 1, app_id);
        bind_str(qs, 2, owner);
        sqlite3_bind_int64(qs, 3, after_key);
        sqlite3_bind_int(qs, 4, limit);
        void *v = NULL;
        ret = collect_ex(c->db, qs, sizeof(store_msg_row_t), msg_row, msg_row_cleanup, &v, n,
                         "message sync");
        done_q(qs);
        if (ret == 0)
            *out = v;
    }
    read_end(c);
    give_back(be, c);
    if (ret != 0)
        *max_key = 0;
    return ret;
}

static int sqlite_conv_list(store_backend_t *be, int32_t app_id, const char *owner,
                            int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                            int64_t *max_change_seq)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *qm = c->q[RQ_CONV_MAX], *ql = c->q[RQ_CONV_LIST];
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        sqlite3_bind_int(qm, 1, app_id);
        bind_str(qm, 2, owner);
        ret = one_row(c->db, qm, count_row, max_change_seq, "conversation max");
        done_q(qm);
    }
    if (ret == 0) {
        sqlite3_bind_int(ql, 1, app_id);
        bind_str(ql, 2, owner);
        sqlite3_bind_int64(ql, 3, after_change_seq);
        sqlite3_bind_int(ql, 4, limit);
        void *v = NULL;
        ret = collect(c->db, ql, sizeof(store_conv_t), conv_row, &v, n, "conversation list");
        done_q(ql);
        if (ret == 0)
            *out = v;
    }
    read_end(c);
    give_back(be, c);
    if (ret != 0)
        *max_change_seq = 0;
    return ret;
}

static int sqlite_conv_get(store_backend_t *be, int32_t app_id, const char *owner, int type,
                           const char *peer, store_conv_t *out)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_CONV_GET];
    bind_conv(q, app_id, owner, type, peer);
    int ret = one_row(c->db, q, conv_row, out, "conversation get");
    done_q(q);
    give_back(be, c);
    return ret;
}

static int sqlite_msg_head(store_backend_t *be, int32_t app_id, int64_t message_key,
                           store_msg_row_t *out)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_MSG_HEAD];
    sqlite3_bind_int(q, 1, app_id);
    sqlite3_bind_int64(q, 2, message_key);
    int ret = one_row(c->db, q, msg_row, out, "message head");
    done_q(q);
    give_back(be, c);
    return ret;
}

/* ---- friendship (readers) ---- */

/* Columns in FR_COLS order. */
static int friend_row(sqlite3_stmt *q, void *dst)
{
    store_friend_t *f = dst;
    memset(f, 0, sizeof *f);
    if (col_text(q, 0, f->from_id, sizeof f->from_id) != 0 ||
        col_text(q, 1, f->to_id, sizeof f->to_id) != 0 ||
        col_text(q, 2, f->remark, sizeof f->remark) != 0 ||
        col_text(q, 5, f->add_source, sizeof f->add_source) != 0 ||
        col_text(q, 6, f->extra, sizeof f->extra) != 0 ||
        col_text(q, 10, f->nick_name, sizeof f->nick_name) != 0) {
        LOGE("store friendship row has an oversized text column", NULL);
        return STORE_EIO;
    }
    f->status = sqlite3_column_int(q, 3);
    f->black = sqlite3_column_int(q, 4);
    f->friend_sequence = sqlite3_column_int64(q, 7);
    f->black_sequence = sqlite3_column_int64(q, 8);
    f->create_time = sqlite3_column_int64(q, 9);
    return 0;
}

/* Columns in REQ_COLS order (also the writer's WQ_RQ_GET). */
static int request_row(sqlite3_stmt *q, void *dst)
{
    store_friend_request_t *r = dst;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    if (col_text(q, 1, r->from_id, sizeof r->from_id) != 0 ||
        col_text(q, 2, r->to_id, sizeof r->to_id) != 0 ||
        col_text(q, 3, r->remark, sizeof r->remark) != 0 ||
        col_text(q, 5, r->add_source, sizeof r->add_source) != 0 ||
        col_text(q, 6, r->add_wording, sizeof r->add_wording) != 0) {
        LOGE("store friend request row has an oversized text column", NULL);
        return STORE_EIO;
    }
    r->read_status = sqlite3_column_int(q, 4);
    r->approve_status = sqlite3_column_int(q, 7);
    r->create_time = sqlite3_column_int64(q, 8);
    r->update_time = sqlite3_column_int64(q, 9);
    r->sequence = sqlite3_column_int64(q, 10);
    return 0;
}

static int group_row(sqlite3_stmt *q, void *dst)
{
    store_friend_group_t *g = dst;
    memset(g, 0, sizeof *g);
    g->id = sqlite3_column_int64(q, 0);
    if (col_text(q, 1, g->name, sizeof g->name) != 0) {
        LOGE("store friend list row has an oversized name", NULL);
        return STORE_EIO;
    }
    g->sequence = sqlite3_column_int64(q, 2);
    g->del_flag = sqlite3_column_int(q, 3);
    g->create_time = sqlite3_column_int64(q, 4);
    g->update_time = sqlite3_column_int64(q, 5);
    return 0;
}

static int member_row(sqlite3_stmt *q, void *dst)
{
    if (col_text(q, 0, dst, STORE_ID_MAX + 1) != 0) {
        LOGE("store friend list member has an oversized id", NULL);
        return STORE_EIO;
    }
    return 0;
}

static int sqlite_friend_get(store_backend_t *be, int32_t app_id, const char *from_id,
                             const char *to_id, store_friend_t *out)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_FR_GET];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, from_id);
    bind_str(q, 3, to_id);
    int ret = one_row(c->db, q, friend_row, out, "friendship get");
    done_q(q);
    give_back(be, c);
    return ret;
}

/* A page of rows (sequence > after, at most limit) and the owner's
 * maximum from one snapshot, for every sequence-synced table. */
static int seq_page(store_backend_t *be, int q_max, int q_list, int32_t app_id,
                    const char *owner, int64_t after, int limit, size_t elem, row_fn fn,
                    void **out, size_t *n, int64_t *max_seq, const char *what)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *qm = c->q[q_max], *ql = c->q[q_list];
    int ret = run(c->q[RQ_BEGIN]);
    if (ret == 0) {
        sqlite3_bind_int(qm, 1, app_id);
        bind_str(qm, 2, owner);
        ret = one_row(c->db, qm, count_row, max_seq, what);
        done_q(qm);
    }
    if (ret == 0) {
        sqlite3_bind_int(ql, 1, app_id);
        bind_str(ql, 2, owner);
        sqlite3_bind_int64(ql, 3, after);
        sqlite3_bind_int(ql, 4, limit);
        ret = collect(c->db, ql, elem, fn, out, n, what);
        done_q(ql);
    }
    /* friend lists: each one's members, still in the same snapshot */
    if (ret == 0 && q_list == RQ_FG_LIST) {
        store_friend_group_t *g = *out;
        sqlite3_stmt *qg = c->q[RQ_FGM_LIST];
        for (size_t i = 0; ret == 0 && i < *n; i++) {
            void *v = NULL;
            sqlite3_bind_int64(qg, 1, g[i].id);
            ret = collect(c->db, qg, STORE_ID_MAX + 1, member_row, &v, &g[i].nmembers,
                          "friend list members");
            done_q(qg);
            g[i].members = v;
        }
        if (ret != 0) {
            store_friend_groups_free(g, *n);
            *out = NULL;
            *n = 0;
        }
    }
    read_end(c);
    give_back(be, c);
    if (ret != 0)
        *max_seq = 0;
    return ret;
}

static int sqlite_friend_list(store_backend_t *be, int32_t app_id, const char *owner,
                              int64_t after_seq, int limit, store_friend_t **out, size_t *n,
                              int64_t *max_seq)
{
    void *v = NULL;
    int ret = seq_page(be, RQ_FR_MAX, RQ_FR_LIST, app_id, owner, after_seq, limit,
                       sizeof(store_friend_t), friend_row, &v, n, max_seq, "friendship list");
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_friend_all(store_backend_t *be, int32_t app_id, const char *owner,
                             store_friend_t **out, size_t *n)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_FR_ALL];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, owner);
    void *v = NULL;
    int ret = collect(c->db, q, sizeof(store_friend_t), friend_row, &v, n, "friendship all");
    done_q(q);
    give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_friend_requests(store_backend_t *be, int32_t app_id, const char *to_id,
                                  int64_t after_seq, int limit, store_friend_request_t **out,
                                  size_t *n, int64_t *max_seq)
{
    void *v = NULL;
    int ret = seq_page(be, RQ_RQ_MAX, RQ_RQ_LIST, app_id, to_id, after_seq, limit,
                       sizeof(store_friend_request_t), request_row, &v, n, max_seq,
                       "friend request list");
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_friend_groups(store_backend_t *be, int32_t app_id, const char *owner,
                                int64_t after_seq, int limit, store_friend_group_t **out,
                                size_t *n, int64_t *max_seq)
{
    void *v = NULL;
    int ret = seq_page(be, RQ_FG_MAX, RQ_FG_LIST, app_id, owner, after_seq, limit,
                       sizeof(store_friend_group_t), group_row, &v, n, max_seq,
                       "friend list list");
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_friend_seqs(store_backend_t *be, int32_t app_id, const char *user_id,
                              int64_t *fs, int64_t *rs, int64_t *gs)
{
    rconn_t *c = borrow(be);
    const int qs[3] = {RQ_FR_MAX, RQ_RQ_MAX, RQ_FG_MAX};
    int64_t *dst[3] = {fs, rs, gs};
    int ret = run(c->q[RQ_BEGIN]);
    for (int i = 0; ret == 0 && i < 3; i++) {
        sqlite3_stmt *q = c->q[qs[i]];
        sqlite3_bind_int(q, 1, app_id);
        bind_str(q, 2, user_id);
        ret = one_row(c->db, q, count_row, dst[i], "friendship sequences");
        done_q(q);
    }
    read_end(c);
    give_back(be, c);
    return ret;
}

/* ---- user status (readers) ---- */

/* Columns: user_id, custom_text, custom_status, updated_at. */
static int status_row(sqlite3_stmt *q, void *dst)
{
    store_user_status_t *u = dst;
    memset(u, 0, sizeof *u);
    if (col_text(q, 0, u->user_id, sizeof u->user_id) != 0 ||
        col_text(q, 1, u->custom_text, sizeof u->custom_text) != 0) {
        LOGE("store user status row has an oversized text column", NULL);
        return STORE_EIO;
    }
    u->custom_status = sqlite3_column_int(q, 2);
    u->updated_at = sqlite3_column_int64(q, 3);
    return 0;
}

static int sqlite_user_status_get(store_backend_t *be, int32_t app_id, const char *const *ids,
                                  size_t n, store_user_status_t *out)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_STATUS_GET];
    int ret = run(c->q[RQ_BEGIN]);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        sqlite3_bind_int(q, 1, app_id);
        bind_str(q, 2, ids[i]);
        ret = one_row(c->db, q, status_row, &out[i], "user status get");
        done_q(q);
        if (ret == STORE_ENOTFOUND) {
            memset(&out[i], 0, sizeof out[i]);
            ret = 0;
        }
    }
    read_end(c);
    give_back(be, c);
    return ret;
}

static int sqlite_status_peers(store_backend_t *be, int32_t app_id, const char *user_id,
                               store_user_status_t **out, size_t *n)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_STATUS_PEERS];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_id);
    void *v = NULL;
    int ret = collect(c->db, q, sizeof(store_user_status_t), status_row, &v, n,
                      "status peers");
    done_q(q);
    give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

static int sqlite_friend_blacked(store_backend_t *be, int32_t app_id, const char *user_id,
                                 char (**out)[STORE_ID_MAX + 1], size_t *n)
{
    rconn_t *c = borrow(be);
    sqlite3_stmt *q = c->q[RQ_FR_BLACKED];
    sqlite3_bind_int(q, 1, app_id);
    bind_str(q, 2, user_id);
    void *v = NULL;
    int ret = collect(c->db, q, STORE_ID_MAX + 1, member_row, &v, n, "blacklist");
    done_q(q);
    give_back(be, c);
    if (ret == 0)
        *out = v;
    return ret;
}

/* ---- shared with the backend's other files (store_sqlite_int.h) ---- */

sqlite3 *sqlx_wdb(store_backend_t *be)
{
    return be->wdb;
}

sqlite3_stmt **sqlx_wslots(store_backend_t *be)
{
    return be->x;
}

void sqlx_borrow(store_backend_t *be, sqlx_reader_t *r)
{
    rconn_t *c = borrow(be);
    r->db = c->db;
    r->slots = c->x;
    r->conn = c;
}

void sqlx_give_back(store_backend_t *be, sqlx_reader_t *r)
{
    rconn_t *c = r->conn;
    read_end(c);
    give_back(be, c);
    r->conn = NULL;
}

sqlite3_stmt *sqlx_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot && prep(db, sql, slot) != 0)
        return NULL;
    return *slot;
}

int sqlx_take_key(store_backend_t *be, int32_t app_id, int64_t proposed, int64_t *key)
{
    centry_t *e;
    int rc = cache_get(be, CK_APP_KEY, app_id, "", "", &e);
    if (rc != 0)
        return rc;
    *key = proposed > e->value ? proposed : e->value + 1;
    e->value = *key;
    return 0;
}

int sqlx_take_change(store_backend_t *be, int32_t app_id, const char *owner, int64_t *next)
{
    centry_t *e;
    int rc = next_change(be, app_id, owner, &e, next);
    if (rc == 0)
        e->value = *next;
    return rc;
}

int sqlx_user_check(store_backend_t *be, int32_t app_id, const char *user_id, int sender,
                    int *reject)
{
    return user_check(be, app_id, user_id, sender, reject);
}

int sqlx_blacked(store_backend_t *be, int32_t app_id, const char *from_id, const char *to_id,
                 int *blacked)
{
    store_friend_t f;
    int found;
    int rc = fr_get(be, app_id, from_id, to_id, &f, &found);
    *blacked = rc == 0 && f.black == 2;
    return rc;
}

const store_backend_ops_t store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,
    .after_batch = sqlite_after_batch,
    .stats = sqlite_stats,
    .op_begin = sqlite_op_begin,
    .op_end = sqlite_op_end,
    .app_put = sqlite_app_put,
    .user_import = sqlite_user_import,
    .user_update = sqlite_user_update,
    .user_delete = sqlite_user_delete,
    .account_create = sqlite_account_create,
    .account_register = sqlite_account_register,
    .app_get = sqlite_app_get,
    .app_list = sqlite_app_list,
    .msg_bytes = sqlite_msg_bytes,
    .ping = sqlite_ping,
    .file_check = sqlite_file_check,
    .probe = sqlite_probe,
    .user_get = sqlite_user_get,
    .user_page = sqlite_user_page,
    .user_count = sqlite_user_count,
    .account_get = sqlite_account_get,
    .msg_p2p = sqlite_msg_p2p,
    .msg_read = sqlite_msg_read,
    .msg_recall = sqlite_msg_recall,
    .conv_update = sqlite_conv_update,
    .msg_history = sqlite_msg_history,
    .msg_sync = sqlite_msg_sync,
    .conv_list = sqlite_conv_list,
    .conv_get = sqlite_conv_get,
    .friend_write = sqlite_friend_write,
    .friend_get = sqlite_friend_get,
    .friend_list = sqlite_friend_list,
    .friend_all = sqlite_friend_all,
    .friend_requests = sqlite_friend_requests,
    .friend_groups = sqlite_friend_groups,
    .friend_seqs = sqlite_friend_seqs,
    .user_status_set = sqlite_user_status_set,
    .user_status_get = sqlite_user_status_get,
    .status_peers = sqlite_status_peers,
    .friend_blacked = sqlite_friend_blacked,
    .group_write = sqlg_write,
    .group_get = sqlg_get,
    .group_member_get = sqlg_member_get,
    .group_members = sqlg_members,
    .group_readers = sqlg_readers,
    .group_joined = sqlg_joined,
    .group_requests = sqlg_requests,
    .group_msgs = sqlg_msgs,
    .msg_head = sqlite_msg_head,
};
