/*
 * Fuzz target for common/http.c.  Feeds the input to the request parser,
 * the response parser and the chunked scanner, and checks what must hold
 * whatever the bytes: a head never claims more than it was given, every
 * pointer it returns lies inside that head, a prefix never decides
 * differently from the whole, and the chunked scanner gives the same answer
 * fed in two pieces as in one.  A broken invariant abort()s.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_request	fz_req, fz_req2;
static struct http_response	fz_resp, fz_resp2;

/* <p>/<len> lies within [<lo>, <lo> + <n>); NULL only with length 0. */
static void
fz_inside(const char *p, size_t len, const char *lo, size_t n)
{
	if (p == NULL) {
		if (len != 0)
			abort();
		return;
	}
	if (p < lo || p > lo + n || len > (size_t)(lo + n - p))
		abort();
}

static void
fz_headers(const struct http_header *h, size_t nh, size_t max,
    const char *buf, size_t n)
{
	size_t i;

	if (nh > max || nh > HTTP_MAX_HEADERS)
		abort();
	for (i = 0; i < nh; i++) {
		if (h[i].name_len == 0)
			abort();
		fz_inside(h[i].name, h[i].name_len, buf, n);
		fz_inside(h[i].value, h[i].value_len, buf, n);
		/* values are trimmed */
		if (h[i].value_len > 0 && (h[i].value[0] == ' ' ||
		    h[i].value[h[i].value_len - 1] == '\t'))
			abort();
	}
}

static void
fz_request(const char *buf, size_t size, size_t cut,
    const struct http_limits *lim)
{
	int r, r2, st = 0, st2 = 0;

	r = http_parse_request(buf, size, lim, &fz_req, &st);
	if (r > 0) {
		if ((size_t)r > size || (size_t)r > lim->max_head_size)
			abort();
		fz_inside(fz_req.method, fz_req.method_len, buf, (size_t)r);
		fz_inside(fz_req.target, fz_req.target_len, buf, (size_t)r);
		if (fz_req.path_len != 1 || fz_req.path[0] != '/')
			fz_inside(fz_req.path, fz_req.path_len, buf,
			    (size_t)r);
		fz_inside(fz_req.query, fz_req.query_len, buf, (size_t)r);
		fz_inside(fz_req.host, fz_req.host_len, buf, (size_t)r);
		fz_headers(fz_req.headers, fz_req.nheaders, lim->max_headers,
		    buf, (size_t)r);
		if (fz_req.method_len == 0 || fz_req.target_len == 0)
			abort();
		if (fz_req.minor_version != 0 && fz_req.minor_version != 1)
			abort();
		if (fz_req.body != HTTP_BODY_NONE &&
		    fz_req.body != HTTP_BODY_LENGTH &&
		    fz_req.body != HTTP_BODY_CHUNKED)
			abort();
		if (fz_req.minor_version == 1 && fz_req.host == NULL)
			abort();
		if (fz_req.content_length > (uint64_t)INT64_MAX)
			abort();
		if (buf[r - 1] != '\n' || buf[r - 2] != '\r')
			abort();
	} else if (r == HTTP_PARSE_ERROR) {
		if (st != 400 && st != 414 && st != 431 && st != 501 &&
		    st != 505)
			abort();
	} else if (r != HTTP_PARSE_INCOMPLETE)
		abort();

	/* A prefix that decided must agree with the whole. */
	r2 = http_parse_request(buf, cut, lim, &fz_req2, &st2);
	if (r2 > 0 && (r2 != r || fz_req2.nheaders != fz_req.nheaders ||
	    fz_req2.body != fz_req.body))
		abort();
	if (r2 == HTTP_PARSE_ERROR && (r != r2 || st != st2))
		abort();
	/* And a complete head parses alone to the same length. */
	if (r > 0 && http_parse_request(buf, (size_t)r, lim, &fz_req2,
	    &st2) != r)
		abort();
}

static void
fz_response(const char *buf, size_t size, size_t cut,
    const struct http_limits *lim, int head)
{
	int r, r2, st = 0, st2 = 0;

	r = http_parse_response(buf, size, lim, head, &fz_resp, &st);
	if (r > 0) {
		if ((size_t)r > size || (size_t)r > lim->max_head_size)
			abort();
		fz_inside(fz_resp.reason, fz_resp.reason_len, buf, (size_t)r);
		fz_headers(fz_resp.headers, fz_resp.nheaders,
		    lim->max_headers, buf, (size_t)r);
		if (fz_resp.status < 100 || fz_resp.status > 999)
			abort();
		if (fz_resp.body == HTTP_BODY_UNTIL_CLOSE && fz_resp.keep_alive)
			abort();
		if (head && fz_resp.body != HTTP_BODY_NONE)
			abort();
	} else if (r == HTTP_PARSE_ERROR) {
		if (st != 502)
			abort();
	} else if (r != HTTP_PARSE_INCOMPLETE)
		abort();

	r2 = http_parse_response(buf, cut, lim, head, &fz_resp2, &st2);
	if (r2 > 0 && (r2 != r || fz_resp2.status != fz_resp.status ||
	    fz_resp2.body != fz_resp.body))
		abort();
	if (r2 == HTTP_PARSE_ERROR && r != r2)
		abort();
}

static void
fz_chunked(const char *buf, size_t size, size_t cut)
{
	struct http_chunked a, b;
	ssize_t r, r1, r2;
	int done, done1, done2;

	http_chunked_init(&a);
	r = http_chunked_scan(&a, buf, size, &done);
	if (r < -1 || r > (ssize_t)size || (r >= 0 && r < (ssize_t)size &&
	    !done))
		abort();
	if (a.body_bytes > size)
		abort();

	http_chunked_init(&b);
	r1 = http_chunked_scan(&b, buf, cut, &done1);
	if (r1 < -1 || r1 > (ssize_t)cut)
		abort();
	if (r1 == -1) {
		if (r != -1)
			abort();
		return;
	}
	if (done1) {
		if (r1 != r || !done)
			abort();
		return;
	}
	if (r1 != (ssize_t)cut)
		abort();
	r2 = http_chunked_scan(&b, buf + cut, size - cut, &done2);
	if (r2 < -1 || r2 > (ssize_t)(size - cut))
		abort();
	if (r == -1) {
		if (r2 != -1)
			abort();
		return;
	}
	if (r2 == -1 || r1 + r2 != r || done2 != done ||
	    a.body_bytes != b.body_bytes || a.remaining != b.remaining)
		abort();
	/* Done means done: nothing more is taken. */
	if (done && http_chunked_scan(&a, buf, size, &done) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim_small = { 128, 4 };
	static const struct http_limits lim_big = { 8192, 100 };
	const char *buf = (const char *)data;
	size_t cut;

	/* The split point comes from the input, so it is fuzzed too. */
	cut = size > 0 ? (size_t)data[size - 1] * 31 % (size + 1) : 0;

	fz_request(buf, size, cut, &lim_big);
	fz_request(buf, size, cut, &lim_small);
	fz_response(buf, size, cut, &lim_big, 0);
	fz_response(buf, size, cut, &lim_small, size > 0 && data[0] & 1);
	fz_chunked(buf, size, cut);
	return 0;
}
