/*
 * resolver: the master's asynchronous cache of ExternalName addresses.
 *
 * compile asks for names through resolver_want() and resolver_lookup(),
 * which only read the cache and never block; unknown names are resolved by
 * a few background threads with getaddrinfo(3) and the results are applied
 * on the master's libev loop.  Every name is resolved again every
 * RESOLVER_REFRESH_MS; a failed re-resolution keeps the last good
 * addresses.  <changed> runs on the loop when what resolver_lookup()
 * answers for some name changed, so the master recompiles.  Runs in the
 * master only; the threads touch nothing but their queues.
 */
#ifndef INGRESSD_RESOLVER_H
#define INGRESSD_RESOLVER_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct resolver;

#define RESOLVER_REFRESH_MS	30000	/* every name, success or not */
#define RESOLVER_MAX_NAMES	4096
#define RESOLVER_MAX_NAMELEN	253
#define RESOLVER_MAX_ADDRS	64	/* per name, after sort and dedup */

enum resolver_status {
	RESOLVER_RESOLVED = 0,		/* addresses filled */
	RESOLVER_PENDING = 1,		/* first lookup not done yet */
	RESOLVER_FAILED = 2,		/* no address ever, or invalid */
};

/*
 * Work done by the threads: <name> to at most <max> addresses (port 0)
 * in <addrs>/<lens>, count in *<n>.  Returns 0, or -1 with a reason in
 * <err>.  The default wraps getaddrinfo(3); tests plug in their own.
 */
typedef int resolver_lookup_fn(const char *name,
    struct sockaddr_storage *addrs, socklen_t *lens, size_t max, size_t *n,
    char *err, size_t errlen);

/*
 * A resolver on <loop>; <changed>(<arg>) is called from the loop.  No
 * thread is started before a name needs a lookup.  NULL when out of
 * memory.
 */
struct resolver *resolver_new(struct ev_loop *loop,
	    void (*changed)(void *arg), void *arg);

/*
 * Stops the watchers and forgets every name; threads still inside a
 * lookup finish it and exit on their own, touching nothing of <r>.
 * NULL is fine.
 */
void	resolver_free(struct resolver *r);

/* For tests, before the first resolver_want(): lookup and refresh. */
void	resolver_set_lookup(struct resolver *r, resolver_lookup_fn *fn);
void	resolver_set_refresh(struct resolver *r, uint64_t ms);

/*
 * Marks <name> (a host name or an IP literal, case-blind) as wanted by the
 * compile in progress; a new name is queued for a lookup, an IP literal
 * resolves at once.  Returns 0, or -1 for an invalid name (empty, over
 * RESOLVER_MAX_NAMELEN, characters beyond letters, digits, '-', '_' and
 * '.'), a full cache (RESOLVER_MAX_NAMES) or lack of memory.
 */
int	resolver_want(struct resolver *r, const char *name);

/*
 * What the cache holds for <name>: RESOLVER_RESOLVED with up to <max>
 * addresses (port 0; sorted, no duplicates) in <addrs>/<lens> and their
 * count in *<n>, or RESOLVER_PENDING / RESOLVER_FAILED with *<n> 0.  A
 * name never wanted is RESOLVER_FAILED.  Never blocks.
 */
enum resolver_status resolver_lookup(struct resolver *r, const char *name,
	    struct sockaddr_storage *addrs, socklen_t *lens, size_t max,
	    size_t *n);

/*
 * After a compile: drops the names it did not want and clears the marks
 * for the next one.  Call it only after a compile that completed.
 */
void	resolver_sweep(struct resolver *r);

#endif
