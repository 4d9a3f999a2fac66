/*
 * Unit tests for master/control.c's request parser: every command, and
 * every way a request line can be refused, with the reason it gives.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/util.h"
#include "master/control.h"

static const struct {
	const char	*line;
	int		 cmd;
	const char	*err;		/* substring of the reason */
} cases[] = {
	{ "{\"cmd\":\"status\"}", CONTROL_CMD_STATUS, NULL },
	{ " { \"cmd\" : \"routes\" } ", CONTROL_CMD_ROUTES, NULL },
	{ "{\"cmd\":\"backends\",\"o\":\"json\"}", CONTROL_CMD_BACKENDS, NULL },
	{ "{\"x\":[1,{\"y\":2}],\"cmd\":\"reload\"}", CONTROL_CMD_RELOAD, NULL },
	{ "{\"cmd\":\"Status\"}", CONTROL_CMD_INVALID, "unknown cmd" },
	{ "{\"cmd\":\"stop\"}", CONTROL_CMD_INVALID, "unknown cmd \"stop\"" },
	{ "{\"cmd\":1}", CONTROL_CMD_INVALID, "string \"cmd\"" },
	{ "{\"command\":\"status\"}", CONTROL_CMD_INVALID, "string \"cmd\"" },
	{ "[\"status\"]", CONTROL_CMD_INVALID, "string \"cmd\"" },
	{ "\"status\"", CONTROL_CMD_INVALID, "string \"cmd\"" },
	{ "{\"cmd\":\"status\"} {}", CONTROL_CMD_INVALID, "trailing" },
	{ "{\"cmd\":\"status\"", CONTROL_CMD_INVALID, "incomplete" },
	{ "", CONTROL_CMD_INVALID, "incomplete" },
	{ "status", CONTROL_CMD_INVALID, "" },
	{ "{\"cmd\":\"sta\\u0000tus\"}", CONTROL_CMD_INVALID, "unknown cmd" },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	    CONTROL_CMD_INVALID, "" },
};

START_TEST(test_parse_table)
{
	char err[512];
	int cmd;

	err[0] = '\0';
	cmd = control_parse(cases[_i].line, err, sizeof(err));
	ck_assert_msg(cmd == cases[_i].cmd, "%s: got %d, want %d (%s)",
	    cases[_i].line, cmd, cases[_i].cmd, err);
	if (cases[_i].err != NULL) {
		ck_assert_msg(err[0] != '\0', "%s: no reason", cases[_i].line);
		ck_assert_msg(strstr(err, cases[_i].err) != NULL,
		    "%s: reason \"%s\" lacks \"%s\"", cases[_i].line, err,
		    cases[_i].err);
	}
}
END_TEST

START_TEST(test_parse_too_long)
{
	char *line, err[512];
	size_t n = CONTROL_MAX_REQUEST + 100;

	line = malloc(n + 1);
	ck_assert_ptr_nonnull(line);
	memset(line, ' ', n);
	memcpy(line, "{\"cmd\":\"status\"}", 16);
	line[n] = '\0';
	ck_assert_int_eq(control_parse(line, err, sizeof(err)),
	    CONTROL_CMD_INVALID);
	ck_assert(strstr(err, "too long") != NULL);
	free(line);
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_parse_table, 0, UTIL_NELEM(cases));
	tcase_add_test(tc, test_parse_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(control_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
