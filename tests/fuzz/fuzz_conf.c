/*
 * fuzz_conf: arbitrary bytes as an ingressd.yaml through
 * conf_load_buffer().
 *
 * Invariants (abort on breach): an accepted file yields values within the
 * documented ranges and every mandatory string set; a refused one leaves
 * the struct zeroed and an error that starts with the file name and a
 * line:column.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME	"/fuzz/ingressd.yaml"

static void
fuzz_check_ok(const struct conf *c)
{
	if (c->path == NULL || strcmp(c->path, FUZZ_NAME) != 0)
		abort();
	if (c->workers < 1 || c->workers > CONF_MAX_WORKERS)
		abort();
	if (c->user == NULL || c->provider_dir == NULL ||
	    c->control_socket == NULL)
		abort();
	if (c->provider_dir[0] != '/' || c->control_socket[0] != '/' ||
	    (c->pid_file != NULL && c->pid_file[0] != '/') ||
	    (c->kubeconfig != NULL && c->kubeconfig[0] != '/'))
		abort();
	if (c->log_level < LOG_LEVEL_ERROR || c->log_level > LOG_LEVEL_DEBUG)
		abort();
	if ((int)c->provider_kind < 0 || c->provider_kind > CONF_PROVIDER_KUBE)
		abort();
	if ((int)c->sandbox < 0 || c->sandbox > CONF_SANDBOX_OFF)
		abort();
	if (c->client_header_timeout_ms == 0 ||
	    c->client_body_timeout_ms == 0 ||
	    c->client_idle_timeout_ms == 0 ||
	    c->upstream_connect_timeout_ms == 0 ||
	    c->upstream_response_timeout_ms == 0 ||
	    c->upstream_idle_timeout_ms == 0 || c->shutdown_grace_ms == 0)
		abort();
	if (c->max_header_size < 1024 || c->max_headers == 0 ||
	    c->max_connections == 0)
		abort();
	if (memchr(c->http.text, '\0', sizeof(c->http.text)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct conf zero;
	struct conf c;
	char err[512];

	if (conf_load_buffer(FUZZ_NAME, (const char *)data, size, &c, err,
	    sizeof(err)) == 0) {
		fuzz_check_ok(&c);
		conf_free(&c);
		return 0;
	}
	if (memcmp(&c, &zero, sizeof(c)) != 0)
		abort();
	if (strncmp(err, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) != 0 ||
	    err[strlen(FUZZ_NAME ":")] < '1' ||
	    err[strlen(FUZZ_NAME ":")] > '9')
		abort();
	return 0;
}
