/*
 * test_promtext: unit tests for common/promtext.c: label escaping, HELP
 * and TYPE lines, and histogram bucket math (cumulative, +Inf equal to
 * _count).
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/promtext.h"

START_TEST(test_escape)
{
	struct promtext pt;
	struct promtext_label l[2] = {
		{ "host", "a\"b\\c\nd" }, { "x", "" },
	};

	promtext_init(&pt);
	promtext_u64(&pt, "m_total", l, 2, 7);
	ck_assert_str_eq(pt.p, "m_total{host=\"a\\\"b\\\\c\\nd\",x=\"\"} 7\n");
	promtext_free(&pt);
}
END_TEST

START_TEST(test_family)
{
	struct promtext pt;

	promtext_init(&pt);
	promtext_family(&pt, "m", "gauge", "with \\ and\nnewline, \"quotes\"");
	promtext_double(&pt, "m", NULL, 0, 1.5);
	ck_assert_str_eq(pt.p, "# HELP m with \\\\ and\\nnewline, \"quotes\"\n"
	    "# TYPE m gauge\nm 1.5\n");
	promtext_free(&pt);
}
END_TEST

START_TEST(test_histogram)
{
	static const double bounds[3] = { 0.005, 0.25, 1 };
	static const uint64_t counts[4] = { 2, 0, 3, 4 };
	struct promtext_label l = { "b", "x" };
	struct promtext pt;

	promtext_init(&pt);
	promtext_histogram(&pt, "h", &l, 1, bounds, 3, counts, 2.5);
	ck_assert_str_eq(pt.p,
	    "h_bucket{b=\"x\",le=\"0.005\"} 2\n"
	    "h_bucket{b=\"x\",le=\"0.25\"} 2\n"
	    "h_bucket{b=\"x\",le=\"1\"} 5\n"
	    "h_bucket{b=\"x\",le=\"+Inf\"} 9\n"
	    "h_sum{b=\"x\"} 2.5\n"
	    "h_count{b=\"x\"} 9\n");
	promtext_free(&pt);
	promtext_init(&pt);
	promtext_histogram(&pt, "h", NULL, 0, bounds, 3, counts, 0);
	ck_assert_ptr_nonnull(strstr(pt.p, "h_bucket{le=\"+Inf\"} 9\n"));
	ck_assert_ptr_nonnull(strstr(pt.p, "h_count 9\n"));
	promtext_free(&pt);
}
END_TEST

START_TEST(test_special_values)
{
	struct promtext pt;

	promtext_init(&pt);
	promtext_double(&pt, "a", NULL, 0, 1.0 / 0.0);
	promtext_double(&pt, "b", NULL, 0, 0.0 / 0.0);
	promtext_u64(&pt, "c", NULL, 0, UINT64_MAX);
	ck_assert_str_eq(pt.p, "a +Inf\nb NaN\nc 18446744073709551615\n");
	promtext_free(&pt);
}
END_TEST

static Suite *
promtext_suite(void)
{
	Suite *s = suite_create("promtext");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_family);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_special_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(promtext_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
