/*
 * test_reconcile_monitor: the optional PodMonitor in whole reconciles
 * against reconcile_fake.h's world (see test_reconcile.c): none while
 * the cluster does not serve the Prometheus Operator's CRD (and no
 * failure for that), one once it does and the spec asks, gone when the
 * spec stops asking; a CRD removed between the cache's list and the
 * apply (404) leaves the relay fine. The real-peer proof is
 * tests/envtest/operator/test_monitoring.sh.
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

#define SPEC \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}}"

/* the spec asks for a PodMonitor */
#define ASKS                                                                  \
	"{\"domain\":\"chat.example.org\",\"tls\":{\"mode\":\"SelfSigned\"}," \
	"\"metrics\":{\"serviceMonitor\":{\"enabled\":true}}}"

/* degraded: the stored status' Degraded condition as "status reason" */
static const char *
degraded(struct fake *f, char *out, size_t outsize)
{
	const cJSON *c = status_condition(
		util_get(fake_obj(f, &KUBE_RELAY, FAKE_NAME), "status"),
		"Degraded");

	(void)snprintf(out, outsize, "%s %s", util_get_str(c, "status"),
		       util_get_str(c, "reason"));
	return out;
}

/* test_pod_monitor: a PodMonitor only while the spec asks and the
 * cluster serves the CRD; dropped when the spec stops asking */
static void
test_pod_monitor(void **state)
{
	struct fake f;
	char got[256];
	size_t mark;

	(void)state;
	fake_setup(&f, ASKS);
	/* without the CRD: every other child, no failure */
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_non_null(fake_obj(&f, &KUBE_STATEFULSET, FAKE_NAME));
	assert_null(fake_obj(&f, &KUBE_PODMONITOR, FAKE_NAME));
	assert_str(degraded(&f, got, sizeof(got)), "False AsExpected");
	f.monitoring = 1; /* the CRD is served now */
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_str(util_get_str(cJSON_GetArrayItem(
					util_get(fake_obj(&f, &KUBE_PODMONITOR,
							  FAKE_NAME),
						 "spec.podMetricsEndpoints"),
					0),
				"port"),
		   "metrics");
	mark = fake_reconcile(&f);
	assert_int(f.ncalls, mark); /* steady */
	assert_int(fake_writes(&f, 0) > 0, 1);
	fake_set_spec(&f, SPEC);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	assert_null(fake_obj(&f, &KUBE_PODMONITOR, FAKE_NAME));
	fake_teardown(&f);
}

/* test_crd_gone: the apply of the PodMonitor answers 404 (the CRD was
 * deleted after the informer listed it): no failure, no retry */
static void
test_crd_gone(void **state)
{
	struct buf calls = BUF_INIT(1u << 16);
	struct fake f;
	char got[256];

	(void)state;
	fake_setup(&f, ASKS);
	f.monitoring = 1;
	(void)fake_fail(&f, KV_APPLY, "/podmonitors/chat?", 404, "NotFound", 1);
	(void)fake_reconcile(&f);
	assert_int(f.rc, 0);
	fake_calls(&f, 0, &calls);
	assert_non_null(strstr(buf_cstr(&calls), "apply podmonitors/chat\n"));
	assert_null(fake_obj(&f, &KUBE_PODMONITOR, FAKE_NAME));
	assert_non_null(fake_obj(&f, &KUBE_STATEFULSET, FAKE_NAME));
	assert_str(degraded(&f, got, sizeof(got)), "False AsExpected");
	buf_deinit(&calls);
	fake_teardown(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_monitor),
		cmocka_unit_test(test_crd_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
