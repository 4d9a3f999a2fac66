/*
 * backend_ca: the trust anchors of backend TLS, as the master gathers
 * them for the snapshot.  Workers are chrooted with no filesystem, so the
 * master reads the system CA bundle here and ships its PEM in the
 * snapshot (common/snapshot.h, UPSTREAM_CAS); a Secret's ca.crt comes in
 * through the object model (objects.c) and compile.  Runs in the master.
 */
#ifndef INGRESSD_BACKEND_CA_H
#define INGRESSD_BACKEND_CA_H

#include <stddef.h>

#include "common/routes.h"

/*
 * The system bundle's path: $SSL_CERT_FILE (OpenSSL's variable) when set,
 * else OpenSSL's default certificate file when it exists, else
 * /etc/ssl/certs/ca-certificates.crt.
 */
const char *backend_ca_system_path(void);

/*
 * Gives every CA entry of <rt> that stands for the system store (compile
 * leaves them empty) the bundle at backend_ca_system_path(), at most
 * SNAPSHOT_MAX_CA_SIZE bytes.  Returns 0 (also when <rt> needs none), or
 * -1 with a reason in <err>: those entries stay empty, so their backends
 * trust nothing and fail closed.
 */
int	backend_ca_fill_system(struct route_table *rt, char *err,
	    size_t errlen);

#endif
