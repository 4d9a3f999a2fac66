/*
 * Unit tests for master/notify.c: a real AF_UNIX datagram socket (a path
 * in a temporary directory, or an abstract name) stands in for systemd's
 * $NOTIFY_SOCKET, and a real libev loop runs notify's watchers.  Checks
 * READY=1 only once the state says applied with workers running, STATUS=
 * lines, RELOADING=1 with MONOTONIC_USEC then READY=1 again, STOPPING=1,
 * MAINPID= when daemonized, WATCHDOG=1 pings and the WATCHDOG_PID filter,
 * the environment being cleared, and bad or absent variables.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "master/notify.h"

static struct notify_state fake;
static char dir[64];
static char path[128];
static int rx = -1;
static struct ev_loop *loop;

static void
fake_state(void *arg, struct notify_state *st)
{
	ck_assert_ptr_eq(arg, &fake);
	*st = fake;
}

static void
tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
}

/* Turns the loop for about <secs>. */
static void
spin(double secs)
{
	ev_timer t;
	ev_tstamp end = ev_time() + secs;

	ev_timer_init(&t, tick_cb, 0.005, 0.005);
	ev_timer_start(loop, &t);
	while (ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

/* The next datagram within <ms>, in <buf>; 0, or -1 when none came. */
static int
recv_msg(char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = rx, .events = POLLIN };
	ssize_t r;

	if (poll(&p, 1, ms) != 1)
		return -1;
	if ((r = recv(rx, buf, len - 1, 0)) == -1)
		return -1;
	buf[r] = '\0';
	return 0;
}

/* Turns the loop until a datagram containing <needle> arrives. */
static int
expect(const char *needle, char *buf, size_t len, double secs)
{
	ev_tstamp end = ev_time() + secs;

	while (ev_time() < end) {
		spin(0.01);
		while (recv_msg(buf, len, 0) == 0)
			if (strstr(buf, needle) != NULL)
				return 0;
	}
	return -1;
}

static void
setup_path(void)
{
	struct sockaddr_un sun;

	snprintf(dir, sizeof(dir), "/tmp/ingd-notify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(rx, -1);
	ck_assert_int_eq(bind(rx, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	loop = ev_loop_new(EVFLAG_AUTO);
	memset(&fake, 0, sizeof(fake));
}

static void
teardown(void)
{
	notify_close();
	ev_loop_destroy(loop);
	close(rx);
	rx = -1;
	if (path[0] != '\0') {
		unlink(path);
		rmdir(dir);
		path[0] = '\0';
	}
}

START_TEST(ready_waits_for_applied)
{
	char buf[512];

	fake.generation = 1;
	fake.applied = 0;
	fake.workers = 2;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert(notify_active());
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(expect("STATUS=applying generation 1, 2 workers",
	    buf, sizeof(buf), 5), 0);
	ck_assert_ptr_null(strstr(buf, "READY=1"));
	spin(0.05);
	ck_assert_int_eq(recv_msg(buf, sizeof(buf), 0), -1);	/* no change */

	fake.applied = 1;
	ck_assert_int_eq(expect("READY=1", buf, sizeof(buf), 5), 0);
	ck_assert_ptr_nonnull(strstr(buf,
	    "STATUS=serving generation 1, 2 workers\n"));
	ck_assert_ptr_null(strstr(buf, "MAINPID="));

	/* A new generation applied: STATUS only, READY=1 is not repeated. */
	fake.generation = 2;
	ck_assert_int_eq(expect("STATUS=serving generation 2", buf,
	    sizeof(buf), 5), 0);
	ck_assert_ptr_null(strstr(buf, "READY=1"));
}
END_TEST

START_TEST(no_routes_ready_once_workers_run)
{
	char buf[512];

	fake.generation = 0;
	fake.applied = 1;
	fake.workers = 0;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert_int_eq(expect("STATUS=", buf, sizeof(buf), 5), 0);
	ck_assert_ptr_null(strstr(buf, "READY=1"));
	fake.workers = 3;
	ck_assert_int_eq(expect("READY=1", buf, sizeof(buf), 5), 0);
	ck_assert_ptr_nonnull(strstr(buf, "generation 0, 3 workers"));
}
END_TEST

START_TEST(reload_then_ready_then_stopping)
{
	char buf[512];
	unsigned long long us;
	const char *p;

	fake.generation = 1;
	fake.applied = 1;
	fake.workers = 1;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert_int_eq(expect("READY=1", buf, sizeof(buf), 5), 0);

	notify_reloading();
	ck_assert_int_eq(recv_msg(buf, sizeof(buf), 1000), 0);
	ck_assert_ptr_nonnull(strstr(buf, "RELOADING=1\n"));
	ck_assert_ptr_nonnull(p = strstr(buf, "MONOTONIC_USEC="));
	us = strtoull(p + strlen("MONOTONIC_USEC="), NULL, 10);
	ck_assert_uint_gt(us, 0);
	/* The reload published generation 2, not yet applied. */
	fake.generation = 2;
	fake.applied = 0;
	ck_assert_int_eq(expect("STATUS=applying generation 2", buf,
	    sizeof(buf), 5), 0);
	ck_assert_ptr_null(strstr(buf, "READY=1"));
	fake.applied = 1;
	ck_assert_int_eq(expect("READY=1", buf, sizeof(buf), 5), 0);

	notify_stopping();
	ck_assert_int_eq(recv_msg(buf, sizeof(buf), 1000), 0);
	ck_assert_ptr_nonnull(strstr(buf, "STOPPING=1\n"));
	/* Nothing more once stopping, whatever the state does. */
	fake.workers = 0;
	notify_reloading();
	spin(0.05);
	ck_assert_int_eq(recv_msg(buf, sizeof(buf), 0), -1);
}
END_TEST

START_TEST(mainpid_when_daemonized)
{
	char buf[512], want[64];

	fake.applied = 1;
	fake.workers = 1;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 1), 0);
	ck_assert_int_eq(expect("READY=1", buf, sizeof(buf), 5), 0);
	snprintf(want, sizeof(want), "MAINPID=%ld\n", (long)getpid());
	ck_assert_ptr_nonnull(strstr(buf, want));
}
END_TEST

START_TEST(watchdog_pings)
{
	char buf[512];
	int pings = 0;
	ev_tstamp end;

	setenv("WATCHDOG_USEC", "40000", 1);	/* ping every 20 ms */
	fake.applied = 1;
	fake.workers = 1;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	end = ev_time() + 3;
	while (pings < 3 && ev_time() < end) {
		spin(0.01);
		while (recv_msg(buf, sizeof(buf), 0) == 0)
			if (strcmp(buf, "WATCHDOG=1\n") == 0)
				pings++;
	}
	ck_assert_int_ge(pings, 3);
}
END_TEST

START_TEST(watchdog_for_another_pid)
{
	char buf[512], pid[32];

	setenv("WATCHDOG_USEC", "40000", 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	fake.applied = 1;
	fake.workers = 1;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert_ptr_null(getenv("WATCHDOG_PID"));
	spin(0.2);
	while (recv_msg(buf, sizeof(buf), 0) == 0)
		ck_assert_ptr_null(strstr(buf, "WATCHDOG=1"));
}
END_TEST

START_TEST(abstract_socket)
{
	struct sockaddr_un sun;
	char name[64], buf[512];
	socklen_t len;

	snprintf(name, sizeof(name), "@ingressd-test-notify-%ld",
	    (long)getpid());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
	/* Abstract names are exact: the length carries no NUL. */
	len = offsetof(struct sockaddr_un, sun_path) + strlen(name);
	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(rx, -1);
	ck_assert_int_eq(bind(rx, (struct sockaddr *)&sun, len), 0);
	setenv("NOTIFY_SOCKET", name, 1);
	loop = ev_loop_new(EVFLAG_AUTO);
	memset(&fake, 0, sizeof(fake));
	fake.applied = 1;
	fake.workers = 1;
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert_int_eq(expect("READY=1", buf, sizeof(buf), 5), 0);
	ck_assert_int_eq(notify_send("STATUS=direct\n"), 0);
	ck_assert_int_eq(recv_msg(buf, sizeof(buf), 1000), 0);
	ck_assert_str_eq(buf, "STATUS=direct\n");
}
END_TEST

START_TEST(absent_or_bad_variable)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert(!notify_active());
	ck_assert_int_eq(notify_send("READY=1\n"), 0);	/* a no-op */
	notify_reloading();
	notify_stopping();
	notify_close();

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), -1);
	ck_assert(!notify_active());
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	setenv("NOTIFY_SOCKET", "@", 1);
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), -1);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), -1);
	setenv("NOTIFY_SOCKET", "/tmp/no-such-dir-ingressd/notify", 1);
	setenv("WATCHDOG_USEC", "nonsense", 1);
	ck_assert_int_eq(notify_open(loop, fake_state, &fake, 0), 0);
	ck_assert(notify_active());
	ck_assert_int_eq(notify_send("READY=1\n"), -1);	/* nobody there */
	spin(0.02);	/* the loop survives failed sends */
}
END_TEST

static void
teardown_plain(void)
{
	notify_close();
	ev_loop_destroy(loop);
}

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc;

	tc = tcase_create("path");
	tcase_add_checked_fixture(tc, setup_path, teardown);
	tcase_add_test(tc, ready_waits_for_applied);
	tcase_add_test(tc, no_routes_ready_once_workers_run);
	tcase_add_test(tc, reload_then_ready_then_stopping);
	tcase_add_test(tc, mainpid_when_daemonized);
	tcase_add_test(tc, watchdog_pings);
	tcase_add_test(tc, watchdog_for_another_pid);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("abstract");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, abstract_socket);
	suite_add_tcase(s, tc);

	tc = tcase_create("off");
	tcase_add_checked_fixture(tc, NULL, teardown_plain);
	tcase_add_test(tc, absent_or_bad_variable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(notify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
