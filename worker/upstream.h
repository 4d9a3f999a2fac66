/*
 * upstream: connections from a worker to backend endpoints: non-blocking
 * connect, and the per-endpoint pool of idle keep-alive connections.
 *
 * Pools are keyed by endpoint address (family, address, port) and TLS
 * identity (upstream_tls_key(): 0 for plain TCP), not by snapshot index,
 * so idle connections survive snapshot swaps and a TLS connection only
 * serves a backend with the same trust and server name.  A TLS
 * connection keeps its session state (struct upstream_io) in the pool.  An idle
 * connection is watched for reading: EOF or any stray byte means the
 * backend closed it or broke the protocol, and it is discarded at once.
 * Each idle connection is closed after its idle timeout; a full pool
 * closes its least recently used connection.
 */
#ifndef INGRESSD_UPSTREAM_H
#define INGRESSD_UPSTREAM_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "worker/upstream_tls.h"

/*
 * Opens a non-blocking, close-on-exec TCP socket with TCP_NODELAY and
 * connects it to <sa>.  Returns the fd with *<inprogress> 1 while the
 * connect is pending (wait for writability, then upstream_connect_result()),
 * or -1 with errno set on immediate failure.
 */
int	upstream_connect(const struct sockaddr *sa, socklen_t salen,
	    int *inprogress);

/* Outcome of a pending connect on <fd>: 0, or -1 with errno set. */
int	upstream_connect_result(int fd);

/*
 * Takes the most recently used idle connection to <sa> with TLS identity
 * <tlskey> out of its pool.  Returns its fd and fills *<io> (both now the
 * caller's), or -1 when the pool is empty.
 */
int	upstream_pool_get(struct ev_loop *loop, const struct sockaddr *sa,
	    socklen_t salen, uint64_t tlskey, struct upstream_io *io);

/*
 * Gives the idle keep-alive connection <fd> with its I/O state <io> (TLS
 * identity <tlskey>) to the pool of <sa>, to be closed after
 * <idle_timeout_ms>.  <fd> must have stayed open since the
 * loop last watched it (it is re-watched without a new-fd check).  At
 * most <max_idle> stay per endpoint
 * (0: the fd is closed at once).  The pool owns <fd> and <io>'s state
 * afterwards, also on failure (they are closed then).
 */
void	upstream_pool_put(struct ev_loop *loop, const struct sockaddr *sa,
	    socklen_t salen, uint64_t tlskey, int fd,
	    const struct upstream_io *io, uint32_t max_idle,
	    uint32_t idle_timeout_ms);

/* Closes every idle pooled connection (drain, exit). */
void	upstream_pool_close_all(struct ev_loop *loop);

/* Idle pooled connections, all endpoints together. */
size_t	upstream_pool_idle(void);

#endif
