/*
 * fuzz_object: what the operator derives from an object the API server
 * returns (any user allowed to edit a child can shape it): the
 * managedFields projection and its hash, the compact child cache entry
 * of every owned kind, status conditions look-ups.
 */
#include <stddef.h>
#include <stdint.h>

#include "operator.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *obj = cJSON_ParseWithLength((const char *)data, size), *copy;
	char hex[UTIL_SHA256_HEX];
	struct kid_arg ka = { NULL, OK_STATEFULSET };
	struct child *c;
	int k;

	if (obj == NULL)
		return 0;
	child_projection_hash(obj, hex);
	child_desired_hash(obj, hex);
	(void)status_condition(util_get(obj, "status"), "Ready");
	for (k = 0; k < OK_COUNT; k++) {
		ka.kind = (enum op_kind)k;
		copy = cJSON_Duplicate(obj, 1);
		c = child_transform(&ka, &copy);
		child_free(c);
		cJSON_Delete(copy);
	}
	cJSON_Delete(obj);
	return 0;
}
