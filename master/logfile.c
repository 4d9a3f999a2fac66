/*
 * logfile: opens the access log for the workers.  Runs in the master, as
 * root when ingressd runs as root: the file is created 0640 (owner root)
 * and only the open descriptor reaches the workers.  Nothing here reads
 * the file or writes to it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "master/logfile.h"

/*
 * Our stdout for the workers.  A pipe or a terminal gets a file
 * description of its own, which the master makes non-blocking: setting
 * O_NONBLOCK on the shared one would make the master's and the workers'
 * stderr (often the same pipe) fail with EAGAIN.  A regular file is
 * duplicated, so that its offset stays shared with stderr written to the
 * same file; a socket (the journal's stream) too: the workers send to it
 * with MSG_DONTWAIT.
 */
static int
logfile_stdout(char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (fstat(STDOUT_FILENO, &st) == -1) {
		snprintf(err, errlen, "access_log.path stdout: %s",
		    strerror(errno));
		return -1;
	}
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK |
		    O_CLOEXEC | O_NOCTTY);
		if (fd != -1)
			return fd;
		log_warn("access log: reopening stdout; sharing it, a "
		    "reader that stalls can then stall the workers");
	}
	if ((fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)) == -1)
		snprintf(err, errlen, "access_log.path stdout: %s",
		    strerror(errno));
	return fd;
}

int
logfile_open_access(const struct conf *c, int daemon, int *fd,
    uint32_t *format, char *err, size_t errlen)
{
	*fd = -1;
	*format = IPC_LOG_OFF;
	if (!c->access_log)
		return 0;
	if (c->access_path == NULL && daemon) {
		log_warnx("access_log.path stdout: a daemon's stdout is "
		    "/dev/null, access log off (use --foreground or a path)");
		return 0;
	}
	if (c->access_path == NULL)
		*fd = logfile_stdout(err, errlen);
	else if ((*fd = open(c->access_path, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOCTTY, 0640)) == -1)
		snprintf(err, errlen, "access_log.path %s: %s",
		    c->access_path, strerror(errno));
	if (*fd == -1)
		return -1;
	*format = c->access_format == CONF_ACCESS_JSON ? IPC_LOG_JSON :
	    IPC_LOG_COMBINED;
	return 0;
}
