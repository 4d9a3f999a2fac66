/*
 * supervise: the master's pool of worker processes.
 *
 * Each slot runs one `ingressd --worker` (fork + exec of the master's own
 * binary) with its column of listen sockets and one SOCK_SEQPACKET
 * socketpair.  A worker that dies while not asked to stop is restarted at
 * once with the same sockets and the current snapshot; a slot dying more
 * than SUPERVISE_CRASH_MAX times in SUPERVISE_CRASH_WINDOW_MS backs off
 * (1 s, doubling up to 30 s).  Snapshots are published as sealed memfds
 * and acknowledged per generation.  Runs in the master only.
 */
#ifndef INGRESSD_SUPERVISE_H
#define INGRESSD_SUPERVISE_H

#include <sys/types.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "common/ipc_queue.h"
#include "master/listeners.h"

#define SUPERVISE_CRASH_MAX		5
#define SUPERVISE_CRASH_WINDOW_MS	10000
#define SUPERVISE_BACKOFF_MIN_MS	1000
#define SUPERVISE_BACKOFF_MAX_MS	30000
#define SUPERVISE_KILL_SLACK_MS		5000	/* after the drain grace */
#define SUPERVISE_HELLO_TIMEOUT_MS	10000	/* exec to HELLO */
#define SUPERVISE_RETIRE_MS		300	/* shrink: steered away to
						 * drained */

struct supervise;

struct supervise_worker {
	struct supervise	*sv;
	int			 id;
	pid_t			 pid;		/* -1: not running */
	int			 ipc;		/* master end, -1 when closed */
	ev_io			 io;
	struct ipc_queue	 q;		/* what the socket could not
						 * take yet */
	ev_timer		 respawn;	/* crash-loop backoff */
	ev_timer		 kill;		/* no HELLO, or drain grace
						 * ran out */
	int			 hello;		/* its HELLO was valid */
	int			 draining;	/* DRAIN sent: no respawn */
	int			 retired;	/* slot goes away on exit */
	unsigned		 restarts;
	uint64_t		 deaths[SUPERVISE_CRASH_MAX + 1];
	size_t			 ndeaths;	/* ring index */
	uint32_t		 backoff_ms;
	uint64_t		 started_ms;
	uint64_t		 acked;		/* last generation applied */
	uint64_t		 acked_ms;	/* when, util_now_ms() */
	uint64_t		 conns;		/* from IPC_STATS */
	uint64_t		 requests;
	struct supervise_worker	*next;		/* on the old list */
};

typedef void (*supervise_done_cb)(void *arg);

struct ipc_health;

/*
 * What the master does with worker messages supervise does not own:
 * <health_report> gets each valid IPC_HEALTH_REPORT; <worker_synced> is
 * called right after a worker got its first snapshot, to send it what
 * else it must know (the health of the endpoints that are down);
 * <applied> each time a generation is applied by all running workers.
 */
struct supervise_hooks {
	void	(*health_report)(void *arg, const struct ipc_health *h);
	void	(*worker_synced)(void *arg, struct supervise_worker *w);
	/* Every running worker applied the current generation. */
	void	(*applied)(void *arg);
	void	*arg;
	/* IPC_METRICS: <fd>, a sealed memfd of <size> bytes, is the
	 * hook's to close. */
	void	(*metrics)(void *arg, struct supervise_worker *w, int fd,
		    uint64_t size);
};

struct supervise {
	struct ev_loop		*loop;
	char			 exe[PATH_MAX];	/* /proc/self/exe at start */
	struct listeners	*ls;
	char			 user[64];
	int			 sandbox;	/* enum conf_sandbox */
	int			 log_level;	/* enum log_level */
	int			 log_stderr;
	uint32_t		 grace_ms;	/* shutdown_grace */

	struct supervise_worker	**w;
	int			 nw;		/* slots allocated */
	int			 target;	/* slots wanted */
	struct supervise_worker	*old;		/* draining, replaced by
						 * supervise_relisten() */
	ev_timer		 retire;	/* shrink: DRAIN the top slots */

	int			 snap_fd;	/* current sealed memfd, -1 */
	uint64_t		 snap_size;
	uint64_t		 generation;
	uint64_t		 published_ms;
	int			 applied;	/* "applied by all" logged */

	int			 log_fd;	/* access log, -1: off */
	uint32_t		 log_format;	/* enum ipc_log_format */

	struct supervise_hooks	 hooks;

	int			 stopping;
	supervise_done_cb	 done;
	void			*done_arg;
};

/*
 * Resolves the binary to exec (readlink /proc/self/exe) and fills <sv>.
 * <ls> must outlive <sv>.  0, or -1 with <err>.
 */
int	supervise_init(struct supervise *sv, struct ev_loop *loop,
	    struct listeners *ls, char *err, size_t errlen);

/* Worker settings applied to the next spawns (user, sandbox, logging,
 * drain grace). */
void	supervise_settings(struct supervise *sv, const char *user,
	    int sandbox, int log_level, int log_stderr, uint32_t grace_ms);

/* Starts <n> workers; slots must match the listeners' columns.  0 or -1
 * (a fork failure is fatal at start). */
int	supervise_start(struct supervise *sv, int n, char *err, size_t errlen);

/*
 * Grows (new listener columns, new workers) or shrinks the pool to <n>.
 * A shrink steers new connections away from the top slots' sockets
 * (listeners_steer()), lets their workers accept what is queued for
 * SUPERVISE_RETIRE_MS, then drains them; the sockets close once they
 * exited.  0, or -1 with <err> and nothing changed.
 */
int	supervise_resize(struct supervise *sv, int n, char *err,
	    size_t errlen);

/*
 * The listener set behind <sv>'s listeners pointer was replaced (new
 * addresses; same number of columns as slots): every running worker is
 * drained and a replacement started at once on the new sockets.  0, or -1
 * with <err> when the pool is still shrinking.
 */
int	supervise_relisten(struct supervise *sv, char *err, size_t errlen);

/*
 * Takes ownership of the sealed memfd <fd> of <size> bytes holding
 * generation <generation>, sends it to every worker and keeps it for
 * respawns; the previous one is closed.
 */
void	supervise_publish(struct supervise *sv, int fd, uint64_t size,
	    uint64_t generation);

/*
 * Takes ownership of the access log <fd> (-1 with IPC_LOG_OFF), sends it
 * with IPC_LOG_REOPEN to every worker and keeps it for the next ones
 * (before their first snapshot); the previous one is closed.
 */
void	supervise_access_log(struct supervise *sv, int fd, uint32_t format);

/*
 * Child <pid> ended with <status> (from libev's ev_child on the default
 * loop, which reaps on SIGCHLD); restarts its slot when it must.
 * Stopped/continued notifications are ignored.
 */
void	supervise_exited(struct supervise *sv, pid_t pid, int status);

/*
 * Graceful stop: IPC_DRAIN with the grace to every worker, SIGKILL after
 * grace + SUPERVISE_KILL_SLACK_MS; <done> runs once no worker is left.
 */
void	supervise_stop(struct supervise *sv, supervise_done_cb done,
	    void *arg);

/*
 * Sends one message to worker <w> (to every worker that said HELLO and
 * is not draining, for supervise_broadcast()).  A full socket queues the
 * message (common/ipc_queue.h: newer snapshots, status documents and
 * health records supersede older ones); a worker whose queue is still
 * over its bound is not reading and is killed, and supervision restarts
 * it.  <fd> (-1: none) stays the caller's.
 */
void	supervise_send_fd(struct supervise_worker *w, uint32_t type,
	    const void *body, size_t len, int fd);
void	supervise_send(struct supervise_worker *w, uint32_t type,
	    const void *body, size_t len);
void	supervise_broadcast(struct supervise *sv, uint32_t type,
	    const void *body, size_t len);

/* Workers running now. */
int	supervise_live(const struct supervise *sv);

/* "exited with status 1", "killed by SIGSYS (seccomp violation)". */
const char *supervise_status_text(int status, char *buf, size_t buflen);

#endif
