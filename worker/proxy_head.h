/*
 * proxy_head: how the proxy rewrites message heads on their way through
 * (RFC 9110 section 7.6): the request head for the upstream and the
 * response head for the client.  Split from proxy.c so that the rules are
 * unit-tested without sockets.
 *
 * Pure functions over parsed heads (common/http.h): they write into the
 * caller's buffer and never allocate, log or block.
 */
#ifndef INGRESSD_PROXY_HEAD_H
#define INGRESSD_PROXY_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/http.h"

#define PROXY_HEAD_REQID_MAX	128	/* a client X-Request-Id we keep */
#define PROXY_HEAD_REQID_LEN	32	/* one we make: hex characters */

/* Bytes proxy_head_request() needs at most for <r>, <headlen> long. */
size_t	proxy_head_request_size(const struct http_request *r, size_t headlen);

/*
 * Writes the request head for the upstream into <out> (<outlen> bytes):
 * the request line of the <headlen> bytes at <head> exactly as sent; the
 * fields as sent minus hop-by-hop ones (Connection and the fields it
 * names, Keep-Alive, Proxy-Connection, TE, Upgrade), keeping Host and the
 * framing fields (Content-Length, Transfer-Encoding); the client's
 * X-Forwarded-Proto/Host/Port dropped for ours (Proto "https" when
 * <https>, else "http"); X-Forwarded-For with the
 * earlier values and then <client_ip>; X-Forwarded-Host (the Host as
 * sent); X-Forwarded-Port <port>; X-Request-Id (the client's when it is
 * 1 to 128 visible characters, else a new one); and Connection: upgrade
 * with the Upgrade field for an upgrade request, else keep-alive.
 * Returns the length, or 0 when <outlen> is too small.
 */
size_t	proxy_head_request(char *out, size_t outlen,
	    const struct http_request *r, const char *head, size_t headlen,
	    const char *client_ip, uint16_t port, int https);

/* Bytes proxy_head_response() needs at most for a head <headlen> long. */
size_t	proxy_head_response_size(size_t headlen);

/*
 * Writes the response head for the client into <out>: "HTTP/1.1", the
 * backend's status and reason, its fields minus hop-by-hop ones,
 * "Server: ingressd" when it sent no Server, and Connection: upgrade
 * (with Upgrade) for a 101, else close when <close>, else keep-alive.
 * <dechunk> drops Transfer-Encoding (the proxy decodes a chunked body for
 * an HTTP/1.0 client).  Returns the length, or 0 when <outlen> is too
 * small.
 */
size_t	proxy_head_response(char *out, size_t outlen,
	    const struct http_response *r, int close, int dechunk);

/* A new request id: PROXY_HEAD_REQID_LEN hex characters, no NUL. */
void	proxy_head_reqid(char out[PROXY_HEAD_REQID_LEN]);

#endif
