/*
 * The streaming imports: POST /v1/customers:import (NDJSON or CSV) and POST /v1/events:import
 * (NDJSON). The body is cut into records as it arrives (lib/lines.c), each record is checked
 * on its own — a bad one is rejected with its line number and the rest go on — and the good
 * ones are staged as COPY rows. A batch goes to the database in one transaction when it holds
 * SEG_BATCH_ROWS rows or SEG_BATCH_BYTES bytes, and at the end.
 *
 * Threads: records are parsed on a request worker, a few hundred KiB of the body at a time (the
 * server gathers the body and hands it over); a full batch is written by a writer thread of its
 * own while the worker parses the next one. Customers keep one batch in writing at a time, so
 * lines apply in order. Events keep up to two in writing, each in its own transaction on its
 * own connection (the database does most of an events import's work, and this lets it use two
 * cores): their effects commute — metrics add up, each customer's row lock orders its
 * membership step — except for a repeated event id, where the first line must win, so a batch
 * holding an id of a batch still in writing waits for it. Events are filled into two lanes by
 * customer, so that the two batches in writing rarely share a customer: a shared one would
 * make the second wait for the first's commit on that customer's row lock (seg__event_lane).
 * A writer borrows a pooled connection only while it writes, so neither a transaction nor a
 * connection is held while the client is sending. Memory is bounded by four batches plus one
 * record (1 MiB) plus the server's inbox, however large the body.
 *
 * A batch that the database refuses as a whole for a value (a value out of its range that the
 * checks in C let through) is written again one line at a time, so that only the lines it
 * refuses are rejected: one bad line never aborts an import.
 *
 * Customers take a fast path while it works: a batch whose ids are all new is COPYed straight
 * into the customers table. The first batch that meets an existing id is upserted instead, and
 * the rest of that import goes the upsert way.
 */
#include "handlers.h"

#include <csv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonspan.h"
#include "lines.h"
#include "log.h"
#include "text.h"
#include "validate.h"

#define SEG_MAX_LINE	(1 << 20)
#define SEG_BATCH_ROWS	5000
#define SEG_BATCH_BYTES (4 << 20)
#define SEG_MAX_ERRORS	100
#define SEG_LANES	2 /* events: batches filled side by side, by customer */
#define SEG_BATCHES	4 /* one being filled per lane, up to two in writing */

struct seg_import;

/* A batch of staged rows, and what became of it once written. */
struct seg_batch {
	struct seg_import *im;
	struct seg_buf rows;	 /* events, or customers for the upsert */
	struct seg_buf new_rows; /* customers for the fast path */
	size_t nrows;
	bool new_ok;  /* every row can take the fast path */
	bool try_new; /* set when handed to the writer */
	/* written by the writer thread */
	enum seg_err err;
	size_t a, b;		/* inserted/updated or accepted/duplicates */
	bool conflicted;	/* the fast path met an existing id */
	struct seg_buf refused; /* line numbers the database refused, one per line of text */
	json_t *ids;		/* events: the client ids in the batch (a set) */
	bool writing;		/* with a writer (or written, not yet counted) */
	bool threaded;		/* ... on its own thread, to be joined */
	pthread_t writer;
};

struct seg_import {
	struct seg_req *r;
	bool events, csv, replace;
	struct seg_lines lines;
	struct seg_attr_catalog catalog;
	struct seg_batch batches[SEG_BATCHES];
	int cur[SEG_LANES];	/* the batch each lane fills (customers: lane 0 only, -1 after) */
	int queue[SEG_BATCHES]; /* the batches in writing, oldest first */
	int inflight;		/* how many */
	bool fast;		/* customers: try the all-new fast path */
	json_t *batch_ids;	/* customer ids in the current batch (a set) */
	size_t received, inserted, updated, accepted, duplicates, rejected;
	struct seg_buf errors; /* JSON objects joined by commas */
	size_t nerrors;
	/* CSV */
	struct csv_parser parser;
	bool parser_ready;
	char **columns; /* header names */
	const struct seg_attr_def **defs;
	size_t ncolumns;
	int id_column;
	struct seg_buf *fields; /* the fields of the record being parsed */
	size_t nfields, fields_cap;
	bool too_many_fields;
};

static void seg__import_free(void *p)
{
	struct seg_import *im = p;
	seg_lines_release(&im->lines);
	seg_attr_catalog_release(&im->catalog);
	for (int i = 0; i < SEG_BATCHES; i++) {
		struct seg_batch *b = &im->batches[i];
		if (b->writing && b->threaded)
			pthread_join(b->writer, NULL); /* the client left while it was written */
		seg_buf_release(&b->rows);
		seg_buf_release(&b->new_rows);
		seg_buf_release(&b->refused);
		json_decref(b->ids);
	}
	seg_buf_release(&im->errors);
	json_decref(im->batch_ids);
	if (im->parser_ready)
		csv_free(&im->parser);
	for (size_t i = 0; i < im->ncolumns; i++)
		free(im->columns[i]);
	free(im->columns);
	free(im->defs);
	for (size_t i = 0; i < im->fields_cap; i++)
		seg_buf_release(&im->fields[i]);
	free(im->fields);
	free(im);
}

static void seg__reject(struct seg_import *im, size_t line, const char *detail)
{
	im->rejected++;
	if (im->nerrors >= SEG_MAX_ERRORS)
		return;
	if (im->nerrors++)
		seg_buf_addch(&im->errors, ',');
	seg_buf_addf(&im->errors, "{\"line\":%zu,\"detail\":", line);
	seg_buf_add_json_string(&im->errors, detail, strlen(detail));
	seg_buf_addch(&im->errors, '}');
}

/* Stores rows (COPY text) in one transaction: the customers upsert or the events ingest. */
static enum seg_err seg__store(struct seg_import *im, struct seg_db *db, const struct seg_buf *rows,
			       size_t *a, size_t *b)
{
	if (im->events)
		return seg_db_events_ingest(db, im->r->tenant, rows, a, b);
	return seg_db_customers_upsert(db, im->r->tenant, rows, im->replace, a, b);
}

/*
 * The database refused batch b for a value: stores it one row at a time, and notes the line
 * of each row it refuses in b->refused. Other failures stop it. Writer thread.
 */
static enum seg_err seg__store_rows(struct seg_import *im, struct seg_db *db, struct seg_batch *b)
{
	struct seg_buf one = SEG_BUF_INIT;
	enum seg_err err = SEG_OK;
	const char *p = b->rows.data, *end = b->rows.data + b->rows.len;

	b->a = b->b = 0;
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		size_t a = 0, c = 0;
		seg_buf_reset(&one);
		seg_buf_add(&one, p, n);
		err = seg__store(im, db, &one, &a, &c);
		if (err == SEG_ERR_INVALID) { /* the first column is the line number */
			seg_buf_add(&b->refused, p, strcspn(p, "\t"));
			seg_buf_addch(&b->refused, '\n');
			err = SEG_OK;
		}
		b->a += a;
		b->b += c;
		p += n;
	}
	seg_buf_release(&one);
	return err;
}

/* Writes batch b: on the writer thread (or the worker when no thread could be made). */
static void seg__write(struct seg_import *im, struct seg_batch *b)
{
	struct seg_db *db = NULL;

	seg_log_set_request(im->r->request_id);
	b->err = seg_req_db_borrow(im->r, &db);
	if (b->err)
		return;
	if (!im->events && b->try_new) {
		b->err = seg_db_customers_insert_new(db, im->r->tenant, &b->new_rows);
		b->a = b->err ? 0 : b->nrows;
		b->conflicted = b->err == SEG_ERR_CONFLICT;
		if (b->err == SEG_ERR_INVALID) /* a value the database refused: the slow way */
			b->err = SEG_ERR_CONFLICT;
	}
	if (im->events || !b->try_new || b->err == SEG_ERR_CONFLICT)
		b->err = seg__store(im, db, &b->rows, &b->a, &b->b);
	if (b->err == SEG_ERR_INVALID)
		b->err = seg__store_rows(im, db, b);
	seg_req_db_return(im->r, db);
}

static void *seg__writer_main(void *arg)
{
	struct seg_batch *b = arg;
	seg__write(b->im, b);
	return NULL;
}

/* Waits for the oldest batch in writing and counts it. */
static enum seg_err seg__wait_oldest(struct seg_import *im)
{
	struct seg_batch *b = &im->batches[im->queue[0]];
	if (b->threaded)
		pthread_join(b->writer, NULL);
	b->writing = false;
	im->inflight--;
	memmove(im->queue, im->queue + 1, (size_t)im->inflight * sizeof(*im->queue));
	enum seg_err err = b->err;
	for (const char *p = b->refused.data; p && *p; p += strcspn(p, "\n") + 1)
		seg__reject(im, strtoull(p, NULL, 10),
			    "the database refused a value of this line (out of its range)");
	seg_buf_reset(&b->refused);
	if (im->events) {
		im->accepted += b->a;
		im->duplicates += b->b;
	} else {
		im->inserted += b->a;
		im->updated += b->b;
		if (b->conflicted)
			im->fast = false;
	}
	seg_buf_reset(&b->rows);
	seg_buf_reset(&b->new_rows);
	b->nrows = 0;
	b->new_ok = true;
	b->err = SEG_OK;
	b->a = b->b = 0;
	b->conflicted = false;
	if (b->ids)
		json_object_clear(b->ids);
	return err;
}

/*
 * Waits for every batch in writing, counting each; the first failure stops the import (the
 * others are still counted, so the message says what was stored).
 */
static enum seg_err seg__wait(struct seg_import *im)
{
	enum seg_err err = SEG_OK;
	while (im->inflight) {
		enum seg_err e = seg__wait_oldest(im);
		if (!err)
			err = e;
	}
	if (err)
		return seg_req_fail(
			im->r, err,
			"the import stopped at a database failure; %zu lines were stored "
			"before it and may be sent again safely",
			im->inserted + im->updated + im->accepted + im->duplicates);
	return SEG_OK;
}

/* Whether batch b holds an event id of a batch still in writing (which must apply first). */
static bool seg__ids_clash(struct seg_import *im, const struct seg_batch *b)
{
	const char *id;
	json_t *v;
	if (!b->ids)
		return false;
	for (int i = 0; i < im->inflight; i++)
		json_object_foreach(b->ids, id, v)
		{
			if (json_object_get(im->batches[im->queue[i]].ids, id))
				return true;
		}
	return false;
}

/* A batch neither in writing nor being filled. */
static int seg__free_batch(const struct seg_import *im)
{
	for (int i = 0; i < SEG_BATCHES; i++) {
		bool used = im->batches[i].writing;
		for (int l = 0; l < SEG_LANES && !used; l++)
			used = im->cur[l] == i;
		if (!used)
			return i;
	}
	return -1; /* cannot happen: lanes + writers < SEG_BATCHES */
}

/*
 * Hands the batch of a lane to a writer: at once when the import may write one more batch at a
 * time and no batch in writing must apply first; otherwise after waiting for those.
 */
static enum seg_err seg__flush(struct seg_import *im, int lane)
{
	struct seg_batch *b = &im->batches[im->cur[lane]];
	int max = im->events ? SEG_BATCHES - SEG_LANES : 1;
	enum seg_err err = SEG_OK;

	if (!b->nrows)
		return SEG_OK;
	while (im->inflight && !err && (im->inflight >= max || seg__ids_clash(im, b)))
		err = seg__wait_oldest(im);
	if (err) {
		seg__wait(im); /* count what the others stored */
		return seg_req_fail(
			im->r, err,
			"the import stopped at a database failure; %zu lines were stored "
			"before it and may be sent again safely",
			im->inserted + im->updated + im->accepted + im->duplicates);
	}
	b->try_new = !im->events && im->fast && b->new_ok;
	im->queue[im->inflight++] = im->cur[lane];
	b->writing = true;
	im->cur[lane] = seg__free_batch(im);
	json_object_clear(im->batch_ids);
	b->threaded = pthread_create(&b->writer, NULL, seg__writer_main, b) == 0;
	if (!b->threaded) /* no thread could be made: write it here; it is counted later */
		seg__write(im, b);
	return SEG_OK;
}

static enum seg_err seg__staged(struct seg_import *im, int lane)
{
	struct seg_batch *b = &im->batches[im->cur[lane]];
	b->nrows++;
	if (b->nrows >= SEG_BATCH_ROWS || b->rows.len >= SEG_BATCH_BYTES)
		return seg__flush(im, lane);
	return SEG_OK;
}

/*
 * The lane of an event: its customer's (so that batches written at once do not wait for each
 * other's row locks), unless its id is in the batch the other lane fills, whose line came
 * first and must win: then that lane. So two batches being filled never share an id, and a
 * batch in writing that shares one with a batch being filled holds the earlier line.
 */
static int seg__event_lane(const struct seg_import *im, const char *customer_id, const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)customer_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	int lane = (int)(h % SEG_LANES);
	for (int l = 0; id && l < SEG_LANES; l++)
		if (l != lane && json_object_get(im->batches[im->cur[l]].ids, id))
			return l;
	return lane;
}

/* Stages one customer; a repeated id first sends the batch, so lines apply in order. */
static enum seg_err seg__stage_customer(struct seg_import *im, size_t line, const char *id,
					const char *kind, const char *doc, size_t doc_len,
					bool flat, bool has_null)
{
	struct seg_batch *b;
	const char *attrs = "{}";
	size_t attrs_len = 2;

	if (json_object_get(im->batch_ids, id)) {
		enum seg_err err = seg__flush(im, 0);
		if (err)
			return err;
	}
	json_object_set_new(im->batch_ids, id, json_true());
	b = &im->batches[im->cur[0]];
	seg_customer_rows_add(&b->rows, line, id, kind, doc, doc_len, flat, has_null);
	if (im->fast && b->new_ok) {
		/* a new customer's attributes are the line's own, unless nulls must be dropped */
		if (has_null)
			b->new_ok = false;
		else {
			seg_json_member_span(doc, doc_len, "attributes", &attrs, &attrs_len);
			seg_customer_new_rows_add(&b->new_rows, im->r->tenant, id, kind, attrs,
						  attrs_len);
		}
	}
	return seg__staged(im, 0);
}

static void seg__reject_problem(struct seg_import *im, size_t line, struct seg_problem *p)
{
	struct seg_buf detail = SEG_BUF_INIT;
	seg_problem_first_line(p, &detail);
	if (p->count > 1)
		seg_buf_addf(&detail, " (and %zu more)", p->count - 1 + p->dropped);
	seg__reject(im, line, detail.data);
	seg_buf_release(&detail);
}

/*
 * Rejects the line when a number of its document could not be stored exactly (see
 * seg_json_numbers_check); column names the CSV column the document came from, or NULL.
 */
static bool seg__numbers_ok(struct seg_import *im, size_t line, const char *doc, size_t len,
			    const char *column)
{
	struct seg_buf pointer = SEG_BUF_INIT, msg = SEG_BUF_INIT;
	char detail[256];
	bool ok = seg_json_numbers_check(doc, len, &pointer, detail, sizeof(detail));
	if (!ok) {
		if (column)
			seg_buf_addf(&msg, "column \"%.64s\": %s", column, detail);
		else
			seg_buf_addf(&msg, "%s (at %s)", detail,
				     pointer.len ? pointer.data : "\"\"");
		seg__reject(im, line, msg.data);
	}
	seg_buf_release(&pointer);
	seg_buf_release(&msg);
	return ok;
}

static enum seg_err seg__ndjson_line(struct seg_import *im, const char *data, size_t len,
				     size_t line)
{
	struct seg_problem p;
	json_error_t error;
	enum seg_err err = SEG_OK;
	json_t *doc;

	doc = seg_json_load(data, len, &error);
	if (!doc) {
		char msg[256];
		if (json_error_code(&error) == json_error_numeric_overflow)
			snprintf(msg, sizeof(msg), "a number is too large (column %d)",
				 error.column);
		else
			snprintf(msg, sizeof(msg), "not valid JSON: %s (column %d)", error.text,
				 error.column);
		seg__reject(im, line, msg);
		return SEG_OK;
	}
	if (!seg__numbers_ok(im, line, data, len, NULL)) {
		json_decref(doc);
		return SEG_OK;
	}
	seg_problem_init(&p);
	if (im->events) {
		struct seg_event_doc ev;
		if (seg_event_check(doc, "", &p, &ev)) {
			seg__reject_problem(im, line, &p);
		} else {
			int lane = seg__event_lane(im, ev.customer_id, ev.id);
			struct seg_batch *b = &im->batches[im->cur[lane]];
			seg_event_rows_add(&b->rows, line, ev.id, ev.customer_id, ev.type,
					   ev.occurred_at, data, len);
			if (ev.id)
				json_object_set_new(b->ids, ev.id, json_true());
			err = seg__staged(im, lane);
		}
	} else {
		struct seg_customer_doc c;
		if (seg_customer_doc_check(doc, SEG_DOC_IMPORT, &im->catalog, "", &p, &c))
			seg__reject_problem(im, line, &p);
		else
			err = seg__stage_customer(im, line, c.id, c.kind, data, len, c.flat,
						  c.has_null);
	}
	seg_problem_release(&p);
	json_decref(doc);
	return err;
}

/* libcsv callbacks: collect the fields of one record. */
static void seg__csv_field(void *s, size_t len, void *ctx)
{
	struct seg_import *im = ctx;
	if (im->nfields == im->fields_cap) {
		if (im->fields_cap >= 4096) {
			im->too_many_fields = true;
			return;
		}
		size_t cap = im->fields_cap ? im->fields_cap * 2 : 16;
		im->fields = seg_realloc(im->fields, cap * sizeof(*im->fields));
		for (size_t i = im->fields_cap; i < cap; i++)
			seg_buf_init(&im->fields[i]);
		im->fields_cap = cap;
	}
	seg_buf_reset(&im->fields[im->nfields]);
	seg_buf_add(&im->fields[im->nfields], s ? s : "", s ? len : 0);
	im->nfields++;
}

static void seg__csv_row(int c, void *ctx)
{
	(void)c;
	(void)ctx;
}

/* Splits one CSV record into im->fields; false (with why) when it is malformed. */
static bool seg__csv_split(struct seg_import *im, const char *data, size_t len, const char **why)
{
	im->nfields = 0;
	im->too_many_fields = false;
	if (csv_parse(&im->parser, data, len, seg__csv_field, seg__csv_row, im) != len ||
	    csv_fini(&im->parser, seg__csv_field, seg__csv_row, im) != 0) {
		*why = csv_strerror(csv_error(&im->parser));
		csv_fini(&im->parser, NULL, NULL, NULL);
		return false;
	}
	if (im->too_many_fields) {
		*why = "more than 4096 fields";
		return false;
	}
	for (size_t i = 0; i < im->nfields; i++) {
		if (!seg_utf8_valid(im->fields[i].data, im->fields[i].len) ||
		    memchr(im->fields[i].data, '\0', im->fields[i].len)) {
			*why = "a field is not valid UTF-8 text";
			return false;
		}
	}
	return true;
}

static enum seg_err seg__csv_header(struct seg_import *im)
{
	im->id_column = -1;
	im->ncolumns = im->nfields;
	im->columns = seg_calloc(im->nfields, sizeof(char *));
	im->defs = seg_calloc(im->nfields, sizeof(*im->defs));
	for (size_t i = 0; i < im->nfields; i++) {
		const char *name = im->fields[i].data;
		im->columns[i] = seg_strdup(name);
		if (!name[0])
			return seg_req_invalid(im->r, "", "line 1: column %zu has no name", i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(im->columns[j], name) == 0)
				return seg_req_invalid(im->r, "",
						       "line 1: column \"%s\" appears twice", name);
		if (strcmp(name, "id") == 0)
			im->id_column = (int)i;
		else
			im->defs[i] = seg_attr_catalog_find(&im->catalog, name);
	}
	if (im->id_column < 0)
		return seg_req_invalid(im->r, "", "line 1: the header has no \"id\" column");
	return SEG_OK;
}

static enum seg_err seg__csv_line(struct seg_import *im, const char *data, size_t len, size_t line)
{
	struct seg_buf doc = SEG_BUF_INIT;
	const char *why = NULL;
	char cellwhy[256];
	enum seg_err err = SEG_OK;
	bool first = true;

	if (!seg__csv_split(im, data, len, &why)) {
		if (line == 1 || !im->columns)
			return seg_req_invalid(im->r, "", "line 1: the header is not valid CSV: %s",
					       why);
		im->received++;
		seg__reject(im, line, why);
		return SEG_OK;
	}
	if (!im->columns)
		return seg__csv_header(im);
	im->received++;
	if (im->nfields != im->ncolumns) {
		char msg[128];
		snprintf(msg, sizeof(msg), "expected %zu fields as in the header, got %zu",
			 im->ncolumns, im->nfields);
		seg__reject(im, line, msg);
		return SEG_OK;
	}
	const char *id = im->fields[im->id_column].data;
	if (!seg_customer_id_valid(id)) {
		seg__reject(im, line, "id must be 1 to 128 bytes of printable UTF-8");
		return SEG_OK;
	}
	seg_buf_addstr(&doc, "{\"attributes\":{");
	for (size_t i = 0; i < im->ncolumns; i++) {
		if ((int)i == im->id_column || im->fields[i].len == 0)
			continue;
		if (!first)
			seg_buf_addch(&doc, ',');
		first = false;
		seg_buf_add_json_string(&doc, im->columns[i], strlen(im->columns[i]));
		seg_buf_addch(&doc, ':');
		size_t cell = doc.len;
		if (!seg_attr_cell_to_json(im->defs[i], im->fields[i].data, im->fields[i].len, &doc,
					   cellwhy, sizeof(cellwhy))) {
			char msg[400];
			snprintf(msg, sizeof(msg), "column \"%.64s\": %s", im->columns[i], cellwhy);
			seg__reject(im, line, msg);
			goto out;
		}
		if (!seg__numbers_ok(im, line, doc.data + cell, doc.len - cell, im->columns[i]))
			goto out;
	}
	seg_buf_addstr(&doc, "}}");
	if (seg__numbers_ok(im, line, doc.data, doc.len, NULL)) /* the growth of them all */
		err = seg__stage_customer(im, line, id, NULL, doc.data, doc.len, true, false);
out:
	seg_buf_release(&doc);
	return err;
}

static int seg__on_record(void *ctx, const char *data, size_t len, size_t number, bool overlong)
{
	struct seg_import *im = ctx;
	enum seg_err err;

	if (overlong) {
		if (im->csv && !im->columns) {
			seg_req_invalid(im->r, "", "line 1: the header is longer than 1 MiB");
			return SEG_ERR_INVALID;
		}
		im->received++;
		seg__reject(im, number, "the line is longer than 1 MiB");
		return 0;
	}
	if (len == 0 || strspn(data, " \t") >= len)
		return 0; /* blank lines are skipped */
	if (im->csv)
		return (int)seg__csv_line(im, data, len, number);
	im->received++;
	err = seg__ndjson_line(im, data, len, number);
	return (int)err;
}

static enum seg_err seg__begin(struct seg_req *r, bool events)
{
	static const char *const customer_params[] = {"mode", NULL};
	static const char *const event_params[] = {NULL};
	struct seg_import *im;
	struct seg_db *db;
	enum seg_err err = seg_req_check_query(r, events ? event_params : customer_params);
	const char *mode = events ? NULL : seg_req_query(r, "mode", &err);

	if (err)
		return err;
	if (mode && strcmp(mode, "merge") && strcmp(mode, "replace")) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "mode", 0,
				"mode must be merge or replace, got \"%s\"", mode);
		return SEG_ERR_MALFORMED;
	}
	im = seg_calloc(1, sizeof(*im));
	r->stream = im;
	r->stream_free = seg__import_free;
	im->r = r;
	im->events = events;
	im->csv = strcmp(r->content_type, "text/csv") == 0;
	im->replace = mode && strcmp(mode, "replace") == 0;
	im->batch_ids = json_object();
	seg_lines_init(&im->lines, SEG_MAX_LINE, im->csv);
	seg_attr_catalog_init(&im->catalog);
	for (int i = 0; i < SEG_BATCHES; i++) {
		struct seg_batch *b = &im->batches[i];
		b->im = im;
		seg_buf_init(&b->rows);
		seg_buf_init(&b->new_rows);
		seg_buf_init(&b->refused);
		b->new_ok = true;
		if (events)
			b->ids = json_object();
	}
	for (int l = 0; l < SEG_LANES; l++)
		im->cur[l] = events || l == 0 ? l : -1; /* customers fill one lane */
	im->fast = !events;
	seg_buf_init(&im->errors);
	if (im->csv) {
		csv_init(&im->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
		im->parser_ready = true;
	}
	/* Borrowing a connection now answers 503 before the body is read if the database is down.
	 */
	err = seg_req_db(r, &db);
	if (!err && !events)
		err = seg_db_attr_catalog(db, r->tenant, &im->catalog);
	seg_req_db_release(r);
	return err;
}

static enum seg_err seg__data(struct seg_req *r, const char *data, size_t len)
{
	struct seg_import *im = r->stream;
	return (enum seg_err)seg_lines_feed(&im->lines, data, len, seg__on_record, im);
}

static enum seg_err seg__end(struct seg_req *r)
{
	struct seg_import *im = r->stream;
	struct seg_buf out = SEG_BUF_INIT;
	enum seg_err err = (enum seg_err)seg_lines_finish(&im->lines, seg__on_record, im);

	for (int lane = 0; lane < (im->events ? SEG_LANES : 1) && !err; lane++)
		err = seg__flush(im, lane);
	if (!err)
		err = seg__wait(im);
	if (err)
		return err;
	if (im->events)
		seg_buf_addf(
			&out,
			"{\"received\":%zu,\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":%zu,"
			"\"errors\":[",
			im->received, im->accepted, im->duplicates, im->rejected);
	else
		seg_buf_addf(&out,
			     "{\"received\":%zu,\"inserted\":%zu,\"updated\":%zu,\"rejected\":%zu,"
			     "\"errors\":[",
			     im->received, im->inserted, im->updated, im->rejected);
	seg_buf_add(&out, im->errors.data, im->errors.len);
	seg_buf_addstr(&out, "]}");
	seg_req_reply_json_take(r, 200, seg_buf_detach(&out, NULL));
	return SEG_OK;
}

static enum seg_err seg__begin_customers(struct seg_req *r)
{
	return seg__begin(r, false);
}

static enum seg_err seg__begin_events(struct seg_req *r)
{
	return seg__begin(r, true);
}

const struct seg_stream_ops seg_customers_import_ops = {seg__begin_customers, seg__data, seg__end};
const struct seg_stream_ops seg_events_import_ops = {seg__begin_events, seg__data, seg__end};
