/*
 * compile: Kubernetes objects -> route table.
 *
 * Runs in the master after each debounced burst of store changes.  A pure
 * function: it reads the store and the options and returns a new route
 * table plus per-Ingress errors.  No I/O, no globals, no logging, nothing
 * kept between calls; bad objects never make it fail, only lack of memory
 * does.  The same store gives the same table, byte for byte, whatever the
 * order objects arrived in.
 *
 * Passes, each a function below:
 *  1. cc_select: pick our Ingresses (class selection), oldest first, and
 *     read their ingressd.io/ annotations;
 *  2. cc_claims: turn rules and defaultBackends into claims (host, path,
 *     type, backend reference), numbered in age order;
 *  3. cc_arbitrate: sort claims by key; the first of each key wins;
 *  4. cc_backends: one backend per name among winning claims, settings of
 *     its oldest user (TLS to it, with the CA bundles it trusts stored
 *     once per table), endpoints resolved once (EndpointSlices, Endpoints,
 *     or for an ExternalName the addresses the caller's resolve callback
 *     has cached: compile itself never looks a name up);
 *  5. cc_report, cc_layout, cc_sort_errors: errors, then hosts, paths
 *     and backends, already sorted by the passes above; errors grouped
 *     by Ingress, oldest first;
 *  6. cc_tls (between 1 and 2): the certificates of spec.tls, from
 *     kubernetes.io/tls Secrets checked by tls_certs_check() (OpenSSL on
 *     memory; the only input besides the store is the clock, for the
 *     expiry warning); a bad Secret is reported and its hosts get the
 *     default certificate, which the master adds.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "master/compile.h"
#include "master/objects.h"
#include "master/store.h"
#include "master/tls_certs.h"

#define COMPILE_CONTROLLER	"ingressd.io/ingress-controller"
#define ANN_LOAD_BALANCE	"ingressd.io/load-balance"
#define ANN_CONNECT_TIMEOUT	"ingressd.io/connect-timeout"
#define ANN_RESPONSE_TIMEOUT	"ingressd.io/response-timeout"
#define ANN_HEALTH_MODE		"ingressd.io/health-mode"
#define ANN_HEALTH_PATH		"ingressd.io/health-path"
#define ANN_HEALTH_PORT		"ingressd.io/health-port"
#define ANN_HEALTH_HOST		"ingressd.io/health-host"
#define ANN_HEALTH_INTERVAL	"ingressd.io/health-interval"
#define ANN_HEALTH_TIMEOUT	"ingressd.io/health-timeout"
#define ANN_HEALTH_RISE		"ingressd.io/health-rise"
#define ANN_HEALTH_FALL		"ingressd.io/health-fall"
#define ANN_HEALTH_EXPECT	"ingressd.io/health-expect"
#define ANN_BACKEND_PROTOCOL	"ingressd.io/backend-protocol"
#define ANN_BACKEND_CA_SECRET	"ingressd.io/backend-ca-secret"
#define ANN_BACKEND_TLS_VERIFY	"ingressd.io/backend-tls-verify"
#define ANN_BACKEND_TLS_NAME	"ingressd.io/backend-tls-server-name"
#define ANN_SSL_REDIRECT	"ingressd.io/ssl-redirect"
#define ANN_HSTS		"ingressd.io/hsts"
#define ANN_HSTS_MAX_AGE	"ingressd.io/hsts-max-age"
#define ANN_HSTS_SUBDOMAINS	"ingressd.io/hsts-include-subdomains"
#define CC_HSTS_MAX_AGE		31536000	/* one year, in seconds */
#define CC_SECRET_TLS		"kubernetes.io/tls"

/*
 * ingressd.io/load-balance values; <arg> 1: ":NAME" required (a header or
 * cookie name), 2: optional.
 */
static const struct {
	const char	*name;
	uint32_t	 policy;
	int		 arg;
} cc_policies[] = {
	{ "round-robin",	ROUTE_POLICY_ROUND_ROBIN,	0 },
	{ "least-request",	ROUTE_POLICY_LEAST_REQUEST,	0 },
	{ "hash-source",	ROUTE_POLICY_HASH_SOURCE,	0 },
	{ "hash-header",	ROUTE_POLICY_HASH_HEADER,	1 },
	{ "hash-cookie",	ROUTE_POLICY_HASH_COOKIE,	1 },
	{ "sticky-cookie",	ROUTE_POLICY_STICKY_COOKIE,	2 },
};

/* An HTTP token (RFC 9110 5.6.2) of 1 to 64 characters: header and
 * cookie names. */
static int
cc_token_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    strchr("!#$%&'*+-.^_`|~", s[i]) != NULL))
			return 0;
	return 1;
}

/* One of our Ingresses, with its per-backend settings. */
struct cc_ingress {
	const struct obj *o;
	char		*id;		/* "ns/name" */
	uint32_t	 policy;
	const char	*policy_arg;	/* in the annotation, or NULL */
	size_t		 policy_arglen;
	uint32_t	 connect_ms;
	uint32_t	 response_ms;
	struct route_health health;	/* strings borrowed */
	uint32_t	 tls_flags;	/* ROUTE_TLS_* but REDIRECT: by host */
	int		 ssl_redirect;	/* ingressd.io/ssl-redirect */
	uint32_t	 hsts_max_age;
};

/* One (host, path, type) or defaultBackend an Ingress asks for. */
struct cc_claim {
	size_t		 ing;		/* index into cc.ings, age order */
	int		 is_default;	/* spec.defaultBackend */
	char		*host;		/* "" for any host; NULL if default */
	char		*path;		/* normalized; NULL if default */
	enum route_path_type type;
	const struct obj_backend *ref;
	char		*bename;	/* "ns/service:port" */
	size_t		 winner;	/* claim that got the key (maybe self) */
	size_t		 backend;	/* index into rt.backends (winners) */
	int		 optconflict;	/* settings differ from the owner's */
};

/* Where an error belongs: errors are grouped by Ingress, oldest first. */
struct cc_errkey {
	size_t		 ing;
	size_t		 seq;		/* index in the unsorted errors */
};

/* An endpoint being collected, with its text for sorting and dedup. */
struct cc_ep {
	char		 text[UTIL_ADDRSTRLEN];
	struct route_endpoint ep;
};

struct cc {
	const struct store *st;
	const struct compile_options *opt;
	struct compile_result *out;
	size_t		 errcap;
	struct cc_errkey *errkeys;	/* parallel to out->errors */
	struct cc_ingress *ings;
	size_t		 nings;
	struct cc_claim	*claims;	/* in age order */
	size_t		 nclaims;
	size_t		 claimcap;
	struct cc_claim	**order;	/* sorted by key, then age */
	char		**reasons;	/* per backend: why no endpoints */
	size_t		*owners;	/* per backend: ingress that set it */
	const struct obj **slices;	/* by namespace, service name */
	size_t		 nslices;
	struct cc_ep	*eps;		/* scratch for cc_resolve */
	size_t		 neps;
	size_t		 epcap;
	const char	**tlshosts;	/* spec.tls hosts, sorted, borrowed */
	size_t		 ntlshosts;
};

static int
cc_strcmp0(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

/* Port names: NULL and "" both mean unnamed and match each other. */
static int
cc_port_name_eq(const char *a, const char *b)
{
	return cc_strcmp0(a, b) == 0;
}

/*
 * Appends an error about our Ingress number <ing>.  Returns 0, or -1 when
 * out of memory (nothing appended).
 */
static int __attribute__((format(printf, 3, 4)))
cc_error(struct cc *c, size_t ing, const char *fmt, ...)
{
	struct compile_result *out = c->out;
	const struct obj *o = c->ings[ing].o;
	struct compile_error *e;
	struct cc_errkey *k;
	size_t ncap;
	va_list ap;
	int r;

	if (out->nerrors == c->errcap) {
		ncap = c->errcap == 0 ? 8 : c->errcap * 2;
		e = reallocarray(out->errors, ncap, sizeof(*e));
		if (e == NULL)
			return -1;
		out->errors = e;
		k = reallocarray(c->errkeys, ncap, sizeof(*k));
		if (k == NULL)
			return -1;
		c->errkeys = k;
		c->errcap = ncap;
	}
	e = &out->errors[out->nerrors];
	memset(e, 0, sizeof(*e));
	if (asprintf(&e->object, "Ingress %s", c->ings[ing].id) == -1) {
		e->object = NULL;
		goto bad;
	}
	if (o->origin != NULL && (e->origin = strdup(o->origin)) == NULL)
		goto bad;
	va_start(ap, fmt);
	r = vasprintf(&e->reason, fmt, ap);
	va_end(ap);
	if (r == -1) {
		e->reason = NULL;
		goto bad;
	}
	c->errkeys[out->nerrors].ing = ing;
	c->errkeys[out->nerrors].seq = out->nerrors;
	out->nerrors++;
	return 0;
 bad:
	free(e->object);
	free(e->origin);
	return -1;
}

/* Sets *<reason> to a new string; 0, or -1 when out of memory. */
static int __attribute__((format(printf, 2, 3)))
cc_reason(char **reason, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(reason, fmt, ap);
	va_end(ap);
	if (r == -1) {
		*reason = NULL;
		return -1;
	}
	return 0;
}

/* "example.com/api (Prefix)", "/api (Exact, any host)" into <buf>. */
static const char *
cc_where(const struct cc_claim *cl, char *buf, size_t len)
{
	const char *type = cl->type == ROUTE_PATH_EXACT ? "Exact" : "Prefix";

	if (cl->is_default)
		snprintf(buf, len, "defaultBackend");
	else if (cl->host[0] == '\0')
		snprintf(buf, len, "%s (%s, any host)", cl->path, type);
	else
		snprintf(buf, len, "%s%s (%s)", cl->host, cl->path, type);
	return buf;
}

/* The IngressClass <name>, whatever namespace the provider gave it. */
static const struct obj *
cc_ingress_class(const struct cc *c, const char *name)
{
	const struct obj *o;
	size_t i, n;

	n = store_count(c->st, OBJ_INGRESS_CLASS);
	for (i = 0; i < n; i++) {
		o = store_at(c->st, OBJ_INGRESS_CLASS, i);
		if (o != NULL && cc_strcmp0(o->meta.name, name) == 0)
			return o;
	}
	return NULL;
}

/* 1 when Ingress <o> is ours per DESIGN.md "Routing semantics". */
static int
cc_ours(const struct cc *c, const struct obj *o)
{
	const struct obj_ingress *ing = &o->u.ingress;
	const char *want = c->opt->ingress_class;
	const struct obj *ic;

	if (want != NULL) {
		if (ing->class_name != NULL)
			return strcmp(ing->class_name, want) == 0;
		if (ing->class_annotation != NULL)
			return strcmp(ing->class_annotation, want) == 0;
		/* No admission controller applies the default: we do. */
		ic = cc_ingress_class(c, want);
		return ic != NULL && ic->u.ingress_class.is_default;
	}
	if (ing->class_name == NULL)
		return ing->class_annotation == NULL;
	ic = cc_ingress_class(c, ing->class_name);
	return ic != NULL &&
	    cc_strcmp0(ic->u.ingress_class.controller, COMPILE_CONTROLLER) == 0;
}

int
compile_ingress_ours(const struct store *st, const char *ingress_class,
    const struct obj *o)
{
	struct compile_options opt;
	struct cc c;

	if (o->kind != OBJ_INGRESS)
		return 0;
	memset(&opt, 0, sizeof(opt));
	memset(&c, 0, sizeof(c));
	opt.ingress_class = ingress_class;
	c.st = st;
	c.opt = &opt;
	return cc_ours(&c, o);
}

/* Oldest first; equal creation times by namespace, then name. */
static int
cc_age_cmp(const void *a, const void *b)
{
	const struct obj *x = ((const struct cc_ingress *)a)->o;
	const struct obj *y = ((const struct cc_ingress *)b)->o;
	int r;

	if (x->meta.creation != y->meta.creation)
		return x->meta.creation < y->meta.creation ? -1 : 1;
	if ((r = cc_strcmp0(x->meta.namespace, y->meta.namespace)) != 0)
		return r;
	return cc_strcmp0(x->meta.name, y->meta.name);
}

/*
 * Reads annotation duration <key> of <ci> into *<ms> (0: global).  A bad
 * value is reported and leaves 0.  Returns -1 only when out of memory.
 */
static int
cc_duration(struct cc *c, struct cc_ingress *ci, const char *key,
    uint32_t *ms)
{
	const char *v;
	uint64_t x;

	*ms = 0;
	if ((v = objects_annotation(ci->o, key)) == NULL)
		return 0;
	if (util_parse_duration_ms(v, &x) == -1 || x > UINT32_MAX)
		return cc_error(c, (size_t)(ci - c->ings), "annotation %s: "
		    "invalid duration \"%s\" (e.g. \"5s\", \"500ms\"); the "
		    "global timeout applies", key, v);
	*ms = (uint32_t)x;
	return 0;
}

/* A Host header value for probes: 1 to 255 visible characters, no '/'. */
static int
cc_host_ok(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (i >= 255 || v[i] <= ' ' || v[i] >= 0x7f || v[i] == '/')
			return 0;
	return i > 0;
}

/* Where health annotations come from, and whether to report them. */
struct cc_hsrc {
	const struct obj *o;
	size_t		 at;		/* Ingress the errors belong to */
	const char	*who;		/* "" or "Service ns/name: " */
	int		 quiet;		/* already reported */
};

/* Reports a bad health annotation of <src> (unless quiet); -1: ENOMEM. */
static int
cc_hbad(struct cc *c, const struct cc_hsrc *src, const char *key,
    const char *v, const char *want)
{
	if (src->quiet)
		return 0;
	return cc_error(c, src->at, "%sannotation %s: \"%s\" is not %s; the "
	    "default applies", src->who, key, v, want);
}

/* A whole number in [<min>, <max>] from annotation <key>, into *<v>. */
static int
cc_hnumber(struct cc *c, const struct cc_hsrc *src, const char *key,
    uint32_t min, uint32_t max, uint32_t *v)
{
	const char *s;
	char *end, want[64];
	unsigned long x;

	if ((s = objects_annotation(src->o, key)) == NULL)
		return 0;
	errno = 0;
	x = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    x < min || x > max) {
		snprintf(want, sizeof(want), "a number from %u to %u", min,
		    max);
		return cc_hbad(c, src, key, s, want);
	}
	*v = (uint32_t)x;
	return 0;
}

/* A duration of at least 1 ms from annotation <key>, into *<v>. */
static int
cc_hduration(struct cc *c, const struct cc_hsrc *src, const char *key,
    uint32_t *v)
{
	const char *s;
	uint64_t x;

	if ((s = objects_annotation(src->o, key)) == NULL)
		return 0;
	if (util_parse_duration_ms(s, &x) == -1 || x == 0 || x > UINT32_MAX)
		return cc_hbad(c, src, key, s, "a duration (e.g. \"1s\", "
		    "\"500ms\")");
	*v = (uint32_t)x;
	return 0;
}

/*
 * Applies the ingressd.io/health-* annotations of <src> over <h>.  A bad
 * value is reported (unless quiet) and leaves the field alone.  The
 * strings stay the object's.  -1 on ENOMEM.
 */
static int
cc_health_apply(struct cc *c, const struct cc_hsrc *src,
    struct route_health *h)
{
	const char *v;
	uint32_t lo, hi;

	if ((v = objects_annotation(src->o, ANN_HEALTH_MODE)) != NULL) {
		if (strcmp(v, "tcp") == 0)
			h->mode = ROUTE_HEALTH_TCP;
		else if (strcmp(v, "http") == 0)
			h->mode = ROUTE_HEALTH_HTTP;
		else if (cc_hbad(c, src, ANN_HEALTH_MODE, v,
		    "a mode (http, tcp)") == -1)
			return -1;
	}
	if ((v = objects_annotation(src->o, ANN_HEALTH_PATH)) != NULL) {
		if (util_http_path_ok(v)) {
			h->path = (char *)(uintptr_t)v;
			/* A path asks for an HTTP probe unless told. */
			if (objects_annotation(src->o, ANN_HEALTH_MODE) ==
			    NULL)
				h->mode = ROUTE_HEALTH_HTTP;
		} else if (cc_hbad(c, src, ANN_HEALTH_PATH, v, "a path "
		    "(starts with '/', no spaces)") == -1)
			return -1;
	}
	if ((v = objects_annotation(src->o, ANN_HEALTH_HOST)) != NULL) {
		if (cc_host_ok(v))
			h->host = (char *)(uintptr_t)v;
		else if (cc_hbad(c, src, ANN_HEALTH_HOST, v, "a host name") ==
		    -1)
			return -1;
	}
	if ((v = objects_annotation(src->o, ANN_HEALTH_EXPECT)) != NULL) {
		if (util_parse_status_range(v, &lo, &hi) == 0) {
			h->expect_lo = lo;
			h->expect_hi = hi;
		} else if (cc_hbad(c, src, ANN_HEALTH_EXPECT, v, "a status "
		    "range (e.g. 200-399)") == -1)
			return -1;
	}
	if (cc_hnumber(c, src, ANN_HEALTH_PORT, 1, 65535, &h->port) == -1 ||
	    cc_hnumber(c, src, ANN_HEALTH_RISE, 1, 100, &h->rise) == -1 ||
	    cc_hnumber(c, src, ANN_HEALTH_FALL, 1, 100, &h->fall) == -1 ||
	    cc_hduration(c, src, ANN_HEALTH_INTERVAL, &h->interval_ms) == -1 ||
	    cc_hduration(c, src, ANN_HEALTH_TIMEOUT, &h->timeout_ms) == -1)
		return -1;
	return 0;
}

/* The health probe of <ci>: the defaults, then its annotations. */
static int
cc_health(struct cc *c, struct cc_ingress *ci)
{
	struct cc_hsrc src = { ci->o, (size_t)(ci - c->ings), "", 0 };

	ci->health = c->opt->health;
	return cc_health_apply(c, &src, &ci->health);
}

/*
 * Boolean annotation <key> of <ci> into *<v> ("true"/"false"; absent or
 * bad leaves <def>, bad is reported).  -1 only when out of memory.
 */
static int
cc_bool(struct cc *c, struct cc_ingress *ci, const char *key, int def,
    int *v)
{
	const char *s;

	*v = def;
	if ((s = objects_annotation(ci->o, key)) == NULL)
		return 0;
	if (strcmp(s, "true") == 0)
		*v = 1;
	else if (strcmp(s, "false") == 0)
		*v = 0;
	else
		return cc_error(c, (size_t)(ci - c->ings), "annotation %s: "
		    "\"%s\" is not \"true\" or \"false\"; %s applies", key, s,
		    def ? "true" : "false");
	return 0;
}

/* The ssl-redirect and HSTS annotations of <ci>; -1 on ENOMEM. */
static int
cc_tls_settings(struct cc *c, struct cc_ingress *ci)
{
	const char *v;
	uint64_t x;
	int hsts, sub;

	if (cc_bool(c, ci, ANN_SSL_REDIRECT, 1, &ci->ssl_redirect) == -1 ||
	    cc_bool(c, ci, ANN_HSTS, 0, &hsts) == -1 ||
	    cc_bool(c, ci, ANN_HSTS_SUBDOMAINS, 0, &sub) == -1)
		return -1;
	ci->tls_flags = (hsts ? ROUTE_TLS_HSTS : 0) |
	    (hsts && sub ? ROUTE_TLS_HSTS_SUBDOMAINS : 0);
	ci->hsts_max_age = CC_HSTS_MAX_AGE;
	if ((v = objects_annotation(ci->o, ANN_HSTS_MAX_AGE)) == NULL)
		return 0;
	if (util_parse_duration_ms(v, &x) == -1 || x / 1000 > 0x7fffffff ||
	    x % 1000 != 0)
		return cc_error(c, (size_t)(ci - c->ings), "annotation %s: "
		    "\"%s\" is not a duration in whole seconds (e.g. "
		    "\"31536000s\", \"8760h\"); %u seconds apply",
		    ANN_HSTS_MAX_AGE, v, CC_HSTS_MAX_AGE);
	ci->hsts_max_age = (uint32_t)(x / 1000);
	return 0;
}

/* Per-backend settings of <ci> from its annotations; -1 on ENOMEM. */
static int
cc_settings(struct cc *c, struct cc_ingress *ci)
{
	const char *v, *colon;
	size_t i, n;

	ci->policy = ROUTE_POLICY_LEAST_REQUEST;
	ci->policy_arg = NULL;
	ci->policy_arglen = 0;
	if ((v = objects_annotation(ci->o, ANN_LOAD_BALANCE)) != NULL) {
		colon = strchr(v, ':');
		n = colon != NULL ? (size_t)(colon - v) : strlen(v);
		for (i = 0; i < UTIL_NELEM(cc_policies); i++)
			if (strlen(cc_policies[i].name) == n &&
			    strncmp(v, cc_policies[i].name, n) == 0)
				break;
		if (i < UTIL_NELEM(cc_policies) && ((colon == NULL &&
		    cc_policies[i].arg != 1) || (colon != NULL &&
		    cc_policies[i].arg != 0 && cc_token_ok(colon + 1,
		    strlen(colon + 1))))) {
			ci->policy = cc_policies[i].policy;
			if (colon != NULL) {
				ci->policy_arg = colon + 1;
				ci->policy_arglen = strlen(colon + 1);
			}
		} else if (cc_error(c, (size_t)(ci - c->ings), "annotation %s: "
		    "unknown policy \"%s\" (round-robin, least-request, "
		    "hash-source, hash-header:NAME, hash-cookie:NAME, "
		    "sticky-cookie[:NAME]); least-request applies",
		    ANN_LOAD_BALANCE, v) == -1)
			return -1;
	}
	if (cc_duration(c, ci, ANN_CONNECT_TIMEOUT, &ci->connect_ms) == -1 ||
	    cc_duration(c, ci, ANN_RESPONSE_TIMEOUT, &ci->response_ms) == -1 ||
	    cc_health(c, ci) == -1 || cc_tls_settings(c, ci) == -1)
		return -1;
	return 0;
}

/* Pass 1: our Ingresses, oldest first, with their settings. */
static int
cc_select(struct cc *c)
{
	const struct obj *o;
	size_t i, n;

	n = store_count(c->st, OBJ_INGRESS);
	if (n == 0)
		return 0;
	if ((c->ings = calloc(n, sizeof(*c->ings))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		/* NULL here means the store could not sort: ENOMEM. */
		if ((o = store_at(c->st, OBJ_INGRESS, i)) == NULL)
			return -1;
		if (o->kind != OBJ_INGRESS || !cc_ours(c, o))
			continue;
		c->ings[c->nings].o = o;
		if (asprintf(&c->ings[c->nings].id, "%s/%s",
		    o->meta.namespace != NULL ? o->meta.namespace : "",
		    o->meta.name) == -1) {
			c->ings[c->nings].id = NULL;
			return -1;
		}
		c->nings++;
	}
	qsort(c->ings, c->nings, sizeof(*c->ings), cc_age_cmp);
	for (i = 0; i < c->nings; i++)
		if (cc_settings(c, &c->ings[i]) == -1)
			return -1;
	return 0;
}

static int
cc_strpcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when <name> is in the sorted spec.tls hosts. */
static int
cc_tls_listed(const struct cc *c, const char *name)
{
	return c->ntlshosts > 0 && bsearch(&name, c->tlshosts, c->ntlshosts,
	    sizeof(*c->tlshosts), cc_strpcmp) != NULL;
}

/*
 * 1 when rule host <host> has TLS: named in some spec.tls, or covered by
 * a wildcard there ("*.example.com" covers one label).
 */
static int
cc_host_tls(const struct cc *c, const char *host)
{
	const char *dot;
	char buf[300];

	if (host[0] == '\0')
		return 0;
	if (cc_tls_listed(c, host))
		return 1;
	if (host[0] == '*' || (dot = strchr(host, '.')) == NULL ||
	    dot == host || dot[1] == '\0')
		return 0;
	if ((size_t)snprintf(buf, sizeof(buf), "*%s", dot) >= sizeof(buf))
		return 0;
	return cc_tls_listed(c, buf);
}

/* The certificate named <name> so far, or NULL. */
static const struct route_cert *
cc_cert_find(const struct route_table *rt, const char *name)
{
	size_t i;

	for (i = 0; i < rt->ncerts; i++)
		if (strcmp(rt->certs[i].name, name) == 0)
			return &rt->certs[i];
	return NULL;
}

/*
 * The certificate of one spec.tls entry <t> of <ci> for its hosts, in
 * age order: the first Ingress to name a host gives its certificate.  A
 * missing or bad Secret is reported; its hosts keep the default one.
 */
static int
cc_tls_entry(struct cc *c, size_t at, const struct obj_ingress_tls *t)
{
	struct route_table *rt = &c->out->rt;
	const struct obj *o = c->ings[at].o, *so;
	const struct obj_secret *sec;
	struct route_cert *rc;
	char reason[300], *pem = NULL, *id = NULL;
	size_t i, fresh = 0;
	int expired, r = 0;

	for (i = 0; i < t->nhosts; i++)
		if (cc_cert_find(rt, t->hosts[i]) == NULL)
			fresh++;
	if (t->secret == NULL || fresh == 0)
		return 0;
	if (asprintf(&id, "%s/%s", o->meta.namespace, t->secret) == -1)
		return -1;
	so = store_get(c->st, OBJ_SECRET, o->meta.namespace, t->secret);
	sec = so != NULL ? &so->u.secret : NULL;
	if (sec == NULL)
		util_strlcpy(reason, "not found", sizeof(reason));
	else if (sec->type == NULL || strcmp(sec->type, CC_SECRET_TLS) != 0)
		snprintf(reason, sizeof(reason), "type \"%s\", not %s",
		    sec->type != NULL ? sec->type : "", CC_SECRET_TLS);
	else if (tls_certs_check((const char *)sec->tls_crt, sec->tls_crt_len,
	    (const char *)sec->tls_key, sec->tls_key_len, &pem, &expired,
	    reason, sizeof(reason)) == 0)
		reason[0] = '\0';
	if (reason[0] != '\0') {
		r = cc_error(c, at, "TLS Secret %s: %s; its hosts use the "
		    "default certificate", id, reason);
		goto done;
	}
	if (expired && (r = cc_error(c, at, "TLS Secret %s: the certificate "
	    "has expired; serving it anyway", id)) == -1)
		goto done;
	if ((rc = reallocarray(rt->certs, rt->ncerts + fresh,
	    sizeof(*rt->certs))) == NULL) {
		r = -1;
		goto done;
	}
	rt->certs = rc;
	for (i = 0; i < t->nhosts; i++) {
		if (cc_cert_find(rt, t->hosts[i]) != NULL)
			continue;
		rc = &rt->certs[rt->ncerts];
		memset(rc, 0, sizeof(*rc));
		rt->ncerts++;
		if ((rc->name = strdup(t->hosts[i])) == NULL ||
		    (rc->pem = strdup(pem)) == NULL ||
		    (rc->source = strdup(id)) == NULL) {
			r = -1;
			goto done;
		}
	}
 done:
	free(pem);
	free(id);
	return r;
}

/* Pass 6: certificates and the TLS host set, oldest Ingress first. */
static int
cc_tls(struct cc *c)
{
	const struct obj_ingress *in;
	size_t i, j, k, n = 0;

	for (i = 0; i < c->nings; i++) {
		in = &c->ings[i].o->u.ingress;
		for (j = 0; j < in->ntls; j++)
			n += in->tls[j].nhosts;
	}
	if (n == 0)
		return 0;
	if ((c->tlshosts = calloc(n, sizeof(*c->tlshosts))) == NULL)
		return -1;
	for (i = 0; i < c->nings; i++) {
		in = &c->ings[i].o->u.ingress;
		for (j = 0; j < in->ntls; j++) {
			for (k = 0; k < in->tls[j].nhosts; k++)
				c->tlshosts[c->ntlshosts++] =
				    in->tls[j].hosts[k];
			if (cc_tls_entry(c, i, &in->tls[j]) == -1)
				return -1;
		}
	}
	qsort(c->tlshosts, c->ntlshosts, sizeof(*c->tlshosts), cc_strpcmp);
	return 0;
}

static struct cc_claim *
cc_claim_new(struct cc *c)
{
	struct cc_claim *cl;
	size_t ncap;

	if (c->nclaims == c->claimcap) {
		ncap = c->claimcap == 0 ? 16 : c->claimcap * 2;
		cl = reallocarray(c->claims, ncap, sizeof(*cl));
		if (cl == NULL)
			return NULL;
		c->claims = cl;
		c->claimcap = ncap;
	}
	cl = &c->claims[c->nclaims++];
	memset(cl, 0, sizeof(*cl));
	return cl;
}

static int
cc_backend_name(const char *ns, const struct obj_backend *ref, char **name)
{
	int r;

	if (ref->port_name != NULL)
		r = asprintf(name, "%s/%s:%s", ns, ref->service,
		    ref->port_name);
	else
		r = asprintf(name, "%s/%s:%d", ns, ref->service,
		    (int)ref->port_number);
	if (r == -1) {
		*name = NULL;
		return -1;
	}
	return 0;
}

/*
 * Claims <p> of rule <host> (lower case, "" for any) for ingress <i>.  A
 * path that cannot route (resource backend, not absolute) is reported
 * and skipped.  -1 only when out of memory.
 */
static int
cc_claim_path(struct cc *c, size_t i, const char *host,
    const struct obj_ingress_path *p)
{
	const struct obj *o = c->ings[i].o;
	struct cc_claim *cl;
	const char *path = p->path != NULL ? p->path : "/";
	enum route_path_type type;
	size_t len;

	type = p->type == OBJ_PATH_EXACT ? ROUTE_PATH_EXACT :
	    ROUTE_PATH_PREFIX;
	if (path[0] != '/')
		return cc_error(c, i, "%s%s%s: path must start with '/'; "
		    "rule ignored", host, host[0] != '\0' ? " " : "", path);
	if (p->backend.service == NULL)
		return cc_error(c, i, "%s%s: resource backends are not "
		    "supported; rule ignored", host, path);
	/* Prefix matching is element-wise: "/foo/" is "/foo". */
	len = strlen(path);
	if (type == ROUTE_PATH_PREFIX)
		while (len > 1 && path[len - 1] == '/')
			len--;
	if ((cl = cc_claim_new(c)) == NULL)
		return -1;
	cl->ing = i;
	cl->type = type;
	cl->ref = &p->backend;
	if ((cl->host = strdup(host)) == NULL ||
	    (cl->path = strndup(path, len)) == NULL ||
	    cc_backend_name(o->meta.namespace, cl->ref, &cl->bename) == -1)
		return -1;
	return 0;
}

/* Pass 2: claims of every rule and defaultBackend, in age order. */
static int
cc_claims(struct cc *c)
{
	const struct obj_ingress *ing;
	const struct obj_ingress_rule *rule;
	struct cc_claim *cl;
	char *host;
	size_t i, j, k;
	int r;

	for (i = 0; i < c->nings; i++) {
		ing = &c->ings[i].o->u.ingress;
		for (j = 0; j < ing->nrules; j++) {
			rule = &ing->rules[j];
			host = strdup(rule->host != NULL ? rule->host : "");
			if (host == NULL)
				return -1;
			for (k = 0; host[k] != '\0'; k++)
				if (host[k] >= 'A' && host[k] <= 'Z')
					host[k] += 'a' - 'A';
			for (k = 0, r = 0; k < rule->npaths && r == 0; k++)
				r = cc_claim_path(c, i, host, &rule->paths[k]);
			free(host);
			if (r == -1)
				return -1;
		}
		if (ing->default_backend == NULL)
			continue;
		if (ing->default_backend->service == NULL) {
			if (cc_error(c, i, "defaultBackend: resource "
			    "backends are not supported; ignored") == -1)
				return -1;
			continue;
		}
		if ((cl = cc_claim_new(c)) == NULL)
			return -1;
		cl->ing = i;
		cl->is_default = 1;
		cl->ref = ing->default_backend;
		if (cc_backend_name(c->ings[i].o->meta.namespace, cl->ref,
		    &cl->bename) == -1)
			return -1;
	}
	return 0;
}

/* By key (defaultBackend first, host, path, type), then age. */
static int
cc_claim_cmp(const void *a, const void *b)
{
	const struct cc_claim *x = *(const struct cc_claim *const *)a;
	const struct cc_claim *y = *(const struct cc_claim *const *)b;
	int r;

	if (x->is_default != y->is_default)
		return x->is_default ? -1 : 1;
	if (!x->is_default) {
		if ((r = strcmp(x->host, y->host)) != 0)
			return r;
		if ((r = strcmp(x->path, y->path)) != 0)
			return r;
		if (x->type != y->type)
			return x->type < y->type ? -1 : 1;
	}
	return x < y ? -1 : x > y;
}

static int
cc_same_key(const struct cc_claim *x, const struct cc_claim *y)
{
	if (x->is_default || y->is_default)
		return x->is_default && y->is_default;
	return x->type == y->type && strcmp(x->host, y->host) == 0 &&
	    strcmp(x->path, y->path) == 0;
}

/* Pass 3: the oldest claim of each key wins. */
static int
cc_arbitrate(struct cc *c)
{
	size_t i, first = 0;

	if (c->nclaims == 0)
		return 0;
	if ((c->order = calloc(c->nclaims, sizeof(*c->order))) == NULL)
		return -1;
	for (i = 0; i < c->nclaims; i++)
		c->order[i] = &c->claims[i];
	qsort(c->order, c->nclaims, sizeof(*c->order), cc_claim_cmp);
	for (i = 0; i < c->nclaims; i++) {
		if (i == 0 || !cc_same_key(c->order[first], c->order[i]))
			first = i;
		c->order[i]->winner = (size_t)(c->order[first] - c->claims);
	}
	return 0;
}

static int
cc_slice_cmp(const void *a, const void *b)
{
	const struct obj *x = *(const struct obj *const *)a;
	const struct obj *y = *(const struct obj *const *)b;
	int r;

	if ((r = cc_strcmp0(x->meta.namespace, y->meta.namespace)) != 0)
		return r;
	if ((r = strcmp(x->u.endpoint_slice.service_name,
	    y->u.endpoint_slice.service_name)) != 0)
		return r;
	return cc_strcmp0(x->meta.name, y->meta.name);
}

/* EndpointSlices that name a Service, by namespace and service. */
static int
cc_index_slices(struct cc *c)
{
	const struct obj *o;
	size_t i, n;

	n = store_count(c->st, OBJ_ENDPOINT_SLICE);
	if (n == 0)
		return 0;
	if ((c->slices = calloc(n, sizeof(*c->slices))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((o = store_at(c->st, OBJ_ENDPOINT_SLICE, i)) == NULL)
			return -1;
		if (o->kind == OBJ_ENDPOINT_SLICE &&
		    o->u.endpoint_slice.service_name != NULL)
			c->slices[c->nslices++] = o;
	}
	qsort(c->slices, c->nslices, sizeof(*c->slices), cc_slice_cmp);
	return 0;
}

/* Index of the first slice of <ns>/<svc>, or nslices. */
static size_t
cc_slices_of(const struct cc *c, const char *ns, const char *svc)
{
	size_t lo = 0, hi = c->nslices, mid;
	const struct obj *o;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		o = c->slices[mid];
		if ((r = cc_strcmp0(o->meta.namespace, ns)) == 0)
			r = strcmp(o->u.endpoint_slice.service_name, svc);
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The next free scratch endpoint (not yet counted), or NULL on ENOMEM. */
static struct cc_ep *
cc_ep_slot(struct cc *c)
{
	struct cc_ep *e;
	size_t ncap;

	if (c->neps == c->epcap) {
		ncap = c->epcap == 0 ? 16 : c->epcap * 2;
		if ((e = reallocarray(c->eps, ncap, sizeof(*e))) == NULL)
			return NULL;
		c->eps = e;
		c->epcap = ncap;
	}
	e = &c->eps[c->neps];
	memset(e, 0, sizeof(*e));
	return e;
}

/*
 * Adds the usable endpoints of slice (or Endpoints subset) <sl> for
 * Service port <sp> to the scratch set: the slice port named like <sp>
 * gives the target port; an endpoint counts when ready and not
 * terminating; FQDN slices and unparsable addresses are skipped.
 */
static int
cc_collect(struct cc *c, const struct obj_endpoint_slice *sl,
    const struct obj_service_port *sp)
{
	const struct obj_endpoint *ep;
	struct cc_ep *e;
	int32_t port = 0;
	size_t i, j;

	if (sl->address_type != NULL && strcmp(sl->address_type, "IPv4") != 0 &&
	    strcmp(sl->address_type, "IPv6") != 0)
		return 0;
	for (i = 0; i < sl->nports; i++)
		if (cc_port_name_eq(sl->ports[i].name, sp->name)) {
			port = sl->ports[i].port;
			break;
		}
	if (port < 1 || port > 65535)
		return 0;
	for (i = 0; i < sl->nendpoints; i++) {
		ep = &sl->endpoints[i];
		if (!ep->ready || ep->terminating)
			continue;
		for (j = 0; j < ep->naddresses; j++) {
			if ((e = cc_ep_slot(c)) == NULL)
				return -1;
			if (ep->addresses[j] == NULL ||
			    util_make_sockaddr(ep->addresses[j],
			    (uint16_t)port, &e->ep.addr, &e->ep.addrlen) == -1)
				continue;
			e->ep.weight = 1;
			util_format_sockaddr((struct sockaddr *)&e->ep.addr,
			    e->text, sizeof(e->text));
			c->neps++;
		}
	}
	return 0;
}

static int
cc_ep_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cc_ep *)a)->text,
	    ((const struct cc_ep *)b)->text);
}

/* Moves the scratch endpoints into <be>, sorted, without duplicates. */
static int
cc_endpoints(struct cc *c, struct route_backend *be)
{
	size_t i, n;

	if (c->neps == 0)
		return 0;
	/* Deterministic order; the same address:port once. */
	qsort(c->eps, c->neps, sizeof(*c->eps), cc_ep_cmp);
	if ((be->endpoints = calloc(c->neps, sizeof(*be->endpoints))) == NULL)
		return -1;
	for (i = n = 0; i < c->neps; i++)
		if (n == 0 || strcmp(c->eps[i].text, c->eps[i - 1].text) != 0)
			be->endpoints[n++] = c->eps[i].ep;
	be->nendpoints = n;
	return 0;
}

/* Adds address <ss> of length <len> with <port> to the scratch set. */
static int
cc_add_addr(struct cc *c, const struct sockaddr_storage *ss, socklen_t len,
    uint16_t port)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	struct cc_ep *e;

	if ((e = cc_ep_slot(c)) == NULL)
		return -1;
	if (ss->ss_family == AF_INET && len >= sizeof(*sin)) {
		sin = (struct sockaddr_in *)&e->ep.addr;
		memcpy(sin, ss, sizeof(*sin));
		sin->sin_port = htons(port);
		e->ep.addrlen = sizeof(*sin);
	} else if (ss->ss_family == AF_INET6 && len >= sizeof(*sin6)) {
		sin6 = (struct sockaddr_in6 *)&e->ep.addr;
		memcpy(sin6, ss, sizeof(*sin6));
		sin6->sin6_port = htons(port);
		sin6->sin6_flowinfo = 0;
		e->ep.addrlen = sizeof(*sin6);
	} else
		return 0;	/* another family: skipped */
	e->ep.weight = 1;
	util_format_sockaddr((struct sockaddr *)&e->ep.addr, e->text,
	    sizeof(e->text));
	c->neps++;
	return 0;
}

/*
 * Endpoints of ExternalName Service <ns>/<svc>, name <name>, on Service
 * port <port> (targetPort means nothing without pods, as in Kubernetes).
 * An IP literal is used as it is; any other name goes to the resolve
 * callback, which answers from its cache: pending leaves <be> empty
 * without a reason, failed sets *<reason>.  -1 only when out of memory.
 */
static int
cc_external(struct cc *c, const char *ns, const char *svc, const char *name,
    int32_t port, struct route_backend *be, char **reason)
{
	const struct compile_options *opt = c->opt;
	struct sockaddr_storage addrs[COMPILE_MAX_NAME_ADDRS], ss;
	socklen_t lens[COMPILE_MAX_NAME_ADDRS], len;
	size_t i, n = 0;
	int r;

	c->neps = 0;
	if (name == NULL || name[0] == '\0')
		return cc_reason(reason, "ExternalName service %s/%s has no "
		    "externalName", ns, svc);
	if (port < 1 || port > 65535)
		return cc_reason(reason, "service %s/%s: port %d is out of "
		    "range", ns, svc, (int)port);
	if (util_make_sockaddr(name, 0, &ss, &len) == 0) {
		if (cc_add_addr(c, &ss, len, (uint16_t)port) == -1)
			return -1;
		return cc_endpoints(c, be);
	}
	if (opt->resolve == NULL)
		return 0;
	r = opt->resolve(opt->resolve_arg, name, addrs, lens,
	    COMPILE_MAX_NAME_ADDRS, &n);
	if (r == COMPILE_NAME_PENDING)
		return 0;
	if (r != COMPILE_NAME_RESOLVED)
		return cc_reason(reason, "ExternalName service %s/%s: "
		    "cannot resolve \"%s\"", ns, svc, name);
	for (i = 0; i < n && i < COMPILE_MAX_NAME_ADDRS; i++)
		if (cc_add_addr(c, &addrs[i], lens[i], (uint16_t)port) == -1)
			return -1;
	if (c->neps == 0)
		return cc_reason(reason, "ExternalName service %s/%s: "
		    "\"%s\" has no IPv4 or IPv6 address", ns, svc, name);
	return cc_endpoints(c, be);
}

/*
 * Fills the endpoints of <be>, Service port <ref> in namespace <ns>.  When
 * it cannot be resolved, *<reason> says why (caller frees) and <be> keeps
 * zero endpoints, so the route answers 503.  -1 only when out of memory.
 */
static int
cc_resolve(struct cc *c, const char *ns, const struct obj_backend *ref,
    struct route_backend *be, char **reason)
{
	const struct obj *svc, *o;
	const struct obj_service_port *sp = NULL;
	const struct obj_endpoints *eps;
	size_t i;
	int external;

	*reason = NULL;
	svc = store_get(c->st, OBJ_SERVICE, ns, ref->service);
	if (svc == NULL)
		return cc_reason(reason, "service %s/%s not found", ns,
		    ref->service);
	external = cc_strcmp0(svc->u.service.type, "ExternalName") == 0;
	for (i = 0; i < svc->u.service.nports; i++) {
		sp = &svc->u.service.ports[i];
		if (ref->port_name != NULL ? cc_strcmp0(sp->name,
		    ref->port_name) == 0 : sp->port == ref->port_number)
			break;
	}
	if (i == svc->u.service.nports) {
		/*
		 * An ExternalName Service often lists no port at all: the
		 * Ingress's port number is the one, as ingress-nginx does.
		 */
		if (external && svc->u.service.nports == 0 &&
		    ref->port_name == NULL)
			return cc_external(c, ns, ref->service,
			    svc->u.service.external_name, ref->port_number, be,
			    reason);
		if (ref->port_name != NULL)
			return cc_reason(reason, "service %s/%s has no port "
			    "named \"%s\"", ns, ref->service, ref->port_name);
		return cc_reason(reason, "service %s/%s has no port %d", ns,
		    ref->service, (int)ref->port_number);
	}
	if (external)
		return cc_external(c, ns, ref->service,
		    svc->u.service.external_name, sp->port, be, reason);

	c->neps = 0;
	i = cc_slices_of(c, ns, ref->service);
	if (i < c->nslices && cc_strcmp0(c->slices[i]->meta.namespace,
	    ns) == 0 && strcmp(c->slices[i]->u.endpoint_slice.service_name,
	    ref->service) == 0) {
		for (; i < c->nslices; i++) {
			o = c->slices[i];
			if (cc_strcmp0(o->meta.namespace, ns) != 0 ||
			    strcmp(o->u.endpoint_slice.service_name,
			    ref->service) != 0)
				break;
			if (cc_collect(c, &o->u.endpoint_slice, sp) == -1)
				return -1;
		}
	} else if ((o = store_get(c->st, OBJ_ENDPOINTS, ns,
	    ref->service)) != NULL) {
		/* No slice at all: the v1 Endpoints fallback. */
		eps = &o->u.endpoints;
		for (i = 0; i < eps->nsubsets; i++)
			if (cc_collect(c, &eps->subsets[i], sp) == -1)
				return -1;
	}
	return cc_endpoints(c, be);
}

/* By backend name, then age. */
static int
cc_bename_cmp(const void *a, const void *b)
{
	const struct cc_claim *x = *(const struct cc_claim *const *)a;
	const struct cc_claim *y = *(const struct cc_claim *const *)b;
	int r;

	if ((r = strcmp(x->bename, y->bename)) != 0)
		return r;
	return x < y ? -1 : x > y;
}

static int
cc_same_health(const struct route_health *a, const struct route_health *b)
{
	return a->mode == b->mode && a->port == b->port &&
	    a->interval_ms == b->interval_ms &&
	    a->timeout_ms == b->timeout_ms &&
	    a->rise == b->rise && a->fall == b->fall &&
	    a->expect_lo == b->expect_lo && a->expect_hi == b->expect_hi &&
	    cc_strcmp0(a->path, b->path) == 0 &&
	    cc_strcmp0(a->host, b->host) == 0;
}

static int
cc_same_settings(const struct cc_ingress *a, const struct cc_ingress *b)
{
	return a->policy == b->policy && a->connect_ms == b->connect_ms &&
	    a->response_ms == b->response_ms &&
	    a->policy_arglen == b->policy_arglen && (a->policy_arglen == 0 ||
	    memcmp(a->policy_arg, b->policy_arg, a->policy_arglen) == 0) &&
	    cc_same_health(&a->health, &b->health);
}

/*
 * The probe of the backend <owner> names: the defaults, the annotations
 * of its Service (reported as errors of the owner's Ingress), then the
 * Ingress's own (reported by cc_health already).  -1 on ENOMEM.
 */
static int
cc_backend_health(struct cc *c, const struct cc_claim *owner,
    struct route_health *h)
{
	const struct cc_ingress *oi = &c->ings[owner->ing];
	const struct obj *svc;
	struct cc_hsrc src;
	char who[300];

	svc = store_get(c->st, OBJ_SERVICE, oi->o->meta.namespace,
	    owner->ref->service);
	*h = c->opt->health;
	if (svc != NULL) {
		snprintf(who, sizeof(who), "Service %s/%s: ",
		    svc->meta.namespace, svc->meta.name);
		src.o = svc;
		src.at = owner->ing;
		src.who = who;
		src.quiet = 0;
		if (cc_health_apply(c, &src, h) == -1)
			return -1;
	}
	src.o = oi->o;
	src.at = owner->ing;
	src.who = "";
	src.quiet = 1;
	return cc_health_apply(c, &src, h);
}

/* Copies what compile_update_endpoints() needs of backend <ref>. */
static int
cc_ref(struct compile_backend_ref *r, const char *ns,
    const struct obj_backend *ref)
{
	if ((r->namespace = strdup(ns != NULL ? ns : "")) == NULL ||
	    (r->service = strdup(ref->service)) == NULL ||
	    (ref->port_name != NULL &&
	    (r->port_name = strdup(ref->port_name)) == NULL))
		return -1;
	r->port_number = ref->port_number;
	return 0;
}

/*
 * Backend TLS (ingressd.io/backend-*): the annotation <key> of the
 * Ingress <ing>, else of its Service <svc>, as health-* do.
 */
static const char *
cc_tls_annotation(const struct obj *ing, const struct obj *svc,
    const char *key)
{
	const char *v;

	if ((v = objects_annotation(ing, key)) != NULL)
		return v;
	return svc != NULL ? objects_annotation(svc, key) : NULL;
}

/*
 * Index in the table of CA bundle <pem> (<len> bytes; <system>: the
 * system store, loaded by the master later), added unless an equal one
 * is there: a bundle is stored once however many backends trust it.
 * -1 when out of memory.
 */
static int32_t
cc_ca_index(struct cc *c, const unsigned char *pem, size_t len, int system)
{
	struct route_table *rt = &c->out->rt;
	struct route_ca *v;
	size_t i;

	for (i = 0; i < rt->ncas; i++)
		if (system ? rt->cas[i].system : (!rt->cas[i].system &&
		    rt->cas[i].len == len && (len == 0 ||
		    memcmp(rt->cas[i].pem, pem, len) == 0)))
			return (int32_t)i;
	if ((v = reallocarray(rt->cas, rt->ncas + 1, sizeof(*v))) == NULL)
		return -1;
	rt->cas = v;
	v = &rt->cas[rt->ncas];
	memset(v, 0, sizeof(*v));
	v->system = system != 0;
	if (len > 0) {
		if ((v->pem = malloc(len)) == NULL)
			return -1;
		memcpy(v->pem, pem, len);
		v->len = len;
	}
	return (int32_t)rt->ncas++;
}

/*
 * TLS toward backend <be> of Service <svcname> in <ns> (<svc> NULL when
 * missing) for its owner Ingress <at>: backend-protocol HTTPS turns it
 * on; the name checked and sent as SNI is backend-tls-server-name, else
 * the externalName of an ExternalName Service, else the Service's
 * cluster DNS name "svc.ns.svc" (ingress-nginx's proxy_ssl_name is the
 * upstream host); the chain must lead to backend-ca-secret's ca.crt, else
 * to the system store, unless backend-tls-verify is "off" (reported).
 * A missing or empty CA Secret trusts nothing: the backend fails closed.
 * -1 only when out of memory.
 */
static int
cc_backend_tls(struct cc *c, size_t at, const char *ns, const char *svcname,
    struct route_backend *be)
{
	const struct obj *ing = c->ings[at].o, *svc, *sec;
	struct route_upstream_tls *t = &be->tls;
	const char *v, *slash, *secns, *secname;
	char nsbuf[254];
	int r;

	svc = store_get(c->st, OBJ_SERVICE, ns, svcname);
	v = cc_tls_annotation(ing, svc, ANN_BACKEND_PROTOCOL);
	if (v == NULL || strcasecmp(v, "HTTP") == 0)
		return 0;
	if (strcasecmp(v, "HTTPS") != 0)
		return cc_error(c, at, "backend %s: annotation %s: \"%s\" is "
		    "not HTTP or HTTPS; HTTP applies", be->name,
		    ANN_BACKEND_PROTOCOL, v);
	t->enabled = 1;
	t->verify = 1;
	t->ca = -1;

	if ((v = cc_tls_annotation(ing, svc, ANN_BACKEND_TLS_NAME)) != NULL &&
	    !snapshot_server_name_ok(v, strlen(v))) {
		if (cc_error(c, at, "backend %s: annotation %s: \"%s\" is not "
		    "a host name; the default applies", be->name,
		    ANN_BACKEND_TLS_NAME, v) == -1)
			return -1;
		v = NULL;
	}
	if (v != NULL)
		r = (t->server_name = strdup(v)) == NULL ? -1 : 0;
	else if (svc != NULL && cc_strcmp0(svc->u.service.type,
	    "ExternalName") == 0 && svc->u.service.external_name != NULL &&
	    snapshot_server_name_ok(svc->u.service.external_name,
	    strlen(svc->u.service.external_name)))
		r = (t->server_name = strdup(svc->u.service.external_name)) ==
		    NULL ? -1 : 0;
	else
		r = asprintf(&t->server_name, "%s.%s.svc", svcname, ns);
	if (r == -1) {
		t->server_name = NULL;
		return -1;
	}
	if (!snapshot_server_name_ok(t->server_name,
	    strlen(t->server_name))) {
		free(t->server_name);	/* over 253 bytes: no name */
		t->server_name = NULL;
	}

	if ((v = cc_tls_annotation(ing, svc, ANN_BACKEND_TLS_VERIFY)) != NULL &&
	    (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)) {
		t->verify = 0;
		return cc_error(c, at, "backend %s: TLS certificate "
		    "verification is off (%s)", be->name,
		    ANN_BACKEND_TLS_VERIFY);
	}
	if (v != NULL && strcmp(v, "on") != 0 && strcmp(v, "true") != 0 &&
	    cc_error(c, at, "backend %s: annotation %s: \"%s\" is not on or "
	    "off; verification stays on", be->name, ANN_BACKEND_TLS_VERIFY,
	    v) == -1)
		return -1;
	if ((v = cc_tls_annotation(ing, svc, ANN_BACKEND_CA_SECRET)) == NULL) {
		t->ca = cc_ca_index(c, NULL, 0, 1);
		return t->ca == -1 ? -1 : 0;
	}
	/* [namespace/]name; the namespace defaults to the Ingress's. */
	secns = ns;
	secname = v;
	if ((slash = strchr(v, '/')) != NULL &&
	    (size_t)(slash - v) < sizeof(nsbuf)) {
		memcpy(nsbuf, v, (size_t)(slash - v));
		nsbuf[slash - v] = '\0';
		secns = nsbuf;
		secname = slash + 1;
	}
	sec = store_get(c->st, OBJ_SECRET, secns, secname);
	if (sec == NULL || sec->u.secret.ca_crt_len == 0) {
		if (cc_error(c, at, "backend %s: annotation %s: Secret %s/%s "
		    "%s; no certificate is trusted", be->name,
		    ANN_BACKEND_CA_SECRET, secns, secname, sec == NULL ?
		    "not found" : "has no ca.crt") == -1)
			return -1;
		t->ca = cc_ca_index(c, NULL, 0, 0);
	} else
		t->ca = cc_ca_index(c, sec->u.secret.ca_crt,
		    sec->u.secret.ca_crt_len, 0);
	return t->ca == -1 ? -1 : 0;
}

/*
 * Pass 4: one backend per name used by a winning claim, in name order.
 * Its oldest user's settings apply; others that differ are flagged.
 */
static int
cc_backends(struct cc *c)
{
	struct route_table *rt = &c->out->rt;
	struct cc_claim **w = NULL, *cl, *owner = NULL;
	struct cc_ingress *oi;
	struct route_backend *be;
	struct route_health hb;
	size_t i, nw = 0, nb = 0;
	int rv = -1;

	if (c->nclaims == 0)
		return 0;
	if ((w = calloc(c->nclaims, sizeof(*w))) == NULL)
		goto done;
	for (i = 0; i < c->nclaims; i++)
		if (c->claims[i].winner == i)
			w[nw++] = &c->claims[i];
	qsort(w, nw, sizeof(*w), cc_bename_cmp);
	for (i = 0; i < nw; i++)
		if (i == 0 || strcmp(w[i]->bename, w[i - 1]->bename) != 0)
			nb++;
	if ((rt->backends = calloc(nb, sizeof(*rt->backends))) == NULL ||
	    (c->out->refs = calloc(nb, sizeof(*c->out->refs))) == NULL ||
	    (c->reasons = calloc(nb, sizeof(*c->reasons))) == NULL ||
	    (c->owners = calloc(nb, sizeof(*c->owners))) == NULL)
		goto done;
	rt->nbackends = nb;

	for (i = 0, nb = 0; i < nw; i++) {
		cl = w[i];
		if (i == 0 || strcmp(cl->bename, w[i - 1]->bename) != 0) {
			owner = cl;
			oi = &c->ings[owner->ing];
			be = &rt->backends[nb];
			if ((be->name = strdup(cl->bename)) == NULL)
				goto done;
			be->policy = oi->policy;
			if (oi->policy_arg != NULL &&
			    (be->policy_arg = strndup(oi->policy_arg,
			    oi->policy_arglen)) == NULL)
				goto done;
			be->connect_timeout_ms = oi->connect_ms;
			be->response_timeout_ms = oi->response_ms;
			if (cc_backend_health(c, owner, &hb) == -1)
				goto done;
			be->health = hb;
			be->health.path = NULL;
			be->health.host = NULL;
			if ((hb.path != NULL &&
			    (be->health.path = strdup(hb.path)) == NULL) ||
			    (hb.host != NULL &&
			    (be->health.host = strdup(hb.host)) == NULL))
				goto done;
			if (cc_ref(&c->out->refs[nb], oi->o->meta.namespace,
			    cl->ref) == -1 ||
			    cc_resolve(c, oi->o->meta.namespace, cl->ref, be,
			    &c->reasons[nb]) == -1 ||
			    cc_backend_tls(c, owner->ing,
			    oi->o->meta.namespace, cl->ref->service, be) == -1)
				goto done;
			c->owners[nb] = owner->ing;
			nb++;
		}
		cl->backend = nb - 1;
		/* Report a differing Ingress once per backend. */
		if (cl->ing != owner->ing && cl->ing != w[i - 1]->ing &&
		    !cc_same_settings(&c->ings[cl->ing], &c->ings[owner->ing]))
			cl->optconflict = 1;
	}
	rv = 0;
 done:
	free(w);
	return rv;
}

/* Pass 5a: errors in claim (age) order. */
static int
cc_report(struct cc *c)
{
	const struct cc_ingress *ci, *wi;
	const struct cc_claim *cl;
	char where[512];
	size_t i;
	int r;

	for (i = 0, r = 0; i < c->nclaims && r == 0; i++) {
		cl = &c->claims[i];
		ci = &c->ings[cl->ing];
		cc_where(cl, where, sizeof(where));
		if (cl->winner != i) {
			wi = &c->ings[c->claims[cl->winner].ing];
			if (wi == ci)
				r = cc_error(c, cl->ing, "%s: already routed "
				    "by an earlier rule of this Ingress; "
				    "ignored", where);
			else
				r = cc_error(c, cl->ing, "%s: conflicts with "
				    "Ingress %s, which %s; ignored", where,
				    wi->id, wi->o->meta.creation <
				    ci->o->meta.creation ? "is older" :
				    "is as old and first by namespace/name");
			continue;
		}
		if (c->reasons[cl->backend] != NULL)
			r = cc_error(c, cl->ing, "%s: %s; answering 503",
			    where, c->reasons[cl->backend]);
		if (r == 0 && cl->optconflict)
			r = cc_error(c, cl->ing, "backend %s: load-balance, "
			    "timeout and health annotations differ from those "
			    "of the older Ingress %s, which apply",
			    c->out->rt.backends[cl->backend].name,
			    c->ings[c->owners[cl->backend]].id);
	}
	return r;
}

static int
cc_errkey_cmp(const void *a, const void *b)
{
	const struct cc_errkey *x = a, *y = b;

	if (x->ing != y->ing)
		return x->ing < y->ing ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Pass 5c: errors grouped by Ingress, oldest first, in pass order. */
static int
cc_sort_errors(struct cc *c)
{
	struct compile_result *out = c->out;
	struct compile_error *sorted;
	size_t i;

	if (out->nerrors < 2)
		return 0;
	qsort(c->errkeys, out->nerrors, sizeof(*c->errkeys), cc_errkey_cmp);
	if ((sorted = calloc(out->nerrors, sizeof(*sorted))) == NULL)
		return -1;
	for (i = 0; i < out->nerrors; i++)
		sorted[i] = out->errors[c->errkeys[i].seq];
	free(out->errors);
	out->errors = sorted;
	c->errcap = out->nerrors;
	return 0;
}

/* Pass 5b: hosts and paths from the sorted winners; defaultBackend. */
static int
cc_layout(struct cc *c)
{
	struct route_table *rt = &c->out->rt;
	struct route_host *h = NULL;
	struct route_path *p;
	const struct cc_claim *cl;
	size_t i, j = 0, nh = 0;

	for (i = 0; i < c->nclaims; i++) {
		cl = c->order[i];
		if (cl->winner != (size_t)(cl - c->claims))
			continue;
		if (cl->is_default) {
			rt->default_backend = (int32_t)cl->backend;
			if ((rt->default_source =
			    strdup(c->ings[cl->ing].id)) == NULL)
				return -1;
		} else if (nh == 0 || strcmp(cl->host,
		    c->order[j]->host) != 0) {
			nh++;
			j = i;
		}
	}
	if (nh == 0)
		return 0;
	if ((rt->hosts = calloc(nh, sizeof(*rt->hosts))) == NULL)
		return -1;
	rt->nhosts = nh;

	/* Count, then fill, the paths of each host. */
	for (i = 0, nh = 0; i < c->nclaims; i++) {
		cl = c->order[i];
		if (cl->is_default || cl->winner != (size_t)(cl - c->claims))
			continue;
		if (h == NULL || strcmp(h->host, cl->host) != 0) {
			h = &rt->hosts[nh++];
			if ((h->host = strdup(cl->host)) == NULL)
				return -1;
		}
		h->npaths++;
	}
	for (j = 0; j < rt->nhosts; j++) {
		h = &rt->hosts[j];
		p = calloc(h->npaths, sizeof(*p));
		if (p == NULL) {
			h->npaths = 0;
			return -1;
		}
		h->paths = p;
	}
	h = NULL;
	for (i = 0, j = 0, nh = 0; i < c->nclaims; i++) {
		cl = c->order[i];
		if (cl->is_default || cl->winner != (size_t)(cl - c->claims))
			continue;
		if (h == NULL || strcmp(h->host, cl->host) != 0) {
			h = &rt->hosts[nh++];
			j = 0;
		}
		p = &h->paths[j++];
		p->type = cl->type;
		p->backend = (uint32_t)cl->backend;
		if (cc_host_tls(c, cl->host)) {
			p->tls_flags = c->ings[cl->ing].tls_flags |
			    (c->ings[cl->ing].ssl_redirect ?
			    ROUTE_TLS_REDIRECT : 0);
			if (p->tls_flags & ROUTE_TLS_HSTS)
				p->hsts_max_age = c->ings[cl->ing].hsts_max_age;
		}
		if ((p->path = strdup(cl->path)) == NULL ||
		    (p->source = strdup(c->ings[cl->ing].id)) == NULL)
			return -1;
	}
	return 0;
}

static void
cc_free(struct cc *c)
{
	size_t i;

	for (i = 0; i < c->nings; i++)
		free(c->ings[i].id);
	free(c->ings);
	for (i = 0; i < c->nclaims; i++) {
		free(c->claims[i].host);
		free(c->claims[i].path);
		free(c->claims[i].bename);
	}
	free(c->claims);
	free(c->order);
	if (c->reasons != NULL)
		for (i = 0; i < c->out->rt.nbackends; i++)
			free(c->reasons[i]);
	free(c->reasons);
	free(c->owners);
	free(c->slices);
	free(c->eps);
	free(c->errkeys);
	free(c->tlshosts);
}

/*
 * Compiles the objects of <st> with <opt> into <out> (overwritten, caller
 * frees with compile_result_free()).  Per-Ingress problems become errors
 * and the table is built from everything valid.  Returns 0, or -1 when out
 * of memory, with <out> empty (nothing to free).
 */
int
compile_routes(const struct store *st, const struct compile_options *opt,
    struct compile_result *out)
{
	struct cc c;

	memset(out, 0, sizeof(*out));
	out->rt.settings = opt->settings;
	out->rt.default_backend = -1;
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.opt = opt;
	c.out = out;
	if (cc_select(&c) == -1 || cc_tls(&c) == -1 || cc_claims(&c) == -1 ||
	    cc_arbitrate(&c) == -1 || cc_index_slices(&c) == -1 ||
	    cc_backends(&c) == -1 || cc_report(&c) == -1 ||
	    cc_layout(&c) == -1 || cc_sort_errors(&c) == -1)
		goto fail;
	cc_free(&c);
	return 0;
 fail:
	cc_free(&c);
	compile_result_free(out);
	return -1;
}

/* 1 when Service <ns>/<name> is one of the <n> in <nsv>/<svcv>. */
static int
cc_listed(const char *ns, const char *name, char *const *nsv,
    char *const *svcv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, svcv[i]) == 0 && strcmp(ns, nsv[i]) == 0)
			return 1;
	return 0;
}

int
compile_update_endpoints(const struct store *st,
    const struct compile_options *opt, struct compile_result *r,
    char *const *nsv, char *const *svcv, size_t n)
{
	struct compile_backend_ref *ref;
	struct route_backend *be, *nb = NULL;
	struct obj_backend b;
	const struct obj *o, *svc;
	const struct obj **sl;
	size_t i, j, pos = 0, cap = 0, *at = NULL, nnew = 0;
	char *reason;
	struct cc c;
	int rv = -1;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.opt = opt;
	c.out = r;
	if (r->rt.nbackends > 0 && r->refs == NULL)
		return -1;
	/*
	 * The slices of the listed Services only, in the order the full
	 * index has them (namespace, service, name: unique keys), so
	 * cc_resolve() collects the same endpoints in the same order.
	 */
	while ((o = store_scan(st, OBJ_ENDPOINT_SLICE, &pos)) != NULL) {
		if (o->u.endpoint_slice.service_name == NULL ||
		    !cc_listed(o->meta.namespace != NULL ? o->meta.namespace :
		    "", o->u.endpoint_slice.service_name, nsv, svcv, n))
			continue;
		if (c.nslices == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((sl = reallocarray(c.slices, cap,
			    sizeof(*sl))) == NULL)
				goto done;
			c.slices = sl;
		}
		c.slices[c.nslices++] = o;
	}
	if (c.nslices > 1)
		qsort(c.slices, c.nslices, sizeof(*c.slices), cc_slice_cmp);

	/* New endpoint arrays first, swapped in only when all are made. */
	if (r->rt.nbackends > 0 &&
	    ((nb = calloc(r->rt.nbackends, sizeof(*nb))) == NULL ||
	    (at = calloc(r->rt.nbackends, sizeof(*at))) == NULL))
		goto done;
	for (i = 0; i < r->rt.nbackends; i++) {
		ref = &r->refs[i];
		if (!cc_listed(ref->namespace, ref->service, nsv, svcv, n))
			continue;
		svc = store_get(st, OBJ_SERVICE, ref->namespace, ref->service);
		if (svc != NULL &&
		    cc_strcmp0(svc->u.service.type, "ExternalName") == 0)
			continue;	/* no slices: the resolver's addresses */
		b.service = ref->service;
		b.port_name = ref->port_name;
		b.port_number = ref->port_number;
		if (cc_resolve(&c, ref->namespace, &b, &nb[nnew],
		    &reason) == -1)
			goto done;
		/* The reason comes from the Service alone: unchanged. */
		free(reason);
		at[nnew++] = i;
	}
	for (j = 0; j < nnew; j++) {
		be = &r->rt.backends[at[j]];
		free(be->endpoints);
		be->endpoints = nb[j].endpoints;
		be->nendpoints = nb[j].nendpoints;
		nb[j].endpoints = NULL;
	}
	rv = 0;
 done:
	for (j = 0; j < nnew; j++)
		free(nb[j].endpoints);
	free(nb);
	free(at);
	cc_free(&c);
	return rv;
}

/* Frees the table and the errors of <r>, leaving it empty; NULL is fine. */
void
compile_result_free(struct compile_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->refs != NULL)
		for (i = 0; i < r->rt.nbackends; i++) {
			free(r->refs[i].namespace);
			free(r->refs[i].service);
			free(r->refs[i].port_name);
		}
	free(r->refs);
	route_table_free(&r->rt);
	for (i = 0; i < r->nerrors; i++) {
		free(r->errors[i].object);
		free(r->errors[i].origin);
		free(r->errors[i].reason);
	}
	free(r->errors);
	memset(r, 0, sizeof(*r));
	r->rt.default_backend = -1;
}
