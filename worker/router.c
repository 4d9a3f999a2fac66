/*
 * router: maps (Host, path) to a backend through an opened snapshot.
 *
 * Runs in every worker on every request, on a snapshot that
 * snapshot_open() has already validated: it may not allocate, make system
 * calls or log, and it never writes to the snapshot.  The semantics are
 * those of Ingress networking.k8s.io/v1 (DESIGN.md "Routing semantics"):
 *
 *   host:  port stripped ("a:80", "[::1]:80"), one trailing dot ignored,
 *          case-blind; the exact host, else the one-label wildcard of its
 *          parent domain, else the host-less rules.  The host chosen is
 *          final: when none of its paths match, the default backend answers,
 *          not the host-less rules.
 *   path:  as sent (no decoding), without the query; an Exact path equal
 *          byte for byte wins, else the first (longest) Prefix that matches
 *          element-wise.
 *   else:  the defaultBackend if there is one, or ROUTER_NO_ROUTE.
 *
 * Cost: one hash lookup or two for the host, then linear in that host's
 * paths; nothing depends on how many hosts the snapshot holds.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/snapshot.h"
#include "worker/router.h"

/*
 * Reduces the Host header <host>/<*len> to the name that is looked up:
 * "[v6]:port" to "[v6]", "name:port" to "name", then one trailing dot off.
 * Returns the start; *<len> is updated.
 */
static const char *
router_host_name(const char *host, size_t *len)
{
	const char *end;
	size_t n = *len;

	if (n > 0 && host[0] == '[') {
		if ((end = memchr(host, ']', n)) != NULL)
			n = (size_t)(end - host) + 1;
	} else if ((end = memchr(host, ':', n)) != NULL)
		n = (size_t)(end - host);
	if (n > 0 && host[n - 1] == '.')
		n--;
	*len = n;
	return host;
}

/*
 * Element-wise Prefix match of rule <rule> against <path>: "/" matches
 * everything, "/foo" (or "/foo/") matches "/foo", "/foo/" and "/foo/bar"
 * but not "/foobar".  1 on a match.
 */
static int
router_prefix_match(const char *rule, size_t rulelen, const char *path,
    size_t pathlen)
{
	while (rulelen > 0 && rule[rulelen - 1] == '/')
		rulelen--;
	if (rulelen == 0)
		return 1;
	if (pathlen < rulelen || memcmp(rule, path, rulelen) != 0)
		return 0;
	return pathlen == rulelen || path[rulelen] == '/';
}

/* Picks the host entry for <host>: its index, or -1 for none. */
static int32_t
router_find_host(const struct snapshot *s, const char *host, size_t hostlen)
{
	const char *dot;
	int32_t h;

	if (hostlen > 0) {
		if ((h = snapshot_host_find(s, host, hostlen, 0)) != -1)
			return h;
		/* "*.example.com": one non-empty label before the parent. */
		if (host[0] != '[' &&
		    (dot = memchr(host, '.', hostlen)) != NULL &&
		    dot > host && (size_t)(dot - host) + 1 < hostlen &&
		    (h = snapshot_host_find(s, dot + 1,
		    hostlen - (size_t)(dot - host) - 1, 1)) != -1)
			return h;
	}
	return s->anyhost;
}

enum router_result
router_match(const struct snapshot *s, const char *host, size_t hostlen,
    const char *path, size_t pathlen, struct router_match *m)
{
	struct snapshot_host sh;
	struct snapshot_path sp;
	const char *q;
	uint32_t i;
	int32_t h;

	if (host == NULL) {
		host = "";
		hostlen = 0;
	}
	if (path == NULL) {
		path = "";
		pathlen = 0;
	}
	/* The contract says no query; a stray one must not break matching. */
	if (pathlen > 0 && (q = memchr(path, '?', pathlen)) != NULL)
		pathlen = (size_t)(q - path);
	host = router_host_name(host, &hostlen);

	if ((h = router_find_host(s, host, hostlen)) != -1) {
		snapshot_host(s, (uint32_t)h, &sh);
		for (i = sh.first_path; i < sh.first_path + sh.npaths; i++) {
			snapshot_path(s, i, &sp);
			if (sp.type == ROUTE_PATH_EXACT) {
				if (sp.pathlen != pathlen ||
				    memcmp(sp.path, path, pathlen) != 0)
					continue;
			} else if (!router_prefix_match(sp.path, sp.pathlen,
			    path, pathlen))
				continue;
			/* Exact rules come first, then Prefix longest first. */
			m->backend = sp.backend;
			m->host = h;
			m->source = sp.source;
			m->sourcelen = sp.sourcelen;
			m->rule_path = sp.path;
			m->rule_pathlen = sp.pathlen;
			m->tls_flags = sp.tls_flags;
			m->hsts_max_age = sp.hsts_max_age;
			return ROUTER_OK;
		}
	}
	if (s->default_backend < 0)
		return ROUTER_NO_ROUTE;
	m->backend = (uint32_t)s->default_backend;
	m->host = -1;
	m->source = s->default_source;
	m->sourcelen = s->default_sourcelen;
	m->rule_path = NULL;
	m->rule_pathlen = 0;
	m->tls_flags = 0;
	m->hsts_max_age = 0;
	return ROUTER_OK;
}
