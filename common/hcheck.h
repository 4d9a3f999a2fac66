/*
 * hcheck: what a health probe concludes, and the rise/fall state machine.
 *
 * Shared by the workers, which probe and feed the machine, and the master,
 * which keeps the table of states and logs transitions with the texts of
 * hc_results[].  Pure code: no I/O, no allocation, no logging.
 */
#ifndef INGRESSD_HCHECK_H
#define INGRESSD_HCHECK_H

#include <stddef.h>
#include <stdint.h>

/* One probe's outcome.  Numbers travel in IPC: never move them. */
enum hc_result {
	HC_OK = 0,		/* connected (tcp) or status in range */
	HC_CONNECT = 1,		/* connect() failed; detail: errno */
	HC_TIMEOUT = 2,		/* no (complete) answer in time */
	HC_STATUS = 3,		/* HTTP status out of range; detail: it */
	HC_BAD_RESPONSE = 4,	/* not an HTTP response head */
	HC_CLOSED = 5,		/* closed before a response head */
	HC_SOCKET = 6,		/* local failure; detail: errno */
	HC_TLS = 7,		/* TLS handshake or verification failed */
	HC_RESULT_MAX = 8,
};

enum hc_state {
	HC_DOWN = 0,
	HC_UP = 1,
};

/* One row per result: {result, short code, text}, for logs and ctl. */
struct hc_result_info {
	enum hc_result	 result;
	const char	*code;		/* "L4CON", like HAProxy's */
	const char	*text;
};

extern const struct hc_result_info hc_results[HC_RESULT_MAX];

/*
 * Describes <result> with <detail> ("HTTP 500", "connect: Connection
 * refused", "timeout") into <buf>; returns <buf>.  Any value is safe.
 */
const char *hc_describe(uint32_t result, uint32_t detail, char *buf,
	    size_t len);

/*
 * Rise/fall: an endpoint is UP until <fall> probes in a row fail, then
 * DOWN until <rise> probes in a row succeed.  A new machine starts UP
 * (the endpoint is Ready in Kubernetes), so one bad probe does not drop
 * a fresh pod, and a restart never flaps healthy endpoints.
 */
struct hc_machine {
	uint32_t	 state;		/* enum hc_state */
	uint32_t	 streak;	/* probes in a row against state */
};

void	hc_machine_init(struct hc_machine *m);

/*
 * Feeds one probe (<ok> 1 good, 0 bad).  Returns 1 when the state
 * changed (m->state is the new one), else 0.
 */
int	hc_machine_feed(struct hc_machine *m, int ok, uint32_t rise,
	    uint32_t fall);

#endif
