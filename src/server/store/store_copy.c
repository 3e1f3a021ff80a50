/*
 * store_copy_sqlite (copy.h): a SQLite database into an empty PostgreSQL
 * one.  This file drives the two backends through the copying part of
 * store_backend.h and knows the tables; the engines' code stays in their
 * folders: store/sqlite/ reads rows out (rows, on its writer connection
 * inside a write-locked transaction), store/pg/ loads them (copy_in: COPY
 * per table, counters, identities, all in one transaction).
 *
 * The SQL written here is the part both engines accept (SELECT of named
 * columns, count, max, CASE, GROUP BY and ORDER BY on byte-ordered text:
 * SQLite's BINARY and PostgreSQL's COLLATE "C" sort alike), except the
 * schema checks, which read each side's own catalog.
 *
 * Order of work:
 *   1. open the SQLite backend: its migrations run and its deferred
 *      history rows are written (sqlite_hist_open flushes them), then
 *      BEGIN IMMEDIATE: a petreld still writing makes it wait and fail;
 *   2. checks on the source: every message has both history rows; every
 *      SQLite column is copied or known to be SQLite-only;
 *   3. open the PostgreSQL backend (schema created or migrated), check
 *      its columns are the ones below;
 *   4. copy_in: refuse if it holds data, load, set the numbers, verify
 *      (check below, inside the transaction), COMMIT.
 * Verification compares each side's summary rows through a 64-bit hash
 * per row, kept for the source only (16 bytes per pair or group).
 */
#include "server/store/copy.h"

#include "server/store/store_backend.h"
#include "server/core/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Parents before children (im_friend_group_member references
 * im_friend_group).  Column lists: PostgreSQL's order (store_pg_migrate.c
 * version 1), the same names as SQLite's (store_migrate.c version 8). */
static const store_copy_table_t TABLES[] = {
    {"app", "app_id, secret, admin_id, login_policy, max_per_platform, settings, created_at"},
    {"im_user",
     "app_id, user_id, nick_name, photo, user_sex, birth_day, location, self_signature, "
     "friend_allow_type, forbidden_flag, disable_add_friend, silent_flag, user_type, del_flag, "
     "extra, created_at, updated_at"},
    {"app_account", "app_id, user_name, user_id, password_hash, created_at"},
    {"im_message_body",
     "app_id, message_key, from_id, to_id, message_id, body, extra, message_time, "
     "message_random, sequence, created_at, del_flag, recalled_at"},
    {"im_message_history", "app_id, owner_id, peer_id, sequence, message_key, sync_key"},
    {"im_conversation",
     "app_id, owner_id, peer_id, conversation_type, last_seq, read_seq, is_top, is_mute, "
     "deleted, change_seq, updated_at"},
    {"im_friendship",
     "app_id, from_id, to_id, remark, status, black, add_source, extra, friend_sequence, "
     "black_sequence, create_time"},
    {"im_friendship_request",
     "id, app_id, from_id, to_id, remark, read_status, add_source, add_wording, "
     "approve_status, create_time, update_time, sequence"},
    {"im_friend_group",
     "id, app_id, owner_id, name, sequence, del_flag, create_time, update_time"},
    {"im_friend_group_member", "group_id, to_id"},
    {"im_user_status", "app_id, user_id, custom_text, custom_status, updated_at"},
    {"im_group",
     "app_id, group_id, owner_id, group_type, group_name, mute, apply_join_type, photo, "
     "max_member_count, introduction, notification, status, sequence, msg_seq, member_count, "
     "create_time, update_time, extra"},
    {"im_group_member",
     "app_id, group_id, member_id, role, speak_date, alias, join_time, join_type, leave_time, "
     "join_seq, leave_seq, read_seq, sequence, extra"},
    {"im_group_request",
     "id, app_id, group_id, from_id, wording, status, handler_id, create_time, update_time"},
    {"im_group_message",
     "app_id, group_id, sequence, message_key, from_id, message_id, body, extra, "
     "message_time, message_random, created_at, del_flag, recalled_at"},
};
#define NTABLES (sizeof TABLES / sizeof TABLES[0])

/* What SQLite has and PostgreSQL does not need: its own bookkeeping
 * (schema_migrations is each backend's own), the pair counters (im_counter
 * is rebuilt from the messages), the deferred history marks and the
 * recall key of rows not yet written (all are written before the copy). */
static const char *const SQLITE_ONLY[] = {
    "schema_migrations", "im_conversation_seq", "im_history_applied",
    "im_message_body.resync_key",
};

/* Every message has its two history rows (one per owner). */
static const char HISTORY_MISSING_SQL[] =
    "SELECT count(*) FROM im_message_body b WHERE NOT EXISTS (SELECT 1 FROM "
    "im_message_history h WHERE h.app_id = b.app_id AND h.owner_id = b.from_id "
    "AND h.peer_id = b.to_id AND h.sequence = b.sequence) OR NOT EXISTS (SELECT 1 FROM "
    "im_message_history h WHERE h.app_id = b.app_id AND h.owner_id = b.to_id "
    "AND h.peer_id = b.from_id AND h.sequence = b.sequence)";

static const char SQLITE_COLUMNS_SQL[] =
    "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p "
    "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid";

static const char PG_COLUMNS_SQL[] =
    "SELECT table_name, string_agg(column_name, ', ' ORDER BY ordinal_position) "
    "FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name NOT IN ('schema_migrations', 'im_counter') GROUP BY table_name";

/* Per pair (user_a < user_b by byte order) and per group: the highest
 * sequence and the number of messages. */
static const char PAIRS_SQL[] =
    "SELECT app_id, CASE WHEN from_id < to_id THEN from_id ELSE to_id END, "
    "CASE WHEN from_id < to_id THEN to_id ELSE from_id END, max(sequence), count(*) "
    "FROM im_message_body GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
static const char GROUPS_SQL[] =
    "SELECT app_id, group_id, max(sequence), count(*) FROM im_group_message "
    "GROUP BY app_id, group_id ORDER BY app_id, group_id";

typedef struct copy {
    const store_backend_ops_t *so, *dops;
    store_backend_t *src, *dst;
    int64_t rows[NTABLES];
    int64_t pairs, groups;
    char *err;
    size_t errcap;
} copy_t;

/* The reason for the operator, into err. */
__attribute__((format(printf, 2, 3))) static void say(copy_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err, k->errcap, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- small row callbacks ---- */

static int one_i64(void *arg, const char *const *vals, size_t n)
{
    *(int64_t *)arg = n > 0 && vals[0] ? strtoll(vals[0], NULL, 10) : 0;
    return 0;
}

static int count_of(const store_backend_ops_t *ops, store_backend_t *be, const char *table,
                    int64_t *out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    *out = -1;
    return ops->rows(be, sql, one_i64, out);
}

static const store_copy_table_t *table_named(const char *name)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (strcmp(TABLES[i].name, name) == 0)
            return &TABLES[i];
    return NULL;
}

static int sqlite_only(const char *table, const char *col)
{
    char both[256];
    snprintf(both, sizeof both, "%s.%s", table, col);
    for (size_t i = 0; i < sizeof SQLITE_ONLY / sizeof SQLITE_ONLY[0]; i++)
        if (strcmp(SQLITE_ONLY[i], table) == 0 || strcmp(SQLITE_ONLY[i], both) == 0)
            return 1;
    return 0;
}

/* col is one of the names of the list cols. */
static int has_col(const char *cols, const char *col)
{
    size_t n = strlen(col);
    for (const char *s = cols; *s;) {
        size_t w = strcspn(s, ",");
        if (w == n && strncmp(s, col, n) == 0)
            return 1;
        s += w;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return 0;
}

/* ---- schema checks ---- */

/* Every SQLite column is copied, or SQLite's own. */
static int src_column(void *arg, const char *const *vals, size_t n)
{
    copy_t *k = arg;
    if (n < 2 || !vals[0] || !vals[1])
        return STORE_EIO;
    if (sqlite_only(vals[0], vals[1]))
        return 0;
    const store_copy_table_t *t = table_named(vals[0]);
    if (!t || !has_col(t->cols, vals[1])) {
        say(k, "the SQLite column %s.%s has no place in the copy (a newer schema than this "
               "petreld knows?)", vals[0], vals[1]);
        return STORE_EINVAL;
    }
    return 0;
}

typedef struct dst_seen {
    copy_t *k;
    size_t seen;
} dst_seen_t;

/* Each PostgreSQL table is one of ours with exactly our columns. */
static int dst_table(void *arg, const char *const *vals, size_t n)
{
    dst_seen_t *d = arg;
    if (n < 2 || !vals[0] || !vals[1])
        return STORE_EIO;
    const store_copy_table_t *t = table_named(vals[0]);
    if (!t || strcmp(t->cols, vals[1]) != 0) {
        say(d->k, "the destination's table %s has columns (%s) this copy does not know "
                  "(another schema version?)", vals[0], vals[1]);
        return STORE_EINVAL;
    }
    d->seen++;
    return 0;
}

/* ---- loading ---- */

static int src_rows(void *arg, size_t i, store_row_fn put, void *put_arg)
{
    copy_t *k = arg;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s", TABLES[i].cols, TABLES[i].name);
    return k->so->rows(k->src, sql, put, put_arg);
}

/* ---- verification (inside the destination's transaction) ---- */

typedef struct digest {
    uint64_t *h; /* the source's row hashes */
    size_t n, cap;
    size_t at;   /* destination: rows compared so far */
    int differs;
    char where[300];
} digest_t;

static uint64_t row_hash(const char *const *vals, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        for (const char *s = vals[i] ? vals[i] : ""; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ull;
        h = (h ^ (vals[i] ? 0x1f : 0x1e)) * 1099511628211ull;
    }
    return h;
}

static int digest_src(void *arg, const char *const *vals, size_t n)
{
    digest_t *d = arg;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        uint64_t *h = realloc(d->h, cap * sizeof *h);
        if (!h)
            return STORE_EIO;
        d->h = h;
        d->cap = cap;
    }
    d->h[d->n++] = row_hash(vals, n);
    return 0;
}

static int digest_dst(void *arg, const char *const *vals, size_t n)
{
    digest_t *d = arg;
    if (!d->differs && (d->at >= d->n || d->h[d->at] != row_hash(vals, n))) {
        d->differs = 1;
        /* The key columns (all but max and count) of the first difference. */
        size_t o = 0;
        for (size_t i = 0; i + 2 < n && o < sizeof d->where; i++)
            o += (size_t)snprintf(d->where + o, sizeof d->where - o, "%s%s", i ? " " : "",
                                  vals[i] ? vals[i] : "NULL");
    }
    d->at++;
    return 0;
}

/* The summary rows of sql agree on both sides; *count their number. */
static int same_summary(copy_t *k, const char *sql, const char *what, int64_t *count)
{
    digest_t d = {0};
    int rc = k->so->rows(k->src, sql, digest_src, &d);
    if (rc == 0)
        rc = k->dops->rows(k->dst, sql, digest_dst, &d);
    if (rc == 0 && (d.differs || d.at != d.n)) {
        say(k, "verification failed: %s %s: highest sequence or message count differs "
               "between SQLite and PostgreSQL", what, d.differs ? d.where : "(rows missing)");
        rc = STORE_EIO;
    } else if (rc != 0 && !k->err[0]) {
        say(k, "verification failed: cannot read the %s summaries (see the log)", what);
    }
    *count = (int64_t)d.n;
    free(d.h);
    return rc;
}

static int verify(void *arg)
{
    copy_t *k = arg;
    for (size_t i = 0; i < NTABLES; i++) {
        int64_t a, b;
        int rc = count_of(k->so, k->src, TABLES[i].name, &a);
        if (rc == 0)
            rc = count_of(k->dops, k->dst, TABLES[i].name, &b);
        if (rc != 0) {
            say(k, "verification failed: cannot count the rows of %s (see the log)",
                TABLES[i].name);
            return rc;
        }
        if (a != b || b != k->rows[i]) {
            say(k, "verification failed: table %s: row counts differ (SQLite %" PRId64
                ", loaded %" PRId64 ", PostgreSQL %" PRId64 ")", TABLES[i].name, a, k->rows[i], b);
            return STORE_EIO;
        }
    }
    int rc = same_summary(k, PAIRS_SQL, "one-to-one pair", &k->pairs);
    if (rc == 0)
        rc = same_summary(k, GROUPS_SQL, "group", &k->groups);
    return rc;
}

/* ---- the whole copy ---- */

static int open_source(copy_t *k, const store_config_t *cfg)
{
    size_t plen = strlen(cfg->data_dir) + sizeof "/petrel.db";
    char *path = malloc(plen);
    if (!path)
        return STORE_EIO;
    snprintf(path, plen, "%s/petrel.db", cfg->data_dir);
    struct stat sb;
    int found = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
    if (!found)
        say(k, "no SQLite database at %s (set data_dir)", path);
    free(path);
    if (!found)
        return STORE_ENOTFOUND;
    store_config_t sc = {.data_dir = cfg->data_dir, .read_conns = 1,
                         .synchronous_full = 1};
    int rc = k->so->open(&sc, &k->src);
    if (rc != 0) {
        say(k, "cannot open the SQLite database%s (see the log)",
            rc == STORE_ESCHEMA ? ": its schema is newer than this petreld" : "");
        return rc;
    }
    /* Holds other writers off until the end; a running petreld makes it fail. */
    if ((rc = k->so->tx_begin(k->src)) != 0) {
        say(k, "cannot lock the SQLite database for the copy: is a petreld still running "
               "on it?");
        return rc;
    }
    int64_t missing = -1;
    if ((rc = k->so->rows(k->src, HISTORY_MISSING_SQL, one_i64, &missing)) != 0) {
        say(k, "cannot read the SQLite database (see the log)");
        return rc;
    }
    if (missing != 0) {
        say(k, "%" PRId64 " messages of the SQLite database lack a history row: not copied "
               "(is a petreld still running on it?)", missing);
        return STORE_EINVAL;
    }
    if ((rc = k->so->rows(k->src, SQLITE_COLUMNS_SQL, src_column, k)) != 0 && !k->err[0])
        say(k, "cannot read the SQLite schema (see the log)");
    return rc;
}

static int open_destination(copy_t *k, const store_config_t *cfg)
{
    store_config_t dc = {.data_dir = cfg->data_dir, .pg_conninfo = cfg->pg_conninfo,
                         .pg_password = cfg->pg_password, .read_conns = 1};
    int rc = k->dops->open(&dc, &k->dst);
    if (rc != 0) {
        say(k, "cannot open the PostgreSQL database%s (see the log)",
            rc == STORE_ESCHEMA ? ": its schema is newer than this petreld" : "");
        return rc;
    }
    dst_seen_t d = {.k = k};
    if ((rc = k->dops->rows(k->dst, PG_COLUMNS_SQL, dst_table, &d)) != 0) {
        if (!k->err[0])
            say(k, "cannot read the PostgreSQL schema (see the log)");
        return rc;
    }
    if (d.seen != NTABLES) {
        say(k, "the destination lacks some of the tables to copy (another schema version?)");
        return STORE_EINVAL;
    }
    return 0;
}

int store_copy_sqlite(const store_config_t *cfg, FILE *out, char *err, size_t errcap)
{
    copy_t k = {.so = &store_sqlite_backend, .dops = &store_pg_backend, .err = err,
                .errcap = errcap};
    err[0] = 0;
    if (!cfg->pg_conninfo || !cfg->pg_conninfo[0]) {
        say(&k, "the destination must be PostgreSQL: set store to a postgres:// URL");
        return STORE_EINVAL;
    }
    double t0 = now_s();
    int rc = open_source(&k, cfg);
    if (rc == 0)
        rc = open_destination(&k, cfg);
    if (rc == 0) {
        fprintf(out, "copy-sqlite: %s/petrel.db (schema %d) -> PostgreSQL (schema %d)\n",
                cfg->data_dir, k.so->schema_version(k.src), k.dops->schema_version(k.dst));
        fflush(out);
        store_copy_t cp = {.tables = TABLES, .n = NTABLES, .src = src_rows, .check = verify,
                           .arg = &k, .rows = k.rows};
        rc = k.dops->copy_in(k.dst, &cp);
        if (rc != 0 && !err[0])
            say(&k, "%s", cp.why[0] ? cp.why : "the copy failed (see the log)");
    }
    if (k.src) {
        k.so->tx_rollback(k.src); /* nothing was written in it */
        k.so->close(k.src);
    }
    if (k.dst)
        k.dops->close(k.dst);
    if (rc != 0)
        return rc;
    int64_t total = 0;
    for (size_t i = 0; i < NTABLES; i++) {
        fprintf(out, "  %-24s %12" PRId64 " rows\n", TABLES[i].name, k.rows[i]);
        total += k.rows[i];
    }
    fprintf(out, "copy-sqlite: verified: row counts of %zu tables; highest sequence and message "
            "count of %" PRId64 " one-to-one pairs and %" PRId64 " groups\n", NTABLES, k.pairs,
            k.groups);
    fprintf(out, "copy-sqlite: done: %zu tables, %" PRId64 " rows in %.2f s\n", NTABLES, total,
            now_s() - t0);
    return 0;
}
