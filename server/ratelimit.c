/* Per-tenant token buckets in an open-addressed table; see ratelimit.h. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"

#define SEG_RL_SLOTS 4096

struct seg_bucket {
	int64_t tenant; /* 0: empty (tenant ids start at 1) */
	double tokens;
	double at; /* seconds, monotonic */
};

struct seg_ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	struct seg_bucket slots[SEG_RL_SLOTS];
};

struct seg_ratelimit *seg_ratelimit_new(double rate)
{
	struct seg_ratelimit *rl = seg_calloc(1, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = rate * 2 < 1 ? 1 : rate * 2;
	return rl;
}

void seg_ratelimit_free(struct seg_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

bool seg_ratelimit_take(struct seg_ratelimit *rl, int64_t tenant, int *retry_after)
{
	struct timespec ts;
	bool ok = true;

	*retry_after = 0;
	if (rl->rate <= 0)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	size_t i = (size_t)((uint64_t)tenant * 11400714819323198485ull >> 52) % SEG_RL_SLOTS;

	pthread_mutex_lock(&rl->lock);
	for (size_t n = 0; n < SEG_RL_SLOTS; n++, i = (i + 1) % SEG_RL_SLOTS) {
		struct seg_bucket *b = &rl->slots[i];
		if (b->tenant == 0) {
			b->tenant = tenant;
			b->tokens = rl->burst;
			b->at = now;
		}
		if (b->tenant != tenant)
			continue;
		b->tokens = fmin(rl->burst, b->tokens + (now - b->at) * rl->rate);
		b->at = now;
		if (b->tokens >= 1) {
			b->tokens -= 1;
		} else {
			ok = false;
			*retry_after = (int)ceil((1 - b->tokens) / rl->rate);
			if (*retry_after < 1)
				*retry_after = 1;
		}
		break;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
