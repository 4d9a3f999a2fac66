/*
 * Unit tests for master/store.c: lookup, replacement, deletion, iteration
 * order and version counting.  Objects are built by hand (only kind and
 * metadata matter to the store), never through objects_from_json().
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "master/objects.h"
#include "master/store.h"

static struct obj *
mkobj(enum obj_kind kind, const char *ns, const char *name, const char *tag)
{
	struct obj *o;

	o = calloc(1, sizeof(*o));
	ck_assert_ptr_nonnull(o);
	o->kind = kind;
	o->meta.namespace = ns != NULL ? strdup(ns) : NULL;
	o->meta.name = name != NULL ? strdup(name) : NULL;
	o->meta.creation = INT64_MAX;
	/* <tag> tells versions of one object apart. */
	o->origin = tag != NULL ? strdup(tag) : NULL;
	return o;
}

START_TEST(test_put_get_replace)
{
	struct store *st;
	const struct obj *o;

	st = store_new();
	ck_assert_ptr_nonnull(st);
	ck_assert_uint_eq(store_version(st), 0);
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "default", "web"));

	ck_assert_int_eq(store_put(st, mkobj(OBJ_SERVICE, "default", "web",
	    "v1")), 0);
	ck_assert_uint_eq(store_version(st), 1);
	ck_assert_uint_eq(store_count(st, OBJ_SERVICE), 1);
	o = store_get(st, OBJ_SERVICE, "default", "web");
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(o->origin, "v1");

	/* Same name, other kind or namespace: distinct objects. */
	ck_assert_ptr_null(store_get(st, OBJ_INGRESS, "default", "web"));
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "other", "web"));
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "defaultweb", ""));
	ck_assert_ptr_null(store_get(st, OBJ_SERVICE, "", "defaultweb"));

	/* Replace: count unchanged, new object visible, old one freed. */
	ck_assert_int_eq(store_put(st, mkobj(OBJ_SERVICE, "default", "web",
	    "v2")), 0);
	ck_assert_uint_eq(store_version(st), 2);
	ck_assert_uint_eq(store_count(st, OBJ_SERVICE), 1);
	ck_assert_str_eq(store_get(st, OBJ_SERVICE, "default", "web")->origin,
	    "v2");
	ck_assert_str_eq(store_at(st, OBJ_SERVICE, 0)->origin, "v2");

	store_free(st);
}
END_TEST

START_TEST(test_delete)
{
	struct store *st;

	st = store_new();
	ck_assert_int_eq(store_delete(st, OBJ_INGRESS, "a", "b"), 0);
	ck_assert_uint_eq(store_version(st), 0);
	ck_assert_int_eq(store_put(st, mkobj(OBJ_INGRESS, "a", "b", NULL)), 0);
	ck_assert_int_eq(store_put(st, mkobj(OBJ_INGRESS, "a", "c", NULL)), 0);
	ck_assert_uint_eq(store_version(st), 2);
	ck_assert_int_eq(store_delete(st, OBJ_SERVICE, "a", "b"), 0);
	ck_assert_int_eq(store_delete(st, OBJ_INGRESS, "x", "b"), 0);
	ck_assert_uint_eq(store_version(st), 2);
	ck_assert_int_eq(store_delete(st, OBJ_INGRESS, "a", "b"), 1);
	ck_assert_uint_eq(store_version(st), 3);
	ck_assert_uint_eq(store_count(st, OBJ_INGRESS), 1);
	ck_assert_ptr_null(store_get(st, OBJ_INGRESS, "a", "b"));
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS, "a", "c"));
	ck_assert_str_eq(store_at(st, OBJ_INGRESS, 0)->meta.name, "c");
	ck_assert_ptr_null(store_at(st, OBJ_INGRESS, 1));
	ck_assert_int_eq(store_delete(st, OBJ_INGRESS, "a", "b"), 0);
	store_free(st);
}
END_TEST

START_TEST(test_refuse)
{
	struct store *st;
	struct obj *o;

	st = store_new();
	ck_assert_int_eq(store_put(st, NULL), -1);
	/* Refused objects are freed (ASan reports a leak otherwise). */
	ck_assert_int_eq(store_put(st, mkobj(OBJ_SERVICE, "a", NULL, NULL)),
	    -1);
	o = mkobj(OBJ_SERVICE, "a", "b", NULL);
	o->kind = OBJ_KIND_COUNT;
	ck_assert_int_eq(store_put(st, o), -1);
	ck_assert_uint_eq(store_version(st), 0);
	ck_assert_uint_eq(store_count(st, OBJ_KIND_COUNT), 0);
	ck_assert_ptr_null(store_at(st, OBJ_KIND_COUNT, 0));
	ck_assert_ptr_null(store_get(st, OBJ_KIND_COUNT, "a", "b"));
	ck_assert_int_eq(store_delete(st, OBJ_KIND_COUNT, "a", "b"), 0);
	store_free(st);
	store_free(NULL);
}
END_TEST

START_TEST(test_cluster_scoped)
{
	struct store *st;

	st = store_new();
	ck_assert_int_eq(store_put(st, mkobj(OBJ_INGRESS_CLASS, NULL,
	    "ingressd", NULL)), 0);
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS_CLASS, NULL,
	    "ingressd"));
	ck_assert_ptr_nonnull(store_get(st, OBJ_INGRESS_CLASS, "",
	    "ingressd"));
	ck_assert_int_eq(store_delete(st, OBJ_INGRESS_CLASS, "", "ingressd"),
	    1);
	store_free(st);
}
END_TEST

/* Iteration is namespace/name order whatever the insertion order. */
static const struct {
	const char	*ns;
	const char	*name;
} order_cases[] = {
	{ "a", "a" }, { "a", "b" }, { "a", "ba" }, { "a", "z" },
	{ "a-b", "a" }, { "ab", "" }, { "ab", "a" }, { "b", "a" },
	{ "default", "api" }, { "default", "web" }, { "kube-system", "dns" },
};

START_TEST(test_order)
{
	struct store *st;
	const struct obj *o;
	size_t n = UTIL_NELEM(order_cases), i, j, perm[64];

	/* Insert in a different rotation and stride for each run. */
	for (i = 0; i < n; i++)
		perm[i] = (i * 7 + (size_t)_i) % n;
	st = store_new();
	for (i = 0; i < n; i++) {
		j = perm[i];
		ck_assert_int_eq(store_put(st, mkobj(OBJ_ENDPOINT_SLICE,
		    order_cases[j].ns, order_cases[j].name, NULL)), 0);
		/* Interleave another kind: it must not show up. */
		ck_assert_int_eq(store_put(st, mkobj(OBJ_SERVICE, "zz",
		    order_cases[j].name, NULL)), 0);
		/* Reading the view between puts must not freeze it. */
		ck_assert_ptr_nonnull(store_at(st, OBJ_ENDPOINT_SLICE, 0));
	}
	ck_assert_uint_eq(store_count(st, OBJ_ENDPOINT_SLICE), n);
	for (i = 0; i < n; i++) {
		o = store_at(st, OBJ_ENDPOINT_SLICE, i);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(o->kind, OBJ_ENDPOINT_SLICE);
		ck_assert_str_eq(o->meta.namespace, order_cases[i].ns);
		ck_assert_str_eq(o->meta.name, order_cases[i].name);
	}
	ck_assert_ptr_null(store_at(st, OBJ_ENDPOINT_SLICE, n));
	store_free(st);
}
END_TEST

/*
 * Many puts, replacements and deletes against a reference array: exercises
 * growth and backward-shift deletion across colliding probe runs.
 */
START_TEST(test_many)
{
	enum { N = 3000 };
	static char present[N];
	struct store *st;
	const struct obj *o, *prev;
	char name[32], ns[32];
	unsigned int seed = 12345;
	size_t i, count = 0, step;
	uint64_t version = 0;
	int k, r;

	memset(present, 0, sizeof(present));
	st = store_new();
	for (step = 0; step < 40000; step++) {
		seed = seed * 1103515245 + 12345;
		k = (int)((seed >> 8) % N);
		snprintf(ns, sizeof(ns), "ns%d", k % 7);
		snprintf(name, sizeof(name), "obj%d", k);
		if ((seed >> 4) % 3 != 0) {
			ck_assert_int_eq(store_put(st, mkobj(OBJ_INGRESS, ns,
			    name, NULL)), 0);
			if (!present[k])
				count++;
			present[k] = 1;
			version++;
		} else {
			r = store_delete(st, OBJ_INGRESS, ns, name);
			ck_assert_int_eq(r, present[k]);
			if (present[k]) {
				count--;
				version++;
			}
			present[k] = 0;
		}
		ck_assert_uint_eq(store_count(st, OBJ_INGRESS), count);
	}
	ck_assert_uint_eq(store_version(st), version);
	for (k = 0; k < N; k++) {
		snprintf(ns, sizeof(ns), "ns%d", k % 7);
		snprintf(name, sizeof(name), "obj%d", k);
		o = store_get(st, OBJ_INGRESS, ns, name);
		ck_assert_int_eq(o != NULL, present[k]);
	}
	prev = NULL;
	for (i = 0; i < count; i++) {
		o = store_at(st, OBJ_INGRESS, i);
		ck_assert_ptr_nonnull(o);
		if (prev != NULL) {
			r = strcmp(prev->meta.namespace, o->meta.namespace);
			ck_assert(r < 0 || (r == 0 &&
			    strcmp(prev->meta.name, o->meta.name) < 0));
		}
		prev = o;
	}
	store_free(st);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_put_get_replace);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_refuse);
	tcase_add_test(tc, test_cluster_scoped);
	tcase_add_loop_test(tc, test_order, 0, UTIL_NELEM(order_cases));
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
