/*
 * informer: a local cache of one kind of object, kept current by LIST
 * and WATCH (client-go's reflector + store, on the evloop).
 *
 *   LIST (paged, limit 500) -> cache replaced, synced
 *   WATCH ?resourceVersion=<list RV>&allowWatchBookmarks=true
 *     ADDED/MODIFIED/DELETED update the cache, BOOKMARK moves the RV;
 *     a watch the server ended normally is re-opened from the last RV;
 *     a broken one is re-opened from the last RV after a backoff;
 *     410 Gone (HTTP status or ERROR event) re-lists at once; any
 *     other ERROR event re-lists after the backoff (client-go's
 *     reflector restarts list+watch on every ERROR event).
 *
 * The cache maps "namespace/name" to a value made by the caller's
 * transform function from the object (so a cache can keep only what
 * its controller needs: a compact struct instead of a whole object);
 * the default keeps the object without metadata.managedFields. The
 * event callback sees the old and new values and must only enqueue
 * work: it runs from the loop while the cache is being updated.
 */
#ifndef OP_INFORMER_H
#define OP_INFORMER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "evloop.h"
#include "kube_client.h"

struct informer;
struct metrics;

enum informer_event { INF_ADDED, INF_UPDATED, INF_DELETED };

/* informer_transform_fn: the cache value for obj (which it may keep:
 * set *obj_r NULL to take it) */
typedef void *informer_transform_fn(void *arg, cJSON **obj_r);
typedef void informer_free_fn(void *value);
/* informer_event_fn: one change; old_v or new_v is NULL for add and
 * delete; both are valid only during the call */
typedef void informer_event_fn(void *arg, enum informer_event ev,
			       const char *key, const void *old_v,
			       const void *new_v);

struct informer_opts {
	const struct kube_kind *kind;
	const char *namespace;		  /* NULL or "" = every namespace */
	const char *label_selector;	  /* NULL = every object */
	const char *field_selector;	  /* NULL = every object */
	informer_transform_fn *transform; /* NULL = the object itself */
	informer_free_fn *free_value;	  /* NULL = cJSON_Delete */
	informer_event_fn *on_event;	  /* may be NULL */
	void *arg;
	int optional; /* the kind may not be served (a CRD not
			       * installed): 404s are logged at debug */
	/* called once, after the first LIST completed (may be NULL) */
	void (*on_synced)(void *arg);
	unsigned page_size;   /* LIST limit (500) */
	uint64_t backoff_max; /* ms (30000) */
};

struct informer *informer_new(struct evloop *loop, struct kube_client *c,
			      const struct informer_opts *o, struct metrics *m);
/* informer_free: stops and frees; the cache values are freed */
void informer_free(struct informer **infp);
/* informer_start: begin with a LIST */
void informer_start(struct informer *inf);
/* informer_stop: close the watch, keep the cache */
void informer_stop(struct informer *inf);

/* informer_synced: the first LIST has completed */
int informer_synced(const struct informer *inf);
/* informer_get: the cached value of "namespace/name", or NULL */
const void *informer_get(const struct informer *inf, const char *key);
/* informer_count: objects cached */
size_t informer_count(const struct informer *inf);
/* informer_each: call fn for every cached object (the cache must not
 * change meanwhile; fn must not start I/O) */
void informer_each(const struct informer *inf,
		   void (*fn)(void *arg, const char *key, const void *value),
		   void *arg);
/* informer_rv: the resourceVersion the cache reflects ("" before sync) */
const char *informer_rv(const struct informer *inf);
/* informer_relists: LISTs done so far (tests, metrics) */
uint64_t informer_relists(const struct informer *inf);

/* informer_key: "namespace/name" (or "name") of obj into out */
int informer_key(const cJSON *obj, char *out, size_t outsize);

#endif
