/*
 * listener: accept loop over this worker's own SO_REUSEPORT sockets.
 * Each accepted connection goes to proxy_accept().  Stopping a listener
 * only stops accepting: the master keeps the socket open so that queued
 * connections wait for another worker instead of being reset.
 */
#ifndef INGRESSD_LISTENER_H
#define INGRESSD_LISTENER_H

#include <ev.h>

enum listener_kind {
	LISTENER_HTTP = 0,
	LISTENER_HTTPS = 1,
	LISTENER_ADMIN = 2,
};

/* Starts accepting on <fd> (non-blocking, already listening). 0 or -1. */
int	listener_add(struct ev_loop *loop, int fd, enum listener_kind kind);

/*
 * Accepts one batch of what is queued on every socket now, without
 * waiting (drain: before the sockets close, which would reset it when no
 * other process holds them).  Nothing while paused or stopped.
 */
void	listener_accept_queued(struct ev_loop *loop);

/* Stops every accept watcher (drain). */
void	listener_stop_all(struct ev_loop *loop);

/* Pauses/resumes accepting, e.g. at max_connections or EMFILE. */
void	listener_pause(struct ev_loop *loop);
void	listener_resume(struct ev_loop *loop);

/*
 * proxy.c calls this whenever a client connection closes, so accepting
 * resumes once the worker is below settings.max_connections again.
 */
void	listener_conn_closed(struct ev_loop *loop);

#endif
