/*
 * http: HTTP/1.1 message-head parser and chunked-body scanner (RFC 9110,
 * RFC 9112), for the worker's proxy and its health probes.
 *
 * The parser is stateless over a buffer: it is called again with the grown
 * buffer until a head is complete, and returns pointers into that buffer
 * (nothing is copied or allocated).  It is strict where leniency enables
 * request smuggling: obs-fold, bare CR or LF, whitespace before the colon,
 * invalid token characters, Transfer-Encoding together with Content-Length,
 * differing duplicate Content-Length values, a Transfer-Encoding whose last
 * coding is not "chunked" (requests), and bad chunk sizes are all errors.
 */
#ifndef INGRESSD_HTTP_H
#define INGRESSD_HTTP_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS	256	/* hard cap whatever the config says */

enum http_parse_result {
	HTTP_PARSE_ERROR = -1,		/* *status says which (400, 431...) */
	HTTP_PARSE_INCOMPLETE = 0,	/* need more bytes */
	/* > 0: the head is complete and that many bytes long */
};

enum http_body_kind {
	HTTP_BODY_NONE = 0,		/* no body at all */
	HTTP_BODY_LENGTH = 1,		/* content_length bytes */
	HTTP_BODY_CHUNKED = 2,		/* chunked, scan with http_chunked */
	HTTP_BODY_UNTIL_CLOSE = 3,	/* responses only: read to EOF */
};

struct http_header {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* OWS trimmed on both sides */
	size_t		 value_len;
};

struct http_limits {
	size_t		 max_head_size;	/* whole head incl. request line */
	size_t		 max_headers;	/* clamped to HTTP_MAX_HEADERS */
};

struct http_request {
	const char	*method;
	size_t		 method_len;
	const char	*target;	/* request-target as sent */
	size_t		 target_len;
	const char	*path;		/* target up to '?' (origin-form) */
	size_t		 path_len;
	const char	*query;		/* after '?', or NULL */
	size_t		 query_len;
	const char	*host;		/* Host value, or absolute-form */
	size_t		 host_len;	/* authority; NULL if none */
	int		 minor_version;	/* HTTP/1.<minor>: 0 or 1 */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t		 nheaders;
	enum http_body_kind body;	/* NONE, LENGTH or CHUNKED */
	uint64_t	 content_length;
	unsigned	 keep_alive:1;	/* per version and Connection */
	unsigned	 expect_continue:1;	/* Expect: 100-continue */
	unsigned	 upgrade:1;	/* Connection: upgrade + Upgrade */
	unsigned	 is_head:1;	/* method HEAD */
	unsigned	 is_connect:1;	/* method CONNECT */
};

struct http_response {
	int		 minor_version;
	int		 status;
	const char	*reason;
	size_t		 reason_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t		 nheaders;
	enum http_body_kind body;
	uint64_t	 content_length;
	unsigned	 keep_alive:1;
	unsigned	 upgrade:1;	/* 101 Switching Protocols */
};

/*
 * Parses a request head from <buf>.  Returns the head length (> 0),
 * HTTP_PARSE_INCOMPLETE, or HTTP_PARSE_ERROR with *<status> set: 400
 * malformed or smuggling shape, 414 target too long, 431 head over
 * <lim>, 501 unknown Transfer-Encoding, 505 version not 1.x.
 */
int	http_parse_request(const char *buf, size_t len,
	    const struct http_limits *lim, struct http_request *req,
	    int *status);

/*
 * Parses a response head.  <head_request> and <connect_request> tell how
 * the body is framed (RFC 9112 section 6.3): 1xx, 204, 304 and HEAD have
 * none.  Errors: *<status> 502.
 */
int	http_parse_response(const char *buf, size_t len,
	    const struct http_limits *lim, int head_request,
	    struct http_response *resp, int *status);

/*
 * Chunked-body scanner: finds where a chunked body ends without decoding
 * it, so the proxy forwards the bytes as they are.  Chunk extensions and
 * trailers are bounded (HTTP_CHUNK_LINE_MAX, HTTP_TRAILERS_MAX).
 */
#define HTTP_CHUNK_LINE_MAX	4096
#define HTTP_TRAILERS_MAX	16384

struct http_chunked {
	int		 state;
	uint64_t	 remaining;	/* data bytes left in this chunk */
	size_t		 line_len;	/* bytes of the current size line */
	size_t		 trailer_len;
	uint64_t	 body_bytes;	/* chunk data seen so far */
};

void	http_chunked_init(struct http_chunked *c);

/*
 * Consumes up to <len> bytes of <buf>.  Returns the number of bytes that
 * belong to the body (always <= len; fewer only when the body ended), sets
 * *<done> to 1 once the last chunk and the trailers are through, or returns
 * -1 on a malformed body (bad size, overflow, missing CRLF, limits).
 */
ssize_t	http_chunked_scan(struct http_chunked *c, const char *buf, size_t len,
	    int *done);

/* Header helpers; names are case-blind. */
const struct http_header *http_find_header(const struct http_header *h,
	    size_t n, const char *name);
/* 1 when the comma-separated <value> lists <token> (case-blind). */
int	http_has_token(const char *value, size_t len, const char *token);
/* 1 for hop-by-hop fields (RFC 9110 7.6.1), not counting Connection's own
 * list, which the caller checks with http_has_token(). */
int	http_is_hop_by_hop(const char *name, size_t len);

/*
 * Writes <t> as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110
 * 5.6.7) into <out>, NUL-terminated; needs no locale and no time zone
 * files, so it works in a chrooted worker.  Returns the length (29).
 */
#define HTTP_DATE_LEN	30
size_t	http_date(int64_t t, char out[HTTP_DATE_LEN]);

/* "Not Found" for 404 and so on; "Unknown" otherwise. */
const char *http_reason(int status);

#endif
