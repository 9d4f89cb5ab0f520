/*
 * test_yamljson: YAML parsing (typing like kubectl, anchors, limits)
 * and emitting (round trips through our parser and libyaml).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "yamljson.h"

/* json_of: parse one YAML document and print it as compact JSON */
static char *
json_of(const char *yaml)
{
	cJSON *doc;
	struct buf err = BUF_INIT(1024);
	char *s;

	if (yamljson_parse_one(yaml, strlen(yaml), &doc, &err) < 0) {
		print_error("parse failed: %s\n", buf_cstr(&err));
		buf_deinit(&err);
		return NULL;
	}
	s = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	buf_deinit(&err);
	return s;
}

static void
test_scalar_typing(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "a: 1", "{\"a\":1}" },
		{ "a: -2.5", "{\"a\":-2.5}" },
		{ "a: '1'", "{\"a\":\"1\"}" },
		{ "a: \"true\"", "{\"a\":\"true\"}" },
		{ "a: yes", "{\"a\":true}" },
		{ "a: off", "{\"a\":false}" },
		{ "a: ~", "{\"a\":null}" },
		{ "a:", "{\"a\":null}" },
		{ "a: 0755", "{\"a\":\"0755\"}" },
		{ "a: 500M", "{\"a\":\"500M\"}" },
		{ "a: !!str 12", "{\"a\":\"12\"}" },
		{ "a: 1e3", "{\"a\":1000}" },
		{ "a: [1, x, {b: c}]", "{\"a\":[1,\"x\",{\"b\":\"c\"}]}" },
		{ "a: |\n  x\n  y\n", "{\"a\":\"x\\ny\\n\"}" },
		{ "a: 1\na: 2", "{\"a\":2}" },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = json_of(cases[i].in);
		assert_str(got, cases[i].want);
		cJSON_free(got);
	}
}

static void
test_multi_document(void **state)
{
	const char *y = "---\na: 1\n---\n---\nb: 2\n...\n";
	cJSON *docs;
	struct buf err = BUF_INIT(256);

	(void)state;
	assert_int(yamljson_parse(y, strlen(y), &docs, &err), 0);
	assert_int(cJSON_GetArraySize(docs), 2);
	cJSON_Delete(docs);
	buf_deinit(&err);
}

static void
test_anchors_and_limits(void **state)
{
	char *got = json_of("x: &a {k: v}\ny: *a\n");
	struct buf err = BUF_INIT(256), big = BUF_INIT(1u << 20);
	cJSON *doc;
	int i;

	(void)state;
	assert_str(got, "{\"x\":{\"k\":\"v\"},\"y\":{\"k\":\"v\"}}");
	cJSON_free(got);
	/* an anchor in a value a repeated key replaced (found by
	 * fuzz_kubeconfig: the alias read the freed value) */
	got = json_of("x: [&a {k: v}]\nx: 1\ny: *a\n");
	assert_str(got, "{\"x\":1,\"y\":{\"k\":\"v\"}}");
	cJSON_free(got);
	/* a billion laughs stops at the node cap */
	assert_int(buf_puts(&big, "a: &a [x,x,x,x,x,x,x,x,x,x]\n"), 0);
	for (i = 0; i < 8; i++)
		assert_int(buf_printf(&big,
				      "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,"
				      "*%c,*%c,*%c]\n",
				      'b' + i, 'b' + i, 'a' + i, 'a' + i,
				      'a' + i, 'a' + i, 'a' + i, 'a' + i,
				      'a' + i, 'a' + i, 'a' + i, 'a' + i),
			   0);
	assert_int(yamljson_parse_one(big.data, big.len, &doc, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "too many nodes"));
	buf_reset(&err);
	/* deep nesting */
	buf_reset(&big);
	for (i = 0; i < 200; i++)
		assert_int(buf_putc(&big, '['), 0);
	assert_int(yamljson_parse_one(big.data, big.len, &doc, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "nesting"));
	buf_reset(&err);
	assert_int(yamljson_parse_one("a: [", 4, &doc, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "yaml: line "));
	buf_deinit(&err);
	buf_deinit(&big);
}

/* roundtrip: JSON -> YAML -> JSON must give the same JSON */
static void
roundtrip(const char *json, const char *want_yaml)
{
	cJSON *in = cJSON_Parse(json), *back;
	struct buf out = BUF_INIT(1u << 16), err = BUF_INIT(256);
	char *a, *b;

	assert_non_null(in);
	assert_int(yamljson_emit(in, &out), 0);
	if (want_yaml != NULL)
		assert_str(buf_cstr(&out), want_yaml);
	if (yamljson_parse_one(out.data, out.len, &back, &err) < 0)
		print_error("reparse: %s\n%s\n", buf_cstr(&err),
			    buf_cstr(&out));
	assert_non_null(back);
	a = cJSON_PrintUnformatted(in);
	b = cJSON_PrintUnformatted(back);
	assert_str(b, a);
	cJSON_free(a);
	cJSON_free(b);
	cJSON_Delete(in);
	cJSON_Delete(back);
	buf_deinit(&out);
	buf_deinit(&err);
}

static void
test_emit(void **state)
{
	(void)state;
	roundtrip("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
		  "\"metadata\":{\"name\":\"x\",\"labels\":{\"a/b\":\"c\"}},"
		  "\"data\":{\"main.cf\":\"a = b\\nc = d\\n\"}}",
		  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
		  "  labels:\n    a/b: c\ndata:\n  main.cf: |\n    a = b\n"
		  "    c = d\n");
	roundtrip("{\"l\":[{\"name\":\"nginx\",\"ports\":[{\"p\":25}]},[1,2],"
		  "\"s\",{},[]]}",
		  "l:\n- name: nginx\n  ports:\n  - p: 25\n- \n  - 1\n  - 2\n"
		  "- s\n- {}\n- []\n");
	roundtrip("{\"s\":[\"true\",\"1\",\"\",\" x\",\"a: b\",\"#c\","
		  "\"null\",\"-\",\"0x1\",\"12:30\",\"x\\ty\",\"ü\"]}",
		  NULL);
	roundtrip("{\"t\":\"no newline\\nat end\",\"u\":\"two\\n\\n\","
		  "\"v\":\"  lead\\nx\\n\",\"w\":\"trail \\nx\",\"n\":1.5,"
		  "\"b\":false,\"z\":null,\"big\":1e300}",
		  NULL);
	/* the first line that is not empty starts with a space: the
	 * indentation indicator is needed after leading empty lines too
	 * (found by fuzz_yaml), and a top-level literal is indented */
	roundtrip("{\"k\":\"\\n  x\\n\",\"l\":[\"\\n\\n y\\nz\"]}",
		  "k: |2\n\n    x\nl:\n- |2-\n\n\n   y\n  z\n");
	roundtrip("\"\\n ]\\n\"", "|2\n\n   ]\n");
	roundtrip("\"a\\nb\\n\"", "|\n  a\n  b\n");
	/* only line breaks: a literal of empty lines reads back as "", so
	 * they are quoted (found by the fuzz campaign) */
	roundtrip("{\"n\":\"\\n\",\"m\":[\"\\n\\n\"]}",
		  "\"n\": \"\\n\"\nm:\n- \"\\n\\n\"\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalar_typing),
		cmocka_unit_test(test_multi_document),
		cmocka_unit_test(test_anchors_and_limits),
		cmocka_unit_test(test_emit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
