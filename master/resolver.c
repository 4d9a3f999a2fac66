/*
 * resolver: the master's asynchronous cache of ExternalName addresses.
 *
 * Runs in the master.  The loop side (everything but rs_thread()) owns the
 * cache: a sorted array of names with their last good addresses, a timer
 * for the next refresh and an ev_async.  Lookups go to at most RS_THREADS
 * detached threads through a queue in struct rs_shared; a thread calls
 * getaddrinfo(3), which may block for seconds, puts the answer on the done
 * queue and wakes the loop with ev_async_send(), the one libev call that
 * is safe from another thread.  The threads never touch the cache, never
 * log and never call back: answers are applied, compared and announced by
 * rs_async_cb() on the loop.  They block every signal, so the master's
 * handlers keep running on the loop thread only.
 *
 * The shared part is reference-counted: resolver_free() marks it dead and
 * does not wait for a thread stuck in getaddrinfo(3); the last one out
 * frees it.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "common/log.h"
#include "common/util.h"
#include "master/resolver.h"

#define RS_THREADS	4	/* lookups in parallel, at most */

/* One lookup, from the loop to a thread and back. */
struct rs_job {
	TAILQ_ENTRY(rs_job) entry;
	char		 name[RESOLVER_MAX_NAMELEN + 1];
	int		 ok;
	char		 err[128];
	size_t		 naddrs;
	struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
	socklen_t	 lens[RESOLVER_MAX_ADDRS];
};
TAILQ_HEAD(rs_jobs, rs_job);

/* What the threads share with the loop; everything under mtx. */
struct rs_shared {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	struct rs_jobs	 todo;
	struct rs_jobs	 done;
	int		 refs;		/* the resolver and each thread */
	int		 dead;		/* resolver_free() ran */
	int		 nthreads;
	int		 idle;
	resolver_lookup_fn *fn;		/* fixed once a thread runs */
	struct ev_loop	*loop;		/* for ev_async_send(), until dead */
	ev_async	*async;
};

struct rs_name {
	char		*name;		/* lower case */
	int		 wanted;	/* by the compile in progress */
	int		 inflight;	/* a job is out */
	int		 warned;	/* failure streak already logged */
	enum resolver_status status;
	uint64_t	 next_ms;	/* next refresh; UINT64_MAX: never */
	struct sockaddr_storage *addrs;	/* last good, sorted, port 0 */
	socklen_t	*lens;
	size_t		 naddrs;
};

struct resolver {
	struct ev_loop	*loop;
	void		(*changed)(void *);
	void		*arg;
	ev_async	 async;
	ev_timer	 timer;
	struct rs_shared *sh;
	struct rs_name	**names;	/* sorted by name */
	size_t		 nnames;
	size_t		 namecap;
	uint64_t	 refresh_ms;
};

static int
rs_getaddrinfo(const char *name, struct sockaddr_storage *addrs,
    socklen_t *lens, size_t max, size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	int rv;

	*n = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(name, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s", rv == EAI_SYSTEM ?
		    strerror(errno) : gai_strerror(rv));
		return -1;
	}
	for (ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(addrs[0]))
			continue;
		memset(&addrs[*n], 0, sizeof(addrs[0]));
		memcpy(&addrs[*n], ai->ai_addr, ai->ai_addrlen);
		lens[*n] = ai->ai_addrlen;
		(*n)++;
	}
	freeaddrinfo(res);
	if (*n == 0) {
		snprintf(err, errlen, "no IPv4 or IPv6 address");
		return -1;
	}
	return 0;
}

static void
rs_shared_unref(struct rs_shared *sh)
{
	struct rs_job *j;
	int last;

	pthread_mutex_lock(&sh->mtx);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mtx);
	if (!last)
		return;
	while ((j = TAILQ_FIRST(&sh->todo)) != NULL) {
		TAILQ_REMOVE(&sh->todo, j, entry);
		free(j);
	}
	while ((j = TAILQ_FIRST(&sh->done)) != NULL) {
		TAILQ_REMOVE(&sh->done, j, entry);
		free(j);
	}
	pthread_cond_destroy(&sh->cond);
	pthread_mutex_destroy(&sh->mtx);
	free(sh);
}

/* A lookup thread: jobs from todo to done until the resolver is gone. */
static void *
rs_thread(void *arg)
{
	struct rs_shared *sh = arg;
	struct rs_job *j;

	pthread_mutex_lock(&sh->mtx);
	for (;;) {
		while (!sh->dead && TAILQ_EMPTY(&sh->todo)) {
			sh->idle++;
			pthread_cond_wait(&sh->cond, &sh->mtx);
			sh->idle--;
		}
		if (sh->dead)
			break;
		j = TAILQ_FIRST(&sh->todo);
		TAILQ_REMOVE(&sh->todo, j, entry);
		pthread_mutex_unlock(&sh->mtx);

		/* The blocking part, outside the lock. */
		j->ok = sh->fn(j->name, j->addrs, j->lens, RESOLVER_MAX_ADDRS,
		    &j->naddrs, j->err, sizeof(j->err)) == 0;

		pthread_mutex_lock(&sh->mtx);
		if (sh->dead) {
			free(j);
			break;
		}
		TAILQ_INSERT_TAIL(&sh->done, j, entry);
		ev_async_send(sh->loop, sh->async);
	}
	sh->nthreads--;
	pthread_mutex_unlock(&sh->mtx);
	rs_shared_unref(sh);
	return NULL;
}

/* Called with sh->mtx held.  0, or -1 when no thread could start. */
static int
rs_spawn(struct rs_shared *sh)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int rv;

	if ((rv = pthread_attr_init(&attr)) != 0)
		goto bad;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The thread inherits this mask: no signal is ever delivered to it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rv = pthread_create(&tid, &attr, rs_thread, sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rv != 0)
		goto bad;
	sh->refs++;
	sh->nthreads++;
	return 0;
 bad:
	errno = rv;
	log_warn("resolver: cannot start a lookup thread");
	return -1;
}

/* Queues a lookup of <n>.  0, or -1 (nothing queued) after logging. */
static int
rs_submit(struct resolver *r, struct rs_name *n)
{
	struct rs_shared *sh = r->sh;
	struct rs_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_warn("resolver: %s", n->name);
		return -1;
	}
	util_strlcpy(j->name, n->name, sizeof(j->name));
	pthread_mutex_lock(&sh->mtx);
	if (sh->idle == 0 && sh->nthreads < RS_THREADS &&
	    rs_spawn(sh) == -1 && sh->nthreads == 0) {
		pthread_mutex_unlock(&sh->mtx);
		free(j);
		return -1;
	}
	TAILQ_INSERT_TAIL(&sh->todo, j, entry);
	pthread_cond_signal(&sh->cond);
	pthread_mutex_unlock(&sh->mtx);
	n->inflight = 1;
	return 0;
}

/*
 * Copies address <ss> with port 0 and nothing else but the address (and
 * the IPv6 scope) into <out>.  0, or -1 for another family or length.
 */
static int
rs_normalize(const struct sockaddr_storage *ss, socklen_t len,
    struct sockaddr_storage *out, socklen_t *outlen)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	struct sockaddr_in *o4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *o6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (ss->ss_family == AF_INET && len >= sizeof(*in)) {
		o4->sin_family = AF_INET;
		o4->sin_addr = in->sin_addr;
		*outlen = sizeof(*o4);
		return 0;
	}
	if (ss->ss_family == AF_INET6 && len >= sizeof(*in6)) {
		o6->sin6_family = AF_INET6;
		o6->sin6_addr = in6->sin6_addr;
		o6->sin6_scope_id = in6->sin6_scope_id;
		*outlen = sizeof(*o6);
		return 0;
	}
	return -1;
}

/* IPv4 before IPv6, then by address bytes (normalized addresses). */
static int
rs_addr_cmp(const void *a, const void *b)
{
	const struct sockaddr_storage *x = a, *y = b;

	if (x->ss_family != y->ss_family)
		return x->ss_family == AF_INET ? -1 : 1;
	return memcmp(x, y, x->ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}

/* Normalizes, sorts and dedups the answer of <j> in place. */
static void
rs_job_clean(struct rs_job *j)
{
	struct sockaddr_storage tmp;
	socklen_t len;
	size_t i, n;

	if (j->naddrs > RESOLVER_MAX_ADDRS)
		j->naddrs = RESOLVER_MAX_ADDRS;
	for (i = n = 0; i < j->naddrs; i++)
		if (rs_normalize(&j->addrs[i], j->lens[i], &tmp, &len) == 0)
			j->addrs[n++] = tmp;
	qsort(j->addrs, n, sizeof(j->addrs[0]), rs_addr_cmp);
	for (i = j->naddrs = 0; i < n; i++)
		if (j->naddrs == 0 || rs_addr_cmp(&j->addrs[i],
		    &j->addrs[j->naddrs - 1]) != 0)
			j->addrs[j->naddrs++] = j->addrs[i];
	for (i = 0; i < j->naddrs; i++)
		j->lens[i] = j->addrs[i].ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Index of <name> in the sorted names, or where it would go. */
static size_t
rs_search(const struct resolver *r, const char *name, int *found)
{
	size_t lo = 0, hi = r->nnames, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(r->names[mid]->name, name)) == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct rs_name *
rs_find(const struct resolver *r, const char *name)
{
	size_t i;
	int found;

	i = rs_search(r, name, &found);
	return found ? r->names[i] : NULL;
}

/*
 * <name> in lower case into <buf>.  0, or -1 when too long or, unless it
 * is an IP literal, not made of letters, digits, '-', '_' and '.'.
 */
static int
rs_key(const char *name, char *buf, size_t len, int *literal)
{
	struct in6_addr a6;
	struct in_addr a4;
	size_t i;

	if (name == NULL || name[0] == '\0' ||
	    strlen(name) > RESOLVER_MAX_NAMELEN || len <= strlen(name))
		return -1;
	for (i = 0; name[i] != '\0'; i++)
		buf[i] = name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] + ('a' - 'A') : name[i];
	buf[i] = '\0';
	*literal = inet_pton(AF_INET, buf, &a4) == 1 ||
	    inet_pton(AF_INET6, buf, &a6) == 1;
	if (*literal)
		return 0;
	for (i = 0; buf[i] != '\0'; i++)
		if (!((buf[i] >= 'a' && buf[i] <= 'z') ||
		    (buf[i] >= '0' && buf[i] <= '9') || buf[i] == '-' ||
		    buf[i] == '_' || buf[i] == '.'))
			return -1;
	return 0;
}

static void
rs_name_free(struct rs_name *n)
{
	if (n == NULL)
		return;
	free(n->name);
	free(n->addrs);
	free(n->lens);
	free(n);
}

/* Replaces the addresses of <n> with those of <j>; -1 on ENOMEM. */
static int
rs_set_addrs(struct rs_name *n, const struct rs_job *j)
{
	struct sockaddr_storage *a;
	socklen_t *l;

	a = calloc(j->naddrs, sizeof(*a));
	l = calloc(j->naddrs, sizeof(*l));
	if (a == NULL || l == NULL) {
		free(a);
		free(l);
		return -1;
	}
	memcpy(a, j->addrs, j->naddrs * sizeof(*a));
	memcpy(l, j->lens, j->naddrs * sizeof(*l));
	free(n->addrs);
	free(n->lens);
	n->addrs = a;
	n->lens = l;
	n->naddrs = j->naddrs;
	n->status = RESOLVER_RESOLVED;
	return 0;
}

/* Applies answer <j>; 1 when what resolver_lookup() says changed. */
static int
rs_apply(struct resolver *r, struct rs_job *j, uint64_t now)
{
	struct rs_name *n;
	size_t i;

	if ((n = rs_find(r, j->name)) == NULL)
		return 0;	/* swept while in flight */
	n->inflight = 0;
	n->next_ms = now + r->refresh_ms;
	if (j->ok)
		rs_job_clean(j);
	if (j->ok && j->naddrs > 0) {
		if (n->warned)
			log_info("resolver: %s resolves again", n->name);
		n->warned = 0;
		if (n->status == RESOLVER_RESOLVED &&
		    n->naddrs == j->naddrs) {
			for (i = 0; i < n->naddrs; i++)
				if (rs_addr_cmp(&n->addrs[i],
				    &j->addrs[i]) != 0)
					break;
			if (i == n->naddrs)
				return 0;
		}
		if (rs_set_addrs(n, j) == -1) {
			log_warn("resolver: %s", n->name);
			return 0;	/* tried again next refresh */
		}
		return 1;
	}
	if (j->ok)
		snprintf(j->err, sizeof(j->err), "no usable address");
	if (!n->warned)
		log_warnx("resolver: %s: %s%s", n->name, j->err,
		    n->status == RESOLVER_RESOLVED ?
		    "; keeping the last addresses" : "");
	n->warned = 1;
	if (n->status != RESOLVER_PENDING)
		return 0;
	n->status = RESOLVER_FAILED;
	return 1;
}

/* The timer for the earliest refresh of a name not in flight. */
static void
rs_arm(struct resolver *r)
{
	uint64_t next = UINT64_MAX, now;
	size_t i;

	ev_timer_stop(r->loop, &r->timer);
	for (i = 0; i < r->nnames; i++)
		if (!r->names[i]->inflight && r->names[i]->next_ms < next)
			next = r->names[i]->next_ms;
	if (next == UINT64_MAX)
		return;
	now = util_now_ms();
	ev_timer_set(&r->timer, next > now ? (next - now) / 1000.0 : 0., 0.);
	ev_timer_start(r->loop, &r->timer);
}

static void
rs_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct resolver *r = (struct resolver *)((char *)w -
	    offsetof(struct resolver, timer));
	struct rs_name *n;
	uint64_t now = util_now_ms();
	size_t i;

	(void)loop;
	(void)revents;
	for (i = 0; i < r->nnames; i++) {
		n = r->names[i];
		if (n->inflight || n->next_ms > now)
			continue;
		if (rs_submit(r, n) == -1)
			n->next_ms = now + r->refresh_ms;
	}
	rs_arm(r);
}

static void
rs_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct resolver *r = (struct resolver *)((char *)w -
	    offsetof(struct resolver, async));
	struct rs_jobs done;
	struct rs_job *j;
	uint64_t now = util_now_ms();
	int changed = 0;

	(void)loop;
	(void)revents;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&r->sh->mtx);
	TAILQ_CONCAT(&done, &r->sh->done, entry);
	pthread_mutex_unlock(&r->sh->mtx);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		changed |= rs_apply(r, j, now);
		free(j);
	}
	rs_arm(r);
	/* Last: the callback may recompile, and so call resolver_want(). */
	if (changed)
		r->changed(r->arg);
}

struct resolver *
resolver_new(struct ev_loop *loop, void (*changed)(void *arg), void *arg)
{
	struct resolver *r;
	struct rs_shared *sh;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((sh = calloc(1, sizeof(*sh))) == NULL) {
		free(r);
		return NULL;
	}
	if (pthread_mutex_init(&sh->mtx, NULL) != 0) {
		free(sh);
		free(r);
		return NULL;
	}
	if (pthread_cond_init(&sh->cond, NULL) != 0) {
		pthread_mutex_destroy(&sh->mtx);
		free(sh);
		free(r);
		return NULL;
	}
	TAILQ_INIT(&sh->todo);
	TAILQ_INIT(&sh->done);
	sh->refs = 1;
	sh->fn = rs_getaddrinfo;
	sh->loop = loop;
	sh->async = &r->async;
	r->sh = sh;
	r->loop = loop;
	r->changed = changed;
	r->arg = arg;
	r->refresh_ms = RESOLVER_REFRESH_MS;
	ev_async_init(&r->async, rs_async_cb);
	ev_async_start(loop, &r->async);
	ev_init(&r->timer, rs_timer_cb);
	return r;
}

void
resolver_free(struct resolver *r)
{
	struct rs_shared *sh;
	struct rs_job *j;
	size_t i;

	if (r == NULL)
		return;
	ev_async_stop(r->loop, &r->async);
	ev_timer_stop(r->loop, &r->timer);
	sh = r->sh;
	pthread_mutex_lock(&sh->mtx);
	sh->dead = 1;
	sh->loop = NULL;
	sh->async = NULL;
	while ((j = TAILQ_FIRST(&sh->todo)) != NULL) {
		TAILQ_REMOVE(&sh->todo, j, entry);
		free(j);
	}
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->mtx);
	rs_shared_unref(sh);
	for (i = 0; i < r->nnames; i++)
		rs_name_free(r->names[i]);
	free(r->names);
	free(r);
}

void
resolver_set_lookup(struct resolver *r, resolver_lookup_fn *fn)
{
	pthread_mutex_lock(&r->sh->mtx);
	if (r->sh->nthreads == 0)
		r->sh->fn = fn != NULL ? fn : rs_getaddrinfo;
	pthread_mutex_unlock(&r->sh->mtx);
}

void
resolver_set_refresh(struct resolver *r, uint64_t ms)
{
	r->refresh_ms = ms;
}

int
resolver_want(struct resolver *r, const char *name)
{
	char key[RESOLVER_MAX_NAMELEN + 1];
	struct rs_job lit;
	struct rs_name *n, **v;
	size_t i, ncap;
	int found, literal;

	if (rs_key(name, key, sizeof(key), &literal) == -1)
		return -1;
	i = rs_search(r, key, &found);
	if (found) {
		r->names[i]->wanted = 1;
		return 0;
	}
	if (r->nnames >= RESOLVER_MAX_NAMES)
		return -1;
	if (r->nnames == r->namecap) {
		ncap = r->namecap == 0 ? 16 : r->namecap * 2;
		if ((v = reallocarray(r->names, ncap, sizeof(*v))) == NULL)
			return -1;
		r->names = v;
		r->namecap = ncap;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	if ((n->name = strdup(key)) == NULL)
		goto bad;
	n->wanted = 1;
	n->status = RESOLVER_PENDING;
	if (literal) {
		/* Never looked up, never refreshed. */
		memset(&lit, 0, sizeof(lit));
		lit.naddrs = 1;
		if (util_make_sockaddr(key, 0, &lit.addrs[0],
		    &lit.lens[0]) == -1 || rs_set_addrs(n, &lit) == -1)
			goto bad;
		n->next_ms = UINT64_MAX;
	} else if (rs_submit(r, n) == -1) {
		/* Told at once, so no changed() is due; retried later. */
		n->status = RESOLVER_FAILED;
		n->warned = 1;
		n->next_ms = util_now_ms() + r->refresh_ms;
	}
	memmove(&r->names[i + 1], &r->names[i],
	    (r->nnames - i) * sizeof(*r->names));
	r->names[i] = n;
	r->nnames++;
	if (!n->inflight && n->next_ms != UINT64_MAX)
		rs_arm(r);
	return 0;
 bad:
	rs_name_free(n);
	return -1;
}

enum resolver_status
resolver_lookup(struct resolver *r, const char *name,
    struct sockaddr_storage *addrs, socklen_t *lens, size_t max, size_t *n)
{
	char key[RESOLVER_MAX_NAMELEN + 1];
	const struct rs_name *rn;
	size_t i;
	int literal;

	*n = 0;
	if (rs_key(name, key, sizeof(key), &literal) == -1 ||
	    (rn = rs_find(r, key)) == NULL)
		return RESOLVER_FAILED;
	if (rn->status != RESOLVER_RESOLVED)
		return rn->status;
	for (i = 0; i < rn->naddrs && i < max; i++) {
		addrs[i] = rn->addrs[i];
		lens[i] = rn->lens[i];
	}
	*n = i;
	return RESOLVER_RESOLVED;
}

void
resolver_sweep(struct resolver *r)
{
	size_t i, n;

	for (i = n = 0; i < r->nnames; i++) {
		if (!r->names[i]->wanted) {
			/* An answer in flight finds no name and is dropped. */
			rs_name_free(r->names[i]);
			continue;
		}
		r->names[i]->wanted = 0;
		r->names[n++] = r->names[i];
	}
	r->nnames = n;
}
