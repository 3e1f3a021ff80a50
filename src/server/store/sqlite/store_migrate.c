/*
 * Versioned schema migrations for the SQLite backend.  The schema is the
 * ordered list below and nothing else: adding a table or column is one new
 * entry at the end with the next version number (never edit or reorder an
 * entry that has shipped — databases in the field already ran it).
 *
 * Applied versions are recorded in schema_migrations(version, name,
 * applied_at).  Each pending migration runs in its own BEGIN IMMEDIATE
 * transaction together with its bookkeeping row, so a crash leaves the
 * database at a clean version boundary, and the version is re-read inside
 * the transaction so two processes opening the same file cannot both apply
 * it.  A database newer than this binary is refused untouched: running old
 * code on a newer schema could silently drop data it does not know about.
 */
#include "server/store/sqlite/store_sqlite_int.h"

#include "server/core/log.h"

#include <sqlite3.h>
#include <time.h>

typedef struct migration {
    int version;
    const char *name;
    const char *sql; /* constant DDL, may hold several statements */
} migration_t;

static const migration_t MIGRATIONS[] = {
    {1, "create app",
     "CREATE TABLE app ("
     "  app_id INTEGER PRIMARY KEY,"
     "  secret TEXT NOT NULL,"
     "  admin_id TEXT NOT NULL,"
     "  login_policy INTEGER NOT NULL DEFAULT 3 CHECK(login_policy BETWEEN 1 AND 4),"
     "  max_per_platform INTEGER NOT NULL DEFAULT 0,"
     "  settings TEXT NOT NULL DEFAULT '{}',"
     "  created_at INTEGER NOT NULL"
     ");"},
    /* IM users and the demo app server's accounts.  No password column in
     * im_user on purpose: IM users authenticate with userSign tokens, only
     * demo accounts have (hashed) passwords.  WITHOUT ROWID: every lookup
     * is by the (app_id, user_id) key, so the table is the key's b-tree
     * and needs no second one.  CHECKs hold only the enumerations the
     * server relies on; the rest is the app's business. */
    {2, "users",
     "CREATE TABLE im_user ("
     "  app_id INTEGER NOT NULL,"
     "  user_id TEXT NOT NULL CHECK(length(user_id) > 0),"
     "  nick_name TEXT NOT NULL DEFAULT '',"
     "  photo TEXT NOT NULL DEFAULT '',"
     "  user_sex INTEGER NOT NULL DEFAULT 0,"
     "  birth_day TEXT NOT NULL DEFAULT '',"
     "  location TEXT NOT NULL DEFAULT '',"
     "  self_signature TEXT NOT NULL DEFAULT '',"
     "  friend_allow_type INTEGER NOT NULL DEFAULT 1 CHECK(friend_allow_type IN (1, 2)),"
     "  forbidden_flag INTEGER NOT NULL DEFAULT 0 CHECK(forbidden_flag IN (0, 1)),"
     "  disable_add_friend INTEGER NOT NULL DEFAULT 0 CHECK(disable_add_friend IN (0, 1)),"
     "  silent_flag INTEGER NOT NULL DEFAULT 0 CHECK(silent_flag IN (0, 1)),"
     "  user_type INTEGER NOT NULL DEFAULT 1,"
     "  del_flag INTEGER NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  extra TEXT NOT NULL DEFAULT '',"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, user_id)"
     ") WITHOUT ROWID;"
     "CREATE INDEX im_user_nick ON im_user(app_id, nick_name);"
     /* user_name's NOCASE collation makes the key itself case-insensitive,
      * so "Alice" and "alice" collide on insert and match on lookup. */
     "CREATE TABLE app_account ("
     "  app_id INTEGER NOT NULL,"
     "  user_name TEXT NOT NULL COLLATE NOCASE CHECK(length(user_name) > 0),"
     "  user_id TEXT NOT NULL CHECK(length(user_id) > 0),"
     "  password_hash TEXT NOT NULL CHECK(length(password_hash) > 0),"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, user_name)"
     ") WITHOUT ROWID;"},
    /* One-to-one messages (write diffusion: one body, one history row per
     * owner) and conversations.  im_message_body keeps its rowid: bodies
     * are up to tens of KiB, and a WITHOUT ROWID b-tree is only efficient
     * for small rows.  UNIQUE(app_id, from_id, message_id) is the
     * idempotency guarantee across restarts.  The history PK makes a
     * reused sequence a constraint error instead of a silent duplicate, and
     * the UNIQUE change_seq index does the same for conversation changes
     * (paging by change_seq is only exact when it is unique per owner).
     * im_conversation_seq holds each pair's last sequence (user_a < user_b
     * by byte order) so a restart continues where the pair stopped. */
    {3, "messages",
     "CREATE TABLE im_message_body ("
     "  app_id INTEGER NOT NULL,"
     "  message_key INTEGER NOT NULL,"
     "  from_id TEXT NOT NULL,"
     "  to_id TEXT NOT NULL,"
     "  message_id TEXT NOT NULL CHECK(length(message_id) > 0),"
     "  body TEXT NOT NULL,"
     "  extra TEXT,"
     "  message_time INTEGER NOT NULL,"
     "  message_random INTEGER NOT NULL DEFAULT 0,"
     "  sequence INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  del_flag INTEGER NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  recalled_at INTEGER,"
     "  PRIMARY KEY(app_id, message_key),"
     "  UNIQUE(app_id, from_id, message_id)"
     ");"
     "CREATE TABLE im_message_history ("
     "  app_id INTEGER NOT NULL,"
     "  owner_id TEXT NOT NULL,"
     "  peer_id TEXT NOT NULL,"
     "  sequence INTEGER NOT NULL CHECK(sequence > 0),"
     "  message_key INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, owner_id, peer_id, sequence)"
     ") WITHOUT ROWID;"
     "CREATE INDEX im_message_history_key ON im_message_history(app_id, owner_id, message_key);"
     "CREATE TABLE im_conversation_seq ("
     "  app_id INTEGER NOT NULL,"
     "  user_a TEXT NOT NULL,"
     "  user_b TEXT NOT NULL,"
     "  max_seq INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, user_a, user_b),"
     "  CHECK(user_a < user_b)"
     ") WITHOUT ROWID;"
     "CREATE TABLE im_conversation ("
     "  app_id INTEGER NOT NULL,"
     "  owner_id TEXT NOT NULL,"
     "  peer_id TEXT NOT NULL,"
     "  conversation_type INTEGER NOT NULL DEFAULT 0 CHECK(conversation_type >= 0),"
     "  last_seq INTEGER NOT NULL DEFAULT 0,"
     "  read_seq INTEGER NOT NULL DEFAULT 0,"
     "  is_top INTEGER NOT NULL DEFAULT 0 CHECK(is_top IN (0, 1)),"
     "  is_mute INTEGER NOT NULL DEFAULT 0 CHECK(is_mute IN (0, 1)),"
     "  deleted INTEGER NOT NULL DEFAULT 0 CHECK(deleted IN (0, 1)),"
     "  change_seq INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, owner_id, conversation_type, peer_id)"
     ") WITHOUT ROWID;"
     "CREATE UNIQUE INDEX im_conversation_change "
     "  ON im_conversation(app_id, owner_id, change_seq);"},
    /* Friendship (seed inventory §7.1, with its schema bugs fixed: a
     * friend list has an integer id and its members the key (group_id,
     * to_id)).  im_friendship keeps one row per direction; rows are never
     * deleted (status 2 = deleted), so each owner's largest
     * friend_sequence only grows and the writer allocates the next one as
     * max + 1.  The UNIQUE sequence indexes make a reused number a
     * constraint error and serve the incremental syncs.  A pending
     * request is unique per (app, from, to) through a partial index, so
     * decided requests stay as history; friend-list names are unique per
     * owner among live lists the same way. */
    {4, "friends",
     "CREATE TABLE im_friendship ("
     "  app_id INTEGER NOT NULL,"
     "  from_id TEXT NOT NULL,"
     "  to_id TEXT NOT NULL,"
     "  remark TEXT NOT NULL DEFAULT '',"
     "  status INTEGER NOT NULL DEFAULT 0 CHECK(status IN (0, 1, 2)),"
     "  black INTEGER NOT NULL DEFAULT 1 CHECK(black IN (1, 2)),"
     "  add_source TEXT NOT NULL DEFAULT '',"
     "  extra TEXT NOT NULL DEFAULT '',"
     "  friend_sequence INTEGER NOT NULL CHECK(friend_sequence > 0),"
     "  black_sequence INTEGER NOT NULL DEFAULT 0,"
     "  create_time INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, from_id, to_id),"
     "  CHECK(from_id <> to_id)"
     ") WITHOUT ROWID;"
     "CREATE UNIQUE INDEX im_friendship_seq "
     "  ON im_friendship(app_id, from_id, friend_sequence);"
     "CREATE TABLE im_friendship_request ("
     "  id INTEGER PRIMARY KEY,"
     "  app_id INTEGER NOT NULL,"
     "  from_id TEXT NOT NULL,"
     "  to_id TEXT NOT NULL,"
     "  remark TEXT NOT NULL DEFAULT '',"
     "  read_status INTEGER NOT NULL DEFAULT 0 CHECK(read_status IN (0, 1)),"
     "  add_source TEXT NOT NULL DEFAULT '',"
     "  add_wording TEXT NOT NULL DEFAULT '',"
     "  approve_status INTEGER NOT NULL DEFAULT 0 CHECK(approve_status IN (0, 1, 2)),"
     "  create_time INTEGER NOT NULL,"
     "  update_time INTEGER NOT NULL,"
     "  sequence INTEGER NOT NULL CHECK(sequence > 0),"
     "  CHECK(from_id <> to_id)"
     ");"
     "CREATE UNIQUE INDEX im_friendship_request_pending "
     "  ON im_friendship_request(app_id, from_id, to_id) WHERE approve_status = 0;"
     "CREATE UNIQUE INDEX im_friendship_request_seq "
     "  ON im_friendship_request(app_id, to_id, sequence);"
     "CREATE TABLE im_friend_group ("
     "  id INTEGER PRIMARY KEY,"
     "  app_id INTEGER NOT NULL,"
     "  owner_id TEXT NOT NULL,"
     "  name TEXT NOT NULL CHECK(length(name) > 0),"
     "  sequence INTEGER NOT NULL CHECK(sequence > 0),"
     "  del_flag INTEGER NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  create_time INTEGER NOT NULL,"
     "  update_time INTEGER NOT NULL"
     ");"
     "CREATE UNIQUE INDEX im_friend_group_name "
     "  ON im_friend_group(app_id, owner_id, name) WHERE del_flag = 0;"
     "CREATE UNIQUE INDEX im_friend_group_seq ON im_friend_group(app_id, owner_id, sequence);"
     "CREATE TABLE im_friend_group_member ("
     "  group_id INTEGER NOT NULL REFERENCES im_friend_group(id),"
     "  to_id TEXT NOT NULL,"
     "  PRIMARY KEY(group_id, to_id)"
     ") WITHOUT ROWID;"},
    /* Custom status of a user (seed inventory §5.2 setUserCustomerStatus;
     * JJ kept it in Redis without a TTL).  A table of its own rather than
     * columns of im_user: it changes independently of the profile and is
     * read together with friendships, never on the login path.  A user
     * without a row has the empty status ('' / 0). */
    {5, "user status",
     "CREATE TABLE im_user_status ("
     "  app_id INTEGER NOT NULL,"
     "  user_id TEXT NOT NULL CHECK(length(user_id) > 0),"
     "  custom_text TEXT NOT NULL DEFAULT '',"
     "  custom_status INTEGER NOT NULL DEFAULT 0,"
     "  updated_at INTEGER NOT NULL,"
     "  PRIMARY KEY(app_id, user_id)"
     ") WITHOUT ROWID;"},
    /* Groups (seed inventory §5.4, §7.1) with read diffusion: one
     * im_group_message row per message per group.  im_group.msg_seq is
     * the last message sequence of the group, allocated by the writer in
     * the same transaction as the row carrying it, so it is strictly
     * increasing and never reused (also across restarts; the primary key
     * of im_group_message backs it up).  im_group.sequence is the app-wide
     * group change sequence (syncJoinedGroup), max + 1 like the friendship
     * sequences; a member row keeps the sequence of its last change so a
     * device learns that it left.  join_seq / leave_seq bound what a
     * member may read: sequence > join_seq and (leave_seq IS NULL or
     * sequence <= leave_seq).  Roles: 0 member, 1 manager, 2 owner,
     * 3 left; at most one owner per group (partial unique index).
     * (app, from, message_id) is unique: the idempotency key on disk. */
    {6, "groups",
     "CREATE TABLE im_group ("
     "  app_id INTEGER NOT NULL,"
     "  group_id TEXT NOT NULL CHECK(length(group_id) > 0),"
     "  owner_id TEXT NOT NULL DEFAULT '',"
     "  group_type INTEGER NOT NULL CHECK(group_type IN (1, 2)),"
     "  group_name TEXT NOT NULL DEFAULT '',"
     "  mute INTEGER NOT NULL DEFAULT 0 CHECK(mute IN (0, 1)),"
     "  apply_join_type INTEGER NOT NULL DEFAULT 1 CHECK(apply_join_type IN (0, 1, 2)),"
     "  photo TEXT NOT NULL DEFAULT '',"
     "  max_member_count INTEGER NOT NULL CHECK(max_member_count > 0),"
     "  introduction TEXT NOT NULL DEFAULT '',"
     "  notification TEXT NOT NULL DEFAULT '',"
     "  status INTEGER NOT NULL DEFAULT 1 CHECK(status IN (1, 2)),"
     "  sequence INTEGER NOT NULL CHECK(sequence > 0),"
     "  msg_seq INTEGER NOT NULL DEFAULT 0 CHECK(msg_seq >= 0),"
     "  member_count INTEGER NOT NULL DEFAULT 0,"
     "  create_time INTEGER NOT NULL,"
     "  update_time INTEGER NOT NULL,"
     "  extra TEXT NOT NULL DEFAULT '',"
     "  PRIMARY KEY(app_id, group_id)"
     ") WITHOUT ROWID;"
     "CREATE UNIQUE INDEX im_group_seq ON im_group(app_id, sequence);"
     "CREATE TABLE im_group_member ("
     "  app_id INTEGER NOT NULL,"
     "  group_id TEXT NOT NULL,"
     "  member_id TEXT NOT NULL CHECK(length(member_id) > 0),"
     "  role INTEGER NOT NULL CHECK(role IN (0, 1, 2, 3)),"
     "  speak_date INTEGER NOT NULL DEFAULT 0,"
     "  alias TEXT NOT NULL DEFAULT '',"
     "  join_time INTEGER NOT NULL,"
     "  join_type TEXT NOT NULL DEFAULT '',"
     "  leave_time INTEGER NOT NULL DEFAULT 0,"
     "  join_seq INTEGER NOT NULL DEFAULT 0,"
     "  leave_seq INTEGER,"
     "  read_seq INTEGER NOT NULL DEFAULT 0,"
     "  sequence INTEGER NOT NULL DEFAULT 0,"
     "  extra TEXT NOT NULL DEFAULT '',"
     "  PRIMARY KEY(app_id, group_id, member_id)"
     ") WITHOUT ROWID;"
     "CREATE INDEX im_group_member_user ON im_group_member(app_id, member_id);"
     "CREATE UNIQUE INDEX im_group_one_owner ON im_group_member(app_id, group_id) "
     "  WHERE role = 2;"
     "CREATE TABLE im_group_request ("
     "  id INTEGER PRIMARY KEY,"
     "  app_id INTEGER NOT NULL,"
     "  group_id TEXT NOT NULL,"
     "  from_id TEXT NOT NULL,"
     "  wording TEXT NOT NULL DEFAULT '',"
     "  status INTEGER NOT NULL DEFAULT 0 CHECK(status IN (0, 1, 2)),"
     "  handler_id TEXT NOT NULL DEFAULT '',"
     "  create_time INTEGER NOT NULL,"
     "  update_time INTEGER NOT NULL"
     ");"
     "CREATE UNIQUE INDEX im_group_request_pending "
     "  ON im_group_request(app_id, group_id, from_id) WHERE status = 0;"
     "CREATE TABLE im_group_message ("
     "  app_id INTEGER NOT NULL,"
     "  group_id TEXT NOT NULL,"
     "  sequence INTEGER NOT NULL CHECK(sequence > 0),"
     "  message_key INTEGER NOT NULL,"
     "  from_id TEXT NOT NULL,"
     "  message_id TEXT NOT NULL CHECK(length(message_id) > 0),"
     "  body TEXT NOT NULL,"
     "  extra TEXT,"
     "  message_time INTEGER NOT NULL,"
     "  message_random INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  del_flag INTEGER NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  recalled_at INTEGER,"
     "  PRIMARY KEY(app_id, group_id, sequence)"
     ") WITHOUT ROWID;"
     "CREATE UNIQUE INDEX im_group_message_key ON im_group_message(app_id, message_key);"
     "CREATE UNIQUE INDEX im_group_message_id "
     "  ON im_group_message(app_id, from_id, message_id);"},
    /* Recalls in the offline sync.  syncOfflineMessage pages through an
     * owner's history by a sync key: a row's message_key when written, a
     * newer key (the next message key) when the message is recalled, so a
     * device that synced past the message is handed the recalled row
     * again.  The sync key index replaces the message key index, which
     * only the sync used. */
    {7, "message sync key",
     "ALTER TABLE im_message_history ADD COLUMN sync_key INTEGER NOT NULL DEFAULT 0;"
     "UPDATE im_message_history SET sync_key = message_key;"
     "DROP INDEX im_message_history_key;"
     "CREATE INDEX im_message_history_sync ON im_message_history(app_id, owner_id, sync_key);"},
    /* History rows written in sorted batches after the message's commit
     * (store_sqlite_hist.c).  im_history_applied says which messages have
     * their rows: key <= base_key, or <= top_key for owners <=
     * cursor_owner while a batch is half-written; readers take the rest
     * from the body.  resync_key is a recall's new sync key, for the rows
     * not yet written.  im_message_body_tail serves those reads.
     * Everything stored so far has its rows. */
    {8, "history applied in batches",
     "ALTER TABLE im_message_body ADD COLUMN resync_key INTEGER;"
     "CREATE TABLE im_history_applied ("
     "  app_id INTEGER PRIMARY KEY,"
     "  base_key INTEGER NOT NULL,"
     "  top_key INTEGER NOT NULL,"
     "  cursor_owner TEXT,"
     "  CHECK(top_key >= base_key)"
     ");"
     /* In key order, so each commit appends to its last leaf; covers the
      * reads of the messages that wait (no body row fetched for the
      * ones another owner's). */
     "CREATE INDEX im_message_body_tail ON im_message_body(app_id, message_key, from_id, to_id, "
     "sequence);"
     "INSERT INTO im_history_applied(app_id, base_key, top_key) "
     "  SELECT app_id, max(message_key), max(message_key) FROM im_message_body GROUP BY app_id;"},
};

#define N_MIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

int store_migrate_latest(void)
{
    return MIGRATIONS[N_MIGRATIONS - 1].version;
}

static void log_err(sqlite3 *db, const char *what)
{
    LOGE("store migration failed", "step=\"%s\" err=\"%s\"", what, sqlite3_errmsg(db));
}

/* Highest applied version (0 for a fresh database), or negative. */
static int current_version(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    int v = STORE_EIO;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                           -1, &q, NULL) != SQLITE_OK) {
        log_err(db, "read version");
        return STORE_EIO;
    }
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    else
        log_err(db, "read version");
    sqlite3_finalize(q);
    return v;
}

static int record(sqlite3 *db, const migration_t *m)
{
    sqlite3_stmt *q = NULL;
    int rc = STORE_EIO;
    if (sqlite3_prepare_v2(db,
            "INSERT INTO schema_migrations(version, name, applied_at) VALUES(?1, ?2, ?3)",
            -1, &q, NULL) != SQLITE_OK)
        return STORE_EIO;
    sqlite3_bind_int(q, 1, m->version);
    sqlite3_bind_text(q, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, store_now_ms());
    if (sqlite3_step(q) == SQLITE_DONE)
        rc = 0;
    sqlite3_finalize(q);
    return rc;
}

/* One migration in its own transaction; 0 also when another process got
 * there first. */
static int apply_one(sqlite3 *db, const migration_t *m)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        log_err(db, "begin");
        return STORE_EIO;
    }
    int cur = current_version(db);
    int rc = 0;
    if (cur < 0) {
        rc = cur;
    } else if (cur < m->version) {
        if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
            log_err(db, m->name);
            rc = STORE_EIO;
        } else if (record(db, m) != 0) {
            log_err(db, "record");
            rc = STORE_EIO;
        }
    }
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        log_err(db, "commit");
        rc = STORE_EIO;
    }
    if (rc != 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int store_migrate_sqlite(sqlite3 *db, int *version)
{
    /* A mis-ordered table would apply migrations out of order on some
     * databases and not others; refuse it outright. */
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        if (MIGRATIONS[i].version != (int)i + 1) {
            LOGE("store migration table out of order", "index=%zu", i);
            return STORE_EINVAL;
        }
    }
    if (sqlite3_exec(db,
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "  version INTEGER PRIMARY KEY,"
            "  name TEXT NOT NULL,"
            "  applied_at INTEGER NOT NULL)",
            NULL, NULL, NULL) != SQLITE_OK) {
        log_err(db, "create schema_migrations");
        return STORE_EIO;
    }
    int cur = current_version(db);
    if (cur < 0)
        return cur;
    if (cur > store_migrate_latest()) {
        LOGE("database schema is newer than this binary; refusing to open",
             "db_version=%d known_version=%d", cur, store_migrate_latest());
        return STORE_ESCHEMA;
    }
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        if (MIGRATIONS[i].version <= cur)
            continue;
        int rc = apply_one(db, &MIGRATIONS[i]);
        if (rc != 0)
            return rc;
    }
    cur = current_version(db);
    if (cur < 0)
        return cur;
    if (cur > store_migrate_latest())
        return STORE_ESCHEMA; /* a newer binary migrated it meanwhile */
    *version = cur;
    return 0;
}
