/*
 * workqueue: the controller's queue of keys ("namespace/name") to
 * reconcile, after client-go's workqueue:
 *
 *  - deduplicating: a key is queued at most once; a key added while it is
 *    being processed is processed once more after workqueue_done;
 *  - delayed adds (workqueue_add_after) keep the earliest time per key;
 *  - rate-limited re-adds after a failure: the maximum of a per-key
 *    exponential backoff (base doubling per failure up to max, by
 *    default 5 ms -> 1000 s) and a global token bucket (by default
 *    10 per second, burst 100), so a storm of failures cannot hammer the
 *    API server; workqueue_forget clears a key's failures.
 *
 * Time is passed in (milliseconds on any monotonic clock), so the queue
 * has no timers of its own: the caller promotes due delayed keys with
 * workqueue_tick and sleeps at most workqueue_next_delay.
 */
#ifndef OP_WORKQUEUE_H
#define OP_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "llist.h"

struct wq_item;

struct workqueue {
	struct hmap items;	     /* key -> struct wq_item */
	LLIST_HEAD(, wq_item) ready; /* FIFO */
	struct wq_item **heap;	     /* delayed keys, min-heap by time */
	size_t nheap, heap_cap;
	size_t nprocessing;
	uint64_t base_ms, max_ms;  /* per-key backoff */
	double qps, burst, tokens; /* global bucket */
	uint64_t bucket_ms;	   /* when tokens was last updated */
	uint64_t adds, retries;	   /* counters for metrics */
	int shutdown;
};

/* workqueue_init: empty queue with the default limits */
void workqueue_init(struct workqueue *q);
void workqueue_deinit(struct workqueue *q);
/* workqueue_set_limits: per-key backoff and global bucket (tests,
 * flags) */
void workqueue_set_limits(struct workqueue *q, uint64_t base_ms,
			  uint64_t max_ms, double qps, double burst);

/* workqueue_add: queue key now (no-op when queued or after shutdown) */
void workqueue_add(struct workqueue *q, const char *key);
/* workqueue_add_after: queue key delay_ms from now_ms */
void workqueue_add_after(struct workqueue *q, const char *key,
			 uint64_t delay_ms, uint64_t now_ms);
/* workqueue_add_rate_limited: re-queue after a failure, not before
 * min_ms (a Retry-After; 0 = none); returns the delay chosen */
uint64_t workqueue_add_rate_limited(struct workqueue *q, const char *key,
				    uint64_t now_ms, uint64_t min_ms);
/* workqueue_forget: the key succeeded, clear its failure count */
void workqueue_forget(struct workqueue *q, const char *key);
/* workqueue_failures: how many times key failed in a row */
unsigned workqueue_failures(const struct workqueue *q, const char *key);

/* workqueue_tick: move delayed keys due at now_ms to the ready FIFO */
void workqueue_tick(struct workqueue *q, uint64_t now_ms);
/* workqueue_next_delay: ms until the next delayed key is due (0 when
 * keys are ready, -1 when nothing is pending) */
int64_t workqueue_next_delay(const struct workqueue *q, uint64_t now_ms);

/* workqueue_get: the next ready key (owned by the queue, valid until
 * workqueue_done), marked processing; NULL when none is ready */
const char *workqueue_get(struct workqueue *q);
/* workqueue_done: processing of key finished (re-queues it if it was
 * added meanwhile) */
void workqueue_done(struct workqueue *q, const char *key);

/* workqueue_len: keys ready now (the depth metric) */
size_t workqueue_len(const struct workqueue *q);
/* workqueue_pending: ready + delayed + processing */
size_t workqueue_pending(const struct workqueue *q);
/* workqueue_shutdown: accept no more keys; ready ones are dropped */
void workqueue_shutdown(struct workqueue *q);

#endif
