/*
 * kube_status: leader election on a Lease and Ingress status writes (see
 * kube_status.h).
 *
 * Runs in the master, on the loop; every request goes through kube_client
 * and nothing waits.  The election follows client-go's leaderelection:
 * a holder's lease counts as expired when its record (holder, renewTime)
 * has not changed for leaseDurationSeconds by our own clock, so clock skew
 * between nodes does not matter; updates carry the resourceVersion read,
 * so of two candidates only one wins (the other gets 409 Conflict).  A
 * leader that could not renew within the renew deadline stops writing.
 *
 * Status writes read the Ingress first (GET) and PUT it back with only
 * the status changed, since a status update carries the whole object and
 * would otherwise drop labels and annotations.  At most KS_MAX_WRITES are
 * in flight; the rest follow on the next sync.
 */
#include "config.h"

#include <sys/types.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <json-c/json.h>

#include "common/log.h"
#include "common/util.h"
#include "master/compile.h"
#include "master/kube_client.h"
#include "master/kube_status.h"
#include "master/objects.h"
#include "master/store.h"

#define KS_LEASE_MS		15000
#define KS_RENEW_MS		10000
#define KS_RETRY_MS		2000
#define KS_TIMEOUT_MS		10000
#define KS_MAX_BODY		(4u << 20)
#define KS_MAX_WRITES		8
#define KS_PATH_MAX		1024

struct ks_write {
	struct kube_status	*ks;
	struct kube_req		*req;
	char			*ns, *name;
	int			 clear;		/* write [] instead of us */
};

struct kube_status {
	struct ev_loop		*loop;
	struct kube_client	*kcl;
	const struct store	*st;
	char			*lease_ns, *lease_name, *identity;
	char			*address, *ingress_class;
	uint32_t		 lease_ms, renew_ms, retry_ms;
	ev_timer		 tick;
	struct kube_req		*lease_req;
	int			 stopped;

	int			 leader;
	uint64_t		 renewed_ms;	/* our last successful renew */
	char			 holder[256];	/* as last read */
	char			 observed[320];	/* holder + renewTime */
	uint64_t		 observed_ms;	/* when it last changed */
	uint64_t		 transitions;
	uint64_t		 writes, write_errors;

	struct ks_write		 w[KS_MAX_WRITES];
};

static void	ks_lease_get(struct kube_status *);

static void
ks_microtime(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06dZ", (int)(ts.tv_nsec / 1000));
}

static const char *
ks_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *
ks_parse(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *doc;

	if (body == NULL || len == 0 || len > KS_MAX_BODY ||
	    (tok = json_tokener_new_ex(64)) == NULL)
		return NULL;
	doc = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (doc != NULL && !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		doc = NULL;
	}
	return doc;
}

static void
ks_lead(struct kube_status *ks, int leader, const char *why)
{
	if (leader == ks->leader)
		return;
	ks->leader = leader;
	if (leader) {
		log_info("kube: leader (Lease %s/%s, identity %s): writing "
		    "Ingress status", ks->lease_ns, ks->lease_name,
		    ks->identity);
		kube_status_sync(ks);
	} else
		log_info("kube: no longer leader (Lease %s/%s): %s",
		    ks->lease_ns, ks->lease_name, why);
}

/* --------------------------------------------------------------- lease */

static void
ks_lease_done(void *arg, int res, long code, const char *body, size_t len,
    const char *why)
{
	struct kube_status *ks = arg;

	ks->lease_req = NULL;
	if (ks->stopped)
		return;
	if (res == 0 && (code == 200 || code == 201)) {
		ks->renewed_ms = util_now_ms();
		util_strlcpy(ks->holder, ks->identity, sizeof(ks->holder));
		ks_lead(ks, 1, NULL);
		return;
	}
	if (res == 0 && code == 409)
		log_debug("kube: Lease %s/%s: lost the race (409)",
		    ks->lease_ns, ks->lease_name);
	else if (res != 0)
		log_warnx("kube: write Lease %s/%s: %s", ks->lease_ns,
		    ks->lease_name, why);
	else
		log_warnx("kube: write Lease %s/%s: HTTP %ld%s", ks->lease_ns,
		    ks->lease_name, code, code == 403 ? " (RBAC must allow "
		    "create and update on leases.coordination.k8s.io in this "
		    "namespace)" : "");
}

/* PUT (or POST when <create>) the lease with us as holder. */
static void
ks_lease_write(struct kube_status *ks, struct json_object *lease, int create,
    int takeover)
{
	struct json_object *md, *spec;
	char now[64], path[KS_PATH_MAX];
	const char *body;

	ks_microtime(now, sizeof(now));
	if (!json_object_object_get_ex(lease, "metadata", &md) ||
	    !json_object_is_type(md, json_type_object)) {
		md = json_object_new_object();
		json_object_object_add(lease, "metadata", md);
	}
	json_object_object_add(md, "name",
	    json_object_new_string(ks->lease_name));
	json_object_object_add(md, "namespace",
	    json_object_new_string(ks->lease_ns));
	json_object_object_del(md, "managedFields");
	json_object_object_add(lease, "apiVersion",
	    json_object_new_string("coordination.k8s.io/v1"));
	json_object_object_add(lease, "kind", json_object_new_string("Lease"));
	if (!json_object_object_get_ex(lease, "spec", &spec) ||
	    !json_object_is_type(spec, json_type_object)) {
		spec = json_object_new_object();
		json_object_object_add(lease, "spec", spec);
	}
	json_object_object_add(spec, "holderIdentity",
	    json_object_new_string(ks->identity));
	json_object_object_add(spec, "leaseDurationSeconds",
	    json_object_new_int((int)((ks->lease_ms + 999) / 1000)));
	json_object_object_add(spec, "renewTime", json_object_new_string(now));
	if (create || takeover) {
		json_object_object_add(spec, "acquireTime",
		    json_object_new_string(now));
		json_object_object_add(spec, "leaseTransitions",
		    json_object_new_int64((int64_t)ks->transitions +
		    (create ? 0 : 1)));
	}
	body = json_object_to_json_string_ext(lease, JSON_C_TO_STRING_PLAIN);
	if (create)
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/"
		    "namespaces/%s/leases", ks->lease_ns);
	else
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/"
		    "namespaces/%s/leases/%s", ks->lease_ns, ks->lease_name);
	ks->lease_req = kube_client_request(ks->kcl, create ? "POST" : "PUT",
	    path, body, KS_TIMEOUT_MS, KS_MAX_BODY, NULL, ks_lease_done, ks);
}

static void
ks_lease_got(void *arg, int res, long code, const char *body, size_t len,
    const char *why)
{
	struct kube_status *ks = arg;
	struct json_object *doc, *spec, *v;
	const char *holder, *renew;
	char rec[320];
	uint64_t now = util_now_ms(), dur;

	ks->lease_req = NULL;
	if (ks->stopped)
		return;
	if (res == 0 && code == 404) {
		doc = json_object_new_object();
		ks->transitions = 0;
		ks_lease_write(ks, doc, 1, 0);
		json_object_put(doc);
		return;
	}
	if (res != 0 || code != 200 || (doc = ks_parse(body, len)) == NULL) {
		if (res != 0)
			log_warnx("kube: get Lease %s/%s: %s", ks->lease_ns,
			    ks->lease_name, why);
		else
			log_warnx("kube: get Lease %s/%s: HTTP %ld%s",
			    ks->lease_ns, ks->lease_name, code, code == 403 ?
			    " (RBAC must allow get, create, update on "
			    "leases.coordination.k8s.io in this namespace)" :
			    "");
		return;
	}
	json_object_object_get_ex(doc, "spec", &spec);
	holder = ks_jstr(spec, "holderIdentity");
	renew = ks_jstr(spec, "renewTime");
	dur = ks->lease_ms;
	if (spec != NULL && json_object_object_get_ex(spec,
	    "leaseDurationSeconds", &v) && json_object_is_type(v,
	    json_type_int) && json_object_get_int(v) > 0)
		dur = (uint64_t)json_object_get_int(v) * 1000;
	ks->transitions = 0;
	if (spec != NULL && json_object_object_get_ex(spec,
	    "leaseTransitions", &v) && json_object_is_type(v, json_type_int))
		ks->transitions = (uint64_t)json_object_get_int64(v);
	snprintf(rec, sizeof(rec), "%s|%s", holder ? holder : "",
	    renew ? renew : "");
	if (strcmp(rec, ks->observed) != 0) {
		util_strlcpy(ks->observed, rec, sizeof(ks->observed));
		ks->observed_ms = now;
	}
	util_strlcpy(ks->holder, holder ? holder : "", sizeof(ks->holder));
	if (holder != NULL && strcmp(holder, ks->identity) == 0)
		ks_lease_write(ks, doc, 0, 0);		/* renew */
	else if (holder == NULL || *holder == '\0' ||
	    now >= ks->observed_ms + dur) {
		if (holder != NULL && *holder != '\0')
			log_info("kube: Lease %s/%s of %s expired: taking "
			    "over", ks->lease_ns, ks->lease_name, holder);
		ks_lease_write(ks, doc, 0, 1);
	} else
		ks_lead(ks, 0, "held by another replica");
	json_object_put(doc);
}

static void
ks_lease_get(struct kube_status *ks)
{
	char path[KS_PATH_MAX];

	if (ks->lease_req != NULL)
		return;
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/"
	    "namespaces/%s/leases/%s", ks->lease_ns, ks->lease_name);
	ks->lease_req = kube_client_request(ks->kcl, "GET", path, NULL,
	    KS_TIMEOUT_MS, KS_MAX_BODY, NULL, ks_lease_got, ks);
}

static void
ks_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kube_status *ks = (struct kube_status *)((char *)w -
	    offsetof(struct kube_status, tick));

	if (ks->leader && util_now_ms() - ks->renewed_ms > ks->renew_ms)
		ks_lead(ks, 0, "could not renew within the renew deadline");
	ks_lease_get(ks);
	if (ks->leader)
		kube_status_sync(ks);
}

/* -------------------------------------------------------------- status */

static void
ks_write_end(struct ks_write *w)
{
	free(w->ns);
	free(w->name);
	w->ns = w->name = NULL;
	w->req = NULL;
}

static void
ks_write_put_done(void *arg, int res, long code, const char *body,
    size_t len, const char *why)
{
	struct ks_write *w = arg;
	struct kube_status *ks = w->ks;

	if (res == 0 && code == 200) {
		ks->writes++;
		log_info("kube: Ingress %s/%s: status %s", w->ns, w->name,
		    w->clear ? "cleared (not of our class)" : ks->address);
	} else {
		ks->write_errors++;
		if (res != 0)
			log_warnx("kube: update ingresses/status %s/%s: %s",
			    w->ns, w->name, why);
		else
			log_warnx("kube: update ingresses/status %s/%s: HTTP "
			    "%ld%s", w->ns, w->name, code, code == 403 ?
			    " (RBAC must allow update on ingresses/status)" :
			    code == 409 ? " (changed meanwhile; again on the "
			    "next sync)" : "");
	}
	ks_write_end(w);
}

static void
ks_write_got(void *arg, int res, long code, const char *body, size_t len,
    const char *why)
{
	struct ks_write *w = arg;
	struct kube_status *ks = w->ks;
	struct json_object *doc, *st, *lb, *a, *e;
	struct in6_addr a6;
	char path[KS_PATH_MAX];

	w->req = NULL;
	if (ks->stopped || !ks->leader) {
		ks_write_end(w);
		return;
	}
	if (res != 0 || code != 200 || (doc = ks_parse(body, len)) == NULL) {
		ks->write_errors++;
		if (res != 0)
			log_warnx("kube: get ingress %s/%s: %s", w->ns,
			    w->name, why);
		else if (code != 404)
			log_warnx("kube: get ingress %s/%s: HTTP %ld%s", w->ns,
			    w->name, code, code == 403 ? " (RBAC must allow "
			    "get on ingresses)" : "");
		ks_write_end(w);
		return;
	}
	a = json_object_new_array();
	if (!w->clear) {
		e = json_object_new_object();
		json_object_object_add(e, inet_pton(AF_INET, ks->address,
		    &a6) == 1 || inet_pton(AF_INET6, ks->address, &a6) == 1 ?
		    "ip" : "hostname", json_object_new_string(ks->address));
		json_object_array_add(a, e);
	}
	lb = json_object_new_object();
	json_object_object_add(lb, "ingress", a);
	if (!json_object_object_get_ex(doc, "status", &st) ||
	    !json_object_is_type(st, json_type_object)) {
		st = json_object_new_object();
		json_object_object_add(doc, "status", st);
	}
	json_object_object_add(st, "loadBalancer", lb);
	snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/namespaces/"
	    "%s/ingresses/%s/status", w->ns, w->name);
	w->req = kube_client_request(ks->kcl, "PUT", path,
	    json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN),
	    KS_TIMEOUT_MS, KS_MAX_BODY, NULL, ks_write_put_done, w);
	json_object_put(doc);
	if (w->req == NULL)
		ks_write_end(w);
}

static int
ks_busy(const struct kube_status *ks, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < KS_MAX_WRITES; i++)
		if (ks->w[i].ns != NULL && strcmp(ks->w[i].ns, ns) == 0 &&
		    strcmp(ks->w[i].name, name) == 0)
			return 1;
	return 0;
}

void
kube_status_sync(struct kube_status *ks)
{
	const struct obj *o;
	const char *have;
	char path[KS_PATH_MAX];
	struct ks_write *w;
	size_t i, n, slot = 0;
	int ours;

	if (ks == NULL || ks->stopped || !ks->leader || ks->address == NULL)
		return;
	n = store_count(ks->st, OBJ_INGRESS);
	for (i = 0; i < n; i++) {
		if ((o = store_at(ks->st, OBJ_INGRESS, i)) == NULL)
			return;
		ours = compile_ingress_ours(ks->st, ks->ingress_class, o);
		have = o->u.ingress.status_lb;
		/* Ours: exactly our address.  Not ours: clear only ours. */
		if (ours ? (have != NULL && strcmp(have, ks->address) == 0) :
		    (have == NULL || strcmp(have, ks->address) != 0))
			continue;
		if (ks_busy(ks, o->meta.namespace, o->meta.name))
			continue;
		while (slot < KS_MAX_WRITES && ks->w[slot].ns != NULL)
			slot++;
		if (slot == KS_MAX_WRITES)
			return;		/* the rest on the next sync */
		w = &ks->w[slot];
		w->ks = ks;
		w->clear = !ours;
		if ((w->ns = strdup(o->meta.namespace)) == NULL ||
		    (w->name = strdup(o->meta.name)) == NULL) {
			ks_write_end(w);
			return;
		}
		snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/"
		    "namespaces/%s/ingresses/%s", w->ns, w->name);
		w->req = kube_client_request(ks->kcl, "GET", path, NULL,
		    KS_TIMEOUT_MS, KS_MAX_BODY, NULL, ks_write_got, w);
		if (w->req == NULL) {
			ks_write_end(w);
			return;
		}
	}
}

/* -------------------------------------------------------------- public */

struct kube_status *
kube_status_new(struct ev_loop *loop, struct kube_client *kcl,
    const struct store *st, const struct kube_status_options *opt)
{
	struct kube_status *ks;
	const char *t;
	unsigned a, b, c;

	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return NULL;
	ks->loop = loop;
	ks->kcl = kcl;
	ks->st = st;
	ks->lease_ms = KS_LEASE_MS;
	ks->renew_ms = KS_RENEW_MS;
	ks->retry_ms = KS_RETRY_MS;
	if ((t = getenv(KUBE_STATUS_TIMING_ENV)) != NULL &&
	    sscanf(t, "%u,%u,%u", &a, &b, &c) == 3 && a >= 100 && b >= 50 &&
	    c >= 10 && c < b && b < a) {
		ks->lease_ms = a;
		ks->renew_ms = b;
		ks->retry_ms = c;
	}
	if ((ks->lease_ns = strdup(opt->lease_namespace)) == NULL ||
	    (ks->lease_name = strdup(opt->lease_name)) == NULL ||
	    (ks->identity = strdup(opt->identity)) == NULL ||
	    (opt->address != NULL && (ks->address =
	    strdup(opt->address)) == NULL) ||
	    (opt->ingress_class != NULL && (ks->ingress_class =
	    strdup(opt->ingress_class)) == NULL)) {
		kube_status_free(ks);
		return NULL;
	}
	if (ks->address == NULL)
		log_warnx("kube: no publish.address and no NODE_IP: Ingress "
		    "status is not written");
	ev_timer_init(&ks->tick, ks_tick_cb, 0., (double)ks->retry_ms / 1000.);
	ev_timer_start(loop, &ks->tick);
	return ks;
}

int
kube_status_leader(const struct kube_status *ks)
{
	return ks != NULL && ks->leader;
}

struct json_object *
kube_status_json(const struct kube_status *ks)
{
	struct json_object *o = json_object_new_object();
	char lease[512];

	snprintf(lease, sizeof(lease), "%s/%s", ks->lease_ns, ks->lease_name);
	json_object_object_add(o, "lease", json_object_new_string(lease));
	json_object_object_add(o, "identity",
	    json_object_new_string(ks->identity));
	json_object_object_add(o, "leader", json_object_new_boolean(ks->leader));
	json_object_object_add(o, "holder", json_object_new_string(ks->holder));
	json_object_object_add(o, "address", ks->address != NULL ?
	    json_object_new_string(ks->address) : NULL);
	json_object_object_add(o, "writes",
	    json_object_new_int64((int64_t)ks->writes));
	json_object_object_add(o, "write_errors",
	    json_object_new_int64((int64_t)ks->write_errors));
	return o;
}

/* Release: holderIdentity "" so a successor need not wait for expiry. */
static void
ks_release_done(void *arg, int res, long code, const char *body, size_t len,
    const char *why)
{
	struct kube_status *ks = arg;

	ks->lease_req = NULL;
	if (res == 0 && code == 200)
		log_info("kube: released Lease %s/%s", ks->lease_ns,
		    ks->lease_name);
}

static void
ks_release_got(void *arg, int res, long code, const char *body, size_t len,
    const char *why)
{
	struct kube_status *ks = arg;
	struct json_object *doc, *spec;
	char path[KS_PATH_MAX];
	const char *holder;

	ks->lease_req = NULL;
	if (res != 0 || code != 200 || (doc = ks_parse(body, len)) == NULL)
		return;
	json_object_object_get_ex(doc, "spec", &spec);
	holder = ks_jstr(spec, "holderIdentity");
	if (spec != NULL && holder != NULL &&
	    strcmp(holder, ks->identity) == 0) {
		json_object_object_add(spec, "holderIdentity",
		    json_object_new_string(""));
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/"
		    "namespaces/%s/leases/%s", ks->lease_ns, ks->lease_name);
		ks->lease_req = kube_client_request(ks->kcl, "PUT", path,
		    json_object_to_json_string_ext(doc,
		    JSON_C_TO_STRING_PLAIN), KS_TIMEOUT_MS, KS_MAX_BODY, NULL,
		    ks_release_done, ks);
	}
	json_object_put(doc);
}

void
kube_status_stop(struct kube_status *ks)
{
	char path[KS_PATH_MAX];
	size_t i;

	if (ks == NULL || ks->stopped)
		return;
	ks->stopped = 1;
	ev_timer_stop(ks->loop, &ks->tick);
	for (i = 0; i < KS_MAX_WRITES; i++)
		if (ks->w[i].ns != NULL) {
			kube_req_cancel(ks->w[i].req);
			ks_write_end(&ks->w[i]);
		}
	kube_req_cancel(ks->lease_req);
	ks->lease_req = NULL;
	if (!ks->leader)
		return;
	ks->leader = 0;
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/"
	    "namespaces/%s/leases/%s", ks->lease_ns, ks->lease_name);
	ks->lease_req = kube_client_request(ks->kcl, "GET", path, NULL,
	    KS_TIMEOUT_MS, KS_MAX_BODY, NULL, ks_release_got, ks);
}

/* 1 while the lease release is in flight. */
int
kube_status_busy(const struct kube_status *ks)
{
	return ks != NULL && ks->lease_req != NULL;
}

void
kube_status_free(struct kube_status *ks)
{
	if (ks == NULL)
		return;
	/* Requests belong to the client, freed (cancelled) before us. */
	ev_timer_stop(ks->loop, &ks->tick);
	free(ks->lease_ns);
	free(ks->lease_name);
	free(ks->identity);
	free(ks->address);
	free(ks->ingress_class);
	free(ks);
}
