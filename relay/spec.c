/*
 * spec: creating and freeing ChatmailRelay specs with every default of
 * the field table (spec_table.c), setting a field from text, and
 * dumping a spec back to JSON (what the apiserver stores after
 * defaulting); a field's default and range (its chatmail.ini option's
 * or its own). Parsing is in spec_parse.c, the rules in spec_check.c,
 * chatmail.ini in spec_ini.c, the CRD in spec_crd.c.
 *
 * Untrusted input: the JSON tree (any user who may create a CR, or a
 * file given to relay-render). Nothing is trusted for type, length or
 * shape; values are checked by spec_validate (spec_check.c) once the
 * struct is filled, so parsing and validation of programmatically
 * built specs share one set of rules.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config_opts.h"
#include "num.h"
#include "spec.h"
#include "spec_int.h"
#include "xmalloc.h"

/* spec_field_opt: the option an ini field sets */
const struct config_opt *
spec_field_opt(const struct spec_field *f)
{
	const struct config_opt *o;

	if (f->ini == NULL)
		return NULL;
	o = config_opt_find(f->ini);
	if (o == NULL)
		abort(); /* the table names an option that does not exist */
	return o;
}

/* spec_field_def: the option's default, or the field's own */
const char *
spec_field_def(const struct spec_field *f)
{
	const struct config_opt *o = spec_field_opt(f);

	if (o == NULL || (f->flags & SPEC_F_OWN_DEFAULT))
		return f->def;
	return o->def;
}

/* spec_field_range: the option's range, or the field's own; an empty
 * string means the target's value (OWN_DEFAULT) or is spelled by
 * leaving the field out (NULLABLE) */
void
spec_field_range(const struct spec_field *f, double *min_r, double *max_r)
{
	const struct config_opt *o = spec_field_opt(f);

	*min_r = f->min;
	*max_r = f->max;
	if (o == NULL)
		return;
	*min_r = (double)o->min;
	*max_r = (double)o->max;
	if (f->flags & SPEC_F_OWN_DEFAULT)
		*min_r = 0;
	if ((f->flags & SPEC_F_NULLABLE) && *min_r < 1)
		*min_r = 1;
}

/* spec_field_ptr: the address of field f inside s */
void *
spec_field_ptr(const struct relay_spec *s, const struct spec_field *f)
{
	return (char *)(uintptr_t)s + f->off;
}

/* spec_enum_index: position of name in a NULL-ended list, or -1 */
int
spec_enum_index(const char *const *names, const char *name)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* spec_field_set_text: parse text as f's type into s */
int
spec_field_set_text(struct relay_spec *s, const struct spec_field *f,
		    const char *text, struct buf *why)
{
	void *p = spec_field_ptr(s, f);
	uint64_t u;
	int r = 0, i;

	switch (f->type) {
	case SPEC_FT_STR:
		free(*(char **)p);
		*(char **)p = xstrdup(text);
		break;
	case SPEC_FT_UINT:
		r = num_parse_u64(text, 0, UINT32_MAX, &u);
		if (r == 0)
			*(unsigned *)p = (unsigned)u;
		break;
	case SPEC_FT_U64:
		r = num_parse_u64(text, 0, UINT64_MAX, (uint64_t *)p);
		break;
	case SPEC_FT_DOUBLE:
		r = num_parse_double(text, -1e300, 1e300, (double *)p);
		break;
	case SPEC_FT_BOOL:
		r = num_parse_bool(text, (int *)p);
		break;
	case SPEC_FT_ENUM:
		i = spec_enum_index(f->names, text);
		if (i < 0)
			r = -EINVAL;
		else
			*(int *)p = i;
		break;
	}
	if (r < 0) {
		(void)buf_printf(why, "not a valid value: \"%.64s\"", text);
		return -EINVAL;
	}
	return 0;
}

/* spec_new: a spec with every default and domain "" */
struct relay_spec *
spec_new(void)
{
	struct relay_spec *s = xcalloc(1, sizeof(*s));
	struct buf why = BUF_INIT(256);
	size_t i;
	int c;

	s->name = xstrdup("");
	s->namespace = xstrdup("");
	for (i = 0; i < spec_nfields; i++) {
		const struct spec_field *f = &spec_fields[i];
		const char *def = spec_field_def(f);

		if (def == NULL && (f->flags & SPEC_F_NULLABLE))
			continue;
		if (def == NULL)
			def = "";
		/* the table's defaults are constants; a bad one is a bug */
		if (spec_field_set_text(s, f, def, &why) < 0)
			abort();
	}
	for (c = 0; c < SPEC_C_COUNT; c++)
		s->images[c] = xstrdup("");
	buf_deinit(&why);
	return s;
}

/* spec_free: free a spec and everything it owns */
void
spec_free(struct relay_spec **sp)
{
	struct relay_spec *s;
	size_t i;
	int c;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
	for (i = 0; i < spec_nfields; i++)
		if (spec_fields[i].type == SPEC_FT_STR)
			free(*(char **)spec_field_ptr(s, &spec_fields[i]));
	for (c = 0; c < SPEC_C_COUNT; c++) {
		free(s->images[c]);
		cJSON_Delete(s->resources[c]);
	}
	for (i = 0; i < s->service.n_annotations; i++) {
		free(s->service.annotations[i].key);
		free(s->service.annotations[i].value);
	}
	free(s->service.annotations);
	for (i = 0; i < s->metrics.n_allowed_namespaces; i++)
		free(s->metrics.allowed_namespaces[i]);
	free(s->metrics.allowed_namespaces);
	free(s->name);
	free(s->namespace);
	free(s);
	*sp = NULL;
}

/* json_put: add v at the dotted path below obj, creating objects */
static void
json_put(cJSON *obj, const char *path, cJSON *v)
{
	char key[64];
	const char *dot;
	cJSON *sub;
	size_t n;

	while ((dot = strchr(path, '.')) != NULL) {
		n = (size_t)(dot - path);
		if (n >= sizeof(key))
			abort();
		memcpy(key, path, n);
		key[n] = '\0';
		sub = cJSON_GetObjectItemCaseSensitive(obj, key);
		if (sub == NULL)
			sub = cJSON_AddObjectToObject(obj, key);
		obj = sub;
		path = dot + 1;
	}
	cJSON_AddItemToObject(obj, path, v);
}

/* field_json: the JSON value of field f in s, or NULL (unset) */
static cJSON *
field_json(const struct relay_spec *s, const struct spec_field *f)
{
	const void *p = spec_field_ptr(s, f);

	switch (f->type) {
	case SPEC_FT_STR:
		if (*(char *const *)p == NULL)
			return NULL;
		return cJSON_CreateString(*(char *const *)p);
	case SPEC_FT_UINT:
		return cJSON_CreateNumber(*(const unsigned *)p);
	case SPEC_FT_U64:
		return cJSON_CreateNumber((double)*(const uint64_t *)p);
	case SPEC_FT_DOUBLE:
		return cJSON_CreateNumber(*(const double *)p);
	case SPEC_FT_BOOL:
		return cJSON_CreateBool(*(const int *)p);
	case SPEC_FT_ENUM:
		return cJSON_CreateString(f->names[*(const int *)p]);
	}
	return NULL;
}

/* spec_dump_json: the fully defaulted spec as a .spec object */
cJSON *
spec_dump_json(const struct relay_spec *s)
{
	cJSON *o = cJSON_CreateObject(), *v, *m;
	size_t i;
	int c;

	if (o == NULL)
		abort();
	for (i = 0; i < spec_nfields; i++) {
		v = field_json(s, &spec_fields[i]);
		if (v != NULL)
			json_put(o, spec_fields[i].path, v);
	}
	m = cJSON_CreateObject();
	for (i = 0; i < s->service.n_annotations; i++)
		cJSON_AddStringToObject(m, s->service.annotations[i].key,
					s->service.annotations[i].value);
	json_put(o, SPEC_PATH_ANNOTATIONS, m);
	/* absent when empty, as the CRD (no default) stores it */
	if (s->metrics.n_allowed_namespaces > 0) {
		m = cJSON_CreateArray();
		for (i = 0; i < s->metrics.n_allowed_namespaces; i++)
			cJSON_AddItemToArray(
				m, cJSON_CreateString(
					   s->metrics.allowed_namespaces[i]));
		json_put(o, SPEC_PATH_NAMESPACES, m);
	}
	m = cJSON_AddObjectToObject(o, SPEC_PATH_IMAGES);
	for (c = 0; c < SPEC_C_COUNT; c++)
		if (*s->images[c] != '\0')
			cJSON_AddStringToObject(m, spec_container_name(c),
						s->images[c]);
	m = cJSON_AddObjectToObject(o, SPEC_PATH_RESOURCES);
	for (c = 0; c < SPEC_C_COUNT; c++)
		if (s->resources[c] != NULL)
			cJSON_AddItemToObject(
				m, spec_container_name(c),
				cJSON_Duplicate(s->resources[c], 1));
	return o;
}
