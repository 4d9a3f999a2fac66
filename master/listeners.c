/*
 * listeners: binds and holds the SO_REUSEPORT listening sockets of every
 * worker slot.  Runs in the master (root when binding ports below 1024);
 * it never accepts a connection nor reads client bytes.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/filter.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/listeners.h"

static int	listeners_bind(const struct listeners_entry *, char *, size_t);
static int	listeners_migrate_req(void);
static int	listeners_entries(struct listeners *, const struct conf *);
static int	listeners_steer_fd(int, int);
static int	listeners_addr_eq(const struct sockaddr_storage *,
		    const struct sockaddr_storage *);

/*
 * One socket of <e>'s group: non-blocking, close-on-exec (supervise.c
 * dup2()s the worker's own column to fixed numbers without the flag).
 * Returns the fd, or -1 with the reason in <err>.
 */
static int
listeners_bind(const struct listeners_entry *e, char *err, size_t errlen)
{
	const char *what;
	int fd, on = 1;

	fd = socket(e->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		what = "socket";
		goto bad;
	}
	what = "setsockopt SO_REUSEADDR";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto bad;
	what = "setsockopt SO_REUSEPORT";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		goto bad;
	/* "[::]:80" means IPv6 only: "0.0.0.0:80" is a listener of its own. */
	what = "setsockopt IPV6_V6ONLY";
	if (e->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto bad;
	what = "bind";
	if (bind(fd, (const struct sockaddr *)&e->addr, e->addrlen) == -1)
		goto bad;
	what = "listen";
	if (listen(fd, LISTENERS_BACKLOG) == -1)
		goto bad;
	return fd;
 bad:
	snprintf(err, errlen, "listen.%s %s: %s: %s", e->name, e->text, what,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* Fills the entries (no sockets) of the listeners <c> enables; -1: none. */
static int
listeners_entries(struct listeners *ls, const struct conf *c)
{
	const struct conf_listen *cl[LISTENERS_MAX] = {
		&c->http, &c->https, &c->admin
	};
	static const char *const names[LISTENERS_MAX] = {
		"http", "https", "admin"
	};
	struct listeners_entry *e;
	size_t i;

	for (i = 0; i < LISTENERS_MAX; i++) {
		if (!cl[i]->enabled)
			continue;
		e = &ls->l[ls->nl++];
		e->name = names[i];
		util_strlcpy(e->text, cl[i]->text, sizeof(e->text));
		memcpy(&e->addr, &cl[i]->addr, sizeof(e->addr));
		e->addrlen = cl[i]->addrlen;
	}
	return ls->nl == 0 ? -1 : 0;
}

int
listeners_open(struct listeners *ls, const struct conf *c, int nslots,
    struct listeners *reuse, char *err, size_t errlen)
{
	struct listeners_entry *e, *r;
	int from[LISTENERS_MAX];	/* index in <reuse>, or -1 */
	size_t i, j;
	int s;

	memset(ls, 0, sizeof(*ls));
	if (listeners_entries(ls, c) == -1) {
		snprintf(err, errlen, "no listener enabled (listen.http, "
		    "listen.https, listen.admin)");
		return -1;
	}
	if (nslots < 1)
		nslots = 1;
	for (i = 0; i < ls->nl; i++) {
		e = &ls->l[i];
		from[i] = -1;
		for (j = 0; reuse != NULL && reuse->nslots == nslots &&
		    j < reuse->nl; j++) {
			r = &reuse->l[j];
			if (r->fds != NULL && strcmp(r->name, e->name) == 0 &&
			    r->addrlen == e->addrlen &&
			    memcmp(&r->addr, &e->addr, e->addrlen) == 0) {
				e->fds = r->fds;
				r->fds = NULL;
				from[i] = (int)j;
				break;
			}
		}
		if (e->fds != NULL)
			continue;
		if ((e->fds = calloc(nslots, sizeof(int))) == NULL) {
			snprintf(err, errlen, "listeners: %s", strerror(errno));
			goto bad;
		}
		for (s = 0; s < nslots; s++)
			e->fds[s] = -1;
		for (s = 0; s < nslots; s++)
			if ((e->fds[s] = listeners_bind(e, err, errlen)) == -1)
				goto bad;
	}
	ls->nslots = nslots;
	listeners_steer(ls, nslots);
	return 0;
 bad:
	for (i = 0; i < ls->nl; i++) {
		e = &ls->l[i];
		if (from[i] != -1) {
			reuse->l[from[i]].fds = e->fds;
			continue;
		}
		for (s = 0; e->fds != NULL && s < nslots; s++)
			if (e->fds[s] != -1)
				close(e->fds[s]);
		free(e->fds);
		e->fds = NULL;
	}
	ls->nl = 0;
	return -1;
}

/* Same family, address and port (scope and flow info are not bound). */
static int
listeners_addr_eq(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)a;
		b6 = (const struct sockaddr_in6 *)b;
		return a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0;
	}
	return 0;
}

int
listeners_inherit_spec(const struct listeners *ls, char *buf, size_t buflen)
{
	size_t i, off = 0;
	int s, n;

	buf[0] = '\0';
	for (i = 0; i < ls->nl; i++)
		for (s = 0; ls->l[i].fds != NULL && s < ls->nslots; s++) {
			if (ls->l[i].fds[s] == -1)
				continue;
			n = snprintf(buf + off, buflen - off, "%s%s:%d",
			    off > 0 ? "," : "", ls->l[i].name, ls->l[i].fds[s]);
			if (n < 0 || (size_t)n >= buflen - off)
				return -1;
			off += n;
		}
	return 0;
}

#define LISTENERS_INHERIT_MAX	(LISTENERS_MAX * 1024)

int
listeners_inherit(struct listeners *ls, const struct conf *c, int nslots,
    const char *spec, char *err, size_t errlen)
{
	struct {
		int			 fd;
		struct sockaddr_storage	 addr;
	} *in = NULL;
	struct listeners_entry *e;
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *p, *colon;
	char *end, addr[UTIL_ADDRSTRLEN];
	size_t n = 0, i, k, used = 0;
	long fd;
	int s, type;

	if ((in = calloc(LISTENERS_INHERIT_MAX, sizeof(*in))) == NULL) {
		snprintf(err, errlen, "listeners: %s", strerror(errno));
		return -1;
	}
	for (p = spec; *p != '\0' && n < LISTENERS_INHERIT_MAX; p = end) {
		if ((colon = strchr(p, ':')) == NULL)
			break;
		errno = 0;
		fd = strtol(colon + 1, &end, 10);
		if (errno != 0 || end == colon + 1 || fd < 3 || fd > 65535 ||
		    (*end != ',' && *end != '\0'))
			break;
		if (*end == ',')
			end++;
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		type = 0;
		if (getsockname((int)fd, (struct sockaddr *)&ss, &sl) == -1 ||
		    getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &type,
		    &(socklen_t){ sizeof(type) }) == -1 || type != 1) {
			log_warnx("upgrade: inherited fd %ld is not a "
			    "listening socket, ignored", fd);
			continue;
		}
		util_set_cloexec((int)fd, 1);
		in[n].fd = (int)fd;
		in[n].addr = ss;
		n++;
	}
	if (*p != '\0')
		log_warnx("upgrade: INGRESSD_INHERIT_FDS: cannot parse \"%s\", "
		    "ignored", p);
	memset(ls, 0, sizeof(*ls));
	if (listeners_entries(ls, c) == -1) {
		snprintf(err, errlen, "no listener enabled (listen.http, "
		    "listen.https, listen.admin)");
		goto bad;
	}
	if (nslots < 1)
		nslots = 1;
	ls->nslots = nslots;
	for (i = 0; i < ls->nl; i++) {
		e = &ls->l[i];
		if ((e->fds = calloc(nslots, sizeof(int))) == NULL) {
			snprintf(err, errlen, "listeners: %s", strerror(errno));
			goto bad;
		}
		for (s = 0; s < nslots; s++)
			e->fds[s] = -1;
		for (s = 0; s < nslots; s++) {
			for (k = 0; k < n; k++)
				if (in[k].fd != -1 &&
				    listeners_addr_eq(&in[k].addr, &e->addr))
					break;
			if (k < n) {
				e->fds[s] = in[k].fd;
				in[k].fd = -1;
				used++;
			} else if ((e->fds[s] = listeners_bind(e, err,
			    errlen)) == -1)
				goto bad;
		}
	}
	for (k = 0; k < n; k++) {
		if (in[k].fd == -1)
			continue;
		/* Its old workers still hold it until they drained. */
		log_info("upgrade: inherited socket on %s not needed, closing "
		    "it", util_format_sockaddr((struct sockaddr *)&in[k].addr,
		    addr, sizeof(addr)));
		close(in[k].fd);
	}
	log_info("upgrade: %zu of %zu inherited listening sockets taken over",
	    used, n);
	/* Inherited sockets we closed are still the old workers'; they
	 * take no new connections from now on (their numbers are last). */
	listeners_steer(ls, nslots);
	free(in);
	return 0;
 bad:
	for (k = 0; in != NULL && k < n; k++)
		if (in[k].fd != -1)
			close(in[k].fd);
	free(in);
	listeners_close(ls);
	return -1;
}

/*
 * A classic BPF program on the REUSEPORT group of <fd>: each new
 * connection goes to a random one of the first <nactive> sockets of the
 * group (the kernel numbers them in bind order, which is our slot order;
 * a closed one's number goes to the last).  0, or -1 with errno.
 */
static int
listeners_steer_fd(int fd, int nactive)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)nactive),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = { UTIL_NELEM(code), code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog));
}

int
listeners_steer(struct listeners *ls, int nactive)
{
	size_t i;
	int rc = 0;

	if (nactive < 1)
		nactive = 1;
	for (i = 0; i < ls->nl; i++)
		if (ls->l[i].fds != NULL && ls->l[i].fds[0] != -1 &&
		    listeners_steer_fd(ls->l[i].fds[0], nactive) == -1) {
			log_warn("listen.%s %s: SO_ATTACH_REUSEPORT_CBPF",
			    ls->l[i].name, ls->l[i].text);
			rc = -1;
		}
	return rc;
}

/* 1 when the kernel moves queued connections of a closed REUSEPORT
 * socket to another socket of its group (Linux 5.14+, sysctl on). */
static int
listeners_migrate_req(void)
{
	char c = '0';
	int fd;

	fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c == '1';
}

int
listeners_resize(struct listeners *ls, int nslots, char *err, size_t errlen)
{
	int *fds[LISTENERS_MAX] = { NULL };
	size_t i;
	int s, n;

	if (nslots < 1)
		nslots = 1;
	if (nslots == ls->nslots)
		return 0;

	if (nslots < ls->nslots) {
		/* Steered away since supervise_resize(): empty by now. */
		if (!listeners_migrate_req())
			log_debug("shrinking to %d workers: closing the "
			    "retired sockets (net.ipv4.tcp_migrate_req is "
			    "off)", nslots);
		for (i = 0; i < ls->nl; i++)
			for (s = nslots; s < ls->nslots; s++)
				if (ls->l[i].fds[s] != -1)
					close(ls->l[i].fds[s]);
		ls->nslots = nslots;
		return 0;
	}

	/* Grow: build every new column first, commit only when all bound. */
	for (i = 0; i < ls->nl; i++) {
		fds[i] = calloc(nslots, sizeof(int));
		if (fds[i] == NULL) {
			snprintf(err, errlen, "listeners: %s", strerror(errno));
			goto bad;
		}
		for (s = 0; s < nslots; s++)
			fds[i][s] = s < ls->nslots ? ls->l[i].fds[s] : -1;
		for (s = ls->nslots; s < nslots; s++)
			if ((fds[i][s] = listeners_bind(&ls->l[i], err,
			    errlen)) == -1)
				goto bad;
	}
	for (i = 0; i < ls->nl; i++) {
		free(ls->l[i].fds);
		ls->l[i].fds = fds[i];
	}
	ls->nslots = nslots;
	listeners_steer(ls, nslots);
	return 0;
 bad:
	for (i = 0; i < ls->nl && fds[i] != NULL; i++) {
		for (n = ls->nslots; n < nslots; n++)
			if (fds[i][n] != -1)
				close(fds[i][n]);
		free(fds[i]);
	}
	return -1;
}

int
listeners_same(const struct listeners *ls, const struct conf *c)
{
	const struct conf_listen *cl[LISTENERS_MAX] = {
		&c->http, &c->https, &c->admin
	};
	static const char *const names[LISTENERS_MAX] = {
		"http", "https", "admin"
	};
	size_t i, j = 0;

	for (i = 0; i < LISTENERS_MAX; i++) {
		if (!cl[i]->enabled)
			continue;
		if (j >= ls->nl || strcmp(ls->l[j].name, names[i]) != 0 ||
		    ls->l[j].addrlen != cl[i]->addrlen ||
		    memcmp(&ls->l[j].addr, &cl[i]->addr, cl[i]->addrlen) != 0)
			return 0;
		j++;
	}
	return j == ls->nl;
}

void
listeners_close(struct listeners *ls)
{
	size_t i;
	int s;

	for (i = 0; i < ls->nl; i++) {
		for (s = 0; ls->l[i].fds != NULL && s < ls->nslots; s++)
			if (ls->l[i].fds[s] != -1)
				close(ls->l[i].fds[s]);
		free(ls->l[i].fds);
		ls->l[i].fds = NULL;
	}
	ls->nl = 0;
	ls->nslots = 0;
}
