/*
 * worker: the unprivileged process that accepts, routes and proxies.
 *
 * The master starts each worker as `ingressd --worker ...` (fork + exec,
 * so a worker maps nothing of the master's heap and gets fresh ASLR) with
 * its listen sockets and its IPC socket inherited.  worker_main() sets up
 * the libev loop, says HELLO, confines itself (sandbox.h), then serves.
 *
 * Snapshots: the current one is a refcounted mapping.  A request takes a
 * reference when it is routed and drops it when it ends, so requests in
 * flight keep the snapshot they started with; the mapping goes when its
 * last user does.
 */
#ifndef INGRESSD_WORKER_H
#define INGRESSD_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "common/snapshot.h"

struct worker_snapshot {
	unsigned	 refs;		/* the "current" slot holds one */
	void		*map;
	size_t		 maplen;
	struct snapshot	 snap;
};

/* The snapshot for new requests, or NULL before the first arrives.  The
 * pointer is borrowed: take a reference to keep it. */
struct worker_snapshot *worker_snapshot_current(void);
void	worker_snapshot_ref(struct worker_snapshot *ws);
void	worker_snapshot_unref(struct worker_snapshot *ws);

/* 1 once the master asked this worker to drain (or SIGTERM arrived). */
int	worker_draining(void);

/* This worker's number, 0..N-1. */
int	worker_id(void);

/* Entry point for `ingressd --worker`; returns the exit status. */
int	worker_main(int argc, char **argv);

#endif
