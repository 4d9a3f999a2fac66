/*
 * router: picks the backend for a request from an opened snapshot, with the
 * Ingress semantics of DESIGN.md: host (case-blind, port stripped; exact,
 * then one-label wildcard, then the host-less rules), then path (Exact
 * first, then the longest element-wise Prefix), then defaultBackend.
 * Runs in workers on every request: no allocation, no system calls.
 */
#ifndef INGRESSD_ROUTER_H
#define INGRESSD_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/snapshot.h"

enum router_result {
	ROUTER_OK = 0,
	ROUTER_NO_ROUTE = 1,		/* 404 */
};

struct router_match {
	uint32_t	 backend;	/* index for snapshot_backend() */
	int32_t		 host;		/* host entry matched, -1 for the
					 * default backend (metrics) */
	const char	*source;	/* "ns/ingress", counted */
	size_t		 sourcelen;
	const char	*rule_path;	/* matched rule path, counted */
	size_t		 rule_pathlen;
	uint32_t	 tls_flags;	/* ROUTE_TLS_* of the rule */
	uint32_t	 hsts_max_age;	/* seconds */
};

/*
 * <host> is the Host header as sent (may carry ":port", any case); <path>
 * the request path without the query.  Fills <m> on ROUTER_OK.
 */
enum router_result router_match(const struct snapshot *s, const char *host,
	    size_t hostlen, const char *path, size_t pathlen,
	    struct router_match *m);

#endif
