/* Configuration from the environment and flags; see config.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

enum seg__kind {
	SEG_STR,
	SEG_INT,
	SEG_SIZE,
	SEG_NUM,
	SEG_LISTEN,
	SEG_LEVEL,
	SEG_FORMAT,
	SEG_ACCESS
};

static const struct seg__option {
	const char *env, *flag, *def, *help;
	enum seg__kind kind;
	size_t offset;
	long min, max;
} seg__options[] = {
	{"DATABASE_URL", "--database-url", "",
	 "libpq connection string or URI (empty: PG* variables)", SEG_STR,
	 offsetof(struct seg_config, database_url), 0, 0},
	{"SEGMENTD_LISTEN", "--listen", "127.0.0.1:8080", "address and port to serve HTTP on",
	 SEG_LISTEN, 0, 0, 0},
	{"SEGMENTD_HTTP_THREADS", "--http-threads", "2",
	 "threads that poll HTTP connections (they never wait on the database)", SEG_INT,
	 offsetof(struct seg_config, http_threads), 1, 256},
	{"SEGMENTD_REQUEST_WORKERS", "--request-workers", "8",
	 "threads that run request handlers (and wait on the database)", SEG_INT,
	 offsetof(struct seg_config, request_workers), 1, 1024},
	{"SEGMENTD_WORKERS", "--workers", "2", "background job worker threads", SEG_INT,
	 offsetof(struct seg_config, workers), 0, 256},
	{"SEGMENTD_DB_POOL", "--db-pool", "8", "database connections", SEG_INT,
	 offsetof(struct seg_config, db_pool), 1, 1000},
	{"SEGMENTD_MAX_BODY", "--max-body", "16777216",
	 "largest request body in bytes (imports excepted)", SEG_SIZE,
	 offsetof(struct seg_config, max_body), 1, LONG_MAX},
	{"SEGMENTD_MAX_CONNECTIONS", "--max-connections", "1024",
	 "open HTTP connections (kept below the file-descriptor limit)", SEG_INT,
	 offsetof(struct seg_config, max_connections), 1, 1000000},
	{"SEGMENTD_MAX_CONNECTIONS_PER_ADDRESS", "--max-connections-per-address", "128",
	 "open HTTP connections from one client address", SEG_INT,
	 offsetof(struct seg_config, max_connections_per_address), 1, 1000000},
	{"SEGMENTD_IDLE_TIMEOUT", "--idle-timeout", "30",
	 "seconds a connection may wait for its next request, or go without traffic", SEG_INT,
	 offsetof(struct seg_config, idle_timeout), 1, 3600},
	{"SEGMENTD_HEADER_TIMEOUT", "--header-timeout", "10",
	 "seconds to complete a request's headers once its request line arrived", SEG_INT,
	 offsetof(struct seg_config, header_timeout), 1, 3600},
	{"SEGMENTD_BODY_TIMEOUT", "--body-timeout", "10",
	 "seconds in which a request body must deliver at least 1 KiB (or end)", SEG_INT,
	 offsetof(struct seg_config, body_timeout), 1, 3600},
	{"SEGMENTD_SHUTDOWN_TIMEOUT", "--shutdown-timeout", "10",
	 "seconds SIGTERM waits for requests in flight", SEG_INT,
	 offsetof(struct seg_config, shutdown_timeout), 0, 3600},
	{"SEGMENTD_SYNC_TIMEOUT", "--sync-timeout", "10",
	 "seconds a request waits for a segment evaluation", SEG_INT,
	 offsetof(struct seg_config, sync_timeout), 0, 3600},
	{"SEGMENTD_REFRESH_INTERVAL", "--refresh-interval", "900",
	 "seconds between full segment refreshes", SEG_INT,
	 offsetof(struct seg_config, refresh_interval), 1, 86400 * 7},
	{"SEGMENTD_LOG_LEVEL", "--log-level", "info", "debug, info, warn or error", SEG_LEVEL, 0, 0,
	 0},
	{"SEGMENTD_LOG_FORMAT", "--log-format", "text", "json or text", SEG_FORMAT, 0, 0, 0},
	{"SEGMENTD_ACCESS_LOG", "--access-log", "all",
	 "requests in the access log: all, errors (status >= 400) or off", SEG_ACCESS, 0, 0, 0},
	{"SEGMENTD_CORS_ORIGINS", "--cors-origins", "",
	 "comma-separated origins allowed by CORS, * for any", SEG_STR,
	 offsetof(struct seg_config, cors_origins), 0, 0},
	{"SEGMENTD_RATE_LIMIT", "--rate-limit", "0", "requests per second per tenant (0: no limit)",
	 SEG_NUM, offsetof(struct seg_config, rate_limit), 0, 1000000},
	{"SEGMENTD_STATEMENT_TIMEOUT", "--statement-timeout", "30000",
	 "milliseconds a database statement may run", SEG_INT,
	 offsetof(struct seg_config, statement_timeout_ms), 100, 3600000},
	{"SEGMENTD_JOB_LEASE", "--job-lease", "30",
	 "seconds a job's claim lasts without a heartbeat; then another daemon may take it over",
	 SEG_INT, offsetof(struct seg_config, job_lease), 2, 3600},
	{"SEGMENTD_JOB_HEARTBEAT", "--job-heartbeat", "5",
	 "seconds between heartbeats of running jobs (less than the lease)", SEG_INT,
	 offsetof(struct seg_config, job_heartbeat), 1, 600},
	{"SEGMENTD_JOB_POLL", "--job-poll", "5",
	 "seconds between looks at the queue when no notification arrives", SEG_INT,
	 offsetof(struct seg_config, job_poll), 1, 600},
	{"SEGMENTD_JOB_BACKOFF", "--job-backoff", "5",
	 "seconds before a failed job's first retry (x4 per attempt, at most 120 times this)",
	 SEG_NUM, offsetof(struct seg_config, job_backoff), 0, 3600},
	{"SEGMENTD_JOB_RETENTION", "--job-retention", "604800",
	 "seconds a finished job is kept before it is deleted (0: kept for ever)", SEG_INT,
	 offsetof(struct seg_config, job_retention), 0, 86400 * 3650},
	{"SEGMENTD_ANALYSIS_MEMORY", "--analysis-memory", "1024",
	 "megabytes an analysis run may take for its customers' data (0: no limit)", SEG_INT,
	 offsetof(struct seg_config, analysis_memory_mb), 0, 1048576},
};

#define SEG__NOPTIONS (sizeof(seg__options) / sizeof(seg__options[0]))

void seg_config_init(struct seg_config *c)
{
	memset(c, 0, sizeof(*c));
}

void seg_config_release(struct seg_config *c)
{
	free(c->database_url);
	free(c->listen_host);
	free(c->cors_origins);
	seg_config_init(c);
}

static bool seg__set(struct seg_config *c, const struct seg__option *o, const char *v,
		     struct seg_buf *err)
{
	char *end;
	void *field = (char *)c + o->offset;

	switch (o->kind) {
	case SEG_STR:
		free(*(char **)field);
		*(char **)field = seg_strdup(v);
		return true;
	case SEG_INT:
	case SEG_SIZE: {
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < o->min || n > o->max) {
			seg_buf_addf(err, "%s: expected an integer from %ld to %ld, got \"%s\"",
				     o->env, o->min, o->max, v);
			return false;
		}
		if (o->kind == SEG_INT)
			*(int *)field = (int)n;
		else
			*(size_t *)field = (size_t)n;
		return true;
	}
	case SEG_NUM: {
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end || d < o->min || d > o->max) {
			seg_buf_addf(err, "%s: expected a number from %ld to %ld, got \"%s\"",
				     o->env, o->min, o->max, v);
			return false;
		}
		*(double *)field = d;
		return true;
	}
	case SEG_LISTEN: {
		const char *colon = strrchr(v, ':');
		long port = colon ? strtol(colon + 1, &end, 10) : -1;
		if (!colon || colon == v || end == colon + 1 || *end || port < 0 || port > 65535) {
			seg_buf_addf(err, "%s: expected HOST:PORT, got \"%s\"", o->env, v);
			return false;
		}
		free(c->listen_host);
		c->listen_host = seg_strndup(v, (size_t)(colon - v));
		c->listen_port = (int)port;
		return true;
	}
	case SEG_LEVEL:
		if (!seg_log_parse_level(v, &c->log_level)) {
			seg_buf_addf(err, "%s: expected debug, info, warn or error, got \"%s\"",
				     o->env, v);
			return false;
		}
		return true;
	case SEG_FORMAT:
		if (strcmp(v, "json") && strcmp(v, "text")) {
			seg_buf_addf(err, "%s: expected json or text, got \"%s\"", o->env, v);
			return false;
		}
		c->log_json = strcmp(v, "json") == 0;
		return true;
	case SEG_ACCESS:
		if (strcmp(v, "all") == 0)
			c->access_log = SEG_ACCESS_LOG_ALL;
		else if (strcmp(v, "errors") == 0)
			c->access_log = SEG_ACCESS_LOG_ERRORS;
		else if (strcmp(v, "off") == 0)
			c->access_log = SEG_ACCESS_LOG_OFF;
		else {
			seg_buf_addf(err, "%s: expected all, errors or off, got \"%s\"", o->env, v);
			return false;
		}
		return true;
	}
	return false;
}

bool seg_config_load(struct seg_config *c, int argc, char **argv, int *argi, struct seg_buf *err)
{
	for (size_t i = 0; i < SEG__NOPTIONS; i++) {
		const char *v = getenv(seg__options[i].env);
		if (!seg__set(c, &seg__options[i], v ? v : seg__options[i].def, err))
			return false;
	}
	while (*argi < argc) {
		const char *arg = argv[*argi];
		const struct seg__option *o = NULL;
		const char *v = NULL;
		for (size_t i = 0; i < SEG__NOPTIONS && !o; i++) {
			size_t n = strlen(seg__options[i].flag);
			if (strncmp(arg, seg__options[i].flag, n) == 0 &&
			    (arg[n] == '=' || !arg[n])) {
				o = &seg__options[i];
				v = arg[n] == '=' ? arg + n + 1 : NULL;
			}
		}
		if (!o)
			return true;
		if (!v) {
			if (*argi + 1 >= argc) {
				seg_buf_addf(err, "%s needs a value", o->flag);
				return false;
			}
			v = argv[++*argi];
		}
		if (!seg__set(c, o, v, err))
			return false;
		++*argi;
	}
	return true;
}

void seg_config_usage(struct seg_buf *out)
{
	for (size_t i = 0; i < SEG__NOPTIONS; i++) {
		const struct seg__option *o = &seg__options[i];
		seg_buf_addf(out, "  %-20s %-28s %s (default: %s)\n", o->flag, o->env, o->help,
			     o->def[0] ? o->def : "empty");
	}
}
