/*
 * store: the master's set of Kubernetes objects, keyed by kind, namespace
 * and name.  Both providers feed it; compile reads it.  Iteration is in
 * namespace/name order so compiles are deterministic.  Runs in the master.
 */
#ifndef INGRESSD_STORE_H
#define INGRESSD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "master/objects.h"

struct store;

struct store *store_new(void);
void	store_free(struct store *st);

/*
 * Takes ownership of <o> and inserts it, replacing (and freeing) an object
 * of the same kind/namespace/name.  Returns 0, or -1 (out of memory; <o> is
 * freed).
 */
int	store_put(struct store *st, struct obj *o);

/* Removes and frees; returns 1 when something was removed, else 0. */
int	store_delete(struct store *st, enum obj_kind kind, const char *ns,
	    const char *name);

const struct obj *store_get(const struct store *st, enum obj_kind kind,
	    const char *ns, const char *name);

size_t	store_count(const struct store *st, enum obj_kind kind);
/* The <i>th object of <kind> in namespace/name order. */
const struct obj *store_at(const struct store *st, enum obj_kind kind,
	    size_t i);

/* Bumped by every put and delete. */
uint64_t store_version(const struct store *st);

/*
 * The objects of <kind> in no particular order, cheaper than store_at()
 * right after a change (no sort): start with *<pos> = 0, NULL at the end.
 */
const struct obj *store_scan(const struct store *st, enum obj_kind kind,
	    size_t *pos);

/*
 * What changed since store_changes_reset() (or since store_new()), so that
 * a compile can redo only the endpoints of some Services.  Returns 1 when
 * only EndpointSlices and Endpoints changed, with the Services they
 * belonged to before or after the change in <ns>[i]/<svc>[i], i < *<n>
 * (owned by the store, valid until the next put, delete or reset);
 * returns 0 when anything else changed, or too many Services did.
 */
int	store_endpoint_changes(const struct store *st, char *const **ns,
	    char *const **svc, size_t *n);
void	store_changes_reset(struct store *st);
#define STORE_MAX_CHANGED_SERVICES	64

#endif
