/*
 * test_util: base64 both ways (and refusals), canonical JSON (sorted
 * keys, integers), path look-ups, and the managedFields projection the
 * skip-unchanged-writes decision rests on (f:, k:, v:, i: entries, other
 * managers and status entries ignored).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "hmap.h"
#include "util.h"

static void
test_base64(void **state)
{
	static const char *const plain[] = { "",     "f",     "fo",    "foo",
					     "foob", "fooba", "foobar" };
	static const char *const enc[] = {
		"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
	};
	struct buf b = BUF_INIT(64), small = BUF_INIT(2);
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++) {
		buf_reset(&b);
		assert_int(util_b64_encode(plain[i], strlen(plain[i]), &b), 0);
		assert_str(buf_cstr(&b), enc[i]);
		buf_reset(&b);
		assert_int(util_b64_decode(enc[i], strlen(enc[i]), &b), 0);
		assert_str(buf_cstr(&b), plain[i]);
	}
	buf_reset(&b);
	assert_int(util_b64_decode("Zm9", 3, &b), 0); /* unpadded */
	assert_str(buf_cstr(&b), "fo");
	assert_int(util_b64_decode("Zm9v!", 5, &b), -EINVAL);
	assert_int(util_b64_decode("Z", 1, &b), -EINVAL);
	assert_int(util_b64_decode("Zm9vYmFy", 8, &small), -E2BIG);
	buf_deinit(&b);
	buf_deinit(&small);
}

static void
test_canonical(void **state)
{
	cJSON *a = cJSON_Parse("{\"b\":[3,1.5,{\"z\":true,\"a\":null}],"
			       "\"a\":\"x\\\"y\",\"n\":1e3}");
	cJSON *b = cJSON_Parse("{\"n\":1000,\"a\":\"x\\\"y\","
			       "\"b\":[3,1.5,{\"a\":null,\"z\":true}]}");
	struct buf out = BUF_INIT(1024);
	char ha[UTIL_SHA256_HEX], hb[UTIL_SHA256_HEX];

	(void)state;
	assert_int(util_canonical(a, &out), 0);
	assert_str(buf_cstr(&out), "{\"a\":\"x\\\"y\",\"b\":[3,1.5,{\"a\":null,"
				   "\"z\":true}],\"n\":1000}");
	util_hash_json(a, ha);
	util_hash_json(b, hb);
	assert_str(ha, hb);
	assert_str(util_get_str(a, "a"), "x\"y");
	assert_int(util_get_num(a, "n", 0), 1000);
	assert_null(util_get(a, "b.z"));
	assert_int(util_get_num(a, "missing.deep", 7), 7);
	cJSON_Delete(a);
	cJSON_Delete(b);
	buf_deinit(&out);
}

/* a live object as the API server returns it after an apply by us, a
 * change by kubectl and a status update by a controller */
static const char live[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
	"\"metadata\":{\"name\":\"chat\",\"namespace\":\"mail\","
	"\"labels\":{\"app\":\"x\",\"team\":\"t\"},"
	"\"managedFields\":["
	"{\"manager\":\"chatmail-operator\",\"operation\":\"Apply\","
	"\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},"
	"\"f:spec\":{\"f:replicas\":{},\"f:template\":{\"f:spec\":{"
	"\"f:containers\":{\"k:{\\\"name\\\":\\\"postfix\\\"}\":{\".\":{},"
	"\"f:name\":{},\"f:image\":{},\"f:ports\":{"
	"\"k:{\\\"containerPort\\\":25,\\\"protocol\\\":\\\"TCP\\\"}\":{"
	"\".\":{},\"f:containerPort\":{},\"f:protocol\":{}}}}},"
	"\"f:command\":{}}},\"f:finalizers\":{\"v:\\\"a\\\"\":{}},"
	"\"f:list\":{\"i:1\":{}}}}},"
	"{\"manager\":\"kubectl\",\"operation\":\"Update\","
	"\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:team\":{}}}}},"
	"{\"manager\":\"chatmail-operator\",\"operation\":\"Apply\","
	"\"subresource\":\"status\",\"fieldsV1\":{\"f:status\":{}}}]},"
	"\"spec\":{\"replicas\":1,\"revisionHistoryLimit\":10,"
	"\"finalizers\":[\"a\",\"b\"],\"list\":[\"x\",\"y\",\"z\"],"
	"\"template\":{\"spec\":{\"command\":[\"sh\",\"-c\"],"
	"\"dnsPolicy\":\"ClusterFirst\",\"containers\":["
	"{\"name\":\"sidecar\",\"image\":\"other\"},"
	"{\"name\":\"postfix\",\"image\":\"p:1\",\"imagePullPolicy\":"
	"\"IfNotPresent\",\"ports\":[{\"containerPort\":25,\"protocol\":"
	"\"TCP\",\"name\":\"x\"},{\"containerPort\":587,\"protocol\":\"TCP\"}]"
	"}]}}},\"status\":{\"replicas\":1}}";

static void
test_projection(void **state)
{
	cJSON *o = cJSON_Parse(live), *p;
	struct buf out = BUF_INIT(4096);

	(void)state;
	assert_non_null(o);
	p = util_project_managed(o, "chatmail-operator");
	assert_non_null(p);
	assert_int(util_canonical(p, &out), 0);
	assert_str(buf_cstr(&out),
		   "{\"metadata\":{\"labels\":{\"app\":\"x\"}},\"spec\":{"
		   "\"finalizers\":[\"a\"],\"list\":[\"y\"],\"replicas\":1,"
		   "\"template\":{\"spec\":{\"command\":[\"sh\",\"-c\"],"
		   "\"containers\":[{\"image\":\"p:1\",\"name\":\"postfix\","
		   "\"ports\":[{\"containerPort\":25,\"protocol\":\"TCP\"}]"
		   "}]}}}}");
	cJSON_Delete(p);
	assert_null(util_project_managed(o, "nobody"));
	cJSON_Delete(o);
	buf_deinit(&out);
}

/* util_get_int: numbers beyond the target type are clamped, not cast
 * (a cast is undefined; found by the fuzz campaign, fuzz_object) */
static void
test_get_int(void **state)
{
	cJSON *o = cJSON_Parse("{\"s\":{\"big\":3.3e97,\"neg\":-1e300,"
			       "\"f\":2.9,\"n\":7,\"str\":\"9\"}}");

	(void)state;
	assert_non_null(o);
	assert_int(util_get_int(o, "s.big", 0, INT32_MIN, INT32_MAX),
		   INT32_MAX);
	assert_true(util_get_int(o, "s.big", 0, INT64_MIN, INT64_MAX) ==
		    INT64_MAX);
	assert_true(util_get_int(o, "s.neg", 0, INT64_MIN, INT64_MAX) ==
		    INT64_MIN);
	assert_int(util_get_int(o, "s.neg", 5, 0, 3600), 0);
	assert_int(util_get_int(o, "s.f", 0, 0, 10), 2);
	assert_int(util_get_int(o, "s.n", 0, 0, 5), 5);
	assert_int(util_get_int(o, "s.str", 4, 0, 10), 4);
	assert_int(util_get_int(o, "s.none", 15, 0, 3600), 15);
	cJSON_Delete(o);
}

/* a fieldsV1 node that is an array, not an object (no apiserver sends
 * it, but a child's managedFields are not ours): its value is kept
 * whole, no crash (found by the fuzz campaign, fuzz_object) */
static void
test_projection_malformed(void **state)
{
	cJSON *o = cJSON_Parse(
		"{\"metadata\":{\"managedFields\":[{\"manager\":\"m\","
		"\"operation\":\"Apply\",\"fieldsV1\":{\"f:spec\":{"
		"\"f:ports\":[{\"x\":1}],\"f:port\":{\".\":{}}}}}]},"
		"\"spec\":{\"ports\":[{\"port\":25}],\"port\":{\"a\":1},"
		"\"other\":2}}");
	cJSON *p;
	struct buf out = BUF_INIT(4096);

	(void)state;
	assert_non_null(o);
	p = util_project_managed(o, "m");
	assert_non_null(p);
	assert_int(util_canonical(p, &out), 0);
	assert_str(buf_cstr(&out), "{\"spec\":{\"port\":{\"a\":1},"
				   "\"ports\":[{\"port\":25}]}}");
	cJSON_Delete(p);
	cJSON_Delete(o);
	buf_deinit(&out);
}

static void
test_hmap(void **state)
{
	struct hmap m;
	struct hmap_entry *e;
	char key[32];
	size_t i, seen = 0;
	int vals[1000];

	(void)state;
	hmap_init(&m);
	assert_null(hmap_get(&m, "x"));
	assert_null(hmap_del(&m, "x"));
	for (i = 0; i < 1000; i++) {
		vals[i] = (int)i;
		(void)snprintf(key, sizeof(key), "ns/k%zu", i);
		assert_null(hmap_put(&m, key, &vals[i]));
	}
	assert_int(m.count, 1000);
	assert_ptr_equal(hmap_put(&m, "ns/k7", &vals[8]), &vals[7]);
	assert_ptr_equal(hmap_get(&m, "ns/k7"), &vals[8]);
	assert_ptr_equal(hmap_del(&m, "ns/k999"), &vals[999]);
	for (e = hmap_first(&m, &i); e != NULL; e = hmap_next(&m, &i, e))
		seen++;
	assert_int(seen, 999);
	hmap_deinit(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_projection),
		cmocka_unit_test(test_projection_malformed),
		cmocka_unit_test(test_get_int),
		cmocka_unit_test(test_hmap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
