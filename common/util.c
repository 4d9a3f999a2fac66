/*
 * util: small helpers shared by every process: monotonic time, durations
 * and sizes as operators write them, numeric socket addresses, fd flags,
 * FNV-1a hashing and counted string comparison.
 *
 * Runs in the master, the workers and ingressctl.  It may not allocate,
 * log, resolve names or touch the filesystem: a sandboxed worker calls it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define UTIL_MAX_DURATION_MS	(30ull * 24 * 3600 * 1000)

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Reads a run of decimal digits at *<sp> into *<v>.  Returns 0 and moves
 * *<sp> past the digits, or -1 when there are none or the value would not
 * fit in 64 bits.
 */
static int
util_parse_digits(const char **sp, uint64_t *v)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*sp = s;
	*v = n;
	return 0;
}

/*
 * Accepts a bare number (seconds) or a sequence of <number><unit> with
 * units d, h, m, s, ms each at most once and from the largest down, as in
 * "1m30s" or "1s500ms".  Refuses signs, blanks, decimals, a unit out of
 * order, a bare number after a unit, and totals over 30 days.
 */
int
util_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct {
		const char	*name;
		uint64_t	 ms;
	} units[] = {
		{ "d",	24ull * 3600 * 1000 },
		{ "h",	3600ull * 1000 },
		{ "ms",	1 },		/* before "m": longest name first */
		{ "m",	60ull * 1000 },
		{ "s",	1000 },
	};
	/* Order of magnitude of each unit, to enforce "largest first". */
	static const int rank[] = { 5, 4, 1, 3, 2 };
	uint64_t total = 0, n;
	int last = 6;
	size_t i, nlen;

	if (s == NULL || *s == '\0')
		return -1;
	if (util_parse_digits(&s, &n) == -1)
		return -1;
	if (*s == '\0') {
		if (n > UTIL_MAX_DURATION_MS / 1000)
			return -1;
		*ms = n * 1000;
		return 0;
	}
	for (;;) {
		for (i = 0; i < UTIL_NELEM(units); i++) {
			nlen = strlen(units[i].name);
			if (strncmp(s, units[i].name, nlen) == 0)
				break;
		}
		if (i == UTIL_NELEM(units) || rank[i] >= last)
			return -1;
		last = rank[i];
		s += nlen;
		if (n > UTIL_MAX_DURATION_MS / units[i].ms)
			return -1;
		total += n * units[i].ms;
		if (total > UTIL_MAX_DURATION_MS)
			return -1;
		if (*s == '\0')
			break;
		if (util_parse_digits(&s, &n) == -1)
			return -1;
		if (*s == '\0')
			return -1;	/* "1m30": a unit is required */
	}
	*ms = total;
	return 0;
}

/*
 * Accepts digits then an optional multiplier k, m or g (case-blind), which
 * may be followed by "iB" or "B"; a bare "B" means bytes.  Refuses signs,
 * blanks, decimals, other suffixes and overflow.
 */
int
util_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t n, mult = 1;

	if (s == NULL || util_parse_digits(&s, &n) == -1)
		return -1;
	switch (*s) {
	case 'k':
	case 'K':
		mult = 1024;
		s++;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		s++;
		break;
	case 'g':
	case 'G':
		mult = 1024 * 1024 * 1024;
		s++;
		break;
	}
	if (mult != 1 && (*s == 'i' || *s == 'I')) {
		s++;
		if (*s != 'b' && *s != 'B')
			return -1;
	}
	if (*s == 'b' || *s == 'B')
		s++;
	if (*s != '\0')
		return -1;
	if (n > UINT64_MAX / mult)
		return -1;
	*bytes = n * mult;
	return 0;
}

int
util_make_sockaddr(const char *ip, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return -1;
}

/*
 * Splits "host:port" where host is numeric IPv4, "[IPv6]", empty or "*"
 * (both meaning 0.0.0.0).  The port is 1..65535 in decimal: port 0 would
 * give every worker's SO_REUSEPORT socket a different port.
 */
int
util_parse_hostport(const char *s, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *p, *hs;
	size_t hlen;
	uint64_t port;

	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty address");
		return -1;
	}
	if (*s == '[') {
		p = strchr(s, ']');
		if (p == NULL) {
			snprintf(err, errlen, "missing \"]\" after IPv6 "
			    "address");
			return -1;
		}
		hs = s + 1;
		hlen = (size_t)(p - hs);
		if (p[1] != ':') {
			snprintf(err, errlen, "missing \":port\" after \"]\"");
			return -1;
		}
		colon = p + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "missing \":port\"");
			return -1;
		}
		hs = s;
		hlen = (size_t)(colon - s);
		if (memchr(hs, ':', hlen) != NULL) {
			snprintf(err, errlen, "IPv6 address must be written "
			    "in brackets, as [::1]:80");
			return -1;
		}
	}
	p = colon + 1;
	if (*p == '\0') {
		snprintf(err, errlen, "missing port");
		return -1;
	}
	if (util_parse_digits(&p, &port) == -1 || *p != '\0') {
		snprintf(err, errlen, "port is not a number");
		return -1;
	}
	if (port == 0 || port > 65535) {
		snprintf(err, errlen, "port out of range");
		return -1;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (*s != '[' && (hlen == 0 || strcmp(host, "*") == 0))
		util_strlcpy(host, "0.0.0.0", sizeof(host));
	if (*s == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen, "not a numeric IPv6 address");
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(err, errlen, "not a numeric IPv4 address");
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
}

char *
util_format_sockaddr(const struct sockaddr *sa, char *buf, size_t buflen)
{
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (buflen == 0)
		return buf;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) == NULL)
			goto bad;
		snprintf(buf, buflen, "%s:%u", ip, ntohs(sin->sin_port));
		break;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, ip,
		    sizeof(ip)) == NULL)
			goto bad;
		snprintf(buf, buflen, "[%s]:%u", ip, ntohs(sin6->sin6_port));
		break;
	case AF_UNIX:
		snprintf(buf, buflen, "unix");
		break;
	default:
		goto bad;
	}
	return buf;
 bad:
	snprintf(buf, buflen, "?");
	return buf;
}

int
util_set_nonblock(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if (flags & O_NONBLOCK)
		return 0;
	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

int
util_set_cloexec(int fd, int on)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return -1;
	if (on)
		flags |= FD_CLOEXEC;
	else
		flags &= ~FD_CLOEXEC;
	if (fcntl(fd, F_SETFD, flags) == -1)
		return -1;
	return 0;
}

#define UTIL_FNV_OFFSET	0xcbf29ce484222325ull
#define UTIL_FNV_PRIME	0x100000001b3ull

uint64_t
util_hash64(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = UTIL_FNV_OFFSET;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= UTIL_FNV_PRIME;
	}
	return h;
}

uint64_t
util_hash64_lower(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = UTIL_FNV_OFFSET;
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h ^= c;
		h *= UTIL_FNV_PRIME;
	}
	return h;
}

size_t
util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size != 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

int
util_strcaseeq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char ca, cb;
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++) {
		ca = (unsigned char)a[i];
		cb = (unsigned char)b[i];
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return 0;
	}
	return 1;
}

static int
util_status3(const char *s, uint32_t *v)
{
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return -1;
	*v = (uint32_t)(s[0] - '0') * 100 + (uint32_t)(s[1] - '0') * 10 +
	    (uint32_t)(s[2] - '0');
	return 0;
}

int
util_parse_status_range(const char *s, uint32_t *lo, uint32_t *hi)
{
	size_t len = strlen(s);

	if (len == 3 && util_status3(s, lo) == 0) {
		*hi = *lo;
		return 0;
	}
	if (len != 7 || s[3] != '-' || util_status3(s, lo) == -1 ||
	    util_status3(s + 4, hi) == -1 || *lo > *hi)
		return -1;
	return 0;
}

int
util_http_path_ok(const char *s)
{
	size_t i;

	if (s[0] != '/')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 1024 || s[i] <= ' ' || s[i] >= 0x7f)
			return 0;
	return 1;
}

int
util_sealed_memfd(const char *name, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t off = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1)
		return -1;
	while (off < len) {
		if ((n = write(fd, b + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto bad;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) == -1)
		goto bad;
	return fd;
 bad:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
