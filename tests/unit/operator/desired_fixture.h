/*
 * desired_fixture: the children of relay "chat" in namespace "mail"
 * (uid "0000-uid") for a spec JSON, for the unit tests of the desired
 * objects (test_desired, test_desired_pod, test_desired_run), and the
 * lookups they share. Included after <cmocka.h>,
 * testutil.h, desired.h and operator.h by one test file per binary.
 */
#ifndef DESIRED_FIXTURE_H
#define DESIRED_FIXTURE_H

#include <stdio.h>
#include <string.h>

struct fixture {
	struct relay_spec *spec;
	struct render_set files;
	struct images images;
	struct desired_in in;
	cJSON *list; /* the built objects, when asked for */
	char tls[128], dkim[128];
};

/* fixture_setup: spec, rendered files, images and desired_in for
 * spec_json; with build, also the object list in f->list */
static inline void
fixture_setup(struct fixture *f, const char *spec_json, int build)
{
	cJSON *j = cJSON_Parse(spec_json);
	struct buf err = BUF_INIT(4096);

	memset(f, 0, sizeof(*f));
	assert_non_null(j);
	if (spec_from_json(j, 0, &f->spec, &err, NULL) < 0)
		fail_msg("spec: %s", buf_cstr(&err));
	cJSON_Delete(j);
	assert_int(images_init(&f->images), 0);
	if (desired_render(f->spec, &f->files, &err) < 0)
		fail_msg("render: %s", buf_cstr(&err));
	desired_tls_secret_name(f->spec, "chat", f->tls, sizeof(f->tls));
	desired_dkim_secret_name(f->spec, "chat", f->dkim, sizeof(f->dkim));
	f->in.spec = f->spec;
	f->in.name = "chat";
	f->in.ns = "mail";
	f->in.uid = "0000-uid";
	f->in.images = &f->images;
	f->in.files = &f->files;
	f->in.tls_secret = f->tls;
	f->in.dkim_secret = f->dkim;
	if (build && desired_build(&f->in, &f->list, &err) < 0)
		fail_msg("build: %s", buf_cstr(&err));
	buf_deinit(&err);
}

/* fixture_teardown: frees what fixture_setup made */
static inline void
fixture_teardown(struct fixture *f)
{
	cJSON_Delete(f->list);
	render_set_free(&f->files);
	spec_free(&f->spec);
	images_deinit(&f->images);
}

/* fixture_find: the object of kind and name in the list */
static inline const cJSON *
fixture_find(const cJSON *list, const char *kind, const char *name)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, list)
	{
		if (strcmp(util_get_str(o, "kind"), kind) == 0 &&
		    strcmp(util_get_str(o, "metadata.name"), name) == 0)
			return o;
	}
	return NULL;
}

/* named: the element of array a whose "name" is name */
static inline const cJSON *
named(const cJSON *a, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, a)
	{
		if (strcmp(util_get_str(e, "name"), name) == 0)
			return e;
	}
	return NULL;
}

/* joined: the strings of array a joined by "," into out */
static inline const char *
joined(const cJSON *a, char *out, size_t outsize)
{
	const cJSON *e;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(e, a)
	{
		n += (size_t)snprintf(out + n, outsize - n, "%s%s",
				      n ? "," : "", e->valuestring);
		if (n >= outsize)
			break;
	}
	return out;
}

/* mount_of: "ro" or "rw" for the mount of volume vol at path, or "" */
static inline const char *
mount_of(const cJSON *c, const char *vol, const char *path)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, util_get(c, "volumeMounts"))
	{
		if (strcmp(util_get_str(m, "name"), vol) == 0 &&
		    strcmp(util_get_str(m, "mountPath"), path) == 0)
			return cJSON_IsTrue(util_get(m, "readOnly")) ? "ro"
								     : "rw";
	}
	return "";
}

#endif
