/*
 * Unit tests for master/kube_stream.c: line reassembly at every split
 * offset and with coalesced events, the event size limit, and event
 * decoding (types, resourceVersion, ERROR status, refusals).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"
#include "master/kube_stream.h"

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
    "\"resourceVersion\":\"5\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\","
    "\"resourceVersion\":\"6\"}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
    "{\"resourceVersion\":\"9\"}}}\n";

struct lines {
	char	 buf[1024];
	size_t	 len;
	int	 n;
	int	 stop_after;
};

static int
line_cb(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;

	ck_assert_uint_lt(l->len + len + 1, sizeof(l->buf));
	memcpy(l->buf + l->len, line, len);
	l->len += len;
	l->buf[l->len++] = '\n';
	l->n++;
	return l->stop_after != 0 && l->n == l->stop_after;
}

/* Every pair of cut points: the same three lines. */
START_TEST(test_split_everywhere)
{
	size_t len = sizeof(stream) - 1, i, j;
	struct kube_stream ks;
	struct lines l;

	for (i = 0; i <= len; i++)
		for (j = i; j <= len; j += 7) {
			memset(&ks, 0, sizeof(ks));
			memset(&l, 0, sizeof(l));
			ck_assert_int_eq(kube_stream_feed(&ks, stream, i,
			    line_cb, &l), 0);
			ck_assert_int_eq(kube_stream_feed(&ks, stream + i,
			    j - i, line_cb, &l), 0);
			ck_assert_int_eq(kube_stream_feed(&ks, stream + j,
			    len - j, line_cb, &l), 0);
			ck_assert_int_eq(l.n, 3);
			ck_assert_uint_eq(l.len, len);
			ck_assert(memcmp(l.buf, stream, len) == 0);
			kube_stream_reset(&ks);
		}
}
END_TEST

START_TEST(test_limits_and_stop)
{
	struct kube_stream ks = { .max = 16 };
	struct lines l;

	memset(&l, 0, sizeof(l));
	/* 16 bytes fit, 17 do not, whole or in pieces. */
	ck_assert_int_eq(kube_stream_feed(&ks, "0123456789abcdef\n", 17,
	    line_cb, &l), 0);
	ck_assert_int_eq(kube_stream_feed(&ks, "0123456789abcdefg\n", 18,
	    line_cb, &l), -1);
	kube_stream_reset(&ks);
	ck_assert_int_eq(kube_stream_feed(&ks, "0123456789", 10, line_cb,
	    &l), 0);
	ck_assert_int_eq(kube_stream_feed(&ks, "abcdefg", 7, line_cb, &l), -1);
	kube_stream_reset(&ks);
	/* Empty lines are skipped; the callback can stop the stream. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	ck_assert_int_eq(kube_stream_feed(&ks, "\n\na\n\nb\nc\n", 9, line_cb,
	    &l), 1);
	ck_assert_int_eq(l.n, 2);
	kube_stream_reset(&ks);
}
END_TEST

static const struct {
	const char		*line;
	int			 ok;
	enum kube_event_type	 type;
	const char		*rv;
	int			 code;
} event_cases[] = {
	{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":"
	    "\"7\"}}}", 1, KUBE_EVENT_ADDED, "7", 0 },
	{ "{\"type\":\"DELETED\",\"object\":{}}", 1, KUBE_EVENT_DELETED,
	    NULL, 0 },
	{ "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
	    "{\"resourceVersion\":\"12\"}}}", 1, KUBE_EVENT_BOOKMARK, "12", 0 },
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
	    "\"message\":\"too old\"}}", 1, KUBE_EVENT_ERROR, NULL, 410 },
	{ "{\"type\":\"BOOKMARK\",\"object\":{}}", 0, 0, NULL, 0 },
	{ "{\"type\":\"NOPE\",\"object\":{}}", 0, 0, NULL, 0 },
	{ "{\"type\":\"ADDED\"}", 0, 0, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":[]}", 0, 0, NULL, 0 },
	{ "{\"type\":1,\"object\":{}}", 0, 0, NULL, 0 },
	{ "[1]", 0, 0, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":{}} x", 0, 0, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":{", 0, 0, NULL, 0 },
};

START_TEST(test_event_parse)
{
	struct kube_event ev;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = kube_event_parse(event_cases[_i].line,
	    strlen(event_cases[_i].line), &ev, err, sizeof(err));
	if (!event_cases[_i].ok) {
		ck_assert_int_eq(rc, -1);
		ck_assert(err[0] != '\0');
		ck_assert_ptr_null(ev.object);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(ev.type, event_cases[_i].type);
	ck_assert_int_eq(ev.code, event_cases[_i].code);
	if (event_cases[_i].rv == NULL)
		ck_assert_ptr_null(ev.resource_version);
	else
		ck_assert_str_eq(ev.resource_version, event_cases[_i].rv);
	json_object_put(ev.object);
}
END_TEST

START_TEST(test_event_depth)
{
	struct kube_event ev;
	char line[512], err[256];
	int n, i;

	n = snprintf(line, sizeof(line), "{\"type\":\"ADDED\",\"object\":");
	for (i = 0; i < 100; i++)
		line[n++] = '[';
	line[n] = '\0';
	ck_assert_int_eq(kube_event_parse(line, n, &ev, err, sizeof(err)), -1);
}
END_TEST

static Suite *
kube_stream_suite(void)
{
	Suite *s = suite_create("kube_stream");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_split_everywhere);
	tcase_add_test(tc, test_limits_and_stop);
	tcase_add_loop_test(tc, test_event_parse, 0, UTIL_NELEM(event_cases));
	tcase_add_test(tc, test_event_depth);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(kube_stream_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
