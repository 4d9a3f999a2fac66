/*
 * fuzz_ipc: arbitrary bytes as one datagram through a real SOCK_SEQPACKET
 * socketpair into ipc_recv(), for both receiver roles, then the typed
 * reader over whatever was accepted, and the health body decoder
 * (ipc_get_health) over every record of a HEALTH_STATE/HEALTH_REPORT
 * batch.
 *
 * Input: byte 0 selects the receiver (bit 0) and whether an fd rides
 * along (bit 1); the rest is the datagram.  Invariants (abort on breach):
 * an accepted message agrees with ipc_check() and with the bytes sent,
 * carries an fd exactly when one was sent, a health batch holds a whole
 * number of records (1..IPC_HEALTH_BATCH), and no fd is ever leaked.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DGRAM	(16 + IPC_MAX_BODY + 64)

static int fuzz_sv[2] = { -1, -1 };
static int fuzz_fd = -1;
static int fuzz_first_free = -1;
static struct ipc_msg fuzz_msg;

static void
fuzz_init(void)
{
	int sz = 1 << 20;

	log_setlevel(LOG_LEVEL_ERROR);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fuzz_sv) == -1)
		abort();
	setsockopt(fuzz_sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if ((fuzz_fd = memfd_create("fuzz", 0)) == -1)
		abort();
}

static void
fuzz_send(const uint8_t *p, size_t len, int with_fd)
{
	struct msghdr m;
	struct iovec iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct cmsghdr *c;

	memset(&m, 0, sizeof(m));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (with_fd) {
		memset(&cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf.buf;
		m.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fuzz_fd, sizeof(int));
	}
	if (sendmsg(fuzz_sv[0], &m, MSG_NOSIGNAL) != (ssize_t)len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum ipc_peer self;
	enum ipc_recv_result rc;
	struct ipc_reader r;
	struct ipc_health h;
	char err[128];
	int with_fd, probe;

	if (fuzz_sv[0] == -1)
		fuzz_init();
	if (size < 1)
		return 0;
	self = (data[0] & 1) ? IPC_PEER_WORKER : IPC_PEER_MASTER;
	with_fd = (data[0] & 2) != 0;
	data++;
	size--;
	if (size > FUZZ_MAX_DGRAM)
		size = FUZZ_MAX_DGRAM;
	if (size == 0 && !with_fd)
		return 0;		/* would read as EOF */

	fuzz_send(data, size, with_fd);
	rc = ipc_recv(fuzz_sv[1], self, &fuzz_msg);
	if (rc == IPC_RECV_OK) {
		if (size < 16 || fuzz_msg.hdr.len != size - 16)
			abort();
		if ((fuzz_msg.fd != -1) != with_fd)
			abort();
		if (ipc_check(self, &fuzz_msg.hdr, with_fd, err,
		    sizeof(err)) == -1)
			abort();
		if (fuzz_msg.hdr.type == IPC_HEALTH_STATE ||
		    fuzz_msg.hdr.type == IPC_HEALTH_REPORT) {
			if (fuzz_msg.hdr.len == 0 ||
			    fuzz_msg.hdr.len % IPC_HEALTH_LEN != 0 ||
			    fuzz_msg.hdr.len / IPC_HEALTH_LEN >
			    IPC_HEALTH_BATCH)
				abort();
			/* As the handlers read it: record by record. */
			ipc_reader_init(&r, &fuzz_msg);
			while (r.left > 0) {
				if (ipc_get_health(&r, &h) == -1) {
					if (!r.bad)
						abort();
					break;
				}
				/* Accepted: a known family, a port. */
				if (h.addr.ss_family != AF_INET &&
				    h.addr.ss_family != AF_INET6)
					abort();
			}
			if (!r.bad && ipc_end(&r) == -1)
				abort();
		}
		ipc_reader_init(&r, &fuzz_msg);
		while (!r.bad)
			(void)ipc_get_u32(&r);
		if (ipc_end(&r) != -1)
			abort();
		if (fuzz_msg.fd != -1)
			close(fuzz_msg.fd);
	} else if (rc != IPC_RECV_INVALID || fuzz_msg.fd != -1)
		abort();

	/* Nothing received may stay open: the next fd is the same number. */
	if ((probe = dup(0)) == -1)
		abort();
	close(probe);
	if (fuzz_first_free == -1)
		fuzz_first_free = probe;
	else if (probe != fuzz_first_free)
		abort();
	return 0;
}
