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
 * Version 2 adds the functions of the one-to-one message hot path
 * (petrel_next, petrel_msg_p2p: store_pg_msg.c); version 3 the set-based
 * function of a run of them (petrel_msg_p2p_batch); version 4 each app's
 * message bytes in im_counter (the storage quota shared by the nodes).
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

/* PGC_APP_BYTES as SQL text (migration 4). */
#define APP_BYTES_KIND "8"
_Static_assert(PGC_APP_BYTES == 8, "APP_BYTES_KIND is PGC_APP_BYTES");

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
    /* The one-to-one message hot path as functions (store_pg_msg.c): one
     * call, so one round trip, runs the statements of a send with plans
     * cached per connection, and stops at a duplicate or a refusal.
     * Counters and conversations are moved by a plain UPDATE (an INSERT
     * only for a row not there yet): INSERT .. ON CONFLICT DO UPDATE
     * locks the row before updating it and leaves that lock on the new
     * version, so the next op's savepoint updating the same row in the
     * same transaction makes a MultiXact, and a batch of messages pays
     * for ever longer ones. */
    {2, "one-to-one message functions",
     /* pgw_next's rule (value = max(last + 1, floor), floor at least 1
      * for a new row) without the lock left behind. */
     "CREATE FUNCTION petrel_next(p_app integer, p_kind smallint, p_k1 text, p_k2 text,"
     "  p_floor bigint) RETURNS bigint LANGUAGE plpgsql AS $f$"
     " DECLARE v bigint;"
     " BEGIN"
     "  UPDATE im_counter SET value = greatest(value + 1, p_floor)"
     "   WHERE app_id = p_app AND kind = p_kind AND k1 = p_k1 AND k2 = p_k2"
     "   RETURNING value INTO v;"
     "  IF NOT FOUND THEN"
     "   INSERT INTO im_counter(app_id, kind, k1, k2, value)"
     "    VALUES (p_app, p_kind, p_k1, p_k2, greatest(p_floor, 1))"
     "    ON CONFLICT (app_id, kind, k1, k2) DO UPDATE"
     "    SET value = greatest(im_counter.value + 1, EXCLUDED.value) RETURNING value INTO v;"
     "  END IF;"
     "  RETURN v;"
     " END $f$;"
     /* store_sqlite_msg.c's sqlx_msg_p2p: a resend answers with the
      * original (dup_*); else the sender (missing or deleted 20001,
      * forbidden 62023, silenced 50002), the receiver (20001), the
      * friendship rules of p_flags (msg.h: 30006, 30007, then 30003); else
      * the numbers -- the app's key (floor: the proposed key), the pair's
      * sequence (p_a < p_b by byte order), each owner's change_seq, locked
      * in that order, owners by byte order -- then the body, both owners'
      * history rows (sync_key = the key) and both conversations (a deleted
      * one comes back; the sender has read up to the message). */
     "CREATE FUNCTION petrel_msg_p2p(p_app integer, p_from text, p_to text, p_mid text,"
     "  p_body text, p_extra text, p_time bigint, p_random bigint, p_key bigint, p_now bigint,"
     "  p_flags integer, p_a text, p_b text,"
     "  OUT dup_key bigint, OUT dup_seq bigint, OUT dup_created bigint, OUT dup_del integer,"
     "  OUT reject integer, OUT key bigint, OUT seq bigint) LANGUAGE plpgsql AS $f$"
     " DECLARE s_del integer; s_forbidden integer; s_silent integer; r_del integer;"
     "  ab_status integer; ab_black integer; ba_status integer; ba_black integer;"
     "  ch_a bigint; ch_b bigint; ch_from bigint; ch_to bigint;"
     " BEGIN"
     "  reject := 0;"
     "  SELECT message_key, sequence, created_at, del_flag"
     "   INTO dup_key, dup_seq, dup_created, dup_del FROM im_message_body"
     "   WHERE app_id = p_app AND from_id = p_from AND message_id = p_mid;"
     "  IF FOUND THEN RETURN; END IF;"
     "  SELECT del_flag, forbidden_flag, silent_flag INTO s_del, s_forbidden, s_silent"
     "   FROM im_user WHERE app_id = p_app AND user_id = p_from;"
     "  SELECT del_flag INTO r_del FROM im_user WHERE app_id = p_app AND user_id = p_to;"
     "  IF p_flags <> 0 THEN"
     "   SELECT status, black INTO ab_status, ab_black FROM im_friendship"
     "    WHERE app_id = p_app AND from_id = p_from AND to_id = p_to;"
     "   SELECT status, black INTO ba_status, ba_black FROM im_friendship"
     "    WHERE app_id = p_app AND from_id = p_to AND to_id = p_from;"
     "  END IF;"
     "  reject := CASE WHEN s_del IS DISTINCT FROM 0 THEN 20001"
     "   WHEN s_forbidden = 1 THEN 62023 WHEN s_silent = 1 THEN 50002"
     "   WHEN r_del IS DISTINCT FROM 0 THEN 20001"
     "   WHEN p_flags & 2 <> 0 AND ab_black = 2 THEN 30006"
     "   WHEN p_flags & 2 <> 0 AND ba_black = 2 THEN 30007"
     "   WHEN p_flags & 1 <> 0 AND (coalesce(ab_status, 0) <> 1 OR coalesce(ba_status, 0) <> 1)"
     "    THEN 30003 ELSE 0 END;"
     "  IF reject <> 0 THEN RETURN; END IF;"
     "  key := petrel_next(p_app, 2::smallint, '', '', p_key);"
     "  seq := petrel_next(p_app, 1::smallint, p_a, p_b, 1);"
     "  ch_a := petrel_next(p_app, 3::smallint, p_a, '', 1);"
     "  ch_b := petrel_next(p_app, 3::smallint, p_b, '', 1);"
     "  INSERT INTO im_message_body(app_id, message_key, from_id, to_id, message_id, body, extra,"
     "   message_time, message_random, sequence, created_at)"
     "   VALUES (p_app, key, p_from, p_to, p_mid, p_body, p_extra, p_time, p_random, seq, p_now);"
     "  INSERT INTO im_message_history(app_id, owner_id, peer_id, sequence, message_key, sync_key)"
     "   VALUES (p_app, p_from, p_to, seq, key, key), (p_app, p_to, p_from, seq, key, key);"
     "  IF p_from = p_a THEN ch_from := ch_a; ch_to := ch_b;"
     "  ELSE ch_from := ch_b; ch_to := ch_a; END IF;"
     "  UPDATE im_conversation SET last_seq = greatest(last_seq, seq),"
     "   read_seq = greatest(read_seq, seq), deleted = 0, change_seq = ch_from, updated_at = p_now"
     "   WHERE app_id = p_app AND owner_id = p_from AND conversation_type = 0 AND peer_id = p_to;"
     "  IF NOT FOUND THEN"
     "   INSERT INTO im_conversation(app_id, owner_id, peer_id, conversation_type, last_seq,"
     "    read_seq, change_seq, updated_at)"
     "    VALUES (p_app, p_from, p_to, 0, seq, seq, ch_from, p_now)"
     "    ON CONFLICT (app_id, owner_id, conversation_type, peer_id) DO UPDATE SET"
     "    last_seq = greatest(im_conversation.last_seq, EXCLUDED.last_seq),"
     "    read_seq = greatest(im_conversation.read_seq, EXCLUDED.read_seq), deleted = 0,"
     "    change_seq = EXCLUDED.change_seq, updated_at = EXCLUDED.updated_at;"
     "  END IF;"
     "  UPDATE im_conversation SET last_seq = greatest(last_seq, seq), deleted = 0,"
     "   change_seq = ch_to, updated_at = p_now"
     "   WHERE app_id = p_app AND owner_id = p_to AND conversation_type = 0 AND peer_id = p_from;"
     "  IF NOT FOUND THEN"
     "   INSERT INTO im_conversation(app_id, owner_id, peer_id, conversation_type, last_seq,"
     "    read_seq, change_seq, updated_at) VALUES (p_app, p_to, p_from, 0, seq, 0, ch_to, p_now)"
     "    ON CONFLICT (app_id, owner_id, conversation_type, peer_id) DO UPDATE SET"
     "    last_seq = greatest(im_conversation.last_seq, EXCLUDED.last_seq), deleted = 0,"
     "    change_seq = EXCLUDED.change_seq, updated_at = EXCLUDED.updated_at;"
     "  END IF;"
     " END $f$;"},
    /* A run of one-to-one messages in one call (msg_p2p_batch,
     * store_pg_msg.c), set-based: a handful of statements for the whole
     * run instead of a dozen per message, with the outcome of calling
     * petrel_msg_p2p for each message in input order.
     *
     * im_counter at fillfactor 50: every message moves three of its rows
     * (its pair, both owners), a run moves each row of a busy set once per
     * transaction, and an update stays on its page (HOT, no new index
     * entry) only while the page has room for the new version; full pages
     * measured half of the updates non-HOT and the table 100 times its
     * live size.
     *
     * petrel_counters_add: counter rows (sorted by the caller by key, the
     * order their locks are taken in), each moved by an amount; returns
     * each row's value before, in input order.  The UPDATE is planned for
     * the actual rows (a large table probed by key, a small one read in key
     * order).  A missing row is then inserted at 0 (ON CONFLICT DO
     * NOTHING: it takes no lock, and another node's insert of it is waited
     * for) and moved.  No SELECT .. FOR UPDATE: its lock would stay on the
     * row's new version and make the next op's update a MultiXact. */
    {3, "one-to-one message batch",
     "ALTER TABLE im_counter SET (fillfactor = 50);"
     "CREATE TYPE petrel_counter_move AS (app_id integer, kind smallint, k1 text COLLATE \"C\","
     "  k2 text COLLATE \"C\", n bigint);"
     "CREATE TYPE petrel_conv_touch AS (app_id integer, owner_id text COLLATE \"C\","
     "  peer_id text COLLATE \"C\", last_seq bigint, read_seq bigint, change_seq bigint);"
     "CREATE FUNCTION petrel_counters_add(p petrel_counter_move[]) RETURNS bigint[]"
     " LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET enable_seqscan = off AS $f$"
     " DECLARE v_i bigint[]; v_b bigint[];"
     " BEGIN"
     "  WITH u AS (UPDATE im_counter c SET value = c.value + d.n"
     "    FROM unnest(p) WITH ORDINALITY AS d(app_id, kind, k1, k2, n, i)"
     "    WHERE c.app_id = d.app_id AND c.kind = d.kind AND c.k1 = d.k1 AND c.k2 = d.k2"
     "    RETURNING d.i, c.value - d.n AS base)"
     "  SELECT array_agg(i), array_agg(base) INTO v_i, v_b FROM u;"
     "  IF cardinality(v_i) IS DISTINCT FROM cardinality(p) THEN"
     "   INSERT INTO im_counter(app_id, kind, k1, k2, value)"
     "    SELECT d.app_id, d.kind, d.k1, d.k2, 0 FROM unnest(p) WITH ORDINALITY"
     "     AS d(app_id, kind, k1, k2, n, i)"
     "    WHERE d.i NOT IN (SELECT unnest(v_i))"
     "    ON CONFLICT (app_id, kind, k1, k2) DO NOTHING;"
     "   WITH u AS (UPDATE im_counter c SET value = c.value + d.n"
     "     FROM unnest(p) WITH ORDINALITY AS d(app_id, kind, k1, k2, n, i)"
     "     WHERE c.app_id = d.app_id AND c.kind = d.kind AND c.k1 = d.k1 AND c.k2 = d.k2"
     "      AND d.i NOT IN (SELECT unnest(v_i))"
     "     RETURNING d.i, c.value - d.n AS base)"
     "   SELECT array_cat(v_i, array_agg(i)), array_cat(v_b, array_agg(base)) INTO v_i, v_b"
     "    FROM u;"
     "   IF cardinality(v_i) IS DISTINCT FROM cardinality(p) THEN"
     "    RAISE EXCEPTION 'petrel_counters_add: % rows for %', cardinality(v_i), cardinality(p);"
     "   END IF;"
     "  END IF;"
     "  RETURN ARRAY(SELECT b FROM unnest(v_i, v_b) AS x(i, b) ORDER BY i);"
     " END $f$;"
     /* Conversations, sorted by key, each touched by messages: last_seq
      * raised to last_seq, read_seq to read_seq (NULL: the owner sent none
      * of them), deleted cleared, change_seq set (the owner's newest: never
      * a stored one).  A missing one is inserted with that state (ON
      * CONFLICT DO NOTHING, as above), then updated only if another node
      * inserted it first (its change_seq is not this one). */
     "CREATE FUNCTION petrel_convs_touch(p petrel_conv_touch[], p_now bigint) RETURNS integer"
     " LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET enable_seqscan = off AS $f$"
     " DECLARE v_i bigint[];"
     " BEGIN"
     "  WITH u AS (UPDATE im_conversation v SET last_seq = greatest(v.last_seq, c.last_seq),"
     "    read_seq = greatest(v.read_seq, c.read_seq), deleted = 0, change_seq = c.change_seq,"
     "    updated_at = p_now"
     "    FROM unnest(p) WITH ORDINALITY AS c(app_id, owner_id, peer_id, last_seq, read_seq,"
     "     change_seq, i)"
     "    WHERE v.app_id = c.app_id AND v.owner_id = c.owner_id AND v.conversation_type = 0"
     "     AND v.peer_id = c.peer_id"
     "    RETURNING c.i)"
     "  SELECT array_agg(i) INTO v_i FROM u;"
     "  IF cardinality(v_i) IS DISTINCT FROM cardinality(p) THEN"
     "   INSERT INTO im_conversation(app_id, owner_id, peer_id, conversation_type, last_seq,"
     "    read_seq, change_seq, updated_at)"
     "    SELECT c.app_id, c.owner_id, c.peer_id, 0, c.last_seq, coalesce(c.read_seq, 0),"
     "     c.change_seq, p_now"
     "    FROM unnest(p) WITH ORDINALITY AS c(app_id, owner_id, peer_id, last_seq, read_seq,"
     "     change_seq, i)"
     "    WHERE c.i NOT IN (SELECT unnest(v_i))"
     "    ON CONFLICT (app_id, owner_id, conversation_type, peer_id) DO NOTHING;"
     "   UPDATE im_conversation v SET last_seq = greatest(v.last_seq, c.last_seq),"
     "    read_seq = greatest(v.read_seq, c.read_seq), deleted = 0, change_seq = c.change_seq,"
     "    updated_at = p_now"
     "    FROM unnest(p) WITH ORDINALITY AS c(app_id, owner_id, peer_id, last_seq, read_seq,"
     "     change_seq, i)"
     "    WHERE v.app_id = c.app_id AND v.owner_id = c.owner_id AND v.conversation_type = 0"
     "     AND v.peer_id = c.peer_id AND c.i NOT IN (SELECT unnest(v_i))"
     "     AND v.change_seq <> c.change_seq;"
     "  END IF;"
     "  RETURN cardinality(p);"
     " END $f$;"
     /* The run.  A: each message's fate, -1 new, 0 a resend (stored
      * before, or a copy of an earlier message of the run that is new:
      * answered from the stored row at the end), else petrel_msg_p2p's
      * reject code in its order; each lookup is a LATERAL probe by key (an
      * index scan with enable_seqscan off: the plans of this function are
      * cached, and a join planned while a table was small would go on
      * reading the whole table as it grows).  B: the app key counter of
      * each app with a new message, locked first as petrel_msg_p2p does,
      * and its value.  C: the numbers in input order -- the app's key_i =
      * max(proposed_i, key_{i-1} + 1) from the counter, i.e. rank_i +
      * max(counter, max_{j<=i}(proposed_j - rank_j)); a pair's sequence
      * its counter + the message's rank in the pair; an owner's change_seq
      * its counter + the rank among the owner's touches (sender and
      * receiver) -- with every counter row moved once, in key order.  D:
      * the bodies, both owners' history rows (sync_key = key), then each
      * conversation once with the state the messages one by one leave
      * (last_seq the pair's last sequence, the sender's side read up to its
      * last sent one, no longer deleted, change_seq the owner's last).  E:
      * one row per message in input order.  A unique violation (another
      * node stored one of the messages meanwhile) fails the whole call;
      * the caller then stores the messages one by one. */
     "CREATE FUNCTION petrel_msg_p2p_batch(p_app integer[], p_from text[], p_to text[],"
     "  p_mid text[], p_body text[], p_extra text[], p_time bigint[], p_random bigint[],"
     "  p_key bigint[], p_flags integer[], p_now bigint)"
     " RETURNS TABLE(o_idx integer, o_dup_key bigint, o_dup_seq bigint, o_dup_created bigint,"
     "  o_dup_del integer, o_reject integer, o_key bigint, o_seq bigint)"
     " LANGUAGE plpgsql SET enable_seqscan = off AS $f$"
     " DECLARE"
     "  v_out integer[]; v_kapp integer[]; v_kval bigint[]; v_n integer;"
     "  v_i bigint[]; v_k bigint[]; v_s bigint[]; v_cf bigint[]; v_ct bigint[];"
     " BEGIN"
     "  SELECT array_agg(CASE WHEN x.stored OR x.f1 < x.i THEN 0 WHEN x.rej <> 0 THEN x.rej"
     "   ELSE -1 END ORDER BY x.i) INTO v_out"
     "  FROM (SELECT y.*, min(y.i) FILTER (WHERE NOT y.stored AND y.rej = 0)"
     "    OVER (PARTITION BY y.app, y.fr, y.mid) AS f1"
     "   FROM (SELECT m.i, m.app, m.fr, m.mid, b.one IS NOT NULL AS stored,"
     "     CASE WHEN su.del_flag IS DISTINCT FROM 0 THEN 20001"
     "      WHEN su.forbidden_flag = 1 THEN 62023 WHEN su.silent_flag = 1 THEN 50002"
     "      WHEN ru.del_flag IS DISTINCT FROM 0 THEN 20001"
     "      WHEN m.fl & 2 <> 0 AND ab.black = 2 THEN 30006"
     "      WHEN m.fl & 2 <> 0 AND ba.black = 2 THEN 30007"
     "      WHEN m.fl & 1 <> 0 AND (coalesce(ab.status, 0) <> 1 OR coalesce(ba.status, 0) <> 1)"
     "       THEN 30003 ELSE 0 END AS rej"
     "    FROM unnest(p_app, p_from, p_to, p_mid, p_flags) WITH ORDINALITY"
     "     AS m(app, fr, t, mid, fl, i)"
     "    LEFT JOIN LATERAL (SELECT 1 AS one FROM im_message_body"
     "     WHERE app_id = m.app AND from_id = m.fr AND message_id = m.mid OFFSET 0) b ON true"
     "    LEFT JOIN LATERAL (SELECT del_flag, forbidden_flag, silent_flag FROM im_user"
     "     WHERE app_id = m.app AND user_id = m.fr OFFSET 0) su ON true"
     "    LEFT JOIN LATERAL (SELECT del_flag FROM im_user"
     "     WHERE app_id = m.app AND user_id = m.t OFFSET 0) ru ON true"
     "    LEFT JOIN LATERAL (SELECT status, black FROM im_friendship"
     "     WHERE m.fl <> 0 AND app_id = m.app AND from_id = m.fr AND to_id = m.t OFFSET 0) ab"
     "     ON true"
     "    LEFT JOIN LATERAL (SELECT status, black FROM im_friendship"
     "     WHERE m.fl <> 0 AND app_id = m.app AND from_id = m.t AND to_id = m.fr OFFSET 0) ba"
     "     ON true) y) x;"
     "  IF -1 = ANY(v_out) THEN"
     "   SELECT array_agg(a ORDER BY a) INTO v_kapp"
     "    FROM (SELECT DISTINCT a FROM unnest(p_app, v_out) AS m(a, o) WHERE o = -1) k;"
     "   v_kval := petrel_counters_add(ARRAY(SELECT ROW(a, 2, '', '', 0)::petrel_counter_move"
     "    FROM unnest(v_kapp) WITH ORDINALITY AS k(a, i) ORDER BY i));"
     "   WITH n0 AS (SELECT m.i, m.app, m.fr COLLATE \"C\" AS fr, m.t COLLATE \"C\" AS t, m.pk,"
     "      row_number() OVER (PARTITION BY m.app ORDER BY m.i) AS ra"
     "     FROM unnest(p_app, p_from, p_to, p_key, v_out) WITH ORDINALITY"
     "      AS m(app, fr, t, pk, o, i) WHERE m.o = -1),"
     "    n AS (SELECT n0.*, n0.ra + greatest(v_kval[array_position(v_kapp, n0.app)],"
     "      max(n0.pk - n0.ra) OVER (PARTITION BY n0.app ORDER BY n0.i ROWS UNBOUNDED PRECEDING))"
     "      AS k FROM n0),"
     /* each new message's counter rows: its pair (role 0), its sender (1), its receiver (2) */
     "    t AS (SELECT i, app, 1::smallint AS kind, least(fr, t) AS k1, greatest(fr, t) AS k2,"
     "      0 AS role FROM n"
     "     UNION ALL SELECT i, app, 3::smallint, fr, '', 1 FROM n"
     "     UNION ALL SELECT i, app, 3::smallint, t, '', 2 FROM n),"
     "    tr AS (SELECT t.*, row_number() OVER (PARTITION BY app, kind, k1, k2 ORDER BY i) AS r,"
     "      dense_rank() OVER (ORDER BY app, kind, k1, k2) AS pos FROM t),"
     "    d AS (SELECT pos, app, kind, k1, k2, count(*) AS add FROM tr"
     "      GROUP BY pos, app, kind, k1, k2"
     "     UNION ALL SELECT (SELECT max(pos) FROM tr) + row_number() OVER (ORDER BY app), app,"
     "      2::smallint, '', '', max(k) - min(v_kval[array_position(v_kapp, app)])"
     "      FROM n GROUP BY app),"
     "    c AS (SELECT petrel_counters_add(array_agg(ROW(app, kind, k1, k2, add)"
     "      ::petrel_counter_move ORDER BY pos)) AS base FROM d),"
     "    v AS (SELECT tr.i, max(c.base[tr.pos] + tr.r) FILTER (WHERE tr.role = 0) AS s,"
     "      max(c.base[tr.pos] + tr.r) FILTER (WHERE tr.role = 1) AS cf,"
     "      max(c.base[tr.pos] + tr.r) FILTER (WHERE tr.role = 2) AS ct"
     "     FROM tr CROSS JOIN c GROUP BY tr.i)"
     "   SELECT array_agg(n.i ORDER BY n.i), array_agg(n.k ORDER BY n.i),"
     "    array_agg(v.s ORDER BY n.i), array_agg(v.cf ORDER BY n.i), array_agg(v.ct ORDER BY n.i)"
     "   INTO v_i, v_k, v_s, v_cf, v_ct FROM n JOIN v ON v.i = n.i;"
     "   WITH x AS (SELECT m.*, v.k, v.s"
     "     FROM unnest(p_app, p_from, p_to, p_mid, p_body, p_extra, p_time, p_random)"
     "      WITH ORDINALITY AS m(app, fr, t, mid, body, extra, tm, rnd, i)"
     "     JOIN unnest(v_i, v_k, v_s) AS v(i, k, s) ON v.i = m.i),"
     "    h AS (INSERT INTO im_message_history(app_id, owner_id, peer_id, sequence,"
     "      message_key, sync_key)"
     "     SELECT app, fr, t, s, k, k FROM x UNION ALL SELECT app, t, fr, s, k, k FROM x)"
     "   INSERT INTO im_message_body(app_id, message_key, from_id, to_id, message_id, body,"
     "    extra, message_time, message_random, sequence, created_at)"
     "   SELECT app, k, fr, t, mid, body, extra, tm, rnd, s, p_now FROM x;"
     "   WITH x AS (SELECT m.app, m.fr COLLATE \"C\" AS fr, m.t COLLATE \"C\" AS t, v.s, v.cf,"
     "      v.ct"
     "     FROM unnest(p_app, p_from, p_to) WITH ORDINALITY AS m(app, fr, t, i)"
     "     JOIN unnest(v_i, v_s, v_cf, v_ct) AS v(i, s, cf, ct) ON v.i = m.i),"
     "    e AS (SELECT app, fr AS owner, t AS peer, s, cf AS ch, true AS sent FROM x"
     "     UNION ALL SELECT app, t, fr, s, ct, false FROM x),"
     "    c AS (SELECT app, owner, peer, max(s) AS last, max(s) FILTER (WHERE sent) AS rd,"
     "      max(ch) AS ch FROM e GROUP BY app, owner, peer)"
     "   SELECT petrel_convs_touch(array_agg(ROW(app, owner, peer, last, rd, ch)"
     "    ::petrel_conv_touch ORDER BY app, owner, peer), p_now) INTO v_n FROM c;"
     "  END IF;"
     "  RETURN QUERY SELECT m.i::integer, b.message_key, b.sequence, b.created_at, b.del_flag,"
     "   greatest(m.o, 0), v.k, v.s"
     "  FROM unnest(p_app, p_from, p_mid, v_out) WITH ORDINALITY AS m(app, fr, mid, o, i)"
     "  LEFT JOIN unnest(v_i, v_k, v_s) AS v(i, k, s) ON v.i = m.i"
     "  LEFT JOIN LATERAL (SELECT message_key, sequence, created_at, del_flag"
     "   FROM im_message_body WHERE m.o = 0 AND app_id = m.app AND from_id = m.fr"
     "    AND message_id = m.mid OFFSET 0) b ON true"
     "  ORDER BY m.i;"
     " END $f$;"},
    /* The storage quota shared by the nodes: each app's message bytes
     * (body + extra, as the writer's quota counts them, store/op.c) in its
     * PGC_APP_BYTES counter row, from now on moved by every writer
     * transaction that stores messages (pgx_app_bytes_add) and read at
     * open instead of a scan (pgx_msg_bytes).  Initialised from the data
     * under the writers' advisory lock, so no running writer's commit
     * falls between the sum and the row. */
    {4, "app message bytes",
     "SELECT pg_advisory_xact_lock(" PG_WRITER_LOCK ");"
     "INSERT INTO im_counter(app_id, kind, k1, k2, value)"
     " SELECT app_id, " APP_BYTES_KIND ", '', '', sum(n) FROM ("
     "  SELECT app_id, octet_length(body) + coalesce(octet_length(extra), 0) AS n"
     "   FROM im_message_body"
     "  UNION ALL SELECT app_id, octet_length(body) + coalesce(octet_length(extra), 0)"
     "   FROM im_group_message) x GROUP BY app_id"
     " ON CONFLICT (app_id, kind, k1, k2) DO UPDATE SET value = EXCLUDED.value;"},
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
