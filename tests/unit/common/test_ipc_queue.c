/*
 * test_ipc_queue: unit tests for common/ipc_queue.c over real
 * SOCK_SEQPACKET socketpairs and a real libev loop: fill the socket until
 * it would block, keep sending, then drain and check that every message
 * arrives in order; coalescing of superseded kinds; fds through the queue;
 * what happens at the bound; a peer that goes away.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/hcheck.h"
#include "common/ipc.h"
#include "common/ipc_queue.h"
#include "common/util.h"

#define FILL_MAX	200000	/* datagrams: far more than any buffer */
#define DRAIN_ROUNDS	100000

static int sv[2];
static struct ev_loop *loop;
static struct ipc_queue q;
static struct ipc_msg msg;

static void
setup(void)
{
	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE must kill the test */
	ck_assert_int_ne(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), -1);
	ck_assert_int_ne(util_set_nonblock(sv[0]), -1);
	ck_assert_int_ne(util_set_nonblock(sv[1]), -1);
	ck_assert_ptr_nonnull(loop = ev_loop_new(EVBACKEND_EPOLL));
	ipc_queue_init(&q, loop, sv[0], 0, 0);
}

static void
teardown(void)
{
	ipc_queue_clear(&q);
	ev_loop_destroy(loop);
	close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
}

static void
hello_body(uint8_t *b, uint32_t seq)
{
	memset(b, 0, 12);
	memcpy(b, &seq, sizeof(seq));
}

/*
 * Sends HELLOs numbered from generation 1 until one had to be queued: the
 * socket is full.  Returns how many were sent or queued.
 */
static uint64_t
fill(void)
{
	uint8_t b[12];
	uint64_t n;

	for (n = 1; n <= FILL_MAX; n++) {
		hello_body(b, (uint32_t)n);
		ck_assert_int_eq(ipc_queue_send(&q, IPC_HELLO, n, b, 12, -1),
		    0);
		if (q.count > 0)
			return n;
	}
	ck_abort_msg("the socket never filled");
	return 0;
}

/* Receives the next message for a worker, flushing the queue as needed
 * (a bounded number of loop turns). */
static void
next(struct ipc_msg *m)
{
	int i;

	for (i = 0; i < DRAIN_ROUNDS; i++) {
		switch (ipc_recv(sv[1], IPC_PEER_WORKER, m)) {
		case IPC_RECV_OK:
			return;
		case IPC_RECV_AGAIN:
			ev_run(loop, EVRUN_NOWAIT);
			continue;
		default:
			ck_abort_msg("ipc_recv failed");
		}
	}
	ck_abort_msg("no message after %d rounds", DRAIN_ROUNDS);
}

/* Receives the filler HELLOs 1..<n>, in order. */
static void
expect_fill(uint64_t n)
{
	uint64_t i;
	uint32_t seq;

	for (i = 1; i <= n; i++) {
		next(&msg);
		ck_assert_uint_eq(msg.hdr.type, IPC_HELLO);
		ck_assert_uint_eq(msg.hdr.generation, i);
		memcpy(&seq, msg.body, sizeof(seq));
		ck_assert_uint_eq(seq, i);
	}
}

static void
expect_nothing_more(void)
{
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg),
	    IPC_RECV_AGAIN);
	ck_assert_uint_eq(q.count, 0);
	ck_assert_uint_eq(q.bytes, 0);
	ck_assert(!ev_is_active(&q.wio));
}

static int
memfd_with(const char *text)
{
	int fd;

	ck_assert_int_ne(fd = memfd_create("t", MFD_CLOEXEC), -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static void
expect_fd_holds(int fd, const char *text)
{
	char buf[64] = "";
	ssize_t n;

	ck_assert_int_ne(fd, -1);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_eq(n, (ssize_t)strlen(text));
	ck_assert_str_eq(buf, text);
	close(fd);
}

static int
open_fds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/* A health record for 127.0.0.1:<port> in <state>. */
static void
put_health(struct ipc_writer *w, uint16_t port, uint32_t state)
{
	struct ipc_health h;
	struct sockaddr_in *sin = (struct sockaddr_in *)&h.addr;

	memset(&h, 0, sizeof(h));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h.addrlen = sizeof(*sin);
	h.state = state;
	h.result = HC_OK;
	ipc_put_health(w, &h);
	ck_assert(!w->bad);
}

/* Reads the records of a HEALTH_STATE into "port:state" words. */
static void
records(const struct ipc_msg *m, char *out, size_t outlen)
{
	struct ipc_reader r;
	struct ipc_health h;
	size_t used = 0;

	out[0] = '\0';
	ck_assert_uint_eq(m->hdr.type, IPC_HEALTH_STATE);
	ipc_reader_init(&r, m);
	while (r.left > 0) {
		ck_assert_int_eq(ipc_get_health(&r, &h), 0);
		used += snprintf(out + used, outlen - used, "%s%u:%s",
		    used > 0 ? " " : "",
		    ntohs(((struct sockaddr_in *)&h.addr)->sin_port),
		    h.state == HC_UP ? "up" : "down");
		ck_assert_uint_lt(used, outlen);
	}
	ck_assert_int_eq(ipc_end(&r), 0);
}

START_TEST(test_empty_queue_sends_at_once)
{
	uint8_t b[12];

	hello_body(b, 7);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HELLO, 7, b, 12, -1), 0);
	ck_assert_uint_eq(q.count, 0);
	ck_assert(!ev_is_active(&q.wio));
	ck_assert_int_eq(ipc_recv(sv[1], IPC_PEER_WORKER, &msg), IPC_RECV_OK);
	ck_assert_uint_eq(msg.hdr.generation, 7);
}
END_TEST

/* Nothing is lost past EAGAIN: every message arrives, in order. */
START_TEST(test_fill_then_drain_in_order)
{
	uint8_t b[12];
	uint64_t n, i;

	n = fill();
	ck_assert(ev_is_active(&q.wio));
	/* A thousand more behind the full socket. */
	for (i = n + 1; i <= n + 1000; i++) {
		hello_body(b, (uint32_t)i);
		ck_assert_int_eq(ipc_queue_send(&q, IPC_HELLO, i, b, 12, -1),
		    0);
	}
	ck_assert_uint_eq(q.count, 1001);
	ck_assert(!ipc_queue_over(&q));
	expect_fill(n + 1000);
	expect_nothing_more();
	ck_assert_uint_eq(q.queued, 1001);
}
END_TEST

/*
 * SNAPSHOT and STATUS_DOC: a newer one replaces the one queued, in its
 * place; the fd that goes out is the newer one's, held by the queue after
 * the caller closed its own.  DRAIN is never coalesced.
 */
START_TEST(test_newest_only_and_fds)
{
	uint8_t size[8] = { 5 };
	uint8_t grace[4] = { 0 };
	int fd, before;
	uint64_t n;

	before = open_fds();
	n = fill();
	fd = memfd_with("gen-10");
	ck_assert_int_eq(ipc_queue_send(&q, IPC_SNAPSHOT, 10, size, 8, fd),
	    0);
	close(fd);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_DRAIN, 500, grace, 4, -1), 0);
	fd = memfd_with("doc-1");
	ck_assert_int_eq(ipc_queue_send(&q, IPC_STATUS_DOC, 0, size, 8, fd),
	    0);
	close(fd);
	fd = memfd_with("gen-11");
	ck_assert_int_eq(ipc_queue_send(&q, IPC_SNAPSHOT, 11, size, 8, fd),
	    0);
	close(fd);
	fd = memfd_with("doc-2");
	ck_assert_int_eq(ipc_queue_send(&q, IPC_STATUS_DOC, 0, size, 8, fd),
	    0);
	close(fd);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_DRAIN, 501, grace, 4, -1), 0);
	/* The filler's last HELLO, then SNAPSHOT, DRAIN, STATUS_DOC, DRAIN. */
	ck_assert_uint_eq(q.count, 5);
	ck_assert_uint_eq(q.coalesced, 2);
	/* The superseded ones' fds are closed already. */
	ck_assert_int_eq(open_fds(), before + 2);

	expect_fill(n);
	next(&msg);
	ck_assert_uint_eq(msg.hdr.type, IPC_SNAPSHOT);
	ck_assert_uint_eq(msg.hdr.generation, 11);
	expect_fd_holds(msg.fd, "gen-11");
	next(&msg);
	ck_assert_uint_eq(msg.hdr.type, IPC_DRAIN);
	ck_assert_uint_eq(msg.hdr.generation, 500);
	next(&msg);
	ck_assert_uint_eq(msg.hdr.type, IPC_STATUS_DOC);
	expect_fd_holds(msg.fd, "doc-2");
	next(&msg);
	ck_assert_uint_eq(msg.hdr.type, IPC_DRAIN);
	ck_assert_uint_eq(msg.hdr.generation, 501);
	expect_nothing_more();
	/* Every fd the queue held is closed once sent. */
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

/* Below the bound, health batches go out as they were queued. */
START_TEST(test_health_history_below_bound)
{
	struct ipc_writer w;
	char got[256];
	uint64_t n;

	n = fill();
	ipc_writer_init(&w);
	put_health(&w, 1001, HC_DOWN);
	put_health(&w, 1002, HC_DOWN);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HEALTH_STATE, 0, w.buf, w.len,
	    -1), 0);
	ipc_writer_init(&w);
	put_health(&w, 1001, HC_UP);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HEALTH_STATE, 0, w.buf, w.len,
	    -1), 0);
	expect_fill(n);
	next(&msg);
	records(&msg, got, sizeof(got));
	ck_assert_str_eq(got, "1001:down 1002:down");
	next(&msg);
	records(&msg, got, sizeof(got));
	ck_assert_str_eq(got, "1001:up");
	expect_nothing_more();
}
END_TEST

/*
 * At the bound, only the newest record of each endpoint stays, in the
 * order queued; a message left empty goes; other kinds are untouched.
 */
START_TEST(test_health_coalesced_at_bound)
{
	struct ipc_writer w;
	uint8_t grace[4] = { 0 };
	char got[256];
	uint64_t n;

	n = fill();
	/* The filler's HELLO, and room for 5 health records. */
	q.max_bytes = q.bytes + 5 * IPC_HEALTH_LEN;
	ipc_writer_init(&w);
	put_health(&w, 1001, HC_DOWN);
	put_health(&w, 1002, HC_DOWN);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HEALTH_STATE, 0, w.buf, w.len,
	    -1), 0);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_DRAIN, 9, grace, 4, -1), 0);
	ipc_writer_init(&w);
	put_health(&w, 1001, HC_UP);
	put_health(&w, 1003, HC_DOWN);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HEALTH_STATE, 0, w.buf, w.len,
	    -1), 0);
	ck_assert(!ipc_queue_over(&q));
	ck_assert_uint_eq(q.coalesced, 0);
	/* Six records: over; 1001 and 1002 were superseded. */
	ipc_writer_init(&w);
	put_health(&w, 1002, HC_UP);
	put_health(&w, 1004, HC_DOWN);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HEALTH_STATE, 0, w.buf, w.len,
	    -1), 0);
	ck_assert_uint_eq(q.coalesced, 2);
	ck_assert(!ipc_queue_over(&q));
	/* HELLO, DRAIN, two health messages: the first went empty. */
	ck_assert_uint_eq(q.count, 4);

	expect_fill(n);
	next(&msg);
	ck_assert_uint_eq(msg.hdr.type, IPC_DRAIN);
	next(&msg);
	records(&msg, got, sizeof(got));
	ck_assert_str_eq(got, "1001:up 1003:down");
	next(&msg);
	records(&msg, got, sizeof(got));
	ck_assert_str_eq(got, "1002:up 1004:down");
	expect_nothing_more();
}
END_TEST

/*
 * Over the bound with nothing to coalesce: the message is still queued
 * (never dropped) and the queue says it is over; all arrive once read.
 */
START_TEST(test_bound_never_drops)
{
	uint8_t grace[4] = { 0 }, b[12];
	uint64_t n, i;

	n = fill();
	q.max_msgs = 3;
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(ipc_queue_send(&q, IPC_DRAIN, 100 + i, grace,
		    4, -1), 0);
	ck_assert(!ipc_queue_over(&q));
	hello_body(b, 0);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HELLO, 102, b, 12, -1), 0);
	ck_assert(ipc_queue_over(&q));
	ck_assert_uint_eq(q.count, 4);
	expect_fill(n);
	for (i = 0; i < 3; i++) {
		next(&msg);
		ck_assert_uint_eq(msg.hdr.generation, 100 + i);
	}
	expect_nothing_more();
	ck_assert(!ipc_queue_over(&q));
}
END_TEST

/* The peer went away: what is queued is dropped, fds closed, and later
 * sends fail with the socket's error. */
START_TEST(test_peer_gone)
{
	uint8_t size[8] = { 5 }, b[12];
	int fd, before, err;

	before = open_fds();
	(void)fill();
	fd = memfd_with("x");
	ck_assert_int_eq(ipc_queue_send(&q, IPC_SNAPSHOT, 1, size, 8, fd), 0);
	close(fd);
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(ipc_queue_flush(&q), -1);
	/* Closed with unread datagrams: a reset, else a broken pipe. */
	ck_assert(errno == ECONNRESET || errno == EPIPE);
	err = errno;
	ck_assert_uint_eq(q.count, 0);
	ck_assert(!ev_is_active(&q.wio));
	ck_assert_int_eq(open_fds(), before - 1);	/* sv[1] */
	hello_body(b, 1);
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HELLO, 1, b, 12, -1), -1);
	ck_assert_int_eq(errno, err);
}
END_TEST

START_TEST(test_refuses_oversized)
{
	static uint8_t big[IPC_MAX_BODY + 1];

	(void)fill();
	ck_assert_int_eq(ipc_queue_send(&q, IPC_HELLO, 0, big, sizeof(big),
	    -1), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_uint_eq(q.count, 1);
}
END_TEST

static Suite *
ipc_queue_suite(void)
{
	Suite *s = suite_create("ipc_queue");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_queue_sends_at_once);
	tcase_add_test(tc, test_fill_then_drain_in_order);
	tcase_add_test(tc, test_newest_only_and_fds);
	tcase_add_test(tc, test_health_history_below_bound);
	tcase_add_test(tc, test_health_coalesced_at_bound);
	tcase_add_test(tc, test_bound_never_drops);
	tcase_add_test(tc, test_peer_gone);
	tcase_add_test(tc, test_refuses_oversized);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ipc_queue_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
