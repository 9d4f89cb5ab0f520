/*
 * reconcile_apply: writing a relay's children.
 *
 * Skipping unchanged writes. A child is written with server-side apply
 * (PATCH application/apply-patch+yaml, fieldManager chatmail-operator,
 * force) only when what we would apply differs from what the server
 * holds for our field manager: the live object projected onto our
 * managedFields entry (kept as a hash in the child cache) is compared
 * with the desired object. Why managedFields and not a hash annotation:
 * an annotation says what we last sent, not what the object holds now,
 * so a hand edit of an owned field would go unnoticed; the projection
 * changes as soon as anyone changes or removes a field we own (the
 * field leaves our set), and it ignores fields others own (status,
 * defaults, a cloud controller's annotations), so those cause no
 * writes. Where the server normalises a value we sent (a quantity, an
 * atomic list with defaulted members), the projection differs from our
 * JSON forever; the memo (desired hash -> live hash right after our
 * apply) recognises that state and still writes nothing.
 *
 * Secrets with generated keys are created (POST) once and never
 * re-applied; deleting them is the user's decision.
 *
 * Untrusted input: API responses (bounded, parsed by cJSON).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "keys.h"
#include "log.h"
#include "reconcile.h"
#include "xmalloc.h"

void
rec_fail(struct rec *r, const char *reason, const char *fmt, ...)
{
	va_list ap;

	if (r->err_reason[0] != '\0')
		return; /* the first failure is the one to report */
	(void)snprintf(r->err_reason, sizeof(r->err_reason), "%s", reason);
	va_start(ap, fmt);
	(void)vsnprintf(r->err_msg, sizeof(r->err_msg), fmt, ap);
	va_end(ap);
}

enum op_kind
rec_kind_of(const cJSON *obj)
{
	const char *kind = util_get_str(obj, "kind");
	int k;

	for (k = 0; kind != NULL && k < OK_COUNT; k++)
		if (strcmp(child_kind((enum op_kind)k)->kind, kind) == 0)
			return (enum op_kind)k;
	return OK_COUNT;
}

/* dup_or_null: strdup that keeps NULL */
static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int
rec_child(struct rec *r, enum op_kind k, const char *name, struct child *copy)
{
	const struct child *c;
	char key[512];

	memset(copy, 0, sizeof(*copy));
	if (r->ctl->kids[k] == NULL)
		return 0;
	(void)snprintf(key, sizeof(key), "%s/%s", r->ns, name);
	c = informer_get(r->ctl->kids[k], key);
	if (c == NULL)
		return 0;
	*copy = *c;
	copy->relay = dup_or_null(c->relay);
	copy->current_revision = dup_or_null(c->current_revision);
	copy->update_revision = dup_or_null(c->update_revision);
	copy->vct_mail = dup_or_null(c->vct_mail);
	copy->vct_queue = dup_or_null(c->vct_queue);
	copy->address = dup_or_null(c->address);
	copy->dkim_txt = dup_or_null(c->dkim_txt);
	return 1;
}

void
rec_child_clear(struct child *c)
{
	free(c->relay);
	free(c->current_revision);
	free(c->update_revision);
	free(c->vct_mail);
	free(c->vct_queue);
	free(c->address);
	free(c->dkim_txt);
	memset(c, 0, sizeof(*c));
}

/* memo_key: "Kind/ns/name" */
static void
memo_key(const struct rec *r, enum op_kind k, const char *name, char *out,
	 size_t outsize)
{
	(void)snprintf(out, outsize, "%s/%s/%s", child_kind(k)->kind, r->ns,
		       name);
}

/* unchanged: the live child already holds the desired content */
static int
unchanged(struct rec *r, enum op_kind k, const char *name, const char *want,
	  const struct child *c)
{
	const struct memo *m;
	char mk[600];

	if (strcmp(c->hash, want) == 0)
		return 1;
	memo_key(r, k, name, mk, sizeof(mk));
	m = hmap_get(&r->ctl->memo, mk);
	return m != NULL && strcmp(m->desired, want) == 0 &&
	       strcmp(m->live, c->hash) == 0;
}

/* remember: the projection right after our apply of want */
static void
remember(struct rec *r, enum op_kind k, const char *name, const char *want,
	 const char *live)
{
	struct memo *m;
	char mk[600];

	memo_key(r, k, name, mk, sizeof(mk));
	if (strcmp(live, want) == 0) {
		/* the projection shows what we sent: no memo needed */
		free(hmap_del(&r->ctl->memo, mk));
		return;
	}
	m = xcalloc(1, sizeof(*m));
	(void)snprintf(m->desired, sizeof(m->desired), "%s", want);
	(void)snprintf(m->live, sizeof(m->live), "%s", live);
	free(hmap_put(&r->ctl->memo, mk, m));
}

/* apply_path: PATCH URL of a server-side apply */
static void
apply_path(const struct kube_kind *kind, const char *ns, const char *name,
	   const char *sub, struct buf *p)
{
	if (kube_path(p, kind, ns, name, sub) < 0 ||
	    kube_query(p, "fieldManager", KUBE_FIELD_MANAGER) < 0 ||
	    kube_query(p, "force", "true") < 0)
		abort(); /* names are bounded by the API */
}

/* one apply of a reconcile, in flight with the others */
struct pending {
	struct rec *r;
	enum op_kind k;
	const cJSON *obj;
	char want[UTIL_SHA256_HEX];
	char live[UTIL_SHA256_HEX]; /* projection of the response */
	int found, done, err;
	char message[512];
	unsigned retry_after;
};

/* apply_done: one apply finished */
static void
apply_done(void *arg, struct kube_result *res)
{
	struct pending *p = arg;

	p->done = 1;
	p->err = res->err;
	p->retry_after = res->retry_after;
	(void)snprintf(p->message, sizeof(p->message), "%s", res->message);
	if (res->err == 0)
		child_projection_hash(res->body, p->live);
}

/* note: add "Kind name" to a comma-separated list for one event */
static void
note(struct buf *list, enum op_kind k, const char *name)
{
	(void)buf_printf(list, "%s%s %s", list->len ? ", " : "",
			 child_kind(k)->kind, name);
}

/* finish_apply: record one apply's outcome */
static void
finish_apply(struct rec *r, struct pending *p)
{
	const char *name = util_get_str(p->obj, "metadata.name");

	if (p->err < 0) {
		if (p->retry_after > r->retry_after)
			r->retry_after = p->retry_after;
		if (p->k == OK_CERTIFICATE && p->err == -ENOENT)
			rec_fail(r, "CertManagerMissing",
				 "Certificate %s: cert-manager's CRDs are not "
				 "installed (%s)",
				 name, p->message);
		else
			rec_fail(r, "ApplyFailed", "%s %s: %s",
				 child_kind(p->k)->kind, name, p->message);
		log_warn("apply %s %s/%s failed: %s", child_kind(p->k)->kind,
			 r->ns, name, p->message);
		return;
	}
	remember(r, p->k, name, p->want, p->live);
	log_info("applied %s %s/%s", child_kind(p->k)->kind, r->ns, name);
	note(p->found ? &r->updated : &r->created, p->k, name);
}

/* needs_apply: decide from the cache; fills p when a write is needed */
static int
needs_apply(struct rec *r, enum op_kind k, const cJSON *obj, struct pending *p)
{
	const char *name = util_get_str(obj, "metadata.name");
	struct child c;
	int need;

	memset(p, 0, sizeof(*p));
	p->r = r;
	p->k = k;
	p->obj = obj;
	child_desired_hash(obj, p->want);
	p->found = rec_child(r, k, name, &c);
	/* a deleting child is re-created once it is gone */
	need = !p->found ||
	       (!c.deleting && !unchanged(r, k, name, p->want, &c));
	rec_child_clear(&c);
	return need;
}

/* run_applies: start every needed apply at once (HTTP/2 streams on one
 * connection), wait for all, then record them in order */
static void
run_applies(struct rec *r, struct pending *p, size_t n)
{
	struct buf path = BUF_INIT(1024);
	size_t i, left = n;

	for (i = 0; i < n; i++) {
		apply_path(child_kind(p[i].k), r->ns,
			   util_get_str(p[i].obj, "metadata.name"), NULL,
			   &path);
		r->writes++;
		(void)kube_call_start(r->ctl->client, KV_APPLY, buf_cstr(&path),
				      p[i].obj, apply_done, &p[i]);
	}
	while (left > 0) {
		if (evloop_run_once(r->ctl->loop, -1) < 0)
			abort(); /* epoll failing is a broken invariant */
		for (left = 0, i = 0; i < n; i++)
			left += !p[i].done;
	}
	for (i = 0; i < n; i++)
		finish_apply(r, &p[i]);
	buf_deinit(&path);
}

void
rec_apply_all(struct rec *r, const cJSON *list, const struct desired_in *in)
{
	static const char *const which[] = { "mail", "queue" };
	const cJSON *obj;
	struct pending *p;
	cJSON *pvcs[2] = { NULL, NULL };
	enum op_kind k;
	struct child c;
	char name[128];
	size_t i, n = 0, max = (size_t)cJSON_GetArraySize(list) + 2;

	p = xcalloc(max, sizeof(*p));
	cJSON_ArrayForEach(obj, list)
	{
		k = rec_kind_of(obj);
		if (k != OK_COUNT && needs_apply(r, k, obj, &p[n]))
			n++;
	}
	/* PVCs come from the StatefulSet's templates; once they exist,
	 * the operator adds its labels, the owner reference (unless
	 * kept on delete) and expansions */
	for (i = 0; i < 2; i++) {
		desired_pvc_name(r->name, which[i], name, sizeof(name));
		if (!rec_child(r, OK_PVC, name, &c))
			continue;
		rec_child_clear(&c);
		pvcs[i] = desired_pvc(in, which[i]);
		if (needs_apply(r, OK_PVC, pvcs[i], &p[n]))
			n++;
	}
	if (n > 0)
		run_applies(r, p, n);
	free(p);
	cJSON_Delete(pvcs[0]);
	cJSON_Delete(pvcs[1]);
}

/* create_secret: POST a Secret; an existing one is left alone */
static void
create_secret(struct rec *r, cJSON *sec, const char *what)
{
	struct kube_result res;
	struct buf p = BUF_INIT(1024);
	const char *name = util_get_str(sec, "metadata.name");

	if (kube_path(&p, &KUBE_SECRET, r->ns, NULL, NULL) < 0)
		abort();
	r->writes++;
	if (kube_call_sync(r->ctl->client, KV_CREATE, buf_cstr(&p), sec,
			   &res) == 0) {
		log_info("created %s Secret %s/%s", what, r->ns, name);
		events_emit(r->ctl->events, r->relay, "Normal",
			    strcmp(what, "DKIM") == 0 ? "DKIMKeyGenerated"
						      : "CertificateGenerated",
			    "Create",
			    "generated the %s Secret %s; it is never replaced "
			    "by the operator",
			    what, name);
	} else if (res.err != -EEXIST) {
		rec_fail(r, "SecretFailed", "Secret %s: %s", name, res.message);
	}
	kube_result_deinit(&res);
	buf_deinit(&p);
}

/* dkim_secret: generate the relay's DKIM key once */
static void
dkim_secret(struct rec *r, const struct desired_in *in)
{
	struct buf pem = BUF_INIT(16384);
	struct desired_in keep = *in;
	struct child c;
	cJSON *sec;

	if (rec_child(r, OK_SECRET, r->dkim_secret, &c)) {
		rec_child_clear(&c);
		return;
	}
	if (keys_dkim_generate(2048, &pem) < 0) {
		rec_fail(r, "KeyGenerationFailed", "cannot generate a key");
		buf_wipe_deinit(&pem);
		return;
	}
	/* the key is state like the mail: it outlives the relay when the
	 * mail volume does */
	if (r->spec->storage.mail.keep_on_delete)
		keep.uid = NULL;
	sec = desired_secret(&keep, r->dkim_secret, "Opaque", "dkim",
			     "opendkim.private", pem.data, pem.len, NULL, NULL,
			     0);
	create_secret(r, sec, "DKIM");
	cJSON_Delete(sec);
	buf_wipe_deinit(&pem);
}

/* tls_secret: the self-signed certificate of a SelfSigned relay */
static void
tls_secret(struct rec *r, const struct desired_in *in)
{
	struct buf cert = BUF_INIT(16384), key = BUF_INIT(16384);
	struct child c;
	cJSON *sec;

	if (rec_child(r, OK_SECRET, r->tls_secret, &c)) {
		rec_child_clear(&c);
		return;
	}
	if (keys_self_signed(r->spec->domain, 36500, &cert, &key) < 0) {
		rec_fail(r, "KeyGenerationFailed", "cannot make a certificate");
	} else {
		sec = desired_secret(in, r->tls_secret, "kubernetes.io/tls",
				     "tls", "tls.crt", cert.data, cert.len,
				     "tls.key", key.data, key.len);
		create_secret(r, sec, "self-signed TLS");
		cJSON_Delete(sec);
	}
	buf_deinit(&cert);
	buf_wipe_deinit(&key);
}

/* wipe_strings: erase every string value of a JSON tree */
static void
wipe_strings(cJSON *v)
{
	cJSON *ch;

	if (cJSON_IsString(v) && v->valuestring != NULL)
		explicit_bzero(v->valuestring, strlen(v->valuestring));
	cJSON_ArrayForEach(ch, v)
	{
		wipe_strings(ch);
	}
}

/* user_secret: a Secret the user names must exist; read DKIM's key */
static void
user_secret(struct rec *r, const char *name, int dkim)
{
	struct kube_result res;
	struct buf p = BUF_INIT(1024), pem = BUF_INIT(65536),
		   txt = BUF_INIT(4096);
	const cJSON *v;

	if (kube_path(&p, &KUBE_SECRET, r->ns, name, NULL) < 0)
		abort();
	if (kube_call_sync(r->ctl->client, KV_GET, buf_cstr(&p), NULL, &res) <
	    0) {
		rec_fail(r, dkim ? "DKIMSecretMissing" : "TLSSecretMissing",
			 "Secret %s: %s", name, res.message);
	} else if (dkim) {
		v = cJSON_GetObjectItemCaseSensitive(util_get(res.body, "data"),
						     "opendkim.private");
		if (!cJSON_IsString(v) ||
		    util_b64_decode(v->valuestring, strlen(v->valuestring),
				    &pem) < 0 ||
		    keys_dkim_txt(pem.data, pem.len, &txt) < 0)
			rec_fail(r, "DKIMSecretInvalid",
				 "Secret %s has no RSA key opendkim.private",
				 name);
		else
			(void)snprintf(r->dkim_txt, sizeof(r->dkim_txt), "%s",
				       buf_cstr(&txt));
	}
	wipe_strings(res.body); /* it held key material */
	kube_result_deinit(&res);
	buf_deinit(&p);
	buf_wipe_deinit(&pem);
	buf_deinit(&txt);
}

void
rec_secrets(struct rec *r, const struct desired_in *in)
{
	if (r->spec->dkim.secret_name[0] == '\0')
		dkim_secret(r, in);
	else
		user_secret(r, r->dkim_secret, 1);
	if (r->spec->tls.mode == SPEC_TLS_SELF_SIGNED)
		tls_secret(r, in);
	else if (r->spec->tls.mode == SPEC_TLS_SECRET)
		user_secret(r, r->tls_secret, 0);
}

struct prune_scan {
	struct rec *r;
	const cJSON *list;
	enum op_kind k;
	char **victims;
	size_t n;
};

/* wanted: the desired list (or the kept Secrets) has this child */
static int
wanted(struct prune_scan *s, const char *name)
{
	const cJSON *obj;
	const char *kind = child_kind(s->k)->kind;

	if (s->k == OK_SECRET && strcmp(name, s->r->dkim_secret) == 0)
		return 1; /* never deleted: DNS publishes its key */
	if (s->k == OK_SECRET && strcmp(name, s->r->tls_secret) == 0)
		return 1;
	cJSON_ArrayForEach(obj, s->list)
	{
		if (strcmp(util_get_str(obj, "kind"), kind) == 0 &&
		    strcmp(util_get_str(obj, "metadata.name"), name) == 0)
			return 1;
	}
	return 0;
}

/* scan_one: collect a child of this relay the spec no longer wants */
static void
scan_one(void *arg, const char *key, const void *value)
{
	struct prune_scan *s = arg;
	const struct child *c = value;
	size_t nl = strlen(s->r->ns);
	const char *name = key + nl + 1;

	if (strncmp(key, s->r->ns, nl) != 0 || key[nl] != '/' ||
	    c->relay == NULL || strcmp(c->relay, s->r->name) != 0 ||
	    c->deleting || wanted(s, name))
		return;
	s->victims = xreallocarray(s->victims, s->n + 1, sizeof(char *));
	s->victims[s->n++] = xstrdup(name);
}

/* delete_child: DELETE one child (background propagation) */
static void
delete_child(struct rec *r, enum op_kind k, const char *name)
{
	struct kube_result res;
	struct buf p = BUF_INIT(1024);

	if (kube_path(&p, child_kind(k), r->ns, name, NULL) < 0 ||
	    kube_query(&p, "propagationPolicy", "Background") < 0)
		abort();
	r->writes++;
	if (kube_call_sync(r->ctl->client, KV_DELETE, buf_cstr(&p), NULL,
			   &res) == 0 ||
	    res.err == -ENOENT) {
		log_info("deleted %s %s/%s (no longer wanted)",
			 child_kind(k)->kind, r->ns, name);
		note(&r->deleted, k, name);
	} else {
		rec_fail(r, "DeleteFailed", "%s %s: %s", child_kind(k)->kind,
			 name, res.message);
	}
	kube_result_deinit(&res);
	buf_deinit(&p);
}

void
rec_prune(struct rec *r, const cJSON *list)
{
	struct prune_scan s;
	size_t i;
	int k;

	for (k = 0; k < OK_COUNT; k++) {
		/* PVCs hold mail: never deleted here */
		if (k == OK_PVC || r->ctl->kids[k] == NULL)
			continue;
		memset(&s, 0, sizeof(s));
		s.r = r;
		s.list = list;
		s.k = (enum op_kind)k;
		informer_each(r->ctl->kids[k], scan_one, &s);
		for (i = 0; i < s.n; i++) {
			delete_child(r, s.k, s.victims[i]);
			free(s.victims[i]);
		}
		free(s.victims);
	}
}
