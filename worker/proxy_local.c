/*
 * proxy_local: the responses ingressd writes itself, in workers: errors
 * (4xx, 5xx), the admin listener's answers, the ssl-redirect 308, with a
 * Date header cached per second.
 *
 * Each one replaces whatever upstream side the request had and goes out
 * of hbuf.  Separate because these are the only responses whose bytes we
 * author, and the only place that formats them.
 */
#include "config.h"

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "common/http.h"
#include "worker/access_log.h"
#include "worker/listener.h"
#include "worker/proxy_buf.h"
#include "worker/proxy_conn.h"
#include "worker/worker.h"

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
int
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
int
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
int
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
