/*
 * k-means (analytics/kmeans.h; the reasons for each choice are in analytics/README.md,
 * "k-means"): scaling, greedy k-means++, Lloyd with Hamerly's bounds, restarts, the quality
 * figures, the auto sweep and the profile.
 *
 * Every pass over the data goes through seg__parallel: the rows are cut into chunks of a size
 * that depends on n and k only; each chunk writes its partial sums into its own slot, and the
 * caller's thread adds the slots in chunk order. So the arithmetic, and every result, is the
 * same whether one thread or several ran the chunks, and in whatever order they ran.
 *
 * Hamerly (2010, "Making k-means even faster"): each point keeps an upper bound u on the
 * distance to its own centre and a lower bound l on the distance to every other one. When the
 * centres move by p[j], u grows by p[own] and l shrinks by the largest p of the others; a point
 * whose u is at most max(l, s[own]) (s = half the distance from its centre to the nearest other
 * centre) cannot have changed cluster and costs no distance at all. The labels are those of
 * plain Lloyd (exact; ties aside, where plain Lloyd takes the lowest index).
 */
#include "kmeans.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"
#include "linalg.h"
#include "random.h"

#define SEG__CHUNK_ROWS	   1024 /* rows per chunk, at least; 8 k when k is larger than 128 */
#define SEG__MAX_THREADS   64
#define SEG__MAX_TRIALS	   64
#define SEG__SIL_ROWS	   32 /* silhouette rows per chunk */
#define SEG__SIL_BLOCKS	   16 /* silhouette rows are done in this many blocks, a tick between */
#define SEG__PREFETCH_ROWS 16 /* how far ahead the assignment asks for a row */

static enum seg_kmeans_status seg__fail(char *err, size_t errlen, enum seg_kmeans_status st,
					const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum seg_kmeans_status seg__fail(char *err, size_t errlen, enum seg_kmeans_status st,
					const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	seg_text_vsetf(err, errlen, fmt, ap);
	va_end(ap);
	return st;
}

/* ---- Parallel passes ------------------------------------------------------------------------ */

struct seg__par {
	void (*fn)(void *ctx, size_t chunk);
	void *ctx;
	size_t nchunks;
	atomic_size_t next;
};

static void *seg__par_worker(void *arg)
{
	struct seg__par *p = arg;
	size_t c;
	while ((c = atomic_fetch_add(&p->next, 1)) < p->nchunks) {
		p->fn(p->ctx, c);
	}
	return NULL;
}

/* Runs fn(ctx, c) for c = 0..nchunks-1 on the caller and up to threads - 1 helper threads. */
static void seg__parallel(int threads, size_t nchunks, void (*fn)(void *, size_t), void *ctx)
{
	struct seg__par p = {.fn = fn, .ctx = ctx, .nchunks = nchunks};
	pthread_t tid[SEG__MAX_THREADS];
	size_t want = threads > 1 ? (size_t)threads - 1 : 0, started = 0;
	atomic_init(&p.next, 0);
	if (nchunks <= 1) {
		want = 0;
	} else if (want > nchunks - 1) {
		want = nchunks - 1;
	}
	for (size_t t = 0; t < want; t++) {
		if (pthread_create(&tid[started], NULL, seg__par_worker, &p) == 0) {
			started++;
		}
	}
	seg__par_worker(&p);
	for (size_t t = 0; t < started; t++) {
		pthread_join(tid[t], NULL);
	}
}

static size_t seg__chunk_rows(size_t k)
{
	return k > SEG__CHUNK_ROWS / 8 ? 8 * k : SEG__CHUNK_ROWS;
}

static size_t seg__nchunks(size_t n, size_t rows)
{
	return n == 0 ? 0 : (n - 1) / rows + 1;
}

/* The squared distance, with four partial sums (a fixed order: the same bits everywhere). */
static inline double seg__d2(const double *a, const double *b, size_t d)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t j = 0;
	for (; j + 4 <= d; j += 4) {
		double t0 = a[j] - b[j], t1 = a[j + 1] - b[j + 1];
		double t2 = a[j + 2] - b[j + 2], t3 = a[j + 3] - b[j + 3];
		s0 += t0 * t0;
		s1 += t1 * t1;
		s2 += t2 * t2;
		s3 += t3 * t3;
	}
	for (; j < d; j++) {
		double t = a[j] - b[j];
		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

/* ---- Column statistics (scaling, tolerance, profile) --------------------------------------- */

struct seg__cols {
	const double *x;
	size_t n, d, rows;
	double *mean, *m2, *min, *max; /* nchunks x d each: the chunk's own */
	size_t *bad;		       /* nchunks: first non-finite value's flat index + 1, or 0 */
};

/* One chunk's mean, sum of squared deviations from it, min and max: its rows are read from
 * memory once, the second look is in cache. */
static void seg__cols_chunk(void *ctx, size_t c)
{
	struct seg__cols *s = ctx;
	size_t lo = c * s->rows, hi = lo + s->rows < s->n ? lo + s->rows : s->n, d = s->d;
	double *mean = s->mean + c * d, *m2 = s->m2 + c * d;
	double *mn = s->min + c * d, *mx = s->max + c * d;
	s->bad[c] = 0;
	for (size_t j = 0; j < d; j++) {
		mean[j] = 0;
		m2[j] = 0;
		mn[j] = INFINITY;
		mx[j] = -INFINITY;
	}
	for (size_t i = lo; i < hi; i++) {
		const double *xi = s->x + i * d;
		for (size_t j = 0; j < d; j++) {
			double v = xi[j];
			if (!isfinite(v)) {
				if (!s->bad[c]) {
					s->bad[c] = i * d + j + 1;
				}
				continue;
			}
			mean[j] += v;
			mn[j] = v < mn[j] ? v : mn[j];
			mx[j] = v > mx[j] ? v : mx[j];
		}
	}
	if (s->bad[c]) {
		return;
	}
	for (size_t j = 0; j < d; j++) {
		mean[j] /= (double)(hi - lo);
	}
	for (size_t i = lo; i < hi; i++) {
		const double *xi = s->x + i * d;
		for (size_t j = 0; j < d; j++) {
			double t = xi[j] - mean[j];
			m2[j] += t * t;
		}
	}
}

/*
 * Per feature: mean, population variance, min, max of x (n >= 1): each chunk's in one pass,
 * combined in chunk order (Chan, Golub & LeVeque: M2 = sum of the chunks' M2 + n_c (mean_c -
 * mean)^2). Fails with INVALID (message naming the row and feature) on a value that is not
 * finite.
 */
static enum seg_kmeans_status seg__columns(const double *x, size_t n, size_t d, int threads,
					   double *mean, double *var, double *min, double *max,
					   char *err, size_t errlen)
{
	struct seg__cols s = {.x = x, .n = n, .d = d, .rows = SEG__CHUNK_ROWS};
	size_t nc = seg__nchunks(n, s.rows);
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	s.mean = seg_calloc(nc * d, sizeof(double));
	s.m2 = seg_calloc(nc * d, sizeof(double));
	s.min = seg_calloc(nc * d, sizeof(double));
	s.max = seg_calloc(nc * d, sizeof(double));
	s.bad = seg_calloc(nc, sizeof(size_t));
	seg__parallel(threads, nc, seg__cols_chunk, &s);
	for (size_t c = 0; c < nc; c++) {
		if (s.bad[c]) {
			size_t f = s.bad[c] - 1;
			st = seg__fail(err, errlen, SEG_KMEANS_INVALID,
				       "feature %zu of row %zu is not a finite number", f % d,
				       f / d);
			goto out;
		}
	}
	for (size_t j = 0; j < d; j++) {
		double sum = 0, mn = INFINITY, mx = -INFINITY, m2 = 0;
		for (size_t c = 0; c < nc; c++) {
			size_t rows = c + 1 < nc ? s.rows : n - c * s.rows;
			sum += s.mean[c * d + j] * (double)rows;
			mn = s.min[c * d + j] < mn ? s.min[c * d + j] : mn;
			mx = s.max[c * d + j] > mx ? s.max[c * d + j] : mx;
		}
		mean[j] = sum / (double)n;
		for (size_t c = 0; c < nc; c++) {
			size_t rows = c + 1 < nc ? s.rows : n - c * s.rows;
			double t = s.mean[c * d + j] - mean[j];
			m2 += s.m2[c * d + j] + (double)rows * t * t;
		}
		if (var) {
			var[j] = m2 / (double)n;
		}
		if (min) {
			min[j] = mn;
		}
		if (max) {
			max[j] = mx;
		}
	}
out:
	free(s.mean);
	free(s.m2);
	free(s.min);
	free(s.max);
	free(s.bad);
	return st;
}

static int seg__threads(int threads)
{
	return threads < 1 ? 1 : threads > SEG__MAX_THREADS ? SEG__MAX_THREADS : threads;
}

struct seg__apply {
	double *x;
	size_t n, d;
	const double *shift, *scale;
};

static void seg__apply_chunk(void *ctx, size_t c)
{
	struct seg__apply *a = ctx;
	size_t lo = c * SEG__CHUNK_ROWS,
	       hi = lo + SEG__CHUNK_ROWS < a->n ? lo + SEG__CHUNK_ROWS : a->n;
	for (size_t i = lo; i < hi; i++) {
		double *xi = a->x + i * a->d;
		for (size_t j = 0; j < a->d; j++) {
			xi[j] = (xi[j] - a->shift[j]) / a->scale[j];
		}
	}
}

enum seg_kmeans_status seg_kmeans_scale(double *x, size_t n, size_t d,
					enum seg_kmeans_scaling scaling, int threads, double *shift,
					double *scale, char *err, size_t errlen)
{
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	double *var = NULL, *min = NULL, *max = NULL;
	threads = seg__threads(threads);
	for (size_t j = 0; j < d; j++) {
		shift[j] = 0;
		scale[j] = 1;
	}
	if (n == 0 || d == 0) {
		return SEG_KMEANS_OK;
	}
	var = seg_malloc(d * sizeof *var);
	min = seg_malloc(d * sizeof *min);
	max = seg_malloc(d * sizeof *max);
	/* the check for finite values runs for NONE too: the caller learns it here */
	st = seg__columns(x, n, d, threads, shift, var, min, max, err, errlen);
	if (st != SEG_KMEANS_OK) {
		for (size_t j = 0; j < d; j++) {
			shift[j] = 0;
		}
		goto out;
	}
	for (size_t j = 0; j < d; j++) {
		switch (scaling) {
		case SEG_KMEANS_SCALE_STANDARD: scale[j] = var[j] > 0 ? sqrt(var[j]) : 1; break;
		case SEG_KMEANS_SCALE_MINMAX:
			shift[j] = min[j];
			scale[j] = max[j] > min[j] ? max[j] - min[j] : 1;
			break;
		case SEG_KMEANS_SCALE_NONE:
		default:
			shift[j] = 0;
			scale[j] = 1;
			break;
		}
	}
	if (scaling != SEG_KMEANS_SCALE_NONE) {
		struct seg__apply a = {.x = x, .n = n, .d = d, .shift = shift, .scale = scale};
		seg__parallel(threads, seg__nchunks(n, SEG__CHUNK_ROWS), seg__apply_chunk, &a);
	}
out:
	free(var);
	free(min);
	free(max);
	return st;
}

void seg_kmeans_unscale(double *rows, size_t m, size_t d, const double *shift, const double *scale)
{
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < d; j++) {
			rows[i * d + j] = rows[i * d + j] * scale[j] + shift[j];
		}
	}
}

/* ---- The fit ----------------------------------------------------------------------------------
 */

void seg_kmeans_params_init(struct seg_kmeans_params *p)
{
	memset(p, 0, sizeof *p);
	p->k = 8;
	p->n_init = 10;
	p->max_iter = 300;
	p->tol = 1e-4;
	p->threads = 1;
}

void seg_kmeans_result_release(struct seg_kmeans_result *r)
{
	if (!r) {
		return;
	}
	free(r->centroids);
	free(r->labels);
	free(r->sizes);
	memset(r, 0, sizeof *r);
}

/* The state of one fit: the bounds, the centres and the chunks' partial sums. */
struct seg__km {
	const double *x;
	size_t n, d, k, rows, nchunks;
	double *c;	    /* k x d: the centres the points are assigned to */
	double *ct;	    /* d x k: the same transposed, for the scans */
	double *s;	    /* k: half the distance to the nearest other centre */
	double *p;	    /* k: how far each centre moved in the last update */
	double pmax, pmax2; /* the largest and second largest p */
	size_t jmax;	    /* which centre moved by pmax */
	int32_t *a;	    /* n: labels */
	double *u, *l;	    /* n: Hamerly's bounds; u is k-means++'s D^2 while seeding */
	double *sums;	    /* nchunks x k x d: what the chunk's moves add to each cluster's sum */
	ptrdiff_t *counts;  /* nchunks x k: and to its count */
	double *tot;	    /* k x d: the sum of each cluster's points (by the labels) */
	ptrdiff_t *totcnt;  /* k: its points */
	size_t *changed;    /* nchunks */
	double *part;	    /* nchunks x SEG__MAX_TRIALS: per-chunk sums of one scalar or a few */
	bool full;	    /* assign by computing every distance (the first pass) */
	/* k-means++ */
	const double *newc; /* the centre chosen last, not yet in D^2 (NULL: none) */
	size_t cand[SEG__MAX_TRIALS], ntrials;
	double *candt;	/* d x ntrials: the candidates transposed */
	size_t *chosen; /* NULL, or k: the rows the centres were taken from */
};

/*
 * The squared distances of xi to every centre into acc (k), dimension by dimension over the
 * transposed centres, eight or four centres at a time in registers, which the compiler turns
 * into vector instructions (a scan is where the time goes once the bounds hold for most
 * points). Each lane's arithmetic is seg__d2seq's: the same bits whichever block it is in.
 */
static inline void seg__scan(const double *restrict xi, const double *restrict ct, size_t k,
			     size_t d, double *restrict acc)
{
	size_t j = 0;
	/* blocks of 8 and 4 centres accumulate in registers (independent chains) */
	for (; j + 8 <= k; j += 8) {
		double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
		for (size_t h = 0; h < d; h++) {
			double xv = xi[h];
			const double *c = ct + h * k + j;
			double t0 = xv - c[0], t1 = xv - c[1], t2 = xv - c[2], t3 = xv - c[3];
			double t4 = xv - c[4], t5 = xv - c[5], t6 = xv - c[6], t7 = xv - c[7];
			a0 += t0 * t0;
			a1 += t1 * t1;
			a2 += t2 * t2;
			a3 += t3 * t3;
			a4 += t4 * t4;
			a5 += t5 * t5;
			a6 += t6 * t6;
			a7 += t7 * t7;
		}
		acc[j] = a0;
		acc[j + 1] = a1;
		acc[j + 2] = a2;
		acc[j + 3] = a3;
		acc[j + 4] = a4;
		acc[j + 5] = a5;
		acc[j + 6] = a6;
		acc[j + 7] = a7;
	}
	for (; j + 4 <= k; j += 4) {
		double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
		for (size_t h = 0; h < d; h++) {
			double xv = xi[h];
			const double *c = ct + h * k + j;
			double t0 = xv - c[0], t1 = xv - c[1], t2 = xv - c[2], t3 = xv - c[3];
			a0 += t0 * t0;
			a1 += t1 * t1;
			a2 += t2 * t2;
			a3 += t3 * t3;
		}
		acc[j] = a0;
		acc[j + 1] = a1;
		acc[j + 2] = a2;
		acc[j + 3] = a3;
	}
	for (; j < k; j++) {
		double a0 = 0;
		for (size_t h = 0; h < d; h++) {
			double t = xi[h] - ct[h * k + j];
			a0 += t * t;
		}
		acc[j] = a0;
	}
}

static void seg__transpose(struct seg__km *km)
{
	for (size_t j = 0; j < km->k; j++) {
		for (size_t h = 0; h < km->d; h++) {
			km->ct[h * km->k + j] = km->c[j * km->d + h];
		}
	}
}

static void seg__assign_chunk(void *ctx, size_t ci)
{
	struct seg__km *km = ctx;
	size_t d = km->d, k = km->k;
	size_t lo = ci * km->rows, hi = lo + km->rows < km->n ? lo + km->rows : km->n;
	double *sum = km->sums + ci * k * d;
	ptrdiff_t *cnt = km->counts + ci * k;
	size_t changed = 0;
	double *acc = seg_malloc(k * sizeof *acc);
	memset(sum, 0, k * d * sizeof *sum);
	memset(cnt, 0, k * sizeof *cnt);
	for (size_t i = lo; i < hi; i++) {
		const double *xi = km->x + i * d;
		int32_t ai = km->a[i];
		/* the rows whose bounds fail are read at scattered places: asking for every row a
		   little ahead costs bandwidth but no stalls (measured: 30 % faster than leaving
		   it to the hardware, and than asking only for the rows a look-ahead test picks) */
		__builtin_prefetch(xi + SEG__PREFETCH_ROWS * d);
		double ui = 0, li = 0;
		bool scan = km->full;
		if (!scan) {
			ui = km->u[i] + km->p[ai];
			li = km->l[i] - ((size_t)ai == km->jmax ? km->pmax2 : km->pmax);
			double m = km->s[ai] > li ? km->s[ai] : li;
			if (ui > m) {
				ui = sqrt(seg__d2(xi, km->c + (size_t)ai * d, d));
				scan = ui > m;
			}
		}
		if (scan) {
			double b1 = INFINITY, b2 = INFINITY;
			int32_t best = 0;
			seg__scan(xi, km->ct, k, d, acc);
			for (size_t j = 0; j < k; j++) {
				/* without branches (min, max and a conditional move): which centre
				   is nearest is a coin toss for the points scanned */
				double dj = acc[j];
				bool lt = dj < b1;
				double up = lt ? b1 : dj;
				b2 = up < b2 ? up : b2;
				best = lt ? (int32_t)j : best;
				b1 = lt ? dj : b1;
			}
			if (best != ai) {
				/* the move, into the chunk's changes of the clusters' sums */
				changed++;
				if (ai >= 0) {
					double *so = sum + (size_t)ai * d;
					for (size_t j = 0; j < d; j++) {
						so[j] -= xi[j];
					}
					cnt[ai]--;
				}
				double *sn = sum + (size_t)best * d;
				for (size_t j = 0; j < d; j++) {
					sn[j] += xi[j];
				}
				cnt[best]++;
			}
			ai = best;
			ui = sqrt(b1);
			li = sqrt(b2);
		}
		km->a[i] = ai;
		km->u[i] = ui;
		km->l[i] = li;
	}
	km->changed[ci] = changed;
	free(acc);
}

static void seg__inertia_chunk(void *ctx, size_t ci)
{
	struct seg__km *km = ctx;
	size_t d = km->d, lo = ci * km->rows, hi = lo + km->rows < km->n ? lo + km->rows : km->n;
	double s = 0;
	for (size_t i = lo; i < hi; i++) {
		s += seg__d2(km->x + i * d, km->c + (size_t)km->a[i] * d, d);
	}
	km->part[ci * SEG__MAX_TRIALS] = s;
}

/* l[i] = the squared distance of point i to its centre (for the relocation of empty clusters) */
static void seg__own_d2_chunk(void *ctx, size_t ci)
{
	struct seg__km *km = ctx;
	size_t d = km->d, lo = ci * km->rows, hi = lo + km->rows < km->n ? lo + km->rows : km->n;
	for (size_t i = lo; i < hi; i++) {
		km->l[i] = seg__d2(km->x + i * d, km->c + (size_t)km->a[i] * d, d);
	}
}

/* The squared distance summed dimension by dimension: the arithmetic of one lane of seg__scan. */
static inline double seg__d2seq(const double *a, const double *b, size_t d)
{
	double s = 0;
	for (size_t h = 0; h < d; h++) {
		double t = a[h] - b[h];
		s += t * t;
	}
	return s;
}

/* D^2 of point i: its stored D^2, lowered by the centre chosen last if it is not in yet. */
static inline double seg__kpp_d2(const struct seg__km *km, size_t i)
{
	double v = km->u[i];
	if (km->newc) {
		double w = seg__d2seq(km->x + i * km->d, km->newc, km->d);
		v = w < v ? w : v;
	}
	return v;
}

/* D^2 of each point to the first centre, newc. */
static void seg__kpp_first_chunk(void *ctx, size_t ci)
{
	struct seg__km *km = ctx;
	size_t d = km->d, lo = ci * km->rows, hi = lo + km->rows < km->n ? lo + km->rows : km->n;
	double s = 0;
	for (size_t i = lo; i < hi; i++) {
		double v = seg__d2seq(km->x + i * d, km->newc, d);
		km->u[i] = v;
		s += v;
	}
	km->part[ci * SEG__MAX_TRIALS] = s;
}

/*
 * The potential each candidate would leave, per chunk; first D^2 takes in the centre chosen
 * last (one pass per centre, not two). The candidates' distances come from seg__scan, whose
 * every lane is seg__d2seq's arithmetic: so the potential of the candidate chosen is, chunk by
 * chunk, exactly the sum of the D^2 the next step sees.
 */
static void seg__kpp_cand_chunk(void *ctx, size_t ci)
{
	struct seg__km *km = ctx;
	size_t d = km->d, lo = ci * km->rows, hi = lo + km->rows < km->n ? lo + km->rows : km->n;
	double acc[SEG__MAX_TRIALS] = {0}, dist[SEG__MAX_TRIALS];
	for (size_t i = lo; i < hi; i++) {
		const double *xi = km->x + i * d;
		double v = seg__kpp_d2(km, i);
		km->u[i] = v;
		seg__scan(xi, km->candt, km->ntrials, d, dist);
		for (size_t t = 0; t < km->ntrials; t++) {
			acc[t] += dist[t] < v ? dist[t] : v;
		}
	}
	memcpy(km->part + ci * SEG__MAX_TRIALS, acc, km->ntrials * sizeof *acc);
}

/* The first point whose cumulative D^2 (in chunk order) reaches r, as numpy.searchsorted. */
static size_t seg__kpp_search(const struct seg__km *km, const double *chunkpot, double r)
{
	double prefix = 0;
	for (size_t ci = 0; ci < km->nchunks; ci++) {
		if (prefix + chunkpot[ci] >= r) {
			size_t lo = ci * km->rows;
			size_t hi = lo + km->rows < km->n ? lo + km->rows : km->n;
			double local = 0;
			for (size_t i = lo; i < hi; i++) {
				local += seg__kpp_d2(km, i);
				if (prefix + local >= r) {
					return i;
				}
			}
		}
		prefix += chunkpot[ci];
	}
	return km->n - 1;
}

/* Maps a sub-task's progress [0, 1] onto [base, base + span] of the caller's. */
struct seg__progress {
	seg_kmeans_tick_fn tick;
	void *ctx;
	double base, span;
};

static bool seg__tick(const struct seg__progress *pg, double f)
{
	if (!pg->tick) {
		return true;
	}
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	return pg->tick(pg->ctx, pg->base + pg->span * f);
}

/* Greedy k-means++ (scikit-learn's _kmeans_plusplus) into km->c. */
static enum seg_kmeans_status seg__kmeanspp(struct seg__km *km, struct seg_rng *rng, int threads,
					    const struct seg__progress *pg, char *err,
					    size_t errlen)
{
	size_t n = km->n, d = km->d, k = km->k, nc = km->nchunks;
	double *chunkpot = seg_malloc(nc * sizeof *chunkpot);
	double pot = 0;
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	km->ntrials = 2 + (size_t)floor(log((double)k));
	if (km->ntrials > SEG__MAX_TRIALS) {
		km->ntrials = SEG__MAX_TRIALS;
	}
	km->candt = seg_malloc(d * km->ntrials * sizeof *km->candt);
	size_t first = (size_t)seg_rng_below(rng, n);
	memcpy(km->c, km->x + first * d, d * sizeof(double));
	if (km->chosen) {
		km->chosen[0] = first;
	}
	km->newc = km->c;
	seg__parallel(threads, nc, seg__kpp_first_chunk, km);
	for (size_t ci = 0; ci < nc; ci++) {
		chunkpot[ci] = km->part[ci * SEG__MAX_TRIALS];
		pot += chunkpot[ci];
	}
	km->newc = NULL;
	for (size_t c = 1; c < k; c++) {
		if (!seg__tick(pg, (double)c / (double)k)) {
			st = seg__fail(err, errlen, SEG_KMEANS_CANCELLED, "cancelled");
			goto out;
		}
		if (!(pot > 0)) {
			st = seg__fail(err, errlen, SEG_KMEANS_TOO_FEW,
				       "the data have only %zu distinct points: fewer than the %zu "
				       "clusters asked for",
				       c, k);
			goto out;
		}
		for (size_t t = 0; t < km->ntrials; t++) {
			km->cand[t] = seg__kpp_search(km, chunkpot, seg_rng_uniform(rng) * pot);
			for (size_t h = 0; h < d; h++) {
				km->candt[h * km->ntrials + t] = km->x[km->cand[t] * d + h];
			}
		}
		seg__parallel(threads, nc, seg__kpp_cand_chunk, km);
		size_t best = 0;
		double bestpot = INFINITY;
		for (size_t t = 0; t < km->ntrials; t++) {
			double cp = 0;
			for (size_t ci = 0; ci < nc; ci++) {
				cp += km->part[ci * SEG__MAX_TRIALS + t];
			}
			if (cp < bestpot) {
				bestpot = cp;
				best = t;
			}
		}
		memcpy(km->c + c * d, km->x + km->cand[best] * d, d * sizeof(double));
		if (km->chosen) {
			km->chosen[c] = km->cand[best];
		}
		km->newc = km->c + c * d; /* taken into D^2 by the next step's pass */
		pot = bestpot;
		for (size_t ci = 0; ci < nc; ci++) {
			chunkpot[ci] = km->part[ci * SEG__MAX_TRIALS + best];
		}
	}
out:
	km->newc = NULL;
	free(km->candt);
	km->candt = NULL;
	free(chunkpot);
	return st;
}

/* s[j] = half the distance from centre j to the nearest other; pmax, pmax2, jmax from p. */
static void seg__centre_gaps(struct seg__km *km)
{
	size_t k = km->k, d = km->d;
	for (size_t j = 0; j < k; j++) {
		km->s[j] = INFINITY;
	}
	for (size_t j = 0; j < k; j++) {
		for (size_t h = j + 1; h < k; h++) {
			double v = seg__d2(km->c + j * d, km->c + h * d, d);
			km->s[j] = v < km->s[j] ? v : km->s[j];
			km->s[h] = v < km->s[h] ? v : km->s[h];
		}
	}
	for (size_t j = 0; j < k; j++) {
		km->s[j] = 0.5 * sqrt(km->s[j]);
	}
	km->pmax = km->pmax2 = 0;
	km->jmax = 0;
	for (size_t j = 0; j < k; j++) {
		if (km->p[j] > km->pmax) {
			km->pmax2 = km->pmax;
			km->pmax = km->p[j];
			km->jmax = j;
		} else if (km->p[j] > km->pmax2) {
			km->pmax2 = km->p[j];
		}
	}
}

/*
 * The new centres (k x d into cnew) from the chunks' sums, with scikit-learn's relocation of
 * empty clusters: each takes, farthest first, one of the points farthest from their current
 * centre (its label stays; the next assignment moves it). Returns the number of empty ones.
 */
static size_t seg__update_centres(struct seg__km *km, int threads, double *cnew, size_t *count)
{
	size_t k = km->k, d = km->d, nempty = 0;
	for (size_t ci = 0; ci < km->nchunks; ci++) {
		const double *sum = km->sums + ci * k * d;
		const ptrdiff_t *cnt = km->counts + ci * k;
		for (size_t j = 0; j < k * d; j++) {
			km->tot[j] += sum[j];
		}
		for (size_t j = 0; j < k; j++) {
			km->totcnt[j] += cnt[j];
		}
	}
	memcpy(cnew, km->tot, k * d * sizeof *cnew);
	for (size_t j = 0; j < k; j++) {
		count[j] = (size_t)km->totcnt[j];
	}
	for (size_t j = 0; j < k; j++) {
		nempty += count[j] == 0;
	}
	if (nempty) {
		/* l is rebuilt by the next (full) assignment: use it for the distances */
		seg__parallel(threads, km->nchunks, seg__own_d2_chunk, km);
		for (size_t j = 0; j < k; j++) {
			if (count[j]) {
				continue;
			}
			size_t far = 0;
			double fd = -1;
			for (size_t i = 0; i < km->n; i++) {
				if (km->l[i] > fd) {
					fd = km->l[i];
					far = i;
				}
			}
			km->l[far] = -INFINITY; /* taken */
			const double *xf = km->x + far * d;
			size_t old = (size_t)km->a[far];
			for (size_t h = 0; h < d; h++) {
				cnew[old * d + h] -= xf[h];
				cnew[j * d + h] = xf[h];
			}
			count[j] = 1;
			count[old]--;
		}
		km->full = true;
	}
	for (size_t j = 0; j < k; j++) {
		if (count[j]) {
			for (size_t h = 0; h < d; h++) {
				cnew[j * d + h] /= (double)count[j];
			}
		} else {
			/* a cluster emptied by the relocation keeps its centre */
			memcpy(cnew + j * d, km->c + j * d, d * sizeof *cnew);
		}
	}
	return nempty;
}

/* One Lloyd run from the centres in km->c: labels in km->a, centres in km->c. */
static enum seg_kmeans_status seg__lloyd(struct seg__km *km, int threads, int max_iter, double tolv,
					 const struct seg__progress *pg, int *iterations,
					 bool *converged, double *inertia, char *err, size_t errlen)
{
	size_t k = km->k, d = km->d, nc = km->nchunks;
	double *cnew = seg_malloc(k * d * sizeof *cnew);
	size_t *count = seg_malloc(k * sizeof *count);
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	bool strict = false;
	int it = 0;
	*converged = false;
	for (size_t i = 0; i < km->n; i++) {
		km->a[i] = -1;
	}
	memset(km->tot, 0, k * d * sizeof *km->tot);
	memset(km->totcnt, 0, k * sizeof *km->totcnt);
	seg__transpose(km);
	km->full = true;
	seg__parallel(threads, nc, seg__assign_chunk, km);
	for (;;) {
		size_t changed = 0;
		for (size_t ci = 0; ci < nc; ci++) {
			changed += km->changed[ci];
		}
		km->full = false;
		seg__update_centres(km, threads, cnew, count);
		it++;
		if (changed == 0) {
			memcpy(km->c, cnew, k * d * sizeof *cnew);
			strict = true;
			*converged = true;
			break;
		}
		double shift = 0;
		for (size_t j = 0; j < k; j++) {
			double v = seg__d2(cnew + j * d, km->c + j * d, d);
			shift += v;
			km->p[j] = sqrt(v);
		}
		memcpy(km->c, cnew, k * d * sizeof *cnew);
		seg__transpose(km);
		if (shift <= tolv) {
			*converged = true;
			break;
		}
		if (it >= max_iter) {
			break;
		}
		if (!seg__tick(pg, (double)it / (double)max_iter)) {
			st = seg__fail(err, errlen, SEG_KMEANS_CANCELLED, "cancelled");
			goto out;
		}
		seg__centre_gaps(km);
		seg__parallel(threads, nc, seg__assign_chunk, km);
	}
	if (!strict) {
		/* the labels of the final centres, as scikit-learn's last E-step */
		seg__centre_gaps(km);
		seg__parallel(threads, nc, seg__assign_chunk, km);
	}
	seg__parallel(threads, nc, seg__inertia_chunk, km);
	*inertia = 0;
	for (size_t ci = 0; ci < nc; ci++) {
		*inertia += km->part[ci * SEG__MAX_TRIALS];
	}
	*iterations = it;
out:
	free(cnew);
	free(count);
	return st;
}

enum seg_kmeans_status seg_kmeans_fit(const double *x, size_t n, size_t d,
				      const struct seg_kmeans_params *p,
				      struct seg_kmeans_result *out, char *err, size_t errlen)
{
	struct seg__km km = {.x = x, .n = n, .d = d, .k = p->k};
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	double *mean = NULL, *var = NULL, *bestc = NULL;
	int32_t *besta = NULL;
	int threads = p->threads, n_init = p->init ? 1 : p->n_init;
	struct seg_rng rng;
	double best_inertia = INFINITY;
	memset(out, 0, sizeof *out);
	if (err && errlen) {
		err[0] = 0;
	}
	if (d == 0) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID, "there is no feature");
	}
	if (p->k < 1) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID, "k must be at least 1");
	}
	if (p->k > n) {
		return seg__fail(err, errlen, SEG_KMEANS_TOO_FEW,
				 "%zu points cannot make %zu clusters", n, p->k);
	}
	if (p->n_init < 1 || p->max_iter < 1 || !(p->tol >= 0) || !isfinite(p->tol)) {
		return seg__fail(
			err, errlen, SEG_KMEANS_INVALID,
			"n_init and max_iter must be at least 1 and tol a finite number >= 0");
	}
	if (p->init && p->n_init != 1) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "initial centres are given: n_init must be 1");
	}
	if (threads < 1 || threads > SEG__MAX_THREADS) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID, "threads must be 1 to %d",
				 SEG__MAX_THREADS);
	}
	if (p->init) {
		for (size_t i = 0; i < p->k * d; i++) {
			if (!isfinite(p->init[i])) {
				return seg__fail(err, errlen, SEG_KMEANS_INVALID,
						 "initial centre %zu is not finite", i / d);
			}
		}
	}
	mean = seg_malloc(d * sizeof *mean);
	var = seg_malloc(d * sizeof *var);
	st = seg__columns(x, n, d, threads, mean, var, NULL, NULL, err, errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	double tolv = 0;
	for (size_t j = 0; j < d; j++) {
		tolv += var[j];
	}
	tolv = tolv / (double)d * p->tol;

	size_t k = p->k;
	km.rows = seg__chunk_rows(k);
	km.nchunks = seg__nchunks(n, km.rows);
	km.c = seg_malloc(k * d * sizeof *km.c);
	km.ct = seg_malloc(k * d * sizeof *km.ct);
	km.s = seg_calloc(k, sizeof *km.s);
	km.p = seg_calloc(k, sizeof *km.p);
	km.a = seg_malloc(n * sizeof *km.a);
	km.u = seg_malloc(n * sizeof *km.u);
	km.l = seg_malloc(n * sizeof *km.l);
	km.sums = seg_malloc(km.nchunks * k * d * sizeof *km.sums);
	km.counts = seg_malloc(km.nchunks * k * sizeof *km.counts);
	km.tot = seg_malloc(k * d * sizeof *km.tot);
	km.totcnt = seg_malloc(k * sizeof *km.totcnt);
	km.changed = seg_calloc(km.nchunks, sizeof *km.changed);
	km.part = seg_calloc(km.nchunks * SEG__MAX_TRIALS, sizeof *km.part);
	besta = seg_malloc(n * sizeof *besta);
	bestc = seg_malloc(k * d * sizeof *bestc);
	seg_rng_seed(&rng, p->seed);
	for (int run = 0; run < n_init; run++) {
		double span = 1.0 / n_init, inertia = 0;
		struct seg__progress kpp = {p->tick, p->tick_ctx, run * span, 0.1 * span};
		struct seg__progress lloyd = {p->tick, p->tick_ctx, (run + 0.1) * span, 0.9 * span};
		int iterations = 0;
		bool converged = false;
		if (p->init) {
			memcpy(km.c, p->init, k * d * sizeof *km.c);
		} else {
			st = seg__kmeanspp(&km, &rng, threads, &kpp, err, errlen);
			if (st != SEG_KMEANS_OK) {
				goto out;
			}
		}
		st = seg__lloyd(&km, threads, p->max_iter, tolv, &lloyd, &iterations, &converged,
				&inertia, err, errlen);
		if (st != SEG_KMEANS_OK) {
			goto out;
		}
		if (run == 0 || inertia < best_inertia) {
			int32_t *t = besta;
			besta = km.a;
			km.a = t;
			memcpy(bestc, km.c, k * d * sizeof *bestc);
			best_inertia = inertia;
			out->iterations = iterations;
			out->converged = converged;
			out->run = run;
		}
	}
	out->sizes = seg_calloc(k, sizeof *out->sizes);
	for (size_t i = 0; i < n; i++) {
		out->sizes[besta[i]]++;
	}
	for (size_t j = 0; j < k; j++) {
		if (out->sizes[j] == 0) {
			st = seg__fail(err, errlen, SEG_KMEANS_TOO_FEW,
				       "cluster %zu ended without a point: the data or the initial "
				       "centres allow fewer than %zu clusters",
				       j, k);
			goto out;
		}
	}
	out->n = n;
	out->d = d;
	out->k = k;
	out->inertia = best_inertia;
	out->labels = besta;
	out->centroids = bestc;
	besta = NULL;
	bestc = NULL;
out:
	if (st != SEG_KMEANS_OK) {
		seg_kmeans_result_release(out);
	}
	free(mean);
	free(var);
	free(km.c);
	free(km.ct);
	free(km.s);
	free(km.p);
	free(km.a);
	free(km.u);
	free(km.l);
	free(km.sums);
	free(km.counts);
	free(km.tot);
	free(km.totcnt);
	free(km.changed);
	free(km.part);
	free(besta);
	free(bestc);
	return st;
}

enum seg_kmeans_status seg_kmeans_plusplus(const double *x, size_t n, size_t d, size_t k,
					   uint64_t seed, int threads, double *centres,
					   size_t *rows, char *err, size_t errlen)
{
	struct seg__km km = {.x = x, .n = n, .d = d, .k = k, .chosen = rows};
	struct seg__progress pg = {0};
	struct seg_rng rng;
	enum seg_kmeans_status st;
	double *mean = NULL;
	if (d == 0 || k < 1 || threads < 1 || threads > SEG__MAX_THREADS) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "k, d and threads must be at least 1 (threads at most %d)",
				 SEG__MAX_THREADS);
	}
	if (k > n) {
		return seg__fail(err, errlen, SEG_KMEANS_TOO_FEW,
				 "%zu points cannot make %zu clusters", n, k);
	}
	mean = seg_malloc(d * sizeof *mean);
	st = seg__columns(x, n, d, threads, mean, NULL, NULL, NULL, err, errlen);
	free(mean);
	if (st != SEG_KMEANS_OK) {
		return st;
	}
	km.rows = seg__chunk_rows(k);
	km.nchunks = seg__nchunks(n, km.rows);
	km.c = centres;
	km.u = seg_malloc(n * sizeof *km.u);
	km.part = seg_calloc(km.nchunks * SEG__MAX_TRIALS, sizeof *km.part);
	seg_rng_seed(&rng, seed);
	st = seg__kmeanspp(&km, &rng, threads, &pg, err, errlen);
	free(km.u);
	free(km.part);
	return st;
}

size_t seg_kmeans_memory(size_t n, size_t d, size_t k, size_t sample_size)
{
	size_t rows = seg__chunk_rows(k), nc = seg__nchunks(n, rows);
	size_t b = 0;
	b += n * (3 * sizeof(int32_t) + 2 * sizeof(double)); /* labels x 3 (auto), u, l */
	b += nc * (k * d * sizeof(double) + k * sizeof(size_t) + sizeof(size_t));
	b += nc * SEG__MAX_TRIALS * sizeof(double);
	b += 8 * k * d * sizeof(double) + 8 * d * sizeof(double) + 4 * nc * d * sizeof(double);
	b += sample_size * (d * sizeof(double) + sizeof(int32_t) + 2 * sizeof(double) + 8);
	return b;
}

/* ---- Quality ----------------------------------------------------------------------------------
 */

void seg_kmeans_sample(uint64_t seed, size_t n, size_t m, size_t *out)
{
	struct seg_rng r;
	seg_rng_seed(&r, seed ^ 0x73696c686f756574ULL); /* "silhouet": not the fit's stream */
	seg_rng_sample(&r, n, m > n ? n : m, out);
}

struct seg__sil {
	const double *xs;
	const int32_t *ls; /* compact labels 0..q-1 */
	const size_t *cnt; /* q */
	size_t m, d, q, from, to;
	double *sil; /* m */
};

static void seg__sil_chunk(void *ctx, size_t ci)
{
	struct seg__sil *s = ctx;
	size_t lo = s->from + ci * SEG__SIL_ROWS;
	size_t hi = lo + SEG__SIL_ROWS < s->to ? lo + SEG__SIL_ROWS : s->to;
	double *acc = seg_malloc(s->q * sizeof *acc);
	for (size_t i = lo; i < hi; i++) {
		const double *xi = s->xs + i * s->d;
		size_t own = (size_t)s->ls[i];
		memset(acc, 0, s->q * sizeof *acc);
		for (size_t j = 0; j < s->m; j++) {
			if (j != i) {
				acc[s->ls[j]] += sqrt(seg__d2(xi, s->xs + j * s->d, s->d));
			}
		}
		if (s->cnt[own] <= 1) {
			s->sil[i] = 0;
			continue;
		}
		double a = acc[own] / (double)(s->cnt[own] - 1), b = INFINITY;
		for (size_t h = 0; h < s->q; h++) {
			if (h != own) {
				double v = acc[h] / (double)s->cnt[h];
				b = v < b ? v : b;
			}
		}
		double mx = a > b ? a : b;
		s->sil[i] = mx > 0 ? (b - a) / mx : 0;
	}
	free(acc);
}

enum seg_kmeans_status seg_kmeans_silhouette(const double *x, size_t n, size_t d,
					     const int32_t *labels, size_t k, const size_t *sample,
					     size_t m, int threads, seg_kmeans_tick_fn tick,
					     void *tick_ctx, double *out, char *err, size_t errlen)
{
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	double *xs = NULL, *sil = NULL;
	int32_t *ls = NULL, *map = NULL;
	size_t *cnt = NULL, q = 0;
	struct seg__progress pg = {tick, tick_ctx, 0, 1};
	*out = 0;
	threads = seg__threads(threads);
	if (k < 1 || d == 0) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID, "k and d must be at least 1");
	}
	xs = seg_malloc((m ? m : 1) * d * sizeof *xs);
	ls = seg_malloc((m ? m : 1) * sizeof *ls);
	sil = seg_malloc((m ? m : 1) * sizeof *sil);
	map = seg_malloc(k * sizeof *map);
	cnt = seg_calloc(k, sizeof *cnt);
	for (size_t h = 0; h < k; h++) {
		map[h] = -1;
	}
	for (size_t i = 0; i < m; i++) {
		if (sample[i] >= n || labels[sample[i]] < 0 || (size_t)labels[sample[i]] >= k) {
			st = seg__fail(err, errlen, SEG_KMEANS_INVALID,
				       "sample point %zu is not a labelled row", i);
			goto out;
		}
		int32_t lab = labels[sample[i]];
		if (map[lab] < 0) {
			map[lab] = 0; /* numbered below, in label order as LabelEncoder */
		}
		memcpy(xs + i * d, x + sample[i] * d, d * sizeof *xs);
		for (size_t j = 0; j < d; j++) {
			if (!isfinite(xs[i * d + j])) {
				st = seg__fail(err, errlen, SEG_KMEANS_INVALID,
					       "feature %zu of row %zu is not a finite number", j,
					       sample[i]);
				goto out;
			}
		}
	}
	for (size_t h = 0; h < k; h++) {
		if (map[h] >= 0) {
			map[h] = (int32_t)q++;
		}
	}
	if (q < 2 || q + 1 > m) {
		st = seg__fail(err, errlen, SEG_KMEANS_UNDEFINED,
			       "the silhouette needs 2 to %zu clusters among the %zu sampled "
			       "points, not %zu",
			       m > 0 ? m - 1 : 0, m, q);
		goto out;
	}
	for (size_t i = 0; i < m; i++) {
		ls[i] = map[labels[sample[i]]];
		cnt[ls[i]]++;
	}
	struct seg__sil s = {.xs = xs, .ls = ls, .cnt = cnt, .m = m, .d = d, .q = q, .sil = sil};
	for (size_t b = 0; b < SEG__SIL_BLOCKS; b++) {
		s.from = m * b / SEG__SIL_BLOCKS;
		s.to = m * (b + 1) / SEG__SIL_BLOCKS;
		if (s.to > s.from) {
			seg__parallel(threads, seg__nchunks(s.to - s.from, SEG__SIL_ROWS),
				      seg__sil_chunk, &s);
		}
		if (!seg__tick(&pg, (double)(b + 1) / SEG__SIL_BLOCKS)) {
			st = seg__fail(err, errlen, SEG_KMEANS_CANCELLED, "cancelled");
			goto out;
		}
	}
	double sum = 0;
	for (size_t i = 0; i < m; i++) {
		sum += sil[i];
	}
	*out = sum / (double)m;
out:
	free(xs);
	free(ls);
	free(sil);
	free(map);
	free(cnt);
	return st;
}

/* Per-label sums and counts (pass 1) and distances to the label means (pass 2), by chunks. */
struct seg__lab {
	const double *x;
	const int32_t *labels;
	size_t n, d, k, rows;
	const double *means; /* k x d, pass 2 */
	double *sums;	     /* nchunks x k x d */
	size_t *counts;	     /* nchunks x k */
	double *dist, *sq;   /* nchunks x k: sum of distances, of squared distances */
	size_t *bad;	     /* nchunks: first bad label's row + 1 */
};

static void seg__lab_sum_chunk(void *ctx, size_t ci)
{
	struct seg__lab *s = ctx;
	size_t d = s->d, k = s->k, lo = ci * s->rows,
	       hi = lo + s->rows < s->n ? lo + s->rows : s->n;
	double *sum = s->sums + ci * k * d;
	size_t *cnt = s->counts + ci * k;
	memset(sum, 0, k * d * sizeof *sum);
	memset(cnt, 0, k * sizeof *cnt);
	s->bad[ci] = 0;
	for (size_t i = lo; i < hi; i++) {
		int32_t a = s->labels[i];
		if (a < 0 || (size_t)a >= k) {
			if (!s->bad[ci]) {
				s->bad[ci] = i + 1;
			}
			continue;
		}
		for (size_t j = 0; j < d; j++) {
			sum[(size_t)a * d + j] += s->x[i * d + j];
		}
		cnt[a]++;
	}
}

static void seg__lab_dist_chunk(void *ctx, size_t ci)
{
	struct seg__lab *s = ctx;
	size_t d = s->d, k = s->k, lo = ci * s->rows,
	       hi = lo + s->rows < s->n ? lo + s->rows : s->n;
	double *dist = s->dist + ci * k, *sq = s->sq + ci * k;
	memset(dist, 0, k * sizeof *dist);
	memset(sq, 0, k * sizeof *sq);
	for (size_t i = lo; i < hi; i++) {
		size_t a = (size_t)s->labels[i];
		double v = seg__d2(s->x + i * d, s->means + a * d, d);
		dist[a] += sqrt(v);
		sq[a] += v;
	}
}

/*
 * The means of the labelled points (k x d into means, counts into count), and, when dist is
 * not NULL, per label the sum of distances and of squared distances to its mean.
 */
static enum seg_kmeans_status seg__label_stats(const double *x, size_t n, size_t d,
					       const int32_t *labels, size_t k, int threads,
					       double *means, size_t *count, double *dist,
					       double *sq, char *err, size_t errlen)
{
	struct seg__lab s = {.x = x, .labels = labels, .n = n, .d = d, .k = k};
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	s.rows = seg__chunk_rows(k);
	size_t nc = seg__nchunks(n, s.rows);
	s.sums = seg_malloc((nc ? nc : 1) * k * d * sizeof *s.sums);
	s.counts = seg_malloc((nc ? nc : 1) * k * sizeof *s.counts);
	s.dist = seg_malloc((nc ? nc : 1) * k * sizeof *s.dist);
	s.sq = seg_malloc((nc ? nc : 1) * k * sizeof *s.sq);
	s.bad = seg_calloc(nc ? nc : 1, sizeof *s.bad);
	seg__parallel(threads, nc, seg__lab_sum_chunk, &s);
	memset(means, 0, k * d * sizeof *means);
	memset(count, 0, k * sizeof *count);
	for (size_t ci = 0; ci < nc; ci++) {
		if (s.bad[ci]) {
			st = seg__fail(err, errlen, SEG_KMEANS_INVALID,
				       "the label of row %zu is not a cluster 0..%zu",
				       s.bad[ci] - 1, k - 1);
			goto out;
		}
		for (size_t j = 0; j < k * d; j++) {
			means[j] += s.sums[ci * k * d + j];
		}
		for (size_t j = 0; j < k; j++) {
			count[j] += s.counts[ci * k + j];
		}
	}
	for (size_t j = 0; j < k; j++) {
		for (size_t h = 0; h < d && count[j]; h++) {
			means[j * d + h] /= (double)count[j];
		}
	}
	if (dist) {
		s.means = means;
		seg__parallel(threads, nc, seg__lab_dist_chunk, &s);
		memset(dist, 0, k * sizeof *dist);
		memset(sq, 0, k * sizeof *sq);
		for (size_t ci = 0; ci < nc; ci++) {
			for (size_t j = 0; j < k; j++) {
				dist[j] += s.dist[ci * k + j];
				sq[j] += s.sq[ci * k + j];
			}
		}
	}
out:
	free(s.sums);
	free(s.counts);
	free(s.dist);
	free(s.sq);
	free(s.bad);
	return st;
}

enum seg_kmeans_status seg_kmeans_scores(const double *x, size_t n, size_t d, const int32_t *labels,
					 size_t k, int threads, double *davies_bouldin,
					 double *calinski_harabasz, char *err, size_t errlen)
{
	enum seg_kmeans_status st;
	double *means = NULL, *dist = NULL, *sq = NULL, *intra = NULL, *overall = NULL;
	size_t *count = NULL, *idx = NULL, q = 0;
	*davies_bouldin = *calinski_harabasz = 0;
	threads = seg__threads(threads);
	if (k < 1 || d == 0) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID, "k and d must be at least 1");
	}
	means = seg_malloc(k * d * sizeof *means);
	dist = seg_malloc(k * sizeof *dist);
	sq = seg_malloc(k * sizeof *sq);
	intra = seg_malloc(k * sizeof *intra);
	count = seg_malloc(k * sizeof *count);
	idx = seg_malloc(k * sizeof *idx);
	overall = seg_calloc(d, sizeof *overall);
	st = seg__label_stats(x, n, d, labels, k, threads, means, count, dist, sq, err, errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	for (size_t j = 0; j < k; j++) {
		if (count[j]) {
			idx[q++] = j;
		}
	}
	if (q < 2 || q + 1 > n) {
		st = seg__fail(
			err, errlen, SEG_KMEANS_UNDEFINED,
			"Davies-Bouldin and Calinski-Harabasz need 2 to %zu clusters, not %zu",
			n > 0 ? n - 1 : 0, q);
		goto out;
	}
	/* Calinski-Harabasz: between / within dispersion, each by its degrees of freedom */
	double extra = 0, within = 0;
	for (size_t t = 0; t < q; t++) {
		size_t j = idx[t];
		for (size_t h = 0; h < d; h++) {
			overall[h] += means[j * d + h] * (double)count[j];
		}
		within += sq[j];
	}
	for (size_t h = 0; h < d; h++) {
		overall[h] /= (double)n;
	}
	for (size_t t = 0; t < q; t++) {
		size_t j = idx[t];
		extra += (double)count[j] * seg__d2(means + j * d, overall, d);
	}
	*calinski_harabasz =
		within == 0 ? 1.0 : extra * (double)(n - q) / (within * (double)(q - 1));
	/* Davies-Bouldin: the mean over clusters of the worst (S_i + S_j) / M_ij */
	bool intra_zero = true, cd_zero = true;
	for (size_t t = 0; t < q; t++) {
		intra[t] = dist[idx[t]] / (double)count[idx[t]];
		intra_zero = intra_zero && fabs(intra[t]) <= 1e-8;
	}
	for (size_t t = 0; t < q; t++) {
		for (size_t r = 0; r < q; r++) {
			double cd = sqrt(seg__d2(means + idx[t] * d, means + idx[r] * d, d));
			cd_zero = cd_zero && cd <= 1e-8;
		}
	}
	if (intra_zero || cd_zero) {
		*davies_bouldin = 0;
		goto out;
	}
	double db = 0;
	for (size_t t = 0; t < q; t++) {
		double worst = 0;
		for (size_t r = 0; r < q; r++) {
			double cd = sqrt(seg__d2(means + idx[t] * d, means + idx[r] * d, d));
			if (cd > 0) {
				double v = (intra[t] + intra[r]) / cd;
				worst = v > worst ? v : worst;
			}
		}
		db += worst;
	}
	*davies_bouldin = db / (double)q;
out:
	free(means);
	free(dist);
	free(sq);
	free(intra);
	free(count);
	free(idx);
	free(overall);
	return st;
}

/* ---- k: "auto" ---------------------------------------------------------------------------- */

static bool seg__sub_tick(void *ctx, double f)
{
	return seg__tick(ctx, f);
}

enum seg_kmeans_status seg_kmeans_auto(const double *x, size_t n, size_t d,
				       const struct seg_kmeans_params *p, size_t k_min,
				       size_t k_max, size_t sample_size,
				       struct seg_kmeans_candidate *cands,
				       struct seg_kmeans_result *best, char *err, size_t errlen)
{
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	struct seg_kmeans_result fit = {0};
	size_t *sample = NULL, m, ncand = k_max - k_min + 1, scored = 0;
	double best_sil = -INFINITY;
	memset(best, 0, sizeof *best);
	if (k_min < 2 || k_max < k_min) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "k_min must be at least 2 and k_max at least k_min");
	}
	if (p->init) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "initial centres cannot be given to a sweep of k");
	}
	if (sample_size < 2) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "the silhouette sample needs at least 2 points");
	}
	memset(cands, 0, ncand * sizeof *cands);
	for (size_t t = 0; t < ncand; t++) {
		cands[t].k = k_min + t;
		cands[t].status = SEG_KMEANS_TOO_FEW;
	}
	if (n < k_min + 1) {
		return seg__fail(err, errlen, SEG_KMEANS_TOO_FEW,
				 "%zu points are too few to try %zu clusters", n, k_min);
	}
	m = sample_size < n ? sample_size : n;
	sample = seg_malloc(m * sizeof *sample);
	seg_kmeans_sample(p->seed, n, m, sample);
	for (size_t t = 0; t < ncand; t++) {
		struct seg_kmeans_params q = *p;
		struct seg__progress fitpg = {p->tick, p->tick_ctx, (double)t / ncand, 0.8 / ncand};
		struct seg__progress silpg = {p->tick, p->tick_ctx, (t + 0.8) / ncand, 0.2 / ncand};
		struct seg_kmeans_candidate *c = &cands[t];
		q.k = c->k;
		q.tick = seg__sub_tick;
		q.tick_ctx = &fitpg;
		if (c->k >= n) {
			break; /* TOO_FEW: the silhouette needs k <= n - 1 */
		}
		st = seg_kmeans_fit(x, n, d, &q, &fit, err, errlen);
		if (st == SEG_KMEANS_TOO_FEW) {
			st = SEG_KMEANS_OK;
			break;
		}
		if (st != SEG_KMEANS_OK) {
			goto out;
		}
		c->inertia = fit.inertia;
		c->iterations = fit.iterations;
		st = seg_kmeans_silhouette(x, n, d, fit.labels, fit.k, sample, m, p->threads,
					   seg__sub_tick, &silpg, &c->silhouette, err, errlen);
		if (st == SEG_KMEANS_UNDEFINED) {
			c->status = st;
			st = SEG_KMEANS_OK;
			seg_kmeans_result_release(&fit);
			continue;
		}
		if (st != SEG_KMEANS_OK) {
			goto out;
		}
		st = seg_kmeans_scores(x, n, d, fit.labels, fit.k, p->threads, &c->davies_bouldin,
				       &c->calinski_harabasz, err, errlen);
		if (st != SEG_KMEANS_OK) {
			goto out;
		}
		c->status = SEG_KMEANS_OK;
		scored++;
		if (c->silhouette > best_sil) {
			best_sil = c->silhouette;
			seg_kmeans_result_release(best);
			*best = fit;
			memset(&fit, 0, sizeof fit);
		} else {
			seg_kmeans_result_release(&fit);
		}
	}
	if (!scored) {
		st = seg__fail(err, errlen, SEG_KMEANS_TOO_FEW,
			       "no k in %zu..%zu could be scored: the data have too few distinct "
			       "points",
			       k_min, k_max);
	} else if (err && errlen) {
		err[0] = 0;
	}
out:
	seg_kmeans_result_release(&fit);
	if (st != SEG_KMEANS_OK) {
		seg_kmeans_result_release(best);
	}
	free(sample);
	return st;
}

/* ---- Explanations ---------------------------------------------------------------------------- */

void seg_kmeans_profile_release(struct seg_kmeans_profile *pr)
{
	if (!pr) {
		return;
	}
	free(pr->mean);
	free(pr->z);
	free(pr->overall_mean);
	free(pr->overall_sd);
	memset(pr, 0, sizeof *pr);
}

enum seg_kmeans_status seg_kmeans_profile(const double *x, size_t n, size_t d,
					  const struct seg_kmeans_result *fit, const double *shift,
					  const double *scale, int threads,
					  struct seg_kmeans_profile *out, char *err, size_t errlen)
{
	enum seg_kmeans_status st;
	size_t k = fit->k, *count = NULL;
	double *var = NULL;
	memset(out, 0, sizeof *out);
	threads = seg__threads(threads);
	if (n == 0 || d == 0 || k == 0 || fit->n != n || fit->d != d) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "the fit does not belong to this matrix");
	}
	out->k = k;
	out->d = d;
	out->mean = seg_malloc(k * d * sizeof *out->mean);
	out->z = seg_malloc(k * d * sizeof *out->z);
	out->overall_mean = seg_malloc(d * sizeof *out->overall_mean);
	out->overall_sd = seg_malloc(d * sizeof *out->overall_sd);
	count = seg_malloc(k * sizeof *count);
	var = seg_malloc(d * sizeof *var);
	st = seg__columns(x, n, d, threads, out->overall_mean, var, NULL, NULL, err, errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	st = seg__label_stats(x, n, d, fit->labels, k, threads, out->mean, count, NULL, NULL, err,
			      errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	for (size_t j = 0; j < d; j++) {
		out->overall_sd[j] = sqrt(var[j]);
	}
	for (size_t c = 0; c < k; c++) {
		for (size_t j = 0; j < d; j++) {
			double sd = out->overall_sd[j];
			out->z[c * d + j] =
				sd > 0 ? (out->mean[c * d + j] - out->overall_mean[j]) / sd : 0;
		}
	}
	if (shift && scale) {
		seg_kmeans_unscale(out->mean, k, d, shift, scale);
		seg_kmeans_unscale(out->overall_mean, 1, d, shift, scale);
		for (size_t j = 0; j < d; j++) {
			out->overall_sd[j] *= scale[j];
		}
	}
out:
	if (st != SEG_KMEANS_OK) {
		seg_kmeans_profile_release(out);
	}
	free(count);
	free(var);
	return st;
}

size_t seg_kmeans_label(const double *z, size_t d, const char *const *names, double threshold,
			char *buf, size_t len)
{
	size_t pick[2], npick = 0;
	for (size_t j = 0; j < d; j++) {
		double a = fabs(z[j]);
		if (!(a >= threshold)) {
			continue;
		}
		/* insert j among the (at most two) largest |z|, earlier features first on ties */
		if (npick < 2) {
			pick[npick++] = j;
		} else if (a > fabs(z[pick[1]])) {
			pick[1] = j;
		} else {
			continue;
		}
		if (npick == 2 && fabs(z[pick[1]]) > fabs(z[pick[0]])) {
			size_t t = pick[0];
			pick[0] = pick[1];
			pick[1] = t;
		}
	}
	if (npick == 0) {
		return (size_t)snprintf(buf, len, "average");
	}
	if (npick == 1) {
		return (size_t)snprintf(buf, len, "%s %s", names[pick[0]],
					z[pick[0]] > 0 ? "high" : "low");
	}
	return (size_t)snprintf(buf, len, "%s %s, %s %s", names[pick[0]],
				z[pick[0]] > 0 ? "high" : "low", names[pick[1]],
				z[pick[1]] > 0 ? "high" : "low");
}

/* ---- Projection ------------------------------------------------------------------------------ */

void seg_kmeans_projection_release(struct seg_kmeans_projection *pr)
{
	if (!pr) {
		return;
	}
	free(pr->components);
	free(pr->mean);
	free(pr->index);
	free(pr->points);
	free(pr->cluster);
	memset(pr, 0, sizeof *pr);
}

struct seg__cov {
	const double *x, *mean;
	size_t n, d, rows, tri; /* tri = d (d + 1) / 2 */
	double *part;		/* nchunks x tri: the upper triangle of sum (x - mean)(x - mean)' */
};

static void seg__cov_chunk(void *ctx, size_t ci)
{
	struct seg__cov *s = ctx;
	size_t d = s->d, lo = ci * s->rows, hi = lo + s->rows < s->n ? lo + s->rows : s->n;
	double *acc = s->part + ci * s->tri;
	double *c = seg_malloc(d * sizeof *c);
	memset(acc, 0, s->tri * sizeof *acc);
	for (size_t i = lo; i < hi; i++) {
		for (size_t j = 0; j < d; j++) {
			c[j] = s->x[i * d + j] - s->mean[j];
		}
		double *a = acc;
		for (size_t j = 0; j < d; j++) {
			double cj = c[j];
			for (size_t h = j; h < d; h++) {
				*a++ += cj * c[h];
			}
		}
	}
	free(c);
}

enum seg_kmeans_status seg_kmeans_project(const double *x, size_t n, size_t d,
					  const int32_t *labels, size_t m, uint64_t seed,
					  int threads, struct seg_kmeans_projection *out, char *err,
					  size_t errlen)
{
	enum seg_kmeans_status st = SEG_KMEANS_OK;
	struct seg__cov s = {.x = x, .n = n, .d = d};
	double *var = NULL, *cov = NULL, *values = NULL, *vectors = NULL;
	memset(out, 0, sizeof *out);
	threads = seg__threads(threads);
	if (n < 2 || d == 0) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "a projection needs at least 2 points and 1 feature");
	}
	out->d = d;
	out->mean = seg_malloc(d * sizeof *out->mean);
	var = seg_malloc(d * sizeof *var);
	st = seg__columns(x, n, d, threads, out->mean, var, NULL, NULL, err, errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	s.mean = out->mean;
	s.tri = d * (d + 1) / 2;
	s.rows = 8 * d > SEG__CHUNK_ROWS ? 8 * d : SEG__CHUNK_ROWS;
	size_t nc = seg__nchunks(n, s.rows);
	s.part = seg_malloc(nc * s.tri * sizeof *s.part);
	seg__parallel(threads, nc, seg__cov_chunk, &s);
	cov = seg_calloc(d * d, sizeof *cov);
	for (size_t ci = 0; ci < nc; ci++) {
		const double *a = s.part + ci * s.tri;
		for (size_t j = 0; j < d; j++) {
			for (size_t h = j; h < d; h++) {
				cov[h * d + j] +=
					*a++; /* the lower triangle is what linalg reads */
			}
		}
	}
	free(s.part);
	double total = 0;
	for (size_t j = 0; j < d; j++) {
		for (size_t h = 0; h <= j; h++) {
			cov[j * d + h] /= (double)(n - 1);
			cov[h * d + j] = cov[j * d + h];
		}
		total += cov[j * d + j];
	}
	values = seg_malloc(d * sizeof *values);
	vectors = seg_malloc(d * d * sizeof *vectors);
	enum seg_la_fail lf = seg_la_eigen_sym(d, cov, values, vectors);
	if (lf != SEG_LA_OK) {
		st = seg__fail(err, errlen, SEG_KMEANS_INVALID, "principal components: %s",
			       seg_la_strerror(lf));
		goto out;
	}
	out->ncomp = d >= 2 ? 2 : 1;
	out->components = seg_calloc(2 * d, sizeof *out->components);
	for (size_t c = 0; c < out->ncomp; c++) {
		double v = values[c] > 0 ? values[c] : 0; /* rounding can leave a -1e-17 */
		for (size_t j = 0; j < d; j++) {
			out->components[c * d + j] = vectors[j * d + c];
		}
		out->variance[c] = v;
		out->explained[c] = total > 0 ? v / total : 0;
	}
	out->m = m < n ? m : n;
	out->index = seg_malloc((out->m ? out->m : 1) * sizeof *out->index);
	out->points = seg_malloc((out->m ? out->m : 1) * 2 * sizeof *out->points);
	out->cluster = seg_malloc((out->m ? out->m : 1) * sizeof *out->cluster);
	struct seg_rng r;
	seg_rng_seed(&r, seed ^ 0x70726f6a65637421ULL); /* "project!": its own stream */
	seg_rng_sample(&r, n, out->m, out->index);
	for (size_t i = 0; i < out->m; i++) {
		const double *xi = x + out->index[i] * d;
		for (size_t c = 0; c < 2; c++) {
			double p = 0;
			for (size_t j = 0; j < d; j++) {
				p += (xi[j] - out->mean[j]) * out->components[c * d + j];
			}
			out->points[i * 2 + c] = p;
		}
		out->cluster[i] = labels ? labels[out->index[i]] : -1;
	}
out:
	if (st != SEG_KMEANS_OK) {
		seg_kmeans_projection_release(out);
	}
	free(var);
	free(cov);
	free(values);
	free(vectors);
	return st;
}

/* ---- Assigning a new row ----------------------------------------------------------------------
 */

int seg_kmeans_assign(const double *row, size_t d, const double *centroids, size_t k,
		      const double *shift, const double *scale)
{
	double best = INFINITY;
	int lab = -1;
	for (size_t j = 0; j < d; j++) {
		if (!isfinite(row[j])) {
			return -1;
		}
	}
	for (size_t c = 0; c < k; c++) {
		double s = 0;
		for (size_t j = 0; j < d; j++) {
			double v = shift && scale ? (row[j] - shift[j]) / scale[j] : row[j];
			double t = v - centroids[c * d + j];
			s += t * t;
		}
		if (s < best) {
			best = s;
			lab = (int)c;
		}
	}
	return lab;
}

/* ---- The whole analysis -----------------------------------------------------------------------
 */

void seg_kmeans_analysis_params_init(struct seg_kmeans_analysis_params *p)
{
	memset(p, 0, sizeof *p);
	seg_kmeans_params_init(&p->fit);
	p->k_min = 3;
	p->k_max = 8;
	p->scaling = SEG_KMEANS_SCALE_STANDARD;
}

void seg_kmeans_analysis_release(struct seg_kmeans_analysis *a)
{
	if (!a) {
		return;
	}
	seg_kmeans_result_release(&a->fit);
	free(a->shift);
	free(a->scale);
	free(a->centroids);
	free(a->candidates);
	seg_kmeans_profile_release(&a->profile);
	for (size_t c = 0; a->labels && c < a->k; c++) {
		free(a->labels[c]);
	}
	free(a->labels);
	seg_kmeans_projection_release(&a->projection);
	memset(a, 0, sizeof *a);
}

enum seg_kmeans_status seg_kmeans_analyse(double *x, size_t n, size_t d, const char *const *names,
					  const struct seg_kmeans_analysis_params *p,
					  struct seg_kmeans_analysis *out, char *err, size_t errlen)
{
	enum seg_kmeans_status st;
	struct seg_kmeans_params fp = p->fit;
	struct seg__progress pg = {p->fit.tick, p->fit.tick_ctx, 0, 0.85};
	struct seg__progress sil = {p->fit.tick, p->fit.tick_ctx, 0.85, 0.1};
	size_t m = p->silhouette_sample ? p->silhouette_sample : SEG_KMEANS_SAMPLE_DEFAULT;
	size_t pm = p->projection_points ? p->projection_points : SEG_KMEANS_PROJECTION_DEFAULT;
	double z = p->label_z > 0 ? p->label_z : SEG_KMEANS_LABEL_Z;
	size_t *sample = NULL;
	memset(out, 0, sizeof *out);
	if (err && errlen) {
		err[0] = 0;
	}
	if (p->fit.init) {
		return seg__fail(err, errlen, SEG_KMEANS_INVALID,
				 "the analysis seeds with k-means++: no initial centres");
	}
	out->n = n;
	out->d = d;
	out->shift = seg_malloc((d ? d : 1) * sizeof *out->shift);
	out->scale = seg_malloc((d ? d : 1) * sizeof *out->scale);
	st = seg_kmeans_scale(x, n, d, p->scaling, fp.threads, out->shift, out->scale, err, errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	fp.tick = seg__sub_tick;
	fp.tick_ctx = &pg;
	if (p->auto_k) {
		if (p->k_max < p->k_min) {
			st = seg__fail(err, errlen, SEG_KMEANS_INVALID,
				       "k_max must be at least k_min");
			goto out;
		}
		out->ncandidates = p->k_max - p->k_min + 1;
		out->candidates = seg_calloc(out->ncandidates, sizeof *out->candidates);
		st = seg_kmeans_auto(x, n, d, &fp, p->k_min, p->k_max, m, out->candidates,
				     &out->fit, err, errlen);
	} else {
		out->ncandidates = 1;
		out->candidates = seg_calloc(1, sizeof *out->candidates);
		st = seg_kmeans_fit(x, n, d, &fp, &out->fit, err, errlen);
	}
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	size_t k = out->k = out->fit.k;
	if (p->auto_k) {
		struct seg_kmeans_candidate *c = &out->candidates[k - p->k_min];
		out->silhouette = c->silhouette;
		out->davies_bouldin = c->davies_bouldin;
		out->calinski_harabasz = c->calinski_harabasz;
		out->has_quality = true;
	} else {
		/* the figures of the one k, as a sweep would report them */
		struct seg_kmeans_candidate *c = &out->candidates[0];
		size_t mm = m < n ? m : n;
		c->k = k;
		c->inertia = out->fit.inertia;
		c->iterations = out->fit.iterations;
		sample = seg_malloc(mm * sizeof *sample);
		seg_kmeans_sample(fp.seed, n, mm, sample);
		st = seg_kmeans_silhouette(x, n, d, out->fit.labels, k, sample, mm, fp.threads,
					   seg__sub_tick, &sil, &c->silhouette, err, errlen);
		if (st == SEG_KMEANS_OK) {
			st = seg_kmeans_scores(x, n, d, out->fit.labels, k, fp.threads,
					       &c->davies_bouldin, &c->calinski_harabasz, err,
					       errlen);
		}
		if (st == SEG_KMEANS_UNDEFINED) {
			c->silhouette = c->davies_bouldin = c->calinski_harabasz = 0;
			c->status = SEG_KMEANS_UNDEFINED;
			st = SEG_KMEANS_OK;
			if (err && errlen) {
				err[0] = 0;
			}
		} else if (st != SEG_KMEANS_OK) {
			goto out;
		} else {
			out->has_quality = true;
			out->silhouette = c->silhouette;
			out->davies_bouldin = c->davies_bouldin;
			out->calinski_harabasz = c->calinski_harabasz;
		}
	}
	out->centroids = seg_malloc(k * d * sizeof *out->centroids);
	memcpy(out->centroids, out->fit.centroids, k * d * sizeof *out->centroids);
	seg_kmeans_unscale(out->centroids, k, d, out->shift, out->scale);
	st = seg_kmeans_profile(x, n, d, &out->fit, out->shift, out->scale, fp.threads,
				&out->profile, err, errlen);
	if (st != SEG_KMEANS_OK) {
		goto out;
	}
	out->labels = seg_calloc(k, sizeof *out->labels);
	for (size_t c = 0; c < k; c++) {
		size_t len = seg_kmeans_label(out->profile.z + c * d, d, names, z, NULL, 0);
		out->labels[c] = seg_malloc(len + 1);
		seg_kmeans_label(out->profile.z + c * d, d, names, z, out->labels[c], len + 1);
	}
	if (n >= 2) {
		st = seg_kmeans_project(x, n, d, out->fit.labels, pm, fp.seed, fp.threads,
					&out->projection, err, errlen);
		if (st != SEG_KMEANS_OK) {
			goto out;
		}
	}
	if (!seg__tick(&(struct seg__progress){p->fit.tick, p->fit.tick_ctx, 0, 1}, 1)) {
		st = seg__fail(err, errlen, SEG_KMEANS_CANCELLED, "cancelled");
	}
out:
	free(sample);
	if (st != SEG_KMEANS_OK) {
		seg_kmeans_analysis_release(out);
	}
	return st;
}
