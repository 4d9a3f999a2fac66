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

static Suite *
healthtab_suite(void)
{
	Suite *s = suite_create("healthtab");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_index_agrees_with_states);
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
