/*
 * backend_ca: reads the system CA bundle for backend TLS (see
 * backend_ca.h).  Runs in the master, the only process with a
 * filesystem; it reads one file of bounded size and parses nothing (the
 * workers' OpenSSL does, from the snapshot).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "master/backend_ca.h"

#define BACKEND_CA_FALLBACK	"/etc/ssl/certs/ca-certificates.crt"

const char *
backend_ca_system_path(void)
{
	const char *p;

	if ((p = getenv(X509_get_default_cert_file_env())) != NULL &&
	    p[0] != '\0')
		return p;
	p = X509_get_default_cert_file();
	if (access(p, R_OK) == 0)
		return p;
	return BACKEND_CA_FALLBACK;
}

/* Reads <path> whole into a new buffer; 0, or -1 with a reason. */
static int
backend_ca_read(const char *path, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > (off_t)SNAPSHOT_MAX_CA_SIZE) {
		snprintf(err, errlen, "%s: not a regular file of at most %u "
		    "bytes", path, SNAPSHOT_MAX_CA_SIZE);
		goto bad;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto bad;
	}
	/* Bounded by the size fstat() saw: a growing file is cut there. */
	while (len < (size_t)sb.st_size) {
		n = read(fd, buf + len, (size_t)sb.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto bad;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
 bad:
	free(buf);
	close(fd);
	return -1;
}

int
backend_ca_fill_system(struct route_table *rt, char *err, size_t errlen)
{
	const char *path;
	size_t i;

	for (i = 0; i < rt->ncas; i++)
		if (rt->cas[i].system && rt->cas[i].pem == NULL)
			break;
	if (i == rt->ncas)
		return 0;
	path = backend_ca_system_path();
	/* compile stores the system bundle once: one entry to fill. */
	if (backend_ca_read(path, &rt->cas[i].pem, &rt->cas[i].len, err,
	    errlen) == -1)
		return -1;
	if (rt->cas[i].len == 0) {
		snprintf(err, errlen, "%s: empty", path);
		return -1;
	}
	return 0;
}
