/*
 * tls: the workers' TLS server side: one SSL_CTX per certificate of the
 * current snapshot, SNI selection (exact name, then a one-label wildcard,
 * then the default certificate), ALPN http/1.1, and session tickets with
 * the keys the master sends (IPC_TLS_KEYS), so that a ticket from one
 * worker resumes on any other.
 *
 * Runs in workers after confinement: it reads nothing but the snapshot
 * (PEM strings) and IPC messages.  tls_init() runs before the sandbox so
 * that OpenSSL loads its configuration and seeds its DRBG while files are
 * still reachable.
 */
#ifndef INGRESSD_TLS_H
#define INGRESSD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "common/ipc.h"
#include "common/snapshot.h"

#define TLS_MAX_HANDSHAKES	1	/* per connection, TLS 1.2 (no reneg) */

/* Before confinement: OpenSSL's own initialisation.  0 or -1. */
int	tls_init(void);

/*
 * Builds the contexts of snapshot <s>, reusing those whose PEM and TLS
 * settings did not change (SHA-256), and makes them current.  On failure
 * (a PEM OpenSSL refuses after all, out of memory) the certificate is
 * skipped and logged; the default certificate missing leaves TLS off.
 * Connections in their handshake keep the contexts they hold (OpenSSL
 * counts the references).
 */
void	tls_apply(const struct snapshot *s);

/* Installs the session-ticket keys from IPC_TLS_KEYS (<k>[0] current). */
void	tls_set_keys(const struct ipc_tls_key k[2]);

/*
 * A server SSL on <fd> with the default context, in accept state; every
 * TLS 1.2 handshake start on it increments *<handshakes> (which must
 * outlive the SSL).  NULL when TLS is not ready or out of memory.
 */
SSL	*tls_new(int fd, unsigned *handshakes);

/* Contexts built by tls_apply() since start (for tests and logs). */
size_t	tls_contexts_built(void);

#endif
