/*
 * kube_client: HTTPS requests to the Kubernetes API server over libcurl's
 * multi interface, driven by the master's libev loop (curl's
 * docs/examples/evhiperfifo.c shape).  Shared by the provider (list and
 * watch) and the status writer (Lease, Ingress status).  Runs in the
 * master; it never blocks.  It authenticates with the kubeconfig it was
 * given and re-reads a token file when it changed, before every request.
 */
#ifndef INGRESSD_KUBE_CLIENT_H
#define INGRESSD_KUBE_CLIENT_H

#include <stddef.h>

struct ev_loop;
struct kube_client;
struct kube_req;
struct kubeconfig;

/*
 * Streaming body: called with each piece of a 200 reply's body; return 0
 * to go on, nonzero to cut the transfer (it then completes with
 * KUBE_REQ_CUT).
 */
typedef int (*kube_req_data_cb)(void *arg, const char *p, size_t n);

#define KUBE_REQ_CUT	-2	/* <res> of a transfer cut by its data cb */

/*
 * Completion: <res> is 0 when a full HTTP reply arrived (<code> is its
 * status), KUBE_REQ_CUT, or -1 when the transfer failed (<why> says how:
 * connect, TLS, timeout, too large).  <body> is the buffered reply (for
 * streaming requests, only a non-200 reply's), NUL-terminated, or NULL.
 * The request is freed after the callback returns.
 */
typedef void (*kube_req_done_cb)(void *arg, int res, long code,
    const char *body, size_t len, const char *why);

/*
 * Owns <kc> (moved in: the caller's struct is zeroed) on success.  NULL
 * with <err> on failure (<kc> untouched).
 */
struct kube_client *kube_client_new(struct ev_loop *loop,
	    struct kubeconfig *kc, char *err, size_t errlen);

/*
 * Starts <method> on <path> ("/api/v1/...?query", joined to the server
 * URL) with an optional JSON <body>.  Replies are buffered up to
 * <max_body> bytes unless <data_cb> streams them.  Returns the request,
 * or NULL (logged) when it cannot be started; <done_cb> is then not
 * called.
 */
struct kube_req *kube_client_request(struct kube_client *kcl,
	    const char *method, const char *path, const char *body,
	    long timeout_ms, size_t max_body, kube_req_data_cb data_cb,
	    kube_req_done_cb done_cb, void *arg);

/* Aborts <req> without calling its done callback; NULL-safe. */
void	kube_req_cancel(struct kube_req *req);

const struct kubeconfig *kube_client_config(const struct kube_client *kcl);

/* Cancels every request and frees <kcl>; NULL-safe. */
void	kube_client_free(struct kube_client *kcl);

#endif
