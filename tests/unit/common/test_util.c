/*
 * test_util: unit tests for common/util.c (durations, sizes, addresses,
 * fd flags, hashing, string helpers).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static const struct {
	const char	*in;
	int		 ok;
	uint64_t	 ms;
} duration_cases[] = {
	{ "500ms",	1, 500 },
	{ "1s",		1, 1000 },
	{ "2m",		1, 120000 },
	{ "1h",		1, 3600000 },
	{ "1m30s",	1, 90000 },
	{ "1h2m3s4ms",	1, 3723004 },
	{ "1s500ms",	1, 1500 },
	{ "0",		1, 0 },
	{ "0s",		1, 0 },
	{ "10",		1, 10000 },
	{ "2d",		1, 2ull * 86400000 },
	{ "30d",	1, 30ull * 86400000 },
	{ "2592000",	1, 2592000000ull },
	{ "2592001",	0, 0 },
	{ "31d",	0, 0 },
	{ "720h1ms",	0, 0 },
	{ "",		0, 0 },
	{ "-1s",	0, 0 },
	{ "+1s",	0, 0 },
	{ " 1s",	0, 0 },
	{ "1s ",	0, 0 },
	{ "1.5s",	0, 0 },
	{ "1x",		0, 0 },
	{ "s",		0, 0 },
	{ "ms",		0, 0 },
	{ "1m30",	0, 0 },
	{ "30s1m",	0, 0 },
	{ "1s1s",	0, 0 },
	{ "1S",		0, 0 },
	{ "99999999999999999999999s", 0, 0 },
	{ "18446744073709551615ms", 0, 0 },
};

START_TEST(test_duration)
{
	uint64_t ms = 777;
	int rc;

	rc = util_parse_duration_ms(duration_cases[_i].in, &ms);
	if (duration_cases[_i].ok) {
		ck_assert_msg(rc == 0, "\"%s\" refused",
		    duration_cases[_i].in);
		ck_assert_msg(ms == duration_cases[_i].ms,
		    "\"%s\": %llu", duration_cases[_i].in,
		    (unsigned long long)ms);
	} else {
		ck_assert_msg(rc == -1, "\"%s\" accepted",
		    duration_cases[_i].in);
		ck_assert_uint_eq(ms, 777);
	}
}
END_TEST

START_TEST(test_duration_null)
{
	uint64_t ms;

	ck_assert_int_eq(util_parse_duration_ms(NULL, &ms), -1);
}
END_TEST

static const struct {
	const char	*in;
	int		 ok;
	uint64_t	 bytes;
} size_cases[] = {
	{ "512",	1, 512 },
	{ "0",		1, 0 },
	{ "8k",		1, 8192 },
	{ "8K",		1, 8192 },
	{ "8KiB",	1, 8192 },
	{ "8kib",	1, 8192 },
	{ "8kB",	1, 8192 },
	{ "1m",		1, 1048576 },
	{ "1MiB",	1, 1048576 },
	{ "1MB",	1, 1048576 },
	{ "1g",		1, 1073741824ull },
	{ "3GiB",	1, 3ull << 30 },
	{ "100B",	1, 100 },
	{ "100b",	1, 100 },
	{ "",		0, 0 },
	{ "k",		0, 0 },
	{ "-1",		0, 0 },
	{ "1.5k",	0, 0 },
	{ "8 k",	0, 0 },
	{ "8t",		0, 0 },
	{ "8ki",	0, 0 },
	{ "8KiBs",	0, 0 },
	{ "8iB",	0, 0 },
	{ "18446744073709551615", 1, UINT64_MAX },
	{ "18446744073709551616", 0, 0 },
	{ "17179869184g", 0, 0 },
};

START_TEST(test_size)
{
	uint64_t b = 777;
	int rc;

	rc = util_parse_size(size_cases[_i].in, &b);
	if (size_cases[_i].ok) {
		ck_assert_msg(rc == 0, "\"%s\" refused", size_cases[_i].in);
		ck_assert_msg(b == size_cases[_i].bytes, "\"%s\": %llu",
		    size_cases[_i].in, (unsigned long long)b);
	} else {
		ck_assert_msg(rc == -1, "\"%s\" accepted", size_cases[_i].in);
		ck_assert_uint_eq(b, 777);
	}
}
END_TEST

static const struct {
	const char	*in;
	int		 family;	/* 0: refused */
	const char	*out;		/* formatted back, or error part */
} hostport_cases[] = {
	{ "0.0.0.0:80",		AF_INET,	"0.0.0.0:80" },
	{ "127.0.0.1:8080",	AF_INET,	"127.0.0.1:8080" },
	{ "[::]:443",		AF_INET6,	"[::]:443" },
	{ "[::1]:80",		AF_INET6,	"[::1]:80" },
	{ "[2001:db8::1]:65535", AF_INET6,	"[2001:db8::1]:65535" },
	{ ":80",		AF_INET,	"0.0.0.0:80" },
	{ "*:80",		AF_INET,	"0.0.0.0:80" },
	{ "0.0.0.0:99999",	0,		"port out of range" },
	{ "0.0.0.0:0",		0,		"port out of range" },
	{ "0.0.0.0:65536",	0,		"port out of range" },
	{ "0.0.0.0:",		0,		"missing port" },
	{ "0.0.0.0",		0,		"missing \":port\"" },
	{ "0.0.0.0:http",	0,		"port is not a number" },
	{ "0.0.0.0:-1",		0,		"port is not a number" },
	{ "0.0.0.0:80 ",	0,		"port is not a number" },
	{ "example.com:80",	0,		"not a numeric IPv4" },
	{ "1.2.3:80",		0,		"not a numeric IPv4" },
	{ "::1:80",		0,		"brackets" },
	{ "[::1]80",		0,		"missing \":port\" after" },
	{ "[::1:80",		0,		"missing \"]\"" },
	{ "[1.2.3.4]:80",	0,		"not a numeric IPv6" },
	{ "",			0,		"empty" },
	{ "[aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa]:1", 0,
	    "too long" },
};

START_TEST(test_hostport)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char err[128] = "", buf[UTIL_ADDRSTRLEN];
	int rc;

	rc = util_parse_hostport(hostport_cases[_i].in, &ss, &len, err,
	    sizeof(err));
	if (hostport_cases[_i].family != 0) {
		ck_assert_msg(rc == 0, "\"%s\": %s", hostport_cases[_i].in,
		    err);
		ck_assert_int_eq(ss.ss_family, hostport_cases[_i].family);
		ck_assert_uint_eq(len, ss.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		ck_assert_str_eq(util_format_sockaddr((struct sockaddr *)&ss,
		    buf, sizeof(buf)), hostport_cases[_i].out);
	} else {
		ck_assert_msg(rc == -1, "\"%s\" accepted",
		    hostport_cases[_i].in);
		ck_assert_msg(strstr(err, hostport_cases[_i].out) != NULL,
		    "\"%s\": \"%s\"", hostport_cases[_i].in, err);
	}
}
END_TEST

START_TEST(test_make_sockaddr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[UTIL_ADDRSTRLEN];

	ck_assert_int_eq(util_make_sockaddr("10.1.2.3", 8080, &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_str_eq(util_format_sockaddr((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "10.1.2.3:8080");

	ck_assert_int_eq(util_make_sockaddr("fd00::5", 1, &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert_str_eq(util_format_sockaddr((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "[fd00::5]:1");

	ck_assert_int_eq(util_make_sockaddr("host", 1, &ss, &len), -1);
	ck_assert_int_eq(util_make_sockaddr("", 1, &ss, &len), -1);
	ck_assert_int_eq(util_make_sockaddr("[::1]", 1, &ss, &len), -1);
}
END_TEST

START_TEST(test_format_sockaddr_short)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[8];

	ck_assert_int_eq(util_make_sockaddr("192.168.100.200", 65535, &ss,
	    &len), 0);
	util_format_sockaddr((struct sockaddr *)&ss, buf, sizeof(buf));
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
	ck_assert_str_eq(buf, "192.168");

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_APPLETALK;
	ck_assert_str_eq(util_format_sockaddr((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "?");
}
END_TEST

START_TEST(test_fd_flags)
{
	int fds[2], fl;

	ck_assert_int_ne(pipe(fds), -1);
	ck_assert_int_eq(util_set_nonblock(fds[0]), 0);
	fl = fcntl(fds[0], F_GETFL);
	ck_assert(fl & O_NONBLOCK);
	ck_assert_int_eq(util_set_nonblock(fds[0]), 0);
	ck_assert(fcntl(fds[0], F_GETFL) & O_NONBLOCK);

	ck_assert_int_eq(util_set_cloexec(fds[1], 1), 0);
	ck_assert(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(util_set_cloexec(fds[1], 0), 0);
	ck_assert(!(fcntl(fds[1], F_GETFD) & FD_CLOEXEC));

	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(util_set_nonblock(fds[0]), -1);
	ck_assert_int_eq(util_set_cloexec(fds[0], 1), -1);
}
END_TEST

START_TEST(test_hash)
{
	/* Published FNV-1a 64 test vectors. */
	ck_assert_uint_eq(util_hash64("", 0), 0xcbf29ce484222325ull);
	ck_assert_uint_eq(util_hash64("a", 1), 0xaf63dc4c8601ec8cull);
	ck_assert_uint_eq(util_hash64("foobar", 6), 0x85944171f73967e8ull);
	ck_assert_uint_eq(util_hash64_lower("FooBar", 6),
	    util_hash64("foobar", 6));
	ck_assert_uint_ne(util_hash64("FooBar", 6),
	    util_hash64("foobar", 6));
	/* Only ASCII letters fold. */
	ck_assert_uint_ne(util_hash64_lower("[", 1), util_hash64("{", 1));
	ck_assert_uint_ne(util_hash64("ab", 2), util_hash64("ba", 2));
}
END_TEST

START_TEST(test_strlcpy)
{
	char buf[6];

	memset(buf, 'x', sizeof(buf));
	ck_assert_uint_eq(util_strlcpy(buf, "hello world", sizeof(buf)), 11);
	ck_assert_str_eq(buf, "hello");
	ck_assert_uint_eq(util_strlcpy(buf, "hi", sizeof(buf)), 2);
	ck_assert_str_eq(buf, "hi");
	ck_assert_uint_eq(util_strlcpy(buf, "hello", sizeof(buf)), 5);
	ck_assert_str_eq(buf, "hello");
	buf[0] = 'z';
	ck_assert_uint_eq(util_strlcpy(buf, "abc", 0), 3);
	ck_assert_int_eq(buf[0], 'z');
	ck_assert_uint_eq(util_strlcpy(buf, "abc", 1), 3);
	ck_assert_str_eq(buf, "");
}
END_TEST

static const struct {
	const char	*a, *b;
	int		 eq;
} caseeq_cases[] = {
	{ "Example.COM", "example.com", 1 },
	{ "", "", 1 },
	{ "abc", "abd", 0 },
	{ "abc", "abcd", 0 },
	{ "@", "`", 0 },		/* 0x40 vs 0x60: not letters */
	{ "[", "{", 0 },
	{ "Z", "z", 1 },
};

START_TEST(test_strcaseeq)
{
	const char *a = caseeq_cases[_i].a, *b = caseeq_cases[_i].b;

	ck_assert_int_eq(util_strcaseeq(a, strlen(a), b, strlen(b)),
	    caseeq_cases[_i].eq);
	ck_assert_int_eq(util_strcaseeq(b, strlen(b), a, strlen(a)),
	    caseeq_cases[_i].eq);
}
END_TEST

START_TEST(test_strcaseeq_counted)
{
	/* Counted, not terminated: only the first <len> bytes matter. */
	ck_assert_int_eq(util_strcaseeq("HOSTx", 4, "hosty", 4), 1);
}
END_TEST

START_TEST(test_now)
{
	uint64_t a, b;

	a = util_now_ms();
	ck_assert_uint_gt(a, 0);
	usleep(20000);
	b = util_now_ms();
	ck_assert_uint_ge(b, a + 15);
	ck_assert_uint_lt(b, a + 5000);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_loop_test(tc, test_duration, 0,
	    (int)UTIL_NELEM(duration_cases));
	tcase_add_test(tc, test_duration_null);
	tcase_add_loop_test(tc, test_size, 0, (int)UTIL_NELEM(size_cases));
	tcase_add_loop_test(tc, test_hostport, 0,
	    (int)UTIL_NELEM(hostport_cases));
	tcase_add_test(tc, test_make_sockaddr);
	tcase_add_test(tc, test_format_sockaddr_short);
	tcase_add_test(tc, test_fd_flags);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_strlcpy);
	tcase_add_loop_test(tc, test_strcaseeq, 0,
	    (int)UTIL_NELEM(caseeq_cases));
	tcase_add_test(tc, test_strcaseeq_counted);
	tcase_add_test(tc, test_now);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
