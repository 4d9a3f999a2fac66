/*
 * compile: Kubernetes objects -> route table.  A pure function: no I/O, no
 * globals, no logging.  Per-object problems (unknown Service, port name not
 * found, conflicting rule) come back as errors beside the table, which is
 * still built from everything else.  Runs in the master; unit-tested alone.
 */
#ifndef INGRESSD_COMPILE_H
#define INGRESSD_COMPILE_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>

#include "common/routes.h"
#include "master/store.h"

/* What a resolve callback answers for an ExternalName. */
enum compile_name {
	COMPILE_NAME_RESOLVED = 0,	/* addresses filled */
	COMPILE_NAME_PENDING = 1,	/* 503 for now, no error */
	COMPILE_NAME_FAILED = 2,	/* 503 and an error */
};

#define COMPILE_MAX_NAME_ADDRS	64	/* endpoints of one ExternalName */

struct compile_options {
	const char	*ingress_class;	/* NULL: class-less Ingresses only */
	struct route_settings settings;	/* copied into the table */
	/*
	 * Health probe defaults of every backend; annotations override
	 * them.  The strings are borrowed (copied into the table).
	 */
	struct route_health health;
	/*
	 * ExternalName Services: compile calls <resolve> once per backend
	 * that uses one (so the caller learns every name this table needs)
	 * with the externalName, unless it is an IP literal.  It fills at
	 * most <max> addresses (the port is ignored) and their count, and
	 * returns an enum compile_name.  It must not block: the master
	 * answers from its resolver cache.  NULL: such backends stay
	 * empty, without an error.
	 */
	int		(*resolve)(void *arg, const char *name,
			    struct sockaddr_storage *addrs, socklen_t *lens,
			    size_t max, size_t *n);
	void		*resolve_arg;
};

struct compile_error {
	char		*object;	/* "Ingress default/web" */
	char		*origin;	/* "file.yaml doc 2" or NULL */
	char		*reason;
};

/* The Service port a backend was resolved from, for updates. */
struct compile_backend_ref {
	char		*namespace;
	char		*service;
	char		*port_name;	/* NULL when by number */
	int32_t		 port_number;
};

struct compile_result {
	struct route_table rt;
	struct compile_error *errors;
	size_t		 nerrors;
	struct compile_backend_ref *refs;	/* parallel to rt.backends */
};

/* Returns 0 and fills <out>, or -1 only when out of memory. */
int	compile_routes(const struct store *st,
	    const struct compile_options *opt, struct compile_result *out);

void	compile_result_free(struct compile_result *r);

/*
 * Redoes the endpoints of the backends of Services <ns>[i]/<svc>[i]
 * (i < <n>) in <r>, a result of compile_routes() on <st> with <opt>,
 * after only EndpointSlices and Endpoints changed in <st>, all of them
 * slices or Endpoints of those Services (store_endpoint_changes() tells).
 * Then <r> is what compile_routes() would return now, byte for byte, at a
 * fraction of the cost.  ExternalName backends are left alone.  Returns
 * 0, or -1 when out of memory with <r> unchanged.
 */
int	compile_update_endpoints(const struct store *st,
	    const struct compile_options *opt, struct compile_result *r,
	    char *const *ns, char *const *svc, size_t n);

/*
 * 1 when the Ingress <o> is ours with <ingress_class> (NULL: class-less
 * ones), the same decision compile_routes() makes; for the status writer.
 */
int	compile_ingress_ours(const struct store *st, const char *ingress_class,
	    const struct obj *o);

#endif
