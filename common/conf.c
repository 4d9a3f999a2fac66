/*
 * conf: reads and validates ingressd.yaml (see ingressd.yaml(5)) into a
 * struct conf.
 *
 * Run by the master (at start and on SIGHUP) and by ingressctl
 * check-config, never by a worker.  The file is operator input: every key
 * is looked up in the tables below, unknown keys, wrong types and bad
 * values are refused with "file:line:column: reason", and nothing here may
 * call fatal() on a bad file.  The only side effects allowed are reading
 * the one file and, for relative paths, getcwd(3).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "common/conf.h"
#include "common/routes.h"
#include "common/log.h"
#include "common/util.h"

#define CONF_MAX_SCALAR	4096	/* longest value accepted */
#define CONF_MAX_KEYPATH 128

enum conf_kind {
	CONF_K_SECTION,		/* a mapping: <sub> lists its keys */
	CONF_K_LISTEN,		/* host:port or "off" */
	CONF_K_WORKERS,		/* "auto" or 1..CONF_MAX_WORKERS */
	CONF_K_USER,		/* user name or uid */
	CONF_K_PATH,		/* relative: from the file's directory */
	CONF_K_LOG_TARGET,	/* "stdout" (stored NULL) or a PATH */
	CONF_K_BOOL,		/* true or false, stored as int */
	CONF_K_ENUM,		/* one of <names>, stored as int */
	CONF_K_DNSNAME,		/* RFC 1123 subdomain, lower case */
	CONF_K_DNSLABEL,	/* RFC 1123 label, lower case */
	CONF_K_ADDRESS,		/* numeric IP or DNS name */
	CONF_K_DURATION,	/* uint32_t milliseconds in [min, max] */
	CONF_K_SIZE32,		/* uint32_t bytes in [min, max] */
	CONF_K_SIZE64,		/* uint64_t bytes in [min, max] */
	CONF_K_UINT32,		/* uint32_t decimal in [min, max] */
	CONF_K_STATUS_RANGE,	/* uint32_t[2]: "200-399" or "200" */
	CONF_K_HTTP_PATH,	/* string: a request target, "/healthz" */
	CONF_K_TLS_PROTOCOLS,	/* uint32_t ROUTE_TLS_V*: "TLSv1.2 TLSv1.3" */
	CONF_K_TLS_LIST,	/* string: an OpenSSL list, below <max> bytes */
};

struct conf_key {
	const char		*name;
	enum conf_kind		 kind;
	size_t			 off;	/* into struct conf */
	uint64_t		 min;
	uint64_t		 max;
	const void		*sub;	/* SECTION: keys; ENUM: names */
};

#define CONF_OFF(f)	offsetof(struct conf, f)
#define CONF_DAY_MS	(24ull * 3600 * 1000)

static const char *const conf_provider_names[] = { "files", "kube", NULL };
static const char *const conf_sandbox_names[] = {
	"enforce", "log", "off", NULL
};
/* Same order as enum log_level. */
static const char *const conf_log_names[] = {
	"error", "warn", "info", "debug", NULL
};

static const struct conf_key conf_keys_listen[] = {
	{ "http",	CONF_K_LISTEN,	CONF_OFF(http), 0, 0, NULL },
	{ "https",	CONF_K_LISTEN,	CONF_OFF(https), 0, 0, NULL },
	{ "admin",	CONF_K_LISTEN,	CONF_OFF(admin), 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_provider[] = {
	{ "kind",	CONF_K_ENUM,	CONF_OFF(provider_kind), 0, 0,
	    conf_provider_names },
	{ "dir",	CONF_K_PATH,	CONF_OFF(provider_dir), 0, 0, NULL },
	{ "kubeconfig",	CONF_K_PATH,	CONF_OFF(kubeconfig), 0, 0, NULL },
	{ "namespace",	CONF_K_DNSLABEL, CONF_OFF(namespace), 0, 0, NULL },
	{ "debounce",	CONF_K_DURATION, CONF_OFF(debounce_ms), 0, 60000,
	    NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_publish[] = {
	{ "address",	CONF_K_ADDRESS,	CONF_OFF(publish_address), 0, 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_control[] = {
	{ "socket",	CONF_K_PATH,	CONF_OFF(control_socket), 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_log[] = {
	{ "level",	CONF_K_ENUM,	CONF_OFF(log_level), 0, 0,
	    conf_log_names },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* Same order as enum conf_access_format. */
static const char *const conf_access_names[] = { "json", "combined", NULL };

static const struct conf_key conf_keys_access_log[] = {
	{ "enabled",	CONF_K_BOOL,	CONF_OFF(access_log), 0, 0, NULL },
	{ "format",	CONF_K_ENUM,	CONF_OFF(access_format), 0, 0,
	    conf_access_names },
	{ "path",	CONF_K_LOG_TARGET, CONF_OFF(access_path), 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_timeouts[] = {
	{ "client_header", CONF_K_DURATION,
	    CONF_OFF(client_header_timeout_ms), 1, CONF_DAY_MS, NULL },
	{ "client_body", CONF_K_DURATION,
	    CONF_OFF(client_body_timeout_ms), 1, CONF_DAY_MS, NULL },
	{ "client_idle", CONF_K_DURATION,
	    CONF_OFF(client_idle_timeout_ms), 1, CONF_DAY_MS, NULL },
	{ "upstream_connect", CONF_K_DURATION,
	    CONF_OFF(upstream_connect_timeout_ms), 1, CONF_DAY_MS, NULL },
	{ "upstream_response", CONF_K_DURATION,
	    CONF_OFF(upstream_response_timeout_ms), 1, CONF_DAY_MS, NULL },
	{ "upstream_idle", CONF_K_DURATION,
	    CONF_OFF(upstream_idle_timeout_ms), 1, CONF_DAY_MS, NULL },
	{ "shutdown_grace", CONF_K_DURATION,
	    CONF_OFF(shutdown_grace_ms), 1, CONF_DAY_MS, NULL },
	{ "tls_handshake", CONF_K_DURATION,
	    CONF_OFF(tls_handshake_timeout_ms), 100, 3600 * 1000, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const char *const conf_onoff_names[] = { "off", "on", NULL };

/* Named like nginx's ssl_* directives; checked by OpenSSL in the master. */
static const struct conf_key conf_keys_tls[] = {
	{ "default_certificate", CONF_K_PATH,
	    CONF_OFF(tls_default_certificate), 0, 0, NULL },
	{ "default_key", CONF_K_PATH, CONF_OFF(tls_default_key), 0, 0, NULL },
	{ "protocols",	CONF_K_TLS_PROTOCOLS, CONF_OFF(tls_protocols), 0, 0,
	    NULL },
	{ "ciphers",	CONF_K_TLS_LIST, CONF_OFF(tls_ciphers), 1,
	    ROUTE_TLS_CIPHERS_MAX - 1, NULL },
	{ "ciphersuites", CONF_K_TLS_LIST, CONF_OFF(tls_ciphersuites), 1,
	    ROUTE_TLS_SUITES_MAX - 1, NULL },
	{ "curves",	CONF_K_TLS_LIST, CONF_OFF(tls_curves), 1,
	    ROUTE_TLS_CURVES_MAX - 1, NULL },
	{ "ticket_key_rotation", CONF_K_DURATION,
	    CONF_OFF(tls_ticket_key_rotation_ms), 60 * 1000, 7 * CONF_DAY_MS,
	    NULL },
	{ "session_cache", CONF_K_ENUM, CONF_OFF(tls_session_cache), 0, 0,
	    conf_onoff_names },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_limits[] = {
	{ "max_header_size", CONF_K_SIZE32, CONF_OFF(max_header_size),
	    1024, 1024 * 1024, NULL },
	{ "max_headers", CONF_K_UINT32, CONF_OFF(max_headers), 1, 10000,
	    NULL },
	{ "max_body_size", CONF_K_SIZE64, CONF_OFF(max_body_size), 0,
	    UINT64_MAX, NULL },
	{ "max_connections", CONF_K_UINT32, CONF_OFF(max_connections), 1,
	    1048576, NULL },
	{ "upstream_keepalive", CONF_K_UINT32, CONF_OFF(upstream_keepalive),
	    0, 65536, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* Same order as enum route_health_mode, enum route_all_down. */
static const char *const conf_health_modes[] = { "tcp", "http", NULL };
static const char *const conf_all_down_names[] = {
	"fail-closed", "fail-open", NULL
};

static const struct conf_key conf_keys_health[] = {
	{ "mode",	CONF_K_ENUM,	CONF_OFF(health_mode), 0, 0,
	    conf_health_modes },
	{ "path",	CONF_K_HTTP_PATH, CONF_OFF(health_path), 0, 0, NULL },
	{ "interval",	CONF_K_DURATION, CONF_OFF(health_interval_ms), 100,
	    CONF_DAY_MS, NULL },
	{ "timeout",	CONF_K_DURATION, CONF_OFF(health_timeout_ms), 10,
	    CONF_DAY_MS, NULL },
	{ "rise",	CONF_K_UINT32,	CONF_OFF(health_rise), 1, 100, NULL },
	{ "fall",	CONF_K_UINT32,	CONF_OFF(health_fall), 1, 100, NULL },
	{ "expect",	CONF_K_STATUS_RANGE, CONF_OFF(health_expect), 0, 0,
	    NULL },
	{ "all_down",	CONF_K_ENUM,	CONF_OFF(health_all_down), 0, 0,
	    conf_all_down_names },
	{ "passive_failures", CONF_K_UINT32,
	    CONF_OFF(health_passive_failures), 0, 1000, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_keys_root[] = {
	{ "listen",	CONF_K_SECTION,	0, 0, 0, conf_keys_listen },
	{ "workers",	CONF_K_WORKERS,	CONF_OFF(workers), 1,
	    CONF_MAX_WORKERS, NULL },
	{ "user",	CONF_K_USER,	CONF_OFF(user), 0, 0, NULL },
	{ "pid_file",	CONF_K_PATH,	CONF_OFF(pid_file), 0, 0, NULL },
	{ "provider",	CONF_K_SECTION,	0, 0, 0, conf_keys_provider },
	{ "ingress_class", CONF_K_DNSNAME, CONF_OFF(ingress_class), 0, 0,
	    NULL },
	{ "publish",	CONF_K_SECTION,	0, 0, 0, conf_keys_publish },
	{ "control",	CONF_K_SECTION,	0, 0, 0, conf_keys_control },
	{ "log",	CONF_K_SECTION,	0, 0, 0, conf_keys_log },
	{ "access_log",	CONF_K_SECTION,	0, 0, 0, conf_keys_access_log },
	{ "sandbox",	CONF_K_ENUM,	CONF_OFF(sandbox), 0, 0,
	    conf_sandbox_names },
	{ "timeouts",	CONF_K_SECTION,	0, 0, 0, conf_keys_timeouts },
	{ "limits",	CONF_K_SECTION,	0, 0, 0, conf_keys_limits },
	{ "health",	CONF_K_SECTION,	0, 0, 0, conf_keys_health },
	{ "tls",	CONF_K_SECTION,	0, 0, 0, conf_keys_tls },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* What one load needs besides the struct being filled. */
struct conf_ctx {
	const char		*name;
	const char		*buf;
	size_t			 len;
	struct conf		*c;
	char			*err;
	size_t			 errlen;
	char			 dir[PATH_MAX];	/* the file's directory */
	yaml_document_t		*doc;
	/* Where each listener was set, for the overlap check. */
	int			 listen_set[3];
	yaml_mark_t		 listen_mark[3];
	yaml_mark_t		 tls_mark;	/* a tls.default_* key */
};

static void conf_errf(struct conf_ctx *, const yaml_mark_t *, const char *,
    ...) __attribute__((format(printf, 3, 4)));

static void
conf_errf(struct conf_ctx *x, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(x->err, x->errlen, "%s:%zu:%zu: ", x->name,
	    mark->line + 1, mark->column + 1);
	if (n < 0 || (size_t)n >= x->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - n, fmt, ap);
	va_end(ap);
}

/* The mark of byte <off> of the buffer: reader errors carry no mark. */
static yaml_mark_t
conf_mark_at(const struct conf_ctx *x, size_t off)
{
	yaml_mark_t m;
	size_t i;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < off && i < x->len; i++) {
		if (x->buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)x->buf[i] & 0xc0) != 0x80)
			m.column++;
	}
	m.index = off;
	return m;
}

/*
 * A printable copy of <s> (<len> bytes) for error messages: control and
 * non-ASCII bytes become '?', and long values are cut with "...".
 */
static const char *
conf_vis(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, n = 0;

	for (i = 0; i < len && n + 4 < outlen; i++)
		out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < len && n + 4 >= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static char *
conf_xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatal("conf: strdup");
	return p;
}

/*
 * Fills <c> with the defaults that conf/ingressd.yaml documents.  The
 * strings are allocated; failing to allocate a few bytes at start-up is
 * fatal.
 */
void
conf_defaults(struct conf *c)
{
	char err[128];
	long ncpu;

	memset(c, 0, sizeof(*c));
	util_strlcpy(c->http.text, "0.0.0.0:80", sizeof(c->http.text));
	if (util_parse_hostport(c->http.text, &c->http.addr,
	    &c->http.addrlen, err, sizeof(err)) == -1)
		fatalx("conf: default listen.http: %s", err);
	c->http.enabled = 1;
	util_strlcpy(c->https.text, "0.0.0.0:443", sizeof(c->https.text));
	if (util_parse_hostport(c->https.text, &c->https.addr,
	    &c->https.addrlen, err, sizeof(err)) == -1)
		fatalx("conf: default listen.https: %s", err);
	util_strlcpy(c->admin.text, "127.0.0.1:8580", sizeof(c->admin.text));
	if (util_parse_hostport(c->admin.text, &c->admin.addr,
	    &c->admin.addrlen, err, sizeof(err)) == -1)
		fatalx("conf: default listen.admin: %s", err);

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > CONF_MAX_WORKERS)
		ncpu = CONF_MAX_WORKERS;
	c->workers = (int)ncpu;
	c->user = conf_xstrdup("nobody");
	c->pid_file = NULL;

	c->provider_kind = CONF_PROVIDER_FILES;
	c->provider_dir = conf_xstrdup("/etc/ingressd/manifests");
	c->kubeconfig = NULL;
	c->namespace = NULL;
	c->debounce_ms = CONF_DEBOUNCE_FILES_MS;

	c->ingress_class = NULL;
	c->publish_address = NULL;
	c->control_socket = conf_xstrdup("/run/ingressd/control.sock");

	c->log_level = LOG_LEVEL_INFO;
	/* As ingress-nginx: on, to stdout, its combined-based format. */
	c->access_log = 1;
	c->access_format = CONF_ACCESS_COMBINED;
	c->access_path = NULL;
	c->sandbox = CONF_SANDBOX_ENFORCE;

	c->client_header_timeout_ms = 10 * 1000;
	c->client_body_timeout_ms = 60 * 1000;
	c->client_idle_timeout_ms = 60 * 1000;
	c->upstream_connect_timeout_ms = 5 * 1000;
	c->upstream_response_timeout_ms = 60 * 1000;
	c->upstream_idle_timeout_ms = 60 * 1000;
	c->shutdown_grace_ms = 60 * 1000;

	c->max_header_size = 32 * 1024;
	c->max_headers = 100;
	c->max_body_size = 0;
	c->max_connections = 16384;
	c->upstream_keepalive = 320;	/* ingress-nginx's default too */

	c->health_mode = 0;		/* tcp */
	c->health_path = conf_xstrdup("/");
	c->health_interval_ms = 2000;
	c->health_timeout_ms = 1000;
	c->health_rise = 2;
	c->health_fall = 3;
	c->health_expect[0] = 200;
	c->health_expect[1] = 399;
	c->health_all_down = 0;		/* fail-closed */
	c->health_passive_failures = 5;

	c->tls_handshake_timeout_ms = 10 * 1000;
	c->tls_default_certificate = NULL;
	c->tls_default_key = NULL;
	c->tls_protocols = ROUTE_TLS_V12 | ROUTE_TLS_V13;
	/* Mozilla's "intermediate" profile. */
	c->tls_ciphers = conf_xstrdup("ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305");
	c->tls_ciphersuites = conf_xstrdup("TLS_AES_128_GCM_SHA256:"
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	c->tls_curves = conf_xstrdup("X25519:prime256v1:secp384r1");
	c->tls_ticket_key_rotation_ms = 3600 * 1000;
	c->tls_session_cache = 0;
}

void
conf_free(struct conf *c)
{
	free(c->path);
	free(c->user);
	free(c->pid_file);
	free(c->provider_dir);
	free(c->kubeconfig);
	free(c->namespace);
	free(c->ingress_class);
	free(c->publish_address);
	free(c->control_socket);
	free(c->access_path);
	free(c->health_path);
	free(c->tls_default_certificate);
	free(c->tls_default_key);
	free(c->tls_ciphers);
	free(c->tls_ciphersuites);
	free(c->tls_curves);
	memset(c, 0, sizeof(*c));
}

/* Sets the directory relative paths are resolved from: <name>'s. */
static int
conf_set_dir(struct conf_ctx *x)
{
	char cwd[PATH_MAX];
	const char *slash;
	size_t dlen;

	slash = strrchr(x->name, '/');
	if (slash != NULL && x->name[0] == '/') {
		dlen = slash == x->name ? 1 : (size_t)(slash - x->name);
		if (dlen >= sizeof(x->dir))
			goto toolong;
		memcpy(x->dir, x->name, dlen);
		x->dir[dlen] = '\0';
		return 0;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(x->err, x->errlen, "%s: getcwd: %s", x->name,
		    strerror(errno));
		return -1;
	}
	if (slash == NULL) {
		util_strlcpy(x->dir, cwd, sizeof(x->dir));
		return 0;
	}
	dlen = (size_t)(slash - x->name);
	if ((size_t)snprintf(x->dir, sizeof(x->dir), "%s/%.*s",
	    strcmp(cwd, "/") == 0 ? "" : cwd, (int)dlen, x->name) >=
	    sizeof(x->dir))
		goto toolong;
	return 0;
 toolong:
	snprintf(x->err, x->errlen, "%s: path too long", x->name);
	return -1;
}

static int
conf_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	    strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0;
}

static int
conf_is_dnslabel(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* RFC 1123 subdomain: dot-separated labels, 253 characters at most. */
static int
conf_is_dnsname(const char *s)
{
	char label[64];
	const char *p, *dot;
	size_t n;

	if (strlen(s) == 0 || strlen(s) > 253)
		return 0;
	for (p = s;; p = dot + 1) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(label))
			return 0;
		memcpy(label, p, n);
		label[n] = '\0';
		if (!conf_is_dnslabel(label, 63))
			return 0;
		if (dot == NULL)
			return 1;
	}
}

/* Strictly decimal digits into *<v>; no sign, no blanks, no overflow. */
static int
conf_parse_uint(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

static void
conf_set_string(struct conf_ctx *x, const struct conf_key *k, const char *s)
{
	char **field = (char **)(void *)((char *)x->c + k->off);

	free(*field);
	*field = conf_xstrdup(s);
}

/*
 * One leaf value: <s> is the scalar of node <n>, <path> its key path.
 * Returns 0, or -1 with the error set at <n>.
 */
static int
conf_set_leaf(struct conf_ctx *x, const struct conf_key *k, const char *path,
    const yaml_node_t *n, const char *s)
{
	char *base = (char *)x->c + k->off;
	char reason[128], full[PATH_MAX], vis[80];
	const char *const *names;
	struct conf_listen *l;
	uint64_t v;
	int i;

	conf_vis(s, strlen(s), vis, sizeof(vis));
	switch (k->kind) {
	case CONF_K_LISTEN:
		l = (struct conf_listen *)(void *)base;
		if (k->off == CONF_OFF(http))
			i = 0;
		else if (k->off == CONF_OFF(https))
			i = 1;
		else
			i = 2;
		x->listen_set[i] = 1;
		x->listen_mark[i] = n->start_mark;
		if (strcmp(s, "off") == 0) {
			l->enabled = 0;
			return 0;
		}
		if (strlen(s) >= sizeof(l->text)) {
			conf_errf(x, &n->start_mark, "%s: address too long",
			    path);
			return -1;
		}
		if (util_parse_hostport(s, &l->addr, &l->addrlen, reason,
		    sizeof(reason)) == -1) {
			conf_errf(x, &n->start_mark, "%s: invalid address "
			    "\"%s\": %s", path, vis, reason);
			return -1;
		}
		util_strlcpy(l->text, s, sizeof(l->text));
		l->enabled = 1;
		return 0;
	case CONF_K_WORKERS:
		if (strcmp(s, "auto") == 0)
			return 0;	/* conf_defaults() counted the CPUs */
		if (conf_parse_uint(s, &v) == -1 || v < k->min ||
		    v > k->max) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not "
			    "\"auto\" or a number from %llu to %llu", path, vis,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		x->c->workers = (int)v;
		return 0;
	case CONF_K_USER:
		for (i = 0; s[i] != '\0'; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    s[i] == '_' || s[i] == '.' || s[i] == '-'))
				break;
		if (s[0] == '\0' || s[0] == '-' || s[i] != '\0' || i > 32) {
			conf_errf(x, &n->start_mark, "%s: invalid user name "
			    "\"%s\"", path, vis);
			return -1;
		}
		conf_set_string(x, k, s);
		return 0;
	case CONF_K_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			i = s[0] == 't';
			memcpy(base, &i, sizeof(int));
			return 0;
		}
		conf_errf(x, &n->start_mark, "%s: \"%s\" is not true or "
		    "false", path, vis);
		return -1;
	case CONF_K_LOG_TARGET:
		if (strcmp(s, "stdout") == 0) {
			free(*(char **)(void *)base);
			*(char **)(void *)base = NULL;
			return 0;
		}
		/* FALLTHROUGH */
	case CONF_K_PATH:
		if (k->off == CONF_OFF(tls_default_certificate) ||
		    k->off == CONF_OFF(tls_default_key))
			x->tls_mark = n->start_mark;
		if (s[0] == '/') {
			if (strlen(s) >= sizeof(full))
				goto toolong;
			conf_set_string(x, k, s);
			return 0;
		}
		if ((size_t)snprintf(full, sizeof(full), "%s/%s",
		    strcmp(x->dir, "/") == 0 ? "" : x->dir, s) >=
		    sizeof(full))
			goto toolong;
		conf_set_string(x, k, full);
		return 0;
	case CONF_K_ENUM:
		names = k->sub;
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(s, names[i]) == 0) {
				memcpy(base, &i, sizeof(int));
				return 0;
			}
		reason[0] = '\0';
		for (i = 0; names[i] != NULL; i++) {
			if (i > 0)
				strncat(reason, ", ", sizeof(reason) -
				    strlen(reason) - 1);
			strncat(reason, names[i], sizeof(reason) -
			    strlen(reason) - 1);
		}
		conf_errf(x, &n->start_mark, "%s: \"%s\" is not one of: %s",
		    path, vis, reason);
		return -1;
	case CONF_K_DNSNAME:
		if (!conf_is_dnsname(s)) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not a "
			    "valid name (lower case letters, digits, '-' and "
			    "'.', at most 253)", path, vis);
			return -1;
		}
		conf_set_string(x, k, s);
		return 0;
	case CONF_K_DNSLABEL:
		if (!conf_is_dnslabel(s, 63)) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not a "
			    "valid name (lower case letters, digits and '-', "
			    "at most 63)", path, vis);
			return -1;
		}
		conf_set_string(x, k, s);
		return 0;
	case CONF_K_ADDRESS: {
		struct in6_addr a6;

		if (inet_pton(AF_INET, s, &a6) != 1 &&
		    inet_pton(AF_INET6, s, &a6) != 1 && !conf_is_dnsname(s)) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is neither "
			    "an IP address nor a DNS name", path, vis);
			return -1;
		}
		conf_set_string(x, k, s);
		return 0;
	}
	case CONF_K_DURATION:
		if (util_parse_duration_ms(s, &v) == -1) {
			conf_errf(x, &n->start_mark, "%s: invalid duration "
			    "\"%s\" (write it as 500ms, 10s, 2m, 1h or "
			    "1m30s)", path, vis);
			return -1;
		}
		if (v < k->min || v > k->max) {
			conf_errf(x, &n->start_mark, "%s: %s out of range "
			    "(%llums to %llums)", path, vis,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		*(uint32_t *)(void *)base = (uint32_t)v;
		return 0;
	case CONF_K_SIZE32:
	case CONF_K_SIZE64:
	case CONF_K_UINT32:
		if (k->kind == CONF_K_UINT32 && conf_parse_uint(s, &v) == -1) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not a "
			    "number", path, vis);
			return -1;
		}
		if (k->kind != CONF_K_UINT32 && util_parse_size(s, &v) == -1) {
			conf_errf(x, &n->start_mark, "%s: invalid size \"%s\" "
			    "(write it as 512, 8k, 1m or 1MiB)", path, vis);
			return -1;
		}
		if (v < k->min || v > k->max) {
			conf_errf(x, &n->start_mark, "%s: %s out of range "
			    "(%llu to %llu)", path, vis,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		if (k->kind == CONF_K_SIZE64)
			*(uint64_t *)(void *)base = v;
		else
			*(uint32_t *)(void *)base = (uint32_t)v;
		return 0;
	case CONF_K_STATUS_RANGE: {
		uint32_t *r = (uint32_t *)(void *)base;

		if (util_parse_status_range(s, &r[0], &r[1]) == -1) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not a "
			    "status range (e.g. 200-399, or 200)", path, vis);
			return -1;
		}
		return 0;
	}
	case CONF_K_HTTP_PATH:
		if (!util_http_path_ok(s)) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not a "
			    "path (starts with '/', no spaces)", path, vis);
			return -1;
		}
		conf_set_string(x, k, s);
		return 0;
	case CONF_K_TLS_PROTOCOLS: {
		uint32_t bits = 0;
		const char *p = s, *e;
		size_t len;

		for (;;) {
			while (*p == ' ')
				p++;
			if (*p == '\0')
				break;
			for (e = p; *e != '\0' && *e != ' '; e++)
				;
			len = (size_t)(e - p);
			if (len == 7 && memcmp(p, "TLSv1.2", 7) == 0)
				bits |= ROUTE_TLS_V12;
			else if (len == 7 && memcmp(p, "TLSv1.3", 7) == 0)
				bits |= ROUTE_TLS_V13;
			else {
				bits = 0;
				break;
			}
			p = e;
		}
		if (bits == 0) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not a "
			    "list of TLSv1.2 and TLSv1.3", path, vis);
			return -1;
		}
		*(uint32_t *)(void *)base = bits;
		return 0;
	}
	case CONF_K_TLS_LIST:
		for (i = 0; s[i] != '\0'; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    strchr(":_-+!@=.", s[i]) != NULL))
				break;
		if (s[i] != '\0' || (uint64_t)i < k->min ||
		    (uint64_t)i > k->max) {
			conf_errf(x, &n->start_mark, "%s: \"%s\" is not an "
			    "OpenSSL list of at most %llu characters (letters, "
			    "digits and :_-+!@=.)", path, vis,
			    (unsigned long long)k->max);
			return -1;
		}
		conf_set_string(x, k, s);
		return 0;
	case CONF_K_SECTION:
		break;
	}
	conf_errf(x, &n->start_mark, "%s: internal error", path);
	return -1;
 toolong:
	conf_errf(x, &n->start_mark, "%s: path too long", path);
	return -1;
}

/*
 * Walks mapping <map> against <keys>; <prefix> is its key path ("" at the
 * top).  Every key must be known and appear once; a section's value is a
 * mapping (or empty), a leaf's a non-empty scalar.
 */
static int
conf_walk(struct conf_ctx *x, const yaml_node_t *map,
    const struct conf_key *keys, const char *prefix)
{
	const yaml_node_pair_t *pair;
	const yaml_node_t *kn, *vn;
	const struct conf_key *k;
	char path[CONF_MAX_KEYPATH], vis[80];
	const char *kname;
	uint32_t seen = 0;
	size_t i;

	if (map->type != YAML_MAPPING_NODE) {
		conf_errf(x, &map->start_mark, "%s: expected a mapping of "
		    "keys", prefix[0] != '\0' ? prefix : "top level");
		return -1;
	}
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		kn = yaml_document_get_node(x->doc, pair->key);
		vn = yaml_document_get_node(x->doc, pair->value);
		if (kn == NULL || vn == NULL) {
			conf_errf(x, &map->start_mark, "%s: broken mapping",
			    prefix[0] != '\0' ? prefix : "top level");
			return -1;
		}
		if (kn->type != YAML_SCALAR_NODE) {
			conf_errf(x, &kn->start_mark, "%s%skeys must be "
			    "plain names", prefix, prefix[0] != '\0' ?
			    ": " : "");
			return -1;
		}
		kname = (const char *)kn->data.scalar.value;
		for (i = 0; keys[i].name != NULL; i++)
			if (strlen(keys[i].name) == kn->data.scalar.length &&
			    strcmp(keys[i].name, kname) == 0)
				break;
		k = &keys[i];
		if (k->name == NULL) {
			conf_errf(x, &kn->start_mark, "unknown key \"%s%s%s\"",
			    prefix, prefix[0] != '\0' ? "." : "",
			    conf_vis(kname, kn->data.scalar.length, vis,
			    sizeof(vis)));
			return -1;
		}
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] != '\0' ? "." : "", k->name);
		if (seen & (1u << i)) {
			conf_errf(x, &kn->start_mark, "duplicate key \"%s\"",
			    path);
			return -1;
		}
		seen |= 1u << i;

		if (k->kind == CONF_K_SECTION) {
			if (conf_is_null(vn))
				continue;
			if (conf_walk(x, vn, k->sub, path) == -1)
				return -1;
			continue;
		}
		if (vn->type != YAML_SCALAR_NODE) {
			conf_errf(x, &vn->start_mark, "%s: expected a single "
			    "value, not a %s", path, vn->type ==
			    YAML_MAPPING_NODE ? "mapping" : "list");
			return -1;
		}
		if (conf_is_null(vn)) {
			conf_errf(x, &vn->start_mark, "%s: missing value "
			    "(remove the key for the default)", path);
			return -1;
		}
		if (vn->data.scalar.length > CONF_MAX_SCALAR ||
		    memchr(vn->data.scalar.value, '\0',
		    vn->data.scalar.length) != NULL) {
			conf_errf(x, &vn->start_mark, "%s: value too long or "
			    "with a NUL byte", path);
			return -1;
		}
		if (conf_set_leaf(x, k, path, vn,
		    (const char *)vn->data.scalar.value) == -1)
			return -1;
	}
	return 0;
}

/* Two enabled listeners binding the same port on overlapping addresses. */
static int
conf_listen_overlap(const struct conf_listen *a, const struct conf_listen *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (!a->enabled || !b->enabled ||
	    a->addr.ss_family != b->addr.ss_family)
		return 0;
	if (a->addr.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->addr;
		b4 = (const struct sockaddr_in *)&b->addr;
		return a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY));
	}
	a6 = (const struct sockaddr_in6 *)&a->addr;
	b6 = (const struct sockaddr_in6 *)&b->addr;
	return a6->sin6_port == b6->sin6_port &&
	    (memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0 ||
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
}

/* Checks across keys, once the whole file is read. */
static int
conf_check(struct conf_ctx *x)
{
	static const char *const lname[] = {
		"listen.http", "listen.https", "listen.admin"
	};
	const struct conf_listen *l[3];
	const yaml_mark_t *m;
	int i, j, at;

	/*
	 * An endpoint change should reach the workers well within 100 ms
	 * with kube; manifests saved by an editor need a longer quiet time.
	 */
	if (x->c->debounce_ms == UINT32_MAX)
		x->c->debounce_ms = x->c->provider_kind == CONF_PROVIDER_KUBE ?
		    CONF_DEBOUNCE_KUBE_MS : CONF_DEBOUNCE_FILES_MS;
	l[0] = &x->c->http;
	l[1] = &x->c->https;
	l[2] = &x->c->admin;
	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++) {
			if (!conf_listen_overlap(l[i], l[j]))
				continue;
			/* Blame the one written last in the file. */
			at = j;
			if (!x->listen_set[j] || (x->listen_set[i] &&
			    x->listen_mark[i].index > x->listen_mark[j].index))
				at = i;
			m = &x->listen_mark[at];
			conf_errf(x, m, "%s: %s overlaps %s (%s)", lname[at],
			    l[at]->text, lname[at == i ? j : i],
			    l[at == i ? j : i]->text);
			return -1;
		}
	if ((x->c->tls_default_certificate == NULL) !=
	    (x->c->tls_default_key == NULL)) {
		m = &x->tls_mark;
		conf_errf(x, m, "tls: default_certificate and default_key "
		    "go together");
		return -1;
	}
	return 0;
}

static void
conf_yaml_error(struct conf_ctx *x, yaml_parser_t *p)
{
	yaml_mark_t m;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		snprintf(x->err, x->errlen, "%s: out of memory", x->name);
		return;
	case YAML_READER_ERROR:
		m = conf_mark_at(x, p->problem_offset);
		conf_errf(x, &m, "YAML syntax error: %s",
		    p->problem != NULL ? p->problem : "unreadable input");
		return;
	default:
		conf_errf(x, &p->problem_mark, "YAML syntax error: %s%s%s%s",
		    p->problem != NULL ? p->problem : "unknown",
		    p->context != NULL ? " (" : "",
		    p->context != NULL ? p->context : "",
		    p->context != NULL ? ")" : "");
		return;
	}
}

int
conf_load_buffer(const char *name, const char *buf, size_t len,
    struct conf *c, char *err, size_t errlen)
{
	struct conf_ctx x;
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	yaml_mark_t m;
	int have_doc = 0, rc = -1;

	memset(&x, 0, sizeof(x));
	x.name = name;
	x.buf = buf;
	x.len = len;
	x.c = c;
	x.err = err;
	x.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	conf_defaults(c);
	c->debounce_ms = UINT32_MAX;	/* unset: per kind, see conf_check() */
	c->path = conf_xstrdup(name);

	if (len > CONF_MAX_FILE_SIZE) {
		m = conf_mark_at(&x, CONF_MAX_FILE_SIZE);
		conf_errf(&x, &m, "file larger than %u bytes",
		    CONF_MAX_FILE_SIZE);
		goto done;
	}
	if (conf_set_dir(&x) == -1)
		goto done;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto done;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		conf_yaml_error(&x, &parser);
		goto parser;
	}
	have_doc = 1;
	x.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && !conf_is_null(root) &&
	    conf_walk(&x, root, conf_keys_root, "") == -1)
		goto parser;

	/* One document only: a second is a mistake, not more config. */
	if (!yaml_parser_load(&parser, &extra)) {
		conf_yaml_error(&x, &parser);
		goto parser;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		conf_errf(&x, &extra.start_mark, "a second YAML document; "
		    "the configuration is one document");
		yaml_document_delete(&extra);
		goto parser;
	}
	yaml_document_delete(&extra);
	if (conf_check(&x) == -1)
		goto parser;
	rc = 0;
 parser:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
 done:
	if (rc == -1)
		conf_free(c);
	return rc;
}

/*
 * Reads <path> (a regular file of at most CONF_MAX_FILE_SIZE bytes) and
 * parses it as conf_load_buffer() does.  <c> is overwritten, not freed:
 * pass a struct that holds nothing.
 */
int
conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1;

	memset(c, 0, sizeof(*c));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto done;
	}
	/* One byte more than allowed, to tell "too large" from "full". */
	if ((buf = malloc(CONF_MAX_FILE_SIZE + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto done;
	}
	while (len < CONF_MAX_FILE_SIZE + 1) {
		n = read(fd, buf + len, CONF_MAX_FILE_SIZE + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = conf_load_buffer(path, buf, len, c, err, errlen);
 done:
	free(buf);
	close(fd);
	return rc;
}
