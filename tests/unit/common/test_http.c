/*
 * Unit tests for common/http.c: the request and response head parsers, the
 * chunked scanner and the header helpers.  Table-driven; every rejection
 * names the status it must produce, and every valid head is also fed in
 * prefixes and with a second message behind it.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

/* A string literal with its length, NULs and all. */
#define S(s)	s, sizeof(s) - 1

static const struct http_limits lim_default = { 8192, 100 };

static int
streq_n(const char *p, size_t len, const char *want)
{
	if (want == NULL)
		return p == NULL;
	return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Valid requests: what the parser must report for each. */
static const struct req_ok {
	const char	*in;
	size_t		 len;
	const char	*method;
	const char	*target;
	const char	*path;
	const char	*query;
	const char	*host;
	int		 minor;
	int		 body;
	uint64_t	 cl;
	int		 keep_alive;
	int		 upgrade;
	int		 expect;
	int		 is_head;
	int		 is_connect;
	size_t		 nheaders;
} req_ok[] = {
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	    "GET", "/", "/", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    1 },
	{ S("GET /p/q?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
	    "GET", "/p/q?x=1&y", "/p/q", "x=1&y", "example.com:8080", 1,
	    HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0, 1 },
	{ S("GET /? HTTP/1.1\r\nHost: a\r\n\r\n"),
	    "GET", "/?", "/", "", "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0, 1 },
	{ S("GET http://h.example/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n"),
	    "GET", "http://h.example/a/b?c", "/a/b", "c", "h.example", 1,
	    HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0, 1 },
	{ S("GET HTTPS://h:443 HTTP/1.1\r\nHost: h\r\n\r\n"),
	    "GET", "HTTPS://h:443", "/", NULL, "h:443", 1,
	    HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0, 1 },
	{ S("GET http://[::1]:80?q HTTP/1.1\r\nHost: x\r\n\r\n"),
	    "GET", "http://[::1]:80?q", "/", "q", "[::1]:80", 1,
	    HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0, 1 },
	{ S("CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n"),
	    "CONNECT", "h.example:443", NULL, NULL, "h.example:443", 1,
	    HTTP_BODY_NONE, 0, 1, 0, 0, 0, 1, 1 },
	{ S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
	    "OPTIONS", "*", "*", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    1 },
	{ S("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	    "HEAD", "/x", "/x", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 1, 0,
	    1 },
	/* methods are case-sensitive: "head" is some other method */
	{ S("head /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	    "head", "/x", "/x", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    1 },
	{ S("GET / HTTP/1.0\r\n\r\n"),
	    "GET", "/", "/", NULL, NULL, 0, HTTP_BODY_NONE, 0, 0, 0, 0, 0, 0,
	    0 },
	{ S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
	    "GET", "/", "/", NULL, NULL, 0, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    1 },
	{ S("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
	    "GET", "/", "/", NULL, NULL, 0, HTTP_BODY_NONE, 0, 0, 0, 0, 0, 0,
	    1 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
	    "GET", "/", "/", NULL, "a", 1, HTTP_BODY_NONE, 0, 0, 0, 0, 0, 0,
	    2 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nconnection: foo,  CLOSE \r\n\r\n"),
	    "GET", "/", "/", NULL, "a", 1, HTTP_BODY_NONE, 0, 0, 0, 0, 0, 0,
	    2 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\n"
	    "Connection: close\r\n\r\n"),
	    "GET", "/", "/", NULL, "a", 1, HTTP_BODY_NONE, 0, 0, 0, 0, 0, 0,
	    3 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_LENGTH, 42, 1, 0, 0, 0,
	    0, 2 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_LENGTH, 0, 1, 0, 0, 0,
	    0, 2 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_LENGTH, 7, 1, 0, 0, 0,
	    0, 2 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_LENGTH,
	    UINT64_C(9223372036854775807), 1, 0, 0, 0, 0, 2 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5 ,5\r\n"
	    "Content-Length: 5\r\n\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_LENGTH, 5, 1, 0, 0, 0,
	    0, 3 },
	{ S("POST /u HTTP/1.0\r\nContent-Length: 3\r\n\r\n"),
	    "POST", "/u", "/u", NULL, NULL, 0, HTTP_BODY_LENGTH, 3, 0, 0, 0, 0,
	    0, 1 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_CHUNKED, 0, 1, 0, 0, 0,
	    0, 2 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: \t CHUNKED \t\r\n"
	    "\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_CHUNKED, 0, 1, 0, 0, 0,
	    0, 2 },
	{ S("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n"
	    "\r\n"),
	    "POST", "/u", "/u", NULL, "a", 1, HTTP_BODY_CHUNKED, 0, 1, 0, 0, 0,
	    0, 2 },
	{ S("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n"),
	    "GET", "/ws", "/ws", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 1, 0, 0, 0,
	    3 },
	/* Upgrade without Connection: upgrade is not an upgrade */
	{ S("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"),
	    "GET", "/ws", "/ws", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    2 },
	/* nor is Connection: upgrade without Upgrade */
	{ S("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"),
	    "GET", "/ws", "/ws", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    2 },
	/* and HTTP/1.0 cannot upgrade (RFC 9110 7.8) */
	{ S("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n"),
	    "GET", "/ws", "/ws", NULL, NULL, 0, HTTP_BODY_NONE, 0, 0, 0, 0, 0,
	    0,
	    2 },
	{ S("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	    "Content-Length: 10\r\n\r\n"),
	    "PUT", "/f", "/f", NULL, "a", 1, HTTP_BODY_LENGTH, 10, 1, 0, 1, 0,
	    0,
	    3 },
	{ S("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n"
	    "Content-Length: 10\r\n\r\n"),
	    "PUT", "/f", "/f", NULL, NULL, 0, HTTP_BODY_LENGTH, 10, 0, 0, 0, 0,
	    0, 2 },
	{ S("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-x\r\n\r\n"),
	    "PUT", "/f", "/f", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    2 },
	/* leading empty lines are skipped (RFC 9112 2.2) */
	{ S("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	    "GET", "/", "/", NULL, "a", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    1 },
	/* empty Host is valid; OWS and obs-text in values */
	{ S("GET / HTTP/1.1\r\nHost:\r\nX-A:\t v \xff\xfe w \t\r\n"
	    "x-empty:\r\n\r\n"),
	    "GET", "/", "/", NULL, "", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0, 3 },
	{ S("M-._~!#$%&'*+^`|z /~a!$&'()*+,;=:@%20\"<>[]{}|\\^` HTTP/1.1\r\n"
	    "Host: a-b.c_d~e!$&'()*+,;=%41:1\r\n\r\n"),
	    "M-._~!#$%&'*+^`|z", "/~a!$&'()*+,;=:@%20\"<>[]{}|\\^`",
	    "/~a!$&'()*+,;=:@%20\"<>[]{}|\\^`", NULL,
	    "a-b.c_d~e!$&'()*+,;=%41:1", 1, HTTP_BODY_NONE, 0, 1, 0, 0, 0, 0,
	    1 },
};

START_TEST(test_request_ok)
{
	const struct req_ok *t = &req_ok[_i];
	struct http_request *req;
	int r, status = -1;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	r = http_parse_request(t->in, t->len, &lim_default, req, &status);
	ck_assert_msg(r == (int)t->len, "case %d: got %d status %d", _i, r,
	    status);
	ck_assert_msg(streq_n(req->method, req->method_len, t->method),
	    "case %d method", _i);
	ck_assert_msg(streq_n(req->target, req->target_len, t->target),
	    "case %d target", _i);
	ck_assert_msg(streq_n(req->path, req->path_len, t->path),
	    "case %d path", _i);
	ck_assert_msg(streq_n(req->query, req->query_len, t->query),
	    "case %d query", _i);
	ck_assert_msg(streq_n(req->host, req->host_len, t->host),
	    "case %d host", _i);
	ck_assert_int_eq(req->minor_version, t->minor);
	ck_assert_int_eq((int)req->body, t->body);
	ck_assert_uint_eq(req->content_length, t->cl);
	ck_assert_msg(req->keep_alive == t->keep_alive, "case %d ka", _i);
	ck_assert_msg(req->upgrade == t->upgrade, "case %d upgrade", _i);
	ck_assert_msg(req->expect_continue == t->expect, "case %d expect", _i);
	ck_assert_int_eq(req->is_head, t->is_head);
	ck_assert_int_eq(req->is_connect, t->is_connect);
	ck_assert_uint_eq(req->nheaders, t->nheaders);
	free(req);
}
END_TEST

/* Every proper prefix of a valid head is incomplete, never an error. */
START_TEST(test_request_prefixes)
{
	const struct req_ok *t = &req_ok[_i];
	struct http_request *req;
	size_t n;
	int r, status;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	for (n = 0; n < t->len; n++) {
		r = http_parse_request(t->in, n, &lim_default, req, &status);
		ck_assert_msg(r == HTTP_PARSE_INCOMPLETE,
		    "case %d prefix %zu: %d", _i, n, r);
	}
	free(req);
}
END_TEST

/* A second request behind the first: only the first head is taken. */
START_TEST(test_request_pipelined)
{
	const struct req_ok *t = &req_ok[_i];
	struct http_request *req;
	char buf[1024];
	static const char next[] = "GET /next HTTP/1.1\r\nHost: b\r\n\r\n";
	int r, status;

	ck_assert_uint_lt(t->len + sizeof(next), sizeof(buf));
	memcpy(buf, t->in, t->len);
	memcpy(buf + t->len, next, sizeof(next) - 1);
	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	r = http_parse_request(buf, t->len + sizeof(next) - 1, &lim_default,
	    req, &status);
	ck_assert_int_eq(r, (int)t->len);
	r = http_parse_request(buf + t->len, sizeof(next) - 1, &lim_default,
	    req, &status);
	ck_assert_int_eq(r, (int)sizeof(next) - 1);
	ck_assert(streq_n(req->path, req->path_len, "/next"));
	ck_assert(streq_n(req->host, req->host_len, "b"));
	free(req);
}
END_TEST

/* Refused requests and the status each must get. */
static const struct req_bad {
	const char	*in;
	size_t		 len;
	int		 status;
} req_bad[] = {
	/* request-line */
	{ S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400 },
	{ S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\x80 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / http/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/a.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / FOO\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /\r\n\r\n"), 400 },
	{ S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505 },
	/* target forms */
	{ S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("CONNECT http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http:/a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://a#f HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://a:8x/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	/* fields */
	{ S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n X: b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX b: c\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX(: c\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), 400 },
	/* Host */
	{ S("GET / HTTP/1.1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n"), 400 },
	{ S("GET http://a/ HTTP/1.1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n"), 400 },
	/* framing and smuggling shapes */
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 1\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n"
	    "\r\n"),
	    400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n"
	    "\r\n"),
	    400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n"
	    "\r\n"),
	    400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n"
	    "\r\n"),
	    400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: \x0b" "chunked\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\0\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
	    400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked"
	    "\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
	    "\r\n"), 501 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 501 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, "
	    "chunked\r\n\r\n"), 501 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n"
	    "\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775808\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18446744073709551617\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
	    "Content-Length: +1\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa1\r\n\r\n"),
	    400 },
};

START_TEST(test_request_bad)
{
	const struct req_bad *t = &req_bad[_i];
	struct http_request *req;
	int r, status = 0;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	r = http_parse_request(t->in, t->len, &lim_default, req, &status);
	ck_assert_msg(r == HTTP_PARSE_ERROR && status == t->status,
	    "case %d: got %d status %d, want status %d", _i, r, status,
	    t->status);
	free(req);
}
END_TEST

/* Limits: 414 for a long request line, 431 for a big or crowded head. */
START_TEST(test_request_limits)
{
	struct http_limits lim = { 64, 3 };
	struct http_request *req;
	char buf[256];
	int r, status;
	size_t n;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);

	/* exactly at the limit is fine */
	n = (size_t)snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n"
	    "\r\n", "0123456789012345678901234567890123456");
	ck_assert_uint_eq(n, 64);
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, 64);
	/* one over is 431, as soon as the 64th byte is not the end */
	lim.max_head_size = 63;
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 431);
	r = http_parse_request(buf, 63, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 431);
	r = http_parse_request(buf, 62, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_INCOMPLETE);

	/* request line that does not end within the limit: 414 */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /", 5);
	lim.max_head_size = 64;
	r = http_parse_request(buf, 63, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_INCOMPLETE);
	r = http_parse_request(buf, 64, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 414);
	r = http_parse_request(buf, sizeof(buf), &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 414);

	/* field count */
	lim.max_head_size = 1024;
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n"
	    "A: 1\r\nB: 2\r\n\r\n");
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, (int)n);
	ck_assert_uint_eq(req->nheaders, 3);
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n"
	    "A: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 431);

	/* NULL limits and zeroes mean the defaults */
	r = http_parse_request(buf, n, NULL, req, &status);
	ck_assert_int_eq(r, (int)n);
	lim.max_head_size = 0;
	lim.max_headers = 0;
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, (int)n);
	free(req);
}
END_TEST

/* max_headers is clamped to HTTP_MAX_HEADERS. */
START_TEST(test_request_max_headers_cap)
{
	struct http_limits lim = { 65536, 100000 };
	struct http_request *req;
	char *buf;
	size_t n = 0, i;
	int r, status;

	buf = malloc(65536);
	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(req);
	n += (size_t)sprintf(buf + n, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(buf + n, "X-%zu: v\r\n", i);
	n += (size_t)sprintf(buf + n, "\r\n");
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, (int)n);
	ck_assert_uint_eq(req->nheaders, HTTP_MAX_HEADERS);
	n -= 2;
	n += (size_t)sprintf(buf + n, "X-last: v\r\n\r\n");
	r = http_parse_request(buf, n, &lim, req, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 431);
	free(buf);
	free(req);
}
END_TEST

/* Field values are trimmed, names kept as sent, order kept. */
START_TEST(test_request_fields)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost:  a  \r\n"
	    "X-Long:\tone two\t \r\nEmpty:   \r\nB:c\r\n\r\n";
	struct http_request *req;
	int r, status;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	r = http_parse_request(in, sizeof(in) - 1, NULL, req, &status);
	ck_assert_int_eq(r, (int)sizeof(in) - 1);
	ck_assert_uint_eq(req->nheaders, 4);
	ck_assert(streq_n(req->headers[0].name, req->headers[0].name_len,
	    "Host"));
	ck_assert(streq_n(req->headers[0].value, req->headers[0].value_len,
	    "a"));
	ck_assert(streq_n(req->headers[1].name, req->headers[1].name_len,
	    "X-Long"));
	ck_assert(streq_n(req->headers[1].value, req->headers[1].value_len,
	    "one two"));
	ck_assert(streq_n(req->headers[2].name, req->headers[2].name_len,
	    "Empty"));
	ck_assert_uint_eq(req->headers[2].value_len, 0);
	ck_assert(streq_n(req->headers[3].value, req->headers[3].value_len,
	    "c"));
	ck_assert(streq_n(req->host, req->host_len, "a"));
	free(req);
}
END_TEST

/*
 * Long targets and values are scanned many bytes at a time: a bad byte
 * must be caught at every position, and every good byte let through.
 */
START_TEST(test_request_long_scans)
{
	static const unsigned char bad_value[] = { 0x00, 0x01, 0x08, 0x0a,
	    0x0b, 0x1f, 0x7f };
	static const unsigned char good_value[] = { 0x09, 0x20, 0x21, 0x7e,
	    0x80, 0xff };
	static const unsigned char bad_target[] = { 0x00, 0x09, 0x1f, 0x20,
	    0x7f, 0x80, 0xff };
	static const char pre_v[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	static const char pre_t[] = "GET /";
	static const char post_t[] = " HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_request *req;
	char buf[256];
	size_t pos, i, n;
	int r, status;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	for (pos = 0; pos < 50; pos++) {
		for (i = 0; i < sizeof(bad_value) + sizeof(good_value); i++) {
			n = sizeof(pre_v) - 1;
			memcpy(buf, pre_v, n);
			memset(buf + n, 'v', 50);
			buf[n + pos] = i < sizeof(bad_value) ? bad_value[i] :
			    good_value[i - sizeof(bad_value)];
			/* leading OWS is not part of the value */
			if (pos == 0 && (buf[n] == '\t' || buf[n] == ' '))
				buf[n] = 'v';
			n += 50;
			memcpy(buf + n, "z\r\n\r\n", 5);
			n += 5;
			r = http_parse_request(buf, n, NULL, req, &status);
			if (i < sizeof(bad_value))
				ck_assert_msg(r == HTTP_PARSE_ERROR &&
				    status == 400, "value pos %zu byte %zu",
				    pos, i);
			else
				ck_assert_msg(r == (int)n &&
				    req->headers[1].value_len == 51,
				    "value pos %zu byte %zu: %d", pos, i, r);
		}
		for (i = 0; i < sizeof(bad_target); i++) {
			n = sizeof(pre_t) - 1;
			memcpy(buf, pre_t, n);
			memset(buf + n, 't', 50);
			buf[n + pos] = bad_target[i];
			n += 50;
			memcpy(buf + n, post_t, sizeof(post_t) - 1);
			n += sizeof(post_t) - 1;
			r = http_parse_request(buf, n, NULL, req, &status);
			ck_assert_msg(r == HTTP_PARSE_ERROR && status == 400,
			    "target pos %zu byte %zu", pos, i);
		}
	}
	/* and the clean long target passes, with all of VCHAR in it */
	n = 0;
	memcpy(buf, "GET /", 5);
	n = 5;
	for (i = 0x21; i < 0x7f; i++)
		buf[n++] = (char)i;
	memcpy(buf + n, post_t, sizeof(post_t) - 1);
	n += sizeof(post_t) - 1;
	r = http_parse_request(buf, n, NULL, req, &status);
	ck_assert_int_eq(r, (int)n);
	ck_assert_uint_eq(req->target_len, 1 + 0x7f - 0x21);
	free(req);
}
END_TEST

/* Responses: framing, keep-alive and upgrade per RFC 9112 6.3. */
static const struct resp_case {
	const char	*in;
	size_t		 len;
	int		 head_request;
	int		 ret;		/* 1: whole input is the head; -1 */
	int		 status;
	int		 body;
	uint64_t	 cl;
	int		 keep_alive;
	int		 upgrade;
	const char	*reason;
} resp_cases[] = {
#define RESP_BAD(in, head)	{ S(in), head, -1, 502, 0, 0, 0, 0, NULL }
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 0, 1, 200,
	    HTTP_BODY_LENGTH, 5, 1, 0, "OK" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 1, 1, 200,
	    HTTP_BODY_NONE, 5, 1, 0, "OK" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 0, 1, 200,
	    HTTP_BODY_CHUNKED, 0, 1, 0, "OK" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 0,
	    1, 200, HTTP_BODY_CHUNKED, 0, 1, 0, "OK" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 0, 1, 200,
	    HTTP_BODY_UNTIL_CLOSE, 0, 0, 0, "OK" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 0,
	    1, 200, HTTP_BODY_UNTIL_CLOSE, 0, 0, 0, "OK" },
	{ S("HTTP/1.1 200 OK\r\n\r\n"), 0, 1, 200, HTTP_BODY_UNTIL_CLOSE, 0, 0,
	    0, "OK" },
	{ S("HTTP/1.1 200 OK\r\n\r\n"), 1, 1, 200, HTTP_BODY_NONE, 0, 1, 0,
	    "OK" },
	{ S("HTTP/1.1 204 No Content\r\n\r\n"), 0, 1, 204, HTTP_BODY_NONE, 0,
	    1, 0, "No Content" },
	{ S("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), 0, 1,
	    304, HTTP_BODY_NONE, 10, 1, 0, "Not Modified" },
	{ S("HTTP/1.1 100 Continue\r\n\r\n"), 0, 1, 100, HTTP_BODY_NONE, 0, 1,
	    0, "Continue" },
	{ S("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"), 0, 1, 103,
	    HTTP_BODY_NONE, 0, 1, 0, "Early Hints" },
	{ S("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n"), 0, 1, 101, HTTP_BODY_NONE, 0, 0, 1,
	    "Switching Protocols" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n"
	    "\r\n"),
	    0, 1, 200, HTTP_BODY_LENGTH, 0, 0, 0, "OK" },
	{ S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"), 0, 1, 200,
	    HTTP_BODY_LENGTH, 3, 0, 0, "OK" },
	{ S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n"
	    "Connection: keep-alive\r\n"
	    "\r\n"), 0, 1, 200, HTTP_BODY_LENGTH, 3, 1,
	    0, "OK" },
	{ S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"), 0, 1, 200,
	    HTTP_BODY_UNTIL_CLOSE, 0, 0, 0, "OK" },
	{ S("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), 0, 1, 404,
	    HTTP_BODY_LENGTH, 0, 1, 0, "" },
	{ S("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), 0, 1, 404,
	    HTTP_BODY_LENGTH, 0, 1, 0, "" },
	{ S("HTTP/1.1 599 Wei rd\t\xe9\r\nContent-Length: 1, 1\r\n\r\n"), 0, 1,
	    599, HTTP_BODY_LENGTH, 1, 1, 0, "Wei rd\t\xe9" },
	{ S("HTTP/1.1 999 X\r\nContent-Length: 1\r\n\r\n"), 0, 1, 999,
	    HTTP_BODY_LENGTH, 1, 1, 0, "X" },
	{ S("\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"), 0, 1, 200,
	    HTTP_BODY_LENGTH, 1, 1, 0, "OK" },
	/* errors, all 502 */
	RESP_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0),
	RESP_BAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n"
	    "\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
	    "\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
	    "\r\n", 1),
	RESP_BAD("HTTP/1.1 099 OK\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 20 OK\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 2000 OK\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 abc OK\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1  200 OK\r\n\r\n", 0),
	RESP_BAD("HTTP/2.0 200 OK\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\nX: y\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 O\rK\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 O\0K\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", 0),
	RESP_BAD("HTTP/1.1 200 OK\r\nX: y\n\r\n", 0),
	RESP_BAD("ICY 200 OK\r\n\r\n", 0),
};

START_TEST(test_response)
{
	const struct resp_case *t = &resp_cases[_i];
	struct http_response *resp;
	size_t n;
	int r, status = 0;

	resp = calloc(1, sizeof(*resp));
	ck_assert_ptr_nonnull(resp);
	r = http_parse_response(t->in, t->len, &lim_default, t->head_request,
	    resp, &status);
	if (t->ret == -1) {
		ck_assert_msg(r == HTTP_PARSE_ERROR && status == 502,
		    "case %d: got %d status %d", _i, r, status);
		free(resp);
		return;
	}
	ck_assert_msg(r == (int)t->len, "case %d: got %d", _i, r);
	ck_assert_int_eq(resp->status, t->status);
	ck_assert_msg((int)resp->body == t->body, "case %d: body %d", _i,
	    resp->body);
	if (t->body == HTTP_BODY_LENGTH)
		ck_assert_uint_eq(resp->content_length, t->cl);
	ck_assert_msg(resp->keep_alive == t->keep_alive, "case %d: ka", _i);
	ck_assert_int_eq(resp->upgrade, t->upgrade);
	ck_assert_msg(streq_n(resp->reason, resp->reason_len, t->reason),
	    "case %d: reason", _i);
	for (n = 0; n < t->len; n++) {
		r = http_parse_response(t->in, n, &lim_default,
		    t->head_request, resp, &status);
		ck_assert_msg(r == HTTP_PARSE_INCOMPLETE, "case %d prefix %zu",
		    _i, n);
	}
	free(resp);
}
END_TEST

START_TEST(test_response_limits)
{
	struct http_limits lim = { 40, 2 };
	struct http_response *resp;
	static const char big[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "X-Pad: 0123456789\r\n\r\n";
	static const char many[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
	    "\r\n";
	int r, status;

	resp = calloc(1, sizeof(*resp));
	ck_assert_ptr_nonnull(resp);
	r = http_parse_response(big, sizeof(big) - 1, &lim, 0, resp, &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 502);
	r = http_parse_response(many, sizeof(many) - 1, &lim, 0, resp,
	    &status);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(status, 502);
	lim.max_head_size = 100;
	lim.max_headers = 3;
	r = http_parse_response(many, sizeof(many) - 1, &lim, 0, resp,
	    &status);
	ck_assert_int_eq(r, (int)sizeof(many) - 1);
	free(resp);
}
END_TEST

/*
 * Chunked bodies: <ret> is what one call over the whole input returns
 * (-1 for an error), <done> whether the body ended.
 */
static const struct chunk_case {
	const char	*in;
	size_t		 len;
	ssize_t		 ret;
	int		 done;
	uint64_t	 data;
} chunk_cases[] = {
	{ S("0\r\n\r\n"), 5, 1, 0 },
	{ S("5\r\nhello\r\n0\r\n\r\n"), 15, 1, 5 },
	{ S("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 15, 1, 5 },
	{ S("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"), 35, 1, 20 },
	{ S("00005\r\nhello\r\n000\r\n\r\n"), 21, 1, 5 },
	{ S("5;ext\r\nhello\r\n0;a=b;c=\"d e\"\r\n\r\n"), 31, 1, 5 },
	{ S("5 ;ext\r\nhello\r\n0\t; a = b\r\n\r\n"), 28, 1, 5 },
	{ S("5\r\nhello\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"), 29, 1, 5 },
	{ S("5\r\nhel"), 6, 0, 3 },
	{ S("5\r\nhello\r\n"), 10, 0, 5 },
	{ S("5\r\nhello\r\n0\r\n"), 13, 0, 5 },
	{ S("7fffffffffffffff\r\n"), 18, 0, 0 },
	/* errors */
	{ S("\r\n"), -1, 0, 0 },
	{ S("x\r\n"), -1, 0, 0 },
	{ S(" 5\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5 \r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("+5\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("-5\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("0x5\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5\rhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5\r\nhelloX\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5\r\nhello\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5\r\nhello\r\n0\r\n\n"), -1, 0, 0 },
	{ S("5;a\nb\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5;a\rb\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("5;a\0\r\nhello\r\n0\r\n\r\n"), -1, 0, 0 },
	{ S("8000000000000000\r\n"), -1, 0, 0 },
	{ S("10000000000000000\r\n"), -1, 0, 0 },
	{ S("ffffffffffffffffff\r\n"), -1, 0, 0 },
	{ S("0\r\nX : y\r\n\r\n"), -1, 0, 0 },
	{ S("0\r\n y\r\n\r\n"), -1, 0, 0 },
	{ S("0\r\nX: a\nb\r\n\r\n"), -1, 0, 0 },
	{ S("0\r\nX: y\n\r\n"), -1, 0, 0 },
	{ S("0\r\n:y\r\n\r\n"), -1, 0, 0 },
	{ S("0\r\n\r\r\n"), -1, 0, 0 },
};

static void
chunk_check(const struct chunk_case *t, int idx)
{
	struct http_chunked c;
	ssize_t r, total;
	size_t i;
	int done, err;

	/* whole buffer */
	http_chunked_init(&c);
	r = http_chunked_scan(&c, t->in, t->len, &done);
	ck_assert_msg(r == t->ret, "case %d: whole %zd want %zd", idx, r,
	    t->ret);
	if (r == -1) {
		/* and it stays failed */
		ck_assert_int_eq(http_chunked_scan(&c, "0\r\n\r\n", 5, &done),
		    -1);
	} else {
		ck_assert_int_eq(done, t->done);
		ck_assert_uint_eq(c.body_bytes, t->data);
	}

	/* one byte at a time: the same answer */
	http_chunked_init(&c);
	total = 0;
	done = 0;
	err = 0;
	for (i = 0; i < t->len && !done; i++) {
		r = http_chunked_scan(&c, t->in + i, 1, &done);
		if (r == -1) {
			err = 1;
			break;
		}
		ck_assert_msg(r == 1, "case %d: byte %zu consumed %zd", idx, i,
		    r);
		total += r;
	}
	if (t->ret == -1)
		ck_assert_msg(err, "case %d: bytewise no error", idx);
	else {
		ck_assert_msg(!err && total == t->ret && done == t->done,
		    "case %d: bytewise %zd done %d", idx, total, done);
		ck_assert_uint_eq(c.body_bytes, t->data);
		/* after the end, nothing more is taken */
		if (done) {
			r = http_chunked_scan(&c, "xyz", 3, &done);
			ck_assert_int_eq(r, 0);
			ck_assert_int_eq(done, 1);
		}
	}
}

START_TEST(test_chunked)
{
	chunk_check(&chunk_cases[_i], _i);
}
END_TEST

/* Every two-way split gives the whole-buffer answer. */
START_TEST(test_chunked_splits)
{
	const struct chunk_case *t = &chunk_cases[_i];
	struct http_chunked c;
	ssize_t r1, r2;
	size_t k;
	int done;

	for (k = 0; k <= t->len; k++) {
		http_chunked_init(&c);
		r1 = http_chunked_scan(&c, t->in, k, &done);
		if (r1 == -1) {
			ck_assert_int_eq(t->ret, -1);
			continue;
		}
		if (done) {
			ck_assert_int_eq(r1, t->ret);
			continue;
		}
		ck_assert_int_eq(r1, (ssize_t)k);
		r2 = http_chunked_scan(&c, t->in + k, t->len - k, &done);
		if (t->ret == -1)
			ck_assert_int_eq(r2, -1);
		else {
			ck_assert_int_eq(r1 + r2, t->ret);
			ck_assert_int_eq(done, t->done);
		}
	}
}
END_TEST

START_TEST(test_chunked_limits)
{
	struct http_chunked c;
	char *buf;
	size_t n;
	ssize_t r;
	int done;

	buf = malloc(HTTP_TRAILERS_MAX + 64);
	ck_assert_ptr_nonnull(buf);

	/* a size line of HTTP_CHUNK_LINE_MAX bytes, CRLF included */
	memset(buf, 'x', HTTP_CHUNK_LINE_MAX + 8);
	memcpy(buf, "1;", 2);
	memcpy(buf + HTTP_CHUNK_LINE_MAX - 2, "\r\n", 2);
	http_chunked_init(&c);
	r = http_chunked_scan(&c, buf, HTTP_CHUNK_LINE_MAX, &done);
	ck_assert_int_eq(r, HTTP_CHUNK_LINE_MAX);
	ck_assert_uint_eq(c.remaining, 1);
	/* one byte longer is refused */
	memset(buf, 'x', HTTP_CHUNK_LINE_MAX + 8);
	memcpy(buf, "1;", 2);
	memcpy(buf + HTTP_CHUNK_LINE_MAX - 1, "\r\n", 2);
	http_chunked_init(&c);
	r = http_chunked_scan(&c, buf, HTTP_CHUNK_LINE_MAX + 1, &done);
	ck_assert_int_eq(r, -1);

	/* trailers over HTTP_TRAILERS_MAX */
	n = 0;
	memcpy(buf, "0\r\n", 3);
	n = 3;
	while (n < HTTP_TRAILERS_MAX + 8) {
		memcpy(buf + n, "X: 0123456789\r\n", 15);
		n += 15;
	}
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	http_chunked_init(&c);
	r = http_chunked_scan(&c, buf, n, &done);
	ck_assert_int_eq(r, -1);
	free(buf);
}
END_TEST

START_TEST(test_chunked_big_chunk)
{
	struct http_chunked c;
	static const char head[] = "ffffffff\r\n";
	static char data[65536];
	uint64_t left = UINT64_C(0xffffffff);
	ssize_t r;
	int done;

	http_chunked_init(&c);
	r = http_chunked_scan(&c, head, sizeof(head) - 1, &done);
	ck_assert_int_eq(r, (ssize_t)sizeof(head) - 1);
	ck_assert_uint_eq(c.remaining, left);
	r = http_chunked_scan(&c, data, sizeof(data), &done);
	ck_assert_int_eq(r, (ssize_t)sizeof(data));
	ck_assert_uint_eq(c.remaining, left - sizeof(data));
	ck_assert_uint_eq(c.body_bytes, sizeof(data));
	ck_assert_int_eq(done, 0);
}
END_TEST

START_TEST(test_find_header)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5.6.7.8\r\n\r\n";
	struct http_request *req;
	const struct http_header *h;
	int status;

	req = calloc(1, sizeof(*req));
	ck_assert_ptr_nonnull(req);
	ck_assert_int_gt(http_parse_request(in, sizeof(in) - 1, NULL, req,
	    &status), 0);
	h = http_find_header(req->headers, req->nheaders, "x-FORWARDED-for");
	ck_assert_ptr_nonnull(h);
	ck_assert(streq_n(h->value, h->value_len, "1.2.3.4"));
	ck_assert_ptr_eq(http_find_header(req->headers, req->nheaders, "HOST"),
	    &req->headers[0]);
	ck_assert_ptr_null(http_find_header(req->headers, req->nheaders,
	    "X-Forwarded"));
	ck_assert_ptr_null(http_find_header(req->headers, req->nheaders,
	    "X-Forwarded-For-"));
	ck_assert_ptr_null(http_find_header(req->headers, 0, "Host"));
	free(req);
}
END_TEST

static const struct token_case {
	const char	*value;
	const char	*token;
	int		 want;
} token_cases[] = {
	{ "close", "close", 1 },
	{ "Close", "close", 1 },
	{ "close", "CLOSE", 1 },
	{ "keep-alive, Upgrade", "upgrade", 1 },
	{ " , ,upgrade ,", "upgrade", 1 },
	{ "foo,\tbar\t, baz", "bar", 1 },
	{ "closed", "close", 0 },
	{ "x-close", "close", 0 },
	{ "clo se", "close", 0 },
	{ "", "close", 0 },
	{ ",,,", "close", 0 },
	{ "upgrade-insecure", "upgrade", 0 },
};

START_TEST(test_has_token)
{
	const struct token_case *t = &token_cases[_i];

	ck_assert_msg(http_has_token(t->value, strlen(t->value), t->token) ==
	    t->want, "case %d", _i);
}
END_TEST

START_TEST(test_hop_by_hop)
{
	static const struct {
		const char	*name;
		int		 want;
	} cases[] = {
		{ "Connection", 1 }, { "connection", 1 },
		{ "Proxy-Connection", 1 }, { "Keep-Alive", 1 }, { "TE", 1 },
		{ "te", 1 }, { "Transfer-Encoding", 1 }, { "UPGRADE", 1 },
		{ "Host", 0 }, { "Trailer", 0 }, { "Content-Length", 0 },
		{ "Proxy-Authenticate", 0 }, { "T", 0 }, { "TEE", 0 },
		{ "Upgrades", 0 }, { "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(http_is_hop_by_hop(cases[i].name,
		    strlen(cases[i].name)) == cases[i].want, "%s",
		    cases[i].name);
	/* counted, not NUL-terminated */
	ck_assert_int_eq(http_is_hop_by_hop("TEXT", 2), 1);
}
END_TEST

START_TEST(test_reason)
{
	static const int known[] = { 100, 101, 200, 201, 202, 203, 204, 205,
	    206, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404,
	    405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
	    418, 421, 422, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505 };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ck_assert_msg(strcmp(http_reason(known[i]), "Unknown") != 0,
		    "%d", known[i]);
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(200), "OK");
	ck_assert_str_eq(http_reason(502), "Bad Gateway");
	ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(http_reason(0), "Unknown");
	ck_assert_str_eq(http_reason(299), "Unknown");
	ck_assert_str_eq(http_reason(-1), "Unknown");
}
END_TEST

#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

/* IMF-fixdate, checked against known instants (RFC 9110 5.6.7). */
START_TEST(test_http_date)
{
	static const struct {
		int64_t		 t;
		const char	*want;
	} cases[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ 1709251199, "Thu, 29 Feb 2024 23:59:59 GMT" },
		{ 1795651200, "Thu, 26 Nov 2026 00:00:00 GMT" },
		{ 4102444800, "Fri, 01 Jan 2100 00:00:00 GMT" },
	};
	char out[HTTP_DATE_LEN];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_uint_eq(http_date(cases[i].t, out), 29);
		ck_assert_str_eq(out, cases[i].want);
	}
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("request");
	tcase_add_loop_test(tc, test_request_ok, 0, NELEM(req_ok));
	tcase_add_loop_test(tc, test_request_prefixes, 0, NELEM(req_ok));
	tcase_add_loop_test(tc, test_request_pipelined, 0, NELEM(req_ok));
	tcase_add_loop_test(tc, test_request_bad, 0, NELEM(req_bad));
	tcase_add_test(tc, test_request_limits);
	tcase_add_test(tc, test_request_max_headers_cap);
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_request_long_scans);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_loop_test(tc, test_response, 0, NELEM(resp_cases));
	tcase_add_test(tc, test_response_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_loop_test(tc, test_chunked, 0, NELEM(chunk_cases));
	tcase_add_loop_test(tc, test_chunked_splits, 0, NELEM(chunk_cases));
	tcase_add_test(tc, test_chunked_limits);
	tcase_add_test(tc, test_chunked_big_chunk);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_find_header);
	tcase_add_loop_test(tc, test_has_token, 0, NELEM(token_cases));
	tcase_add_test(tc, test_hop_by_hop);
	tcase_add_test(tc, test_reason);
	tcase_add_test(tc, test_http_date);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(http_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
