/*
 * Configuration (SPEC §7): every setting comes from the environment and can be overridden by
 * a flag (--listen for SEGMENTD_LISTEN, and so on). Loaded once on the main thread before
 * anything starts; read-only afterwards.
 */
#ifndef SEG_CONFIG_H
#define SEG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "log.h"

/* Which requests the access log writes (SEGMENTD_ACCESS_LOG), apart from the log level. */
enum seg_access_log { SEG_ACCESS_LOG_ALL, SEG_ACCESS_LOG_ERRORS, SEG_ACCESS_LOG_OFF };

struct seg_config {
	char *database_url; /* "" : libpq's PG* variables */
	char *listen_host;
	int listen_port;
	int http_threads;
	int workers;
	int db_pool;
	size_t max_body;
	int sync_timeout;     /* seconds */
	int refresh_interval; /* seconds */
	enum seg_log_level log_level;
	bool log_json;
	char *cors_origins; /* comma-separated origins, "*" for any, "" for none */
	double rate_limit;  /* requests per second per tenant, 0 = off */
	int statement_timeout_ms;
	int request_workers;
	int max_connections;
	int max_connections_per_address;
	int idle_timeout;     /* seconds */
	int header_timeout;   /* seconds */
	int body_timeout;     /* seconds */
	int shutdown_timeout; /* seconds */
	enum seg_access_log access_log;
	/* the job queue (server/jobs.h) */
	int job_lease;		/* seconds a claim or heartbeat holds a job */
	int job_heartbeat;	/* seconds between heartbeats (and rescue passes) */
	int job_poll;		/* seconds between claims when no notification arrives */
	double job_backoff;	/* seconds before the first retry (x4 each time, capped x120) */
	int job_retention;	/* seconds a finished job is kept (0: for ever) */
	int analysis_memory_mb; /* an analysis run's data (handlers/analysiskinds.h); 0: no limit */
};

void seg_config_init(struct seg_config *c);
void seg_config_release(struct seg_config *c);
/*
 * Reads the environment, then the flags argv[*argi...] up to the first argument that is not a
 * known flag (which stays at argv[*argi]). On an error writes a message into err and returns
 * false.
 */
bool seg_config_load(struct seg_config *c, int argc, char **argv, int *argi, struct seg_buf *err);
/* Appends the flag and variable table for `segmentd help`. */
void seg_config_usage(struct seg_buf *out);

#endif
