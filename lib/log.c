/* Logging as JSON or text lines with the current request's id; see log.h. */
#include "log.h"

#include <math.h>
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

/* A number as JSON allows it: integers without a fraction, others with up to 15 digits. */
static void seg__add_number(struct seg_buf *b, double v)
{
	if (!isfinite(v))
		seg_buf_addstr(b, "null");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		seg_buf_addf(b, "%lld", (long long)v);
	else
		seg_buf_addf(b, "%.15g", v);
}

static void seg__log_line(enum seg_log_level level, const char *msg,
			  const struct seg_log_field *fields, size_t n)
{
	struct seg_buf b = SEG_BUF_INIT;
	struct timespec ts;
	char when[SEG_RFC3339_MAX];

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
		for (size_t i = 0; i < n; i++) {
			seg_buf_addch(&b, ',');
			seg_buf_add_json_string(&b, fields[i].key, strlen(fields[i].key));
			seg_buf_addch(&b, ':');
			if (fields[i].str)
				seg_buf_add_json_string(&b, fields[i].str, strlen(fields[i].str));
			else
				seg__add_number(&b, fields[i].num);
		}
		seg_buf_addstr(&b, "}\n");
	} else {
		seg_buf_addf(&b, "%s %-5s %s", when, seg__level_names[level], msg);
		if (seg__request_id)
			seg_buf_addf(&b, " request_id=%s", seg__request_id);
		for (size_t i = 0; i < n; i++) {
			seg_buf_addf(&b, " %s=", fields[i].key);
			if (fields[i].str)
				seg_buf_addstr(&b, fields[i].str);
			else
				seg__add_number(&b, fields[i].num);
		}
		seg_buf_addch(&b, '\n');
	}
	ssize_t w = write(STDERR_FILENO, b.data, b.len);
	(void)w;
	seg_buf_release(&b);
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
	seg__log_line(level, msg.data, NULL, 0);
	seg_buf_release(&msg);
}

void seg_log_fields(enum seg_log_level level, const char *msg, const struct seg_log_field *fields,
		    size_t n)
{
	if (seg_log_enabled(level))
		seg__log_line(level, msg, fields, n);
}
