/*
 * sandbox_seccomp: the worker's system-call allowlist (libseccomp), after
 * the privilege drop of sandbox_priv.c and no_new_privs.  Runs in workers
 * only, once everything is open and before the first client byte.
 *
 * Each allowed call names its caller.  A call not listed kills the whole
 * worker (SCMP_ACT_KILL_PROCESS; the master logs "SIGSYS (seccomp
 * violation)" and restarts it), or is only logged by the kernel in
 * `sandbox: log` mode, which is how a missing entry is found.  Like
 * OpenSSH's sandbox-seccomp-filter.c, a few probes libc makes on its own
 * are denied with an errno instead of killing.  A libc upgrade can change
 * the calls behind a function: test with real traffic under enforce.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/sandbox.h"

/* Allowed without looking at the arguments. */
static const char *const sandbox_allow[] = {
	/* client and upstream I/O: proxy.c, listener.c, ipc.c */
	"read",			/* client/upstream sockets, libev eventfd */
	"write",		/* sockets, log lines on stderr, libev wakeup */
	"readv",		/* proxy.c body streaming */
	"writev",		/* proxy.c head + body in one call */
	"recvfrom",		/* recv(): proxy.c, upstream.c */
	"sendto",		/* send(): proxy.c, syslog(3) */
	"recvmsg",		/* ipc_recv(): snapshot fds from the master */
	"sendmsg",		/* ipc_send(): HELLO, ACK, STATS */
	"connect",		/* upstream.c: non-blocking connect */
	"getsockname",		/* proxy.c: X-Forwarded-Port */
	"getpeername",		/* proxy.c: X-Forwarded-For */
	"shutdown",		/* proxy.c: half-close */
	"close",		/* every fd */
	"fcntl",		/* O_NONBLOCK, F_GET_SEALS on snapshot memfd */
	"lseek",		/* log.c: dprintf() attaches a FILE to fd 2 */

	/* event loop: libev epoll backend */
	"epoll_wait",		/* libev epoll_poll */
	"epoll_pwait",		/* libev epoll_poll (some libc) */
	"epoll_pwait2",		/* same, newer kernels/libc */
	"epoll_ctl",		/* libev epoll_modify */
	"rt_sigreturn",		/* libev signal handler return */
	"rt_sigprocmask",	/* libev ev_feed_signal, abort() */
	"restart_syscall",	/* interrupted epoll_wait */

	/* memory: malloc, snapshot mappings */
	"brk",			/* malloc */
	"munmap",		/* free, worker_snapshot_unref() */
	"mremap",		/* realloc of large blocks */
	"madvise",		/* free() trimming */

	/* snapshots: worker_answer_snapshot() */
	"fstat",		/* size of the memfd */
	"newfstatat",		/* fstat() in glibc >= 2.33 */
	"statx",		/* fstat() fallbacks */

	/* time, randomness, identity */
	"clock_gettime",	/* libev ev_time, when not in the vDSO */
	"gettimeofday",		/* libev ev_time fallback */
	"time",			/* time(3) */
	"clock_nanosleep",	/* libev ev_sleep */
	"nanosleep",		/* libev ev_sleep */
	"getrandom",		/* balancer.c, malloc, OpenSSL's DRBG */
	"getpid",		/* log.c line prefix, abort() */
	"gettid",		/* abort() */
	"futex",		/* libc internal locks (stdio, malloc) */
	"sched_yield",		/* libc lock backoff */

	/* the end */
	"exit",			/* thread exit */
	"exit_group",		/* exit(3) after the drain */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
	/* sanitizer builds only (make check under ASan/UBSan): the runtime's
	 * own calls, never present in a production binary */
	"sigaltstack",		/* ASan: per-thread alternate stack checks */
#endif
};

/* Denied with an errno: libc tries them on its own and copes. */
static const struct {
	const char	*name;
	int		 error;
} sandbox_deny[] = {
	{ "open",	EACCES },	/* tzdata, locale: chrooted anyway */
	{ "openat",	EACCES },	/* same */
	{ "uname",	EPERM },	/* libc version probes */
};

/* Socket options a worker may set or read: {level, name, caller}. */
static const struct {
	int		 level;
	int		 name;
	int		 get;		/* getsockopt, else setsockopt */
} sandbox_sockopts[] = {
	{ IPPROTO_TCP,	TCP_NODELAY,	0 },	/* listener.c, upstream.c */
	{ IPPROTO_TCP,	TCP_KEEPIDLE,	0 },	/* upstream.c keepalive */
	{ IPPROTO_TCP,	TCP_KEEPINTVL,	0 },	/* upstream.c keepalive */
	{ IPPROTO_TCP,	TCP_KEEPCNT,	0 },	/* upstream.c keepalive */
	{ SOL_SOCKET,	SO_KEEPALIVE,	0 },	/* proxy.c, upstream.c */
	{ SOL_SOCKET,	SO_LINGER,	0 },	/* proxy.c: reset on abort */
	{ SOL_SOCKET,	SO_ERROR,	1 },	/* upstream.c: connect result */
};

/* Adds <name> with <action> and up to two argument comparisons. */
static int
sandbox_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned int narg, const struct scmp_arg_cmp *arg, char *err,
    size_t errlen)
{
	int nr, rc;

	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0;	/* not on this architecture */
	rc = narg == 0 ? seccomp_rule_add(ctx, action, nr, 0) :
	    seccomp_rule_add_array(ctx, action, nr, narg, arg);
	if (rc < 0) {
		snprintf(err, errlen, "seccomp rule for %s: %s", name,
		    strerror(-rc));
		return -1;
	}
	return 0;
}

static int
sandbox_filter(int mode, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	struct scmp_arg_cmp cmp[2];
	uint32_t def;
	size_t i;
	int rc;

	def = mode == CONF_SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
	if ((ctx = seccomp_init(def)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	for (i = 0; i < UTIL_NELEM(sandbox_allow); i++)
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, sandbox_allow[i], 0, NULL,
		    err, errlen) == -1)
			goto bad;
	for (i = 0; i < UTIL_NELEM(sandbox_deny); i++)
		if (sandbox_rule(ctx, SCMP_ACT_ERRNO(sandbox_deny[i].error),
		    sandbox_deny[i].name, 0, NULL, err, errlen) == -1)
			goto bad;

	/* listener.c: accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) only. */
	cmp[0] = SCMP_A3(SCMP_CMP_EQ, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "accept4", 1, cmp, err,
	    errlen) == -1)
		goto bad;
	for (i = 0; i < UTIL_NELEM(sandbox_sockopts); i++) {
		cmp[0] = SCMP_A1(SCMP_CMP_EQ, sandbox_sockopts[i].level);
		cmp[1] = SCMP_A2(SCMP_CMP_EQ, sandbox_sockopts[i].name);
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, sandbox_sockopts[i].get ?
		    "getsockopt" : "setsockopt", 2, cmp, err, errlen) == -1)
			goto bad;
	}

	/* upstream.c: TCP to IPv4 and IPv6 endpoints only. */
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, AF_INET);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, cmp, err,
	    errlen) == -1)
		goto bad;
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, AF_INET6);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, cmp, err,
	    errlen) == -1)
		goto bad;
	/* syslog(3) reconnecting to /dev/log after a syslogd restart. */
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	if (sandbox_rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, cmp, err,
	    errlen) == -1)
		goto bad;

	/* malloc, snapshot mmap: never executable memory. */
	cmp[0] = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "mmap", 1, cmp, err,
	    errlen) == -1 ||
	    sandbox_rule(ctx, SCMP_ACT_ALLOW, "mprotect", 1, cmp, err,
	    errlen) == -1)
		goto bad;

	/* abort() on a failed assertion: SIGABRT to ourselves only, so a
	 * bug shows as SIGABRT, not as a seccomp violation. */
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
	cmp[1] = SCMP_A2(SCMP_CMP_EQ, SIGABRT);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 2, cmp, err,
	    errlen) == -1)
		goto bad;

	if ((rc = seccomp_load(ctx)) < 0) {
		snprintf(err, errlen, "seccomp_load: %s", strerror(-rc));
		goto bad;
	}
	seccomp_release(ctx);
	return 0;
 bad:
	seccomp_release(ctx);
	return -1;
}

int
sandbox_enter(const char *user, int mode, char *err, size_t errlen)
{
	if (sandbox_drop_privileges(user, err, errlen) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "prctl PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	if (mode == CONF_SANDBOX_OFF) {
		log_warnx("sandbox: off, no system-call filter");
		return 0;
	}
	if (sandbox_filter(mode, err, errlen) == -1)
		return -1;
	log_debug("seccomp filter loaded (%s)", mode == CONF_SANDBOX_LOG ?
	    "log" : "enforce");
	return 0;
}
