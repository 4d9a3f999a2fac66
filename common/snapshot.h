/*
 * snapshot: the binary, immutable, position-independent route snapshot.
 *
 * Writer (master): snapshot_encode() lays a route_table out as one blob:
 * header (magic, format version, generation, sizes, checksum), string
 * table, host index (exact hosts hashed, wildcards by parent domain, the
 * host-less rules), per-host path rules (Exact, then Prefix longest first),
 * backends, endpoints, backend TLS settings and the CA bundles they
 * trust, TLS certificates by SNI name.  The master copies it into a
 * sealed memfd.
 *
 * Reader (worker): snapshot_open() validates every offset, index, string
 * and the checksum before anything else looks at the blob, so lookups on an
 * opened snapshot need no further checks.  The view points into the blob;
 * the blob must outlive it.  Nothing here allocates on the read side.
 */
#ifndef INGRESSD_SNAPSHOT_H
#define INGRESSD_SNAPSHOT_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "common/routes.h"

#define SNAPSHOT_MAGIC		"INGRSNP1"	/* 8 bytes, no NUL */
#define SNAPSHOT_FORMAT_VERSION	3
#define SNAPSHOT_MAX_SIZE	(256u << 20)
#define SNAPSHOT_MAX_HOSTS	(1u << 20)
#define SNAPSHOT_MAX_PATHS	(1u << 22)
#define SNAPSHOT_MAX_BACKENDS	(1u << 20)
#define SNAPSHOT_MAX_ENDPOINTS	(1u << 22)
#define SNAPSHOT_MAX_CA_SIZE	(8u << 20)	/* one PEM bundle */
#define SNAPSHOT_MAX_SERVER_NAME 253		/* backend TLS name */
#define SNAPSHOT_MAX_CERTS	(1u << 16)
/* One chain and key: tls.crt and tls.key of 512 KiB each, a newline. */
#define SNAPSHOT_MAX_PEM	((1u << 20) + 64)

/* An opened (validated) snapshot: a view into the blob. */
struct snapshot {
	const uint8_t		*base;
	size_t			 len;
	uint64_t		 generation;
	struct route_settings	 settings;
	/* section pointers and counts, private to snapshot.c/router.c */
	const void		*strings;
	uint32_t		 strings_len;
	const void		*hosts;
	uint32_t		 nhosts;
	const void		*host_index;	/* hash slots */
	uint32_t		 host_index_size;	/* power of two */
	const void		*paths;
	uint32_t		 npaths;
	const void		*backends;
	uint32_t		 nbackends;
	const void		*endpoints;
	uint32_t		 nendpoints;
	const void		*upstream_tls;	/* one record per backend */
	const void		*cas;
	uint32_t		 ncas;
	const void		*certs;
	uint32_t		 ncerts;
	int32_t			 anyhost;	/* host-less rules, -1 none */
	int32_t			 default_backend;	/* -1 none */
	const char		*default_source;	/* counted, never NULL */
	uint32_t		 default_sourcelen;
};

struct snapshot_backend {
	const char		*name;
	size_t			 namelen;
	uint32_t		 index;
	uint32_t		 policy;
	const char		*policy_arg;	/* NULL or counted below */
	size_t			 policy_arglen;
	uint32_t		 connect_timeout_ms;	/* resolved, never 0 */
	uint32_t		 response_timeout_ms;	/* resolved, never 0 */
	uint32_t		 first_endpoint;	/* global endpoint index */
	uint32_t		 nendpoints;
	/* health probe, resolved (see struct route_health) */
	uint32_t		 hc_mode;
	uint32_t		 hc_port;	/* 0: the endpoint's */
	uint32_t		 hc_interval_ms;
	uint32_t		 hc_timeout_ms;
	uint32_t		 hc_rise;
	uint32_t		 hc_fall;
	uint32_t		 hc_expect_lo;
	uint32_t		 hc_expect_hi;
	uint32_t		 hc_all_down;
	const char		*hc_path;	/* counted, starts with '/' */
	size_t			 hc_pathlen;
	const char		*hc_host;	/* counted; length 0: none */
	size_t			 hc_hostlen;
};

/* TLS toward the endpoints of a backend (struct route_upstream_tls). */
struct snapshot_upstream_tls {
	uint32_t		 enabled;
	uint32_t		 verify;
	int32_t			 ca;		/* CA bundle index; -1: none */
	const char		*server_name;	/* counted; length 0: none */
	size_t			 server_namelen;
};

/* A CA bundle: PEM text (possibly empty: trusts nothing) and its hash. */
struct snapshot_ca {
	const char		*pem;		/* counted */
	size_t			 len;
	uint64_t		 hash;		/* util_hash64 of the PEM */
};

struct snapshot_endpoint {
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	uint32_t		 weight;
};

/*
 * Encodes <rt> as generation <generation>.  On success returns 0 and a
 * malloc'd blob in *<out> (caller frees) of *<outlen> bytes; on failure -1
 * with a reason in <err> (a table over the limits above, out of memory).
 */
int	snapshot_encode(const struct route_table *rt, uint64_t generation,
	    void **out, size_t *outlen, char *err, size_t errlen);

/*
 * Validates the <len> bytes at <base> and fills <s>.  Returns 0, or -1 with
 * a reason in <err>; nothing in <s> may be used after a failure.
 */
int	snapshot_open(struct snapshot *s, const void *base, size_t len,
	    char *err, size_t errlen);

/*
 * Writes the checksum of the <len> bytes at <base> into its header field,
 * as snapshot_encode() does.  For tests and fuzzing, which alter a blob and
 * need it to pass the checksum so that the checks behind it are reached.
 * Returns 0, or -1 (nothing written) when <len> is shorter than the header
 * or not a multiple of 8, which snapshot_open() refuses anyway.
 */
int	snapshot_seal(void *base, size_t len);

/* Accessors; <idx> must be below the counts in <s>. */
void	snapshot_backend(const struct snapshot *s, uint32_t idx,
	    struct snapshot_backend *out);
void	snapshot_endpoint(const struct snapshot *s, uint32_t idx,
	    struct snapshot_endpoint *out);
/* Backend TLS of backend <idx>, and CA bundle <idx> (below s->ncas). */
void	snapshot_upstream_tls(const struct snapshot *s, uint32_t idx,
	    struct snapshot_upstream_tls *out);
void	snapshot_ca(const struct snapshot *s, uint32_t idx,
	    struct snapshot_ca *out);

/*
 * 1 when <name> (<len> bytes) may be a backend TLS server name: 1 to
 * SNAPSHOT_MAX_SERVER_NAME letters, digits, '-', '.' and ':' (an IPv6
 * literal).  Shared by compile, the writer and the reader.
 */
int	snapshot_server_name_ok(const char *name, size_t len);

/*
 * Host and path records and the host hash index, for router.c (and for
 * anyone listing routes): the record layout stays private to snapshot.c.
 */
enum snapshot_host_kind {
	SNAPSHOT_HOST_EXACT = 0,	/* "a.example.com" */
	SNAPSHOT_HOST_WILDCARD = 1,	/* "*.example.com" */
	SNAPSHOT_HOST_ANY = 2,		/* "": the rules without a host */
};

struct snapshot_host {
	const char		*name;		/* as in the rule, counted */
	size_t			 namelen;
	uint32_t		 kind;		/* enum snapshot_host_kind */
	uint32_t		 first_path;	/* global path index */
	uint32_t		 npaths;	/* Exact first, then Prefix */
};

struct snapshot_path {
	const char		*path;		/* counted, starts with '/' */
	size_t			 pathlen;
	uint32_t		 type;		/* enum route_path_type */
	uint32_t		 backend;
	const char		*source;	/* counted, never NULL */
	size_t			 sourcelen;
	uint32_t		 tls_flags;	/* ROUTE_TLS_* */
	uint32_t		 hsts_max_age;	/* seconds */
};

/* A certificate: SNI name (kind tells exact, wildcard, default). */
struct snapshot_cert {
	const char		*name;		/* counted, lower case */
	size_t			 namelen;
	const char		*pem;		/* counted, chain then key */
	size_t			 pemlen;
	uint32_t		 kind;		/* enum snapshot_host_kind */
};

void	snapshot_cert(const struct snapshot *s, uint32_t idx,
	    struct snapshot_cert *out);

/*
 * The certificate named exactly <name> (lower case; "*.a.b" for a
 * wildcard, "" for the default), or -1.
 */
int32_t	snapshot_cert_find(const struct snapshot *s, const char *name,
	    size_t namelen);

void	snapshot_host(const struct snapshot *s, uint32_t idx,
	    struct snapshot_host *out);
void	snapshot_path(const struct snapshot *s, uint32_t idx,
	    struct snapshot_path *out);

/*
 * Looks <name> up in the host hash index, case-blind: an exact host, or
 * with <wildcard> set the wildcard whose parent domain is <name> ("*.a.b"
 * for "a.b").  Returns the host index or -1.
 */
int32_t	snapshot_host_find(const struct snapshot *s, const char *name,
	    size_t namelen, int wildcard);

#endif
