/*
 * ingressctl: the command-line client of ingressd's control socket.
 *
 * Runs as the operator (root or the master's user), talks only to the
 * master's control socket (one JSON line out, one back; master/control.c)
 * and prints tables or, with -o json, the answer as is.  check-config
 * works offline: it loads a configuration and its manifests here and
 * compiles them, like `ingressd --check`.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"
#include "master/compile.h"
#include "master/provider_files.h"
#include "master/store.h"

#define INGRESSCTL_DEFAULT_SOCKET	"/run/ingressd/control.sock"
#define INGRESSCTL_MAX_ANSWER		(64u << 20)

static int	json_out;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ingressctl [-s SOCKET] [-o json] command\n"
	    "commands:\n"
	    "  status              version, uptime, generation, workers\n"
	    "  routes              host, path, type, backend, source\n"
	    "  backends            backends and their endpoints\n"
	    "  reload              reload the configuration (like SIGHUP)\n"
	    "  check-config FILE   validate a configuration and its manifests\n"
	    "                      (offline)\n"
	    "default socket: %s\n", INGRESSCTL_DEFAULT_SOCKET);
}

/* Sends {"cmd":<cmd>} and returns the parsed answer; exits on failure. */
static struct json_object *
ctl_request(const char *path, const char *cmd)
{
	struct sockaddr_un sun;
	struct json_object *o;
	char req[128], *buf = NULL, *nl = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ingressctl: %s: path too long\n", path);
		exit(1);
	}
	util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "ingressctl: socket: %s\n", strerror(errno));
		exit(1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "ingressctl: cannot connect to %s: %s%s\n",
		    path, strerror(errno), errno == ENOENT ||
		    errno == ECONNREFUSED ? " (is ingressd running? "
		    "use -s to name its control.socket)" : "");
		exit(1);
	}
	rc = snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}\n", cmd);
	if (send(fd, req, rc, MSG_NOSIGNAL) != rc) {
		fprintf(stderr, "ingressctl: send: %s\n", strerror(errno));
		exit(1);
	}
	while (nl == NULL) {
		if (cap - len < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > INGRESSCTL_MAX_ANSWER ||
			    (buf = realloc(buf, cap + 1)) == NULL) {
				fprintf(stderr, "ingressctl: answer too "
				    "large\n");
				exit(1);
			}
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "ingressctl: %s: %s\n", path, n == 0 ?
			    "connection closed by ingressd (refused?)" :
			    strerror(errno));
			exit(1);
		}
		buf[len + n] = '\0';
		nl = memchr(buf + len, '\n', n);
		len += n;
	}
	close(fd);
	*nl = '\0';
	if ((o = json_tokener_parse(buf)) == NULL) {
		fprintf(stderr, "ingressctl: unreadable answer from %s\n",
		    path);
		exit(1);
	}
	free(buf);
	return o;
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return "";
	return json_object_get_string(v);
}

static int64_t
jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

static struct json_object *
jarr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* The provider's state: the kube provider's resources as a table. */
static void
print_provider(struct json_object *o)
{
	struct json_object *p, *rs, *r, *v;
	size_t i;

	if (!json_object_object_get_ex(o, "provider", &p) ||
	    !json_object_is_type(p, json_type_object))
		return;
	if (strcmp(jstr(p, "kind"), "kube") != 0) {
		printf("provider:     files %s, %s\n", jstr(p, "dir"),
		    jint(o, "ready") ? "ready" : "not loaded");
		return;
	}
	printf("provider:     kube %s, %s, %s\n", jstr(p, "server"),
	    json_object_object_get_ex(p, "namespace", &v) && v != NULL ?
	    json_object_get_string(v) : "all namespaces",
	    jint(o, "ready") ? "synced (ready)" : "not synced (not ready)");
	if (json_object_object_get_ex(p, "last_error", &v) && v != NULL)
		printf("last error:   %s\n", json_object_get_string(v));
	if (json_object_object_get_ex(p, "status", &v) &&
	    json_object_is_type(v, json_type_object))
		printf("status:       %s of Lease %s (%s), %lld writes, "
		    "%lld errors\n", jint(v, "leader") ? "leader" : "follower",
		    jstr(v, "lease"), jint(v, "leader") ? jstr(v, "identity") :
		    jstr(v, "holder"), (long long)jint(v, "writes"),
		    (long long)jint(v, "write_errors"));
	if ((rs = jarr(p, "resources")) == NULL)
		return;
	printf("\n%-15s %-9s %-7s %-8s %-8s %-7s %-8s %s\n", "RESOURCE",
	    "STATE", "SYNCED", "OBJECTS", "EVENTS", "ERRORS", "RELISTS",
	    "VERSION");
	for (i = 0; i < json_object_array_length(rs); i++) {
		r = json_object_array_get_idx(rs, i);
		printf("%-15s %-9s %-7s %-8lld %-8lld %-7lld %-8lld %s\n",
		    jstr(r, "resource"), jstr(r, "state"),
		    jint(r, "synced") ? "yes" : "no",
		    (long long)jint(r, "objects"), (long long)jint(r, "events"),
		    (long long)jint(r, "errors"), (long long)jint(r, "relists"),
		    jstr(r, "resourceVersion"));
	}
}

/* "3d04h05m06s", shorter when it can be. */
static const char *
format_secs(int64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s / 3600 % 24));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s / 60 % 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
	return buf;
}

/* When worker <w> applied its generation (local time) and how fast. */
static void
format_applied(struct json_object *w, char *buf, size_t len)
{
	struct json_object *v;
	struct tm tm;
	time_t t;
	char when[16];

	if (!json_object_object_get_ex(w, "applied_at", &v) || v == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	t = (time_t)(json_object_get_int64(v) / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "?");
	if (json_object_object_get_ex(w, "apply_latency_ms", &v) && v != NULL)
		snprintf(buf, len, "%s (%lld ms)", when,
		    (long long)json_object_get_int64(v));
	else
		snprintf(buf, len, "%s", when);
}

static void
print_status(struct json_object *o)
{
	struct json_object *ws, *w;
	int64_t up = jint(o, "uptime_s");
	char applied[48], uptime[32];
	size_t i;

	printf("ingressd %s, pid %lld, up %lldd%02lldh%02lldm%02llds%s\n",
	    jstr(o, "version"), (long long)jint(o, "pid"),
	    (long long)(up / 86400), (long long)(up / 3600 % 24),
	    (long long)(up / 60 % 60), (long long)(up % 60),
	    jint(o, "stopping") ? ", stopping" : "");
	printf("config:       %s\n", jstr(o, "config"));
	printf("generation:   %lld (%s)\n", (long long)jint(o, "generation"),
	    jint(o, "applied") ? "applied by all workers" :
	    "not yet applied by all workers");
	printf("route errors: %lld\n", (long long)jint(o, "route_errors"));
	print_provider(o);
	if ((ws = jarr(o, "workers")) == NULL)
		return;
	printf("\n%-7s %-8s %-9s %-9s %-11s %-20s %-12s %s\n", "WORKER",
	    "PID", "UPTIME", "RESTARTS", "GENERATION", "APPLIED",
	    "CONNECTIONS", "REQUESTS");
	for (i = 0; i < json_object_array_length(ws); i++) {
		w = json_object_array_get_idx(ws, i);
		format_applied(w, applied, sizeof(applied));
		printf("%-7lld %-8s %-9s %-9lld %-11lld %-20s %-12lld %lld%s\n",
		    (long long)jint(w, "id"), jint(w, "pid") > 0 ?
		    jstr(w, "pid") : "-", format_secs(jint(w, "uptime_s"),
		    uptime, sizeof(uptime)), (long long)jint(w, "restarts"),
		    (long long)jint(w, "generation"), applied,
		    (long long)jint(w, "connections"),
		    (long long)jint(w, "requests"),
		    jint(w, "draining") ? "  draining" : "");
	}
}

/* Prints <a>'s objects as a table of <keys>, columns sized to fit. */
static void
print_table(struct json_object *a, const char *const *keys,
    const char *const *heads, size_t ncols)
{
	size_t w[8], i, j, n = json_object_array_length(a), l;

	for (j = 0; j < ncols; j++)
		w[j] = strlen(heads[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < ncols; j++)
			if ((l = strlen(jstr(json_object_array_get_idx(a, i),
			    keys[j]))) > w[j])
				w[j] = l;
	for (j = 0; j < ncols; j++)
		printf("%-*s%s", j + 1 < ncols ? (int)w[j] : 0, heads[j],
		    j + 1 < ncols ? "  " : "\n");
	for (i = 0; i < n; i++)
		for (j = 0; j < ncols; j++)
			printf("%-*s%s", j + 1 < ncols ? (int)w[j] : 0,
			    jstr(json_object_array_get_idx(a, i), keys[j]),
			    j + 1 < ncols ? "  " : "\n");
}

static void
print_routes(struct json_object *o)
{
	static const char *const keys[] = {
		"host", "path", "type", "backend", "source"
	};
	static const char *const heads[] = {
		"HOST", "PATH", "TYPE", "BACKEND", "SOURCE"
	};
	struct json_object *a = jarr(o, "routes");

	if (a == NULL || json_object_array_length(a) == 0) {
		printf("no routes (generation %lld)\n",
		    (long long)jint(o, "generation"));
		return;
	}
	print_table(a, keys, heads, 5);
}

/* The endpoints' table: health, last probe and the workers' counters. */
static void
print_endpoints(struct json_object *a)
{
	struct json_object *b, *ds, *d, *v;
	char health[160], probe[160], age[32];
	size_t i, j, n = 0, wb = strlen("BACKEND"), we = strlen("ENDPOINT"), l;
	int64_t now = (int64_t)time(NULL) * 1000;

	for (i = 0; i < json_object_array_length(a); i++) {
		b = json_object_array_get_idx(a, i);
		if ((ds = jarr(b, "details")) == NULL)
			continue;
		for (j = 0; j < json_object_array_length(ds); j++, n++) {
			if ((l = strlen(jstr(b, "name"))) > wb)
				wb = l;
			if ((l = strlen(jstr(json_object_array_get_idx(ds, j),
			    "address"))) > we)
				we = l;
		}
	}
	if (n == 0)
		return;
	printf("\n%-*s  %-*s  %-24s %-32s %9s %9s %7s %s\n", (int)wb,
	    "BACKEND", (int)we, "ENDPOINT", "HEALTH", "LAST PROBE",
	    "IN-FLIGHT", "REQUESTS", "ERRORS", "EJECTIONS");
	for (i = 0; i < json_object_array_length(a); i++) {
		b = json_object_array_get_idx(a, i);
		if ((ds = jarr(b, "details")) == NULL)
			continue;
		for (j = 0; j < json_object_array_length(ds); j++) {
			d = json_object_array_get_idx(ds, j);
			snprintf(health, sizeof(health), "%s%s%s",
			    jint(d, "up") ? "up" : "down: ",
			    jint(d, "up") ? "" : jstr(d, "health"),
			    jint(d, "ejected") ? " (ejected)" : "");
			if (json_object_object_get_ex(d, "last_probe_ms", &v) &&
			    v != NULL)
				snprintf(probe, sizeof(probe), "%s ago, %s",
				    format_secs((now - json_object_get_int64(v)) /
				    1000 > 0 ? (now - json_object_get_int64(v)) /
				    1000 : 0, age, sizeof(age)),
				    jstr(d, "last_probe"));
			else
				snprintf(probe, sizeof(probe), "-");
			printf("%-*s  %-*s  %-24s %-32s %9lld %9lld %7lld %lld\n",
			    (int)wb, jstr(b, "name"), (int)we,
			    jstr(d, "address"), health, probe,
			    (long long)jint(d, "in_flight"),
			    (long long)jint(d, "requests"),
			    (long long)jint(d, "errors"),
			    (long long)jint(d, "ejections"));
		}
	}
}

static void
print_backends(struct json_object *o)
{
	struct json_object *a = jarr(o, "backends"), *b, *eps, *hs;
	const char *hv;
	size_t i, j, w = strlen("BACKEND"), l;

	if (a == NULL || json_object_array_length(a) == 0) {
		printf("no backends (generation %lld)\n",
		    (long long)jint(o, "generation"));
		return;
	}
	for (i = 0; i < json_object_array_length(a); i++)
		if ((l = strlen(jstr(json_object_array_get_idx(a, i),
		    "name"))) > w)
			w = l;
	printf("%-*s  %-14s %s\n", (int)w, "BACKEND", "POLICY", "ENDPOINTS");
	for (i = 0; i < json_object_array_length(a); i++) {
		b = json_object_array_get_idx(a, i);
		printf("%-*s  %-14s ", (int)w, jstr(b, "name"),
		    jstr(b, "policy"));
		eps = jarr(b, "endpoints");
		hs = jarr(b, "health");
		for (j = 0; eps != NULL && j < json_object_array_length(eps);
		    j++) {
			printf("%s%s", j > 0 ? " " : "", json_object_get_string(
			    json_object_array_get_idx(eps, j)));
			hv = hs != NULL && j < json_object_array_length(hs) ?
			    json_object_get_string(json_object_array_get_idx(
			    hs, j)) : "up";
			if (hv != NULL && strcmp(hv, "up") != 0)
				printf(" (DOWN: %s)", hv);
		}
		if (eps != NULL && json_object_array_length(eps) > 0 &&
		    jint(b, "available") == 0 && hs != NULL)
			printf(" [all down: %s]", jstr(b, "all_down"));
		printf("%s\n", eps == NULL || json_object_array_length(eps) ==
		    0 ? "(none)" : "");
	}
	print_endpoints(a);
}

static int
check_config(const char *path)
{
	struct compile_options opt;
	struct compile_result res;
	struct store *st;
	struct conf c;
	char err[1024];
	size_t i;
	int nerrors = 0, rc = 0;

	log_init(1, LOG_LEVEL_WARN);
	log_setrole("ingressctl");
	if (conf_load(path, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (c.provider_kind != CONF_PROVIDER_FILES) {
		printf("%s: configuration OK (provider kube: manifests not "
		    "checked)\n", path);
		conf_free(&c);
		return 0;
	}
	st = provider_files_load(c.provider_dir, &nerrors, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "warning: provider.dir %s: %s\n",
		    c.provider_dir, err);
		printf("%s: configuration OK, no manifests loaded\n", path);
		conf_free(&c);
		return 0;
	}
	memset(&opt, 0, sizeof(opt));
	opt.ingress_class = c.ingress_class;
	memset(&res, 0, sizeof(res));
	if (compile_routes(st, &opt, &res) == -1) {
		fprintf(stderr, "compile: out of memory\n");
		rc = 1;
	} else {
		for (i = 0; i < res.nerrors; i++)
			fprintf(stderr, "warning: %s (%s): %s\n",
			    res.errors[i].object, res.errors[i].origin != NULL ?
			    res.errors[i].origin : "-", res.errors[i].reason);
		printf("%s: configuration OK; %d document(s) skipped, %zu "
		    "route warning(s), %zu hosts, %zu backends\n", path,
		    nerrors, res.nerrors, res.rt.nhosts, res.rt.nbackends);
		compile_result_free(&res);
	}
	store_free(st);
	conf_free(&c);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *sock = INGRESSCTL_DEFAULT_SOCKET, *cmd;
	struct json_object *o;
	int ch;

	while ((ch = getopt(argc, argv, "s:o:h")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0) {
				fprintf(stderr, "ingressctl: -o: only json\n");
				return 2;
			}
			json_out = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* GNU getopt permuted: options may follow the command too. */
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "check-config") == 0) {
		if (optind >= argc) {
			usage(stderr);
			return 2;
		}
		return check_config(argv[optind]);
	}
	if (optind != argc || (strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "routes") != 0 && strcmp(cmd, "backends") != 0 &&
	    strcmp(cmd, "reload") != 0)) {
		usage(stderr);
		return 2;
	}

	o = ctl_request(sock, cmd);
	if (json_object_object_get_ex(o, "error", NULL)) {
		if (json_out)
			printf("%s\n", json_object_to_json_string_ext(o,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
		fprintf(stderr, "ingressctl: %s: %s\n", cmd, jstr(o, "error"));
		json_object_put(o);
		return 1;
	}
	if (json_out)
		printf("%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (strcmp(cmd, "status") == 0)
		print_status(o);
	else if (strcmp(cmd, "routes") == 0)
		print_routes(o);
	else if (strcmp(cmd, "backends") == 0)
		print_backends(o);
	else
		printf("reloaded, generation %lld\n",
		    (long long)jint(o, "generation"));
	json_object_put(o);
	return 0;
}
