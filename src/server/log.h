/*
 * Leveled, structured logs: one logfmt line per event on stderr,
 *   ts=2026-11-23T09:00:00.123Z level=info msg="listening" addr=0.0.0.0:9000
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from different threads never interleave.
 */
#ifndef PETREL_LOG_H
#define PETREL_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

extern int log_min_level;

/* Parse "debug"/"info"/"warn"/"error"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(int level);

/* kv_fmt is a printf format producing the key=value tail (may be NULL). */
void log_emit(int level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOGD(msg, ...) do { if (log_min_level <= LOG_DEBUG) log_emit(LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define LOGI(msg, ...) do { if (log_min_level <= LOG_INFO) log_emit(LOG_INFO, msg, __VA_ARGS__); } while (0)
#define LOGW(msg, ...) log_emit(LOG_WARN, msg, __VA_ARGS__)
#define LOGE(msg, ...) log_emit(LOG_ERROR, msg, __VA_ARGS__)

#endif
