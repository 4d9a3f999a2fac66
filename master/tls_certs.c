/*
 * tls_certs: certificate checks, the self-signed default certificate,
 * cipher-setting checks and session-ticket keys, for the master.
 *
 * Runs in the master only (compile calls tls_certs_check() on every
 * kubernetes.io/tls Secret an Ingress names).  Secret bytes are untrusted:
 * they are bounded before OpenSSL sees them and only parsed from memory.
 * Reads files only in tls_certs_load_files() (tls.default_*).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "master/tls_certs.h"

/* The last OpenSSL error as text, or <def>; clears the error queue. */
static const char *
tls_certs_ossl(const char *def, char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0) {
		ERR_clear_error();
		return def;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

int
tls_certs_check(const char *crt, size_t crtlen, const char *key,
    size_t keylen, char **pem, int *expired, char *err, size_t errlen)
{
	BIO *b = NULL;
	X509 *leaf = NULL, *x;
	EVP_PKEY *pk = NULL;
	char ebuf[160], *out;
	size_t n = 0;
	int rc = -1;

	*expired = 0;
	if (pem != NULL)
		*pem = NULL;
	if (crt == NULL || crtlen == 0 || key == NULL || keylen == 0) {
		snprintf(err, errlen, "tls.crt or tls.key is missing");
		return -1;
	}
	if (crtlen > TLS_CERTS_MAX_PEM || keylen > TLS_CERTS_MAX_PEM) {
		snprintf(err, errlen, "tls.crt or tls.key is over %u bytes",
		    TLS_CERTS_MAX_PEM);
		return -1;
	}
	if (memchr(crt, '\0', crtlen) != NULL ||
	    memchr(key, '\0', keylen) != NULL) {
		snprintf(err, errlen, "tls.crt or tls.key holds a NUL byte");
		return -1;
	}
	ERR_clear_error();
	if ((b = BIO_new_mem_buf(crt, (int)crtlen)) == NULL)
		goto nomem;
	if ((leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "tls.crt: no PEM certificate (%s)",
		    tls_certs_ossl("parse error", ebuf, sizeof(ebuf)));
		goto done;
	}
	/* The rest of the chain must parse too: the workers load it all. */
	for (n = 1; (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL;
	    n++) {
		X509_free(x);
		if (n >= TLS_CERTS_MAX_CHAIN) {
			snprintf(err, errlen, "tls.crt: more than %d "
			    "certificates", TLS_CERTS_MAX_CHAIN);
			goto done;
		}
	}
	ERR_clear_error();	/* the end of the chain reads as an error */
	BIO_free(b);
	if ((b = BIO_new_mem_buf(key, (int)keylen)) == NULL)
		goto nomem;
	/* No password callback: an encrypted key cannot be used. */
	if ((pk = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"")) ==
	    NULL) {
		snprintf(err, errlen, "tls.key: no PEM private key (%s)",
		    tls_certs_ossl("parse error", ebuf, sizeof(ebuf)));
		goto done;
	}
	if (X509_check_private_key(leaf, pk) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "tls.key does not match the certificate "
		    "in tls.crt");
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		*expired = 1;
	if (pem != NULL) {
		if ((out = malloc(crtlen + keylen + 2)) == NULL)
			goto nomem;
		memcpy(out, crt, crtlen);
		n = crtlen;
		if (out[n - 1] != '\n')
			out[n++] = '\n';
		memcpy(out + n, key, keylen);
		out[n + keylen] = '\0';
		*pem = out;
	}
	rc = 0;
	goto done;
 nomem:
	snprintf(err, errlen, "out of memory");
 done:
	BIO_free(b);
	X509_free(leaf);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return rc;
}

/* Reads <path> whole, at most TLS_CERTS_MAX_PEM bytes; NULL on error. */
static char *
tls_certs_read(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)TLS_CERTS_MAX_PEM) {
		snprintf(err, errlen, "%s: not a regular file of at most %u "
		    "bytes", path, TLS_CERTS_MAX_PEM);
		goto bad;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto bad;
	}
	while (*len < (size_t)st.st_size) {
		n = read(fd, buf + *len, (size_t)st.st_size - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", path, n == 0 ?
			    "file shrank while read" : strerror(errno));
			goto bad;
		}
		*len += (size_t)n;
	}
	close(fd);
	return buf;
 bad:
	free(buf);
	close(fd);
	return NULL;
}

int
tls_certs_load_files(const char *crtpath, const char *keypath, char **pem,
    char *err, size_t errlen)
{
	char *crt, *key = NULL, reason[256];
	size_t crtlen, keylen;
	int expired, rc = -1;

	*pem = NULL;
	if ((crt = tls_certs_read(crtpath, &crtlen, err, errlen)) == NULL ||
	    (key = tls_certs_read(keypath, &keylen, err, errlen)) == NULL)
		goto done;
	if (tls_certs_check(crt, crtlen, key, keylen, pem, &expired, reason,
	    sizeof(reason)) == -1) {
		snprintf(err, errlen, "%s, %s: %s", crtpath, keypath, reason);
		goto done;
	}
	rc = 0;
 done:
	free(crt);
	free(key);
	return rc;
}

/* The PEM of <x> then <pk> in one malloc'd string, or NULL. */
static char *
tls_certs_pem_of(X509 *x, EVP_PKEY *pk)
{
	BIO *b;
	BUF_MEM *m;
	char *out = NULL;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (PEM_write_bio_X509(b, x) == 1 &&
	    PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
	    BIO_get_mem_ptr(b, &m) == 1 && (out = malloc(m->length + 1)) !=
	    NULL) {
		memcpy(out, m->data, m->length);
		out[m->length] = '\0';
	}
	BIO_free(b);
	return out;
}

int
tls_certs_selfsigned(char **pem, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char ebuf[160];
	int rc = -1;

	*pem = NULL;
	if ((pk = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
	    RAND_bytes(serial, sizeof(serial)) != 1)
		goto bad;
	serial[0] &= 0x7f;	/* a positive serial number */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) ==
	    NULL || X509_set_pubkey(x, pk) != 1)
		goto bad;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"ingressd default", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_sign(x, pk, EVP_sha256()) == 0)
		goto bad;
	if ((*pem = tls_certs_pem_of(x, pk)) == NULL)
		goto bad;
	rc = 0;
	goto done;
 bad:
	snprintf(err, errlen, "self-signed certificate: %s",
	    tls_certs_ossl("out of memory", ebuf, sizeof(ebuf)));
 done:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

int
tls_certs_settings_ok(const char *ciphers, const char *suites,
    const char *curves, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	const char *what = NULL;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
		what = "tls.ciphers";
	else if (SSL_CTX_set_ciphersuites(ctx, suites) != 1)
		what = "tls.ciphersuites";
	else if (SSL_CTX_set1_groups_list(ctx, curves) != 1)
		what = "tls.curves";
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (what == NULL)
		return 0;
	snprintf(err, errlen, "%s: OpenSSL accepts none of the names given",
	    what);
	return -1;
}

int
tls_certs_ticket_key(struct ipc_tls_key *k)
{
	if (RAND_bytes((unsigned char *)k, sizeof(*k)) != 1)
		return -1;
	return 0;
}
