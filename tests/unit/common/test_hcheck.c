/*
 * test_hcheck: unit tests for common/hcheck.c: the rise/fall machine
 * (table of probe sequences and the transitions they must give) and the
 * result table and descriptions.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hcheck.h"
#include "common/util.h"

/*
 * <probes>: '+' good, '-' bad; <states>: the state after each probe,
 * 'U' or 'D'; <changes>: '!' where a transition is reported, else '.'.
 */
static const struct {
	const char	*name;
	uint32_t	 rise, fall;
	const char	*probes, *states, *changes;
} sm_cases[] = {
	{ "steady up", 2, 3, "+++++", "UUUUU", "....." },
	{ "fall 3", 2, 3, "---", "UUD", "..!" },
	{ "interrupted fall", 2, 3, "--+---", "UUUUUD", ".....!" },
	{ "fall then rise 2", 2, 3, "---++", "UUDDU", "..!.!" },
	{ "rise interrupted", 2, 3, "---+-++", "UUDDDDU", "..!...!" },
	{ "fall 1 rise 1", 1, 1, "-+-+", "DUDU", "!!!!" },
	{ "zero thresholds count as 1", 0, 0, "-+", "DU", "!!" },
	{ "down stays down", 3, 2, "--------", "UDDDDDDD", ".!......" },
	{ "rise 3", 3, 2, "--+++", "UDDDU", ".!..!" },
};

START_TEST(test_machine)
{
	struct hc_machine m;
	const char *p = sm_cases[_i].probes;
	size_t k;
	int changed;

	hc_machine_init(&m);
	ck_assert_uint_eq(m.state, HC_UP);
	for (k = 0; p[k] != '\0'; k++) {
		changed = hc_machine_feed(&m, p[k] == '+', sm_cases[_i].rise,
		    sm_cases[_i].fall);
		ck_assert_msg(changed == (sm_cases[_i].changes[k] == '!'),
		    "%s: probe %zu: changed %d", sm_cases[_i].name, k,
		    changed);
		ck_assert_msg(m.state == (sm_cases[_i].states[k] == 'U' ?
		    HC_UP : HC_DOWN), "%s: probe %zu: state %u",
		    sm_cases[_i].name, k, m.state);
	}
}
END_TEST

START_TEST(test_results)
{
	char buf[128];
	size_t i;

	for (i = 0; i < HC_RESULT_MAX; i++) {
		ck_assert_uint_eq(hc_results[i].result, i);
		ck_assert_ptr_nonnull(hc_results[i].code);
		ck_assert_ptr_nonnull(hc_results[i].text);
	}
	ck_assert_str_eq(hc_describe(HC_STATUS, 500, buf, sizeof(buf)),
	    "HTTP 500");
	ck_assert_str_eq(hc_describe(HC_TIMEOUT, 0, buf, sizeof(buf)),
	    "timeout");
	ck_assert_str_eq(hc_describe(HC_CONNECT, ECONNREFUSED, buf,
	    sizeof(buf)), "connect: Connection refused");
	ck_assert_str_eq(hc_describe(HC_CONNECT, 0, buf, sizeof(buf)),
	    "connect");
	ck_assert_str_eq(hc_describe(HC_TLS, 0, buf, sizeof(buf)),
	    "TLS handshake");
	ck_assert_str_eq(hc_describe(HC_TLS, 20, buf, sizeof(buf)),
	    "TLS handshake: certificate verify error 20");
	ck_assert_str_eq(hc_describe(99, 0, buf, sizeof(buf)), "result 99");
	ck_assert_str_eq(hc_describe(HC_CLOSED, 0, buf, 7), "closed");
}
END_TEST

static Suite *
hcheck_suite(void)
{
	Suite *s = suite_create("hcheck");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_machine, 0, (int)UTIL_NELEM(sm_cases));
	tcase_add_test(tc, test_results);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hcheck_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
