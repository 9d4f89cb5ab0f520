/*
 * reconcile_fake: a fake world for reconcile (a struct rec_env whose
 * hooks are this file's), after sample-controller's controller_test.go:
 * every API call is recorded and answered by a small in-memory API
 * server, when the test says (fake_run), so the reconcile's phases run
 * deterministically on the test's stack.
 *
 *   store     objects by path (".../namespaces/<ns>/<plural>/<name>");
 *             server-side apply merges the body into the object after
 *             dropping the fields our manager applied before (lists
 *             are atomic), and records our managedFields entry;
 *             create (409 AlreadyExists when present), get, delete,
 *             and the relay's /status (replaces .status)
 *   caches    what the informers would show: child_transform and
 *             relay_transform of the stored objects; the fake's watch
 *             is instant (a write is in the cache before its response
 *             arrives, an order a fast watch gives)
 *   failures  fake_fail: the next n calls matching a verb and a path
 *             part answer an HTTP error instead
 *   keygen    a real RSA key (1024 bits) handed out, "pending", or a
 *             failure with an error text
 *   events    one line each, "Type Reason: note"
 *   clock     milliseconds advance 5 per answered call; the wall clock
 *             one second per reading
 *   probes    the cert containers' probe events the events informer
 *             would hold (test_reconcile_acme.c adds them);
 *             the hook hands out the newest of a Pod's
 *
 * Included after <cmocka.h>, testutil.h and reconcile.h by one test
 * file per binary.
 */
#ifndef RECONCILE_FAKE_H
#define RECONCILE_FAKE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define FAKE_NS "mail"
#define FAKE_NAME "chat"
#define FAKE_KEY FAKE_NS "/" FAKE_NAME
#define FAKE_UID "0000-uid" /* desired_fixture.h's */

enum fake_key_mode { FAKE_KEY_READY, FAKE_KEY_PENDING, FAKE_KEY_FAIL };

/* one recorded API call */
struct fake_call {
	enum kube_verb v;
	char *path; /* as sent, query included */
	cJSON *body;
	kube_done_fn *done;
	void *arg;
	int state; /* 0 in flight, 1 answered, 2 cancelled */
};

/* one planned failure */
struct fake_failure {
	enum kube_verb v;
	char part[128]; /* a substring of the path */
	long code;
	char reason[64];
	unsigned times;
	unsigned retry_after; /* seconds, as a Retry-After header */
};

struct fake {
	struct rec_env env;
	struct images images;
	struct hmap store;	    /* path -> cJSON object */
	struct hmap relays;	    /* "ns/name" -> struct relay_entry */
	struct hmap kids[OK_COUNT]; /* "ns/name" -> struct child */
	struct fake_call **calls;   /* every call, in order */
	size_t ncalls;
	struct fake_failure fail[4];
	enum fake_key_mode key_mode;
	struct buf key_pem;
	unsigned key_forgets;
	struct buf events;
	unsigned finished, retry_after;
	int rc;
	uint64_t now_ms, took_ms;
	unsigned clock, rv, uids;
	int lifo;	/* answer the newest call first */
	int monitoring; /* the PodMonitor CRD is served */
	struct cert_probe probes[4];
	size_t nprobes;
};

#include "reconcile_fake_server.h"

/* the hooks (struct rec_ops) */
static void *
fake_call(void *arg, enum kube_verb v, const char *path, const cJSON *body,
	  kube_done_fn *done, void *done_arg)
{
	struct fake *f = arg;
	struct fake_call *c = xcalloc(1, sizeof(*c));

	c->v = v;
	c->path = xstrdup(path);
	c->body = body ? cJSON_Duplicate(body, 1) : NULL;
	c->done = done;
	c->arg = done_arg;
	f->calls = xreallocarray(f->calls, f->ncalls + 1, sizeof(*f->calls));
	f->calls[f->ncalls++] = c;
	return c;
}

static void
fake_cancel(void *arg, void *handle)
{
	struct fake_call *c = handle;

	(void)arg;
	assert_int(c->state, 0); /* only calls in flight */
	c->state = 2;
}

static const struct relay_entry *
fake_relay(void *arg, const char *key)
{
	struct fake *f = arg;

	return hmap_get(&f->relays, key);
}

static const struct child *
fake_child(void *arg, enum op_kind k, const char *key)
{
	struct fake *f = arg;

	return hmap_get(&f->kids[k], key);
}

static void
fake_children(void *arg, enum op_kind k, rec_each_fn *fn, void *fn_arg)
{
	struct fake *f = arg;
	struct hmap_entry *e;
	size_t i;

	for (e = hmap_first(&f->kids[k], &i); e != NULL;
	     e = hmap_next(&f->kids[k], &i, e))
		fn(fn_arg, e->key, e->value);
}

static int
fake_served(void *arg, enum op_kind k)
{
	struct fake *f = arg;

	return k == OK_PODMONITOR && f->monitoring;
}

static void
fake_event(void *arg, const cJSON *relay, const char *type, const char *reason,
	   const char *action, const char *note)
{
	struct fake *f = arg;

	assert_str(util_get_str(relay, "metadata.name"), FAKE_NAME);
	assert_non_null(action);
	assert_int(buf_printf(&f->events, "%s %s: %s\n", type, reason, note),
		   0);
}

static int
fake_key_take(void *arg, const char *waiter, struct buf *pem)
{
	struct fake *f = arg;

	assert_str(waiter, FAKE_KEY);
	if (f->key_mode == FAKE_KEY_PENDING)
		return 0;
	if (f->key_mode == FAKE_KEY_FAIL)
		return -EIO;
	assert_int(buf_append(pem, f->key_pem.data, f->key_pem.len), 0);
	return 1;
}

static void
fake_key_forget(void *arg, const char *waiter)
{
	struct fake *f = arg;

	assert_str(waiter, FAKE_KEY);
	f->key_forgets++;
}

static const char *
fake_key_error(void *arg)
{
	struct fake *f = arg;

	return f->key_mode == FAKE_KEY_FAIL
		       ? "key child 42 killed by signal 9; next attempt in 1 s"
		       : "";
}

static uint64_t
fake_now_ms(void *arg)
{
	return ((struct fake *)arg)->now_ms;
}

static void
fake_now_rfc3339(void *arg, char *out, size_t outsize)
{
	struct fake *f = arg;

	f->clock++;
	(void)snprintf(out, outsize, "2026-01-01T%02u:%02u:%02uZ",
		       f->clock / 3600 % 24, f->clock / 60 % 60, f->clock % 60);
}

static int
fake_cert_probe(void *arg, const char *ns, const char *pod,
		struct cert_probe *out)
{
	struct fake *f = arg;
	const struct cert_probe *best = NULL;
	size_t i;

	for (i = 0; i < f->nprobes; i++)
		if (strcmp(f->probes[i].ns, ns) == 0 &&
		    strcmp(f->probes[i].pod, pod) == 0 &&
		    cert_probe_newer(&f->probes[i], best))
			best = &f->probes[i];
	if (best == NULL)
		return 0;
	*out = *best;
	return 1;
}

static void
fake_finished(void *arg, const char *key, int rc, unsigned retry_after,
	      uint64_t took_ms)
{
	struct fake *f = arg;

	assert_str(key, FAKE_KEY);
	f->finished++;
	f->rc = rc;
	f->retry_after = retry_after;
	f->took_ms = took_ms;
}

static const struct rec_ops fake_ops = {
	.call = fake_call,
	.cancel = fake_cancel,
	.relay = fake_relay,
	.child = fake_child,
	.children = fake_children,
	.served = fake_served,
	.event = fake_event,
	.key_take = fake_key_take,
	.key_forget = fake_key_forget,
	.key_error = fake_key_error,
	.now_ms = fake_now_ms,
	.now_rfc3339 = fake_now_rfc3339,
	.cert_probe = fake_cert_probe,
	.finished = fake_finished,
};

/* fake_relay_path: the store path of the relay */
static const char *
fake_relay_path(char *out, size_t outsize)
{
	return fake_path_of(&KUBE_RELAY, FAKE_NAME, out, outsize);
}

/* fake_set_spec: the relay (created when missing) gets spec_json; a
 * changed spec moves its generation on, as the API server does */
static void
fake_set_spec(struct fake *f, const char *spec_json)
{
	char path[512];
	cJSON *old = hmap_get(&f->store, fake_relay_path(path, sizeof(path)));
	cJSON *obj, *md, *spec = cJSON_Parse(spec_json);

	assert_non_null(spec);
	if (old != NULL) {
		obj = cJSON_Duplicate(old, 1);
		md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		cJSON_SetNumberValue(
			cJSON_GetObjectItemCaseSensitive(md, "generation"),
			util_get_num(md, "generation", 0) + 1);
		cJSON_ReplaceItemInObjectCaseSensitive(obj, "spec", spec);
	} else {
		obj = cJSON_CreateObject();
		cJSON_AddStringToObject(obj, "apiVersion", SPEC_API_VERSION);
		cJSON_AddStringToObject(obj, "kind", SPEC_KIND);
		md = cJSON_AddObjectToObject(obj, "metadata");
		cJSON_AddStringToObject(md, "name", FAKE_NAME);
		cJSON_AddStringToObject(md, "namespace", FAKE_NS);
		cJSON_AddStringToObject(md, "uid", FAKE_UID);
		cJSON_AddItemToObject(obj, "spec", spec);
	}
	fake_stamp(f, obj, old == NULL);
	fake_put(f, path, obj);
}

/* fake_setup: an empty world holding only the relay with spec_json */
static void
fake_setup(struct fake *f, const char *spec_json)
{
	int k;

	memset(f, 0, sizeof(*f));
	assert_int(images_init(&f->images), 0);
	hmap_init(&f->store);
	hmap_init(&f->relays);
	for (k = 0; k < OK_COUNT; k++)
		hmap_init(&f->kids[k]);
	buf_init(&f->key_pem, 16384);
	buf_init(&f->events, 1u << 20);
	assert_int(keys_dkim_generate(1024, &f->key_pem), 0);
	rec_env_init(&f->env, &fake_ops, f, &f->images);
	fake_set_spec(f, spec_json);
}

/* fake_free_map: free the values of m with fn, then m */
static void
fake_free_map(struct hmap *m, void (*fn)(void *))
{
	struct hmap_entry *e;
	size_t i;

	for (e = hmap_first(m, &i); e != NULL; e = hmap_next(m, &i, e))
		fn(e->value);
	hmap_deinit(m);
}

/* fake_cjson_free: cJSON_Delete as a free function */
static void
fake_cjson_free(void *v)
{
	cJSON_Delete(v);
}

/* fake_teardown: frees everything (no reconcile may be live) */
static void
fake_teardown(struct fake *f)
{
	size_t i;
	int k;

	assert_true(LLIST_EMPTY(&f->env.live));
	rec_env_deinit(&f->env);
	for (i = 0; i < f->ncalls; i++) {
		free(f->calls[i]->path);
		cJSON_Delete(f->calls[i]->body);
		free(f->calls[i]);
	}
	free(f->calls);
	fake_free_map(&f->store, fake_cjson_free);
	fake_free_map(&f->relays, relay_free);
	for (k = 0; k < OK_COUNT; k++)
		fake_free_map(&f->kids[k], child_free);
	buf_wipe_deinit(&f->key_pem);
	buf_deinit(&f->events);
	images_deinit(&f->images);
}

/* fake_reconcile: one whole reconcile of the relay, every call
 * answered; returns the index of its first call in f->calls */
static size_t
fake_reconcile(struct fake *f)
{
	size_t mark = f->ncalls;
	unsigned before = f->finished;

	buf_reset(&f->events);
	reconcile_start(&f->env, FAKE_KEY);
	fake_run(f);
	assert_int(f->finished, before + 1);
	assert_true(LLIST_EMPTY(&f->env.live));
	return mark;
}

/* fake_calls: "verb where" of the calls from index from on, one per
 * line, where = the path after the namespace, without the query */
static void
fake_calls(const struct fake *f, size_t from, struct buf *out)
{
	const char *p, *q;
	size_t i;

	buf_reset(out);
	for (i = from; i < f->ncalls; i++) {
		p = strstr(f->calls[i]->path, "/namespaces/" FAKE_NS "/");
		assert_non_null(p);
		p += strlen("/namespaces/" FAKE_NS "/");
		q = p + strcspn(p, "?");
		assert_int(buf_printf(out, "%s %.*s\n",
				      kube_verb_name(f->calls[i]->v),
				      (int)(q - p), p),
			   0);
	}
}

/* fake_writes: the writes among the calls from index from on */
static unsigned
fake_writes(const struct fake *f, size_t from)
{
	unsigned n = 0;
	size_t i;

	for (i = from; i < f->ncalls; i++)
		n += kube_verb_is_write(f->calls[i]->v) != 0;
	return n;
}

#endif
