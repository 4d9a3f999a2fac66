/*
 * upstream: non-blocking connects to backend endpoints and the idle
 * keep-alive pool, keyed by endpoint address (see upstream.h).
 *
 * Runs in workers.  It may not log on the request path or allocate per
 * request: idle-connection records come from a free list and pools stay
 * allocated once an endpoint address has been seen (empty ones are
 * collected only when their number grows large).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/util.h"
#include "worker/upstream.h"

#define UPSTREAM_BUCKETS	256	/* power of two */
#define UPSTREAM_POOLS_GC	4096	/* collect empty pools above this */

/* An endpoint address reduced to what identifies it. */
struct upstream_key {
	uint16_t	 family;
	uint16_t	 port;		/* network order */
	uint32_t	 scope;
	uint8_t		 addr[16];
	uint64_t	 tls;		/* upstream_tls_key(), 0: plain */
};

struct upstream_idle;

struct upstream_pool {
	SLIST_ENTRY(upstream_pool)	 next;
	struct upstream_key		 key;
	/* most recent first */
	TAILQ_HEAD(upstream_idle_head, upstream_idle) idle;
	uint32_t			 nidle;
};

struct upstream_idle {
	TAILQ_ENTRY(upstream_idle)	 entry;
	struct upstream_pool		*pool;
	int				 fd;
	struct upstream_io		 uio;	/* TLS session state */
	ev_io				 io;	/* EOF or stray bytes */
	ev_timer			 timer;	/* idle timeout */
};

SLIST_HEAD(upstream_bucket, upstream_pool);
static struct upstream_bucket	 upstream_buckets[UPSTREAM_BUCKETS];
static size_t			 upstream_npools;
static size_t			 upstream_nidle;

/* Free idle records, linked through entry.tqe_next. */
static struct upstream_idle	*upstream_free;

int
upstream_connect(const struct sockaddr *sa, socklen_t salen, int *inprogress)
{
	int fd, one = 1, saved;

	*inprogress = 0;
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, IPPROTO_TCP)) == -1)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, salen) == -1) {
		if (errno != EINPROGRESS) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		*inprogress = 1;
	}
	return fd;
}

int
upstream_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* Fills <k> from <sa>; -1 for families other than IPv4/IPv6. */
static int
upstream_key_make(const struct sockaddr *sa, socklen_t salen,
    struct upstream_key *k)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	memset(k, 0, sizeof(*k));
	k->family = sa->sa_family;
	if (sa->sa_family == AF_INET && salen >= sizeof(*sin)) {
		sin = (const struct sockaddr_in *)sa;
		k->port = sin->sin_port;
		memcpy(k->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && salen >= sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)sa;
		k->port = sin6->sin6_port;
		k->scope = sin6->sin6_scope_id;
		memcpy(k->addr, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

/* The pool for <k>, created when <create>; NULL if absent or no memory. */
static struct upstream_pool *
upstream_pool_find(const struct upstream_key *k, int create)
{
	struct upstream_bucket *b;
	struct upstream_pool *p;

	b = &upstream_buckets[util_hash64(k, sizeof(*k)) &
	    (UPSTREAM_BUCKETS - 1)];
	SLIST_FOREACH(p, b, next)
		if (memcmp(&p->key, k, sizeof(*k)) == 0)
			return p;
	if (!create)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->key = *k;
	TAILQ_INIT(&p->idle);
	SLIST_INSERT_HEAD(b, p, next);
	upstream_npools++;
	return p;
}

/* Frees the pools that hold no idle connection. */
static void
upstream_pool_gc(void)
{
	struct upstream_pool *p, *prev, *nextp;
	size_t i;

	for (i = 0; i < UPSTREAM_BUCKETS; i++) {
		prev = NULL;
		for (p = SLIST_FIRST(&upstream_buckets[i]); p != NULL;
		    p = nextp) {
			nextp = SLIST_NEXT(p, next);
			if (p->nidle != 0) {
				prev = p;
				continue;
			}
			if (prev == NULL)
				SLIST_REMOVE_HEAD(&upstream_buckets[i], next);
			else
				SLIST_NEXT(prev, next) = nextp;
			free(p);
			upstream_npools--;
		}
	}
}

/* Unlinks <u> from its pool, stops its watchers, recycles the record.
 * Returns its fd, which the caller now owns. */
static int
upstream_idle_take(struct ev_loop *loop, struct upstream_idle *u,
    struct upstream_io *io)
{
	int fd = u->fd;

	*io = u->uio;
	memset(&u->uio, 0, sizeof(u->uio));

	ev_io_stop(loop, &u->io);
	ev_timer_stop(loop, &u->timer);
	TAILQ_REMOVE(&u->pool->idle, u, entry);
	u->pool->nidle--;
	upstream_nidle--;
	u->pool = NULL;
	u->fd = -1;
	u->entry.tqe_next = upstream_free;
	upstream_free = u;
	return fd;
}

/* Takes <u> out and closes it, TLS state and all; <uio> is scratch. */
static void
upstream_idle_close(struct ev_loop *loop, struct upstream_idle *u,
    struct upstream_io *uio)
{
	int fd = upstream_idle_take(loop, u, uio);

	upstream_io_close(uio, fd);
}

static void
upstream_idle_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct upstream_idle *u = (struct upstream_idle *)
	    ((char *)w - offsetof(struct upstream_idle, io));
	struct upstream_io uio;

	/* An idle backend connection has nothing to say: EOF or junk.
	 * Over TLS a late session ticket is no data, and keeps it. */
	if (upstream_io_idle_ok(&u->uio, u->fd))
		return;
	upstream_idle_close(loop, u, &uio);
}

static void
upstream_idle_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct upstream_idle *u = (struct upstream_idle *)
	    ((char *)w - offsetof(struct upstream_idle, timer));
	struct upstream_io uio;

	upstream_idle_close(loop, u, &uio);
}

int
upstream_pool_get(struct ev_loop *loop, const struct sockaddr *sa,
    socklen_t salen, uint64_t tlskey, struct upstream_io *io)
{
	struct upstream_key k;
	struct upstream_pool *p;
	struct upstream_idle *u;

	if (upstream_nidle == 0 || upstream_key_make(sa, salen, &k) == -1)
		return -1;
	k.tls = tlskey;
	if ((p = upstream_pool_find(&k, 0)) == NULL ||
	    (u = TAILQ_FIRST(&p->idle)) == NULL)
		return -1;
	return upstream_idle_take(loop, u, io);
}

void
upstream_pool_put(struct ev_loop *loop, const struct sockaddr *sa,
    socklen_t salen, uint64_t tlskey, int fd, const struct upstream_io *io,
    uint32_t max_idle, uint32_t idle_timeout_ms)
{
	struct upstream_key k;
	struct upstream_pool *p;
	struct upstream_idle *u;
	struct upstream_io uio;

	if (max_idle == 0 || idle_timeout_ms == 0 ||
	    upstream_key_make(sa, salen, &k) == -1)
		goto bad;
	k.tls = tlskey;
	if (upstream_npools > UPSTREAM_POOLS_GC)
		upstream_pool_gc();
	if ((p = upstream_pool_find(&k, 1)) == NULL)
		goto bad;
	while (p->nidle >= max_idle)
		upstream_idle_close(loop, TAILQ_LAST(&p->idle,
		    upstream_idle_head), &uio);
	if ((u = upstream_free) != NULL)
		upstream_free = u->entry.tqe_next;
	else if ((u = calloc(1, sizeof(*u))) == NULL)
		goto bad;
	u->fd = fd;
	u->uio = *io;
	u->uio.want_read = u->uio.want_write = 0;
	u->pool = p;
	/*
	 * The fd stayed open and registered with the loop while the proxy
	 * watched it, so skip ev_io_set()'s "new fd" flag: it would cost an
	 * epoll_ctl() per request for nothing.
	 */
	ev_init(&u->io, upstream_idle_read_cb);
	u->io.fd = fd;
	u->io.events = EV_READ;
	ev_timer_init(&u->timer, upstream_idle_timer_cb,
	    idle_timeout_ms / 1000.0, 0.);
	ev_io_start(loop, &u->io);
	ev_timer_start(loop, &u->timer);
	TAILQ_INSERT_HEAD(&p->idle, u, entry);
	p->nidle++;
	upstream_nidle++;
	return;
bad:
	uio = *io;
	upstream_io_close(&uio, fd);
}

void
upstream_pool_close_all(struct ev_loop *loop)
{
	struct upstream_pool *p;
	struct upstream_io uio;
	size_t i;

	for (i = 0; i < UPSTREAM_BUCKETS; i++)
		SLIST_FOREACH(p, &upstream_buckets[i], next)
			while (!TAILQ_EMPTY(&p->idle))
				upstream_idle_close(loop,
				    TAILQ_FIRST(&p->idle), &uio);
}

size_t
upstream_pool_idle(void)
{
	return upstream_nidle;
}
