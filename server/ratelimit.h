/*
 * A token bucket per tenant: rate tokens a second, up to 2 × rate (at least 1) in reserve.
 * Thread-safe. A rate of 0 admits everything.
 */
#ifndef SEG_RATELIMIT_H
#define SEG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct seg_ratelimit;

struct seg_ratelimit *seg_ratelimit_new(double rate);
void seg_ratelimit_free(struct seg_ratelimit *rl);
/* Takes a token for tenant. False when none is left; *retry_after gets whole seconds to wait. */
bool seg_ratelimit_take(struct seg_ratelimit *rl, int64_t tenant, int *retry_after);

#endif
