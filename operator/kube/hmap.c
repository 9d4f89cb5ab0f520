/*
 * hmap: string-keyed hash map with chained buckets.
 *
 * Untrusted input: keys are object names from the API server; the
 * seeded hash keeps collisions random.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hmap.h"
#include "xmalloc.h"

void
hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(m[0]));
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(m->seed))
		m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ull;
}

void
hmap_deinit(struct hmap *m)
{
	struct hmap_entry *e, *next;
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

/* hash: seeded FNV-1a with a final avalanche */
static uint64_t
hash(const struct hmap *m, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull ^ m->seed;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* find: the link pointing at key's entry (or at the bucket's end) */
static struct hmap_entry **
find(const struct hmap *m, const char *key, uint64_t h)
{
	struct hmap_entry **pp = &m->b[h & (m->nbuckets - 1)];

	while (*pp != NULL &&
	       ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
		pp = &(*pp)->next;
	return pp;
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_entry **pp;

	if (m->nbuckets == 0)
		return NULL;
	pp = find(m, key, hash(m, key));
	return *pp ? (*pp)->value : NULL;
}

/* grow: double the bucket array and rehash */
static void
grow(struct hmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 16, i;
	struct hmap_entry **nb = xcalloc(n, sizeof(struct hmap_entry *)), *e,
			  *next;

	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->b);
	m->b = nb;
	m->nbuckets = n;
}

void *
hmap_put(struct hmap *m, const char *key, void *value)
{
	uint64_t h = hash(m, key);
	struct hmap_entry **pp, *e;
	size_t klen = strlen(key);
	void *old;

	if (m->count >= m->nbuckets)
		grow(m);
	pp = find(m, key, h);
	if (*pp != NULL) {
		old = (*pp)->value;
		(*pp)->value = value;
		return old;
	}
	e = xmalloc(sizeof(*e) + klen + 1);
	e->next = NULL;
	e->hash = h;
	e->value = value;
	memcpy(e->key, key, klen + 1);
	*pp = e;
	m->count++;
	return NULL;
}

void *
hmap_del(struct hmap *m, const char *key)
{
	struct hmap_entry **pp, *e;
	void *v;

	if (m->nbuckets == 0)
		return NULL;
	pp = find(m, key, hash(m, key));
	if (*pp == NULL)
		return NULL;
	e = *pp;
	*pp = e->next;
	v = e->value;
	free(e);
	m->count--;
	return v;
}

struct hmap_entry *
hmap_first(const struct hmap *m, size_t *idx)
{
	for (*idx = 0; *idx < m->nbuckets; (*idx)++)
		if (m->b[*idx] != NULL)
			return m->b[*idx];
	return NULL;
}

struct hmap_entry *
hmap_next(const struct hmap *m, size_t *idx, struct hmap_entry *e)
{
	if (e->next != NULL)
		return e->next;
	for ((*idx)++; *idx < m->nbuckets; (*idx)++)
		if (m->b[*idx] != NULL)
			return m->b[*idx];
	return NULL;
}
