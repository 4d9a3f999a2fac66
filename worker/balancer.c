/*
 * balancer: smooth weighted round-robin per backend, with state that
 * survives snapshot swaps (see balancer.h).
 *
 * Runs in workers, on the request path.  It may not log or make system
 * calls; it allocates only when a backend is new or its endpoint list
 * changed.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/snapshot.h"
#include "worker/balancer.h"

struct balancer_state {
	uint64_t	 key;		/* 0: free slot */
	uint64_t	 fingerprint;
	const void	*base;		/* snapshot the fast path trusts */
	uint64_t	 generation;
	uint32_t	 bindex;
	uint32_t	 n;
	int64_t		*current;	/* smooth WRR current weights */
	uint32_t	*weight;
	uint32_t	*inflight;
	uint64_t	*ids;		/* balancer_endpoint_id()s, or 0 */
	uint32_t	 policy;	/* round-robin or least-request */
	double		 tokens;	/* retry budget */
	double		 tokens_at;	/* when last refilled; 0: never */
};

static int	balancer_swrr(struct balancer_state *, const uint32_t *, size_t);

static struct balancer_state	*balancer_table;
static uint8_t			*balancer_skipmap;	/* scratch */
static size_t			 balancer_skipcap;
static uint64_t			 balancer_rng = 0x2545f4914f6cdd1dULL;
static size_t			 balancer_cap;	/* power of two */
static size_t			 balancer_count;
static uint64_t			 balancer_latest_gen;
static unsigned int		 balancer_rotation;

/* Keys are hashes; 0 marks a free slot, so fold it away. */
static uint64_t
balancer_key(uint64_t k)
{
	return k == 0 ? 1 : k;
}

static struct balancer_state *
balancer_lookup(uint64_t key)
{
	size_t i, mask;

	if (balancer_cap == 0)
		return NULL;
	mask = balancer_cap - 1;
	for (i = key & mask;; i = (i + 1) & mask) {
		if (balancer_table[i].key == key)
			return &balancer_table[i];
		if (balancer_table[i].key == 0)
			return NULL;
	}
}

static void
balancer_state_free(struct balancer_state *st)
{
	free(st->current);
	st->current = NULL;
	st->ids = NULL;
	st->weight = NULL;
	st->inflight = NULL;
}

/*
 * Grows the table to twice its size, dropping states that no snapshot of
 * the last 16 generations used (backends that went away).  0 or -1.
 */
static int
balancer_grow(void)
{
	struct balancer_state *old = balancer_table, *nt;
	size_t oldcap = balancer_cap, ncap, i, j, mask;

	ncap = oldcap == 0 ? 16 : oldcap * 2;
	if ((nt = calloc(ncap, sizeof(*nt))) == NULL)
		return -1;
	mask = ncap - 1;
	balancer_count = 0;
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == 0)
			continue;
		if (old[i].generation != 0 &&
		    old[i].generation + 16 < balancer_latest_gen) {
			balancer_state_free(&old[i]);
			continue;
		}
		for (j = old[i].key & mask; nt[j].key != 0; j = (j + 1) & mask)
			;
		nt[j] = old[i];
		balancer_count++;
	}
	free(old);
	balancer_table = nt;
	balancer_cap = ncap;
	return 0;
}

static struct balancer_state *
balancer_insert(uint64_t key)
{
	size_t i, mask;

	if ((balancer_count + 1) * 2 > balancer_cap && balancer_grow() == -1)
		return NULL;
	mask = balancer_cap - 1;
	for (i = key & mask; balancer_table[i].key != 0; i = (i + 1) & mask)
		;
	memset(&balancer_table[i], 0, sizeof(balancer_table[i]));
	balancer_table[i].key = key;
	balancer_count++;
	return &balancer_table[i];
}

/*
 * Gives <st> fresh arrays for <n> endpoints with <weights> (NULL: all 1).
 * Counters start at zero.  0, or -1 when out of memory (state unchanged).
 */
static int
balancer_state_reset(struct balancer_state *st, uint64_t fingerprint,
    const uint32_t *weights, size_t n)
{
	char *mem;
	size_t i, sz;

	sz = n * (sizeof(int64_t) + sizeof(uint64_t) + 2 * sizeof(uint32_t));
	if ((mem = calloc(1, sz == 0 ? 1 : sz)) == NULL)
		return -1;
	balancer_state_free(st);
	st->current = (int64_t *)mem;
	st->ids = (uint64_t *)(mem + n * sizeof(int64_t));
	st->weight = (uint32_t *)(mem + n * (sizeof(int64_t) +
	    sizeof(uint64_t)));
	st->inflight = st->weight + n;
	for (i = 0; i < n; i++)
		st->weight[i] = (weights == NULL || weights[i] == 0) ?
		    1 : weights[i];
	st->n = n;
	st->fingerprint = fingerprint;
	st->base = NULL;
	st->generation = 0;
	/* Advance to this worker's starting point (equal weights: r mod n). */
	for (i = 0; n > 0 && i < balancer_rotation % n; i++)
		(void)balancer_swrr(st, NULL, 0);
	return 0;
}

/*
 * One smooth weighted round-robin step over the endpoints of <st> not in
 * <tried>.  Returns the chosen index or -1 when none is left.
 */
static int
balancer_swrr(struct balancer_state *st, const uint32_t *tried, size_t ntried)
{
	int64_t total = 0;
	size_t i, k;
	int best = -1;

	for (i = 0; i < st->n; i++) {
		for (k = 0; k < ntried; k++)
			if (tried[k] == i)
				break;
		if (k < ntried)
			continue;
		st->current[i] += st->weight[i];
		total += st->weight[i];
		if (best == -1 || st->current[i] > st->current[best])
			best = (int)i;
	}
	if (best != -1)
		st->current[best] -= total;
	return best;
}

/*
 * current[] means smooth-WRR weights under round-robin and pick counts
 * otherwise: a policy change starts it afresh.
 */
static void
balancer_set_policy(struct balancer_state *st, uint32_t policy)
{
	if (st->policy != policy)
		memset(st->current, 0, st->n * sizeof(*st->current));
	st->policy = policy;
}

/* xorshift64*: the two choices, nothing secret. */
static uint64_t
balancer_random(void)
{
	balancer_rng ^= balancer_rng >> 12;
	balancer_rng ^= balancer_rng << 25;
	balancer_rng ^= balancer_rng >> 27;
	return balancer_rng * 2685821657736338717ULL;
}

/*
 * Marks the <nskip> indices of <skip> below <n> in the scratch map.
 * Returns how many endpoints are left, or -1 when out of memory.  The
 * map grows to the largest backend once.
 */
static ssize_t
balancer_mark(size_t n, const uint32_t *skip, size_t nskip)
{
	uint8_t *nm;
	size_t i, left = n;

	if (n > balancer_skipcap) {
		if ((nm = realloc(balancer_skipmap, n)) == NULL)
			return -1;
		balancer_skipmap = nm;
		balancer_skipcap = n;
	}
	memset(balancer_skipmap, 0, n);
	for (i = 0; i < nskip; i++)
		if (skip[i] < n && !balancer_skipmap[skip[i]]) {
			balancer_skipmap[skip[i]] = 1;
			left--;
		}
	return (ssize_t)left;
}

/* The <k>th endpoint (from 0) the scratch map leaves. */
static int
balancer_nth(size_t n, size_t k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!balancer_skipmap[i] && k-- == 0)
			return (int)i;
	return -1;
}

/*
 * Least request, power of two choices: two endpoints drawn at random
 * among those left, the one with fewer requests in flight per unit of
 * weight wins.  Outside round-robin, current[] counts picks.
 */
static int
balancer_p2c(struct balancer_state *st, const uint32_t *tried,
    size_t ntried)
{
	ssize_t left;
	size_t k1, k2;
	uint64_t la, lb;
	int a, b;

	if ((left = balancer_mark(st->n, tried, ntried)) <= 0)
		return -1;
	k1 = balancer_random() % (size_t)left;
	a = balancer_nth(st->n, k1);
	if (left == 1)
		return a;
	k2 = balancer_random() % (size_t)(left - 1);
	if (k2 >= k1)
		k2++;
	b = balancer_nth(st->n, k2);
	la = (uint64_t)st->inflight[a] * st->weight[b];
	lb = (uint64_t)st->inflight[b] * st->weight[a];
	if (la != lb)
		return lb < la ? b : a;
	/*
	 * A tie (often 0 and 0, when requests do not overlap): the one
	 * picked less per unit of weight, so that sequential requests still
	 * spread by weight instead of by chance.
	 */
	return (int64_t)((uint64_t)st->current[b] * st->weight[a]) <
	    (int64_t)((uint64_t)st->current[a] * st->weight[b]) ? b : a;
}

int
balancer_hrw(const uint64_t *ids, size_t n, uint64_t hash,
    const uint32_t *skip, size_t nskip)
{
	uint64_t best = 0, v, buf[2];
	size_t i;
	int bi = -1;

	if (balancer_mark(n, skip, nskip) <= 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (balancer_skipmap[i])
			continue;
		buf[0] = hash;
		buf[1] = ids[i];
		v = util_hash64(buf, sizeof(buf));
		if (bi == -1 || v > best) {
			best = v;
			bi = (int)i;
		}
	}
	return bi;
}

uint64_t
balancer_endpoint_id(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t key[20];

	memset(key, 0, sizeof(key));
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		key[0] = 4;
		memcpy(key + 2, &sin->sin_port, 2);
		memcpy(key + 4, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		key[0] = 6;
		memcpy(key + 2, &sin6->sin6_port, 2);
		memcpy(key + 4, &sin6->sin6_addr, 16);
	}
	return util_hash64(key, sizeof(key));
}

/* Counts the request in on endpoint <i> of <st> and fills <out>. */
static int
balancer_take(struct balancer_state *st, int i, struct balancer_pick *out)
{
	if (i < 0)
		return -1;
	st->inflight[i]++;
	st->current[i]++;	/* picks: balancer_p2c()'s ties */
	out->key = st->key;
	out->fingerprint = st->fingerprint;
	out->index = (uint32_t)i;
	return 0;
}

static int
balancer_finish(struct balancer_state *st, const uint32_t *tried,
    size_t ntried, struct balancer_pick *out)
{
	int i;

	if (st->policy == ROUTE_POLICY_LEAST_REQUEST)
		return balancer_take(st, balancer_p2c(st, tried, ntried), out);
	if ((i = balancer_swrr(st, tried, ntried)) == -1)
		return -1;
	st->inflight[i]++;
	out->key = st->key;
	out->fingerprint = st->fingerprint;
	out->index = (uint32_t)i;
	return 0;
}

int
balancer_pick_weights(uint64_t key, uint64_t fingerprint,
    const uint32_t *weights, size_t n, const uint32_t *tried, size_t ntried,
    struct balancer_pick *out)
{
	return balancer_pick_policy(key, fingerprint,
	    ROUTE_POLICY_ROUND_ROBIN, weights, n, tried, ntried, out);
}

int
balancer_pick_policy(uint64_t key, uint64_t fingerprint, uint32_t policy,
    const uint32_t *weights, size_t n, const uint32_t *tried, size_t ntried,
    struct balancer_pick *out)
{
	struct balancer_state *st;

	if (n == 0)
		return -1;
	key = balancer_key(key);
	if ((st = balancer_lookup(key)) == NULL &&
	    (st = balancer_insert(key)) == NULL)
		return -1;
	if (st->current == NULL || st->fingerprint != fingerprint ||
	    st->n != n) {
		if (balancer_state_reset(st, fingerprint, weights, n) == -1)
			return -1;
	}
	balancer_set_policy(st, policy);
	return balancer_finish(st, tried, ntried, out);
}

/*
 * Fingerprint of the endpoint list of <b>: family, port, address and
 * weight of each endpoint, in order.
 */
static uint64_t
balancer_fingerprint(const struct snapshot *s, const struct snapshot_backend *b)
{
	struct snapshot_endpoint ep;
	uint64_t h = 1469598103934665603ull;
	uint32_t i;
	socklen_t len;

	for (i = 0; i < b->nendpoints; i++) {
		snapshot_endpoint(s, b->first_endpoint + i, &ep);
		len = ep.addrlen;
		if (ep.addr.ss_family == AF_INET)
			len = sizeof(struct sockaddr_in);
		else if (ep.addr.ss_family == AF_INET6)
			len = sizeof(struct sockaddr_in6);
		if (len > sizeof(ep.addr))
			len = sizeof(ep.addr);
		h = (h ^ util_hash64(&ep.addr, len)) * 1099511628211ull;
		h = (h ^ ep.weight) * 1099511628211ull;
	}
	return h;
}

/*
 * The hash and sticky policies: the endpoint <req> leads to among those
 * not in <tried>, or -1 to fall back on least-request.
 */
static int
balancer_keyed(struct balancer_state *st, uint32_t policy,
    const struct balancer_req *req, const uint32_t *tried, size_t ntried)
{
	size_t i, k;

	if (req == NULL)
		return -1;
	switch (policy) {
	case ROUTE_POLICY_HASH_SOURCE:
	case ROUTE_POLICY_HASH_HEADER:
	case ROUTE_POLICY_HASH_COOKIE:
		if (!req->has_hash)
			return -1;
		return balancer_hrw(st->ids, st->n, req->hash, tried, ntried);
	case ROUTE_POLICY_STICKY_COOKIE:
		if (!req->has_sticky)
			return -1;
		for (i = 0; i < st->n; i++) {
			if (st->ids[i] != req->sticky)
				continue;
			for (k = 0; k < ntried; k++)
				if (tried[k] == i)
					return -1;
			return (int)i;
		}
		return -1;
	}
	return -1;
}

int
balancer_pick(const struct snapshot *s, const struct snapshot_backend *b,
    const struct balancer_req *req, const uint32_t *tried, size_t ntried,
    struct balancer_pick *out)
{
	struct snapshot_endpoint ep;
	struct balancer_state *st;
	uint64_t key, fp;
	uint32_t i;
	int k;

	if (b->nendpoints == 0)
		return -1;
	key = balancer_key(util_hash64(b->name, b->namelen));
	st = balancer_lookup(key);
	/* Fast path: this very snapshot was checked already. */
	if (st != NULL && st->current != NULL && st->base == s->base &&
	    st->generation == s->generation && st->bindex == b->index &&
	    st->n == b->nendpoints)
		goto pick;

	if (s->generation > balancer_latest_gen)
		balancer_latest_gen = s->generation;
	fp = balancer_fingerprint(s, b);
	if (st == NULL && (st = balancer_insert(key)) == NULL)
		return -1;
	if (st->current == NULL || st->fingerprint != fp ||
	    st->n != b->nendpoints) {
		if (balancer_state_reset(st, fp, NULL, b->nendpoints) == -1)
			return -1;
		for (i = 0; i < b->nendpoints; i++) {
			snapshot_endpoint(s, b->first_endpoint + i, &ep);
			st->weight[i] = ep.weight == 0 ? 1 : ep.weight;
			st->ids[i] = balancer_endpoint_id((struct sockaddr *)
			    &ep.addr);
		}
	}
	st->base = s->base;
	st->generation = s->generation;
	st->bindex = b->index;
 pick:
	balancer_set_policy(st, b->policy == ROUTE_POLICY_ROUND_ROBIN ?
	    ROUTE_POLICY_ROUND_ROBIN : ROUTE_POLICY_LEAST_REQUEST);
	if (b->policy >= ROUTE_POLICY_HASH_SOURCE &&
	    (k = balancer_keyed(st, b->policy, req, tried, ntried)) != -1)
		return balancer_take(st, k, out);
	return balancer_finish(st, tried, ntried, out);
}

void
balancer_done(const struct balancer_pick *p)
{
	struct balancer_state *st;

	if ((st = balancer_lookup(p->key)) == NULL || st->current == NULL ||
	    st->fingerprint != p->fingerprint || p->index >= st->n)
		return;
	if (st->inflight[p->index] > 0)
		st->inflight[p->index]--;
}

uint32_t
balancer_inflight(uint64_t key, uint64_t fingerprint, uint32_t index)
{
	struct balancer_state *st;

	if ((st = balancer_lookup(balancer_key(key))) == NULL ||
	    st->current == NULL || st->fingerprint != fingerprint ||
	    index >= st->n)
		return 0;
	return st->inflight[index];
}

uint32_t
balancer_backend_inflight(const struct snapshot *s,
    const struct snapshot_backend *b, uint32_t index)
{
	struct balancer_state *st;

	st = balancer_lookup(balancer_key(util_hash64(b->name, b->namelen)));
	if (st == NULL || st->current == NULL || index >= st->n)
		return 0;
	/* The state may belong to another endpoint list of that name. */
	if (!(st->base == s->base && st->generation == s->generation &&
	    st->bindex == b->index && st->n == b->nendpoints) &&
	    st->fingerprint != balancer_fingerprint(s, b))
		return 0;
	return st->inflight[index];
}

void
balancer_reset(void)
{
	size_t i;

	for (i = 0; i < balancer_cap; i++)
		balancer_state_free(&balancer_table[i]);
	free(balancer_table);
	balancer_table = NULL;
	free(balancer_skipmap);
	balancer_skipmap = NULL;
	balancer_skipcap = 0;
	balancer_cap = 0;
	balancer_count = 0;
	balancer_latest_gen = 0;
}

void
balancer_set_rotation(unsigned int r)
{
	balancer_rotation = r;
}

/* Refills the retry budget of <st> for the time since its last use. */
static void
balancer_budget_refill(struct balancer_state *st, double now)
{
	if (st->tokens_at == 0)
		st->tokens = BALANCER_RETRY_BURST;
	else if (now > st->tokens_at)
		st->tokens += (now - st->tokens_at) * BALANCER_RETRY_RATE;
	if (st->tokens > BALANCER_RETRY_BURST)
		st->tokens = BALANCER_RETRY_BURST;
	st->tokens_at = now;
}

void
balancer_budget_request(const struct balancer_pick *p, double now)
{
	struct balancer_state *st;

	if ((st = balancer_lookup(p->key)) == NULL)
		return;
	balancer_budget_refill(st, now);
	st->tokens += BALANCER_RETRY_RATIO;
	if (st->tokens > BALANCER_RETRY_BURST)
		st->tokens = BALANCER_RETRY_BURST;
}

int
balancer_budget_retry(const struct balancer_pick *p, double now)
{
	struct balancer_state *st;

	if ((st = balancer_lookup(p->key)) == NULL)
		return -1;
	balancer_budget_refill(st, now);
	if (st->tokens < 1.0)
		return -1;
	st->tokens -= 1.0;
	return 0;
}
