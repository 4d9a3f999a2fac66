/*
 * healthtab: the master's table of endpoints that are down, fed by the
 * workers' IPC_HEALTH_REPORTs and told to every worker.
 *
 * Keyed by endpoint address and port, never by snapshot index, so a new
 * snapshot or a worker restart keeps the health of unchanged endpoints.
 * Only DOWN endpoints are kept: workers take an unknown endpoint for UP.
 * Runs in the master; logs each transition once, naming a backend of the
 * current route table.  No I/O besides logging.
 */
#ifndef INGRESSD_HEALTHTAB_H
#define INGRESSD_HEALTHTAB_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ipc.h"
#include "common/routes.h"

struct healthtab {
	struct ipc_health	*down;		/* endpoints now DOWN */
	size_t			 ndown;
	size_t			 cap;
	/* Open-addressing index over <down> by address and port (slot:
	 * i + 1, 0 empty), so that lookups stay O(1) when thousands of
	 * endpoints fail at once. */
	size_t			*idx;
	size_t			 imask;		/* slots - 1; 0: no index */
	/*
	 * Where the endpoints of route table <rt> stand (backend + 1 and
	 * endpoint index by address; a slot per backend that has one), so
	 * naming an endpoint's backends and pruning cost a lookup, not a
	 * scan of every endpoint.  Built on first use of a table and dropped
	 * by healthtab_prune(), which every new table passes; a stale slot
	 * is checked against the table and only misses.
	 */
	struct healthtab_ref	*refs;
	size_t			 rmask;
	const struct route_table *rt;
};

struct healthtab_ref {
	uint32_t		 backend;	/* index + 1; 0: empty slot */
	uint32_t		 endpoint;
};

/*
 * Applies report <h> with <rt> (the current table, for names and the
 * all-down check; may be NULL).  Returns 1 when the state changed (the
 * caller broadcasts <h>), 0 when it did not, -1 when out of memory (the
 * report is lost; the worker reports again on its next transition).
 */
int	healthtab_report(struct healthtab *t, const struct ipc_health *h,
	    const struct route_table *rt);

/* The entry of endpoint <sa> when it is DOWN, else NULL. */
const struct ipc_health *healthtab_find(const struct healthtab *t,
	    const struct sockaddr *sa);

/*
 * Forgets endpoints no backend of <rt> has any more; each one forgotten
 * is passed to <gone> (as UP) so the workers forget it too.
 */
void	healthtab_prune(struct healthtab *t, const struct route_table *rt,
	    void (*gone)(void *, const struct ipc_health *), void *arg);

/* Endpoints of backend <b> that are not DOWN. */
size_t	healthtab_available(const struct healthtab *t,
	    const struct route_backend *b);

void	healthtab_free(struct healthtab *t);

#endif
