/*
 * tls: SSL_CTXs by SNI name, ALPN and session tickets, in workers.
 *
 * The table of contexts is rebuilt on every snapshot from its CERTS
 * section; a context whose PEM and settings hash the same as before (or
 * as another name's in the same snapshot) is taken over (SSL_CTX_up_ref),
 * so a rotation rebuilds only what changed.
 * An SSL holds its own reference on each context it uses, so dropping the
 * old table never disturbs a handshake in flight.  The session-ticket
 * keys are process-wide: every context uses the same callback.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/routes.h"
#include "common/snapshot.h"
#include "worker/tls.h"

#define TLS_SID_CTX	"ingressd"	/* same on all: resumption across SNI */

struct tls_entry {
	char		*name;		/* "" default, "*.a.b", "a.b" */
	unsigned char	 hash[32];	/* SHA-256 of settings and PEM */
	SSL_CTX		*ctx;
};

struct tls_table {
	struct tls_entry *e;		/* sorted by name, as in the snapshot */
	size_t		 n;
	SSL_CTX		*def;		/* the "" entry's, or NULL */
};

static struct tls_table	tls_cur;
static struct ipc_tls_key tls_keys[2];
static int		tls_nkeys;	/* 0: no tickets yet */
static size_t		tls_built;

int
tls_init(void)
{
	unsigned char b[16];
	SSL_CTX *ctx;

	/* Loads openssl.cnf and the providers, and seeds the DRBG, now. */
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
	    RAND_bytes(b, sizeof(b)) != 1 ||
	    (ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

void
tls_set_keys(const struct ipc_tls_key k[2])
{
	static const struct ipc_tls_key zero;

	tls_keys[0] = k[0];
	tls_keys[1] = k[1];
	tls_nkeys = memcmp(&k[1], &zero, sizeof(zero)) == 0 ? 1 : 2;
}

/*
 * Session tickets with the master's keys, for every worker alike; see
 * SSL_CTX_set_tlsext_ticket_key_evp_cb(3) for the return values.
 */
static int
tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char iv[16],
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	const struct ipc_tls_key *k = NULL;
	OSSL_PARAM params[3];
	int i;

	if (enc) {
		if (tls_nkeys == 0)
			return 0;	/* no keys yet: no ticket */
		k = &tls_keys[0];
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		memcpy(name, k->name, 16);
	} else {
		for (i = 0; i < tls_nkeys; i++)
			if (memcmp(name, tls_keys[i].name, 16) == 0)
				k = &tls_keys[i];
		if (k == NULL)
			return 0;	/* unknown or retired: full handshake */
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"sha256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL,
		    k->aes, iv) == 1 ? 1 : -1;
	if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv) !=
	    1)
		return -1;
	/* A ticket under the previous key is good; renew it. */
	return k == &tls_keys[0] ? 1 : 2;
}

static int
tls_entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tls_entry *)elem)->name);
}

static SSL_CTX *
tls_lookup(const char *name)
{
	const struct tls_entry *e;

	e = bsearch(name, tls_cur.e, tls_cur.n, sizeof(*tls_cur.e),
	    tls_entry_cmp);
	return e != NULL ? e->ctx : NULL;
}

/*
 * SNI: the exact name, then "*." and its parent (one label), else the
 * default context stays.  Names are compared in lower case.
 */
static int
tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	const char *sni, *dot;
	char name[256];
	SSL_CTX *ctx;
	size_t i, len;

	if ((sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) ==
	    NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if ((len = strlen(sni)) == 0 || len >= sizeof(name) - 1)
		return SSL_TLSEXT_ERR_NOACK;
	for (i = 0; i <= len; i++)
		name[i] = (sni[i] >= 'A' && sni[i] <= 'Z') ?
		    (char)(sni[i] + 'a' - 'A') : sni[i];
	if ((ctx = tls_lookup(name)) == NULL &&
	    (dot = strchr(name, '.')) != NULL && dot > name &&
	    dot[1] != '\0') {
		/* "*" + ".parent" over the label: room was kept above. */
		memmove(name + 1, dot, strlen(dot) + 1);
		name[0] = '*';
		ctx = tls_lookup(name);
	}
	if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl) &&
	    SSL_set_SSL_CTX(ssl, ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 or nothing (h2 is not spoken). */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, h11,
	    sizeof(h11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* Counts TLS 1.2 handshakes (TLS 1.3 reports tickets as starts too). */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	unsigned *n;

	if ((where & SSL_CB_HANDSHAKE_START) == 0 ||
	    SSL_version(ssl) == TLS1_3_VERSION)
		return;
	if ((n = SSL_get_app_data(ssl)) != NULL)
		(*n)++;
}

/* The SHA-256 of the TLS settings of <s> and the PEM <pem>; 0 or -1. */
static int
tls_hash(const struct route_settings *st, const char *pem, size_t pemlen,
    unsigned char out[32])
{
	EVP_MD_CTX *md;
	unsigned int n = 32;
	uint32_t v[2];

	v[0] = st->tls_protocols;
	v[1] = st->tls_session_cache;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, v, sizeof(v)) != 1 ||
	    EVP_DigestUpdate(md, st->tls_ciphers,
	    strlen(st->tls_ciphers) + 1) != 1 ||
	    EVP_DigestUpdate(md, st->tls_ciphersuites,
	    strlen(st->tls_ciphersuites) + 1) != 1 ||
	    EVP_DigestUpdate(md, st->tls_curves,
	    strlen(st->tls_curves) + 1) != 1 ||
	    EVP_DigestUpdate(md, pem, pemlen) != 1 ||
	    EVP_DigestFinal_ex(md, out, &n) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	EVP_MD_CTX_free(md);
	return 0;
}

/* Loads the chain then the key of <pem> into <ctx>.  0 or -1. */
static int
tls_load_pem(SSL_CTX *ctx, const char *pem, size_t pemlen)
{
	BIO *b;
	X509 *x;
	EVP_PKEY *pk = NULL;
	int rc = -1, n;

	if ((b = BIO_new_mem_buf(pem, (int)pemlen)) == NULL)
		return -1;
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto done;
	n = SSL_CTX_use_certificate(ctx, x);
	X509_free(x);
	if (n != 1)
		goto done;
	/* The rest of the chain; the key's PEM block ends it. */
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			goto done;
		}
	}
	ERR_clear_error();
	BIO_free(b);
	/* The key follows the chain; read it from the start again. */
	if ((b = BIO_new_mem_buf(pem, (int)pemlen)) == NULL ||
	    (pk = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"")) ==
	    NULL || SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto done;
	rc = 0;
 done:
	EVP_PKEY_free(pk);
	BIO_free(b);
	return rc;
}

/* A new context for <pem> with the settings of <st>, or NULL. */
static SSL_CTX *
tls_ctx_new(const struct route_settings *st, const char *pem, size_t pemlen)
{
	SSL_CTX *ctx;
	uint32_t p = st->tls_protocols;

	if (p == 0)
		p = ROUTE_TLS_V12 | ROUTE_TLS_V13;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, (p & ROUTE_TLS_V12) ?
	    TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, (p & ROUTE_TLS_V13) ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* proxy.c retries writes from buffers that compact and grow. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, st->tls_session_cache ?
	    SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
	if ((st->tls_ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, st->tls_ciphers) != 1) ||
	    (st->tls_ciphersuites[0] != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, st->tls_ciphersuites) != 1) ||
	    (st->tls_curves[0] != '\0' &&
	    SSL_CTX_set1_groups_list(ctx, st->tls_curves) != 1) ||
	    SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)TLS_SID_CTX, sizeof(TLS_SID_CTX) - 1) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) != 1 ||
	    tls_load_pem(ctx, pem, pemlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	tls_built++;
	return ctx;
}

static void
tls_table_free(struct tls_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->e[i].name);
		SSL_CTX_free(t->e[i].ctx);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* The old entry named <name> with hash <hash>, or NULL. */
static const struct tls_entry *
tls_old(const char *name, const unsigned char hash[32])
{
	const struct tls_entry *e;

	e = bsearch(name, tls_cur.e, tls_cur.n, sizeof(*tls_cur.e),
	    tls_entry_cmp);
	return e != NULL && memcmp(e->hash, hash, 32) == 0 ? e : NULL;
}

/*
 * An entry of <t> built so far with the same hash: the hosts of one
 * Secret share one context.
 */
static const struct tls_entry *
tls_same(const struct tls_table *t, const unsigned char hash[32])
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (memcmp(t->e[i].hash, hash, 32) == 0)
			return &t->e[i];
	return NULL;
}

void
tls_apply(const struct snapshot *s)
{
	struct tls_table t;
	struct tls_entry *e;
	const struct tls_entry *old;
	struct snapshot_cert sc;
	size_t reused = 0, built = 0, bad = 0;
	uint32_t i;
	int hashed;

	memset(&t, 0, sizeof(t));
	if (s->ncerts > 0 && (t.e = calloc(s->ncerts, sizeof(*t.e))) ==
	    NULL) {
		log_warnx("tls: out of memory; keeping the certificates");
		return;
	}
	for (i = 0; i < s->ncerts; i++) {
		snapshot_cert(s, i, &sc);
		e = &t.e[t.n];
		if ((e->name = strndup(sc.name, sc.namelen)) == NULL) {
			bad++;
			continue;
		}
		/* Without a hash, build anew: never share by mistake. */
		hashed = tls_hash(&s->settings, sc.pem, sc.pemlen,
		    e->hash) == 0;
		if (!hashed)
			memset(e->hash, 0, sizeof(e->hash));
		if (hashed && ((old = tls_old(e->name, e->hash)) != NULL ||
		    (old = tls_same(&t, e->hash)) != NULL) &&
		    SSL_CTX_up_ref(old->ctx) == 1) {
			e->ctx = old->ctx;
			reused++;
		} else if ((e->ctx = tls_ctx_new(&s->settings, sc.pem,
		    sc.pemlen)) != NULL)
			built++;
		else {
			ERR_clear_error();
			log_warnx("tls: certificate \"%s\" refused by OpenSSL; "
			    "skipped", e->name);
			free(e->name);
			e->name = NULL;
			bad++;
			continue;
		}
		if (e->name[0] == '\0')
			t.def = e->ctx;
		t.n++;
	}
	if (built > 0 || bad > 0)
		log_debug("tls: generation %llu: %zu contexts built, %zu "
		    "reused, %zu skipped", (unsigned long long)s->generation,
		    built, reused, bad);
	tls_table_free(&tls_cur);
	tls_cur = t;
}

SSL *
tls_new(int fd, unsigned *handshakes)
{
	SSL *ssl;

	if (tls_cur.def == NULL || (ssl = SSL_new(tls_cur.def)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_app_data(ssl, handshakes);
	SSL_set_accept_state(ssl);
	return ssl;
}

size_t
tls_contexts_built(void)
{
	return tls_built;
}
