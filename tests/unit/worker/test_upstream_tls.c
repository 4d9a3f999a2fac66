/*
 * test_upstream_tls: unit tests for worker/upstream_tls.c without a
 * network: the TLS identity of backends (what pools and sessions are keyed
 * by), and whole handshakes over a socketpair against an in-process
 * OpenSSL server with a certificate made here: verification by CA and
 * name, I/O through upstream_io_*, and session resumption from the cache.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/upstream_tls.h"

static EVP_PKEY	*srv_key;
static X509	*srv_cert;
static char	*srv_pem;		/* the certificate: its own CA */

/* A self-signed P-256 certificate for DNS:test.svc. */
static void
make_cert(void)
{
	X509_NAME *n;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	BIO *bio;
	char *p;
	long len;

	if (srv_pem != NULL)
		return;
	ck_assert_ptr_nonnull(srv_key = EVP_EC_gen("P-256"));
	ck_assert_ptr_nonnull(srv_cert = X509_new());
	X509_set_version(srv_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(srv_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(srv_cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(srv_cert), 3600);
	X509_set_pubkey(srv_cert, srv_key);
	n = X509_get_subject_name(srv_cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test.svc", -1, -1, 0);
	X509_set_issuer_name(srv_cert, n);
	X509V3_set_ctx(&v3, srv_cert, srv_cert, NULL, NULL, 0);
	ck_assert_ptr_nonnull(ext = X509V3_EXT_conf_nid(NULL, &v3,
	    NID_subject_alt_name, "DNS:test.svc"));
	X509_add_ext(srv_cert, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(srv_cert, srv_key, EVP_sha256()), 0);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, srv_cert);
	len = BIO_get_mem_data(bio, &p);
	srv_pem = calloc(1, (size_t)len + 1);
	memcpy(srv_pem, p, (size_t)len);
	BIO_free(bio);
}

/*
 * A snapshot of three backends: plain; TLS verified against <pem> with
 * server name <name>; TLS unverified.  Caller frees *<blob>.
 */
static void
make_snapshot(struct snapshot *s, void **blob, const char *pem,
    const char *name)
{
	struct route_table rt;
	struct route_backend *b;
	char err[256];
	size_t len, i;

	memset(&rt, 0, sizeof(rt));
	rt.default_backend = -1;
	rt.nbackends = 3;
	ck_assert_ptr_nonnull(rt.backends = calloc(3, sizeof(*rt.backends)));
	for (i = 0; i < 3; i++) {
		b = &rt.backends[i];
		ck_assert_ptr_nonnull(b->name = strdup(i == 0 ? "ns/plain:80" :
		    i == 1 ? "ns/tls:443" : "ns/off:443"));
	}
	ck_assert_ptr_nonnull(rt.cas = calloc(1, sizeof(*rt.cas)));
	rt.ncas = 1;
	ck_assert_ptr_nonnull(rt.cas[0].pem = strdup(pem));
	rt.cas[0].len = strlen(pem);
	b = &rt.backends[1];
	b->tls.enabled = b->tls.verify = 1;
	b->tls.ca = 0;
	ck_assert_ptr_nonnull(b->tls.server_name = strdup(name));
	b = &rt.backends[2];
	b->tls.enabled = 1;
	b->tls.ca = -1;
	ck_assert_int_eq(snapshot_encode(&rt, 1, blob, &len, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(snapshot_open(s, *blob, len, err, sizeof(err)), 0);
	route_table_free(&rt);
}

START_TEST(test_key)
{
	struct snapshot s1, s2, s3;
	void *b1, *b2, *b3;

	make_snapshot(&s1, &b1, "PEM A", "a.svc");
	make_snapshot(&s2, &b2, "PEM A", "a.svc");
	make_snapshot(&s3, &b3, "PEM B", "b.svc");
	ck_assert_uint_eq(upstream_tls_key(&s1, 0), 0);
	ck_assert_uint_ne(upstream_tls_key(&s1, 1), 0);
	ck_assert_uint_ne(upstream_tls_key(&s1, 2), 0);
	/* The same settings in another snapshot: the same identity. */
	ck_assert_uint_eq(upstream_tls_key(&s1, 1), upstream_tls_key(&s2, 1));
	/* Another CA and name, or no verification: another identity. */
	ck_assert_uint_ne(upstream_tls_key(&s1, 1), upstream_tls_key(&s3, 1));
	ck_assert_uint_ne(upstream_tls_key(&s1, 1), upstream_tls_key(&s1, 2));
	free(b1);
	free(b2);
	free(b3);
}
END_TEST

/* The in-process server side of a socketpair. */
struct server {
	SSL_CTX	*ctx;
	SSL	*ssl;
	int	 fd;
};

static void
server_ctx(struct server *sv)
{
	ck_assert_ptr_nonnull(sv->ctx = SSL_CTX_new(TLS_server_method()));
	ck_assert_int_eq(SSL_CTX_use_certificate(sv->ctx, srv_cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(sv->ctx, srv_key), 1);
}

/*
 * Connects a client upstream_io for backend <idx> of <s> to a new server
 * SSL over a socketpair and drives both handshakes, at most 200 steps.
 * Returns the client's result; *<cfd> is its fd.
 */
static enum upstream_tls_hs
handshake(struct server *sv, const struct snapshot *s, uint32_t idx,
    struct upstream_io *io, int *cfd)
{
	struct sockaddr_in sin;
	enum upstream_tls_hs r = UPSTREAM_TLS_HS_AGAIN;
	int sp[2], i, srv_done = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sp), 0);
	*cfd = sp[0];
	sv->fd = sp[1];
	ck_assert_ptr_nonnull(sv->ssl = SSL_new(sv->ctx));
	SSL_set_fd(sv->ssl, sv->fd);
	SSL_set_accept_state(sv->ssl);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8443);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	memset(io, 0, sizeof(*io));
	ck_assert_int_eq(upstream_tls_start(io, *cfd, s, idx,
	    (struct sockaddr *)&sin), 0);
	for (i = 0; i < 200 && r == UPSTREAM_TLS_HS_AGAIN; i++) {
		r = upstream_tls_handshake(io);
		if (!srv_done && SSL_do_handshake(sv->ssl) == 1)
			srv_done = 1;
	}
	ck_assert_int_ne(r, UPSTREAM_TLS_HS_AGAIN);
	return r;
}

static void
server_close(struct server *sv)
{
	SSL_free(sv->ssl);
	sv->ssl = NULL;
	close(sv->fd);
}

/* What the client side reads (bounded retries while it would block). */
static ssize_t
client_read(struct upstream_io *io, int fd, char *buf, size_t len)
{
	ssize_t n = -1;
	int i;

	for (i = 0; i < 200; i++) {
		n = upstream_io_recv(io, fd, buf, len);
		if (n != -1 || errno != EAGAIN)
			break;
	}
	return n;
}

START_TEST(test_handshake_io_resume)
{
	struct server sv;
	struct snapshot s;
	struct upstream_io io;
	struct iovec iov[2];
	char buf[64];
	size_t n;
	void *blob;
	int fd, round;

	make_cert();
	make_snapshot(&s, &blob, srv_pem, "test.svc");
	server_ctx(&sv);
	for (round = 0; round < 2; round++) {
		ck_assert_int_eq(handshake(&sv, &s, 1, &io, &fd),
		    UPSTREAM_TLS_HS_DONE);
		/* The second connection resumes the first one's session. */
		ck_assert_int_eq(SSL_session_reused(io.ssl), round == 1);
		iov[0].iov_base = "GET / HTTP/1.1\r\n";
		iov[0].iov_len = 16;
		iov[1].iov_base = "\r\n";
		iov[1].iov_len = 2;
		ck_assert_int_eq(upstream_io_sendv(&io, fd, iov, 2), 18);
		ck_assert_int_eq(SSL_read_ex(sv.ssl, buf, sizeof(buf), &n), 1);
		ck_assert_uint_eq(n, 16);	/* one record per piece */
		ck_assert_mem_eq(buf, "GET / HTTP/1.1\r\n", 16);
		ck_assert_int_eq(SSL_read_ex(sv.ssl, buf, sizeof(buf), &n), 1);
		ck_assert_uint_eq(n, 2);
		ck_assert_int_eq(SSL_write(sv.ssl, "HTTP/1.1 200 OK\r\n", 17),
		    17);
		/* Tickets come first, then the data. */
		ck_assert_int_eq(client_read(&io, fd, buf, sizeof(buf)),
		    17);
		ck_assert_int_eq(upstream_io_pending(&io), 0);
		/* Nothing more: the idle check keeps the connection. */
		ck_assert_int_eq(upstream_io_idle_ok(&io, fd), 1);
		/* close_notify read as EOF. */
		SSL_shutdown(sv.ssl);
		ck_assert_int_eq(client_read(&io, fd, buf, sizeof(buf)),
		    0);
		upstream_io_close(&io, fd);
		ck_assert_ptr_null(io.ssl);
		server_close(&sv);
	}
	SSL_CTX_free(sv.ctx);
	free(blob);
}
END_TEST

START_TEST(test_verify_failures)
{
	struct server sv;
	struct snapshot s;
	struct upstream_io io;
	void *blob;
	int fd;

	make_cert();
	server_ctx(&sv);

	/* The right CA, another name. */
	make_snapshot(&s, &blob, srv_pem, "other.svc");
	ck_assert_int_eq(handshake(&sv, &s, 1, &io, &fd),
	    UPSTREAM_TLS_HS_FAILED);
	ck_assert_uint_eq(io.verify_error, X509_V_ERR_HOSTNAME_MISMATCH);
	upstream_io_close(&io, fd);
	server_close(&sv);

	/* No usable CA: nothing is trusted. */
	free(blob);
	make_snapshot(&s, &blob, "not a certificate", "test.svc");
	ck_assert_int_eq(handshake(&sv, &s, 1, &io, &fd),
	    UPSTREAM_TLS_HS_FAILED);
	ck_assert_uint_ne(io.verify_error, X509_V_OK);
	upstream_io_close(&io, fd);
	server_close(&sv);

	/* Verification off: the same server is accepted. */
	ck_assert_int_eq(handshake(&sv, &s, 2, &io, &fd),
	    UPSTREAM_TLS_HS_DONE);
	upstream_io_close(&io, fd);
	server_close(&sv);
	SSL_CTX_free(sv.ctx);
	free(blob);
}
END_TEST

static Suite *
upstream_tls_suite(void)
{
	Suite *s = suite_create("upstream_tls");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_key);
	tcase_add_test(tc, test_handshake_io_resume);
	tcase_add_test(tc, test_verify_failures);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	char err[128];
	int nfailed;

	log_init(1, LOG_LEVEL_ERROR);
	if (upstream_tls_init(err, sizeof(err)) == -1)
		return 1;
	sr = srunner_create(upstream_tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	X509_free(srv_cert);
	EVP_PKEY_free(srv_key);
	free(srv_pem);
	return nfailed == 0 ? 0 : 1;
}
