/*
 * listener: the accept loop over this worker's own SO_REUSEPORT sockets.
 *
 * Runs in workers.  One ev_io per listen socket; each wakeup accepts up to
 * LISTENER_BATCH connections with accept4(SOCK_NONBLOCK|SOCK_CLOEXEC),
 * sets TCP_NODELAY and hands them to proxy_accept_peer().  Accepting
 * pauses for 100 ms when the process runs out of descriptors (EMFILE,
 * ENFILE) and while the worker holds settings.max_connections.
 *
 * It never closes a listen socket: the master owns them, and a closed
 * SO_REUSEPORT socket would reset the connections queued on it.  HTTPS
 * connections go to proxy.c like the others; it does the TLS handshake.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/worker.h"
#include "worker/listener.h"
#include "worker/proxy.h"

#define LISTENER_MAX		16
#define LISTENER_BATCH		64
#define LISTENER_EMFILE_PAUSE	0.1	/* seconds */

/* Why accepting is paused; watchers run only when none is set. */
#define LISTENER_PAUSE_CALLER	0x1	/* listener_pause() */
#define LISTENER_PAUSE_EMFILE	0x2	/* out of descriptors */
#define LISTENER_PAUSE_LIMIT	0x4	/* max_connections reached */

struct listener {
	ev_io			 io;
	int			 fd;
	enum listener_kind	 kind;
	uint16_t		 port;		/* host order */
};

static struct listener	listeners[LISTENER_MAX];
static size_t		nlisteners;
static unsigned		listener_paused;
static int		listener_stopped;
static ev_timer		listener_emfile_timer;
static int		listener_emfile_logged;

/* Starts or stops every watcher according to the pause flags. */
static void
listener_apply(struct ev_loop *loop)
{
	size_t i;
	int on = !listener_stopped && listener_paused == 0;

	for (i = 0; i < nlisteners; i++) {
		if (on)
			ev_io_start(loop, &listeners[i].io);
		else
			ev_io_stop(loop, &listeners[i].io);
	}
}

/* 1 when the worker holds as many connections as the snapshot allows. */
static int
listener_at_limit(void)
{
	struct worker_snapshot *ws;
	uint32_t max;

	if ((ws = worker_snapshot_current()) == NULL)
		return 0;
	max = ws->snap.settings.max_connections;
	return max != 0 && proxy_active_connections() >= max;
}

static void
listener_emfile_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	listener_paused &= ~LISTENER_PAUSE_EMFILE;
	listener_apply(loop);
}

static void
listener_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = (struct listener *)
	    ((char *)w - offsetof(struct listener, io));
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, i, one = 1;

	for (i = 0; i < LISTENER_BATCH; i++) {
		if (listener_at_limit()) {
			listener_paused |= LISTENER_PAUSE_LIMIT;
			listener_apply(loop);
			return;
		}
		sslen = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				if (!listener_emfile_logged) {
					log_warn("accept: pausing 100 ms");
					listener_emfile_logged = 1;
				}
				listener_paused |= LISTENER_PAUSE_EMFILE;
				listener_apply(loop);
				ev_timer_stop(loop, &listener_emfile_timer);
				ev_timer_set(&listener_emfile_timer,
				    LISTENER_EMFILE_PAUSE, 0.);
				ev_timer_start(loop, &listener_emfile_timer);
				return;
			default:	/* EAGAIN and the rest: next wakeup */
				return;
			}
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		proxy_accept_peer(loop, fd, l->kind, (struct sockaddr *)&ss,
		    sslen, l->port);
	}
}

int
listener_add(struct ev_loop *loop, int fd, enum listener_kind kind)
{
	struct listener *l;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	if (nlisteners == LISTENER_MAX) {
		log_warnx("listener: more than %d sockets", LISTENER_MAX);
		return -1;
	}
	if (nlisteners == 0)
		ev_timer_init(&listener_emfile_timer, listener_emfile_cb,
		    LISTENER_EMFILE_PAUSE, 0.);
	/* accept4() must never block the loop, whatever the master did. */
	if (util_set_nonblock(fd) == -1) {
		log_warn("listener: O_NONBLOCK");
		return -1;
	}
	l = &listeners[nlisteners];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->kind = kind;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		log_warn("listener: getsockname");
		return -1;
	}
	if (ss.ss_family == AF_INET)
		l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	nlisteners++;
	if (!listener_stopped && listener_paused == 0)
		ev_io_start(loop, &l->io);
	return 0;
}

void
listener_accept_queued(struct ev_loop *loop)
{
	size_t i;

	if (listener_stopped || listener_paused != 0)
		return;
	for (i = 0; i < nlisteners; i++)
		listener_accept_cb(loop, &listeners[i].io, EV_READ);
}

void
listener_stop_all(struct ev_loop *loop)
{
	listener_stopped = 1;
	ev_timer_stop(loop, &listener_emfile_timer);
	listener_apply(loop);
}

void
listener_pause(struct ev_loop *loop)
{
	listener_paused |= LISTENER_PAUSE_CALLER;
	listener_apply(loop);
}

void
listener_resume(struct ev_loop *loop)
{
	listener_paused &= ~LISTENER_PAUSE_CALLER;
	listener_apply(loop);
}

void
listener_conn_closed(struct ev_loop *loop)
{
	if ((listener_paused & LISTENER_PAUSE_LIMIT) && !listener_at_limit()) {
		listener_paused &= ~LISTENER_PAUSE_LIMIT;
		listener_apply(loop);
	}
}
