/*
 * The connection registry: per-address and total counts for the accept policy, phase
 * deadlines, and the reaper that enforces them. See conns.h.
 */
#include "conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

#define SEG__BUCKETS 1024

struct seg__addr {
	unsigned char key[16];
	int len;
	int count;
	struct seg__addr *next;
};

struct seg_conn {
	struct seg_conn *prev, *next;
	int fd;
	unsigned char key[16];
	int key_len;
	char text[INET6_ADDRSTRLEN];
	int phase;	     /* enum seg_conn_phase; atomic */
	int64_t deadline_ms; /* 0: none; atomic */
	int64_t since_ms;    /* when the phase began; atomic */
	bool shut;	     /* shut down by the reaper (under the lock) */
	size_t window_bytes; /* body bytes since the deadline last moved; its HTTP thread's */
};

struct seg_conns {
	pthread_mutex_t lock;
	struct seg_conns_config cfg;
	struct seg__addr *buckets[SEG__BUCKETS];
	struct seg_conn *head;
	int open;
	/* counters for /metrics (under the lock) */
	uint64_t refused_total, refused_address, timed_out[4];
};

static int64_t seg__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The address bytes that identify a client: IPv4 (also when mapped into IPv6) or IPv6. */
static int seg__key(const struct sockaddr *addr, unsigned char key[16])
{
	if (addr && addr->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		return 4;
	}
	if (addr && addr->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(key, a6->s6_addr + 12, 4);
			return 4;
		}
		memcpy(key, a6->s6_addr, 16);
		return 16;
	}
	memset(key, 0, 16);
	return 0;
}

static unsigned seg__hash(const unsigned char *key, int len)
{
	unsigned h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % SEG__BUCKETS;
}

/* The entry of an address, created when create is set. Under the lock. */
static struct seg__addr *seg__find(struct seg_conns *c, const unsigned char *key, int len,
				   bool create)
{
	struct seg__addr **p = &c->buckets[seg__hash(key, len)];
	for (struct seg__addr *a = *p; a; a = a->next)
		if (a->len == len && memcmp(a->key, key, (size_t)len) == 0)
			return a;
	if (!create)
		return NULL;
	struct seg__addr *a = seg_calloc(1, sizeof(*a));
	memcpy(a->key, key, (size_t)len);
	a->len = len;
	a->next = *p;
	*p = a;
	return a;
}

static void seg__forget(struct seg_conns *c, const unsigned char *key, int len)
{
	struct seg__addr **p = &c->buckets[seg__hash(key, len)];
	for (; *p; p = &(*p)->next) {
		struct seg__addr *a = *p;
		if (a->len == len && memcmp(a->key, key, (size_t)len) == 0) {
			if (--a->count <= 0) {
				*p = a->next;
				free(a);
			}
			return;
		}
	}
}

struct seg_conns *seg_conns_new(const struct seg_conns_config *cfg)
{
	struct seg_conns *c = seg_calloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->cfg = *cfg;
	return c;
}

void seg_conns_free(struct seg_conns *c)
{
	if (!c)
		return;
	for (int i = 0; i < SEG__BUCKETS; i++) {
		struct seg__addr *a = c->buckets[i];
		while (a) {
			struct seg__addr *next = a->next;
			free(a);
			a = next;
		}
	}
	while (c->head) {
		struct seg_conn *next = c->head->next;
		free(c->head);
		c->head = next;
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool seg_conns_admit(struct seg_conns *c, const struct sockaddr *addr, socklen_t len)
{
	unsigned char key[16];
	int klen = seg__key(len ? addr : NULL, key);
	bool ok = true;

	pthread_mutex_lock(&c->lock);
	if (c->open >= c->cfg.max_total) {
		c->refused_total++;
		ok = false;
	} else {
		struct seg__addr *a = seg__find(c, key, klen, false);
		if (a && a->count >= c->cfg.max_per_address) {
			c->refused_address++;
			ok = false;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static void seg__set_deadline(struct seg_conns *c, struct seg_conn *conn, int phase, int64_t now)
{
	int64_t d = 0;
	switch (phase) {
	case SEG_CONN_WAIT: d = now + c->cfg.idle_timeout_ms; break;
	case SEG_CONN_HEADERS: d = now + c->cfg.header_timeout_ms; break;
	case SEG_CONN_BODY: d = now + c->cfg.body_timeout_ms; break;
	default: break;
	}
	__atomic_store_n(&conn->deadline_ms, d, __ATOMIC_RELEASE);
	__atomic_store_n(&conn->since_ms, now, __ATOMIC_RELEASE);
	__atomic_store_n(&conn->phase, phase, __ATOMIC_RELEASE);
}

struct seg_conn *seg_conns_open(struct seg_conns *c, int fd, const struct sockaddr *addr)
{
	struct seg_conn *conn = seg_calloc(1, sizeof(*conn));
	conn->fd = fd;
	conn->key_len = seg__key(addr, conn->key);
	if (conn->key_len == 4)
		inet_ntop(AF_INET, conn->key, conn->text, sizeof(conn->text));
	else if (conn->key_len == 16)
		inet_ntop(AF_INET6, conn->key, conn->text, sizeof(conn->text));
	else
		strcpy(conn->text, "unknown");
	seg__set_deadline(c, conn, SEG_CONN_WAIT, seg__now_ms());

	pthread_mutex_lock(&c->lock);
	struct seg__addr *a = seg__find(c, conn->key, conn->key_len, true);
	a->count++;
	c->open++;
	/*
	 * seg_conns_admit and this are two steps, and each HTTP thread accepts on its own: two
	 * threads may both admit the last free place. The one that counts past a limit here shuts
	 * its socket at once (libmicrohttpd then closes it), so the limits hold exactly.
	 */
	bool over = c->open > c->cfg.max_total || a->count > c->cfg.max_per_address;
	if (over) {
		if (c->open > c->cfg.max_total)
			c->refused_total++;
		else
			c->refused_address++;
	}
	conn->next = c->head;
	if (c->head)
		c->head->prev = conn;
	c->head = conn;
	pthread_mutex_unlock(&c->lock);
	if (over && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	seg_debug("connection from %s opened%s", conn->text, over ? " past a limit: shut" : "");
	return conn;
}

void seg_conns_close(struct seg_conns *c, struct seg_conn *conn)
{
	if (!conn)
		return;
	pthread_mutex_lock(&c->lock);
	seg__forget(c, conn->key, conn->key_len);
	c->open--;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		c->head = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	pthread_mutex_unlock(&c->lock);
	seg_debug("connection from %s closed", conn->text);
	free(conn);
}

void seg_conn_phase(struct seg_conns *c, struct seg_conn *conn, enum seg_conn_phase phase)
{
	int64_t now = seg__now_ms();
	if (!conn)
		return;
	if (phase == SEG_CONN_BODY)
		conn->window_bytes = 0;
	seg__set_deadline(c, conn, (int)phase, now);
}

void seg_conn_body_progress(struct seg_conns *c, struct seg_conn *conn, size_t n)
{
	if (!conn || __atomic_load_n(&conn->phase, __ATOMIC_ACQUIRE) != SEG_CONN_BODY)
		return;
	conn->window_bytes += n;
	if (conn->window_bytes >= SEG_CONN_BODY_QUANTUM) {
		int64_t now = seg__now_ms();
		conn->window_bytes = 0;
		__atomic_store_n(&conn->deadline_ms, now + c->cfg.body_timeout_ms,
				 __ATOMIC_RELEASE);
	}
}

bool seg_conn_cut(struct seg_conns *c, const struct seg_conn *conn)
{
	bool cut;
	if (!conn)
		return false;
	pthread_mutex_lock(&c->lock);
	cut = conn->shut;
	pthread_mutex_unlock(&c->lock);
	return cut;
}

const char *seg_conn_address(const struct seg_conn *conn)
{
	return conn ? conn->text : "unknown";
}

static const char *const seg__phase_names[] = {"wait", "headers", "body", "busy"};

int seg_conns_reap(struct seg_conns *c, int idle_ms)
{
	int64_t now = seg__now_ms();
	int open;

	pthread_mutex_lock(&c->lock);
	for (struct seg_conn *conn = c->head; conn; conn = conn->next) {
		int phase = __atomic_load_n(&conn->phase, __ATOMIC_ACQUIRE);
		int64_t d = __atomic_load_n(&conn->deadline_ms, __ATOMIC_ACQUIRE);
		int64_t since = __atomic_load_n(&conn->since_ms, __ATOMIC_ACQUIRE);
		bool late = d && now > d;
		bool idle = idle_ms >= 0 && phase == SEG_CONN_WAIT && now - since >= idle_ms;
		if (conn->shut || !(late || idle))
			continue;
		conn->shut = true;
		shutdown(conn->fd, SHUT_RDWR);
		if (late) {
			c->timed_out[phase]++;
			if (phase != SEG_CONN_WAIT)
				seg_debug("closed a connection from %s: it missed its %s deadline",
					  conn->text, seg__phase_names[phase]);
		}
	}
	open = c->open;
	pthread_mutex_unlock(&c->lock);
	return open;
}

void seg_conns_close_all(struct seg_conns *c)
{
	pthread_mutex_lock(&c->lock);
	for (struct seg_conn *conn = c->head; conn; conn = conn->next) {
		if (conn->shut || __atomic_load_n(&conn->phase, __ATOMIC_ACQUIRE) == SEG_CONN_BUSY)
			continue;
		conn->shut = true;
		shutdown(conn->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->lock);
}

void seg_conns_metrics(struct seg_conns *c, struct seg_buf *out)
{
	pthread_mutex_lock(&c->lock);
	seg_buf_addf(out,
		     "# HELP segmentd_http_connections Open HTTP connections.\n"
		     "# TYPE segmentd_http_connections gauge\nsegmentd_http_connections %d\n"
		     "# HELP segmentd_http_connections_refused_total Connections refused at "
		     "accept, by the limit they met.\n"
		     "# TYPE segmentd_http_connections_refused_total counter\n"
		     "segmentd_http_connections_refused_total{limit=\"total\"} %llu\n"
		     "segmentd_http_connections_refused_total{limit=\"per_address\"} %llu\n"
		     "# HELP segmentd_http_connections_timed_out_total Connections closed for "
		     "missing a deadline, by phase.\n"
		     "# TYPE segmentd_http_connections_timed_out_total counter\n",
		     c->open, (unsigned long long)c->refused_total,
		     (unsigned long long)c->refused_address);
	for (int i = 0; i < 3; i++)
		seg_buf_addf(out, "segmentd_http_connections_timed_out_total{phase=\"%s\"} %llu\n",
			     seg__phase_names[i], (unsigned long long)c->timed_out[i]);
	pthread_mutex_unlock(&c->lock);
}
