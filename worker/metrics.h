/*
 * metrics: a worker's counters (requests by host, backend and status
 * class, latency histograms, upstream connect errors and retries, per
 * endpoint requests and errors), reported to the master once a second as
 * a sealed memfd (IPC_METRICS, common/mreport.h).
 *
 * Cheap on the request path: counters live in tables keyed by name that
 * outlive snapshots (so they stay monotonic), and metrics_snapshot()
 * maps each snapshot's host, backend and endpoint indexes to rows once,
 * so a request only indexes arrays.  Runs in workers, sandboxed.
 */
#ifndef INGRESSD_METRICS_H
#define INGRESSD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/snapshot.h"

#define METRICS_NONE	UINT32_MAX

/* What one request leaves for the counters; the proxy fills it in. */
struct metrics_req {
	double		 t0;		/* head started, ev_now() */
	double		 t_resp;	/* upstream response head, 0 none */
	int32_t		 host;		/* snapshot host index, -1 none */
	uint32_t	 backend;	/* snapshot backend, METRICS_NONE */
	int		 status;	/* final status sent, 0 none */
};

/* Starts <r> for a request whose head began at <t0>. */
void	metrics_req_begin(struct metrics_req *r, double t0);

/*
 * The request <r> on snapshot <s> (NULL: none) ended at <now>; <ep> is
 * the endpoint's index within its backend, or METRICS_NONE.
 */
void	metrics_request_done(const struct snapshot *s,
	    const struct metrics_req *r, uint32_t ep, double now);

/* An upstream connect to endpoint <ep> of backend <b> failed. */
void	metrics_connect_error(const struct snapshot *s, uint32_t b,
	    uint32_t ep);

/* A request of backend <b> went to the upstream again. */
void	metrics_retry(const struct snapshot *s, uint32_t b);

/* Maps the indexes of <s>, the new current snapshot, to rows. */
void	metrics_snapshot(const struct snapshot *s);

/*
 * Sends (or queues, superseding a queued one) the report over <q> as
 * IPC_METRICS; <idle> client connections of <active> wait for a request.
 * 0 or -1 (logged by the caller).
 */
struct ipc_queue;
int	metrics_send(struct ipc_queue *q, uint64_t active, uint64_t idle);

#endif
