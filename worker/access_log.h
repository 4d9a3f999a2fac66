/*
 * access_log: one line per HTTP request a worker served, in JSON or in
 * nginx's combined format with ingressd's fields appended (the formats
 * are in ingressd.yaml(5)).
 *
 * Runs in workers.  A worker cannot open files: the master sends the fd
 * (IPC_LOG_REOPEN) at start, on SIGUSR1 and on reload, and access_log_set()
 * swaps to it.  Lines are batched in one buffer, written when it fills,
 * ACCESS_LOG_FLUSH_S after the first line of a batch, and at exit; a
 * write that would block or fails drops lines (counted, reported at most
 * every ACCESS_LOG_REPORT_S), never stalls the event loop.
 *
 * The proxy calls the access_log_req functions; each accepts NULL (logging
 * off) and does nothing then.
 */
#ifndef INGRESSD_ACCESS_LOG_H
#define INGRESSD_ACCESS_LOG_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "common/http.h"
#include "common/util.h"

#define ACCESS_LOG_BUF_SIZE	(64u * 1024)
#define ACCESS_LOG_FLUSH_S	0.2
#define ACCESS_LOG_REPORT_S	10.0
#define ACCESS_LOG_EXIT_TRIES	100	/* 10 ms apart: a stuck pipe at exit */

/* Bytes of each field kept (before escaping); longer ones end in "...". */
#define ACCESS_LOG_METHOD_MAX	32
#define ACCESS_LOG_HOST_MAX	256
#define ACCESS_LOG_PATH_MAX	2048
#define ACCESS_LOG_AGENT_MAX	512
#define ACCESS_LOG_REFERER_MAX	1024
#define ACCESS_LOG_REQID_MAX	128
/* A line at most: every kept byte escaped to 6, plus the fixed part. */
#define ACCESS_LOG_LINE_MAX	(6 * (ACCESS_LOG_METHOD_MAX + \
	ACCESS_LOG_HOST_MAX + ACCESS_LOG_PATH_MAX + ACCESS_LOG_AGENT_MAX + \
	ACCESS_LOG_REFERER_MAX + ACCESS_LOG_REQID_MAX + 6 * 3) + 1024)

/* A field: <p> NULL when absent ("-" or null in the line). */
struct access_log_str {
	const char	*p;
	size_t		 len;
	int		 truncated;	/* cut at the field's limit */
};

/* What one line says; the formatter's input. */
struct access_log_entry {
	double			 time;		/* wall clock, end */
	const char		*client;	/* address text */
	struct access_log_str	 method;
	struct access_log_str	 host;
	struct access_log_str	 path;		/* path and query */
	int			 minor;		/* HTTP/1.x; -1 unknown */
	int			 status;
	uint64_t		 bytes;		/* sent to the client */
	uint64_t		 body_bytes;	/* of it, after the head */
	double			 duration;	/* seconds */
	const char		*upstream;	/* NULL: none */
	double			 upstream_time;	/* seconds; < 0: none */
	struct access_log_str	 reqid;
	struct access_log_str	 agent;
	struct access_log_str	 referer;
};

/*
 * Formats <e> as one line ending in '\n' into <out> (<outlen> bytes, at
 * least ACCESS_LOG_LINE_MAX for any entry).  <format> is an enum
 * ipc_log_format other than OFF.  Fields longer than their limit are cut
 * (and end in "..."), so a line never exceeds ACCESS_LOG_LINE_MAX.
 * Returns the length, or 0 when <outlen> is too small or <format> unknown.
 */
size_t	access_log_format(int format, const struct access_log_entry *e,
	    char *out, size_t outlen);

/* Starts the writer on <loop>: off until access_log_set(). */
void	access_log_init(struct ev_loop *loop);

/*
 * Writes to <fd> (ours now; -1 with IPC_LOG_OFF) in <format> from now on:
 * flushes what is buffered to the old fd and closes it.  Lines the old fd
 * would not take go to the new one.
 */
void	access_log_set(int fd, int format);

/* Flushes (trying for a bounded while) and closes; at worker exit. */
void	access_log_close(void);

/* Lines dropped so far (buffer full, write failed). */
uint64_t access_log_dropped(void);

/*
 * One request, from its parsed head to its end.  access_log_begin()
 * copies what the line needs from <r> (NULL: a head that could not be
 * parsed) and the client address (<family> 4 or 6, <addr>); <start> is
 * when its first byte came.  Returns NULL when logging is off or memory
 * is short.  The record is pooled; access_log_end() logs it, gives it
 * back and clears *<rp>.
 */
struct access_log_req;

struct access_log_req *access_log_begin(const struct http_request *r,
	    int family, const uint8_t *addr, ev_tstamp start);
/* The request goes to endpoint <sa>, with the head <head> (<len> bytes,
 * as proxy_head_request() wrote it: its X-Request-Id is logged). */
void	access_log_upstream(struct access_log_req *q,
	    const struct sockaddr *sa, const char *head, size_t len,
	    ev_tstamp now);
/* The response status: the backend's, or ingressd's own. */
void	access_log_status(struct access_log_req *q, int status);
/* <n> more bytes went to the client. */
void	access_log_sent(struct access_log_req *q, size_t n);
/* The response head queued for the client is <n> bytes: combined logs
 * the body bytes, as nginx's $body_bytes_sent. */
void	access_log_head(struct access_log_req *q, size_t n);
void	access_log_end(struct access_log_req **rp, ev_tstamp now);

#endif
