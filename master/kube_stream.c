/*
 * kube_stream: watch-stream line splitting and event decoding (see
 * kube_stream.h).  Runs in the master over bytes from the API server:
 * every size is bounded, nothing is trusted to be well formed.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "master/kube_stream.h"

void
kube_stream_reset(struct kube_stream *ks)
{
	free(ks->buf);
	ks->buf = NULL;
	ks->len = ks->cap = 0;
}

static int
ks_append(struct kube_stream *ks, const char *p, size_t n)
{
	size_t max = ks->max != 0 ? ks->max : KUBE_STREAM_MAX_EVENT;
	size_t cap;
	char *nb;

	if (n > max - ks->len)
		return -1;
	if (ks->len + n > ks->cap) {
		cap = ks->cap != 0 ? ks->cap : 4096;
		while (cap < ks->len + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		if ((nb = realloc(ks->buf, cap)) == NULL)
			return -1;
		ks->buf = nb;
		ks->cap = cap;
	}
	memcpy(ks->buf + ks->len, p, n);
	ks->len += n;
	return 0;
}

int
kube_stream_feed(struct kube_stream *ks, const char *data, size_t len,
    kube_stream_cb cb, void *arg)
{
	const char *nl, *end = data + len;
	size_t n;
	int rc;

	while (data < end) {
		nl = memchr(data, '\n', end - data);
		n = (nl != NULL ? nl : end) - data;
		if (nl == NULL)
			return ks_append(ks, data, n);
		if (ks->len == 0) {
			/* The whole line is in this chunk: no copy. */
			if (n > (ks->max != 0 ? ks->max :
			    KUBE_STREAM_MAX_EVENT))
				return -1;
			rc = n > 0 ? cb(arg, data, n) : 0;
		} else {
			if (ks_append(ks, data, n) == -1)
				return -1;
			n = ks->len;
			ks->len = 0;	/* the buffer stays valid during <cb> */
			rc = cb(arg, ks->buf, n);
		}
		if (rc != 0)
			return 1;
		data = nl + 1;
	}
	return 0;
}

static const struct {
	const char		*name;
	enum kube_event_type	 type;
} ke_types[] = {
	{ "ADDED",	KUBE_EVENT_ADDED },
	{ "MODIFIED",	KUBE_EVENT_MODIFIED },
	{ "DELETED",	KUBE_EVENT_DELETED },
	{ "BOOKMARK",	KUBE_EVENT_BOOKMARK },
	{ "ERROR",	KUBE_EVENT_ERROR },
};

int
kube_event_parse(const char *line, size_t len, struct kube_event *ev,
    char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *doc = NULL, *t, *o, *md, *v;
	enum json_tokener_error jerr;
	const char *ts;
	size_t i;

	memset(ev, 0, sizeof(*ev));
	if (len > KUBE_STREAM_MAX_EVENT || len > INT32_MAX) {
		snprintf(err, errlen, "event larger than %u bytes",
		    KUBE_STREAM_MAX_EVENT);
		return -1;
	}
	if ((tok = json_tokener_new_ex(KUBE_STREAM_MAX_DEPTH)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	doc = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (doc == NULL || jerr != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		snprintf(err, errlen, "event: bad JSON (%s)",
		    doc == NULL || jerr != json_tokener_success ?
		    json_tokener_error_desc(jerr) : "trailing bytes");
		json_tokener_free(tok);
		json_object_put(doc);
		return -1;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "type", &t) ||
	    !json_object_is_type(t, json_type_string)) {
		snprintf(err, errlen, "event: no \"type\" string");
		goto bad;
	}
	ts = json_object_get_string(t);
	for (i = 0; i < sizeof(ke_types) / sizeof(ke_types[0]); i++)
		if (strcmp(ts, ke_types[i].name) == 0)
			break;
	if (i == sizeof(ke_types) / sizeof(ke_types[0])) {
		snprintf(err, errlen, "event: unknown type \"%.32s\"", ts);
		goto bad;
	}
	ev->type = ke_types[i].type;
	if (!json_object_object_get_ex(doc, "object", &o) ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "event %s: no \"object\"", ts);
		goto bad;
	}
	ev->object = json_object_get(o);
	json_object_put(doc);
	if (json_object_object_get_ex(o, "metadata", &md) &&
	    json_object_is_type(md, json_type_object) &&
	    json_object_object_get_ex(md, "resourceVersion", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) > 0 &&
	    json_object_get_string_len(v) < 64)
		ev->resource_version = json_object_get_string(v);
	if (ev->type == KUBE_EVENT_ERROR) {
		if (json_object_object_get_ex(o, "code", &v) &&
		    json_object_is_type(v, json_type_int))
			ev->code = json_object_get_int(v);
		if (json_object_object_get_ex(o, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			ev->message = json_object_get_string(v);
	} else if (ev->resource_version == NULL &&
	    ev->type == KUBE_EVENT_BOOKMARK) {
		snprintf(err, errlen, "event BOOKMARK: no resourceVersion");
		json_object_put(ev->object);
		ev->object = NULL;
		return -1;
	}
	return 0;
 bad:
	json_object_put(doc);
	return -1;
}
