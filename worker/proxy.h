/*
 * proxy: the HTTP/1.1 data path of a worker: client connections, request
 * routing, upstream connections, body streaming in both directions,
 * keep-alive, pipelining, Expect: 100-continue, Upgrade tunnels, timeouts
 * and error responses.  Never allocates per byte; bodies are streamed
 * through fixed buffers, never held whole.
 */
#ifndef INGRESSD_PROXY_H
#define INGRESSD_PROXY_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "worker/listener.h"

/* Takes ownership of the accepted, non-blocking <fd>. */
void	proxy_accept(struct ev_loop *loop, int fd, enum listener_kind kind);

/*
 * The same, for a listener that already knows the peer address (accept4's)
 * and its own port, which saves two system calls per connection.
 * <local_port> is in host order (X-Forwarded-Port).
 */
void	proxy_accept_peer(struct ev_loop *loop, int fd,
	    enum listener_kind kind, const struct sockaddr *peer,
	    socklen_t peerlen, uint16_t local_port);

/*
 * Graceful drain: idle keep-alive connections are closed now, busy ones
 * get "Connection: close" on their next response and close after it.
 */
void	proxy_drain(struct ev_loop *loop);

/* Closes every connection at once (the drain grace ran out). */
void	proxy_close_all(struct ev_loop *loop);

/* Open client connections (idle keep-alive included). */
size_t	proxy_active_connections(void);
/* Of those, the ones waiting for a request. */
size_t	proxy_idle_connections(void);
uint64_t proxy_requests_total(void);

#endif
