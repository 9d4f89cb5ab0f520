/*
 * test_kube_watch: the watch splitter fed whole, one byte at a time and
 * one byte over its limit; bad lines; reconnect backoff bounds and reset.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "kube_watch.h"

struct seen {
	char log[2048];
	int stop_after;
	int n;
};

/* record: append "TYPE:name;" for each event */
static int
record(void *arg, enum kube_watch_type t, cJSON *obj)
{
	struct seen *s = arg;
	const cJSON *md = cJSON_GetObjectItem(obj, "metadata");
	const cJSON *name = cJSON_GetObjectItem(md, "name");
	size_t l = strlen(s->log);

	(void)snprintf(s->log + l, sizeof(s->log) - l, "%s:%s;",
		       kube_watch_type_name(t),
		       cJSON_IsString(name) ? name->valuestring : "-");
	cJSON_Delete(obj);
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

static const char stream[] =
	"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
	"\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\\n\"}}}"
	"\r\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
	"{\"resourceVersion\":\"12\"}}}\n"
	"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}\n"
	"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"ü\"}}}\n";
static const char want[] = "ADDED:a;MODIFIED:b\n;BOOKMARK:-;ERROR:-;DELETED:ü;";

static void
test_whole_and_bytewise(void **state)
{
	struct kube_watch_split w;
	struct seen s;
	size_t i, chunk;

	(void)state;
	for (chunk = 1; chunk <= sizeof(stream); chunk *= 3) {
		memset(&s, 0, sizeof(s));
		kube_watch_split_init(&w, 4096);
		for (i = 0; i < sizeof(stream) - 1; i += chunk)
			assert_int(kube_watch_feed(
					   &w, stream + i,
					   chunk < sizeof(stream) - 1 - i
						   ? chunk
						   : sizeof(stream) - 1 - i,
					   record, &s),
				   0);
		assert_str(s.log, want);
		assert_int(w.events, 5);
		kube_watch_split_deinit(&w);
	}
}

static void
test_limits(void **state)
{
	/* the first line is exactly 64 bytes without its newline */
	const char *line = "{\"type\":\"ADDED\",\"object\":{\"metadata\":"
			   "{\"name\":\"xxxxxxxxxxxxxx\"}}}";
	struct kube_watch_split w;
	struct seen s;
	size_t i, n = strlen(line);

	(void)state;
	assert_int(n, 64);
	memset(&s, 0, sizeof(s));
	kube_watch_split_init(&w, 64);
	assert_int(kube_watch_feed(&w, line, n, record, &s), 0);
	assert_int(kube_watch_feed(&w, "\n", 1, record, &s), 0);
	assert_int(s.n, 1);
	kube_watch_split_deinit(&w);
	/* one byte over, byte by byte and whole */
	kube_watch_split_init(&w, 63);
	for (i = 0; i < n - 1; i++)
		assert_int(kube_watch_feed(&w, line + i, 1, record, &s), 0);
	assert_int(kube_watch_feed(&w, line + n - 1, 1, record, &s), -E2BIG);
	kube_watch_split_reset(&w);
	assert_int(kube_watch_feed(&w, stream, strlen(stream), record, &s),
		   -E2BIG);
	kube_watch_split_deinit(&w);
}

static void
test_bad_lines_and_stop(void **state)
{
	static const char *const bad[] = {
		"not json\n",
		"{\"type\":\"ADDED\"}\n",
		"{\"type\":\"WHAT\",\"object\":{}}\n",
		"{\"type\":1,\"object\":{}}\n",
		"{\"type\":\"ADDED\",\"object\":[]}\n",
	};
	struct kube_watch_split w;
	struct seen s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		kube_watch_split_init(&w, 1024);
		assert_int(
			kube_watch_feed(&w, bad[i], strlen(bad[i]), record, &s),
			-EBADMSG);
		kube_watch_split_deinit(&w);
	}
	/* a callback's non-zero return stops the feed */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	kube_watch_split_init(&w, 4096);
	assert_int(kube_watch_feed(&w, stream, strlen(stream), record, &s), 7);
	assert_str(s.log, "ADDED:a;MODIFIED:b\n;");
	kube_watch_split_deinit(&w);
}

static void
test_backoff(void **state)
{
	struct kube_backoff b;
	uint64_t d, now = 1000, want_base = 800;
	int i;

	(void)state;
	kube_backoff_init(&b, 800, 30000, 120000, 42);
	for (i = 0; i < 12; i++) {
		d = kube_backoff_next(&b, now);
		/* within [base, 2*base] of the doubling sequence */
		assert_true(d >= want_base && d <= 2 * want_base);
		want_base = want_base * 2 > 30000 ? 30000 : want_base * 2;
		now += d;
	}
	assert_int(b.cur_ms, 30000);
	/* healthy for the reset interval: back to the base */
	d = kube_backoff_next(&b, now + 120000);
	assert_true(d >= 800 && d <= 1600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_and_bytewise),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad_lines_and_stop),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
