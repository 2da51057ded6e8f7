/*
 * The HTTP connections of the process, as segmentd keeps them apart from libmicrohttpd's own
 * books: how many are open in all and per client address (limits that hold for the whole
 * process, whichever HTTP thread accepted a connection), and the deadline each one must meet
 * in its present phase. A reaper (a libuv timer on the main thread) closes the connections
 * that missed theirs.
 *
 * Phases and their deadlines:
 *   WAIT     between requests: the next request must start within the idle timeout (an
 *            absolute deadline: dribbling bytes does not extend it);
 *   HEADERS  the request line has arrived: the headers must be complete within the header
 *            timeout;
 *   BODY     the body must deliver at least SEG_CONN_BODY_QUANTUM bytes, or end, in every
 *            period of the body timeout;
 *   BUSY     a handler runs or the response is being sent: no deadline of ours (handlers are
 *            bounded by the database deadlines, slow readers by libmicrohttpd's idle timeout).
 *
 * Closing a connection from the reaper is shutdown(2) of its socket under the registry lock;
 * the socket's own HTTP thread then sees the end of the stream and closes it the usual way.
 * The registry entry is removed (under the same lock) before libmicrohttpd closes the
 * descriptor, so the reaper never touches a descriptor that was reused.
 *
 * Threads: seg_conns_admit runs on the HTTP thread that accepts; open/close/phase/progress on
 * the HTTP thread that owns the connection; seg_conns_reap on the main thread.
 */
#ifndef SEG_CONNS_H
#define SEG_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"

#define SEG_CONN_BODY_QUANTUM 1024

enum seg_conn_phase { SEG_CONN_WAIT, SEG_CONN_HEADERS, SEG_CONN_BODY, SEG_CONN_BUSY };

struct seg_conns_config {
	int max_total;
	int max_per_address;
	int idle_timeout_ms, header_timeout_ms, body_timeout_ms;
};

struct seg_conns;
struct seg_conn;

struct seg_conns *seg_conns_new(const struct seg_conns_config *cfg);
void seg_conns_free(struct seg_conns *c);

/* Whether a new connection from addr may be accepted (both limits). Counts refusals. */
bool seg_conns_admit(struct seg_conns *c, const struct sockaddr *addr, socklen_t len);
/* Registers an accepted connection (phase WAIT). */
struct seg_conn *seg_conns_open(struct seg_conns *c, int fd, const struct sockaddr *addr);
/* Unregisters it; called before its descriptor is closed. */
void seg_conns_close(struct seg_conns *c, struct seg_conn *conn);

/* Enters a phase; its deadline starts now. */
void seg_conn_phase(struct seg_conns *c, struct seg_conn *conn, enum seg_conn_phase phase);
/* n more body bytes arrived. */
void seg_conn_body_progress(struct seg_conns *c, struct seg_conn *conn, size_t n);
/* Whether the reaper cut conn (it missed a deadline, or the server is stopping). */
bool seg_conn_cut(struct seg_conns *c, const struct seg_conn *conn);
/* The client address as text ("127.0.0.1", "::1"); borrowed, lives as long as conn. */
const char *seg_conn_address(const struct seg_conn *conn);

/*
 * Closes the connections past their deadline; with idle_ms >= 0 (while stopping), also every
 * connection that has waited that long for its next request. Returns the number of
 * connections still open.
 */
int seg_conns_reap(struct seg_conns *c, int idle_ms);
/* Shuts down every connection that is not BUSY (the end of a shutdown). */
void seg_conns_close_all(struct seg_conns *c);
/* Prometheus lines: open connections, refusals and timeouts by phase. */
void seg_conns_metrics(struct seg_conns *c, struct seg_buf *out);

#endif
