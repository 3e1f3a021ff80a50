/*
 * Versioned schema migrations of the PostgreSQL backend.  The schema is
 * the ordered list below and nothing else: a change is one new entry at
 * the end with the next version (never edit or reorder a shipped entry).
 * Version 1 is the whole schema of SQLite's version 8 in PostgreSQL terms
 * (same tables and column names, so the SQLite copy tool maps them one to
 * one), except that history rows are written with their message (no
 * deferred batches, so no im_history_applied nor resync_key) and that
 * every number allocated per owner, pair or app lives in im_counter (see
 * pgw_next in store_pg_int.h: several nodes may write the same rows).
 *
 * Text columns that are keys or compared use COLLATE "C" (byte order, as
 * in SQLite), whatever the database's default collation.  Applied
 * versions are in schema_migrations; each migration runs in its own
 * transaction under a transaction-level advisory lock, so two nodes
 * starting together apply it once.  A database newer than this binary is
 * refused untouched.
 */
#include "server/store/pg/store_pg_int.h"

#include "server/core/log.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct migration {
    int version;
    const char *name;
    const char *sql;
} migration_t;

#define ID "text COLLATE \"C\" NOT NULL"
#define TXT "text COLLATE \"C\" NOT NULL DEFAULT ''"

static const migration_t MIGRATIONS[] = {
    {1, "initial schema",
     "CREATE TABLE app ("
     "  app_id integer PRIMARY KEY,"
     "  secret text NOT NULL,"
     "  admin_id text NOT NULL,"
     "  login_policy integer NOT NULL DEFAULT 3 CHECK(login_policy BETWEEN 1 AND 4),"
     "  max_per_platform integer NOT NULL DEFAULT 0,"
     "  settings text NOT NULL DEFAULT '{}',"
     "  created_at bigint NOT NULL"
     ");"
     /* Numbers allocated per (kind, app, k1, k2): see pgw_next. */
     "CREATE TABLE im_counter ("
     "  app_id integer NOT NULL,"
     "  kind smallint NOT NULL,"
     "  k1 " TXT ","
     "  k2 " TXT ","
     "  value bigint NOT NULL,"
     "  PRIMARY KEY(app_id, kind, k1, k2)"
     ");"
     "CREATE TABLE im_user ("
     "  app_id integer NOT NULL,"
     "  user_id " ID " CHECK(length(user_id) > 0),"
     "  nick_name " TXT ","
     "  photo " TXT ","
     "  user_sex integer NOT NULL DEFAULT 0,"
     "  birth_day " TXT ","
     "  location " TXT ","
     "  self_signature " TXT ","
     "  friend_allow_type integer NOT NULL DEFAULT 1 CHECK(friend_allow_type IN (1, 2)),"
     "  forbidden_flag integer NOT NULL DEFAULT 0 CHECK(forbidden_flag IN (0, 1)),"
     "  disable_add_friend integer NOT NULL DEFAULT 0 CHECK(disable_add_friend IN (0, 1)),"
     "  silent_flag integer NOT NULL DEFAULT 0 CHECK(silent_flag IN (0, 1)),"
     "  user_type integer NOT NULL DEFAULT 1,"
     "  del_flag integer NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  extra " TXT ","
     "  created_at bigint NOT NULL,"
     "  updated_at bigint NOT NULL,"
     "  PRIMARY KEY(app_id, user_id)"
     ");"
     "CREATE INDEX im_user_nick ON im_user(app_id, nick_name);"
     /* user_name is case-insensitive (SQLite: NOCASE, ASCII only):
      * lower() under the C collation folds ASCII only, too. */
     "CREATE TABLE app_account ("
     "  app_id integer NOT NULL,"
     "  user_name " ID " CHECK(length(user_name) > 0),"
     "  user_id " ID " CHECK(length(user_id) > 0),"
     "  password_hash text NOT NULL CHECK(length(password_hash) > 0),"
     "  created_at bigint NOT NULL,"
     "  PRIMARY KEY(app_id, user_name)"
     ");"
     "CREATE UNIQUE INDEX app_account_nocase ON app_account(app_id, lower(user_name));"
     "CREATE TABLE im_message_body ("
     "  app_id integer NOT NULL,"
     "  message_key bigint NOT NULL,"
     "  from_id " ID ","
     "  to_id " ID ","
     "  message_id " ID " CHECK(length(message_id) > 0),"
     "  body text NOT NULL,"
     "  extra text,"
     "  message_time bigint NOT NULL,"
     "  message_random bigint NOT NULL DEFAULT 0,"
     "  sequence bigint NOT NULL,"
     "  created_at bigint NOT NULL,"
     "  del_flag integer NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  recalled_at bigint,"
     "  PRIMARY KEY(app_id, message_key),"
     "  UNIQUE(app_id, from_id, message_id)"
     ");"
     "CREATE TABLE im_message_history ("
     "  app_id integer NOT NULL,"
     "  owner_id " ID ","
     "  peer_id " ID ","
     "  sequence bigint NOT NULL CHECK(sequence > 0),"
     "  message_key bigint NOT NULL,"
     "  sync_key bigint NOT NULL,"
     "  PRIMARY KEY(app_id, owner_id, peer_id, sequence)"
     ");"
     "CREATE INDEX im_message_history_sync ON im_message_history(app_id, owner_id, sync_key);"
     "CREATE TABLE im_conversation ("
     "  app_id integer NOT NULL,"
     "  owner_id " ID ","
     "  peer_id " ID ","
     "  conversation_type integer NOT NULL DEFAULT 0 CHECK(conversation_type >= 0),"
     "  last_seq bigint NOT NULL DEFAULT 0,"
     "  read_seq bigint NOT NULL DEFAULT 0,"
     "  is_top integer NOT NULL DEFAULT 0 CHECK(is_top IN (0, 1)),"
     "  is_mute integer NOT NULL DEFAULT 0 CHECK(is_mute IN (0, 1)),"
     "  deleted integer NOT NULL DEFAULT 0 CHECK(deleted IN (0, 1)),"
     "  change_seq bigint NOT NULL,"
     "  updated_at bigint NOT NULL,"
     "  PRIMARY KEY(app_id, owner_id, conversation_type, peer_id)"
     ");"
     "CREATE UNIQUE INDEX im_conversation_change ON im_conversation(app_id, owner_id, change_seq);"
     "CREATE TABLE im_friendship ("
     "  app_id integer NOT NULL,"
     "  from_id " ID ","
     "  to_id " ID ","
     "  remark " TXT ","
     "  status integer NOT NULL DEFAULT 0 CHECK(status IN (0, 1, 2)),"
     "  black integer NOT NULL DEFAULT 1 CHECK(black IN (1, 2)),"
     "  add_source " TXT ","
     "  extra " TXT ","
     "  friend_sequence bigint NOT NULL CHECK(friend_sequence > 0),"
     "  black_sequence bigint NOT NULL DEFAULT 0,"
     "  create_time bigint NOT NULL,"
     "  PRIMARY KEY(app_id, from_id, to_id),"
     "  CHECK(from_id <> to_id)"
     ");"
     "CREATE UNIQUE INDEX im_friendship_seq ON im_friendship(app_id, from_id, friend_sequence);"
     "CREATE TABLE im_friendship_request ("
     "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
     "  app_id integer NOT NULL,"
     "  from_id " ID ","
     "  to_id " ID ","
     "  remark " TXT ","
     "  read_status integer NOT NULL DEFAULT 0 CHECK(read_status IN (0, 1)),"
     "  add_source " TXT ","
     "  add_wording " TXT ","
     "  approve_status integer NOT NULL DEFAULT 0 CHECK(approve_status IN (0, 1, 2)),"
     "  create_time bigint NOT NULL,"
     "  update_time bigint NOT NULL,"
     "  sequence bigint NOT NULL CHECK(sequence > 0),"
     "  CHECK(from_id <> to_id)"
     ");"
     "CREATE UNIQUE INDEX im_friendship_request_pending "
     "  ON im_friendship_request(app_id, from_id, to_id) WHERE approve_status = 0;"
     "CREATE UNIQUE INDEX im_friendship_request_seq "
     "  ON im_friendship_request(app_id, to_id, sequence);"
     "CREATE TABLE im_friend_group ("
     "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
     "  app_id integer NOT NULL,"
     "  owner_id " ID ","
     "  name " ID " CHECK(length(name) > 0),"
     "  sequence bigint NOT NULL CHECK(sequence > 0),"
     "  del_flag integer NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  create_time bigint NOT NULL,"
     "  update_time bigint NOT NULL"
     ");"
     "CREATE UNIQUE INDEX im_friend_group_name "
     "  ON im_friend_group(app_id, owner_id, name) WHERE del_flag = 0;"
     "CREATE UNIQUE INDEX im_friend_group_seq ON im_friend_group(app_id, owner_id, sequence);"
     "CREATE TABLE im_friend_group_member ("
     "  group_id bigint NOT NULL REFERENCES im_friend_group(id),"
     "  to_id " ID ","
     "  PRIMARY KEY(group_id, to_id)"
     ");"
     "CREATE TABLE im_user_status ("
     "  app_id integer NOT NULL,"
     "  user_id " ID " CHECK(length(user_id) > 0),"
     "  custom_text " TXT ","
     "  custom_status integer NOT NULL DEFAULT 0,"
     "  updated_at bigint NOT NULL,"
     "  PRIMARY KEY(app_id, user_id)"
     ");"
     "CREATE TABLE im_group ("
     "  app_id integer NOT NULL,"
     "  group_id " ID " CHECK(length(group_id) > 0),"
     "  owner_id " TXT ","
     "  group_type integer NOT NULL CHECK(group_type IN (1, 2)),"
     "  group_name " TXT ","
     "  mute integer NOT NULL DEFAULT 0 CHECK(mute IN (0, 1)),"
     "  apply_join_type integer NOT NULL DEFAULT 1 CHECK(apply_join_type IN (0, 1, 2)),"
     "  photo " TXT ","
     "  max_member_count integer NOT NULL CHECK(max_member_count > 0),"
     "  introduction " TXT ","
     "  notification " TXT ","
     "  status integer NOT NULL DEFAULT 1 CHECK(status IN (1, 2)),"
     "  sequence bigint NOT NULL CHECK(sequence > 0),"
     "  msg_seq bigint NOT NULL DEFAULT 0 CHECK(msg_seq >= 0),"
     "  member_count integer NOT NULL DEFAULT 0,"
     "  create_time bigint NOT NULL,"
     "  update_time bigint NOT NULL,"
     "  extra " TXT ","
     "  PRIMARY KEY(app_id, group_id)"
     ");"
     "CREATE UNIQUE INDEX im_group_seq ON im_group(app_id, sequence);"
     "CREATE TABLE im_group_member ("
     "  app_id integer NOT NULL,"
     "  group_id " ID ","
     "  member_id " ID " CHECK(length(member_id) > 0),"
     "  role integer NOT NULL CHECK(role IN (0, 1, 2, 3)),"
     "  speak_date bigint NOT NULL DEFAULT 0,"
     "  alias " TXT ","
     "  join_time bigint NOT NULL,"
     "  join_type " TXT ","
     "  leave_time bigint NOT NULL DEFAULT 0,"
     "  join_seq bigint NOT NULL DEFAULT 0,"
     "  leave_seq bigint,"
     "  read_seq bigint NOT NULL DEFAULT 0,"
     "  sequence bigint NOT NULL DEFAULT 0,"
     "  extra " TXT ","
     "  PRIMARY KEY(app_id, group_id, member_id)"
     ");"
     "CREATE INDEX im_group_member_user ON im_group_member(app_id, member_id);"
     "CREATE UNIQUE INDEX im_group_one_owner ON im_group_member(app_id, group_id) WHERE role = 2;"
     "CREATE TABLE im_group_request ("
     "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
     "  app_id integer NOT NULL,"
     "  group_id " ID ","
     "  from_id " ID ","
     "  wording " TXT ","
     "  status integer NOT NULL DEFAULT 0 CHECK(status IN (0, 1, 2)),"
     "  handler_id " TXT ","
     "  create_time bigint NOT NULL,"
     "  update_time bigint NOT NULL"
     ");"
     "CREATE UNIQUE INDEX im_group_request_pending "
     "  ON im_group_request(app_id, group_id, from_id) WHERE status = 0;"
     "CREATE TABLE im_group_message ("
     "  app_id integer NOT NULL,"
     "  group_id " ID ","
     "  sequence bigint NOT NULL CHECK(sequence > 0),"
     "  message_key bigint NOT NULL,"
     "  from_id " ID ","
     "  message_id " ID " CHECK(length(message_id) > 0),"
     "  body text NOT NULL,"
     "  extra text,"
     "  message_time bigint NOT NULL,"
     "  message_random bigint NOT NULL DEFAULT 0,"
     "  created_at bigint NOT NULL,"
     "  del_flag integer NOT NULL DEFAULT 0 CHECK(del_flag IN (0, 1)),"
     "  recalled_at bigint,"
     "  PRIMARY KEY(app_id, group_id, sequence)"
     ");"
     "CREATE UNIQUE INDEX im_group_message_key ON im_group_message(app_id, message_key);"
     "CREATE UNIQUE INDEX im_group_message_id ON im_group_message(app_id, from_id, message_id);"},
};

#define N_MIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

/* Any fixed number: the advisory lock that serializes migrations. */
#define MIGRATE_LOCK "7401355"

int store_pg_migrate_latest(void)
{
    return MIGRATIONS[N_MIGRATIONS - 1].version;
}

static int exec_ok(PGconn *c, const char *sql, const char *what)
{
    PGresult *r = PQexec(c, sql);
    int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok)
        pg_log_err(r, c, what);
    PQclear(r);
    return ok ? 0 : STORE_EIO;
}

/* Highest applied version (0 for a fresh database), or negative. */
static int current_version(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int v = STORE_EIO;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoi(PQgetvalue(r, 0, 0));
    else
        pg_log_err(r, c, "read schema version");
    PQclear(r);
    return v;
}

static int record(PGconn *c, const migration_t *m)
{
    char ver[16], at[24];
    snprintf(ver, sizeof ver, "%d", m->version);
    snprintf(at, sizeof at, "%lld", (long long)store_now_ms());
    const char *vals[3] = {ver, m->name, at};
    PGresult *r = PQexecParams(c,
        "INSERT INTO schema_migrations(version, name, applied_at) VALUES($1, $2, $3)", 3, NULL,
        vals, NULL, NULL, 0);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        pg_log_err(r, c, "record migration");
    PQclear(r);
    return ok ? 0 : STORE_EIO;
}

/* One migration in its own transaction; 0 also when another node got there first. */
static int apply_one(PGconn *c, const migration_t *m)
{
    if (exec_ok(c, "BEGIN", "begin migration") != 0)
        return STORE_EIO;
    int rc = exec_ok(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", "migration lock");
    int cur = rc == 0 ? current_version(c) : rc;
    if (cur < 0)
        rc = cur;
    else if (cur < m->version) {
        if ((rc = exec_ok(c, m->sql, m->name)) == 0)
            rc = record(c, m);
        if (rc == 0)
            LOGI("store migration applied", "version=%d name=\"%s\"", m->version, m->name);
    }
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", "commit migration");
    if (rc != 0)
        exec_ok(c, "ROLLBACK", "rollback migration");
    return rc;
}

int store_pg_migrate(PGconn *c, int *version)
{
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        if (MIGRATIONS[i].version != (int)i + 1) {
            LOGE("store migration table out of order", "index=%zu", i);
            return STORE_EINVAL;
        }
    }
    /* Two nodes creating it at once: the advisory lock makes the second wait. */
    if (exec_ok(c, "BEGIN", "begin") != 0)
        return STORE_EIO;
    int rc = exec_ok(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", "migration lock");
    if (rc == 0)
        rc = exec_ok(c,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "  version integer PRIMARY KEY,"
                     "  name text NOT NULL,"
                     "  applied_at bigint NOT NULL)",
                     "create schema_migrations");
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", "commit");
    if (rc != 0) {
        exec_ok(c, "ROLLBACK", "rollback");
        return rc;
    }
    int cur = current_version(c);
    if (cur < 0)
        return cur;
    if (cur > store_pg_migrate_latest()) {
        LOGE("database schema is newer than this binary; refusing to open",
             "db_version=%d known_version=%d", cur, store_pg_migrate_latest());
        return STORE_ESCHEMA;
    }
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        if (MIGRATIONS[i].version <= cur)
            continue;
        if ((rc = apply_one(c, &MIGRATIONS[i])) != 0)
            return rc;
    }
    cur = current_version(c);
    if (cur < 0)
        return cur;
    if (cur > store_pg_migrate_latest())
        return STORE_ESCHEMA;
    *version = cur;
    return 0;
}
