/*
 * routes: the compiled route table, types only.
 *
 * compile (master) produces it from Kubernetes objects; snapshot_encode()
 * turns it into the binary snapshot the workers map.  It is plain heap
 * data owned by whoever holds the struct; route_table_free() in
 * common/snapshot.c releases it.
 */
#ifndef INGRESSD_ROUTES_H
#define INGRESSD_ROUTES_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

enum route_path_type {
	ROUTE_PATH_EXACT = 0,
	ROUTE_PATH_PREFIX = 1,		/* also ImplementationSpecific */
};

enum route_policy {
	ROUTE_POLICY_ROUND_ROBIN = 0,
	ROUTE_POLICY_LEAST_REQUEST = 1,
	ROUTE_POLICY_HASH_SOURCE = 2,
	ROUTE_POLICY_HASH_HEADER = 3,
	ROUTE_POLICY_HASH_COOKIE = 4,
	ROUTE_POLICY_STICKY_COOKIE = 5,
};

enum route_health_mode {
	ROUTE_HEALTH_TCP = 0,		/* connect() succeeds */
	ROUTE_HEALTH_HTTP = 1,		/* GET path, status in expect range */
};

enum route_all_down {
	ROUTE_ALL_DOWN_FAIL_CLOSED = 0,	/* no healthy endpoint: 503 */
	ROUTE_ALL_DOWN_FAIL_OPEN = 1,	/* no healthy endpoint: use them all */
};

/*
 * Active health probe of a backend's endpoints.  compile resolves every
 * field (config defaults, then annotations); a zero that reaches
 * snapshot_encode() takes the built-in default.
 */
struct route_health {
	uint32_t		 mode;		/* enum route_health_mode */
	uint32_t		 port;		/* 0: the endpoint's port */
	uint32_t		 interval_ms;
	uint32_t		 timeout_ms;
	uint32_t		 rise;		/* good probes to come back */
	uint32_t		 fall;		/* bad probes to leave */
	uint32_t		 expect_lo;	/* HTTP status range */
	uint32_t		 expect_hi;
	uint32_t		 all_down;	/* enum route_all_down */
	char			*path;		/* HTTP; NULL: "/" */
	char			*host;		/* HTTP; NULL: the address */
};

struct route_endpoint {
	struct sockaddr_storage	 addr;		/* AF_INET/AF_INET6 + port */
	socklen_t		 addrlen;
	uint32_t		 weight;	/* 1 unless told otherwise */
};

/*
 * TLS toward a backend's endpoints (ingressd.io/backend-protocol: HTTPS).
 * With <verify>, the peer's chain must lead to CA bundle <ca> of the
 * table and name <server_name>.
 */
struct route_upstream_tls {
	uint32_t		 enabled;	/* 0: plain TCP, the rest unused */
	uint32_t		 verify;
	int32_t			 ca;		/* index into cas; -1: none */
	char			*server_name;	/* SNI and name verified */
};

/* A CA bundle (PEM), stored once per table however many backends use it. */
struct route_ca {
	char			*pem;		/* NULL with system: not loaded */
	size_t			 len;
	uint32_t		 system;	/* the system store, else a Secret's */
};

/* One Service port: the unit requests are balanced over. */
struct route_backend {
	char			*name;		/* "ns/service:port" */
	uint32_t		 policy;	/* enum route_policy */
	char			*policy_arg;	/* header/cookie name or NULL */
	uint32_t		 connect_timeout_ms;	/* 0: global */
	uint32_t		 response_timeout_ms;	/* 0: global */
	struct route_health	 health;
	struct route_upstream_tls tls;
	struct route_endpoint	*endpoints;
	size_t			 nendpoints;
};

/* route_path.tls_flags */
#define ROUTE_TLS_REDIRECT	0x1	/* plain HTTP gets 308 to https */
#define ROUTE_TLS_HSTS		0x2	/* HTTPS responses carry HSTS */
#define ROUTE_TLS_HSTS_SUBDOMAINS 0x4	/* ... with includeSubDomains */
#define ROUTE_TLS_FLAGS		0x7

struct route_path {
	char			*path;		/* as in the rule, e.g. "/api" */
	enum route_path_type	 type;
	uint32_t		 backend;	/* index into backends */
	char			*source;	/* "ns/ingress" that won */
	uint32_t		 tls_flags;	/* ROUTE_TLS_* */
	uint32_t		 hsts_max_age;	/* seconds, with HSTS */
};

/*
 * host: lower case, no port.  "*.example.com" is a wildcard (one label);
 * "" holds the rules without a host.  Hosts are unique in a table.
 */
struct route_host {
	char			*host;
	struct route_path	*paths;
	size_t			 npaths;
};

/*
 * A certificate for TLS termination: <name> is the SNI name it serves
 * ("a.example.com", "*.example.com", or "" for the default certificate),
 * <pem> the certificate chain (leaf first) followed by the private key,
 * NUL-terminated.  Names are unique in a table.
 */
struct route_cert {
	char			*name;
	char			*pem;
	char			*source;	/* "ns/secret", NULL: config */
};

/* route_settings.tls_protocols */
#define ROUTE_TLS_V12		0x1
#define ROUTE_TLS_V13		0x2

#define ROUTE_TLS_CIPHERS_MAX	512	/* tls.ciphers, with the NUL */
#define ROUTE_TLS_SUITES_MAX	256	/* tls.ciphersuites */
#define ROUTE_TLS_CURVES_MAX	128	/* tls.curves */

/* What workers need from the config; travels in the snapshot. */
struct route_settings {
	uint32_t		 client_header_timeout_ms;
	uint32_t		 client_body_timeout_ms;
	uint32_t		 client_idle_timeout_ms;
	uint32_t		 upstream_connect_timeout_ms;
	uint32_t		 upstream_response_timeout_ms;
	uint32_t		 upstream_idle_timeout_ms;
	uint32_t		 max_header_size;
	uint32_t		 max_headers;
	uint64_t		 max_body_size;		/* 0: unlimited */
	uint32_t		 max_connections;
	uint32_t		 upstream_keepalive;
	uint32_t		 workers;	/* probes are shared by them */
	uint32_t		 passive_failures;	/* 0: no ejection */
	/* TLS termination (listen.https) */
	uint32_t		 tls_handshake_timeout_ms;	/* 0: default */
	uint32_t		 tls_protocols;	/* ROUTE_TLS_V*, 0: both */
	uint32_t		 tls_session_cache;	/* 1: session IDs */
	uint32_t		 https_port;	/* for redirects; 0: none */
	char			 tls_ciphers[ROUTE_TLS_CIPHERS_MAX];
	char			 tls_ciphersuites[ROUTE_TLS_SUITES_MAX];
	char			 tls_curves[ROUTE_TLS_CURVES_MAX];
};

struct route_table {
	struct route_settings	 settings;
	struct route_host	*hosts;
	size_t			 nhosts;
	struct route_backend	*backends;
	size_t			 nbackends;
	int32_t			 default_backend;	/* -1: none */
	char			*default_source;	/* "ns/ingress" or NULL */
	struct route_ca		*cas;		/* backend TLS trust anchors */
	size_t			 ncas;
	struct route_cert	*certs;
	size_t			 ncerts;
};

void	route_table_free(struct route_table *rt);

#endif
