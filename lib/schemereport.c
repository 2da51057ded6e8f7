/*
 * A scheme's report and transition matrix from the combination counts of one statement
 * (db/schemes.c). One pass over the combinations gives every figure: a combination's lowest bit
 * is the segment its customers are assigned to (priority order), its other bits are segments
 * those customers are shadowed in, and each pair of its bits is an overlap.
 */
#include "schemereport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void seg_scheme_init(struct seg_scheme *s)
{
	memset(s, 0, sizeof(*s));
}

void seg_scheme_release(struct seg_scheme *s)
{
	for (size_t i = 0; i < s->nsegments; i++)
		free(s->segments[i].name);
	free(s->segments);
	free(s->combos);
	free(s->name);
	free(s->fallback);
	free(s->created_at);
	free(s->updated_at);
	seg_scheme_init(s);
}

void seg_scheme_add_segment(struct seg_scheme *s, int64_t id, const char *name)
{
	s->segments = seg_realloc(s->segments, (s->nsegments + 1) * sizeof(*s->segments));
	s->segments[s->nsegments].id = id;
	s->segments[s->nsegments].name = seg_strdup(name ? name : "");
	s->nsegments++;
}

void seg_scheme_add_combo(struct seg_scheme *s, uint64_t mask, int64_t count)
{
	s->combos = seg_realloc(s->combos, (s->ncombos + 1) * sizeof(*s->combos));
	s->combos[s->ncombos].mask = mask;
	s->combos[s->ncombos].count = count;
	s->ncombos++;
}

static int seg__lowest_bit(uint64_t m)
{
	return __builtin_ctzll(m);
}

void seg_scheme_figures_compute(const struct seg_scheme *s, struct seg_scheme_figures *f)
{
	size_t n = s->nsegments;
	memset(f, 0, sizeof(*f));
	f->size = seg_calloc(n + 1, sizeof(*f->size));
	f->assigned = seg_calloc(n + 1, sizeof(*f->assigned));
	f->above = seg_calloc(n + 1, sizeof(*f->above));
	f->pairs = seg_calloc(n * n + 1, sizeof(*f->pairs));
	for (size_t c = 0; c < s->ncombos; c++) {
		uint64_t m = s->combos[c].mask;
		int64_t k = s->combos[c].count;
		if (n < 64)
			m &= (UINT64_C(1) << n) - 1; /* bits of no segment are ignored */
		if (!m)
			continue;
		int first = seg__lowest_bit(m);
		f->members += k;
		f->assigned[first] += k;
		if (m & (m - 1))
			f->overlapping += k;
		for (uint64_t a = m; a; a &= a - 1) {
			int i = seg__lowest_bit(a);
			f->size[i] += k;
			if (i != first)
				f->above[i] |= UINT64_C(1) << first;
			for (uint64_t b = a & (a - 1); b; b &= b - 1)
				f->pairs[(size_t)i * n + (size_t)seg__lowest_bit(b)] += k;
		}
	}
	f->unassigned = s->customers > f->members ? s->customers - f->members : 0;
}

void seg_scheme_figures_release(struct seg_scheme_figures *f)
{
	free(f->size);
	free(f->assigned);
	free(f->above);
	free(f->pairs);
	memset(f, 0, sizeof(*f));
}

static double seg__share(int64_t part, int64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0;
}

static void seg__id_json(struct seg_buf *out, int64_t id)
{
	seg_buf_addf(out, "\"%lld\"", (long long)id);
}

static void seg__str_json(struct seg_buf *out, const char *s)
{
	if (s)
		seg_buf_add_json_string(out, s, strlen(s));
	else
		seg_buf_addstr(out, "null");
}

/* "name" as it appears in a warning's detail. */
static void seg__quoted(struct seg_buf *d, const char *name)
{
	seg_buf_addf(d, "\"%s\"", name);
}

/* One warning object; detail is consumed (reset). segment < 0: none. */
static void seg__warning(struct seg_buf *out, bool *first, const char *code,
			 const struct seg_scheme *s, int segment, struct seg_buf *detail)
{
	seg_buf_addstr(out, *first ? "{\"code\":" : ",{\"code\":");
	*first = false;
	seg__str_json(out, code);
	if (segment >= 0) {
		seg_buf_addstr(out, ",\"segment_id\":");
		seg__id_json(out, s->segments[segment].id);
	}
	seg_buf_addstr(out, ",\"detail\":");
	seg_buf_add_json_string(out, detail->data, detail->len);
	seg_buf_addch(out, '}');
	seg_buf_reset(detail);
}

static void seg__warnings(const struct seg_scheme *s, const struct seg_scheme_figures *f,
			  struct seg_buf *out)
{
	struct seg_buf d = SEG_BUF_INIT;
	size_t n = s->nsegments;
	bool first = true;

	seg_buf_addch(out, '[');
	if (n < 3 || n > 8) {
		seg_buf_addf(
			&d,
			"the scheme has %zu segment%s; keep 3 to 8 so that each can be acted on: ",
			n, n == 1 ? "" : "s");
		seg_buf_addstr(&d, n < 3 ? "split a broad segment or add one"
					 : "merge similar segments or drop the smallest");
		seg__warning(out, &first, "segment_count", s, -1, &d);
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = s->segments[i].name;
		if (f->size[i] == 0) {
			seg__quoted(&d, name);
			seg_buf_addstr(&d,
				       " has no members: check its rule or its members, or drop it "
				       "from the scheme");
			seg__warning(out, &first, "empty", s, (int)i, &d);
		} else if (f->assigned[i] == 0) {
			seg_buf_addstr(&d, "every member of ");
			seg__quoted(&d, name);
			seg_buf_addstr(&d, " is already assigned to higher-priority segments (");
			bool lead = true;
			for (uint64_t a = f->above[i]; a; a &= a - 1) {
				if (!lead)
					seg_buf_addstr(&d, ", ");
				lead = false;
				seg__quoted(&d, s->segments[seg__lowest_bit(a)].name);
			}
			seg_buf_addstr(&d, "), so it gets nobody: move it up or drop it");
			seg__warning(out, &first, "shadowed", s, (int)i, &d);
		} else if (f->assigned[i] < s->min_segment_size) {
			seg__quoted(&d, name);
			seg_buf_addf(
				&d,
				" gets %lld customer%s in this scheme, fewer than "
				"min_segment_size (%lld): merge it with a neighbour, widen it, "
				"or lower min_segment_size",
				(long long)f->assigned[i], f->assigned[i] == 1 ? "" : "s",
				(long long)s->min_segment_size);
			seg__warning(out, &first, "below_min_size", s, (int)i, &d);
		}
	}
	if (f->overlapping > 0) {
		size_t bi = 0, bj = 0;
		int64_t best = -1;
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (f->pairs[i * n + j] > best) {
					best = f->pairs[i * n + j];
					bi = i;
					bj = j;
				}
		seg_buf_addf(&d, "%lld customer%s belong%s to two or more segments (the most to ",
			     (long long)f->overlapping, f->overlapping == 1 ? "" : "s",
			     f->overlapping == 1 ? "s" : "");
		seg__quoted(&d, s->segments[bi].name);
		seg_buf_addstr(&d, " and ");
		seg__quoted(&d, s->segments[bj].name);
		seg_buf_addf(&d,
			     ": %lld), so the segments are not mutually exclusive; they are "
			     "assigned by priority: make the rules exclude each other, or check "
			     "that the order is the one you want",
			     (long long)best);
		seg__warning(out, &first, "overlapping", s, -1, &d);
	}
	if (f->unassigned > 0 && !s->fallback) {
		seg_buf_addf(
			&d,
			"%lld customer%s (%.1f%%) %s in none of the segments and the scheme has "
			"no fallback: add a segment that covers them, or set a fallback",
			(long long)f->unassigned, f->unassigned == 1 ? "" : "s",
			100.0 * seg__share(f->unassigned, s->customers),
			f->unassigned == 1 ? "is" : "are");
		seg__warning(out, &first, "unassigned", s, -1, &d);
	} else if (f->unassigned > 0) {
		int64_t most = 0;
		for (size_t i = 0; i < n; i++)
			if (f->assigned[i] > most)
				most = f->assigned[i];
		if (f->unassigned > most) {
			seg_buf_addstr(&d, "the fallback ");
			seg__quoted(&d, s->fallback);
			seg_buf_addf(&d,
				     " holds more customers (%lld) than any segment: add segments "
				     "that describe them",
				     (long long)f->unassigned);
			seg__warning(out, &first, "fallback_largest", s, -1, &d);
		}
	}
	seg_buf_addch(out, ']');
	seg_buf_release(&d);
}

void seg_scheme_report_json(const struct seg_scheme *s, struct seg_buf *out)
{
	struct seg_scheme_figures f;
	size_t n = s->nsegments;
	bool first;

	seg_scheme_figures_compute(s, &f);
	seg_buf_addstr(out, "{\"id\":");
	seg__id_json(out, s->id);
	seg_buf_addstr(out, ",\"name\":");
	seg__str_json(out, s->name);
	seg_buf_addstr(out, ",\"fallback\":");
	seg__str_json(out, s->fallback);
	seg_buf_addf(out, ",\"min_segment_size\":%lld", (long long)s->min_segment_size);
	seg_buf_addstr(out, ",\"created_at\":");
	seg__str_json(out, s->created_at);
	seg_buf_addstr(out, ",\"updated_at\":");
	seg__str_json(out, s->updated_at);
	seg_buf_addstr(out, ",\"segments\":[");
	for (size_t i = 0; i < n; i++) {
		seg_buf_addstr(out, i ? ",{\"id\":" : "{\"id\":");
		seg__id_json(out, s->segments[i].id);
		seg_buf_addstr(out, ",\"name\":");
		seg__str_json(out, s->segments[i].name);
		seg_buf_addf(out,
			     ",\"size\":%lld,\"assigned\":%lld,\"share\":", (long long)f.size[i],
			     (long long)f.assigned[i]);
		seg_json_add_double(out, seg__share(f.assigned[i], s->customers));
		seg_buf_addch(out, '}');
	}
	seg_buf_addf(out, "],\"customers\":%lld,\"unassigned\":%lld,\"coverage\":",
		     (long long)s->customers, (long long)f.unassigned);
	seg_json_add_double(out, s->customers > 0 ? 1 - seg__share(f.unassigned, s->customers) : 0);
	seg_buf_addf(out, ",\"overlapping_customers\":%lld,\"overlaps\":[",
		     (long long)f.overlapping);
	first = true;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			if (!f.pairs[i * n + j])
				continue;
			seg_buf_addstr(out, first ? "{\"a\":" : ",{\"a\":");
			first = false;
			seg__id_json(out, s->segments[i].id);
			seg_buf_addstr(out, ",\"b\":");
			seg__id_json(out, s->segments[j].id);
			seg_buf_addf(out, ",\"count\":%lld}", (long long)f.pairs[i * n + j]);
		}
	seg_buf_addf(out,
		     "],\"mutually_exclusive\":%s,\"collectively_exhaustive\":%s,\"warnings\":",
		     f.overlapping ? "false" : "true", f.unassigned ? "false" : "true");
	seg__warnings(s, &f, out);
	seg_buf_addch(out, '}');
	seg_scheme_figures_release(&f);
}

void seg_scheme_snap_release(struct seg_scheme_snap *s)
{
	for (size_t i = 0; i < s->nsegments; i++)
		free(s->segments[i].name);
	free(s->segments);
	free(s->at);
	free(s->fallback);
	memset(s, 0, sizeof(*s));
}

void seg_scheme_snap_add_segment(struct seg_scheme_snap *s, int64_t id, const char *name)
{
	s->segments = seg_realloc(s->segments, (s->nsegments + 1) * sizeof(*s->segments));
	s->segments[s->nsegments].id = id;
	s->segments[s->nsegments].name = seg_strdup(name ? name : "");
	s->nsegments++;
}

/* The index of segment id in list[0..n), or n (the fallback's) when absent or 0. */
static size_t seg__index(const struct seg_scheme_segment *const *list, size_t n, int64_t id)
{
	for (size_t i = 0; id && i < n; i++)
		if (list[i]->id == id)
			return i;
	return n;
}

void seg_scheme_transitions_json(const struct seg_scheme_snap *a, const struct seg_scheme_snap *b,
				 const char *requested_from, const char *requested_to,
				 const struct seg_scheme_flow *flows, size_t nflows,
				 struct seg_buf *out)
{
	size_t cap = a->nsegments + b->nsegments, n = 0;
	const struct seg_scheme_segment **list = seg_calloc(cap + 1, sizeof(*list));
	const char *fallback = b->fallback ? b->fallback : a->fallback;

	for (size_t i = 0; i < b->nsegments; i++)
		list[n++] = &b->segments[i];
	for (size_t i = 0; i < a->nsegments; i++)
		if (seg__index(list, n, a->segments[i].id) == n)
			list[n++] = &a->segments[i];
	int64_t *m = seg_calloc((n + 1) * (n + 1), sizeof(*m));
	for (size_t k = 0; k < nflows; k++) {
		size_t i = seg__index(list, n, flows[k].from), j = seg__index(list, n, flows[k].to);
		m[i * (n + 1) + j] += flows[k].count;
	}
	seg_buf_addstr(out, "{\"from\":");
	seg__str_json(out, a->at);
	seg_buf_addstr(out, ",\"to\":");
	seg__str_json(out, b->at);
	seg_buf_addstr(out, ",\"from_snapshot\":");
	seg__id_json(out, a->id);
	seg_buf_addstr(out, ",\"to_snapshot\":");
	seg__id_json(out, b->id);
	seg_buf_addstr(out, ",\"requested_from\":");
	seg__str_json(out, requested_from);
	seg_buf_addstr(out, ",\"requested_to\":");
	seg__str_json(out, requested_to);
	seg_buf_addstr(out, ",\"segments\":[");
	for (size_t i = 0; i < n; i++) {
		seg_buf_addstr(out, "{\"id\":");
		seg__id_json(out, list[i]->id);
		seg_buf_addstr(out, ",\"name\":");
		seg__str_json(out, list[i]->name);
		seg_buf_addstr(out, "},");
	}
	seg_buf_addstr(out, "{\"id\":null,\"name\":");
	seg__str_json(out, fallback);
	seg_buf_addstr(out, "}],\"counts\":[");
	for (size_t i = 0; i <= n; i++) {
		seg_buf_addstr(out, i ? ",[" : "[");
		for (size_t j = 0; j <= n; j++)
			seg_buf_addf(out, j ? ",%lld" : "%lld", (long long)m[i * (n + 1) + j]);
		seg_buf_addch(out, ']');
	}
	seg_buf_addstr(out, "]}");
	free(m);
	free(list);
}
