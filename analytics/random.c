/*
 * xoshiro256** seeded by splitmix64 (analytics/random.h). The constants and rotations are the
 * reference implementation's (https://prng.di.unimi.it/xoshiro256starstar.c, public domain).
 */
#include "random.h"

#include <math.h>

static uint64_t seg__rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t seg__splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void seg_rng_seed(struct seg_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++) {
		r->s[i] = seg__splitmix64(&x);
	}
}

uint64_t seg_rng_next(struct seg_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = seg__rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = seg__rotl(s[3], 45);
	return result;
}

double seg_rng_uniform(struct seg_rng *r)
{
	return (double)(seg_rng_next(r) >> 11) * 0x1p-53;
}

uint64_t seg_rng_below(struct seg_rng *r, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)seg_rng_next(r) * n;
	uint64_t low = (uint64_t)m;
	if (low < n) {
		uint64_t threshold = -n % n;
		while (low < threshold) {
			m = (unsigned __int128)seg_rng_next(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double seg_rng_normal(struct seg_rng *r)
{
	double u = 1.0 - seg_rng_uniform(r); /* (0, 1]: the logarithm stays finite */
	double v = seg_rng_uniform(r);
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

void seg_rng_sample(struct seg_rng *r, size_t n, size_t m, size_t *out)
{
	size_t chosen = 0;
	for (size_t t = 0; t < n && chosen < m; t++) {
		/* index t is taken with probability (still to choose) / (still to examine) */
		if ((double)(n - t) * seg_rng_uniform(r) < (double)(m - chosen)) {
			out[chosen++] = t;
		}
	}
}
