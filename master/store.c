/*
 * store: the master's set of Kubernetes objects, one table per kind.
 *
 * Runs in the master only, on its one thread; both providers write it and
 * compile reads it.  It never parses anything and never logs: objects come
 * in already validated by objects.c and leave through objects_free().
 *
 * Each kind is an open-addressing hash (linear probing, backward-shift
 * deletion) keyed by namespace and name, so a watch event costs O(1)
 * whatever the cluster size, plus a sorted view built lazily on the first
 * store_at() after a change.  A compile walks every object once, so one
 * O(n log n) sort per compile is cheap, while keeping a sorted array up to
 * date would cost a memmove per unordered insert (quadratic on a 100k
 * object directory of manifests).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/objects.h"
#include "master/store.h"

#define STORE_MIN_SLOTS	16		/* power of two */

struct store_slot {
	uint64_t	 hash;
	struct obj	*obj;		/* NULL: empty slot */
};

struct store_kind {
	struct store_slot *slots;
	size_t		 nslots;	/* power of two, or 0 */
	size_t		 count;
	struct obj	**sorted;	/* namespace/name order, or NULL */
	int		 sorted_valid;
};

struct store {
	struct store_kind kinds[OBJ_KIND_COUNT];
	uint64_t	 version;
	/* since store_changes_reset(): see store_endpoint_changes() */
	int		 changed_other;
	size_t		 nchanged;
	char		*changed_ns[STORE_MAX_CHANGED_SERVICES];
	char		*changed_svc[STORE_MAX_CHANGED_SERVICES];
};

static const char *
store_ns(const struct obj *o)
{
	return o->meta.namespace != NULL ? o->meta.namespace : "";
}

static const char *
store_name(const struct obj *o)
{
	return o->meta.name != NULL ? o->meta.name : "";
}

/* FNV-1a over namespace, a NUL separator and name. */
static uint64_t
store_hash(const char *ns, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)ns; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h *= 0x100000001b3ULL;		/* the separator, a zero byte */
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

static int
store_cmp(const void *a, const void *b)
{
	const struct obj *oa = *(const struct obj *const *)a;
	const struct obj *ob = *(const struct obj *const *)b;
	int c;

	if ((c = strcmp(store_ns(oa), store_ns(ob))) != 0)
		return c;
	return strcmp(store_name(oa), store_name(ob));
}

/*
 * Index of the slot holding <ns>/<name>, or of the empty slot where it
 * would go.  The table must have at least one empty slot.
 */
static size_t
store_find(const struct store_kind *k, uint64_t h, const char *ns,
    const char *name)
{
	size_t mask = k->nslots - 1, i;
	const struct obj *o;

	for (i = h & mask; (o = k->slots[i].obj) != NULL; i = (i + 1) & mask)
		if (k->slots[i].hash == h && strcmp(store_ns(o), ns) == 0 &&
		    strcmp(store_name(o), name) == 0)
			break;
	return i;
}

/* Doubles the table (or creates it); 0 or -1 on ENOMEM, table intact. */
static int
store_grow(struct store_kind *k)
{
	struct store_slot *old = k->slots, *slots;
	size_t oldn = k->nslots, n, i, j, mask;

	n = oldn == 0 ? STORE_MIN_SLOTS : oldn * 2;
	if (n < oldn || (slots = calloc(n, sizeof(*slots))) == NULL)
		return -1;
	mask = n - 1;
	for (i = 0; i < oldn; i++) {
		if (old[i].obj == NULL)
			continue;
		for (j = old[i].hash & mask; slots[j].obj != NULL;
		    j = (j + 1) & mask)
			;
		slots[j] = old[i];
	}
	free(old);
	k->slots = slots;
	k->nslots = n;
	return 0;
}

/* Remembers Service <ns>/<svc> as changed, or that too many did. */
static void
store_note_service(struct store *st, const char *ns, const char *svc)
{
	size_t i;

	if (st->changed_other)
		return;
	for (i = 0; i < st->nchanged; i++)
		if (strcmp(st->changed_ns[i], ns) == 0 &&
		    strcmp(st->changed_svc[i], svc) == 0)
			return;
	if (st->nchanged == STORE_MAX_CHANGED_SERVICES ||
	    (st->changed_ns[i] = strdup(ns)) == NULL)
		goto other;
	if ((st->changed_svc[i] = strdup(svc)) == NULL) {
		free(st->changed_ns[i]);
		goto other;
	}
	st->nchanged++;
	return;
 other:
	st->changed_other = 1;
}

/* Notes what a put or delete of <o> can change in a compile. */
static void
store_note(struct store *st, const struct obj *o)
{
	if (o == NULL)
		return;
	if (o->kind == OBJ_ENDPOINT_SLICE) {
		/* A slice without the label belongs to no Service. */
		if (o->u.endpoint_slice.service_name != NULL)
			store_note_service(st, store_ns(o),
			    o->u.endpoint_slice.service_name);
	} else if (o->kind == OBJ_ENDPOINTS)
		store_note_service(st, store_ns(o), store_name(o));
	else
		st->changed_other = 1;
}

static void
store_changed(struct store *st, struct store_kind *k)
{
	st->version++;
	k->sorted_valid = 0;
}

/* Returns an empty store (caller frees with store_free()), or NULL. */
struct store *
store_new(void)
{
	return calloc(1, sizeof(struct store));
}

/* Frees <st> and every object in it; NULL is accepted. */
void
store_free(struct store *st)
{
	struct store_kind *k;
	size_t i, j;

	if (st == NULL)
		return;
	store_changes_reset(st);
	for (i = 0; i < OBJ_KIND_COUNT; i++) {
		k = &st->kinds[i];
		for (j = 0; j < k->nslots; j++)
			if (k->slots[j].obj != NULL)
				objects_free(k->slots[j].obj);
		free(k->slots);
		free(k->sorted);
	}
	free(st);
}

/*
 * Takes ownership of <o> and inserts it, replacing and freeing an object of
 * the same kind, namespace and name.  A NULL namespace is stored as ""
 * (cluster-scoped objects such as IngressClass).  Refuses (-1, <o> freed)
 * an unknown kind, a missing name, or when out of memory; the store is
 * then unchanged.
 */
int
store_put(struct store *st, struct obj *o)
{
	struct store_kind *k;
	uint64_t h;
	size_t i;

	if (o == NULL)
		return -1;
	if ((unsigned)o->kind >= OBJ_KIND_COUNT || o->meta.name == NULL)
		goto bad;
	k = &st->kinds[o->kind];
	/* Keep the load under one half so probes stay short. */
	if ((k->count + 1) * 2 > k->nslots && store_grow(k) == -1)
		goto bad;
	h = store_hash(store_ns(o), store_name(o));
	i = store_find(k, h, store_ns(o), store_name(o));
	store_note(st, k->slots[i].obj);
	store_note(st, o);
	if (k->slots[i].obj != NULL)
		objects_free(k->slots[i].obj);
	else
		k->count++;
	k->slots[i].hash = h;
	k->slots[i].obj = o;
	store_changed(st, k);
	return 0;
 bad:
	objects_free(o);
	return -1;
}

/*
 * Removes and frees the object <kind> <ns>/<name> (NULL <ns>: "").
 * Returns 1 when something was removed, else 0.
 */
int
store_delete(struct store *st, enum obj_kind kind, const char *ns,
    const char *name)
{
	struct store_kind *k;
	size_t mask, i, j, home;
	uint64_t h;

	if ((unsigned)kind >= OBJ_KIND_COUNT || name == NULL)
		return 0;
	k = &st->kinds[kind];
	if (k->count == 0)
		return 0;
	if (ns == NULL)
		ns = "";
	h = store_hash(ns, name);
	i = store_find(k, h, ns, name);
	if (k->slots[i].obj == NULL)
		return 0;
	store_note(st, k->slots[i].obj);
	objects_free(k->slots[i].obj);
	k->slots[i].obj = NULL;
	k->count--;

	/*
	 * Backward-shift deletion: pull later members of the probe run
	 * into the hole unless that would move them before their home
	 * slot, so lookups never need tombstones.
	 */
	mask = k->nslots - 1;
	for (j = (i + 1) & mask; k->slots[j].obj != NULL; j = (j + 1) & mask) {
		home = k->slots[j].hash & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			k->slots[i] = k->slots[j];
			k->slots[j].obj = NULL;
			i = j;
		}
	}
	store_changed(st, k);
	return 1;
}

/* The object <kind> <ns>/<name> (NULL <ns>: ""), owned by the store. */
const struct obj *
store_get(const struct store *st, enum obj_kind kind, const char *ns,
    const char *name)
{
	const struct store_kind *k;
	size_t i;

	if ((unsigned)kind >= OBJ_KIND_COUNT || name == NULL)
		return NULL;
	k = &st->kinds[kind];
	if (k->count == 0)
		return NULL;
	if (ns == NULL)
		ns = "";
	i = store_find(k, store_hash(ns, name), ns, name);
	return k->slots[i].obj;
}

size_t
store_count(const struct store *st, enum obj_kind kind)
{
	if ((unsigned)kind >= OBJ_KIND_COUNT)
		return 0;
	return st->kinds[kind].count;
}

/*
 * The <i>th object of <kind> in namespace/name order, owned by the store
 * and valid until the next put or delete; NULL past the end.  The first
 * call after a change sorts; it writes only the sorted view, a cache the
 * caller cannot observe, hence the const argument.  NULL also when that
 * sort cannot allocate.
 */
const struct obj *
store_at(const struct store *cst, enum obj_kind kind, size_t i)
{
	struct store *st = (struct store *)cst;
	struct store_kind *k;
	struct obj **sorted;
	size_t j, n;

	if ((unsigned)kind >= OBJ_KIND_COUNT)
		return NULL;
	k = &st->kinds[kind];
	if (i >= k->count)
		return NULL;
	if (!k->sorted_valid) {
		if ((sorted = reallocarray(k->sorted, k->count,
		    sizeof(*sorted))) == NULL)
			return NULL;
		k->sorted = sorted;
		for (j = n = 0; j < k->nslots; j++)
			if (k->slots[j].obj != NULL)
				sorted[n++] = k->slots[j].obj;
		qsort(sorted, n, sizeof(*sorted), store_cmp);
		k->sorted_valid = 1;
	}
	return k->sorted[i];
}

uint64_t
store_version(const struct store *st)
{
	return st->version;
}

const struct obj *
store_scan(const struct store *st, enum obj_kind kind, size_t *pos)
{
	const struct store_kind *k;

	if ((unsigned)kind >= OBJ_KIND_COUNT)
		return NULL;
	k = &st->kinds[kind];
	for (; *pos < k->nslots; (*pos)++)
		if (k->slots[*pos].obj != NULL)
			return k->slots[(*pos)++].obj;
	return NULL;
}

int
store_endpoint_changes(const struct store *st, char *const **ns,
    char *const **svc, size_t *n)
{
	*ns = st->changed_ns;
	*svc = st->changed_svc;
	*n = st->nchanged;
	return !st->changed_other;
}

void
store_changes_reset(struct store *st)
{
	size_t i;

	for (i = 0; i < st->nchanged; i++) {
		free(st->changed_ns[i]);
		free(st->changed_svc[i]);
	}
	st->nchanged = 0;
	st->changed_other = 0;
}
