/*
 * stats: aggregation of the workers' counters and the status document
 * (see stats.h).  Runs in the master.  Reports come from sandboxed
 * workers and are checked like any untrusted input: sealed memfd, size
 * bounds, mreport_decode()'s limits; a bad one is dropped and logged.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/hcheck.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/mreport.h"
#include "common/promtext.h"
#include "common/statusdoc.h"
#include "common/util.h"
#include "master/control.h"
#include "master/stats.h"
#include "master/supervise.h"

#ifndef F_SEAL_SEAL
#include <linux/fcntl.h>
#endif

#define ST_NV		8

/* Endpoint values. */
enum { EP_REQ, EP_ERR, EP_EJECTIONS, EP_INFLIGHT, EP_EJECTED, EP_PROBE_MS,
	EP_PROBE_RESULT, EP_PROBE_DETAIL };

struct st_row {
	char		*key;		/* endpoints: "backend addr" */
	size_t		 split;		/* endpoints: the space */
	uint64_t	 v[ST_NV];
};

struct st_table {
	struct st_row	*rows;
	size_t		 n;
	size_t		 cap;
	uint32_t	*idx;		/* row + 1, 0 empty */
	size_t		 idxcap;
};

struct st_agg {
	struct st_table	 hosts;
	struct st_table	 backends;
	struct st_table	 endpoints;
	struct mreport	 g;		/* globals only */
};

struct st_slot {
	pid_t		 pid;
	int		 have;
	struct mreport	 r;
};

struct stats {
	struct st_agg	 dead;		/* counters of workers gone */
	struct st_agg	 cur;		/* dead + live, as of the last
					 * publish or report */
	struct st_slot	*slots;		/* by worker id */
	size_t		 nslots;
	uint64_t	 transitions[2];	/* to down, to up */
	int		 dirty;		/* cur is older than the reports */
};

static struct st_row *
st_row(struct st_table *t, const char *key)
{
	size_t len = strlen(key), i, j, mask, cap;
	struct st_row *nr;
	uint32_t *ni;

	if (t->idxcap == 0 || (t->n + 1) * 2 > t->idxcap) {
		cap = t->idxcap ? t->idxcap * 2 : 64;
		if ((ni = calloc(cap, sizeof(*ni))) == NULL)
			return NULL;
		for (i = 0; i < t->n; i++) {
			j = util_hash64(t->rows[i].key,
			    strlen(t->rows[i].key)) & (cap - 1);
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
	    j = (j + 1) & mask)
		if (strcmp(t->rows[t->idx[j] - 1].key, key) == 0)
			return &t->rows[t->idx[j] - 1];
	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 64;
		if ((nr = reallocarray(t->rows, cap, sizeof(*nr))) == NULL)
			return NULL;
		t->rows = nr;
		t->cap = cap;
	}
	nr = &t->rows[t->n];
	memset(nr, 0, sizeof(*nr));
	if ((nr->key = strdup(key)) == NULL)
		return NULL;
	nr->split = strrchr(key, ' ') != NULL ?
	    (size_t)(strrchr(key, ' ') - key) : len;
	t->idx[j] = (uint32_t)t->n + 1;
	t->n++;
	return nr;
}

static void
st_table_free(struct st_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->rows[i].key);
	free(t->rows);
	free(t->idx);
	memset(t, 0, sizeof(*t));
}

static void
st_agg_free(struct st_agg *a)
{
	st_table_free(&a->hosts);
	st_table_free(&a->backends);
	st_table_free(&a->endpoints);
	memset(&a->g, 0, sizeof(a->g));
}

static void
st_hist_add(struct mreport_hist *to, const struct mreport_hist *h)
{
	size_t i;

	for (i = 0; i <= MREPORT_NBUCKETS; i++)
		to->counts[i] += h->counts[i];
	to->sum_us += h->sum_us;
}

/* Adds the values of endpoint row <v> into <r>; gauges unless <dead>. */
static void
st_endpoint_add(struct st_row *r, const uint64_t *v, int dead)
{
	r->v[EP_REQ] += v[EP_REQ];
	r->v[EP_ERR] += v[EP_ERR];
	r->v[EP_EJECTIONS] += v[EP_EJECTIONS];
	if (dead)
		return;
	r->v[EP_INFLIGHT] += v[EP_INFLIGHT];
	r->v[EP_EJECTED] |= v[EP_EJECTED];
	/* The probe is run by one worker: the latest one tells. */
	if (v[EP_PROBE_MS] > r->v[EP_PROBE_MS]) {
		r->v[EP_PROBE_MS] = v[EP_PROBE_MS];
		r->v[EP_PROBE_RESULT] = v[EP_PROBE_RESULT];
		r->v[EP_PROBE_DETAIL] = v[EP_PROBE_DETAIL];
	}
}

/* Adds report <r> to <a>: only the counters when <dead>. */
static void
st_agg_add(struct st_agg *a, const struct mreport *r, int dead)
{
	struct st_row *row;
	uint64_t v[ST_NV];
	char key[2 * MREPORT_MAX_NAME + 2];
	size_t i, k;

	if (!dead) {
		a->g.conns_active += r->conns_active;
		a->g.conns_idle += r->conns_idle;
	}
	a->g.requests += r->requests;
	a->g.connect_errors += r->connect_errors;
	a->g.retries += r->retries;
	st_hist_add(&a->g.req, &r->req);
	st_hist_add(&a->g.up, &r->up);
	for (i = 0; i < r->nhosts; i++)
		if ((row = st_row(&a->hosts, r->hosts[i].name)) != NULL)
			for (k = 0; k < MREPORT_NCLASSES; k++)
				row->v[k] += r->hosts[i].classes[k];
	for (i = 0; i < r->nbackends; i++) {
		if ((row = st_row(&a->backends, r->backends[i].name)) == NULL)
			continue;
		for (k = 0; k < MREPORT_NCLASSES; k++)
			row->v[k] += r->backends[i].classes[k];
		row->v[MREPORT_NCLASSES] += r->backends[i].connect_errors;
		row->v[MREPORT_NCLASSES + 1] += r->backends[i].retries;
	}
	for (i = 0; i < r->nendpoints; i++) {
		const struct mreport_endpoint *e = &r->endpoints[i];

		snprintf(key, sizeof(key), "%s %s",
		    r->backends[e->backend].name, e->addr);
		if ((row = st_row(&a->endpoints, key)) == NULL)
			continue;
		memset(v, 0, sizeof(v));
		v[EP_REQ] = e->requests;
		v[EP_ERR] = e->errors;
		v[EP_EJECTIONS] = e->ejections;
		v[EP_INFLIGHT] = e->inflight;
		v[EP_EJECTED] = e->ejected;
		v[EP_PROBE_MS] = e->probe_ms;
		v[EP_PROBE_RESULT] = e->probe_result;
		v[EP_PROBE_DETAIL] = e->probe_detail;
		st_endpoint_add(row, v, dead);
	}
}

/* <to> += <from>, all of it (dead totals into a fresh aggregate). */
static void
st_agg_merge(struct st_agg *to, const struct st_agg *from)
{
	struct st_row *row;
	size_t i, k;

	to->g.requests += from->g.requests;
	to->g.connect_errors += from->g.connect_errors;
	to->g.retries += from->g.retries;
	st_hist_add(&to->g.req, &from->g.req);
	st_hist_add(&to->g.up, &from->g.up);
	for (i = 0; i < from->hosts.n; i++)
		if ((row = st_row(&to->hosts, from->hosts.rows[i].key)) !=
		    NULL)
			for (k = 0; k < ST_NV; k++)
				row->v[k] += from->hosts.rows[i].v[k];
	for (i = 0; i < from->backends.n; i++)
		if ((row = st_row(&to->backends,
		    from->backends.rows[i].key)) != NULL)
			for (k = 0; k < ST_NV; k++)
				row->v[k] += from->backends.rows[i].v[k];
	for (i = 0; i < from->endpoints.n; i++)
		if ((row = st_row(&to->endpoints,
		    from->endpoints.rows[i].key)) != NULL)
			st_endpoint_add(row, from->endpoints.rows[i].v, 1);
}

struct stats *
stats_new(void)
{
	return calloc(1, sizeof(struct stats));
}

void
stats_free(struct stats *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nslots; i++)
		mreport_free(&st->slots[i].r);
	free(st->slots);
	st_agg_free(&st->dead);
	st_agg_free(&st->cur);
	free(st);
}

void
stats_aggregate(struct stats *st)
{
	size_t i;

	if (!st->dirty)
		return;
	st->dirty = 0;
	st_agg_free(&st->cur);
	st_agg_merge(&st->cur, &st->dead);
	for (i = 0; i < st->nslots; i++)
		if (st->slots[i].have)
			st_agg_add(&st->cur, &st->slots[i].r, 0);
}

/* Slot <i>'s worker is gone: its counters go to the dead. */
static void
st_slot_bury(struct stats *st, size_t i)
{
	st_agg_add(&st->dead, &st->slots[i].r, 1);
	mreport_free(&st->slots[i].r);
	st->slots[i].have = 0;
	st->dirty = 1;
}

int
stats_report(struct stats *st, int id, pid_t pid, int fd, uint64_t size)
{
	struct st_slot *ns;
	struct mreport r;
	struct stat sb;
	char err[128];
	void *map;
	int seals, rc;

	if (id < 0 || id > 4096 || fstat(fd, &sb) == -1 ||
	    !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size ||
	    size == 0 || size > MREPORT_MAX_SIZE) {
		log_warnx("worker %d: METRICS of a bad size, dropped", id);
		close(fd);
		return -1;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals == -1 || (seals & (F_SEAL_WRITE | F_SEAL_SHRINK)) !=
	    (F_SEAL_WRITE | F_SEAL_SHRINK)) {
		log_warnx("worker %d: METRICS memfd not sealed, dropped", id);
		close(fd);
		return -1;
	}
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		log_warn("worker %d: METRICS mmap", id);
		return -1;
	}
	rc = mreport_decode(map, size, &r, err, sizeof(err));
	munmap(map, size);
	if (rc == -1) {
		log_warnx("worker %d: METRICS refused: %s", id, err);
		return -1;
	}
	if ((size_t)id >= st->nslots) {
		if ((ns = reallocarray(st->slots, id + 1, sizeof(*ns))) ==
		    NULL) {
			mreport_free(&r);
			return -1;
		}
		memset(ns + st->nslots, 0, (id + 1 - st->nslots) *
		    sizeof(*ns));
		st->slots = ns;
		st->nslots = id + 1;
	}
	if (st->slots[id].have && st->slots[id].pid != pid)
		st_slot_bury(st, id);
	mreport_free(&st->slots[id].r);
	st->slots[id].r = r;
	st->slots[id].pid = pid;
	st->slots[id].have = 1;
	st->dirty = 1;
	return 0;
}

void
stats_transition(struct stats *st, int up)
{
	st->transitions[up ? 1 : 0]++;
}

static uint64_t
st_sum(const uint64_t *v, size_t n)
{
	uint64_t s = 0;

	while (n-- > 0)
		s += v[n];
	return s;
}

static const char *const st_classes[MREPORT_NCLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx",
};

void
stats_annotate_backends(struct stats *st, struct json_object *o)
{
	struct json_object *a, *b, *eps, *hs, *details, *d, *bc, *name, *ep;
	const struct st_row *row;
	struct st_row *r;
	char key[2 * MREPORT_MAX_NAME + 2], why[128];
	const char *health;
	size_t i, j, k;

	stats_aggregate(st);
	if (!json_object_object_get_ex(o, "backends", &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(a); i++) {
		b = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(b, "name", &name) ||
		    !json_object_object_get_ex(b, "endpoints", &eps) ||
		    !json_object_object_get_ex(b, "health", &hs))
			continue;
		r = st_row(&st->cur.backends, json_object_get_string(name));
		bc = json_object_new_object();
		for (k = 0; k < MREPORT_NCLASSES; k++)
			json_object_object_add(bc, st_classes[k],
			    json_object_new_int64(r ? (int64_t)r->v[k] : 0));
		json_object_object_add(b, "requests", json_object_new_int64(
		    r ? (int64_t)st_sum(r->v, MREPORT_NCLASSES) : 0));
		json_object_object_add(b, "by_class", bc);
		json_object_object_add(b, "connect_errors",
		    json_object_new_int64(r ? (int64_t)
		    r->v[MREPORT_NCLASSES] : 0));
		json_object_object_add(b, "retries", json_object_new_int64(
		    r ? (int64_t)r->v[MREPORT_NCLASSES + 1] : 0));
		details = json_object_new_array();
		for (j = 0; j < json_object_array_length(eps); j++) {
			ep = json_object_array_get_idx(eps, j);
			health = json_object_get_string(
			    json_object_array_get_idx(hs, j));
			snprintf(key, sizeof(key), "%s %s",
			    json_object_get_string(name),
			    json_object_get_string(ep));
			row = st_row(&st->cur.endpoints, key);
			d = json_object_new_object();
			json_object_object_add(d, "address",
			    json_object_get(ep));
			json_object_object_add(d, "health",
			    json_object_new_string(health ? health : "?"));
			json_object_object_add(d, "up", json_object_new_boolean(
			    health != NULL && strcmp(health, "up") == 0));
			json_object_object_add(d, "last_probe_ms", row &&
			    row->v[EP_PROBE_MS] ? json_object_new_int64((int64_t)
			    row->v[EP_PROBE_MS]) : NULL);
			json_object_object_add(d, "last_probe", row &&
			    row->v[EP_PROBE_MS] ? json_object_new_string(
			    row->v[EP_PROBE_RESULT] == HC_OK ? "ok" :
			    hc_describe((uint32_t)row->v[EP_PROBE_RESULT],
			    (uint32_t)row->v[EP_PROBE_DETAIL], why,
			    sizeof(why))) : NULL);
			json_object_object_add(d, "in_flight",
			    json_object_new_int64(row ? (int64_t)
			    row->v[EP_INFLIGHT] : 0));
			json_object_object_add(d, "requests",
			    json_object_new_int64(row ? (int64_t)
			    row->v[EP_REQ] : 0));
			json_object_object_add(d, "errors",
			    json_object_new_int64(row ? (int64_t)
			    row->v[EP_ERR] : 0));
			json_object_object_add(d, "ejections",
			    json_object_new_int64(row ? (int64_t)
			    row->v[EP_EJECTIONS] : 0));
			json_object_object_add(d, "ejected",
			    json_object_new_boolean(row &&
			    row->v[EP_EJECTED]));
			json_object_array_add(details, d);
		}
		json_object_object_add(b, "details", details);
	}
}

/* The member <key> of <o> as a number, or <def>. */
static double
st_num(struct json_object *o, const char *key, double def)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    v == NULL)
		return def;
	return json_object_get_double(v);
}

/* The status document's numbers that /metrics shows as plain gauges. */
static const struct {
	const char	*name;
	const char	*key;
	const char	*help;
} st_gauges[] = {
	{ "ingressd_uptime_seconds", "uptime_s",
	    "Seconds since the master started." },
	{ "ingressd_snapshot_generation", "generation",
	    "Generation of the last route snapshot published." },
	{ "ingressd_snapshot_applied", "applied",
	    "1 when every worker applied the last generation." },
	{ "ingressd_route_errors", "route_errors",
	    "Objects skipped by the last compile." },
};

static void
st_render_master(struct stats *st, struct json_object *status,
    struct promtext *pt)
{
	struct json_object *ws, *w, *p, *rs, *r, *v;
	struct promtext_label l[2];
	char id[32];
	size_t i;

	l[0].name = "version";
	l[0].value = PACKAGE_VERSION;
	promtext_family(pt, "ingressd_build_info", "gauge",
	    "Always 1; the version as a label.");
	promtext_u64(pt, "ingressd_build_info", l, 1, 1);
	for (i = 0; i < UTIL_NELEM(st_gauges); i++) {
		promtext_family(pt, st_gauges[i].name, "gauge",
		    st_gauges[i].help);
		promtext_double(pt, st_gauges[i].name, NULL, 0,
		    st_num(status, st_gauges[i].key, 0));
	}

	ws = NULL;
	if (status != NULL)
		json_object_object_get_ex(status, "workers", &ws);
	promtext_family(pt, "ingressd_workers", "gauge",
	    "Worker processes running.");
	promtext_u64(pt, "ingressd_workers", NULL, 0, ws != NULL ?
	    json_object_array_length(ws) : 0);
	l[0].name = "worker";
	l[0].value = id;
	promtext_family(pt, "ingressd_worker_restarts_total", "counter",
	    "Times the master restarted the worker.");
	for (i = 0; ws != NULL && i < json_object_array_length(ws); i++) {
		w = json_object_array_get_idx(ws, i);
		snprintf(id, sizeof(id), "%.0f", st_num(w, "id", 0));
		promtext_double(pt, "ingressd_worker_restarts_total", l, 1,
		    st_num(w, "restarts", 0));
	}
	promtext_family(pt, "ingressd_snapshot_apply_latency_seconds",
	    "gauge", "From publishing the worker's generation to its ack.");
	for (i = 0; ws != NULL && i < json_object_array_length(ws); i++) {
		w = json_object_array_get_idx(ws, i);
		if (st_num(w, "apply_latency_ms", -1) < 0)
			continue;
		snprintf(id, sizeof(id), "%.0f", st_num(w, "id", 0));
		promtext_double(pt, "ingressd_snapshot_apply_latency_seconds",
		    l, 1, st_num(w, "apply_latency_ms", 0) / 1000.0);
	}

	p = NULL;
	if (status != NULL)
		json_object_object_get_ex(status, "provider", &p);
	l[0].name = "kind";
	l[0].value = p != NULL && json_object_object_get_ex(p, "kind", &v) ?
	    json_object_get_string(v) : "none";
	promtext_family(pt, "ingressd_provider_synced", "gauge",
	    "1 once the provider has a complete view (kube: every resource "
	    "listed; files: the directory loaded).");
	promtext_double(pt, "ingressd_provider_synced", l, 1,
	    st_num(p, "synced", 0));
	rs = NULL;
	if (p != NULL)
		json_object_object_get_ex(p, "resources", &rs);
	l[0].name = "resource";
	promtext_family(pt, "ingressd_provider_watch_restarts_total",
	    "counter", "Lists started again for a resource (kube provider: "
	    "expired watches, errors).");
	for (i = 0; rs != NULL && json_object_is_type(rs, json_type_array) &&
	    i < json_object_array_length(rs); i++) {
		r = json_object_array_get_idx(rs, i);
		if (!json_object_object_get_ex(r, "resource", &v))
			continue;
		l[0].value = json_object_get_string(v);
		promtext_double(pt, "ingressd_provider_watch_restarts_total",
		    l, 1, st_num(r, "relists", 0));
	}
	promtext_family(pt, "ingressd_provider_watch_errors_total",
	    "counter", "Errors on a resource's list or watch (kube).");
	for (i = 0; rs != NULL && json_object_is_type(rs, json_type_array) &&
	    i < json_object_array_length(rs); i++) {
		r = json_object_array_get_idx(rs, i);
		if (!json_object_object_get_ex(r, "resource", &v))
			continue;
		l[0].value = json_object_get_string(v);
		promtext_double(pt, "ingressd_provider_watch_errors_total",
		    l, 1, st_num(r, "errors", 0));
	}

	l[0].name = "to";
	promtext_family(pt, "ingressd_health_transitions_total", "counter",
	    "Endpoint health changes decided by the active probes.");
	l[0].value = "down";
	promtext_u64(pt, "ingressd_health_transitions_total", l, 1,
	    st->transitions[0]);
	l[0].value = "up";
	promtext_u64(pt, "ingressd_health_transitions_total", l, 1,
	    st->transitions[1]);
}

static void
st_render_up(struct json_object *backends, struct promtext *pt)
{
	struct json_object *a, *b, *name, *details, *d, *addr, *up;
	struct promtext_label l[2];
	size_t i, j;

	promtext_family(pt, "ingressd_endpoint_up", "gauge",
	    "1 when the endpoint is in rotation by its health probes.");
	if (backends == NULL || !json_object_object_get_ex(backends,
	    "backends", &a))
		return;
	l[0].name = "backend";
	l[1].name = "endpoint";
	for (i = 0; i < json_object_array_length(a); i++) {
		b = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(b, "name", &name) ||
		    !json_object_object_get_ex(b, "details", &details))
			continue;
		for (j = 0; j < json_object_array_length(details); j++) {
			d = json_object_array_get_idx(details, j);
			if (!json_object_object_get_ex(d, "address", &addr) ||
			    !json_object_object_get_ex(d, "up", &up))
				continue;
			l[0].value = json_object_get_string(name);
			l[1].value = json_object_get_string(addr);
			promtext_u64(pt, "ingressd_endpoint_up", l, 2,
			    json_object_get_boolean(up) ? 1 : 0);
		}
	}
}

/* One family of endpoint rows: value <k> of each, as <type>. */
static void
st_render_endpoints(const struct st_table *t, const char *name,
    const char *type, const char *help, int k, struct promtext *pt)
{
	struct promtext_label l[2];
	char bname[MREPORT_MAX_NAME + 1];
	size_t i;

	promtext_family(pt, name, type, help);
	l[0].name = "backend";
	l[1].name = "endpoint";
	for (i = 0; i < t->n; i++) {
		snprintf(bname, sizeof(bname), "%.*s", (int)t->rows[i].split,
		    t->rows[i].key);
		l[0].value = bname;
		l[1].value = t->rows[i].key + t->rows[i].split +
		    (t->rows[i].key[t->rows[i].split] != '\0');
		promtext_u64(pt, name, l, 2, t->rows[i].v[k]);
	}
}

void
stats_render(struct stats *st, struct json_object *status,
    struct json_object *backends, struct promtext *pt)
{
	const struct st_agg *a = &st->cur;
	struct promtext_label l[2];
	size_t i, k;

	st_render_master(st, status, pt);
	promtext_family(pt, "ingressd_connections", "gauge",
	    "Client connections open in the workers, by state.");
	l[0].name = "state";
	l[0].value = "active";
	promtext_u64(pt, "ingressd_connections", l, 1, a->g.conns_active -
	    (a->g.conns_idle < a->g.conns_active ? a->g.conns_idle :
	    a->g.conns_active));
	l[0].value = "idle";
	promtext_u64(pt, "ingressd_connections", l, 1, a->g.conns_idle);
	promtext_family(pt, "ingressd_requests_total", "counter",
	    "Requests answered on the HTTP listeners.");
	promtext_u64(pt, "ingressd_requests_total", NULL, 0, a->g.requests);

	promtext_family(pt, "ingressd_host_requests_total", "counter",
	    "Requests by the rule host they matched (\"*\": no host rule) "
	    "and status class.");
	l[0].name = "host";
	l[1].name = "status_class";
	for (i = 0; i < a->hosts.n; i++)
		for (k = 0; k < MREPORT_NCLASSES; k++) {
			l[0].value = a->hosts.rows[i].key;
			l[1].value = st_classes[k];
			promtext_u64(pt, "ingressd_host_requests_total", l, 2,
			    a->hosts.rows[i].v[k]);
		}
	promtext_family(pt, "ingressd_backend_requests_total", "counter",
	    "Requests by backend (namespace/service:port) and status class.");
	l[0].name = "backend";
	for (i = 0; i < a->backends.n; i++)
		for (k = 0; k < MREPORT_NCLASSES; k++) {
			l[0].value = a->backends.rows[i].key;
			l[1].value = st_classes[k];
			promtext_u64(pt, "ingressd_backend_requests_total", l,
			    2, a->backends.rows[i].v[k]);
		}
	promtext_family(pt, "ingressd_upstream_connect_errors_total",
	    "counter", "Failed connections to a backend's endpoints.");
	for (i = 0; i < a->backends.n; i++) {
		l[0].value = a->backends.rows[i].key;
		promtext_u64(pt, "ingressd_upstream_connect_errors_total", l,
		    1, a->backends.rows[i].v[MREPORT_NCLASSES]);
	}
	promtext_family(pt, "ingressd_upstream_retries_total", "counter",
	    "Requests sent to an upstream again (another endpoint or a "
	    "fresh connection).");
	for (i = 0; i < a->backends.n; i++) {
		l[0].value = a->backends.rows[i].key;
		promtext_u64(pt, "ingressd_upstream_retries_total", l, 1,
		    a->backends.rows[i].v[MREPORT_NCLASSES + 1]);
	}
	promtext_family(pt, "ingressd_request_duration_seconds", "histogram",
	    "From the first byte of a request head to the end of its "
	    "response.");
	promtext_histogram(pt, "ingressd_request_duration_seconds", NULL, 0,
	    mreport_bounds, MREPORT_NBUCKETS, a->g.req.counts,
	    a->g.req.sum_us / 1e6);
	promtext_family(pt, "ingressd_upstream_response_seconds", "histogram",
	    "From the first byte of a request head to the upstream's "
	    "response head.");
	promtext_histogram(pt, "ingressd_upstream_response_seconds", NULL, 0,
	    mreport_bounds, MREPORT_NBUCKETS, a->g.up.counts,
	    a->g.up.sum_us / 1e6);
	st_render_endpoints(&a->endpoints, "ingressd_endpoint_requests_total",
	    "counter", "Requests answered by the endpoint.", EP_REQ, pt);
	st_render_endpoints(&a->endpoints, "ingressd_endpoint_errors_total",
	    "counter", "5xx answers from the endpoint and failed connections "
	    "to it.", EP_ERR, pt);
	st_render_endpoints(&a->endpoints, "ingressd_endpoint_in_flight",
	    "gauge", "Requests the endpoint is working on.", EP_INFLIGHT, pt);
	st_render_endpoints(&a->endpoints,
	    "ingressd_endpoint_ejections_total", "counter",
	    "Passive ejections after failed requests in a row.",
	    EP_EJECTIONS, pt);
	st_render_up(backends, pt);
}

/* <o> as one JSON text appended to nothing: a new string or NULL. */
static char *
st_json(struct json_object *o)
{
	const char *s;

	if (o == NULL)
		return strdup("{}");
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	return strdup(s != NULL ? s : "{}");
}

int
stats_publish(struct stats *st, const struct control_ops *ops,
    struct supervise *sv)
{
	struct json_object *status, *routes, *backends;
	struct supervise_worker *w;
	struct statusdoc doc;
	struct ipc_writer wr;
	struct promtext pt;
	char err[256], *js[3];
	uint8_t *buf = NULL;
	size_t i, len;
	int j, live, fd, rc = -1;

	for (i = 0; i < st->nslots; i++) {
		if (!st->slots[i].have)
			continue;
		for (j = 0, live = 0; j < sv->nw && !live; j++)
			live = (w = sv->w[j]) != NULL && w->id == (int)i &&
			    w->pid == st->slots[i].pid;
		if (!live)
			st_slot_bury(st, i);
	}
	stats_aggregate(st);
	err[0] = '\0';
	status = ops->status(ops->arg, err, sizeof(err));
	routes = ops->routes(ops->arg, err, sizeof(err));
	backends = ops->backends(ops->arg, err, sizeof(err));
	promtext_init(&pt);
	stats_render(st, status, backends, &pt);
	js[0] = st_json(status);
	js[1] = st_json(routes);
	js[2] = st_json(backends);
	json_object_put(status);
	json_object_put(routes);
	json_object_put(backends);
	if (pt.bad || js[0] == NULL || js[1] == NULL || js[2] == NULL)
		goto done;
	doc.sec[STATUSDOC_METRICS] = pt.p;
	doc.len[STATUSDOC_METRICS] = pt.len;
	for (i = 0; i < 3; i++) {
		doc.sec[STATUSDOC_STATUS + i] = js[i];
		doc.len[STATUSDOC_STATUS + i] = strlen(js[i]);
	}
	if (statusdoc_encode(&doc, &buf, &len) == -1 ||
	    (fd = util_sealed_memfd("ingressd-status", buf, len)) == -1) {
		log_warnx("status document: out of memory or memfd failed");
		goto done;
	}
	ipc_writer_init(&wr);
	ipc_put_u64(&wr, len);
	for (j = 0; j < sv->nw; j++) {
		if ((w = sv->w[j]) == NULL)
			continue;
		/* Behind a full socket it replaces the one still queued. */
		supervise_send_fd(w, IPC_STATUS_DOC, wr.buf, wr.len, fd);
	}
	close(fd);
	rc = 0;
 done:
	free(buf);
	promtext_free(&pt);
	for (i = 0; i < 3; i++)
		free(js[i]);
	return rc;
}
