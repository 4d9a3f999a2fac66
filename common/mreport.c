/*
 * mreport: encoder (workers) and decoder (master) of a worker's metrics
 * report; the layout is in mreport.h.  The decoder checks every length
 * against what is left and against the limits before it allocates.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hcheck.h"
#include "common/mreport.h"

const double mreport_bounds[MREPORT_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void
mreport_observe(struct mreport_hist *h, double seconds)
{
	size_t i;

	if (!(seconds >= 0))
		seconds = 0;
	for (i = 0; i < MREPORT_NBUCKETS; i++)
		if (seconds <= mreport_bounds[i])
			break;
	h->counts[i]++;
	h->sum_us += (uint64_t)(seconds * 1e6);
}

/*
 * Writer.
 */

struct mr_out {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
	int		 bad;
};

static void
mr_put(struct mr_out *o, const void *p, size_t n)
{
	uint8_t *np;
	size_t cap;

	if (o->bad)
		return;
	if (o->len + n > MREPORT_MAX_SIZE) {
		o->bad = 1;
		return;
	}
	if (o->len + n > o->cap) {
		cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		if ((np = realloc(o->p, cap)) == NULL) {
			o->bad = 1;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void
mr_u32(struct mr_out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 24) };

	mr_put(o, b, 4);
}

static void
mr_u64(struct mr_out *o, uint64_t v)
{
	mr_u32(o, (uint32_t)v);
	mr_u32(o, (uint32_t)(v >> 32));
}

static void
mr_str(struct mr_out *o, const char *s)
{
	size_t n = strlen(s);

	if (n > MREPORT_MAX_NAME)
		n = MREPORT_MAX_NAME;	/* names are bounded upstream */
	mr_u32(o, (uint32_t)n);
	mr_put(o, s, n);
	mr_put(o, "", 1);
}

static void
mr_hist(struct mr_out *o, const struct mreport_hist *h)
{
	size_t i;

	for (i = 0; i <= MREPORT_NBUCKETS; i++)
		mr_u64(o, h->counts[i]);
	mr_u64(o, h->sum_us);
}

int
mreport_encode(const struct mreport *r, uint8_t **out, size_t *len)
{
	struct mr_out o = { NULL, 0, 0, 0 };
	size_t i, k;

	if (r->nhosts > MREPORT_MAX_ROWS || r->nbackends > MREPORT_MAX_ROWS ||
	    r->nendpoints > MREPORT_MAX_ROWS) {
		errno = E2BIG;
		return -1;
	}
	mr_u32(&o, MREPORT_MAGIC);
	mr_u32(&o, MREPORT_NBUCKETS);
	mr_u64(&o, r->conns_active);
	mr_u64(&o, r->conns_idle);
	mr_u64(&o, r->requests);
	mr_u64(&o, r->connect_errors);
	mr_u64(&o, r->retries);
	mr_hist(&o, &r->req);
	mr_hist(&o, &r->up);
	mr_u32(&o, (uint32_t)r->nhosts);
	for (i = 0; i < r->nhosts; i++) {
		mr_str(&o, r->hosts[i].name);
		for (k = 0; k < MREPORT_NCLASSES; k++)
			mr_u64(&o, r->hosts[i].classes[k]);
	}
	mr_u32(&o, (uint32_t)r->nbackends);
	for (i = 0; i < r->nbackends; i++) {
		mr_str(&o, r->backends[i].name);
		for (k = 0; k < MREPORT_NCLASSES; k++)
			mr_u64(&o, r->backends[i].classes[k]);
		mr_u64(&o, r->backends[i].connect_errors);
		mr_u64(&o, r->backends[i].retries);
	}
	mr_u32(&o, (uint32_t)r->nendpoints);
	for (i = 0; i < r->nendpoints; i++) {
		const struct mreport_endpoint *e = &r->endpoints[i];

		mr_u32(&o, e->backend);
		mr_str(&o, e->addr);
		mr_u64(&o, e->requests);
		mr_u64(&o, e->errors);
		mr_u64(&o, e->inflight);
		mr_u64(&o, e->ejections);
		mr_u64(&o, e->probe_ms);
		mr_u32(&o, e->probe_result);
		mr_u32(&o, e->probe_detail);
		mr_u32(&o, e->ejected);
	}
	if (o.bad) {
		free(o.p);
		errno = ENOMEM;
		return -1;
	}
	*out = o.p;
	*len = o.len;
	return 0;
}

/*
 * Reader.
 */

struct mr_in {
	uint8_t		*p;
	size_t		 left;
	int		 bad;
};

static uint32_t
mr_get32(struct mr_in *in)
{
	uint32_t v;

	if (in->bad || in->left < 4) {
		in->bad = 1;
		return 0;
	}
	v = (uint32_t)in->p[0] | (uint32_t)in->p[1] << 8 |
	    (uint32_t)in->p[2] << 16 | (uint32_t)in->p[3] << 24;
	in->p += 4;
	in->left -= 4;
	return v;
}

static uint64_t
mr_get64(struct mr_in *in)
{
	uint64_t lo = mr_get32(in);

	return lo | (uint64_t)mr_get32(in) << 32;
}

/* A string in place: NUL-ended, no NUL inside, bounded. */
static const char *
mr_getstr(struct mr_in *in)
{
	uint32_t n = mr_get32(in);
	const char *s;

	if (in->bad || n > MREPORT_MAX_NAME || in->left < (size_t)n + 1 ||
	    in->p[n] != '\0' || memchr(in->p, '\0', n) != NULL) {
		in->bad = 1;
		return "";
	}
	s = (const char *)in->p;
	in->p += n + 1;
	in->left -= n + 1;
	return s;
}

static void
mr_gethist(struct mr_in *in, struct mreport_hist *h)
{
	size_t i;

	for (i = 0; i <= MREPORT_NBUCKETS; i++)
		h->counts[i] = mr_get64(in);
	h->sum_us = mr_get64(in);
}

/* A row count that the bytes left could hold at <minrow> bytes a row. */
static size_t
mr_getcount(struct mr_in *in, size_t minrow)
{
	uint32_t n = mr_get32(in);

	if (in->bad || n > MREPORT_MAX_ROWS || (size_t)n > in->left / minrow) {
		in->bad = 1;
		return 0;
	}
	return n;
}

int
mreport_decode(const void *p, size_t len, struct mreport *r, char *err,
    size_t errlen)
{
	struct mr_in in;
	size_t i, k;

	memset(r, 0, sizeof(*r));
	if (len > MREPORT_MAX_SIZE) {
		snprintf(err, errlen, "report of %zu bytes too big", len);
		return -1;
	}
	if ((r->buf = malloc(len ? len : 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(r->buf, p, len);
	in.p = r->buf;
	in.left = len;
	in.bad = 0;
	if (mr_get32(&in) != MREPORT_MAGIC ||
	    mr_get32(&in) != MREPORT_NBUCKETS) {
		snprintf(err, errlen, "bad magic or bucket count");
		goto bad;
	}
	r->conns_active = mr_get64(&in);
	r->conns_idle = mr_get64(&in);
	r->requests = mr_get64(&in);
	r->connect_errors = mr_get64(&in);
	r->retries = mr_get64(&in);
	mr_gethist(&in, &r->req);
	mr_gethist(&in, &r->up);

	r->nhosts = mr_getcount(&in, 5 + 8 * MREPORT_NCLASSES);
	if (r->nhosts > 0 &&
	    (r->hosts = calloc(r->nhosts, sizeof(*r->hosts))) == NULL)
		goto nomem;
	for (i = 0; i < r->nhosts; i++) {
		r->hosts[i].name = mr_getstr(&in);
		for (k = 0; k < MREPORT_NCLASSES; k++)
			r->hosts[i].classes[k] = mr_get64(&in);
	}
	r->nbackends = mr_getcount(&in, 5 + 8 * (MREPORT_NCLASSES + 2));
	if (r->nbackends > 0 && (r->backends = calloc(r->nbackends,
	    sizeof(*r->backends))) == NULL)
		goto nomem;
	for (i = 0; i < r->nbackends; i++) {
		r->backends[i].name = mr_getstr(&in);
		for (k = 0; k < MREPORT_NCLASSES; k++)
			r->backends[i].classes[k] = mr_get64(&in);
		r->backends[i].connect_errors = mr_get64(&in);
		r->backends[i].retries = mr_get64(&in);
	}
	r->nendpoints = mr_getcount(&in, 4 + 5 + 5 * 8 + 3 * 4);
	if (r->nendpoints > 0 && (r->endpoints = calloc(r->nendpoints,
	    sizeof(*r->endpoints))) == NULL)
		goto nomem;
	for (i = 0; i < r->nendpoints; i++) {
		struct mreport_endpoint *e = &r->endpoints[i];

		e->backend = mr_get32(&in);
		e->addr = mr_getstr(&in);
		e->requests = mr_get64(&in);
		e->errors = mr_get64(&in);
		e->inflight = mr_get64(&in);
		e->ejections = mr_get64(&in);
		e->probe_ms = mr_get64(&in);
		e->probe_result = mr_get32(&in);
		e->probe_detail = mr_get32(&in);
		e->ejected = mr_get32(&in);
		if (!in.bad && (e->backend >= r->nbackends ||
		    e->probe_result >= HC_RESULT_MAX || e->ejected > 1)) {
			snprintf(err, errlen, "endpoint row %zu out of range",
			    i);
			goto bad;
		}
	}
	if (in.bad || in.left != 0) {
		snprintf(err, errlen, "%s", in.bad ? "truncated or malformed" :
		    "trailing bytes");
		goto bad;
	}
	return 0;
 nomem:
	snprintf(err, errlen, "out of memory");
 bad:
	mreport_free(r);
	return -1;
}

void
mreport_free(struct mreport *r)
{
	free(r->hosts);
	free(r->backends);
	free(r->endpoints);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}
