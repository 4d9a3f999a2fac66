/*
 * manifest: YAML (multi-document) or JSON manifest text -> json-c
 * documents, for the files provider.  YAML is read with libyaml and
 * converted node by node (scalars typed as YAML 1.1 core would: ints,
 * floats, true/false, null, quoted strings stay strings), so that the
 * object model has one input format.  A "List" document (kind: List or
 * *List with items) yields each item.  Runs in the master only.
 */
#ifndef INGRESSD_MANIFEST_H
#define INGRESSD_MANIFEST_H

#include <stddef.h>

struct json_object;

#define MANIFEST_MAX_FILE_SIZE	(8u << 20)
#define MANIFEST_MAX_DOCS	10000
#define MANIFEST_MAX_DEPTH	64
#define MANIFEST_MAX_NODES	(1u << 20)	/* per document */

/*
 * Called once per document.  <docno> counts from 1, <line> is the line the
 * document starts on.  <doc> is NULL when the document failed to parse,
 * with the reason (with its line) in <err>; otherwise <err> is NULL and the
 * callback may keep <doc> with json_object_get().
 */
typedef void (*manifest_doc_cb)(void *arg, int docno, int line,
    struct json_object *doc, const char *err);

/*
 * Parses <len> bytes of <buf>; <name> stands for the file in messages.
 * JSON is recognized by a leading '{' or '['.  Returns the number of
 * documents that failed (0 when all parsed); a syntax error in YAML stops
 * at that document, since the rest cannot be trusted.
 */
int	manifest_parse(const char *name, const char *buf, size_t len,
	    manifest_doc_cb cb, void *arg);

#endif
