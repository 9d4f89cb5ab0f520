/*
 * workqueue: deduplicating, rate-limited queue of reconcile keys.
 *
 * Each key has one struct wq_item while it is ready, delayed, being
 * processed or remembered for its failure count; items in none of those
 * states are freed. Flags (not separate sets) say where an item is:
 * "dirty" means it must be processed (again), "processing" that a worker
 * holds it; a dirty item that is not processing sits in the ready FIFO.
 *
 * Untrusted input: none (keys come from objects already cached).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "workqueue.h"
#include "xmalloc.h"

struct wq_item {
	LLIST_LINK(wq_item) link; /* in q->ready */
	char *key;
	uint64_t due_ms; /* when delayed */
	size_t heap_idx; /* SIZE_MAX when not delayed */
	unsigned failures;
	unsigned dirty : 1, processing : 1;
};

void
workqueue_init(struct workqueue *q)
{
	memset(q, 0, sizeof(*q));
	hmap_init(&q->items);
	workqueue_set_limits(q, 5, 1000000, 10, 100);
}

void
workqueue_set_limits(struct workqueue *q, uint64_t base_ms, uint64_t max_ms,
		     double qps, double burst)
{
	q->base_ms = base_ms;
	q->max_ms = max_ms;
	q->qps = qps;
	q->burst = burst;
	q->tokens = burst;
}

void
workqueue_deinit(struct workqueue *q)
{
	struct hmap_entry *e;
	struct wq_item *it;
	size_t i;

	for (e = hmap_first(&q->items, &i); e;
	     e = hmap_next(&q->items, &i, e)) {
		it = e->value;
		free(it->key);
		free(it);
	}
	hmap_deinit(&q->items);
	free(q->heap);
	memset(q, 0, sizeof(*q));
}

/* item_get: the item of key, created when missing */
static struct wq_item *
item_get(struct workqueue *q, const char *key)
{
	struct wq_item *it = hmap_get(&q->items, key);

	if (it == NULL) {
		it = xcalloc(1, sizeof(*it));
		it->key = xstrdup(key);
		it->heap_idx = SIZE_MAX;
		(void)hmap_put(&q->items, key, it);
	}
	return it;
}

/* item_gc: free an item that is in no state any more */
static void
item_gc(struct workqueue *q, struct wq_item *it)
{
	if (it->dirty || it->processing || it->heap_idx != SIZE_MAX ||
	    it->failures > 0)
		return;
	(void)hmap_del(&q->items, it->key);
	free(it->key);
	free(it);
}

/* heap helpers: a min-heap of delayed items by due_ms */
static void
heap_set(struct workqueue *q, size_t i, struct wq_item *it)
{
	q->heap[i] = it;
	it->heap_idx = i;
}

static void
heap_up(struct workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i];

	while (i > 0 && q->heap[(i - 1) / 2]->due_ms > it->due_ms) {
		heap_set(q, i, q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(q, i, it);
}

static void
heap_down(struct workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= q->nheap)
			break;
		if (c + 1 < q->nheap &&
		    q->heap[c + 1]->due_ms < q->heap[c]->due_ms)
			c++;
		if (q->heap[c]->due_ms >= it->due_ms)
			break;
		heap_set(q, i, q->heap[c]);
		i = c;
	}
	heap_set(q, i, it);
}

/* heap_remove: take the item at index i out of the heap */
static void
heap_remove(struct workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i], *last = q->heap[--q->nheap];

	it->heap_idx = SIZE_MAX;
	if (i == q->nheap)
		return;
	heap_set(q, i, last);
	heap_down(q, i);
	heap_up(q, last->heap_idx);
}

/* make_ready: mark dirty and append to the FIFO unless processing */
static void
make_ready(struct workqueue *q, struct wq_item *it)
{
	if (it->dirty)
		return;
	it->dirty = 1;
	q->adds++;
	if (it->processing)
		return; /* re-queued by workqueue_done */
	LLIST_APPEND(&q->ready, it, link);
}

void
workqueue_add(struct workqueue *q, const char *key)
{
	struct wq_item *it;

	if (q->shutdown)
		return;
	it = item_get(q, key);
	if (it->heap_idx != SIZE_MAX)
		heap_remove(q, it->heap_idx);
	make_ready(q, it);
}

void
workqueue_add_after(struct workqueue *q, const char *key, uint64_t delay_ms,
		    uint64_t now_ms)
{
	struct wq_item *it;

	if (q->shutdown)
		return;
	if (delay_ms == 0) {
		workqueue_add(q, key);
		return;
	}
	it = item_get(q, key);
	if (it->dirty)
		return; /* already due: sooner than any delay */
	if (it->heap_idx != SIZE_MAX) {
		if (it->due_ms <= now_ms + delay_ms)
			return; /* keep the earlier time */
		it->due_ms = now_ms + delay_ms;
		heap_up(q, it->heap_idx);
		return;
	}
	it->due_ms = now_ms + delay_ms;
	if (q->nheap == q->heap_cap) {
		q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
		q->heap = xreallocarray(q->heap, q->heap_cap,
					sizeof(struct wq_item *));
	}
	heap_set(q, q->nheap++, it);
	heap_up(q, it->heap_idx);
}

/* bucket_delay: when the global bucket allows one more retry */
static uint64_t
bucket_delay(struct workqueue *q, uint64_t now_ms)
{
	double wait;

	if (q->qps <= 0)
		return 0;
	q->tokens += (double)(now_ms - q->bucket_ms) * q->qps / 1000.0;
	if (q->tokens > q->burst)
		q->tokens = q->burst;
	q->bucket_ms = now_ms;
	q->tokens -= 1.0; /* reserve a token, possibly in the future */
	if (q->tokens >= 0)
		return 0;
	wait = -q->tokens * 1000.0 / q->qps;
	return (uint64_t)ceil(wait);
}

uint64_t
workqueue_add_rate_limited(struct workqueue *q, const char *key,
			   uint64_t now_ms, uint64_t min_ms)
{
	struct wq_item *it;
	uint64_t per_key, global;
	unsigned f;

	if (q->shutdown)
		return 0;
	it = item_get(q, key);
	f = it->failures++;
	per_key = f >= 40 ? q->max_ms : q->base_ms << f;
	if (per_key > q->max_ms || per_key < q->base_ms)
		per_key = q->max_ms;
	global = bucket_delay(q, now_ms);
	q->retries++;
	per_key = per_key > global ? per_key : global;
	per_key = per_key > min_ms ? per_key : min_ms;
	workqueue_add_after(q, key, per_key, now_ms);
	return per_key;
}

void
workqueue_forget(struct workqueue *q, const char *key)
{
	struct wq_item *it = hmap_get(&q->items, key);

	if (it == NULL)
		return;
	it->failures = 0;
	item_gc(q, it);
}

unsigned
workqueue_failures(const struct workqueue *q, const char *key)
{
	const struct wq_item *it = hmap_get(&q->items, key);

	return it ? it->failures : 0;
}

void
workqueue_tick(struct workqueue *q, uint64_t now_ms)
{
	struct wq_item *it;

	while (q->nheap > 0 && q->heap[0]->due_ms <= now_ms) {
		it = q->heap[0];
		heap_remove(q, 0);
		make_ready(q, it);
	}
}

int64_t
workqueue_next_delay(const struct workqueue *q, uint64_t now_ms)
{
	if (!LLIST_EMPTY(&q->ready))
		return 0;
	if (q->nheap == 0)
		return -1;
	return q->heap[0]->due_ms <= now_ms
		       ? 0
		       : (int64_t)(q->heap[0]->due_ms - now_ms);
}

const char *
workqueue_get(struct workqueue *q)
{
	struct wq_item *it;

	if (LLIST_EMPTY(&q->ready) || q->shutdown)
		return NULL;
	LLIST_POP(&q->ready, it, link);
	it->dirty = 0;
	it->processing = 1;
	q->nprocessing++;
	return it->key;
}

void
workqueue_done(struct workqueue *q, const char *key)
{
	struct wq_item *it = hmap_get(&q->items, key);

	if (it == NULL || !it->processing)
		return;
	it->processing = 0;
	q->nprocessing--;
	if (it->dirty && !q->shutdown) {
		it->dirty = 0; /* make_ready sets it again */
		q->adds--;
		make_ready(q, it);
		return;
	}
	it->dirty = 0;
	item_gc(q, it);
}

size_t
workqueue_len(const struct workqueue *q)
{
	return LLIST_COUNT(&q->ready);
}

size_t
workqueue_pending(const struct workqueue *q)
{
	return LLIST_COUNT(&q->ready) + q->nheap + q->nprocessing;
}

void
workqueue_shutdown(struct workqueue *q)
{
	q->shutdown = 1;
}
