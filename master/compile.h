/*
 * compile: Kubernetes objects -> route table.  A pure function: no I/O, no
 * globals, no logging.  Per-object problems (unknown Service, port name not
 * found, conflicting rule) come back as errors beside the table, which is
 * still built from everything else.  Runs in the master; unit-tested alone.
 */
#ifndef INGRESSD_COMPILE_H
#define INGRESSD_COMPILE_H

#include <stddef.h>

#include "common/routes.h"
#include "master/store.h"

struct compile_options {
	const char	*ingress_class;	/* NULL: class-less Ingresses only */
	struct route_settings settings;	/* copied into the table */
};

struct compile_error {
	char		*object;	/* "Ingress default/web" */
	char		*origin;	/* "file.yaml doc 2" or NULL */
	char		*reason;
};

struct compile_result {
	struct route_table rt;
	struct compile_error *errors;
	size_t		 nerrors;
};

/* Returns 0 and fills <out>, or -1 only when out of memory. */
int	compile_routes(const struct store *st,
	    const struct compile_options *opt, struct compile_result *out);

void	compile_result_free(struct compile_result *r);

#endif
