/*
 * stats: the master's view of the workers' counters and the status
 * document it publishes to them.
 *
 * Workers send their counters once a second (IPC_METRICS, a sealed
 * memfd, common/mreport.h); stats keeps each worker's latest report and,
 * for workers that are gone, the sum of their counters, so aggregates
 * never go back when a worker dies or is replaced.  Once a second
 * stats_publish() adds what only the master knows (the control socket's
 * status, routes and backends answers), renders /metrics in the
 * Prometheus text format, and sends the document (common/statusdoc.h) to
 * every worker as IPC_STATUS_DOC.  Runs in the master; the master never
 * serves HTTP itself.
 */
#ifndef INGRESSD_STATS_H
#define INGRESSD_STATS_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct control_ops;
struct promtext;
struct supervise;
struct stats;

struct stats	*stats_new(void);
void	stats_free(struct stats *st);

/*
 * Worker <id> (pid <pid>) reported: <fd> is its sealed memfd of <size>
 * bytes (closed here).  0, or -1 when the report was refused (logged).
 */
int	stats_report(struct stats *st, int id, pid_t pid, int fd,
	    uint64_t size);

/* An endpoint went up (<up> 1) or down: counted once, in the master. */
void	stats_transition(struct stats *st, int up);

/*
 * Adds to the control socket's "backends" answer <o> each endpoint's
 * counters ("details") and each backend's ("requests", "by_class",
 * "connect_errors", "retries").
 */
void	stats_annotate_backends(struct stats *st, struct json_object *o);

/*
 * Folds reports of workers no longer in <sv> into the totals of the dead,
 * renders the document from <ops>' answers and the counters, and sends
 * it to every worker of <sv>.  0 or -1 (logged).
 */
int	stats_publish(struct stats *st, const struct control_ops *ops,
	    struct supervise *sv);

/* Sums the dead workers' counters and each live worker's last report
 * (again only when a report came since). */
void	stats_aggregate(struct stats *st);

/*
 * Renders the aggregate of <st> with the status answer <status> and the
 * annotated backends answer <backends> into <pt> (tests use it too).
 */
void	stats_render(struct stats *st, struct json_object *status,
	    struct json_object *backends, struct promtext *pt);

#endif
