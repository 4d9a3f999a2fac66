/*
 * health: active endpoint probes and the broadcast health table (see
 * health.h).
 *
 * Runs in workers, sandboxed.  A probe is one struct health_probe with
 * its socket, one ev_io and one ev_timer: the timer waits for the next
 * probe, then bounds the probe itself (the probe timeout).  Probes never
 * block and never touch the request path; the proxy only asks
 * health_is_down().  Allocates when a snapshot arrives, never per probe
 * (but OpenSSL does, for a probe of a backend spoken to over TLS: the
 * probe does the handshake, verified as for requests, then its HTTP).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/hcheck.h"
#include "common/http.h"
#include "common/ipc.h"
#include "common/ipc_queue.h"
#include "common/log.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/health.h"
#include "worker/upstream.h"
#include "worker/upstream_tls.h"

#define HEALTH_BUFSIZE		2048	/* a status line and some headers */
#define HEALTH_JITTER		0.05	/* next probe in interval +-5% */
#define HEALTH_EJECT_MIN	1.0	/* first passive ejection, seconds */
#define HEALTH_EJECT_MAX	60.0	/* longest */

/* An endpoint, as bytes: family (4/6), 0, port (big endian), address. */
struct health_key {
	uint8_t		 b[20];
};

struct health_probe {
	struct health_key	 key;
	struct sockaddr_storage	 ep;		/* the endpoint (reports) */
	socklen_t		 eplen;
	struct sockaddr_storage	 target;	/* ep with the probe port */
	socklen_t		 targetlen;
	char			 name[UTIL_ADDRSTRLEN];	/* ep, for logs */
	uint32_t		 mode;		/* enum route_health_mode */
	uint32_t		 port;
	uint32_t		 interval_ms;
	uint32_t		 timeout_ms;
	uint32_t		 rise;
	uint32_t		 fall;
	uint32_t		 expect_lo;
	uint32_t		 expect_hi;
	char			*req;		/* HTTP request, NUL-ended */
	size_t			 reqlen;
	struct hc_machine	 m;
	int			 fd;		/* -1 between probes */
	int			 connecting;
	struct upstream_tls_conf *tls;		/* NULL: plain TCP */
	struct upstream_io	 uio;
	int			 handshaking;
	size_t			 sent;
	size_t			 len;		/* bytes in buf */
	ev_tstamp		 started;
	uint64_t		 last_ms;	/* last probe ended, 0 none */
	uint32_t		 last_result;
	uint32_t		 last_detail;
	ev_io			 io;
	ev_timer		 timer;
	char			 buf[HEALTH_BUFSIZE];
};

/*
 * What the master broadcast, one slot per endpoint ever reported, and
 * this worker's passive view of it: failures in a row seen by requests,
 * and the local ejection they caused.
 */
struct health_slot {
	struct health_key	 key;
	int			 used;
	uint32_t		 state;
	uint32_t		 failures;	/* in a row, by requests */
	uint32_t		 ejections;	/* in a row, for the backoff */
	uint64_t		 ejections_total;	/* metrics */
	ev_tstamp		 ejected_at;
	ev_tstamp		 ejected_until;	/* 0: not ejected */
};

static struct {
	struct ev_loop		*loop;
	struct ipc_queue	*q;		/* to the master */
	int			 id;
	uint64_t		 rng;
	struct health_probe	**probes;	/* in snapshot order */
	size_t			 nprobes;
	size_t			*index;		/* by key: i + 1 in probes */
	size_t			 imask;		/* index size - 1 */
	struct health_slot	*slots;
	size_t			 nslots;	/* power of two, or 0 */
	size_t			 used;
} h;

/*
 * Transitions not yet reported: one HEALTH_REPORT per turn of the loop (or
 * per full message), so that every probe of a dead node failing at once
 * costs a few messages, not one per endpoint.
 */
static struct ipc_writer	 health_batch;
static ev_timer		 health_flush;

static struct http_response	 health_resp;

static void	health_io_cb(struct ev_loop *, ev_io *, int);
static void	health_flush_cb(struct ev_loop *, ev_timer *, int);
static void	health_timer_cb(struct ev_loop *, ev_timer *, int);
static void	health_finish(struct health_probe *, uint32_t, uint32_t);

void
health_init(struct ev_loop *loop, struct ipc_queue *q, int worker_id)
{
	h.loop = loop;
	h.q = q;
	ipc_writer_init(&health_batch);
	ev_timer_init(&health_flush, health_flush_cb, 0., 0.);
	h.id = worker_id;
	h.rng = ((uint64_t)worker_id << 32) ^ (uint64_t)getpid() ^
	    (uint64_t)(ev_time() * 1e6) ^ 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: jitter only, no secrets. */
static double
health_random(void)
{
	h.rng ^= h.rng >> 12;
	h.rng ^= h.rng << 25;
	h.rng ^= h.rng >> 27;
	return (double)((h.rng * 2685821657736338717ULL) >> 11) /
	    (double)(1ULL << 53);
}

static int
health_key_make(const struct sockaddr *sa, struct health_key *k)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		k->b[0] = 4;
		memcpy(k->b + 2, &sin->sin_port, 2);
		memcpy(k->b + 4, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		k->b[0] = 6;
		memcpy(k->b + 2, &sin6->sin6_port, 2);
		memcpy(k->b + 4, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

uint32_t
health_owner(const struct sockaddr *sa, uint32_t nworkers)
{
	struct health_key k;
	uint8_t buf[sizeof(k.b) + 4];
	uint64_t best = 0, v;
	uint32_t i, owner = 0;

	if (nworkers <= 1 || health_key_make(sa, &k) == -1)
		return 0;
	memcpy(buf, k.b, sizeof(k.b));
	for (i = 0; i < nworkers; i++) {
		buf[20] = (uint8_t)i;
		buf[21] = (uint8_t)(i >> 8);
		buf[22] = (uint8_t)(i >> 16);
		buf[23] = (uint8_t)(i >> 24);
		v = util_hash64(buf, sizeof(buf));
		if (i == 0 || v > best) {
			best = v;
			owner = i;
		}
	}
	return owner;
}

/*
 * The broadcast table.
 */

static struct health_slot *
health_slot_find(const struct health_key *k, int create)
{
	struct health_slot *ns, *old;
	size_t i, j, mask, oldn;

	if (create && (h.used + 1) * 2 > h.nslots) {
		oldn = h.nslots;
		old = h.slots;
		if ((ns = calloc(oldn == 0 ? 64 : oldn * 2, sizeof(*ns))) ==
		    NULL)
			return NULL;
		h.slots = ns;
		h.nslots = oldn == 0 ? 64 : oldn * 2;
		mask = h.nslots - 1;
		for (i = 0; i < oldn; i++) {
			if (!old[i].used)
				continue;
			j = util_hash64(old[i].key.b, sizeof(old[i].key.b)) &
			    mask;
			while (ns[j].used)
				j = (j + 1) & mask;
				;
			ns[j] = old[i];
		}
		free(old);
	}
	if (h.nslots == 0)
		return NULL;
	mask = h.nslots - 1;
	for (i = util_hash64(k->b, sizeof(k->b)) & mask;; i = (i + 1) & mask) {
		if (!h.slots[i].used) {
			if (!create)
				return NULL;
			h.slots[i].used = 1;
			h.slots[i].key = *k;
			h.slots[i].state = HC_UP;
			h.used++;
			return &h.slots[i];
		}
		if (memcmp(h.slots[i].key.b, k->b, sizeof(k->b)) == 0)
			return &h.slots[i];
	}
}

int
health_is_down(const struct sockaddr *sa)
{
	struct health_key k;
	struct health_slot *s;

	if (h.used == 0 || health_key_make(sa, &k) == -1 ||
	    (s = health_slot_find(&k, 0)) == NULL)
		return 0;
	return s->state == HC_DOWN;
}

/*
 * Passive detection.  Failures in a row count per endpoint; at
 * <threshold> the endpoint is ejected locally for 1 s, doubling with each
 * ejection in a row up to 60 s.  A success clears the count, and the
 * ejection count once the endpoint has served well for twice its last
 * backoff.
 */
void
health_passive(const struct sockaddr *sa, int ok, uint32_t threshold,
    ev_tstamp now)
{
	struct health_key k;
	struct health_slot *s;
	ev_tstamp backoff;
	char name[UTIL_ADDRSTRLEN];

	if (threshold == 0 || health_key_make(sa, &k) == -1)
		return;
	if ((s = health_slot_find(&k, !ok)) == NULL)
		return;
	if (ok) {
		s->failures = 0;
		if (s->ejections > 0 && now > s->ejected_until +
		    2 * (s->ejected_until - s->ejected_at))
			s->ejections = 0;
		return;
	}
	if (s->ejected_until > now || ++s->failures < threshold)
		return;
	backoff = HEALTH_EJECT_MIN * (double)(1u << (s->ejections < 6 ?
	    s->ejections : 6));
	if (backoff > HEALTH_EJECT_MAX)
		backoff = HEALTH_EJECT_MAX;
	s->ejections++;
	s->ejections_total++;
	s->failures = 0;
	s->ejected_at = now;
	s->ejected_until = now + backoff;
	log_info("endpoint %s ejected for %.0f s after %u failed requests "
	    "in a row (ejection %u)", util_format_sockaddr(sa, name,
	    sizeof(name)), backoff, threshold, s->ejections);
}

int
health_is_ejected(const struct sockaddr *sa, ev_tstamp now)
{
	struct health_key k;
	struct health_slot *s;

	if (h.used == 0 || health_key_make(sa, &k) == -1 ||
	    (s = health_slot_find(&k, 0)) == NULL)
		return 0;
	return s->ejected_until > now;
}

static struct health_probe *health_probe_find(const struct health_key *);

void
health_endpoint_info(const struct sockaddr *sa, struct health_info *out)
{
	struct health_key k;
	struct health_slot *s;
	struct health_probe *p;

	memset(out, 0, sizeof(*out));
	if (health_key_make(sa, &k) == -1)
		return;
	if (h.used > 0 && (s = health_slot_find(&k, 0)) != NULL) {
		out->ejections = s->ejections_total;
		out->ejected = h.loop != NULL &&
		    s->ejected_until > ev_now(h.loop);
	}
	if ((p = health_probe_find(&k)) != NULL) {
		out->probe_ms = p->last_ms;
		out->probe_result = p->last_result;
		out->probe_detail = p->last_detail;
	}
}

/*
 * The slot of key <k> in hash index <index> (<mask> + 1 slots, at most
 * half full, values i + 1 into <v>): the one holding it, or the empty
 * one where it would go.  A hash, not a sorted array: a snapshot of
 * 50,000 endpoints made sorting and binary searches most of a worker's
 * time per snapshot.
 */
static size_t
health_index_slot(const size_t *index, size_t mask,
    struct health_probe *const *v, const struct health_key *k)
{
	size_t i;

	for (i = util_hash64(k->b, sizeof(k->b)) & mask; index[i] != 0;
	    i = (i + 1) & mask)
		if (memcmp(v[index[i] - 1]->key.b, k->b, sizeof(k->b)) == 0)
			break;
	return i;
}

/* The current probe of <k>, or NULL. */
static struct health_probe *
health_probe_find(const struct health_key *k)
{
	size_t i;

	if (h.nprobes == 0)
		return NULL;
	i = health_index_slot(h.index, h.imask, h.probes, k);
	return h.index[i] != 0 ? h.probes[h.index[i] - 1] : NULL;
}

void
health_set_state(const struct ipc_health *m)
{
	struct health_key k;
	struct health_slot *s;
	struct health_probe *p;

	if (health_key_make((const struct sockaddr *)&m->addr, &k) == -1)
		return;
	if ((s = health_slot_find(&k, 1)) == NULL) {
		log_warnx("health: out of memory, state dropped");
		return;
	}
	s->state = m->state;
	if (m->state == HC_UP)
		s->ejected_until = 0;	/* the probes vouch for it */
	/* A probe handed over from another worker starts where it was. */
	if ((p = health_probe_find(&k)) != NULL &&
	    p->m.state != m->state) {
		p->m.state = m->state;
		p->m.streak = 0;
	}
}

/*
 * Probes.
 */

/* Sends the batched transitions, if any. */
static void
health_flush_batch(void)
{
	if (health_batch.len > 0 && ipc_queue_send(h.q, IPC_HEALTH_REPORT,
	    0, health_batch.buf, health_batch.len, -1) == -1)
		log_warn("send HEALTH_REPORT (%zu endpoints)",
		    health_batch.len / IPC_HEALTH_LEN);
	ipc_writer_init(&health_batch);
}

static void
health_flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	health_flush_batch();
}

static void
health_report(struct health_probe *p, uint32_t result, uint32_t detail)
{
	struct ipc_writer wr;
	struct ipc_health m;
	char why[128];

	memset(&m, 0, sizeof(m));
	memcpy(&m.addr, &p->ep, sizeof(m.addr));
	m.addrlen = p->eplen;
	m.state = p->m.state;
	m.result = result;
	m.detail = detail;
	m.threshold = p->m.state == HC_UP ? p->rise : p->fall;
	m.count = m.threshold;
	ipc_writer_init(&wr);
	ipc_put_health(&wr, &m);
	log_debug("health: %s %s: %s", p->name, p->m.state == HC_UP ?
	    "UP" : "DOWN", hc_describe(result, detail, why, sizeof(why)));
	if (wr.bad || h.q == NULL) {
		log_warnx("cannot report %s", p->name);
		return;
	}
	if (health_batch.len + wr.len > IPC_HEALTH_BATCH * IPC_HEALTH_LEN)
		health_flush_batch();
	ipc_put_bytes(&health_batch, wr.buf, wr.len);
	if (!ev_is_active(&health_flush)) {
		ev_timer_set(&health_flush, 0., 0.);
		ev_timer_start(h.loop, &health_flush);
	}
}

static void
health_schedule(struct health_probe *p, ev_tstamp delay)
{
	ev_timer_stop(h.loop, &p->timer);
	ev_timer_set(&p->timer, delay < 0.001 ? 0.001 : delay, 0.);
	ev_timer_start(h.loop, &p->timer);
}

static void
health_close(struct health_probe *p)
{
	if (p->fd == -1)
		return;
	ev_io_stop(h.loop, &p->io);
	upstream_io_close(&p->uio, p->fd);
	p->fd = -1;
}

static void
health_finish(struct health_probe *p, uint32_t result, uint32_t detail)
{
	ev_tstamp next;

	health_close(p);
	p->last_ms = (uint64_t)(ev_now(h.loop) * 1000);
	p->last_result = result;
	p->last_detail = detail;
	if (hc_machine_feed(&p->m, result == HC_OK, p->rise, p->fall))
		health_report(p, result, detail);
	next = p->started + p->interval_ms / 1000.0 *
	    (1.0 - HEALTH_JITTER + 2 * HEALTH_JITTER * health_random());
	health_schedule(p, next - ev_now(h.loop));
}

static void
health_start(struct health_probe *p)
{
	int inprogress;

	p->started = ev_now(h.loop);
	p->sent = 0;
	p->len = 0;
	p->fd = upstream_connect((struct sockaddr *)&p->target, p->targetlen,
	    &inprogress);
	if (p->fd == -1) {
		health_finish(p, errno == EMFILE || errno == ENFILE ||
		    errno == ENOBUFS || errno == ENOMEM ? HC_SOCKET :
		    HC_CONNECT, (uint32_t)errno);
		return;
	}
	p->connecting = inprogress;
	p->handshaking = 0;
	if (p->tls != NULL) {
		if (upstream_tls_start_conf(&p->uio, p->fd, p->tls,
		    (struct sockaddr *)&p->target) == -1) {
			close(p->fd);
			p->fd = -1;
			health_finish(p, HC_SOCKET, ENOMEM);
			return;
		}
		/* A failed probe is the transition's news, not a warning. */
		p->uio.quiet = 1;
		p->handshaking = 1;
	}
	ev_io_set(&p->io, p->fd, EV_WRITE);
	ev_io_start(h.loop, &p->io);
	health_schedule(p, p->timeout_ms / 1000.0);
}

/* Watches the probe's socket for <events> (TLS may wait either way). */
static void
health_watch(struct health_probe *p, int events)
{
	if (p->io.events == events && ev_is_active(&p->io))
		return;
	ev_io_stop(h.loop, &p->io);
	ev_io_set(&p->io, p->fd, events);
	ev_io_start(h.loop, &p->io);
}

/* Reads what the backend answers; finishes the probe once it can. */
static void
health_read(struct health_probe *p)
{
	struct http_limits lim = { HEALTH_BUFSIZE, HTTP_MAX_HEADERS };
	ssize_t n;
	int r, st;

	for (;;) {
		n = upstream_io_recv(&p->uio, p->fd, p->buf + p->len,
		    sizeof(p->buf) - p->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			health_watch(p, p->uio.want_write ? EV_WRITE :
			    EV_READ);
			return;
		}
		if (n == -1) {
			health_finish(p, HC_CLOSED, (uint32_t)errno);
			return;
		}
		p->len += (size_t)n;
		r = http_parse_response(p->buf, p->len, &lim, 0, &health_resp,
		    &st);
		while (r > 0 && health_resp.status >= 100 &&
		    health_resp.status < 200 && health_resp.status != 101) {
			/* An interim answer: the real one follows. */
			memmove(p->buf, p->buf + r, p->len - (size_t)r);
			p->len -= (size_t)r;
			r = p->len == 0 ? HTTP_PARSE_INCOMPLETE :
			    http_parse_response(p->buf, p->len, &lim, 0,
			    &health_resp, &st);
		}
		if (r > 0) {
			if ((uint32_t)health_resp.status >= p->expect_lo &&
			    (uint32_t)health_resp.status <= p->expect_hi)
				health_finish(p, HC_OK,
				    (uint32_t)health_resp.status);
			else
				health_finish(p, HC_STATUS,
				    (uint32_t)health_resp.status);
			return;
		}
		if (r == HTTP_PARSE_ERROR || p->len == sizeof(p->buf)) {
			health_finish(p, HC_BAD_RESPONSE, 0);
			return;
		}
		if (n == 0) {
			health_finish(p, HC_CLOSED, 0);
			return;
		}
	}
}

static void
health_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct health_probe *p = (struct health_probe *)(void *)
	    ((char *)w - offsetof(struct health_probe, io));
	struct iovec iov;
	ssize_t n;

	if (p->connecting) {
		if (upstream_connect_result(p->fd) == -1) {
			health_finish(p, HC_CONNECT, (uint32_t)errno);
			return;
		}
		p->connecting = 0;
	}
	if (p->handshaking) {
		switch (upstream_tls_handshake(&p->uio)) {
		case UPSTREAM_TLS_HS_AGAIN:
			health_watch(p, p->uio.want_read ? EV_READ : EV_WRITE);
			return;
		case UPSTREAM_TLS_HS_FAILED:
			health_finish(p, HC_TLS, p->uio.verify_error);
			return;
		default:
			p->handshaking = 0;
			break;
		}
	}
	/* Over TLS, a tcp probe succeeds once the handshake did. */
	if (p->mode == ROUTE_HEALTH_TCP) {
		health_finish(p, HC_OK, 0);
		return;
	}
	if (p->sent < p->reqlen) {
		iov.iov_base = p->req + p->sent;
		iov.iov_len = p->reqlen - p->sent;
		n = upstream_io_sendv(&p->uio, p->fd, &iov, 1);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			health_watch(p, p->uio.want_read ? EV_READ : EV_WRITE);
			return;
		}
		if (n == -1) {
			health_finish(p, HC_CLOSED, (uint32_t)errno);
			return;
		}
		p->sent += (size_t)n;
		if (p->sent < p->reqlen) {
			health_watch(p, EV_WRITE);
			return;
		}
		health_watch(p, EV_READ);
		return;
	}
	health_read(p);
}

static void
health_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct health_probe *p = (struct health_probe *)(void *)
	    ((char *)w - offsetof(struct health_probe, timer));

	if (p->fd != -1)
		health_finish(p, HC_TIMEOUT, 0);
	else
		health_start(p);
}

static void
health_probe_free(struct health_probe *p)
{
	if (p == NULL)
		return;
	health_close(p);
	ev_timer_stop(h.loop, &p->timer);
	upstream_tls_conf_free(p->tls);
	free(p->req);
	free(p);
}

/* 1 when <p> probes endpoint <ep> of <b> exactly as asked. */
static int
health_probe_same(const struct health_probe *p,
    const struct snapshot_backend *b, const char *req,
    const struct upstream_tls_conf *tls)
{
	return upstream_tls_conf_same(p->tls, tls) && p->mode == b->hc_mode && p->port == b->hc_port &&
	    p->interval_ms == b->hc_interval_ms &&
	    p->timeout_ms == b->hc_timeout_ms && p->rise == b->hc_rise &&
	    p->fall == b->hc_fall && p->expect_lo == b->hc_expect_lo &&
	    p->expect_hi == b->hc_expect_hi &&
	    ((p->req == NULL && req == NULL) || (p->req != NULL &&
	    req != NULL && strcmp(p->req, req) == 0));
}

/* The HTTP request of a probe of <ep> for <b>, malloc'd, or NULL. */
static char *
health_request(const struct snapshot_backend *b,
    const struct snapshot_endpoint *ep, int *nomem)
{
	char host[UTIL_ADDRSTRLEN], *req;

	*nomem = 0;
	if (b->hc_mode != ROUTE_HEALTH_HTTP)
		return NULL;
	if (b->hc_hostlen > 0)
		snprintf(host, sizeof(host), "%.*s", (int)b->hc_hostlen,
		    b->hc_host);
	else
		util_format_sockaddr((const struct sockaddr *)&ep->addr, host,
		    sizeof(host));
	if (asprintf(&req, "GET %.*s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: ingressd-health\r\nConnection: close\r\n\r\n",
	    (int)b->hc_pathlen, b->hc_path, host) == -1) {
		*nomem = 1;
		return NULL;
	}
	return req;
}

void
health_update(const struct snapshot *s)
{
	struct health_probe **nv = NULL, *p, *old;
	struct snapshot_backend b;
	struct snapshot_endpoint ep;
	struct health_key k;
	struct health_slot *slot;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	size_t n = 0, i, j, *seen = NULL, mask = 0;
	uint32_t bi, ei;
	struct upstream_tls_conf *tls;
	char *req;
	int nomem;

	if (h.loop == NULL)
		return;
	if (s->nendpoints > 0) {
		if ((nv = calloc(s->nendpoints, sizeof(*nv))) == NULL)
			goto nomem;
		/* Keys taken so far, at most half full: index + 1 into nv. */
		for (mask = 16; mask < 2 * (size_t)s->nendpoints; mask *= 2)
			;
		if ((seen = calloc(mask, sizeof(*seen))) == NULL)
			goto nomem;
		mask--;
	}
	for (bi = 0; bi < s->nbackends; bi++) {
		snapshot_backend(s, bi, &b);
		for (ei = 0; ei < b.nendpoints; ei++) {
			snapshot_endpoint(s, b.first_endpoint + ei, &ep);
			if (health_key_make((struct sockaddr *)&ep.addr,
			    &k) == -1 || health_owner((struct sockaddr *)
			    &ep.addr, s->settings.workers) != (uint32_t)h.id)
				continue;
			/*
			 * One probe per endpoint: the first backend's.  A
			 * hash of the keys taken, not a scan of them: tens
			 * of thousands of endpoints made that quadratic.
			 */
			i = health_index_slot(seen, mask, nv, &k);
			if (seen[i] != 0)
				continue;
			seen[i] = n + 1;
			req = health_request(&b, &ep, &nomem);
			if (nomem)
				goto nomem;
			tls = NULL;
			if (upstream_tls_key(s, bi) != 0 &&
			    (tls = upstream_tls_conf_new(s, bi)) == NULL) {
				free(req);
				goto nomem;
			}
			old = health_probe_find(&k);
			if (old != NULL && health_probe_same(old, &b, req,
			    tls)) {
				upstream_tls_conf_free(tls);
				free(req);
				nv[n++] = old;
				continue;
			}
			if ((p = calloc(1, sizeof(*p))) == NULL) {
				upstream_tls_conf_free(tls);
				free(req);
				goto nomem;
			}
			p->tls = tls;
			p->key = k;
			p->fd = -1;
			memcpy(&p->ep, &ep.addr, sizeof(p->ep));
			p->eplen = ep.addrlen;
			memcpy(&p->target, &ep.addr, sizeof(p->target));
			p->targetlen = ep.addrlen;
			if (b.hc_port != 0 && ep.addr.ss_family == AF_INET) {
				sin = (struct sockaddr_in *)&p->target;
				sin->sin_port = htons((uint16_t)b.hc_port);
			} else if (b.hc_port != 0) {
				sin6 = (struct sockaddr_in6 *)&p->target;
				sin6->sin6_port = htons((uint16_t)b.hc_port);
			}
			util_format_sockaddr((struct sockaddr *)&p->ep,
			    p->name, sizeof(p->name));
			p->mode = b.hc_mode;
			p->port = b.hc_port;
			p->interval_ms = b.hc_interval_ms;
			p->timeout_ms = b.hc_timeout_ms;
			p->rise = b.hc_rise;
			p->fall = b.hc_fall;
			p->expect_lo = b.hc_expect_lo;
			p->expect_hi = b.hc_expect_hi;
			p->req = req;
			p->reqlen = req != NULL ? strlen(req) : 0;
			hc_machine_init(&p->m);
			if (old != NULL)
				p->m = old->m;
			else if ((slot = health_slot_find(&k, 0)) != NULL)
				p->m.state = slot->state;
			ev_init(&p->io, health_io_cb);
			ev_init(&p->timer, health_timer_cb);
			/* Spread the first probes over one interval. */
			health_schedule(p, p->interval_ms / 1000.0 *
			    (old != NULL ? 1.0 : health_random()));
			nv[n++] = p;
		}
	}
	/* Probes not carried over stop. */
	for (i = 0; i < h.nprobes; i++) {
		if (n > 0 && (j = seen[health_index_slot(seen, mask, nv,
		    &h.probes[i]->key)]) != 0 && nv[j - 1] == h.probes[i])
			continue;
		health_probe_free(h.probes[i]);
	}
	free(h.probes);
	free(h.index);
	h.probes = nv;
	h.nprobes = n;
	h.index = seen;
	h.imask = mask;
	log_debug("health: probing %zu endpoint(s) of %u", n, s->nendpoints);
	return;
 nomem:
	log_warnx("health: out of memory, probes unchanged");
	free(seen);
	if (nv != NULL) {
		for (i = 0; i < n; i++)
			if (health_probe_find(&nv[i]->key) != nv[i])
				health_probe_free(nv[i]);
		free(nv);
	}
}

void
health_stop(void)
{
	size_t i;

	for (i = 0; i < h.nprobes; i++)
		health_probe_free(h.probes[i]);
	free(h.probes);
	free(h.index);
	h.probes = NULL;
	h.index = NULL;
	h.nprobes = 0;
}

size_t
health_probe_count(void)
{
	return h.nprobes;
}
