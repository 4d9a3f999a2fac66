/*
 * admin: the admin listener's endpoints (see admin.h).
 *
 * The status document is rendered by the master (master/stats.c); a
 * worker checks its seals and header (common/statusdoc.c) and serves its
 * sections as they are, so the sandboxed worker never builds JSON or
 * Prometheus text and all workers answer alike.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/statusdoc.h"
#include "common/util.h"
#include "worker/admin.h"
#include "worker/worker.h"

#ifndef F_SEAL_SEAL
#include <linux/fcntl.h>
#endif

#define ADMIN_JSON	"application/json"
#define ADMIN_TEXT	"text/plain; charset=utf-8"
#define ADMIN_PROM	"text/plain; version=0.0.4; charset=utf-8"

/* The dashboard's own files only; fetch() to the same origin. */
#define ADMIN_PAGE_HEADERS \
	"Cache-Control: no-store\r\n" \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; " \
	"style-src 'self'; connect-src 'self'; img-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n"
#define ADMIN_API_HEADERS \
	"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"

static struct {
	void		*map;
	size_t		 len;
	struct statusdoc doc;
	int		 have;
} ad;

static const struct {
	const char		*path;
	enum statusdoc_section	 sec;
	const char		*ctype;
} admin_docs[] = {
	{ "/metrics",		STATUSDOC_METRICS,	ADMIN_PROM },
	{ "/api/status",	STATUSDOC_STATUS,	ADMIN_JSON },
	{ "/api/routes",	STATUSDOC_ROUTES,	ADMIN_JSON },
	{ "/api/backends",	STATUSDOC_BACKENDS,	ADMIN_JSON },
};

static void
admin_text(struct admin_response *out, int status, const char *body)
{
	out->status = status;
	out->ctype = ADMIN_TEXT;
	out->headers = ADMIN_API_HEADERS;
	out->body = body;
	out->len = strlen(body);
}

static int
admin_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

void
admin_handle(const char *method, size_t mlen, const char *path,
    size_t plen, struct admin_response *out)
{
	const char *q;
	size_t i;

	if (plen > 0 && (q = memchr(path, '?', plen)) != NULL)
		plen = (size_t)(q - path);
	if (!admin_eq(method, mlen, "GET") && !admin_eq(method, mlen,
	    "HEAD")) {
		admin_text(out, 405, "method not allowed\n");
		out->headers = "Allow: GET, HEAD\r\n" ADMIN_API_HEADERS;
		return;
	}
	if (admin_eq(path, plen, "/healthz")) {
		admin_text(out, 200, "ok\n");
		return;
	}
	if (admin_eq(path, plen, "/readyz")) {
		/* The master publishes nothing before its provider's first
		 * full sync, so a snapshot means synced; draining is not
		 * ready. */
		if (worker_snapshot_current() != NULL && !worker_draining())
			admin_text(out, 200, "ready\n");
		else
			admin_text(out, 503, "not ready\n");
		return;
	}
	for (i = 0; i < UTIL_NELEM(admin_docs); i++) {
		if (!admin_eq(path, plen, admin_docs[i].path))
			continue;
		if (!ad.have) {
			admin_text(out, 503, "no status document yet\n");
			return;
		}
		out->status = 200;
		out->ctype = admin_docs[i].ctype;
		out->headers = ADMIN_API_HEADERS;
		out->body = ad.doc.sec[admin_docs[i].sec];
		out->len = ad.doc.len[admin_docs[i].sec];
		return;
	}
	for (i = 0; i < admin_nassets; i++) {
		if (!admin_eq(path, plen, admin_assets[i].path))
			continue;
		out->status = 200;
		out->ctype = admin_assets[i].ctype;
		out->headers = ADMIN_PAGE_HEADERS;
		out->body = (const char *)admin_assets[i].data;
		out->len = admin_assets[i].len;
		return;
	}
	admin_text(out, 404, "not found\n");
}

void
admin_answer_status_doc(const struct ipc_msg *m)
{
	struct ipc_reader r;
	struct statusdoc doc;
	struct stat st;
	uint64_t size;
	char err[128];
	void *map;
	int seals;

	ipc_reader_init(&r, m);
	size = ipc_get_u64(&r);
	if (ipc_end(&r) == -1 || fstat(m->fd, &st) == -1 ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ||
	    size == 0 || size > STATUSDOC_MAX_SIZE) {
		log_warnx("malformed STATUS_DOC, dropped");
		goto done;
	}
	seals = fcntl(m->fd, F_GET_SEALS);
	if (seals == -1 || (seals & (F_SEAL_WRITE | F_SEAL_SHRINK)) !=
	    (F_SEAL_WRITE | F_SEAL_SHRINK)) {
		log_warnx("STATUS_DOC memfd not sealed, dropped");
		goto done;
	}
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, m->fd, 0);
	if (map == MAP_FAILED) {
		log_warn("STATUS_DOC mmap");
		goto done;
	}
	if (statusdoc_parse(map, size, &doc, err, sizeof(err)) == -1) {
		log_warnx("STATUS_DOC: %s, dropped", err);
		munmap(map, size);
		goto done;
	}
	/* Answers copy what they send: the old mapping has no users. */
	if (ad.have)
		munmap(ad.map, ad.len);
	ad.map = map;
	ad.len = size;
	ad.doc = doc;
	ad.have = 1;
 done:
	close(m->fd);
}
