/*
 * client_io: plain or TLS client I/O for proxy.c, in workers.
 *
 * The TLS side maps SSL_read/SSL_write results onto recv(2)-like returns:
 * WANT_READ/WANT_WRITE become EAGAIN (noting a crossed want for proxy.c's
 * watchers), a clean close_notify or TCP EOF becomes 0, anything else -1.
 * Handshakes happen inside the first reads (SSL_set_accept_state).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "worker/client_io.h"
#include "worker/tls.h"

/* One TLS record's worth: small writes are joined into one SSL_write. */
#define CLIENT_IO_JOIN	16384

void
client_io_plain(struct client_io *io, int fd)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
}

int
client_io_tls(struct client_io *io, int fd)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	if ((io->ssl = tls_new(fd, &io->handshakes)) == NULL)
		return -1;
	return 0;
}

/* errno for an SSL result <r> of <ret>; -1 always. */
static ssize_t
client_io_fail(struct client_io *io, int ret, int reading)
{
	int e = SSL_get_error(io->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			io->wr_wants_read = 1;
		errno = EAGAIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			io->rd_wants_write = 1;
		errno = EAGAIN;
		break;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || errno == EAGAIN)
			errno = ECONNRESET;
		break;
	default:
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
	return -1;
}

ssize_t
client_io_recv(struct client_io *io, void *buf, size_t len)
{
	int n;

	if (io->ssl == NULL)
		return recv(io->fd, buf, len, 0);
	io->rd_wants_write = 0;
	if (len > INT32_MAX)
		len = INT32_MAX;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(io->ssl, buf, (int)len);
	if (io->handshakes > TLS_MAX_HANDSHAKES) {
		errno = EPROTO;		/* renegotiation attempts */
		return -1;
	}
	if (n > 0)
		return n;
	if (SSL_get_error(io->ssl, n) == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return 0;
	}
	/* TCP EOF without close_notify after the handshake: an EOF too. */
	if (SSL_get_error(io->ssl, n) == SSL_ERROR_SYSCALL && errno == 0 &&
	    SSL_is_init_finished(io->ssl)) {
		ERR_clear_error();
		return 0;
	}
	return client_io_fail(io, n, 1);
}

ssize_t
client_io_sendv(struct client_io *io, const struct iovec *iov, int iovcnt)
{
	static char join[CLIENT_IO_JOIN];
	struct msghdr msg;
	size_t total = 0, len;
	ssize_t done = 0;
	int i, n;

	if (io->ssl == NULL) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = (struct iovec *)iov;
		msg.msg_iovlen = iovcnt;
		return sendmsg(io->fd, &msg, MSG_NOSIGNAL);
	}
	io->wr_wants_read = 0;
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	/*
	 * A head and a small body in one record.  A retry after WANT_WRITE
	 * passes the same bytes first again, which is all OpenSSL asks with
	 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
	 */
	if (io->join_pending > 0 || (iovcnt > 1 && total <= sizeof(join))) {
		/* A retry rewrites exactly what the refused call had. */
		if (io->join_pending > 0 && total > io->join_pending)
			total = io->join_pending;
		if (total > sizeof(join))
			total = sizeof(join);
		for (i = 0, len = 0; i < iovcnt && len < total; i++) {
			n = (int)(iov[i].iov_len < total - len ?
			    iov[i].iov_len : total - len);
			memcpy(join + len, iov[i].iov_base, (size_t)n);
			len += (size_t)n;
		}
		ERR_clear_error();
		io->join_pending = 0;
		if ((n = SSL_write(io->ssl, join, (int)len)) > 0)
			return n;
		if (SSL_get_error(io->ssl, n) == SSL_ERROR_WANT_WRITE ||
		    SSL_get_error(io->ssl, n) == SSL_ERROR_WANT_READ)
			io->join_pending = len;
		return client_io_fail(io, n, 0);
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		len = iov[i].iov_len > INT32_MAX ? INT32_MAX : iov[i].iov_len;
		ERR_clear_error();
		n = SSL_write(io->ssl, iov[i].iov_base, (int)len);
		if (n <= 0) {
			if (done > 0) {
				/* Report the progress; the retry gets the
				 * error again. */
				(void)SSL_get_error(io->ssl, n);
				ERR_clear_error();
				return done;
			}
			return client_io_fail(io, n, 0);
		}
		done += n;
		if ((size_t)n < len)
			break;
	}
	return done;
}

int
client_io_shutdown(struct client_io *io)
{
	if (io->ssl != NULL && !io->shut && SSL_is_init_finished(io->ssl)) {
		io->shut = 1;
		/* One try: a full socket buffer only loses the alert. */
		(void)SSL_shutdown(io->ssl);
		ERR_clear_error();
	}
	return shutdown(io->fd, SHUT_WR);
}

void
client_io_close(struct client_io *io)
{
	if (io->ssl != NULL) {
		/* Without close_notify: no session to lose, no I/O here. */
		SSL_set_quiet_shutdown(io->ssl, 1);
		SSL_free(io->ssl);
		io->ssl = NULL;
	}
	close(io->fd);
	io->fd = -1;
}

int
client_io_pending(const struct client_io *io)
{
	return io->ssl != NULL && SSL_pending(io->ssl) > 0;
}

int
client_io_handshaking(const struct client_io *io)
{
	return io->ssl != NULL && !SSL_is_init_finished(io->ssl);
}

int
client_io_is_tls(const struct client_io *io)
{
	return io->ssl != NULL;
}
