/*
 * Unit tests for master/resolver.c: real lookups of "localhost" (from
 * /etc/hosts) and of a name under the reserved TLD "invalid." on a real
 * libev loop, IP literals, name validation and limits, sweeping, and,
 * with a fake lookup function, that changed() fires once per real change
 * and that the last good addresses survive a failed refresh.  No test
 * asks for a name on the Internet.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/util.h"
#include "master/resolver.h"

#define WAIT_S		20.0	/* bound on any wait for the loop */

static int nchanged;

static void
changed_cb(void *arg)
{
	ck_assert_ptr_eq(arg, &nchanged);
	nchanged++;
}

static int
changed_at_least(int n)
{
	return nchanged >= n;
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* Runs <loop> until <done>(<arg>) or <secs> passed; returns <done>. */
static int
run_until(struct ev_loop *loop, int (*done)(int), int arg, double secs)
{
	ev_timer tick;
	ev_tstamp end;

	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	ev_now_update(loop);
	end = ev_now(loop) + secs;
	while ((done == NULL || !done(arg)) && ev_now(loop) < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
	return done == NULL || done(arg);
}

/* Addresses of <name> as "a,b,c" (no port), or the status in words. */
static char *
lookup_text(struct resolver *r, const char *name)
{
	struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
	socklen_t lens[RESOLVER_MAX_ADDRS];
	char buf[UTIL_ADDRSTRLEN], *out = NULL;
	size_t n, i, len = 0;
	enum resolver_status st;
	FILE *f;

	st = resolver_lookup(r, name, addrs, lens, RESOLVER_MAX_ADDRS, &n);
	f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	if (st == RESOLVER_PENDING)
		fprintf(f, "pending");
	else if (st == RESOLVER_FAILED)
		fprintf(f, "failed");
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(st, RESOLVER_RESOLVED);
		ck_assert_uint_eq(lens[i], addrs[i].ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		util_format_sockaddr((struct sockaddr *)&addrs[i], buf,
		    sizeof(buf));
		fprintf(f, "%s%s", i == 0 ? "" : ",", buf);
	}
	fclose(f);
	return out;
}

static void
expect(struct resolver *r, const char *name, const char *want)
{
	char *got = lookup_text(r, name);

	ck_assert_msg(strcmp(got, want) == 0, "%s: got \"%s\", expected "
	    "\"%s\"", name, got, want);
	free(got);
}

/* ---------------------------------------------------------------- */
/* A fake lookup, called from the resolver's threads                */
/* ---------------------------------------------------------------- */

static pthread_mutex_t fake_mtx = PTHREAD_MUTEX_INITIALIZER;
static const char *fake_addrs[4];	/* NULL-terminated; [0] NULL: fail */
static int fake_calls;
static unsigned int fake_sleep_us;

static void
fake_set(const char *a, const char *b, const char *c)
{
	pthread_mutex_lock(&fake_mtx);
	fake_addrs[0] = a;
	fake_addrs[1] = b;
	fake_addrs[2] = c;
	fake_addrs[3] = NULL;
	pthread_mutex_unlock(&fake_mtx);
}

/* Before each test: no call yet, no delay (CK_FORK=no runs them all). */
static void
fake_reset(unsigned int sleep_us)
{
	pthread_mutex_lock(&fake_mtx);
	fake_calls = 0;
	fake_sleep_us = sleep_us;
	pthread_mutex_unlock(&fake_mtx);
}

static int
fake_ncalls(void)
{
	int n;

	pthread_mutex_lock(&fake_mtx);
	n = fake_calls;
	pthread_mutex_unlock(&fake_mtx);
	return n;
}

static int
fake_calls_at_least(int n)
{
	return fake_ncalls() >= n;
}

static int
fake_lookup(const char *name, struct sockaddr_storage *addrs,
    socklen_t *lens, size_t max, size_t *n, char *err, size_t errlen)
{
	size_t i;
	int rv = 0;

	(void)name;
	pthread_mutex_lock(&fake_mtx);
	if (fake_sleep_us != 0) {
		pthread_mutex_unlock(&fake_mtx);
		usleep(fake_sleep_us);
		pthread_mutex_lock(&fake_mtx);
	}
	*n = 0;
	fake_calls++;
	for (i = 0; i < 3 && fake_addrs[i] != NULL && *n < max; i++)
		if (util_make_sockaddr(fake_addrs[i], 0, &addrs[*n],
		    &lens[*n]) == 0)
			(*n)++;
	if (*n == 0) {
		snprintf(err, errlen, "fake failure");
		rv = -1;
	}
	pthread_mutex_unlock(&fake_mtx);
	return rv;
}

/* ---------------------------------------------------------------- */
/* Tests                                                            */
/* ---------------------------------------------------------------- */

START_TEST(test_localhost)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r;
	char *got, *p, *tok;

	nchanged = 0;
	r = resolver_new(loop, changed_cb, &nchanged);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(resolver_want(r, "localhost"), 0);
	expect(r, "localhost", "pending");
	ck_assert(run_until(loop, changed_at_least, 1, WAIT_S));
	ck_assert_int_eq(nchanged, 1);

	/* 127.0.0.1 and/or ::1, whatever /etc/hosts says; case-blind. */
	got = lookup_text(r, "LocalHost");
	ck_assert_msg(strcmp(got, "127.0.0.1:0") == 0 ||
	    strcmp(got, "[::1]:0") == 0 ||
	    strcmp(got, "127.0.0.1:0,[::1]:0") == 0, "got \"%s\"", got);
	for (p = got; (tok = strsep(&p, ",")) != NULL; )
		ck_assert(strcmp(tok, "127.0.0.1:0") == 0 ||
		    strcmp(tok, "[::1]:0") == 0);
	free(got);
	resolver_free(r);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_literals)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r;

	nchanged = 0;
	r = resolver_new(loop, changed_cb, &nchanged);
	ck_assert_ptr_nonnull(r);
	/* A literal is its own answer at once, before the loop ever runs. */
	ck_assert_int_eq(resolver_want(r, "192.0.2.7"), 0);
	ck_assert_int_eq(resolver_want(r, "2001:DB8::1"), 0);
	expect(r, "192.0.2.7", "192.0.2.7:0");
	expect(r, "2001:db8::1", "[2001:db8::1]:0");
	/* Never wanted. */
	expect(r, "192.0.2.8", "failed");
	run_until(loop, NULL, 0, 0.2);
	ck_assert_int_eq(nchanged, 0);
	resolver_free(r);
	ev_loop_destroy(loop);
}
END_TEST

/* "invalid." is reserved (RFC 2606): the lookup fails, the loop goes on. */
START_TEST(test_invalid_tld)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r;
	uint64_t t0;

	nchanged = 0;
	r = resolver_new(loop, changed_cb, &nchanged);
	ck_assert_ptr_nonnull(r);
	resolver_set_refresh(r, 50);
	t0 = util_now_ms();
	ck_assert_int_eq(resolver_want(r, "nothing.invalid"), 0);
	expect(r, "nothing.invalid", "pending");
	ck_assert_uint_lt(util_now_ms() - t0, 100);
	ck_assert(run_until(loop, changed_at_least, 1, WAIT_S));
	expect(r, "nothing.invalid", "failed");
	/* Failing again on each refresh is no change. */
	run_until(loop, NULL, 0, 0.4);
	ck_assert_int_eq(nchanged, 1);
	expect(r, "nothing.invalid", "failed");
	resolver_free(r);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_changes)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r;
	int calls;

	nchanged = 0;
	r = resolver_new(loop, changed_cb, &nchanged);
	ck_assert_ptr_nonnull(r);
	resolver_set_lookup(r, fake_lookup);
	resolver_set_refresh(r, 20);
	fake_reset(0);
	fake_set("10.0.0.2", "10.0.0.1", "10.0.0.2");
	ck_assert_int_eq(resolver_want(r, "svc.test"), 0);
	ck_assert(run_until(loop, changed_at_least, 1, WAIT_S));
	expect(r, "svc.test", "10.0.0.1:0,10.0.0.2:0");

	/* Refreshes with the same set, in another order: no change. */
	calls = fake_ncalls();
	fake_set("10.0.0.1", "10.0.0.2", NULL);
	ck_assert(run_until(loop, fake_calls_at_least, calls + 3, WAIT_S));
	run_until(loop, NULL, 0, 0.05);
	ck_assert_int_eq(nchanged, 1);

	/* A new set: one call. */
	fake_set("::1", "10.0.0.3", NULL);
	ck_assert(run_until(loop, changed_at_least, 2, WAIT_S));
	expect(r, "svc.test", "10.0.0.3:0,[::1]:0");
	calls = fake_ncalls();
	ck_assert(run_until(loop, fake_calls_at_least, calls + 3, WAIT_S));
	ck_assert_int_eq(nchanged, 2);

	/* Failed refreshes keep the last good set, quietly. */
	fake_set(NULL, NULL, NULL);
	calls = fake_ncalls();
	ck_assert(run_until(loop, fake_calls_at_least, calls + 3, WAIT_S));
	run_until(loop, NULL, 0, 0.05);
	ck_assert_int_eq(nchanged, 2);
	expect(r, "svc.test", "10.0.0.3:0,[::1]:0");

	/* Back with the same set: still no change. */
	fake_set("10.0.0.3", "::1", NULL);
	calls = fake_ncalls();
	ck_assert(run_until(loop, fake_calls_at_least, calls + 3, WAIT_S));
	run_until(loop, NULL, 0, 0.05);
	ck_assert_int_eq(nchanged, 2);
	resolver_free(r);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_names_and_sweep)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r;
	char name[RESOLVER_MAX_NAMELEN + 2];
	size_t i;

	nchanged = 0;
	r = resolver_new(loop, changed_cb, &nchanged);
	ck_assert_ptr_nonnull(r);
	resolver_set_lookup(r, fake_lookup);
	fake_reset(0);
	fake_set("192.0.2.1", NULL, NULL);

	ck_assert_int_eq(resolver_want(r, ""), -1);
	ck_assert_int_eq(resolver_want(r, NULL), -1);
	ck_assert_int_eq(resolver_want(r, "a b.test"), -1);
	ck_assert_int_eq(resolver_want(r, "a/b.test"), -1);
	ck_assert_int_eq(resolver_want(r, "fe80::1%eth0"), -1);
	memset(name, 'a', sizeof(name));
	name[RESOLVER_MAX_NAMELEN + 1] = '\0';
	ck_assert_int_eq(resolver_want(r, name), -1);
	name[RESOLVER_MAX_NAMELEN] = '\0';
	ck_assert_int_eq(resolver_want(r, name), 0);
	expect(r, "a b.test", "failed");

	ck_assert_int_eq(resolver_want(r, "one.test"), 0);
	ck_assert_int_eq(resolver_want(r, "two.test"), 0);
	ck_assert(run_until(loop, fake_calls_at_least, 3, WAIT_S));
	run_until(loop, NULL, 0, 0.05);
	expect(r, "one.test", "192.0.2.1:0");
	expect(r, "two.test", "192.0.2.1:0");

	/* The next compile wants one.test only. */
	resolver_sweep(r);
	ck_assert_int_eq(resolver_want(r, "ONE.test"), 0);
	resolver_sweep(r);
	expect(r, "one.test", "192.0.2.1:0");
	expect(r, "two.test", "failed");
	expect(r, name, "failed");
	resolver_sweep(r);
	expect(r, "one.test", "failed");

	/* At most RESOLVER_MAX_NAMES names. */
	for (i = 0; i < RESOLVER_MAX_NAMES; i++) {
		snprintf(name, sizeof(name), "n%zu.test", i);
		ck_assert_int_eq(resolver_want(r, name), 0);
	}
	ck_assert_int_eq(resolver_want(r, "n0.test"), 0);
	ck_assert_int_eq(resolver_want(r, "one-more.test"), -1);
	/* Freed with lookups queued and in flight. */
	resolver_free(r);
	ev_loop_destroy(loop);
	usleep(100000);
}
END_TEST

/* A slow lookup never holds the loop, nor resolver_free(). */
START_TEST(test_slow_lookup)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r;
	uint64_t t0;

	nchanged = 0;
	fake_reset(300000);
	r = resolver_new(loop, changed_cb, &nchanged);
	ck_assert_ptr_nonnull(r);
	resolver_set_lookup(r, fake_lookup);
	fake_set("192.0.2.1", NULL, NULL);
	t0 = util_now_ms();
	ck_assert_int_eq(resolver_want(r, "slow.test"), 0);
	ck_assert_uint_lt(util_now_ms() - t0, 100);
	run_until(loop, NULL, 0, 0.1);
	expect(r, "slow.test", "pending");
	ck_assert(run_until(loop, changed_at_least, 1, WAIT_S));
	expect(r, "slow.test", "192.0.2.1:0");

	ck_assert_int_eq(resolver_want(r, "slower.test"), 0);
	run_until(loop, NULL, 0, 0.05);
	t0 = util_now_ms();
	resolver_free(r);
	ck_assert_uint_lt(util_now_ms() - t0, 100);
	ev_loop_destroy(loop);
	/* The thread finishes its lookup alone, then frees what is shared. */
	usleep(500000);
	ck_assert_int_le(fake_ncalls(), 2);
}
END_TEST

static Suite *
resolver_suite(void)
{
	Suite *s = suite_create("resolver");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_localhost);
	tcase_add_test(tc, test_literals);
	tcase_add_test(tc, test_invalid_tld);
	tcase_add_test(tc, test_changes);
	tcase_add_test(tc, test_names_and_sweep);
	tcase_add_test(tc, test_slow_lookup);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(resolver_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
