/*
 * test_proxy_head: unit tests for worker/proxy_head.c: what the proxy
 * sends upstream (request line as sent, hop-by-hop fields removed, the
 * X-Forwarded-* set, X-Request-Id kept or made, Connection) and back to
 * the client (status line, Server, Connection, 101 upgrade), on heads
 * parsed by common/http.c.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "worker/proxy_head.h"

static struct http_request	req;
static struct http_response	resp;
static char			out[65536];

/* Parses <raw> as a request and rewrites it; the result in out[]. */
static int	rewrite_https;	/* the client came over TLS */

static size_t
rewrite_request(const char *raw, const char *ip, uint16_t port)
{
	struct http_limits lim = { 65536, 100 };
	int status = 0, n;
	size_t len;

	n = http_parse_request(raw, strlen(raw), &lim, &req, &status);
	ck_assert_msg(n > 0, "parse: %d status %d", n, status);
	ck_assert_uint_le(proxy_head_request_size(&req, n), sizeof(out));
	len = proxy_head_request(out, sizeof(out) - 1, &req, raw, n, ip,
	    port, rewrite_https);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, proxy_head_request_size(&req, n));
	out[len] = '\0';
	ck_assert_msg(len >= 4 && memcmp(out + len - 4, "\r\n\r\n", 4) == 0,
	    "no blank line: %s", out);
	return len;
}

static size_t
rewrite_response(const char *raw, int close, int dechunk)
{
	struct http_limits lim = { 65536, 100 };
	int status = 0, n;
	size_t len;

	n = http_parse_response(raw, strlen(raw), &lim, 0, &resp, &status);
	ck_assert_msg(n > 0, "parse: %d status %d", n, status);
	len = proxy_head_response(out, proxy_head_response_size(n), &resp,
	    close, dechunk);
	ck_assert_uint_gt(len, 0);
	out[len] = '\0';
	return len;
}

/* 1 when out[] has the line "<line>\r\n" (case-sensitive). */
static int
has_line(const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	return strstr(out, want) != NULL;
}

static int
has_name(const char *name)
{
	char want[128];
	const char *p;
	size_t n;

	n = snprintf(want, sizeof(want), "\r\n%s:", name);
	for (p = out; (p = strchr(p, '\r')) != NULL; p++)
		if (strncasecmp(p, want, n) == 0)
			return 1;
	return 0;
}

START_TEST(test_request_line_and_host_as_sent)
{
	rewrite_request("GET /a/b?x=1&y=%20 HTTP/1.1\r\n"
	    "Host: Example.TEST:8080\r\nAccept: */*\r\n\r\n", "10.0.0.7",
	    80);
	ck_assert(strncmp(out, "GET /a/b?x=1&y=%20 HTTP/1.1\r\n", 29) == 0);
	ck_assert(has_line("Host: Example.TEST:8080"));
	ck_assert(has_line("Accept: */*"));
	ck_assert(has_line("X-Forwarded-For: 10.0.0.7"));
	ck_assert(has_line("X-Forwarded-Proto: http"));
	ck_assert(has_line("X-Forwarded-Host: Example.TEST:8080"));
	ck_assert(has_line("X-Forwarded-Port: 80"));
	ck_assert(has_line("Via: 1.1 ingressd"));
	ck_assert(has_line("Connection: keep-alive"));

	/* Earlier hops stay; HTTP/1.0 is named as received. */
	rewrite_request("GET / HTTP/1.0\r\nVia: 1.1 edge\r\n\r\n",
	    "10.0.0.7", 80);
	ck_assert(has_line("Via: 1.1 edge"));
	ck_assert(has_line("Via: 1.0 ingressd"));
}
END_TEST

/* RFC 9112 3.2.2: origin-form upstream, Host made from the target. */
START_TEST(test_absolute_form_rewritten)
{
	const char *p;
	int hosts = 0;

	rewrite_request("GET http://Www.Test.com:81/abs?q=1 HTTP/1.1\r\n"
	    "Host: stale.example\r\nAccept: */*\r\n\r\n", "10.0.0.7", 80);
	ck_assert_msg(strncmp(out, "GET /abs?q=1 HTTP/1.1\r\n",
	    strlen("GET /abs?q=1 HTTP/1.1\r\n")) == 0, "%s", out);
	ck_assert(has_line("Host: Www.Test.com:81"));
	ck_assert(has_line("X-Forwarded-Host: Www.Test.com:81"));
	ck_assert(!has_line("Host: stale.example"));
	ck_assert(has_line("Accept: */*"));
	for (p = out; (p = strstr(p, "\r\nHost:")) != NULL; p++)
		hosts++;
	ck_assert_int_eq(hosts, 1);

	/* Without a path the target means "/". */
	rewrite_request("HEAD http://a.test HTTP/1.1\r\nHost: a.test\r\n"
	    "\r\n", "10.0.0.7", 80);
	ck_assert(strncmp(out, "HEAD / HTTP/1.1\r\n", 17) == 0);
	ck_assert(has_line("Host: a.test"));

	/* OPTIONS * stays as sent. */
	rewrite_request("OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n",
	    "10.0.0.7", 80);
	ck_assert(strncmp(out, "OPTIONS * HTTP/1.1\r\n", 20) == 0);
}
END_TEST

START_TEST(test_hop_by_hop_removed)
{
	rewrite_request("POST /up HTTP/1.1\r\nHost: a\r\n"
	    "Connection: keep-alive, X-Secret, te\r\nKeep-Alive: timeout=5\r\n"
	    "Proxy-Connection: keep-alive\r\nTE: trailers\r\n"
	    "Upgrade: h2c\r\nX-Secret: 1\r\nX-Kept: 2\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", "1.2.3.4", 8080);
	ck_assert(!has_name("Keep-Alive"));
	ck_assert(!has_name("Proxy-Connection"));
	ck_assert(!has_name("TE"));
	ck_assert(!has_name("Upgrade"));
	ck_assert(!has_name("X-Secret"));
	ck_assert(has_line("X-Kept: 2"));
	/* Framing stays, whatever Connection says. */
	ck_assert(has_line("Transfer-Encoding: chunked"));
	ck_assert(has_line("Connection: keep-alive"));
	ck_assert(strstr(out, "Connection: keep-alive, X-Secret") == NULL);
}
END_TEST

START_TEST(test_connection_cannot_drop_framing)
{
	rewrite_request("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: Content-Length, Host\r\nContent-Length: 3\r\n\r\n",
	    "1.2.3.4", 80);
	ck_assert(has_line("Content-Length: 3"));
	ck_assert(has_line("Host: a"));
}
END_TEST

START_TEST(test_x_forwarded_for_appended)
{
	rewrite_request("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
	    "X-Forwarded-Port: 1\r\n\r\n", "::1", 8443);
	ck_assert(has_line("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, ::1"));
	ck_assert(has_line("X-Forwarded-Proto: http"));
	ck_assert(has_line("X-Forwarded-Host: a"));
	ck_assert(has_line("X-Forwarded-Port: 8443"));
	ck_assert(strstr(out, "https") == NULL);
	ck_assert(strstr(out, "evil") == NULL);
	ck_assert(!has_line("X-Forwarded-Port: 1"));
}
END_TEST

/* A client on the HTTPS listener: Proto https, its own value dropped. */
START_TEST(test_x_forwarded_proto_https)
{
	rewrite_https = 1;
	rewrite_request("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-Proto: http\r\n\r\n", "1.2.3.4", 8443);
	rewrite_https = 0;
	ck_assert(has_line("X-Forwarded-Proto: https"));
	ck_assert(!has_line("X-Forwarded-Proto: http"));
	ck_assert(has_line("X-Forwarded-Port: 8443"));
}
END_TEST

START_TEST(test_request_id)
{
	char big[300], raw[512];
	const char *p;
	size_t i;

	rewrite_request("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n"
	    "\r\n", "1.2.3.4", 80);
	ck_assert(has_line("X-Request-Id: abc-123"));

	/* Too long: replaced by 32 hex characters. */
	memset(big, 'z', 129);
	big[129] = '\0';
	snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Request-Id: %s\r\n\r\n", big);
	rewrite_request(raw, "1.2.3.4", 80);
	ck_assert(strstr(out, big) == NULL);
	ck_assert((p = strstr(out, "\r\nX-Request-Id: ")) != NULL);
	p += 16;
	for (i = 0; i < 32; i++)
		ck_assert(strchr("0123456789abcdef", p[i]) != NULL);
	ck_assert(p[32] == '\r');

	/* None: made, and never the same twice. */
	rewrite_request("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "1.2.3.4", 80);
	ck_assert((p = strstr(out, "\r\nX-Request-Id: ")) != NULL);
	memcpy(big, p + 16, 32);
	rewrite_request("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "1.2.3.4", 80);
	ck_assert((p = strstr(out, "\r\nX-Request-Id: ")) != NULL);
	ck_assert(memcmp(big, p + 16, 32) != 0);
}
END_TEST

START_TEST(test_upgrade_request)
{
	rewrite_request("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n", "1.2.3.4",
	    80);
	ck_assert(has_line("Upgrade: websocket"));
	ck_assert(has_line("Connection: upgrade"));
	ck_assert(has_line("Sec-WebSocket-Key: k"));
	ck_assert(!has_line("Connection: keep-alive"));
}
END_TEST

START_TEST(test_request_too_small_buffer)
{
	const char *raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_limits lim = { 65536, 100 };
	int status = 0, n;

	n = http_parse_request(raw, strlen(raw), &lim, &req, &status);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(proxy_head_request(out, 40, &req, raw, n, "1.2.3.4",
	    80, 0), 0);
}
END_TEST

START_TEST(test_response)
{
	rewrite_response("HTTP/1.0 404 Nope\r\nContent-Length: 3\r\n"
	    "Keep-Alive: timeout=5\r\nConnection: keep-alive, X-Hop\r\n"
	    "X-Hop: 1\r\nX-App: 2\r\n\r\n", 0, 0);
	ck_assert(strncmp(out, "HTTP/1.1 404 Nope\r\n", 19) == 0);
	ck_assert(has_line("Content-Length: 3"));
	ck_assert(has_line("X-App: 2"));
	ck_assert(has_line("Server: ingressd"));
	ck_assert(has_line("Connection: keep-alive"));
	ck_assert(!has_name("Keep-Alive"));
	ck_assert(!has_name("X-Hop"));

	rewrite_response("HTTP/1.1 200 OK\r\nServer: app/1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 1, 0);
	ck_assert(has_line("Server: app/1"));
	ck_assert(!has_line("Server: ingressd"));
	ck_assert(has_line("Transfer-Encoding: chunked"));
	ck_assert(has_line("Connection: close"));

	/* Decoded for an HTTP/1.0 client: no chunked framing announced. */
	rewrite_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "X-App: 3\r\n\r\n", 1, 1);
	ck_assert(!has_name("Transfer-Encoding"));
	ck_assert(has_line("X-App: 3"));
	ck_assert(has_line("Connection: close"));
}
END_TEST

START_TEST(test_response_101)
{
	rewrite_response("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: x\r\n\r\n", 1, 0);
	ck_assert(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) ==
	    0);
	ck_assert(has_line("Upgrade: websocket"));
	ck_assert(has_line("Connection: upgrade"));
	ck_assert(has_line("Sec-WebSocket-Accept: x"));
	ck_assert(!has_line("Connection: close"));
}
END_TEST

static Suite *
proxy_head_suite(void)
{
	Suite *s = suite_create("proxy_head");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_request_line_and_host_as_sent);
	tcase_add_test(tc, test_absolute_form_rewritten);
	tcase_add_test(tc, test_hop_by_hop_removed);
	tcase_add_test(tc, test_connection_cannot_drop_framing);
	tcase_add_test(tc, test_x_forwarded_for_appended);
	tcase_add_test(tc, test_x_forwarded_proto_https);
	tcase_add_test(tc, test_request_id);
	tcase_add_test(tc, test_upgrade_request);
	tcase_add_test(tc, test_request_too_small_buffer);
	tcase_add_test(tc, test_response);
	tcase_add_test(tc, test_response_101);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proxy_head_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
