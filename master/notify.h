/*
 * notify: the master's side of systemd's readiness protocol (sd_notify(3)),
 * spoken directly on the datagram socket named by $NOTIFY_SOCKET (a path,
 * or "@name" for the abstract namespace); no libsystemd.
 *
 * READY=1 goes out once every running worker applied the current
 * generation (at once when there are no routes yet and workers run), and
 * again after each reload; RELOADING=1 with MONOTONIC_USEC when a reload
 * starts, STOPPING=1 on a stop, STATUS= lines as the state changes, and
 * WATCHDOG=1 every half $WATCHDOG_USEC from a timer on the master's loop,
 * so pings stop when the loop does.  Without $NOTIFY_SOCKET every call is
 * a no-op.  Runs in the master only; the variables are removed from the
 * environment so that workers never see them.
 */
#ifndef INGRESSD_NOTIFY_H
#define INGRESSD_NOTIFY_H

#include <stdint.h>

struct ev_loop;

/* What the master serves, as notify needs it to decide on READY=1. */
struct notify_state {
	uint64_t	generation;	/* published; 0: no routes yet */
	int		applied;	/* every running worker acked it */
	int		workers;	/* worker processes running */
};

typedef void notify_state_fn(void *arg, struct notify_state *st);

/*
 * Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID, unsets them, and
 * starts watchers on <loop> that ask <fn>(<arg>) for the state before the
 * loop blocks.  With <mainpid> (the master daemonized itself) READY=1
 * carries MAINPID=.  Returns 0 (also when $NOTIFY_SOCKET is unset), or -1
 * after logging when the variable is unusable; notify stays off then.
 */
int	notify_open(struct ev_loop *loop, notify_state_fn *fn, void *arg,
	    int mainpid);

/* RELOADING=1 and MONOTONIC_USEC; READY=1 follows once applied again. */
void	notify_reloading(void);

/* STOPPING=1; no READY=1 after it. */
void	notify_stopping(void);

/* Stops the watchers and closes the socket. */
void	notify_close(void);

/*
 * Sends the newline-separated assignments <msg> as one datagram, never
 * blocking.  0 (also when notify is off), or -1 with errno set.
 */
int	notify_send(const char *msg);

/*
 * The $NOTIFY_SOCKET and $WATCHDOG_USEC the master was started with ("" when
 * unset), for the new master of a binary upgrade: it notifies in our place
 * (MAINPID=) once it serves.
 */
void	notify_upgrade_env(const char **sock, const char **watchdog_usec);

/* 1 when $NOTIFY_SOCKET was usable. */
int	notify_active(void);

/* A notify_state_fn over the master's struct supervise <arg>. */
void	notify_state_supervise(void *arg, struct notify_state *st);

#endif
