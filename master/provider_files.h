/*
 * provider_files: the "files" provider.  Reads a directory of YAML/JSON
 * manifests (every *.yaml, *.yml and *.json directly in it, in name order)
 * into a complete new store, and reloads it when inotify reports a change
 * there, after a short quiet period.  Runs in the master, on its libev
 * loop; it never touches client traffic.
 */
#ifndef INGRESSD_PROVIDER_FILES_H
#define INGRESSD_PROVIDER_FILES_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct store;
struct provider_files;

/*
 * Called with a complete new store (ownership passes to the callee) after
 * each (re)load; <nerrors> counts documents skipped.
 */
typedef void (*provider_files_cb)(void *arg, struct store *st, int nerrors);

/*
 * Loads <dir> once synchronously (calling <cb> before returning), then
 * watches it with inotify and reloads after <debounce_ms> of quiet,
 * coalescing bursts.  A file that was fully good once and now has errors
 * is read from its last good version, which <pf> remembers; its errors
 * still count.  NULL with errno on failure to set up the watch.
 */
struct provider_files *provider_files_new(struct ev_loop *loop,
	    const char *dir, uint32_t debounce_ms, provider_files_cb cb,
	    void *arg);

/* Reloads now, e.g. on SIGHUP. */
void	provider_files_reload(struct provider_files *pf);

/* Stops the watchers and frees <pf>; NULL-safe. */
void	provider_files_free(struct provider_files *pf);

/*
 * One-shot synchronous load, for --check and tests (nothing remembered:
 * bad documents are skipped): a new store and the number of skipped
 * documents in *<nerrors>; NULL only on ENOMEM or an
 * unreadable directory (<err> says why).
 */
struct store *provider_files_load(const char *dir, int *nerrors, char *err,
	    size_t errlen);

#endif
