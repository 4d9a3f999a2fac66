/*
 * proxy_conn: what the pieces of the proxy share, and nothing else.
 *
 * The proxy (proxy.h is its interface to the rest of the worker) is one
 * module in several files, each with one job:
 *
 *	proxy.c		 connection life: accept, the state machine driver
 *			 (step, pump, watchers), timeouts, close and
 *			 linger, drain; client socket events
 *	proxy_request.c	 the client's request: parsing, routing, the
 *			 upstream request head, body classification
 *	proxy_pick.c	 which endpoint: picking, connecting, retries,
 *			 passive health, the replay of a kept body
 *	proxy_upstream.c the upstream connection: forwarding the request,
 *			 reading and parsing the response, its body (and
 *			 dechunking), the response head with its cookie
 *			 and HSTS lines
 *	proxy_local.c	 ingressd's own responses: errors, the admin
 *			 listener's, ssl-redirect, the Date cache
 *	proxy_buf.c	 the buffer pool
 *
 * Only those files include this header; it is not installed.  Every
 * function declared here keeps the module's proxy_ prefix and is grouped
 * below under the file that defines it; everything else in those files is
 * static.  Helpers too small and too hot to pay for a call across files
 * are static inline here.
 */
#ifndef INGRESSD_PROXY_CONN_H
#define INGRESSD_PROXY_CONN_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "common/http.h"
#include "common/snapshot.h"
#include "worker/access_log.h"
#include "worker/balancer.h"
#include "worker/client_io.h"
#include "worker/listener.h"
#include "worker/metrics.h"
#include "worker/proxy_buf.h"
#include "worker/upstream_tls.h"
#include "worker/worker.h"

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

#define PROXY_STICKY_DEFAULT	"ingressd_sticky"	/* cookie name */

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

/*
 * proxy.c
 */
void	proxy_close(struct proxy_conn *);
int	proxy_abort(struct proxy_conn *);
int	proxy_pump(struct proxy_conn *);
void	proxy_watch(struct proxy_conn *);
int	proxy_want_up_read(const struct proxy_conn *);

/*
 * proxy_request.c
 */
int	proxy_parse_request(struct proxy_conn *);
int	proxy_request_body(struct proxy_conn *);

/*
 * proxy_pick.c
 */
void	proxy_pick_done(struct proxy_conn *);
int	proxy_upstream_start(struct proxy_conn *);
int	proxy_up_fail(struct proxy_conn *, int, int);
void	proxy_passive(struct proxy_conn *, int);
int	proxy_can_retry(const struct proxy_conn *);
void	proxy_replay_release(struct proxy_conn *, int);

/*
 * proxy_upstream.c
 */
void	proxy_upstream_close(struct proxy_conn *);
int	proxy_parse_response(struct proxy_conn *);
int	proxy_response_body(struct proxy_conn *);
int	proxy_up_write(struct proxy_conn *);
void	proxy_up_read_cb(struct ev_loop *, ev_io *, int);
void	proxy_up_write_cb(struct ev_loop *, ev_io *, int);

/*
 * proxy_local.c
 */
int	proxy_respond(struct proxy_conn *, int, int, const char *,
	    const char *, const char *, size_t, int);
int	proxy_local(struct proxy_conn *, int, int, const char *);
int	proxy_redirect(struct proxy_conn *, const struct http_request *,
	    uint32_t);

/*
 * Settings.
 */

/* <v>, or <def> when the snapshot left it 0. */
static inline uint32_t
proxy_ms(uint32_t v, uint32_t def)
{
	return v == 0 ? def : v;
}

/* Settings of the request's snapshot, else the current one, else none. */
static inline const struct route_settings *
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
 * Body bytes sent on a pooled connection stay in cin (cin_kept) while an
 * idempotent request may still be replayed; they go once the response
 * begins, or when cin is full and the client must be read again.
 */
static inline int
proxy_replay_keep(const struct proxy_conn *c)
{
	return c->up_reused && !c->retried && c->req_idempotent &&
	    !c->replay_lost && !c->resp_byte && c->rstate == RS_BODY;
}

#endif
