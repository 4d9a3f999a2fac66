/*
 * conf: the ingressd.yaml configuration file (see ingressd.yaml(5)).
 *
 * Read by the master only (libyaml).  Errors name file:line:column.  Values
 * the workers need (timeouts, limits) reach them inside the snapshot, so a
 * SIGHUP reload changes them without a restart.
 */
#ifndef INGRESSD_CONF_H
#define INGRESSD_CONF_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_FILE_SIZE	(1u << 20)
#define CONF_MAX_WORKERS	256

struct conf_listen {
	int			 enabled;
	char			 text[128];	/* as written, for logs */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
};

enum conf_provider_kind {
	CONF_PROVIDER_FILES = 0,
	CONF_PROVIDER_KUBE = 1,
};

/* access_log.format, in the order of the names conf.c accepts. */
enum conf_access_format {
	CONF_ACCESS_JSON = 0,
	CONF_ACCESS_COMBINED = 1,
};

enum conf_sandbox {
	CONF_SANDBOX_ENFORCE = 0,	/* seccomp kills on a forbidden call */
	CONF_SANDBOX_LOG = 1,		/* seccomp logs, allows */
	CONF_SANDBOX_OFF = 2,
};

struct conf {
	char			*path;		/* the file read */

	struct conf_listen	 http;		/* listen.http */
	struct conf_listen	 https;		/* listen.https */
	struct conf_listen	 admin;		/* listen.admin */

	int			 workers;	/* resolved: "auto" = CPUs */
	char			*user;		/* workers drop to it */
	char			*pid_file;	/* NULL: none */

	enum conf_provider_kind	 provider_kind;
	char			*provider_dir;	/* files */
	char			*kubeconfig;	/* kube; NULL: in-cluster */
	char			*namespace;	/* kube; NULL: all */
	uint32_t		 debounce_ms;	/* provider.debounce */
#define CONF_DEBOUNCE_FILES_MS	200	/* editors write a file in steps */
#define CONF_DEBOUNCE_KUBE_MS	20	/* watch events come complete */

	char			*ingress_class;	/* NULL: class-less are ours */
	char			*publish_address;
	char			*control_socket;

	int			 log_level;	/* enum log_level */
	int			 access_log;	/* access_log.enabled */
	int			 access_format;	/* enum conf_access_format */
	char			*access_path;	/* NULL: stdout */
	enum conf_sandbox	 sandbox;

	/* timeouts, milliseconds */
	uint32_t		 client_header_timeout_ms;
	uint32_t		 client_body_timeout_ms;
	uint32_t		 client_idle_timeout_ms;
	uint32_t		 upstream_connect_timeout_ms;
	uint32_t		 upstream_response_timeout_ms;
	uint32_t		 upstream_idle_timeout_ms;
	uint32_t		 shutdown_grace_ms;
	uint32_t		 tls_handshake_timeout_ms;

	/* limits */
	uint32_t		 max_header_size;	/* request head bytes */
	uint32_t		 max_headers;		/* header fields */
	uint64_t		 max_body_size;		/* 0: unlimited */
	uint32_t		 max_connections;	/* per worker */
	uint32_t		 upstream_keepalive;	/* idle conns/endpoint */

	/* health: probe defaults (annotations override per backend) */
	int			 health_mode;	/* enum route_health_mode */
	char			*health_path;		/* HTTP probe path */
	uint32_t		 health_interval_ms;
	uint32_t		 health_timeout_ms;
	uint32_t		 health_rise;
	uint32_t		 health_fall;
	uint32_t		 health_expect[2];	/* status lo, hi */
	int			 health_all_down;	/* enum route_all_down */
	uint32_t		 health_passive_failures; /* 0: off */

	/* tls: termination on listen.https (see ingressd.yaml(5)) */
	/* NULL: a self-signed certificate made at start */
	char			*tls_default_certificate;
	char			*tls_default_key;
	uint32_t		 tls_protocols;		/* ROUTE_TLS_V* bits */
	char			*tls_ciphers;		/* OpenSSL list */
	char			*tls_ciphersuites;	/* TLS 1.3 suites */
	char			*tls_curves;		/* groups */
	uint32_t		 tls_ticket_key_rotation_ms;
	int			 tls_session_cache;	/* 0 off, 1 on */
};

/* Fills <c> with every default (see conf/ingressd.yaml). */
void	conf_defaults(struct conf *c);

/*
 * Reads and validates <path> into <c> (defaults first).  Returns 0, or -1
 * with "file:line:column: reason" in <err>; <c> is then freed and zeroed.
 */
int	conf_load(const char *path, struct conf *c, char *err, size_t errlen);

/* Same, from memory; <name> stands for the file name in errors. */
int	conf_load_buffer(const char *name, const char *buf, size_t len,
	    struct conf *c, char *err, size_t errlen);

void	conf_free(struct conf *c);

#endif
