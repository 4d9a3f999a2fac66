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
 *
 * This file keeps the connection's life: accepting, the driver above,
 * the watchers and the timer, closing and lingering, the drain.  The
 * other jobs have files of their own, listed in proxy_conn.h.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/snapshot.h"
#include "worker/access_log.h"
#include "worker/client_io.h"
#include "worker/listener.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/proxy_buf.h"
#include "worker/proxy_conn.h"
#include "worker/upstream.h"
#include "worker/upstream_tls.h"
#include "worker/worker.h"

#define PROXY_LINGER		2.0	/* seconds draining a closed client */
#define PROXY_DRAIN_IDLE	1.0	/* seconds an idle connection may
					 * still bring a request on a drain */

TAILQ_HEAD(proxy_conns, proxy_conn);
static struct proxy_conns	 proxy_conns =
    TAILQ_HEAD_INITIALIZER(proxy_conns);
static size_t			 proxy_nconns;
static ev_tstamp		 proxy_drain_at;	/* proxy_drain() ran */

/*
 * Connection life.
 */

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
void
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

/* Something broke after the response began: close both sides now. */
int
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

/*
 * Drives <c> after any event: steps the request until it stops changing,
 * writes what can be written without blocking, repeats while that made
 * progress, then sets the watchers and the timer.  Returns 0, or -1 when
 * <c> was closed (and freed).
 */
int
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
int
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
void
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
