/*
 * sandbox: confines a worker once everything it needs is open.
 *
 * Order (DESIGN.md): chroot to an empty directory, drop to the configured
 * user, no_new_privs, then the system-call filter; every failure is fatal
 * to the worker.  The filter backend is chosen by ./configure
 * --with-sandbox: sandbox_seccomp.c (libseccomp allowlist) or
 * sandbox_none.c (privilege drop only).  The privilege drop both share is
 * in sandbox_priv.c.  sandbox_prepare() runs in the master, the rest in
 * workers.
 */
#ifndef INGRESSD_SANDBOX_H
#define INGRESSD_SANDBOX_H

#include <stddef.h>

/*
 * The empty, root-owned (0755) directory workers chroot to when started
 * as root.  The master creates it (and RUNSTATEDIR/ingressd) before the
 * first fork; it must stay empty.
 */
#define SANDBOX_EMPTY_DIR	RUNSTATEDIR "/ingressd/empty"

/* Master, as root: creates or checks SANDBOX_EMPTY_DIR.  0, or -1 with
 * <err>.  Not root: does nothing. */
int	sandbox_prepare(char *err, size_t errlen);

/*
 * Worker: chroot, become <user> (only when running as root; otherwise a
 * warning and the uid stays), no_new_privs, and the filter in <mode>
 * (enum conf_sandbox: enforce kills on a forbidden call, log only logs,
 * off loads none).  0, or -1 with <err>: the caller must exit.
 */
int	sandbox_enter(const char *user, int mode, char *err, size_t errlen);

/* The chroot and user switch alone; used by both backends. */
int	sandbox_drop_privileges(const char *user, char *err, size_t errlen);

#endif
