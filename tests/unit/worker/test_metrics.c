/*
 * test_metrics: unit tests for worker/metrics.c: counters follow names
 * across snapshots whose indexes differ, requests in flight on the
 * previous snapshot still find their rows, and the report that reaches
 * the master (a sealed memfd over a socketpair) says so.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/ipc_queue.h"
#include "common/mreport.h"
#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/metrics.h"
#include "tests/unit/route_table_builder.h"

static char errbuf[256];

static uint32_t
tb_backend(struct route_table *rt, const char *name, uint16_t port)
{
	struct route_backend *b;

	rt->backends = realloc(rt->backends,
	    (rt->nbackends + 1) * sizeof(*rt->backends));
	ck_assert_ptr_nonnull(rt->backends);
	b = &rt->backends[rt->nbackends];
	memset(b, 0, sizeof(*b));
	b->name = strdup(name);
	b->endpoints = calloc(1, sizeof(*b->endpoints));
	ck_assert_ptr_nonnull(b->endpoints);
	ck_assert_int_eq(util_make_sockaddr("127.0.0.1", port,
	    &b->endpoints[0].addr, &b->endpoints[0].addrlen), 0);
	b->endpoints[0].weight = 1;
	b->nendpoints = 1;
	return (uint32_t)rt->nbackends++;
}

/* Generation <gen>: a.test -> web, b.test -> api, in <flip>ped order. */
static void *
open_gen(uint64_t gen, int flip, struct snapshot *s)
{
	struct route_table rt;
	uint32_t web, api, ha, hb;
	void *blob;
	size_t len;

	tb_init(&rt);
	if (!flip) {
		web = tb_backend(&rt, "default/web:80", 8080);
		api = tb_backend(&rt, "default/api:80", 8081);
		ha = tb_host(&rt, "a.test");
		hb = tb_host(&rt, "b.test");
	} else {
		api = tb_backend(&rt, "default/api:80", 8081);
		web = tb_backend(&rt, "default/web:80", 8080);
		hb = tb_host(&rt, "b.test");
		ha = tb_host(&rt, "a.test");
	}
	tb_path(&rt, ha, "/", ROUTE_PATH_PREFIX, web, "default/a");
	tb_path(&rt, hb, "/", ROUTE_PATH_PREFIX, api, "default/b");
	ck_assert_msg(snapshot_encode(&rt, gen, &blob, &len, errbuf,
	    sizeof(errbuf)) == 0, "encode: %s", errbuf);
	ck_assert_msg(snapshot_open(s, blob, len, errbuf, sizeof(errbuf)) ==
	    0, "open: %s", errbuf);
	route_table_free(&rt);
	return blob;
}

/* Index of host <name> / backend <name> in <s>. */
static int32_t
host_of(const struct snapshot *s, const char *name)
{
	return snapshot_host_find(s, name, strlen(name), 0);
}

static uint32_t
backend_of(const struct snapshot *s, const char *name)
{
	struct snapshot_backend b;
	uint32_t i;

	for (i = 0; i < s->nbackends; i++) {
		snapshot_backend(s, i, &b);
		if (b.namelen == strlen(name) && memcmp(b.name, name,
		    b.namelen) == 0)
			return i;
	}
	ck_abort_msg("no backend %s", name);
	return 0;
}

static void
request(const struct snapshot *s, const char *host, const char *backend,
    int status, uint32_t ep)
{
	struct metrics_req r;

	metrics_req_begin(&r, 100.0);
	r.host = host != NULL ? host_of(s, host) : -1;
	r.backend = backend != NULL ? backend_of(s, backend) : METRICS_NONE;
	r.status = status;
	r.t_resp = 100.02;
	metrics_request_done(s, &r, ep, 100.03);
}

/* What the master would receive. */
static void
receive(int sock, struct mreport *out)
{
	static struct ipc_msg m;
	struct ipc_reader rd;
	uint64_t size;
	void *map;
	char err[128];

	ck_assert_int_eq(ipc_recv(sock, IPC_PEER_MASTER, &m), IPC_RECV_OK);
	ck_assert_int_eq(m.hdr.type, IPC_METRICS);
	ck_assert_int_ne(m.fd, -1);
	ipc_reader_init(&rd, &m);
	size = ipc_get_u64(&rd);
	ck_assert_int_eq(ipc_end(&rd), 0);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, m.fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_msg(mreport_decode(map, size, out, err, sizeof(err)) == 0,
	    "decode: %s", err);
	munmap(map, size);
	close(m.fd);
}

static const struct mreport_host *
rhost(const struct mreport *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (strcmp(r->hosts[i].name, name) == 0)
			return &r->hosts[i];
	ck_abort_msg("no host %s in the report", name);
	return NULL;
}

static const struct mreport_backend *
rbackend(const struct mreport *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nbackends; i++)
		if (strcmp(r->backends[i].name, name) == 0)
			return &r->backends[i];
	ck_abort_msg("no backend %s in the report", name);
	return NULL;
}

START_TEST(test_across_snapshots)
{
	struct snapshot s1, s2, s3;
	void *b1, *b2, *b3;
	struct mreport r;
	const struct mreport_backend *web;
	size_t i;
	struct ipc_queue q;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	b1 = open_gen(1, 0, &s1);
	metrics_snapshot(&s1);
	request(&s1, "a.test", "default/web:80", 200, 0);
	request(&s1, "b.test", "default/api:80", 503, METRICS_NONE);
	request(&s1, NULL, NULL, 404, METRICS_NONE);	/* no route */
	metrics_connect_error(&s1, backend_of(&s1, "default/web:80"), 0);
	metrics_retry(&s1, backend_of(&s1, "default/web:80"));

	/* Generation 2 has every index swapped. */
	b2 = open_gen(2, 1, &s2);
	metrics_snapshot(&s2);
	request(&s2, "a.test", "default/web:80", 404, 0);
	/* Still in flight on generation 1. */
	request(&s1, "a.test", "default/web:80", 200, 0);
	/* Generation 3 was never mapped: only the totals count it. */
	b3 = open_gen(3, 0, &s3);
	request(&s3, "a.test", "default/web:80", 200, 0);

	/* No loop: an empty queue sends at once. */
	ipc_queue_init(&q, NULL, sv[0], 0, 0);
	ck_assert_int_eq(metrics_send(&q, 5, 2), 0);
	ck_assert_uint_eq(q.count, 0);
	receive(sv[1], &r);
	ck_assert_int_eq(r.conns_active, 5);
	ck_assert_int_eq(r.conns_idle, 2);
	ck_assert_int_eq(r.requests, 6);
	ck_assert_int_eq(r.connect_errors, 1);
	ck_assert_int_eq(r.retries, 1);
	ck_assert_int_eq(rhost(&r, "a.test")->classes[1], 2);
	ck_assert_int_eq(rhost(&r, "a.test")->classes[3], 1);
	ck_assert_int_eq(rhost(&r, "b.test")->classes[4], 1);
	ck_assert_int_eq(rhost(&r, "*")->classes[3], 1);
	web = rbackend(&r, "default/web:80");
	ck_assert_int_eq(web->classes[1], 2);
	ck_assert_int_eq(web->classes[3], 1);
	ck_assert_int_eq(web->connect_errors, 1);
	ck_assert_int_eq(web->retries, 1);
	ck_assert_int_eq(rbackend(&r, "default/api:80")->classes[4], 1);
	ck_assert_int_eq(r.nendpoints, 2);
	for (i = 0; i < r.nendpoints; i++) {
		const char *bn = r.backends[r.endpoints[i].backend].name;

		if (strcmp(bn, "default/web:80") == 0) {
			ck_assert_str_eq(r.endpoints[i].addr,
			    "127.0.0.1:8080");
			ck_assert_int_eq(r.endpoints[i].requests, 3);
			ck_assert_int_eq(r.endpoints[i].errors, 1);
		} else {
			ck_assert_str_eq(r.endpoints[i].addr,
			    "127.0.0.1:8081");
			ck_assert_int_eq(r.endpoints[i].requests, 0);
		}
	}
	/* Every request took 30 ms, 20 ms of it to the response head. */
	ck_assert_int_eq(r.req.counts[3], 6);		/* le 0.05 */
	ck_assert_int_eq(r.up.counts[2], 6);		/* le 0.025 */
	mreport_free(&r);
	free(b1);
	free(b2);
	free(b3);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_across_snapshots);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
