/*
 * tls_certs: the master's side of TLS termination: checks the certificate
 * and key of a kubernetes.io/tls Secret (or of the tls.default_* files),
 * makes the self-signed default certificate, checks the tls.* cipher
 * settings, and makes session-ticket keys.  Everything works on memory
 * buffers (only tls_certs_load_files() reads files); nothing here talks to
 * clients.  The workers build their SSL_CTXs from the PEM put in the
 * snapshot (worker/tls.c).
 */
#ifndef INGRESSD_TLS_CERTS_H
#define INGRESSD_TLS_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipc.h"

#define TLS_CERTS_MAX_PEM	(512u * 1024)	/* each of tls.crt, tls.key */
#define TLS_CERTS_MAX_CHAIN	16		/* certificates in tls.crt */

/*
 * Checks that <crt> (<crtlen> bytes: PEM certificates, leaf first) and
 * <key> (<keylen> bytes: one PEM private key, RSA or EC) parse and that the
 * key belongs to the leaf.  On success returns 0 and, when <pem> is not
 * NULL, a malloc'd NUL-terminated "chain then key" in *<pem> (caller
 * frees); *<expired> is set when the leaf's notAfter has passed (a
 * warning, not a failure).  On failure returns -1 with the reason in
 * <err>.  Input is untrusted: sizes over TLS_CERTS_MAX_PEM, NUL bytes and
 * chains over TLS_CERTS_MAX_CHAIN are refused.
 */
int	tls_certs_check(const char *crt, size_t crtlen, const char *key,
	    size_t keylen, char **pem, int *expired, char *err, size_t errlen);

/*
 * Reads the PEM files <crtpath> and <keypath> (each at most
 * TLS_CERTS_MAX_PEM bytes) and checks them with tls_certs_check().
 * 0 with *<pem> (caller frees), or -1 with the reason in <err>.
 */
int	tls_certs_load_files(const char *crtpath, const char *keypath,
	    char **pem, char *err, size_t errlen);

/*
 * Makes a self-signed ECDSA P-256 certificate for "ingressd default",
 * valid ten years.  0 with the PEM (chain then key) in *<pem> (caller
 * frees), or -1 with the reason in <err>.
 */
int	tls_certs_selfsigned(char **pem, char *err, size_t errlen);

/*
 * Checks that OpenSSL accepts the tls.ciphers <ciphers>, tls.ciphersuites
 * <suites> and tls.curves <curves> lists.  0, or -1 naming the bad one.
 */
int	tls_certs_settings_ok(const char *ciphers, const char *suites,
	    const char *curves, char *err, size_t errlen);

/* Fills <k> with a fresh random session-ticket key.  0, or -1. */
int	tls_certs_ticket_key(struct ipc_tls_key *k);

#endif
