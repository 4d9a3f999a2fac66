/*
 * snapshot: writer and reader of the binary route snapshot.
 *
 * The master runs snapshot_encode() (after compile) and route_table_free();
 * workers run snapshot_open() on a sealed, read-only mapping and then the
 * accessors on every request.  The two sides live in this one file so they
 * change together.  The read side trusts nothing before snapshot_open() has
 * checked it, never allocates and never writes to the blob.
 *
 * Layout, format version 3.  Every integer is little-endian and sits at a
 * naturally aligned offset from the start of the blob; the reader still
 * loads through memcpy(), so any alignment of the blob itself works.
 * Nothing in the blob is a pointer: strings are (offset, length) pairs into
 * the string table, everything else is an index.
 *
 *   header, 64 bytes at offset 0
 *	 0  magic[8]		"INGRSNP1"
 *	 8  u32 version		SNAPSHOT_FORMAT_VERSION
 *	12  u32 header_size	64
 *	16  u64 generation
 *	24  u64 total_size	the whole blob, a multiple of 8
 *	32  u64 checksum	see below
 *	40  u32 nsections	10
 *	44  u32 flags		0
 *	48  16 bytes		0
 *   section table, nsections entries of 16 bytes at offset 64
 *	 0  u32 kind  4  u32 count  8  u32 offset  12  u32 size
 *	(each kind once; offset 8-aligned, after the table; size equal to
 *	count * record size; sections do not overlap)
 *   sections, records by kind:
 *	META (1 record, 120 bytes): the route_settings fields in struct order
 *	    (ten u32 at 0..28, u64 max_body_size at 32, u32 max_connections
 *	    at 40, u32 upstream_keepalive at 44), i32 default_backend at 48,
 *	    i32 anyhost at 52, strref default_source at 56, u32 workers at 64
 *	    (at most 65536; 0 counts as 1: the probes are shared among
 *	    them), u32 passive_failures at 68 (at most 1000; 0: off);
 *	    TLS: u32 tls_handshake_timeout_ms 72, u32 tls_protocols 76
 *	    (ROUTE_TLS_V* bits), u32 tls_session_cache 80 (0 or 1),
 *	    u32 https_port 84 (at most 65535), strref ciphers 88,
 *	    strref ciphersuites 96, strref curves 104 (each shorter than
 *	    its route_settings array, no NUL), 8 bytes 0 at 112.
 *	STRINGS (1-byte records): the string bytes, no terminators.
 *	HOSTS (24 bytes): strref name 0, u32 first_path 8, u32 npaths 12,
 *	    u32 kind 16 (enum snapshot_host_kind), u32 0 at 20.  Hosts own
 *	    consecutive path ranges that cover the path section in order.
 *	HOST_INDEX (4 bytes): u32 host index, or 0xffffffff for an empty slot.
 *	    Open addressing with linear probing over a power-of-two table at
 *	    most half full; the home slot of a key is
 *	    (h ^ (h >> 32)) & (count - 1) with h = util_hash64_lower(key).
 *	    The key of an exact host is its name, that of "*.example.com" is
 *	    "example.com" (the host's kind tells them apart).  The host-less
 *	    entry is not indexed: META names it.
 *	PATHS (32 bytes): strref path 0, strref source 8, u32 type 16,
 *	    u32 backend 20, u32 tls_flags 24 (ROUTE_TLS_FLAGS bits),
 *	    u32 hsts_max_age 28.  Per host: Exact paths sorted bytewise, then
 *	    Prefix paths by length without trailing '/' descending (so the
 *	    first that matches is the longest), ties bytewise.
 *	BACKENDS (96 bytes): strref name 0, strref policy_arg 8 (length 0:
 *	    none), u32 policy 16, u32 connect_timeout_ms 20,
 *	    u32 response_timeout_ms 24 (both resolved, never 0),
 *	    u32 first_endpoint 28, u32 nendpoints 32, u32 0 at 36; the
 *	    health probe, resolved: u32 mode 40, u32 port 44 (0: the
 *	    endpoint's), u32 interval_ms 48, u32 timeout_ms 52, u32 rise 56,
 *	    u32 fall 60 (all four nonzero), u32 expect_lo 64, u32 expect_hi 68
 *	    (100 <= lo <= hi <= 599), u32 all_down 72, u32 0 at 76,
 *	    strref path 80 (starts with '/'), strref host 88 (length 0: the
 *	    endpoint's address).  Backends
 *	    own consecutive endpoint ranges that cover the section in order.
 *	ENDPOINTS (24 bytes): u16 family 0 (4 or 6), u16 port 2,
 *	    u32 weight 4, addr[16] at 8 (IPv4 in the first 4 bytes, the rest
 *	    zero).
 *	UPSTREAM_TLS (24 bytes, one per backend, same order): u32 flags 0
 *	    (bit 0 TLS, bit 1 verify; verify only with TLS), u32 ca 4 (index
 *	    into UPSTREAM_CAS, 0xffffffff none; required with verify),
 *	    strref server_name 8 (length 0: none; see
 *	    snapshot_server_name_ok()), u32 0 at 16, u32 0 at 20.  A plain
 *	    backend's record is all zero but ca.
 *	UPSTREAM_CAS (16 bytes): strref pem 0 (at most SNAPSHOT_MAX_CA_SIZE;
 *	    empty trusts nothing), u64 hash 8 (util_hash64 of the PEM, a
 *	    cache key for workers).  Compile stores each bundle once.
 *	CERTS (24 bytes): strref name 0 (lower case; "*." and a domain for
 *	    a wildcard; length 0 for the one default certificate), strref
 *	    pem 8 (not empty, no NUL; the certificate chain then the key),
 *	    u32 kind 16 (enum snapshot_host_kind), u32 0 at 20.  Sorted by
 *	    name bytewise, names unique.
 *   A strref is u32 offset, u32 length into STRINGS.
 *
 * Checksum: over the whole blob in 8-byte little-endian words, the
 * checksum field read as 0: h = rotl(h ^ w * K1, 31) * K2 per word, then a
 * final avalanche.  Each step is a bijection of h and of w, so any change
 * of a single word is always caught; about 1.5 ms for 10 MB.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"

#define SNAP_HDR_SIZE		64
#define SNAP_H_MAGIC		0
#define SNAP_H_VERSION		8
#define SNAP_H_HDRSIZE		12
#define SNAP_H_GENERATION	16
#define SNAP_H_TOTAL		24
#define SNAP_H_CHECKSUM		32
#define SNAP_H_NSECTIONS	40
#define SNAP_H_FLAGS		44
#define SNAP_H_RESERVED		48

#define SNAP_NSECTIONS		10
#define SNAP_SECT_SIZE		16
#define SNAP_DATA_START		\
	(SNAP_HDR_SIZE + SNAP_NSECTIONS * SNAP_SECT_SIZE)

enum snap_section {
	SNAP_SECT_META = 1,
	SNAP_SECT_STRINGS = 2,
	SNAP_SECT_HOSTS = 3,
	SNAP_SECT_HOST_INDEX = 4,
	SNAP_SECT_PATHS = 5,
	SNAP_SECT_BACKENDS = 6,
	SNAP_SECT_ENDPOINTS = 7,
	SNAP_SECT_UPSTREAM_TLS = 8,
	SNAP_SECT_UPSTREAM_CAS = 9,
	SNAP_SECT_CERTS = 10,
};

#define SNAP_META_SIZE		120
#define SNAP_PATH_SIZE		32
#define SNAP_CERT_SIZE		24
#define SNAP_BE_SIZE		96
#define SNAP_UT_SIZE		24
#define SNAP_CA_SIZE		16

/* Record sizes and count limits by section kind. */
static const struct {
	const char	*name;
	uint32_t	 recsize;
	uint32_t	 maxcount;
} snap_sections[SNAP_NSECTIONS + 1] = {
	[SNAP_SECT_META] = { "meta", SNAP_META_SIZE, 1 },
	[SNAP_SECT_STRINGS] = { "strings", 1, SNAPSHOT_MAX_SIZE },
	[SNAP_SECT_HOSTS] = { "hosts", 24, SNAPSHOT_MAX_HOSTS },
	[SNAP_SECT_HOST_INDEX] = { "host index", 4, 2 * SNAPSHOT_MAX_HOSTS },
	[SNAP_SECT_PATHS] = { "paths", SNAP_PATH_SIZE, SNAPSHOT_MAX_PATHS },
	[SNAP_SECT_BACKENDS] = { "backends", SNAP_BE_SIZE,
	    SNAPSHOT_MAX_BACKENDS },
	[SNAP_SECT_ENDPOINTS] = { "endpoints", 24, SNAPSHOT_MAX_ENDPOINTS },
	[SNAP_SECT_UPSTREAM_TLS] = { "upstream tls", SNAP_UT_SIZE,
	    SNAPSHOT_MAX_BACKENDS },
	[SNAP_SECT_UPSTREAM_CAS] = { "upstream cas", SNAP_CA_SIZE,
	    SNAPSHOT_MAX_BACKENDS },
	[SNAP_SECT_CERTS] = { "certificates", SNAP_CERT_SIZE,
	    SNAPSHOT_MAX_CERTS },
};

#define SNAP_META_DEFAULT_BACKEND	48
#define SNAP_META_ANYHOST		52
#define SNAP_META_DEFAULT_SOURCE	56
#define SNAP_META_WORKERS		64
#define SNAP_META_PASSIVE		68
#define SNAP_META_TLS_HS_TIMEOUT	72
#define SNAP_META_TLS_PROTOCOLS		76
#define SNAP_META_TLS_CACHE		80
#define SNAP_META_HTTPS_PORT		84
#define SNAP_META_TLS_CIPHERS		88
#define SNAP_META_TLS_SUITES		96
#define SNAP_META_TLS_CURVES		104
#define SNAP_META_RESERVED		112

#define SNAP_CERT_NAME		0
#define SNAP_CERT_PEM		8
#define SNAP_CERT_KIND		16

#define SNAP_HOST_NAME		0
#define SNAP_HOST_FIRST_PATH	8
#define SNAP_HOST_NPATHS	12
#define SNAP_HOST_KIND		16

#define SNAP_INDEX_EMPTY	0xffffffffu

#define SNAP_PATH_PATH		0
#define SNAP_PATH_SOURCE	8
#define SNAP_PATH_TYPE		16
#define SNAP_PATH_BACKEND	20
#define SNAP_PATH_TLS_FLAGS	24
#define SNAP_PATH_HSTS		28

#define SNAP_BE_NAME		0
#define SNAP_BE_POLICY_ARG	8
#define SNAP_BE_POLICY		16
#define SNAP_BE_CONNECT		20
#define SNAP_BE_RESPONSE	24
#define SNAP_BE_FIRST_EP	28
#define SNAP_BE_NEPS		32
#define SNAP_BE_HC_MODE		40
#define SNAP_BE_HC_PORT		44
#define SNAP_BE_HC_INTERVAL	48
#define SNAP_BE_HC_TIMEOUT	52
#define SNAP_BE_HC_RISE		56
#define SNAP_BE_HC_FALL		60
#define SNAP_BE_HC_EXPECT_LO	64
#define SNAP_BE_HC_EXPECT_HI	68
#define SNAP_BE_HC_ALL_DOWN	72
#define SNAP_BE_HC_PATH		80
#define SNAP_BE_HC_HOST		88

#define SNAP_EP_FAMILY		0
#define SNAP_EP_PORT		2
#define SNAP_EP_WEIGHT		4
#define SNAP_EP_ADDR		8

#define SNAP_UT_FLAGS		0
#define SNAP_UT_CA		4
#define SNAP_UT_NAME		8
#define SNAP_UT_TLS		0x1u
#define SNAP_UT_VERIFY		0x2u
#define SNAP_UT_NONE		0xffffffffu

#define SNAP_CA_PEM		0
#define SNAP_CA_HASH		8

#define SNAP_FAMILY_INET	4
#define SNAP_FAMILY_INET6	6

/* Used when neither the backend nor the settings give a timeout. */
#define SNAP_DEFAULT_CONNECT_MS		5000
#define SNAP_DEFAULT_RESPONSE_MS	60000
/* Used for health fields left 0 (the config's own defaults, too). */
#define SNAP_DEFAULT_HC_INTERVAL_MS	2000
#define SNAP_DEFAULT_HC_TIMEOUT_MS	1000
#define SNAP_DEFAULT_HC_RISE		2
#define SNAP_DEFAULT_HC_FALL		3
#define SNAP_DEFAULT_HC_EXPECT_LO	200
#define SNAP_DEFAULT_HC_EXPECT_HI	399

#define SNAP_CK_K1	0x9e3779b97f4a7c15ULL
#define SNAP_CK_K2	0xc2b2ae3d27d4eb4fULL

/* Encoder state: the blob being written and the string table cursor. */
struct snap_enc {
	uint8_t		*buf;
	size_t		 strings_off;	/* section start in buf */
	size_t		 strings_len;	/* bytes used */
	const char	*last;		/* last string added, reused */
	size_t		 lastlen;
	uint32_t	 lastoff;
};

static uint16_t
snap_get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t
snap_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t
snap_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void
snap_put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void
snap_put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void
snap_put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void
snap_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* <len> is a multiple of 8; see the comment at the top. */
static uint64_t
snap_checksum(const uint8_t *p, size_t len)
{
	uint64_t h, w;
	size_t off;

	h = SNAP_CK_K2 ^ ((uint64_t)len * SNAP_CK_K1);
	for (off = 0; off < len; off += 8) {
		w = off == SNAP_H_CHECKSUM ? 0 : snap_get64(p + off);
		h ^= w * SNAP_CK_K1;
		h = ((h << 31) | (h >> 33)) * SNAP_CK_K2;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

int
snapshot_seal(void *base, size_t len)
{
	if (len < SNAP_HDR_SIZE || (len & 7) != 0)
		return -1;
	snap_put64((uint8_t *)base + SNAP_H_CHECKSUM, snap_checksum(base, len));
	return 0;
}

static uint32_t
snap_home(const char *key, size_t keylen, uint32_t size)
{
	uint64_t h;

	h = util_hash64_lower(key, keylen);
	return (uint32_t)(h ^ (h >> 32)) & (size - 1);
}

/* Length of a Prefix rule path without its trailing slashes, at least 1. */
static size_t
snap_prefix_len(const char *p, size_t len)
{
	while (len > 1 && p[len - 1] == '/')
		len--;
	return len;
}

/* Bytewise order of two counted strings, the shorter first on a tie. */
static int
snap_bytecmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	if ((c = memcmp(a, b, alen < blen ? alen : blen)) != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Order of paths within a host: Exact before Prefix, Exact bytewise,
 * Prefix longest first then bytewise.  Shared by the encoder's sort and
 * the reader's check.
 */
static int
snap_pathcmp(uint32_t atype, const char *a, size_t alen, uint32_t btype,
    const char *b, size_t blen)
{
	size_t ae, be;

	if (atype != btype)
		return atype == ROUTE_PATH_EXACT ? -1 : 1;
	if (atype == ROUTE_PATH_PREFIX) {
		ae = snap_prefix_len(a, alen);
		be = snap_prefix_len(b, blen);
		if (ae != be)
			return ae > be ? -1 : 1;
	}
	return snap_bytecmp(a, alen, b, blen);
}

/* Lower-case bytewise order of two host names. */
static int
snap_hostcmp(const char *a, const char *b)
{
	unsigned char ca, cb;

	for (;; a++, b++) {
		ca = (unsigned char)*a;
		cb = (unsigned char)*b;
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb || ca == '\0')
			return (int)ca - (int)cb;
	}
}

void
route_table_free(struct route_table *rt)
{
	size_t i, j;

	if (rt == NULL)
		return;
	if (rt->hosts != NULL) {
		for (i = 0; i < rt->nhosts; i++) {
			free(rt->hosts[i].host);
			if (rt->hosts[i].paths == NULL)
				continue;
			for (j = 0; j < rt->hosts[i].npaths; j++) {
				free(rt->hosts[i].paths[j].path);
				free(rt->hosts[i].paths[j].source);
			}
			free(rt->hosts[i].paths);
		}
		free(rt->hosts);
	}
	if (rt->backends != NULL) {
		for (i = 0; i < rt->nbackends; i++) {
			free(rt->backends[i].name);
			free(rt->backends[i].policy_arg);
			free(rt->backends[i].health.path);
			free(rt->backends[i].health.host);
			free(rt->backends[i].tls.server_name);
			free(rt->backends[i].endpoints);
		}
		free(rt->backends);
	}
	if (rt->certs != NULL) {
		for (i = 0; i < rt->ncerts; i++) {
			free(rt->certs[i].name);
			free(rt->certs[i].pem);
			free(rt->certs[i].source);
		}
		free(rt->certs);
	}
	rt->certs = NULL;
	rt->ncerts = 0;
	free(rt->default_source);
	for (i = 0; rt->cas != NULL && i < rt->ncas; i++)
		free(rt->cas[i].pem);
	free(rt->cas);
	rt->cas = NULL;
	rt->ncas = 0;
	rt->hosts = NULL;
	rt->nhosts = 0;
	rt->backends = NULL;
	rt->nbackends = 0;
	rt->default_source = NULL;
	rt->default_backend = -1;
}

int
snapshot_server_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > SNAPSHOT_MAX_SERVER_NAME)
		return 0;
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '.' || name[i] == ':'))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Writer (master)                                                    */
/* ------------------------------------------------------------------ */

static int
snap_cmp_host(const void *a, const void *b)
{
	const struct route_host *ha = *(const struct route_host *const *)a;
	const struct route_host *hb = *(const struct route_host *const *)b;

	return snap_hostcmp(ha->host, hb->host);
}

static int
snap_cmp_path(const void *a, const void *b)
{
	const struct route_path *pa = *(const struct route_path *const *)a;
	const struct route_path *pb = *(const struct route_path *const *)b;

	return snap_pathcmp(pa->type, pa->path, strlen(pa->path), pb->type,
	    pb->path, strlen(pb->path));
}

/* Appends <s> (NULL: empty) to the string table and writes its strref. */
static void
snap_put_string(struct snap_enc *e, uint8_t *ref, const char *s)
{
	size_t len;
	uint32_t off;

	len = s == NULL ? 0 : strlen(s);
	if (len == 0) {
		off = 0;
	} else if (e->last != NULL && e->lastlen == len &&
	    memcmp(e->last, s, len) == 0) {
		/* Sources repeat path after path: store them once. */
		off = e->lastoff;
	} else {
		off = (uint32_t)e->strings_len;
		memcpy(e->buf + e->strings_off + e->strings_len, s, len);
		e->strings_len += len;
		e->last = s;
		e->lastlen = len;
		e->lastoff = off;
	}
	snap_put32(ref, off);
	snap_put32(ref + 4, (uint32_t)len);
}

/* A string must fit a strref; NULL counts as empty. */
static size_t
snap_strsize(const char *s)
{
	return s == NULL ? 0 : strlen(s);
}

static int
snap_check_host(const struct route_host *h, size_t i, char *err,
    size_t errlen)
{
	const char *star;

	if (h->host == NULL) {
		snap_err(err, errlen, "host %zu: no name", i);
		return -1;
	}
	if (h->npaths > 0 && h->paths == NULL) {
		snap_err(err, errlen, "host \"%s\": no paths array", h->host);
		return -1;
	}
	if ((star = strchr(h->host, '*')) == NULL)
		return 0;
	if (star != h->host || h->host[1] != '.' || h->host[2] == '\0' ||
	    strchr(h->host + 1, '*') != NULL) {
		snap_err(err, errlen, "host \"%s\": a wildcard must be "
		    "\"*.\" followed by a domain", h->host);
		return -1;
	}
	return 0;
}

static int
snap_check_path(const struct route_table *rt, const struct route_host *h,
    const struct route_path *p, char *err, size_t errlen)
{
	if (p->path == NULL || p->path[0] != '/') {
		snap_err(err, errlen, "host \"%s\": path \"%s\" does not "
		    "start with '/'", h->host, p->path ? p->path : "(null)");
		return -1;
	}
	if (p->type != ROUTE_PATH_EXACT && p->type != ROUTE_PATH_PREFIX) {
		snap_err(err, errlen, "host \"%s\": path \"%s\": unknown type "
		    "%d", h->host, p->path, (int)p->type);
		return -1;
	}
	if (p->backend >= rt->nbackends) {
		snap_err(err, errlen, "host \"%s\": path \"%s\": backend %u "
		    "out of range (%zu backends)", h->host, p->path,
		    p->backend, rt->nbackends);
		return -1;
	}
	if ((p->tls_flags & ~(uint32_t)ROUTE_TLS_FLAGS) != 0) {
		snap_err(err, errlen, "host \"%s\": path \"%s\": unknown TLS "
		    "flags %#x", h->host, p->path, p->tls_flags);
		return -1;
	}
	return 0;
}

static int
snap_check_backend(const struct route_backend *b, size_t i, size_t ncas,
    char *err, size_t errlen)
{
	const struct route_endpoint *ep;
	size_t j;

	if (b->policy > ROUTE_POLICY_STICKY_COOKIE) {
		snap_err(err, errlen, "backend %zu: unknown policy %u", i,
		    b->policy);
		return -1;
	}
	if (b->health.mode > ROUTE_HEALTH_HTTP ||
	    b->health.all_down > ROUTE_ALL_DOWN_FAIL_OPEN ||
	    b->health.port > 65535 ||
	    (b->health.path != NULL && b->health.path[0] != '/') ||
	    (b->health.expect_lo != 0 && (b->health.expect_lo < 100 ||
	    b->health.expect_lo > b->health.expect_hi ||
	    b->health.expect_hi > 599))) {
		snap_err(err, errlen, "backend %zu: bad health settings", i);
		return -1;
	}
	if (b->nendpoints > 0 && b->endpoints == NULL) {
		snap_err(err, errlen, "backend %zu: no endpoints array", i);
		return -1;
	}
	if (b->tls.enabled && ((b->tls.verify && (b->tls.ca < 0 ||
	    (size_t)b->tls.ca >= ncas)) || (b->tls.server_name != NULL &&
	    !snapshot_server_name_ok(b->tls.server_name,
	    strlen(b->tls.server_name))))) {
		snap_err(err, errlen, "backend %zu: bad TLS settings (CA %d "
		    "of %zu, server name)", i, (int)b->tls.ca, ncas);
		return -1;
	}
	for (j = 0; j < b->nendpoints; j++) {
		ep = &b->endpoints[j];
		if (ep->addr.ss_family != AF_INET &&
		    ep->addr.ss_family != AF_INET6) {
			snap_err(err, errlen, "backend %zu: endpoint %zu: "
			    "address family %d is not IPv4 or IPv6", i, j,
			    (int)ep->addr.ss_family);
			return -1;
		}
	}
	return 0;
}

/* The kind of certificate name <name>: exact, wildcard or default. */
static uint32_t
snap_cert_kind(const char *name)
{
	if (name[0] == '\0')
		return SNAPSHOT_HOST_ANY;
	return name[0] == '*' ? SNAPSHOT_HOST_WILDCARD : SNAPSHOT_HOST_EXACT;
}

/*
 * The CERTS records for <certs> (<n>, sorted by name).  A Secret's PEM is
 * the same for every host it lists, and the names sort apart, so the
 * string table's neighbour check misses it: a hash of the PEMs stored so
 * far shares one copy.  Without memory for the hash, each is stored.
 */
static void
snap_put_certs(struct snap_enc *e, uint8_t *sect,
    const struct route_cert *const *certs, size_t n)
{
	uint32_t *slot = NULL;
	uint8_t *r;
	size_t i, k, mask = 0;

	if (n > 1) {
		for (mask = 1; mask < 2 * n; mask <<= 1)
			;
		slot = calloc(mask, sizeof(*slot));
		mask--;
	}
	for (i = 0; i < n; i++) {
		r = sect + i * SNAP_CERT_SIZE;
		snap_put_string(e, r + SNAP_CERT_NAME, certs[i]->name);
		snap_put32(r + SNAP_CERT_KIND, snap_cert_kind(certs[i]->name));
		if (slot == NULL) {
			snap_put_string(e, r + SNAP_CERT_PEM, certs[i]->pem);
			continue;
		}
		for (k = util_hash64(certs[i]->pem, strlen(certs[i]->pem)) &
		    mask; slot[k] != 0; k = (k + 1) & mask)
			if (strcmp(certs[slot[k] - 1]->pem, certs[i]->pem) == 0)
				break;
		if (slot[k] != 0) {
			memcpy(r + SNAP_CERT_PEM, sect + (slot[k] - 1) *
			    SNAP_CERT_SIZE + SNAP_CERT_PEM, 8);
			continue;
		}
		snap_put_string(e, r + SNAP_CERT_PEM, certs[i]->pem);
		slot[k] = (uint32_t)i + 1;
	}
	free(slot);
}

/*
 * A certificate name: empty (the default), or a lower-case host name
 * without '*', or "*." and such a name.  Shared by both sides.
 */
static int
snap_cert_name_ok(const char *name, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return 1;
	if (len > 2 && name[0] == '*' && name[1] == '.')
		i = 2;
	if (len - i > 253)
		return 0;
	for (; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '.' || name[i] == '_'))
			return 0;
	return 1;
}

static int
snap_cmp_cert(const void *a, const void *b)
{
	const struct route_cert *ca = *(const struct route_cert *const *)a;
	const struct route_cert *cb = *(const struct route_cert *const *)b;

	return strcmp(ca->name, cb->name);
}

/*
 * Checks the certificates of <rt> and fills <certs> sorted by name; adds
 * their string bytes to *<strsize>.  0, or -1 with a reason.
 */
static int
snap_prepare_certs(const struct route_table *rt,
    const struct route_cert **certs, size_t *strsize, char *err,
    size_t errlen)
{
	const struct route_cert *c;
	size_t i;

	if (rt->ncerts > SNAPSHOT_MAX_CERTS ||
	    (rt->ncerts > 0 && rt->certs == NULL)) {
		snap_err(err, errlen, "%zu certificates, at most %u",
		    rt->ncerts, SNAPSHOT_MAX_CERTS);
		return -1;
	}
	for (i = 0; i < rt->ncerts; i++) {
		c = &rt->certs[i];
		if (c->name == NULL || c->pem == NULL || c->pem[0] == '\0' ||
		    !snap_cert_name_ok(c->name, strlen(c->name)) ||
		    strlen(c->pem) > SNAPSHOT_MAX_PEM) {
			snap_err(err, errlen, "certificate %zu: bad name, or "
			    "PEM empty or over %u bytes", i, SNAPSHOT_MAX_PEM);
			return -1;
		}
		certs[i] = c;
		*strsize += strlen(c->name) + strlen(c->pem);
	}
	if (rt->ncerts > 1)
		qsort(certs, rt->ncerts, sizeof(*certs), snap_cmp_cert);
	for (i = 1; i < rt->ncerts; i++) {
		if (strcmp(certs[i - 1]->name, certs[i]->name) == 0) {
			snap_err(err, errlen, "certificate \"%s\" appears "
			    "twice", certs[i]->name);
			return -1;
		}
	}
	return 0;
}

/*
 * Checks <rt> and fills <hosts> (sorted) and <paths> (each host's range
 * sorted); counts strings into *<strsize>.  0, or -1 with a reason.
 */
static int
snap_prepare(const struct route_table *rt, const struct route_host **hosts,
    const struct route_path **paths, size_t *nindexed, size_t *strsize,
    char *err, size_t errlen)
{
	const struct route_host *h;
	const struct route_path *p, *q;
	size_t i, j, n, any, sz;

	any = 0;
	*nindexed = 0;
	sz = snap_strsize(rt->default_source);
	for (i = 0; i < rt->nhosts; i++) {
		h = &rt->hosts[i];
		if (snap_check_host(h, i, err, errlen) == -1)
			return -1;
		hosts[i] = h;
		if (h->host[0] == '\0')
			any++;
		else
			(*nindexed)++;
		sz += strlen(h->host);
	}
	if (any > 1) {
		snap_err(err, errlen, "%zu entries for the rules without a "
		    "host, at most one allowed", any);
		return -1;
	}
	if (rt->nhosts > 1)
		qsort(hosts, rt->nhosts, sizeof(*hosts), snap_cmp_host);
	for (i = 1; i < rt->nhosts; i++) {
		if (snap_hostcmp(hosts[i - 1]->host, hosts[i]->host) == 0) {
			snap_err(err, errlen, "host \"%s\" appears twice",
			    hosts[i]->host);
			return -1;
		}
	}

	for (n = 0, i = 0; i < rt->nhosts; i++) {
		h = hosts[i];
		for (j = 0; j < h->npaths; j++) {
			p = &h->paths[j];
			if (snap_check_path(rt, h, p, err, errlen) == -1)
				return -1;
			paths[n + j] = p;
			sz += strlen(p->path) + snap_strsize(p->source);
		}
		if (h->npaths > 1)
			qsort(paths + n, h->npaths, sizeof(*paths),
			    snap_cmp_path);
		for (j = 1; j < h->npaths; j++) {
			p = paths[n + j - 1];
			q = paths[n + j];
			if (p->type != q->type || strcmp(p->path, q->path) != 0)
				continue;
			snap_err(err, errlen, "host \"%s\": path \"%s\" (%s) "
			    "appears twice", h->host, p->path,
			    p->type == ROUTE_PATH_EXACT ? "Exact" : "Prefix");
			return -1;
		}
		n += h->npaths;
	}

	for (i = 0; i < rt->nbackends; i++) {
		if (snap_check_backend(&rt->backends[i], i, rt->ncas, err,
		    errlen) == -1)
			return -1;
		sz += snap_strsize(rt->backends[i].name) +
		    snap_strsize(rt->backends[i].policy_arg) +
		    snap_strsize(rt->backends[i].health.path != NULL ?
		    rt->backends[i].health.path : "/") +
		    snap_strsize(rt->backends[i].health.host) +
		    snap_strsize(rt->backends[i].tls.server_name);
	}
	for (i = 0; i < rt->ncas; i++) {
		if (rt->cas[i].len > SNAPSHOT_MAX_CA_SIZE ||
		    (rt->cas[i].len > 0 && rt->cas[i].pem == NULL)) {
			snap_err(err, errlen, "CA bundle %zu: %zu bytes, at "
			    "most %u", i, rt->cas[i].len, SNAPSHOT_MAX_CA_SIZE);
			return -1;
		}
		sz += rt->cas[i].len;
	}
	if (rt->default_backend < -1 ||
	    (rt->default_backend >= 0 &&
	    (size_t)rt->default_backend >= rt->nbackends)) {
		snap_err(err, errlen, "default backend %d out of range (%zu "
		    "backends)", (int)rt->default_backend, rt->nbackends);
		return -1;
	}
	if (strnlen(rt->settings.tls_ciphers, ROUTE_TLS_CIPHERS_MAX) ==
	    ROUTE_TLS_CIPHERS_MAX ||
	    strnlen(rt->settings.tls_ciphersuites, ROUTE_TLS_SUITES_MAX) ==
	    ROUTE_TLS_SUITES_MAX ||
	    strnlen(rt->settings.tls_curves, ROUTE_TLS_CURVES_MAX) ==
	    ROUTE_TLS_CURVES_MAX || rt->settings.https_port > 65535 ||
	    rt->settings.tls_session_cache > 1 ||
	    (rt->settings.tls_protocols & ~(uint32_t)(ROUTE_TLS_V12 |
	    ROUTE_TLS_V13)) != 0) {
		snap_err(err, errlen, "bad TLS settings");
		return -1;
	}
	sz += strlen(rt->settings.tls_ciphers) +
	    strlen(rt->settings.tls_ciphersuites) +
	    strlen(rt->settings.tls_curves);
	*strsize = sz;
	return 0;
}

static void
snap_put_endpoint(uint8_t *r, const struct route_endpoint *ep)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (ep->addr.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)&ep->addr;
		snap_put16(r + SNAP_EP_FAMILY, SNAP_FAMILY_INET);
		snap_put16(r + SNAP_EP_PORT, ntohs(sin->sin_port));
		memcpy(r + SNAP_EP_ADDR, &sin->sin_addr, 4);
	} else {
		sin6 = (const struct sockaddr_in6 *)&ep->addr;
		snap_put16(r + SNAP_EP_FAMILY, SNAP_FAMILY_INET6);
		snap_put16(r + SNAP_EP_PORT, ntohs(sin6->sin6_port));
		memcpy(r + SNAP_EP_ADDR, &sin6->sin6_addr, 16);
	}
	snap_put32(r + SNAP_EP_WEIGHT, ep->weight);
}

static void
snap_put_meta(struct snap_enc *e, uint8_t *r, const struct route_table *rt,
    int32_t anyhost)
{
	const struct route_settings *st = &rt->settings;

	snap_put32(r + 0, st->client_header_timeout_ms);
	snap_put32(r + 4, st->client_body_timeout_ms);
	snap_put32(r + 8, st->client_idle_timeout_ms);
	snap_put32(r + 12, st->upstream_connect_timeout_ms);
	snap_put32(r + 16, st->upstream_response_timeout_ms);
	snap_put32(r + 20, st->upstream_idle_timeout_ms);
	snap_put32(r + 24, st->max_header_size);
	snap_put32(r + 28, st->max_headers);
	snap_put64(r + 32, st->max_body_size);
	snap_put32(r + 40, st->max_connections);
	snap_put32(r + 44, st->upstream_keepalive);
	snap_put32(r + SNAP_META_DEFAULT_BACKEND,
	    (uint32_t)rt->default_backend);
	snap_put32(r + SNAP_META_ANYHOST, (uint32_t)anyhost);
	snap_put_string(e, r + SNAP_META_DEFAULT_SOURCE, rt->default_source);
	snap_put32(r + SNAP_META_WORKERS, st->workers);
	snap_put32(r + SNAP_META_PASSIVE, st->passive_failures);
	snap_put32(r + SNAP_META_TLS_HS_TIMEOUT, st->tls_handshake_timeout_ms);
	snap_put32(r + SNAP_META_TLS_PROTOCOLS, st->tls_protocols);
	snap_put32(r + SNAP_META_TLS_CACHE, st->tls_session_cache);
	snap_put32(r + SNAP_META_HTTPS_PORT, st->https_port);
	snap_put_string(e, r + SNAP_META_TLS_CIPHERS, st->tls_ciphers);
	snap_put_string(e, r + SNAP_META_TLS_SUITES, st->tls_ciphersuites);
	snap_put_string(e, r + SNAP_META_TLS_CURVES, st->tls_curves);
}

static uint32_t
snap_or(uint32_t v, uint32_t def)
{
	return v == 0 ? def : v;
}

static void
snap_put_backend(struct snap_enc *e, uint8_t *r, const struct route_table *rt,
    const struct route_backend *b, uint32_t first_ep)
{
	uint32_t connect, response;

	connect = b->connect_timeout_ms;
	if (connect == 0)
		connect = rt->settings.upstream_connect_timeout_ms;
	if (connect == 0)
		connect = SNAP_DEFAULT_CONNECT_MS;
	response = b->response_timeout_ms;
	if (response == 0)
		response = rt->settings.upstream_response_timeout_ms;
	if (response == 0)
		response = SNAP_DEFAULT_RESPONSE_MS;
	snap_put_string(e, r + SNAP_BE_NAME, b->name);
	snap_put_string(e, r + SNAP_BE_POLICY_ARG, b->policy_arg);
	snap_put32(r + SNAP_BE_POLICY, b->policy);
	snap_put32(r + SNAP_BE_CONNECT, connect);
	snap_put32(r + SNAP_BE_RESPONSE, response);
	snap_put32(r + SNAP_BE_FIRST_EP, first_ep);
	snap_put32(r + SNAP_BE_NEPS, (uint32_t)b->nendpoints);
	snap_put32(r + SNAP_BE_HC_MODE, b->health.mode);
	snap_put32(r + SNAP_BE_HC_PORT, b->health.port);
	snap_put32(r + SNAP_BE_HC_INTERVAL, snap_or(b->health.interval_ms,
	    SNAP_DEFAULT_HC_INTERVAL_MS));
	snap_put32(r + SNAP_BE_HC_TIMEOUT, snap_or(b->health.timeout_ms,
	    SNAP_DEFAULT_HC_TIMEOUT_MS));
	snap_put32(r + SNAP_BE_HC_RISE, snap_or(b->health.rise,
	    SNAP_DEFAULT_HC_RISE));
	snap_put32(r + SNAP_BE_HC_FALL, snap_or(b->health.fall,
	    SNAP_DEFAULT_HC_FALL));
	if (b->health.expect_lo == 0) {
		snap_put32(r + SNAP_BE_HC_EXPECT_LO, SNAP_DEFAULT_HC_EXPECT_LO);
		snap_put32(r + SNAP_BE_HC_EXPECT_HI, SNAP_DEFAULT_HC_EXPECT_HI);
	} else {
		snap_put32(r + SNAP_BE_HC_EXPECT_LO, b->health.expect_lo);
		snap_put32(r + SNAP_BE_HC_EXPECT_HI, b->health.expect_hi);
	}
	snap_put32(r + SNAP_BE_HC_ALL_DOWN, b->health.all_down);
	snap_put_string(e, r + SNAP_BE_HC_PATH, b->health.path != NULL ?
	    b->health.path : "/");
	snap_put_string(e, r + SNAP_BE_HC_HOST, b->health.host);
}

static void
snap_put_upstream_tls(struct snap_enc *e, uint8_t *r,
    const struct route_upstream_tls *t)
{
	snap_put32(r + SNAP_UT_CA, SNAP_UT_NONE);
	if (!t->enabled)
		return;
	snap_put32(r + SNAP_UT_FLAGS, SNAP_UT_TLS |
	    (t->verify ? SNAP_UT_VERIFY : 0));
	if (t->verify)
		snap_put32(r + SNAP_UT_CA, (uint32_t)t->ca);
	snap_put_string(e, r + SNAP_UT_NAME, t->server_name);
}

/* A PEM bundle is not a C string: it goes in by its length. */
static void
snap_put_ca(struct snap_enc *e, uint8_t *r, const struct route_ca *ca)
{
	uint32_t off = (uint32_t)e->strings_len;

	if (ca->len > 0)
		memcpy(e->buf + e->strings_off + e->strings_len, ca->pem,
		    ca->len);
	e->strings_len += ca->len;
	snap_put32(r + SNAP_CA_PEM, ca->len > 0 ? off : 0);
	snap_put32(r + SNAP_CA_PEM + 4, (uint32_t)ca->len);
	snap_put64(r + SNAP_CA_HASH, util_hash64(ca->pem != NULL ? ca->pem :
	    "", ca->len));
}

static size_t
snap_align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int
snapshot_encode(const struct route_table *rt, uint64_t generation,
    void **out, size_t *outlen, char *err, size_t errlen)
{
	const struct route_host **hosts = NULL, *h;
	const struct route_path **paths = NULL, *p;
	const struct route_cert **certs = NULL;
	struct snap_enc e;
	uint8_t *buf = NULL, *sect, *r;
	size_t npaths, nendpoints, nindexed, strsize, total, i, j, n;
	size_t off[SNAP_NSECTIONS + 1], cnt[SNAP_NSECTIONS + 1];
	uint32_t isize, slot, k, ep;
	int32_t anyhost = -1;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (rt->nhosts > SNAPSHOT_MAX_HOSTS ||
	    rt->nbackends > SNAPSHOT_MAX_BACKENDS ||
	    rt->ncas > SNAPSHOT_MAX_BACKENDS) {
		snap_err(err, errlen, "route table over the snapshot limits "
		    "(%zu hosts, %zu backends; at most %u, %u)", rt->nhosts,
		    rt->nbackends, SNAPSHOT_MAX_HOSTS, SNAPSHOT_MAX_BACKENDS);
		return -1;
	}
	if ((rt->nhosts > 0 && rt->hosts == NULL) ||
	    (rt->nbackends > 0 && rt->backends == NULL) ||
	    (rt->ncas > 0 && rt->cas == NULL)) {
		snap_err(err, errlen, "route table without its arrays");
		return -1;
	}
	/* Sums that stop just over the limit, so they cannot wrap. */
	npaths = nendpoints = 0;
	for (i = 0; i < rt->nhosts && npaths <= SNAPSHOT_MAX_PATHS; i++)
		npaths += rt->hosts[i].npaths > SNAPSHOT_MAX_PATHS ?
		    SNAPSHOT_MAX_PATHS + 1 : rt->hosts[i].npaths;
	for (i = 0; i < rt->nbackends && nendpoints <= SNAPSHOT_MAX_ENDPOINTS;
	    i++)
		nendpoints += rt->backends[i].nendpoints >
		    SNAPSHOT_MAX_ENDPOINTS ? SNAPSHOT_MAX_ENDPOINTS + 1 :
		    rt->backends[i].nendpoints;
	if (npaths > SNAPSHOT_MAX_PATHS ||
	    nendpoints > SNAPSHOT_MAX_ENDPOINTS) {
		snap_err(err, errlen, "route table over the snapshot limits "
		    "(%zu paths, %zu endpoints; at most %u, %u)", npaths,
		    nendpoints, SNAPSHOT_MAX_PATHS, SNAPSHOT_MAX_ENDPOINTS);
		return -1;
	}

	if ((hosts = calloc(rt->nhosts + 1, sizeof(*hosts))) == NULL ||
	    (paths = calloc(npaths + 1, sizeof(*paths))) == NULL ||
	    (rt->ncerts <= SNAPSHOT_MAX_CERTS && (certs = calloc(rt->ncerts +
	    1, sizeof(*certs))) == NULL)) {
		snap_err(err, errlen, "out of memory");
		goto done;
	}
	if (snap_prepare(rt, hosts, paths, &nindexed, &strsize, err,
	    errlen) == -1 || snap_prepare_certs(rt, certs, &strsize, err,
	    errlen) == -1)
		goto done;

	for (isize = 1; isize < 2 * nindexed; isize <<= 1)
		;
	cnt[SNAP_SECT_META] = 1;
	cnt[SNAP_SECT_HOSTS] = rt->nhosts;
	cnt[SNAP_SECT_HOST_INDEX] = isize;
	cnt[SNAP_SECT_PATHS] = npaths;
	cnt[SNAP_SECT_BACKENDS] = rt->nbackends;
	cnt[SNAP_SECT_ENDPOINTS] = nendpoints;
	cnt[SNAP_SECT_UPSTREAM_TLS] = rt->nbackends;
	cnt[SNAP_SECT_UPSTREAM_CAS] = rt->ncas;
	cnt[SNAP_SECT_CERTS] = rt->ncerts;
	cnt[SNAP_SECT_STRINGS] = strsize;	/* upper bound until written */
	/* Strings go last so that the blob can end where they do. */
	total = SNAP_DATA_START;
	for (k = SNAP_SECT_META; k <= SNAP_NSECTIONS; k++) {
		if (k == SNAP_SECT_STRINGS)
			continue;
		off[k] = total;
		total = snap_align8(total + cnt[k] * snap_sections[k].recsize);
	}
	off[SNAP_SECT_STRINGS] = total;
	if (strsize > SNAPSHOT_MAX_SIZE ||
	    snap_align8(total + strsize) > SNAPSHOT_MAX_SIZE) {
		snap_err(err, errlen, "snapshot would exceed %u bytes",
		    SNAPSHOT_MAX_SIZE);
		goto done;
	}
	total = snap_align8(total + strsize);
	if ((buf = calloc(1, total)) == NULL) {
		snap_err(err, errlen, "out of memory (%zu bytes)", total);
		goto done;
	}
	memset(&e, 0, sizeof(e));
	e.buf = buf;
	e.strings_off = off[SNAP_SECT_STRINGS];

	/* Hosts and their paths, in sorted order. */
	sect = buf + off[SNAP_SECT_HOST_INDEX];
	memset(sect, 0xff, (size_t)isize * 4);
	for (n = 0, i = 0; i < rt->nhosts; i++) {
		h = hosts[i];
		r = buf + off[SNAP_SECT_HOSTS] + i * 24;
		snap_put_string(&e, r + SNAP_HOST_NAME, h->host);
		snap_put32(r + SNAP_HOST_FIRST_PATH, (uint32_t)n);
		snap_put32(r + SNAP_HOST_NPATHS, (uint32_t)h->npaths);
		if (h->host[0] == '\0') {
			snap_put32(r + SNAP_HOST_KIND, SNAPSHOT_HOST_ANY);
			anyhost = (int32_t)i;
		} else {
			k = h->host[0] == '*' ? SNAPSHOT_HOST_WILDCARD :
			    SNAPSHOT_HOST_EXACT;
			snap_put32(r + SNAP_HOST_KIND, k);
			slot = k == SNAPSHOT_HOST_WILDCARD ?
			    snap_home(h->host + 2, strlen(h->host + 2), isize) :
			    snap_home(h->host, strlen(h->host), isize);
			while (snap_get32(sect + slot * 4) != SNAP_INDEX_EMPTY)
				slot = (slot + 1) & (isize - 1);
			snap_put32(sect + slot * 4, (uint32_t)i);
		}
		for (j = 0; j < h->npaths; j++, n++) {
			p = paths[n];
			r = buf + off[SNAP_SECT_PATHS] + n * SNAP_PATH_SIZE;
			snap_put_string(&e, r + SNAP_PATH_PATH, p->path);
			snap_put_string(&e, r + SNAP_PATH_SOURCE, p->source);
			snap_put32(r + SNAP_PATH_TYPE, (uint32_t)p->type);
			snap_put32(r + SNAP_PATH_BACKEND, p->backend);
			snap_put32(r + SNAP_PATH_TLS_FLAGS, p->tls_flags);
			snap_put32(r + SNAP_PATH_HSTS, p->hsts_max_age);
		}
	}

	for (ep = 0, i = 0; i < rt->nbackends; i++) {
		r = buf + off[SNAP_SECT_BACKENDS] + i * SNAP_BE_SIZE;
		snap_put_backend(&e, r, rt, &rt->backends[i], ep);
		snap_put_upstream_tls(&e, buf + off[SNAP_SECT_UPSTREAM_TLS] +
		    i * SNAP_UT_SIZE, &rt->backends[i].tls);
		for (j = 0; j < rt->backends[i].nendpoints; j++, ep++)
			snap_put_endpoint(buf + off[SNAP_SECT_ENDPOINTS] +
			    (size_t)ep * 24, &rt->backends[i].endpoints[j]);
	}
	for (i = 0; i < rt->ncas; i++)
		snap_put_ca(&e, buf + off[SNAP_SECT_UPSTREAM_CAS] +
		    i * SNAP_CA_SIZE, &rt->cas[i]);
	snap_put_certs(&e, buf + off[SNAP_SECT_CERTS], certs, rt->ncerts);
	snap_put_meta(&e, buf + off[SNAP_SECT_META], rt, anyhost);

	/* Shrink to the strings actually written. */
	cnt[SNAP_SECT_STRINGS] = e.strings_len;
	total = snap_align8(off[SNAP_SECT_STRINGS] + e.strings_len);

	memcpy(buf + SNAP_H_MAGIC, SNAPSHOT_MAGIC, 8);
	snap_put32(buf + SNAP_H_VERSION, SNAPSHOT_FORMAT_VERSION);
	snap_put32(buf + SNAP_H_HDRSIZE, SNAP_HDR_SIZE);
	snap_put64(buf + SNAP_H_GENERATION, generation);
	snap_put64(buf + SNAP_H_TOTAL, total);
	snap_put32(buf + SNAP_H_NSECTIONS, SNAP_NSECTIONS);
	for (k = SNAP_SECT_META; k <= SNAP_NSECTIONS; k++) {
		r = buf + SNAP_HDR_SIZE + (k - 1) * SNAP_SECT_SIZE;
		snap_put32(r, k);
		snap_put32(r + 4, (uint32_t)cnt[k]);
		snap_put32(r + 8, (uint32_t)off[k]);
		snap_put32(r + 12,
		    (uint32_t)(cnt[k] * snap_sections[k].recsize));
	}
	(void)snapshot_seal(buf, total);

	/* Give back what the string estimate reserved and did not use. */
	if ((r = realloc(buf, total)) != NULL)
		buf = r;
	*out = buf;
	*outlen = total;
	buf = NULL;
	rc = 0;
 done:
	free(buf);
	free(hosts);
	free(paths);
	free(certs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reader (workers)                                                   */
/* ------------------------------------------------------------------ */

/* A strref at <ref> lies within the string table: 1, else 0. */
static int
snap_ref_ok(const struct snapshot *s, const uint8_t *ref)
{
	return (uint64_t)snap_get32(ref) + snap_get32(ref + 4) <=
	    s->strings_len;
}

static const char *
snap_str(const struct snapshot *s, const uint8_t *ref, size_t *len)
{
	*len = snap_get32(ref + 4);
	if (*len == 0)
		return "";
	return (const char *)s->strings + snap_get32(ref);
}

/*
 * Reads and checks the section table: each kind once, aligned, inside the
 * blob after the table, sized count * record size, counts within limits,
 * no two sections overlapping.  Fills <off>/<cnt> by kind.
 */
static int
snap_open_sections(const uint8_t *b, size_t len, uint32_t *off,
    uint32_t *cnt, char *err, size_t errlen)
{
	const uint8_t *r;
	uint32_t kind, count, o, size, i, j;
	uint32_t end[SNAP_NSECTIONS + 1], seen = 0;

	for (i = 0; i < SNAP_NSECTIONS; i++) {
		r = b + SNAP_HDR_SIZE + i * SNAP_SECT_SIZE;
		kind = snap_get32(r);
		count = snap_get32(r + 4);
		o = snap_get32(r + 8);
		size = snap_get32(r + 12);
		if (kind < SNAP_SECT_META || kind > SNAP_NSECTIONS ||
		    (seen & (1u << kind))) {
			snap_err(err, errlen, "section %u: unknown or repeated "
			    "kind %u", i, kind);
			return -1;
		}
		seen |= 1u << kind;
		if (count > snap_sections[kind].maxcount ||
		    (uint64_t)count * snap_sections[kind].recsize != size) {
			snap_err(err, errlen, "%s section: bad count %u or "
			    "size %u", snap_sections[kind].name, count, size);
			return -1;
		}
		if ((o & 7) != 0 || o < SNAP_DATA_START ||
		    (uint64_t)o + size > len) {
			snap_err(err, errlen, "%s section: offset %u size %u "
			    "out of bounds", snap_sections[kind].name, o, size);
			return -1;
		}
		off[kind] = o;
		cnt[kind] = count;
		end[kind] = o + size;	/* <= len: no wrap */
	}
	for (i = SNAP_SECT_META; i <= SNAP_NSECTIONS; i++) {
		for (j = i + 1; j <= SNAP_NSECTIONS; j++) {
			if (cnt[i] == 0 || cnt[j] == 0)
				continue;
			if (off[i] < end[j] && off[j] < end[i]) {
				snap_err(err, errlen, "sections %s and %s "
				    "overlap", snap_sections[i].name,
				    snap_sections[j].name);
				return -1;
			}
		}
	}
	if (cnt[SNAP_SECT_META] != 1 || cnt[SNAP_SECT_HOST_INDEX] == 0 ||
	    (cnt[SNAP_SECT_HOST_INDEX] & (cnt[SNAP_SECT_HOST_INDEX] - 1))) {
		snap_err(err, errlen, "no meta record or host index size %u "
		    "not a power of two", cnt[SNAP_SECT_HOST_INDEX]);
		return -1;
	}
	return 0;
}

/* Copies the setting string at strref <ref> into <out> (<outlen>). */
static int
snap_open_setting(const struct snapshot *s, const uint8_t *ref, char *out,
    size_t outlen)
{
	const char *v;
	size_t len;

	if (!snap_ref_ok(s, ref))
		return -1;
	v = snap_str(s, ref, &len);
	if (len >= outlen || memchr(v, '\0', len) != NULL)
		return -1;
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static int
snap_open_meta(struct snapshot *s, const uint8_t *r, char *err,
    size_t errlen)
{
	struct route_settings *st = &s->settings;
	size_t len;

	st->client_header_timeout_ms = snap_get32(r + 0);
	st->client_body_timeout_ms = snap_get32(r + 4);
	st->client_idle_timeout_ms = snap_get32(r + 8);
	st->upstream_connect_timeout_ms = snap_get32(r + 12);
	st->upstream_response_timeout_ms = snap_get32(r + 16);
	st->upstream_idle_timeout_ms = snap_get32(r + 20);
	st->max_header_size = snap_get32(r + 24);
	st->max_headers = snap_get32(r + 28);
	st->max_body_size = snap_get64(r + 32);
	st->max_connections = snap_get32(r + 40);
	st->upstream_keepalive = snap_get32(r + 44);
	s->default_backend = (int32_t)snap_get32(r + SNAP_META_DEFAULT_BACKEND);
	s->anyhost = (int32_t)snap_get32(r + SNAP_META_ANYHOST);
	st->workers = snap_get32(r + SNAP_META_WORKERS);
	st->passive_failures = snap_get32(r + SNAP_META_PASSIVE);
	if (st->workers > 65536 || st->passive_failures > 1000) {
		snap_err(err, errlen, "worker count %u or passive failures %u "
		    "out of range", st->workers, st->passive_failures);
		return -1;
	}
	if (s->default_backend < -1 ||
	    (s->default_backend >= 0 &&
	    (uint32_t)s->default_backend >= s->nbackends)) {
		snap_err(err, errlen, "default backend %d out of range",
		    (int)s->default_backend);
		return -1;
	}
	if (s->anyhost < -1 ||
	    (s->anyhost >= 0 && (uint32_t)s->anyhost >= s->nhosts)) {
		snap_err(err, errlen, "host-less entry %d out of range",
		    (int)s->anyhost);
		return -1;
	}
	if (!snap_ref_ok(s, r + SNAP_META_DEFAULT_SOURCE)) {
		snap_err(err, errlen, "default source outside the strings");
		return -1;
	}
	s->default_source = snap_str(s, r + SNAP_META_DEFAULT_SOURCE, &len);
	s->default_sourcelen = (uint32_t)len;
	st->tls_handshake_timeout_ms = snap_get32(r + SNAP_META_TLS_HS_TIMEOUT);
	st->tls_protocols = snap_get32(r + SNAP_META_TLS_PROTOCOLS);
	st->tls_session_cache = snap_get32(r + SNAP_META_TLS_CACHE);
	st->https_port = snap_get32(r + SNAP_META_HTTPS_PORT);
	if ((st->tls_protocols & ~(uint32_t)(ROUTE_TLS_V12 | ROUTE_TLS_V13)) ||
	    st->tls_session_cache > 1 || st->https_port > 65535 ||
	    snap_get64(r + SNAP_META_RESERVED) != 0 ||
	    snap_open_setting(s, r + SNAP_META_TLS_CIPHERS, st->tls_ciphers,
	    sizeof(st->tls_ciphers)) == -1 ||
	    snap_open_setting(s, r + SNAP_META_TLS_SUITES,
	    st->tls_ciphersuites, sizeof(st->tls_ciphersuites)) == -1 ||
	    snap_open_setting(s, r + SNAP_META_TLS_CURVES, st->tls_curves,
	    sizeof(st->tls_curves)) == -1) {
		snap_err(err, errlen, "bad TLS settings");
		return -1;
	}
	return 0;
}

/*
 * Certificates: names well-formed for their kind, sorted and unique,
 * PEM in bounds, not empty, without NUL (OpenSSL reads it as text).
 */
static int
snap_open_certs(const struct snapshot *s, char *err, size_t errlen)
{
	const uint8_t *r;
	const char *name, *pem, *prev = NULL;
	size_t namelen, pemlen, prevlen = 0;
	uint32_t i, kind;

	for (i = 0; i < s->ncerts; i++) {
		r = (const uint8_t *)s->certs + (size_t)i * SNAP_CERT_SIZE;
		if (!snap_ref_ok(s, r + SNAP_CERT_NAME) ||
		    !snap_ref_ok(s, r + SNAP_CERT_PEM) ||
		    snap_get32(r + 20) != 0) {
			snap_err(err, errlen, "certificate %u: bad record", i);
			return -1;
		}
		name = snap_str(s, r + SNAP_CERT_NAME, &namelen);
		pem = snap_str(s, r + SNAP_CERT_PEM, &pemlen);
		kind = snap_get32(r + SNAP_CERT_KIND);
		if (!snap_cert_name_ok(name, namelen) || pemlen == 0 ||
		    pemlen > SNAPSHOT_MAX_PEM ||
		    memchr(pem, '\0', pemlen) != NULL ||
		    kind != (namelen == 0 ? SNAPSHOT_HOST_ANY : name[0] == '*' ?
		    SNAPSHOT_HOST_WILDCARD : SNAPSHOT_HOST_EXACT) ||
		    (i > 0 &&
		    snap_bytecmp(prev, prevlen, name, namelen) >= 0)) {
			snap_err(err, errlen, "certificate %u: bad name, kind "
			    "or PEM, or out of order", i);
			return -1;
		}
		prev = name;
		prevlen = namelen;
	}
	return 0;
}

/*
 * Hosts and their paths: strings in bounds, kinds known and consistent
 * with the names, path ranges consecutive and covering all paths, paths
 * well-formed and in the order the router relies on.
 */
static int
snap_open_hosts(const struct snapshot *s, uint32_t *nindexed, char *err,
    size_t errlen)
{
	const uint8_t *r, *pr;
	const char *name, *path, *prev = NULL;
	size_t namelen, pathlen, prevlen = 0;
	uint32_t i, j, kind, first, n, next = 0, type, prevtype = 0;

	*nindexed = 0;
	for (i = 0; i < s->nhosts; i++) {
		r = (const uint8_t *)s->hosts + (size_t)i * 24;
		kind = snap_get32(r + SNAP_HOST_KIND);
		first = snap_get32(r + SNAP_HOST_FIRST_PATH);
		n = snap_get32(r + SNAP_HOST_NPATHS);
		if (!snap_ref_ok(s, r + SNAP_HOST_NAME) ||
		    snap_get32(r + 20) != 0) {
			snap_err(err, errlen, "host %u: bad record", i);
			return -1;
		}
		name = snap_str(s, r + SNAP_HOST_NAME, &namelen);
		if ((kind == SNAPSHOT_HOST_ANY &&
		    (namelen != 0 || (int32_t)i != s->anyhost)) ||
		    (kind == SNAPSHOT_HOST_EXACT && namelen == 0) ||
		    (kind == SNAPSHOT_HOST_WILDCARD && (namelen < 3 ||
		    name[0] != '*' || name[1] != '.')) ||
		    kind > SNAPSHOT_HOST_ANY) {
			snap_err(err, errlen, "host %u: bad kind %u for its "
			    "name", i, kind);
			return -1;
		}
		if (kind != SNAPSHOT_HOST_ANY)
			(*nindexed)++;
		if (first != next || (uint64_t)first + n > s->npaths) {
			snap_err(err, errlen, "host %u: path range %u+%u "
			    "out of order or bounds", i, first, n);
			return -1;
		}
		next = first + n;
		for (j = first; j < next; j++) {
			pr = (const uint8_t *)s->paths +
			    (size_t)j * SNAP_PATH_SIZE;
			type = snap_get32(pr + SNAP_PATH_TYPE);
			if (!snap_ref_ok(s, pr + SNAP_PATH_PATH) ||
			    !snap_ref_ok(s, pr + SNAP_PATH_SOURCE) ||
			    type > ROUTE_PATH_PREFIX ||
			    (snap_get32(pr + SNAP_PATH_TLS_FLAGS) &
			    ~(uint32_t)ROUTE_TLS_FLAGS) != 0 ||
			    snap_get32(pr + SNAP_PATH_BACKEND) >=
			    s->nbackends) {
				snap_err(err, errlen, "path %u: bad record", j);
				return -1;
			}
			path = snap_str(s, pr + SNAP_PATH_PATH, &pathlen);
			if (pathlen == 0 || path[0] != '/' ||
			    (j > first && snap_pathcmp(prevtype, prev, prevlen,
			    type, path, pathlen) >= 0)) {
				snap_err(err, errlen, "path %u: empty, not "
				    "absolute, repeated or out of order", j);
				return -1;
			}
			prev = path;
			prevlen = pathlen;
			prevtype = type;
		}
	}
	if (next != s->npaths) {
		snap_err(err, errlen, "%u paths belong to no host",
		    s->npaths - next);
		return -1;
	}
	if (s->anyhost >= 0) {
		r = (const uint8_t *)s->hosts + (size_t)s->anyhost * 24;
		if (snap_get32(r + SNAP_HOST_KIND) != SNAPSHOT_HOST_ANY) {
			snap_err(err, errlen, "host-less entry %d is a named "
			    "host", (int)s->anyhost);
			return -1;
		}
	}
	return 0;
}

/*
 * The host index: slots empty or naming an indexed host, at most half
 * full (so every probe ends), one slot per indexed host, each host
 * reachable from its key's home slot without crossing an empty one.
 */
static int
snap_open_index(const struct snapshot *s, uint32_t nindexed, char *err,
    size_t errlen)
{
	const uint8_t *slots = s->host_index, *r;
	const char *name;
	size_t namelen;
	uint32_t i, j, h, mask, used = 0, kind;

	mask = s->host_index_size - 1;
	for (i = 0; i < s->host_index_size; i++) {
		if ((h = snap_get32(slots + (size_t)i * 4)) == SNAP_INDEX_EMPTY)
			continue;
		if (h >= s->nhosts) {
			snap_err(err, errlen, "host index slot %u: host %u out "
			    "of range", i, h);
			return -1;
		}
		r = (const uint8_t *)s->hosts + (size_t)h * 24;
		kind = snap_get32(r + SNAP_HOST_KIND);
		if (kind == SNAPSHOT_HOST_ANY) {
			snap_err(err, errlen, "host index slot %u: host-less "
			    "entry indexed", i);
			return -1;
		}
		used++;
	}
	if (used != nindexed || (uint64_t)used * 2 > s->host_index_size) {
		snap_err(err, errlen, "host index: %u slots used for %u hosts "
		    "in %u slots", used, nindexed, s->host_index_size);
		return -1;
	}
	/*
	 * Each indexed host is reached from its key's home slot before an
	 * empty one.  Hosts reached are in distinct slots, and there are as
	 * many used slots as indexed hosts: every slot is some host's.
	 */
	for (h = 0; h < s->nhosts; h++) {
		r = (const uint8_t *)s->hosts + (size_t)h * 24;
		kind = snap_get32(r + SNAP_HOST_KIND);
		if (kind == SNAPSHOT_HOST_ANY)
			continue;
		name = snap_str(s, r + SNAP_HOST_NAME, &namelen);
		if (kind == SNAPSHOT_HOST_WILDCARD) {
			name += 2;
			namelen -= 2;
		}
		for (j = snap_home(name, namelen, s->host_index_size);
		    (i = snap_get32(slots + (size_t)j * 4)) != h;
		    j = (j + 1) & mask) {
			if (i == SNAP_INDEX_EMPTY) {
				snap_err(err, errlen, "host %u: not in the "
				    "host index", h);
				return -1;
			}
		}
	}
	return 0;
}

static int
snap_open_backends(const struct snapshot *s, char *err, size_t errlen)
{
	const uint8_t *r;
	uint32_t i, first, n, next = 0, fam;
	size_t k;

	for (i = 0; i < s->nbackends; i++) {
		r = (const uint8_t *)s->backends + (size_t)i * SNAP_BE_SIZE;
		first = snap_get32(r + SNAP_BE_FIRST_EP);
		n = snap_get32(r + SNAP_BE_NEPS);
		if (!snap_ref_ok(s, r + SNAP_BE_NAME) ||
		    !snap_ref_ok(s, r + SNAP_BE_POLICY_ARG) ||
		    snap_get32(r + SNAP_BE_POLICY) >
		    ROUTE_POLICY_STICKY_COOKIE ||
		    snap_get32(r + SNAP_BE_CONNECT) == 0 ||
		    snap_get32(r + SNAP_BE_RESPONSE) == 0 ||
		    snap_get32(r + 36) != 0 ||
		    snap_get32(r + SNAP_BE_HC_MODE) > ROUTE_HEALTH_HTTP ||
		    snap_get32(r + SNAP_BE_HC_PORT) > 65535 ||
		    snap_get32(r + SNAP_BE_HC_INTERVAL) == 0 ||
		    snap_get32(r + SNAP_BE_HC_TIMEOUT) == 0 ||
		    snap_get32(r + SNAP_BE_HC_RISE) == 0 ||
		    snap_get32(r + SNAP_BE_HC_FALL) == 0 ||
		    snap_get32(r + SNAP_BE_HC_EXPECT_LO) < 100 ||
		    snap_get32(r + SNAP_BE_HC_EXPECT_LO) >
		    snap_get32(r + SNAP_BE_HC_EXPECT_HI) ||
		    snap_get32(r + SNAP_BE_HC_EXPECT_HI) > 599 ||
		    snap_get32(r + SNAP_BE_HC_ALL_DOWN) >
		    ROUTE_ALL_DOWN_FAIL_OPEN ||
		    snap_get32(r + 76) != 0 ||
		    !snap_ref_ok(s, r + SNAP_BE_HC_PATH) ||
		    !snap_ref_ok(s, r + SNAP_BE_HC_HOST) ||
		    snap_get32(r + SNAP_BE_HC_PATH + 4) == 0) {
			snap_err(err, errlen, "backend %u: bad record", i);
			return -1;
		}
		if (first != next || (uint64_t)first + n > s->nendpoints) {
			snap_err(err, errlen, "backend %u: endpoint range "
			    "%u+%u out of order or bounds", i, first, n);
			return -1;
		}
		next = first + n;
	}
	if (next != s->nendpoints) {
		snap_err(err, errlen, "%u endpoints belong to no backend",
		    s->nendpoints - next);
		return -1;
	}
	for (i = 0; i < s->nendpoints; i++) {
		r = (const uint8_t *)s->endpoints + (size_t)i * 24;
		fam = snap_get16(r + SNAP_EP_FAMILY);
		if (fam != SNAP_FAMILY_INET && fam != SNAP_FAMILY_INET6) {
			snap_err(err, errlen, "endpoint %u: unknown address "
			    "family %u", i, fam);
			return -1;
		}
		if (fam == SNAP_FAMILY_INET) {
			for (k = 4; k < 16; k++) {
				if (r[SNAP_EP_ADDR + k] != 0) {
					snap_err(err, errlen, "endpoint %u: "
					    "IPv4 address with garbage", i);
					return -1;
				}
			}
		}
	}
	return 0;
}

/*
 * Backend TLS records (one per backend: the section table checked the
 * count against the backends' in snapshot_open()) and CA bundles.
 */
static int
snap_open_upstream_tls(const struct snapshot *s, char *err, size_t errlen)
{
	const uint8_t *r;
	const char *name;
	size_t namelen;
	uint32_t i, flags, ca;

	for (i = 0; i < s->ncas; i++) {
		r = (const uint8_t *)s->cas + (size_t)i * SNAP_CA_SIZE;
		if (!snap_ref_ok(s, r + SNAP_CA_PEM) ||
		    snap_get32(r + SNAP_CA_PEM + 4) > SNAPSHOT_MAX_CA_SIZE) {
			snap_err(err, errlen, "CA bundle %u: bad record", i);
			return -1;
		}
	}
	for (i = 0; i < s->nbackends; i++) {
		r = (const uint8_t *)s->upstream_tls + (size_t)i * SNAP_UT_SIZE;
		flags = snap_get32(r + SNAP_UT_FLAGS);
		ca = snap_get32(r + SNAP_UT_CA);
		if (!snap_ref_ok(s, r + SNAP_UT_NAME) ||
		    snap_get32(r + 16) != 0 || snap_get32(r + 20) != 0 ||
		    (flags & ~(SNAP_UT_TLS | SNAP_UT_VERIFY)) != 0 ||
		    flags == SNAP_UT_VERIFY ||
		    ((flags & SNAP_UT_VERIFY) ? ca >= s->ncas :
		    ca != SNAP_UT_NONE)) {
			snap_err(err, errlen, "backend %u: bad TLS record", i);
			return -1;
		}
		name = snap_str(s, r + SNAP_UT_NAME, &namelen);
		if ((flags == 0 && namelen != 0) || (namelen != 0 &&
		    !snapshot_server_name_ok(name, namelen))) {
			snap_err(err, errlen, "backend %u: bad TLS server "
			    "name", i);
			return -1;
		}
	}
	return 0;
}

int
snapshot_open(struct snapshot *s, const void *base, size_t len, char *err,
    size_t errlen)
{
	const uint8_t *b = base;
	uint32_t off[SNAP_NSECTIONS + 1], cnt[SNAP_NSECTIONS + 1];
	uint32_t nindexed;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (base == NULL || len < SNAP_DATA_START || len > SNAPSHOT_MAX_SIZE ||
	    (len & 7) != 0) {
		snap_err(err, errlen, "snapshot of %zu bytes: too short, too "
		    "long or not a multiple of 8", len);
		return -1;
	}
	if (memcmp(b + SNAP_H_MAGIC, SNAPSHOT_MAGIC, 8) != 0) {
		snap_err(err, errlen, "not a snapshot (bad magic)");
		return -1;
	}
	if (snap_get32(b + SNAP_H_VERSION) != SNAPSHOT_FORMAT_VERSION) {
		snap_err(err, errlen, "snapshot format %u, expected %u",
		    snap_get32(b + SNAP_H_VERSION), SNAPSHOT_FORMAT_VERSION);
		return -1;
	}
	if (snap_get32(b + SNAP_H_HDRSIZE) != SNAP_HDR_SIZE ||
	    snap_get64(b + SNAP_H_TOTAL) != len ||
	    snap_get32(b + SNAP_H_NSECTIONS) != SNAP_NSECTIONS ||
	    snap_get32(b + SNAP_H_FLAGS) != 0) {
		snap_err(err, errlen, "bad snapshot header (header size, total "
		    "size %llu for %zu bytes, sections or flags)",
		    (unsigned long long)snap_get64(b + SNAP_H_TOTAL), len);
		return -1;
	}
	for (i = SNAP_H_RESERVED; i < SNAP_HDR_SIZE; i++) {
		if (b[i] != 0) {
			snap_err(err, errlen, "bad snapshot header (reserved "
			    "bytes)");
			return -1;
		}
	}
	if (snap_checksum(b, len) != snap_get64(b + SNAP_H_CHECKSUM)) {
		snap_err(err, errlen, "snapshot checksum mismatch");
		return -1;
	}
	if (snap_open_sections(b, len, off, cnt, err, errlen) == -1)
		return -1;
	if (cnt[SNAP_SECT_UPSTREAM_TLS] != cnt[SNAP_SECT_BACKENDS]) {
		snap_err(err, errlen, "%u backend TLS records for %u backends",
		    cnt[SNAP_SECT_UPSTREAM_TLS], cnt[SNAP_SECT_BACKENDS]);
		return -1;
	}

	s->base = b;
	s->len = len;
	s->generation = snap_get64(b + SNAP_H_GENERATION);
	s->strings = b + off[SNAP_SECT_STRINGS];
	s->strings_len = cnt[SNAP_SECT_STRINGS];
	s->hosts = b + off[SNAP_SECT_HOSTS];
	s->nhosts = cnt[SNAP_SECT_HOSTS];
	s->host_index = b + off[SNAP_SECT_HOST_INDEX];
	s->host_index_size = cnt[SNAP_SECT_HOST_INDEX];
	s->paths = b + off[SNAP_SECT_PATHS];
	s->npaths = cnt[SNAP_SECT_PATHS];
	s->backends = b + off[SNAP_SECT_BACKENDS];
	s->nbackends = cnt[SNAP_SECT_BACKENDS];
	s->endpoints = b + off[SNAP_SECT_ENDPOINTS];
	s->nendpoints = cnt[SNAP_SECT_ENDPOINTS];
	s->upstream_tls = b + off[SNAP_SECT_UPSTREAM_TLS];
	s->cas = b + off[SNAP_SECT_UPSTREAM_CAS];
	s->ncas = cnt[SNAP_SECT_UPSTREAM_CAS];
	s->certs = b + off[SNAP_SECT_CERTS];
	s->ncerts = cnt[SNAP_SECT_CERTS];

	if (snap_open_meta(s, b + off[SNAP_SECT_META], err, errlen) == -1 ||
	    snap_open_hosts(s, &nindexed, err, errlen) == -1 ||
	    snap_open_index(s, nindexed, err, errlen) == -1 ||
	    snap_open_backends(s, err, errlen) == -1 ||
	    snap_open_upstream_tls(s, err, errlen) == -1 ||
	    snap_open_certs(s, err, errlen) == -1) {
		memset(s, 0, sizeof(*s));
		return -1;
	}
	return 0;
}

void
snapshot_backend(const struct snapshot *s, uint32_t idx,
    struct snapshot_backend *out)
{
	const uint8_t *r = (const uint8_t *)s->backends +
	    (size_t)idx * SNAP_BE_SIZE;

	out->index = idx;
	out->name = snap_str(s, r + SNAP_BE_NAME, &out->namelen);
	out->policy_arg = snap_str(s, r + SNAP_BE_POLICY_ARG,
	    &out->policy_arglen);
	if (out->policy_arglen == 0)
		out->policy_arg = NULL;
	out->policy = snap_get32(r + SNAP_BE_POLICY);
	out->connect_timeout_ms = snap_get32(r + SNAP_BE_CONNECT);
	out->response_timeout_ms = snap_get32(r + SNAP_BE_RESPONSE);
	out->first_endpoint = snap_get32(r + SNAP_BE_FIRST_EP);
	out->nendpoints = snap_get32(r + SNAP_BE_NEPS);
	out->hc_mode = snap_get32(r + SNAP_BE_HC_MODE);
	out->hc_port = snap_get32(r + SNAP_BE_HC_PORT);
	out->hc_interval_ms = snap_get32(r + SNAP_BE_HC_INTERVAL);
	out->hc_timeout_ms = snap_get32(r + SNAP_BE_HC_TIMEOUT);
	out->hc_rise = snap_get32(r + SNAP_BE_HC_RISE);
	out->hc_fall = snap_get32(r + SNAP_BE_HC_FALL);
	out->hc_expect_lo = snap_get32(r + SNAP_BE_HC_EXPECT_LO);
	out->hc_expect_hi = snap_get32(r + SNAP_BE_HC_EXPECT_HI);
	out->hc_all_down = snap_get32(r + SNAP_BE_HC_ALL_DOWN);
	out->hc_path = snap_str(s, r + SNAP_BE_HC_PATH, &out->hc_pathlen);
	out->hc_host = snap_str(s, r + SNAP_BE_HC_HOST, &out->hc_hostlen);
}

void
snapshot_endpoint(const struct snapshot *s, uint32_t idx,
    struct snapshot_endpoint *out)
{
	const uint8_t *r = (const uint8_t *)s->endpoints + (size_t)idx * 24;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;

	memset(out, 0, sizeof(*out));
	out->weight = snap_get32(r + SNAP_EP_WEIGHT);
	if (snap_get16(r + SNAP_EP_FAMILY) == SNAP_FAMILY_INET) {
		sin = (struct sockaddr_in *)&out->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(snap_get16(r + SNAP_EP_PORT));
		memcpy(&sin->sin_addr, r + SNAP_EP_ADDR, 4);
		out->addrlen = sizeof(*sin);
	} else {
		sin6 = (struct sockaddr_in6 *)&out->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(snap_get16(r + SNAP_EP_PORT));
		memcpy(&sin6->sin6_addr, r + SNAP_EP_ADDR, 16);
		out->addrlen = sizeof(*sin6);
	}
}

void
snapshot_upstream_tls(const struct snapshot *s, uint32_t idx,
    struct snapshot_upstream_tls *out)
{
	const uint8_t *r = (const uint8_t *)s->upstream_tls +
	    (size_t)idx * SNAP_UT_SIZE;
	uint32_t flags = snap_get32(r + SNAP_UT_FLAGS);

	out->enabled = (flags & SNAP_UT_TLS) != 0;
	out->verify = (flags & SNAP_UT_VERIFY) != 0;
	out->ca = out->verify ? (int32_t)snap_get32(r + SNAP_UT_CA) : -1;
	out->server_name = snap_str(s, r + SNAP_UT_NAME, &out->server_namelen);
}

void
snapshot_ca(const struct snapshot *s, uint32_t idx, struct snapshot_ca *out)
{
	const uint8_t *r = (const uint8_t *)s->cas + (size_t)idx * SNAP_CA_SIZE;

	out->pem = snap_str(s, r + SNAP_CA_PEM, &out->len);
	out->hash = snap_get64(r + SNAP_CA_HASH);
}

void
snapshot_host(const struct snapshot *s, uint32_t idx,
    struct snapshot_host *out)
{
	const uint8_t *r = (const uint8_t *)s->hosts + (size_t)idx * 24;

	out->name = snap_str(s, r + SNAP_HOST_NAME, &out->namelen);
	out->kind = snap_get32(r + SNAP_HOST_KIND);
	out->first_path = snap_get32(r + SNAP_HOST_FIRST_PATH);
	out->npaths = snap_get32(r + SNAP_HOST_NPATHS);
}

void
snapshot_path(const struct snapshot *s, uint32_t idx,
    struct snapshot_path *out)
{
	const uint8_t *r = (const uint8_t *)s->paths +
	    (size_t)idx * SNAP_PATH_SIZE;

	out->path = snap_str(s, r + SNAP_PATH_PATH, &out->pathlen);
	out->source = snap_str(s, r + SNAP_PATH_SOURCE, &out->sourcelen);
	out->type = snap_get32(r + SNAP_PATH_TYPE);
	out->backend = snap_get32(r + SNAP_PATH_BACKEND);
	out->tls_flags = snap_get32(r + SNAP_PATH_TLS_FLAGS);
	out->hsts_max_age = snap_get32(r + SNAP_PATH_HSTS);
}

void
snapshot_cert(const struct snapshot *s, uint32_t idx,
    struct snapshot_cert *out)
{
	const uint8_t *r = (const uint8_t *)s->certs +
	    (size_t)idx * SNAP_CERT_SIZE;

	out->name = snap_str(s, r + SNAP_CERT_NAME, &out->namelen);
	out->pem = snap_str(s, r + SNAP_CERT_PEM, &out->pemlen);
	out->kind = snap_get32(r + SNAP_CERT_KIND);
}

int32_t
snapshot_cert_find(const struct snapshot *s, const char *name,
    size_t namelen)
{
	const uint8_t *r;
	const char *n;
	size_t nlen;
	uint32_t lo = 0, hi = s->ncerts, mid;
	int c;

	/* snapshot_open() checked the order: a binary search is safe. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = (const uint8_t *)s->certs + (size_t)mid * SNAP_CERT_SIZE;
		n = snap_str(s, r + SNAP_CERT_NAME, &nlen);
		c = snap_bytecmp(n, nlen, name, namelen);
		if (c == 0)
			return (int32_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int32_t
snapshot_host_find(const struct snapshot *s, const char *name,
    size_t namelen, int wildcard)
{
	const uint8_t *slots = s->host_index, *r;
	const char *hname;
	size_t hlen;
	uint32_t slot, h, want;

	want = wildcard ? SNAPSHOT_HOST_WILDCARD : SNAPSHOT_HOST_EXACT;
	/* At most half the slots are used: the probe meets an empty one. */
	slot = snap_home(name, namelen, s->host_index_size);
	while ((h = snap_get32(slots + (size_t)slot * 4)) != SNAP_INDEX_EMPTY) {
		r = (const uint8_t *)s->hosts + (size_t)h * 24;
		if (snap_get32(r + SNAP_HOST_KIND) == want) {
			hname = snap_str(s, r + SNAP_HOST_NAME, &hlen);
			if (wildcard) {
				hname += 2;
				hlen -= 2;
			}
			if (util_strcaseeq(hname, hlen, name, namelen))
				return (int32_t)h;
		}
		slot = (slot + 1) & (s->host_index_size - 1);
	}
	return -1;
}
