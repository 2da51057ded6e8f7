/*
 * seg_lines: splits a stream that arrives in chunks into records (NDJSON lines or CSV
 * records). Each chunk is scanned for the end of the current record; the bytes up to it are
 * appended to the pending record, or handed to the callback straight from the chunk when
 * nothing is pending. See lines.h.
 *
 * CSV quotes follow RFC 4180: a double quote opens a quoted field only at the start of a
 * field (at the start of the record or after a comma) or just after a quote, which makes ""
 * the escaped quote; elsewhere (5" screen) it is an ordinary byte. That needs the byte before
 * the current one: it is the last byte of the pending record, and while an overlong record is
 * skipped, pending holds just that byte.
 */
#include "lines.h"

#include <string.h>

static const char bom[3] = {'\xef', '\xbb', '\xbf'};

void seg_lines_init(struct seg_lines *l, size_t max, bool csv)
{
	seg_buf_init(&l->pending);
	l->max = max;
	l->number = 0;
	l->seen = 0;
	l->csv = csv;
	l->in_quotes = false;
	l->skipping = false;
}

void seg_lines_release(struct seg_lines *l)
{
	seg_buf_release(&l->pending);
}

/* True while every byte of the stream so far is a prefix of a byte order mark. */
static bool in_bom(const struct seg_lines *l)
{
	return l->seen < 3 && !l->skipping && l->pending.len == l->seen &&
	       memcmp(l->pending.data, bom, l->seen) == 0;
}

/*
 * Scans p[0..n) for the "\n" that ends the current record and returns its index (n when the
 * record goes on past the chunk). *prev is the byte before p[0] (-1 at the start of a record)
 * and receives the last byte scanned.
 */
static size_t scan(struct seg_lines *l, const char *p, size_t n, int *prev)
{
	if (!l->csv) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		if (k)
			*prev = (unsigned char)p[k - 1];
		return k;
	}
	bool q = l->in_quotes;
	int pv = *prev;
	size_t k;
	for (k = 0; k < n; k++) {
		char c = p[k];
		if (c == '"') {
			if (q)
				q = false;
			else if (pv < 0 || pv == ',' || pv == '"')
				q = true;
		} else if (c == '\n' && !q) {
			break;
		}
		pv = (unsigned char)c;
	}
	l->in_quotes = q;
	*prev = pv;
	return k;
}

/* A record of len bytes whose last byte is last is too long (one "\r" before "\n" is free). */
static bool too_long(const struct seg_lines *l, size_t len, int last)
{
	return len > l->max && !(len == l->max + 1 && last == '\r');
}

/* Hands a record to cb; a record that ended in "\n" loses the "\r" before it. */
static int deliver(struct seg_lines *l, const char *data, size_t len, bool newline, seg_lines_cb cb,
		   void *ctx)
{
	if (newline && len && data[len - 1] == '\r')
		len--;
	l->number++;
	return cb(ctx, data, len, l->number, false);
}

static int overlong(struct seg_lines *l, seg_lines_cb cb, void *ctx)
{
	l->number++;
	return cb(ctx, NULL, 0, l->number, true);
}

int seg_lines_feed(struct seg_lines *l, const char *data, size_t len, seg_lines_cb cb, void *ctx)
{
	size_t i = 0;
	int rc;

	while (i < len) {
		if (in_bom(l) && data[i] == bom[l->seen]) {
			seg_buf_addch(&l->pending, data[i]);
			i++;
			if (++l->seen == 3)
				seg_buf_reset(&l->pending);
			continue;
		}
		int prev = l->pending.len ? (unsigned char)l->pending.data[l->pending.len - 1] : -1;
		size_t k = scan(l, data + i, len - i, &prev);
		bool end = i + k < len;
		size_t used = k + end;

		l->seen += used;
		if (l->skipping) {
			seg_buf_reset(&l->pending);
			if (end)
				l->skipping = false;
			else if (prev >= 0)
				seg_buf_addch(&l->pending, (char)prev);
			i += used;
			continue;
		}
		if (too_long(l, l->pending.len + k, prev)) {
			seg_buf_reset(&l->pending);
			if (!end) {
				l->skipping = true;
				if (prev >= 0)
					seg_buf_addch(&l->pending, (char)prev);
			}
			i += used;
			rc = overlong(l, cb, ctx);
			if (rc)
				return rc;
			continue;
		}
		if (!end) {
			seg_buf_add(&l->pending, data + i, k);
			break;
		}
		if (l->pending.len) {
			seg_buf_add(&l->pending, data + i, k);
			rc = deliver(l, l->pending.data, l->pending.len, true, cb, ctx);
			seg_buf_reset(&l->pending);
		} else {
			rc = deliver(l, data + i, k, true, cb, ctx);
		}
		i += used;
		if (rc)
			return rc;
	}
	return 0;
}

int seg_lines_finish(struct seg_lines *l, seg_lines_cb cb, void *ctx)
{
	int rc = 0;
	if (l->skipping) {
		l->skipping = false;
	} else if (l->pending.len) {
		/* No "\n" follows, so a final "\r" stays and counts. */
		if (l->pending.len > l->max)
			rc = overlong(l, cb, ctx);
		else
			rc = deliver(l, l->pending.data, l->pending.len, false, cb, ctx);
	}
	seg_buf_reset(&l->pending);
	l->in_quotes = false;
	return rc;
}
