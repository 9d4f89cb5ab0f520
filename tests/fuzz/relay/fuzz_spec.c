/*
 * fuzz_spec: a ChatmailRelay from untrusted bytes (YAML or JSON, as a
 * user's file or an apiserver object) through yamljson, spec_from_cr and
 * spec_from_json; a spec that parses is rendered for the Pod and a local
 * target, and its dump must parse back to the same spec.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "render/render.h"
#include "spec.h"
#include "yamljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* render_once: every file for s on t, then free them */
static void
render_once(const struct relay_spec *s, struct render_target *t)
{
	struct buf err = BUF_INIT(65536);
	struct render_set set;

	if (render_all(s, t, &set, &err) == 0)
		render_set_free(&set);
	buf_deinit(&err);
	render_target_free(&t);
}

/* roundtrip: dump, parse again, dump: the two dumps are equal */
static void
roundtrip(const struct relay_spec *s)
{
	struct buf err = BUF_INIT(65536);
	struct relay_spec *again = NULL;
	cJSON *a = spec_dump_json(s), *b;

	if (spec_from_json(a, SPEC_STRICT, &again, &err, NULL) != 0)
		abort();
	b = spec_dump_json(again);
	if (!cJSON_Compare(a, b, 1))
		abort();
	cJSON_Delete(a);
	cJSON_Delete(b);
	spec_free(&again);
	buf_deinit(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(65536), warn = BUF_INIT(65536);
	struct relay_spec *s = NULL;
	cJSON *doc = NULL;

	if (yamljson_parse_one((const char *)data, size, &doc, &err) == 0) {
		if (spec_from_cr(doc, 0, &s, &err, &warn) == 0) {
			roundtrip(s);
			render_once(s, render_target_new_pod());
			render_once(s,
				    render_target_new_local("/srv/fuzz", ""));
			spec_free(&s);
		}
		/* the same tree as a bare .spec */
		if (spec_from_json(doc, SPEC_STRICT, &s, &err, &warn) == 0)
			spec_free(&s);
	}
	cJSON_Delete(doc);
	buf_deinit(&err);
	buf_deinit(&warn);
	return 0;
}
