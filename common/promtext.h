/*
 * promtext: writes the Prometheus text exposition format 0.0.4 into a
 * growing buffer: HELP and TYPE lines, samples with escaped label values,
 * histograms as cumulative _bucket{le=...} lines ending in +Inf, then
 * _sum and _count.  Pure; used by the master to render /metrics.
 */
#ifndef INGRESSD_PROMTEXT_H
#define INGRESSD_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

struct promtext {
	char		*p;		/* NUL-ended while not bad */
	size_t		 len;
	size_t		 cap;
	int		 bad;		/* out of memory: output unusable */
};

/* A label: name and value (escaped on output). */
struct promtext_label {
	const char	*name;
	const char	*value;
};

void	promtext_init(struct promtext *pt);
void	promtext_free(struct promtext *pt);

/* Appends raw bytes. */
void	promtext_append(struct promtext *pt, const char *s, size_t n);

/* Appends <s> escaped as a label value: \\, \" and \n. */
void	promtext_escape(struct promtext *pt, const char *s);

/* "# HELP name help\n# TYPE name type\n" (help has \\ and \n escaped). */
void	promtext_family(struct promtext *pt, const char *name,
	    const char *type, const char *help);

/* One sample line: name{labels} value. */
void	promtext_u64(struct promtext *pt, const char *name,
	    const struct promtext_label *labels, size_t nlabels, uint64_t v);
void	promtext_double(struct promtext *pt, const char *name,
	    const struct promtext_label *labels, size_t nlabels, double v);

/*
 * The samples of one histogram <name>: <counts> has <nbounds> + 1
 * non-cumulative entries (the last past the highest bound), written as
 * cumulative name_bucket{...,le="B"} lines and le="+Inf", then name_sum
 * (<sum>) and name_count (the total).
 */
void	promtext_histogram(struct promtext *pt, const char *name,
	    const struct promtext_label *labels, size_t nlabels,
	    const double *bounds, size_t nbounds, const uint64_t *counts,
	    double sum);

#endif
