/*
 * Unit tests for master/compile.c: class selection, path normalization,
 * merging and conflicts between Ingresses, Service port and endpoint
 * resolution, ExternalName Services through a fake resolve callback,
 * annotations, errors, determinism.
 *
 * Objects are built by hand, all heap-allocated the way objects.c lays
 * them out, so objects_free() releases them; objects_from_json() is not
 * used.  Each case builds its objects, compiles them inserted in several
 * orders, and compares a text dump of the route table and errors with the
 * expected text, so every case also checks determinism.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "common/snapshot.h"
#include "master/compile.h"
#include "master/objects.h"
#include "master/store.h"
#include "master/tls_certs.h"

/* ---------------------------------------------------------------- */
/* Object builders                                                  */
/* ---------------------------------------------------------------- */

#define MAXOBJS		32

struct objs {
	struct obj	*v[MAXOBJS];
	size_t		 n;
};

static char *
xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Grows array *<pp> of *<n> elements by one zeroed element; returns it. */
static void *
grow(void *pp, size_t *n, size_t size)
{
	void **p = pp;
	char *q;

	q = realloc(*p, (*n + 1) * size);
	ck_assert_ptr_nonnull(q);
	memset(q + *n * size, 0, size);
	*p = q;
	return q + (*n)++ * size;
}

static struct obj *
mk(struct objs *os, enum obj_kind kind, const char *ns, const char *name,
    int64_t creation)
{
	struct obj *o;

	ck_assert_uint_lt(os->n, MAXOBJS);
	o = calloc(1, sizeof(*o));
	ck_assert_ptr_nonnull(o);
	o->kind = kind;
	o->meta.namespace = xstrdup(ns);
	o->meta.name = xstrdup(name);
	o->meta.creation = creation;
	o->origin = xstrdup(name);	/* errors carry it */
	os->v[os->n++] = o;
	return o;
}

static void
ann(struct obj *o, const char *key, const char *value)
{
	struct obj_kv *kv;

	kv = grow(&o->meta.annotations, &o->meta.nannotations, sizeof(*kv));
	kv->key = xstrdup(key);
	kv->value = xstrdup(value);
}

/* <port>: "80" by number, "http" by name. */
static void
backend_ref(struct obj_backend *b, const char *svc, const char *port)
{
	b->service = xstrdup(svc);
	if (port[0] >= '0' && port[0] <= '9')
		b->port_number = atoi(port);
	else
		b->port_name = xstrdup(port);
}

/* An Ingress of class <cls> (NULL: none), created at <t>. */
static struct obj *
ing(struct objs *os, const char *ns, const char *name, int64_t t,
    const char *cls)
{
	struct obj *o = mk(os, OBJ_INGRESS, ns, name, t);

	o->u.ingress.class_name = xstrdup(cls);
	return o;
}

/* Adds a rule with one path; <host> NULL: any host. */
static void
path(struct obj *o, const char *host, const char *p, enum obj_path_type t,
    const char *svc, const char *port)
{
	struct obj_ingress *in = &o->u.ingress;
	struct obj_ingress_rule *r;
	struct obj_ingress_path *ip;

	r = grow(&in->rules, &in->nrules, sizeof(*r));
	r->host = xstrdup(host);
	ip = grow(&r->paths, &r->npaths, sizeof(*ip));
	ip->path = xstrdup(p);
	ip->type = t;
	backend_ref(&ip->backend, svc, port);
}

static void
defbe(struct obj *o, const char *svc, const char *port)
{
	o->u.ingress.default_backend = calloc(1, sizeof(struct obj_backend));
	ck_assert_ptr_nonnull(o->u.ingress.default_backend);
	backend_ref(o->u.ingress.default_backend, svc, port);
}

/* Cluster-scoped: no namespace, or "default" as objects.c gives it. */
static struct obj *
iclass(struct objs *os, const char *name, const char *controller,
    int is_default)
{
	struct obj *o = mk(os, OBJ_INGRESS_CLASS, NULL, name, 0);

	o->u.ingress_class.controller = xstrdup(controller);
	o->u.ingress_class.is_default = is_default;
	return o;
}

static struct obj *
svc(struct objs *os, const char *ns, const char *name)
{
	struct obj *o = mk(os, OBJ_SERVICE, ns, name, 0);

	o->u.service.type = xstrdup("ClusterIP");
	return o;
}

static void
svc_port(struct obj *o, const char *name, int port)
{
	struct obj_service *s = &o->u.service;
	struct obj_service_port *sp;

	sp = grow(&s->ports, &s->nports, sizeof(*sp));
	sp->name = xstrdup(name);
	sp->port = port;
	sp->protocol = xstrdup("TCP");
}

static struct obj_endpoint_slice *
slice(struct objs *os, const char *ns, const char *name, const char *svcname,
    const char *type)
{
	struct obj *o = mk(os, OBJ_ENDPOINT_SLICE, ns, name, 0);

	o->u.endpoint_slice.service_name = xstrdup(svcname);
	o->u.endpoint_slice.address_type = xstrdup(type);
	return &o->u.endpoint_slice;
}

/* v1 Endpoints: subsets are added with subset(). */
static struct obj *
endpoints(struct objs *os, const char *ns, const char *name)
{
	return mk(os, OBJ_ENDPOINTS, ns, name, 0);
}

static struct obj_endpoint_slice *
subset(struct obj *o)
{
	struct obj_endpoints *e = &o->u.endpoints;
	struct obj_endpoint_slice *s;

	s = grow(&e->subsets, &e->nsubsets, sizeof(*s));
	s->service_name = xstrdup(o->meta.name);
	return s;
}

static void
sl_port(struct obj_endpoint_slice *s, const char *name, int port)
{
	struct obj_endpoint_port *p;

	p = grow(&s->ports, &s->nports, sizeof(*p));
	p->name = xstrdup(name);
	p->port = port;
	p->protocol = xstrdup("TCP");
}

static void
sl_ep(struct obj_endpoint_slice *s, const char *addr, int ready,
    int terminating)
{
	struct obj_endpoint *e;
	char **a;

	e = grow(&s->endpoints, &s->nendpoints, sizeof(*e));
	a = grow(&e->addresses, &e->naddresses, sizeof(*a));
	*a = xstrdup(addr);
	e->ready = ready;
	e->serving = ready;
	e->terminating = terminating;
}

/* The usual Service default/web, port 80 "http" -> pods on 8080. */
static void
web(struct objs *os)
{
	struct obj_endpoint_slice *s;

	svc_port(svc(os, "default", "web"), "http", 80);
	s = slice(os, "default", "web-abc", "web", "IPv4");
	sl_port(s, "http", 8080);
	sl_ep(s, "10.0.0.2", 1, 0);
	sl_ep(s, "10.0.0.1", 1, 0);
}

/* ---------------------------------------------------------------- */
/* Dump of a compile result                                         */
/* ---------------------------------------------------------------- */

/*
 * One line per item:
 *   H host
 *   P path type backend source
 *   B name policy connect response endpoints,...
 *   D backend source
 *   E object [origin]: reason
 */
static char *
dump(const struct compile_result *r)
{
	const struct route_table *rt = &r->rt;
	const struct route_backend *be;
	const struct route_path *p;
	char addr[UTIL_ADDRSTRLEN], *buf = NULL;
	size_t len = 0, i, j;
	FILE *f;

	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < rt->nhosts; i++) {
		fprintf(f, "H %s\n", rt->hosts[i].host);
		for (j = 0; j < rt->hosts[i].npaths; j++) {
			p = &rt->hosts[i].paths[j];
			ck_assert_uint_lt(p->backend, rt->nbackends);
			fprintf(f, "P %s %s %s %s\n", p->path,
			    p->type == ROUTE_PATH_EXACT ? "exact" : "prefix",
			    rt->backends[p->backend].name, p->source);
		}
	}
	for (i = 0; i < rt->nbackends; i++) {
		be = &rt->backends[i];
		fprintf(f, "B %s %s %u %u", be->name,
		    be->policy == ROUTE_POLICY_ROUND_ROBIN ? "rr" :
		    be->policy == ROUTE_POLICY_LEAST_REQUEST ? "lr" : "?",
		    be->connect_timeout_ms, be->response_timeout_ms);
		ck_assert_ptr_null(be->policy_arg);
		for (j = 0; j < be->nendpoints; j++) {
			ck_assert_uint_eq(be->endpoints[j].weight, 1);
			fprintf(f, "%s%s", j == 0 ? " " : ",",
			    util_format_sockaddr((const struct sockaddr *)
			    &be->endpoints[j].addr, addr, sizeof(addr)));
		}
		fprintf(f, "\n");
	}
	if (rt->default_backend >= 0) {
		ck_assert_int_lt(rt->default_backend, (int)rt->nbackends);
		fprintf(f, "D %s %s\n", rt->backends[rt->default_backend].name,
		    rt->default_source);
	} else
		ck_assert_ptr_null(rt->default_source);
	for (i = 0; i < r->nerrors; i++)
		fprintf(f, "E %s [%s]: %s\n", r->errors[i].object,
		    r->errors[i].origin != NULL ? r->errors[i].origin : "-",
		    r->errors[i].reason);
	fclose(f);
	return buf;
}

/* ---------------------------------------------------------------- */
/* Cases                                                            */
/* ---------------------------------------------------------------- */

struct compile_case {
	const char	*name;
	const char	*ingress_class;
	void		(*build)(struct objs *);
	const char	*expect;
};

/* ---------------------------------------------------------------- */
/* A fake resolve callback: a fixed cache, and the names it was asked */
/* ---------------------------------------------------------------- */

#define MAXASKED	32

static const struct {
	const char	*name;
	int		 status;
	const char	*addrs[4];
} fake_names[] = {
	/* Unsorted, with a duplicate: compile sorts and dedups. */
	{ "db.example.org", COMPILE_NAME_RESOLVED,
	    { "192.0.2.10", "2001:db8::7", "192.0.2.9", "192.0.2.10" } },
	{ "slow.example.org", COMPILE_NAME_PENDING, { NULL } },
	{ "gone.example.org", COMPILE_NAME_FAILED, { NULL } },
	{ "empty.example.org", COMPILE_NAME_RESOLVED, { NULL } },
};

static const char *fake_asked[MAXASKED];
static size_t fake_nasked;

static int
fake_resolve(void *arg, const char *name, struct sockaddr_storage *addrs,
    socklen_t *lens, size_t max, size_t *n)
{
	size_t i, j;

	ck_assert_ptr_eq(arg, &fake_nasked);
	ck_assert_uint_lt(fake_nasked, MAXASKED);
	fake_asked[fake_nasked++] = name;
	*n = 0;
	for (i = 0; i < UTIL_NELEM(fake_names); i++) {
		if (strcmp(fake_names[i].name, name) != 0)
			continue;
		for (j = 0; j < 4 && fake_names[i].addrs[j] != NULL &&
		    j < max; j++) {
			/* A port here is ignored: compile sets its own. */
			ck_assert_int_eq(util_make_sockaddr(
			    fake_names[i].addrs[j], 1, &addrs[j], &lens[j]),
			    0);
			(*n)++;
		}
		return fake_names[i].status;
	}
	return COMPILE_NAME_FAILED;
}

/* Class selection with ingress_class "ingressd": host says who is ours. */
static void
build_class_named(struct objs *os)
{
	struct obj *o;

	web(os);
	o = iclass(os, "ingressd", "ingressd.io/ingress-controller", 1);
	o->meta.namespace = xstrdup("default");
	iclass(os, "nginx", "k8s.io/ingress-nginx", 0);
	o = ing(os, "default", "by-name", 1, "ingressd");
	path(o, "by-name", "/", OBJ_PATH_PREFIX, "web", "80");
	/* ingressClassName takes precedence over the annotation. */
	o = ing(os, "default", "other-name", 2, "nginx");
	o->u.ingress.class_annotation = xstrdup("ingressd");
	path(o, "other-name", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "by-annotation", 3, NULL);
	o->u.ingress.class_annotation = xstrdup("ingressd");
	path(o, "by-annotation", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "other-annotation", 4, NULL);
	o->u.ingress.class_annotation = xstrdup("nginx");
	path(o, "other-annotation", "/", OBJ_PATH_PREFIX, "web", "80");
	/* Neither: ours because IngressClass ingressd is the default. */
	o = ing(os, "default", "classless", 5, NULL);
	path(o, "classless", "/", OBJ_PATH_PREFIX, "web", "80");
}

/* The same without a default IngressClass: class-less is not ours. */
static void
build_class_named_nodefault(struct objs *os)
{
	struct obj *o;

	web(os);
	iclass(os, "ingressd", "ingressd.io/ingress-controller", 0);
	iclass(os, "nginx", "k8s.io/ingress-nginx", 1);
	o = ing(os, "default", "classless", 5, NULL);
	path(o, "classless", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "by-name", 1, "ingressd");
	path(o, "by-name", "/", OBJ_PATH_PREFIX, "web", "80");
}

static void
build_class_named_noclass(struct objs *os)
{
	struct obj *o;

	web(os);
	o = ing(os, "default", "classless", 5, NULL);
	path(o, "classless", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "by-name", 1, "ingressd");
	path(o, "by-name", "/", OBJ_PATH_PREFIX, "web", "80");
}

/* Without ingress_class. */
static void
build_class_unset(struct objs *os)
{
	struct obj *o;

	web(os);
	o = iclass(os, "mine", "ingressd.io/ingress-controller", 0);
	o->meta.namespace = xstrdup("default");
	iclass(os, "nginx", "k8s.io/ingress-nginx", 1);
	o = ing(os, "default", "classless", 1, NULL);
	path(o, "classless", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "our-controller", 2, "mine");
	path(o, "our-controller", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "nginx", 3, "nginx");
	path(o, "nginx", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "unknown-class", 4, "nowhere");
	path(o, "unknown-class", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "annotation", 5, NULL);
	o->u.ingress.class_annotation = xstrdup("ingressd");
	path(o, "annotation", "/", OBJ_PATH_PREFIX, "web", "80");
}

static void
build_paths(struct objs *os)
{
	struct obj *o;

	web(os);
	o = ing(os, "default", "paths", 1, NULL);
	path(o, "Example.COM", "/foo/", OBJ_PATH_PREFIX, "web", "80");
	path(o, "example.com", "/", OBJ_PATH_PREFIX, "web", "80");
	path(o, "example.com", "/bar//", OBJ_PATH_IMPLEMENTATION_SPECIFIC,
	    "web", "80");
	path(o, "example.com", "/baz/", OBJ_PATH_EXACT, "web", "80");
	/* Exact and Prefix of the same path are distinct rules. */
	path(o, "example.com", "/foo", OBJ_PATH_EXACT, "web", "80");
	path(o, "*.example.com", "/", OBJ_PATH_PREFIX, "web", "80");
	path(o, NULL, "//", OBJ_PATH_PREFIX, "web", "80");
	path(o, NULL, NULL, OBJ_PATH_EXACT, "web", "80");
	path(o, "example.com", "relative", OBJ_PATH_PREFIX, "web", "80");
	/* Same key twice in one Ingress: the first rule wins. */
	path(o, "example.com", "/foo", OBJ_PATH_PREFIX, "web", "http");
}

/* Paths of several Ingresses for one host merge; oldest wins a key. */
static void
build_merge(struct objs *os)
{
	struct obj *o;

	web(os);
	svc_port(svc(os, "default", "api"), "http", 80);
	svc_port(svc(os, "ns2", "web"), NULL, 80);
	o = ing(os, "default", "young", 300, NULL);
	path(o, "example.com", "/api", OBJ_PATH_PREFIX, "api", "80");
	path(o, "example.com", "/shared", OBJ_PATH_PREFIX, "api", "80");
	o = ing(os, "default", "old", 100, NULL);
	path(o, "example.com", "/", OBJ_PATH_PREFIX, "web", "80");
	/* Same age as ns2/b, namespace "default" sorts first. */
	o = ing(os, "default", "z-tie", 200, NULL);
	path(o, "example.com", "/shared", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "ns2", "b", 200, NULL);
	path(o, "example.com", "/shared", OBJ_PATH_PREFIX, "web", "80");
	path(o, "example.com", "/shared", OBJ_PATH_EXACT, "web", "80");
	/* Same age and namespace: name order. */
	o = ing(os, "ns2", "a", 200, NULL);
	path(o, "example.com", "/shared", OBJ_PATH_EXACT, "web", "80");
	/* No creationTimestamp: youngest of all. */
	o = ing(os, "ns2", "0-undated", INT64_MAX, NULL);
	path(o, "example.com", "/", OBJ_PATH_PREFIX, "web", "80");
}

static void
build_default_backend(struct objs *os)
{
	struct obj *o;

	web(os);
	o = ing(os, "default", "young", 200, NULL);
	defbe(o, "web", "http");
	o = ing(os, "default", "old", 100, NULL);
	defbe(o, "web", "80");
	path(o, "example.com", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "resource", 50, NULL);
	o->u.ingress.default_backend = calloc(1, sizeof(struct obj_backend));
}

/* Service port by number and by name; named target ports per slice. */
static void
build_ports(struct objs *os)
{
	struct obj_endpoint_slice *s;
	struct obj *o;

	o = svc(os, "default", "web");
	svc_port(o, "http", 80);
	svc_port(o, "admin", 81);
	svc_port(svc(os, "default", "plain"), NULL, 80);

	/* Two slices, same port name, different target ports. */
	s = slice(os, "default", "web-1", "web", "IPv4");
	sl_port(s, "admin", 9000);
	sl_port(s, "http", 8080);
	sl_ep(s, "10.0.0.1", 1, 0);
	s = slice(os, "default", "web-2", "web", "IPv4");
	sl_port(s, "http", 8081);
	sl_ep(s, "10.0.0.2", 1, 0);
	/* No ports list: endpoints unusable. */
	s = slice(os, "default", "web-3", "web", "IPv4");
	sl_ep(s, "10.0.0.3", 1, 0);
	/* Only another port name. */
	s = slice(os, "default", "web-4", "web", "IPv4");
	sl_port(s, "metrics", 9100);
	sl_ep(s, "10.0.0.4", 1, 0);
	/* Another Service's slice and another namespace's. */
	s = slice(os, "default", "webx-1", "webx", "IPv4");
	sl_port(s, "http", 8080);
	sl_ep(s, "10.9.9.9", 1, 0);
	s = slice(os, "other", "web-1", "web", "IPv4");
	sl_port(s, "http", 8080);
	sl_ep(s, "10.8.8.8", 1, 0);
	/* Unnamed Service port: "" in the slice matches NULL. */
	s = slice(os, "default", "plain-1", "plain", "IPv4");
	sl_port(s, "", 5000);
	sl_ep(s, "10.1.0.1", 1, 0);

	o = ing(os, "default", "ports", 1, NULL);
	path(o, "example.com", "/num", OBJ_PATH_PREFIX, "web", "80");
	path(o, "example.com", "/name", OBJ_PATH_PREFIX, "web", "http");
	path(o, "example.com", "/admin", OBJ_PATH_PREFIX, "web", "81");
	path(o, "example.com", "/plain", OBJ_PATH_PREFIX, "plain", "80");
}

static void
build_conditions(struct objs *os)
{
	struct obj_endpoint_slice *s;
	struct obj *o;

	svc_port(svc(os, "default", "web"), "http", 80);
	s = slice(os, "default", "web-1", "web", "IPv4");
	sl_port(s, "http", 8080);
	sl_ep(s, "10.0.0.1", 1, 0);	/* ready (or absent) */
	sl_ep(s, "10.0.0.2", 0, 0);	/* not ready */
	sl_ep(s, "10.0.0.3", 0, 1);	/* terminating */
	sl_ep(s, "10.0.0.4", 1, 1);	/* ready but terminating */
	sl_ep(s, "10.0.0.10", 1, 0);
	sl_ep(s, "not-an-ip", 1, 0);
	/* Duplicates across slices collapse; other ports do not. */
	s = slice(os, "default", "web-2", "web", "IPv4");
	sl_port(s, "http", 8080);
	sl_ep(s, "10.0.0.1", 1, 0);
	sl_ep(s, "10.0.0.10", 1, 0);
	s = slice(os, "default", "web-3", "web", "IPv4");
	sl_port(s, "http", 8081);
	sl_ep(s, "10.0.0.1", 1, 0);
	/* IPv6 endpoints; FQDN slices are skipped. */
	s = slice(os, "default", "web-4", "web", "IPv6");
	sl_port(s, "http", 8080);
	sl_ep(s, "fd00::0001", 1, 0);
	sl_ep(s, "fd00::1", 1, 0);
	s = slice(os, "default", "web-5", "web", "FQDN");
	sl_port(s, "http", 8080);
	sl_ep(s, "pod.example.com", 1, 0);

	o = ing(os, "default", "cond", 1, NULL);
	path(o, NULL, "/", OBJ_PATH_PREFIX, "web", "http");
}

/* v1 Endpoints only when the Service has no EndpointSlice at all. */
static void
build_endpoints_fallback(struct objs *os)
{
	struct obj_endpoint_slice *s;
	struct obj *o;

	/* "sliced" has an empty slice: its Endpoints are not used. */
	svc_port(svc(os, "default", "sliced"), "http", 80);
	s = slice(os, "default", "sliced-1", "sliced", "IPv4");
	sl_port(s, "http", 8080);
	o = endpoints(os, "default", "sliced");
	s = subset(o);
	sl_port(s, "http", 8080);
	sl_ep(s, "10.0.0.1", 1, 0);

	/* "legacy" has only Endpoints. */
	svc_port(svc(os, "default", "legacy"), "http", 80);
	o = endpoints(os, "default", "legacy");
	s = subset(o);
	sl_port(s, "http", 8080);
	sl_port(s, "metrics", 9100);
	sl_ep(s, "10.0.1.2", 1, 0);
	sl_ep(s, "10.0.1.3", 0, 0);	/* notReadyAddresses */
	s = subset(o);
	sl_port(s, "http", 8081);
	sl_ep(s, "10.0.1.1", 1, 0);
	s = subset(o);			/* no ports: unusable */
	sl_ep(s, "10.0.1.9", 1, 0);
	s = subset(o);
	sl_port(s, "other", 7000);
	sl_ep(s, "10.0.1.8", 1, 0);

	/* Unnamed port through Endpoints, IPv6 address. */
	svc_port(svc(os, "default", "v6"), NULL, 80);
	s = subset(endpoints(os, "default", "v6"));
	sl_port(s, NULL, 8080);
	sl_ep(s, "2001:db8::5", 1, 0);

	o = ing(os, "default", "fb", 1, NULL);
	path(o, NULL, "/sliced", OBJ_PATH_PREFIX, "sliced", "http");
	path(o, NULL, "/legacy", OBJ_PATH_PREFIX, "legacy", "80");
	path(o, NULL, "/v6", OBJ_PATH_PREFIX, "v6", "80");
}

static void
build_unresolved(struct objs *os)
{
	struct obj *o;

	web(os);
	o = svc(os, "default", "ext");
	free(o->u.service.type);
	o->u.service.type = xstrdup("ExternalName");
	o->u.service.external_name = xstrdup("gone.example.org");
	/* The Service exists in another namespace only. */
	o = ing(os, "ns2", "missing", 1, NULL);
	path(o, "example.com", "/missing", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "bad", 2, NULL);
	path(o, "example.com", "/noport", OBJ_PATH_PREFIX, "web", "8080");
	path(o, "example.com", "/noname", OBJ_PATH_EXACT, "web", "grpc");
	path(o, "example.com", "/ext", OBJ_PATH_PREFIX, "ext", "80");
	path(o, "example.com", "/ok", OBJ_PATH_PREFIX, "web", "80");
	path(o, "example.com", "/gone", OBJ_PATH_PREFIX, "gone", "80");
	free(o->u.ingress.rules[4].paths[0].backend.service);
	o->u.ingress.rules[4].paths[0].backend.service = NULL;
}

/* An ExternalName Service <name> for <ext>; ports are added by the caller. */
static struct obj *
xsvc(struct objs *os, const char *name, const char *ext)
{
	struct obj *o = svc(os, "default", name);

	free(o->u.service.type);
	o->u.service.type = xstrdup("ExternalName");
	o->u.service.external_name = xstrdup(ext);
	return o;
}

static void
build_external(struct objs *os)
{
	struct obj *o;

	web(os);
	o = xsvc(os, "db", "db.example.org");
	svc_port(o, "http", 80);
	/* targetPort means nothing without pods: port 80 is used. */
	o->u.service.ports[0].target_port = 8080;
	svc_port(o, "admin", 9000);
	svc_port(xsvc(os, "slow", "slow.example.org"), NULL, 80);
	svc_port(xsvc(os, "gone", "gone.example.org"), NULL, 80);
	svc_port(xsvc(os, "empty", "empty.example.org"), NULL, 80);
	svc_port(xsvc(os, "lit4", "192.0.2.50"), NULL, 80);
	svc_port(xsvc(os, "lit6", "2001:db8::50"), "https", 443);
	/* Without ports, the Ingress's port number is the port. */
	xsvc(os, "bare", "db.example.org");

	o = ing(os, "default", "ext", 1, NULL);
	path(o, "ext.example", "/db", OBJ_PATH_PREFIX, "db", "http");
	path(o, "ext.example", "/admin", OBJ_PATH_PREFIX, "db", "9000");
	path(o, "ext.example", "/nope", OBJ_PATH_PREFIX, "db", "8080");
	path(o, "ext.example", "/slow", OBJ_PATH_PREFIX, "slow", "80");
	path(o, "ext.example", "/gone", OBJ_PATH_PREFIX, "gone", "80");
	path(o, "ext.example", "/empty", OBJ_PATH_PREFIX, "empty", "80");
	path(o, "ext.example", "/lit4", OBJ_PATH_PREFIX, "lit4", "80");
	path(o, "ext.example", "/lit6", OBJ_PATH_PREFIX, "lit6", "https");
	path(o, "ext.example", "/bare", OBJ_PATH_PREFIX, "bare", "5432");
	path(o, "ext.example", "/barename", OBJ_PATH_PREFIX, "bare", "pg");
	path(o, "ext.example", "/web", OBJ_PATH_PREFIX, "web", "80");
}

static void
build_annotations(struct objs *os)
{
	struct obj *o;

	web(os);
	svc_port(svc(os, "default", "api"), "http", 80);
	svc_port(svc(os, "default", "slow"), "http", 80);
	o = ing(os, "default", "tuned", 1, NULL);
	ann(o, "ingressd.io/load-balance", "least-request");
	ann(o, "ingressd.io/connect-timeout", "2s");
	ann(o, "ingressd.io/response-timeout", "1m30s");
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(os, "default", "broken", 2, NULL);
	ann(o, "ingressd.io/load-balance", "random");
	ann(o, "ingressd.io/connect-timeout", "soon");
	ann(o, "ingressd.io/response-timeout", "500ms");
	path(o, "b.example", "/", OBJ_PATH_PREFIX, "api", "80");
	/* Shares default/web:80 with "tuned", differently: tuned wins. */
	path(o, "b.example", "/web", OBJ_PATH_PREFIX, "web", "80");
	path(o, "b.example", "/web2", OBJ_PATH_PREFIX, "web", "80");
	/* Same settings as the owner: no conflict. */
	o = ing(os, "default", "same", 3, NULL);
	ann(o, "ingressd.io/load-balance", "least-request");
	ann(o, "ingressd.io/connect-timeout", "2000ms");
	ann(o, "ingressd.io/response-timeout", "90s");
	path(o, "c.example", "/", OBJ_PATH_PREFIX, "web", "80");
	/* Explicit defaults, and a timeout over 30 days. */
	o = ing(os, "default", "plain", 4, NULL);
	ann(o, "ingressd.io/load-balance", "round-robin");
	ann(o, "ingressd.io/response-timeout", "31d");
	path(o, "d.example", "/", OBJ_PATH_PREFIX, "slow", "80");
}

static void
build_tls_ignored(struct objs *os)
{
	struct obj *o;

	web(os);
	o = ing(os, "default", "tls", 1, NULL);
	o->u.ingress.tls = calloc(1, sizeof(*o->u.ingress.tls));
	o->u.ingress.ntls = 1;
	o->u.ingress.tls[0].secret = xstrdup("missing-secret");
	path(o, "example.com", "/", OBJ_PATH_PREFIX, "web", "80");
}

static const struct compile_case cases[] = {
	{ "class named", "ingressd", build_class_named,
	    "H by-annotation\n"
	    "P / prefix default/web:80 default/by-annotation\n"
	    "H by-name\n"
	    "P / prefix default/web:80 default/by-name\n"
	    "H classless\n"
	    "P / prefix default/web:80 default/classless\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n" },
	{ "class named, no default", "ingressd", build_class_named_nodefault,
	    "H by-name\n"
	    "P / prefix default/web:80 default/by-name\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n" },
	{ "class named, no IngressClass", "ingressd",
	    build_class_named_noclass,
	    "H by-name\n"
	    "P / prefix default/web:80 default/by-name\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n" },
	{ "class unset", NULL, build_class_unset,
	    "H classless\n"
	    "P / prefix default/web:80 default/classless\n"
	    "H our-controller\n"
	    "P / prefix default/web:80 default/our-controller\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n" },
	{ "paths", NULL, build_paths,
	    "H \n"
	    "P / exact default/web:80 default/paths\n"
	    "P / prefix default/web:80 default/paths\n"
	    "H *.example.com\n"
	    "P / prefix default/web:80 default/paths\n"
	    "H example.com\n"
	    "P / prefix default/web:80 default/paths\n"
	    "P /bar prefix default/web:80 default/paths\n"
	    "P /baz/ exact default/web:80 default/paths\n"
	    "P /foo exact default/web:80 default/paths\n"
	    "P /foo prefix default/web:80 default/paths\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n"
	    "E Ingress default/paths [paths]: example.com relative: path "
	    "must start with '/'; rule ignored\n"
	    "E Ingress default/paths [paths]: example.com/foo (Prefix): "
	    "already routed by an earlier rule of this Ingress; ignored\n" },
	{ "merge and conflicts", NULL, build_merge,
	    "H example.com\n"
	    "P / prefix default/web:80 default/old\n"
	    "P /api prefix default/api:80 default/young\n"
	    "P /shared exact ns2/web:80 ns2/a\n"
	    "P /shared prefix default/web:80 default/z-tie\n"
	    "B default/api:80 lr 0 0\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n"
	    "B ns2/web:80 lr 0 0\n"
	    "E Ingress ns2/b [b]: example.com/shared (Prefix): conflicts "
	    "with Ingress default/z-tie, which is as old and first by "
	    "namespace/name; ignored\n"
	    "E Ingress ns2/b [b]: example.com/shared (Exact): conflicts "
	    "with Ingress ns2/a, which is as old and first by "
	    "namespace/name; ignored\n"
	    "E Ingress default/young [young]: example.com/shared (Prefix): "
	    "conflicts with Ingress default/z-tie, which is older; "
	    "ignored\n"
	    "E Ingress ns2/0-undated [0-undated]: example.com/ (Prefix): "
	    "conflicts with Ingress default/old, which is older; "
	    "ignored\n" },
	{ "defaultBackend", NULL, build_default_backend,
	    "H example.com\n"
	    "P / prefix default/web:80 default/old\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n"
	    "D default/web:80 default/old\n"
	    "E Ingress default/resource [resource]: defaultBackend: "
	    "resource backends are not supported; ignored\n"
	    "E Ingress default/young [young]: defaultBackend: conflicts "
	    "with Ingress default/old, which is older; ignored\n" },
	{ "ports", NULL, build_ports,
	    "H example.com\n"
	    "P /admin prefix default/web:81 default/ports\n"
	    "P /name prefix default/web:http default/ports\n"
	    "P /num prefix default/web:80 default/ports\n"
	    "P /plain prefix default/plain:80 default/ports\n"
	    "B default/plain:80 lr 0 0 10.1.0.1:5000\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8081\n"
	    "B default/web:81 lr 0 0 10.0.0.1:9000\n"
	    "B default/web:http lr 0 0 10.0.0.1:8080,10.0.0.2:8081\n" },
	{ "conditions", NULL, build_conditions,
	    "H \n"
	    "P / prefix default/web:http default/cond\n"
	    "B default/web:http lr 0 0 10.0.0.10:8080,10.0.0.1:8080,"
	    "10.0.0.1:8081,[fd00::1]:8080\n" },
	{ "Endpoints fallback", NULL, build_endpoints_fallback,
	    "H \n"
	    "P /legacy prefix default/legacy:80 default/fb\n"
	    "P /sliced prefix default/sliced:http default/fb\n"
	    "P /v6 prefix default/v6:80 default/fb\n"
	    "B default/legacy:80 lr 0 0 10.0.1.1:8081,10.0.1.2:8080\n"
	    "B default/sliced:http lr 0 0\n"
	    "B default/v6:80 lr 0 0 [2001:db8::5]:8080\n" },
	{ "unresolved", NULL, build_unresolved,
	    "H example.com\n"
	    "P /ext prefix default/ext:80 default/bad\n"
	    "P /missing prefix ns2/web:80 ns2/missing\n"
	    "P /noname exact default/web:grpc default/bad\n"
	    "P /noport prefix default/web:8080 default/bad\n"
	    "P /ok prefix default/web:80 default/bad\n"
	    "B default/ext:80 lr 0 0\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n"
	    "B default/web:8080 lr 0 0\n"
	    "B default/web:grpc lr 0 0\n"
	    "B ns2/web:80 lr 0 0\n"
	    "E Ingress ns2/missing [missing]: example.com/missing (Prefix): "
	    "service ns2/web not found; answering 503\n"
	    "E Ingress default/bad [bad]: example.com/gone: resource "
	    "backends are not supported; rule ignored\n"
	    "E Ingress default/bad [bad]: example.com/noport (Prefix): "
	    "service default/web has no port 8080; answering 503\n"
	    "E Ingress default/bad [bad]: example.com/noname (Exact): "
	    "service default/web has no port named \"grpc\"; answering "
	    "503\n"
	    "E Ingress default/bad [bad]: example.com/ext (Prefix): "
	    "ExternalName service default/ext: cannot resolve "
	    "\"gone.example.org\"; answering 503\n" },
	{ "external", NULL, build_external,
	    "H ext.example\n"
	    "P /admin prefix default/db:9000 default/ext\n"
	    "P /bare prefix default/bare:5432 default/ext\n"
	    "P /barename prefix default/bare:pg default/ext\n"
	    "P /db prefix default/db:http default/ext\n"
	    "P /empty prefix default/empty:80 default/ext\n"
	    "P /gone prefix default/gone:80 default/ext\n"
	    "P /lit4 prefix default/lit4:80 default/ext\n"
	    "P /lit6 prefix default/lit6:https default/ext\n"
	    "P /nope prefix default/db:8080 default/ext\n"
	    "P /slow prefix default/slow:80 default/ext\n"
	    "P /web prefix default/web:80 default/ext\n"
	    "B default/bare:5432 lr 0 0 192.0.2.10:5432,192.0.2.9:5432,"
	    "[2001:db8::7]:5432\n"
	    "B default/bare:pg lr 0 0\n"
	    "B default/db:8080 lr 0 0\n"
	    "B default/db:9000 lr 0 0 192.0.2.10:9000,192.0.2.9:9000,"
	    "[2001:db8::7]:9000\n"
	    "B default/db:http lr 0 0 192.0.2.10:80,192.0.2.9:80,"
	    "[2001:db8::7]:80\n"
	    "B default/empty:80 lr 0 0\n"
	    "B default/gone:80 lr 0 0\n"
	    "B default/lit4:80 lr 0 0 192.0.2.50:80\n"
	    "B default/lit6:https lr 0 0 [2001:db8::50]:443\n"
	    "B default/slow:80 lr 0 0\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n"
	    "E Ingress default/ext [ext]: ext.example/nope (Prefix): "
	    "service default/db has no port 8080; answering 503\n"
	    "E Ingress default/ext [ext]: ext.example/gone (Prefix): "
	    "ExternalName service default/gone: cannot resolve "
	    "\"gone.example.org\"; answering 503\n"
	    "E Ingress default/ext [ext]: ext.example/empty (Prefix): "
	    "ExternalName service default/empty: \"empty.example.org\" "
	    "has no IPv4 or IPv6 address; answering 503\n"
	    "E Ingress default/ext [ext]: ext.example/barename (Prefix): "
	    "service default/bare has no port named \"pg\"; answering "
	    "503\n" },
	{ "annotations", NULL, build_annotations,
	    "H a.example\n"
	    "P / prefix default/web:80 default/tuned\n"
	    "H b.example\n"
	    "P / prefix default/api:80 default/broken\n"
	    "P /web prefix default/web:80 default/broken\n"
	    "P /web2 prefix default/web:80 default/broken\n"
	    "H c.example\n"
	    "P / prefix default/web:80 default/same\n"
	    "H d.example\n"
	    "P / prefix default/slow:80 default/plain\n"
	    "B default/api:80 lr 0 500\n"
	    "B default/slow:80 rr 0 0\n"
	    "B default/web:80 lr 2000 90000 10.0.0.1:8080,10.0.0.2:8080\n"
	    "E Ingress default/broken [broken]: annotation "
	    "ingressd.io/load-balance: unknown policy \"random\" "
	    "(round-robin, least-request, hash-source, hash-header:NAME, "
	    "hash-cookie:NAME, sticky-cookie[:NAME]); least-request applies\n"
	    "E Ingress default/broken [broken]: annotation "
	    "ingressd.io/connect-timeout: invalid duration \"soon\" "
	    "(e.g. \"5s\", \"500ms\"); the global timeout applies\n"
	    "E Ingress default/broken [broken]: backend default/web:80: "
	    "load-balance, timeout and health annotations differ from those of "
	    "the older Ingress default/tuned, which apply\n"
	    "E Ingress default/plain [plain]: annotation "
	    "ingressd.io/response-timeout: invalid duration \"31d\" "
	    "(e.g. \"5s\", \"500ms\"); the global timeout applies\n" },
	{ "tls ignored", NULL, build_tls_ignored,
	    "H example.com\n"
	    "P / prefix default/web:80 default/tls\n"
	    "B default/web:80 lr 0 0 10.0.0.1:8080,10.0.0.2:8080\n" },
};

/* Insertion orders: as built, reversed, and a stride through the list. */
#define NORDERS	3

static size_t
order_index(int order, size_t i, size_t n)
{
	size_t stride;

	switch (order) {
	case 0:
		return i;
	case 1:
		return n - 1 - i;
	default:
		/* A stride coprime with n visits every index once. */
		for (stride = 7; stride > 1; stride++) {
			size_t a = stride, b = n;

			while (b != 0) {
				size_t t = a % b;

				a = b;
				b = t;
			}
			if (a == 1)
				break;
		}
		return (i * stride + 3) % n;
	}
}

START_TEST(test_cases)
{
	const struct compile_case *tc = &cases[_i / NORDERS];
	struct compile_options opt;
	struct compile_result res;
	struct objs os;
	struct store *st;
	char *got;
	size_t i;

	memset(&os, 0, sizeof(os));
	tc->build(&os);
	st = store_new();
	ck_assert_ptr_nonnull(st);
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st,
		    os.v[order_index(_i % NORDERS, i, os.n)]), 0);
	memset(&opt, 0, sizeof(opt));
	opt.ingress_class = tc->ingress_class;
	opt.resolve = fake_resolve;
	opt.resolve_arg = &fake_nasked;
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	got = dump(&res);
	ck_assert_msg(strcmp(got, tc->expect) == 0,
	    "case \"%s\" order %d:\n--- got\n%s--- expected\n%s", tc->name,
	    _i % NORDERS, got, tc->expect);
	free(got);
	compile_result_free(&res);
	store_free(st);
}
END_TEST

START_TEST(test_empty_and_settings)
{
	struct compile_options opt;
	struct compile_result res;
	struct store *st;

	st = store_new();
	memset(&opt, 0, sizeof(opt));
	opt.ingress_class = "ingressd";
	opt.settings.client_header_timeout_ms = 1;
	opt.settings.upstream_keepalive = 7;
	opt.settings.max_body_size = 1ULL << 40;
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert_uint_eq(res.rt.nhosts, 0);
	ck_assert_uint_eq(res.rt.nbackends, 0);
	ck_assert_int_eq(res.rt.default_backend, -1);
	ck_assert_ptr_null(res.rt.default_source);
	ck_assert_uint_eq(res.nerrors, 0);
	ck_assert_int_eq(memcmp(&res.rt.settings, &opt.settings,
	    sizeof(opt.settings)), 0);
	compile_result_free(&res);
	ck_assert_uint_eq(res.nerrors, 0);
	ck_assert_ptr_null(res.errors);
	compile_result_free(&res);
	compile_result_free(NULL);
	store_free(st);
}
END_TEST

/*
 * Health settings: config defaults for a backend without annotations,
 * each ingressd.io/health-* annotation over them, bad values reported
 * with the default kept.
 */
START_TEST(test_health_annotations)
{
	struct compile_options opt;
	struct compile_result res;
	const struct route_backend *b;
	struct objs os;
	struct store *st;
	struct obj *o;
	size_t i;

	memset(&os, 0, sizeof(os));
	web(&os);
	svc_port(svc(&os, "default", "api"), "http", 80);
	svc_port(svc(&os, "default", "bad"), "http", 80);
	o = ing(&os, "default", "plain", 1, NULL);
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(&os, "default", "tuned", 2, NULL);
	ann(o, "ingressd.io/health-path", "/healthz");
	ann(o, "ingressd.io/health-port", "9090");
	ann(o, "ingressd.io/health-host", "api.internal");
	ann(o, "ingressd.io/health-interval", "500ms");
	ann(o, "ingressd.io/health-timeout", "250ms");
	ann(o, "ingressd.io/health-rise", "4");
	ann(o, "ingressd.io/health-fall", "5");
	ann(o, "ingressd.io/health-expect", "204");
	path(o, "b.example", "/", OBJ_PATH_PREFIX, "api", "80");
	o = ing(&os, "default", "broken", 3, NULL);
	ann(o, "ingressd.io/health-mode", "udp");
	ann(o, "ingressd.io/health-path", "healthz");
	ann(o, "ingressd.io/health-port", "0");
	ann(o, "ingressd.io/health-host", "a b");
	ann(o, "ingressd.io/health-rise", "x");
	ann(o, "ingressd.io/health-expect", "500-200");
	ann(o, "ingressd.io/health-interval", "often");
	path(o, "c.example", "/", OBJ_PATH_PREFIX, "bad", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	opt.health.mode = ROUTE_HEALTH_TCP;
	opt.health.interval_ms = 2000;
	opt.health.timeout_ms = 1000;
	opt.health.rise = 2;
	opt.health.fall = 3;
	opt.health.expect_lo = 200;
	opt.health.expect_hi = 399;
	opt.health.all_down = ROUTE_ALL_DOWN_FAIL_OPEN;
	opt.health.path = "/";
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert_uint_eq(res.rt.nbackends, 3);
	/* Sorted by name: api, bad, web. */
	b = &res.rt.backends[0];
	ck_assert_str_eq(b->name, "default/api:80");
	ck_assert_uint_eq(b->health.mode, ROUTE_HEALTH_HTTP);
	ck_assert_str_eq(b->health.path, "/healthz");
	ck_assert_str_eq(b->health.host, "api.internal");
	ck_assert_uint_eq(b->health.port, 9090);
	ck_assert_uint_eq(b->health.interval_ms, 500);
	ck_assert_uint_eq(b->health.timeout_ms, 250);
	ck_assert_uint_eq(b->health.rise, 4);
	ck_assert_uint_eq(b->health.fall, 5);
	ck_assert_uint_eq(b->health.expect_lo, 204);
	ck_assert_uint_eq(b->health.expect_hi, 204);
	ck_assert_uint_eq(b->health.all_down, ROUTE_ALL_DOWN_FAIL_OPEN);
	for (i = 1; i < 3; i++) {
		b = &res.rt.backends[i];
		ck_assert_uint_eq(b->health.mode, ROUTE_HEALTH_TCP);
		ck_assert_str_eq(b->health.path, "/");
		ck_assert_ptr_null(b->health.host);
		ck_assert_uint_eq(b->health.port, 0);
		ck_assert_uint_eq(b->health.interval_ms, 2000);
		ck_assert_uint_eq(b->health.rise, 2);
		ck_assert_uint_eq(b->health.expect_lo, 200);
		ck_assert_uint_eq(b->health.expect_hi, 399);
	}
	/* Seven bad annotations, seven errors, all on "broken". */
	ck_assert_uint_eq(res.nerrors, 7);
	for (i = 0; i < res.nerrors; i++) {
		ck_assert_str_eq(res.errors[i].object,
		    "Ingress default/broken");
		ck_assert_ptr_nonnull(strstr(res.errors[i].reason,
		    "ingressd.io/health-"));
	}
	compile_result_free(&res);
	store_free(st);
}
END_TEST

/*
 * Health annotations on a Service apply to its backends; the Ingress's
 * override them key by key; a bad one is reported with the Service.
 */
START_TEST(test_health_service_annotations)
{
	struct compile_options opt;
	struct compile_result res;
	const struct route_backend *b;
	struct objs os;
	struct store *st;
	struct obj *o, *sv;
	size_t i;

	memset(&os, 0, sizeof(os));
	web(&os);
	sv = svc(&os, "default", "api");
	svc_port(sv, "http", 80);
	ann(sv, "ingressd.io/health-path", "/ready");
	ann(sv, "ingressd.io/health-fall", "7");
	ann(sv, "ingressd.io/health-rise", "zero");
	o = ing(&os, "default", "a", 1, NULL);
	ann(o, "ingressd.io/health-fall", "4");
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "api", "80");
	path(o, "a.example", "/web", OBJ_PATH_PREFIX, "web", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	opt.health.rise = 2;
	opt.health.fall = 3;
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert_uint_eq(res.rt.nbackends, 2);
	b = &res.rt.backends[0];
	ck_assert_str_eq(b->name, "default/api:80");
	ck_assert_uint_eq(b->health.mode, ROUTE_HEALTH_HTTP);
	ck_assert_str_eq(b->health.path, "/ready");
	ck_assert_uint_eq(b->health.fall, 4);
	ck_assert_uint_eq(b->health.rise, 2);
	b = &res.rt.backends[1];
	ck_assert_ptr_null(b->health.path);
	ck_assert_uint_eq(b->health.fall, 4);
	ck_assert_uint_eq(res.nerrors, 1);
	ck_assert_ptr_nonnull(strstr(res.errors[0].reason,
	    "Service default/api: annotation ingressd.io/health-rise"));
	compile_result_free(&res);
	store_free(st);
}
END_TEST

/* A Secret <ns>/<name> whose ca.crt is <pem> (NULL: no ca.crt). */
static void
ca_secret(struct objs *os, const char *ns, const char *name, const char *pem)
{
	struct obj *o = mk(os, OBJ_SECRET, ns, name, 0);

	o->u.secret.type = xstrdup("Opaque");
	if (pem != NULL) {
		o->u.secret.ca_crt = (unsigned char *)xstrdup(pem);
		o->u.secret.ca_crt_len = strlen(pem);
	}
}

/* The error whose reason contains <want>: 1 if there is one. */
static int
has_error(const struct compile_result *r, const char *want)
{
	size_t i;

	for (i = 0; i < r->nerrors; i++)
		if (strstr(r->errors[i].reason, want) != NULL)
			return 1;
	return 0;
}

/*
 * ingressd.io/backend-*: TLS on, default and explicit server names, CA
 * from a Secret (this namespace or another) or the system store, each
 * bundle stored once, verification off reported, bad values reported,
 * the Service's annotations overridden by the Ingress's.
 */
START_TEST(test_backend_tls)
{
	static const char *names[] = { "a", "b", "c", "d", "e", "f", "g",
	    "h" };
	struct compile_options opt;
	struct compile_result res;
	const struct route_backend *b;
	struct objs os;
	struct store *st;
	struct obj *o, *sv;
	char err[256];
	void *blob;
	size_t i, len;

	memset(&os, 0, sizeof(os));
	for (i = 0; i < UTIL_NELEM(names); i++)
		svc_port(svc(&os, "default", names[i]), "http", 80);
	sv = os.v[1];		/* Service b: HTTPS by its own annotation */
	ann(sv, "ingressd.io/backend-protocol", "HTTPS");
	ann(sv, "ingressd.io/backend-tls-server-name", "from.service");
	sv = os.v[7];		/* Service h: HTTPS, but the Ingress says HTTP */
	ann(sv, "ingressd.io/backend-protocol", "https");
	ca_secret(&os, "default", "ca1", "PEM ONE");
	ca_secret(&os, "other", "ca2", "PEM ONE");	/* same bytes */
	ca_secret(&os, "default", "noca", NULL);

	o = ing(&os, "default", "plain", 1, NULL);
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "a", "80");
	o = ing(&os, "default", "svc-https", 2, NULL);
	path(o, "b.example", "/", OBJ_PATH_PREFIX, "b", "80");
	o = ing(&os, "default", "secret", 3, NULL);
	ann(o, "ingressd.io/backend-protocol", "HTTPS");
	ann(o, "ingressd.io/backend-ca-secret", "ca1");
	path(o, "c.example", "/", OBJ_PATH_PREFIX, "c", "80");
	o = ing(&os, "default", "secret-other-ns", 4, NULL);
	ann(o, "ingressd.io/backend-protocol", "HTTPS");
	ann(o, "ingressd.io/backend-ca-secret", "other/ca2");
	ann(o, "ingressd.io/backend-tls-server-name", "bad/name");
	path(o, "d.example", "/", OBJ_PATH_PREFIX, "d", "80");
	o = ing(&os, "default", "off", 5, NULL);
	ann(o, "ingressd.io/backend-protocol", "HTTPS");
	ann(o, "ingressd.io/backend-tls-verify", "off");
	path(o, "e.example", "/", OBJ_PATH_PREFIX, "e", "80");
	o = ing(&os, "default", "missing", 6, NULL);
	ann(o, "ingressd.io/backend-protocol", "HTTPS");
	ann(o, "ingressd.io/backend-ca-secret", "noca");
	ann(o, "ingressd.io/backend-tls-verify", "maybe");
	path(o, "f.example", "/", OBJ_PATH_PREFIX, "f", "80");
	o = ing(&os, "default", "grpc", 7, NULL);
	ann(o, "ingressd.io/backend-protocol", "GRPC");
	path(o, "g.example", "/", OBJ_PATH_PREFIX, "g", "80");
	o = ing(&os, "default", "override", 8, NULL);
	ann(o, "ingressd.io/backend-protocol", "HTTP");
	path(o, "h.example", "/", OBJ_PATH_PREFIX, "h", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert_uint_eq(res.rt.nbackends, 8);

	b = &res.rt.backends[0];	/* a */
	ck_assert_uint_eq(b->tls.enabled, 0);
	b = &res.rt.backends[1];	/* b: the system store */
	ck_assert_uint_eq(b->tls.enabled, 1);
	ck_assert_uint_eq(b->tls.verify, 1);
	ck_assert_str_eq(b->tls.server_name, "from.service");
	ck_assert_int_ge(b->tls.ca, 0);
	ck_assert_uint_eq(res.rt.cas[b->tls.ca].system, 1);
	ck_assert_ptr_null(res.rt.cas[b->tls.ca].pem);	/* master loads it */
	b = &res.rt.backends[2];	/* c: the Secret's CA */
	ck_assert_uint_eq(b->tls.verify, 1);
	ck_assert_str_eq(b->tls.server_name, "c.default.svc");
	ck_assert_uint_eq(res.rt.cas[b->tls.ca].system, 0);
	ck_assert_uint_eq(res.rt.cas[b->tls.ca].len, 7);
	ck_assert_mem_eq(res.rt.cas[b->tls.ca].pem, "PEM ONE", 7);
	/* d: another namespace's Secret with the same bytes: stored once;
	 * a bad server name is reported and the default applies. */
	ck_assert_int_eq(res.rt.backends[3].tls.ca, b->tls.ca);
	ck_assert_str_eq(res.rt.backends[3].tls.server_name,
	    "d.default.svc");
	b = &res.rt.backends[4];	/* e: verification off */
	ck_assert_uint_eq(b->tls.enabled, 1);
	ck_assert_uint_eq(b->tls.verify, 0);
	ck_assert_int_eq(b->tls.ca, -1);
	b = &res.rt.backends[5];	/* f: no ca.crt: trusts nothing */
	ck_assert_uint_eq(b->tls.verify, 1);
	ck_assert_uint_eq(res.rt.cas[b->tls.ca].len, 0);
	ck_assert_uint_eq(res.rt.cas[b->tls.ca].system, 0);
	ck_assert_uint_eq(res.rt.backends[6].tls.enabled, 0);	/* g */
	ck_assert_uint_eq(res.rt.backends[7].tls.enabled, 0);	/* h */
	/* system, "PEM ONE", empty */
	ck_assert_uint_eq(res.rt.ncas, 3);

	ck_assert(has_error(&res, "backend default/d:80: annotation "
	    "ingressd.io/backend-tls-server-name: \"bad/name\""));
	ck_assert(has_error(&res, "backend default/e:80: TLS certificate "
	    "verification is off"));
	ck_assert(has_error(&res, "Secret default/noca has no ca.crt"));
	ck_assert(has_error(&res, "ingressd.io/backend-tls-verify: \"maybe\""));
	ck_assert(has_error(&res, "\"GRPC\" is not HTTP or HTTPS"));
	ck_assert_uint_eq(res.nerrors, 5);
	/* The table encodes, the system bundle not loaded yet or not. */
	ck_assert_int_eq(snapshot_encode(&res.rt, 1, &blob, &len, err,
	    sizeof(err)), 0);
	free(blob);
	compile_result_free(&res);
	store_free(st);
}
END_TEST

/* ingressd.io/load-balance: every policy, its argument, bad values. */
static const struct {
	const char	*value;
	uint32_t	 policy;
	const char	*arg;
	int		 error;
} policy_cases[] = {
	{ NULL, ROUTE_POLICY_LEAST_REQUEST, NULL, 0 },
	{ "round-robin", ROUTE_POLICY_ROUND_ROBIN, NULL, 0 },
	{ "least-request", ROUTE_POLICY_LEAST_REQUEST, NULL, 0 },
	{ "hash-source", ROUTE_POLICY_HASH_SOURCE, NULL, 0 },
	{ "hash-header:X-User", ROUTE_POLICY_HASH_HEADER, "X-User", 0 },
	{ "hash-cookie:sid", ROUTE_POLICY_HASH_COOKIE, "sid", 0 },
	{ "sticky-cookie", ROUTE_POLICY_STICKY_COOKIE, NULL, 0 },
	{ "sticky-cookie:route", ROUTE_POLICY_STICKY_COOKIE, "route", 0 },
	{ "hash-header", ROUTE_POLICY_LEAST_REQUEST, NULL, 1 },
	{ "hash-header:", ROUTE_POLICY_LEAST_REQUEST, NULL, 1 },
	{ "hash-header:a b", ROUTE_POLICY_LEAST_REQUEST, NULL, 1 },
	{ "hash-source:x", ROUTE_POLICY_LEAST_REQUEST, NULL, 1 },
	{ "random", ROUTE_POLICY_LEAST_REQUEST, NULL, 1 },
};

START_TEST(test_policies)
{
	struct compile_options opt;
	struct compile_result res;
	const struct route_backend *b;
	struct objs os;
	struct store *st;
	struct obj *o;
	size_t i;

	memset(&os, 0, sizeof(os));
	web(&os);
	o = ing(&os, "default", "lb", 1, NULL);
	if (policy_cases[_i].value != NULL)
		ann(o, "ingressd.io/load-balance", policy_cases[_i].value);
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "web", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert_uint_eq(res.rt.nbackends, 1);
	b = &res.rt.backends[0];
	ck_assert_uint_eq(b->policy, policy_cases[_i].policy);
	if (policy_cases[_i].arg == NULL)
		ck_assert_ptr_null(b->policy_arg);
	else
		ck_assert_str_eq(b->policy_arg, policy_cases[_i].arg);
	ck_assert_uint_eq(res.nerrors, (size_t)policy_cases[_i].error);
	compile_result_free(&res);
	store_free(st);
}
END_TEST

/* ---- TLS: spec.tls, Secrets, ssl-redirect and HSTS ---- */

/* A kubernetes.io/tls Secret with <crt> and <key> (copied). */
static void
tls_secret(struct objs *os, const char *name, const char *crt,
    size_t crtlen, const char *key, size_t keylen)
{
	struct obj *o = mk(os, OBJ_SECRET, "default", name, 0);
	struct obj_secret *sec = &o->u.secret;

	sec->type = xstrdup("kubernetes.io/tls");
	sec->tls_crt = malloc(crtlen + 1);
	sec->tls_key = malloc(keylen + 1);
	ck_assert(sec->tls_crt != NULL && sec->tls_key != NULL);
	memcpy(sec->tls_crt, crt, crtlen);
	memcpy(sec->tls_key, key, keylen);
	sec->tls_crt[crtlen] = sec->tls_key[keylen] = '\0';
	sec->tls_crt_len = crtlen;
	sec->tls_key_len = keylen;
}

/* spec.tls entry of <o>: <hosts> (NULL-terminated), <secret>. */
static void
tls_entry(struct obj *o, const char *secret, const char **hosts)
{
	struct obj_ingress_tls *t;
	char **h;

	t = grow(&o->u.ingress.tls, &o->u.ingress.ntls, sizeof(*t));
	t->secret = xstrdup(secret);
	for (; *hosts != NULL; hosts++) {
		h = grow(&t->hosts, &t->nhosts, sizeof(*h));
		*h = xstrdup(*hosts);
	}
}

/* A fresh self-signed pair; *<keyat>: where the key starts in <pem>. */
static char *
pem_pair(size_t *keyat)
{
	char err[256], *pem, *k;

	ck_assert_int_eq(tls_certs_selfsigned(&pem, err, sizeof(err)), 0);
	k = strstr(pem, "-----BEGIN PRIVATE KEY-----");
	ck_assert_ptr_nonnull(k);
	*keyat = (size_t)(k - pem);
	return pem;
}

static const struct route_path *
path_of(const struct route_table *rt, const char *host)
{
	size_t i;

	for (i = 0; i < rt->nhosts; i++)
		if (strcmp(rt->hosts[i].host, host) == 0)
			return &rt->hosts[i].paths[0];
	ck_abort_msg("no host %s", host);
	return NULL;
}

START_TEST(test_tls)
{
	static const char *web_good[] = { "a.example", "*.w.example", NULL };
	static const char *web_bad[] = { "b.example", NULL };
	static const char *web_missing[] = { "c.example", NULL };
	static const char *two_good[] = { "a.example", "d.example", NULL };
	struct compile_options opt;
	struct compile_result res;
	const struct route_path *p;
	struct objs os;
	struct store *st;
	struct obj *o;
	char *p1, *p2;
	size_t k1, k2, i;

	p1 = pem_pair(&k1);
	p2 = pem_pair(&k2);
	memset(&os, 0, sizeof(os));
	web(&os);
	tls_secret(&os, "good", p1, k1, p1 + k1, strlen(p1 + k1));
	tls_secret(&os, "good2", p2, k2, p2 + k2, strlen(p2 + k2));
	/* Certificate of one pair, key of the other. */
	tls_secret(&os, "bad", p1, k1, p2 + k2, strlen(p2 + k2));
	o = ing(&os, "default", "web", 1, NULL);
	ann(o, "ingressd.io/hsts", "true");
	tls_entry(o, "good", web_good);
	tls_entry(o, "bad", web_bad);
	tls_entry(o, "missing", web_missing);
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "web", "80");
	path(o, "x.w.example", "/", OBJ_PATH_PREFIX, "web", "80");
	path(o, "y.x.w.example", "/", OBJ_PATH_PREFIX, "web", "80");
	path(o, "b.example", "/", OBJ_PATH_PREFIX, "web", "80");
	path(o, "plain.example", "/", OBJ_PATH_PREFIX, "web", "80");
	o = ing(&os, "default", "two", 2, NULL);
	ann(o, "ingressd.io/ssl-redirect", "false");
	tls_entry(o, "good2", two_good);
	path(o, "d.example", "/", OBJ_PATH_PREFIX, "web", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);

	/* a.example from the older Ingress; bad and missing: no entry. */
	ck_assert_uint_eq(res.rt.ncerts, 3);
	for (i = 0; i < res.rt.ncerts; i++) {
		if (strcmp(res.rt.certs[i].name, "a.example") == 0 ||
		    strcmp(res.rt.certs[i].name, "*.w.example") == 0) {
			ck_assert_str_eq(res.rt.certs[i].source,
			    "default/good");
			ck_assert_int_eq(strncmp(res.rt.certs[i].pem, p1, k1),
			    0);
		} else {
			ck_assert_str_eq(res.rt.certs[i].name, "d.example");
			ck_assert_str_eq(res.rt.certs[i].source,
			    "default/good2");
		}
		ck_assert_ptr_nonnull(strstr(res.rt.certs[i].pem,
		    "PRIVATE KEY"));
	}
	ck_assert(has_error(&res, "TLS Secret default/bad: tls.key does not "
	    "match the certificate in tls.crt; its hosts use the default "
	    "certificate"));
	ck_assert(has_error(&res, "TLS Secret default/missing: not found"));

	p = path_of(&res.rt, "a.example");
	ck_assert_uint_eq(p->tls_flags, ROUTE_TLS_REDIRECT | ROUTE_TLS_HSTS);
	ck_assert_uint_eq(p->hsts_max_age, 31536000);
	p = path_of(&res.rt, "x.w.example");	/* the wildcard covers it */
	ck_assert_uint_eq(p->tls_flags, ROUTE_TLS_REDIRECT | ROUTE_TLS_HSTS);
	p = path_of(&res.rt, "y.x.w.example");	/* one label only */
	ck_assert_uint_eq(p->tls_flags, 0);
	p = path_of(&res.rt, "b.example");	/* TLS, default certificate */
	ck_assert_uint_eq(p->tls_flags, ROUTE_TLS_REDIRECT | ROUTE_TLS_HSTS);
	p = path_of(&res.rt, "plain.example");
	ck_assert_uint_eq(p->tls_flags, 0);
	p = path_of(&res.rt, "d.example");	/* ssl-redirect "false" */
	ck_assert_uint_eq(p->tls_flags, 0);
	compile_result_free(&res);
	store_free(st);
	free(p1);
	free(p2);
}
END_TEST

/* Bad TLS annotations are reported and the defaults apply. */
START_TEST(test_tls_annotations)
{
	static const char *hosts[] = { "a.example", NULL };
	struct compile_options opt;
	struct compile_result res;
	const struct route_path *p;
	struct objs os;
	struct store *st;
	struct obj *o;
	size_t i;

	memset(&os, 0, sizeof(os));
	web(&os);
	o = ing(&os, "default", "web", 1, NULL);
	ann(o, "ingressd.io/ssl-redirect", "yes");
	ann(o, "ingressd.io/hsts", "true");
	ann(o, "ingressd.io/hsts-max-age", "1h");
	ann(o, "ingressd.io/hsts-include-subdomains", "true");
	tls_entry(o, "none", hosts);
	path(o, "a.example", "/", OBJ_PATH_PREFIX, "web", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert(has_error(&res, "annotation ingressd.io/ssl-redirect: "
	    "\"yes\" is not \"true\" or \"false\"; true applies"));
	p = path_of(&res.rt, "a.example");
	ck_assert_uint_eq(p->tls_flags, ROUTE_TLS_REDIRECT | ROUTE_TLS_HSTS |
	    ROUTE_TLS_HSTS_SUBDOMAINS);
	ck_assert_uint_eq(p->hsts_max_age, 3600);
	compile_result_free(&res);
	store_free(st);
}
END_TEST

/* Recompiling the same store gives the same result. */
START_TEST(test_idempotent)
{
	struct compile_options opt;
	struct compile_result a, b;
	struct objs os;
	struct store *st;
	char *da, *db;
	size_t i;

	memset(&os, 0, sizeof(os));
	build_merge(&os);
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	ck_assert_int_eq(compile_routes(st, &opt, &a), 0);
	ck_assert_int_eq(compile_routes(st, &opt, &b), 0);
	da = dump(&a);
	db = dump(&b);
	ck_assert_str_eq(da, db);
	free(da);
	free(db);
	compile_result_free(&a);
	compile_result_free(&b);
	store_free(st);
}
END_TEST

/* ---------------------------------------------------------------- */
/* compile_update_endpoints(): the same snapshot as a full compile   */
/* ---------------------------------------------------------------- */

#define UPD_NS		2
#define UPD_SVCS	6
#define UPD_SLICES	4	/* slice names per namespace */
#define UPD_STEPS	300

static uint64_t upd_rng = 0x9e3779b97f4a7c15ULL;

/* xorshift64: a fixed seed, so a failure replays. */
static unsigned
upd_rand(unsigned n)
{
	upd_rng ^= upd_rng << 13;
	upd_rng ^= upd_rng >> 7;
	upd_rng ^= upd_rng << 17;
	return (unsigned)(upd_rng % n);
}

static void
upd_put(struct store *st, struct objs *os)
{
	size_t i;

	for (i = 0; i < os->n; i++)
		ck_assert_int_eq(store_put(st, os->v[i]), 0);
	os->n = 0;
}

/* Random ready/terminating IPv4 endpoints (some repeated) on 2 ports. */
static void
upd_fill(struct obj_endpoint_slice *s)
{
	char addr[32];
	unsigned i, n = upd_rand(4);

	if (upd_rand(5) != 0)
		sl_port(s, "http", 8080 + (int)upd_rand(2));
	if (upd_rand(3) == 0)
		sl_port(s, "admin", 9000);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "10.0.%u.%u", upd_rand(3),
		    1 + upd_rand(6));
		sl_ep(s, addr, upd_rand(4) != 0, upd_rand(5) == 0);
	}
}

/* A slice <name> of namespace <ns> for a random Service (or none). */
static void
upd_slice(struct objs *os, const char *ns, unsigned k)
{
	char name[32], svcname[32];
	struct obj_endpoint_slice *s;

	snprintf(name, sizeof(name), "sl%u", k);
	snprintf(svcname, sizeof(svcname), "s%u", upd_rand(UPD_SVCS + 1));
	s = slice(os, ns, name, svcname, upd_rand(8) == 0 ? "FQDN" : "IPv4");
	if (upd_rand(10) == 0) {	/* no service-name label */
		free(s->service_name);
		s->service_name = NULL;
	}
	upd_fill(s);
}

/* v1 Endpoints for Service s<k>: used only while it has no slice. */
static void
upd_endpoints(struct objs *os, const char *ns, unsigned k)
{
	char name[32];

	snprintf(name, sizeof(name), "s%u", k);
	upd_fill(subset(endpoints(os, ns, name)));
}

/*
 * Services (one ExternalName, one missing), Ingresses naming them by
 * port name and number, then random slice and Endpoints changes: after
 * each burst the updated table must encode to the same bytes as a full
 * compile of the store, and dump the same (errors included).
 */
START_TEST(test_update_endpoints_matches_full)
{
	static const char *const nss[UPD_NS] = { "a", "b" };
	struct compile_options opt;
	struct compile_result cur, full;
	struct objs os;
	struct store *st;
	struct obj *o;
	char name[32], host[64], svcname[32], *const *cns, *const *csvc;
	char *d1, *d2, err[256];
	void *b1, *b2;
	size_t l1, l2, nc;
	unsigned i, k, step, burst, same = 0;

	memset(&os, 0, sizeof(os));
	memset(&opt, 0, sizeof(opt));
	opt.resolve = fake_resolve;
	opt.resolve_arg = &fake_nasked;
	st = store_new();
	for (i = 0; i < UPD_NS; i++) {
		for (k = 0; k < UPD_SVCS; k++) {
			snprintf(name, sizeof(name), "s%u", k);
			o = svc(&os, nss[i], name);
			svc_port(o, "http", 80);
			if (k % 2 == 0)
				svc_port(o, "admin", 9000);
			if (k == 3) {
				free(o->u.service.type);
				o->u.service.type = xstrdup("ExternalName");
				o->u.service.external_name =
				    xstrdup("db.example.org");
			}
			upd_put(st, &os);
			/* s<UPD_SVCS> is never created: "not found". */
			snprintf(name, sizeof(name), "i%u", k);
			o = ing(&os, nss[i], name, 100 + k, NULL);
			snprintf(host, sizeof(host), "h%u.%s.test", k, nss[i]);
			snprintf(svcname, sizeof(svcname), "s%u", k);
			path(o, host, "/", OBJ_PATH_PREFIX, svcname, "http");
			path(o, host, "/admin", OBJ_PATH_EXACT, svcname,
			    k % 2 == 0 ? "9000" : "admin");
			snprintf(svcname, sizeof(svcname), "s%u", (k + 1) %
			    (UPD_SVCS + 1));
			path(o, "shared.test", name, OBJ_PATH_PREFIX, svcname,
			    "80");
			upd_put(st, &os);
		}
		for (k = 0; k < UPD_SLICES; k++) {
			upd_slice(&os, nss[i], k);
			upd_put(st, &os);
		}
		upd_endpoints(&os, nss[i], 1);
		upd_put(st, &os);
	}
	fake_nasked = 0;
	ck_assert_int_eq(compile_routes(st, &opt, &cur), 0);
	store_changes_reset(st);

	for (step = 0; step < UPD_STEPS; step++) {
		for (burst = 1 + upd_rand(3); burst > 0; burst--) {
			i = upd_rand(UPD_NS);
			k = upd_rand(UPD_SLICES);
			snprintf(name, sizeof(name), "sl%u", k);
			switch (upd_rand(4)) {
			case 0:
				store_delete(st, OBJ_ENDPOINT_SLICE, nss[i],
				    name);
				break;
			case 1:
				upd_endpoints(&os, nss[i],
				    upd_rand(UPD_SVCS + 1));
				upd_put(st, &os);
				break;
			default:
				upd_slice(&os, nss[i], k);
				upd_put(st, &os);
				break;
			}
		}
		ck_assert_int_eq(store_endpoint_changes(st, &cns, &csvc, &nc),
		    1);
		ck_assert_int_eq(compile_update_endpoints(st, &opt, &cur, cns,
		    csvc, nc), 0);
		store_changes_reset(st);
		fake_nasked = 0;
		ck_assert_int_eq(compile_routes(st, &opt, &full), 0);
		d1 = dump(&cur);
		d2 = dump(&full);
		ck_assert_str_eq(d1, d2);
		ck_assert_int_eq(snapshot_encode(&cur.rt, 7, &b1, &l1, err,
		    sizeof(err)), 0);
		ck_assert_int_eq(snapshot_encode(&full.rt, 7, &b2, &l2, err,
		    sizeof(err)), 0);
		ck_assert_uint_eq(l1, l2);
		ck_assert(memcmp(b1, b2, l1) == 0);
		/* The case where nothing changed must not be all there is. */
		same += strstr(d1, "10.0.") == NULL;
		free(d1);
		free(d2);
		free(b1);
		free(b2);
		compile_result_free(&full);
	}
	ck_assert_uint_lt(same, UPD_STEPS / 2);

	/* Anything but endpoints changing asks for the whole compile. */
	o = svc(&os, "a", "s0");
	svc_port(o, "http", 81);
	upd_put(st, &os);
	ck_assert_int_eq(store_endpoint_changes(st, &cns, &csvc, &nc), 0);
	compile_result_free(&cur);
	store_free(st);
}
END_TEST

/*
 * compile asks the callback about every ExternalName host name its
 * backends use (so the master knows what to keep resolving), never about
 * IP literals, and nothing when no route uses one.
 */
START_TEST(test_external_names)
{
	struct compile_options opt;
	struct compile_result res;
	struct objs os;
	struct store *st;
	size_t i, db = 0, slow = 0, gone = 0, empty = 0;

	memset(&os, 0, sizeof(os));
	build_external(&os);
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	opt.resolve = fake_resolve;
	opt.resolve_arg = &fake_nasked;
	fake_nasked = 0;
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	for (i = 0; i < fake_nasked; i++) {
		if (strcmp(fake_asked[i], "db.example.org") == 0)
			db++;
		else if (strcmp(fake_asked[i], "slow.example.org") == 0)
			slow++;
		else if (strcmp(fake_asked[i], "gone.example.org") == 0)
			gone++;
		else if (strcmp(fake_asked[i], "empty.example.org") == 0)
			empty++;
		else
			ck_abort_msg("asked about \"%s\"", fake_asked[i]);
	}
	/* db: backends db:http, db:9000 and bare:5432. */
	ck_assert_uint_eq(db, 3);
	ck_assert_uint_eq(slow, 1);
	ck_assert_uint_eq(gone, 1);
	ck_assert_uint_eq(empty, 1);
	compile_result_free(&res);
	store_free(st);

	/* No Ingress uses an ExternalName: no question. */
	memset(&os, 0, sizeof(os));
	web(&os);
	xsvc(&os, "idle", "idle.example.org");
	path(ing(&os, "default", "w", 1, NULL), NULL, "/", OBJ_PATH_PREFIX,
	    "web", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	fake_nasked = 0;
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	ck_assert_uint_eq(fake_nasked, 0);
	compile_result_free(&res);
	store_free(st);
}
END_TEST

/* Without a resolve callback: no endpoints and no error, literals work. */
START_TEST(test_external_no_callback)
{
	struct compile_options opt;
	struct compile_result res;
	struct objs os;
	struct store *st;
	char *got;
	size_t i;

	memset(&os, 0, sizeof(os));
	web(&os);
	svc_port(xsvc(&os, "db", "db.example.org"), "http", 80);
	svc_port(xsvc(&os, "lit", "192.0.2.50"), "http", 80);
	path(ing(&os, "default", "w", 1, NULL), NULL, "/db", OBJ_PATH_PREFIX,
	    "db", "http");
	path(os.v[os.n - 1], NULL, "/lit", OBJ_PATH_PREFIX, "lit", "80");
	st = store_new();
	for (i = 0; i < os.n; i++)
		ck_assert_int_eq(store_put(st, os.v[i]), 0);
	memset(&opt, 0, sizeof(opt));
	ck_assert_int_eq(compile_routes(st, &opt, &res), 0);
	got = dump(&res);
	ck_assert_str_eq(got,
	    "H \n"
	    "P /db prefix default/db:http default/w\n"
	    "P /lit prefix default/lit:80 default/w\n"
	    "B default/db:http lr 0 0\n"
	    "B default/lit:80 lr 0 0 192.0.2.50:80\n");
	free(got);
	compile_result_free(&res);
	store_free(st);
}
END_TEST

static Suite *
compile_suite(void)
{
	Suite *s = suite_create("compile");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_cases, 0,
	    (int)(UTIL_NELEM(cases) * NORDERS));
	tcase_add_test(tc, test_empty_and_settings);
	tcase_add_test(tc, test_idempotent);
	tcase_add_test(tc, test_update_endpoints_matches_full);
	tcase_add_test(tc, test_health_annotations);
	tcase_add_test(tc, test_health_service_annotations);
	tcase_add_test(tc, test_backend_tls);
	tcase_add_loop_test(tc, test_policies, 0,
	    (int)UTIL_NELEM(policy_cases));
	tcase_add_test(tc, test_external_names);
	tcase_add_test(tc, test_external_no_callback);
	tcase_add_test(tc, test_tls);
	tcase_add_test(tc, test_tls_annotations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(compile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
