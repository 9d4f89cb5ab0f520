/*
 * reconcile: one level-triggered, idempotent pass over one relay.
 *
 *   1. the relay from the cache (gone: report what was kept; being
 *      deleted: nothing, the garbage collector removes the children)
 *   2. its spec, parsed and validated like the CRD (invalid: Degraded,
 *      no retry until the spec changes)
 *   3. spec.paused: only the status is kept current
 *   4. converge: Secrets created once (DKIM key, self-signed
 *      certificate), the desired children applied where they differ
 *      from what the server holds, children the spec no longer wants
 *      deleted; all of these requests in flight at once
 *   5. status: rebuilt from observed state (with the volumes deleting
 *      the relay would keep) and written through /status only when it
 *      changed
 *   6. finish: events, the outcome to the env (the controller's queue)
 *
 * Each phase starts its requests and returns; the last one to finish
 * starts the next phase (reconcile.h). A reconcile of a relay whose
 * children all match writes nothing. A relay whose DKIM key is still
 * being generated (keygen.c) converges without it and is Progressing;
 * the keygen re-queues it when the key is ready, or when making it
 * failed (then the relay is Degraded, KeyGenerationFailed, with a
 * Warning event, until a retry after the keygen's backoff succeeds).
 *
 * Untrusted input: the ChatmailRelay (any user allowed to create one);
 * spec.c validates it before anything is derived from it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reconcile.h"
#include "status.h"
#include "xmalloc.h"

/* sts_id: the _mta-sts id, stable per relay: its creation minute */
static void
sts_id(const cJSON *relay, char *out, size_t outsize)
{
	const char *ts = util_get_str(relay, "metadata.creationTimestamp");
	size_t n = 0;

	for (; ts != NULL && *ts != '\0' && n + 1 < outsize && n < 12; ts++)
		if (*ts >= '0' && *ts <= '9')
			out[n++] = *ts;
	out[n] = '\0';
}

static void phase_status(struct rec *r);
static void phase_finish(struct rec *r);

/* kept_add: a child that outlives the relay, when it exists without
 * an owner reference to it */
static void
kept_add(struct rec *r, cJSON *kept, enum op_kind k, const char *name)
{
	struct child c;
	cJSON *o;

	if (!rec_child(r, k, name, &c))
		return;
	if (!c.owner_is_relay) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", child_kind(k)->kind);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddItemToArray(kept, o);
	}
	rec_child_clear(&c);
}

/* kept_on_delete: the PVCs and the generated DKIM Secret that deleting
 * the relay would keep, as observed (no owner reference) */
static cJSON *
kept_on_delete(struct rec *r)
{
	cJSON *kept = cJSON_CreateArray();
	char name[128];

	desired_pvc_name(r->name, "mail", name, sizeof(name));
	kept_add(r, kept, OK_PVC, name);
	desired_pvc_name(r->name, "queue", name, sizeof(name));
	kept_add(r, kept, OK_PVC, name);
	if (r->spec != NULL && r->spec->dkim.secret_name[0] == '\0')
		kept_add(r, kept, OK_SECRET, r->dkim_secret);
	return kept;
}

/* is_letsencrypt: an ACME directory URL of Let's Encrypt's (production
 * or staging: both issue under the CAA name letsencrypt.org) */
static int
is_letsencrypt(const char *url)
{
	const char *h = url != NULL ? strstr(url, "://") : NULL;
	size_t n;

	if (h == NULL)
		return 0;
	h += 3;
	n = strcspn(h, "/:");
	return n >= 20 && strncmp(h + n - 20, ".api.letsencrypt.org", 20) == 0;
}

/* dns_inputs: what status.dnsRecords is built from into in (the
 * Service and DKIM Secret copied into svc and dkim; clear them) */
static void
dns_inputs(struct rec *r, struct status_in *in, struct child *svc,
	   struct child *dkim, char *id, size_t idsize)
{
	(void)rec_child(r, OK_SERVICE, r->name, svc);
	in->address = svc->address ? svc->address : "";
	in->domain = r->spec ? r->spec->domain : NULL;
	in->dkim_selector = r->spec ? r->spec->dkim.selector : "";
	if (r->dkim_txt[0] != '\0')
		in->dkim_txt = r->dkim_txt;
	else if (rec_child(r, OK_SECRET, r->dkim_secret, dkim))
		in->dkim_txt = dkim->dkim_txt;
	in->strict_tls = r->spec && r->spec->tls.mode != SPEC_TLS_SELF_SIGNED;
	/* the CAA record allows the ACME CA: Let's Encrypt (upstream's);
	 * another directory's CAA name cannot be told from its URL */
	if (r->spec && r->spec->tls.mode == SPEC_TLS_ACME &&
	    is_letsencrypt(r->spec->tls.acme_directory))
		in->caa_issuer = "letsencrypt.org";
	sts_id(r->relay, id, idsize);
	in->sts_id = id;
}

/* acme_inputs: ACME mode: the spec's settings and the cert container's
 * newest probe line (the kubelet's events; certprobe.h), and once the
 * Pod is Ready what it serves (servedcert.h); after the StatefulSet's
 * fields are in */
static void
acme_inputs(struct rec *r, struct status_in *in)
{
	const struct rec_ops *ops = r->env->ops;

	in->acme_directory = r->spec->tls.acme_directory;
	in->acme_tos_agreed = r->spec->tls.acme_tos_agreed;
	(void)snprintf(r->pod_name, sizeof(r->pod_name), "%s-0", r->name);
	in->pod_name = r->pod_name;
	if (ops->cert_probe != NULL &&
	    ops->cert_probe(r->env->arg, r->ns, r->pod_name, &r->probe) == 1)
		in->acme_probe = &r->probe;
	if (in->sts_found && in->replicas > 0 &&
	    in->ready_replicas >= in->replicas && ops->served_cert != NULL &&
	    ops->served_cert(r->env->arg, r->key, r->spec->domain,
			     &r->served) == 1)
		in->acme_served = &r->served;
}

/* status_inputs: observed state of the children into in */
static void
status_inputs(struct rec *r, struct status_in *in, struct child *sts,
	      struct child *svc, struct child *dkim, struct child *cert,
	      char *id, size_t idsize, char *now, size_t nowsize)
{
	memset(in, 0, sizeof(*in));
	in->generation = util_get_int(r->relay, "metadata.generation", 0,
				      INT64_MIN, INT64_MAX);
	in->old_status = util_get(r->relay, "status");
	r->env->ops->now_rfc3339(r->env->arg, now, nowsize);
	in->now = now;
	if (r->err_reason[0] != '\0') {
		in->err_reason = r->err_reason;
		in->err_message = r->err_msg;
	}
	in->paused = r->spec && r->spec->paused;
	in->dkim_pending = r->dkim_pending;
	in->sts_found = rec_child(r, OK_STATEFULSET, r->name, sts);
	in->sts_generation = sts->generation;
	in->sts_observed_generation = sts->observed_generation;
	in->replicas = sts->replicas;
	in->ready_replicas = sts->ready_replicas;
	in->updated_replicas = sts->updated_replicas;
	in->current_revision = sts->current_revision;
	in->update_revision = sts->update_revision;
	in->cert_ready = -1;
	if (r->spec && r->spec->tls.mode == SPEC_TLS_ACME)
		acme_inputs(r, in);
	if (r->spec && r->spec->tls.mode == SPEC_TLS_CERT_MANAGER)
		in->cert_ready = rec_child(r, OK_CERTIFICATE, r->name, cert) &&
				 cert->cert_ready;
	dns_inputs(r, in, svc, dkim, id, idsize);
	in->turn_state = -1;
	if (r->spec && r->spec->turn.enabled) {
		in->turn_address = spec_turn_address(r->spec);
		in->turn_state = in->turn_address != NULL;
	}
	if (r->env->ops->dns_result != NULL)
		in->dns = r->env->ops->dns_result(r->env->arg, r->key);
	if (r->spec) {
		in->tls_secret = r->tls_secret;
		in->dkim_secret = r->dkim_secret;
	}
}

/* turn_inputs: the hostNetwork TURN Pod as observed (tpod keeps the
 * strings in holds until the caller clears it) */
static void
turn_inputs(struct rec *r, struct status_in *in, struct child *tpod)
{
	char name[128];

	if (r->spec == NULL || spec_turn_mode(r->spec) != SPEC_TURN_HOST)
		return;
	desired_turn_name(r->name, name, sizeof(name));
	(void)snprintf(r->turn_pod, sizeof(r->turn_pod), "%s-0", name);
	in->turn_host_network = 1;
	in->turn_pod = r->turn_pod;
	in->turn_host = spec_turn_host(r->spec) ? spec_turn_host(r->spec)
						: r->spec->domain;
	if (rec_child(r, OK_POD, r->turn_pod, tpod)) {
		in->turn_node = tpod->node;
		in->turn_node_ip = tpod->host_ip;
		in->turn_pod_ready = tpod->cert_ready;
	}
}

/* status_written: the /status apply finished */
static void
status_written(struct rec *r, struct rec_call *call, struct kube_result *res)
{
	(void)call;
	if (res->err < 0 && res->err != -ENOENT) {
		/* the next reconcile rebuilds it; retry through the queue */
		log_warn("status of %s/%s not written: %s", r->ns, r->name,
			 res->message);
		if (res->retry_after > r->retry_after)
			r->retry_after = res->retry_after;
		rec_fail(r, "StatusFailed", "status: %s", res->message);
	}
	/* -ENOENT: deleted meanwhile */
}

/* status_body: the apply body of a new status (st is consumed) */
static cJSON *
status_body(struct rec *r, cJSON *st)
{
	cJSON *body = cJSON_CreateObject(), *md;

	cJSON_AddStringToObject(body, "apiVersion", SPEC_API_VERSION);
	cJSON_AddStringToObject(body, "kind", SPEC_KIND);
	md = cJSON_AddObjectToObject(body, "metadata");
	cJSON_AddStringToObject(md, "name", r->name);
	cJSON_AddStringToObject(md, "namespace", r->ns);
	cJSON_AddItemToObject(body, "status", st);
	return body;
}

/* cert_event: an event when CertificateReady (ACME mode) flips: the
 * certificate issued, or no longer served / not obtainable */
static void
cert_event(struct rec *r, const cJSON *st, const cJSON *old)
{
	const cJSON *c = status_condition(st, "CertificateReady");
	const cJSON *o = old ? status_condition(old, "CertificateReady") : NULL;
	const char *now = c ? util_get_str(c, "status") : "";

	if (c == NULL ||
	    (o != NULL && strcmp(util_get_str(o, "status"), now) == 0 &&
	     strcmp(util_get_str(o, "reason"), util_get_str(c, "reason")) == 0))
		return;
	if (strcmp(now, "True") == 0)
		rec_event(r, "Normal", "CertificateIssued", "Certificate", "%s",
			  util_get_str(c, "message"));
	else
		rec_event(r, "Warning", util_get_str(c, "reason"),
			  "Certificate", "%s", util_get_str(c, "message"));
}

/* dns_status: hand the records to the DNS check; an event when the
 * check's verdict changed */
static void
dns_status(struct rec *r, const struct status_in *in, const cJSON *st)
{
	const cJSON *old = status_condition(in->old_status, "DNSReady");
	const cJSON *now = status_condition(st, "DNSReady");
	const char *keys[] = { "status", "reason", "message" };
	size_t i;
	int same = old != NULL;

	if (r->env->ops->dns_want != NULL && in->domain != NULL)
		r->env->ops->dns_want(
			r->env->arg, r->key, in->domain,
			cJSON_GetObjectItemCaseSensitive(st, "dnsRecords"));
	if (in->dns == NULL || now == NULL)
		return;
	for (i = 0; same && i < sizeof(keys) / sizeof(keys[0]); i++)
		same = util_get_str(old, keys[i]) != NULL &&
		       strcmp(util_get_str(old, keys[i]),
			      util_get_str(now, keys[i])) == 0;
	if (!same)
		rec_event(r, in->dns->ready ? "Normal" : "Warning",
			  in->dns->reason, "CheckDNS", "%s",
			  buf_cstr(&in->dns->message));
}

/* phase_status: write the rebuilt status when it differs */
static void
phase_status(struct rec *r)
{
	struct status_in in;
	struct child sts, svc, dkim, cert, tpod;
	struct buf p = BUF_INIT(1024);
	char id[16], now[40];
	cJSON *st, *body, *cmp, *kept = kept_on_delete(r);

	memset(&cert, 0, sizeof(cert));
	memset(&dkim, 0, sizeof(dkim));
	memset(&tpod, 0, sizeof(tpod));
	status_inputs(r, &in, &sts, &svc, &dkim, &cert, id, sizeof(id), now,
		      sizeof(now));
	turn_inputs(r, &in, &tpod);
	in.kept = kept;
	st = status_build(&in);
	cert_event(r, st, in.old_status);
	dns_status(r, &in, st);
	cmp = cJSON_Duplicate(st, 1);
	status_compact(cmp); /* the cache keeps dnsRecords as a hash */
	r->next = phase_finish;
	if (status_equal(cmp, in.old_status)) {
		cJSON_Delete(st);
	} else {
		body = status_body(r, st);
		if (kube_path(&p, &KUBE_RELAY, r->ns, r->name, "status") < 0 ||
		    kube_query(&p, "fieldManager", KUBE_FIELD_MANAGER) < 0 ||
		    kube_query(&p, "force", "true") < 0)
			abort();
		r->writes++;
		rec_call_start(r, KV_APPLY, buf_cstr(&p), body, status_written,
			       rec_call_new(r, OK_COUNT, r->name));
		cJSON_Delete(body);
	}
	cJSON_Delete(cmp);
	cJSON_Delete(kept);
	rec_child_clear(&sts);
	rec_child_clear(&svc);
	rec_child_clear(&dkim);
	rec_child_clear(&cert);
	rec_child_clear(&tpod);
	buf_deinit(&p);
	if (r->pending == 0)
		phase_finish(r);
}

/* parse_spec: the relay's spec; an invalid one is reported once */
static int
parse_spec(struct rec *r)
{
	struct buf err = BUF_INIT(4096), warn = BUF_INIT(4096);
	int rc = spec_from_cr(r->relay, 0, &r->spec, &err, &warn);

	if (warn.len > 0)
		log_warn("relay %s/%s: %s", r->ns, r->name, buf_cstr(&warn));
	if (rc < 0) {
		rec_fail(r, "InvalidSpec", "%s", buf_cstr(&err));
		rec_event(r, "Warning", "InvalidSpec", "Validate", "%s",
			  buf_cstr(&err));
	}
	buf_deinit(&err);
	buf_deinit(&warn);
	return rc;
}

/* dns_records: status.dnsRecords as they are now, for external-dns
 * (NULL when the spec does not ask for it) */
static cJSON *
dns_records(struct rec *r)
{
	struct status_in in;
	struct child svc, dkim;
	char id[16];
	cJSON *recs;

	if (!r->spec->dns.external_dns)
		return NULL;
	memset(&in, 0, sizeof(in));
	memset(&svc, 0, sizeof(svc));
	memset(&dkim, 0, sizeof(dkim));
	dns_inputs(r, &in, &svc, &dkim, id, sizeof(id));
	recs = status_dns_records(&in);
	rec_child_clear(&svc);
	rec_child_clear(&dkim);
	return recs;
}

/* phase_converge: Secrets, applies and deletions, all started at once */
static void
phase_converge(struct rec *r)
{
	struct desired_in in;
	struct buf err = BUF_INIT(4096);
	struct child sts;
	cJSON *list = NULL, *recs = NULL;

	memset(&in, 0, sizeof(in));
	in.spec = r->spec;
	in.name = r->name;
	in.ns = r->ns;
	in.uid = r->uid;
	in.images = r->env->images;
	in.files = &r->files;
	in.tls_secret = r->tls_secret;
	in.dkim_secret = r->dkim_secret;
	in.monitoring = r->env->ops->served(r->env->arg, OK_PODMONITOR);
	r->next = phase_status;
	rec_secrets(r, &in);
	if (desired_render(r->spec, &r->files, &err) < 0) {
		rec_fail(r, "RenderFailed", "%s", buf_cstr(&err));
		goto out;
	}
	if (rec_child(r, OK_STATEFULSET, r->name, &sts)) {
		/* volumeClaimTemplates cannot change: keep the original */
		in.vct_mail = sts.vct_mail;
		in.vct_queue = sts.vct_queue;
	}
	in.dns_records = recs = dns_records(r);
	if (desired_build(&in, &list, &err) < 0) {
		rec_fail(r, "InvalidSpec", "%s", buf_cstr(&err));
	} else {
		rec_apply_all(r, list, &in);
		rec_prune(r, list);
	}
	rec_child_clear(&sts);
out:
	/* the requests hold their own copies of the bodies */
	cJSON_Delete(list);
	cJSON_Delete(recs);
	render_set_free(&r->files);
	buf_deinit(&err);
	if (r->pending == 0)
		phase_status(r);
}

/* report: one event per kind of change this reconcile made */
static void
report(struct rec *r)
{
	if (r->created.len > 0)
		rec_event(r, "Normal", "Created", "Apply", "created %s",
			  buf_cstr(&r->created));
	if (r->updated.len > 0)
		rec_event(r, "Normal", "Updated", "Apply", "updated %s",
			  buf_cstr(&r->updated));
	if (r->deleted.len > 0)
		rec_event(r, "Normal", "Deleted", "Delete",
			  "deleted %s (no longer wanted)",
			  buf_cstr(&r->deleted));
}

/* rec_free: unlink from the env and free */
static void
rec_free(struct rec *r)
{
	struct rec_call *c, *next;

	LLIST_REMOVE(&r->env->live, r, live_link);
	LLIST_FOREACH_SAFE(c, &r->calls, link, next)
		free(c);
	buf_deinit(&r->created);
	buf_deinit(&r->updated);
	buf_deinit(&r->deleted);
	render_set_free(&r->files);
	spec_free(&r->spec);
	cJSON_Delete(r->relay);
	free(r->key);
	free(r);
}

/* phase_finish: events, the outcome to the env */
static void
phase_finish(struct rec *r)
{
	int rc = 0;

	if (r->relay != NULL && r->ns != NULL) {
		report(r);
		if (r->err_reason[0] != '\0' &&
		    strcmp(r->err_reason, "InvalidSpec") != 0) {
			rec_event(r, "Warning", r->err_reason, "Reconcile",
				  "%s", r->err_msg);
			rc = -EAGAIN;
		}
		log_debug("reconciled %s: %u writes%s%s", r->key, r->writes,
			  r->err_reason[0] ? ", failed: " : "", r->err_msg);
	}
	r->env->ops->finished(r->env->arg, r->key, rc, r->retry_after,
			      r->env->ops->now_ms(r->env->arg) - r->t0);
	rec_free(r);
}

/* call_done: a call of the current phase finished */
static void
call_done(void *arg, struct kube_result *res)
{
	struct rec_call *call = arg;
	struct rec *r = call->r;

	call->handle = NULL; /* finished: the handle is gone */
	call->fn(r, call, res);
	if (--r->pending == 0)
		r->next(r);
}

void
rec_call_start(struct rec *r, enum kube_verb v, const char *path,
	       const cJSON *body, rec_call_fn *fn, struct rec_call *call)
{
	call->fn = fn;
	r->pending++;
	call->handle =
		r->env->ops->call(r->env->arg, v, path, body, call_done, call);
}

struct rec_call *
rec_call_new(struct rec *r, enum op_kind k, const char *name)
{
	struct rec_call *call = xcalloc(1, sizeof(*call));

	call->r = r;
	call->k = k;
	(void)snprintf(call->name, sizeof(call->name), "%s", name);
	LLIST_PREPEND(&r->calls, call, link);
	return call;
}

/* rec_new: a reconcile of key, linked into the env's list */
static struct rec *
rec_new(struct rec_env *env, const char *key)
{
	struct rec *r = xcalloc(1, sizeof(*r));

	r->env = env;
	r->key = xstrdup(key);
	r->t0 = env->ops->now_ms(env->arg);
	buf_init(&r->created, 4096);
	buf_init(&r->updated, 4096);
	buf_init(&r->deleted, 4096);
	LLIST_PREPEND(&env->live, r, live_link);
	return r;
}

void
rec_event(struct rec *r, const char *type, const char *reason,
	  const char *action, const char *fmt, ...)
{
	char note[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	r->env->ops->event(r->env->arg, r->relay, type, reason, action, note);
}

/* kept_volume: the claim which of a deleted relay, when it survives
 * the relay (cached without an owner reference to it), is named in an
 * event */
static void
kept_volume(struct rec *r, const struct spec_volume *v, const char *which)
{
	struct child c;
	char pvc[128];

	desired_pvc_name(r->name, which, pvc, sizeof(pvc));
	if (!rec_child(r, OK_PVC, pvc, &c))
		return;
	if (!c.owner_is_relay && v->keep_on_delete)
		rec_event(r, "Normal", "VolumeKept", "Delete",
			  "kept PersistentVolumeClaim %s "
			  "(storage.%s.keepOnDelete)",
			  pvc, which);
	else if (!c.owner_is_relay)
		rec_event(r, "Normal", "VolumeKept", "Delete",
			  "kept PersistentVolumeClaim %s (it had no owner "
			  "reference to the relay yet)",
			  pvc);
	rec_child_clear(&c);
}

/* reconcile_gone: a relay was deleted: tell what outlives it, as the
 * caches show it (the garbage collector deletes only what the relay
 * owns; what keepOnDelete said when the child was made may differ
 * from the last spec: the DKIM key is never replaced) */
static void
reconcile_gone(struct rec *r)
{
	struct buf err = BUF_INIT(1024);
	struct child c;

	if (r->name == NULL || r->ns == NULL ||
	    spec_from_cr(r->relay, 0, &r->spec, &err, NULL) < 0) {
		buf_deinit(&err);
		return;
	}
	kept_volume(r, &r->spec->storage.mail, "mail");
	kept_volume(r, &r->spec->storage.queue, "queue");
	desired_dkim_secret_name(r->spec, r->name, r->dkim_secret,
				 sizeof(r->dkim_secret));
	if (r->spec->dkim.secret_name[0] == '\0' &&
	    rec_child(r, OK_SECRET, r->dkim_secret, &c)) {
		if (!c.owner_is_relay)
			rec_event(r, "Normal", "SecretKept", "Delete",
				  "kept the DKIM key Secret %s",
				  r->dkim_secret);
		rec_child_clear(&c);
	}
	log_info("relay %s deleted; its children are garbage-collected",
		 r->key);
	buf_deinit(&err);
}

/* start_gone: the relay is not cached: report a deletion, once */
static void
start_gone(struct rec *r)
{
	struct rec_env *env = r->env;
	char *last = hmap_del(&env->gone, r->key);

	env->ops->key_forget(env->arg, r->key);
	r->relay = last ? cJSON_Parse(last) : NULL;
	free(last);
	if (r->relay != NULL) {
		r->ns = util_get_str(r->relay, "metadata.namespace");
		r->name = util_get_str(r->relay, "metadata.name");
		reconcile_gone(r);
	}
	phase_finish(r); /* not found is done */
}

void
reconcile_start(struct rec_env *env, const char *key)
{
	const struct relay_entry *cached = env->ops->relay(env->arg, key);
	struct rec *r = rec_new(env, key);

	if (cached == NULL) {
		start_gone(r);
		return;
	}
	r->relay = relay_parse(cached);
	r->ns = util_get_str(r->relay, "metadata.namespace");
	r->name = util_get_str(r->relay, "metadata.name");
	r->uid = util_get_str(r->relay, "metadata.uid");
	if (r->ns == NULL || r->name == NULL || r->uid == NULL ||
	    util_get(r->relay, "metadata.deletionTimestamp") != NULL) {
		/* being deleted: the garbage collector has the children */
		env->ops->key_forget(env->arg, key);
		r->ns = NULL;
		phase_finish(r);
		return;
	}
	if (parse_spec(r) < 0) {
		phase_status(r);
		return;
	}
	desired_tls_secret_name(r->spec, r->name, r->tls_secret,
				sizeof(r->tls_secret));
	desired_dkim_secret_name(r->spec, r->name, r->dkim_secret,
				 sizeof(r->dkim_secret));
	if (r->spec->paused)
		phase_status(r);
	else
		phase_converge(r);
}

void
reconcile_abort(struct rec *r)
{
	struct rec_call *c;

	LLIST_FOREACH(c, &r->calls, link) {
		if (c->handle != NULL)
			r->env->ops->cancel(r->env->arg, c->handle);
		c->handle = NULL;
	}
	rec_free(r);
}

void
rec_env_init(struct rec_env *env, const struct rec_ops *ops, void *arg,
	     const struct images *images)
{
	memset(env, 0, sizeof(*env));
	env->ops = ops;
	env->arg = arg;
	env->images = images;
	hmap_init(&env->memo);
	hmap_init(&env->gone);
}

/* free_values: free every value of m, then m */
static void
free_values(struct hmap *m)
{
	struct hmap_entry *e;
	size_t i;

	for (e = hmap_first(m, &i); e != NULL; e = hmap_next(m, &i, e))
		free(e->value);
	hmap_deinit(m);
}

void
rec_env_deinit(struct rec_env *env)
{
	free_values(&env->memo);
	free_values(&env->gone);
}

void
rec_env_relay_deleted(struct rec_env *env, const char *key, const char *json)
{
	free(hmap_put(&env->gone, key, xstrdup(json)));
}

void
rec_env_child_deleted(struct rec_env *env, enum op_kind k, const char *key)
{
	char mk[600];

	(void)snprintf(mk, sizeof(mk), "%s/%s", child_kind(k)->kind, key);
	free(hmap_del(&env->memo, mk));
}
