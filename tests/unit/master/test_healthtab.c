/*
 * test_healthtab: unit tests for master/healthtab.c: thousands of DOWN and
 * UP reports in a pseudo-random order against a plain array of states,
 * so that the address index stays right through appends, growth and
 * removals (which move the last entry).
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

#include "common/hcheck.h"
#include "common/ipc.h"
#include "common/log.h"
#include "master/healthtab.h"

#define N	4000

static void
endpoint(struct ipc_health *h, unsigned i, uint32_t state)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&h->addr;

	memset(h, 0, sizeof(*h));
	sin->sin_family = AF_INET;
	/* Few ports, many addresses: keys that differ in one field. */
	sin->sin_port = htons((uint16_t)(8000 + i % 7));
	sin->sin_addr.s_addr = htonl(0x7f000000u + i / 7 + 1);
	h->addrlen = sizeof(*sin);
	h->state = state;
	h->result = state == HC_DOWN ? HC_CONNECT : HC_OK;
}

START_TEST(test_index_agrees_with_states)
{
	static uint8_t down[N];
	struct healthtab t;
	struct ipc_health h;
	uint64_t rng = 88172645463325252ULL;
	unsigned i, step, ndown = 0, want;
	int rc;

	memset(&t, 0, sizeof(t));
	for (step = 0; step < 60000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = (unsigned)(rng % N);
		/* Mostly DOWN early, mostly UP late: the table fills, then
		 * empties through removals. */
		want = (rng >> 32) % 100 < (step < 30000 ? 80u : 20u) ?
		    HC_DOWN : HC_UP;
		endpoint(&h, i, want);
		rc = healthtab_report(&t, &h, NULL);
		ck_assert_int_eq(rc, (want == HC_DOWN) != down[i]);
		if (rc == 1) {
			down[i] = want == HC_DOWN;
			if (down[i])
				ndown++;
			else
				ndown--;
		}
		ck_assert_uint_eq(t.ndown, ndown);
		if (step % 5000 != 4999)
			continue;
		for (i = 0; i < N; i++) {
			endpoint(&h, i, HC_DOWN);
			ck_assert_msg((healthtab_find(&t, (const struct
			    sockaddr *)&h.addr) != NULL) == down[i],
			    "step %u endpoint %u", step, i);
		}
	}
	healthtab_free(&t);
}
END_TEST

/* Backend <b> of <rt> with endpoints first..last (endpoint() numbering). */
static void
backend(struct route_table *rt, size_t bi, unsigned first, unsigned last)
{
	struct route_backend *b = &rt->backends[bi];
	struct ipc_health h;
	unsigned i;

	free(b->endpoints);
	b->nendpoints = last - first + 1;
	ck_assert_ptr_nonnull(b->endpoints = calloc(b->nendpoints,
	    sizeof(*b->endpoints)));
	for (i = first; i <= last; i++) {
		endpoint(&h, i, HC_UP);
		memcpy(&b->endpoints[i - first].addr, &h.addr,
		    sizeof(h.addr));
		b->endpoints[i - first].addrlen = h.addrlen;
	}
}

static unsigned gone_count;

static void
gone(void *arg, const struct ipc_health *h)
{
	(void)arg;
	ck_assert_uint_eq(h->state, HC_UP);
	gone_count++;
}

/*
 * Pruning keeps exactly the DOWN endpoints some backend still lists,
 * through the endpoint index, also when the table changes in place (as
 * the endpoint-only update does) and when backends share endpoints.
 */
START_TEST(test_prune_by_table)
{
	struct route_backend bes[3];
	struct route_table rt;
	struct healthtab t;
	struct ipc_health h;
	unsigned i;

	memset(&rt, 0, sizeof(rt));
	memset(bes, 0, sizeof(bes));
	rt.backends = bes;
	rt.nbackends = 3;
	bes[0].name = "b0";
	bes[1].name = "b1";
	bes[2].name = "b2";
	backend(&rt, 0, 0, 9);
	backend(&rt, 1, 5, 14);		/* shares 5..9 with b0 */
	backend(&rt, 2, 20, 20);
	memset(&t, 0, sizeof(t));
	for (i = 0; i <= 25; i++) {
		endpoint(&h, i, HC_DOWN);
		ck_assert_int_eq(healthtab_report(&t, &h, &rt), 1);
	}
	ck_assert_uint_eq(t.ndown, 26);
	healthtab_prune(&t, &rt, gone, NULL);
	ck_assert_uint_eq(gone_count, 26 - 16);	/* 15..19, 21..25 */

	/* The same table changed in place: b0 0..4, b1 12, no b2. */
	backend(&rt, 0, 0, 4);
	backend(&rt, 1, 12, 12);
	rt.nbackends = 2;
	gone_count = 0;
	healthtab_prune(&t, &rt, gone, NULL);
	ck_assert_uint_eq(t.ndown, 6);
	ck_assert_uint_eq(gone_count, 10);
	for (i = 0; i <= 25; i++) {
		endpoint(&h, i, HC_DOWN);
		ck_assert_msg((healthtab_find(&t, (const struct sockaddr *)
		    &h.addr) != NULL) == (i <= 4 || i == 12), "endpoint %u", i);
	}
	for (i = 0; i < 3; i++)
		free(bes[i].endpoints);
	healthtab_free(&t);
}
END_TEST

static Suite *
healthtab_suite(void)
{
	Suite *s = suite_create("healthtab");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_index_agrees_with_states);
	tcase_add_test(tc, test_prune_by_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(healthtab_suite());
	int failed;

	log_setlevel(LOG_LEVEL_ERROR);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
