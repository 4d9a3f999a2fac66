/*
 * proxy_buf: the proxy's pooled buffers, in workers.
 *
 * A connection takes a buffer when it has bytes to hold and gives it back
 * when it goes idle, so an idle keep-alive connection costs only its
 * struct.  Separate from the HTTP code because it knows nothing of HTTP:
 * it is the one place the data path allocates.  The tiny accessors are
 * inline here because every read and write goes through them.
 */
#ifndef INGRESSD_PROXY_BUF_H
#define INGRESSD_PROXY_BUF_H

#include <stddef.h>
#include <string.h>

#define PROXY_BUF_SIZE		16384	/* pooled buffer, per direction */

struct proxy_buf {
	struct proxy_buf	*next;		/* free list */
	size_t			 cap;
	size_t			 start;		/* data is [start, end) */
	size_t			 end;
	char			 data[];
};

/* A buffer of at least <size> bytes, empty; NULL when out of memory. */
struct proxy_buf	*proxy_buf_get(size_t);
/* Returns *<bp> to the free list (or to malloc) and clears it. */
void			 proxy_buf_put(struct proxy_buf **);
/* Moves the data of *<bp> into a buffer of <size> bytes.  0 or -1. */
int			 proxy_buf_grow(struct proxy_buf **, size_t);

/* Makes room at the tail when the data does not start at 0. */
static inline void
proxy_buf_compact(struct proxy_buf *b)
{
	if (b->start == b->end) {
		b->start = b->end = 0;
	} else if (b->start > 0 && (b->end == b->cap ||
	    b->start >= b->cap / 2)) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
}

#define BUF_LEN(b)	((b) == NULL ? 0 : (b)->end - (b)->start)
#define BUF_ROOM(b)	((b) == NULL ? PROXY_BUF_SIZE : \
			    (b)->cap - ((b)->end - (b)->start))

/* Appends <len> bytes; the caller sized the buffer. */
static inline void
proxy_buf_add(struct proxy_buf *b, const void *p, size_t len)
{
	if (len > b->cap - b->end)
		len = b->cap - b->end;	/* never: sized by the caller */
	memcpy(b->data + b->end, p, len);
	b->end += len;
}

#define BUF_ADDS(b, s)	proxy_buf_add((b), (s), sizeof(s) - 1)

#endif
