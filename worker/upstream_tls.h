/*
 * upstream_tls: the upstream side's I/O, plain TCP or TLS toward a
 * backend (ingressd.io/backend-protocol: HTTPS), for the proxy, the
 * upstream pool and health probes.  Not the client side (worker/tls.h).
 *
 * A struct upstream_io rides along with an upstream fd: without TLS its
 * calls are recv()/sendmsg()/close().  With TLS they are OpenSSL's on a
 * nonblocking socket, so one operation may wait for the other direction
 * (a read that must write, a handshake that must read): the flags below
 * say which watcher the caller must start, and the caller retries the
 * same operation when it fires.
 *
 * Trust comes from the snapshot (workers have no filesystem): one
 * SSL_CTX per CA bundle, cached across snapshots by the bundle's hash.
 * Sessions are cached per endpoint and TLS settings, so new connections
 * resume instead of doing full handshakes.  Runs in workers, sandboxed:
 * upstream_tls_init() does before the sandbox what OpenSSL would
 * otherwise do later from disk.
 */
#ifndef INGRESSD_UPSTREAM_TLS_H
#define INGRESSD_UPSTREAM_TLS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stddef.h>
#include <stdint.h>

#include "common/snapshot.h"

struct ssl_st;
struct upstream_tls_conf;

struct upstream_io {
	struct ssl_st	*ssl;		/* NULL: plain TCP */
	unsigned	 want_read:1;	/* handshake or write waits to read */
	unsigned	 want_write:1;	/* handshake or read waits to write */
	unsigned	 quiet:1;	/* failures logged at debug level */
	uint32_t	 verify_error;	/* X509_V_ERR_* of a failed handshake */
};

/* Results of upstream_tls_handshake(). */
enum upstream_tls_hs {
	UPSTREAM_TLS_HS_FAILED = -1,	/* logged; counts as a connect error */
	UPSTREAM_TLS_HS_AGAIN = 0,	/* wait per want_read/want_write */
	UPSTREAM_TLS_HS_DONE = 1,
};

/* Loads OpenSSL's configuration and algorithms; before the sandbox. */
int	upstream_tls_init(char *err, size_t errlen);

/*
 * The identity of backend <idx>'s TLS settings in <s>: 0 for plain TCP,
 * else a hash of the CA bundle, verification and server name.  Pooled
 * connections and sessions are only reused under the same identity.
 */
uint64_t upstream_tls_key(const struct snapshot *s, uint32_t idx);

/*
 * Makes <io> a TLS client on the connected (or connecting) socket <fd>
 * toward endpoint <sa> of backend <idx> of <s>, which must have TLS on:
 * SNI and verification as the snapshot says, ALPN http/1.1, a cached
 * session offered.  Returns 0, or -1 (out of memory; <io> stays plain,
 * <fd> open).
 */
int	upstream_tls_start(struct upstream_io *io, int fd,
	    const struct snapshot *s, uint32_t idx, const struct sockaddr *sa);

/*
 * The TLS settings of backend <idx> of <s> kept beyond the snapshot (for
 * health probes, which outlive it): a reference to the context, copies
 * of the names.  NULL for a plain backend or when out of memory.
 */
struct upstream_tls_conf *upstream_tls_conf_new(const struct snapshot *s,
	    uint32_t idx);
void	upstream_tls_conf_free(struct upstream_tls_conf *tc);
/* 1 when both are NULL or have the same TLS identity. */
int	upstream_tls_conf_same(const struct upstream_tls_conf *a,
	    const struct upstream_tls_conf *b);
/* upstream_tls_start() from kept settings. */
int	upstream_tls_start_conf(struct upstream_io *io, int fd,
	    const struct upstream_tls_conf *tc, const struct sockaddr *sa);

/*
 * Steps the handshake of <io> (after the TCP connect completed).  A
 * failure is logged with the endpoint, the backend and OpenSSL's reason
 * (a warning, or debug when <io> is quiet), and a verification failure
 * leaves its X509_V_ERR_* code in io->verify_error.
 */
enum upstream_tls_hs upstream_tls_handshake(struct upstream_io *io);

/*
 * recv() and sendmsg(MSG_NOSIGNAL) semantics over <io>: bytes, 0 at EOF
 * (read), or -1 with errno (EAGAIN: wait, per want_* with TLS; a TLS
 * error reads as ECONNRESET).  A write may be partial.  After EAGAIN the
 * same bytes must be offered again (they may have moved).
 */
ssize_t	upstream_io_recv(struct upstream_io *io, int fd, void *buf,
	    size_t len);
ssize_t	upstream_io_sendv(struct upstream_io *io, int fd,
	    const struct iovec *iov, int niov);

/*
 * An idle pooled connection became readable: 1 when it is still usable
 * (TLS consumed a record that carried no data, a session ticket), 0 when
 * it must be closed (EOF, close_notify, stray bytes).
 */
int	upstream_io_idle_ok(struct upstream_io *io, int fd);

/* 1 when TLS holds bytes already read from the socket and not yet
 * returned: such a connection cannot go idle. */
int	upstream_io_pending(const struct upstream_io *io);

/* Frees the TLS state of <io> (no close_notify: the fd goes now) and
 * closes <fd>.  <io> is plain afterwards. */
void	upstream_io_close(struct upstream_io *io, int fd);

#endif
