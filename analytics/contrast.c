/*
 * Contrast groups (AID) and the rule that describes a cluster (analytics/contrast.h; the
 * method: analytics/README.md "Contrast groups").
 *
 * The tree grows a level at a time. Nodes are numbered breadth-first while it grows, so a
 * level's nodes are a contiguous range and a row's node minus the range's start is its "slot".
 * Each feature's rows were sorted once (seg_ct_data_new); a level walks that order once per
 * feature, adding each row to its slot's running sums, and evaluates a slot's candidate split
 * after each run of equal values: O(n) per feature and level, whatever the number of nodes.
 * A level is two passes over the features: the first finds each slot's largest gain per
 * feature, the second, only for the feature that wins a slot, the first t (or prefix) whose
 * gain is within the tie tolerance of the slot's largest. Features run `threads` at a time,
 * each writing only its own results, so the tree is the same for any number of threads.
 */
#include "contrast.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"

/* Gains within this share of a node's sum of squares of the largest are ties. */
#define TIE_REL	    1e-9
#define NOSLOT	    UINT32_MAX
#define MAX_THREADS 64
/* Rows ahead in a feature's order whose value and row a scan asks the cache for. */
#define PREFETCH 16

struct seg_ct_data {
	const double *X;
	size_t n, d;
	struct seg_ct_feature *features;
	uint32_t **order; /* per feature: the rows with a value, ascending (value, row) */
	size_t *norder;
	uint32_t **rank; /* categorical: the rank of each code's name in byte order */
};

void seg_ct_params_init(struct seg_ct_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_depth = 3;
	p->min_size = 50;
	p->threads = 1;
}

static unsigned seg__threads(const struct seg_ct_params *p)
{
	if (p->threads < 1)
		return 1;
	return p->threads > MAX_THREADS ? MAX_THREADS : p->threads;
}

/* --- running features in batches of threads ---------------------------------------------- */

typedef void (*seg__job_fn)(void *arg, size_t item, unsigned tid);

struct seg__thr {
	seg__job_fn fn;
	void *arg;
	size_t item;
	unsigned tid;
};

static void *seg__thr_main(void *a)
{
	struct seg__thr *t = a;
	t->fn(t->arg, t->item, t->tid);
	return NULL;
}

/*
 * Runs fn(arg, items[i], tid) for every i, threads at a time (tid 0 on the calling thread),
 * and ticks after each batch with base + span × the share done. False when the tick says stop.
 */
static bool seg__batches(const struct seg_ct_params *p, const size_t *items, size_t count,
			 seg__job_fn fn, void *arg, double base, double span)
{
	unsigned threads = seg__threads(p);
	for (size_t i = 0; i < count; i += threads) {
		size_t m = count - i < threads ? count - i : threads;
		struct seg__thr t[MAX_THREADS];
		pthread_t th[MAX_THREADS];
		bool started[MAX_THREADS] = {false};
		for (size_t j = 1; j < m; j++) {
			t[j] = (struct seg__thr){fn, arg, items[i + j], (unsigned)j};
			started[j] = pthread_create(&th[j], NULL, seg__thr_main, &t[j]) == 0;
			if (!started[j])
				fn(arg, items[i + j], (unsigned)j);
		}
		fn(arg, items[i], 0);
		for (size_t j = 1; j < m; j++)
			if (started[j])
				pthread_join(th[j], NULL);
		if (p->tick && !p->tick(p->ctx, base + span * (double)(i + m) / (double)count))
			return false;
	}
	return true;
}

/* --- the data: checks and one sort per feature -------------------------------------------- */

struct seg__pair {
	uint64_t key; /* the value's bits, mapped so that unsigned order is numeric order */
	uint32_t row;
};

/* An order-preserving key of a finite double (-0 and +0 the same). */
static uint64_t seg__key(double x)
{
	uint64_t b;
	if (x == 0)
		x = 0;
	memcpy(&b, &x, sizeof b);
	return b >> 63 ? ~b : b | (1ULL << 63);
}

/*
 * Sorts pairs[0..m) by key, stably (rows given ascending stay ascending within a value): LSD
 * radix by bytes, a pass skipped when every key has the same byte there. tmp holds m pairs.
 */
static void seg__radix(struct seg__pair *pairs, struct seg__pair *tmp, size_t m)
{
	size_t count[256];
	for (int shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof count);
		for (size_t i = 0; i < m; i++)
			count[(pairs[i].key >> shift) & 255]++;
		if (m == 0 || count[(pairs[0].key >> shift) & 255] == m)
			continue;
		for (size_t b = 0, sum = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < m; i++)
			tmp[count[(pairs[i].key >> shift) & 255]++] = pairs[i];
		memcpy(pairs, tmp, m * sizeof(*pairs));
	}
}

struct seg__named {
	const char *name;
	uint32_t code;
};

static int seg__named_cmp(const void *a, const void *b)
{
	const struct seg__named *p = a, *q = b;
	int c = strcmp(p->name, q->name);
	if (c)
		return c;
	return (p->code > q->code) - (p->code < q->code);
}

struct seg__prep {
	struct seg_ct_data *data;
	size_t *bad_row; /* per feature: the first row with a bad value, or SIZE_MAX */
};

static void seg__prep_feature(void *arg, size_t f, unsigned tid)
{
	struct seg__prep *P = arg;
	struct seg_ct_data *D = P->data;
	const struct seg_ct_feature *F = &D->features[f];
	size_t n = D->n, d = D->d, m = 0;
	(void)tid;

	P->bad_row[f] = SIZE_MAX;
	if (!F->categorical) {
		struct seg__pair *pairs = seg_malloc(n * sizeof(*pairs));
		for (size_t i = 0; i < n; i++) {
			double x = D->X[i * d + f];
			if (isnan(x))
				continue;
			if (isinf(x)) {
				P->bad_row[f] = i;
				free(pairs);
				return;
			}
			pairs[m++] = (struct seg__pair){seg__key(x), (uint32_t)i};
		}
		struct seg__pair *tmp = seg_malloc((m ? m : 1) * sizeof(*tmp));
		seg__radix(pairs, tmp, m);
		free(tmp);
		D->order[f] = seg_malloc((m ? m : 1) * sizeof(uint32_t));
		for (size_t i = 0; i < m; i++)
			D->order[f][i] = pairs[i].row;
		D->norder[f] = m;
		free(pairs);
		return;
	}
	/* codes: a counting sort, stable, so rows stay ascending within a code */
	size_t ncat = F->ncat;
	size_t *start = seg_calloc(ncat + 1, sizeof(*start));
	for (size_t i = 0; i < n; i++) {
		double x = D->X[i * d + f];
		if (isnan(x) || x == -1)
			continue;
		if (!(x >= 0 && x < (double)ncat && x == floor(x))) {
			P->bad_row[f] = i;
			free(start);
			return;
		}
		start[(size_t)x + 1]++;
		m++;
	}
	for (size_t c = 0; c < ncat; c++)
		start[c + 1] += start[c];
	D->order[f] = seg_malloc((m ? m : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++) {
		double x = D->X[i * d + f];
		if (isnan(x) || x == -1)
			continue;
		D->order[f][start[(size_t)x]++] = (uint32_t)i;
	}
	D->norder[f] = m;
	free(start);
	/* ties between equal means go by the category's value, byte order */
	D->rank[f] = seg_malloc((ncat ? ncat : 1) * sizeof(uint32_t));
	if (!F->names) {
		for (size_t c = 0; c < ncat; c++)
			D->rank[f][c] = (uint32_t)c;
		return;
	}
	struct seg__named *named = seg_malloc((ncat ? ncat : 1) * sizeof(*named));
	for (size_t c = 0; c < ncat; c++)
		named[c] = (struct seg__named){F->names[c] ? F->names[c] : "", (uint32_t)c};
	qsort(named, ncat, sizeof(*named), seg__named_cmp);
	for (size_t r = 0; r < ncat; r++)
		D->rank[f][named[r].code] = (uint32_t)r;
	free(named);
}

enum seg_err seg_ct_data_new(const double *X, size_t n, size_t d,
			     const struct seg_ct_feature *features, const struct seg_ct_params *p,
			     struct seg_ct_data **out, char *err, size_t errlen)
{
	enum seg_err rc = SEG_ERR_INVALID;
	struct seg_ct_data *D = NULL;
	struct seg__prep P = {0};
	size_t *items = NULL;

	*out = NULL;
	if (n < 1 || n >= UINT32_MAX) {
		seg_text_setf(err, errlen, "the number of customers (%zu) must be 1 to %u", n,
			      UINT32_MAX - 1);
		goto out;
	}
	for (size_t f = 0; f < d; f++)
		if (features[f].categorical && features[f].ncat >= INT32_MAX) {
			seg_text_setf(err, errlen, "feature %zu has too many categories (%zu)", f,
				      features[f].ncat);
			goto out;
		}
	D = seg_calloc(1, sizeof(*D));
	D->X = X;
	D->n = n;
	D->d = d;
	D->features = seg_malloc((d ? d : 1) * sizeof(*D->features));
	if (d)
		memcpy(D->features, features, d * sizeof(*features));
	D->order = seg_calloc(d ? d : 1, sizeof(*D->order));
	D->norder = seg_calloc(d ? d : 1, sizeof(*D->norder));
	D->rank = seg_calloc(d ? d : 1, sizeof(*D->rank));
	P.data = D;
	P.bad_row = seg_calloc(d ? d : 1, sizeof(*P.bad_row));
	items = seg_malloc((d ? d : 1) * sizeof(*items));
	for (size_t f = 0; f < d; f++)
		items[f] = f;
	if (!seg__batches(p, items, d, seg__prep_feature, &P, 0, 1)) {
		rc = SEG_ERR_CANCELLED;
		seg_text_setf(err, errlen, "cancelled");
		goto out;
	}
	for (size_t f = 0; f < d; f++)
		if (P.bad_row[f] != SIZE_MAX) {
			size_t i = P.bad_row[f];
			if (features[f].categorical)
				seg_text_setf(
					err, errlen,
					"feature %zu, row %zu: %g is not a category code (0 to "
					"%zu, "
					"or -1 for none)",
					f, i, X[i * d + f], features[f].ncat - 1);
			else
				seg_text_setf(err, errlen,
					      "feature %zu, row %zu: the value is infinite", f, i);
			goto out;
		}
	*out = D;
	D = NULL;
	rc = SEG_OK;
out:
	seg_ct_data_free(D);
	free(P.bad_row);
	free(items);
	return rc;
}

void seg_ct_data_free(struct seg_ct_data *data)
{
	if (!data)
		return;
	for (size_t f = 0; f < data->d; f++) {
		free(data->order[f]);
		free(data->rank[f]);
	}
	free(data->order);
	free(data->norder);
	free(data->rank);
	free(data->features);
	free(data);
}

/* --- one level: the scans ----------------------------------------------------------------- */

struct seg__entry {
	uint32_t slot;
	uint32_t rank;
	int32_t code;
	size_t cnt;
	double csum, ysum, mean;
};

/* What one thread needs to scan a feature (allocated per fit, reused by every level). */
struct seg__scratch {
	size_t *cnt;
	double *csum, *ysum;
	size_t *stamp;
	uint32_t *touched;
	size_t cap; /* of cnt ... touched: slots */
	struct seg__entry *entries, *sorted;
	size_t ecap;
	size_t *bucket;
};

/* What a scan reads of a row, together: one cache line's visit per row. */
struct seg__row {
	double c;      /* the target minus the mean of the row's node */
	double y;      /* the target */
	uint32_t slot; /* the node's slot, NOSLOT when the node does not split */
};

struct seg__lvl {
	const struct seg_ct_data *data;
	const struct seg__row *row; /* per row, what a scan reads of it */
	size_t nslots;
	const size_t *size; /* per slot */
	const double *tol;  /* per slot */
	size_t min_size;
	int mode;	      /* 0: the largest gains; 1: the winners' splits */
	double *maxgain;      /* mode 0: d × nslots, -1 for no candidate */
	const double *best;   /* mode 1: per slot, the largest gain over the features */
	const size_t *winner; /* mode 1: per slot, the feature that wins it */
	bool *done;	      /* mode 1: per slot, the split is found */
	double *threshold;    /* mode 1: per slot */
	int32_t **cats;	      /* mode 1: per slot */
	size_t *ncats;
	struct seg__scratch *scratch; /* per thread */
};

static double seg__gain(size_t n, size_t ny, double csum)
{
	return (double)n * csum * csum / ((double)ny * (double)(n - ny));
}

/* Whether a split sending ny of the slot's customers to yes is allowed (min_size both sides). */
static bool seg__sizes_ok(const struct seg__lvl *L, uint32_t s, size_t ny)
{
	return ny >= L->min_size && L->size[s] - ny >= L->min_size;
}

/*
 * Adds the rows of feature f's run of equal values that starts at position i of its order to
 * their slots' counts and sums (and target sums, ysum), noting each slot it touches in
 * S->touched; *end receives the position after the run. Returns the slots touched.
 */
static inline size_t seg__run(const struct seg__lvl *L, struct seg__scratch *S, size_t f, size_t i,
			      size_t *end, bool ysum)
{
	const struct seg_ct_data *D = L->data;
	const uint32_t *ord = D->order[f];
	size_t m = D->norder[f], d = D->d, ntouched = 0, j = i;
	double x = D->X[(size_t)ord[i] * d + f];

	for (; j < m; j++) {
		uint32_t r = ord[j];
		if (j + PREFETCH < m) {
			__builtin_prefetch(&D->X[(size_t)ord[j + PREFETCH] * d + f]);
			__builtin_prefetch(&L->row[ord[j + PREFETCH]]);
		}
		if (D->X[(size_t)r * d + f] != x)
			break;
		const struct seg__row *R = &L->row[r];
		uint32_t s = R->slot;
		if (s == NOSLOT || (L->mode == 1 && L->winner[s] != f))
			continue;
		S->cnt[s]++;
		S->csum[s] += R->c;
		if (ysum)
			S->ysum[s] += R->y;
		if (S->stamp[s] != i + 1) {
			S->stamp[s] = i + 1;
			S->touched[ntouched++] = s;
		}
	}
	*end = j;
	return ntouched;
}

static void seg__scan_numeric(struct seg__lvl *L, size_t f, struct seg__scratch *S)
{
	const struct seg_ct_data *D = L->data;
	const uint32_t *ord = D->order[f];
	size_t m = D->norder[f], d = D->d;
	double *maxgain = L->maxgain + f * L->nslots;

	for (size_t s = 0; s < L->nslots; s++) {
		S->cnt[s] = 0;
		S->csum[s] = 0;
		S->stamp[s] = 0;
	}
	for (size_t i = 0; i < m;) {
		double x = D->X[(size_t)ord[i] * d + f];
		size_t j, ntouched = seg__run(L, S, f, i, &j, false);
		for (size_t k = 0; k < ntouched; k++) {
			uint32_t s = S->touched[k];
			if (!seg__sizes_ok(L, s, S->cnt[s]))
				continue;
			double g = seg__gain(L->size[s], S->cnt[s], S->csum[s]);
			if (L->mode == 0) {
				if (g > maxgain[s])
					maxgain[s] = g;
			} else if (!L->done[s] && g >= L->best[s] - L->tol[s]) {
				L->done[s] = true;
				L->threshold[s] = x;
			}
		}
		i = j;
	}
}

static int seg__entry_cmp(const void *a, const void *b)
{
	const struct seg__entry *p = a, *q = b;
	if (p->mean != q->mean)
		return p->mean < q->mean ? -1 : 1;
	return (p->rank > q->rank) - (p->rank < q->rank);
}

static void seg__scan_categorical(struct seg__lvl *L, size_t f, struct seg__scratch *S)
{
	const struct seg_ct_data *D = L->data;
	const uint32_t *ord = D->order[f];
	const uint32_t *rank = D->rank[f];
	size_t m = D->norder[f], d = D->d, ne = 0;
	double *maxgain = L->maxgain + f * L->nslots;

	for (size_t s = 0; s < L->nslots; s++) {
		S->cnt[s] = 0;
		S->csum[s] = 0;
		S->ysum[s] = 0;
		S->stamp[s] = 0;
	}
	/* one entry per (slot, code) present: counts and sums */
	for (size_t i = 0; i < m;) {
		double x = D->X[(size_t)ord[i] * d + f];
		size_t j, ntouched = seg__run(L, S, f, i, &j, true);
		if (ne + ntouched > S->ecap) {
			S->ecap = 2 * (ne + ntouched);
			S->entries = seg_realloc(S->entries, S->ecap * sizeof(*S->entries));
			S->sorted = seg_realloc(S->sorted, S->ecap * sizeof(*S->sorted));
		}
		for (size_t k = 0; k < ntouched; k++) {
			uint32_t s = S->touched[k];
			S->entries[ne++] = (struct seg__entry){s,
							       rank[(size_t)x],
							       (int32_t)x,
							       S->cnt[s],
							       S->csum[s],
							       S->ysum[s],
							       S->ysum[s] / (double)S->cnt[s]};
			S->cnt[s] = 0;
			S->csum[s] = 0;
			S->ysum[s] = 0;
		}
		i = j;
	}
	/* grouped by slot (stable), then each slot's categories by mean, ties by value */
	memset(S->bucket, 0, (L->nslots + 1) * sizeof(*S->bucket));
	for (size_t e = 0; e < ne; e++)
		S->bucket[S->entries[e].slot + 1]++;
	for (size_t s = 0; s < L->nslots; s++)
		S->bucket[s + 1] += S->bucket[s];
	for (size_t e = 0; e < ne; e++)
		S->sorted[S->bucket[S->entries[e].slot]++] = S->entries[e];
	for (size_t s = 0, lo = 0; s < L->nslots; s++) {
		size_t hi = S->bucket[s];
		struct seg__entry *E = S->sorted + lo;
		size_t k = hi - lo, ny = 0;
		double cs = 0;
		lo = hi;
		if (!k)
			continue;
		qsort(E, k, sizeof(*E), seg__entry_cmp);
		for (size_t j = 0; j < k; j++) {
			ny += E[j].cnt;
			cs += E[j].csum;
			if (!seg__sizes_ok(L, (uint32_t)s, ny))
				continue;
			double g = seg__gain(L->size[s], ny, cs);
			if (L->mode == 0) {
				if (g > maxgain[s])
					maxgain[s] = g;
			} else if (!L->done[s] && g >= L->best[s] - L->tol[s]) {
				L->done[s] = true;
				L->ncats[s] = j + 1;
				L->cats[s] = seg_malloc((j + 1) * sizeof(int32_t));
				for (size_t q = 0; q <= j; q++)
					L->cats[s][q] = E[q].code;
				break;
			}
		}
	}
}

static int seg__code_cmp(const void *a, const void *b)
{
	int32_t p = *(const int32_t *)a, q = *(const int32_t *)b;
	return (p > q) - (p < q);
}

static void seg__scan(void *arg, size_t f, unsigned tid)
{
	struct seg__lvl *L = arg;
	if (L->data->features[f].categorical)
		seg__scan_categorical(L, f, &L->scratch[tid]);
	else
		seg__scan_numeric(L, f, &L->scratch[tid]);
}

static void seg__scratch_reserve(struct seg__scratch *S, size_t nslots)
{
	if (nslots <= S->cap)
		return;
	S->cap = nslots;
	S->cnt = seg_realloc(S->cnt, nslots * sizeof(*S->cnt));
	S->csum = seg_realloc(S->csum, nslots * sizeof(*S->csum));
	S->ysum = seg_realloc(S->ysum, nslots * sizeof(*S->ysum));
	S->stamp = seg_realloc(S->stamp, nslots * sizeof(*S->stamp));
	S->touched = seg_realloc(S->touched, nslots * sizeof(*S->touched));
	S->bucket = seg_realloc(S->bucket, (nslots + 1) * sizeof(*S->bucket));
}

static void seg__scratch_release(struct seg__scratch *S)
{
	free(S->cnt);
	free(S->csum);
	free(S->ysum);
	free(S->stamp);
	free(S->touched);
	free(S->bucket);
	free(S->entries);
	free(S->sorted);
}

/* --- the tree ----------------------------------------------------------------------------- */

void seg_ct_tree_release(struct seg_ct_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnodes; i++)
		free(t->nodes[i].categories);
	free(t->nodes);
	free(t->leaves);
	memset(t, 0, sizeof(*t));
}

size_t seg_ct_leaf_path(const struct seg_ct_tree *t, size_t leaf,
			struct seg_ct_step steps[SEG_CT_MAX_DEPTH])
{
	size_t k = 0;
	for (size_t c = t->leaves[leaf]; t->nodes[c].parent != SEG_CT_NONE && k < SEG_CT_MAX_DEPTH;
	     c = t->nodes[c].parent) {
		size_t up = t->nodes[c].parent;
		steps[k++] = (struct seg_ct_step){up, t->nodes[up].yes == c};
	}
	for (size_t i = 0; i < k / 2; i++) {
		struct seg_ct_step s = steps[i];
		steps[i] = steps[k - 1 - i];
		steps[k - 1 - i] = s;
	}
	return k;
}

static void seg__node_init(struct seg_ct_node *nd, size_t parent, int depth)
{
	memset(nd, 0, sizeof(*nd));
	nd->parent = parent;
	nd->depth = depth;
	nd->feature = SEG_CT_NONE;
	nd->yes = nd->no = SEG_CT_NONE;
	nd->leaf = SEG_CT_NONE;
}

/*
 * The sizes, means (compensated sums) and sums of squares of nodes [lo, hi), whose rows are
 * those with node_of in the range; c[i] = y[i] minus its node's mean; constant[s] says the
 * node's target does not vary.
 */
static void seg__level_stats(struct seg_ct_node *nodes, size_t lo, size_t hi, const double *y,
			     size_t n, const uint32_t *node_of, double *c, bool *constant)
{
	size_t m = hi - lo;
	double *sum = seg_calloc(m, sizeof(double)), *comp = seg_calloc(m, sizeof(double));
	double *first = seg_malloc(m * sizeof(double));
	for (size_t s = 0; s < m; s++) {
		nodes[lo + s].size = 0;
		constant[s] = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (node_of[i] < lo || node_of[i] >= hi)
			continue;
		size_t s = node_of[i] - lo;
		double v = y[i], t = sum[s] + v;
		/* Neumaier: the low-order bits lost by each addition are added back at the end */
		if (fabs(sum[s]) >= fabs(v))
			comp[s] += (sum[s] - t) + v;
		else
			comp[s] += (v - t) + sum[s];
		sum[s] = t;
		if (nodes[lo + s].size++ == 0)
			first[s] = v;
		else if (v != first[s])
			constant[s] = false;
	}
	for (size_t s = 0; s < m; s++) {
		struct seg_ct_node *nd = &nodes[lo + s];
		nd->mean = nd->size ? (sum[s] + comp[s]) / (double)nd->size : 0;
		nd->sse = 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (node_of[i] < lo || node_of[i] >= hi)
			continue;
		struct seg_ct_node *nd = &nodes[node_of[i]];
		c[i] = y[i] - nd->mean;
		nd->sse += c[i] * c[i];
	}
	for (size_t s = 0; s < m; s++)
		if (constant[s])
			nodes[lo + s].sse = 0;
	free(sum);
	free(comp);
	free(first);
}

/* Renumbers the breadth-first nodes in preorder (yes before no) and lists the leaves. */
static void seg__preorder(struct seg_ct_node *bfs, size_t nnodes, struct seg_ct_tree *out,
			  size_t *map)
{
	size_t *stack = seg_malloc(nnodes * sizeof(*stack));
	size_t top = 0, next = 0, nleaves = 0;
	stack[top++] = 0;
	while (top) {
		size_t b = stack[--top];
		map[b] = next++;
		if (bfs[b].feature == SEG_CT_NONE) {
			nleaves++;
			continue;
		}
		stack[top++] = bfs[b].no;
		stack[top++] = bfs[b].yes;
	}
	out->nodes = seg_malloc(nnodes * sizeof(*out->nodes));
	out->leaves = seg_malloc(nleaves * sizeof(*out->leaves));
	out->nnodes = nnodes;
	for (size_t b = 0; b < nnodes; b++) {
		struct seg_ct_node nd = bfs[b];
		if (nd.parent != SEG_CT_NONE)
			nd.parent = map[nd.parent];
		if (nd.feature != SEG_CT_NONE) {
			nd.yes = map[nd.yes];
			nd.no = map[nd.no];
		}
		out->nodes[map[b]] = nd;
		bfs[b].categories = NULL; /* moved */
	}
	for (size_t i = 0; i < nnodes; i++)
		if (out->nodes[i].feature == SEG_CT_NONE) {
			out->nodes[i].leaf = out->nleaves;
			out->leaves[out->nleaves++] = i;
		}
	free(stack);
}

enum seg_err seg_ct_fit(const struct seg_ct_data *data, const double *y,
			const struct seg_ct_params *p, struct seg_ct_tree *out, uint32_t *leaf_of,
			char *err, size_t errlen)
{
	enum seg_err rc = SEG_ERR_INVALID;
	size_t n = data->n, d = data->d, nnodes = 1, capnodes = 64;
	unsigned threads = seg__threads(p);
	struct seg_ct_node *nodes = NULL;
	uint32_t *node_of = NULL, *slot = NULL;
	struct seg__row *rows = NULL;
	double *c = NULL, *maxgain = NULL, *best = NULL, *tol = NULL, *threshold = NULL;
	size_t *size = NULL, *winner = NULL, *ncats = NULL, *items = NULL, *map = NULL;
	bool *constant = NULL, *done = NULL;
	int32_t **cats = NULL;
	size_t ncats_alloc = 0;
	struct seg__scratch scratch[MAX_THREADS];
	size_t lo = 0, hi = 1;

	memset(out, 0, sizeof(*out));
	memset(scratch, 0, sizeof(scratch));
	if (p->max_depth < 0 || p->max_depth > SEG_CT_MAX_DEPTH) {
		seg_text_setf(err, errlen, "max_depth must be 0 to %d", SEG_CT_MAX_DEPTH);
		goto out;
	}
	if (p->min_size < 1) {
		seg_text_setf(err, errlen, "min_size must be at least 1");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!isfinite(y[i])) {
			seg_text_setf(err, errlen, "row %zu: the target is not a finite number", i);
			goto out;
		}

	nodes = seg_malloc(capnodes * sizeof(*nodes));
	seg__node_init(&nodes[0], SEG_CT_NONE, 0);
	node_of = seg_calloc(n, sizeof(*node_of));
	slot = seg_malloc(n * sizeof(*slot));
	rows = seg_malloc(n * sizeof(*rows));
	c = seg_malloc(n * sizeof(*c));
	items = seg_malloc((d ? d : 1) * sizeof(*items));
	for (int depth = 0;; depth++) {
		size_t m = hi - lo, nsplit = 0, nitems = 0;
		constant = seg_realloc(constant, m * sizeof(*constant));
		seg__level_stats(nodes, lo, hi, y, n, node_of, c, constant);
		if (depth >= p->max_depth || d == 0)
			break;
		/* the nodes that may split: big enough for two children, a target that varies */
		size = seg_realloc(size, m * sizeof(*size));
		tol = seg_realloc(tol, m * sizeof(*tol));
		bool any = false;
		for (size_t s = 0; s < m; s++) {
			size[s] = nodes[lo + s].size;
			tol[s] = TIE_REL * nodes[lo + s].sse;
			if (size[s] >= p->min_size && size[s] - p->min_size >= p->min_size &&
			    !constant[s])
				any = true;
			else
				size[s] = 0; /* marks "no split" */
		}
		if (!any)
			break;
		for (size_t i = 0; i < n; i++) {
			slot[i] = NOSLOT;
			if (node_of[i] >= lo && node_of[i] < hi && size[node_of[i] - lo])
				slot[i] = (uint32_t)(node_of[i] - lo);
			rows[i] = (struct seg__row){c[i], y[i], slot[i]};
		}
		for (unsigned t = 0; t < threads; t++)
			seg__scratch_reserve(&scratch[t], m);
		maxgain = seg_realloc(maxgain, d * m * sizeof(*maxgain));
		for (size_t k = 0; k < d * m; k++)
			maxgain[k] = -1;
		struct seg__lvl L = {.data = data,
				     .row = rows,
				     .nslots = m,
				     .size = size,
				     .tol = tol,
				     .min_size = p->min_size,
				     .mode = 0,
				     .maxgain = maxgain,
				     .scratch = scratch};
		double base = (double)depth / p->max_depth, span = 1.0 / p->max_depth;
		for (size_t f = 0; f < d; f++)
			items[f] = f;
		if (!seg__batches(p, items, d, seg__scan, &L, base, span * 0.7))
			goto cancelled;
		/* each slot's largest gain and the first feature within the tolerance of it */
		best = seg_realloc(best, m * sizeof(*best));
		winner = seg_realloc(winner, m * sizeof(*winner));
		for (size_t s = 0; s < m; s++) {
			best[s] = -1;
			winner[s] = SEG_CT_NONE;
			for (size_t f = 0; f < d; f++)
				if (maxgain[f * m + s] > best[s])
					best[s] = maxgain[f * m + s];
			if (!size[s] || !(best[s] > tol[s]))
				continue; /* no candidate, or no gain beyond rounding */
			for (size_t f = 0; f < d && winner[s] == SEG_CT_NONE; f++)
				if (maxgain[f * m + s] >= best[s] - tol[s])
					winner[s] = f;
			nsplit++;
		}
		if (!nsplit)
			break;
		for (size_t f = 0; f < d; f++)
			for (size_t s = 0; s < m; s++)
				if (winner[s] == f) {
					items[nitems++] = f;
					break;
				}
		done = seg_realloc(done, m * sizeof(*done));
		threshold = seg_realloc(threshold, m * sizeof(*threshold));
		ncats = seg_realloc(ncats, m * sizeof(*ncats));
		cats = seg_realloc(cats, m * sizeof(*cats));
		ncats_alloc = m;
		for (size_t s = 0; s < m; s++) {
			done[s] = false;
			threshold[s] = NAN;
			ncats[s] = 0;
			cats[s] = NULL;
		}
		L.mode = 1;
		L.best = best;
		L.winner = winner;
		L.done = done;
		L.threshold = threshold;
		L.cats = cats;
		L.ncats = ncats;
		if (!seg__batches(p, items, nitems, seg__scan, &L, base + span * 0.7, span * 0.2))
			goto cancelled;
		/* the children, breadth-first: the next level is [hi, hi + 2 nsplit) */
		if (nnodes + 2 * nsplit > capnodes) {
			capnodes = 2 * (nnodes + 2 * nsplit);
			nodes = seg_realloc(nodes, capnodes * sizeof(*nodes));
		}
		for (size_t s = 0; s < m; s++) {
			if (winner[s] == SEG_CT_NONE)
				continue;
			struct seg_ct_node *nd = &nodes[lo + s];
			nd->feature = winner[s];
			nd->gain = best[s];
			nd->threshold = threshold[s];
			nd->categories = cats[s];
			nd->ncategories = ncats[s];
			cats[s] = NULL;
			nd->yes = nnodes++;
			nd->no = nnodes++;
			seg__node_init(&nodes[nd->yes], lo + s, depth + 1);
			seg__node_init(&nodes[nd->no], lo + s, depth + 1);
		}
		/* every row of a split node to its child (categories: a sorted copy to search) */
		for (size_t s = 0; s < m; s++)
			if (winner[s] != SEG_CT_NONE && nodes[lo + s].ncategories) {
				cats[s] = seg_malloc(nodes[lo + s].ncategories * sizeof(int32_t));
				memcpy(cats[s], nodes[lo + s].categories,
				       nodes[lo + s].ncategories * sizeof(int32_t));
				qsort(cats[s], nodes[lo + s].ncategories, sizeof(int32_t),
				      seg__code_cmp);
			}
		for (size_t i = 0; i < n; i++) {
			if (slot[i] == NOSLOT || winner[slot[i]] == SEG_CT_NONE)
				continue;
			struct seg_ct_node *nd = &nodes[lo + slot[i]];
			double x = data->X[i * d + nd->feature];
			bool yes = false;
			if (!data->features[nd->feature].categorical) {
				yes = !isnan(x) && x <= nd->threshold;
			} else if (!isnan(x) && x >= 0) {
				int32_t code = (int32_t)x;
				yes = bsearch(&code, cats[slot[i]], nd->ncategories,
					      sizeof(int32_t), seg__code_cmp) != NULL;
			}
			node_of[i] = (uint32_t)(yes ? nd->yes : nd->no);
		}
		for (size_t s = 0; s < m; s++) {
			free(cats[s]);
			cats[s] = NULL;
		}
		lo = hi;
		hi = nnodes;
	}

	/* the result: preorder, leaves, explained */
	map = seg_malloc(nnodes * sizeof(*map));
	seg__preorder(nodes, nnodes, out, map);
	out->n = n;
	out->mean = out->nodes[0].mean;
	out->sst = out->nodes[0].sse;
	double between = 0;
	for (size_t l = 0; l < out->nleaves; l++) {
		const struct seg_ct_node *nd = &out->nodes[out->leaves[l]];
		between += (double)nd->size * (nd->mean - out->mean) * (nd->mean - out->mean);
	}
	out->explained = out->sst > 0 ? between / out->sst : 0;
	if (out->explained > 1)
		out->explained = 1;
	if (leaf_of)
		for (size_t i = 0; i < n; i++)
			leaf_of[i] = (uint32_t)out->nodes[map[node_of[i]]].leaf;
	if (p->tick && !p->tick(p->ctx, 1))
		goto cancelled;
	rc = SEG_OK;
	goto out;
cancelled:
	rc = SEG_ERR_CANCELLED;
	seg_text_setf(err, errlen, "cancelled");
out:
	if (rc != SEG_OK)
		seg_ct_tree_release(out);
	if (nodes)
		for (size_t i = 0; i < nnodes; i++)
			free(nodes[i].categories);
	for (size_t s = 0; s < ncats_alloc; s++)
		free(cats[s]);
	for (unsigned t = 0; t < MAX_THREADS; t++)
		seg__scratch_release(&scratch[t]);
	free(nodes);
	free(node_of);
	free(slot);
	free(rows);
	free(c);
	free(maxgain);
	free(best);
	free(tol);
	free(threshold);
	free(size);
	free(winner);
	free(ncats);
	free(items);
	free(map);
	free(constant);
	free(done);
	free(cats);
	return rc;
}

/* --- the rule that describes a group ------------------------------------------------------ */

void seg_ct_rule_release(struct seg_ct_rule *r)
{
	if (!r)
		return;
	seg_ct_tree_release(&r->tree);
	free(r->leaves);
	memset(r, 0, sizeof(*r));
}

struct seg__leafhits {
	size_t leaf, size, hits;
};

/* Higher share of members first (compared exactly, as fractions), ties by leaf index. */
static int seg__leafhits_cmp(const void *a, const void *b)
{
	const struct seg__leafhits *p = a, *q = b;
	unsigned __int128 l = (unsigned __int128)p->hits * q->size;
	unsigned __int128 r = (unsigned __int128)q->hits * p->size;
	if (l != r)
		return l > r ? -1 : 1;
	return (p->leaf > q->leaf) - (p->leaf < q->leaf);
}

enum seg_err seg_ct_describe(const struct seg_ct_data *data, const unsigned char *member,
			     const struct seg_ct_params *p, struct seg_ct_rule *out, char *err,
			     size_t errlen)
{
	enum seg_err rc = SEG_ERR_INVALID;
	size_t n = data->n, members = 0;
	double *y = NULL;
	uint32_t *leaf_of = NULL;
	struct seg__leafhits *lh = NULL;

	memset(out, 0, sizeof(*out));
	y = seg_malloc(n * sizeof(*y));
	for (size_t i = 0; i < n; i++) {
		y[i] = member[i] ? 1 : 0;
		members += member[i] != 0;
	}
	if (!members) {
		seg_text_setf(err, errlen, "the group has no member");
		goto out;
	}
	leaf_of = seg_malloc(n * sizeof(*leaf_of));
	rc = seg_ct_fit(data, y, p, &out->tree, leaf_of, err, errlen);
	if (rc != SEG_OK)
		goto out;
	size_t nl = out->tree.nleaves;
	lh = seg_calloc(nl, sizeof(*lh));
	for (size_t l = 0; l < nl; l++) {
		lh[l].leaf = l;
		lh[l].size = out->tree.nodes[out->tree.leaves[l]].size;
	}
	for (size_t i = 0; i < n; i++)
		lh[leaf_of[i]].hits += member[i] != 0;
	qsort(lh, nl, sizeof(*lh), seg__leafhits_cmp);
	/* the shortest prefix with the largest f1 = 2 hits / (matched + members), exactly */
	size_t matched = 0, hits = 0, best = 0, best_matched = 0, best_hits = 0;
	for (size_t j = 0; j < nl; j++) {
		matched += lh[j].size;
		hits += lh[j].hits;
		unsigned __int128 l = (unsigned __int128)hits * (best_matched + members);
		unsigned __int128 r = (unsigned __int128)best_hits * (matched + members);
		if (j == 0 || l > r) {
			best = j + 1;
			best_matched = matched;
			best_hits = hits;
		}
	}
	out->nleaves = best;
	out->leaves = seg_malloc(best * sizeof(*out->leaves));
	for (size_t j = 0; j < best; j++)
		out->leaves[j] = lh[j].leaf;
	out->matched = best_matched;
	out->members = members;
	out->hits = best_hits;
	out->precision = (double)best_hits / (double)best_matched;
	out->recall = (double)best_hits / (double)members;
	out->f1 = 2.0 * (double)best_hits / (double)(best_matched + members);
	rc = SEG_OK;
out:
	if (rc != SEG_OK)
		seg_ct_rule_release(out);
	free(y);
	free(leaf_of);
	free(lh);
	return rc;
}
