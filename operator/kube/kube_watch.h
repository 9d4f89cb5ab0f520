/*
 * kube_watch: the pieces of a watch that need no network, so they can be
 * tested byte by byte: the stream splitter (newline-delimited JSON watch
 * events, arriving in arbitrary chunks) and the reconnect backoff.
 *
 * A watch response is a stream of lines {"type": T, "object": {...}}
 * with T one of ADDED, MODIFIED, DELETED, BOOKMARK, ERROR. A line longer
 * than the splitter's maximum, or one that is not such an event, is a
 * hard error: an event would be lost, so the informer must re-list.
 */
#ifndef OP_KUBE_WATCH_H
#define OP_KUBE_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

#define KUBE_WATCH_EVENT_MAX (8u << 20) /* etcd objects are <= 1.5 MiB */

enum kube_watch_type {
	KW_ADDED,
	KW_MODIFIED,
	KW_DELETED,
	KW_BOOKMARK,
	KW_ERROR,
};

struct kube_watch_split {
	struct buf line; /* the partial line carried between chunks */
	uint64_t events; /* complete events delivered */
};

/* kube_watch_event_fn: one event; obj is owned by the callee (free it
 * with cJSON_Delete or keep it). A non-zero return stops the feed and
 * is returned by kube_watch_feed. */
typedef int kube_watch_event_fn(void *arg, enum kube_watch_type type,
				cJSON *obj);

/* kube_watch_split_init: a splitter for events of at most max bytes */
void kube_watch_split_init(struct kube_watch_split *w, size_t max);
void kube_watch_split_deinit(struct kube_watch_split *w);
/* kube_watch_split_reset: forget a partial line (new stream) */
void kube_watch_split_reset(struct kube_watch_split *w);

/* kube_watch_feed: the next chunk of the stream; calls fn for every
 * complete event. 0, -E2BIG (an event over the maximum), -EBADMSG (a
 * line that is not a watch event), or the callback's return. */
int kube_watch_feed(struct kube_watch_split *w, const char *data, size_t len,
		    kube_watch_event_fn *fn, void *arg);

/* kube_watch_type_name: "ADDED" ... */
const char *kube_watch_type_name(enum kube_watch_type t);

/*
 * Reconnect backoff (after client-go's reflector): the delay starts at
 * base_ms and doubles up to max_ms after each failure, with up to 100 %
 * jitter added; a connection that stayed healthy for reset_ms starts
 * over from base_ms.
 */
struct kube_backoff {
	uint64_t base_ms, max_ms, reset_ms;
	uint64_t cur_ms;       /* the next un-jittered delay */
	uint64_t last_fail_ms; /* when the previous failure happened */
	uint32_t seed;	       /* jitter state (xorshift) */
};

/* kube_backoff_init: e.g. 800 ms -> 30 s, reset after 2 min */
void kube_backoff_init(struct kube_backoff *b, uint64_t base_ms,
		       uint64_t max_ms, uint64_t reset_ms, uint32_t seed);
/* kube_backoff_next: the delay before the next attempt, for a failure
 * at now_ms */
uint64_t kube_backoff_next(struct kube_backoff *b, uint64_t now_ms);

#endif
