/*
 * listeners: the master's listening sockets, one per enabled listener
 * (http, https, admin) per worker slot, all in one SO_REUSEPORT group per
 * address.  Runs in the master only, before and after workers exist.
 *
 * The master keeps every socket open for the life of its listener, so
 * connections queued on a dead worker's socket wait for the replacement
 * instead of being reset.  Workers inherit their column of sockets
 * (supervise.c) and never bind anything themselves.
 */
#ifndef INGRESSD_LISTENERS_H
#define INGRESSD_LISTENERS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>

#include "common/conf.h"

#define LISTENERS_MAX		3	/* http, https, admin */
#define LISTENERS_BACKLOG	4096

struct listeners_entry {
	const char		*name;		/* "http", "https", "admin" */
	char			 text[128];	/* address as configured */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			*fds;		/* per worker slot, -1 none */
};

struct listeners {
	struct listeners_entry	 l[LISTENERS_MAX];
	size_t			 nl;
	int			 nslots;	/* columns of fds */
};

/*
 * Binds the enabled listeners of <c> for <nslots> workers.  With <reuse>
 * (a reload), a listener whose name and address are unchanged takes over
 * <reuse>'s sockets instead of binding new ones, so that what is queued on
 * them survives; they leave <reuse>.  Returns 0, or -1 with
 * "listen.http 0.0.0.0:80: bind: Permission denied" in <err>; on failure
 * nothing new stays open and <reuse> is as it was.
 */
int	listeners_open(struct listeners *ls, const struct conf *c, int nslots,
	    struct listeners *reuse, char *err, size_t errlen);

/*
 * Grows or shrinks the number of columns to <nslots>.  Growing binds new
 * sockets into the existing groups; shrinking closes the sockets of the
 * removed slots (whose workers must already be gone).  0 or -1 with <err>;
 * on failure the set is unchanged.
 */
int	listeners_resize(struct listeners *ls, int nslots, char *err,
	    size_t errlen);

/*
 * Binary upgrade (SIGUSR2), new master: builds <ls> for <c> and <nslots>
 * like listeners_open(), but takes each socket from the inherited ones in
 * <spec> ("name:fd,name:fd,...", as listeners_inherit_spec() writes it)
 * whose bound address equals the listener's, and binds only what is
 * missing.  Inherited sockets it does not need are closed (logged).  The
 * fds in <spec> are trusted to be ours: only the old master sets it.
 * 0, or -1 with <err>; on failure every inherited socket is closed too.
 */
int	listeners_inherit(struct listeners *ls, const struct conf *c,
	    int nslots, const char *spec, char *err, size_t errlen);

/*
 * Binary upgrade, old master: writes "name:fd,..." for every socket of
 * <ls> into <buf>.  0, or -1 when it does not fit.
 */
int	listeners_inherit_spec(const struct listeners *ls, char *buf,
	    size_t buflen);

/*
 * Sends the new connections of every listener to the sockets of the first
 * <nactive> slots only (a classic BPF program on each REUSEPORT group).
 * Before a shrink, so that the retired slots' sockets stop filling and
 * their workers accept what is queued before the sockets close: closing a
 * REUSEPORT socket resets its queue unless net.ipv4.tcp_migrate_req is on.
 * listeners_open(), _resize() and _inherit() call it with their slot
 * count.  0, or -1 after logging (the kernel then spreads over all).
 */
int	listeners_steer(struct listeners *ls, int nactive);

/* 1 when <c> asks for exactly the addresses <ls> holds, else 0. */
int	listeners_same(const struct listeners *ls, const struct conf *c);

void	listeners_close(struct listeners *ls);

#endif
