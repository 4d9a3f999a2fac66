/*
 * upstream_tls: plain or TLS I/O toward backends (see upstream_tls.h).
 *
 * Runs in workers, in the libev loop, sandboxed: nothing here blocks or
 * opens a file.  OpenSSL reads the socket with read()/write() through its
 * socket BIO (SIGPIPE is ignored in workers).  Its error queue is per
 * thread and sticky, so it is cleared before each call whose outcome
 * SSL_get_error() judges.
 *
 * Caches, both bounded and kept across snapshots:
 *  - contexts: one SSL_CTX per (CA bundle hash and length, verify), the
 *    least recently used dropped beyond UTLS_CTX_MAX (connections hold
 *    their own reference);
 *  - sessions: direct-mapped by a hash of the TLS identity
 *    (upstream_tls_key()) and the endpoint address; a newer session for
 *    the same slot replaces the old one.  TLS 1.3 sessions arrive after
 *    the handshake (NewSessionTicket), hence the new-session callback.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/log.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/upstream_tls.h"

#define UTLS_CTX_MAX		16	/* distinct trust settings kept */
#define UTLS_SESS_SLOTS		1024	/* power of two */
#define UTLS_BACKEND_MAX	128	/* backend name kept for logs */

/* One SSL_CTX by trust settings. */
struct utls_ctx {
	SSL_CTX		*ctx;		/* NULL: free slot */
	uint64_t	 hash;		/* of the PEM; 0 with !verify */
	size_t		 len;
	int		 verify;
	uint64_t	 used;		/* LRU clock */
};

/* What a connection's SSL carries for callbacks and logs (ex_data). */
struct utls_conn {
	uint64_t	 sess_key;
	char		 ep[UTIL_ADDRSTRLEN];
	char		 backend[UTLS_BACKEND_MAX];
};

struct utls_sess {
	uint64_t	 key;
	SSL_SESSION	*sess;
};

static struct utls_ctx	 utls_ctxs[UTLS_CTX_MAX];
static uint64_t		 utls_clock;
static struct utls_sess	 utls_sess[UTLS_SESS_SLOTS];
static int		 utls_exidx = -1;

static const unsigned char utls_alpn[] = "\x08http/1.1";

static void
utls_conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	free(ptr);
}

int
upstream_tls_init(char *err, size_t errlen)
{
	unsigned char b;
	SSL_CTX *ctx;

	/* The configuration file and the default provider load now, while
	 * there is a filesystem; the DRBG seeds itself from getrandom(). */
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
	    RAND_bytes(&b, 1) != 1 ||
	    (utls_exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
	    utls_conn_free)) == -1) {
		snprintf(err, errlen, "OpenSSL initialisation failed");
		return -1;
	}
	/* A throwaway context fetches the client method's algorithms. */
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new failed");
		return -1;
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return 0;
}

uint64_t
upstream_tls_key(const struct snapshot *s, uint32_t idx)
{
	struct snapshot_upstream_tls t;
	struct snapshot_ca ca;
	uint8_t buf[24 + SNAPSHOT_MAX_SERVER_NAME];
	uint64_t h;

	snapshot_upstream_tls(s, idx, &t);
	if (!t.enabled)
		return 0;
	memset(buf, 0, 24);
	if (t.verify) {
		snapshot_ca(s, (uint32_t)t.ca, &ca);
		memcpy(buf, &ca.hash, 8);
		memcpy(buf + 8, &ca.len, sizeof(ca.len) < 8 ? sizeof(ca.len) :
		    8);
		buf[16] = 1;
	}
	/* snapshot_open() bounded the name by SNAPSHOT_MAX_SERVER_NAME. */
	memcpy(buf + 24, t.server_name, t.server_namelen);
	h = util_hash64(buf, 24 + t.server_namelen);
	return h == 0 ? 1 : h;
}

/* Keeps the session a server just gave us (TLS 1.3: after the
 * handshake); returning 1 keeps our reference. */
static int
utls_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct utls_conn *uc = SSL_get_ex_data(ssl, utls_exidx);
	struct utls_sess *slot;

	if (uc == NULL)
		return 0;
	slot = &utls_sess[uc->sess_key & (UTLS_SESS_SLOTS - 1)];
	SSL_SESSION_free(slot->sess);
	slot->key = uc->sess_key;
	slot->sess = sess;
	return 1;
}

/* Adds the certificates of the PEM bundle to <st>; bad blocks are
 * skipped (and an empty store trusts nothing). */
static void
utls_load_pem(X509_STORE *st, const char *pem, size_t len)
{
	BIO *bio;
	X509 *x;
	size_t n = 0;

	if (len == 0 || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1)
			n++;
		X509_free(x);
	}
	BIO_free(bio);
	ERR_clear_error();
	log_debug("backend TLS: %zu CA certificate(s) loaded", n);
}

/* The context for the trust settings of <t> in <s>; NULL: no memory. */
static SSL_CTX *
utls_ctx_get(const struct snapshot *s, const struct snapshot_upstream_tls *t)
{
	struct utls_ctx *e, *victim = NULL;
	struct snapshot_ca ca;
	SSL_CTX *ctx;
	size_t i;

	memset(&ca, 0, sizeof(ca));
	if (t->verify)
		snapshot_ca(s, (uint32_t)t->ca, &ca);
	for (i = 0; i < UTLS_CTX_MAX; i++) {
		e = &utls_ctxs[i];
		if (e->ctx != NULL && e->verify == (int)t->verify &&
		    e->hash == ca.hash && e->len == ca.len) {
			e->used = ++utls_clock;
			return e->ctx;
		}
		if (victim == NULL || e->ctx == NULL ||
		    (victim->ctx != NULL && e->used < victim->used))
			victim = e;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* proxy_upstream.c offers moved and grown buffers after a partial
	 * write. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* Many servers close without close_notify; HTTP framing tells
	 * where a body ends, as nginx also assumes. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, utls_new_session_cb);
	SSL_CTX_set_verify(ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	if (t->verify)
		utls_load_pem(SSL_CTX_get_cert_store(ctx), ca.pem, ca.len);
	SSL_CTX_free(victim->ctx);
	victim->ctx = ctx;
	victim->hash = ca.hash;
	victim->len = ca.len;
	victim->verify = t->verify;
	victim->used = ++utls_clock;
	return ctx;
}

/* 1 when <name> (counted) is an IP literal: no SNI for those. */
static int
utls_is_ip(const char *name, size_t len)
{
	char buf[64];
	struct in6_addr a6;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, &a6) == 1 ||
	    inet_pton(AF_INET6, buf, &a6) == 1;
}

/*
 * TLS settings of one backend: filled from the snapshot on the stack for
 * each new proxied connection (<ctx> borrowed from the cache), or kept on
 * the heap for a health probe (<ctx> referenced).
 */
struct upstream_tls_conf {
	SSL_CTX		*ctx;
	int		 verify;
	uint64_t	 key;
	char		 name[SNAPSHOT_MAX_SERVER_NAME + 1];	/* "": none */
	size_t		 namelen;
	char		 backend[UTLS_BACKEND_MAX];
};

/* Fills <tc> for backend <idx> of <s> (TLS on); 0, or -1: no memory. */
static int
utls_conf_fill(struct upstream_tls_conf *tc, const struct snapshot *s,
    uint32_t idx)
{
	struct snapshot_upstream_tls t;
	struct snapshot_backend b;

	snapshot_upstream_tls(s, idx, &t);
	snapshot_backend(s, idx, &b);
	if ((tc->ctx = utls_ctx_get(s, &t)) == NULL)
		return -1;
	tc->verify = t.verify;
	tc->key = upstream_tls_key(s, idx);
	memcpy(tc->name, t.server_name, t.server_namelen);
	tc->name[t.server_namelen] = '\0';
	tc->namelen = t.server_namelen;
	snprintf(tc->backend, sizeof(tc->backend), "%.*s", (int)b.namelen,
	    b.name);
	return 0;
}

struct upstream_tls_conf *
upstream_tls_conf_new(const struct snapshot *s, uint32_t idx)
{
	struct upstream_tls_conf *tc;

	if (upstream_tls_key(s, idx) == 0 ||
	    (tc = calloc(1, sizeof(*tc))) == NULL)
		return NULL;
	if (utls_conf_fill(tc, s, idx) == -1) {
		free(tc);
		return NULL;
	}
	SSL_CTX_up_ref(tc->ctx);
	return tc;
}

void
upstream_tls_conf_free(struct upstream_tls_conf *tc)
{
	if (tc == NULL)
		return;
	SSL_CTX_free(tc->ctx);
	free(tc);
}

int
upstream_tls_conf_same(const struct upstream_tls_conf *a,
    const struct upstream_tls_conf *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->key == b->key;
}

int
upstream_tls_start_conf(struct upstream_io *io, int fd,
    const struct upstream_tls_conf *tc, const struct sockaddr *sa)
{
	struct utls_conn *uc = NULL;
	struct utls_sess *slot;
	uint8_t kb[8 + sizeof(struct sockaddr_in6)];
	SSL *ssl = NULL;
	int owned = 0;

	ERR_clear_error();
	if ((uc = calloc(1, sizeof(*uc))) == NULL ||
	    (ssl = SSL_new(tc->ctx)) == NULL ||
	    SSL_set_ex_data(ssl, utls_exidx, uc) != 1)
		goto bad;
	owned = 1;	/* freed with the SSL from here on */
	util_format_sockaddr(sa, uc->ep, sizeof(uc->ep));
	memcpy(uc->backend, tc->backend, sizeof(uc->backend));
	if (tc->namelen > 0 && !utls_is_ip(tc->name, tc->namelen) &&
	    SSL_set_tlsext_host_name(ssl, tc->name) != 1)
		goto bad;
	/* The name to verify: DNS names and IP literals alike (OpenSSL 3). */
	if (tc->verify && tc->namelen > 0 && SSL_set1_host(ssl,
	    tc->name) != 1)
		goto bad;
	if (SSL_set_alpn_protos(ssl, utls_alpn, sizeof(utls_alpn) - 1) != 0 ||
	    SSL_set_fd(ssl, fd) != 1)
		goto bad;
	SSL_set_connect_state(ssl);

	/* Sessions by identity and endpoint: pods do not share tickets. */
	memset(kb, 0, sizeof(kb));
	memcpy(kb, &tc->key, 8);
	if (sa->sa_family == AF_INET)
		memcpy(kb + 8, sa, sizeof(struct sockaddr_in));
	else
		memcpy(kb + 8, sa, sizeof(struct sockaddr_in6));
	uc->sess_key = util_hash64(kb, sizeof(kb));
	slot = &utls_sess[uc->sess_key & (UTLS_SESS_SLOTS - 1)];
	if (slot->sess != NULL && slot->key == uc->sess_key &&
	    SSL_SESSION_is_resumable(slot->sess))
		(void)SSL_set_session(ssl, slot->sess);
	io->ssl = ssl;
	io->want_read = 0;
	io->want_write = 1;	/* the ClientHello goes first */
	return 0;
 bad:
	if (!owned)
		free(uc);
	SSL_free(ssl);
	ERR_clear_error();
	return -1;
}

int
upstream_tls_start(struct upstream_io *io, int fd, const struct snapshot *s,
    uint32_t idx, const struct sockaddr *sa)
{
	struct upstream_tls_conf tc;

	if (utls_conf_fill(&tc, s, idx) == -1)
		return -1;
	return upstream_tls_start_conf(io, fd, &tc, sa);
}

/* Why the handshake on <ssl> failed (<rc> from SSL_do_handshake()). */
static void
utls_reason(SSL *ssl, int rc, char *buf, size_t len)
{
	unsigned long e;
	long vr;
	int saved = errno;

	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
		return;
	}
	if ((e = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(e, buf, len);
		return;
	}
	if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && saved != 0)
		snprintf(buf, len, "%s", strerror(saved));
	else
		snprintf(buf, len, "connection closed during the handshake");
}

enum upstream_tls_hs
upstream_tls_handshake(struct upstream_io *io)
{
	struct utls_conn *uc;
	char why[256];
	int rc;

	io->want_read = io->want_write = 0;
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_do_handshake(io->ssl)) == 1)
		return UPSTREAM_TLS_HS_DONE;
	switch (SSL_get_error(io->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		io->want_read = 1;
		return UPSTREAM_TLS_HS_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		io->want_write = 1;
		return UPSTREAM_TLS_HS_AGAIN;
	default:
		break;
	}
	uc = SSL_get_ex_data(io->ssl, utls_exidx);
	io->verify_error = (uint32_t)SSL_get_verify_result(io->ssl);
	utls_reason(io->ssl, rc, why, sizeof(why));
	if (io->quiet)
		log_debug("backend %s: TLS to endpoint %s failed: %s",
		    uc != NULL ? uc->backend : "?", uc != NULL ? uc->ep : "?",
		    why);
	else
		log_warnx("backend %s: TLS to endpoint %s failed: %s",
		    uc != NULL ? uc->backend : "?", uc != NULL ? uc->ep : "?",
		    why);
	ERR_clear_error();
	return UPSTREAM_TLS_HS_FAILED;
}

/* Maps a failed SSL_read/SSL_write to errno; -1 or 0 (EOF). */
static ssize_t
utls_fail(struct upstream_io *io, int rc, int writing)
{
	int e = SSL_get_error(io->ssl, rc);

	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (writing)
			io->want_read = 1;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (!writing)
			io->want_write = 1;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (!writing)
			return 0;
		errno = EPIPE;
		return -1;
	default:
		errno = ECONNRESET;
		return -1;
	}
}

ssize_t
upstream_io_recv(struct upstream_io *io, int fd, void *buf, size_t len)
{
	size_t n = 0;
	int rc;

	if (io->ssl == NULL)
		return recv(fd, buf, len, 0);
	io->want_write = 0;
	ERR_clear_error();
	if ((rc = SSL_read_ex(io->ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return utls_fail(io, rc, 0);
}

ssize_t
upstream_io_sendv(struct upstream_io *io, int fd, const struct iovec *iov,
    int niov)
{
	struct msghdr msg;
	size_t total = 0, n;
	int i, rc;

	if (io->ssl == NULL) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = (struct iovec *)(uintptr_t)iov;
		msg.msg_iovlen = (size_t)niov;
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	}
	/* SSL has no writev: one record run per piece, stopping short. */
	io->want_read = 0;
	for (i = 0; i < niov; i++) {
		if (iov[i].iov_len == 0)
			continue;
		ERR_clear_error();
		n = 0;
		if ((rc = SSL_write_ex(io->ssl, iov[i].iov_base,
		    iov[i].iov_len, &n)) != 1) {
			if (total > 0) {
				/* Report progress; the retry repeats the
				 * failing piece, as OpenSSL requires. */
				(void)utls_fail(io, rc, 1);
				io->want_read = 0;
				return (ssize_t)total;
			}
			return utls_fail(io, rc, 1);
		}
		total += n;
		if (n < iov[i].iov_len)
			break;
	}
	return (ssize_t)total;
}

int
upstream_io_idle_ok(struct upstream_io *io, int fd)
{
	char c;
	ssize_t n;

	if (io->ssl == NULL)
		return 0;
	/* A session ticket is a record with no data: WANT_READ after it. */
	n = upstream_io_recv(io, fd, &c, 1);
	return n == -1 && errno == EAGAIN && !io->want_write;
}

int
upstream_io_pending(const struct upstream_io *io)
{
	return io->ssl != NULL && SSL_has_pending(io->ssl);
}

void
upstream_io_close(struct upstream_io *io, int fd)
{
	if (io->ssl != NULL) {
		/* close_notify, best effort and nonblocking: it also keeps
		 * the session resumable. */
		ERR_clear_error();
		if (SSL_is_init_finished(io->ssl))
			(void)SSL_shutdown(io->ssl);
		ERR_clear_error();
		SSL_free(io->ssl);
		io->ssl = NULL;
	}
	io->want_read = io->want_write = 0;
	io->verify_error = 0;
	if (fd != -1)
		close(fd);
}
