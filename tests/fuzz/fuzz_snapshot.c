/*
 * Fuzz target for common/snapshot.c and worker/router.c: snapshot_open()
 * on arbitrary bytes, as a worker would on a blob from the master.
 *
 * Each input is tried twice: as it is, and with its checksum recomputed, so
 * that mutations reach the structural checks behind the checksum.  When a
 * blob opens, every accessor runs on every index and router_match() runs
 * with the snapshot's own hosts and paths (and variants of them) plus
 * hosts and paths cut from the input, and every certificate is looked up
 * by its name; ASan/UBSan catch any read outside.
 * abort() marks a violated invariant of the router's answer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/snapshot.h"
#include "common/util.h"
#include "worker/router.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_route(const struct snapshot *s, const char *host, size_t hostlen,
    const char *path, size_t pathlen)
{
	struct router_match m;

	memset(&m, 0, sizeof(m));
	if (router_match(s, host, hostlen, path, pathlen, &m) != ROUTER_OK)
		return;
	if (m.backend >= s->nbackends || m.source == NULL ||
	    (m.rule_path == NULL) != (m.rule_pathlen == 0))
		abort();
	/* Touch the answer so that ASan checks it lies in the blob. */
	if (m.sourcelen > 0 && m.source[m.sourcelen - 1] == '\1' &&
	    m.source[0] == '\2')
		m.backend = 0;
	if (m.rule_pathlen > 0 && m.rule_path[0] != '/')
		abort();
}

/*
 * An indexed host is found again (open checked every probe chain): the
 * answer is it or a host of the same kind whose name differs only in case.
 */
static void
fuzz_find(const struct snapshot *s, const struct snapshot_host *sh)
{
	struct snapshot_host got;
	int wild = sh->kind == SNAPSHOT_HOST_WILDCARD;
	int32_t h;

	h = snapshot_host_find(s, sh->name + (wild ? 2 : 0),
	    sh->namelen - (wild ? 2 : 0), wild);
	if (h < 0 || (uint32_t)h >= s->nhosts)
		abort();
	snapshot_host(s, (uint32_t)h, &got);
	if (got.kind != sh->kind ||
	    !util_strcaseeq(got.name, got.namelen, sh->name, sh->namelen))
		abort();
}

static void
fuzz_walk(const struct snapshot *s, const uint8_t *data, size_t size)
{
	struct snapshot_backend sb;
	struct snapshot_endpoint se;
	struct snapshot_host sh;
	struct snapshot_path sp;
	struct snapshot_upstream_tls ut;
	struct snapshot_ca ca;
	struct snapshot_cert sc;
	char host[300], path[300];
	size_t hl, pl, cut;
	uint32_t i, j;

	for (i = 0; i < s->nbackends; i++) {
		snapshot_backend(s, i, &sb);
		if (sb.first_endpoint + (uint64_t)sb.nendpoints > s->nendpoints)
			abort();
		if (sb.namelen > 0 && sb.name[sb.namelen - 1] == '\0')
			sb.index = 0;
		if (sb.policy_arg != NULL && sb.policy_arglen > 0 &&
		    sb.policy_arg[sb.policy_arglen - 1] == '\0')
			sb.index = 0;
		for (j = 0; j < sb.nendpoints; j++)
			snapshot_endpoint(s, sb.first_endpoint + j, &se);
	}
	for (i = 0; i < s->nendpoints; i++)
		snapshot_endpoint(s, i, &se);
	/* Backend TLS: the CA a record names is one snapshot_open() vetted,
	 * and the name is one snapshot_server_name_ok() accepts. */
	for (i = 0; i < s->nbackends; i++) {
		snapshot_upstream_tls(s, i, &ut);
		if (ut.ca >= 0) {
			if ((uint32_t)ut.ca >= s->ncas || !ut.verify)
				abort();
			snapshot_ca(s, (uint32_t)ut.ca, &ca);
			if (ca.len > 0 && ca.pem[ca.len - 1] == '\0')
				sb.index = 0;
		}
		if (ut.server_namelen > 0 && !snapshot_server_name_ok(
		    ut.server_name, ut.server_namelen))
			abort();
	}
	for (i = 0; i < s->npaths; i++) {
		snapshot_path(s, i, &sp);
		if (sp.backend >= s->nbackends)
			abort();
	}
	for (i = 0; i < s->nhosts && i < 4096; i++) {
		snapshot_host(s, i, &sh);
		if (sh.first_path + (uint64_t)sh.npaths > s->npaths)
			abort();
		/* The host as a client would send it, in a few guises. */
		hl = sh.namelen < 200 ? sh.namelen : 200;
		memcpy(host, sh.name, hl);
		if (sh.kind == SNAPSHOT_HOST_WILDCARD && hl > 0)
			host[0] = 'x';
		if (sh.kind != SNAPSHOT_HOST_ANY)
			fuzz_find(s, &sh);
		memcpy(host + hl, ".:8080", 6);
		for (j = 0; j < sh.npaths && j < 64; j++) {
			snapshot_path(s, sh.first_path + j, &sp);
			pl = sp.pathlen < 200 ? sp.pathlen : 200;
			memcpy(path, sp.path, pl);
			fuzz_route(s, host, hl, path, pl);
			fuzz_route(s, host, hl + 6, path, pl);
			memcpy(path + pl, "/x?q", 4);
			fuzz_route(s, host, hl + 1, path, pl + 2);
			fuzz_route(s, host, hl + 5, path, pl + 4);
			fuzz_route(s, host, hl, path, pl > 0 ? pl - 1 : 0);
		}
		fuzz_route(s, host, hl, "/", 1);
	}
	/* Certificates: each is found again by its name; PEM in the blob. */
	for (i = 0; i < s->ncerts && i < 4096; i++) {
		snapshot_cert(s, i, &sc);
		if (sc.pemlen == 0 || sc.pem[sc.pemlen - 1] == '\0' ||
		    snapshot_cert_find(s, sc.name, sc.namelen) != (int32_t)i)
			abort();
	}
	if (snapshot_cert_find(s, "x.test", 6) >= (int32_t)s->ncerts)
		abort();
	/* Hosts and paths cut from the tail of the input. */
	cut = size > 64 ? 64 : size;
	fuzz_route(s, (const char *)data + size - cut, cut / 2,
	    (const char *)data + size - cut / 2, cut / 2);
	fuzz_route(s, NULL, 0, NULL, 0);
	fuzz_route(s, "[::1]:80", 8, "", 0);
}

static void
fuzz_one(const uint8_t *buf, size_t size, const uint8_t *data)
{
	struct snapshot s;
	char err[256];

	if (snapshot_open(&s, buf, size, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();	/* a refusal always says why */
		return;
	}
	if (s.base != buf || s.len != size)
		abort();
	fuzz_walk(&s, data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	/* An exact-size heap copy: any read past the end is reported. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	fuzz_one(buf, size, data);
	/* Resealed, the input reaches the checks behind the checksum. */
	if (snapshot_seal(buf, size) == 0)
		fuzz_one(buf, size, data);
	free(buf);
	return 0;
}
