/*
 * supervise: forks, execs, watches and restarts the worker processes and
 * hands them snapshots.  Runs in the master.  It reads only IPC messages
 * from workers, which are untrusted: a bad message is logged and dropped
 * (or the worker killed), never a reason for the master to stop.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/conf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "master/supervise.h"

/*
 * Whom the master talks to here: each worker over its socketpair.
 * master_dispatch_worker() consults this table after ipc_recv() checked
 * direction, length and fd; a handler returns -1 to have the worker
 * killed (it broke the protocol).
 */
static int	master_answer_hello(struct supervise_worker *,
		    const struct ipc_msg *);
static int	master_answer_snapshot_ack(struct supervise_worker *,
		    const struct ipc_msg *);
static int	master_answer_stats(struct supervise_worker *,
		    const struct ipc_msg *);
static int	master_answer_health_report(struct supervise_worker *,
		    const struct ipc_msg *);
static int	master_answer_metrics(struct supervise_worker *,
		    const struct ipc_msg *);

static const struct {
	uint32_t	 type;
	int		 before_hello;	/* allowed before HELLO */
	int		(*handler)(struct supervise_worker *,
			    const struct ipc_msg *);
} master_worker_table[] = {
	{ IPC_HELLO,		1, master_answer_hello },
	{ IPC_SNAPSHOT_ACK,	0, master_answer_snapshot_ack },
	{ IPC_STATS,		0, master_answer_stats },
	{ IPC_HEALTH_REPORT,	0, master_answer_health_report },
	{ IPC_METRICS,		0, master_answer_metrics },
};

static void	master_dispatch_worker(struct ev_loop *, ev_io *, int);
static int	supervise_spawn(struct supervise_worker *);
static void	supervise_send_snapshot(struct supervise_worker *);
static void	supervise_send_log(struct supervise_worker *);
static void	supervise_check_applied(struct supervise *);
static void	supervise_close_ipc(struct supervise_worker *);
static void	supervise_drain_worker(struct supervise_worker *);
static void	supervise_respawn_cb(struct ev_loop *, ev_timer *, int);
static void	supervise_kill_cb(struct ev_loop *, ev_timer *, int);
static void	supervise_retire_cb(struct ev_loop *, ev_timer *, int);
static void	supervise_schedule_respawn(struct supervise_worker *);
static struct supervise_worker *supervise_slot_new(struct supervise *, int);

static struct ipc_msg	 supervise_msg;	/* 64k: not on the stack */

static const char *const sandbox_names[] = {
	[CONF_SANDBOX_ENFORCE] = "enforce",
	[CONF_SANDBOX_LOG] = "log",
	[CONF_SANDBOX_OFF] = "off",
};
static const char *const level_names[] = {
	"error", "warn", "info", "debug"
};

int
supervise_init(struct supervise *sv, struct ev_loop *loop,
    struct listeners *ls, char *err, size_t errlen)
{
	ssize_t n;

	memset(sv, 0, sizeof(*sv));
	sv->loop = loop;
	sv->ls = ls;
	sv->snap_fd = -1;
	sv->log_fd = -1;
	sv->applied = 1;
	ev_init(&sv->retire, supervise_retire_cb);
	sv->retire.data = sv;
	util_strlcpy(sv->user, "nobody", sizeof(sv->user));
	/*
	 * Resolved once: a package upgrade replacing the file on disk then
	 * still restarts workers from the binary the master runs (as long
	 * as the kernel can reach it), never from a newer one whose IPC
	 * protocol may differ.
	 */
	n = readlink("/proc/self/exe", sv->exe, sizeof(sv->exe) - 1);
	if (n == -1) {
		snprintf(err, errlen, "readlink /proc/self/exe: %s",
		    strerror(errno));
		return -1;
	}
	sv->exe[n] = '\0';
	return 0;
}

void
supervise_settings(struct supervise *sv, const char *user, int sandbox,
    int log_level, int log_stderr, uint32_t grace_ms)
{
	util_strlcpy(sv->user, user != NULL ? user : "nobody",
	    sizeof(sv->user));
	sv->sandbox = sandbox;
	sv->log_level = log_level;
	sv->log_stderr = log_stderr;
	sv->grace_ms = grace_ms;
}

static struct supervise_worker *
supervise_slot_new(struct supervise *sv, int id)
{
	struct supervise_worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->sv = sv;
	w->id = id;
	w->pid = -1;
	w->ipc = -1;
	ev_init(&w->io, master_dispatch_worker);
	w->io.data = w;
	ev_init(&w->respawn, supervise_respawn_cb);
	w->respawn.data = w;
	ev_init(&w->kill, supervise_kill_cb);
	w->kill.data = w;
	return w;
}

int
supervise_start(struct supervise *sv, int n, char *err, size_t errlen)
{
	struct supervise_worker **nw;
	int i;

	if ((nw = calloc(n, sizeof(*nw))) == NULL) {
		snprintf(err, errlen, "supervise: %s", strerror(errno));
		return -1;
	}
	sv->w = nw;
	sv->nw = sv->target = n;
	for (i = 0; i < n; i++) {
		if ((sv->w[i] = supervise_slot_new(sv, i)) == NULL ||
		    supervise_spawn(sv->w[i]) == -1) {
			snprintf(err, errlen, "cannot start worker %d", i);
			return -1;
		}
	}
	return 0;
}

/*
 * fork + exec one worker.  In the child: signals back to default, the
 * IPC end on fd 3 and the listen sockets on 4.. (the only descriptors
 * without close-on-exec), everything else closed.  Returns 0, or -1 after
 * logging (the caller retries through the backoff timer).
 */
static int
supervise_spawn(struct supervise_worker *w)
{
	struct supervise *sv = w->sv;
	struct listeners *ls = sv->ls;
	char *argv[32 + 2 * LISTENERS_MAX];
	char idbuf[16], lbuf[LISTENERS_MAX][32];
	int sp[2], high[1 + LISTENERS_MAX], nfd = 0, argc = 0, i, sig;
	struct ipc_writer wr;
	sigset_t all;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("worker %d: socketpair", w->id);
		return -1;
	}
	if (util_set_nonblock(sp[0]) == -1) {
		log_warn("worker %d: nonblock", w->id);
		goto bad;
	}

	/* argv is built before fork: the child only dups and execs. */
	snprintf(idbuf, sizeof(idbuf), "%d", w->id);
	argv[argc++] = "ingressd";
	argv[argc++] = "--worker";
	argv[argc++] = idbuf;
	argv[argc++] = "--ipc-fd";
	argv[argc++] = "3";
	for (i = 0; i < (int)ls->nl; i++) {
		snprintf(lbuf[i], sizeof(lbuf[i]), "%s:%d", ls->l[i].name,
		    4 + i);
		argv[argc++] = "--listen";
		argv[argc++] = lbuf[i];
	}
	argv[argc++] = "--user";
	argv[argc++] = sv->user;
	argv[argc++] = "--sandbox";
	argv[argc++] = (char *)sandbox_names[sv->sandbox <= CONF_SANDBOX_OFF &&
	    sv->sandbox >= 0 ? sv->sandbox : CONF_SANDBOX_ENFORCE];
	argv[argc++] = "--log-level";
	argv[argc++] = (char *)level_names[sv->log_level >= 0 &&
	    sv->log_level <= LOG_LEVEL_DEBUG ? sv->log_level : LOG_LEVEL_INFO];
	if (sv->log_stderr)
		argv[argc++] = "--log-stderr";
	argv[argc] = NULL;

	switch (pid = fork()) {
	case -1:
		log_warn("worker %d: fork", w->id);
		goto bad;
	case 0:
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		for (sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);	/* ignored survives exec */
		/*
		 * Move everything above the targets first, so that a source
		 * already sitting on 3, 4 or 5 is not clobbered, and so that
		 * dup2() (which clears FD_CLOEXEC) always makes a new fd.
		 */
		high[nfd++] = fcntl(sp[1], F_DUPFD_CLOEXEC, 64);
		for (i = 0; i < (int)ls->nl; i++)
			high[nfd++] = fcntl(ls->l[i].fds[w->id],
			    F_DUPFD_CLOEXEC, 64);
		for (i = 0; i < nfd; i++)
			if (high[i] == -1 || dup2(high[i], 3 + i) == -1)
				_exit(126);
		closefrom(3 + nfd);
		execv(sv->exe, argv);
		dprintf(STDERR_FILENO, "ingressd: worker %d: execv %s: %s\n",
		    w->id, sv->exe, strerror(errno));
		_exit(127);
	}

	close(sp[1]);
	w->pid = pid;
	w->ipc = sp[0];
	w->hello = 0;
	w->draining = 0;
	w->acked = 0;
	w->acked_ms = 0;
	w->conns = w->requests = 0;
	w->started_ms = util_now_ms();
	ev_io_set(&w->io, w->ipc, EV_READ);
	ev_io_start(sv->loop, &w->io);
	ipc_queue_init(&w->q, sv->loop, w->ipc, 0, 0);
	ev_timer_set(&w->kill, SUPERVISE_HELLO_TIMEOUT_MS / 1000.0, 0.);
	ev_timer_start(sv->loop, &w->kill);

	ipc_writer_init(&wr);
	ipc_put_u32(&wr, IPC_PROTOCOL_VERSION);
	ipc_put_u32(&wr, (uint32_t)w->id);
	ipc_put_u32(&wr, (uint32_t)getpid());
	if (ipc_queue_send(&w->q, IPC_HELLO, 0, wr.buf, wr.len, -1) == -1)
		log_warn("worker %d: send HELLO", w->id);
	log_info("worker %d started, pid %ld", w->id, (long)pid);
	return 0;
 bad:
	close(sp[0]);
	close(sp[1]);
	return -1;
}

static void
supervise_close_ipc(struct supervise_worker *w)
{
	ev_io_stop(w->sv->loop, &w->io);
	/* Before the close: the queue's watcher is on the same fd. */
	ipc_queue_clear(&w->q);
	if (w->ipc != -1)
		close(w->ipc);
	w->ipc = -1;
}

/*
 * <w>'s queue is over its bound even after coalescing: it stopped reading
 * (a hung or overloaded worker).  Growing without limit is not an option;
 * kill it and let supervise_exited() restart it with the current state.
 * 1 when it was killed.
 */
static int
supervise_stuck(struct supervise_worker *w)
{
	if (!ipc_queue_over(&w->q))
		return 0;
	log_warnx("worker %d (pid %ld) is not reading its IPC socket: %zu "
	    "messages, %zu bytes queued (bound %zu, %zu bytes); killing it",
	    w->id, (long)w->pid, w->q.count, w->q.bytes, w->q.max_msgs,
	    w->q.max_bytes);
	if (w->pid != -1)
		kill(w->pid, SIGKILL);
	supervise_close_ipc(w);
	return 1;
}

/* Reads every message queued from <w> and runs its handler. */
static void
master_dispatch_worker(struct ev_loop *loop, ev_io *io, int revents)
{
	struct supervise_worker *w = io->data;
	struct ipc_msg *m = &supervise_msg;
	size_t i;
	int n;

	for (n = 0; n < 64 && w->ipc != -1; n++) {
		switch (ipc_recv(w->ipc, IPC_PEER_MASTER, m)) {
		case IPC_RECV_AGAIN:
			return;
		case IPC_RECV_EOF:
			/* Dying or dead: SIGCHLD tells how. */
			log_debug("worker %d: IPC closed", w->id);
			supervise_close_ipc(w);
			return;
		case IPC_RECV_ERROR:
			/* A worker exiting with unread messages: a reset. */
			if (errno == ECONNRESET)
				log_debug("worker %d: IPC reset", w->id);
			else
				log_warn("worker %d: IPC receive", w->id);
			supervise_close_ipc(w);
			return;
		case IPC_RECV_INVALID:
			continue;	/* logged by ipc_recv, fd closed */
		case IPC_RECV_OK:
			break;
		}
		/* Only IPC_METRICS carries one; its handler owns it. */
		if (m->fd != -1 && m->hdr.type != IPC_METRICS) {
			close(m->fd);
			m->fd = -1;
		}
		for (i = 0; i < UTIL_NELEM(master_worker_table); i++)
			if (master_worker_table[i].type == m->hdr.type)
				break;
		if (i == UTIL_NELEM(master_worker_table)) {
			log_warnx("worker %d: unexpected %s, dropped", w->id,
			    ipc_type_name(m->hdr.type));
			continue;
		}
		if (!w->hello && !master_worker_table[i].before_hello) {
			log_warnx("worker %d: %s before HELLO, dropped", w->id,
			    ipc_type_name(m->hdr.type));
			if (m->fd != -1)
				close(m->fd);
			continue;
		}
		if (master_worker_table[i].handler(w, m) == -1) {
			log_warnx("worker %d: protocol violation, killing "
			    "pid %ld", w->id, (long)w->pid);
			if (w->pid != -1)
				kill(w->pid, SIGKILL);
			supervise_close_ipc(w);
			return;
		}
	}
}

static int
master_answer_hello(struct supervise_worker *w, const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint32_t version, id, pid;

	ipc_reader_init(&r, m);
	version = ipc_get_u32(&r);
	id = ipc_get_u32(&r);
	pid = ipc_get_u32(&r);
	if (ipc_end(&r) == -1) {
		log_warnx("worker %d: malformed HELLO", w->id);
		return -1;
	}
	if (w->hello) {
		log_warnx("worker %d: second HELLO", w->id);
		return -1;
	}
	if (version != IPC_PROTOCOL_VERSION) {
		log_warnx("worker %d: IPC protocol version %u, master speaks "
		    "%u", w->id, version, IPC_PROTOCOL_VERSION);
		return -1;
	}
	if (id != (uint32_t)w->id || pid != (uint32_t)w->pid) {
		log_warnx("worker %d: HELLO claims worker %u pid %u", w->id,
		    id, pid);
		return -1;
	}
	w->hello = 1;
	ev_timer_stop(w->sv->loop, &w->kill);
	if (w->draining) {
		/* Stop arrived before the HELLO: pass it on now. */
		w->draining = 0;
		supervise_drain_worker(w);
		return 0;
	}
	if (w->sv->log_fd != -1)	/* first: it logs from its first request */
		supervise_send_log(w);
	supervise_send_snapshot(w);
	return 0;
}

static int
master_answer_snapshot_ack(struct supervise_worker *w,
    const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint32_t ok;

	ipc_reader_init(&r, m);
	ok = ipc_get_u32(&r);
	if (ipc_end(&r) == -1 || ok > 1) {
		log_warnx("worker %d: malformed SNAPSHOT_ACK", w->id);
		return 0;
	}
	if (!ok) {
		log_warnx("worker %d rejected generation %llu", w->id,
		    (unsigned long long)m->hdr.generation);
		return 0;
	}
	if (m->hdr.generation > w->sv->generation)
		log_warnx("worker %d: ack for unknown generation %llu",
		    w->id, (unsigned long long)m->hdr.generation);
	else if (m->hdr.generation > w->acked) {
		w->acked = m->hdr.generation;
		w->acked_ms = util_now_ms();
	}
	supervise_check_applied(w->sv);
	return 0;
}

/* The worker's counters (a sealed memfd): for hooks.metrics. */
static int
master_answer_metrics(struct supervise_worker *w, const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint64_t size;

	ipc_reader_init(&r, m);
	size = ipc_get_u64(&r);
	if (ipc_end(&r) == -1 || w->sv->hooks.metrics == NULL) {
		close(m->fd);
		return 0;
	}
	w->sv->hooks.metrics(w->sv->hooks.arg, w, m->fd, size);
	return 0;
}

static int
master_answer_stats(struct supervise_worker *w, const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint64_t conns, requests;

	ipc_reader_init(&r, m);
	conns = ipc_get_u64(&r);
	requests = ipc_get_u64(&r);
	if (ipc_end(&r) == -1) {
		log_warnx("worker %d: malformed STATS", w->id);
		return 0;
	}
	w->conns = conns;
	w->requests = requests;
	return 0;
}

/*
 * A probing worker saw endpoints change state (a batch of records).  The
 * master owns the table (hooks.health_report); a malformed message is
 * dropped whole, before any record applies, not fatal: a worker's bug
 * must not cost everyone else their workers.
 */
static int
master_answer_health_report(struct supervise_worker *w,
    const struct ipc_msg *m)
{
	struct ipc_reader r, check;
	struct ipc_health h;

	ipc_reader_init(&check, m);
	while (check.left > 0 && ipc_get_health(&check, &h) == 0)
		;
	if (ipc_end(&check) == -1) {
		log_warnx("worker %d: malformed HEALTH_REPORT, dropped",
		    w->id);
		return 0;
	}
	ipc_reader_init(&r, m);
	while (r.left > 0 && ipc_get_health(&r, &h) == 0)
		if (w->sv->hooks.health_report != NULL)
			w->sv->hooks.health_report(w->sv->hooks.arg, &h);
	return 0;
}

void
supervise_send_fd(struct supervise_worker *w, uint32_t type,
    const void *body, size_t len, int fd)
{
	if (w->ipc == -1 || !w->hello || w->draining)
		return;
	if (ipc_queue_send(&w->q, type, w->sv->generation, body, len,
	    fd) == -1)
		log_warn("worker %d: send %s", w->id, ipc_type_name(type));
	else
		(void)supervise_stuck(w);
}

void
supervise_send(struct supervise_worker *w, uint32_t type, const void *body,
    size_t len)
{
	supervise_send_fd(w, type, body, len, -1);
}

void
supervise_broadcast(struct supervise *sv, uint32_t type, const void *body,
    size_t len)
{
	int i;

	for (i = 0; i < sv->nw; i++)
		if (sv->w[i] != NULL)
			supervise_send(sv->w[i], type, body, len);
}

static void
supervise_send_snapshot(struct supervise_worker *w)
{
	struct supervise *sv = w->sv;
	struct ipc_writer wr;

	if (sv->snap_fd == -1 || w->ipc == -1 || !w->hello || w->draining)
		return;
	ipc_writer_init(&wr);
	ipc_put_u64(&wr, sv->snap_size);
	/*
	 * Queued behind a full socket, it replaces a snapshot not yet sent:
	 * the worker then acks only this generation, and the master waits
	 * only for the current one (supervise_check_applied()).
	 */
	if (ipc_queue_send(&w->q, IPC_SNAPSHOT, sv->generation, wr.buf,
	    wr.len, sv->snap_fd) == -1) {
		log_warn("worker %d: send SNAPSHOT generation %llu", w->id,
		    (unsigned long long)sv->generation);
		return;
	}
	if (supervise_stuck(w))
		return;
	if (w->acked == 0 && sv->hooks.worker_synced != NULL)
		sv->hooks.worker_synced(sv->hooks.arg, w);
}

/* The access log to <w>, when there is one. */
static void
supervise_send_log(struct supervise_worker *w)
{
	struct supervise *sv = w->sv;
	struct ipc_writer wr;

	if (w->ipc == -1 || !w->hello || w->draining)
		return;
	ipc_writer_init(&wr);
	ipc_put_u32(&wr, sv->log_format);
	if (ipc_queue_send(&w->q, IPC_LOG_REOPEN, sv->generation, wr.buf,
	    wr.len, sv->log_fd) == -1)
		log_warn("worker %d: send LOG_REOPEN", w->id);
	else
		(void)supervise_stuck(w);
}

void
supervise_access_log(struct supervise *sv, int fd, uint32_t format)
{
	int i, was_off = sv->log_fd == -1;

	if (sv->log_fd != -1)
		close(sv->log_fd);
	sv->log_fd = fd;
	sv->log_format = fd == -1 ? IPC_LOG_OFF : format;
	/* Workers start with it off: nothing to say when it stays so. */
	if (was_off && fd == -1)
		return;
	for (i = 0; i < sv->nw; i++)
		if (sv->w[i] != NULL)
			supervise_send_log(sv->w[i]);
}

/* Logs once per generation when every running worker applied it. */
static void
supervise_check_applied(struct supervise *sv)
{
	struct supervise_worker *w;
	int i, n = 0;

	if (sv->applied)
		return;
	for (i = 0; i < sv->nw; i++) {
		w = sv->w[i];
		if (w == NULL || w->pid == -1 || w->draining)
			continue;
		if (w->acked < sv->generation)
			return;
		n++;
	}
	if (n == 0)
		return;
	sv->applied = 1;
	log_info("generation %llu applied by all workers in %llu ms",
	    (unsigned long long)sv->generation,
	    (unsigned long long)(util_now_ms() - sv->published_ms));
	if (sv->hooks.applied != NULL)
		sv->hooks.applied(sv->hooks.arg);
}

void
supervise_publish(struct supervise *sv, int fd, uint64_t size,
    uint64_t generation)
{
	int i;

	if (sv->snap_fd != -1)
		close(sv->snap_fd);
	sv->snap_fd = fd;
	sv->snap_size = size;
	sv->generation = generation;
	sv->published_ms = util_now_ms();
	sv->applied = 0;
	for (i = 0; i < sv->nw; i++)
		if (sv->w[i] != NULL)
			supervise_send_snapshot(sv->w[i]);
}

static void
supervise_drain_worker(struct supervise_worker *w)
{
	struct supervise *sv = w->sv;
	struct ipc_writer wr;

	if (w->pid == -1 || w->draining)
		return;
	w->draining = 1;
	/* Without a HELLO yet, the drain goes out when it comes. */
	if (w->hello && w->ipc != -1) {
		ipc_writer_init(&wr);
		ipc_put_u32(&wr, sv->grace_ms);
		if (ipc_queue_send(&w->q, IPC_DRAIN, 0, wr.buf, wr.len,
		    -1) == -1) {
			/* EPIPE: already exiting (SIGTERM to the group). */
			if (errno != EPIPE && errno != ECONNRESET)
				log_warn("worker %d: send DRAIN, terminating",
				    w->id);
			kill(w->pid, SIGTERM);
		}
	} else if (w->ipc == -1)
		kill(w->pid, SIGTERM);
	ev_timer_set(&w->kill, (sv->grace_ms + SUPERVISE_KILL_SLACK_MS) /
	    1000.0, 0.);
	ev_timer_start(sv->loop, &w->kill);
}

static void
supervise_kill_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct supervise_worker *w = t->data;

	if (w->pid == -1)
		return;
	if (!w->draining)
		log_warnx("worker %d (pid %ld) sent no HELLO within %d ms, "
		    "killing it", w->id, (long)w->pid,
		    SUPERVISE_HELLO_TIMEOUT_MS);
	else
		log_warnx("worker %d (pid %ld) still running %u ms after the "
		    "drain, killing it", w->id, (long)w->pid,
		    w->sv->grace_ms + SUPERVISE_KILL_SLACK_MS);
	kill(w->pid, SIGKILL);
}

static void
supervise_respawn_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct supervise_worker *w = t->data;
	struct supervise *sv = w->sv;

	if (sv->stopping || w->retired || w->pid != -1)
		return;
	w->restarts++;
	if (supervise_spawn(w) == -1) {
		/* fork/socketpair failed: try again later. */
		ev_timer_set(&w->respawn, SUPERVISE_BACKOFF_MIN_MS / 1000.0,
		    0.);
		ev_timer_start(loop, &w->respawn);
	}
}

int
supervise_relisten(struct supervise *sv, char *err, size_t errlen)
{
	struct supervise_worker *w, *nw;
	int i;

	if (sv->target != sv->nw || sv->ls->nslots != sv->nw) {
		snprintf(err, errlen, "the worker pool is still shrinking");
		return -1;
	}
	for (i = 0; i < sv->nw; i++) {
		w = sv->w[i];
		if ((nw = supervise_slot_new(sv, i)) == NULL) {
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;	/* slots before i already moved */
		}
		nw->restarts = w->restarts;
		sv->w[i] = nw;
		ev_timer_stop(sv->loop, &w->respawn);
		if (w->pid == -1) {
			ev_timer_stop(sv->loop, &w->kill);
			supervise_close_ipc(w);
			free(w);
		} else {
			/* Serves what it has in flight on the old sockets. */
			w->next = sv->old;
			sv->old = w;
			supervise_drain_worker(w);
		}
		if (supervise_spawn(nw) == -1)
			supervise_schedule_respawn(nw);
	}
	log_info("workers restarted on the new listeners");
	return 0;
}

const char *
supervise_status_text(int status, char *buf, size_t buflen)
{
	const char *name;
	int sig;

	if (WIFEXITED(status)) {
		snprintf(buf, buflen, "exited with status %d",
		    WEXITSTATUS(status));
		return buf;
	}
	if (!WIFSIGNALED(status)) {
		snprintf(buf, buflen, "stopped (status 0x%x)", status);
		return buf;
	}
	sig = WTERMSIG(status);
	name = sigabbrev_np(sig);
	if (sig == SIGSYS)
		snprintf(buf, buflen, "killed by SIGSYS (seccomp violation)");
	else if (name != NULL)
		snprintf(buf, buflen, "killed by SIG%s%s", name,
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, buflen, "killed by signal %d", sig);
	return buf;
}

/*
 * Crash-loop accounting for <w>, which just died unexpectedly: restart
 * now, unless it died more than SUPERVISE_CRASH_MAX times within the
 * window, then after a doubling backoff.
 */
static void
supervise_schedule_respawn(struct supervise_worker *w)
{
	uint64_t now = util_now_ms(), oldest;
	double delay = 0;
	size_t ring = SUPERVISE_CRASH_MAX + 1;

	w->deaths[w->ndeaths % ring] = now;
	w->ndeaths++;
	/* The death SUPERVISE_CRASH_MAX before this one, if any. */
	oldest = w->ndeaths >= ring ? w->deaths[w->ndeaths % ring] : 0;
	if (w->ndeaths >= ring && now - oldest < SUPERVISE_CRASH_WINDOW_MS) {
		w->backoff_ms = w->backoff_ms == 0 ? SUPERVISE_BACKOFF_MIN_MS :
		    w->backoff_ms * 2;
		if (w->backoff_ms > SUPERVISE_BACKOFF_MAX_MS)
			w->backoff_ms = SUPERVISE_BACKOFF_MAX_MS;
		delay = w->backoff_ms / 1000.0;
		log_warnx("worker %d is crash-looping (%d deaths in %d s), "
		    "restarting in %u ms", w->id, SUPERVISE_CRASH_MAX + 1,
		    SUPERVISE_CRASH_WINDOW_MS / 1000, w->backoff_ms);
	} else
		w->backoff_ms = 0;
	ev_timer_set(&w->respawn, delay, 0.);
	ev_timer_start(w->sv->loop, &w->respawn);
}

/* Frees the retired top slots once all of them are gone, then closes
 * their listen sockets. */
static void
supervise_trim(struct supervise *sv)
{
	char err[256];
	int i;

	for (i = sv->target; i < sv->nw; i++)
		if (sv->w[i] != NULL && sv->w[i]->pid != -1)
			return;
	if (sv->nw == sv->target)
		return;
	for (i = sv->target; i < sv->nw; i++) {
		if (sv->w[i] == NULL)
			continue;
		ev_timer_stop(sv->loop, &sv->w[i]->respawn);
		ev_timer_stop(sv->loop, &sv->w[i]->kill);
		supervise_close_ipc(sv->w[i]);
		free(sv->w[i]);
		sv->w[i] = NULL;
	}
	sv->nw = sv->target;
	if (listeners_resize(sv->ls, sv->target, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	log_info("worker pool is now %d", sv->nw);
}

/* A worker replaced by supervise_relisten() ended: 1 when <pid> was one. */
static int
supervise_exited_old(struct supervise *sv, pid_t pid, int status)
{
	struct supervise_worker **pp, *w;
	char why[128];

	for (pp = &sv->old; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->pid != pid)
			continue;
		w = *pp;
		*pp = w->next;
		log_info("worker %d (pid %ld, old listeners) %s", w->id,
		    (long)pid, supervise_status_text(status, why,
		    sizeof(why)));
		ev_timer_stop(sv->loop, &w->kill);
		ev_timer_stop(sv->loop, &w->respawn);
		supervise_close_ipc(w);
		free(w);
		return 1;
	}
	return 0;
}

void
supervise_exited(struct supervise *sv, pid_t pid, int status)
{
	struct supervise_worker *w = NULL;
	char why[128];
	int i;

	if (WIFSTOPPED(status) || WIFCONTINUED(status))
		return;
	for (i = 0; i < sv->nw; i++)
		if (sv->w[i] != NULL && sv->w[i]->pid == pid)
			w = sv->w[i];
	if (w == NULL && supervise_exited_old(sv, pid, status))
		goto done;
	if (w == NULL) {
		log_debug("reaped unknown child %ld", (long)pid);
		return;
	}
	supervise_status_text(status, why, sizeof(why));
	w->pid = -1;
	supervise_close_ipc(w);
	ev_timer_stop(sv->loop, &w->kill);
	if (w->draining || w->retired || sv->stopping)
		log_info("worker %d (pid %ld) %s", w->id, (long)pid, why);
	else {
		log_warnx("worker %d (pid %ld) %s; restarting", w->id,
		    (long)pid, why);
		supervise_schedule_respawn(w);
	}

	if (!sv->stopping)
		supervise_trim(sv);
	/* Someone gone may have been the last one we waited for. */
	supervise_check_applied(sv);
 done:
	if (sv->stopping && supervise_live(sv) == 0 && sv->done != NULL) {
		supervise_done_cb done = sv->done;

		sv->done = NULL;
		done(sv->done_arg);
	}
}

int
supervise_resize(struct supervise *sv, int n, char *err, size_t errlen)
{
	struct supervise_worker **nw;
	int i, old = sv->nw;

	if (n < 1 || n > CONF_MAX_WORKERS) {
		snprintf(err, errlen, "workers: %d out of range", n);
		return -1;
	}
	if (n == sv->target)
		return 0;
	if (sv->target != sv->nw) {
		snprintf(err, errlen, "workers: the pool is still shrinking "
		    "to %d, try again later", sv->target);
		return -1;
	}
	if (n < sv->nw) {
		sv->target = n;
		for (i = n; i < sv->nw; i++) {
			sv->w[i]->retired = 1;
			ev_timer_stop(sv->loop, &sv->w[i]->respawn);
		}
		log_info("shrinking the worker pool from %d to %d", old, n);
		/*
		 * Closing a REUSEPORT socket resets what is queued on it:
		 * new connections go to the remaining slots first, and the
		 * retired workers accept their queues a while longer.
		 */
		if (listeners_steer(sv->ls, n) == 0) {
			ev_timer_set(&sv->retire, SUPERVISE_RETIRE_MS / 1000.0,
			    0.);
			ev_timer_start(sv->loop, &sv->retire);
		} else
			supervise_retire_cb(sv->loop, &sv->retire, 0);
		supervise_trim(sv);
		return 0;
	}
	if (listeners_resize(sv->ls, n, err, errlen) == -1)
		return -1;
	if ((nw = reallocarray(sv->w, n, sizeof(*nw))) == NULL) {
		snprintf(err, errlen, "workers: %s", strerror(errno));
		listeners_resize(sv->ls, old, err, errlen);
		return -1;
	}
	sv->w = nw;
	for (i = old; i < n; i++)
		sv->w[i] = NULL;
	sv->nw = sv->target = n;
	log_info("growing the worker pool from %d to %d", old, n);
	for (i = old; i < n; i++) {
		if ((sv->w[i] = supervise_slot_new(sv, i)) == NULL) {
			log_warn("worker %d", i);
			continue;
		}
		if (supervise_spawn(sv->w[i]) == -1)
			supervise_schedule_respawn(sv->w[i]);
	}
	return 0;
}

/* The retired top slots had their time to empty their queues. */
static void
supervise_retire_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct supervise *sv = t->data;
	int i;

	for (i = sv->target; i < sv->nw; i++)
		if (sv->w[i] != NULL && sv->w[i]->retired)
			supervise_drain_worker(sv->w[i]);
}

void
supervise_stop(struct supervise *sv, supervise_done_cb done, void *arg)
{
	int i;

	sv->stopping = 1;
	sv->done = done;
	sv->done_arg = arg;
	ev_timer_stop(sv->loop, &sv->retire);
	for (i = 0; i < sv->nw; i++) {
		if (sv->w[i] == NULL)
			continue;
		ev_timer_stop(sv->loop, &sv->w[i]->respawn);
		supervise_drain_worker(sv->w[i]);
	}
	if (supervise_live(sv) == 0 && sv->done != NULL) {
		sv->done = NULL;
		done(arg);
	}
}

int
supervise_live(const struct supervise *sv)
{
	const struct supervise_worker *w;
	int i, n = 0;

	for (i = 0; i < sv->nw; i++)
		if (sv->w[i] != NULL && sv->w[i]->pid != -1)
			n++;
	for (w = sv->old; w != NULL; w = w->next)
		n++;
	return n;
}
