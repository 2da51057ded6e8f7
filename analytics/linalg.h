/*
 * Dense linear algebra for the multivariate analyses (factor, discriminant, conjoint, the
 * principal components of k-means): the symmetric eigen-decomposition (cyclic Jacobi), the
 * Cholesky factorisation with its solve, inverse and log-determinant, the symmetric-definite
 * generalised eigenproblem A v = lambda B v, and least squares by Householder QR.
 *
 * Matrices are dense, row-major, of doubles: element (i, j) of an m x n matrix is a[i * n + j].
 * The sizes here are those of features (a few to a few hundred), never of customers: every
 * function is O(n^3) in time and allocates O(n^2) scratch at most (through seg_malloc, which
 * aborts when memory runs out). Pure: no I/O, no global state; every function may run on any
 * thread, several at once. Inputs are never modified unless an output aliases them where a
 * function says it may. analytics/README.md ("Linear algebra") explains the choices.
 */
#ifndef SEG_LINALG_H
#define SEG_LINALG_H

#include <stddef.h>

/* Why a computation failed; seg_la_strerror says it in a sentence. */
enum seg_la_fail {
	SEG_LA_OK = 0,
	SEG_LA_BAD_INPUT,      /* a NaN or an infinity in the input, or a size of 0 */
	SEG_LA_NOT_PD,	       /* the matrix is not (numerically) positive definite */
	SEG_LA_RANK_DEFICIENT, /* least squares: the columns are (numerically) dependent */
	SEG_LA_NO_CONVERGENCE, /* Jacobi did not converge (never seen on finite input) */
};

/* A sentence for a problem's detail ("the matrix is not positive definite ..."); static. */
const char *seg_la_strerror(enum seg_la_fail f);

/*
 * The eigen-decomposition of the symmetric n x n matrix a (only its lower triangle is read):
 * a = V diag(values) V^T. values receives the n eigenvalues in descending order; vectors (n x n,
 * may be NULL when only the values are wanted) receives the orthonormal eigenvectors as its
 * COLUMNS: vectors[i * n + k] is component i of the eigenvector of values[k]. Each vector's
 * sign is fixed so that its component of largest absolute value (the first such on a tie) is
 * positive; callers with a sign rule of their own (factor) apply it afterwards. Eigenvalues
 * that are equal to rounding have no unique vectors: any orthonormal basis of their space is
 * right. Cyclic Jacobi with threshold (accurate to a few ulps of the largest eigenvalue, small
 * eigenvalues to high relative accuracy when a is definite). vectors must not alias a.
 * Fails with SEG_LA_BAD_INPUT (non-finite entry, n = 0) or SEG_LA_NO_CONVERGENCE.
 */
enum seg_la_fail seg_la_eigen_sym(size_t n, const double *a, double *values, double *vectors);

/*
 * The Cholesky factor of the symmetric positive definite n x n matrix a (lower triangle
 * read): l (n x n) receives the lower-triangular L with a = L L^T and zeros above the
 * diagonal. l may alias a. SEG_LA_NOT_PD when a pivot L_jj^2 is not above 4 n DBL_EPSILON times
 * a_jj (row j is a combination of the rows before it, or a is indefinite, to working
 * precision: a scale-free test, so features in very different units are fine);
 * SEG_LA_BAD_INPUT on a non-finite entry.
 */
enum seg_la_fail seg_la_cholesky(size_t n, const double *a, double *l);

/* Solves L L^T x = b with the factor l of seg_la_cholesky; x may alias b. Cannot fail. */
void seg_la_cholesky_solve(size_t n, const double *l, const double *b, double *x);

/* The inverse (L L^T)^-1, symmetric, full n x n in inv (inv must not alias l). */
void seg_la_cholesky_inverse(size_t n, const double *l, double *inv);

/* ln det(L L^T) = 2 sum ln L_ii. */
double seg_la_cholesky_logdet(size_t n, const double *l);

/*
 * The symmetric-definite generalised eigenproblem a v = lambda b v, a symmetric, b symmetric
 * positive definite (lower triangles read), through b = L L^T and the ordinary problem of
 * C = L^-1 a L^-T. values: the n eigenvalues descending; vectors (may be NULL): the
 * eigenvectors as columns (vectors[i * n + k]), normalised so that v^T b v = 1 (so
 * V^T b V = I, V^T a V = diag(values)), each with its component of largest |.| positive.
 * Fails as seg_la_cholesky (for b) and seg_la_eigen_sym.
 */
enum seg_la_fail seg_la_eigen_gen(size_t n, const double *a, const double *b, double *values,
				  double *vectors);

/*
 * Least squares: x (n) minimising ||a x - b||_2 for the m x n matrix a, m >= n, by Householder
 * QR with column pivoting. rss (may be NULL) receives the residual sum of squares. Fails with
 * SEG_LA_RANK_DEFICIENT when a's numerical rank is below n (a pivot |R_kk| at most
 * max(m, n) * DBL_EPSILON * |R_11|; a column of zeros included), and with SEG_LA_BAD_INPUT on a
 * non-finite entry or m < n; x is then untouched.
 */
enum seg_la_fail seg_la_lstsq(size_t m, size_t n, const double *a, const double *b, double *x,
			      double *rss);

#endif
