/*
 * worker: the runtime of one `ingressd --worker` process.
 *
 * Whom it talks to: only the master, over the inherited SOCK_SEQPACKET
 * socket (worker_dispatch_master() and the table below), and clients and
 * backends through listener.c/proxy.c.  It opens nothing by name: once
 * HELLO is sent it confines itself (sandbox.h: chroot, user, no_new_privs,
 * seccomp) and from then on only uses the descriptors it inherited or is
 * sent.  Listeners start accepting after the first snapshot is applied.
 *
 * Argument vector (built by master/supervise.c, not for humans):
 *   ingressd --worker ID --ipc-fd FD [--listen NAME:FD]... --user USER
 *       --sandbox enforce|log|off --log-level LEVEL [--log-stderr]
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/conf.h"
#include "common/ipc.h"
#include "common/ipc_queue.h"
#include "common/log.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "worker/access_log.h"
#include "worker/admin.h"
#include "worker/balancer.h"
#include "worker/health.h"
#include "worker/listener.h"
#include "worker/proxy.h"
#include "worker/sandbox.h"
#include "worker/metrics.h"
#include "worker/upstream_tls.h"
#include "worker/tls.h"
#include "worker/worker.h"

#define WORKER_MAX_LISTEN	8
#define WORKER_DEFAULT_GRACE_MS	60000	/* SIGTERM or master gone */
#define WORKER_STATS_INTERVAL	1.0
#define WORKER_DRAIN_POLL	0.05

#ifndef F_SEAL_SEAL
#include <linux/fcntl.h>
#endif

/*
 * Messages from the master, checked by ipc_recv() for direction, length
 * and fd before they reach here.
 */
static void	worker_answer_hello(const struct ipc_msg *);
static void	worker_answer_snapshot(const struct ipc_msg *);
static void	worker_answer_drain(const struct ipc_msg *);
static void	worker_answer_health_state(const struct ipc_msg *);
static void	worker_answer_log_reopen(const struct ipc_msg *);
static void	worker_answer_tls_keys(const struct ipc_msg *);

static const struct {
	uint32_t	 type;
	void		(*handler)(const struct ipc_msg *);
} worker_master_table[] = {
	{ IPC_HELLO,	worker_answer_hello },
	{ IPC_SNAPSHOT,	worker_answer_snapshot },
	{ IPC_DRAIN,	worker_answer_drain },
	{ IPC_HEALTH_STATE, worker_answer_health_state },
	{ IPC_LOG_REOPEN, worker_answer_log_reopen },
	{ IPC_STATUS_DOC, admin_answer_status_doc },
	{ IPC_TLS_KEYS,	worker_answer_tls_keys },
};

static struct {
	struct ev_loop		*loop;
	int			 id;
	int			 ipc;
	struct ipc_queue	 q;		/* to the master */
	struct {
		int			 fd;
		enum listener_kind	 kind;
	}			 listen[WORKER_MAX_LISTEN];
	size_t			 nlisten;
	int			 listening;
	int			 hello;		/* master's HELLO seen */
	int			 draining;
	struct worker_snapshot	*current;
	ev_io			 ipc_io;
	ev_signal		 sigterm;
	ev_signal		 sigint;
	ev_timer		 stats;
	ev_timer		 drain_poll;
	ev_timer		 drain_grace;
	int			 status;	/* worker_main()'s return */
} w;

static struct ipc_msg	 worker_msg;

static void	worker_dispatch_master(struct ev_loop *, ev_io *, int);
static void	worker_drain(uint32_t, const char *);
static void	worker_stats_cb(struct ev_loop *, ev_timer *, int);
static void	worker_drain_poll_cb(struct ev_loop *, ev_timer *, int);
static void	worker_drain_grace_cb(struct ev_loop *, ev_timer *, int);
static void	worker_signal_cb(struct ev_loop *, ev_signal *, int);
static void	worker_ack(uint64_t, uint32_t);

struct worker_snapshot *
worker_snapshot_current(void)
{
	return w.current;
}

void
worker_snapshot_ref(struct worker_snapshot *ws)
{
	ws->refs++;
}

void
worker_snapshot_unref(struct worker_snapshot *ws)
{
	if (ws == NULL || --ws->refs > 0)
		return;
	log_debug("generation %llu released",
	    (unsigned long long)ws->snap.generation);
	munmap(ws->map, ws->maplen);
	free(ws);
}

int
worker_draining(void)
{
	return w.draining;
}

int
worker_id(void)
{
	return w.id;
}

static void
worker_usage(void)
{
	fprintf(stderr, "usage: ingressd --worker ID --ipc-fd FD "
	    "[--listen NAME:FD]... --user USER --sandbox enforce|log|off "
	    "--log-level LEVEL [--log-stderr]\n"
	    "(started by the ingressd master, not by hand)\n");
}

static int
worker_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Parses the argv master/supervise.c builds; -1 on anything else. */
static int
worker_parse_args(int argc, char **argv, const char **user, int *mode,
    int *level, int *to_stderr)
{
	const char *opt, *arg, *colon;
	int i, fd;

	w.id = -1;
	w.ipc = -1;
	*user = "nobody";
	*mode = CONF_SANDBOX_ENFORCE;
	*level = LOG_LEVEL_INFO;
	*to_stderr = 0;
	for (i = 1; i < argc; i++) {
		opt = argv[i];
		if (strcmp(opt, "--log-stderr") == 0) {
			*to_stderr = 1;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		arg = argv[++i];
		if (strcmp(opt, "--worker") == 0) {
			if (worker_parse_int(arg, 0, CONF_MAX_WORKERS - 1,
			    &w.id) == -1)
				return -1;
		} else if (strcmp(opt, "--ipc-fd") == 0) {
			if (worker_parse_int(arg, 3, INT_MAX, &w.ipc) == -1)
				return -1;
		} else if (strcmp(opt, "--listen") == 0) {
			if ((colon = strchr(arg, ':')) == NULL ||
			    w.nlisten == WORKER_MAX_LISTEN ||
			    worker_parse_int(colon + 1, 3, INT_MAX, &fd) == -1)
				return -1;
			if (strncmp(arg, "http:", 5) == 0)
				w.listen[w.nlisten].kind = LISTENER_HTTP;
			else if (strncmp(arg, "https:", 6) == 0)
				w.listen[w.nlisten].kind = LISTENER_HTTPS;
			else if (strncmp(arg, "admin:", 6) == 0)
				w.listen[w.nlisten].kind = LISTENER_ADMIN;
			else
				return -1;
			w.listen[w.nlisten++].fd = fd;
		} else if (strcmp(opt, "--user") == 0)
			*user = arg;
		else if (strcmp(opt, "--sandbox") == 0) {
			if (strcmp(arg, "enforce") == 0)
				*mode = CONF_SANDBOX_ENFORCE;
			else if (strcmp(arg, "log") == 0)
				*mode = CONF_SANDBOX_LOG;
			else if (strcmp(arg, "off") == 0)
				*mode = CONF_SANDBOX_OFF;
			else
				return -1;
		} else if (strcmp(opt, "--log-level") == 0) {
			if ((*level = log_level_parse(arg)) == -1)
				return -1;
		} else
			return -1;
	}
	return w.id == -1 || w.ipc == -1 ? -1 : 0;
}

int
worker_main(int argc, char **argv)
{
	struct ipc_writer wr;
	struct rlimit rl;
	const char *user;
	char err[512], role[32];
	int mode, level, to_stderr;

	if (worker_parse_args(argc, argv, &user, &mode, &level,
	    &to_stderr) == -1) {
		worker_usage();
		return 2;
	}
	log_init(to_stderr, level);
	snprintf(role, sizeof(role), "worker %d", w.id);
	log_setrole(role);
	balancer_set_rotation((unsigned int)w.id);
	signal(SIGPIPE, SIG_IGN);
	/* The master reopens the access log; `systemctl kill -s USR1`
	 * signals every process of the unit, and a worker must survive. */
	signal(SIGUSR1, SIG_IGN);

	/* Connections are descriptors: take what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}

	/* The loop is created here, after exec: nothing of the master's. */
	if ((w.loop = ev_default_loop(EVBACKEND_EPOLL)) == NULL)
		fatalx("cannot create the event loop (epoll)");
	if (util_set_nonblock(w.ipc) == -1)
		fatal("ipc fd %d", w.ipc);
	ev_io_init(&w.ipc_io, worker_dispatch_master, w.ipc, EV_READ);
	ev_io_start(w.loop, &w.ipc_io);
	ipc_queue_init(&w.q, w.loop, w.ipc, 0, 0);
	ev_signal_init(&w.sigterm, worker_signal_cb, SIGTERM);
	ev_signal_start(w.loop, &w.sigterm);
	ev_signal_init(&w.sigint, worker_signal_cb, SIGINT);
	ev_signal_start(w.loop, &w.sigint);
	ev_timer_init(&w.stats, worker_stats_cb, WORKER_STATS_INTERVAL,
	    WORKER_STATS_INTERVAL);
	ev_timer_start(w.loop, &w.stats);
	ev_timer_init(&w.drain_poll, worker_drain_poll_cb, WORKER_DRAIN_POLL,
	    WORKER_DRAIN_POLL);
	ev_init(&w.drain_grace, worker_drain_grace_cb);
	health_init(w.loop, &w.q, w.id);
	access_log_init(w.loop);

	ipc_writer_init(&wr);
	ipc_put_u32(&wr, IPC_PROTOCOL_VERSION);
	ipc_put_u32(&wr, (uint32_t)w.id);
	ipc_put_u32(&wr, (uint32_t)getpid());
	if (ipc_queue_send(&w.q, IPC_HELLO, 0, wr.buf, wr.len, -1) == -1)
		fatal("send HELLO");

	/* OpenSSL reads its configuration now: the sandbox has no files. */
	if (upstream_tls_init(err, sizeof(err)) == -1)
		fatalx("backend TLS: %s", err);
	if (tls_init() == -1)
		fatalx("OpenSSL initialisation failed");

	/* Everything is open: from here on, no filesystem, no privileges. */
	if (sandbox_enter(user, mode, err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);

	log_debug("ready, waiting for the first snapshot");
	ev_run(w.loop, 0);
	/* After the drain: the lines of the last requests too. */
	access_log_close();
	return w.status;
}

static void
worker_ack(uint64_t generation, uint32_t ok)
{
	struct ipc_writer wr;

	ipc_writer_init(&wr);
	ipc_put_u32(&wr, ok);
	/* Queued behind a full socket, never dropped: the master counts
	 * acks to call a generation applied. */
	if (ipc_queue_send(&w.q, IPC_SNAPSHOT_ACK, generation, wr.buf, wr.len,
	    -1) == -1)
		log_warn("send SNAPSHOT_ACK");
}

static void
worker_dispatch_master(struct ev_loop *loop, ev_io *io, int revents)
{
	struct ipc_msg *m = &worker_msg;
	size_t i;
	int n;

	for (n = 0; n < 16; n++) {
		switch (ipc_recv(w.ipc, IPC_PEER_WORKER, m)) {
		case IPC_RECV_AGAIN:
			return;
		case IPC_RECV_EOF:
		case IPC_RECV_ERROR:
			ev_io_stop(loop, io);
			if (!w.draining)
				log_warnx("master gone, draining");
			worker_drain(WORKER_DEFAULT_GRACE_MS, "master gone");
			return;
		case IPC_RECV_INVALID:
			continue;
		case IPC_RECV_OK:
			break;
		}
		for (i = 0; i < UTIL_NELEM(worker_master_table); i++)
			if (worker_master_table[i].type == m->hdr.type)
				break;
		if (i == UTIL_NELEM(worker_master_table) ||
		    (!w.hello && m->hdr.type != IPC_HELLO)) {
			log_warnx("unexpected %s from master, dropped",
			    ipc_type_name(m->hdr.type));
			if (m->fd != -1)
				close(m->fd);
			continue;
		}
		worker_master_table[i].handler(m);
	}
}

static void
worker_answer_hello(const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint32_t version, id;

	ipc_reader_init(&r, m);
	version = ipc_get_u32(&r);
	id = ipc_get_u32(&r);
	(void)ipc_get_u32(&r);		/* master pid */
	if (ipc_end(&r) == -1 || w.hello)
		fatalx("bad HELLO from master");
	if (version != IPC_PROTOCOL_VERSION)
		fatalx("master speaks IPC protocol %u, this worker %u",
		    version, IPC_PROTOCOL_VERSION);
	if (id != (uint32_t)w.id)
		fatalx("master calls this worker %u", id);
	w.hello = 1;
}

/*
 * A new generation: validate the sealed memfd, map it, open (validate) the
 * snapshot and make it current.  Any failure keeps the old one and is
 * answered with ACK 0.
 */
static void
worker_answer_snapshot(const struct ipc_msg *m)
{
	struct worker_snapshot *ws = NULL, *old;
	struct ipc_reader r;
	struct stat st;
	uint64_t size, gen = m->hdr.generation;
	char err[256];
	void *map = MAP_FAILED;
	int fd = m->fd, seals, i;

	ipc_reader_init(&r, m);
	size = ipc_get_u64(&r);
	if (ipc_end(&r) == -1) {
		snprintf(err, sizeof(err), "malformed message");
		goto bad;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, sizeof(err), "fstat: %s", strerror(errno));
		goto bad;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ||
	    size == 0 || size > SNAPSHOT_MAX_SIZE) {
		snprintf(err, sizeof(err), "size %lld, announced %llu",
		    (long long)st.st_size, (unsigned long long)size);
		goto bad;
	}
	/* Unsealed, the master (or anyone with the fd) could change it
	 * under our feet after validation. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals == -1 || (seals & (F_SEAL_WRITE | F_SEAL_SHRINK |
	    F_SEAL_GROW)) != (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) {
		snprintf(err, sizeof(err), "memfd not sealed");
		goto bad;
	}
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, sizeof(err), "mmap: %s", strerror(errno));
		goto bad;
	}
	close(fd);
	fd = -1;
	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto bad;
	}
	if (snapshot_open(&ws->snap, map, size, err, sizeof(err)) == -1)
		goto bad;
	if (ws->snap.generation != gen) {
		snprintf(err, sizeof(err), "blob is generation %llu",
		    (unsigned long long)ws->snap.generation);
		goto bad;
	}
	ws->map = map;
	ws->maplen = size;
	ws->refs = 1;
	old = w.current;
	w.current = ws;
	worker_snapshot_unref(old);
	log_debug("generation %llu applied (%llu bytes)",
	    (unsigned long long)gen, (unsigned long long)size);
	tls_apply(&ws->snap);
	worker_ack(gen, 1);
	metrics_snapshot(&ws->snap);
	if (!w.draining)
		health_update(&ws->snap);

	if (!w.listening && !w.draining) {
		w.listening = 1;
		for (i = 0; i < (int)w.nlisten; i++)
			if (listener_add(w.loop, w.listen[i].fd,
			    w.listen[i].kind) == -1)
				fatalx("listener on fd %d", w.listen[i].fd);
		log_info("accepting on %zu listener(s)", w.nlisten);
	}
	return;
 bad:
	log_warnx("generation %llu rejected: %s", (unsigned long long)gen,
	    err);
	if (map != MAP_FAILED)
		munmap(map, size);
	if (fd != -1)
		close(fd);
	free(ws);
	worker_ack(gen, 0);
}

/* Session-ticket keys, current then previous, shared by all workers. */
static void
worker_answer_tls_keys(const struct ipc_msg *m)
{
	struct ipc_reader r;
	struct ipc_tls_key k[2];

	ipc_reader_init(&r, m);
	ipc_get_bytes(&r, &k[0], sizeof(k[0]));
	ipc_get_bytes(&r, &k[1], sizeof(k[1]));
	if (ipc_end(&r) == -1) {
		log_warnx("malformed TLS_KEYS, dropped");
		return;
	}
	tls_set_keys(k);
	log_debug("session-ticket keys updated");
}

/* An endpoint's health, as the master tells every worker. */
static void
worker_answer_health_state(const struct ipc_msg *m)
{
	struct ipc_reader r, check;
	struct ipc_health h;

	/* The whole batch is checked before any record applies. */
	ipc_reader_init(&check, m);
	while (check.left > 0 && ipc_get_health(&check, &h) == 0)
		;
	if (ipc_end(&check) == -1) {
		log_warnx("malformed HEALTH_STATE, dropped");
		return;
	}
	ipc_reader_init(&r, m);
	while (r.left > 0 && ipc_get_health(&r, &h) == 0)
		health_set_state(&h);
}

/*
 * The access log fd to write to from now on (start, SIGUSR1, reload), or
 * OFF without one.  A format the fd does not agree with is dropped.
 */
static void
worker_answer_log_reopen(const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint32_t format;

	ipc_reader_init(&r, m);
	format = ipc_get_u32(&r);
	if (ipc_end(&r) == -1 || format > IPC_LOG_COMBINED ||
	    (format == IPC_LOG_OFF) != (m->fd == -1)) {
		log_warnx("malformed LOG_REOPEN, dropped");
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	access_log_set(m->fd, (int)format);
}

static void
worker_answer_drain(const struct ipc_msg *m)
{
	struct ipc_reader r;
	uint32_t grace;

	ipc_reader_init(&r, m);
	grace = ipc_get_u32(&r);
	if (ipc_end(&r) == -1) {
		log_warnx("malformed DRAIN, dropped");
		return;
	}
	worker_drain(grace, "asked by the master");
}

/*
 * Stops accepting, lets proxy.c finish what is in flight, and ends the
 * loop when nothing is left or after <grace_ms>.  Idempotent.
 */
static void
worker_drain(uint32_t grace_ms, const char *why)
{
	ev_tstamp left;
	size_t i;

	if (w.draining) {
		/*
		 * SIGTERM/SIGINT to the whole group (Ctrl-C, systemd) came
		 * first with the default grace: the master's, usually
		 * shorter, wins.
		 */
		left = ev_timer_remaining(w.loop, &w.drain_grace);
		if (ev_is_active(&w.drain_grace) && grace_ms / 1000.0 < left) {
			ev_timer_stop(w.loop, &w.drain_grace);
			ev_timer_set(&w.drain_grace, grace_ms / 1000.0, 0.);
			ev_timer_start(w.loop, &w.drain_grace);
		}
		return;
	}
	w.draining = 1;
	log_info("draining (%s), grace %u ms, %zu connection(s) open", why,
	    grace_ms, proxy_active_connections());
	/* What the kernel queued for us is ours to serve (proxy_drain()
	 * then gives it a second to send its request). */
	if (w.listening) {
		listener_accept_queued(w.loop);
		listener_stop_all(w.loop);
	}
	/*
	 * Our copies of the listen sockets go now.  On a shrink the master
	 * still holds them; on a full stop it has closed its own, so new
	 * connections are refused instead of waiting in a backlog nobody
	 * will accept from.
	 */
	for (i = 0; i < w.nlisten; i++)
		close(w.listen[i].fd);
	w.nlisten = 0;
	proxy_drain(w.loop);
	health_stop();
	ev_timer_start(w.loop, &w.drain_poll);
	ev_timer_set(&w.drain_grace, grace_ms / 1000.0, 0.);
	ev_timer_start(w.loop, &w.drain_grace);
	worker_drain_poll_cb(w.loop, &w.drain_poll, 0);
}

static void
worker_drain_poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (proxy_active_connections() > 0)
		return;
	log_info("drained, exiting");
	w.status = 0;
	ev_break(loop, EVBREAK_ALL);
}

static void
worker_drain_grace_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	log_warnx("drain grace over, closing %zu connection(s)",
	    proxy_active_connections());
	proxy_close_all(loop);
	w.status = 0;
	ev_break(loop, EVBREAK_ALL);
}

static void
worker_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	worker_drain(WORKER_DEFAULT_GRACE_MS, s->signum == SIGTERM ?
	    "SIGTERM" : "SIGINT");
}

static void
worker_stats_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ipc_writer wr;

	if (!w.hello || !ev_is_active(&w.ipc_io))
		return;
	ipc_writer_init(&wr);
	ipc_put_u64(&wr, proxy_active_connections());
	ipc_put_u64(&wr, proxy_requests_total());
	if (ipc_queue_send(&w.q, IPC_STATS, 0, wr.buf, wr.len, -1) == -1)
		log_warn("send STATS");
	if (metrics_send(&w.q, proxy_active_connections(),
	    proxy_idle_connections()) == -1)
		log_warn("send METRICS");
	/*
	 * What can pile up here is bounded by coalescing (one STATS, one
	 * METRICS, one health record per endpoint probed): over the bound
	 * means the master stopped reading.  Say so; it is the master's
	 * to act.
	 */
	if (ipc_queue_over(&w.q))
		log_warnx("master not reading: %zu messages, %zu bytes "
		    "queued", w.q.count, w.q.bytes);
}
