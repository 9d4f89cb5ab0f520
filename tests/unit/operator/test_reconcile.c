/*
 * test_reconcile: whole reconciles of relay mail/chat against a fake
 * world (reconcile_fake.h: an in-memory API server answering every
 * recorded call when the test runs it, caches built from what it
 * stores, a fake keygen, events and clock), as sample-controller's
 * controller_test.go checks its actions:
 *
 *   create from empty   every desired child applied as desired_build
 *                       makes it, the DKIM and TLS Secrets created, the
 *                       status written; the answer order changes nothing
 *   steady state        a second reconcile over what the first wrote,
 *                       as the caches show it, makes no call at all;
 *                       fields other managers add change nothing
 *   drift               a child edited by another manager is applied
 *                       again (that one only), a deleted child re-created
 *   conflict            a 409 on one apply fails the reconcile
 *                       (ApplyFailed, a retry through the env); the
 *                       retry writes that child and the status only; a
 *                       429's Retry-After reaches the env
 *   key generation      pending: Progressing, no failure; failed:
 *                       KeyGenerationFailed, a retry, no DKIM Secret;
 *                       ready: the Secret and its record
 *   deletion            keepOnDelete PVCs lose the relay's owner
 *                       reference and are listed in status.keptOnDelete;
 *                       the reconcile after the relay's deletion writes
 *                       nothing and names what survives (the default
 *                       relay: both claims and the DKIM key), once
 *   user's Secrets      read each time (a missing one is Degraded and
 *                       retried), the DKIM record from the user's key
 *   abort               a reconcile cancelled in flight cancels every
 *                       call and reports no outcome
 *
 * The real-peer proof of the same behaviours is the envtest tier
 * (tests/envtest/operator/test_operator.sh, a real kube-apiserver).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "reconcile.h"
#include "status.h"
#include "xmalloc.h"

#include "reconcile_fake.h"

/* SelfSigned: the operator's own certificate is one of the writes */
#define SPEC \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}}"
/* the test relay's volumes: mail kept, queue deleted with the relay */
#define SPEC_KEEP_MAIL                                                        \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"storage\":{\"mail\":{\"keepOnDelete\":true},"                      \
	"\"queue\":{\"keepOnDelete\":false}}}"
#define SPEC_KEEP_NONE                                                        \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"storage\":{\"mail\":{\"keepOnDelete\":false},"                     \
	"\"queue\":{\"keepOnDelete\":false}}}"

/* TURN on (an address to advertise): a created-once TURN Secret */
#define SPEC_TURN                                                             \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"turn\":{\"enabled\":true,\"externalIP\":\"192.0.2.7\"}}"

/* status: the relay's stored .status */
static const cJSON *
status(struct fake *f)
{
	const cJSON *st =
		util_get(fake_obj(f, &KUBE_RELAY, FAKE_NAME), "status");

	assert_non_null(st);
	return st;
}

/* cond: "status reason" of a condition of the stored status */
static const char *
cond(struct fake *f, const char *type, char *out, size_t outsize)
{
	const cJSON *c = status_condition(status(f), type);

	(void)snprintf(out, outsize, "%s %s", util_get_str(c, "status"),
		       util_get_str(c, "reason"));
	return out;
}

/* assert_cond: a condition of the stored status is "status reason" */
#define assert_cond(f, type, want)                                     \
	do {                                                           \
		char c_[256];                                          \
		assert_str(cond((f), (type), c_, sizeof(c_)), (want)); \
	} while (0)

/* dkim_value: the value of the stored status' DKIM TXT record, or NULL */
static const char *
dkim_value(struct fake *f)
{
	const cJSON *r;
	const char *name;

	cJSON_ArrayForEach(r, util_get(status(f), "dnsRecords"))
	{
		name = util_get_str(r, "name");
		if (strstr(name, "._domainkey.") != NULL &&
		    strncmp(name, "_adsp.", 6) != 0)
			return util_get_str(r, "value");
	}
	return NULL;
}

/* assert_dkim_of_key: the status publishes the fake keygen's key */
static void
assert_dkim_of_key(struct fake *f)
{
	struct buf txt = BUF_INIT(4096);
	const char *v = dkim_value(f);
	char want[64];

	assert_int(keys_dkim_txt(f->key_pem.data, f->key_pem.len, &txt), 0);
	(void)snprintf(want, sizeof(want), "\"%.60s", buf_cstr(&txt));
	assert_non_null(v);
	assert_int(strncmp(v, want, strlen(want)), 0);
	buf_deinit(&txt);
}

/* has_owner: obj has an owner reference to the relay */
static int
has_owner(const cJSON *obj)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, util_get(obj, "metadata.ownerReferences"))
	{
		if (strcmp(util_get_str(o, "uid"), FAKE_UID) == 0 &&
		    strcmp(util_get_str(o, "kind"), SPEC_KIND) == 0)
			return 1;
	}
	return 0;
}

/* desired_list: what desired_build makes of the stored relay (the
 * reconcile's inputs, rebuilt here) */
static cJSON *
desired_list(struct fake *f)
{
	const cJSON *relay = fake_obj(f, &KUBE_RELAY, FAKE_NAME);
	struct relay_spec *spec = NULL;
	struct render_set files;
	struct desired_in in;
	struct buf err = BUF_INIT(4096);
	char tls[256], dkim[256];
	cJSON *list = NULL;

	memset(&files, 0, sizeof(files));
	if (spec_from_cr(relay, 0, &spec, &err, NULL) < 0 ||
	    desired_render(spec, &files, &err) < 0)
		fail_msg("%s", buf_cstr(&err));
	desired_tls_secret_name(spec, FAKE_NAME, tls, sizeof(tls));
	desired_dkim_secret_name(spec, FAKE_NAME, dkim, sizeof(dkim));
	memset(&in, 0, sizeof(in));
	in.spec = spec;
	in.name = FAKE_NAME;
	in.ns = FAKE_NS;
	in.uid = FAKE_UID;
	in.images = &f->images;
	in.files = &files;
	in.tls_secret = tls;
	in.dkim_secret = dkim;
	in.monitoring = f->monitoring;
	if (desired_build(&in, &list, &err) < 0)
		fail_msg("%s", buf_cstr(&err));
	render_set_free(&files);
	spec_free(&spec);
	buf_deinit(&err);
	return list;
}

/* assert_children_desired: every object desired_build makes of the
 * relay is stored holding exactly that content for our field manager;
 * their number into n */
static void
assert_children_desired(struct fake *f, size_t *n)
{
	cJSON *list = desired_list(f);
	const cJSON *o, *live;
	char want[UTIL_SHA256_HEX], got[UTIL_SHA256_HEX];

	*n = 0;
	cJSON_ArrayForEach(o, list)
	{
		live = fake_obj(f, child_kind(rec_kind_of(o)),
				util_get_str(o, "metadata.name"));
		if (live == NULL)
			fail_msg("%s %s not written", util_get_str(o, "kind"),
				 util_get_str(o, "metadata.name"));
		child_desired_hash(o, want);
		child_projection_hash(live, got);
		assert_str(got, want);
		(*n)++;
	}
	cJSON_Delete(list);
}

/* create: the first reconcile of a new relay, checked */
static void
create(struct fake *f)
{
	size_t mark, n;
	struct buf calls = BUF_INIT(1u << 16);

	mark = fake_reconcile(f);
	assert_int(f->rc, 0);
	assert_children_desired(f, &n);
	assert_true(n >= 10);
	fake_calls(f, mark, &calls);
	/* the children, two Secrets, one status */
	assert_int(fake_writes(f, mark), n + 3);
	assert_non_null(strstr(buf_cstr(&calls), "create secrets\n"));
	assert_non_null(
		strstr(buf_cstr(&calls), "apply chatmailrelays/chat/status\n"));
	assert_int(f->took_ms, 5 * (f->ncalls - mark));
	buf_deinit(&calls);
}

/* annotate: another manager adds an annotation to a stored child */
static void
annotate(struct fake *f, const struct kube_kind *k, const char *name,
	 const char *key, const char *value)
{
	char path[512];
	cJSON *obj = cJSON_Duplicate(fake_obj(f, k, name), 1);
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *an = cJSON_GetObjectItemCaseSensitive(md, "annotations");

	if (an == NULL)
		an = cJSON_AddObjectToObject(md, "annotations");
	cJSON_AddStringToObject(an, key, value);
	fake_stamp(f, obj, 0);
	fake_put(f, fake_path_of(k, name, path, sizeof(path)), obj);
}

static void
test_create_from_empty(void **state)
{
	struct fake f, g;
	const cJSON *dkim, *tls;

	(void)state;
	fake_setup(&f, SPEC);
	create(&f);
	dkim = fake_obj(&f, &KUBE_SECRET, "chat-dkim");
	tls = fake_obj(&f, &KUBE_SECRET, "chat-tls-selfsigned");
	assert_non_null(cJSON_GetObjectItem(util_get(dkim, "data"),
					    "opendkim.private"));
	assert_non_null(cJSON_GetObjectItem(util_get(tls, "data"), "tls.crt"));
	/* the default relay keeps its mail and its key */
	assert_false(has_owner(dkim));
	assert_true(has_owner(tls));
	assert_int(util_get_num(status(&f), "observedGeneration", 0), 1);
	assert_str(util_get_str(status(&f), "dkimSecretName"), "chat-dkim");
	assert_str(util_get_str(status(&f), "tlsSecretName"),
		   "chat-tls-selfsigned");
	assert_dkim_of_key(&f);
	assert_cond(&f, "Degraded", "False AsExpected");
	assert_cond(&f, "Ready", "False RollingOut");
	assert_non_null(
		strstr(buf_cstr(&f.events),
		       "Normal Created: created ConfigMap chat-config, "));
	assert_non_null(
		strstr(buf_cstr(&f.events), "Normal DKIMKeyGenerated: "));
	assert_non_null(
		strstr(buf_cstr(&f.events), "Normal CertificateGenerated: "));
	/* answered newest first, the same world results */
	fake_setup(&g, SPEC);
	buf_reset(&g.key_pem); /* the same key */
	assert_int(buf_append(&g.key_pem, f.key_pem.data, f.key_pem.len), 0);
	g.lifo = 1;
	create(&g);
	assert_int(g.ncalls, f.ncalls);
	assert_true(status_equal(status(&g), status(&f)));
	fake_teardown(&g);
	fake_teardown(&f);
}

static void
test_steady_state(void **state)
{
	struct fake f;
	size_t mark;
	int i;

	(void)state;
	fake_setup(&f, SPEC);
	create(&f);
	for (i = 0; i < 3; i++) {
		mark = fake_reconcile(&f);
		assert_int(f.rc, 0);
		assert_int(f.ncalls, mark); /* not even a read */
		assert_str(buf_cstr(&f.events), "");
	}
	/* a field another manager owns (a cloud's annotation) is not ours */
	annotate(&f, &KUBE_SERVICE, FAKE_NAME, "cloud.example/lb-id", "lb-1");
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	fake_teardown(&f);
}

/* cm_data: data[key] of a stored ConfigMap */
static const char *
cm_data(struct fake *f, const char *name, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		util_get(fake_obj(f, &KUBE_CONFIGMAP, name), "data"), key);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

/* edit_by_hand: another manager sets data[key] of a stored ConfigMap:
 * the field leaves our managedFields set, as a kubectl edit does */
static void
edit_by_hand(struct fake *f, const char *name, const char *key,
	     const char *value)
{
	char path[512], fk[256];
	cJSON *obj = cJSON_Duplicate(fake_obj(f, &KUBE_CONFIGMAP, name), 1);
	cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
	cJSON *ours = cJSON_GetObjectItemCaseSensitive(
		fake_managed(obj, KUBE_FIELD_MANAGER, "Apply"), "fieldsV1");

	assert_non_null(cJSON_GetObjectItemCaseSensitive(data, key));
	cJSON_ReplaceItemInObjectCaseSensitive(data, key,
					       cJSON_CreateString(value));
	(void)snprintf(fk, sizeof(fk), "f:%s", key);
	cJSON_DeleteItemFromObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(ours, "f:data"), fk);
	fake_stamp(f, obj, 0);
	fake_put(f, fake_path_of(&KUBE_CONFIGMAP, name, path, sizeof(path)),
		 obj);
}

static void
test_drift_restored(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(4096);
	char path[512], *want;
	size_t mark, n;

	(void)state;
	fake_setup(&f, SPEC);
	create(&f);
	want = xstrdup(cm_data(&f, "chat-nginx", "nginx.conf"));
	edit_by_hand(&f, "chat-nginx", "nginx.conf", "hand edit");
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply configmaps/chat-nginx\n");
	assert_str(cm_data(&f, "chat-nginx", "nginx.conf"), want);
	assert_str(buf_cstr(&f.events),
		   "Normal Updated: updated ConfigMap chat-nginx\n");
	/* a child deleted by hand is created again */
	fake_remove(&f, fake_path_of(&KUBE_SERVICE, "chat-headless", path,
				     sizeof(path)));
	mark = fake_reconcile(&f);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply services/chat-headless\n");
	assert_str(buf_cstr(&f.events),
		   "Normal Created: created Service chat-headless\n");
	assert_children_desired(&f, &n);
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	free(want);
	buf_deinit(&calls);
	fake_teardown(&f);
}

static void
test_conflict_retried(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(4096);
	size_t mark, n;

	(void)state;
	fake_setup(&f, SPEC);
	fake_fail(&f, KV_APPLY, "/statefulsets/chat?", 409, "Conflict", 1);
	(void)fake_reconcile(&f);
	/* failed: the env is asked for a retry with backoff */
	assert_int(f.rc, -EAGAIN);
	assert_null(fake_obj(&f, &KUBE_STATEFULSET, FAKE_NAME));
	assert_non_null(fake_obj(&f, &KUBE_CONFIGMAP, "chat-config"));
	assert_cond(&f, "Degraded", "True ApplyFailed");
	assert_cond(&f, "Ready", "False ReconcileFailed");
	assert_non_null(strstr(buf_cstr(&f.events),
			       "Warning ApplyFailed: StatefulSet chat: "
			       "fake: 409 Conflict\n"));
	/* the retry writes what failed, and the recovered status */
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply statefulsets/chat\n"
				     "apply chatmailrelays/chat/status\n");
	assert_cond(&f, "Degraded", "False AsExpected");
	assert_children_desired(&f, &n);
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	/* a status write refused with 429 and Retry-After: a retry not
	 * before then (a new generation, same spec: only the status) */
	fake_fail(&f, KV_APPLY, "/status?", 429, "TooManyRequests", 1)
		->retry_after = 7;
	fake_set_spec(&f, SPEC);
	mark = fake_reconcile(&f);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply chatmailrelays/chat/status\n");
	assert_int(f.rc, -EAGAIN);
	assert_int(f.retry_after, 7);
	assert_int(util_get_num(status(&f), "observedGeneration", 0), 1);
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_int(fake_writes(&f, mark), 1);
	assert_int(util_get_num(status(&f), "observedGeneration", 0), 2);
	buf_deinit(&calls);
	fake_teardown(&f);
}

static void
test_keygen_failed(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 16);
	size_t mark;

	(void)state;
	fake_setup(&f, SPEC);
	/* still being made: the relay converges without it */
	f.key_mode = FAKE_KEY_PENDING;
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_null(fake_obj(&f, &KUBE_SECRET, "chat-dkim"));
	assert_cond(&f, "Progressing", "True GeneratingDKIMKey");
	assert_cond(&f, "Degraded", "False AsExpected");
	assert_null(dkim_value(&f));
	/* making it failed: reported, retried, nothing crashes */
	f.key_mode = FAKE_KEY_FAIL;
	mark = fake_reconcile(&f);
	assert_int(f.rc, -EAGAIN);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply chatmailrelays/chat/status\n");
	assert_null(fake_obj(&f, &KUBE_SECRET, "chat-dkim"));
	assert_cond(&f, "Degraded", "True KeyGenerationFailed");
	assert_cond(&f, "Progressing", "False Stable");
	assert_non_null(
		strstr(util_get_str(status_condition(status(&f), "Degraded"),
				    "message"),
		       "key child 42 killed by signal 9"));
	assert_str(buf_cstr(&f.events),
		   "Warning KeyGenerationFailed: key child 42 killed by "
		   "signal 9; next attempt in 1 s\n");
	/* the retry after the keygen's backoff gets a key */
	f.key_mode = FAKE_KEY_READY;
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "create secrets\n"
				     "apply chatmailrelays/chat/status\n");
	assert_non_null(fake_obj(&f, &KUBE_SECRET, "chat-dkim"));
	assert_cond(&f, "Degraded", "False AsExpected");
	assert_dkim_of_key(&f);
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	buf_deinit(&calls);
	fake_teardown(&f);
}

/* sts_pvcs: the StatefulSet controller creates the claims of the
 * stored StatefulSet's templates (labels, spec; no owner reference,
 * as its persistentVolumeClaimRetentionPolicy Retain has it) */
static void
sts_pvcs(struct fake *f)
{
	const cJSON *t;
	cJSON *pvc, *md;
	char name[128], path[512];

	cJSON_ArrayForEach(t,
			   util_get(fake_obj(f, &KUBE_STATEFULSET, FAKE_NAME),
				    "spec.volumeClaimTemplates"))
	{
		pvc = cJSON_Duplicate(t, 1);
		md = cJSON_GetObjectItemCaseSensitive(pvc, "metadata");
		desired_pvc_name(FAKE_NAME, util_get_str(md, "name"), name,
				 sizeof(name));
		cJSON_ReplaceItemInObjectCaseSensitive(
			md, "name", cJSON_CreateString(name));
		cJSON_AddStringToObject(md, "namespace", FAKE_NS);
		cJSON_DeleteItemFromObjectCaseSensitive(pvc, "status");
		fake_stamp(f, pvc, 1);
		fake_put(f, fake_path_of(&KUBE_PVC, name, path, sizeof(path)),
			 pvc);
	}
}

/* kept: status.keptOnDelete as "Kind/name,..." */
static void
kept(struct fake *f, struct buf *out)
{
	const cJSON *k;

	buf_reset(out);
	cJSON_ArrayForEach(k, util_get(status(f), "keptOnDelete"))
	{
		assert_int(buf_printf(out, "%s%s/%s", out->len ? "," : "",
				      util_get_str(k, "kind"),
				      util_get_str(k, "name")),
			   0);
	}
}

/* relay_deleted: the relay leaves the API (no finalizer), as the
 * controller's watch handler reports it, and the garbage collector
 * removes what the relay owns */
static void
relay_deleted(struct fake *f)
{
	const struct relay_entry *e = hmap_get(&f->relays, FAKE_KEY);
	struct hmap_entry *he;
	char path[512], *victims[64];
	size_t i, n = 0;

	assert_non_null(e);
	rec_env_relay_deleted(&f->env, FAKE_KEY, e->json);
	fake_remove(f,
		    fake_path_of(&KUBE_RELAY, FAKE_NAME, path, sizeof(path)));
	for (he = hmap_first(&f->store, &i); he != NULL;
	     he = hmap_next(&f->store, &i, he))
		if (has_owner(he->value) && n < 64)
			victims[n++] = xstrdup(he->key);
	for (i = 0; i < n; i++) {
		fake_remove(f, victims[i]);
		free(victims[i]);
	}
}

static void
test_delete_keeps_volumes(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 16), k = BUF_INIT(4096);
	size_t mark;

	(void)state;
	fake_setup(&f, SPEC_KEEP_NONE);
	create(&f);
	assert_true(has_owner(fake_obj(&f, &KUBE_SECRET, "chat-dkim")));
	sts_pvcs(&f);
	mark = fake_reconcile(&f);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls),
		   "apply persistentvolumeclaims/mail-chat-0\n"
		   "apply persistentvolumeclaims/queue-chat-0\n");
	assert_true(has_owner(fake_obj(&f, &KUBE_PVC, "mail-chat-0")));
	assert_null(util_get(status(&f), "keptOnDelete"));
	/* keepOnDelete set later: the claim is detached and listed */
	fake_set_spec(&f, SPEC_KEEP_MAIL);
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_non_null(strstr(buf_cstr(&calls),
			       "apply persistentvolumeclaims/mail-chat-0\n"));
	assert_null(strstr(buf_cstr(&calls), "queue-chat-0"));
	assert_false(has_owner(fake_obj(&f, &KUBE_PVC, "mail-chat-0")));
	assert_true(has_owner(fake_obj(&f, &KUBE_PVC, "queue-chat-0")));
	/* what the StatefulSet controller set stays */
	assert_non_null(util_get(fake_obj(&f, &KUBE_PVC, "mail-chat-0"),
				 "spec.accessModes"));
	kept(&f, &k);
	assert_str(buf_cstr(&k), "PersistentVolumeClaim/mail-chat-0");
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	/* the relay is deleted: nothing is written, the kept claim is
	 * named */
	relay_deleted(&f);
	assert_null(fake_obj(&f, &KUBE_PVC, "queue-chat-0"));
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_int(f.ncalls, mark);
	assert_str(buf_cstr(&f.events),
		   "Normal VolumeKept: kept PersistentVolumeClaim "
		   "mail-chat-0 (storage.mail.keepOnDelete)\n");
	assert_non_null(fake_obj(&f, &KUBE_PVC, "mail-chat-0"));
	/* the key was made while nothing was kept: it went with the relay,
	 * and no event claims otherwise */
	assert_null(fake_obj(&f, &KUBE_SECRET, "chat-dkim"));
	buf_deinit(&calls);
	buf_deinit(&k);
	fake_teardown(&f);
}

static void
test_delete_default_keeps_all(void **state)
{
	struct fake f;
	struct buf k = BUF_INIT(4096);
	unsigned forgets;
	size_t mark;

	(void)state;
	fake_setup(&f, SPEC);
	create(&f);
	sts_pvcs(&f);
	mark = fake_reconcile(&f);
	assert_int(fake_writes(&f, mark), 3); /* two claims, the status */
	kept(&f, &k);
	assert_str(buf_cstr(&k), "PersistentVolumeClaim/mail-chat-0,"
				 "PersistentVolumeClaim/queue-chat-0,"
				 "Secret/chat-dkim");
	forgets = f.key_forgets;
	relay_deleted(&f);
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	assert_int(f.key_forgets, forgets + 1);
	assert_str(buf_cstr(&f.events),
		   "Normal VolumeKept: kept PersistentVolumeClaim "
		   "mail-chat-0 (storage.mail.keepOnDelete)\n"
		   "Normal VolumeKept: kept PersistentVolumeClaim "
		   "queue-chat-0 (storage.queue.keepOnDelete)\n"
		   "Normal SecretKept: kept the DKIM key Secret chat-dkim\n");
	assert_null(fake_obj(&f, &KUBE_STATEFULSET, FAKE_NAME));
	assert_non_null(fake_obj(&f, &KUBE_SECRET, "chat-dkim"));
	/* told once: a second reconcile of the key finds nothing to say */
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark);
	assert_str(buf_cstr(&f.events), "");
	buf_deinit(&k);
	fake_teardown(&f);
}

/* user_secret: the user creates Secret name with one data key */
static void
user_secret(struct fake *f, const char *name, const char *key,
	    const struct buf *val)
{
	struct buf b64 = BUF_INIT(65536);
	char path[512];
	cJSON *sec = cJSON_CreateObject(), *md;

	assert_int(util_b64_encode(val->data, val->len, &b64), 0);
	cJSON_AddStringToObject(sec, "apiVersion", "v1");
	cJSON_AddStringToObject(sec, "kind", "Secret");
	md = cJSON_AddObjectToObject(sec, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", FAKE_NS);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sec, "data"), key,
				buf_cstr(&b64));
	fake_stamp(f, sec, 1);
	/* not labelled: no informer caches it, the reconcile reads it */
	assert_null(hmap_put(
		&f->store, fake_path_of(&KUBE_SECRET, name, path, sizeof(path)),
		sec));
	buf_deinit(&b64);
}

static void
test_user_secrets(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 16), cert = BUF_INIT(16384),
		   key = BUF_INIT(16384);
	size_t mark;

	(void)state;
	fake_setup(&f,
		   "{\"domain\":\"chat.example.org\","
		   "\"tls\":{\"mode\":\"Secret\",\"secretName\":\"my-tls\"},"
		   "\"dkim\":{\"secretName\":\"my-dkim\"}}");
	mark = fake_reconcile(&f);
	assert_int(f.rc, -EAGAIN);
	fake_calls(&f, mark, &calls);
	assert_non_null(strstr(buf_cstr(&calls), "get secrets/my-dkim\n"));
	assert_non_null(strstr(buf_cstr(&calls), "get secrets/my-tls\n"));
	assert_null(strstr(buf_cstr(&calls), "create secrets"));
	assert_cond(&f, "Degraded", "True DKIMSecretMissing");
	assert_str(util_get_str(status(&f), "dkimSecretName"), "my-dkim");
	/* the user brings them: the record comes from the user's key */
	user_secret(&f, "my-dkim", "opendkim.private", &f.key_pem);
	assert_int(keys_self_signed("chat.example.org", 1, &cert, &key), 0);
	user_secret(&f, "my-tls", "tls.crt", &cert);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_cond(&f, "Degraded", "False AsExpected");
	assert_dkim_of_key(&f);
	/* steady: the two reads, no write */
	mark = fake_reconcile(&f);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "get secrets/my-dkim\n"
				     "get secrets/my-tls\n");
	buf_deinit(&calls);
	buf_deinit(&cert);
	buf_wipe_deinit(&key);
	fake_teardown(&f);
}

/* the TURN Secret, created once and not in the desired list, is not
 * pruned: steady reconciles neither delete nor recreate it */
static void
test_turn_secret_kept(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 16);
	const cJSON *turn;
	size_t mark;
	char uid[128];
	int i;

	(void)state;
	fake_setup(&f, SPEC_TURN);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	turn = fake_obj(&f, &KUBE_SECRET, "chat-turn");
	assert_non_null(turn);
	(void)snprintf(uid, sizeof(uid), "%s",
		       util_get_str(turn, "metadata.resourceVersion"));
	for (i = 0; i < 3; i++) {
		mark = fake_reconcile(&f);
		assert_int(f.rc, 0);
		fake_calls(&f, mark, &calls);
		assert_null(
			strstr(buf_cstr(&calls), "delete secrets/chat-turn"));
		assert_null(strstr(buf_cstr(&calls), "create secrets"));
		buf_reset(&calls);
	}
	turn = fake_obj(&f, &KUBE_SECRET, "chat-turn");
	assert_non_null(turn);
	assert_str(util_get_str(turn, "metadata.resourceVersion"), uid);
	buf_deinit(&calls);
	fake_teardown(&f);
}

static void
test_abort(void **state)
{
	struct fake f;
	unsigned finished;
	size_t i;

	(void)state;
	fake_setup(&f, SPEC);
	finished = f.finished;
	reconcile_start(&f.env, FAKE_KEY);
	assert_false(LLIST_EMPTY(&f.env.live));
	assert_true(f.ncalls > 10);
	/* half the calls answered, then the Lease is lost */
	for (i = 0; i < f.ncalls / 2; i++) {
		struct kube_result res;

		memset(&res, 0, sizeof(res));
		fake_answer(&f, f.calls[i], &res);
		f.calls[i]->state = 1;
		f.calls[i]->done(f.calls[i]->arg, &res);
		cJSON_Delete(res.body);
	}
	reconcile_abort(LLIST_FIRST(&f.env.live));
	assert_true(LLIST_EMPTY(&f.env.live));
	for (i = f.ncalls / 2; i < f.ncalls; i++)
		assert_int(f.calls[i]->state, 2);
	assert_int(f.finished, finished);
	/* the next leader's reconcile finishes the job */
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_from_empty),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_drift_restored),
		cmocka_unit_test(test_conflict_retried),
		cmocka_unit_test(test_keygen_failed),
		cmocka_unit_test(test_delete_keeps_volumes),
		cmocka_unit_test(test_delete_default_keeps_all),
		cmocka_unit_test(test_user_secrets),
		cmocka_unit_test(test_turn_secret_kept),
		cmocka_unit_test(test_abort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
