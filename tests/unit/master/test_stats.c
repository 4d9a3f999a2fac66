/*
 * test_stats: unit tests for master/stats.c: reports from several
 * workers add up, a replaced worker's counters stay (monotonic), gauges
 * of a dead worker go, bad memfds are refused, and the rendering names
 * the series with their labels.
 */
#include "config.h"

#include <sys/mman.h>

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mreport.h"
#include "common/promtext.h"
#include "master/stats.h"

#ifndef F_SEAL_SEAL
#include <linux/fcntl.h>
#endif

/* A sealed memfd holding a report of <requests> requests to one host,
 * backend and endpoint, with <conns> connections; <size> set. */
static int
report_fd(uint64_t requests, uint64_t conns, int seal, uint64_t *size)
{
	struct mreport r;
	struct mreport_host h = { "a.example.com", { 0, 0, 0, 0, 0 } };
	struct mreport_backend b;
	struct mreport_endpoint e;
	uint8_t *buf;
	size_t len;
	int fd;

	memset(&r, 0, sizeof(r));
	memset(&b, 0, sizeof(b));
	memset(&e, 0, sizeof(e));
	h.classes[1] = requests;
	b.name = "default/web:80";
	b.classes[1] = requests;
	e.addr = "127.0.0.1:9";
	e.requests = requests;
	e.inflight = 1;
	r.requests = requests;
	r.conns_active = conns;
	mreport_observe(&r.req, 0.01);
	r.hosts = &h;
	r.nhosts = 1;
	r.backends = &b;
	r.nbackends = 1;
	r.endpoints = &e;
	r.nendpoints = 1;
	ck_assert_int_eq(mreport_encode(&r, &buf, &len), 0);
	fd = memfd_create("t", MFD_ALLOW_SEALING);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	if (seal)
		ck_assert_int_ne(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE |
		    F_SEAL_SHRINK | F_SEAL_GROW), -1);
	free(buf);
	*size = len;
	return fd;
}

static char *
render(struct stats *st)
{
	struct promtext pt;
	char *s;

	stats_aggregate(st);
	promtext_init(&pt);
	stats_render(st, NULL, NULL, &pt);
	ck_assert(!pt.bad);
	s = strdup(pt.p);
	promtext_free(&pt);
	return s;
}

START_TEST(test_aggregate)
{
	struct stats *st = stats_new();
	uint64_t size;
	char *s;
	int fd;

	fd = report_fd(5, 2, 1, &size);
	ck_assert_int_eq(stats_report(st, 0, 100, fd, size), 0);
	fd = report_fd(3, 1, 1, &size);
	ck_assert_int_eq(stats_report(st, 1, 101, fd, size), 0);
	s = render(st);
	ck_assert_ptr_nonnull(strstr(s, "\ningressd_requests_total 8\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_host_requests_total{"
	    "host=\"a.example.com\",status_class=\"2xx\"} 8\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_backend_requests_total{"
	    "backend=\"default/web:80\",status_class=\"2xx\"} 8\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_endpoint_requests_total{"
	    "backend=\"default/web:80\",endpoint=\"127.0.0.1:9\"} 8\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_endpoint_in_flight{"
	    "backend=\"default/web:80\",endpoint=\"127.0.0.1:9\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_connections{state="
	    "\"active\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_request_duration_seconds_"
	    "bucket{le=\"0.01\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_request_duration_seconds_"
	    "count 2\n"));
	free(s);

	/* Worker 0 replaced: its 5 stay, the new one counts from 0. */
	fd = report_fd(1, 0, 1, &size);
	ck_assert_int_eq(stats_report(st, 0, 200, fd, size), 0);
	s = render(st);
	ck_assert_ptr_nonnull(strstr(s, "\ningressd_requests_total 9\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_connections{state="
	    "\"active\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(s, "ingressd_endpoint_in_flight{"
	    "backend=\"default/web:80\",endpoint=\"127.0.0.1:9\"} 2\n"));
	free(s);
	stats_transition(st, 0);
	s = render(st);
	ck_assert_ptr_nonnull(strstr(s, "ingressd_health_transitions_total{"
	    "to=\"down\"} 1\n"));
	free(s);
	stats_free(st);
}
END_TEST

START_TEST(test_refusals)
{
	struct stats *st = stats_new();
	uint64_t size;
	int fd;

	fd = report_fd(5, 2, 0, &size);		/* not sealed */
	ck_assert_int_eq(stats_report(st, 0, 100, fd, size), -1);
	fd = report_fd(5, 2, 1, &size);		/* size lies */
	ck_assert_int_eq(stats_report(st, 0, 100, fd, size + 1), -1);
	fd = report_fd(5, 2, 1, &size);
	ck_assert_int_eq(stats_report(st, -1, 100, fd, size), -1);
	stats_free(st);
}
END_TEST

static Suite *
stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_aggregate);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
