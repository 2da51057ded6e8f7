/* Streamed CSV exports in keyset batches (csvexport.h). */
#include "csvexport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* The state of one export, owned by its stream. */
struct seg__csv {
	int64_t tenant, id;
	seg_csv_batch_fn batch;
	char *arg;
	char *after; /* the last customer id sent, or NULL */
	char *header;
	bool started;
};

static void seg__csv_free(void *ctx)
{
	struct seg__csv *c = ctx;
	free(c->arg);
	free(c->after);
	free(c->header);
	free(c);
}

/* Makes one batch of the export (a request worker, with a connection of its own). */
static enum seg_err seg__csv_produce(void *ctx, struct seg_db *db, struct seg_buf *out, bool *done)
{
	struct seg__csv *c = ctx;
	char *last = NULL;
	size_t rows = 0;
	enum seg_err err;

	if (!c->started) {
		seg_buf_addstr(out, c->header);
		c->started = true;
	}
	err = c->batch(db, c->tenant, c->id, c->after, c->arg, SEG_CSV_BATCH, out, &last, &rows);
	if (err)
		return err;
	*done = rows < SEG_CSV_BATCH;
	if (last) {
		free(c->after);
		c->after = last;
	}
	return SEG_OK;
}

void seg_csv_export(struct seg_req *r, const char *filename, const char *header, int64_t id,
		    seg_csv_batch_fn batch, char *arg)
{
	struct seg__csv *c = seg_calloc(1, sizeof(*c));
	struct seg_buf disposition = SEG_BUF_INIT;

	c->tenant = r->tenant;
	c->id = id;
	c->batch = batch;
	c->arg = arg;
	c->header = seg_strdup(header);
	seg_buf_addf(&disposition, "attachment; filename=\"%s\"", filename);
	seg_req_reply_stream(r, 200, "text/csv; charset=utf-8", disposition.data, seg__csv_produce,
			     c, seg__csv_free);
	seg_buf_release(&disposition);
}

bool seg_csv_wanted(struct seg_req *r)
{
	const char *accept = seg_req_header(r, "Accept");
	return accept && strstr(accept, "text/csv") != NULL;
}

void seg_csv_field(struct seg_buf *out, const char *s, size_t n)
{
	if (strcspn(s, ",\"\r\n") >= n) {
		seg_buf_add(out, s, n);
		return;
	}
	seg_buf_addch(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			seg_buf_addch(out, '"');
		seg_buf_addch(out, s[i]);
	}
	seg_buf_addch(out, '"');
}
