/*
 * control: the master's control socket, line-delimited JSON for
 * ingressctl(8).  Runs in the master.  Clients are untrusted peers even
 * when they pass the SO_PEERCRED check: requests are bounded, parsed with
 * json-c, and anything wrong costs the client its request or connection,
 * never the master.
 *
 * Whom it talks to: ingressctl, one request line, one answer line, as
 * many times as the client likes; control_dispatch() handles each line.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "common/log.h"
#include "common/util.h"
#include "master/control.h"

#define CONTROL_IDLE_TIMEOUT	30.0	/* seconds without a request */

struct control;

struct control_client {
	struct control		*ctl;
	int			 fd;
	ev_io			 rio;
	ev_io			 wio;
	ev_timer		 idle;
	char			 in[CONTROL_MAX_REQUEST + 1];
	size_t			 inlen;
	char			*out;
	size_t			 outlen;
	size_t			 outoff;
	int			 closing;	/* close once out is sent */
	struct control_client	*next;
};

struct control {
	struct ev_loop		*loop;
	const struct control_ops *ops;
	char			 path[108];	/* sun_path */
	int			 fd;
	ev_io			 aio;
	struct control_client	*clients;
	int			 nclients;
};

static void	control_accept(struct ev_loop *, ev_io *, int);
static void	control_read(struct ev_loop *, ev_io *, int);
static void	control_write(struct ev_loop *, ev_io *, int);
static void	control_idle(struct ev_loop *, ev_timer *, int);
static void	control_dispatch(struct control_client *, const char *);
static void	control_client_free(struct control_client *);

int
control_in_use(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

/* Replaces a stale socket at <path>; refuses a live one or a non-socket. */
static int
control_unlink_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if (control_in_use(path)) {
		snprintf(err, errlen, "%s is in use (another ingressd "
		    "running?)", path);
		return -1;
	}
	if (unlink(path) == -1) {
		snprintf(err, errlen, "unlink stale %s: %s", path,
		    strerror(errno));
		return -1;
	}
	log_info("replaced stale control socket %s", path);
	return 0;
}

struct control *
control_open(struct ev_loop *loop, const char *path,
    const struct control_ops *ops, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct control *c;
	char dir[sizeof(sun.sun_path)], *slash;
	mode_t old;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return NULL;
	}
	util_strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", dir,
			    strerror(errno));
			return NULL;
		}
	}
	if (control_unlink_stale(path, err, errlen) == -1)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	c->loop = loop;
	c->ops = ops;
	util_strlcpy(c->path, path, sizeof(c->path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		free(c);
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	/* Born 0600: no window where others could connect. */
	old = umask(0177);
	if (bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		goto bad;
	}
	umask(old);
	if (chmod(path, 0600) == -1 || listen(c->fd, 16) == -1) {
		snprintf(err, errlen, "%s: %s", c->path, strerror(errno));
		unlink(path);
		goto bad;
	}
	ev_io_init(&c->aio, control_accept, c->fd, EV_READ);
	c->aio.data = c;
	ev_io_start(loop, &c->aio);
	log_info("control socket %s", path);
	return c;
 bad:
	close(c->fd);
	free(c);
	return NULL;
}

void
control_close(struct control *c)
{
	if (c == NULL)
		return;
	while (c->clients != NULL)
		control_client_free(c->clients);
	ev_io_stop(c->loop, &c->aio);
	close(c->fd);
	unlink(c->path);
	free(c);
}

static void
control_client_free(struct control_client *cl)
{
	struct control *c = cl->ctl;
	struct control_client **pp;

	for (pp = &c->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	c->nclients--;
	ev_io_stop(c->loop, &cl->rio);
	ev_io_stop(c->loop, &cl->wio);
	ev_timer_stop(c->loop, &cl->idle);
	close(cl->fd);
	free(cl->out);
	free(cl);
}

static void
control_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct control *c = io->data;
	struct control_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control SO_PEERCRED");
		close(fd);
		return;
	}
	if (cred.uid != 0 && cred.uid != getuid()) {
		log_warnx("control: refused uid %ld (pid %ld)",
		    (long)cred.uid, (long)cred.pid);
		close(fd);
		return;
	}
	if (c->nclients >= CONTROL_MAX_CLIENTS) {
		log_warnx("control: too many clients, refused pid %ld",
		    (long)cred.pid);
		close(fd);
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		log_warn("control client");
		close(fd);
		return;
	}
	cl->ctl = c;
	cl->fd = fd;
	ev_io_init(&cl->rio, control_read, fd, EV_READ);
	cl->rio.data = cl;
	ev_io_init(&cl->wio, control_write, fd, EV_WRITE);
	cl->wio.data = cl;
	ev_init(&cl->idle, control_idle);
	cl->idle.repeat = CONTROL_IDLE_TIMEOUT;
	cl->idle.data = cl;
	ev_io_start(loop, &cl->rio);
	ev_timer_again(loop, &cl->idle);
	cl->next = c->clients;
	c->clients = cl;
	c->nclients++;
}

static void
control_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
	control_client_free(t->data);
}

/* Queues <o> (consumed) plus a newline for <cl>. */
static void
control_reply(struct control_client *cl, struct json_object *o)
{
	const char *s;
	size_t n;
	char *p;

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(s);
	if ((p = realloc(cl->out, cl->outlen + n + 1)) == NULL) {
		log_warn("control reply");
		cl->closing = 1;
	} else {
		cl->out = p;
		memcpy(cl->out + cl->outlen, s, n);
		cl->out[cl->outlen + n] = '\n';
		cl->outlen += n + 1;
	}
	json_object_put(o);
	ev_io_start(cl->ctl->loop, &cl->wio);
}

static void
control_error(struct control_client *cl, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(msg));
	control_reply(cl, o);
}

enum control_cmd
control_parse(const char *line, char *err, size_t errlen)
{
	static const char *const names[] = {
		[CONTROL_CMD_STATUS] = "status",
		[CONTROL_CMD_ROUTES] = "routes",
		[CONTROL_CMD_BACKENDS] = "backends",
		[CONTROL_CMD_RELOAD] = "reload",
	};
	struct json_tokener *tok;
	struct json_object *req, *cmdo;
	enum control_cmd cmd = CONTROL_CMD_INVALID;
	size_t i, len = strnlen(line, CONTROL_MAX_REQUEST + 1);

	if (len > CONTROL_MAX_REQUEST) {
		snprintf(err, errlen, "request too long");
		return CONTROL_CMD_INVALID;
	}
	/* A request is one flat object: a small depth cap is plenty. */
	if ((tok = json_tokener_new_ex(8)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return CONTROL_CMD_INVALID;
	}
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (req == NULL || tok->char_offset != (int)len) {
		if (req != NULL)
			snprintf(err, errlen, "trailing bytes after the request");
		else if (json_tokener_get_error(tok) == json_tokener_continue)
			snprintf(err, errlen, "incomplete JSON request");
		else
			snprintf(err, errlen, "%s", json_tokener_error_desc(
			    json_tokener_get_error(tok)));
		goto done;
	}
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmdo) ||
	    !json_object_is_type(cmdo, json_type_string)) {
		snprintf(err, errlen, "request must be an object with a string "
		    "\"cmd\"");
		goto done;
	}
	for (i = 0; i < UTIL_NELEM(names); i++)
		if (strcmp(json_object_get_string(cmdo), names[i]) == 0)
			cmd = (enum control_cmd)i;
	if (cmd == CONTROL_CMD_INVALID)
		snprintf(err, errlen, "unknown cmd \"%.64s\" (status, routes, "
		    "backends, reload)", json_object_get_string(cmdo));
 done:
	json_object_put(req);
	json_tokener_free(tok);
	return cmd;
}

/* One request line: answered with one JSON line, or {"error": ...}. */
static void
control_dispatch(struct control_client *cl, const char *line)
{
	const struct control_ops *ops = cl->ctl->ops;
	struct json_object *o = NULL;
	char err[512] = "";

	switch (control_parse(line, err, sizeof(err))) {
	case CONTROL_CMD_STATUS:
		o = ops->status(ops->arg, err, sizeof(err));
		break;
	case CONTROL_CMD_ROUTES:
		o = ops->routes(ops->arg, err, sizeof(err));
		break;
	case CONTROL_CMD_BACKENDS:
		o = ops->backends(ops->arg, err, sizeof(err));
		break;
	case CONTROL_CMD_RELOAD:
		if (ops->reload(ops->arg, err, sizeof(err)) == 0 &&
		    (o = ops->status(ops->arg, err, sizeof(err))) != NULL)
			json_object_object_add(o, "reloaded",
			    json_object_new_boolean(1));
		break;
	case CONTROL_CMD_INVALID:
		break;
	}
	if (o == NULL)
		control_error(cl, err[0] != '\0' ? err : "failed");
	else
		control_reply(cl, o);
}

static void
control_read(struct ev_loop *loop, ev_io *io, int revents)
{
	struct control_client *cl = io->data;
	size_t linelen;
	char *nl;
	ssize_t n;

	n = read(cl->fd, cl->in + cl->inlen, CONTROL_MAX_REQUEST - cl->inlen);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		control_client_free(cl);
		return;
	}
	if (n == 0) {
		/* Half-closed: answer what was asked, then go. */
		ev_io_stop(loop, &cl->rio);
		if (cl->outoff == cl->outlen)
			control_client_free(cl);
		else
			cl->closing = 1;
		return;
	}
	cl->inlen += n;
	cl->in[cl->inlen] = '\0';
	ev_timer_again(loop, &cl->idle);
	while ((nl = memchr(cl->in, '\n', cl->inlen)) != NULL) {
		linelen = nl - cl->in;
		*nl = '\0';
		if (linelen > 0 && nl[-1] == '\r')
			nl[-1] = '\0';
		if (memchr(cl->in, '\0', linelen) != NULL &&
		    strlen(cl->in) + 1 < linelen)
			control_error(cl, "NUL byte in request");
		else if (cl->in[0] != '\0')
			control_dispatch(cl, cl->in);
		cl->inlen -= linelen + 1;
		memmove(cl->in, nl + 1, cl->inlen);
		cl->in[cl->inlen] = '\0';
	}
	if (cl->inlen == CONTROL_MAX_REQUEST) {
		control_error(cl, "request too long");
		ev_io_stop(loop, &cl->rio);
		cl->closing = 1;
	}
}

static void
control_write(struct ev_loop *loop, ev_io *io, int revents)
{
	struct control_client *cl = io->data;
	ssize_t n;

	while (cl->outoff < cl->outlen) {
		n = send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			control_client_free(cl);
			return;
		}
		cl->outoff += n;
	}
	free(cl->out);
	cl->out = NULL;
	cl->outlen = cl->outoff = 0;
	ev_io_stop(loop, &cl->wio);
	if (cl->closing)
		control_client_free(cl);
}
