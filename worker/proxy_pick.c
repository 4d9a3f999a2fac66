/*
 * proxy_pick: which endpoint a request goes to, in workers.
 *
 * Picks an endpoint of the routed backend (skipping those tried and
 * those down), opens or borrows a connection to it, and decides after a
 * failure whether the request goes again: on a fresh connection, to
 * another endpoint, or not at all (the rules are at the top of proxy.c).
 * Feeds passive health checking.  Separate because the retry rules are
 * the part of the proxy that must never send a request twice where the
 * method does not allow it; they read best in one place.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>

#include "common/snapshot.h"
#include "worker/access_log.h"
#include "worker/balancer.h"
#include "worker/health.h"
#include "worker/metrics.h"
#include "worker/proxy_buf.h"
#include "worker/proxy_conn.h"
#include "worker/upstream.h"
#include "worker/upstream_tls.h"
#include "worker/worker.h"

/* Counts the request out of its endpoint's in-flight counter. */
void
proxy_pick_done(struct proxy_conn *c)
{
	if (c->have_pick) {
		balancer_done(&c->pick);
		c->have_pick = 0;
	}
}

/*
 * Upstream failures.
 */

/*
 * 1 when the request may go again on a fresh connection (see the top of
 * proxy.c).
 */
int
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
 * Drops the body bytes kept for a replay (proxy_replay_keep() in
 * proxy_conn.h); with <lost> the request can no longer be replayed.
 */
void
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
int
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
void
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
int
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
