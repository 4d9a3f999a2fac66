/*
 * Builds struct route_table values by hand for the snapshot and router
 * unit tests (header-only: each test program includes it once).  Every
 * string is strdup()ed, so route_table_free() releases what these add.
 */
#ifndef INGRESSD_TESTS_ROUTE_TABLE_BUILDER_H
#define INGRESSD_TESTS_ROUTE_TABLE_BUILDER_H

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/routes.h"

static void
tb_init(struct route_table *rt)
{
	memset(rt, 0, sizeof(*rt));
	rt->default_backend = -1;
}

static uint32_t
tb_host(struct route_table *rt, const char *name)
{
	struct route_host *h;

	rt->hosts = realloc(rt->hosts, (rt->nhosts + 1) * sizeof(*rt->hosts));
	ck_assert_ptr_nonnull(rt->hosts);
	h = &rt->hosts[rt->nhosts];
	memset(h, 0, sizeof(*h));
	h->host = strdup(name);
	return (uint32_t)rt->nhosts++;
}

static void
tb_path(struct route_table *rt, uint32_t host, const char *path,
    enum route_path_type type, uint32_t backend, const char *source)
{
	struct route_host *h = &rt->hosts[host];
	struct route_path *p;

	h->paths = realloc(h->paths, (h->npaths + 1) * sizeof(*h->paths));
	ck_assert_ptr_nonnull(h->paths);
	p = &h->paths[h->npaths++];
	memset(p, 0, sizeof(*p));
	p->path = strdup(path);
	p->type = type;
	p->backend = backend;
	p->source = source ? strdup(source) : NULL;
}

#endif
