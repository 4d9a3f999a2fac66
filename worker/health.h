/*
 * health: active probes of the endpoints this worker owns, and the health
 * state of every endpoint as the master broadcasts it.
 *
 * Each endpoint (address and port) is owned by exactly one worker, chosen
 * by rendezvous hashing of the address over the worker count the snapshot
 * carries, so every endpoint is probed once per interval however many
 * workers run.  The owner feeds probe results to the rise/fall machine of
 * common/hcheck.h and sends each transition to the master
 * (IPC_HEALTH_REPORT); the master sends it back to every worker
 * (IPC_HEALTH_STATE), which is how even the owner learns it.
 *
 * Runs in workers, inside the sandbox: probes use only socket(),
 * connect(), getsockopt(SO_ERROR), sendto() and recvfrom() on descriptors
 * it opens itself, all already allowed for the proxy.
 */
#ifndef INGRESSD_HEALTH_H
#define INGRESSD_HEALTH_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "common/ipc.h"
#include "common/snapshot.h"

/* Where transitions go: the queue to the master's socket (batched, one
 * HEALTH_REPORT per turn of the loop). */
struct ipc_queue;
void	health_init(struct ev_loop *loop, struct ipc_queue *q,
	    int worker_id);

/*
 * Probes, from now on, the endpoints of <s> that this worker owns.
 * Probes of unchanged endpoints carry their state and schedule over;
 * those no longer in <s> or owned elsewhere stop.  <s> need not outlive
 * the call.  Out of memory: logged, the old probes keep running.
 */
void	health_update(const struct snapshot *s);

/* Stops every probe (drain). */
void	health_stop(void);

/* The master says so (IPC_HEALTH_STATE). */
void	health_set_state(const struct ipc_health *h);

/* 1 when the master said endpoint <sa> is DOWN, else 0. */
int	health_is_down(const struct sockaddr *sa);

/*
 * Passive detection: a request to <sa> succeeded (<ok>) or failed to
 * connect, was reset before a response, or got a 5xx.  <threshold>
 * failures in a row eject <sa> locally, for a backoff of 1 s doubling up
 * to 60 s with each ejection in a row; 0 disables.
 */
void	health_passive(const struct sockaddr *sa, int ok, uint32_t threshold,
	    ev_tstamp now);

/* 1 while <sa> is passively ejected at <now>. */
int	health_is_ejected(const struct sockaddr *sa, ev_tstamp now);

/*
 * Rendezvous hashing: the worker of <nworkers> that owns endpoint <sa>.
 * Adding or removing a worker moves only the endpoints it wins or held.
 */
uint32_t health_owner(const struct sockaddr *sa, uint32_t nworkers);

/* What this worker knows of an endpoint, for its metrics report. */
struct health_info {
	uint64_t	 probe_ms;	/* last probe it ran, ms; 0 none */
	uint32_t	 probe_result;	/* enum hc_result */
	uint32_t	 probe_detail;
	uint32_t	 ejected;	/* passively ejected now */
	uint64_t	 ejections;	/* passive ejections so far */
};

void	health_endpoint_info(const struct sockaddr *sa,
	    struct health_info *out);

/* Probes this worker runs (tests, stats). */
size_t	health_probe_count(void);

#endif
