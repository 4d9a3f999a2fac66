/*
 * proxy_upstream: the upstream (backend) side of a request, in workers
 * (RFC 9112).
 *
 * Writes the request head and body to the backend, reads its bytes,
 * parses the response head (relaying 1xx, taking 101 into a tunnel),
 * rewrites it for the client with the sticky cookie and HSTS lines, and
 * classifies the response body, decoding chunked for an HTTP/1.0 client.
 * Also drives the connect and the backend TLS handshake.  Separate from
 * proxy.c because it is the part that reads what the backend says.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/http.h"
#include "common/snapshot.h"
#include "worker/access_log.h"
#include "worker/balancer.h"
#include "worker/metrics.h"
#include "worker/proxy_buf.h"
#include "worker/proxy_conn.h"
#include "worker/proxy_head.h"
#include "worker/upstream.h"
#include "worker/upstream_tls.h"
#include "worker/worker.h"

#define PROXY_RESP_HEAD_MAX	65536	/* response head limit */

/* The parsed head: used synchronously, so one per worker. */
static struct http_response	 proxy_resp;

/*
 * Heads (the rules themselves are in proxy_head.c).
 */

/*
 * Writes the client response head for the parsed proxy_resp (<headlen>
 * bytes as received) into a fresh c->hbuf.  0 or -1.
 */
#define PROXY_STICKY_MAX	192	/* the Set-Cookie line */

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

/* Closes the upstream connection of <c>, if any; never pools it. */
void
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

/*
 * Parses the response head in uin.  1xx other than 101 are relayed to
 * HTTP/1.1 clients and skipped; 101 answers an Upgrade request with a
 * tunnel; a final head is rewritten into hbuf.  Returns 1 on progress,
 * 0 when more bytes are needed, -1 when the connection closed.
 */
int
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
int
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

/* Writes the request head and body bytes upstream.  1, 0, or -1. */
int
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

void
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
void
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
