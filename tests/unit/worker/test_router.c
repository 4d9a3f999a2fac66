/*
 * Unit tests for worker/router.c: the path-matching examples of the
 * Kubernetes Ingress documentation, host selection (case, port, IPv6
 * literals, one-label wildcards, host-less rules, default backend, no
 * route) and a 10,000-host table.  Tables are built by hand, encoded,
 * opened and routed, as a worker would.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/router.h"
#include "tests/unit/route_table_builder.h"

#define E	ROUTE_PATH_EXACT
#define P	ROUTE_PATH_PREFIX

static char errbuf[256];


static uint32_t
tb_backend(struct route_table *rt, const char *name)
{
	struct route_backend *b;

	rt->backends = realloc(rt->backends,
	    (rt->nbackends + 1) * sizeof(*rt->backends));
	ck_assert_ptr_nonnull(rt->backends);
	b = &rt->backends[rt->nbackends];
	memset(b, 0, sizeof(*b));
	b->name = strdup(name);
	return (uint32_t)rt->nbackends++;
}



/* Encodes and opens <rt>; the blob is returned for the caller to free. */
static void *
tb_open(const struct route_table *rt, struct snapshot *s)
{
	void *blob;
	size_t len;

	ck_assert_msg(snapshot_encode(rt, 1, &blob, &len, errbuf,
	    sizeof(errbuf)) == 0, "encode: %s", errbuf);
	ck_assert_msg(snapshot_open(s, blob, len, errbuf, sizeof(errbuf)) ==
	    0, "open: %s", errbuf);
	return blob;
}

/* Routes and returns the backend's name, or NULL for no route. */
static const char *
route(const struct snapshot *s, const char *host, const char *path,
    struct router_match *m)
{
	static char name[128];
	struct snapshot_backend sb;

	memset(m, 0, sizeof(*m));
	if (router_match(s, host, host ? strlen(host) : 0, path,
	    path ? strlen(path) : 0, m) != ROUTER_OK)
		return NULL;
	ck_assert_uint_lt(m->backend, s->nbackends);
	snapshot_backend(s, m->backend, &sb);
	snprintf(name, sizeof(name), "%.*s", (int)sb.namelen, sb.name);
	return name;
}

/* ---- path matching: the Ingress documentation's examples ---- */

struct rule {
	int		 type;
	const char	*path;
};

static const struct path_case {
	struct rule	 rules[4];	/* ends at path == NULL */
	const char	*req;
	int		 want;		/* rule index, -1: none */
} path_cases[] = {
	/* Kind | Path(s) | Request path(s) | Matches? */
	{ { { P, "/" } }, "/", 0 },
	{ { { P, "/" } }, "/anything/at/all", 0 },
	{ { { P, "/" } }, "/foo", 0 },
	{ { { E, "/foo" } }, "/foo", 0 },
	{ { { E, "/foo" } }, "/bar", -1 },
	{ { { E, "/foo" } }, "/foo/", -1 },
	{ { { E, "/foo/" } }, "/foo", -1 },
	{ { { E, "/foo/" } }, "/foo/", 0 },
	{ { { P, "/foo" } }, "/foo", 0 },
	{ { { P, "/foo" } }, "/foo/", 0 },
	{ { { P, "/foo" } }, "/foobar", -1 },
	{ { { P, "/foo" } }, "/fo", -1 },
	{ { { P, "/foo/" } }, "/foo", 0 },
	{ { { P, "/foo/" } }, "/foo/", 0 },
	{ { { P, "/foo/" } }, "/foo/x", 0 },
	{ { { P, "/foo/" } }, "/foox", -1 },
	{ { { P, "/aaa/bb" } }, "/aaa/bbb", -1 },
	{ { { P, "/aaa/bbb" } }, "/aaa/bbb", 0 },
	{ { { P, "/aaa/bbb/" } }, "/aaa/bbb", 0 },
	{ { { P, "/aaa/bbb" } }, "/aaa/bbb/", 0 },
	{ { { P, "/aaa/bbb" } }, "/aaa/bbb/ccc", 0 },
	{ { { P, "/aaa/bbb" } }, "/aaa/bbbxyz", -1 },
	{ { { P, "/" }, { P, "/aaa" } }, "/aaa/ccc", 1 },
	{ { { P, "/" }, { P, "/aaa" }, { P, "/aaa/bbb" } }, "/aaa/bbb", 2 },
	{ { { P, "/" }, { P, "/aaa" }, { P, "/aaa/bbb" } }, "/ccc", 0 },
	{ { { P, "/" }, { P, "/aaa" } }, "/ccc", 0 },
	{ { { P, "/aaa" } }, "/ccc", -1 },
	{ { { P, "/foo" }, { E, "/foo" } }, "/foo", 1 },
	{ { { E, "/foo" }, { P, "/foo" } }, "/foo", 0 },
	{ { { E, "/foo" }, { P, "/foo" } }, "/foo/", 1 },
	/* Beyond the documentation's table. */
	{ { { P, "/a" }, { P, "/a/b/c" }, { P, "/a/b" }, { P, "/" } },
	    "/a/b/c/d", 1 },
	{ { { P, "/a" }, { P, "/a/b/c" }, { P, "/a/b" }, { P, "/" } },
	    "/a/b/cd", 2 },
	{ { { P, "/a" }, { P, "/a/b/c" }, { P, "/a/b" }, { P, "/" } },
	    "/a/bc", 0 },
	{ { { P, "/a//" }, { P, "/a/b" } }, "/a/bc", 0 },
	{ { { E, "/a" }, { E, "/b" }, { E, "/c" } }, "/c", 2 },
	{ { { E, "/foo" } }, "/foo?x=1", 0 },
	{ { { P, "/foo" } }, "/foo?/bar", 0 },
	{ { { P, "/foo" } }, "/FOO", -1 },		/* bytewise */
	{ { { P, "/a%2Fb" } }, "/a%2Fb/c", 0 },		/* not decoded */
	{ { { P, "/a/b" } }, "/a%2Fb", -1 },
	{ { { P, "/" } }, "", 0 },
	{ { { P, "/x" } }, "", -1 },
	{ { { E, "/" } }, "/", 0 },
	{ { { E, "/" } }, "/a", -1 },
};

START_TEST(test_paths)
{
	const struct path_case *c = &path_cases[_i];
	const char *hosts[] = { "", "example.com" };
	struct route_table rt;
	struct router_match m;
	struct snapshot s;
	const char *got;
	char want[16];
	void *blob;
	size_t i, hi;
	uint32_t h;

	/* The same rules under the host-less entry and under a host. */
	for (hi = 0; hi < UTIL_NELEM(hosts); hi++) {
		tb_init(&rt);
		h = tb_host(&rt, hosts[hi]);
		for (i = 0; i < 4 && c->rules[i].path != NULL; i++) {
			snprintf(want, sizeof(want), "rule%zu", i);
			tb_path(&rt, h, c->rules[i].path, c->rules[i].type,
			    tb_backend(&rt, want), "ns/ing");
		}
		blob = tb_open(&rt, &s);
		got = route(&s, "example.com", c->req, &m);
		if (c->want < 0) {
			ck_assert_msg(got == NULL, "case %d (%s): \"%s\" "
			    "routed to %s", _i, hosts[hi], c->req, got);
		} else {
			snprintf(want, sizeof(want), "rule%d", c->want);
			ck_assert_msg(got != NULL && strcmp(got, want) == 0,
			    "case %d (%s): \"%s\" routed to %s, want %s", _i,
			    hosts[hi], c->req, got ? got : "nothing", want);
			ck_assert_uint_eq(m.rule_pathlen,
			    strlen(c->rules[c->want].path));
			ck_assert_mem_eq(m.rule_path, c->rules[c->want].path,
			    m.rule_pathlen);
			ck_assert_uint_eq(m.sourcelen, 6);
			ck_assert_mem_eq(m.source, "ns/ing", 6);
		}
		free(blob);
		route_table_free(&rt);
	}
}
END_TEST

/* ---- hosts ---- */

/*
 * foo.bar.com, *.bar.com, [::1], only-api.com (just /api), the host-less
 * rules, and a default backend; <with_fallbacks> 0 leaves out the last two.
 */
static void
tb_hosts(struct route_table *rt, int with_fallbacks)
{
	uint32_t h;

	tb_init(rt);
	h = tb_host(rt, "foo.bar.com");
	tb_path(rt, h, "/", P, tb_backend(rt, "foo"), "ns/foo");
	h = tb_host(rt, "*.bar.com");
	tb_path(rt, h, "/", P, tb_backend(rt, "wild"), "ns/wild");
	h = tb_host(rt, "[::1]");
	tb_path(rt, h, "/", P, tb_backend(rt, "v6"), "ns/v6");
	h = tb_host(rt, "only-api.com");
	tb_path(rt, h, "/api", P, tb_backend(rt, "api"), "ns/api");
	h = tb_host(rt, "*.deep.only-api.com");
	tb_path(rt, h, "/", P, tb_backend(rt, "deep"), "ns/deep");
	h = tb_host(rt, "10.1.2.3");
	tb_path(rt, h, "/", P, tb_backend(rt, "ip"), "ns/ip");
	if (!with_fallbacks)
		return;
	h = tb_host(rt, "");
	tb_path(rt, h, "/", P, tb_backend(rt, "any"), "ns/any");
	tb_path(rt, h, "/exact", E, tb_backend(rt, "any-exact"),
	    "ns/any-exact");
	rt->default_backend = (int32_t)tb_backend(rt, "default");
	rt->default_source = strdup("ns/default");
}

static const struct host_case {
	const char	*host;
	const char	*path;
	const char	*want;		/* with fallbacks; NULL: none */
	const char	*want_bare;	/* without them */
} host_cases[] = {
	{ "foo.bar.com", "/", "foo", "foo" },
	{ "FOO.Bar.COM", "/x", "foo", "foo" },
	{ "foo.bar.com:8080", "/", "foo", "foo" },
	{ "foo.bar.com:", "/", "foo", "foo" },
	{ "foo.bar.com.", "/", "foo", "foo" },
	{ "foo.bar.com.:80", "/", "foo", "foo" },
	{ "foo.bar.co", "/", "any", NULL },
	{ "oo.bar.com", "/", "wild", "wild" },		/* wildcard */
	{ "BAZ.bar.com:443", "/", "wild", "wild" },
	{ "a.b.bar.com", "/", "any", NULL },		/* one label only */
	{ "bar.com", "/", "any", NULL },		/* not the parent */
	{ ".bar.com", "/", "any", NULL },		/* empty label */
	{ "*.bar.com", "/", "wild", "wild" },
	{ "x.deep.only-api.com", "/q", "deep", "deep" },
	{ "deep.only-api.com", "/q", "any", NULL },
	{ "[::1]", "/", "v6", "v6" },
	{ "[::1]:8443", "/", "v6", "v6" },
	{ "[::1", "/", "any", NULL },
	{ "[::2]:80", "/", "any", NULL },
	{ "::1", "/", "any", NULL },
	{ "10.1.2.3:80", "/", "ip", "ip" },
	{ "1.2.3", "/", "any", NULL },
	{ "only-api.com", "/api/v1", "api", "api" },
	/* The host matched: no fall back to the host-less rules. */
	{ "only-api.com", "/other", "default", NULL },
	{ "only-api.com", "/exact", "default", NULL },
	{ "unknown.org", "/exact", "any-exact", NULL },
	{ "unknown.org", "/exact/", "any", NULL },
	{ "", "/", "any", NULL },
	{ NULL, "/", "any", NULL },
	{ ":80", "/", "any", NULL },
	{ ".", "/", "any", NULL },
	{ "foo.bar.com", NULL, "foo", "foo" },
};

START_TEST(test_hosts)
{
	const struct host_case *c = &host_cases[_i];
	struct route_table rt;
	struct router_match m;
	struct snapshot s;
	const char *got, *want;
	void *blob;
	int fb;

	for (fb = 0; fb <= 1; fb++) {
		want = fb ? c->want : c->want_bare;
		tb_hosts(&rt, fb);
		blob = tb_open(&rt, &s);
		got = route(&s, c->host, c->path, &m);
		if (want == NULL)
			ck_assert_msg(got == NULL, "\"%s\" \"%s\" (fallbacks "
			    "%d): routed to %s", c->host, c->path, fb, got);
		else
			ck_assert_msg(got != NULL && strcmp(got, want) == 0,
			    "\"%s\" \"%s\" (fallbacks %d): routed to %s, want "
			    "%s", c->host, c->path, fb, got ? got : "nothing",
			    want);
		if (got != NULL && strcmp(got, "default") == 0) {
			ck_assert_ptr_null(m.rule_path);
			ck_assert_uint_eq(m.sourcelen, 10);
			ck_assert_mem_eq(m.source, "ns/default", 10);
		} else if (got != NULL) {
			ck_assert_uint_eq(m.sourcelen, strlen(got) + 3);
			ck_assert_mem_eq(m.source + 3, got, m.sourcelen - 3);
		}
		free(blob);
		route_table_free(&rt);
	}
}
END_TEST

/* The Host header is counted: bytes past hostlen are not looked at. */
START_TEST(test_counted)
{
	struct route_table rt;
	struct router_match m;
	struct snapshot s;
	struct snapshot_backend sb;
	void *blob;

	tb_hosts(&rt, 1);
	blob = tb_open(&rt, &s);
	ck_assert_int_eq(router_match(&s, "foo.bar.comXYZ", 11, "/apiZ", 1,
	    &m), ROUTER_OK);
	snapshot_backend(&s, m.backend, &sb);
	ck_assert_uint_eq(sb.namelen, 3);
	ck_assert_mem_eq(sb.name, "foo", 3);
	ck_assert_int_eq(router_match(&s, "only-api.com!", 12, "/api/x", 4,
	    &m), ROUTER_OK);
	snapshot_backend(&s, m.backend, &sb);
	ck_assert_mem_eq(sb.name, "api", 3);
	free(blob);
	route_table_free(&rt);
}
END_TEST

/* A default backend with no rules at all; an empty table. */
START_TEST(test_default_only)
{
	struct route_table rt;
	struct router_match m;
	struct snapshot s;
	void *blob;

	tb_init(&rt);
	rt.default_backend = (int32_t)tb_backend(&rt, "dflt");
	blob = tb_open(&rt, &s);
	ck_assert_str_eq(route(&s, "a.com", "/", &m), "dflt");
	ck_assert_uint_eq(m.sourcelen, 0);
	ck_assert_ptr_nonnull(m.source);
	free(blob);
	route_table_free(&rt);

	tb_init(&rt);
	blob = tb_open(&rt, &s);
	ck_assert_ptr_null(route(&s, "a.com", "/", &m));
	ck_assert_ptr_null(route(&s, NULL, NULL, &m));
	free(blob);
	route_table_free(&rt);
}
END_TEST

/* ---- scale ---- */

#define NHOSTS	10000

START_TEST(test_many_hosts)
{
	struct route_table rt;
	struct router_match m;
	struct snapshot s;
	char name[64], path[64], want[64];
	const char *got;
	void *blob;
	uint32_t i, h;

	tb_init(&rt);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "svc%u", i);
		tb_backend(&rt, name);
	}
	for (i = 0; i < NHOSTS; i++) {
		snprintf(name, sizeof(name), "h%u.example.com", i);
		h = tb_host(&rt, name);
		tb_path(&rt, h, "/", P, i % 100, NULL);
		snprintf(path, sizeof(path), "/only/%u", i);
		tb_path(&rt, h, path, E, (i + 1) % 100, NULL);
		if (i % 100 == 0) {
			snprintf(name, sizeof(name), "*.w%u.example.com", i);
			h = tb_host(&rt, name);
			tb_path(&rt, h, "/", P, (i + 2) % 100, NULL);
		}
	}
	rt.default_backend = 99;
	blob = tb_open(&rt, &s);
	ck_assert_uint_eq(s.nhosts, NHOSTS + NHOSTS / 100);
	for (i = 0; i < NHOSTS; i++) {
		snprintf(name, sizeof(name), "H%u.Example.com:80", i);
		snprintf(path, sizeof(path), "/only/%u", i);
		snprintf(want, sizeof(want), "svc%u", (i + 1) % 100);
		got = route(&s, name, path, &m);
		ck_assert_msg(got && strcmp(got, want) == 0, "%s%s: %s", name,
		    path, got ? got : "nothing");
		snprintf(want, sizeof(want), "svc%u", i % 100);
		ck_assert_str_eq(route(&s, name, "/x", &m), want);
		snprintf(name, sizeof(name), "x.w%u.example.com", i);
		snprintf(want, sizeof(want), "svc%u",
		    i % 100 == 0 ? (i + 2) % 100 : 99);
		ck_assert_str_eq(route(&s, name, "/", &m), want);
	}
	ck_assert_str_eq(route(&s, "h10000.example.com", "/", &m), "svc99");
	free(blob);
	route_table_free(&rt);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc;

	tc = tcase_create("paths");
	tcase_add_loop_test(tc, test_paths, 0, (int)UTIL_NELEM(path_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("hosts");
	tcase_add_loop_test(tc, test_hosts, 0, (int)UTIL_NELEM(host_cases));
	tcase_add_test(tc, test_counted);
	tcase_add_test(tc, test_default_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_many_hosts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(router_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
