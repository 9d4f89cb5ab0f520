/*
 * test_workqueue: deduplication, re-queue of keys added while being
 * processed, delayed adds keeping the earliest time, per-key backoff
 * 5 ms -> 1000 s, the global bucket, forget, shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define TESTUTIL_IMPL
#include "testutil.h"

#include "workqueue.h"

static void
test_dedup_and_processing(void **state)
{
	struct workqueue q;
	const char *k;

	(void)state;
	workqueue_init(&q);
	workqueue_add(&q, "ns/a");
	workqueue_add(&q, "ns/b");
	workqueue_add(&q, "ns/a");
	assert_int(workqueue_len(&q), 2);
	k = workqueue_get(&q);
	assert_str(k, "ns/a");
	/* added while processing: not ready now, once more after done */
	workqueue_add(&q, "ns/a");
	workqueue_add(&q, "ns/a");
	assert_int(workqueue_len(&q), 1);
	assert_str(workqueue_get(&q), "ns/b");
	assert_null(workqueue_get(&q));
	workqueue_done(&q, "ns/a");
	assert_int(workqueue_len(&q), 1);
	assert_str(workqueue_get(&q), "ns/a");
	workqueue_done(&q, "ns/a");
	workqueue_done(&q, "ns/b");
	assert_int(workqueue_pending(&q), 0);
	assert_int(q.items.count, 0);
	workqueue_deinit(&q);
}

static void
test_delayed(void **state)
{
	struct workqueue q;

	(void)state;
	workqueue_init(&q);
	workqueue_add_after(&q, "x", 100, 1000);
	workqueue_add_after(&q, "x", 500, 1000); /* later: ignored */
	workqueue_add_after(&q, "y", 50, 1000);
	assert_int(workqueue_next_delay(&q, 1000), 50);
	workqueue_add_after(&q, "x", 10, 1000); /* earlier: wins */
	assert_int(workqueue_next_delay(&q, 1000), 10);
	workqueue_tick(&q, 1009);
	assert_null(workqueue_get(&q));
	workqueue_tick(&q, 1010);
	assert_str(workqueue_get(&q), "x");
	workqueue_done(&q, "x");
	assert_int(workqueue_next_delay(&q, 1010), 40);
	/* an immediate add overrides a pending delay */
	workqueue_add(&q, "y");
	assert_int(workqueue_next_delay(&q, 1010), 0);
	assert_str(workqueue_get(&q), "y");
	workqueue_done(&q, "y");
	assert_int(workqueue_next_delay(&q, 1010), -1);
	workqueue_tick(&q, 99999);
	assert_null(workqueue_get(&q));
	/* many delayed keys come out in time order */
	for (int i = 0; i < 50; i++) {
		char key[16];

		(void)snprintf(key, sizeof(key), "k%02d", (i * 37) % 50);
		workqueue_add_after(&q, key, 1 + (uint64_t)((i * 37) % 50),
				    2000);
	}
	workqueue_tick(&q, 3000);
	for (int i = 0; i < 50; i++) {
		char key[16];

		(void)snprintf(key, sizeof(key), "k%02d", i);
		assert_str(workqueue_get(&q), key);
		workqueue_done(&q, key);
	}
	workqueue_deinit(&q);
}

static void
test_backoff(void **state)
{
	struct workqueue q;
	uint64_t d, want = 5;
	int i;

	(void)state;
	workqueue_init(&q);
	workqueue_set_limits(&q, 5, 1000000, 0, 0); /* no global bucket */
	for (i = 0; i < 30; i++) {
		d = workqueue_add_rate_limited(&q, "k", 0, 0);
		assert_int(d, want);
		want = want * 2 > 1000000 ? 1000000 : want * 2;
	}
	assert_int(workqueue_failures(&q, "k"), 30);
	assert_int(d, 1000000);
	workqueue_forget(&q, "k");
	assert_int(workqueue_failures(&q, "k"), 0);
	assert_int(workqueue_add_rate_limited(&q, "k", 0, 0), 5);
	/* a Retry-After from the server is a floor */
	assert_int(workqueue_add_rate_limited(&q, "k2", 0, 7000), 7000);
	assert_int(workqueue_next_delay(&q, 0), 5);
	workqueue_deinit(&q);
}

static void
test_global_bucket(void **state)
{
	struct workqueue q;
	char key[16];
	uint64_t d = 0;
	int i;

	(void)state;
	workqueue_init(&q); /* 10 qps, burst 100 */
	for (i = 0; i < 100; i++) {
		(void)snprintf(key, sizeof(key), "k%d", i);
		d = workqueue_add_rate_limited(&q, key, 0, 0);
	}
	assert_int(d, 5); /* the burst is free: per-key 5 ms */
	d = workqueue_add_rate_limited(&q, "k-over", 0, 0);
	assert_int(d, 100); /* the 101st waits a tenth of a second */
	d = workqueue_add_rate_limited(&q, "k-over2", 0, 0);
	assert_int(d, 200);
	/* tokens come back with time */
	d = workqueue_add_rate_limited(&q, "k-later", 60000, 0);
	assert_int(d, 5);
	workqueue_deinit(&q);
}

static void
test_shutdown(void **state)
{
	struct workqueue q;

	(void)state;
	workqueue_init(&q);
	workqueue_add(&q, "a");
	assert_str(workqueue_get(&q), "a");
	workqueue_add(&q, "a");
	workqueue_shutdown(&q);
	workqueue_add(&q, "b");
	workqueue_done(&q, "a"); /* not re-queued after shutdown */
	assert_null(workqueue_get(&q));
	assert_int(workqueue_len(&q), 0);
	workqueue_deinit(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup_and_processing),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_global_bucket),
		cmocka_unit_test(test_shutdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
