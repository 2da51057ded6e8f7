/*
 * Segment references of rules (rule.h): cycle detection over the tenant's reference graph, and
 * finding the node that refers to a segment. The graph walk is iterative (an explicit stack) and
 * visits each segment at most once, so any number of segments and any shape of graph is fine.
 */
#include "rule.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct seg__graph_index {
	int64_t id;
	size_t at; /* position in the caller's graph */
};

static int seg__index_cmp(const void *a, const void *b)
{
	const struct seg__graph_index *x = a, *y = b;
	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->at > y->at) - (x->at < y->at);
}

/* The position in index[0..n) of the first entry of id, or n. */
static size_t seg__index_find(const struct seg__graph_index *index, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (index[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && index[lo].id == id ? lo : n;
}

int64_t seg_rule_cycle(const struct seg_rule *rule, int64_t self,
		       const struct seg_rule_graph_entry *graph, size_t n)
{
	struct seg__graph_index *index = NULL;
	bool *seen = NULL;
	size_t *stack = NULL, depth = 0;
	int64_t found = 0;

	if (!rule || self == 0 || rule->nsegments == 0)
		return 0;
	/* A reference to itself needs no graph. */
	for (size_t r = 0; r < rule->nsegments; r++)
		if (rule->segments[r] == self)
			return self;
	index = seg_calloc(n ? n : 1, sizeof(*index));
	seen = seg_calloc(n ? n : 1, sizeof(*seen));
	stack = seg_calloc(n ? n : 1, sizeof(*stack));
	for (size_t i = 0; i < n; i++) {
		index[i].id = graph[i].id;
		index[i].at = i;
	}
	qsort(index, n, sizeof(*index), seg__index_cmp);

	/*
	 * From each reference in ascending order, walk the references of the stored rules. Self's
	 * stored entry is its old rule, about to be replaced: reaching self is the cycle, and its
	 * old references are never followed. A segment seen from an earlier reference did not lead
	 * to self then and will not now, so `seen` is shared by all the walks.
	 */
	for (size_t r = 0; r < rule->nsegments && !found; r++) {
		size_t k = seg__index_find(index, n, rule->segments[r]);
		if (k == n || seen[k])
			continue;
		seen[k] = true;
		stack[depth++] = k;
		while (depth && !found) {
			const struct seg_rule_graph_entry *e = &graph[index[stack[--depth]].at];
			for (size_t j = 0; j < e->nrefs && !found; j++) {
				if (e->refs[j] == self) {
					found = rule->segments[r];
					break;
				}
				size_t m = seg__index_find(index, n, e->refs[j]);
				if (m == n || seen[m])
					continue;
				seen[m] = true;
				stack[depth++] = m;
			}
		}
	}
	free(stack);
	free(seen);
	free(index);
	return found;
}

static const struct seg_rule_node *seg__find(const struct seg_rule_node *n, int64_t id)
{
	if (!n)
		return NULL;
	if (n->kind == SEG_RULE_SEGMENT)
		return n->segment == id ? n : NULL;
	if (n->kind != SEG_RULE_ALL && n->kind != SEG_RULE_ANY && n->kind != SEG_RULE_NOT)
		return NULL;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct seg_rule_node *f = seg__find(n->children[i], id);
		if (f)
			return f;
	}
	return NULL;
}

const struct seg_rule_node *seg_rule_find_segment(const struct seg_rule *rule, int64_t id)
{
	return rule ? seg__find(rule->root, id) : NULL;
}
