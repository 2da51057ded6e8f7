/* Logging as JSON or text lines with the current request's id; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "timefmt.h"

static enum seg_log_level seg__level = SEG_LOG_INFO;
static bool seg__json;
static _Thread_local const char *seg__request_id;

static const char *const seg__level_names[] = {"debug", "info", "warn", "error"};

bool seg_log_parse_level(const char *s, enum seg_log_level *out)
{
	for (int i = 0; i <= SEG_LOG_ERROR; i++) {
		if (strcmp(s, seg__level_names[i]) == 0) {
			*out = (enum seg_log_level)i;
			return true;
		}
	}
	return false;
}

void seg_log_setup(enum seg_log_level level, bool json)
{
	seg__level = level;
	seg__json = json;
}

bool seg_log_enabled(enum seg_log_level level)
{
	return level >= seg__level;
}

void seg_log_set_request(const char *request_id)
{
	seg__request_id = request_id;
}

static void seg__log_line(enum seg_log_level level, const char *msg, va_list fields)
{
	struct seg_buf b = SEG_BUF_INIT;
	struct timespec ts;
	char when[SEG_RFC3339_MAX];
	const char *k, *v;

	clock_gettime(CLOCK_REALTIME, &ts);
	seg_rfc3339_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, when);
	if (seg__json) {
		seg_buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when,
			     seg__level_names[level]);
		seg_buf_add_json_string(&b, msg, strlen(msg));
		if (seg__request_id) {
			seg_buf_addstr(&b, ",\"request_id\":");
			seg_buf_add_json_string(&b, seg__request_id, strlen(seg__request_id));
		}
		while ((k = va_arg(fields, const char *)) != NULL) {
			v = va_arg(fields, const char *);
			seg_buf_addch(&b, ',');
			seg_buf_add_json_string(&b, k, strlen(k));
			seg_buf_addch(&b, ':');
			v = v ? v : "";
			seg_buf_add_json_string(&b, v, strlen(v));
		}
		seg_buf_addstr(&b, "}\n");
	} else {
		seg_buf_addf(&b, "%s %-5s %s", when, seg__level_names[level], msg);
		if (seg__request_id)
			seg_buf_addf(&b, " request_id=%s", seg__request_id);
		while ((k = va_arg(fields, const char *)) != NULL) {
			v = va_arg(fields, const char *);
			seg_buf_addf(&b, " %s=%s", k, v ? v : "");
		}
		seg_buf_addch(&b, '\n');
	}
	ssize_t n = write(STDERR_FILENO, b.data, b.len);
	(void)n;
	seg_buf_release(&b);
}

static void seg__log_plain(enum seg_log_level level, const char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	seg__log_line(level, msg, ap);
	va_end(ap);
}

void seg_log(enum seg_log_level level, const char *fmt, ...)
{
	struct seg_buf msg = SEG_BUF_INIT;
	va_list ap;

	if (!seg_log_enabled(level))
		return;
	va_start(ap, fmt);
	seg_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	seg__log_plain(level, msg.data, (const char *)NULL);
	seg_buf_release(&msg);
}

void seg_log_fields(enum seg_log_level level, const char *msg, ...)
{
	va_list ap;

	if (!seg_log_enabled(level))
		return;
	va_start(ap, msg);
	seg__log_line(level, msg, ap);
	va_end(ap);
}
