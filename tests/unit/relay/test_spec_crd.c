/*
 * test_spec_crd: the CRD (crds/chatmail.at_chatmailrelays.yaml) and the
 * C field table (relay/spec_table.c) describe the same resource: the
 * committed CRD and the chart's copy are, byte for byte, what
 * `chatmail-operator crd` generates from the tables (`make crd` after
 * changing a field); every table field is in the schema with the same
 * default, range, length and enum values, which for chatmail.ini
 * options are the option table's; every schema property is a table
 * field or one of the free-form subtrees; every property has a
 * description (kubectl explain); the CRD has the status subresource and
 * printer columns. The example CRs in crds/examples/ parse, strictly.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "config_opts.h"
#include "fs.h"
#include "num.h"
#include "spec.h"
#include "spec_int.h"
#include "yamljson.h"

#define CRD_PATH "crds/chatmail.at_chatmailrelays.yaml"
#define CHART_CRD_PATH \
	"charts/chatmail-operator/files/crds/chatmail.at_chatmailrelays.yaml"

static cJSON *crd;

/* top: the repository root (tests run there; TOP overrides) */
static const char *
top(void)
{
	const char *t = getenv("TOP");

	return t != NULL && *t ? t : ".";
}

/* load_yaml: a YAML file of the repository as JSON */
static cJSON *
load_yaml(const char *rel)
{
	struct buf text = BUF_INIT(4 << 20), err = BUF_INIT(4096);
	char path[4096];
	cJSON *j = NULL;

	(void)snprintf(path, sizeof(path), "%s/%s", top(), rel);
	assert_int(fs_read_file(path, &text), 0);
	if (yamljson_parse_one(buf_cstr(&text), text.len, &j, &err) < 0) {
		print_error("%s: %s\n", path, buf_cstr(&err));
		fail();
	}
	buf_deinit(&text);
	buf_deinit(&err);
	return j;
}

/* version: the v1alpha1 entry of spec.versions */
static const cJSON *
version(void)
{
	const cJSON *vs = cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"),
					      "versions");

	assert_int(cJSON_GetArraySize(vs), 1);
	return cJSON_GetArrayItem(vs, 0);
}

/* spec_schema: the schema of .spec */
static const cJSON *
spec_schema(void)
{
	const cJSON *s = cJSON_GetObjectItem(version(), "schema");

	s = cJSON_GetObjectItem(s, "openAPIV3Schema");
	s = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "properties"), "spec");
	assert_non_null(s);
	return s;
}

/* prop_at: the schema of a dotted path below a schema, or NULL */
static const cJSON *
prop_at(const cJSON *schema, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (schema != NULL && *path) {
		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		assert_true(n < sizeof(key));
		memcpy(key, path, n);
		key[n] = '\0';
		schema = cJSON_GetObjectItem(
			cJSON_GetObjectItem(schema, "properties"), key);
		path += n + (dot != NULL);
	}
	return schema;
}

/* check_default: the CRD default equals the table's */
static void
check_default(const struct spec_field *f, const cJSON *p)
{
	const cJSON *d = cJSON_GetObjectItem(p, "default");
	const char *def = spec_field_def(f);
	double want;
	int b;

	if (def == NULL || (f->flags & (SPEC_F_REQUIRED | SPEC_F_DERIVED))) {
		if (d != NULL)
			print_error("%s: CRD has a default, table none\n",
				    f->path);
		assert_null(d);
		return;
	}
	if (d == NULL)
		print_error("%s: no default in the CRD\n", f->path);
	assert_non_null(d);
	switch (f->type) {
	case SPEC_FT_STR:
	case SPEC_FT_ENUM:
		assert_true(cJSON_IsString(d));
		assert_str(d->valuestring, def);
		break;
	case SPEC_FT_BOOL:
		assert_int(num_parse_bool(def, &b), 0);
		assert_int(cJSON_IsTrue(d), b);
		break;
	default:
		assert_int(num_parse_double(def, -1e300, 1e300, &want), 0);
		assert_true(cJSON_IsNumber(d));
		if (d->valuedouble != want)
			print_error("%s: default %g, want %g\n", f->path,
				    d->valuedouble, want);
		assert_true(d->valuedouble == want);
	}
}

/* num_item: a numeric keyword of schema p, or NAN */
static double
num_item(const cJSON *p, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(p, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* check_limits: ranges, lengths, enums */
static void
check_limits(const struct spec_field *f, const cJSON *p)
{
	const cJSON *e = cJSON_GetObjectItem(p, "enum");
	double minlen = num_item(p, "minLength"), min, max;
	int i;

	spec_field_range(f, &min, &max);
	switch (f->type) {
	case SPEC_FT_UINT:
	case SPEC_FT_U64:
	case SPEC_FT_DOUBLE:
		if (num_item(p, "minimum") != min ||
		    num_item(p, "maximum") != max)
			print_error("%s: range differs\n", f->path);
		assert_true(num_item(p, "minimum") == min);
		assert_true(num_item(p, "maximum") == max);
		break;
	case SPEC_FT_ENUM:
		assert_non_null(e);
		for (i = 0; f->names[i] != NULL; i++)
			assert_str(cJSON_GetArrayItem(e, i)->valuestring,
				   f->names[i]);
		assert_int(cJSON_GetArraySize(e), i);
		break;
	case SPEC_FT_STR:
		if (e != NULL) { /* a syntax that is a list of values */
			assert_non_null(f->syntax);
			assert_non_null(f->syntax->values);
			for (i = 0; f->syntax->values[i] != NULL; i++)
				assert_str(
					cJSON_GetArrayItem(e, i)->valuestring,
					f->syntax->values[i]);
			assert_int(cJSON_GetArraySize(e), i);
			break;
		}
		if (f->flags & SPEC_F_NUMSTR)
			break; /* int-or-string: by value */
		if (num_item(p, "maxLength") != max)
			print_error("%s: maxLength differs\n", f->path);
		assert_true(num_item(p, "maxLength") == max);
		if (isnan(minlen))
			minlen = 0;
		if (minlen != min)
			print_error("%s: minLength differs\n", f->path);
		assert_true(minlen == min);
		break;
	case SPEC_FT_BOOL:
		assert_str(cJSON_GetObjectItem(p, "type")->valuestring,
			   "boolean");
		break;
	}
}

/* test_fields_in_crd: every table field matches its schema */
static void
test_fields_in_crd(void **state)
{
	const cJSON *spec = spec_schema(), *p, *req;
	size_t i;

	(void)state;
	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];

		p = prop_at(spec, f->path);
		if (p == NULL)
			print_error("%s: not in the CRD\n", f->path);
		assert_non_null(p);
		check_default(f, p);
		check_limits(f, p);
	}
	req = cJSON_GetObjectItem(spec, "required");
	assert_str(cJSON_GetArrayItem(req, 0)->valuestring, "domain");
}

/* known_path: a table field or a free-form subtree */
static int
known_path(const char *path)
{
	size_t i;
	int c;
	char buf[128];

	for (i = 0; i < spec_nfields; i++)
		if (strcmp(spec_fields[i].path, path) == 0)
			return 1;
	if (strcmp(path, SPEC_PATH_ANNOTATIONS) == 0 ||
	    strcmp(path, SPEC_PATH_NAMESPACES) == 0)
		return 1;
	for (c = 0; c < SPEC_C_COUNT; c++) {
		(void)snprintf(buf, sizeof(buf), "images.%s",
			       spec_container_name(c));
		if (strcmp(path, buf) == 0)
			return 1;
		(void)snprintf(buf, sizeof(buf), "resources.%s",
			       spec_container_name(c));
		if (strcmp(path, buf) == 0)
			return 1;
	}
	return 0;
}

/* walk: every property below schema has a description; the leaves of
 * .spec are known fields (when check_known) */
static void
walk(const cJSON *schema, const char *prefix, int check_known)
{
	const cJSON *props = cJSON_GetObjectItem(schema, "properties"), *p;
	const cJSON *desc;
	char path[256];

	cJSON_ArrayForEach(p, props)
	{
		(void)snprintf(path, sizeof(path), "%s%s%s", prefix,
			       *prefix ? "." : "", p->string);
		desc = cJSON_GetObjectItem(p, "description");
		if (!cJSON_IsString(desc) || strlen(desc->valuestring) < 8)
			print_error("%s: no description\n", path);
		assert_true(cJSON_IsString(desc));
		if (check_known && known_path(path)) {
			walk(p, path, 0); /* resources.x.requests... */
			continue;
		}
		if (cJSON_GetObjectItem(p, "properties") != NULL) {
			walk(p, path, check_known);
			continue;
		}
		if (check_known && !known_path(path))
			print_error("%s: in the CRD, not in spec.c\n", path);
		assert_true(!check_known || known_path(path));
	}
}

/* test_crd_in_fields: every CRD property is known and described */
static void
test_crd_in_fields(void **state)
{
	const cJSON *root = cJSON_GetObjectItem(
		cJSON_GetObjectItem(version(), "schema"), "openAPIV3Schema");

	(void)state;
	walk(spec_schema(), "", 1);
	walk(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "properties"),
				 "status"),
	     "status", 0);
}

/* test_crd_status: the status fields the operator writes are in the
 * schema (a field missing there fails the /status apply) */
static void
test_crd_status(void **state)
{
	static const char *const fields[] = {
		"observedGeneration", "conditions",	"address",
		"tlsSecretName",      "dkimSecretName", "dnsRecords",
		"keptOnDelete",
	};
	const cJSON *root = cJSON_GetObjectItem(
		cJSON_GetObjectItem(version(), "schema"), "openAPIV3Schema");
	const cJSON *props = cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(root, "properties"),
				    "status"),
		"properties");
	const cJSON *kept;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (cJSON_GetObjectItem(props, fields[i]) == NULL)
			print_error("status.%s missing\n", fields[i]);
		assert_non_null(cJSON_GetObjectItem(props, fields[i]));
	}
	kept = cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(props, "keptOnDelete"),
				    "items"),
		"properties");
	assert_non_null(cJSON_GetObjectItem(kept, "kind"));
	assert_non_null(cJSON_GetObjectItem(kept, "name"));
}

/* test_crd_shape: names, scope, status subresource, printer columns */
static void
test_crd_shape(void **state)
{
	const cJSON *spec = cJSON_GetObjectItem(crd, "spec"), *v = version();
	const cJSON *cols, *names;
	const char *want[] = { "Domain", "Ready", "Address", "Age" };
	size_t i;

	(void)state;
	assert_str(cJSON_GetObjectItem(crd, "apiVersion")->valuestring,
		   "apiextensions.k8s.io/v1");
	assert_str(cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "metadata"),
				       "name")
			   ->valuestring,
		   "chatmailrelays.chatmail.at");
	assert_str(cJSON_GetObjectItem(spec, "group")->valuestring,
		   "chatmail.at");
	assert_str(cJSON_GetObjectItem(spec, "scope")->valuestring,
		   "Namespaced");
	names = cJSON_GetObjectItem(spec, "names");
	assert_str(cJSON_GetObjectItem(names, "kind")->valuestring, SPEC_KIND);
	assert_str(cJSON_GetObjectItem(v, "name")->valuestring, "v1alpha1");
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(
		cJSON_GetObjectItem(v, "subresources"), "status")));
	cols = cJSON_GetObjectItem(v, "additionalPrinterColumns");
	assert_int(cJSON_GetArraySize(cols), 4);
	for (i = 0; i < 4; i++)
		assert_str(cJSON_GetObjectItem(cJSON_GetArrayItem(cols, (int)i),
					       "name")
				   ->valuestring,
			   want[i]);
}

/* test_examples: every example CR parses strictly */
static void
test_examples(void **state)
{
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s = NULL;
	char dir[4096], path[4096 + 256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/crds/examples", top());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".yaml") == NULL)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf_reset(&err);
		if (spec_load_file(path, SPEC_STRICT, &s, &err, NULL) < 0) {
			print_error("%s: %s\n", path, buf_cstr(&err));
			fail();
		}
		spec_free(&s);
		n++;
	}
	closedir(d);
	assert_true(n >= 3);
	buf_deinit(&err);
}

/* first_diff: the first line where two texts differ (1-based) */
static size_t
first_diff(const char *a, const char *b)
{
	size_t line = 1;

	for (; *a != '\0' && *a == *b; a++, b++)
		line += *a == '\n';
	return line;
}

/* same_as_generated: a committed file equals the generated CRD */
static void
same_as_generated(const char *rel, const struct buf *gen)
{
	struct buf text = BUF_INIT(4 << 20);
	char path[4096];

	(void)snprintf(path, sizeof(path), "%s/%s", top(), rel);
	assert_int(fs_read_file(path, &text), 0);
	if (text.len != gen->len || memcmp(text.data, gen->data, gen->len)) {
		print_error("%s differs from `chatmail-operator crd` from line "
			    "%zu on: run make crd\n",
			    rel, first_diff(buf_cstr(&text), buf_cstr(gen)));
		fail();
	}
	buf_deinit(&text);
}

/* test_crd_generated: crds/ and the chart's copy are the generated CRD */
static void
test_crd_generated(void **state)
{
	struct buf gen = BUF_INIT(4 << 20), again = BUF_INIT(4 << 20);
	cJSON *j;

	(void)state;
	assert_int(spec_crd_yaml(&gen), 0);
	assert_int(spec_crd_yaml(&again), 0);
	assert_int(gen.len, again.len); /* deterministic */
	assert_int(memcmp(gen.data, again.data, gen.len), 0);
	same_as_generated(CRD_PATH, &gen);
	same_as_generated(CHART_CRD_PATH, &gen);
	/* the YAML is the JSON tree spec_crd_json() builds */
	j = load_yaml(CRD_PATH);
	assert_true(cJSON_Compare(j, crd, 1));
	cJSON_Delete(j);
	j = spec_crd_json();
	assert_true(cJSON_Compare(j, crd, 1));
	cJSON_Delete(j);
	buf_deinit(&gen);
	buf_deinit(&again);
}

/* ini_type_ok: a field's type can hold its option's values */
static int
ini_type_ok(const struct spec_field *f, const struct config_opt *o)
{
	switch (o->type) {
	case OPT_STR:
		return f->type == SPEC_FT_STR && !(f->flags & SPEC_F_NUMSTR);
	case OPT_SIZE:
		return f->type == SPEC_FT_STR && (f->flags & SPEC_F_NUMSTR);
	case OPT_UINT:
		return f->type == SPEC_FT_UINT;
	case OPT_U64:
		return f->type == SPEC_FT_U64;
	case OPT_DOUBLE:
		return f->type == SPEC_FT_DOUBLE;
	case OPT_BOOL:
		return f->type == SPEC_FT_BOOL;
	}
	return 0;
}

/* test_table: every ini field names an option of a matching type and
 * keeps no default or range of its own; every field has a description;
 * every object on a field's path has a spec_groups entry */
static void
test_table(void **state)
{
	const struct config_opt *o;
	size_t i, j, n;
	int found;

	(void)state;
	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];

		assert_true(f->desc != NULL && strlen(f->desc) >= 8);
		if (f->ini == NULL)
			continue;
		o = config_opt_find(f->ini);
		if (o == NULL || !ini_type_ok(f, o))
			print_error("%s: option %s missing or of another "
				    "type\n",
				    f->path, f->ini);
		assert_true(o != NULL && ini_type_ok(f, o));
		assert_true(f->min == 0 && f->max == 0);
		if (!(f->flags & SPEC_F_OWN_DEFAULT))
			assert_null(f->def);
		for (n = strlen(f->path); n > 0; n--) {
			if (f->path[n] != '.')
				continue;
			found = 0;
			for (j = 0; j < spec_ngroups; j++)
				found |= strlen(spec_groups[j].path) == n &&
					 !strncmp(spec_groups[j].path, f->path,
						  n);
			if (!found)
				print_error("%.*s: no spec_groups entry\n",
					    (int)n, f->path);
			assert_true(found);
		}
	}
	for (j = 0; j < spec_ngroups; j++)
		assert_true(strlen(spec_groups[j].desc) >= 8);
	assert_str(spec_groups[0].path, "");
}

static int
setup(void **state)
{
	(void)state;
	crd = load_yaml(CRD_PATH);
	return crd == NULL;
}

/* metadata.generation beyond int64_t is clamped, not cast (a cast is
 * undefined) */
static void
test_cr_generation(void **state)
{
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s = NULL;
	cJSON *j = cJSON_Parse(
		"{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
		"\"ChatmailRelay\", \"metadata\": {\"name\": \"chat\", "
		"\"generation\": 1e300}, \"spec\": "
		"{\"domain\": \"chat.example.org\"}}");

	(void)state;
	assert_int(spec_from_cr(j, SPEC_STRICT, &s, &err, NULL), 0);
	assert_true(s->generation == INT64_MAX);
	cJSON_Delete(j);
	spec_free(&s);
	buf_deinit(&err);
}

static int
teardown(void **state)
{
	(void)state;
	cJSON_Delete(crd);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crd_generated),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_crd_shape),
		cmocka_unit_test(test_fields_in_crd),
		cmocka_unit_test(test_crd_in_fields),
		cmocka_unit_test(test_crd_status),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_cr_generation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
