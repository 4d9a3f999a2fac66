/*
 * testhook: forbidden system calls on request, for the integration tests
 * only (see testhook.h).  Runs in a sandboxed worker.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/http.h"
#include "common/util.h"
#include "worker/testhook.h"

/* Each returns -1 with errno, or 0 when the call unexpectedly worked. */
static int
testhook_open(void)
{
	int fd;

	if ((fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	close(fd);
	return 0;
}

static int
testhook_execve(void)
{
	char *argv[] = { "sh", "-c", "true", NULL };
	char *envp[] = { NULL };

	return execve("/bin/sh", argv, envp);
}

static int
testhook_unix_connect(void)
{
	struct sockaddr_un sun;
	int fd, rc, e;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	util_strlcpy(sun.sun_path, "/dev/log", sizeof(sun.sun_path));
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

static const struct {
	const char	*name;
	int		(*call)(void);
} testhook_calls[] = {
	{ "open",		testhook_open },
	{ "execve",		testhook_execve },
	{ "unix-connect",	testhook_unix_connect },
};

int
testhook_request(const struct http_request *r, char *msg, size_t msglen)
{
	const struct http_header *h;
	size_t i;

	h = http_find_header(r->headers, r->nheaders, TESTHOOK_HEADER);
	if (h == NULL)
		return 0;
	for (i = 0; i < UTIL_NELEM(testhook_calls); i++)
		if (strlen(testhook_calls[i].name) == h->value_len &&
		    memcmp(testhook_calls[i].name, h->value,
		    h->value_len) == 0)
			break;
	if (i == UTIL_NELEM(testhook_calls)) {
		snprintf(msg, msglen, "unknown test syscall");
		return 1;
	}
	if (testhook_calls[i].call() == -1)
		snprintf(msg, msglen, "%s: %s", testhook_calls[i].name,
		    strerror(errno));
	else
		snprintf(msg, msglen, "%s: allowed", testhook_calls[i].name);
	return 1;
}
