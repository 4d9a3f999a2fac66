/*
 * kubeconfig: in-cluster service-account config or a kubeconfig file ->
 * struct kubeconfig (server URL, trust, credentials, namespace).
 *
 * Runs in the master, at start and on reload, and before each API request
 * for the token file's stat().  It reads operator-provided files only,
 * each bounded (KUBECONFIG_MAX_FILE, KUBECONFIG_MAX_TOKEN).  Nothing here
 * touches the network.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/util.h"
#include "master/kubeconfig.h"
#include "master/manifest.h"

/* Reads at most <max> bytes of <path>, NUL-terminated; NULL with <err>. */
static char *
kc_read_file(const char *path, size_t max, size_t *lenp, struct stat *stp,
    char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto bad;
	}
	if (!S_ISREG(st.st_mode) || (uintmax_t)st.st_size > max) {
		snprintf(err, errlen, "%s: not a regular file of at most %zu "
		    "bytes", path, max);
		goto bad;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto bad;
	}
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto bad;
		}
		if (n == 0)
			break;
		len += n;
		if (len > max) {
			snprintf(err, errlen, "%s: larger than %zu bytes",
			    path, max);
			goto bad;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	if (stp != NULL)
		*stp = st;
	return buf;
 bad:
	free(buf);
	close(fd);
	return NULL;
}

static int
kc_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 (padding optional, whitespace skipped); NULL if bad. */
static char *
kc_base64(const char *s, size_t *outlen)
{
	size_t len = strlen(s), o = 0;
	unsigned int acc = 0;
	int bits = 0, v, pad = 0;
	char *out;

	if ((out = malloc(len / 4 * 3 + 4)) == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			continue;
		if (*s == '=') {
			pad++;
			continue;
		}
		if (pad || (v = kc_b64val((unsigned char)*s)) == -1)
			goto bad;
		acc = (acc << 6) | v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (acc >> bits) & 0xff;
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	out[o] = '\0';
	*outlen = o;
	return out;
 bad:
	free(out);
	return NULL;
}

static char *
kc_path(const char *dir, const char *p)
{
	char *s;

	if (p[0] == '/' || dir == NULL || dir[0] == '\0')
		return strdup(p);
	if (asprintf(&s, "%s/%s", dir, p) == -1)
		return NULL;
	return s;
}

/* Trims trailing whitespace (token files often end in a newline). */
static void
kc_trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
	    s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

int
kubeconfig_refresh_token(struct kubeconfig *kc, char *err, size_t errlen)
{
	struct stat st;
	char *tok;

	if (kc->token_file == NULL)
		return 0;
	if (stat(kc->token_file, &st) == -1) {
		snprintf(err, errlen, "token file %s: %s", kc->token_file,
		    strerror(errno));
		return -1;
	}
	if (kc->token != NULL && st.st_ino == kc->token_ino &&
	    st.st_size == kc->token_size &&
	    st.st_mtim.tv_sec == kc->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == kc->token_mtime.tv_nsec)
		return 0;
	if ((tok = kc_read_file(kc->token_file, KUBECONFIG_MAX_TOKEN, NULL,
	    &st, err, errlen)) == NULL)
		return -1;
	kc_trim(tok);
	kc->token_ino = st.st_ino;
	kc->token_size = st.st_size;
	kc->token_mtime = st.st_mtim;
	if (kc->token != NULL && strcmp(kc->token, tok) == 0) {
		free(tok);
		return 0;
	}
	free(kc->token);
	kc->token = tok;
	return 1;
}

void
kubeconfig_free(struct kubeconfig *kc)
{
	free(kc->server);
	free(kc->ca_file);
	free(kc->ca_data);
	free(kc->cert_file);
	free(kc->key_file);
	free(kc->cert_data);
	free(kc->key_data);
	free(kc->namespace);
	if (kc->token != NULL)
		explicit_bzero(kc->token, strlen(kc->token));
	free(kc->token);
	free(kc->token_file);
	memset(kc, 0, sizeof(*kc));
}

static int
kc_in_cluster(struct kubeconfig *kc, char *err, size_t errlen)
{
	const char *host, *port, *dir;
	char path[PATH_MAX], e[256];
	char *ns;

	host = getenv("KUBERNETES_SERVICE_HOST");
	port = getenv("KUBERNETES_SERVICE_PORT");
	if (host == NULL || *host == '\0') {
		snprintf(err, errlen, "no provider.kubeconfig and not in a "
		    "cluster (KUBERNETES_SERVICE_HOST is not set)");
		return -1;
	}
	if (port == NULL || *port == '\0')
		port = "443";
	if ((dir = getenv(KUBECONFIG_SA_DIR_ENV)) == NULL || *dir == '\0')
		dir = KUBECONFIG_SA_DIR;
	if (asprintf(&kc->server, strchr(host, ':') != NULL ?
	    "https://[%s]:%s" : "https://%s:%s", host, port) == -1) {
		kc->server = NULL;
		goto nomem;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if ((kc->ca_file = strdup(path)) == NULL)
		goto nomem;
	snprintf(path, sizeof(path), "%s/token", dir);
	if ((kc->token_file = strdup(path)) == NULL)
		goto nomem;
	if (kubeconfig_refresh_token(kc, err, errlen) == -1)
		goto bad;
	snprintf(path, sizeof(path), "%s/namespace", dir);
	if ((ns = kc_read_file(path, 256, NULL, NULL, e, sizeof(e))) != NULL) {
		kc_trim(ns);
		kc->namespace = ns;
	}
	return 0;
 nomem:
	snprintf(err, errlen, "%s", strerror(errno));
 bad:
	kubeconfig_free(kc);
	return -1;
}

/* The entry named <name> of the list <key> ("clusters", ...), its <sub>. */
static struct json_object *
kc_named(struct json_object *doc, const char *key, const char *name,
    const char *sub)
{
	struct json_object *a, *e, *n, *v;
	size_t i;

	if (!json_object_object_get_ex(doc, key, &a) ||
	    !json_object_is_type(a, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if (json_object_object_get_ex(e, "name", &n) &&
		    json_object_is_type(n, json_type_string) &&
		    strcmp(json_object_get_string(n), name) == 0 &&
		    json_object_object_get_ex(e, sub, &v) &&
		    json_object_is_type(v, json_type_object))
			return v;
	}
	return NULL;
}

/* A string field or NULL; -1 when present but not a string. */
static int
kc_str(struct json_object *o, const char *key, const char **out)
{
	struct json_object *v;

	*out = NULL;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	if (strlen(*out) > KUBECONFIG_MAX_FILE)
		return -1;
	return 0;
}

struct kc_parse {
	struct json_object	*doc;
	int			 ndocs;
	char			 err[256];
};

static void
kc_doc_cb(void *arg, int docno, int line, struct json_object *doc,
    const char *err)
{
	struct kc_parse *p = arg;

	if (doc == NULL) {
		if (p->err[0] == '\0')
			snprintf(p->err, sizeof(p->err), "%s", err);
		return;
	}
	if (p->ndocs++ == 0)
		p->doc = json_object_get(doc);
}

#define KC_STR(obj, key, var) do {					\
	if (kc_str((obj), (key), &(var)) == -1) {			\
		snprintf(err, errlen, "%s: %s must be a string", name,	\
		    (key));						\
		goto bad;						\
	}								\
} while (0)

int
kubeconfig_parse(const char *name, const char *buf, size_t len,
    const char *dir, struct kubeconfig *kc, char *err, size_t errlen)
{
	struct kc_parse p;
	struct json_object *ctx, *cluster, *user, *v;
	const char *cur, *cname, *uname, *s, *ns;

	memset(kc, 0, sizeof(*kc));
	memset(&p, 0, sizeof(p));
	manifest_parse(name, buf, len, kc_doc_cb, &p);
	if (p.doc == NULL || !json_object_is_type(p.doc, json_type_object)) {
		snprintf(err, errlen, "%s: %s", name, p.err[0] != '\0' ?
		    p.err : "not a kubeconfig (no YAML or JSON mapping)");
		goto bad;
	}
	KC_STR(p.doc, "current-context", cur);
	if (cur == NULL || *cur == '\0') {
		snprintf(err, errlen, "%s: no current-context", name);
		goto bad;
	}
	if ((ctx = kc_named(p.doc, "contexts", cur, "context")) == NULL) {
		snprintf(err, errlen, "%s: context \"%s\" not found", name,
		    cur);
		goto bad;
	}
	KC_STR(ctx, "cluster", cname);
	KC_STR(ctx, "user", uname);
	KC_STR(ctx, "namespace", ns);
	if (cname == NULL || (cluster = kc_named(p.doc, "clusters", cname,
	    "cluster")) == NULL) {
		snprintf(err, errlen, "%s: cluster \"%s\" of context \"%s\" "
		    "not found", name, cname ? cname : "", cur);
		goto bad;
	}
	user = uname != NULL ? kc_named(p.doc, "users", uname, "user") : NULL;
	if (uname != NULL && user == NULL) {
		snprintf(err, errlen, "%s: user \"%s\" of context \"%s\" not "
		    "found", name, uname, cur);
		goto bad;
	}

	KC_STR(cluster, "server", s);
	if (s == NULL || strncmp(s, "https://", 8) != 0 || s[8] == '\0') {
		snprintf(err, errlen, "%s: cluster \"%s\": server must be an "
		    "https:// URL", name, cname);
		goto bad;
	}
	if ((kc->server = strdup(s)) == NULL)
		goto nomem;
	while (strlen(kc->server) > 8 &&
	    kc->server[strlen(kc->server) - 1] == '/')
		kc->server[strlen(kc->server) - 1] = '\0';
	if (json_object_object_get_ex(cluster, "insecure-skip-tls-verify",
	    &v))
		kc->insecure = json_object_get_boolean(v);
	KC_STR(cluster, "certificate-authority", s);
	if (s != NULL && (kc->ca_file = kc_path(dir, s)) == NULL)
		goto nomem;
	KC_STR(cluster, "certificate-authority-data", s);
	if (s != NULL && (kc->ca_data = kc_base64(s,
	    &kc->ca_data_len)) == NULL) {
		snprintf(err, errlen, "%s: certificate-authority-data: not "
		    "base64", name);
		goto bad;
	}
	if (ns != NULL && *ns != '\0' && (kc->namespace = strdup(ns)) == NULL)
		goto nomem;

	KC_STR(user, "token", s);
	if (s != NULL && (kc->token = strdup(s)) == NULL)
		goto nomem;
	KC_STR(user, "tokenFile", s);
	if (s != NULL && kc->token == NULL) {
		if ((kc->token_file = kc_path(dir, s)) == NULL)
			goto nomem;
	}
	KC_STR(user, "client-certificate", s);
	if (s != NULL && (kc->cert_file = kc_path(dir, s)) == NULL)
		goto nomem;
	KC_STR(user, "client-key", s);
	if (s != NULL && (kc->key_file = kc_path(dir, s)) == NULL)
		goto nomem;
	KC_STR(user, "client-certificate-data", s);
	if (s != NULL && (kc->cert_data = kc_base64(s,
	    &kc->cert_data_len)) == NULL) {
		snprintf(err, errlen, "%s: client-certificate-data: not "
		    "base64", name);
		goto bad;
	}
	KC_STR(user, "client-key-data", s);
	if (s != NULL && (kc->key_data = kc_base64(s,
	    &kc->key_data_len)) == NULL) {
		snprintf(err, errlen, "%s: client-key-data: not base64", name);
		goto bad;
	}
	if ((kc->cert_file != NULL || kc->cert_data != NULL) !=
	    (kc->key_file != NULL || kc->key_data != NULL)) {
		snprintf(err, errlen, "%s: user \"%s\": a client certificate "
		    "needs its key and a key its certificate", name, uname);
		goto bad;
	}
	json_object_put(p.doc);
	return 0;
 nomem:
	snprintf(err, errlen, "%s", strerror(errno));
 bad:
	json_object_put(p.doc);
	kubeconfig_free(kc);
	return -1;
}

int
kubeconfig_load(const char *path, struct kubeconfig *kc, char *err,
    size_t errlen)
{
	char dir[PATH_MAX], *buf, *slash;
	size_t len;
	int rc;

	memset(kc, 0, sizeof(*kc));
	if (path == NULL)
		return kc_in_cluster(kc, err, errlen);
	if ((buf = kc_read_file(path, KUBECONFIG_MAX_FILE, &len, NULL, err,
	    errlen)) == NULL)
		return -1;
	util_strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		util_strlcpy(dir, ".", sizeof(dir));
	rc = kubeconfig_parse(path, buf, len, dir, kc, err, errlen);
	free(buf);
	if (rc == 0 && kc->token_file != NULL &&
	    kubeconfig_refresh_token(kc, err, errlen) == -1) {
		kubeconfig_free(kc);
		return -1;
	}
	return rc;
}
