/*
 * test_metadata: metadata.json (upstream's format byte for byte, legacy
 * list migration, 90-day expiry, pruning), Python-style JSON printing,
 * appversions (schema as chatmail core parses it, file and built-in copy
 * equal), queue item format, the retry schedule with an injected clock.
 * The notifier and the dict wire: test_metadata_push.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "metadata_fixture.h"

static void
test_tokens(void **state)
{
	char *dir = test_tmpdir(), u1[512], u2[512], path[600], *s;
	struct buf b = BUF_INIT(4096);

	(void)state;
	(void)snprintf(u1, sizeof(u1), "%s/user.name@example.org", dir);
	(void)snprintf(u2, sizeof(u2), "%s/user2@example.org", dir);
	assert_int(tokens_get(u1, NOW, &b), 0);
	assert_str(buf_cstr(&b), "");
	assert_int(tokens_add(u1, "01234", NOW), 0);
	assert_int(tokens_add(u2, "456", NOW), 0);
	assert_int(tokens_add(u1, "56789", NOW + 1), 0);
	assert_int(tokens_get(u1, NOW + 2, &b), 0);
	assert_str(buf_cstr(&b), "01234 56789");
	(void)snprintf(path, sizeof(path), "%s/metadata.json", u1);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"01234\": 1800000000, \"56789\": "
		      "1800000001}}");
	free(s);
	/* re-adding keeps the order and updates the stamp */
	assert_int(tokens_add(u1, "01234", NOW + 5), 0);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"01234\": 1800000005, \"56789\": "
		      "1800000001}}");
	free(s);
	assert_int(tokens_remove(u1, "nonexisting", NOW), 0);
	assert_int(tokens_remove(u1, "01234", NOW), 0);
	buf_reset(&b);
	assert_int(tokens_get(u1, NOW, &b), 0);
	assert_str(buf_cstr(&b), "56789");
	buf_reset(&b);
	assert_int(tokens_get(u2, NOW, &b), 0);
	assert_str(buf_cstr(&b), "456");
	/* removing for a user without a directory creates nothing */
	(void)snprintf(path, sizeof(path), "%s/gone@example.org", dir);
	assert_int(tokens_remove(path, "x", NOW), 0);
	assert_true(access(path, F_OK) < 0);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

static void
test_tokens_expiry_and_legacy(void **state)
{
	char *dir = test_tmpdir(), u[512], path[600], *s, **list;
	struct buf b = BUF_INIT(4096);
	int n;

	(void)state;
	(void)snprintf(u, sizeof(u), "%s/a@example.org", dir);
	assert_int(mkdir(u, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/metadata.json", u);
	/* 90 days old, fresh, a minute ahead, far ahead, not a number,
	 * beyond int64_t (found by fuzz_metadata_json: an undefined cast);
	 * other keys stay */
	spit(path, "{\"other\": [1, 2.5, \"x\"], \"devicetoken\": {"
		   "\"old\": 1792224000, \"ok\": 1799999000, \"soon\": "
		   "1800000059, \"future\": 1800000060, \"bad\": \"x\", "
		   "\"huge\": 1.8e44, \"tiny\": -1e300}}");
	assert_int(tokens_valid_ts(NOW - 90 * 86400, NOW), 0);
	assert_int(tokens_valid_ts(NOW - 90 * 86400 + 1, NOW), 1);
	assert_int(tokens_get(u, NOW, &b), 0);
	assert_str(buf_cstr(&b), "ok soon");
	s = slurp(path);
	assert_str(s, "{\"other\": [1, 2.5, \"x\"], \"devicetoken\": {\"ok\": "
		      "1799999000, \"soon\": 1800000059}}");
	free(s);
	/* the legacy list form: all tokens count, migrated on disk */
	spit(path, "{\"devicetoken\": [\"oldtoken1\", \"oldtoken2\"]}");
	n = tokens_list(u, NOW, &list);
	assert_int(n, 2);
	assert_str(list[0], "oldtoken1");
	assert_str(list[1], "oldtoken2");
	free(list[0]);
	free(list[1]);
	free(list);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"oldtoken1\": 1800000000, "
		      "\"oldtoken2\": 1800000000}}");
	free(s);
	/* a corrupt file counts as empty and is replaced on the next add */
	spit(path, "l12k3l12k3l");
	buf_reset(&b);
	assert_int(tokens_get(u, NOW, &b), 0);
	assert_str(buf_cstr(&b), "");
	assert_int(tokens_add(u, "t\xc3\xa9", NOW), 0);
	s = slurp(path);
	assert_str(s, "{\"devicetoken\": {\"t\\u00e9\": 1800000000}}");
	free(s);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

static void
test_json_py_print(void **state)
{
	static const struct {
		const char *in, *pretty, *compact;
	} cases[] = {
		{ "{}", "{}", "{}" },
		{ "[]", "[]", "[]" },
		{ "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}",
		  "{\"a\": [1, 2, {\"b\": null}], \"c\": true, \"d\": false}",
		  "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}" },
		{ "{\"f\":4.2,\"n\":-7,\"big\":4294967296}",
		  "{\"f\": 4.2, \"n\": -7, \"big\": 4294967296}",
		  "{\"f\":4.2,\"n\":-7,\"big\":4294967296}" },
		{ "{\"s\":\"one\\ntwo \\u00fc\\ud83d\\ude00\"}",
		  "{\"s\": \"one\\ntwo \\u00fc\\ud83d\\ude00\"}",
		  "{\"s\":\"one\\ntwo \\u00fc\\ud83d\\ude00\"}" },
	};
	struct buf b = BUF_INIT(4096);
	cJSON *v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		v = cJSON_Parse(cases[i].in);
		assert_non_null(v);
		buf_reset(&b);
		assert_int(json_py_print(v, 0, &b), 0);
		assert_str(buf_cstr(&b), cases[i].pretty);
		buf_reset(&b);
		assert_int(json_py_print(v, 1, &b), 0);
		assert_str(buf_cstr(&b), cases[i].compact);
		cJSON_Delete(v);
	}
	buf_deinit(&b);
}

/* --- appversions ------------------------------------------------------- */

/* keys_are: obj has exactly the n keys given */
static int
keys_are(const cJSON *obj, const char *const *keys, int n)
{
	int count = cJSON_GetArraySize(obj);

	if (!cJSON_IsObject(obj) || count != n)
		return 0;
	for (int i = 0; i < n; i++) {
		if (cJSON_GetObjectItemCaseSensitive(obj, keys[i]) == NULL)
			return 0;
	}
	return 1;
}

static int
nonempty_string(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring[0] != '\0';
}

/* unique_strings: no two elements of arr have the same key string */
static int
unique_ids(const cJSON *arr, const char *key)
{
	const cJSON *a, *b;

	cJSON_ArrayForEach(a, arr)
	{
		for (b = a->next; b != NULL; b = b->next) {
			if (strcmp(cJSON_GetObjectItem(a, key)->valuestring,
				   cJSON_GetObjectItem(b, key)->valuestring) ==
			    0)
				return 0;
		}
	}
	return 1;
}

/* check_source: one source as chatmail core parses it */
static int
check_source(const cJSON *s)
{
	static const char *const keys[] = { "sourceId", "versionInteger",
					    "versionString", "downloadUrl" };
	const cJSON *vi, *url;
	double d;

	if (!keys_are(s, keys, 4))
		return 0;
	vi = cJSON_GetObjectItem(s, "versionInteger");
	url = cJSON_GetObjectItem(s, "downloadUrl");
	if (!cJSON_IsNumber(vi))
		return 0;
	d = vi->valuedouble;
	return nonempty_string(cJSON_GetObjectItem(s, "sourceId")) &&
	       d == (double)(int64_t)d && d >= 0 && d < 4294967296.0 &&
	       nonempty_string(cJSON_GetObjectItem(s, "versionString")) &&
	       nonempty_string(url) &&
	       (strncmp(url->valuestring, "https://github.com/deltachat/",
			29) == 0 ||
		strncmp(url->valuestring, "https://download.delta.chat/", 28) ==
			0);
}

/* check_appversions: upstream's test_appversions.py schema */
static int
check_appversions(const cJSON *doc)
{
	static const char *const top[] = { "clients" };
	static const char *const ckeys[] = { "clientId", "sources" };
	const cJSON *clients, *c, *sources, *s;

	if (!keys_are(doc, top, 1))
		return 0;
	clients = cJSON_GetObjectItem(doc, "clients");
	if (!cJSON_IsArray(clients) || cJSON_GetArraySize(clients) == 0)
		return 0;
	cJSON_ArrayForEach(c, clients)
	{
		if (!keys_are(c, ckeys, 2) ||
		    !nonempty_string(cJSON_GetObjectItem(c, "clientId")))
			return 0;
		sources = cJSON_GetObjectItem(c, "sources");
		if (!cJSON_IsArray(sources) || cJSON_GetArraySize(sources) == 0)
			return 0;
		cJSON_ArrayForEach(s, sources)
		{
			if (!check_source(s))
				return 0;
		}
		if (!unique_ids(sources, "sourceId"))
			return 0;
	}
	return unique_ids(clients, "clientId");
}

static void
test_appversions(void **state)
{
	static const char *const bad_vi[] = { "true",	 "-1",	 "4294967296",
					      "\"754\"", "null", "1.5" };
	struct buf file = BUF_INIT(1 << 20), a = BUF_INIT(1 << 20);
	struct buf b = BUF_INIT(1 << 20);
	const char *top = getenv("TOP");
	char path[1024], *dir = test_tmpdir(), *mut;
	cJSON *doc, *src;

	(void)state;
	(void)snprintf(path, sizeof(path),
		       "%s/services/chatmail-metadata/appversions.json",
		       top != NULL ? top : ".");
	assert_int(fs_read_file(path, &file), 0);
	/* the shipped file and the built-in copy are the same */
	assert_str(buf_cstr(&file), appversions_builtin());
	doc = cJSON_Parse(appversions_builtin());
	assert_true(check_appversions(doc));
	/* the checker itself rejects what core would drop */
	src = cJSON_GetArrayItem(
		cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "clients"),
					   0),
			"sources"),
		0);
	for (size_t i = 0; i < sizeof(bad_vi) / sizeof(*bad_vi); i++) {
		cJSON *copy = cJSON_Duplicate(doc, 1), *s2;

		s2 = cJSON_GetArrayItem(
			cJSON_GetObjectItem(
				cJSON_GetArrayItem(
					cJSON_GetObjectItem(copy, "clients"),
					0),
				"sources"),
			0);
		cJSON_ReplaceItemInObject(s2, "versionInteger",
					  cJSON_Parse(bad_vi[i]));
		assert_false(check_appversions(copy));
		cJSON_Delete(copy);
	}
	cJSON_AddItemToArray(
		cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "clients"),
					   0),
			"sources"),
		cJSON_Duplicate(src, 1));
	assert_false(check_appversions(doc)); /* duplicate sourceId */
	cJSON_Delete(doc);
	mut = xstrdup(appversions_builtin());
	memcpy(strstr(mut, "https://github.com"), "https://gitlab.com", 18);
	doc = cJSON_Parse(mut);
	assert_false(check_appversions(doc)); /* foreign download URL */
	cJSON_Delete(doc);
	free(mut);
	/* served as one compact line (test_read_appversions) */
	assert_int(appversions_get("", &a), 1);
	assert_null(strchr(buf_cstr(&a), '\n'));
	assert_true(strncmp(buf_cstr(&a), "{\"clients\":[{\"clientId\":", 24) ==
		    0);
	(void)snprintf(path, sizeof(path), "%s/av.json", dir);
	assert_int(appversions_get(path, &b), 0);
	spit(path, "{\n  \"clients\": []\n}");
	assert_int(appversions_get(path, &b), 1);
	assert_str(buf_cstr(&b), "{\"clients\":[]}");
	buf_reset(&b);
	spit(path, "{\"clients\": [{\"clientId\": \"one\\ntwo\"}]}");
	assert_int(appversions_get(path, &b), 1);
	assert_str(buf_cstr(&b),
		   "{\"clients\":[{\"clientId\":\"one\\ntwo\"}]}");
	spit(path, "bad json");
	assert_int(appversions_get(path, &b), -1);
	buf_deinit(&file);
	buf_deinit(&a);
	buf_deinit(&b);
	test_rmtree(dir);
	free(dir);
}

/* --- queue items and the schedule -------------------------------------- */

static void
test_queue_item_format(void **state)
{
	struct buf b = BUF_INIT(256);
	const char *addr, *token;
	int64_t ts;
	char bad1[] = "a@b\n12", bad2[] = "a@b\nx12\ntok", bad3[] = "";

	(void)state;
	assert_int(
		notify_item_format("user.name@example.org", 432, "01234", &b),
		0);
	assert_str(buf_cstr(&b), "user.name@example.org\n432\n01234");
	assert_int(notify_item_parse(b.data, &addr, &ts, &token), 0);
	assert_str(addr, "user.name@example.org");
	assert_int(ts, 432);
	assert_str(token, "01234");
	assert_int(notify_item_parse(bad1, &addr, &ts, &token), -EINVAL);
	assert_int(notify_item_parse(bad2, &addr, &ts, &token), -EINVAL);
	assert_int(notify_item_parse(bad3, &addr, &ts, &token), -EINVAL);
	buf_deinit(&b);
}

static void
test_schedule(void **state)
{
	static const unsigned delays[] = { 0, 8, 64, 512, 4096 };

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		assert_int(notifier_delay(i), delays[i]);
		assert_int(notifier_plan(1000, 1000, i), 1000 + delays[i]);
	}
	assert_int(notifier_plan(1000, 1000, 5), -1); /* out of tries */
	/* past 5 hours after the message: dropped */
	assert_int(notifier_plan(1000, 1000 + 18000, 0), 1000 + 18000);
	assert_int(notifier_plan(1000, 1000 + 18001, 0), -1);
	assert_int(notifier_plan(1000, 1000 + 17000, 1), 1000 + 17008);
	assert_int(notifier_plan(1000, 1000 + 17993, 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_tokens_expiry_and_legacy),
		cmocka_unit_test(test_json_py_print),
		cmocka_unit_test(test_appversions),
		cmocka_unit_test(test_queue_item_format),
		cmocka_unit_test(test_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
