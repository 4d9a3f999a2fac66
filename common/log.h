/*
 * log: the one logging facility of every ingressd process.
 *
 * Each line carries the role of the process that wrote it ("master",
 * "worker 3"), so an operator reading a merged stream knows who spoke.
 * log_warn() appends strerror(errno); log_warnx() does not.  fatal() and
 * fatalx() exit: they are for startup and broken invariants, never for bad
 * input.
 */
#ifndef INGRESSD_LOG_H
#define INGRESSD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* <to_stderr>: 1 for --foreground, else syslog(3) daemon facility. */
void	log_init(int to_stderr, enum log_level level);
void	log_setrole(const char *role);
void	log_setlevel(enum log_level level);
enum log_level log_getlevel(void);
/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int	log_level_parse(const char *name);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
