/*
 * admin: what the admin listener (listen.admin) answers.  /healthz and
 * /readyz from the worker's own state; /metrics, /api/status,
 * /api/routes and /api/backends from the latest status document the
 * master published (IPC_STATUS_DOC); / and its two assets, the dashboard,
 * compiled into the binary.  GET and HEAD only (405 with Allow), 404 for
 * other paths.  Runs in workers, sandboxed: it only reads a sealed
 * mapping and static bytes.
 */
#ifndef INGRESSD_ADMIN_H
#define INGRESSD_ADMIN_H

#include <stddef.h>

struct ipc_msg;

/* An answer for the proxy to send: nothing here is owned by the caller. */
struct admin_response {
	int		 status;
	const char	*ctype;		/* Content-Type */
	const char	*headers;	/* extra header lines, "" or
					 * "Name: value\r\n"... */
	const char	*body;
	size_t		 len;
};

/* Answers <method> <path> (counted; a query is ignored) into <out>. */
void	admin_handle(const char *method, size_t mlen, const char *path,
	    size_t plen, struct admin_response *out);

/* IPC_STATUS_DOC: checks and maps the new document, drops the old. */
void	admin_answer_status_doc(const struct ipc_msg *m);

/* The dashboard's files, generated from worker/dashboard/ at build. */
struct admin_asset {
	const char		*path;
	const char		*ctype;
	const unsigned char	*data;
	size_t			 len;
};

extern const struct admin_asset admin_assets[];
extern const size_t admin_nassets;

#endif
