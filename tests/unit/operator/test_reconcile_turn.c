/*
 * test_reconcile_turn: whole reconciles of a relay with
 * spec.turn.hostNetwork against the fake world (reconcile_fake.h): the
 * <relay>-turn StatefulSet is applied; TURNReady is NodeAddressUnknown
 * until the TURN Pod is seen with a node address, then Running with it
 * (one status write, nothing else); the TURN Pod, which the operator only
 * reads, is never pruned; hostNetwork off deletes the StatefulSet and
 * leaves the Pod to its controller. The TURN Secret is kept while a TURN
 * server runs, in either placement. The real-peer proof is
 * tests/envtest/operator/test_turn_host.sh.
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

#define SPEC_HOST                                                             \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"turn\":{\"hostNetwork\":true,\"portRange\":\"49160-49161\"}}"
#define SPEC_POD                                                              \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"turn\":{\"externalIP\":\"198.51.100.2\",\"portRange\":"            \
	"\"49160-49161\"}}"
#define SPEC_OFF                                                              \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"turn\":{\"portRange\":\"49160-49161\"}}"

/* turn_cond: "status reason" of the stored TURNReady; its message */
static const char *
turn_cond(struct fake *f, char *out, size_t outsize, const char **msg_r)
{
	const cJSON *st =
		util_get(fake_obj(f, &KUBE_RELAY, FAKE_NAME), "status");
	const cJSON *c = status_condition(st, "TURNReady");

	assert_non_null(c);
	(void)snprintf(out, outsize, "%s %s", util_get_str(c, "status"),
		       util_get_str(c, "reason"));
	*msg_r = util_get_str(c, "message");
	return out;
}

/* put_turn_pod: the StatefulSet controller's Pod, as the kubelet
 * reports it: scheduled on n1 with address 192.0.2.5, Ready */
static void
put_turn_pod(struct fake *f)
{
	char path[512];
	cJSON *pod = cJSON_CreateObject(), *md, *l, *cond;

	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	md = cJSON_AddObjectToObject(pod, "metadata");
	cJSON_AddStringToObject(md, "name", "chat-turn-0");
	cJSON_AddStringToObject(md, "namespace", FAKE_NS);
	l = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(l, DESIRED_LABEL_NAME, "chatmail-turn");
	cJSON_AddStringToObject(l, DESIRED_LABEL_MANAGED, "chatmail-operator");
	cJSON_AddStringToObject(l, DESIRED_LABEL_RELAY, FAKE_NAME);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(pod, "spec"),
				"nodeName", "n1");
	md = cJSON_AddObjectToObject(pod, "status");
	cJSON_AddStringToObject(md, "hostIP", "192.0.2.5");
	cond = cJSON_CreateObject();
	cJSON_AddStringToObject(cond, "type", "Ready");
	cJSON_AddStringToObject(cond, "status", "True");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(md, "conditions"), cond);
	fake_stamp(f, pod, 0);
	fake_put(f, fake_path_of(&KUBE_POD, "chat-turn-0", path, sizeof(path)),
		 pod);
}

static void
test_host_network(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 16);
	const char *msg;
	char c[128];
	size_t mark;

	(void)state;
	fake_setup(&f, SPEC_HOST);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_non_null(fake_obj(&f, &KUBE_STATEFULSET, "chat-turn"));
	assert_str(turn_cond(&f, c, sizeof(c), &msg),
		   "False NodeAddressUnknown");
	assert_non_null(strstr(msg, "chat-turn-0"));

	put_turn_pod(&f);
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_str(buf_cstr(&calls), "apply chatmailrelays/chat/status\n");
	assert_int(fake_writes(&f, mark), 1);
	assert_str(turn_cond(&f, c, sizeof(c), &msg), "True Running");
	assert_non_null(strstr(msg, "on node n1 (192.0.2.5, host network"));
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark); /* steady: not even a read */

	fake_set_spec(&f, SPEC_OFF);
	mark = fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, mark, &calls);
	assert_non_null(
		strstr(buf_cstr(&calls), "delete statefulsets/chat-turn\n"));
	assert_null(strstr(buf_cstr(&calls), "pods"));
	assert_null(fake_obj(&f, &KUBE_STATEFULSET, "chat-turn"));
	assert_non_null(fake_obj(&f, &KUBE_POD, "chat-turn-0"));
	assert_str(turn_cond(&f, c, sizeof(c), &msg),
		   "False NoExternalAddress");
	buf_deinit(&calls);
	fake_teardown(&f);
}

/* test_secret_kept: the TURN Secret, created once outside the desired
 * list, is not pruned while a TURN server runs (it was: every second
 * reconcile deleted it, the next one made a new secret); with TURN off
 * it goes */
static void
test_secret_kept(void **state)
{
	struct fake f;
	struct buf calls = BUF_INIT(1u << 16);
	size_t mark;
	int i;

	(void)state;
	fake_setup(&f, SPEC_POD);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_non_null(fake_obj(&f, &KUBE_SECRET, "chat-turn"));
	for (i = 0; i < 2; i++) {
		mark = fake_reconcile(&f);
		fake_calls(&f, mark, &calls);
		assert_str(buf_cstr(&calls), "");
	}
	fake_set_spec(&f, SPEC_OFF);
	mark = fake_reconcile(&f);
	fake_calls(&f, mark, &calls);
	assert_non_null(strstr(buf_cstr(&calls), "delete secrets/chat-turn\n"));
	buf_deinit(&calls);
	fake_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_network),
		cmocka_unit_test(test_secret_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
