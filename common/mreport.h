/*
 * mreport: a worker's metrics report, the body of the sealed memfd sent
 * with IPC_METRICS once a second.  The worker encodes it from its
 * counters (worker/metrics.c), the master decodes and aggregates it
 * (master/stats.c).  Writer and reader live in mreport.c.
 *
 * Layout, little-endian: "IMR1", u32 bucket count (MREPORT_NBUCKETS), the
 * globals (u64 each: active and idle client connections, requests,
 * upstream connect errors, retries), two histograms (request and upstream
 * latency: MREPORT_NBUCKETS + 1 non-cumulative counts, the last one past
 * the highest bound, then the sum in microseconds), then three tables,
 * each a u32 count and its rows.  Strings are u32 length, the bytes and a
 * NUL.  host: name, u64 per status class 1xx..5xx.  backend: name, u64
 * per class, connect errors, retries.  endpoint: u32 backend row, address,
 * u64 requests, errors, in flight, ejections, last probe (ms since the
 * epoch, 0 none), u32 last probe result (enum hc_result), detail, ejected
 * now (0/1).
 *
 * The master treats reports as untrusted: mreport_decode() checks every
 * bound below and any leftover byte.
 */
#ifndef INGRESSD_MREPORT_H
#define INGRESSD_MREPORT_H

#include <stddef.h>
#include <stdint.h>

#define MREPORT_MAGIC		0x31524d49u	/* "IMR1" */
#define MREPORT_NBUCKETS	11
#define MREPORT_NCLASSES	5		/* 1xx..5xx */
#define MREPORT_MAX_NAME	1024		/* bytes in one string */
#define MREPORT_MAX_ROWS	(1u << 18)	/* rows in one table */
#define MREPORT_MAX_SIZE	(64u << 20)	/* bytes in one report */

/* Upper bounds of the latency buckets, seconds (Prometheus' defaults). */
extern const double mreport_bounds[MREPORT_NBUCKETS];

struct mreport_hist {
	uint64_t	 counts[MREPORT_NBUCKETS + 1];	/* not cumulative */
	uint64_t	 sum_us;
};

struct mreport_host {
	const char	*name;
	uint64_t	 classes[MREPORT_NCLASSES];
};

struct mreport_backend {
	const char	*name;
	uint64_t	 classes[MREPORT_NCLASSES];
	uint64_t	 connect_errors;
	uint64_t	 retries;
};

struct mreport_endpoint {
	uint32_t	 backend;	/* row in backends[] */
	const char	*addr;
	uint64_t	 requests;
	uint64_t	 errors;	/* 5xx from it, or failed connections */
	uint64_t	 inflight;	/* gauge */
	uint64_t	 ejections;
	uint64_t	 probe_ms;	/* last probe by this worker, 0 none */
	uint32_t	 probe_result;
	uint32_t	 probe_detail;
	uint32_t	 ejected;	/* gauge */
};

struct mreport {
	uint64_t		 conns_active;	/* gauges */
	uint64_t		 conns_idle;
	uint64_t		 requests;
	uint64_t		 connect_errors;
	uint64_t		 retries;
	struct mreport_hist	 req;
	struct mreport_hist	 up;
	struct mreport_host	*hosts;
	size_t			 nhosts;
	struct mreport_backend	*backends;
	size_t			 nbackends;
	struct mreport_endpoint	*endpoints;
	size_t			 nendpoints;
	void			*buf;	/* decoded: owns the strings */
};

/* Adds one observation of <seconds> to <h>. */
void	mreport_observe(struct mreport_hist *h, double seconds);

/* Encodes <r> into a new malloc'd buffer; 0, or -1 (ENOMEM, too big). */
int	mreport_encode(const struct mreport *r, uint8_t **out, size_t *len);

/*
 * Decodes <len> bytes of <p> (copied) into <r>; 0, or -1 with the reason
 * in <err>.  Free with mreport_free().
 */
int	mreport_decode(const void *p, size_t len, struct mreport *r,
	    char *err, size_t errlen);

void	mreport_free(struct mreport *r);

#endif
