/*
 * provider_files: a directory of manifests -> a complete new store, again
 * each time the directory changes.
 *
 * Runs in the master, on its libev loop.  It reads operators' files, never
 * client traffic.  A bad document (or an unreadable file) is logged as
 * "FILE doc N (line L): reason" and skipped; everything else still loads,
 * so one typo never takes the other routes down.  A reload that cannot
 * read the directory at all keeps the current store (no callback).
 *
 * The watching provider also remembers, per file name, the content of the
 * file's last fully good version (every document parsed, every object
 * valid).  When a file that had one now has any error, the error is still
 * logged and counted, but the file is read from that content instead, so
 * a broken rewrite does not take its routes away.  A file that never was
 * good loads its valid documents only; a deleted file's objects go, and so
 * does its remembered content.
 *
 * Changes are seen with inotify on the directory itself and on its parent
 * (for the directory being created, deleted, renamed or re-pointed when it
 * is a symlink).  Every event in the directory counts, hidden names too:
 * a Kubernetes ConfigMap volume updates by swapping its "..data" symlink.
 * Bursts are coalesced: a reload runs after <debounce_ms> of quiet, and at
 * the latest PF_MAX_WAIT_FACTOR debounce periods after the first event.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#include "common/log.h"
#include "master/manifest.h"
#include "master/objects.h"
#include "master/store.h"
#include "master/provider_files.h"

#define PF_DIR_MASK	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | \
			    IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
			    IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR)
#define PF_PARENT_MASK	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
			    IN_ATTRIB | IN_ONLYDIR)
#define PF_MAX_WAIT_FACTOR	10
#define PF_MAX_FILES		10000
#define PF_KEEP			"; keeping its last good version"

/*
 * The last good version of a manifest: its bytes when every document in
 * it parsed and every object was valid.  There is at most one entry per
 * file name, each at most MANIFEST_MAX_FILE_SIZE bytes (pf_read_file()
 * refuses more); a good reread replaces the entry, and entries of files
 * no longer in the directory are dropped after each complete load.  So the
 * cache never holds more than one copy of the directory's good content.
 */
struct pf_good {
	char		*name;		/* in the directory */
	char		*buf;
	size_t		 len;
	uint64_t	 seen;		/* the last load that saw the file */
};

struct pf_cache {
	struct pf_good	*v;		/* sorted by name */
	size_t		 n;
	size_t		 cap;
	uint64_t	 gen;		/* loads so far */
};

struct provider_files {
	struct ev_loop	*loop;
	char		*dir;
	char		*parent;	/* NULL: not watched ("." or "/") */
	char		*base;		/* <dir>'s name in <parent> */
	double		 debounce;	/* seconds */
	provider_files_cb cb;
	void		*arg;
	int		 fd;		/* inotify */
	int		 wd_dir;	/* -1: not watched (missing) */
	int		 wd_parent;
	int		 pending;	/* a reload is scheduled */
	double		 first;		/* ev_now() of the first event */
	struct pf_cache	 good;		/* last good version of each file */
	ev_io		 io;
	ev_timer	 timer;
};

#define PF_FROM(w, member) \
	((struct provider_files *)(void *)((char *)(w) - \
	    offsetof(struct provider_files, member)))

/* An object parsed from the current file, not in the store yet. */
struct pf_obj {
	struct obj	*o;
	int		 line;
};

/* One load in progress. */
struct pf_load {
	struct store	*st;
	const char	*path;		/* the file being read */
	struct pf_obj	*objs;		/* the file's objects, in order */
	size_t		 nobjs;
	size_t		 capobjs;
	int		 ferrors;	/* errors in the file being read */
	int		 kept;		/* it has a last good version */
	int		 nerrors;
	int		 nomem;
};

static int
pf_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Manifests are *.yaml, *.yml and *.json, never hidden files. */
static int
pf_is_manifest(const char *name)
{
	size_t len = strlen(name);

	if (name[0] == '.')
		return 0;
	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	    (len > 4 && strcmp(name + len - 4, ".yml") == 0) ||
	    (len > 5 && strcmp(name + len - 5, ".json") == 0);
}

/*
 * manifest_parse() callback: a document becomes an object, with its
 * origin, in the file's list (pf_commit() moves the list into the store
 * once the whole file is known good or not); a bad one is logged and
 * counted.
 */
static void
pf_doc(void *arg, int docno, int line, struct json_object *doc,
    const char *err)
{
	struct pf_load *l = arg;
	struct pf_obj *no;
	struct obj *o;
	const char *reason;
	char why[512], origin[PATH_MAX + 32];
	size_t plen = strlen(l->path);
	int rc;

	if (l->nomem)
		return;
	if (doc == NULL) {
		/* "path:LINE: reason": show the error's own line. */
		reason = err;
		if (strncmp(err, l->path, plen) == 0 && err[plen] == ':') {
			line = atoi(err + plen + 1);
			if ((reason = strstr(err + plen + 1, ": ")) != NULL)
				reason += 2;
			else
				reason = err;
		}
		log_warnx("%s doc %d (line %d): %s%s", l->path, docno, line,
		    reason, l->kept ? PF_KEEP : "");
		l->nerrors++;
		l->ferrors++;
		return;
	}
	rc = objects_from_json(doc, &o, why, sizeof(why));
	if (rc == 1) {
		log_debug("%s doc %d (line %d): not a kind ingressd reads",
		    l->path, docno, line);
		return;
	}
	if (rc == -1) {
		log_warnx("%s doc %d (line %d): %s%s", l->path, docno, line,
		    why, l->kept ? PF_KEEP : "");
		l->nerrors++;
		l->ferrors++;
		return;
	}
	snprintf(origin, sizeof(origin), "%s doc %d", l->path, docno);
	if ((o->origin = strdup(origin)) == NULL) {
		objects_free(o);
		l->nomem = 1;
		return;
	}
	if (l->nobjs == l->capobjs) {
		if ((no = reallocarray(l->objs, l->capobjs ?
		    l->capobjs * 2 : 16, sizeof(*l->objs))) == NULL) {
			objects_free(o);
			l->nomem = 1;
			return;
		}
		l->objs = no;
		l->capobjs = l->capobjs ? l->capobjs * 2 : 16;
	}
	l->objs[l->nobjs].o = o;
	l->objs[l->nobjs].line = line;
	l->nobjs++;
}

/* Frees the file's objects: it is read from its last good version. */
static void
pf_discard(struct pf_load *l)
{
	size_t i;

	for (i = 0; i < l->nobjs; i++)
		objects_free(l->objs[i].o);
	l->nobjs = 0;
}

/* Moves the file's objects into the store, in document order. */
static void
pf_commit(struct pf_load *l)
{
	const struct obj *old;
	struct obj *o;
	size_t i;

	for (i = 0; i < l->nobjs; i++) {
		o = l->objs[i].o;
		if (l->nomem) {
			objects_free(o);
			continue;
		}
		if ((old = store_get(l->st, o->kind, o->meta.namespace,
		    o->meta.name)) != NULL)
			log_warnx("%s (line %d): %s %s/%s replaces the one "
			    "from %s", o->origin, l->objs[i].line,
			    objects_kind_name(o->kind), o->meta.namespace,
			    o->meta.name, old->origin ? old->origin : "?");
		if (store_put(l->st, o) == -1)
			l->nomem = 1;
	}
	l->nobjs = 0;
}

/*
 * The entry for <name> in <c>, or NULL; *<at> is where it is or would be
 * inserted.
 */
static struct pf_good *
pf_good_find(struct pf_cache *c, const char *name, size_t *at)
{
	size_t lo = 0, hi = c->n, mid;
	int cmp;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((cmp = strcmp(name, c->v[mid].name)) == 0) {
			*at = mid;
			return &c->v[mid];
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return NULL;
}

/*
 * Makes <buf> (<len> bytes, malloc'ed) the last good version of <name>,
 * freeing the previous one.  Takes <buf> on success; -1 (ENOMEM) leaves
 * it to the caller and <c> unchanged.
 */
static int
pf_good_set(struct pf_cache *c, const char *name, char *buf, size_t len)
{
	struct pf_good *g, *nv;
	size_t at, ncap;

	if ((g = pf_good_find(c, name, &at)) == NULL) {
		if (c->n == c->cap) {
			ncap = c->cap ? c->cap * 2 : 32;
			if ((nv = reallocarray(c->v, ncap,
			    sizeof(*c->v))) == NULL)
				return -1;
			c->v = nv;
			c->cap = ncap;
		}
		g = &c->v[at];
		memmove(g + 1, g, (c->n - at) * sizeof(*g));
		memset(g, 0, sizeof(*g));
		if ((g->name = strdup(name)) == NULL) {
			memmove(g, g + 1, (c->n - at) * sizeof(*g));
			return -1;
		}
		c->n++;
	}
	free(g->buf);
	g->buf = buf;
	g->len = len;
	g->seen = c->gen;
	return 0;
}

/* After a complete load: forgets the files it did not see. */
static void
pf_good_sweep(struct pf_cache *c)
{
	size_t i, j;

	for (i = j = 0; i < c->n; i++) {
		if (c->v[i].seen != c->gen) {
			free(c->v[i].name);
			free(c->v[i].buf);
			continue;
		}
		c->v[j++] = c->v[i];
	}
	c->n = j;
}

static void
pf_good_clear(struct pf_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].buf);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/*
 * Reads <path> (following symlinks) into a new buffer, refusing anything
 * but a regular file of at most MANIFEST_MAX_FILE_SIZE bytes.  Returns 0,
 * or -1 with a reason in <err> and errno set.
 */
static int
pf_read_file(const char *path, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0, cap;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		errno = EINVAL;
		goto fail;
	}
	/* One byte more than the cap tells a file that grew past it. */
	cap = (size_t)sb.st_size < MANIFEST_MAX_FILE_SIZE ?
	    (size_t)sb.st_size + 1 : MANIFEST_MAX_FILE_SIZE + 1;
	if ((buf = malloc(cap)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MANIFEST_MAX_FILE_SIZE) {
		snprintf(err, errlen, "larger than %u bytes",
		    MANIFEST_MAX_FILE_SIZE);
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
 fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Loads the file <name> at l->path into l->st.  With a cache <good>, a
 * file that is fully good becomes its last good version, and one with any
 * error that has a last good version is read from it instead (its errors
 * still count).  Returns 0, or -1 when out of memory.
 */
static int
pf_load_file(struct pf_load *l, struct pf_cache *good, const char *name)
{
	struct pf_good *g = NULL;
	char why[256], *buf;
	size_t at, len;

	if (good != NULL)
		g = pf_good_find(good, name, &at);
	l->ferrors = 0;
	l->kept = g != NULL;
	if (pf_read_file(l->path, &buf, &len, why, sizeof(why)) == -1) {
		if (errno == ENOMEM)
			return -1;
		/* Gone since readdir(), or a dangling link: deleted. */
		if (errno == ENOENT)
			g = NULL;
		log_warnx("%s: %s%s", l->path, why, g != NULL ? PF_KEEP : "");
		l->nerrors++;
		if (g == NULL)
			return 0;
		goto keep;
	}
	manifest_parse(l->path, buf, len, pf_doc, l);
	if (l->nomem) {
		free(buf);
		return -1;
	}
	if (l->ferrors == 0 || g == NULL) {
		pf_commit(l);
		if (l->ferrors == 0 && good != NULL && !l->nomem) {
			if (pf_good_set(good, name, buf, len) == 0)
				buf = NULL;
			else
				l->nomem = 1;
		}
		free(buf);
		return l->nomem ? -1 : 0;
	}
	free(buf);
	pf_discard(l);
 keep:
	/* Known good: it parses as it did, without errors. */
	g->seen = good->gen;
	l->kept = 0;
	manifest_parse(l->path, g->buf, g->len, pf_doc, l);
	if (!l->nomem)
		pf_commit(l);
	return l->nomem ? -1 : 0;
}

/*
 * provider_files_load(), remembering last good versions in <good> when it
 * is not NULL.
 */
static struct store *
pf_load_dir(const char *dir, struct pf_cache *good, int *nerrors, char *err,
    size_t errlen)
{
	struct pf_load l;
	struct dirent *de;
	struct stat sb;
	DIR *d = NULL;
	char **names = NULL, **nn, path[PATH_MAX];
	size_t i, n = 0, cap = 0;
	int saved;

	memset(&l, 0, sizeof(l));
	*nerrors = 0;
	if (good != NULL)
		good->gen++;
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!pf_is_manifest(de->d_name))
			continue;
		if (n == PF_MAX_FILES) {
			log_warnx("%s: more than %d manifests, the rest are "
			    "ignored", dir, PF_MAX_FILES);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nn = reallocarray(names, cap,
			    sizeof(*names))) == NULL)
				goto nomem;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto nomem;
		n++;
		errno = 0;
	}
	if (errno != 0 && de == NULL) {
		saved = errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		errno = saved;
		goto fail;
	}
	closedir(d);
	d = NULL;
	if (n > 0)
		qsort(names, n, sizeof(*names), pf_name_cmp);

	if ((l.st = store_new()) == NULL)
		goto nomem;
	for (i = 0; i < n && !l.nomem; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]) >= sizeof(path))
			continue;
		/* Directories named like manifests are not manifests. */
		if (stat(path, &sb) != -1 && S_ISDIR(sb.st_mode))
			continue;
		l.path = path;
		if (pf_load_file(&l, good, names[i]) == -1)
			goto nomem;
	}
	if (l.nomem)
		goto nomem;
	if (good != NULL)
		pf_good_sweep(good);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(l.objs);
	*nerrors = l.nerrors;
	return l.st;
 nomem:
	snprintf(err, errlen, "%s: out of memory", dir);
	errno = ENOMEM;
 fail:
	saved = errno;
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	pf_discard(&l);
	free(l.objs);
	store_free(l.st);
	errno = saved;
	return NULL;
}

struct store *
provider_files_load(const char *dir, int *nerrors, char *err, size_t errlen)
{
	return pf_load_dir(dir, NULL, nerrors, err, errlen);
}

/*
 * (Re)arms the watches that are missing; -1 (errno set) only when the
 * directory exists but cannot be watched.
 */
static int
pf_arm(struct provider_files *pf)
{
	if (pf->parent != NULL && pf->wd_parent == -1)
		pf->wd_parent = inotify_add_watch(pf->fd, pf->parent,
		    PF_PARENT_MASK);
	if (pf->wd_dir == -1) {
		pf->wd_dir = inotify_add_watch(pf->fd, pf->dir, PF_DIR_MASK);
		if (pf->wd_dir == -1 && errno != ENOENT && errno != ENOTDIR)
			return -1;
	}
	return 0;
}

/* Drops the directory's watch, e.g. when its name now points elsewhere. */
static void
pf_disarm_dir(struct provider_files *pf)
{
	if (pf->wd_dir != -1)
		inotify_rm_watch(pf->fd, pf->wd_dir);
	pf->wd_dir = -1;
}

/* Loads now and hands the store over; keeps the current one on failure. */
static void
pf_reload_now(struct provider_files *pf)
{
	struct store *st;
	char err[PATH_MAX + 64];
	int nerrors;

	ev_timer_stop(pf->loop, &pf->timer);
	pf->pending = 0;
	if (pf_arm(pf) == -1)
		log_warn("%s: cannot watch", pf->dir);
	if ((st = pf_load_dir(pf->dir, &pf->good, &nerrors, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s; keeping the current objects", err);
		return;
	}
	log_info("%s: loaded %zu ingresses, %zu services, %zu endpoint "
	    "slices, %zu endpoints, %zu secrets, %zu classes (%d documents "
	    "skipped)", pf->dir, store_count(st, OBJ_INGRESS),
	    store_count(st, OBJ_SERVICE), store_count(st, OBJ_ENDPOINT_SLICE),
	    store_count(st, OBJ_ENDPOINTS), store_count(st, OBJ_SECRET),
	    store_count(st, OBJ_INGRESS_CLASS), nerrors);
	pf->cb(pf->arg, st, nerrors);
}

/* Debounce: quiet for <debounce>, but never later than the max wait. */
static void
pf_schedule(struct provider_files *pf)
{
	double now = ev_now(pf->loop), delay = pf->debounce, limit;

	if (!pf->pending) {
		pf->pending = 1;
		pf->first = now;
	}
	limit = pf->first + pf->debounce * PF_MAX_WAIT_FACTOR;
	if (now + delay > limit)
		delay = limit > now ? limit - now : 0.;
	ev_timer_stop(pf->loop, &pf->timer);
	ev_timer_set(&pf->timer, delay, 0.);
	ev_timer_start(pf->loop, &pf->timer);
}

static void
pf_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	pf_reload_now(PF_FROM(w, timer));
}

static void
pf_event(struct provider_files *pf, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		pf_schedule(pf);
		return;
	}
	if (ev->wd == pf->wd_dir && pf->wd_dir != -1) {
		if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
			/* Gone or moved away: watch the name again. */
			if (ev->mask & IN_IGNORED)
				pf->wd_dir = -1;
			else
				pf_disarm_dir(pf);
		}
		pf_schedule(pf);
		return;
	}
	if (ev->wd == pf->wd_parent && pf->wd_parent != -1) {
		if (ev->mask & IN_IGNORED) {
			pf->wd_parent = -1;
			return;
		}
		if (ev->len == 0 || strcmp(ev->name, pf->base) != 0)
			return;
		/* The name may now point at another directory. */
		pf_disarm_dir(pf);
		if (pf_arm(pf) == -1)
			log_warn("%s: cannot watch", pf->dir);
		pf_schedule(pf);
	}
}

static void
pf_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct provider_files *pf = PF_FROM(w, io);
	char buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	size_t off;

	for (;;) {
		n = read(pf->fd, buf, sizeof(buf));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("%s: inotify read", pf->dir);
			break;
		}
		if (n == 0)
			break;
		for (off = 0; off + sizeof(*ev) <= (size_t)n;
		    off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)(buf + off);
			pf_event(pf, ev);
		}
	}
	/* The directory may have come back under its name. */
	if (pf->wd_dir == -1 && pf_arm(pf) == 0 && pf->wd_dir != -1)
		pf_schedule(pf);
}

/* Splits <dir> into parent and base; the parent is not watched for "."
 * or "/" (nothing to rename there). */
static int
pf_split(struct provider_files *pf)
{
	char *copy, *slash;
	size_t len;

	if ((copy = strdup(pf->dir)) == NULL)
		return -1;
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	if (strcmp(copy, ".") == 0 || strcmp(copy, "..") == 0 ||
	    strcmp(copy, "/") == 0) {
		free(copy);
		return 0;
	}
	if ((slash = strrchr(copy, '/')) == NULL) {
		pf->base = copy;
		if ((pf->parent = strdup(".")) == NULL)
			return -1;
		return 0;
	}
	if ((pf->base = strdup(slash + 1)) == NULL) {
		free(copy);
		return -1;
	}
	if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	pf->parent = copy;
	if (strcmp(pf->base, ".") == 0 || strcmp(pf->base, "..") == 0) {
		free(pf->parent);
		free(pf->base);
		pf->parent = pf->base = NULL;
	}
	return 0;
}

struct provider_files *
provider_files_new(struct ev_loop *loop, const char *dir,
    uint32_t debounce_ms, provider_files_cb cb, void *arg)
{
	struct provider_files *pf;
	struct store *st;
	char err[PATH_MAX + 64];
	int nerrors = 0, saved;

	if ((pf = calloc(1, sizeof(*pf))) == NULL)
		return NULL;
	pf->loop = loop;
	pf->fd = pf->wd_dir = pf->wd_parent = -1;
	pf->debounce = debounce_ms / 1000.;
	pf->cb = cb;
	pf->arg = arg;
	if ((pf->dir = strdup(dir)) == NULL || pf_split(pf) == -1)
		goto fail;
	if ((pf->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		goto fail;
	if (pf_arm(pf) == -1)
		goto fail;
	if (pf->wd_dir == -1)
		log_warnx("%s: no such directory; %s", dir,
		    pf->wd_parent != -1 ? "waiting for it to appear" :
		    "its parent cannot be watched either, send SIGHUP once "
		    "it exists");
	ev_io_init(&pf->io, pf_io_cb, pf->fd, EV_READ);
	ev_timer_init(&pf->timer, pf_timer_cb, 0., 0.);

	if ((st = pf_load_dir(dir, &pf->good, &nerrors, err,
	    sizeof(err))) == NULL) {
		if (errno == ENOMEM)
			goto fail;
		log_warnx("%s; starting with no objects", err);
		if ((st = store_new()) == NULL) {
			errno = ENOMEM;
			goto fail;
		}
		nerrors = 0;
	}
	ev_io_start(loop, &pf->io);
	cb(arg, st, nerrors);
	return pf;
 fail:
	saved = errno;
	if (pf->fd != -1)
		close(pf->fd);
	pf_good_clear(&pf->good);
	free(pf->dir);
	free(pf->parent);
	free(pf->base);
	free(pf);
	errno = saved;
	return NULL;
}

void
provider_files_reload(struct provider_files *pf)
{
	pf_reload_now(pf);
}

void
provider_files_free(struct provider_files *pf)
{
	if (pf == NULL)
		return;
	ev_io_stop(pf->loop, &pf->io);
	ev_timer_stop(pf->loop, &pf->timer);
	close(pf->fd);
	pf_good_clear(&pf->good);
	free(pf->dir);
	free(pf->parent);
	free(pf->base);
	free(pf);
}
