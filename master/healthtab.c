/*
 * healthtab: endpoints that are down, as the probing workers report them
 * (see healthtab.h).  Runs in the master.  Reports come from workers,
 * which are untrusted: ipc_get_health() validated the fields, and nothing
 * here trusts more than that (an unknown endpoint is kept and named as
 * such).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hcheck.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/routes.h"
#include "common/util.h"
#include "master/healthtab.h"

static int
healthtab_same(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		a4 = (const struct sockaddr_in *)(const void *)a;
		b4 = (const struct sockaddr_in *)(const void *)b;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)(const void *)a;
		b6 = (const struct sockaddr_in6 *)(const void *)b;
		return a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
	}
	return 0;
}

/* FNV-1a over family, port and address: the key of the index. */
static size_t
healthtab_hash(const struct sockaddr *sa)
{
	const struct sockaddr_in *a4;
	const struct sockaddr_in6 *a6;
	const uint8_t *p;
	size_t n, i;
	uint64_t h = 1469598103934665603ULL;

	if (sa->sa_family == AF_INET) {
		a4 = (const struct sockaddr_in *)(const void *)sa;
		h = (h ^ a4->sin_port) * 1099511628211ULL;
		p = (const uint8_t *)&a4->sin_addr;
		n = 4;
	} else if (sa->sa_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)(const void *)sa;
		h = (h ^ a6->sin6_port) * 1099511628211ULL;
		p = (const uint8_t *)&a6->sin6_addr;
		n = 16;
	} else
		return 0;
	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

/* Rebuilds the index for the current <down> (at most half full).
 * Out of memory: no index, lookups scan. */
static void
healthtab_reindex(struct healthtab *t)
{
	size_t slots = 16, i, k;

	free(t->idx);
	t->idx = NULL;
	t->imask = 0;
	while (slots < 2 * t->cap)
		slots *= 2;
	if ((t->idx = calloc(slots, sizeof(*t->idx))) == NULL)
		return;
	t->imask = slots - 1;
	for (i = 0; i < t->ndown; i++) {
		k = healthtab_hash((const struct sockaddr *)&t->down[i].addr) &
		    t->imask;
		while (t->idx[k] != 0)
			k = (k + 1) & t->imask;
		t->idx[k] = i + 1;
	}
}

static ssize_t
healthtab_index(const struct healthtab *t, const struct sockaddr *sa)
{
	size_t i, k;

	if (t->idx == NULL) {
		for (i = 0; i < t->ndown; i++)
			if (healthtab_same((const struct sockaddr *)
			    &t->down[i].addr, sa))
				return (ssize_t)i;
		return -1;
	}
	for (k = healthtab_hash(sa) & t->imask; t->idx[k] != 0;
	    k = (k + 1) & t->imask) {
		i = t->idx[k] - 1;
		if (healthtab_same((const struct sockaddr *)&t->down[i].addr,
		    sa))
			return (ssize_t)i;
	}
	return -1;
}

/* The slot holding <down>[i]; the index must exist and hold it. */
static size_t
healthtab_slot(const struct healthtab *t, size_t i)
{
	size_t k;

	k = healthtab_hash((const struct sockaddr *)&t->down[i].addr) &
	    t->imask;
	while (t->idx[k] != i + 1)
		k = (k + 1) & t->imask;
	return k;
}

/*
 * Removes <down>[i], moving the last entry into its place, and keeps the
 * index right: backward-shift deletion (no tombstones), then the moved
 * entry's slot renumbered.  O(1) expected.
 */
static void
healthtab_remove(struct healthtab *t, size_t i)
{
	size_t s, j, k, last = t->ndown - 1;

	if (t->idx != NULL) {
		s = healthtab_slot(t, i);
		for (j = (s + 1) & t->imask; t->idx[j] != 0;
		    j = (j + 1) & t->imask) {
			k = healthtab_hash((const struct sockaddr *)
			    &t->down[t->idx[j] - 1].addr) & t->imask;
			/* Can slot j's entry move back to s?  Only when its
			 * home k is not cyclically within (s, j]. */
			if (s <= j ? (k <= s || k > j) : (k <= s && k > j)) {
				t->idx[s] = t->idx[j];
				s = j;
			}
		}
		t->idx[s] = 0;
		if (i != last)
			t->idx[healthtab_slot(t, last)] = i + 1;
	}
	t->down[i] = t->down[last];
	t->ndown--;
}

/* <down>[i] was just appended: index it (the table stays half empty). */
static void
healthtab_index_add(struct healthtab *t, size_t i)
{
	size_t k;

	if (t->idx == NULL || 2 * t->ndown > t->imask + 1) {
		healthtab_reindex(t);
		return;
	}
	k = healthtab_hash((const struct sockaddr *)&t->down[i].addr) &
	    t->imask;
	while (t->idx[k] != 0)
		k = (k + 1) & t->imask;
	t->idx[k] = i + 1;
}

const struct ipc_health *
healthtab_find(const struct healthtab *t, const struct sockaddr *sa)
{
	ssize_t i;

	if ((i = healthtab_index(t, sa)) == -1)
		return NULL;
	return &t->down[i];
}

size_t
healthtab_available(const struct healthtab *t, const struct route_backend *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->nendpoints; i++)
		if (healthtab_find(t, (const struct sockaddr *)
		    &b->endpoints[i].addr) == NULL)
			n++;
	return n;
}

/* Drops the endpoint index of the last route table. */
static void
healthtab_refs_drop(struct healthtab *t)
{
	free(t->refs);
	t->refs = NULL;
	t->rmask = 0;
	t->rt = NULL;
}

/*
 * The endpoint index for <rt>, built unless it is the one held; 0, or -1
 * when there is none (no table, or no memory: callers scan instead).
 */
static int
healthtab_refs(struct healthtab *t, const struct route_table *rt)
{
	const struct route_backend *b;
	struct healthtab_ref *r;
	size_t n = 0, i, j, k, slots;

	if (rt == NULL)
		return -1;
	if (t->rt == rt)
		return t->refs != NULL ? 0 : -1;
	healthtab_refs_drop(t);
	for (i = 0; i < rt->nbackends; i++)
		n += rt->backends[i].nendpoints;
	for (slots = 16; slots < 2 * n; slots <<= 1)
		;
	if (rt->nbackends >= UINT32_MAX ||
	    (t->refs = calloc(slots, sizeof(*t->refs))) == NULL)
		return -1;
	t->rmask = slots - 1;
	t->rt = rt;
	for (i = 0; i < rt->nbackends; i++) {
		b = &rt->backends[i];
		for (j = 0; j < b->nendpoints; j++) {
			k = healthtab_hash((const struct sockaddr *)
			    &b->endpoints[j].addr) & t->rmask;
			for (; (r = &t->refs[k])->backend != 0;
			    k = (k + 1) & t->rmask)
				if (r->backend == i + 1 && healthtab_same(
				    (const struct sockaddr *)
				    &b->endpoints[r->endpoint].addr,
				    (const struct sockaddr *)
				    &b->endpoints[j].addr))
					break;	/* listed twice: once */
			if (r->backend == 0) {
				r->backend = (uint32_t)i + 1;
				r->endpoint = (uint32_t)j;
			}
		}
	}
	return 0;
}

/*
 * The next backend of <t>->rt that has endpoint <sa>, from slot *<k>
 * (start at SIZE_MAX); its index, or -1 when there is no more.
 */
static ssize_t
healthtab_refs_next(const struct healthtab *t, const struct sockaddr *sa,
    size_t *k)
{
	const struct route_table *rt = t->rt;
	const struct healthtab_ref *r;
	size_t bi;

	*k = *k == SIZE_MAX ? healthtab_hash(sa) & t->rmask :
	    (*k + 1) & t->rmask;
	for (; (r = &t->refs[*k])->backend != 0; *k = (*k + 1) & t->rmask) {
		bi = r->backend - 1;
		if (bi < rt->nbackends &&
		    r->endpoint < rt->backends[bi].nendpoints &&
		    healthtab_same((const struct sockaddr *)
		    &rt->backends[bi].endpoints[r->endpoint].addr, sa))
			return (ssize_t)bi;
	}
	return -1;
}

static int
healthtab_has(const struct route_backend *b, const struct sockaddr *sa)
{
	size_t i;

	for (i = 0; i < b->nendpoints; i++)
		if (healthtab_same((const struct sockaddr *)
		    &b->endpoints[i].addr, sa))
			return 1;
	return 0;
}

/*
 * Logs the transition of <h> once, with the first backend that has it,
 * and says so when it empties (or refills) one of its backends.
 */
static void
healthtab_log(struct healthtab *t, const struct ipc_health *h,
    const struct route_table *rt)
{
	const struct sockaddr *sa = (const struct sockaddr *)&h->addr;
	const struct route_backend *b;
	const char *name = NULL;
	char addr[UTIL_ADDRSTRLEN], why[128];
	size_t i, k, avail;
	ssize_t bi;
	int fast;

	util_format_sockaddr(sa, addr, sizeof(addr));
	fast = healthtab_refs(t, rt) == 0;
	if (fast) {
		/* The first backend in table order, as the scan gives. */
		for (k = SIZE_MAX, i = SIZE_MAX;
		    (bi = healthtab_refs_next(t, sa, &k)) != -1;)
			if ((size_t)bi < i)
				i = (size_t)bi;
		if (i != SIZE_MAX)
			name = rt->backends[i].name;
	} else
		for (i = 0; rt != NULL && i < rt->nbackends && name == NULL;
		    i++)
			if (healthtab_has(&rt->backends[i], sa))
				name = rt->backends[i].name;
	hc_describe(h->result, h->detail, why, sizeof(why));
	if (h->state == HC_DOWN)
		log_warnx("endpoint %s of %s is DOWN: %s (%u/%u)", addr,
		    name != NULL ? name : "no backend", why, h->count,
		    h->threshold);
	else
		log_info("endpoint %s of %s is UP: %s (%u/%u)", addr,
		    name != NULL ? name : "no backend", why, h->count,
		    h->threshold);
	for (i = 0, k = SIZE_MAX; rt != NULL; i++) {
		if (fast) {
			if ((bi = healthtab_refs_next(t, sa, &k)) == -1)
				break;
			b = &rt->backends[bi];
		} else {
			if (i >= rt->nbackends)
				break;
			b = &rt->backends[i];
			if (!healthtab_has(b, sa))
				continue;
		}
		avail = healthtab_available(t, b);
		if (h->state == HC_DOWN && avail == 0)
			log_warnx("backend %s: all %zu endpoint(s) down, %s",
			    b->name, b->nendpoints, b->health.all_down ==
			    ROUTE_ALL_DOWN_FAIL_OPEN ? "failing open (using "
			    "them all)" : "failing closed (503)");
		else if (h->state == HC_UP && avail == 1)
			log_info("backend %s: endpoint %s back, no longer all "
			    "down", b->name, addr);
	}
}

int
healthtab_report(struct healthtab *t, const struct ipc_health *h,
    const struct route_table *rt)
{
	struct ipc_health *nd;
	ssize_t i;
	size_t ncap;

	i = healthtab_index(t, (const struct sockaddr *)&h->addr);
	if (h->state == HC_DOWN) {
		if (i != -1) {
			t->down[i] = *h;	/* newer reason */
			return 0;
		}
		if (t->ndown == t->cap) {
			ncap = t->cap == 0 ? 16 : t->cap * 2;
			if ((nd = reallocarray(t->down, ncap,
			    sizeof(*nd))) == NULL) {
				log_warn("health table");
				return -1;
			}
			t->down = nd;
			t->cap = ncap;
		}
		t->down[t->ndown++] = *h;
		healthtab_index_add(t, t->ndown - 1);
	} else {
		if (i == -1)
			return 0;
		healthtab_remove(t, (size_t)i);
	}
	healthtab_log(t, h, rt);
	return 1;
}

void
healthtab_prune(struct healthtab *t, const struct route_table *rt,
    void (*gone)(void *, const struct ipc_health *), void *arg)
{
	const struct sockaddr *sa;
	struct ipc_health h;
	size_t i, j, k;
	int fast;

	/* A new table, or the old one changed in place: index it anew. */
	healthtab_refs_drop(t);
	fast = healthtab_refs(t, rt) == 0;
	for (i = 0; i < t->ndown;) {
		sa = (const struct sockaddr *)&t->down[i].addr;
		if (fast) {
			k = SIZE_MAX;
			j = healthtab_refs_next(t, sa, &k) != -1 ? 0 :
			    rt->nbackends;
		} else
			for (j = 0; j < rt->nbackends; j++)
				if (healthtab_has(&rt->backends[j], sa))
					break;
		if (j < rt->nbackends) {
			i++;
			continue;
		}
		h = t->down[i];
		healthtab_remove(t, i);
		h.state = HC_UP;
		h.result = HC_OK;
		h.detail = 0;
		if (gone != NULL)
			gone(arg, &h);
	}
}

void
healthtab_free(struct healthtab *t)
{
	free(t->down);
	free(t->idx);
	free(t->refs);
	memset(t, 0, sizeof(*t));
}
