/*
 * hmap: a hash map from strings to pointers, for the informer caches and
 * the work queue. Chained buckets, doubled when the load passes 1; keys
 * are copied and owned by the map, values are the caller's. The hash is
 * FNV-1a mixed with a per-map random seed, so names chosen by users
 * cannot be crafted into one long chain.
 */
#ifndef OP_HMAP_H
#define OP_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
	struct hmap_entry *next;
	uint64_t hash;
	void *value;
	char key[]; /* NUL-terminated */
};

struct hmap {
	struct hmap_entry **b;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
	uint64_t seed;
};

void hmap_init(struct hmap *m);
/* hmap_deinit: free the entries (not the values) */
void hmap_deinit(struct hmap *m);

/* hmap_get: the value stored under key, or NULL */
void *hmap_get(const struct hmap *m, const char *key);
/* hmap_put: store value under key; returns the value it replaced (or
 * NULL) so the caller can free it */
void *hmap_put(struct hmap *m, const char *key, void *value);
/* hmap_del: remove key; returns its value, or NULL */
void *hmap_del(struct hmap *m, const char *key);

/* iteration: for (e = hmap_first(m, &i); e; e = hmap_next(m, &i, e));
 * the map must not change while iterating */
struct hmap_entry *hmap_first(const struct hmap *m, size_t *idx);
struct hmap_entry *hmap_next(const struct hmap *m, size_t *idx,
			     struct hmap_entry *e);

#endif
