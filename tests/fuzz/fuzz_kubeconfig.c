/*
 * fuzz_kubeconfig: arbitrary bytes as a kubeconfig file through
 * kubeconfig_parse().
 *
 * Invariants (abort on breach): an accepted file yields an https://
 * server without a trailing slash, decoded -data fields with their
 * lengths, and a certificate only together with a key; a refused one
 * leaves the struct zeroed and an error naming the file.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/kubeconfig.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME	"/fuzz/kubeconfig"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kubeconfig zero;
	struct kubeconfig kc;
	char err[512];
	size_t n;

	if (kubeconfig_parse(FUZZ_NAME, (const char *)data, size, "/fuzz",
	    &kc, err, sizeof(err)) == 0) {
		if (kc.server == NULL || strncmp(kc.server, "https://", 8) != 0)
			abort();
		n = strlen(kc.server);
		if (n > 8 && kc.server[n - 1] == '/')
			abort();
		if ((kc.ca_data != NULL && kc.ca_data[kc.ca_data_len] != '\0') ||
		    (kc.cert_data != NULL &&
		    kc.cert_data[kc.cert_data_len] != '\0') ||
		    (kc.key_data != NULL && kc.key_data[kc.key_data_len] != '\0'))
			abort();
		if ((kc.cert_file != NULL || kc.cert_data != NULL) !=
		    (kc.key_file != NULL || kc.key_data != NULL))
			abort();
		if ((kc.ca_file != NULL && kc.ca_file[0] != '/') ||
		    (kc.token_file != NULL && kc.token_file[0] != '/'))
			abort();
		kubeconfig_free(&kc);
		return 0;
	}
	if (memcmp(&kc, &zero, sizeof(kc)) != 0)
		abort();
	if (strncmp(err, FUZZ_NAME, strlen(FUZZ_NAME)) != 0)
		abort();
	return 0;
}
