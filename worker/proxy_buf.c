/*
 * proxy_buf: the free list of the proxy's buffers, in workers.
 *
 * Buffers of PROXY_BUF_SIZE go back to a free list of at most
 * PROXY_FREE_MAX (4 MiB) instead of to malloc, so that a busy worker does
 * not allocate per request; larger ones (a long head) are freed.  Runs in
 * the libev loop; never blocks, never logs.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "worker/proxy_buf.h"

#define PROXY_FREE_MAX		256	/* pooled buffers kept (4 MiB) */

static struct proxy_buf		*proxy_free;
static size_t			 proxy_nfree;

/*
 * Buffers.
 */

/* A buffer of at least <size> bytes, empty; NULL when out of memory. */
struct proxy_buf *
proxy_buf_get(size_t size)
{
	struct proxy_buf *b;

	if (size <= PROXY_BUF_SIZE && proxy_free != NULL) {
		b = proxy_free;
		proxy_free = b->next;
		proxy_nfree--;
	} else {
		if (size < PROXY_BUF_SIZE)
			size = PROXY_BUF_SIZE;
		if ((b = malloc(sizeof(*b) + size)) == NULL)
			return NULL;
		b->cap = size;
	}
	b->next = NULL;
	b->start = b->end = 0;
	return b;
}

/* Returns *<bp> to the free list (or to malloc) and clears it. */
void
proxy_buf_put(struct proxy_buf **bp)
{
	struct proxy_buf *b = *bp;

	if (b == NULL)
		return;
	*bp = NULL;
	if (b->cap == PROXY_BUF_SIZE && proxy_nfree < PROXY_FREE_MAX) {
		b->next = proxy_free;
		proxy_free = b;
		proxy_nfree++;
		return;
	}
	free(b);
}

/* Moves the data of *<bp> into a buffer of <size> bytes.  0 or -1. */
int
proxy_buf_grow(struct proxy_buf **bp, size_t size)
{
	struct proxy_buf *o = *bp, *n;

	if ((n = proxy_buf_get(size)) == NULL)
		return -1;
	memcpy(n->data, o->data + o->start, o->end - o->start);
	n->end = o->end - o->start;
	proxy_buf_put(bp);
	*bp = n;
	return 0;
}
