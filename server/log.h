/*
 * Logging: one line per message on standard error, as JSON ({"ts","level","msg",
 * "request_id", ...}) or as text. Every line of a request carries its request id, kept in a
 * thread-local set by the HTTP layer. Thread-safe (each line is written with one write(2)).
 */
#ifndef SEG_LOG_H
#define SEG_LOG_H

#include <stdbool.h>

enum seg_log_level { SEG_LOG_DEBUG, SEG_LOG_INFO, SEG_LOG_WARN, SEG_LOG_ERROR };

/* Parses "debug|info|warn|error" and "json|text"; false when unknown. */
bool seg_log_parse_level(const char *s, enum seg_log_level *out);
void seg_log_setup(enum seg_log_level level, bool json);
bool seg_log_enabled(enum seg_log_level level);

/* The request id that this thread's lines carry (NULL: none). The string is borrowed. */
void seg_log_set_request(const char *request_id);

void seg_log(enum seg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A line with extra fields: fields is a sequence of key, value string pairs ended by NULL,
 * e.g. seg_log_fields(SEG_LOG_INFO, "request", "method", "GET", "status", "200", NULL).
 */
void seg_log_fields(enum seg_log_level level, const char *msg, ...);

#define seg_debug(...) seg_log(SEG_LOG_DEBUG, __VA_ARGS__)
#define seg_info(...)  seg_log(SEG_LOG_INFO, __VA_ARGS__)
#define seg_warn(...)  seg_log(SEG_LOG_WARN, __VA_ARGS__)
#define seg_error(...) seg_log(SEG_LOG_ERROR, __VA_ARGS__)

#endif
