/*
 * ipc_queue: the outgoing side of one IPC peer, so that a full socket
 * delays a message instead of losing it.
 *
 * ipc_queue_send() sends at once when nothing is queued and the socket
 * takes the datagram; otherwise it queues a copy of the body (and a dup of
 * the fd, closed once sent) and flushes in order from an ev_io watching
 * the socket for writability on the caller's loop.  Runs in the master
 * (one queue per worker) and in each worker (one queue to the master).
 *
 * The queue is bounded by IPC_QUEUE_MAX_BYTES of queued bodies and
 * IPC_QUEUE_MAX_MSGS messages.  Kinds where a newer message supersedes
 * older ones are coalesced, so what is queued stays small:
 *   SNAPSHOT, STATUS_DOC, STATS, METRICS  the newest replaces a queued
 *       one in its place (workers ack whole generations; the master waits
 *       only for the current one);
 *   HEALTH_STATE, HEALTH_REPORT  batches of per-endpoint records: when the
 *       bound is reached, only the newest record of each endpoint is kept,
 *       in the order the records were queued.
 * Everything else (HELLO, SNAPSHOT_ACK, DRAIN, LOG_REOPEN, TLS_KEYS) is
 * never dropped.  A queue still over its bound after coalescing keeps the
 * message and says so (ipc_queue_over()): the peer is not reading, and the
 * caller decides (the master kills such a worker; supervision restarts it).
 */
#ifndef INGRESSD_IPC_QUEUE_H
#define INGRESSD_IPC_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#define IPC_QUEUE_MAX_BYTES	(8u * 1024 * 1024)
#define IPC_QUEUE_MAX_MSGS	4096u

struct ipc_qmsg;

struct ipc_queue {
	struct ev_loop	*loop;
	int		 sock;		/* not owned */
	ev_io		 wio;		/* EV_WRITE while something is queued */
	struct ipc_qmsg	*head;
	struct ipc_qmsg	*tail;
	size_t		 bytes;		/* queued body bytes */
	size_t		 count;		/* queued messages */
	size_t		 max_bytes;
	size_t		 max_msgs;
	int		 error;		/* errno of a failed flush, then
					 * every send fails with it */
	uint64_t	 queued;	/* messages that had to wait */
	uint64_t	 coalesced;	/* messages or records superseded */
};

/*
 * Prepares <q> for socket <sock> (non-blocking, not owned) on <loop>, with
 * the bounds <max_bytes> and <max_msgs> (0: the defaults above).
 */
void	ipc_queue_init(struct ipc_queue *q, struct ev_loop *loop, int sock,
	    size_t max_bytes, size_t max_msgs);

/*
 * Sends or queues one message as ipc_send() would; <fd> stays the
 * caller's (a queued message holds a dup).  0 when sent or queued; -1
 * with errno when refused and not queued: EMSGSIZE (body too large),
 * ENOMEM, or the socket's error (EPIPE, ...).  A queue over its bound
 * after coalescing still takes the message: see ipc_queue_over().
 */
int	ipc_queue_send(struct ipc_queue *q, uint32_t type, uint64_t generation,
	    const void *body, size_t len, int fd);

/* Sends what the socket takes now, in order.  0 (empty or would block)
 * or -1 with errno; after an error everything queued is dropped. */
int	ipc_queue_flush(struct ipc_queue *q);

/* 1 when more than the bound is queued after coalescing. */
int	ipc_queue_over(const struct ipc_queue *q);

/* Drops everything queued (closing held fds) and stops the watcher. */
void	ipc_queue_clear(struct ipc_queue *q);

#endif
