/*
 * test_ipc: unit tests for common/ipc.c over real SOCK_SEQPACKET
 * socketpairs: round trips with and without an fd, every rejection of the
 * receive path (and that rejected fds are closed), the typed reader and
 * writer, EOF and EAGAIN.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/util.h"

static int sv[2];
static struct ipc_msg msg;

static void
setup(void)
{
	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE must kill the test */
	ck_assert_int_ne(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), -1);
	ck_assert_int_ne(util_set_nonblock(sv[1]), -1);
	memset(&msg, 0xaa, sizeof(msg));
}

static void
teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

static void
le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

/* Sends <len> raw bytes with <nfds> fds (each a dup of stdin). */
static void
raw_send(int sock, const void *buf, size_t len, int nfds)
{
	struct msghdr m;
	struct iovec iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(8 * sizeof(int))];
	} cbuf;
	struct cmsghdr *c;
	int fds[8], i;

	memset(&m, 0, sizeof(m));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (nfds > 0) {
		for (i = 0; i < nfds; i++)
			ck_assert_int_ne(fds[i] = memfd_create("t", 0), -1);
		memset(&cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	ck_assert_int_eq(sendmsg(sock, &m, MSG_NOSIGNAL), (ssize_t)len);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

#define FDMAP_SIZE	1024

/* Which fds are open, to see that nothing received was left open. */
static void
fdmap(char map[FDMAP_SIZE])
{
	int fd;

	for (fd = 0; fd < FDMAP_SIZE; fd++)
		map[fd] = fcntl(fd, F_GETFD) != -1;
}

static void
fdmap_same(const char before[FDMAP_SIZE])
{
	char after[FDMAP_SIZE];
	int fd;

	fdmap(after);
	for (fd = 0; fd < FDMAP_SIZE; fd++)
		ck_assert_msg(before[fd] == after[fd], "fd %d %s", fd,
		    after[fd] ? "left open" : "closed");
}

START_TEST(test_roundtrip_hello)
{
	struct ipc_writer w;
	struct ipc_reader r;
	int self;

	for (self = IPC_PEER_MASTER; self <= IPC_PEER_WORKER; self++) {
		ipc_writer_init(&w);
		ipc_put_u32(&w, IPC_PROTOCOL_VERSION);
		ipc_put_u32(&w, 7);
		ipc_put_u32(&w, 0x01020304);
		ck_assert_int_eq(w.bad, 0);
		ck_assert_uint_eq(w.len, 12);
		ck_assert_int_eq(ipc_send(sv[0], IPC_HELLO,
		    0x1122334455667788ull, w.buf, w.len, -1), 0);
		ck_assert_int_eq(ipc_recv(sv[1], self, &msg), IPC_RECV_OK);
		ck_assert_uint_eq(msg.hdr.type, IPC_HELLO);
		ck_assert_uint_eq(msg.hdr.len, 12);
		ck_assert_uint_eq(msg.hdr.generation, 0x1122334455667788ull);
		ck_assert_int_eq(msg.fd, -1);
		ipc_reader_init(&r, &msg);
		ck_assert_uint_eq(ipc_get_u32(&r), IPC_PROTOCOL_VERSION);
		ck_assert_uint_eq(ipc_get_u32(&r), 7);
		ck_assert_uint_eq(ipc_get_u32(&r), 0x01020304);
		ck_assert_int_eq(ipc_end(&r), 0);
	}
}
END_TEST

START_TEST(test_wire_little_endian)
{
	static const uint8_t want[] = {
		30, 0, 0, 0,  4, 0, 0, 0,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x01, 0x00, 0x00, 0x00,
	};
	struct ipc_writer w;
	uint8_t got[64];

	ipc_writer_init(&w);
	ipc_put_u32(&w, 1);
	ck_assert_int_eq(ipc_send(sv[0], IPC_SNAPSHOT_ACK,
	    0x0102030405060708ull, w.buf, w.len, -1), 0);
	ck_assert_int_eq(recv(sv[1], got, sizeof(got), 0), sizeof(want));
	ck_assert_mem_eq(got, want, sizeof(want));

	ipc_writer_init(&w);
	ipc_put_u64(&w, 0x1122334455667788ull);
	ck_assert_uint_eq(w.buf[0], 0x88);
	ck_assert_uint_eq(w.buf[7], 0x11);
}
END_TEST

START_TEST(test_roundtrip_snapshot_fd)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct stat a, b;
	int mfd;

	ck_assert_int_ne(mfd = memfd_create("snap", 0), -1);
	ck_assert_int_eq(write(mfd, "snapshot", 8), 8);
	ipc_writer_init(&w);
	ipc_put_u64(&w, 8);
	ck_assert_int_eq(ipc_send(sv[0], IPC_SNAPSHOT, 42, w.buf, w.len,
	    mfd), 0);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_OK);
	ck_assert_uint_eq(msg.hdr.type, IPC_SNAPSHOT);
	ck_assert_uint_eq(msg.hdr.generation, 42);
	ck_assert_int_ne(msg.fd, -1);
	ck_assert_int_ne(msg.fd, mfd);
	ck_assert(fcntl(msg.fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_ne(fstat(mfd, &a), -1);
	ck_assert_int_ne(fstat(msg.fd, &b), -1);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	ck_assert_int_eq(b.st_size, 8);
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u64(&r), 8);
	ck_assert_int_eq(ipc_end(&r), 0);
	close(msg.fd);
	close(mfd);
}
END_TEST

START_TEST(test_roundtrip_stats_drain)
{
	struct ipc_writer w;
	struct ipc_reader r;

	ipc_writer_init(&w);
	ipc_put_u64(&w, 5);
	ipc_put_u64(&w, 1ull << 40);
	ck_assert_int_eq(ipc_send(sv[1], IPC_STATS, 3, w.buf, w.len, -1), 0);
	ck_assert_int_eq(ipc_recv(sv[0], IPC_PEER_MASTER, &msg), IPC_RECV_OK);
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u64(&r), 5);
	ck_assert_uint_eq(ipc_get_u64(&r), 1ull << 40);
	ck_assert_int_eq(ipc_end(&r), 0);

	ipc_writer_init(&w);
	ipc_put_u32(&w, 60000);
	ck_assert_int_eq(ipc_send(sv[0], IPC_DRAIN, 0, w.buf, w.len, -1), 0);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_OK);
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u32(&r), 60000);
	ck_assert_int_eq(ipc_end(&r), 0);
}
END_TEST

/*
 * Crafted datagrams that the receive path must reject: header fields,
 * actual body bytes, fds sent, and the receiver.
 */
static const struct {
	const char	*what;
	uint32_t	 type;
	uint32_t	 hdrlen;	/* header's body length */
	size_t		 bodylen;	/* body bytes actually sent */
	int		 nfds;
	enum ipc_peer	 self;
	int		 ok;
} recv_cases[] = {
	{ "hello ok",		IPC_HELLO, 12, 12, 0, IPC_PEER_MASTER, 1 },
	{ "hello short",	IPC_HELLO, 8, 8, 0, IPC_PEER_MASTER, 0 },
	{ "hello long",		IPC_HELLO, 16, 16, 0, IPC_PEER_WORKER, 0 },
	{ "hello with fd",	IPC_HELLO, 12, 12, 1, IPC_PEER_WORKER, 0 },
	{ "len mismatch +",	IPC_HELLO, 12, 16, 0, IPC_PEER_MASTER, 0 },
	{ "len mismatch -",	IPC_HELLO, 12, 8, 0, IPC_PEER_MASTER, 0 },
	{ "len huge",		IPC_HELLO, 0xffffffff, 12, 0,
	    IPC_PEER_MASTER, 0 },
	{ "snapshot ok",	IPC_SNAPSHOT, 8, 8, 1, IPC_PEER_WORKER, 1 },
	{ "snapshot no fd",	IPC_SNAPSHOT, 8, 8, 0, IPC_PEER_WORKER, 0 },
	{ "snapshot 2 fds",	IPC_SNAPSHOT, 8, 8, 2, IPC_PEER_WORKER, 0 },
	{ "snapshot to master",	IPC_SNAPSHOT, 8, 8, 1, IPC_PEER_MASTER, 0 },
	{ "snapshot len 4",	IPC_SNAPSHOT, 4, 4, 1, IPC_PEER_WORKER, 0 },
	{ "drain ok",		IPC_DRAIN, 4, 4, 0, IPC_PEER_WORKER, 1 },
	{ "drain to master",	IPC_DRAIN, 4, 4, 0, IPC_PEER_MASTER, 0 },
	{ "drain empty",	IPC_DRAIN, 0, 0, 0, IPC_PEER_WORKER, 0 },
	{ "ack ok",		IPC_SNAPSHOT_ACK, 4, 4, 0, IPC_PEER_MASTER, 1 },
	{ "ack to worker",	IPC_SNAPSHOT_ACK, 4, 4, 0, IPC_PEER_WORKER, 0 },
	{ "ack with fd",	IPC_SNAPSHOT_ACK, 4, 4, 1, IPC_PEER_MASTER, 0 },
	{ "stats ok",		IPC_STATS, 16, 16, 0, IPC_PEER_MASTER, 1 },
	{ "stats to worker",	IPC_STATS, 16, 16, 0, IPC_PEER_WORKER, 0 },
	{ "stats 8",		IPC_STATS, 8, 8, 0, IPC_PEER_MASTER, 0 },
	{ "health_state",	IPC_HEALTH_STATE, 0, 0, 0, IPC_PEER_WORKER, 0 },
	{ "health_state 8",	IPC_HEALTH_STATE, 8, 8, 0, IPC_PEER_WORKER, 0 },
	{ "health_state ok",	IPC_HEALTH_STATE, 48, 48, 0, IPC_PEER_WORKER,
	    1 },
	{ "health_state to master", IPC_HEALTH_STATE, 48, 48, 0,
	    IPC_PEER_MASTER, 0 },
	{ "health_state fd",	IPC_HEALTH_STATE, 48, 48, 1, IPC_PEER_WORKER,
	    0 },
	{ "health_report ok",	IPC_HEALTH_REPORT, 48, 48, 0, IPC_PEER_MASTER,
	    1 },
	{ "health_report 49",	IPC_HEALTH_REPORT, 49, 49, 0, IPC_PEER_MASTER,
	    0 },
	{ "health_report 2",	IPC_HEALTH_REPORT, 96, 96, 0, IPC_PEER_MASTER,
	    1 },
	{ "health_state 3",	IPC_HEALTH_STATE, 144, 144, 0, IPC_PEER_WORKER,
	    1 },
	{ "health_state 2.5",	IPC_HEALTH_STATE, 120, 120, 0, IPC_PEER_WORKER,
	    0 },
	{ "log_reopen 0",	IPC_LOG_REOPEN, 0, 0, 1, IPC_PEER_WORKER, 0 },
	{ "log_reopen ok",	IPC_LOG_REOPEN, 4, 4, 1, IPC_PEER_WORKER, 1 },
	{ "log_reopen off",	IPC_LOG_REOPEN, 4, 4, 0, IPC_PEER_WORKER, 1 },
	{ "log_reopen 2 fds",	IPC_LOG_REOPEN, 4, 4, 2, IPC_PEER_WORKER, 0 },
	{ "log_reopen to master", IPC_LOG_REOPEN, 4, 4, 1, IPC_PEER_MASTER,
	    0 },
	{ "tls_keys ok",	IPC_TLS_KEYS, 160, 160, 0, IPC_PEER_WORKER, 1 },
	{ "tls_keys 80",	IPC_TLS_KEYS, 80, 80, 0, IPC_PEER_WORKER, 0 },
	{ "tls_keys to master",	IPC_TLS_KEYS, 160, 160, 0, IPC_PEER_MASTER,
	    0 },
	{ "tls_keys fd",	IPC_TLS_KEYS, 160, 160, 1, IPC_PEER_WORKER, 0 },
	{ "health_report",	IPC_HEALTH_REPORT, 0, 0, 0,
	    IPC_PEER_MASTER, 0 },
	{ "unknown 0",		0, 0, 0, 0, IPC_PEER_MASTER, 0 },
	{ "unknown 99",		99, 4, 4, 1, IPC_PEER_WORKER, 0 },
	{ "unknown max",	0xffffffff, 0, 0, 0, IPC_PEER_WORKER, 0 },
};

START_TEST(test_recv_rules)
{
	uint8_t buf[16 + IPC_TLS_KEYS_LEN];	/* the longest body above */
	char map[FDMAP_SIZE];
	int rc;

	memset(buf, 0x5a, sizeof(buf));
	le32(buf, recv_cases[_i].type);
	le32(buf + 4, recv_cases[_i].hdrlen);
	memset(buf + 8, 0, 8);
	fdmap(map);
	raw_send(sv[0], buf, 16 + recv_cases[_i].bodylen,
	    recv_cases[_i].nfds);
	rc = ipc_recv(sv[1], recv_cases[_i].self, &msg);
	if (recv_cases[_i].ok) {
		ck_assert_msg(rc == IPC_RECV_OK, "%s: %d", recv_cases[_i].what,
		    rc);
		if (recv_cases[_i].nfds) {
			ck_assert_int_ne(msg.fd, -1);
			ck_assert_int_eq(map[msg.fd], 0);
			close(msg.fd);
		} else
			ck_assert_int_eq(msg.fd, -1);
	} else {
		ck_assert_msg(rc == IPC_RECV_INVALID, "%s: %d",
		    recv_cases[_i].what, rc);
		ck_assert_int_eq(msg.fd, -1);
		ck_assert_uint_eq(msg.hdr.type, 0);
		ck_assert_uint_eq(msg.hdr.len, 0);
	}
	/* Every fd that came with a rejected message is closed. */
	fdmap_same(map);
	/* The socket is still usable: the next message goes through. */
	ck_assert_int_eq(ipc_send(sv[0], IPC_HELLO, 1, "123456789012", 12,
	    -1), 0);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_OK);
}
END_TEST

START_TEST(test_recv_short)
{
	static const size_t lens[] = { 1, 3, 4, 8, 15 };
	uint8_t buf[16];
	char map[FDMAP_SIZE];
	size_t i;

	memset(buf, 0, sizeof(buf));
	le32(buf, IPC_DRAIN);
	for (i = 0; i < UTIL_NELEM(lens); i++) {
		fdmap(map);
		raw_send(sv[0], buf, lens[i], i % 2);
		ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
		    IPC_RECV_INVALID);
		ck_assert_int_eq(msg.fd, -1);
		fdmap_same(map);
	}
}
END_TEST

START_TEST(test_recv_empty_with_fd)
{
	char map[FDMAP_SIZE];

	fdmap(map);

	/* A zero-byte datagram carrying an fd is not EOF, and not valid. */
	raw_send(sv[0], "", 0, 1);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
	    IPC_RECV_INVALID);
	fdmap_same(map);
}
END_TEST

START_TEST(test_recv_truncated)
{
	size_t len = 16 + IPC_MAX_BODY + 1;
	uint8_t *buf;
	char map[FDMAP_SIZE];
	int sz = 4 * 1024 * 1024;

	ck_assert_ptr_nonnull(buf = calloc(1, len));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	le32(buf, IPC_HELLO);
	le32(buf + 4, IPC_MAX_BODY + 1);
	fdmap(map);
	raw_send(sv[0], buf, len, 1);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
	    IPC_RECV_INVALID);
	fdmap_same(map);
	free(buf);
}
END_TEST

START_TEST(test_recv_ctrunc)
{
	uint8_t buf[16 + 12];
	char map[FDMAP_SIZE];

	memset(buf, 0, sizeof(buf));
	le32(buf, IPC_HELLO);
	le32(buf + 4, 12);
	fdmap(map);
	/* More fds than the receiver has room for: MSG_CTRUNC. */
	raw_send(sv[0], buf, sizeof(buf), 8);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
	    IPC_RECV_INVALID);
	fdmap_same(map);
}
END_TEST

START_TEST(test_recv_max_body)
{
	uint8_t *buf;

	/* The largest datagram that fits is read whole (then refused by
	 * the table, as no type takes 64 KiB yet). */
	ck_assert_ptr_nonnull(buf = calloc(1, 16 + IPC_MAX_BODY));
	le32(buf, IPC_HELLO);
	le32(buf + 4, IPC_MAX_BODY);
	ck_assert_int_eq(ipc_send(sv[0], IPC_HELLO, 0, buf + 16, IPC_MAX_BODY,
	    -1), 0);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
	    IPC_RECV_INVALID);
	free(buf);
}
END_TEST

START_TEST(test_eof_again)
{
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
	    IPC_RECV_AGAIN);
	ck_assert_int_eq(msg.fd, -1);
	ck_assert_int_eq(ipc_send(sv[0], IPC_DRAIN, 0, "\0\0\0\0", 4, -1), 0);
	close(sv[0]);
	/* Queued messages are still read before EOF. */
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_OK);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_EOF);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_EOF);
	sv[0] = -1;
}
END_TEST

START_TEST(test_recv_error)
{
	ck_assert_int_eq(ipc_recv(-1, IPC_PEER_WORKER, &msg), IPC_RECV_ERROR);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_send_errors)
{
	static uint8_t big[IPC_MAX_BODY + 1];

	errno = 0;
	ck_assert_int_eq(ipc_send(sv[0], IPC_HELLO, 0, big, sizeof(big), -1),
	    -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(ipc_send(sv[0], IPC_HELLO, 0, NULL, 4, -1), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	/* Peer gone: EPIPE, and no SIGPIPE (default action would kill). */
	close(sv[1]);
	ck_assert_int_eq(ipc_send(sv[0], IPC_HELLO, 0, big, 12, -1), -1);
	ck_assert_int_eq(errno, EPIPE);
	sv[1] = -1;
}
END_TEST

START_TEST(test_send_again)
{
	int n = 0;

	ck_assert_int_ne(util_set_nonblock(sv[0]), -1);
	while (ipc_send(sv[0], IPC_HELLO, 0, msg.body, 4096, -1) == 0)
		ck_assert_int_lt(++n, 100000);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	ck_assert_int_gt(n, 0);
}
END_TEST

START_TEST(test_reader)
{
	struct ipc_reader r;

	msg.hdr.len = 12;
	memset(msg.body, 0, 12);
	msg.body[0] = 1;
	msg.body[4] = 2;
	msg.body[11] = 0x80;
	/* Under-run: not everything consumed. */
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u32(&r), 1);
	ck_assert_int_eq(ipc_end(&r), -1);
	/* Exact. */
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u32(&r), 1);
	ck_assert_uint_eq(ipc_get_u64(&r), 0x8000000000000002ull);
	ck_assert_int_eq(ipc_end(&r), 0);
	/* Over-run: fails, returns 0, and keeps failing. */
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u64(&r), 0x0000000200000001ull);
	ck_assert_uint_eq(ipc_get_u64(&r), 0);
	ck_assert_int_eq(r.bad, 1);
	ck_assert_uint_eq(ipc_get_u32(&r), 0);
	ck_assert_int_eq(ipc_end(&r), -1);
	/* Empty body. */
	msg.hdr.len = 0;
	ipc_reader_init(&r, &msg);
	ck_assert_int_eq(ipc_end(&r), 0);
	ipc_get_u32(&r);
	ck_assert_int_eq(ipc_end(&r), -1);
	/* A length over the buffer is never trusted. */
	msg.hdr.len = IPC_MAX_BODY + 1;
	ipc_reader_init(&r, &msg);
	ck_assert_uint_eq(ipc_get_u32(&r), 0);
	ck_assert_int_eq(ipc_end(&r), -1);
}
END_TEST

START_TEST(test_writer)
{
	static struct ipc_writer w;
	static uint8_t chunk[IPC_MAX_BODY];

	ipc_writer_init(&w);
	ipc_put_bytes(&w, "ab", 2);
	ipc_put_u32(&w, 0xdeadbeef);
	ck_assert_uint_eq(w.len, 6);
	ck_assert_mem_eq(w.buf, "ab\xef\xbe\xad\xde", 6);
	ipc_put_bytes(&w, chunk, IPC_MAX_BODY - 6 - 4);
	ipc_put_u32(&w, 1);
	ck_assert_int_eq(w.bad, 0);
	ck_assert_uint_eq(w.len, IPC_MAX_BODY);
	ipc_put_u32(&w, 1);
	ck_assert_int_eq(w.bad, 1);
	ck_assert_uint_eq(w.len, IPC_MAX_BODY);

	ipc_writer_init(&w);
	ipc_put_bytes(&w, chunk, IPC_MAX_BODY - 7);
	ipc_put_u64(&w, 1);
	ck_assert_int_eq(w.bad, 1);
	ipc_put_bytes(&w, "", 0);
	ck_assert_int_eq(w.bad, 1);
	ck_assert_uint_eq(w.len, IPC_MAX_BODY - 7);

	ipc_writer_init(&w);
	ipc_put_bytes(&w, chunk, IPC_MAX_BODY + 1);
	ck_assert_int_eq(w.bad, 1);
	ck_assert_uint_eq(w.len, 0);
}
END_TEST

static const struct {
	uint32_t	 type;
	const char	*name;
} name_cases[] = {
	{ IPC_HELLO, "HELLO" },
	{ IPC_SNAPSHOT, "SNAPSHOT" },
	{ IPC_DRAIN, "DRAIN" },
	{ IPC_HEALTH_STATE, "HEALTH_STATE" },
	{ IPC_LOG_REOPEN, "LOG_REOPEN" },
	{ IPC_TLS_KEYS, "TLS_KEYS" },
	{ IPC_SNAPSHOT_ACK, "SNAPSHOT_ACK" },
	{ IPC_HEALTH_REPORT, "HEALTH_REPORT" },
	{ IPC_STATS, "STATS" },
	{ 0, "UNKNOWN" },
	{ 2, "UNKNOWN" },
	{ 0xffffffff, "UNKNOWN" },
};

START_TEST(test_type_name)
{
	ck_assert_str_eq(ipc_type_name(name_cases[_i].type),
	    name_cases[_i].name);
}
END_TEST

static const struct {
	uint32_t	 type, len;
	int		 has_fd;
	enum ipc_peer	 self;
	const char	*err;		/* NULL: accepted */
} check_cases[] = {
	{ IPC_HELLO, 12, 0, IPC_PEER_MASTER, NULL },
	{ IPC_HELLO, 12, 0, IPC_PEER_WORKER, NULL },
	{ IPC_HELLO, 11, 0, IPC_PEER_WORKER, "HELLO: body length 11, "
	    "expected 12" },
	{ IPC_HELLO, 12, 1, IPC_PEER_WORKER, "HELLO: unexpected fd" },
	{ IPC_SNAPSHOT, 8, 1, IPC_PEER_WORKER, NULL },
	{ IPC_SNAPSHOT, 8, 0, IPC_PEER_WORKER, "SNAPSHOT: missing fd" },
	{ IPC_SNAPSHOT, 8, 1, IPC_PEER_MASTER, "SNAPSHOT not allowed "
	    "towards the master" },
	{ IPC_DRAIN, 4, 0, IPC_PEER_WORKER, NULL },
	{ IPC_SNAPSHOT_ACK, 4, 0, IPC_PEER_MASTER, NULL },
	{ IPC_SNAPSHOT_ACK, 4, 0, IPC_PEER_WORKER, "SNAPSHOT_ACK not "
	    "allowed towards the worker" },
	{ IPC_STATS, 16, 0, IPC_PEER_MASTER, NULL },
	{ IPC_STATS, 17, 0, IPC_PEER_MASTER, "STATS: body length 17" },
	{ IPC_HEALTH_STATE, 48, 0, IPC_PEER_WORKER, NULL },
	{ IPC_HEALTH_STATE, 0, 0, IPC_PEER_WORKER, "HEALTH_STATE: body "
	    "length 0, expected 48..65520" },
	{ IPC_HEALTH_STATE, 96, 0, IPC_PEER_WORKER, NULL },
	{ IPC_HEALTH_STATE, IPC_HEALTH_BATCH * 48, 0, IPC_PEER_WORKER, NULL },
	{ IPC_HEALTH_STATE, IPC_HEALTH_BATCH * 48 + 48, 0, IPC_PEER_WORKER,
	    "HEALTH_STATE: body length 65568, expected 48..65520" },
	{ IPC_HEALTH_STATE, 72, 0, IPC_PEER_WORKER, "HEALTH_STATE: body "
	    "length 72, not a multiple of 48" },
	{ IPC_HEALTH_STATE, 48, 0, IPC_PEER_MASTER, "HEALTH_STATE not "
	    "allowed towards the master" },
	{ IPC_HEALTH_REPORT, 48, 0, IPC_PEER_MASTER, NULL },
	{ IPC_HEALTH_REPORT, 47, 0, IPC_PEER_MASTER, "HEALTH_REPORT: body "
	    "length 47, expected 48..65520" },
	{ IPC_HEALTH_REPORT, 4800, 0, IPC_PEER_MASTER, NULL },
	{ IPC_HEALTH_REPORT, 4801, 0, IPC_PEER_MASTER, "HEALTH_REPORT: body "
	    "length 4801, not a multiple of 48" },
	{ IPC_HEALTH_REPORT, 48, 1, IPC_PEER_MASTER, "HEALTH_REPORT: "
	    "unexpected fd" },
	{ IPC_LOG_REOPEN, 4, 1, IPC_PEER_WORKER, NULL },
	{ IPC_LOG_REOPEN, 4, 0, IPC_PEER_WORKER, NULL },
	{ IPC_LOG_REOPEN, 0, 1, IPC_PEER_WORKER, "LOG_REOPEN: body length 0, "
	    "expected 4" },
	{ IPC_LOG_REOPEN, 4, 1, IPC_PEER_MASTER, "LOG_REOPEN not allowed "
	    "towards the master" },
	{ 77, 0, 0, IPC_PEER_WORKER, "unknown type 77" },
	{ IPC_HELLO, 12, 0, (enum ipc_peer)5, "bad receiver" },
};

START_TEST(test_check)
{
	struct ipc_hdr h;
	char err[128] = "";
	int rc;

	h.type = check_cases[_i].type;
	h.len = check_cases[_i].len;
	h.generation = 0;
	rc = ipc_check(check_cases[_i].self, &h, check_cases[_i].has_fd, err,
	    sizeof(err));
	if (check_cases[_i].err == NULL)
		ck_assert_msg(rc == 0, "%u: %s", h.type, err);
	else {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(strstr(err, check_cases[_i].err) != NULL,
		    "\"%s\" lacks \"%s\"", err, check_cases[_i].err);
	}
}
END_TEST

/*
 * Health bodies: struct ipc_health round trips, and every field the
 * reader refuses.  <patch> rewrites one u32 of a valid IPv4 body.
 */
static const struct {
	const char	*name;
	size_t		 at;		/* byte offset of the u32 to patch */
	uint32_t	 v;
	int		 ok;
} health_cases[] = {
	{ "valid",		0, 4, 1 },
	{ "family 5",		0, 5, 0 },
	{ "family 0",		0, 0, 0 },
	{ "port 0",		4, 0, 0 },
	{ "port 65536",		4, 65536, 0 },
	{ "v4 garbage",		12, 1, 0 },
	{ "v6 accepted",	0, 6, 1 },
	{ "state 2",		24, 2, 0 },
	{ "state down",		24, 0, 1 },
	{ "result max",		28, 8, 0 },
	{ "result tls",		28, 7, 1 },
	{ "result status",	28, 3, 1 },
	{ "detail any",		32, 0xffffffff, 1 },
	{ "reserved nonzero",	44, 1, 0 },
};

START_TEST(test_health_body)
{
	struct ipc_writer wr;
	struct ipc_reader r;
	struct ipc_health in, out;
	struct sockaddr_in *sin = (struct sockaddr_in *)&in.addr;
	struct ipc_msg *m = &msg;

	memset(&in, 0, sizeof(in));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(8080);
	sin->sin_addr.s_addr = htonl(0x0a000001);
	in.addrlen = sizeof(*sin);
	in.state = 1;
	in.result = 0;
	in.detail = 200;
	in.count = 2;
	in.threshold = 2;
	ipc_writer_init(&wr);
	ipc_put_health(&wr, &in);
	ck_assert_int_eq(wr.bad, 0);
	ck_assert_uint_eq(wr.len, IPC_HEALTH_LEN);
	le32(wr.buf + health_cases[_i].at, health_cases[_i].v);
	memcpy(m->body, wr.buf, wr.len);
	m->hdr.len = (uint32_t)wr.len;
	ipc_reader_init(&r, m);
	if (!health_cases[_i].ok) {
		ck_assert_int_eq(ipc_get_health(&r, &out), -1);
		return;
	}
	ck_assert_int_eq(ipc_get_health(&r, &out), 0);
	ck_assert_int_eq(ipc_end(&r), 0);
	if (health_cases[_i].at == 0 && health_cases[_i].v == 6) {
		ck_assert_int_eq(out.addr.ss_family, AF_INET6);
		return;
	}
	ck_assert_int_eq(out.addr.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&out.addr)->sin_port),
	    8080);
	ck_assert_uint_eq(((struct sockaddr_in *)&out.addr)->sin_addr.s_addr,
	    htonl(0x0a000001));
	ck_assert_uint_eq(out.count, 2);
}
END_TEST

START_TEST(test_health_body_short)
{
	struct ipc_reader r;
	struct ipc_health out;
	struct ipc_writer wr;
	struct ipc_health in;

	memset(&in, 0, sizeof(in));
	in.addr.ss_family = AF_UNIX;
	ipc_writer_init(&wr);
	ipc_put_health(&wr, &in);
	ck_assert_int_eq(wr.bad, 1);	/* no such family on the wire */
	memset(msg.body, 0, 48);
	le32(msg.body, 4);
	le32(msg.body + 4, 80);
	msg.hdr.len = 40;
	ipc_reader_init(&r, &msg);
	ck_assert_int_eq(ipc_get_health(&r, &out), -1);
}
END_TEST

static Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("ipc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip_hello);
	tcase_add_test(tc, test_wire_little_endian);
	tcase_add_test(tc, test_roundtrip_snapshot_fd);
	tcase_add_test(tc, test_roundtrip_stats_drain);
	tcase_add_loop_test(tc, test_recv_rules, 0,
	    (int)UTIL_NELEM(recv_cases));
	tcase_add_test(tc, test_recv_short);
	tcase_add_test(tc, test_recv_empty_with_fd);
	tcase_add_test(tc, test_recv_truncated);
	tcase_add_test(tc, test_recv_ctrunc);
	tcase_add_test(tc, test_recv_max_body);
	tcase_add_test(tc, test_eof_again);
	tcase_add_test(tc, test_recv_error);
	tcase_add_test(tc, test_send_errors);
	tcase_add_test(tc, test_send_again);
	tcase_add_test(tc, test_reader);
	tcase_add_test(tc, test_writer);
	tcase_add_loop_test(tc, test_type_name, 0,
	    (int)UTIL_NELEM(name_cases));
	tcase_add_loop_test(tc, test_check, 0, (int)UTIL_NELEM(check_cases));
	tcase_add_loop_test(tc, test_health_body, 0,
	    (int)UTIL_NELEM(health_cases));
	tcase_add_test(tc, test_health_body_short);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ipc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
