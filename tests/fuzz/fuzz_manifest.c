/*
 * Fuzz target for master/manifest.c and master/objects.c: arbitrary bytes
 * as a manifest file, each document then turned into an object and freed,
 * the way the files provider does.  Checks what must hold whatever the
 * bytes: a callback gets a document or an error, never both or neither;
 * an error names the file; the return value counts the errors.  A broken
 * invariant abort()s.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "master/manifest.h"
#include "master/objects.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_state {
	int	 nerrors;
	int	 lastdoc;
};

static void
fz_doc(void *arg, int docno, int line, struct json_object *doc,
    const char *err)
{
	struct fz_state *st = arg;
	struct obj *o = NULL;
	char why[512];
	int rc;

	if ((doc == NULL) == (err == NULL) || line < 1 ||
	    docno <= st->lastdoc)
		abort();
	st->lastdoc = docno;
	if (doc == NULL) {
		if (strncmp(err, "fuzz.yaml:", 10) != 0)
			abort();
		st->nerrors++;
		return;
	}
	why[0] = '\0';
	rc = objects_from_json(doc, &o, why, sizeof(why));
	if (rc == 0) {
		if (o == NULL || o->meta.name == NULL ||
		    o->meta.namespace == NULL ||
		    objects_kind_name(o->kind) == NULL)
			abort();
		(void)objects_annotation(o, "ingressd.io/lb-policy");
	} else if (o != NULL || (rc == -1 && why[0] == '\0'))
		abort();
	objects_free(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_state st = { 0, 0 };
	int rc;

	rc = manifest_parse("fuzz.yaml", (const char *)data, size, fz_doc,
	    &st);
	if (rc != st.nerrors)
		abort();
	return 0;
}
