/*
 * kubeconfig: where the API server is and how to authenticate to it.
 *
 * Either in-cluster (KUBERNETES_SERVICE_HOST/_PORT and the service
 * account's token, ca.crt and namespace files) or a kubeconfig file
 * (current-context -> cluster server, certificate-authority[-data],
 * insecure-skip-tls-verify; user token, tokenFile,
 * client-certificate[-data], client-key[-data]; context namespace).  The
 * file is read with manifest.c (YAML or JSON).  Runs in the master; reads
 * operator files only.
 */
#ifndef INGRESSD_KUBECONFIG_H
#define INGRESSD_KUBECONFIG_H

#include <sys/types.h>
#include <stddef.h>
#include <time.h>

#define KUBECONFIG_MAX_FILE	(1u << 20)	/* kubeconfig, ca.crt */
#define KUBECONFIG_MAX_TOKEN	(64u << 10)
/* Test-only: replaces /var/run/secrets/kubernetes.io/serviceaccount. */
#define KUBECONFIG_SA_DIR_ENV	"INGRESSD_SERVICEACCOUNT_DIR"
#define KUBECONFIG_SA_DIR	"/var/run/secrets/kubernetes.io/serviceaccount"

struct kubeconfig {
	char		*server;	/* "https://host:port", no trailing / */
	char		*ca_file;	/* NULL: none */
	char		*ca_data;	/* PEM (decoded), NULL: none */
	size_t		 ca_data_len;
	int		 insecure;	/* insecure-skip-tls-verify */
	char		*cert_file, *key_file;
	char		*cert_data, *key_data;	/* PEM (decoded) */
	size_t		 cert_data_len, key_data_len;
	char		*namespace;	/* context or in-cluster; NULL: none */

	char		*token;		/* current bearer token; NULL: none */
	char		*token_file;	/* re-read when it changes */
	struct timespec	 token_mtime;
	ino_t		 token_ino;
	off_t		 token_size;
};

/*
 * Fills <kc> from the kubeconfig at <path>, or in-cluster when <path> is
 * NULL.  Returns 0, or -1 with the reason (naming the file and field) in
 * <err>; <kc> is then empty.  Paths in a kubeconfig are relative to its
 * directory.
 */
int	kubeconfig_load(const char *path, struct kubeconfig *kc, char *err,
	    size_t errlen);

/* Same, from memory, for tests and fuzzing; <dir> resolves relative paths. */
int	kubeconfig_parse(const char *name, const char *buf, size_t len,
	    const char *dir, struct kubeconfig *kc, char *err, size_t errlen);

/*
 * Re-reads the token file when its mtime, inode or size changed (bound
 * service-account tokens rotate).  Returns 1 when the token changed, 0
 * when not, -1 (with <err>) when the file could not be read: the previous
 * token is kept.
 */
int	kubeconfig_refresh_token(struct kubeconfig *kc, char *err,
	    size_t errlen);

void	kubeconfig_free(struct kubeconfig *kc);

#endif
