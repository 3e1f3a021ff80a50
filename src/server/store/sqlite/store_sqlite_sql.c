/*
 * SQLite backend: the text of every statement prepared at open, on the
 * writer connection (WQ_SQL, by enum wq) and on each pooled read connection
 * (RQ_SQL, by enum rq); the enums are in store_sqlite_int.h.  All values go
 * through bound parameters; no SQL text is built at run time.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#define APP_COLS "app_id, secret, admin_id, login_policy, max_per_platform, settings, created_at"
#define USER_COLS                                                                    \
    "app_id, user_id, nick_name, photo, user_sex, birth_day, location, "            \
    "self_signature, friend_allow_type, forbidden_flag, disable_add_friend, "       \
    "silent_flag, user_type, del_flag, extra, created_at, updated_at"

const char *const WQ_SQL[WQ_COUNT] = {
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

const char *const RQ_SQL[RQ_COUNT] = {
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
