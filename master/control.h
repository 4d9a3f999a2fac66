/*
 * control: the master's control socket for ingressctl(8).
 *
 * An AF_UNIX SOCK_STREAM socket (mode 0600) speaking line-delimited JSON:
 * each request is one object on one line, {"cmd":"status"}, "routes",
 * "backends" or "reload", and gets one JSON object on one line back; a bad
 * request gets {"error":"..."}.  Peers must be root or the master's own
 * uid (SO_PEERCRED).  Requests are bounded (CONTROL_MAX_REQUEST) and a
 * client can never harm the master: it only loses its connection.  Runs
 * in the master.
 */
#ifndef INGRESSD_CONTROL_H
#define INGRESSD_CONTROL_H

#include <stddef.h>

#include <ev.h>

#define CONTROL_MAX_REQUEST	4096
#define CONTROL_MAX_CLIENTS	16

struct json_object;
struct control;

/*
 * What the master answers with.  The getters return a new json object
 * (control.c releases it) or NULL with a reason in <err>.
 */
struct control_ops {
	void	*arg;
	struct json_object *(*status)(void *arg, char *err, size_t errlen);
	struct json_object *(*routes)(void *arg, char *err, size_t errlen);
	struct json_object *(*backends)(void *arg, char *err, size_t errlen);
	int	(*reload)(void *arg, char *err, size_t errlen);
};

/*
 * Listens on <path> (its parent directory is created 0755 when missing; a
 * stale socket is replaced, a live one is an error).  Returns the handle,
 * or NULL with <err>.  <ops> must outlive it.
 */
struct control *control_open(struct ev_loop *loop, const char *path,
	    const struct control_ops *ops, char *err, size_t errlen);

/*
 * 1 when a process accepts connections on <path> (another master), else
 * 0.  The master asks before binding anything: SO_REUSEPORT would let two
 * masters share the ports without a word.
 */
int	control_in_use(const char *path);

enum control_cmd {
	CONTROL_CMD_INVALID = -1,
	CONTROL_CMD_STATUS = 0,
	CONTROL_CMD_ROUTES = 1,
	CONTROL_CMD_BACKENDS = 2,
	CONTROL_CMD_RELOAD = 3,
};

/*
 * Parses one request line, {"cmd": "status"|"routes"|"backends"|"reload"}
 * (other members are ignored).  Returns the command, or
 * CONTROL_CMD_INVALID with the reason in <err>.  Pure: it only reads
 * <line>; fuzzed by tests/fuzz/fuzz_control.c.
 */
enum control_cmd control_parse(const char *line, char *err, size_t errlen);

/* Closes every client and the socket, and unlinks it; NULL-safe. */
void	control_close(struct control *c);

#endif
