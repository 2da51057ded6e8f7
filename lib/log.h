/*
 * Logging: one line per message on standard error, as JSON ({"ts","level","msg",
 * "request_id", ...}) or as text. Every line of a request carries its request id, kept in a
 * thread-local that the HTTP layer and the request workers set. Thread-safe: each line is
 * written with one write(2), so lines of different threads never interleave.
 *
 * This is the base layer's one piece of I/O: every layer (server/, handlers/, db/) logs
 * through it, and it depends on nothing but lib/.
 */
#ifndef SEG_LOG_H
#define SEG_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum seg_log_level { SEG_LOG_DEBUG, SEG_LOG_INFO, SEG_LOG_WARN, SEG_LOG_ERROR };

/* Parses "debug|info|warn|error"; false when unknown. */
bool seg_log_parse_level(const char *s, enum seg_log_level *out);
/* Sets the level and the format (JSON or text). Main thread, before other threads start. */
void seg_log_setup(enum seg_log_level level, bool json);
bool seg_log_enabled(enum seg_log_level level);

/* The request id that this thread's lines carry (NULL: none). The string is borrowed. */
void seg_log_set_request(const char *request_id);

void seg_log(enum seg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * An extra field of a line: a string (str not NULL) or a number (str NULL). In JSON a number
 * is written as a JSON number, a string as a JSON string.
 */
struct seg_log_field {
	const char *key;
	const char *str;
	double num;
};
#define SEG_LOG_STR(k, v) ((struct seg_log_field){(k), (v) ? (v) : "", 0})
#define SEG_LOG_NUM(k, v) ((struct seg_log_field){(k), NULL, (double)(v)})

/*
 * A line with n extra fields, e.g.
 *   struct seg_log_field f[] = {SEG_LOG_STR("method", "GET"), SEG_LOG_NUM("status", 200)};
 *   seg_log_fields(SEG_LOG_INFO, "request", f, 2);
 */
void seg_log_fields(enum seg_log_level level, const char *msg, const struct seg_log_field *fields,
		    size_t n);

#define seg_debug(...) seg_log(SEG_LOG_DEBUG, __VA_ARGS__)
#define seg_info(...)  seg_log(SEG_LOG_INFO, __VA_ARGS__)
#define seg_warn(...)  seg_log(SEG_LOG_WARN, __VA_ARGS__)
#define seg_error(...) seg_log(SEG_LOG_ERROR, __VA_ARGS__)

#endif
