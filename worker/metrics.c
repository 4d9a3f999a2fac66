/*
 * metrics: a worker's counters and its report to the master (see
 * metrics.h).
 *
 * Three tables of rows (hosts, backends, endpoints) keyed by name, each
 * with an open-addressing index used only when a snapshot arrives.  Rows
 * are never removed, so counters never go back; past METRICS_MAX_ROWS
 * new names go uncounted (a warning says so once).  The index maps of
 * the current and the previous snapshot are kept: requests in flight
 * across a swap still find their rows.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/ipc_queue.h"
#include "common/log.h"
#include "common/mreport.h"
#include "common/util.h"
#include "worker/balancer.h"
#include "worker/health.h"
#include "worker/metrics.h"

#ifndef F_SEAL_SEAL
#include <linux/fcntl.h>
#endif

#define METRICS_MAX_ROWS	MREPORT_MAX_ROWS

struct m_row {
	char			*key;		/* host, backend, or
						 * "backend addr" */
	const char		*addr;		/* endpoints: in key */
	uint32_t		 backend;	/* endpoints: backend row */
	uint64_t		 v[MREPORT_NCLASSES + 2];
};

struct m_table {
	struct m_row		*rows;
	size_t			 n;
	size_t			 cap;
	uint32_t		*idx;		/* row + 1, 0 empty */
	size_t			 idxcap;	/* power of two */
};

/* One snapshot's indexes as rows; METRICS_NONE where uncounted. */
struct m_map {
	uint64_t		 generation;
	int			 valid;
	uint32_t		*host;
	uint32_t		 nhost;
	uint32_t		*backend;
	uint32_t		 nbackend;
	uint32_t		*endpoint;	/* global endpoint index */
	uint32_t		 nendpoint;
};

static struct {
	struct m_table		 hosts, backends, endpoints;
	struct m_map		 cur, prev;
	uint32_t		 anyhost;	/* row of "*" */
	struct mreport		 g;		/* globals and histograms */
	const struct snapshot	*snap;		/* current, for reports */
	int			 warned;
} mt = { .anyhost = METRICS_NONE };

/* Row of <key>/<len> in <t>, added when missing; METRICS_NONE when full. */
static uint32_t
m_row(struct m_table *t, const char *key, size_t len)
{
	size_t i, mask, j;
	uint32_t *ni;
	struct m_row *nr;

	if (t->idxcap == 0 || (t->n + 1) * 2 > t->idxcap) {
		size_t cap = t->idxcap ? t->idxcap * 2 : 64;

		if ((ni = calloc(cap, sizeof(*ni))) == NULL)
			return METRICS_NONE;
		for (i = 0; i < t->n; i++) {
			j = util_hash64(t->rows[i].key, strlen(t->rows[i].key)) &
			    (cap - 1);
			while (ni[j] != 0)
				j = (j + 1) & (cap - 1);
			ni[j] = (uint32_t)i + 1;
		}
		free(t->idx);
		t->idx = ni;
		t->idxcap = cap;
	}
	mask = t->idxcap - 1;
	for (j = util_hash64(key, len) & mask; t->idx[j] != 0;
	    j = (j + 1) & mask) {
		const char *k = t->rows[t->idx[j] - 1].key;

		if (strncmp(k, key, len) == 0 && k[len] == '\0')
			return t->idx[j] - 1;
	}
	if (t->n >= METRICS_MAX_ROWS) {
		if (!mt.warned)
			log_warnx("metrics: over %u rows, new names are not "
			    "counted", METRICS_MAX_ROWS);
		mt.warned = 1;
		return METRICS_NONE;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;

		if ((nr = reallocarray(t->rows, cap, sizeof(*nr))) == NULL)
			return METRICS_NONE;
		t->rows = nr;
		t->cap = cap;
	}
	nr = &t->rows[t->n];
	memset(nr, 0, sizeof(*nr));
	if ((nr->key = strndup(key, len)) == NULL)
		return METRICS_NONE;
	t->idx[j] = (uint32_t)t->n + 1;
	return (uint32_t)t->n++;
}

static void
m_map_free(struct m_map *m)
{
	free(m->host);
	free(m->backend);
	free(m->endpoint);
	memset(m, 0, sizeof(*m));
}

void
metrics_snapshot(const struct snapshot *s)
{
	struct snapshot_backend b;
	struct snapshot_endpoint ep;
	struct snapshot_host h;
	struct m_map m;
	char key[MREPORT_MAX_NAME + UTIL_ADDRSTRLEN + 2], addr[UTIL_ADDRSTRLEN];
	uint32_t i, k, row;
	size_t n;

	if (mt.anyhost == METRICS_NONE)
		mt.anyhost = m_row(&mt.hosts, "*", 1);
	memset(&m, 0, sizeof(m));
	m.generation = s->generation;
	m.host = calloc(s->nhosts ? s->nhosts : 1, sizeof(*m.host));
	m.backend = calloc(s->nbackends ? s->nbackends : 1,
	    sizeof(*m.backend));
	m.endpoint = calloc(s->nendpoints ? s->nendpoints : 1,
	    sizeof(*m.endpoint));
	if (m.host == NULL || m.backend == NULL || m.endpoint == NULL) {
		log_warnx("metrics: out of memory, generation %llu uncounted",
		    (unsigned long long)s->generation);
		m_map_free(&m);
		return;
	}
	m.nhost = s->nhosts;
	m.nbackend = s->nbackends;
	m.nendpoint = s->nendpoints;
	for (i = 0; i < s->nhosts; i++) {
		snapshot_host(s, i, &h);
		m.host[i] = h.kind == SNAPSHOT_HOST_ANY || h.namelen == 0 ?
		    mt.anyhost : m_row(&mt.hosts, h.name, h.namelen <
		    MREPORT_MAX_NAME ? h.namelen : MREPORT_MAX_NAME);
	}
	for (i = 0; i < s->nendpoints; i++)
		m.endpoint[i] = METRICS_NONE;
	for (i = 0; i < s->nbackends; i++) {
		snapshot_backend(s, i, &b);
		n = b.namelen < MREPORT_MAX_NAME ? b.namelen : MREPORT_MAX_NAME;
		m.backend[i] = row = m_row(&mt.backends, b.name, n);
		if (row == METRICS_NONE)
			continue;
		for (k = 0; k < b.nendpoints &&
		    b.first_endpoint + k < s->nendpoints; k++) {
			snapshot_endpoint(s, b.first_endpoint + k, &ep);
			util_format_sockaddr((const struct sockaddr *)&ep.addr,
			    addr, sizeof(addr));
			snprintf(key, sizeof(key), "%.*s %s", (int)n, b.name,
			    addr);
			m.endpoint[b.first_endpoint + k] = m_row(&mt.endpoints,
			    key, strlen(key));
			if (m.endpoint[b.first_endpoint + k] != METRICS_NONE) {
				struct m_row *r = &mt.endpoints.rows[
				    m.endpoint[b.first_endpoint + k]];

				r->backend = row;
				r->addr = r->key + n + 1;
			}
		}
	}
	m_map_free(&mt.prev);
	mt.prev = mt.cur;
	mt.cur = m;
	mt.cur.valid = 1;
	mt.snap = s;
}

static const struct m_map *
m_map_of(const struct snapshot *s)
{
	if (s == NULL)
		return NULL;
	if (mt.cur.valid && mt.cur.generation == s->generation)
		return &mt.cur;
	if (mt.prev.valid && mt.prev.generation == s->generation)
		return &mt.prev;
	return NULL;
}

/* Global endpoint row of endpoint <ep> of backend <bi>, or NONE. */
static uint32_t
m_endpoint(const struct snapshot *s, const struct m_map *m, uint32_t bi,
    uint32_t ep)
{
	struct snapshot_backend b;

	if (m == NULL || ep == METRICS_NONE || bi >= m->nbackend)
		return METRICS_NONE;
	snapshot_backend(s, bi, &b);
	if (ep >= b.nendpoints || b.first_endpoint + ep >= m->nendpoint)
		return METRICS_NONE;
	return m->endpoint[b.first_endpoint + ep];
}

void
metrics_req_begin(struct metrics_req *r, double t0)
{
	r->t0 = t0;
	r->t_resp = 0;
	r->host = -1;
	r->backend = METRICS_NONE;
	r->status = 0;
}

void
metrics_request_done(const struct snapshot *s, const struct metrics_req *r,
    uint32_t ep, double now)
{
	const struct m_map *m = m_map_of(s);
	uint32_t row, cls;

	mt.g.requests++;
	/* t0 0: no head was parsed (a 400, a 408); no latency to tell. */
	if (r->t0 > 0)
		mreport_observe(&mt.g.req, now - r->t0);
	if (r->t0 > 0 && r->t_resp > 0)
		mreport_observe(&mt.g.up, r->t_resp - r->t0);
	if (r->status < 100 || r->status > 599)
		return;
	cls = (uint32_t)r->status / 100 - 1;
	row = mt.anyhost;
	if (m != NULL && r->host >= 0 && (uint32_t)r->host < m->nhost)
		row = m->host[r->host];
	if (row != METRICS_NONE)
		mt.hosts.rows[row].v[cls]++;
	if (m == NULL || r->backend >= m->nbackend)
		return;
	if ((row = m->backend[r->backend]) != METRICS_NONE)
		mt.backends.rows[row].v[cls]++;
	if ((row = m_endpoint(s, m, r->backend, ep)) != METRICS_NONE) {
		mt.endpoints.rows[row].v[0]++;
		if (cls == 4)
			mt.endpoints.rows[row].v[1]++;
	}
}

void
metrics_connect_error(const struct snapshot *s, uint32_t b, uint32_t ep)
{
	const struct m_map *m = m_map_of(s);
	uint32_t row;

	mt.g.connect_errors++;
	if (m == NULL || b >= m->nbackend)
		return;
	if ((row = m->backend[b]) != METRICS_NONE)
		mt.backends.rows[row].v[MREPORT_NCLASSES]++;
	if ((row = m_endpoint(s, m, b, ep)) != METRICS_NONE)
		mt.endpoints.rows[row].v[1]++;
}

void
metrics_retry(const struct snapshot *s, uint32_t b)
{
	const struct m_map *m = m_map_of(s);
	uint32_t row;

	mt.g.retries++;
	if (m != NULL && b < m->nbackend &&
	    (row = m->backend[b]) != METRICS_NONE)
		mt.backends.rows[row].v[MREPORT_NCLASSES + 1]++;
}

/* Fills the gauges of the current snapshot's endpoints into <eps>. */
static void
m_gauges(struct mreport_endpoint *eps)
{
	const struct snapshot *s = mt.snap;
	const struct m_map *m = &mt.cur;
	struct snapshot_backend b;
	struct snapshot_endpoint ep;
	struct health_info hi;
	uint32_t i, k, row;

	if (s == NULL || !m->valid)
		return;
	for (i = 0; i < m->nbackend; i++) {
		snapshot_backend(s, i, &b);
		for (k = 0; k < b.nendpoints &&
		    b.first_endpoint + k < m->nendpoint; k++) {
			if ((row = m->endpoint[b.first_endpoint + k]) ==
			    METRICS_NONE)
				continue;
			snapshot_endpoint(s, b.first_endpoint + k, &ep);
			eps[row].inflight += balancer_backend_inflight(s, &b,
			    k);
			health_endpoint_info((const struct sockaddr *)&ep.addr,
			    &hi);
			eps[row].ejections = hi.ejections;
			eps[row].ejected = hi.ejected;
			eps[row].probe_ms = hi.probe_ms;
			eps[row].probe_result = hi.probe_result;
			eps[row].probe_detail = hi.probe_detail;
		}
	}
}

int
metrics_send(struct ipc_queue *q, uint64_t active, uint64_t idle)
{
	struct mreport r = mt.g;
	struct ipc_writer wr;
	uint8_t *buf = NULL;
	size_t len, i, k;
	int fd, rc = -1;

	r.conns_active = active;
	r.conns_idle = idle;
	r.hosts = calloc(mt.hosts.n + 1, sizeof(*r.hosts));
	r.backends = calloc(mt.backends.n + 1, sizeof(*r.backends));
	r.endpoints = calloc(mt.endpoints.n + 1, sizeof(*r.endpoints));
	if (r.hosts == NULL || r.backends == NULL || r.endpoints == NULL)
		goto done;
	r.nhosts = mt.hosts.n;
	for (i = 0; i < r.nhosts; i++) {
		r.hosts[i].name = mt.hosts.rows[i].key;
		for (k = 0; k < MREPORT_NCLASSES; k++)
			r.hosts[i].classes[k] = mt.hosts.rows[i].v[k];
	}
	r.nbackends = mt.backends.n;
	for (i = 0; i < r.nbackends; i++) {
		r.backends[i].name = mt.backends.rows[i].key;
		for (k = 0; k < MREPORT_NCLASSES; k++)
			r.backends[i].classes[k] = mt.backends.rows[i].v[k];
		r.backends[i].connect_errors =
		    mt.backends.rows[i].v[MREPORT_NCLASSES];
		r.backends[i].retries =
		    mt.backends.rows[i].v[MREPORT_NCLASSES + 1];
	}
	r.nendpoints = mt.endpoints.n;
	for (i = 0; i < r.nendpoints; i++) {
		r.endpoints[i].backend = mt.endpoints.rows[i].backend;
		r.endpoints[i].addr = mt.endpoints.rows[i].addr != NULL ?
		    mt.endpoints.rows[i].addr : "";
		r.endpoints[i].requests = mt.endpoints.rows[i].v[0];
		r.endpoints[i].errors = mt.endpoints.rows[i].v[1];
	}
	m_gauges(r.endpoints);
	if (mreport_encode(&r, &buf, &len) == -1 ||
	    (fd = util_sealed_memfd("ingressd-metrics", buf, len)) == -1)
		goto done;
	ipc_writer_init(&wr);
	ipc_put_u64(&wr, len);
	rc = ipc_queue_send(q, IPC_METRICS, 0, wr.buf, wr.len, fd);
	close(fd);
 done:
	free(buf);
	free(r.hosts);
	free(r.backends);
	free(r.endpoints);
	return rc;
}
