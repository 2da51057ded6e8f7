/*
 * seg_lines: splits a byte stream that arrives in arbitrary chunks into records, for the
 * NDJSON and CSV imports. Memory stays bounded by the longest accepted record.
 *
 * - A UTF-8 byte order mark at the very start of the stream is skipped.
 * - Records end at "\n"; a "\r" just before it is removed. The last record need not end in
 *   "\n" (seg_lines_finish delivers it).
 * - In csv mode a "\n" inside a double-quoted field does not end the record (quotes are
 *   tracked as RFC 4180 does: "" inside quotes is an escaped quote).
 * - A record longer than max bytes is not buffered: the callback gets it once with
 *   overlong = true, data NULL and len 0, and the rest of it is skipped.
 * - record numbers start at 1 and count every record, blank ones too.
 *
 * Not thread-safe; one seg_lines per stream.
 */
#ifndef SEG_LINES_H
#define SEG_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Called for each record. Returns 0 to continue, non-zero to stop: seg_lines_feed and
 * seg_lines_finish then return that value at once.
 */
typedef int (*seg_lines_cb)(void *ctx, const char *data, size_t len, size_t number, bool overlong);

struct seg_lines {
	struct seg_buf pending; /* the record being assembled */
	size_t max;
	size_t number; /* records delivered so far */
	size_t seen;   /* bytes of the stream seen so far */
	bool csv;
	bool in_quotes;
	bool skipping; /* inside an overlong record */
};

void seg_lines_init(struct seg_lines *l, size_t max, bool csv);
void seg_lines_release(struct seg_lines *l);
/* Feeds data[0..len); calls cb for each complete record. Returns 0 or the callback's value. */
int seg_lines_feed(struct seg_lines *l, const char *data, size_t len, seg_lines_cb cb, void *ctx);
/* Delivers the last record if the stream did not end in "\n". Returns 0 or the callback's. */
int seg_lines_finish(struct seg_lines *l, seg_lines_cb cb, void *ctx);

#endif
