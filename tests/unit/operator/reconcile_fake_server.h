/*
 * reconcile_fake_server: the fake API server of reconcile_fake.h (its
 * store, server-side apply, answers, planned failures and fake_run);
 * included by reconcile_fake.h only.
 */
#ifndef RECONCILE_FAKE_SERVER_H
#define RECONCILE_FAKE_SERVER_H

/* fake_strip: drop the fields of obj a fieldsV1 set names */
static void
fake_strip(cJSON *obj, const cJSON *fields)
{
	const cJSON *f;
	cJSON *v;

	cJSON_ArrayForEach(f, fields)
	{
		if (strncmp(f->string, "f:", 2) != 0)
			continue;
		v = cJSON_GetObjectItemCaseSensitive(obj, f->string + 2);
		if (v != NULL && f->child != NULL && cJSON_IsObject(v))
			fake_strip(v, f);
		else if (v != NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(obj,
								f->string + 2);
	}
}

/* fake_merge: src over dst (objects merged, anything else replaced) */
static void
fake_merge(cJSON *dst, const cJSON *src)
{
	const cJSON *s;
	cJSON *d;

	cJSON_ArrayForEach(s, src)
	{
		d = cJSON_GetObjectItemCaseSensitive(dst, s->string);
		if (d != NULL && cJSON_IsObject(d) && cJSON_IsObject(s))
			fake_merge(d, s);
		else if (d != NULL)
			cJSON_ReplaceItemInObjectCaseSensitive(
				dst, s->string, cJSON_Duplicate(s, 1));
		else
			cJSON_AddItemToObject(dst, s->string,
					      cJSON_Duplicate(s, 1));
	}
}

/* fake_fields: the fieldsV1 set of a value (lists atomic) */
static cJSON *
fake_fields(const cJSON *v)
{
	cJSON *f = cJSON_CreateObject();
	const cJSON *ch;
	char k[512];

	if (!cJSON_IsObject(v))
		return f;
	cJSON_ArrayForEach(ch, v)
	{
		(void)snprintf(k, sizeof(k), "f:%s", ch->string);
		cJSON_AddItemToObject(f, k, fake_fields(ch));
	}
	return f;
}

/* fake_apply_fields: the fieldsV1 of an apply body (the server does
 * not list apiVersion, kind, metadata.name and metadata.namespace) */
static cJSON *
fake_apply_fields(const cJSON *body)
{
	cJSON *f = fake_fields(body), *md;

	cJSON_DeleteItemFromObjectCaseSensitive(f, "f:apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(f, "f:kind");
	md = cJSON_GetObjectItemCaseSensitive(f, "f:metadata");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "f:name");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "f:namespace");
	if (md != NULL && md->child == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(f, "f:metadata");
	return f;
}

/* fake_managed: the managedFields entry of manager/op in obj, made */
static cJSON *
fake_managed(cJSON *obj, const char *manager, const char *op)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *mf = cJSON_GetObjectItemCaseSensitive(md, "managedFields"), *e;

	if (mf == NULL)
		mf = cJSON_AddArrayToObject(md, "managedFields");
	cJSON_ArrayForEach(e, mf)
	{
		if (strcmp(util_get_str(e, "manager"), manager) == 0 &&
		    strcmp(util_get_str(e, "operation"), op) == 0)
			return e;
	}
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "manager", manager);
	cJSON_AddStringToObject(e, "operation", op);
	cJSON_AddStringToObject(e, "fieldsType", "FieldsV1");
	cJSON_AddItemToObject(e, "fieldsV1", cJSON_CreateObject());
	cJSON_AddItemToArray(mf, e);
	return e;
}

/* fake_set_fields: replace the fieldsV1 of a managedFields entry */
static void
fake_set_fields(cJSON *entry, cJSON *fields)
{
	cJSON_ReplaceItemInObjectCaseSensitive(entry, "fieldsV1", fields);
}

/* fake_stamp: the server's metadata on a new or changed object */
static void
fake_stamp(struct fake *f, cJSON *obj, int is_new)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	char v[32];

	if (md == NULL)
		md = cJSON_AddObjectToObject(obj, "metadata");
	(void)snprintf(v, sizeof(v), "%u", ++f->rv);
	cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
	cJSON_AddStringToObject(md, "resourceVersion", v);
	if (!is_new)
		return;
	(void)snprintf(v, sizeof(v), "uid-%u", ++f->uids);
	if (cJSON_GetObjectItemCaseSensitive(md, "uid") == NULL)
		cJSON_AddStringToObject(md, "uid", v);
	cJSON_AddStringToObject(md, "creationTimestamp",
				"2026-01-01T00:00:00Z");
	cJSON_AddNumberToObject(md, "generation", 1);
}

/* fake_path: the store path of a call's object (no query, no /status;
 * a create names its object in the body) */
static void
fake_path(const struct fake_call *c, char *out, size_t outsize)
{
	size_t n = strcspn(c->path, "?");
	const char *name = util_get_str(c->body, "metadata.name");

	(void)snprintf(out, outsize, "%.*s", (int)n, c->path);
	n = strlen(out);
	if (n > 7 && strcmp(out + n - 7, "/status") == 0)
		out[n - 7] = '\0';
	if (c->v == KV_CREATE && name != NULL)
		(void)snprintf(out + n, outsize - n, "/%s", name);
}

/* fake_sync: the caches as the watch shows the object at path now
 * (gone: the object just deleted from the store) */
static void
fake_sync(struct fake *f, const char *path, const cJSON *gone)
{
	const cJSON *obj = hmap_get(&f->store, path), *o = obj ? obj : gone;
	int is_relay = strcmp(util_get_str(o, "kind"), SPEC_KIND) == 0;
	struct kid_arg ka = { NULL, rec_kind_of(o) };
	struct hmap *m = is_relay ? &f->relays : &f->kids[ka.kind];
	cJSON *copy;
	void *old;
	char key[512];

	assert_true(is_relay || ka.kind != OK_COUNT);
	(void)snprintf(key, sizeof(key), "%s/%s",
		       util_get_str(o, "metadata.namespace"),
		       util_get_str(o, "metadata.name"));
	if (obj != NULL) {
		copy = cJSON_Duplicate(obj, 1);
		old = hmap_put(m, key,
			       is_relay ? relay_transform(NULL, &copy)
					: child_transform(&ka, &copy));
		cJSON_Delete(copy);
	} else {
		old = hmap_del(m, key);
		if (!is_relay) /* as the controller's watch handler does */
			rec_env_child_deleted(&f->env, ka.kind, key);
	}
	if (is_relay)
		relay_free(old);
	else
		child_free(old);
}

/* fake_put: store obj (taken) at path and show it in the caches */
static void
fake_put(struct fake *f, const char *path, cJSON *obj)
{
	cJSON_Delete(hmap_put(&f->store, path, obj));
	fake_sync(f, path, NULL);
}

/* fake_remove: delete the object at path from the store and caches */
static void
fake_remove(struct fake *f, const char *path)
{
	cJSON *obj = hmap_del(&f->store, path);

	if (obj != NULL)
		fake_sync(f, path, obj);
	cJSON_Delete(obj);
}

/* fake_path_of: the store path of kind k named name in FAKE_NS */
static const char *
fake_path_of(const struct kube_kind *k, const char *name, char *out,
	     size_t outsize)
{
	struct buf p = BUF_INIT(1024);

	assert_int(kube_path(&p, k, FAKE_NS, name, NULL), 0);
	(void)snprintf(out, outsize, "%s", buf_cstr(&p));
	buf_deinit(&p);
	return out;
}

/* fake_obj: the stored object of kind k named name, or NULL */
static cJSON *
fake_obj(struct fake *f, const struct kube_kind *k, const char *name)
{
	char path[512];

	return hmap_get(&f->store, fake_path_of(k, name, path, sizeof(path)));
}

/* fake_error: an API error answer */
static void
fake_error(struct kube_result *res, long code, const char *reason)
{
	res->code = code;
	(void)snprintf(res->reason, sizeof(res->reason), "%s", reason);
	(void)snprintf(res->message, sizeof(res->message), "fake: %ld %s", code,
		       reason);
	res->err = kube_code_err(code, reason);
}

/* fake_ok: a success answer with a copy of obj */
static void
fake_ok(struct kube_result *res, long code, const cJSON *obj)
{
	res->code = code;
	res->body = obj ? cJSON_Duplicate(obj, 1) : NULL;
}

/* fake_apply_status: the relay's /status apply: .status replaced */
static void
fake_apply_status(struct fake *f, const struct fake_call *c, const char *path,
		  const cJSON *old, struct kube_result *res)
{
	cJSON *obj;

	if (old == NULL) {
		fake_error(res, 404, "NotFound");
		return;
	}
	obj = cJSON_Duplicate(old, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	cJSON_AddItemToObject(obj, "status",
			      cJSON_Duplicate(util_get(c->body, "status"), 1));
	fake_stamp(f, obj, 0);
	fake_put(f, path, obj);
	fake_ok(res, 200, obj);
}

/* fake_apply: server-side apply: our old fields dropped, the body
 * merged in, our managedFields entry set to the body's fields */
static void
fake_apply(struct fake *f, const struct fake_call *c, const char *path,
	   const cJSON *old, struct kube_result *res)
{
	cJSON *obj = old ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();

	if (strstr(c->path, "/status?") != NULL) {
		cJSON_Delete(obj);
		fake_apply_status(f, c, path, old, res);
		return;
	}
	if (old != NULL)
		fake_strip(obj, util_get(fake_managed(obj, KUBE_FIELD_MANAGER,
						      "Apply"),
					 "fieldsV1"));
	fake_merge(obj, c->body);
	fake_stamp(f, obj, old == NULL);
	fake_set_fields(fake_managed(obj, KUBE_FIELD_MANAGER, "Apply"),
			fake_apply_fields(c->body));
	fake_put(f, path, obj);
	fake_ok(res, old ? 200 : 201, obj);
}

/* fake_answer: what the fake API server answers to c */
static void
fake_answer(struct fake *f, const struct fake_call *c, struct kube_result *res)
{
	char path[512];
	cJSON *obj;

	fake_path(c, path, sizeof(path));
	obj = hmap_get(&f->store, path);
	if (c->v == KV_APPLY) {
		fake_apply(f, c, path, obj, res);
	} else if (c->v == KV_CREATE && obj != NULL) {
		fake_error(res, 409, "AlreadyExists");
	} else if (c->v == KV_CREATE) {
		obj = cJSON_Duplicate(c->body, 1);
		fake_stamp(f, obj, 1);
		fake_put(f, path, obj);
		fake_ok(res, 201, obj);
	} else if ((c->v == KV_GET || c->v == KV_DELETE) && obj == NULL) {
		fake_error(res, 404, "NotFound");
	} else if (c->v == KV_GET) {
		fake_ok(res, 200, obj);
	} else if (c->v == KV_DELETE) {
		fake_remove(f, path);
		fake_ok(res, 200, NULL);
	} else {
		fail_msg("unexpected %s %s", kube_verb_name(c->v), c->path);
	}
}

/* fake_failing: the planned failure c meets, answered; 1 if any */
static int
fake_failing(struct fake *f, const struct fake_call *c, struct kube_result *res)
{
	struct fake_failure *x;
	size_t i;

	for (i = 0; i < sizeof(f->fail) / sizeof(f->fail[0]); i++) {
		x = &f->fail[i];
		if (x->times == 0 || x->v != c->v ||
		    strstr(c->path, x->part) == NULL)
			continue;
		x->times--;
		fake_error(res, x->code, x->reason);
		res->retry_after = x->retry_after;
		return 1;
	}
	return 0;
}

/* fake_fail: the next times calls of verb v whose path contains part
 * answer code/reason (the failure returned: set its retry_after) */
static inline struct fake_failure *
fake_fail(struct fake *f, enum kube_verb v, const char *part, long code,
	  const char *reason, unsigned times)
{
	size_t i;

	for (i = 0; f->fail[i].times > 0; i++)
		assert_true(i + 1 < sizeof(f->fail) / sizeof(f->fail[0]));
	f->fail[i].v = v;
	(void)snprintf(f->fail[i].part, sizeof(f->fail[i].part), "%s", part);
	f->fail[i].code = code;
	(void)snprintf(f->fail[i].reason, sizeof(f->fail[i].reason), "%s",
		       reason);
	f->fail[i].times = times;
	f->fail[i].retry_after = 0;
	return &f->fail[i];
}

/* fake_next: the call to answer next (oldest, or newest with lifo) */
static struct fake_call *
fake_next(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->ncalls; i++) {
		struct fake_call *c = f->calls[f->lifo ? f->ncalls - 1 - i : i];

		if (c->state == 0)
			return c;
	}
	return NULL;
}

/* fake_run: answer calls (and the calls their callbacks start) until
 * none is in flight */
static void
fake_run(struct fake *f)
{
	struct kube_result res;
	struct fake_call *c;
	unsigned n;

	for (n = 0; n < 10000 && (c = fake_next(f)) != NULL; n++) {
		memset(&res, 0, sizeof(res));
		if (!fake_failing(f, c, &res))
			fake_answer(f, c, &res);
		c->state = 1;
		f->now_ms += 5;
		c->done(c->arg, &res);
		cJSON_Delete(res.body);
	}
	assert_null(fake_next(f));
}

#endif
