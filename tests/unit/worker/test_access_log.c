/*
 * test_access_log: unit tests for worker/access_log.c: the JSON and
 * combined lines (fields, escaping of quotes, controls and bytes that are
 * not UTF-8, cuts at the field limits, the line bound), and the writer
 * (a request's record to a line on the fd, drops instead of blocking on a
 * full pipe).
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

#include <ev.h>

#include "common/http.h"
#include "common/ipc.h"
#include "common/util.h"
#include "worker/access_log.h"

static char	out[ACCESS_LOG_LINE_MAX + 1];

static struct access_log_str
S(const char *s)
{
	struct access_log_str v = { s, s != NULL ? strlen(s) : 0, 0 };

	return v;
}

/* 2026-11-26T04:30:32.123Z */
#define T0	1795667432.123

static void
entry(struct access_log_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->time = T0;
	e->client = "192.0.2.7";
	e->method = S("GET");
	e->host = S("app.test");
	e->path = S("/a?b=1");
	e->minor = 1;
	e->status = 200;
	e->bytes = 1234;
	e->body_bytes = 1000;
	e->duration = 0.0125;
	e->upstream = "10.0.0.5:8080";
	e->upstream_time = 0.01;
	e->reqid = S("0123abcd");
	e->agent = S("curl/8.0");
	e->referer = S(NULL);
}

static const char *
fmt(int format, const struct access_log_entry *e)
{
	size_t n;

	n = access_log_format(format, e, out, sizeof(out) - 1);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, ACCESS_LOG_LINE_MAX);
	ck_assert_int_eq(out[n - 1], '\n');
	ck_assert_ptr_null(memchr(out, '\n', n - 1));
	out[n] = '\0';
	return out;
}

START_TEST(test_json_line)
{
	struct access_log_entry e;

	entry(&e);
	ck_assert_str_eq(fmt(IPC_LOG_JSON, &e),
	    "{\"time\":\"2026-11-26T04:30:32.123Z\",\"client\":\"192.0.2.7\","
	    "\"method\":\"GET\",\"host\":\"app.test\",\"path\":\"/a?b=1\","
	    "\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes_sent\":1234,"
	    "\"body_bytes_sent\":1000,\"duration\":0.013,\"upstream_addr\":\"10.0.0.5:8080\","
	    "\"upstream_time\":0.010,\"request_id\":\"0123abcd\","
	    "\"user_agent\":\"curl/8.0\",\"referer\":null}\n");
}
END_TEST

START_TEST(test_json_none)
{
	struct access_log_entry e;

	entry(&e);
	e.method = e.host = e.path = e.reqid = e.agent = S(NULL);
	e.minor = -1;
	e.status = 400;
	e.upstream = NULL;
	e.upstream_time = 0.5;		/* ignored without an upstream */
	ck_assert_str_eq(fmt(IPC_LOG_JSON, &e),
	    "{\"time\":\"2026-11-26T04:30:32.123Z\",\"client\":\"192.0.2.7\","
	    "\"method\":null,\"host\":null,\"path\":null,\"protocol\":null,"
	    "\"status\":400,\"bytes_sent\":1234,\"body_bytes_sent\":1000,"
	    "\"duration\":0.013,"
	    "\"upstream_addr\":null,\"upstream_time\":null,"
	    "\"request_id\":null,\"user_agent\":null,\"referer\":null}\n");
}
END_TEST

START_TEST(test_combined_line)
{
	struct access_log_entry e;

	entry(&e);
	ck_assert_str_eq(fmt(IPC_LOG_COMBINED, &e),
	    "192.0.2.7 - - [26/Nov/2026:04:30:32 +0000] \"GET /a?b=1 "
	    "HTTP/1.1\" 200 1000 \"-\" \"curl/8.0\" 0.013 \"app.test\" "
	    "10.0.0.5:8080 0.010 0123abcd\n");
	e.method = e.path = e.host = e.reqid = e.agent = S(NULL);
	e.upstream = NULL;
	e.minor = 0;
	ck_assert_str_eq(fmt(IPC_LOG_COMBINED, &e),
	    "192.0.2.7 - - [26/Nov/2026:04:30:32 +0000] \"-\" 200 1000 "
	    "\"-\" \"-\" 0.013 \"-\" - - -\n");
}
END_TEST

/* One field's bytes and how each format writes them. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*json;		/* the JSON value */
	const char	*text;		/* the combined field, unquoted */
} esc_cases[] = {
	{ "plain", 5, "\"plain\"", "plain" },
	{ "", 0, "\"\"", "" },
	{ "q\"b\\", 4, "\"q\\\"b\\\\\"", "q\\x22b\\x5C" },
	{ "\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"", "\\x0A\\x0D\\x09\\x08\\x0C" },
	{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"", "\\x01\\x1F\\x7F" },
	{ "a\0b", 3, "\"a\\u0000b\"", "a\\x00b" },
	/* valid UTF-8 stays as it is in JSON; text logs escape it */
	{ "\xc3\xa9", 2, "\"\xc3\xa9\"", "\\xC3\\xA9" },
	{ "\xe2\x82\xac", 3, "\"\xe2\x82\xac\"", "\\xE2\\x82\\xAC" },
	{ "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"",
	    "\\xF0\\x9F\\x98\\x80" },
	/* not UTF-8: every byte escaped on its own */
	{ "\xff", 1, "\"\\u00ff\"", "\\xFF" },
	{ "\xc3", 1, "\"\\u00c3\"", "\\xC3" },		/* cut short */
	{ "\xc3(", 2, "\"\\u00c3(\"", "\\xC3(" },	/* bad continuation */
	{ "\xc0\xaf", 2, "\"\\u00c0\\u00af\"", "\\xC0\\xAF" },	/* overlong */
	{ "\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\"",
	    "\\xE0\\x80\\xAF" },				/* overlong */
	{ "\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"",
	    "\\xED\\xA0\\x80" },				/* surrogate */
	{ "\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\"",
	    "\\xF4\\x90\\x80\\x80" },				/* > U+10FFFF */
	{ "\x80", 1, "\"\\u0080\"", "\\x80" },		/* lone continuation */
};

START_TEST(test_escape)
{
	struct access_log_entry e;
	char want[256];

	entry(&e);
	e.agent.p = esc_cases[_i].in;
	e.agent.len = esc_cases[_i].len;
	snprintf(want, sizeof(want), "\"user_agent\":%s,",
	    esc_cases[_i].json);
	ck_assert_msg(strstr(fmt(IPC_LOG_JSON, &e), want) != NULL,
	    "%s lacks %s", out, want);
	snprintf(want, sizeof(want), "\"-\" \"%s\" ", esc_cases[_i].text);
	ck_assert_msg(strstr(fmt(IPC_LOG_COMBINED, &e), want) != NULL,
	    "%s lacks %s", out, want);
}
END_TEST

START_TEST(test_cut)
{
	struct access_log_entry e;
	static char path[4000], want[4000];

	entry(&e);
	/* at the limit: whole; one byte over: cut and marked */
	memset(path, 'p', sizeof(path));
	e.path.p = path;
	e.path.len = ACCESS_LOG_PATH_MAX;
	snprintf(want, sizeof(want), "\"path\":\"%.*s\",",
	    ACCESS_LOG_PATH_MAX, path);
	ck_assert_ptr_nonnull(strstr(fmt(IPC_LOG_JSON, &e), want));
	e.path.len = ACCESS_LOG_PATH_MAX + 1;
	snprintf(want, sizeof(want), "\"path\":\"%.*s...\",",
	    ACCESS_LOG_PATH_MAX, path);
	ck_assert_ptr_nonnull(strstr(fmt(IPC_LOG_JSON, &e), want));
	snprintf(want, sizeof(want), " %.*s... HTTP/1.1\"",
	    ACCESS_LOG_PATH_MAX, path);
	ck_assert_ptr_nonnull(strstr(fmt(IPC_LOG_COMBINED, &e), want));

	/* never inside a UTF-8 sequence: the "é" at the limit goes whole */
	memcpy(path + ACCESS_LOG_PATH_MAX - 1, "\xc3\xa9", 2);
	e.path.len = ACCESS_LOG_PATH_MAX + 10;
	snprintf(want, sizeof(want), "\"path\":\"%.*s...\",",
	    ACCESS_LOG_PATH_MAX - 1, path);
	ck_assert_ptr_nonnull(strstr(fmt(IPC_LOG_JSON, &e), want));

	/* a record cut when it was kept says so too */
	e.path.len = 3;
	e.path.truncated = 1;
	ck_assert_ptr_nonnull(strstr(fmt(IPC_LOG_JSON, &e),
	    "\"path\":\"ppp...\","));
}
END_TEST

START_TEST(test_line_bound)
{
	struct access_log_entry e;
	static char junk[4096];
	size_t n;

	/* every field at its limit, every byte escaped to six */
	memset(junk, 0x01, sizeof(junk));
	entry(&e);
	e.method.p = e.host.p = e.path.p = e.agent.p = e.referer.p =
	    e.reqid.p = junk;
	e.method.len = e.host.len = e.path.len = e.agent.len = e.referer.len =
	    e.reqid.len = sizeof(junk);
	e.client = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
	e.upstream = "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535";
	e.bytes = UINT64_MAX;
	e.body_bytes = UINT64_MAX;
	e.status = 999;
	e.duration = 1e9;
	e.upstream_time = 1e9;
	n = access_log_format(IPC_LOG_JSON, &e, out, ACCESS_LOG_LINE_MAX);
	ck_assert_uint_gt(n, 6 * (ACCESS_LOG_PATH_MAX + ACCESS_LOG_AGENT_MAX));
	ck_assert_uint_le(n, ACCESS_LOG_LINE_MAX);
	n = access_log_format(IPC_LOG_COMBINED, &e, out, ACCESS_LOG_LINE_MAX);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, ACCESS_LOG_LINE_MAX);

	/* refused: a buffer under the bound, an unknown format */
	entry(&e);
	ck_assert_uint_eq(access_log_format(IPC_LOG_JSON, &e, out,
	    ACCESS_LOG_LINE_MAX - 1), 0);
	ck_assert_uint_eq(access_log_format(IPC_LOG_OFF, &e, out,
	    sizeof(out)), 0);
	ck_assert_uint_eq(access_log_format(7, &e, out, sizeof(out)), 0);
}
END_TEST

/* Parses <raw> into <r> for access_log_begin(). */
static void
parse(const char *raw, struct http_request *r)
{
	struct http_limits lim = { 65536, 100 };
	int status = 0;

	ck_assert_int_gt(http_parse_request(raw, strlen(raw), &lim, r,
	    &status), 0);
}

/* Everything in the pipe <fd> (non-blocking) into out[]. */
static size_t
drain(int fd)
{
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(out) - 1 &&
	    (n = read(fd, out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	return len;
}

START_TEST(test_writer_record)
{
	static struct http_request r;
	static const char head[] = "GET /x HTTP/1.1\r\nHost: a\r\n"
	    "X-Request-Id: feedbeef\r\nConnection: keep-alive\r\n\r\n";
	struct access_log_req *q;
	struct sockaddr_in sin;
	uint8_t client[4] = { 127, 0, 0, 1 };
	int p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	access_log_init(EV_DEFAULT);
	ck_assert_ptr_null(access_log_begin(NULL, 4, client, 1.0)); /* off */
	access_log_set(p[1], IPC_LOG_JSON);
	parse("GET /x?y=\"1\" HTTP/1.0\r\nHost: a.test\r\nuser-agent: UA\r\n"
	    "Referer: r\r\nX-Request-Id: client-id\r\n\r\n", &r);
	q = access_log_begin(&r, 4, client, 100.0);
	ck_assert_ptr_nonnull(q);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8080);
	sin.sin_addr.s_addr = htonl(0x0a000005);
	access_log_upstream(q, (struct sockaddr *)&sin, head,
	    sizeof(head) - 1, 100.25);
	access_log_status(q, 201);
	access_log_sent(q, 100);
	access_log_sent(q, 23);
	access_log_end(&q, 100.5);
	ck_assert_ptr_null(q);
	/* batched: nothing written yet */
	ck_assert_uint_eq(drain(p[0]), 0);

	/* the client left before any response: 499, no upstream */
	q = access_log_begin(&r, 4, client, 100.0);
	access_log_end(&q, 100.5);
	access_log_close();
	drain(p[0]);
	ck_assert_msg(strstr(out, "\"client\":\"127.0.0.1\",\"method\":\"GET\","
	    "\"host\":\"a.test\",\"path\":\"/x?y=\\\"1\\\"\",\"protocol\":"
	    "\"HTTP/1.0\",\"status\":201,\"bytes_sent\":123,"
	    "\"body_bytes_sent\":123,\"duration\":"
	    "0.500,\"upstream_addr\":\"10.0.0.5:8080\",\"upstream_time\":"
	    "0.250,\"request_id\":\"feedbeef\",\"user_agent\":\"UA\","
	    "\"referer\":\"r\"}\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"status\":499,\"bytes_sent\":0,"
	    "\"body_bytes_sent\":0,\"duration\":0.500,\"upstream_addr\":null,\"upstream_time\":null,"
	    "\"request_id\":\"client-id\"") != NULL, "%s", out);
	close(p[0]);
}
END_TEST

START_TEST(test_writer_full_pipe)
{
	static struct http_request r;
	struct access_log_req *q;
	uint8_t client[4] = { 127, 0, 0, 1 };
	size_t len, lines = 0, i;
	int p[2], n = 4000;

	/* Nobody reads: the pipe and the buffer fill, then lines drop. */
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	access_log_init(EV_DEFAULT);
	access_log_set(p[1], IPC_LOG_COMBINED);
	parse("GET /some/path/of/a/length HTTP/1.1\r\nHost: a.test\r\n\r\n",
	    &r);
	for (i = 0; i < (size_t)n; i++) {
		q = access_log_begin(&r, 4, client, 1.0);
		access_log_status(q, 200);
		access_log_end(&q, 2.0);
	}
	ck_assert_uint_gt(access_log_dropped(), 0);
	ck_assert_uint_lt(access_log_dropped(), (uint64_t)n);
	/* what went out is whole lines */
	len = drain(p[0]);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(out[len - 1], '\n');
	for (i = 0; i < len; i++)
		lines += out[i] == '\n';
	/* the rest comes at close, minus what was dropped */
	len = 0;
	access_log_close();
	while (drain(p[0]) > 0)
		for (i = 0; out[i] != '\0'; i++)
			lines += out[i] == '\n';
	ck_assert_uint_eq(lines + access_log_dropped(), (uint64_t)n);
	close(p[0]);
}
END_TEST

static Suite *
access_log_suite(void)
{
	Suite *s = suite_create("access_log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_json_line);
	tcase_add_test(tc, test_json_none);
	tcase_add_test(tc, test_combined_line);
	tcase_add_loop_test(tc, test_escape, 0, (int)UTIL_NELEM(esc_cases));
	tcase_add_test(tc, test_cut);
	tcase_add_test(tc, test_line_bound);
	tcase_add_test(tc, test_writer_record);
	tcase_add_test(tc, test_writer_full_pipe);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(access_log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
