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
	double		 tokens;	/* retry budget */
	double		 tokens_at;	/* when last refilled; 0: never */
};

static struct balancer_state	*balancer_table;
static size_t			 balancer_cap;	/* power of two */
static size_t			 balancer_count;
static uint64_t			 balancer_latest_gen;

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

	sz = n * (sizeof(int64_t) + 2 * sizeof(uint32_t));
	if ((mem = calloc(1, sz == 0 ? 1 : sz)) == NULL)
		return -1;
	balancer_state_free(st);
	st->current = (int64_t *)mem;
	st->weight = (uint32_t *)(mem + n * sizeof(int64_t));
	st->inflight = st->weight + n;
	for (i = 0; i < n; i++)
		st->weight[i] = (weights == NULL || weights[i] == 0) ?
		    1 : weights[i];
	st->n = n;
	st->fingerprint = fingerprint;
	st->base = NULL;
	st->generation = 0;
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

static int
balancer_finish(struct balancer_state *st, const uint32_t *tried,
    size_t ntried, struct balancer_pick *out)
{
	int i;

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

int
balancer_pick(const struct snapshot *s, const struct snapshot_backend *b,
    const uint32_t *tried, size_t ntried, struct balancer_pick *out)
{
	struct snapshot_endpoint ep;
	struct balancer_state *st;
	uint64_t key, fp;
	uint32_t i;

	if (b->nendpoints == 0)
		return -1;
	key = balancer_key(util_hash64(b->name, b->namelen));
	st = balancer_lookup(key);
	/* Fast path: this very snapshot was checked already. */
	if (st != NULL && st->current != NULL && st->base == s->base &&
	    st->generation == s->generation && st->bindex == b->index &&
	    st->n == b->nendpoints)
		return balancer_finish(st, tried, ntried, out);

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
		}
	}
	st->base = s->base;
	st->generation = s->generation;
	st->bindex = b->index;
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

void
balancer_reset(void)
{
	size_t i;

	for (i = 0; i < balancer_cap; i++)
		balancer_state_free(&balancer_table[i]);
	free(balancer_table);
	balancer_table = NULL;
	balancer_cap = 0;
	balancer_count = 0;
	balancer_latest_gen = 0;
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
