/*
 * test_status: the conditions logic (table of observed states), the
 * lastTransitionTime kept unless a status flips, the DNS records in
 * upstream's `cmdeploy dns` order and syntax, keptOnDelete, and the
 * TURNReady condition.
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

#include "status.h"
#include "util.h"

/* base: a relay whose StatefulSet is rolled out and ready */
static struct status_in
base(void)
{
	struct status_in in;

	memset(&in, 0, sizeof(in));
	in.generation = 3;
	in.now = "2026-01-02T03:04:05Z";
	in.sts_found = 1;
	in.sts_generation = in.sts_observed_generation = 2;
	in.replicas = in.ready_replicas = in.updated_replicas = 1;
	in.current_revision = in.update_revision = "chat-abc";
	in.cert_ready = -1;
	in.domain = "chat.example.org";
	in.address = "203.0.113.7";
	in.dkim_selector = "opendkim";
	in.dkim_txt = "v=DKIM1;k=rsa;p=AAAA;s=email;t=s";
	in.strict_tls = 1;
	in.sts_id = "202601020304";
	return in;
}

/* conds: "Ready=True/Reason Progressing=... Degraded=..." */
static void
conds(const cJSON *st, char *out, size_t outsize)
{
	const char *types[] = { "Ready", "Progressing", "Degraded" };
	size_t i, l = 0;

	out[0] = '\0';
	for (i = 0; i < 3; i++) {
		const cJSON *c = status_condition(st, types[i]);

		l += (size_t)snprintf(out + l, outsize - l, "%s%s=%s/%s",
				      i ? " " : "", types[i],
				      util_get_str(c, "status"),
				      util_get_str(c, "reason"));
	}
}

/* condition_cases: observed state in, conditions out */
static const struct {
	const char *what;
	int field, value;
	const char *want;
} condition_cases[] = {
	{ "ready", 0, 0,
	  "Ready=True/Ready Progressing=False/Stable "
	  "Degraded=False/AsExpected" },
	{ "no sts", 1, 0,
	  "Ready=False/Creating Progressing=True/Creating "
	  "Degraded=False/AsExpected" },
	{ "old generation observed", 2, 1,
	  "Ready=False/RollingOut Progressing=True/RollingOut "
	  "Degraded=False/AsExpected" },
	{ "pod not ready", 3, 0,
	  "Ready=False/PodNotReady Progressing=True/PodNotReady "
	  "Degraded=False/AsExpected" },
	{ "cert pending", 4, 0,
	  "Ready=False/CertificateNotReady "
	  "Progressing=True/CertificateNotReady "
	  "Degraded=False/AsExpected" },
	{ "cert pending, so the Pod cannot start", 8, 0,
	  "Ready=False/CertificateNotReady "
	  "Progressing=True/CertificateNotReady "
	  "Degraded=False/AsExpected" },
	{ "failed", 5, 0,
	  "Ready=False/ReconcileFailed Progressing=False/Stable "
	  "Degraded=True/ApplyFailed" },
	{ "paused", 6, 0,
	  "Ready=True/Ready Progressing=False/ReconciliationPaused "
	  "Degraded=False/AsExpected" },
	{ "DKIM key being generated", 7, 1,
	  "Ready=False/GeneratingDKIMKey "
	  "Progressing=True/GeneratingDKIMKey "
	  "Degraded=False/AsExpected" },
};

static void
test_conditions_table(void **state)
{
	char got[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(condition_cases) / sizeof(condition_cases[0]);
	     i++) {
		struct status_in in = base();
		cJSON *st;

		switch (condition_cases[i].field) {
		case 1:
			in.sts_found = 0;
			break;
		case 2:
			in.sts_observed_generation = 1;
			break;
		case 3:
			in.ready_replicas = 0;
			break;
		case 4:
			in.cert_ready = 0;
			break;
		case 5:
			in.err_reason = "ApplyFailed";
			in.err_message = "StatefulSet: forbidden";
			break;
		case 6:
			in.paused = 1;
			break;
		case 7:
			in.dkim_pending = 1;
			break;
		case 8:
			in.cert_ready = 0;
			in.ready_replicas = 0;
			break;
		}
		st = status_build(&in);
		conds(st, got, sizeof(got));
		if (strcmp(got, condition_cases[i].want) != 0)
			fail_msg("%s: got %s\nwant %s", condition_cases[i].what,
				 got, condition_cases[i].want);
		assert_int(util_get_num(st, "observedGeneration", 0), 3);
		cJSON_Delete(st);
	}
}

static void
test_transition_time(void **state)
{
	struct status_in in = base();
	cJSON *first, *second, *third;

	(void)state;
	first = status_build(&in);
	/* same observations later: identical status, old times kept */
	in.old_status = first;
	in.now = "2026-01-02T09:00:00Z";
	second = status_build(&in);
	assert_true(status_equal(first, second));
	/* the Pod stops being ready: Ready and Progressing flip, Degraded
	 * keeps its time */
	in.ready_replicas = 0;
	in.old_status = second;
	in.now = "2026-01-03T00:00:00Z";
	third = status_build(&in);
	assert_false(status_equal(second, third));
	assert_str(util_get_str(status_condition(third, "Ready"),
				"lastTransitionTime"),
		   "2026-01-03T00:00:00Z");
	assert_str(util_get_str(status_condition(third, "Degraded"),
				"lastTransitionTime"),
		   "2026-01-02T03:04:05Z");
	cJSON_Delete(first);
	cJSON_Delete(second);
	cJSON_Delete(third);
}

/* zone: the records as "name type value" lines */
static void
zone(const cJSON *recs, struct buf *out)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, recs)
	{
		(void)buf_printf(out, "%s %s %s%s\n", util_get_str(r, "name"),
				 util_get_str(r, "type"),
				 util_get_str(r, "value"),
				 cJSON_IsTrue(util_get(r, "required"))
					 ? ""
					 : " ;recommended");
	}
}

static void
test_dns_records(void **state)
{
	struct status_in in = base();
	struct buf z = BUF_INIT(16384);
	char longkey[600];
	cJSON *recs;

	(void)state;
	recs = status_dns_records(&in);
	zone(recs, &z);
	assert_str(buf_cstr(&z),
		   "chat.example.org. A 203.0.113.7\n"
		   "chat.example.org. MX 10 chat.example.org.\n"
		   "_mta-sts.chat.example.org. TXT \"v=STSv1; "
		   "id=202601020304\"\n"
		   "mta-sts.chat.example.org. CNAME chat.example.org.\n"
		   "www.chat.example.org. CNAME chat.example.org.\n"
		   "opendkim._domainkey.chat.example.org. TXT "
		   "\"v=DKIM1;k=rsa;p=AAAA;s=email;t=s\"\n"
		   "chat.example.org. TXT \"v=spf1 a ~all\" ;recommended\n"
		   "_dmarc.chat.example.org. TXT "
		   "\"v=DMARC1;p=reject;adkim=s;aspf=s\" ;recommended\n"
		   "_adsp._domainkey.chat.example.org. TXT "
		   "\"dkim=discardable\" ;recommended\n"
		   "_submission._tcp.chat.example.org. SRV 0 1 587 "
		   "chat.example.org. ;recommended\n"
		   "_submissions._tcp.chat.example.org. SRV 0 1 465 "
		   "chat.example.org. ;recommended\n"
		   "_imap._tcp.chat.example.org. SRV 0 1 143 "
		   "chat.example.org. ;recommended\n"
		   "_imaps._tcp.chat.example.org. SRV 0 1 993 "
		   "chat.example.org. ;recommended\n");
	cJSON_Delete(recs);
	/* self-signed: no MTA-STS; IPv6 address; a long key is split */
	in.strict_tls = 0;
	in.address = "2001:db8::7";
	memset(longkey, 'k', 300);
	longkey[300] = '\0';
	in.dkim_txt = longkey;
	recs = status_dns_records(&in);
	assert_int(cJSON_GetArraySize(recs), 11);
	assert_str(util_get_str(cJSON_GetArrayItem(recs, 0), "type"), "AAAA");
	assert_int(strlen(util_get_str(cJSON_GetArrayItem(recs, 3), "value")),
		   300 + 5);
	cJSON_Delete(recs);
	/* ACME mode: a CAA record naming the CA, recommended */
	in.caa_issuer = "letsencrypt.org";
	recs = status_dns_records(&in);
	assert_int(cJSON_GetArraySize(recs), 12);
	assert_str(util_get_str(cJSON_GetArrayItem(recs, 11), "value"),
		   "0 issue \"letsencrypt.org\"");
	assert_false(cJSON_IsTrue(
		util_get(cJSON_GetArrayItem(recs, 11), "required")));
	cJSON_Delete(recs);
	/* an IP relay publishes nothing */
	in.domain = "203.0.113.7";
	recs = status_dns_records(&in);
	assert_int(cJSON_GetArraySize(recs), 0);
	cJSON_Delete(recs);
	buf_deinit(&z);
}

/* DNSReady and dnsCheck from the last check; without one (the operator
 * just started), the previous status's; never part of Ready */
static void
test_dns_check(void **state)
{
	struct status_in in = base();
	struct dnscheck_result res;
	cJSON *st, *st2;
	const cJSON *c;

	(void)state;
	memset(&res, 0, sizeof(res));
	buf_init(&res.message, 256);
	(void)buf_puts(&res.message, "chat.example.org. MX missing");
	res.check = cJSON_Parse("{\"zone\":\"example.org\",\"records\":[]}");
	(void)snprintf(res.reason, sizeof(res.reason), "RecordsMissing");
	st = status_build(&in); /* no check, no old status: no condition */
	assert_null(status_condition(st, "DNSReady"));
	assert_null(util_get(st, "dnsCheck"));
	cJSON_Delete(st);
	in.dns = &res;
	st = status_build(&in);
	c = status_condition(st, "DNSReady");
	assert_str(util_get_str(c, "status"), "False");
	assert_str(util_get_str(c, "reason"), "RecordsMissing");
	assert_str(util_get_str(c, "message"), "chat.example.org. MX missing");
	assert_str(util_get_str(st, "dnsCheck.zone"), "example.org");
	assert_str(util_get_str(status_condition(st, "Ready"), "status"),
		   "True");
	in.dns = NULL;
	in.old_status = st;
	in.now = "2026-02-02T00:00:00Z";
	st2 = status_build(&in);
	c = status_condition(st2, "DNSReady");
	assert_str(util_get_str(c, "reason"), "RecordsMissing");
	assert_str(util_get_str(c, "lastTransitionTime"),
		   "2026-01-02T03:04:05Z");
	assert_str(util_get_str(st2, "dnsCheck.zone"), "example.org");
	cJSON_Delete(st2);
	cJSON_Delete(st);
	/* the zone not found: the check is {}, and no dnsCheck is written
	 * (an applied {} becomes null at the apiserver) */
	cJSON_Delete(res.check);
	res.check = cJSON_CreateObject();
	(void)snprintf(res.reason, sizeof(res.reason), "LookupFailed");
	in.dns = &res;
	in.old_status = NULL;
	st = status_build(&in);
	assert_str(util_get_str(status_condition(st, "DNSReady"), "reason"),
		   "LookupFailed");
	assert_null(util_get(st, "dnsCheck"));
	cJSON_Delete(st);
	dnscheck_result_clear(&res);
}

static void
test_compact(void **state)
{
	struct status_in in = base();
	cJSON *a = status_build(&in), *b;
	const char *h;

	(void)state;
	b = cJSON_Duplicate(a, 1);
	status_compact(b);
	h = util_get_str(b, "dnsRecords");
	assert_non_null(h);
	assert_int(strncmp(h, "sha256:", 7), 0);
	assert_int(strlen(h), 7 + 64);
	/* conditions stay; the same records give the same hash */
	assert_non_null(status_condition(b, "Ready"));
	status_compact(a);
	assert_true(status_equal(a, b));
	status_compact(b); /* idempotent */
	assert_true(status_equal(a, b));
	cJSON_Delete(a);
	cJSON_Delete(b);
}

/* test_kept: children without an owner reference are listed; none
 * listed leaves the field out */
static void
test_kept(void **state)
{
	struct status_in in = base();
	cJSON *kept = cJSON_CreateArray(), *o, *st;
	char *text;

	(void)state;
	st = status_build(&in);
	assert_null(cJSON_GetObjectItemCaseSensitive(st, "keptOnDelete"));
	cJSON_Delete(st);
	in.kept = kept;
	st = status_build(&in);
	assert_null(cJSON_GetObjectItemCaseSensitive(st, "keptOnDelete"));
	cJSON_Delete(st);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "PersistentVolumeClaim");
	cJSON_AddStringToObject(o, "name", "mail-chat-0");
	cJSON_AddItemToArray(kept, o);
	st = status_build(&in);
	text = cJSON_PrintUnformatted(
		cJSON_GetObjectItemCaseSensitive(st, "keptOnDelete"));
	assert_str(text, "[{\"kind\":\"PersistentVolumeClaim\",\"name\":\"mail-"
			 "chat-0\"}]");
	cJSON_free(text);
	cJSON_Delete(st);
	cJSON_Delete(kept);
}

/* test_turn_condition: TURNReady says whether calls behind NAT work */
static void
test_turn_condition(void **state)
{
	static const struct {
		int turn_state;
		const char *addr, *status, *reason, *msg_part;
	} cases[] = {
		{ 1, "198.51.100.2", "True", "Running", "198.51.100.2" },
		{ 0, NULL, "False", "NoExternalAddress",
		  "spec.turn.externalIP" },
		{ -1, NULL, "False", "Disabled", "enabled is false" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct status_in in = base();
		cJSON *st;
		const cJSON *c;

		in.turn_state = cases[i].turn_state;
		in.turn_address = cases[i].addr;
		st = status_build(&in);
		c = status_condition(st, "TURNReady");
		assert_non_null(c);
		assert_str(util_get_str(c, "status"), cases[i].status);
		assert_str(util_get_str(c, "reason"), cases[i].reason);
		assert_non_null(
			strstr(util_get_str(c, "message"), cases[i].msg_part));
		/* TURN never makes the relay not Ready */
		assert_str(
			util_get_str(status_condition(st, "Ready"), "status"),
			"True");
		cJSON_Delete(st);
	}
}

/* host_cases: the <relay>-turn Pod observed, TURNReady wanted */
static const struct {
	const char *node, *ip, *ext;
	int ready;
	const char *status, *reason, *parts[3];
} host_cases[] = {
	{ NULL,
	  NULL,
	  "",
	  0,
	  "False",
	  "NodeAddressUnknown",
	  { "chat-turn-0", "not scheduled", "3478" } },
	{ "n1",
	  NULL,
	  "",
	  0,
	  "False",
	  "NodeAddressUnknown",
	  { "chat-turn-0", "reports none: n1", NULL } },
	{ "n1",
	  "192.0.2.5",
	  "",
	  0,
	  "False",
	  "Pending",
	  { "not Ready", "n1 (192.0.2.5", NULL } },
	{ "n1",
	  "192.0.2.5",
	  "",
	  1,
	  "True",
	  "Running",
	  { "told chat.example.org:3478", "relayed addresses the node's own",
	    "192.0.2.5" } },
	{ "n1",
	  "192.0.2.5",
	  "198.51.100.9",
	  1,
	  "True",
	  "Running",
	  { "told 198.51.100.9:3478", "relayed addresses 198.51.100.9",
	    NULL } },
};

/* test_turn_host_condition: with turn.hostNetwork TURNReady follows the
 * <relay>-turn Pod: no node address (unscheduled, or a node without
 * one), not Ready yet, or listening on the node's address */
static void
test_turn_host_condition(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		struct status_in in = base();
		cJSON *st;
		const cJSON *c;
		const char *msg;

		in.turn_state = 1;
		in.turn_address = host_cases[i].ext;
		in.turn_host_network = 1;
		in.turn_pod = "chat-turn-0";
		in.turn_node = host_cases[i].node;
		in.turn_node_ip = host_cases[i].ip;
		in.turn_pod_ready = host_cases[i].ready;
		in.turn_host =
			*host_cases[i].ext ? host_cases[i].ext : in.domain;
		st = status_build(&in);
		c = status_condition(st, "TURNReady");
		assert_non_null(c);
		assert_str(util_get_str(c, "status"), host_cases[i].status);
		assert_str(util_get_str(c, "reason"), host_cases[i].reason);
		msg = util_get_str(c, "message");
		for (k = 0; k < 3 && host_cases[i].parts[k] != NULL; k++)
			if (strstr(msg, host_cases[i].parts[k]) == NULL)
				fail_msg("case %zu: no \"%s\" in \"%s\"", i,
					 host_cases[i].parts[k], msg);
		assert_str(
			util_get_str(status_condition(st, "Ready"), "status"),
			"True");
		cJSON_Delete(st);
	}
}

/* test_acme_condition: CertificateReady in ACME mode: the terms of
 * service first, then the Pod's readiness (the cert container's probe) */
static void
test_acme_condition(void **state)
{
	static const struct {
		int tos, ready;
		const char *status, *reason, *msg_part;
	} cases[] = {
		{ 0, 1, "False", "TermsOfServiceNotAgreed",
		  "spec.tls.acmeTermsOfServiceAgreed" },
		{ 1, 0, "False", "Pending",
		  "kubectl exec chat-0 -c cert -- cert-reloader "
		  "--acme-status" },
		{ 1, 1, "True", "Issued", "https://acme.test/dir for " },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct status_in in = base();
		cJSON *st;
		const cJSON *c;

		in.acme_directory = "https://acme.test/dir";
		in.acme_tos_agreed = cases[i].tos;
		in.pod_name = "chat-0";
		in.ready_replicas = cases[i].ready;
		st = status_build(&in);
		c = status_condition(st, "CertificateReady");
		assert_non_null(c);
		assert_str(util_get_str(c, "status"), cases[i].status);
		assert_str(util_get_str(c, "reason"), cases[i].reason);
		assert_non_null(
			strstr(util_get_str(c, "message"), cases[i].msg_part));
		cJSON_Delete(st);
	}
	/* other modes: no such condition */
	{
		struct status_in in = base();
		cJSON *st = status_build(&in);

		assert_null(status_condition(st, "CertificateReady"));
		cJSON_Delete(st);
	}
}

/* test_acme_probe_message: CertificateReady Pending gives the cert
 * container's probe line, from the kubelet's event */
static void
test_acme_probe_message(void **state)
{
	struct status_in in = base();
	struct cert_probe p;
	cJSON *st;
	const char *m;

	(void)state;
	memset(&p, 0, sizeof(p));
	(void)snprintf(p.first, sizeof(p.first), "2026-12-07T08:00:00Z");
	assert_int(
		cert_probe_parse("Readiness probe failed: ready=false names= "
				 "notAfter=- nextAttempt=2026-12-07T09:00:00Z "
				 "failures=3 lastError=\"cannot reach the ACME "
				 "server at x\"",
				 &p),
		0);
	in.acme_directory = "https://acme.test/dir";
	in.acme_tos_agreed = 1;
	in.pod_name = "chat-0";
	in.ready_replicas = 0;
	in.acme_probe = &p;
	st = status_build(&in);
	m = util_get_str(status_condition(st, "CertificateReady"), "message");
	assert_str(m, "no certificate from https://acme.test/dir is "
		      "served yet; the cert container's probe since "
		      "2026-12-07T08:00:00Z: lastError \"cannot reach "
		      "the ACME server at x\", failures 3, nextAttempt "
		      "2026-12-07T09:00:00Z, names -, notAfter -");
	cJSON_Delete(st);
	/* a probe output without the line: shown as it is */
	assert_int(cert_probe_parse("no ACME status yet: gone", &p), -EINVAL);
	st = status_build(&in);
	m = util_get_str(status_condition(st, "CertificateReady"), "message");
	assert_non_null(strstr(m, "since 2026-12-07T08:00:00Z: no "
				  "ACME status yet: gone"));
	cJSON_Delete(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conditions_table),
		cmocka_unit_test(test_transition_time),
		cmocka_unit_test(test_dns_records),
		cmocka_unit_test(test_dns_check),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_kept),
		cmocka_unit_test(test_turn_condition),
		cmocka_unit_test(test_turn_host_condition),
		cmocka_unit_test(test_acme_condition),
		cmocka_unit_test(test_acme_probe_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
