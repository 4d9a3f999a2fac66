/*
 * Unit tests for master/manifest.c: YAML and JSON manifest text -> json-c
 * documents, with line numbers, scalar typing and the caps.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <json-c/json.h>

#include "master/manifest.h"

#define MAXDOCS	16

/* What the callback saw, in order. */
struct seen {
	int		 n;		/* callbacks */
	int		 total;		/* callbacks, all of them */
	int		 docno[MAXDOCS];
	int		 line[MAXDOCS];
	char		*text[MAXDOCS];	/* JSON text, or NULL */
	char		*err[MAXDOCS];	/* error, or NULL */
	struct json_object *doc[MAXDOCS];
};

static void
seen_cb(void *arg, int docno, int line, struct json_object *doc,
    const char *err)
{
	struct seen *s = arg;

	s->total++;
	if (s->n == MAXDOCS)
		return;
	ck_assert((doc == NULL) != (err == NULL));
	s->docno[s->n] = docno;
	s->line[s->n] = line;
	s->text[s->n] = doc ? strdup(json_object_to_json_string_ext(doc,
	    JSON_C_TO_STRING_PLAIN)) : NULL;
	s->err[s->n] = err ? strdup(err) : NULL;
	s->doc[s->n] = json_object_get(doc);
	s->n++;
}

static int
parse(const char *text, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return manifest_parse("t.yaml", text, strlen(text), seen_cb, s);
}

static void
seen_free(struct seen *s)
{
	int i;

	for (i = 0; i < s->n; i++) {
		free(s->text[i]);
		free(s->err[i]);
		json_object_put(s->doc[i]);
	}
	memset(s, 0, sizeof(*s));
}

/*
 * Whole-input cases: the documents (JSON text or error, with number and
 * line) the callback must see, and the return value.
 */
struct doc_want {
	int		 docno;
	int		 line;
	const char	*text;		/* expected JSON, or NULL */
	const char	*err;		/* expected error, or NULL */
};

static const struct {
	const char	*name;
	const char	*in;
	int		 rc;
	int		 ndocs;
	struct doc_want	 docs[4];
} parse_cases[] = {
	{ "multi-doc yaml with lines",
	  "# header\n"
	  "a: 1\n"
	  "---\n"
	  "b: two\n"
	  "---\n"
	  "---\n"
	  "# only a comment\n"
	  "---\n"
	  "c: [1, {d: e}]\n",
	  0, 3,
	  { { 1, 2, "{\"a\":1}", NULL }, { 2, 3, "{\"b\":\"two\"}", NULL },
	    { 5, 8, "{\"c\":[1,{\"d\":\"e\"}]}", NULL } } },
	{ "syntax error names its line and stops",
	  "a: 1\n---\nkind: Ingress\nspec: x: y\n---\nz: 1\n",
	  1, 2,
	  { { 1, 1, "{\"a\":1}", NULL },
	    { 2, 2, NULL,
	      "t.yaml:4: mapping values are not allowed in this context" } } },
	{ "duplicate key fails only its document",
	  "a: 1\n---\nmetadata:\n  name: x\n  name: y\n---\nb: 2\n",
	  1, 3,
	  { { 1, 1, "{\"a\":1}", NULL },
	    { 2, 2, NULL, "t.yaml:5: duplicate key \"name\"" },
	    { 3, 6, "{\"b\":2}", NULL } } },
	{ "unknown anchor",
	  "a: *nope\n", 1, 1,
	  { { 1, 1, NULL, "t.yaml:1: unknown anchor \"nope\"" } } },
	{ "complex key refused",
	  "? [a]\n: 1\n", 1, 1,
	  { { 1, 1, NULL, "t.yaml:1: unsupported mapping key" } } },
	{ "anchors, aliases and merge keys",
	  "base: &b {x: 1, y: 2}\n"
	  "list: &l [1, 2]\n"
	  "copy: *l\n"
	  "m:\n"
	  "  <<: *b\n"
	  "  y: 3\n",
	  0, 1,
	  { { 1, 1, "{\"base\":{\"x\":1,\"y\":2},\"list\":[1,2],"
	      "\"copy\":[1,2],\"m\":{\"y\":3,\"x\":1}}", NULL } } },
	{ "yaml List yields items with their lines",
	  "apiVersion: v1\n"
	  "kind: List\n"
	  "items:\n"
	  "- a: 1\n"
	  "-\n"
	  "- b: 2\n"
	  "---\n"
	  "c: 3\n",
	  0, 3,
	  { { 1, 4, "{\"a\":1}", NULL }, { 3, 6, "{\"b\":2}", NULL },
	    { 4, 7, "{\"c\":3}", NULL } } },
	{ "ServiceList too",
	  "kind: ServiceList\nitems: [{a: 1}]\n", 0, 1,
	  { { 1, 2, "{\"a\":1}", NULL } } },
	{ "a List without items array is a document",
	  "kind: List\nitems: 3\n", 0, 1,
	  { { 1, 1, "{\"kind\":\"List\",\"items\":3}", NULL } } },
	{ "json object",
	  "  {\"kind\": \"Service\",\n \"n\": [1, 2.5, true, null]}\n", 0, 1,
	  { { 1, 1, "{\"kind\":\"Service\",\"n\":[1,2.5,true,null]}",
	      NULL } } },
	{ "json stream",
	  "{\"a\": 1}\n\n{\"b\": 2}\n", 0, 2,
	  { { 1, 1, "{\"a\":1}", NULL }, { 2, 3, "{\"b\":2}", NULL } } },
	{ "json array",
	  "[{\"a\": 1}, null, {\"b\": 2}]", 0, 2,
	  { { 1, 1, "{\"a\":1}", NULL }, { 3, 1, "{\"b\":2}", NULL } } },
	{ "json List",
	  "{\"kind\": \"List\", \"items\": [{\"a\": 1}, {\"b\": 2}]}", 0, 2,
	  { { 1, 1, "{\"a\":1}", NULL }, { 2, 1, "{\"b\":2}", NULL } } },
	{ "json syntax error with line",
	  "{\"a\": 1,\n \"b\": }\n", 1, 1,
	  { { 1, 1, NULL, "t.yaml:2: " } } },
	{ "json truncated",
	  "{\"a\": [1,\n", 1, 1,
	  { { 1, 1, NULL, "t.yaml:2: " } } },
	{ "json trailing garbage",
	  "{\"a\": 1}\n}\n", 1, 2,
	  { { 1, 1, "{\"a\":1}", NULL }, { 2, 2, NULL, "t.yaml:2: " } } },
	{ "empty input", "", 0, 0, { { 0 } } },
	{ "only separators and comments", "---\n# x\n---\n...\n", 0, 0,
	  { { 0 } } },
	{ "json null is empty", "null", 0, 0, { { 0 } } },
};

START_TEST(test_parse_table)
{
	struct seen s;
	int rc, i;

	rc = parse(parse_cases[_i].in, &s);
	ck_assert_msg(rc == parse_cases[_i].rc, "%s: rc %d",
	    parse_cases[_i].name, rc);
	ck_assert_msg(s.n == parse_cases[_i].ndocs, "%s: %d docs",
	    parse_cases[_i].name, s.n);
	for (i = 0; i < s.n; i++) {
		const struct doc_want *w = &parse_cases[_i].docs[i];

		ck_assert_msg(s.docno[i] == w->docno, "%s: doc %d numbered %d",
		    parse_cases[_i].name, i, s.docno[i]);
		ck_assert_msg(s.line[i] == w->line, "%s: doc %d line %d",
		    parse_cases[_i].name, i, s.line[i]);
		if (w->text != NULL) {
			ck_assert_msg(s.text[i] != NULL, "%s: doc %d: %s",
			    parse_cases[_i].name, i, s.err[i]);
			ck_assert_str_eq(s.text[i], w->text);
		} else {
			ck_assert_msg(s.err[i] != NULL, "%s: doc %d parsed",
			    parse_cases[_i].name, i);
			ck_assert_msg(strncmp(s.err[i], w->err,
			    strlen(w->err)) == 0, "%s: error \"%s\"",
			    parse_cases[_i].name, s.err[i]);
		}
	}
	seen_free(&s);
}
END_TEST

/* Plain scalars typed as sigs.k8s.io/yaml types them. */
static const struct {
	const char	*yaml;		/* the value after "v: " */
	enum json_type	 type;
	const char	*json;		/* expected JSON of the value */
} scalar_cases[] = {
	{ "", json_type_null, "null" },
	{ "~", json_type_null, "null" },
	{ "null", json_type_null, "null" },
	{ "Null", json_type_null, "null" },
	{ "NULL", json_type_null, "null" },
	{ "true", json_type_boolean, "true" },
	{ "True", json_type_boolean, "true" },
	{ "TRUE", json_type_boolean, "true" },
	{ "false", json_type_boolean, "false" },
	{ "False", json_type_boolean, "false" },
	{ "yes", json_type_boolean, "true" },
	{ "off", json_type_boolean, "false" },
	{ "0", json_type_int, "0" },
	{ "80", json_type_int, "80" },
	{ "-12", json_type_int, "-12" },
	{ "+7", json_type_int, "7" },
	{ "0x1F", json_type_int, "31" },
	{ "0o17", json_type_int, "15" },
	{ "017", json_type_int, "15" },
	{ "0b101", json_type_int, "5" },
	{ "1_000", json_type_int, "1000" },
	{ "9223372036854775807", json_type_int, "9223372036854775807" },
	{ "-9223372036854775808", json_type_int, "-9223372036854775808" },
	{ "1.5", json_type_double, "1.5" },
	{ "-0.25", json_type_double, "-0.25" },
	{ "1e3", json_type_double, "1000.0" },
	{ ".5", json_type_double, "0.5" },
	{ "08", json_type_double, "8.0" },
	{ "\"80\"", json_type_string, "\"80\"" },
	{ "'true'", json_type_string, "\"true\"" },
	{ "\"\"", json_type_string, "\"\"" },
	{ "'~'", json_type_string, "\"~\"" },
	{ "!!str 80", json_type_string, "\"80\"" },
	{ "web", json_type_string, "\"web\"" },
	{ "0x", json_type_string, "\"0x\"" },
	{ "1.2.3.4", json_type_string, "\"1.2.3.4\"" },
	{ "2024-01-02T03:04:05Z", json_type_string,
	  "\"2024-01-02T03:04:05Z\"" },
	{ "|\n  a\n  b", json_type_string, "\"a\\nb\\n\"" },
	{ "\"tru\\u0065\"", json_type_string, "\"true\"" },
};

START_TEST(test_scalars)
{
	struct seen s;
	struct json_object *v;
	char in[256];

	snprintf(in, sizeof(in), "v: %s\n", scalar_cases[_i].yaml);
	ck_assert_int_eq(parse(in, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert(json_object_object_get_ex(s.doc[0], "v", &v));
	ck_assert_msg(json_object_get_type(v) == scalar_cases[_i].type,
	    "%s: type %s", scalar_cases[_i].yaml,
	    json_type_to_name(json_object_get_type(v)));
	ck_assert_str_eq(v ? json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN) : "null", scalar_cases[_i].json);
	seen_free(&s);
}
END_TEST

START_TEST(test_special_floats)
{
	struct seen s;
	struct json_object *v;

	ck_assert_int_eq(parse("a: .inf\nb: -.Inf\nc: .nan\n", &s), 0);
	ck_assert(json_object_object_get_ex(s.doc[0], "a", &v));
	ck_assert(isinf(json_object_get_double(v)) &&
	    json_object_get_double(v) > 0);
	ck_assert(json_object_object_get_ex(s.doc[0], "b", &v));
	ck_assert(isinf(json_object_get_double(v)) &&
	    json_object_get_double(v) < 0);
	ck_assert(json_object_object_get_ex(s.doc[0], "c", &v));
	ck_assert(isnan(json_object_get_double(v)));
	seen_free(&s);
}
END_TEST

/* Appends <s> to the growing buffer. */
static void
cat(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);

	*buf = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

START_TEST(test_alias_bomb)
{
	struct seen s;
	char *buf = NULL, line[128];
	size_t len = 0;
	int i;

	/* Nine levels of ten: 10^9 nodes if expanded. */
	cat(&buf, &len, "a0: &a0 [lol, lol, lol, lol, lol]\n");
	for (i = 1; i < 10; i++) {
		snprintf(line, sizeof(line), "a%d: &a%d [*a%d, *a%d, *a%d, "
		    "*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
		    i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
		    i - 1, i - 1);
		cat(&buf, &len, line);
	}
	cat(&buf, &len, "---\nnext: ok\n");
	ck_assert_int_eq(parse(buf, &s), 1);
	ck_assert_int_eq(s.n, 2);
	ck_assert_ptr_nonnull(s.err[0]);
	ck_assert_msg(strstr(s.err[0], "expands to more than") != NULL,
	    "%s", s.err[0]);
	ck_assert_str_eq(s.text[1], "{\"next\":\"ok\"}");
	seen_free(&s);
	free(buf);
}
END_TEST

/* Aliases also count toward the depth cap. */
START_TEST(test_alias_depth)
{
	struct seen s;
	char *buf = NULL, line[64];
	size_t len = 0;
	int i;

	cat(&buf, &len, "a0: &a0 [x]\n");
	for (i = 1; i < 80; i++) {
		snprintf(line, sizeof(line), "a%d: &a%d [*a%d]\n", i, i, i - 1);
		cat(&buf, &len, line);
	}
	ck_assert_int_eq(parse(buf, &s), 1);
	ck_assert_ptr_nonnull(s.err[0]);
	ck_assert_msg(strstr(s.err[0], "nesting deeper than") != NULL, "%s",
	    s.err[0]);
	seen_free(&s);
	free(buf);
}
END_TEST

/* <depth> nested sequences, as YAML flow or JSON. */
static char *
nested(int depth, int json)
{
	char *buf;
	size_t i, n = (size_t)depth;

	buf = malloc(2 * n + 8);
	ck_assert_ptr_nonnull(buf);
	i = 0;
	if (!json) {
		memcpy(buf, "v: ", 3);
		i = 3;
	}
	memset(buf + i, '[', n);
	memset(buf + i + n, ']', n);
	buf[i + 2 * n] = '\0';
	return buf;
}

START_TEST(test_depth_cap)
{
	struct seen s;
	char *buf;

	/* YAML: the root mapping is one level. */
	buf = nested(MANIFEST_MAX_DEPTH - 1, 0);
	ck_assert_int_eq(parse(buf, &s), 0);
	ck_assert_int_eq(s.n, 1);
	seen_free(&s);
	free(buf);

	buf = nested(MANIFEST_MAX_DEPTH, 0);
	ck_assert_int_eq(parse(buf, &s), 1);
	ck_assert_msg(strstr(s.err[0], "t.yaml:1: nesting deeper than") ==
	    s.err[0], "%s", s.err[0]);
	seen_free(&s);
	free(buf);

	/* A very deep file stops at the cap, without state for the rest. */
	buf = nested(1000000, 0);
	ck_assert_int_eq(parse(buf, &s), 1);
	ck_assert_int_eq(s.total, 1);
	seen_free(&s);
	free(buf);

	/* Also after the document already failed. */
	buf = nested(1000000, 0);
	memcpy(buf, "a: 1\na: 2\nb: ", 13);
	ck_assert_int_eq(parse(buf, &s), 1);
	ck_assert_int_eq(s.total, 1);
	ck_assert_msg(strstr(s.err[0], "t.yaml:3: nesting deeper than") ==
	    s.err[0], "%s", s.err[0]);
	seen_free(&s);
	free(buf);

	buf = nested(MANIFEST_MAX_DEPTH, 1);
	ck_assert_int_eq(parse(buf, &s), 0);
	seen_free(&s);
	free(buf);

	buf = nested(MANIFEST_MAX_DEPTH + 1, 1);
	ck_assert_int_eq(parse(buf, &s), 1);
	ck_assert_ptr_nonnull(s.err[0]);
	seen_free(&s);
	free(buf);
}
END_TEST

START_TEST(test_size_cap)
{
	struct seen s;
	char *buf;
	size_t len = MANIFEST_MAX_FILE_SIZE + 1;

	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	memset(buf, '#', len);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(manifest_parse("big.yaml", buf, len, seen_cb, &s), 1);
	ck_assert_int_eq(s.n, 1);
	ck_assert_msg(strstr(s.err[0], "big.yaml:1: file larger than") ==
	    s.err[0], "%s", s.err[0]);
	seen_free(&s);
	free(buf);
}
END_TEST

START_TEST(test_docs_cap)
{
	struct seen s;
	char *buf = NULL;
	size_t len = 0;
	int i;

	for (i = 0; i < MANIFEST_MAX_DOCS + 5; i++)
		cat(&buf, &len, "---\na: 1\n");
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(manifest_parse("t.yaml", buf, len, seen_cb, &s), 1);
	ck_assert_int_eq(s.total, MANIFEST_MAX_DOCS + 1);
	seen_free(&s);
	free(buf);
}
END_TEST

/* Not NUL-terminated, with NULs inside: never read past <len>. */
START_TEST(test_binary)
{
	struct seen s;
	static const char in[] = { 'a', ':', ' ', 'x', '\0', 'y', '\n' };
	static const char js[] = { '{', '"', 'a', '"', ':', '1', '}', '\0',
	    '{' };

	memset(&s, 0, sizeof(s));
	ck_assert_int_ge(manifest_parse("t.yaml", in, sizeof(in), seen_cb,
	    &s), 0);
	seen_free(&s);
	ck_assert_int_eq(manifest_parse("t.yaml", js, sizeof(js), seen_cb,
	    &s), 1);
	ck_assert_str_eq(s.text[0], "{\"a\":1}");
	ck_assert_ptr_nonnull(s.err[1]);
	seen_free(&s);
}
END_TEST

static Suite *
manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_parse_table, 0,
	    sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_loop_test(tc, test_scalars, 0,
	    sizeof(scalar_cases) / sizeof(scalar_cases[0]));
	tcase_add_test(tc, test_special_floats);
	tcase_add_test(tc, test_alias_bomb);
	tcase_add_test(tc, test_alias_depth);
	tcase_add_test(tc, test_depth_cap);
	tcase_add_test(tc, test_size_cap);
	tcase_add_test(tc, test_docs_cap);
	tcase_add_test(tc, test_binary);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(manifest_suite());
	int nfailed;

	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
