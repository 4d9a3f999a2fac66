/*
 * provider_kube: list+watch against the Kubernetes API server into a store.
 *
 * Runs in the master, on its libev loop.  It reads API objects (untrusted:
 * every body and event is bounded and validated by kube_stream.c and
 * objects.c) and never client traffic.  libcurl's multi interface is
 * driven from libev the way curl's docs/examples/evhiperfifo.c does it:
 * CURLMOPT_SOCKETFUNCTION maps curl's sockets to ev_io watchers,
 * CURLMOPT_TIMERFUNCTION to one ev_timer (in milliseconds, not rounded to
 * seconds), and every completed transfer is collected after each
 * curl_multi_socket_action().  Nothing here blocks.
 *
 * Per resource an informer: list (limit/continue paging) -> replace that
 * kind in the store by diff (adds, updates, deletes) -> watch from the
 * list's resourceVersion with bookmarks and a randomized timeoutSeconds ->
 * apply each event at once -> on a normal end watch again from the last
 * resourceVersion; on 410 Gone (HTTP or ERROR event) relist; on any other
 * failure retry with exponential backoff and jitter.  An API error never
 * removes an object: the last good routes keep serving.  Store changes are
 * coalesced (debounce) into one callback; the first callback comes when
 * every resource's first list completed (synced).
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <json-c/json.h>

#include "common/log.h"
#include "common/util.h"
#include "master/kube_stream.h"
#include "master/kubeconfig.h"
#include "master/objects.h"
#include "master/provider_kube.h"
#include "master/store.h"

#define PK_PAGE_LIMIT		500
#define PK_MAX_BODY		(256u << 20)	/* one list page */
#define PK_MAX_ERROR_BODY	(64u << 10)
#define PK_MAX_DEPTH		64
#define PK_BACKOFF_BASE_MS	250
#define PK_BACKOFF_CAP_MS	30000
#define PK_WATCH_MIN_S		240
#define PK_WATCH_MAX_S		360
#define PK_CONNECT_TIMEOUT_MS	10000
#define PK_LIST_TIMEOUT_MS	60000
#define PK_WATCH_SLACK_MS	30000	/* past timeoutSeconds */
#define PK_URL_MAX		2048

/* What is listed and watched, in start order. */
struct pk_resource {
	enum obj_kind	 kind;
	const char	*prefix;	/* API group path */
	const char	*resource;
	const char	*group;		/* "" for core, for RBAC messages */
	const char	*api_version;	/* list items carry none */
	const char	*kind_name;
	int		 namespaced;
	const char	*field_selector;
	int		 standby;	/* only when another is not served */
};

static const struct pk_resource pk_resources[] = {
	{ OBJ_INGRESS, "/apis/networking.k8s.io/v1", "ingresses",
	    "networking.k8s.io", "networking.k8s.io/v1", "Ingress", 1, NULL,
	    0 },
	{ OBJ_INGRESS_CLASS, "/apis/networking.k8s.io/v1", "ingressclasses",
	    "networking.k8s.io", "networking.k8s.io/v1", "IngressClass", 0,
	    NULL, 0 },
	{ OBJ_SERVICE, "/api/v1", "services", "", "v1", "Service", 1, NULL,
	    0 },
	{ OBJ_ENDPOINT_SLICE, "/apis/discovery.k8s.io/v1", "endpointslices",
	    "discovery.k8s.io", "discovery.k8s.io/v1", "EndpointSlice", 1,
	    NULL, 0 },
	{ OBJ_ENDPOINTS, "/api/v1", "endpoints", "", "v1", "Endpoints", 1,
	    NULL, 1 },
	{ OBJ_SECRET, "/api/v1", "secrets", "", "v1", "Secret", 1,
	    "type=kubernetes.io/tls", 0 },
};
#define PK_NRES		(sizeof(pk_resources) / sizeof(pk_resources[0]))
#define PK_SLICES	3		/* index of endpointslices */
#define PK_ENDPOINTS	4		/* index of endpoints */

enum pk_state {
	PK_OFF = 0,
	PK_LISTING,
	PK_WATCHING,
	PK_BACKOFF_LIST,
	PK_BACKOFF_WATCH,
};

static const char *const pk_state_names[] = {
	[PK_OFF] = "off",
	[PK_LISTING] = "listing",
	[PK_WATCHING] = "watching",
	[PK_BACKOFF_LIST] = "backoff",
	[PK_BACKOFF_WATCH] = "backoff",
};

/* Why a watch stream was cut from our side. */
enum pk_stop {
	PK_STOP_NONE = 0,
	PK_STOP_GONE,		/* ERROR event 410: relist */
	PK_STOP_ERROR,		/* other ERROR event or bad event */
};

struct pk_informer;

struct pk_req {
	struct pk_informer	*inf;
	CURL			*easy;
	struct curl_slist	*hdrs;
	int			 watch;
	char			*body;	/* list page, or an error reply */
	size_t			 len;
	size_t			 cap;
	struct kube_stream	 ks;
	enum pk_stop		 stop;
	int			 toobig;
	uint64_t		 events;
	char			 errbuf[CURL_ERROR_SIZE];
};

struct pk_informer {
	struct provider_kube	*pk;
	const struct pk_resource *r;
	enum pk_state		 state;
	int			 synced;	/* first list done */
	char			 rv[64];
	char			*cont;		/* continue token */
	struct pk_req		*req;
	ev_timer		 retry;
	unsigned		 failures;
	uint64_t		 watch_started_ms;

	/* one list's items, across its pages */
	struct obj		**objs;
	size_t			 nobjs, capobjs;
	char			**seen;		/* "ns/name" of every item */
	size_t			 nseen, capseen;

	uint64_t		 nevents, nerrors, nrelists;
};

struct provider_kube {
	struct ev_loop		*loop;
	CURLM			*multi;
	ev_timer		 timer;		/* curl's timeout */
	struct kubeconfig	 kc;
	char			*namespace;
	uint32_t		 debounce_ms;
	provider_kube_cb	 cb;
	void			*arg;
	struct store		*store;
	struct pk_informer	 inf[PK_NRES];
	int			 synced;
	int			 stopped;
	uint64_t		 started_ms, synced_ms;
	ev_timer		 debounce;
	char			 last_error[256];
};

struct pk_sock {
	struct provider_kube	*pk;
	curl_socket_t		 fd;
	ev_io			 io;
};

static void	pk_list_start(struct pk_informer *);
static void	pk_watch_start(struct pk_informer *);
static void	pk_check(struct provider_kube *);

/* ---------------------------------------------------------------- curl */

static void
pk_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pk_sock *ps = (struct pk_sock *)((char *)w -
	    offsetof(struct pk_sock, io));
	struct provider_kube *pk = ps->pk;
	int action = 0, running;

	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* <ps> may be freed inside: only <pk> is used afterwards. */
	curl_multi_socket_action(pk->multi, ps->fd, action, &running);
	pk_check(pk);
}

static void
pk_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct provider_kube *pk = (struct provider_kube *)((char *)w -
	    offsetof(struct provider_kube, timer));
	int running;

	curl_multi_socket_action(pk->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	pk_check(pk);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops, else fire in <timeout_ms> ms. */
static int
pk_multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct provider_kube *pk = userp;

	ev_timer_stop(pk->loop, &pk->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&pk->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(pk->loop, &pk->timer);
	}
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: one ev_io per socket curl cares about. */
static int
pk_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct provider_kube *pk = userp;
	struct pk_sock *ps = sockp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (ps != NULL) {
			ev_io_stop(pk->loop, &ps->io);
			free(ps);
		}
		return 0;
	}
	if (ps == NULL) {
		if ((ps = calloc(1, sizeof(*ps))) == NULL)
			return -1;
		ps->pk = pk;
		ps->fd = s;
		curl_multi_assign(pk->multi, s, ps);
	} else
		ev_io_stop(pk->loop, &ps->io);
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	ev_io_init(&ps->io, pk_io_cb, s, events);
	ev_io_start(pk->loop, &ps->io);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static void
pk_changed(struct provider_kube *pk)
{
	if (!pk->synced || pk->stopped)
		return;
	if (!ev_is_active(&pk->debounce)) {
		ev_timer_set(&pk->debounce, (double)pk->debounce_ms / 1000.0,
		    0.);
		ev_timer_start(pk->loop, &pk->debounce);
	}
}

static void
pk_debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct provider_kube *pk = (struct provider_kube *)((char *)w -
	    offsetof(struct provider_kube, debounce));

	pk->cb(pk->arg, pk);
}

/* "list ingresses.networking.k8s.io in namespace x" */
static void
pk_what(const struct pk_informer *inf, const char *verb, char *buf,
    size_t len)
{
	const struct pk_resource *r = inf->r;
	const char *ns = inf->pk->namespace;

	snprintf(buf, len, "%s %s%s%s %s%s%s", verb, r->resource,
	    r->group[0] != '\0' ? "." : "", r->group,
	    r->namespaced && ns != NULL ? "in namespace \"" : "at cluster "
	    "scope", r->namespaced && ns != NULL ? ns : "",
	    r->namespaced && ns != NULL ? "\"" : "");
}

/* The Status message of an error reply, or "". */
static void
pk_status_message(const struct pk_req *req, char *buf, size_t len)
{
	struct json_object *doc, *m;
	struct json_tokener *tok;

	buf[0] = '\0';
	if (req->body == NULL || req->len == 0 ||
	    (tok = json_tokener_new_ex(PK_MAX_DEPTH)) == NULL)
		return;
	doc = json_tokener_parse_ex(tok, req->body, (int)req->len);
	json_tokener_free(tok);
	if (doc != NULL && json_object_is_type(doc, json_type_object) &&
	    json_object_object_get_ex(doc, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		snprintf(buf, len, ": %s", json_object_get_string(m));
	json_object_put(doc);
}

/* Exponential backoff with jitter, then <state> again. */
static void
pk_backoff(struct pk_informer *inf, enum pk_state state, const char *why)
{
	struct provider_kube *pk = inf->pk;
	uint64_t ms;
	unsigned shift;

	shift = inf->failures < 7 ? inf->failures : 7;
	ms = (uint64_t)PK_BACKOFF_BASE_MS << shift;
	if (ms > PK_BACKOFF_CAP_MS)
		ms = PK_BACKOFF_CAP_MS;
	ms = ms / 2 + (uint64_t)random() % (ms / 2 + 1);
	inf->failures++;
	inf->nerrors++;
	snprintf(pk->last_error, sizeof(pk->last_error), "%s", why);
	log_warnx("kube: %s; retrying in %llu ms", why,
	    (unsigned long long)ms);
	inf->state = state;
	ev_timer_set(&inf->retry, (double)ms / 1000.0, 0.);
	ev_timer_start(pk->loop, &inf->retry);
}

static void
pk_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pk_informer *inf = (struct pk_informer *)((char *)w -
	    offsetof(struct pk_informer, retry));

	if (inf->state == PK_BACKOFF_WATCH)
		pk_watch_start(inf);
	else
		pk_list_start(inf);
}

static void
pk_list_clear(struct pk_informer *inf)
{
	size_t i;

	for (i = 0; i < inf->nobjs; i++)
		objects_free(inf->objs[i]);
	for (i = 0; i < inf->nseen; i++)
		free(inf->seen[i]);
	free(inf->objs);
	free(inf->seen);
	inf->objs = NULL;
	inf->seen = NULL;
	inf->nobjs = inf->capobjs = inf->nseen = inf->capseen = 0;
	free(inf->cont);
	inf->cont = NULL;
}

static void
pk_req_free(struct pk_req *req)
{
	if (req == NULL)
		return;
	if (req->easy != NULL) {
		curl_multi_remove_handle(req->inf->pk->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	curl_slist_free_all(req->hdrs);
	kube_stream_reset(&req->ks);
	free(req->body);
	free(req);
}

/* ------------------------------------------------------------ objects */

/*
 * One API object (list item or event object) -> a new struct obj in
 * *<out>: 0, 1 when not kept, -1 (logged) when invalid.
 */
static int
pk_object(struct pk_informer *inf, struct json_object *j, struct obj **out)
{
	const struct pk_resource *r = inf->r;
	char err[256];
	int rc;

	/* List items come without kind and apiVersion. */
	json_object_object_add(j, "kind",
	    json_object_new_string(r->kind_name));
	json_object_object_add(j, "apiVersion",
	    json_object_new_string(r->api_version));
	rc = objects_from_json(j, out, err, sizeof(err));
	if (rc == -1) {
		inf->nerrors++;
		log_warnx("kube: %s: invalid object skipped: %s",
		    r->resource, err);
		return -1;
	}
	if (rc == 1 || (*out)->kind != r->kind) {
		objects_free(*out);
		*out = NULL;
		return 1;
	}
	if (((*out)->origin = strdup("kube")) == NULL) {
		objects_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* "ns/name" of an item as the store will key it. */
static char *
pk_item_key(struct json_object *j)
{
	struct json_object *md, *v;
	const char *ns = "default", *name = NULL;
	char *key;

	if (!json_object_object_get_ex(j, "metadata", &md))
		return NULL;
	if (json_object_object_get_ex(md, "namespace", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) > 0)
		ns = json_object_get_string(v);
	if (json_object_object_get_ex(md, "name", &v) &&
	    json_object_is_type(v, json_type_string))
		name = json_object_get_string(v);
	if (name == NULL || asprintf(&key, "%s/%s", ns, name) == -1)
		return NULL;
	return key;
}

static int
pk_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A complete list: the store's objects of this kind become exactly the
 * listed ones (invalid items keep their previous version).  Returns the
 * number of changes.
 */
static size_t
pk_list_commit(struct pk_informer *inf)
{
	struct store *st = inf->pk->store;
	const struct obj *old;
	struct obj *o;
	char **gone = NULL, *key, *slash;
	size_t i, n, ngone = 0, changed = 0;

	qsort(inf->seen, inf->nseen, sizeof(*inf->seen), pk_strcmp);
	n = store_count(st, inf->r->kind);
	if (n > 0 && (gone = calloc(n, sizeof(*gone))) == NULL)
		n = 0;		/* no deletes this time; next relist */
	for (i = 0; i < n; i++) {
		if ((old = store_at(st, inf->r->kind, i)) == NULL)
			break;
		if (asprintf(&key, "%s/%s", old->meta.namespace != NULL ?
		    old->meta.namespace : "", old->meta.name) == -1)
			continue;
		if (bsearch(&key, inf->seen, inf->nseen, sizeof(*inf->seen),
		    pk_strcmp) == NULL)
			gone[ngone++] = key;
		else
			free(key);
	}
	for (i = 0; i < ngone; i++) {
		slash = strchr(gone[i], '/');
		*slash = '\0';
		changed += store_delete(st, inf->r->kind, gone[i], slash + 1);
		free(gone[i]);
	}
	free(gone);
	for (i = 0; i < inf->nobjs; i++) {
		o = inf->objs[i];
		inf->objs[i] = NULL;
		old = store_get(st, o->kind, o->meta.namespace, o->meta.name);
		if (old != NULL && old->meta.resource_version != NULL &&
		    o->meta.resource_version != NULL &&
		    strcmp(old->meta.resource_version,
		    o->meta.resource_version) == 0) {
			objects_free(o);
			continue;
		}
		if (store_put(st, o) == 0)
			changed++;
	}
	inf->nobjs = 0;
	pk_list_clear(inf);
	return changed;
}

/* ------------------------------------------------------------ requests */

static size_t
pk_append(struct pk_req *req, const char *p, size_t n, size_t max)
{
	size_t cap;
	char *nb;

	if (n > max - req->len) {
		req->toobig = 1;
		return 0;
	}
	if (req->len + n + 1 > req->cap) {
		cap = req->cap != 0 ? req->cap : 16384;
		while (cap < req->len + n + 1)
			cap *= 2;
		if ((nb = realloc(req->body, cap)) == NULL)
			return 0;
		req->body = nb;
		req->cap = cap;
	}
	memcpy(req->body + req->len, p, n);
	req->len += n;
	req->body[req->len] = '\0';
	return n;
}

static int
pk_event_cb(void *arg, const char *line, size_t len)
{
	struct pk_req *req = arg;
	struct pk_informer *inf = req->inf;
	struct provider_kube *pk = inf->pk;
	struct kube_event ev;
	struct obj *o = NULL;
	char err[256];
	int changed = 0;

	if (kube_event_parse(line, len, &ev, err, sizeof(err)) == -1) {
		log_warnx("kube: watch %s: %s", inf->r->resource, err);
		inf->nerrors++;
		req->stop = PK_STOP_ERROR;
		return 1;
	}
	req->events++;
	inf->nevents++;
	switch (ev.type) {
	case KUBE_EVENT_ADDED:
	case KUBE_EVENT_MODIFIED:
		/* An invalid new version: the old one stays. */
		if (pk_object(inf, ev.object, &o) == 0 &&
		    store_put(pk->store, o) == 0)
			changed = 1;
		break;
	case KUBE_EVENT_DELETED:
		if (pk_object(inf, ev.object, &o) == 0) {
			changed = store_delete(pk->store, o->kind,
			    o->meta.namespace, o->meta.name);
			objects_free(o);
		}
		break;
	case KUBE_EVENT_BOOKMARK:
		break;
	case KUBE_EVENT_ERROR:
		if (ev.code == 410) {
			log_info("kube: watch %s: resourceVersion %s expired "
			    "(410 Gone in the stream): relisting",
			    inf->r->resource, inf->rv);
			req->stop = PK_STOP_GONE;
		} else {
			log_warnx("kube: watch %s: ERROR event %d%s%s",
			    inf->r->resource, ev.code, ev.message ? ": " : "",
			    ev.message ? ev.message : "");
			req->stop = PK_STOP_ERROR;
		}
		json_object_put(ev.object);
		return 1;
	}
	if (ev.resource_version != NULL)
		util_strlcpy(inf->rv, ev.resource_version, sizeof(inf->rv));
	json_object_put(ev.object);
	if (changed)
		pk_changed(pk);
	return 0;
}

static size_t
pk_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct pk_req *req = arg;
	size_t n = size * nmemb;
	long code = 0;
	int rc;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
	if (!req->watch)
		return pk_append(req, p, n, code == 200 ? PK_MAX_BODY :
		    PK_MAX_ERROR_BODY);
	if (code != 200) {
		if (req->len < PK_MAX_ERROR_BODY)
			pk_append(req, p, n < PK_MAX_ERROR_BODY - req->len ? n :
			    PK_MAX_ERROR_BODY - req->len, PK_MAX_ERROR_BODY);
		return n;
	}
	rc = kube_stream_feed(&req->ks, p, n, pk_event_cb, req);
	if (rc == -1) {
		log_warnx("kube: watch %s: event larger than %u bytes",
		    req->inf->r->resource, KUBE_STREAM_MAX_EVENT);
		req->stop = PK_STOP_ERROR;
		return 0;
	}
	return rc == 0 ? n : 0;
}

static struct pk_req *
pk_request(struct pk_informer *inf, const char *query, int watch,
    long timeout_ms)
{
	struct provider_kube *pk = inf->pk;
	const struct pk_resource *r = inf->r;
	struct kubeconfig *kc = &pk->kc;
	struct pk_req *req;
	char url[PK_URL_MAX], hdr[256 + KUBECONFIG_MAX_TOKEN], err[512];
	char *auth = NULL;
	int n;

	switch (kubeconfig_refresh_token(kc, err, sizeof(err))) {
	case 1:
		log_info("kube: %s changed: using the new token",
		    kc->token_file);
		break;
	case -1:
		log_warnx("kube: %s; using the last token read", err);
		break;
	}
	if (r->namespaced && pk->namespace != NULL)
		n = snprintf(url, sizeof(url), "%s%s/namespaces/%s/%s?%s",
		    kc->server, r->prefix, pk->namespace, r->resource, query);
	else
		n = snprintf(url, sizeof(url), "%s%s/%s?%s", kc->server,
		    r->prefix, r->resource, query);
	if (n < 0 || (size_t)n >= sizeof(url))
		return NULL;
	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	req->inf = inf;
	req->watch = watch;
	if ((req->easy = curl_easy_init()) == NULL)
		goto bad;
	if (kc->token != NULL) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s",
		    kc->token);
		if ((auth = strdup(hdr)) == NULL)
			goto bad;
		explicit_bzero(hdr, sizeof(hdr));
		req->hdrs = curl_slist_append(req->hdrs, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	req->hdrs = curl_slist_append(req->hdrs, "Accept: application/json");
	if (req->hdrs == NULL)
		goto bad;
	curl_easy_setopt(req->easy, CURLOPT_URL, url);
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->hdrs);
	curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "ingressd/"
	    PACKAGE_VERSION);
	curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, pk_write_cb);
	curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(req->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(req->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)PK_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(req->easy, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "https");
#else
	curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	if (kc->insecure) {
		curl_easy_setopt(req->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(req->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (kc->ca_data != NULL) {
		struct curl_blob b = { kc->ca_data, kc->ca_data_len,
		    CURL_BLOB_NOCOPY };
		curl_easy_setopt(req->easy, CURLOPT_CAINFO_BLOB, &b);
	} else if (kc->ca_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_CAINFO, kc->ca_file);
	if (kc->cert_data != NULL) {
		struct curl_blob b = { kc->cert_data, kc->cert_data_len,
		    CURL_BLOB_NOCOPY };
		curl_easy_setopt(req->easy, CURLOPT_SSLCERT_BLOB, &b);
	} else if (kc->cert_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_SSLCERT, kc->cert_file);
	if (kc->key_data != NULL) {
		struct curl_blob b = { kc->key_data, kc->key_data_len,
		    CURL_BLOB_NOCOPY };
		curl_easy_setopt(req->easy, CURLOPT_SSLKEY_BLOB, &b);
	} else if (kc->key_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_SSLKEY, kc->key_file);
	if (curl_multi_add_handle(pk->multi, req->easy) != CURLM_OK)
		goto bad;
	return req;
 bad:
	if (req->easy != NULL)
		curl_easy_cleanup(req->easy);
	req->easy = NULL;
	pk_req_free(req);
	return NULL;
}

static void
pk_list_start(struct pk_informer *inf)
{
	char q[PK_URL_MAX], *c = NULL, *fs = NULL;
	int n;

	if (inf->pk->stopped)
		return;
	if (inf->cont != NULL && (c = curl_easy_escape(NULL, inf->cont,
	    0)) == NULL)
		goto bad;
	if (inf->r->field_selector != NULL && (fs = curl_easy_escape(NULL,
	    inf->r->field_selector, 0)) == NULL)
		goto bad;
	n = snprintf(q, sizeof(q), "limit=%d%s%s%s%s", PK_PAGE_LIMIT,
	    c ? "&continue=" : "", c ? c : "", fs ? "&fieldSelector=" : "",
	    fs ? fs : "");
	curl_free(c);
	curl_free(fs);
	c = fs = NULL;
	if (n < 0 || (size_t)n >= sizeof(q)) {
		/* A continue token too long to send: start over. */
		pk_list_clear(inf);
		pk_backoff(inf, PK_BACKOFF_LIST, "continue token too long");
		return;
	}
	inf->state = PK_LISTING;
	if ((inf->req = pk_request(inf, q, 0, PK_LIST_TIMEOUT_MS)) == NULL)
		goto bad;
	return;
 bad:
	curl_free(c);
	curl_free(fs);
	pk_backoff(inf, PK_BACKOFF_LIST, "cannot start a list request");
}

static void
pk_watch_start(struct pk_informer *inf)
{
	char q[512], *fs = NULL;
	int secs, n;

	if (inf->pk->stopped)
		return;
	secs = PK_WATCH_MIN_S + (int)(random() %
	    (PK_WATCH_MAX_S - PK_WATCH_MIN_S + 1));
	if (inf->r->field_selector != NULL && (fs = curl_easy_escape(NULL,
	    inf->r->field_selector, 0)) == NULL)
		goto bad;
	n = snprintf(q, sizeof(q), "watch=1&allowWatchBookmarks=true&"
	    "resourceVersion=%s&timeoutSeconds=%d%s%s", inf->rv, secs,
	    fs ? "&fieldSelector=" : "", fs ? fs : "");
	curl_free(fs);
	if (n < 0 || (size_t)n >= sizeof(q))
		goto bad;
	inf->state = PK_WATCHING;
	inf->watch_started_ms = util_now_ms();
	if ((inf->req = pk_request(inf, q, 1, (long)secs * 1000 +
	    PK_WATCH_SLACK_MS)) == NULL)
		goto bad;
	return;
 bad:
	pk_backoff(inf, PK_BACKOFF_WATCH, "cannot start a watch request");
}

/* Why <req> failed, for logs: curl's reason or the HTTP status. */
static void
pk_failure(struct pk_req *req, CURLcode res, long code, const char *verb,
    char *buf, size_t len)
{
	char what[256], msg[300];

	pk_what(req->inf, verb, what, sizeof(what));
	pk_status_message(req, msg, sizeof(msg));
	if (res != CURLE_OK && !(req->watch && res == CURLE_WRITE_ERROR))
		snprintf(buf, len, "%s: %s", what, req->errbuf[0] != '\0' ?
		    req->errbuf : curl_easy_strerror(res));
	else if (code == 401)
		snprintf(buf, len, "%s: 401 Unauthorized: the API server "
		    "refused the token%s%s%s", what,
		    req->inf->pk->kc.token_file ? " from " : "",
		    req->inf->pk->kc.token_file ?
		    req->inf->pk->kc.token_file : "", msg);
	else if (code == 403)
		snprintf(buf, len, "%s: 403 Forbidden: RBAC does not allow "
		    "\"%s\" on %s%s%s (see deploy/kubernetes/rbac.yaml)%s",
		    what, verb, req->inf->r->resource,
		    req->inf->r->group[0] != '\0' ? "." : "",
		    req->inf->r->group, msg);
	else
		snprintf(buf, len, "%s: HTTP %ld%s", what, code, msg);
}

static void
pk_synced_check(struct provider_kube *pk)
{
	size_t i;
	uint64_t n = 0;

	if (pk->synced)
		return;
	for (i = 0; i < PK_NRES; i++) {
		if (pk->inf[i].state == PK_OFF)
			continue;
		if (!pk->inf[i].synced)
			return;
		n += store_count(pk->store, pk->inf[i].r->kind);
	}
	pk->synced = 1;
	pk->synced_ms = util_now_ms();
	log_info("kube: synced %llu objects from %s in %llu ms",
	    (unsigned long long)n, pk->kc.server,
	    (unsigned long long)(pk->synced_ms - pk->started_ms));
	ev_timer_stop(pk->loop, &pk->debounce);
	pk->cb(pk->arg, pk);
}

/* A list page arrived whole with 200: collect its items. */
static int
pk_list_page(struct pk_informer *inf, struct pk_req *req, char *why,
    size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *doc, *md, *items, *v, *it;
	struct obj *o;
	const char *rv = NULL;
	char *key;
	size_t i, n;
	void *p;

	if (req->len > INT32_MAX ||
	    (tok = json_tokener_new_ex(PK_MAX_DEPTH)) == NULL) {
		snprintf(why, whylen, "list %s: reply too large",
		    inf->r->resource);
		return -1;
	}
	doc = json_tokener_parse_ex(tok, req->body, (int)req->len);
	json_tokener_free(tok);
	if (doc == NULL || !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "metadata", &md) ||
	    !json_object_object_get_ex(doc, "items", &items) ||
	    !json_object_is_type(items, json_type_array) ||
	    !json_object_object_get_ex(md, "resourceVersion", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0 ||
	    json_object_get_string_len(v) >= (int)sizeof(inf->rv)) {
		snprintf(why, whylen, "list %s: not a list reply",
		    inf->r->resource);
		json_object_put(doc);
		return -1;
	}
	rv = json_object_get_string(v);
	n = json_object_array_length(items);
	if ((p = reallocarray(inf->objs, inf->nobjs + n + 1,
	    sizeof(*inf->objs))) == NULL)
		goto nomem;
	inf->objs = p;
	if ((p = reallocarray(inf->seen, inf->nseen + n + 1,
	    sizeof(*inf->seen))) == NULL)
		goto nomem;
	inf->seen = p;
	for (i = 0; i < n; i++) {
		it = json_object_array_get_idx(items, i);
		if (!json_object_is_type(it, json_type_object))
			continue;
		if ((key = pk_item_key(it)) != NULL)
			inf->seen[inf->nseen++] = key;
		if (pk_object(inf, it, &o) == 0)
			inf->objs[inf->nobjs++] = o;
	}
	free(inf->cont);
	inf->cont = NULL;
	if (json_object_object_get_ex(md, "continue", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) > 0 &&
	    (inf->cont = strdup(json_object_get_string(v))) == NULL)
		goto nomem;
	util_strlcpy(inf->rv, rv, sizeof(inf->rv));
	json_object_put(doc);
	return 0;
 nomem:
	snprintf(why, whylen, "list %s: out of memory", inf->r->resource);
	json_object_put(doc);
	return -1;
}

static void
pk_list_done(struct pk_informer *inf, struct pk_req *req, CURLcode res,
    long code)
{
	struct provider_kube *pk = inf->pk;
	struct pk_informer *ep;
	char why[768];
	size_t changed;

	if (res == CURLE_OK && code == 404 && inf->r->kind ==
	    OBJ_ENDPOINT_SLICE && !inf->synced) {
		log_info("kube: endpointslices.discovery.k8s.io/v1 not served "
		    "(404): watching v1 Endpoints instead");
		pk_list_clear(inf);
		inf->state = PK_OFF;
		ep = &pk->inf[PK_ENDPOINTS];
		if (ep->state == PK_OFF)
			pk_list_start(ep);
		return;
	}
	if (res == CURLE_OK && code == 410 && inf->cont != NULL) {
		/* The continue token expired: a fresh list. */
		log_info("kube: list %s: continue token expired (410): "
		    "listing again", inf->r->resource);
		pk_list_clear(inf);
		inf->nrelists++;
		pk_list_start(inf);
		return;
	}
	if (res != CURLE_OK || code != 200 || req->toobig) {
		pk_failure(req, res, code, "list", why, sizeof(why));
		if (req->toobig)
			snprintf(why, sizeof(why), "list %s: reply larger "
			    "than %u bytes", inf->r->resource, PK_MAX_BODY);
		pk_list_clear(inf);
		pk_backoff(inf, PK_BACKOFF_LIST, why);
		return;
	}
	if (pk_list_page(inf, req, why, sizeof(why)) == -1) {
		pk_list_clear(inf);
		pk_backoff(inf, PK_BACKOFF_LIST, why);
		return;
	}
	if (inf->cont != NULL) {
		pk_list_start(inf);
		return;
	}
	changed = pk_list_commit(inf);
	log_debug("kube: listed %s: %zu objects, %zu changes, "
	    "resourceVersion %s", inf->r->resource,
	    store_count(pk->store, inf->r->kind), changed, inf->rv);
	inf->failures = 0;
	inf->synced = 1;
	pk_watch_start(inf);
	if (changed > 0)
		pk_changed(pk);
	pk_synced_check(pk);
}

static void
pk_watch_done(struct pk_informer *inf, struct pk_req *req, CURLcode res,
    long code)
{
	char why[768];
	uint64_t lasted = util_now_ms() - inf->watch_started_ms;

	if (req->stop == PK_STOP_GONE || (res == CURLE_OK && code == 410)) {
		if (code == 410)
			log_info("kube: watch %s: resourceVersion %s expired "
			    "(410 Gone): relisting", inf->r->resource, inf->rv);
		inf->nrelists++;
		pk_list_clear(inf);
		pk_list_start(inf);
		return;
	}
	if (req->stop == PK_STOP_NONE && !req->toobig && code == 200 &&
	    (res == CURLE_OK || res == CURLE_OPERATION_TIMEDOUT ||
	    res == CURLE_PARTIAL_FILE) && (req->events > 0 || lasted >= 1000)) {
		/* A normal end (timeoutSeconds, server closed): again. */
		inf->failures = 0;
		pk_watch_start(inf);
		return;
	}
	if (req->stop == PK_STOP_ERROR)
		snprintf(why, sizeof(why), "watch %s: stream error",
		    inf->r->resource);
	else if (res == CURLE_OK && code == 200)
		snprintf(why, sizeof(why), "watch %s: closed at once",
		    inf->r->resource);
	else
		pk_failure(req, res, code, "watch", why, sizeof(why));
	pk_backoff(inf, PK_BACKOFF_WATCH, why);
}

static void
pk_check(struct provider_kube *pk)
{
	struct pk_informer *inf;
	struct pk_req *req;
	CURLMsg *msg;
	CURLcode res;
	long code;
	int left;
	char *priv;

	while ((msg = curl_multi_info_read(pk->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		res = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		req = (struct pk_req *)priv;
		code = 0;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
		inf = req->inf;
		inf->req = NULL;
		if (req->watch)
			pk_watch_done(inf, req, res, code);
		else
			pk_list_done(inf, req, res, code);
		pk_req_free(req);
	}
}

/* ------------------------------------------------------------- public */

struct provider_kube *
provider_kube_new(struct ev_loop *loop, const struct provider_kube_options *opt,
    provider_kube_cb cb, void *arg, char *err, size_t errlen)
{
	static int curl_ready;
	struct provider_kube *pk;
	size_t i;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "curl_global_init failed");
			return NULL;
		}
		curl_ready = 1;
	}
	if ((pk = calloc(1, sizeof(*pk))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (kubeconfig_load(opt->kubeconfig, &pk->kc, err, errlen) == -1) {
		free(pk);
		return NULL;
	}
	pk->loop = loop;
	pk->cb = cb;
	pk->arg = arg;
	pk->debounce_ms = opt->debounce_ms;
	pk->started_ms = util_now_ms();
	srandom((unsigned)(getpid() ^ time(NULL)));
	if ((opt->namespace != NULL && (pk->namespace =
	    strdup(opt->namespace)) == NULL) ||
	    (pk->store = store_new()) == NULL ||
	    (pk->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	curl_multi_setopt(pk->multi, CURLMOPT_SOCKETFUNCTION, pk_sock_cb);
	curl_multi_setopt(pk->multi, CURLMOPT_SOCKETDATA, pk);
	curl_multi_setopt(pk->multi, CURLMOPT_TIMERFUNCTION, pk_multi_timer_cb);
	curl_multi_setopt(pk->multi, CURLMOPT_TIMERDATA, pk);
	ev_timer_init(&pk->timer, pk_timer_cb, 0., 0.);
	ev_timer_init(&pk->debounce, pk_debounce_cb, 0., 0.);
	for (i = 0; i < PK_NRES; i++) {
		pk->inf[i].pk = pk;
		pk->inf[i].r = &pk_resources[i];
		ev_timer_init(&pk->inf[i].retry, pk_retry_cb, 0., 0.);
	}
	log_info("kube: API server %s, %s", pk->kc.server,
	    pk->namespace != NULL ? pk->namespace : "all namespaces");
	for (i = 0; i < PK_NRES; i++)
		if (!pk_resources[i].standby)
			pk_list_start(&pk->inf[i]);
	return pk;
 bad:
	provider_kube_free(pk);
	return NULL;
}

struct store *
provider_kube_store(struct provider_kube *pk)
{
	return pk->store;
}

int
provider_kube_synced(const struct provider_kube *pk)
{
	return pk != NULL && pk->synced;
}

struct json_object *
provider_kube_status(const struct provider_kube *pk)
{
	struct json_object *o, *a, *r;
	const struct pk_informer *inf;
	size_t i;

	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("kube"));
	json_object_object_add(o, "server",
	    json_object_new_string(pk->kc.server));
	json_object_object_add(o, "namespace", pk->namespace != NULL ?
	    json_object_new_string(pk->namespace) : NULL);
	json_object_object_add(o, "synced",
	    json_object_new_boolean(pk->synced));
	if (pk->synced)
		json_object_object_add(o, "sync_ms", json_object_new_int64(
		    (int64_t)(pk->synced_ms - pk->started_ms)));
	json_object_object_add(o, "last_error", pk->last_error[0] != '\0' ?
	    json_object_new_string(pk->last_error) : NULL);
	a = json_object_new_array();
	for (i = 0; i < PK_NRES; i++) {
		inf = &pk->inf[i];
		if (inf->state == PK_OFF)
			continue;
		r = json_object_new_object();
		json_object_object_add(r, "resource",
		    json_object_new_string(inf->r->resource));
		json_object_object_add(r, "state",
		    json_object_new_string(pk_state_names[inf->state]));
		json_object_object_add(r, "synced",
		    json_object_new_boolean(inf->synced));
		json_object_object_add(r, "resourceVersion",
		    json_object_new_string(inf->rv));
		json_object_object_add(r, "objects", json_object_new_int64(
		    (int64_t)store_count(pk->store, inf->r->kind)));
		json_object_object_add(r, "events",
		    json_object_new_int64((int64_t)inf->nevents));
		json_object_object_add(r, "errors",
		    json_object_new_int64((int64_t)inf->nerrors));
		json_object_object_add(r, "relists",
		    json_object_new_int64((int64_t)inf->nrelists));
		json_object_array_add(a, r);
	}
	json_object_object_add(o, "resources", a);
	return o;
}

void
provider_kube_stop(struct provider_kube *pk)
{
	size_t i;

	if (pk == NULL || pk->stopped)
		return;
	pk->stopped = 1;
	for (i = 0; i < PK_NRES; i++) {
		ev_timer_stop(pk->loop, &pk->inf[i].retry);
		pk_req_free(pk->inf[i].req);
		pk->inf[i].req = NULL;
		pk_list_clear(&pk->inf[i]);
	}
	ev_timer_stop(pk->loop, &pk->debounce);
	ev_timer_stop(pk->loop, &pk->timer);
}

void
provider_kube_free(struct provider_kube *pk)
{
	if (pk == NULL)
		return;
	if (pk->multi != NULL) {
		provider_kube_stop(pk);
		curl_multi_cleanup(pk->multi);
	}
	ev_timer_stop(pk->loop, &pk->timer);
	store_free(pk->store);
	kubeconfig_free(&pk->kc);
	free(pk->namespace);
	free(pk);
}
