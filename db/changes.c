/*
 * The change feed (SPEC §5.4, db/README.md "Memberships"): membership changes in cursor order.
 * Cursors are handed out in commit order under the tenant's counter row lock
 * (SEG__CHANGES_RECORD), so the committed ones are always a prefix: a client that follows
 * next_cursor misses none and sees none twice. The cursor is a decimal number, as text.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

SEG_STMT(changes_page, "SELECT json_build_object('cursor', ch.cursor::text, "
		       "'segment_id', ch.segment_id::text, 'customer_id', ch.customer_id, "
		       "'change', ch.change, 'at', seg_ts(ch.at))::text, ch.cursor::text "
		       "FROM changes ch WHERE ch.tenant_id = $1 AND ch.cursor > $2::bigint "
		       "AND ($3::bigint IS NULL OR ch.segment_id = $3::bigint) "
		       "ORDER BY ch.cursor LIMIT $4");

bool seg_change_cursor_parse(const char *text, int64_t *cursor)
{
	size_t n = text ? strspn(text, "0123456789") : 0;
	char *end;
	long long v;
	if (n < 1 || n > 18 || text[n] || (n > 1 && text[0] == '0'))
		return false;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || *end)
		return false;
	*cursor = v;
	return true;
}

enum seg_err seg_db_changes(struct seg_db *db, int64_t tenant, int64_t cursor, int64_t segment,
			    int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], c[SEG_INT_TEXT], sid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(c, cursor),
				segment ? seg__db_int(sid, segment) : NULL,
				seg__db_int(lim, limit)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &changes_page, 4, params, &res);
	if (err)
		return err;
	int rows = PQntuples(res);
	seg__db_page_fill(page, res, limit);
	free(page->next_key);
	page->next_key = rows ? seg__db_strdup(res, rows - 1, 1) : NULL;
	PQclear(res);
	return SEG_OK;
}
