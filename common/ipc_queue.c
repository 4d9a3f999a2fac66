/*
 * ipc_queue: per-peer outgoing queue over ipc_send() (common/ipc_queue.h
 * says what is coalesced and what the bound means).
 *
 * Runs in the master and in the workers, on their libev loops.  It only
 * ever sends what its own process built; it never reads.  Allocation
 * failures refuse the message (ENOMEM) and leave the queue as it was.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/ipc.h"
#include "common/ipc_queue.h"
#include "common/log.h"

struct ipc_qmsg {
	struct ipc_qmsg	*next;
	uint32_t	 type;
	uint64_t	 generation;
	int		 fd;		/* our dup, -1 when none */
	size_t		 len;
	uint8_t		*body;
};

static void	ipc_queue_writable(struct ev_loop *, ev_io *, int);

void
ipc_queue_init(struct ipc_queue *q, struct ev_loop *loop, int sock,
    size_t max_bytes, size_t max_msgs)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->sock = sock;
	q->max_bytes = max_bytes != 0 ? max_bytes : IPC_QUEUE_MAX_BYTES;
	q->max_msgs = max_msgs != 0 ? max_msgs : IPC_QUEUE_MAX_MSGS;
	ev_io_init(&q->wio, ipc_queue_writable, sock, EV_WRITE);
	q->wio.data = q;
}

static void
ipc_qmsg_free(struct ipc_qmsg *e)
{
	if (e->fd != -1)
		close(e->fd);
	free(e->body);
	free(e);
}

/* Kinds where only the newest queued message matters. */
static int
ipc_queue_newest_only(uint32_t type)
{
	return type == IPC_SNAPSHOT || type == IPC_STATUS_DOC ||
	    type == IPC_STATS || type == IPC_METRICS;
}

/* Kinds made of per-endpoint records (IPC_HEALTH_LEN each). */
static int
ipc_queue_keyed(uint32_t type)
{
	return type == IPC_HEALTH_STATE || type == IPC_HEALTH_REPORT;
}

int
ipc_queue_over(const struct ipc_queue *q)
{
	return q->bytes > q->max_bytes || q->count > q->max_msgs;
}

void
ipc_queue_clear(struct ipc_queue *q)
{
	struct ipc_qmsg *e;

	if (q->loop != NULL)
		ev_io_stop(q->loop, &q->wio);
	while ((e = q->head) != NULL) {
		q->head = e->next;
		ipc_qmsg_free(e);
	}
	q->tail = NULL;
	q->bytes = q->count = 0;
}

static void
ipc_queue_unlink(struct ipc_queue *q, struct ipc_qmsg *prev,
    struct ipc_qmsg *e)
{
	if (prev == NULL)
		q->head = e->next;
	else
		prev->next = e->next;
	if (q->tail == e)
		q->tail = prev;
	q->bytes -= e->len;
	q->count--;
	ipc_qmsg_free(e);
}

int
ipc_queue_flush(struct ipc_queue *q)
{
	struct ipc_qmsg *e;

	while ((e = q->head) != NULL) {
		if (ipc_send(q->sock, e->type, e->generation, e->body, e->len,
		    e->fd) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* The peer is gone: nothing queued can reach it. */
			q->error = errno;
			ipc_queue_clear(q);
			errno = q->error;
			return -1;
		}
		ipc_queue_unlink(q, NULL, e);
	}
	if (q->loop != NULL) {
		if (q->head == NULL)
			ev_io_stop(q->loop, &q->wio);
		else
			ev_io_start(q->loop, &q->wio);
	}
	return 0;
}

static void
ipc_queue_writable(struct ev_loop *loop, ev_io *io, int revents)
{
	struct ipc_queue *q = io->data;

	if (ipc_queue_flush(q) == -1)
		log_debug("ipc: peer gone with messages queued: %s",
		    strerror(q->error));
}

/* One record's place, for the compaction sort. */
struct ipc_qrec {
	const uint8_t	*key;		/* IPC_HEALTH_KEY_LEN bytes */
	uint32_t	 type;
	size_t		 seq;		/* queue order */
	uint8_t		*dead;		/* mark of this record */
};

static int
ipc_qrec_cmp(const void *a, const void *b)
{
	const struct ipc_qrec *x = a, *y = b;
	int c;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if ((c = memcmp(x->key, y->key, IPC_HEALTH_KEY_LEN)) != 0)
		return c;
	/* Newest first: it is the one kept. */
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/*
 * Keeps only the newest record of each endpoint in the queued health
 * messages, preserving the order of the records kept, and drops the
 * messages left empty.  Sorting copies of the keys: O(n log n) over the
 * queued records, run only at the bound.
 */
static void
ipc_queue_compact(struct ipc_queue *q)
{
	struct ipc_qmsg *e, *prev, *next;
	struct ipc_qrec *recs;
	uint8_t *dead;
	size_t n = 0, i, k, out, d;

	for (e = q->head; e != NULL; e = e->next)
		if (ipc_queue_keyed(e->type))
			n += e->len / IPC_HEALTH_LEN;
	if (n < 2)
		return;
	recs = calloc(n, sizeof(*recs));
	dead = calloc(n, 1);
	if (recs == NULL || dead == NULL)
		goto done;	/* the bound check still sees the excess */
	n = 0;
	for (e = q->head; e != NULL; e = e->next) {
		if (!ipc_queue_keyed(e->type))
			continue;
		for (k = 0; k < e->len / IPC_HEALTH_LEN; k++, n++) {
			recs[n].key = e->body + k * IPC_HEALTH_LEN;
			recs[n].type = e->type;
			recs[n].seq = n;
			recs[n].dead = &dead[n];
		}
	}
	qsort(recs, n, sizeof(*recs), ipc_qrec_cmp);
	for (i = 1; i < n; i++)
		if (recs[i].type == recs[i - 1].type &&
		    memcmp(recs[i].key, recs[i - 1].key,
		    IPC_HEALTH_KEY_LEN) == 0)
			*recs[i].dead = 1;

	/* Squeeze each message in place, in the order marked above. */
	d = 0;
	for (prev = NULL, e = q->head; e != NULL; e = next) {
		next = e->next;
		if (!ipc_queue_keyed(e->type)) {
			prev = e;
			continue;
		}
		out = 0;
		for (k = 0; k < e->len / IPC_HEALTH_LEN; k++, d++) {
			if (dead[d]) {
				q->coalesced++;
				continue;
			}
			if (out != k)
				memmove(e->body + out * IPC_HEALTH_LEN,
				    e->body + k * IPC_HEALTH_LEN,
				    IPC_HEALTH_LEN);
			out++;
		}
		q->bytes -= e->len - out * IPC_HEALTH_LEN;
		e->len = out * IPC_HEALTH_LEN;
		if (e->len == 0) {
			ipc_queue_unlink(q, prev, e);
			continue;
		}
		prev = e;
	}
 done:
	free(recs);
	free(dead);
}

int
ipc_queue_send(struct ipc_queue *q, uint32_t type, uint64_t generation,
    const void *body, size_t len, int fd)
{
	struct ipc_qmsg *e, *prev, *old;
	int saved;

	if (q->error != 0) {
		errno = q->error;
		return -1;
	}
	if (len > IPC_MAX_BODY || (len > 0 && body == NULL)) {
		errno = EMSGSIZE;
		return -1;
	}
	/* Nothing waiting: order allows sending now. */
	if (q->head == NULL) {
		if (ipc_send(q->sock, type, generation, body, len, fd) == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	}

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->type = type;
	e->generation = generation;
	e->len = len;
	e->fd = -1;
	if (len > 0 && (e->body = malloc(len)) == NULL)
		goto nomem;
	if (len > 0)
		memcpy(e->body, body, len);
	/* Ours to close once sent, whatever the caller does with its own. */
	if (fd != -1 && (e->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		goto nomem;

	if (ipc_queue_newest_only(type)) {
		for (prev = NULL, old = q->head; old != NULL;
		    prev = old, old = old->next) {
			if (old->type != type)
				continue;
			/* Takes the superseded one's place in the order. */
			e->next = old->next;
			if (prev == NULL)
				q->head = e;
			else
				prev->next = e;
			if (q->tail == old)
				q->tail = e;
			q->bytes = q->bytes - old->len + e->len;
			ipc_qmsg_free(old);
			q->coalesced++;
			goto queued;
		}
	}
	e->next = NULL;
	if (q->tail == NULL)
		q->head = e;
	else
		q->tail->next = e;
	q->tail = e;
	q->bytes += e->len;
	q->count++;
 queued:
	q->queued++;
	if (ipc_queue_over(q))
		ipc_queue_compact(q);
	if (q->loop != NULL)
		ev_io_start(q->loop, &q->wio);
	return 0;
 nomem:
	saved = errno;	/* ENOMEM, or fcntl's EMFILE */
	free(e->body);
	free(e);
	errno = saved;
	return -1;
}
