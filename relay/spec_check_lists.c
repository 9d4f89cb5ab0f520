/*
 * spec_check_lists: the rules of the spec's lists beside the field
 * table (spec_check.c has the table's): metrics.allowedNamespaces,
 * namespace names as the CRD's items pattern says.
 *
 * Untrusted input: the names (user-written); at most 64 bytes of one
 * are echoed.
 */
#include <errno.h>
#include <string.h>

#include "spec.h"
#include "spec_int.h"

int
spec_check_namespaces(const struct relay_spec *s, struct buf *err)
{
	struct buf why = BUF_INIT(256);
	size_t i;
	int r = 0;

	for (i = 0; i < s->metrics.n_allowed_namespaces; i++) {
		const char *ns = s->metrics.allowed_namespaces[i];

		buf_reset(&why);
		if (strlen(ns) > 63 || strchr(ns, '.') != NULL ||
		    spec_check_k8s_name(ns, &why) < 0) {
			(void)buf_printf(err,
					 "spec.%s: \"%.64s\" is not a "
					 "namespace name\n",
					 SPEC_PATH_NAMESPACES, ns);
			r = -EINVAL;
		}
	}
	buf_deinit(&why);
	return r;
}
