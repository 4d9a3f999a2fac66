/*
 * kube_status: Ingress status writer with leader election.
 *
 * Of all ingressd replicas watching one cluster, the one holding the
 * coordination.k8s.io/v1 Lease writes status.loadBalancer.ingress (the
 * publish address, IP or hostname) through the /status subresource of
 * every Ingress of our class, and clears it from Ingresses that left the
 * class while still carrying our address.  The lease is renewed every
 * retry period, taken over once the holder has not renewed it for its
 * duration, and released on stop.  Runs in the master, on the loop, over
 * the provider's kube_client.
 */
#ifndef INGRESSD_KUBE_STATUS_H
#define INGRESSD_KUBE_STATUS_H

#include <stdint.h>

struct ev_loop;
struct json_object;
struct kube_client;
struct kube_status;
struct store;

/* Test-only: "lease_ms,renew_ms,retry_ms" instead of 15 s, 10 s, 2 s. */
#define KUBE_STATUS_TIMING_ENV	"INGRESSD_TEST_LEASE_MS"

struct kube_status_options {
	const char	*lease_namespace;
	const char	*lease_name;
	const char	*identity;
	const char	*address;	/* NULL: lead, but write no status */
	const char	*ingress_class;
};

/* Starts campaigning at once; NULL on out of memory. */
struct kube_status *kube_status_new(struct ev_loop *loop,
	    struct kube_client *kcl, const struct store *st,
	    const struct kube_status_options *opt);

/* The store changed: bring the statuses in line, if we lead. */
void	kube_status_sync(struct kube_status *ks);

int	kube_status_leader(const struct kube_status *ks);

/* {"lease":"ns/name","identity":...,"leader":bool,"holder":...,...} */
struct json_object *kube_status_json(const struct kube_status *ks);

/*
 * Stops campaigning and writing; a held lease is released (a request the
 * loop completes while the master drains).  NULL-safe.
 */
void	kube_status_stop(struct kube_status *ks);

/* 1 while the release started by kube_status_stop() is in flight. */
int	kube_status_busy(const struct kube_status *ks);

/* Frees <ks>; its kube_client must be freed (or outlive nothing) first. */
void	kube_status_free(struct kube_status *ks);

#endif
