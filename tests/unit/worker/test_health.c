/*
 * test_health: unit tests for worker/health.c without a network: endpoint
 * ownership (each endpoint has exactly one owner whatever the worker
 * count, spread evenly, and adding a worker moves about 1/N of them), and
 * the broadcast table the proxy consults.
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
#include "common/util.h"
#include "worker/health.h"

#define NEP	4000

static void
ep(struct sockaddr_in *sin, uint32_t i)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000000 + i / 4);
	sin->sin_port = htons((uint16_t)(8080 + i % 4));
}

START_TEST(test_owner_range_and_spread)
{
	static const uint32_t nw[] = { 1, 2, 3, 4, 8, 16 };
	struct sockaddr_in sin;
	uint32_t count[16], i, k, o;

	for (k = 0; k < UTIL_NELEM(nw); k++) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < NEP; i++) {
			ep(&sin, i);
			o = health_owner((struct sockaddr *)&sin, nw[k]);
			ck_assert_uint_lt(o, nw[k]);
			/* Stable: the same answer every time. */
			ck_assert_uint_eq(o, health_owner((struct sockaddr *)
			    &sin, nw[k]));
			count[o]++;
		}
		for (i = 0; i < nw[k]; i++)
			ck_assert_msg(count[i] > NEP / nw[k] * 7 / 10 &&
			    count[i] < NEP / nw[k] * 13 / 10,
			    "%u workers: worker %u owns %u", nw[k], i,
			    count[i]);
	}
}
END_TEST

START_TEST(test_owner_moves_few)
{
	struct sockaddr_in sin;
	uint32_t n, i, moved, a, b;

	for (n = 1; n < 8; n++) {
		moved = 0;
		for (i = 0; i < NEP; i++) {
			ep(&sin, i);
			a = health_owner((struct sockaddr *)&sin, n);
			b = health_owner((struct sockaddr *)&sin, n + 1);
			if (a != b) {
				/* Only to the new worker. */
				ck_assert_uint_eq(b, n);
				moved++;
			}
		}
		/* About 1/(n+1) of them. */
		ck_assert_msg(moved > NEP / (n + 1) * 7 / 10 &&
		    moved < NEP / (n + 1) * 13 / 10, "%u -> %u workers: %u of "
		    "%u moved", n, n + 1, moved, NEP);
	}
}
END_TEST

START_TEST(test_owner_v6_and_ports)
{
	struct sockaddr_in6 a, b;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(80);
	inet_pton(AF_INET6, "2001:db8::1", &a.sin6_addr);
	b = a;
	ck_assert_uint_lt(health_owner((struct sockaddr *)&a, 5), 5);
	ck_assert_uint_eq(health_owner((struct sockaddr *)&a, 5),
	    health_owner((struct sockaddr *)&b, 5));
	ck_assert_uint_eq(health_owner((struct sockaddr *)&a, 0), 0);
	ck_assert_uint_eq(health_owner((struct sockaddr *)&a, 1), 0);
}
END_TEST

START_TEST(test_state_table)
{
	struct ipc_health h;
	struct sockaddr_in sin;
	uint32_t i;

	memset(&h, 0, sizeof(h));
	ep(&sin, 1);
	ck_assert_int_eq(health_is_down((struct sockaddr *)&sin), 0);
	/* Many endpoints: the table grows and keeps every one. */
	for (i = 0; i < 500; i++) {
		ep((struct sockaddr_in *)&h.addr, i);
		h.state = i % 2 == 0 ? HC_DOWN : HC_UP;
		health_set_state(&h);
	}
	for (i = 0; i < 500; i++) {
		ep(&sin, i);
		ck_assert_int_eq(health_is_down((struct sockaddr *)&sin),
		    i % 2 == 0);
	}
	ep(&sin, 600);
	ck_assert_int_eq(health_is_down((struct sockaddr *)&sin), 0);
	/* Back up. */
	ep((struct sockaddr_in *)&h.addr, 0);
	h.state = HC_UP;
	health_set_state(&h);
	ep(&sin, 0);
	ck_assert_int_eq(health_is_down((struct sockaddr *)&sin), 0);
	/* Same address, other port: another endpoint. */
	ep(&sin, 2);
	ck_assert_int_eq(health_is_down((struct sockaddr *)&sin), 1);
	sin.sin_port = htons(9999);
	ck_assert_int_eq(health_is_down((struct sockaddr *)&sin), 0);
}
END_TEST

START_TEST(test_passive)
{
	struct sockaddr_in sin;
	struct ipc_health h;
	ev_tstamp t = 1000.0;
	int i;

	ep(&sin, 3001);
	/* Disabled: never ejected. */
	for (i = 0; i < 10; i++)
		health_passive((struct sockaddr *)&sin, 0, 0, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t), 0);
	/* Two failures, a success, two: the count starts over. */
	health_passive((struct sockaddr *)&sin, 0, 3, t);
	health_passive((struct sockaddr *)&sin, 0, 3, t);
	health_passive((struct sockaddr *)&sin, 1, 3, t);
	health_passive((struct sockaddr *)&sin, 0, 3, t);
	health_passive((struct sockaddr *)&sin, 0, 3, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t), 0);
	/* The third in a row: out for 1 s. */
	health_passive((struct sockaddr *)&sin, 0, 3, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 0.9),
	    1);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 1.1),
	    0);
	/* Again at once: 2 s, then 4 s. */
	t += 1.1;
	for (i = 0; i < 3; i++)
		health_passive((struct sockaddr *)&sin, 0, 3, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 1.9),
	    1);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 2.1),
	    0);
	t += 2.1;
	for (i = 0; i < 3; i++)
		health_passive((struct sockaddr *)&sin, 0, 3, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 3.9),
	    1);
	/* Capped at 60 s. */
	for (i = 0; i < 10; i++) {
		t += 61;
		health_passive((struct sockaddr *)&sin, 0, 3, t);
		health_passive((struct sockaddr *)&sin, 0, 3, t);
		health_passive((struct sockaddr *)&sin, 0, 3, t);
	}
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 59),
	    1);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 61),
	    0);
	/* Served well for long: the backoff starts at 1 s again. */
	t += 200;
	health_passive((struct sockaddr *)&sin, 1, 3, t);
	for (i = 0; i < 3; i++)
		health_passive((struct sockaddr *)&sin, 0, 3, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t + 1.1),
	    0);
	/* The probes saying UP end an ejection. */
	t += 2;
	for (i = 0; i < 3; i++)
		health_passive((struct sockaddr *)&sin, 0, 3, t);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t), 1);
	memset(&h, 0, sizeof(h));
	memcpy(&h.addr, &sin, sizeof(sin));
	h.state = HC_UP;
	health_set_state(&h);
	ck_assert_int_eq(health_is_ejected((struct sockaddr *)&sin, t), 0);
	ck_assert_int_eq(health_is_down((struct sockaddr *)&sin), 0);
}
END_TEST

static Suite *
health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_owner_range_and_spread);
	tcase_add_test(tc, test_owner_moves_few);
	tcase_add_test(tc, test_owner_v6_and_ports);
	tcase_add_test(tc, test_state_table);
	tcase_add_test(tc, test_passive);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(health_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
