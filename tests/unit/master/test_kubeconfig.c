/*
 * Unit tests for master/kubeconfig.c: kubeconfig files (contexts, data and
 * file fields, relative paths, refusals), in-cluster config through the
 * test-only service-account directory override, token file rotation.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "master/kubeconfig.h"

static const char full[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: b\n"
    "clusters:\n"
    "- name: one\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443\n"
    "- name: two\n"
    "  cluster:\n"
    "    server: https://[::1]:8443/\n"
    "    certificate-authority-data: UEVNIENB\n"	/* "PEM CA" */
    "    certificate-authority: certs/ca.crt\n"
    "contexts:\n"
    "- name: a\n"
    "  context: {cluster: one, user: u1}\n"
    "- name: b\n"
    "  context: {cluster: two, user: u2, namespace: shop}\n"
    "users:\n"
    "- name: u1\n"
    "  user: {token: one}\n"
    "- name: u2\n"
    "  user:\n"
    "    token: s3cret\n"
    "    client-certificate-data: Q0VSVA==\n"	/* "CERT" */
    "    client-key: /abs/key.pem\n";

START_TEST(test_full)
{
	struct kubeconfig kc;
	char err[256];

	ck_assert_int_eq(kubeconfig_parse("kc", full, sizeof(full) - 1,
	    "/etc/k", &kc, err, sizeof(err)), 0);
	ck_assert_str_eq(kc.server, "https://[::1]:8443");
	ck_assert_str_eq(kc.ca_file, "/etc/k/certs/ca.crt");
	ck_assert_uint_eq(kc.ca_data_len, 6);
	ck_assert_str_eq(kc.ca_data, "PEM CA");
	ck_assert_str_eq(kc.namespace, "shop");
	ck_assert_str_eq(kc.token, "s3cret");
	ck_assert_str_eq(kc.cert_data, "CERT");
	ck_assert_str_eq(kc.key_file, "/abs/key.pem");
	ck_assert_int_eq(kc.insecure, 0);
	kubeconfig_free(&kc);
}
END_TEST

static const struct {
	const char	*doc;
	const char	*err;
} bad_cases[] = {
	{ "kind: Config\n", "no current-context" },
	{ "current-context: x\n", "context \"x\" not found" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
	    "cluster \"c\" of context \"x\" not found" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	    "clusters: [{name: c, cluster: {server: 'http://a'}}]\n",
	    "server must be an https:// URL" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, "
	    "user: u}}]\nclusters: [{name: c, cluster: {server: 'https://a'}}]"
	    "\n", "user \"u\" of context \"x\" not found" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	    "clusters: [{name: c, cluster: {server: 'https://a', "
	    "certificate-authority-data: '!!'}}]\n", "not base64" },
	{ "current-context: x\ncontexts: [{name: x, context: {cluster: c, "
	    "user: u}}]\nclusters: [{name: c, cluster: {server: 'https://a'}}]"
	    "\nusers: [{name: u, user: {client-key: k}}]\n",
	    "needs its key and a key its certificate" },
	{ "current-context: [1]\n", "current-context must be a string" },
	{ "- a\n- b\n", "not a kubeconfig" },
	{ "a: [\n", "kc" },
};

START_TEST(test_bad)
{
	struct kubeconfig kc;
	char err[256];
	const char *d = bad_cases[_i].doc;

	err[0] = '\0';
	ck_assert_int_eq(kubeconfig_parse("kc", d, strlen(d), ".", &kc, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_cases[_i].err) != NULL, "%s: got %s",
	    d, err);
	ck_assert_ptr_null(kc.server);
}
END_TEST

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_in_cluster_and_rotation)
{
	struct kubeconfig kc;
	char dir[] = "/tmp/ingressd-kcXXXXXX", path[256], err[256];
	struct timespec ts[2];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, "tok-1\n");
	snprintf(path, sizeof(path), "%s/namespace", dir);
	write_file(path, "ingressd\n");
	setenv(KUBECONFIG_SA_DIR_ENV, dir, 1);

	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(kubeconfig_load(NULL, &kc, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "KUBERNETES_SERVICE_HOST"));

	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	ck_assert_int_eq(kubeconfig_load(NULL, &kc, err, sizeof(err)), 0);
	ck_assert_str_eq(kc.server, "https://[fd00::1]:6443");
	ck_assert_str_eq(kc.token, "tok-1");
	ck_assert_str_eq(kc.namespace, "ingressd");
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	ck_assert_str_eq(kc.ca_file, path);

	/* Unchanged: not re-read.  Rewritten: the new token. */
	ck_assert_int_eq(kubeconfig_refresh_token(&kc, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, "tok-22\n");
	ck_assert_int_eq(kubeconfig_refresh_token(&kc, err, sizeof(err)), 1);
	ck_assert_str_eq(kc.token, "tok-22");
	/* Same size, same second: the nanoseconds or inode still differ. */
	write_file(path, "tok-33\n");
	ts[0].tv_sec = ts[1].tv_sec = 1000;
	ts[0].tv_nsec = ts[1].tv_nsec = 5;
	utimensat(AT_FDCWD, path, ts, 0);
	ck_assert_int_eq(kubeconfig_refresh_token(&kc, err, sizeof(err)), 1);
	ck_assert_str_eq(kc.token, "tok-33");
	/* Gone: error, the last token stays. */
	unlink(path);
	ck_assert_int_eq(kubeconfig_refresh_token(&kc, err, sizeof(err)), -1);
	ck_assert_str_eq(kc.token, "tok-33");
	kubeconfig_free(&kc);

	snprintf(path, sizeof(path), "%s/namespace", dir);
	unlink(path);
	rmdir(dir);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv(KUBECONFIG_SA_DIR_ENV);
}
END_TEST

START_TEST(test_token_file_relative)
{
	struct kubeconfig kc;
	char dir[] = "/tmp/ingressd-kcXXXXXX", path[256], err[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tok", dir);
	write_file(path, "from-file");
	snprintf(path, sizeof(path), "%s/config", dir);
	write_file(path, "{\"current-context\": \"x\", \"contexts\": [{\"name\":"
	    " \"x\", \"context\": {\"cluster\": \"c\", \"user\": \"u\"}}], "
	    "\"clusters\": [{\"name\": \"c\", \"cluster\": {\"server\": "
	    "\"https://h:1\", \"insecure-skip-tls-verify\": true}}], "
	    "\"users\": [{\"name\": \"u\", \"user\": {\"tokenFile\": "
	    "\"tok\"}}]}\n");
	ck_assert_int_eq(kubeconfig_load(path, &kc, err, sizeof(err)), 0);
	ck_assert_str_eq(kc.token, "from-file");
	ck_assert_int_eq(kc.insecure, 1);
	ck_assert_ptr_null(kc.namespace);
	kubeconfig_free(&kc);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tok", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *
kubeconfig_suite(void)
{
	Suite *s = suite_create("kubeconfig");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_full);
	tcase_add_loop_test(tc, test_bad, 0, UTIL_NELEM(bad_cases));
	tcase_add_test(tc, test_in_cluster_and_rotation);
	tcase_add_test(tc, test_token_file_relative);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(kubeconfig_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
