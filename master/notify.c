/*
 * notify: systemd readiness notification from the master (see notify.h).
 *
 * The protocol is one AF_UNIX datagram of "KEY=VALUE\n" lines per message,
 * sent to $NOTIFY_SOCKET; systemd reads our credentials from the socket
 * (SO_PASSCRED on its side), so nothing else goes with it.  Sends use
 * MSG_DONTWAIT: a stuck service manager must not stall the master's loop,
 * and a lost STATUS line harms nobody.  Runs in the master only.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "common/log.h"
#include "common/util.h"
#include "master/notify.h"
#include "master/supervise.h"

static struct {
	struct ev_loop		*loop;
	int			 fd;
	struct sockaddr_un	 sun;
	socklen_t		 sunlen;
	notify_state_fn		*state;
	void			*arg;
	int			 mainpid;	/* MAINPID= not sent yet */
	int			 want_ready;	/* READY=1 owed */
	int			 stopping;
	int			 send_failed;	/* logged once per outage */
	struct notify_state	 last;		/* as in the last STATUS= */
	int			 have_last;
	ev_prepare		 prepare;
	ev_timer		 watchdog;
} n = { .fd = -1 };

/* As we got them, for a new master started by a binary upgrade. */
static char	notify_env_socket[128], notify_env_watchdog[32];

static void	notify_prepare_cb(struct ev_loop *, ev_prepare *, int);
static void	notify_watchdog_cb(struct ev_loop *, ev_timer *, int);

/* $NOTIFY_SOCKET into n.sun; 0 or -1 after logging. */
static int
notify_address(const char *e)
{
	size_t len = strlen(e);

	memset(&n.sun, 0, sizeof(n.sun));
	n.sun.sun_family = AF_UNIX;
	if ((e[0] != '/' && e[0] != '@') || len < 2 ||
	    len >= sizeof(n.sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET \"%s\": not a path or an @abstract "
		    "name that fits a Unix socket address; not notifying", e);
		return -1;
	}
	memcpy(n.sun.sun_path, e, len);
	if (e[0] == '@')
		n.sun.sun_path[0] = '\0';
	/* An abstract name is exactly its bytes: no terminating NUL. */
	n.sunlen = offsetof(struct sockaddr_un, sun_path) + len +
	    (e[0] == '/');
	return 0;
}

/* Half of $WATCHDOG_USEC in seconds when it is meant for us, else 0. */
static double
notify_watchdog_interval(void)
{
	const char *e, *p;
	unsigned long long usec, pid;
	char *end;

	if ((e = getenv("WATCHDOG_USEC")) == NULL)
		return 0;
	errno = 0;
	usec = strtoull(e, &end, 10);
	if (errno != 0 || end == e || *end != '\0' || usec == 0) {
		log_warnx("WATCHDOG_USEC \"%s\": not a positive number; no "
		    "watchdog pings", e);
		return 0;
	}
	if ((p = getenv("WATCHDOG_PID")) != NULL) {
		errno = 0;
		pid = strtoull(p, &end, 10);
		if (errno != 0 || end == p || *end != '\0' ||
		    pid != (unsigned long long)getpid())
			return 0;
	}
	return (double)usec / 2e6;
}

int
notify_open(struct ev_loop *loop, notify_state_fn *fn, void *arg,
    int mainpid)
{
	const char *e;
	double wd;
	int rc = 0;

	if ((e = getenv("WATCHDOG_USEC")) != NULL)
		util_strlcpy(notify_env_watchdog, e,
		    sizeof(notify_env_watchdog));
	if ((e = getenv("NOTIFY_SOCKET")) == NULL)
		goto done;
	util_strlcpy(notify_env_socket, e, sizeof(notify_env_socket));
	if (notify_address(e) == -1) {
		rc = -1;
		goto done;
	}
	if ((n.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("NOTIFY_SOCKET: socket");
		rc = -1;
		goto done;
	}
	n.loop = loop;
	n.state = fn;
	n.arg = arg;
	n.mainpid = mainpid;
	n.want_ready = 1;
	ev_prepare_init(&n.prepare, notify_prepare_cb);
	ev_prepare_start(loop, &n.prepare);
	ev_unref(loop);			/* never what keeps the loop alive */
	if ((wd = notify_watchdog_interval()) > 0) {
		ev_timer_init(&n.watchdog, notify_watchdog_cb, wd, wd);
		ev_timer_start(loop, &n.watchdog);
		ev_unref(loop);
		log_info("systemd watchdog: pinging every %.3f s", wd);
	}
 done:
	/* Workers are our children: none of this is theirs. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return rc;
}

void
notify_upgrade_env(const char **sock, const char **watchdog_usec)
{
	*sock = notify_env_socket;
	*watchdog_usec = notify_env_watchdog;
}

int
notify_active(void)
{
	return n.fd != -1;
}

int
notify_send(const char *msg)
{
	if (n.fd == -1)
		return 0;
	if (sendto(n.fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&n.sun, n.sunlen) == -1) {
		if (!n.send_failed)
			log_warn("NOTIFY_SOCKET: send");
		n.send_failed = 1;
		return -1;
	}
	n.send_failed = 0;
	return 0;
}

/*
 * Before the loop blocks: READY=1 when it is owed and the workers run the
 * current generation, and STATUS= when what it would say changed.
 */
static void
notify_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct notify_state st;
	char msg[256];
	int len = 0, ready;

	if (n.stopping)
		return;
	memset(&st, 0, sizeof(st));
	n.state(n.arg, &st);
	ready = st.applied && st.workers > 0;
	if (n.have_last && !(n.want_ready && ready) &&
	    st.generation == n.last.generation &&
	    st.applied == n.last.applied && st.workers == n.last.workers)
		return;
	if (n.want_ready && ready) {
		len += snprintf(msg + len, sizeof(msg) - len, "READY=1\n");
		if (n.mainpid)
			len += snprintf(msg + len, sizeof(msg) - len,
			    "MAINPID=%ld\n", (long)getpid());
	}
	snprintf(msg + len, sizeof(msg) - len, "STATUS=%s generation %llu, "
	    "%d workers\n", ready ? "serving" : "applying",
	    (unsigned long long)st.generation, st.workers);
	if (notify_send(msg) == -1)
		return;		/* tried again on the next iteration */
	if (n.want_ready && ready) {
		n.want_ready = 0;
		n.mainpid = 0;
	}
	n.last = st;
	n.have_last = 1;
}

static void
notify_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* Firing at all means the master's loop turns. */
	notify_send("WATCHDOG=1\n");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	if (n.fd == -1 || n.stopping)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reloading\n", (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
	n.want_ready = 1;
	n.have_last = 0;
}

void
notify_stopping(void)
{
	if (n.fd == -1 || n.stopping)
		return;
	n.stopping = 1;
	notify_send("STOPPING=1\nSTATUS=stopping: draining workers\n");
}

void
notify_close(void)
{
	if (n.fd == -1)
		return;
	ev_ref(n.loop);
	ev_prepare_stop(n.loop, &n.prepare);
	if (ev_is_active(&n.watchdog)) {
		ev_ref(n.loop);
		ev_timer_stop(n.loop, &n.watchdog);
	}
	close(n.fd);
	memset(&n, 0, sizeof(n));
	n.fd = -1;
}

void
notify_state_supervise(void *arg, struct notify_state *st)
{
	struct supervise *sv = arg;

	st->generation = sv->generation;
	st->applied = sv->applied;
	st->workers = supervise_live(sv);
}
