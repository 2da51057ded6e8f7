/*
 * k-means clustering (SPEC §6 `kmeans`), the mathematics: scaling of the features, greedy
 * k-means++ seeding and exact Lloyd iterations as scikit-learn's KMeans(algorithm="lloyd"),
 * accelerated by Hamerly's distance bounds; `n_init` restarts; the quality figures (inertia,
 * silhouette on a sample, Davies-Bouldin, Calinski-Harabasz); the `k: "auto"` sweep; and the
 * cluster explanations (profile, z against the whole, a short label). analytics/README.md
 * ("k-means") explains every choice.
 *
 * Inputs are dense row-major matrices of doubles: x[i * d + j] is feature j of point i, n
 * points, d features. Every value must be finite: missing values are the caller's policy
 * (drop or impute before), and a NaN or infinity is refused with SEG_KMEANS_INVALID naming the
 * row and feature. Nothing here returns a NaN or an infinity in a result.
 *
 * Threads. Every function runs on the caller's thread (a job worker) and may start up to
 * `threads - 1` helper pthreads of its own for the duration of one pass over the data; they are
 * joined before the pass ends, so nothing runs after a function returns. Work is cut into
 * chunks of rows whose size depends on n and k only, each chunk's partial sums are kept apart
 * and combined in chunk order: the results are bit-identical for every number of threads. If a
 * helper thread cannot be started, the caller's thread does its share (slower, same result).
 * There is no global state: several fits may run at once on different threads.
 *
 * Progress and cancel. `tick(tick_ctx, fraction)` is called on the caller's thread only, at least
 * once per Lloyd iteration, per k-means++ centre and per block of silhouette rows (a few
 * milliseconds to a fraction of a second apart at a million points), with fraction in [0, 1]
 * non-decreasing over one call of a public function. Returning false stops the work: the
 * function releases what it allocated and returns SEG_KMEANS_CANCELLED. tick may be NULL.
 *
 * Errors. Functions return an enum seg_kmeans_status and, unless OK, write a short lowercase
 * message ("feature 3 of row 17 is not a finite number") to err (errlen bytes, always
 * NUL-terminated; err may be NULL). Allocation goes through seg_malloc, which aborts on
 * exhaustion: the caller bounds the sizes beforehand with seg_kmeans_memory().
 *
 * Cost. A Lloyd iteration is O(n d + k^2 d) (Hamerly's bounds skip most of the n k distance
 * computations once the clusters settle); k-means++ is O(n k d log k); the silhouette of a
 * sample of m points O(m^2 d). Memory beyond the matrix is O(n + k d · n / chunk): see
 * seg_kmeans_memory. The caller should bound k (say <= 1000): nothing here is quadratic in n.
 */
#ifndef SEG_KMEANS_H
#define SEG_KMEANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum seg_kmeans_status {
	SEG_KMEANS_OK = 0,
	SEG_KMEANS_INVALID,   /* a parameter out of range, or a value that is not finite */
	SEG_KMEANS_TOO_FEW,   /* fewer points, or fewer distinct points, than clusters */
	SEG_KMEANS_UNDEFINED, /* a quality figure needs 2 <= clusters <= points - 1 */
	SEG_KMEANS_CANCELLED, /* tick returned false */
};

/* Progress and cancel: see the top of this file. */
typedef bool (*seg_kmeans_tick_fn)(void *ctx, double fraction);

/* ---- Scaling --------------------------------------------------------------------------- */

enum seg_kmeans_scaling {
	SEG_KMEANS_SCALE_NONE = 0,
	SEG_KMEANS_SCALE_STANDARD, /* (x - mean) / population standard deviation, as StandardScaler
				    */
	SEG_KMEANS_SCALE_MINMAX,   /* (x - min) / (max - min), as MinMaxScaler: into [0, 1] */
};

/*
 * Scales x (n x d) in place, feature by feature: x' = (x - shift[j]) / scale[j], and writes
 * shift and scale (d each, caller's arrays) so that centroids can be mapped back to the
 * features' own units (seg_kmeans_unscale). A constant feature gets scale 1 (it becomes 0 with
 * standard scaling, 0 with minmax): it then adds nothing to any distance. NONE writes shift 0,
 * scale 1 and leaves x alone. Fails with SEG_KMEANS_INVALID on a value that is not finite.
 * Sums are chunked as everywhere here, so the scaled matrix does not depend on threads.
 */
enum seg_kmeans_status seg_kmeans_scale(double *x, size_t n, size_t d,
					enum seg_kmeans_scaling scaling, int threads, double *shift,
					double *scale, char *err, size_t errlen);

/* rows (m x d) from scaled units back to the features' own: x = x' * scale[j] + shift[j]. */
void seg_kmeans_unscale(double *rows, size_t m, size_t d, const double *shift, const double *scale);

/* ---- The fit ----------------------------------------------------------------------------- */

struct seg_kmeans_params {
	size_t k;	    /* clusters, 1 <= k <= n */
	int n_init;	    /* k-means++ restarts, the lowest inertia kept (>= 1; default 10) */
	int max_iter;	    /* Lloyd iterations per run (>= 1; default 300) */
	double tol;	    /* >= 0 (default 1e-4), times the mean variance of the features: the
			       run stops when the centres moved less than that in total (squared) */
	uint64_t seed;	    /* of the k-means++ draws (default 0) */
	int threads;	    /* 1..64 (default 1) */
	const double *init; /* NULL (k-means++), or k x d initial centres: then n_init is 1 */
	seg_kmeans_tick_fn tick;
	void *tick_ctx;
};

/* The defaults above (scikit-learn 1.2's): k 8, n_init 10, max_iter 300, tol 1e-4, 1 thread. */
void seg_kmeans_params_init(struct seg_kmeans_params *p);

struct seg_kmeans_result {
	size_t n, d, k;
	double *centroids; /* k x d, in the units of the matrix given (scaled) */
	int32_t *labels;   /* n: the cluster of each point, 0..k-1, its nearest centroid */
	size_t *sizes;	   /* k: points per cluster, every one >= 1 */
	double inertia;	   /* the sum of squared distances of the points to their centroid */
	int iterations;	   /* Lloyd iterations of the run kept (as scikit-learn's n_iter_) */
	int run;	   /* which of the n_init runs was kept (0-based) */
	bool converged;	   /* that run stopped before max_iter (labels stable or within tol) */
};

/* Frees what a result holds (NULL-safe) and zeroes it. */
void seg_kmeans_result_release(struct seg_kmeans_result *r);

/*
 * Clusters x (n x d, already scaled as wanted) into p->k clusters. Each run seeds with greedy
 * k-means++ (2 + floor(ln k) candidates per centre drawn in proportion to D^2, the one giving
 * the lowest potential kept) unless p->init is given, then runs Lloyd (assign every point to
 * its nearest centre, move each centre to its points' mean) until the labels stop changing, the
 * centres' total squared shift is at most tol x mean variance, or max_iter; then one last
 * assignment so the labels match the centres, as scikit-learn. A cluster left empty takes the
 * point farthest from its centre (scikit-learn's relocation). The run with the lowest inertia
 * is kept (the first on ties). On success *out owns its arrays (seg_kmeans_result_release).
 *
 * Fails with SEG_KMEANS_INVALID (k, n_init, max_iter, tol, threads out of range; a value or an
 * initial centre not finite; init with n_init > 1), SEG_KMEANS_TOO_FEW (k > n, or fewer than k
 * distinct points: k-means++ runs out of points with a positive distance; with init, a cluster
 * that ends empty), SEG_KMEANS_CANCELLED. *out is zeroed on failure.
 */
enum seg_kmeans_status seg_kmeans_fit(const double *x, size_t n, size_t d,
				      const struct seg_kmeans_params *p,
				      struct seg_kmeans_result *out, char *err, size_t errlen);

/*
 * Greedy k-means++ alone, as seg_kmeans_fit seeds each run: the k centres (k x d, caller's)
 * and the rows they were taken from (k, caller's), drawn from a generator seeded with seed —
 * the first run of a fit with this seed starts from exactly these. The draws are, in order,
 * seg_rng_below(n) for the first centre, then 2 + floor(ln k) seg_rng_uniform per further
 * centre: what a test needs to replay scikit-learn's _kmeans_plusplus with the same numbers.
 * Fails as seg_kmeans_fit (INVALID, TOO_FEW).
 */
enum seg_kmeans_status seg_kmeans_plusplus(const double *x, size_t n, size_t d, size_t k,
					   uint64_t seed, int threads, double *centres,
					   size_t *rows, char *err, size_t errlen);

/*
 * Bytes the engine allocates beyond the matrix for a fit or an auto sweep of up to k clusters
 * over n x d with a silhouette sample of sample_size (0 if none): an upper bound, for the
 * caller to refuse what does not fit before reading the data.
 */
size_t seg_kmeans_memory(size_t n, size_t d, size_t k, size_t sample_size);

/* ---- Quality ------------------------------------------------------------------------------ */

/*
 * The silhouette of the m points sample[0..m-1] (indices into x, distinct) among themselves, as
 * sklearn.metrics.silhouette_score(x[sample], labels[sample]): for each sampled point, a = its
 * mean distance to the other sampled points of its cluster, b = the lowest mean distance to
 * the sampled points of another cluster, s = (b - a) / max(a, b), 0 for a point alone in its
 * cluster within the sample; the figure is the mean of s. Euclidean distances, exact (no
 * |x|^2 - 2xy + |y|^2 cancellation). SEG_KMEANS_UNDEFINED unless the sample holds between 2
 * and m - 1 clusters. labels are 0..k-1.
 */
enum seg_kmeans_status seg_kmeans_silhouette(const double *x, size_t n, size_t d,
					     const int32_t *labels, size_t k, const size_t *sample,
					     size_t m, int threads, seg_kmeans_tick_fn tick,
					     void *tick_ctx, double *out, char *err, size_t errlen);

/* A uniform sample of m of n indices (ascending) from a seed: the silhouette's sample. */
void seg_kmeans_sample(uint64_t seed, size_t n, size_t m, size_t *out);

/*
 * Davies-Bouldin and Calinski-Harabasz over all n points with their labels (0..k-1), as
 * sklearn.metrics.davies_bouldin_score and calinski_harabasz_score: the centroids are the
 * means of the labelled points; clusters without a point are left out (as they are absent
 * labels to scikit-learn). SEG_KMEANS_UNDEFINED unless 2 <= non-empty clusters <= n - 1.
 */
enum seg_kmeans_status seg_kmeans_scores(const double *x, size_t n, size_t d, const int32_t *labels,
					 size_t k, int threads, double *davies_bouldin,
					 double *calinski_harabasz, char *err, size_t errlen);

/* ---- k: "auto" ---------------------------------------------------------------------------- */

/* One k tried by seg_kmeans_auto. */
struct seg_kmeans_candidate {
	size_t k;
	enum seg_kmeans_status status; /* OK; TOO_FEW (fewer distinct points); UNDEFINED (the
					  sample saw one cluster: no silhouette) */
	double inertia;
	double silhouette;			  /* on the shared sample; 0 unless status is OK */
	double davies_bouldin, calinski_harabasz; /* 0 unless status is OK */
	int iterations;
};

/*
 * Tries k = k_min..k_max (2 <= k_min <= k_max), each with seg_kmeans_fit(p with that k), the
 * silhouette on one sample of min(sample_size, n) points drawn from p->seed (the same sample
 * for every k), and the two other scores; writes every candidate to cands (k_max - k_min + 1
 * entries, caller's array) and keeps the fit of the highest silhouette (the smaller k on ties)
 * in *best. A k with fewer distinct points than clusters is reported TOO_FEW and ends the sweep
 * (larger k cannot do better). Fails with SEG_KMEANS_TOO_FEW when no k could be scored, and as
 * seg_kmeans_fit otherwise. Progress runs over the whole sweep.
 */
enum seg_kmeans_status seg_kmeans_auto(const double *x, size_t n, size_t d,
				       const struct seg_kmeans_params *p, size_t k_min,
				       size_t k_max, size_t sample_size,
				       struct seg_kmeans_candidate *cands,
				       struct seg_kmeans_result *best, char *err, size_t errlen);

/* The silhouette sample size used when the caller has no opinion: exact and O(m^2 d). */
#define SEG_KMEANS_SAMPLE_DEFAULT 3000

/* ---- Explanations ------------------------------------------------------------------------- */

struct seg_kmeans_profile {
	size_t k, d;
	double *mean; /* k x d: each cluster's mean per feature, in the features' units */
	double *z;    /* k x d: (cluster mean - overall mean) / overall standard deviation */
	double *overall_mean; /* d, in the features' units */
	double *overall_sd;   /* d: population standard deviation, in the features' units */
};

void seg_kmeans_profile_release(struct seg_kmeans_profile *pr);

/*
 * The profile of each cluster of fit over x (the scaled matrix the fit saw), mapped back to the
 * features' own units with shift and scale from seg_kmeans_scale (NULL, NULL: no scaling). z is
 * invariant to the scaling; a feature with no spread has z 0. On success *out owns its arrays.
 */
enum seg_kmeans_status seg_kmeans_profile(const double *x, size_t n, size_t d,
					  const struct seg_kmeans_result *fit, const double *shift,
					  const double *scale, int threads,
					  struct seg_kmeans_profile *out, char *err, size_t errlen);

/* The |z| a feature must reach to name a cluster in its label (analytics/README.md). */
#define SEG_KMEANS_LABEL_Z 0.5

/*
 * A short label for a cluster from its z row (d values) and the feature names: the one or two
 * features of largest |z| with |z| >= threshold, largest first (ties by feature order), each
 * "<name> high" or "<name> low", joined by ", " ("income high, age low"); "average" when no
 * feature reaches the threshold. Written to buf (always NUL-terminated, cut at len - 1).
 * Returns the length the full label needs (as snprintf).
 */
size_t seg_kmeans_label(const double *z, size_t d, const char *const *names, double threshold,
			char *buf, size_t len);

/* ---- Projection for plotting ---------------------------------------------------------------- */

struct seg_kmeans_projection {
	size_t d, m;
	size_t ncomp;	     /* 2, or 1 when there is one feature (then y is 0) */
	double *components;  /* 2 x d: the first two principal axes, unit vectors in the units of
				the matrix given (scaled), each with its largest |entry| positive */
	double variance[2];  /* the variance along each (covariance eigenvalue, divisor n - 1) */
	double explained[2]; /* each one's share of the total variance (0 when there is none) */
	double *mean;	     /* d: the centre the points are measured from */
	size_t *index;	     /* m: the rows sampled, ascending */
	double *points;	     /* m x 2: each sampled row's coordinates on the two axes */
	int32_t *cluster;    /* m: its label */
};

void seg_kmeans_projection_release(struct seg_kmeans_projection *pr);

/*
 * The 2-D principal-component projection of a sample for plotting: the covariance matrix of
 * all n rows of x (the scaled matrix the fit saw; O(n d^2), chunked, so identical for any
 * threads), its two leading eigenvectors (analytics/linalg.h, Jacobi), and the coordinates of
 * min(m, n) rows drawn uniformly from seed (not the silhouette's sample) with their labels
 * (labels may be NULL: cluster -1). Fails with SEG_KMEANS_INVALID on a non-finite value or
 * n < 2. On success *out owns its arrays.
 */
enum seg_kmeans_status seg_kmeans_project(const double *x, size_t n, size_t d,
					  const int32_t *labels, size_t m, uint64_t seed,
					  int threads, struct seg_kmeans_projection *out, char *err,
					  size_t errlen);

/* Points in the projection when the caller has no opinion: enough for a scatter plot. */
#define SEG_KMEANS_PROJECTION_DEFAULT 2000

/* ---- Assigning a new row (`assign_new`) ---------------------------------------------------- */

/*
 * The cluster of one row given in the features' own units (d values, finite): scaled with
 * shift and scale (NULL, NULL: none), then the nearest of the k centroids (k x d, in scaled
 * units, as a fit returns them), the lowest index on a tie. -1 when a value is not finite.
 */
int seg_kmeans_assign(const double *row, size_t d, const double *centroids, size_t k,
		      const double *shift, const double *scale);

/* ---- The whole analysis in one call --------------------------------------------------------- */

struct seg_kmeans_analysis_params {
	struct seg_kmeans_params fit; /* n_init, max_iter, tol, seed, threads, tick; k unless
					 auto; init must be NULL */
	bool auto_k;		      /* sweep k_min..k_max (SPEC: default 3..8) */
	size_t k_min, k_max;
	enum seg_kmeans_scaling scaling;
	size_t silhouette_sample; /* 0: SEG_KMEANS_SAMPLE_DEFAULT */
	size_t projection_points; /* 0: SEG_KMEANS_PROJECTION_DEFAULT */
	double label_z;		  /* 0: SEG_KMEANS_LABEL_Z */
};

/* SPEC §6's defaults: auto off, k 8, k_min 3, k_max 8, standard scaling, the fit's defaults. */
void seg_kmeans_analysis_params_init(struct seg_kmeans_analysis_params *p);

struct seg_kmeans_analysis {
	size_t n, d, k;
	struct seg_kmeans_result fit; /* labels, sizes, inertia, iterations; centroids in
					 scaled units (for seg_kmeans_assign) */
	double *shift, *scale;	      /* d: the scaling applied to x */
	double *centroids;	      /* k x d: the fit's centroids in the features' own units */
	bool has_quality;	      /* false when k = 1 or the sample saw one cluster */
	double silhouette, davies_bouldin, calinski_harabasz;
	struct seg_kmeans_candidate *candidates; /* each k tried (one when k was given) */
	size_t ncandidates;
	struct seg_kmeans_profile profile;
	char **labels; /* k short labels ("income high, age low"), NUL-terminated */
	struct seg_kmeans_projection projection;
};

void seg_kmeans_analysis_release(struct seg_kmeans_analysis *a);

/*
 * The `kmeans` analysis of SPEC §6 but for the rules (contrast groups, analytics/contrast.h):
 * scales x in place (so x is the scaled matrix afterwards), fits k clusters or sweeps
 * k_min..k_max, then for the k kept: silhouette on a sample, Davies-Bouldin,
 * Calinski-Harabasz, centroids in own units, the profile, a label per cluster (names: d
 * feature names), the projection. Progress runs over the whole (fit or sweep 0 to 0.85, the
 * rest after). On success *out owns everything (seg_kmeans_analysis_release); on failure it is
 * zeroed and err says why (as seg_kmeans_fit and seg_kmeans_auto).
 */
enum seg_kmeans_status seg_kmeans_analyse(double *x, size_t n, size_t d, const char *const *names,
					  const struct seg_kmeans_analysis_params *p,
					  struct seg_kmeans_analysis *out, char *err,
					  size_t errlen);

#endif
