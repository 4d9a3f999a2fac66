/*
 * Unit tests for master/listeners.c: real sockets on 127.0.0.1.  Checks
 * that a set of listening sockets survives the trip of a binary upgrade
 * (listeners_inherit_spec() -> listeners_inherit()): sockets whose
 * address a listener names are taken over in slot order, missing slots
 * are bound into the same group, unneeded or unusable inherited fds are
 * closed or ignored, and a malformed spec binds everything anew.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "master/listeners.h"

/* A config whose only listener is http on 127.0.0.1:<port>. */
static void
conf_http(struct conf *c, uint16_t port)
{
	struct sockaddr_in *sin;

	memset(c, 0, sizeof(*c));
	c->http.enabled = 1;
	snprintf(c->http.text, sizeof(c->http.text), "127.0.0.1:%u", port);
	sin = (struct sockaddr_in *)&c->http.addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->http.addrlen = sizeof(*sin);
}

/* A free port: bound, read back, closed. */
static uint16_t
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static uint16_t
port_of(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

START_TEST(spec_round_trip_takes_over_in_order)
{
	struct listeners a, b;
	struct conf c;
	char spec[256], want[256], err[256];
	uint16_t port = free_port();
	int fd0, fd1;

	conf_http(&c, port);
	ck_assert_int_eq(listeners_open(&a, &c, 2, NULL, err, sizeof(err)),
	    0);
	fd0 = a.l[0].fds[0];
	fd1 = a.l[0].fds[1];
	ck_assert_int_eq(listeners_inherit_spec(&a, spec, sizeof(spec)), 0);
	snprintf(want, sizeof(want), "http:%d,http:%d", fd0, fd1);
	ck_assert_str_eq(spec, want);
	/* The new master runs three workers: two taken, one bound. */
	ck_assert_int_eq(listeners_inherit(&b, &c, 3, spec, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(b.nslots, 3);
	ck_assert_int_eq(b.l[0].fds[0], fd0);
	ck_assert_int_eq(b.l[0].fds[1], fd1);
	ck_assert_int_ne(b.l[0].fds[2], -1);
	ck_assert_uint_eq(port_of(b.l[0].fds[2]), port);
	/* Close-on-exec again: only the next upgrade clears it. */
	ck_assert_int_ne(fcntl(fd0, F_GETFD) & FD_CLOEXEC, 0);
	free(a.l[0].fds);	/* the fds belong to <b> now */
	a.l[0].fds = NULL;
	listeners_close(&a);
	listeners_close(&b);
}
END_TEST

START_TEST(unneeded_and_bogus_fds)
{
	struct listeners a, b;
	struct conf c;
	char spec[256], err[256];
	int fd0, fd1, notsock;

	conf_http(&c, free_port());
	ck_assert_int_eq(listeners_open(&a, &c, 2, NULL, err, sizeof(err)),
	    0);
	fd0 = a.l[0].fds[0];
	fd1 = a.l[0].fds[1];
	notsock = open("/dev/null", O_RDONLY);
	ck_assert_int_ne(notsock, -1);
	snprintf(spec, sizeof(spec), "http:%d,http:%d,http:%d", fd0, fd1,
	    notsock);
	/* One worker now: the second socket is closed, /dev/null ignored. */
	ck_assert_int_eq(listeners_inherit(&b, &c, 1, spec, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(b.l[0].fds[0], fd0);
	ck_assert_int_eq(fcntl(fd1, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_ne(fcntl(notsock, F_GETFD), -1);
	close(notsock);
	free(a.l[0].fds);
	a.l[0].fds = NULL;
	listeners_close(&a);
	listeners_close(&b);
}
END_TEST

START_TEST(other_address_or_bad_spec_binds_anew)
{
	struct listeners a, b;
	struct conf c, c2;
	char spec[256], err[256];
	uint16_t port2 = free_port();
	int fd0;

	conf_http(&c, free_port());
	ck_assert_int_eq(listeners_open(&a, &c, 1, NULL, err, sizeof(err)),
	    0);
	fd0 = a.l[0].fds[0];
	ck_assert_int_eq(listeners_inherit_spec(&a, spec, sizeof(spec)), 0);
	conf_http(&c2, port2);
	ck_assert_int_eq(listeners_inherit(&b, &c2, 1, spec, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(port_of(b.l[0].fds[0]), port2);
	ck_assert_int_eq(fcntl(fd0, F_GETFD), -1);	/* not needed */
	listeners_close(&b);
	free(a.l[0].fds);
	a.l[0].fds = NULL;
	listeners_close(&a);

	ck_assert_int_eq(listeners_inherit(&b, &c2, 1, "http:x,", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(port_of(b.l[0].fds[0]), port2);
	listeners_close(&b);
}
END_TEST

START_TEST(spec_too_long)
{
	struct listeners a;
	struct conf c;
	char spec[8], err[256];

	conf_http(&c, free_port());
	ck_assert_int_eq(listeners_open(&a, &c, 2, NULL, err, sizeof(err)),
	    0);
	ck_assert_int_eq(listeners_inherit_spec(&a, spec, sizeof(spec)), -1);
	listeners_close(&a);
}
END_TEST

static Suite *
listeners_suite(void)
{
	Suite *s = suite_create("listeners");
	TCase *tc = tcase_create("inherit");

	tcase_add_test(tc, spec_round_trip_takes_over_in_order);
	tcase_add_test(tc, unneeded_and_bogus_fds);
	tcase_add_test(tc, other_address_or_bad_spec_binds_anew);
	tcase_add_test(tc, spec_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(listeners_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
