/*
 * Streamed CSV exports (segment members, scheme assignments, an analysis's customers): a
 * header line, then batches of SEG_CSV_BATCH lines in customer id order (keyset pagination),
 * each made by a db function on a request worker with a connection of its own, until a batch
 * comes back short. Memory stays flat whatever the size (server/request.h, streamed replies).
 * One implementation for every export.
 */
#ifndef SEG_CSVEXPORT_H
#define SEG_CSVEXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "request.h"

#define SEG_CSV_BATCH 10000

/*
 * One batch: appends up to limit lines of object id of tenant after after_key (NULL: from the
 * start) to out; arg is the export's own argument (NULL: none); *last the last customer id
 * written (malloc'ed, NULL when none), *rows the lines (seg_db_segment_members_csv).
 */
typedef enum seg_err (*seg_csv_batch_fn)(struct seg_db *db, int64_t tenant, int64_t id,
					 const char *after_key, const char *arg, int limit,
					 struct seg_buf *out, char **last, size_t *rows);

/*
 * Answers 200 text/csv as an attachment named filename: header (a complete line, "\r\n"
 * included), then the batches of batch for object id. Takes arg (malloc'ed or NULL). Request
 * workers (a handler), once the object was found.
 */
void seg_csv_export(struct seg_req *r, const char *filename, const char *header, int64_t id,
		    seg_csv_batch_fn batch, char *arg);

/* Whether the client asks for CSV (its Accept names text/csv). */
bool seg_csv_wanted(struct seg_req *r);

/* Appends a CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
void seg_csv_field(struct seg_buf *out, const char *s, size_t n);

#endif
