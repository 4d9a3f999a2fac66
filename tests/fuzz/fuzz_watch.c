/*
 * fuzz_watch: arbitrary bytes as a watch response body through
 * kube_stream_feed() and kube_event_parse().
 *
 * The first input byte picks a chunk size (1..256); the rest is fed once
 * whole and once in chunks of that size.  Invariants (abort on breach):
 * both feeds yield the same lines, no line is empty or holds a newline or
 * exceeds the (lowered) maximum, and every parsed event has an object and
 * a known type.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "master/kube_stream.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_EVENT	4096

struct fuzz_lines {
	char	*all;
	size_t	 len;
	size_t	 n;
};

static int
fuzz_line_cb(void *arg, const char *line, size_t len)
{
	struct fuzz_lines *l = arg;
	struct kube_event ev;
	char err[256], *p;

	if (len == 0 || len > FUZZ_MAX_EVENT || memchr(line, '\n', len))
		abort();
	if ((p = realloc(l->all, l->len + len + 1)) == NULL)
		abort();
	l->all = p;
	memcpy(l->all + l->len, line, len);
	l->len += len;
	l->all[l->len++] = '\n';
	l->n++;
	if (kube_event_parse(line, len, &ev, err, sizeof(err)) == 0) {
		if (ev.object == NULL || ev.type > KUBE_EVENT_ERROR)
			abort();
		json_object_put(ev.object);
	} else if (err[0] == '\0')
		abort();
	return 0;
}

static int
fuzz_feed(const uint8_t *data, size_t size, size_t chunk,
    struct fuzz_lines *l)
{
	struct kube_stream ks = { .max = FUZZ_MAX_EVENT };
	size_t off, n;
	int rc = 0;

	for (off = 0; off < size && rc == 0; off += n) {
		n = size - off < chunk ? size - off : chunk;
		rc = kube_stream_feed(&ks, (const char *)data + off, n,
		    fuzz_line_cb, l);
	}
	kube_stream_reset(&ks);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_lines a = { 0 }, b = { 0 };
	int ra, rb;

	if (size < 1)
		return 0;
	ra = fuzz_feed(data + 1, size - 1, size, &a);
	rb = fuzz_feed(data + 1, size - 1, (size_t)data[0] % 256 + 1, &b);
	/* An over-long line fails both ways; before it, the same lines. */
	if (ra != rb)
		abort();
	if (ra == 0 && (a.n != b.n || a.len != b.len ||
	    (a.len > 0 && memcmp(a.all, b.all, a.len) != 0)))
		abort();
	free(a.all);
	free(b.all);
	return 0;
}
