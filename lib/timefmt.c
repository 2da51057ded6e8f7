/*
 * RFC 3339 timestamps and calendar dates. Dates convert to and from days since 1970-01-01 with
 * Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar, exact for
 * every year, no timegm, no locale, no TZ). See timefmt.h.
 */
#include "timefmt.h"

#include <stdio.h>

#define US_PER_SEC  INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n decimal digits at s; -1 when one of them is not a digit. */
static int fixed_digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Parses "YYYY-MM-DD" at s (10 bytes available) into days since the epoch. */
static bool parse_date10(const char *s, int64_t *days)
{
	int y = fixed_digits(s, 4), m = fixed_digits(s + 5, 2), d = fixed_digits(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || s[4] != '-' || s[7] != '-')
		return false;
	if (d > days_in_month(y, m))
		return false;
	*days = days_from_civil(y, m, d);
	return true;
}

bool seg_date_parse(const char *s, size_t len, int32_t *days)
{
	int64_t v;
	if (len != 10 || !parse_date10(s, &v))
		return false;
	*days = (int32_t)v;
	return true;
}

bool seg_rfc3339_parse(const char *s, size_t len, int64_t *us)
{
	int64_t days, frac = 0, offset = 0;
	size_t i = 19;
	int hh, mi, ss;

	if (len < 20 || !parse_date10(s, &days))
		return false;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return false;
	hh = fixed_digits(s + 11, 2);
	mi = fixed_digits(s + 14, 2);
	ss = fixed_digits(s + 17, 2);
	if (hh < 0 || hh > 23 || s[13] != ':' || mi < 0 || mi > 59 || s[16] != ':' || ss < 0 ||
	    ss > 59)
		return false;
	if (s[i] == '.') {
		int n = 0;
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (++n > 9)
				return false;
			if (n <= 6)
				frac = frac * 10 + (s[i] - '0');
			i++;
		}
		if (!n)
			return false;
		for (; n < 6; n++)
			frac *= 10;
	}
	if (i >= len)
		return false;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		if (len - i < 6)
			return false;
		int oh = fixed_digits(s + i + 1, 2), om = fixed_digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || s[i + 3] != ':' || om < 0 || om > 59)
			return false;
		offset = (oh * 60 + om) * 60;
		if (s[i] == '-')
			offset = -offset;
		i += 6;
	} else {
		return false;
	}
	if (i != len)
		return false;
	*us = ((days * SEC_PER_DAY + hh * 3600 + mi * 60 + ss) - offset) * US_PER_SEC + frac;
	return true;
}

size_t seg_rfc3339_format(int64_t us, char out[SEG_RFC3339_MAX])
{
	/* Floor division, so that instants before 1970 get a positive time of day. */
	int64_t secs = us / US_PER_SEC, frac = us % US_PER_SEC;
	if (frac < 0) {
		frac += US_PER_SEC;
		secs--;
	}
	int64_t days = secs / SEC_PER_DAY, sod = secs % SEC_PER_DAY;
	if (sod < 0) {
		sod += SEC_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d, n;
	civil_from_days(days, &y, &m, &d);
	n = snprintf(out, SEG_RFC3339_MAX, "%s%04lld-%02d-%02dT%02d:%02d:%02d", y < 0 ? "-" : "",
		     (long long)(y < 0 ? -y : y), m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
		     (int)(sod % 60));
	if (frac) {
		int w = 6;
		while (frac % 10 == 0) {
			frac /= 10;
			w--;
		}
		n += snprintf(out + n, SEG_RFC3339_MAX - (size_t)n, ".%0*lld", w, (long long)frac);
	}
	out[n++] = 'Z';
	out[n] = '\0';
	return (size_t)n;
}
