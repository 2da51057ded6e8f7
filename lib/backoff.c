/* Retry delays of the job queue; see backoff.h. */
#include "backoff.h"

double seg_backoff_delay(int attempt, double base, double cap)
{
	double d = base;
	for (int i = 1; i < attempt && d < cap; i++)
		d *= 4;
	return d < cap ? d : cap;
}

void seg_backoff_array(struct seg_buf *out, int n, double base, double cap)
{
	seg_buf_addch(out, '{');
	for (int i = 1; i <= n; i++)
		seg_buf_addf(out, "%s%.3f", i > 1 ? "," : "", seg_backoff_delay(i, base, cap));
	seg_buf_addch(out, '}');
}
