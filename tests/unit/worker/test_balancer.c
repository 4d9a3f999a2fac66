/*
 * test_balancer: unit tests for worker/balancer.c: smooth weighted
 * round-robin distribution and order, exclusion of tried endpoints,
 * in-flight counters, and state kept across a snapshot swap for a backend
 * that did not change (and reset for one that did).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "worker/balancer.h"

static int
pick(uint64_t key, uint64_t fp, const uint32_t *w, size_t n,
    const uint32_t *tried, size_t ntried)
{
	struct balancer_pick p;

	if (balancer_pick_weights(key, fp, w, n, tried, ntried, &p) == -1)
		return -1;
	ck_assert_uint_eq(p.fingerprint, fp);
	balancer_done(&p);
	return (int)p.index;
}

START_TEST(test_equal_weights)
{
	const uint32_t w[3] = { 1, 1, 1 };
	int counts[3] = { 0, 0, 0 }, i, prev = -1, r;

	balancer_reset();
	for (i = 0; i < 300; i++) {
		r = pick(42, 7, w, 3, NULL, 0);
		ck_assert_int_ge(r, 0);
		ck_assert_int_lt(r, 3);
		ck_assert_int_ne(r, prev);	/* plain rotation */
		prev = r;
		counts[r]++;
	}
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(counts[i], 100);
	balancer_reset();
}
END_TEST

/* Worker r starts every new backend at endpoint r mod n, then rotates. */
START_TEST(test_rotation_per_worker)
{
	const uint32_t w[3] = { 1, 1, 1 };
	unsigned int r;

	for (r = 0; r < 7; r++) {
		balancer_reset();
		balancer_set_rotation(r);
		ck_assert_int_eq(pick(9, 1, w, 3, NULL, 0), (int)(r % 3));
		ck_assert_int_eq(pick(9, 1, w, 3, NULL, 0),
		    (int)((r + 1) % 3));
		/* A single endpoint is always the pick. */
		ck_assert_int_eq(pick(10, 1, w, 1, NULL, 0), 0);
	}
	balancer_set_rotation(0);
	balancer_reset();
}
END_TEST

START_TEST(test_zero_weight_counts_as_one)
{
	const uint32_t w[2] = { 0, 1 };
	int counts[2] = { 0, 0 }, i;

	balancer_reset();
	for (i = 0; i < 10; i++)
		counts[pick(1, 1, w, 2, NULL, 0)]++;
	ck_assert_int_eq(counts[0], 5);
	ck_assert_int_eq(counts[1], 5);
	balancer_reset();
}
END_TEST

START_TEST(test_smooth_weights)
{
	/* nginx's example: weights 5,1,1 give a a b a c a a. */
	const uint32_t w[3] = { 5, 1, 1 };
	const int want[7] = { 0, 0, 1, 0, 2, 0, 0 };
	int counts[3] = { 0, 0, 0 }, i;

	balancer_reset();
	for (i = 0; i < 7; i++)
		ck_assert_int_eq(pick(9, 9, w, 3, NULL, 0), want[i]);
	for (i = 0; i < 700; i++)
		counts[pick(9, 9, w, 3, NULL, 0)]++;
	ck_assert_int_eq(counts[0], 500);
	ck_assert_int_eq(counts[1], 100);
	ck_assert_int_eq(counts[2], 100);
	balancer_reset();
}
END_TEST

START_TEST(test_exclusion)
{
	const uint32_t w[4] = { 1, 3, 1, 1 };
	uint32_t tried[4];
	int i, r, seen[4];

	balancer_reset();
	/* Never the excluded ones. */
	tried[0] = 1;
	tried[1] = 3;
	for (i = 0; i < 100; i++) {
		r = pick(5, 5, w, 4, tried, 2);
		ck_assert(r == 0 || r == 2);
	}
	/* Trying each at most once reaches every endpoint, then stops. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 4; i++) {
		r = pick(5, 5, w, 4, tried, i);
		ck_assert_int_ge(r, 0);
		ck_assert_int_eq(seen[r], 0);
		seen[r] = 1;
		tried[i] = r;
	}
	ck_assert_int_eq(pick(5, 5, w, 4, tried, 4), -1);
	/* No endpoints at all. */
	ck_assert_int_eq(pick(6, 6, w, 0, NULL, 0), -1);
	balancer_reset();
}
END_TEST

START_TEST(test_inflight)
{
	const uint32_t w[2] = { 1, 1 };
	struct balancer_pick a, b;

	balancer_reset();
	ck_assert_int_eq(balancer_pick_weights(3, 4, w, 2, NULL, 0, &a), 0);
	ck_assert_int_eq(balancer_pick_weights(3, 4, w, 2, NULL, 0, &b), 0);
	ck_assert_uint_ne(a.index, b.index);
	ck_assert_uint_eq(balancer_inflight(3, 4, a.index), 1);
	ck_assert_uint_eq(balancer_inflight(3, 4, b.index), 1);
	balancer_done(&a);
	ck_assert_uint_eq(balancer_inflight(3, 4, a.index), 0);
	balancer_done(&a);	/* never below zero */
	ck_assert_uint_eq(balancer_inflight(3, 4, a.index), 0);
	/* A reset (new fingerprint) makes old picks harmless. */
	ck_assert_int_eq(balancer_pick_weights(3, 5, w, 2, NULL, 0, &a), 0);
	balancer_done(&b);
	ck_assert_uint_eq(balancer_inflight(3, 5, a.index), 1);
	balancer_reset();
}
END_TEST

START_TEST(test_many_backends)
{
	const uint32_t w[2] = { 1, 1 };
	uint64_t k;
	int first[500];

	/* Table growth keeps every backend's state. */
	balancer_reset();
	for (k = 0; k < 500; k++)
		first[k] = pick(k * 7919 + 1, 1, w, 2, NULL, 0);
	for (k = 0; k < 500; k++)
		ck_assert_int_eq(pick(k * 7919 + 1, 1, w, 2, NULL, 0),
		    1 - first[k]);
	balancer_reset();
}
END_TEST

/* ---- through real snapshots ---- */

static void
add_backend(struct route_table *rt, const char *name, const char **ips,
    size_t n)
{
	struct route_backend *b;
	struct sockaddr_in *sin;
	size_t i;

	rt->backends = realloc(rt->backends,
	    (rt->nbackends + 1) * sizeof(*rt->backends));
	ck_assert_ptr_nonnull(rt->backends);
	b = &rt->backends[rt->nbackends++];
	memset(b, 0, sizeof(*b));
	b->name = strdup(name);
	b->endpoints = calloc(n, sizeof(*b->endpoints));
	ck_assert_ptr_nonnull(b->endpoints);
	b->nendpoints = n;
	for (i = 0; i < n; i++) {
		sin = (struct sockaddr_in *)&b->endpoints[i].addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(8080);
		ck_assert_int_eq(inet_pton(AF_INET, ips[i], &sin->sin_addr), 1);
		b->endpoints[i].addrlen = sizeof(*sin);
		b->endpoints[i].weight = 1;
	}
}

/* Builds and opens a snapshot holding the given backends. */
static void *
make_snapshot(struct snapshot *s, uint64_t gen, int extra_first,
    const char **ips, size_t n)
{
	static const char *other[] = { "10.9.9.9" };
	struct route_table rt;
	char err[256];
	void *blob;
	size_t len;

	memset(&rt, 0, sizeof(rt));
	rt.default_backend = -1;
	if (extra_first)
		add_backend(&rt, "ns/other:80", other, 1);
	add_backend(&rt, "ns/web:80", ips, n);
	ck_assert_msg(snapshot_encode(&rt, gen, &blob, &len, err,
	    sizeof(err)) == 0, "%s", err);
	route_table_free(&rt);
	ck_assert_msg(snapshot_open(s, blob, len, err, sizeof(err)) == 0,
	    "%s", err);
	return blob;
}

static uint32_t
find_web(const struct snapshot *s, struct snapshot_backend *b)
{
	uint32_t i;

	for (i = 0; i < s->nbackends; i++) {
		snapshot_backend(s, i, b);
		if (b->namelen == 9 && memcmp(b->name, "ns/web:80", 9) == 0)
			return i;
	}
	ck_abort_msg("backend not found");
	return 0;
}

static int
snap_pick(const struct snapshot *s)
{
	struct snapshot_backend b;
	struct balancer_pick p;

	find_web(s, &b);
	ck_assert_int_eq(balancer_pick(s, &b, NULL, NULL, 0, &p), 0);
	balancer_done(&p);
	return (int)p.index;
}

START_TEST(test_snapshot_swap)
{
	const char *ips3[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3" };
	const char *ips2[] = { "10.0.0.1", "10.0.0.4" };
	struct snapshot s1, s2, s3;
	void *b1, *b2, *b3;
	int a, b, c, d;

	balancer_reset();
	b1 = make_snapshot(&s1, 1, 0, ips3, 3);
	/* Same backend, same endpoints, but at another index. */
	b2 = make_snapshot(&s2, 2, 1, ips3, 3);
	/* Same backend name, other endpoints. */
	b3 = make_snapshot(&s3, 3, 0, ips2, 2);

	a = snap_pick(&s1);
	b = snap_pick(&s1);
	ck_assert_int_ne(a, b);
	/* The rotation goes on after the swap: the third one comes next. */
	c = snap_pick(&s2);
	ck_assert_int_ne(c, a);
	ck_assert_int_ne(c, b);
	ck_assert_int_eq(snap_pick(&s2), a);
	/* A changed endpoint list starts over. */
	d = snap_pick(&s3);
	ck_assert_int_eq(d, 0);
	ck_assert_int_eq(snap_pick(&s3), 1);
	ck_assert_int_eq(snap_pick(&s3), 0);

	free(b1);
	free(b2);
	free(b3);
	balancer_reset();
}
END_TEST

/*
 * Least request, two choices: with requests never finishing, the loads
 * stay within one of each other (a third endpoint twice as heavy gets
 * about twice the requests), and an endpoint with requests stuck in
 * flight gets few new ones.
 */
START_TEST(test_least_request)
{
	const uint32_t w[3] = { 1, 1, 2 };
	const uint32_t w4[4] = { 1, 1, 1, 1 };
	struct balancer_pick p;
	uint32_t count[4] = { 0 };
	int i;

	balancer_reset();
	for (i = 0; i < 400; i++) {
		ck_assert_int_eq(balancer_pick_policy(5, 1,
		    ROUTE_POLICY_LEAST_REQUEST, w, 3, NULL, 0, &p), 0);
		count[p.index]++;
	}
	/* Never released: in flight == count; per weight within ~1. */
	ck_assert_int_le(abs((int)count[0] - (int)count[1]), 2);
	ck_assert_int_le(abs((int)count[2] - 2 * (int)count[0]), 6);
	/* Endpoint 0 has 100 stuck requests; others finish at once. */
	balancer_reset();
	memset(count, 0, sizeof(count));
	for (i = 0; i < 100; i++) {
		balancer_pick_policy(6, 1, ROUTE_POLICY_ROUND_ROBIN, w4, 4,
		    (const uint32_t []){ 1, 2, 3 }, 3, &p);
		ck_assert_uint_eq(p.index, 0);
	}
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(balancer_pick_policy(6, 1,
		    ROUTE_POLICY_LEAST_REQUEST, w4, 4, NULL, 0, &p), 0);
		count[p.index]++;
		if (p.index != 0)
			balancer_done(&p);
	}
	/* Chosen only when both draws are endpoint 0: never (distinct). */
	ck_assert_uint_eq(count[0], 0);
	ck_assert_uint_gt(count[1], 250);
	ck_assert_uint_gt(count[2], 250);
	ck_assert_uint_gt(count[3], 250);
	/* Sequential requests (all ties): spread by weight, not chance. */
	balancer_reset();
	memset(count, 0, sizeof(count));
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(balancer_pick_policy(8, 1,
		    ROUTE_POLICY_LEAST_REQUEST, w4, 2, NULL, 0, &p), 0);
		count[p.index]++;
		balancer_done(&p);
	}
	ck_assert_uint_eq(count[0], 10);
	ck_assert_uint_eq(count[1], 10);
	memset(count, 0, sizeof(count));
	for (i = 0; i < 400; i++) {
		ck_assert_int_eq(balancer_pick_policy(9, 1,
		    ROUTE_POLICY_LEAST_REQUEST, w, 3, NULL, 0, &p), 0);
		count[p.index]++;
		balancer_done(&p);
	}
	ck_assert_uint_ge(count[0], 80);
	ck_assert_uint_ge(count[1], 80);
	ck_assert_uint_ge(count[2], 160);
	/* A switch to round-robin starts its weights afresh. */
	for (i = 0, count[3] = 0; i < 4; i++) {
		balancer_pick_policy(9, 1, ROUTE_POLICY_ROUND_ROBIN, w, 3,
		    NULL, 0, &p);
		count[3] += p.index == 2;
		balancer_done(&p);
	}
	ck_assert_uint_eq(count[3], 2);
	/* Exclusions hold. */
	balancer_pick_policy(6, 1, ROUTE_POLICY_ROUND_ROBIN, w4, 4, NULL, 0,
	    &p);
	ck_assert_int_eq(balancer_pick_policy(6, 1,
	    ROUTE_POLICY_LEAST_REQUEST, w4, 4, (const uint32_t []){ 0, 1, 3 },
	    3, &p), 0);
	ck_assert_uint_eq(p.index, 2);
	ck_assert_int_eq(balancer_pick_policy(6, 1,
	    ROUTE_POLICY_LEAST_REQUEST, w4, 4,
	    (const uint32_t []){ 0, 1, 2, 3 }, 4, &p), -1);
	balancer_reset();
}
END_TEST

/*
 * Consistent hashing (rendezvous): removing one of N endpoints moves only
 * the keys it had (about 1/N), adding one moves about 1/(N+1), all to
 * it; a skipped endpoint's keys go elsewhere, the rest stay.
 */
START_TEST(test_hash_remap)
{
	enum { N = 10, KEYS = 20000 };
	uint64_t ids[N + 1];
	uint32_t skip[1];
	int i, k, a, b, moved, count[N + 1];
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8080);
	for (i = 0; i <= N; i++) {
		sin.sin_addr.s_addr = htonl(0x0a000001 + i);
		ids[i] = balancer_endpoint_id((struct sockaddr *)&sin);
	}
	memset(count, 0, sizeof(count));
	for (k = 0; k < KEYS; k++)
		count[balancer_hrw(ids, N, (uint64_t)k * 0x9e3779b97f4a7c15ULL,
		    NULL, 0)]++;
	for (i = 0; i < N; i++)
		ck_assert_msg(count[i] > KEYS / N * 8 / 10 &&
		    count[i] < KEYS / N * 12 / 10, "endpoint %d: %d keys", i,
		    count[i]);
	/* Remove endpoint 3 (skip it): only its keys move. */
	skip[0] = 3;
	for (k = 0, moved = 0; k < KEYS; k++) {
		a = balancer_hrw(ids, N, (uint64_t)k * 0x9e3779b97f4a7c15ULL,
		    NULL, 0);
		b = balancer_hrw(ids, N, (uint64_t)k * 0x9e3779b97f4a7c15ULL,
		    skip, 1);
		ck_assert_int_ne(b, 3);
		if (a != b) {
			ck_assert_int_eq(a, 3);
			moved++;
		}
	}
	ck_assert_msg(moved > KEYS / N * 8 / 10 && moved < KEYS / N * 12 / 10,
	    "removing 1 of %d moved %d of %d keys", N, moved, KEYS);
	/* Add an eleventh: about 1/11 move, all to it. */
	for (k = 0, moved = 0; k < KEYS; k++) {
		a = balancer_hrw(ids, N, (uint64_t)k * 0x9e3779b97f4a7c15ULL,
		    NULL, 0);
		b = balancer_hrw(ids, N + 1, (uint64_t)k *
		    0x9e3779b97f4a7c15ULL, NULL, 0);
		if (a != b) {
			ck_assert_int_eq(b, N);
			moved++;
		}
	}
	ck_assert_msg(moved > KEYS / (N + 1) * 8 / 10 &&
	    moved < KEYS / (N + 1) * 12 / 10,
	    "adding an endpoint to %d moved %d of %d keys", N, moved, KEYS);
	/* Everything skipped: none. */
	ck_assert_int_eq(balancer_hrw(ids, 1, 7, (const uint32_t []){ 0 }, 1),
	    -1);
	balancer_reset();
}
END_TEST

/* The retry budget: a burst, then 20% of requests plus 3 per second. */
START_TEST(test_retry_budget)
{
	const uint32_t w[2] = { 1, 1 };
	struct balancer_pick p;
	double t = 100.0;
	int i, ok;

	balancer_reset();
	ck_assert_int_eq(balancer_pick_weights(77, 1, w, 2, NULL, 0, &p), 0);
	/* A full bucket at first. */
	for (i = 0, ok = 0; i < 100; i++)
		ok += balancer_budget_retry(&p, t) == 0;
	ck_assert_int_eq(ok, (int)BALANCER_RETRY_BURST);
	/* 100 requests earn 20 retries (the bucket holds 10). */
	for (i = 0; i < 100; i++)
		balancer_budget_request(&p, t);
	for (i = 0, ok = 0; i < 100; i++)
		ok += balancer_budget_retry(&p, t) == 0;
	ck_assert_int_eq(ok, 10);
	for (i = 0; i < 40; i++)
		balancer_budget_request(&p, t);
	for (i = 0, ok = 0; i < 100; i++)
		ok += balancer_budget_retry(&p, t) == 0;
	ck_assert_int_eq(ok, 8);
	/* Time earns 3 per second. */
	t += 2.0;
	for (i = 0, ok = 0; i < 100; i++)
		ok += balancer_budget_retry(&p, t) == 0;
	ck_assert_int_eq(ok, 6);
	/* An unknown backend has no budget. */
	p.key = 12345;
	ck_assert_int_eq(balancer_budget_retry(&p, t), -1);
	balancer_budget_request(&p, t);
	balancer_reset();
}
END_TEST

static Suite *
balancer_suite(void)
{
	Suite *s = suite_create("balancer");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_equal_weights);
	tcase_add_test(tc, test_rotation_per_worker);
	tcase_add_test(tc, test_zero_weight_counts_as_one);
	tcase_add_test(tc, test_smooth_weights);
	tcase_add_test(tc, test_exclusion);
	tcase_add_test(tc, test_inflight);
	tcase_add_test(tc, test_many_backends);
	tcase_add_test(tc, test_snapshot_swap);
	tcase_add_test(tc, test_retry_budget);
	tcase_add_test(tc, test_least_request);
	tcase_add_test(tc, test_hash_remap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(balancer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
