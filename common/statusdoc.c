/*
 * statusdoc: writer (master) and reader (workers) of the status document;
 * the layout is in statusdoc.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/statusdoc.h"

#define STATUSDOC_HDR_LEN	(8 + 8 * STATUSDOC_NSECTIONS)

static void
sd_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
sd_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
statusdoc_encode(const struct statusdoc *d, uint8_t **out, size_t *len)
{
	size_t total = STATUSDOC_HDR_LEN, off, i;
	uint8_t *p;

	for (i = 0; i < STATUSDOC_NSECTIONS; i++) {
		if (d->len[i] > STATUSDOC_MAX_SIZE - total)
			return -1;
		total += d->len[i];
	}
	if ((p = malloc(total)) == NULL)
		return -1;
	sd_le32(p, STATUSDOC_MAGIC);
	sd_le32(p + 4, STATUSDOC_NSECTIONS);
	off = STATUSDOC_HDR_LEN;
	for (i = 0; i < STATUSDOC_NSECTIONS; i++) {
		sd_le32(p + 8 + 8 * i, (uint32_t)off);
		sd_le32(p + 12 + 8 * i, (uint32_t)d->len[i]);
		if (d->len[i] > 0)
			memcpy(p + off, d->sec[i], d->len[i]);
		off += d->len[i];
	}
	*out = p;
	*len = total;
	return 0;
}

int
statusdoc_parse(const void *p, size_t len, struct statusdoc *d, char *err,
    size_t errlen)
{
	const uint8_t *b = p;
	uint32_t off, n;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (len < STATUSDOC_HDR_LEN || len > STATUSDOC_MAX_SIZE) {
		snprintf(err, errlen, "document of %zu bytes", len);
		return -1;
	}
	if (sd_rd32(b) != STATUSDOC_MAGIC ||
	    sd_rd32(b + 4) != STATUSDOC_NSECTIONS) {
		snprintf(err, errlen, "bad magic or section count");
		return -1;
	}
	for (i = 0; i < STATUSDOC_NSECTIONS; i++) {
		off = sd_rd32(b + 8 + 8 * i);
		n = sd_rd32(b + 12 + 8 * i);
		if (off < STATUSDOC_HDR_LEN || off > len || n > len - off) {
			snprintf(err, errlen, "section %zu out of bounds", i);
			memset(d, 0, sizeof(*d));
			return -1;
		}
		d->sec[i] = (const char *)b + off;
		d->len[i] = n;
	}
	return 0;
}
