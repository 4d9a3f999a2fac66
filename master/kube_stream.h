/*
 * kube_stream: the body of a Kubernetes watch response -> events.
 *
 * The API server sends one JSON object per line ({"type": ..., "object":
 * ...}) over chunked transfer encoding; chunk boundaries fall anywhere,
 * and one chunk may carry many events.  kube_stream_feed() reassembles
 * lines whatever the boundaries, bounded by a maximum event size, and
 * kube_event_parse() decodes one line.  Runs in the master; the input
 * comes from the network and is untrusted.
 */
#ifndef INGRESSD_KUBE_STREAM_H
#define INGRESSD_KUBE_STREAM_H

#include <stddef.h>

struct json_object;

#define KUBE_STREAM_MAX_EVENT	(16u << 20)	/* bytes in one line */
#define KUBE_STREAM_MAX_DEPTH	64		/* JSON nesting */

struct kube_stream {
	char		*buf;		/* an incomplete line */
	size_t		 len;
	size_t		 cap;
	size_t		 max;		/* 0: KUBE_STREAM_MAX_EVENT */
};

/* Called per complete line (without its '\n'; never empty); nonzero stops. */
typedef int (*kube_stream_cb)(void *arg, const char *line, size_t len);

/*
 * Feeds <len> bytes.  Returns 0; 1 when <cb> asked to stop; -1 when a line
 * would exceed the maximum or memory ran out (the stream is then unusable:
 * reset it).
 */
int	kube_stream_feed(struct kube_stream *ks, const char *data, size_t len,
	    kube_stream_cb cb, void *arg);

/* Forgets any partial line and frees the buffer. */
void	kube_stream_reset(struct kube_stream *ks);

enum kube_event_type {
	KUBE_EVENT_ADDED = 0,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK,
	KUBE_EVENT_ERROR,
};

struct kube_event {
	enum kube_event_type	 type;
	struct json_object	*object;	/* owned: json_object_put() */
	const char		*resource_version;	/* in <object>; NULL */
	int			 code;		/* ERROR: Status.code; else 0 */
	const char		*message;	/* ERROR: Status.message; NULL */
};

/*
 * Decodes one event line.  Returns 0 with <ev> filled (the caller puts
 * ev->object), or -1 with a reason in <err> for anything that is not a
 * well-formed event (bad JSON, too deep, unknown type, object missing).
 */
int	kube_event_parse(const char *line, size_t len, struct kube_event *ev,
	    char *err, size_t errlen);

#endif
