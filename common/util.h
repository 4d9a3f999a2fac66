/*
 * util: small helpers shared by every process: monotonic time, durations
 * and sizes as operators write them, socket addresses, fd flags, hashing.
 * No allocation, no logging.
 */
#ifndef INGRESSD_UTIL_H
#define INGRESSD_UTIL_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t util_now_ms(void);

/*
 * "500ms", "1s", "2m", "1h", "1m30s"; a bare number is seconds.  Returns
 * 0 and sets *<ms>, or -1 for anything else (empty, negative, overflow,
 * over 30 days).
 */
int	util_parse_duration_ms(const char *s, uint64_t *ms);

/*
 * "512", "8k", "8KiB", "1m", "1MiB", "1g" (powers of 1024, case-blind).
 * Returns 0 and sets *<bytes>, or -1.
 */
int	util_parse_size(const char *s, uint64_t *bytes);

/*
 * "0.0.0.0:80", "127.0.0.1:8080", "[::]:443", "[::1]:80", ":80" (any
 * IPv4), "*:80".  Numeric only: no name resolution.  Returns 0 and fills
 * <ss>/<len>, or -1 with a reason in <err>.
 */
int	util_parse_hostport(const char *s, struct sockaddr_storage *ss,
	    socklen_t *len, char *err, size_t errlen);

/* Numeric "a.b.c.d" or IPv6 text plus <port> into <ss>; 0 or -1. */
int	util_make_sockaddr(const char *ip, uint16_t port,
	    struct sockaddr_storage *ss, socklen_t *len);

/* "1.2.3.4:80" or "[::1]:80" into <buf>; returns <buf>. */
char	*util_format_sockaddr(const struct sockaddr *sa, char *buf,
	    size_t buflen);
#define UTIL_ADDRSTRLEN	64

/*
 * An HTTP status range "200-399", or one status "200": 100 <= lo <= hi
 * <= 599.  0, or -1 for anything else.
 */
int	util_parse_status_range(const char *s, uint32_t *lo, uint32_t *hi);

/*
 * 1 when <s> may go as the target of a request line (a health probe's
 * path): starts with '/', at most 1024 visible ASCII characters, no
 * space.
 */
int	util_http_path_ok(const char *s);

int	util_set_nonblock(int fd);
/*
 * A memfd named <name> holding a copy of <p> (<len> bytes), sealed
 * against any change, as the master and workers pass snapshots, status
 * documents and counters; the fd, or -1 with errno set.
 */
int	util_sealed_memfd(const char *name, const void *p, size_t len);
int	util_set_cloexec(int fd, int on);

/* FNV-1a, 64 bit; the _lower variant folds ASCII case first. */
uint64_t util_hash64(const void *p, size_t len);
uint64_t util_hash64_lower(const void *p, size_t len);

/* Copies at most <size>-1 bytes and always terminates; returns strlen(src). */
size_t	util_strlcpy(char *dst, const char *src, size_t size);

/* ASCII case-blind compare of two counted strings; 1 when equal. */
int	util_strcaseeq(const char *a, size_t alen, const char *b, size_t blen);

#endif
