/*
 * ingressd: the master process, and the entry of every ingressd process.
 *
 * `ingressd --worker ...` goes straight to worker_main() (worker/worker.c).
 * Everything else here runs in the master, the only privileged process:
 * it reads the configuration, binds the listeners, loads the manifests,
 * compiles routes into snapshots, and supervises the workers.  It never
 * reads a byte of client traffic.
 *
 * Whom the master talks to, and who handles each peer:
 *   workers     master_dispatch_worker()   master/supervise.c
 *   ingressctl  control_dispatch()         master/control.c
 *   manifests   provider_files (inotify) -> master_store_cb()
 *   API server  provider_kube (list+watch) -> master_kube_cb()
 *   signals     master_signal_cb() (SIGHUP, SIGTERM, SIGINT, SIGUSR1,
 *               SIGUSR2),
 *               master_child_cb() (SIGCHLD through libev's ev_child)
 *   new master  master_upgrade_cb() (SIGUSR2 binary upgrade: its "ready"
 *               pipe), master_upgrade_ready() on its side
 *   systemd     master/notify.c ($NOTIFY_SOCKET: READY, RELOADING, ...)
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/hcheck.h"
#include "common/log.h"
#include "common/routes.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "master/backend_ca.h"
#include "master/compile.h"
#include "master/control.h"
#include "master/healthtab.h"
#include "master/kubeconfig.h"
#include "master/listeners.h"
#include "master/logfile.h"
#include "master/notify.h"
#include "master/provider_files.h"
#include "master/provider_kube.h"
#include "master/resolver.h"
#include "master/stats.h"
#include "master/store.h"
#include "master/supervise.h"
#include "master/tls_certs.h"
#include "worker/sandbox.h"
#include "worker/worker.h"

#ifndef F_SEAL_SEAL
#include <linux/fcntl.h>
#endif

#define MASTER_DEFAULT_CONFIG	SYSCONFDIR "/ingressd/ingressd.yaml"
/* A new master that does not serve by then is stopped (SIGUSR2). */
#define MASTER_UPGRADE_TIMEOUT_MS	60000
/* Set by the old master for the new one; unset before any worker. */
#define MASTER_ENV_INHERIT	"INGRESSD_INHERIT_FDS"
#define MASTER_ENV_UPGRADE	"INGRESSD_UPGRADE_FD"

static struct {
	struct ev_loop		*loop;
	struct conf		 conf;
	char			 config_path[PATH_MAX];
	char			 cwd[PATH_MAX];
	int			 foreground;
	uint64_t		 started_ms;
	time_t			 started;

	struct listeners	 ls;
	struct supervise	 sv;
	struct provider_files	*pf;
	struct provider_kube	*pk;		/* kube: owns the store */
	struct provider_kube	*pk_next;	/* reload: until it synced */
	struct provider_kube	*pk_old;	/* freed off the loop */
	ev_timer		 pk_reap;
	struct store		*store;		/* files only */
	struct resolver		*resolver;	/* ExternalName Services */
	struct control		*ctl;
	int			 pid_fd;
	char			*pid_file;	/* its name now */
	char			*pid_base;	/* pid_file at start */

	uint64_t		 generation;
	struct compile_result	 last;		/* table of the generation */
	int			 have_last;
	const struct store	*last_store;	/* kube: <last> came from it */
	size_t			 last_errors;
	struct healthtab	 health;	/* endpoints down */
	struct ipc_writer	 health_batch;	/* HEALTH_STATE records not
						 * yet broadcast */
	ev_timer		 health_flush;	/* broadcasts them, next turn
						 * of the loop */

	int			 stopping;
	ev_signal		 sighup, sigterm, sigint, sigusr1, sigusr2;
	ev_child		 child;
	ev_timer		 ctl_reopen;	/* not from inside a request */
	struct stats		*stats;		/* workers' counters */
	ev_timer		 stats_timer;	/* status document, 1 s */
	ev_tstamp		 doc_next;	/* no render before it */
	unsigned		 doc_every_s;	/* last interval logged */
	int			 ready_fd;	/* daemonize readiness */

	/* Binary upgrade, old master's side: the new master we started. */
	char			**argv;		/* as started */
	pid_t			 upgrade_pid;	/* -1: none */
	int			 upgrade_rfd;	/* its "ready" pipe */
	int			 upgrade_ok;	/* it said so */
	ev_io			 upgrade_io;
	ev_timer		 upgrade_timer;
	/* New master's side: the pipe to the old one, until we serve. */
	int			 upgrade_fd;

	/* TLS: the default certificate, session-ticket keys */
	char			*tls_pem;	/* chain then key */
	int			 tls_selfsigned;	/* tls_pem made here */
	struct ipc_tls_key	 tls_keys[2];	/* current, previous */
	ev_timer		 tls_rotate;
} m = { .pid_fd = -1, .ready_fd = -1, .upgrade_pid = -1, .upgrade_rfd = -1,
    .upgrade_fd = -1 };

static void	master_publish(void);
static int	master_publish_table(struct compile_result *);
static void	master_health_report(void *, const struct ipc_health *);
static void	master_health_gone(void *, const struct ipc_health *);
static void	master_health_synced(void *, struct supervise_worker *);
static int	master_resolve(void *, const char *, struct sockaddr_storage *,
		    socklen_t *, size_t, size_t *);
static void	master_resolved_cb(void *);
static void	master_store_cb(void *, struct store *, int);
static void	master_kube_cb(void *, struct provider_kube *);
static struct provider_kube *master_kube_new(const struct conf *, char *,
		    size_t);
static void	master_pk_reap_cb(struct ev_loop *, ev_timer *, int);
static void	master_pk_retire(struct provider_kube *);
static void	master_signal_cb(struct ev_loop *, ev_signal *, int);
static void	master_child_cb(struct ev_loop *, ev_child *, int);
static void	master_ctl_reopen_cb(struct ev_loop *, ev_timer *, int);
static int	master_reload(char *, size_t);
static void	master_relisten(const struct conf *);
static int	master_access_log(char *, size_t);
static void	master_stopped(void *);
static void	master_stop(const char *, int);
static void	master_upgrade(void);
static void	master_upgrade_cb(struct ev_loop *, ev_io *, int);
static void	master_upgrade_timeout_cb(struct ev_loop *, ev_timer *, int);
static void	master_upgrade_end(void);
static void	master_upgrade_ready(void *);
static struct json_object *master_ctl_status(void *, char *, size_t);
static struct json_object *master_ctl_routes(void *, char *, size_t);
static struct json_object *master_ctl_backends(void *, char *, size_t);
static int	master_ctl_reload(void *, char *, size_t);
static void	master_metrics(void *, struct supervise_worker *, int,
		    uint64_t);
static void	master_stats_cb(struct ev_loop *, ev_timer *, int);
int		master_provider_ready(void);

static const struct control_ops master_ctl_ops = {
	.arg = NULL,
	.status = master_ctl_status,
	.routes = master_ctl_routes,
	.backends = master_ctl_backends,
	.reload = master_ctl_reload,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ingressd [--config FILE] [--foreground]\n"
	    "       ingressd --check [--config FILE]\n"
	    "       ingressd --version | --help\n"
	    "\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -f, --foreground   do not daemonize; log to stderr\n"
	    "  -t, --check        load the configuration, the manifests and\n"
	    "                     compile the routes, print problems, exit:\n"
	    "                     1 for a bad configuration (file:line:col)\n"
	    "                     or an invalid manifest (file doc N (line\n"
	    "                     L)), else 0 (route problems such as a\n"
	    "                     missing Service are printed as warnings)\n"
	    "  -V, --version      print \"ingressd %s\" and exit\n"
	    "  -h, --help         this text\n"
	    "\n"
	    "Signals: SIGHUP reloads, SIGTERM/SIGINT stop gracefully,\n"
	    "SIGUSR1 reopens the access log.\n"
	    "SIGUSR2 starts the binary on disk and hands the listeners over.\n"
	    "See ingressd(8), ingressd.yaml(5), ingressctl(8).\n",
	    MASTER_DEFAULT_CONFIG, PACKAGE_VERSION);
}

/* A path the master can still use after chdir("/"). */
static void
master_abspath(const char *path, char *out, size_t outlen)
{
	size_t n;

	if (path[0] == '/' || m.cwd[0] == '\0') {
		util_strlcpy(out, path, outlen);
		return;
	}
	n = util_strlcpy(out, m.cwd, outlen);
	if (n + 1 < outlen) {
		out[n++] = '/';
		util_strlcpy(out + n, path, outlen - n);
	}
}

/* conf_load() plus what the master needs to be true of a config. */
static int
master_conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
	char abs[PATH_MAX];

	if (conf_load(path, c, err, errlen) == -1)
		return -1;
	if (c->kubeconfig != NULL && c->kubeconfig[0] != '/') {
		master_abspath(c->kubeconfig, abs, sizeof(abs));
		free(c->kubeconfig);
		if ((c->kubeconfig = strdup(abs)) == NULL) {
			snprintf(err, errlen, "%s", strerror(errno));
			conf_free(c);
			return -1;
		}
	}
	if (c->provider_dir != NULL && c->provider_dir[0] != '/') {
		master_abspath(c->provider_dir, abs, sizeof(abs));
		free(c->provider_dir);
		if ((c->provider_dir = strdup(abs)) == NULL) {
			snprintf(err, errlen, "%s", strerror(errno));
			conf_free(c);
			return -1;
		}
	}
	if (tls_certs_settings_ok(c->tls_ciphers, c->tls_ciphersuites,
	    c->tls_curves, err, errlen) == -1) {
		conf_free(c);
		return -1;
	}
	return 0;
}

/*
 * The default certificate of <c>: tls.default_certificate and _key when
 * set, else a self-signed one (made once, kept across reloads).  Replaces
 * m.tls_pem on success; 0, or -1 with the reason in <err>.
 */
static int
master_tls_default(const struct conf *c, char *err, size_t errlen)
{
	char *pem;

	if (c->tls_default_certificate != NULL) {
		if (tls_certs_load_files(c->tls_default_certificate,
		    c->tls_default_key, &pem, err, errlen) == -1)
			return -1;
		free(m.tls_pem);
		m.tls_pem = pem;
		m.tls_selfsigned = 0;
		log_info("tls: default certificate from %s",
		    c->tls_default_certificate);
		return 0;
	}
	if (m.tls_pem != NULL && m.tls_selfsigned)
		return 0;
	if (tls_certs_selfsigned(&pem, err, errlen) == -1)
		return -1;
	free(m.tls_pem);
	m.tls_pem = pem;
	m.tls_selfsigned = 1;
	log_info("tls: no tls.default_certificate: using a self-signed "
	    "certificate made at start (CN \"ingressd default\")");
	return 0;
}

/* Sends the session-ticket keys to one worker, or to all (<w> NULL). */
static void
master_tls_keys_send(struct supervise_worker *w)
{
	struct ipc_writer wr;

	ipc_writer_init(&wr);
	ipc_put_bytes(&wr, &m.tls_keys[0], sizeof(m.tls_keys[0]));
	ipc_put_bytes(&wr, &m.tls_keys[1], sizeof(m.tls_keys[1]));
	if (wr.bad)
		return;
	if (w != NULL)
		supervise_send(w, IPC_TLS_KEYS, wr.buf, wr.len);
	else
		supervise_broadcast(&m.sv, IPC_TLS_KEYS, wr.buf, wr.len);
}

/*
 * tls.ticket_key_rotation: a new current key, the old one kept as the
 * previous so that tickets issued just before still resume.
 */
static void
master_tls_rotate_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ipc_tls_key k;

	if (tls_certs_ticket_key(&k) == -1) {
		log_warnx("tls: no randomness for a ticket key; keeping the "
		    "current one");
		return;
	}
	m.tls_keys[1] = m.tls_keys[0];
	m.tls_keys[0] = k;
	master_tls_keys_send(NULL);
	log_debug("tls: session-ticket key rotated");
}

static void
master_compile_options(const struct conf *c, struct compile_options *o)
{
	struct route_settings *s = &o->settings;

	memset(o, 0, sizeof(*o));
	o->ingress_class = c->ingress_class;
	s->client_header_timeout_ms = c->client_header_timeout_ms;
	s->client_body_timeout_ms = c->client_body_timeout_ms;
	s->client_idle_timeout_ms = c->client_idle_timeout_ms;
	s->upstream_connect_timeout_ms = c->upstream_connect_timeout_ms;
	s->upstream_response_timeout_ms = c->upstream_response_timeout_ms;
	s->upstream_idle_timeout_ms = c->upstream_idle_timeout_ms;
	s->max_header_size = c->max_header_size;
	s->max_headers = c->max_headers;
	s->max_body_size = c->max_body_size;
	s->max_connections = c->max_connections;
	s->upstream_keepalive = c->upstream_keepalive;
	s->workers = (uint32_t)c->workers;
	s->passive_failures = c->health_passive_failures;
	s->tls_handshake_timeout_ms = c->tls_handshake_timeout_ms;
	s->tls_protocols = c->tls_protocols;
	s->tls_session_cache = (uint32_t)c->tls_session_cache;
	if (c->https.enabled)
		s->https_port = c->https.addr.ss_family == AF_INET6 ?
		    ntohs(((const struct sockaddr_in6 *)&c->https.addr)->
		    sin6_port) : ntohs(((const struct sockaddr_in *)
		    &c->https.addr)->sin_port);
	/* conf.c bounded the lengths below the arrays. */
	util_strlcpy(s->tls_ciphers, c->tls_ciphers, sizeof(s->tls_ciphers));
	util_strlcpy(s->tls_ciphersuites, c->tls_ciphersuites,
	    sizeof(s->tls_ciphersuites));
	util_strlcpy(s->tls_curves, c->tls_curves, sizeof(s->tls_curves));
	o->health.mode = (uint32_t)c->health_mode;
	o->health.interval_ms = c->health_interval_ms;
	o->health.timeout_ms = c->health_timeout_ms;
	o->health.rise = c->health_rise;
	o->health.fall = c->health_fall;
	o->health.expect_lo = c->health_expect[0];
	o->health.expect_hi = c->health_expect[1];
	o->health.all_down = (uint32_t)c->health_all_down;
	o->health.path = c->health_path;	/* borrowed */
}

static void
master_table_counts(const struct route_table *rt, size_t *paths,
    size_t *endpoints)
{
	size_t i;

	*paths = *endpoints = 0;
	for (i = 0; i < rt->nhosts; i++)
		*paths += rt->hosts[i].npaths;
	for (i = 0; i < rt->nbackends; i++)
		*endpoints += rt->backends[i].nendpoints;
}

/* Copies <blob> into a sealed memfd; the fd or -1 after logging. */
static int
master_memfd(const void *blob, size_t len)
{
	int fd;

	if ((fd = util_sealed_memfd("ingressd-snapshot", blob, len)) == -1)
		log_warn("snapshot memfd");
	return fd;
}

/*
 * compile's lookup for ExternalName Services: answers from the resolver's
 * cache and marks <name> wanted, so an unknown name is resolved in the
 * background and master_resolved_cb() recompiles when its addresses arrive
 * or change.  Never blocks.
 */
static int
master_resolve(void *arg, const char *name, struct sockaddr_storage *addrs,
    socklen_t *lens, size_t max, size_t *n)
{
	*n = 0;
	if (resolver_want(arg, name) == -1)
		return COMPILE_NAME_FAILED;
	switch (resolver_lookup(arg, name, addrs, lens, max, n)) {
	case RESOLVER_RESOLVED:
		return COMPILE_NAME_RESOLVED;
	case RESOLVER_PENDING:
		return COMPILE_NAME_PENDING;
	default:
		return COMPILE_NAME_FAILED;
	}
}

static void
master_resolved_cb(void *arg)
{
	master_publish();
}

/* Adds the default certificate (SNI name "") to <rt>.  0, or -1. */
static int
master_add_default_cert(struct route_table *rt)
{
	struct route_cert *c;

	if (m.tls_pem == NULL)
		return 0;
	if ((c = reallocarray(rt->certs, rt->ncerts + 1,
	    sizeof(*c))) == NULL)
		return -1;
	rt->certs = c;
	c = &rt->certs[rt->ncerts];
	memset(c, 0, sizeof(*c));
	if ((c->name = strdup("")) == NULL ||
	    (c->pem = strdup(m.tls_pem)) == NULL) {
		free(c->name);
		return -1;
	}
	rt->ncerts++;
	return 0;
}

/*
 * Compiles the current store with the current config and publishes the
 * result as the next generation.  On any failure the running snapshot
 * stays.
 */
static void
master_publish(void)
{
	struct compile_options opt;
	struct compile_result res;
	char *const *ns, *const *svc;
	size_t nsvc;
	struct store *st;

	st = m.pk != NULL ? provider_kube_store(m.pk) : m.store;
	if (st == NULL || (m.pk != NULL && !provider_kube_synced(m.pk)))
		return;
	master_compile_options(&m.conf, &opt);
	opt.resolve = master_resolve;
	opt.resolve_arg = m.resolver;
	if (m.pk != NULL && m.have_last && m.last_store == st &&
	    store_endpoint_changes(st, &ns, &svc, &nsvc)) {
		/*
		 * Only endpoints moved since <last> was compiled from this
		 * store: redo those backends (the same table a full compile
		 * gives, see compile_update_endpoints()) and publish it.
		 */
		if (compile_update_endpoints(st, &opt, &m.last, ns, svc,
		    nsvc) == 0 && master_publish_table(&m.last) == 0) {
			store_changes_reset(st);
			return;
		}
		/* Failed: the whole compile, which replaces <last>. */
		m.last_store = NULL;
	}
	memset(&res, 0, sizeof(res));
	if (compile_routes(st, &opt, &res) == -1) {
		log_warnx("compile: out of memory; keeping generation %llu",
		    (unsigned long long)m.generation);
		return;
	}
	store_changes_reset(st);
	/* Names no Service asked for in this compile are forgotten. */
	resolver_sweep(m.resolver);
	if (master_add_default_cert(&res.rt) == -1) {
		log_warnx("compile: out of memory; keeping generation %llu",
		    (unsigned long long)m.generation);
		compile_result_free(&res);
		return;
	}
	if (master_publish_table(&res) == -1) {
		compile_result_free(&res);
		return;
	}
	if (m.have_last)
		compile_result_free(&m.last);
	m.last = res;
	m.have_last = 1;
	m.last_store = m.pk != NULL ? st : NULL;
	healthtab_prune(&m.health, &m.last.rt, master_health_gone, NULL);
}

/*
 * Logs the errors of <res>, encodes it as the next generation and sends
 * it to the workers.  0, or -1 (logged) with the running one kept.  When
 * <res> is not <m.last> the caller makes it so on success.
 */
static int
master_publish_table(struct compile_result *res)
{
	size_t i, paths, endpoints;
	char err[256];
	void *blob = NULL;
	size_t len = 0;
	int fd;

	for (i = 0; i < res->nerrors; i++)
		log_warnx("%s (%s): %s", res->errors[i].object,
		    res->errors[i].origin != NULL ? res->errors[i].origin :
		    "-", res->errors[i].reason);
	/* Once per table: the entry stays filled for incremental updates. */
	if (backend_ca_fill_system(&res->rt, err, sizeof(err)) == -1)
		log_warnx("backend TLS: system CA bundle %s; backends that "
		    "trust it fail", err);
	if (snapshot_encode(&res->rt, m.generation + 1, &blob, &len, err,
	    sizeof(err)) == -1) {
		log_warnx("snapshot: %s; keeping generation %llu", err,
		    (unsigned long long)m.generation);
		return -1;
	}
	fd = master_memfd(blob, len);
	free(blob);
	if (fd == -1)
		return -1;
	m.generation++;
	master_table_counts(&res->rt, &paths, &endpoints);
	log_info("generation %llu: %zu hosts, %zu paths, %zu backends, "
	    "%zu endpoints, %zu errors, %zu bytes",
	    (unsigned long long)m.generation, res->rt.nhosts, paths,
	    res->rt.nbackends, endpoints, res->nerrors, len);
	supervise_publish(&m.sv, fd, len, m.generation);
	m.last_errors = res->nerrors;
	if (res == &m.last)
		healthtab_prune(&m.health, &m.last.rt, master_health_gone,
		    NULL);
	return 0;
}

/* Broadcasts the batched HEALTH_STATE records, if any. */
static void
master_health_flush(void)
{
	if (m.health_batch.len > 0)
		supervise_broadcast(&m.sv, IPC_HEALTH_STATE, m.health_batch.buf,
		    m.health_batch.len);
	ipc_writer_init(&m.health_batch);
}

static void
master_health_flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	master_health_flush();
}

/*
 * Tells every worker the state of endpoint <h>.  Records are batched
 * until the next turn of the loop (or a full message): a worker's batch
 * of reports, all endpoints of a dead node at once, goes out as a few
 * messages per worker rather than one per endpoint.
 */
static void
master_health_gone(void *arg, const struct ipc_health *h)
{
	struct ipc_writer wr;

	ipc_writer_init(&wr);
	ipc_put_health(&wr, h);
	if (wr.bad)
		return;
	if (m.health_batch.len + wr.len > IPC_HEALTH_BATCH * IPC_HEALTH_LEN)
		master_health_flush();
	ipc_put_bytes(&m.health_batch, wr.buf, wr.len);
	if (!ev_is_active(&m.health_flush)) {
		ev_timer_set(&m.health_flush, 0., 0.);
		ev_timer_start(m.loop, &m.health_flush);
	}
}

/* A worker's probe saw a transition: keep it, log it, tell everyone. */
static void
master_health_report(void *arg, const struct ipc_health *h)
{
	if (healthtab_report(&m.health, h, m.have_last ? &m.last.rt :
	    NULL) == 1) {
		stats_transition(m.stats, h->state == HC_UP);
		master_health_gone(arg, h);
	}
}

/* A (re)started worker learns which endpoints are down. */
static void
master_health_synced(void *arg, struct supervise_worker *w)
{
	static struct ipc_writer wr;	/* 64k: not on the stack */
	struct ipc_writer one;
	size_t i;

	ipc_writer_init(&wr);
	for (i = 0; i < m.health.ndown; i++) {
		ipc_writer_init(&one);
		ipc_put_health(&one, &m.health.down[i]);
		if (one.bad)
			continue;
		if (wr.len + one.len > IPC_HEALTH_BATCH * IPC_HEALTH_LEN) {
			supervise_send(w, IPC_HEALTH_STATE, wr.buf, wr.len);
			ipc_writer_init(&wr);
		}
		ipc_put_bytes(&wr, one.buf, one.len);
	}
	if (wr.len > 0)
		supervise_send(w, IPC_HEALTH_STATE, wr.buf, wr.len);
	/* A new worker resumes the tickets the others issued. */
	master_tls_keys_send(w);
}

static void
master_store_cb(void *arg, struct store *st, int nerrors)
{
	if (nerrors > 0)
		log_warnx("%s: %d manifest document(s) skipped",
		    m.conf.provider_dir, nerrors);
	store_free(m.store);
	m.store = st;
	if (m.pk != NULL) {
		/* kube -> files on reload: the files' routes from now on. */
		master_pk_retire(m.pk);
		m.pk = NULL;
	}
	master_publish();
}

/*
 * A provider is freed from a zero timer, never from inside its own
 * callback (which runs within its curl processing).
 */
static void
master_pk_retire(struct provider_kube *pk)
{
	provider_kube_stop(pk);
	if (m.pk_old != NULL)
		provider_kube_free(m.pk_old);
	m.pk_old = pk;
	ev_timer_start(m.loop, &m.pk_reap);
}

static void
master_pk_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	provider_kube_free(m.pk_old);
	m.pk_old = NULL;
}

/*
 * The kube provider's store changed (or completed its first sync).  A
 * provider started by a reload takes over only once it synced, so the
 * routes of the old one serve until then.
 */
static void
master_kube_cb(void *arg, struct provider_kube *pk)
{
	if (pk == m.pk_next) {
		if (!provider_kube_synced(pk))
			return;
		if (m.pk != NULL)
			master_pk_retire(m.pk);
		m.pk = pk;
		m.pk_next = NULL;
		if (m.pf != NULL) {
			provider_files_free(m.pf);
			m.pf = NULL;
		}
		store_free(m.store);
		m.store = NULL;
		log_info("kube: the reloaded provider synced and took over");
	}
	if (pk == m.pk)
		master_publish();
}

static struct provider_kube *
master_kube_new(const struct conf *c, char *err, size_t errlen)
{
	struct provider_kube_options o;

	memset(&o, 0, sizeof(o));
	o.kubeconfig = c->kubeconfig;
	o.namespace = c->namespace;
	o.debounce_ms = c->debounce_ms;
	o.ingress_class = c->ingress_class;
	o.publish_address = c->publish_address;
	return provider_kube_new(m.loop, &o, master_kube_cb, NULL, err,
	    errlen);
}

/*
 * fork, setsid, fork.  The process that ran us waits until the daemon
 * says it started (master_ready()) and exits 0, or exits 1 when the daemon
 * dies first, so that `ingressd && echo started` tells the truth.
 */
static void
master_daemonize(void)
{
	char c = 0;
	int fd, pfd[2];

	if (pipe2(pfd, O_CLOEXEC) == -1)
		fatal("pipe");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		close(pfd[0]);
		break;
	default:
		close(pfd[1]);
		while (read(pfd[0], &c, 1) == -1 && errno == EINTR)
			;
		if (c != 'R') {
			fprintf(stderr, "ingressd: failed to start, see the "
			    "system log\n");
			_exit(1);
		}
		_exit(0);
	}
	m.ready_fd = pfd[1];
	if (setsid() == -1)
		fatal("setsid");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	umask(022);
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		fatal("/dev/null");
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/*
 * A fatal() after the pid file was written must not leave it behind.
 * Only our own file goes: during a binary upgrade another master's may
 * stand at the path.
 */
static void
master_atexit(void)
{
	struct stat a, b;

	if (m.pid_file != NULL && m.pid_fd != -1) {
		if (fstat(m.pid_fd, &a) == 0 && stat(m.pid_file, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			unlink(m.pid_file);
		close(m.pid_fd);
		m.pid_fd = -1;
	}
}

/* Tells the process waiting in master_daemonize() that we run. */
static void
master_ready(void)
{
	if (m.ready_fd == -1)
		return;
	if (write(m.ready_fd, "R", 1) != 1)
		log_warn("readiness pipe");
	close(m.ready_fd);
	m.ready_fd = -1;
}

/*
 * Opens and locks the pid file before anything is bound: a locked one
 * means another master, which SO_REUSEPORT would otherwise let share our
 * ports.  The lock survives daemonizing; master_pidfile_write() fills it.
 */
static int
master_pidfile_lock(const char *path, char *err, size_t errlen)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen, "pid_file %s: %s", path,
		    errno == EWOULDBLOCK ? "locked: is ingressd already "
		    "running?" : strerror(errno));
		close(fd);
		return -1;
	}
	m.pid_fd = fd;
	m.pid_file = strdup(path);
	m.pid_base = strdup(path);
	return 0;
}

static int
master_pidfile_write(char *err, size_t errlen)
{
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(m.pid_fd, 0) == -1 || write(m.pid_fd, buf, n) != n) {
		snprintf(err, errlen, "pid_file %s: %s", m.pid_file,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
master_check(const char *path)
{
	struct compile_options opt;
	struct compile_result res;
	struct store *st;
	struct conf c;
	char err[1024];
	size_t i, paths, endpoints;
	int nerrors = 0;

	log_init(1, LOG_LEVEL_WARN);
	if (master_conf_load(path, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (geteuid() == 0 && getpwnam(c.user) == NULL)
		fprintf(stderr, "warning: %s: user \"%s\": no such user: "
		    "ingressd would not start\n", path, c.user);
	if (c.tls_default_certificate != NULL) {
		char *pem;

		if (tls_certs_load_files(c.tls_default_certificate,
		    c.tls_default_key, &pem, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: tls: %s\n", path, err);
			conf_free(&c);
			return 1;
		}
		free(pem);
	}
	if (c.provider_kind == CONF_PROVIDER_KUBE) {
		struct kubeconfig kc;

		/* Only what can be checked without the network. */
		if (kubeconfig_load(c.kubeconfig, &kc, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "%s: provider kube: %s\n", path, err);
			conf_free(&c);
			return 1;
		}
		printf("%s: configuration OK; provider kube: API server %s, "
		    "%s\n", path, kc.server, c.namespace != NULL ?
		    c.namespace : "all namespaces");
		kubeconfig_free(&kc);
		conf_free(&c);
		return 0;
	}
	st = provider_files_load(c.provider_dir, &nerrors, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "warning: provider.dir %s: %s\n",
		    c.provider_dir, err);
		printf("%s: configuration OK, no manifests loaded\n", path);
		conf_free(&c);
		return 0;
	}
	master_compile_options(&c, &opt);
	memset(&res, 0, sizeof(res));
	if (compile_routes(st, &opt, &res) == -1) {
		fprintf(stderr, "compile: out of memory\n");
		store_free(st);
		conf_free(&c);
		return 1;
	}
	for (i = 0; i < res.nerrors; i++)
		fprintf(stderr, "warning: %s (%s): %s\n", res.errors[i].object,
		    res.errors[i].origin != NULL ? res.errors[i].origin : "-",
		    res.errors[i].reason);
	master_table_counts(&res.rt, &paths, &endpoints);
	printf("%s: configuration OK; %s: %d invalid document(s); routes: "
	    "%zu hosts, %zu paths, %zu backends, %zu endpoints, %zu "
	    "warning(s)\n", path, c.provider_dir, nerrors, res.rt.nhosts,
	    paths, res.rt.nbackends, endpoints, res.nerrors);
	compile_result_free(&res);
	store_free(st);
	conf_free(&c);
	/* An invalid manifest is an error, as nginx -t makes any error one:
	 * the running daemon would skip it, the operator should not. */
	return nerrors > 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "foreground",	no_argument,		NULL, 'f' },
		{ "check",	no_argument,		NULL, 't' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char *config = MASTER_DEFAULT_CONFIG, *e;
	char err[1024], *inherit = NULL;
	int ch, check = 0, n;

	/* Hidden entry: the master execs itself as a worker. */
	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return worker_main(argc, argv);

	/* Copied before getopt_long() permutes it: SIGUSR2 execs it. */
	if ((m.argv = calloc(argc + 1, sizeof(*m.argv))) == NULL)
		fatal("argv");
	for (n = 0; n < argc; n++)
		m.argv[n] = argv[n];
	while ((ch = getopt_long(argc, argv, "c:ftVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			m.foreground = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("ingressd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (getcwd(m.cwd, sizeof(m.cwd)) == NULL)
		m.cwd[0] = '\0';
	master_abspath(config, m.config_path, sizeof(m.config_path));
	if (check)
		return master_check(m.config_path);

	log_init(1, LOG_LEVEL_INFO);
	log_setrole("master");
	/* Started by a master's SIGUSR2: its sockets and its pipe. */
	if ((e = getenv(MASTER_ENV_UPGRADE)) != NULL) {
		m.upgrade_fd = atoi(e);
		if (m.upgrade_fd < 3 || fcntl(m.upgrade_fd, F_GETFD) == -1)
			fatalx("%s=%s: not an open descriptor",
			    MASTER_ENV_UPGRADE, e);
		util_set_cloexec(m.upgrade_fd, 1);
		if ((e = getenv(MASTER_ENV_INHERIT)) != NULL &&
		    (inherit = strdup(e)) == NULL)
			fatal("strdup");
		log_info("binary upgrade: started by the master pid %ld",
		    (long)getppid());
	}
	unsetenv(MASTER_ENV_UPGRADE);
	unsetenv(MASTER_ENV_INHERIT);
	/*
	 * Every compile allocates, and frees, a route table and a snapshot
	 * buffer of megabytes.  Keep that memory in the heap for the next
	 * one instead of unmapping it and faulting fresh zeroed pages back
	 * in each time (a sixth of a compile's CPU time with 50,000
	 * endpoints).  RSS stays at the high-water mark.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	if (master_conf_load(m.config_path, &m.conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	log_setlevel(m.conf.log_level);
	/* Caught here rather than by N workers crash-looping on it. */
	if (geteuid() == 0 && getpwnam(m.conf.user) == NULL)
		fatalx("%s: user \"%s\": no such user (workers drop to it)",
		    m.config_path, m.conf.user);

	if (m.conf.control_socket != NULL &&
	    control_in_use(m.conf.control_socket))
		fatalx("control socket %s is in use: is ingressd already "
		    "running?", m.conf.control_socket);
	if (m.conf.pid_file != NULL && master_pidfile_lock(m.conf.pid_file,
	    err, sizeof(err)) == -1)
		fatalx("%s", err);
	/* Bind before daemonizing, so that "Permission denied" reaches the
	 * terminal that started us. */
	if (inherit != NULL ? listeners_inherit(&m.ls, &m.conf,
	    m.conf.workers, inherit, err, sizeof(err)) :
	    listeners_open(&m.ls, &m.conf, m.conf.workers, NULL, err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
	free(inherit);
	if (sandbox_prepare(err, sizeof(err)) == -1)
		fatalx("sandbox: %s", err);
	if (!m.foreground) {
		/* A new master of an upgrade already is a daemon's child. */
		if (m.upgrade_fd == -1)
			master_daemonize();
		log_init(0, m.conf.log_level);
	}
	if (m.pid_fd != -1 && master_pidfile_write(err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (m.pid_fd != -1)
		atexit(master_atexit);
	signal(SIGPIPE, SIG_IGN);
	m.started_ms = util_now_ms();
	m.started = time(NULL);

	/* The loop is created after daemonizing (the fork). */
	if ((m.loop = ev_default_loop(0)) == NULL)
		fatalx("cannot create the event loop");
	if (supervise_init(&m.sv, m.loop, &m.ls, err, sizeof(err)) == -1)
		fatalx("%s", err);
	supervise_settings(&m.sv, m.conf.user, m.conf.sandbox,
	    m.conf.log_level, m.foreground, m.conf.shutdown_grace_ms);
	if (master_access_log(err, sizeof(err)) == -1)
		fatalx("%s", err);
	m.sv.hooks.health_report = master_health_report;
	m.sv.hooks.worker_synced = master_health_synced;
	m.sv.hooks.metrics = master_metrics;
	if ((m.stats = stats_new()) == NULL)
		fatalx("stats: out of memory");
	m.sv.hooks.applied = master_upgrade_ready;
	/* Before any worker: it clears $NOTIFY_SOCKET from their env.  The
	 * new master of an upgrade is systemd's main process once ready. */
	notify_open(m.loop, notify_state_supervise, &m.sv, !m.foreground ||
	    m.upgrade_fd != -1);

	if (m.conf.control_socket != NULL && (m.ctl = control_open(m.loop,
	    m.conf.control_socket, &master_ctl_ops, err,
	    sizeof(err))) == NULL)
		fatalx("control socket: %s", err);

	/* Before the provider's first compile: it puts it in the snapshot. */
	if (master_tls_default(&m.conf, err, sizeof(err)) == -1)
		fatalx("tls: %s", err);
	if (tls_certs_ticket_key(&m.tls_keys[0]) == -1)
		fatalx("tls: no randomness for a session-ticket key");
	ev_timer_init(&m.tls_rotate, master_tls_rotate_cb,
	    m.conf.tls_ticket_key_rotation_ms / 1000.,
	    m.conf.tls_ticket_key_rotation_ms / 1000.);
	ev_timer_start(m.loop, &m.tls_rotate);

	/* Before the provider: its first load compiles at once. */
	if ((m.resolver = resolver_new(m.loop, master_resolved_cb,
	    NULL)) == NULL)
		fatalx("resolver: out of memory");

	ev_timer_init(&m.pk_reap, master_pk_reap_cb, 0., 0.);
	if (m.conf.provider_kind == CONF_PROVIDER_KUBE) {
		/* Generation 1 comes when every resource is listed. */
		if ((m.pk = master_kube_new(&m.conf, err,
		    sizeof(err))) == NULL)
			fatalx("provider kube: %s", err);
	} else {
		/* Loads synchronously: generation 1 exists before any
		 * worker. */
		m.pf = provider_files_new(m.loop, m.conf.provider_dir,
		    m.conf.debounce_ms, master_store_cb, NULL);
		if (m.pf == NULL)
			fatal("provider.dir %s", m.conf.provider_dir);
	}
	if (m.generation == 0)
		log_warnx("no routes compiled yet: workers wait for the first "
		    "snapshot before accepting");

	if (supervise_start(&m.sv, m.conf.workers, err, sizeof(err)) == -1)
		fatalx("%s", err);

	ev_signal_init(&m.sighup, master_signal_cb, SIGHUP);
	ev_signal_start(m.loop, &m.sighup);
	ev_signal_init(&m.sigterm, master_signal_cb, SIGTERM);
	ev_signal_start(m.loop, &m.sigterm);
	ev_signal_init(&m.sigint, master_signal_cb, SIGINT);
	ev_signal_start(m.loop, &m.sigint);
	ev_signal_init(&m.sigusr1, master_signal_cb, SIGUSR1);
	ev_signal_start(m.loop, &m.sigusr1);
	ev_signal_init(&m.sigusr2, master_signal_cb, SIGUSR2);
	ev_signal_start(m.loop, &m.sigusr2);
	ev_init(&m.upgrade_io, master_upgrade_cb);
	ev_init(&m.upgrade_timer, master_upgrade_timeout_cb);
	/*
	 * SIGCHLD: the default loop already reaps children on it for
	 * ev_child, so a plain ev_signal would find nothing to wait for.
	 * pid 0 means every child.
	 */
	ev_child_init(&m.child, master_child_cb, 0, 0);
	ev_child_start(m.loop, &m.child);
	ev_timer_init(&m.ctl_reopen, master_ctl_reopen_cb, 0., 0.);
	ev_timer_init(&m.health_flush, master_health_flush_cb, 0., 0.);
	ipc_writer_init(&m.health_batch);
	m.doc_every_s = 1;	/* said only when it grows */
	ev_timer_init(&m.stats_timer, master_stats_cb, 1., 1.);
	ev_timer_start(m.loop, &m.stats_timer);

	n = 0;
	for (ch = 0; ch < (int)m.ls.nl; ch++)
		n += snprintf(err + n, sizeof(err) - n, " %s=%s",
		    m.ls.l[ch].name, m.ls.l[ch].text);
	log_info("ingressd %s started, pid %ld, %d workers,%s",
	    PACKAGE_VERSION, (long)getpid(), m.conf.workers, err);
	master_ready();

	ev_run(m.loop, 0);

	resolver_free(m.resolver);
	stats_free(m.stats);
	provider_kube_free(m.pk);
	provider_kube_free(m.pk_next);
	provider_kube_free(m.pk_old);
	store_free(m.store);
	if (m.have_last)
		compile_result_free(&m.last);
	for (ch = 0; ch < m.sv.nw; ch++)
		free(m.sv.w[ch]);
	free(m.sv.w);
	free(m.pid_file);
	free(m.pid_base);
	free(m.argv);
	conf_free(&m.conf);
	log_info("stopped");
	return 0;
}

/* A worker's counters: stats keeps them for the next document. */
static void
master_metrics(void *arg, struct supervise_worker *w, int fd, uint64_t size)
{
	(void)stats_report(m.stats, w->id, w->pid, fd, size);
}

/*
 * The status document for the admin listeners: once a second while it is
 * cheap.  Its cost grows with the tables (10,000 routes and 50,000
 * endpoints render several megabytes of JSON), so the next render waits
 * MASTER_DOC_DUTY times the CPU the last one took, up to
 * MASTER_DOC_MAX_S: rendering takes at most 1/MASTER_DOC_DUTY of the
 * master while a render costs under MASTER_DOC_MAX_S / MASTER_DOC_DUTY
 * seconds, and the document is never staler than the cap.
 */
#define MASTER_DOC_DUTY		20
#define MASTER_DOC_MAX_S	10

static double
master_cpu_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == -1)
		return 0;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
master_stats_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	double cpu, gap;
	unsigned every;

	/* Nobody serves the document without an admin listener; the
	 * counters still come in for ingressctl. */
	if (m.stopping || !m.conf.admin.enabled)
		return;
	/* The timer ticks each second: half a tick of slack. */
	if (ev_now(loop) + 0.5 < m.doc_next)
		return;
	cpu = master_cpu_s();
	(void)stats_publish(m.stats, &master_ctl_ops, &m.sv);
	cpu = master_cpu_s() - cpu;
	gap = cpu * MASTER_DOC_DUTY;
	if (gap > MASTER_DOC_MAX_S)
		gap = MASTER_DOC_MAX_S;
	m.doc_next = ev_now(loop) + gap;
	every = gap < 1 ? 1 : (unsigned)(gap + 0.5);
	if (every != m.doc_every_s) {
		log_info("status document: %.0f ms to render, refreshed "
		    "every %u s", cpu * 1000, every);
		m.doc_every_s = every;
	}
}

static void
master_ctl_reopen_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	char err[512];

	control_close(m.ctl);
	m.ctl = NULL;
	if (m.conf.control_socket != NULL && (m.ctl = control_open(m.loop,
	    m.conf.control_socket, &master_ctl_ops, err, sizeof(err))) == NULL)
		log_warnx("control socket: %s", err);
}

static void
master_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	char why[128];

	if (w->rpid != m.upgrade_pid || m.upgrade_pid == -1) {
		supervise_exited(&m.sv, w->rpid, w->rstatus);
		return;
	}
	if (WIFSTOPPED(w->rstatus) || WIFCONTINUED(w->rstatus))
		return;
	supervise_status_text(w->rstatus, why, sizeof(why));
	if (m.upgrade_ok)
		log_info("upgrade: the new master (pid %ld) %s",
		    (long)m.upgrade_pid, why);
	else
		log_warnx("upgrade failed: the new master (pid %ld) %s before "
		    "it served; this master keeps serving (see its log lines "
		    "above)", (long)m.upgrade_pid, why);
	master_upgrade_end();
}

static void
master_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[1024];

	switch (w->signum) {
	case SIGUSR1:
		/* logrotate moved the file: a new one for the workers. */
		if (m.stopping)
			return;
		log_info("SIGUSR1: reopening the access log");
		if (master_access_log(err, sizeof(err)) == -1)
			log_warnx("%s; the workers keep the open one", err);
		else
			log_info("access log reopened");
		return;
	case SIGHUP:
		if (m.stopping)
			return;
		if (m.upgrade_pid != -1) {
			log_warnx("SIGHUP ignored: a binary upgrade is in "
			    "progress (new master pid %ld)",
			    (long)m.upgrade_pid);
			return;
		}
		log_info("SIGHUP: reloading %s", m.config_path);
		if (master_reload(err, sizeof(err)) == -1)
			log_warnx("reload failed, keeping the running "
			    "configuration: %s", err);
		return;
	case SIGTERM:
	case SIGINT:
		if (m.stopping) {
			log_info("already stopping");
			return;
		}
		if (m.upgrade_pid != -1 && !m.upgrade_ok) {
			log_warnx("upgrade abandoned: stopping the new master "
			    "(pid %ld) too", (long)m.upgrade_pid);
			kill(m.upgrade_pid, SIGTERM);
		}
		master_stop(w->signum == SIGTERM ? "SIGTERM" : "SIGINT", 0);
		return;
	case SIGUSR2:
		master_upgrade();
		return;
	}
}

/*
 * Graceful stop: the providers stop, every worker drains for
 * shutdown_grace, and the loop ends once they are gone.  <upgrade>: a new
 * master took over, so systemd hears nothing (STOPPING=1 would stop the
 * service) and the sockets live on in the new master.
 */
static void
master_stop(const char *why, int upgrade)
{
	m.stopping = 1;
	if (upgrade)
		notify_close();
	else
		notify_stopping();
	log_info("%s: stopping, draining workers (grace %u ms)", why,
	    m.conf.shutdown_grace_ms);
	provider_files_free(m.pf);
	m.pf = NULL;
	/* The store stays for compiles until the end. */
	provider_kube_stop(m.pk);
	provider_kube_free(m.pk_next);
	m.pk_next = NULL;
	/* Workers close their copies as they drain: from then on new
	 * connections are refused, not left in a backlog (after an upgrade
	 * the new master's copies keep the sockets and their queues). */
	listeners_close(&m.ls);
	supervise_stop(&m.sv, master_stopped, &m);
}

/* "PIDFILE.oldbin" into <buf>; -1 when it does not fit. */
static int
master_oldbin(char *buf, size_t buflen)
{
	int n;

	if (m.pid_base == NULL)
		return -1;
	n = snprintf(buf, buflen, "%s.oldbin", m.pid_base);
	return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

/*
 * SIGUSR2, as nginx does it: fork + exec the binary on disk with our argv,
 * the listening sockets (INGRESSD_INHERIT_FDS) and the write end of a pipe
 * (INGRESSD_UPGRADE_FD) on which it says "R" once its workers applied
 * their first snapshot; then we drain and exit (master_upgrade_cb()).  If
 * it exits first or is not ready in time, we keep serving.  Our pid file
 * becomes PIDFILE.oldbin meanwhile; the control socket is handed over
 * (closed here, bound again there; reopened here on failure).
 */
static void
master_upgrade(void)
{
	extern char **environ;
	static const char *const drop[] = {
		MASTER_ENV_INHERIT "=", MASTER_ENV_UPGRADE "=",
		"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="
	};
	char spec[4096], oldbin[PATH_MAX], fdenv[64], inhenv[4200];
	char notenv[160], wdenv[64], **envp = NULL, *p;
	const char *nsock, *nwd;
	size_t i, j, ne = 0;
	int pfd[2] = { -1, -1 }, s, sig, renamed = 0;
	sigset_t all;
	pid_t pid;

	if (m.stopping) {
		log_warnx("SIGUSR2 ignored: stopping");
		return;
	}
	if (m.upgrade_pid != -1) {
		log_warnx("SIGUSR2 ignored: an upgrade is in progress (new "
		    "master pid %ld)", (long)m.upgrade_pid);
		return;
	}
	if (listeners_inherit_spec(&m.ls, spec, sizeof(spec)) == -1) {
		log_warnx("SIGUSR2 ignored: too many listening sockets");
		return;
	}
	if (m.pid_fd != -1 && master_oldbin(oldbin, sizeof(oldbin)) == -1) {
		log_warnx("SIGUSR2 ignored: pid_file path too long");
		return;
	}
	/* Built before fork: the child only execs. */
	for (i = 0; environ[i] != NULL; i++)
		;
	if ((envp = calloc(i + 5, sizeof(*envp))) == NULL) {
		log_warn("SIGUSR2 ignored");
		return;
	}
	for (i = 0; environ[i] != NULL; i++) {
		for (j = 0; j < UTIL_NELEM(drop); j++)
			if (strncmp(environ[i], drop[j],
			    strlen(drop[j])) == 0)
				break;
		if (j == UTIL_NELEM(drop))
			envp[ne++] = environ[i];
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		log_warn("SIGUSR2 ignored: pipe");
		goto bad;
	}
	snprintf(inhenv, sizeof(inhenv), "%s=%s", MASTER_ENV_INHERIT, spec);
	snprintf(fdenv, sizeof(fdenv), "%s=%d", MASTER_ENV_UPGRADE, pfd[1]);
	envp[ne++] = inhenv;
	envp[ne++] = fdenv;
	notify_upgrade_env(&nsock, &nwd);
	if (nsock[0] != '\0') {
		snprintf(notenv, sizeof(notenv), "NOTIFY_SOCKET=%s", nsock);
		envp[ne++] = notenv;
	}
	if (nwd[0] != '\0') {
		snprintf(wdenv, sizeof(wdenv), "WATCHDOG_USEC=%s", nwd);
		envp[ne++] = wdenv;
	}
	envp[ne] = NULL;

	if (m.pid_fd != -1) {
		if (rename(m.pid_file, oldbin) == -1) {
			log_warn("SIGUSR2 ignored: rename %s", m.pid_file);
			goto bad;
		}
		renamed = 1;
	}
	/* The new master binds the path; it is reopened on failure. */
	control_close(m.ctl);
	m.ctl = NULL;

	switch (pid = fork()) {
	case -1:
		log_warn("SIGUSR2: fork");
		goto bad;
	case 0:
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		for (sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		/* These, and only these, survive the exec. */
		for (i = 0; i < m.ls.nl; i++)
			for (s = 0; s < m.ls.nslots; s++)
				if (m.ls.l[i].fds[s] != -1)
					util_set_cloexec(m.ls.l[i].fds[s], 0);
		util_set_cloexec(pfd[1], 0);
		/* The argv may name the config relative to where we began. */
		if (m.cwd[0] != '\0' && chdir(m.cwd) == -1)
			_exit(126);
		execve(m.sv.exe, m.argv, envp);
		dprintf(STDERR_FILENO, "ingressd: upgrade: execve %s: %s\n",
		    m.sv.exe, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	free(envp);
	m.upgrade_pid = pid;
	m.upgrade_rfd = pfd[0];
	m.upgrade_ok = 0;
	if (renamed && (p = strdup(oldbin)) != NULL) {
		free(m.pid_file);
		m.pid_file = p;
	}
	util_set_nonblock(m.upgrade_rfd);
	ev_io_set(&m.upgrade_io, m.upgrade_rfd, EV_READ);
	ev_io_start(m.loop, &m.upgrade_io);
	ev_timer_set(&m.upgrade_timer, MASTER_UPGRADE_TIMEOUT_MS / 1000.0, 0.);
	ev_timer_start(m.loop, &m.upgrade_timer);
	log_info("SIGUSR2: binary upgrade: started %s as the new master, pid "
	    "%ld; serving until its workers do", m.sv.exe, (long)pid);
	return;
 bad:
	if (renamed && rename(oldbin, m.pid_file) == -1)
		log_warn("rename %s back", oldbin);
	if (m.ctl == NULL && !m.stopping)
		ev_timer_start(m.loop, &m.ctl_reopen);
	if (pfd[0] != -1) {
		close(pfd[0]);
		close(pfd[1]);
	}
	free(envp);
}

/* The new master's pipe: "R" (it serves), or EOF (it is going away). */
static void
master_upgrade_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	char c = 0;
	ssize_t n;

	n = read(m.upgrade_rfd, &c, 1);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	ev_io_stop(loop, w);
	close(m.upgrade_rfd);
	m.upgrade_rfd = -1;
	if (n != 1 || c != 'R')
		return;		/* its exit status comes with SIGCHLD */
	ev_timer_stop(loop, &m.upgrade_timer);
	m.upgrade_ok = 1;
	log_info("upgrade: the new master (pid %ld) serves; this one (pid "
	    "%ld) drains and exits", (long)m.upgrade_pid, (long)getpid());
	if (!m.stopping)
		master_stop("upgrade", 1);
}

static void
master_upgrade_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	static pid_t termed = -1;

	if (m.upgrade_pid == -1 || m.upgrade_ok)
		return;
	if (termed == m.upgrade_pid) {
		/* Its workers notice their master is gone and drain. */
		log_warnx("upgrade: the new master (pid %ld) did not stop, "
		    "killing it", (long)m.upgrade_pid);
		kill(m.upgrade_pid, SIGKILL);
		return;
	}
	log_warnx("upgrade failed: the new master (pid %ld) did not serve "
	    "within %d s; stopping it, this master keeps serving",
	    (long)m.upgrade_pid, MASTER_UPGRADE_TIMEOUT_MS / 1000);
	kill(m.upgrade_pid, SIGTERM);
	termed = m.upgrade_pid;
	ev_timer_set(w, (m.conf.shutdown_grace_ms +
	    SUPERVISE_KILL_SLACK_MS) / 1000.0, 0.);
	ev_timer_start(loop, w);
}

/*
 * The new master is gone (reaped).  If it never served, what it took
 * comes back: the pid file name and the control socket.
 */
static void
master_upgrade_end(void)
{
	char oldbin[PATH_MAX], *p;

	if (m.upgrade_rfd != -1) {
		ev_io_stop(m.loop, &m.upgrade_io);
		close(m.upgrade_rfd);
		m.upgrade_rfd = -1;
	}
	ev_timer_stop(m.loop, &m.upgrade_timer);
	m.upgrade_pid = -1;
	if (m.upgrade_ok)
		return;
	if (m.pid_fd != -1 && master_oldbin(oldbin, sizeof(oldbin)) == 0 &&
	    strcmp(m.pid_file, oldbin) == 0) {
		if (rename(oldbin, m.pid_base) == -1)
			log_warn("rename %s back", oldbin);
		else if ((p = strdup(m.pid_base)) != NULL) {
			free(m.pid_file);
			m.pid_file = p;
		}
	}
	if (m.ctl == NULL && !m.stopping)
		ev_timer_start(m.loop, &m.ctl_reopen);
}

/*
 * supervise's "applied" hook.  In the new master of an upgrade, the first
 * generation applied by every worker means we serve: systemd learns our
 * pid first (so that the old master's exit does not end the service),
 * then the old master hears "R" and drains.
 */
static void
master_upgrade_ready(void *arg)
{
	char msg[64];

	if (m.upgrade_fd == -1 || m.generation == 0)
		return;
	snprintf(msg, sizeof(msg), "MAINPID=%ld\nREADY=1\n", (long)getpid());
	notify_send(msg);
	if (write(m.upgrade_fd, "R", 1) != 1)
		log_warn("upgrade: telling the old master");
	else
		log_info("upgrade: workers serve generation %llu; the old "
		    "master (pid %ld) drains now",
		    (unsigned long long)m.generation, (long)getppid());
	close(m.upgrade_fd);
	m.upgrade_fd = -1;
}

/* Gives the Lease release up to a second after the workers stopped. */
static void
master_release_wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	static int tries;

	if (provider_kube_busy(m.pk) && ++tries < 20)
		return;
	ev_timer_stop(loop, w);
	master_stopped(NULL);
}

static void
master_stopped(void *arg)
{
	static ev_timer wait;

	if (arg != NULL && provider_kube_busy(m.pk)) {
		ev_timer_init(&wait, master_release_wait_cb, 0.05, 0.05);
		ev_timer_start(m.loop, &wait);
		return;
	}
	log_info("all workers stopped");
	notify_close();
	control_close(m.ctl);
	m.ctl = NULL;
	master_atexit();
	listeners_close(&m.ls);
	ev_break(m.loop, EVBREAK_ALL);
}

static int
master_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Returns the sockets <from> took over from <to>, closes the rest. */
static void
master_give_back(struct listeners *from, struct listeners *to)
{
	size_t i, j;

	for (i = 0; i < from->nl; i++)
		for (j = 0; j < to->nl; j++)
			if (to->l[j].fds == NULL &&
			    strcmp(to->l[j].name, from->l[i].name) == 0) {
				to->l[j].fds = from->l[i].fds;
				from->l[i].fds = NULL;
			}
	listeners_close(from);
}

/*
 * Listen addresses changed: bind the new set (for as many slots as run
 * now), start workers on it and drain the old ones, which finish what they
 * have in flight.  If anything cannot be bound, the old listeners stay.
 */
static void
master_relisten(const struct conf *nc)
{
	struct listeners nls, old;
	char err[512];

	if (m.sv.target != m.sv.nw) {
		log_warnx("reload: listen addresses changed while the pool "
		    "shrinks: reload again to apply them");
		return;
	}
	if (listeners_open(&nls, nc, m.sv.nw, &m.ls, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the old listeners", err);
		return;
	}
	old = m.ls;
	m.ls = nls;
	if (supervise_relisten(&m.sv, err, sizeof(err)) == -1) {
		/* Only out of memory: the sockets taken over go back. */
		log_warnx("reload: %s; keeping the old listeners", err);
		nls = m.ls;
		m.ls = old;
		master_give_back(&nls, &m.ls);
		return;
	}
	/* The old workers hold their own copies until they drain. */
	listeners_close(&old);
	log_info("reload: now listening on the new addresses");
}

/*
 * Opens the access log the configuration asks for and hands it to the
 * workers (start, SIGUSR1, reload).  0, or -1 with <err> and the log
 * that was open kept.
 */
static int
master_access_log(char *err, size_t errlen)
{
	uint32_t format;
	int fd;

	if (logfile_open_access(&m.conf, !m.foreground, &fd, &format, err,
	    errlen) == -1)
		return -1;
	supervise_access_log(&m.sv, fd, format);
	return 0;
}

/*
 * SIGHUP and `ingressctl reload`: read the configuration again; on error
 * keep the running one.  Applied at once: routes (provider dir, debounce,
 * ingress_class, timeouts and limits: recompiled and published; a changed
 * kube provider setting starts a new provider that takes over once it
 * synced, the old one serving until then), the
 * worker count (pool grows or shrinks), listen addresses (workers replaced
 * on new sockets), log level, control socket path, access log (reopened
 * as SIGUSR1 does).  For workers started
 * from now on: user, sandbox.  Needing a restart: pid_file.
 */
static int
master_reload(char *err, size_t errlen)
{
	struct conf nc, old;
	struct provider_files *pf;
	char rerr[512];
	uint64_t gen;
	int provider_changed, ctl_changed, relisten;

	notify_reloading();	/* READY=1 follows once applied */
	if (master_conf_load(m.config_path, &nc, err, errlen) == -1)
		return -1;
	if (master_tls_default(&nc, err, errlen) == -1) {
		conf_free(&nc);
		return -1;
	}
	relisten = !listeners_same(&m.ls, &nc);
	if (!master_streq(m.conf.pid_file, nc.pid_file))
		log_warnx("reload: pid_file changed: restart ingressd to apply "
		    "it");
	provider_changed = m.conf.provider_kind != nc.provider_kind ||
	    !master_streq(m.conf.provider_dir, nc.provider_dir) ||
	    !master_streq(m.conf.kubeconfig, nc.kubeconfig) ||
	    !master_streq(m.conf.namespace, nc.namespace) ||
	    m.conf.debounce_ms != nc.debounce_ms ||
	    (nc.provider_kind == CONF_PROVIDER_KUBE &&
	    (!master_streq(m.conf.ingress_class, nc.ingress_class) ||
	    !master_streq(m.conf.publish_address, nc.publish_address)));
	ctl_changed = !master_streq(m.conf.control_socket, nc.control_socket);

	old = m.conf;
	m.conf = nc;
	log_setlevel(m.conf.log_level);
	if (old.tls_ticket_key_rotation_ms != nc.tls_ticket_key_rotation_ms) {
		m.tls_rotate.repeat = nc.tls_ticket_key_rotation_ms / 1000.;
		ev_timer_again(m.loop, &m.tls_rotate);
	}
	supervise_settings(&m.sv, m.conf.user, m.conf.sandbox,
	    m.conf.log_level, m.foreground, m.conf.shutdown_grace_ms);
	if (relisten)
		master_relisten(&m.conf);
	if (m.conf.workers != m.sv.target && supervise_resize(&m.sv,
	    m.conf.workers, rerr, sizeof(rerr)) == -1)
		log_warnx("reload: %s", rerr);

	/* The request asking for this reload may be on the old socket. */
	if (ctl_changed)
		ev_timer_start(m.loop, &m.ctl_reopen);
	if (master_access_log(rerr, sizeof(rerr)) == -1)
		log_warnx("reload: %s; the workers keep the open one", rerr);

	gen = m.generation;
	if (provider_changed && m.conf.provider_kind == CONF_PROVIDER_KUBE) {
		/* Takes over in master_kube_cb() once synced; until then
		 * the running provider's routes serve. */
		provider_kube_free(m.pk_next);
		if ((m.pk_next = master_kube_new(&m.conf, rerr,
		    sizeof(rerr))) == NULL)
			log_warnx("reload: provider kube: %s; keeping the "
			    "running provider", rerr);
	} else if (provider_changed) {
		provider_kube_free(m.pk_next);
		m.pk_next = NULL;
		pf = provider_files_new(m.loop, m.conf.provider_dir,
		    m.conf.debounce_ms, master_store_cb, NULL);
		if (pf == NULL)
			log_warn("reload: provider.dir %s, keeping the "
			    "routes from %s", m.conf.provider_dir,
			    old.provider_dir);
		else {
			provider_files_free(m.pf);
			m.pf = pf;
		}
	} else if (m.pf != NULL)
		provider_files_reload(m.pf);
	/* Settings or class may have changed even when no file did. */
	if (m.generation == gen)
		master_publish();
	conf_free(&old);
	log_info("reload done, generation %llu",
	    (unsigned long long)m.generation);
	return 0;
}

static struct json_object *
master_ctl_status(void *arg, char *err, size_t errlen)
{
	struct json_object *o, *ws, *wo;
	struct supervise_worker *w;
	uint64_t now = util_now_ms();
	int i;

	o = json_object_new_object();
	json_object_object_add(o, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int64(getpid()));
	json_object_object_add(o, "config",
	    json_object_new_string(m.config_path));
	json_object_object_add(o, "started", json_object_new_int64(m.started));
	json_object_object_add(o, "uptime_s", json_object_new_int64(
	    (int64_t)((util_now_ms() - m.started_ms) / 1000)));
	json_object_object_add(o, "generation",
	    json_object_new_int64((int64_t)m.generation));
	json_object_object_add(o, "applied",
	    json_object_new_boolean(m.sv.applied));
	json_object_object_add(o, "route_errors",
	    json_object_new_int64((int64_t)m.last_errors));
	json_object_object_add(o, "stopping",
	    json_object_new_boolean(m.stopping));
	ws = json_object_new_array();
	for (i = 0; i < m.sv.nw; i++) {
		if ((w = m.sv.w[i]) == NULL)
			continue;
		wo = json_object_new_object();
		json_object_object_add(wo, "id", json_object_new_int(w->id));
		json_object_object_add(wo, "pid",
		    json_object_new_int64(w->pid));
		json_object_object_add(wo, "restarts",
		    json_object_new_int64(w->restarts));
		json_object_object_add(wo, "generation",
		    json_object_new_int64((int64_t)w->acked));
		json_object_object_add(wo, "connections",
		    json_object_new_int64((int64_t)w->conns));
		json_object_object_add(wo, "requests",
		    json_object_new_int64((int64_t)w->requests));
		json_object_object_add(wo, "draining",
		    json_object_new_boolean(w->draining));
		json_object_object_add(wo, "uptime_s", json_object_new_int64(
		    w->pid == -1 ? 0 : (int64_t)((now - w->started_ms) /
		    1000)));
		/* When it applied its generation: wall clock, and the
		 * latency from publishing the current one. */
		json_object_object_add(wo, "applied_at", w->acked_ms == 0 ?
		    NULL : json_object_new_int64((int64_t)time(NULL) * 1000 -
		    (int64_t)(now - w->acked_ms)));
		json_object_object_add(wo, "apply_latency_ms",
		    w->acked == m.sv.generation && w->acked_ms >=
		    m.sv.published_ms && w->acked_ms != 0 ?
		    json_object_new_int64((int64_t)(w->acked_ms -
		    m.sv.published_ms)) : NULL);
		json_object_array_add(ws, wo);
	}
	json_object_object_add(o, "workers", ws);
	if (m.pk != NULL)
		json_object_object_add(o, "provider",
		    provider_kube_status(m.pk));
	else {
		ws = json_object_new_object();
		json_object_object_add(ws, "kind",
		    json_object_new_string("files"));
		json_object_object_add(ws, "dir",
		    json_object_new_string(m.conf.provider_dir));
		json_object_object_add(ws, "synced",
		    json_object_new_boolean(m.store != NULL));
		json_object_object_add(o, "provider", ws);
	}
	json_object_object_add(o, "ready",
	    json_object_new_boolean(master_provider_ready()));
	return o;
}

static struct json_object *
master_ctl_route(const struct route_table *rt, const char *host,
    const char *path, const char *type, uint32_t backend, const char *source)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "host", json_object_new_string(host));
	json_object_object_add(r, "path", json_object_new_string(path));
	json_object_object_add(r, "type", json_object_new_string(type));
	json_object_object_add(r, "backend", json_object_new_string(
	    backend < rt->nbackends ? rt->backends[backend].name : "?"));
	json_object_object_add(r, "source",
	    json_object_new_string(source != NULL ? source : ""));
	return r;
}

static struct json_object *
master_ctl_routes(void *arg, char *err, size_t errlen)
{
	const struct route_table *rt = &m.last.rt;
	const struct route_path *p;
	struct json_object *o, *a;
	size_t h, i;

	o = json_object_new_object();
	json_object_object_add(o, "generation",
	    json_object_new_int64((int64_t)m.generation));
	a = json_object_new_array();
	for (h = 0; m.have_last && h < rt->nhosts; h++)
		for (i = 0; i < rt->hosts[h].npaths; i++) {
			p = &rt->hosts[h].paths[i];
			json_object_array_add(a, master_ctl_route(rt,
			    rt->hosts[h].host[0] != '\0' ? rt->hosts[h].host :
			    "*", p->path, p->type == ROUTE_PATH_EXACT ?
			    "Exact" : "Prefix", p->backend, p->source));
		}
	if (m.have_last && rt->default_backend >= 0)
		json_object_array_add(a, master_ctl_route(rt, "*", "*",
		    "default", (uint32_t)rt->default_backend,
		    rt->default_source));
	json_object_object_add(o, "routes", a);
	return o;
}

static const char *const master_policy_names[] = {
	[ROUTE_POLICY_ROUND_ROBIN] = "round-robin",
	[ROUTE_POLICY_LEAST_REQUEST] = "least-request",
	[ROUTE_POLICY_HASH_SOURCE] = "hash-source",
	[ROUTE_POLICY_HASH_HEADER] = "hash-header",
	[ROUTE_POLICY_HASH_COOKIE] = "hash-cookie",
	[ROUTE_POLICY_STICKY_COOKIE] = "sticky-cookie",
};

static struct json_object *
master_ctl_backends(void *arg, char *err, size_t errlen)
{
	const struct route_table *rt = &m.last.rt;
	const struct route_backend *b;
	struct json_object *o, *a, *bo, *eps, *hs;
	const struct ipc_health *dh;
	char addr[UTIL_ADDRSTRLEN], why[128];
	size_t i, j;

	o = json_object_new_object();
	json_object_object_add(o, "generation",
	    json_object_new_int64((int64_t)m.generation));
	a = json_object_new_array();
	for (i = 0; m.have_last && i < rt->nbackends; i++) {
		b = &rt->backends[i];
		bo = json_object_new_object();
		json_object_object_add(bo, "name",
		    json_object_new_string(b->name));
		json_object_object_add(bo, "policy", json_object_new_string(
		    b->policy < UTIL_NELEM(master_policy_names) ?
		    master_policy_names[b->policy] : "?"));
		eps = json_object_new_array();
		hs = json_object_new_array();
		for (j = 0; j < b->nendpoints; j++) {
			json_object_array_add(eps, json_object_new_string(
			    util_format_sockaddr((const struct sockaddr *)
			    &b->endpoints[j].addr, addr, sizeof(addr))));
			dh = healthtab_find(&m.health, (const struct sockaddr *)
			    &b->endpoints[j].addr);
			json_object_array_add(hs, json_object_new_string(
			    dh == NULL ? "up" : hc_describe(dh->result,
			    dh->detail, why, sizeof(why))));
		}
		json_object_object_add(bo, "endpoints", eps);
		json_object_object_add(bo, "health", hs);
		json_object_object_add(bo, "available", json_object_new_int64(
		    (int64_t)healthtab_available(&m.health, b)));
		json_object_object_add(bo, "all_down", json_object_new_string(
		    b->health.all_down == ROUTE_ALL_DOWN_FAIL_OPEN ?
		    "fail-open" : "fail-closed"));
		json_object_array_add(a, bo);
	}
	json_object_object_add(o, "backends", a);
	stats_annotate_backends(m.stats, o);
	return o;
}

/*
 * Readiness: the routes reflect a complete view of the provider (kube:
 * every resource listed once; files: the directory loaded).  For the
 * status document now and the admin listener's /readyz later.
 */
int
master_provider_ready(void)
{
	if (m.pk != NULL)
		return provider_kube_synced(m.pk);
	return m.store != NULL;
}

static int
master_ctl_reload(void *arg, char *err, size_t errlen)
{
	if (m.stopping) {
		snprintf(err, errlen, "stopping");
		return -1;
	}
	log_info("reload requested over the control socket");
	return master_reload(err, errlen);
}
