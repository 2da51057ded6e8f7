/*
 * RFC 3339 timestamps and calendar dates, as microseconds or days since the Unix epoch (UTC).
 * Pure and thread-safe.
 */
#ifndef SEG_TIMEFMT_H
#define SEG_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large enough for any output of seg_rfc3339_format (with NUL). */
#define SEG_RFC3339_MAX 40

/*
 * Parses an RFC 3339 date-time of s[0..len): "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)",
 * "T" or "t" or a space as the separator, "z" accepted, up to 9 fraction digits (truncated to
 * microseconds), leap second 60 refused. The calendar date must exist. Years 0001..9999.
 * *us receives microseconds since 1970-01-01T00:00:00Z.
 */
bool seg_rfc3339_parse(const char *s, size_t len, int64_t *us);

/* The instants RFC 3339 can write in UTC: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. */
#define SEG_RFC3339_MIN_US (-62135596800000000LL)
#define SEG_RFC3339_MAX_US (253402300799999999LL)

/* Parses a full date "YYYY-MM-DD" that exists in the calendar; *days since 1970-01-01. */
bool seg_date_parse(const char *s, size_t len, int32_t *days);

/*
 * Writes us as "YYYY-MM-DDTHH:MM:SSZ", or with ".ffffff" (trailing zeros trimmed) before the Z
 * when there is a fraction, into out (SEG_RFC3339_MAX bytes). Returns the length.
 */
size_t seg_rfc3339_format(int64_t us, char out[SEG_RFC3339_MAX]);

#endif
