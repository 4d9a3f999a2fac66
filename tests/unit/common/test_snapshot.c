/*
 * Unit tests for common/snapshot.c: encode/open round trips through the
 * accessors, the reader's rejection of damaged blobs (byte flips,
 * truncation, and corruptions resealed with a valid checksum so that the
 * checks behind the checksum run), the writer's rejection of bad tables,
 * and route_table_free() on partial tables.
 *
 * With SNAPSHOT_WRITE_CORPUS=DIR set, the "corpus" test also writes the
 * snapshots it builds into DIR for the fuzz target's seed corpus.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "tests/unit/route_table_builder.h"

/* Layout facts from the comment at the top of common/snapshot.c. */
#define HDR_SIZE	64
#define H_VERSION	8
#define H_HDRSIZE	12
#define H_GENERATION	16
#define H_TOTAL		24
#define H_CHECKSUM	32
#define H_NSECTIONS	40
#define H_FLAGS		44
#define NSECTIONS	10
#define META_SIZE	120
#define PATH_SIZE	32
#define CERT_SIZE	24
enum { S_META = 1, S_STRINGS, S_HOSTS, S_INDEX, S_PATHS, S_BACKENDS,
    S_ENDPOINTS, S_UTLS, S_CAS, S_CERTS };
#define META(p)		rec(p, S_META, META_SIZE, 0)

static char errbuf[256];

/* Adds certificate <name> with the (fake) PEM text <pem> to <rt>. */
static void
tb_cert(struct route_table *rt, const char *name, const char *pem)
{
	struct route_cert *c;

	rt->certs = realloc(rt->certs, (rt->ncerts + 1) * sizeof(*rt->certs));
	ck_assert_ptr_nonnull(rt->certs);
	c = &rt->certs[rt->ncerts++];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	c->pem = strdup(pem);
}

/* ---- building route tables by hand ---- */


static uint32_t
tb_backend(struct route_table *rt, const char *name, uint32_t policy,
    const char *arg, uint32_t connect_ms, uint32_t response_ms)
{
	struct route_backend *b;

	rt->backends = realloc(rt->backends,
	    (rt->nbackends + 1) * sizeof(*rt->backends));
	ck_assert_ptr_nonnull(rt->backends);
	b = &rt->backends[rt->nbackends];
	memset(b, 0, sizeof(*b));
	b->name = name ? strdup(name) : NULL;
	b->policy = policy;
	b->policy_arg = arg ? strdup(arg) : NULL;
	b->connect_timeout_ms = connect_ms;
	b->response_timeout_ms = response_ms;
	return (uint32_t)rt->nbackends++;
}

static void
tb_endpoint(struct route_table *rt, uint32_t be, const char *ip,
    uint16_t port, uint32_t weight)
{
	struct route_backend *b = &rt->backends[be];
	struct route_endpoint *ep;

	b->endpoints = realloc(b->endpoints,
	    (b->nendpoints + 1) * sizeof(*b->endpoints));
	ck_assert_ptr_nonnull(b->endpoints);
	ep = &b->endpoints[b->nendpoints++];
	memset(ep, 0, sizeof(*ep));
	ck_assert_int_eq(util_make_sockaddr(ip, port, &ep->addr,
	    &ep->addrlen), 0);
	ep->weight = weight;
}


/* Adds a CA bundle (<pem> NULL: an empty one); returns its index. */
static int32_t
tb_ca(struct route_table *rt, const char *pem, int system)
{
	struct route_ca *ca;

	rt->cas = realloc(rt->cas, (rt->ncas + 1) * sizeof(*rt->cas));
	ck_assert_ptr_nonnull(rt->cas);
	ca = &rt->cas[rt->ncas];
	memset(ca, 0, sizeof(*ca));
	ca->system = system != 0;
	if (pem != NULL) {
		ca->pem = strdup(pem);
		ca->len = strlen(pem);
	}
	return (int32_t)rt->ncas++;
}

/* TLS toward backend <be>: verified against CA <ca> (-1: off). */
static void
tb_tls(struct route_table *rt, uint32_t be, int32_t ca, const char *name)
{
	struct route_upstream_tls *t = &rt->backends[be].tls;

	t->enabled = 1;
	t->verify = ca >= 0;
	t->ca = ca;
	t->server_name = name != NULL ? strdup(name) : NULL;
}

/*
 * The rich table: settings with distinct values, three backends (IPv4,
 * IPv6, none), exact/wildcard/host-less entries, unsorted paths, a
 * default backend.
 */
static void
tb_rich(struct route_table *rt)
{
	struct route_settings *st = &rt->settings;
	uint32_t a, b, c, h;

	tb_init(rt);
	st->client_header_timeout_ms = 1001;
	st->client_body_timeout_ms = 1002;
	st->client_idle_timeout_ms = 1003;
	st->upstream_connect_timeout_ms = 1004;
	st->upstream_response_timeout_ms = 1005;
	st->upstream_idle_timeout_ms = 1006;
	st->max_header_size = 1007;
	st->max_headers = 1008;
	st->max_body_size = 0x100000000ULL + 9;
	st->max_connections = 1010;
	st->upstream_keepalive = 1011;

	a = tb_backend(rt, "default/web:80", ROUTE_POLICY_ROUND_ROBIN, NULL,
	    0, 0);
	tb_endpoint(rt, a, "10.0.0.1", 8080, 1);
	tb_endpoint(rt, a, "10.0.0.2", 8081, 5);
	b = tb_backend(rt, "shop/api:http", ROUTE_POLICY_HASH_HEADER,
	    "X-User", 250, 30000);
	tb_endpoint(rt, b, "fd00::1", 443, 2);
	tb_endpoint(rt, b, "192.168.1.1", 65535, 0);
	tb_endpoint(rt, b, "::ffff:10.1.2.3", 1, 7);
	c = tb_backend(rt, "ns/empty:81", ROUTE_POLICY_STICKY_COOKIE, "sid",
	    0, 99);
	/* TLS: b verified against the second CA, c unverified; a plain. */
	tb_ca(rt, "-----BEGIN CERTIFICATE-----\nsystem\n", 1);
	tb_tls(rt, b, tb_ca(rt, "-----BEGIN CERTIFICATE-----\nmine\n", 0),
	    "api.shop.svc");
	tb_tls(rt, c, -1, "10.1.2.3");

	h = tb_host(rt, "www.example.com");
	tb_path(rt, h, "/static", ROUTE_PATH_PREFIX, a, "default/site");
	tb_path(rt, h, "/", ROUTE_PATH_PREFIX, a, "default/site");
	tb_path(rt, h, "/login", ROUTE_PATH_EXACT, b, "shop/auth");
	tb_path(rt, h, "/api/v1", ROUTE_PATH_PREFIX, b, "shop/api");
	tb_path(rt, h, "/about", ROUTE_PATH_EXACT, a, "default/site");
	tb_path(rt, h, "/static", ROUTE_PATH_EXACT, c, NULL);
	h = tb_host(rt, "*.example.com");
	tb_path(rt, h, "/", ROUTE_PATH_PREFIX, c, "ns/wild");
	h = tb_host(rt, "");
	tb_path(rt, h, "/healthz", ROUTE_PATH_EXACT, a, "default/any");
	tb_host(rt, "no-paths.example.org");
	rt->default_backend = (int32_t)c;
	rt->default_source = strdup("ns/fallback");
}

static void *
encode_ok(const struct route_table *rt, uint64_t gen, size_t *len)
{
	void *blob;

	errbuf[0] = '\0';
	ck_assert_msg(snapshot_encode(rt, gen, &blob, len, errbuf,
	    sizeof(errbuf)) == 0, "encode: %s", errbuf);
	return blob;
}

/* ---- raw blob access, for the corruption tests ---- */

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void
wr32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
wr64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* An independent copy of the documented checksum. */
static uint64_t
checksum(const uint8_t *p, size_t len)
{
	uint64_t h, w;
	size_t off;

	h = 0xc2b2ae3d27d4eb4fULL ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);
	for (off = 0; off + 8 <= len; off += 8) {
		memcpy(&w, p + off, 8);
		w = off == H_CHECKSUM ? 0 : le64toh(w);
		h ^= w * 0x9e3779b97f4a7c15ULL;
		h = ((h << 31) | (h >> 33)) * 0xc2b2ae3d27d4eb4fULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static void
reseal(uint8_t *p, size_t len)
{
	wr64(p + H_CHECKSUM, checksum(p, len));
}

/* The section table entry of <kind>. */
static uint8_t *
sect_entry(uint8_t *p, uint32_t kind)
{
	int i;

	for (i = 0; i < NSECTIONS; i++)
		if (rd32(p + HDR_SIZE + i * 16) == kind)
			return p + HDR_SIZE + i * 16;
	ck_abort_msg("no section %u", kind);
	return NULL;
}

/* Record <idx> of section <kind> of <recsize> bytes. */
static uint8_t *
rec(uint8_t *p, uint32_t kind, uint32_t recsize, uint32_t idx)
{
	uint8_t *e = sect_entry(p, kind);

	ck_assert_uint_lt(idx, rd32(e + 4));
	return p + rd32(e + 8) + (size_t)idx * recsize;
}

/* ---- round trips ---- */

static void
check_endpoint(const struct snapshot *s, uint32_t idx,
    const struct route_endpoint *want)
{
	struct snapshot_endpoint ep;
	const struct sockaddr_in *a, *b;
	const struct sockaddr_in6 *a6, *b6;

	snapshot_endpoint(s, idx, &ep);
	ck_assert_uint_eq(ep.weight, want->weight);
	ck_assert_int_eq(ep.addr.ss_family, want->addr.ss_family);
	if (want->addr.ss_family == AF_INET) {
		a = (const struct sockaddr_in *)&ep.addr;
		b = (const struct sockaddr_in *)&want->addr;
		ck_assert_uint_eq(ep.addrlen, sizeof(*a));
		ck_assert_uint_eq(a->sin_port, b->sin_port);
		ck_assert_mem_eq(&a->sin_addr, &b->sin_addr, 4);
	} else {
		a6 = (const struct sockaddr_in6 *)&ep.addr;
		b6 = (const struct sockaddr_in6 *)&want->addr;
		ck_assert_uint_eq(ep.addrlen, sizeof(*a6));
		ck_assert_uint_eq(a6->sin6_port, b6->sin6_port);
		ck_assert_mem_eq(&a6->sin6_addr, &b6->sin6_addr, 16);
	}
}

static void
check_str(const char *got, size_t gotlen, const char *want)
{
	if (want == NULL)
		want = "";
	ck_assert_uint_eq(gotlen, strlen(want));
	ck_assert_mem_eq(got, want, gotlen);
}

/* Every accessor against the table <rt> the snapshot came from. */
static void
check_rich(const struct snapshot *s, const struct route_table *rt)
{
	struct snapshot_backend sb;
	struct snapshot_host sh;
	struct snapshot_path sp;
	struct snapshot_upstream_tls ut;
	struct snapshot_ca ca;
	const struct route_backend *rb;
	uint32_t i, j, ep = 0;
	int32_t h;
	/* www.example.com's paths in the order the router needs. */
	static const struct {
		const char *path;
		uint32_t type;
		uint32_t backend;
		const char *source;
	} www[] = {
		{ "/about", ROUTE_PATH_EXACT, 0, "default/site" },
		{ "/login", ROUTE_PATH_EXACT, 1, "shop/auth" },
		{ "/static", ROUTE_PATH_EXACT, 2, "" },
		{ "/api/v1", ROUTE_PATH_PREFIX, 1, "shop/api" },
		{ "/static", ROUTE_PATH_PREFIX, 0, "default/site" },
		{ "/", ROUTE_PATH_PREFIX, 0, "default/site" },
	};

	ck_assert_mem_eq(&s->settings, &rt->settings, sizeof(s->settings));
	ck_assert_uint_eq(s->nbackends, 3);
	ck_assert_uint_eq(s->nendpoints, 5);
	ck_assert_uint_eq(s->nhosts, 4);
	ck_assert_uint_eq(s->npaths, 8);
	ck_assert_int_eq(s->default_backend, 2);
	check_str(s->default_source, s->default_sourcelen, "ns/fallback");

	ck_assert_uint_eq(s->ncas, rt->ncas);
	for (i = 0; i < rt->ncas; i++) {
		snapshot_ca(s, i, &ca);
		check_str(ca.pem, ca.len, rt->cas[i].pem);
		ck_assert_uint_eq(ca.hash, util_hash64(rt->cas[i].pem,
		    rt->cas[i].len));
	}
	for (i = 0; i < rt->nbackends; i++) {
		rb = &rt->backends[i];
		snapshot_upstream_tls(s, i, &ut);
		ck_assert_uint_eq(ut.enabled, rb->tls.enabled);
		ck_assert_uint_eq(ut.verify, rb->tls.verify);
		ck_assert_int_eq(ut.ca, rb->tls.verify ? rb->tls.ca : -1);
		check_str(ut.server_name, ut.server_namelen,
		    rb->tls.server_name);
		snapshot_backend(s, i, &sb);
		ck_assert_uint_eq(sb.index, i);
		check_str(sb.name, sb.namelen, rb->name);
		ck_assert_uint_eq(sb.policy, rb->policy);
		if (rb->policy_arg == NULL)
			ck_assert_ptr_null(sb.policy_arg);
		else
			check_str(sb.policy_arg, sb.policy_arglen,
			    rb->policy_arg);
		ck_assert_uint_eq(sb.connect_timeout_ms,
		    rb->connect_timeout_ms ? rb->connect_timeout_ms :
		    rt->settings.upstream_connect_timeout_ms);
		ck_assert_uint_eq(sb.response_timeout_ms,
		    rb->response_timeout_ms ? rb->response_timeout_ms :
		    rt->settings.upstream_response_timeout_ms);
		ck_assert_uint_eq(sb.first_endpoint, ep);
		ck_assert_uint_eq(sb.nendpoints, rb->nendpoints);
		for (j = 0; j < rb->nendpoints; j++)
			check_endpoint(s, ep++, &rb->endpoints[j]);
	}

	h = snapshot_host_find(s, "www.example.com", 15, 0);
	ck_assert_int_ge(h, 0);
	snapshot_host(s, (uint32_t)h, &sh);
	check_str(sh.name, sh.namelen, "www.example.com");
	ck_assert_uint_eq(sh.kind, SNAPSHOT_HOST_EXACT);
	ck_assert_uint_eq(sh.npaths, UTIL_NELEM(www));
	for (i = 0; i < UTIL_NELEM(www); i++) {
		snapshot_path(s, sh.first_path + i, &sp);
		check_str(sp.path, sp.pathlen, www[i].path);
		ck_assert_uint_eq(sp.type, www[i].type);
		ck_assert_uint_eq(sp.backend, www[i].backend);
		check_str(sp.source, sp.sourcelen, www[i].source);
	}
	ck_assert_int_eq(snapshot_host_find(s, "WWW.Example.COM", 15, 0), h);
	ck_assert_int_eq(snapshot_host_find(s, "www.example.com", 15, 1), -1);
	ck_assert_int_eq(snapshot_host_find(s, "www.example.co", 14, 0), -1);

	h = snapshot_host_find(s, "example.com", 11, 1);
	ck_assert_int_ge(h, 0);
	snapshot_host(s, (uint32_t)h, &sh);
	check_str(sh.name, sh.namelen, "*.example.com");
	ck_assert_uint_eq(sh.kind, SNAPSHOT_HOST_WILDCARD);
	ck_assert_uint_eq(sh.npaths, 1);
	ck_assert_int_eq(snapshot_host_find(s, "example.com", 11, 0), -1);

	h = snapshot_host_find(s, "no-paths.example.org", 20, 0);
	ck_assert_int_ge(h, 0);
	snapshot_host(s, (uint32_t)h, &sh);
	ck_assert_uint_eq(sh.npaths, 0);

	ck_assert_int_ge(s->anyhost, 0);
	snapshot_host(s, (uint32_t)s->anyhost, &sh);
	ck_assert_uint_eq(sh.kind, SNAPSHOT_HOST_ANY);
	ck_assert_uint_eq(sh.namelen, 0);
	ck_assert_uint_eq(sh.npaths, 1);
	snapshot_path(s, sh.first_path, &sp);
	check_str(sp.path, sp.pathlen, "/healthz");
	ck_assert_int_eq(snapshot_host_find(s, "", 0, 0), -1);
}

START_TEST(test_round_trip)
{
	struct route_table rt;
	struct snapshot s;
	void *blob;
	size_t len;

	tb_rich(&rt);
	blob = encode_ok(&rt, 0x1122334455667788ULL, &len);
	ck_assert_uint_eq(len % 8, 0);
	ck_assert_mem_eq(blob, SNAPSHOT_MAGIC, 8);
	ck_assert_msg(snapshot_open(&s, blob, len, errbuf, sizeof(errbuf)) ==
	    0, "open: %s", errbuf);
	ck_assert_uint_eq(s.generation, 0x1122334455667788ULL);
	ck_assert_ptr_eq(s.base, blob);
	ck_assert_uint_eq(s.len, len);
	check_rich(&s, &rt);
	free(blob);
	route_table_free(&rt);
}
END_TEST

/* The reader does not care where the blob sits (mmap, malloc, odd). */
START_TEST(test_alignment)
{
	struct route_table rt;
	struct snapshot s;
	uint8_t *buf;
	void *blob;
	size_t len;

	tb_rich(&rt);
	blob = encode_ok(&rt, 7, &len);
	buf = malloc(len + 8);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf + _i, blob, len);
	ck_assert_msg(snapshot_open(&s, buf + _i, len, errbuf,
	    sizeof(errbuf)) == 0, "offset %d: %s", _i, errbuf);
	check_rich(&s, &rt);
	free(buf);
	free(blob);
	route_table_free(&rt);
}
END_TEST

/* The same table in another order gives the same bytes. */
START_TEST(test_deterministic)
{
	struct route_table rt;
	struct route_host tmp;
	void *a, *b;
	size_t alen, blen;

	tb_rich(&rt);
	a = encode_ok(&rt, 1, &alen);
	tmp = rt.hosts[0];
	rt.hosts[0] = rt.hosts[2];
	rt.hosts[2] = tmp;
	b = encode_ok(&rt, 1, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(a, b, alen);
	free(a);
	free(b);
	route_table_free(&rt);
}
END_TEST

START_TEST(test_empty_table)
{
	struct route_table rt;
	struct snapshot s;
	void *blob;
	size_t len;

	tb_init(&rt);
	blob = encode_ok(&rt, 0, &len);
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(s.nhosts, 0);
	ck_assert_uint_eq(s.nbackends, 0);
	ck_assert_int_eq(s.anyhost, -1);
	ck_assert_int_eq(s.default_backend, -1);
	ck_assert_int_eq(snapshot_host_find(&s, "a", 1, 0), -1);
	free(blob);
}
END_TEST

/* Timeouts left at 0 by both the backend and the settings. */
START_TEST(test_timeout_defaults)
{
	struct route_table rt;
	struct snapshot s;
	struct snapshot_backend sb;
	void *blob;
	size_t len;

	tb_init(&rt);
	tb_backend(&rt, "a", 0, "", 0, 0);
	blob = encode_ok(&rt, 0, &len);
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	snapshot_backend(&s, 0, &sb);
	ck_assert_uint_gt(sb.connect_timeout_ms, 0);
	ck_assert_uint_gt(sb.response_timeout_ms, 0);
	ck_assert_ptr_null(sb.policy_arg);
	free(blob);
	route_table_free(&rt);
}
END_TEST

/* ---- TLS: certificates, settings, path flags ---- */

/* Certificates come back sorted by name and are found by exact name. */
START_TEST(test_certs)
{
	struct route_table rt;
	struct snapshot s;
	struct snapshot_cert sc;
	struct snapshot_path sp;
	void *blob;
	size_t len;
	uint32_t h, b;

	tb_init(&rt);
	b = tb_backend(&rt, "ns/svc:80", 0, NULL, 0, 0);
	h = tb_host(&rt, "a.test");
	tb_path(&rt, h, "/", ROUTE_PATH_PREFIX, b, "ns/ing");
	rt.hosts[h].paths[0].tls_flags = ROUTE_TLS_REDIRECT | ROUTE_TLS_HSTS;
	rt.hosts[h].paths[0].hsts_max_age = 600;
	tb_cert(&rt, "z.test", "PEM-Z");
	tb_cert(&rt, "*.a.test", "PEM-W");
	tb_cert(&rt, "", "PEM-D");
	rt.settings.tls_handshake_timeout_ms = 1234;
	rt.settings.tls_protocols = ROUTE_TLS_V13;
	rt.settings.tls_session_cache = 1;
	rt.settings.https_port = 8443;
	strcpy(rt.settings.tls_ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
	strcpy(rt.settings.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
	strcpy(rt.settings.tls_curves, "X25519");
	blob = encode_ok(&rt, 5, &len);
	route_table_free(&rt);
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(s.ncerts, 3);
	snapshot_cert(&s, 0, &sc);
	ck_assert_uint_eq(sc.namelen, 0);
	ck_assert_uint_eq(sc.kind, SNAPSHOT_HOST_ANY);
	ck_assert_int_eq(memcmp(sc.pem, "PEM-D", 5), 0);
	ck_assert_int_eq(snapshot_cert_find(&s, "*.a.test", 8), 1);
	snapshot_cert(&s, 1, &sc);
	ck_assert_uint_eq(sc.kind, SNAPSHOT_HOST_WILDCARD);
	ck_assert_int_eq(snapshot_cert_find(&s, "z.test", 6), 2);
	snapshot_cert(&s, 2, &sc);
	ck_assert_uint_eq(sc.kind, SNAPSHOT_HOST_EXACT);
	ck_assert_uint_eq(sc.pemlen, 5);
	ck_assert_int_eq(memcmp(sc.pem, "PEM-Z", 5), 0);
	ck_assert_int_eq(snapshot_cert_find(&s, "", 0), 0);
	ck_assert_int_eq(snapshot_cert_find(&s, "y.test", 6), -1);
	ck_assert_int_eq(snapshot_cert_find(&s, "a.test", 6), -1);
	ck_assert_uint_eq(s.settings.tls_handshake_timeout_ms, 1234);
	ck_assert_uint_eq(s.settings.tls_protocols, ROUTE_TLS_V13);
	ck_assert_uint_eq(s.settings.tls_session_cache, 1);
	ck_assert_uint_eq(s.settings.https_port, 8443);
	ck_assert_str_eq(s.settings.tls_ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
	ck_assert_str_eq(s.settings.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
	ck_assert_str_eq(s.settings.tls_curves, "X25519");
	snapshot_path(&s, 0, &sp);
	ck_assert_uint_eq(sp.tls_flags, ROUTE_TLS_REDIRECT | ROUTE_TLS_HSTS);
	ck_assert_uint_eq(sp.hsts_max_age, 600);
	free(blob);
}
END_TEST

/* One Secret's PEM for hosts that sort apart is stored once. */
START_TEST(test_certs_share_pem)
{
	static const char *pems[] = { "PEM-SHARED-ONE-SECRET", "PEM-OTHER" };
	struct route_table rt;
	struct snapshot s;
	struct snapshot_cert a, b, c;
	void *blob, *blob1;
	size_t len, len1;

	tb_init(&rt);
	tb_cert(&rt, "a.test", pems[0]);
	blob1 = encode_ok(&rt, 1, &len1);
	tb_cert(&rt, "m.test", pems[1]);
	tb_cert(&rt, "z.test", pems[0]);
	blob = encode_ok(&rt, 2, &len);
	route_table_free(&rt);
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	snapshot_cert(&s, 0, &a);
	snapshot_cert(&s, 1, &b);
	snapshot_cert(&s, 2, &c);
	ck_assert_ptr_eq(a.pem, c.pem);		/* one copy */
	ck_assert_uint_eq(c.pemlen, strlen(pems[0]));
	ck_assert_int_eq(memcmp(c.pem, pems[0], c.pemlen), 0);
	ck_assert_int_eq(memcmp(b.pem, pems[1], b.pemlen), 0);
	/* Two more records and names, one more PEM: not two. */
	ck_assert_uint_lt(len - len1, 2 * 24 + 12 + strlen(pems[1]) +
	    strlen(pems[0]));
	free(blob1);
	free(blob);
}
END_TEST

/* ---- the reader refuses damage ---- */

/* A small valid snapshot with one of everything. */
static void *
small_blob(size_t *len)
{
	struct route_table rt;
	void *blob;
	uint32_t b, h;

	tb_init(&rt);
	b = tb_backend(&rt, "ns/svc:80", ROUTE_POLICY_HASH_COOKIE, "c", 0, 0);
	tb_endpoint(&rt, b, "10.0.0.1", 80, 1);
	tb_endpoint(&rt, b, "::1", 81, 1);
	tb_tls(&rt, b, tb_ca(&rt, "PEM", 0), "svc.ns.svc");
	h = tb_host(&rt, "a.test");
	tb_path(&rt, h, "/x", ROUTE_PATH_EXACT, b, "ns/ing");
	tb_path(&rt, h, "/", ROUTE_PATH_PREFIX, b, "ns/ing");
	h = tb_host(&rt, "*.test");
	tb_path(&rt, h, "/w", ROUTE_PATH_PREFIX, b, "ns/ing");
	h = tb_host(&rt, "");
	tb_path(&rt, h, "/", ROUTE_PATH_PREFIX, b, NULL);
	rt.default_backend = 0;
	tb_cert(&rt, "a.test", "PEM-A");
	tb_cert(&rt, "", "PEM-DEFAULT");
	tb_cert(&rt, "*.test", "PEM-W");
	blob = encode_ok(&rt, 42, len);
	route_table_free(&rt);
	return blob;
}

/* Every single-byte change is caught (by the checksum at the least). */
START_TEST(test_byte_flips)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x10 };
	struct snapshot s;
	uint8_t *blob;
	size_t len, i, m;

	blob = small_blob(&len);
	for (i = 0; i < len; i++) {
		for (m = 0; m < UTIL_NELEM(masks); m++) {
			blob[i] ^= masks[m];
			ck_assert_msg(snapshot_open(&s, blob, len, errbuf,
			    sizeof(errbuf)) == -1, "flip %#x at %zu accepted",
			    masks[m], i);
			blob[i] ^= masks[m];
		}
	}
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	free(blob);
}
END_TEST

/* Flips resealed with a good checksum: must fail or open cleanly. */
START_TEST(test_byte_flips_resealed)
{
	struct snapshot s;
	struct snapshot_backend sb;
	struct snapshot_endpoint se;
	struct snapshot_host sh;
	struct snapshot_path sp;
	uint8_t *blob;
	size_t len, i, m;
	uint32_t k;

	blob = small_blob(&len);
	for (i = 0; i < len; i++) {
		if (i >= H_CHECKSUM && i < H_CHECKSUM + 8)
			continue;
		for (m = 1; m < 256; m <<= 1) {
			blob[i] ^= (uint8_t)m;
			reseal(blob, len);
			if (snapshot_open(&s, blob, len, errbuf,
			    sizeof(errbuf)) == 0) {
				/* Accepted: every accessor must stay inside. */
				for (k = 0; k < s.nbackends; k++)
					snapshot_backend(&s, k, &sb);
				for (k = 0; k < s.nendpoints; k++)
					snapshot_endpoint(&s, k, &se);
				for (k = 0; k < s.nhosts; k++)
					snapshot_host(&s, k, &sh);
				for (k = 0; k < s.npaths; k++)
					snapshot_path(&s, k, &sp);
				(void)snapshot_host_find(&s, "a.test", 6, 0);
			}
			blob[i] ^= (uint8_t)m;
		}
	}
	reseal(blob, len);
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	free(blob);
}
END_TEST

START_TEST(test_truncation)
{
	struct snapshot s;
	uint8_t *blob, *copy;
	size_t len, n;

	blob = small_blob(&len);
	for (n = 0; n < len; n++) {
		/* A fresh buffer of exactly n bytes: ASan sees any overread. */
		copy = malloc(n ? n : 1);
		memcpy(copy, blob, n);
		ck_assert_msg(snapshot_open(&s, copy, n, errbuf,
		    sizeof(errbuf)) == -1, "truncated to %zu accepted", n);
		free(copy);
	}
	/* Trailing bytes, even with a matching total and checksum. */
	copy = calloc(1, len + 8);
	memcpy(copy, blob, len);
	ck_assert_int_eq(snapshot_open(&s, copy, len + 8, errbuf,
	    sizeof(errbuf)), -1);
	wr64(copy + H_TOTAL, len + 8);
	reseal(copy, len + 8);
	ck_assert_int_eq(snapshot_open(&s, copy, len + 8, errbuf,
	    sizeof(errbuf)), 0);	/* slack after strings is harmless */
	ck_assert_int_eq(snapshot_open(&s, NULL, len, errbuf,
	    sizeof(errbuf)), -1);
	ck_assert_int_eq(snapshot_open(&s, blob, SNAPSHOT_MAX_SIZE + 8ULL,
	    errbuf, sizeof(errbuf)), -1);
	free(copy);
	free(blob);
}
END_TEST

/*
 * Corruptions applied to small_blob() and resealed, so that they get past
 * the checksum; each must be refused with <want> in the reason.
 */
struct corruption {
	const char	*name;
	void		(*fn)(uint8_t *);
	const char	*want;
};

#define CORRUPT(name, ...)	static void name(uint8_t *p) { __VA_ARGS__; }
CORRUPT(c_magic, p[0] = 'X')
CORRUPT(c_version, wr32(p + H_VERSION, 1))
CORRUPT(c_hdrsize, wr32(p + H_HDRSIZE, 72))
CORRUPT(c_nsections, wr32(p + H_NSECTIONS, 6))
CORRUPT(c_flags, wr32(p + H_FLAGS, 1))
CORRUPT(c_reserved, p[60] = 1)
CORRUPT(c_total, wr64(p + H_TOTAL, rd32(p + H_TOTAL) - 8))
CORRUPT(c_sect_kind_dup, wr32(sect_entry(p, S_HOSTS), S_META))
CORRUPT(c_sect_kind_bad, wr32(sect_entry(p, S_HOSTS), 99))
CORRUPT(c_sect_misaligned,
    wr32(sect_entry(p, S_PATHS) + 8, rd32(sect_entry(p, S_PATHS) + 8) + 4))
CORRUPT(c_sect_oob, wr32(sect_entry(p, S_STRINGS) + 8, 0x7ffffff8))
CORRUPT(c_sect_in_header, wr32(sect_entry(p, S_PATHS) + 8, 64))
CORRUPT(c_sect_size,
    wr32(sect_entry(p, S_PATHS) + 12, rd32(sect_entry(p, S_PATHS) + 12) + 1))
CORRUPT(c_sect_count_limit, wr32(sect_entry(p, S_META) + 4, 2);
    wr32(sect_entry(p, S_META) + 12, 128))
CORRUPT(c_sect_overlap,
    wr32(sect_entry(p, S_BACKENDS) + 8, rd32(sect_entry(p, S_PATHS) + 8)))
CORRUPT(c_index_not_pow2, wr32(sect_entry(p, S_INDEX) + 4, 3);
    wr32(sect_entry(p, S_INDEX) + 12, 12))
CORRUPT(c_default_backend, wr32(META(p) + 48, 1))
CORRUPT(c_default_backend_neg, wr32(META(p) + 48, 0xfffffffe))
CORRUPT(c_anyhost_range, wr32(META(p) + 52, 3))
CORRUPT(c_anyhost_named, wr32(META(p) + 52, 1))
CORRUPT(c_default_source, wr32(META(p) + 56, 0xfffffff0))
CORRUPT(c_host_name_ref, wr32(rec(p, S_HOSTS, 24, 1) + 4, 0x10000))
CORRUPT(c_host_kind, wr32(rec(p, S_HOSTS, 24, 1) + 16, 3))
CORRUPT(c_host_kind_any, wr32(rec(p, S_HOSTS, 24, 1) + 16, 2))
CORRUPT(c_host_paths_range, wr32(rec(p, S_HOSTS, 24, 2) + 12, 9))
CORRUPT(c_host_paths_gap, wr32(rec(p, S_HOSTS, 24, 2) + 8, 3))
CORRUPT(c_host_reserved, wr32(rec(p, S_HOSTS, 24, 0) + 20, 1))
CORRUPT(c_path_ref, wr32(rec(p, S_PATHS, PATH_SIZE, 0) + 0, 0xffffff00))
CORRUPT(c_path_source_ref, wr32(rec(p, S_PATHS, PATH_SIZE, 0) + 12, 0xffff))
CORRUPT(c_path_empty, wr32(rec(p, S_PATHS, PATH_SIZE, 0) + 4, 0))
CORRUPT(c_path_type, wr32(rec(p, S_PATHS, PATH_SIZE, 1) + 16, 2))
CORRUPT(c_path_backend, wr32(rec(p, S_PATHS, PATH_SIZE, 1) + 20, 1))
CORRUPT(c_path_order, wr32(rec(p, S_PATHS, PATH_SIZE, 3) + 16, 0))
CORRUPT(c_index_slot_range, {
	uint8_t *e = sect_entry(p, S_INDEX);
	uint32_t i;
	for (i = 0; i < rd32(e + 4); i++)
		if (rd32(p + rd32(e + 8) + i * 4) != 0xffffffff)
			wr32(p + rd32(e + 8) + i * 4, 7);
})
CORRUPT(c_index_slot_any, {
	uint8_t *e = sect_entry(p, S_INDEX);
	uint32_t i;
	for (i = 0; i < rd32(e + 4); i++)
		if (rd32(p + rd32(e + 8) + i * 4) != 0xffffffff) {
			wr32(p + rd32(e + 8) + i * 4, 0);
			break;
		}
})
CORRUPT(c_index_slot_missing, {
	uint8_t *e = sect_entry(p, S_INDEX);
	uint32_t i;
	for (i = 0; i < rd32(e + 4); i++)
		if (rd32(p + rd32(e + 8) + i * 4) != 0xffffffff) {
			wr32(p + rd32(e + 8) + i * 4, 0xffffffff);
			break;
		}
})
CORRUPT(c_index_slot_moved, {
	/* Move every used slot one further: their chains break. */
	uint8_t *e = sect_entry(p, S_INDEX), *sl = p + rd32(e + 8);
	uint32_t n = rd32(e + 4), i, v[64];
	ck_assert_uint_le(n, 64);
	for (i = 0; i < n; i++)
		v[i] = rd32(sl + i * 4);
	for (i = 0; i < n; i++)
		wr32(sl + ((i + 1) % n) * 4, v[i]);
})
CORRUPT(c_index_slot_dup, {
	/* Host 1 twice, host 2 nowhere: the counts still agree. */
	uint8_t *e = sect_entry(p, S_INDEX), *sl = p + rd32(e + 8);
	uint32_t i;
	for (i = 0; i < rd32(e + 4); i++)
		if (rd32(sl + i * 4) == 2)
			wr32(sl + i * 4, 1);
})
CORRUPT(c_index_full, {
	uint8_t *e = sect_entry(p, S_INDEX), *sl = p + rd32(e + 8);
	uint32_t i;
	for (i = 0; i < rd32(e + 4); i++)
		wr32(sl + i * 4, 1);
})
CORRUPT(c_backend_name_ref, wr32(rec(p, S_BACKENDS, 96, 0) + 4, 0xfffff))
CORRUPT(c_backend_policy, wr32(rec(p, S_BACKENDS, 96, 0) + 16, 6))
CORRUPT(c_backend_timeout, wr32(rec(p, S_BACKENDS, 96, 0) + 20, 0))
CORRUPT(c_backend_eps_range, wr32(rec(p, S_BACKENDS, 96, 0) + 32, 3))
CORRUPT(c_backend_eps_first, wr32(rec(p, S_BACKENDS, 96, 0) + 28, 1))
CORRUPT(c_backend_eps_short, wr32(rec(p, S_BACKENDS, 96, 0) + 32, 1))
CORRUPT(c_backend_hc_mode, wr32(rec(p, S_BACKENDS, 96, 0) + 40, 2))
CORRUPT(c_backend_hc_interval, wr32(rec(p, S_BACKENDS, 96, 0) + 48, 0))
CORRUPT(c_backend_hc_rise, wr32(rec(p, S_BACKENDS, 96, 0) + 56, 0))
CORRUPT(c_backend_hc_expect, wr32(rec(p, S_BACKENDS, 96, 0) + 64, 600))
CORRUPT(c_backend_hc_path, wr32(rec(p, S_BACKENDS, 96, 0) + 84, 0))
CORRUPT(c_utls_count, wr32(sect_entry(p, S_UTLS) + 4, 0);
    wr32(sect_entry(p, S_UTLS) + 12, 0))
CORRUPT(c_utls_flags, wr32(rec(p, S_UTLS, 24, 0) + 0, 4))
CORRUPT(c_utls_verify_only, wr32(rec(p, S_UTLS, 24, 0) + 0, 2))
CORRUPT(c_utls_ca_range, wr32(rec(p, S_UTLS, 24, 0) + 4, 1))
CORRUPT(c_utls_ca_unverified, wr32(rec(p, S_UTLS, 24, 0) + 0, 1))
CORRUPT(c_utls_plain_ca, wr32(rec(p, S_UTLS, 24, 0) + 0, 0))
CORRUPT(c_utls_name_ref, wr32(rec(p, S_UTLS, 24, 0) + 8, 0xfffffff0))
CORRUPT(c_utls_name_chars, {
	uint8_t *r = rec(p, S_UTLS, 24, 0);
	p[rd32(sect_entry(p, S_STRINGS) + 8) + rd32(r + 8)] = '/';
})
CORRUPT(c_utls_reserved, wr32(rec(p, S_UTLS, 24, 0) + 20, 1))
CORRUPT(c_ca_ref, wr32(rec(p, S_CAS, 16, 0) + 4, 0xffffff))
CORRUPT(c_meta_tls_protocols, wr32(META(p) + 76, 4))
CORRUPT(c_meta_tls_cache, wr32(META(p) + 80, 2))
CORRUPT(c_meta_https_port, wr32(META(p) + 84, 65536))
CORRUPT(c_meta_ciphers_ref, wr32(META(p) + 88, 0xfffffff0);
    wr32(META(p) + 92, 4))
CORRUPT(c_meta_reserved, wr32(META(p) + 112, 1))
/* Certificates sorted: "" (0), "*.test" (1), "a.test" (2). */
CORRUPT(c_cert_reserved, wr32(rec(p, S_CERTS, CERT_SIZE, 1) + 20, 1))
CORRUPT(c_cert_kind, wr32(rec(p, S_CERTS, CERT_SIZE, 2) + 16, 1))
CORRUPT(c_cert_pem_empty, wr32(rec(p, S_CERTS, CERT_SIZE, 2) + 12, 0))
CORRUPT(c_cert_pem_ref, wr32(rec(p, S_CERTS, CERT_SIZE, 2) + 8,
    0xffffff00))
CORRUPT(c_cert_order, {
	uint8_t t[CERT_SIZE];
	memcpy(t, rec(p, S_CERTS, CERT_SIZE, 1), CERT_SIZE);
	memcpy(rec(p, S_CERTS, CERT_SIZE, 1), rec(p, S_CERTS, CERT_SIZE, 2),
	    CERT_SIZE);
	memcpy(rec(p, S_CERTS, CERT_SIZE, 2), t, CERT_SIZE);
})
CORRUPT(c_cert_dup, memcpy(rec(p, S_CERTS, CERT_SIZE, 2),
    rec(p, S_CERTS, CERT_SIZE, 1), CERT_SIZE))
CORRUPT(c_path_tls_flags, wr32(rec(p, S_PATHS, PATH_SIZE, 0) + 24, 8))
CORRUPT(c_meta_workers, wr32(META(p) + 64, 70000))
CORRUPT(c_meta_passive, wr32(META(p) + 68, 1001))
CORRUPT(c_endpoint_family, p[rd32(sect_entry(p, S_ENDPOINTS) + 8)] = 5)
CORRUPT(c_endpoint_v4_garbage,
    p[rd32(sect_entry(p, S_ENDPOINTS) + 8) + 8 + 15] = 1)

static const struct corruption corruptions[] = {
	{ "magic", c_magic, "magic" },
	{ "version", c_version, "format" },
	{ "header size", c_hdrsize, "header" },
	{ "section count", c_nsections, "header" },
	{ "flags", c_flags, "header" },
	{ "reserved", c_reserved, "reserved" },
	{ "total size", c_total, "header" },
	{ "section kind repeated", c_sect_kind_dup, "kind" },
	{ "section kind unknown", c_sect_kind_bad, "kind" },
	{ "section misaligned", c_sect_misaligned, "out of bounds" },
	{ "section out of bounds", c_sect_oob, "out of bounds" },
	{ "section over the header", c_sect_in_header, "out of bounds" },
	{ "section size", c_sect_size, "bad count" },
	{ "section count limit", c_sect_count_limit, "bad count" },
	{ "sections overlap", c_sect_overlap, "overlap" },
	{ "index not a power of two", c_index_not_pow2, "power of two" },
	{ "default backend range", c_default_backend, "default backend" },
	{ "default backend negative", c_default_backend_neg,
	    "default backend" },
	{ "host-less range", c_anyhost_range, "host-less" },
	{ "host-less named", c_anyhost_named, "host" },
	{ "default source", c_default_source, "default source" },
	{ "host name ref", c_host_name_ref, "host 1: bad record" },
	{ "host kind", c_host_kind, "bad kind" },
	{ "host kind any", c_host_kind_any, "bad kind" },
	{ "host paths range", c_host_paths_range, "path range" },
	{ "host paths gap", c_host_paths_gap, "path range" },
	{ "host reserved", c_host_reserved, "bad record" },
	{ "path ref", c_path_ref, "path 0: bad record" },
	{ "path source ref", c_path_source_ref, "path 0: bad record" },
	{ "path empty", c_path_empty, "path 0:" },
	{ "path type", c_path_type, "path 1: bad record" },
	{ "path backend", c_path_backend, "path 1: bad record" },
	{ "path order", c_path_order, "out of order" },
	{ "index slot range", c_index_slot_range, "out of range" },
	{ "index slot host-less", c_index_slot_any, "host-less" },
	{ "index slot missing", c_index_slot_missing, "slots used" },
	{ "index slot moved", c_index_slot_moved, "not in the host index" },
	{ "index slot duplicated", c_index_slot_dup, "host 2: not in" },
	{ "index full", c_index_full, "slots used" },
	{ "backend name ref", c_backend_name_ref, "backend 0: bad record" },
	{ "backend policy", c_backend_policy, "backend 0: bad record" },
	{ "backend timeout", c_backend_timeout, "backend 0: bad record" },
	{ "backend endpoints range", c_backend_eps_range, "endpoint range" },
	{ "backend endpoints first", c_backend_eps_first, "endpoint range" },
	{ "backend endpoints short", c_backend_eps_short,
	    "belong to no backend" },
	{ "backend health mode", c_backend_hc_mode, "backend 0: bad record" },
	{ "backend health interval", c_backend_hc_interval,
	    "backend 0: bad record" },
	{ "backend health rise", c_backend_hc_rise, "backend 0: bad record" },
	{ "backend health expect", c_backend_hc_expect,
	    "backend 0: bad record" },
	{ "backend health path", c_backend_hc_path, "backend 0: bad record" },
	{ "meta workers", c_meta_workers, "worker count" },
	{ "meta TLS protocols", c_meta_tls_protocols, "TLS settings" },
	{ "meta TLS cache", c_meta_tls_cache, "TLS settings" },
	{ "meta https port", c_meta_https_port, "TLS settings" },
	{ "meta ciphers ref", c_meta_ciphers_ref, "TLS settings" },
	{ "meta reserved", c_meta_reserved, "TLS settings" },
	{ "cert reserved", c_cert_reserved, "certificate 1: bad record" },
	{ "cert kind", c_cert_kind, "certificate 2: bad name" },
	{ "cert PEM empty", c_cert_pem_empty, "certificate 2: bad name" },
	{ "cert PEM ref", c_cert_pem_ref, "certificate 2: bad record" },
	{ "cert order", c_cert_order, "out of order" },
	{ "cert duplicate", c_cert_dup, "out of order" },
	{ "path TLS flags", c_path_tls_flags, "path 0: bad record" },
	{ "meta passive", c_meta_passive, "passive failures 1001" },
	{ "backend TLS count", c_utls_count, "backend TLS records" },
	{ "backend TLS flags", c_utls_flags, "backend 0: bad TLS record" },
	{ "backend TLS verify without TLS", c_utls_verify_only,
	    "backend 0: bad TLS record" },
	{ "backend TLS CA range", c_utls_ca_range,
	    "backend 0: bad TLS record" },
	{ "backend TLS CA without verify", c_utls_ca_unverified,
	    "backend 0: bad TLS record" },
	{ "backend TLS off with a CA", c_utls_plain_ca,
	    "backend 0: bad TLS record" },
	{ "backend TLS name ref", c_utls_name_ref,
	    "backend 0: bad TLS record" },
	{ "backend TLS name", c_utls_name_chars, "server name" },
	{ "backend TLS reserved", c_utls_reserved,
	    "backend 0: bad TLS record" },
	{ "CA ref", c_ca_ref, "CA bundle 0: bad record" },
	{ "endpoint family", c_endpoint_family, "family" },
	{ "endpoint v4 garbage", c_endpoint_v4_garbage, "garbage" },
};

START_TEST(test_corruption)
{
	const struct corruption *c = &corruptions[_i];
	struct snapshot s;
	uint8_t *blob;
	size_t len;

	blob = small_blob(&len);
	c->fn(blob);
	reseal(blob, len);
	errbuf[0] = '\0';
	ck_assert_msg(snapshot_open(&s, blob, len, errbuf, sizeof(errbuf)) ==
	    -1, "%s: accepted", c->name);
	ck_assert_msg(strstr(errbuf, c->want) != NULL,
	    "%s: reason \"%s\" lacks \"%s\"", c->name, errbuf, c->want);
	free(blob);
}
END_TEST

/* The layout facts this file relies on hold for the untouched blob. */
START_TEST(test_layout)
{
	struct snapshot s;
	uint8_t *blob;
	size_t len;

	blob = small_blob(&len);
	ck_assert_uint_eq(rd32(blob + H_HDRSIZE), HDR_SIZE);
	ck_assert_uint_eq(rd32(blob + H_TOTAL), len);
	ck_assert_uint_eq(rd32(blob + H_GENERATION), 42);
	ck_assert_uint_eq(rd32(blob + H_NSECTIONS), NSECTIONS);
	ck_assert_uint_eq(rd32(sect_entry(blob, S_HOSTS) + 4), 3);
	ck_assert_uint_eq(rd32(sect_entry(blob, S_PATHS) + 4), 4);
	ck_assert_uint_eq(rd32(sect_entry(blob, S_INDEX) + 4), 4);
	/* The checksum copy above agrees with the writer. */
	ck_assert_uint_eq(checksum(blob, len),
	    le64toh(*(uint64_t *)(void *)(blob + H_CHECKSUM)));
	reseal(blob, len);
	ck_assert_int_eq(snapshot_open(&s, blob, len, errbuf,
	    sizeof(errbuf)), 0);
	free(blob);
}
END_TEST

/* ---- the writer refuses bad tables ---- */

struct bad_table {
	const char	*name;
	void		(*fn)(struct route_table *);
	const char	*want;
};

/* Base for the bad tables: one backend, host "a" with "/" Prefix. */
static void
tb_base(struct route_table *rt)
{
	uint32_t h;

	tb_init(rt);
	tb_backend(rt, "b", 0, NULL, 0, 0);
	h = tb_host(rt, "a");
	tb_path(rt, h, "/", ROUTE_PATH_PREFIX, 0, "s");
}

static void b_dup_host(struct route_table *rt) { tb_host(rt, "a"); }
static void b_dup_host_case(struct route_table *rt) { tb_host(rt, "A"); }
static void b_two_any(struct route_table *rt)
{
	tb_host(rt, "");
	tb_host(rt, "");
}
static void b_dup_path(struct route_table *rt)
{
	tb_path(rt, 0, "/", ROUTE_PATH_PREFIX, 0, "t");
}
static void b_rel_path(struct route_table *rt)
{
	tb_path(rt, 0, "x", ROUTE_PATH_EXACT, 0, NULL);
}
static void b_empty_path(struct route_table *rt)
{
	tb_path(rt, 0, "", ROUTE_PATH_PREFIX, 0, NULL);
}
static void b_path_type(struct route_table *rt)
{
	tb_path(rt, 0, "/t", (enum route_path_type)7, 0, NULL);
}
static void b_path_backend(struct route_table *rt)
{
	tb_path(rt, 0, "/x", ROUTE_PATH_EXACT, 1, NULL);
}
static void b_default(struct route_table *rt) { rt->default_backend = 1; }
static void b_default_neg(struct route_table *rt) { rt->default_backend = -2; }
static void b_wild_middle(struct route_table *rt) { tb_host(rt, "a.*.com"); }
static void b_wild_bare(struct route_table *rt) { tb_host(rt, "*."); }
static void b_wild_noDot(struct route_table *rt) { tb_host(rt, "*a.com"); }
static void b_policy(struct route_table *rt) { rt->backends[0].policy = 6; }
static void b_cert_dup(struct route_table *rt)
{
	tb_cert(rt, "a.test", "X");
	tb_cert(rt, "a.test", "Y");
}
static void b_cert_upper(struct route_table *rt) { tb_cert(rt, "A.test", "X"); }
static void b_cert_wild(struct route_table *rt) { tb_cert(rt, "*a.test", "X"); }
static void b_cert_pem(struct route_table *rt) { tb_cert(rt, "a.test", ""); }
static void b_tls_flags(struct route_table *rt)
{
	rt->hosts[0].paths[0].tls_flags = 8;
}
static void b_tls_protocols(struct route_table *rt)
{
	rt->settings.tls_protocols = 4;
}
static void b_tls_ciphers(struct route_table *rt)
{
	memset(rt->settings.tls_ciphers, 'A', sizeof(rt->settings.tls_ciphers));
}
static void b_family(struct route_table *rt)
{
	tb_endpoint(rt, 0, "10.0.0.1", 1, 1);
	rt->backends[0].endpoints[0].addr.ss_family = AF_UNIX;
}
static void b_null_host(struct route_table *rt)
{
	free(rt->hosts[0].host);
	rt->hosts[0].host = NULL;
}
static void b_many_hosts(struct route_table *rt)
{
	rt->nhosts = SNAPSHOT_MAX_HOSTS + 1;
}
static void b_many_paths(struct route_table *rt)
{
	rt->hosts[0].npaths = SNAPSHOT_MAX_PATHS + 1;
}
static void b_huge_paths(struct route_table *rt)
{
	tb_host(rt, "b");
	rt->hosts[0].npaths = SIZE_MAX;
	rt->hosts[1].npaths = 5;
}
static void b_many_backends(struct route_table *rt)
{
	rt->nbackends = SNAPSHOT_MAX_BACKENDS + 1;
}
static void b_many_endpoints(struct route_table *rt)
{
	rt->backends[0].nendpoints = SNAPSHOT_MAX_ENDPOINTS + 1;
}
static void b_tls_ca(struct route_table *rt) { tb_tls(rt, 0, 0, "x.svc"); }
static void b_tls_name(struct route_table *rt)
{
	tb_tls(rt, 0, tb_ca(rt, "pem", 0), "a/b");
}
static void b_tls_ca_size(struct route_table *rt)
{
	tb_tls(rt, 0, tb_ca(rt, "pem", 0), NULL);
	rt->cas[0].len = SNAPSHOT_MAX_CA_SIZE + 1;
}

static const struct bad_table bad_tables[] = {
	{ "duplicate host", b_dup_host, "appears twice" },
	{ "duplicate host, case", b_dup_host_case, "appears twice" },
	{ "two host-less entries", b_two_any, "without a host" },
	{ "duplicate path", b_dup_path, "appears twice" },
	{ "relative path", b_rel_path, "start with '/'" },
	{ "empty path", b_empty_path, "start with '/'" },
	{ "path type", b_path_type, "unknown type" },
	{ "path backend", b_path_backend, "out of range" },
	{ "default backend", b_default, "default backend" },
	{ "default backend negative", b_default_neg, "default backend" },
	{ "wildcard in the middle", b_wild_middle, "wildcard" },
	{ "bare wildcard", b_wild_bare, "wildcard" },
	{ "wildcard without dot", b_wild_noDot, "wildcard" },
	{ "policy", b_policy, "policy" },
	{ "duplicate certificate", b_cert_dup, "appears twice" },
	{ "certificate name case", b_cert_upper, "bad name" },
	{ "certificate bad wildcard", b_cert_wild, "bad name" },
	{ "certificate empty PEM", b_cert_pem, "PEM empty" },
	{ "path TLS flags", b_tls_flags, "TLS flags" },
	{ "TLS protocols", b_tls_protocols, "TLS settings" },
	{ "TLS ciphers unterminated", b_tls_ciphers, "TLS settings" },
	{ "address family", b_family, "family" },
	{ "host without name", b_null_host, "no name" },
	{ "too many hosts", b_many_hosts, "limits" },
	{ "too many paths", b_many_paths, "limits" },
	{ "path count overflow", b_huge_paths, "limits" },
	{ "too many backends", b_many_backends, "limits" },
	{ "too many endpoints", b_many_endpoints, "limits" },
	{ "TLS CA out of range", b_tls_ca, "bad TLS settings" },
	{ "TLS server name", b_tls_name, "bad TLS settings" },
	{ "TLS CA too large", b_tls_ca_size, "CA bundle 0" },
};

START_TEST(test_encode_rejects)
{
	const struct bad_table *t = &bad_tables[_i];
	struct route_table rt;
	size_t nhosts, nbackends, npaths, neps;
	void *blob = (void *)1;
	size_t len = 1;

	tb_base(&rt);
	t->fn(&rt);
	errbuf[0] = '\0';
	ck_assert_msg(snapshot_encode(&rt, 1, &blob, &len, errbuf,
	    sizeof(errbuf)) == -1, "%s: accepted", t->name);
	ck_assert_ptr_null(blob);
	ck_assert_uint_eq(len, 0);
	ck_assert_msg(strstr(errbuf, t->want) != NULL,
	    "%s: reason \"%s\" lacks \"%s\"", t->name, errbuf, t->want);
	/* Undo the fake counts before freeing. */
	nhosts = rt.nhosts > 8 ? 1 : rt.nhosts;
	nbackends = rt.nbackends > 8 ? 1 : rt.nbackends;
	rt.nhosts = nhosts;
	rt.nbackends = nbackends;
	npaths = rt.hosts[0].npaths > 8 ? 1 : rt.hosts[0].npaths;
	rt.hosts[0].npaths = npaths;
	if (rt.nhosts > 1 && rt.hosts[1].npaths > 8)
		rt.hosts[1].npaths = 0;
	neps = rt.backends[0].nendpoints > 8 ? 0 : rt.backends[0].nendpoints;
	rt.backends[0].nendpoints = neps;
	route_table_free(&rt);
}
END_TEST

/* Same path with two types, and "/a" next to "/a/": both fine. */
START_TEST(test_encode_accepts)
{
	struct route_table rt;
	struct snapshot s;
	void *blob;
	size_t len;

	tb_base(&rt);
	tb_path(&rt, 0, "/", ROUTE_PATH_EXACT, 0, NULL);
	tb_path(&rt, 0, "/a", ROUTE_PATH_PREFIX, 0, NULL);
	tb_path(&rt, 0, "/a/", ROUTE_PATH_PREFIX, 0, NULL);
	tb_path(&rt, 0, "/a//", ROUTE_PATH_PREFIX, 0, NULL);
	tb_path(&rt, 0, "/ab", ROUTE_PATH_PREFIX, 0, NULL);
	blob = encode_ok(&rt, 1, &len);
	ck_assert_msg(snapshot_open(&s, blob, len, errbuf, sizeof(errbuf)) ==
	    0, "%s", errbuf);
	ck_assert_uint_eq(s.npaths, 6);
	free(blob);
	route_table_free(&rt);
}
END_TEST

/* ---- route_table_free ---- */

START_TEST(test_free_partial)
{
	struct route_table rt;

	tb_init(&rt);
	route_table_free(&rt);
	route_table_free(NULL);

	/* Hosts without names or paths, backends without endpoints. */
	tb_rich(&rt);
	free(rt.hosts[0].host);
	rt.hosts[0].host = NULL;
	free(rt.hosts[1].paths[0].path);
	rt.hosts[1].paths[0].path = NULL;
	free(rt.hosts[2].paths[0].source);
	free(rt.hosts[2].paths[0].path);
	free(rt.hosts[2].paths);
	rt.hosts[2].paths = NULL;	/* npaths still 1 */
	free(rt.backends[0].endpoints);
	rt.backends[0].endpoints = NULL;
	route_table_free(&rt);
	ck_assert_ptr_null(rt.hosts);
	ck_assert_ptr_null(rt.backends);
	ck_assert_ptr_null(rt.default_source);
	ck_assert_uint_eq(rt.nhosts, 0);
	route_table_free(&rt);		/* twice is harmless */

	tb_init(&rt);
	rt.nhosts = 3;			/* counts without arrays */
	rt.nbackends = 2;
	route_table_free(&rt);
}
END_TEST

/* ---- seed corpus for tests/fuzz/fuzz_snapshot.c ---- */

static void
write_corpus(const char *dir, const char *name, const void *blob,
    size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "wb"));
	ck_assert_uint_eq(fwrite(blob, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_corpus)
{
	struct route_table rt;
	const char *dir;
	void *blob;
	size_t len;

	tb_rich(&rt);
	blob = encode_ok(&rt, 3, &len);
	if ((dir = getenv("SNAPSHOT_WRITE_CORPUS")) != NULL)
		write_corpus(dir, "rich.snap", blob, len);
	free(blob);
	route_table_free(&rt);

	blob = small_blob(&len);
	if (dir != NULL)
		write_corpus(dir, "small.snap", blob, len);
	free(blob);

	tb_init(&rt);
	blob = encode_ok(&rt, 0, &len);
	if (dir != NULL)
		write_corpus(dir, "empty.snap", blob, len);
	free(blob);
}
END_TEST

static Suite *
snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc;

	tc = tcase_create("round trip");
	tcase_add_test(tc, test_round_trip);
	tcase_add_loop_test(tc, test_alignment, 0, 8);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_empty_table);
	tcase_add_test(tc, test_timeout_defaults);
	tcase_add_test(tc, test_corpus);
	tcase_add_test(tc, test_certs);
	tcase_add_test(tc, test_certs_share_pem);
	suite_add_tcase(s, tc);

	tc = tcase_create("open rejects");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_byte_flips);
	tcase_add_test(tc, test_byte_flips_resealed);
	tcase_add_test(tc, test_truncation);
	tcase_add_loop_test(tc, test_corruption, 0,
	    (int)UTIL_NELEM(corruptions));
	suite_add_tcase(s, tc);

	tc = tcase_create("encode rejects");
	tcase_add_loop_test(tc, test_encode_rejects, 0,
	    (int)UTIL_NELEM(bad_tables));
	tcase_add_test(tc, test_encode_accepts);
	tcase_add_test(tc, test_free_partial);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(snapshot_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
