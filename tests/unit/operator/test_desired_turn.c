/*
 * test_desired_turn: spec.turn.hostNetwork as the operator renders it.
 * The StatefulSet <relay>-turn runs chatmail-turn in a hostNetwork Pod
 * (UDP 3478 and the relay ports as host ports, vmail without
 * capabilities, the <relay>-turn Secret, on the relay Pod's node) whose
 * labels the relay's Services do not select; the relay Pod's turn
 * container only answers credentials (no UDP ports); the Service and the
 * NetworkPolicy carry no UDP; chatmail.ini names turn.externalIP as the
 * host clients are told, and only with hostNetwork.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "desired.h"
#include "operator.h"

#include "desired_fixture.h"

/* port_list: "key:protocol" of every port of a, joined by "," */
static const char *
port_list(const cJSON *a, const char *key, char *out, size_t outsize)
{
	const cJSON *p;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(p, a)
	{
		n += (size_t)snprintf(out + n, outsize - n, "%s%d:%s",
				      n ? "," : "",
				      (int)util_get_num(p, key, 0),
				      util_get_str(p, "protocol"));
		if (n >= outsize)
			break;
	}
	return out;
}

/* ini_has: chatmail.ini as rendered contains text */
static int
ini_has(const struct fixture *f, const char *text)
{
	const struct render_file *ini =
		render_set_find(&f->files, "chatmail.ini");

	assert_non_null(ini);
	return strstr(ini->data, text) != NULL;
}

/* check_turn_pod: the hostNetwork Pod's container and its security */
static void
check_turn_pod(const cJSON *pod, const char *want_cmd)
{
	const cJSON *c = named(util_get(pod, "containers"), "turn");
	char got[1024];

	assert_int(cJSON_GetArraySize(util_get(pod, "containers")), 1);
	assert_non_null(c);
	assert_true(cJSON_IsTrue(util_get(pod, "hostNetwork")));
	assert_str(joined(util_get(c, "command"), got, sizeof(got)), want_cmd);
	assert_str(port_list(util_get(c, "ports"), "containerPort", got,
			     sizeof(got)),
		   "3478:UDP,49160:UDP,49161:UDP");
	assert_str(
		port_list(util_get(c, "ports"), "hostPort", got, sizeof(got)),
		"3478:UDP,49160:UDP,49161:UDP");
	assert_int(util_get_num(c, "securityContext.runAsUser", 0), 2000);
	assert_true(cJSON_IsTrue(util_get(c, "securityContext.runAsNonRoot")));
	assert_true(cJSON_IsTrue(
		util_get(c, "securityContext.readOnlyRootFilesystem")));
	assert_true(cJSON_IsFalse(
		util_get(c, "securityContext.allowPrivilegeEscalation")));
	assert_str(joined(util_get(c, "securityContext.capabilities.drop"), got,
			  sizeof(got)),
		   "ALL");
	assert_null(util_get(c, "securityContext.capabilities.add"));
	assert_true(
		cJSON_IsFalse(util_get(pod, "automountServiceAccountToken")));
	assert_str(util_get_str(named(util_get(pod, "volumes"), "turn-secret"),
				"secret.secretName"),
		   "chat-turn");
	assert_str(
		util_get_str(named(util_get(c, "volumeMounts"), "turn-secret"),
			     "mountPath"),
		"/etc/chatmail-turn");
}

/* test_host_network: the TURN StatefulSet, the relay Pod's
 * credentials-only container, no UDP on the Service and the policy */
static void
test_host_network(void **state)
{
	struct fixture f;
	const cJSON *sts, *pod, *c, *term, *svc, *np;
	char got[2048];

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"turn\":{"
		      "\"hostNetwork\":true,\"portRange\":\"49160-49161\"}}",
		      1);
	sts = fixture_find(f.list, "StatefulSet", "chat-turn");
	assert_non_null(sts);
	assert_str(util_meta_str(sts, "labels", DESIRED_LABEL_RELAY), "chat");
	assert_int(util_get_num(sts, "spec.replicas", 0), 1);
	pod = util_get(sts, "spec.template.spec");
	check_turn_pod(pod, "chatmail-turn,--realm,chat.example.org,--socket,"
			    "/run/chatmail/turn.socket,--secret-file,"
			    "/etc/chatmail-turn/secret,--relay-ports,"
			    "49160-49161");
	/* next to the relay Pod, whose labels it selects */
	term = cJSON_GetArrayItem(
		util_get(pod, "affinity.podAffinity."
			      "requiredDuringSchedulingIgnoredDuringExecution"),
		0);
	assert_str(util_get_str(term, "topologyKey"), "kubernetes.io/hostname");
	svc = fixture_find(f.list, "Service", "chat");
	assert_true(cJSON_Compare(util_get(term, "labelSelector.matchLabels"),
				  util_get(svc, "spec.selector"), 1));
	/* ... while the relay's Services never select the TURN Pod */
	assert_str(util_meta_str(util_get(sts, "spec.template"), "labels",
				 DESIRED_LABEL_NAME),
		   "chatmail-turn");
	assert_false(cJSON_Compare(util_get(sts, "spec.selector.matchLabels"),
				   util_get(svc, "spec.selector"), 1));
	assert_str(cJSON_GetObjectItemCaseSensitive(
			   util_get(sts, "spec.selector.matchLabels"),
			   DESIRED_LABEL_NAME)
			   ->valuestring,
		   "chatmail-turn");
	/* the relay Pod: credentials only, no UDP anywhere */
	pod = util_get(fixture_find(f.list, "StatefulSet", "chat"),
		       "spec.template.spec");
	c = named(util_get(pod, "containers"), "turn");
	assert_non_null(c);
	assert_str(joined(util_get(c, "command"), got, sizeof(got)),
		   "chatmail-turn,--realm,chat.example.org,--socket,"
		   "/run/chatmail/turn.socket,--secret-file,"
		   "/etc/chatmail-turn/secret,--credentials-only");
	assert_null(util_get(c, "ports"));
	assert_null(util_get(pod, "hostNetwork"));
	assert_non_null(named(util_get(c, "volumeMounts"), "turn-secret"));
	(void)port_list(util_get(svc, "spec.ports"), "port", got, sizeof(got));
	assert_null(strstr(got, "UDP"));
	np = fixture_find(f.list, "NetworkPolicy", "chat");
	(void)port_list(
		util_get(cJSON_GetArrayItem(util_get(np, "spec.ingress"), 0),
			 "ports"),
		"port", got, sizeof(got));
	assert_null(strstr(got, "UDP"));
	assert_false(ini_has(&f, "turn_hostname"));
	fixture_teardown(&f);
}

/* test_external_ip: externalIP is the relayed address and what
 * chatmail-metadata tells clients (turn_hostname), with hostNetwork only */
static void
test_external_ip(void **state)
{
	struct fixture f;
	const cJSON *sts;

	(void)state;
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"turn\":{"
		      "\"hostNetwork\":true,\"portRange\":\"49160-49161\","
		      "\"externalIP\":\"203.0.113.9\"}}",
		      1);
	sts = fixture_find(f.list, "StatefulSet", "chat-turn");
	check_turn_pod(util_get(sts, "spec.template.spec"),
		       "chatmail-turn,--realm,chat.example.org,--socket,"
		       "/run/chatmail/turn.socket,--secret-file,"
		       "/etc/chatmail-turn/secret,--relay-ports,49160-49161,"
		       "--external-ip,203.0.113.9");
	assert_true(ini_has(&f, "\nturn_hostname = 203.0.113.9\n"));
	fixture_teardown(&f);

	/* behind the Service: no TURN StatefulSet, the domain for clients */
	fixture_setup(&f,
		      "{\"domain\":\"chat.example.org\",\"turn\":{"
		      "\"externalIP\":\"203.0.113.9\"}}",
		      1);
	assert_null(fixture_find(f.list, "StatefulSet", "chat-turn"));
	assert_false(ini_has(&f, "turn_hostname"));
	fixture_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_network),
		cmocka_unit_test(test_external_ip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
