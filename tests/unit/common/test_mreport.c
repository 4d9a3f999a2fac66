/*
 * test_mreport: unit tests for common/mreport.c and common/statusdoc.c:
 * round trips, bucket choice, and refusals of truncated, trailing and
 * out-of-range input.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mreport.h"
#include "common/statusdoc.h"

static void
sample(struct mreport *r, struct mreport_host *h, struct mreport_backend *b,
    struct mreport_endpoint *e)
{
	memset(r, 0, sizeof(*r));
	memset(h, 0, sizeof(*h));
	memset(b, 0, sizeof(*b));
	memset(e, 0, sizeof(*e));
	r->conns_active = 4;
	r->requests = 9;
	h->name = "a.example.com";
	h->classes[1] = 8;
	h->classes[4] = 1;
	b->name = "default/web:80";
	b->classes[1] = 8;
	b->connect_errors = 2;
	e->backend = 0;
	e->addr = "127.0.0.1:8080";
	e->requests = 9;
	e->inflight = 1;
	r->hosts = h;
	r->nhosts = 1;
	r->backends = b;
	r->nbackends = 1;
	r->endpoints = e;
	r->nendpoints = 1;
}

START_TEST(test_roundtrip)
{
	struct mreport r, d;
	struct mreport_host h;
	struct mreport_backend b;
	struct mreport_endpoint e;
	uint8_t *buf;
	size_t len;
	char err[128];

	sample(&r, &h, &b, &e);
	mreport_observe(&r.req, 0.003);
	mreport_observe(&r.req, 0.005);		/* le is inclusive */
	mreport_observe(&r.req, 0.3);
	mreport_observe(&r.req, 99);
	ck_assert_int_eq(r.req.counts[0], 2);
	ck_assert_int_eq(r.req.counts[6], 1);	/* 0.5 */
	ck_assert_int_eq(r.req.counts[MREPORT_NBUCKETS], 1);
	ck_assert_int_eq(mreport_encode(&r, &buf, &len), 0);
	ck_assert_int_eq(mreport_decode(buf, len, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(d.nhosts, 1);
	ck_assert_str_eq(d.hosts[0].name, "a.example.com");
	ck_assert_int_eq(d.hosts[0].classes[4], 1);
	ck_assert_str_eq(d.backends[0].name, "default/web:80");
	ck_assert_int_eq(d.backends[0].connect_errors, 2);
	ck_assert_str_eq(d.endpoints[0].addr, "127.0.0.1:8080");
	ck_assert_int_eq(d.endpoints[0].inflight, 1);
	ck_assert_int_eq(d.req.counts[0], 2);
	ck_assert_int_eq(d.conns_active, 4);
	mreport_free(&d);
	/* Every truncation is refused with a reason. */
	for (size_t n = 0; n < len; n++) {
		err[0] = '\0';
		ck_assert_int_eq(mreport_decode(buf, n, &d, err, sizeof(err)),
		    -1);
		ck_assert(err[0] != '\0');
	}
	free(buf);
}
END_TEST

START_TEST(test_refusals)
{
	struct mreport r, d;
	struct mreport_host h;
	struct mreport_backend b;
	struct mreport_endpoint e;
	uint8_t *buf, *big;
	size_t len;
	char err[128];

	sample(&r, &h, &b, &e);
	e.backend = 1;			/* no such backend row */
	ck_assert_int_eq(mreport_encode(&r, &buf, &len), 0);
	ck_assert_int_eq(mreport_decode(buf, len, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	free(buf);
	e.backend = 0;
	ck_assert_int_eq(mreport_encode(&r, &buf, &len), 0);
	big = malloc(len + 1);
	memcpy(big, buf, len);
	big[len] = 0;
	ck_assert_int_eq(mreport_decode(big, len + 1, &d, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "trailing bytes");
	big[0] ^= 1;
	ck_assert_int_eq(mreport_decode(big, len, &d, err, sizeof(err)), -1);
	free(big);
	free(buf);
}
END_TEST

START_TEST(test_statusdoc)
{
	struct statusdoc d, p;
	uint8_t *buf;
	size_t len;
	char err[128];

	memset(&d, 0, sizeof(d));
	d.sec[STATUSDOC_METRICS] = "m 1\n";
	d.len[STATUSDOC_METRICS] = 4;
	d.sec[STATUSDOC_ROUTES] = "{}";
	d.len[STATUSDOC_ROUTES] = 2;
	ck_assert_int_eq(statusdoc_encode(&d, &buf, &len), 0);
	ck_assert_int_eq(statusdoc_parse(buf, len, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(p.len[STATUSDOC_METRICS], 4);
	ck_assert(memcmp(p.sec[STATUSDOC_METRICS], "m 1\n", 4) == 0);
	ck_assert_int_eq(p.len[STATUSDOC_STATUS], 0);
	ck_assert(memcmp(p.sec[STATUSDOC_ROUTES], "{}", 2) == 0);
	/* A section running past the end. */
	ck_assert_int_eq(statusdoc_parse(buf, len - 1, &p, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(statusdoc_parse(buf, 8, &p, err, sizeof(err)), -1);
	free(buf);
}
END_TEST

static Suite *
mreport_suite(void)
{
	Suite *s = suite_create("mreport");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_statusdoc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mreport_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
