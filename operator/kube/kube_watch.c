/*
 * kube_watch: splitting a watch stream into events, and the backoff
 * between reconnects.
 *
 * Chunks from libcurl end anywhere, also inside a UTF-8 sequence or a
 * JSON string. The splitter appends to one bounded line buffer and
 * parses only complete lines, each exactly once, so a large initial
 * burst costs linear time (a client that re-parses its whole buffer on
 * every chunk goes quadratic) and a line that never ends cannot grow
 * memory past the bound.
 *
 * Untrusted input: the bytes of the watch response.
 */
#include <errno.h>
#include <string.h>

#include "kube_watch.h"

static const char *const type_names[] = {
	[KW_ADDED] = "ADDED",	  [KW_MODIFIED] = "MODIFIED",
	[KW_DELETED] = "DELETED", [KW_BOOKMARK] = "BOOKMARK",
	[KW_ERROR] = "ERROR",
};

const char *
kube_watch_type_name(enum kube_watch_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0])
		       ? type_names[t]
		       : "?";
}

void
kube_watch_split_init(struct kube_watch_split *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	buf_init(&w->line, max);
}

void
kube_watch_split_deinit(struct kube_watch_split *w)
{
	buf_deinit(&w->line);
}

void
kube_watch_split_reset(struct kube_watch_split *w)
{
	buf_reset(&w->line);
}

/* parse_type: the event type name, or -1 */
static int
parse_type(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(s, type_names[i]) == 0)
			return (int)i;
	return -1;
}

/* deliver: decode one complete line and hand the event on */
static int
deliver(struct kube_watch_split *w, const char *line, size_t len,
	kube_watch_event_fn *fn, void *arg)
{
	cJSON *ev, *obj;
	const cJSON *type;
	int t;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0; /* blank keep-alive line */
	ev = cJSON_ParseWithLength(line, len);
	type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	obj = cJSON_DetachItemFromObjectCaseSensitive(ev, "object");
	t = cJSON_IsString(type) ? parse_type(type->valuestring) : -1;
	cJSON_Delete(ev);
	if (t < 0 || !cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return -EBADMSG;
	}
	w->events++;
	return fn(arg, (enum kube_watch_type)t, obj);
}

int
kube_watch_feed(struct kube_watch_split *w, const char *data, size_t len,
		kube_watch_event_fn *fn, void *arg)
{
	const char *nl;
	size_t n;
	int r;

	while (len > 0) {
		nl = memchr(data, '\n', len);
		n = nl ? (size_t)(nl - data) : len;
		if (nl != NULL && w->line.len == 0) {
			/* the whole line is in this chunk: no copy */
			if (n > w->line.max)
				return -E2BIG;
			r = deliver(w, data, n, fn, arg);
		} else {
			if (buf_append(&w->line, data, n) < 0)
				return -E2BIG;
			r = 0;
			if (nl != NULL) {
				r = deliver(w, w->line.data, w->line.len, fn,
					    arg);
				buf_reset(&w->line);
			}
		}
		if (r != 0)
			return r;
		data += n + (nl != NULL);
		len -= n + (nl != NULL);
	}
	return 0;
}

void
kube_backoff_init(struct kube_backoff *b, uint64_t base_ms, uint64_t max_ms,
		  uint64_t reset_ms, uint32_t seed)
{
	memset(b, 0, sizeof(*b));
	b->base_ms = base_ms;
	b->max_ms = max_ms;
	b->reset_ms = reset_ms;
	b->cur_ms = base_ms;
	b->seed = seed ? seed : 0x9e3779b9u;
}

/* rnd: the next xorshift32 value */
static uint32_t
rnd(struct kube_backoff *b)
{
	uint32_t x = b->seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return b->seed = x;
}

uint64_t
kube_backoff_next(struct kube_backoff *b, uint64_t now_ms)
{
	uint64_t d;

	if (b->last_fail_ms != 0 && now_ms - b->last_fail_ms >= b->reset_ms)
		b->cur_ms = b->base_ms; /* it worked for a while */
	b->last_fail_ms = now_ms ? now_ms : 1;
	d = b->cur_ms;
	b->cur_ms = b->cur_ms * 2 > b->max_ms ? b->max_ms : b->cur_ms * 2;
	/* jitter: up to d more, so reconnecting clients spread out */
	return d + (d ? rnd(b) % (d + 1) : 0);
}
