/*
 * hcheck: probe outcomes and the rise/fall state machine (see hcheck.h).
 *
 * Runs in the master and in the workers; pure code.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/hcheck.h"

const struct hc_result_info hc_results[HC_RESULT_MAX] = {
	[HC_OK] =		{ HC_OK,		"OK",	"ok" },
	[HC_CONNECT] =		{ HC_CONNECT,		"L4CON", "connect" },
	[HC_TIMEOUT] =		{ HC_TIMEOUT,		"TOUT",	"timeout" },
	[HC_STATUS] =		{ HC_STATUS,		"L7STS", "HTTP" },
	[HC_BAD_RESPONSE] =	{ HC_BAD_RESPONSE,	"L7RSP",
	    "bad response" },
	[HC_CLOSED] =		{ HC_CLOSED,		"L7RSP",
	    "closed before a response" },
	[HC_SOCKET] =		{ HC_SOCKET,		"SOCKERR", "socket" },
	[HC_TLS] =		{ HC_TLS,		"L6RSP", "TLS handshake" },
};

const char *
hc_describe(uint32_t result, uint32_t detail, char *buf, size_t len)
{
	if (result >= HC_RESULT_MAX) {
		snprintf(buf, len, "result %u", result);
		return buf;
	}
	switch (result) {
	case HC_STATUS:
		snprintf(buf, len, "HTTP %u", detail);
		break;
	case HC_TLS:
		/* detail: OpenSSL's X509_V_ERR_* when verification failed */
		if (detail != 0)
			snprintf(buf, len, "%s: certificate verify error %u",
			    hc_results[result].text, detail);
		else
			snprintf(buf, len, "%s", hc_results[result].text);
		break;
	case HC_CONNECT:
	case HC_SOCKET:
		if (detail != 0) {
			snprintf(buf, len, "%s: %s", hc_results[result].text,
			    strerror((int)detail));
			break;
		}
		/* FALLTHROUGH */
	default:
		snprintf(buf, len, "%s", hc_results[result].text);
		break;
	}
	return buf;
}

void
hc_machine_init(struct hc_machine *m)
{
	m->state = HC_UP;
	m->streak = 0;
}

int
hc_machine_feed(struct hc_machine *m, int ok, uint32_t rise, uint32_t fall)
{
	uint32_t need;

	if ((m->state == HC_UP) == (ok != 0)) {
		m->streak = 0;
		return 0;
	}
	need = m->state == HC_UP ? fall : rise;
	if (need == 0)
		need = 1;
	if (++m->streak < need)
		return 0;
	m->state = m->state == HC_UP ? HC_DOWN : HC_UP;
	m->streak = 0;
	return 1;
}
