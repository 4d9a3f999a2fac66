/*
 * test_conf: unit tests for common/conf.c: every default, every key, and
 * bad files whose errors must carry the right file:line:column.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"

#define NAME	"/etc/ingressd/ingressd.yaml"

static int
load(const char *yaml, struct conf *c, char *err, size_t errlen)
{
	return conf_load_buffer(NAME, yaml, strlen(yaml), c, err, errlen);
}

static void
assert_zeroed(const struct conf *c)
{
	static const struct conf zero;

	ck_assert_msg(memcmp(c, &zero, sizeof(zero)) == 0,
	    "struct conf not zeroed after a failure");
}

static void
assert_defaults(const struct conf *c)
{
	char buf[UTIL_ADDRSTRLEN];

	ck_assert_int_eq(c->http.enabled, 1);
	ck_assert_str_eq(c->http.text, "0.0.0.0:80");
	ck_assert_str_eq(util_format_sockaddr((struct sockaddr *)&c->http.addr,
	    buf, sizeof(buf)), "0.0.0.0:80");
	ck_assert_int_eq(c->https.enabled, 0);
	ck_assert_int_eq(c->admin.enabled, 0);
	ck_assert_int_eq(c->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
	ck_assert_str_eq(c->user, "nobody");
	ck_assert_ptr_null(c->pid_file);
	ck_assert_int_eq(c->provider_kind, CONF_PROVIDER_FILES);
	ck_assert_str_eq(c->provider_dir, "/etc/ingressd/manifests");
	ck_assert_ptr_null(c->kubeconfig);
	ck_assert_ptr_null(c->namespace);
	ck_assert_uint_eq(c->debounce_ms, 200);
	ck_assert_ptr_null(c->ingress_class);
	ck_assert_ptr_null(c->publish_address);
	ck_assert_str_eq(c->control_socket, "/run/ingressd/control.sock");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(c->sandbox, CONF_SANDBOX_ENFORCE);
	ck_assert_uint_eq(c->client_header_timeout_ms, 10000);
	ck_assert_uint_eq(c->client_body_timeout_ms, 60000);
	ck_assert_uint_eq(c->client_idle_timeout_ms, 60000);
	ck_assert_uint_eq(c->upstream_connect_timeout_ms, 5000);
	ck_assert_uint_eq(c->upstream_response_timeout_ms, 60000);
	ck_assert_uint_eq(c->upstream_idle_timeout_ms, 60000);
	ck_assert_uint_eq(c->shutdown_grace_ms, 60000);
	ck_assert_uint_eq(c->max_header_size, 32768);
	ck_assert_uint_eq(c->max_headers, 100);
	ck_assert_uint_eq(c->max_body_size, 0);
	ck_assert_uint_eq(c->max_connections, 16384);
	ck_assert_uint_eq(c->upstream_keepalive, 320);
	ck_assert_int_eq(c->health_mode, 0);
	ck_assert_str_eq(c->health_path, "/");
	ck_assert_uint_eq(c->health_interval_ms, 2000);
	ck_assert_uint_eq(c->health_timeout_ms, 1000);
	ck_assert_uint_eq(c->health_rise, 2);
	ck_assert_uint_eq(c->health_fall, 3);
	ck_assert_uint_eq(c->health_expect[0], 200);
	ck_assert_uint_eq(c->health_expect[1], 399);
	ck_assert_int_eq(c->health_all_down, 0);
	ck_assert_uint_eq(c->health_passive_failures, 5);
	ck_assert_int_eq(c->access_log, 1);
	ck_assert_int_eq(c->access_format, CONF_ACCESS_COMBINED);
	ck_assert_ptr_null(c->access_path);	/* stdout */
	ck_assert_uint_eq(c->tls_handshake_timeout_ms, 10000);
	ck_assert_ptr_null(c->tls_default_certificate);
	ck_assert_uint_eq(c->tls_protocols, 3);
	ck_assert_ptr_nonnull(strstr(c->tls_ciphers, "ECDHE-ECDSA-AES128"));
	ck_assert_str_eq(c->tls_curves, "X25519:prime256v1:secp384r1");
	ck_assert_uint_eq(c->tls_ticket_key_rotation_ms, 3600000);
	ck_assert_int_eq(c->tls_session_cache, 0);
}

START_TEST(test_defaults_fn)
{
	struct conf c;

	conf_defaults(&c);
	assert_defaults(&c);
	ck_assert_ptr_null(c.path);
	conf_free(&c);
	assert_zeroed(&c);
}
END_TEST

/* Files that leave every default in place. */
static const char *const empty_cases[] = {
	"",
	"\n\n",
	"# nothing but a comment\n",
	"---\n",
	"---\n...\n",
	"~\n",
	"listen:\nprovider:\ntimeouts: ~\nlimits: {}\n",
	"access_log:\n  enabled: true\n  format: combined\n  path: stdout\n",
};

START_TEST(test_empty)
{
	struct conf c;
	char err[256] = "";

	ck_assert_msg(load(empty_cases[_i], &c, err, sizeof(err)) == 0,
	    "%s", err);
	assert_defaults(&c);
	ck_assert_str_eq(c.path, NAME);
	conf_free(&c);
	assert_zeroed(&c);
}
END_TEST

enum field_type { F_U32, F_U64, F_INT, F_STR };

/* One key set in a file, and the field it must land in. */
static const struct {
	const char	*yaml;
	enum field_type	 type;
	size_t		 off;
	uint64_t	 num;
	const char	*str;
} key_cases[] = {
#define O(f) offsetof(struct conf, f)
	{ "workers: 3\n", F_INT, O(workers), 3, NULL },
	{ "workers: 1\n", F_INT, O(workers), 1, NULL },
	{ "workers: 256\n", F_INT, O(workers), 256, NULL },
	{ "workers: \"7\"\n", F_INT, O(workers), 7, NULL },
	{ "user: _ingressd\n", F_STR, O(user), 0, "_ingressd" },
	{ "user: www-data\n", F_STR, O(user), 0, "www-data" },
	{ "pid_file: /run/ingressd.pid\n", F_STR, O(pid_file), 0,
	    "/run/ingressd.pid" },
	{ "pid_file: run/ingressd.pid\n", F_STR, O(pid_file), 0,
	    "/etc/ingressd/run/ingressd.pid" },
	{ "provider:\n  kind: kube\n", F_INT, O(provider_kind),
	    CONF_PROVIDER_KUBE, NULL },
	{ "provider:\n  kind: files\n", F_INT, O(provider_kind),
	    CONF_PROVIDER_FILES, NULL },
	{ "provider:\n  kind: kube\n  dir: /x\n", F_INT, O(provider_kind),
	    CONF_PROVIDER_KUBE, NULL },
	{ "provider:\n  dir: /srv/manifests\n", F_STR, O(provider_dir), 0,
	    "/srv/manifests" },
	{ "provider:\n  dir: manifests\n", F_STR, O(provider_dir), 0,
	    "/etc/ingressd/manifests" },
	{ "provider:\n  dir: ./m/../n\n", F_STR, O(provider_dir), 0,
	    "/etc/ingressd/./m/../n" },
	{ "provider:\n  kubeconfig: /root/.kube/config\n", F_STR,
	    O(kubeconfig), 0, "/root/.kube/config" },
	{ "provider:\n  kubeconfig: kube.conf\n", F_STR, O(kubeconfig), 0,
	    "/etc/ingressd/kube.conf" },
	{ "provider:\n  namespace: kube-system\n", F_STR, O(namespace), 0,
	    "kube-system" },
	{ "provider:\n  debounce: 1s\n", F_U32, O(debounce_ms), 1000, NULL },
	{ "provider:\n  kind: kube\n", F_U32, O(debounce_ms), 20, NULL },
	{ "provider:\n  kind: kube\n  debounce: 150ms\n", F_U32,
	    O(debounce_ms), 150, NULL },
	{ "provider:\n  kind: files\n", F_U32, O(debounce_ms), 200, NULL },
	{ "provider:\n  debounce: 0ms\n", F_U32, O(debounce_ms), 0, NULL },
	{ "ingress_class: ingressd\n", F_STR, O(ingress_class), 0,
	    "ingressd" },
	{ "ingress_class: nginx.example.com\n", F_STR, O(ingress_class), 0,
	    "nginx.example.com" },
	{ "publish:\n  address: 192.0.2.10\n", F_STR, O(publish_address), 0,
	    "192.0.2.10" },
	{ "publish:\n  address: 2001:db8::1\n", F_STR, O(publish_address),
	    0, "2001:db8::1" },
	{ "publish:\n  address: lb.example.com\n", F_STR,
	    O(publish_address), 0, "lb.example.com" },
	{ "control:\n  socket: /tmp/c.sock\n", F_STR, O(control_socket), 0,
	    "/tmp/c.sock" },
	{ "control:\n  socket: c.sock\n", F_STR, O(control_socket), 0,
	    "/etc/ingressd/c.sock" },
	{ "log:\n  level: debug\n", F_INT, O(log_level), LOG_LEVEL_DEBUG,
	    NULL },
	{ "log:\n  level: error\n", F_INT, O(log_level), LOG_LEVEL_ERROR,
	    NULL },
	{ "log:\n  level: warn\n", F_INT, O(log_level), LOG_LEVEL_WARN,
	    NULL },
	{ "sandbox: log\n", F_INT, O(sandbox), CONF_SANDBOX_LOG, NULL },
	{ "sandbox: off\n", F_INT, O(sandbox), CONF_SANDBOX_OFF, NULL },
	{ "sandbox: enforce\n", F_INT, O(sandbox), CONF_SANDBOX_ENFORCE,
	    NULL },
	{ "timeouts:\n  client_header: 3s\n", F_U32,
	    O(client_header_timeout_ms), 3000, NULL },
	{ "timeouts:\n  client_body: 500ms\n", F_U32,
	    O(client_body_timeout_ms), 500, NULL },
	{ "timeouts:\n  client_idle: 2m\n", F_U32,
	    O(client_idle_timeout_ms), 120000, NULL },
	{ "timeouts:\n  upstream_connect: 1m30s\n", F_U32,
	    O(upstream_connect_timeout_ms), 90000, NULL },
	{ "timeouts:\n  upstream_response: 1h\n", F_U32,
	    O(upstream_response_timeout_ms), 3600000, NULL },
	{ "timeouts:\n  upstream_idle: 15\n", F_U32,
	    O(upstream_idle_timeout_ms), 15000, NULL },
	{ "timeouts:\n  shutdown_grace: 1ms\n", F_U32,
	    O(shutdown_grace_ms), 1, NULL },
	{ "limits:\n  max_header_size: 64k\n", F_U32, O(max_header_size),
	    65536, NULL },
	{ "limits:\n  max_header_size: 1MiB\n", F_U32, O(max_header_size),
	    1048576, NULL },
	{ "limits:\n  max_headers: 50\n", F_U32, O(max_headers), 50, NULL },
	{ "limits:\n  max_body_size: 10m\n", F_U64, O(max_body_size),
	    10485760, NULL },
	{ "limits:\n  max_body_size: 8g\n", F_U64, O(max_body_size),
	    8ull << 30, NULL },
	{ "limits:\n  max_body_size: 0\n", F_U64, O(max_body_size), 0, NULL },
	{ "limits:\n  max_connections: 100\n", F_U32, O(max_connections),
	    100, NULL },
	{ "limits:\n  upstream_keepalive: 0\n", F_U32,
	    O(upstream_keepalive), 0, NULL },
	{ "limits:\n  upstream_keepalive: 8\n", F_U32,
	    O(upstream_keepalive), 8, NULL },
	{ "{workers: 2, user: daemon}\n", F_STR, O(user), 0, "daemon" },
	{ "health:\n  mode: http\n", F_INT, O(health_mode), 1, NULL },
	{ "health:\n  mode: tcp\n", F_INT, O(health_mode), 0, NULL },
	{ "health:\n  path: /healthz?x=1\n", F_STR, O(health_path), 0,
	    "/healthz?x=1" },
	{ "health:\n  interval: 500ms\n", F_U32, O(health_interval_ms), 500,
	    NULL },
	{ "health:\n  timeout: 2s\n", F_U32, O(health_timeout_ms), 2000,
	    NULL },
	{ "health:\n  rise: 1\n", F_U32, O(health_rise), 1, NULL },
	{ "health:\n  fall: 5\n", F_U32, O(health_fall), 5, NULL },
	{ "health:\n  expect: 200-299\n", F_U32, O(health_expect), 200,
	    NULL },
	{ "health:\n  expect: 200-299\n", F_U32, O(health_expect[1]), 299,
	    NULL },
	{ "health:\n  expect: 204\n", F_U32, O(health_expect[1]), 204,
	    NULL },
	{ "health:\n  all_down: fail-open\n", F_INT, O(health_all_down), 1,
	    NULL },
	{ "health:\n  passive_failures: 0\n", F_U32,
	    O(health_passive_failures), 0, NULL },
	{ "access_log:\n  enabled: false\n", F_INT, O(access_log), 0, NULL },
	{ "access_log:\n  format: json\n", F_INT, O(access_format),
	    CONF_ACCESS_JSON, NULL },
	{ "access_log:\n  path: /var/log/ingressd/access.log\n", F_STR,
	    O(access_path), 0, "/var/log/ingressd/access.log" },
	{ "timeouts:\n  tls_handshake: 2s\n", F_U32,
	    O(tls_handshake_timeout_ms), 2000, NULL },
	{ "tls:\n  protocols: TLSv1.3\n", F_U32, O(tls_protocols), 2, NULL },
	{ "tls:\n  protocols: TLSv1.2  TLSv1.3\n", F_U32, O(tls_protocols), 3,
	    NULL },
	{ "tls:\n  ciphers: HIGH:!aNULL\n", F_STR, O(tls_ciphers), 0,
	    "HIGH:!aNULL" },
	{ "tls:\n  ciphersuites: TLS_AES_256_GCM_SHA384\n", F_STR,
	    O(tls_ciphersuites), 0, "TLS_AES_256_GCM_SHA384" },
	{ "tls:\n  curves: X25519\n", F_STR, O(tls_curves), 0, "X25519" },
	{ "tls:\n  ticket_key_rotation: 10m\n", F_U32,
	    O(tls_ticket_key_rotation_ms), 600000, NULL },
	{ "tls:\n  session_cache: on\n", F_INT, O(tls_session_cache), 1,
	    NULL },
	{ "tls:\n  default_certificate: /c.pem\n  default_key: /k.pem\n",
	    F_STR, O(tls_default_key), 0, "/k.pem" },
#undef O
};

START_TEST(test_keys)
{
	struct conf c;
	char err[256] = "";
	const char *p;
	int iv;

	ck_assert_msg(load(key_cases[_i].yaml, &c, err, sizeof(err)) == 0,
	    "%s: %s", key_cases[_i].yaml, err);
	p = (const char *)&c + key_cases[_i].off;
	switch (key_cases[_i].type) {
	case F_U32:
		ck_assert_uint_eq(*(const uint32_t *)(const void *)p,
		    key_cases[_i].num);
		break;
	case F_U64:
		ck_assert_uint_eq(*(const uint64_t *)(const void *)p,
		    key_cases[_i].num);
		break;
	case F_INT:
		memcpy(&iv, p, sizeof(iv));
		ck_assert_int_eq(iv, (int)key_cases[_i].num);
		break;
	case F_STR:
		ck_assert_str_eq(*(char *const *)(const void *)p,
		    key_cases[_i].str);
		break;
	}
	conf_free(&c);
}
END_TEST

static const struct {
	const char	*yaml;
	int		 http, https, admin;	/* enabled */
	const char	*text;			/* of the one checked */
	const char	*fmt;
} listen_cases[] = {
	{ "listen:\n  http: 127.0.0.1:8080\n", 1, 0, 0, "127.0.0.1:8080",
	    "127.0.0.1:8080" },
	{ "listen:\n  http: \"[::]:80\"\n", 1, 0, 0, "[::]:80", "[::]:80" },
	{ "listen:\n  http: :8080\n", 1, 0, 0, ":8080", "0.0.0.0:8080" },
	{ "listen:\n  http: \"*:81\"\n", 1, 0, 0, "*:81", "0.0.0.0:81" },
	{ "listen:\n  http: 'off'\n", 0, 0, 0, NULL, NULL },
	{ "listen:\n  http: off\n  https: 0.0.0.0:443\n", 0, 1, 0,
	    "0.0.0.0:443", "0.0.0.0:443" },
	{ "listen:\n  https: 0.0.0.0:8443\n", 1, 1, 0, "0.0.0.0:8443",
	    "0.0.0.0:8443" },
	{ "listen:\n  admin: 127.0.0.1:8580\n", 1, 0, 1, "127.0.0.1:8580",
	    "127.0.0.1:8580" },
	{ "listen:\n  admin: \"[::1]:9000\"\n", 1, 0, 1, "[::1]:9000",
	    "[::1]:9000" },
	/* Same port, other family: no overlap. */
	{ "listen:\n  admin: \"[::1]:80\"\n", 1, 0, 1, "[::1]:80",
	    "[::1]:80" },
};

START_TEST(test_listen)
{
	struct conf c;
	const struct conf_listen *l;
	char err[256] = "", buf[UTIL_ADDRSTRLEN];

	ck_assert_msg(load(listen_cases[_i].yaml, &c, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(c.http.enabled, listen_cases[_i].http);
	ck_assert_int_eq(c.https.enabled, listen_cases[_i].https);
	ck_assert_int_eq(c.admin.enabled, listen_cases[_i].admin);
	l = c.admin.enabled ? &c.admin : c.https.enabled ? &c.https : &c.http;
	if (listen_cases[_i].text != NULL) {
		ck_assert_str_eq(l->text, listen_cases[_i].text);
		ck_assert_str_eq(util_format_sockaddr(
		    (const struct sockaddr *)&l->addr, buf, sizeof(buf)),
		    listen_cases[_i].fmt);
		ck_assert_uint_eq(l->addrlen, l->addr.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	conf_free(&c);
}
END_TEST

/* Bad files: the error's position and a part of its reason. */
static const struct {
	const char	*yaml;
	const char	*pos;		/* "line:col" */
	const char	*reason;
} bad_cases[] = {
	{ "listen:\n  http: 0.0.0.0:80\n  admin: 0.0.0.0:99999\n", "3:10",
	    "listen.admin: invalid address \"0.0.0.0:99999\": port out of "
	    "range" },
	{ "# c\n\nlisten:\n  http: 0.0.0.0:99999\n", "4:9",
	    "listen.http: invalid address \"0.0.0.0:99999\": port out of "
	    "range" },
	{ "listen:\n  http: example.com:80\n", "2:9", "not a numeric IPv4" },
	{ "listen:\n  htp: 0.0.0.0:80\n", "2:3", "unknown key \"listen.htp\"" },
	{ "listen:\n  https: 0.0.0.0:80\n", "2:10",
	    "listen.https: 0.0.0.0:80 overlaps listen.http (0.0.0.0:80)" },
	{ "listen:\n  admin: 127.0.0.1:80\n", "2:10",
	    "listen.admin: 127.0.0.1:80 overlaps listen.http" },
	{ "listen:\n  admin: 127.0.0.1:81\n  http: 127.0.0.1:81\n", "3:9",
	    "listen.http: 127.0.0.1:81 overlaps listen.admin" },
	{ "listen:\n  http: 0.0.0.0:80\n  http: 0.0.0.0:81\n", "3:3",
	    "duplicate key \"listen.http\"" },
	{ "listen: 0.0.0.0:80\n", "1:9", "listen: expected a mapping" },
	{ "listen:\n  - http\n", "2:3", "listen: expected a mapping" },
	{ "listen:\n  http:\n    a: b\n", "3:5",
	    "listen.http: expected a single value, not a mapping" },
	{ "listen:\n  http: [a]\n", "2:9",
	    "listen.http: expected a single value, not a list" },
	{ "listen:\n  http:\n", "2:8", "listen.http: missing value" },
	{ "workers: 0\n", "1:10", "workers: \"0\" is not \"auto\" or a number "
	    "from 1 to 256" },
	{ "workers: 257\n", "1:10", "from 1 to 256" },
	{ "workers: -1\n", "1:10", "is not \"auto\"" },
	{ "workers: many\n", "1:10", "workers: \"many\"" },
	{ "workers: 2.5\n", "1:10", "workers: \"2.5\"" },
	{ "user: \"\"\n", "1:7", "user: invalid user name" },
	{ "user: \"a b\"\n", "1:7", "user: invalid user name" },
	{ "user: -x\n", "1:7", "user: invalid user name" },
	{ "user: abcdefghijabcdefghijabcdefghijabc\n", "1:7",
	    "user: invalid user name" },
	{ "pid_file: ~\n", "1:11", "pid_file: missing value" },
	{ "provider:\n  kind: k8s\n", "2:9",
	    "provider.kind: \"k8s\" is not one of: files, kube" },
	{ "provider:\n  kind: Kube\n", "2:9", "is not one of" },
	{ "provider:\n  namespace: Kube_System\n", "2:14",
	    "provider.namespace: \"Kube_System\" is not a valid name" },
	{ "provider:\n  debounce: 2m\n", "2:13",
	    "provider.debounce: 2m out of range (0ms to 60000ms)" },
	{ "provider:\n  debounce: soon\n", "2:13",
	    "provider.debounce: invalid duration \"soon\"" },
	{ "provider:\n  watch: yes\n", "2:3",
	    "unknown key \"provider.watch\"" },
	{ "ingress_class: Ingress_D\n", "1:16",
	    "ingress_class: \"Ingress_D\" is not a valid name" },
	{ "ingress_class: a..b\n", "1:16", "is not a valid name" },
	{ "ingress_class: -a\n", "1:16", "is not a valid name" },
	{ "publish:\n  address: \"not an address\"\n", "2:12",
	    "publish.address: \"not an address\" is neither" },
	{ "control:\n  sock: /x\n", "2:3", "unknown key \"control.sock\"" },
	{ "log:\n  level: verbose\n", "2:10",
	    "log.level: \"verbose\" is not one of: error, warn, info, debug" },
	{ "log: debug\n", "1:6", "log: expected a mapping" },
	{ "sandbox: on\n", "1:10", "sandbox: \"on\" is not one of: enforce, "
	    "log, off" },
	{ "timeouts:\n  client_header: 0s\n", "2:18",
	    "timeouts.client_header: 0s out of range" },
	{ "timeouts:\n  client_body: 0\n", "2:16",
	    "timeouts.client_body: 0 out of range" },
	{ "timeouts:\n  client_idle: -1s\n", "2:16",
	    "timeouts.client_idle: invalid duration \"-1s\"" },
	{ "timeouts:\n  upstream_connect: 10x\n", "2:21",
	    "invalid duration \"10x\"" },
	{ "timeouts:\n  upstream_response: 2d\n", "2:22",
	    "timeouts.upstream_response: 2d out of range" },
	{ "timeouts:\n  upstream_idle: 1.5s\n", "2:18", "invalid duration" },
	{ "timeouts:\n  shutdown_grace: 0ms\n", "2:19", "out of range" },
	{ "timeouts:\n  connect: 1s\n", "2:3",
	    "unknown key \"timeouts.connect\"" },
	{ "limits:\n  max_header_size: 512\n", "2:20",
	    "limits.max_header_size: 512 out of range (1024 to 1048576)" },
	{ "limits:\n  max_header_size: 2m\n", "2:20", "out of range" },
	{ "limits:\n  max_header_size: big\n", "2:20",
	    "limits.max_header_size: invalid size \"big\"" },
	{ "limits:\n  max_headers: 0\n", "2:16",
	    "limits.max_headers: 0 out of range" },
	{ "limits:\n  max_headers: 1k\n", "2:16",
	    "limits.max_headers: \"1k\" is not a number" },
	{ "limits:\n  max_body_size: -1\n", "2:18", "invalid size" },
	{ "limits:\n  max_body_size: 99999999999999999999\n", "2:18",
	    "invalid size" },
	{ "limits:\n  max_connections: 0\n", "2:20", "out of range" },
	{ "limits:\n  upstream_keepalive: 100000\n", "2:23",
	    "out of range (0 to 65536)" },
	{ "limit:\n  max_headers: 10\n", "1:1", "unknown key \"limit\"" },
	{ "health:\n  mode: udp\n", "2:9", "is not one of: tcp, http" },
	{ "health:\n  path: healthz\n", "2:9", "is not a path" },
	{ "health:\n  path: /a b\n", "2:9", "is not a path" },
	{ "health:\n  expect: 399-200\n", "2:11", "is not a status range" },
	{ "health:\n  expect: 600\n", "2:11", "is not a status range" },
	{ "health:\n  rise: 0\n", "2:9", "out of range (1 to 100)" },
	{ "health:\n  passive_failures: 1001\n", "2:21",
	    "out of range (0 to 1000)" },
	{ "health:\n  interval: 10ms\n", "2:13", "out of range" },
	{ "health:\n  all_down: maybe\n", "2:13",
	    "is not one of: fail-closed, fail-open" },
	{ "tls:\n  protocols: TLSv1.1\n", "2:14",
	    "is not a list of TLSv1.2 and TLSv1.3" },
	{ "tls:\n  ciphers: \"A B\"\n", "2:12", "is not an OpenSSL list" },
	{ "tls:\n  ticket_key_rotation: 1s\n", "2:24", "out of range" },
	{ "tls:\n  default_certificate: /c.pem\n", "2:24",
	    "default_certificate and default_key go together" },
	{ "timeouts:\n  tls_handshake: 10ms\n", "2:18", "out of range" },
	{ "workers: 2\nbogus: 1\n", "2:1", "unknown key \"bogus\"" },
	{ "workers: 2\nworkers: 3\n", "2:1", "duplicate key \"workers\"" },
	{ "? [a]\n: b\n", "1:3", "keys must be plain names" },
	{ "- a\n- b\n", "1:1", "top level: expected a mapping" },
	{ "just a string\n", "1:1", "top level: expected a mapping" },
	{ "workers: 2\n---\nworkers: 3\n", "2:1", "a second YAML document" },
	{ "listen:\n  http: \"0.0.0.0:80\n", "3:1", "YAML syntax error: " },
	{ "listen:\n\thttp: 0.0.0.0:80\n", "2:1", "YAML syntax error: found "
	    "character that cannot start any token" },
	{ "workers: 2\n user: x\n", "2:6", "YAML syntax error: mapping "
	    "values are not allowed in this context" },
	{ "workers: [1, 2\n", "2:1", "YAML syntax error: " },
	{ "user: *nothing\n", "1:7", "YAML syntax error: found undefined "
	    "alias" },
	{ "user: \"a\\0b\"\n", "1:7", "user: value too long or with a NUL "
	    "byte" },
	{ "user: \xff\n", "1:7", "YAML syntax error: invalid " },
	{ "base: &b 4\nworkers: *b\n", "1:1", "unknown key \"base\"" },
	{ "\xef\xbb\xbfworkers: 0\n", "1:10", "workers: \"0\"" },
	{ "workers: \"\x01\"\n", "1:11",
	    "YAML syntax error: control characters" },
	{ "unk\xc3\xa9: 1\n", "1:1", "unknown key \"unk??\"" },
	{ "limits:\n  max_headers: 10000000000000000000000\n", "2:16",
	    "is not a number" },
	{ "access_log:\n  enabled: yes\n", "2:12",
	    "access_log.enabled: \"yes\" is not true or false" },
	{ "access_log:\n  format: text\n", "2:11",
	    "access_log.format: \"text\" is not one of: json, combined" },
	{ "access_log: stdout\n", "1:13", "access_log" },
};

START_TEST(test_bad)
{
	struct conf c;
	char err[512] = "", want[64];

	memset(&c, 0x5a, sizeof(c));
	ck_assert_msg(load(bad_cases[_i].yaml, &c, err, sizeof(err)) == -1,
	    "accepted: %s", bad_cases[_i].yaml);
	snprintf(want, sizeof(want), "%s:%s: ", NAME, bad_cases[_i].pos);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "\"%s\" does not start with \"%s\"", err, want);
	ck_assert_msg(strstr(err, bad_cases[_i].reason) != NULL,
	    "\"%s\" lacks \"%s\"", err, bad_cases[_i].reason);
	assert_zeroed(&c);
}
END_TEST

START_TEST(test_full_example)
{
	static const char yaml[] =
	    "listen:\n"
	    "  http: \"[::]:8080\"\n"
	    "  https: \"[::]:8443\"\n"
	    "  admin: 127.0.0.1:8580\n"
	    "workers: auto\n"
	    "user: ingressd\n"
	    "pid_file: /run/ingressd.pid\n"
	    "provider:\n"
	    "  kind: kube\n"
	    "  kubeconfig: /etc/ingressd/kubeconfig\n"
	    "  namespace: default\n"
	    "  debounce: 100ms\n"
	    "ingress_class: ingressd\n"
	    "publish:\n"
	    "  address: 192.0.2.10\n"
	    "control:\n"
	    "  socket: /run/ingressd/ctl.sock\n"
	    "log:\n"
	    "  level: debug\n"
	    "sandbox: log\n"
	    "timeouts: {client_header: 5s, shutdown_grace: 10s}\n"
	    "limits:\n"
	    "  max_body_size: 1MiB\n";
	struct conf c;
	char err[256] = "";

	ck_assert_msg(load(yaml, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.https.enabled, 1);
	ck_assert_int_eq(c.admin.enabled, 1);
	ck_assert_str_eq(c.http.text, "[::]:8080");
	ck_assert_int_eq(c.workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
	ck_assert_str_eq(c.user, "ingressd");
	ck_assert_int_eq(c.provider_kind, CONF_PROVIDER_KUBE);
	ck_assert_str_eq(c.kubeconfig, "/etc/ingressd/kubeconfig");
	ck_assert_str_eq(c.namespace, "default");
	ck_assert_uint_eq(c.debounce_ms, 100);
	ck_assert_str_eq(c.control_socket, "/run/ingressd/ctl.sock");
	ck_assert_int_eq(c.sandbox, CONF_SANDBOX_LOG);
	ck_assert_uint_eq(c.client_header_timeout_ms, 5000);
	ck_assert_uint_eq(c.shutdown_grace_ms, 10000);
	ck_assert_uint_eq(c.client_body_timeout_ms, 60000);
	ck_assert_uint_eq(c.max_body_size, 1048576);
	conf_free(&c);
}
END_TEST

START_TEST(test_relative_name)
{
	struct conf c;
	char err[256] = "", cwd[4096], want[4200];
	static const char yaml[] = "provider:\n  dir: m\n";

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(conf_load_buffer("sub/x.yaml", yaml, strlen(yaml),
	    &c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/sub/m", cwd);
	ck_assert_str_eq(c.provider_dir, want);
	conf_free(&c);
	ck_assert_int_eq(conf_load_buffer("x.yaml", yaml, strlen(yaml),
	    &c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/m", cwd);
	ck_assert_str_eq(c.provider_dir, want);
	conf_free(&c);
	ck_assert_int_eq(conf_load_buffer("/x.yaml", yaml, strlen(yaml),
	    &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.provider_dir, "/m");
	conf_free(&c);
}
END_TEST

static char tmpdir[] = "/tmp/test_conf.XXXXXX";

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f;

	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_load_file)
{
	struct conf c;
	char path[256], want[300], err[512] = "", *big;
	static const char yaml[] = "workers: 2\ncontrol:\n  socket: c.sock\n";
	size_t i;

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/ingressd.yaml", tmpdir);
	write_file(path, yaml, strlen(yaml));
	ck_assert_msg(conf_load(path, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.workers, 2);
	ck_assert_str_eq(c.path, path);
	snprintf(want, sizeof(want), "%s/c.sock", tmpdir);
	ck_assert_str_eq(c.control_socket, want);
	conf_free(&c);

	/* Exactly the limit is fine; one byte more is refused. */
	ck_assert_ptr_nonnull(big = malloc(CONF_MAX_FILE_SIZE + 1));
	for (i = 0; i < CONF_MAX_FILE_SIZE + 1; i++)
		big[i] = (i % 64 == 63) ? '\n' : '#';
	write_file(path, big, CONF_MAX_FILE_SIZE);
	ck_assert_msg(conf_load(path, &c, err, sizeof(err)) == 0, "%s", err);
	conf_free(&c);
	write_file(path, big, CONF_MAX_FILE_SIZE + 1);
	memset(&c, 0x5a, sizeof(c));
	ck_assert_int_eq(conf_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:16385:1: file larger than", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	assert_zeroed(&c);
	ck_assert_int_eq(conf_load_buffer(NAME, big, CONF_MAX_FILE_SIZE + 1,
	    &c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "file larger than 1048576 bytes"));
	free(big);

	/* Not there, not a file. */
	memset(&c, 0x5a, sizeof(c));
	ck_assert_int_eq(conf_load("/nonexistent/ingressd.yaml", &c, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/ingressd.yaml: No such file or "
	    "directory");
	assert_zeroed(&c);
	memset(&c, 0x5a, sizeof(c));
	ck_assert_int_eq(conf_load(tmpdir, &c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	assert_zeroed(&c);

	unlink(path);
	rmdir(tmpdir);
}
END_TEST

START_TEST(test_shipped_config)
{
	struct conf c;
	char path[512], err[512] = "";

	/* conf/ingressd.yaml documents the defaults: it must load as them. */
	snprintf(path, sizeof(path), "%s/../conf/ingressd.yaml",
	    TESTS_SRCDIR);
	ck_assert_msg(conf_load(path, &c, err, sizeof(err)) == 0, "%s", err);
	assert_defaults(&c);
	conf_free(&c);
}
END_TEST

START_TEST(test_small_errbuf)
{
	struct conf c;
	char err[8];

	ck_assert_int_eq(load("workers: 0\n", &c, err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(load("workers: 0\n", &c, NULL, 0), -1);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, test_defaults_fn);
	tcase_add_loop_test(tc, test_empty, 0, (int)UTIL_NELEM(empty_cases));
	tcase_add_loop_test(tc, test_keys, 0, (int)UTIL_NELEM(key_cases));
	tcase_add_loop_test(tc, test_listen, 0,
	    (int)UTIL_NELEM(listen_cases));
	tcase_add_loop_test(tc, test_bad, 0, (int)UTIL_NELEM(bad_cases));
	tcase_add_test(tc, test_full_example);
	tcase_add_test(tc, test_relative_name);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_shipped_config);
	tcase_add_test(tc, test_small_errbuf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
