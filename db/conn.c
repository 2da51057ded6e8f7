/*
 * One PostgreSQL connection and every wait on it. libpq is used asynchronously only: the
 * connection is made with PQconnectStartParams + PQconnectPoll and then put in non-blocking
 * mode; a request is sent with PQsendQueryParams / PQsendPrepare / PQsendQueryPrepared /
 * PQsendQuery, flushed with PQflush while poll() waits for the socket to be writable, and its
 * results are collected with poll() + PQconsumeInput + PQisBusy until PQgetResult returns NULL.
 * Every poll() lasts at most SEG__SLICE_MS, so a wait notices promptly both its deadline and
 * the watchdog declaring the database down. A frozen or unreachable server therefore costs a
 * caller its deadline or the watchdog's verdict, whichever comes first, never more: the
 * server's own statement_timeout cannot fire when the server is frozen.
 *
 * Threads: a struct seg_db is used by one thread at a time; of the pool's shared state, only
 * the atomics down, down_gen and stopping are read here.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

/* The longest single poll(): how late a wait may notice its deadline. */
#define SEG__SLICE_MS 100
/* COPY data is handed to libpq in pieces of this size, each flushed before the next. */
#define SEG__COPY_CHUNK (256 * 1024)

struct seg__conn_name seg__conn_name(const struct seg_db *db)
{
	struct seg__conn_name n;
	if (db->slot < 0)
		snprintf(n.text, sizeof(n.text), "watchdog");
	else
		snprintf(n.text, sizeof(n.text), "slot %d", db->slot);
	return n;
}

int64_t seg__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void seg__wait_start(struct seg__wait *w, const struct seg_db *db, int timeout_ms)
{
	w->start_ms = seg__now_ms();
	w->deadline_ms = timeout_ms > 0 ? w->start_ms + timeout_ms : 0;
	w->gen = __atomic_load_n(&db->pool->down_gen, __ATOMIC_SEQ_CST);
	w->was_down = __atomic_load_n(&db->pool->down, __ATOMIC_SEQ_CST);
}

/* Whether w must end now: its deadline passed, or the watchdog says to give up. */
static enum seg__end seg__wait_over(const struct seg_db *db, const struct seg__wait *w, int64_t now)
{
	struct seg_pool *pool = db->pool;

	if (w->deadline_ms && now >= w->deadline_ms)
		return SEG__END_EXPIRED;
	if (db->slot < 0)
		return __atomic_load_n(&pool->stopping, __ATOMIC_SEQ_CST) ? SEG__END_DOWN
									  : SEG__END_DONE;
	if (w->was_down || __atomic_load_n(&pool->down_gen, __ATOMIC_SEQ_CST) != w->gen ||
	    __atomic_load_n(&pool->interrupted, __ATOMIC_SEQ_CST))
		return SEG__END_DOWN;
	return SEG__END_DONE;
}

char *seg__one_line(const char *msg)
{
	char *line = seg_strdup(msg), *out = line;

	for (const char *p = line; *p; p++) {
		if (*p != '\n' && *p != '\t' && *p != '\r')
			*out++ = *p;
		else if (out > line && out[-1] != ' ')
			*out++ = ' ';
	}
	while (out > line && out[-1] == ' ')
		out--;
	*out = '\0';
	return line;
}

/*
 * libpq's notice processor on every connection: server notices and warnings (and libpq's own)
 * go to our log at warn level, on one line, instead of to stderr.
 */
static void seg__conn_notice(void *arg, const char *message)
{
	char *msg = seg__one_line(message);

	(void)arg;
	seg_warn("database notice: %s", msg);
	free(msg);
}

/*
 * Waits until db's socket is ready for events (or has an error), or the wait must end.
 * SEG__END_DONE means ready or, with each_slice, also that a slice passed: then the caller
 * reads anyway, because libpq 15's asynchronous reads can leave decrypted bytes of a TLS record
 * over 8 kB inside OpenSSL, where poll() cannot see them (PostgreSQL itself never sends such
 * records; some servers and proxies speaking its protocol do).
 */
static enum seg__end seg__conn_poll(struct seg_db *db, short events, const struct seg__wait *w,
				    bool each_slice)
{
	for (;;) {
		int64_t now = seg__now_ms();
		int slice = SEG__SLICE_MS;
		struct pollfd p = {.fd = PQsocket(db->conn), .events = events};
		enum seg__end over = seg__wait_over(db, w, now);

		if (over != SEG__END_DONE)
			return over;
		if (w->deadline_ms && w->deadline_ms - now < slice)
			slice = (int)(w->deadline_ms - now);
		if (p.fd < 0)
			return SEG__END_LOST;
		int rc = poll(&p, 1, slice);
		if (rc > 0 || (rc == 0 && each_slice))
			return SEG__END_DONE;
		if (rc < 0 && errno != EINTR)
			return SEG__END_LOST;
	}
}

/* Sends what libpq has queued; reads whatever arrives meanwhile (notices, an early error). */
static enum seg__end seg__conn_flush(struct seg_db *db, const struct seg__wait *w)
{
	for (;;) {
		int rc = PQflush(db->conn);
		if (rc == 0)
			return SEG__END_DONE;
		if (rc < 0)
			return SEG__END_LOST;
		enum seg__end end = seg__conn_poll(db, POLLIN | POLLOUT, w, false);
		if (end != SEG__END_DONE)
			return end;
		if (!PQconsumeInput(db->conn))
			return SEG__END_LOST;
	}
}

static bool seg__failed(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	return st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR || st == PGRES_FATAL_ERROR;
}

/* Collects results until PQgetResult returns NULL or a COPY begins. */
static enum seg__end seg__conn_collect(struct seg_db *db, const struct seg__wait *w, PGresult **out)
{
	PGresult *keep = NULL, *res;
	enum seg__end end = SEG__END_DONE;

	for (;;) {
		while (PQisBusy(db->conn)) {
			end = seg__conn_poll(db, POLLIN, w, true);
			if (end != SEG__END_DONE)
				goto out;
			/* PQisBusy turns false when the connection broke: PQgetResult says why */
			if (!PQconsumeInput(db->conn) && PQisBusy(db->conn)) {
				end = SEG__END_LOST;
				goto out;
			}
		}
		res = PQgetResult(db->conn);
		if (!res)
			break;
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
			PQclear(keep);
			keep = res;
			break;
		}
		if (keep && seg__failed(keep)) {
			PQclear(res); /* the first failure is the one that counts */
		} else {
			PQclear(keep);
			keep = res;
		}
	}
	end = PQstatus(db->conn) == CONNECTION_OK ? SEG__END_DONE : SEG__END_LOST;
out:
	if (end == SEG__END_EXPIRED || end == SEG__END_DOWN) {
		PQclear(keep);
		keep = NULL;
	}
	*out = keep;
	return end;
}

enum seg__end seg__conn_roundtrip(struct seg_db *db, const struct seg__req *req,
				  const struct seg__wait *w, PGresult **out)
{
	PGconn *c = db->conn;
	enum seg__end end;
	int sent = 0;

	*out = NULL;
	end = seg__wait_over(db, w, seg__now_ms());
	if (end != SEG__END_DONE)
		return end; /* nothing sent: a frozen server would not answer it */
	switch (req->kind) {
	case SEG__REQ_QUERY:
		sent = PQsendQueryParams(c, req->sql, req->n, NULL, req->params, NULL, NULL,
					 db->binary ? 1 : 0);
		break;
	case SEG__REQ_PREPARE: sent = PQsendPrepare(c, req->name, req->sql, 0, NULL); break;
	case SEG__REQ_PREPARED:
		sent = PQsendQueryPrepared(c, req->name, req->n, req->params, NULL, NULL, 0);
		break;
	case SEG__REQ_SCRIPT: sent = PQsendQuery(c, req->sql); break;
	}
	if (!sent)
		return SEG__END_LOST;
	end = seg__conn_flush(db, w);
	if (end != SEG__END_DONE)
		return end;
	return seg__conn_collect(db, w, out);
}

/* Calls put (PQputCopyData or PQputCopyEnd) until libpq takes it, then sends it. */
static enum seg__end seg__conn_put(struct seg_db *db, const char *data, int len, bool end_copy,
				   const struct seg__wait *w)
{
	for (;;) {
		int rc = end_copy ? PQputCopyEnd(db->conn, NULL)
				  : PQputCopyData(db->conn, data, len);
		if (rc < 0)
			return SEG__END_LOST;
		if (rc == 1)
			return seg__conn_flush(db, w);
		/* 0: no room in non-blocking mode; wait until the socket takes more */
		enum seg__end end = seg__conn_poll(db, POLLIN | POLLOUT, w, false);
		if (end == SEG__END_DONE)
			end = seg__conn_flush(db, w);
		if (end != SEG__END_DONE)
			return end;
	}
}

enum seg__end seg__conn_copy(struct seg_db *db, const char *data, size_t len,
			     const struct seg__wait *w, PGresult **out)
{
	enum seg__end end = SEG__END_DONE;

	*out = NULL;
	while (len > 0 && end == SEG__END_DONE) {
		int chunk = len > SEG__COPY_CHUNK ? SEG__COPY_CHUNK : (int)len;
		end = seg__conn_put(db, data, chunk, false, w);
		data += chunk;
		len -= (size_t)chunk;
	}
	if (end == SEG__END_DONE)
		end = seg__conn_put(db, NULL, 0, true, w);
	if (end == SEG__END_DONE)
		end = seg__conn_collect(db, w, out);
	return end;
}

/*
 * Whether a connection attempt that failed in status st (PQstatus before the PQconnectPoll
 * call that failed) had been answered by the server: it had accepted the connection and
 * received our startup or SSL request, so the failure is its error message or its closing
 * the connection. A refused connection fails in CONNECTION_STARTED; a silent (frozen) server
 * never fails, it lets the deadline pass.
 */
static bool seg__answered(ConnStatusType st)
{
	return st != CONNECTION_STARTED && st != CONNECTION_MADE && st != CONNECTION_NEEDED &&
	       st != CONNECTION_BAD && st != CONNECTION_OK;
}

enum seg__end seg__conn_open(struct seg_db *db, const char *conninfo, const char *app,
			     const char *setup, const struct seg__wait *w, bool *answered,
			     char **why)
{
	/* dbname comes first, so that our keepalive parameters override the user's conninfo */
	const char *keys[] = {"dbname",
			      "application_name",
			      "keepalives",
			      "keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      "tcp_user_timeout",
			      NULL};
	const char *vals[] = {conninfo, app, "1", "5", "2", "3", "10000", NULL};
	int skip = conninfo[0] ? 0 : 1; /* no conninfo: libpq's PG* variables */
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	enum seg__end end = SEG__END_LOST;
	PGresult *res = NULL;

	*why = NULL;
	*answered = false;
	end = seg__wait_over(db, w, seg__now_ms());
	if (end != SEG__END_DONE)
		goto out;
	end = SEG__END_LOST;
	db->conn = PQconnectStartParams(keys + skip, vals + skip, 1);
	if (!db->conn)
		goto out;
	PQsetNoticeProcessor(db->conn, seg__conn_notice, NULL);
	if (PQstatus(db->conn) == CONNECTION_BAD)
		goto out;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			end = SEG__END_LOST;
			goto out;
		}
		end = seg__conn_poll(db, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, w, false);
		if (end != SEG__END_DONE)
			goto out;
		ConnStatusType before = PQstatus(db->conn);
		st = PQconnectPoll(db->conn);
		if (st == PGRES_POLLING_FAILED && seg__answered(before))
			*answered = true;
	}
	if (PQsetnonblocking(db->conn, 1) != 0) {
		end = SEG__END_LOST;
		goto out;
	}
	db->pid = PQbackendPID(db->conn);
	*answered = true;
	end = seg__conn_roundtrip(db, &(struct seg__req){.kind = SEG__REQ_SCRIPT, .sql = setup}, w,
				  &res);
	if (end == SEG__END_DONE && PQresultStatus(res) != PGRES_COMMAND_OK)
		end = SEG__END_LOST;
	if (end == SEG__END_DONE)
		seg_debug("database connection opened: %s, backend pid %d, in %lld ms",
			  seg__conn_name(db).text, db->pid,
			  (long long)(seg__now_ms() - w->start_ms));
out:
	if (end != SEG__END_DONE) {
		if (end != SEG__END_LOST)
			*answered = false; /* silence until the deadline is no answer */
		if (end == SEG__END_EXPIRED) {
			char text[64];
			snprintf(text, sizeof(text), "no answer within %lld ms",
				 (long long)(seg__now_ms() - w->start_ms));
			*why = seg_strdup(text);
		} else if (end == SEG__END_DOWN) {
			*why = seg_strdup(db->slot < 0 ? "the pool is closing"
						       : "the database is down");
		} else if (res && PQresultErrorMessage(res)[0])
			*why = seg__one_line(PQresultErrorMessage(res));
		else
			*why = seg__one_line(db->conn ? PQerrorMessage(db->conn) : "out of memory");
		PQfinish(db->conn);
		db->conn = NULL;
		db->pid = 0;
	}
	PQclear(res);
	return end;
}

void seg__conn_close(struct seg_db *db, const char *why)
{
	seg_debug("database connection closed: %s, backend pid %d: %s", seg__conn_name(db).text,
		  db->pid, why);
	PQfinish(db->conn);
	db->conn = NULL;
	db->pid = 0;
	if (db->in_tx)
		db->in_tx = 2;
	memset(db->prepared, 0, sizeof(db->prepared));
	db->nsteps = 0; /* the membership steps prepared on it (db/members.c) */
}
