/*
 * Unit tests for master/objects.c (documents -> objects, validation with
 * field paths) and master/provider_files.c (directory loads, skipped bad
 * documents, inotify reloads on a real libev loop).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <ev.h>
#include <json-c/json.h>

#include "common/log.h"
#include "master/manifest.h"
#include "master/objects.h"
#include "master/store.h"
#include "master/provider_files.h"

/* A growing string. */
struct sb {
	char	*s;
	size_t	 len;
};

static void sb_printf(struct sb *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[1024];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(tmp));
	b->s = realloc(b->s, b->len + (size_t)n + 1);
	ck_assert_ptr_nonnull(b->s);
	memcpy(b->s + b->len, tmp, (size_t)n + 1);
	b->len += (size_t)n;
}

static const char *
nz(const char *s)
{
	return s ? s : "-";
}

static void
dump_backend(struct sb *b, const struct obj_backend *be)
{
	if (be->port_name != NULL)
		sb_printf(b, "%s:%s", nz(be->service), be->port_name);
	else
		sb_printf(b, "%s:%d", nz(be->service), be->port_number);
}

static void
dump_slice(struct sb *b, const struct obj_endpoint_slice *es)
{
	size_t i, k;

	sb_printf(b, " svc=%s %s", nz(es->service_name), es->address_type);
	for (i = 0; i < es->nendpoints; i++) {
		sb_printf(b, " ep(");
		for (k = 0; k < es->endpoints[i].naddresses; k++)
			sb_printf(b, "%s%s", k ? "," : "",
			    es->endpoints[i].addresses[k]);
		sb_printf(b, " r%d s%d t%d)", es->endpoints[i].ready,
		    es->endpoints[i].serving, es->endpoints[i].terminating);
	}
	for (i = 0; i < es->nports; i++)
		sb_printf(b, " port(%s %d %s)", nz(es->ports[i].name),
		    es->ports[i].port, es->ports[i].protocol);
}

/* One line per object with every field the object model keeps. */
static char *
dump(const struct obj *o)
{
	struct sb b = { NULL, 0 };
	const struct obj_ingress *in;
	const struct obj_service *s;
	size_t i, k;

	sb_printf(&b, "%s %s/%s", objects_kind_name(o->kind),
	    o->meta.namespace, o->meta.name);
	if (o->meta.uid)
		sb_printf(&b, " uid=%s", o->meta.uid);
	if (o->meta.resource_version)
		sb_printf(&b, " rv=%s", o->meta.resource_version);
	if (o->meta.creation != INT64_MAX)
		sb_printf(&b, " t=%lld", (long long)o->meta.creation);
	for (i = 0; i < o->meta.nannotations; i++)
		sb_printf(&b, " @%s=%s", o->meta.annotations[i].key,
		    o->meta.annotations[i].value);
	switch (o->kind) {
	case OBJ_INGRESS:
		in = &o->u.ingress;
		if (in->class_name)
			sb_printf(&b, " class=%s", in->class_name);
		if (in->class_annotation)
			sb_printf(&b, " classann=%s", in->class_annotation);
		if (in->default_backend) {
			sb_printf(&b, " default=");
			dump_backend(&b, in->default_backend);
		}
		for (i = 0; i < in->nrules; i++) {
			sb_printf(&b, " rule(%s", nz(in->rules[i].host));
			for (k = 0; k < in->rules[i].npaths; k++) {
				static const char *const t[] = { "Exact",
				    "Prefix", "Impl" };
				const struct obj_ingress_path *ip =
				    &in->rules[i].paths[k];

				sb_printf(&b, " %s %s ", ip->path, t[ip->type]);
				dump_backend(&b, &ip->backend);
			}
			sb_printf(&b, ")");
		}
		for (i = 0; i < in->ntls; i++) {
			sb_printf(&b, " tls(");
			for (k = 0; k < in->tls[i].nhosts; k++)
				sb_printf(&b, "%s ", in->tls[i].hosts[k]);
			sb_printf(&b, "-> %s)", nz(in->tls[i].secret));
		}
		break;
	case OBJ_INGRESS_CLASS:
		sb_printf(&b, " controller=%s default=%d",
		    o->u.ingress_class.controller,
		    o->u.ingress_class.is_default);
		break;
	case OBJ_SERVICE:
		s = &o->u.service;
		sb_printf(&b, " %s", s->type);
		if (s->external_name)
			sb_printf(&b, " ext=%s", s->external_name);
		for (i = 0; i < s->nports; i++) {
			sb_printf(&b, " port(%s %d ", nz(s->ports[i].name),
			    s->ports[i].port);
			if (s->ports[i].target_port_name)
				sb_printf(&b, "%s",
				    s->ports[i].target_port_name);
			else
				sb_printf(&b, "%d", s->ports[i].target_port);
			sb_printf(&b, " %s)", s->ports[i].protocol);
		}
		break;
	case OBJ_ENDPOINT_SLICE:
		dump_slice(&b, &o->u.endpoint_slice);
		break;
	case OBJ_ENDPOINTS:
		for (i = 0; i < o->u.endpoints.nsubsets; i++) {
			sb_printf(&b, " subset[");
			dump_slice(&b, &o->u.endpoints.subsets[i]);
			sb_printf(&b, "]");
		}
		break;
	case OBJ_SECRET:
		sb_printf(&b, " %s crt=%zu:%s key=%zu:%s", o->u.secret.type,
		    o->u.secret.tls_crt_len,
		    o->u.secret.tls_crt ? (char *)o->u.secret.tls_crt : "-",
		    o->u.secret.tls_key_len,
		    o->u.secret.tls_key ? (char *)o->u.secret.tls_key : "-");
		break;
	default:
		break;
	}
	return b.s;
}

/* Collects the one document of a test input. */
struct one {
	struct json_object *doc;
	char	 err[512];
	int	 n;
};

static void
one_cb(void *arg, int docno, int line, struct json_object *doc,
    const char *err)
{
	struct one *o = arg;

	o->n++;
	if (doc != NULL && o->doc == NULL)
		o->doc = json_object_get(doc);
	if (err != NULL)
		snprintf(o->err, sizeof(o->err), "%s", err);
}

/* Parses <text>, which must hold exactly one document. */
static struct json_object *
yaml_doc(const char *text)
{
	struct one o;

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(manifest_parse("t.yaml", text, strlen(text), one_cb,
	    &o), 0);
	ck_assert_msg(o.n == 1 && o.doc != NULL, "%d docs: %s", o.n, o.err);
	return o.doc;
}

/* Returns objects_from_json()'s code; <out> gets the dump or the error. */
static int
convert(const char *text, char *out, size_t outlen)
{
	struct json_object *doc = yaml_doc(text);
	struct obj *o = NULL;
	char err[512], *d;
	int rc;

	err[0] = '\0';
	rc = objects_from_json(doc, &o, err, sizeof(err));
	json_object_put(doc);
	if (rc == 0) {
		ck_assert_ptr_nonnull(o);
		ck_assert_ptr_null(o->origin);
		d = dump(o);
		snprintf(out, outlen, "%s", d);
		free(d);
		objects_free(o);
	} else {
		ck_assert_ptr_null(o);
		snprintf(out, outlen, "%s", err);
	}
	return rc;
}

#define ING_V1	"apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
#define ING_B1	"apiVersion: extensions/v1beta1\nkind: Ingress\n"
#define ING_NB1	"apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\n"
#define SVC	"apiVersion: v1\nkind: Service\n"
#define ES	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
#define BE80	"{service: {name: s, port: {number: 80}}}"
#define P(path, type)	"{path: " path ", pathType: " type ", backend: " \
			    BE80 "}"
#define RULE_V1(paths)	"spec:\n  rules:\n  - http:\n      paths: [" paths \
			    "]\n"

static const struct {
	const char	*name;
	const char	*yaml;
	const char	*want;		/* dump() */
} valid_cases[] = {
	{ "v1 ingress, every field",
	  ING_V1
	  "metadata:\n"
	  "  name: web\n"
	  "  namespace: shop\n"
	  "  uid: u-1\n"
	  "  resourceVersion: \"42\"\n"
	  "  creationTimestamp: \"2024-01-02T03:04:05Z\"\n"
	  "  annotations:\n"
	  "    ingressd.io/lb-policy: round-robin\n"
	  "    ingressd.io/timeout: 30\n"
	  "    kubernetes.io/ingress.class: ingressd\n"
	  "    example.com/other: dropped\n"
	  "spec:\n"
	  "  ingressClassName: ingressd\n"
	  "  defaultBackend: {service: {name: fallback, port: {name: http}}}\n"
	  "  tls:\n"
	  "  - hosts: [Shop.Example.com, \"*.shop.example.com\"]\n"
	  "    secretName: shop-tls\n"
	  "  - hosts: [a.example.com]\n"
	  "  rules:\n"
	  "  - host: Shop.Example.COM\n"
	  "    http:\n"
	  "      paths:\n"
	  "      - {path: /api, pathType: Prefix, backend: {service: "
	  "{name: api, port: {number: 8080}}}}\n"
	  "      - {path: /healthz, pathType: Exact, backend: {service: "
	  "{name: api, port: {name: metrics}}}}\n"
	  "      - {pathType: ImplementationSpecific, backend: " BE80 "}\n"
	  "  - host: \"*.shop.example.com\"\n"
	  "    http: {paths: [" P("/", "Prefix") "]}\n"
	  "  - host: nohttp.example.com\n",
	  "Ingress shop/web uid=u-1 rv=42 t=1704164645"
	  " @ingressd.io/lb-policy=round-robin @ingressd.io/timeout=30"
	  " @kubernetes.io/ingress.class=ingressd"
	  " class=ingressd classann=ingressd default=fallback:http"
	  " rule(shop.example.com /api Prefix api:8080 /healthz Exact"
	  " api:metrics / Impl s:80)"
	  " rule(*.shop.example.com / Prefix s:80)"
	  " rule(nohttp.example.com)"
	  " tls(shop.example.com *.shop.example.com -> shop-tls)"
	  " tls(a.example.com -> -)" },
	{ "v1 ingress, defaultBackend only",
	  ING_V1 "metadata: {name: d}\nspec: {defaultBackend: " BE80 "}\n",
	  "Ingress default/d default=s:80" },
	{ "seed: extensions/v1beta1 with serviceName/servicePort",
	  ING_B1
	  "metadata:\n"
	  "  name: traefik-web-ui\n"
	  "  namespace: kube-system\n"
	  "spec:\n"
	  "  rules:\n"
	  "  - host: traefik-ui.local\n"
	  "    http:\n"
	  "      paths:\n"
	  "      - path: /\n"
	  "        backend:\n"
	  "          serviceName: traefik-web-ui\n"
	  "          servicePort: web\n"
	  "  - host: test.com\n"
	  "    http:\n"
	  "      paths:\n"
	  "      - backend:\n"
	  "          serviceName: test\n"
	  "          servicePort: 8123\n",
	  "Ingress kube-system/traefik-web-ui"
	  " rule(traefik-ui.local / Impl traefik-web-ui:web)"
	  " rule(test.com / Impl test:8123)" },
	{ "networking v1beta1 with backend and pathType",
	  ING_NB1
	  "metadata: {name: b}\n"
	  "spec:\n"
	  "  backend: {serviceName: def, servicePort: 81}\n"
	  "  rules:\n"
	  "  - http: {paths: [{path: /x, pathType: Exact, backend: "
	  "{serviceName: s, servicePort: 80}}]}\n",
	  "Ingress default/b default=def:81 rule(- /x Exact s:80)" },
	{ "time with fraction and offset",
	  ING_V1 "metadata: {name: t, creationTimestamp: "
	  "\"2024-01-02T03:04:05.999-01:30\"}\n"
	  "spec: {defaultBackend: " BE80 "}\n",
	  "Ingress default/t t=1704170045 default=s:80" },
	{ "ingress class, default",
	  "apiVersion: networking.k8s.io/v1\nkind: IngressClass\n"
	  "metadata:\n  name: ingressd\n  annotations:\n"
	  "    ingressclass.kubernetes.io/is-default-class: \"true\"\n"
	  "spec: {controller: ingressd.io/ingress-controller}\n",
	  "IngressClass default/ingressd"
	  " @ingressclass.kubernetes.io/is-default-class=true"
	  " controller=ingressd.io/ingress-controller default=1" },
	{ "ingress class v1beta1, unquoted true, namespace dropped",
	  "apiVersion: networking.k8s.io/v1beta1\nkind: IngressClass\n"
	  "metadata:\n  name: other\n  namespace: x\n  annotations:\n"
	  "    ingressclass.kubernetes.io/is-default-class: true\n"
	  "spec: {controller: example.com/c}\n",
	  "IngressClass default/other"
	  " @ingressclass.kubernetes.io/is-default-class=true"
	  " controller=example.com/c default=1" },
	{ "ingress class, not default",
	  "apiVersion: networking.k8s.io/v1\nkind: IngressClass\n"
	  "metadata: {name: c}\nspec: {controller: example.com/c}\n",
	  "IngressClass default/c controller=example.com/c default=0" },
	{ "service with ports",
	  SVC
	  "metadata: {name: api, namespace: shop}\n"
	  "spec:\n"
	  "  ports:\n"
	  "  - {name: http, port: 8080, targetPort: 9000}\n"
	  "  - {name: metrics, port: 9100, targetPort: metrics, "
	  "protocol: TCP}\n"
	  "  - {name: dns, port: 53, protocol: UDP}\n",
	  "Service shop/api ClusterIP port(http 8080 9000 TCP)"
	  " port(metrics 9100 metrics TCP) port(dns 53 0 UDP)" },
	{ "seed service",
	  SVC "metadata: {name: test, labels: {name: test}}\n"
	  "spec: {ports: [{port: 8123, targetPort: 80}], "
	  "selector: {name: test}}\n",
	  "Service default/test ClusterIP port(- 8123 80 TCP)" },
	{ "external name service",
	  SVC "metadata: {name: ext}\n"
	  "spec: {type: ExternalName, externalName: api.example.net.}\n",
	  "Service default/ext ExternalName ext=api.example.net" },
	{ "endpoint slice v1",
	  ES
	  "metadata:\n  name: api-abc\n  namespace: shop\n"
	  "  labels: {kubernetes.io/service-name: api}\n"
	  "addressType: IPv4\n"
	  "endpoints:\n"
	  "- addresses: [10.0.0.1]\n  conditions: {ready: true}\n"
	  "- addresses: [10.0.0.2]\n"
	  "  conditions: {ready: false, serving: true, terminating: true}\n"
	  "- addresses: [10.0.0.3, 10.0.0.4]\n"
	  "- addresses: [10.0.0.5]\n  conditions: {ready: false}\n"
	  "ports:\n- {name: http, port: 9000}\n- {name: '', port: 9001, "
	  "protocol: UDP}\n",
	  "EndpointSlice shop/api-abc svc=api IPv4"
	  " ep(10.0.0.1 r1 s1 t0) ep(10.0.0.2 r0 s1 t1)"
	  " ep(10.0.0.3,10.0.0.4 r1 s1 t0) ep(10.0.0.5 r0 s0 t0)"
	  " port(http 9000 TCP) port(- 9001 UDP)" },
	{ "endpoint slice v1beta1, IPv6, null ports",
	  "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\n"
	  "metadata: {name: s6, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: IPv6\nendpoints: [{addresses: [\"fd00::1\"]}]\n"
	  "ports: null\n",
	  "EndpointSlice default/s6 svc=s IPv6 ep(fd00::1 r1 s1 t0)" },
	{ "endpoint slice, FQDN, no endpoints",
	  ES "metadata: {name: f, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: FQDN\nendpoints: [{addresses: [db.example.com]}]\n",
	  "EndpointSlice default/f svc=s FQDN ep(db.example.com r1 s1 t0)" },
	{ "endpoints v1",
	  "apiVersion: v1\nkind: Endpoints\n"
	  "metadata: {name: legacy}\n"
	  "subsets:\n"
	  "- addresses: [{ip: 10.1.0.1}, {ip: 10.1.0.2}]\n"
	  "  notReadyAddresses: [{ip: 10.1.0.3}]\n"
	  "  ports: [{name: http, port: 80}]\n"
	  "- addresses: [{ip: \"fd00::1\"}]\n"
	  "  ports: [{port: 81, protocol: TCP}]\n",
	  "Endpoints default/legacy"
	  " subset[ svc=legacy IPv4 ep(10.1.0.1 r1 s1 t0)"
	  " ep(10.1.0.2 r1 s1 t0) ep(10.1.0.3 r0 s0 t0) port(http 80 TCP)]"
	  " subset[ svc=legacy IPv6 ep(fd00::1 r1 s1 t0) port(- 81 TCP)]" },
	{ "tls secret",
	  "apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\n"
	  "type: kubernetes.io/tls\n"
	  "data:\n  tls.crt: Y2VydA==\n  tls.key: a2V5Cg==\n",
	  "Secret default/tls kubernetes.io/tls crt=4:cert key=4:key\n" },
	{ "secret, stringData wins, base64 with line breaks",
	  "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
	  "data:\n  tls.crt: \"YWJj\\nZGVm\\n\"\n  tls.key: Zm9v\n"
	  "stringData: {tls.key: bar}\n",
	  "Secret default/s Opaque crt=6:abcdef key=3:bar" },
};

START_TEST(test_valid)
{
	char out[4096];
	int rc;

	rc = convert(valid_cases[_i].yaml, out, sizeof(out));
	ck_assert_msg(rc == 0, "%s: rc %d: %s", valid_cases[_i].name, rc, out);
	ck_assert_msg(strcmp(out, valid_cases[_i].want) == 0,
	    "%s:\n got: %s\nwant: %s", valid_cases[_i].name, out,
	    valid_cases[_i].want);
}
END_TEST

/* Invalid documents: the error must start with the field's path. */
static const struct {
	const char	*yaml;
	const char	*want;		/* prefix of the error */
} invalid_cases[] = {
	{ "just a string\n", "(document): must be a mapping" },
	{ "apiVersion: v1\nmetadata: {name: a}\n", "kind: required" },
	{ "kind: Service\nmetadata: {name: a}\n", "apiVersion: required" },
	{ SVC "spec: {}\n", "metadata: required" },
	{ SVC "metadata: {namespace: x}\nspec: {}\n",
	  "metadata.name: required" },
	{ SVC "metadata: {name: 1abc}\nspec: {}\n",
	  "metadata.name: invalid name \"1abc\"" },
	{ ING_V1 "metadata: {name: Web}\nspec: {defaultBackend: " BE80 "}\n",
	  "metadata.name: invalid name \"Web\"" },
	{ ING_V1 "metadata: {name: w, namespace: a.b}\n"
	  "spec: {defaultBackend: " BE80 "}\n",
	  "metadata.namespace: invalid namespace" },
	{ ING_V1 "metadata: {name: w, creationTimestamp: yesterday}\n"
	  "spec: {defaultBackend: " BE80 "}\n",
	  "metadata.creationTimestamp: invalid time" },
	{ ING_V1 "metadata: {name: w, creationTimestamp: "
	  "\"2023-02-29T00:00:00Z\"}\nspec: {defaultBackend: " BE80 "}\n",
	  "metadata.creationTimestamp: invalid time" },
	{ ING_V1 "metadata: {name: w, annotations: {ingressd.io/x: [1]}}\n"
	  "spec: {defaultBackend: " BE80 "}\n",
	  "metadata.annotations[ingressd.io/x]: must be a string" },
	{ ING_V1 "metadata: {name: w}\nspec: {}\n",
	  "spec: either defaultBackend or rules must be specified" },
	{ ING_B1 "metadata: {name: w}\nspec: {rules: []}\n",
	  "spec: either backend or rules must be specified" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1(P("/a", "Prefix") ", " P("/b", "Regex")),
	  "spec.rules[0].http.paths[1].pathType: unsupported value "
	  "\"Regex\"" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /a, backend: " BE80 "}"),
	  "spec.rules[0].http.paths[0].pathType: required" },
	{ ING_V1 "metadata: {name: w}\n" RULE_V1(P("a", "Prefix")),
	  "spec.rules[0].http.paths[0].path: must be an absolute path" },
	{ ING_V1 "metadata: {name: w}\n" RULE_V1(P("/a//b", "Exact")),
	  "spec.rules[0].http.paths[0].path: must not contain '//'" },
	{ ING_V1 "metadata: {name: w}\n" RULE_V1(P("/a/..", "Prefix")),
	  "spec.rules[0].http.paths[0].path: must not end with" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{pathType: Prefix, backend: " BE80 "}"),
	  "spec.rules[0].http.paths[0].path: required" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n  - http: {}\n",
	  "spec.rules[0].http.paths: required" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {resource: "
	  "{apiGroup: x, kind: Bucket, name: b}}}"),
	  "spec.rules[0].http.paths[0].backend.resource: resource backends "
	  "are not supported" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{port: {number: 80}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.name: required" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{name: s, port: {number: 0}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.port.number: must be "
	  "between 1 and 65535" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{name: s, port: {number: 65536}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.port.number: must be "
	  "between 1 and 65535" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{name: s, port: {name: Http_1}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.port.name: invalid "
	  "port name" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{name: s, port: {name: \"8080\"}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.port.name: invalid "
	  "port name" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{name: s, port: {}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.port: port name or "
	  "number is required" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {service: "
	  "{name: s, port: {name: a, number: 1}}}}"),
	  "spec.rules[0].http.paths[0].backend.service.port: cannot set both" },
	{ ING_V1 "metadata: {name: w}\n"
	  RULE_V1("{path: /, pathType: Prefix, backend: {}}"),
	  "spec.rules[0].http.paths[0].backend.service: required" },
	{ ING_V1 "metadata: {name: w}\nspec: {defaultBackend: {service: "
	  "{name: S, port: {number: 1}}}}\n",
	  "spec.defaultBackend.service.name: invalid service name \"S\"" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n"
	  "  - {host: \"1.2.3.4\"}\n",
	  "spec.rules[0].host: invalid host \"1.2.3.4\": must be a DNS name, "
	  "not an IP address" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n"
	  "  - {host: \"a.com:80\"}\n",
	  "spec.rules[0].host: invalid host \"a.com:80\"" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n"
	  "  - {host: \"a.*.com\"}\n",
	  "spec.rules[0].host: invalid host" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n"
	  "  - {host: \"a_b.com\"}\n",
	  "spec.rules[0].host: invalid host" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n"
	  "  - {host: 80}\n",
	  "spec.rules[0].host: must be a string" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  rules:\n  - 3\n",
	  "spec.rules[0]: must be a mapping" },
	{ ING_V1 "metadata: {name: w}\nspec: {rules: x}\n",
	  "spec.rules: must be a list" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  defaultBackend: " BE80 "\n"
	  "  tls: [{hosts: [ok.com, \"bad host\"]}]\n",
	  "spec.tls[0].hosts[1]: invalid host" },
	{ ING_V1 "metadata: {name: w}\nspec:\n  defaultBackend: " BE80 "\n"
	  "  ingressClassName: Bad_Class\n",
	  "spec.ingressClassName: invalid name" },
	{ ING_B1 "metadata: {name: w}\nspec:\n  rules:\n  - http: {paths: "
	  "[{backend: {serviceName: s}}]}\n",
	  "spec.rules[0].http.paths[0].backend.servicePort: required" },
	{ ING_B1 "metadata: {name: w}\nspec:\n  rules:\n  - http: {paths: "
	  "[{backend: {serviceName: s, servicePort: 70000}}]}\n",
	  "spec.rules[0].http.paths[0].backend.servicePort: must be between" },
	{ ING_B1 "metadata: {name: w}\nspec:\n  backend: {serviceName: s, "
	  "servicePort: \"80\"}\n",
	  "spec.backend.servicePort: invalid port name \"80\"" },
	{ ING_B1 "metadata: {name: w}\nspec:\n  backend: {servicePort: 80}\n",
	  "spec.backend.serviceName: required" },
	{ ING_NB1 "metadata: {name: w}\nspec:\n  backend: {resource: "
	  "{kind: K, name: n}}\n",
	  "spec.backend.resource: resource backends are not supported" },
	{ "apiVersion: networking.k8s.io/v1\nkind: IngressClass\n"
	  "metadata: {name: c}\nspec: {}\n",
	  "spec.controller: required" },
	{ SVC "metadata: {name: s}\nspec: {type: Magic}\n",
	  "spec.type: unsupported value \"Magic\"" },
	{ SVC "metadata: {name: s}\nspec: {type: ExternalName}\n",
	  "spec.externalName: required" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{port: 0}]}\n",
	  "spec.ports[0].port: must be between 1 and 65535" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{name: a}]}\n",
	  "spec.ports[0].port: required" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{port: \"80\"}]}\n",
	  "spec.ports[0].port: must be an integer" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{port: 80.5}]}\n",
	  "spec.ports[0].port: must be an integer" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{name: a, port: 1}, "
	  "{port: 2}]}\n",
	  "spec.ports[1]: name required" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{name: a, port: 1}, "
	  "{name: a, port: 2}]}\n",
	  "spec.ports[1]: duplicate port name \"a\"" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{port: 1, protocol: "
	  "ICMP}]}\n",
	  "spec.ports[0].protocol: unsupported value \"ICMP\"" },
	{ SVC "metadata: {name: s}\nspec: {ports: [{port: 1, targetPort: "
	  "-3}]}\n",
	  "spec.ports[0].targetPort: must be between 1 and 65535" },
	{ ES "metadata: {name: e}\naddressType: IPv4\n",
	  "metadata.labels[kubernetes.io/service-name]: required" },
	{ ES "metadata: {name: e, labels: {kubernetes.io/service-name: s}}\n",
	  "addressType: required" },
	{ ES "metadata: {name: e, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: IPX\n",
	  "addressType: unsupported value \"IPX\"" },
	{ ES "metadata: {name: e, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}, "
	  "{addresses: [10.0.0.2, \"fd00::1\"]}]\n",
	  "endpoints[1].addresses[1]: invalid IPv4 address \"fd00::1\"" },
	{ ES "metadata: {name: e, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: IPv4\nendpoints: [{addresses: []}]\n",
	  "endpoints[0].addresses: required" },
	{ ES "metadata: {name: e, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], "
	  "conditions: {ready: \"yes\"}}]\n",
	  "endpoints[0].conditions.ready: must be a boolean" },
	{ ES "metadata: {name: e, labels: {kubernetes.io/service-name: s}}\n"
	  "addressType: IPv4\nports: [{port: 70000}]\n",
	  "ports[0].port: must be between 0 and 65535" },
	{ "apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\n"
	  "subsets: [{addresses: [{ip: nope}]}]\n",
	  "subsets[0].addresses[0].ip: invalid IP address \"nope\"" },
	{ "apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\n"
	  "subsets: [{notReadyAddresses: [{hostname: x}]}]\n",
	  "subsets[0].notReadyAddresses[0].ip: required" },
	{ "apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\n"
	  "subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{name: a}]}]\n",
	  "subsets[0].ports[0].port: required" },
	{ "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
	  "data: {tls.crt: \"not base64!\"}\n",
	  "data[tls.crt]: invalid base64" },
	{ "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
	  "data: {tls.key: \"YWJjZA\"}\n",
	  "data[tls.key]: invalid base64" },
	{ "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
	  "data: {tls.key: \"YW=jZA==\"}\n",
	  "data[tls.key]: invalid base64" },
	{ "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
	  "stringData: {tls.crt: 3}\n",
	  "stringData[tls.crt]: must be a string" },
};

START_TEST(test_invalid)
{
	char out[4096];
	int rc;

	rc = convert(invalid_cases[_i].yaml, out, sizeof(out));
	ck_assert_msg(rc == -1, "case %d: rc %d: %s", _i, rc, out);
	ck_assert_msg(strncmp(out, invalid_cases[_i].want,
	    strlen(invalid_cases[_i].want)) == 0, "case %d:\n got: %s\nwant: "
	    "%s...", _i, out, invalid_cases[_i].want);
}
END_TEST

/* Kinds and versions ingressd does not keep are ignored, not refused. */
static const char *const ignored_cases[] = {
	"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
	"apiVersion: extensions/v1beta1\nkind: DaemonSet\nmetadata: "
	"{name: d}\n",
	"apiVersion: v2\nkind: Service\nmetadata: {name: s}\n",
	"apiVersion: networking.k8s.io/v2\nkind: Ingress\nmetadata: "
	"{name: i}\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {}\n",
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
};

START_TEST(test_ignored)
{
	struct json_object *doc = yaml_doc(ignored_cases[_i]);
	struct obj *o = (struct obj *)1;
	char err[256];

	ck_assert_int_eq(objects_from_json(doc, &o, err, sizeof(err)), 1);
	ck_assert_ptr_null(o);
	json_object_put(doc);
}
END_TEST

/* Caps: OBJ_MAX_STRING and OBJ_MAX_LIST. */
START_TEST(test_caps)
{
	struct json_object *doc, *spec, *ports, *p;
	struct obj *o = NULL;
	char err[256], *big;
	int i;

	doc = yaml_doc(SVC "metadata: {name: s}\nspec: {}\n");
	big = malloc(OBJ_MAX_STRING + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', OBJ_MAX_STRING + 1);
	big[OBJ_MAX_STRING + 1] = '\0';
	ck_assert(json_object_object_get_ex(doc, "spec", &spec));
	json_object_object_add(spec, "type", json_object_new_string(big));
	ck_assert_int_eq(objects_from_json(doc, &o, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "spec.type: longer than 4096 bytes");
	free(big);

	json_object_object_del(spec, "type");
	ports = json_object_new_array();
	for (i = 0; i < OBJ_MAX_LIST + 1; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "port", json_object_new_int(80));
		json_object_array_add(ports, p);
	}
	json_object_object_add(spec, "ports", ports);
	ck_assert_int_eq(objects_from_json(doc, &o, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "spec.ports: more than 10000 items");
	ck_assert_ptr_null(o);
	json_object_put(doc);

	/* Secret values may pass OBJ_MAX_STRING, not 1 MiB. */
	doc = yaml_doc("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n");
	big = malloc((1u << 20) + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, 'A', 8192);
	big[8192] = '\0';
	spec = json_object_new_object();
	json_object_object_add(spec, "tls.crt", json_object_new_string(big));
	json_object_object_add(doc, "data", spec);
	ck_assert_int_eq(objects_from_json(doc, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(o->u.secret.tls_crt_len, 6144);
	objects_free(o);
	memset(big, 'A', (1u << 20) + 1);
	big[(1u << 20) + 1] = '\0';
	spec = json_object_new_object();
	json_object_object_add(spec, "tls.key", json_object_new_string(big));
	json_object_object_add(doc, "stringData", spec);
	ck_assert_int_eq(objects_from_json(doc, &o, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "stringData[tls.key]: longer than 1048576 bytes");
	free(big);
	json_object_put(doc);
}
END_TEST

START_TEST(test_helpers)
{
	struct json_object *doc;
	struct obj *o;
	char err[256];

	ck_assert_str_eq(objects_kind_name(OBJ_INGRESS), "Ingress");
	ck_assert_str_eq(objects_kind_name(OBJ_ENDPOINT_SLICE),
	    "EndpointSlice");
	ck_assert_str_eq(objects_kind_name(OBJ_SECRET), "Secret");
	objects_free(NULL);

	doc = yaml_doc(ING_V1 "metadata:\n  name: a\n  annotations:\n"
	    "    ingressd.io/x: \"1\"\nspec: {defaultBackend: " BE80 "}\n");
	ck_assert_int_eq(objects_from_json(doc, &o, err, sizeof(err)), 0);
	ck_assert_str_eq(objects_annotation(o, "ingressd.io/x"), "1");
	ck_assert_ptr_null(objects_annotation(o, "ingressd.io/y"));
	ck_assert_ptr_null(o->u.ingress.class_annotation);
	objects_free(o);
	json_object_put(doc);
}
END_TEST

/*
 * provider_files
 */

static char tmpdir[PATH_MAX];

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;

	/* Write then rename, as editors and kubectl cp do. */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void
rm_rf(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

static void
setup_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/ingressd-pf-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown_tmp(void)
{
	rm_rf(tmpdir);
}

#define SVC_DOC(name, port) \
	"apiVersion: v1\nkind: Service\nmetadata: {name: " #name "}\n" \
	"spec: {ports: [{port: " #port "}]}\n"

START_TEST(test_load_dir)
{
	struct store *st;
	const struct obj *o;
	char err[512], path[PATH_MAX + 32];
	int nerrors = -1;

	write_file(tmpdir, "a.yaml", SVC_DOC(one, 1) "---\n" SVC_DOC(dup, 1)
	    "---\nkind: Service\napiVersion: v1\nmetadata: {name: BAD}\n"
	    "spec: {}\n---\napiVersion: apps/v1\nkind: Deployment\n"
	    "metadata: {name: d}\n");
	write_file(tmpdir, "b.yml", "a: b: c\n");
	write_file(tmpdir, "c.json", "{\"apiVersion\": \"v1\", \"kind\": "
	    "\"Service\", \"metadata\": {\"name\": \"dup\"}, \"spec\": "
	    "{\"ports\": [{\"port\": 2}]}}");
	write_file(tmpdir, "d.txt", SVC_DOC(txt, 1));
	write_file(tmpdir, ".hidden.yaml", SVC_DOC(hidden, 1));
	snprintf(path, sizeof(path), "%s/sub.yaml", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/link.yaml", tmpdir);
	ck_assert_int_eq(symlink("a.yaml.target", path), 0);	/* dangling */

	st = provider_files_load(tmpdir, &nerrors, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	/* BAD name, b.yml syntax, the dangling link. */
	ck_assert_int_eq(nerrors, 3);
	ck_assert_uint_eq(store_count(st, OBJ_SERVICE), 2);
	o = store_get(st, OBJ_SERVICE, "default", "one");
	ck_assert_ptr_nonnull(o);
	snprintf(path, sizeof(path), "%s/a.yaml doc 1", tmpdir);
	ck_assert_str_eq(o->origin, path);
	/* c.json comes after a.yaml: its "dup" wins. */
	o = store_get(st, OBJ_SERVICE, "default", "dup");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->u.service.ports[0].port, 2);
	snprintf(path, sizeof(path), "%s/c.json doc 1", tmpdir);
	ck_assert_str_eq(o->origin, path);
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "default", "txt"));
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "default", "hidden"));
	store_free(st);

	snprintf(path, sizeof(path), "%s/nope", tmpdir);
	st = provider_files_load(path, &nerrors, err, sizeof(err));
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, "nope: No such file") != NULL, "%s", err);
}
END_TEST

/* The fixtures: the seed article's manifests and one of every kind. */
START_TEST(test_load_fixtures)
{
	struct store *st;
	char err[512];
	int nerrors = -1;

	st = provider_files_load(TESTS_SRCDIR "/unit/master/data", &nerrors,
	    err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	ck_assert_int_eq(nerrors, 0);
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS, "kube-system",
	    "traefik-web-ui"));
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS, "default",
	    "traefik-ingress"));
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS, "default", "test"));
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS, "default", "j1"));
	ck_assert_ptr_nonnull(store_get(st, OBJ_SERVICE, "kube-system",
	    "traefik-web-ui"));
	ck_assert_uint_eq(store_count(st, OBJ_INGRESS), 5);
	ck_assert_uint_eq(store_count(st, OBJ_INGRESS_CLASS), 1);
	ck_assert_uint_eq(store_count(st, OBJ_ENDPOINT_SLICE), 1);
	ck_assert_uint_eq(store_count(st, OBJ_ENDPOINTS), 1);
	ck_assert_uint_eq(store_count(st, OBJ_SECRET), 1);
	store_free(st);
}
END_TEST

/* What the reload callback saw. */
struct got {
	struct ev_loop	*loop;
	int		 calls;
	int		 nerrors;
	struct store	*st;		/* the latest */
};

static void
got_cb(void *arg, struct store *st, int nerrors)
{
	struct got *g = arg;

	g->calls++;
	g->nerrors = nerrors;
	store_free(g->st);
	g->st = st;
	ev_break(g->loop, EVBREAK_ALL);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until a callback or <seconds>; 1 when one came. */
static int
run_until_cb(struct got *g, double seconds)
{
	ev_timer t;
	int before = g->calls;

	ev_timer_init(&t, timeout_cb, seconds, 0.);
	ev_timer_start(g->loop, &t);
	ev_run(g->loop, 0);
	ev_timer_stop(g->loop, &t);
	return g->calls > before;
}

/* Runs the loop for exactly <seconds>, counting callbacks. */
static int
run_for(struct got *g, double seconds)
{
	double end = ev_time() + seconds;
	int before = g->calls;

	while (ev_time() < end) {
		ev_now_update(g->loop);
		run_until_cb(g, end - ev_time() > 0 ? end - ev_time() : 0.);
	}
	return g->calls - before;
}

START_TEST(test_watch_reload)
{
	struct provider_files *pf;
	struct got g;
	char path[PATH_MAX + 32];

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(g.loop);
	write_file(tmpdir, "a.yaml", SVC_DOC(one, 1));

	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(g.calls, 1);	/* synchronous first load */
	ck_assert_ptr_nonnull(store_get(g.st, OBJ_SERVICE, "default", "one"));

	/* A burst of changes: one reload after the quiet period. */
	write_file(tmpdir, "b.yaml", SVC_DOC(two, 2));
	write_file(tmpdir, "c.yaml", SVC_DOC(three, 3));
	write_file(tmpdir, "a.yaml", SVC_DOC(one, 4));
	ck_assert_int_eq(run_for(&g, 0.5), 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_SERVICE), 3);
	ck_assert_int_eq(store_get(g.st, OBJ_SERVICE, "default",
	    "one")->u.service.ports[0].port, 4);

	/*
	 * A bad edit: the callback still comes, the error is counted, and
	 * the file's last good version stays.
	 */
	write_file(tmpdir, "c.yaml", "kind: [\n");
	ck_assert(run_until_cb(&g, 3.0));
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_SERVICE), 3);

	/* Deleting a file. */
	snprintf(path, sizeof(path), "%s/c.yaml", tmpdir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert(run_until_cb(&g, 3.0));
	ck_assert_int_eq(g.nerrors, 0);

	/* SIGHUP-style reload, no change needed. */
	provider_files_reload(pf);
	ck_assert_int_eq(g.calls, 5);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/* Writes one more file every tick, <left> times. */
struct writer {
	ev_timer	 t;
	int		 n;
	int		 left;
};

static void
writer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct writer *wr = (struct writer *)(void *)w;
	char name[32], text[256];

	snprintf(name, sizeof(name), "w%03d.yaml", wr->n);
	snprintf(text, sizeof(text), "apiVersion: v1\nkind: Service\n"
	    "metadata: {name: w%03d}\nspec: {ports: [{port: 1}]}\n", wr->n);
	write_file(tmpdir, name, text);
	wr->n++;
	if (--wr->left == 0)
		ev_timer_stop(loop, w);
}

/*
 * Debounce: changes 20ms apart with a 150ms debounce make one reload;
 * a stream that never pauses still reloads within 10 debounce periods.
 */
START_TEST(test_watch_debounce)
{
	struct provider_files *pf;
	struct writer wr;
	struct got g;

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	pf = provider_files_new(g.loop, tmpdir, 150, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(g.calls, 1);

	memset(&wr, 0, sizeof(wr));
	wr.left = 6;
	ev_timer_init(&wr.t, writer_cb, 0.02, 0.02);
	ev_timer_start(g.loop, &wr.t);
	ck_assert_int_eq(run_for(&g, 0.6), 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_SERVICE), 6);

	/* 50ms apart for 2.5s: never 150ms of quiet. */
	wr.left = 50;
	ev_timer_init(&wr.t, writer_cb, 0.05, 0.05);
	ev_timer_start(g.loop, &wr.t);
	ck_assert(run_until_cb(&g, 2.2));
	ck_assert(wr.left > 0);
	ev_timer_stop(g.loop, &wr.t);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/*
 * A ConfigMap volume: files are symlinks through "..data", which is
 * swapped atomically to a new timestamped directory.
 */
START_TEST(test_watch_configmap)
{
	struct provider_files *pf;
	struct got g;
	char path[PATH_MAX + 32], dir[PATH_MAX + 32];

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	snprintf(dir, sizeof(dir), "%s/..2024_01", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_file(dir, "svc.yaml", SVC_DOC(cm, 1));
	snprintf(path, sizeof(path), "%s/..data", tmpdir);
	ck_assert_int_eq(symlink("..2024_01", path), 0);
	snprintf(path, sizeof(path), "%s/svc.yaml", tmpdir);
	ck_assert_int_eq(symlink("..data/svc.yaml", path), 0);

	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(store_get(g.st, OBJ_SERVICE, "default",
	    "cm")->u.service.ports[0].port, 1);

	snprintf(dir, sizeof(dir), "%s/..2024_02", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_file(dir, "svc.yaml", SVC_DOC(cm, 2));
	snprintf(path, sizeof(path), "%s/..data_tmp", tmpdir);
	ck_assert_int_eq(symlink("..2024_02", path), 0);
	snprintf(dir, sizeof(dir), "%s/..data", tmpdir);
	ck_assert_int_eq(rename(path, dir), 0);

	ck_assert(run_until_cb(&g, 3.0));
	ck_assert_int_eq(store_get(g.st, OBJ_SERVICE, "default",
	    "cm")->u.service.ports[0].port, 2);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/* A directory missing at start is waited for through its parent. */
START_TEST(test_watch_missing_dir)
{
	struct provider_files *pf;
	struct got g;
	char dir[PATH_MAX + 32], gone[PATH_MAX + 32];

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	snprintf(dir, sizeof(dir), "%s/manifests", tmpdir);

	pf = provider_files_new(g.loop, dir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_SERVICE), 0);

	/* Created elsewhere, then moved into place (as a deploy would). */
	snprintf(gone, sizeof(gone), "%s/staging", tmpdir);
	ck_assert_int_eq(mkdir(gone, 0700), 0);
	write_file(gone, "a.yaml", SVC_DOC(late, 1));
	ck_assert_int_eq(rename(gone, dir), 0);
	ck_assert(run_until_cb(&g, 3.0));
	ck_assert_ptr_nonnull(store_get(g.st, OBJ_SERVICE, "default",
	    "late"));

	/* Still watched after the move: a new file is seen. */
	write_file(dir, "b.yaml", SVC_DOC(later, 1));
	ck_assert(run_until_cb(&g, 3.0));
	ck_assert_ptr_nonnull(store_get(g.st, OBJ_SERVICE, "default",
	    "later"));

	/* Removed: the current objects stay (no callback). */
	rm_rf(dir);
	ck_assert_int_eq(run_for(&g, 0.4), 0);

	/* Back again. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_file(dir, "c.yaml", SVC_DOC(again, 1));
	ck_assert(run_until_cb(&g, 3.0));
	if (store_get(g.st, OBJ_SERVICE, "default", "again") == NULL)
		ck_assert(run_until_cb(&g, 3.0));
	ck_assert_ptr_nonnull(store_get(g.st, OBJ_SERVICE, "default",
	    "again"));

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/* Sends stderr (the log) to a file until cap_end(). */
struct cap {
	char	 path[PATH_MAX + 16];
	int	 saved;
};

static void
cap_start(struct cap *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "%s/.log", tmpdir);
	fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ne(fd, -1);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	ck_assert_int_ne(c->saved, -1);
	ck_assert_int_ne(dup2(fd, STDERR_FILENO), -1);
	close(fd);
	log_setlevel(LOG_LEVEL_WARN);
}

/* Ends the capture; the caller frees what was logged. */
static char *
cap_end(struct cap *c)
{
	char *text;
	FILE *f;
	long len;

	log_setlevel(LOG_LEVEL_ERROR);
	fflush(stderr);
	ck_assert_int_ne(dup2(c->saved, STDERR_FILENO), -1);
	close(c->saved);
	f = fopen(c->path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(c->path);
	return text;
}

/* A SIGHUP-style reload; its callback comes before it returns. */
static void
reload(struct provider_files *pf, struct got *g)
{
	int before = g->calls;

	provider_files_reload(pf);
	ck_assert_int_eq(g->calls, before + 1);
}

static int
svc_port(const struct store *st, const char *name)
{
	const struct obj *o = store_get(st, OBJ_SERVICE, "default", name);

	return o != NULL ? o->u.service.ports[0].port : -1;
}

#define BROKEN_YAML	"kind: Ingress\n\t- not yaml: [\n"
#define WEB_ING(path, type) \
	ING_V1 "metadata: {name: web}\n" RULE_V1(P(path, type))

/*
 * A good file rewritten with a YAML syntax error keeps its last good
 * objects; the error is logged, says so, and counts.
 */
START_TEST(test_keep_broken_yaml)
{
	struct provider_files *pf;
	struct got g;
	struct cap c;
	char *log, want[PATH_MAX + 64];

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	write_file(tmpdir, "a.yaml", SVC_DOC(one, 1) "---\n" SVC_DOC(two, 2));
	write_file(tmpdir, "b.yaml", SVC_DOC(other, 3));
	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(g.nerrors, 0);

	write_file(tmpdir, "a.yaml", BROKEN_YAML);
	cap_start(&c);
	reload(pf, &g);
	log = cap_end(&c);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_SERVICE), 3);
	ck_assert_int_eq(svc_port(g.st, "one"), 1);
	ck_assert_int_eq(svc_port(g.st, "two"), 2);
	ck_assert_int_eq(svc_port(g.st, "other"), 3);
	snprintf(want, sizeof(want), "%s/a.yaml doc 1 (line ", tmpdir);
	ck_assert_msg(strstr(log, want) != NULL, "%s", log);
	ck_assert_msg(strstr(log, "; keeping its last good version") != NULL,
	    "%s", log);
	free(log);

	/* Still broken at the next reload: still kept. */
	reload(pf, &g);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_int_eq(svc_port(g.st, "two"), 2);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/*
 * An invalid object (a bad pathType) in a good file: the whole last good
 * version is used, not its still valid documents.
 */
START_TEST(test_keep_invalid_object)
{
	struct provider_files *pf;
	const struct obj *o;
	struct got g;

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	write_file(tmpdir, "a.yaml", SVC_DOC(s, 1) "---\n"
	    WEB_ING("/v1", "Prefix"));
	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(g.nerrors, 0);

	write_file(tmpdir, "a.yaml", SVC_DOC(s, 2) "---\n"
	    WEB_ING("/v2", "Bogus"));
	reload(pf, &g);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_int_eq(svc_port(g.st, "s"), 1);
	o = store_get(g.st, OBJ_INGRESS, "default", "web");
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->u.ingress.nrules, 1);
	ck_assert_str_eq(o->u.ingress.rules[0].paths[0].path, "/v1");

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/* A file that never was good loads its valid documents, as before. */
START_TEST(test_keep_never_good)
{
	struct provider_files *pf;
	struct got g;
	struct cap c;
	char *log;

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	write_file(tmpdir, "a.yaml", SVC_DOC(one, 1) "---\n"
	    WEB_ING("/", "Bogus"));
	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_int_eq(svc_port(g.st, "one"), 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_INGRESS), 0);

	write_file(tmpdir, "a.yaml", SVC_DOC(two, 2) "---\n" BROKEN_YAML);
	cap_start(&c);
	reload(pf, &g);
	log = cap_end(&c);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_uint_eq(store_count(g.st, OBJ_SERVICE), 1);
	ck_assert_int_eq(svc_port(g.st, "two"), 2);
	ck_assert_msg(strstr(log, "doc 2 (line ") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "last good") == NULL, "%s", log);
	free(log);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/*
 * A deleted file's objects go, kept or not, and so does its last good
 * version: a broken file of the same name later is a new file.
 */
START_TEST(test_keep_deleted)
{
	struct provider_files *pf;
	struct got g;
	char path[PATH_MAX + 32];

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	write_file(tmpdir, "a.yaml", SVC_DOC(one, 1));
	write_file(tmpdir, "b.yaml", SVC_DOC(other, 3));
	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);

	write_file(tmpdir, "a.yaml", BROKEN_YAML);
	reload(pf, &g);
	ck_assert_int_eq(svc_port(g.st, "one"), 1);

	snprintf(path, sizeof(path), "%s/a.yaml", tmpdir);
	ck_assert_int_eq(unlink(path), 0);
	reload(pf, &g);
	ck_assert_int_eq(g.nerrors, 0);
	ck_assert_ptr_null(store_get(g.st, OBJ_SERVICE, "default", "one"));
	ck_assert_int_eq(svc_port(g.st, "other"), 3);

	write_file(tmpdir, "a.yaml", SVC_DOC(two, 2) "---\n" BROKEN_YAML);
	reload(pf, &g);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_ptr_null(store_get(g.st, OBJ_SERVICE, "default", "one"));
	ck_assert_int_eq(svc_port(g.st, "two"), 2);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

/* A fixed file is read as it now is, and is the new last good version. */
START_TEST(test_keep_fixed)
{
	struct provider_files *pf;
	struct store *st;
	struct got g;
	char err[512];
	int nerrors = -1;

	memset(&g, 0, sizeof(g));
	g.loop = ev_loop_new(EVFLAG_AUTO);
	write_file(tmpdir, "a.yaml", SVC_DOC(one, 1));
	pf = provider_files_new(g.loop, tmpdir, 50, got_cb, &g);
	ck_assert_ptr_nonnull(pf);

	write_file(tmpdir, "a.yaml", BROKEN_YAML);
	reload(pf, &g);
	ck_assert_int_eq(svc_port(g.st, "one"), 1);

	write_file(tmpdir, "a.yaml", SVC_DOC(one, 3) "---\n" SVC_DOC(new, 4));
	reload(pf, &g);
	ck_assert_int_eq(g.nerrors, 0);
	ck_assert_int_eq(svc_port(g.st, "one"), 3);
	ck_assert_int_eq(svc_port(g.st, "new"), 4);

	write_file(tmpdir, "a.yaml", SVC_DOC(one, 5) "---\n"
	    WEB_ING("/", "Bogus"));
	reload(pf, &g);
	ck_assert_int_eq(g.nerrors, 1);
	ck_assert_int_eq(svc_port(g.st, "one"), 3);
	ck_assert_int_eq(svc_port(g.st, "new"), 4);

	/* The one-shot load keeps nothing: valid documents only. */
	st = provider_files_load(tmpdir, &nerrors, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	ck_assert_int_eq(nerrors, 1);
	ck_assert_int_eq(svc_port(st, "one"), 5);
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "default", "new"));
	store_free(st);

	provider_files_free(pf);
	store_free(g.st);
	ev_loop_destroy(g.loop);
}
END_TEST

static Suite *
objects_suite(void)
{
	Suite *s = suite_create("objects");
	TCase *tc = tcase_create("objects");
	TCase *pf = tcase_create("provider_files");

	tcase_add_loop_test(tc, test_valid, 0,
	    sizeof(valid_cases) / sizeof(valid_cases[0]));
	tcase_add_loop_test(tc, test_invalid, 0,
	    sizeof(invalid_cases) / sizeof(invalid_cases[0]));
	tcase_add_loop_test(tc, test_ignored, 0,
	    sizeof(ignored_cases) / sizeof(ignored_cases[0]));
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);

	tcase_set_timeout(pf, 30);
	tcase_add_checked_fixture(pf, setup_tmp, teardown_tmp);
	tcase_add_test(pf, test_load_dir);
	tcase_add_test(pf, test_load_fixtures);
	tcase_add_test(pf, test_watch_reload);
	tcase_add_test(pf, test_watch_debounce);
	tcase_add_test(pf, test_watch_configmap);
	tcase_add_test(pf, test_watch_missing_dir);
	tcase_add_test(pf, test_keep_broken_yaml);
	tcase_add_test(pf, test_keep_invalid_object);
	tcase_add_test(pf, test_keep_never_good);
	tcase_add_test(pf, test_keep_deleted);
	tcase_add_test(pf, test_keep_fixed);
	suite_add_tcase(s, pf);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(objects_suite());
	int nfailed;

	/* Skipped documents are logged; keep the test output readable. */
	log_init(1, LOG_LEVEL_ERROR);
	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
