/*
 * test_spec: parsing, defaulting and validation of ChatmailRelay specs
 * (relay/spec*.c), table-driven: every rule of the CRD has a case
 * that must pass and one that must fail with a message naming the
 * field; chatmail.ini and chatmail_config conversion; file loading.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "config.h"
#include "render/render.h"
#include "spec.h"

/* parse_spec: a .spec JSON text; returns the spec or NULL with err */
static struct relay_spec *
parse_spec(const char *json, unsigned flags, struct buf *err, struct buf *warn)
{
	cJSON *j = cJSON_Parse(json);
	struct relay_spec *s = NULL;

	assert_non_null(j);
	if (spec_from_json(j, flags, &s, err, warn) < 0)
		s = NULL;
	cJSON_Delete(j);
	return s;
}

/* test_defaults: only a domain: every default is upstream's */
static void
test_defaults(void **state)
{
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s;

	(void)state;
	s = parse_spec("{\"domain\": \"chat.example.org\"}", SPEC_STRICT, &err,
		       NULL);
	assert_non_null(s);
	assert_str(s->domain, "chat.example.org");
	assert_int(s->registration, SPEC_REG_OPEN);
	assert_int(s->limits.max_user_send_per_minute, 60);
	assert_int(s->limits.max_user_send_burst_size, 10);
	assert_str(s->limits.max_mailbox_size, "500M");
	assert_int(s->limits.max_message_size, 31457280);
	assert_int(s->limits.username_min_length, 9);
	assert_int(s->limits.username_max_length, 9);
	assert_int(s->limits.password_min_length, 9);
	assert_int(s->limits.max_imap_connections, 10000);
	assert_int(s->limits.max_smtp_connections, 1000);
	assert_int(s->retention.delete_mails_after_days, 20);
	assert_int(s->retention.delete_large_after_days, 7);
	assert_int(s->retention.delete_inactive_users_after_days, 90);
	assert_true(s->system_limits.max_load_1m == 5.0);
	assert_str(s->system_limits.min_available_memory, "200M");
	assert_str(s->system_limits.min_free_disk_space, "1G");
	/* upstream's default by domain: ACME for a public name */
	assert_int(s->tls.mode, SPEC_TLS_ACME);
	assert_str(s->tls.issuer_kind, "Issuer");
	assert_str(s->tls.issuer_group, "cert-manager.io");
	assert_str(s->dkim.selector, "opendkim");
	assert_str(s->storage.mail.size, "10Gi");
	assert_true(s->storage.mail.keep_on_delete);
	assert_str(s->storage.queue.size, "1Gi");
	assert_int(s->service.type, SPEC_SVC_LOAD_BALANCER);
	assert_int(s->service.external_traffic_policy, SPEC_ETP_LOCAL);
	assert_true(s->iroh.enabled);
	assert_str(s->expire.schedule, "2 0 * * *");
	assert_str(s->metrics.schedule, "*/15 * * * *");
	assert_null(s->metrics.mtail_address);
	assert_false(s->imap.rawlog);
	assert_false(s->imap.compress);
	assert_true(s->website.enabled);
	assert_str(s->push.notification_url,
		   "https://notifications.delta.chat/notify");
	assert_int(s->ports.filtermail_smtp, 10080);
	assert_int(s->ports.filtermail_smtp_incoming, 10081);
	assert_int(s->ports.filtermail_http_incoming, 10082);
	assert_int(s->ports.filtermail_lmtp_transport, 10083);
	assert_int(s->ports.postfix_reinject, 10025);
	assert_int(s->ports.postfix_reinject_incoming, 10026);
	assert_false(s->paused);
	for (int c = 0; c < SPEC_C_COUNT; c++) {
		assert_str(s->images[c], "");
		assert_null(s->resources[c]);
	}
	spec_free(&s);
	assert_null(s);
	spec_free(&s); /* NULL is fine */
	buf_deinit(&err);
}

/* test_tls_mode_by_domain: SelfSigned for "_" and IPv4 domains, ACME
 * otherwise, and what the spec says always wins */
static void
test_tls_mode_by_domain(void **state)
{
	static const struct {
		const char *json;
		enum spec_tls_mode want;
	} cases[] = {
		{ "{\"domain\": \"chat.example.org\"}", SPEC_TLS_ACME },
		{ "{\"domain\": \"_chat.example.org\"}", SPEC_TLS_SELF_SIGNED },
		{ "{\"domain\": \"10.1.2.3\"}", SPEC_TLS_SELF_SIGNED },
		{ "{\"domain\": \"chat.example.org\", \"tls\": {\"mode\": "
		  "\"SelfSigned\"}}",
		  SPEC_TLS_SELF_SIGNED },
		{ "{\"domain\": \"_chat.example.org\", \"tls\": {\"mode\": "
		  "\"ACME\"}}",
		  SPEC_TLS_ACME },
		{ "{\"domain\": \"chat.example.org\", \"tls\": {}}",
		  SPEC_TLS_ACME },
	};
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = parse_spec(cases[i].json, SPEC_STRICT, &err, NULL);
		if (s == NULL)
			print_error("%s: %s\n", cases[i].json, buf_cstr(&err));
		assert_non_null(s);
		assert_int(s->tls.mode, cases[i].want);
		if (i == 0) { /* the ACME defaults */
			assert_str(s->tls.acme_directory,
				   "https://acme-v02.api.letsencrypt.org/"
				   "directory");
			assert_false(s->tls.acme_tos_agreed);
			assert_str(s->tls.acme_ca_bundle, "");
			assert_str(s->tls.eab_key_id, "");
			assert_str(s->tls.eab_secret_key, "secret");
		}
		spec_free(&s);
	}
	buf_deinit(&err);
}

/* test_full: every kind of field set, including the free-form ones */
static void
test_full(void **state)
{
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s;
	const char *json =
		"{\"domain\": \"chat.example.org\", \"registration\": "
		"\"Closed\","
		" \"paused\": true,"
		" \"limits\": {\"maxMailboxSize\": 2048, \"maxMessageSize\": "
		"1048576,"
		"  \"usernameMinLength\": 6, \"usernameMaxLength\": 20},"
		" \"systemLimits\": {\"maxLoad1m\": 2.5, \"minFreeDiskSpace\": "
		"\"5gb\"},"
		" \"tls\": {\"mode\": \"CertManager\", \"issuerRef\": "
		"{\"name\": "
		"\"letsencrypt\", \"kind\": \"ClusterIssuer\"}},"
		" \"dkim\": {\"selector\": \"dkim2026\", \"secretName\": "
		"\"k\"},"
		" \"storage\": {\"mail\": {\"size\": \"20Gi\", "
		"\"storageClassName\": "
		"\"fast\", \"keepOnDelete\": false}, \"queue\": {\"size\": 3}},"
		" \"service\": {\"type\": \"NodePort\", "
		"\"externalTrafficPolicy\": "
		"\"Cluster\", \"loadBalancerIP\": \"2001:db8::1\","
		"  \"annotations\": {\"example.com/a\": \"b\", \"c\": \"d\"}},"
		" \"images\": {\"postfix\": \"reg/postfix:1\", \"irohRelay\": "
		"\"i:2\"},"
		" \"resources\": {\"dovecot\": {\"requests\": {\"cpu\": "
		"\"100m\", "
		"\"memory\": \"64Mi\"}, \"limits\": {\"memory\": 268435456}}},"
		" \"iroh\": {\"enabled\": false, \"url\": "
		"\"https://iroh.example.org\"},"
		" \"metrics\": {\"mtailAddress\": \"10.0.0.5\"},"
		" \"imap\": {\"rawlog\": true, \"compress\": true},"
		" \"privacy\": {\"mail\": \"privacy@example.org\", \"postal\": "
		"\"Street 1, Town\"},"
		" \"ports\": {\"postfixReinject\": 11025}}";

	(void)state;
	s = parse_spec(json, SPEC_STRICT, &err, NULL);
	if (s == NULL)
		print_error("%s", buf_cstr(&err));
	assert_non_null(s);
	assert_int(s->registration, SPEC_REG_CLOSED);
	assert_true(s->paused);
	assert_str(s->limits.max_mailbox_size, "2048");
	assert_int(s->limits.max_message_size, 1048576);
	assert_true(s->system_limits.max_load_1m == 2.5);
	assert_str(s->system_limits.min_free_disk_space, "5gb");
	assert_int(s->tls.mode, SPEC_TLS_CERT_MANAGER);
	assert_str(s->tls.issuer_name, "letsencrypt");
	assert_str(s->tls.issuer_kind, "ClusterIssuer");
	assert_str(s->storage.mail.storage_class_name, "fast");
	assert_false(s->storage.mail.keep_on_delete);
	assert_str(s->storage.queue.size, "3");
	assert_int(s->service.type, SPEC_SVC_NODE_PORT);
	assert_int(s->service.n_annotations, 2);
	assert_str(s->service.annotations[0].key, "example.com/a");
	assert_str(s->service.annotations[1].value, "d");
	assert_str(s->images[SPEC_C_POSTFIX], "reg/postfix:1");
	assert_str(s->images[SPEC_C_IROH], "i:2");
	assert_non_null(s->resources[SPEC_C_DOVECOT]);
	assert_null(s->resources[SPEC_C_POSTFIX]);
	assert_false(s->iroh.enabled);
	assert_str(s->metrics.mtail_address, "10.0.0.5");
	assert_int(s->ports.postfix_reinject, 11025);
	spec_free(&s);
	buf_deinit(&err);
}

struct bad_case {
	const char *json; /* a .spec */
	const char *want; /* substring of the error */
};

/* invalid_cases: a bad spec each, the error it gives */
static const struct bad_case invalid_cases[] = {
	{ "{}", "spec.domain: required field missing" },
	{ "{\"domain\": \"Chat.Example.org\"}", "spec.domain: must be" },
	{ "{\"domain\": \"localhost\"}", "spec.domain: must be" },
	{ "{\"domain\": \"a..b\"}", "spec.domain: must be" },
	{ "{\"domain\": \"-a.b\"}", "spec.domain: must be" },
	{ "{\"domain\": 5}", "spec.domain: must be a string" },
	{ "{\"domain\": \"a.b\", \"registration\": \"open\"}",
	  "spec.registration: must be one of Open Closed" },
	{ "{\"domain\": \"a.b\", \"paused\": \"yes\"}",
	  "spec.paused: must be a boolean" },
	{ "{\"domain\": \"a.b\", \"limits\": "
	  "{\"maxUserSendPerMinute\": 0}}",
	  "spec.limits.maxUserSendPerMinute: must be between 1 and" },
	{ "{\"domain\": \"a.b\", \"limits\": "
	  "{\"maxUserSendPerMinute\": 1.5}}",
	  "spec.limits.maxUserSendPerMinute: must be a non-negative" },
	{ "{\"domain\": \"a.b\", \"limits\": "
	  "{\"maxUserSendPerMinute\": -1}}",
	  "spec.limits.maxUserSendPerMinute: must be a non-negative" },
	{ "{\"domain\": \"a.b\", \"limits\": "
	  "{\"maxUserSendPerMinute\": "
	  "\"60\"}}",
	  "spec.limits.maxUserSendPerMinute: must be a non-negative" },
	{ "{\"domain\": \"a.b\", \"limits\": {\"maxSmtpConnections\": "
	  "4}}",
	  "spec.limits.maxSmtpConnections: must be between 5" },
	{ "{\"domain\": \"a.b\", \"limits\": {\"maxMailboxSize\": "
	  "\"0M\"}}",
	  "spec.limits.maxMailboxSize: must be a size" },
	{ "{\"domain\": \"a.b\", \"limits\": {\"maxMailboxSize\": "
	  "\"5T\"}}",
	  "spec.limits.maxMailboxSize: must be a size" },
	{ "{\"domain\": \"a.b\", \"limits\": {\"usernameMinLength\": "
	  "10}}",
	  "usernameMinLength must not exceed usernameMaxLength" },
	{ "{\"domain\": \"a.b\", \"limits\": 3}",
	  "spec.limits: must be an object" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"mode\": \"Secret\"}}",
	  "spec.tls.secretName: required when mode is Secret" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"mode\": \"CertManager\"}}",
	  "spec.tls.issuerRef.name: required when mode is "
	  "CertManager" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"issuerRef\": {\"name\": "
	  "\"x\"}}}",
	  "spec.tls.issuerRef: only allowed when mode is CertManager" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"mode\": \"CertManager\", "
	  "\"issuerRef\": {\"name\": \"x\", \"kind\": \"Foo\"}}}",
	  "spec.tls.issuerRef.kind: must be Issuer or ClusterIssuer" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"mode\": \"Secret\", "
	  "\"secretName\": \"Bad_Name\"}}",
	  "spec.tls.secretName: must be a lowercase DNS-1123 name" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"eabKeyId\": \"k\"}}",
	  "spec.tls: eabKeyId and eabSecretRef.name go together" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"acmeCABundle\": \"x\"}}",
	  "spec.tls.acmeCABundle: must be PEM CERTIFICATE blocks" },
	{ "{\"domain\": \"a.b\", \"tls\": {\"acmeDirectory\": "
	  "\"ftp://x\"}}",
	  "spec.tls.acmeDirectory: " },
	{ "{\"domain\": \"a.b\", \"dkim\": {\"selector\": \"\"}}",
	  "spec.dkim.selector: length must be 1 to 63" },
	{ "{\"domain\": \"a.b\", \"dkim\": {\"selector\": \"a.b\"}}",
	  "spec.dkim.selector: must be one lowercase DNS label" },
	{ "{\"domain\": \"a.b\", \"storage\": {\"mail\": {\"size\": "
	  "\"10GB\"}}}",
	  "spec.storage.mail.size: must be a quantity" },
	{ "{\"domain\": \"a.b\", \"storage\": {\"mailboxesDir\": "
	  "\"rel/dir\"}}",
	  "spec.storage.mailboxesDir: must be an absolute path" },
	{ "{\"domain\": \"a.b\", \"storage\": {\"mailboxesDir\": "
	  "\"/a/../b\"}}",
	  "spec.storage.mailboxesDir: must be an absolute path" },
	{ "{\"domain\": \"a.b\", \"service\": {\"loadBalancerIP\": "
	  "\"1.2.3\"}}",
	  "spec.service.loadBalancerIP: must be an IP address" },
	{ "{\"domain\": \"a.b\", \"service\": {\"annotations\": "
	  "{\"a\": "
	  "1}}}",
	  "spec.service.annotations.a: must be a string" },
	{ "{\"domain\": \"a.b\", \"images\": {\"exim\": \"x\"}}",
	  "spec.images.exim: unknown container" },
	{ "{\"domain\": \"a.b\", \"metrics\": {\"allowedNamespaces\": "
	  "[\"ok\", \"Not.One\"]}}",
	  "spec.metrics.allowedNamespaces: \"Not.One\" is not a namespace "
	  "name" },
	{ "{\"domain\": \"a.b\", \"images\": {\"nginx\": \"a b\"}}",
	  "spec.images.nginx: must be an image reference" },
	{ "{\"domain\": \"a.b\", \"resources\": {\"nginx\": "
	  "{\"requests\": "
	  "{\"cpu\": \"lots\"}}}}",
	  "spec.resources.nginx.requests.cpu: not a quantity" },
	{ "{\"domain\": \"a.b\", \"resources\": {\"nginx\": "
	  "{\"claims\": "
	  "[]}}}",
	  "spec.resources.nginx.claims: unknown field" },
	{ "{\"domain\": \"a.b\", \"iroh\": {\"url\": \"https://x.y\"}}",
	  "spec.iroh.url: only allowed when enabled is false" },
	{ "{\"domain\": \"a.b\", \"iroh\": {\"enabled\": false, "
	  "\"url\": "
	  "\"ftp://x\"}}",
	  "spec.iroh.url: must be an http(s) URL" },
	{ "{\"domain\": \"a.b\", \"turn\": {\"portRange\": "
	  "\"49160-49260\"}}",
	  "spec.turn.portRange: must be MIN-MAX" },
	{ "{\"domain\": \"a.b\", \"turn\": {\"portRange\": "
	  "\"1000-1010\"}}",
	  "spec.turn.portRange: must be MIN-MAX" },
	{ "{\"domain\": \"a.b\", \"turn\": {\"portRange\": "
	  "\"50000-49999\"}}",
	  "spec.turn.portRange: must be MIN-MAX" },
	{ "{\"domain\": \"a.b\", \"turn\": {\"portRange\": "
	  "\"49160-4916a\"}}",
	  "spec.turn.portRange: must be MIN-MAX" },
	{ "{\"domain\": \"a.b\", \"turn\": {\"externalIP\": "
	  "\"turn.example\"}}",
	  "spec.turn.externalIP: must be an IP address" },
	{ "{\"domain\": \"a.b\", \"expire\": {\"schedule\": "
	  "\"daily\"}}",
	  "spec.expire.schedule: must be a cron schedule" },
	{ "{\"domain\": \"a.b\", \"expire\": {\"schedule\": \"1 2 3 "
	  "4\"}}",
	  "spec.expire.schedule: must be a cron schedule" },
	{ "{\"domain\": \"a.b\", \"metrics\": {\"mtailAddress\": "
	  "\"\"}}",
	  "spec.metrics.mtailAddress: length must be 1 to 45" },
	{ "{\"domain\": \"a.b\", \"privacy\": {\"mail\": \"no-at\"}}",
	  "spec.privacy.mail: must be an email address" },
	{ "{\"domain\": \"a.b\", \"privacy\": {\"postal\": \"a\\nb\"}}",
	  "spec.privacy.postal: must be one line of text" },
	{ "{\"domain\": \"a.b\", \"privacy\": {\"mail\": "
	  "\"x@testrun.org\"}}",
	  "please set your own privacy contacts" },
	{ "{\"domain\": \"a.b\", \"website\": {\"enabled\": false, "
	  "\"configMapName\": \"pages\"}}",
	  "spec.website.configMapName: only allowed when enabled" },
	{ "{\"domain\": \"a.b\", \"ports\": {\"filtermailSmtp\": "
	  "10025}}",
	  "spec.ports: port 10025 is used twice" },
	{ "{\"domain\": \"a.b\", \"ports\": {\"filtermailSmtp\": "
	  "70000}}",
	  "spec.ports.filtermailSmtp: must be between 1 and 65535" },
	{ "{\"domain\": \"a.b\", \"imagePullPolicy\": \"Sometimes\"}",
	  "spec.imagePullPolicy: must be Always" },
	{ "{\"domain\": \"a.b\", \"limitz\": {}}",
	  "spec.limitz: unknown field" },
	{ "{\"domain\": \"a.b\", \"limits\": {\"maxFoo\": 1}}",
	  "spec.limits.maxFoo: unknown field" },
};

/* test_invalid: each case fails, naming the field */
static void
test_invalid(void **state)
{
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		buf_reset(&err);
		s = parse_spec(invalid_cases[i].json, SPEC_STRICT, &err, NULL);
		if (s != NULL ||
		    strstr(buf_cstr(&err), invalid_cases[i].want) == NULL) {
			print_error("case %zu %s\n got: %s\nwant: %s\n", i,
				    invalid_cases[i].json, buf_cstr(&err),
				    invalid_cases[i].want);
			fail();
		}
	}
	buf_deinit(&err);
}

/* test_edges: values at the edge of what is allowed pass */
static void
test_edges(void **state)
{
	static const char *const ok[] = {
		"{\"domain\": \"_relay1.chat.test\"}",
		"{\"domain\": \"203.0.113.7\"}",
		"{\"domain\": \"xn--bcher-kva.example\"}",
		"{\"domain\": \"a.b\", \"limits\": {\"maxMailboxSize\": "
		"\"2G\"}}",
		"{\"domain\": \"a.b\", \"limits\": {\"maxMailboxSize\": "
		"\"0500mb\"}}",
		"{\"domain\": \"a.b\", \"limits\": {\"maxSmtpConnections\": "
		"5}}",
		"{\"domain\": \"a.b\", \"storage\": {\"mail\": {\"size\": "
		"\"1.5Ti\"}}}",
		"{\"domain\": \"a.b\", \"expire\": {\"schedule\": \"@daily\"}}",
		"{\"domain\": \"a.b\", \"expire\": {\"schedule\": \"0 */2 * * "
		"MON-FRI\"}}",
		"{\"domain\": \"a.b\", \"iroh\": {\"enabled\": false}}",
		"{\"domain\": \"a.b\", \"privacy\": {\"mail\": "
		"\"x@testrun.org\"}, "
		"\"ignored\": null}",
		"{\"domain\": \"testrun.org\", \"privacy\": {\"mail\": "
		"\"x@merlinux.eu\"}}",
		"{\"domain\": \"nine.testrun.org\", \"privacy\": {\"postal\": "
		"\"schmieder\"}}",
	};
	struct buf err = BUF_INIT(8192), warn = BUF_INIT(1024);
	struct relay_spec *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		buf_reset(&err);
		buf_reset(&warn);
		/* not strict: the unknown "ignored" field only warns */
		s = parse_spec(ok[i], 0, &err, &warn);
		if (s == NULL && strstr(ok[i], "x@testrun.org") != NULL) {
			/* blocked on a.b: correct */
			assert_non_null(strstr(buf_cstr(&err), "privacy"));
			continue;
		}
		if (s == NULL) {
			print_error("case %zu %s: %s\n", i, ok[i],
				    buf_cstr(&err));
			fail();
		}
		spec_free(&s);
	}
	s = parse_spec("{\"domain\": \"a.b\", \"extra\": 1}", 0, &err, &warn);
	assert_non_null(s);
	assert_non_null(strstr(buf_cstr(&warn), "spec.extra: unknown field"));
	spec_free(&s);
	buf_deinit(&err);
	buf_deinit(&warn);
}

/* test_cr: the whole object: apiVersion, kind, metadata */
static void
test_cr(void **state)
{
	static const struct bad_case bad[] = {
		{ "{\"apiVersion\": \"chatmail.at/v1\", \"kind\": "
		  "\"ChatmailRelay\", \"metadata\": {\"name\": \"a\"}, "
		  "\"spec\": "
		  "{\"domain\": \"a.b\"}}",
		  "apiVersion: must be chatmail.at/v1alpha1" },
		{ "{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
		  "\"Relay\", "
		  "\"metadata\": {\"name\": \"a\"}, \"spec\": {\"domain\": "
		  "\"a.b\"}}",
		  "kind: must be ChatmailRelay" },
		{ "{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
		  "\"ChatmailRelay\", \"metadata\": {\"name\": \"a.b\"}, "
		  "\"spec\": {\"domain\": \"a.b\"}}",
		  "metadata.name: must be a DNS label" },
		{ "{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
		  "\"ChatmailRelay\", \"metadata\": {\"name\": "
		  "\"a23456789012345678901234567890123456789012345678901234\"},"
		  " "
		  "\"spec\": {\"domain\": \"a.b\"}}",
		  "metadata.name: must be a DNS label" },
		{ "{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
		  "\"ChatmailRelay\", \"metadata\": {\"name\": \"a\"}}",
		  "spec: must be an object" },
		{ "[1]", "not a JSON/YAML object" },
	};
	struct buf err = BUF_INIT(4096);
	struct relay_spec *s = NULL;
	cJSON *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&err);
		j = cJSON_Parse(bad[i].json);
		assert_int(spec_from_cr(j, SPEC_STRICT, &s, &err, NULL),
			   -EINVAL);
		assert_null(s);
		if (strstr(buf_cstr(&err), bad[i].want) == NULL) {
			print_error("case %zu got %s", i, buf_cstr(&err));
			fail();
		}
		cJSON_Delete(j);
	}
	j = cJSON_Parse(
		"{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
		"\"ChatmailRelay\", \"metadata\": {\"name\": \"chat\", "
		"\"namespace\": \"mail\", \"generation\": 7}, \"spec\": "
		"{\"domain\": \"chat.example.org\"}}");
	assert_int(spec_from_cr(j, SPEC_STRICT, &s, &err, NULL), 0);
	assert_str(s->name, "chat");
	assert_str(s->namespace, "mail");
	assert_int(s->generation, 7);
	cJSON_Delete(j);
	spec_free(&s);
	buf_deinit(&err);
}

/* test_update: the transition rules */
static void
test_update(void **state)
{
	struct buf err = BUF_INIT(4096);
	struct relay_spec *a, *b;

	(void)state;
	a = parse_spec("{\"domain\": \"a.b\"}", SPEC_STRICT, &err, NULL);
	b = parse_spec("{\"domain\": \"a.b\", \"limits\": "
		       "{\"maxUserSendPerMinute\": 5}}",
		       SPEC_STRICT, &err, NULL);
	assert_int(spec_validate_update(a, b, &err), 0);
	spec_free(&b);
	b = parse_spec("{\"domain\": \"c.d\"}", SPEC_STRICT, &err, NULL);
	assert_int(spec_validate_update(a, b, &err), -EINVAL);
	assert_non_null(strstr(buf_cstr(&err), "spec.domain: is immutable"));
	spec_free(&b);
	b = parse_spec("{\"domain\": \"a.b\", \"storage\": {\"queue\": "
		       "{\"storageClassName\": \"x\"}}}",
		       SPEC_STRICT, &err, NULL);
	assert_int(spec_validate_update(a, b, &err), -EINVAL);
	spec_free(&a);
	spec_free(&b);
	buf_deinit(&err);
}

/* test_dump_roundtrip: dump -> parse gives the same dump */
static void
test_dump_roundtrip(void **state)
{
	struct buf err = BUF_INIT(4096);
	struct relay_spec *a, *b = NULL;
	cJSON *ja, *jb;

	(void)state;
	a = parse_spec(
		"{\"domain\": \"a.b\", \"images\": {\"nginx\": "
		"\"n:1\"}, \"resources\": {\"jobs\": {\"limits\": "
		"{\"memory\": \"1Gi\"}}}, \"service\": {\"annotations\": "
		"{\"k\": \"v\"}}, \"metrics\": {\"mtailAddress\": "
		"\"::1\"}}",
		SPEC_STRICT, &err, NULL);
	assert_non_null(a);
	ja = spec_dump_json(a);
	assert_int(spec_from_json(ja, SPEC_STRICT, &b, &err, NULL), 0);
	jb = spec_dump_json(b);
	assert_true(cJSON_Compare(ja, jb, 1));
	assert_str(cJSON_GetObjectItem(cJSON_GetObjectItem(ja, "limits"),
				       "maxMailboxSize")
			   ->valuestring,
		   "500M");
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	spec_free(&a);
	spec_free(&b);
	buf_deinit(&err);
}

/* ini_has: the rendered chatmail.ini holds this exact line */
static int
ini_has(const struct buf *ini, const char *line)
{
	const char *p = buf_cstr(ini), *hit;
	size_t n = strlen(line);

	while ((hit = strstr(p, line)) != NULL) {
		if ((hit == buf_cstr(ini) || hit[-1] == '\n') &&
		    (hit[n] == '\n' || hit[n] == '\0'))
			return 1;
		p = hit + 1;
	}
	return 0;
}

/* check_ipv4_relay: an IPv4 relay's chatmail.ini as the services read
 * it, on t */
static void
check_ipv4_relay(const struct render_target *t)
{
	struct buf err = BUF_INIT(4096);
	struct chatmail_config cfg;
	struct relay_spec *s;

	s = parse_spec("{\"domain\": \"203.0.113.7\"}", SPEC_STRICT, &err,
		       NULL);
	memset(&cfg, 0, sizeof(cfg));
	assert_int(spec_to_config(s, t, &cfg, &err), 0);
	assert_str(cfg.mail_domain, "[203.0.113.7]");
	assert_int(cfg.tls_cert_mode, TLS_CERT_SELF);
	assert_true(cfg.ipv4_relay);
	config_deinit(&cfg);
	spec_free(&s);
	buf_deinit(&err);
}

/* test_ini_config: the spec as chatmail.ini and as the services read it */
static void
test_ini_config(void **state)
{
	struct buf err = BUF_INIT(4096), ini = BUF_INIT(65536);
	struct render_target *t = render_target_new_local("/srv/r1", "");
	struct chatmail_config cfg;
	struct relay_spec *s;

	(void)state;
	s = parse_spec("{\"domain\": \"_r1.test\"}", SPEC_STRICT, &err, NULL);
	assert_int(spec_to_ini(s, t, &ini), 0);
	assert_true(ini_has(&ini, "mail_domain = _r1.test"));
	assert_true(ini_has(&ini, "tls_external_cert_and_key ="));
	assert_true(
		ini_has(&ini, "mailboxes_dir = /srv/r1/vmail/mail/_r1.test"));
	assert_true(ini_has(&ini, "passdb_path = /srv/r1/vmail/passdb.sqlite"));
	assert_true(ini_has(&ini, "turn_socket_path = /srv/r1/run/chatmail/"
				  "turn.socket"));
	assert_false(ini_has(&ini, "iroh_relay ="));
	memset(&cfg, 0, sizeof(cfg));
	assert_int(spec_to_config(s, t, &cfg, &err), 0);
	assert_int(cfg.tls_cert_mode, TLS_CERT_SELF);
	assert_str(cfg.mailboxes_dir, "/srv/r1/vmail/mail/_r1.test");
	assert_int(cfg.max_mailbox_size_mb, 500);
	assert_int(cfg.enable_iroh_relay, 1);
	assert_str(cfg.dkim_key_file, "/srv/r1/dkim/opendkim.private");
	assert_str(cfg.nocreate_file, "/srv/r1/chatmail-nocreate");
	config_deinit(&cfg);
	spec_free(&s);

	/* a normal domain: the certificate comes from outside the relay */
	buf_reset(&ini);
	s = parse_spec(
		"{\"domain\": \"chat.example.org\", \"iroh\": "
		"{\"enabled\": false}, \"limits\": {\"maxMailboxSize\": "
		"\"2G\"}, \"metrics\": {\"mtailAddress\": \"10.1.2.3\"}}",
		SPEC_STRICT, &err, NULL);
	assert_int(spec_to_ini(s, t, &ini), 0);
	assert_true(ini_has(&ini, "tls_external_cert_and_key = "
				  "/srv/r1/tls/cert.pem /srv/r1/tls/key.pem"));
	assert_true(ini_has(&ini, "iroh_relay ="));
	assert_true(ini_has(&ini, "mtail_address = 10.1.2.3"));
	memset(&cfg, 0, sizeof(cfg));
	assert_int(spec_to_config(s, t, &cfg, &err), 0);
	assert_int(cfg.tls_cert_mode, TLS_CERT_EXTERNAL);
	assert_str(cfg.tls_cert_path, "/srv/r1/tls/cert.pem");
	assert_int(cfg.enable_iroh_relay, 0);
	assert_int(cfg.max_mailbox_size_mb, 2048);
	assert_str(cfg.mtail_address, "10.1.2.3");
	config_deinit(&cfg);
	spec_free(&s);

	check_ipv4_relay(t);
	render_target_free(&t);
	buf_deinit(&ini);
	buf_deinit(&err);
}

/* write_tmp: a file in dir with text; returns its path (caller frees) */
static char *
write_tmp(const char *dir, const char *name, const char *text)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = malloc(n);
	FILE *f;

	assert_non_null(path);
	(void)snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int(fclose(f), 0);
	return path;
}

/* test_load_file: YAML and JSON files, and the ways they go wrong */
/* render -f <(...): spec_load_file reads a pipe too */
static void
test_load_pipe(void **state)
{
	static const char doc[] = "apiVersion: chatmail.at/v1alpha1\n"
				  "kind: ChatmailRelay\n"
				  "metadata: {name: p}\n"
				  "spec: {domain: p.example.org}\n";
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s = NULL;
	char fdpath[64];
	int p[2];

	(void)state;
	assert_int(pipe(p), 0);
	assert_int(write(p[1], doc, sizeof(doc) - 1), sizeof(doc) - 1);
	assert_int(close(p[1]), 0);
	(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", p[0]);
	assert_int(spec_load_file(fdpath, 0, &s, &err, NULL), 0);
	assert_str(s->domain, "p.example.org");
	spec_free(&s);
	assert_int(close(p[0]), 0);
	buf_deinit(&err);
}

static void
test_load_file(void **state)
{
	char *dir = test_tmpdir(), *path, *big;
	struct buf err = BUF_INIT(8192);
	struct relay_spec *s = NULL;

	(void)state;
	path = write_tmp(dir, "r.yaml",
			 "# a relay\n"
			 "apiVersion: chatmail.at/v1alpha1\n"
			 "kind: ChatmailRelay\n"
			 "metadata: {name: chat, namespace: mail}\n"
			 "spec:\n"
			 "  domain: chat.example.org\n"
			 "  limits:\n"
			 "    maxMailboxSize: 1G\n"
			 "    maxUserSendPerMinute: 30\n"
			 "  imap: {compress: true}\n");
	assert_int(spec_load_file(path, SPEC_STRICT, &s, &err, NULL), 0);
	assert_str(s->limits.max_mailbox_size, "1G");
	assert_int(s->limits.max_user_send_per_minute, 30);
	assert_true(s->imap.compress);
	spec_free(&s);
	free(path);

	path = write_tmp(dir, "r.json",
			 "{\"apiVersion\": \"chatmail.at/v1alpha1\", \"kind\": "
			 "\"ChatmailRelay\", \"metadata\": {\"name\": \"c\"}, "
			 "\"spec\": {\"domain\": \"c.d\"}}");
	assert_int(spec_load_file(path, SPEC_STRICT, &s, &err, NULL), 0);
	spec_free(&s);
	free(path);

	path = write_tmp(dir, "two.yaml", "a: 1\n---\nb: 2\n");
	assert_true(spec_load_file(path, SPEC_STRICT, &s, &err, NULL) < 0);
	assert_null(s);
	free(path);

	path = write_tmp(dir, "bad.yaml", "spec: [unclosed\n");
	assert_true(spec_load_file(path, SPEC_STRICT, &s, &err, NULL) < 0);
	free(path);

	buf_reset(&err);
	assert_int(spec_load_file("/nonexistent/x.yaml", 0, &s, &err, NULL),
		   -ENOENT);
	assert_non_null(strstr(buf_cstr(&err), "/nonexistent/x.yaml"));

	big = calloc(1, SPEC_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '#', SPEC_FILE_MAX + 1);
	path = write_tmp(dir, "big.yaml", big);
	assert_int(spec_load_file(path, 0, &s, &err, NULL), -EFBIG);
	free(path);
	free(big);
	test_rmtree(dir);
	free(dir);
	buf_deinit(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_mode_by_domain),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_cr),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_ini_config),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
