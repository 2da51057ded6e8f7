/*
 * A scheme's report and its transition matrix (SPEC §5.5), computed from what one database
 * statement returns: the number of customers in each combination of the scheme's segments.
 * Pure: no I/O, thread-safe, unit-tested in tests/unit/test_schemereport.c. The model is in
 * db/README.md ("Schemes").
 */
#ifndef SEG_SCHEMEREPORT_H
#define SEG_SCHEMEREPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A report can tell apart at most this many segments (one bit of a 64-bit mask each). */
#define SEG_SCHEME_SEGMENTS_MAX 64

struct seg_scheme_segment {
	int64_t id;
	char *name; /* malloc'ed */
};

/* count customers belong to exactly the segments of mask (bit i: segments[i]), mask != 0. */
struct seg_scheme_combo {
	uint64_t mask;
	int64_t count;
};

/*
 * A scheme as its report needs it. Everything malloc'ed is owned by the struct and freed by
 * seg_scheme_release.
 */
struct seg_scheme {
	int64_t id;
	char *name;
	char *fallback; /* NULL: none */
	int64_t min_segment_size;
	char *created_at, *updated_at;	     /* RFC 3339 */
	struct seg_scheme_segment *segments; /* priority order */
	size_t nsegments;
	/* from one snapshot: the tenant's customers, and every combination that has members */
	int64_t customers;
	struct seg_scheme_combo *combos;
	size_t ncombos;
};

void seg_scheme_init(struct seg_scheme *s);
void seg_scheme_release(struct seg_scheme *s);
/* Appends a segment (name copied) / a combination, growing the arrays. */
void seg_scheme_add_segment(struct seg_scheme *s, int64_t id, const char *name);
void seg_scheme_add_combo(struct seg_scheme *s, uint64_t mask, int64_t count);

/* The figures of the report, per segment and for the whole. */
struct seg_scheme_figures {
	int64_t *size;	   /* nsegments: members */
	int64_t *assigned; /* nsegments: customers whose first segment it is */
	uint64_t *above;   /* nsegments: the higher-priority segments its members are assigned to */
	int64_t *pairs;	   /* nsegments x nsegments, upper triangle: customers in both */
	int64_t members;   /* customers in at least one segment */
	int64_t unassigned, overlapping;
};
/* Computes the figures in one pass over the combinations. Release with ..._release. */
void seg_scheme_figures_compute(const struct seg_scheme *s, struct seg_scheme_figures *f);
void seg_scheme_figures_release(struct seg_scheme_figures *f);

/*
 * Appends the scheme's report as a JSON object: id, name, fallback, min_segment_size,
 * created_at, updated_at, segments [{id, name, size, assigned, share}], customers,
 * unassigned, coverage, overlapping_customers, overlaps [{a, b, count}], mutually_exclusive,
 * collectively_exhaustive, warnings [{code, segment_id?, detail}]. share is assigned over
 * customers, coverage 1 - unassigned over customers (both 0 without customers).
 */
void seg_scheme_report_json(const struct seg_scheme *s, struct seg_buf *out);

/* One snapshot as a transition matrix names it. */
struct seg_scheme_snap {
	int64_t id;
	char *at; /* RFC 3339 */
	char *fallback;
	struct seg_scheme_segment *segments;
	size_t nsegments;
};
void seg_scheme_snap_release(struct seg_scheme_snap *s);
void seg_scheme_snap_add_segment(struct seg_scheme_snap *s, int64_t id, const char *name);

/* count customers were in segment from (0: none) at one snapshot and in to (0: none) at the other.
 */
struct seg_scheme_flow {
	int64_t from, to, count;
};

/*
 * Appends the transition matrix between snapshots a and b as a JSON object: from, to (the
 * snapshots' times), from_snapshot, to_snapshot (ids), requested_from, requested_to (the
 * times asked for, as given), segments [{id, name}] (b's segments in its order, then those only
 * a had in a's order, then the fallback with id null, named after b's fallback, else a's,
 * else null), counts (a square matrix in that order). A flow naming a segment of neither
 * snapshot is counted under the fallback row or column.
 */
void seg_scheme_transitions_json(const struct seg_scheme_snap *a, const struct seg_scheme_snap *b,
				 const char *requested_from, const char *requested_to,
				 const struct seg_scheme_flow *flows, size_t nflows,
				 struct seg_buf *out);

#endif
