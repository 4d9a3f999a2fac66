/*
 * logfile: the files the master opens for the workers, which cannot: the
 * access log (ingressd.yaml(5) access_log).  Runs in the master only, at
 * start, on SIGUSR1 and on reload.
 */
#ifndef INGRESSD_LOGFILE_H
#define INGRESSD_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

/*
 * Opens the access log <c> asks for: the file (O_APPEND, created 0640),
 * or for stdout a descriptor of the master's stdout the workers may make
 * non-blocking without touching the master's own (a pipe or terminal is
 * opened anew through /proc/self/fd/1; a file or socket is duplicated).
 * <daemon>: stdout is /dev/null, so stdout means off, with a warning.
 * Sets *<fd> (-1 when off; close-on-exec, the caller's) and *<format>
 * (enum ipc_log_format).  0, or -1 with "access_log.path FILE: reason"
 * in <err>.
 */
int	logfile_open_access(const struct conf *c, int daemon, int *fd,
	    uint32_t *format, char *err, size_t errlen);

#endif
