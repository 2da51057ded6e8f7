/*
 * The change feed (SPEC §5.4, db/README.md "Memberships"): membership changes in (xid, seq)
 * order, where xid is the writing transaction's id. A page holds only changes of transactions
 * older than the reading statement's snapshot xmin, which have all ended, so no change can
 * later appear before a cursor handed out: a client that follows next_cursor misses none and
 * sees none twice. The cursor is the text "<xid>-<seq>".
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

SEG_STMT(changes_page,
	 "SELECT json_build_object('cursor', ch.xid::text || '-' || ch.seq::text, "
	 "'segment_id', ch.segment_id::text, 'customer_id', ch.customer_id, "
	 "'change', ch.change, 'at', seg_ts(ch.at))::text, ch.xid::text || '-' || ch.seq::text "
	 "FROM changes ch WHERE ch.tenant_id = $1 AND (ch.xid, ch.seq) > ($2::xid8, $3::bigint) "
	 "AND ch.xid < pg_snapshot_xmin(pg_current_snapshot()) "
	 "AND ($4::bigint IS NULL OR ch.segment_id = $4::bigint) "
	 "ORDER BY ch.xid, ch.seq LIMIT $5");

/* One unsigned decimal number of 1 to 19 digits at *p, which is advanced past it. */
static bool seg__number(const char **p, unsigned long long max, unsigned long long *out)
{
	size_t n = strspn(*p, "0123456789");
	char *end;
	if (n < 1 || n > 19 || (n > 1 && **p == '0'))
		return false;
	errno = 0;
	*out = strtoull(*p, &end, 10);
	if (errno || end != *p + n || *out > max)
		return false;
	*p = end;
	return true;
}

bool seg_change_cursor_parse(const char *text, uint64_t *xid, int64_t *seq)
{
	const char *p = text;
	unsigned long long x, s;
	if (!p || !seg__number(&p, UINT64_MAX, &x) || *p++ != '-' ||
	    !seg__number(&p, INT64_MAX, &s) || *p)
		return false;
	*xid = x;
	*seq = (int64_t)s;
	return true;
}

enum seg_err seg_db_changes(struct seg_db *db, int64_t tenant, uint64_t xid, int64_t seq,
			    int64_t segment, int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], x[SEG_INT_TEXT], s[SEG_INT_TEXT], sid[SEG_INT_TEXT],
		lim[SEG_INT_TEXT];
	snprintf(x, sizeof(x), "%llu", (unsigned long long)xid);
	const char *params[] = {seg__db_int(tid, tenant), x, seg__db_int(s, seq),
				segment ? seg__db_int(sid, segment) : NULL,
				seg__db_int(lim, limit)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &changes_page, 5, params, &res);
	if (err)
		return err;
	int rows = PQntuples(res);
	seg__db_page_fill(page, res, limit);
	free(page->next_key);
	page->next_key = rows ? seg__db_strdup(res, rows - 1, 1) : NULL;
	PQclear(res);
	return SEG_OK;
}
