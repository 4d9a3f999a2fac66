/*
 * Unit tests for the worker sandbox (worker/sandbox_seccomp.c and
 * sandbox_priv.c): a forbidden call kills with SIGSYS under enforce, is
 * only logged under log, the socket family, socket option and PROT_EXEC
 * argument filters hold, and what a worker does (sockets, memory, time) still works.  Each
 * test runs in Check's forked child, so the filter never outlives it.  As
 * root the child first becomes nobody by hand, so that sandbox_enter()
 * takes the unprivileged path and needs no chroot directory.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "worker/sandbox.h"

static void
enter(int mode)
{
	char err[256];
	gid_t g = 65534;

	log_init(1, LOG_LEVEL_ERROR);
	if (geteuid() == 0) {
		ck_assert_int_eq(setgroups(1, &g), 0);
		ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
		ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
	}
	ck_assert_msg(sandbox_enter("nobody", mode, err, sizeof(err)) == 0,
	    "sandbox_enter: %s", err);
}

/*
 * Ends a passing test at once: Check's teardown arms a timer
 * (timer_create), which the worker filter rightly forbids.
 */
static void
pass(void)
{
	_exit(EXIT_SUCCESS);
}

#ifdef SANDBOX_SECCOMP
START_TEST(test_forbidden_call_kills)
{
	enter(CONF_SANDBOX_ENFORCE);
	syscall(SYS_getppid);		/* not on the allowlist */
	ck_abort_msg("getppid survived the enforce filter");
}
END_TEST

START_TEST(test_exec_mapping_kills)
{
	enter(CONF_SANDBOX_ENFORCE);
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	ck_abort_msg("PROT_EXEC mmap survived the enforce filter");
}
END_TEST

START_TEST(test_unlisted_sockopt_kills)
{
	int fd, one = 1;

	enter(CONF_SANDBOX_ENFORCE);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)), 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_abort_msg("SO_REUSEADDR survived the enforce filter");
}
END_TEST

START_TEST(test_log_mode_allows)
{
	enter(CONF_SANDBOX_LOG);
	ck_assert_int_eq(syscall(SYS_getppid), getppid());
	pass();
}
END_TEST

START_TEST(test_unix_socket_refused)
{
	enter(CONF_SANDBOX_ENFORCE);
	ck_assert_int_eq(socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(errno, EACCES);
	pass();
}
END_TEST
#endif

static int
int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_worker_calls_allowed)
{
	struct timespec ts;
	void *p;
	int fd, *v;
	size_t i, n = 100000;

	enter(CONF_SANDBOX_ENFORCE);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(close(fd), 0);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd != -1)			/* no IPv6 in some containers */
		close(fd);
	p = malloc(1 << 20);		/* mmap path of malloc */
	ck_assert_ptr_nonnull(p);
	free(p);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	ck_assert_int_eq(munmap(p, 4096), 0);
	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	/* health.c sorts its probes: a large qsort(3) asks libc for the
	 * physical memory size (sysinfo), which must not kill. */
	v = malloc(n * sizeof(*v));
	ck_assert_ptr_nonnull(v);
	for (i = 0; i < n; i++)
		v[i] = (int)((i * 7919) % n);
	qsort(v, n, sizeof(*v), int_cmp);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(v[i], (int)i);
	free(v);
	log_warnx("a log line from inside the filter");
	pass();
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("worker/sandbox");
	TCase *tc = tcase_create("filter");

#ifdef SANDBOX_SECCOMP
	tcase_add_test_raise_signal(tc, test_forbidden_call_kills, SIGSYS);
	tcase_add_test_raise_signal(tc, test_exec_mapping_kills, SIGSYS);
	tcase_add_test_raise_signal(tc, test_unlisted_sockopt_kills, SIGSYS);
	tcase_add_test(tc, test_log_mode_allows);
	tcase_add_test(tc, test_unix_socket_refused);
#endif
	tcase_add_test(tc, test_worker_calls_allowed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(sandbox_suite());
	/* The filter must die with the forked child of each test. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
