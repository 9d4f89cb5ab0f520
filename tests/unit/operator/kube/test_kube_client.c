/*
 * test_kube_client: the parts of the client that need no server: URL
 * paths for core, grouped and cluster-scoped kinds with escaping, query
 * building, the Status code -> error mapping (404, 409 AlreadyExists vs
 * Conflict, 410, 422, 429, 5xx, no response), verbs; and the metrics
 * exposition (Lease renewals are not write requests).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "kube_client.h"
#include "metrics.h"

static void
test_paths(void **state)
{
	struct buf p = BUF_INIT(512);

	(void)state;
	assert_int(kube_path(&p, &KUBE_CONFIGMAP, "mail", "chat-config", NULL),
		   0);
	assert_str(buf_cstr(&p),
		   "/api/v1/namespaces/mail/configmaps/chat-config");
	assert_int(kube_path(&p, &KUBE_STATEFULSET, "", NULL, NULL), 0);
	assert_str(buf_cstr(&p), "/apis/apps/v1/statefulsets");
	assert_int(kube_path(&p, &KUBE_RELAY, "mail", "chat", "status"), 0);
	assert_str(buf_cstr(&p),
		   "/apis/chatmail.at/v1alpha1/namespaces/mail/chatmailrelays/"
		   "chat/status");
	assert_int(kube_path(&p, &KUBE_SECRET, "a b", "x/../y", NULL), 0);
	assert_str(buf_cstr(&p), "/api/v1/namespaces/a%20b/secrets/x%2F..%2Fy");
	assert_int(kube_query(&p, "labelSelector",
			      "app.kubernetes.io/managed-by=chatmail-operator"),
		   0);
	assert_int(kube_query(&p, "watch", "1"), 0);
	assert_str(
		buf_cstr(&p),
		"/api/v1/namespaces/a%20b/secrets/x%2F..%2Fy?labelSelector="
		"app.kubernetes.io%2Fmanaged-by%3Dchatmail-operator&watch=1");
	buf_deinit(&p);
}

static void
test_codes(void **state)
{
	static const struct {
		long code;
		const char *reason;
		int want;
	} cases[] = {
		{ 200, NULL, 0 },
		{ 201, NULL, 0 },
		{ 404, "NotFound", -ENOENT },
		{ 409, "AlreadyExists", -EEXIST },
		{ 409, "Conflict", -EBUSY },
		{ 410, "Expired", -ESTALE },
		{ 422, "Invalid", -EINVAL },
		{ 400, "BadRequest", -EINVAL },
		{ 401, NULL, -EACCES },
		{ 403, "Forbidden", -EACCES },
		{ 429, "TooManyRequests", -EAGAIN },
		{ 503, NULL, -EAGAIN },
		{ 500, NULL, -EAGAIN },
		{ 0, NULL, -EAGAIN },
		{ 418, NULL, -EIO },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int(kube_code_err(cases[i].code, cases[i].reason),
			   cases[i].want);
	assert_str(kube_verb_name(KV_APPLY), "apply");
	assert_true(kube_verb_is_write(KV_APPLY));
	assert_true(kube_verb_is_write(KV_DELETE));
	assert_false(kube_verb_is_write(KV_WATCH));
}

static void
test_metrics(void **state)
{
	struct metrics *m = metrics_new();
	struct buf out = BUF_INIT(1u << 16);

	(void)state;
	metrics_api_request(m, "list", "configmaps", 200);
	metrics_api_request(m, "apply", "configmaps", 200);
	metrics_api_request(m, "apply", "configmaps", 200);
	metrics_api_request(m, "update", "leases", 200);
	metrics_api_request(m, "get", "secrets", 0);
	metrics_reconcile(m, "success", 0.02);
	metrics_watch(m, "ConfigMap", 1);
	metrics_set(m, MG_LEADER, 1);
	assert_int(metrics_api_writes(m), 2);
	assert_int(metrics_api_total(m), 5);
	assert_int(metrics_render(m, &out), 0);
	assert_non_null(
		strstr(buf_cstr(&out),
		       "chatmail_operator_api_requests_total{verb=\"apply\","
		       "resource=\"configmaps\",code=\"200\"} 2\n"));
	assert_non_null(
		strstr(buf_cstr(&out),
		       "{verb=\"get\",resource=\"secrets\",code=\"error\"} 1"));
	assert_non_null(
		strstr(buf_cstr(&out),
		       "chatmail_operator_api_write_requests_total 2\n"));
	assert_non_null(
		strstr(buf_cstr(&out),
		       "chatmail_operator_reconcile_duration_seconds_bucket"
		       "{le=\"0.025\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out), "chatmail_operator_leader 1\n"));
	assert_non_null(strstr(buf_cstr(&out),
			       "chatmail_operator_watch_restarts_total{kind="
			       "\"ConfigMap\"} 1\n"));
	assert_non_null(strstr(buf_cstr(&out),
			       "# TYPE process_resident_memory_bytes gauge"));
	metrics_api_request(NULL, "get", "x", 200); /* metrics off */
	metrics_free(&m);
	assert_null(m);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
