/*
 * client_io: the client side of a proxied connection, plain or TLS, behind
 * recv/sendmsg/shutdown-like calls, so that proxy.c's HTTP code does not
 * care which.  For TLS, a read that needs the socket writable (or a write
 * that needs it readable) says so in <rd_wants_write>/<wr_wants_read>, and
 * proxy.c watches for that too.  Upstream (backend) TLS is not here.
 */
#ifndef INGRESSD_CLIENT_IO_H
#define INGRESSD_CLIENT_IO_H

#include <sys/types.h>
#include <sys/uio.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct client_io {
	int		 fd;
	SSL		*ssl;		/* NULL: plain TCP */
	unsigned	 handshakes;	/* TLS 1.2 handshake starts */
	size_t		 join_pending;	/* joined write to repeat, bytes */
	unsigned	 rd_wants_write:1;	/* SSL_read: WANT_WRITE */
	unsigned	 wr_wants_read:1;	/* SSL_write: WANT_READ */
	unsigned	 shut:1;		/* close_notify sent */
};

/* Plain I/O on <fd>. */
void	client_io_plain(struct client_io *io, int fd);

/* TLS server I/O on <fd> (worker/tls.c's contexts).  0, or -1. */
int	client_io_tls(struct client_io *io, int fd);

/*
 * Like recv(2): bytes read, 0 at EOF, -1 with errno (EAGAIN: try again
 * when the watchers say so; anything else: the connection is broken,
 * including a failed TLS handshake).
 */
ssize_t	client_io_recv(struct client_io *io, void *buf, size_t len);

/* Like sendmsg(2) of <iov>: bytes written, or -1 with errno as above. */
ssize_t	client_io_sendv(struct client_io *io, const struct iovec *iov,
	    int iovcnt);

/* Half-close: TLS close_notify, then shutdown(SHUT_WR).  0 or -1. */
int	client_io_shutdown(struct client_io *io);

/* Frees the TLS state and closes the fd. */
void	client_io_close(struct client_io *io);

/* Decrypted bytes OpenSSL holds that no read event will announce. */
int	client_io_pending(const struct client_io *io);

/* 1 while the TLS handshake is not finished. */
int	client_io_handshaking(const struct client_io *io);

/* 1 for a TLS connection. */
int	client_io_is_tls(const struct client_io *io);

#endif
