/*
 * kube_client: libcurl multi on libev, for API server requests (see
 * kube_client.h).  Runs in the master.  Replies are bounded by the
 * caller's maximum; nothing here interprets them.
 *
 * CURLMOPT_SOCKETFUNCTION maps curl's sockets to ev_io watchers,
 * CURLMOPT_TIMERFUNCTION to one ev_timer (milliseconds, as a double: no
 * rounding to whole seconds), and finished transfers are collected after
 * each curl_multi_socket_action(), as curl's evhiperfifo.c does.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>

#include "common/log.h"
#include "master/kube_client.h"
#include "master/kubeconfig.h"

#define KCL_CONNECT_TIMEOUT_MS	10000
#define KCL_URL_MAX		4096

struct kube_req {
	struct kube_client	*kcl;
	struct kube_req		*next, *prev;	/* kcl->reqs */
	CURL			*easy;
	struct curl_slist	*hdrs;
	char			*send;		/* request body */
	char			*body;
	size_t			 len, cap, max;
	int			 toobig;
	int			 cut;
	int			 done;		/* in its done callback */
	int			 cancelled;
	kube_req_data_cb	 data_cb;
	kube_req_done_cb	 done_cb;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
};

struct kube_client {
	struct ev_loop		*loop;
	CURLM			*multi;
	ev_timer		 timer;
	struct kubeconfig	 kc;
	struct kube_req		*reqs;
};

struct kcl_sock {
	struct kube_client	*kcl;
	curl_socket_t		 fd;
	ev_io			 io;
};

static void	kcl_check(struct kube_client *);

static void
kcl_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct kcl_sock *ks = (struct kcl_sock *)((char *)w -
	    offsetof(struct kcl_sock, io));
	struct kube_client *kcl = ks->kcl;
	int action = 0, running;

	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* <ks> may be freed inside: only <kcl> is used afterwards. */
	curl_multi_socket_action(kcl->multi, ks->fd, action, &running);
	kcl_check(kcl);
}

static void
kcl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kube_client *kcl = (struct kube_client *)((char *)w -
	    offsetof(struct kube_client, timer));
	int running;

	curl_multi_socket_action(kcl->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	kcl_check(kcl);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, else fire in <ms> ms. */
static int
kcl_multi_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct kube_client *kcl = userp;

	ev_timer_stop(kcl->loop, &kcl->timer);
	if (ms >= 0) {
		ev_timer_set(&kcl->timer, (double)ms / 1000.0, 0.);
		ev_timer_start(kcl->loop, &kcl->timer);
	}
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: one ev_io per socket curl watches. */
static int
kcl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct kube_client *kcl = userp;
	struct kcl_sock *ks = sockp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (ks != NULL) {
			ev_io_stop(kcl->loop, &ks->io);
			free(ks);
		}
		return 0;
	}
	if (ks == NULL) {
		if ((ks = calloc(1, sizeof(*ks))) == NULL)
			return -1;
		ks->kcl = kcl;
		ks->fd = s;
		curl_multi_assign(kcl->multi, s, ks);
	} else
		ev_io_stop(kcl->loop, &ks->io);
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	ev_io_init(&ks->io, kcl_io_cb, s, events);
	ev_io_start(kcl->loop, &ks->io);
	return 0;
}

static void
kcl_req_free(struct kube_req *req)
{
	struct kube_client *kcl = req->kcl;

	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		kcl->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	if (req->easy != NULL) {
		curl_multi_remove_handle(kcl->multi, req->easy);
		curl_easy_cleanup(req->easy);
	}
	curl_slist_free_all(req->hdrs);
	free(req->send);
	free(req->body);
	free(req);
}

static void
kcl_check(struct kube_client *kcl)
{
	struct kube_req *req;
	CURLMsg *msg;
	CURLcode cres;
	char *priv, why[CURL_ERROR_SIZE + 64];
	long code;
	int left, res;

	while ((msg = curl_multi_info_read(kcl->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		cres = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		req = (struct kube_req *)priv;
		code = 0;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
		why[0] = '\0';
		if (req->cut)
			res = KUBE_REQ_CUT;
		else if (req->toobig) {
			res = -1;
			snprintf(why, sizeof(why), "reply larger than %zu "
			    "bytes", req->max);
		} else if (cres != CURLE_OK) {
			res = -1;
			snprintf(why, sizeof(why), "%s", req->errbuf[0] !=
			    '\0' ? req->errbuf : curl_easy_strerror(cres));
		} else
			res = 0;
		req->done = 1;
		req->done_cb(req->arg, res, code, req->body, req->len, why);
		kcl_req_free(req);
	}
}

static size_t
kcl_buffer(struct kube_req *req, const char *p, size_t n)
{
	size_t cap;
	char *nb;

	if (n > req->max - req->len) {
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

static size_t
kcl_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct kube_req *req = arg;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
	if (req->data_cb == NULL || code != 200)
		return kcl_buffer(req, p, n);
	if (req->data_cb(req->arg, p, n) != 0) {
		req->cut = 1;
		return 0;
	}
	return n;
}

struct kube_req *
kube_client_request(struct kube_client *kcl, const char *method,
    const char *path, const char *body, long timeout_ms, size_t max_body,
    kube_req_data_cb data_cb, kube_req_done_cb done_cb, void *arg)
{
	struct kubeconfig *kc = &kcl->kc;
	struct kube_req *req;
	struct curl_blob b;
	char url[KCL_URL_MAX], err[512], *auth = NULL;
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
	n = snprintf(url, sizeof(url), "%s%s", kc->server, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		log_warnx("kube: %s %.64s...: URL too long", method, path);
		return NULL;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL)
		goto nomem;
	req->kcl = kcl;
	req->max = max_body;
	req->data_cb = data_cb;
	req->done_cb = done_cb;
	req->arg = arg;
	if ((req->next = kcl->reqs) != NULL)
		kcl->reqs->prev = req;
	kcl->reqs = req;
	if ((req->easy = curl_easy_init()) == NULL)
		goto nomem;
	if (kc->token != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s",
		    kc->token) == -1) {
			auth = NULL;
			goto nomem;
		}
		req->hdrs = curl_slist_append(req->hdrs, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (req->hdrs == NULL)
			goto nomem;
	}
	if ((req->hdrs = curl_slist_append(req->hdrs,
	    "Accept: application/json")) == NULL)
		goto nomem;
	if (body != NULL) {
		if ((req->hdrs = curl_slist_append(req->hdrs,
		    "Content-Type: application/json")) == NULL ||
		    (req->send = strdup(body)) == NULL)
			goto nomem;
		curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->send);
		curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(req->send));
	}
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(req->easy, CURLOPT_URL, url);
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->hdrs);
	curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "ingressd/"
	    PACKAGE_VERSION);
	curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, kcl_write_cb);
	curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(req->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(req->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)KCL_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* One connection per watch; HTTP/2 would multiplex them all. */
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
		b.data = kc->ca_data;
		b.len = kc->ca_data_len;
		b.flags = CURL_BLOB_COPY;
		curl_easy_setopt(req->easy, CURLOPT_CAINFO_BLOB, &b);
	} else if (kc->ca_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_CAINFO, kc->ca_file);
	if (kc->cert_data != NULL) {
		b.data = kc->cert_data;
		b.len = kc->cert_data_len;
		b.flags = CURL_BLOB_COPY;
		curl_easy_setopt(req->easy, CURLOPT_SSLCERT_BLOB, &b);
	} else if (kc->cert_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_SSLCERT, kc->cert_file);
	if (kc->key_data != NULL) {
		b.data = kc->key_data;
		b.len = kc->key_data_len;
		b.flags = CURL_BLOB_COPY;
		curl_easy_setopt(req->easy, CURLOPT_SSLKEY_BLOB, &b);
	} else if (kc->key_file != NULL)
		curl_easy_setopt(req->easy, CURLOPT_SSLKEY, kc->key_file);
	if (curl_multi_add_handle(kcl->multi, req->easy) != CURLM_OK) {
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
		goto nomem;
	}
	return req;
 nomem:
	log_warnx("kube: %s %s: cannot start the request", method, path);
	if (req != NULL)
		kcl_req_free(req);
	return NULL;
}

void
kube_req_cancel(struct kube_req *req)
{
	/* From its own done callback: freed when that returns. */
	if (req != NULL && !req->done)
		kcl_req_free(req);
}

const struct kubeconfig *
kube_client_config(const struct kube_client *kcl)
{
	return &kcl->kc;
}

struct kube_client *
kube_client_new(struct ev_loop *loop, struct kubeconfig *kc, char *err,
    size_t errlen)
{
	static int curl_ready;
	struct kube_client *kcl;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "curl_global_init failed");
			return NULL;
		}
		curl_ready = 1;
	}
	if ((kcl = calloc(1, sizeof(*kcl))) == NULL ||
	    (kcl->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(kcl);
		return NULL;
	}
	kcl->loop = loop;
	kcl->kc = *kc;
	memset(kc, 0, sizeof(*kc));
	curl_multi_setopt(kcl->multi, CURLMOPT_SOCKETFUNCTION, kcl_sock_cb);
	curl_multi_setopt(kcl->multi, CURLMOPT_SOCKETDATA, kcl);
	curl_multi_setopt(kcl->multi, CURLMOPT_TIMERFUNCTION,
	    kcl_multi_timer_cb);
	curl_multi_setopt(kcl->multi, CURLMOPT_TIMERDATA, kcl);
	ev_timer_init(&kcl->timer, kcl_timer_cb, 0., 0.);
	return kcl;
}

void
kube_client_free(struct kube_client *kcl)
{
	if (kcl == NULL)
		return;
	while (kcl->reqs != NULL)
		kcl_req_free(kcl->reqs);
	curl_multi_cleanup(kcl->multi);
	ev_timer_stop(kcl->loop, &kcl->timer);
	kubeconfig_free(&kcl->kc);
	free(kcl);
}
