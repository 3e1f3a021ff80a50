/*
 * Storage interface.  Backend-neutral: the SQLite backend (store_sqlite.c)
 * implements it now, a PostgreSQL backend can later.  All writes go through
 * one writer thread that groups every operation queued during the previous
 * flush into a single transaction (group commit); completion callbacks run
 * on the writer thread, so callers on an event loop post the result back to
 * their loop and never wait on the disk.  Blocking calls (store_open, the
 * *_sync functions) never run on an event loop: they are for startup, tests
 * and libuv's thread pool (uv_queue_work).
 *
 * Concurrency: every *_sync read is safe from any number of threads at
 * once; reads borrow one of a small pool of read connections (read_conns)
 * and only wait when all are busy, never for the writer.  A read sees the
 * last committed state: a write whose done callback has run is visible to
 * every read that starts afterwards.
 *
 * Return convention: 0 on success, negative STORE_E* on failure.
 */
#ifndef PETREL_STORE_H
#define PETREL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "petrel/errors.h"

enum store_err {
    STORE_OK = 0,
    STORE_ENOTFOUND = -1,
    STORE_EIO = -2,       /* backend error (disk, SQL) */
    STORE_EINVAL = -3,
    STORE_ECLOSED = -4,   /* store is shutting down */
    STORE_ECONFLICT = -5, /* unique key violated */
    STORE_ESCHEMA = -6,   /* database schema is newer than this binary */
    /* Addition (issue 14, item 17): the database file was deleted or
     * replaced while open; every write fails with it until a restart. */
    STORE_EGONE = -9,
    STORE_EBUSY = -7,     /* the writer queue is full: nothing queued, retry later */
};

/* Short static English text for a STORE_E* code (for logs). */
const char *store_strerror(int rc);

typedef struct store store_t;

typedef struct store_config {
    const char *data_dir;       /* database lives at <data_dir>/petrel.db */
    int synchronous_full;       /* 1: fsync on every commit (PRAGMA synchronous=FULL), 0: NORMAL */
    size_t max_batch;           /* most ops in one transaction (0 = 1024) */
    /* Addition: group-commit delay.  While writes keep arriving (the
     * previous commit ended less than 2 x this long ago) and fewer than
     * STORE_COMMIT_ENOUGH are queued, the writer waits up to this long
     * after the oldest queued write arrived before it begins the
     * transaction, so that moderate loads share one commit among more
     * writes.  An isolated write never waits.  0 = never wait. */
    int commit_delay_us;
    /* Addition: how long a connection waits for a lock held by another
     * process (e.g. an operator's sqlite3 shell) before the transaction
     * fails with STORE_EIO (0 = 5000 ms). */
    int busy_timeout_ms;
    /* Addition: read connections in the pool behind the *_sync reads, i.e.
     * how many reads run in parallel (0 = 4, at most 64).  Sized like the
     * thread pool that calls them; more only costs memory (page cache). */
    int read_conns;
    /* Addition: most entries of the writer's in-memory sequence cache
     * (per-conversation message sequences, per-owner conversation change
     * sequences, per-app last message key); a miss costs one indexed read
     * on the writer (0 = 100000, at least 16). */
    size_t seq_cache_max;
    /* Addition: WAL checkpoints on a thread of their own once the WAL holds
     * this many pages (4 KiB each); the writer copies the rest itself
     * between batches past 2 x, and waits for a full checkpoint at 8 x.
     * 0 = SQLite's default: a checkpoint inside the COMMIT that passes
     * 1000 pages, on the writer thread. */
    int wal_checkpoint_pages;
    /* Addition: a one-to-one message's transaction stores its body; the
     * two owners' history rows are written after the commit, sorted, once
     * this many messages of an app wait (readers take the rest from the
     * bodies, so nothing is ever missing).  0 = 8192. */
    int history_batch;
    /* Addition (issue 14, item 17): a write transaction still running
     * after this long (a hung disk, an fsync that does not return) makes
     * store_health report the writer stalled.  0 = 10000 ms. */
    int stall_ms;
    /* Addition: bound of the writer queue.  A message (store_msg_p2p, a
     * group SG_MSG) is refused with STORE_EBUSY while this many writes are
     * queued, any other asynchronous write at twice this; a waiting
     * (*_sync) write is never refused.  0 = 65536. */
    size_t max_queue;
    /* Addition: bytes of message bodies and extras (one-to-one and group)
     * an app may store; a new message over it is refused with reject
     * PETREL_ERR_QUOTA.  The usage is summed from the database at open
     * (one scan) and kept by the writer.  0 = no quota. */
    int64_t app_quota_bytes;
} store_config_t;

#define STORE_COMMIT_ENOUGH 64 /* queued writes that end a commit delay */
#define STORE_SECRET_MAX 128
#define STORE_ID_MAX 128

/* One tenant (app).  Fixed columns for what the server reads on hot paths;
 * the rest of the per-app settings in a JSON object text. */
typedef struct store_app {
    int32_t app_id;
    char secret[STORE_SECRET_MAX + 1];
    char admin_id[STORE_ID_MAX + 1];   /* identifier acting as app admin */
    int login_policy;                  /* policy_mode 1..4 */
    int max_per_platform;              /* 0 = unlimited */
    char settings[1024];               /* JSON object text, "{}" if none */
    int64_t created_at;                /* epoch ms */
} store_app_t;

/* Commit-latency histogram buckets.  store_hist_bounds_us[i] is bucket i's
 * inclusive upper bound in µs; the last one is UINT64_MAX and stands for
 * +Inf.  The bounds are fixed (not configurable) so exported series stay
 * comparable across restarts and builds. */
#define STORE_HIST_BUCKETS 13
extern const uint64_t store_hist_bounds_us[STORE_HIST_BUCKETS];

typedef struct store_stats {
    uint64_t commits;          /* transactions committed by the writer */
    uint64_t ops;              /* operations committed */
    uint64_t failures;         /* transactions rolled back */
    /* commit latency (addition: defined as BEGIN to COMMIT returned, the
     * whole transaction, i.e. what an op waits once the writer took it) */
    uint64_t commit_us_total;  /* sum of commit latencies (µs) */
    uint64_t commit_us_max;
    uint64_t queued;           /* ops currently waiting */
    /* Additions. */
    uint64_t op_failures;      /* ops that failed alone (constraint, update of a missing user)
                                * inside a committed transaction; per-row results of
                                * import/delete do not count */
    uint64_t batch_max;        /* most ops seen in one transaction */
    uint64_t busy_refusals;    /* writes refused with STORE_EBUSY (queue full) */
    /* Addition: commit latency distribution, same measure as commit_us_*.
     * Each committed transaction counts once, in the first bucket whose
     * bound >= its latency, so the buckets sum to commits.  Not
     * cumulative: a Prometheus exporter adds them up for le="...". */
    uint64_t commit_hist[STORE_HIST_BUCKETS];
    /* Addition: WAL checkpoints (store_config_t.wal_checkpoint_pages; all
     * 0 when SQLite's own autocheckpoint runs them inside COMMIT). */
    uint64_t ckpt_passes;      /* checkpointer thread passes */
    uint64_t ckpt_writer;      /* checkpoints the writer ran between batches */
    uint64_t ckpt_complete;    /* ... that copied the whole WAL (it then starts over) */
    /* Addition: history rows written in sorted batches (history_batch). */
    uint64_t history_rows;     /* rows written */
    uint64_t history_chunks;   /* transactions that wrote them */
    uint64_t history_waiting;  /* messages whose rows are not written yet */
} store_stats_t;

typedef void (*store_done_fn)(void *arg, int rc);

/* Open (creating the directory's database if needed), run migrations, start
 * the writer thread. */
int store_open(const store_config_t *cfg, store_t **out);

/* Stop accepting writes, commit everything queued (running its callbacks),
 * join the writer, close the database.  Safe on NULL.  Not from a done
 * callback (it would join its own thread; refused and logged).  No *_sync
 * read may be running or start once it is called (the caller drains its
 * thread-pool work first). */
void store_close(store_t *st);

/* Addition: the first half of store_close.  Stop accepting writes (puts
 * return STORE_ECLOSED from the moment it starts), commit everything queued
 * (running its callbacks) and join the writer, but keep the handle: reads
 * and store_get_stats still work until store_close.  Idempotent; returns
 * STORE_EINVAL (writes are still refused) when called from a done callback,
 * which cannot join its own thread.  Neither this nor store_close may run
 * concurrently with a store_close of the same handle. */
int store_shutdown(store_t *st);

/* Current schema version after migrations. */
int store_schema_version(store_t *st);

/* Asynchronous upsert of an app through the writer (group commit).  done may
 * be NULL.  The app is copied.  done(arg, rc) runs exactly once, on the
 * writer thread, after the transaction holding the op committed (rc 0) or
 * failed: STORE_EINVAL / STORE_ECONFLICT for an op a constraint rejected
 * (the rest of its batch still commits), STORE_EIO when the transaction
 * failed as a whole.  When store_app_put itself returns non-zero, done is
 * not called.  created_at <= 0 means "now"; an update keeps the stored
 * created_at; an empty settings string is stored as "{}".  Strings must be
 * NUL-terminated within their arrays (else STORE_EINVAL). */
int store_app_put(store_t *st, const store_app_t *app, store_done_fn done, void *arg);

/* Blocking helpers for startup and tests.  store_app_put_sync goes through
 * the writer like store_app_put and returns the op's rc; calling it from a
 * done callback (the writer thread) would deadlock and returns STORE_EINVAL. */
int store_app_put_sync(store_t *st, const store_app_t *app);
int store_app_get_sync(store_t *st, int32_t app_id, store_app_t *out);
/* All apps by app_id; *out is malloc'ed (free()), *n set; *out is NULL
 * when there are none. */
int store_app_list_sync(store_t *st, store_app_t **out, size_t *n);

/* Liveness probe: a trivial read on the database (blocking, cheap). */
int store_ping_sync(store_t *st);

/* Addition (issue 14, item 17): write health.
 *
 * write_failing is set by every write transaction that fails (full disk,
 * I/O error, lock timeout) and cleared by every one that commits.  gone is
 * set, for good, once the database file (or its WAL) is found deleted or
 * replaced: SQLite would go on committing into the orphaned inode, so the
 * writer checks the files' identity after each commit, before any done
 * callback, and from then on answers every op STORE_EGONE (nothing acked
 * is lost at the next start, which refuses to run on the missing
 * database; see datadir_guard.h). */
typedef struct store_health {
    int gone;                /* database file deleted or replaced */
    const char *gone_why;    /* static text when gone, else NULL */
    int write_failing;       /* the last write transaction failed */
    uint64_t write_failures; /* write transactions failed since start */
    int64_t last_failure_ms; /* epoch ms of the last one, 0 = none */
    uint64_t busy_ms;        /* age of the write transaction running now, 0 = none */
    int stalled;             /* busy_ms over store_config_t.stall_ms */
} store_health_t;

/* The state as last observed; never blocks (for metrics, any thread). */
void store_health_get(store_t *st, store_health_t *out);
/* Blocking (stat of the database files; thread pool, never an event
 * loop): check the files' identity now (setting gone when it changed),
 * and, while write_failing, commit a probe write through the writer so
 * that a disk with room again clears it without waiting for traffic.
 * Then fill *out. */
void store_health_sync(store_t *st, store_health_t *out);

void store_get_stats(store_t *st, store_stats_t *out);

/* ------------------------------------------------------------------ */
/* Users (addition, schema version 2).
 *
 * IM users of an app (table im_user).  petrel never stores an IM user's
 * password: users authenticate with userSign tokens.  Users are soft
 * deleted (del_flag = 1) so that ids are never reused and history keeps
 * resolving; a deleted user still blocks importing the same user_id.
 *
 * Write rules shared by the user and account writes below:
 *   - They go through the writer like store_app_put: done(arg, rc) runs
 *     exactly once on the writer thread after the transaction committed or
 *     failed; when the submit function itself returns non-zero, done is
 *     not called and nothing is written (results included).
 *   - Inputs (users, ids, strings) are copied before the submit function
 *     returns; the caller may free or reuse them at once.  Only a results
 *     array is the caller's to keep alive until done has run (the _sync
 *     variants return after that, so a stack array is fine there).
 *   - Per-row results are all filled before done runs.  When done's rc is
 *     non-zero (STORE_EIO: the transaction failed; nothing was written)
 *     every entry equals rc.
 *   - The _sync variants wait for done and return its rc; like
 *     store_app_put_sync they refuse (STORE_EINVAL) when called from a
 *     done callback.
 */

/* Longest accepted user_name of a demo app account, and password_hash. */
#define STORE_NAME_MAX 128
#define STORE_HASH_MAX 255
/* Most users or ids in one import/delete call (bounds one op's memory and
 * how long it holds the writer). */
#define STORE_USER_BATCH_MAX 1000

typedef struct store_user {
    int32_t app_id;
    char user_id[STORE_ID_MAX + 1];  /* 1..128 bytes */
    char nick_name[101];
    char photo[256];                 /* URL */
    int user_sex;                    /* 0 unknown, 1 male, 2 female (not checked) */
    char birth_day[51];              /* free text, as the client sent it */
    char location[51];
    char self_signature[256];
    int friend_allow_type;           /* 1 no verification, 2 verification needed */
    int forbidden_flag;              /* 0/1: banned from logging in */
    int disable_add_friend;          /* 0/1 */
    int silent_flag;                 /* 0/1: muted */
    int user_type;                   /* 1 ordinary, other values app defined */
    int del_flag;                    /* 0/1; read-only: set by store_user_delete */
    char extra[1001];                /* opaque app data, often JSON */
    int64_t created_at, updated_at;  /* epoch ms; read-only: set by the store */
} store_user_t;

/* Fields of store_user_update's field_mask. */
enum store_user_field {
    STORE_USER_F_NICK_NAME = 1u << 0,
    STORE_USER_F_PHOTO = 1u << 1,
    STORE_USER_F_USER_SEX = 1u << 2,
    STORE_USER_F_BIRTH_DAY = 1u << 3,
    STORE_USER_F_LOCATION = 1u << 4,
    STORE_USER_F_SELF_SIGNATURE = 1u << 5,
    STORE_USER_F_FRIEND_ALLOW_TYPE = 1u << 6,
    STORE_USER_F_FORBIDDEN_FLAG = 1u << 7,
    STORE_USER_F_DISABLE_ADD_FRIEND = 1u << 8,
    STORE_USER_F_SILENT_FLAG = 1u << 9,
    STORE_USER_F_USER_TYPE = 1u << 10,
    STORE_USER_F_EXTRA = 1u << 11,
    STORE_USER_F_ALL = (1u << 12) - 1,
};

/* A user is valid when: user_id is 1..STORE_ID_MAX bytes; every string is
 * NUL-terminated within its array; friend_allow_type is 1 or 2; forbidden_flag,
 * disable_add_friend and silent_flag are 0 or 1.
 * del_flag, created_at and updated_at are ignored on writes. */

/* Insert n (1..STORE_USER_BATCH_MAX) users of any apps as ONE op: each row
 * in its own savepoint, so a bad row fails alone.  results[i]: 0 inserted,
 * STORE_ECONFLICT the (app_id, user_id) exists (a soft-deleted user counts
 * as existing), STORE_EINVAL the row is invalid (see above).  done's rc is
 * 0 whenever the transaction committed, even if every row was refused.
 * created_at = updated_at = the time the op ran (ms); del_flag = 0.
 * STORE_EINVAL (no op) for NULL st/users/results or n out of range. */
int store_user_import(store_t *st, const store_user_t *users, size_t n, int *results,
                      store_done_fn done, void *arg);
int store_user_import_sync(store_t *st, const store_user_t *users, size_t n, int *results);

/* Update only the fields named in field_mask (STORE_USER_F_*, non-zero, no
 * unknown bits) of the live (del_flag = 0) user u->app_id/u->user_id, and
 * set updated_at = now.  Only masked fields of u are read or validated.
 * done's rc: 0, STORE_ENOTFOUND (no such user, or deleted).  STORE_EINVAL
 * (no op) for a bad mask, an invalid user_id or an invalid masked field. */
int store_user_update(store_t *st, const store_user_t *u, unsigned field_mask,
                      store_done_fn done, void *arg);
int store_user_update_sync(store_t *st, const store_user_t *u, unsigned field_mask);

/* Soft delete (del_flag = 1, updated_at = now) n (1..STORE_USER_BATCH_MAX)
 * users of one app.  results[i]: 0 deleted, STORE_ENOTFOUND missing,
 * already deleted, or not a possible id (empty or too long), STORE_EINVAL
 * user_ids[i] is NULL.  done's rc is 0 whenever the transaction committed. */
int store_user_delete(store_t *st, int32_t app_id, const char *const *user_ids, size_t n,
                      int *results, store_done_fn done, void *arg);
int store_user_delete_sync(store_t *st, int32_t app_id, const char *const *user_ids,
                           size_t n, int *results);

/* Blocking: the user, deleted ones included (out->del_flag = 1) so callers
 * can tell "deleted" from "never existed".  0 / STORE_ENOTFOUND. */
int store_user_get_sync(store_t *st, int32_t app_id, const char *user_id, store_user_t *out);

/* Blocking: one page of the app's live users ordered by user_id.
 * nick_like: case-insensitive (ASCII) substring of nick_name, matched
 * literally (% _ and \ are not wildcards); NULL or "" = every user.
 * exclude_user_id (may be NULL) is left out of both the page and total.
 * offset < 0 counts as 0; limit is clamped to 1..100.  *out is malloc'ed
 * (free()), NULL when the page is empty; *n its length; *total (may be
 * NULL) the number of matching users, from the same snapshot as the page.
 * Substring search scans the app's users: fine for demo-sized apps. */
int store_user_page_sync(store_t *st, int32_t app_id, const char *nick_like,
                         const char *exclude_user_id, int offset, int limit,
                         store_user_t **out, size_t *n, int64_t *total);

/* Blocking: number of live users of the app. */
int store_user_count_sync(store_t *st, int32_t app_id, int64_t *n);

/* ------------------------------------------------------------------ */
/* Demo app server accounts (addition, schema version 2; table app_account).
 * user_name is unique per app ignoring ASCII case ("Alice" == "alice").
 * password_hash is an opaque string made by the caller (password.h's
 * "scrypt$..."); the store never sees a password. */

/* Create an account.  user_name 1..STORE_NAME_MAX bytes, user_id
 * 1..STORE_ID_MAX, password_hash 1..STORE_HASH_MAX (else STORE_EINVAL, no
 * op).  done's rc: 0, STORE_ECONFLICT the name is taken in that app. */
int store_account_create(store_t *st, int32_t app_id, const char *user_name,
                         const char *user_id, const char *password_hash,
                         store_done_fn done, void *arg);
int store_account_create_sync(store_t *st, int32_t app_id, const char *user_name,
                              const char *user_id, const char *password_hash);

/* Register: create an account AND its IM user as one op (one savepoint), so
 * that registration can never claim an identifier the IM already has.  The
 * IM user (*user, validated like store_user_import's rows; the account's
 * user_id is user->user_id) is inserted first, then the account user_name.
 * done's rc: 0 both were created; STORE_ECONFLICT and nothing written when
 * the IM user exists (a soft-deleted one included) or the name is taken in
 * user->app_id.  The writer runs ops one at a time, so two registrations of
 * one name, or a registration racing store_user_import of the same id,
 * cannot both succeed.  STORE_EINVAL (no op) for bad arguments. */
int store_account_register(store_t *st, const char *user_name, const char *password_hash,
                           const store_user_t *user, store_done_fn done, void *arg);
int store_account_register_sync(store_t *st, const char *user_name, const char *password_hash,
                                const store_user_t *user);

/* Blocking: look an account up by name (any case).  user_id_out (may be
 * NULL) needs STORE_ID_MAX + 1 bytes; hash_out (may be NULL) gets the
 * password_hash, STORE_EINVAL if it does not fit in hash_cap (use
 * STORE_HASH_MAX + 1).  0 / STORE_ENOTFOUND. */
int store_account_get_sync(store_t *st, int32_t app_id, const char *user_name,
                           char *user_id_out, char *hash_out, size_t hash_cap);

/* ------------------------------------------------------------------ */
/* One-to-one messages and conversations (addition, schema version 3).
 *
 * Storage (write diffusion, seed inventory §4.5): one im_message_body row
 * per message plus one im_message_history row per owner (sender and
 * receiver), and one im_conversation row per owner and peer.
 *
 * Guarantees (DESIGN.md §3), all held by the writer thread, which is the
 * only one allocating numbers, in commit order:
 *   - Idempotency: (app_id, from_id, message_id) is a UNIQUE key on disk,
 *     so a resend gets the original message_key, sequence and created_at
 *     back (duplicate = 1) and nothing is written, also after a restart.
 *   - sequence: per conversation (the unordered pair of users), 1, 2, 3...
 *     strictly increasing in commit order, never reused, never skipped by
 *     a failed op or batch, across restarts too.
 *   - message_key: unique per app and increasing in commit order, so a
 *     reader paging by key (store_msg_sync_sync) never misses a message
 *     that commits after it read a page.  The store therefore may raise a
 *     caller's proposed key (see store_msg_t.message_key).
 *   - change_seq: per owner, increasing in commit order over all of the
 *     owner's conversations; every change of a conversation row takes the
 *     next one, so store_conv_list_sync pages never skip a change.
 *
 * Write rules: as for users above (done(arg, rc) exactly once on the
 * writer thread after COMMIT; no op when the submit function returns
 * non-zero; _sync variants refuse to run on the writer thread).  An op's
 * results are written into the caller's struct/pointers right before done
 * runs and only when rc is 0; when rc is non-zero they are left untouched.
 * rc 0 with a non-zero reject means "refused by a rule", nothing written.
 * Conversation types: 0 is one-to-one (the only one these ops write). */

/* Refusals carried in store_msg_t.reject and store_recall_t.reject are
 * PETREL_ERR_* codes (petrel/errors.h); STORE_REJECT_* are their old names,
 * kept as aliases for callers not yet renamed. */
#define STORE_REJECT_USER_NOT_FOUND PETREL_ERR_USER_NOT_FOUND
#define STORE_REJECT_SENDER_SILENT PETREL_ERR_SENDER_SILENT
#define STORE_REJECT_SENDER_FORBIDDEN PETREL_ERR_SENDER_FORBIDDEN
#define STORE_REJECT_MSG_NOT_FOUND PETREL_ERR_MSG_NOT_FOUND
#define STORE_REJECT_RECALL_TIMEOUT PETREL_ERR_RECALL_TIMEOUT
#define STORE_REJECT_RECALLED PETREL_ERR_RECALLED
#define STORE_REJECT_NOT_SENDER PETREL_ERR_NOT_OPERATOR
#define STORE_REJECT_NOT_FRIEND PETREL_ERR_NOT_FRIEND
#define STORE_REJECT_QUOTA PETREL_ERR_QUOTA
#define STORE_REJECT_BLACKED_BY_YOU PETREL_ERR_BLACKED_BY_YOU
#define STORE_REJECT_BLACKED_BY_PEER PETREL_ERR_BLACKED_BY_PEER

/* A message to store.  In: app_id, from_id, to_id, message_id (each id
 * 1..STORE_ID_MAX bytes, from_id != to_id), body (NUL-terminated text,
 * opaque, not NULL), extra (may be NULL), message_time, message_random,
 * message_key (> 0).  body and extra are copied at submit; the struct
 * itself must stay alive until done has run (the outputs land in it). */
typedef struct store_msg {
    int32_t app_id;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char message_id[STORE_ID_MAX + 1]; /* the client's id of the message */
    char *body;                        /* opaque JSON text */
    char *extra;                       /* may be NULL */
    int64_t message_time;              /* client ms, stored as given */
    int64_t message_random;
    /* In: the key proposed by the caller (msgkey_next).  Out: the stored
     * one: the original on a duplicate, else max(proposed, the app's
     * largest stored key + 1) — equal to the proposal in the normal case. */
    int64_t message_key;
    int64_t sequence;   /* out: per-conversation sequence */
    int64_t created_at; /* out: server ms when the original was stored */
    int duplicate;      /* out: 1 when (app, from, message_id) already existed */
    int reject;         /* out: 0, or 20001 / 50002 / 62023 (PETREL_ERR_*) */
    int del_flag;       /* out: 1 when a duplicate's original was recalled */
    /* In (addition, schema version 4): STORE_MSG_CHECK_* bits, set by the
     * caller from the app's settings (sendMessageCheckFriend /
     * sendMessageCheckBlack); 0 = no friendship rule. */
    unsigned flags;
} store_msg_t;

/* store_msg_t.flags.  Checked in the writer after the user checks, black
 * first: 30006 the sender blacklisted the receiver, 30007 the receiver
 * blacklisted the sender; then friendship: 30003 unless both directions
 * are live friendships (status 1).  A duplicate is answered before any
 * check, as always. */
#define STORE_MSG_CHECK_FRIEND 1u
#define STORE_MSG_CHECK_BLACK 2u

/* Store a one-to-one message as one op: duplicate lookup; sender live
 * (20001), not forbidden (62023), not silenced (50002); receiver live
 * (20001); next sequence of the pair; body + both history rows; both
 * owners' conversations upserted (last_seq = sequence, deleted = 0, next
 * change_seq, updated_at = now; a deleted conversation comes back).
 * Neither owner's read_seq moves.  STORE_EINVAL (no op): invalid input
 * (see store_msg_t), including from_id == to_id. */
int store_msg_p2p(store_t *st, store_msg_t *m, store_done_fn done, void *arg);
int store_msg_p2p_sync(store_t *st, store_msg_t *m);

/* owner has read the one-to-one conversation with peer up to seq:
 * read_seq = max(read_seq, min(seq, last_seq)), so it never moves back nor
 * beyond the last message.  When it moved, the conversation takes the next
 * change_seq and *out_changed = 1.  *out_read_seq: the read_seq after the
 * op.  Both outputs may be NULL.  done's rc: 0, STORE_ENOTFOUND (no such
 * conversation). */
int store_msg_read(store_t *st, int32_t app_id, const char *owner, const char *peer,
                   int64_t seq, int64_t *out_read_seq, int *out_changed,
                   store_done_fn done, void *arg);
int store_msg_read_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                        int64_t seq, int64_t *out_read_seq, int *out_changed);

typedef struct store_recall {
    /* Filled whenever the message exists (whatever reject says). */
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    int64_t sequence;
    int reject; /* 0 recalled; 50003 no such message; 60006 requester is not the
                 * sender nor admin; 50005 already recalled; 50004 window passed
                 * (checked in this order) */
} store_recall_t;

/* Recall (message_key of app_id) on behalf of requester: allowed to the
 * sender, or to anyone when requester_is_admin, while
 * now_ms - created_at <= window_ms (server times, never the client's
 * message_time; window_ms >= 0, else STORE_EINVAL).  now_ms <= 0 means
 * "when the op runs".  On success: del_flag = 1, recalled_at = now_ms,
 * both owners' conversations take their next change_seq (last_seq and
 * sequence numbers stay).  The body stays on disk but no read returns it.
 * out is required (STORE_EINVAL otherwise). */
int store_msg_recall(store_t *st, int32_t app_id, int64_t message_key, const char *requester,
                     int requester_is_admin, int64_t now_ms, int64_t window_ms,
                     store_recall_t *out, store_done_fn done, void *arg);
int store_msg_recall_sync(store_t *st, int32_t app_id, int64_t message_key,
                          const char *requester, int requester_is_admin, int64_t now_ms,
                          int64_t window_ms, store_recall_t *out);

/* Change owner's conversation (conversation_type >= 0, peer): is_top,
 * is_mute, deleted each 0/1 or -1 = keep (else STORE_EINVAL).  When a
 * value changed, the conversation takes the next change_seq and
 * updated_at = now; setting what is already there changes nothing.
 * *out_change_seq (may be NULL): the conversation's change_seq after the
 * op.  done's rc: 0, STORE_ENOTFOUND.  A deleted conversation comes back
 * (deleted = 0) with the next message. */
int store_conv_update(store_t *st, int32_t app_id, const char *owner, const char *peer,
                      int conversation_type, int is_top, int is_mute, int deleted,
                      int64_t *out_change_seq, store_done_fn done, void *arg);
int store_conv_update_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int conversation_type, int is_top, int is_mute, int deleted,
                           int64_t *out_change_seq);

/* A stored message as one owner sees it. */
typedef struct store_msg_row {
    int64_t message_key, sequence, message_time, message_random, created_at;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char message_id[STORE_ID_MAX + 1];
    char *body;  /* malloc'ed; NULL when recalled */
    char *extra; /* malloc'ed; NULL when none */
    int del_flag; /* 1 recalled */
    /* Where the row stands in the owner's sync order (syncOfflineMessage):
     * its message_key, or a newer key once the message was recalled. */
    int64_t sync_key;
} store_msg_row_t;

/* Frees every row's body and extra, then the array.  Safe on NULL. */
void store_msg_rows_free(store_msg_row_t *rows, size_t n);

/* Most rows one message or conversation read returns; limit is clamped to
 * 1..STORE_MSG_LIMIT_MAX. */
#define STORE_MSG_LIMIT_MAX 200

/* Blocking: owner's messages with peer whose sequence is in
 * [from_seq, to_seq] (to_seq 0 = no upper bound), ordered by sequence,
 * ascending or (descending != 0) descending, at most limit.  The newest
 * page: from 0, to 0, descending; the page before sequence s: to s - 1,
 * descending.  *out (store_msg_rows_free) is NULL when *n is 0. */
int store_msg_history_sync(store_t *st, int32_t app_id, const char *owner, const char *peer,
                           int64_t from_seq, int64_t to_seq, int limit, int descending,
                           store_msg_row_t **out, size_t *n);

/* Blocking: everything owner sent or received, over all conversations,
 * ordered by message_key, strictly after after_key, at most limit;
 * *max_key (may be NULL): owner's largest message_key (0 if none), from
 * the same snapshot.  The next page starts after the last row's key, so
 * pages never overlap and (keys increasing in commit order) never skip. */
int store_msg_sync_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_key,
                        int limit, store_msg_row_t **out, size_t *n, int64_t *max_key);

/* Blocking: the one-to-one message message_key of app_id, whatever its
 * state (del_flag 1 when recalled), without its body: body and extra are
 * NULL (nothing to free), sync_key is the key.  0 / STORE_ENOTFOUND
 * (also for a key <= 0).  For checks such as "did X send this to me". */
int store_msg_head_sync(store_t *st, int32_t app_id, int64_t message_key, store_msg_row_t *out);

typedef struct store_conv {
    char peer_id[STORE_ID_MAX + 1];
    int conversation_type;
    int64_t last_seq, read_seq, change_seq, updated_at;
    int is_top, is_mute, deleted;
    /* one-to-one: the peer's read_seq of the same conversation (when the
     * peer reads, this row takes a new change_seq too) */
    int64_t peer_read_seq;
} store_conv_t;

/* Blocking: owner's conversations, deleted ones included (so devices learn
 * deletions), with change_seq > after_change_seq, ordered by change_seq, at
 * most limit; *max_change_seq (may be NULL): owner's largest change_seq (0
 * if none), same snapshot.  *out is malloc'ed (free()), NULL when empty. */
int store_conv_list_sync(store_t *st, int32_t app_id, const char *owner,
                         int64_t after_change_seq, int limit, store_conv_t **out, size_t *n,
                         int64_t *max_change_seq);

/* Blocking: one conversation.  0 / STORE_ENOTFOUND. */
int store_conv_get_sync(store_t *st, int32_t app_id, const char *owner, int conversation_type,
                        const char *peer, store_conv_t *out);

/* ------------------------------------------------------------------ */
/* Friendship (addition, schema version 4; seed inventory §5.3, §7.1).
 *
 * Tables: im_friendship (one row per direction from_id -> to_id: status
 * 0 none / 1 normal / 2 deleted, black 1 normal / 2 blacked),
 * im_friendship_request (at most one pending request per (app, from, to)),
 * im_friend_group and im_friend_group_member (a user's "friend lists";
 * deleted lists are kept with del_flag = 1 so devices learn of it).
 *
 * Sequences (what clients sync by), each strictly increasing in commit
 * order and never reused, allocated by the writer as the owner's largest
 * stored value + 1 inside the transaction (rows are never deleted, so
 * the maximum never goes back):
 *   - friendship sequence, per from_id: every change of one of the
 *     user's rows (add, update, delete, blacklist) takes the next one,
 *     stored in friend_sequence (black_sequence = friend_sequence of the
 *     last blacklist change);
 *   - request sequence, per addressee (to_id): creating, refreshing,
 *     reading or deciding a request;
 *   - friend-list sequence, per owner: creating or deleting a list, or
 *     changing its members.
 *
 * Rules held by the writer (each op in one savepoint, like the others):
 *   - Users taking part must be live (not deleted), else reject 20001.
 *   - Deleting a friendship ends BOTH directions (status 2; the seeds
 *     ended only one) and takes the peer out of each side's friend lists.
 *   - A friend list only holds live friends of its owner (checked when a
 *     member is added; deletion removes them, see above).
 *
 * Write rules: as for users and messages (done(arg, rc) exactly once on
 * the writer thread after COMMIT; no op when the submit function returns
 * non-zero; _sync variants refuse to run on the writer thread).  Outputs
 * (res, results, seqs) are written right before done and only when rc is
 * 0; rc 0 with res->reject != 0 means "refused by a rule", nothing
 * written, and then every results[i] equals res->reject.  results and
 * seqs arrays must stay alive until done has run; everything else is
 * copied at submit. */

#define STORE_FRIEND_REMARK_MAX 100
#define STORE_FRIEND_SOURCE_MAX 50
#define STORE_FRIEND_WORDING_MAX 255
#define STORE_FRIEND_EXTRA_MAX 1000
#define STORE_FRIEND_GROUP_NAME_MAX 100
/* Most rows one friendship read returns (sync pages). */
#define STORE_FRIEND_LIMIT_MAX 100

/* Refusals in store_friend_res_t.reject and per-row results: PETREL_ERR_*
 * codes (petrel/errors.h); old names kept as aliases. */
#define STORE_REJECT_ALREADY_FRIEND PETREL_ERR_ALREADY_FRIEND
#define STORE_REJECT_FRIEND_DELETED PETREL_ERR_FRIEND_DELETED
#define STORE_REJECT_NOT_BLACKED PETREL_ERR_NOT_BLACKED
#define STORE_REJECT_NOT_ADDRESSEE PETREL_ERR_NOT_ADDRESSEE
#define STORE_REJECT_REQUEST_NOT_FOUND PETREL_ERR_REQUEST_NOT_FOUND
#define STORE_REJECT_REQUEST_HANDLED PETREL_ERR_REQUEST_HANDLED
#define STORE_REJECT_GROUP_EXISTS PETREL_ERR_FRIEND_LIST_EXISTS
#define STORE_REJECT_GROUP_NOT_FOUND PETREL_ERR_FRIEND_LIST_NOT_FOUND
#define STORE_REJECT_ADD_DISABLED PETREL_ERR_ADD_FRIEND_DISABLED

/* One direction of a relation.  Strings NUL-terminated within their
 * arrays. */
typedef struct store_friend {
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char remark[STORE_FRIEND_REMARK_MAX + 1];
    char add_source[STORE_FRIEND_SOURCE_MAX + 1];
    char extra[STORE_FRIEND_EXTRA_MAX + 1];
    int status;              /* 0 none (blacklist only), 1 normal, 2 deleted */
    int black;               /* 1 normal, 2 blacked (from_id blacklisted to_id) */
    int64_t friend_sequence; /* from_id's friendship sequence of the last change */
    int64_t black_sequence;  /* same, of the last blacklist change (0 never) */
    int64_t create_time;     /* ms: when the friendship (last) began */
    char nick_name[101];     /* reads only: to_id's nick_name, "" when unknown */
} store_friend_t;

typedef struct store_friend_request {
    int64_t id;
    char from_id[STORE_ID_MAX + 1];
    char to_id[STORE_ID_MAX + 1];
    char remark[STORE_FRIEND_REMARK_MAX + 1];
    char add_source[STORE_FRIEND_SOURCE_MAX + 1];
    char add_wording[STORE_FRIEND_WORDING_MAX + 1];
    int read_status;    /* 0 unread, 1 read */
    int approve_status; /* 0 pending, 1 agreed, 2 rejected */
    int64_t create_time, update_time;
    int64_t sequence;   /* to_id's request sequence of the last change */
} store_friend_request_t;

typedef struct store_friend_peer {
    char id[STORE_ID_MAX + 1];
    int64_t seq; /* the peer's new friendship sequence, 0 when its row did not change */
} store_friend_peer_t;

/* What a friendship op did (see each op). */
typedef struct store_friend_res {
    int reject;      /* 0, or a PETREL_ERR_* code */
    int added;       /* add: 1 both directions are friends now, 0 a request was made */
    int64_t seq;     /* the acting user's new sequence (friendship, request or
                      * friend list, per op), 0 when nothing changed */
    int64_t peer_seq;/* the other user's new friendship sequence, 0 when untouched */
    int64_t group_id;/* friend-list ops: the list's id */
    store_friend_request_t request; /* add (when a request was made), approve */
    store_friend_peer_t *peers;     /* delete_all: malloc'ed (free()), NULL if none */
    size_t npeers;
} store_friend_res_t;

/* Fields of store_friend_update's mask. */
enum store_friend_field {
    STORE_FRIEND_F_REMARK = 1u << 0,
    STORE_FRIEND_F_ADD_SOURCE = 1u << 1,
    STORE_FRIEND_F_EXTRA = 1u << 2,
    STORE_FRIEND_F_ALL = (1u << 3) - 1,
};

/* Import (admin): from_id's rows towards items[i].to_id, one direction,
 * as given (status 1 or 2, black 1 or 2; remark, add_source, extra), each
 * with the next sequence.  n 1..STORE_USER_BATCH_MAX.  reject 20001 when
 * from_id is not a live user.  results[i]: 0, STORE_ENOTFOUND to_id is
 * not a live user, STORE_ECONFLICT a live friendship (status 1) exists,
 * STORE_EINVAL invalid item (to_id == from_id, bad status/black).  A row
 * of a deleted or blacklist-only relation is overwritten.  seqs (may be
 * NULL, else n entries): each imported row's sequence. */
int store_friend_import(store_t *st, int32_t app_id, const char *from_id,
                        const store_friend_t *items, size_t n, int *results, int64_t *seqs,
                        store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_import_sync(store_t *st, int32_t app_id, const char *from_id,
                             const store_friend_t *items, size_t n, int *results,
                             int64_t *seqs, store_friend_res_t *res);

/* f->from_id asks to befriend f->to_id (remark, add_source, extra of f;
 * add_wording may be NULL).  Rejects: 20001 either user missing or
 * deleted, 30002 from -> to is already a live friendship, 30006 from
 * blacklisted to, 30007 to blacklisted from, 62040 to's
 * disable_add_friend is 1 (nothing is written: no friendship, no
 * request).  When to_id's
 * friend_allow_type is 1: both directions become friends at once
 * (res->added = 1, res->seq = from's, res->peer_seq = to's new sequence;
 * an already live reverse row is left as it is, peer_seq 0; a new
 * reverse row takes the same add_source, an existing one keeps its
 * remark and extra).  Otherwise a pending request from -> to is created,
 * or refreshed (remark, add_source, wording, unread again) when one is
 * pending: res->added = 0, res->request = the row, res->seq = its
 * sequence (to_id's request sequence). */
int store_friend_add(store_t *st, int32_t app_id, const store_friend_t *f,
                     const char *add_wording, store_friend_res_t *res, store_done_fn done,
                     void *arg);
int store_friend_add_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                          const char *add_wording, store_friend_res_t *res);

/* Change the masked fields (STORE_FRIEND_F_*, non-zero) of the live
 * friendship f->from_id -> f->to_id.  Reject 30003 when it is not live.
 * res->seq: the new sequence. */
int store_friend_update(store_t *st, int32_t app_id, const store_friend_t *f, unsigned mask,
                        store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_update_sync(store_t *st, int32_t app_id, const store_friend_t *f,
                             unsigned mask, store_friend_res_t *res);

/* End the friendship from_id -> to_id AND to_id -> from_id (status 2).
 * Rejects: 30003 no friendship from -> to (no row, or status 0), 30004
 * already deleted.  res->seq / peer_seq: both users' new sequences
 * (peer_seq 0 when the reverse row was not live). */
int store_friend_delete(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                        store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_delete_sync(store_t *st, int32_t app_id, const char *from_id,
                             const char *to_id, store_friend_res_t *res);

/* End every live friendship of from_id, both directions.  res->peers: the
 * former friends with their new sequences; res->seq: from's last new
 * sequence (0 when there was none).  Never rejects. */
int store_friend_delete_all(store_t *st, int32_t app_id, const char *from_id,
                            store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_delete_all_sync(store_t *st, int32_t app_id, const char *from_id,
                                 store_friend_res_t *res);

/* black 2: from_id blacklists to_id (a row with status 0 is created when
 * there is none); rejects 20001 to_id not a live user, 30006 already
 * blacked.  black 1: removes it; reject 30010 when not blacked.
 * res->seq: from's new sequence (= the row's black_sequence).  black 2
 * also rejects to_id's pending request to from_id in the same transaction
 * (approve_status 2, text cleared, from's next request sequence);
 * res->request is that row (id 0 when there was none). */
int store_friend_black(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                       int black, store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_black_sync(store_t *st, int32_t app_id, const char *from_id,
                            const char *to_id, int black, store_friend_res_t *res);

/* approver decides request id (status 1 agree, 2 reject).  Rejects, in
 * this order: 30012 no such request in the app, 30011 approver is not its
 * addressee (unless is_admin), 30013 already decided, 20001 (agree) a
 * user is gone, (agree) 30006 the addressee blacklisted the requester /
 * 30007 the requester blacklisted the addressee.  The request becomes read, takes the addressee's next
 * request sequence (res->request is the updated row).  Agree: both
 * directions become friends as in store_friend_add (the request's remark
 * and add_source for requester -> addressee): res->seq = addressee's and
 * res->peer_seq = requester's new friendship sequence (0 when already). */
int store_friend_request_approve(store_t *st, int32_t app_id, const char *approver,
                                 int is_admin, int64_t id, int status,
                                 store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_request_approve_sync(store_t *st, int32_t app_id, const char *approver,
                                      int is_admin, int64_t id, int status,
                                      store_friend_res_t *res);

/* Mark every unread request addressed to owner read, each taking the next
 * request sequence; res->seq: the last one (0 when none was unread). */
int store_friend_request_read(store_t *st, int32_t app_id, const char *owner,
                              store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_request_read_sync(store_t *st, int32_t app_id, const char *owner,
                                   store_friend_res_t *res);

/* Create owner's friend list name (1..STORE_FRIEND_GROUP_NAME_MAX bytes)
 * with members to_ids[0..n) (n 0..STORE_USER_BATCH_MAX; to_ids may be
 * NULL when n is 0).  Rejects: 20001 owner not live, 30015 a live list
 * has that name.  results[i] (n entries): 0 member, 30003 not a live
 * friend of owner.  res->group_id, res->seq (the list's sequence). */
int store_friend_group_add(store_t *st, int32_t app_id, const char *owner, const char *name,
                           const char *const *to_ids, size_t n, int *results,
                           store_friend_res_t *res, store_done_fn done, void *arg);
int store_friend_group_add_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *name, const char *const *to_ids, size_t n,
                                int *results, store_friend_res_t *res);

/* Delete owner's lists names[0..n) (n 1..STORE_USER_BATCH_MAX): members
 * removed, del_flag = 1, each taking the next friend-list sequence
 * (seqs[i], may be NULL).  results[i]: 0, 30016 no live list of that
 * name. */
int store_friend_group_del(store_t *st, int32_t app_id, const char *owner,
                           const char *const *names, size_t n, int *results, int64_t *seqs,
                           store_done_fn done, void *arg);
int store_friend_group_del_sync(store_t *st, int32_t app_id, const char *owner,
                                const char *const *names, size_t n, int *results,
                                int64_t *seqs);

/* add 1: put to_ids into owner's live list name; results[i]: 0 member
 * now (already was counts), 30003 not a live friend.  add 0: take them
 * out; results[i]: 0 removed, STORE_ENOTFOUND was not a member.  Reject
 * 30016 no live list of that name.  When the members changed the list
 * takes the next sequence (res->seq, else 0); res->group_id. */
int store_friend_group_member(store_t *st, int32_t app_id, const char *owner,
                              const char *name, const char *const *to_ids, size_t n, int add,
                              int *results, store_friend_res_t *res, store_done_fn done,
                              void *arg);
int store_friend_group_member_sync(store_t *st, int32_t app_id, const char *owner,
                                   const char *name, const char *const *to_ids, size_t n,
                                   int add, int *results, store_friend_res_t *res);

/* Blocking: the row from_id -> to_id (any status).  0 / STORE_ENOTFOUND. */
int store_friend_get_sync(store_t *st, int32_t app_id, const char *from_id, const char *to_id,
                          store_friend_t *out);

/* Blocking: owner's rows with friend_sequence > after_seq (every status,
 * so devices learn deletions and blacklist changes), ordered by it, at
 * most limit (clamped to 1..STORE_FRIEND_LIMIT_MAX); *max_seq (may be
 * NULL): owner's friendship sequence, same snapshot.  *out malloc'ed
 * (free()), NULL when empty. */
int store_friend_list_sync(store_t *st, int32_t app_id, const char *owner, int64_t after_seq,
                           int limit, store_friend_t **out, size_t *n, int64_t *max_seq);

/* Blocking: owner's live friends (status 1) ordered by to_id, with
 * nick_name.  *out malloc'ed (free()), NULL when none. */
int store_friend_all_sync(store_t *st, int32_t app_id, const char *owner, store_friend_t **out,
                          size_t *n);

/* Blocking: requests addressed to to_id with sequence > after_seq, ordered
 * by it, at most limit (clamped as above); *max_seq (may be NULL):
 * to_id's request sequence. */
int store_friend_request_list_sync(store_t *st, int32_t app_id, const char *to_id,
                                   int64_t after_seq, int limit, store_friend_request_t **out,
                                   size_t *n, int64_t *max_seq);

typedef struct store_friend_group {
    int64_t id;
    char name[STORE_FRIEND_GROUP_NAME_MAX + 1];
    int64_t sequence;
    int del_flag;                     /* 1 deleted (then no members) */
    int64_t create_time, update_time;
    char (*members)[STORE_ID_MAX + 1]; /* ordered; malloc'ed, NULL when none */
    size_t nmembers;
} store_friend_group_t;

/* Frees every group's members, then the array.  Safe on NULL. */
void store_friend_groups_free(store_friend_group_t *g, size_t n);

/* Blocking: owner's friend lists (deleted ones included) with sequence >
 * after_seq, ordered by it, at most limit (clamped as above), each with
 * its members; *max_seq (may be NULL): owner's friend-list sequence.
 * Free *out with store_friend_groups_free. */
int store_friend_group_list_sync(store_t *st, int32_t app_id, const char *owner,
                                 int64_t after_seq, int limit, store_friend_group_t **out,
                                 size_t *n, int64_t *max_seq);

/* Blocking: user's current friendship, request and friend-list sequences
 * (0 when none); any pointer may be NULL. */
int store_friend_seqs_sync(store_t *st, int32_t app_id, const char *user_id,
                           int64_t *friendship_seq, int64_t *request_seq, int64_t *group_seq);

/* ------------------------------------------------------------------ */
/* User status (addition, schema version 5; seed inventory §5.2).
 *
 * Online status itself is not stored: it is derived from the live
 * sessions (session.h).  What is stored is the custom status a user sets
 * (table im_user_status), kept until changed; a user who never set one
 * has custom_text "" and custom_status 0.
 *
 * "Status peers" of a user A are the users B with a live friendship in
 * both directions (A -> B and B -> A status 1) and no blacklist on either
 * side (both rows black 1): the only friends that receive A's status
 * (inventory §11 item 20: deleted and blacklisted relations get none). */

#define STORE_STATUS_TEXT_MAX 100

typedef struct store_user_status {
    char user_id[STORE_ID_MAX + 1];
    char custom_text[STORE_STATUS_TEXT_MAX + 1];
    int custom_status;
    int64_t updated_at; /* ms; 0 when never set */
} store_user_status_t;

/* Replace user_id's custom status (text: 0..STORE_STATUS_TEXT_MAX bytes,
 * not NULL).  done's rc: 0, STORE_ENOTFOUND the user is missing or
 * deleted.  STORE_EINVAL (no op) for an invalid id or text. */
int store_user_status_set(store_t *st, int32_t app_id, const char *user_id, const char *text,
                          int status, store_done_fn done, void *arg);
int store_user_status_set_sync(store_t *st, int32_t app_id, const char *user_id,
                               const char *text, int status);

/* Blocking: the custom statuses of ids[0..n) (n 0..STORE_USER_BATCH_MAX)
 * into out[0..n) in the same order, from one snapshot; an id without a
 * row (or not a possible id) gets the empty status. */
int store_user_status_get_sync(store_t *st, int32_t app_id, const char *const *ids, size_t n,
                               store_user_status_t *out);

/* Blocking: user_id's status peers (see above) ordered by id, each with
 * its custom status.  *out malloc'ed (free()), NULL when none. */
int store_friend_status_peers_sync(store_t *st, int32_t app_id, const char *user_id,
                                   store_user_status_t **out, size_t *n);

/* Blocking: the ids user_id has blacklisted (its rows with black 2),
 * ordered.  *out malloc'ed (free()), NULL when none. */
int store_friend_blacked_sync(store_t *st, int32_t app_id, const char *user_id,
                              char (**out)[STORE_ID_MAX + 1], size_t *n);


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
