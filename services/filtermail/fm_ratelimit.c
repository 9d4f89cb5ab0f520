/*
 * fm_ratelimit: per-sender send rate limit of outgoing filtermail, the
 * Generic Cell Rate Algorithm as upstream's governor crate applies it:
 * Quota::per_minute(max_user_send_per_minute)
 *        .allow_burst(max_user_send_burst_size), keyed by MAIL FROM.
 *
 * Each sender has a theoretical arrival time (TAT). A message at time
 * now is allowed when TAT - now <= tau, where T = one minute / rate is
 * the emission interval and tau = T * (burst - 1); then TAT becomes
 * max(TAT, now) + T. A sender whose TAT is in the past has a full
 * bucket again and needs no state, which is what eviction uses.
 *
 * Untrusted input: the key (an authenticated envelope sender, but any
 * string). The table is bounded: max_keys entries, open addressing; when
 * it is full, forgotten first are senders with a full bucket, then the
 * half whose buckets are closest to full.
 */
#include <stdlib.h>
#include <string.h>

#include "filtermail.h"
#include "xmalloc.h"

struct rl_entry {
	char *key; /* NULL: free slot */
	uint64_t tat_us;
	uint32_t hash;
};

struct fm_ratelimit {
	uint64_t t_us;	 /* emission interval */
	uint64_t tau_us; /* burst tolerance */
	struct rl_entry *slots;
	size_t nslots; /* power of two, at least 2 * max_keys */
	size_t count;
	size_t max_keys;
};

/* hash_key: FNV-1a, enough for a table whose keys the peer cannot see */
static uint32_t
hash_key(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* fm_ratelimit_new: see filtermail.h */
struct fm_ratelimit *
fm_ratelimit_new(unsigned per_minute, unsigned burst, size_t max_keys)
{
	struct fm_ratelimit *rl = xcalloc(1, sizeof(*rl));
	size_t n = 16;

	if (max_keys == 0)
		max_keys = 1;
	if (burst == 0)
		burst = 1;
	rl->t_us = per_minute > 0 ? 60000000u / per_minute : 0;
	rl->tau_us = rl->t_us * (burst - 1);
	while (n < 2 * max_keys)
		n *= 2;
	rl->nslots = n;
	rl->max_keys = max_keys;
	rl->slots = xcalloc(n, sizeof(*rl->slots));
	return rl;
}

/* fm_ratelimit_free: see filtermail.h */
void
fm_ratelimit_free(struct fm_ratelimit **rlp)
{
	struct fm_ratelimit *rl = *rlp;
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->nslots; i++)
		free(rl->slots[i].key);
	free(rl->slots);
	free(rl);
	*rlp = NULL;
}

/* find_slot: the slot holding key, or the free slot where it goes */
static struct rl_entry *
find_slot(struct rl_entry *slots, size_t nslots, const char *key, uint32_t h)
{
	size_t i = h & (nslots - 1);

	for (;;) {
		struct rl_entry *e = &slots[i];

		if (e->key == NULL ||
		    (e->hash == h && strcmp(e->key, key) == 0))
			return e;
		i = (i + 1) & (nslots - 1);
	}
}

/* cmp_u64: qsort order for TATs */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* cutoff: the TAT below which entries are dropped: now when that frees
 * anything, else the median TAT (drops the half nearest to full) */
static uint64_t
cutoff(const struct fm_ratelimit *rl, uint64_t now)
{
	uint64_t *tats, c;
	size_t i, n = 0, expired = 0;

	tats = xcalloc(rl->count + 1, sizeof(*tats));
	for (i = 0; i < rl->nslots; i++) {
		if (rl->slots[i].key == NULL)
			continue;
		if (rl->slots[i].tat_us <= now)
			expired++;
		tats[n++] = rl->slots[i].tat_us;
	}
	if (expired > 0 || n == 0) {
		free(tats);
		return now + 1;
	}
	qsort(tats, n, sizeof(*tats), cmp_u64);
	c = tats[n / 2] + 1;
	free(tats);
	return c;
}

/* sweep: rebuild the table without entries whose TAT is below cut */
static void
sweep(struct fm_ratelimit *rl, uint64_t now)
{
	struct rl_entry *old = rl->slots, *e;
	uint64_t cut = cutoff(rl, now);
	size_t i;

	rl->slots = xcalloc(rl->nslots, sizeof(*rl->slots));
	rl->count = 0;
	for (i = 0; i < rl->nslots; i++) {
		if (old[i].key == NULL)
			continue;
		if (old[i].tat_us < cut) {
			free(old[i].key);
			continue;
		}
		e = find_slot(rl->slots, rl->nslots, old[i].key, old[i].hash);
		*e = old[i];
		rl->count++;
	}
	free(old);
}

/* fm_ratelimit_check: see filtermail.h */
int
fm_ratelimit_check(struct fm_ratelimit *rl, const char *key, uint64_t now_ms,
		   uint64_t *wait_ms_r)
{
	uint64_t now = now_ms * 1000, tat;
	uint32_t h = hash_key(key);
	struct rl_entry *e;

	*wait_ms_r = 0;
	if (rl->t_us == 0)
		return 1;
	e = find_slot(rl->slots, rl->nslots, key, h);
	if (e->key == NULL) {
		if (rl->count >= rl->max_keys) {
			sweep(rl, now);
			e = find_slot(rl->slots, rl->nslots, key, h);
		}
		e->key = xstrdup(key);
		e->hash = h;
		e->tat_us = 0;
		rl->count++;
	}
	tat = e->tat_us > now ? e->tat_us : now;
	if (tat - now > rl->tau_us) {
		/* round up: "wait 0 ms" would be a lie */
		*wait_ms_r = (tat - now - rl->tau_us + 999) / 1000;
		return 0;
	}
	e->tat_us = tat + rl->t_us;
	return 1;
}

/* fm_ratelimit_keys: see filtermail.h */
size_t
fm_ratelimit_keys(const struct fm_ratelimit *rl)
{
	return rl->count;
}
