/*
 * proxy: the HTTP/1.1 data path of a worker (RFC 9110, RFC 9112).
 *
 * Runs in workers, in the libev loop, on untrusted client bytes and
 * untrusted backend bytes.  It may not block, log on the request path,
 * allocate per request beyond the connection struct and pooled buffers, or
 * hold a body whole: bodies stream through fixed buffers with backpressure
 * (a side is read only while the other can take more).
 *
 * A client connection is one struct proxy_conn with its watchers: client
 * read/write, upstream read/write, and one timer whose deadline is derived
 * from last-activity times and the phase (ev(3) "Be smart about
 * timeouts").  Three buffers serve it: cin (client bytes: heads, request
 * body, pipelined requests), uin (upstream bytes: response head and body)
 * and hbuf (a rewritten head, or a local response, on its way out).  They
 * are taken from a free list when needed and given back when the
 * connection goes idle, so an idle keep-alive connection costs its struct.
 *
 * One request is in flight per connection.  proxy_pump() drives it: it
 * writes what can be written, classifies newly read bytes as body (length
 * or chunked scan), parses heads, and moves the request through its
 * phases until nothing changes; proxy_watch() then starts exactly the
 * watchers the new state needs.
 *
 * Choices: the request line goes upstream as sent, so an HTTP/1.0 request
 * reaches the backend as HTTP/1.0 and RFC 9112 forbids it to answer
 * chunked; a backend that does so anyway has its body decoded on the fly
 * for that client, which then sees the end of the body as the close.  A
 * pooled upstream connection that fails before any
 * response byte is retried once on a fresh connection when no body byte
 * was sent yet, or when the method is idempotent and every body byte sent
 * is still in cin (they are kept until the response begins, as long as
 * they fit; a larger body makes the request non-replayable).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/http.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/access_log.h"
#include "worker/balancer.h"
#include "worker/health.h"
#include "worker/listener.h"
#include "worker/admin.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/client_io.h"
#include "worker/proxy_head.h"
#include "worker/router.h"
#include "worker/upstream.h"
#include "worker/upstream_tls.h"
#include "worker/worker.h"
#ifdef INGRESSD_TEST_HOOKS
#include "worker/testhook.h"
#endif

#define PROXY_BUF_SIZE		16384	/* pooled buffer, per direction */
#define PROXY_RESP_HEAD_MAX	65536	/* response head limit */
#define PROXY_FREE_MAX		256	/* pooled buffers kept (4 MiB) */
#define PROXY_LINGER		2.0	/* seconds draining a closed client */
#define PROXY_DRAIN_IDLE	1.0	/* seconds an idle connection may
					 * still bring a request on a drain */

/* Used before the first snapshot and for zero values in one. */
#define PROXY_LOCAL_HEAD_MAX	8448	/* local response head, Location */
#define PROXY_DEF_HEADER_MS	60000
#define PROXY_DEF_TLS_HANDSHAKE_MS 10000
#define PROXY_DEF_BODY_MS	60000
#define PROXY_DEF_IDLE_MS	75000
#define PROXY_DEF_CONNECT_MS	5000
#define PROXY_DEF_RESPONSE_MS	60000
#define PROXY_DEF_UPIDLE_MS	60000
#define PROXY_DEF_HEAD_SIZE	8192
#define PROXY_DEF_HEADERS	100

struct proxy_buf {
	struct proxy_buf	*next;		/* free list */
	size_t			 cap;
	size_t			 start;		/* data is [start, end) */
	size_t			 end;
	char			 data[];
};

enum proxy_rstate {
	RS_IDLE = 0,		/* between requests */
	RS_HEAD,		/* head bytes arriving */
	RS_BODY,		/* request body streaming upstream */
	RS_DONE,		/* request fully sent (or had no body) */
	RS_ABANDON,		/* rest of the body will never be read */
	RS_TUNNEL,		/* after 101: raw bytes */
};

enum proxy_pstate {
	PS_NONE = 0,		/* no request in flight */
	PS_LOCAL,		/* our own response in hbuf */
	PS_WAIT,		/* waiting for the response head */
	PS_BODY,		/* response body streaming to the client */
	PS_DONE,		/* response fully classified */
	PS_TUNNEL,		/* after 101 */
};

enum proxy_dechunk {
	DC_SIZE = 0,		/* chunk size digits */
	DC_EXT,			/* chunk extensions, up to LF */
	DC_DATA,		/* resp_left data bytes */
	DC_DATA_END,		/* CRLF after the data */
	DC_TRAILER,		/* after the last chunk */
};

enum proxy_hdir {
	HB_NONE = 0,
	HB_UP,			/* request head toward the upstream */
	HB_CLIENT,		/* response head or local response */
};

enum proxy_timeout {
	T_NONE = 0,
	T_IDLE,			/* keep-alive idle or no first byte */
	T_HEADER,		/* 408 */
	T_BODY,			/* client body stalled */
	T_CONNECT,		/* upstream connect */
	T_RESPONSE,		/* upstream silent */
	T_SEND,			/* client not reading */
	T_TUNNEL,
	T_LINGER,
};

struct proxy_conn {
	TAILQ_ENTRY(proxy_conn)	 entry;
	struct ev_loop		*loop;
	int			 fd;
	struct client_io	 io;		/* plain or TLS, on fd */
	int			 ufd;		/* upstream, -1 none */
	struct upstream_io	 uio;		/* plain or TLS on ufd */
	enum listener_kind	 kind;
	ev_io			 rd;
	ev_io			 wr;
	ev_io			 urd;
	ev_io			 uwr;
	ev_timer		 timer;
	ev_tstamp		 timer_at;	/* when the timer fires */
	ev_tstamp		 t_in;		/* client read progress */
	ev_tstamp		 t_out;		/* client write progress */
	ev_tstamp		 t_up;		/* upstream progress */
	ev_tstamp		 t_head;	/* first byte of the head */

	struct proxy_buf	*cin;
	struct proxy_buf	*uin;
	struct proxy_buf	*hbuf;
	size_t			 hsent;
	enum proxy_hdir		 hdir;

	enum proxy_rstate	 rstate;
	enum proxy_pstate	 pstate;

	/* request */
	struct worker_snapshot	*ws;		/* ref held while in flight */
	uint32_t		 backend;
	uint32_t		 tried[BALANCER_MAX_TRIES];
	uint32_t		 ntried;
	struct balancer_pick	 pick;
	struct balancer_req	 breq;		/* hash key, sticky id */
	unsigned		 set_sticky:1;	/* Set-Cookie on the response */
	enum http_body_kind	 req_body;
	uint64_t		 req_left;	/* length bytes unclassified */
	uint64_t		 req_body_sent;
	size_t			 cin_body;	/* cin bytes to send upstream */
	size_t			 cin_kept;	/* of those, sent but kept */
	struct http_chunked	 req_chunk;
	int			 fail_status;	/* 502 or 504 so far */
	struct metrics_req	 mreq;		/* for metrics.c */

	/* response */
	enum http_body_kind	 resp_body;
	uint64_t		 resp_left;
	size_t			 uin_body;	/* uin bytes for the client */
	struct http_chunked	 resp_chunk;

	/* the peer, for X-Forwarded-For */
	uint8_t			 peer_family;
	uint8_t			 peer_addr[16];
	uint16_t		 lport;

	uint32_t		 hsts_max_age;	/* Strict-Transport-Security */
	unsigned		 hsts:1;
	unsigned		 hsts_sub:1;	/* includeSubDomains */
	unsigned		 fresh:1;	/* no request yet */
	unsigned		 linger:1;	/* closing: discard input */
	unsigned		 close_after:1;	/* close after this response */
	unsigned		 client_eof:1;
	unsigned		 cw_blocked:1;	/* client write would block */
	unsigned		 uw_blocked:1;	/* upstream write would block */
	unsigned		 up_connecting:1;	/* TCP, then TLS */
	unsigned		 up_reused:1;	/* came from the pool */
	unsigned		 up_keep:1;	/* response allows reuse */
	unsigned		 up_eof:1;
	unsigned		 up_nowrite:1;	/* a write failed: read only */
	unsigned		 retried:1;
	unsigned		 have_pick:1;
	unsigned		 head_sent:1;	/* request head all written */
	unsigned		 resp_byte:1;	/* any upstream byte */
	unsigned		 resp_started:1;	/* final head queued */
	unsigned		 req_classified:1;	/* body end found */
	unsigned		 resp_classified:1;
	unsigned		 req_keep_alive:1;
	unsigned		 req_http10:1;
	unsigned		 dechunk:1;	/* chunked to an HTTP/1.0 client */
	unsigned		 dc_line:1;	/* trailer line not empty */
	unsigned		 dc_state:3;	/* enum proxy_dechunk */
	unsigned		 req_head:1;	/* HEAD */
	unsigned		 req_expect:1;
	unsigned		 req_upgrade:1;
	unsigned		 req_idempotent:1;
	unsigned		 replay_lost:1;	/* sent body bytes dropped */

	struct access_log_req	*alog;		/* NULL: not logged */
};

TAILQ_HEAD(proxy_conns, proxy_conn);
static struct proxy_conns	 proxy_conns =
    TAILQ_HEAD_INITIALIZER(proxy_conns);
static size_t			 proxy_nconns;
static uint64_t			 proxy_nrequests;
static ev_tstamp		 proxy_drain_at;	/* proxy_drain() ran */
static struct proxy_buf		*proxy_free;
static size_t			 proxy_nfree;

/* Parsed heads: used synchronously, so one of each per worker. */
static struct http_request	 proxy_req;
static struct http_response	 proxy_resp;

static int	proxy_pump(struct proxy_conn *);
static void	proxy_watch(struct proxy_conn *);
static void	proxy_close(struct proxy_conn *);
static int	proxy_upstream_start(struct proxy_conn *);
static void	proxy_passive(struct proxy_conn *, int);

/*
 * Buffers.
 */

/* A buffer of at least <size> bytes, empty; NULL when out of memory. */
static struct proxy_buf *
proxy_buf_get(size_t size)
{
	struct proxy_buf *b;

	if (size <= PROXY_BUF_SIZE && proxy_free != NULL) {
		b = proxy_free;
		proxy_free = b->next;
		proxy_nfree--;
	} else {
		if (size < PROXY_BUF_SIZE)
			size = PROXY_BUF_SIZE;
		if ((b = malloc(sizeof(*b) + size)) == NULL)
			return NULL;
		b->cap = size;
	}
	b->next = NULL;
	b->start = b->end = 0;
	return b;
}

/* Returns *<bp> to the free list (or to malloc) and clears it. */
static void
proxy_buf_put(struct proxy_buf **bp)
{
	struct proxy_buf *b = *bp;

	if (b == NULL)
		return;
	*bp = NULL;
	if (b->cap == PROXY_BUF_SIZE && proxy_nfree < PROXY_FREE_MAX) {
		b->next = proxy_free;
		proxy_free = b;
		proxy_nfree++;
		return;
	}
	free(b);
}

/* Moves the data of *<bp> into a buffer of <size> bytes.  0 or -1. */
static int
proxy_buf_grow(struct proxy_buf **bp, size_t size)
{
	struct proxy_buf *o = *bp, *n;

	if ((n = proxy_buf_get(size)) == NULL)
		return -1;
	memcpy(n->data, o->data + o->start, o->end - o->start);
	n->end = o->end - o->start;
	proxy_buf_put(bp);
	*bp = n;
	return 0;
}

/* Makes room at the tail when the data does not start at 0. */
static void
proxy_buf_compact(struct proxy_buf *b)
{
	if (b->start == b->end) {
		b->start = b->end = 0;
	} else if (b->start > 0 && (b->end == b->cap ||
	    b->start >= b->cap / 2)) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
}

#define BUF_LEN(b)	((b) == NULL ? 0 : (b)->end - (b)->start)
#define BUF_ROOM(b)	((b) == NULL ? PROXY_BUF_SIZE : \
			    (b)->cap - ((b)->end - (b)->start))

/* Appends <len> bytes; the caller sized the buffer. */
static void
proxy_buf_add(struct proxy_buf *b, const void *p, size_t len)
{
	if (len > b->cap - b->end)
		len = b->cap - b->end;	/* never: sized by the caller */
	memcpy(b->data + b->end, p, len);
	b->end += len;
}

#define BUF_ADDS(b, s)	proxy_buf_add((b), (s), sizeof(s) - 1)

/*
 * Settings.
 */

/* <v>, or <def> when the snapshot left it 0. */
static uint32_t
proxy_ms(uint32_t v, uint32_t def)
{
	return v == 0 ? def : v;
}

/* Settings of the request's snapshot, else the current one, else none. */
static const struct route_settings *
proxy_settings(const struct proxy_conn *c)
{
	static const struct route_settings none;
	struct worker_snapshot *ws;

	if (c->ws != NULL)
		return &c->ws->snap.settings;
	if ((ws = worker_snapshot_current()) != NULL)
		return &ws->snap.settings;
	return &none;
}

/*
 * Heads (the rules themselves are in proxy_head.c).
 */

/*
 * Writes the upstream request head for the parsed proxy_req, whose
 * <headlen> bytes start at <head>, into a fresh c->hbuf.  0, or -1 when
 * out of memory.
 */
static int
proxy_request_head(struct proxy_conn *c, const char *head, size_t headlen)
{
	struct proxy_buf *b;
	char ip[INET6_ADDRSTRLEN];
	size_t n;

	if (inet_ntop(c->peer_family == 6 ? AF_INET6 : AF_INET, c->peer_addr,
	    ip, sizeof(ip)) == NULL)
		util_strlcpy(ip, "unknown", sizeof(ip));
	if ((b = proxy_buf_get(proxy_head_request_size(&proxy_req,
	    headlen))) == NULL)
		return -1;
	n = proxy_head_request(b->data, b->cap, &proxy_req, head, headlen, ip,
	    c->lport, client_io_is_tls(&c->io));
	if (n == 0) {
		proxy_buf_put(&b);
		return -1;
	}
	b->end = n;
	proxy_buf_put(&c->hbuf);
	c->hbuf = b;
	c->hdir = HB_UP;
	c->hsent = 0;
	c->head_sent = 0;
	return 0;
}

/*
 * Writes the client response head for the parsed proxy_resp (<headlen>
 * bytes as received) into a fresh c->hbuf.  0 or -1.
 */
#define PROXY_STICKY_MAX	192	/* the Set-Cookie line */
#define PROXY_STICKY_DEFAULT	"ingressd_sticky"	/* cookie name */

/*
 * Sticky sessions: unless the request's cookie already named the endpoint
 * that answers, adds to the response head <head> (<n> bytes, room for
 * <cap>) a Set-Cookie naming it opaquely (its balancer_endpoint_id() in
 * hex).  Returns the new length.
 */
static size_t
proxy_sticky_cookie(struct proxy_conn *c, char *head, size_t n, size_t cap)
{
	struct snapshot_backend b;
	struct snapshot_endpoint ep;
	uint64_t id;
	int k;

	if (!c->set_sticky || !c->have_pick || n < 4 ||
	    memcmp(head + n - 4, "\r\n\r\n", 4) != 0)
		return n;
	snapshot_backend(&c->ws->snap, c->backend, &b);
	snapshot_endpoint(&c->ws->snap, b.first_endpoint + c->pick.index,
	    &ep);
	id = balancer_endpoint_id((struct sockaddr *)&ep.addr);
	if (c->breq.has_sticky && c->breq.sticky == id)
		return n;
	k = snprintf(head + n - 2, cap - (n - 2), "Set-Cookie: %.*s=%016llx; "
	    "Path=/; HttpOnly\r\n\r\n", b.policy_arg != NULL ?
	    (int)b.policy_arglen : (int)strlen(PROXY_STICKY_DEFAULT),
	    b.policy_arg != NULL ? b.policy_arg : PROXY_STICKY_DEFAULT,
	    (unsigned long long)id);
	if (k < 0 || (size_t)k >= cap - (n - 2)) {
		memcpy(head + n - 2, "\r\n", 2);	/* no room: as it was */
		return n;
	}
	return n - 2 + (size_t)k;
}

#define PROXY_HSTS_MAX	80	/* the Strict-Transport-Security line */

/* ingressd.io/hsts: adds the header to head <head> as above. */
static size_t
proxy_hsts(struct proxy_conn *c, char *head, size_t n, size_t cap)
{
	int k;

	if (!c->hsts || n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0)
		return n;
	k = snprintf(head + n - 2, cap - (n - 2), "Strict-Transport-Security: "
	    "max-age=%u%s\r\n\r\n", c->hsts_max_age,
	    c->hsts_sub ? "; includeSubDomains" : "");
	if (k < 0 || (size_t)k >= cap - (n - 2)) {
		memcpy(head + n - 2, "\r\n", 2);
		return n;
	}
	return n - 2 + (size_t)k;
}

static int
proxy_response_head(struct proxy_conn *c, size_t headlen)
{
	struct proxy_buf *b;
	size_t n;

	if ((b = proxy_buf_get(proxy_head_response_size(headlen) +
	    PROXY_STICKY_MAX + PROXY_HSTS_MAX)) == NULL)
		return -1;
	n = proxy_head_response(b->data, b->cap - PROXY_STICKY_MAX -
	    PROXY_HSTS_MAX,
	    &proxy_resp, c->close_after, c->dechunk);
	if (n == 0) {
		proxy_buf_put(&b);
		return -1;
	}
	n = proxy_sticky_cookie(c, b->data, n, b->cap);
	n = proxy_hsts(c, b->data, n, b->cap);
	b->end = n;
	access_log_head(c->alog, n);
	proxy_buf_put(&c->hbuf);
	c->hbuf = b;
	c->hdir = HB_CLIENT;
	c->hsent = 0;
	return 0;
}

/*
 * Connection life.
 */

/* Closes the upstream connection of <c>, if any; never pools it. */
static void
proxy_upstream_close(struct proxy_conn *c)
{
	if (c->ufd == -1)
		return;
	ev_io_stop(c->loop, &c->urd);
	ev_io_stop(c->loop, &c->uwr);
	upstream_io_close(&c->uio, c->ufd);
	c->ufd = -1;
	c->up_connecting = 0;
	c->uw_blocked = 0;
	c->up_eof = 0;
	c->up_nowrite = 0;
}

/* Counts the request out of its endpoint's in-flight counter. */
static void
proxy_pick_done(struct proxy_conn *c)
{
	if (c->have_pick) {
		balancer_done(&c->pick);
		c->have_pick = 0;
	}
}

/* Forgets the request in flight: upstream, buffers but cin, snapshot. */
static void
proxy_request_end(struct proxy_conn *c)
{
	/* A response was chosen (sent, or cut short): count it once. */
	if (c->mreq.status != 0 && c->kind != LISTENER_ADMIN)
		metrics_request_done(c->ws != NULL ? &c->ws->snap : NULL,
		    &c->mreq, c->have_pick ? c->pick.index : METRICS_NONE,
		    ev_now(c->loop));
	metrics_req_begin(&c->mreq, 0);
	proxy_upstream_close(c);
	proxy_pick_done(c);
	proxy_buf_put(&c->uin);
	proxy_buf_put(&c->hbuf);
	c->hdir = HB_NONE;
	c->hsent = 0;
	access_log_end(&c->alog, ev_now(c->loop));
	if (c->ws != NULL) {
		worker_snapshot_unref(c->ws);
		c->ws = NULL;
	}
}

/*
 * Closes the client connection <c> at once, with everything it holds, and
 * frees it.  <c> is gone on return.
 */
static void
proxy_close(struct proxy_conn *c)
{
	struct ev_loop *loop = c->loop;

	proxy_request_end(c);
	ev_io_stop(loop, &c->rd);
	ev_io_stop(loop, &c->wr);
	ev_timer_stop(loop, &c->timer);
	client_io_close(&c->io);
	proxy_buf_put(&c->cin);
	TAILQ_REMOVE(&proxy_conns, c, entry);
	proxy_nconns--;
	free(c);
	listener_conn_closed(loop);
}

/*
 * Closes the client after a response.  When it may still be sending (a
 * body we did not read, pipelined bytes), shuts our side down and reads
 * for a while first, so that its unread input does not turn into a reset
 * that destroys the response in flight (nginx's lingering close).
 */
static void
proxy_close_graceful(struct proxy_conn *c)
{
	if (!c->client_eof && (BUF_LEN(c->cin) > 0 ||
	    c->rstate == RS_BODY || c->rstate == RS_ABANDON ||
	    c->rstate == RS_HEAD)) {
		proxy_request_end(c);
		proxy_buf_put(&c->cin);
		if (client_io_shutdown(&c->io) == 0) {
			c->linger = 1;
			c->t_out = ev_now(c->loop);
			ev_io_stop(c->loop, &c->wr);
			proxy_watch(c);
			return;
		}
	}
	proxy_close(c);
}

/*
 * Today's IMF-fixdate for the responses ingressd writes itself, made at
 * most once a second from the loop's clock (ev_now() is wall time).
 */
static const char *
proxy_date(struct ev_loop *loop)
{
	static char date[HTTP_DATE_LEN];
	static int64_t made = -1;
	int64_t now = (int64_t)ev_now(loop);

	if (now != made) {
		http_date(now, date);
		made = now;
	}
	return date;
}

/*
 * Queues a local response <status> in hbuf (<ctype>, extra header lines
 * <hdrs>, <blen> bytes of <body>, plus a newline when <nl>) and drops the
 * upstream side.  <keep> asks to keep the connection; it is honoured only
 * for a request that was parsed, has no body, asked for keep-alive, on a
 * worker that is not draining.  Returns 1.
 */
static int
proxy_respond(struct proxy_conn *c, int status, int keep, const char *ctype,
    const char *hdrs, const char *body, size_t blen, int nl)
{
	struct proxy_buf *b;
	char head[PROXY_LOCAL_HEAD_MAX];
	const char *reason = http_reason(status);
	int n;

	if (c->alog == NULL && c->kind != LISTENER_ADMIN)	/* no head */
		c->alog = access_log_begin(NULL, c->peer_family, c->peer_addr,
		    c->t_head);
	access_log_status(c->alog, status);
	if (!keep || c->rstate != RS_DONE || !c->req_keep_alive ||
	    worker_draining())
		c->close_after = 1;
	c->mreq.status = status;
	proxy_upstream_close(c);
	proxy_pick_done(c);
	proxy_buf_put(&c->uin);
	c->uin_body = 0;
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Server: ingressd\r\nDate: %s\r\nContent-Type: %s\r\n%s"
	    "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
	    status, reason, proxy_date(c->loop), ctype, hdrs, blen + !!nl,
	    c->close_after ? "close" : "keep-alive");
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    (b = proxy_buf_get(n + blen + 1)) == NULL) {
		c->close_after = 1;
		proxy_buf_put(&c->hbuf);
		c->hdir = HB_NONE;
		c->pstate = PS_LOCAL;
		return 1;
	}
	proxy_buf_put(&c->hbuf);
	c->hbuf = b;
	proxy_buf_add(b, head, n);
	access_log_head(c->alog, (size_t)n);
	if (!c->req_head) {
		proxy_buf_add(b, body, blen);
		if (nl)
			BUF_ADDS(b, "\n");
	}
	c->hdir = HB_CLIENT;
	c->hsent = 0;
	c->pstate = PS_LOCAL;
	c->resp_started = 1;
	if (c->rstate == RS_BODY || c->rstate == RS_HEAD)
		c->rstate = RS_ABANDON;
	return 1;
}

/* Our own short text/plain response (<body> NULL: the reason). */
static int
proxy_local(struct proxy_conn *c, int status, int keep, const char *body)
{
	if (body == NULL)
		body = http_reason(status);
	return proxy_respond(c, status, keep, "text/plain", "", body,
	    strlen(body), 1);
}

/*
 * ingressd.io/ssl-redirect: 308 to the same host, path and query over
 * https, on <port> unless it is 443.  Returns 1, or 0 when the request
 * has no usable Host (it is then proxied as usual).
 */
static int
proxy_redirect(struct proxy_conn *c, const struct http_request *r,
    uint32_t port)
{
	char loc[PROXY_LOCAL_HEAD_MAX - 256], portbuf[8] = "";
	const char *colon;
	size_t hostlen;
	int n;

	if (r->host == NULL || r->host_len == 0)
		return 0;
	hostlen = r->host_len;
	/* Strip the port, but not an IPv6 literal's colons. */
	if ((colon = memrchr(r->host, ':', hostlen)) != NULL &&
	    memchr(colon, ']', hostlen - (size_t)(colon - r->host)) == NULL)
		hostlen = (size_t)(colon - r->host);
	if (port != 443)
		snprintf(portbuf, sizeof(portbuf), ":%u", port);
	n = snprintf(loc, sizeof(loc), "Location: https://%.*s%s%.*s%s%.*s\r\n",
	    (int)hostlen, r->host, portbuf, (int)r->path_len, r->path,
	    r->query != NULL ? "?" : "", r->query != NULL ?
	    (int)r->query_len : 0, r->query != NULL ? r->query : "");
	if (n < 0 || (size_t)n >= sizeof(loc))
		return proxy_local(c, 414, 0, NULL);
	return proxy_respond(c, 308, 1, "text/plain", loc, http_reason(308),
	    strlen(http_reason(308)), 1);
}

/* Something broke after the response began: close both sides now. */
static int
proxy_abort(struct proxy_conn *c)
{
	proxy_close(c);
	return -1;
}

/* Bytes waiting for the client: head in hbuf, then body in uin. */
static int
proxy_client_pending(const struct proxy_conn *c)
{
	return (c->hdir == HB_CLIENT && c->hsent < BUF_LEN(c->hbuf)) ||
	    c->uin_body > 0;
}

/* Bytes waiting for the upstream: request head, then body or tunnel. */
static int
proxy_up_pending(const struct proxy_conn *c)
{
	if (c->ufd == -1 || c->up_connecting || c->up_nowrite)
		return 0;
	return (c->hdir == HB_UP && c->hsent < BUF_LEN(c->hbuf)) ||
	    (c->cin_body > c->cin_kept && (c->rstate == RS_BODY ||
	    c->rstate == RS_TUNNEL));
}

/*
 * Upstream failures.
 */

/* 1 when the request may go again on a fresh connection (see top). */
static int
proxy_can_retry(const struct proxy_conn *c)
{
	return c->up_reused && !c->retried && !c->resp_byte &&
	    c->pstate == PS_WAIT && (c->req_body_sent == 0 ||
	    (c->req_idempotent && !c->replay_lost &&
	    c->cin_kept == c->req_body_sent));
}

/*
 * A request whose connection was closed or reset before any response
 * byte goes to another endpoint when that is safe: an idempotent method
 * with no body byte sent (nothing would be lost or done twice that the
 * method does not allow), an endpoint left to try, and the backend's
 * retry budget not spent.  A timeout (<status> 504) is never retried: the
 * endpoint may still be working on it.
 */
static int
proxy_can_retry_elsewhere(struct proxy_conn *c, int status)
{
	return status == 502 && c->pstate == PS_WAIT && !c->resp_byte &&
	    !c->resp_started && c->req_idempotent && c->req_body_sent == 0 &&
	    c->have_pick &&
	    balancer_budget_retry(&c->pick, ev_now(c->loop)) == 0;
}

/*
 * Body bytes sent on a pooled connection stay in cin (cin_kept) while an
 * idempotent request may still be replayed; they go once the response
 * begins, or when cin is full and the client must be read again.
 */
static int
proxy_replay_keep(const struct proxy_conn *c)
{
	return c->up_reused && !c->retried && c->req_idempotent &&
	    !c->replay_lost && !c->resp_byte && c->rstate == RS_BODY;
}

static void
proxy_replay_release(struct proxy_conn *c, int lost)
{
	if (c->cin_kept == 0)
		return;
	c->cin->start += c->cin_kept;
	c->cin_body -= c->cin_kept;
	c->cin_kept = 0;
	if (lost)
		c->replay_lost = 1;
	if (BUF_LEN(c->cin) == 0)
		c->cin->start = c->cin->end = 0;
}

/*
 * A fresh connection <fd> (connect pending when <inprogress>) to endpoint
 * <ep> of the request's backend.  TLS starts when the backend asks for
 * it, and its handshake is part of connecting: the connect timeout and
 * the connect-failure handling cover it.  0, or -1 with <fd> closed.
 */
static int
proxy_up_fresh(struct proxy_conn *c, int fd, int inprogress,
    const struct snapshot_endpoint *ep)
{
	c->up_reused = 0;
	c->up_connecting = inprogress;
	if (upstream_tls_key(&c->ws->snap, c->backend) == 0)
		return 0;
	if (upstream_tls_start(&c->uio, fd, &c->ws->snap, c->backend,
	    (const struct sockaddr *)&ep->addr) == -1) {
		close(fd);
		return -1;
	}
	c->up_connecting = 1;
	return 0;
}

/*
 * The upstream connection failed (<status> 502 or 504 for what the client
 * would see).  A failed connect moves on to the next endpoint; a pooled
 * connection that died before answering is retried once fresh; else a
 * local error when nothing was sent to the client, or an abort.
 */
static int
proxy_up_fail(struct proxy_conn *c, int status, int connecting)
{
	struct snapshot_endpoint ep;
	struct snapshot_backend b;
	int fd, inprogress;

	proxy_upstream_close(c);
	c->fail_status = status;
	if (connecting && c->have_pick)
		metrics_connect_error(&c->ws->snap, c->backend, c->pick.index);
	/* A pooled connection closed under us is the keep-alive race, not
	 * the endpoint's fault. */
	if (!c->resp_started && (connecting || !c->up_reused))
		proxy_passive(c, 0);
	if (c->pstate == PS_WAIT && connecting && !c->resp_byte) {
		metrics_retry(&c->ws->snap, c->backend);
		proxy_pick_done(c);
		return proxy_upstream_start(c);
	}
	if (proxy_can_retry(c)) {
		metrics_retry(&c->ws->snap, c->backend);
		c->retried = 1;
		snapshot_backend(&c->ws->snap, c->backend, &b);
		snapshot_endpoint(&c->ws->snap, b.first_endpoint +
		    c->pick.index, &ep);
		fd = upstream_connect((struct sockaddr *)&ep.addr, ep.addrlen,
		    &inprogress);
		if (fd != -1 && proxy_up_fresh(c, fd, inprogress, &ep) == 0) {
			/* The kept body bytes go again. */
			c->cin_kept = 0;
			c->req_body_sent = 0;
			c->ufd = fd;
			c->uw_blocked = 0;
			c->hsent = 0;
			c->head_sent = 0;
			c->t_up = ev_now(c->loop);
			ev_io_set(&c->urd, fd, EV_READ);
			ev_io_set(&c->uwr, fd, EV_WRITE);
			return 1;
		}
		proxy_pick_done(c);
		return proxy_upstream_start(c);
	}
	if (proxy_can_retry_elsewhere(c, status)) {
		metrics_retry(&c->ws->snap, c->backend);
		proxy_pick_done(c);
		return proxy_upstream_start(c);
	}
	if (!c->resp_started)
		return proxy_local(c, status, 0, NULL);
	return proxy_abort(c);
}

/* Passive detection: the endpoint <c> picked did well (<ok>) or not. */
static void
proxy_passive(struct proxy_conn *c, int ok)
{
	struct snapshot_backend b;
	struct snapshot_endpoint ep;

	if (!c->have_pick || c->ws->snap.settings.passive_failures == 0)
		return;
	snapshot_backend(&c->ws->snap, c->backend, &b);
	if (c->pick.index >= b.nendpoints)
		return;
	snapshot_endpoint(&c->ws->snap, b.first_endpoint + c->pick.index,
	    &ep);
	health_passive((struct sockaddr *)&ep.addr, ok,
	    c->ws->snap.settings.passive_failures, ev_now(c->loop));
}

/*
 * The endpoints of <b> the balancer must pass over for <c>: those tried
 * already and those the health table says are down, in proxy_skipv.
 * When every endpoint is down, the backend's all_down rule decides: fail
 * open (only the tried ones are skipped) or closed (-1: 503).  Returns
 * the count, or -1.
 */
static uint32_t	*proxy_skipv;
static size_t	 proxy_skipcap;

static int
proxy_skip(struct proxy_conn *c, const struct snapshot_backend *b)
{
	struct snapshot_endpoint ep;
	uint32_t *nv, i, k, ndown = 0;
	size_t need = (size_t)b->nendpoints + c->ntried;

	if (need > proxy_skipcap) {
		if ((nv = reallocarray(proxy_skipv, need, sizeof(*nv))) ==
		    NULL)
			return -1;
		proxy_skipv = nv;
		proxy_skipcap = need;
	}
	for (i = 0; i < b->nendpoints; i++) {
		snapshot_endpoint(&c->ws->snap, b->first_endpoint + i, &ep);
		if (health_is_down((struct sockaddr *)&ep.addr) ||
		    health_is_ejected((struct sockaddr *)&ep.addr,
		    ev_now(c->loop)))
			proxy_skipv[ndown++] = i;
	}
	/* Passive ejection never takes the last endpoints: probes only. */
	if (ndown == b->nendpoints && ndown > 0) {
		for (i = 0, ndown = 0; i < b->nendpoints; i++) {
			snapshot_endpoint(&c->ws->snap, b->first_endpoint + i,
			    &ep);
			if (health_is_down((struct sockaddr *)&ep.addr))
				proxy_skipv[ndown++] = i;
		}
	}
	if (ndown == b->nendpoints && ndown > 0) {
		if (b->hc_all_down != ROUTE_ALL_DOWN_FAIL_OPEN)
			return -1;
		ndown = 0;
	}
	for (k = 0; k < c->ntried; k++)
		proxy_skipv[ndown++] = c->tried[k];
	return (int)ndown;
}

/*
 * Picks an endpoint not tried yet and opens (or takes from the pool) a
 * connection to it.  Without any endpoint to try: 503 when the backend has
 * none, else the last failure (502, or 504 after a connect timeout).
 * Returns 1.
 */
static int
proxy_upstream_start(struct proxy_conn *c)
{
	struct snapshot_backend b;
	struct snapshot_endpoint ep;
	uint32_t max;
	int fd, inprogress, nskip;

	snapshot_backend(&c->ws->snap, c->backend, &b);
	max = b.nendpoints < BALANCER_MAX_TRIES ? b.nendpoints :
	    BALANCER_MAX_TRIES;
	for (;;) {
		if (c->ntried >= max || (nskip = proxy_skip(c, &b)) == -1 ||
		    balancer_pick(&c->ws->snap, &b, &c->breq, proxy_skipv,
		    (size_t)nskip, &c->pick) == -1) {
			if (c->ntried == 0)
				return proxy_local(c, 503, 1, NULL);
			return proxy_local(c, c->fail_status, 0, NULL);
		}
		c->have_pick = 1;
		c->tried[c->ntried++] = c->pick.index;
		if (c->ntried == 1)
			balancer_budget_request(&c->pick, ev_now(c->loop));
		snapshot_endpoint(&c->ws->snap, b.first_endpoint +
		    c->pick.index, &ep);
		fd = upstream_pool_get(c->loop, (struct sockaddr *)&ep.addr,
		    ep.addrlen, upstream_tls_key(&c->ws->snap, c->backend),
		    &c->uio);
		if (fd != -1) {
			c->up_reused = 1;
			c->up_connecting = 0;
			break;
		}
		fd = upstream_connect((struct sockaddr *)&ep.addr, ep.addrlen,
		    &inprogress);
		if (fd != -1 && proxy_up_fresh(c, fd, inprogress, &ep) == 0)
			break;
		c->fail_status = 502;
		metrics_connect_error(&c->ws->snap, c->backend, c->pick.index);
		proxy_passive(c, 0);
		proxy_pick_done(c);
	}
	access_log_upstream(c->alog, (struct sockaddr *)&ep.addr,
	    c->hbuf->data, c->hbuf->end, ev_now(c->loop));
	c->ufd = fd;
	c->uw_blocked = 0;
	c->up_eof = 0;
	c->hsent = 0;
	c->head_sent = 0;
	c->t_up = ev_now(c->loop);
	ev_io_set(&c->urd, fd, EV_READ);
	ev_io_set(&c->uwr, fd, EV_WRITE);
	if (c->up_reused) {
		/* Open and registered all along: no epoll_ctl() needed. */
		c->urd.events &= ~EV__IOFDSET;
		c->uwr.events &= ~EV__IOFDSET;
	}
	return 1;
}

/*
 * Requests.
 */

/*
 * Finds cookie <name> in the Cookie headers of <r>: its value in *<v>,
 * *<vlen>; 0, or -1 when absent.
 */
static int
proxy_cookie(const struct http_request *r, const char *name, size_t namelen,
    const char **v, size_t *vlen)
{
	const char *p, *end, *semi, *eq;
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		if (!util_strcaseeq(r->headers[i].name, r->headers[i].name_len,
		    "Cookie", 6))
			continue;
		p = r->headers[i].value;
		end = p + r->headers[i].value_len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == ';'))
				p++;
			if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL)
				semi = end;
			eq = memchr(p, '=', (size_t)(semi - p));
			if (eq != NULL && (size_t)(eq - p) == namelen &&
			    memcmp(p, name, namelen) == 0) {
				*v = eq + 1;
				*vlen = (size_t)(semi - eq - 1);
				return 0;
			}
			p = semi;
		}
	}
	return -1;
}

/*
 * What the policy of <b> keys the pick of request <r> on: the client's
 * address, a header's or a cookie's value (hashed), or the endpoint id
 * of the sticky cookie.  No key: the policy falls back on least-request
 * (and a sticky backend sets the cookie on the response).
 */
static void
proxy_policy_key(struct proxy_conn *c, const struct http_request *r,
    const struct snapshot_backend *b)
{
	const char *name = b->policy_arg, *v;
	size_t namelen = b->policy_arglen, vlen, i;
	uint64_t id;
	char *end, hex[17];

	memset(&c->breq, 0, sizeof(c->breq));
	c->set_sticky = 0;
	switch (b->policy) {
	case ROUTE_POLICY_HASH_SOURCE:
		c->breq.hash = util_hash64(c->peer_addr, sizeof(c->peer_addr)) ^
		    c->peer_family;
		c->breq.has_hash = 1;
		break;
	case ROUTE_POLICY_HASH_HEADER:
		for (i = 0; name != NULL && i < r->nheaders; i++)
			if (util_strcaseeq(r->headers[i].name,
			    r->headers[i].name_len, name, namelen)) {
				c->breq.hash = util_hash64(r->headers[i].value,
				    r->headers[i].value_len);
				c->breq.has_hash = 1;
				break;
			}
		break;
	case ROUTE_POLICY_HASH_COOKIE:
		if (name != NULL && proxy_cookie(r, name, namelen, &v,
		    &vlen) == 0) {
			c->breq.hash = util_hash64(v, vlen);
			c->breq.has_hash = 1;
		}
		break;
	case ROUTE_POLICY_STICKY_COOKIE:
		if (name == NULL) {
			name = PROXY_STICKY_DEFAULT;
			namelen = strlen(name);
		}
		c->set_sticky = 1;
		if (proxy_cookie(r, name, namelen, &v, &vlen) == 0 &&
		    vlen == 16) {
			memcpy(hex, v, 16);
			hex[16] = '\0';
			id = strtoull(hex, &end, 16);
			if (*end == '\0') {
				c->breq.sticky = id;
				c->breq.has_sticky = 1;
			}
		}
		break;
	}
}

/* RFC 9110 9.2.2: methods a proxy may repeat. */
static int
proxy_idempotent(const char *m, size_t len)
{
	static const struct {
		const char	*name;
		size_t		 len;
	} idem[] = {
		{ "GET", 3 }, { "HEAD", 4 }, { "PUT", 3 }, { "DELETE", 6 },
		{ "OPTIONS", 7 }, { "TRACE", 5 },
	};
	size_t i;

	for (i = 0; i < UTIL_NELEM(idem); i++)
		if (len == idem[i].len && memcmp(m, idem[i].name, len) == 0)
			return 1;
	return 0;
}

/* The admin listener: worker/admin.c decides, we send. */
static int
proxy_admin(struct proxy_conn *c)
{
	const struct http_request *r = &proxy_req;
	struct admin_response a;

	c->req_head = r->is_head;
	admin_handle(r->method, r->method_len, r->path, r->path_len, &a);
	return proxy_respond(c, a.status, 1, a.ctype, a.headers, a.body,
	    a.len, 0);
}

/*
 * A complete head of <headlen> bytes was parsed into proxy_req: route it,
 * check its limits, rewrite it into hbuf and start the upstream side.
 * Returns 1, or -1 when the connection was closed.
 */
static int
proxy_request_start(struct proxy_conn *c, size_t headlen)
{
	const struct http_request *r = &proxy_req;
	const struct route_settings *s;
	struct worker_snapshot *ws;
	struct router_match m;
	struct snapshot_backend b;
	const char *head = c->cin->data + c->cin->start;

	proxy_nrequests++;
	metrics_req_begin(&c->mreq, c->t_head > 0 ? c->t_head :
	    ev_now(c->loop));
	c->fresh = 0;
	c->req_keep_alive = r->keep_alive;
	c->req_http10 = r->minor_version == 0;
	c->dechunk = 0;
	c->req_head = r->is_head;
	c->req_expect = r->expect_continue && r->minor_version >= 1;
	c->req_upgrade = r->upgrade;
	c->req_idempotent = proxy_idempotent(r->method, r->method_len);
	c->replay_lost = 0;
	c->req_body = r->body;
	c->req_left = r->body == HTTP_BODY_LENGTH ? r->content_length : 0;
	c->req_body_sent = 0;
	c->req_classified = r->body == HTTP_BODY_NONE ||
	    (r->body == HTTP_BODY_LENGTH && r->content_length == 0);
	c->cin_body = 0;
	c->cin_kept = 0;
	http_chunked_init(&c->req_chunk);
	c->resp_byte = c->resp_started = c->resp_classified = 0;
	c->retried = 0;
	c->ntried = 0;
	c->fail_status = 502;
	c->uin_body = 0;
	c->rstate = c->req_classified ? RS_DONE : RS_BODY;

	if (c->kind == LISTENER_ADMIN) {
		c->cin->start += headlen;
		return proxy_admin(c);
	}
	c->alog = access_log_begin(r, c->peer_family, c->peer_addr, c->t_head);
	if (r->is_connect)
		return proxy_local(c, 501, 0, NULL);
#ifdef INGRESSD_TEST_HOOKS
	{
		char msg[256];

		if (testhook_request(r, msg, sizeof(msg))) {
			c->cin->start += headlen;
			return proxy_local(c, 200, 0, msg);
		}
	}
#endif
	if ((ws = worker_snapshot_current()) == NULL) {
		c->cin->start += headlen;
		return proxy_local(c, 503, 1, NULL);
	}
	worker_snapshot_ref(ws);
	c->ws = ws;
	s = &ws->snap.settings;
	if (router_match(&ws->snap, r->host != NULL ? r->host : "",
	    r->host != NULL ? r->host_len : 0, r->path, r->path_len, &m) !=
	    ROUTER_OK) {
		c->cin->start += headlen;
		return proxy_local(c, 404, 1, NULL);
	}
	if (c->kind == LISTENER_HTTP && (m.tls_flags & ROUTE_TLS_REDIRECT) &&
	    s->https_port != 0 && r->host != NULL) {
		c->cin->start += headlen;
		if (proxy_redirect(c, r, s->https_port) == 1)
			return 1;
		c->cin->start -= headlen;
	}
	/* HSTS only over TLS: browsers ignore it on plain HTTP anyway. */
	c->hsts = (m.tls_flags & ROUTE_TLS_HSTS) && client_io_is_tls(&c->io);
	c->hsts_sub = (m.tls_flags & ROUTE_TLS_HSTS_SUBDOMAINS) != 0;
	c->hsts_max_age = m.hsts_max_age;
	if (s->max_body_size != 0 && r->body == HTTP_BODY_LENGTH &&
	    r->content_length > s->max_body_size)
		return proxy_local(c, 413, 0, NULL);
	c->backend = m.backend;
	c->mreq.host = m.host;
	c->mreq.backend = m.backend;
	snapshot_backend(&ws->snap, m.backend, &b);
	if (b.nendpoints == 0) {
		c->cin->start += headlen;
		return proxy_local(c, 503, 1, NULL);
	}
	proxy_policy_key(c, r, &b);
	if (proxy_request_head(c, head, headlen) == -1)
		return proxy_local(c, 503, 0, NULL);
	c->cin->start += headlen;
	c->pstate = PS_WAIT;
	return proxy_upstream_start(c);
}

/*
 * Tries to parse a request head from cin.  Returns 1 when something
 * happened (a request started, an error queued), 0 when more bytes are
 * needed, -1 when the connection was closed.
 */
static int
proxy_parse_request(struct proxy_conn *c)
{
	const struct route_settings *s = proxy_settings(c);
	struct http_limits lim;
	size_t len = BUF_LEN(c->cin), max;
	int r, status = 400;

	if (len == 0)
		return 0;
	if (c->rstate == RS_IDLE) {
		c->rstate = RS_HEAD;
		c->t_head = ev_now(c->loop);
	}
	max = proxy_ms(s->max_header_size, PROXY_DEF_HEAD_SIZE);
	lim.max_head_size = max;
	lim.max_headers = proxy_ms(s->max_headers, PROXY_DEF_HEADERS);
	r = http_parse_request(c->cin->data + c->cin->start, len, &lim,
	    &proxy_req, &status);
	if (r > 0)
		return proxy_request_start(c, r);
	c->req_head = 0;
	c->req_keep_alive = 0;
	if (r == HTTP_PARSE_ERROR)
		return proxy_local(c, status, 0, NULL);
	/* Incomplete. */
	if (len >= max)
		return proxy_local(c, 431, 0, NULL);
	if (c->client_eof) {
		proxy_close(c);
		return -1;
	}
	if (c->cin->end == c->cin->cap) {
		if (c->cin->start > 0)
			proxy_buf_compact(c->cin);
		else if (proxy_buf_grow(&c->cin, max + 1) == -1)
			return proxy_local(c, 431, 0, NULL);
		return 1;
	}
	return 0;
}

/*
 * Classifies new cin bytes as request body (or tunnel data).  Returns 1
 * when something changed, 0 when not, -1 when the connection closed.
 */
static int
proxy_request_body(struct proxy_conn *c)
{
	const struct route_settings *s;
	size_t avail = BUF_LEN(c->cin) - c->cin_body;
	ssize_t n;
	int done = 0;

	if (c->rstate == RS_TUNNEL) {
		c->cin_body += avail;
		return avail > 0;
	}
	if (c->rstate != RS_BODY)
		return 0;
	if (c->req_classified) {
		if (c->cin_body == 0) {
			c->rstate = RS_DONE;
			return 1;
		}
		return 0;
	}
	if (avail == 0)
		return 0;
	if (c->req_body == HTTP_BODY_LENGTH) {
		if (avail > c->req_left)
			avail = c->req_left;
		c->cin_body += avail;
		c->req_left -= avail;
		c->req_classified = c->req_left == 0;
		return 1;
	}
	n = http_chunked_scan(&c->req_chunk, c->cin->data + c->cin->start +
	    c->cin_body, avail, &done);
	if (n == -1) {
		if (!c->resp_started)
			return proxy_local(c, 400, 0, NULL);
		return proxy_abort(c);
	}
	c->cin_body += n;
	c->req_classified = done;
	s = proxy_settings(c);
	if (s->max_body_size != 0 &&
	    c->req_chunk.body_bytes > s->max_body_size) {
		if (!c->resp_started && c->req_body_sent == 0)
			return proxy_local(c, 413, 0, NULL);
		return proxy_abort(c);
	}
	return n > 0 || done;
}

/*
 * Parses the response head in uin.  1xx other than 101 are relayed to
 * HTTP/1.1 clients and skipped; 101 answers an Upgrade request with a
 * tunnel; a final head is rewritten into hbuf.  Returns 1 on progress,
 * 0 when more bytes are needed, -1 when the connection closed.
 */
static int
proxy_parse_response(struct proxy_conn *c)
{
	struct http_limits lim;
	struct http_response *r = &proxy_resp;
	struct proxy_buf *b;
	size_t len = BUF_LEN(c->uin);
	int n, status = 502;

	if (len == 0)
		return 0;
	/* A relayed 1xx still on its way out: one head at a time. */
	if (c->hdir == HB_CLIENT && c->hsent < BUF_LEN(c->hbuf))
		return 0;
	lim.max_head_size = PROXY_RESP_HEAD_MAX;
	lim.max_headers = HTTP_MAX_HEADERS;
	n = http_parse_response(c->uin->data + c->uin->start, len, &lim,
	    c->req_head, r, &status);
	if (n == HTTP_PARSE_INCOMPLETE) {
		if (len >= PROXY_RESP_HEAD_MAX)
			goto bad;
		if (c->uin->end == c->uin->cap) {
			if (c->uin->start > 0)
				proxy_buf_compact(c->uin);
			else if (proxy_buf_grow(&c->uin,
			    PROXY_RESP_HEAD_MAX) == -1)
				goto bad;
			return 1;
		}
		return 0;
	}
	if (n < 0)
		goto bad;
	if (r->status < 200 && r->status != 101) {
		if (!c->req_http10) {
			if ((b = proxy_buf_get(n)) == NULL)
				goto bad;
			proxy_buf_put(&c->hbuf);
			c->hbuf = b;
			proxy_buf_add(b, c->uin->data + c->uin->start, n);
			c->hdir = HB_CLIENT;
			c->hsent = 0;
		}
		c->uin->start += n;
		return 1;
	}
	if (r->status == 101) {
		if (!c->req_upgrade)
			goto bad;
		c->close_after = 1;
		c->rstate = RS_TUNNEL;
		c->pstate = PS_TUNNEL;
		c->cin_body = 0;
		c->cin_kept = 0;
		c->up_keep = 0;
	} else {
		/* HTTP/1.0 has no chunked coding: the body goes decoded,
		 * delimited by the close. */
		c->dechunk = c->req_http10 && r->body == HTTP_BODY_CHUNKED;
		c->dc_state = DC_SIZE;
		c->dc_line = 0;
		c->up_keep = r->keep_alive;
		if (c->rstate == RS_BODY && c->req_expect &&
		    c->req_body_sent == 0) {
			/* Refused before the body: never send it. */
			c->rstate = RS_ABANDON;
			c->up_keep = 0;
		}
		if (c->rstate == RS_ABANDON || c->rstate == RS_BODY ||
		    !c->req_keep_alive || worker_draining() ||
		    r->body == HTTP_BODY_UNTIL_CLOSE ||
		    (c->req_http10 && r->body != HTTP_BODY_LENGTH &&
		    r->body != HTTP_BODY_NONE))
			c->close_after = 1;
		c->pstate = PS_BODY;
		c->resp_body = r->body;
		c->resp_left = r->body == HTTP_BODY_LENGTH ?
		    r->content_length : 0;
		c->resp_classified = r->body == HTTP_BODY_NONE ||
		    (r->body == HTTP_BODY_LENGTH && r->content_length == 0);
		http_chunked_init(&c->resp_chunk);
	}
	proxy_passive(c, r->status < 500);
	access_log_status(c->alog, r->status);
	c->mreq.status = r->status;
	c->mreq.t_resp = ev_now(c->loop);
	if (proxy_response_head(c, n) == -1)
		goto bad;
	c->resp_started = 1;
	c->uin->start += n;
	c->uin_body = 0;
	return 1;
bad:
	proxy_upstream_close(c);
	if (!c->resp_started)
		return proxy_local(c, 502, 0, NULL);
	return proxy_abort(c);
}

/*
 * Decodes in place the <len> chunked-body bytes at <p>, which the chunked
 * scanner already validated (sizes, CRLFs, limits): keeps the chunk data,
 * drops sizes, extensions, CRLFs and trailers.  The chunk size left is in
 * c->resp_left.  Returns how many data bytes now start at <p>.
 */
static size_t
proxy_dechunk(struct proxy_conn *c, char *p, size_t len)
{
	size_t i = 0, out = 0, k;
	char ch;

	while (i < len) {
		switch (c->dc_state) {
		case DC_SIZE:
			ch = p[i++];
			if (ch >= '0' && ch <= '9')
				c->resp_left = c->resp_left * 16 + (ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				c->resp_left = c->resp_left * 16 +
				    (ch - 'a' + 10);
			else if (ch >= 'A' && ch <= 'F')
				c->resp_left = c->resp_left * 16 +
				    (ch - 'A' + 10);
			else if (ch == '\n')
				c->dc_state = c->resp_left ? DC_DATA :
				    DC_TRAILER;
			else if (ch != '\r')
				c->dc_state = DC_EXT;
			break;
		case DC_EXT:
			if (p[i++] == '\n')
				c->dc_state = c->resp_left ? DC_DATA :
				    DC_TRAILER;
			break;
		case DC_DATA:
			k = len - i;
			if (k > c->resp_left)
				k = c->resp_left;
			memmove(p + out, p + i, k);
			out += k;
			i += k;
			c->resp_left -= k;
			if (c->resp_left == 0)
				c->dc_state = DC_DATA_END;
			break;
		case DC_DATA_END:
			if (p[i++] == '\n')
				c->dc_state = DC_SIZE;
			break;
		default:	/* DC_TRAILER: lines up to an empty one */
			ch = p[i++];
			if (ch == '\n')
				c->dc_line = 0;
			else if (ch != '\r')
				c->dc_line = 1;
			break;
		}
	}
	return out;
}

/* Classifies new uin bytes as response body.  1, 0, or -1 (closed). */
static int
proxy_response_body(struct proxy_conn *c)
{
	size_t avail = BUF_LEN(c->uin) - c->uin_body, m;
	ssize_t n;
	char *p;
	int done = 0;

	if (c->pstate == PS_TUNNEL) {
		c->uin_body += avail;
		return avail > 0;
	}
	if (c->resp_classified || avail == 0)
		return 0;
	switch (c->resp_body) {
	case HTTP_BODY_LENGTH:
		if (avail > c->resp_left)
			avail = c->resp_left;
		c->uin_body += avail;
		c->resp_left -= avail;
		c->resp_classified = c->resp_left == 0;
		return 1;
	case HTTP_BODY_CHUNKED:
		p = c->uin->data + c->uin->start + c->uin_body;
		n = http_chunked_scan(&c->resp_chunk, p, avail, &done);
		if (n == -1)
			return proxy_abort(c);
		if (c->dechunk) {
			m = proxy_dechunk(c, p, n);
			/* Close the gap the framing left. */
			memmove(p + m, p + n, avail - n);
			c->uin->end -= n - m;
			c->uin_body += m;
		} else
			c->uin_body += n;
		c->resp_classified = done;
		return n > 0 || done;
	case HTTP_BODY_UNTIL_CLOSE:
		c->uin_body += avail;
		return 1;
	default:
		c->resp_classified = 1;
		return 1;
	}
}

/*
 * The response went out whole: give the upstream connection back to the
 * pool when it can serve again, drop the snapshot, and either close the
 * client or make it ready for the next request.  1, or -1 when closed.
 */
static int
proxy_request_finish(struct proxy_conn *c)
{
	const struct route_settings *s = proxy_settings(c);
	struct snapshot_backend b;
	struct snapshot_endpoint ep;

	if (c->ufd != -1 && c->pstate == PS_DONE && c->up_keep &&
	    !c->up_eof && !c->up_nowrite && c->rstate == RS_DONE &&
	    BUF_LEN(c->uin) == 0 && !upstream_io_pending(&c->uio) &&
	    c->resp_body != HTTP_BODY_UNTIL_CLOSE && c->ws != NULL &&
	    !worker_draining()) {
		snapshot_backend(&c->ws->snap, c->backend, &b);
		snapshot_endpoint(&c->ws->snap, b.first_endpoint +
		    c->pick.index, &ep);
		ev_io_stop(c->loop, &c->urd);
		ev_io_stop(c->loop, &c->uwr);
		upstream_pool_put(c->loop, (struct sockaddr *)&ep.addr,
		    ep.addrlen, upstream_tls_key(&c->ws->snap, c->backend),
		    c->ufd, &c->uio, s->upstream_keepalive,
		    proxy_ms(s->upstream_idle_timeout_ms, PROXY_DEF_UPIDLE_MS));
		c->ufd = -1;
		memset(&c->uio, 0, sizeof(c->uio));	/* the pool's now */
	}
	proxy_request_end(c);
	if (c->close_after || worker_draining() ||
	    (c->client_eof && BUF_LEN(c->cin) == 0)) {
		proxy_close_graceful(c);
		return -1;
	}
	c->rstate = RS_IDLE;
	c->pstate = PS_NONE;
	c->cin_body = 0;
	c->cin_kept = 0;
	c->uin_body = 0;
	c->t_in = ev_now(c->loop);
	if (BUF_LEN(c->cin) == 0)
		proxy_buf_put(&c->cin);
	return 1;
}

/*
 * Moves the request along its phases once.  1 on progress, 0 when
 * nothing changed, -1 when the connection was closed.
 */
static int
proxy_step(struct proxy_conn *c)
{
	int r, progress = 0;

	if (c->pstate == PS_NONE) {
		if (c->rstate == RS_IDLE || c->rstate == RS_HEAD)
			return proxy_parse_request(c);
		return 0;
	}
	if (c->pstate == PS_LOCAL) {
		if (proxy_client_pending(c))
			return 0;
		if (c->close_after) {
			proxy_close_graceful(c);
			return -1;
		}
		c->pstate = PS_DONE;
		return proxy_request_finish(c);
	}
	if (c->cin_kept > 0 && (c->resp_byte || c->cin->end == c->cin->cap))
		proxy_replay_release(c, !c->resp_byte);
	if ((r = proxy_request_body(c)) != 0) {
		if (r == -1)
			return -1;
		progress = 1;
		if (c->pstate == PS_LOCAL)
			return 1;
	}
	if (c->pstate == PS_WAIT) {
		if ((r = proxy_parse_response(c)) != 0)
			return r;
	}
	if (c->pstate == PS_BODY || c->pstate == PS_TUNNEL) {
		if ((r = proxy_response_body(c)) == -1)
			return -1;
		progress |= r;
	}
	if (c->pstate == PS_TUNNEL) {
		if ((c->client_eof && c->cin_body == 0) ||
		    (c->up_eof && !proxy_client_pending(c))) {
			proxy_close(c);
			return -1;
		}
		return progress;
	}
	if (c->pstate == PS_BODY && c->resp_classified &&
	    !proxy_client_pending(c)) {
		c->pstate = PS_DONE;
		progress = 1;
	}
	if (c->pstate == PS_DONE) {
		if (c->rstate == RS_BODY) {
			/* Answered before the body was through. */
			c->rstate = RS_ABANDON;
			c->close_after = 1;
		}
		if (c->rstate == RS_DONE || c->rstate == RS_ABANDON)
			return proxy_request_finish(c);
	}
	return progress;
}

/*
 * I/O.
 */

/* Writes what hbuf and uin hold for the client.  1, 0, or -1 (closed). */
static int
proxy_client_write(struct proxy_conn *c)
{
	struct iovec iov[2];
	size_t hl = 0;
	ssize_t n;
	int niov = 0;

	if (c->hdir == HB_CLIENT && c->hsent < BUF_LEN(c->hbuf)) {
		hl = BUF_LEN(c->hbuf) - c->hsent;
		iov[niov].iov_base = c->hbuf->data + c->hbuf->start + c->hsent;
		iov[niov++].iov_len = hl;
	}
	if (c->uin_body > 0) {
		iov[niov].iov_base = c->uin->data + c->uin->start;
		iov[niov++].iov_len = c->uin_body;
	}
	if (niov == 0)
		return 0;
	do {
		n = client_io_sendv(&c->io, iov, niov);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!c->cw_blocked)
				c->t_out = ev_now(c->loop);
			c->cw_blocked = 1;
			return 0;
		}
		return proxy_abort(c);
	}
	access_log_sent(c->alog, (size_t)n);
	c->t_out = ev_now(c->loop);
	if ((size_t)n < hl) {
		c->hsent += n;
		c->cw_blocked = 1;
		return 1;
	}
	c->hsent += hl;
	n -= hl;
	if (n == 0)
		return 1;
	c->uin->start += n;
	c->uin_body -= n;
	if (c->uin_body > 0)
		c->cw_blocked = 1;
	if (BUF_LEN(c->uin) == 0)
		c->uin->start = c->uin->end = 0;
	return 1;
}

/* Writes the request head and body bytes upstream.  1, 0, or -1. */
static int
proxy_up_write(struct proxy_conn *c)
{
	struct iovec iov[2];
	size_t hl = 0;
	ssize_t n;
	int niov = 0;

	if (c->hdir == HB_UP && c->hsent < BUF_LEN(c->hbuf)) {
		hl = BUF_LEN(c->hbuf) - c->hsent;
		iov[niov].iov_base = c->hbuf->data + c->hbuf->start + c->hsent;
		iov[niov++].iov_len = hl;
	}
	if (c->cin_body > c->cin_kept && (c->rstate == RS_BODY ||
	    c->rstate == RS_TUNNEL)) {
		iov[niov].iov_base = c->cin->data + c->cin->start +
		    c->cin_kept;
		iov[niov++].iov_len = c->cin_body - c->cin_kept;
	}
	if (niov == 0)
		return 0;
	do {
		n = upstream_io_sendv(&c->uio, c->ufd, iov, niov);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!c->uw_blocked)
				c->t_up = ev_now(c->loop);
			c->uw_blocked = 1;
			return 0;
		}
		if (c->pstate == PS_TUNNEL)
			return proxy_abort(c);
		if (proxy_can_retry(c))
			return proxy_up_fail(c, 502, 0);
		/*
		 * The backend may have answered early and closed (a 413 for
		 * a big upload): stop sending, and read what it said; a
		 * read failure turns into the 502 then.
		 */
		c->up_nowrite = 1;
		c->uw_blocked = 0;
		c->head_sent = 1;
		if (c->rstate == RS_BODY) {
			c->rstate = RS_ABANDON;
			c->close_after = 1;
		}
		return 1;
	}
	c->t_up = ev_now(c->loop);
	if ((size_t)n < hl) {
		c->hsent += n;
		c->uw_blocked = 1;
		return 1;
	}
	c->hsent += hl;
	if (c->hdir == HB_UP)
		c->head_sent = 1;
	n -= hl;
	if (n == 0)
		return 1;
	c->req_body_sent += n;
	if (proxy_replay_keep(c))
		c->cin_kept += n;
	else {
		proxy_replay_release(c, 1);
		c->cin->start += n;
		c->cin_body -= n;
	}
	if (c->cin_body > c->cin_kept)
		c->uw_blocked = 1;
	if (BUF_LEN(c->cin) == 0)
		c->cin->start = c->cin->end = 0;
	return 1;
}

/*
 * Drives <c> after any event: steps the request until it stops changing,
 * writes what can be written without blocking, repeats while that made
 * progress, then sets the watchers and the timer.  Returns 0, or -1 when
 * <c> was closed (and freed).
 */
static int
proxy_pump(struct proxy_conn *c)
{
	int r, progress;

	if (c->linger)
		return 0;
	do {
		/* Steps first, so that a head and the body bytes that came
		 * with it leave in one writev. */
		while ((r = proxy_step(c)) == 1)
			;
		if (r == -1)
			return -1;
		progress = 0;
		if (!c->cw_blocked && proxy_client_pending(c)) {
			if ((r = proxy_client_write(c)) == -1)
				return -1;
			progress |= r;
		}
		if (!c->uw_blocked && proxy_up_pending(c)) {
			if ((r = proxy_up_write(c)) == -1)
				return -1;
			progress |= r;
		}
	} while (progress);
	proxy_watch(c);
	return 0;
}

/* 1 when reading the client makes sense in this state. */
static int
proxy_want_client_read(const struct proxy_conn *c)
{
	if (c->client_eof)
		return 0;
	if (c->linger)
		return 1;
	if (c->rstate == RS_ABANDON || c->pstate == PS_LOCAL)
		return 0;
	if (c->cin == NULL)
		return 1;
	if (c->cin->end < c->cin->cap)
		return 1;
	return c->cin->start > 0;
}

/* 1 when reading the upstream makes sense in this state. */
static int
proxy_want_up_read(const struct proxy_conn *c)
{
	if (c->ufd == -1 || c->up_connecting || c->up_eof)
		return 0;
	if (c->pstate != PS_WAIT && c->pstate != PS_BODY &&
	    c->pstate != PS_TUNNEL)
		return 0;
	if (c->pstate == PS_WAIT && !c->head_sent)
		return 0;
	if (c->pstate == PS_BODY && c->resp_classified)
		return 0;
	if (c->uin == NULL)
		return 1;
	return c->uin->end < c->uin->cap || c->uin->start > 0;
}

/* Deadline of the phase c is in; sets *<why>.  0 for none. */
static ev_tstamp
proxy_deadline(const struct proxy_conn *c, enum proxy_timeout *why)
{
	const struct route_settings *s = proxy_settings(c);
	ev_tstamp dl = 0, t;
	struct snapshot_backend b;
	uint32_t connect_ms, response_ms;

#define DL(when, w) do {						\
	t = (when);							\
	if (dl == 0 || t < dl) {					\
		dl = t;							\
		*why = (w);						\
	}								\
} while (0)

	*why = T_NONE;
	if (c->linger)
		return c->t_out + PROXY_LINGER;
	if (client_io_handshaking(&c->io)) {
		*why = T_IDLE;		/* closed silently, like an idle one */
		return c->t_in + proxy_ms(s->tls_handshake_timeout_ms,
		    PROXY_DEF_TLS_HANDSHAKE_MS) / 1000.;
	}
	if (c->pstate == PS_NONE) {
		if (c->rstate == RS_HEAD) {
			*why = T_HEADER;
			return c->t_head + proxy_ms(s->client_header_timeout_ms,
			    PROXY_DEF_HEADER_MS) / 1000.;
		}
		*why = T_IDLE;
		if (proxy_drain_at > 0)
			return proxy_drain_at + PROXY_DRAIN_IDLE;
		if (c->fresh)
			return c->t_in + proxy_ms(s->client_header_timeout_ms,
			    PROXY_DEF_HEADER_MS) / 1000.;
		return c->t_in + proxy_ms(s->client_idle_timeout_ms,
		    PROXY_DEF_IDLE_MS) / 1000.;
	}
	if (c->cw_blocked && proxy_client_pending(c))
		DL(c->t_out + proxy_ms(s->client_idle_timeout_ms,
		    PROXY_DEF_IDLE_MS) / 1000., T_SEND);
	if (c->pstate == PS_TUNNEL) {
		t = c->t_in > c->t_up ? c->t_in : c->t_up;
		t = t > c->t_out ? t : c->t_out;
		DL(t + proxy_ms(s->client_idle_timeout_ms,
		    PROXY_DEF_IDLE_MS) / 1000., T_TUNNEL);
		return dl;
	}
	if (c->rstate == RS_BODY && ev_is_active(&c->rd))
		DL(c->t_in + proxy_ms(s->client_body_timeout_ms,
		    PROXY_DEF_BODY_MS) / 1000., T_BODY);
	if (c->ufd != -1 && c->ws != NULL) {
		snapshot_backend(&c->ws->snap, c->backend, &b);
		connect_ms = proxy_ms(b.connect_timeout_ms,
		    proxy_ms(s->upstream_connect_timeout_ms,
		    PROXY_DEF_CONNECT_MS));
		response_ms = proxy_ms(b.response_timeout_ms,
		    proxy_ms(s->upstream_response_timeout_ms,
		    PROXY_DEF_RESPONSE_MS));
		if (c->up_connecting)
			DL(c->t_up + connect_ms / 1000., T_CONNECT);
		else if (ev_is_active(&c->urd) || (c->uw_blocked &&
		    proxy_up_pending(c)))
			DL(c->t_up + response_ms / 1000., T_RESPONSE);
	}
	return dl;
#undef DL
}

/* Re-arms the one timer when the deadline moved earlier. */
static void
proxy_timer_update(struct proxy_conn *c)
{
	enum proxy_timeout why;
	ev_tstamp dl, now;

	dl = proxy_deadline(c, &why);
	if (dl == 0) {
		ev_timer_stop(c->loop, &c->timer);
		return;
	}
	if (ev_is_active(&c->timer) && c->timer_at <= dl + 0.001)
		return;		/* fires early and re-checks */
	now = ev_now(c->loop);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, dl > now ? dl - now : 0., 0.);
	ev_timer_start(c->loop, &c->timer);
	c->timer_at = dl;
}

/* Starts the watchers the state needs and stops the others. */
static void
proxy_watch(struct proxy_conn *c)
{
	struct ev_loop *loop = c->loop;

	if (proxy_want_client_read(c) || c->io.wr_wants_read) {
		if (!ev_is_active(&c->rd)) {
			if (c->rstate == RS_BODY)
				c->t_in = ev_now(loop);
			ev_io_start(loop, &c->rd);
		}
		/* Bytes OpenSSL already decrypted raise no read event. */
		if (proxy_want_client_read(c) && client_io_pending(&c->io))
			ev_feed_event(loop, &c->rd, EV_READ);
	} else
		ev_io_stop(loop, &c->rd);
	if ((c->cw_blocked && proxy_client_pending(c)) || c->io.rd_wants_write)
		ev_io_start(loop, &c->wr);
	else {
		c->cw_blocked = 0;
		ev_io_stop(loop, &c->wr);
	}
	if (c->ufd != -1) {
		if (proxy_want_up_read(c)) {
			if (!ev_is_active(&c->urd)) {
				c->t_up = ev_now(loop);
				ev_io_start(loop, &c->urd);
			}
		} else if (c->uio.want_read)	/* TLS: handshake, write */
			ev_io_start(loop, &c->urd);
		else
			ev_io_stop(loop, &c->urd);
		/* A TLS operation waiting to read needs no writability. */
		if ((c->up_connecting && !c->uio.want_read) ||
		    c->uio.want_write || (c->uw_blocked &&
		    proxy_up_pending(c) && !c->uio.want_read))
			ev_io_start(loop, &c->uwr);
		else {
			c->uw_blocked = 0;
			ev_io_stop(loop, &c->uwr);
		}
	}
	proxy_timer_update(c);
}

/*
 * Client readable: reads into cin (the request head, body, pipelined
 * requests or tunnel bytes), or discards while lingering.  EOF closes at
 * once when no request is pending or a body is cut short; otherwise the
 * request in flight finishes first.
 */
static void
proxy_client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxy_conn *c = (struct proxy_conn *)
	    ((char *)w - offsetof(struct proxy_conn, rd));
	char sink[4096];
	ssize_t n;

	if (c->io.wr_wants_read) {
		/* A TLS write waited for this: let it go on. */
		c->io.wr_wants_read = 0;
		ev_feed_event(loop, &c->wr, EV_WRITE);
	}
	if (c->linger) {
		n = client_io_recv(&c->io, sink, sizeof(sink));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			proxy_close(c);
		return;
	}
	if (c->cin == NULL && (c->cin = proxy_buf_get(PROXY_BUF_SIZE)) ==
	    NULL) {
		proxy_close(c);
		return;
	}
	proxy_buf_compact(c->cin);
	if (c->cin->end == c->cin->cap) {
		ev_io_stop(loop, &c->rd);
		return;
	}
	n = client_io_recv(&c->io, c->cin->data + c->cin->end,
	    c->cin->cap - c->cin->end);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			if (c->io.rd_wants_write)
				proxy_watch(c);
			return;
		}
		proxy_close(c);
		return;
	}
	if (n == 0) {
		c->client_eof = 1;
		switch (c->rstate) {
		case RS_IDLE:
		case RS_HEAD:
			if (c->pstate == PS_NONE && BUF_LEN(c->cin) == 0) {
				proxy_close(c);
				return;
			}
			break;
		case RS_BODY:
			if (!c->req_classified) {
				proxy_close(c);
				return;
			}
			break;
		default:
			break;
		}
		if (BUF_LEN(c->cin) == 0)
			proxy_buf_put(&c->cin);
	} else {
		c->cin->end += n;
		c->t_in = ev_now(loop);
	}
	proxy_pump(c);
}

/* Client writable again: resume writing. */
static void
proxy_client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxy_conn *c = (struct proxy_conn *)
	    ((char *)w - offsetof(struct proxy_conn, wr));

	if (c->io.rd_wants_write) {
		/* A TLS read waited for this: let it go on. */
		c->io.rd_wants_write = 0;
		ev_feed_event(loop, &c->rd, EV_READ);
	}
	c->cw_blocked = 0;
	proxy_pump(c);
}

/*
 * Upstream readable: reads into uin.  EOF or an error before the response
 * head fails the attempt (retry, next endpoint or 502); EOF ends an
 * until-close body or a tunnel; anything else mid-body truncates the
 * response, so the client connection is aborted.
 */
static void
proxy_up_read(struct proxy_conn *c)
{
	struct ev_loop *loop = c->loop;
	ssize_t n;

	if (c->uin == NULL && (c->uin = proxy_buf_get(PROXY_BUF_SIZE)) ==
	    NULL) {
		proxy_close(c);
		return;
	}
	proxy_buf_compact(c->uin);
	if (c->uin->end == c->uin->cap) {
		ev_io_stop(loop, &c->urd);
		return;
	}
	n = upstream_io_recv(&c->uio, c->ufd, c->uin->data + c->uin->end,
	    c->uin->cap - c->uin->end);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		if (c->uio.want_write)
			proxy_watch(c);		/* TLS: it must write first */
		return;
	}
	if (n <= 0) {
		if (c->pstate == PS_WAIT) {
			if (proxy_up_fail(c, 502, 0) == -1)
				return;
		} else if (c->pstate == PS_BODY &&
		    c->resp_body == HTTP_BODY_UNTIL_CLOSE && n == 0) {
			c->up_eof = 1;
			c->resp_classified = 1;
			c->close_after = 1;
		} else if (c->pstate == PS_TUNNEL && n == 0) {
			c->up_eof = 1;
		} else if (c->pstate == PS_BODY) {
			/* Truncated response: the client must see it. */
			proxy_abort(c);
			return;
		} else
			c->up_eof = 1;
	} else {
		c->uin->end += n;
		c->resp_byte = 1;
		c->t_up = ev_now(loop);
	}
	proxy_pump(c);
}

/*
 * The connection being opened made progress: the TCP connect may have
 * completed (<tcp>: ask the socket), or the TLS handshake may go on.  A
 * failure of either is a connect error (next endpoint, or 502).
 */
static void
proxy_up_connect_step(struct proxy_conn *c, int tcp)
{
	if (tcp && upstream_connect_result(c->ufd) == -1)
		goto fail;
	if (c->uio.ssl != NULL) {
		switch (upstream_tls_handshake(&c->uio)) {
		case UPSTREAM_TLS_HS_AGAIN:
			proxy_watch(c);
			return;
		case UPSTREAM_TLS_HS_FAILED:
			goto fail;
		default:
			break;
		}
	}
	c->up_connecting = 0;
	c->t_up = ev_now(c->loop);
	c->uw_blocked = 0;
	proxy_pump(c);
	return;
 fail:
	if (proxy_up_fail(c, 502, 1) == -1)
		return;
	proxy_pump(c);
}

static void
proxy_up_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxy_conn *c = (struct proxy_conn *)
	    ((char *)w - offsetof(struct proxy_conn, urd));

	if (c->up_connecting) {
		proxy_up_connect_step(c, 0);
		return;
	}
	if (c->uio.want_read) {
		/* A TLS write waited for this: let it go again. */
		c->uio.want_read = 0;
		c->uw_blocked = 0;
		if (!proxy_want_up_read(c)) {
			proxy_pump(c);
			return;
		}
	}
	proxy_up_read(c);
}

/* Upstream writable: a pending connect finished, or resume writing. */
static void
proxy_up_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct proxy_conn *c = (struct proxy_conn *)
	    ((char *)w - offsetof(struct proxy_conn, uwr));

	if (c->up_connecting) {
		proxy_up_connect_step(c, 1);
		return;
	}
	if (c->uio.want_write) {
		/* A TLS read waited for this. */
		c->uio.want_write = 0;
		proxy_up_read(c);
		return;
	}
	c->uw_blocked = 0;
	proxy_pump(c);
}

/*
 * The one timer of <c>: recomputes the deadline of the phase from the
 * last-activity times (ev(3) "Be smart about timeouts") and acts only
 * when it really passed: 408, 504, next endpoint, abort or a silent close.
 */
static void
proxy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy_conn *c = (struct proxy_conn *)
	    ((char *)w - offsetof(struct proxy_conn, timer));
	enum proxy_timeout why;
	ev_tstamp dl;

	dl = proxy_deadline(c, &why);
	if (dl == 0)
		return;
	if (dl > ev_now(loop) + 0.001) {
		ev_timer_set(&c->timer, dl - ev_now(loop), 0.);
		ev_timer_start(loop, &c->timer);
		c->timer_at = dl;
		return;
	}
	switch (why) {
	case T_HEADER:
		if (proxy_local(c, 408, 0, NULL) == -1)
			return;
		break;
	case T_BODY:
		if (c->resp_started) {
			proxy_abort(c);
			return;
		}
		if (proxy_local(c, 408, 0, NULL) == -1)
			return;
		break;
	case T_CONNECT:
		if (proxy_up_fail(c, 504, 1) == -1)
			return;
		break;
	case T_RESPONSE:
		if (c->resp_started) {
			proxy_abort(c);
			return;
		}
		c->retried = 1;		/* a slow backend is no race */
		if (proxy_up_fail(c, 504, 0) == -1)
			return;
		break;
	default:	/* idle, send, tunnel, linger */
		proxy_close(c);
		return;
	}
	proxy_pump(c);
}

/*
 * Entry points.
 */

void
proxy_accept_peer(struct ev_loop *loop, int fd, enum listener_kind kind,
    const struct sockaddr *peer, socklen_t peerlen, uint16_t local_port)
{
	struct proxy_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->loop = loop;
	c->fd = fd;
	if (kind == LISTENER_HTTPS) {
		if (client_io_tls(&c->io, fd) == -1) {
			free(c);
			close(fd);
			return;
		}
	} else
		client_io_plain(&c->io, fd);
	c->ufd = -1;
	c->kind = kind;
	c->lport = local_port;
	c->fresh = 1;
	if (peer != NULL && peer->sa_family == AF_INET &&
	    peerlen >= sizeof(struct sockaddr_in)) {
		c->peer_family = 4;
		memcpy(c->peer_addr,
		    &((const struct sockaddr_in *)peer)->sin_addr, 4);
	} else if (peer != NULL && peer->sa_family == AF_INET6 &&
	    peerlen >= sizeof(struct sockaddr_in6)) {
		c->peer_family = 6;
		memcpy(c->peer_addr,
		    &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
	}
	ev_io_init(&c->rd, proxy_client_read_cb, fd, EV_READ);
	ev_io_init(&c->wr, proxy_client_write_cb, fd, EV_WRITE);
	ev_io_init(&c->urd, proxy_up_read_cb, -1, EV_READ);
	ev_io_init(&c->uwr, proxy_up_write_cb, -1, EV_WRITE);
	ev_init(&c->timer, proxy_timer_cb);
	c->t_in = c->t_out = c->t_up = ev_now(loop);
	TAILQ_INSERT_TAIL(&proxy_conns, c, entry);
	proxy_nconns++;
	proxy_watch(c);
}

void
proxy_accept(struct ev_loop *loop, int fd, enum listener_kind kind)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	uint16_t port = 0;

	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == -1)
		plen = 0;
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
		if (local.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&local)->sin_port);
		else if (local.ss_family == AF_INET6)
			port = ntohs(
			    ((struct sockaddr_in6 *)&local)->sin6_port);
	}
	proxy_accept_peer(loop, fd, kind, plen ? (struct sockaddr *)&peer :
	    NULL, plen, port);
}

void
proxy_drain(struct ev_loop *loop)
{
	struct proxy_conn *c, *next;

	upstream_pool_close_all(loop);
	/*
	 * An idle or just accepted connection is not closed at once: its
	 * client may have sent a request that is still on the wire, and a
	 * close now would answer it with a reset.  It gets PROXY_DRAIN_IDLE
	 * to bring one, which is served with "Connection: close".
	 */
	proxy_drain_at = ev_now(loop);
	for (c = TAILQ_FIRST(&proxy_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		c->close_after = 1;
		if (c->pstate == PS_NONE && c->rstate == RS_IDLE)
			proxy_timer_update(c);
	}
}

void
proxy_close_all(struct ev_loop *loop)
{
	struct proxy_conn *c;

	while ((c = TAILQ_FIRST(&proxy_conns)) != NULL)
		proxy_close(c);
	upstream_pool_close_all(loop);
}

size_t
proxy_active_connections(void)
{
	return proxy_nconns;
}

size_t
proxy_idle_connections(void)
{
	const struct proxy_conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &proxy_conns, entry)
		if (c->pstate == PS_NONE && c->rstate == RS_IDLE)
			n++;
	return n;
}

uint64_t
proxy_requests_total(void)
{
	return proxy_nrequests;
}
