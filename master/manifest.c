/*
 * manifest: YAML or JSON manifest text -> one json-c tree per document.
 *
 * Runs in the master, for the files provider (and `ingressd --check`).  It
 * reads operator-written files, so it treats them as untrusted: the file
 * size, the number of documents, the nesting depth and the number of nodes
 * a document expands to through aliases are all capped, and every error
 * names the file and the line.  It does no I/O and keeps no state between
 * calls.
 *
 * YAML is read event by event with libyaml and built straight into json-c
 * objects.  Plain scalars are typed the way sigs.k8s.io/yaml (go-yaml v2,
 * YAML 1.1) types them, so a manifest means here what it means to kubectl.
 * An alias shares the anchored json-c subtree (one reference more), so a
 * "billion laughs" costs no memory, only its expanded node count, which is
 * what the cap counts.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <yaml.h>

#include "master/manifest.h"

#define MF_ERRLEN	512

/* One open mapping or sequence. */
struct mf_frame {
	struct json_object *obj;	/* json object or array */
	int		 is_map;
	char		*key;		/* mapping: pending key, NULL: none */
	int		 key_merge;	/* pending key is the merge key "<<" */
	char		*anchor;	/* anchor to register when closed */
	size_t		 nodes0;	/* node count when it opened */
	int		 height;	/* tallest child so far */
	struct json_object *merges;	/* mappings merged in by "<<" */
	int		 items;		/* root's "items": record child lines */
};

struct mf_anchor {
	char		*name;
	struct json_object *obj;	/* one reference held */
	size_t		 nodes;		/* expanded node count */
	int		 height;
};

struct mf_ctx {
	const char	*name;
	const char	*buf;
	size_t		 len;
	manifest_doc_cb	 cb;
	void		*arg;
	int		 docno;		/* last number handed out */
	int		 nfailed;
	int		 stop;		/* no more documents, even empty ones */

	/* The YAML document being built. */
	struct mf_frame	 stack[MANIFEST_MAX_DEPTH];
	int		 depth;
	int		 nest;		/* open collections, built or not */
	struct mf_anchor *anchors;
	size_t		 nanchors;
	size_t		 anchors_cap;
	size_t		 nodes;
	struct json_object *root;
	int		 doc_line;
	int		 doc_failed;	/* skip to the end of the document */
	int		*item_lines;
	size_t		 nitem_lines;
	size_t		 item_lines_cap;
	char		 err[MF_ERRLEN];
};

static void	mf_fail(struct mf_ctx *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Line (from 1) of byte <off> of the input. */
static int
mf_line_at(const struct mf_ctx *c, size_t off)
{
	size_t i;
	int line = 1;

	if (off > c->len)
		off = c->len;
	for (i = 0; i < off; i++)
		if (c->buf[i] == '\n' && line < INT_MAX)
			line++;
	return line;
}

/* Records the current document's error as "name:line: reason". */
static void
mf_fail(struct mf_ctx *c, size_t line, const char *fmt, ...)
{
	char reason[MF_ERRLEN - 64];
	va_list ap;

	if (c->doc_failed)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(c->err, sizeof(c->err), "%s:%zu: %s", c->name, line, reason);
	c->doc_failed = 1;
}

/*
 * Hands one document (or one failure, <doc> NULL) to the callback, within
 * the document cap.  The callback takes its own reference if it keeps one.
 */
static void
mf_emit(struct mf_ctx *c, int line, struct json_object *doc, const char *err)
{
	char buf[MF_ERRLEN];

	if (c->stop)
		return;
	if (c->docno >= MANIFEST_MAX_DOCS) {
		snprintf(buf, sizeof(buf), "%s:%d: more than %d documents",
		    c->name, line, MANIFEST_MAX_DOCS);
		c->nfailed++;
		c->stop = 1;
		c->cb(c->arg, c->docno + 1, line, NULL, buf);
		return;
	}
	c->docno++;
	if (doc == NULL)
		c->nfailed++;
	c->cb(c->arg, c->docno, line, doc, doc == NULL ? err : NULL);
}

/* One element of a list: a null one is skipped like an empty document. */
static void
mf_emit_root1(struct mf_ctx *c, int line, struct json_object *doc)
{
	if (doc == NULL) {
		if (!c->stop && c->docno < MANIFEST_MAX_DOCS)
			c->docno++;
		return;
	}
	mf_emit(c, line, doc, NULL);
}

/*
 * Emits a parsed root: an array, or a List (kind "List" or "*List" with
 * an "items" array), yields each element as its own document, at its line
 * when <lines> knows it.  A null root (empty document) is skipped but
 * keeps its number, so "doc N" still counts the file's documents.
 */
static void
mf_emit_root(struct mf_ctx *c, int line, struct json_object *root,
    const int *lines, size_t nlines)
{
	struct json_object *kind, *items = NULL;
	const char *k;
	size_t i, n, klen;

	if (root == NULL) {
		mf_emit_root1(c, line, NULL);
		return;
	}
	if (json_object_is_type(root, json_type_array))
		items = root;
	else if (json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "kind", &kind) &&
	    json_object_is_type(kind, json_type_string)) {
		k = json_object_get_string(kind);
		klen = strlen(k);
		if (klen >= 4 && strcmp(k + klen - 4, "List") == 0 &&
		    json_object_object_get_ex(root, "items", &items) &&
		    !json_object_is_type(items, json_type_array))
			items = NULL;
	}
	if (items == NULL) {
		mf_emit(c, line, root, NULL);
		return;
	}
	n = json_object_array_length(items);
	for (i = 0; i < n && !c->stop; i++)
		mf_emit_root1(c, i < nlines ? lines[i] : line,
		    json_object_array_get_idx(items, i));
}

/*
 * JSON: a stream of values (usually one).  Each is parsed with a fresh
 * tokener limited to MANIFEST_MAX_DEPTH; a top-level array yields its
 * elements.  Errors stop the file: what follows cannot be delimited.
 */
static void
mf_parse_json(struct mf_ctx *c, const char *text)
{
	struct json_tokener *tok;
	struct json_object *v;
	enum json_tokener_error jerr;
	size_t off = 0, end;
	int line;

	for (;;) {
		while (off < c->len && strchr(" \t\r\n", text[off]) != NULL &&
		    text[off] != '\0')
			off++;
		if (off >= c->len)
			return;
		line = mf_line_at(c, off);
		if ((tok = json_tokener_new_ex(MANIFEST_MAX_DEPTH)) == NULL) {
			snprintf(c->err, sizeof(c->err), "%s:%d: out of memory",
			    c->name, line);
			mf_emit(c, line, NULL, c->err);
			return;
		}
		/* <text> is NUL-terminated: passing the NUL ends a number. */
		v = json_tokener_parse_ex(tok, text + off,
		    (int)(c->len - off + 1));
		jerr = json_tokener_get_error(tok);
		end = off + json_tokener_get_parse_end(tok);
		json_tokener_free(tok);
		if (jerr != json_tokener_success) {
			if (jerr == json_tokener_continue ||
			    jerr == json_tokener_error_parse_eof ||
			    end >= c->len)
				snprintf(c->err, sizeof(c->err),
				    "%s:%d: unexpected end of JSON input",
				    c->name, mf_line_at(c, c->len));
			else
				snprintf(c->err, sizeof(c->err), "%s:%d: %s",
				    c->name, mf_line_at(c, end),
				    json_tokener_error_desc(jerr));
			json_object_put(v);
			mf_emit(c, line, NULL, c->err);
			return;
		}
		mf_emit_root(c, line, v, NULL, 0);
		json_object_put(v);
		if (end <= off || c->stop)
			return;
		off = end;
	}
}

/* go-yaml v2's table of plain scalars with a fixed meaning. */
static const struct {
	const char	*text;
	enum json_type	 type;
	int		 value;
} mf_words[] = {
	{ "", json_type_null, 0 }, { "~", json_type_null, 0 },
	{ "null", json_type_null, 0 }, { "Null", json_type_null, 0 },
	{ "NULL", json_type_null, 0 },
	{ "true", json_type_boolean, 1 }, { "True", json_type_boolean, 1 },
	{ "TRUE", json_type_boolean, 1 }, { "y", json_type_boolean, 1 },
	{ "Y", json_type_boolean, 1 }, { "yes", json_type_boolean, 1 },
	{ "Yes", json_type_boolean, 1 }, { "YES", json_type_boolean, 1 },
	{ "on", json_type_boolean, 1 }, { "On", json_type_boolean, 1 },
	{ "ON", json_type_boolean, 1 },
	{ "false", json_type_boolean, 0 }, { "False", json_type_boolean, 0 },
	{ "FALSE", json_type_boolean, 0 }, { "n", json_type_boolean, 0 },
	{ "N", json_type_boolean, 0 }, { "no", json_type_boolean, 0 },
	{ "No", json_type_boolean, 0 }, { "NO", json_type_boolean, 0 },
	{ "off", json_type_boolean, 0 }, { "Off", json_type_boolean, 0 },
	{ "OFF", json_type_boolean, 0 },
};

/*
 * An integer as Go's strconv.ParseInt(s, 0, 64) reads it after go-yaml
 * dropped the underscores: sign, then 0x/0o/0b or a leading 0 (octal) or
 * decimal.  Returns 0 and *<out>, or -1.
 */
static int
mf_parse_int(const char *s, int64_t *out)
{
	uint64_t v = 0, lim;
	int neg = 0, base = 10, d, any = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		base = 8;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0') {
		base = 8;
		s++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		if (d >= base)
			return -1;
		if (v > (lim - (uint64_t)d) / (uint64_t)base)
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
		any = 1;
	}
	if (!any)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/*
 * go-yaml's float pattern:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
 */
static int
mf_is_float(const char *s)
{
	int digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits == 0)
			return 0;
	} else {
		for (; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits == 0)
			return 0;
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++)
				;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/*
 * Types a plain scalar: null, booleans, ints (int64, else double), floats
 * including .inf and .nan, everything else a string.  NULL on ENOMEM.
 * <isnull> tells a null apart from an allocation failure.
 */
static struct json_object *
mf_plain_scalar(const char *s, size_t len, int *isnull)
{
	char num[128], *p;
	const char *q;
	int64_t iv;
	size_t i;

	*isnull = 0;
	if (strlen(s) != len)	/* embedded NUL: only a string */
		return json_object_new_string_len(s, (int)len);
	for (i = 0; i < sizeof(mf_words) / sizeof(mf_words[0]); i++) {
		if (strcmp(s, mf_words[i].text) != 0)
			continue;
		if (mf_words[i].type == json_type_null) {
			*isnull = 1;
			return NULL;
		}
		return json_object_new_boolean(mf_words[i].value);
	}
	if (strcmp(s, ".inf") == 0 || strcmp(s, ".Inf") == 0 ||
	    strcmp(s, ".INF") == 0 || strcmp(s, "+.inf") == 0 ||
	    strcmp(s, "+.Inf") == 0 || strcmp(s, "+.INF") == 0)
		return json_object_new_double(INFINITY);
	if (strcmp(s, "-.inf") == 0 || strcmp(s, "-.Inf") == 0 ||
	    strcmp(s, "-.INF") == 0)
		return json_object_new_double(-INFINITY);
	if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 ||
	    strcmp(s, ".NAN") == 0)
		return json_object_new_double(NAN);
	if (len > 0 && len < sizeof(num) && strchr("+-.0123456789", s[0])) {
		/* go-yaml drops '_' before trying the numeric forms. */
		for (p = num, q = s; *q != '\0'; q++)
			if (*q != '_')
				*p++ = *q;
		*p = '\0';
		if (mf_parse_int(num, &iv) == 0)
			return json_object_new_int64(iv);
		if (mf_is_float(num))
			return json_object_new_double(strtod(num, NULL));
	}
	return json_object_new_string_len(s, (int)len);
}

static void
mf_frame_clear(struct mf_frame *f)
{
	json_object_put(f->obj);
	json_object_put(f->merges);
	free(f->key);
	free(f->anchor);
	memset(f, 0, sizeof(*f));
}

/* Drops the document under construction and its anchors. */
static void
mf_doc_reset(struct mf_ctx *c)
{
	size_t i;

	while (c->depth > 0)
		mf_frame_clear(&c->stack[--c->depth]);
	for (i = 0; i < c->nanchors; i++) {
		free(c->anchors[i].name);
		json_object_put(c->anchors[i].obj);
	}
	c->nanchors = 0;
	json_object_put(c->root);
	c->root = NULL;
	c->nodes = 0;
	c->nitem_lines = 0;
	c->doc_failed = 0;
	c->nest = 0;
}

/* Registers (or redefines) anchor <name>; takes a reference on <obj>. */
static int
mf_anchor_set(struct mf_ctx *c, const char *name, struct json_object *obj,
    size_t nodes, int height)
{
	struct mf_anchor *a = NULL, *na;
	size_t i, ncap;

	for (i = 0; i < c->nanchors; i++)
		if (strcmp(c->anchors[i].name, name) == 0)
			a = &c->anchors[i];
	if (a == NULL) {
		if (c->nanchors == c->anchors_cap) {
			ncap = c->anchors_cap ? c->anchors_cap * 2 : 8;
			if ((na = reallocarray(c->anchors, ncap,
			    sizeof(*na))) == NULL)
				return -1;
			c->anchors = na;
			c->anchors_cap = ncap;
		}
		a = &c->anchors[c->nanchors];
		if ((a->name = strdup(name)) == NULL)
			return -1;
		a->obj = NULL;
		c->nanchors++;
	}
	json_object_put(a->obj);
	a->obj = json_object_get(obj);
	a->nodes = nodes;
	a->height = height;
	return 0;
}

static const struct mf_anchor *
mf_anchor_find(const struct mf_ctx *c, const char *name)
{
	size_t i;

	/* Latest definition wins; it replaced the entry in place. */
	for (i = 0; i < c->nanchors; i++)
		if (strcmp(c->anchors[i].name, name) == 0)
			return &c->anchors[i];
	return NULL;
}

/* Notes the line of a node starting in a root sequence or "items". */
static void
mf_note_start(struct mf_ctx *c, size_t line)
{
	int *n;
	size_t ncap;

	if (!(c->depth == 1 && !c->stack[0].is_map) &&
	    !(c->depth == 2 && c->stack[1].items))
		return;
	if (c->nitem_lines == c->item_lines_cap) {
		ncap = c->item_lines_cap ? c->item_lines_cap * 2 : 16;
		if ((n = reallocarray(c->item_lines, ncap, sizeof(*n))) == NULL)
			return;	/* lines are a nicety: the doc line stands */
		c->item_lines = n;
		c->item_lines_cap = ncap;
	}
	c->item_lines[c->nitem_lines++] = line > INT_MAX ? INT_MAX : (int)line;
}

/*
 * Attaches a finished value (one reference passed in, possibly NULL for
 * null) to the open collection, or makes it the root.  <height> is the
 * value's nesting.  Returns 0, or -1 with the document failed.
 */
static int
mf_attach(struct mf_ctx *c, struct json_object *v, int height, size_t line)
{
	struct mf_frame *f;

	if (c->depth == 0) {
		c->root = v;
		return 0;
	}
	f = &c->stack[c->depth - 1];
	if (height > f->height)
		f->height = height;
	if (!f->is_map) {
		if (json_object_array_add(f->obj, v) != 0) {
			json_object_put(v);
			mf_fail(c, line, "out of memory");
			return -1;
		}
		return 0;
	}
	if (f->key_merge) {
		/* "<<: *a" or "<<: [*a, *b]": applied when the map closes. */
		f->key_merge = 0;
		if (f->merges == NULL &&
		    (f->merges = json_object_new_array()) == NULL) {
			json_object_put(v);
			mf_fail(c, line, "out of memory");
			return -1;
		}
		if (json_object_array_add(f->merges, v) != 0) {
			json_object_put(v);
			mf_fail(c, line, "out of memory");
			return -1;
		}
		return 0;
	}
	if (json_object_object_add(f->obj, f->key, v) != 0) {
		json_object_put(v);
		mf_fail(c, line, "out of memory");
		return -1;
	}
	free(f->key);
	f->key = NULL;
	return 0;
}

/* Merges <src>'s keys absent from <dst> (explicit keys win). */
static int
mf_merge_one(struct json_object *dst, struct json_object *src)
{
	struct json_object_iterator it, end;
	const char *k;

	it = json_object_iter_begin(src);
	end = json_object_iter_end(src);
	for (; !json_object_iter_equal(&it, &end);
	    json_object_iter_next(&it)) {
		k = json_object_iter_peek_name(&it);
		if (json_object_object_get_ex(dst, k, NULL))
			continue;
		if (json_object_object_add(dst, k,
		    json_object_get(json_object_iter_peek_value(&it))) != 0)
			return -1;
	}
	return 0;
}

static int
mf_apply_merges(struct mf_ctx *c, struct mf_frame *f, size_t line)
{
	struct json_object *m, *e;
	size_t i, j, n;

	if (f->merges == NULL)
		return 0;
	n = json_object_array_length(f->merges);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(f->merges, i);
		if (json_object_is_type(m, json_type_object)) {
			if (mf_merge_one(f->obj, m) == -1)
				goto nomem;
			continue;
		}
		if (!json_object_is_type(m, json_type_array))
			goto bad;
		for (j = 0; j < json_object_array_length(m); j++) {
			e = json_object_array_get_idx(m, j);
			if (!json_object_is_type(e, json_type_object))
				goto bad;
			if (mf_merge_one(f->obj, e) == -1)
				goto nomem;
		}
	}
	return 0;
 bad:
	mf_fail(c, line, "map merge requires a mapping or a list of mappings");
	return -1;
 nomem:
	mf_fail(c, line, "out of memory");
	return -1;
}

/* Counts <n> more nodes against the cap. */
static int
mf_count(struct mf_ctx *c, size_t n, size_t line)
{
	if (n > MANIFEST_MAX_NODES || c->nodes > MANIFEST_MAX_NODES - n) {
		mf_fail(c, line, "document expands to more than %u nodes",
		    MANIFEST_MAX_NODES);
		return -1;
	}
	c->nodes += n;
	return 0;
}

/*
 * A scalar, or a mapping key.  Keys are taken as written (no typing);
 * a key repeated in one mapping fails the document.
 */
static int
mf_scalar(struct mf_ctx *c, const yaml_event_t *ev)
{
	struct mf_frame *f = c->depth ? &c->stack[c->depth - 1] : NULL;
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length, line = ev->start_mark.line + 1;
	struct json_object *v;
	int isnull = 0;

	if (f != NULL && f->is_map && f->key == NULL && !f->key_merge) {
		if (ev->data.scalar.plain_implicit && strcmp(s, "<<") == 0 &&
		    tag == NULL) {
			f->key_merge = 1;
			return 0;
		}
		if (strlen(s) != len) {
			mf_fail(c, line, "NUL byte in a mapping key");
			return -1;
		}
		if (json_object_object_get_ex(f->obj, s, NULL)) {
			mf_fail(c, line, "duplicate key \"%.200s\"", s);
			return -1;
		}
		if ((f->key = strdup(s)) == NULL) {
			mf_fail(c, line, "out of memory");
			return -1;
		}
		return 0;
	}
	mf_note_start(c, line);
	if (mf_count(c, 1, line) == -1)
		return -1;
	if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0)
		v = json_object_new_string_len(s, (int)len);
	else if (tag == NULL && ev->data.scalar.plain_implicit)
		v = mf_plain_scalar(s, len, &isnull);
	else if (tag != NULL && strcmp(tag, "!") != 0)
		/* !!int "3" and friends: type the text as if plain. */
		v = mf_plain_scalar(s, len, &isnull);
	else
		v = json_object_new_string_len(s, (int)len);
	if (v == NULL && !isnull) {
		mf_fail(c, line, "out of memory");
		return -1;
	}
	if (ev->data.scalar.anchor != NULL &&
	    mf_anchor_set(c, (const char *)ev->data.scalar.anchor, v, 1,
	    0) == -1) {
		json_object_put(v);
		mf_fail(c, line, "out of memory");
		return -1;
	}
	return mf_attach(c, v, 0, line);
}

static int
mf_alias(struct mf_ctx *c, const yaml_event_t *ev)
{
	struct mf_frame *f = c->depth ? &c->stack[c->depth - 1] : NULL;
	const char *name = (const char *)ev->data.alias.anchor;
	const struct mf_anchor *a;
	size_t line = ev->start_mark.line + 1;

	if ((a = mf_anchor_find(c, name)) == NULL) {
		mf_fail(c, line, "unknown anchor \"%.200s\"", name);
		return -1;
	}
	if (f != NULL && f->is_map && f->key == NULL && !f->key_merge) {
		if (!json_object_is_type(a->obj, json_type_string)) {
			mf_fail(c, line, "unsupported mapping key");
			return -1;
		}
		if (json_object_object_get_ex(f->obj,
		    json_object_get_string(a->obj), NULL)) {
			mf_fail(c, line, "duplicate key \"%.200s\"",
			    json_object_get_string(a->obj));
			return -1;
		}
		if ((f->key = strdup(json_object_get_string(a->obj))) == NULL) {
			mf_fail(c, line, "out of memory");
			return -1;
		}
		return 0;
	}
	mf_note_start(c, line);
	if (mf_count(c, a->nodes, line) == -1)
		return -1;
	if (c->depth + a->height > MANIFEST_MAX_DEPTH) {
		mf_fail(c, line, "nesting deeper than %d", MANIFEST_MAX_DEPTH);
		return -1;
	}
	return mf_attach(c, json_object_get(a->obj), a->height, line);
}

/* Opens a mapping or sequence; -2 when the nesting cap stops the file. */
static int
mf_open(struct mf_ctx *c, const yaml_event_t *ev, int is_map)
{
	struct mf_frame *f = c->depth ? &c->stack[c->depth - 1] : NULL, *n;
	const unsigned char *anchor;
	size_t line = ev->start_mark.line + 1;

	anchor = is_map ? ev->data.mapping_start.anchor :
	    ev->data.sequence_start.anchor;
	if (f != NULL && f->is_map && f->key == NULL && !f->key_merge) {
		mf_fail(c, line, "unsupported mapping key");
		return -1;
	}
	if (c->depth >= MANIFEST_MAX_DEPTH) {
		mf_fail(c, line, "nesting deeper than %d", MANIFEST_MAX_DEPTH);
		return -2;
	}
	mf_note_start(c, line);
	if (mf_count(c, 1, line) == -1)
		return -1;
	n = &c->stack[c->depth];
	memset(n, 0, sizeof(*n));
	n->is_map = is_map;
	n->nodes0 = c->nodes - 1;
	n->obj = is_map ? json_object_new_object() : json_object_new_array();
	if (n->obj == NULL || (anchor != NULL &&
	    (n->anchor = strdup((const char *)anchor)) == NULL)) {
		mf_frame_clear(n);
		mf_fail(c, line, "out of memory");
		return -1;
	}
	if (!is_map && c->depth == 1 && f->is_map && f->key != NULL &&
	    strcmp(f->key, "items") == 0)
		n->items = 1;
	c->depth++;
	return 0;
}

static int
mf_close(struct mf_ctx *c, const yaml_event_t *ev)
{
	struct mf_frame *f = &c->stack[c->depth - 1];
	struct json_object *v;
	size_t line = ev->start_mark.line + 1;
	int height = f->height + 1;

	if (f->is_map && mf_apply_merges(c, f, line) == -1)
		return -1;
	if (f->anchor != NULL && mf_anchor_set(c, f->anchor, f->obj,
	    c->nodes - f->nodes0, height) == -1) {
		mf_fail(c, line, "out of memory");
		return -1;
	}
	v = f->obj;
	f->obj = NULL;
	mf_frame_clear(f);
	c->depth--;
	return mf_attach(c, v, height, line);
}

/* The YAML stream: one tree per document, errors per document. */
static void
mf_parse_yaml(struct mf_ctx *c)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t line;
	int done = 0, rc;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(c->err, sizeof(c->err), "%s:1: out of memory",
		    c->name);
		mf_emit(c, 1, NULL, c->err);
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)c->buf,
	    c->len);
	while (!done && !c->stop) {
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_READER_ERROR)
				line = (size_t)mf_line_at(c,
				    parser.problem_offset);
			else
				line = parser.problem_mark.line + 1;
			/*
			 * A syntax error ends the file.  It replaces an
			 * earlier reason for this document, which would
			 * only have been reported at its end.
			 */
			c->doc_failed = 0;
			mf_fail(c, line, "%s", parser.problem ? parser.problem :
			    "YAML syntax error");
			mf_emit(c, c->doc_line ? c->doc_line : (int)line,
			    NULL, c->err);
			break;
		}
		rc = 0;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			mf_doc_reset(c);
			c->doc_line = (int)ev.start_mark.line + 1;
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (c->doc_failed)
				mf_emit(c, c->doc_line, NULL, c->err);
			else
				mf_emit_root(c, c->doc_line, c->root,
				    c->item_lines, c->nitem_lines);
			mf_doc_reset(c);
			c->doc_line = 0;
			break;
		case YAML_SCALAR_EVENT:
			if (!c->doc_failed)
				rc = mf_scalar(c, &ev);
			break;
		case YAML_ALIAS_EVENT:
			if (!c->doc_failed)
				rc = mf_alias(c, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			/*
			 * Counted even in a failed document: past the cap
			 * libyaml itself would keep stacking state for
			 * every level, so the file stops there.
			 */
			if (++c->nest > MANIFEST_MAX_DEPTH) {
				c->doc_failed = 0;
				mf_fail(c, ev.start_mark.line + 1,
				    "nesting deeper than %d",
				    MANIFEST_MAX_DEPTH);
				rc = -2;
			} else if (!c->doc_failed)
				rc = mf_open(c, &ev,
				    ev.type == YAML_MAPPING_START_EVENT);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			c->nest--;
			if (!c->doc_failed)
				rc = mf_close(c, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (rc == -2) {
			mf_emit(c, c->doc_line, NULL, c->err);
			break;
		}
		if (rc == -1 && c->depth > 0) {
			/* Free the partial tree now; skip to document end. */
			while (c->depth > 0)
				mf_frame_clear(&c->stack[--c->depth]);
		}
	}
	mf_doc_reset(c);
	free(c->anchors);
	free(c->item_lines);
	yaml_parser_delete(&parser);
}

int
manifest_parse(const char *name, const char *buf, size_t len,
    manifest_doc_cb cb, void *arg)
{
	struct mf_ctx *c;
	char *text = NULL, errbuf[MF_ERRLEN];
	size_t i;
	int nfailed;

	if (len > MANIFEST_MAX_FILE_SIZE) {
		snprintf(errbuf, sizeof(errbuf), "%s:1: file larger than %u "
		    "bytes", name, MANIFEST_MAX_FILE_SIZE);
		cb(arg, 1, 1, NULL, errbuf);
		return 1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (text = malloc(len + 1)) == NULL) {
		free(c);
		snprintf(errbuf, sizeof(errbuf), "%s:1: out of memory", name);
		cb(arg, 1, 1, NULL, errbuf);
		return 1;
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	c->name = name;
	c->buf = text;
	c->len = len;
	c->cb = cb;
	c->arg = arg;

	/* A UTF-8 byte order mark does not make JSON YAML. */
	i = (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) ? 3 : 0;
	while (i < len && strchr(" \t\r\n", text[i]) != NULL && text[i] != '\0')
		i++;
	if (i < len && (text[i] == '{' || text[i] == '[')) {
		if (i > 0 && text[0] == '\xef') {
			/* json-c does not skip a BOM; blank it. */
			memset(text, ' ', 3);
		}
		mf_parse_json(c, text);
	} else
		mf_parse_yaml(c);
	nfailed = c->nfailed;
	free(text);
	free(c);
	return nfailed;
}
