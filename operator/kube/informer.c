/*
 * informer: LIST + WATCH of one kind into a cache, on the evloop.
 *
 * States: LISTING (a page request in flight; the pages build a fresh
 * map, swapped in at the end so deletions missed while we were away
 * become DELETED events), WATCHING (one watch stream open), WAITING (a
 * backoff timer armed before the next attempt), STOPPED.
 *
 * Watches are re-opened from the last resourceVersion seen (an event or
 * a bookmark), so a broken connection costs no re-list. An ERROR event
 * re-lists, as client-go's reflector does: 410 Gone (the version was
 * compacted away) at once, any other code after the backoff, since the
 * server may not say 410 for a version it lost (etcd compacted at
 * exactly the revision of the next change answers 500); a corrupt
 * stream re-lists at once. Watch
 * timeouts are spread between 5 and 10 minutes like client-go's, so
 * many informers do not reconnect in lock step.
 *
 * Untrusted input: LIST bodies and watch streams from the API server
 * (sizes bounded by the client and the splitter; objects without a name
 * are ignored).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "informer.h"
#include "kube_watch.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

enum inf_state { INF_STOPPED, INF_LISTING, INF_WATCHING, INF_WAITING };

struct informer {
	struct evloop *loop;
	struct kube_client *c;
	struct metrics *m;
	struct informer_opts o;
	char *ns, *selector, *fields;
	enum inf_state state;
	struct hmap cache, fresh; /* fresh: being filled by a LIST */
	char rv[64];
	char *cont; /* LIST continue token */
	struct kube_call *call;
	struct kube_watch_split split;
	struct kube_backoff backoff;
	struct evloop_timer timer;
	int relist_next;     /* the next attempt is a LIST, not a WATCH */
	long watch_error;    /* code of the ERROR event that ended the
			       * watch, 0 = none */
	char watch_msg[256]; /* its message */
	int synced;
	uint32_t seed;
	uint64_t watch_started, watch_events;
	uint64_t relists;
};

static void start_list(struct informer *inf);
static void start_watch(struct informer *inf);

/* default_free: cache values are cJSON objects by default */
static void
default_free(void *v)
{
	cJSON_Delete(v);
}

/* value_of: the cache value of obj (consumes obj) */
static void *
value_of(struct informer *inf, cJSON *obj)
{
	void *v;

	if (inf->o.transform == NULL) {
		/* the default cache keeps objects, not their field owners */
		cJSON_DeleteItemFromObjectCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
			"managedFields");
		return obj;
	}
	v = inf->o.transform(inf->o.arg, &obj);
	cJSON_Delete(obj);
	return v;
}

int
informer_key(const cJSON *obj, char *out, size_t outsize)
{
	const char *ns = util_get_str(obj, "metadata.namespace");
	const char *name = util_get_str(obj, "metadata.name");
	int n;

	if (name == NULL || *name == '\0')
		return -EINVAL;
	if (ns != NULL && *ns != '\0')
		n = snprintf(out, outsize, "%s/%s", ns, name);
	else
		n = snprintf(out, outsize, "%s", name);
	return n < 0 || (size_t)n >= outsize ? -ENAMETOOLONG : 0;
}

/* set_rv: remember obj's resourceVersion */
static void
set_rv(struct informer *inf, const cJSON *obj)
{
	const char *rv = util_get_str(obj, "metadata.resourceVersion");

	if (rv != NULL && strlen(rv) < sizeof(inf->rv))
		(void)snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
}

struct informer *
informer_new(struct evloop *loop, struct kube_client *c,
	     const struct informer_opts *o, struct metrics *m)
{
	struct informer *inf = xcalloc(1, sizeof(*inf));

	inf->loop = loop;
	inf->c = c;
	inf->m = m;
	inf->o = *o;
	if (inf->o.free_value == NULL)
		inf->o.free_value = default_free;
	if (inf->o.page_size == 0)
		inf->o.page_size = 500;
	if (inf->o.backoff_max == 0)
		inf->o.backoff_max = 30000;
	inf->seed = (uint32_t)(uintptr_t)inf | 1u;
	inf->ns = xstrdup(o->namespace ? o->namespace : "");
	inf->selector = o->label_selector ? xstrdup(o->label_selector) : NULL;
	inf->o.namespace = inf->ns;
	inf->o.label_selector = inf->selector;
	inf->fields = o->field_selector ? xstrdup(o->field_selector) : NULL;
	inf->o.field_selector = inf->fields;
	hmap_init(&inf->cache);
	hmap_init(&inf->fresh);
	kube_watch_split_init(&inf->split, KUBE_WATCH_EVENT_MAX);
	kube_backoff_init(&inf->backoff, 800, inf->o.backoff_max, 120000,
			  (uint32_t)(uintptr_t)inf);
	return inf;
}

/* clear_map: free every value of a map */
static void
clear_map(struct informer *inf, struct hmap *map)
{
	struct hmap_entry *e;
	size_t i;

	for (e = hmap_first(map, &i); e != NULL; e = hmap_next(map, &i, e))
		inf->o.free_value(e->value);
	hmap_deinit(map);
	hmap_init(map);
}

void
informer_stop(struct informer *inf)
{
	kube_call_cancel(inf->c, &inf->call);
	evloop_timer_stop(inf->loop, &inf->timer);
	clear_map(inf, &inf->fresh);
	free(inf->cont);
	inf->cont = NULL;
	inf->state = INF_STOPPED;
}

void
informer_free(struct informer **infp)
{
	struct informer *inf = *infp;

	if (inf == NULL)
		return;
	informer_stop(inf);
	clear_map(inf, &inf->cache);
	hmap_deinit(&inf->cache);
	hmap_deinit(&inf->fresh);
	kube_watch_split_deinit(&inf->split);
	free(inf->ns);
	free(inf->selector);
	free(inf->fields);
	free(inf);
	*infp = NULL;
}

/* retry_later: the list or watch failed: back off, then watch again
 * (or re-list) */
static void
retry_later(struct informer *inf, int relist, const char *what,
	    const struct kube_result *res)
{
	uint64_t d = kube_backoff_next(&inf->backoff, evloop_now(inf->loop));
	const char *why = res->message[0] ? res->message : "no response";

	if ((uint64_t)res->retry_after * 1000 > d)
		d = (uint64_t)res->retry_after * 1000; /* 429/503 */

	if (inf->o.optional && res->err == -ENOENT)
		log_debug("%s not served (%s); retry in %llu ms",
			  inf->o.kind->plural, why, (unsigned long long)d);
	else
		log_warn("%s %s failed (HTTP %ld): %s; %s in %llu ms",
			 inf->o.kind->plural, what, res->code, why,
			 relist ? "re-list" : "retry", (unsigned long long)d);
	inf->relist_next = relist || inf->relist_next;
	inf->state = INF_WAITING;
	evloop_timer_start(inf->loop, &inf->timer, d);
}

/* timer_fire: the backoff is over */
static void
timer_fire(struct evloop *loop, void *arg)
{
	struct informer *inf = arg;

	(void)loop;
	if (inf->relist_next || !inf->synced)
		start_list(inf);
	else
		start_watch(inf);
}

void
informer_start(struct informer *inf)
{
	evloop_timer_init(&inf->timer, timer_fire, inf);
	start_list(inf);
}

/* emit: tell the event callback */
static void
emit(struct informer *inf, enum informer_event ev, const char *key,
     const void *old_v, const void *new_v)
{
	if (inf->o.on_event != NULL)
		inf->o.on_event(inf->o.arg, ev, key, old_v, new_v);
}

/* swap_in: the finished LIST replaces the cache; differences become
 * events (deletions we missed, additions, updates) */
static void
swap_in(struct informer *inf)
{
	struct hmap_entry *e;
	struct hmap old = inf->cache;
	void *prev;
	size_t i;

	inf->cache = inf->fresh;
	hmap_init(&inf->fresh);
	for (e = hmap_first(&inf->cache, &i); e != NULL;
	     e = hmap_next(&inf->cache, &i, e)) {
		prev = hmap_del(&old, e->key);
		emit(inf, prev ? INF_UPDATED : INF_ADDED, e->key, prev,
		     e->value);
		if (prev != NULL)
			inf->o.free_value(prev);
	}
	for (e = hmap_first(&old, &i); e != NULL; e = hmap_next(&old, &i, e)) {
		emit(inf, INF_DELETED, e->key, e->value, NULL);
		inf->o.free_value(e->value);
	}
	hmap_deinit(&old);
}

/* take_page: add a LIST page's items to the fresh map */
static void
take_page(struct informer *inf, cJSON *body)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items"), *obj;
	const char *cont = util_get_str(body, "metadata.continue");
	char key[512];
	void *old;

	while ((obj = cJSON_DetachItemFromArray(items, 0)) != NULL) {
		if (informer_key(obj, key, sizeof(key)) < 0) {
			cJSON_Delete(obj);
			continue;
		}
		old = hmap_put(&inf->fresh, key, value_of(inf, obj));
		if (old != NULL)
			inf->o.free_value(old);
	}
	free(inf->cont);
	inf->cont = cont && *cont ? xstrdup(cont) : NULL;
	if (inf->cont == NULL) {
		const char *rv = util_get_str(body, "metadata.resourceVersion");

		(void)snprintf(inf->rv, sizeof(inf->rv), "%s", rv ? rv : "");
	}
}

/* list_done: one LIST page arrived */
static void
list_done(void *arg, struct kube_result *res)
{
	struct informer *inf = arg;

	inf->call = NULL;
	if (res->err == -ESTALE && inf->cont != NULL) {
		/* the continue token expired: start the LIST over */
		clear_map(inf, &inf->fresh);
		free(inf->cont);
		inf->cont = NULL;
		start_list(inf);
		return;
	}
	if (res->err < 0 || !cJSON_IsObject(res->body)) {
		clear_map(inf, &inf->fresh);
		free(inf->cont);
		inf->cont = NULL;
		retry_later(inf, 1, "list", res);
		return;
	}
	take_page(inf, res->body);
	if (inf->cont != NULL) {
		start_list(inf);
		return;
	}
	swap_in(inf);
	if (!inf->synced)
		log_info("%s cache synced: %zu objects at resourceVersion %s",
			 inf->o.kind->plural, inf->cache.count, inf->rv);
	inf->relist_next = 0;
	start_watch(inf);
	if (!inf->synced) {
		inf->synced = 1;
		if (inf->o.on_synced != NULL)
			inf->o.on_synced(inf->o.arg);
	}
}

/* add_selector: namespace-independent query parts */
static int
add_selector(struct informer *inf, struct buf *path)
{
	int r = 0;

	if (inf->selector != NULL && *inf->selector != '\0')
		r = kube_query(path, "labelSelector", inf->selector);
	if (r == 0 && inf->fields != NULL && *inf->fields != '\0')
		r = kube_query(path, "fieldSelector", inf->fields);
	return r;
}

static void
start_list(struct informer *inf)
{
	struct buf path = BUF_INIT(4096);
	char lim[16];

	if (inf->cont == NULL) {
		inf->relists++;
		metrics_watch(inf->m, inf->o.kind->kind, 1);
	}
	(void)snprintf(lim, sizeof(lim), "%u", inf->o.page_size);
	if (kube_path(&path, inf->o.kind, inf->ns, NULL, NULL) < 0 ||
	    add_selector(inf, &path) < 0 ||
	    kube_query(&path, "limit", lim) < 0 ||
	    (inf->cont && kube_query(&path, "continue", inf->cont) < 0))
		abort(); /* 4 KiB always holds our paths */
	inf->state = INF_LISTING;
	inf->call = kube_call_start(inf->c, KV_LIST, buf_cstr(&path), NULL,
				    list_done, inf);
	buf_deinit(&path);
}

/* apply_event: one watch event into the cache; non-zero stops the
 * stream (410: re-list) */
static int
apply_event(void *arg, enum kube_watch_type t, cJSON *obj)
{
	struct informer *inf = arg;
	char key[512];
	void *old, *v;

	metrics_watch(inf->m, inf->o.kind->kind, 0);
	if (t == KW_ERROR) {
		long code = (long)util_get_int(obj, "code", 0, 0, 999);

		const char *msg = util_get_str(obj, "message");

		log_info("%s watch ERROR %ld: %s; re-listing",
			 inf->o.kind->plural, code, msg ? msg : "");
		inf->relist_next = 1;
		inf->watch_error = code != 0 ? code : 410;
		(void)snprintf(inf->watch_msg, sizeof(inf->watch_msg), "%s",
			       msg ? msg : "watch ERROR event");
		cJSON_Delete(obj);
		return 1;
	}
	set_rv(inf, obj);
	if (t == KW_BOOKMARK || informer_key(obj, key, sizeof(key)) < 0) {
		cJSON_Delete(obj);
		return 0;
	}
	if (t == KW_DELETED) {
		cJSON_Delete(obj);
		old = hmap_del(&inf->cache, key);
		if (old != NULL) {
			emit(inf, INF_DELETED, key, old, NULL);
			inf->o.free_value(old);
		}
		return 0;
	}
	v = value_of(inf, obj);
	old = hmap_put(&inf->cache, key, v);
	emit(inf, old ? INF_UPDATED : INF_ADDED, key, old, v);
	if (old != NULL)
		inf->o.free_value(old);
	return 0;
}

/* jitter: the next pseudo-random number of this informer */
static unsigned
jitter(struct informer *inf)
{
	uint32_t x = inf->seed ? inf->seed : 0x2545f491u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return inf->seed = x;
}

/* watch_data: bytes of the watch stream */
static int
watch_data(void *arg, const char *data, size_t len)
{
	struct informer *inf = arg;
	int r = kube_watch_feed(&inf->split, data, len, apply_event, inf);

	if (r < 0) {
		log_warn("%s watch stream broken (%s): re-listing",
			 inf->o.kind->plural, strerror(-r));
		inf->relist_next = 1;
	}
	return r;
}

/* watch_done: the watch ended */
static void
watch_done(void *arg, struct kube_result *res)
{
	struct informer *inf = arg;

	inf->call = NULL;
	if (inf->watch_error != 0 && inf->watch_error != 410) {
		/* an ERROR event other than 410: re-list after the backoff */
		res->code = inf->watch_error;
		(void)snprintf(res->message, sizeof(res->message), "%s",
			       inf->watch_msg);
		inf->watch_error = 0;
		retry_later(inf, 1, "watch", res);
		return;
	}
	inf->watch_error = 0;
	if (inf->relist_next) {
		start_list(inf); /* 410 or a corrupt stream */
		return;
	}
	if (res->err == -ESTALE) {
		inf->relist_next = 1;
		start_list(inf);
		return;
	}
	if (res->err == 0 &&
	    (inf->split.events > inf->watch_events ||
	     evloop_now(inf->loop) - inf->watch_started >= 1000)) {
		start_watch(inf); /* the server's timeout: carry on */
		return;
	}
	if (res->err == 0)
		res->err = -EAGAIN; /* ended at once, nothing delivered */
	retry_later(inf, res->err == -EACCES || res->err == -ENOENT, "watch",
		    res);
}

static void
start_watch(struct informer *inf)
{
	struct buf path = BUF_INIT(4096);
	char to[16];
	/* 5 to 10 minutes, so watches do not all reconnect together */
	unsigned timeout = 300 + jitter(inf) % 301;

	(void)snprintf(to, sizeof(to), "%u", timeout);
	if (kube_path(&path, inf->o.kind, inf->ns, NULL, NULL) < 0 ||
	    kube_query(&path, "watch", "1") < 0 ||
	    add_selector(inf, &path) < 0 ||
	    kube_query(&path, "resourceVersion", inf->rv) < 0 ||
	    kube_query(&path, "allowWatchBookmarks", "true") < 0 ||
	    kube_query(&path, "timeoutSeconds", to) < 0)
		abort(); /* 4 KiB always holds our paths */
	kube_watch_split_reset(&inf->split);
	inf->state = INF_WATCHING;
	inf->watch_started = evloop_now(inf->loop);
	inf->watch_events = inf->split.events;
	inf->call = kube_watch_start(inf->c, buf_cstr(&path), timeout,
				     watch_data, watch_done, inf);
	buf_deinit(&path);
}

int
informer_synced(const struct informer *inf)
{
	return inf->synced;
}

const void *
informer_get(const struct informer *inf, const char *key)
{
	return hmap_get(&inf->cache, key);
}

size_t
informer_count(const struct informer *inf)
{
	return inf->cache.count;
}

void
informer_each(const struct informer *inf,
	      void (*fn)(void *arg, const char *key, const void *value),
	      void *arg)
{
	struct hmap_entry *e;
	size_t i;

	for (e = hmap_first(&inf->cache, &i); e != NULL;
	     e = hmap_next(&inf->cache, &i, e))
		fn(arg, e->key, e->value);
}

const char *
informer_rv(const struct informer *inf)
{
	return inf->rv;
}

uint64_t
informer_relists(const struct informer *inf)
{
	return inf->relists;
}
