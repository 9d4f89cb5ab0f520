/*
 * fuzz_yaml: YAML documents (kubeconfigs, relay files) into cJSON and,
 * for every document that parses, back to YAML and through the parser
 * again: the round trip must give the same JSON. (The kubeconfig
 * loader, which is the operator's, has its own target:
 * tests/fuzz/chatmail-operator/fuzz_kubeconfig.c.)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yamljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* roundtrip: emit doc and parse it back; abort when it differs */
static void
roundtrip(const cJSON *doc)
{
	struct buf y = BUF_INIT(1u << 22), err = BUF_INIT(256);
	cJSON *back = NULL;
	char *a, *b;

	if (yamljson_emit(doc, &y) == 0 &&
	    yamljson_parse_one(y.data ? y.data : "", y.len, &back, &err) == 0) {
		a = cJSON_PrintUnformatted(doc);
		b = cJSON_PrintUnformatted(back);
		if (a && b && strcmp(a, b) != 0)
			abort();
		cJSON_free(a);
		cJSON_free(b);
	}
	cJSON_Delete(back);
	buf_deinit(&y);
	buf_deinit(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(512);
	cJSON *docs = NULL, *d;

	if (yamljson_parse((const char *)data, size, &docs, &err) == 0) {
		cJSON_ArrayForEach(d, docs)
		{
			roundtrip(d);
		}
	}
	cJSON_Delete(docs);
	buf_deinit(&err);
	return 0;
}
