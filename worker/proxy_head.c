/*
 * proxy_head: request and response head rewriting for the proxy (see
 * proxy_head.h).
 *
 * Runs in workers on every request, over heads the parser already
 * validated.  It may not allocate, log or make system calls, except one
 * getrandom() to seed the request ids.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/random.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/http.h"
#include "common/util.h"
#include "worker/proxy_head.h"

#define PROXY_HEAD_TOKENS	16	/* Connection options looked at */
#define PROXY_HEAD_SLACK	1024	/* our fields, beyond the copies */

/* A bounded writer: an overflow is remembered, never performed. */
struct proxy_head_out {
	char		*p;
	size_t		 len;
	size_t		 cap;
	int		 overflow;
};

struct proxy_head_tokens {
	const char	*p[PROXY_HEAD_TOKENS];
	size_t		 len[PROXY_HEAD_TOKENS];
	size_t		 n;
};

static uint64_t	proxy_head_seed[2];
static uint64_t	proxy_head_counter;

static void
proxy_head_add(struct proxy_head_out *o, const void *p, size_t len)
{
	if (len > o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->p + o->len, p, len);
	o->len += len;
}

#define ADDS(o, s)	proxy_head_add((o), (s), sizeof(s) - 1)

static void
proxy_head_field(struct proxy_head_out *o, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	proxy_head_add(o, name, nlen);
	ADDS(o, ": ");
	proxy_head_add(o, value, vlen);
	ADDS(o, "\r\n");
}

static int
proxy_head_is(const struct http_header *h, const char *name, size_t len)
{
	return h->name_len == len && util_strcaseeq(h->name, len, name, len);
}

/* Hop-by-hop fields dropped in both directions (RFC 9110 7.6.1), except
 * Transfer-Encoding, which stays as framing. */
static int
proxy_head_hop(const struct http_header *h)
{
	switch (h->name_len) {
	case 2:
		return proxy_head_is(h, "te", 2);
	case 7:
		return proxy_head_is(h, "upgrade", 7);
	case 10:
		return proxy_head_is(h, "connection", 10) ||
		    proxy_head_is(h, "keep-alive", 10);
	case 16:
		return proxy_head_is(h, "proxy-connection", 16);
	}
	return 0;
}

/* Collects the options of every Connection field of <h>. */
static void
proxy_head_tokens(const struct http_header *h, size_t nh,
    struct proxy_head_tokens *t)
{
	const char *v, *e, *s;
	size_t i;

	t->n = 0;
	for (i = 0; i < nh; i++) {
		if (!proxy_head_is(&h[i], "connection", 10))
			continue;
		v = h[i].value;
		e = v + h[i].value_len;
		while (v < e && t->n < PROXY_HEAD_TOKENS) {
			while (v < e && (*v == ',' || *v == ' ' || *v == '\t'))
				v++;
			s = v;
			while (v < e && *v != ',' && *v != ' ' && *v != '\t')
				v++;
			if (v > s) {
				t->p[t->n] = s;
				t->len[t->n++] = v - s;
			}
		}
	}
}

/* 1 when a Connection option names <h>; framing and Host always stay. */
static int
proxy_head_named(const struct http_header *h,
    const struct proxy_head_tokens *t)
{
	size_t i;

	if (t->n == 0 || proxy_head_is(h, "content-length", 14) ||
	    proxy_head_is(h, "transfer-encoding", 17) ||
	    proxy_head_is(h, "host", 4))
		return 0;
	for (i = 0; i < t->n; i++)
		if (util_strcaseeq(h->name, h->name_len, t->p[i], t->len[i]))
			return 1;
	return 0;
}

static uint64_t
proxy_head_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void
proxy_head_reqid(char out[PROXY_HEAD_REQID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t a, b;
	int i;

	if (proxy_head_seed[0] == 0 && proxy_head_seed[1] == 0) {
		if (getrandom(proxy_head_seed, sizeof(proxy_head_seed),
		    GRND_NONBLOCK) != sizeof(proxy_head_seed)) {
			/* No entropy yet: unique enough, not secret. */
			proxy_head_seed[0] = proxy_head_mix64(util_now_ms() ^
			    ((uint64_t)getpid() << 32));
			proxy_head_seed[1] = proxy_head_mix64(
			    (uint64_t)(uintptr_t)&a ^ proxy_head_seed[0]);
		}
	}
	proxy_head_counter++;
	a = proxy_head_mix64(proxy_head_seed[0] ^ proxy_head_counter);
	b = proxy_head_mix64(proxy_head_seed[1] + proxy_head_counter);
	for (i = 0; i < 16; i++) {
		out[i] = hex[(a >> (60 - 4 * i)) & 0xf];
		out[16 + i] = hex[(b >> (60 - 4 * i)) & 0xf];
	}
}

/* 1 for 1 to PROXY_HEAD_REQID_MAX visible ASCII characters. */
static int
proxy_head_reqid_sane(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len > PROXY_HEAD_REQID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

/* Decimal <v> into <buf> (at least 5 bytes), unterminated; the length. */
static size_t
proxy_head_utoa(char *buf, uint16_t v)
{
	char tmp[8];
	size_t n = 0, i;

	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t
proxy_head_request_size(const struct http_request *r, size_t headlen)
{
	size_t i, n = headlen + PROXY_HEAD_SLACK + PROXY_HEAD_REQID_MAX;

	/* X-Forwarded-For values are copied once more, with ", ". */
	for (i = 0; i < r->nheaders; i++)
		if (proxy_head_is(&r->headers[i], "x-forwarded-for", 15))
			n += r->headers[i].value_len + 2;
	/* X-Forwarded-Host repeats the Host value; absolute-form writes it
	 * once more as Host. */
	if (r->host != NULL)
		n += 2 * r->host_len + 8;
	return n;
}

/* 1 for an absolute-form request-target ("http://host/path"). */
static int
proxy_head_absolute(const struct http_request *r)
{
	return !r->is_connect && r->target_len > 0 && r->target[0] != '/' &&
	    !(r->target_len == 1 && r->target[0] == '*');
}

size_t
proxy_head_request(char *out, size_t outlen, const struct http_request *r,
    const char *head, size_t headlen, const char *client_ip, uint16_t port,
    int https)
{
	struct proxy_head_out o = { out, 0, outlen, 0 };
	const struct http_header *h, *upgrade = NULL, *rid = NULL;
	struct proxy_head_tokens t;
	char num[8], gen[PROXY_HEAD_REQID_LEN];
	const char *eol;
	size_t i;
	int absolute;

	if ((eol = memchr(head, '\n', headlen)) == NULL)
		return 0;
	absolute = proxy_head_absolute(r);
	if (absolute) {
		/*
		 * RFC 9112 3.2: an origin server gets origin-form, and a proxy
		 * forwarding absolute-form MUST make Host from the target,
		 * not forward the Host field it received.
		 */
		proxy_head_add(&o, r->method, r->method_len);
		ADDS(&o, " ");
		proxy_head_add(&o, r->path, r->path_len);
		if (r->query != NULL) {
			ADDS(&o, "?");
			proxy_head_add(&o, r->query, r->query_len);
		}
		if (r->minor_version == 0)
			ADDS(&o, " HTTP/1.0\r\n");
		else
			ADDS(&o, " HTTP/1.1\r\n");
		if (r->host != NULL)
			proxy_head_field(&o, "Host", 4, r->host, r->host_len);
	} else		/* The request line exactly as sent, with its CRLF. */
		proxy_head_add(&o, head, eol - head + 1);

	proxy_head_tokens(r->headers, r->nheaders, &t);
	for (i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		if (proxy_head_is(h, "upgrade", 7))
			upgrade = h;
		if (proxy_head_hop(h) || proxy_head_named(h, &t))
			continue;
		if (absolute && proxy_head_is(h, "host", 4))
			continue;
		if (proxy_head_is(h, "x-forwarded-for", 15) ||
		    proxy_head_is(h, "x-forwarded-proto", 17) ||
		    proxy_head_is(h, "x-forwarded-host", 16) ||
		    proxy_head_is(h, "x-forwarded-port", 16))
			continue;
		if (proxy_head_is(h, "x-request-id", 12)) {
			if (rid == NULL && proxy_head_reqid_sane(h->value,
			    h->value_len))
				rid = h;
			continue;
		}
		proxy_head_field(&o, h->name, h->name_len, h->value,
		    h->value_len);
	}

	/* X-Forwarded-For: every earlier value, then the peer. */
	ADDS(&o, "X-Forwarded-For: ");
	for (i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		if (!proxy_head_is(h, "x-forwarded-for", 15) ||
		    h->value_len == 0)
			continue;
		proxy_head_add(&o, h->value, h->value_len);
		ADDS(&o, ", ");
	}
	proxy_head_add(&o, client_ip, strlen(client_ip));
	if (https)
		ADDS(&o, "\r\nX-Forwarded-Proto: https\r\n");
	else
		ADDS(&o, "\r\nX-Forwarded-Proto: http\r\n");
	if (r->host != NULL)
		proxy_head_field(&o, "X-Forwarded-Host", 16, r->host,
		    r->host_len);
	proxy_head_field(&o, "X-Forwarded-Port", 16, num,
	    proxy_head_utoa(num, port));
	/*
	 * RFC 9110 7.6.3: a gateway MUST add Via to the requests it forwards,
	 * naming the protocol it received; the client's own Via lines stay
	 * before it, which is the same as one comma-separated list.
	 */
	if (r->minor_version == 0)
		ADDS(&o, "Via: 1.0 ingressd\r\n");
	else
		ADDS(&o, "Via: 1.1 ingressd\r\n");
	if (rid != NULL)
		proxy_head_field(&o, "X-Request-Id", 12, rid->value,
		    rid->value_len);
	else {
		proxy_head_reqid(gen);
		proxy_head_field(&o, "X-Request-Id", 12, gen, sizeof(gen));
	}
	if (r->upgrade && upgrade != NULL) {
		proxy_head_field(&o, "Upgrade", 7, upgrade->value,
		    upgrade->value_len);
		ADDS(&o, "Connection: upgrade\r\n\r\n");
	} else
		ADDS(&o, "Connection: keep-alive\r\n\r\n");
	return o.overflow ? 0 : o.len;
}

size_t
proxy_head_response_size(size_t headlen)
{
	return headlen + 256;
}

size_t
proxy_head_response(char *out, size_t outlen, const struct http_response *r,
    int close, int dechunk)
{
	struct proxy_head_out o = { out, 0, outlen, 0 };
	const struct http_header *h, *upgrade = NULL;
	struct proxy_head_tokens t;
	char line[13];
	size_t i;
	int server = 0;

	memcpy(line, "HTTP/1.1 ", 9);
	line[9] = '0' + (r->status / 100) % 10;
	line[10] = '0' + (r->status / 10) % 10;
	line[11] = '0' + r->status % 10;
	line[12] = ' ';
	proxy_head_add(&o, line, sizeof(line));
	proxy_head_add(&o, r->reason, r->reason_len);
	ADDS(&o, "\r\n");
	proxy_head_tokens(r->headers, r->nheaders, &t);
	for (i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		if (proxy_head_is(h, "upgrade", 7))
			upgrade = h;
		if (proxy_head_hop(h) || proxy_head_named(h, &t))
			continue;
		if (dechunk && proxy_head_is(h, "transfer-encoding", 17))
			continue;
		if (proxy_head_is(h, "server", 6))
			server = 1;
		proxy_head_field(&o, h->name, h->name_len, h->value,
		    h->value_len);
	}
	if (!server)
		ADDS(&o, "Server: ingressd\r\n");
	if (r->status == 101) {
		if (upgrade != NULL)
			proxy_head_field(&o, "Upgrade", 7, upgrade->value,
			    upgrade->value_len);
		ADDS(&o, "Connection: upgrade\r\n\r\n");
	} else if (close)
		ADDS(&o, "Connection: close\r\n\r\n");
	else
		ADDS(&o, "Connection: keep-alive\r\n\r\n");
	return o.overflow ? 0 : o.len;
}
