/*
 * fuzz_watch: the watch stream splitter on arbitrary bytes, fed whole
 * and in chunks whose sizes come from the input itself; events are
 * freed by the callback. Any crash, leak or sanitizer report is a
 * finding; so is a line over the limit that is not refused.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kube_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* drop: count and free one event */
static int
drop(void *arg, enum kube_watch_type t, cJSON *obj)
{
	size_t *n = arg;

	(void)t;
	(*n)++;
	cJSON_Delete(obj);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_watch_split w;
	size_t n = 0, off = 0, step;
	int r = 0;

	kube_watch_split_init(&w, 4096);
	(void)kube_watch_feed(&w, (const char *)data, size, drop, &n);
	kube_watch_split_reset(&w);
	while (off < size && r == 0) {
		step = 1 + data[off] % 17;
		if (step > size - off)
			step = size - off;
		r = kube_watch_feed(&w, (const char *)data + off, step, drop,
				    &n);
		if (r == -E2BIG && w.line.len > w.line.max)
			abort(); /* the bound did not hold */
		off += step;
	}
	kube_watch_split_deinit(&w);
	return 0;
}
