/*
 * Fuzz target for the control socket's request parser (master/control.c):
 * any bytes, as one request line, must give a command or an error with a
 * reason, never a crash or a leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/control.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, err[512];
	enum control_cmd cmd;

	if (size > CONTROL_MAX_REQUEST + 16)
		size = CONTROL_MAX_REQUEST + 16;
	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	err[0] = '\0';
	cmd = control_parse(line, err, sizeof(err));
	if (cmd == CONTROL_CMD_INVALID && err[0] == '\0')
		abort();	/* a refusal always says why */
	if (cmd != CONTROL_CMD_INVALID && (cmd < CONTROL_CMD_STATUS ||
	    cmd > CONTROL_CMD_RELOAD))
		abort();
	free(line);
	return 0;
}
