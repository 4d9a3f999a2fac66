/*
 * ipc: typed messages between the master and its workers over one
 * SOCK_SEQPACKET socketpair per worker, with an optional fd (SCM_RIGHTS).
 *
 * Every message is a fixed header (type, body length, generation) and a
 * body.  The receive path checks, before any handler runs, the table in
 * ipc.c: the direction, the body length rule, and whether an fd must or
 * must not come with the message.  It also rejects MSG_TRUNC/MSG_CTRUNC and
 * header lengths that differ from the bytes read, and closes any fd that
 * came with a rejected message.  The first message each way is IPC_HELLO
 * carrying IPC_PROTOCOL_VERSION; a peer with another version is dropped.
 *
 * Type numbers never move: add new ones, retire old ones.
 */
#ifndef INGRESSD_IPC_H
#define INGRESSD_IPC_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_PROTOCOL_VERSION	3	/* 2: HC_TLS; snapshot format 3;
					 * 3: health records in batches */
#define IPC_MAX_BODY		(64u * 1024)

enum ipc_type {
	/* both ways, first message: u32 protocol version, u32 worker id,
	 * u32 pid */
	IPC_HELLO		= 1,

	/* master -> worker */
	IPC_SNAPSHOT		= 10,	/* fd: sealed memfd; u64 size */
	IPC_DRAIN		= 11,	/* u32 grace ms: stop accepting,
					 * finish in flight, exit 0 */
	IPC_HEALTH_STATE	= 12,	/* 1..IPC_HEALTH_BATCH struct
					 * ipc_health: endpoints' states,
					 * for every worker */
	IPC_LOG_REOPEN		= 13,	/* u32 enum ipc_log_format; fd:
					 * the access log, none for OFF */
	IPC_TLS_KEYS		= 14,	/* 2 x struct ipc_tls_key: the
					 * session-ticket keys, current
					 * then previous (IPC_TLS_KEYS_LEN) */
	IPC_STATUS_DOC		= 15,	/* fd: sealed memfd, the status
					 * document (common/statusdoc.h);
					 * u64 size */

	/* worker -> master */
	IPC_SNAPSHOT_ACK	= 30,	/* u32 1 applied / 0 rejected;
					 * header generation = snapshot's */
	IPC_HEALTH_REPORT	= 31,	/* 1..IPC_HEALTH_BATCH struct
					 * ipc_health: transitions seen by
					 * the probing worker */
	IPC_STATS		= 32,	/* u64 connections active, u64
					 * requests total */
	IPC_METRICS		= 35,	/* fd: sealed memfd, the worker's
					 * counters (common/mreport.h);
					 * u64 size */
};

/* IPC_LOG_REOPEN body: what the workers write to the fd that comes with
 * it (access_log(8) formats in ingressd.yaml(5)). */
enum ipc_log_format {
	IPC_LOG_OFF = 0,		/* stop logging; no fd */
	IPC_LOG_JSON = 1,
	IPC_LOG_COMBINED = 2,
};

/* Who is receiving: the direction check of the table. */
enum ipc_peer {
	IPC_PEER_MASTER = 0,		/* the receiver is the master */
	IPC_PEER_WORKER = 1,		/* the receiver is a worker */
};

struct ipc_hdr {
	uint32_t	 type;
	uint32_t	 len;		/* body bytes after the header */
	uint64_t	 generation;
};

struct ipc_msg {
	struct ipc_hdr	 hdr;
	int		 fd;		/* -1 when none */
	uint8_t		 body[IPC_MAX_BODY];
};

enum ipc_recv_result {
	IPC_RECV_OK = 0,
	IPC_RECV_AGAIN = 1,		/* nothing to read (EAGAIN) */
	IPC_RECV_EOF = 2,		/* peer closed */
	IPC_RECV_INVALID = 3,		/* rejected and logged; fd closed */
	IPC_RECV_ERROR = 4,		/* recvmsg failed; errno set */
};

/* Sends one message; <fd> -1 for none.  0, or -1 with errno (EAGAIN
 * included: the caller decides).  Never raises SIGPIPE. */
int	ipc_send(int sock, uint32_t type, uint64_t generation,
	    const void *body, size_t len, int fd);

/* Receives and validates one message for receiver <self>. */
enum ipc_recv_result ipc_recv(int sock, enum ipc_peer self,
	    struct ipc_msg *m);

/* Validates a header already read (the table check); 0 or -1 with reason.
 * Exposed for the fuzz target and tests. */
int	ipc_check(enum ipc_peer self, const struct ipc_hdr *h, int has_fd,
	    char *err, size_t errlen);

const char *ipc_type_name(uint32_t type);

/* Typed body reader: getters fail once, then keep failing; ipc_end()
 * checks that nothing is left over. */
struct ipc_reader {
	const uint8_t	*p;
	size_t		 left;
	int		 bad;
};

void	ipc_reader_init(struct ipc_reader *r, const struct ipc_msg *m);
uint32_t ipc_get_u32(struct ipc_reader *r);
uint64_t ipc_get_u64(struct ipc_reader *r);
/* <n> bytes into <p> (zeroed when short). */
void	ipc_get_bytes(struct ipc_reader *r, void *p, size_t n);
/* 0 when every getter succeeded and the body is consumed, else -1. */
int	ipc_end(struct ipc_reader *r);

/* Body builder for senders. */
struct ipc_writer {
	uint8_t		 buf[IPC_MAX_BODY];
	size_t		 len;
	int		 bad;
};

void	ipc_writer_init(struct ipc_writer *w);
void	ipc_put_u32(struct ipc_writer *w, uint32_t v);
void	ipc_put_u64(struct ipc_writer *w, uint64_t v);
void	ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n);

/*
 * Body of IPC_HEALTH_REPORT and IPC_HEALTH_STATE, small and fixed (48
 * bytes, IPC_HEALTH_LEN): u32 family (4 or 6), u32 port, addr[16] (IPv4
 * in the first 4 bytes, the rest zero), u32 state (enum hc_state), u32
 * result (enum hc_result of the probe that decided), u32 detail (HTTP
 * status or errno), u32 count (probes in a row that decided), u32
 * threshold (rise or fall), u32 0.  The endpoint is named by address and port,
 * never by a snapshot index, so its state outlives snapshots.
 */
#define IPC_HEALTH_LEN	48

/*
 * IPC_HEALTH_REPORT and IPC_HEALTH_STATE carry 1 to IPC_HEALTH_BATCH such
 * records back to back (the body length a multiple of IPC_HEALTH_LEN), so
 * that a worker whose endpoints all fail at once sends a few messages, not
 * one per endpoint.  Records apply in order; the first IPC_HEALTH_KEY_LEN
 * bytes (family, port, address) name the endpoint, and a later record of
 * the same endpoint supersedes an earlier one (common/ipc_queue.h).
 */
#define IPC_HEALTH_BATCH	(IPC_MAX_BODY / IPC_HEALTH_LEN)
#define IPC_HEALTH_KEY_LEN	24

struct ipc_health {
	struct sockaddr_storage	 addr;		/* AF_INET or AF_INET6 */
	socklen_t		 addrlen;
	uint32_t		 state;
	uint32_t		 result;
	uint32_t		 detail;
	uint32_t		 count;
	uint32_t		 threshold;
};

/* Appends <h> to <w> (which goes bad on a family other than 4/6). */
void	ipc_put_health(struct ipc_writer *w, const struct ipc_health *h);

/*
 * Reads one struct ipc_health from <r>: refuses (-1, reader bad) another
 * family, port 0, IPv4 garbage past 4 bytes, a state or result out of
 * range.  The caller still calls ipc_end().
 */
int	ipc_get_health(struct ipc_reader *r, struct ipc_health *h);

/*
 * Body of IPC_TLS_KEYS (IPC_TLS_KEYS_LEN bytes): two keys of 80 bytes,
 * each name[16], aes[32] (AES-256-CBC), hmac[32] (HMAC-SHA256); the
 * first encrypts new tickets, both decrypt.  A previous key of all zero
 * bytes means none (the first key since start).
 */
#define IPC_TLS_KEY_LEN		80
#define IPC_TLS_KEYS_LEN	(2 * IPC_TLS_KEY_LEN)

struct ipc_tls_key {
	uint8_t			 name[16];
	uint8_t			 aes[32];
	uint8_t			 hmac[32];
};

#endif
