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
 * Every apply and delete of a reconcile is started at once (HTTP/2
 * streams on one connection); each records its outcome when it
 * finishes. Created-once Secrets are in reconcile_secrets.c.
 *
 * Untrusted input: API responses (bounded, parsed by cJSON).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	(void)snprintf(key, sizeof(key), "%s/%s", r->ns, name);
	c = r->env->ops->child(r->env->arg, k, key);
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
	copy->node = dup_or_null(c->node);
	copy->host_ip = dup_or_null(c->host_ip);
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
	free(c->node);
	free(c->host_ip);
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
	m = hmap_get(&r->env->memo, mk);
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
		free(hmap_del(&r->env->memo, mk));
		return;
	}
	m = xcalloc(1, sizeof(*m));
	(void)snprintf(m->desired, sizeof(m->desired), "%s", want);
	(void)snprintf(m->live, sizeof(m->live), "%s", live);
	free(hmap_put(&r->env->memo, mk, m));
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

void
rec_note(struct buf *list, enum op_kind k, const char *name)
{
	(void)buf_printf(list, "%s%s %s", list->len ? ", " : "",
			 child_kind(k)->kind, name);
}

/* applied: one apply finished: record its outcome */
static void
applied(struct rec *r, struct rec_call *call, struct kube_result *res)
{
	char live[UTIL_SHA256_HEX];

	if (res->err < 0) {
		if (res->retry_after > r->retry_after)
			r->retry_after = res->retry_after;
		if (call->k == OK_PODMONITOR && res->err == -ENOENT) {
			/* the CRD went away since the cache listed: the
			 * PodMonitor is optional, the relay is fine */
			log_info("PodMonitor %s/%s: the CRD is not served",
				 r->ns, call->name);
			return;
		}
		if (call->k == OK_CERTIFICATE && res->err == -ENOENT)
			rec_fail(r, "CertManagerMissing",
				 "Certificate %s: cert-manager's CRDs are not "
				 "installed (%s)",
				 call->name, res->message);
		else if (call->k == OK_DNSENDPOINT && res->err == -ENOENT)
			rec_fail(r, "ExternalDNSMissing",
				 "DNSEndpoint %s: external-dns's CRD is not "
				 "installed (%s)",
				 call->name, res->message);
		else
			rec_fail(r, "ApplyFailed", "%s %s: %s",
				 child_kind(call->k)->kind, call->name,
				 res->message);
		log_warn("apply %s %s/%s failed: %s", child_kind(call->k)->kind,
			 r->ns, call->name, res->message);
		return;
	}
	child_projection_hash(res->body, live);
	remember(r, call->k, call->name, call->want, live);
	log_info("applied %s %s/%s", child_kind(call->k)->kind, r->ns,
		 call->name);
	rec_note(call->found ? &r->updated : &r->created, call->k, call->name);
}

/* apply_one: start the apply of obj when the cache says it differs */
static void
apply_one(struct rec *r, enum op_kind k, const cJSON *obj)
{
	const char *name = util_get_str(obj, "metadata.name");
	char want[UTIL_SHA256_HEX];
	struct rec_call *call;
	struct buf path = BUF_INIT(1024);
	struct child c;
	int found;

	child_desired_hash(obj, want);
	found = rec_child(r, k, name, &c);
	/* a deleting child is re-created once it is gone */
	if (found && (c.deleting || unchanged(r, k, name, want, &c))) {
		rec_child_clear(&c);
		return;
	}
	rec_child_clear(&c);
	call = rec_call_new(r, k, name);
	call->found = found;
	(void)snprintf(call->want, sizeof(call->want), "%s", want);
	apply_path(child_kind(k), r->ns, name, NULL, &path);
	r->writes++;
	rec_call_start(r, KV_APPLY, buf_cstr(&path), obj, applied, call);
	buf_deinit(&path);
}

void
rec_apply_all(struct rec *r, const cJSON *list, const struct desired_in *in)
{
	static const char *const which[] = { "mail", "queue" };
	const cJSON *obj;
	cJSON *pvc;
	enum op_kind k;
	struct child c;
	char name[128];
	size_t i;

	cJSON_ArrayForEach(obj, list)
	{
		k = rec_kind_of(obj);
		if (k != OK_COUNT)
			apply_one(r, k, obj);
	}
	/* PVCs come from the StatefulSet's templates; once they exist,
	 * the operator adds its labels, the owner reference (unless
	 * kept on delete) and expansions */
	for (i = 0; i < 2; i++) {
		desired_pvc_name(r->name, which[i], name, sizeof(name));
		if (!rec_child(r, OK_PVC, name, &c))
			continue;
		rec_child_clear(&c);
		pvc = desired_pvc(in, which[i]);
		apply_one(r, OK_PVC, pvc);
		cJSON_Delete(pvc); /* the request holds its own copy */
	}
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
	char turn[128];

	if (s->k == OK_SECRET && strcmp(name, s->r->dkim_secret) == 0)
		return 1; /* never deleted: DNS publishes its key */
	if (s->k == OK_SECRET && strcmp(name, s->r->tls_secret) == 0)
		return 1;
	if (s->k == OK_SECRET && s->r->spec != NULL &&
	    spec_turn_address(s->r->spec) != NULL) {
		/* created once by turn_secret, not in the desired list */
		desired_turn_secret_name(s->r->name, turn, sizeof(turn));
		if (strcmp(name, turn) == 0)
			return 1;
	}
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

/* deleted: one DELETE finished */
static void
deleted(struct rec *r, struct rec_call *call, struct kube_result *res)
{
	if (res->err == 0 || res->err == -ENOENT) {
		log_info("deleted %s %s/%s (no longer wanted)",
			 child_kind(call->k)->kind, r->ns, call->name);
		rec_note(&r->deleted, call->k, call->name);
	} else {
		rec_fail(r, "DeleteFailed", "%s %s: %s",
			 child_kind(call->k)->kind, call->name, res->message);
	}
}

/* delete_child: start a DELETE of one child (background propagation) */
static void
delete_child(struct rec *r, enum op_kind k, const char *name)
{
	struct rec_call *call = rec_call_new(r, k, name);
	struct buf p = BUF_INIT(1024);

	if (kube_path(&p, child_kind(k), r->ns, name, NULL) < 0 ||
	    kube_query(&p, "propagationPolicy", "Background") < 0)
		abort();
	r->writes++;
	rec_call_start(r, KV_DELETE, buf_cstr(&p), NULL, deleted, call);
	buf_deinit(&p);
}

void
rec_prune(struct rec *r, const cJSON *list)
{
	struct prune_scan s;
	size_t i;
	int k;

	for (k = 0; k < OK_COUNT; k++) {
		/* PVCs hold mail: never deleted here; Pods are only read */
		if (k == OK_PVC || k == OK_POD)
			continue;
		memset(&s, 0, sizeof(s));
		s.r = r;
		s.list = list;
		s.k = (enum op_kind)k;
		r->env->ops->children(r->env->arg, s.k, scan_one, &s);
		for (i = 0; i < s.n; i++) {
			delete_child(r, s.k, s.victims[i]);
			free(s.victims[i]);
		}
		free(s.victims);
	}
}
