/*
 * Unit tests for master/tls_certs.c: Secret checks (good RSA/EC pairs,
 * chains, bad PEM, mismatched key, expired, size and NUL limits), the
 * self-signed default, cipher-list checks, ticket keys.  Certificates are
 * made here with OpenSSL: no key material is committed.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "master/tls_certs.h"

static char err[512];

/* PEM of a new self-signed certificate valid from <from> to <to> seconds
 * from now, and of its key; both malloc'd. */
static void
mkcert(int rsa, long from, long to, char **crt, char **key)
{
	EVP_PKEY *pk;
	X509 *x;
	BIO *b;
	BUF_MEM *m;

	pk = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(pk);
	x = X509_new();
	ck_assert_ptr_nonnull(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"t.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ck_assert_int_ne(X509_sign(x, pk, EVP_sha256()), 0);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	BIO_get_mem_ptr(b, &m);
	*crt = strndup(m->data, m->length);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
	BIO_get_mem_ptr(b, &m);
	*key = strndup(m->data, m->length);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static int
check(const char *crt, const char *key, char **pem, int *expired)
{
	return tls_certs_check(crt, strlen(crt), key, strlen(key), pem,
	    expired, err, sizeof(err));
}

START_TEST(test_good_pairs)
{
	char *crt, *key, *pem;
	int expired, rsa;

	for (rsa = 0; rsa <= 1; rsa++) {
		mkcert(rsa, -60, 86400, &crt, &key);
		ck_assert_msg(check(crt, key, &pem, &expired) == 0, "%s", err);
		ck_assert_int_eq(expired, 0);
		/* chain first, then the key */
		ck_assert_int_eq(strncmp(pem, crt, strlen(crt)), 0);
		ck_assert_str_eq(pem + strlen(crt), key);
		free(pem);
		free(crt);
		free(key);
	}
}
END_TEST

START_TEST(test_chain)
{
	char *c1, *k1, *c2, *k2, *chain, *pem;
	int expired;

	mkcert(0, -60, 86400, &c1, &k1);
	mkcert(0, -60, 86400, &c2, &k2);
	ck_assert_int_ne(asprintf(&chain, "%s%s", c1, c2), -1);
	ck_assert_msg(check(chain, k1, &pem, &expired) == 0, "%s", err);
	free(pem);
	/* the key must match the first (leaf) certificate */
	ck_assert_int_eq(check(chain, k2, &pem, &expired), -1);
	ck_assert_ptr_null(pem);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));
	free(chain);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
}
END_TEST

START_TEST(test_refused)
{
	char *c1, *k1, *c2, *k2, *pem, big[8];
	char *huge;
	int expired;

	mkcert(1, -60, 86400, &c1, &k1);
	mkcert(0, -60, 86400, &c2, &k2);
	ck_assert_int_eq(check(c1, k2, &pem, &expired), -1);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));
	ck_assert_int_eq(check("-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n", k1, &pem, &expired), -1);
	ck_assert_ptr_nonnull(strstr(err, "tls.crt: no PEM certificate"));
	ck_assert_int_eq(check(c1, "garbage", &pem, &expired), -1);
	ck_assert_ptr_nonnull(strstr(err, "tls.key: no PEM private key"));
	ck_assert_int_eq(check("", k1, &pem, &expired), -1);
	ck_assert_ptr_nonnull(strstr(err, "missing"));
	/* a NUL inside */
	memcpy(big, "ab\0cd", 6);
	ck_assert_int_eq(tls_certs_check(c1, strlen(c1), big, 5, &pem,
	    &expired, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
	/* over the size limit */
	huge = malloc(TLS_CERTS_MAX_PEM + 1);
	ck_assert_ptr_nonnull(huge);
	memset(huge, 'A', TLS_CERTS_MAX_PEM + 1);
	ck_assert_int_eq(tls_certs_check(huge, TLS_CERTS_MAX_PEM + 1, k1,
	    strlen(k1), &pem, &expired, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "over"));
	free(huge);
	free(c1);
	free(k1);
	free(c2);
	free(k2);
}
END_TEST

/* An expired certificate is accepted, with the warning flag. */
START_TEST(test_expired)
{
	char *crt, *key, *pem;
	int expired;

	mkcert(0, -7200, -3600, &crt, &key);
	ck_assert_msg(check(crt, key, &pem, &expired) == 0, "%s", err);
	ck_assert_int_eq(expired, 1);
	free(pem);
	free(crt);
	free(key);
}
END_TEST

START_TEST(test_selfsigned)
{
	char *pem, *k;
	int expired;

	ck_assert_int_eq(tls_certs_selfsigned(&pem, err, sizeof(err)), 0);
	k = strstr(pem, "-----BEGIN PRIVATE KEY-----");
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(tls_certs_check(pem, (size_t)(k - pem), k, strlen(k),
	    NULL, &expired, err, sizeof(err)), 0);
	ck_assert_int_eq(expired, 0);
	free(pem);
}
END_TEST

START_TEST(test_settings)
{
	ck_assert_int_eq(tls_certs_settings_ok("ECDHE-RSA-AES128-GCM-SHA256",
	    "TLS_AES_128_GCM_SHA256", "X25519:prime256v1", err, sizeof(err)),
	    0);
	ck_assert_int_eq(tls_certs_settings_ok("NOPE", "TLS_AES_128_GCM_SHA256",
	    "X25519", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "tls.ciphers"));
	ck_assert_int_eq(tls_certs_settings_ok("HIGH", "NOPE", "X25519", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "tls.ciphersuites"));
	ck_assert_int_eq(tls_certs_settings_ok("HIGH",
	    "TLS_AES_128_GCM_SHA256", "nocurve", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "tls.curves"));
}
END_TEST

START_TEST(test_ticket_keys_differ)
{
	struct ipc_tls_key a, b;

	ck_assert_int_eq(tls_certs_ticket_key(&a), 0);
	ck_assert_int_eq(tls_certs_ticket_key(&b), 0);
	ck_assert_int_ne(memcmp(&a, &b, sizeof(a)), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tls_certs");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_good_pairs);
	tcase_add_test(tc, test_chain);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_selfsigned);
	tcase_add_test(tc, test_settings);
	tcase_add_test(tc, test_ticket_keys_differ);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
