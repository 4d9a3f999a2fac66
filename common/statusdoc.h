/*
 * statusdoc: the status document the master publishes to every worker
 * (IPC_STATUS_DOC, a sealed memfd) once a second.  Workers serve the
 * admin endpoints from it without understanding it: it holds the
 * rendered bodies.
 *
 * Layout, little-endian: "ISD1", u32 section count (STATUSDOC_NSECTIONS),
 * then per section u32 offset and u32 length (from the start of the
 * document), then the bytes.  Sections may not overlap the header or run
 * past the end.  Writer and reader live in statusdoc.c.
 */
#ifndef INGRESSD_STATUSDOC_H
#define INGRESSD_STATUSDOC_H

#include <stddef.h>
#include <stdint.h>

#define STATUSDOC_MAGIC		0x31445349u	/* "ISD1" */
#define STATUSDOC_MAX_SIZE	(256u << 20)

enum statusdoc_section {
	STATUSDOC_METRICS = 0,		/* Prometheus text */
	STATUSDOC_STATUS = 1,		/* JSON, /api/status */
	STATUSDOC_ROUTES = 2,		/* JSON, /api/routes */
	STATUSDOC_BACKENDS = 3,		/* JSON, /api/backends */
	STATUSDOC_NSECTIONS = 4,
};

struct statusdoc {
	const char	*sec[STATUSDOC_NSECTIONS];
	size_t		 len[STATUSDOC_NSECTIONS];
};

/* Builds a document from <d> into a new malloc'd buffer; 0 or -1. */
int	statusdoc_encode(const struct statusdoc *d, uint8_t **out,
	    size_t *len);

/*
 * Checks the <len> bytes at <p> and points <d> into them; 0, or -1 with
 * the reason in <err>.
 */
int	statusdoc_parse(const void *p, size_t len, struct statusdoc *d,
	    char *err, size_t errlen);

#endif
