/*
 * Fuzz target for master/tls_certs.c: tls_certs_check() on the tls.crt and
 * tls.key of a Secret, as compile runs it on whatever a manifest or the
 * API server holds.  The input is tls.crt, a NUL byte, then tls.key (no
 * NUL: the whole input is tried as both).  Inputs over 256 KiB are skipped:
 * the limits themselves are unit-tested.  abort() marks a broken contract:
 * a refusal without a reason, or an accepted pair whose PEM is not the
 * chain then the key.
 *
 * The corpus holds a throwaway ECDSA pair made for this seed only (demo
 * material, never used anywhere) so that replays reach the success path.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/tls_certs.h"

#define FUZZ_TLS_MAX	(256u * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_pair(const char *crt, size_t crtlen, const char *key, size_t keylen)
{
	char err[512], *pem = NULL;
	int expired = -1;

	err[0] = '\0';
	if (tls_certs_check(crt, crtlen, key, keylen, &pem, &expired, err,
	    sizeof(err)) == -1) {
		if (err[0] == '\0' || pem != NULL)
			abort();
		return;
	}
	if (pem == NULL || (expired != 0 && expired != 1) ||
	    memcmp(pem, crt, crtlen) != 0 ||
	    strcmp(pem + strlen(pem) - keylen, key) != 0)
		abort();
	free(pem);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	char *buf;

	if (size > FUZZ_TLS_MAX)
		return 0;
	/* NUL-terminated copies: the key is compared with strcmp() above. */
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((nul = memchr(data, '\0', size)) != NULL) {
		fuzz_pair(buf, (size_t)(nul - data), buf + (nul - data) + 1,
		    size - (size_t)(nul - data) - 1);
	} else {
		fuzz_pair(buf, size, buf, size);
	}
	free(buf);
	return 0;
}
