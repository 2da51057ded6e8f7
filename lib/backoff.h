/*
 * The retry delays of the job queue (server/README.md "Jobs"): attempt n (1-based) that failed
 * is retried after base × 4^(n-1) seconds, never more than cap. Pure; any thread.
 */
#ifndef SEG_BACKOFF_H
#define SEG_BACKOFF_H

#include "buf.h"

/* The delay after failed attempt n (n < 1 counts as 1), in seconds; base and cap >= 0. */
double seg_backoff_delay(int attempt, double base, double cap);

/*
 * Appends the delays of attempts 1..n as a PostgreSQL float8[] literal ("{5,20,80}"), which the
 * queue's SQL indexes by attempt (the last one serves every later attempt). n >= 1.
 */
void seg_backoff_array(struct seg_buf *out, int n, double base, double cap);

#endif
