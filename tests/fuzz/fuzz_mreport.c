/*
 * Fuzz target for what crosses the process boundary in memfds besides
 * snapshots: a worker's metrics report (common/mreport.c, read by the
 * master) and the status document (common/statusdoc.c, read by the
 * workers).  Any bytes must be refused with a reason or decoded into
 * something that encodes and decodes again to the same counters.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mreport.h"
#include "common/statusdoc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mreport r, r2;
	struct statusdoc d;
	char err[128];
	uint8_t *out;
	size_t len, i;

	err[0] = '\0';
	if (mreport_decode(data, size, &r, err, sizeof(err)) == 0) {
		if (mreport_encode(&r, &out, &len) == -1)
			abort();
		if (len != size || memcmp(out, data, size) != 0)
			abort();	/* one encoding per report */
		if (mreport_decode(out, len, &r2, err, sizeof(err)) == -1)
			abort();
		if (r2.nendpoints != r.nendpoints ||
		    r2.requests != r.requests)
			abort();
		mreport_free(&r2);
		free(out);
		mreport_free(&r);
	} else if (err[0] == '\0')
		abort();	/* a refusal always says why */
	err[0] = '\0';
	if (statusdoc_parse(data, size, &d, err, sizeof(err)) == 0) {
		for (i = 0; i < STATUSDOC_NSECTIONS; i++)
			if (d.sec[i] < (const char *)data ||
			    d.sec[i] + d.len[i] > (const char *)data + size)
				abort();
	} else if (err[0] == '\0')
		abort();
	return 0;
}
