/*
 * ipc: the writer and the reader of the master <-> worker messages, kept
 * in one file so they change together.
 *
 * Runs in the master and in every worker.  A message is one SOCK_SEQPACKET
 * datagram: a 16-byte little-endian header (u32 type, u32 body length,
 * u64 generation) followed by the body, plus at most one fd passed with
 * SCM_RIGHTS.  Neither side trusts the other: ipc_recv() checks every
 * datagram against ipc_table[] before any handler sees it, and a bad one
 * is logged, its fd closed and the message dropped.  Nothing here may
 * call fatal() on peer input, allocate, or block on a non-blocking socket
 * (common/ipc_queue.c keeps what a full socket cannot take yet).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "common/hcheck.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

#define IPC_HDR_LEN	16
#define IPC_MAX_FDS	4	/* room to see, and close, a peer's excess */

/* Receivers a type may go to: the direction check. */
#define IPC_TO_MASTER	(1u << IPC_PEER_MASTER)
#define IPC_TO_WORKER	(1u << IPC_PEER_WORKER)
#define IPC_TO_BOTH	(IPC_TO_MASTER | IPC_TO_WORKER)

enum ipc_fd_rule {
	IPC_FD_FORBIDDEN = 0,
	IPC_FD_REQUIRED = 1,
	IPC_FD_OPTIONAL = 2,	/* the handler checks it against the body */
};

/*
 * One row per type: who may receive it, the body length bounds and the fd
 * rule.  <accepted> 0 marks a reserved type whose body is not yet defined:
 * it is rejected until it is.
 */
static const struct ipc_rule {
	uint32_t		 type;
	const char		*name;
	unsigned int		 to;
	uint32_t		 minlen;
	uint32_t		 maxlen;
	enum ipc_fd_rule	 fd;
	int			 accepted;
	uint32_t		 unit;		/* length a multiple of it;
						 * 0: any */
} ipc_table[] = {
	{ IPC_HELLO,		"HELLO",	 IPC_TO_BOTH,	12, 12,
	    IPC_FD_FORBIDDEN,	1, 0 },
	{ IPC_SNAPSHOT,		"SNAPSHOT",	 IPC_TO_WORKER,	8, 8,
	    IPC_FD_REQUIRED,	1, 0 },
	{ IPC_DRAIN,		"DRAIN",	 IPC_TO_WORKER,	4, 4,
	    IPC_FD_FORBIDDEN,	1, 0 },
	{ IPC_HEALTH_STATE,	"HEALTH_STATE",	 IPC_TO_WORKER,	IPC_HEALTH_LEN,
	    IPC_HEALTH_BATCH * IPC_HEALTH_LEN, IPC_FD_FORBIDDEN, 1,
	    IPC_HEALTH_LEN },
	{ IPC_LOG_REOPEN,	"LOG_REOPEN",	 IPC_TO_WORKER,	4, 4,
	    IPC_FD_OPTIONAL,	1, 0 },
	{ IPC_STATUS_DOC,	"STATUS_DOC",	 IPC_TO_WORKER,	8, 8,
	    IPC_FD_REQUIRED,	1, 0 },
	{ IPC_TLS_KEYS,		"TLS_KEYS",	 IPC_TO_WORKER,
	    IPC_TLS_KEYS_LEN,	IPC_TLS_KEYS_LEN, IPC_FD_FORBIDDEN, 1, 0 },
	{ IPC_SNAPSHOT_ACK,	"SNAPSHOT_ACK",	 IPC_TO_MASTER,	4, 4,
	    IPC_FD_FORBIDDEN,	1, 0 },
	{ IPC_HEALTH_REPORT,	"HEALTH_REPORT", IPC_TO_MASTER,	IPC_HEALTH_LEN,
	    IPC_HEALTH_BATCH * IPC_HEALTH_LEN, IPC_FD_FORBIDDEN, 1,
	    IPC_HEALTH_LEN },
	{ IPC_STATS,		"STATS",	 IPC_TO_MASTER,	16, 16,
	    IPC_FD_FORBIDDEN,	1, 0 },
	{ IPC_METRICS,		"METRICS",	 IPC_TO_MASTER,	8, 8,
	    IPC_FD_REQUIRED,	1, 0 },
};

static const struct ipc_rule *
ipc_rule_find(uint32_t type)
{
	size_t i;

	for (i = 0; i < UTIL_NELEM(ipc_table); i++)
		if (ipc_table[i].type == type)
			return &ipc_table[i];
	return NULL;
}

const char *
ipc_type_name(uint32_t type)
{
	const struct ipc_rule *r;

	if ((r = ipc_rule_find(type)) == NULL)
		return "UNKNOWN";
	return r->name;
}

static void
ipc_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
ipc_le64(uint8_t *p, uint64_t v)
{
	ipc_le32(p, (uint32_t)v);
	ipc_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
ipc_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
ipc_rd64(const uint8_t *p)
{
	return (uint64_t)ipc_rd32(p) | (uint64_t)ipc_rd32(p + 4) << 32;
}

/*
 * The header and the body go out in one sendmsg(), so they form one
 * datagram: a reader never sees a header without its body.  Refuses
 * (EMSGSIZE) a body over IPC_MAX_BODY.  <fd> stays the caller's.
 */
int
ipc_send(int sock, uint32_t type, uint64_t generation, const void *body,
    size_t len, int fd)
{
	uint8_t hdr[IPC_HDR_LEN];
	struct iovec iov[2];
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	ssize_t n;

	if (len > IPC_MAX_BODY || (len > 0 && body == NULL)) {
		errno = EMSGSIZE;
		return -1;
	}
	ipc_le32(hdr, type);
	ipc_le32(hdr + 4, (uint32_t)len);
	ipc_le64(hdr + 8, generation);

	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)body;
	iov[1].iov_len = len;
	msg.msg_iov = iov;
	msg.msg_iovlen = len > 0 ? 2 : 1;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {
		/* SEQPACKET is all or nothing; be safe all the same. */
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/*
 * The table check: known and accepted type, direction, body length and fd
 * rule.  Returns 0, or -1 with the reason in <err>.
 */
int
ipc_check(enum ipc_peer self, const struct ipc_hdr *h, int has_fd,
    char *err, size_t errlen)
{
	const struct ipc_rule *r;

	if ((r = ipc_rule_find(h->type)) == NULL) {
		snprintf(err, errlen, "unknown type %u", h->type);
		return -1;
	}
	if (!r->accepted) {
		snprintf(err, errlen, "%s not yet accepted", r->name);
		return -1;
	}
	if (self != IPC_PEER_MASTER && self != IPC_PEER_WORKER) {
		snprintf(err, errlen, "%s: bad receiver", r->name);
		return -1;
	}
	if ((r->to & (1u << self)) == 0) {
		snprintf(err, errlen, "%s not allowed towards the %s",
		    r->name, self == IPC_PEER_MASTER ? "master" : "worker");
		return -1;
	}
	if (h->len < r->minlen || h->len > r->maxlen) {
		if (r->minlen == r->maxlen)
			snprintf(err, errlen, "%s: body length %u, expected %u",
			    r->name, h->len, r->minlen);
		else
			snprintf(err, errlen, "%s: body length %u, expected "
			    "%u..%u", r->name, h->len, r->minlen, r->maxlen);
		return -1;
	}
	if (r->unit != 0 && h->len % r->unit != 0) {
		snprintf(err, errlen, "%s: body length %u, not a multiple "
		    "of %u", r->name, h->len, r->unit);
		return -1;
	}
	if (r->fd == IPC_FD_REQUIRED && !has_fd) {
		snprintf(err, errlen, "%s: missing fd", r->name);
		return -1;
	}
	if (r->fd == IPC_FD_FORBIDDEN && has_fd) {
		snprintf(err, errlen, "%s: unexpected fd", r->name);
		return -1;
	}
	return 0;
}

/*
 * Receives one datagram into <m> and validates it for receiver <self>.
 * On IPC_RECV_OK, <m>->fd is the passed fd (close-on-exec, now the
 * caller's) or -1.  On any other result <m>->fd is -1 and every fd that
 * came with the datagram has been closed.
 */
enum ipc_recv_result
ipc_recv(int sock, enum ipc_peer self, struct ipc_msg *m)
{
	uint8_t hdr[IPC_HDR_LEN];
	struct iovec iov[2];
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(IPC_MAX_FDS * sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	int fds[IPC_MAX_FDS * 2], nfds = 0, i, k, cnt;
	char reason[128];
	const char *name = "UNKNOWN";
	ssize_t n;

	m->fd = -1;
	memset(&m->hdr, 0, sizeof(m->hdr));
	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = m->body;
	iov[1].iov_len = sizeof(m->body);
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IPC_RECV_AGAIN;
		return IPC_RECV_ERROR;
	}

	/* Collect every fd first, so that each early exit can close them. */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (k = 0; k < cnt && nfds < (int)UTIL_NELEM(fds); k++)
			memcpy(&fds[nfds++], CMSG_DATA(cmsg) + k * sizeof(int),
			    sizeof(int));
	}

	if (n == 0 && nfds == 0)
		return IPC_RECV_EOF;
	if ((size_t)n >= 4)
		name = ipc_type_name(ipc_rd32(hdr));
	if (msg.msg_flags & MSG_TRUNC) {
		snprintf(reason, sizeof(reason), "%s: datagram truncated "
		    "(over %zu bytes)", name, sizeof(hdr) + sizeof(m->body));
		goto bad;
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		snprintf(reason, sizeof(reason), "%s: control data "
		    "truncated", name);
		goto bad;
	}
	if ((size_t)n < sizeof(hdr)) {
		snprintf(reason, sizeof(reason), "%s: datagram of %zd bytes, "
		    "shorter than the header", name, n);
		goto bad;
	}
	if (nfds > 1) {
		snprintf(reason, sizeof(reason), "%s: %d fds, at most 1",
		    name, nfds);
		goto bad;
	}
	m->hdr.type = ipc_rd32(hdr);
	m->hdr.len = ipc_rd32(hdr + 4);
	m->hdr.generation = ipc_rd64(hdr + 8);
	if ((size_t)m->hdr.len != (size_t)n - sizeof(hdr)) {
		snprintf(reason, sizeof(reason), "%s: header length %u, %zu "
		    "body bytes read", name, m->hdr.len,
		    (size_t)n - sizeof(hdr));
		goto bad;
	}
	if (ipc_check(self, &m->hdr, nfds == 1, reason, sizeof(reason)) == -1)
		goto bad;
	if (nfds == 1)
		m->fd = fds[0];
	return IPC_RECV_OK;

 bad:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	log_warnx("ipc: message to the %s rejected: %s",
	    self == IPC_PEER_MASTER ? "master" : "worker", reason);
	memset(&m->hdr, 0, sizeof(m->hdr));
	m->fd = -1;
	return IPC_RECV_INVALID;
}

void
ipc_reader_init(struct ipc_reader *r, const struct ipc_msg *m)
{
	r->p = m->body;
	r->left = m->hdr.len <= sizeof(m->body) ? m->hdr.len : 0;
	r->bad = m->hdr.len > sizeof(m->body);
}

uint32_t
ipc_get_u32(struct ipc_reader *r)
{
	uint32_t v;

	if (r->bad || r->left < 4) {
		r->bad = 1;
		return 0;
	}
	v = ipc_rd32(r->p);
	r->p += 4;
	r->left -= 4;
	return v;
}

void
ipc_get_bytes(struct ipc_reader *r, void *p, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = 1;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->p, n);
	r->p += n;
	r->left -= n;
}

uint64_t
ipc_get_u64(struct ipc_reader *r)
{
	uint64_t v;

	if (r->bad || r->left < 8) {
		r->bad = 1;
		return 0;
	}
	v = ipc_rd64(r->p);
	r->p += 8;
	r->left -= 8;
	return v;
}

int
ipc_end(struct ipc_reader *r)
{
	if (r->bad || r->left != 0)
		return -1;
	return 0;
}

void
ipc_writer_init(struct ipc_writer *w)
{
	w->len = 0;
	w->bad = 0;
}

void
ipc_put_u32(struct ipc_writer *w, uint32_t v)
{
	if (w->bad || sizeof(w->buf) - w->len < 4) {
		w->bad = 1;
		return;
	}
	ipc_le32(w->buf + w->len, v);
	w->len += 4;
}

void
ipc_put_u64(struct ipc_writer *w, uint64_t v)
{
	if (w->bad || sizeof(w->buf) - w->len < 8) {
		w->bad = 1;
		return;
	}
	ipc_le64(w->buf + w->len, v);
	w->len += 8;
}

void
ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n)
{
	if (w->bad || sizeof(w->buf) - w->len < n) {
		w->bad = 1;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
ipc_put_health(struct ipc_writer *w, const struct ipc_health *h)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t addr[16];

	memset(addr, 0, sizeof(addr));
	if (h->addr.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)&h->addr;
		ipc_put_u32(w, 4);
		ipc_put_u32(w, ntohs(sin->sin_port));
		memcpy(addr, &sin->sin_addr, 4);
	} else if (h->addr.ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)&h->addr;
		ipc_put_u32(w, 6);
		ipc_put_u32(w, ntohs(sin6->sin6_port));
		memcpy(addr, &sin6->sin6_addr, 16);
	} else {
		w->bad = 1;
		return;
	}
	ipc_put_bytes(w, addr, sizeof(addr));
	ipc_put_u32(w, h->state);
	ipc_put_u32(w, h->result);
	ipc_put_u32(w, h->detail);
	ipc_put_u32(w, h->count);
	ipc_put_u32(w, h->threshold);
	ipc_put_u32(w, 0);
}

int
ipc_get_health(struct ipc_reader *r, struct ipc_health *h)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	uint32_t family, port, i;
	uint8_t addr[16];

	memset(h, 0, sizeof(*h));
	family = ipc_get_u32(r);
	port = ipc_get_u32(r);
	ipc_get_bytes(r, addr, sizeof(addr));
	h->state = ipc_get_u32(r);
	h->result = ipc_get_u32(r);
	h->detail = ipc_get_u32(r);
	h->count = ipc_get_u32(r);
	h->threshold = ipc_get_u32(r);
	if (ipc_get_u32(r) != 0 || r->bad || port == 0 || port > 65535 ||
	    h->state > HC_UP ||
	    h->result >= HC_RESULT_MAX)
		goto bad;
	if (family == 4) {
		for (i = 4; i < sizeof(addr); i++)
			if (addr[i] != 0)
				goto bad;
		sin = (struct sockaddr_in *)&h->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, 4);
		h->addrlen = sizeof(*sin);
	} else if (family == 6) {
		sin6 = (struct sockaddr_in6 *)&h->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, 16);
		h->addrlen = sizeof(*sin6);
	} else
		goto bad;
	return 0;
 bad:
	r->bad = 1;
	memset(h, 0, sizeof(*h));
	return -1;
}
