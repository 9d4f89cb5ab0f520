/*
 * test_desired: the objects the operator applies (the server-side apply
 * bodies): names, kinds and order; owner references only with a uid;
 * labels, never app.kubernetes.io/instance; the Pod's containers and
 * volumes; the config hash follows the rendered files; immutable claim
 * templates kept; PVC owner references follow keepOnDelete; the
 * desired hash equals the hash of the same content projected from a
 * live object; default images come from images/images.env.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "desired.h"
#include "operator.h"

#include "desired_fixture.h"

/* check_meta: a child's namespace, labels and owner reference */
static void
check_meta(const cJSON *o)
{
	const cJSON *c;

	assert_str(util_get_str(o, "metadata.namespace"), "mail");
	assert_str(util_meta_str(o, "labels", DESIRED_LABEL_RELAY), "chat");
	assert_str(util_meta_str(o, "labels", DESIRED_LABEL_MANAGED),
		   "chatmail-operator");
	assert_null(util_meta_str(o, "labels", "app.kubernetes.io/instance"));
	c = cJSON_GetArrayItem(util_get(o, "metadata.ownerReferences"), 0);
	assert_str(util_get_str(c, "uid"), "0000-uid");
	assert_true(cJSON_IsTrue(util_get(c, "controller")));
}

static void
test_objects(void **state)
{
	struct fixture f;
	struct buf err = BUF_INIT(1024), names = BUF_INIT(4096);
	cJSON *list;
	const cJSON *o, *sts, *c;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 0);
	assert_int(desired_build(&f.in, &list, &err), 0);
	cJSON_ArrayForEach(o, list)
	{
		(void)buf_printf(&names, "%s/%s ", util_get_str(o, "kind"),
				 util_get_str(o, "metadata.name"));
		check_meta(o);
	}
	assert_str(buf_cstr(&names),
		   "ConfigMap/chat-config ConfigMap/chat-postfix "
		   "ConfigMap/chat-dovecot ConfigMap/chat-nginx "
		   "ConfigMap/chat-www Service/chat Service/chat-headless "
		   "NetworkPolicy/chat StatefulSet/chat CronJob/chat-expire "
		   "CronJob/chat-metrics ");
	sts = fixture_find(list, "StatefulSet", "chat");
	assert_non_null(sts);
	assert_int(cJSON_GetArraySize(
			   util_get(sts, "spec.template.spec.containers")),
		   13);
	c = cJSON_GetArrayItem(util_get(sts, "spec.template.spec.containers"),
			       0);
	assert_str(util_get_str(c, "name"), "postfix");
	assert_str(util_get_str(c, "image"), f.images.v[IMG_POSTFIX]);
	assert_int(strncmp(f.images.v[IMG_POSTFIX],
			   "localhost/chatmail-postfix:", 27),
		   0);
	assert_str(util_get_str(sts,
				"spec.persistentVolumeClaimRetentionPolicy."
				"whenDeleted"),
		   "Retain");
	assert_str(util_meta_str(sts, "annotations", DESIRED_VCT_MAIL),
		   "10Gi;");
	assert_str(util_get_str(fixture_find(list, "Service", "chat"),
				"spec.type"),
		   "LoadBalancer");
	assert_str(util_get_str(fixture_find(list, "Service", "chat-headless"),
				"spec.clusterIP"),
		   "None");
	/* ACME (the default here): the CA's HTTP-01 request reaches the
	 * Pod before it is Ready */
	assert_true(cJSON_IsTrue(util_get(fixture_find(list, "Service", "chat"),
					  "spec.publishNotReadyAddresses")));
	/* render: no owner references */
	cJSON_Delete(list);
	f.in.uid = NULL;
	assert_int(desired_build(&f.in, &list, &err), 0);
	assert_null(util_get(cJSON_GetArrayItem(list, 0),
			     "metadata.ownerReferences"));
	cJSON_Delete(list);
	fixture_teardown(&f);
	buf_deinit(&err);
	buf_deinit(&names);
}

/* dns.externalDNS: the DNSEndpoint holds status.dnsRecords as
 * external-dns takes them, one endpoint per name and type; none
 * without the field or without records */
static void
test_dnsendpoint(void **state)
{
	struct fixture f;
	struct buf err = BUF_INIT(1024), eps = BUF_INIT(4096);
	cJSON *list,
		*recs = cJSON_Parse(
			"[{\"name\":\"chat.example.org.\",\"type\":\"A\","
			"\"value\":\"192.0.2.1\"},"
			"{\"name\":\"chat.example.org.\",\"type\":\"MX\","
			"\"value\":\"10 chat.example.org.\"},"
			"{\"name\":\"s._domainkey.chat.example.org.\","
			"\"type\":\"TXT\",\"value\":\"\\\"v=DKIM1;p=AB\\\" "
			"\\\"CD\\\"\"},"
			"{\"name\":\"chat.example.org.\",\"type\":\"TXT\","
			"\"value\":\"\\\"v=spf1 a ~all\\\"\"},"
			"{\"name\":\"chat.example.org.\",\"type\":\"A\","
			"\"value\":\"192.0.2.2\"}]");
	const cJSON *o, *e, *t;

	(void)state;
	assert_non_null(recs);
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\","
		      "\"dns\":{\"externalDNS\":{\"enabled\":true}}}",
		      0);
	assert_int(desired_build(&f.in, &list, &err), 0);
	assert_null(fixture_find(list, "DNSEndpoint", "chat")); /* no records */
	cJSON_Delete(list);
	f.in.dns_records = recs;
	assert_int(desired_build(&f.in, &list, &err), 0);
	o = fixture_find(list, "DNSEndpoint", "chat");
	assert_non_null(o);
	check_meta(o);
	assert_str(util_get_str(o, "apiVersion"),
		   "externaldns.k8s.io/v1alpha1");
	cJSON_ArrayForEach(e, util_get(o, "spec.endpoints"))
	{
		(void)buf_printf(&eps, "%s %s %d", util_get_str(e, "dnsName"),
				 util_get_str(e, "recordType"),
				 (int)util_get_num(e, "recordTTL", 0));
		cJSON_ArrayForEach(t, util_get(e, "targets"))(void)
			buf_printf(&eps, " [%s]", t->valuestring);
		(void)buf_puts(&eps, "\n");
	}
	assert_str(buf_cstr(&eps),
		   "chat.example.org A 3600 [192.0.2.1] [192.0.2.2]\n"
		   "chat.example.org MX 3600 [10 chat.example.org]\n"
		   "s._domainkey.chat.example.org TXT 3600 [v=DKIM1;p=ABCD]\n"
		   "chat.example.org TXT 3600 [v=spf1 a ~all]\n");
	cJSON_Delete(list);
	fixture_teardown(&f);
	/* the field off: no DNSEndpoint even with records */
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 0);
	f.in.dns_records = recs;
	assert_int(desired_build(&f.in, &list, &err), 0);
	assert_null(fixture_find(list, "DNSEndpoint", "chat"));
	cJSON_Delete(list);
	fixture_teardown(&f);
	cJSON_Delete(recs);
	buf_deinit(&err);
	buf_deinit(&eps);
}

/* hash_of: the StatefulSet's config hash for a spec */
static void
hash_of(const char *spec, const char *vct, char *out, char *vct_out)
{
	struct fixture f;
	struct buf err = BUF_INIT(1024);
	cJSON *list;
	const cJSON *sts, *h;

	fixture_setup(&f, spec, 0);
	f.in.vct_mail = vct;
	assert_int(desired_build(&f.in, &list, &err), 0);
	sts = fixture_find(list, "StatefulSet", "chat");
	h = cJSON_GetObjectItemCaseSensitive(
		util_get(sts, "spec.template.metadata.annotations"),
		DESIRED_CONFIG_HASH);
	(void)snprintf(out, 65, "%s", h ? h->valuestring : "");
	(void)snprintf(
		vct_out, 64, "%s",
		util_get_str(
			cJSON_GetArrayItem(
				util_get(sts, "spec.volumeClaimTemplates"), 0),
			"spec.resources.requests.storage"));
	cJSON_Delete(list);
	fixture_teardown(&f);
	buf_deinit(&err);
}

/* test_certificate: CertManager mode's Certificate: the Secret, the
 * three names, upstream's key type, the issuer, and the relay's
 * selector labels (not managed-by) on the Secret cert-manager writes */
static void
test_certificate(void **state)
{
	struct fixture f;
	const cJSON *c, *l;
	char *names;

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":"
		      "\"CertManager\",\"issuerRef\":{\"name\":\"ca\"}}}",
		      1);
	c = fixture_find(f.list, "Certificate", "chat");
	assert_non_null(c);
	check_meta(c);
	assert_str(util_get_str(c, "apiVersion"), "cert-manager.io/v1");
	assert_str(util_get_str(c, "spec.secretName"), "chat-tls");
	names = cJSON_PrintUnformatted(util_get(c, "spec.dnsNames"));
	assert_str(names, "[\"chat.example.org\",\"www.chat.example.org\","
			  "\"mta-sts.chat.example.org\"]");
	free(names);
	assert_str(util_get_str(c, "spec.privateKey.algorithm"), "ECDSA");
	assert_int(util_get(c, "spec.privateKey.size")->valueint, 256);
	assert_str(util_get_str(c, "spec.issuerRef.name"), "ca");
	assert_str(util_get_str(c, "spec.issuerRef.kind"), "Issuer");
	assert_str(util_get_str(c, "spec.issuerRef.group"), "cert-manager.io");
	l = util_get(c, "spec.secretTemplate.labels");
	assert_str(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			   l, DESIRED_LABEL_RELAY)),
		   "chat");
	assert_null(cJSON_GetObjectItemCaseSensitive(l, DESIRED_LABEL_MANAGED));
	fixture_teardown(&f);
}

static void
test_config_hash_and_vct(void **state)
{
	char a[65], b[65], c[65], v1[64], v2[64];

	(void)state;
	hash_of("{\"domain\":\"chat.example.org\"}", NULL, a, v1);
	hash_of("{\"domain\":\"chat.example.org\"}", NULL, b, v1);
	hash_of("{\"domain\":\"chat.example.org\",\"limits\":"
		"{\"maxUserSendPerMinute\":30}}",
		NULL, c, v1);
	assert_int(strlen(a), 64);
	assert_str(a, b);
	assert_true(strcmp(a, c) != 0);
	/* a new size does not change an existing StatefulSet's templates */
	hash_of("{\"domain\":\"chat.example.org\",\"storage\":{\"mail\":"
		"{\"size\":\"20Gi\"}}}",
		NULL, a, v1);
	hash_of("{\"domain\":\"chat.example.org\",\"storage\":{\"mail\":"
		"{\"size\":\"20Gi\"}}}",
		"10Gi;", a, v2);
	assert_str(v1, "20Gi");
	assert_str(v2, "10Gi");
}

static void
test_pvc_and_secret(void **state)
{
	struct fixture f;
	struct buf err = BUF_INIT(1024);
	cJSON *pvc, *sec, *list;
	char name[64];

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":"
		      "\"SelfSigned\"},\"storage\":{\"queue\":"
		      "{\"keepOnDelete\":false}}}",
		      0);
	/* not ACME: the Service keeps Kubernetes' Ready-only endpoints */
	assert_int(desired_build(&f.in, &list, &err), 0);
	assert_null(util_get(fixture_find(list, "Service", "chat"),
			     "spec.publishNotReadyAddresses"));
	cJSON_Delete(list);
	buf_deinit(&err);
	desired_pvc_name("chat", "mail", name, sizeof(name));
	assert_str(name, "mail-chat-0");
	pvc = desired_pvc(&f.in, "mail");
	assert_null(util_get(pvc, "metadata.ownerReferences"));
	assert_str(util_get_str(pvc, "spec.resources.requests.storage"),
		   "10Gi");
	cJSON_Delete(pvc);
	pvc = desired_pvc(&f.in, "queue");
	assert_non_null(util_get(pvc, "metadata.ownerReferences"));
	cJSON_Delete(pvc);
	sec = desired_secret(&f.in, "chat-dkim", "Opaque", "dkim",
			     "opendkim.private", "PEM", 3, NULL, NULL, 0);
	assert_str(util_get_str(sec, "type"), "Opaque");
	assert_str(
		cJSON_GetObjectItem(util_get(sec, "data"), "opendkim.private")
			->valuestring,
		"UEVN");
	cJSON_Delete(sec);
	assert_str(f.tls, "chat-tls-selfsigned");
	assert_str(f.dkim, "chat-dkim");
	fixture_teardown(&f);
}

static void
test_desired_hash_matches_projection(void **state)
{
	struct fixture f;
	struct buf err = BUF_INIT(1024);
	cJSON *list, *live, *mf, *entry;
	const cJSON *svc;
	char want[UTIL_SHA256_HEX], got[UTIL_SHA256_HEX];

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 0);
	assert_int(desired_build(&f.in, &list, &err), 0);
	svc = fixture_find(list, "Service", "chat-headless");
	child_desired_hash(svc, want);
	/* the server's copy: ours plus defaults, with our field set */
	live = cJSON_Duplicate(svc, 1);
	cJSON_AddStringToObject(util_obj(live, "spec"), "sessionAffinity",
				"None");
	cJSON_AddStringToObject(util_obj(live, "metadata"), "uid", "u");
	mf = cJSON_AddArrayToObject(util_obj(live, "metadata"),
				    "managedFields");
	entry = cJSON_Parse(
		"{\"manager\":\"chatmail-operator\",\"operation\":\"Apply\","
		"\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{"
		"\"f:app.kubernetes.io/component\":{},"
		"\"f:app.kubernetes.io/managed-by\":{},"
		"\"f:app.kubernetes.io/name\":{},\"f:app.kubernetes.io/"
		"part-of\":{},"
		"\"f:chatmail.at/relay\":{}},\"f:ownerReferences\":{"
		"\"k:{\\\"uid\\\":\\\"0000-uid\\\"}\":{}}},\"f:spec\":{"
		"\"f:clusterIP\":{},\"f:ports\":{}, \"f:selector\":{},"
		"\"f:publishNotReadyAddresses\":{}}}}");
	assert_non_null(entry);
	cJSON_AddItemToArray(mf, entry);
	child_projection_hash(live, got);
	assert_str(got, want);
	/* a hand edit of an owned field leaves our set: differs */
	cJSON_ReplaceItemInObject(util_obj(live, "spec"), "clusterIP",
				  cJSON_CreateString("10.0.0.9"));
	child_projection_hash(live, got);
	assert_true(strcmp(got, want) != 0);
	cJSON_Delete(live);
	cJSON_Delete(list);
	fixture_teardown(&f);
	buf_deinit(&err);
}

/* port_named: the port called name in a Service's or container's
 * ports, or NULL */
static const cJSON *
port_named(const cJSON *ports, const char *name)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, ports)
	{
		if (strcmp(util_get_str(p, "name"), name) == 0)
			return p;
	}
	return NULL;
}

/* test_metrics: the private port on the headless Service only; by
 * default the NetworkPolicy does not open it and there is no
 * PodMonitor */
static void
test_metrics(void **state)
{
	struct fixture f;
	const cJSON *np, *p;

	(void)state;
	fixture_setup(&f, "{\"domain\":\"chat.example.org\"}", 1);
	assert_null(port_named(
		util_get(fixture_find(f.list, "Service", "chat"), "spec.ports"),
		"metrics"));
	p = port_named(
		util_get(fixture_find(f.list, "Service", "chat-headless"),
			 "spec.ports"),
		"metrics");
	assert_non_null(p);
	assert_int((int)util_get_num(p, "targetPort", 0), 9464);
	np = fixture_find(f.list, "NetworkPolicy", "chat");
	/* no namespaces: one rule, the public ports, not 9464 */
	assert_int(cJSON_GetArraySize(util_get(np, "spec.ingress")), 1);
	cJSON_ArrayForEach(
		p, util_get(cJSON_GetArrayItem(util_get(np, "spec.ingress"), 0),
			    "ports"))
	{
		assert_true((int)util_get_num(p, "port", 0) != 9464);
	}
	assert_null(fixture_find(f.list, "PodMonitor", "chat"));
	fixture_teardown(&f);
}

/* test_pod_monitor: the PodMonitor when asked and the cluster serves
 * it; the NetworkPolicy's rule for the spec's namespaces */
static void
test_pod_monitor(void **state)
{
	struct fixture f;
	struct buf err = BUF_INIT(1024);
	const cJSON *np, *rule, *p;
	cJSON *list;

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"metrics\":{"
		      "\"allowedNamespaces\":[\"monitoring\",\"ops\"],"
		      "\"serviceMonitor\":{\"enabled\":true}}}",
		      0);
	/* the cluster lacks the CRD: no PodMonitor */
	assert_int(desired_build(&f.in, &list, &err), 0);
	assert_null(fixture_find(list, "PodMonitor", "chat"));
	cJSON_Delete(list);
	f.in.monitoring = 1;
	assert_int(desired_build(&f.in, &list, &err), 0);
	p = fixture_find(list, "PodMonitor", "chat");
	assert_non_null(p);
	assert_str(util_get_str(p, "apiVersion"), "monitoring.coreos.com/v1");
	assert_str(util_get_str(
			   cJSON_GetArrayItem(
				   util_get(p, "spec.podMetricsEndpoints"), 0),
			   "port"),
		   "metrics");
	assert_str(cJSON_GetObjectItemCaseSensitive(
			   util_get(p, "spec.selector.matchLabels"),
			   "chatmail.at/relay")
			   ->valuestring,
		   "chat");
	np = fixture_find(list, "NetworkPolicy", "chat");
	rule = cJSON_GetArrayItem(util_get(np, "spec.ingress"), 1);
	assert_non_null(rule);
	assert_int((int)util_get_num(
			   cJSON_GetArrayItem(util_get(rule, "ports"), 0),
			   "port", 0),
		   9464);
	p = cJSON_GetArrayItem(
		util_get(cJSON_GetArrayItem(util_get(rule, "from"), 0),
			 "namespaceSelector.matchExpressions"),
		0);
	assert_str(util_get_str(p, "key"), "kubernetes.io/metadata.name");
	assert_str(util_get_str(p, "operator"), "In");
	assert_str(cJSON_GetArrayItem(util_get(p, "values"), 1)->valuestring,
		   "ops");
	cJSON_Delete(list);
	fixture_teardown(&f);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_certificate),
		cmocka_unit_test(test_config_hash_and_vct),
		cmocka_unit_test(test_dnsendpoint),
		cmocka_unit_test(test_pvc_and_secret),
		cmocka_unit_test(test_desired_hash_matches_projection),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_pod_monitor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
