/*
 * Files compiled into the binary by scripts/embed.sh: the migrations and openapi.yaml.
 * The table ends with an entry whose path is NULL. Read-only; any thread.
 */
#ifndef SEG_EMBEDDED_H
#define SEG_EMBEDDED_H

#include <stddef.h>

struct seg_embedded {
	const char *path; /* as given to the build, e.g. "migrations/0001_init.sql" */
	const char *data;
	size_t len;
};

extern const struct seg_embedded seg_embedded_files[];

#endif
