/*
 * access_log: the request log of a worker: the line formats (JSON and
 * combined), the per-request records the proxy fills, and the batching
 * writer.
 *
 * Runs in workers, after confinement: it opens nothing and only writes
 * to the fd the master sent.  Everything it logs comes from clients and
 * backends, so every string is escaped and cut to a limit.  It may not
 * block the event loop: the fd is a regular file (O_APPEND), a socket
 * (written with MSG_DONTWAIT) or a pipe the master made non-blocking, and
 * lines that do not fit are dropped and counted.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/access_log.h"

#define ACCESS_LOG_POOL_MAX	256	/* records kept for reuse */

struct access_log_field {
	uint16_t	 len;
	uint8_t		 present;
	uint8_t		 truncated;
};

struct access_log_req {
	struct access_log_req	*next;		/* free list */
	ev_tstamp		 start;
	ev_tstamp		 up_start;	/* < 0: no upstream */
	uint64_t		 bytes;
	uint64_t		 head;		/* response head bytes */
	int			 status;	/* 0: no response yet */
	int			 minor;
	int			 family;
	uint8_t			 addr[16];
	char			 upstream[UTIL_ADDRSTRLEN];
	struct access_log_field	 f_method, f_host, f_path, f_agent,
				 f_referer, f_reqid;
	char			 method[ACCESS_LOG_METHOD_MAX];
	char			 host[ACCESS_LOG_HOST_MAX];
	char			 path[ACCESS_LOG_PATH_MAX];
	char			 agent[ACCESS_LOG_AGENT_MAX];
	char			 referer[ACCESS_LOG_REFERER_MAX];
	char			 reqid[ACCESS_LOG_REQID_MAX];
};

static struct {
	struct ev_loop		*loop;
	int			 fd;		/* -1: off */
	int			 format;	/* enum ipc_log_format */
	int			 sock;		/* fd is a socket */
	int			 shared;	/* pipe, socket, tty: other
						 * workers write to it too */
	ev_timer		 timer;		/* flush, retry, report */
	size_t			 len;
	uint64_t		 dropped;
	uint64_t		 reported;	/* dropped, as last logged */
	ev_tstamp		 report_at;	/* last report */
	int			 err;		/* errno of the last failure */
	struct access_log_req	*pool;
	size_t			 npool;
	char			 buf[ACCESS_LOG_BUF_SIZE];
	char			 line[ACCESS_LOG_LINE_MAX];
} al = { .fd = -1 };

/*
 * The formatter: pure but for a cache of the time text per second.
 */

/* Length of the valid UTF-8 sequence at <p> (<n> bytes), 0 if none. */
static size_t
al_utf8(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t k, need;

	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* over U+10FFFF */
	} else
		return 0;
	if (n < need + 1)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (k = 2; k <= need; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return need + 1;
}

/* <s> cut to <cap> bytes, not inside a UTF-8 sequence. */
static size_t
al_cut(const struct access_log_str *s, size_t cap, int *truncated)
{
	size_t n = s->len;

	*truncated = s->truncated;
	if (n <= cap)
		return n;
	*truncated = 1;
	n = cap;
	while (n > 0 && cap - n < 3 &&
	    ((unsigned char)s->p[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static const char al_hex[] = "0123456789abcdef";
static const char al_HEX[] = "0123456789ABCDEF";	/* nginx: \xXX */

/* JSON string (RFC 8259) of <s>, or null; invalid UTF-8 as \u00XX. */
static char *
al_json_str(char *o, const struct access_log_str *s, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s->p;
	size_t i, n, k;
	int trunc;

	if (p == NULL) {
		memcpy(o, "null", 4);
		return o + 4;
	}
	n = al_cut(s, cap, &trunc);
	*o++ = '"';
	for (i = 0; i < n; ) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80 && (k = al_utf8(p + i, n - i)) > 0) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		default:	/* controls, DEL, bytes not UTF-8 */
			memcpy(o, "u00", 3);
			o[3] = al_hex[c >> 4];
			o[4] = al_hex[c & 0xf];
			o += 5;
			break;
		}
		i++;
	}
	if (trunc) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	return o;
}

/*
 * <s> as nginx escapes a variable in a text log: '"', '\\', controls and
 * bytes over 0x7e as \xXX; "-" when absent.
 */
static char *
al_text_str(char *o, const struct access_log_str *s, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s->p;
	size_t i, n;
	int trunc;

	if (p == NULL) {
		*o++ = '-';
		return o;
	}
	n = al_cut(s, cap, &trunc);
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		o[0] = '\\';
		o[1] = 'x';
		o[2] = al_HEX[c >> 4];
		o[3] = al_HEX[c & 0xf];
		o += 4;
	}
	if (trunc) {
		memcpy(o, "...", 3);
		o += 3;
	}
	return o;
}

static char *
al_puts(char *o, const char *s)
{
	size_t n = strlen(s);

	memcpy(o, s, n);
	return o + n;
}

static char *
al_u64(char *o, uint64_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*o++ = tmp[--n];
	return o;
}

/* Seconds with milliseconds, "0.004"; <none> when <t> < 0. */
static char *
al_secs(char *o, double t, const char *none)
{
	uint64_t ms;

	if (t < 0)
		return al_puts(o, none);
	ms = (uint64_t)(t * 1000.0 + 0.5);
	o = al_u64(o, ms / 1000);
	*o++ = '.';
	*o++ = (char)('0' + ms / 100 % 10);
	*o++ = (char)('0' + ms / 10 % 10);
	*o++ = (char)('0' + ms % 10);
	return o;
}

/* The time of <t> as ISO 8601 UTC with ms, or as the combined format's
 * "[26/Nov/2026:04:30:32 +0000]"; recomputed once per second. */
static char *
al_time(char *o, double t, int iso)
{
	static time_t cached = (time_t)-1;
	static char isobuf[32], clfbuf[40];
	time_t sec = (time_t)t;
	struct tm tm;
	int ms;

	if (sec != cached) {
		gmtime_r(&sec, &tm);	/* UTC: no zone files in the chroot */
		strftime(isobuf, sizeof(isobuf), "%Y-%m-%dT%H:%M:%S", &tm);
		strftime(clfbuf, sizeof(clfbuf), "[%d/%b/%Y:%H:%M:%S +0000]",
		    &tm);
		cached = sec;
	}
	if (!iso)
		return al_puts(o, clfbuf);
	o = al_puts(o, isobuf);
	ms = (int)((t - (double)sec) * 1000.0 + 0.5);
	if (ms < 0)
		ms = 0;
	else if (ms > 999)
		ms = 999;	/* no carry into the cached second */
	*o++ = '.';
	*o++ = (char)('0' + ms / 100);
	*o++ = (char)('0' + ms / 10 % 10);
	*o++ = (char)('0' + ms % 10);
	*o++ = 'Z';
	return o;
}

static char *
al_json(char *o, const struct access_log_entry *e)
{
	o = al_puts(o, "{\"time\":\"");
	o = al_time(o, e->time, 1);
	o = al_puts(o, "\",\"client\":\"");
	o = al_puts(o, e->client);
	o = al_puts(o, "\",\"method\":");
	o = al_json_str(o, &e->method, ACCESS_LOG_METHOD_MAX);
	o = al_puts(o, ",\"host\":");
	o = al_json_str(o, &e->host, ACCESS_LOG_HOST_MAX);
	o = al_puts(o, ",\"path\":");
	o = al_json_str(o, &e->path, ACCESS_LOG_PATH_MAX);
	o = al_puts(o, ",\"protocol\":");
	o = al_puts(o, e->minor == 0 ? "\"HTTP/1.0\"" : e->minor == 1 ?
	    "\"HTTP/1.1\"" : "null");
	o = al_puts(o, ",\"status\":");
	o = al_u64(o, (uint64_t)e->status);
	o = al_puts(o, ",\"bytes_sent\":");
	o = al_u64(o, e->bytes);
	o = al_puts(o, ",\"body_bytes_sent\":");
	o = al_u64(o, e->body_bytes);
	o = al_puts(o, ",\"duration\":");
	o = al_secs(o, e->duration < 0 ? 0 : e->duration, "0");
	o = al_puts(o, ",\"upstream_addr\":");
	if (e->upstream != NULL) {
		*o++ = '"';
		o = al_puts(o, e->upstream);
		*o++ = '"';
	} else
		o = al_puts(o, "null");
	o = al_puts(o, ",\"upstream_time\":");
	o = al_secs(o, e->upstream != NULL ? e->upstream_time : -1, "null");
	o = al_puts(o, ",\"request_id\":");
	o = al_json_str(o, &e->reqid, ACCESS_LOG_REQID_MAX);
	o = al_puts(o, ",\"user_agent\":");
	o = al_json_str(o, &e->agent, ACCESS_LOG_AGENT_MAX);
	o = al_puts(o, ",\"referer\":");
	o = al_json_str(o, &e->referer, ACCESS_LOG_REFERER_MAX);
	o = al_puts(o, "}\n");
	return o;
}

/*
 * nginx's combined format, then what ingress-nginx's upstreaminfo adds,
 * in our words: request time, "host", upstream address, upstream time,
 * request id.
 */
static char *
al_combined(char *o, const struct access_log_entry *e)
{
	o = al_puts(o, e->client);
	o = al_puts(o, " - - ");
	o = al_time(o, e->time, 0);
	o = al_puts(o, " \"");
	if (e->method.p != NULL) {
		o = al_text_str(o, &e->method, ACCESS_LOG_METHOD_MAX);
		*o++ = ' ';
		o = al_text_str(o, &e->path, ACCESS_LOG_PATH_MAX);
		o = al_puts(o, e->minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
	} else
		*o++ = '-';
	o = al_puts(o, "\" ");
	o = al_u64(o, (uint64_t)e->status);
	*o++ = ' ';
	o = al_u64(o, e->body_bytes);
	o = al_puts(o, " \"");
	o = al_text_str(o, &e->referer, ACCESS_LOG_REFERER_MAX);
	o = al_puts(o, "\" \"");
	o = al_text_str(o, &e->agent, ACCESS_LOG_AGENT_MAX);
	o = al_puts(o, "\" ");
	o = al_secs(o, e->duration < 0 ? 0 : e->duration, "0");
	o = al_puts(o, " \"");
	o = al_text_str(o, &e->host, ACCESS_LOG_HOST_MAX);
	o = al_puts(o, "\" ");
	o = al_puts(o, e->upstream != NULL ? e->upstream : "-");
	*o++ = ' ';
	o = al_secs(o, e->upstream != NULL ? e->upstream_time : -1, "-");
	*o++ = ' ';
	o = al_text_str(o, &e->reqid, ACCESS_LOG_REQID_MAX);
	*o++ = '\n';
	return o;
}

size_t
access_log_format(int format, const struct access_log_entry *e, char *out,
    size_t outlen)
{
	char *end;

	/* The bound holds for any entry: the client and upstream texts are
	 * addresses (UTIL_ADDRSTRLEN), numbers are at most 20 digits. */
	if (outlen < ACCESS_LOG_LINE_MAX || strlen(e->client) >=
	    UTIL_ADDRSTRLEN || (e->upstream != NULL &&
	    strlen(e->upstream) >= UTIL_ADDRSTRLEN))
		return 0;
	if (format == IPC_LOG_JSON)
		end = al_json(out, e);
	else if (format == IPC_LOG_COMBINED)
		end = al_combined(out, e);
	else
		return 0;
	return (size_t)(end - out);
}

/*
 * The writer.
 */

static void	al_timer_cb(struct ev_loop *, ev_timer *, int);

void
access_log_init(struct ev_loop *loop)
{
	al.loop = loop;
	ev_init(&al.timer, al_timer_cb);
}

uint64_t
access_log_dropped(void)
{
	return al.dropped;
}

/* Counts the lines in buf[0..len) as dropped and empties it. */
static void
al_discard(void)
{
	const char *p = al.buf, *end = al.buf + al.len;

	while (p < end && (p = memchr(p, '\n', end - p)) != NULL) {
		al.dropped++;
		p++;
	}
	al.len = 0;
}

/*
 * Writes what is buffered.  Keeps the rest when the fd would block, drops
 * it on any other error.  A file takes the whole buffer in one write
 * (O_APPEND writes do not interleave); a pipe gets whole lines at most
 * PIPE_BUF at a time, which the kernel writes atomically, so that the
 * lines of several workers sharing it never mix.
 */
static void
al_flush(void)
{
	const char *nl;
	size_t chunk;
	ssize_t n;

	while (al.len > 0 && al.fd != -1) {
		chunk = al.len;
		if (al.shared && chunk > PIPE_BUF) {
			chunk = PIPE_BUF;
			/* A longer line goes in pieces: it is the rare one. */
			if ((nl = memrchr(al.buf, '\n', chunk)) != NULL)
				chunk = (size_t)(nl - al.buf) + 1;
		}
		if (al.sock)
			n = send(al.fd, al.buf, chunk, MSG_DONTWAIT |
			    MSG_NOSIGNAL);
		else
			n = write(al.fd, al.buf, chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			al.err = n == -1 ? errno : EIO;
			al_discard();
			return;
		}
		memmove(al.buf, al.buf + n, al.len - (size_t)n);
		al.len -= (size_t)n;
	}
}

/* Logs the lines dropped since the last report, at most every
 * ACCESS_LOG_REPORT_S unless <force>. */
static void
al_report(int force)
{
	ev_tstamp now = ev_now(al.loop);

	if (al.dropped == al.reported || (!force && al.report_at > 0 &&
	    now - al.report_at < ACCESS_LOG_REPORT_S))
		return;
	log_warnx("access log: %llu line(s) dropped (%s)",
	    (unsigned long long)(al.dropped - al.reported),
	    al.err != 0 ? strerror(al.err) : "buffer full, write would block");
	al.reported = al.dropped;
	al.report_at = now;
	al.err = 0;
}

/* Flush again soon while lines wait; report later while drops do. */
static void
al_schedule(void)
{
	ev_tstamp after;

	if (ev_is_active(&al.timer))
		return;
	if (al.len > 0)
		after = ACCESS_LOG_FLUSH_S;
	else if (al.dropped != al.reported)
		after = al.report_at + ACCESS_LOG_REPORT_S - ev_now(al.loop);
	else
		return;
	ev_timer_set(&al.timer, after > 0 ? after : 0., 0.);
	ev_timer_start(al.loop, &al.timer);
}

static void
al_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	al_flush();
	al_report(0);
	al_schedule();
}

/* Appends one formatted line; flushes first when it would not fit. */
static void
al_put(const char *line, size_t n)
{
	if (al.fd == -1 || n == 0)
		return;
	if (n > sizeof(al.buf) - al.len)
		al_flush();
	if (n > sizeof(al.buf) - al.len) {
		al.dropped++;
		al_report(0);
	} else {
		memcpy(al.buf + al.len, line, n);
		al.len += n;
	}
	al_schedule();
}

void
access_log_set(int fd, int format)
{
	struct stat st;

	if (al.fd != -1) {
		al_flush();	/* rotation: the old file gets its lines */
		close(al.fd);
	}
	al.fd = fd;
	al.format = format;
	al.sock = al.shared = 0;
	if (fd != -1 && fstat(fd, &st) == 0) {
		al.sock = S_ISSOCK(st.st_mode);
		al.shared = !S_ISREG(st.st_mode);
	}
	if (fd == -1)
		al_discard();
	al_flush();
	al_schedule();
}

void
access_log_close(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < ACCESS_LOG_EXIT_TRIES && al.len > 0 && al.fd != -1;
	    i++) {
		al_flush();
		if (al.len > 0)
			nanosleep(&ts, NULL);
	}
	al_discard();
	ev_now_update(al.loop);
	al_report(1);
	if (al.fd != -1)
		close(al.fd);
	al.fd = -1;
	if (ev_is_active(&al.timer))
		ev_timer_stop(al.loop, &al.timer);
	while (al.pool != NULL) {
		struct access_log_req *q = al.pool;

		al.pool = q->next;
		free(q);
	}
	al.npool = 0;
}

/*
 * Requests.
 */

/* Copies <len> bytes of <src> into <dst> (<cap> bytes) for field <f>. */
static void
al_keep(struct access_log_field *f, char *dst, size_t cap, const char *src,
    size_t len)
{
	if (src == NULL) {
		f->present = 0;
		return;
	}
	f->present = 1;
	f->truncated = len > cap;
	if (len > cap)
		len = cap;
	memcpy(dst, src, len);
	f->len = (uint16_t)len;
}

/* A request id we log as it came: 1 to 128 visible ASCII characters, as
 * proxy_head.c passes on. */
static int
al_reqid_ok(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len > ACCESS_LOG_REQID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

struct access_log_req *
access_log_begin(const struct http_request *r, int family,
    const uint8_t *addr, ev_tstamp start)
{
	struct access_log_req *q;
	const struct http_header *h;
	size_t i, n;

	if (al.fd == -1)
		return NULL;
	if ((q = al.pool) != NULL) {
		al.pool = q->next;
		al.npool--;
	} else if ((q = malloc(sizeof(*q))) == NULL)
		return NULL;
	q->next = NULL;
	q->start = start;
	q->up_start = -1;
	q->bytes = 0;
	q->head = 0;
	q->status = 0;
	q->family = family;
	memcpy(q->addr, addr, family == 6 ? 16 : 4);
	q->upstream[0] = '\0';
	q->minor = r != NULL ? r->minor_version : -1;
	q->f_method.present = q->f_host.present = q->f_path.present = 0;
	q->f_agent.present = q->f_referer.present = q->f_reqid.present = 0;
	if (r == NULL)
		return q;
	al_keep(&q->f_method, q->method, sizeof(q->method), r->method,
	    r->method_len);
	al_keep(&q->f_host, q->host, sizeof(q->host), r->host, r->host_len);
	al_keep(&q->f_path, q->path, sizeof(q->path), r->path, r->path_len);
	if (r->query != NULL && q->f_path.len < sizeof(q->path)) {
		/* The query after the path, as the client sent it. */
		n = sizeof(q->path) - q->f_path.len;
		q->path[q->f_path.len] = '?';
		if (--n > r->query_len)
			n = r->query_len;
		else if (n < r->query_len)
			q->f_path.truncated = 1;
		memcpy(q->path + q->f_path.len + 1, r->query, n);
		q->f_path.len += (uint16_t)(n + 1);
	} else if (r->query != NULL)
		q->f_path.truncated = 1;
	for (i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		if (!q->f_agent.present && util_strcaseeq(h->name, h->name_len,
		    "user-agent", 10))
			al_keep(&q->f_agent, q->agent, sizeof(q->agent),
			    h->value, h->value_len);
		else if (!q->f_referer.present && util_strcaseeq(h->name,
		    h->name_len, "referer", 7))
			al_keep(&q->f_referer, q->referer, sizeof(q->referer),
			    h->value, h->value_len);
		else if (!q->f_reqid.present && util_strcaseeq(h->name,
		    h->name_len, "x-request-id", 12) &&
		    al_reqid_ok(h->value, h->value_len))
			al_keep(&q->f_reqid, q->reqid, sizeof(q->reqid),
			    h->value, h->value_len);
	}
	return q;
}

void
access_log_upstream(struct access_log_req *q, const struct sockaddr *sa,
    const char *head, size_t len, ev_tstamp now)
{
	static const char field[] = "\r\nX-Request-Id: ";
	const char *p, *eol;

	if (q == NULL)
		return;
	util_format_sockaddr(sa, q->upstream, sizeof(q->upstream));
	if (q->up_start < 0)
		q->up_start = now;
	/* proxy_head_request() drops the client's X-Request-Id fields and
	 * writes one of its own: the first match is it. */
	if (head == NULL ||
	    (p = memmem(head, len, field, sizeof(field) - 1)) == NULL)
		return;
	p += sizeof(field) - 1;
	if ((eol = memchr(p, '\r', len - (size_t)(p - head))) == NULL)
		return;
	al_keep(&q->f_reqid, q->reqid, sizeof(q->reqid), p, (size_t)(eol - p));
}

void
access_log_status(struct access_log_req *q, int status)
{
	if (q != NULL)
		q->status = status;
}

void
access_log_sent(struct access_log_req *q, size_t n)
{
	if (q != NULL)
		q->bytes += n;
}

void
access_log_head(struct access_log_req *q, size_t n)
{
	if (q != NULL)
		q->head = n;
}

static void
al_str(struct access_log_str *s, const struct access_log_field *f,
    const char *p)
{
	s->p = f->present ? p : NULL;
	s->len = f->len;
	s->truncated = f->truncated;
}

void
access_log_end(struct access_log_req **rp, ev_tstamp now)
{
	struct access_log_req *q = *rp;
	struct access_log_entry e;
	char client[INET6_ADDRSTRLEN];
	size_t n;

	if (q == NULL)
		return;
	*rp = NULL;
	if (al.fd != -1) {
		if (inet_ntop(q->family == 6 ? AF_INET6 : AF_INET, q->addr,
		    client, sizeof(client)) == NULL)
			util_strlcpy(client, "-", sizeof(client));
		memset(&e, 0, sizeof(e));
		e.time = now;
		e.client = client;
		al_str(&e.method, &q->f_method, q->method);
		al_str(&e.host, &q->f_host, q->host);
		al_str(&e.path, &q->f_path, q->path);
		al_str(&e.agent, &q->f_agent, q->agent);
		al_str(&e.referer, &q->f_referer, q->referer);
		al_str(&e.reqid, &q->f_reqid, q->reqid);
		e.minor = q->minor;
		/* nginx's 499: the client left before any response. */
		e.status = q->status != 0 ? q->status : 499;
		e.bytes = q->bytes;
		e.body_bytes = q->bytes > q->head ? q->bytes - q->head : 0;
		e.duration = now - q->start;
		e.upstream = q->upstream[0] != '\0' ? q->upstream : NULL;
		e.upstream_time = q->up_start >= 0 ? now - q->up_start : -1;
		n = access_log_format(al.format, &e, al.line, sizeof(al.line));
		al_put(al.line, n);
	}
	if (al.npool < ACCESS_LOG_POOL_MAX) {
		q->next = al.pool;
		al.pool = q;
		al.npool++;
	} else
		free(q);
}
