/*
 * fuzz_prom_merge: chatmail-exporter's merge of metric texts. The input
 * is one source's text. Checks: no crash, and what the merge writes is
 * itself text the merge takes without dropping a line (every sample it
 * let through is well-formed 0.0.4).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "exporter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exporter_merge *m = exporter_merge_new(), *again;
	struct buf out = BUF_INIT(EXPORTER_OUT_MAX + 65536);

	(void)exporter_merge_add(m, "a", (const char *)data, size);
	if (exporter_merge_render(m, &out) == 0 && size < 32768) {
		again = exporter_merge_new();
		if (exporter_merge_add(again, "b", out.data, out.len) != 0 ||
		    exporter_merge_dropped(again) != 0)
			abort();
		exporter_merge_free(&again);
	}
	exporter_merge_free(&m);
	buf_deinit(&out);
	return 0;
}
