/*
 * A small seeded pseudo-random generator for the analytics engines: xoshiro256** (Blackman &
 * Vigna 2018), its state filled from the seed by splitmix64, as its authors recommend. Never
 * rand(3): the same seed gives the same stream on every machine and in every thread, which is
 * what makes an analysis reproducible (SPEC §6: the same data, params and seed give the same
 * result). Pure, no global state: a struct seg_rng belongs to one thread at a time; two threads
 * each with their own generator need no lock.
 *
 * Not for secrets (keys, tokens): it is predictable by design.
 */
#ifndef SEG_RANDOM_H
#define SEG_RANDOM_H

#include <stddef.h>
#include <stdint.h>

struct seg_rng {
	uint64_t s[4];
};

/* Seeds the generator: every seed (0 included) gives a distinct, well-mixed state. */
void seg_rng_seed(struct seg_rng *r, uint64_t seed);

/* The next 64 random bits. */
uint64_t seg_rng_next(struct seg_rng *r);

/* A uniform double in [0, 1): the top 53 bits of the next output times 2^-53. */
double seg_rng_uniform(struct seg_rng *r);

/* A uniform integer in [0, n), without modulo bias (Lemire's multiply-and-reject); n >= 1. */
uint64_t seg_rng_below(struct seg_rng *r, uint64_t n);

/* A standard normal deviate (Box-Muller, one of the pair; for test data and jitter). */
double seg_rng_normal(struct seg_rng *r);

/*
 * m distinct indices of 0..n-1 drawn uniformly (every subset of size m equally likely), written
 * to out in ascending order; m <= n. Knuth's selection sampling (TAOCP 3.4.2, Algorithm S): one
 * uniform per index examined, O(n) time and no memory beyond out.
 */
void seg_rng_sample(struct seg_rng *r, size_t n, size_t m, size_t *out);

#endif
