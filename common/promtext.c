/*
 * promtext: Prometheus text exposition format 0.0.4 (see promtext.h).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/promtext.h"

void
promtext_init(struct promtext *pt)
{
	memset(pt, 0, sizeof(*pt));
}

void
promtext_free(struct promtext *pt)
{
	free(pt->p);
	memset(pt, 0, sizeof(*pt));
}

void
promtext_append(struct promtext *pt, const char *s, size_t n)
{
	size_t cap;
	char *np;

	if (pt->bad)
		return;
	if (pt->len + n + 1 > pt->cap) {
		cap = pt->cap ? pt->cap : 4096;
		while (cap < pt->len + n + 1)
			cap *= 2;
		if ((np = realloc(pt->p, cap)) == NULL) {
			pt->bad = 1;
			return;
		}
		pt->p = np;
		pt->cap = cap;
	}
	memcpy(pt->p + pt->len, s, n);
	pt->len += n;
	pt->p[pt->len] = '\0';
}

static void
promtext_str(struct promtext *pt, const char *s)
{
	promtext_append(pt, s, strlen(s));
}

/* Escapes \ and newline, and " too when <quote>. */
static void
promtext_escape_ex(struct promtext *pt, const char *s, int quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\' && *s != '\n' && !(quote && *s == '"'))
			continue;
		promtext_append(pt, run, (size_t)(s - run));
		promtext_str(pt, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" :
		    "\\\"");
		run = s + 1;
	}
	promtext_append(pt, run, (size_t)(s - run));
}

void
promtext_escape(struct promtext *pt, const char *s)
{
	promtext_escape_ex(pt, s, 1);
}

void
promtext_family(struct promtext *pt, const char *name, const char *type,
    const char *help)
{
	promtext_str(pt, "# HELP ");
	promtext_str(pt, name);
	promtext_str(pt, " ");
	promtext_escape_ex(pt, help, 0);
	promtext_str(pt, "\n# TYPE ");
	promtext_str(pt, name);
	promtext_str(pt, " ");
	promtext_str(pt, type);
	promtext_str(pt, "\n");
}

static void
promtext_series(struct promtext *pt, const char *name, const char *suffix,
    const struct promtext_label *labels, size_t nlabels, const char *le)
{
	size_t i;

	promtext_str(pt, name);
	promtext_str(pt, suffix);
	if (nlabels == 0 && le == NULL) {
		promtext_str(pt, " ");
		return;
	}
	promtext_str(pt, "{");
	for (i = 0; i < nlabels; i++) {
		if (i > 0)
			promtext_str(pt, ",");
		promtext_str(pt, labels[i].name);
		promtext_str(pt, "=\"");
		promtext_escape(pt, labels[i].value);
		promtext_str(pt, "\"");
	}
	if (le != NULL) {
		promtext_str(pt, nlabels > 0 ? ",le=\"" : "le=\"");
		promtext_str(pt, le);
		promtext_str(pt, "\"");
	}
	promtext_str(pt, "} ");
}

static void
promtext_num_u64(struct promtext *pt, uint64_t v)
{
	char b[32];

	promtext_append(pt, b, (size_t)snprintf(b, sizeof(b), "%llu\n",
	    (unsigned long long)v));
}

/* Go's strconv form where it matters: NaN, +Inf, -Inf, else %.17g. */
static void
promtext_num_double(struct promtext *pt, double v, const char *end)
{
	char b[64];

	if (isnan(v))
		snprintf(b, sizeof(b), "NaN%s", end);
	else if (isinf(v))
		snprintf(b, sizeof(b), "%sInf%s", v > 0 ? "+" : "-", end);
	else
		snprintf(b, sizeof(b), "%.17g%s", v, end);
	promtext_str(pt, b);
}

void
promtext_u64(struct promtext *pt, const char *name,
    const struct promtext_label *labels, size_t nlabels, uint64_t v)
{
	promtext_series(pt, name, "", labels, nlabels, NULL);
	promtext_num_u64(pt, v);
}

void
promtext_double(struct promtext *pt, const char *name,
    const struct promtext_label *labels, size_t nlabels, double v)
{
	promtext_series(pt, name, "", labels, nlabels, NULL);
	promtext_num_double(pt, v, "\n");
}

void
promtext_histogram(struct promtext *pt, const char *name,
    const struct promtext_label *labels, size_t nlabels,
    const double *bounds, size_t nbounds, const uint64_t *counts,
    double sum)
{
	uint64_t cum = 0;
	char le[64];
	size_t i;

	for (i = 0; i < nbounds; i++) {
		cum += counts[i];
		/* %g keeps bounds short and exact for the usual decimals. */
		snprintf(le, sizeof(le), "%g", bounds[i]);
		promtext_series(pt, name, "_bucket", labels, nlabels, le);
		promtext_num_u64(pt, cum);
	}
	cum += counts[nbounds];
	promtext_series(pt, name, "_bucket", labels, nlabels, "+Inf");
	promtext_num_u64(pt, cum);
	promtext_series(pt, name, "_sum", labels, nlabels, NULL);
	promtext_num_double(pt, sum, "\n");
	promtext_series(pt, name, "_count", labels, nlabels, NULL);
	promtext_num_u64(pt, cum);
}
