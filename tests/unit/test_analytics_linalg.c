/*
 * Unit tests of analytics/linalg.c: eigen-decompositions checked by their defining identities
 * (A V = V diag(values), V^T V = I, V^T B V = I) on seeded random matrices and against
 * hand-worked examples; Cholesky against a textbook factor; least squares against the closed
 * form of a straight-line fit; every failure code on the input that should produce it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "linalg.h"

static void seg__close(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%.17g differs from %.17g by more than %g", got, want, tol);
}

/* A small seeded generator (splitmix64) for the random matrices. */
static uint64_t seg__next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static double seg__uniform(uint64_t *s)
{
	return (double)(seg__next(s) >> 11) * 0x1.0p-53 * 2 - 1;
}

static void seg__random_sym(size_t n, double *a, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j <= i; j++)
			a[i * n + j] = a[j * n + i] = seg__uniform(&seed);
	}
}

/* b = g g^T + n I: symmetric positive definite. */
static void seg__random_spd(size_t n, double *b, uint64_t seed)
{
	double *g = malloc(n * n * sizeof *g);
	for (size_t i = 0; i < n * n; i++)
		g[i] = seg__uniform(&seed);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			double s = i == j ? (double)n : 0;
			for (size_t k = 0; k < n; k++)
				s += g[i * n + k] * g[j * n + k];
			b[i * n + j] = s;
		}
	}
	free(g);
}

/* Checks A V = B V diag(values) (B = I when b is NULL) and V^T B V = I. */
static void seg__check_eigen(size_t n, const double *a, const double *b, const double *values,
			     const double *v, double tol)
{
	for (size_t k = 0; k + 1 < n; k++)
		assert_true(values[k] >= values[k + 1]);
	for (size_t k = 0; k < n; k++) {
		double big = 0;
		size_t at = 0;
		for (size_t i = 0; i < n; i++) {
			double av = 0, bv = 0;
			for (size_t j = 0; j < n; j++) {
				av += a[i * n + j] * v[j * n + k];
				bv += (b ? b[i * n + j] : i == j) * v[j * n + k];
			}
			seg__close(av, values[k] * bv, tol);
			if (fabs(v[i * n + k]) > big) {
				big = fabs(v[i * n + k]);
				at = i;
			}
		}
		assert_true(v[at * n + k] > 0); /* the sign rule */
		for (size_t l = 0; l < n; l++) {
			double s = 0;
			for (size_t i = 0; i < n; i++) {
				for (size_t j = 0; j < n; j++)
					s += v[i * n + k] * (b ? b[i * n + j] : i == j) *
					     v[j * n + l];
			}
			seg__close(s, k == l, tol);
		}
	}
}

static void test_eigen_small(void **state)
{
	(void)state;
	/* [[2, 1], [1, 2]]: 3 with (1, 1)/sqrt 2, 1 with (1, -1)/sqrt 2 (largest |.| first) */
	double a[4] = {2, 1, 1, 2}, w[2], v[4];
	assert_int_equal(seg_la_eigen_sym(2, a, w, v), SEG_LA_OK);
	seg__close(w[0], 3, 1e-15);
	seg__close(w[1], 1, 1e-15);
	seg__close(v[0], M_SQRT1_2, 1e-15);
	seg__close(v[2], M_SQRT1_2, 1e-15);
	seg__close(v[1], M_SQRT1_2, 1e-15);
	seg__close(v[3], -M_SQRT1_2, 1e-15);
	/* only the lower triangle is read */
	double lower[4] = {2, 99, 1, 2};
	assert_int_equal(seg_la_eigen_sym(2, lower, w, NULL), SEG_LA_OK);
	seg__close(w[0], 3, 1e-15);
	/* 1 x 1, a diagonal matrix out of order, the identity (repeated eigenvalues) */
	double one = -4;
	assert_int_equal(seg_la_eigen_sym(1, &one, w, v), SEG_LA_OK);
	seg__close(w[0], -4, 0);
	seg__close(v[0], 1, 0);
	double d[9] = {1, 0, 0, 0, -3, 0, 0, 0, 7}, w3[3], v3[9];
	assert_int_equal(seg_la_eigen_sym(3, d, w3, v3), SEG_LA_OK);
	seg__close(w3[0], 7, 0);
	seg__close(w3[1], 1, 0);
	seg__close(w3[2], -3, 0);
	seg__close(v3[2 * 3 + 0], 1, 0);
	seg__close(v3[0 * 3 + 1], 1, 0);
	seg__close(v3[1 * 3 + 2], 1, 0);
	double id[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
	assert_int_equal(seg_la_eigen_sym(3, id, w3, v3), SEG_LA_OK);
	seg__check_eigen(3, id, NULL, w3, v3, 1e-15);
}

static void test_eigen_random(void **state)
{
	(void)state;
	size_t sizes[] = {2, 3, 5, 10, 40, 100};
	for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
		size_t n = sizes[t];
		double *a = malloc(n * n * sizeof *a), *w = malloc(n * sizeof *w),
		       *v = malloc(n * n * sizeof *v);
		seg__random_sym(n, a, 42 + n);
		assert_int_equal(seg_la_eigen_sym(n, a, w, v), SEG_LA_OK);
		seg__check_eigen(n, a, NULL, w, v, 1e-12);
		/* the trace is the sum of the eigenvalues */
		double tr = 0, sw = 0;
		for (size_t i = 0; i < n; i++) {
			tr += a[i * n + i];
			sw += w[i];
		}
		seg__close(sw, tr, 1e-12);
		free(a);
		free(w);
		free(v);
	}
}

/* A correlation-like matrix with a repeated eigenvalue and a rank-one part. */
static void test_eigen_degenerate(void **state)
{
	(void)state;
	size_t n = 6;
	double a[36], w[6], v[36];
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++)
			a[i * n + j] = i == j ? 1 : 0.5;
	}
	assert_int_equal(seg_la_eigen_sym(n, a, w, v), SEG_LA_OK);
	seg__close(w[0], 3.5, 1e-14);
	for (size_t k = 1; k < n; k++)
		seg__close(w[k], 0.5, 1e-14);
	seg__check_eigen(n, a, NULL, w, v, 1e-14);
	/* all zero */
	memset(a, 0, sizeof a);
	assert_int_equal(seg_la_eigen_sym(n, a, w, v), SEG_LA_OK);
	for (size_t k = 0; k < n; k++)
		seg__close(w[k], 0, 0);
}

static void test_eigen_bad(void **state)
{
	(void)state;
	double a[4] = {1, 0, NAN, 1}, w[2], v[4];
	assert_int_equal(seg_la_eigen_sym(2, a, w, v), SEG_LA_BAD_INPUT);
	a[2] = INFINITY;
	assert_int_equal(seg_la_eigen_sym(2, a, w, v), SEG_LA_BAD_INPUT);
	assert_int_equal(seg_la_eigen_sym(0, a, w, v), SEG_LA_BAD_INPUT);
	assert_string_equal(seg_la_strerror(SEG_LA_BAD_INPUT),
			    "a matrix holds a value that is not a finite number");
}

static void test_cholesky(void **state)
{
	(void)state;
	double a[9] = {4, 12, -16, 12, 37, -43, -16, -43, 98}, l[9], inv[9];
	double want[9] = {2, 0, 0, 6, 1, 0, -8, 5, 3};
	assert_int_equal(seg_la_cholesky(3, a, l), SEG_LA_OK);
	for (int i = 0; i < 9; i++)
		seg__close(l[i], want[i], 1e-14);
	seg__close(seg_la_cholesky_logdet(3, l), 2 * log(6), 1e-14);
	/* solve: A x = b with x = (1, -2, 3) */
	double x[3] = {1, -2, 3}, b[3], got[3];
	for (int i = 0; i < 3; i++)
		b[i] = a[i * 3] * x[0] + a[i * 3 + 1] * x[1] + a[i * 3 + 2] * x[2];
	seg_la_cholesky_solve(3, l, b, got);
	for (int i = 0; i < 3; i++)
		seg__close(got[i], x[i], 1e-11);
	seg_la_cholesky_solve(3, l, b, b); /* in place */
	for (int i = 0; i < 3; i++)
		seg__close(b[i], x[i], 1e-11);
	seg_la_cholesky_inverse(3, l, inv);
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < 3; j++) {
			double s = 0;
			for (int k = 0; k < 3; k++)
				s += a[i * 3 + k] * inv[k * 3 + j];
			seg__close(s, i == j, 1e-11);
			seg__close(inv[i * 3 + j], inv[j * 3 + i], 0);
		}
	}
	/* in place, upper triangle ignored and zeroed */
	double c[9] = {4, 777, 777, 12, 37, 777, -16, -43, 98};
	assert_int_equal(seg_la_cholesky(3, c, c), SEG_LA_OK);
	for (int i = 0; i < 9; i++)
		seg__close(c[i], want[i], 1e-14);
}

static void test_cholesky_not_pd(void **state)
{
	(void)state;
	double indefinite[4] = {1, 2, 2, 1}, singular[4] = {1, 1, 1, 1}, l[4];
	assert_int_equal(seg_la_cholesky(2, indefinite, l), SEG_LA_NOT_PD);
	assert_int_equal(seg_la_cholesky(2, singular, l), SEG_LA_NOT_PD);
	/* singular to rounding: the third row is the sum of the first two */
	double s3[9] = {2, 1, 3, 1, 2, 3, 3, 3, 6}, l3[9];
	assert_int_equal(seg_la_cholesky(3, s3, l3), SEG_LA_NOT_PD);
	double zero[1] = {0}, nan[1] = {NAN};
	assert_int_equal(seg_la_cholesky(1, zero, l), SEG_LA_NOT_PD);
	assert_int_equal(seg_la_cholesky(1, nan, l), SEG_LA_BAD_INPUT);
	/* scale-free: variances of 1e10 and 1e-6 are fine */
	double scaled[4] = {1e10, 1, 1, 1e-6};
	assert_int_equal(seg_la_cholesky(2, scaled, l), SEG_LA_OK);
}

static void test_eigen_gen(void **state)
{
	(void)state;
	/* diagonal: a v = lambda b v with a = diag(2, 12), b = diag(1, 4): 3 and 2 */
	double a2[4] = {2, 0, 0, 12}, b2[4] = {1, 0, 0, 4}, w2[2], v2[4];
	assert_int_equal(seg_la_eigen_gen(2, a2, b2, w2, v2), SEG_LA_OK);
	seg__close(w2[0], 3, 1e-15);
	seg__close(w2[1], 2, 1e-15);
	seg__close(v2[2], 0.5, 1e-15); /* v^T b v = 1: (0, 1/2) */
	seg__close(v2[1], 1, 1e-15);
	size_t sizes[] = {3, 8, 30};
	for (size_t t = 0; t < 3; t++) {
		size_t n = sizes[t];
		double *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b),
		       *w = malloc(n * sizeof *w), *v = malloc(n * n * sizeof *v);
		seg__random_sym(n, a, 7 + n);
		seg__random_spd(n, b, 99 + n);
		assert_int_equal(seg_la_eigen_gen(n, a, b, w, v), SEG_LA_OK);
		seg__check_eigen(n, a, b, w, v, 1e-11);
		free(a);
		free(b);
		free(w);
		free(v);
	}
	double notpd[4] = {1, 2, 2, 1};
	assert_int_equal(seg_la_eigen_gen(2, a2, notpd, w2, v2), SEG_LA_NOT_PD);
}

static void test_lstsq(void **state)
{
	(void)state;
	/* a straight line through 5 points: closed form slope and intercept */
	double xs[5] = {1, 2, 3, 4, 6}, ys[5] = {1.1, 1.9, 3.2, 3.9, 6.3};
	double a[10], x[2], rss;
	double mx = 0, my = 0, sxx = 0, sxy = 0;
	for (int i = 0; i < 5; i++) {
		a[i * 2] = 1;
		a[i * 2 + 1] = xs[i];
		mx += xs[i] / 5;
		my += ys[i] / 5;
	}
	for (int i = 0; i < 5; i++) {
		sxx += (xs[i] - mx) * (xs[i] - mx);
		sxy += (xs[i] - mx) * (ys[i] - my);
	}
	double slope = sxy / sxx, icpt = my - slope * mx, want_rss = 0;
	for (int i = 0; i < 5; i++)
		want_rss += pow(ys[i] - icpt - slope * xs[i], 2);
	assert_int_equal(seg_la_lstsq(5, 2, a, ys, x, &rss), SEG_LA_OK);
	seg__close(x[0], icpt, 1e-13);
	seg__close(x[1], slope, 1e-13);
	seg__close(rss, want_rss, 1e-13);
	/* square and exact; the pivoting reorders, the answer does not */
	double sq[9] = {1, 2, 3, 0, 1, 4, 5, 6, 0}, want[3] = {1, -1, 2}, rhs[3], got[3];
	for (int i = 0; i < 3; i++)
		rhs[i] = sq[i * 3] * want[0] + sq[i * 3 + 1] * want[1] + sq[i * 3 + 2] * want[2];
	assert_int_equal(seg_la_lstsq(3, 3, sq, rhs, got, &rss), SEG_LA_OK);
	for (int i = 0; i < 3; i++)
		seg__close(got[i], want[i], 1e-13);
	seg__close(rss, 0, 1e-20);
	/* random overdetermined: the residual is orthogonal to the columns */
	uint64_t seed = 5;
	size_t m = 40, n = 6;
	double *r = malloc(m * n * sizeof *r), *y = malloc(m * sizeof *y), z[6];
	for (size_t i = 0; i < m * n; i++)
		r[i] = seg__uniform(&seed);
	for (size_t i = 0; i < m; i++)
		y[i] = seg__uniform(&seed);
	assert_int_equal(seg_la_lstsq(m, n, r, y, z, &rss), SEG_LA_OK);
	double s2 = 0;
	for (size_t j = 0; j < n; j++) {
		double dot = 0;
		for (size_t i = 0; i < m; i++) {
			double e = y[i];
			for (size_t k = 0; k < n; k++)
				e -= r[i * n + k] * z[k];
			dot += r[i * n + j] * e;
			if (j == 0)
				s2 += e * e;
		}
		seg__close(dot, 0, 1e-13);
	}
	seg__close(rss, s2, 1e-13);
	free(r);
	free(y);
}

static void test_lstsq_fail(void **state)
{
	(void)state;
	double dup[6] = {1, 1, 2, 2, 3, 3}, y[3] = {1, 2, 3}, x[2] = {-7, -7};
	assert_int_equal(seg_la_lstsq(3, 2, dup, y, x, NULL), SEG_LA_RANK_DEFICIENT);
	seg__close(x[0], -7, 0); /* untouched */
	double zero_col[6] = {1, 0, 2, 0, 3, 0};
	assert_int_equal(seg_la_lstsq(3, 2, zero_col, y, x, NULL), SEG_LA_RANK_DEFICIENT);
	double zeros[6] = {0};
	assert_int_equal(seg_la_lstsq(3, 2, zeros, y, x, NULL), SEG_LA_RANK_DEFICIENT);
	/* dependent to rounding: the third column is 0.1 a + 0.2 b */
	double dep[12] = {1, 2, 0.5, 3, 1, 0.5, 4, 4, 1.2, 2, 7, 1.6};
	double y4[4] = {1, 2, 3, 4}, x3[3];
	assert_int_equal(seg_la_lstsq(4, 3, dep, y4, x3, NULL), SEG_LA_RANK_DEFICIENT);
	assert_int_equal(seg_la_lstsq(2, 3, dep, y4, x3, NULL), SEG_LA_BAD_INPUT);
	y[1] = NAN;
	assert_int_equal(seg_la_lstsq(3, 2, dup, y, x, NULL), SEG_LA_BAD_INPUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eigen_small),	 cmocka_unit_test(test_eigen_random),
		cmocka_unit_test(test_eigen_degenerate), cmocka_unit_test(test_eigen_bad),
		cmocka_unit_test(test_cholesky),	 cmocka_unit_test(test_cholesky_not_pd),
		cmocka_unit_test(test_eigen_gen),	 cmocka_unit_test(test_lstsq),
		cmocka_unit_test(test_lstsq_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
