/*
 * objects: json-c documents -> the small Kubernetes object structs of
 * objects.h.
 *
 * Runs in the master, for both providers.  Documents come from operators'
 * files or from the API server, so each field is checked the way the API
 * server validates it (names, hosts, paths, ports) and an invalid object
 * is refused whole, with the field's path in the reason:
 * `spec.rules[0].http.paths[1].pathType: unsupported value "Regex"`.  Only
 * what compile needs is copied out; the json-c tree stays the caller's.
 * No I/O, no logging, no globals.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "master/objects.h"

#define OJ_PATHLEN	256

/* Where the reason for a refusal goes. */
struct oj {
	char		*err;
	size_t		 errlen;
};

static int	oj_fail(struct oj *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static const char *const obj_kind_names[OBJ_KIND_COUNT] = {
	[OBJ_INGRESS] = "Ingress",
	[OBJ_INGRESS_CLASS] = "IngressClass",
	[OBJ_SERVICE] = "Service",
	[OBJ_ENDPOINT_SLICE] = "EndpointSlice",
	[OBJ_ENDPOINTS] = "Endpoints",
	[OBJ_SECRET] = "Secret",
};

/* Annotations kept besides the "ingressd.io/" family. */
#define OBJ_ANN_PREFIX		"ingressd.io/"
#define OBJ_ANN_CLASS		"kubernetes.io/ingress.class"
#define OBJ_ANN_DEFAULT_CLASS	"ingressclass.kubernetes.io/is-default-class"
#define OBJ_LABEL_SERVICE	"kubernetes.io/service-name"
/*
 * Certificate chains outgrow OBJ_MAX_STRING; the API server caps a whole
 * Secret at 1 MiB, and so does ingressd for each of its two values.
 */
#define OBJ_MAX_SECRET		(1u << 20)

/* "<path>: <reason>"; always returns -1. */
static int
oj_fail(struct oj *j, const char *path, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (j->err != NULL && j->errlen > 0)
		snprintf(j->err, j->errlen, "%s: %s", path, reason);
	return -1;
}

static int
oj_nomem(struct oj *j)
{
	if (j->err != NULL && j->errlen > 0)
		snprintf(j->err, j->errlen, "out of memory");
	return -1;
}

/*
 * <out> = "<parent>.<key>" (or "<key>" at the top), cut at OJ_PATHLEN:
 * a cut path still starts right.
 */
static void
oj_path(char *out, const char *parent, const char *key)
{
	int n;

	if (parent == NULL || *parent == '\0')
		n = snprintf(out, OJ_PATHLEN, "%s", key);
	else
		n = snprintf(out, OJ_PATHLEN, "%s.%s", parent, key);
	if (n < 0)
		out[0] = '\0';
}

/* <out> = "<parent>.<key>[<i>]". */
static void
oj_index(char *out, const char *parent, const char *key, size_t i)
{
	int n;

	if (parent == NULL || *parent == '\0')
		n = snprintf(out, OJ_PATHLEN, "%s[%zu]", key, i);
	else
		n = snprintf(out, OJ_PATHLEN, "%s.%s[%zu]", parent, key, i);
	if (n < 0)
		out[0] = '\0';
}

/* The member <key> of <o>, NULL when absent or null. */
static struct json_object *
oj_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;	/* NULL for a JSON null */
}

/*
 * String member <key>: sets *<out> to a new copy, or NULL when absent (an
 * error when <required>; "" counts as absent).  Refuses other types and
 * strings over OBJ_MAX_STRING or with a NUL byte.
 */
static int
oj_str(struct oj *j, struct json_object *o, const char *parent,
    const char *key, int required, char **out)
{
	struct json_object *v;
	char path[OJ_PATHLEN];
	int len;

	*out = NULL;
	oj_path(path, parent, key);
	if ((v = oj_get(o, key)) == NULL) {
		if (required)
			return oj_fail(j, path, "required");
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return oj_fail(j, path, "must be a string");
	len = json_object_get_string_len(v);
	if (len > OBJ_MAX_STRING)
		return oj_fail(j, path, "longer than %d bytes", OBJ_MAX_STRING);
	if ((size_t)len != strlen(json_object_get_string(v)))
		return oj_fail(j, path, "contains a NUL byte");
	if (len == 0) {
		if (required)
			return oj_fail(j, path, "required");
		return 0;
	}
	if ((*out = strdup(json_object_get_string(v))) == NULL)
		return oj_nomem(j);
	return 0;
}

/* Integer member <key> in [<min>, <max>]; *<out> = 0 when absent. */
static int
oj_int(struct oj *j, struct json_object *o, const char *parent,
    const char *key, int required, int64_t min, int64_t max, int64_t *out)
{
	struct json_object *v;
	char path[OJ_PATHLEN];
	int64_t n;

	*out = 0;
	oj_path(path, parent, key);
	if ((v = oj_get(o, key)) == NULL) {
		if (required)
			return oj_fail(j, path, "required");
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return oj_fail(j, path, "must be an integer");
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return oj_fail(j, path, "must be between %lld and %lld, "
		    "inclusive", (long long)min, (long long)max);
	*out = n;
	return 0;
}

/* Boolean member <key>; *<out> = <dflt> when absent. */
static int
oj_bool(struct oj *j, struct json_object *o, const char *parent,
    const char *key, int dflt, int *out)
{
	struct json_object *v;
	char path[OJ_PATHLEN];

	*out = dflt;
	if ((v = oj_get(o, key)) == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		oj_path(path, parent, key);
		return oj_fail(j, path, "must be a boolean");
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* Mapping member <key>: *<out> NULL when absent. */
static int
oj_map(struct oj *j, struct json_object *o, const char *parent,
    const char *key, int required, struct json_object **out)
{
	char path[OJ_PATHLEN];

	*out = oj_get(o, key);
	if (*out == NULL && !required)
		return 0;
	oj_path(path, parent, key);
	if (*out == NULL)
		return oj_fail(j, path, "required");
	if (!json_object_is_type(*out, json_type_object))
		return oj_fail(j, path, "must be a mapping");
	return 0;
}

/* List member <key>: *<n> 0 when absent; at most OBJ_MAX_LIST items. */
static int
oj_list(struct oj *j, struct json_object *o, const char *parent,
    const char *key, struct json_object **out, size_t *n)
{
	char path[OJ_PATHLEN];

	*n = 0;
	if ((*out = oj_get(o, key)) == NULL)
		return 0;
	oj_path(path, parent, key);
	if (!json_object_is_type(*out, json_type_array))
		return oj_fail(j, path, "must be a list");
	*n = json_object_array_length(*out);
	if (*n > OBJ_MAX_LIST)
		return oj_fail(j, path, "more than %d items", OBJ_MAX_LIST);
	return 0;
}

/* Element <i> of a list, which must be a mapping. */
static int
oj_item(struct oj *j, struct json_object *list, size_t i, const char *path,
    struct json_object **out)
{
	*out = json_object_array_get_idx(list, i);
	if (*out == NULL || !json_object_is_type(*out, json_type_object))
		return oj_fail(j, path, "must be a mapping");
	return 0;
}

/* Zeroed array of <n> elements of <size>; NULL only on ENOMEM. */
static void *
oj_calloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/*
 * Name checks, as k8s.io/apimachinery/pkg/util/validation writes them.
 */

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 */
static int
obj_is_dns_label(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return 0;
	for (i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return s[0] != '-' && s[len - 1] != '-';
}

/* Labels joined by dots, at most 253. */
static int
obj_is_dns_subdomain(const char *s)
{
	const char *dot;
	size_t len = strlen(s);

	if (len == 0 || len > 253)
		return 0;
	for (;;) {
		dot = strchr(s, '.');
		if (!obj_is_dns_label(s, dot ? (size_t)(dot - s) : strlen(s)))
			return 0;
		if (dot == NULL)
			return 1;
		s = dot + 1;
	}
}

/* DNS-1035: a label starting with a letter (Service names). */
static int
obj_is_dns1035_label(const char *s)
{
	return obj_is_dns_label(s, strlen(s)) && islower((unsigned char)s[0]);
}

/* IANA_SVC_NAME: 1..15 of [-a-z0-9], a letter, no "--", no edge '-'. */
static int
obj_is_port_name(const char *s)
{
	size_t i, len = strlen(s);
	int letter = 0;

	if (len == 0 || len > 15 || s[0] == '-' || s[len - 1] == '-' ||
	    strstr(s, "--") != NULL)
		return 0;
	for (i = 0; i < len; i++) {
		if (islower((unsigned char)s[i]))
			letter = 1;
		else if (!isdigit((unsigned char)s[i]) && s[i] != '-')
			return 0;
	}
	return letter;
}

static int
obj_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * An Ingress host (rules[].host, tls[].hosts[]): lower-cased in place,
 * then a DNS-1123 subdomain, optionally "*." and one, never an IP.
 */
static int
obj_check_host(struct oj *j, const char *path, char *host)
{
	char *p;

	for (p = host; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	if (obj_is_ip(host))
		return oj_fail(j, path, "invalid host \"%.256s\": must be a "
		    "DNS name, not an IP address", host);
	if (strchr(host, ':') != NULL)
		return oj_fail(j, path, "invalid host \"%.256s\": must not "
		    "carry a port", host);
	if (strncmp(host, "*.", 2) == 0 ? !obj_is_dns_subdomain(host + 2) :
	    !obj_is_dns_subdomain(host))
		return oj_fail(j, path, "invalid host \"%.256s\": must be a "
		    "DNS-1123 subdomain, optionally with a leading \"*.\"",
		    host);
	return 0;
}

/*
 * A backend port: an integer 1..65535 into <number> or an IANA_SVC_NAME
 * string into <name>.  <v> must not be NULL.
 */
static int
obj_port_or_name(struct oj *j, const char *path, struct json_object *v,
    int32_t *number, char **name)
{
	int64_t n;
	const char *s;

	*number = 0;
	*name = NULL;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
		if (n < 1 || n > 65535)
			return oj_fail(j, path, "must be between 1 and 65535, "
			    "inclusive");
		*number = (int32_t)n;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return oj_fail(j, path, "must be a port number or name");
	s = json_object_get_string(v);
	if (!obj_is_port_name(s))
		return oj_fail(j, path, "invalid port name \"%.64s\": must "
		    "be an IANA_SVC_NAME (at most 15 of a-z, 0-9 and '-', "
		    "with a letter)", s);
	if ((*name = strdup(s)) == NULL)
		return oj_nomem(j);
	return 0;
}

/*
 * RFC 3339 "2024-01-02T03:04:05Z", with optional fractional seconds and a
 * numeric offset; unix seconds into *<out>.  Returns 0 or -1.
 */
static int
obj_parse_time(const char *s, int64_t *out)
{
	int64_t y, mo, d, h, mi, sec, days, off = 0, era, yoe, doy, doe;
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int i;

	for (i = 0; i < 19; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return -1;
		} else if (i == 10) {
			if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
				return -1;
		} else if (i == 13 || i == 16) {
			if (s[i] != ':')
				return -1;
		} else if (!isdigit((unsigned char)s[i]))
			return -1;
	}
#define D2(p)	((int64_t)((p)[0] - '0') * 10 + ((p)[1] - '0'))
	y = D2(s) * 100 + D2(s + 2);
	mo = D2(s + 5);
	d = D2(s + 8);
	h = D2(s + 11);
	mi = D2(s + 14);
	sec = D2(s + 17);
	s += 19;
	if (*s == '.') {
		if (!isdigit((unsigned char)s[1]))
			return -1;
		for (s++; isdigit((unsigned char)*s); s++)
			;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		if (!isdigit((unsigned char)s[1]) ||
		    !isdigit((unsigned char)s[2]) || s[3] != ':' ||
		    !isdigit((unsigned char)s[4]) ||
		    !isdigit((unsigned char)s[5]))
			return -1;
		off = D2(s + 1) * 3600 + D2(s + 4) * 60;
		if (D2(s + 1) > 23 || D2(s + 4) > 59)
			return -1;
		if (*s == '+')
			off = -off;
		s += 6;
	} else
		return -1;
#undef D2
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return -1;
	/* days_from_civil (H. Hinnant) */
	y -= mo <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + doe - 719468;
	*out = days * 86400 + h * 3600 + mi * 60 + sec + off;
	return 0;
}

/*
 * Standard base64 as Go's encoding/json decodes []byte: padding required,
 * CR and LF ignored, anything else refused.  A new NUL-terminated buffer
 * into *<out>.
 */
static int
obj_base64(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char *buf, q[4];
	const char *p;
	size_t i, n = 0, nq = 0, pad = 0;

	if ((buf = malloc(len / 4 * 3 + 4)) == NULL)
		return -2;
	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			if (nq < 2)
				goto bad;
			q[nq++] = 0;
			pad++;
		} else {
			if (pad > 0 || s[i] == '\0' ||
			    (p = strchr(alpha, s[i])) == NULL)
				goto bad;
			q[nq++] = (unsigned char)(p - alpha);
		}
		if (nq == 4) {
			buf[n++] = (unsigned char)(q[0] << 2 | q[1] >> 4);
			if (pad < 2)
				buf[n++] =
				    (unsigned char)(q[1] << 4 | q[2] >> 2);
			if (pad < 1)
				buf[n++] = (unsigned char)(q[2] << 6 | q[3]);
			nq = 0;
			if (pad > 0)
				break;
		}
	}
	/* Only line breaks may follow the padding. */
	for (i++; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			goto bad;
	if (nq != 0)
		goto bad;
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
 bad:
	free(buf);
	return -1;
}

/*
 * metadata: name (required), namespace, uid, resourceVersion,
 * creationTimestamp and the annotations ingressd reads.  <name_dns1035>
 * asks for a Service's stricter name rule.
 */
static int
obj_meta(struct oj *j, struct json_object *doc, struct obj_meta *m,
    int name_dns1035)
{
	struct json_object *md, *ann, *v;
	struct json_object_iterator it, end;
	char *ts = NULL, path[OJ_PATHLEN];
	const char *k;
	size_t n = 0;
	int rc = -1;

	m->creation = INT64_MAX;
	if (oj_map(j, doc, "", "metadata", 1, &md) == -1 ||
	    oj_str(j, md, "metadata", "name", 1, &m->name) == -1 ||
	    oj_str(j, md, "metadata", "namespace", 0, &m->namespace) == -1 ||
	    oj_str(j, md, "metadata", "uid", 0, &m->uid) == -1 ||
	    oj_str(j, md, "metadata", "resourceVersion", 0,
	    &m->resource_version) == -1 ||
	    oj_str(j, md, "metadata", "creationTimestamp", 0, &ts) == -1 ||
	    oj_map(j, md, "metadata", "annotations", 0, &ann) == -1)
		goto done;
	if (name_dns1035 ? !obj_is_dns1035_label(m->name) :
	    !obj_is_dns_subdomain(m->name)) {
		oj_fail(j, "metadata.name", "invalid name \"%.256s\": must be "
		    "a DNS-1123 %s", m->name, name_dns1035 ?
		    "label starting with a letter (DNS-1035)" : "subdomain");
		goto done;
	}
	if (m->namespace == NULL &&
	    (m->namespace = strdup("default")) == NULL) {
		oj_nomem(j);
		goto done;
	}
	if (!obj_is_dns_label(m->namespace, strlen(m->namespace))) {
		oj_fail(j, "metadata.namespace", "invalid namespace "
		    "\"%.256s\": must be a DNS-1123 label", m->namespace);
		goto done;
	}
	if (ts != NULL && obj_parse_time(ts, &m->creation) == -1) {
		oj_fail(j, "metadata.creationTimestamp", "invalid time "
		    "\"%.64s\": must be RFC 3339", ts);
		goto done;
	}
	if (ann != NULL) {
		n = json_object_object_length(ann);
		if (n > OBJ_MAX_LIST) {
			oj_fail(j, "metadata.annotations", "more than %d items",
			    OBJ_MAX_LIST);
			goto done;
		}
		if ((m->annotations = oj_calloc(n,
		    sizeof(*m->annotations))) == NULL) {
			oj_nomem(j);
			goto done;
		}
		it = json_object_iter_begin(ann);
		end = json_object_iter_end(ann);
		for (; !json_object_iter_equal(&it, &end);
		    json_object_iter_next(&it)) {
			k = json_object_iter_peek_name(&it);
			v = json_object_iter_peek_value(&it);
			if (strncmp(k, OBJ_ANN_PREFIX,
			    strlen(OBJ_ANN_PREFIX)) != 0 &&
			    strcmp(k, OBJ_ANN_CLASS) != 0 &&
			    strcmp(k, OBJ_ANN_DEFAULT_CLASS) != 0)
				continue;
			snprintf(path, sizeof(path), "metadata.annotations[%s]",
			    k);
			/*
			 * The API server wants strings; a YAML "true" or 30
			 * written without quotes is taken as its text.
			 */
			if (v == NULL || json_object_is_type(v,
			    json_type_object) || json_object_is_type(v,
			    json_type_array)) {
				oj_fail(j, path, "must be a string");
				goto done;
			}
			if (strlen(k) > OBJ_MAX_STRING ||
			    strlen(json_object_get_string(v)) >
			    OBJ_MAX_STRING) {
				oj_fail(j, path, "longer than %d bytes",
				    OBJ_MAX_STRING);
				goto done;
			}
			if ((m->annotations[m->nannotations].key =
			    strdup(k)) == NULL ||
			    (m->annotations[m->nannotations].value =
			    strdup(json_object_get_string(v))) == NULL) {
				free(m->annotations[m->nannotations].key);
				m->annotations[m->nannotations].key = NULL;
				oj_nomem(j);
				goto done;
			}
			m->nannotations++;
		}
	}
	rc = 0;
 done:
	free(ts);
	return rc;
}

/*
 * A networking.k8s.io/v1 backend: service{name, port{number|name}}; a
 * resource backend is refused.
 */
static int
obj_backend_v1(struct oj *j, struct json_object *b, const char *path,
    struct obj_backend *out)
{
	struct json_object *svc, *port, *num, *name;
	char p[OJ_PATHLEN], pp[OJ_PATHLEN];

	if (oj_get(b, "resource") != NULL) {
		oj_path(p, path, "resource");
		return oj_fail(j, p, "resource backends are not supported");
	}
	oj_path(p, path, "service");
	if (oj_map(j, b, path, "service", 1, &svc) == -1 ||
	    oj_str(j, svc, p, "name", 1, &out->service) == -1)
		return -1;
	if (!obj_is_dns1035_label(out->service)) {
		oj_path(pp, p, "name");
		return oj_fail(j, pp, "invalid service name \"%.256s\": must "
		    "be a DNS-1035 label", out->service);
	}
	if (oj_map(j, svc, p, "port", 1, &port) == -1)
		return -1;
	oj_path(pp, p, "port");
	num = oj_get(port, "number");
	name = oj_get(port, "name");
	if (num != NULL && name != NULL)
		return oj_fail(j, pp, "cannot set both port name and port "
		    "number");
	if (num == NULL && name == NULL)
		return oj_fail(j, pp, "port name or number is required");
	oj_path(p, pp, num != NULL ? "number" : "name");
	if (num != NULL && !json_object_is_type(num, json_type_int))
		return oj_fail(j, p, "must be an integer");
	if (name != NULL && !json_object_is_type(name, json_type_string))
		return oj_fail(j, p, "must be a string");
	return obj_port_or_name(j, p, num != NULL ? num : name,
	    &out->port_number, &out->port_name);
}

/* An extensions/v1beta1 backend: serviceName, servicePort (int|string). */
static int
obj_backend_v1beta1(struct oj *j, struct json_object *b, const char *path,
    struct obj_backend *out)
{
	struct json_object *port;
	char p[OJ_PATHLEN];

	if (oj_get(b, "resource") != NULL) {
		oj_path(p, path, "resource");
		return oj_fail(j, p, "resource backends are not supported");
	}
	if (oj_str(j, b, path, "serviceName", 1, &out->service) == -1)
		return -1;
	oj_path(p, path, "serviceName");
	if (!obj_is_dns1035_label(out->service))
		return oj_fail(j, p, "invalid service name \"%.256s\": must "
		    "be a DNS-1035 label", out->service);
	oj_path(p, path, "servicePort");
	if ((port = oj_get(b, "servicePort")) == NULL)
		return oj_fail(j, p, "required");
	return obj_port_or_name(j, p, port, &out->port_number,
	    &out->port_name);
}

static int
obj_backend(struct oj *j, struct json_object *b, const char *path,
    int v1, struct obj_backend *out)
{
	return v1 ? obj_backend_v1(j, b, path, out) :
	    obj_backend_v1beta1(j, b, path, out);
}

/* Exact and Prefix paths may not hide a different path (as the API). */
static int
obj_check_path(struct oj *j, const char *path, const char *p,
    enum obj_path_type type)
{
	static const char *const bad[] = { "//", "/./", "/../", "%2f",
	    "%2F" };
	size_t i, len = strlen(p);

	if (p[0] != '/')
		return oj_fail(j, path, "must be an absolute path");
	if (type == OBJ_PATH_IMPLEMENTATION_SPECIFIC)
		return 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(p, bad[i]) != NULL)
			return oj_fail(j, path, "must not contain '%s'",
			    bad[i]);
	if ((len >= 3 && strcmp(p + len - 3, "/..") == 0) ||
	    (len >= 2 && strcmp(p + len - 2, "/.") == 0))
		return oj_fail(j, path, "must not end with '/..' or '/.'");
	return 0;
}

static int
obj_ingress_path(struct oj *j, struct json_object *po, const char *path,
    int v1, struct obj_ingress_path *out)
{
	struct json_object *b;
	char p[OJ_PATHLEN], *type = NULL;
	int rc = -1;

	if (oj_str(j, po, path, "pathType", v1, &type) == -1 ||
	    oj_str(j, po, path, "path", 0, &out->path) == -1)
		goto done;
	oj_path(p, path, "pathType");
	if (type == NULL || strcmp(type, "ImplementationSpecific") == 0)
		out->type = OBJ_PATH_IMPLEMENTATION_SPECIFIC;
	else if (strcmp(type, "Exact") == 0)
		out->type = OBJ_PATH_EXACT;
	else if (strcmp(type, "Prefix") == 0)
		out->type = OBJ_PATH_PREFIX;
	else {
		oj_fail(j, p, "unsupported value \"%.64s\": must be Exact, "
		    "Prefix or ImplementationSpecific", type);
		goto done;
	}
	oj_path(p, path, "path");
	if (out->path == NULL) {
		if (v1 && out->type != OBJ_PATH_IMPLEMENTATION_SPECIFIC) {
			oj_fail(j, p, "required");
			goto done;
		}
		if ((out->path = strdup("/")) == NULL) {
			oj_nomem(j);
			goto done;
		}
	}
	if (obj_check_path(j, p, out->path, out->type) == -1)
		goto done;
	oj_path(p, path, "backend");
	if (oj_map(j, po, path, "backend", 1, &b) == -1 ||
	    obj_backend(j, b, p, v1, &out->backend) == -1)
		goto done;
	rc = 0;
 done:
	free(type);
	return rc;
}

static int
obj_ingress_rule(struct oj *j, struct json_object *ro, const char *path,
    int v1, struct obj_ingress_rule *out)
{
	struct json_object *http, *paths, *po;
	char p[OJ_PATHLEN], hp[OJ_PATHLEN];
	size_t i, n;

	if (oj_str(j, ro, path, "host", 0, &out->host) == -1)
		return -1;
	oj_path(p, path, "host");
	if (out->host != NULL && obj_check_host(j, p, out->host) == -1)
		return -1;
	if (oj_map(j, ro, path, "http", 0, &http) == -1)
		return -1;
	if (http == NULL)
		return 0;
	oj_path(hp, path, "http");
	if (oj_list(j, http, hp, "paths", &paths, &n) == -1)
		return -1;
	if (n == 0) {
		oj_path(p, hp, "paths");
		return oj_fail(j, p, "required");
	}
	if ((out->paths = oj_calloc(n, sizeof(*out->paths))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, hp, "paths", i);
		out->npaths = i + 1;
		if (oj_item(j, paths, i, p, &po) == -1 ||
		    obj_ingress_path(j, po, p, v1, &out->paths[i]) == -1)
			return -1;
	}
	return 0;
}

static int
obj_ingress_tls(struct oj *j, struct json_object *to, const char *path,
    struct obj_ingress_tls *out)
{
	struct json_object *hosts, *h;
	char p[OJ_PATHLEN];
	size_t i, n;

	if (oj_list(j, to, path, "hosts", &hosts, &n) == -1 ||
	    oj_str(j, to, path, "secretName", 0, &out->secret) == -1)
		return -1;
	oj_path(p, path, "secretName");
	if (out->secret != NULL && !obj_is_dns_subdomain(out->secret))
		return oj_fail(j, p, "invalid name \"%.256s\": must be a "
		    "DNS-1123 subdomain", out->secret);
	if ((out->hosts = oj_calloc(n, sizeof(*out->hosts))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, path, "hosts", i);
		h = json_object_array_get_idx(hosts, i);
		if (h == NULL || !json_object_is_type(h, json_type_string))
			return oj_fail(j, p, "must be a string");
		if (json_object_get_string_len(h) > OBJ_MAX_STRING)
			return oj_fail(j, p, "longer than %d bytes",
			    OBJ_MAX_STRING);
		if ((out->hosts[i] = strdup(json_object_get_string(h))) == NULL)
			return oj_nomem(j);
		out->nhosts = i + 1;
		if (obj_check_host(j, p, out->hosts[i]) == -1)
			return -1;
	}
	return 0;
}

/*
 * status.loadBalancer.ingress, for the status writer: the ip or hostname
 * of each entry, comma-joined.  Best effort: a malformed status is no
 * reason to refuse an Ingress, it reads as none (NULL) and is rewritten.
 */
static int
obj_ingress_status(struct oj *j, struct json_object *doc,
    struct obj_ingress *in)
{
	struct json_object *st, *lb, *a, *e, *v;
	char buf[1024];
	size_t i, n, len = 0;
	const char *s;

	if (!json_object_object_get_ex(doc, "status", &st) ||
	    !json_object_object_get_ex(st, "loadBalancer", &lb) ||
	    !json_object_object_get_ex(lb, "ingress", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	buf[0] = '\0';
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(a, i);
		if ((!json_object_object_get_ex(e, "ip", &v) &&
		    !json_object_object_get_ex(e, "hostname", &v)) ||
		    !json_object_is_type(v, json_type_string))
			return 0;
		s = json_object_get_string(v);
		if (strlen(s) + len + 2 > sizeof(buf) || strchr(s, ',') != NULL)
			return 0;
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    len > 0 ? "," : "", s);
	}
	if (n > 0 && (in->status_lb = strdup(buf)) == NULL)
		return oj_nomem(j);
	return 0;
}

static int
obj_ingress(struct oj *j, struct json_object *doc, struct obj *o, int v1)
{
	struct obj_ingress *in = &o->u.ingress;
	struct json_object *spec, *b, *list, *e;
	const char *ann;
	char p[OJ_PATHLEN];
	size_t i, n;

	if (oj_map(j, doc, "", "spec", 1, &spec) == -1 ||
	    oj_str(j, spec, "spec", "ingressClassName", 0,
	    &in->class_name) == -1)
		return -1;
	if (in->class_name != NULL && !obj_is_dns_subdomain(in->class_name))
		return oj_fail(j, "spec.ingressClassName", "invalid name "
		    "\"%.256s\": must be a DNS-1123 subdomain", in->class_name);
	if ((ann = objects_annotation(o, OBJ_ANN_CLASS)) != NULL &&
	    (in->class_annotation = strdup(ann)) == NULL)
		return oj_nomem(j);
	if (obj_ingress_status(j, doc, in) == -1)
		return -1;

	if (oj_map(j, spec, "spec", v1 ? "defaultBackend" : "backend", 0,
	    &b) == -1)
		return -1;
	if (b != NULL) {
		if ((in->default_backend = calloc(1,
		    sizeof(*in->default_backend))) == NULL)
			return oj_nomem(j);
		oj_path(p, "spec", v1 ? "defaultBackend" : "backend");
		if (obj_backend(j, b, p, v1, in->default_backend) == -1)
			return -1;
	}

	if (oj_list(j, spec, "spec", "rules", &list, &n) == -1)
		return -1;
	if (n == 0 && b == NULL)
		return oj_fail(j, "spec", "either %s or rules must be "
		    "specified", v1 ? "defaultBackend" : "backend");
	if ((in->rules = oj_calloc(n, sizeof(*in->rules))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, "spec", "rules", i);
		in->nrules = i + 1;
		if (oj_item(j, list, i, p, &e) == -1 ||
		    obj_ingress_rule(j, e, p, v1, &in->rules[i]) == -1)
			return -1;
	}

	if (oj_list(j, spec, "spec", "tls", &list, &n) == -1)
		return -1;
	if ((in->tls = oj_calloc(n, sizeof(*in->tls))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, "spec", "tls", i);
		in->ntls = i + 1;
		if (oj_item(j, list, i, p, &e) == -1 ||
		    obj_ingress_tls(j, e, p, &in->tls[i]) == -1)
			return -1;
	}
	return 0;
}

static int
obj_ingress_class(struct oj *j, struct json_object *doc, struct obj *o)
{
	struct obj_ingress_class *ic = &o->u.ingress_class;
	struct json_object *spec;
	const char *v;
	char *ns;

	/* Cluster-scoped: one per name, whatever namespace was written. */
	if ((ns = strdup("default")) == NULL)
		return oj_nomem(j);
	free(o->meta.namespace);
	o->meta.namespace = ns;
	if (oj_map(j, doc, "", "spec", 1, &spec) == -1 ||
	    oj_str(j, spec, "spec", "controller", 1, &ic->controller) == -1)
		return -1;
	if (strlen(ic->controller) > 250)
		return oj_fail(j, "spec.controller", "longer than 250 bytes");
	v = objects_annotation(o, OBJ_ANN_DEFAULT_CLASS);
	ic->is_default = v != NULL && strcmp(v, "true") == 0;
	return 0;
}

/* "TCP" when absent; TCP, UDP or SCTP. */
static int
obj_protocol(struct oj *j, struct json_object *po, const char *path,
    char **out)
{
	char p[OJ_PATHLEN];

	if (oj_str(j, po, path, "protocol", 0, out) == -1)
		return -1;
	if (*out == NULL)
		return (*out = strdup("TCP")) == NULL ? oj_nomem(j) : 0;
	if (strcmp(*out, "TCP") != 0 && strcmp(*out, "UDP") != 0 &&
	    strcmp(*out, "SCTP") != 0) {
		oj_path(p, path, "protocol");
		return oj_fail(j, p, "unsupported value \"%.64s\": must be "
		    "TCP, UDP or SCTP", *out);
	}
	return 0;
}

static int
obj_service_port(struct oj *j, struct json_object *po, const char *path,
    struct obj_service_port *sp)
{
	struct json_object *tp;
	char p[OJ_PATHLEN];
	int64_t n;

	if (oj_str(j, po, path, "name", 0, &sp->name) == -1 ||
	    oj_int(j, po, path, "port", 1, 1, 65535, &n) == -1 ||
	    obj_protocol(j, po, path, &sp->protocol) == -1)
		return -1;
	sp->port = (int32_t)n;
	oj_path(p, path, "name");
	if (sp->name != NULL && !obj_is_dns_label(sp->name, strlen(sp->name)))
		return oj_fail(j, p, "invalid port name \"%.64s\": must be "
		    "a DNS-1123 label", sp->name);
	oj_path(p, path, "targetPort");
	if ((tp = oj_get(po, "targetPort")) != NULL &&
	    obj_port_or_name(j, p, tp, &sp->target_port,
	    &sp->target_port_name) == -1)
		return -1;
	return 0;
}

static int
obj_service(struct oj *j, struct json_object *doc, struct obj *o)
{
	struct obj_service *s = &o->u.service;
	struct json_object *spec, *list, *e;
	char p[OJ_PATHLEN];
	size_t i, k, n;

	if (oj_map(j, doc, "", "spec", 1, &spec) == -1 ||
	    oj_str(j, spec, "spec", "type", 0, &s->type) == -1 ||
	    oj_str(j, spec, "spec", "externalName", 0,
	    &s->external_name) == -1)
		return -1;
	if (s->type == NULL && (s->type = strdup("ClusterIP")) == NULL)
		return oj_nomem(j);
	if (strcmp(s->type, "ClusterIP") != 0 &&
	    strcmp(s->type, "NodePort") != 0 &&
	    strcmp(s->type, "LoadBalancer") != 0 &&
	    strcmp(s->type, "ExternalName") != 0)
		return oj_fail(j, "spec.type", "unsupported value \"%.64s\": "
		    "must be ClusterIP, NodePort, LoadBalancer or "
		    "ExternalName", s->type);
	if (strcmp(s->type, "ExternalName") == 0) {
		if (s->external_name == NULL)
			return oj_fail(j, "spec.externalName", "required for "
			    "type ExternalName");
		n = strlen(s->external_name);
		/* A trailing dot (fully qualified) is allowed. */
		if (n > 1 && s->external_name[n - 1] == '.')
			s->external_name[n - 1] = '\0';
		if (!obj_is_dns_subdomain(s->external_name))
			return oj_fail(j, "spec.externalName", "invalid name "
			    "\"%.256s\": must be a DNS-1123 subdomain",
			    s->external_name);
	}
	if (oj_list(j, spec, "spec", "ports", &list, &n) == -1)
		return -1;
	if ((s->ports = oj_calloc(n, sizeof(*s->ports))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, "spec", "ports", i);
		s->nports = i + 1;
		if (oj_item(j, list, i, p, &e) == -1 ||
		    obj_service_port(j, e, p, &s->ports[i]) == -1)
			return -1;
		if (n > 1 && s->ports[i].name == NULL)
			return oj_fail(j, p, "name required when the Service "
			    "has more than one port");
		for (k = 0; n > 1 && k < i; k++)
			if (strcmp(s->ports[k].name, s->ports[i].name) == 0)
				return oj_fail(j, p, "duplicate port name "
				    "\"%.64s\"", s->ports[i].name);
	}
	return 0;
}

/* An address of <type>: IPv4, IPv6 or FQDN. */
static int
obj_check_address(struct oj *j, const char *path, const char *type,
    const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (strcmp(type, "IPv4") == 0 ? inet_pton(AF_INET, a, buf) != 1 :
	    strcmp(type, "IPv6") == 0 ? inet_pton(AF_INET6, a, buf) != 1 :
	    !obj_is_dns_subdomain(a))
		return oj_fail(j, path, "invalid %s address \"%.256s\"", type,
		    a);
	return 0;
}

static int
obj_endpoint_port(struct oj *j, struct json_object *po, const char *path,
    struct obj_endpoint_port *ep, int required)
{
	int64_t n;

	if (oj_str(j, po, path, "name", 0, &ep->name) == -1 ||
	    oj_int(j, po, path, "port", required, 0, 65535, &n) == -1 ||
	    obj_protocol(j, po, path, &ep->protocol) == -1)
		return -1;
	ep->port = (int32_t)n;
	return 0;
}

static int
obj_ports(struct oj *j, struct json_object *parent, const char *path,
    struct obj_endpoint_port **ports, size_t *nports, int required)
{
	struct json_object *list, *e;
	char p[OJ_PATHLEN];
	size_t i, n;

	if (oj_list(j, parent, path, "ports", &list, &n) == -1)
		return -1;
	if ((*ports = oj_calloc(n, sizeof(**ports))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, path, "ports", i);
		*nports = i + 1;
		if (oj_item(j, list, i, p, &e) == -1 ||
		    obj_endpoint_port(j, e, p, &(*ports)[i], required) == -1)
			return -1;
	}
	return 0;
}

static int
obj_endpoint_slice(struct oj *j, struct json_object *doc, struct obj *o)
{
	struct obj_endpoint_slice *es = &o->u.endpoint_slice;
	struct json_object *md, *labels, *list, *e, *addrs, *a, *cond;
	struct obj_endpoint *ep;
	char p[OJ_PATHLEN], ap[OJ_PATHLEN];
	size_t i, k, n, na;

	md = oj_get(doc, "metadata");
	if (oj_map(j, md, "metadata", "labels", 0, &labels) == -1 ||
	    oj_str(j, labels, "metadata.labels", OBJ_LABEL_SERVICE, 0,
	    &es->service_name) == -1)
		return -1;
	if (es->service_name == NULL)
		return oj_fail(j, "metadata.labels[" OBJ_LABEL_SERVICE "]",
		    "required");
	if (oj_str(j, doc, "", "addressType", 1, &es->address_type) == -1)
		return -1;
	if (strcmp(es->address_type, "IPv4") != 0 &&
	    strcmp(es->address_type, "IPv6") != 0 &&
	    strcmp(es->address_type, "FQDN") != 0)
		return oj_fail(j, "addressType", "unsupported value "
		    "\"%.64s\": must be IPv4, IPv6 or FQDN", es->address_type);
	if (oj_list(j, doc, "", "endpoints", &list, &n) == -1)
		return -1;
	if ((es->endpoints = oj_calloc(n, sizeof(*es->endpoints))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, "", "endpoints", i);
		es->nendpoints = i + 1;
		ep = &es->endpoints[i];
		if (oj_item(j, list, i, p, &e) == -1 ||
		    oj_list(j, e, p, "addresses", &addrs, &na) == -1)
			return -1;
		if (na == 0) {
			oj_path(ap, p, "addresses");
			return oj_fail(j, ap, "required");
		}
		if ((ep->addresses = oj_calloc(na,
		    sizeof(*ep->addresses))) == NULL)
			return oj_nomem(j);
		for (k = 0; k < na; k++) {
			oj_index(ap, p, "addresses", k);
			a = json_object_array_get_idx(addrs, k);
			if (a == NULL || !json_object_is_type(a,
			    json_type_string))
				return oj_fail(j, ap, "must be a string");
			if (obj_check_address(j, ap, es->address_type,
			    json_object_get_string(a)) == -1)
				return -1;
			if ((ep->addresses[k] =
			    strdup(json_object_get_string(a))) == NULL)
				return oj_nomem(j);
			ep->naddresses = k + 1;
		}
		oj_path(ap, p, "conditions");
		if (oj_map(j, e, p, "conditions", 0, &cond) == -1 ||
		    oj_bool(j, cond, ap, "ready", 1, &ep->ready) == -1 ||
		    oj_bool(j, cond, ap, "serving", ep->ready,
		    &ep->serving) == -1 ||
		    oj_bool(j, cond, ap, "terminating", 0,
		    &ep->terminating) == -1)
			return -1;
	}
	return obj_ports(j, doc, "", &es->ports, &es->nports, 0);
}

/* One Endpoints subset -> one slice, one endpoint per address. */
static int
obj_endpoints_subset(struct oj *j, struct json_object *so, const char *path,
    const char *service, struct obj_endpoint_slice *es)
{
	static const char *const keys[2] = { "addresses", "notReadyAddresses" };
	struct json_object *lists[2], *a;
	struct obj_endpoint *ep;
	unsigned char buf[sizeof(struct in6_addr)];
	char p[OJ_PATHLEN], ipp[OJ_PATHLEN], *ip;
	const char *family;
	size_t n[2], i, k, total = 0;

	if ((es->service_name = strdup(service)) == NULL)
		return oj_nomem(j);
	for (k = 0; k < 2; k++) {
		if (oj_list(j, so, path, keys[k], &lists[k], &n[k]) == -1)
			return -1;
		total += n[k];
	}
	if ((es->endpoints = oj_calloc(total, sizeof(*es->endpoints))) == NULL)
		return oj_nomem(j);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < n[k]; i++) {
			oj_index(p, path, keys[k], i);
			if (oj_item(j, lists[k], i, p, &a) == -1)
				return -1;
			ep = &es->endpoints[es->nendpoints++];
			ep->ready = ep->serving = k == 0;
			if ((ep->addresses = calloc(1,
			    sizeof(*ep->addresses))) == NULL)
				return oj_nomem(j);
			if (oj_str(j, a, p, "ip", 1, &ip) == -1)
				return -1;
			ep->addresses[0] = ip;
			ep->naddresses = 1;
			oj_path(ipp, p, "ip");
			family = inet_pton(AF_INET, ip, buf) == 1 ? "IPv4" :
			    inet_pton(AF_INET6, ip, buf) == 1 ? "IPv6" : NULL;
			if (family == NULL)
				return oj_fail(j, ipp, "invalid IP address "
				    "\"%.64s\"", ip);
			if (es->address_type != NULL &&
			    strcmp(es->address_type, family) != 0)
				return oj_fail(j, ipp, "mixes IPv4 and IPv6 "
				    "addresses in one subset");
			if (es->address_type == NULL &&
			    (es->address_type = strdup(family)) == NULL)
				return oj_nomem(j);
		}
	}
	if (es->address_type == NULL &&
	    (es->address_type = strdup("IPv4")) == NULL)
		return oj_nomem(j);
	return obj_ports(j, so, path, &es->ports, &es->nports, 1);
}

static int
obj_endpoints(struct oj *j, struct json_object *doc, struct obj *o)
{
	struct obj_endpoints *eps = &o->u.endpoints;
	struct json_object *list, *e;
	char p[OJ_PATHLEN];
	size_t i, n;

	if (oj_list(j, doc, "", "subsets", &list, &n) == -1)
		return -1;
	if ((eps->subsets = oj_calloc(n, sizeof(*eps->subsets))) == NULL)
		return oj_nomem(j);
	for (i = 0; i < n; i++) {
		oj_index(p, "", "subsets", i);
		eps->nsubsets = i + 1;
		if (oj_item(j, list, i, p, &e) == -1 ||
		    obj_endpoints_subset(j, e, p, o->meta.name,
		    &eps->subsets[i]) == -1)
			return -1;
	}
	return 0;
}

/* data[key] (base64) then stringData[key] (text, wins as in the API). */
static int
obj_secret_key(struct oj *j, struct json_object *doc, const char *key,
    unsigned char **out, size_t *outlen)
{
	struct json_object *data, *sdata, *v;
	char p[OJ_PATHLEN];
	const char *s;
	size_t len;
	int rc;

	if (oj_map(j, doc, "", "data", 0, &data) == -1 ||
	    oj_map(j, doc, "", "stringData", 0, &sdata) == -1)
		return -1;
	if ((v = oj_get(sdata, key)) != NULL) {
		snprintf(p, sizeof(p), "stringData[%s]", key);
		if (!json_object_is_type(v, json_type_string))
			return oj_fail(j, p, "must be a string");
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (len > OBJ_MAX_SECRET)
			return oj_fail(j, p, "longer than %u bytes",
			    OBJ_MAX_SECRET);
		if ((*out = malloc(len + 1)) == NULL)
			return oj_nomem(j);
		memcpy(*out, s, len);
		(*out)[len] = '\0';
		*outlen = len;
		return 0;
	}
	if ((v = oj_get(data, key)) == NULL)
		return 0;
	snprintf(p, sizeof(p), "data[%s]", key);
	if (!json_object_is_type(v, json_type_string))
		return oj_fail(j, p, "must be a base64 string");
	if ((size_t)json_object_get_string_len(v) / 4 * 3 > OBJ_MAX_SECRET)
		return oj_fail(j, p, "longer than %u bytes", OBJ_MAX_SECRET);
	rc = obj_base64(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), out, outlen);
	if (rc == -2)
		return oj_nomem(j);
	if (rc == -1)
		return oj_fail(j, p, "invalid base64");
	return 0;
}

static int
obj_secret(struct oj *j, struct json_object *doc, struct obj *o)
{
	struct obj_secret *s = &o->u.secret;

	if (oj_str(j, doc, "", "type", 0, &s->type) == -1)
		return -1;
	if (s->type == NULL && (s->type = strdup("Opaque")) == NULL)
		return oj_nomem(j);
	if (obj_secret_key(j, doc, "tls.crt", &s->tls_crt,
	    &s->tls_crt_len) == -1 ||
	    obj_secret_key(j, doc, "tls.key", &s->tls_key,
	    &s->tls_key_len) == -1 ||
	    obj_secret_key(j, doc, "ca.crt", &s->ca_crt,
	    &s->ca_crt_len) == -1)
		return -1;
	return 0;
}

/* What ingressd keeps: kind and apiVersion -> parser. */
static const struct {
	const char	*kind;
	const char	*api_version;
	enum obj_kind	 type;
	int		 v1;		/* Ingress: v1 field names */
} obj_kinds[] = {
	{ "Ingress", "networking.k8s.io/v1", OBJ_INGRESS, 1 },
	{ "Ingress", "networking.k8s.io/v1beta1", OBJ_INGRESS, 0 },
	{ "Ingress", "extensions/v1beta1", OBJ_INGRESS, 0 },
	{ "IngressClass", "networking.k8s.io/v1", OBJ_INGRESS_CLASS, 1 },
	{ "IngressClass", "networking.k8s.io/v1beta1", OBJ_INGRESS_CLASS, 1 },
	{ "Service", "v1", OBJ_SERVICE, 1 },
	{ "EndpointSlice", "discovery.k8s.io/v1", OBJ_ENDPOINT_SLICE, 1 },
	{ "EndpointSlice", "discovery.k8s.io/v1beta1", OBJ_ENDPOINT_SLICE, 1 },
	{ "Endpoints", "v1", OBJ_ENDPOINTS, 1 },
	{ "Secret", "v1", OBJ_SECRET, 1 },
};

int
objects_from_json(struct json_object *doc, struct obj **out, char *err,
    size_t errlen)
{
	struct oj j = { err, errlen };
	struct json_object *kv, *av;
	struct obj *o = NULL;
	const char *kind, *api;
	size_t i;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (doc == NULL || !json_object_is_type(doc, json_type_object))
		return oj_fail(&j, "(document)", "must be a mapping");
	kv = oj_get(doc, "kind");
	av = oj_get(doc, "apiVersion");
	if (kv == NULL || !json_object_is_type(kv, json_type_string) ||
	    json_object_get_string_len(kv) == 0)
		return oj_fail(&j, "kind", "required");
	if (av == NULL || !json_object_is_type(av, json_type_string) ||
	    json_object_get_string_len(av) == 0)
		return oj_fail(&j, "apiVersion", "required");
	kind = json_object_get_string(kv);
	api = json_object_get_string(av);
	for (i = 0; i < sizeof(obj_kinds) / sizeof(obj_kinds[0]); i++)
		if (strcmp(kind, obj_kinds[i].kind) == 0 &&
		    strcmp(api, obj_kinds[i].api_version) == 0)
			break;
	if (i == sizeof(obj_kinds) / sizeof(obj_kinds[0]))
		return 1;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return oj_nomem(&j);
	o->kind = obj_kinds[i].type;
	rc = obj_meta(&j, doc, &o->meta, o->kind == OBJ_SERVICE);
	if (rc == 0) {
		switch (o->kind) {
		case OBJ_INGRESS:
			rc = obj_ingress(&j, doc, o, obj_kinds[i].v1);
			break;
		case OBJ_INGRESS_CLASS:
			rc = obj_ingress_class(&j, doc, o);
			break;
		case OBJ_SERVICE:
			rc = obj_service(&j, doc, o);
			break;
		case OBJ_ENDPOINT_SLICE:
			rc = obj_endpoint_slice(&j, doc, o);
			break;
		case OBJ_ENDPOINTS:
			rc = obj_endpoints(&j, doc, o);
			break;
		case OBJ_SECRET:
			rc = obj_secret(&j, doc, o);
			break;
		default:
			rc = -1;
			break;
		}
	}
	if (rc == -1) {
		objects_free(o);
		return -1;
	}
	*out = o;
	return 0;
}

static void
obj_free_backend(struct obj_backend *b)
{
	free(b->service);
	free(b->port_name);
}

static void
obj_free_slice(struct obj_endpoint_slice *es)
{
	size_t i, k;

	free(es->service_name);
	free(es->address_type);
	for (i = 0; i < es->nendpoints; i++) {
		for (k = 0; k < es->endpoints[i].naddresses; k++)
			free(es->endpoints[i].addresses[k]);
		free(es->endpoints[i].addresses);
	}
	free(es->endpoints);
	for (i = 0; i < es->nports; i++) {
		free(es->ports[i].name);
		free(es->ports[i].protocol);
	}
	free(es->ports);
}

void
objects_free(struct obj *o)
{
	struct obj_ingress *in;
	size_t i, k;

	if (o == NULL)
		return;
	switch (o->kind) {
	case OBJ_INGRESS:
		in = &o->u.ingress;
		free(in->class_name);
		free(in->class_annotation);
		free(in->status_lb);
		if (in->default_backend != NULL)
			obj_free_backend(in->default_backend);
		free(in->default_backend);
		for (i = 0; i < in->nrules; i++) {
			free(in->rules[i].host);
			for (k = 0; k < in->rules[i].npaths; k++) {
				free(in->rules[i].paths[k].path);
				obj_free_backend(
				    &in->rules[i].paths[k].backend);
			}
			free(in->rules[i].paths);
		}
		free(in->rules);
		for (i = 0; i < in->ntls; i++) {
			for (k = 0; k < in->tls[i].nhosts; k++)
				free(in->tls[i].hosts[k]);
			free(in->tls[i].hosts);
			free(in->tls[i].secret);
		}
		free(in->tls);
		break;
	case OBJ_INGRESS_CLASS:
		free(o->u.ingress_class.controller);
		break;
	case OBJ_SERVICE:
		free(o->u.service.type);
		free(o->u.service.external_name);
		for (i = 0; i < o->u.service.nports; i++) {
			free(o->u.service.ports[i].name);
			free(o->u.service.ports[i].target_port_name);
			free(o->u.service.ports[i].protocol);
		}
		free(o->u.service.ports);
		break;
	case OBJ_ENDPOINT_SLICE:
		obj_free_slice(&o->u.endpoint_slice);
		break;
	case OBJ_ENDPOINTS:
		for (i = 0; i < o->u.endpoints.nsubsets; i++)
			obj_free_slice(&o->u.endpoints.subsets[i]);
		free(o->u.endpoints.subsets);
		break;
	case OBJ_SECRET:
		free(o->u.secret.type);
		free(o->u.secret.tls_crt);
		free(o->u.secret.tls_key);
		free(o->u.secret.ca_crt);
		break;
	default:
		break;
	}
	free(o->meta.namespace);
	free(o->meta.name);
	free(o->meta.uid);
	free(o->meta.resource_version);
	for (i = 0; i < o->meta.nannotations; i++) {
		free(o->meta.annotations[i].key);
		free(o->meta.annotations[i].value);
	}
	free(o->meta.annotations);
	free(o->origin);
	free(o);
}

const char *
objects_kind_name(enum obj_kind kind)
{
	if ((unsigned)kind >= OBJ_KIND_COUNT)
		return "Unknown";
	return obj_kind_names[kind];
}

const char *
objects_annotation(const struct obj *o, const char *key)
{
	size_t i;

	for (i = 0; i < o->meta.nannotations; i++)
		if (strcmp(o->meta.annotations[i].key, key) == 0)
			return o->meta.annotations[i].value;
	return NULL;
}
