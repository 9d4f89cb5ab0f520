/*
 * child: the compact cache form of the objects the operator owns.
 *
 * Caching whole children (ConfigMaps carry every rendered file) would
 * cost megabytes per hundred relays; the controller needs only the
 * owning relay, identity, a few status fields per kind and the hash of
 * the fields our field manager applied (managedFields projection, see
 * util.c), which is what decides whether a child must be written.
 *
 * Untrusted input: objects from the API server. Strings kept are
 * length-capped; a DKIM key that does not parse yields no record.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "keys.h"
#include "kube_client.h"
#include "operator.h"
#include "status.h"
#include "xmalloc.h"

static const struct kube_kind *const kinds[OK_COUNT] = {
	[OK_STATEFULSET] = &KUBE_STATEFULSET,
	[OK_SERVICE] = &KUBE_SERVICE,
	[OK_CONFIGMAP] = &KUBE_CONFIGMAP,
	[OK_SECRET] = &KUBE_SECRET,
	[OK_CRONJOB] = &KUBE_CRONJOB,
	[OK_NETPOL] = &KUBE_NETPOL,
	[OK_PVC] = &KUBE_PVC,
	[OK_CERTIFICATE] = &KUBE_CERTIFICATE,
	[OK_DNSENDPOINT] = &KUBE_DNSENDPOINT,
	[OK_PODMONITOR] = &KUBE_PODMONITOR,
	[OK_POD] = &KUBE_POD,
};

const struct kube_kind *
child_kind(enum op_kind k)
{
	return (unsigned)k < OK_COUNT ? kinds[k] : NULL;
}

/* dup_capped: a copy of s (at most 512 bytes), or NULL */
static char *
dup_capped(const char *s)
{
	return s ? xstrndup(s, 512) : NULL;
}

void
child_projection_hash(const cJSON *live, char hex[UTIL_SHA256_HEX])
{
	cJSON *p = util_project_managed(live, KUBE_FIELD_MANAGER);

	if (p == NULL) {
		hex[0] = '\0'; /* we never applied it */
		return;
	}
	util_hash_json(p, hex);
	cJSON_Delete(p);
}

void
child_desired_hash(const cJSON *desired, char hex[UTIL_SHA256_HEX])
{
	cJSON *d = cJSON_Duplicate(desired, 1), *md;

	cJSON_DeleteItemFromObjectCaseSensitive(d, "apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(d, "kind");
	md = cJSON_GetObjectItemCaseSensitive(d, "metadata");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "name");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
	if (md != NULL && md->child == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(d, "metadata");
	util_hash_json(d, hex);
	cJSON_Delete(d);
}

/* owner_is_relay: an ownerReference names a ChatmailRelay */
static int
owner_is_relay(const cJSON *obj)
{
	const cJSON *r;
	const char *k;

	cJSON_ArrayForEach(r, util_get(obj, "metadata.ownerReferences"))
	{
		k = util_get_str(r, "kind");
		if (k != NULL && strcmp(k, SPEC_KIND) == 0)
			return 1;
	}
	return 0;
}

/* fill_sts: the StatefulSet fields status and reconcile need */
static void
fill_sts(struct child *c, const cJSON *o)
{
	c->generation =
		util_get_int(o, "metadata.generation", 0, INT64_MIN, INT64_MAX);
	c->observed_generation = util_get_int(o, "status.observedGeneration", 0,
					      INT64_MIN, INT64_MAX);
	c->replicas =
		(int)util_get_int(o, "spec.replicas", 1, INT_MIN, INT_MAX);
	c->ready_replicas = (int)util_get_int(o, "status.readyReplicas", 0,
					      INT_MIN, INT_MAX);
	c->updated_replicas = (int)util_get_int(o, "status.updatedReplicas", 0,
						INT_MIN, INT_MAX);
	c->current_revision =
		dup_capped(util_get_str(o, "status.currentRevision"));
	c->update_revision =
		dup_capped(util_get_str(o, "status.updateRevision"));
	c->vct_mail =
		dup_capped(util_meta_str(o, "annotations", DESIRED_VCT_MAIL));
	c->vct_queue =
		dup_capped(util_meta_str(o, "annotations", DESIRED_VCT_QUEUE));
}

/* fill_svc: the first load balancer ingress address */
static void
fill_svc(struct child *c, const cJSON *o)
{
	const cJSON *ing = cJSON_GetArrayItem(
		util_get(o, "status.loadBalancer.ingress"), 0);
	const char *a = util_get_str(ing, "ip");

	if (a == NULL)
		a = util_get_str(ing, "hostname");
	c->address = dup_capped(a);
}

/* fill_secret: the DKIM record of an opendkim.private key */
static void
fill_secret(struct child *c, const cJSON *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(util_get(o, "data"),
							  "opendkim.private");
	const char *b64 = cJSON_IsString(v) ? v->valuestring : NULL;
	struct buf pem = BUF_INIT(65536), txt = BUF_INIT(8192);

	if (b64 != NULL && util_b64_decode(b64, strlen(b64), &pem) == 0 &&
	    keys_dkim_txt(pem.data, pem.len, &txt) == 0)
		c->dkim_txt = xstrdup(buf_cstr(&txt));
	buf_wipe_deinit(&pem);
	buf_deinit(&txt);
}

/* fill_cert: the Certificate's Ready condition */
static void
fill_cert(struct child *c, const cJSON *o)
{
	const cJSON *cond;
	const char *t, *s;

	cJSON_ArrayForEach(cond, util_get(o, "status.conditions"))
	{
		t = util_get_str(cond, "type");
		s = util_get_str(cond, "status");
		if (t && s && strcmp(t, "Ready") == 0)
			c->cert_ready = strcmp(s, "True") == 0;
	}
}

/* fill_pod: a TURN Pod's node, the node's address and readiness */
static void
fill_pod(struct child *c, const cJSON *o)
{
	const char *ip = util_get_str(o, "status.hostIP");

	c->node = dup_capped(util_get_str(o, "spec.nodeName"));
	if (ip != NULL && *ip != '\0')
		c->host_ip = dup_capped(ip);
	fill_cert(c, o); /* the same Ready condition shape */
}

void *
child_transform(void *arg, cJSON **obj_r)
{
	const struct kid_arg *ka = arg;
	const cJSON *o = *obj_r;
	const char *s;
	struct child *c = xcalloc(1, sizeof(*c));

	c->relay = dup_capped(util_meta_str(o, "labels", DESIRED_LABEL_RELAY));
	s = util_get_str(o, "metadata.uid");
	(void)snprintf(c->uid, sizeof(c->uid), "%s", s ? s : "");
	s = util_get_str(o, "metadata.resourceVersion");
	(void)snprintf(c->rv, sizeof(c->rv), "%s", s ? s : "");
	c->deleting = util_get(o, "metadata.deletionTimestamp") != NULL;
	c->owner_is_relay = owner_is_relay(o);
	child_projection_hash(o, c->hash);
	switch (ka->kind) {
	case OK_STATEFULSET:
		fill_sts(c, o);
		break;
	case OK_SERVICE:
		fill_svc(c, o);
		break;
	case OK_SECRET:
		fill_secret(c, o);
		break;
	case OK_CERTIFICATE:
		fill_cert(c, o);
		break;
	case OK_POD:
		fill_pod(c, o);
		break;
	default:
		break;
	}
	return c;
}

void *
relay_transform(void *arg, cJSON **obj_r)
{
	struct relay_entry *e = xcalloc(1, sizeof(*e));
	cJSON *o = *obj_r,
	      *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	cJSON *meta = cJSON_CreateObject();
	const char *rv = util_get_str(o, "metadata.resourceVersion");
	static const char *const keys[] = { "generation", "labels",
					    "annotations", "deletionTimestamp",
					    NULL };
	size_t i;

	(void)arg;
	cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
	cJSON_DeleteItemFromObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(md, "annotations"),
		"kubectl.kubernetes.io/last-applied-configuration");
	status_compact(cJSON_GetObjectItemCaseSensitive(o, "status"));
	for (i = 0; keys[i] != NULL; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keys[i]);

		if (v != NULL)
			cJSON_AddItemToObject(meta, keys[i],
					      cJSON_Duplicate(v, 1));
	}
	util_hash_json(meta, e->meta);
	cJSON_Delete(meta);
	(void)snprintf(e->rv, sizeof(e->rv), "%s", rv ? rv : "");
	e->json = cJSON_PrintUnformatted(o);
	if (e->json == NULL)
		abort(); /* only out of memory */
	return e;
}

void
relay_free(void *v)
{
	struct relay_entry *e = v;

	if (e == NULL)
		return;
	cJSON_free(e->json);
	free(e);
}

cJSON *
relay_parse(const struct relay_entry *e)
{
	return cJSON_Parse(e->json);
}

void
child_free(void *v)
{
	struct child *c = v;

	if (c == NULL)
		return;
	free(c->relay);
	free(c->current_revision);
	free(c->update_revision);
	free(c->vct_mail);
	free(c->vct_queue);
	free(c->address);
	free(c->dkim_txt);
	free(c->node);
	free(c->host_ip);
	free(c);
}
