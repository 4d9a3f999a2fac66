/*
 * testhook: lets the integration tests make a worker attempt a system
 * call its sandbox forbids, to see what the filter and the master do.
 *
 * Built only with ./configure --enable-test-hooks (INGRESSD_TEST_HOOKS),
 * which deploy/dev.sh uses for the integration-test binaries; the default
 * build has neither this code nor the header it reacts to.  Runs in
 * workers, on the request path, on untrusted input: never ship it.
 */
#ifndef INGRESSD_TESTHOOK_H
#define INGRESSD_TESTHOOK_H

#include <stddef.h>

struct http_request;

#define TESTHOOK_HEADER		"X-Ingressd-Test-Syscall"

/*
 * When <r> carries TESTHOOK_HEADER naming "open" (/etc/passwd), "execve"
 * (/bin/sh) or "unix-connect" (a Unix stream socket), makes that call and
 * returns 1 with what came of it ("open: Permission denied") in <msg>, if
 * the filter did not kill the process first.  0 for any other request.
 */
int	testhook_request(const struct http_request *r, char *msg,
	    size_t msglen);

#endif
