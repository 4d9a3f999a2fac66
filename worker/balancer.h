/*
 * balancer: picks an endpoint of a backend for each request.
 *
 * Smooth weighted round-robin (as nginx's upstream round-robin): every
 * pick adds each candidate's weight to its current weight, takes the
 * largest and subtracts the candidates' total from it, so weights 5,1,1
 * give a,a,b,a,c,a,a rather than a burst of five.  The state lives in a
 * small open-addressing table keyed by the hash of the backend name, not
 * by snapshot index, so it survives snapshot swaps for every backend whose
 * endpoint list (addresses and weights) did not change; a changed list
 * starts afresh.
 *
 * Each endpoint also has an in-flight counter (balancer_pick() counts a
 * request in, balancer_done() counts it out), which the least-request
 * policy (power of two choices) compares.
 *
 * Runs in workers.  Allocates only when a backend is first seen or its
 * endpoint list changes (at most once per backend per snapshot), never per
 * request; no logging, no system calls.
 */
#ifndef INGRESSD_BALANCER_H
#define INGRESSD_BALANCER_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "common/snapshot.h"

/* Endpoints a request may try before it gives up (502/504). */
#define BALANCER_MAX_TRIES	16

/*
 * What a request needs to count itself out again: the backend key, the
 * endpoint-list fingerprint it was picked from, and the endpoint's index
 * within the backend.
 */
struct balancer_pick {
	uint64_t	 key;
	uint64_t	 fingerprint;
	uint32_t	 index;		/* 0 .. nendpoints-1 */
};

/*
 * What a request brings to the pick: for the hash policies the hash of
 * its key (source address, header or cookie value), for sticky sessions
 * the endpoint id its cookie named.
 */
struct balancer_req {
	uint64_t	 hash;
	int		 has_hash;
	uint64_t	 sticky;	/* balancer_endpoint_id() of one */
	int		 has_sticky;
};

/*
 * Picks an endpoint of backend <b> of snapshot <s> by its policy,
 * skipping the <ntried> backend-relative indices in <tried>:
 * round-robin: smooth weighted round-robin; least-request: the less
 * loaded (in flight / weight) of two endpoints drawn at random; the hash
 * policies: rendezvous hashing of req->hash over the endpoint ids, so
 * that removing one of N endpoints moves only its 1/N of the keys (and
 * least-request without a key); sticky-cookie: the endpoint whose id
 * req->sticky names when it may be used, else least-request.  <req> may
 * be NULL.  Returns 0 and fills <out> (its index is relative to
 * b->first_endpoint), or -1 when the backend has no endpoint left to try
 * or memory ran out.
 */
int	balancer_pick(const struct snapshot *s,
	    const struct snapshot_backend *b, const struct balancer_req *req,
	    const uint32_t *tried, size_t ntried, struct balancer_pick *out);

/* The opaque, stable id of an endpoint (address and port). */
uint64_t balancer_endpoint_id(const struct sockaddr *sa);

/*
 * Rendezvous hashing on plain arrays: the index among <n> endpoint <ids>
 * not in <skip> with the highest score for <hash>, or -1.
 */
int	balancer_hrw(const uint64_t *ids, size_t n, uint64_t hash,
	    const uint32_t *skip, size_t nskip);

/*
 * The core on plain arrays (unit tests, and the snapshot path above):
 * <key> names the backend, <weights> its <n> endpoints (0 counts as 1),
 * <fingerprint> identifies the endpoint list; a different fingerprint for
 * the same key resets the state.
 */
int	balancer_pick_weights(uint64_t key, uint64_t fingerprint,
	    const uint32_t *weights, size_t n, const uint32_t *tried,
	    size_t ntried, struct balancer_pick *out);

/* The same with <policy> round-robin or least-request. */
int	balancer_pick_policy(uint64_t key, uint64_t fingerprint,
	    uint32_t policy, const uint32_t *weights, size_t n,
	    const uint32_t *tried, size_t ntried, struct balancer_pick *out);

/* A request picked with <p> ended.  Harmless after a state reset. */
void	balancer_done(const struct balancer_pick *p);

/* In-flight requests on endpoint <index> of <key>; 0 when unknown. */
uint32_t balancer_inflight(uint64_t key, uint64_t fingerprint,
	    uint32_t index);

/* In-flight requests on endpoint <index> of backend <b> of <s> (stats). */
uint32_t balancer_backend_inflight(const struct snapshot *s,
	    const struct snapshot_backend *b, uint32_t index);

/*
 * Retry budget per backend, a token bucket: each request picked first
 * earns BALANCER_RETRY_RATIO of a retry, time earns BALANCER_RETRY_RATE
 * per second, at most BALANCER_RETRY_BURST are kept, and a retry of a
 * request that may have reached an endpoint spends one.  So retries stay
 * near 20% of the requests plus 3/s whatever the failure rate, and
 * cannot multiply a brown-out.
 */
#define BALANCER_RETRY_RATIO	0.2
#define BALANCER_RETRY_RATE	3.0
#define BALANCER_RETRY_BURST	10.0

/* A first pick of the backend of <p> at <now> (seconds). */
void	balancer_budget_request(const struct balancer_pick *p, double now);

/* Spends a retry of the backend of <p>: 0, or -1 when none is left. */
int	balancer_budget_retry(const struct balancer_pick *p, double now);

/* Forgets every backend (tests; worker exit). */
void	balancer_reset(void);

/*
 * Where this worker's rotation starts: worker <r> begins each new backend
 * at its endpoint r mod n, so that N workers do not all send their first
 * requests to the same endpoint.
 */
void	balancer_set_rotation(unsigned int r);

#endif
