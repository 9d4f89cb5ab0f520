/*
 * spec_parse: a ChatmailRelay from JSON: the .spec object or the whole
 * custom resource (apiVersion, kind, metadata checked), from cJSON or
 * from a YAML/JSON file. Absent fields keep the defaults of spec_new();
 * type errors, unknown fields and the free-form subtrees (images,
 * resources, service annotations) are reported by their full path;
 * then spec_validate applies the value rules.
 *
 * Untrusted input: the JSON tree and the file (capped at SPEC_FILE_MAX
 * bytes; YAML limits are yamljson's). Keys are echoed in errors only
 * capped at 64 bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fs.h"
#include "spec.h"
#include "spec_int.h"
#include "xmalloc.h"
#include "yamljson.h"

/* json_at: the item at a dotted path below obj, or NULL */
static const cJSON *
json_at(const cJSON *obj, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (obj != NULL && *path != '\0') {
		dot = strchr(path, '.');
		n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key) || !cJSON_IsObject(obj))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
		path += n + (dot != NULL);
	}
	return obj;
}

/* json_number_text: an integral or decimal number as text for
 * spec_field_set_text; -EINVAL if it is not representable */
static int
json_number_text(const cJSON *v, int integral, char *out, size_t outsize)
{
	double d = v->valuedouble;

	if (!isfinite(d))
		return -EINVAL;
	if (integral) {
		if (d < 0 || d > 9007199254740992.0 || floor(d) != d)
			return -EINVAL;
		(void)snprintf(out, outsize, "%.0f", d);
	} else {
		(void)snprintf(out, outsize, "%.17g", d);
	}
	return 0;
}

/* parse_field: set field f from JSON value v; type errors into err */
static int
parse_field(struct relay_spec *s, const struct spec_field *f, const cJSON *v,
	    struct buf *err)
{
	struct buf why = BUF_INIT(256);
	char num[64];
	const char *text = NULL;
	const char *want = "a string";
	int r = -EINVAL;

	switch (f->type) {
	case SPEC_FT_STR:
	case SPEC_FT_ENUM:
		if (cJSON_IsString(v))
			text = v->valuestring;
		else if ((f->flags & SPEC_F_NUMSTR) && cJSON_IsNumber(v) &&
			 json_number_text(v, 1, num, sizeof(num)) == 0)
			text = num;
		break;
	case SPEC_FT_UINT:
	case SPEC_FT_U64:
		want = "a non-negative integer";
		if (cJSON_IsNumber(v) &&
		    json_number_text(v, 1, num, sizeof(num)) == 0)
			text = num;
		break;
	case SPEC_FT_DOUBLE:
		want = "a number";
		if (cJSON_IsNumber(v) &&
		    json_number_text(v, 0, num, sizeof(num)) == 0)
			text = num;
		break;
	case SPEC_FT_BOOL:
		want = "a boolean";
		if (cJSON_IsBool(v))
			text = cJSON_IsTrue(v) ? "true" : "false";
		break;
	}
	if (text == NULL) {
		(void)buf_printf(err, "spec.%s: must be %s\n", f->path, want);
		goto out;
	}
	if (f->type == SPEC_FT_ENUM && spec_enum_index(f->names, text) < 0) {
		(void)buf_printf(err, "spec.%s: must be one of", f->path);
		for (int i = 0; f->names[i] != NULL; i++)
			(void)buf_printf(err, " %s", f->names[i]);
		(void)buf_printf(err, ", got \"%.64s\"\n", text);
		goto out;
	}
	if (spec_field_set_text(s, f, text, &why) < 0) {
		(void)buf_printf(err, "spec.%s: %s\n", f->path, buf_cstr(&why));
		goto out;
	}
	r = 0;
out:
	buf_deinit(&why);
	return r;
}

/* parse_images: spec.images {container: image} */
static int
parse_images(struct relay_spec *s, const cJSON *obj, struct buf *err)
{
	const cJSON *it;
	int c, r = 0;

	cJSON_ArrayForEach(it, obj)
	{
		c = spec_container_index(it->string);
		if (c < 0) {
			(void)buf_printf(
				err, "spec.images.%.64s: unknown container\n",
				it->string);
			r = -EINVAL;
		} else if (!cJSON_IsString(it)) {
			(void)buf_printf(err,
					 "spec.images.%s: must be a string\n",
					 it->string);
			r = -EINVAL;
		} else {
			free(s->images[c]);
			s->images[c] = xstrdup(it->valuestring);
		}
	}
	return r;
}

/* parse_quantity_map: requests/limits {name: quantity} */
static int
parse_quantity_map(const cJSON *m, const char *where, struct buf *err)
{
	const cJSON *q;
	struct buf why = BUF_INIT(256);
	int r = 0;

	if (!cJSON_IsObject(m)) {
		(void)buf_printf(err, "%s: must be an object\n", where);
		return -EINVAL;
	}
	cJSON_ArrayForEach(q, m)
	{
		buf_reset(&why);
		if (spec_check_annotation_key(q->string, &why) < 0 ||
		    (!cJSON_IsString(q) && !cJSON_IsNumber(q)) ||
		    (cJSON_IsString(q) &&
		     spec_check_quantity(q->valuestring, &why) < 0)) {
			(void)buf_printf(err, "%s.%.64s: not a quantity\n",
					 where, q->string);
			r = -EINVAL;
		}
	}
	buf_deinit(&why);
	return r;
}

/* parse_resources: spec.resources {container: {requests, limits}} */
static int
parse_resources(struct relay_spec *s, const cJSON *obj, struct buf *err)
{
	const cJSON *it, *k;
	char where[128];
	int c, r = 0, bad;

	cJSON_ArrayForEach(it, obj)
	{
		c = spec_container_index(it->string);
		if (c < 0 || !cJSON_IsObject(it)) {
			(void)buf_printf(err, "spec.resources.%.64s: %s\n",
					 it->string,
					 c < 0 ? "unknown container"
					       : "must be an object");
			r = -EINVAL;
			continue;
		}
		bad = 0;
		cJSON_ArrayForEach(k, it)
		{
			(void)snprintf(where, sizeof(where),
				       "spec.resources.%s.%.32s", it->string,
				       k->string);
			if (strcmp(k->string, "requests") != 0 &&
			    strcmp(k->string, "limits") != 0) {
				(void)buf_printf(err, "%s: unknown field\n",
						 where);
				bad = 1;
			} else if (parse_quantity_map(k, where, err) < 0) {
				bad = 1;
			}
		}
		if (bad) {
			r = -EINVAL;
			continue;
		}
		cJSON_Delete(s->resources[c]);
		s->resources[c] = cJSON_Duplicate(it, 1);
	}
	return r;
}

/* parse_annotations: spec.service.annotations {key: value} */
static int
parse_annotations(struct relay_spec *s, const cJSON *obj, struct buf *err)
{
	const cJSON *it;
	size_t n = 0;
	int r = 0;

	cJSON_ArrayForEach(it, obj)
	{
		n++;
	}
	s->service.annotations = xcalloc(n + 1, sizeof(struct spec_kv));
	cJSON_ArrayForEach(it, obj)
	{
		if (!cJSON_IsString(it)) {
			(void)buf_printf(err,
					 "spec.service.annotations.%.64s: must "
					 "be a string\n",
					 it->string);
			r = -EINVAL;
			continue;
		}
		s->service.annotations[s->service.n_annotations].key =
			xstrdup(it->string);
		s->service.annotations[s->service.n_annotations].value =
			xstrdup(it->valuestring);
		s->service.n_annotations++;
	}
	return r;
}

/* parse_namespaces: spec.metrics.allowedNamespaces [name, ...] */
static int
parse_namespaces(struct relay_spec *s, const cJSON *arr, struct buf *err)
{
	const cJSON *it;
	int n = cJSON_GetArraySize(arr), r = 0;

	if (n > SPEC_NAMESPACES_MAX) {
		(void)buf_printf(err, "spec.%s: at most %d names\n",
				 SPEC_PATH_NAMESPACES, SPEC_NAMESPACES_MAX);
		return -EINVAL;
	}
	s->metrics.allowed_namespaces =
		xcalloc((size_t)n + 1, sizeof(*s->metrics.allowed_namespaces));
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it)) {
			(void)buf_printf(err, "spec.%s: must be strings\n",
					 SPEC_PATH_NAMESPACES);
			r = -EINVAL;
			continue;
		}
		s->metrics
			.allowed_namespaces[s->metrics.n_allowed_namespaces++] =
			xstrdup(it->valuestring);
	}
	/* the CRD's items pattern, checked where the list is read */
	if (spec_check_namespaces(s, err) < 0)
		r = -EINVAL;
	return r;
}

/* path_kind: how a dotted path below .spec is handled: 1 a table
 * field, 2 an object on the way to fields, 3 free-form, 4 the list of
 * namespaces, 0 unknown */
static int
path_kind(const char *path)
{
	size_t i, n = strlen(path);

	if (strcmp(path, SPEC_PATH_NAMESPACES) == 0)
		return 4;
	if (strcmp(path, SPEC_PATH_IMAGES) == 0 ||
	    strcmp(path, SPEC_PATH_RESOURCES) == 0 ||
	    strcmp(path, SPEC_PATH_ANNOTATIONS) == 0)
		return 3;
	for (i = 0; i < spec_nfields; i++)
		if (strcmp(spec_fields[i].path, path) == 0)
			return 1;
	for (i = 0; i < spec_nfields; i++)
		if (strncmp(spec_fields[i].path, path, n) == 0 &&
		    spec_fields[i].path[n] == '.')
			return 2;
	return 0;
}

/* walk_unknown: report every key below obj (at prefix) that no field,
 * object or free-form subtree knows; objects expected are checked */
static int
walk_unknown(const cJSON *obj, const char *prefix, unsigned flags,
	     struct buf *err, struct buf *warn)
{
	const cJSON *it;
	char path[256];
	int r = 0, kind;

	cJSON_ArrayForEach(it, obj)
	{
		(void)snprintf(path, sizeof(path), "%s%s%.64s", prefix,
			       *prefix ? "." : "", it->string);
		kind = path_kind(path);
		if (kind == 2 && !cJSON_IsObject(it)) {
			(void)buf_printf(err, "spec.%s: must be an object\n",
					 path);
			r = -EINVAL;
		} else if (kind == 2) {
			if (walk_unknown(it, path, flags, err, warn) < 0)
				r = -EINVAL;
		} else if (kind == 4 && !cJSON_IsArray(it)) {
			(void)buf_printf(err, "spec.%s: must be a list\n",
					 path);
			r = -EINVAL;
		} else if (kind == 3 && !cJSON_IsObject(it)) {
			(void)buf_printf(err, "spec.%s: must be an object\n",
					 path);
			r = -EINVAL;
		} else if (kind == 0 && (flags & SPEC_STRICT)) {
			(void)buf_printf(err, "spec.%s: unknown field\n", path);
			r = -EINVAL;
		} else if (kind == 0 && warn != NULL) {
			(void)buf_printf(
				warn, "spec.%s: unknown field ignored\n", path);
		}
	}
	return r;
}

/* derive: the defaults that depend on other fields (SPEC_F_DERIVED):
 * tls.mode is upstream's by domain, ACME unless the domain starts with
 * "_" or is an IPv4 address (docs/UPSTREAM.md, TLS certificates) */
static void
derive(struct relay_spec *s, const cJSON *obj)
{
	const cJSON *v = json_at(obj, "tls.mode");

	if (v != NULL && !cJSON_IsNull(v))
		return;
	s->tls.mode = s->domain[0] == '_' || spec_is_ipv4(s->domain)
			      ? SPEC_TLS_SELF_SIGNED
			      : SPEC_TLS_ACME;
}

/* fill_from_json: every table field and free-form subtree from obj */
static int
fill_from_json(struct relay_spec *s, const cJSON *obj, struct buf *err)
{
	const cJSON *v;
	size_t i;
	int r = 0;

	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];

		v = json_at(obj, f->path);
		if (v == NULL || cJSON_IsNull(v)) {
			if (f->flags & SPEC_F_REQUIRED) {
				(void)buf_printf(err,
						 "spec.%s: required field "
						 "missing\n",
						 f->path);
				r = -EINVAL;
			}
			continue;
		}
		if (parse_field(s, f, v, err) < 0)
			r = -EINVAL;
	}
	derive(s, obj);
	v = cJSON_GetObjectItemCaseSensitive(obj, SPEC_PATH_IMAGES);
	if (cJSON_IsObject(v) && parse_images(s, v, err) < 0)
		r = -EINVAL;
	v = cJSON_GetObjectItemCaseSensitive(obj, SPEC_PATH_RESOURCES);
	if (cJSON_IsObject(v) && parse_resources(s, v, err) < 0)
		r = -EINVAL;
	v = json_at(obj, SPEC_PATH_ANNOTATIONS);
	if (cJSON_IsObject(v) && parse_annotations(s, v, err) < 0)
		r = -EINVAL;
	v = json_at(obj, SPEC_PATH_NAMESPACES);
	if (cJSON_IsArray(v) && parse_namespaces(s, v, err) < 0)
		r = -EINVAL;
	return r;
}

/* spec_from_json: parse, default and validate a .spec object */
int
spec_from_json(const cJSON *spec, unsigned flags, struct relay_spec **spec_r,
	       struct buf *err, struct buf *warn)
{
	struct relay_spec *s = NULL;
	int r = -EINVAL;

	*spec_r = NULL;
	if (!cJSON_IsObject(spec)) {
		(void)buf_printf(err, "spec: must be an object\n");
		goto out;
	}
	s = spec_new();
	r = walk_unknown(spec, "", flags, err, warn);
	if (fill_from_json(s, spec, err) < 0)
		r = -EINVAL;
	/* validate only what parsed, so messages are not doubled */
	if (r == 0)
		r = spec_validate(s, err);
	if (r == 0) {
		*spec_r = s;
		s = NULL; /* transferred */
	}
out:
	spec_free(&s);
	return r;
}

/* cr_string: metadata/top-level string or "" */
static const char *
cr_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* spec_from_cr: a whole ChatmailRelay object */
int
spec_from_cr(const cJSON *cr, unsigned flags, struct relay_spec **spec_r,
	     struct buf *err, struct buf *warn)
{
	const cJSON *meta, *gen;
	struct relay_spec *s = NULL;
	struct buf why = BUF_INIT(256);
	const char *name;
	int r;

	*spec_r = NULL;
	if (!cJSON_IsObject(cr)) {
		(void)buf_printf(err, "not a JSON/YAML object\n");
		r = -EINVAL;
		goto out;
	}
	r = 0;
	if (strcmp(cr_string(cr, "apiVersion"), SPEC_API_VERSION) != 0) {
		(void)buf_printf(err, "apiVersion: must be %s\n",
				 SPEC_API_VERSION);
		r = -EINVAL;
	}
	if (strcmp(cr_string(cr, "kind"), SPEC_KIND) != 0) {
		(void)buf_printf(err, "kind: must be %s\n", SPEC_KIND);
		r = -EINVAL;
	}
	meta = cJSON_GetObjectItemCaseSensitive(cr, "metadata");
	name = cr_string(meta, "name");
	if (*name == '\0' || strlen(name) > 52 ||
	    spec_check_k8s_name(name, &why) < 0 || strchr(name, '.') != NULL) {
		(void)buf_printf(err, "metadata.name: must be a DNS label of "
				      "at most 52 characters\n");
		r = -EINVAL;
	}
	if (r < 0)
		goto out;
	r = spec_from_json(cJSON_GetObjectItemCaseSensitive(cr, "spec"), flags,
			   &s, err, warn);
	if (r < 0 || s == NULL)
		goto out;
	free(s->name);
	s->name = xstrdup(name);
	free(s->namespace);
	s->namespace = xstrdup(cr_string(meta, "namespace"));
	gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
	/* clamped: a cast of a double beyond int64_t is undefined */
	if (cJSON_IsNumber(gen))
		s->generation = gen->valuedouble >= 0x1p63 ? INT64_MAX
				: gen->valuedouble <= -0x1p63
					? INT64_MIN
					: (int64_t)gen->valuedouble;
	*spec_r = s;
out:
	buf_deinit(&why);
	return r;
}

/* read_file: the whole file (a pipe too: "-f <(...)"), at most
 * SPEC_FILE_MAX bytes, into b; the reason into err */
static int
read_file(const char *path, struct buf *b, struct buf *err)
{
	int r = fs_read_stream(path, b);

	if (r == -EFBIG)
		(void)buf_printf(err, "%s: larger than %d bytes\n", path,
				 SPEC_FILE_MAX);
	else if (r < 0)
		(void)buf_printf(err, "%s: %s\n", path, strerror(-r));
	return r;
}

/* spec_load_file: a YAML or JSON file holding one ChatmailRelay */
int
spec_load_file(const char *path, unsigned flags, struct relay_spec **spec_r,
	       struct buf *err, struct buf *warn)
{
	struct buf text = BUF_INIT(SPEC_FILE_MAX);
	cJSON *json = NULL;
	int r;

	*spec_r = NULL;
	r = read_file(path, &text, err);
	if (r < 0)
		goto out;
	r = yamljson_parse_one(buf_cstr(&text), text.len, &json, err);
	if (r < 0) {
		(void)buf_printf(err, "%s: not a YAML or JSON document\n",
				 path);
		goto out;
	}
	r = spec_from_cr(json, flags, spec_r, err, warn);
out:
	cJSON_Delete(json);
	buf_deinit(&text);
	return r;
}
