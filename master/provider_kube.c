/*
 * provider_kube: list+watch against the Kubernetes API server into a store.
 *
 * Runs in the master, on its libev loop.  It reads API objects (untrusted:
 * every body and event is bounded and validated by kube_stream.c and
 * objects.c) and never client traffic.  Requests go through
 * kube_client.c (libcurl multi on the libev loop), all at once; nothing
 * here blocks.
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
#include "master/kube_client.h"
#include "master/kube_status.h"
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
#define PK_LIST_TIMEOUT_MS	60000
#define PK_WATCH_SLACK_MS	30000	/* past timeoutSeconds */
#define PK_URL_MAX		2048
#define PK_MAX_WAIT_FACTOR	5	/* debounce: latest after the first */

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

struct pk_informer {
	struct provider_kube	*pk;
	const struct pk_resource *r;
	enum pk_state		 state;
	int			 synced;	/* first list done */
	char			 rv[64];
	char			*cont;		/* continue token */
	struct kube_req		*req;		/* NULL: none in flight */
	int			 watch;		/* <req> is a watch */
	struct kube_stream	 ks;		/* the watch's partial line */
	enum pk_stop		 stop;		/* why we cut the watch */
	uint64_t		 watch_events;
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
	struct kube_client	*kcl;
	const struct kubeconfig	*kc;		/* kcl's */
	struct kube_status	*status;	/* Lease, Ingress status */
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
	ev_tstamp		 first_change;	/* of the pending burst */
	char			 last_error[256];
};

static void	pk_list_start(struct pk_informer *);
static void	pk_watch_start(struct pk_informer *);

/* ------------------------------------------------------------ helpers */

/*
 * Debounce: the callback runs once the events have been quiet for
 * <debounce_ms>, and never later than PK_MAX_WAIT_FACTOR times that after
 * the first of them, so a steady stream of events cannot hold routes back
 * while a lone change goes out after one short quiet period.
 */
static void
pk_changed(struct provider_kube *pk)
{
	double now = ev_now(pk->loop), quiet = pk->debounce_ms / 1000.0;
	double at;

	if (!pk->synced || pk->stopped)
		return;
	if (!ev_is_active(&pk->debounce))
		pk->first_change = now;
	at = now + quiet;
	if (at > pk->first_change + quiet * PK_MAX_WAIT_FACTOR)
		at = pk->first_change + quiet * PK_MAX_WAIT_FACTOR;
	ev_timer_stop(pk->loop, &pk->debounce);
	ev_timer_set(&pk->debounce, at > now ? at - now : 0., 0.);
	ev_timer_start(pk->loop, &pk->debounce);
}

static void
pk_debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct provider_kube *pk = (struct provider_kube *)((char *)w -
	    offsetof(struct provider_kube, debounce));

	pk->cb(pk->arg, pk);
	kube_status_sync(pk->status);
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
pk_status_message(const char *body, size_t blen, char *buf, size_t len)
{
	struct json_object *doc, *m;
	struct json_tokener *tok;

	buf[0] = '\0';
	if (body == NULL || blen == 0 || blen > PK_MAX_ERROR_BODY ||
	    (tok = json_tokener_new_ex(PK_MAX_DEPTH)) == NULL)
		return;
	doc = json_tokener_parse_ex(tok, body, (int)blen);
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

static int
pk_event_cb(void *arg, const char *line, size_t len)
{
	struct pk_informer *inf = arg;
	struct provider_kube *pk = inf->pk;
	struct kube_event ev;
	struct obj *o = NULL;
	char err[256], *key, *slash;
	int changed = 0;

	if (kube_event_parse(line, len, &ev, err, sizeof(err)) == -1) {
		log_warnx("kube: watch %s: %s", inf->r->resource, err);
		inf->nerrors++;
		inf->stop = PK_STOP_ERROR;
		return 1;
	}
	inf->watch_events++;
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
		} else if ((key = pk_item_key(ev.object)) != NULL) {
			/* Gone, valid or not: by its key. */
			slash = strchr(key, '/');
			*slash = '\0';
			changed = store_delete(pk->store, inf->r->kind, key,
			    slash + 1);
			free(key);
		}
		break;
	case KUBE_EVENT_BOOKMARK:
		break;
	case KUBE_EVENT_ERROR:
		if (ev.code == 410) {
			log_info("kube: watch %s: resourceVersion %s expired "
			    "(410 Gone in the stream): relisting",
			    inf->r->resource, inf->rv);
			inf->stop = PK_STOP_GONE;
		} else {
			log_warnx("kube: watch %s: ERROR event %d%s%s",
			    inf->r->resource, ev.code, ev.message ? ": " : "",
			    ev.message ? ev.message : "");
			inf->stop = PK_STOP_ERROR;
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

/* A piece of a watch's 200 body: events, whatever the boundaries. */
static int
pk_watch_data(void *arg, const char *p, size_t n)
{
	struct pk_informer *inf = arg;
	int rc;

	rc = kube_stream_feed(&inf->ks, p, n, pk_event_cb, inf);
	if (rc == -1) {
		log_warnx("kube: watch %s: event larger than %u bytes",
		    inf->r->resource, KUBE_STREAM_MAX_EVENT);
		inf->stop = PK_STOP_ERROR;
	}
	return rc != 0;
}

static void	pk_list_done(void *, int, long, const char *, size_t,
		    const char *);
static void	pk_watch_done(void *, int, long, const char *, size_t,
		    const char *);

/* GET <query> on the informer's resource path; 0 or -1. */
static int
pk_request(struct pk_informer *inf, const char *query, int watch,
    long timeout_ms)
{
	struct provider_kube *pk = inf->pk;
	const struct pk_resource *r = inf->r;
	char path[PK_URL_MAX];
	int n;

	if (r->namespaced && pk->namespace != NULL)
		n = snprintf(path, sizeof(path), "%s/namespaces/%s/%s?%s",
		    r->prefix, pk->namespace, r->resource, query);
	else
		n = snprintf(path, sizeof(path), "%s/%s?%s", r->prefix,
		    r->resource, query);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	inf->watch = watch;
	inf->stop = PK_STOP_NONE;
	inf->watch_events = 0;
	kube_stream_reset(&inf->ks);
	inf->req = kube_client_request(pk->kcl, "GET", path, NULL, timeout_ms,
	    watch ? PK_MAX_ERROR_BODY : PK_MAX_BODY,
	    watch ? pk_watch_data : NULL, watch ? pk_watch_done : pk_list_done,
	    inf);
	return inf->req != NULL ? 0 : -1;
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
	if (pk_request(inf, q, 0, PK_LIST_TIMEOUT_MS) == -1)
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
	if (pk_request(inf, q, 1, (long)secs * 1000 +
	    PK_WATCH_SLACK_MS) == -1)
		goto bad;
	return;
 bad:
	pk_backoff(inf, PK_BACKOFF_WATCH, "cannot start a watch request");
}

/* Why a request failed, for logs: the transport's reason or the status. */
static void
pk_failure(struct pk_informer *inf, int res, long code, const char *body,
    size_t blen, const char *why, const char *verb, char *buf, size_t len)
{
	const struct kubeconfig *kc = inf->pk->kc;
	const char *tf = kc->token_file, *cf = kc->cert_file;
	int cert = kc->cert_file != NULL || kc->cert_data != NULL;
	char what[256], msg[300];

	pk_what(inf, verb, what, sizeof(what));
	pk_status_message(body, blen, msg, sizeof(msg));
	if (res == -1 && cert && strstr(why, "alert") != NULL &&
	    (strstr(why, "certificate") != NULL ||
	    strstr(why, "unknown ca") != NULL))
		/* The server's TLS alert about the certificate we sent. */
		snprintf(buf, len, "%s: %s (the API server refused the client "
		    "certificate%s%s)", what, why, cf ? " from " : "",
		    cf ? cf : "");
	else if (res == -1)
		snprintf(buf, len, "%s: %s", what, why);
	else if (code == 401 && kc->token == NULL && cert)
		/* Say which credential: there is no token to blame. */
		snprintf(buf, len, "%s: 401 Unauthorized: the API server "
		    "refused the client certificate%s%s%s", what,
		    cf ? " from " : "", cf ? cf : "", msg);
	else if (code == 401)
		snprintf(buf, len, "%s: 401 Unauthorized: the API server "
		    "refused the token%s%s%s", what, tf ? " from " : "",
		    tf ? tf : "", msg);
	else if (code == 403)
		snprintf(buf, len, "%s: 403 Forbidden: RBAC does not allow "
		    "\"%s\" on %s%s%s (see deploy/kubernetes/rbac.yaml)%s",
		    what, verb, inf->r->resource,
		    inf->r->group[0] != '\0' ? "." : "", inf->r->group, msg);
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
	    (unsigned long long)n, pk->kc->server,
	    (unsigned long long)(pk->synced_ms - pk->started_ms));
	ev_timer_stop(pk->loop, &pk->debounce);
	pk->cb(pk->arg, pk);
	kube_status_sync(pk->status);
}

/* A list page arrived whole with 200: collect its items. */
static int
pk_list_page(struct pk_informer *inf, const char *body, size_t blen,
    char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *doc, *md, *items, *v, *it;
	struct obj *o;
	const char *rv = NULL;
	char *key;
	size_t i, n;
	void *p;

	if (blen > INT32_MAX ||
	    (tok = json_tokener_new_ex(PK_MAX_DEPTH)) == NULL) {
		snprintf(why, whylen, "list %s: reply too large",
		    inf->r->resource);
		return -1;
	}
	doc = body != NULL ? json_tokener_parse_ex(tok, body, (int)blen) :
	    NULL;
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
pk_list_done(void *arg, int res, long code, const char *body, size_t blen,
    const char *twhy)
{
	struct pk_informer *inf = arg;
	struct provider_kube *pk = inf->pk;
	struct pk_informer *ep;
	char why[768];
	size_t changed;

	inf->req = NULL;
	if (res == 0 && code == 404 && inf->r->kind ==
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
	if (res == 0 && code == 410 && inf->cont != NULL) {
		/* The continue token expired: a fresh list. */
		log_info("kube: list %s: continue token expired (410): "
		    "listing again", inf->r->resource);
		pk_list_clear(inf);
		inf->nrelists++;
		pk_list_start(inf);
		return;
	}
	if (res != 0 || code != 200) {
		pk_failure(inf, res, code, body, blen, twhy, "list", why,
		    sizeof(why));
		pk_list_clear(inf);
		pk_backoff(inf, PK_BACKOFF_LIST, why);
		return;
	}
	if (pk_list_page(inf, body, blen, why, sizeof(why)) == -1) {
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
pk_watch_done(void *arg, int res, long code, const char *body, size_t blen,
    const char *twhy)
{
	struct pk_informer *inf = arg;
	char why[768];
	uint64_t lasted = util_now_ms() - inf->watch_started_ms;

	inf->req = NULL;
	kube_stream_reset(&inf->ks);
	if (inf->stop == PK_STOP_GONE || (res == 0 && code == 410)) {
		if (code == 410)
			log_info("kube: watch %s: resourceVersion %s expired "
			    "(410 Gone): relisting", inf->r->resource, inf->rv);
		inf->nrelists++;
		pk_list_clear(inf);
		pk_list_start(inf);
		return;
	}
	/* A normal end (timeoutSeconds, the server closed, our timeout):
	 * watch again from the last resourceVersion. */
	if (inf->stop == PK_STOP_NONE && code == 200 && (res == 0 ||
	    res == -1) && (inf->watch_events > 0 || lasted >= 1000)) {
		inf->failures = 0;
		pk_watch_start(inf);
		return;
	}
	if (inf->stop == PK_STOP_ERROR)
		snprintf(why, sizeof(why), "watch %s: stream error",
		    inf->r->resource);
	else if (res == 0 && code == 200)
		snprintf(why, sizeof(why), "watch %s: closed at once",
		    inf->r->resource);
	else
		pk_failure(inf, res, code, body, blen, twhy, "watch", why,
		    sizeof(why));
	pk_backoff(inf, PK_BACKOFF_WATCH, why);
}

/* ------------------------------------------------------------- public */

/*
 * The status writer: Lease "ingressd[-CLASS]" in the pod's namespace
 * ($POD_NAMESPACE, else the kubeconfig's or service account's, else
 * provider.namespace, else "default"), identity $POD_NAME or
 * hostname_pid.
 */
static int
pk_status_new(struct provider_kube *pk, const struct provider_kube_options *o)
{
	struct kube_status_options so;
	char name[300], id[300], host[256];
	const char *ns;

	if ((ns = getenv("POD_NAMESPACE")) == NULL || *ns == '\0')
		ns = pk->kc->namespace;
	if (ns == NULL)
		ns = o->namespace != NULL ? o->namespace : "default";
	snprintf(name, sizeof(name), "ingressd%s%s", o->ingress_class ? "-" :
	    "", o->ingress_class ? o->ingress_class : "");
	if (getenv("POD_NAME") != NULL && *getenv("POD_NAME") != '\0')
		snprintf(id, sizeof(id), "%s", getenv("POD_NAME"));
	else {
		if (gethostname(host, sizeof(host)) == -1)
			util_strlcpy(host, "ingressd", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		snprintf(id, sizeof(id), "%s_%ld", host, (long)getpid());
	}
	memset(&so, 0, sizeof(so));
	so.lease_namespace = ns;
	so.lease_name = name;
	so.identity = id;
	so.address = o->publish_address;
	if (so.address == NULL && getenv("NODE_IP") != NULL &&
	    *getenv("NODE_IP") != '\0')
		so.address = getenv("NODE_IP");
	so.ingress_class = o->ingress_class;
	pk->status = kube_status_new(pk->loop, pk->kcl, pk->store, &so);
	return pk->status != NULL ? 0 : -1;
}

struct provider_kube *
provider_kube_new(struct ev_loop *loop, const struct provider_kube_options *opt,
    provider_kube_cb cb, void *arg, char *err, size_t errlen)
{
	struct provider_kube *pk;
	struct kubeconfig kc;
	size_t i;

	if (kubeconfig_load(opt->kubeconfig, &kc, err, errlen) == -1)
		return NULL;
	if ((pk = calloc(1, sizeof(*pk))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		kubeconfig_free(&kc);
		return NULL;
	}
	pk->loop = loop;
	pk->cb = cb;
	pk->arg = arg;
	pk->debounce_ms = opt->debounce_ms;
	pk->started_ms = util_now_ms();
	srandom((unsigned)(getpid() ^ time(NULL)));
	ev_timer_init(&pk->debounce, pk_debounce_cb, 0., 0.);
	for (i = 0; i < PK_NRES; i++) {
		pk->inf[i].pk = pk;
		pk->inf[i].r = &pk_resources[i];
		ev_timer_init(&pk->inf[i].retry, pk_retry_cb, 0., 0.);
	}
	if ((pk->kcl = kube_client_new(loop, &kc, err, errlen)) == NULL) {
		kubeconfig_free(&kc);
		goto bad;
	}
	pk->kc = kube_client_config(pk->kcl);
	if ((opt->namespace != NULL && (pk->namespace =
	    strdup(opt->namespace)) == NULL) ||
	    (pk->store = store_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	if (pk_status_new(pk, opt) == -1) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	log_info("kube: API server %s, %s", pk->kc->server,
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
	    json_object_new_string(pk->kc->server));
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
	if (pk->status != NULL)
		json_object_object_add(o, "status",
		    kube_status_json(pk->status));
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
		kube_req_cancel(pk->inf[i].req);
		pk->inf[i].req = NULL;
		kube_stream_reset(&pk->inf[i].ks);
		pk_list_clear(&pk->inf[i]);
	}
	ev_timer_stop(pk->loop, &pk->debounce);
	kube_status_stop(pk->status);
}

int
provider_kube_busy(const struct provider_kube *pk)
{
	return pk != NULL && kube_status_busy(pk->status);
}

void
provider_kube_free(struct provider_kube *pk)
{
	if (pk == NULL)
		return;
	provider_kube_stop(pk);
	kube_client_free(pk->kcl);	/* before the status writer */
	kube_status_free(pk->status);
	store_free(pk->store);
	free(pk->namespace);
	free(pk);
}
