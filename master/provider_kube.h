/*
 * provider_kube: the "kube" provider.  Lists and watches Ingresses,
 * IngressClasses, Services, EndpointSlices (v1 Endpoints where those are
 * not served) and kubernetes.io/tls Secrets on the API server, with
 * libcurl's multi interface driven by the master's libev loop, into a
 * store it owns.  Runs in the master; it never blocks on the network and
 * never clears the store because of an API error.
 */
#ifndef INGRESSD_PROVIDER_KUBE_H
#define INGRESSD_PROVIDER_KUBE_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct json_object;
struct provider_kube;
struct store;

/*
 * Called when the store changed: first when every kind's first list
 * completed (synced), then after each debounced burst of watch events.
 */
typedef void (*provider_kube_cb)(void *arg, struct provider_kube *pk);

struct provider_kube_options {
	const char	*kubeconfig;	/* NULL: in-cluster */
	const char	*namespace;	/* NULL: all namespaces */
	uint32_t	 debounce_ms;
	/* Ingress status (kube_status.c) */
	const char	*ingress_class;
	const char	*publish_address;	/* NULL: $NODE_IP, else none */
};

/*
 * Reads the kubeconfig (or in-cluster config) and starts every list at
 * once.  NULL with a reason in <err> when the configuration cannot be
 * read or curl cannot be set up.
 */
struct provider_kube *provider_kube_new(struct ev_loop *loop,
	    const struct provider_kube_options *opt, provider_kube_cb cb,
	    void *arg, char *err, size_t errlen);

/* The provider's store (owned by <pk>; changes only on the loop). */
struct store *provider_kube_store(struct provider_kube *pk);

/* 1 once every kind's first list completed (readiness), else 0. */
int	provider_kube_synced(const struct provider_kube *pk);

/* {"kind":"kube","server":...,"synced":...,"resources":[...]} */
struct json_object *provider_kube_status(const struct provider_kube *pk);

/*
 * Stops all requests and timers and releases the status Lease if held;
 * the store stays readable.  NULL-safe.
 */
void	provider_kube_stop(struct provider_kube *pk);

/* 1 while the Lease release started by provider_kube_stop() runs. */
int	provider_kube_busy(const struct provider_kube *pk);

/* Stops and frees <pk> and its store; NULL-safe. */
void	provider_kube_free(struct provider_kube *pk);

#endif
