/*
 * Leveled, structured logs: one logfmt line per event on stderr,
 *   ts=2026-11-23T09:00:00.123Z level=info msg="listening" addr=0.0.0.0:9000
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from different threads never interleave.
 */
#ifndef PETREL_LOG_H
#define PETREL_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

extern int log_min_level;

/* Parse "debug"/"info"/"warn"/"error"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(int level);

/* kv_fmt is a printf format producing the key=value tail (may be NULL). */
void log_emit(int level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every value that comes from the network (user ids, imei, group ids,
 * paths, header values, client text) is logged through log_quote(), so
 * that it cannot add fake key=value fields or lines: the value is written
 * in double quotes with ", \ and control bytes escaped (\n, \r, \t,
 * \xNN), cut at cap with "..." inside the quotes.  NULL gives -.  Returns
 * buf.  LQ(s) does it into a buffer that lives until the end of the
 * enclosing statement's block:  LOGI("login", "user=%s", LQ(uid)); */
#define LOG_Q_MAX 256
const char *log_quote(char *buf, size_t cap, const char *s);
/* The same for a value that is not NUL-terminated. */
const char *log_quote_n(char *buf, size_t cap, const char *s, size_t len);
#define LQ(s) log_quote((char[LOG_Q_MAX]){0}, LOG_Q_MAX, (s))
#define LQN(s, n) log_quote_n((char[LOG_Q_MAX]){0}, LOG_Q_MAX, (s), (n))

/* A log line that a peer can trigger at any rate (accept errors, ...) goes
 * through a static log_rl_t: log_ratelimit() returns 1 at most once per
 * interval_ms (process-wide, any thread), and then puts in *skipped how
 * many calls were suppressed since the last line. */
typedef struct log_rl {
    atomic_llong next_ms;
    atomic_ulong skipped;
} log_rl_t;
int log_ratelimit(log_rl_t *rl, int64_t interval_ms, unsigned long *skipped);

#define LOGD(msg, ...) do { if (log_min_level <= LOG_DEBUG) log_emit(LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define LOGI(msg, ...) do { if (log_min_level <= LOG_INFO) log_emit(LOG_INFO, msg, __VA_ARGS__); } while (0)
#define LOGW(msg, ...) log_emit(LOG_WARN, msg, __VA_ARGS__)
#define LOGE(msg, ...) log_emit(LOG_ERROR, msg, __VA_ARGS__)

#endif
