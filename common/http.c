/*
 * http: HTTP/1.1 message-head parser and chunked-body scanner (RFC 9110,
 * RFC 9112).
 *
 * Runs in the workers, on bytes from clients and from backends: everything
 * it reads is hostile.  It never allocates, never copies, never logs and
 * never reads past the <len> bytes it is given (the buffers are not
 * NUL-terminated).  It keeps no state between calls except what the caller
 * holds in a struct http_chunked.
 *
 * The head parsers make one pass over the bytes: each byte is classified by
 * one table lookup (http_cc[]) and the pass stops at the first byte that
 * decides the outcome.  Because the decision at any byte depends only on
 * the bytes before it, a prefix of a valid head is always INCOMPLETE and a
 * prefix that is already invalid stays invalid whatever follows.  Only the
 * first max_head_size bytes are ever looked at, so a head that does not end
 * within them is refused the same way however much more was received.
 */
#include "config.h"

#include <sys/types.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/http.h"

/* Used when the caller passes no limits, or zeroes. */
#define HTTP_DEFAULT_HEAD_SIZE	8192
/* Empty lines skipped before a start line (RFC 9112 2.2). */
#define HTTP_MAX_LEADING_CRLF	4
#define HTTP_MAX_CONTENT_LENGTH	((uint64_t)INT64_MAX)

/* Character classes, one bit each, for http_cc[]. */
#define HC_TOKEN	0x01	/* tchar (RFC 9110 5.6.2) */
#define HC_FIELD	0x02	/* field-vchar, SP, HTAB, obs-text */
#define HC_TARGET	0x04	/* VCHAR: what a request-target may hold */
#define HC_HOST		0x08	/* reg-name: unreserved, sub-delims, '%' */
#define HC_HEX		0x10	/* HEXDIG */
#define HC_DIGIT	0x20	/* DIGIT */

static const uint8_t http_cc[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x00 */
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x08 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x10 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 0x18 */
	0x02, 0x0f, 0x06, 0x07, 0x0f, 0x0f, 0x0f, 0x0f,	/* 0x20 */
	0x0e, 0x0e, 0x0f, 0x0f, 0x0e, 0x0f, 0x0f, 0x06,	/* 0x28 */
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,	/* 0x30 */
	0x3f, 0x3f, 0x06, 0x0e, 0x06, 0x0e, 0x06, 0x06,	/* 0x38 */
	0x06, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x0f,	/* 0x40 */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,	/* 0x48 */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,	/* 0x50 */
	0x0f, 0x0f, 0x0f, 0x06, 0x06, 0x06, 0x07, 0x0f,	/* 0x58 */
	0x07, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x0f,	/* 0x60 */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,	/* 0x68 */
	0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f,	/* 0x70 */
	0x0f, 0x0f, 0x0f, 0x06, 0x07, 0x06, 0x0f, 0x00,	/* 0x78 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0x80 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0x88 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0x90 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0x98 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xa0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xa8 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xb0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xb8 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xc0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xc8 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xd0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xd8 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xe0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xe8 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xf0 */
	0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,	/* 0xf8 */
};

#define HTTP_IS(c, cls)	(http_cc[(unsigned char)(c)] & (cls))
#define HTTP_IS_WS(c)	((c) == ' ' || (c) == '\t')

/* Internal results of the parsing steps. */
#define HTTP_STEP_DONE		1
#define HTTP_STEP_MORE		0
#define HTTP_STEP_BAD		(-1)
#define HTTP_STEP_TOO_MANY	(-2)

/*
 * What the framing and connection headers said, gathered while walking the
 * parsed fields once.
 */
struct http_fields {
	const char	*host;
	size_t		 host_len;
	int		 nhost;
	int		 has_cl;
	uint64_t	 cl;
	int		 has_te;
	int		 te_codings;	/* codings listed, all fields */
	int		 te_chunked;	/* how many of them are chunked */
	int		 te_last_chunked;
	int		 conn_close;
	int		 conn_keep_alive;
	int		 conn_upgrade;
	int		 has_upgrade;
	int		 expect_continue;
};

/*
 * The two hot loops: most of a head is field values and the target.  Each
 * returns the first byte in [<p>, <end>) outside its class, or <end>.  With
 * SSE2 (always there on x86-64) they look at 16 bytes per step; the
 * classes are simple ranges, so no table is needed for the wide step.
 */
static inline const char *
http_span_field(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i ctl = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t');
	const __m128i del = _mm_set1_epi8(0x7f);
	__m128i v, bad;
	int mask;

	/* bad: (v <= 0x1f unsigned, but not HTAB) or DEL */
	while (end - p >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)p);
		bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab),
		    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
		bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, del));
		if ((mask = _mm_movemask_epi8(bad)) != 0)
			return p + __builtin_ctz((unsigned)mask);
		p += 16;
	}
#endif
	while (p < end && HTTP_IS(*p, HC_FIELD))
		p++;
	return p;
}

static inline const char *
http_span_target(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
	__m128i v, bad;
	int mask;

	/* bad: v <= 0x20 or v >= 0x7f, unsigned */
	while (end - p >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)p);
		bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, sp), v),
		    _mm_cmpeq_epi8(_mm_max_epu8(v, del), v));
		if ((mask = _mm_movemask_epi8(bad)) != 0)
			return p + __builtin_ctz((unsigned)mask);
		p += 16;
	}
#endif
	while (p < end && HTTP_IS(*p, HC_TARGET))
		p++;
	return p;
}

/* ASCII lower case, whatever the locale says. */
static inline unsigned char
http_lc(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*
 * Case-blind comparison of <len> bytes of <s> with the lower-case <lit>,
 * which must have at least <len> bytes.
 */
static int
http_lceq(const char *s, const char *lit, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (http_lc((unsigned char)s[i]) != (unsigned char)lit[i])
			return 0;
	return 1;
}

/*
 * Takes the next element of the comma-separated list in [*<pp>, <end>),
 * with the OWS around it removed, into <elem>/<elen>; empty elements are
 * skipped, as RFC 9110 5.6.1 asks of recipients.  Returns 1, or 0 when the
 * list has no more elements.
 */
static int
http_list_next(const char **pp, const char *end, const char **elem,
    size_t *elen)
{
	const char *p = *pp, *s, *e;

	while (p < end && (HTTP_IS_WS(*p) || *p == ','))
		p++;
	if (p == end) {
		*pp = p;
		return 0;
	}
	s = p;
	while (p < end && *p != ',')
		p++;
	e = p;
	while (e > s && HTTP_IS_WS(e[-1]))
		e--;
	*pp = p;
	*elem = s;
	*elen = (size_t)(e - s);
	return 1;
}

/*
 * Skips up to HTTP_MAX_LEADING_CRLF empty lines (CRLF) before a start line.
 * A bare LF or CR is refused: "\nGET" is a known desync shape.
 */
static int
http_skip_empty_lines(const char *p, const char *end, const char **next)
{
	int n;

	for (n = 0; p < end && (*p == '\r' || *p == '\n'); n++) {
		if (*p == '\n' || n == HTTP_MAX_LEADING_CRLF)
			return HTTP_STEP_BAD;
		if (p + 1 == end)
			return HTTP_STEP_MORE;
		if (p[1] != '\n')
			return HTTP_STEP_BAD;
		p += 2;
	}
	*next = p;
	return p < end ? HTTP_STEP_DONE : HTTP_STEP_MORE;
}

/*
 * Checks "HTTP/d.d" CRLF at <p>, byte by byte so that a wrong byte is seen
 * as soon as it arrives.  <crlf>: the version ends the line (request) or is
 * followed by SP (response, checked by the caller).  Returns DONE with
 * *<minor> 0 or 1, MORE, BAD (garbage), or DONE with *<minor> -1 for a
 * well-formed version other than 1.0 and 1.1.
 */
static int
http_parse_version(const char *p, const char *end, int crlf,
    const char **next, int *minor)
{
	static const char pat[] = "HTTP/d.d\r\n";
	size_t i, n = crlf ? 10 : 8;

	for (i = 0; i < n; i++) {
		if (p + i == end)
			return HTTP_STEP_MORE;
		if (pat[i] == 'd') {
			if (!HTTP_IS(p[i], HC_DIGIT))
				return HTTP_STEP_BAD;
		} else if (p[i] != pat[i])
			return HTTP_STEP_BAD;
	}
	if (p[5] == '1' && (p[7] == '0' || p[7] == '1'))
		*minor = p[7] - '0';
	else
		*minor = -1;
	*next = p + n;
	return HTTP_STEP_DONE;
}

/*
 * Parses the field lines that follow a start line, up to and including the
 * empty line, into <h> (at most <max> of them).  Refuses obs-fold, space
 * before the colon, non-token names, CTLs in values, bare CR, and LF not
 * preceded by CR.  Values are stored with OWS trimmed on both sides.
 * Returns DONE with *<n> and *<next> set, MORE, BAD or TOO_MANY.
 */
static int
http_parse_fields(const char *p, const char *end, struct http_header *h,
    size_t max, size_t *n, const char **next)
{
	const char *name, *colon, *val, *ve;
	size_t nh = 0;

	for (;;) {
		if (p == end)
			return HTTP_STEP_MORE;
		if (*p == '\r') {
			if (p + 1 == end)
				return HTTP_STEP_MORE;
			if (p[1] != '\n')
				return HTTP_STEP_BAD;
			*n = nh;
			*next = p + 2;
			return HTTP_STEP_DONE;
		}
		/* A line starting with SP or HTAB (obs-fold) fails here. */
		name = p;
		while (p < end && HTTP_IS(*p, HC_TOKEN))
			p++;
		if (p == end)
			return HTTP_STEP_MORE;
		if (*p != ':' || p == name)
			return HTTP_STEP_BAD;
		colon = p++;
		while (p < end && HTTP_IS_WS(*p))
			p++;
		val = p;
		p = http_span_field(p, end);
		if (p == end)
			return HTTP_STEP_MORE;
		if (*p != '\r')
			return HTTP_STEP_BAD;
		if (p + 1 == end)
			return HTTP_STEP_MORE;
		if (p[1] != '\n')
			return HTTP_STEP_BAD;
		ve = p;
		while (ve > val && HTTP_IS_WS(ve[-1]))
			ve--;
		if (nh == max)
			return HTTP_STEP_TOO_MANY;
		h[nh].name = name;
		h[nh].name_len = (size_t)(colon - name);
		h[nh].value = val;
		h[nh].value_len = (size_t)(ve - val);
		nh++;
		p += 2;
	}
}

/*
 * Content-Length: 1*DIGIT, or a list of identical such values (RFC 9112
 * 6.3 point 5).  No sign, no inner space, no empty element, at most
 * 2^63-1.  Returns 0 with *<v>, or -1.
 */
static int
http_parse_content_length(const char *s, size_t len, uint64_t *v)
{
	const char *p = s, *end = s + len;
	uint64_t n, d, first = 0;
	int count = 0;

	for (;;) {
		while (p < end && HTTP_IS_WS(*p))
			p++;
		if (p == end || !HTTP_IS(*p, HC_DIGIT))
			return -1;
		n = 0;
		while (p < end && HTTP_IS(*p, HC_DIGIT)) {
			d = (uint64_t)(*p - '0');
			if (n > (HTTP_MAX_CONTENT_LENGTH - d) / 10)
				return -1;
			n = n * 10 + d;
			p++;
		}
		if (count++ > 0 && n != first)
			return -1;
		first = n;
		while (p < end && HTTP_IS_WS(*p))
			p++;
		if (p == end)
			break;
		if (*p++ != ',')
			return -1;
	}
	*v = first;
	return 0;
}

/*
 * Adds the codings of one Transfer-Encoding field to <f>.  Each coding is
 * a token, optionally with parameters; "chunked" takes none.  Returns 0, or
 * -1 when the field is malformed.
 */
static int
http_scan_transfer_encoding(const char *s, size_t len, struct http_fields *f)
{
	const char *p = s, *end = s + len, *e;
	size_t elen, nlen, i;
	int chunked;

	while (http_list_next(&p, end, &e, &elen)) {
		nlen = 0;
		while (nlen < elen && HTTP_IS(e[nlen], HC_TOKEN))
			nlen++;
		if (nlen == 0)
			return -1;
		chunked = nlen == 7 && http_lceq(e, "chunked", 7);
		if (nlen < elen) {
			/* Only parameters may follow: OWS ";" ... */
			for (i = nlen; i < elen && HTTP_IS_WS(e[i]); i++)
				;
			if (i == elen || e[i] != ';' || chunked)
				return -1;
		}
		f->te_codings++;
		f->te_last_chunked = chunked;
		f->te_chunked += chunked;
	}
	return 0;
}

/* Notes the "close", "keep-alive" and "upgrade" options of Connection. */
static void
http_scan_connection(const char *s, size_t len, struct http_fields *f)
{
	const char *p = s, *end = s + len, *e;
	size_t elen;

	while (http_list_next(&p, end, &e, &elen)) {
		if (elen == 5 && http_lceq(e, "close", 5))
			f->conn_close = 1;
		else if (elen == 10 && http_lceq(e, "keep-alive", 10))
			f->conn_keep_alive = 1;
		else if (elen == 7 && http_lceq(e, "upgrade", 7))
			f->conn_upgrade = 1;
	}
}

/*
 * Walks the parsed fields once and collects what framing and connection
 * handling need.  Returns 0, or -1 on a malformed Content-Length (several
 * differing values included) or Transfer-Encoding.
 */
static int
http_scan_fields(const struct http_header *h, size_t n, struct http_fields *f)
{
	uint64_t v;
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < n; i++) {
		switch (h[i].name_len) {
		case 4:
			if (http_lceq(h[i].name, "host", 4)) {
				f->host = h[i].value;
				f->host_len = h[i].value_len;
				f->nhost++;
			}
			break;
		case 6:
			if (http_lceq(h[i].name, "expect", 6) &&
			    h[i].value_len == 12 &&
			    http_lceq(h[i].value, "100-continue", 12))
				f->expect_continue = 1;
			break;
		case 7:
			if (http_lceq(h[i].name, "upgrade", 7))
				f->has_upgrade = 1;
			break;
		case 10:
			if (http_lceq(h[i].name, "connection", 10))
				http_scan_connection(h[i].value,
				    h[i].value_len, f);
			break;
		case 14:
			if (!http_lceq(h[i].name, "content-length", 14))
				break;
			if (http_parse_content_length(h[i].value,
			    h[i].value_len, &v) == -1)
				return -1;
			if (f->has_cl && v != f->cl)
				return -1;
			f->has_cl = 1;
			f->cl = v;
			break;
		case 17:
			if (!http_lceq(h[i].name, "transfer-encoding", 17))
				break;
			f->has_te = 1;
			if (http_scan_transfer_encoding(h[i].value,
			    h[i].value_len, f) == -1)
				return -1;
			break;
		}
	}
	return 0;
}

/*
 * Host (RFC 9110 7.2, RFC 3986 3.2.2): empty, reg-name, IPv4 or an
 * IP-literal in brackets, then an optional ":" port.  <need_host>: the
 * host part may not be empty; <need_port>: the port must be there
 * (CONNECT's authority-form).
 */
static int
http_valid_host(const char *s, size_t len, int need_host, int need_port)
{
	const char *p = s, *end = s + len, *h;
	size_t digits;

	if (p < end && *p == '[') {
		h = ++p;
		while (p < end && (HTTP_IS(*p, HC_HOST) || *p == ':') &&
		    *p != '%')
			p++;
		if (p == h || p == end || *p != ']')
			return 0;
		p++;
	} else {
		h = p;
		while (p < end && HTTP_IS(*p, HC_HOST)) {
			if (*p == '%' && (end - p < 3 ||
			    !HTTP_IS(p[1], HC_HEX) || !HTTP_IS(p[2], HC_HEX)))
				return 0;
			p += *p == '%' ? 3 : 1;
		}
		if (need_host && p == h)
			return 0;
	}
	if (p == end)
		return !need_port;
	if (*p++ != ':')
		return 0;
	for (digits = 0; p < end && HTTP_IS(*p, HC_DIGIT); p++)
		digits++;
	if (p != end || digits > 5 || (need_port && digits == 0))
		return 0;
	return 1;
}

/*
 * Splits the request-target into path and query, per its form (RFC 9112
 * 3.2).  Returns 0, or -1 when the form is invalid or not allowed with
 * this method.
 */
static int
http_parse_target(struct http_request *req)
{
	const char *t = req->target, *end = t + req->target_len, *p, *a;
	size_t slen;

	req->path = NULL;
	req->path_len = 0;
	req->query = NULL;
	req->query_len = 0;

	if (req->is_connect) {
		/* authority-form, and nothing else */
		if (!http_valid_host(t, req->target_len, 1, 1))
			return -1;
		return 0;
	}
	if (*t == '*') {
		if (req->target_len != 1 || req->method_len != 7 ||
		    memcmp(req->method, "OPTIONS", 7) != 0)
			return -1;
		req->path = t;
		req->path_len = 1;
		return 0;
	}
	if (*t == '/') {
		p = t;
		goto path;
	}

	/* absolute-form: only the http and https schemes make sense here. */
	for (p = t; p < end && *p != ':'; p++)
		;
	slen = (size_t)(p - t);
	if (!((slen == 4 && http_lceq(t, "http", 4)) ||
	    (slen == 5 && http_lceq(t, "https", 5))))
		return -1;
	if (end - p < 3 || p[1] != '/' || p[2] != '/')
		return -1;
	a = p += 3;
	while (p < end && *p != '/' && *p != '?' && *p != '#')
		p++;
	/* userinfo is refused by http_valid_host() ('@' is not allowed). */
	if (!http_valid_host(a, (size_t)(p - a), 1, 0))
		return -1;
	req->host = a;
	req->host_len = (size_t)(p - a);
	if (p == end || *p != '/') {
		if (p < end && *p != '?')
			return -1;
		/* "http://h" and "http://h?q" mean path "/" (RFC 9112 3.2.1) */
		req->path = "/";
		req->path_len = 1;
		if (p < end) {
			req->query = p + 1;
			req->query_len = (size_t)(end - p - 1);
		}
		return 0;
	}
 path:
	if ((a = memchr(p, '?', (size_t)(end - p))) == NULL)
		a = end;
	req->path = p;
	req->path_len = (size_t)(a - p);
	if (a < end) {
		req->query = a + 1;
		req->query_len = (size_t)(end - a - 1);
	}
	return 0;
}

/*
 * Reads the limits, substituting defaults for NULL or zero and clamping:
 * the head length is returned as an int.
 */
static void
http_get_limits(const struct http_limits *lim, size_t *head, size_t *nhdr)
{
	*head = HTTP_DEFAULT_HEAD_SIZE;
	*nhdr = HTTP_MAX_HEADERS;
	if (lim == NULL)
		return;
	if (lim->max_head_size > 0)
		*head = lim->max_head_size;
	if (*head > INT_MAX)
		*head = INT_MAX;
	if (lim->max_headers > 0 && lim->max_headers < HTTP_MAX_HEADERS)
		*nhdr = lim->max_headers;
}

/*
 * Request-line: method SP request-target SP HTTP-version CRLF.  Fills the
 * method, target and version of <req>.  Returns DONE, MORE, or BAD with
 * *<status> set (400, 505).
 */
static int
http_parse_request_line(const char *p, const char *end,
    struct http_request *req, const char **next, int *status)
{
	const char *m, *t;
	int r, minor;

	*status = 400;
	m = p;
	while (p < end && HTTP_IS(*p, HC_TOKEN))
		p++;
	if (p == end)
		return HTTP_STEP_MORE;
	if (*p != ' ' || p == m)
		return HTTP_STEP_BAD;
	t = ++p;
	p = http_span_target(p, end);
	if (p == end)
		return HTTP_STEP_MORE;
	if (*p != ' ' || p == t)
		return HTTP_STEP_BAD;
	req->method = m;
	req->method_len = (size_t)(t - 1 - m);
	req->target = t;
	req->target_len = (size_t)(p - t);
	if ((r = http_parse_version(p + 1, end, 1, next, &minor)) !=
	    HTTP_STEP_DONE)
		return r;
	if (minor == -1) {
		*status = 505;
		return HTTP_STEP_BAD;
	}
	req->minor_version = minor;
	return HTTP_STEP_DONE;
}

int
http_parse_request(const char *buf, size_t len,
    const struct http_limits *lim, struct http_request *req, int *status)
{
	struct http_fields f;
	const char *p, *end;
	size_t max_head, max_hdrs;
	int r;

	*status = 400;
	if (len == 0)
		return HTTP_PARSE_INCOMPLETE;
	http_get_limits(lim, &max_head, &max_hdrs);
	end = buf + (len < max_head ? len : max_head);

	if ((r = http_skip_empty_lines(buf, end, &p)) == HTTP_STEP_BAD)
		return HTTP_PARSE_ERROR;
	if (r == HTTP_STEP_MORE ||
	    (r = http_parse_request_line(p, end, req, &p, status)) ==
	    HTTP_STEP_MORE) {
		if (len < max_head)
			return HTTP_PARSE_INCOMPLETE;
		*status = 414;
		return HTTP_PARSE_ERROR;
	}
	if (r == HTTP_STEP_BAD)
		return HTTP_PARSE_ERROR;

	*status = 400;
	r = http_parse_fields(p, end, req->headers, max_hdrs, &req->nheaders,
	    &p);
	if (r == HTTP_STEP_MORE) {
		if (len < max_head)
			return HTTP_PARSE_INCOMPLETE;
		*status = 431;
		return HTTP_PARSE_ERROR;
	}
	if (r == HTTP_STEP_TOO_MANY)
		*status = 431;
	if (r != HTTP_STEP_DONE)
		return HTTP_PARSE_ERROR;

	/* The head is complete: now what it means. */
	req->is_head = req->method_len == 4 &&
	    memcmp(req->method, "HEAD", 4) == 0;
	req->is_connect = req->method_len == 7 &&
	    memcmp(req->method, "CONNECT", 7) == 0;
	if (http_scan_fields(req->headers, req->nheaders, &f) == -1)
		return HTTP_PARSE_ERROR;

	/* RFC 9112 3.2: exactly one valid Host in HTTP/1.1. */
	if (f.nhost > 1 || (f.nhost == 0 && req->minor_version == 1))
		return HTTP_PARSE_ERROR;
	if (f.nhost == 1 && !http_valid_host(f.host, f.host_len, 0, 0))
		return HTTP_PARSE_ERROR;
	req->host = f.host;
	req->host_len = f.host_len;
	/* An absolute-form target overrides Host (RFC 9112 3.2.2). */
	if (http_parse_target(req) == -1)
		return HTTP_PARSE_ERROR;

	/* Framing, RFC 9112 6.1 and 6.3. */
	req->content_length = 0;
	if (f.has_te) {
		if (f.has_cl || req->minor_version == 0)
			return HTTP_PARSE_ERROR;
		if (f.te_codings == 0 || !f.te_last_chunked ||
		    f.te_chunked > 1)
			return HTTP_PARSE_ERROR;
		if (f.te_codings > 1) {
			*status = 501;
			return HTTP_PARSE_ERROR;
		}
		req->body = HTTP_BODY_CHUNKED;
	} else if (f.has_cl) {
		req->body = HTTP_BODY_LENGTH;
		req->content_length = f.cl;
	} else
		req->body = HTTP_BODY_NONE;

	if (req->minor_version == 1)
		req->keep_alive = !f.conn_close;
	else
		req->keep_alive = f.conn_keep_alive && !f.conn_close;
	/* RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored. */
	req->upgrade = req->minor_version == 1 && f.conn_upgrade &&
	    f.has_upgrade;
	req->expect_continue = req->minor_version == 1 && f.expect_continue;

	*status = 0;
	return (int)(p - buf);
}

/*
 * status-line: HTTP-version SP 3DIGIT SP reason-phrase CRLF.  The SP
 * before an empty reason is optional: some servers leave it out, and
 * nothing is framed by it.  Returns DONE, MORE or BAD.
 */
static int
http_parse_status_line(const char *p, const char *end,
    struct http_response *resp, const char **next)
{
	const char *r;
	int i, minor, st;

	if ((i = http_parse_version(p, end, 0, &p, &minor)) != HTTP_STEP_DONE)
		return i;
	if (minor == -1)
		return HTTP_STEP_BAD;
	for (i = 0, st = 0; i < 4; i++) {
		if (p + i == end)
			return HTTP_STEP_MORE;
		if (i == 0 ? p[i] != ' ' : !HTTP_IS(p[i], HC_DIGIT))
			return HTTP_STEP_BAD;
		if (i > 0)
			st = st * 10 + (p[i] - '0');
	}
	if (st < 100)
		return HTTP_STEP_BAD;
	p += 4;
	if (p == end)
		return HTTP_STEP_MORE;
	if (*p == ' ')
		p++;
	else if (*p != '\r')
		return HTTP_STEP_BAD;
	r = p;
	while (p < end && HTTP_IS(*p, HC_FIELD))
		p++;
	if (p == end)
		return HTTP_STEP_MORE;
	if (*p != '\r')
		return HTTP_STEP_BAD;
	if (p + 1 == end)
		return HTTP_STEP_MORE;
	if (p[1] != '\n')
		return HTTP_STEP_BAD;
	resp->minor_version = minor;
	resp->status = st;
	resp->reason = r;
	resp->reason_len = (size_t)(p - r);
	*next = p + 2;
	return HTTP_STEP_DONE;
}

int
http_parse_response(const char *buf, size_t len,
    const struct http_limits *lim, int head_request,
    struct http_response *resp, int *status)
{
	struct http_fields f;
	const char *p, *end;
	size_t max_head, max_hdrs;
	int r, st;

	/* Whatever goes wrong with a backend's response is a 502. */
	*status = 502;
	if (len == 0)
		return HTTP_PARSE_INCOMPLETE;
	http_get_limits(lim, &max_head, &max_hdrs);
	end = buf + (len < max_head ? len : max_head);

	if ((r = http_skip_empty_lines(buf, end, &p)) == HTTP_STEP_DONE)
		r = http_parse_status_line(p, end, resp, &p);
	if (r == HTTP_STEP_DONE)
		r = http_parse_fields(p, end, resp->headers, max_hdrs,
		    &resp->nheaders, &p);
	if (r == HTTP_STEP_MORE && len < max_head)
		return HTTP_PARSE_INCOMPLETE;
	if (r != HTTP_STEP_DONE)
		return HTTP_PARSE_ERROR;

	if (http_scan_fields(resp->headers, resp->nheaders, &f) == -1)
		return HTTP_PARSE_ERROR;
	/*
	 * Both framings at once, or chunked in an HTTP/1.0 message, is what
	 * response splitting looks like (RFC 9112 6.1): refuse rather than
	 * pick one.
	 */
	if (f.has_te && (f.has_cl || resp->minor_version == 0 ||
	    f.te_codings == 0 || f.te_chunked > 1))
		return HTTP_PARSE_ERROR;

	st = resp->status;
	resp->upgrade = 0;
	resp->content_length = f.has_cl ? f.cl : 0;
	if (resp->minor_version == 1)
		resp->keep_alive = !f.conn_close;
	else
		resp->keep_alive = f.conn_keep_alive && !f.conn_close;

	/* RFC 9112 6.3, in its order. */
	if (st == 101) {
		/* The connection stops being HTTP. */
		resp->upgrade = 1;
		resp->keep_alive = 0;
		resp->body = HTTP_BODY_NONE;
	} else if (head_request || (st >= 100 && st < 200) || st == 204 ||
	    st == 304)
		resp->body = HTTP_BODY_NONE;
	else if (f.has_te)
		resp->body = f.te_last_chunked ? HTTP_BODY_CHUNKED :
		    HTTP_BODY_UNTIL_CLOSE;
	else if (f.has_cl)
		resp->body = HTTP_BODY_LENGTH;
	else
		resp->body = HTTP_BODY_UNTIL_CLOSE;
	if (resp->body == HTTP_BODY_UNTIL_CLOSE)
		resp->keep_alive = 0;

	*status = 0;
	return (int)(p - buf);
}

/* Chunked scanner states. */
enum http_chunked_state {
	HCS_SIZE_FIRST = 0,	/* first HEXDIG of chunk-size */
	HCS_SIZE,		/* more HEXDIG, ';', or CR */
	HCS_SIZE_BWS,		/* BWS after the size: only ';' may follow */
	HCS_EXT,		/* chunk-ext, up to CR */
	HCS_SIZE_LF,
	HCS_DATA,
	HCS_DATA_CR,
	HCS_DATA_LF,
	HCS_TRAILER_FIRST,	/* start of a trailer line, or CR of the end */
	HCS_TRAILER_NAME,
	HCS_TRAILER_VALUE,
	HCS_TRAILER_LF,
	HCS_END_LF,
	HCS_DONE,
	HCS_ERROR,
};

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = HCS_SIZE_FIRST;
}

/*
 * The scanner looks at the framing bytes one at a time and skips over
 * chunk data in one step.  A size line, extensions and CRLF included, is
 * limited to HTTP_CHUNK_LINE_MAX bytes; the trailer section after the
 * last-chunk line, its final CRLF included, to HTTP_TRAILERS_MAX.
 * Once it has failed it stays failed; once done, it consumes nothing.
 */
ssize_t
http_chunked_scan(struct http_chunked *c, const char *buf, size_t len,
    int *done)
{
	const char *p = buf, *end = buf + len;
	unsigned char ch;
	uint64_t n;
	size_t take;

	*done = c->state == HCS_DONE;
	if (c->state == HCS_ERROR)
		return -1;
	if (len == 0)
		return 0;
	while (p < end && c->state != HCS_DONE) {
		if (c->state == HCS_DATA) {
			take = (size_t)(end - p);
			if ((uint64_t)take > c->remaining)
				take = (size_t)c->remaining;
			p += take;
			c->remaining -= take;
			c->body_bytes += take;
			if (c->remaining == 0)
				c->state = HCS_DATA_CR;
			continue;
		}
		ch = (unsigned char)*p++;
		switch (c->state) {
		case HCS_SIZE_FIRST:
		case HCS_SIZE:
		case HCS_SIZE_BWS:
		case HCS_EXT:
		case HCS_SIZE_LF:
			if (++c->line_len > HTTP_CHUNK_LINE_MAX)
				goto bad;
			break;
		case HCS_TRAILER_FIRST:
		case HCS_TRAILER_NAME:
		case HCS_TRAILER_VALUE:
		case HCS_TRAILER_LF:
		case HCS_END_LF:
			if (++c->trailer_len > HTTP_TRAILERS_MAX)
				goto bad;
			break;
		}
		switch (c->state) {
		case HCS_SIZE_FIRST:
			if (!HTTP_IS(ch, HC_HEX))
				goto bad;
			c->remaining = 0;
			c->state = HCS_SIZE;
			/* FALLTHROUGH */
		case HCS_SIZE:
			if (HTTP_IS(ch, HC_HEX)) {
				/* chunk-size stays below 2^63 */
				if (c->remaining > (UINT64_C(1) << 59) - 1)
					goto bad;
				n = HTTP_IS(ch, HC_DIGIT) ? ch - '0' :
				    http_lc(ch) - 'a' + 10;
				c->remaining = (c->remaining << 4) | n;
			} else if (ch == ';')
				c->state = HCS_EXT;
			else if (ch == '\r')
				c->state = HCS_SIZE_LF;
			else if (HTTP_IS_WS(ch))
				c->state = HCS_SIZE_BWS;
			else
				goto bad;
			break;
		case HCS_SIZE_BWS:
			/* BWS is allowed before ';' only (RFC 9112 7.1.1). */
			if (ch == ';')
				c->state = HCS_EXT;
			else if (!HTTP_IS_WS(ch))
				goto bad;
			break;
		case HCS_EXT:
			/* Extensions are ignored but may not hide CR or LF. */
			if (ch == '\r')
				c->state = HCS_SIZE_LF;
			else if (!HTTP_IS(ch, HC_FIELD))
				goto bad;
			break;
		case HCS_SIZE_LF:
			if (ch != '\n')
				goto bad;
			c->line_len = 0;
			c->state = c->remaining == 0 ? HCS_TRAILER_FIRST :
			    HCS_DATA;
			break;
		case HCS_DATA_CR:
			if (ch != '\r')
				goto bad;
			c->state = HCS_DATA_LF;
			break;
		case HCS_DATA_LF:
			if (ch != '\n')
				goto bad;
			c->state = HCS_SIZE_FIRST;
			break;
		case HCS_TRAILER_FIRST:
			if (ch == '\r')
				c->state = HCS_END_LF;
			else if (HTTP_IS(ch, HC_TOKEN))
				c->state = HCS_TRAILER_NAME;
			else
				goto bad;
			break;
		case HCS_TRAILER_NAME:
			if (ch == ':')
				c->state = HCS_TRAILER_VALUE;
			else if (!HTTP_IS(ch, HC_TOKEN))
				goto bad;
			break;
		case HCS_TRAILER_VALUE:
			if (ch == '\r')
				c->state = HCS_TRAILER_LF;
			else if (!HTTP_IS(ch, HC_FIELD))
				goto bad;
			break;
		case HCS_TRAILER_LF:
			if (ch != '\n')
				goto bad;
			c->state = HCS_TRAILER_FIRST;
			break;
		case HCS_END_LF:
			if (ch != '\n')
				goto bad;
			c->state = HCS_DONE;
			*done = 1;
			break;
		default:
			goto bad;
		}
	}
	return (ssize_t)(p - buf);
 bad:
	c->state = HCS_ERROR;
	return -1;
}

/*
 * http_lceq() wants a lower-case literal; <name> of http_find_header() and
 * <token> of http_has_token() come from callers in any case, so they are
 * compared with this instead.
 */
static int
http_caseeq(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (http_lc((unsigned char)a[i]) !=
		    http_lc((unsigned char)b[i]))
			return 0;
	return 1;
}

const struct http_header *
http_find_header(const struct http_header *h, size_t n, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++) {
		if (h[i].name_len != len)
			continue;
		if (http_caseeq(h[i].name, name, len))
			return &h[i];
	}
	return NULL;
}


int
http_has_token(const char *value, size_t len, const char *token)
{
	const char *p = value, *e;
	size_t elen, tlen = strlen(token);

	if (len == 0)
		return 0;
	while (http_list_next(&p, value + len, &e, &elen))
		if (elen == tlen && http_caseeq(e, token, tlen))
			return 1;
	return 0;
}

/*
 * RFC 9110 7.6.1 names these: Connection, Proxy-Connection, Keep-Alive,
 * TE, Transfer-Encoding, Upgrade.  Trailer, Proxy-Authenticate and
 * Proxy-Authorization (RFC 2616's list) are end-to-end now and are not
 * included.
 */
int
http_is_hop_by_hop(const char *name, size_t len)
{
	switch (len) {
	case 2:
		return http_caseeq(name, "te", 2);
	case 7:
		return http_caseeq(name, "upgrade", 7);
	case 10:
		return http_caseeq(name, "connection", 10) ||
		    http_caseeq(name, "keep-alive", 10);
	case 16:
		return http_caseeq(name, "proxy-connection", 16);
	case 17:
		return http_caseeq(name, "transfer-encoding", 17);
	}
	return 0;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 102: return "Processing";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 418: return "I'm a teapot";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

size_t
http_date(int64_t t, char out[HTTP_DATE_LEN])
{
	static const char days[7][4] = {
		"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec"
	};
	int64_t d, secs, z, era, doe, yoe, y, doy, mp, day, mon;

	if (t < 0)
		t = 0;
	d = t / 86400;
	secs = t % 86400;
	/* Civil date from days since 1970-01-01 (Howard Hinnant's method). */
	z = d + 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	mon = mp < 10 ? mp + 3 : mp - 9;
	if (mon <= 2)
		y++;
	if (y > 9999)
		y = 9999;
	snprintf(out, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[d % 7], (int)day, months[mon - 1], (int)y,
	    (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	return HTTP_DATE_LEN - 1;
}
