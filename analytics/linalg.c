/*
 * Dense linear algebra (analytics/linalg.h): cyclic Jacobi for the symmetric eigenproblem,
 * Cholesky, the generalised symmetric-definite eigenproblem through Cholesky, and least squares
 * by Householder QR with column pivoting. Written for matrices of features (n up to a few
 * hundred), where O(n^3) costs microseconds to milliseconds; analytics/README.md ("Linear
 * algebra") says why Jacobi rather than tridiagonalisation + QL.
 */
#include "linalg.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>

#include "alloc.h"

const char *seg_la_strerror(enum seg_la_fail f)
{
	switch (f) {
	case SEG_LA_OK: return "ok";
	case SEG_LA_BAD_INPUT: return "a matrix holds a value that is not a finite number";
	case SEG_LA_NOT_PD:
		return "the matrix is not positive definite: a feature is constant or a linear "
		       "combination of the others";
	case SEG_LA_RANK_DEFICIENT:
		return "the columns are linearly dependent: the least squares solution is not "
		       "unique";
	case SEG_LA_NO_CONVERGENCE: return "the eigenvalue iteration did not converge";
	}
	return "unknown failure";
}

static bool seg__finite(size_t count, const double *a)
{
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(a[i]))
			return false;
	}
	return true;
}

/* The lower triangle of the symmetric a is finite. */
static bool seg__finite_lower(size_t n, const double *a)
{
	for (size_t i = 0; i < n; i++) {
		if (!seg__finite(i + 1, a + i * n))
			return false;
	}
	return true;
}

/* Column k of the n x n v: the component of largest |.| (first on a tie) made positive. */
static void seg__fix_sign(size_t n, double *v, size_t k)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++) {
		if (fabs(v[i * n + k]) > fabs(v[best * n + k]))
			best = i;
	}
	if (v[best * n + k] < 0) {
		for (size_t i = 0; i < n; i++)
			v[i * n + k] = -v[i * n + k];
	}
}

/* One Jacobi rotation of the pair (x, y). */
static void seg__rotate(double *x, double *y, double s, double tau)
{
	double g = *x, h = *y;
	*x = g - s * (h + g * tau);
	*y = h + s * (g - h * tau);
}

enum seg_la_fail seg_la_eigen_sym(size_t n, const double *a, double *values, double *vectors)
{
	enum seg_la_fail rc = SEG_LA_BAD_INPUT;
	double *w = NULL, *v = NULL, *b = NULL, *z = NULL;
	size_t *order = NULL;

	if (n == 0 || !seg__finite_lower(n, a))
		goto out;
	/* w: the upper triangle holds a (mirrored from the lower); d (values) its diagonal */
	w = seg_malloc(n * n * sizeof *w);
	v = seg_calloc(n * n, sizeof *v);
	b = seg_malloc(n * sizeof *b);
	z = seg_calloc(n, sizeof *z);
	double *d = seg_malloc(n * sizeof *d);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j <= i; j++)
			w[j * n + i] = w[i * n + j] = a[i * n + j];
		v[i * n + i] = 1;
		b[i] = d[i] = w[i * n + i];
	}
	rc = SEG_LA_NO_CONVERGENCE;
	bool done = false;
	for (int sweep = 1; sweep <= 100 && !done; sweep++) {
		double sm = 0;
		for (size_t p = 0; p + 1 < n; p++) {
			for (size_t q = p + 1; q < n; q++)
				sm += fabs(w[p * n + q]);
		}
		if (sm == 0) {
			done = true;
			break;
		}
		double tresh = sweep < 4 ? 0.2 * sm / (double)(n * n) : 0;
		for (size_t p = 0; p + 1 < n; p++) {
			for (size_t q = p + 1; q < n; q++) {
				double apq = w[p * n + q];
				double g = 100 * fabs(apq);
				if (sweep > 4 && fabs(d[p]) + g == fabs(d[p]) &&
				    fabs(d[q]) + g == fabs(d[q])) {
					w[p * n + q] = 0;
					continue;
				}
				if (!(fabs(apq) > tresh))
					continue;
				double h = d[q] - d[p], t;
				if (fabs(h) + g == fabs(h)) {
					t = apq / h;
				} else {
					double theta = 0.5 * h / apq;
					t = 1 / (fabs(theta) + sqrt(1 + theta * theta));
					if (theta < 0)
						t = -t;
				}
				double c = 1 / sqrt(1 + t * t), s = t * c, tau = s / (1 + c);
				h = t * apq;
				z[p] -= h;
				z[q] += h;
				d[p] -= h;
				d[q] += h;
				w[p * n + q] = 0;
				for (size_t j = 0; j < p; j++)
					seg__rotate(&w[j * n + p], &w[j * n + q], s, tau);
				for (size_t j = p + 1; j < q; j++)
					seg__rotate(&w[p * n + j], &w[j * n + q], s, tau);
				for (size_t j = q + 1; j < n; j++)
					seg__rotate(&w[p * n + j], &w[q * n + j], s, tau);
				for (size_t j = 0; j < n; j++)
					seg__rotate(&v[j * n + p], &v[j * n + q], s, tau);
			}
		}
		for (size_t p = 0; p < n; p++) {
			b[p] += z[p];
			d[p] = b[p];
			z[p] = 0;
		}
	}
	if (!done) {
		free(d);
		goto out;
	}
	/* descending, stable (equal values keep their index order) */
	order = seg_malloc(n * sizeof *order);
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		while (j > 0 && d[order[j - 1]] < d[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t k = 0; k < n; k++)
		values[k] = d[order[k]];
	if (vectors) {
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < n; k++)
				vectors[i * n + k] = v[i * n + order[k]];
		}
		for (size_t k = 0; k < n; k++)
			seg__fix_sign(n, vectors, k);
	}
	free(d);
	rc = SEG_LA_OK;
out:
	free(w);
	free(v);
	free(b);
	free(z);
	free(order);
	return rc;
}

enum seg_la_fail seg_la_cholesky(size_t n, const double *a, double *l)
{
	if (n == 0 || !seg__finite_lower(n, a))
		return SEG_LA_BAD_INPUT;
	if (l != a) {
		for (size_t i = 0; i < n; i++)
			memcpy(l + i * n, a + i * n, (i + 1) * sizeof *l);
	}
	double tol = 4 * (double)n * DBL_EPSILON;
	for (size_t j = 0; j < n; j++) {
		double ajj = l[j * n + j], s = ajj;
		for (size_t k = 0; k < j; k++)
			s -= l[j * n + k] * l[j * n + k];
		if (!(ajj > 0) || !(s > tol * ajj))
			return SEG_LA_NOT_PD;
		double ljj = sqrt(s);
		l[j * n + j] = ljj;
		for (size_t i = j + 1; i < n; i++) {
			double t = l[i * n + j];
			for (size_t k = 0; k < j; k++)
				t -= l[i * n + k] * l[j * n + k];
			l[i * n + j] = t / ljj;
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++)
			l[i * n + j] = 0;
	}
	return SEG_LA_OK;
}

/* x := L^-1 x (forward substitution). */
static void seg__forward(size_t n, const double *l, double *x)
{
	for (size_t i = 0; i < n; i++) {
		double t = x[i];
		for (size_t k = 0; k < i; k++)
			t -= l[i * n + k] * x[k];
		x[i] = t / l[i * n + i];
	}
}

/* x := L^-T x (back substitution with the transpose). */
static void seg__backward(size_t n, const double *l, double *x)
{
	for (size_t i = n; i-- > 0;) {
		double t = x[i];
		for (size_t k = i + 1; k < n; k++)
			t -= l[k * n + i] * x[k];
		x[i] = t / l[i * n + i];
	}
}

void seg_la_cholesky_solve(size_t n, const double *l, const double *b, double *x)
{
	if (x != b)
		memmove(x, b, n * sizeof *x);
	seg__forward(n, l, x);
	seg__backward(n, l, x);
}

void seg_la_cholesky_inverse(size_t n, const double *l, double *inv)
{
	double *col = seg_malloc(n * sizeof *col);
	for (size_t k = 0; k < n; k++) {
		memset(col, 0, n * sizeof *col);
		col[k] = 1;
		seg_la_cholesky_solve(n, l, col, col);
		for (size_t i = 0; i < n; i++)
			inv[i * n + k] = col[i];
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			double m = 0.5 * (inv[i * n + j] + inv[j * n + i]);
			inv[i * n + j] = inv[j * n + i] = m;
		}
	}
	free(col);
}

double seg_la_cholesky_logdet(size_t n, const double *l)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += log(l[i * n + i]);
	return 2 * s;
}

enum seg_la_fail seg_la_eigen_gen(size_t n, const double *a, const double *b, double *values,
				  double *vectors)
{
	enum seg_la_fail rc = SEG_LA_BAD_INPUT;
	double *l = NULL, *c = NULL, *col = NULL, *y = NULL;

	if (n == 0 || !seg__finite_lower(n, a))
		goto out;
	l = seg_malloc(n * n * sizeof *l);
	rc = seg_la_cholesky(n, b, l);
	if (rc)
		goto out;
	c = seg_malloc(n * n * sizeof *c);
	col = seg_malloc(n * sizeof *col);
	/* M = L^-1 A, column by column, stored transposed in c: c[k][i] = M[i][k] */
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < n; i++)
			col[i] = i >= k ? a[i * n + k] : a[k * n + i];
		seg__forward(n, l, col);
		memcpy(c + k * n, col, n * sizeof *col);
	}
	/* C = L^-1 M^T: column k of M^T is row k of M, i.e. column k of c read as c[i][k] */
	y = seg_malloc(n * n * sizeof *y);
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < n; i++)
			col[i] = c[i * n + k];
		seg__forward(n, l, col);
		for (size_t i = 0; i < n; i++)
			y[i * n + k] = col[i];
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j <= i; j++)
			c[i * n + j] = 0.5 * (y[i * n + j] + y[j * n + i]);
	}
	rc = seg_la_eigen_sym(n, c, values, vectors ? y : NULL);
	if (rc || !vectors)
		goto out;
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < n; i++)
			col[i] = y[i * n + k];
		seg__backward(n, l, col);
		for (size_t i = 0; i < n; i++)
			vectors[i * n + k] = col[i];
		seg__fix_sign(n, vectors, k);
	}
out:
	free(l);
	free(c);
	free(col);
	free(y);
	return rc;
}

enum seg_la_fail seg_la_lstsq(size_t m, size_t n, const double *a, const double *b, double *x,
			      double *rss)
{
	enum seg_la_fail rc = SEG_LA_BAD_INPUT;
	double *r = NULL, *qb = NULL, *z = NULL;
	size_t *perm = NULL;

	if (n == 0 || m < n || !seg__finite(m * n, a) || !seg__finite(m, b))
		goto out;
	r = seg_malloc(m * n * sizeof *r);
	qb = seg_malloc(m * sizeof *qb);
	z = seg_malloc(n * sizeof *z);
	perm = seg_malloc(n * sizeof *perm);
	memcpy(r, a, m * n * sizeof *r);
	memcpy(qb, b, m * sizeof *qb);
	for (size_t j = 0; j < n; j++)
		perm[j] = j;
	rc = SEG_LA_RANK_DEFICIENT;
	double tol = (double)(m > n ? m : n) * DBL_EPSILON, r11 = 0;
	for (size_t k = 0; k < n; k++) {
		/* pivot: the remaining column of largest norm below row k (first on a tie) */
		size_t best = k;
		double best_norm = -1;
		for (size_t j = k; j < n; j++) {
			double s = 0;
			for (size_t i = k; i < m; i++)
				s += r[i * n + j] * r[i * n + j];
			if (s > best_norm) {
				best_norm = s;
				best = j;
			}
		}
		if (best != k) {
			for (size_t i = 0; i < m; i++) {
				double t = r[i * n + k];
				r[i * n + k] = r[i * n + best];
				r[i * n + best] = t;
			}
			size_t t = perm[k];
			perm[k] = perm[best];
			perm[best] = t;
		}
		double norm = sqrt(best_norm);
		if (k == 0)
			r11 = norm;
		if (!(norm > tol * r11))
			goto out;
		/* Householder: v = x - alpha e1 with alpha = -sign(x0) ||x||, kept in r[k.., k] */
		double x0 = r[k * n + k];
		double alpha = x0 >= 0 ? -norm : norm;
		r[k * n + k] = x0 - alpha;
		double vtv = 0;
		for (size_t i = k; i < m; i++)
			vtv += r[i * n + k] * r[i * n + k];
		for (size_t j = k + 1; j < n; j++) {
			double s = 0;
			for (size_t i = k; i < m; i++)
				s += r[i * n + k] * r[i * n + j];
			s *= 2 / vtv;
			for (size_t i = k; i < m; i++)
				r[i * n + j] -= s * r[i * n + k];
		}
		double s = 0;
		for (size_t i = k; i < m; i++)
			s += r[i * n + k] * qb[i];
		s *= 2 / vtv;
		for (size_t i = k; i < m; i++)
			qb[i] -= s * r[i * n + k];
		r[k * n + k] = alpha;
	}
	for (size_t i = n; i-- > 0;) {
		double t = qb[i];
		for (size_t j = i + 1; j < n; j++)
			t -= r[i * n + j] * z[j];
		z[i] = t / r[i * n + i];
	}
	for (size_t j = 0; j < n; j++)
		x[perm[j]] = z[j];
	if (rss) {
		double s = 0;
		for (size_t i = n; i < m; i++)
			s += qb[i] * qb[i];
		*rss = s;
	}
	rc = SEG_LA_OK;
out:
	free(r);
	free(qb);
	free(z);
	free(perm);
	return rc;
}
