/*
 * proxy_request: the client's request, in workers (RFC 9112 section 3,
 * section 6).
 *
 * Parses a request head from untrusted client bytes, routes it, checks
 * its limits, writes the head that goes upstream, keys the balancer's
 * pick on it, and classifies the body bytes that follow (length or
 * chunked scan).  Separate from proxy.c because it is the part that
 * reads what the client says; it never touches a socket.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "common/http.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/access_log.h"
#include "worker/admin.h"
#include "worker/balancer.h"
#include "worker/client_io.h"
#include "worker/listener.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/proxy_buf.h"
#include "worker/proxy_conn.h"
#include "worker/proxy_head.h"
#include "worker/router.h"
#include "worker/worker.h"
#ifdef INGRESSD_TEST_HOOKS
#include "worker/testhook.h"
#endif

static uint64_t			 proxy_nrequests;

/* The parsed head: used synchronously, so one per worker. */
static struct http_request	 proxy_req;

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
int
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
int
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

uint64_t
proxy_requests_total(void)
{
	return proxy_nrequests;
}
